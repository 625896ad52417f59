//! Claims: giving claimable jobs to workers, atomically.
//!
//! On Postgres a claim is one statement (a data-modifying CTE): it picks the jobs, inserts their
//! assignments and moves the jobs to `IN_PROGRESS`. Concurrent claims of the oldest jobs share
//! one such statement ([`ClaimBatch`]): its jobs go to the claims in the order they arrived, the
//! oldest job to the first. The oldest claimable jobs are picked `FOR NO
//! KEY UPDATE SKIP LOCKED`, so concurrent claimers never wait for each other's rows and never get
//! the same job. One job by id is picked the same way: while another transaction holds the job's
//! row (a concurrent claim or cancellation, after which the job is no longer claimable anyway)
//! the job is not available at once, rather than after waiting for that transaction, so that R1's
//! workers, who all try the same oldest jobs, lose a race in one round trip instead of queueing
//! behind the winner's commit. (`NO KEY UPDATE` rather than `UPDATE`: the id never
//! changes, and the key-share locks of concurrent inserts referring to the job, such as a cache
//! hit's request, neither block a claim nor make it skip the job.) On SQLite the same steps run in
//! one `IMMEDIATE` transaction, which holds the database's single write lock from the first read,
//! so claimers are serialised.
//!
//! Both apply exactly `JobState::claim`: `PENDING` with attempts below the maximum becomes
//! `IN_PROGRESS` with one more attempt, a lease of the policy's length, and a new assignment whose
//! storage location is `StorageBase::location_for(type, id, now)`.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{Job, JobId, JobStatus, StorageBase};
use reefguide_ports::repositories::{ClaimRequest, Claimed, WorkerTag};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Select, Statement,
    Value,
};

use super::rows::{
    job_and_assignment, prefixed_columns, stored_attempts, stored_lease, to_assignment, to_job,
};
use super::status_literal;
use crate::SeaOrmStore;
use crate::batch::Batch;
use crate::entities::{job_assignments, jobs};
use crate::errors::db_error;
use crate::repos::stored_time;

/// Which jobs a claim takes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pick<'a> {
    /// Up to `limit` of the oldest claimable jobs, of these types only when given.
    Oldest {
        /// Only these types (`None`: any).
        job_types: Option<&'a [String]>,
        /// Most jobs to take.
        limit: u64,
    },
    /// This job, if it is claimable.
    One(JobId),
}

/// A claim to make.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim<'a> {
    /// Which jobs.
    pub pick: Pick<'a>,
    /// Who claims them.
    pub worker: &'a WorkerTag,
    /// Where their results go.
    pub storage: &'a StorageBase,
    /// The claim time, as stored.
    pub now: DateTime<Utc>,
}

impl Claim<'_> {
    /// Whether the claim cannot take anything (a zero limit, or an empty type list).
    fn is_empty(&self) -> bool {
        match self.pick {
            Pick::Oldest { job_types, limit } => {
                limit == 0 || job_types.is_some_and(<[String]>::is_empty)
            }
            Pick::One(_) => false,
        }
    }

    /// What the claim is, for error messages.
    fn describe(&self) -> String {
        match self.pick {
            Pick::Oldest { .. } => "cannot claim jobs".to_owned(),
            Pick::One(id) => format!("cannot assign job {id}"),
        }
    }
}

/// The claimable jobs (`PENDING`, attempts left), optionally of some types. The status is a
/// literal so that Postgres can use the partial index on pending jobs.
pub(super) fn claimable(job_types: Option<&[String]>) -> Select<jobs::Entity> {
    let mut select = jobs::Entity::find()
        .filter(Expr::col(jobs::Column::Status).eq(status_literal(JobStatus::Pending)))
        .filter(Expr::col(jobs::Column::Attempts).lt(Expr::col(jobs::Column::MaxAttempts)));
    if let Some(types) = job_types {
        select = select.filter(jobs::Column::JobType.is_in(types.iter().cloned()));
    }
    select
}

