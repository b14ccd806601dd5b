//! Configuration: every setting read once at start from its environment
//! variable (or the matching flag), validated, and refused with a message
//! naming the variable and what it accepts.
//!
//! # Authentication: secure by default
//! The server signs and verifies bearer tokens with one secret of at least
//! 32 bytes, from `JWT_SECRET` or from the file `JWT_SECRET_FILE` names
//! (its trailing newline dropped; the file keeps the secret out of the
//! process environment and of `ps`). Without a secret the server refuses
//! to start (exit 2), unless `AUTH_DISABLED=true` says explicitly to run
//! with every caller treated as staff — for local experiments only; the
//! server then warns at start and `/health` reports `"auth": "disabled"`.
//! A secret together with `AUTH_DISABLED=true`, or both `JWT_SECRET` and
//! `JWT_SECRET_FILE`, is a contradiction and refused too. An empty variable
//! counts as unset, as compose files often leave them.

use std::fmt;
use std::num::NonZero;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use recordshop_auth::TokenKeys;
use recordshop_domain::RetryPolicy;
use recordshop_http::Authenticator;
use recordshop_postgres::{
    BatchSettings, ConcurrencyStrategy, DatabaseTimeouts, IdempotencySettings, PoolSettings,
};
use tokio_postgres::config::Host;

/// The command line: an optional subcommand and the settings.
#[derive(Parser)]
#[command(
    name = "recordshop",
    version,
    about = "The record shop's order service"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Every setting, from the environment or flags.
    #[command(flatten)]
    pub settings: Settings,
}

/// The operations the binary performs.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP until SIGINT or SIGTERM.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print a bearer token signed with JWT_SECRET / JWT_SECRET_FILE, and
    /// nothing else: `TOKEN=$(recordshop token --role staff)`. Needs no
    /// database.
    Token(crate::token::TokenArgs),
}

