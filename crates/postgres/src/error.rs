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
/// Counts it too, by SQLSTATE class (`recordshop_db_errors_total{class}`),
/// with serialization failures and statement timeouts on their own.
pub(crate) fn store_error(error: tokio_postgres::Error) -> StoreError {
    count(&error);
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

fn count(error: &tokio_postgres::Error) {
    let class = match error.code() {
        Some(code) => sqlstate_class(code.code()),
        None => "connection",
    };
    metrics::counter!("recordshop_db_errors_total", "class" => class).increment(1);
    match error.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            metrics::counter!("recordshop_db_serialization_conflicts_total").increment(1);
        }
        Some(code) if *code == SqlState::QUERY_CANCELED => {
            metrics::counter!("recordshop_db_statement_timeouts_total").increment(1);
        }
        _ => {}
    }
}

/// The class of a SQLSTATE (its first two characters), as a label: the
/// classes PostgreSQL defines, `other` for anything else, so no error can
/// widen the metric's label set.
fn sqlstate_class(code: &str) -> &'static str {
    const CLASSES: [&str; 27] = [
        "08", "0A", "0B", "0F", "0L", "0P", "20", "21", "22", "23", "24", "25", "26", "27", "28",
        "2B", "2D", "2F", "34", "38", "39", "3B", "40", "42", "53", "54", "57",
    ];
    let class = code.get(..2).unwrap_or_default();
    CLASSES
        .into_iter()
        .find(|known| *known == class)
        .unwrap_or("other")
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
    fn error_classes_are_a_bounded_label_set() {
        assert_eq!(sqlstate_class("40001"), "40");
        assert_eq!(sqlstate_class("57014"), "57");
        assert_eq!(sqlstate_class("23505"), "23");
        assert_eq!(sqlstate_class("ZZ999"), "other");
        assert_eq!(sqlstate_class(""), "other");
    }

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
