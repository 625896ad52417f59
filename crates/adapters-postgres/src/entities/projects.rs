//! The `projects` table (m0010): name unique per owner.

use sea_orm::entity::prelude::*;

/// A stored project.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Name, trimmed.
    pub name: String,
    /// Description, trimmed, never blank.
    pub description: Option<String>,
    /// `SITE_SELECTION` or `ADRIA_ANALYSIS`.
    #[sea_orm(column_name = "type")]
    pub kind: String,
    /// The front end's saved state.
    #[sea_orm(column_type = "JsonBinary")]
    pub project_state: Json,
    /// Seen by everyone.
    pub is_public: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Time of the last change.
    pub updated_at: DateTimeUtc,
    /// Owner (`users.id`, deleted with it).
    pub user_id: i32,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
