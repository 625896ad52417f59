//! [`JobRepository`] for [`SeaOrmStore`].
//!
//! The job state machine lives in the domain; the submodules make its transitions atomic, each
//! in as few round trips to Postgres as it can (a data-modifying statement rather than a
//! transaction of several), and in one `IMMEDIATE` transaction on SQLite:
//! - `submit`, `submit_batch`: **submissions** find a reusable job or create one, and record the
//!   request; identical submissions create one job, while cache hits and different submissions
//!   never wait for each other;
//! - `claim`: **claims** give the oldest claimable jobs, or one job by id, to a worker;
//! - `change`: **every other change** is a compare-and-set on `jobs.version`, with the assignment
//!   update and the result insert that go with it;
//! - `workflows`: the jobs the workflow engine runs (never claimable by workers), and the start
//!   of their attempts.
//!
//! On Postgres, every change that makes a job claimable (a new job, a re-queue) sends a
//! notification on the `reefguide_jobs` channel, delivered when it commits, which
//! [`SeaOrmStore::listen_for_changes`] relays to waiting claimers of every server instance.

mod change;
mod claim;
mod listing;
mod rows;
mod submit;
mod submit_batch;
mod workflows;

use std::collections::BTreeMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::UserId;
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{
    Assignment, AssignmentId, Job, JobDetails, JobId, JobRequest, JobStatus, StorageBase,
};
use reefguide_ports::repositories::{
    AssignOutcome, ClaimRequest, Claimed, JobCensus, JobChange, JobPage, JobQuery, JobRepository,
    NewJob, QueueCensus, Submission, WorkerTag, WorkflowJobs, WorkflowStart,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseConnection, DbBackend, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement,
};

use self::change::ChangeBatch;
use self::claim::{ClaimBatch, claimable, in_claim_order};
use self::listing::with_details;
use self::rows::{job_and_assignment, prefixed_columns, to_job, to_job_type, to_request};
use self::submit_batch::SubmitBatch;
use super::stored_time;
use crate::SeaOrmStore;
use crate::batch::Batcher;
use crate::entities::{job_requests, job_results, jobs};
use crate::errors::DbContext as _;

/// A status as an SQL literal rather than a bound parameter, so that Postgres can match the
/// partial indexes on `status` (a parameter could not be proven equal to their predicate).
/// Status names are constants of the domain (`[A-Z_]+`), never user input.
fn status_literal(status: JobStatus) -> Expr {
    Expr::cust(format!("'{}'", status.as_str()))
}

/// The job writes that Postgres runs in batches of one statement (see [`crate::batch`]).
#[derive(Debug)]
pub(crate) struct JobBatches {
    /// Claims of the oldest claimable jobs.
    claims: Batcher<ClaimBatch>,
    /// Job changes.
    changes: Batcher<ChangeBatch>,
    /// Submissions.
    submissions: Batcher<SubmitBatch>,
}

impl JobBatches {
    /// The batchers of a store on `db` (their tasks start with their first request).
    pub(crate) fn new(db: &DatabaseConnection) -> Self {
        Self {
            claims: Batcher::new(ClaimBatch { db: db.clone() }),
            changes: Batcher::new(ChangeBatch { db: db.clone() }),
            submissions: Batcher::new(SubmitBatch { db: db.clone() }),
        }
    }
}

impl SeaOrmStore {
    /// The stored job row, if any.
    async fn job_row(&self, id: i32) -> anyhow::Result<Option<jobs::Model>> {
        jobs::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load job {id}"))
    }
}

/// The number of claimable jobs per type, as `(type, count)` rows. The status is a literal, so
/// Postgres and SQLite answer from the partial index of pending jobs per type.
fn pending_counts_query() -> sea_orm::Select<jobs::Entity> {
    claimable(None)
        .select_only()
        .column(jobs::Column::JobType)
        .expr(Expr::col(jobs::Column::Id).count())
        .group_by(jobs::Column::JobType)
}

