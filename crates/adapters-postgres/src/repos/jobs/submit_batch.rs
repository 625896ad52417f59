//! Postgres submissions, run in batches ([`crate::batch`]).
//!
//! A batch of submissions of types that do not cache is one statement ("reuse or create" below,
//! which for them only creates). A batch with a submission of a caching type is one transaction of
//! at most four round trips, whatever its size: `BEGIN`, "reuse or lock" (every submission that
//! finds a reusable job records its request at once; every other one takes its hash's
//! transaction-scoped advisory lock, in key order so that concurrent batches never deadlock), then
//! for the misses "reuse or create" (a statement of its own, so its snapshot is taken after the
//! locks: it looks again, then creates the jobs, records the requests and notifies claimers on
//! commit), then `COMMIT`. Two submissions of the same hash never share a batch, so each batch
//! creates at most one job per hash, and identical submissions in concurrent batches (or server
//! instances) meet at the lock as single ones do.

use reefguide_domain::job::JobStatus;
use reefguide_ports::repositories::{NewJob, Submission};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait as _,
    Value,
};

use super::rows::{stored_policy, stored_workflow};
use super::submit::advisory_lock_key;
use crate::batch::Batch;
use crate::errors::DbContext as _;
use crate::notify::JOB_CHANNEL;
use crate::repos::{job_id, job_request_id, stored_time};

/// Submissions, batched (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct SubmitBatch {
    /// The pool the transactions run on.
    pub db: DatabaseConnection,
}

impl Batch for SubmitBatch {
    type Request = NewJob;
    type Response = Submission;

    const MAX_BATCH: usize = 64;
    // Batches lock their hashes in key order, so two at once never deadlock.
    const MAX_IN_FLIGHT: usize = 2;

    fn may_join(&self, batch: &[NewJob], next: &NewJob) -> bool {
        hash_is_new(batch, next)
    }

    async fn run_together(
        &self,
        batch: &[NewJob],
    ) -> anyhow::Result<Vec<anyhow::Result<Submission>>> {
        Ok(submit_batch(&self.db, batch)
            .await?
            .into_iter()
            .map(Ok)
            .collect())
    }
}

/// Whether no submission of `batch` has the hash of `next`.
fn hash_is_new(batch: &[NewJob], next: &NewJob) -> bool {
    batch.iter().all(|queued| queued.hash != next.hash)
}

/// Runs `batch` (distinct hashes); the submissions, in order.
async fn submit_batch(
    db: &DatabaseConnection,
    batch: &[NewJob],
) -> anyhow::Result<Vec<Submission>> {
    let rows = input_rows(batch)?;
    let mut answers: Vec<Option<Submission>> = batch.iter().map(|_| None).collect();
    if !batch.iter().any(|new_job| new_job.use_cache) {
        let created = run(db, reuse_or_create(&rows), "cannot create the jobs").await?;
        record(&mut answers, &created)?;
        return collect(answers);
    }
    let txn = db.begin().await.db_context("cannot begin")?;
    let looked = run(&txn, reuse_or_lock(&rows), "cannot look up cached jobs").await?;
    let mut misses = Vec::new();
    for row in &looked {
        let index = row_index(row, batch.len())?;
        match submission(row)? {
            Some(found) => answers[index] = Some(found),
            None => misses.push(rows[index].clone()),
        }
    }
    if !misses.is_empty() {
        let created = run(&txn, reuse_or_create(&misses), "cannot create the jobs").await?;
        record(&mut answers, &created)?;
    }
    txn.commit().await.db_context("cannot commit")?;
    collect(answers)
}

/// Runs `statement` on `db`, returning its rows.
async fn run(
    db: &impl ConnectionTrait,
    statement: Statement,
    failure: &'static str,
) -> anyhow::Result<Vec<QueryResult>> {
    db.query_all_raw(statement).await.db_context(failure)
}

/// Puts the submissions of `rows` at their positions in `answers`.
fn record(answers: &mut [Option<Submission>], rows: &[QueryResult]) -> anyhow::Result<()> {
    for row in rows {
        let index = row_index(row, answers.len())?;
        answers[index] = submission(row)?;
    }
    Ok(())
}

/// Every submission, or an error if one got no row.
fn collect(answers: Vec<Option<Submission>>) -> anyhow::Result<Vec<Submission>> {
    answers
        .into_iter()
        .map(|answer| answer.ok_or_else(|| anyhow::anyhow!("a submission of the batch got no row")))
        .collect()
}

