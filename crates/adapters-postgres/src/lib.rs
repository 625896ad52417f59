//! The sea-orm storage adapter of reefguide.
//!
//! One type, [`SeaOrmStore`], implements every storage port of `reefguide-ports`
//! ([`UserRepository`](reefguide_ports::UserRepository),
//! [`RefreshTokenRepository`](reefguide_ports::RefreshTokenRepository),
//! [`UserLogRepository`](reefguide_ports::UserLogRepository) and
//! [`HealthCheck`](reefguide_ports::HealthCheck)) over either backend:
//!
//! - **Postgres** (`postgres://user:pass@host/db`) in production;
//! - **SQLite** (`sqlite://path/to/file.db`, `sqlite::memory:`) for the embedded default.
//!
//! The same entities and the same migrations serve both backends: columns use backend-neutral
//! types (JSON, timestamps with time zone), and every promise that needs atomicity (refresh-token
//! rotation exactly once, revocation exactly once) is a single conditional `UPDATE` whose
//! affected-row count is the answer, which is atomic on both.
//!
//! # Layout
//! - [`connect`]: [`SeaOrmStore::connect`], [`StoreOptions`], [`Backend`], migrations entry point;
//! - `entities`: the sea-orm table models (private: only domain types leave this crate);
//! - `migrations`: one file per schema migration (`m0001_accounts`, …);
//! - `repos`: one port implementation per file;
//! - `errors`: driver errors translated into domain errors and opaque `anyhow` causes.
//!
//! # Errors
//! Business outcomes come back as values (`Option`, `bool`,
//! [`CreateUserError::UserExists`](reefguide_domain::user::errors::CreateUserError::UserExists));
//! everything else is an `anyhow::Error` with context. When the database cannot be reached at all,
//! the cause chain contains [`reefguide_ports::StoreUnavailable`] so the HTTP layer can answer 503.
//! Stored values that no longer parse into domain types (an unknown role, say) are errors with
//! context, never panics.
//!
//! # Tests
//! The `test-support` feature adds [`test_support`]: fresh, migrated, throw-away databases on
//! either backend, used by this crate's contract suite (`tests/contract.rs`) and by other crates'
//! tests.

pub mod connect;
mod entities;
mod errors;
mod migrations;
mod repos;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use connect::{Backend, SeaOrmStore, StoreOptions};
