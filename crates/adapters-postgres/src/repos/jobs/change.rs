//! Job changes: a compare-and-set on `jobs.version`, with the assignment update, the result
//! insert and (for a re-queue) the notification of claimers that go with it, all or nothing.
//!
//! On Postgres a change is one statement (a data-modifying CTE), and concurrent changes of
//! different jobs share one ([`ChangeBatch`]), so a heartbeat or a result report costs a share of
//! one round trip instead of a transaction of five. The job update is guarded by the
//! assignment's existence, and every other part runs only for the job rows the update returned,
//! so a stale version changes nothing. All parts of the statement see the same snapshot, taken
//! before any of them ran: the statement also answers whether the version matched and the
//! assignment existed in it, which tells a lost race (`false`) from an assignment that does not
//! belong to the job (an error), as the transaction below does. On SQLite the same steps run in
//! one `IMMEDIATE` transaction (SQLite has no listeners to notify).

use reefguide_domain::job::JobId;
use reefguide_ports::repositories::{AssignmentUpdate, JobChange, NewResult};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityTrait as _, QueryFilter as _, Statement, Value,
};

use super::rows::{stored_attempts, stored_lease};
use crate::SeaOrmStore;
use crate::batch::Batch;
use crate::entities::{job_assignments, job_results, jobs};
use crate::errors::DbContext as _;
use crate::notify::JOB_CHANNEL;
use crate::repos::stored_time;

impl SeaOrmStore {
    /// The body of `JobRepository::apply_change`: whether the job was still at the expected
    /// version (and is now changed).
    pub(super) async fn apply(&self, change: JobChange) -> anyhow::Result<bool> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => self.batches.changes.call(change).await,
            _ => self.apply_in_transaction(&change).await,
        }
    }

    /// The SQLite change: the same steps in one `IMMEDIATE` transaction.
    async fn apply_in_transaction(&self, change: &JobChange) -> anyhow::Result<bool> {
        let txn = self.begin_write().await.db_context("cannot begin")?;
        if !compare_and_set(&txn, change).await? {
            txn.rollback().await.db_context("cannot roll back")?;
            return Ok(false);
        }
        if let Some(update) = &change.assignment {
            update_assignment(&txn, change.job_id, update, change).await?;
        }
        if let Some(result) = &change.result {
            insert_result(&txn, change.job_id, result, change).await?;
        }
        txn.commit().await.db_context("cannot commit")?;
        Ok(true)
    }
}

/// Postgres job changes, run in batches of one statement ([`crate::batch`]). A batch changes
/// each job at most once: a second change of the same job waits for the next batch (it was
/// decided on the version the first one changes, so it will find it changed). Batches running
/// at once lock their jobs in the order of their ids, so they never deadlock on jobs both change.
#[derive(Debug, Clone)]
pub(crate) struct ChangeBatch {
    /// The pool the statements run on.
    pub db: DatabaseConnection,
}

impl Batch for ChangeBatch {
    type Request = JobChange;
    type Response = bool;

    const MAX_BATCH: usize = 64;
    const MAX_IN_FLIGHT: usize = 2;

    fn may_join(&self, batch: &[JobChange], next: &JobChange) -> bool {
        batch.iter().all(|change| change.job_id != next.job_id)
    }

    async fn run_together(&self, batch: &[JobChange]) -> anyhow::Result<Vec<anyhow::Result<bool>>> {
        apply_batch(&self.db, batch).await
    }
}

/// What the change statement answered for one change.
struct ChangeAnswer {
    /// The job was at the expected version and is now changed.
    changed: bool,
    /// The job was at the expected version in the statement's snapshot.
    version_matched: bool,
    /// The change's assignment (if any) belonged to the job in that snapshot.
    assignment_exists: bool,
}

impl ChangeAnswer {
    /// Whether the change was applied; an error when its assignment is not the job's.
    fn applied(&self, change: &JobChange) -> anyhow::Result<bool> {
        if self.changed {
            return Ok(true);
        }
        if let Some(update) = &change.assignment
            && self.version_matched
            && !self.assignment_exists
        {
            anyhow::bail!(
                "assignment {} of job {} does not exist",
                update.id,
                change.job_id
            );
        }
        Ok(false)
    }
}

/// Runs `changes` (of distinct jobs) as one statement; whether each one was applied, in order.
async fn apply_batch(
    db: &DatabaseConnection,
    changes: &[JobChange],
) -> anyhow::Result<Vec<anyhow::Result<bool>>> {
    let rows = db
        .query_all_raw(change_statement(changes)?)
        .await
        .db_context("cannot run the change statement")?;
    anyhow::ensure!(
        rows.len() == changes.len(),
        "the change statement answered {} of {} changes",
        rows.len(),
        changes.len()
    );
    rows.iter()
        .zip(changes)
        .map(|(row, change)| {
            let read = |column: &str| {
                row.try_get::<bool>("", column)
                    .db_context("cannot read the change statement's answer")
            };
            let answer = ChangeAnswer {
                changed: read("changed")?,
                version_matched: read("version_matched")?,
                assignment_exists: read("assignment_exists")?,
            };
            Ok(answer.applied(change))
        })
        .collect()
}

