//! The `recordshop` server as a child process.
//!
//! A [`Launch`] says how to start one: which program (a built binary, or
//! `cargo run --release` for a person at a terminal), which database,
//! listen address, concurrency strategy, signing key, extra settings, where
//! its output goes. [`Launch::migrate`] applies the migrations and
//! [`Launch::start`] starts a [`Server`], which is waited for until ready,
//! stopped with SIGTERM (then SIGKILL after a grace period) or killed with
//! SIGKILL, sampled for memory, and killed if dropped still running.
//! Several servers run side by side, each on its own port.
//!
//! # Environment policy
//! Every variable the server reads ([`SERVER_SETTINGS`]) is removed from
//! the child's environment, then the launch's own are set, so nothing from
//! the shell that started the tool changes the server under test. The one
//! exception is [`Launch::inherit_shell_settings`] (`cargo xtask run`),
//! where the person's `CONCURRENCY_STRATEGY=batched cargo xtask run` is the
//! point; the launch's own settings still win there.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use recordshop_postgres::ConcurrencyStrategy;

use crate::memory::MemorySampler;
use crate::net;
use crate::postgres::DatabaseUrl;
use crate::process;
use crate::signing::SigningKey;

/// Every environment variable the server reads. The server crate's tests
/// check this list against its command line definition.
pub const SERVER_SETTINGS: &[&str] = &[
    "DATABASE_URL",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "POSTGRES_SCHEMA",
    "CONCURRENCY_STRATEGY",
    "USE_OPTIMISTIC_CC",
    "HOST",
    "PORT",
    "DB_POOL_SIZE",
    "DB_POOL_TIMEOUT_MS",
    "DB_STATEMENT_TIMEOUT_MS",
    "IDEMPOTENCY_KEY_TTL",
    "HTTP_WORKERS",
    "OPTIMISTIC_MAX_ATTEMPTS",
    "OPTIMISTIC_RETRY_BUDGET_MS",
    "BATCH_MAX_SIZE",
    "BATCH_MAX_WAIT_MS",
    "DATABASE_READ_URL",
    "READ_REPLICA_MAX_LAG_MS",
    "HYBRID_BUDGET_MS",
    "HYBRID_TRIP_AFTER",
    "HYBRID_OPEN_MS",
    "HYBRID_PROBES",
    "ADMISSION_LIMIT",
    "ADMISSION_QUEUE_MS",
    "JWT_SECRET",
    "JWT_SECRET_FILE",
    "AUTH_DISABLED",
    "METRICS_ADDR",
    "READ_CACHE",
    "READ_CACHE_TTL_MS",
    "EVENTS_AMQP_URL",
    "RUST_LOG",
];

/// The OpenTelemetry variables the server's trace export reads (through
/// the SDK, not its command line): cleared like the settings, and set with
/// [`Launch::setting`] too.
pub const TELEMETRY_SETTINGS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_SDK_DISABLED",
];

/// How long `recordshop migrate` of a built binary may take.
const MIGRATE_WITHIN: Duration = Duration::from_secs(60);
/// How long cargo or the server may take to end after Ctrl-C before it is
/// killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(30);

/// Which program runs the server.
#[derive(Clone, Debug)]
pub enum Program {
    /// A built `recordshop` binary.
    Binary(PathBuf),
    /// `cargo run --release -p recordshop` in the workspace at this root:
    /// built first if needed, then replaced by the binary, so a Ctrl-C at
    /// the terminal reaches the server itself.
    CargoRelease { root: PathBuf },
}

/// Where the server's output goes.
#[derive(Clone, Debug)]
enum Output {
    /// To the tool's own stdout and stderr.
    Inherit,
    /// Appended to this file (stdout and stderr both).
    File(PathBuf),
}

