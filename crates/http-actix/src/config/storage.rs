//! The storage section: where result files live (the local store or S3), and the limits of
//! uploading and downloading them.

use reefguide_domain::storage::PresignExpiry;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ConfigError, check_http_url};

/// The result-file store and its limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StorageSettings {
    /// Where result files live (the setting `storage`): `local` (under `data_dir/results`,
    /// served by this API through signed URLs) or `s3`.
    #[serde(rename = "storage")]
    pub kind: StorageKind,
    /// S3 bucket of result files (required with `storage = "s3"`).
    pub s3_bucket: Option<String>,
    /// Key prefix of result files in the bucket.
    pub s3_prefix: String,
    /// Endpoint of an S3-compatible store (MinIO, moto…); unset for AWS itself.
    pub s3_endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub s3_force_path_style: bool,
    /// AWS region; unset means the standard AWS chain (`AWS_REGION`, profile, instance metadata).
    pub s3_region: Option<String>,
    /// Secret that signs the local store's URLs; unset means a random key kept in the data
    /// directory (`storage-signing.key`).
    #[serde(skip_serializing)]
    pub storage_signing_key: Option<SecretString>,
    /// Most files one download may list (more is a 400 asking for `filterPrefix`).
    pub download_max_files: usize,
    /// Lifetime of the upload URLs given to workers, in seconds (1..=604800).
    pub upload_url_expiry_seconds: u32,
    /// Largest file the local store accepts through an upload URL, in bytes.
    pub upload_max_bytes: u64,
}

/// Where result files live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files under the data directory, served by this API through signed, expiring URLs.
    #[default]
    Local,
    /// An S3 (or S3-compatible) bucket, with presigned URLs.
    S3,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            kind: StorageKind::Local,
            s3_bucket: None,
            s3_prefix: "results".into(),
            s3_endpoint_url: None,
            s3_force_path_style: false,
            s3_region: None,
            storage_signing_key: None,
            download_max_files: 25,
            upload_url_expiry_seconds: 3_600,
            upload_max_bytes: 5 * 1024 * 1024 * 1024,
        }
    }
}

impl StorageSettings {
    /// Checks that S3 has a bucket and an HTTP endpoint, and the upload and download limits.
    ///
    /// # Errors
    /// The first setting missing or out of range, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.kind == StorageKind::S3
            && self
                .s3_bucket
                .as_deref()
                .is_none_or(|b| b.trim().is_empty())
        {
            return Err(ConfigError::invalid(
                "s3_bucket",
                "is required with storage = \"s3\"",
            ));
        }
        check_http_url("s3_endpoint_url", self.s3_endpoint_url.as_deref())?;
        if !(1..=10_000).contains(&self.download_max_files) {
            return Err(ConfigError::invalid(
                "download_max_files",
                "must be from 1 to 10000",
            ));
        }
        if PresignExpiry::from_seconds(i64::from(self.upload_url_expiry_seconds)).is_err() {
            return Err(ConfigError::invalid(
                "upload_url_expiry_seconds",
                "must be from 1 to 604800 seconds",
            ));
        }
        if self.upload_max_bytes == 0 {
            return Err(ConfigError::invalid(
                "upload_max_bytes",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
