//! `SeaOrmStore::as_leader`: on Postgres one holder of a key at a time, released when the work
//! ends; `Leadership`: one instance holds a role until it resigns, dies or loses its session;
//! SQLite (one instance) always leads.

use std::time::Duration;

use reefguide_adapters_postgres::test_support::{TestBackend, TestDatabase, execute_sql};
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

#[tokio::test]
async fn a_leader_keeps_its_role_until_it_resigns() {
    let db = database(TestBackend::Postgres).await;
    let mut first = db.store().leadership(KEY + 10);
    let mut second = db.store().leadership(KEY + 10);
    assert!(
        first.check().await.expect("asked"),
        "the first to ask leads"
    );
    for _ in 0..3 {
        assert!(!second.check().await.expect("asked"), "two leaders at once");
        assert!(
            first.check().await.expect("asked"),
            "the leader lost its role"
        );
    }
    assert_eq!(
        second.lead(async { "cycle" }).await.expect("asked"),
        None,
        "a follower ran a cycle"
    );
    assert_eq!(
        first.lead(async { "cycle" }).await.expect("asked"),
        Some("cycle")
    );
    first.resign().await;
    assert!(!first.leads());
    assert!(second.check().await.expect("asked"), "nobody took over");
    assert!(!first.check().await.expect("asked"), "two leaders at once");
}

#[tokio::test]
async fn a_dead_leaders_role_passes_on() {
    let db = database(TestBackend::Postgres).await;
    let mut leader = db.store().leadership(KEY + 20);
    let mut follower = db.store().leadership(KEY + 20);
    assert!(leader.check().await.expect("asked"));
    // The process dies: its connection goes without a word.
    drop(leader);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !follower.check().await.expect("asked") {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock outlived its connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_leader_that_lost_its_connection_asks_again() {
    let db = database(TestBackend::Postgres).await;
    let mut leader = db.store().leadership(KEY + 30);
    let mut follower = db.store().leadership(KEY + 30);
    assert!(leader.check().await.expect("asked"));
    // An administrator (or a failover) ends the leader's session.
    // A bigint advisory key shows in `pg_locks` as its high and low 32 bits.
    execute_sql(
        db.store(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND classid = 0 AND objid = {} AND granted",
            KEY + 30
        ),
    )
    .await
    .expect("terminated");
    assert!(
        follower.check().await.expect("asked"),
        "the lock outlived its session"
    );
    assert!(
        !leader.check().await.expect("asked"),
        "the old leader still thinks it leads"
    );
    assert!(!leader.leads());
}

#[tokio::test]
async fn sqlite_always_holds_the_role() {
    let db = database(TestBackend::Sqlite).await;
    let (mut a, mut b) = (db.store().leadership(KEY), db.store().leadership(KEY));
    assert!(a.check().await.expect("asked") && b.check().await.expect("asked"));
    assert_eq!(b.lead(async { 1 }).await.expect("asked"), Some(1));
}
