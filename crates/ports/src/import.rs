//! The ports of importing a ReefGuide database (issue 26): where the rows come from, where they
//! go. The rules in between are the domain's ([`reefguide_domain::import`]); the use case is
//! [`crate::services::ImportService`].

use async_trait::async_trait;
use reefguide_domain::Email;
use reefguide_domain::import::{ImportPlan, SourceSnapshot};
use thiserror::Error;

/// Why a source cannot be read.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The database is not ReefGuide's (its tables are missing).
    #[error("not a ReefGuide database: {0}")]
    NotReefGuide(String),
    /// A row cannot be read as ReefGuide's schema says.
    #[error("cannot read {table} row {id}: {message}")]
    BadRow {
        /// The source table.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// What is wrong.
        message: String,
    },
    /// The connection or a query failed.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// A ReefGuide database, read-only.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReefGuideSource: Send + Sync {
    /// Every table the importer needs, from one consistent snapshot, ordered by id.
    async fn snapshot(&self) -> Result<SourceSnapshot, SourceError>;
}

/// Why the target refuses or fails the import.
#[derive(Debug, Error)]
pub enum ImportWriteError {
    /// The target holds data already (it names what).
    #[error("the target database is not empty: it holds {0}")]
    NotEmpty(String),
    /// A row could not be written; nothing was.
    #[error("cannot write {table} row {id}: {message}")]
    Row {
        /// The target table.
        table: &'static str,
        /// The row's (source) id.
        id: i64,
        /// What the database said.
        message: String,
    },
    /// The connection or a statement failed; nothing was written.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// This service's database, receiving an import.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ImportTarget: Send + Sync {
    /// Checks that the target holds no users but the `service_accounts` (which hold nothing
    /// themselves), and no polygons, notes or jobs.
    async fn check_empty(&self, service_accounts: &[Email]) -> Result<(), ImportWriteError>;

    /// In one transaction: checks as [`ImportTarget::check_empty`] does, removes the service
    /// accounts (the server creates them again at its next start), writes every row of `plan`
    /// with its id, and moves each id sequence past the largest. Any failure writes nothing.
    async fn write(
        &self,
        plan: &ImportPlan,
        service_accounts: &[Email],
    ) -> Result<(), ImportWriteError>;
}
