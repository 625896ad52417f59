//! One actor among several server instances: work done under [`SeaOrmStore::as_leader`] runs in
//! at most one instance at a time (a Postgres advisory transaction lock; SQLite serves one
//! instance, which is always the leader).

use std::future::Future;

use sea_orm::{ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _};

use crate::SeaOrmStore;

impl SeaOrmStore {
    /// Runs `work` unless another instance holds the lock `key` right now (then `None`). On
    /// Postgres the lock is held by a transaction that lasts as long as `work`, and released
    /// when it ends, even if this process dies.
    ///
    /// # Errors
    /// When the lock cannot be asked for.
    pub async fn as_leader<T, F>(&self, key: i64, work: F) -> anyhow::Result<Option<T>>
    where
        F: Future<Output = T>,
    {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(Some(work.await));
        }
        let txn = self.db.begin().await?;
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                [key.into()],
            ))
            .await?;
        let locked = row
            .map(|row| row.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            txn.rollback().await?;
            return Ok(None);
        }
        let output = work.await;
        txn.commit().await?;
        Ok(Some(output))
    }
}
