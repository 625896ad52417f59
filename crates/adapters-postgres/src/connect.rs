//! Connecting to a database and migrating it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reefguide_ports::Clock;
use sea_orm::sqlx::{self, sqlite::SqliteJournalMode};
use sea_orm::{
    ConnAcquireErr, ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
};
use sea_orm_migration::MigratorTrait as _;

use crate::batch::Batcher;
use crate::migrations::Migrator;
use crate::repos::{JobBatches, PolygonReads};
use crate::user_cache::UserCache;

/// How long an SQLite writer waits for another writer's lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a [`SeaOrmStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL (production).
    Postgres,
    /// SQLite (the embedded default and quick tests).
    Sqlite,
}

/// Connection-pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections the pool opens. An in-memory SQLite database always uses exactly one
    /// (each connection would otherwise see its own database).
    pub max_connections: u32,
    /// How long to wait for a connection (to open one, or to get one from a busy pool).
    pub connect_timeout: Duration,
    /// How long a user read for authentication may be served from memory when no change to it
    /// was heard (see `user_cache`); zero turns the cache off.
    pub user_cache_ttl: Duration,
}

impl Default for StoreOptions {
    /// Ten connections, five seconds to connect, users cached for five seconds.
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            user_cache_ttl: Duration::from_secs(5),
        }
    }
}

/// The storage adapter: a pooled sea-orm connection to Postgres or SQLite. Cheap to clone (the
/// pool is shared). Implements every storage port of `reefguide-ports`.
#[derive(Clone)]
pub struct SeaOrmStore {
    pub(crate) db: DatabaseConnection,
    /// The time the store stamps on the rows it creates or changes itself (a user's, a token's,
    /// a polygon's or a note's creation, a polygon's update); job times come from the service.
    pub(crate) clock: Arc<dyn Clock>,
    /// Queues this store's SQLite write transactions fairly, in the process, instead of letting
    /// them poll SQLite's lock (see `SeaOrmStore::begin_write`). Unused on Postgres.
    pub(crate) write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Users as authentication reads them, invalidated on change (see `user_cache`).
    pub(crate) users: Arc<UserCache>,
    /// Claims, job changes and submissions run in batches on Postgres (see `batch`). Unused on
    /// SQLite.
    pub(crate) batches: Arc<JobBatches>,
    /// Reads of one polygon by id run in batches on Postgres (see `batch`). Unused on SQLite.
    pub(crate) polygon_reads: Arc<Batcher<PolygonReads>>,
}

impl std::fmt::Debug for SeaOrmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmStore")
            .field("db", &self.db)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

impl SeaOrmStore {
    /// Connects to `url`: `postgres://…` (or `postgresql://…`), `sqlite://path` or
    /// `sqlite::memory:`.
    ///
    /// For SQLite the file is created when missing, foreign keys are enforced, the journal is in
    /// WAL mode and writers wait up to five seconds for each other's locks instead of failing.
    /// The error, if any, is one line naming the URL with its password masked. `clock` is the
    /// time the store stamps on the rows it creates or changes itself.
    pub async fn connect(
        url: &str,
        options: StoreOptions,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let redacted = redact_url(url);
        let backend = backend_of(url)
            .map_err(|err| anyhow::anyhow!("cannot connect to database {redacted}: {err}"))?;
        let mut connect = ConnectOptions::new(url.to_owned());
        connect
            .max_connections(options.max_connections.max(1))
            .connect_timeout(options.connect_timeout)
            .acquire_timeout(options.connect_timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            connect.map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .foreign_keys(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
            });
            if is_sqlite_memory(url) {
                // One connection that never closes: the database lives as long as it does.
                connect
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None::<Duration>)
                    .max_lifetime(None::<Duration>);
            }
        }
        let db = Database::connect(connect).await.map_err(|err| {
            let cause = describe_connect_error(&err, url, options.connect_timeout);
            anyhow::anyhow!("cannot connect to database {redacted}: {cause}")
        })?;
        Ok(Self {
            batches: Arc::new(JobBatches::new(&db)),
            polygon_reads: Arc::new(Batcher::new(PolygonReads { db: db.clone() })),
            db,
            clock,
            write_gate: Arc::default(),
            users: Arc::new(UserCache::new(options.user_cache_ttl)),
        })
    }

    /// Applies every pending migration (a no-op when the schema is current). Each migration runs
    /// in its own transaction on both backends.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None)
            .await
            .context("cannot migrate the database")
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => Backend::Sqlite,
            _ => Backend::Postgres,
        }
    }

    /// The underlying sea-orm connection, for tests and tooling that need raw SQL. Application
    /// code goes through the port traits instead.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// How the connection pool is used right now (for the operators' metrics).
    pub fn pool_use(&self) -> PoolUse {
        use sea_orm::DatabaseConnectionType as Pool;
        let (open, idle, max) = match &self.db.inner {
            Pool::SqlxPostgresPoolConnection(_) => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            Pool::SqlxSqlitePoolConnection(_) => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolUse {
            in_use: open - idle,
            idle,
            max,
        }
    }
}

/// The connection pool's use at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections lent out.
    pub in_use: u32,
    /// Connections open and waiting to be lent.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// The backend a URL names, or an error for any other scheme.
fn backend_of(url: &str) -> anyhow::Result<Backend> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        anyhow::bail!("unsupported URL scheme (expected postgres:// or sqlite:)")
    }
}

/// A one-line cause for a failed connection to `url`, without its password. The pool retries a
/// refused connection until the timeout and then only says "timed out", so say what that means.
pub(crate) fn describe_connect_error(err: &DbErr, url: &str, timeout: Duration) -> String {
    let timed_out = match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => true,
        DbErr::Conn(RuntimeErr::SqlxError(sqlx_err)) => {
            matches!(**sqlx_err, sqlx::Error::PoolTimedOut)
        }
        _ => false,
    };
    if timed_out {
        format!(
            "no connection could be opened within {}s (is the server running and reachable?)",
            timeout.as_secs_f32()
        )
    } else {
        mask_secret(&err.to_string(), url).replace('\n', " ")
    }
}

/// Whether an SQLite URL names an in-memory database.
fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The URL with the password of its user-info part, if any, replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match password_span(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// Replaces every occurrence of the URL's password in `text` by `***`.
fn mask_secret(text: &str, url: &str) -> String {
    match password_span(url) {
        Some((start, end)) if end > start => text.replace(&url[start..end], "***"),
        _ => text.to_owned(),
    }
}

/// Byte range of the password in `scheme://user:password@host/…`, if there is one.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let userinfo_len = authority.rfind('@')?;
    let colon = authority[..userinfo_len].find(':')?;
    Some((authority_start + colon + 1, authority_start + userinfo_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db.example:5432/reef?sslmode=require"),
            "postgres://app:***@db.example:5432/reef?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
        assert_eq!(redact_url("sqlite://data/reef.db"), "sqlite://data/reef.db");
        assert_eq!(
            mask_secret(
                "bad password hunter2 for app",
                "postgres://app:hunter2@h/db"
            ),
            "bad password *** for app"
        );
    }

    #[test]
    fn schemes_pick_the_backend() {
        assert_eq!(
            backend_of("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(backend_of("sqlite::memory:").ok(), Some(Backend::Sqlite));
        assert!(backend_of("mysql://h/db").is_err());
    }
}
