//! Password resets (issue 27): one row per reset asked for, the code stored only as its digest
//! under its selector (`reefguide_domain::auth::reset`).
//!
//! `user_id` is NULL for an address without an account (such a reset is stored so that both
//! kinds of request do the same work and share the cooldown; it can never be used) and goes with
//! its user otherwise. A partial unique index keeps the selectors of unused resets unique, so a
//! selector names at most one live reset; used ones keep theirs for the record.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, integer_null, pk_auto, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

use super::{cascading_foreign_key, create_index};

/// Creates `password_resets`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// One unused reset per selector, as SQL both backends accept.
const LIVE_SELECTOR_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS \
     idx_password_resets_live_selector ON password_resets (selector) WHERE used_at IS NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .if_not_exists()
                    .col(pk_auto(PasswordResets::Id))
                    .col(text(PasswordResets::Email))
                    .col(integer_null(PasswordResets::UserId))
                    .col(text(PasswordResets::Selector))
                    .col(text(PasswordResets::CodeHash))
                    .col(integer(PasswordResets::Attempts).default(0))
                    .col(timestamp_with_time_zone(PasswordResets::CreatedAt))
                    .col(timestamp_with_time_zone(PasswordResets::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordResets::UsedAt))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_password_resets_user_id",
                        (PasswordResets::Table, PasswordResets::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(LIVE_SELECTOR_INDEX)
            .await?;
        create_index(
            manager,
            PasswordResets::Table,
            [PasswordResets::Email, PasswordResets::CreatedAt],
            "idx_password_resets_email_created_at",
        )
        .await?;
        create_index(
            manager,
            PasswordResets::Table,
            [PasswordResets::UserId],
            "idx_password_resets_user_id",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(manager, [PasswordResets::Table]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    Email,
    UserId,
    Selector,
    CodeHash,
    Attempts,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
