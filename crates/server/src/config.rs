//! The validated configuration the server runs with: built from the
//! [`Settings`] the command line read, checking what involves several of
//! them, and shown in the start-up log without its secrets.
//!
//! How each setting is read is `cli.rs`; the database connection is
//! assembled in `database.rs`; the signing key is read in `secrets.rs`
//! (with the rules of authentication).

use std::fmt;
use std::num::NonZero;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use recordshop_cache::ReadCache;
use recordshop_domain::RetryPolicy;
use recordshop_domain::order::breaker::BreakerSettings;
use recordshop_events::BrokerUrl;
use recordshop_http::Authenticator;
use recordshop_http::admission::AdmissionSettings;
use recordshop_postgres::{
    BatchSettings, ConcurrencyStrategy, DatabaseTimeouts, IdempotencySettings, PoolSettings,
    ReplicaSettings,
};
use secrecy::ExposeSecret;

use crate::cli::{Cli, Command, Settings};
use crate::database::{self, DatabaseSummary};

/// The catalog read cache (see the `recordshop-cache` crate).
#[derive(Clone, Copy, Debug)]
pub struct ReadCacheSettings {
    pub kind: ReadCache,
    /// How long an entry is served: the bound on a read's staleness.
    pub ttl: Duration,
}

/// Where catalog reads go besides the primary, and when.
#[derive(Clone)]
pub struct ReadReplicaConfig {
    pub database: tokio_postgres::Config,
    pub settings: ReplicaSettings,
}

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    /// Where the database is, with the schema on the search path.
    pub database: tokio_postgres::Config,
    /// The standby catalog reads go to while it is close behind
    /// (`DATABASE_READ_URL`); `None`: every read goes to `database`.
    pub read_replica: Option<ReadReplicaConfig>,
    /// How purchases and restocks are kept safe under concurrency.
    pub strategy: ConcurrencyStrategy,
    /// Retries of units of work the database aborted for contention.
    pub retry: RetryPolicy,
    /// Bounds of the batched strategy's batches (the hybrid's too).
    pub batching: BatchSettings,
    /// The hybrid strategy's circuit breaker.
    pub breaker: BreakerSettings,
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
    /// Where `GET /metrics` is served; `None`: no metrics.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How many purchases may be in flight at once.
    pub admission: AdmissionSettings,
    /// Where catalog reads are cached, and for how long.
    pub read_cache: ReadCacheSettings,
    /// The broker the order events are relayed to; `None`: they stay in
    /// the outbox.
    pub events_broker: Option<BrokerUrl>,
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
        let auth = match (
            settings.signing.signing_key()?,
            settings.signing.auth_disabled,
        ) {
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
        let database = database::from_settings(&settings)?;
        let read_replica =
            database::read_replica_from_settings(&settings)?.map(|database| ReadReplicaConfig {
                database,
                settings: ReplicaSettings {
                    max_lag: Duration::from_millis(settings.read_replica_max_lag_ms),
                    ..ReplicaSettings::default()
                },
            });
        let events_broker = events_broker(&settings)?;
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
            read_replica,
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
            breaker: BreakerSettings {
                budget: Duration::from_millis(settings.hybrid_budget_ms),
                trip_after: settings.hybrid_trip_after,
                open_for: Duration::from_millis(settings.hybrid_open_ms),
                probes: settings.hybrid_probes,
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
            metrics_addr: settings.metrics_addr.and_then(|address| address.0),
            admission: AdmissionSettings {
                limit: settings.admission_limit.unwrap_or_else(|| {
                    default_admission_limit(
                        strategy,
                        settings.db_pool_size,
                        settings.batch_max_size,
                    )
                }),
                queue_wait: Duration::from_millis(settings.admission_queue_ms),
            },
            read_cache: ReadCacheSettings {
                kind: settings.read_cache,
                ttl: Duration::from_millis(settings.read_cache_ttl_ms),
            },
            events_broker,
            auth,
        })
    }
}

/// `EVENTS_AMQP_URL`, when set and not empty (as for `DATABASE_URL`).
///
/// # Errors
/// When it is not an AMQP URL; the message never shows the password.
fn events_broker(settings: &Settings) -> anyhow::Result<Option<BrokerUrl>> {
    let url = settings
        .events_amqp_url
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .map(str::trim)
        .filter(|url| !url.is_empty());
    url.map(|url| {
        BrokerUrl::parse(url).map_err(|error| anyhow::anyhow!("EVENTS_AMQP_URL: {error}"))
    })
    .transpose()
}

/// Purchases in flight at once by default. One at a time on a row lock,
/// twice the pool keeps every connection busy with one purchase queued
/// behind it, and more would only queue in PostgreSQL; `batched` turns a
/// queue into batches (as `queued` does its intake, and `hybrid` both),
/// and two of the largest keep one committing while the next fills
/// (measured by the experiment's `overload`; more only holds more buyers'
/// connections and memory).
fn default_admission_limit(strategy: ConcurrencyStrategy, pool: usize, batch: usize) -> usize {
    match strategy {
        ConcurrencyStrategy::Batched
        | ConcurrencyStrategy::Queued
        | ConcurrencyStrategy::Hybrid => batch.saturating_mul(2),
        _ => pool.saturating_mul(2),
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

/// Never prints the password: it shows where the database is and how the
/// server will run, for the start-up log.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &DatabaseSummary(&self.database))
            .field(
                "read_replica",
                &self.read_replica.as_ref().map(|replica| {
                    format!(
                        "{:?}, lag at most {} ms",
                        DatabaseSummary(&replica.database),
                        replica.settings.max_lag.as_millis()
                    )
                }),
            )
            .field("strategy", &self.strategy.as_str())
            .field("retry", &self.retry)
            .field("batching", &self.batching)
            .field("breaker", &self.breaker)
            .field("listen", &format_args!("{}:{}", self.host, self.port))
            .field("pool", &self.pool)
            .field("database_timeouts", &self.database_timeouts)
            .field("idempotency", &self.idempotency)
            .field("http_workers", &self.http_workers)
            .field("log_filter", &self.log_filter)
            .field("metrics_addr", &self.metrics_addr)
            .field("admission", &self.admission)
            .field(
                "read_cache",
                &format_args!(
                    "{} (entries live {} ms)",
                    self.read_cache.kind,
                    self.read_cache.ttl.as_millis()
                ),
            )
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
