//! RabbitMQ brokers of our own: Debian's `rabbitmq-server` (3.10, Erlang)
//! run from a folder of ours on ports of ours, for the event relay's tests
//! and `cargo xtask run --broker`.
//!
//! Nothing here touches the system's broker or its epmd on 4369: each
//! broker gets an epmd of its own on a free port (started by us, the VM
//! told not to start one), its node name, cookie (`HOME`), configuration,
//! database and logs in its folder, and listens on 127.0.0.1 only (AMQP
//! and Erlang distribution alike), with no plugins.
//!
//! `RABBITMQ_ALLOW_INPUT` makes the start script `exec` into the Erlang VM,
//! so the PID we hold is the broker's and SIGTERM stops it (in 1–3 s). The
//! VM reads our pipe as its stdin and halts when it closes, so even a tool
//! killed with SIGKILL does not leave a broker running; its epmd is swept
//! up by the next scratch broker. Both run in a process group of their
//! own, so a Ctrl-C at the terminal reaches the tool, which stops them in
//! order.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use crate::process::NotReady;
use crate::scratch::ScratchFolders;
use crate::{net, packages, process, say};

/// Where Debian's package puts the start script (the one in /usr/sbin
/// switches to the `rabbitmq` user and needs the package's service setup).
const SERVER_SCRIPT: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// One epmd per broker, so the node name can be the same everywhere.
const NODE_NAME: &str = "recordshop@localhost";
/// Measured: ready in about 4 s on 2 cores; generous for a loaded CI host.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Measured: a SIGTERM stops it in 1–3 s.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Scratch brokers are named `<prefix><owner pid>-<nonce>`.
const FOLDERS: ScratchFolders = ScratchFolders {
    prefix: "recordshop-broker-",
};
/// The epmd's pid, for sweeping up after a killed run.
const EPMD_PID_FILE: &str = "epmd.pid";
/// The AMQP 0-9-1 protocol header a client opens with.
const AMQP_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";

/// A broker started from `folder`: stopped (VM, then its epmd) when this
/// value drops, on success, on error and after Ctrl-C alike; a scratch
/// broker's folder is removed too.
pub struct Broker {
    folder: PathBuf,
    amqp_port: u16,
    dist_port: u16,
    epmd_port: u16,
    epmd: Option<Child>,
    node: Option<Node>,
    scratch: bool,
}

/// The running VM and the write end of its stdin: dropping it halts the VM.
struct Node {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Broker {
    /// Starts a broker keeping its data in `folder` (created when missing,
    /// kept afterwards) with AMQP on 127.0.0.1:`amqp_port`, and waits until
    /// it accepts AMQP connections. Installs `rabbitmq-server` first where
    /// that is allowed ([`packages::can_install`]).
    ///
    /// # Errors
    /// When RabbitMQ is missing, the port is taken, or it does not become
    /// ready within a minute (the message ends with its log).
    pub fn start(folder: &Path, amqp_port: u16) -> anyhow::Result<Self> {
        if !net::port_is_free(amqp_port) {
            bail!("port {amqp_port} on 127.0.0.1 is taken by another program");
        }
        Self::start_in(folder.to_path_buf(), amqp_port, false)
    }

    /// A broker in a fresh folder on free ports, removed when it drops:
    /// for tests. Sweeps up what killed runs left first.
    ///
    /// # Errors
    /// As [`Broker::start`].
    pub fn scratch() -> anyhow::Result<Self> {
        let root = std::env::temp_dir();
        remove_leftovers(&root);
        let folder = FOLDERS.create(&root)?;
        let started = Self::start_in(folder.clone(), net::free_port()?, true);
        if started.is_err() {
            let _ = fs::remove_dir_all(&folder);
        }
        started
    }