/// How to start one server; every start from one `Launch` (a restart after
/// a kill, say) starts the same server.
#[derive(Clone, Debug)]
pub struct Launch {
    program: Program,
    database: DatabaseUrl,
    host: String,
    port: u16,
    strategy: Option<ConcurrencyStrategy>,
    /// `None`: authentication disabled (`AUTH_DISABLED=true`).
    key: Option<SigningKey>,
    settings: Vec<(String, String)>,
    inherit_shell: bool,
    output: Output,
    log_filter: Option<String>,
    /// In the terminal's process group (gets its Ctrl-C) or a group of its
    /// own (stopped by the tool, in order).
    terminal_group: bool,
}

impl Launch {
    /// `program` on `database`, verifying tokens under `key`, on
    /// 127.0.0.1 and a free port, in a process group of its own, logging
    /// warnings and errors only, to the tool's output.
    ///
    /// # Errors
    /// When no free port can be found.
    pub fn new(program: Program, database: DatabaseUrl, key: SigningKey) -> anyhow::Result<Self> {
        Ok(Self {
            program,
            database,
            host: "127.0.0.1".to_owned(),
            port: net::free_port()?,
            strategy: None,
            key: Some(key),
            settings: Vec::new(),
            inherit_shell: false,
            output: Output::Inherit,
            log_filter: Some("warn".to_owned()),
            terminal_group: false,
        })
    }

    /// Listen on `host`:`port` instead.
    #[must_use]
    pub fn listen(self, host: &str, port: u16) -> Self {
        Self {
            host: host.to_owned(),
            port,
            ..self
        }
    }

    /// `CONCURRENCY_STRATEGY`.
    #[must_use]
    pub fn strategy(self, strategy: ConcurrencyStrategy) -> Self {
        Self {
            strategy: Some(strategy),
            ..self
        }
    }

