//! The `groups` table (m0010).

use sea_orm::entity::prelude::*;

/// A stored group.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Name, trimmed.
    pub name: String,
    /// Description, trimmed, never blank.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Time of the last change of name, description or owner.
    pub updated_at: DateTimeUtc,
    /// Owner (`users.id`, deleted with it).
    pub owner_id: i32,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
