//! The port implementations of [`SeaOrmStore`](crate::SeaOrmStore), one file per port, and the
//! conversions between stored rows and domain values shared by them.

mod capacity_ledger;
mod data_specification;
mod grants;
mod groups;
mod health;
mod jobs;
mod notes;
mod password_resets;
#[cfg(all(test, feature = "test-support"))]
mod plans;
mod polygons;
mod pre_approvals;
mod projects;
mod refresh_tokens;
mod sharing;
mod user_logs;
mod users;

pub(crate) use jobs::JobBatches;
pub(crate) use polygons::{PolygonReads, shape_columns};
pub(crate) use pre_approvals::roles_json as pre_approval_roles_json;
pub(crate) use users::roles_to_json;

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, SubsecRound as _, Utc};
use reefguide_domain::job::{AssignmentId, JobId, JobRequestId, JobResultId};
use reefguide_domain::{NoteId, PolygonId, UserId};
use sea_orm::{
    DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait as _,
};
use tokio::sync::OwnedMutexGuard;

use crate::SeaOrmStore;

/// A stored user id as a domain id.
pub(crate) fn user_id(raw: i32) -> anyhow::Result<UserId> {
    UserId::new(i64::from(raw)).with_context(|| format!("stored user id {raw} is invalid"))
}

/// A stored polygon id as a domain id.
pub(crate) fn polygon_id(raw: i32) -> anyhow::Result<PolygonId> {
    PolygonId::new(i64::from(raw)).with_context(|| format!("stored polygon id {raw} is invalid"))
}

/// A stored note id as a domain id.
pub(crate) fn note_id(raw: i32) -> anyhow::Result<NoteId> {
    NoteId::new(i64::from(raw)).with_context(|| format!("stored note id {raw} is invalid"))
}

/// A stored job id as a domain id.
pub(crate) fn job_id(raw: i32) -> anyhow::Result<JobId> {
    JobId::new(i64::from(raw)).with_context(|| format!("stored job id {raw} is invalid"))
}

/// A stored assignment id as a domain id.
pub(crate) fn assignment_id(raw: i32) -> anyhow::Result<AssignmentId> {
    AssignmentId::new(i64::from(raw))
        .with_context(|| format!("stored assignment id {raw} is invalid"))
}

/// A stored job result id as a domain id.
pub(crate) fn job_result_id(raw: i32) -> anyhow::Result<JobResultId> {
    JobResultId::new(i64::from(raw))
        .with_context(|| format!("stored job result id {raw} is invalid"))
}

/// A stored job request id as a domain id.
pub(crate) fn job_request_id(raw: i32) -> anyhow::Result<JobRequestId> {
    JobRequestId::new(i64::from(raw))
        .with_context(|| format!("stored job request id {raw} is invalid"))
}

/// A transaction that writes (see [`SeaOrmStore::begin_write`]); it derefs to the sea-orm
/// transaction and rolls back when dropped uncommitted.
pub(crate) struct WriteTransaction {
    // Fields drop in order: the transaction ends before the gate opens.
    txn: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl Deref for WriteTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTransaction {
    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl SeaOrmStore {
    /// Begins a transaction that will write.
    ///
    /// On SQLite, which has a single writer, the store's writers first queue in the process
    /// (fairly, and without holding a pooled connection while they wait), then the transaction
    /// begins `IMMEDIATE`: it takes the write lock up front, so a writer of another store or
    /// process makes it wait (busy timeout) rather than fail when a read would later have to be
    /// upgraded to a write. Without the queue, busy writers poll SQLite's lock and an unlucky one
    /// can starve past the busy timeout. On Postgres it is a plain (`READ COMMITTED`)
    /// transaction.
    pub(crate) async fn begin_write(&self) -> Result<WriteTransaction, DbErr> {
        if self.db.get_database_backend() != DbBackend::Sqlite {
            return Ok(WriteTransaction {
                txn: self.db.begin().await?,
                _gate: None,
            });
        }
        let gate = Arc::clone(&self.write_gate).lock_owned().await;
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?;
        Ok(WriteTransaction {
            txn,
            _gate: Some(gate),
        })
    }
}

/// A time as stored: truncated to microseconds, the precision Postgres keeps, so both backends
/// hand back exactly what they were given.
pub(crate) fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}
