//! The PostgreSQL side: a fresh database per scenario, created and dropped
//! through the admin URL, and the cluster itself stopped and started for
//! the outage scenario.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;
use tokio::time::timeout;
use tokio_postgres::NoTls;

/// Connects and drives the connection in the background. A fresh
/// connection each time: the outage scenario closes every session.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) =
        timeout(Duration::from_secs(10), tokio_postgres::connect(url, NoTls))
            .await
            .context("connecting to PostgreSQL took over 10 s")?
            .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        // Ends when the client is dropped; an error surfaces on the client.
        let _ = connection.await;
    });
    Ok(client)
}

/// Creates database `name` and returns its URL.
pub async fn create(admin_url: &str, name: &str) -> anyhow::Result<String> {
    check_name(name)?;
    connect(admin_url)
        .await?
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .with_context(|| format!("creating database {name}"))?;
    database_url(admin_url, name)
}

/// Drops database `name`, closing any session still open on it.
pub async fn drop(admin_url: &str, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    connect(admin_url)
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping database {name}"))
}

/// `flt_<scenario>_<strategy>_<tag>`: lower-case letters, digits and
/// underscores, within PostgreSQL's 63-byte identifiers.
pub fn database_name(scenario: &str, strategy: &str, tag: &str) -> String {
    let name: String = format!("flt_{scenario}_{strategy}_{tag}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name.chars().take(63).collect()
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with("flt_")
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!("refusing to touch database {name:?}: not a fault-suite database");
    }
    Ok(())
}

/// `admin_url` with its database replaced by `database`.
pub fn database_url(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = admin_url.split_once("://") else {
        bail!("--admin-url must be a postgres:// URL");
    };
    let (authority, query) = match rest.find(['/', '?']) {
        None => (rest, ""),
        Some(at) => {
            let (authority, tail) = rest.split_at(at);
            (authority, tail.find('?').map_or("", |q| &tail[q..]))
        }
    };
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

/// What it takes to stop and start the cluster behind the admin URL.
#[derive(Clone, Debug)]
pub struct PgControl {
    pub pg_ctl: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    /// `pg_ctl start -o`: the port and settings it was started with.
    pub options: String,
    /// The OS user pg_ctl must run as, when not the current one.
    pub user: Option<String>,
}

impl PgControl {
    fn command(&self) -> Command {
        let mut command = match &self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&self.pg_ctl);
                command
            }
            None => Command::new(&self.pg_ctl),
        };
        command
            .current_dir("/")
            .stdin(Stdio::null())
            // Its own process group: a Ctrl-C must not reach the cluster,
            // which its owner stops in order.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// `pg_ctl stop -m fast`: disconnects every client, then shuts down.
    pub async fn stop_fast(&self) -> anyhow::Result<()> {
        let mut command = self.command();
        command
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60"]);
        run(command, "pg_ctl stop").await
    }

    /// `pg_ctl start` with the cluster's original options; waits until it
    /// accepts connections.
    pub async fn start(&self) -> anyhow::Result<()> {
        let mut command = self.command();
        command
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60"]);
        if !self.options.trim().is_empty() {
            command.arg("-o").arg(&self.options);
        }
        run(command, "pg_ctl start").await
    }

    /// Starts the cluster unless it runs.
    pub async fn ensure_started(&self) -> anyhow::Result<()> {
        let mut command = self.command();
        command.arg("status").arg("-D").arg(&self.data);
        let output = timeout(Duration::from_secs(30), command.output())
            .await
            .context("pg_ctl status took over 30 s")?
            .context("could not run pg_ctl status")?;
        match output.status.code() {
            Some(0) => Ok(()),
            // 3: not running.
            Some(3) => self.start().await,
            _ => bail!(
                "pg_ctl status failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }
    }
}

async fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = timeout(Duration::from_secs(90), command.output())
        .await
        .with_context(|| format!("{what} took over 90 s"))?
        .with_context(|| format!("could not run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_safe_and_bounded() {
        assert_eq!(
            database_name("kill", "pessimistic", "a1b2c3d4"),
            "flt_kill_pessimistic_a1b2c3d4"
        );
        assert_eq!(
            database_name("Out-age", "x.y", "t"),
            "flt_out_age_x_y_t".to_owned()
        );
        assert!(database_name("s", &"x".repeat(100), "t").len() <= 63);
        assert!(check_name("postgres").is_err());
        assert!(check_name("flt_x\"; DROP").is_err());
    }

    #[test]
    fn replaces_the_database_of_the_admin_url() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5433/postgres", "flt_a").unwrap(),
            "postgres://postgres@127.0.0.1:5433/flt_a"
        );
        assert_eq!(
            database_url("postgres://u@h?sslmode=disable", "flt_a").unwrap(),
            "postgres://u@h/flt_a?sslmode=disable"
        );
        assert!(database_url("host=h", "flt_a").is_err());
    }
}
