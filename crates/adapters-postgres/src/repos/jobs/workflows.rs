//! Workflow jobs (labcas-contract §2): the dispatcher's queue, the attempts it follows, and the
//! start of an attempt.
//!
//! A workflow job is a job whose `workflow` column is set; the claim rule of workers leaves it
//! out. Starting an attempt is a compare-and-set on the job's version, like every other change,
//! together with the new assignment. The dispatcher starts, records and loads a cycle's jobs in
//! sets: on Postgres each is one statement whatever the number of jobs (its rows come as one JSON
//! parameter); on SQLite, whose statements cost no round trip, one transaction of per-job steps.

use std::collections::HashSet;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{Assignment, AssignmentId, Job, JobId, JobStatus};
use reefguide_ports::repositories::{WorkflowJobs, WorkflowStart};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait as _,
    FromQueryResult as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement, Value,
};
use serde_json::json;

use super::rows::{
    job_and_assignment, prefixed_columns, stored_attempts, stored_lease, to_assignment, to_job,
};
use super::status_literal;
use crate::SeaOrmStore;
use crate::entities::{job_assignments, jobs};
use crate::errors::DbContext as _;
use crate::repos::stored_time;

impl SeaOrmStore {
    /// The body of `JobRepository::pending_workflow_jobs`.
    pub(super) async fn pending_workflows(&self, limit: u64) -> anyhow::Result<Vec<Job>> {
        jobs::Entity::find()
            .filter(Expr::col(jobs::Column::Status).eq(status_literal(JobStatus::Pending)))
            .filter(Expr::col(jobs::Column::Workflow).is_not_null())
            .filter(Expr::col(jobs::Column::Attempts).lt(Expr::col(jobs::Column::MaxAttempts)))
            .order_by_asc(jobs::Column::CreatedAt)
            .order_by_asc(jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .db_context("cannot list pending workflow jobs")?
            .into_iter()
            .map(to_job)
            .collect()
    }

    /// The body of `JobRepository::workflow_jobs`.
    pub(super) async fn followed_workflows(
        &self,
        which: WorkflowJobs,
        limit: u64,
    ) -> anyhow::Result<Vec<(Job, Assignment)>> {
        let sql = format!(
            "SELECT {columns} FROM jobs j JOIN job_assignments a ON a.id = j.current_assignment_id \
             WHERE j.workflow IS NOT NULL AND {condition} \
             ORDER BY j.created_at, j.id LIMIT {limit}",
            columns = prefixed_columns(),
            condition = condition(which),
        );
        let backend = self.db.get_database_backend();
        self.db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .db_context("cannot list workflow jobs")?
            .iter()
            .map(job_and_assignment)
            .collect()
    }

    /// The body of `JobRepository::workflow_attempts`.
    pub(super) async fn workflow_attempts_of(
        &self,
        ids: &[JobId],
    ) -> anyhow::Result<Vec<(Job, Assignment)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        let listed = match backend {
            DbBackend::Postgres => "SELECT value::int FROM jsonb_array_elements_text($1::jsonb)",
            _ => "SELECT value FROM json_each(?)",
        };
        let sql = format!(
            "SELECT {columns} FROM jobs j JOIN job_assignments a ON a.id = j.current_assignment_id \
             WHERE j.workflow IS NOT NULL AND j.id IN ({listed})",
            columns = prefixed_columns(),
        );
        let ids: Vec<i32> = ids.iter().map(|id| id.get()).collect();
        let values: Vec<Value> = vec![serde_json::Value::from(ids).into()];
        self.db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .db_context("cannot load workflow attempts")?
            .iter()
            .map(job_and_assignment)
            .collect()
    }