/// The settings as read, before the checks that involve several of them.
/// Each value parser's message says what the setting accepts; clap prefixes
/// it with the setting's name, which is its environment variable.
#[derive(Args)]
pub struct Settings {
    /// postgres://user:password@host:port/database; wins over POSTGRES_*.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[arg(
        long,
        env = "POSTGRES_HOST",
        value_name = "POSTGRES_HOST",
        default_value = "localhost",
        global = true
    )]
    postgres_host: String,
    #[arg(long, env = "POSTGRES_PORT", value_name = "POSTGRES_PORT", default_value = "5432", value_parser = port, global = true)]
    postgres_port: u16,
    #[arg(
        long,
        env = "POSTGRES_USER",
        value_name = "POSTGRES_USER",
        default_value = "postgres",
        global = true
    )]
    postgres_user: String,
    #[arg(
        long,
        env = "POSTGRES_PASSWORD",
        value_name = "POSTGRES_PASSWORD",
        default_value = "postgres",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    postgres_password: String,
    #[arg(
        long,
        env = "POSTGRES_DB",
        value_name = "POSTGRES_DB",
        default_value = "postgres",
        global = true
    )]
    postgres_db: String,
    /// Schema put first on the search path; PostgreSQL's default (public) when unset.
    #[arg(
        long,
        env = "POSTGRES_SCHEMA",
        value_name = "POSTGRES_SCHEMA",
        global = true
    )]
    postgres_schema: Option<String>,
    /// pessimistic (default), optimistic, atomic or batched.
    #[arg(long, env = "CONCURRENCY_STRATEGY", value_name = "CONCURRENCY_STRATEGY", value_parser = ConcurrencyStrategy::from_str, global = true)]
    concurrency_strategy: Option<ConcurrencyStrategy>,
    /// true means CONCURRENCY_STRATEGY=optimistic (the original service's switch).
    #[arg(long, env = "USE_OPTIMISTIC_CC", value_name = "USE_OPTIMISTIC_CC", value_parser = boolean, global = true)]
    use_optimistic_cc: Option<bool>,
    #[arg(
        long,
        env = "HOST",
        value_name = "HOST",
        default_value = "127.0.0.1",
        global = true
    )]
    host: String,
    /// 0 picks a free port.
    #[arg(long, env = "PORT", value_name = "PORT", default_value = "8080", value_parser = port, global = true)]
    port: u16,
    #[arg(long, env = "DB_POOL_SIZE", value_name = "DB_POOL_SIZE", default_value = "16", value_parser = at_least_one::<usize>, global = true)]
    db_pool_size: usize,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "DB_POOL_TIMEOUT_MS", value_name = "DB_POOL_TIMEOUT_MS", default_value = "2000", value_parser = at_least_one::<u64>, global = true)]
    db_pool_timeout_ms: u64,
    /// PostgreSQL cancels a statement (lock waits included) running longer
    /// and the request answers 503 `unavailable`; 0 disables the limit.
    #[arg(
        long,
        env = "DB_STATEMENT_TIMEOUT_MS",
        value_name = "DB_STATEMENT_TIMEOUT_MS",
        default_value = "5000",
        global = true
    )]
    db_statement_timeout_ms: u64,
    /// How long an Idempotency-Key answers with its first request's result
    /// (then it is purged and free again), e.g. 24h, 90m.
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL", value_name = "IDEMPOTENCY_KEY_TTL", default_value = "24h", value_parser = positive_duration, global = true)]
    idempotency_key_ttl: Duration,
    /// Actix workers; one per available CPU when unset.
    #[arg(long, env = "HTTP_WORKERS", value_name = "HTTP_WORKERS", value_parser = at_least_one::<usize>, global = true)]
    http_workers: Option<usize>,
    /// Attempts at a unit of work that keeps conflicting, the first included.
    #[arg(long, env = "OPTIMISTIC_MAX_ATTEMPTS", value_name = "OPTIMISTIC_MAX_ATTEMPTS", default_value_t = RetryPolicy::default().max_attempts, value_parser = at_least_one::<u32>, global = true)]
    optimistic_max_attempts: u32,
    /// No retry starts after this long since the first attempt.
    #[arg(long, env = "OPTIMISTIC_RETRY_BUDGET_MS", value_name = "OPTIMISTIC_RETRY_BUDGET_MS", default_value = "2000", value_parser = at_least_one::<u64>, global = true)]
    optimistic_retry_budget_ms: u64,
    /// Batched strategy: purchases at most in one transaction.
    #[arg(long, env = "BATCH_MAX_SIZE", value_name = "BATCH_MAX_SIZE", default_value_t = BatchSettings::default().max_batch, value_parser = at_least_one::<usize>, global = true)]
    batch_max_size: usize,
    /// Batched strategy: the longest a purchase of a busy disc waits for
    /// others to join its batch; 0 is pure group commit.
    #[arg(long, env = "BATCH_MAX_WAIT_MS", value_name = "BATCH_MAX_WAIT_MS", default_value_t = default_batch_wait_ms(), global = true)]
    batch_max_wait_ms: u64,
    /// The secret tokens are signed with, at least 32 bytes. Prefer
    /// JWT_SECRET_FILE: a flag shows in `ps`.
    #[arg(
        long,
        env = "JWT_SECRET",
        value_name = "JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    jwt_secret: Option<String>,
    /// A file holding the signing secret (trailing newline ignored).
    #[arg(
        long,
        env = "JWT_SECRET_FILE",
        value_name = "JWT_SECRET_FILE",
        global = true
    )]
    jwt_secret_file: Option<std::path::PathBuf>,
    /// true: no authentication, every caller is staff. Local experiments only.
    #[arg(long, env = "AUTH_DISABLED", value_name = "AUTH_DISABLED", default_value = "false", value_parser = boolean, action = clap::ArgAction::Set, global = true)]
    auth_disabled: bool,
    /// Log filter, e.g. `info` or `recordshop_http=debug,info`.
    #[arg(
        long,
        env = "RUST_LOG",
        value_name = "RUST_LOG",
        default_value = "info",
        global = true
    )]
    rust_log: String,
}

fn port(raw: &str) -> Result<u16, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected a port number from 0 to 65535".to_owned())
}

fn at_least_one<T: FromStr + PartialOrd + From<u8>>(raw: &str) -> Result<T, String> {
    match raw.trim().parse::<T>() {
        Ok(value) if value >= T::from(1) => Ok(value),
        _ => Err("expected a whole number of at least 1".to_owned()),
    }
}

