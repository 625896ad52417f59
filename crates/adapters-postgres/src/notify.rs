//! Relaying changes between server instances sharing a Postgres database.
//!
//! Two channels are heard:
//!
//! - [`JOB_CHANNEL`]: every transaction that makes a job claimable (a submission that creates a
//!   job, a re-queue) sends a notification when it commits; each one is relayed to a callback,
//!   typically waking long-polling claimers (`JobSignal::notify` of `reefguide-ports`). A
//!   notification carries nothing a claimer needs, so a missed one only delays a claim until the
//!   claimer's next periodic check;
//! - [`USER_CHANNEL`]: every committed change of a user's roles, and every deletion, carries the
//!   user id; the store's user cache forgets that user.
//!
//! Notifications sent while the listener was not listening are lost, so each time it has
//! (re)subscribed the job callback is called and the whole user cache is emptied.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbBackend;
use sea_orm::sqlx::postgres::{PgListener, PgNotification};
use sea_orm::sqlx::{self, PgPool};
use tokio::task::JoinHandle;

use crate::SeaOrmStore;
use crate::user_cache::{USER_CHANNEL, UserCache};

/// The Postgres notification channel of claimable jobs; the payload is the job type.
pub const JOB_CHANNEL: &str = "reefguide_jobs";

/// First wait before re-subscribing after the listener's connection failed.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between re-subscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl SeaOrmStore {
    /// On Postgres, spawns a task (on the current Tokio runtime) that hears the changes other
    /// instances sharing the database commit (see the module documentation): it calls `on_job`
    /// whenever a job became claimable, forgets changed users in this store's user cache, and
    /// after each (re)subscription calls `on_job` and empties the cache. Connection failures
    /// are logged at `warn` and retried with a short, growing backoff; the task ends when the
    /// store's pool is closed, or when the handle is aborted. The listener holds one connection
    /// of the pool for as long as it runs.
    ///
    /// Returns `None` on SQLite (one process owns the database: in-process signalling suffices),
    /// and outside a Tokio runtime.
    pub fn listen_for_changes(
        &self,
        on_job: impl Fn() + Send + Sync + 'static,
    ) -> Option<JoinHandle<()>> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for changes outside a Tokio runtime");
                return None;
            }
        };
        let pool = self.db.get_postgres_connection_pool().clone();
        let relay = Relay {
            on_job,
            users: self.users.clone(),
        };
        Some(runtime.spawn(relay_forever(pool, relay)))
    }
}

/// Where notifications go.
struct Relay<F> {
    on_job: F,
    users: Arc<UserCache>,
}

impl<F: Fn()> Relay<F> {
    /// After a (re)subscription: anything sent before it was not heard.
    fn missed_some(&self) {
        (self.on_job)();
        self.users.clear();
    }

    fn deliver(&self, notification: &PgNotification) {
        if notification.channel() == USER_CHANNEL {
            match notification.payload().parse::<i32>() {
                Ok(id) => self.users.invalidate(id),
                Err(_) => self.users.clear(),
            }
        } else {
            (self.on_job)();
        }
    }
}

/// Subscribes, relays notifications until the connection fails, and starts over, until the pool
/// is closed.
async fn relay_forever<F: Fn() + Send + Sync + 'static>(pool: PgPool, relay: Relay<F>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let error = match subscribe(&pool).await {
            Ok(mut listener) => {
                backoff = MIN_BACKOFF;
                // Anything committed before the subscription took effect was not heard.
                relay.missed_some();
                relay_until_error(&mut listener, &relay).await
            }
            Err(err) => err,
        };
        if matches!(error, sqlx::Error::PoolClosed) {
            tracing::debug!("notification listener stopped: the pool is closed");
            return;
        }
        tracing::warn!(
            error = %error,
            retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
            "notification listener lost its connection; re-subscribing"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A listener subscribed to [`JOB_CHANNEL`] and [`USER_CHANNEL`], on a connection of `pool`.
async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Report a lost connection instead of silently reconnecting, so that `relay_forever` calls
    // back for the notifications missed meanwhile.
    listener.eager_reconnect(false);
    listener.listen_all([JOB_CHANNEL, USER_CHANNEL]).await?;
    Ok(listener)
}

/// Delivers every notification until the connection fails; the error that ended it.
async fn relay_until_error<F: Fn()>(listener: &mut PgListener, relay: &Relay<F>) -> sqlx::Error {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => relay.deliver(&notification),
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
