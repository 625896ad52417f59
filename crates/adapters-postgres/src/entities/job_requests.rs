//! The `job_requests` table: every submission, whether it created a job or hit the cache.

use sea_orm::entity::prelude::*;

/// A stored job request.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_requests")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Submission time.
    pub created_at: DateTimeUtc,
    /// The submitting user. Deliberately not a foreign key: requests outlive the user.
    pub user_id: i32,
    /// The job type asked for.
    #[sea_orm(column_name = "type")]
    pub job_type: String,
    /// The payload sent.
    #[sea_orm(column_type = "JsonBinary")]
    pub input_payload: Json,
    /// Whether an existing job was reused.
    pub cache_hit: bool,
    /// The job serving it (`jobs.id`, deleted with it).
    pub job_id: i32,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
