//! The sea-orm storage adapter of reefguide.
//!
//! One type, [`SeaOrmStore`], implements every storage port of `reefguide-ports`
//! ([`UserRepository`](reefguide_ports::UserRepository),
//! [`RefreshTokenRepository`](reefguide_ports::RefreshTokenRepository),
//! [`UserLogRepository`](reefguide_ports::UserLogRepository),
//! [`PolygonRepository`](reefguide_ports::PolygonRepository),
//! [`NoteRepository`](reefguide_ports::NoteRepository),
//! [`JobRepository`](reefguide_ports::JobRepository),
//! [`PasswordResetRepository`](reefguide_ports::PasswordResetRepository),
//! [`PreApprovalRepository`](reefguide_ports::PreApprovalRepository),
//! [`DataSpecificationRepository`](reefguide_ports::DataSpecificationRepository) and
//! [`HealthCheck`](reefguide_ports::HealthCheck)) over either backend:
//!
//! - **Postgres** (`postgres://user:pass@host/db`) in production;
//! - **SQLite** (`sqlite://path/to/file.db`, `sqlite::memory:`) for the embedded default.
//!
//! The same entities and the same migrations serve both backends: columns use backend-neutral
//! types (JSON, timestamps with time zone), and every promise that needs atomicity (refresh-token
//! rotation exactly once, revocation exactly once) is a single conditional `UPDATE` whose
//! affected-row count is the answer, which is atomic on both. Ownership is foreign keys with
//! `ON DELETE CASCADE` (a user's tokens, polygons and notes; a polygon's notes), so deletions take
//! their dependants with them in one statement on both backends. Polygons store their bounding box
//! in plain indexed columns next to the GeoJSON, so the spatial filter is an indexed range query.
//!
//! The job queue is where the backends differ most: on Postgres a claim is a single statement
//! (`FOR NO KEY UPDATE SKIP LOCKED` in a data-modifying CTE), concurrent claims, job changes and
//! submissions share such statements, and identical submissions serialise on an advisory lock,
//! while SQLite runs the same steps in `IMMEDIATE` transactions (its single writer serialises
//! them; the store queues its own writers fairly first). Postgres also relays "a job
//! became claimable" between server instances with `LISTEN`/`NOTIFY`
//! ([`SeaOrmStore::listen_for_changes`]).
//!
//! # Layout
//! - [`connect`]: [`SeaOrmStore::connect`], [`StoreOptions`], [`Backend`], migrations entry point;
//! - `entities`: the sea-orm table models (private: only domain types leave this crate);
//! - `migrations`: one file per schema migration (`m0001_accounts`, `m0002_study_areas`,
//!   `m0003_jobs`, …, `m0005_external_identities`), and `sqlite_rebuild` for the changes SQLite
//!   cannot make with `ALTER TABLE`;
//! - `repos`: one port implementation per file;
//! - `errors`: driver errors translated into domain errors and opaque `anyhow` causes, with the
//!   `DbContext` extension that call sites describe their failures with;
//! - `batch`: concurrent claims, job changes, submissions and polygon reads run together, one
//!   statement (or one short transaction) per batch, on Postgres;
//! - `notify`: the Postgres notification listener (claimable jobs on [`JOB_CHANNEL`], changed
//!   users on [`USER_CHANNEL`]);
//! - `user_cache`: the users authentication reads on every request, kept in memory for a short
//!   time and invalidated on every change, across server instances on Postgres.
//!
//! Jobs and job requests outlive the user who submitted them (contract §4): their `user_id` is not
//! a foreign key, like the audit log's.
//!
//! # Errors
//! Business outcomes come back as values (`Option`, `bool`,
//! [`CreateUserError::UserExists`](reefguide_domain::user::errors::CreateUserError::UserExists));
//! everything else is an `anyhow::Error` with context. When the database cannot be reached at all,
//! the cause chain contains [`reefguide_ports::StoreUnavailable`] so the HTTP layer can answer 503.
//! Stored values that no longer parse into domain types (an unknown role, a geometry that is not a
//! polygon, say) are errors with context, never panics. Stored geometry is re-parsed without size
//! limits: it was validated on the way in, and lowering the limits later must not make existing
//! polygons unreadable.
//!
//! # Tests
//! The `test-support` feature adds `test_support`: fresh, migrated, throw-away databases on
//! either backend (or with only the first migrations, to test a later one on old rows), used by
//! this crate's contract suites (`tests/contract.rs`, `tests/contract_external.rs`,
//! `tests/contract_study_areas.rs`, `tests/contract_jobs.rs`, `tests/contract_pre_approvals.rs`,
//! `tests/contract_data_specification.rs`, …) and by other crates' tests.

mod batch;
pub mod connect;
mod entities;
mod errors;
mod import;
mod leader;
mod leadership;
mod migrations;
mod notify;
mod repos;
#[cfg(feature = "test-support")]
pub mod test_support;
mod user_cache;

pub use connect::{Backend, PoolUse, SeaOrmStore, StoreOptions};
pub use leadership::Leadership;
pub use notify::JOB_CHANNEL;
pub use user_cache::USER_CHANNEL;
