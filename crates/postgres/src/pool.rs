use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

/// Sizing and time limits of the connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections at most.
    pub max_size: usize,
    /// How long a request waits for a free connection (or a new one to be
    /// established) before it fails as unavailable.
    pub wait_timeout: Duration,
}

/// A pool of connections described by `config`.
///
/// Connections are checked with a cheap `Fast` recycle: a broken connection
/// is detected by the query that uses it, which fails as unavailable, and is
/// then dropped by the pool.
///
/// # Errors
/// When the pool cannot be built from the settings.
pub fn create_pool(config: tokio_postgres::Config, settings: PoolSettings) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeouts = Timeouts {
        wait: Some(settings.wait_timeout),
        create: Some(settings.wait_timeout),
        recycle: Some(settings.wait_timeout),
    };
    Ok(Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(timeouts)
        .build()?)
}
