//! Pre-approved users (issue 27, reefguide-r2 §3.2): R2's `pre_approved_users` table, one row per
//! approved address (`reefguide_domain::user::pre_approval`).
//!
//! The address is normalised before it gets here, so the unique index on `email` is a
//! case-insensitive uniqueness guarantee, as on `users`. `roles` is a JSON array of R2's role
//! names (`ADMIN`, `ANALYST`, `DEFAULT`), like `users.roles`. The administrator who made a
//! pre-approval may be deleted: `created_by_user_id` then becomes NULL (R2's `SET NULL`), and
//! the pre-approval stays.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer_null, json_binary, pk_auto, text_uniq, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

use super::create_index;

/// Creates `pre_approved_users`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PreApprovedUsers::Table)
                    .if_not_exists()
                    .col(pk_auto(PreApprovedUsers::Id))
                    .col(text_uniq(PreApprovedUsers::Email))
                    .col(json_binary(PreApprovedUsers::Roles))
                    .col(timestamp_with_time_zone(PreApprovedUsers::CreatedAt))
                    .col(timestamp_with_time_zone(PreApprovedUsers::UpdatedAt))
                    .col(integer_null(PreApprovedUsers::CreatedByUserId))
                    .col(boolean(PreApprovedUsers::Used).default(false))
                    .col(timestamp_with_time_zone_null(PreApprovedUsers::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pre_approved_users_created_by_user_id")
                            .from(PreApprovedUsers::Table, PreApprovedUsers::CreatedByUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            PreApprovedUsers::Table,
            [PreApprovedUsers::CreatedAt],
            "idx_pre_approved_users_created_at",
        )
        .await?;
        create_index(
            manager,
            PreApprovedUsers::Table,
            [PreApprovedUsers::CreatedByUserId],
            "idx_pre_approved_users_created_by_user_id",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(manager, [PreApprovedUsers::Table]).await
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
enum PreApprovedUsers {
    Table,
    Id,
    Email,
    Roles,
    CreatedAt,
    UpdatedAt,
    CreatedByUserId,
    Used,
    UsedAt,
}

/// Undoing the migration drops the table and nothing else; applying it again brings it back
/// empty, with its unique address and its `SET NULL` foreign key.
#[cfg(all(test, feature = "test-support"))]
mod tests {
    use rstest::rstest;
    use sea_orm_migration::MigratorTrait as _;

    use crate::migrations::Migrator;
    use crate::test_support::{
        TestBackend, TestDatabase, count_rows as count, execute_sql as execute,
    };

    const T: &str = "'2026-01-01 00:00:00+00:00'";

    fn pre_approval(email: &str, created_by: &str) -> String {
        format!(
            "INSERT INTO pre_approved_users (email, roles, created_at, updated_at, \
             created_by_user_id) VALUES ('{email}', '[\"ANALYST\"]', {T}, {T}, {created_by})"
        )
    }

    #[rstest]
    #[tokio::test]
    async fn down_drops_the_table_only_and_up_brings_it_back(
        #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    ) {
        let db = TestDatabase::create(backend).await.expect("a database");
        let store = db.store();
        execute(
            store,
            &format!(
                "INSERT INTO users (email, password_hash, roles, created_at) \
                 VALUES ('admin@example.com', 'hash', '[\"ADMIN\"]', {T})"
            ),
        )
        .await
        .expect("planted");
        execute(store, &pre_approval("ana@example.com", "1"))
            .await
            .expect("planted");
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) AS n FROM pre_approved_users WHERE used = FALSE AND used_at IS NULL"
            )
            .await,
            1,
            "unused by default"
        );
        assert!(
            execute(store, &pre_approval("ana@example.com", "NULL"))
                .await
                .is_err(),
            "one pre-approval per address"
        );

        crate::migrations::undo_migrations_after(store, &super::Migration).await;
        Migrator::down(store.connection(), Some(1))
            .await
            .expect("undone");
        assert!(
            execute(store, "SELECT id FROM pre_approved_users")
                .await
                .is_err(),
            "the table is gone"
        );
        assert_eq!(count(store, "SELECT COUNT(*) AS n FROM users").await, 1);

        Migrator::up(store.connection(), None)
            .await
            .expect("applied again");
        assert_eq!(
            count(store, "SELECT COUNT(*) AS n FROM pre_approved_users").await,
            0,
            "back, empty"
        );
        execute(store, &pre_approval("ben@example.com", "1"))
            .await
            .expect("usable again");
        execute(store, "DELETE FROM users WHERE id = 1")
            .await
            .expect("the maker deleted");
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) AS n FROM pre_approved_users WHERE created_by_user_id IS NULL"
            )
            .await,
            1,
            "the pre-approval stays, without its maker"
        );
    }
}
