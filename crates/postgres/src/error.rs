//! Translation of driver and pool errors into the domain's [`StoreError`],
//! in one place, by SQLSTATE and constraint name.

use deadpool_postgres::PoolError;
use recordshop_domain::StoreError;
use tokio_postgres::error::SqlState;

/// Unique constraints (and unique indexes) whose violation means "another
/// customer already has this document or email".
pub(crate) const CUSTOMER_UNIQUE_CONSTRAINTS: [&str; 2] =
    ["customers_document_key", "customers_email_key"];

/// Classifies a driver error: contention, unreachable database, or a bug.
pub(crate) fn store_error(error: tokio_postgres::Error) -> StoreError {
    match error.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Conflict
        }
        Some(code) if is_unavailable(code) => StoreError::Unavailable(error.into()),
        Some(_) => StoreError::Unexpected(error.into()),
        // No SQLSTATE and a closed or failing socket: the connection itself
        // failed. Other code-less errors (row count, type conversion) are
        // bugs on this side and must not pass for an outage.
        None if error.is_closed() || has_io_source(&error) => StoreError::Unavailable(error.into()),
        None => StoreError::Unexpected(error.into()),
    }
}

fn has_io_source(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Classifies a pool error: every failure to hand out a connection means the
/// database is out of reach for now.
pub(crate) fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => store_error(error),
        other => StoreError::Unavailable(other.into()),
    }
}

fn is_unavailable(code: &SqlState) -> bool {
    // Class 08 (connection exception), 57P0x (shutdown, crash, cannot
    // connect now, idle session ended), 53300 (too many connections).
    // 57014 is a statement cancelled by `statement_timeout` (or by an
    // administrator): a stuck query or a lock held too long is an outage
    // from the client's point of view, worth retrying later, not a bug.
    // 25P03 ends a session whose transaction sat idle too long; the next
    // request gets a new connection.
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::IDLE_SESSION_TIMEOUT
        || *code == SqlState::TOO_MANY_CONNECTIONS
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
}

/// The name of the unique constraint `error` violates, if it is a unique
/// violation.
pub(crate) fn unique_violation(error: &tokio_postgres::Error) -> Option<&str> {
    let db = error.as_db_error()?;
    (*db.code() == SqlState::UNIQUE_VIOLATION)
        .then(|| db.constraint())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_timeouts_and_cancellations_are_unavailable() {
        for code in [
            "08006", "08001", "57P01", "57P02", "57P03", "57P05", "53300", "57014", "25P03",
        ] {
            assert!(is_unavailable(&SqlState::from_code(code)), "{code}");
        }
        for code in ["40001", "40P01", "23505", "42P01", "XX000"] {
            assert!(!is_unavailable(&SqlState::from_code(code)), "{code}");
        }
    }
}