/// Claimable jobs in claim order: oldest first.
pub(super) fn in_claim_order(select: Select<jobs::Entity>) -> Select<jobs::Entity> {
    select
        .order_by_asc(jobs::Column::CreatedAt)
        .order_by_asc(jobs::Column::Id)
}

/// What a claim took.
#[derive(Debug, Default)]
pub(super) struct ClaimOutcome {
    /// The claimed jobs, oldest first.
    pub claimed: Vec<Claimed>,
    /// For a claim of one job by id that took nothing, whether the job exists, when the claim
    /// already found out (Postgres answers it in the claim statement).
    pub job_exists: Option<bool>,
}

impl SeaOrmStore {
    /// Makes the claim.
    pub(super) async fn claim(&self, claim: Claim<'_>) -> anyhow::Result<ClaimOutcome> {
        if claim.is_empty() {
            return Ok(ClaimOutcome::default());
        }
        let unknown_existence = |claimed| ClaimOutcome {
            claimed,
            job_exists: None,
        };
        match (self.db.get_database_backend(), claim.pick) {
            (DbBackend::Sqlite, _) => self
                .claim_in_transaction(claim)
                .await
                .map(unknown_existence),
            (_, Pick::One(id)) => assign_in_one_statement(&self.db, id, &claim).await,
            (_, Pick::Oldest { job_types, limit }) => {
                let request = ClaimRequest {
                    job_types: job_types.map(<[String]>::to_vec),
                    worker: claim.worker.clone(),
                    storage: claim.storage.clone(),
                    limit,
                    now: claim.now,
                };
                self.batches
                    .claims
                    .call(request)
                    .await
                    .map(unknown_existence)
            }
        }
        .with_context(|| claim.describe())
    }

    /// The SQLite claim: the same steps as the Postgres statement, in one `IMMEDIATE`
    /// transaction.
    async fn claim_in_transaction(&self, claim: Claim<'_>) -> anyhow::Result<Vec<Claimed>> {
        let txn = self
            .begin_write()
            .await
            .map_err(|err| db_error("cannot begin", err))?;
        let select = match claim.pick {
            Pick::Oldest { job_types, limit } => in_claim_order(claimable(job_types)).limit(limit),
            Pick::One(id) => claimable(None).filter(jobs::Column::Id.eq(id.get())),
        };
        let rows = select
            .all(&*txn)
            .await
            .map_err(|err| db_error("cannot select claimable jobs", err))?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            claimed.push(claim_row(&txn, row, &claim).await?);
        }
        txn.commit()
            .await
            .map_err(|err| db_error("cannot commit", err))?;
        Ok(claimed)
    }
}

/// Claims one (claimable, locked) job row inside `txn`.
async fn claim_row(
    txn: &DatabaseTransaction,
    row: jobs::Model,
    claim: &Claim<'_>,
) -> anyhow::Result<Claimed> {
    let job = to_job(row)?;
    let state = job.state.claim(claim.now, &job.policy)?;
    let expires_at = stored_lease(&state).context("a claimed job has no lease")?;
    let storage = claim.storage.location_for(&job.job_type, job.id, claim.now);
    let assignment = job_assignments::ActiveModel {
        id: NotSet,
        created_at: Set(claim.now),
        updated_at: Set(claim.now),
        job_id: Set(job.id.get()),
        worker_id: Set(claim.worker.user_id.get()),
        ecs_task_arn: Set(claim.worker.ecs_task_arn.clone()),
        ecs_cluster_arn: Set(claim.worker.ecs_cluster_arn.clone()),
        expires_at: Set(expires_at),
        storage_scheme: Set(storage.scheme.as_str().to_owned()),
        storage_uri: Set(storage.uri),
        heartbeat_at: Set(None),
        completed_at: Set(None),
        progress: Set(None),
        message: Set(None),
    };
    let assignment = job_assignments::Entity::insert(assignment)
        .exec_with_returning(txn)
        .await
        .map_err(|err| {
            db_error(
                format!("cannot insert an assignment of job {}", job.id),
                err,
            )
        })?;
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(state.status().as_str()))
        .col_expr(
            jobs::Column::Attempts,
            Expr::value(stored_attempts(&state)?),
        )
        .col_expr(jobs::Column::LeaseExpiresAt, Expr::value(Some(expires_at)))
        .col_expr(
            jobs::Column::CurrentAssignmentId,
            Expr::value(Some(assignment.id)),
        )
        .col_expr(jobs::Column::UpdatedAt, Expr::value(claim.now))
        .col_expr(
            jobs::Column::Version,
            Expr::col(jobs::Column::Version).add(1),
        )
        .filter(jobs::Column::Id.eq(job.id.get()))
        .exec(txn)
        .await
        .map_err(|err| db_error(format!("cannot mark job {} as claimed", job.id), err))?;
    let assignment = to_assignment(assignment)?;
    Ok(Claimed {
        job: Job {
            state,
            updated_at: claim.now,
            current_assignment: Some(assignment.id),
            version: job.version.saturating_add(1),
            ..job
        },
        assignment,
    })
}