fn positive_duration(raw: &str) -> Result<Duration, String> {
    match humantime::parse_duration(raw.trim()) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err("expected a positive duration such as 24h, 90m or 3600s".to_owned()),
    }
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn default_batch_wait_ms() -> u64 {
    u64::try_from(BatchSettings::default().max_wait.as_millis()).unwrap_or(u64::MAX)
}

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    /// Where the database is, with the schema on the search path.
    pub database: tokio_postgres::Config,
    /// How purchases and restocks are kept safe under concurrency.
    pub strategy: ConcurrencyStrategy,
    /// Retries of units of work the database aborted for contention.
    pub retry: RetryPolicy,
    /// Bounds of the batched strategy's batches.
    pub batching: BatchSettings,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Connection pool size and wait.
    pub pool: PoolSettings,
    /// Limits on statements, idle transactions and connecting.
    pub database_timeouts: DatabaseTimeouts,
    /// How long idempotency keys are remembered.
    pub idempotency: IdempotencySettings,
    /// Actix worker threads.
    pub http_workers: usize,
    /// The tracing filter.
    pub log_filter: String,
    /// How callers are authenticated: tokens under the configured secret,
    /// or (`AUTH_DISABLED=true`) not at all.
    pub auth: Authenticator,
}

impl Config {
    /// Parses `args` (the program name first) and the process environment.
    ///
    /// # Errors
    /// Clap's error for a malformed value or unknown flag, or the message of
    /// [`Config::from_settings`].
    pub fn parse_from<I, T>(args: I) -> anyhow::Result<(Command, Self)>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        let config = Self::from_settings(cli.settings)?;
        Ok((cli.command.unwrap_or(Command::Serve), config))
    }

    /// Checks what involves several settings and builds the configuration.
    ///
    /// # Errors
    /// When `DATABASE_URL` is not a PostgreSQL URL, `POSTGRES_SCHEMA` is not
    /// a plain identifier, `RUST_LOG` is not a filter,
    /// `USE_OPTIMISTIC_CC` contradicts `CONCURRENCY_STRATEGY`, or the
    /// authentication settings are missing or contradict each other (see
    /// the module's documentation).
    pub fn from_settings(settings: Settings) -> anyhow::Result<Self> {
        let auth = match (settings.signing_key()?, settings.auth_disabled) {
            (Some(keys), false) => Authenticator::Enabled(keys),
            (None, true) => Authenticator::Disabled,
            (Some(_), true) => bail!(
                "AUTH_DISABLED=true contradicts the signing key in JWT_SECRET / JWT_SECRET_FILE; \
                 unset one of them"
            ),
            (None, false) => bail!(
                "no signing key for bearer tokens: set JWT_SECRET or JWT_SECRET_FILE (a secret of \
                 at least 32 bytes, e.g. `openssl rand -hex 32`), or AUTH_DISABLED=true to run \
                 without authentication (every caller is staff; local experiments only)"
            ),
        };
        let strategy = strategy(settings.concurrency_strategy, settings.use_optimistic_cc)?;
        let database = database(&settings)?;
        tracing_subscriber::EnvFilter::try_new(&settings.rust_log).with_context(|| {
            format!(
                "RUST_LOG {:?} is not a log filter (e.g. info, or recordshop_http=debug,info)",
                settings.rust_log
            )
        })?;
        let defaults = RetryPolicy::default();
        let http_workers = settings
            .http_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZero::get));
        Ok(Self {
            database,
            strategy,
            retry: RetryPolicy {
                max_attempts: settings.optimistic_max_attempts,
                budget: Duration::from_millis(settings.optimistic_retry_budget_ms),
                ..defaults
            },
            batching: BatchSettings {
                max_batch: settings.batch_max_size,
                max_wait: Duration::from_millis(settings.batch_max_wait_ms),
            },
            host: settings.host,
            port: settings.port,
            pool: PoolSettings {
                max_size: settings.db_pool_size,
                wait_timeout: Duration::from_millis(settings.db_pool_timeout_ms),
            },
            database_timeouts: DatabaseTimeouts {
                statement: Duration::from_millis(settings.db_statement_timeout_ms),
                ..DatabaseTimeouts::default()
            },
            idempotency: IdempotencySettings {
                ttl: settings.idempotency_key_ttl,
            },
            http_workers,
            log_filter: settings.rust_log,
            auth,
        })
    }
}

impl Settings {
    /// The signing keys from `JWT_SECRET` or `JWT_SECRET_FILE`; `None`
    /// when neither is set (an empty variable counts as unset).
    ///
    /// # Errors
    /// When both are set, the file cannot be read, or the secret is under
    /// 32 bytes; each message names the variable.
    pub fn signing_key(&self) -> anyhow::Result<Option<TokenKeys>> {
        let secret = self.jwt_secret.as_deref().filter(|s| !s.is_empty());
        let file = self
            .jwt_secret_file
            .as_deref()
            .filter(|path| !path.as_os_str().is_empty());
        let (variable, secret) = match (secret, file) {
            (Some(_), Some(_)) => {
                bail!("JWT_SECRET and JWT_SECRET_FILE are both set; set only one of them")
            }
            (None, None) => return Ok(None),
            (Some(secret), None) => ("JWT_SECRET", secret.as_bytes().to_vec()),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path)
                    .with_context(|| format!("JWT_SECRET_FILE: cannot read {}", path.display()))?;
                // Editors and `echo` end files with a newline that nobody
                // means as part of the secret.
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                ("JWT_SECRET_FILE", bytes)
            }
        };
        TokenKeys::from_secret(&secret)
            .map(Some)
            .with_context(|| format!("{variable} is not a usable signing key"))
    }
}

