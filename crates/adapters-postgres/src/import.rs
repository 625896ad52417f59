//! The import target (issues 26 and 27): a ReefGuide import plan written into this store in one
//! transaction, ids kept, in batches (a failed batch is replayed row by row, each in its own
//! savepoint, to name the row that broke it), the id sequences moved past the imported ids.

mod r2;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reefguide_domain::Email;
use reefguide_domain::import::ImportPlan;
use reefguide_ports::{ImportTarget, ImportWriteError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait as _, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, PaginatorTrait as _, QueryFilter as _, Set, Statement, TransactionTrait as _,
};

use crate::SeaOrmStore;
use crate::entities::{
    groups, job_assignments, job_requests, job_results, jobs, notes, polygons, pre_approved_users,
    projects, regions, user_logs, users,
};
use crate::repos::{roles_to_json, stored_time};

/// Rows per insert statement (15 columns at most: within both backends' parameter limits).
const BATCH: usize = 1_000;

/// The tables with an id sequence, in the order they are written.
const SEQUENCED: [&str; 18] = [
    "users",
    "user_logs",
    "pre_approved_users",
    "groups",
    "group_managers",
    "group_members",
    "projects",
    "project_user_shares",
    "project_group_shares",
    "polygons",
    "notes",
    "jobs",
    "job_requests",
    "job_assignments",
    "job_results",
    "regions",
    "criteria",
    "regional_criteria",
];

#[async_trait]
impl ImportTarget for SeaOrmStore {
    async fn check_empty(&self, service_accounts: &[Email]) -> Result<(), ImportWriteError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let checked = check_empty(&txn, service_accounts).await;
        txn.rollback().await.map_err(unavailable)?;
        checked.map(drop)
    }

    async fn write(
        &self,
        plan: &ImportPlan,
        service_accounts: &[Email],
    ) -> Result<(), ImportWriteError> {
        let _gate = self.write_gate.lock().await;
        let txn = self.db.begin().await.map_err(unavailable)?;
        let service_ids = check_empty(&txn, service_accounts).await?;
        remove_service_accounts(&txn, &service_ids).await?;
        write_plan(&txn, plan).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            advance_sequences(&txn).await?;
        }
        txn.commit().await.map_err(unavailable)?;
        // Nothing here was cached: the user cache only ever held the service accounts.
        self.users.clear();
        Ok(())
    }
}

/// A driver error as an opaque failure.
fn unavailable(error: DbErr) -> ImportWriteError {
    ImportWriteError::Unavailable(anyhow::anyhow!("import target: {error}"))
}

/// Checks that the target holds only `service_accounts` (and nothing of theirs but log lines and
/// tokens); returns their ids.
async fn check_empty(
    txn: &DatabaseTransaction,
    service_accounts: &[Email],
) -> Result<Vec<i32>, ImportWriteError> {
    let mut held = Vec::new();
    for (what, count) in [
        ("polygon(s)", polygons::Entity::find().count(txn).await),
        ("note(s)", notes::Entity::find().count(txn).await),
        ("job(s)", jobs::Entity::find().count(txn).await),
        (
            "job request(s)",
            job_requests::Entity::find().count(txn).await,
        ),
        ("project(s)", projects::Entity::find().count(txn).await),
        ("group(s)", groups::Entity::find().count(txn).await),
        (
            "pre-approval(s)",
            pre_approved_users::Entity::find().count(txn).await,
        ),
        (
            "data-specification region(s)",
            regions::Entity::find().count(txn).await,
        ),
    ] {
        let count = count.map_err(unavailable)?;
        if count > 0 {
            held.push(format!("{count} {what}"));
        }
    }
    let service: BTreeSet<&str> = service_accounts.iter().map(Email::as_str).collect();
    let mut service_ids = Vec::new();
    let mut others = Vec::new();
    for user in users::Entity::find().all(txn).await.map_err(unavailable)? {
        match &user.email {
            Some(email) if service.contains(email.as_str()) => service_ids.push(user.id),
            Some(email) => others.push(email.clone()),
            None => others.push(format!(
                "{} (external)",
                user.username.as_deref().unwrap_or("?")
            )),
        }
    }
    if !others.is_empty() {
        others.truncate(5);
        held.push(format!(
            "users other than the service accounts ({})",
            others.join(", ")
        ));
    }
    if held.is_empty() {
        Ok(service_ids)
    } else {
        Err(ImportWriteError::NotEmpty(held.join(", ")))
    }
}

