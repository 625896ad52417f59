//! The `job_results` table: results reported by workers, at most one per assignment.

use sea_orm::entity::prelude::*;

/// A stored result.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_results")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Report time.
    pub created_at: DateTimeUtc,
    /// The job (`jobs.id`, deleted with it).
    pub job_id: i32,
    /// The assignment that produced it (`job_assignments.id`, unique, deleted with it).
    pub assignment_id: i32,
    /// The worker's result payload.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub result_payload: Option<Json>,
    /// Storage scheme wire name (`S3`, `LOCAL`).
    pub storage_scheme: String,
    /// Result prefix URI.
    pub storage_uri: String,
    /// Free-form metadata.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    /// Whether it may still satisfy identical submissions.
    pub cache_valid: bool,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
