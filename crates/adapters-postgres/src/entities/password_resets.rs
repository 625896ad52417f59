//! The `password_resets` table: reset codes stored only as digests under their selectors.

use sea_orm::entity::prelude::*;

/// A stored password reset.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "password_resets")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The (normalised) address the reset was asked for.
    pub email: String,
    /// Its account (`users.id`, deleted with it); NULL for an address without one.
    pub user_id: Option<i32>,
    /// The code's leading characters; unique among unused resets.
    pub selector: String,
    /// Lower-case hex SHA-256 of the code. The code itself is never stored.
    pub code_hash: String,
    /// Wrong codes counted against it.
    pub attempts: i32,
    /// When it was asked for.
    pub created_at: DateTimeUtc,
    /// When the code stops working.
    pub expires_at: DateTimeUtc,
    /// When it was used or superseded, if it was.
    pub used_at: Option<DateTimeUtc>,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
