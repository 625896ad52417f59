//! Accounts: users, their refresh tokens and the user audit log.

use super::{cascading_foreign_key, create_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, json_binary, json_binary_null, pk_auto, text, text_uniq, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

/// Creates `users`, `refresh_tokens` and `user_logs`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_auto(Users::Id))
                    // Emails are normalised by the domain before they get here, so a plain
                    // unique index is a case-insensitive uniqueness guarantee.
                    .col(text_uniq(Users::Email))
                    .col(text(Users::PasswordHash))
                    .col(json_binary(Users::Roles))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(pk_auto(RefreshTokens::Id))
                    .col(integer(RefreshTokens::UserId))
                    .col(text_uniq(RefreshTokens::TokenHash))
                    .col(text(RefreshTokens::Family))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_refresh_tokens_user_id",
                        (RefreshTokens::Table, RefreshTokens::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            RefreshTokens::Table,
            [RefreshTokens::UserId],
            "idx_refresh_tokens_user_id",
        )
        .await?;
        create_index(
            manager,
            RefreshTokens::Table,
            [RefreshTokens::Family],
            "idx_refresh_tokens_family",
        )
        .await?;

        // No foreign key on `user_id`: log entries outlive the users they are about.
        manager
            .create_table(
                Table::create()
                    .table(UserLogs::Table)
                    .if_not_exists()
                    .col(pk_auto(UserLogs::Id))
                    .col(integer(UserLogs::UserId))
                    .col(timestamp_with_time_zone(UserLogs::Time))
                    .col(text(UserLogs::Action))
                    .col(json_binary_null(UserLogs::Metadata))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            UserLogs::Table,
            [UserLogs::UserId],
            "idx_user_logs_user_id",
        )
        .await?;
        create_index(
            manager,
            UserLogs::Table,
            [UserLogs::Time],
            "idx_user_logs_time",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(
            manager,
            [
                UserLogs::Table.into_iden(),
                RefreshTokens::Table.into_iden(),
                Users::Table.into_iden(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Roles,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    Family,
    ExpiresAt,
    RevokedAt,
    RotatedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserLogs {
    Table,
    Id,
    UserId,
    Time,
    Action,
    Metadata,
}
