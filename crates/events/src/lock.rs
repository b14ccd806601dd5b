//! The relay's lock: a session-level advisory lock held on one pooled
//! connection for as long as the relay relays.

use deadpool_postgres::Object;

use crate::outbox::{self, DatabaseError};

/// The pooled connection that holds the session-level lock. Dropped, it is
/// detached from the pool and closed, so the session ends and PostgreSQL
/// releases the lock: a connection still holding it must never go back to
/// the pool, where the server would reuse it and nobody would relay.
pub(crate) struct Locked {
    client: Option<Object>,
    key: i64,
}

impl Locked {
    pub(crate) async fn try_take(client: Object, key: i64) -> Result<Option<Self>, DatabaseError> {
        // Wrapped first: if the query fails halfway, the session may hold
        // the lock.
        let locked = Self {
            client: Some(client),
            key,
        };
        if outbox::try_lock(locked.client()?, key).await? {
            return Ok(Some(locked));
        }
        // Not taken: nothing held, so the connection may serve the server.
        locked.into_pool();
        Ok(None)
    }

    fn into_pool(mut self) {
        drop(self.client.take());
    }

    /// The connection; only `release` and drop take it away.
    pub(crate) fn client(&self) -> Result<&Object, DatabaseError> {
        self.client.as_ref().ok_or(DatabaseError::Released)
    }

    /// Unlocks and returns the connection to the pool (closes it when
    /// the unlock fails, which releases the lock as well).
    pub(crate) async fn release(mut self) {
        if let Some(client) = self.client.take()
            && outbox::unlock(&client, self.key).await.is_err()
        {
            drop(Object::take(client));
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}