/// Each type's claimable jobs as `(type, count, oldest created_at)` rows, read from the
/// claimable jobs' index like [`pending_counts_query`].
fn queue_census_query() -> sea_orm::Select<jobs::Entity> {
    claimable(None)
        .select_only()
        .column(jobs::Column::JobType)
        .expr(Expr::col(jobs::Column::Id).count())
        .expr(Expr::col(jobs::Column::CreatedAt).min())
        .group_by(jobs::Column::JobType)
}

/// A stored count (never negative) as a count.
fn stored_count(count: i64, what: impl FnOnce() -> String) -> anyhow::Result<u64> {
    u64::try_from(count).with_context(|| format!("negative count of {}", what()))
}

impl SeaOrmStore {
    /// Every job counted by type and state: one grouped read of the whole table.
    async fn jobs_by_state(&self) -> anyhow::Result<BTreeMap<(JobTypeName, JobStatus), u64>> {
        jobs::Entity::find()
            .select_only()
            .column(jobs::Column::JobType)
            .column(jobs::Column::Status)
            .expr(Expr::col(jobs::Column::Id).count())
            .group_by(jobs::Column::JobType)
            .group_by(jobs::Column::Status)
            .into_tuple::<(String, String, i64)>()
            .all(&self.db)
            .await
            .db_context("cannot count jobs by state")?
            .into_iter()
            .map(|(job_type, status, count)| {
                let count = stored_count(count, || format!("{status} {job_type} jobs"))?;
                Ok((
                    (to_job_type(&job_type)?, status.parse::<JobStatus>()?),
                    count,
                ))
            })
            .collect()
    }

    /// Each type's claimable queue.
    async fn queues(&self) -> anyhow::Result<BTreeMap<JobTypeName, QueueCensus>> {
        queue_census_query()
            .into_tuple::<(String, i64, DateTime<Utc>)>()
            .all(&self.db)
            .await
            .db_context("cannot measure the job queues")?
            .into_iter()
            .map(|(job_type, depth, oldest_created_at)| {
                let depth = stored_count(depth, || format!("claimable {job_type} jobs"))?;
                let queue = QueueCensus {
                    depth,
                    oldest_created_at,
                };
                Ok((to_job_type(&job_type)?, queue))
            })
            .collect()
    }
}

#[async_trait]
impl JobRepository for SeaOrmStore {
    async fn submit_job(&self, new_job: NewJob) -> anyhow::Result<Submission> {
        let job_type = new_job.job_type.clone();
        self.submit(new_job)
            .await
            .with_context(|| format!("cannot submit a {job_type} job"))
    }

    async fn find_job(&self, id: JobId) -> anyhow::Result<Option<JobDetails>> {
        let Some(row) = self.job_row(id.get()).await? else {
            return Ok(None);
        };
        let details = with_details(&self.db, vec![row])
            .await
            .with_context(|| format!("cannot load job {id}"))?;
        Ok(details.into_iter().next())
    }

