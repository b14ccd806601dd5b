//! The server under test as a child process: started with one strategy,
//! waited for until ready, sampled for memory, and stopped by its PID.
//!
//! The servers refuse to start without a signing key, and running them
//! with authentication disabled would measure a server nobody deploys: each
//! gets [`SIGNING_SECRET`], and the tool talks to it with a staff token the
//! server binary itself mints ([`staff_token`]).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, timeout};

use crate::api::Api;

/// How to start one server.
pub struct Launch<'a> {
    pub bin: &'a Path,
    pub database_url: &'a str,
    pub strategy: &'a str,
    pub port: u16,
    /// Extra environment (`--server-env`), e.g. `DB_POOL_SIZE`.
    pub env: &'a [(String, String)],
    /// Where the server's stdout and stderr go.
    pub log: &'a Path,
}

pub struct Server {
    child: Child,
    pid: u32,
    log: PathBuf,
}

/// How the server ended.
#[derive(Clone, Debug, Serialize)]
pub struct Stopped {
    /// It exited by itself after SIGTERM, within the grace period.
    pub graceful: bool,
    pub exit: String,
}

/// Variables the server reads that must come from the experiment, not from
/// whatever shell started it.
const OVERRIDDEN: [&str; 5] = [
    "USE_OPTIMISTIC_CC",
    "POSTGRES_DB",
    "POSTGRES_SCHEMA",
    "JWT_SECRET_FILE",
    "AUTH_DISABLED",
];

/// One random secret for every server this process starts: they are its
/// own, so nobody else needs the key, and it dies with the experiment.
static SIGNING_SECRET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
});

/// Longer than any experiment: the load must not start failing with 401.
const TOKEN_TTL: &str = "24h";

impl Server {
    pub fn start(launch: &Launch<'_>) -> anyhow::Result<Self> {
        let log = File::create(launch.log)
            .with_context(|| format!("creating {}", launch.log.display()))?;
        let log_err = log.try_clone().context("sharing the server log")?;
        let mut command = Command::new(launch.bin);
        command
            .arg("serve")
            .env("DATABASE_URL", launch.database_url)
            .env("CONCURRENCY_STRATEGY", launch.strategy)
            .env("HOST", "127.0.0.1")
            .env("PORT", launch.port.to_string())
            .env("RUST_LOG", "warn");
        scrub_env(&mut command);
        command
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C at the terminal reaches the
            // experiment, which then stops the server in order.
            .process_group(0)
            // A safety net for error paths; the normal path stops it below.
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", launch.bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        Ok(Self {
            child,
            pid,
            log: launch.log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Polls `GET /health/ready` until it answers 200, the server exits, or
    /// `within` passes. Returns how long it took.
    pub async fn wait_ready(&mut self, api: &Api, within: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().context("watching the server")? {
                bail!(
                    "the server exited ({status}) before it was ready (log {})\n{}",
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            if api.ready().await {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= within {
                bail!(
                    "the server was not ready within {within:?} (log {})\n{}",
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<Stopped> {
        if let Some(status) = self.child.try_wait().context("watching the server")? {
            return Ok(Stopped {
                graceful: false,
                exit: format!("had already exited: {status}"),
            });
        }
        let pid = i32::try_from(self.pid).context("server pid out of range")?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).context("sending SIGTERM to the server")?;
        match timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(Stopped {
                graceful: true,
                exit: status.context("waiting for the server")?.to_string(),
            }),
            Err(_) => {
                self.child.start_kill().context("killing the server")?;
                let status = self.child.wait().await.context("waiting for the server")?;
                Ok(Stopped {
                    graceful: false,
                    exit: format!("killed after {grace:?}: {status}"),
                })
            }
        }
    }
}

/// Runs `<bin> migrate` against `database_url`, bounded in time.
pub async fn migrate(bin: &Path, database_url: &str, log: &Path) -> anyhow::Result<()> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("sharing the migrate log")?;
    let mut command = Command::new(bin);
    command
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn");
    scrub_env(&mut command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} migrate", bin.display()))?;
    let status = match timeout(Duration::from_secs(60), child.wait()).await {
        Ok(status) => status.context("waiting for migrate")?,
        Err(_) => {
            child.start_kill().context("killing migrate")?;
            bail!("`{} migrate` took over a minute", bin.display());
        }
    };
    if !status.success() {
        bail!(
            "`{} migrate` failed ({status}):\n{}",
            bin.display(),
            log_tail(log)
        );
    }
    Ok(())
}

/// Removes what the shell may have set and gives the server its key.
fn scrub_env(command: &mut Command) {
    for name in OVERRIDDEN {
        command.env_remove(name);
    }
    command.env("JWT_SECRET", SIGNING_SECRET.as_str());
}

/// A staff token for the servers this process starts, minted by
/// `<bin> token`, so the tool needs no JWT code of its own.
pub async fn staff_token(bin: &Path) -> anyhow::Result<String> {
    let mut command = Command::new(bin);
    command.args([
        "token",
        "--role",
        "staff",
        "--subject",
        "experiment",
        "--ttl",
        TOKEN_TTL,
    ]);
    scrub_env(&mut command);
    let output = timeout(
        Duration::from_secs(30),
        command.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .context("`recordshop token` took over 30 s")?
    .with_context(|| format!("running {} token", bin.display()))?;
    if !output.status.success() {
        bail!(
            "`{} token` failed ({}): {}",
            bin.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let token = String::from_utf8(output.stdout).context("the token is not UTF-8")?;
    Ok(token.trim().to_owned())
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    lines[from..].join("\n")
}

/// The server's resident memory while it was sampled.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    pub peak_kib: u64,
    pub mean_kib: u64,
    pub samples: u64,
}

/// Samples `/proc/<pid>/status` every `every` until stopped.
pub struct MemorySampler {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Memory>,
}

impl MemorySampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let path = format!("/proc/{pid}/status");
            let (mut peak, mut total, mut samples) = (0, 0, 0);
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let Ok(status) = std::fs::read_to_string(&path) else {
                    break;
                };
                if let Some(rss) = status_kib(&status, "VmRSS") {
                    peak = peak.max(rss);
                    total += rss;
                    samples += 1;
                }
                // The kernel's own high-water mark catches peaks between samples.
                if let Some(hwm) = status_kib(&status, "VmHWM") {
                    peak = peak.max(hwm);
                }
            }
            Memory {
                peak_kib: peak,
                mean_kib: total.checked_div(samples).unwrap_or(0),
                samples,
            }
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> Memory {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// A `kB` field of `/proc/<pid>/status`, such as `VmRSS`.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_fields_of_proc_status() {
        let status = "Name:\trecordshop\nVmHWM:\t   30120 kB\nVmRSS:\t   24576 kB\nThreads:\t5\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(24_576));
        assert_eq!(status_kib(status, "VmHWM"), Some(30_120));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(status_kib(status, "Threads"), None);
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }

    #[tokio::test]
    async fn samples_its_own_memory() {
        let sampler = MemorySampler::start(std::process::id(), Duration::from_millis(5));
        sleep(Duration::from_millis(30)).await;
        let memory = sampler.finish().await;
        assert!(memory.samples >= 1);
        assert!(memory.peak_kib >= memory.mean_kib && memory.mean_kib > 0);
    }
}