    /// The body of `JobRepository::start_workflow_runs`.
    pub(super) async fn start_workflows(
        &self,
        starts: &[WorkflowStart],
    ) -> anyhow::Result<Vec<Assignment>> {
        let mut seen = HashSet::new();
        if let Some(twice) = starts.iter().find(|start| !seen.insert(start.job_id)) {
            anyhow::bail!("job {} is started twice in one set", twice.job_id);
        }
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let rows = self
                    .db
                    .query_all_raw(start_statement(starts)?)
                    .await
                    .db_context("cannot run the start statement")
                    .context("cannot start workflow jobs")?;
                rows.iter()
                    .map(|row| {
                        let row = job_assignments::Model::from_query_result(row, "")
                            .db_context("cannot read a started assignment")?;
                        to_assignment(row)
                    })
                    .collect()
            }
            _ => self.start_in_transaction(starts).await,
        }
    }

    /// The SQLite start: each job's compare-and-set and assignment, in one `IMMEDIATE`
    /// transaction.
    async fn start_in_transaction(
        &self,
        starts: &[WorkflowStart],
    ) -> anyhow::Result<Vec<Assignment>> {
        let txn = self.begin_write().await.db_context("cannot begin")?;
        let mut started = Vec::with_capacity(starts.len());
        for start in starts {
            if let Some(assignment) = start_one(&txn, start).await? {
                started.push(to_assignment(assignment)?);
            }
        }
        txn.commit().await.db_context("cannot commit")?;
        Ok(started)
    }

    /// The body of `JobRepository::record_engine_runs`.
    pub(super) async fn record_runs(
        &self,
        runs: &[(AssignmentId, String)],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let now = stored_time(now);
        if self.db.get_database_backend() == DbBackend::Postgres {
            let input: Vec<serde_json::Value> = runs
                .iter()
                .map(|(assignment, run_id)| json!({ "id": assignment.get(), "run_id": run_id }))
                .collect();
            let values: Vec<Value> = vec![serde_json::Value::from(input).into(), now.into()];
            // The rows are reached through the index on `id` (`= ANY`), never by joining the
            // input (see `change_statement`).
            let sql = "WITH input AS ( \
                     SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(id int, run_id text) \
                 ) \
                 UPDATE job_assignments a SET engine_run_id = i.run_id, updated_at = $2 \
                 FROM input i \
                 WHERE a.id = ANY (ARRAY(SELECT id FROM input)) AND a.id = i.id";
            self.db
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    values,
                ))
                .await
                .db_context("cannot record the runs of workflow attempts")?;
            return Ok(());
        }
        let txn = self.begin_write().await.db_context("cannot begin")?;
        for (assignment, run_id) in runs {
            job_assignments::Entity::update_many()
                .col_expr(
                    job_assignments::Column::EngineRunId,
                    Expr::value(Some(run_id.clone())),
                )
                .col_expr(job_assignments::Column::UpdatedAt, Expr::value(now))
                .filter(job_assignments::Column::Id.eq(assignment.get()))
                .exec(&*txn)
                .await
                .with_db_context(|| format!("cannot record the run of assignment {assignment}"))?;
        }
        txn.commit().await.db_context("cannot commit")?;
        Ok(())
    }
}

/// Starts one attempt inside `txn` (SQLite): the compare-and-set, the assignment, the job's
/// pointer to it; `None` when the job was no longer at the expected version.
async fn start_one(
    txn: &DatabaseTransaction,
    start: &WorkflowStart,
) -> anyhow::Result<Option<job_assignments::Model>> {
    let now = stored_time(start.now);
    let expires_at =
        stored_lease(&start.state).context("a started workflow attempt needs the state's lease")?;
    let changed = jobs::Entity::update_many()
        .col_expr(
            jobs::Column::Status,
            Expr::value(start.state.status().as_str()),
        )
        .col_expr(
            jobs::Column::Attempts,
            Expr::value(stored_attempts(&start.state)?),
        )
        .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Some(expires_at)))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            jobs::Column::Version,
            Expr::col(jobs::Column::Version).add(1),
        )
        .filter(jobs::Column::Id.eq(start.job_id.get()))
        .filter(jobs::Column::Version.eq(start.expected_version))
        .exec(txn)
        .await
        .with_db_context(|| format!("cannot start job {}", start.job_id))?;
    if changed.rows_affected == 0 {
        return Ok(None);
    }
    let row = job_assignments::ActiveModel {
        id: NotSet,
        created_at: Set(now),
        updated_at: Set(now),
        job_id: Set(start.job_id.get()),
        worker_id: Set(start.worker.get()),
        ecs_task_arn: Set(None),
        ecs_cluster_arn: Set(None),
        expires_at: Set(expires_at),
        storage_scheme: Set(start.storage.scheme.as_str().to_owned()),
        storage_uri: Set(start.storage.uri.clone()),
        heartbeat_at: Set(None),
        completed_at: Set(None),
        progress: Set(None),
        message: Set(None),
        engine_run_id: Set(None),
    };
    let assignment = job_assignments::Entity::insert(row)
        .exec_with_returning(txn)
        .await
        .with_db_context(|| format!("cannot record the attempt of job {}", start.job_id))?;
    jobs::Entity::update_many()
        .col_expr(
            jobs::Column::CurrentAssignmentId,
            Expr::value(Some(assignment.id)),
        )
        .filter(jobs::Column::Id.eq(start.job_id.get()))
        .exec(txn)
        .await
        .with_db_context(|| format!("cannot start job {}", start.job_id))?;
    Ok(Some(assignment))
}

