//! One PostgreSQL cluster: a base directory holding `data/` and
//! `postgres.log`, owned by the account that runs the server, listening on
//! 127.0.0.1 only (no Unix socket), superuser `postgres`, trust auth.
//! Controlled with pg_ctl, synchronously; the server runs in a process
//! group of its own, so a Ctrl-C at the terminal never reaches it and the
//! tool that started it stops it in order.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};

use super::{Account, DatabaseUrl, PgBin};
use crate::process;

/// Seconds pg_ctl waits for a start or a stop.
const PG_CTL_TIMEOUT: &str = "60";

/// A cluster's folder, port and settings. Cheap to clone: a clone controls
/// the same cluster (from another thread, say).
#[derive(Clone, Debug)]
pub struct Cluster {
    bin: PgBin,
    account: Account,
    base: PathBuf,
    port: u16,
    durability: Durability,
    /// `name=value` settings given to every start, after the durability's.
    settings: Vec<String>,
}

/// Whether the server runs, and on which port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Stopped,
    /// Running, on the port its pid file names.
    Running {
        port: Option<u16>,
    },
}

/// How much a cluster's data is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every commit reaches the disk (fsync, synchronous commit, full page
    /// writes), as in production: what figures and crash tests need.
    Durable,
    /// Lives as long as one run: initdb skips its fsync and the server
    /// runs with fsync, synchronous commit and full page writes off.
    Throwaway,
}

impl Durability {
    fn settings(self) -> &'static [&'static str] {
        match self {
            Self::Durable => &[],
            Self::Throwaway => &[
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ],
        }
    }
}

impl Cluster {
    /// A cluster in `base` on `port`; nothing happens on disk until
    /// [`Cluster::prepare_base`] and [`Cluster::init`].
    #[must_use]
    pub fn new(bin: PgBin, account: Account, base: PathBuf, port: u16) -> Self {
        Self {
            bin,
            account,
            base,
            port,
            durability: Durability::Durable,
            settings: Vec::new(),
        }
    }

    /// The same cluster run with `durability` and the extra `settings`
    /// (`max_connections=200`, …) at every start.
    #[must_use]
    pub fn with_settings(self, durability: Durability, settings: &[&str]) -> Self {
        Self {
            durability,
            settings: settings.iter().map(ToString::to_string).collect(),
            ..self
        }
    }

    #[must_use]
    pub fn base(&self) -> &Path {
        &self.base
    }

    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    #[must_use]
    pub fn log_file(&self) -> PathBuf {
        self.base.join("postgres.log")
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// Creates the base directory if needed and hands it to the server's
    /// account.
    ///
    /// # Errors
    /// When it cannot be made, or the account cannot write there.
    pub fn prepare_base(&self) -> anyhow::Result<()> {
        fs::create_dir_all(&self.base)
            .with_context(|| format!("creating {}", self.base.display()))?;
        self.account.take(&self.base)?;
        fs::set_permissions(&self.base, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", self.base.display()))?;
        if !self.account.can_write(&self.base) {
            bail!(
                "the postgres user cannot write to {}; make every parent directory traversable (chmod o+x)",
                self.base.display()
            );
        }
        Ok(())
    }

    #[must_use]
    pub fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// initdb: UTF-8, C.UTF-8 collation where the machine has it.
    ///
    /// # Errors
    /// When initdb fails.
    pub fn init(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        if data.exists() {
            // Left half-written by an interrupted initdb.
            fs::remove_dir_all(&data)
                .with_context(|| format!("removing the incomplete {}", data.display()))?;
        }
        let mut command = self.account.command(&self.bin.tool("initdb"));
        command
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .arg(if c_utf8_available() {
                "--locale=C.UTF-8"
            } else {
                "--no-locale"
            });
        if self.durability == Durability::Throwaway {
            command.arg("--no-sync");
        }
        // Its own process group: a Ctrl-C must not leave half a cluster.
        command.process_group(0);
        process::capture(&mut command).context("initdb failed")?;
        Ok(())
    }

    /// `pg_ctl status`.
    ///
    /// # Errors
    /// When pg_ctl fails for another reason than "not running".
    pub fn status(&self) -> anyhow::Result<Status> {
        if !self.is_initialized() {
            return Ok(Status::Stopped);
        }
        let mut command = self.account.command(&self.bin.tool("pg_ctl"));
        command.arg("status").arg("-D").arg(self.data_dir());
        let output = command
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("could not start `{}`", process::display(&command)))?;
        match output.status.code() {
            Some(0) => {
                let pid_file =
                    fs::read_to_string(self.data_dir().join("postmaster.pid")).unwrap_or_default();
                Ok(Status::Running {
                    port: pid_file_port(&pid_file),
                })
            }
            // 3: not running; a pid file left by a crash is stale, and the
            // server replaces it when it starts.
            Some(3) => Ok(Status::Stopped),
            _ => bail!(
                "`{}` failed ({}): {}",
                process::display(&command),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }
    }

    /// Starts the server on its port with its settings, and waits until it
    /// accepts connections.
    ///
    /// # Errors
    /// When it does not start; the message ends with its log.
    pub fn start(&self) -> anyhow::Result<()> {
        let mut command = self.account.command(&self.bin.tool("pg_ctl"));
        command
            .arg("start")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", PG_CTL_TIMEOUT, "-o"])
            .arg(self.server_options())
            .process_group(0);
        if let Err(error) = process::capture(&mut command) {
            bail!(
                "{error:#}\nPostgreSQL did not start; the end of {}:\n{}",
                self.log_file().display(),
                process::tail(&self.log_file(), 15)
            );
        }
        Ok(())
    }

    /// Starts the server unless it runs.
    ///
    /// # Errors
    /// As [`Cluster::status`] and [`Cluster::start`].
    pub fn ensure_started(&self) -> anyhow::Result<()> {
        match self.status()? {
            Status::Running { .. } => Ok(()),
            Status::Stopped => self.start(),
        }
    }

    /// Stops the server if it runs: fast (disconnects clients, then shuts
    /// down), then immediate if that did not work.
    ///
    /// # Errors
    /// When neither worked.
    pub fn stop(&self) -> anyhow::Result<()> {
        if matches!(self.status()?, Status::Stopped) {
            return Ok(());
        }
        let mut error = None;
        for mode in ["fast", "immediate"] {
            let mut command = self.account.command(&self.bin.tool("pg_ctl"));
            command
                .arg("stop")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", mode, "-w", "-t", PG_CTL_TIMEOUT])
                .process_group(0);
            match process::capture(&mut command) {
                Ok(_) => return Ok(()),
                Err(failure) => error = Some(failure),
            }
        }
        Err(error.unwrap_or_else(|| anyhow::anyhow!("pg_ctl stop failed")))
            .with_context(|| format!("stopping the cluster in {}", self.data_dir().display()))
    }

    /// `database` on this cluster.
    #[must_use]
    pub fn url(&self, database: &str) -> DatabaseUrl {
        DatabaseUrl::local(self.port, database)
    }

    /// The maintenance database, for [`Admin`](super::Admin).
    #[must_use]
    pub fn admin_url(&self) -> DatabaseUrl {
        self.url("postgres")
    }

    /// Describes the cluster in one line.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "PostgreSQL from {} on 127.0.0.1:{}, data in {}{}",
            self.bin.dir().display(),
            self.port,
            self.data_dir().display(),
            match self.durability {
                Durability::Durable => "",
                Durability::Throwaway => " (fsync off)",
            }
        )
    }

