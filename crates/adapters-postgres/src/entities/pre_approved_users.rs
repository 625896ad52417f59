//! The `pre_approved_users` table: addresses approved with roles before their owners register.

use sea_orm::entity::prelude::*;

/// A stored pre-approval.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pre_approved_users")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The approved (normalised) address; unique.
    #[sea_orm(unique)]
    pub email: String,
    /// JSON array of R2's role names, e.g. `["ANALYST","DEFAULT"]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub roles: Json,
    /// When it was made.
    pub created_at: DateTimeUtc,
    /// When it was last changed.
    pub updated_at: DateTimeUtc,
    /// The administrator who made it (`users.id`); NULL once that account is deleted.
    pub created_by_user_id: Option<i32>,
    /// Whether an account was registered with it.
    pub used: bool,
    /// When it was used.
    pub used_at: Option<DateTimeUtc>,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