    /// One more server setting, `DB_POOL_SIZE=16` say.
    ///
    /// # Errors
    /// When `name` is not a setting the server reads ([`SERVER_SETTINGS`],
    /// [`TELEMETRY_SETTINGS`]).
    pub fn setting(mut self, name: &str, value: &str) -> anyhow::Result<Self> {
        if !all_settings().any(|known| known == name) {
            bail!(
                "{name} is not a server setting; the server reads {}",
                all_settings().collect::<Vec<_>>().join(", ")
            );
        }
        self.settings.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Lets the shell's server settings through (see the module's
    /// documentation); the log filter then comes from the shell too.
    #[must_use]
    pub fn inherit_shell_settings(self) -> Self {
        Self {
            inherit_shell: true,
            log_filter: None,
            ..self
        }
    }

    /// Appends the server's output to `path`.
    #[must_use]
    pub fn log_to(self, path: &Path) -> Self {
        Self {
            output: Output::File(path.to_path_buf()),
            ..self
        }
    }

    /// `RUST_LOG`.
    #[must_use]
    pub fn log_filter(self, filter: &str) -> Self {
        Self {
            log_filter: Some(filter.to_owned()),
            ..self
        }
    }

    /// Serves `GET /metrics` on 127.0.0.1 and a free port of its own
    /// (`METRICS_ADDR`); see [`Launch::metrics_url`].
    ///
    /// # Errors
    /// When no free port can be found.
    pub fn with_metrics(self) -> anyhow::Result<Self> {
        let port = net::free_port()?;
        self.setting("METRICS_ADDR", &format!("127.0.0.1:{port}"))
    }

    /// Where its metrics are scraped, when [`Launch::with_metrics`] (or a
    /// `METRICS_ADDR` setting) asked for them.
    #[must_use]
    pub fn metrics_url(&self) -> Option<String> {
        self.settings
            .iter()
            .rev()
            .find(|(name, _)| name == "METRICS_ADDR")
            .and_then(|(_, address)| address.parse::<std::net::SocketAddr>().ok())
            .map(|address| format!("http://{address}/metrics"))
    }

    /// Runs in the terminal's process group, so its Ctrl-C reaches the
    /// server directly (`cargo xtask run`).
    #[must_use]
    pub fn in_terminal_group(self) -> Self {
        Self {
            terminal_group: true,
            ..self
        }
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: where a client on this machine reaches it.
    #[must_use]
    pub fn base_url(&self) -> String {
        net::http_base(&self.host, self.port)
    }

    /// The key tokens for this server are minted with; `None` when its
    /// authentication is disabled.
    #[must_use]
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.key.as_ref()
    }

    #[must_use]
    pub fn database(&self) -> &DatabaseUrl {
        &self.database
    }

    /// The log file, when the output goes to one.
    #[must_use]
    pub fn log_file(&self) -> Option<&Path> {
        match &self.output {
            Output::File(path) => Some(path),
            Output::Inherit => None,
        }
    }

    /// The server's `subcommand` (`serve`, `migrate`) with the environment
    /// the policy above gives it.
    ///
    /// # Errors
    /// When the log file cannot be opened.
    pub fn command(&self, subcommand: &str) -> anyhow::Result<Command> {
        let mut command = match &self.program {
            Program::Binary(path) => Command::new(path),
            Program::CargoRelease { root } => {
                let mut command =
                    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
                command.current_dir(root).args([
                    "run",
                    "--release",
                    "--quiet",
                    "-p",
                    "recordshop",
                    "--",
                ]);
                command
            }
        };
        command.arg(subcommand);
        if !self.inherit_shell {
            for name in all_settings() {
                command.env_remove(name);
            }
        }
        // Whatever the shell says, these are the launch's: the server must
        // be on this database, at this address, with this key.
        for name in [
            "DATABASE_URL",
            "HOST",
            "PORT",
            "JWT_SECRET",
            "JWT_SECRET_FILE",
        ] {
            command.env_remove(name);
        }
        command
            .env("DATABASE_URL", self.database.to_url())
            .env("HOST", &self.host)
            .env("PORT", self.port.to_string());
        match &self.key {
            Some(key) => {
                let (name, value) = key.server_setting();
                command.env(name, value).env("AUTH_DISABLED", "false");
            }
            None => {
                command.env("AUTH_DISABLED", "true");
            }
        }
        if let Some(strategy) = self.strategy {
            // Either switch alone decides; the launch's strategy wins.
            command
                .env_remove("USE_OPTIMISTIC_CC")
                .env("CONCURRENCY_STRATEGY", strategy.as_str());
        }
        if let Some(filter) = &self.log_filter {
            command.env("RUST_LOG", filter);
        }
        command.envs(self.settings.iter().map(|(name, value)| (name, value)));
        command.stdin(Stdio::null());
        if let Output::File(path) = &self.output {
            let log = open_log(path)?;
            let err = log.try_clone().context("sharing the server log")?;
            command.stdout(log).stderr(err);
        }
        if !self.terminal_group {
            command.process_group(0);
        }
        Ok(command)
    }

    /// `recordshop migrate`: applies pending migrations. A built binary
    /// gets a minute; `cargo run` gets as long as its build takes, and
    /// stops with the tool's Ctrl-C.
    ///
    /// # Errors
    /// When the migrations fail (with the log's end when there is one).
    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut child = self
            .command("migrate")?
            .spawn()
            .context("starting `recordshop migrate`")?;
        let status = match &self.program {
            Program::Binary(_) => match process::wait_within(&mut child, MIGRATE_WITHIN)? {
                Some(status) => status,
                None => bail!("`recordshop migrate` took over {MIGRATE_WITHIN:?}"),
            },
            Program::CargoRelease { .. } => process::wait(&mut child, INTERRUPT_GRACE)?,
        };
        if crate::interrupt::interrupted() {
            bail!("interrupted while migrating");
        }
        if !status.success() {
            bail!(
                "`recordshop migrate` failed ({status}){}",
                self.log_excerpt()
            );
        }
        Ok(())
    }

    /// Starts `recordshop serve`.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn start(&self) -> anyhow::Result<Server> {
        let child = self
            .command("serve")?
            .spawn()
            .context("starting `recordshop serve`")?;
        let probe = (net::client_host(&self.host), self.port);
        Ok(Server {
            child,
            probe,
            base_url: self.base_url(),
            log: self.log_file().map(Path::to_path_buf),
        })
    }

    fn log_excerpt(&self) -> String {
        self.log_file().map_or_else(String::new, |path| {
            format!(
                "; the end of {}:\n{}",
                path.display(),
                process::tail(path, 20)
            )
        })
    }
}

