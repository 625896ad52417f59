//! [`RefreshTokenRepository`] for [`SeaOrmStore`].
//!
//! Revocation and rotation are single conditional `UPDATE`s (`… WHERE token_hash = ? AND
//! revoked_at IS NULL AND rotated_at IS NULL`) whose affected-row count is the answer: the
//! database serialises concurrent updates of a row (row lock on Postgres, write lock on SQLite),
//! so of two racing calls exactly one sees the row still untouched.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::{RefreshTokenHash, RefreshTokenRecord, UserId};
use reefguide_ports::RefreshTokenRepository;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, EntityTrait as _, QueryFilter as _,
};

use super::{stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::refresh_tokens::{self, Column};
use crate::errors::DbContext as _;

/// A stored token as a domain record.
fn to_record(row: refresh_tokens::Model) -> anyhow::Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: RefreshTokenHash::from_stored(row.token_hash),
        user_id: user_id(row.user_id)?,
        family: row.family,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        rotated_at: row.rotated_at,
    })
}

impl SeaOrmStore {
    /// Sets `column` to `at` on the token with this digest if it is neither revoked nor rotated;
    /// whether it did.
    async fn close_token(
        &self,
        hash: &RefreshTokenHash,
        column: Column,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let updated = refresh_tokens::Entity::update_many()
            .col_expr(column, Expr::value(stored_time(at)))
            .filter(Column::TokenHash.eq(hash.as_str()))
            .filter(Column::RevokedAt.is_null())
            .filter(Column::RotatedAt.is_null())
            .exec(&self.db)
            .await
            .db_context("cannot update refresh token")?;
        Ok(updated.rows_affected == 1)
    }
}

#[async_trait]
impl RefreshTokenRepository for SeaOrmStore {
    async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> anyhow::Result<()> {
        let row = refresh_tokens::ActiveModel {
            id: NotSet,
            user_id: Set(record.user_id.get()),
            token_hash: Set(record.hash.as_str().to_owned()),
            family: Set(record.family.clone()),
            expires_at: Set(stored_time(record.expires_at)),
            revoked_at: Set(record.revoked_at.map(stored_time)),
            rotated_at: Set(record.rotated_at.map(stored_time)),
            created_at: Set(stored_time(self.clock.now())),
        };
        refresh_tokens::Entity::insert(row)
            .exec(&self.db)
            .await
            .db_context("cannot store refresh token")?;
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &RefreshTokenHash,
    ) -> anyhow::Result<Option<RefreshTokenRecord>> {
        refresh_tokens::Entity::find()
            .filter(Column::TokenHash.eq(hash.as_str()))
            .one(&self.db)
            .await
            .db_context("cannot load refresh token")?
            .map(to_record)
            .transpose()
    }

    async fn revoke_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        self.close_token(hash, Column::RevokedAt, at).await
    }

    async fn mark_refresh_token_rotated(
        &self,
        hash: &RefreshTokenHash,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        self.close_token(hash, Column::RotatedAt, at).await
    }

    async fn revoke_refresh_token_family(
        &self,
        family: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let updated = refresh_tokens::Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(stored_time(at)))
            .filter(Column::Family.eq(family))
            .filter(Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .db_context("cannot revoke refresh-token family")?;
        Ok(updated.rows_affected)
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let updated = refresh_tokens::Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(stored_time(at)))
            .filter(Column::UserId.eq(user_id.get()))
            .filter(Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot revoke refresh tokens of user {user_id}"))?;
        Ok(updated.rows_affected)
    }
}
