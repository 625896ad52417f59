//! Helpers shared by the storage contract suites.

use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::{TestBackend, TestDatabase};
use reefguide_domain::UserId;
use sea_orm::ConnectionTrait as _;

/// A fresh, migrated database on `backend`; fails the test when it cannot be had.
pub async fn database(backend: TestBackend) -> TestDatabase {
    TestDatabase::create(backend)
        .await
        .unwrap_or_else(|err| panic!("cannot create a {backend:?} test database: {err:#}"))
}

/// A user id from a literal.
pub fn user_id(raw: i64) -> UserId {
    UserId::new(raw).expect("positive id")
}

/// Runs raw SQL against the store's database (to plant rows the ports cannot write).
pub async fn execute(store: &SeaOrmStore, sql: &str) {
    store
        .connection()
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}