/// Removes the service accounts and their log lines (their tokens go with them): the server
/// creates them again at its next start, or adopts an imported account with the same email.
async fn remove_service_accounts(
    txn: &DatabaseTransaction,
    ids: &[i32],
) -> Result<(), ImportWriteError> {
    if ids.is_empty() {
        return Ok(());
    }
    user_logs::Entity::delete_many()
        .filter(user_logs::Column::UserId.is_in(ids.iter().copied()))
        .exec(txn)
        .await
        .map_err(unavailable)?;
    users::Entity::delete_many()
        .filter(users::Column::Id.is_in(ids.iter().copied()))
        .exec(txn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// A source id as a column value; ReefGuide's ids are `SERIAL` (32-bit) like ours.
fn id32(table: &'static str, id: i64) -> Result<i32, ImportWriteError> {
    i32::try_from(id).map_err(|_| ImportWriteError::Row {
        table,
        id,
        message: "the id does not fit a 32-bit column".to_owned(),
    })
}

/// Writes every table of `plan`, parents first.
async fn write_plan(txn: &DatabaseTransaction, plan: &ImportPlan) -> Result<(), ImportWriteError> {
    let users = plan
        .users
        .iter()
        .map(|user| {
            Ok((
                user.id,
                users::ActiveModel {
                    id: Set(id32("users", user.id)?),
                    email: Set(Some(user.email.as_str().to_owned())),
                    password_hash: Set(Some(user.password_hash.as_str().to_owned())),
                    roles: Set(roles_to_json(&user.roles)),
                    created_at: Set(stored_time(user.created_at)),
                    issuer: Set(None),
                    username: Set(None),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<users::Entity, _>(txn, "users", users).await?;

    let logs = plan
        .user_logs
        .iter()
        .map(|log| {
            Ok((
                log.id,
                user_logs::ActiveModel {
                    id: Set(id32("user_logs", log.id)?),
                    user_id: Set(id32("user_logs", log.user_id)?),
                    time: Set(stored_time(log.time)),
                    action: Set(log.action.as_str().to_owned()),
                    metadata: Set(log.metadata.clone()),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<user_logs::Entity, _>(txn, "user_logs", logs).await?;
    r2::write_before_polygons(txn, &plan.r2).await?;

    let polygons = plan
        .polygons
        .iter()
        .map(|polygon| {
            let columns = crate::repos::shape_columns(&polygon.shape);
            let created = stored_time(polygon.created_at);
            Ok((
                polygon.id,
                polygons::ActiveModel {
                    id: Set(id32("polygons", polygon.id)?),
                    user_id: Set(id32("polygons", polygon.user_id)?),
                    created_at: Set(created),
                    updated_at: Set(created),
                    project_id: Set(polygon
                        .project_id
                        .map(|project| id32("polygons", project))
                        .transpose()?),
                    ..columns
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<polygons::Entity, _>(txn, "polygons", polygons).await?;

    let notes = plan
        .notes
        .iter()
        .map(|note| {
            Ok((
                note.id,
                notes::ActiveModel {
                    id: Set(id32("notes", note.id)?),
                    user_id: Set(id32("notes", note.user_id)?),
                    polygon_id: Set(id32("notes", note.polygon_id)?),
                    content: Set(note.content.clone()),
                    created_at: Set(stored_time(note.created_at)),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<notes::Entity, _>(txn, "notes", notes).await?;

    let jobs = plan
        .jobs
        .iter()
        .map(|job| {
            let lease_seconds = job.policy.lease().num_seconds();
            Ok((
                job.id,
                jobs::ActiveModel {
                    id: Set(id32("jobs", job.id)?),
                    created_at: Set(stored_time(job.created_at)),
                    updated_at: Set(stored_time(job.updated_at)),
                    job_type: Set(job.job_type.as_str().to_owned()),
                    status: Set(job.state.status().as_str().to_owned()),
                    user_id: Set(id32("jobs", job.user_id)?),
                    input_payload: Set(job.input_payload.clone()),
                    hash: Set(job.hash.as_str().to_owned()),
                    attempts: Set(i32::try_from(job.state.attempts()).unwrap_or(i32::MAX)),
                    max_attempts: Set(i32::try_from(job.policy.max_attempts()).unwrap_or(i32::MAX)),
                    lease_seconds: Set(lease_seconds),
                    lease_expires_at: Set(job.state.lease_expires_at().map(stored_time)),
                    current_assignment_id: Set(job
                        .current_assignment
                        .map(|id| id32("jobs", id))
                        .transpose()?),
                    version: Set(0),
                    workflow: Set(None),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<jobs::Entity, _>(txn, "jobs", jobs).await?;

    let requests = plan
        .job_requests
        .iter()
        .map(|request| {
            Ok((
                request.id,
                job_requests::ActiveModel {
                    id: Set(id32("job_requests", request.id)?),
                    created_at: Set(stored_time(request.created_at)),
                    user_id: Set(id32("job_requests", request.user_id)?),
                    job_type: Set(request.job_type.as_str().to_owned()),
                    input_payload: Set(request.input_payload.clone()),
                    cache_hit: Set(request.cache_hit),
                    job_id: Set(id32("job_requests", request.job_id)?),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<job_requests::Entity, _>(txn, "job_requests", requests).await?;

    let assignments = plan
        .assignments
        .iter()
        .map(|assignment| {
            Ok((
                assignment.id,
                job_assignments::ActiveModel {
                    id: Set(id32("job_assignments", assignment.id)?),
                    created_at: Set(stored_time(assignment.created_at)),
                    updated_at: Set(stored_time(assignment.updated_at)),
                    job_id: Set(id32("job_assignments", assignment.job_id)?),
                    worker_id: Set(id32("job_assignments", assignment.worker_id)?),
                    ecs_task_arn: Set(assignment.ecs_task_arn.clone()),
                    ecs_cluster_arn: Set(assignment.ecs_cluster_arn.clone()),
                    expires_at: Set(stored_time(assignment.expires_at)),
                    storage_scheme: Set(assignment.storage_scheme.clone()),
                    storage_uri: Set(assignment.storage_uri.clone()),
                    heartbeat_at: Set(assignment.heartbeat_at.map(stored_time)),
                    completed_at: Set(assignment.completed_at.map(stored_time)),
                    progress: Set(None),
                    message: Set(None),
                    engine_run_id: Set(None),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<job_assignments::Entity, _>(txn, "job_assignments", assignments).await?;

    let results = plan
        .results
        .iter()
        .map(|result| {
            Ok((
                result.id,
                job_results::ActiveModel {
                    id: Set(id32("job_results", result.id)?),
                    created_at: Set(stored_time(result.created_at)),
                    job_id: Set(id32("job_results", result.job_id)?),
                    assignment_id: Set(id32("job_results", result.assignment_id)?),
                    result_payload: Set(result.result_payload.clone()),
                    storage_scheme: Set(result.storage_scheme.clone()),
                    storage_uri: Set(result.storage_uri.clone()),
                    metadata: Set(result.metadata.clone()),
                    cache_valid: Set(result.cache_valid),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<job_results::Entity, _>(txn, "job_results", results).await?;
    r2::write_data_specification(txn, &plan.r2).await
}

/// Inserts `rows` (source id, row) of `table` in batches; a failed batch is replayed one row at
/// a time, each in a savepoint, so that the error names the row that broke it.
async fn insert_all<E, A>(
    txn: &DatabaseTransaction,
    table: &'static str,
    rows: Vec<(i64, A)>,
) -> Result<(), ImportWriteError>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + Send + Clone,
{
    for batch in rows.chunks(BATCH) {
        let savepoint = txn.begin().await.map_err(unavailable)?;
        let inserted = E::insert_many(batch.iter().map(|(_, row)| row.clone()))
            .exec_without_returning(&savepoint)
            .await;
        match inserted {
            Ok(_) => savepoint.commit().await.map_err(unavailable)?,
            Err(batch_error) => {
                savepoint.rollback().await.map_err(unavailable)?;
                return Err(culprit::<E, A>(txn, table, batch, batch_error).await);
            }
        }
    }
    Ok(())
}

/// The first row of a failed batch that fails alone (each tried in a savepoint, undone).
async fn culprit<E, A>(
    txn: &DatabaseTransaction,
    table: &'static str,
    batch: &[(i64, A)],
    batch_error: DbErr,
) -> ImportWriteError
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + Send + Clone,
{
    for (id, row) in batch {
        let Ok(savepoint) = txn.begin().await else {
            break;
        };
        let alone = E::insert(row.clone())
            .exec_without_returning(&savepoint)
            .await;
        let _ = savepoint.rollback().await;
        if let Err(error) = alone {
            return ImportWriteError::Row {
                table,
                id: *id,
                message: error.to_string(),
            };
        }
    }
    let first = batch.first().map_or(0, |(id, _)| *id);
    ImportWriteError::Row {
        table,
        id: first,
        message: format!("a batch starting at this row failed: {batch_error}"),
    }
}

/// Moves each id sequence past the largest imported id (Postgres; SQLite's AUTOINCREMENT
/// counters follow inserted ids by themselves).
async fn advance_sequences(txn: &DatabaseTransaction) -> Result<(), ImportWriteError> {
    for table in SEQUENCED {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        );
        txn.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}
