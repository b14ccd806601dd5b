//! Finding the PostgreSQL programs, and installing them where that is safe
//! to do unasked (root on Debian/Ubuntu: CI machines and containers).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::{packages, say};

/// Where Debian and Ubuntu install each major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// Decides whether installing a server package also creates and starts a
/// system-wide cluster.
const CREATECLUSTER_CONF: &str = "/etc/postgresql-common/createcluster.conf";

const INSTALL_HELP: &str = "PostgreSQL's server programs (initdb, pg_ctl) were not found on PATH, \
    through `pg_config --bindir`, or under /usr/lib/postgresql/<version>/bin. Install PostgreSQL \
    (Debian/Ubuntu: `sudo apt-get install postgresql`; Fedora: `sudo dnf install postgresql-server`; \
    macOS: `brew install postgresql@17`) or put its bin directory on PATH. Alternatively point \
    DATABASE_URL (`cargo xtask run`) or RECORDSHOP_TEST_DATABASE_URL (`cargo xtask test`) at a \
    server of your own.";

/// The directory holding initdb, pg_ctl, postgres and pgbench.
#[derive(Clone, Debug)]
pub struct PgBin {
    dir: PathBuf,
}

impl PgBin {
    /// Finds the programs, installing PostgreSQL first when running as root
    /// on Debian/Ubuntu; otherwise fails saying what to install.
    ///
    /// # Errors
    /// When they are missing and cannot be installed here.
    pub fn find_or_install() -> anyhow::Result<Self> {
        if let Some(found) = Self::find() {
            return Ok(found);
        }
        if packages::can_install()? {
            install_with_apt()?;
            return Self::find().context(
                "apt-get installed postgresql, yet initdb and pg_ctl are still missing; \
                 see `dpkg -L postgresql-<version>`",
            );
        }
        bail!(INSTALL_HELP)
    }

    /// PATH first, then `pg_config --bindir`, then the newest version under
    /// /usr/lib/postgresql (Debian keeps the server programs off PATH).
    #[must_use]
    pub fn find() -> Option<Self> {
        on_path()
            .or_else(from_pg_config)
            .or_else(|| newest_under(Path::new(DEBIAN_ROOT)))
            .map(|dir| Self { dir })
    }

    /// A directory said to hold the programs, for tests that never run them.
    #[cfg(test)]
    pub(crate) fn unchecked(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The directory itself.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One of its programs (`pg_ctl`, `pgbench`, …).
    #[must_use]
    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn has_server_programs(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn on_path() -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).find_map(|dir| {
        if !has_server_programs(&dir) {
            return None;
        }
        // /usr/local/bin/initdb is often a symlink into the real bin
        // directory, the one that also holds postgres and psql.
        let real = fs::canonicalize(dir.join("initdb"))
            .ok()
            .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
            .filter(|real| has_server_programs(real));
        Some(real.unwrap_or(dir))
    })
}

fn from_pg_config() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    (output.status.success() && has_server_programs(&dir)).then_some(dir)
}

fn newest_under(root: &Path) -> Option<PathBuf> {
    let names = fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    newest_first(names)
        .into_iter()
        .map(|name| root.join(name).join("bin"))
        .find(|dir| has_server_programs(dir))
}

/// Version directory names, newest first; names that are not versions
/// (`15`, `9.6`) are left out.
fn newest_first(names: Vec<String>) -> Vec<String> {
    let mut versions: Vec<((u32, u32), String)> = names
        .into_iter()
        .filter_map(|name| Some((parse_version(&name)?, name)))
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, name)| name).collect()
}

fn parse_version(name: &str) -> Option<(u32, u32)> {
    match name.split_once('.') {
        Some((major, minor)) => Some((major.parse().ok()?, minor.parse().ok()?)),
        None => Some((name.parse().ok()?, 0)),
    }
}

fn install_with_apt() -> anyhow::Result<()> {
    say!("PostgreSQL is not installed; installing it with apt-get (root on Debian/Ubuntu)");
    packages::install(&["postgresql-common"])?;
    keep_apt_from_creating_a_cluster();
    packages::install(&["postgresql"])
        .context("installing PostgreSQL failed; install it yourself (`apt-get install postgresql`)")
}

/// The project starts its own clusters; the package's default cluster would
/// only be a second server left running on port 5432. Best effort: without
/// the setting, the install still works.
fn keep_apt_from_creating_a_cluster() {
    let Ok(text) = fs::read_to_string(CREATECLUSTER_CONF) else {
        return;
    };
    if sets(&text, "create_main_cluster") {
        return;
    }
    let addition = "\n# Added by the record shop's tools: the project runs clusters of its own.\ncreate_main_cluster = false\n";
    if let Err(error) = fs::write(CREATECLUSTER_CONF, format!("{text}{addition}")) {
        say!("warning: could not update {CREATECLUSTER_CONF}: {error}");
    }
}

/// Whether a postgresql-common style config sets `key` (uncommented).
fn sets(conf: &str, key: &str) -> bool {
    conf.lines().any(|line| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn newest_version_comes_first() {
        let sorted = newest_first(names(&["9.6", "15", "README", "16", "10", "17beta1"]));
        assert_eq!(sorted, names(&["16", "15", "10", "9.6"]));
    }

    #[test]
    fn newest_under_skips_versions_without_server_programs() {
        let root = std::env::temp_dir().join(format!("harness-pgbin-{}", std::process::id()));
        for version in ["14", "16"] {
            fs::create_dir_all(root.join(version).join("bin")).unwrap();
        }
        for tool in ["initdb", "pg_ctl"] {
            fs::write(root.join("14").join("bin").join(tool), "").unwrap();
        }
        // 16 is newer but only has a client installed.
        fs::write(root.join("16").join("bin").join("psql"), "").unwrap();
        assert_eq!(newest_under(&root), Some(root.join("14").join("bin")));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn finds_uncommented_settings_only() {
        assert!(!sets(
            "#create_main_cluster = true\n",
            "create_main_cluster"
        ));
        assert!(sets("create_main_cluster = false\n", "create_main_cluster"));
        assert!(sets("  create_main_cluster=true", "create_main_cluster"));
        assert!(!sets(
            "create_main_cluster_extra = 1",
            "create_main_cluster"
        ));
    }
}
