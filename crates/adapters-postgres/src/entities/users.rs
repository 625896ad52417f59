//! The `users` table.

use sea_orm::entity::prelude::*;

/// A stored user account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Normalised (trimmed, lower-cased) email; unique.
    #[sea_orm(unique)]
    pub email: String,
    /// PHC string of the password hash.
    pub password_hash: String,
    /// JSON array of role names, e.g. `["ADMIN","WORKER"]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub roles: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