/// The change statement of a batch. `$1` is a JSON array with one object per change: its
/// position `n`, the job, the expected version, the new status, attempts and lease end, the
/// change time; for an assignment update its id and the fields it sets (a null leaves the column
/// as it is); for a result `has_result`, the payload wrapped in a one-element array (so that a
/// JSON `null` payload stays JSON, not SQL `NULL`), the storage scheme and URI. `$2` is the
/// notification channel of re-queued jobs.
///
/// The jobs are locked first, in the order of their ids. Every part of the statement sees the
/// same snapshot, taken before any of them ran. The job update is guarded by the version and by
/// the assignment's existence, and every other part
/// runs only for the jobs the update returned, so a stale version changes nothing. One row per
/// change, in order: `changed`, and `version_matched` and `assignment_exists` in the snapshot,
/// which tell a lost race (`false`) from an assignment that does not belong to the job (an error).
pub(super) fn change_statement(changes: &[JobChange]) -> anyhow::Result<Statement> {
    let mut rows = Vec::with_capacity(changes.len());
    for (n, change) in changes.iter().enumerate() {
        let state = &change.state;
        let update = change.assignment.as_ref();
        let result = change.result.as_ref();
        rows.push(serde_json::json!({
            "n": n,
            "job_id": change.job_id.get(),
            "expected_version": change.expected_version,
            "status": state.status().as_str(),
            "attempts": stored_attempts(state)?,
            "lease": stored_lease(state),
            "now": stored_time(change.now),
            "assignment_id": update.map(|update| update.id.get()),
            "expires_at": update.and_then(|update| update.expires_at).map(stored_time),
            "heartbeat_at": update.and_then(|update| update.heartbeat_at).map(stored_time),
            "completed_at": update.and_then(|update| update.completed_at).map(stored_time),
            "progress": update.and_then(|update| update.progress),
            "message": update.and_then(|update| update.message.as_deref()),
            "has_result": result.is_some(),
            "result_payload": result.and_then(|result| result.result_payload.as_ref()).map(|payload| [payload]),
            "result_assignment_id": result.map(|result| result.assignment_id.get()),
            "storage_scheme": result.map(|result| result.storage.scheme.as_str()),
            "storage_uri": result.map(|result| result.storage.uri.as_str()),
        }));
    }
    let values: Vec<Value> = vec![serde_json::Value::from(rows).into(), JOB_CHANNEL.into()];
    // Rows of `jobs` and `job_assignments` are reached only through index conditions (`= ANY`
    // of the batch's ids) and per-row scalar look-ups, never by joining the batch: a generic plan
    // made while a table was nearly empty would otherwise scan the whole table once it has grown.
    let sql = "WITH input AS ( \
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(n int, job_id int, \
                 expected_version bigint, status text, attempts int, lease timestamptz, \
                 now timestamptz, assignment_id int, expires_at timestamptz, \
                 heartbeat_at timestamptz, completed_at timestamptz, progress float8, \
                 message text, has_result bool, result_payload jsonb, \
                 result_assignment_id int, storage_scheme text, storage_uri text) \
         ), \
         locked AS ( \
             SELECT id FROM jobs WHERE id = ANY (ARRAY(SELECT job_id FROM input)) \
             ORDER BY id FOR NO KEY UPDATE \
         ), \
         changed AS ( \
             UPDATE jobs j SET status = i.status, attempts = i.attempts, \
                 lease_expires_at = i.lease, updated_at = i.now, version = j.version + 1 \
             FROM input i \
             WHERE j.id = ANY (ARRAY(SELECT id FROM locked)) AND j.id = i.job_id \
                 AND j.version = i.expected_version \
                 AND (i.assignment_id IS NULL OR (SELECT a.job_id FROM job_assignments a \
                     WHERE a.id = i.assignment_id) = i.job_id) \
             RETURNING i.n, j.id, j.\"type\" \
         ), \
         assignment AS ( \
             UPDATE job_assignments a SET updated_at = i.now, \
                 expires_at = COALESCE(i.expires_at, a.expires_at), \
                 heartbeat_at = COALESCE(i.heartbeat_at, a.heartbeat_at), \
                 completed_at = COALESCE(i.completed_at, a.completed_at), \
                 progress = COALESCE(i.progress, a.progress), \
                 message = COALESCE(i.message, a.message) \
             FROM changed c JOIN input i ON i.n = c.n \
             WHERE a.id = ANY (ARRAY(SELECT assignment_id FROM input)) \
                 AND a.id = i.assignment_id \
             RETURNING a.id \
         ), \
         result AS ( \
             INSERT INTO job_results (created_at, job_id, assignment_id, result_payload, \
                 storage_scheme, storage_uri, metadata, cache_valid) \
             SELECT i.now, c.id, i.result_assignment_id, i.result_payload -> 0, \
                 i.storage_scheme, i.storage_uri, NULL, true \
             FROM changed c JOIN input i ON i.n = c.n WHERE i.has_result \
             RETURNING id \
         ), \
         notified AS ( \
             SELECT pg_notify($2, c.\"type\") FROM changed c JOIN input i ON i.n = c.n \
             WHERE i.status = 'PENDING' \
         ) \
         SELECT i.n, c.n IS NOT NULL AS changed, \
             COALESCE((SELECT j.version = i.expected_version FROM jobs j \
                 WHERE j.id = i.job_id), false) AS version_matched, \
             (i.assignment_id IS NULL OR (SELECT a.job_id FROM job_assignments a \
                 WHERE a.id = i.assignment_id) IS NOT DISTINCT FROM i.job_id) \
                 AS assignment_exists, \
             (SELECT count(*) FROM notified) AS notified \
         FROM input i LEFT JOIN changed c ON c.n = i.n \
         ORDER BY i.n";
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

/// Stores `change.state` if the job is still at `change.expected_version`; whether it was.
async fn compare_and_set(txn: &DatabaseTransaction, change: &JobChange) -> anyhow::Result<bool> {
    let state = &change.state;
    let updated = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(state.status().as_str()))
        .col_expr(jobs::Column::Attempts, Expr::value(stored_attempts(state)?))
        .col_expr(
            jobs::Column::LeaseExpiresAt,
            Expr::value(stored_lease(state)),
        )
        .col_expr(
            jobs::Column::UpdatedAt,
            Expr::value(stored_time(change.now)),
        )
        .col_expr(
            jobs::Column::Version,
            Expr::col(jobs::Column::Version).add(1),
        )
        .filter(jobs::Column::Id.eq(change.job_id.get()))
        .filter(jobs::Column::Version.eq(change.expected_version))
        .exec(txn)
        .await
        .db_context("cannot update the job")?;
    Ok(updated.rows_affected == 1)
}

