//! Applying and undoing the migration on both backends: the constraints hold (unique names, one
//! range per criterion and region, cascades), undoing drops the three tables and nothing else,
//! and the migration applies again.

use rstest::rstest;
use sea_orm_migration::MigratorTrait as _;

use super::Migration;
use crate::SeaOrmStore;
use crate::migrations::Migrator;
use crate::test_support::{TestBackend, TestDatabase, count_rows, execute_sql as execute};

const T: &str = "'2026-01-01 00:00:00+00:00'";

async fn count(store: &SeaOrmStore, table: &str) -> i64 {
    count_rows(store, &format!("SELECT COUNT(*) AS n FROM {table}")).await
}

fn region(id: i64, name: &str) -> String {
    format!(
        "INSERT INTO regions (id, name, display_name, created_at, updated_at) \
         VALUES ({id}, '{name}', '{name}', {T}, {T})"
    )
}

fn criterion(id: i64, name: &str) -> String {
    format!(
        "INSERT INTO criteria (id, name, display_title, payload_prefix, created_at, updated_at) \
         VALUES ({id}, '{name}', '{name}', '{name}_', {T}, {T})"
    )
}

fn range(region: i64, criterion: i64) -> String {
    format!(
        "INSERT INTO regional_criteria (region_id, criteria_id, min_val, max_val, \
         default_min_val, default_max_val, created_at, updated_at) \
         VALUES ({region}, {criterion}, -50.5, -2, -30, -5, {T}, {T})"
    )
}

#[rstest]
#[tokio::test]
async fn constraints_hold_and_down_drops_the_tables_then_up_again(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = TestDatabase::create(backend).await.expect("a database");
    let store = db.store();
    for sql in [
        region(1, "A"),
        region(2, "B"),
        criterion(1, "Depth"),
        criterion(2, "Slope"),
        range(1, 1),
        range(1, 2),
        range(2, 1),
    ] {
        execute(store, &sql).await.expect("planted");
    }
    assert!(
        execute(store, &region(3, "A")).await.is_err(),
        "region names are unique"
    );
    assert!(
        execute(store, &criterion(3, "Depth")).await.is_err(),
        "criterion names are unique"
    );
    assert!(
        execute(store, &range(1, 1)).await.is_err(),
        "one range per criterion and region"
    );
    assert!(
        execute(store, &range(9, 1)).await.is_err(),
        "a range needs its region"
    );
    execute(
        store,
        "INSERT INTO users (email, password_hash, roles, created_at) \
         VALUES ('ana@example.com', 'hash', '[]', '2026-01-01 00:00:00+00:00')",
    )
    .await
    .expect("a user");

    execute(store, "DELETE FROM criteria WHERE name = 'Slope'")
        .await
        .expect("deleted");
    assert_eq!(count(store, "regional_criteria").await, 2, "its range went");
    execute(store, "DELETE FROM regions WHERE name = 'B'")
        .await
        .expect("deleted");
    assert_eq!(count(store, "regional_criteria").await, 1, "its range went");
    assert_eq!(count(store, "criteria").await, 1, "the criterion stays");

    crate::migrations::undo_migrations_after(store, &Migration).await;
    Migrator::down(store.connection(), Some(1))
        .await
        .expect("undone");
    for table in ["regions", "criteria", "regional_criteria"] {
        assert!(
            execute(store, &format!("SELECT 1 FROM {table}"))
                .await
                .is_err(),
            "{table} is gone"
        );
    }
    assert_eq!(count(store, "users").await, 1, "nothing else changed");

    Migrator::up(store.connection(), None)
        .await
        .expect("applied again");
    for table in ["regions", "criteria", "regional_criteria"] {
        assert_eq!(count(store, table).await, 0, "{table} is back, empty");
    }
    execute(store, &region(1, "A")).await.expect("usable");
    assert!(execute(store, &region(2, "A")).await.is_err(), "and unique");
}
