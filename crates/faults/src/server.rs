//! The server under test as a child process: migrated, started with one
//! strategy and a signing key of its own, asked for a staff token, and
//! stopped — politely or with SIGKILL — by its PID.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use crate::api::Api;

/// How to start the server; every start of one scenario uses the same.
#[derive(Clone, Debug)]
pub struct Launch {
    pub bin: PathBuf,
    pub database_url: String,
    pub strategy: String,
    pub port: u16,
    /// `JWT_SECRET`: the server refuses to start without a key.
    pub secret: String,
    /// Where the server's output goes; restarts append to it.
    pub log: PathBuf,
}

/// Variables the server reads that must come from the suite, not from the
/// shell that started it.
const SCRUBBED: [&str; 5] = [
    "USE_OPTIMISTIC_CC",
    "POSTGRES_DB",
    "POSTGRES_SCHEMA",
    "JWT_SECRET_FILE",
    "HTTP_WORKERS",
];

impl Launch {
    fn command(&self, subcommand: &[&str]) -> anyhow::Result<Command> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let log_err = log.try_clone().context("sharing the server log")?;
        let mut command = Command::new(&self.bin);
        command.args(subcommand);
        for name in SCRUBBED {
            command.env_remove(name);
        }
        command
            .env("DATABASE_URL", &self.database_url)
            .env("CONCURRENCY_STRATEGY", &self.strategy)
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("JWT_SECRET", &self.secret)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C at the terminal reaches the
            // suite, which then stops the server itself.
            .process_group(0)
            // A safety net for error paths and interrupts.
            .kill_on_drop(true);
        Ok(command)
    }

    /// A staff token from `recordshop token --role staff`, signed with the
    /// same key the server verifies with.
    pub async fn staff_token(&self) -> anyhow::Result<String> {
        let mut command = self.command(&["token", "--role", "staff"])?;
        command.stdout(Stdio::piped());
        let child = command
            .spawn()
            .with_context(|| format!("starting {} token", self.bin.display()))?;
        let output = timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .context("`recordshop token` took over 30 s")?
            .context("waiting for `recordshop token`")?;
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || token.is_empty() || token.contains(char::is_whitespace) {
            bail!(
                "`recordshop token --role staff` failed ({}); its output:\n{}",
                output.status,
                log_tail(&self.log)
            );
        }
        Ok(token)
    }

    pub fn start(&self) -> anyhow::Result<Server> {
        let child = self
            .command(&["serve"])?
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        Ok(Server {
            child,
            pid,
            log: self.log.clone(),
        })
    }
}

pub struct Server {
    child: Child,
    pid: u32,
    log: PathBuf,
}

/// How a server ended after SIGTERM.
pub struct Exit {
    pub status: ExitStatus,
    pub took: Duration,
    /// It had to be killed: SIGTERM was not enough within the bound.
    pub killed: bool,
}

impl Server {
    /// Polls `GET /health/ready` until it answers 200, the server exits, or
    /// `within` passes. Returns how long it took.
    pub async fn wait_ready(&mut self, api: &Api, within: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().context("watching the server")? {
                bail!(
                    "the server exited ({status}) before it was ready:\n{}",
                    log_tail(&self.log)
                );
            }
            if api.status("/health/ready").await == Some(200) {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= within {
                bail!(
                    "the server was not ready within {within:?}:\n{}",
                    log_tail(&self.log)
                );
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL by PID, and waits for it to be gone.
    pub async fn kill9(mut self) -> anyhow::Result<()> {
        self.signal(Signal::SIGKILL)?;
        timeout(Duration::from_secs(10), self.child.wait())
            .await
            .context("the server outlived SIGKILL by 10 s")?
            .context("waiting for the killed server")?;
        Ok(())
    }

    /// SIGTERM by PID; SIGKILL if it has not exited after `within`.
    pub async fn terminate(mut self, within: Duration) -> anyhow::Result<Exit> {
        if let Some(status) = self.child.try_wait().context("watching the server")? {
            bail!("the server had already exited: {status}");
        }
        let start = Instant::now();
        self.signal(Signal::SIGTERM)?;
        match timeout(within, self.child.wait()).await {
            Ok(status) => Ok(Exit {
                status: status.context("waiting for the server")?,
                took: start.elapsed(),
                killed: false,
            }),
            Err(_) => {
                self.signal(Signal::SIGKILL)?;
                let status = self.child.wait().await.context("waiting for the server")?;
                Ok(Exit {
                    status,
                    took: start.elapsed(),
                    killed: true,
                })
            }
        }
    }

    fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = i32::try_from(self.pid).context("server pid out of range")?;
        kill(Pid::from_raw(pid), signal).with_context(|| format!("sending {signal} to the server"))
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

/// Creates (or empties) a log file.
pub fn new_log(path: &Path) -> anyhow::Result<()> {
    File::create(path)
        .map(drop)
        .with_context(|| format!("creating {}", path.display()))
}
