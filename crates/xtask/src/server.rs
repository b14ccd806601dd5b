//! The server as a child process: built and started through `cargo run
//! --release` (which replaces itself with the binary, so the terminal's
//! Ctrl-C reaches the server directly), and what to tell its user.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::{interrupt, process, say};

/// The seed's John Doe and "We are Reactive", for the example order.
const SEED_CUSTOMER: &str = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb";
const SEED_DISC: &str = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39";
/// How long cargo or the server may take to end after Ctrl-C before it is
/// killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// `recordshop` against one database, listening on HOST:PORT.
pub struct Server {
    root: PathBuf,
    database_url: String,
    host: String,
    port: String,
    /// Whether the database is our local cluster, stopped after the server.
    local_cluster: bool,
}

impl Server {
    pub fn new(root: &Path, database_url: &str, local_cluster: bool) -> Self {
        let setting = |name: &str, default: &str| {
            env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            root: root.to_path_buf(),
            database_url: database_url.to_owned(),
            host: setting("HOST", "127.0.0.1"),
            port: setting("PORT", "8080"),
            local_cluster,
        }
    }

    fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(crate::cargo());
        command
            .current_dir(&self.root)
            .args(["run", "--release", "-p", "recordshop", "--", subcommand])
            .env("DATABASE_URL", &self.database_url)
            .env("HOST", &self.host)
            .env("PORT", &self.port);
        command
    }

    /// Builds and migrates; `Some(code)` when that ended the run.
    pub fn migrate(&self) -> anyhow::Result<Option<ExitCode>> {
        say!("building the server and applying migrations");
        let mut child = self
            .command("migrate")
            .spawn()
            .context("could not start cargo")?;
        let status = process::wait(&mut child, SHUTDOWN_GRACE)?;
        if interrupt::interrupted() {
            return Ok(Some(process::exit_code(status)));
        }
        if !status.success() {
            bail!("`recordshop migrate` failed ({status}); see its output above");
        }
        Ok(None)
    }

    pub fn serve(&self) -> anyhow::Result<ExitCode> {
        let base = http_base(&self.host, &self.port);
        say!(
            "serving on {base} (database {})",
            redact(&self.database_url)
        );
        say!("try:");
        for line in curl_examples(&base) {
            eprintln!("    {line}");
        }
        if self.local_cluster {
            say!("Ctrl-C stops the server, then the local cluster");
        } else {
            say!("Ctrl-C stops the server");
        }
        let mut child = self
            .command("serve")
            .spawn()
            .context("could not start cargo")?;
        let status = process::wait(&mut child, SHUTDOWN_GRACE)?;
        if !status.success() && !interrupt::interrupted() {
            say!("the server exited: {status}");
        }
        Ok(process::exit_code(status))
    }
}

/// The base URL a client uses; a wildcard listen address is reached on
/// loopback.
fn http_base(host: &str, port: &str) -> String {
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    };
    if host.contains(':') && !host.starts_with('[') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}

fn curl_examples(base: &str) -> Vec<String> {
    vec![
        format!("curl {base}/health"),
        format!("curl {base}/discs"),
        format!("curl '{base}/discs?genre=rock'"),
        format!(
            "curl -X POST {base}/purchase-orders -H 'content-type: application/json' \
             -d '{{\"customer_id\": \"{SEED_CUSTOMER}\", \"disc_id\": \"{SEED_DISC}\", \"quantity\": 1}}'"
        ),
    ]
}

/// The URL with its password, if any, hidden.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_are_reached_on_loopback() {
        assert_eq!(http_base("127.0.0.1", "8080"), "http://127.0.0.1:8080");
        assert_eq!(http_base("0.0.0.0", "3000"), "http://127.0.0.1:3000");
        assert_eq!(http_base("::", "8080"), "http://[::1]:8080");
        assert_eq!(http_base("::1", "8080"), "http://[::1]:8080");
        assert_eq!(http_base("localhost", "80"), "http://localhost:80");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:54329/recordshop"),
            "postgres://postgres@127.0.0.1:54329/recordshop"
        );
        assert_eq!(
            redact("postgres://db/shop?x=a@b"),
            "postgres://db/shop?x=a@b"
        );
        assert_eq!(redact("host=db user=app"), "host=db user=app");
    }

    #[test]
    fn the_example_order_names_the_seed() {
        let seed = include_str!("../../../seed/seed.sql");
        assert!(seed.contains(SEED_CUSTOMER));
        assert!(seed.contains(SEED_DISC));
        let post = &curl_examples("http://127.0.0.1:8080")[3];
        assert!(post.contains("/purchase-orders"));
        assert!(post.contains(SEED_CUSTOMER));
    }
}
