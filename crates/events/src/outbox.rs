//! The outbox side: `order_events` read in id order, marked published, and
//! the advisory lock that lets one relay at a time do it.

use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

/// A statement of the relay: its SQL, written out and parameterised, and
/// the name errors and spans know it by (the postgres crate's pattern).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement {
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

impl Statement {
    const fn new(name: &'static str, sql: &'static str) -> Self {
        Self { name, sql }
    }
}

/// Session-level, so it lasts as long as the connection: when the relay's
/// connection ends (its process crashed, the network failed), PostgreSQL
/// releases it and another instance takes over.
pub(crate) const TRY_LOCK: Statement =
    Statement::new("relay_try_lock", "SELECT pg_try_advisory_lock($1)");

pub(crate) const UNLOCK: Statement =
    Statement::new("relay_unlock", "SELECT pg_advisory_unlock($1)");

/// The oldest unpublished events, through `order_events_unpublished_idx`.
pub(crate) const UNPUBLISHED: Statement = Statement::new(
    "relay_unpublished",
    "SELECT id, order_id::text AS order_id, type, occurred_at, data
     FROM order_events
     WHERE published_at IS NULL
     ORDER BY id
     LIMIT $1",
);

/// Only events the broker confirmed; `published_at IS NULL` keeps the
/// first publication's time when a duplicate is confirmed again.
pub(crate) const MARK_PUBLISHED: Statement = Statement::new(
    "relay_mark_published",
    "UPDATE order_events SET published_at = now()
     WHERE id = ANY($1) AND published_at IS NULL",
);

/// The backlog gauge's source; counted every few seconds, not per batch.
pub(crate) const BACKLOG: Statement = Statement::new(
    "relay_backlog",
    "SELECT count(*) FROM order_events WHERE published_at IS NULL",
);

/// One row of `order_events` as the relay publishes it.
#[derive(Debug, Clone)]
pub(crate) struct OutboxEvent {
    pub(crate) id: i64,
    pub(crate) order_id: String,
    /// `order.confirmed`…: the routing key.
    pub(crate) kind: String,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) data: serde_json::Value,
}

impl OutboxEvent {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            kind: row.try_get("type")?,
            occurred_at: row.try_get("occurred_at")?,
            data: row.try_get("data")?,
        })
    }

    /// The message body: the row, `occurred_at` in RFC 3339 (UTC, µs).
    pub(crate) fn body(&self) -> Vec<u8> {
        serde_json::json!({
            "id": self.id,
            "order_id": self.order_id,
            "type": self.kind,
            "occurred_at": self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "data": self.data,
        })
        .to_string()
        .into_bytes()
    }
}

/// What can go wrong on the database's side.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DatabaseError {
    /// A statement failed, named.
    #[error("{statement}: {source}")]
    Statement {
        statement: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("no connection from the pool: {0}")]
    Pool(String),
    #[error("the lock's connection was released")]
    Released,
}

impl DatabaseError {
    pub(crate) fn pool(error: &deadpool_postgres::PoolError) -> Self {
        Self::Pool(error.to_string())
    }
}

async fn query(
    client: &impl GenericClient,
    statement: Statement,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, DatabaseError> {
    let run = async {
        let prepared = client.prepare_cached(statement.sql).await?;
        client.query(&prepared, params).await
    };
    named(statement, run.await)
}

fn named<T>(
    statement: Statement,
    got: Result<T, tokio_postgres::Error>,
) -> Result<T, DatabaseError> {
    got.map_err(|source| DatabaseError::Statement {
        statement: statement.name,
        source,
    })
}

/// Whether this session took the relay's lock.
pub(crate) async fn try_lock(client: &impl GenericClient, key: i64) -> Result<bool, DatabaseError> {
    let rows = query(client, TRY_LOCK, &[&key]).await?;
    let row = rows.first();
    named(TRY_LOCK, row.map_or(Ok(false), |row| row.try_get(0)))
}

pub(crate) async fn unlock(client: &impl GenericClient, key: i64) -> Result<(), DatabaseError> {
    query(client, UNLOCK, &[&key]).await.map(drop)
}

pub(crate) async fn unpublished(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<OutboxEvent>, DatabaseError> {
    let rows = query(client, UNPUBLISHED, &[&limit]).await?;
    named(
        UNPUBLISHED,
        rows.iter().map(OutboxEvent::from_row).collect(),
    )
}

/// Marks `ids` published; returns how many were not already.
pub(crate) async fn mark_published(
    client: &impl GenericClient,
    ids: &[i64],
) -> Result<u64, DatabaseError> {
    let run = async {
        let prepared = client.prepare_cached(MARK_PUBLISHED.sql).await?;
        client.execute(&prepared, &[&ids]).await
    };
    named(MARK_PUBLISHED, run.await)
}

pub(crate) async fn backlog(client: &impl GenericClient) -> Result<i64, DatabaseError> {
    let rows = query(client, BACKLOG, &[]).await?;
    named(BACKLOG, rows.first().map_or(Ok(0), |row| row.try_get(0)))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_body_is_the_row_in_json() {
        let event = OutboxEvent {
            id: 42,
            order_id: "a3e1b7c4-2d5f-4e6a-8b9c-0d1e2f3a4b5c".to_owned(),
            kind: "order.confirmed".to_owned(),
            occurred_at: Utc.with_ymd_and_hms(2026, 5, 1, 12, 30, 0).unwrap(),
            data: serde_json::json!({"status": "confirmed", "quantity": 2}),
        };
        let body: serde_json::Value = serde_json::from_slice(&event.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "id": 42,
                "order_id": "a3e1b7c4-2d5f-4e6a-8b9c-0d1e2f3a4b5c",
                "type": "order.confirmed",
                "occurred_at": "2026-05-01T12:30:00.000000Z",
                "data": {"status": "confirmed", "quantity": 2},
            })
        );
    }
}
