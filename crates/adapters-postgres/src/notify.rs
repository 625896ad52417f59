//! Relaying "a job became claimable" between server instances (Postgres only).
//!
//! Every transaction that makes a job claimable (a submission that creates a job, a re-queue)
//! sends a notification on [`JOB_CHANNEL`] when it commits. [`SeaOrmStore::listen_for_new_jobs`]
//! listens on that channel and calls back for each one, typically to wake long-polling claimers
//! (`JobSignal::notify` of `reefguide-ports`). A notification carries nothing a claimer needs, so
//! a missed one only delays a claim until the claimer's next periodic check; still, the callback
//! is also called every time the listener (re)connects, since notifications sent while it was not
//! listening are lost.

use std::time::Duration;

use sea_orm::DbBackend;
use sea_orm::sqlx::{self, PgPool, postgres::PgListener};
use tokio::task::JoinHandle;

use crate::SeaOrmStore;

/// The Postgres notification channel of claimable jobs; the payload is the job type.
pub const JOB_CHANNEL: &str = "reefguide_jobs";

/// First wait before re-subscribing after the listener's connection failed.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between re-subscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl SeaOrmStore {
    /// On Postgres, spawns a task (on the current Tokio runtime) that calls `on_job` whenever any
    /// instance sharing the database commits a job that became claimable, and also each time the
    /// listener has (re)subscribed (notifications may have been missed before). Connection
    /// failures are logged at `warn` and retried with a short, growing backoff; the task ends
    /// when the store's pool is closed, or when the handle is aborted. The listener holds one
    /// connection of the pool for as long as it runs.
    ///
    /// Returns `None` on SQLite (one process owns the database: in-process signalling suffices),
    /// and outside a Tokio runtime.
    pub fn listen_for_new_jobs(
        &self,
        on_job: impl Fn() + Send + Sync + 'static,
    ) -> Option<JoinHandle<()>> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for new jobs outside a Tokio runtime");
                return None;
            }
        };
        let pool = self.db.get_postgres_connection_pool().clone();
        Some(runtime.spawn(relay_forever(pool, on_job)))
    }
}

/// Subscribes, relays notifications until the connection fails, and starts over, until the pool
/// is closed.
async fn relay_forever(pool: PgPool, on_job: impl Fn() + Send + Sync + 'static) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let error = match subscribe(&pool).await {
            Ok(mut listener) => {
                backoff = MIN_BACKOFF;
                // Anything committed before the subscription took effect was not heard.
                on_job();
                relay(&mut listener, &on_job).await
            }
            Err(err) => err,
        };
        if matches!(error, sqlx::Error::PoolClosed) {
            tracing::debug!("job notification listener stopped: the pool is closed");
            return;
        }
        tracing::warn!(
            error = %error,
            retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
            "job notification listener lost its connection; re-subscribing"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A listener subscribed to [`JOB_CHANNEL`], on a connection of `pool`.
async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Report a lost connection instead of silently reconnecting, so that `relay_forever` calls
    // back for the notifications missed meanwhile.
    listener.eager_reconnect(false);
    listener.listen(JOB_CHANNEL).await?;
    Ok(listener)
}

/// Calls `on_job` for every notification until the connection fails; the error that ended it.
async fn relay(listener: &mut PgListener, on_job: &impl Fn()) -> sqlx::Error {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => on_job(),
            Ok(None) => {
                return sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "the listening connection was closed",
                ));
            }
            Err(err) => return err,
        }
    }
}
