//! The command line: the subcommands and every setting, each read from
//! its environment variable or the matching flag. Parsing checks each
//! value on its own (its message names the variable and what it accepts);
//! what involves several settings is checked by `Config::from_settings`.

use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use recordshop_cache::ReadCache;
use recordshop_domain::RetryPolicy;
use recordshop_domain::order::breaker::BreakerSettings;
use recordshop_postgres::{BatchSettings, ConcurrencyStrategy};
use secrecy::SecretString;

use crate::secrets::SigningSettings;
use crate::token::TokenArgs;
use crate::values::{
    ListenAddress, at_least_one, boolean, default_batch_wait_ms, duration_ms, listen_address, port,
    positive_duration, secret,
};

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
    Token(TokenArgs),
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
    pub(crate) database_url: Option<SecretString>,
    /// A standby's postgres://… URL (read-only session attributes fit:
    /// `?target_session_attrs=read-only`): catalog reads (`GET /discs`,
    /// `GET /discs/{id}`) go there while it lags at most
    /// READ_REPLICA_MAX_LAG_MS, else to the primary. Unset: every read goes
    /// to DATABASE_URL.
    #[arg(
        long,
        env = "DATABASE_READ_URL",
        value_name = "DATABASE_READ_URL",
        global = true,
        hide_env_values = true
    )]
    pub(crate) database_read_url: Option<SecretString>,
    /// The most a standby may lag behind its primary and still serve
    /// catalog reads.
    #[arg(long, env = "READ_REPLICA_MAX_LAG_MS", value_name = "READ_REPLICA_MAX_LAG_MS", default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=60_000), global = true)]
    pub(crate) read_replica_max_lag_ms: u64,
    #[arg(
        long,
        env = "POSTGRES_HOST",
        value_name = "POSTGRES_HOST",
        default_value = "localhost",
        global = true
    )]
    pub(crate) postgres_host: String,
    #[arg(long, env = "POSTGRES_PORT", value_name = "POSTGRES_PORT", default_value = "5432", value_parser = port, global = true)]
    pub(crate) postgres_port: u16,
    #[arg(
        long,
        env = "POSTGRES_USER",
        value_name = "POSTGRES_USER",
        default_value = "postgres",
        global = true
    )]
    pub(crate) postgres_user: String,
    #[arg(
        long,
        env = "POSTGRES_PASSWORD",
        value_name = "POSTGRES_PASSWORD",
        default_value = "postgres",
        hide_env_values = true,
        hide_default_value = true,
        value_parser = secret,
        global = true
    )]
    pub(crate) postgres_password: SecretString,
    #[arg(
        long,
        env = "POSTGRES_DB",
        value_name = "POSTGRES_DB",
        default_value = "postgres",
        global = true
    )]
    pub(crate) postgres_db: String,
    /// Schema put first on the search path; PostgreSQL's default (public) when unset.
    #[arg(
        long,
        env = "POSTGRES_SCHEMA",
        value_name = "POSTGRES_SCHEMA",
        global = true
    )]
    pub(crate) postgres_schema: Option<String>,
    /// pessimistic (default), optimistic, atomic or batched.
    #[arg(long, env = "CONCURRENCY_STRATEGY", value_name = "CONCURRENCY_STRATEGY", value_parser = ConcurrencyStrategy::from_str, global = true)]
    pub(crate) concurrency_strategy: Option<ConcurrencyStrategy>,
    /// true means CONCURRENCY_STRATEGY=optimistic (the original service's switch).
    #[arg(long, env = "USE_OPTIMISTIC_CC", value_name = "USE_OPTIMISTIC_CC", value_parser = boolean, global = true)]
    pub(crate) use_optimistic_cc: Option<bool>,
    #[arg(
        long,
        env = "HOST",
        value_name = "HOST",
        default_value = "127.0.0.1",
        global = true
    )]
    pub(crate) host: String,
    /// 0 picks a free port.
    #[arg(long, env = "PORT", value_name = "PORT", default_value = "8080", value_parser = port, global = true)]
    pub(crate) port: u16,
    #[arg(long, env = "DB_POOL_SIZE", value_name = "DB_POOL_SIZE", default_value = "16", value_parser = at_least_one::<usize>, global = true)]
    pub(crate) db_pool_size: usize,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "DB_POOL_TIMEOUT_MS", value_name = "DB_POOL_TIMEOUT_MS", default_value = "2000", value_parser = at_least_one::<u64>, global = true)]
    pub(crate) db_pool_timeout_ms: u64,
    /// PostgreSQL cancels a statement (lock waits included) running longer
    /// and the request answers 503 `unavailable`; 0 disables the limit.
    #[arg(
        long,
        env = "DB_STATEMENT_TIMEOUT_MS",
        value_name = "DB_STATEMENT_TIMEOUT_MS",
        default_value = "5000",
        global = true
    )]
    pub(crate) db_statement_timeout_ms: u64,
    /// How long an Idempotency-Key answers with its first request's result
    /// (then it is purged and free again), e.g. 24h, 90m.
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL", value_name = "IDEMPOTENCY_KEY_TTL", default_value = "24h", value_parser = positive_duration, global = true)]
    pub(crate) idempotency_key_ttl: Duration,
    /// Actix workers; one per available CPU when unset.
    #[arg(long, env = "HTTP_WORKERS", value_name = "HTTP_WORKERS", value_parser = at_least_one::<usize>, global = true)]
    pub(crate) http_workers: Option<usize>,
    /// Attempts at a unit of work that keeps conflicting, the first included.
    #[arg(long, env = "OPTIMISTIC_MAX_ATTEMPTS", value_name = "OPTIMISTIC_MAX_ATTEMPTS", default_value_t = RetryPolicy::default().max_attempts, value_parser = at_least_one::<u32>, global = true)]
    pub(crate) optimistic_max_attempts: u32,
    /// No retry starts after this long since the first attempt.
    #[arg(long, env = "OPTIMISTIC_RETRY_BUDGET_MS", value_name = "OPTIMISTIC_RETRY_BUDGET_MS", default_value = "2000", value_parser = at_least_one::<u64>, global = true)]
    pub(crate) optimistic_retry_budget_ms: u64,
    /// Batched strategy: purchases at most in one transaction.
    #[arg(long, env = "BATCH_MAX_SIZE", value_name = "BATCH_MAX_SIZE", default_value_t = BatchSettings::default().max_batch, value_parser = at_least_one::<usize>, global = true)]
    pub(crate) batch_max_size: usize,
    /// Purchases in flight at once at most; past it a purchase queues for
    /// a place if the queue is shorter than what the recent completion rate
    /// serves within ADMISSION_QUEUE_MS, else answers 503 `overloaded` at
    /// once. 0 admits every purchase. Default: twice DB_POOL_SIZE, or two batches
    /// (2 × BATCH_MAX_SIZE) for `batched`, `queued` and `hybrid`.
    #[arg(
        long,
        env = "ADMISSION_LIMIT",
        value_name = "ADMISSION_LIMIT",
        global = true
    )]
    pub(crate) admission_limit: Option<usize>,
    /// The longest a purchase past ADMISSION_LIMIT waits for a place
    /// (and so the queue's length, by the completion rate); 0 refuses
    /// past the limit at once.
    #[arg(
        long,
        env = "ADMISSION_QUEUE_MS",
        value_name = "ADMISSION_QUEUE_MS",
        default_value = "100",
        global = true
    )]
    pub(crate) admission_queue_ms: u64,
    /// Batched strategy: the longest a purchase of a busy disc waits for
    /// others to join its batch; 0 is pure group commit.
    #[arg(long, env = "BATCH_MAX_WAIT_MS", value_name = "BATCH_MAX_WAIT_MS", default_value_t = default_batch_wait_ms(), global = true)]
    pub(crate) batch_max_wait_ms: u64,
    /// Hybrid strategy: a synchronous purchase slower than this counts
    /// against the synchronous path.
    #[arg(long, env = "HYBRID_BUDGET_MS", value_name = "HYBRID_BUDGET_MS", default_value_t = duration_ms(BreakerSettings::default().budget), value_parser = at_least_one::<u64>, global = true)]
    pub(crate) hybrid_budget_ms: u64,
    /// Hybrid strategy: slow synchronous purchases in a row that open the
    /// breaker (purchases are then queued, 202).
    #[arg(long, env = "HYBRID_TRIP_AFTER", value_name = "HYBRID_TRIP_AFTER", default_value_t = BreakerSettings::default().trip_after, value_parser = at_least_one::<u32>, global = true)]
    pub(crate) hybrid_trip_after: u32,
    /// Hybrid strategy: how long an open breaker queues every purchase
    /// before letting probes through.
    #[arg(long, env = "HYBRID_OPEN_MS", value_name = "HYBRID_OPEN_MS", default_value_t = duration_ms(BreakerSettings::default().open_for), value_parser = at_least_one::<u64>, global = true)]
    pub(crate) hybrid_open_ms: u64,
    /// Hybrid strategy: probes a half-open breaker lets through; all of
    /// them within HYBRID_BUDGET_MS close it, one slow opens it again.
    #[arg(long, env = "HYBRID_PROBES", value_name = "HYBRID_PROBES", default_value_t = BreakerSettings::default().probes, value_parser = at_least_one::<u32>, global = true)]
    pub(crate) hybrid_probes: u32,
    /// Catalog reads (`GET /discs`, `GET /discs/{id}`) through a cache:
    /// `off` or `memory` (in this process). A cached read is at most
    /// READ_CACHE_TTL_MS old; purchases never read it.
    #[arg(long, env = "READ_CACHE", value_name = "READ_CACHE", default_value = "off", value_parser = ReadCache::from_str, global = true)]
    pub(crate) read_cache: ReadCache,
    /// How long a cached catalog read is served: the bound on its staleness.
    #[arg(long, env = "READ_CACHE_TTL_MS", value_name = "READ_CACHE_TTL_MS", default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=60_000), global = true)]
    pub(crate) read_cache_ttl_ms: u64,
    /// amqp://user:password@host:port/vhost of the RabbitMQ the order
    /// events are published to (exchange `orders`); unset or empty: they
    /// stay in the outbox table.
    #[arg(
        long,
        env = "EVENTS_AMQP_URL",
        value_name = "EVENTS_AMQP_URL",
        global = true,
        hide_env_values = true
    )]
    pub(crate) events_amqp_url: Option<SecretString>,
    /// The token signing key, or its absence.
    #[command(flatten)]
    pub signing: SigningSettings,
    /// Where to serve Prometheus metrics (`GET /metrics`), e.g.
    /// 127.0.0.1:9464; unset or empty: no metrics. A listener of its own,
    /// never the API's port.
    #[arg(long, env = "METRICS_ADDR", value_name = "METRICS_ADDR", value_parser = listen_address, global = true)]
    pub(crate) metrics_addr: Option<ListenAddress>,
    /// Log filter, e.g. `info` or `recordshop_http=debug,info`.
    #[arg(
        long,
        env = "RUST_LOG",
        value_name = "RUST_LOG",
        default_value = "info",
        global = true
    )]
    pub(crate) rust_log: String,
}
