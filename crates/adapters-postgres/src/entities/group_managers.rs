//! The `group_managers` table (m0010): one row per managers seat, unique per group and user.

use sea_orm::entity::prelude::*;

/// A stored seat.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "group_managers")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The group (deleted with it).
    pub group_id: i32,
    /// The user holding the seat (deleted with them).
    pub user_id: i32,
    /// When the seat was given.
    pub created_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
