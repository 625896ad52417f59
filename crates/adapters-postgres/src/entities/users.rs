//! The `users` table.
//!
//! A row is a local account (`email` and `password_hash` set, `issuer` and `username` NULL) or
//! the account of an external identity (`issuer` and `username` set, `email` and
//! `password_hash` NULL); a CHECK constraint (`ck_users_identity`, migration
//! `m0005_external_identities`) refuses anything else.

use sea_orm::entity::prelude::*;

/// A stored user account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Normalised (trimmed, lower-cased) email of a local account; unique. NULL for an
    /// external identity.
    #[sea_orm(unique)]
    pub email: Option<String>,
    /// PHC string of a local account's password hash; NULL for an external identity.
    pub password_hash: Option<String>,
    /// JSON array of role names, e.g. `["ADMIN","WORKER"]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub roles: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// The trusted token issuer of an external identity; NULL for a local account. Unique with
    /// `username`.
    pub issuer: Option<String>,
    /// The external identity's name at its issuer; NULL for a local account.
    pub username: Option<String>,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
