//! The object store where workers put result files and from which users download them: S3 in
//! production, files under the data directory in the embedded default.
//!
//! Every operation names a file by its assignment's [`StorageLocation`] (the prefix a job's
//! results live under, as recorded on the assignment and the result) and a [`RelativePath`]
//! below it. A store only serves locations of its own scheme and root; anything else is
//! [`ObjectStoreError::ForeignLocation`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{StorageBase, StorageLocation};
use reefguide_domain::storage::outputs::EntryName;
use reefguide_domain::storage::{FilterPrefix, PresignExpiry, RelativePath};
use thiserror::Error;

/// One file under a storage location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its path below the location.
    pub path: RelativePath,
    /// Its size in bytes.
    pub size: u64,
}

/// The files under a location, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The files found, at most the limit asked for.
    pub objects: Vec<StoredObject>,
    /// Whether more files exist beyond the limit.
    pub truncated: bool,
}

/// One file directly in a listed folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelFile {
    /// Its name in the folder.
    pub name: EntryName,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the store says.
    pub last_modified: Option<DateTime<Utc>>,
}

/// What is directly in one folder: its sub-folders and its files, each in name order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Level {
    /// The names of the folders holding at least one file at any depth (on S3, a folder whose
    /// only object is a console-made folder marker `name/` counts too; it lists empty).
    pub folders: Vec<EntryName>,
    /// The files.
    pub files: Vec<LevelFile>,
}

impl Level {
    /// Whether the folder holds nothing (or does not exist: stores without folders cannot tell).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.folders.is_empty() && self.files.is_empty()
    }
}

/// Why an object-store operation failed.
#[derive(Debug, Error)]
pub enum ObjectStoreError {
    /// The location belongs to another store (another scheme, bucket or root).
    #[error("storage location {0} is not served by this object store")]
    ForeignLocation(String),
    /// No file at that path.
    #[error("no object {0}")]
    NotFound(String),
    /// The store failed or could not be reached; the cause is logged, never shown.
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

/// Result-file storage.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Where new assignments' results go: the scheme and root their locations are built from.
    fn base(&self) -> StorageBase;

    /// The files below `location/` (never a sibling such as `location-old/`), optionally only
    /// those selected by `filter`, in path order, at most `limit` of them. Reads every page the
    /// store returns until `limit` is passed.
    async fn list(
        &self,
        location: &StorageLocation,
        filter: Option<FilterPrefix>,
        limit: usize,
    ) -> Result<Listing, ObjectStoreError>;

    /// What is directly in the folder `folder` below `location` (`location` itself when `None`):
    /// its sub-folders and files, one level deep, in name order. Reads every page the store
    /// returns, however many. A folder that does not exist (or is a file) is an empty [`Level`];
    /// entries whose names are not valid [`EntryName`]s are skipped, and so is anything reached
    /// through a symbolic link on stores that have them.
    async fn list_level(
        &self,
        location: &StorageLocation,
        folder: Option<RelativePath>,
    ) -> Result<Level, ObjectStoreError>;

    /// A URL from which anyone holding it may GET the file until `expiry` has passed.
    async fn presign_get(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError>;

    /// A URL to which anyone holding it may PUT the file's bytes until `expiry` has passed.
    async fn presign_put(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError>;

    /// Stores `bytes` as the file (replacing any previous one).
    async fn put(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        bytes: Vec<u8>,
    ) -> Result<(), ObjectStoreError>;

    /// The file's bytes.
    async fn get(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
    ) -> Result<Vec<u8>, ObjectStoreError>;

    /// Makes `location` a folder that exists before anything is written to it, for a writer
    /// that does not go through the store (an Airflow task on the same host writing to a local
    /// path). Stores without folders (S3) do nothing.
    async fn create_folder(&self, location: &StorageLocation) -> Result<(), ObjectStoreError> {
        let _ = location;
        Ok(())
    }
}
