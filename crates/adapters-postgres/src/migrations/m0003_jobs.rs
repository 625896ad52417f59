//! Jobs: the queue (`jobs`), the submissions that led to it (`job_requests`), the claims of jobs
//! by workers (`job_assignments`) and the results they report (`job_results`).
//!
//! `jobs.user_id` and `job_requests.user_id` are deliberately not foreign keys: a user's jobs and
//! requests outlive the user (contract §4, like `user_logs`). Ids are never reused (serial on
//! Postgres, `AUTOINCREMENT` on SQLite), so a later user never inherits them. Everything else
//! cascades from the job it belongs to. The queue's hot paths have partial indexes (plain SQL
//! that both backends accept): claimable jobs in claim order, overall and per type, and running
//! jobs by lease end for the sweeper.

use super::{cascading_foreign_key, create_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, double_null, integer, integer_null, json_binary, json_binary_null,
    pk_auto, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// Creates `jobs`, `job_requests`, `job_assignments` and `job_results`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Partial indexes, as SQL both backends accept.
const PARTIAL_INDEXES: [&str; 3] = [
    // Claim order of claimable jobs (`claim_jobs`, `pending_jobs`).
    "CREATE INDEX IF NOT EXISTS idx_jobs_pending ON jobs (created_at, id) \
     WHERE status = 'PENDING'",
    // The same, per type (workers that claim only some types).
    "CREATE INDEX IF NOT EXISTS idx_jobs_pending_type ON jobs (type, created_at, id) \
     WHERE status = 'PENDING'",
    // Running jobs by lease end (the sweeper's `expired_leases`).
    "CREATE INDEX IF NOT EXISTS idx_jobs_lease ON jobs (lease_expires_at) \
     WHERE status = 'IN_PROGRESS'",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_jobs(manager).await?;
        create_job_requests(manager).await?;
        create_job_assignments(manager).await?;
        create_job_results(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(
            manager,
            [
                JobResults::Table.into_iden(),
                JobAssignments::Table.into_iden(),
                JobRequests::Table.into_iden(),
                Jobs::Table.into_iden(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// `jobs` and its indexes.
async fn create_jobs(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Jobs::Table)
                .if_not_exists()
                .col(pk_auto(Jobs::Id))
                .col(timestamp_with_time_zone(Jobs::CreatedAt))
                .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                .col(text(Jobs::Type))
                .col(text(Jobs::Status))
                .col(integer(Jobs::UserId))
                .col(json_binary(Jobs::InputPayload))
                .col(text(Jobs::Hash))
                .col(integer(Jobs::Attempts))
                .col(integer(Jobs::MaxAttempts))
                .col(big_integer(Jobs::LeaseSeconds))
                .col(timestamp_with_time_zone_null(Jobs::LeaseExpiresAt))
                // The assignment holding the lease. Not a foreign key: assignments refer to their
                // job, and a claim writes both in one statement.
                .col(integer_null(Jobs::CurrentAssignmentId))
                .col(big_integer(Jobs::Version))
                .to_owned(),
        )
        .await?;
    // The cache lookup of a submission.
    create_index(manager, Jobs::Table, [Jobs::Hash], "idx_jobs_hash").await?;
    // A user's own jobs, newest first.
    create_index(
        manager,
        Jobs::Table,
        [Jobs::UserId, Jobs::Id],
        "idx_jobs_user_id_id",
    )
    .await?;
    let connection = manager.get_connection();
    for sql in PARTIAL_INDEXES {
        connection.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// `job_requests` and its indexes.
async fn create_job_requests(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(JobRequests::Table)
                .if_not_exists()
                .col(pk_auto(JobRequests::Id))
                .col(timestamp_with_time_zone(JobRequests::CreatedAt))
                .col(integer(JobRequests::UserId))
                .col(text(JobRequests::Type))
                .col(json_binary(JobRequests::InputPayload))
                .col(boolean(JobRequests::CacheHit))
                .col(integer(JobRequests::JobId))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_job_requests_job_id",
                    (JobRequests::Table, JobRequests::JobId),
                    (Jobs::Table, Jobs::Id),
                ))
                .to_owned(),
        )
        .await?;
    // A user's requests, newest first; whether a user requested a job.
    create_index(
        manager,
        JobRequests::Table,
        [JobRequests::UserId, JobRequests::Id],
        "idx_job_requests_user_id_id",
    )
    .await?;
    create_index(
        manager,
        JobRequests::Table,
        [JobRequests::JobId],
        "idx_job_requests_job_id",
    )
    .await
}

/// `job_assignments` and its index.
async fn create_job_assignments(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(JobAssignments::Table)
                .if_not_exists()
                .col(pk_auto(JobAssignments::Id))
                .col(timestamp_with_time_zone(JobAssignments::CreatedAt))
                .col(timestamp_with_time_zone(JobAssignments::UpdatedAt))
                .col(integer(JobAssignments::JobId))
                .col(integer(JobAssignments::WorkerId))
                .col(text_null(JobAssignments::EcsTaskArn))
                .col(text_null(JobAssignments::EcsClusterArn))
                .col(timestamp_with_time_zone(JobAssignments::ExpiresAt))
                .col(text(JobAssignments::StorageScheme))
                .col(text(JobAssignments::StorageUri))
                .col(timestamp_with_time_zone_null(JobAssignments::HeartbeatAt))
                .col(timestamp_with_time_zone_null(JobAssignments::CompletedAt))
                .col(double_null(JobAssignments::Progress))
                .col(text_null(JobAssignments::Message))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_job_assignments_job_id",
                    (JobAssignments::Table, JobAssignments::JobId),
                    (Jobs::Table, Jobs::Id),
                ))
                .to_owned(),
        )
        .await?;
    create_index(
        manager,
        JobAssignments::Table,
        [JobAssignments::JobId],
        "idx_job_assignments_job_id",
    )
    .await
}