/// The Postgres assignment of one job by id: one statement, answering whether the job exists
/// when it could not be claimed.
async fn assign_in_one_statement(
    db: &DatabaseConnection,
    id: JobId,
    claim: &Claim<'_>,
) -> anyhow::Result<ClaimOutcome> {
    let row = db
        .query_one_raw(assign_statement(id, claim))
        .await
        .map_err(|err| db_error("cannot run the assignment statement", err))?
        .context("the assignment statement returned no row")?;
    let read = |err| db_error("cannot read the assignment statement's answer", err);
    let mut outcome = ClaimOutcome {
        claimed: Vec::new(),
        job_exists: Some(row.try_get("", "job_exists").map_err(read)?),
    };
    if row
        .try_get::<Option<i32>>("", "j_id")
        .map_err(read)?
        .is_some()
    {
        let (job, assignment) = job_and_assignment(&row)?;
        outcome.claimed.push(Claimed { job, assignment });
    }
    Ok(outcome)
}

/// The statement assigning job `$8` if it is claimable (see the module documentation).
/// Parameters: `$1` now, `$2` task ARN, `$3` cluster ARN, `$4` storage scheme, `$5` storage
/// root, `$6` claim time in epoch milliseconds, `$7` the claiming account, `$8` the job. Always
/// one row: `job_exists`, and the claim's columns (null when nothing was claimed). The storage
/// URI is built exactly as `StorageBase::location_for` builds it (type names are ASCII, so
/// `lower` agrees with Rust's lower-casing).
fn assign_statement(id: JobId, claim: &Claim<'_>) -> Statement {
    let values: Vec<Value> = vec![
        claim.now.into(),
        claim.worker.ecs_task_arn.clone().into(),
        claim.worker.ecs_cluster_arn.clone().into(),
        claim.storage.scheme.as_str().into(),
        claim.storage.root.clone().into(),
        claim.now.timestamp_millis().to_string().into(),
        claim.worker.user_id.get().into(),
        id.get().into(),
    ];
    let sql = format!(
        "WITH picked AS ( \
             SELECT id FROM jobs \
             WHERE id = $8 AND status = 'PENDING' AND attempts < max_attempts \
             FOR NO KEY UPDATE SKIP LOCKED \
         ), \
         assigned AS ( \
             INSERT INTO job_assignments (created_at, updated_at, job_id, worker_id, \
                 ecs_task_arn, ecs_cluster_arn, expires_at, storage_scheme, storage_uri) \
             SELECT $1, $1, j.id, $7, $2, $3, $1 + j.lease_seconds * interval '1 second', $4, \
                 $5 || '/' || lower(j.\"type\") || '/' || j.id::text || '/' || $6 \
             FROM jobs j JOIN picked p ON p.id = j.id \
             RETURNING * \
         ), \
         updated AS ( \
             UPDATE jobs j SET status = 'IN_PROGRESS', attempts = j.attempts + 1, \
                 lease_expires_at = a.expires_at, current_assignment_id = a.id, \
                 updated_at = $1, version = j.version + 1 \
             FROM assigned a WHERE j.id = a.job_id \
             RETURNING j.* \
         ), \
         claimed AS (SELECT {columns} FROM updated j JOIN assigned a ON a.job_id = j.id) \
         SELECT c.*, e.job_exists \
         FROM (SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $8) AS job_exists) AS e \
         LEFT JOIN claimed AS c ON true",
        columns = prefixed_columns(),
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Most jobs one batch of claims takes.
const MAX_BATCH_JOBS: u64 = 256;

/// Postgres claims of the oldest claimable jobs, run in batches of one statement
/// ([`crate::batch`]). Claims share a batch when they name the same job types.
#[derive(Debug, Clone)]
pub(crate) struct ClaimBatch {
    /// The pool the statements run on.
    pub db: DatabaseConnection,
}

impl Batch for ClaimBatch {
    type Request = ClaimRequest;
    type Response = Vec<Claimed>;

    const MAX_BATCH: usize = 64;
    // Concurrent claim statements skip each other's rows, never wait for them.
    const MAX_IN_FLIGHT: usize = 2;

    fn may_join(&self, batch: &[ClaimRequest], next: &ClaimRequest) -> bool {
        let jobs = batch
            .iter()
            .chain([next])
            .fold(0_u64, |jobs, request| jobs.saturating_add(request.limit));
        next.job_types == batch[0].job_types && jobs <= MAX_BATCH_JOBS
    }

    async fn run_together(
        &self,
        batch: &[ClaimRequest],
    ) -> anyhow::Result<Vec<anyhow::Result<Vec<Claimed>>>> {
        Ok(claim_batch(&self.db, batch)
            .await?
            .into_iter()
            .map(Ok)
            .collect())
    }
}

/// Runs `claims` (of the same job types) as one statement; the jobs each one got, in order.
async fn claim_batch(
    db: &DatabaseConnection,
    claims: &[ClaimRequest],
) -> anyhow::Result<Vec<Vec<Claimed>>> {
    let mut answers: Vec<Vec<Claimed>> = claims.iter().map(|_| Vec::new()).collect();
    let Some(statement) = batch_claim_statement(claims) else {
        return Ok(answers);
    };
    let rows = db
        .query_all_raw(statement)
        .await
        .map_err(|err| db_error("cannot run the claim statement", err))
        .context("cannot claim jobs")?;
    for row in &rows {
        let request: i32 = row
            .try_get("", "request")
            .map_err(|err| db_error("cannot read the claim statement's answer", err))?;
        let answer = usize::try_from(request)
            .ok()
            .and_then(|request| answers.get_mut(request))
            .with_context(|| format!("the claim statement answered unknown claim {request}"))?;
        let (job, assignment) = job_and_assignment(row)?;
        answer.push(Claimed { job, assignment });
    }
    Ok(answers)
}

/// The statement of a batch of claims, or `None` when they cannot take anything. `$1` is a JSON
/// array of the jobs' slots: for each job a claim may take (a claim asking for three jobs has
/// three slots), its claim's index, claim time, account, task and cluster ARNs, storage scheme,
/// root and the claim time in epoch milliseconds; then the job types if any. The oldest
/// claimable jobs, one per slot, are numbered in claim order and slot `n` gets job `n`. The
/// answer: the claimed jobs with their assignments and claim index, in slot order. The storage
/// URI is built exactly as `StorageBase::location_for` builds it (type names are ASCII, so
/// `lower` agrees with Rust's lower-casing).
pub(super) fn batch_claim_statement(claims: &[ClaimRequest]) -> Option<Statement> {
    let first = claims.first()?;
    let mut slots = Vec::new();
    for (index, claim) in claims.iter().enumerate() {
        let now = stored_time(claim.now);
        let slot = serde_json::json!({
            "request": index,
            "now": now,
            "worker_id": claim.worker.user_id.get(),
            "task_arn": claim.worker.ecs_task_arn,
            "cluster_arn": claim.worker.ecs_cluster_arn,
            "scheme": claim.storage.scheme.as_str(),
            "root": claim.storage.root,
            "millis": now.timestamp_millis().to_string(),
        });
        let limit = usize::try_from(Ord::min(claim.limit, MAX_BATCH_JOBS)).unwrap_or(0);
        slots.extend(std::iter::repeat_n(slot, limit));
    }
    if slots.is_empty() || first.job_types.as_ref().is_some_and(Vec::is_empty) {
        return None;
    }
    let slots: Vec<serde_json::Value> = slots
        .into_iter()
        .zip(1_i64..)
        .map(|(mut slot, number)| {
            slot["slot"] = number.into();
            slot
        })
        .collect();
    let mut values: Vec<Value> = vec![serde_json::Value::from(slots).into()];
    let type_filter = match &first.job_types {
        Some(types) => {
            let placeholders: Vec<String> = (0..types.len())
                .map(|index| format!("${}", values.len() + 1 + index))
                .collect();
            values.extend(types.iter().cloned().map(Value::from));
            format!(" AND \"type\" IN ({})", placeholders.join(", "))
        }
        None => String::new(),
    };
    // The batch's jobs are reached by index (`= ANY` of their ids), never by a join that a
    // generic plan made on a nearly empty table would turn into a scan of the whole table. The
    // limit is a subquery rather than a parameter, so that the generic plan costs what custom
    // ones do and Postgres keeps it instead of planning every batch anew.
    let sql = format!(
        "WITH slots AS ( \
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS s(slot bigint, request int, \
                 now timestamptz, worker_id int, task_arn text, cluster_arn text, scheme text, \
                 root text, millis text) \
         ), \
         locked AS ( \
             SELECT id, created_at, \"type\", lease_seconds FROM jobs \
             WHERE status = 'PENDING' AND attempts < max_attempts{type_filter} \
             ORDER BY created_at, id LIMIT (SELECT count(*) FROM slots) \
             FOR NO KEY UPDATE SKIP LOCKED \
         ), \
         picked AS ( \
             SELECT id, \"type\", lease_seconds, \
                 row_number() OVER (ORDER BY created_at, id) AS slot \
             FROM locked \
         ), \
         assigned AS ( \
             INSERT INTO job_assignments (created_at, updated_at, job_id, worker_id, \
                 ecs_task_arn, ecs_cluster_arn, expires_at, storage_scheme, storage_uri) \
             SELECT s.now, s.now, p.id, s.worker_id, s.task_arn, s.cluster_arn, \
                 s.now + p.lease_seconds * interval '1 second', s.scheme, \
                 s.root || '/' || lower(p.\"type\") || '/' || p.id::text || '/' || s.millis \
             FROM picked p JOIN slots s ON s.slot = p.slot \
             RETURNING * \
         ), \
         updated AS ( \
             UPDATE jobs j SET status = 'IN_PROGRESS', attempts = j.attempts + 1, \
                 lease_expires_at = a.expires_at, current_assignment_id = a.id, \
                 updated_at = a.created_at, version = j.version + 1 \
             FROM assigned a \
             WHERE j.id = ANY (ARRAY(SELECT id FROM picked)) AND j.id = a.job_id \
             RETURNING j.* \
         ) \
         SELECT {columns}, s.request \
         FROM updated j JOIN assigned a ON a.job_id = j.id JOIN picked p ON p.id = j.id \
             JOIN slots s ON s.slot = p.slot \
         ORDER BY s.slot",
        columns = prefixed_columns(),
    );
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}
