//! Job changes: a compare-and-set on `jobs.version`, with the assignment update, the result
//! insert and (for a re-queue) the notification of claimers that go with it, all or nothing.
//!
//! On Postgres a change is one statement (a data-modifying CTE), so a heartbeat or a result
//! report costs one round trip instead of a transaction of five. The job update is guarded by the
//! assignment's existence, and every other part runs only for the job row the update returned, so
//! a stale version changes nothing. All parts of the statement see the same snapshot, taken
//! before any of them ran: the statement also answers whether the version matched and the
//! assignment existed in it, which tells a lost race (`false`) from an assignment that does not
//! belong to the job (an error), as the transaction below does. On SQLite the same steps run in
//! one `IMMEDIATE` transaction (SQLite has no listeners to notify).

use reefguide_domain::job::{JobId, JobStatus};
use reefguide_ports::repositories::{AssignmentUpdate, JobChange, NewResult};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait as _,
    QueryFilter as _, Statement, Value,
};

use super::rows::{stored_attempts, stored_lease};
use crate::SeaOrmStore;
use crate::entities::{job_assignments, job_results, jobs};
use crate::errors::db_error;
use crate::notify::JOB_CHANNEL;
use crate::repos::stored_time;

impl SeaOrmStore {
    /// The body of `JobRepository::apply_change`: whether the job was still at the expected
    /// version (and is now changed).
    pub(super) async fn apply(&self, change: &JobChange) -> anyhow::Result<bool> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => self.apply_in_one_statement(change).await,
            _ => self.apply_in_transaction(change).await,
        }
    }

    /// The Postgres change: one statement (see the module documentation).
    async fn apply_in_one_statement(&self, change: &JobChange) -> anyhow::Result<bool> {
        let row = self
            .db
            .query_one_raw(change_statement(change)?)
            .await
            .map_err(|err| db_error("cannot run the change statement", err))?
            .ok_or_else(|| anyhow::anyhow!("the change statement returned no row"))?;
        let read = |column: &str| {
            row.try_get::<bool>("", column)
                .map_err(|err| db_error("cannot read the change statement's answer", err))
        };
        if read("changed")? {
            return Ok(true);
        }
        if let Some(update) = &change.assignment
            && read("version_matched")?
            && !read("assignment_exists")?
        {
            anyhow::bail!(
                "assignment {} of job {} does not exist",
                update.id,
                change.job_id
            );
        }
        Ok(false)
    }

    /// The SQLite change: the same steps in one `IMMEDIATE` transaction.
    async fn apply_in_transaction(&self, change: &JobChange) -> anyhow::Result<bool> {
        let txn = self
            .begin_write()
            .await
            .map_err(|err| db_error("cannot begin", err))?;
        if !compare_and_set(&txn, change).await? {
            txn.rollback()
                .await
                .map_err(|err| db_error("cannot roll back", err))?;
            return Ok(false);
        }
        if let Some(update) = &change.assignment {
            update_assignment(&txn, change.job_id, update, change).await?;
        }
        if let Some(result) = &change.result {
            insert_result(&txn, change.job_id, result, change).await?;
        }
        txn.commit()
            .await
            .map_err(|err| db_error("cannot commit", err))?;
        Ok(true)
    }
}

/// Whether the change makes the job claimable again.
fn is_requeue(change: &JobChange) -> bool {
    change.state.status() == JobStatus::Pending
}

/// The change statement. `$1` job id, `$2` expected version, `$3` status, `$4` attempts, `$5`
/// lease end, `$6` now; with an assignment update `$7` its id and `$8`–`$12` the fields it sets
/// (a null leaves the column as it is); with a result, the result's fields after those.
///
/// Its one row: `changed` (the job was at the expected version and is changed),
/// `version_matched` and `assignment_exists` (in the statement's snapshot).
fn change_statement(change: &JobChange) -> anyhow::Result<Statement> {
    let state = &change.state;
    let mut values: Vec<Value> = vec![
        change.job_id.get().into(),
        change.expected_version.into(),
        state.status().as_str().into(),
        stored_attempts(state)?.into(),
        stored_lease(state).into(),
        stored_time(change.now).into(),
    ];
    let mut guard = String::new();
    let mut parts = Vec::new();
    let mut assignment_exists = "true".to_owned();
    if let Some(update) = &change.assignment {
        values.extend([
            update.id.get().into(),
            update.expires_at.map(stored_time).into(),
            update.heartbeat_at.map(stored_time).into(),
            update.completed_at.map(stored_time).into(),
            update.progress.into(),
            update.message.clone().into(),
        ]);
        let exists = "EXISTS (SELECT 1 FROM job_assignments WHERE id = $7 AND job_id = $1)";
        guard = format!(" AND {exists}");
        assignment_exists = exists.to_owned();
        parts.push(
            "assignment AS ( \
                 UPDATE job_assignments SET updated_at = $6, \
                     expires_at = COALESCE($8, expires_at), \
                     heartbeat_at = COALESCE($9, heartbeat_at), \
                     completed_at = COALESCE($10, completed_at), \
                     progress = COALESCE($11, progress), \
                     message = COALESCE($12, message) \
                 WHERE id = $7 AND job_id IN (SELECT id FROM changed) \
                 RETURNING id \
             )"
            .to_owned(),
        );
    }
    if let Some(result) = &change.result {
        let first = values.len() + 1;
        values.extend(result_values(result));
        parts.push(format!(
            "result AS ( \
                 INSERT INTO job_results (created_at, job_id, assignment_id, result_payload, \
                     storage_scheme, storage_uri, metadata, cache_valid) \
                 SELECT $6, id, ${first}, ${}, ${}, ${}, NULL, true FROM changed \
                 RETURNING id \
             )",
            first + 1,
            first + 2,
            first + 3,
        ));
    }
    let mut counted = "(SELECT count(*) FROM changed) = 1".to_owned();
    if is_requeue(change) {
        values.push(JOB_CHANNEL.into());
        parts.push(format!(
            "notified AS (SELECT pg_notify(${}, \"type\") FROM changed)",
            values.len()
        ));
        // A CTE that modifies nothing runs only when the main query reads it.
        counted = "(SELECT count(*) FROM notified) = 1".to_owned();
    }
    let mut sql = format!(
        "WITH changed AS ( \
             UPDATE jobs SET status = $3, attempts = $4, lease_expires_at = $5, updated_at = $6, \
                 version = version + 1 \
             WHERE id = $1 AND version = $2{guard} \
             RETURNING id, \"type\" \
         )"
    );
    for part in parts {
        sql.push_str(", ");
        sql.push_str(&part);
    }
    sql.push_str(&format!(
        " SELECT {counted} AS changed, \
             EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND version = $2) AS version_matched, \
             {assignment_exists} AS assignment_exists"
    ));
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

/// The values of a result row: assignment, payload, storage scheme, storage URI.
fn result_values(result: &NewResult) -> [Value; 4] {
    [
        result.assignment_id.get().into(),
        result.result_payload.clone().into(),
        result.storage.scheme.as_str().into(),
        result.storage.uri.clone().into(),
    ]
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
        .map_err(|err| db_error("cannot update the job", err))?;
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
        .map_err(|err| db_error("cannot update the assignment", err))?;
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
        .map_err(|err| db_error("cannot insert the result", err))?;
    Ok(())
}
