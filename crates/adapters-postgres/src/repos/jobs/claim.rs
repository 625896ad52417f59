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
//!
//! Each operation is one function per backend, called with what the port hands over (a claim
//! request is moved into its batch, with its claim time as stored):
//! - `postgres`: [`postgres::assign`] and the batched claims of the oldest jobs ([`ClaimBatch`]);
//! - `sqlite`: [`sqlite::assign`] and [`sqlite::claim_oldest`];
//! - `sql`: the SQL both Postgres statements share (the claim rule, the new assignment and its
//!   storage URI, the claimed job's new state); the claim rule also filters [`claimable`].

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{JobId, StorageBase};
use reefguide_ports::repositories::{AssignOutcome, ClaimRequest, Claimed, WorkerTag};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, DbBackend, EntityTrait as _, QueryFilter as _, QueryOrder as _, Select,
};

use crate::SeaOrmStore;
use crate::entities::jobs;
use crate::repos::stored_time;

mod postgres;
mod sql;
mod sqlite;

pub(crate) use postgres::ClaimBatch;
#[cfg(test)]
pub(super) use postgres::batch_claim_statement;

impl SeaOrmStore {
    /// The body of `JobRepository::claim_jobs`.
    pub(super) async fn claim_oldest(&self, request: ClaimRequest) -> anyhow::Result<Vec<Claimed>> {
        if request.limit == 0 || request.job_types.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let request = ClaimRequest {
            now: stored_time(request.now),
            ..request
        };
        match self.db.get_database_backend() {
            DbBackend::Sqlite => sqlite::claim_oldest(self, &request).await,
            _ => self.batches.claims.call(request).await,
        }
        .context("cannot claim jobs")
    }

    /// The body of `JobRepository::assign_job`.
    pub(super) async fn assign(
        &self,
        id: JobId,
        worker: &WorkerTag,
        storage: &StorageBase,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AssignOutcome> {
        let now = stored_time(now);
        match self.db.get_database_backend() {
            DbBackend::Sqlite => sqlite::assign(self, id, worker, storage, now).await,
            _ => postgres::assign(&self.db, id, worker, storage, now).await,
        }
        .with_context(|| format!("cannot assign job {id}"))
    }
}

/// The claimable jobs (the claim rule of [`sql::claimable`]), optionally of some types.
pub(super) fn claimable(job_types: Option<&[JobTypeName]>) -> Select<jobs::Entity> {
    let mut select = jobs::Entity::find().filter(Expr::cust(format!("({})", sql::claimable())));
    if let Some(types) = job_types {
        select = select.filter(jobs::Column::JobType.is_in(types.iter().map(JobTypeName::as_str)));
    }
    select
}

/// Claimable jobs in claim order: oldest first.
pub(super) fn in_claim_order(select: Select<jobs::Entity>) -> Select<jobs::Entity> {
    select
        .order_by_asc(jobs::Column::CreatedAt)
        .order_by_asc(jobs::Column::Id)
}
