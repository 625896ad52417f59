//! Test helpers that show the plans Postgres makes for prepared statements.

use sea_orm::{ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _};

use crate::SeaOrmStore;

/// Prepares `statement` as `batch` and runs `steps` (SQL using it) in a transaction that is
/// rolled back; the rows of the last step, one string per row (its first column).
pub(crate) async fn with_prepared(
    store: &SeaOrmStore,
    statement: &Statement,
    steps: &[String],
) -> Vec<String> {
    let txn = store.connection().begin().await.expect("begin");
    txn.execute_unprepared(&format!("PREPARE batch AS {}", statement.sql))
        .await
        .expect("prepare");
    let mut rows = Vec::new();
    for step in steps {
        rows = txn
            .query_all_raw(Statement::from_string(DbBackend::Postgres, step.clone()))
            .await
            .unwrap_or_else(|err| panic!("{step}: {err}"));
    }
    // A prepared statement outlives the transaction.
    txn.execute_unprepared("DEALLOCATE batch")
        .await
        .expect("deallocate");
    txn.rollback().await.expect("rollback");
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a text column"))
        .collect()
}

/// The generic plan Postgres would cache for `statement` (parameters written out in
/// `arguments`), on tables as they are: one line per step.
pub(crate) async fn generic_plan(
    store: &SeaOrmStore,
    statement: &Statement,
    arguments: &str,
) -> String {
    let steps = [
        "SET LOCAL plan_cache_mode = force_generic_plan".to_owned(),
        format!("EXPLAIN EXECUTE batch({arguments})"),
    ];
    with_prepared(store, statement, &steps).await.join("\n")
}