    /// The postgres options pg_ctl passes on (through a shell, hence the
    /// quotes).
    fn server_options(&self) -> String {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        );
        let settings = self.durability.settings().iter().copied();
        for setting in settings.chain(self.settings.iter().map(String::as_str)) {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        options
    }
}

/// The port line of a `postmaster.pid` (its fourth line).
fn pid_file_port(text: &str) -> Option<u16> {
    text.lines().nth(3)?.trim().parse().ok()
}

fn c_utf8_available() -> bool {
    std::process::Command::new("locale")
        .arg("-a")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|output| lists_c_utf8(&String::from_utf8_lossy(&output.stdout)))
}

/// Whether `locale -a` output includes C.UTF-8 (spelled `C.utf8` by glibc).
fn lists_c_utf8(text: &str) -> bool {
    text.lines()
        .any(|line| line.trim().to_ascii_lowercase().replace('-', "") == "c.utf8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(port: u16) -> Cluster {
        Cluster::new(
            PgBin::unchecked(PathBuf::from("/usr/lib/postgresql/15/bin")),
            Account::Current,
            PathBuf::from("/var/tmp/x"),
            port,
        )
    }

    #[test]
    fn server_options_listen_on_loopback_only_with_durability_first() {
        let durable = cluster(5433).with_settings(Durability::Durable, &["max_connections=500"]);
        assert_eq!(
            durable.server_options(),
            "-p 5433 -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=500"
        );
        let throwaway = cluster(5434).with_settings(Durability::Throwaway, &[]);
        assert!(
            throwaway
                .server_options()
                .ends_with("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        );
    }

    #[test]
    fn reads_the_port_from_a_pid_file() {
        let pid_file = "4242\n/work/main/.local/pg/data\n1763800000\n54329\n\n127.0.0.1\n  1234567     32768\nready   \n";
        assert_eq!(pid_file_port(pid_file), Some(54329));
        assert_eq!(pid_file_port("4242\n"), None);
    }

    #[test]
    fn recognises_c_utf8_in_locale_listings() {
        assert!(lists_c_utf8("C\nC.utf8\nPOSIX\n"));
        assert!(lists_c_utf8("C.UTF-8\n"));
        assert!(!lists_c_utf8("C\nPOSIX\nen_US.utf8\n"));
    }

    #[test]
    fn urls_name_the_port_and_database() {
        assert_eq!(
            cluster(54329).url("recordshop").to_url(),
            "postgres://postgres@127.0.0.1:54329/recordshop"
        );
        assert_eq!(cluster(1).admin_url().database(), Some("postgres"));
    }
}