fn all_settings() -> impl Iterator<Item = &'static str> {
    SERVER_SETTINGS.iter().chain(TELEMETRY_SETTINGS).copied()
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// A running server. Dropped while still running, it is killed.
pub struct Server {
    child: Child,
    /// Host and port a client reaches it on.
    probe: (String, u16),
    base_url: String,
    log: Option<PathBuf>,
}

/// How a server ended after SIGTERM.
#[derive(Clone, Debug)]
pub struct Exit {
    pub status: ExitStatus,
    /// From the signal to the exit.
    pub took: Duration,
    /// SIGTERM was not enough within the grace period: it got SIGKILL.
    pub killed: bool,
}

impl Exit {
    /// It exited 0 by itself.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        !self.killed && self.status.success()
    }
}

impl Server {
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The end of its log, for failure messages (empty without a log file).
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        self.log
            .as_deref()
            .map_or_else(String::new, |path| process::tail(path, lines))
    }

    /// Whether `GET /health/ready` answers 200 right now (within about 3 s).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        health_ready(&self.probe.0, self.probe.1)
    }

    /// Waits until `GET /health/ready` answers 200; fails when the server
    /// exits, a Ctrl-C comes, or `within` passes. Returns how long it took.
    ///
    /// # Errors
    /// As above, with the end of the log.
    pub fn wait_ready(&mut self, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if let Some(elapsed) = self.readiness(started, within)? {
                return Ok(elapsed);
            }
            let probe = self.probe.clone();
            if health_ready(&probe.0, probe.1) {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`Server::wait_ready`] for async code: probes run off the runtime's
    /// threads.
    ///
    /// # Errors
    /// As [`Server::wait_ready`].
    pub async fn wait_ready_async(&mut self, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if let Some(elapsed) = self.readiness(started, within)? {
                return Ok(elapsed);
            }
            let (host, port) = self.probe.clone();
            let ready = tokio::task::spawn_blocking(move || health_ready(&host, port))
                .await
                .unwrap_or(false);
            if ready {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends a readiness wait that cannot succeed any more.
    fn readiness(
        &mut self,
        started: Instant,
        within: Duration,
    ) -> anyhow::Result<Option<Duration>> {
        if let Some(status) = self.child.try_wait().context("watching the server")? {
            bail!(
                "the server exited ({status}) before it was ready\n{}",
                self.log_tail(20)
            );
        }
        if crate::interrupt::interrupted() {
            bail!("interrupted while waiting for the server");
        }
        if started.elapsed() >= within {
            bail!(
                "the server was not ready within {within:?}\n{}",
                self.log_tail(20)
            );
        }
        Ok(None)
    }

    /// SIGTERM; SIGKILL if it has not exited after `grace`.
    ///
    /// # Errors
    /// When it had exited already, or cannot be signalled or waited for.
    pub fn terminate(mut self, grace: Duration) -> anyhow::Result<Exit> {
        let started = self.sigterm()?;
        let exited = process::wait_until(grace, Duration::from_millis(10), || {
            Ok(self.child.try_wait()?)
        })?;
        self.finish_termination(started, exited)
    }

    /// [`Server::terminate`] for async code.
    ///
    /// # Errors
    /// As [`Server::terminate`].
    pub async fn terminate_async(mut self, grace: Duration) -> anyhow::Result<Exit> {
        let started = self.sigterm()?;
        let exited = process::wait_until_async(grace, Duration::from_millis(10), || {
            Ok(self.child.try_wait()?)
        })
        .await?;
        self.finish_termination(started, exited)
    }

    fn sigterm(&mut self) -> anyhow::Result<Instant> {
        if let Some(status) = self.child.try_wait().context("watching the server")? {
            bail!("the server had already exited: {status}");
        }
        let started = Instant::now();
        process::signal(self.pid(), Signal::SIGTERM)?;
        Ok(started)
    }

    fn finish_termination(
        &mut self,
        started: Instant,
        exited: Option<ExitStatus>,
    ) -> anyhow::Result<Exit> {
        if let Some(status) = exited {
            return Ok(Exit {
                status,
                took: started.elapsed(),
                killed: false,
            });
        }
        self.child.kill().context("killing the server")?;
        let status = self.child.wait().context("waiting for the killed server")?;
        Ok(Exit {
            status,
            took: started.elapsed(),
            killed: true,
        })
    }

    /// SIGKILL, and waits for it to be gone.
    ///
    /// # Errors
    /// When it cannot be signalled or waited for.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill().context("sending SIGKILL to the server")?;
        self.child.wait().context("waiting for the killed server")?;
        Ok(())
    }

    /// Waits for a server in the terminal's group to end (with the person's
    /// Ctrl-C, usually); see [`process::wait`].
    ///
    /// # Errors
    /// When waiting fails.
    pub fn wait_for_exit(&mut self) -> anyhow::Result<ExitStatus> {
        process::wait(&mut self.child, INTERRUPT_GRACE)
    }

    /// How it ended, once it has; `None` while it runs. Does not wait.
    ///
    /// # Errors
    /// When it cannot be watched.
    pub fn exit_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child.try_wait().context("watching the server")
    }

    /// CPU time the server has used so far (see [`process::cpu_seconds`]).
    #[must_use]
    pub fn cpu_seconds(&self) -> Option<f64> {
        process::cpu_seconds(self.pid())
    }

    /// Samples its resident memory every `every` until the sampler is
    /// finished.
    #[must_use]
    pub fn sample_memory(&self, every: Duration) -> MemorySampler {
        MemorySampler::start(self.pid(), every)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `GET /health/ready` over a fresh connection: whether it answered 200.
fn health_ready(host: &str, port: u16) -> bool {
    net::http_status(host, port, "/health/ready") == Some(200)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn launch() -> Launch {
        Launch::new(
            Program::Binary(PathBuf::from("/bin/env")),
            DatabaseUrl::local(5432, "shop"),
            SigningKey::random(),
        )
        .unwrap()
    }

    fn environment(command: &Command) -> HashMap<String, Option<String>> {
        command
            .get_envs()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn every_server_setting_is_cleared_then_the_launchs_set() {
        let launch = launch()
            .strategy(ConcurrencyStrategy::Batched)
            .setting("DB_POOL_SIZE", "8")
            .unwrap();
        let env = environment(&launch.command("serve").unwrap());
        for name in SERVER_SETTINGS {
            assert!(env.contains_key(*name), "{name} is neither cleared nor set");
        }
        assert_eq!(env["CONCURRENCY_STRATEGY"].as_deref(), Some("batched"));
        assert_eq!(env["USE_OPTIMISTIC_CC"], None);
        assert_eq!(env["DB_POOL_SIZE"].as_deref(), Some("8"));
        assert_eq!(env["AUTH_DISABLED"].as_deref(), Some("false"));
        assert_eq!(env["RUST_LOG"].as_deref(), Some("warn"));
        assert_eq!(env["JWT_SECRET_FILE"], None);
        assert!(env["JWT_SECRET"].as_deref().is_some_and(|s| s.len() >= 32));
        assert_eq!(
            env["DATABASE_URL"].as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/shop")
        );
        assert_eq!(
            env["PORT"].as_deref(),
            Some(launch.port().to_string().as_str())
        );
    }

    #[test]
    fn inheriting_keeps_the_shells_settings_but_not_its_database_or_key() {
        let env = environment(&launch().inherit_shell_settings().command("serve").unwrap());
        assert!(!env.contains_key("CONCURRENCY_STRATEGY"));
        assert!(!env.contains_key("RUST_LOG"));
        assert!(env.contains_key("DATABASE_URL") && env.contains_key("JWT_SECRET"));
    }

    #[test]
    fn unknown_settings_are_refused() {
        assert!(launch().setting("DB_POOL_SIZ", "8").is_err());
    }

    #[test]
    fn nothing_is_ready_where_nothing_listens() {
        // Nothing listens on port 1.
        assert!(!health_ready("127.0.0.1", 1));
    }
}
