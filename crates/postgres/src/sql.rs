//! The few steps every repository repeats: taking a connection, starting a
//! unit of work, and running a statement prepared through the connection's
//! statement cache.
//!
//! Every statement has a name ([`Statement`]): each run is a `sql` span
//! carrying it (never the parameters, which hold customers' data) and a
//! sample of `recordshop_db_statement_duration_seconds{statement}`, and a
//! connection's wait in the pool is one of `recordshop_db_pool_wait_seconds`.

use std::future::Future;
use std::time::Instant;

use deadpool_postgres::{GenericClient, Object, Pool, Transaction};
use recordshop_domain::StoreError;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{IsolationLevel, Row};
use tracing::Instrument;

use crate::error::{pool_error, store_error};

/// A statement of this adapter: its SQL, written out and parameterised,
/// and the name spans and metrics know it by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement {
    /// Lower snake case, like the constant that holds the statement.
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

impl Statement {
    pub(crate) const fn new(name: &'static str, sql: &'static str) -> Self {
        Self { name, sql }
    }
}

/// Parameters of a statement, as the driver takes them.
pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// A connection from `pool`.
pub(crate) async fn connection(pool: &Pool) -> Result<Object, StoreError> {
    let started = Instant::now();
    let got = pool.get().await;
    metrics::histogram!("recordshop_db_pool_wait_seconds").record(started.elapsed());
    got.map_err(pool_error)
}

/// Starts an explicit unit of work; dropping it without `commit` rolls back.
pub(crate) async fn begin(
    client: &mut Object,
    isolation: IsolationLevel,
) -> Result<Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(isolation)
        .start()
        .await
        .map_err(store_error)
}

/// Runs `statement` and returns every row.
pub(crate) async fn query(
    client: &impl GenericClient,
    statement: &Statement,
    params: &Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    observed(statement, async {
        let prepared = client.prepare_cached(statement.sql).await?;
        client.query(&prepared, params).await
    })
    .await
}

/// Runs `statement` and returns its row, if it produced one.
pub(crate) async fn query_opt(
    client: &impl GenericClient,
    statement: &Statement,
    params: &Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    observed(statement, async {
        let prepared = client.prepare_cached(statement.sql).await?;
        client.query_opt(&prepared, params).await
    })
    .await
}

/// Runs `statement` and returns how many rows it changed.
pub(crate) async fn execute(
    client: &impl GenericClient,
    statement: &Statement,
    params: &Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    observed(statement, async {
        let prepared = client.prepare_cached(statement.sql).await?;
        client.execute(&prepared, params).await
    })
    .await
}

/// Parameters of a one-shot statement, each with its type.
pub(crate) type TypedParams<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// Runs `statement` as a one-shot (unnamed) statement, in one round trip.
///
/// For the list queries: their optional filters switch off with
/// `$n IS NULL`, which a cached generic plan cannot drop, so it cannot use
/// the trigram indexes and scans the whole table (measured: ~380 ms on 1M
/// discs against ~1 ms). An unnamed statement is planned for the very
/// values it runs with. Every other statement stays prepared and cached,
/// so purchases do not pay for planning on each call.
pub(crate) async fn query_planned_for_values(
    client: &Object,
    statement: &Statement,
    params: &TypedParams<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    observed(statement, client.query_typed(statement.sql, params)).await
}

/// `run` inside a `sql` span named after `statement`, timed.
async fn observed<T>(
    statement: &Statement,
    run: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let span = tracing::debug_span!(
        "sql",
        otel.name = statement.name,
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = statement.name,
    );
    let started = Instant::now();
    let result = run.instrument(span).await;
    metrics::histogram!("recordshop_db_statement_duration_seconds", "statement" => statement.name)
        .record(started.elapsed());
    result
}
