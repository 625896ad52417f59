//! SQLite claims: the same steps as the Postgres statements, in one `IMMEDIATE` transaction.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{Job, JobId, StorageBase};
use reefguide_ports::repositories::{AssignOutcome, ClaimRequest, Claimed, WorkerTag};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, QueryFilter as _, QuerySelect as _,
    Select,
};

use super::{claimable, in_claim_order};
use crate::SeaOrmStore;
use crate::entities::{job_assignments, jobs};
use crate::errors::DbContext as _;
use crate::repos::jobs::rows::{stored_attempts, stored_lease, to_assignment, to_job};

/// Claims up to `request.limit` of the oldest claimable jobs (of `request.job_types` when
/// given), at `request.now` as stored.
pub(super) async fn claim_oldest(
    store: &SeaOrmStore,
    request: &ClaimRequest,
) -> anyhow::Result<Vec<Claimed>> {
    let select = in_claim_order(claimable(request.job_types.as_deref())).limit(request.limit);
    claim_selected(
        store,
        select,
        &request.worker,
        &request.storage,
        request.now,
    )
    .await
}

/// Assigns job `id` to `worker` at `now` (as stored) if it is claimable.
pub(super) async fn assign(
    store: &SeaOrmStore,
    id: JobId,
    worker: &WorkerTag,
    storage: &StorageBase,
    now: DateTime<Utc>,
) -> anyhow::Result<AssignOutcome> {
    let select = claimable(None).filter(jobs::Column::Id.eq(id.get()));
    let claimed = claim_selected(store, select, worker, storage, now).await?;
    if let Some(claimed) = claimed.into_iter().next() {
        return Ok(AssignOutcome::Assigned(Box::new(claimed)));
    }
    Ok(match store.job_row(id.get()).await?.is_some() {
        true => AssignOutcome::NotAvailable,
        false => AssignOutcome::NotFound,
    })
}

/// Claims every job `select` finds, in one `IMMEDIATE` transaction.
async fn claim_selected(
    store: &SeaOrmStore,
    select: Select<jobs::Entity>,
    worker: &WorkerTag,
    storage: &StorageBase,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Claimed>> {
    let txn = store.begin_write().await.db_context("cannot begin")?;
    let rows = select
        .all(&*txn)
        .await
        .db_context("cannot select claimable jobs")?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        claimed.push(claim_row(&txn, row, worker, storage, now).await?);
    }
    txn.commit().await.db_context("cannot commit")?;
    Ok(claimed)
}

/// Claims one (claimable, locked) job row inside `txn`.
async fn claim_row(
    txn: &DatabaseTransaction,
    row: jobs::Model,
    worker: &WorkerTag,
    storage: &StorageBase,
    now: DateTime<Utc>,
) -> anyhow::Result<Claimed> {
    let job = to_job(row)?;
    let state = job.state.claim(now, &job.policy)?;
    let expires_at = stored_lease(&state).context("a claimed job has no lease")?;
    let storage = storage.location_for(&job.job_type, job.id, now);
    let assignment = job_assignments::ActiveModel {
        id: NotSet,
        created_at: Set(now),
        updated_at: Set(now),
        job_id: Set(job.id.get()),
        worker_id: Set(worker.user_id.get()),
        ecs_task_arn: Set(worker.ecs_task_arn.clone()),
        ecs_cluster_arn: Set(worker.ecs_cluster_arn.clone()),
        expires_at: Set(expires_at),
        storage_scheme: Set(storage.scheme.as_str().to_owned()),
        storage_uri: Set(storage.uri),
        heartbeat_at: Set(None),
        completed_at: Set(None),
        progress: Set(None),
        message: Set(None),
        engine_run_id: Set(None),
    };
    let assignment = job_assignments::Entity::insert(assignment)
        .exec_with_returning(txn)
        .await
        .with_db_context(|| format!("cannot insert an assignment of job {}", job.id))?;
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
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            jobs::Column::Version,
            Expr::col(jobs::Column::Version).add(1),
        )
        .filter(jobs::Column::Id.eq(job.id.get()))
        .exec(txn)
        .await
        .with_db_context(|| format!("cannot mark job {} as claimed", job.id))?;
    let assignment = to_assignment(assignment)?;
    Ok(Claimed {
        job: Job {
            state,
            updated_at: now,
            current_assignment: Some(assignment.id),
            version: job.version.saturating_add(1),
            ..job
        },
        assignment,
    })
}
