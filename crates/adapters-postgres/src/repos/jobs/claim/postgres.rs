//! Postgres claims: each one statement (a data-modifying CTE built from [`super::sql`]), claims
//! of the oldest jobs batched ([`ClaimBatch`]).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{JobId, StorageBase};
use reefguide_ports::repositories::{AssignOutcome, ClaimRequest, Claimed, WorkerTag};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement, Value};

use super::sql::{ClaimValues, claimable, claimed_state, insert_assignments};
use crate::batch::Batch;
use crate::errors::DbContext as _;
use crate::repos::jobs::rows::{job_and_assignment, prefixed_columns};

/// Assigns job `id` to `worker` at `now` (as stored) if it is claimable: one statement, which
/// also answers whether the job exists when it could not be claimed.
pub(super) async fn assign(
    db: &DatabaseConnection,
    id: JobId,
    worker: &WorkerTag,
    storage: &StorageBase,
    now: DateTime<Utc>,
) -> anyhow::Result<AssignOutcome> {
    const READ: &str = "cannot read the assignment statement's answer";
    let row = db
        .query_one_raw(assign_statement(id, worker, storage, now))
        .await
        .db_context("cannot run the assignment statement")?
        .context("the assignment statement returned no row")?;
    let job_exists: bool = row.try_get("", "job_exists").db_context(READ)?;
    let claimed = row.try_get::<Option<i32>>("", "j_id").db_context(READ)?;
    Ok(match (claimed, job_exists) {
        (Some(_), _) => {
            let (job, assignment) = job_and_assignment(&row)?;
            AssignOutcome::Assigned(Box::new(Claimed { job, assignment }))
        }
        (None, true) => AssignOutcome::NotAvailable,
        (None, false) => AssignOutcome::NotFound,
    })
}

/// The new assignment's values in [`assign_statement`]: its parameters.
const PARAMETERS: ClaimValues = ClaimValues {
    now: "$1",
    task_arn: "$2",
    cluster_arn: "$3",
    scheme: "$4",
    root: "$5",
    millis: "$6",
    worker_id: "$7",
};

/// The statement assigning job `$8` if it is claimable (see the module documentation of
/// `claim`). Parameters: `$1` now, `$2` task ARN, `$3` cluster ARN, `$4` storage scheme, `$5`
/// storage root, `$6` claim time in epoch milliseconds, `$7` the claiming account, `$8` the job.
/// Always one row: `job_exists`, and the claim's columns (null when nothing was claimed).
fn assign_statement(
    id: JobId,
    worker: &WorkerTag,
    storage: &StorageBase,
    now: DateTime<Utc>,
) -> Statement {
    let values: Vec<Value> = vec![
        now.into(),
        worker.ecs_task_arn.clone().into(),
        worker.ecs_cluster_arn.clone().into(),
        storage.scheme.as_str().into(),
        storage.root.clone().into(),
        now.timestamp_millis().to_string().into(),
        worker.user_id.get().into(),
        id.get().into(),
    ];
    let sql = format!(
        "WITH picked AS ( \
             SELECT id FROM jobs \
             WHERE id = $8 AND {claimable} \
             FOR NO KEY UPDATE SKIP LOCKED \
         ), \
         assigned AS ({insert}), \
         updated AS ( \
             UPDATE jobs j SET {claimed_state} \
             FROM assigned a WHERE j.id = a.job_id \
             RETURNING j.* \
         ), \
         claimed AS (SELECT {columns} FROM updated j JOIN assigned a ON a.job_id = j.id) \
         SELECT c.*, e.job_exists \
         FROM (SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $8) AS job_exists) AS e \
         LEFT JOIN claimed AS c ON true",
        claimable = claimable(),
        insert = insert_assignments(&PARAMETERS, "j", "jobs j JOIN picked p ON p.id = j.id"),
        claimed_state = claimed_state(),
        columns = prefixed_columns(),
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Most jobs one batch of claims takes.
const MAX_BATCH_JOBS: u64 = 256;

/// Postgres claims of the oldest claimable jobs, run in batches of one statement
/// ([`crate::batch`]). Claims share a batch when they name the same job types. Requests come
/// with their claim time as stored, and take at least one job.
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
        .db_context("cannot run the claim statement")
        .context("cannot claim jobs")?;
    for row in &rows {
        let request: i32 = row
            .try_get("", "request")
            .db_context("cannot read the claim statement's answer")?;
        let answer = usize::try_from(request)
            .ok()
            .and_then(|request| answers.get_mut(request))
            .with_context(|| format!("the claim statement answered unknown claim {request}"))?;
        let (job, assignment) = job_and_assignment(row)?;
        answer.push(Claimed { job, assignment });
    }
    Ok(answers)
}

/// The new assignment's values in [`batch_claim_statement`]: its slot's.
const SLOT: ClaimValues = ClaimValues {
    now: "s.now",
    worker_id: "s.worker_id",
    task_arn: "s.task_arn",
    cluster_arn: "s.cluster_arn",
    scheme: "s.scheme",
    root: "s.root",
    millis: "s.millis",
};

/// The statement of a batch of claims, or `None` when they cannot take anything. `$1` is a JSON
/// array of the jobs' slots: for each job a claim may take (a claim asking for three jobs has
/// three slots), its claim's index, claim time, account, task and cluster ARNs, storage scheme,
/// root and the claim time in epoch milliseconds; then the job types if any. The oldest
/// claimable jobs, one per slot, are numbered in claim order and slot `n` gets job `n`. The
/// answer: the claimed jobs with their assignments and claim index, in slot order.
pub(in crate::repos::jobs) fn batch_claim_statement(claims: &[ClaimRequest]) -> Option<Statement> {
    let first = claims.first()?;
    let mut slots = Vec::new();
    for (index, claim) in claims.iter().enumerate() {
        let slot = serde_json::json!({
            "request": index,
            "now": claim.now,
            "worker_id": claim.worker.user_id.get(),
            "task_arn": claim.worker.ecs_task_arn,
            "cluster_arn": claim.worker.ecs_cluster_arn,
            "scheme": claim.storage.scheme.as_str(),
            "root": claim.storage.root,
            "millis": claim.now.timestamp_millis().to_string(),
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
            values.extend(types.iter().map(|name| Value::from(name.as_str())));
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
             WHERE {claimable}{type_filter} \
             ORDER BY created_at, id LIMIT (SELECT count(*) FROM slots) \
             FOR NO KEY UPDATE SKIP LOCKED \
         ), \
         picked AS ( \
             SELECT id, \"type\", lease_seconds, \
                 row_number() OVER (ORDER BY created_at, id) AS slot \
             FROM locked \
         ), \
         assigned AS ({insert}), \
         updated AS ( \
             UPDATE jobs j SET {claimed_state} \
             FROM assigned a \
             WHERE j.id = ANY (ARRAY(SELECT id FROM picked)) AND j.id = a.job_id \
             RETURNING j.* \
         ) \
         SELECT {columns}, s.request \
         FROM updated j JOIN assigned a ON a.job_id = j.id JOIN picked p ON p.id = j.id \
             JOIN slots s ON s.slot = p.slot \
         ORDER BY s.slot",
        claimable = claimable(),
        insert = insert_assignments(&SLOT, "p", "picked p JOIN slots s ON s.slot = p.slot"),
        claimed_state = claimed_state(),
        columns = prefixed_columns(),
    );
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}
