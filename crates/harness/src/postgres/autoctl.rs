//! `pg_autoctl`, pg_auto_failover's program, as a formation runs it: found
//! (and installed where that is safe, with the extension for the server's
//! major version), run as the account that runs PostgreSQL, and kept to a
//! node's folder.
//!
//! A node's folder holds `data/` (PGDATA), pg_autoctl's configuration,
//! state and pid files in `config/`, `share/` and `run/` (its XDG
//! directories, instead of the account's home and /tmp, so that nothing of
//! a node lives outside its folder), and `pg_autoctl.log`, the keeper's
//! output; PostgreSQL's own log is in `data/log/`.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Account, PgBin};
use crate::{packages, process, say};

/// Where the package puts it; a source build puts it beside `pg_ctl`.
const DEBIAN_PROGRAM: &str = "/usr/bin/pg_autoctl";
const LOG_FILE: &str = "pg_autoctl.log";

/// The program, the PostgreSQL it drives, and the account it runs as.
#[derive(Clone, Debug)]
pub(super) struct Autoctl {
    program: PathBuf,
    bin: PgBin,
    account: Account,
}

impl Autoctl {
    /// `pg_autoctl` and the `pgautofailover` extension for `bin`'s
    /// PostgreSQL, installed with apt-get when missing where that is
    /// allowed.
    pub(super) fn find_or_install(bin: &PgBin, account: Account) -> anyhow::Result<Self> {
        if let Some(found) = Self::find(bin, account) {
            return Ok(found);
        }
        let package = package_for(bin)?;
        check_installable(bin, &package)?;
        say!("pg_auto_failover is missing; installing {package} with apt-get");
        packages::install(&[&package])?;
        Self::find(bin, account).with_context(|| {
            format!("{package} was installed, but pg_autoctl or pgautofailover.so is still missing")
        })
    }

    /// Whether [`Autoctl::find_or_install`] would succeed, without
    /// installing anything; the error says what to install.
    pub(super) fn check(bin: &PgBin, account: Account) -> anyhow::Result<()> {
        if Self::find(bin, account).is_some() {
            return Ok(());
        }
        check_installable(bin, &package_for(bin)?)
    }

    pub(super) fn find(bin: &PgBin, account: Account) -> Option<Self> {
        if !extension_library(bin).is_file() {
            return None;
        }
        [bin.tool("pg_autoctl"), PathBuf::from(DEBIAN_PROGRAM)]
            .into_iter()
            .find(|program| program.is_file())
            .map(|program| Self {
                program,
                bin: bin.clone(),
                account,
            })
    }

    /// `pg_autoctl` for the node in `node`, run as the account, with an
    /// environment that keeps its files in the folder and reaches
    /// PostgreSQL over TCP (the nodes have no Unix socket), in a process
    /// group of its own, its output appended to the node's log.
    pub(super) fn command(&self, node: &Path) -> anyhow::Result<Command> {
        // pg_autoctl falls back to /tmp for its pid files when its runtime
        // directory is missing.
        let run = node.join("run");
        fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
        self.account.take(&run)?;
        let log = log_file(node);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone().context("sharing the pg_autoctl log")?;
        let mut command = self.account.exec_command(&self.program);
        let path = std::env::join_paths([self.bin.dir(), Path::new("/usr/bin"), Path::new("/bin")])
            .context("a PATH for pg_autoctl")?;
        command
            .env_clear()
            .env("PATH", path)
            .env("LANG", "C.UTF-8")
            .env("HOME", node)
            .env("XDG_CONFIG_HOME", node.join("config"))
            .env("XDG_DATA_HOME", node.join("share"))
            .env("XDG_RUNTIME_DIR", node.join("run"))
            .env("PGHOST", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        Ok(command)
    }

    /// A `pg_autoctl` that ends by itself (`create …`), given `within`.
    pub(super) fn run(&self, node: &Path, args: &[String], within: Duration) -> anyhow::Result<()> {
        let mut command = self.command(node)?;
        command.args(args);
        let shown = process::display(&command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting `{shown}`"))?;
        let tail = || process::tail(&log_file(node), 15);
        match process::wait_within(&mut child, within)? {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!(
                "`{shown}` failed ({status}); the end of its log:\n{}",
                tail()
            ),
            None => bail!(
                "`{shown}` took over {within:?}; the end of its log:\n{}",
                tail()
            ),
        }
    }

    /// `pg_autoctl run`: the node's keeper (or the monitor's), which starts
    /// its PostgreSQL and keeps it running until it gets SIGTERM.
    pub(super) fn spawn_run(&self, node: &Path) -> anyhow::Result<Child> {
        let mut command = self.command(node)?;
        command.arg("run").arg("--pgdata").arg(node.join("data"));
        command
            .spawn()
            .with_context(|| format!("starting `{}`", process::display(&command)))
    }

    pub(super) fn pg_ctl(&self) -> PathBuf {
        self.bin.tool("pg_ctl")
    }
}

fn check_installable(bin: &PgBin, package: &str) -> anyhow::Result<()> {
    if packages::can_install()? {
        return Ok(());
    }
    bail!(
        "pg_auto_failover is missing (pg_autoctl, and pgautofailover.so for {}); \
         install it with `apt-get install {package}` (as root the tools do that themselves)",
        bin.dir().display()
    )
}

/// The keeper's output.
pub(super) fn log_file(node: &Path) -> PathBuf {
    node.join(LOG_FILE)
}

/// Where `pg_autoctl run` writes its pid: under its runtime directory, at
/// the path of its PGDATA.
pub(super) fn pid_file(node: &Path) -> PathBuf {
    let data = node.join("data");
    let relative = data.strip_prefix("/").unwrap_or(&data);
    node.join("run")
        .join("pg_autoctl")
        .join(relative)
        .join("pg_autoctl.pid")
}

/// The extension's library in the server's package library directory.
fn extension_library(bin: &PgBin) -> PathBuf {
    let reported = process::capture(Command::new(bin.tool("pg_config")).arg("--pkglibdir"))
        .ok()
        .map(|text| PathBuf::from(text.trim()))
        .filter(|dir| dir.is_dir());
    let fallback = || bin.dir().parent().unwrap_or(bin.dir()).join("lib");
    reported.unwrap_or_else(fallback).join("pgautofailover.so")
}

/// Debian's package for the server's major version:
/// `postgresql-15-auto-failover` (it brings `pg-auto-failover-cli`).
fn package_for(bin: &PgBin) -> anyhow::Result<String> {
    let version = process::capture(Command::new(bin.tool("pg_config")).arg("--version"))
        .context("asking pg_config for the PostgreSQL version")?;
    let major = major_version(&version)
        .with_context(|| format!("pg_config printed {version:?}, not a version"))?;
    Ok(format!("postgresql-{major}-auto-failover"))
}

/// `15` of `PostgreSQL 15.18 (Debian 15.18-0+deb12u1)`.
fn major_version(text: &str) -> Option<u32> {
    let number = text.trim().strip_prefix("PostgreSQL ")?;
    number.split(['.', ' ']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version() {
        assert_eq!(
            major_version("PostgreSQL 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(major_version("PostgreSQL 17beta1"), None);
        assert_eq!(major_version("PostgreSQL 16.2"), Some(16));
        assert_eq!(major_version("pg 15"), None);
    }

    #[test]
    fn the_pid_file_is_kept_in_the_node_folder() {
        assert_eq!(
            pid_file(Path::new("/var/tmp/ha/node1")),
            Path::new("/var/tmp/ha/node1/run/pg_autoctl/var/tmp/ha/node1/data/pg_autoctl.pid")
        );
    }
}
