//! The capacity manager's ledger (`CapacityLedger`) on both backends.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use chrono::{TimeZone as _, Utc};
use common::database;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_ports::repositories::{CapacityLedger as _, TargetLedger};
use rstest::rstest;

fn tasks(ids: &[&str]) -> std::collections::BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[rstest]
#[tokio::test]
async fn each_target_has_one_record_replaced_whole(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    assert_eq!(
        store.target_ledger("default").await.expect("read"),
        TargetLedger::default(),
        "nothing recorded yet"
    );

    let launched = Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("a time");
    let first = TargetLedger {
        tasks: tasks(&["arn:aws:ecs:task/a", "arn:aws:ecs:task/b"]),
        last_launch: Some(launched),
    };
    store
        .record_target_ledger("default", &first)
        .await
        .expect("recorded");
    let gpu = TargetLedger {
        tasks: tasks(&["gpu-1"]),
        last_launch: None,
    };
    store
        .record_target_ledger("gpu", &gpu)
        .await
        .expect("recorded");
    assert_eq!(store.target_ledger("default").await.expect("read"), first);
    assert_eq!(store.target_ledger("gpu").await.expect("read"), gpu);

    // A later record replaces the whole row: forgotten tasks are gone.
    let second = TargetLedger {
        tasks: tasks(&["arn:aws:ecs:task/b"]),
        last_launch: Some(launched + chrono::Duration::seconds(90)),
    };
    store
        .record_target_ledger("default", &second)
        .await
        .expect("replaced");
    assert_eq!(store.target_ledger("default").await.expect("read"), second);
    assert_eq!(store.target_ledger("gpu").await.expect("read"), gpu);
}
