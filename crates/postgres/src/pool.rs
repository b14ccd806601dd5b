use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

/// Sizing and time limits of the connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections at most.
    pub max_size: usize,
    /// How long a request waits for a free connection before it fails as
    /// unavailable.
    pub wait_timeout: Duration,
}

impl Default for PoolSettings {
    /// The server's defaults (`DB_POOL_SIZE`, `DB_POOL_TIMEOUT_MS`).
    fn default() -> Self {
        Self {
            max_size: 16,
            wait_timeout: Duration::from_secs(2),
        }
    }
}

/// Time limits on each connection, on PostgreSQL's side and the pool's. A
/// stuck query, an abandoned transaction or an unreachable server then cost
/// one request a bounded wait and a 503, instead of holding a connection and
/// the row locks it took for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseTimeouts {
    /// PostgreSQL cancels a statement running longer (`statement_timeout`),
    /// waits for row locks included: a request waiting for a concurrent one
    /// with the same idempotency key waits this long at most. Zero disables
    /// it, as in PostgreSQL.
    pub statement: Duration,
    /// PostgreSQL ends a session whose transaction stays idle this long
    /// (`idle_in_transaction_session_timeout`), releasing its locks. Zero
    /// disables it.
    pub idle_in_transaction: Duration,
    /// Establishing the TCP connection and the session.
    pub connect: Duration,
    /// The pool's limit on creating a connection (connect and start-up).
    pub create: Duration,
    /// The pool's limit on checking a pooled connection before handing it
    /// out.
    pub recycle: Duration,
}

impl Default for DatabaseTimeouts {
    /// Statements 5 s, idle transactions 10 s, connecting 2 s: well above
    /// what a purchase takes (milliseconds), well below what a client waits.
    fn default() -> Self {
        Self {
            statement: Duration::from_secs(5),
            idle_in_transaction: Duration::from_secs(10),
            connect: Duration::from_secs(2),
            create: Duration::from_secs(2),
            recycle: Duration::from_secs(2),
        }
    }
}

impl DatabaseTimeouts {
    /// Session settings for the connection's start-up `options`, put before
    /// `existing` options so a setting given in the URL wins.
    fn session_options(&self, existing: Option<&str>) -> String {
        let ours = format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            self.statement.as_millis(),
            self.idle_in_transaction.as_millis()
        );
        match existing {
            Some(existing) if !existing.trim().is_empty() => format!("{ours} {existing}"),
            _ => ours,
        }
    }
}

/// A pool of connections described by `config`, with the default
/// [`DatabaseTimeouts`].
///
/// # Errors
/// When the pool cannot be built from the settings.
pub fn create_pool(config: tokio_postgres::Config, settings: PoolSettings) -> anyhow::Result<Pool> {
    create_pool_with_timeouts(config, settings, DatabaseTimeouts::default())
}

/// A pool of connections described by `config`, each session bounded by
/// `timeouts`. A connect timeout set in `config` is kept.
///
/// Connections are checked with a cheap `Fast` recycle, which costs no round
/// trip: a connection the server closed (a restart, an administrator, an
/// idle transaction timing out) has ended its connection task, is found
/// closed, and is replaced by a new one, so the service recovers by itself.
/// A connection that breaks unnoticed fails the one query that uses it, as
/// unavailable, and is replaced at its next checkout.
///
/// # Errors
/// When the pool cannot be built from the settings.
pub fn create_pool_with_timeouts(
    mut config: tokio_postgres::Config,
    settings: PoolSettings,
    timeouts: DatabaseTimeouts,
) -> anyhow::Result<Pool> {
    let options = timeouts.session_options(config.get_options());
    config.options(options);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeouts.connect);
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeouts = Timeouts {
        wait: Some(settings.wait_timeout),
        create: Some(timeouts.create),
        recycle: Some(timeouts.recycle),
    };
    // Deadpool enforces `create` and `recycle` only with a runtime to time
    // them.
    Ok(Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(timeouts)
        .build()?)
}

/// Sets the pool's gauges (`recordshop_db_pool_*`) to what it holds now:
/// called right before metrics are rendered, so they are read, not
/// maintained.
pub fn record_pool_metrics(pool: &Pool) {
    let status = pool.status();
    let in_use = status.size.saturating_sub(status.available);
    metrics::gauge!("recordshop_db_pool_max_size").set(status.max_size as f64);
    metrics::gauge!("recordshop_db_pool_size").set(status.size as f64);
    metrics::gauge!("recordshop_db_pool_in_use").set(in_use as f64);
    metrics::gauge!("recordshop_db_pool_waiting").set(status.waiting as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_session_options_come_first_so_the_url_wins() {
        let timeouts = DatabaseTimeouts {
            statement: Duration::from_millis(1500),
            idle_in_transaction: Duration::from_secs(3),
            ..DatabaseTimeouts::default()
        };
        assert_eq!(
            timeouts.session_options(None),
            "-c statement_timeout=1500 -c idle_in_transaction_session_timeout=3000"
        );
        assert_eq!(
            timeouts.session_options(Some("-c search_path=shop")),
            "-c statement_timeout=1500 -c idle_in_transaction_session_timeout=3000 \
             -c search_path=shop"
        );
    }
}
