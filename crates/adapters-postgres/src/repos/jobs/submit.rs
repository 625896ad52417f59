//! Submissions: find a reusable job or create one, and record the request, atomically.
//!
//! Identical submissions (same type and payload hash) of a caching type must create one job
//! between them, while cache hits and different submissions never wait for each other:
//! - on **Postgres** concurrent submissions run in batches ([`super::submit_batch`]): a
//!   submission whose lookup finds nothing takes a transaction-scoped advisory lock derived from
//!   the payload hash, and looks again, in a statement of its own (so with a snapshot taken after
//!   the lock), before it creates the job;
//! - on **SQLite** the same steps run in one `IMMEDIATE` transaction, which holds the database's
//!   single write lock from the first read, so the first lookup is final.

use chrono::{DateTime, Utc};
use reefguide_domain::job::{JobStatus, PayloadHash};
use reefguide_ports::repositories::{NewJob, Submission};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, DatabaseTransaction, DbBackend, EntityTrait as _, Order,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Select,
};

use super::rows::{stored_policy, stored_workflow};
use super::status_literal;
use crate::SeaOrmStore;
use crate::entities::{job_requests, job_results, jobs};
use crate::errors::DbContext as _;
use crate::repos::{job_id, job_request_id, stored_time};

impl SeaOrmStore {
    /// The body of `JobRepository::submit_job`.
    pub(super) async fn submit(&self, new_job: NewJob) -> anyhow::Result<Submission> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => self.batches.submissions.call(new_job).await,
            _ => self.submit_in_transaction(&new_job).await,
        }
    }

    /// The SQLite submission: the same steps in one `IMMEDIATE` transaction.
    async fn submit_in_transaction(&self, new_job: &NewJob) -> anyhow::Result<Submission> {
        let now = stored_time(new_job.now);
        let txn = self.begin_write().await.db_context("cannot begin")?;
        let reused = match new_job.use_cache {
            true => reusable(new_job)
                .into_tuple::<i32>()
                .one(&*txn)
                .await
                .db_context("cannot look up a cached job")?,
            false => None,
        };
        let job = match reused {
            Some(job) => job,
            None => insert_job(&txn, new_job, now).await?,
        };
        let request = insert_request(&txn, new_job, job, reused.is_some(), now).await?;
        txn.commit().await.db_context("cannot commit")?;
        Ok(Submission {
            job_id: job_id(job)?,
            cached: reused.is_some(),
            request_id: job_request_id(request)?,
        })
    }
}

/// The Postgres advisory-lock key of a payload hash: its first 64 bits. A hash that is not hex
/// (never written by this crate) falls back to an FNV-1a digest of its text.
pub(super) fn advisory_lock_key(hash: &PayloadHash) -> i64 {
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

/// The id of the job an identical submission may reuse: same hash and type, and `PENDING`,
/// `IN_PROGRESS` or `SUCCEEDED` with a cache-valid result; a `SUCCEEDED` one first, then the
/// newest.
fn reusable(new_job: &NewJob) -> Select<jobs::Entity> {
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
        .limit(1)
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
        job_type: Set(new_job.job_type.to_string()),
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
        workflow: Set(new_job.workflow.as_ref().map(stored_workflow)),
    };
    let inserted = jobs::Entity::insert(row)
        .exec(txn)
        .await
        .db_context("cannot insert the job")?;
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
        job_type: Set(new_job.job_type.to_string()),
        input_payload: Set(new_job.input_payload.clone()),
        cache_hit: Set(cache_hit),
        job_id: Set(job),
    };
    let inserted = job_requests::Entity::insert(row)
        .exec(txn)
        .await
        .db_context("cannot insert the job request")?;
    Ok(inserted.last_insert_id)
}

#[cfg(test)]
mod tests {
    use super::*;

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
