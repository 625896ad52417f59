//! The embedded default object store: result files under a directory on the server's disk, and
//! expiring URLs signed by the server itself in place of S3's presigned ones.
//!
//! An assignment's location is `file://<root>/<rest>` (the domain builds `<rest>` as
//! `<type>/<job id>/<epoch ms>`) and its files live in the directory `<root>/<rest>`. A file's
//! *key* is its path relative to the root, `<rest>/<relative path>`; the HTTP layer serves
//! `GET` and `PUT /api/storage/{key}?expires=…&signature=…` and asks, through the
//! [`SignedFileStore`] port, which file such a request may touch. The signature is the
//! lowercase hex HMAC-SHA256, under the store's [`SigningKey`], of
//! `"{METHOD}\n{key}\n{expires}"` (the decoded key, the expiry in Unix seconds). Files are
//! written through a temporary file under `<root>/.uploads/` renamed into place ([`Upload`]), so
//! readers never see a partial file. Nothing is served through a symbolic link.

mod files;
mod signing;
#[cfg(test)]
mod tests;
mod upload;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::job::{StorageBase, StorageLocation, StorageScheme};
use reefguide_domain::storage::{FilterPrefix, PresignExpiry, RelativePath};
use reefguide_ports::object_store::Level;
use reefguide_ports::{
    Clock, Listing, LocalFile, ObjectStore, ObjectStoreError, SignedFileStore, SignedMethod,
    SignedUpload, SignedUrl, SignedUrlError,
};

pub use signing::SigningKey;
pub use upload::Upload;

use upload::UPLOADS_DIR;

/// Result files under a directory, with URLs signed by [`SigningKey`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    /// The shared state.
    inner: Arc<Inner>,
}

