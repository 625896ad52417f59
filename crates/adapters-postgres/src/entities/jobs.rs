//! The `jobs` table: the job queue.

use sea_orm::entity::prelude::*;

/// A stored job.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Submission time.
    pub created_at: DateTimeUtc,
    /// Time of the last change.
    pub updated_at: DateTimeUtc,
    /// The job type name.
    #[sea_orm(column_name = "type")]
    pub job_type: String,
    /// Status wire name (`PENDING`, `IN_PROGRESS`, …).
    pub status: String,
    /// The user who first submitted it. Deliberately not a foreign key: jobs outlive the user.
    pub user_id: i32,
    /// The validated input payload.
    #[sea_orm(column_type = "JsonBinary")]
    pub input_payload: Json,
    /// The content hash (lower-case hex SHA-256).
    pub hash: String,
    /// Claims so far.
    pub attempts: i32,
    /// Claims the retry policy allows.
    pub max_attempts: i32,
    /// Lease length of the retry policy, in whole seconds.
    pub lease_seconds: i64,
    /// End of the current lease; set exactly while `IN_PROGRESS`.
    pub lease_expires_at: Option<DateTimeUtc>,
    /// The assignment holding (or that last held) the lease (`job_assignments.id`, not a foreign
    /// key).
    pub current_assignment_id: Option<i32>,
    /// Optimistic-concurrency version, bumped by every change.
    pub version: i64,
    /// A workflow job's collection, submitter and run folder (`{"collection", "username",
    /// "output"}`); null for a worker-run job.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub workflow: Option<Json>,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
