//! The `notes` table: text notes on polygons.

use sea_orm::entity::prelude::*;

/// A stored note.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Author (`users.id`, deleted with it).
    pub user_id: i32,
    /// The annotated polygon (`polygons.id`, deleted with it).
    pub polygon_id: i32,
    /// The text, as given.
    pub content: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
