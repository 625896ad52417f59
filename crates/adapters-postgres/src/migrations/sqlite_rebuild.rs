//! Changing a table SQLite cannot `ALTER` (dropping `NOT NULL`, adding a `CHECK`): the table is
//! rebuilt, the way the SQLite manual prescribes (<https://sqlite.org/lang_altertable.html>,
//! "making other kinds of table schema changes").
//!
//! Other tables point at the rebuilt one with `ON DELETE CASCADE` foreign keys, and the store
//! opens every SQLite connection with foreign keys on: dropping the old table with them on would
//! delete every dependent row. So the rebuild takes **one** pooled connection (the pool would
//! hand each statement to any connection) and on it:
//!
//! 1. `PRAGMA foreign_keys = OFF` (only possible outside a transaction);
//! 2. `BEGIN IMMEDIATE`; creates `<table>_new` in the new shape, copies the rows, carries the
//!    `AUTOINCREMENT` counter over (so the ids of deleted rows are never handed out again: the
//!    audit log and jobs keep them), drops the old table, renames the new one, creates its
//!    indexes;
//! 3. `PRAGMA foreign_key_check`: any dangling reference rolls everything back;
//! 4. `COMMIT`, then `PRAGMA foreign_keys = ON`, checked: a connection that cannot be given its
//!    foreign keys back is closed rather than returned to the pool.
//!
//! With `legacy_alter_table` at its default (off) and the old table dropped before the rename,
//! the references in other tables, which name the table textually, point at the new one.
//!
//! The migration that uses this must not run in a transaction (`use_transaction()` left to
//! `None`, which means none on SQLite): the pragma would be silently ignored inside one.

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, AssertSqlSafe, Sqlite};
use sea_orm::{DbErr, RuntimeErr};
use sea_orm_migration::{SchemaManager, SchemaManagerConnection};

/// A rebuild of one table into a new shape.
pub(super) struct Rebuild {
    /// The table rebuilt; it must have an `AUTOINCREMENT` key.
    pub table: &'static str,
    /// `CREATE TABLE "<table>_new" …`: the new shape.
    pub create: String,
    /// `INSERT INTO "<table>_new" (…) SELECT … FROM "<table>"`.
    pub copy: &'static str,
    /// The indexes of the new shape (`CREATE … INDEX … ON "<table>"`), created after the rename.
    pub indexes: &'static [&'static str],
}

impl Rebuild {
    /// The name the new shape is built under.
    fn new_table(&self) -> String {
        format!("{}_new", self.table)
    }
}

/// Rebuilds `rebuild.table` on one connection with foreign keys off (see the module
/// documentation). Fails, leaving the table as it was, when the manager is inside a transaction
/// or when any step, including the foreign-key check, fails.
pub(super) async fn rebuild_table(
    manager: &SchemaManager<'_>,
    rebuild: &Rebuild,
) -> Result<(), DbErr> {
    let SchemaManagerConnection::Connection(db) = manager.get_connection() else {
        return Err(DbErr::Migration(format!(
            "rebuilding table {} needs a connection outside any transaction (foreign keys are \
             turned off for it)",
            rebuild.table
        )));
    };
    let mut conn = db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .map_err(driver_error)?;
    execute(&mut conn, "PRAGMA foreign_keys = OFF").await?;
    let rebuilt = rebuild_in_transaction(&mut conn, rebuild).await;
    let restored = restore_foreign_keys(&mut conn).await;
    if restored.is_err() {
        // Never hand a connection without foreign keys back to the pool.
        conn.close_on_drop();
    }
    rebuilt.and(restored)
}

/// The rebuild in one `IMMEDIATE` transaction, committed only if every step succeeded.
async fn rebuild_in_transaction(
    conn: &mut PoolConnection<Sqlite>,
    rebuild: &Rebuild,
) -> Result<(), DbErr> {
    execute(conn, "BEGIN IMMEDIATE").await?;
    let done = match rebuild_steps(conn, rebuild).await {
        Ok(()) => execute(conn, "COMMIT").await,
        Err(err) => Err(err),
    };
    if done.is_err() {
        // Best effort: the cause is what matters, and a failed COMMIT may have ended the
        // transaction already. `restore_foreign_keys` notices a transaction left open.
        let _ = execute(conn, "ROLLBACK").await;
    }
    done
}

/// Create, copy, carry the counter, drop, rename, index, check.
async fn rebuild_steps(conn: &mut PoolConnection<Sqlite>, rebuild: &Rebuild) -> Result<(), DbErr> {
    let (table, new_table) = (rebuild.table, rebuild.new_table());
    execute(conn, &rebuild.create).await?;
    execute(conn, rebuild.copy).await?;
    // The copy started a counter of its own at the largest id copied; the old table's may be
    // larger (its last rows deleted).
    execute(
        conn,
        &format!("DELETE FROM sqlite_sequence WHERE name = '{new_table}'"),
    )
    .await?;
    execute(
        conn,
        &format!(
            "INSERT INTO sqlite_sequence (name, seq) \
             SELECT '{new_table}', seq FROM sqlite_sequence WHERE name = '{table}'"
        ),
    )
    .await?;
    execute(conn, &format!("DROP TABLE \"{table}\"")).await?;
    execute(
        conn,
        &format!("ALTER TABLE \"{new_table}\" RENAME TO \"{table}\""),
    )
    .await?;
    for index in rebuild.indexes {
        execute(conn, index).await?;
    }
    check_foreign_keys(conn).await
}

/// Fails when any row anywhere refers to a row that does not exist.
async fn check_foreign_keys(conn: &mut PoolConnection<Sqlite>) -> Result<(), DbErr> {
    // Rows of (table, rowid, parent, foreign key index).
    let dangling: Vec<(String, Option<i64>, String, i64)> =
        sqlx::query_as("PRAGMA foreign_key_check")
            .persistent(false)
            .fetch_all(&mut **conn)
            .await
            .map_err(driver_error)?;
    match dangling.first() {
        None => Ok(()),
        Some((table, rowid, parent, _)) => Err(DbErr::Migration(format!(
            "the rebuild left {} dangling foreign key(s), e.g. {table} row {} refers to a \
             missing {parent} row; nothing was changed",
            dangling.len(),
            rowid.map_or_else(|| "?".to_owned(), |rowid| rowid.to_string()),
        ))),
    }
}

/// Turns foreign keys back on and checks they are (the pragma is silently ignored inside a
/// transaction, e.g. one a failed rollback left open).
async fn restore_foreign_keys(conn: &mut PoolConnection<Sqlite>) -> Result<(), DbErr> {
    execute(conn, "PRAGMA foreign_keys = ON").await?;
    let enabled: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .persistent(false)
        .fetch_one(&mut **conn)
        .await
        .map_err(driver_error)?;
    if enabled == 1 {
        Ok(())
    } else {
        Err(DbErr::Migration(
            "foreign keys could not be turned back on after a table rebuild".to_owned(),
        ))
    }
}

/// Runs one statement, unprepared-and-forgotten (not kept in the connection's statement cache).
async fn execute(conn: &mut PoolConnection<Sqlite>, sql: &str) -> Result<(), DbErr> {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .persistent(false)
        .execute(&mut **conn)
        .await
        .map(|_| ())
        .map_err(driver_error)
}

/// A driver error as sea-orm reports one.
fn driver_error(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(err)))
}
