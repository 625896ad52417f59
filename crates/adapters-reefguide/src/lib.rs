//! The ReefGuide database as a source for the importer (issue 26): one read-only,
//! repeatable-read transaction over a ReefGuide R1 or R2 Postgres database
//! (`shared/spec/reefguide-schema.md`), every table the importer needs read in id order.
//!
//! ReefGuide's tables are Prisma's: quoted CamelCase names (`"User"`, `"Job"` …), enums as
//! Postgres enum types (read here as text), `timestamp(3)` without time zone holding UTC.

mod rows;

use async_trait::async_trait;
use reefguide_domain::import::{Release, SourceSnapshot};
use reefguide_ports::{ReefGuideSource, SourceError};
use sea_orm::{
    AccessMode, ConnectionTrait as _, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    IsolationLevel, QueryResult, Statement, TransactionTrait as _,
};

/// Tables counted but never imported: `(ReefGuide's name, the report's name)`.
const COUNTED_ONLY: [(&str, &str); 13] = [
    ("RefreshToken", "refresh_tokens"),
    ("pre_approved_users", "pre_approved_users"),
    ("projects", "projects"),
    ("project_user_shares", "project_user_shares"),
    ("project_group_shares", "project_group_shares"),
    ("groups", "groups"),
    ("group_managers", "group_managers"),
    ("group_members", "group_members"),
    ("password_reset_codes", "password_reset_codes"),
    ("regions", "regions"),
    ("criteria", "criteria"),
    ("regional_criteria", "regional_criteria"),
    ("map_layers", "map_layers"),
];

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
        let tables = table_names(&txn).await?;
        let release = Release::detect(&tables).ok_or_else(|| {
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
        let r2 = release == Release::R2;
        let snapshot = SourceSnapshot {
            release,
            users: rows::users(&query(&txn, rows::USERS).await?)?,
            user_logs: rows::user_logs(&query(&txn, rows::USER_LOGS).await?)?,
            polygons: rows::polygons(
                &query(
                    &txn,
                    if r2 {
                        rows::POLYGONS_R2
                    } else {
                        rows::POLYGONS
                    },
                )
                .await?,
            )?,
            notes: rows::notes(&query(&txn, rows::NOTES).await?)?,
            jobs: rows::jobs(&query(&txn, rows::JOBS).await?)?,
            job_requests: rows::job_requests(&query(&txn, rows::JOB_REQUESTS).await?)?,
            assignments: rows::assignments(&query(&txn, rows::ASSIGNMENTS).await?)?,
            results: rows::results(
                &query(&txn, if r2 { rows::RESULTS_R2 } else { rows::RESULTS }).await?,
            )?,
            counted_only: counted_only(&txn, &tables).await?,
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

/// The tables of the current schema.
async fn table_names(txn: &DatabaseTransaction) -> Result<Vec<String>, SourceError> {
    let rows = query(
        txn,
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY 1",
    )
    .await?;
    rows.iter()
        .map(|row| {
            row.try_get::<String>("", "name")
                .map_err(unavailable("cannot read the table names"))
        })
        .collect()
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
async fn query(txn: &DatabaseTransaction, sql: &str) -> Result<Vec<QueryResult>, SourceError> {
    txn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|error| SourceError::Unavailable(anyhow::anyhow!("{sql}: {error}")))
}