/// The batch's submissions as JSON records (`i` is the position in the batch).
fn input_rows(batch: &[NewJob]) -> anyhow::Result<Vec<serde_json::Value>> {
    batch
        .iter()
        .enumerate()
        .map(|(index, new_job)| {
            let (max_attempts, lease_seconds) = stored_policy(&new_job.policy)?;
            Ok(serde_json::json!({
                "i": index,
                "now": stored_time(new_job.now),
                "owner": new_job.owner.get(),
                "type": new_job.job_type,
                "payload": new_job.input_payload,
                "hash": new_job.hash.as_str(),
                "max_attempts": max_attempts,
                "lease_seconds": lease_seconds,
                "lock_key": advisory_lock_key(&new_job.hash),
                "use_cache": new_job.use_cache,
                "workflow": new_job.workflow.as_ref().map(stored_workflow),
            }))
        })
        .collect()
}

/// The position in the batch that a result row answers.
fn row_index(row: &QueryResult, len: usize) -> anyhow::Result<usize> {
    let index: i32 = row
        .try_get("", "i")
        .db_context("cannot read the submission statement's answer")?;
    usize::try_from(index)
        .ok()
        .filter(|index| *index < len)
        .ok_or_else(|| anyhow::anyhow!("the submission statement answered unknown row {index}"))
}

/// The submission a result row holds, or `None` when its lookup found nothing (and it locked).
fn submission(row: &QueryResult) -> anyhow::Result<Option<Submission>> {
    const READ: &str = "cannot read the submission";
    let request: Option<i32> = row.try_get("", "request_id").db_context(READ)?;
    let Some(request) = request else {
        return Ok(None);
    };
    Ok(Some(Submission {
        job_id: job_id(row.try_get("", "job_id").db_context(READ)?)?,
        cached: row.try_get("", "cached").db_context(READ)?,
        request_id: job_request_id(request)?,
    }))
}

/// The CTEs `input` (the records of `$1`) and `found` (each with the id of the job it may reuse, or
/// null; always null for a type that does not cache): same hash and type, `PENDING` or
/// `IN_PROGRESS` or `SUCCEEDED` with a cache-valid result; a `SUCCEEDED` one first, then the newest
/// (as `submit::reusable`). Jobs are reached per record by the hash index, results per job by
/// theirs: the result check is a scalar look-up with a limit rather than `EXISTS`, which a generic
/// plan made on a nearly empty table turns into a hash of every result.
fn input_and_found() -> String {
    let [pending, in_progress, succeeded] = [
        JobStatus::Pending,
        JobStatus::InProgress,
        JobStatus::Succeeded,
    ]
    .map(JobStatus::as_str);
    format!(
        "input AS ( \
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, now timestamptz, owner int, \
                 \"type\" text, payload jsonb, hash text, max_attempts int, lease_seconds bigint, \
                 lock_key bigint, use_cache boolean, workflow jsonb) \
         ), \
         found AS MATERIALIZED ( \
             SELECT x.*, CASE WHEN x.use_cache THEN ( \
                 SELECT j.id FROM jobs j \
                 WHERE j.hash = x.hash AND j.\"type\" = x.\"type\" \
                     AND (j.status = '{pending}' OR j.status = '{in_progress}' \
                         OR (j.status = '{succeeded}' AND coalesce(( \
                             SELECT true FROM job_results r \
                             WHERE r.job_id = j.id AND r.cache_valid LIMIT 1), false))) \
                 ORDER BY CASE WHEN j.status = '{succeeded}' THEN 0 ELSE 1 END, j.id DESC \
                 LIMIT 1 \
             ) END AS job_id \
             FROM input x \
         )"
    )
}