/// `USE_OPTIMISTIC_CC` is the original service's switch; it may accompany
/// `CONCURRENCY_STRATEGY` only when both say the same.
fn strategy(
    named: Option<ConcurrencyStrategy>,
    use_optimistic: Option<bool>,
) -> anyhow::Result<ConcurrencyStrategy> {
    use ConcurrencyStrategy::{Optimistic, Pessimistic};
    match (named, use_optimistic) {
        (Some(named), Some(true)) if named != Optimistic => {
            bail!(
                "CONCURRENCY_STRATEGY={named} contradicts USE_OPTIMISTIC_CC=true; set only one of them"
            )
        }
        (Some(Optimistic), Some(false)) => {
            bail!(
                "CONCURRENCY_STRATEGY=optimistic contradicts USE_OPTIMISTIC_CC=false; set only one of them"
            )
        }
        (Some(named), _) => Ok(named),
        (None, Some(true)) => Ok(Optimistic),
        (None, _) => Ok(Pessimistic),
    }
}

fn database(settings: &Settings) -> anyhow::Result<tokio_postgres::Config> {
    // An empty variable (common in compose files) counts as unset.
    let url = settings
        .database_url
        .as_deref()
        .filter(|url| !url.trim().is_empty());
    let mut config = if let Some(url) = url {
        // The parser's messages name options, never values: the URL holds
        // the password.
        url.trim().parse::<tokio_postgres::Config>().map_err(|error| {
            anyhow::anyhow!(
                "DATABASE_URL is not a PostgreSQL URL like postgres://user:password@host:5432/database ({error})"
            )
        })?
    } else {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&settings.postgres_host)
            .port(settings.postgres_port)
            .user(&settings.postgres_user)
            .password(&settings.postgres_password)
            .dbname(&settings.postgres_db);
        config
    };
    let schema = settings
        .postgres_schema
        .as_deref()
        .map(str::trim)
        .filter(|schema| !schema.is_empty());
    if let Some(schema) = schema {
        if !is_identifier(schema) {
            bail!(
                "POSTGRES_SCHEMA {schema:?} is not a plain identifier \
                 (letters, digits and _, not starting with a digit, at most 63)"
            );
        }
        let search_path = format!("-c search_path={schema}");
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {search_path}"),
            _ => search_path,
        };
        config.options(options);
    }
    if config.get_application_name().is_none() {
        config.application_name("recordshop");
    }
    Ok(config)
}

/// Only plain identifiers reach the connection's options string, where a
/// space would start another option.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Never prints the password: it shows where the database is and how the
/// server will run, for the start-up log.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &DatabaseSummary(&self.database))
            .field("strategy", &self.strategy.as_str())
            .field("retry", &self.retry)
            .field("batching", &self.batching)
            .field("listen", &format_args!("{}:{}", self.host, self.port))
            .field("pool", &self.pool)
            .field("database_timeouts", &self.database_timeouts)
            .field("idempotency", &self.idempotency)
            .field("http_workers", &self.http_workers)
            .field("log_filter", &self.log_filter)
            .field(
                "auth",
                &match self.auth {
                    // The keys' own Debug redacts the secret; this is shorter.
                    Authenticator::Enabled(_) => "enabled (HS256, secret <redacted>)",
                    Authenticator::Disabled => "DISABLED (every caller is staff)",
                },
            )
            .finish()
    }
}

struct DatabaseSummary<'a>(&'a tokio_postgres::Config);

impl fmt::Debug for DatabaseSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.0;
        let user = config.get_user().unwrap_or("");
        let password = if config.get_password().is_some() {
            ":<redacted>"
        } else {
            ""
        };
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|host| match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        write!(
            f,
            "\"postgres://{user}{password}@{}:{}/{}\"",
            hosts.join(","),
            ports.join(","),
            config.get_dbname().unwrap_or("")
        )?;
        if let Some(options) = config.get_options() {
            write!(f, " options={options:?}")?;
        }
        Ok(())
    }
}
