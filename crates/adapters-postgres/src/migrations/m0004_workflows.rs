//! Workflow jobs (labcas-contract §2): a job of an Airflow type records its collection,
//! submitter and run folder (`jobs.workflow`, JSON; null for every worker-run job), and each
//! attempt's assignment the Airflow run it triggered (`job_assignments.engine_run_id`).
//!
//! Workflow jobs waiting for the engine are found by their own partial index; the claim rule of
//! workers leaves them out (`workflow IS NULL`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{json_binary_null, text_null};

/// Adds `jobs.workflow` and `job_assignments.engine_run_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Workflow jobs the dispatcher looks for (pending, running or being cancelled), as SQL both
/// backends accept.
const WORKFLOW_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_jobs_workflow_active \
     ON jobs (status, created_at, id) WHERE workflow IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(json_binary_null(Jobs::Workflow))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(JobAssignments::Table)
                    .add_column(text_null(JobAssignments::EngineRunId))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(WORKFLOW_INDEX)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_jobs_workflow_active")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(JobAssignments::Table)
                    .drop_column(JobAssignments::EngineRunId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::Workflow)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Workflow,
}

#[derive(DeriveIden)]
enum JobAssignments {
    Table,
    EngineRunId,
}