/// The Postgres start statement of a set of attempts. `$1` is a JSON array with one object per
/// start: the job, the expected version, the new status, attempts and lease end, the start time,
/// the account and the storage location. The jobs still at their expected version are locked in
/// the order of their ids (a version changed while waiting for the lock is seen: the condition is
/// checked again on the locked row), their assignments inserted, then the jobs updated to point
/// at them, as a claim does. The answer: the new assignments.
fn start_statement(starts: &[WorkflowStart]) -> anyhow::Result<Statement> {
    let mut rows = Vec::with_capacity(starts.len());
    for start in starts {
        let state = &start.state;
        rows.push(json!({
            "job_id": start.job_id.get(),
            "expected_version": start.expected_version,
            "status": state.status().as_str(),
            "attempts": stored_attempts(state)?,
            "lease": stored_lease(state)
                .context("a started workflow attempt needs the state's lease")?,
            "now": stored_time(start.now),
            "worker_id": start.worker.get(),
            "storage_scheme": start.storage.scheme.as_str(),
            "storage_uri": start.storage.uri,
        }));
    }
    let values: Vec<Value> = vec![serde_json::Value::from(rows).into()];
    let sql = "WITH input AS ( \
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(job_id int, \
                 expected_version bigint, status text, attempts int, lease timestamptz, \
                 now timestamptz, worker_id int, storage_scheme text, storage_uri text) \
         ), \
         picked AS ( \
             SELECT j.id FROM jobs j JOIN input i ON i.job_id = j.id \
             WHERE j.id = ANY (ARRAY(SELECT job_id FROM input)) \
                 AND j.version = i.expected_version \
             ORDER BY j.id FOR NO KEY UPDATE OF j \
         ), \
         assigned AS ( \
             INSERT INTO job_assignments (created_at, updated_at, job_id, worker_id, \
                 expires_at, storage_scheme, storage_uri) \
             SELECT i.now, i.now, i.job_id, i.worker_id, i.lease, i.storage_scheme, \
                 i.storage_uri \
             FROM input i JOIN picked p ON p.id = i.job_id \
             RETURNING * \
         ), \
         updated AS ( \
             UPDATE jobs j SET status = i.status, attempts = i.attempts, \
                 lease_expires_at = i.lease, updated_at = i.now, version = j.version + 1, \
                 current_assignment_id = a.id \
             FROM assigned a JOIN input i ON i.job_id = a.job_id \
             WHERE j.id = a.job_id \
             RETURNING j.id \
         ) \
         SELECT a.* FROM assigned a JOIN updated u ON u.id = a.job_id ORDER BY a.id";
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

/// The condition on `j` (job) and `a` (its current assignment) selecting `which`. Status names
/// are constants of the domain.
fn condition(which: WorkflowJobs) -> String {
    let in_progress = JobStatus::InProgress.as_str();
    match which {
        WorkflowJobs::Untriggered => {
            format!("j.status = '{in_progress}' AND a.engine_run_id IS NULL")
        }
        WorkflowJobs::Running => {
            format!("j.status = '{in_progress}' AND a.engine_run_id IS NOT NULL")
        }
        WorkflowJobs::Cancelling => format!(
            "j.status = '{}' AND a.completed_at IS NULL",
            JobStatus::Cancelled.as_str()
        ),
    }
}
