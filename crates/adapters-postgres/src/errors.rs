//! Driver errors translated into what the ports promise.
//!
//! Business outcomes the database detects (a unique email taken, a note on a polygon deleted
//! meanwhile) become domain errors or `None` through [`on_unique_violation`] and
//! [`is_foreign_key_violation`]; everything else becomes an opaque `anyhow::Error` through
//! [`db_error`], which says what was being done and, when the database could not be reached at
//! all, carries [`StoreUnavailable`] in its cause chain so the HTTP layer can answer 503.

use std::fmt::Display;

use reefguide_ports::StoreUnavailable;
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// An opaque error for a failed database operation, described by `what`.
pub(crate) fn db_error(what: impl Display + Send + Sync + 'static, err: DbErr) -> anyhow::Error {
    if is_unreachable(&err) {
        anyhow::Error::new(StoreUnavailable)
            .context(err.to_string())
            .context(what)
    } else {
        anyhow::Error::new(err).context(what)
    }
}

/// `Some(mapped)` when `err` is a unique-constraint violation (SQLSTATE 23505 on Postgres,
/// extended code 2067/1555 on SQLite), else `None`.
pub(crate) fn on_unique_violation<E>(err: &DbErr, mapped: impl FnOnce() -> E) -> Option<E> {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))).then(mapped)
}

/// Whether `err` is a foreign-key violation (SQLSTATE 23503 on Postgres, extended code 787 on
/// SQLite): a row refers to one that does not (or no longer) exist.
pub(crate) fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// Whether the error means the database cannot be reached (rather than refusing a statement).
fn is_unreachable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx_err)) => matches!(
            **sqlx_err,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;

    #[test]
    fn unreachable_database_is_marked() {
        let err = db_error(
            "cannot load user",
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        );
        assert!(
            err.chain()
                .any(|cause| cause.downcast_ref::<StoreUnavailable>().is_some())
        );
        assert!(format!("{err:#}").starts_with("cannot load user: "));
    }

    #[test]
    fn other_errors_are_not_marked() {
        let err = db_error("cannot load user", DbErr::RecordNotFound("x".into()));
        assert!(
            !err.chain()
                .any(|cause| cause.downcast_ref::<StoreUnavailable>().is_some())
        );
    }
}
