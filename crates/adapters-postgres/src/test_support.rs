//! Throw-away databases for tests (feature `test-support`).
//!
//! [`TestDatabase::create`] hands out a fresh, empty, migrated database that nobody else uses:
//! an SQLite file in a temporary directory, or a new Postgres database created through an admin
//! connection. Dropping the value deletes it. A test never touches a database it did not create.
//!
//! The Postgres admin URL comes from `REEFGUIDE_TEST_DATABASE_URL`, else `DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/postgres`. When that server cannot be reached, `create`
//! fails with a message saying so: Postgres tests fail, they are never skipped.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reefguide_ports::SystemClock;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait as _;

use crate::connect::{describe_connect_error, redact_url};
use crate::migrations::Migrator;
use crate::{SeaOrmStore, StoreOptions};

/// Environment variable naming the Postgres admin URL for tests (first choice).
pub const TEST_DATABASE_URL_VAR: &str = "REEFGUIDE_TEST_DATABASE_URL";
/// Admin URL used when neither `REEFGUIDE_TEST_DATABASE_URL` nor `DATABASE_URL` is set.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Prefix of every database a test creates on Postgres.
pub const TEST_DATABASE_PREFIX: &str = "reefguide_test_";

/// Connection-pool settings of a test database: small, since many run side by side, but more
/// than one connection so concurrency tests race for real.
const TEST_STORE_OPTIONS: StoreOptions = StoreOptions {
    max_connections: 5,
    connect_timeout: Duration::from_secs(10),
    user_cache_ttl: Duration::from_secs(5),
};

/// Which backend a test database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestBackend {
    /// An SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the Postgres server named by the admin URL.
    Postgres,
}

/// A fresh, empty, migrated database, deleted when dropped.
pub struct TestDatabase {
    url: String,
    // Fields drop in order: the store's pool goes before the database it points to.
    store: SeaOrmStore,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<ScratchPostgres>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// Creates and migrates a fresh database on `backend`.
    pub async fn create(backend: TestBackend) -> anyhow::Result<Self> {
        Self::create_migrated(backend, None).await
    }

    /// Creates a fresh database on `backend` with only the first `applied` migrations, to test a
    /// later migration on rows written under an older schema; `store().migrate()` applies the
    /// rest. The store's port methods may not work before that.
    pub async fn create_with_migrations(
        backend: TestBackend,
        applied: u32,
    ) -> anyhow::Result<Self> {
        Self::create_migrated(backend, Some(applied)).await
    }

    /// A fresh database on `backend` with the first `applied` migrations (all when `None`).
    async fn create_migrated(backend: TestBackend, applied: Option<u32>) -> anyhow::Result<Self> {
        match backend {
            TestBackend::Sqlite => Self::create_sqlite(applied).await,
            TestBackend::Postgres => Self::create_postgres(applied).await,
        }
    }

    /// Connection URL of this database (for wiring a whole app to it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store connected to this database.
    pub fn store(&self) -> &SeaOrmStore {
        &self.store
    }

    /// Drops a Postgres test database now, under whatever is still connected to it, to test how
    /// an application copes with its database vanishing. Not available for SQLite.
    pub async fn drop_now(&self) -> anyhow::Result<()> {
        self.postgres
            .as_ref()
            .context("drop_now is only available for Postgres test databases")?
            .drop_now()
            .await
    }

    async fn create_sqlite(applied: Option<u32>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("reefguide-test-")
            .tempdir()
            .context("cannot create a temporary directory for the SQLite test database")?;
        let url = format!("sqlite://{}", dir.path().join("reefguide.db").display());
        let store = SeaOrmStore::connect(&url, TEST_STORE_OPTIONS, Arc::new(SystemClock)).await?;
        migrate(&store, applied).await?;
        Ok(Self {
            url,
            store,
            _sqlite_dir: Some(dir),
            postgres: None,
        })
    }

    async fn create_postgres(applied: Option<u32>) -> anyhow::Result<Self> {
        // From here on, an early return still drops the database.
        let database = ScratchPostgres::create(TEST_DATABASE_PREFIX).await?;
        let url = database.url().to_owned();
        let store = SeaOrmStore::connect(&url, TEST_STORE_OPTIONS, Arc::new(SystemClock)).await?;
        migrate(&store, applied).await?;
        Ok(Self {
            url,
            store,
            _sqlite_dir: None,
            postgres: Some(database),
        })
    }
}

/// Applies the first `applied` migrations to the store's database (all when `None`).
async fn migrate(store: &SeaOrmStore, applied: Option<u32>) -> anyhow::Result<()> {
    match applied {
        None => store.migrate().await,
        Some(steps) => Migrator::up(store.connection(), Some(steps))
            .await
            .with_context(|| format!("cannot apply the first {steps} migrations")),
    }
}

