//! The output browser (labcas-contract §3, `/output-data/{prefix…}`): a user browses the outputs
//! of their workflow runs below `<staging>/<username>/`, one folder at a time, and sets
//! properties on the files.
//!
//! The username is always the first folder below staging and the prefix a checked
//! [`OutputFolder`] (no `..`, no empty or absolute segment), so no request reaches another
//! user's outputs. A file's properties live in its `<file>.cfg` sidecar
//! ([`reefguide_domain::storage::sidecar`]): sidecars are hidden from listings and their keys
//! become the file's `properties`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use reefguide_domain::Username;
use reefguide_domain::job::StorageLocation;
use reefguide_domain::storage::outputs::{EntryName, OutputFolder};
use reefguide_domain::storage::properties::{InvalidEdit, PropertyEdits, merge};
use reefguide_domain::storage::sidecar::{self, Properties, UnreadableSidecar};
use reefguide_domain::storage::{InvalidPath, PresignExpiry, RelativePath};
use reefguide_domain::user::NameError;
use reefguide_domain::workflow::{DataLocation, LocalRoot};
use serde_json::Value;
use thiserror::Error;

use crate::object_store::{Level, LevelFile, ObjectStore, ObjectStoreError};

#[cfg(test)]
mod tests;

/// How many store requests (presigning, sidecar reads and writes) one call runs at once.
const CONCURRENT_REQUESTS: usize = 16;

/// One folder of a user's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The folder below the user's root (empty for the root).
    pub prefix: OutputFolder,
    /// Its sub-folders, in name order.
    pub folders: Vec<EntryName>,
    /// Its files (sidecars hidden), in name order.
    pub files: Vec<FileEntry>,
}

/// One file in a [`Folder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Its name.
    pub name: EntryName,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the store says.
    pub last_modified: Option<DateTime<Utc>>,
    /// A presigned URL to GET it.
    pub href: String,
    /// The keys of its `.cfg` sidecar; `None` when it has none (or an unreadable one).
    pub properties: Option<Properties>,
}

