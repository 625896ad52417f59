//! The `refresh_tokens` table: refresh tokens stored only as digests.

use sea_orm::entity::prelude::*;

/// A stored refresh token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Owner (`users.id`, deleted with it).
    pub user_id: i32,
    /// Lower-case hex SHA-256 of the token; unique. The clear token is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Rotation family.
    pub family: String,
    /// Expiry.
    pub expires_at: DateTimeUtc,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// Rotation time, if exchanged for a successor.
    pub rotated_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