/// What every clone of a [`LocalObjectStore`] shares.
struct Inner {
    /// The canonical root directory.
    root: PathBuf,
    /// `file://<root>`, as locations are built from.
    base: StorageBase,
    /// The key URLs are signed with (its `Debug` is redacted).
    key: SigningKey,
    /// The server's public URL, without a trailing `/`.
    public_url: String,
    /// The time signed URLs expire from.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("root", &self.root)
            .field("base", &self.base)
            .field("key", &self.key)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl LocalObjectStore {
    /// A store under `root` (created if missing, then canonicalized) whose signed URLs point at
    /// `public_url` (e.g. `http://localhost:8000`; a trailing `/` is dropped) and expire counted
    /// from `clock`'s time.
    ///
    /// # Errors
    /// The I/O error creating or resolving `root`.
    pub fn new(
        root: &Path,
        key: SigningKey,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let base = StorageBase::new(StorageScheme::Local, &format!("file://{}", root.display()));
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                base,
                key,
                public_url: public_url.trim_end_matches('/').to_owned(),
                clock,
            }),
        })
    }

    /// The canonical root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Checks a signed request for `key` (the URL path after `/api/storage/`, already
    /// percent-decoded by the caller) at `now`, and returns the file path it grants.
    ///
    /// # Errors
    /// [`SignedUrlError::BadSignature`] when the signature does not match `method`, `key` and
    /// `expires`; [`SignedUrlError::Expired`] after `expires`; [`SignedUrlError::InvalidPath`]
    /// when `key` is not the key of a stored file (not a valid relative path of at least two
    /// segments, inside `.uploads/`, or through a symbolic link).
    pub fn authorize(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<PathBuf, SignedUrlError> {
        self.inner.key.verify(method, key, expires, signature)?;
        if now.timestamp() > expires {
            return Err(SignedUrlError::Expired);
        }
        RelativePath::parse(key).map_err(|_| SignedUrlError::InvalidPath)?;
        let mut segments = key.split('/');
        if segments.next() == Some(UPLOADS_DIR) || segments.next().is_none() {
            return Err(SignedUrlError::InvalidPath);
        }
        files::refuse_symlinks(self.root(), key).map_err(|_| SignedUrlError::InvalidPath)?;
        Ok(self.root().join(key))
    }

    /// Starts writing the file at `path` (a path returned by [`authorize`](Self::authorize)):
    /// the bytes go to a temporary file under `<root>/.uploads/` that replaces `path` on
    /// [`Upload::finish`].
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] when `path` is not below the root (or is inside
    /// `.uploads/`); the I/O error creating the temporary file.
    pub async fn begin_upload(&self, path: &Path) -> io::Result<Upload> {
        if !path.starts_with(self.root()) || path.starts_with(self.root().join(UPLOADS_DIR)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a file of the store", path.display()),
            ));
        }
        Upload::begin(self.root(), path.to_path_buf()).await
    }

    /// The part of `location` below the root, when this store serves it.
    fn rest_of<'a>(&self, location: &'a StorageLocation) -> Result<&'a str, ObjectStoreError> {
        let foreign = || ObjectStoreError::ForeignLocation(location.uri.clone());
        if location.scheme != StorageScheme::Local {
            return Err(foreign());
        }
        let rest = location
            .uri
            .strip_prefix(self.inner.base.root.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(foreign)?;
        RelativePath::parse(rest).map_err(|_| foreign())?;
        if rest.split('/').next() == Some(UPLOADS_DIR) {
            return Err(foreign());
        }
        Ok(rest)
    }

    /// The key of `path` under `location`.
    fn key_of(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
    ) -> Result<String, ObjectStoreError> {
        Ok(format!("{}/{path}", self.rest_of(location)?))
    }

    /// The file of `key`, refused when reached through a symbolic link.
    async fn file_of(&self, key: String) -> Result<PathBuf, ObjectStoreError> {
        let root = self.inner.root.clone();
        tokio::task::spawn_blocking(move || {
            files::refuse_symlinks(&root, &key)?;
            Ok::<_, io::Error>(root.join(key))
        })
        .await
        .context("the file check was cancelled")?
        .context("checking a stored file's path")
        .map_err(ObjectStoreError::Backend)
    }

    /// A URL granting `method` on `path` under `location` for `expiry` from now.
    fn presign(
        &self,
        method: SignedMethod,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError> {
        let key = self.key_of(location, path)?;
        let expires = self.inner.clock.now().timestamp() + i64::from(expiry.seconds());
        let signature = self.inner.key.sign(method, &key, expires);
        Ok(format!(
            "{}/api/storage/{}?expires={expires}&signature={signature}",
            self.inner.public_url,
            signing::encode_key(&key),
        ))
    }
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    fn base(&self) -> StorageBase {
        self.inner.base.clone()
    }

    async fn list(
        &self,
        location: &StorageLocation,
        filter: Option<FilterPrefix>,
        limit: usize,
    ) -> Result<Listing, ObjectStoreError> {
        let rest = self.rest_of(location)?.to_owned();
        let root = self.inner.root.clone();
        tokio::task::spawn_blocking(move || {
            files::refuse_symlinks(&root, &rest)?;
            files::list(&root.join(&rest), filter.as_ref(), limit)
        })
        .await
        .context("the listing was cancelled")?
        .with_context(|| format!("listing {}", location.uri))
        .map_err(ObjectStoreError::Backend)
    }

    async fn list_level(
        &self,
        location: &StorageLocation,
        folder: Option<RelativePath>,
    ) -> Result<Level, ObjectStoreError> {
        let rest = self.rest_of(location)?;
        let key = match &folder {
            None => rest.to_owned(),
            Some(folder) => format!("{rest}/{folder}"),
        };
        let root = self.inner.root.clone();
        tokio::task::spawn_blocking(move || {
            match files::refuse_symlinks(&root, &key) {
                // Nothing is served through a symbolic link: there is nothing there.
                Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
                    return Ok(Level::default());
                }
                result => result?,
            }
            files::list_level(&root.join(&key))
        })
        .await
        .context("the listing was cancelled")?
        .with_context(|| format!("listing a level of {}", location.uri))
        .map_err(ObjectStoreError::Backend)
    }

    async fn presign_get(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError> {
        self.presign(SignedMethod::Get, location, path, expiry)
    }

    async fn presign_put(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError> {
        self.presign(SignedMethod::Put, location, path, expiry)
    }

    async fn put(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        bytes: Vec<u8>,
    ) -> Result<(), ObjectStoreError> {
        let target = self.file_of(self.key_of(location, path)?).await?;
        let write = async {
            let mut upload = Upload::begin(self.root(), target.clone()).await?;
            upload.write_owned(bytes).await?;
            upload.finish().await
        };
        write
            .await
            .with_context(|| format!("writing {}", target.display()))?;
        Ok(())
    }

    async fn get(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
    ) -> Result<Vec<u8>, ObjectStoreError> {
        let target = self.file_of(self.key_of(location, path)?).await?;
        match tokio::fs::read(&target).await {
            Ok(bytes) => Ok(bytes),
            // A folder, or a path below a file, is no file either (as on S3).
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::IsADirectory
                        | io::ErrorKind::NotADirectory
                ) =>
            {
                Err(ObjectStoreError::NotFound(path.to_string()))
            }
            Err(error) => Err(ObjectStoreError::Backend(
                anyhow::Error::new(error).context(format!("reading {}", target.display())),
            )),
        }
    }

    async fn create_folder(&self, location: &StorageLocation) -> Result<(), ObjectStoreError> {
        let folder = self.file_of(self.rest_of(location)?.to_owned()).await?;
        tokio::fs::create_dir_all(&folder)
            .await
            .with_context(|| format!("creating {}", folder.display()))
            .map_err(ObjectStoreError::Backend)
    }
}

#[async_trait]
impl SignedFileStore for LocalObjectStore {
    type Upload = Upload;

    fn authorize(
        &self,
        method: SignedMethod,
        url: &SignedUrl,
        now: DateTime<Utc>,
    ) -> Result<LocalFile, SignedUrlError> {
        Self::authorize(self, method, &url.key, url.expires, &url.signature, now)
            .map(LocalFile::new)
    }

    async fn begin_upload(&self, file: &LocalFile) -> anyhow::Result<Upload> {
        Self::begin_upload(self, file.path())
            .await
            .with_context(|| format!("starting an upload to {}", file.path().display()))
    }
}

#[async_trait]
impl SignedUpload for Upload {
    async fn write_chunk(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        Self::write_chunk(self, bytes)
            .await
            .context("writing an uploaded chunk")
    }

    async fn finish(self) -> anyhow::Result<u64> {
        Self::finish(self).await.context("finishing an upload")
    }
}
