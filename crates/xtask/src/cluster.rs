//! One PostgreSQL cluster: a base directory holding `data/` and
//! `postgres.log`, owned by the account that runs the server, listening on
//! 127.0.0.1 only (no Unix socket), superuser `postgres`, trust auth.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::account::Account;
use crate::pgbin::{self, PgBin};
use crate::{process, say};

/// Seconds pg_ctl waits for a start or a stop.
const PG_CTL_TIMEOUT: &str = "60";

pub struct Cluster {
    bin: PgBin,
    account: Account,
    base: PathBuf,
    pub port: u16,
}

pub enum Status {
    Stopped,
    /// Running, on the port its pid file names.
    Running {
        port: Option<u16>,
    },
}

/// How initdb writes the cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    /// Skips the final fsync; for clusters that live as long as one run.
    Throwaway,
}

impl Cluster {
    pub fn new(bin: PgBin, account: Account, base: PathBuf, port: u16) -> Self {
        Self {
            bin,
            account,
            base,
            port,
        }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.base.join("postgres.log")
    }

    /// Creates the base directory if needed and hands it to the server's
    /// account.
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

    pub fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    pub fn init(&self, durability: Durability) -> anyhow::Result<()> {
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
        if durability == Durability::Throwaway {
            command.arg("--no-sync");
        }
        // Its own process group: a Ctrl-C must not leave half a cluster.
        command.process_group(0);
        process::capture(&mut command).context("initdb failed")?;
        Ok(())
    }

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

    /// Starts the server on `self.port` with extra `-c` settings, and waits
    /// until it accepts connections.
    pub fn start(&self, settings: &[&str]) -> anyhow::Result<()> {
        let mut command = self.account.command(&self.bin.tool("pg_ctl"));
        command
            .arg("start")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", PG_CTL_TIMEOUT, "-o"])
            .arg(server_options(self.port, settings))
            // The terminal's Ctrl-C is for the server we run, not for the
            // database under it: xtask stops the cluster itself.
            .process_group(0);
        if let Err(error) = process::capture(&mut command) {
            let log = fs::read_to_string(self.log_file()).unwrap_or_default();
            bail!(
                "{error:#}\nPostgreSQL did not start; the end of {}:\n{}",
                self.log_file().display(),
                tail(&log, 15)
            );
        }
        Ok(())
    }

    /// Stops the server if it runs: fast (disconnects clients), then
    /// immediate if that did not work.
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

    pub fn url(&self, database: &str) -> String {
        database_url(self.port, database)
    }

    /// psql connected to `database` of this cluster, over TCP.
    pub fn psql(&self, database: &str) -> Command {
        pgbin::psql_command(&self.bin.psql(), &self.url(database))
    }

    /// Runs one query and returns its unaligned, tuples-only output.
    pub fn query(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let output = process::capture(self.psql(database).args(["-tA", "-c", sql]))?;
        Ok(output.trim().to_owned())
    }

    /// Describes the cluster in one line.
    pub fn describe(&self) -> String {
        format!(
            "PostgreSQL from {} on 127.0.0.1:{}, data in {}",
            self.bin.dir().display(),
            self.port,
            self.data_dir().display()
        )
    }
}

/// A started cluster, stopped when this value drops: on success, on error
/// and after Ctrl-C alike.
pub struct StopOnDrop<'a>(pub &'a Cluster);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        say!("stopping PostgreSQL ({})", self.0.data_dir().display());
        if let Err(error) = self.0.stop() {
            say!("warning: {error:#}");
        }
    }
}

pub fn database_url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

/// Whether nothing listens on 127.0.0.1:`port`.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port nothing listens on right now (the kernel's pick).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// The postgres options pg_ctl passes on (through a shell, hence the quotes).
pub fn server_options(port: u16, settings: &[&str]) -> String {
    let mut options =
        format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
    for setting in settings {
        options.push_str(" -c ");
        options.push_str(setting);
    }
    options
}

/// The port line of a `postmaster.pid` (its fourth line).
fn pid_file_port(text: &str) -> Option<u16> {
    text.lines().nth(3)?.trim().parse().ok()
}

fn c_utf8_available() -> bool {
    Command::new("locale")
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

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_database_url() {
        assert_eq!(
            database_url(54329, "recordshop"),
            "postgres://postgres@127.0.0.1:54329/recordshop"
        );
    }

    #[test]
    fn server_options_listen_on_loopback_only() {
        assert_eq!(
            server_options(5433, &["fsync=off", "max_connections=500"]),
            "-p 5433 -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c max_connections=500"
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
    fn keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn a_free_port_is_free() {
        let port = free_port().unwrap();
        assert!(port_is_free(port));
        let _held = TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert!(!port_is_free(port));
    }
}
