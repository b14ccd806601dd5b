//! Redis servers of our own: `redis-server` on a free loopback port,
//! nothing persisted, stopped by its PID when dropped. Installed from
//! Debian's `redis-server` package where that is allowed (see
//! [`crate::packages`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use crate::{net, packages, process, say};

const READY_WITHIN: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers `PING`.
    ///
    /// # Errors
    /// When Redis is missing and cannot be installed, or does not answer.
    pub fn start() -> anyhow::Result<Self> {
        let binary = find_or_install()?;
        let port = net::free_port()?;
        let child = Command::new(&binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            // A cache: nothing to keep, nothing to write.
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let server = Self { child, port };
        let answered = process::wait_until(READY_WITHIN, Duration::from_millis(50), || {
            Ok(pong(port).then_some(()))
        })?;
        if answered.is_none() {
            bail!("redis-server on port {port} did not answer PING within {READY_WITHIN:?}");
        }
        say!("started redis-server on 127.0.0.1:{port} (stopped afterwards)");
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if process::signal(self.child.id(), Signal::SIGTERM).is_ok() {
            let _ = process::wait(&mut self.child, STOP_GRACE);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

fn find_or_install() -> anyhow::Result<PathBuf> {
    if let Some(found) = find() {
        return Ok(found);
    }
    if !packages::can_install()? {
        bail!("redis-server is not installed (apt-get install redis-server)");
    }
    packages::install(&["redis-server"])?;
    find().context("redis-server is still missing after installing its package")
}

fn find() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}