/// Why browsing or setting properties failed.
#[derive(Debug, Error)]
pub enum OutputError {
    /// The caller's username cannot name a folder (empty, `.`, `..`, with `/` or `\`…).
    #[error("this account's username cannot name a folder of outputs: {0}")]
    UnusableUsername(#[source] NameError),
    /// The prefix is not a folder path (`..`, empty or absolute segments…).
    #[error("invalid output path: it {0}")]
    BadPath(#[from] InvalidPath),
    /// Nothing is stored in the folder (never for the user's root, which is empty instead).
    #[error("no output folder {0:?}")]
    NotFound(String),
    /// A file named in a properties request is not in the folder; nothing was written.
    #[error("no file {0:?} in this folder")]
    MissingFile(EntryName),
    /// A properties request is invalid (bad name, non-scalar value, too large…); nothing was
    /// written.
    #[error(transparent)]
    BadEdit(#[from] InvalidEdit),
    /// An existing sidecar could not be read, so it cannot be merged into; nothing was written.
    #[error(transparent)]
    UnreadableSidecar(#[from] UnreadableSidecar),
    /// The object store refused or failed.
    #[error(transparent)]
    Store(#[from] ObjectStoreError),
}

/// The output-browser use cases over the object store holding the staging location.
pub struct OutputBrowser {
    objects: Arc<dyn ObjectStore>,
    staging: DataLocation,
    root: LocalRoot,
    expiry: PresignExpiry,
}

/// Where one user's request works: their root location and the checked folder below it.
struct Target {
    location: StorageLocation,
    folder: OutputFolder,
}

impl Target {
    /// The path below the user's root of `name` in the folder.
    fn path(&self, name: &EntryName) -> Result<RelativePath, InvalidPath> {
        self.folder.entry(name)
    }
}

impl OutputBrowser {
    /// A browser of the outputs below `staging` (resolved against `root` when it is a
    /// `local://` location), in `objects`; file URLs last [`PresignExpiry::DEFAULT`] (one hour).
    pub fn new(objects: Arc<dyn ObjectStore>, staging: DataLocation, root: LocalRoot) -> Self {
        Self {
            objects,
            staging,
            root,
            expiry: PresignExpiry::DEFAULT,
        }
    }

    /// The same browser with file URLs lasting `expiry`.
    #[must_use]
    pub fn with_expiry(self, expiry: PresignExpiry) -> Self {
        Self { expiry, ..self }
    }

    /// The folder `prefix` (a URL's `{prefix…}`, empty for the root) of `username`'s outputs,
    /// one level deep: its sub-folders and its files, each with a presigned GET URL and the
    /// properties of its sidecar. Sidecars are not listed.
    ///
    /// # Errors
    /// [`OutputError::UnusableUsername`], [`OutputError::BadPath`], [`OutputError::NotFound`]
    /// for an empty folder other than the root, [`OutputError::Store`].
    pub async fn browse(&self, username: &str, prefix: &str) -> Result<Folder, OutputError> {
        let target = self.target(username, prefix)?;
        let level = self.level(&target).await?;
        let sidecars = sidecar_targets(&level);
        let files = stream::iter(level.files.into_iter().filter(|f| !f.name.is_sidecar()))
            .map(|file| {
                let has_sidecar = sidecars.contains(&file.name);
                self.file_entry(&target, file, has_sidecar)
            })
            .buffered(CONCURRENT_REQUESTS)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(Folder {
            prefix: target.folder,
            folders: level.folders,
            files: files.into_iter().flatten().collect(),
        })
    }

    /// Sets properties on files of the folder `prefix` of `username`'s outputs: `files` maps
    /// each file name to the keys to set (JSON strings, numbers or booleans). Each file's
    /// sidecar `<name>.cfg` is written, merged into the one already there (the keys sent
    /// replace, the others stay). Everything is checked before anything is written: the
    /// request, that every named file exists, and that existing sidecars can be read. Returns
    /// the names of the files updated, in name order.
    ///
    /// # Errors
    /// [`OutputError::UnusableUsername`], [`OutputError::BadPath`], [`OutputError::BadEdit`],
    /// [`OutputError::NotFound`] for an empty folder other than the root,
    /// [`OutputError::MissingFile`] naming the first file (in name order) that does not exist,
    /// [`OutputError::UnreadableSidecar`], [`OutputError::Store`] (when a write fails, the
    /// other sidecars may have been written).
    pub async fn update_properties(
        &self,
        username: &str,
        prefix: &str,
        files: BTreeMap<String, BTreeMap<String, Value>>,
    ) -> Result<Vec<EntryName>, OutputError> {
        let target = self.target(username, prefix)?;
        let edits = PropertyEdits::parse(files)?;
        let level = self.level(&target).await?;
        let present: BTreeSet<&EntryName> = level.files.iter().map(|f| &f.name).collect();
        let mut updates = Vec::with_capacity(edits.files().len());
        for (name, properties) in edits.files() {
            if !present.contains(name) {
                return Err(OutputError::MissingFile(name.clone()));
            }
            let sidecar = name.sidecar()?;
            updates.push(Update {
                name,
                properties,
                path: target.path(&sidecar)?,
                exists: present.contains(&sidecar),
            });
        }
        let writes = stream::iter(updates)
            .map(|update| self.merged_sidecar(&target, update))
            .buffered(CONCURRENT_REQUESTS)
            .try_collect::<Vec<_>>()
            .await?;
        let names = writes.iter().map(|write| write.name.clone()).collect();
        let location = &target.location;
        stream::iter(writes)
            .map(|write| async move { self.objects.put(location, &write.path, write.bytes).await })
            .buffer_unordered(CONCURRENT_REQUESTS)
            .try_collect::<()>()
            .await?;
        Ok(names)
    }

    /// Checks the username and prefix of a request.
    fn target(&self, username: &str, prefix: &str) -> Result<Target, OutputError> {
        let username = Username::parse(username).map_err(OutputError::UnusableUsername)?;
        let folder = OutputFolder::parse(prefix)?;
        let location = self
            .staging
            .join(&format!("{username}/"))
            .storage_location(&self.root);
        Ok(Target { location, folder })
    }

    /// The target folder's level; an empty one is [`OutputError::NotFound`] unless it is the
    /// user's root.
    async fn level(&self, target: &Target) -> Result<Level, OutputError> {
        let level = self
            .objects
            .list_level(&target.location, target.folder.path().cloned())
            .await?;
        if level.is_empty() && !target.folder.is_root() {
            return Err(OutputError::NotFound(target.folder.to_string()));
        }
        Ok(level)
    }

    /// A listed file with its URL and, when it has a sidecar, its properties; `None` (with a
    /// warning) when its path is too long to be named.
    async fn file_entry(
        &self,
        target: &Target,
        file: LevelFile,
        has_sidecar: bool,
    ) -> Result<Option<FileEntry>, OutputError> {
        let Ok(path) = target.path(&file.name) else {
            tracing::warn!(
                folder = %target.folder,
                name = %file.name,
                "skipping an output file whose path is too long"
            );
            return Ok(None);
        };
        let href = self
            .objects
            .presign_get(&target.location, &path, self.expiry)
            .await?;
        let properties = if has_sidecar {
            self.read_properties(target, &file.name).await?
        } else {
            None
        };
        Ok(Some(FileEntry {
            name: file.name,
            size: file.size,
            last_modified: file.last_modified,
            href,
            properties,
        }))
    }

    /// The properties in `file`'s sidecar, for a listing: `None` when it vanished or cannot be
    /// read (with a warning).
    async fn read_properties(
        &self,
        target: &Target,
        file: &EntryName,
    ) -> Result<Option<Properties>, OutputError> {
        let Ok(path) = file.sidecar().and_then(|sidecar| target.path(&sidecar)) else {
            return Ok(None);
        };
        let bytes = match self.objects.get(&target.location, &path).await {
            Ok(bytes) => bytes,
            Err(ObjectStoreError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        match sidecar::read(file, &bytes) {
            Ok(properties) => Ok(Some(properties)),
            Err(error) => {
                tracing::warn!(folder = %target.folder, %error, "hiding unreadable properties");
                Ok(None)
            }
        }
    }

    /// The new bytes of one file's sidecar: its existing properties (if any) merged with the
    /// update's.
    async fn merged_sidecar(
        &self,
        target: &Target,
        update: Update<'_>,
    ) -> Result<SidecarWrite, OutputError> {
        let existing = if update.exists {
            match self.objects.get(&target.location, &update.path).await {
                Ok(bytes) => sidecar::read(update.name, &bytes)?,
                Err(ObjectStoreError::NotFound(_)) => Properties::new(),
                Err(error) => return Err(error.into()),
            }
        } else {
            Properties::new()
        };
        Ok(SidecarWrite {
            name: update.name.clone(),
            bytes: sidecar::render(update.name, &merge(existing, update.properties)),
            path: update.path,
        })
    }
}

/// A sidecar ready to be written.
struct SidecarWrite {
    /// The file it describes.
    name: EntryName,
    /// Its path.
    path: RelativePath,
    /// Its new content.
    bytes: Vec<u8>,
}

/// One file's checked properties update.
struct Update<'a> {
    /// The file.
    name: &'a EntryName,
    /// The properties to set.
    properties: &'a Properties,
    /// Its sidecar's path.
    path: RelativePath,
    /// Whether the sidecar exists already (and is to be merged into).
    exists: bool,
}

/// The files of `level` that have a sidecar in it.
fn sidecar_targets(level: &Level) -> BTreeSet<EntryName> {
    level
        .files
        .iter()
        .filter_map(|file| file.name.described_file())
        .collect()
}
