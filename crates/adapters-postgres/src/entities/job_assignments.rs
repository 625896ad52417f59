//! The `job_assignments` table: each claim of a job by a worker.

use sea_orm::entity::prelude::*;

/// A stored assignment.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_assignments")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Claim time.
    pub created_at: DateTimeUtc,
    /// Time of the last change (heartbeat, completion).
    pub updated_at: DateTimeUtc,
    /// The job (`jobs.id`, deleted with it).
    pub job_id: i32,
    /// The claiming account (`users.id`; no foreign key: history outlives deleted accounts).
    pub worker_id: i32,
    /// The worker's ECS task ARN.
    pub ecs_task_arn: Option<String>,
    /// The worker's ECS cluster ARN.
    pub ecs_cluster_arn: Option<String>,
    /// Lease end.
    pub expires_at: DateTimeUtc,
    /// Storage scheme wire name (`S3`, `LOCAL`).
    pub storage_scheme: String,
    /// Result prefix URI.
    pub storage_uri: String,
    /// Last heartbeat.
    pub heartbeat_at: Option<DateTimeUtc>,
    /// Result report time.
    pub completed_at: Option<DateTimeUtc>,
    /// Last reported progress (0..=100).
    #[sea_orm(column_type = "Double")]
    pub progress: Option<f64>,
    /// Last reported message.
    pub message: Option<String>,
    /// The workflow engine's run of this attempt, once triggered.
    pub engine_run_id: Option<String>,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
