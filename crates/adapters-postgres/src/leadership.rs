//! A lasting role among several server instances (the lease sweeper, the capacity manager, the
//! workflow dispatcher): one instance leads until it stops or dies, and another takes over at its
//! next check.
//!
//! On Postgres the leader holds a session advisory lock on a connection of its own, taken out of
//! the pool: the lock lasts as long as that connection, so when the process dies (even killed)
//! Postgres ends the session and frees the lock, and the first follower to check next takes it.
//! Followers hold no connection between checks. Each cycle the leader runs is also guarded by
//! [`SeaOrmStore::as_leader`] on the next key, so even a leader that lost its connection without
//! having noticed yet never runs a cycle beside its successor. SQLite serves one instance, which
//! always leads.

use std::future::Future;

use sea_orm::DbBackend;
use sea_orm::sqlx::{self, Connection as _, PgConnection, PgPool};

use crate::SeaOrmStore;

/// One instance's claim to a role (see the module documentation).
pub struct Leadership {
    store: SeaOrmStore,
    key: i64,
    /// The connection holding the session lock while this instance leads (Postgres only).
    held: Option<PgConnection>,
}

impl SeaOrmStore {
    /// This instance's claim to the role identified by the advisory-lock `key` (the cycles it
    /// leads are guarded by `key + 1`, so give distinct roles keys at least two apart). Nothing
    /// is asked of the database until [`Leadership::check`].
    pub fn leadership(&self, key: i64) -> Leadership {
        Leadership {
            store: self.clone(),
            key,
            held: None,
        }
    }
}

impl Leadership {
    /// Whether this instance leads now: a leader checks that its lock's connection is still
    /// alive (when it is not, the lock is gone and it asks again like a follower); a follower
    /// asks for the lock without waiting.
    ///
    /// # Errors
    /// When the database cannot be asked (this instance then does not lead).
    pub async fn check(&mut self) -> anyhow::Result<bool> {
        if self.store.db.get_database_backend() != DbBackend::Postgres {
            return Ok(true);
        }
        if let Some(connection) = self.held.as_mut() {
            if connection.ping().await.is_ok() {
                return Ok(true);
            }
            tracing::warn!(key = self.key, "the leadership connection was lost");
            self.held = None;
        }
        let pool: &PgPool = self.store.db.get_postgres_connection_pool();
        let mut connection = pool.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut *connection)
            .await?;
        if locked {
            // Out of the pool: the lock lives exactly as long as this connection.
            self.held = Some(connection.detach());
        }
        Ok(locked)
    }

    /// Runs one cycle of the role when this instance leads (`None` when it does not, or when
    /// another instance's cycle is still running).
    ///
    /// # Errors
    /// When the database cannot be asked.
    pub async fn lead<T, F>(&mut self, cycle: F) -> anyhow::Result<Option<T>>
    where
        F: Future<Output = T>,
    {
        if !self.check().await? {
            return Ok(None);
        }
        self.store.as_leader(self.key.wrapping_add(1), cycle).await
    }

    /// Whether this instance led at its last check.
    pub fn leads(&self) -> bool {
        self.held.is_some() || self.store.db.get_database_backend() != DbBackend::Postgres
    }

    /// Gives the role up at once (another instance takes it at its next check).
    pub async fn resign(&mut self) {
        if let Some(connection) = self.held.take()
            && let Err(error) = connection.close().await
        {
            tracing::debug!(%error, key = self.key, "closing the leadership connection failed");
        }
    }
}
