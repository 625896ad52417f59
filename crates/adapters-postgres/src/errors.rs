//! Driver errors translated into what the ports promise.
//!
//! Business outcomes the database detects (a unique email taken, a note on a polygon deleted
//! meanwhile) become domain errors or `None` through [`on_unique_violation`] and
//! [`is_foreign_key_violation`]; everything else becomes an opaque `anyhow::Error` through
//! [`db_error`], which says what was being done and, when the database could not be reached at
//! all, carries [`StoreUnavailable`] in its cause chain so the HTTP layer can answer 503.
//!
//! Call sites say what they were doing with [`DbContext`], as they would with
//! [`anyhow::Context`]: `.db_context("cannot list polygons")?`, or
//! `.with_db_context(|| format!("cannot load job {id}"))?` when the text is built.

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

/// [`db_error`] as an extension of sea-orm results, in the manner of [`anyhow::Context`].
pub(crate) trait DbContext<T> {
    /// The value, or the error as [`db_error`] describes it with `what`.
    fn db_context<C>(self, what: C) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static;

    /// The value, or the error as [`db_error`] describes it with `what()`, which is called only
    /// on failure.
    fn with_db_context<C, F>(self, what: F) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T> DbContext<T> for Result<T, DbErr> {
    fn db_context<C>(self, what: C) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
    {
        self.map_err(|err| db_error(what, err))
    }

    fn with_db_context<C, F>(self, what: F) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|err| db_error(what(), err))
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
    fn the_extension_describes_errors_as_db_error_does() {
        let failed: Result<(), DbErr> = Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        let err = failed
            .with_db_context(|| format!("cannot load user {}", 7))
            .expect_err("an error");
        let expected = db_error(
            "cannot load user 7",
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        );
        assert_eq!(format!("{err:#}"), format!("{expected:#}"));
        assert!(
            err.chain()
                .any(|cause| cause.downcast_ref::<StoreUnavailable>().is_some())
        );
        let fine: Result<u8, DbErr> = Ok(1);
        assert_eq!(fine.db_context("unused").expect("a value"), 1);
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
