//! [`PasswordResetRepository`] for [`SeaOrmStore`].
//!
//! Storing a reset and using one are each one write transaction. Using is a conditional `UPDATE`
//! (`… WHERE id = ? AND used_at IS NULL AND attempts < max`) whose affected-row count decides:
//! of two racing confirmations of one code exactly one changes the password.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::auth::reset::{
    MAX_RESET_ATTEMPTS, NewPasswordReset, PasswordReset, ResetCodeHash, ResetSelector,
};
use reefguide_domain::{Email, PasswordHash, UserId};
use reefguide_ports::PasswordResetRepository;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};

use super::{stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::password_resets::{self, Column, Entity};
use crate::entities::{refresh_tokens, users};
use crate::errors::{DbContext as _, on_unique_violation};

/// A stored reset as a domain value.
fn to_reset(row: password_resets::Model) -> anyhow::Result<PasswordReset> {
    Ok(PasswordReset {
        id: i64::from(row.id),
        user_id: row.user_id.map(user_id).transpose()?,
        code_hash: ResetCodeHash::from_stored(row.code_hash),
        attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        expires_at: row.expires_at,
        used_at: row.used_at,
    })
}

/// A reset id as stored.
fn stored_id(id: i64) -> anyhow::Result<i32> {
    i32::try_from(id).map_err(|_| anyhow::anyhow!("password reset id {id} is out of range"))
}

/// The attempt cap as stored.
fn max_attempts() -> i32 {
    i32::try_from(MAX_RESET_ATTEMPTS).unwrap_or(i32::MAX)
}

#[async_trait]
impl PasswordResetRepository for SeaOrmStore {
    async fn latest_unused_reset(&self, email: &Email) -> anyhow::Result<Option<DateTime<Utc>>> {
        let latest = Entity::find()
            .select_only()
            .column(Column::CreatedAt)
            .filter(Column::Email.eq(email.as_str()))
            .filter(Column::UsedAt.is_null())
            .order_by_desc(Column::CreatedAt)
            .into_tuple::<DateTime<Utc>>()
            .one(&self.db)
            .await
            .db_context("cannot read password resets")?;
        Ok(latest)
    }

    async fn insert_password_reset(&self, reset: &NewPasswordReset) -> anyhow::Result<bool> {
        let what = "cannot store a password reset";
        let now = stored_time(reset.created_at);
        let txn = self.begin_write().await.db_context(what)?;
        Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(Column::UsedAt.is_null())
            .filter(
                Condition::any()
                    .add(Column::Email.eq(reset.email.as_str()))
                    .add(Column::ExpiresAt.lte(now)),
            )
            .exec(&*txn)
            .await
            .db_context(what)?;
        let row = password_resets::ActiveModel {
            id: NotSet,
            email: Set(reset.email.as_str().to_owned()),
            user_id: Set(reset.user_id.map(UserId::get)),
            selector: Set(reset.selector.as_str().to_owned()),
            code_hash: Set(reset.code_hash.as_str().to_owned()),
            attempts: Set(0),
            created_at: Set(now),
            expires_at: Set(stored_time(reset.expires_at)),
            used_at: Set(None),
        };
        match Entity::insert(row).exec(&*txn).await {
            Ok(_) => {}
            Err(error) if on_unique_violation(&error, || ()).is_some() => {
                txn.rollback().await.db_context(what)?;
                return Ok(false);
            }
            Err(error) => return Err(error).db_context(what),
        }
        txn.commit().await.db_context(what)?;
        Ok(true)
    }

    async fn find_password_reset(
        &self,
        selector: &ResetSelector,
    ) -> anyhow::Result<Option<PasswordReset>> {
        Entity::find()
            .filter(Column::Selector.eq(selector.as_str()))
            .filter(Column::UsedAt.is_null())
            .one(&self.db)
            .await
            .db_context("cannot read a password reset")?
            .map(to_reset)
            .transpose()
    }

    async fn count_reset_attempt(&self, id: i64) -> anyhow::Result<()> {
        Entity::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .filter(Column::Id.eq(stored_id(id)?))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot count an attempt on password reset {id}"))?;
        Ok(())
    }

    async fn use_password_reset(
        &self,
        id: i64,
        user_id: UserId,
        new_hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let what = || format!("cannot use password reset {id}");
        let now = stored_time(now);
        let txn = self.begin_write().await.with_db_context(what)?;
        let used = Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(Column::Id.eq(stored_id(id)?))
            .filter(Column::UserId.eq(user_id.get()))
            .filter(Column::UsedAt.is_null())
            .filter(Column::Attempts.lt(max_attempts()))
            .exec(&*txn)
            .await
            .with_db_context(what)?;
        if used.rows_affected != 1 {
            txn.rollback().await.with_db_context(what)?;
            return Ok(false);
        }
        let updated = users::Entity::update_many()
            .col_expr(
                users::Column::PasswordHash,
                Expr::value(new_hash.as_str().to_owned()),
            )
            .filter(users::Column::Id.eq(user_id.get()))
            .filter(users::Column::Issuer.is_null())
            .exec(&*txn)
            .await
            .with_db_context(what)?;
        if updated.rows_affected != 1 {
            txn.rollback().await.with_db_context(what)?;
            return Ok(false);
        }
        refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::UserId.eq(user_id.get()))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&*txn)
            .await
            .with_db_context(what)?;
        Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(Column::UserId.eq(user_id.get()))
            .filter(Column::UsedAt.is_null())
            .exec(&*txn)
            .await
            .with_db_context(what)?;
        txn.commit().await.with_db_context(what)?;
        Ok(true)
    }
}
