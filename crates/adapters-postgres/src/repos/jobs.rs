//! [`JobRepository`] for [`SeaOrmStore`].
//!
//! The job state machine lives in the domain; this file makes its transitions atomic:
//! - **submissions** run in one write transaction that finds a reusable job, or creates one, and
//!   records the request. On Postgres a lookup that finds nothing takes a transaction-scoped
//!   advisory lock derived from the payload hash and looks again before creating the job, so
//!   identical submissions create one job while cache hits and different submissions never wait
//!   for each other; on SQLite the `IMMEDIATE` transaction serialises every writer anyway;
//! - **claims** (`claim`) are one statement on Postgres and one `IMMEDIATE` transaction on
//!   SQLite;
//! - **every other change** is a compare-and-set on `jobs.version`, with the assignment update and
//!   the result insert in the same transaction.
//!
//! On Postgres, every transaction that makes a job claimable (a new job, a re-queue) sends a
//! notification on the `reefguide_jobs` channel, delivered when it commits, which
//! [`SeaOrmStore::listen_for_changes`] relays to waiting claimers of every server instance.

mod claim;
mod listing;
mod rows;

use std::collections::BTreeMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::UserId;
use reefguide_domain::job::{
    Assignment, AssignmentId, Job, JobDetails, JobId, JobRequest, JobStatus, PayloadHash,
    StorageBase,
};
use reefguide_ports::repositories::{
    AssignOutcome, AssignmentUpdate, ClaimRequest, Claimed, JobChange, JobPage, JobQuery,
    JobRepository, NewJob, NewResult, Submission, WorkerTag,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, ConnectionTrait as _, DatabaseTransaction, DbBackend,
    EntityTrait as _, Order, QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement,
};

use self::claim::{Claim, Pick, claimable, in_claim_order};
use self::listing::with_details;
use self::rows::{stored_attempts, stored_lease, stored_policy, to_assignment, to_job, to_request};
use super::{job_id, job_request_id, stored_time};
use crate::SeaOrmStore;
use crate::entities::{job_assignments, job_requests, job_results, jobs};
use crate::errors::db_error;
use crate::notify::JOB_CHANNEL;

/// A status as an SQL literal rather than a bound parameter, so that Postgres can match the
/// partial indexes on `status` (a parameter could not be proven equal to their predicate).
/// Status names are constants of the domain (`[A-Z_]+`), never user input.
fn status_literal(status: JobStatus) -> Expr {
    Expr::cust(format!("'{}'", status.as_str()))
}

