//! The errors a worker author sees: [`BuildError`] from [`WorkerBuilder::build`] and
//! [`WorkerError`] from [`Worker::run`].
//!
//! [`WorkerBuilder::build`]: crate::WorkerBuilder::build
//! [`Worker::run`]: crate::Worker::run

use std::time::Duration;

/// Why [`Worker::run`](crate::Worker::run) stopped with an error.
///
/// Transient trouble (network errors, 5xx answers, rate limits) is logged and retried with a
/// back-off; it ends a worker only when it keeps the worker from logging in for its whole idle
/// timeout ([`WorkerError::Unreachable`]). Otherwise only these are fatal.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The server refused the worker's credentials (at start-up, or later when a refresh token
    /// was revoked and logging in again failed).
    #[error("login refused: {0}")]
    Login(String),
    /// The server answered in a way the worker cannot recover from (e.g. 403: the account lacks
    /// the WORKER role, or 400: the server does not know a handled job type).
    #[error("unexpected answer from the API: {0}")]
    Api(String),
    /// The worker could not log in for its whole idle timeout (the server is gone or
    /// unreachable); the last error is given.
    #[error("could not log in within the idle timeout: {0}")]
    Unreachable(String),
    /// A bug in the SDK itself (one of its tasks failed).
    #[error("internal worker error: {0}")]
    Internal(String),
}

/// Why [`WorkerBuilder::build`](crate::WorkerBuilder::build) refused the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No API URL was given.
    #[error("no API URL: call `api_url`")]
    MissingApiUrl,
    /// The API URL is not an `http://` or `https://` URL.
    #[error("invalid API URL {0:?}: expected http:// or https://")]
    InvalidApiUrl(String),
    /// No credentials were given.
    #[error("no credentials: call `credentials`")]
    MissingCredentials,
    /// No handler was registered.
    #[error("no handler: register at least one with `handler`")]
    NoHandler,
    /// A job type was empty.
    #[error("a job type must not be empty")]
    EmptyJobType,
    /// Two handlers were registered for the same job type.
    #[error("two handlers for job type {0}")]
    DuplicateHandler(String),
    /// `concurrency(0)`.
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
    /// `heartbeat_interval(0)`.
    #[error("the heartbeat interval must be positive")]
    ZeroHeartbeatInterval,
    /// The long-poll wait exceeds what the server accepts (30 s).
    #[error("claim wait {0:?} exceeds the server's maximum of 30 s")]
    ClaimWaitTooLong(Duration),
    /// The HTTP client could not be created.
    #[error("could not create the HTTP client: {0}")]
    HttpClient(String),
}
