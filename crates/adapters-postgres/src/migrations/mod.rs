//! Schema migrations, one file per migration (`m0001_accounts`, then `m0002_…` as features land).
//!
//! The same migration code runs on Postgres and SQLite: only backend-neutral column types
//! (integer, text, JSON, timestamp with time zone) and statements SQLite understands (foreign keys
//! declared with their table, indexes created separately) are used. Every migration runs in its
//! own transaction on both backends, so a failed migration leaves no half-made schema behind;
//! the exception is a change SQLite cannot make with `ALTER TABLE` (the NULLable columns and
//! CHECKs of `m0005` on `users` and `m0006` on `polygons`), which rebuilds the table in a
//! transaction of its own on one connection with foreign keys off (`sqlite_rebuild`), and so
//! runs outside the migrator's transaction on SQLite. Applied migrations are recorded in `seaql_migrations`.

use sea_orm::{ConnectionTrait as _, Statement};
use sea_orm_migration::prelude::{
    DbErr, ForeignKey, ForeignKeyAction, ForeignKeyCreateStatement, Index, IntoIden, SchemaManager,
    Table,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_accounts;
mod m0002_study_areas;
mod m0003_jobs;
mod m0004_workflows;
mod m0005_external_identities;
mod m0006_invalid_polygons;
mod m0007_password_resets;
mod m0008_pre_approved_users;
mod m0009_data_specification;
mod m0010_projects_groups;
mod m0011_capacity_ledger;
mod sqlite_rebuild;

/// Every migration of the schema, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_study_areas::Migration),
            Box::new(m0003_jobs::Migration),
            Box::new(m0004_workflows::Migration),
            Box::new(m0005_external_identities::Migration),
            Box::new(m0006_invalid_polygons::Migration),
            Box::new(m0007_password_resets::Migration),
            Box::new(m0008_pre_approved_users::Migration),
            Box::new(m0009_data_specification::Migration),
            Box::new(m0010_projects_groups::Migration),
            Box::new(m0011_capacity_ledger::Migration),
        ]
    }
}

/// Drops each of `tables` that exists, in order (a `down` undoing the tables its `up` made).
async fn drop_tables<T: IntoIden>(
    manager: &SchemaManager<'_>,
    tables: impl IntoIterator<Item = T>,
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}

/// Undoes every migration after `this` one, so that the next step down is `this` one's (the
/// down/up tests of single migrations).
///
/// # Panics
/// When `this` is not listed, or a later migration cannot be undone.
#[cfg(all(test, feature = "test-support"))]
async fn undo_migrations_after(store: &crate::SeaOrmStore, this: &dyn MigrationTrait) {
    let migrations = Migrator::migrations();
    let position = migrations
        .iter()
        .position(|migration| migration.name() == this.name())
        .expect("the migration is listed");
    let later = migrations.len() - position - 1;
    if later > 0 {
        Migrator::down(
            store.connection(),
            Some(u32::try_from(later).expect("few migrations")),
        )
        .await
        .expect("later migrations undone");
    }
}

/// Creates a plain (non-unique) index over `columns`, in order.
async fn create_index<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
    name: &str,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.to_owned()).await
}

/// A foreign key `from_table.from_column → to_table.to_column` whose rows go when the row they
/// point to is deleted.
fn cascading_foreign_key(
    name: &str,
    (from_table, from_column): (impl IntoIden, impl IntoIden),
    (to_table, to_column): (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from_table, from_column)
        .to(to_table, to_column)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// What `SELECT COUNT(*) AS n …` answers.
async fn count(manager: &SchemaManager<'_>, sql: &str) -> Result<i64, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            manager.get_database_backend(),
            sql.to_owned(),
        ))
        .await?;
    row.map_or(Ok(0), |row| row.try_get("", "n"))
}

/// Whether SQLite's `table` has `column` already (a rebuild that stopped before the migrator
/// recorded it is not redone).
async fn sqlite_has_column(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
) -> Result<bool, DbErr> {
    let found = count(
        manager,
        &format!("SELECT COUNT(*) AS n FROM pragma_table_info('{table}') WHERE name = '{column}'"),
    )
    .await?;
    Ok(found > 0)
}

/// The whole schema goes down and comes up again on both backends.
#[cfg(all(test, feature = "test-support"))]
mod tests {
    use rstest::rstest;
    use sea_orm_migration::MigratorTrait as _;

    use super::Migrator;
    use crate::test_support::{TestBackend, TestDatabase, count_rows, execute_sql};

    #[rstest]
    #[tokio::test]
    async fn every_migration_goes_down_and_up_again(
        #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    ) {
        let db = TestDatabase::create(backend).await.expect("a database");
        let store = db.store();
        Migrator::down(store.connection(), None)
            .await
            .expect("all undone");
        for table in ["users", "polygons", "jobs", "capacity_ledger"] {
            assert!(
                execute_sql(store, &format!("SELECT 1 FROM {table}"))
                    .await
                    .is_err(),
                "{table} is still there"
            );
        }
        Migrator::up(store.connection(), None)
            .await
            .expect("all applied again");
        assert_eq!(count_rows(store, "SELECT COUNT(*) AS n FROM jobs").await, 0);
    }
}