/// The Postgres advisory-lock key of a payload hash: its first 64 bits. A hash that is not hex
/// (never written by this crate) falls back to an FNV-1a digest of its text.
fn advisory_lock_key(hash: &PayloadHash) -> i64 {
    let text = hash.as_str();
    let bits = text
        .get(..16)
        .and_then(|prefix| u64::from_str_radix(prefix, 16).ok())
        .unwrap_or_else(|| {
            text.bytes().fold(0xcbf2_9ce4_8422_2325, |digest, byte| {
                (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            })
        });
    i64::from_be_bytes(bits.to_be_bytes())
}

/// Runs one raw Postgres statement in `txn`.
async fn execute_postgres(
    txn: &DatabaseTransaction,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<(), sea_orm::DbErr> {
    txn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .map(|_| ())
}

/// Waits (Postgres) until no other transaction holds the submission lock of this hash; the lock
/// is released when `txn` ends.
async fn lock_hash(txn: &DatabaseTransaction, hash: &PayloadHash) -> anyhow::Result<()> {
    execute_postgres(
        txn,
        "SELECT pg_advisory_xact_lock($1)",
        vec![advisory_lock_key(hash).into()],
    )
    .await
    .map_err(|err| db_error("cannot take the submission lock", err))
}

/// Notifies (Postgres, on commit) listeners that a job of this type became claimable.
async fn notify_claimable(txn: &DatabaseTransaction, job_type: &str) -> anyhow::Result<()> {
    execute_postgres(
        txn,
        "SELECT pg_notify($1, $2)",
        vec![JOB_CHANNEL.into(), job_type.into()],
    )
    .await
    .map_err(|err| db_error("cannot notify job listeners", err))
}

/// The job an identical submission may reuse: same hash and type, and `PENDING`, `IN_PROGRESS`
/// or `SUCCEEDED` with a cache-valid result; a `SUCCEEDED` one first, then the newest.
async fn find_reusable(txn: &DatabaseTransaction, new_job: &NewJob) -> anyhow::Result<Option<i32>> {
    let valid_result = Query::select()
        .expr(Expr::val(1))
        .from(job_results::Entity)
        .and_where(
            Expr::col((job_results::Entity, job_results::Column::JobId))
                .equals((jobs::Entity, jobs::Column::Id)),
        )
        .and_where(Expr::col((job_results::Entity, job_results::Column::CacheValid)).eq(true))
        .to_owned();
    let succeeded = || status_literal(JobStatus::Succeeded);
    let reusable = Condition::any()
        .add(Expr::col(jobs::Column::Status).eq(status_literal(JobStatus::Pending)))
        .add(Expr::col(jobs::Column::Status).eq(status_literal(JobStatus::InProgress)))
        .add(
            Condition::all()
                .add(Expr::col(jobs::Column::Status).eq(succeeded()))
                .add(Expr::exists(valid_result)),
        );
    let succeeded_first: Expr = Expr::case(Expr::col(jobs::Column::Status).eq(succeeded()), 0)
        .finally(1)
        .into();
    jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .filter(jobs::Column::Hash.eq(new_job.hash.as_str()))
        .filter(jobs::Column::JobType.eq(new_job.job_type.as_str()))
        .filter(reusable)
        .order_by(succeeded_first, Order::Asc)
        .order_by_desc(jobs::Column::Id)
        .into_tuple::<i32>()
        .one(txn)
        .await
        .map_err(|err| db_error("cannot look up a cached job", err))
}

/// Inserts a new `PENDING` job.
async fn insert_job(
    txn: &DatabaseTransaction,
    new_job: &NewJob,
    now: DateTime<Utc>,
) -> anyhow::Result<i32> {
    let (max_attempts, lease_seconds) = stored_policy(&new_job.policy)?;
    let row = jobs::ActiveModel {
        id: NotSet,
        created_at: Set(now),
        updated_at: Set(now),
        job_type: Set(new_job.job_type.clone()),
        status: Set(JobStatus::Pending.as_str().to_owned()),
        user_id: Set(new_job.owner.get()),
        input_payload: Set(new_job.input_payload.clone()),
        hash: Set(new_job.hash.as_str().to_owned()),
        attempts: Set(0),
        max_attempts: Set(max_attempts),
        lease_seconds: Set(lease_seconds),
        lease_expires_at: Set(None),
        current_assignment_id: Set(None),
        version: Set(0),
    };
    let inserted = jobs::Entity::insert(row)
        .exec(txn)
        .await
        .map_err(|err| db_error("cannot insert the job", err))?;
    Ok(inserted.last_insert_id)
}

/// Records a submission of `new_job` served by job `job`.
async fn insert_request(
    txn: &DatabaseTransaction,
    new_job: &NewJob,
    job: i32,
    cache_hit: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<i32> {
    let row = job_requests::ActiveModel {
        id: NotSet,
        created_at: Set(now),
        user_id: Set(new_job.owner.get()),
        job_type: Set(new_job.job_type.clone()),
        input_payload: Set(new_job.input_payload.clone()),
        cache_hit: Set(cache_hit),
        job_id: Set(job),
    };
    let inserted = job_requests::Entity::insert(row)
        .exec(txn)
        .await
        .map_err(|err| db_error("cannot insert the job request", err))?;
    Ok(inserted.last_insert_id)
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
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    use job_assignments::Column;
    let mut statement = job_assignments::Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(stored_time(now)));
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
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let row = job_results::ActiveModel {
        id: NotSet,
        created_at: Set(stored_time(now)),
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

/// Notifies (Postgres, on commit) listeners that this job became claimable again.
async fn notify_requeued(txn: &DatabaseTransaction, job: JobId) -> anyhow::Result<()> {
    execute_postgres(
        txn,
        "SELECT pg_notify($1, \"type\") FROM jobs WHERE id = $2",
        vec![JOB_CHANNEL.into(), job.get().into()],
    )
    .await
    .map_err(|err| db_error("cannot notify job listeners", err))
}

impl SeaOrmStore {
    /// Whether this store talks to Postgres.
    fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// The body of [`JobRepository::submit_job`].
    async fn submit(&self, new_job: &NewJob) -> anyhow::Result<Submission> {
        let now = stored_time(new_job.now);
        let txn = self
            .begin_write()
            .await
            .map_err(|err| db_error("cannot begin", err))?;
        let reused = self.reusable_job(&txn, new_job).await?;
        let job = match reused {
            Some(job) => job,
            None => insert_job(&txn, new_job, now).await?,
        };
        let request = insert_request(&txn, new_job, job, reused.is_some(), now).await?;
        if self.is_postgres() && reused.is_none() {
            notify_claimable(&txn, &new_job.job_type).await?;
        }
        txn.commit()
            .await
            .map_err(|err| db_error("cannot commit", err))?;
        Ok(Submission {
            job_id: job_id(job)?,
            cached: reused.is_some(),
            request_id: job_request_id(request)?,
        })
    }

    /// The job a submission reuses, if any (none without `use_cache`). Hits never wait: a job
    /// found is reusable at that instant. Before a miss becomes a new job, identical submissions
    /// are serialised and the lookup repeated, so that only the first of them creates the job: on
    /// Postgres by an advisory lock per hash, held until `txn` ends; on SQLite the `IMMEDIATE`
    /// transaction already holds the database's only write lock, so the first lookup is final.
    async fn reusable_job(
        &self,
        txn: &DatabaseTransaction,
        new_job: &NewJob,
    ) -> anyhow::Result<Option<i32>> {
        if !new_job.use_cache {
            return Ok(None);
        }
        let found = find_reusable(txn, new_job).await?;
        if found.is_some() || !self.is_postgres() {
            return Ok(found);
        }
        lock_hash(txn, &new_job.hash).await?;
        find_reusable(txn, new_job).await
    }

    /// The body of [`JobRepository::apply_change`].
    async fn apply(&self, change: &JobChange) -> anyhow::Result<bool> {
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
            update_assignment(&txn, change.job_id, update, change.now).await?;
        }
        if let Some(result) = &change.result {
            insert_result(&txn, change.job_id, result, change.now).await?;
        }
        if self.is_postgres() && change.state.status() == JobStatus::Pending {
            notify_requeued(&txn, change.job_id).await?;
        }
        txn.commit()
            .await
            .map_err(|err| db_error("cannot commit", err))?;
        Ok(true)
    }

    /// The stored job row, if any.
    async fn job_row(&self, id: i32) -> anyhow::Result<Option<jobs::Model>> {
        jobs::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(|err| db_error(format!("cannot load job {id}"), err))
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

#[async_trait]
impl JobRepository for SeaOrmStore {
    async fn submit_job(&self, new_job: NewJob) -> anyhow::Result<Submission> {
        self.submit(&new_job)
            .await
            .with_context(|| format!("cannot submit a {} job", new_job.job_type))
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
        let Some(row) = job_assignments::Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .map_err(|err| db_error(format!("cannot load assignment {id}"), err))?
        else {
            return Ok(None);
        };
        let job = self
            .job_row(row.job_id)
            .await?
            .with_context(|| format!("the job of assignment {id} does not exist"))?;
        Ok(Some((to_assignment(row)?, to_job(job)?)))
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
            .map_err(|err| db_error(format!("cannot look up requests for job {job}"), err))?;
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
            .map_err(|err| db_error("cannot list job requests", err))?
            .into_iter()
            .map(to_request)
            .collect()
    }

    async fn pending_jobs(&self, job_type: Option<String>, limit: u64) -> anyhow::Result<Vec<Job>> {
        let types = job_type.map(|job_type| vec![job_type]);
        in_claim_order(claimable(types.as_deref()))
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(|err| db_error("cannot list pending jobs", err))?
            .into_iter()
            .map(to_job)
            .collect()
    }

    async fn pending_counts(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        pending_counts_query()
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await
            .map_err(|err| db_error("cannot count pending jobs", err))?
            .into_iter()
            .map(|(job_type, pending)| {
                let pending = u64::try_from(pending)
                    .with_context(|| format!("negative count of pending {job_type} jobs"))?;
                Ok((job_type, pending))
            })
            .collect()
    }

    async fn assign_job(
        &self,
        id: JobId,
        worker: WorkerTag,
        storage: StorageBase,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AssignOutcome> {
        let claim = Claim {
            pick: Pick::One(id),
            worker: &worker,
            storage: &storage,
            now: stored_time(now),
        };
        if let Some(claimed) = self.claim(claim).await?.into_iter().next() {
            return Ok(AssignOutcome::Assigned(Box::new(claimed)));
        }
        Ok(match self.job_row(id.get()).await? {
            Some(_) => AssignOutcome::NotAvailable,
            None => AssignOutcome::NotFound,
        })
    }

    async fn claim_jobs(&self, request: ClaimRequest) -> anyhow::Result<Vec<Claimed>> {
        self.claim(Claim {
            pick: Pick::Oldest {
                job_types: request.job_types.as_deref(),
                limit: request.limit,
            },
            worker: &request.worker,
            storage: &request.storage,
            now: stored_time(request.now),
        })
        .await
    }

    async fn apply_change(&self, change: JobChange) -> anyhow::Result<bool> {
        self.apply(&change)
            .await
            .with_context(|| format!("cannot change job {}", change.job_id))
    }

    async fn expired_leases(&self, now: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Job>> {
        jobs::Entity::find()
            .filter(Expr::col(jobs::Column::Status).eq(status_literal(JobStatus::InProgress)))
            .filter(jobs::Column::LeaseExpiresAt.lte(stored_time(now)))
            .order_by_asc(jobs::Column::LeaseExpiresAt)
            .order_by_asc(jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(|err| db_error("cannot list expired leases", err))?
            .into_iter()
            .map(to_job)
            .collect()
    }

    async fn invalidate_cache(&self, job_type: String) -> anyhow::Result<u64> {
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
            .map_err(|err| db_error(format!("cannot invalidate {job_type} results"), err))?;
        Ok(updated.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn lock_keys_come_from_the_first_64_bits() {
        let hash = PayloadHash::from_stored(format!("ffffffffffffffff{}", "0".repeat(48)));
        assert_eq!(advisory_lock_key(&hash), -1);
        let hash = PayloadHash::from_stored(format!("0000000000000001{}", "f".repeat(48)));
        assert_eq!(advisory_lock_key(&hash), 1);
        // Not hex: still a stable key.
        let odd = PayloadHash::from_stored("not a hash".to_owned());
        assert_eq!(advisory_lock_key(&odd), advisory_lock_key(&odd));
    }
}
