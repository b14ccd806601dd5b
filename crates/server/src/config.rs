//! Configuration: every setting read once at start from its environment
//! variable (or the matching flag), validated, and refused with a message
//! naming the variable and what it accepts.

use std::fmt;
use std::num::NonZero;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use recordshop_domain::RetryPolicy;
use recordshop_postgres::{BatchSettings, ConcurrencyStrategy, PoolSettings};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP until SIGINT or SIGTERM.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
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
    /// Actix worker threads.
    pub http_workers: usize,
    /// The tracing filter.
    pub log_filter: String,
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
    /// a plain identifier, `RUST_LOG` is not a filter, or
    /// `USE_OPTIMISTIC_CC` contradicts `CONCURRENCY_STRATEGY`.
    pub fn from_settings(settings: Settings) -> anyhow::Result<Self> {
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
            http_workers,
            log_filter: settings.rust_log,
        })
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
            .field("http_workers", &self.http_workers)
            .field("log_filter", &self.log_filter)
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