/// The first statement: records the requests of the submissions that found a job; locks the
/// hashes of the others of caching types, in key order. One row per submission: `i`, and
/// `request_id`, `job_id`, `cached` (nulls for a lock).
pub(super) fn reuse_or_lock(rows: &[serde_json::Value]) -> Statement {
    let sql = format!(
        "WITH {input_and_found}, \
         request AS ( \
             INSERT INTO job_requests (created_at, user_id, \"type\", input_payload, cache_hit, \
                 job_id) \
             SELECT now, owner, \"type\", payload, true, job_id FROM found \
             WHERE job_id IS NOT NULL \
             RETURNING id, job_id \
         ), \
         locked AS ( \
             SELECT pg_advisory_xact_lock(lock_key) \
             FROM (SELECT lock_key FROM found WHERE job_id IS NULL AND use_cache ORDER BY lock_key \
                 OFFSET 0) AS keys \
         ) \
         SELECT f.i, r.id AS request_id, r.job_id, r.id IS NOT NULL AS cached \
         FROM (SELECT count(*) AS locks FROM locked) AS l \
             CROSS JOIN found f LEFT JOIN request r ON r.job_id = f.job_id",
        input_and_found = input_and_found(),
    );
    statement(sql, rows, Vec::new())
}

/// The second statement, for the submissions whose hash is locked: looks again, creates the jobs
/// still missing, records the requests and notifies claimers of the created jobs that workers
/// run (on commit).
/// One row per submission: `i`, `request_id`, `job_id`, `cached`.
pub(super) fn reuse_or_create(rows: &[serde_json::Value]) -> Statement {
    let pending = JobStatus::Pending.as_str();
    let sql = format!(
        "WITH {input_and_found}, \
         created AS ( \
             INSERT INTO jobs (created_at, updated_at, \"type\", status, user_id, input_payload, \
                 hash, attempts, max_attempts, lease_seconds, version, workflow) \
             SELECT now, now, \"type\", '{pending}', owner, payload, hash, 0, max_attempts, \
                 lease_seconds, 0, workflow \
             FROM found WHERE job_id IS NULL \
             RETURNING id, hash, \"type\", workflow IS NULL AS worker_run \
         ), \
         job AS ( \
             SELECT f.i, f.now, f.owner, f.\"type\", f.payload, \
                 coalesce(f.job_id, c.id) AS job_id, f.job_id IS NOT NULL AS cached \
             FROM found f LEFT JOIN created c ON f.job_id IS NULL AND c.hash = f.hash \
         ), \
         request AS ( \
             INSERT INTO job_requests (created_at, user_id, \"type\", input_payload, cache_hit, \
                 job_id) \
             SELECT now, owner, \"type\", payload, cached, job_id FROM job \
             RETURNING id, job_id \
         ), \
         notified AS (SELECT pg_notify($2, \"type\") FROM created WHERE worker_run) \
         SELECT j.i, r.id AS request_id, j.job_id, j.cached \
         FROM (SELECT count(*) AS notices FROM notified) AS n \
             CROSS JOIN job j JOIN request r ON r.job_id = j.job_id",
        input_and_found = input_and_found(),
    );
    statement(sql, rows, vec![JOB_CHANNEL.into()])
}

/// A statement whose `$1` is `rows`, followed by `more` parameters.
fn statement(sql: String, rows: &[serde_json::Value], more: Vec<Value>) -> Statement {
    let mut values: Vec<Value> = vec![serde_json::Value::from(rows.to_vec()).into()];
    values.extend(more);
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _, Utc};
    use reefguide_domain::UserId;
    use reefguide_domain::job::{PayloadHash, RetryPolicy};

    use super::*;

    fn new_job(hash: &str) -> NewJob {
        NewJob {
            owner: UserId::new(1).expect("positive"),
            job_type: reefguide_domain::job::registry::JobTypeName::parse("TEST")
                .expect("valid name"),
            input_payload: serde_json::json!({"id": 1}),
            hash: PayloadHash::from_stored(hash.to_owned()),
            policy: RetryPolicy::new(3, Duration::minutes(5)).expect("policy"),
            use_cache: true,
            now: Utc.timestamp_opt(1_700_000_000, 0).single().expect("time"),
            workflow: None,
        }
    }

    #[test]
    fn submissions_of_one_hash_never_share_a_batch() {
        let batch = [new_job("aa"), new_job("bb")];
        assert!(!hash_is_new(&batch, &new_job("bb")));
        assert!(hash_is_new(&batch, &new_job("cc")));
    }

    #[test]
    fn records_carry_their_position_and_lock_key() {
        let rows = input_rows(&[new_job("aa"), new_job("0000000000000001ff")]).expect("rows");
        assert_eq!(rows[1]["i"], 1);
        assert_eq!(rows[1]["lock_key"], 1);
        assert_eq!(rows[0]["payload"], serde_json::json!({"id": 1}));
    }
}