    fn start_in(folder: PathBuf, amqp_port: u16, scratch: bool) -> anyhow::Result<Self> {
        let server = find_or_install()?;
        kill_stale_epmd(&folder);
        write_configuration(&folder, amqp_port)?;
        let mut broker = Self {
            folder,
            amqp_port,
            dist_port: net::free_port()?,
            epmd_port: net::free_port()?,
            epmd: None,
            node: None,
            scratch,
        };
        broker.start_epmd()?;
        broker.start_node(&server)?;
        Ok(broker)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`: RabbitMQ's default user,
    /// which may connect from loopback only, and the default vhost.
    #[must_use]
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port)
    }

    #[must_use]
    pub fn amqp_port(&self) -> u16 {
        self.amqp_port
    }

    #[must_use]
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The broker's own log (the console output is in `console.log`).
    #[must_use]
    pub fn log_file(&self) -> PathBuf {
        self.folder.join("log").join(format!("{NODE_NAME}.log"))
    }

    /// The Erlang VM's pid, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.node.as_ref().map(|node| node.child.id())
    }

    /// Whether the VM runs.
    pub fn is_running(&mut self) -> bool {
        self.node
            .as_mut()
            .is_some_and(|node| matches!(node.child.try_wait(), Ok(None)))
    }

    /// One line for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "RabbitMQ on 127.0.0.1:{} (epmd {}, distribution {}), data in {}",
            self.amqp_port,
            self.epmd_port,
            self.dist_port,
            self.folder.display()
        )
    }

    /// Stops the VM: SIGTERM, then SIGKILL when it is still running after
    /// 20 s. Its epmd keeps running for a [`Broker::restart`]. Durable
    /// queues and persistent messages stay in the folder.
    ///
    /// # Errors
    /// When it cannot be signalled or waited for.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut node) = self.node.take() else {
            return Ok(());
        };
        stop_child(&mut node.child, STOP_GRACE).context("stopping RabbitMQ")
    }

    /// SIGKILL to the VM, as a crash would: what it had not written to disk
    /// is lost.
    ///
    /// # Errors
    /// When it cannot be killed or waited for.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut node) = self.node.take() else {
            return Ok(());
        };
        stop_child(&mut node.child, Duration::ZERO).context("killing RabbitMQ")
    }

    /// Starts the VM again on the same folder and ports (after
    /// [`Broker::stop`] or [`Broker::kill`]; stops it first if it runs), and
    /// waits until it is ready.
    ///
    /// # Errors
    /// As [`Broker::start`].
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        let server = find_or_install()?;
        if !self.epmd.as_mut().is_some_and(is_alive) {
            self.start_epmd()?;
        }
        self.start_node(&server)
    }

    fn start_epmd(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(epmd_program());
        command
            .args([
                "-port",
                &self.epmd_port.to_string(),
                "-address",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting `{}`", process::display(&command)))?;
        let pid = child.id();
        self.epmd = Some(child);
        fs::write(self.folder.join(EPMD_PID_FILE), format!("{pid}\n"))
            .context("writing epmd's pid file")?;
        let address = SocketAddr::from(([127, 0, 0, 1], self.epmd_port));
        let epmd = self.epmd.as_mut();
        let listening = process::wait_until(READY_WITHIN, Duration::from_millis(20), || {
            Ok(TcpStream::connect_timeout(&address, Duration::from_secs(1))
                .is_ok()
                .then_some(()))
        })?;
        if listening.is_none() || !epmd.is_some_and(is_alive) {
            bail!("epmd did not listen on 127.0.0.1:{}", self.epmd_port);
        }
        Ok(())
    }

    fn start_node(&mut self, server: &Path) -> anyhow::Result<()> {
        let console = self.folder.join("console.log");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console)
            .with_context(|| format!("opening {}", console.display()))?;
        let err = out.try_clone().context("sharing the console log")?;
        let mut command = self.command(server);
        command
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {server:?}"))?;
        let stdin = child.stdin.take();
        self.node = Some(Node {
            child,
            _stdin: stdin,
        });
        self.wait_ready()
    }

    /// The start script with the environment that keeps everything in the
    /// folder and on our ports (see the module's documentation).
    fn command(&self, server: &Path) -> Command {
        let folder = &self.folder;
        let mut command = Command::new(server);
        command
            .current_dir(folder)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("HOME", folder)
            .env("RABBITMQ_CONF_ENV_FILE", folder.join("rabbitmq-env.conf"))
            // The script appends `.conf`.
            .env("RABBITMQ_CONFIG_FILE", folder.join("rabbitmq"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                folder.join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", folder.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", folder.join("log"))
            .env("RABBITMQ_NODENAME", NODE_NAME)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("RABBITMQ_ALLOW_INPUT", "1");
        command
    }

    /// Until an AMQP handshake gets the broker's `Connection.Start`: the
    /// listener opens only once the broker has booted.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let port = self.amqp_port;
        let Some(node) = self.node.as_mut() else {
            bail!("RabbitMQ is not running");
        };
        let waited = process::wait_ready(
            &mut node.child,
            "RabbitMQ",
            READY_WITHIN,
            Duration::from_millis(100),
            || amqp_answers(port),
        )?;
        match waited {
            Ok(()) => Ok(()),
            Err(NotReady::Exited(status)) => {
                self.node = None;
                bail!(
                    "RabbitMQ exited ({status}) before it was ready; the end of {}:\n{}\n{}",
                    self.log_file().display(),
                    process::tail(&self.log_file(), 15),
                    process::tail(&self.folder.join("console.log"), 10)
                );
            }
            Err(NotReady::TimedOut) => {
                let tail = process::tail(&self.log_file(), 15);
                let _ = self.kill();
                bail!(
                    "RabbitMQ was not ready within {READY_WITHIN:?}; the end of {}:\n{tail}",
                    self.log_file().display()
                );
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            say!("warning: {error:#}");
        }
        if let Some(mut epmd) = self.epmd.take()
            && let Err(error) = stop_child(&mut epmd, Duration::from_secs(2))
        {
            say!("warning: stopping epmd: {error:#}");
        }
        let _ = fs::remove_file(self.folder.join(EPMD_PID_FILE));
        if self.scratch {
            match fs::remove_dir_all(&self.folder) {
                Ok(()) => say!("stopped and removed the scratch broker"),
                Err(error) => say!(
                    "warning: could not remove {}: {error}",
                    self.folder.display()
                ),
            }
        }
    }
}

/// SIGTERM, a bounded wait, then SIGKILL to its group (the VM's port
/// programs with it); a zero `grace` kills at once.
fn stop_child(child: &mut Child, grace: Duration) -> anyhow::Result<()> {
    process::stop_group(child, Signal::SIGTERM, grace).map(drop)
}

fn is_alive(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

/// Whether 127.0.0.1:`port` answers the AMQP protocol header with a method
/// frame (type 1: `Connection.Start`).
fn amqp_answers(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut frame_type = [0_u8; 1];
    stream.write_all(AMQP_HEADER).is_ok()
        && stream.read_exact(&mut frame_type).is_ok()
        && frame_type[0] == 1
}

/// The files the environment names: listeners on loopback, no plugins, no
/// `rabbitmq-env.conf` settings (it must exist, or the system's is read).
fn write_configuration(folder: &Path, amqp_port: u16) -> anyhow::Result<()> {
    for dir in [
        folder.to_path_buf(),
        folder.join("mnesia"),
        folder.join("log"),
    ] {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let files = [
        ("rabbitmq-env.conf", String::new()),
        ("enabled_plugins", "[].\n".to_owned()),
        ("rabbitmq.conf", configuration(amqp_port)),
    ];
    for (name, text) in files {
        let path = folder.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn configuration(amqp_port: u16) -> String {
    format!(
        "# Written by the record shop's harness at every start.\n\
         listeners.tcp.default = 127.0.0.1:{amqp_port}\n"
    )
}

/// The start script, installed with apt-get where that is allowed.
fn find_or_install() -> anyhow::Result<PathBuf> {
    let script = PathBuf::from(SERVER_SCRIPT);
    if script.is_file() {
        return Ok(script);
    }
    if !packages::can_install()? {
        bail!(
            "RabbitMQ is missing ({SERVER_SCRIPT}); install it with `apt-get install rabbitmq-server` \
             (as root the tools do that themselves)"
        );
    }
    say!("RabbitMQ is missing; installing rabbitmq-server with apt-get");
    packages::install(&["rabbitmq-server"])?;
    if !script.is_file() {
        bail!("rabbitmq-server was installed, but {SERVER_SCRIPT} is still missing");
    }
    Ok(script)
}

/// `epmd` from the PATH, or Erlang's own copy.
fn epmd_program() -> PathBuf {
    let in_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("epmd"))
            .find(|candidate| candidate.is_file())
    });
    in_path.unwrap_or_else(|| PathBuf::from("/usr/lib/erlang/bin/epmd"))
}

/// Scratch brokers of runs that were killed before they could clean up:
/// their VM halted with its stdin, so only the epmd (when its pid file
/// still names an epmd) and the folder are left.
fn remove_leftovers(root: &Path) {
    for folder in FOLDERS.left_by_killed_runs(root) {
        say!(
            "removing a scratch broker left by a killed run: {}",
            folder.display()
        );
        kill_stale_epmd(&folder);
        let _ = fs::remove_dir_all(&folder);
    }
}

/// The epmd a killed run left for `folder` (its VM halted with its
/// stdin), if the pid file still names an epmd.
fn kill_stale_epmd(folder: &Path) {
    if let Some(pid) = process::left_running(&folder.join(EPMD_PID_FILE), "epmd") {
        say!(
            "stopping the epmd (pid {pid}) a killed run left in {}",
            folder.display()
        );
        let _ = process::signal(pid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_loopback_only() {
        assert!(configuration(56720).contains("listeners.tcp.default = 127.0.0.1:56720\n"));
    }

    #[test]
    fn nothing_answers_amqp_on_a_free_port() {
        assert!(!amqp_answers(net::free_port().unwrap()));
    }

    /// The real thing: started, answering, stopped, restarted with its
    /// durable data, and nothing left behind.
    #[test]
    fn a_scratch_broker_starts_restarts_and_leaves_nothing() {
        let mut broker = Broker::scratch().unwrap();
        let folder = broker.folder().to_path_buf();
        assert!(amqp_answers(broker.amqp_port()));
        let first = broker.pid().unwrap();
        broker.stop().unwrap();
        assert!(!broker.is_running());
        assert!(!amqp_answers(broker.amqp_port()));
        broker.restart().unwrap();
        assert!(amqp_answers(broker.amqp_port()));
        assert_ne!(broker.pid(), Some(first));
        let pid = broker.pid().unwrap();
        drop(broker);
        assert!(!process::is_alive(pid));
        assert!(!folder.exists());
    }
}