/// An empty Postgres database named `<prefix><random>` on the tests' server (see the module's
/// documentation for the admin URL), dropped (with `FORCE`) when this value is.
pub struct ScratchPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl std::fmt::Debug for ScratchPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchPostgres")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ScratchPostgres {
    /// Creates the database.
    ///
    /// # Errors
    /// When the tests' Postgres server cannot be reached or refuses `CREATE DATABASE`.
    pub async fn create(prefix: &str) -> anyhow::Result<Self> {
        let admin_url = admin_url();
        let name = format!("{prefix}{:016x}", rand::random::<u64>());
        let admin = connect_admin(&admin_url).await?;
        let created = admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| {
                format!(
                    "cannot create database {name} on {}",
                    redact_url(&admin_url)
                )
            });
        // Best effort: the admin pool is not needed any more.
        let _ = admin.close().await;
        created?;
        let url = with_database(&admin_url, &name);
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }

    /// The database's connection URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, under whatever is still connected to it.
    ///
    /// # Errors
    /// When the server cannot be reached or `DROP DATABASE` fails.
    pub async fn drop_now(&self) -> anyhow::Result<()> {
        let admin = connect_admin(&self.admin_url).await?;
        let dropped = admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .map(|_| ())
            .context("DROP DATABASE failed");
        let _ = admin.close().await;
        dropped
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let admin_url = std::mem::take(&mut self.admin_url);
        let name = std::mem::take(&mut self.name);
        // Drop runs inside the test's async runtime, which must not be blocked on itself: drop
        // the database from a separate thread with its own small runtime, and wait for it.
        let dropper = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("cannot drop scratch database {name}: no runtime: {err}");
                    return;
                }
            };
            let result = runtime.block_on(async {
                let admin = connect_admin(&admin_url).await?;
                let dropped = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map(|_| ())
                    .context("DROP DATABASE failed");
                let _ = admin.close().await;
                dropped
            });
            if let Err(err) = result {
                eprintln!("cannot drop scratch database {name}: {err:#}");
            }
        });
        if dropper.join().is_err() {
            eprintln!("the thread dropping a scratch database panicked");
        }
    }
}

/// The Postgres admin URL from the environment, or the default.
fn admin_url() -> String {
    [TEST_DATABASE_URL_VAR, "DATABASE_URL"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// A one-connection pool on the admin database, or an error saying Postgres is unreachable.
async fn connect_admin(admin_url: &str) -> anyhow::Result<DatabaseConnection> {
    let timeout = Duration::from_secs(5);
    let mut options = sea_orm::ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .sqlx_logging(false);
    Database::connect(options).await.map_err(|err| {
        anyhow::anyhow!(
            "Postgres tests need a server: cannot connect to {} (set {TEST_DATABASE_URL_VAR} or \
             DATABASE_URL to an admin URL): {}",
            redact_url(admin_url),
            describe_connect_error(&err, admin_url, timeout)
        )
    })
}

/// `url` with its database (path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let query_start = rest.find('?').map_or(url.len(), |i| authority_start + i);
    let path_start = rest
        .find('/')
        .map(|i| authority_start + i)
        .filter(|i| *i < query_start)
        .unwrap_or(query_start);
    format!("{}/{name}{}", &url[..path_start], &url[query_start..])
}

/// What a test runs raw SQL on: a store or a bare connection.
pub trait SqlTarget: Sync {
    /// The connection.
    fn sql_connection(&self) -> &DatabaseConnection;
}

impl SqlTarget for SeaOrmStore {
    fn sql_connection(&self) -> &DatabaseConnection {
        self.connection()
    }
}

impl SqlTarget for DatabaseConnection {
    fn sql_connection(&self) -> &DatabaseConnection {
        self
    }
}

/// Runs `sql` (one or more statements) on `db`.
///
/// # Errors
/// The database's refusal.
pub async fn execute_sql(db: &impl SqlTarget, sql: &str) -> Result<(), sea_orm::DbErr> {
    db.sql_connection().execute_unprepared(sql).await.map(drop)
}

/// The integer column `n` of the first row `sql` returns (`SELECT COUNT(*) AS n …`).
///
/// # Panics
/// When the query fails, returns no row or no integer `n`: a test's own SQL is wrong.
pub async fn count_rows(db: &impl SqlTarget, sql: &str) -> i64 {
    let connection = db.sql_connection();
    let row = connection
        .query_one_raw(sea_orm::Statement::from_string(
            connection.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get::<i64>("", "n")
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://h?x=1", "t1"),
            "postgres://h/t1?x=1"
        );
    }
}
