//! The database section: which database, how many connections, how long user reads may be
//! remembered, and whether to migrate at start-up.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The database and its connection pool.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// Database URL (`postgres://…` or `sqlite://…`); default: SQLite in `data_dir` (see
    /// [`Settings::effective_database_url`](super::Settings::effective_database_url)).
    pub database_url: Option<String>,
    /// Database connection pool size.
    pub database_max_connections: u32,
    /// Seconds a user read for authentication may be served from memory (0..=60; 0 turns the
    /// cache off). Role changes and deletions invalidate it at once, on every instance sharing a
    /// Postgres database; this bounds only changes made behind the API's back (SQL by hand).
    pub user_cache_seconds: u64,
    /// Apply pending migrations at start-up.
    pub migrate_on_start: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            database_url: None,
            database_max_connections: 10,
            user_cache_seconds: 5,
            migrate_on_start: true,
        }
    }
}

impl DatabaseSettings {
    /// Checks the pool size, the cache time and the URL's scheme.
    ///
    /// # Errors
    /// The first setting out of range, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.database_max_connections == 0 {
            return Err(ConfigError::invalid(
                "database_max_connections",
                "must be at least 1",
            ));
        }
        if self.user_cache_seconds > 60 {
            return Err(ConfigError::invalid(
                "user_cache_seconds",
                "must be at most 60",
            ));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::invalid(
                "database_url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        Ok(())
    }

    /// The database URL to use: the configured one or SQLite in `data_dir`.
    #[must_use]
    pub fn effective_url(&self, data_dir: &Path) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("reefguide.db").display()
            )
        })
    }
}
