//! The ReefGuide database as a source for the importer (issue 26): one read-only,
//! repeatable-read transaction over a ReefGuide R1 or R2 Postgres database
//! (`shared/spec/reefguide-schema.md`), every table the importer needs read in id order.
//!
//! ReefGuide's tables are Prisma's: quoted CamelCase names (`"User"`, `"Job"` …), enums as
//! Postgres enum types (read here as text), `timestamp(3)` without time zone holding UTC.

mod r2_rows;
mod rows;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reefguide_domain::import::{Release, SourceSnapshot};
use reefguide_ports::{ReefGuideSource, SourceError};
use sea_orm::{
    AccessMode, ConnectionTrait as _, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    IsolationLevel, QueryResult, Statement, TransactionTrait as _,
};

/// Tables counted but never imported: `(ReefGuide's name, the report's name)`.
const COUNTED_ONLY: [(&str, &str); 3] = [
    ("RefreshToken", "refresh_tokens"),
    ("password_reset_codes", "password_reset_codes"),
    ("map_layers", "map_layers"),
];

/// The tables and columns of the source's schema: R2 databases differ by how far their
/// migrations went.
pub(crate) struct Schema {
    columns: BTreeSet<(String, String)>,
    tables: Vec<String>,
}

impl Schema {
    /// Whether `table` exists.
    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.tables.iter().any(|name| name == table)
    }

    /// Whether `table` has `column`.
    pub(crate) fn has_column(&self, table: &str, column: &str) -> bool {
        self.columns
            .contains(&(table.to_owned(), column.to_owned()))
    }
}

/// A ReefGuide database, opened for reading.
#[derive(Debug, Clone)]
pub struct ReefGuideDatabase {
    db: DatabaseConnection,
}

impl ReefGuideDatabase {
    /// Connects to the ReefGuide database at `url` (`postgres://…`).
    ///
    /// # Errors
    /// When the URL is not a Postgres one or the database cannot be reached.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            anyhow::bail!("a ReefGuide database is a Postgres database: give a postgres:// URL");
        }
        let db = Database::connect(url).await.map_err(|error| {
            anyhow::anyhow!("cannot connect to the ReefGuide database: {error}")
        })?;
        Ok(Self { db })
    }
}

#[async_trait]
impl ReefGuideSource for ReefGuideDatabase {
    async fn snapshot(&self) -> Result<SourceSnapshot, SourceError> {
        let txn = self
            .db
            .begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
            .map_err(unavailable("cannot start a read-only snapshot"))?;
        let schema = schema(&txn).await?;
        let tables = &schema.tables;
        let release = Release::detect(tables).ok_or_else(|| {
            SourceError::NotReefGuide(format!(
                "its schema has none of ReefGuide's tables \"User\", \"Polygon\", \"Job\" (found: \
                 {})",
                if tables.is_empty() {
                    "no tables".to_owned()
                } else {
                    tables.join(", ")
                }
            ))
        })?;
        let polygons = rows::polygons_sql(schema.has_column("Polygon", "project_id"));
        let results = rows::results_sql(schema.has_column("JobResult", "cache_valid"));
        let snapshot = SourceSnapshot {
            release,
            users: rows::users(&query(&txn, rows::USERS).await?)?,
            user_logs: rows::user_logs(&query(&txn, rows::USER_LOGS).await?)?,
            polygons: rows::polygons(&query(&txn, &polygons).await?)?,
            notes: rows::notes(&query(&txn, rows::NOTES).await?)?,
            jobs: rows::jobs(&query(&txn, rows::JOBS).await?)?,
            job_requests: rows::job_requests(&query(&txn, rows::JOB_REQUESTS).await?)?,
            assignments: rows::assignments(&query(&txn, rows::ASSIGNMENTS).await?)?,
            results: rows::results(&query(&txn, &results).await?)?,
            r2: r2_rows::read(&txn, &schema).await?,
            counted_only: counted_only(&txn, tables).await?,
        };
        txn.commit()
            .await
            .map_err(unavailable("cannot end the snapshot"))?;
        Ok(snapshot)
    }
}

/// An `anyhow` error with `context`, as a [`SourceError::Unavailable`].
fn unavailable(context: &'static str) -> impl Fn(sea_orm::DbErr) -> SourceError {
    move |error| SourceError::Unavailable(anyhow::anyhow!("{context}: {error}"))
}

/// The tables and columns of the current schema.
async fn schema(txn: &DatabaseTransaction) -> Result<Schema, SourceError> {
    let rows = query(
        txn,
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name \
         FROM information_schema.columns c JOIN information_schema.tables t \
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' ORDER BY 1, 2",
    )
    .await?;
    let mut columns = BTreeSet::new();
    for row in &rows {
        let read = |name: &str| {
            row.try_get::<String>("", name)
                .map_err(unavailable("cannot read the schema"))
        };
        columns.insert((read("table_name")?, read("column_name")?));
    }
    let mut tables: Vec<String> = columns.iter().map(|(table, _)| table.clone()).collect();
    tables.dedup();
    Ok(Schema { columns, tables })
}

/// Rows of the counted-only tables that exist.
async fn counted_only(
    txn: &DatabaseTransaction,
    tables: &[String],
) -> Result<Vec<(String, u64)>, SourceError> {
    let mut counted = Vec::new();
    for (source, name) in COUNTED_ONLY {
        if !tables.iter().any(|table| table == source) {
            continue;
        }
        let rows = query(txn, &format!("SELECT count(*) AS n FROM \"{source}\"")).await?;
        let n = rows
            .first()
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()
            .map_err(unavailable("cannot count rows"))?
            .unwrap_or(0);
        counted.push((name.to_owned(), u64::try_from(n).unwrap_or(0)));
    }
    Ok(counted)
}

/// Runs `sql` in the snapshot.
pub(crate) async fn query(
    txn: &DatabaseTransaction,
    sql: &str,
) -> Result<Vec<QueryResult>, SourceError> {
    txn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|error| SourceError::Unavailable(anyhow::anyhow!("{sql}: {error}")))
}
