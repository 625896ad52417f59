//! Storage ports.
//!
//! One storage adapter implements all of these traits (see `reefguide-adapters-postgres`). A
//! shared contract test suite holds every implementation to the promises written here.

pub mod capacity;
pub mod data_specification;
pub mod jobs;
pub mod pre_approvals;
pub mod sharing;
pub mod study_areas;

pub use capacity::{CapacityLedger, MemoryLedger, TargetLedger};
pub use data_specification::DataSpecificationRepository;
pub use jobs::{
    AssignOutcome, AssignmentUpdate, ClaimRequest, Claimed, JobCensus, JobChange, JobPage,
    JobQuery, JobRepository, JobScope, NewJob, NewResult, QueueCensus, Submission, WorkerTag,
    WorkflowJobs, WorkflowStart,
};
pub use pre_approvals::{PreApprovalPage, PreApprovalRepository, Registered};
pub use sharing::{
    Grant, GrantChange, GroupDetail, GroupPage, GroupQuery, GroupRef, GroupRepository,
    ProjectDetail, ProjectPage, ProjectQuery, ProjectRepository, ProjectWriteError, Toggle,
    TransferError, UserRef,
};
pub use study_areas::{NoteRepository, PolygonPage, PolygonQuery, PolygonRepository};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::auth::reset::{NewPasswordReset, PasswordReset, ResetSelector};
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::{
    Email, ExternalIdentity, LogPage, LogQuery, NewUserLogEntry, PasswordHash, RefreshTokenHash,
    RefreshTokenRecord, Roles, User, UserCredentials, UserId,
};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Normalised email; must be unique.
    pub email: Email,
    /// Hash of the initial password.
    pub password_hash: PasswordHash,
    /// Initial roles.
    pub roles: Roles,
}

/// Users and their credentials.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Creates a user. Errors with [`CreateUserError::UserExists`] when the email is taken, even
    /// under concurrent creation (the store enforces uniqueness).
    async fn create_user(&self, new_user: NewUser) -> Result<User, CreateUserError>;

    /// The user with this id, if any.
    async fn find_user(&self, id: UserId) -> anyhow::Result<Option<User>>;

    /// The account of an external identity (labcas-contract §4), created with no email, no
    /// password and no roles the first time the identity is seen. Concurrent first uses of one
    /// identity create one account; identities of different issuers with the same username are
    /// different accounts.
    async fn find_or_create_external(
        &self,
        identity: &ExternalIdentity,
        now: DateTime<Utc>,
    ) -> anyhow::Result<User>;

    /// The user with this (normalised) email and its password hash, if any.
    async fn find_credentials_by_email(
        &self,
        email: &Email,
    ) -> anyhow::Result<Option<UserCredentials>>;

    /// The user with this id and its password hash, if any (an external account has none).
    async fn find_credentials(&self, id: UserId) -> anyhow::Result<Option<UserCredentials>>;

    /// Every user, by id.
    async fn list_users(&self) -> anyhow::Result<Vec<User>>;

    /// The accounts whose email contains the search's text, ranked as
    /// [`UserSearch`](reefguide_domain::user::search::UserSearch) says (exact, then prefix,
    /// then position, then alphabetical), at most its limit.
    async fn search_users(
        &self,
        search: &reefguide_domain::user::search::UserSearch,
    ) -> anyhow::Result<Vec<User>>;

    /// The users with these ids that exist, by id (one query, for joining owners into listings).
    async fn find_users(&self, ids: &[UserId]) -> anyhow::Result<Vec<User>>;

    /// Replaces a user's roles; `None` when the user does not exist.
    async fn set_roles(&self, id: UserId, roles: &Roles) -> anyhow::Result<Option<User>>;

    /// Replaces a user's password hash; `false` when the user does not exist.
    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> anyhow::Result<bool>;

    /// Deletes a user with everything it owns (refresh tokens, polygons and their notes, notes it
    /// wrote) except its audit-log entries and jobs, in one transaction; `false` when the user
    /// does not exist.
    async fn delete_user(&self, id: UserId) -> anyhow::Result<bool>;
}

/// Refresh tokens, stored only as digests.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RefreshTokenRepository: Send + Sync + 'static {
    /// Stores a new token record. Digests are unique.
    async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> anyhow::Result<()>;

    /// The record with this digest, if any.
    async fn find_refresh_token(
        &self,
        hash: &RefreshTokenHash,
    ) -> anyhow::Result<Option<RefreshTokenRecord>>;

    /// Revokes one token at `at`; `true` only if it was neither revoked nor rotated before.
    async fn revoke_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    /// Marks a token as exchanged for a successor at `at`. Atomic: of two concurrent calls for the
    /// same token exactly one gets `true`; a revoked or already rotated token gets `false`.
    async fn mark_refresh_token_rotated(
        &self,
        hash: &RefreshTokenHash,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    /// Revokes every not-yet-revoked token of a rotation family; returns how many.
    async fn revoke_refresh_token_family(
        &self,
        family: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64>;

    /// Revokes every not-yet-revoked token of a user; returns how many.
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: UserId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
}

/// The user audit log. Entries outlive the users they are about.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UserLogRepository: Send + Sync + 'static {
    /// Appends an entry.
    async fn append_user_log(&self, entry: &NewUserLogEntry) -> anyhow::Result<()>;

    /// One page of entries, newest first (ties broken by id, newest first), with the total count.
    async fn list_user_logs(&self, query: LogQuery) -> anyhow::Result<LogPage>;
}

/// Password resets (issue 27): codes stored as digests under their selectors.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PasswordResetRepository: Send + Sync + 'static {
    /// When the newest still unused reset of `email` was asked for, if there is one.
    async fn latest_unused_reset(&self, email: &Email) -> anyhow::Result<Option<DateTime<Utc>>>;

    /// Stores `reset` in one transaction that first marks used (at `reset.created_at`) every
    /// unused reset of the same address and every expired unused one. `false`, storing
    /// nothing, when an unused reset already has the same selector (live selectors are unique).
    async fn insert_password_reset(&self, reset: &NewPasswordReset) -> anyhow::Result<bool>;

    /// The unused reset stored under `selector`, if any.
    async fn find_password_reset(
        &self,
        selector: &ResetSelector,
    ) -> anyhow::Result<Option<PasswordReset>>;

    /// Counts one wrong code against reset `id`.
    async fn count_reset_attempt(&self, id: i64) -> anyhow::Result<()>;

    /// Uses reset `id` at `now` in one transaction: marks it used (only while it is unused and
    /// under the attempt cap), gives account `user_id` the password `new_hash`, revokes every
    /// refresh token of the account and marks its other unused resets used. `false`, changing
    /// nothing, when the reset was used or exhausted meanwhile.
    async fn use_password_reset(
        &self,
        id: i64,
        user_id: UserId,
        new_hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
}

/// A cheap liveness probe of the store.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// Succeeds when the store answers a trivial query.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Marker cause attached by storage adapters when the store cannot be reached at all (connection
/// refused, pool timed out), so the HTTP layer can answer 503 instead of 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database is unreachable")]
pub struct StoreUnavailable;
