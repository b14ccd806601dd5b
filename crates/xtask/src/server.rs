//! The server as a child process: built and started through `cargo run
//! --release` (which replaces itself with the binary, so the terminal's
//! Ctrl-C reaches the server directly), and what to tell its user: once it
//! answers, tokens to call it with and examples that use them.

use std::env;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{interrupt, process, say};

/// The seed's John Doe and "We are Reactive", for the example order.
const SEED_CUSTOMER: &str = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb";
const SEED_DISC: &str = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39";
/// How long cargo or the server may take to end after Ctrl-C before it is
/// killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long the server may take to answer `/health` once started; the
/// build is done by then (`migrate` ran the same binary).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// The lifetime of the printed tokens: a working day.
const TOKEN_TTL: &str = "12h";

/// `recordshop` against one database, listening on HOST:PORT.
pub struct Server {
    root: PathBuf,
    database_url: String,
    host: String,
    port: String,
    /// Whether the database is our local cluster, stopped after the server.
    local_cluster: bool,
    /// The signing secret, passed as `JWT_SECRET_FILE`.
    secret_file: PathBuf,
}

impl Server {
    pub fn new(root: &Path, database_url: &str, local_cluster: bool, secret_file: &Path) -> Self {
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
            secret_file: secret_file.to_path_buf(),
        }
    }

    /// The server's key, and nothing from the shell that would contradict
    /// it: `cargo xtask run` always serves with authentication on.
    fn with_key(&self, command: &mut Command) {
        command
            .env("JWT_SECRET_FILE", &self.secret_file)
            .env_remove("JWT_SECRET")
            .env_remove("AUTH_DISABLED");
    }

    fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(crate::cargo());
        command
            .current_dir(&self.root)
            .args(["run", "--release", "-p", "recordshop", "--", subcommand])
            .env("DATABASE_URL", &self.database_url)
            .env("HOST", &self.host)
            .env("PORT", &self.port);
        self.with_key(&mut command);
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
        let mut child = self
            .command("serve")
            .spawn()
            .context("could not start cargo")?;
        if self.wait_until_ready(&base, &mut child)? {
            self.announce(&base);
        }
        if self.local_cluster {
            say!("Ctrl-C stops the server, then the local cluster");
        } else {
            say!("Ctrl-C stops the server");
        }
        let status = process::wait(&mut child, SHUTDOWN_GRACE)?;
        if !status.success() && !interrupt::interrupted() {
            say!("the server exited: {status}");
        }
        Ok(process::exit_code(status))
    }
}

impl Server {
    /// Polls `GET /health` until it answers 200; false when the server
    /// exited, an interrupt came, or it did not answer in time.
    fn wait_until_ready(&self, base: &str, child: &mut Child) -> anyhow::Result<bool> {
        let started = Instant::now();
        loop {
            if interrupt::interrupted() || child.try_wait()?.is_some() {
                return Ok(false);
            }
            if health_answers(&client_host(&self.host), &self.port) {
                return Ok(true);
            }
            if started.elapsed() >= READY_WITHIN {
                say!(
                    "{base}/health did not answer within {} s; no tokens printed",
                    READY_WITHIN.as_secs()
                );
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Prints the tokens and the examples that use them.
    fn announce(&self, base: &str) {
        let staff = self.mint(&["--role", "staff"]);
        let customer = self.mint(&["--customer", SEED_CUSTOMER]);
        match (staff, customer) {
            (Ok(staff), Ok(customer)) => {
                say!("tokens for {TOKEN_TTL} (`recordshop token --help` mints more):");
                eprintln!("    export STAFF_TOKEN={staff}");
                eprintln!("    export CUSTOMER_TOKEN={customer}   # John Doe, the seed's customer");
            }
            (Err(error), _) | (_, Err(error)) => say!("could not mint tokens: {error:#}"),
        }
        say!("try:");
        for line in curl_examples(base) {
            eprintln!("    {line}");
        }
    }

    /// `recordshop token <who> --ttl 12h` with the server's key, run from
    /// the binary `migrate` built.
    fn mint(&self, who: &[&str]) -> anyhow::Result<String> {
        let target =
            env::var_os("CARGO_TARGET_DIR").map_or_else(|| self.root.join("target"), PathBuf::from);
        let mut command = Command::new(target.join("release").join("recordshop"));
        command.arg("token").args(who).args(["--ttl", TOKEN_TTL]);
        self.with_key(&mut command);
        let token = process::capture(&mut command)?;
        Ok(token.trim().to_owned())
    }
}

/// Where a client reaches a listen address: a wildcard on loopback.
fn client_host(host: &str) -> String {
    match host {
        "0.0.0.0" | "" => "127.0.0.1".to_owned(),
        "::" | "[::]" => "::1".to_owned(),
        other => other
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    }
}

/// Whether `GET /health` answers 200 within a second or two.
fn health_answers(host: &str, port: &str) -> bool {
    let Ok(port) = port.parse::<u16>() else {
        return false;
    };
    let Some(address) = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
    else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut head = [0_u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && is_ok_status(&head)
}

fn is_ok_status(head: &[u8]) -> bool {
    head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200")
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
        format!("curl '{base}/discs?genre=rock'"),
        format!("curl -H \"Authorization: Bearer $STAFF_TOKEN\" {base}/customers"),
        format!(
            "curl -X POST {base}/purchase-orders -H \"Authorization: Bearer $CUSTOMER_TOKEN\" \
             -H 'content-type: application/json' \
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
        assert!(post.contains("Bearer $CUSTOMER_TOKEN"));
    }

    #[test]
    fn readiness_reads_the_status_line() {
        assert!(is_ok_status(b"HTTP/1.1 200"));
        assert!(!is_ok_status(b"HTTP/1.1 503"));
        assert!(!is_ok_status(b"HTTP/1.1 20"));
        assert_eq!(client_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(client_host("[::1]"), "::1");
        // Nothing listens on port 1.
        assert!(!health_answers("127.0.0.1", "1"));
    }
}
