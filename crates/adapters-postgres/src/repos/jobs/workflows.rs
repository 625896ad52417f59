//! Workflow jobs (labcas-contract §2): the dispatcher's queue, the attempts it follows, and the
//! start of an attempt.
//!
//! A workflow job is a job whose `workflow` column is set; the claim rule of workers leaves it
//! out. Starting an attempt is a compare-and-set on the job's version, like every other change,
//! in one transaction with the new assignment (these writes are few: one per attempt).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{Assignment, AssignmentId, Job, JobStatus};
use reefguide_ports::repositories::{WorkflowJobs, WorkflowStart};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Statement,
};

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

    /// The body of `JobRepository::start_workflow_run`.
    pub(super) async fn start_workflow(
        &self,
        start: WorkflowStart,
    ) -> anyhow::Result<Option<Assignment>> {
        let now = stored_time(start.now);
        let expires_at = stored_lease(&start.state)
            .context("a started workflow attempt needs the state's lease")?;
        let txn = self.begin_write().await.db_context("cannot begin")?;
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
            .exec(&*txn)
            .await
            .with_db_context(|| format!("cannot start job {}", start.job_id))?;
        if changed.rows_affected == 0 {
            txn.rollback().await.db_context("cannot roll back")?;
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
            .exec_with_returning(&*txn)
            .await
            .with_db_context(|| format!("cannot record the attempt of job {}", start.job_id))?;
        jobs::Entity::update_many()
            .col_expr(
                jobs::Column::CurrentAssignmentId,
                Expr::value(Some(assignment.id)),
            )
            .filter(jobs::Column::Id.eq(start.job_id.get()))
            .exec(&*txn)
            .await
            .with_db_context(|| format!("cannot start job {}", start.job_id))?;
        txn.commit().await.db_context("cannot commit")?;
        Ok(Some(to_assignment(assignment)?))
    }

    /// The body of `JobRepository::record_engine_run`.
    pub(super) async fn record_run(
        &self,
        assignment: AssignmentId,
        run_id: String,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        job_assignments::Entity::update_many()
            .col_expr(
                job_assignments::Column::EngineRunId,
                Expr::value(Some(run_id)),
            )
            .col_expr(
                job_assignments::Column::UpdatedAt,
                Expr::value(stored_time(now)),
            )
            .filter(job_assignments::Column::Id.eq(assignment.get()))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot record the run of assignment {assignment}"))?;
        Ok(())
    }
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