/// Applies an assignment update (only the fields given; `updated_at` always). The assignment
/// must belong to the job.
async fn update_assignment(
    txn: &DatabaseTransaction,
    job: JobId,
    update: &AssignmentUpdate,
    change: &JobChange,
) -> anyhow::Result<()> {
    use job_assignments::Column;
    let mut statement = job_assignments::Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(stored_time(change.now)));
    if let Some(expires_at) = update.expires_at {
        statement = statement.col_expr(Column::ExpiresAt, Expr::value(stored_time(expires_at)));
    }
    if let Some(heartbeat_at) = update.heartbeat_at {
        statement = statement.col_expr(
            Column::HeartbeatAt,
            Expr::value(Some(stored_time(heartbeat_at))),
        );
    }
    if let Some(completed_at) = update.completed_at {
        statement = statement.col_expr(
            Column::CompletedAt,
            Expr::value(Some(stored_time(completed_at))),
        );
    }
    if let Some(progress) = update.progress {
        statement = statement.col_expr(Column::Progress, Expr::value(Some(progress)));
    }
    if let Some(message) = &update.message {
        statement = statement.col_expr(Column::Message, Expr::value(Some(message.clone())));
    }
    let updated = statement
        .filter(Column::Id.eq(update.id.get()))
        .filter(Column::JobId.eq(job.get()))
        .exec(txn)
        .await
        .db_context("cannot update the assignment")?;
    anyhow::ensure!(
        updated.rows_affected == 1,
        "assignment {} of job {job} does not exist",
        update.id
    );
    Ok(())
}

/// Inserts a (cache-valid) result of the job.
async fn insert_result(
    txn: &DatabaseTransaction,
    job: JobId,
    result: &NewResult,
    change: &JobChange,
) -> anyhow::Result<()> {
    let row = job_results::ActiveModel {
        id: NotSet,
        created_at: Set(stored_time(change.now)),
        job_id: Set(job.get()),
        assignment_id: Set(result.assignment_id.get()),
        result_payload: Set(result.result_payload.clone()),
        storage_scheme: Set(result.storage.scheme.as_str().to_owned()),
        storage_uri: Set(result.storage.uri.clone()),
        metadata: Set(None),
        cache_valid: Set(true),
    };
    job_results::Entity::insert(row)
        .exec(txn)
        .await
        .db_context("cannot insert the result")?;
    Ok(())
}
