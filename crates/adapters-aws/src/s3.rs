//! The S3 object store: result files in one bucket under a prefix (default `results`), each
//! assignment's files below `s3://<bucket>/<prefix>/<type>/<job id>/<epoch ms>/`.
//!
//! Region and credentials come from the standard AWS chain (environment, profile, IMDS or the ECS
//! task role); [`S3Settings`] may override the region and point the client at an S3-compatible
//! endpoint (moto, MinIO) with path-style addressing.

mod level;
mod location;
mod settings;

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use reefguide_domain::job::{StorageBase, StorageLocation, StorageScheme};
use reefguide_domain::storage::{FilterPrefix, PresignExpiry, RelativePath};
use reefguide_ports::object_store::Level;
use reefguide_ports::{Listing, ObjectStore, ObjectStoreError};

use self::level::LevelBuilder;
use self::location::{KeyPrefix, base_root};
pub use self::settings::S3Settings;

/// Most keys one ListObjectsV2 page returns.
const MAX_PAGE_SIZE: i32 = 1_000;

/// Result files in an S3 bucket (see the module documentation).
#[derive(Clone, Debug)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3ObjectStore {
    /// A store using an already configured `client` (its endpoint, region and credentials); only
    /// the bucket and prefix of `settings` are used.
    #[must_use]
    pub fn from_client(client: Client, settings: &S3Settings) -> Self {
        Self {
            client,
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
        }
    }

    /// The SDK client, e.g. to create a bucket in tests.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The key prefix of `location`, if it is in this store's bucket.
    fn key_prefix(&self, location: &StorageLocation) -> Result<KeyPrefix, ObjectStoreError> {
        KeyPrefix::parse(&self.bucket, location)
    }

    /// `s3://bucket/key`, to name an object in error messages.
    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// An SDK failure of `action` on `target` as an opaque backend error with the SDK's full context.
fn backend(action: &str, target: &str, error: impl std::error::Error) -> ObjectStoreError {
    ObjectStoreError::Backend(anyhow!(
        "S3 {action} {target} failed: {}",
        DisplayErrorContext(error)
    ))
}

/// The ListObjectsV2 page size for a listing of at most `limit` files: one more than the limit
/// (to tell whether it was passed), at most S3's maximum.
fn page_size(limit: usize) -> i32 {
    i32::try_from(limit.saturating_add(1)).map_or(MAX_PAGE_SIZE, |size| size.min(MAX_PAGE_SIZE))
}

/// The presigning configuration for `expiry`.
fn presigning(expiry: PresignExpiry) -> Result<PresigningConfig, ObjectStoreError> {
    PresigningConfig::expires_in(expiry.as_duration())
        .map_err(|error| backend("presigning", "configuration", error))
}

/// Whether a GetObject failure means the object does not exist.
fn is_not_found(error: &SdkError<GetObjectError, HttpResponse>) -> bool {
    error
        .as_service_error()
        .is_some_and(GetObjectError::is_no_such_key)
        || error
            .raw_response()
            .is_some_and(|response| response.status().as_u16() == 404)
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    fn base(&self) -> StorageBase {
        StorageBase::new(StorageScheme::S3, &base_root(&self.bucket, &self.prefix))
    }

    async fn list(
        &self,
        location: &StorageLocation,
        filter: Option<FilterPrefix>,
        limit: usize,
    ) -> Result<Listing, ObjectStoreError> {
        let prefix = self.key_prefix(location)?;
        let list_prefix = prefix.list_prefix(filter.as_ref());
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&list_prefix)
            .into_paginator()
            .page_size(page_size(limit))
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| backend("listing", &self.uri(&list_prefix), error))?;
            objects.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| prefix.stored_object(object)),
            );
            if objects.len() > limit {
                objects.truncate(limit);
                return Ok(Listing {
                    objects,
                    truncated: true,
                });
            }
        }
        Ok(Listing {
            objects,
            truncated: false,
        })
    }

    async fn list_level(
        &self,
        location: &StorageLocation,
        folder: Option<RelativePath>,
    ) -> Result<Level, ObjectStoreError> {
        let level_prefix = self.key_prefix(location)?.level_prefix(folder.as_ref());
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&level_prefix)
            .delimiter("/")
            .into_paginator()
            .page_size(MAX_PAGE_SIZE)
            .send();
        let mut level = LevelBuilder::new(&level_prefix);
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| backend("listing", &self.uri(&level_prefix), error))?;
            level.add_page(&page);
        }
        Ok(level.finish())
    }

    async fn presign_get(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError> {
        let key = self.key_prefix(location)?.key(path);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning(expiry)?)
            .await
            .map_err(|error| backend("presigning GET of", &self.uri(&key), error))?;
        Ok(request.uri().to_owned())
    }

    async fn presign_put(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        expiry: PresignExpiry,
    ) -> Result<String, ObjectStoreError> {
        let key = self.key_prefix(location)?.key(path);
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning(expiry)?)
            .await
            .map_err(|error| backend("presigning PUT of", &self.uri(&key), error))?;
        Ok(request.uri().to_owned())
    }

    async fn put(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
        bytes: Vec<u8>,
    ) -> Result<(), ObjectStoreError> {
        let key = self.key_prefix(location)?.key(path);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|error| backend("PUT of", &self.uri(&key), error))?;
        Ok(())
    }

    async fn get(
        &self,
        location: &StorageLocation,
        path: &RelativePath,
    ) -> Result<Vec<u8>, ObjectStoreError> {
        let key = self.key_prefix(location)?.key(path);
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if is_not_found(&error) => {
                return Err(ObjectStoreError::NotFound(path.to_string()));
            }
            Err(error) => return Err(backend("GET of", &self.uri(&key), error)),
        };
        let body = output
            .body
            .collect()
            .await
            .map_err(|error| backend("reading the body of", &self.uri(&key), error))?;
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::Region;

    use super::*;

    fn store(prefix: &str) -> S3ObjectStore {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(crate::aws::behavior_version())
            .region(Region::from_static("us-east-1"))
            .build();
        let mut settings = S3Settings::new("bucket");
        settings.prefix = prefix.to_owned();
        S3ObjectStore::from_client(Client::from_conf(config), &settings)
    }

    #[test]
    fn pages_hold_one_more_than_the_limit_up_to_the_maximum() {
        let sizes = [0, 1, 999, 1_000, usize::MAX].map(page_size);
        assert_eq!(sizes, [1, 2, 1_000, 1_000, 1_000]);
    }

    #[test]
    fn base_is_the_bucket_and_prefix() {
        assert_eq!(
            store("results/").base(),
            StorageBase::new(StorageScheme::S3, "s3://bucket/results")
        );
        assert_eq!(store("").base().root, "s3://bucket");
    }

    #[tokio::test]
    async fn foreign_locations_are_refused_before_any_request() {
        let location = StorageLocation {
            scheme: StorageScheme::S3,
            uri: "s3://other/results/test/1/2".to_owned(),
        };
        let path = RelativePath::parse("a.txt").expect("valid path");
        let got = store("results").get(&location, &path).await;
        assert!(
            matches!(got, Err(ObjectStoreError::ForeignLocation(_))),
            "{got:?}"
        );
    }
}
