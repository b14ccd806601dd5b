//! Catalog reads from a standby (`DATABASE_READ_URL`), while it is close
//! enough behind the primary.
//!
//! A probe asks the standby every [`ReplicaSettings::probe_every`] how far
//! behind it is. Reads go to it only while the last probe succeeded, found a
//! standby streaming from its primary, and measured a lag within
//! [`ReplicaSettings::max_lag`]; otherwise to the primary. A read that
//! fails on the standby is read again from the primary and the standby is
//! set aside until the next good probe. So a standby stopped, cut off or
//! lagging costs readers at most one probe period of fallbacks, never an
//! error and never a wait for its connection.
//!
//! Lag is "what it has received but not yet replayed", measured as the age
//! of the last transaction replayed while replay trails receipt, and zero
//! once they meet: an idle primary makes no lag, and a standby that stopped
//! receiving shows as not streaming rather than as caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use recordshop_domain::StoreError;

use crate::sql::connection;

/// When the standby serves reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaSettings {
    /// A standby further behind than this serves none
    /// (`READ_REPLICA_MAX_LAG_MS`).
    pub max_lag: Duration,
    /// How often it is asked; also how long a standby set aside after a
    /// failed read stays aside at most.
    pub probe_every: Duration,
}

impl Default for ReplicaSettings {
    /// 1 s of lag, asked 5 times a second.
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(1),
            probe_every: Duration::from_millis(200),
        }
    }
}

/// The standby's side of the catalog's reads. Clones share the state.
#[derive(Clone)]
pub struct ReadReplica {
    pool: Pool,
    settings: ReplicaSettings,
    state: Arc<ReplicaState>,
}

#[derive(Default)]
struct ReplicaState {
    usable: AtomicBool,
    /// The last lag measured, in microseconds (`u64::MAX`: unknown).
    lag_us: AtomicU64,
}

const LAG: &str = "
    SELECT pg_is_in_recovery(),
           COALESCE((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false),
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
           END::float8";

/// Where a read was served, for `recordshop_catalog_reads_total{source}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Standby,
    Primary,
}

impl Source {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::Primary => "primary",
        }
    }
}

impl ReadReplica {
    /// Reads through `pool` (connections to the standby), per `settings`;
    /// serves none until [`ReadReplica::start`]'s first good probe.
    #[must_use]
    pub fn new(pool: Pool, settings: ReplicaSettings) -> Self {
        Self {
            pool,
            settings,
            state: Arc::new(ReplicaState {
                usable: AtomicBool::new(false),
                lag_us: AtomicU64::new(u64::MAX),
            }),
        }
    }

    /// Starts the probe, for as long as the process runs. Must be called
    /// inside a Tokio runtime.
    pub fn start(&self) {
        let replica = self.clone();
        tokio::spawn(async move { replica.probe_forever().await });
    }

    /// Whether reads go to the standby now.
    #[must_use]
    pub fn is_usable(&self) -> bool {
        self.state.usable.load(Ordering::Relaxed)
    }

    /// The lag the last probe measured; `None` when it failed.
    #[must_use]
    pub fn lag(&self) -> Option<Duration> {
        match self.state.lag_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// A connection to the standby when it serves reads now.
    pub(crate) async fn connection(&self) -> Option<Object> {
        if !self.is_usable() {
            return None;
        }
        match connection(&self.pool).await {
            Ok(client) => Some(client),
            Err(error) => {
                self.set_aside(&error);
                None
            }
        }
    }

    /// A read on the standby failed: the primary serves until the next
    /// good probe.
    pub(crate) fn set_aside(&self, error: &StoreError) {
        if self.state.usable.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = format!("{error:#}"),
                "a catalog read failed on the standby; reading from the primary"
            );
        }
    }

    async fn probe_forever(&self) {
        let mut ticks = tokio::time::interval(self.settings.probe_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_usable = false;
        loop {
            ticks.tick().await;
            let probed = tokio::time::timeout(self.settings.probe_every * 5, self.probe()).await;
            let lag = probed
                .unwrap_or_else(|_| Err("the standby did not answer the probe in time".to_owned()));
            let usable = match &lag {
                Ok(lag) => *lag <= self.settings.max_lag,
                Err(_) => false,
            };
            let lag_us = lag.as_ref().map_or(u64::MAX, |lag| {
                u64::try_from(lag.as_micros()).unwrap_or(u64::MAX - 1)
            });
            self.state.lag_us.store(lag_us, Ordering::Relaxed);
            self.state.usable.store(usable, Ordering::Relaxed);
            metrics::gauge!("recordshop_standby_usable").set(if usable { 1.0 } else { 0.0 });
            if let Ok(lag) = &lag {
                metrics::gauge!("recordshop_standby_lag_seconds").set(lag.as_secs_f64());
            }
            if usable != was_usable {
                match &lag {
                    Ok(lag) if usable => {
                        tracing::info!(lag_ms = lag.as_millis(), "catalog reads go to the standby");
                    }
                    Ok(lag) => tracing::warn!(
                        lag_ms = lag.as_millis(),
                        max_ms = self.settings.max_lag.as_millis(),
                        "the standby lags too far behind; catalog reads go to the primary"
                    ),
                    Err(why) => tracing::warn!(
                        why = why.as_str(),
                        "the standby cannot serve; catalog reads go to the primary"
                    ),
                }
                was_usable = usable;
            }
        }
    }

    /// The standby's lag, or why it cannot serve.
    async fn probe(&self) -> Result<Duration, String> {
        let client = connection(&self.pool)
            .await
            .map_err(|error| format!("{error:#}"))?;
        let row = client
            .query_one(LAG, &[])
            .await
            .map_err(|error| format!("{error:#}"))?;
        let standby: bool = row.try_get(0).map_err(|e| e.to_string())?;
        let streaming: bool = row.try_get(1).map_err(|e| e.to_string())?;
        let lag_s: f64 = row.try_get(2).map_err(|e| e.to_string())?;
        if !standby {
            return Err("DATABASE_READ_URL leads to a primary, not a standby".to_owned());
        }
        if !streaming {
            return Err("the standby is not streaming from its primary".to_owned());
        }
        Ok(Duration::try_from_secs_f64(lag_s.max(0.0)).unwrap_or(Duration::MAX))
    }
}

/// Counts a catalog read by where it was served.
pub(crate) fn count_read(source: Source) {
    metrics::counter!("recordshop_catalog_reads_total", "source" => source.as_str()).increment(1);
}
