//! The `project_group_shares` table (m0010): one row per project shared with a group.

use sea_orm::entity::prelude::*;

/// A stored share.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "project_group_shares")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The project (deleted with it).
    pub project_id: i32,
    /// The group it is shared with (deleted with it).
    pub group_id: i32,
    /// When it was shared.
    pub created_at: DateTimeUtc,
    /// Same as `created_at` (R2's column, kept for the importer).
    pub updated_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