/// `job_results` and its indexes.
async fn create_job_results(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(JobResults::Table)
                .if_not_exists()
                .col(pk_auto(JobResults::Id))
                .col(timestamp_with_time_zone(JobResults::CreatedAt))
                .col(integer(JobResults::JobId))
                .col(integer(JobResults::AssignmentId))
                .col(json_binary_null(JobResults::ResultPayload))
                .col(text(JobResults::StorageScheme))
                .col(text(JobResults::StorageUri))
                .col(json_binary_null(JobResults::Metadata))
                .col(boolean(JobResults::CacheValid).default(true))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_job_results_job_id",
                    (JobResults::Table, JobResults::JobId),
                    (Jobs::Table, Jobs::Id),
                ))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_job_results_assignment_id",
                    (JobResults::Table, JobResults::AssignmentId),
                    (JobAssignments::Table, JobAssignments::Id),
                ))
                .to_owned(),
        )
        .await?;
    create_index(
        manager,
        JobResults::Table,
        [JobResults::JobId],
        "idx_job_results_job_id",
    )
    .await?;
    // At most one result per assignment.
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .unique()
                .name("idx_job_results_assignment_id")
                .table(JobResults::Table)
                .col(JobResults::AssignmentId)
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    CreatedAt,
    UpdatedAt,
    Type,
    Status,
    UserId,
    InputPayload,
    Hash,
    Attempts,
    MaxAttempts,
    LeaseSeconds,
    LeaseExpiresAt,
    CurrentAssignmentId,
    Version,
}

#[derive(DeriveIden)]
enum JobRequests {
    Table,
    Id,
    CreatedAt,
    UserId,
    Type,
    InputPayload,
    CacheHit,
    JobId,
}

#[derive(DeriveIden)]
enum JobAssignments {
    Table,
    Id,
    CreatedAt,
    UpdatedAt,
    JobId,
    WorkerId,
    EcsTaskArn,
    EcsClusterArn,
    ExpiresAt,
    StorageScheme,
    StorageUri,
    HeartbeatAt,
    CompletedAt,
    Progress,
    Message,
}

#[derive(DeriveIden)]
enum JobResults {
    Table,
    Id,
    CreatedAt,
    JobId,
    AssignmentId,
    ResultPayload,
    StorageScheme,
    StorageUri,
    Metadata,
    CacheValid,
}