    async fn find_assignment(&self, id: AssignmentId) -> anyhow::Result<Option<(Assignment, Job)>> {
        let backend = self.db.get_database_backend();
        let placeholder = match backend {
            DbBackend::Postgres => "$1",
            _ => "?",
        };
        let statement = Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT {} FROM job_assignments a JOIN jobs j ON j.id = a.job_id \
                 WHERE a.id = {placeholder}",
                prefixed_columns()
            ),
            [id.get().into()],
        );
        let Some(row) = self
            .db
            .query_one_raw(statement)
            .await
            .with_db_context(|| format!("cannot load assignment {id}"))?
        else {
            return Ok(None);
        };
        let (job, assignment) =
            job_and_assignment(&row).with_context(|| format!("cannot load assignment {id}"))?;
        Ok(Some((assignment, job)))
    }

    async fn has_requested(&self, user: UserId, job: JobId) -> anyhow::Result<bool> {
        let found = job_requests::Entity::find()
            .select_only()
            .column(job_requests::Column::Id)
            .filter(job_requests::Column::UserId.eq(user.get()))
            .filter(job_requests::Column::JobId.eq(job.get()))
            .into_tuple::<i32>()
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot look up requests for job {job}"))?;
        Ok(found.is_some())
    }

    async fn list_jobs(&self, query: JobQuery) -> anyhow::Result<JobPage> {
        self.job_page(query).await
    }

    async fn list_requests(
        &self,
        user: Option<UserId>,
        limit: u64,
    ) -> anyhow::Result<Vec<JobRequest>> {
        let mut select = job_requests::Entity::find();
        if let Some(user) = user {
            select = select.filter(job_requests::Column::UserId.eq(user.get()));
        }
        select
            .order_by_desc(job_requests::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .db_context("cannot list job requests")?
            .into_iter()
            .map(to_request)
            .collect()
    }

    async fn pending_jobs(
        &self,
        job_type: Option<JobTypeName>,
        limit: u64,
    ) -> anyhow::Result<Vec<Job>> {
        let types = job_type.map(|job_type| vec![job_type]);
        in_claim_order(claimable(types.as_deref()))
            .limit(limit)
            .all(&self.db)
            .await
            .db_context("cannot list pending jobs")?
            .into_iter()
            .map(to_job)
            .collect()
    }

    async fn pending_counts(&self) -> anyhow::Result<BTreeMap<JobTypeName, u64>> {
        pending_counts_query()
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await
            .db_context("cannot count pending jobs")?
            .into_iter()
            .map(|(job_type, pending)| {
                let pending = u64::try_from(pending)
                    .with_context(|| format!("negative count of pending {job_type} jobs"))?;
                Ok((to_job_type(&job_type)?, pending))
            })
            .collect()
    }

    async fn job_census(&self) -> anyhow::Result<JobCensus> {
        Ok(JobCensus {
            by_state: self.jobs_by_state().await?,
            queues: self.queues().await?,
        })
    }

    async fn assign_job(
        &self,
        id: JobId,
        worker: WorkerTag,
        storage: StorageBase,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AssignOutcome> {
        self.assign(id, &worker, &storage, now).await
    }

    async fn claim_jobs(&self, request: ClaimRequest) -> anyhow::Result<Vec<Claimed>> {
        self.claim_oldest(request).await
    }

    async fn apply_change(&self, change: JobChange) -> anyhow::Result<bool> {
        let job = change.job_id;
        self.apply(change)
            .await
            .with_context(|| format!("cannot change job {job}"))
    }

    async fn expired_leases(&self, now: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Job>> {
        jobs::Entity::find()
            .filter(Expr::col(jobs::Column::Status).eq(status_literal(JobStatus::InProgress)))
            .filter(jobs::Column::LeaseExpiresAt.lte(stored_time(now)))
            // Workflow jobs are watched by the engine, not leased to workers.
            .filter(Expr::col(jobs::Column::Workflow).is_null())
            .order_by_asc(jobs::Column::LeaseExpiresAt)
            .order_by_asc(jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .db_context("cannot list expired leases")?
            .into_iter()
            .map(to_job)
            .collect()
    }

    async fn stale_jobs(
        &self,
        created_before: DateTime<Utc>,
        types: &[JobTypeName],
        limit: u64,
    ) -> anyhow::Result<Vec<Job>> {
        let mut query = jobs::Entity::find()
            .filter(Expr::col(jobs::Column::Status).is_in([
                status_literal(JobStatus::Pending),
                status_literal(JobStatus::InProgress),
            ]))
            .filter(jobs::Column::CreatedAt.lt(stored_time(created_before)))
            // Workflow jobs are the engine's: cancelling stops their runs, timing out would not.
            .filter(Expr::col(jobs::Column::Workflow).is_null());
        if !types.is_empty() {
            query =
                query.filter(jobs::Column::JobType.is_in(types.iter().map(JobTypeName::as_str)));
        }
        query
            .order_by_asc(jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .db_context("cannot list stale jobs")?
            .into_iter()
            .map(to_job)
            .collect()
    }

    async fn invalidate_cache(&self, job_type: JobTypeName) -> anyhow::Result<u64> {
        let of_type = Query::select()
            .column(jobs::Column::Id)
            .from(jobs::Entity)
            .and_where(jobs::Column::JobType.eq(job_type.as_str()))
            .to_owned();
        let updated = job_results::Entity::update_many()
            .col_expr(job_results::Column::CacheValid, Expr::value(false))
            .filter(job_results::Column::CacheValid.eq(true))
            .filter(job_results::Column::JobId.in_subquery(of_type))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot invalidate {job_type} results"))?;
        Ok(updated.rows_affected)
    }

    async fn pending_workflow_jobs(&self, limit: u64) -> anyhow::Result<Vec<Job>> {
        self.pending_workflows(limit).await
    }

    async fn workflow_jobs(
        &self,
        which: WorkflowJobs,
        limit: u64,
    ) -> anyhow::Result<Vec<(Job, Assignment)>> {
        self.followed_workflows(which, limit).await
    }

    async fn workflow_attempts(&self, ids: Vec<JobId>) -> anyhow::Result<Vec<(Job, Assignment)>> {
        self.workflow_attempts_of(&ids).await
    }

    async fn start_workflow_runs(
        &self,
        starts: Vec<WorkflowStart>,
    ) -> anyhow::Result<Vec<Assignment>> {
        self.start_workflows(&starts).await
    }

    async fn record_engine_runs(
        &self,
        runs: Vec<(AssignmentId, String)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.record_runs(&runs, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "test-support")]
    use crate::repos::plans::{generic_plan, with_prepared};

    /// The query plan of `statement`, one line per step. On Postgres, sequential scans are
    /// forbidden for the query: with a handful of rows the planner would rightly scan, and the
    /// question is whether an index can serve the query at all.
    #[cfg(feature = "test-support")]
    async fn query_plan(store: &SeaOrmStore, statement: Statement) -> Vec<String> {
        use sea_orm::TransactionTrait as _;

        let backend = store.connection().get_database_backend();
        let (explain, column) = match backend {
            DbBackend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
            _ => ("EXPLAIN", "QUERY PLAN"),
        };
        let explained = Statement {
            sql: format!("{explain} {}", statement.sql),
            ..statement
        };
        let txn = store.connection().begin().await.expect("begin");
        if backend == DbBackend::Postgres {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .expect("set");
        }
        let rows = txn.query_all_raw(explained).await.expect("explain");
        txn.rollback().await.expect("rollback");
        rows.iter()
            .map(|row| row.try_get::<String>("", column).expect("plan line"))
            .collect()
    }

    /// Arguments of the claim statement: one slot, type `TEST`.
    #[cfg(feature = "test-support")]
    const CLAIM_ARGUMENTS: &str = r#"'[{"slot": 1, "request": 0, "now": "2026-03-01T12:00:00Z",
        "worker_id": 1, "task_arn": null, "cluster_arn": null, "scheme": "LOCAL",
        "root": "file:///results", "millis": "1"}]', 'TEST'"#;

    /// Arguments of the change statement: a heartbeat of job 1.
    #[cfg(feature = "test-support")]
    const CHANGE_ARGUMENTS: &str = r#"'[{"n": 0, "job_id": 1, "expected_version": 1,
        "status": "IN_PROGRESS", "attempts": 1, "lease": "2026-03-01T13:00:00Z",
        "now": "2026-03-01T12:00:00Z", "assignment_id": 1,
        "expires_at": "2026-03-01T13:00:00Z", "heartbeat_at": "2026-03-01T12:00:00Z",
        "has_result": false}]', 'channel'"#;

    /// Arguments of the submission lookup: a submission of a caching type. The creation
    /// statement takes the same submission, then the channel.
    #[cfg(feature = "test-support")]
    const SUBMIT_ARGUMENTS: &str = r#"'[{"i": 0, "now": "2026-03-01T12:00:00Z", "owner": 1,
        "type": "TEST", "payload": {"n": 1}, "hash": "c4ca4238a0b923820dcc509a6f75849b",
        "max_attempts": 3, "lease_seconds": 60, "lock_key": 7, "use_cache": true}]'"#;

    /// Whether Postgres settles on a generic plan for `statement` after some executions, rather
    /// than planning every execution anew (which costs more than running a small batch).
    #[cfg(feature = "test-support")]
    async fn keeps_a_generic_plan(
        store: &SeaOrmStore,
        statement: &Statement,
        arguments: &str,
    ) -> bool {
        let mut steps: Vec<String> = (0..8)
            .map(|_| format!("EXECUTE batch({arguments})"))
            .collect();
        steps.push(
            "SELECT (generic_plans > 0)::text FROM pg_prepared_statements WHERE name = 'batch'"
                .to_owned(),
        );
        with_prepared(store, statement, &steps).await == ["true"]
    }

    /// The batch statements keep one generic plan, and it reaches jobs and assignments by index
    /// even when made while the tables were empty and never analysed (a fresh install, or tables
    /// just truncated), so that it does not scan whole tables once they have grown before the
    /// next analysis. (Tables analysed while empty are planned as empty until analysed again, which
    /// autovacuum does once they have grown: no statement shape is safe from that.)
    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn batch_plans_never_scan_whole_tables() {
        use chrono::TimeZone as _;
        use reefguide_domain::job::{AssignmentId, JobState, StorageScheme};
        use reefguide_ports::repositories::AssignmentUpdate;

        let db =
            crate::test_support::TestDatabase::create(crate::test_support::TestBackend::Postgres)
                .await
                .expect("test database");
        let store = db.store();
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid");
        let claim = ClaimRequest {
            job_types: Some(vec![JobTypeName::parse("TEST").expect("valid name")]),
            worker: WorkerTag::account(UserId::new(1).expect("positive")),
            storage: StorageBase::new(StorageScheme::Local, "file:///results"),
            limit: 1,
            now,
        };
        let claims = claim::batch_claim_statement(&[claim]).expect("a statement");
        let change = JobChange {
            job_id: JobId::new(1).expect("positive"),
            expected_version: 1,
            state: JobState::new_pending(),
            now,
            assignment: Some(AssignmentUpdate {
                id: AssignmentId::new(1).expect("positive"),
                expires_at: None,
                heartbeat_at: Some(now),
                completed_at: None,
                progress: None,
                message: None,
            }),
            result: None,
        };
        let changes = change::change_statement(&[change]).expect("a statement");
        let lookups = submit_batch::reuse_or_lock(&[]);
        let creations = submit_batch::reuse_or_create(&[]);
        let create_arguments = format!("{SUBMIT_ARGUMENTS}, 'channel'");
        let batches = [
            (&claims, CLAIM_ARGUMENTS),
            (&changes, CHANGE_ARGUMENTS),
            (&lookups, SUBMIT_ARGUMENTS),
            (&creations, create_arguments.as_str()),
        ];
        for (statement, arguments) in batches {
            let plan = generic_plan(store, statement, arguments).await;
            for table in ["jobs", "job_assignments", "job_results"] {
                assert!(
                    !plan.contains(&format!("Seq Scan on {table} ")),
                    "a scan of {table}:\n{plan}"
                );
            }
        }
        // With a queue to claim from, Postgres must find the generic plan as good as planning
        // every batch anew.
        store
            .connection()
            .execute_unprepared(
                "INSERT INTO jobs (created_at, updated_at, type, status, user_id, input_payload, \
                     hash, attempts, max_attempts, lease_seconds, version) \
                 SELECT now(), now(), 'TEST', 'PENDING', 1, jsonb_build_object('n', n), \
                     md5(n::text), 0, 3, 60, 1 \
                 FROM generate_series(1, 5000) AS n",
            )
            .await
            .expect("jobs planted");
        for (statement, arguments) in batches {
            assert!(
                keeps_a_generic_plan(store, statement, arguments).await,
                "planned anew every time: {}",
                statement.sql
            );
        }
    }

    #[cfg(feature = "test-support")]
    #[rstest::rstest]
    #[tokio::test]
    async fn pending_counts_use_the_pending_index(
        #[values(
            crate::test_support::TestBackend::Sqlite,
            crate::test_support::TestBackend::Postgres
        )]
        backend: crate::test_support::TestBackend,
    ) {
        use sea_orm::QueryTrait as _;

        let db = crate::test_support::TestDatabase::create(backend)
            .await
            .expect("test database");
        let store = db.store();
        let statement = pending_counts_query().build(store.connection().get_database_backend());
        let plan = query_plan(store, statement).await;
        assert!(
            plan.iter().any(|line| line.contains("idx_jobs_pending")),
            "{plan:#?}"
        );
    }
}
