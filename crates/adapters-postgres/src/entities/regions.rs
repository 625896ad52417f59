//! The `regions` table: the regions of ReefGuide's data specification.

use sea_orm::entity::prelude::*;

/// A stored region.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "regions")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Its name (unique).
    pub name: String,
    /// Its name for people.
    pub display_name: String,
    /// A description, if any.
    pub description: Option<String>,
    /// When it was first stored.
    pub created_at: DateTimeUtc,
    /// When a specification last named it.
    pub updated_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
