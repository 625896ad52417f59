//! `SeaOrmStore::as_leader`: on Postgres one holder of a key at a time, released when the work
//! ends; SQLite (one instance) always leads.

use std::time::Duration;

use reefguide_adapters_postgres::test_support::{TestBackend, TestDatabase};
use tokio::sync::oneshot;

const KEY: i64 = 4_242;

async fn database(backend: TestBackend) -> TestDatabase {
    TestDatabase::create(backend)
        .await
        .unwrap_or_else(|err| panic!("cannot create a {backend:?} test database: {err:#}"))
}

#[tokio::test]
async fn one_instance_leads_at_a_time_on_postgres() {
    let db = database(TestBackend::Postgres).await;
    let (first, second) = (db.store().clone(), db.store().clone());
    let (entered_tx, entered) = oneshot::channel();
    let (release_tx, release) = oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        first
            .as_leader(KEY, async move {
                let _ = entered_tx.send(());
                let _ = release.await;
                "first"
            })
            .await
            .expect("lock asked")
    });
    entered.await.expect("the first leads");
    let refused = second
        .as_leader(KEY, async { "second" })
        .await
        .expect("lock asked");
    assert_eq!(refused, None, "two leaders at once");
    // Another key is free.
    assert_eq!(
        second
            .as_leader(KEY + 1, async { "other" })
            .await
            .expect("lock asked"),
        Some("other")
    );
    let _ = release_tx.send(());
    assert_eq!(holder.await.expect("holder"), Some("first"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        second
            .as_leader(KEY, async { "second" })
            .await
            .expect("lock asked"),
        Some("second"),
        "the lock is released when the work ends"
    );
}

#[tokio::test]
async fn sqlite_always_leads() {
    let db = database(TestBackend::Sqlite).await;
    let (a, b) = (db.store(), db.store());
    let nested = a
        .as_leader(KEY, async { b.as_leader(KEY, async { 1 }).await })
        .await
        .expect("lock asked");
    assert!(matches!(nested, Some(Ok(Some(1)))));
}
