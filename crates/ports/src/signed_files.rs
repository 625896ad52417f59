//! Files served by signed URL: the embedded default's stand-in for S3's presigned URLs.
//!
//! A signed URL grants one [`SignedMethod`] on one file key until an expiry instant; its
//! signature is the permission, so no token is needed. A [`SignedFileStore`] checks a request
//! through such a [`SignedUrl`] and answers with the [`LocalFile`] it grants, then, for an upload, writes that file
//! chunk by chunk through a [`SignedUpload`] so that readers never see a partial file.
//!
//! Error contract: a refused request is a [`SignedUrlError`] (its texts are shown to the caller);
//! a failed read or write is an opaque `anyhow::Error`, logged and never shown.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

/// The HTTP method a signed URL grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMethod {
    /// Downloading the file.
    Get,
    /// Uploading the file.
    Put,
}

impl SignedMethod {
    /// The method's name as signed: `GET` or `PUT`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// Why a signed request was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignedUrlError {
    /// The signature is malformed or does not match the method, key and expiry.
    #[error("the URL signature is invalid for this method, path and expiry")]
    BadSignature,
    /// The URL's expiry has passed.
    #[error("the signed URL has expired")]
    Expired,
    /// The key does not name a file the store may serve.
    #[error("the signed path does not name a stored file")]
    InvalidPath,
}

/// What a signed URL carries, as it arrived (nothing in it is trusted yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    /// The file's key: the URL path after the storage prefix, percent-decoded.
    pub key: String,
    /// The URL's expiry, in seconds since the Unix epoch.
    pub expires: i64,
    /// The URL's signature, as given.
    pub signature: String,
}

/// A file on this server's disk that a checked signed request may touch. Only a
/// [`SignedFileStore`] makes one; the HTTP layer reads it (to serve a download) or hands it back
/// (to start an upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile(PathBuf);

impl LocalFile {
    /// The file at `path`, as granted by a store.
    #[must_use]
    pub const fn new(path: PathBuf) -> Self {
        Self(path)
    }

    /// Where the file is (it may not exist yet).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Files granted by signed URL.
#[cfg_attr(feature = "mock", mockall::automock(type Upload = MockSignedUpload;))]
#[async_trait]
pub trait SignedFileStore: Send + Sync + 'static {
    /// A file being written.
    type Upload: SignedUpload;

    /// Checks a `method` request through `url` at `now` and returns the file it grants.
    ///
    /// # Errors
    /// [`SignedUrlError::BadSignature`] when the signature does not match the method, key and
    /// expiry; [`SignedUrlError::Expired`] after the expiry; [`SignedUrlError::InvalidPath`] when
    /// the key does not name a file the store may serve.
    fn authorize(
        &self,
        method: SignedMethod,
        url: &SignedUrl,
        now: DateTime<Utc>,
    ) -> Result<LocalFile, SignedUrlError>;

    /// Starts writing `file` (as granted by [`authorize`](Self::authorize)); the file is replaced
    /// only when the upload finishes.
    ///
    /// # Errors
    /// The store's failure to start the upload (or `file` not being one of its files).
    async fn begin_upload(&self, file: &LocalFile) -> anyhow::Result<Self::Upload>;
}

/// A file being written through a signed URL: nothing is visible until
/// [`finish`](Self::finish); dropped before that, it leaves nothing behind.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SignedUpload: Send + 'static {
    /// Appends `bytes` to the file.
    ///
    /// # Errors
    /// The store's failure to write them; after one, every later call fails too.
    async fn write_chunk(&mut self, bytes: &[u8]) -> anyhow::Result<()>;

    /// Makes the bytes durable and puts the file in place; returns how many bytes were written.
    ///
    /// # Errors
    /// The store's failure to sync or move the file.
    async fn finish(self) -> anyhow::Result<u64>;
}
