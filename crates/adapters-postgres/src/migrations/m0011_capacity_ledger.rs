//! The capacity manager's ledger (issue 28): one row per compute target, the worker tasks the
//! manager started that were alive when last seen (a JSON array of task ids) and when it last
//! tried to start some. Kept in the database so that whichever server instance holds the
//! manager's lock next carries on from it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    json, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// Creates `capacity_ledger`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CapacityLedger::Table)
                    .if_not_exists()
                    .col(text(CapacityLedger::Target).primary_key())
                    .col(json(CapacityLedger::Tasks))
                    .col(timestamp_with_time_zone_null(CapacityLedger::LastLaunchAt))
                    .col(timestamp_with_time_zone(CapacityLedger::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(manager, [CapacityLedger::Table]).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum CapacityLedger {
    Table,
    Target,
    Tasks,
    LastLaunchAt,
    UpdatedAt,
}

/// Up, down and up again on both backends: the table comes and goes alone.
#[cfg(all(test, feature = "test-support"))]
mod tests {
    use rstest::rstest;
    use sea_orm_migration::MigratorTrait as _;

    use crate::migrations::Migrator;
    use crate::test_support::{
        TestBackend, TestDatabase, count_rows as count, execute_sql as execute,
    };

    #[rstest]
    #[tokio::test]
    async fn down_drops_the_table_only_and_up_brings_it_back(
        #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    ) {
        let db = TestDatabase::create(backend).await.expect("a database");
        let store = db.store();
        let row = "INSERT INTO capacity_ledger (target, tasks, last_launch_at, updated_at) \
                   VALUES ('default', '[\"task-1\"]', NULL, '2026-01-01 00:00:00+00:00')";
        execute(store, row).await.expect("planted");
        assert!(execute(store, row).await.is_err(), "one row per target");

        crate::migrations::undo_migrations_after(store, &super::Migration).await;
        Migrator::down(store.connection(), Some(1))
            .await
            .expect("undone");
        assert!(
            execute(store, "SELECT target FROM capacity_ledger")
                .await
                .is_err(),
            "the table is gone"
        );
        Migrator::up(store.connection(), None)
            .await
            .expect("redone");
        assert_eq!(
            count(store, "SELECT COUNT(*) AS n FROM capacity_ledger").await,
            0
        );
    }
}
