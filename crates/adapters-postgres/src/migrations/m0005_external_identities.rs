//! External identities (labcas-contract §4): an account of a trusted external token issuer is a
//! `users` row with `issuer` and `username` and no email or password.
//!
//! `users.email` and `users.password_hash` become NULLable, `users.issuer` and `users.username`
//! are added, one account per (issuer, username) is a unique index, and a CHECK constraint
//! (`ck_users_identity`) keeps every row one of the two kinds: a local account (email and
//! password hash, no issuer or username) or an external one (the opposite). Emails stay unique;
//! both backends let a unique index hold any number of NULLs.
//!
//! Postgres alters the table in place, in the migration's transaction. SQLite cannot drop a
//! `NOT NULL`: the table is rebuilt on one connection with foreign keys off (see
//! [`super::sqlite_rebuild`]), so the rows that cascade from users (refresh tokens, polygons,
//! notes) stay. This migration therefore runs outside a transaction on SQLite, which is what
//! `use_transaction() == None` means there; the rebuild makes its own.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    json_binary, pk_auto, text, text_null, text_uniq, timestamp_with_time_zone,
};

use super::sqlite_rebuild::{Rebuild, rebuild_table};
use super::{count, sqlite_has_column};

/// Makes `users` hold external identities.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The two kinds of account a row may be, as SQL both backends accept.
const IDENTITY_CHECK: &str = "(issuer IS NULL AND username IS NULL \
         AND email IS NOT NULL AND password_hash IS NOT NULL) \
     OR (issuer IS NOT NULL AND username IS NOT NULL \
         AND email IS NULL AND password_hash IS NULL)";

/// One account per external identity; local accounts (both NULL) are not constrained.
const IDENTITY_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS idx_users_issuer_username \
     ON users (issuer, username)";

/// SQLite: the columns both shapes have, copied by either rebuild.
const COPY_ROWS: &str = "INSERT INTO users_new (id, email, password_hash, roles, created_at) \
     SELECT id, email, password_hash, roles, created_at FROM users";

/// Postgres: the change in place.
const POSTGRES_UP: &str = "ALTER TABLE users \
     ALTER COLUMN email DROP NOT NULL, \
     ALTER COLUMN password_hash DROP NOT NULL, \
     ADD COLUMN issuer text, \
     ADD COLUMN username text";

/// Postgres: undoing it (once no external account is left).
const POSTGRES_DOWN: &str = "ALTER TABLE users \
     DROP CONSTRAINT IF EXISTS ck_users_identity, \
     DROP COLUMN issuer, \
     DROP COLUMN username, \
     ALTER COLUMN email SET NOT NULL, \
     ALTER COLUMN password_hash SET NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            // Already rebuilt by a run that stopped before the migrator recorded it.
            DbBackend::Sqlite if sqlite_has_column(manager, "users", "issuer").await? => Ok(()),
            DbBackend::Sqlite => rebuild_table(manager, &sqlite_up()).await,
            _ => postgres_up(manager).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_if_external_accounts(manager).await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_table(manager, &sqlite_down()).await,
            _ => postgres_down(manager).await,
        }
    }

    /// `None`: a transaction on Postgres, none on SQLite (the rebuild makes its own on the
    /// connection it turns foreign keys off on).
    fn use_transaction(&self) -> Option<bool> {
        None
    }
}

/// Drops the `NOT NULL`s, adds the columns, the CHECK and the index.
async fn postgres_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let connection = manager.get_connection();
    connection.execute_unprepared(POSTGRES_UP).await?;
    connection
        .execute_unprepared(&format!(
            "ALTER TABLE users ADD CONSTRAINT ck_users_identity CHECK ({IDENTITY_CHECK})"
        ))
        .await?;
    connection.execute_unprepared(IDENTITY_INDEX).await?;
    Ok(())
}

/// The index, the CHECK and the columns go; the `NOT NULL`s come back.
async fn postgres_down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let connection = manager.get_connection();
    connection
        .execute_unprepared("DROP INDEX IF EXISTS idx_users_issuer_username")
        .await?;
    connection.execute_unprepared(POSTGRES_DOWN).await?;
    Ok(())
}

/// SQLite: `users` in its new shape (the columns of m0001, two of them now NULLable, then the
/// new ones, in the order Postgres's `ADD COLUMN` gives them).
fn sqlite_up() -> Rebuild {
    let create = Table::create()
        .table(UsersNew::Table)
        .col(pk_auto(Users::Id))
        .col(text_null(Users::Email).unique_key())
        .col(text_null(Users::PasswordHash))
        .col(json_binary(Users::Roles))
        .col(timestamp_with_time_zone(Users::CreatedAt))
        .col(text_null(Users::Issuer))
        .col(text_null(Users::Username))
        .check(Check::named(
            "ck_users_identity",
            Expr::cust(IDENTITY_CHECK),
        ))
        .to_string(SqliteQueryBuilder);
    Rebuild {
        table: "users",
        create,
        copy: COPY_ROWS,
        indexes: &[IDENTITY_INDEX],
    }
}

/// SQLite: `users` as m0001 made it.
fn sqlite_down() -> Rebuild {
    let create = Table::create()
        .table(UsersNew::Table)
        .col(pk_auto(Users::Id))
        .col(text_uniq(Users::Email))
        .col(text(Users::PasswordHash))
        .col(json_binary(Users::Roles))
        .col(timestamp_with_time_zone(Users::CreatedAt))
        .to_string(SqliteQueryBuilder);
    Rebuild {
        table: "users",
        create,
        copy: COPY_ROWS,
        indexes: &[],
    }
}

/// Undoing the migration would have to delete external accounts with everything they own:
/// refuse instead, saying how many there are.
async fn refuse_if_external_accounts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let external = count(
        manager,
        "SELECT COUNT(*) AS n FROM users WHERE issuer IS NOT NULL",
    )
    .await?;
    if external == 0 {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "cannot undo m0005_external_identities: {external} external account(s) exist; delete \
         them first"
    )))
}

#[derive(DeriveIden)]
enum Users {
    Id,
    Email,
    PasswordHash,
    Roles,
    CreatedAt,
    Issuer,
    Username,
}

/// The name `users` is rebuilt under on SQLite.
#[derive(DeriveIden)]
enum UsersNew {
    Table,
}

#[cfg(all(test, feature = "test-support"))]
mod tests;
