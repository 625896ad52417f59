//! The worker's S3 client (built on first use from the AWS configuration and the builder's
//! settings) and the PUT of one result file.

use std::fmt;
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_types::service_config::ServiceConfigKey;
use tokio::sync::OnceCell;

use super::S3Settings;
use super::error::S3UploadError;
use super::location::S3Location;
use crate::handler::HandlerError;
use crate::lease::{Lease, within_lease};
use crate::upload::Source;

/// The largest object one PUT may create (5 GiB).
const MAX_SINGLE_PUT: u64 = 5 << 30;
/// The region used when the AWS configuration names none.
const FALLBACK_REGION: &str = "us-east-1";

/// Direct S3 uploads of one worker: one client, built on the first upload.
pub(crate) struct S3Uploader {
    settings: S3Settings,
    client: OnceCell<Client>,
}

impl fmt::Debug for S3Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Uploader")
            .field("settings", &self.settings)
            .field("client_built", &self.client.initialized())
            .finish()
    }
}

impl Default for S3Uploader {
    fn default() -> Self {
        Self::new(S3Settings::default())
    }
}

impl S3Uploader {
    /// An uploader with these settings; no AWS configuration is read yet.
    pub(crate) fn new(settings: S3Settings) -> Self {
        Self {
            settings,
            client: OnceCell::new(),
        }
    }

    /// The client, built from the AWS configuration on first use.
    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
                Client::from_conf(s3_config(&shared, &self.settings))
            })
            .await
    }

    /// Stores `source` as `relative_path` below the `s3://<bucket>/<prefix>` storage URI.
    /// Transient failures (no answer, 5xx, throttling; see [`S3UploadError::is_transient`]),
    /// which the SDK already retries a few times itself, are retried while the job's lease
    /// lasts; when it ends first the job is abandoned (left for the server to re-queue).
    ///
    /// # Errors
    /// A malformed URI, an unreadable or too large file, a refusal by S3 (with the bucket, the
    /// key and the service's code and message), or transient failures that outlasted the lease.
    pub(crate) async fn upload(
        &self,
        storage_uri: &str,
        relative_path: &str,
        source: &Source,
        lease: &Lease,
    ) -> Result<(), HandlerError> {
        let location = S3Location::parse(storage_uri).map_err(|error| {
            HandlerError::new(format!("cannot upload {relative_path:?}: {error}"))
        })?;
        let key = location.key(relative_path);
        let client = self.client().await;
        within_lease(lease, "S3 upload", || {
            put(client, location.bucket(), &key, source)
        })
        .await
        .map_err(|gave_up| HandlerError::new(gave_up.to_string()))?;
        tracing::debug!(bucket = location.bucket(), key, "uploaded to S3");
        Ok(())
    }
}

/// One PUT of `source` as `bucket`/`key`; files are streamed from disk.
async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    source: &Source,
) -> Result<(), S3UploadError> {
    let body = match source {
        Source::Bytes(bytes) => ByteStream::from(bytes.clone()),
        Source::File(path) => file_body(path).await?,
    };
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .send()
        .await
        .map_err(|error| S3UploadError::put(bucket, key, &error))?;
    Ok(())
}

/// A body streaming the file at `path` (re-read from disk if the SDK retries).
async fn file_body(path: &Path) -> Result<ByteStream, S3UploadError> {
    let unreadable = |message: String| S3UploadError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|error| unreadable(error.to_string()))?;
    if !metadata.is_file() {
        return Err(unreadable("not a regular file".to_owned()));
    }
    if metadata.len() > MAX_SINGLE_PUT {
        return Err(S3UploadError::TooLarge {
            path: path.to_path_buf(),
            size: metadata.len(),
        });
    }
    ByteStream::from_path(path)
        .await
        .map_err(|error| unreadable(error.to_string()))
}

/// The S3 client configuration: the shared AWS configuration, the builder's endpoint, path-style
/// addressing when an endpoint is configured (unless set explicitly), and a fallback region.
fn s3_config(shared: &SdkConfig, settings: &S3Settings) -> aws_sdk_s3::Config {
    let mut builder = aws_sdk_s3::config::Builder::from(shared);
    if let Some(url) = &settings.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    let endpoint = settings
        .endpoint_url
        .clone()
        .or_else(|| configured_endpoint(shared));
    let path_style = settings.force_path_style.unwrap_or(endpoint.is_some());
    builder = builder.force_path_style(path_style);
    let region = match shared.region() {
        Some(region) => region.clone(),
        None => {
            tracing::warn!(
                region = FALLBACK_REGION,
                "no AWS region configured (AWS_REGION, profile or instance metadata); direct S3 \
                 uploads use the fallback"
            );
            Region::from_static(FALLBACK_REGION)
        }
    };
    tracing::info!(
        endpoint = endpoint.as_deref().unwrap_or("AWS"),
        path_style,
        %region,
        "S3 client for direct uploads ready"
    );
    builder.region(region).build()
}

/// The S3 endpoint the AWS configuration names, found as the S3 client finds it:
/// `AWS_ENDPOINT_URL_S3`, the profile's `services` section, `AWS_ENDPOINT_URL`, the profile's
/// `endpoint_url`.
fn configured_endpoint(shared: &SdkConfig) -> Option<String> {
    let service_specific = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()
        .and_then(|key| shared.service_config()?.load_config(key));
    service_specific.or_else(|| shared.endpoint_url().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
    use aws_sdk_s3::presigning::PresigningConfig;
    use aws_types::service_config::LoadServiceConfig;

    use super::*;

    /// Environment variables as the AWS configuration loader reads them (service-specific
    /// `<NAME>_<SERVICE>` first, then `<NAME>`).
    #[derive(Debug)]
    struct FakeEnv(HashMap<&'static str, &'static str>);

    impl LoadServiceConfig for FakeEnv {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            let specific = format!("{}_{}", key.env(), key.service_id().to_uppercase());
            self.0
                .get(specific.as_str())
                .or_else(|| self.0.get(key.env()))
                .map(|value| (*value).to_owned())
        }
    }

    fn shared(env: &[(&'static str, &'static str)], region: Option<&'static str>) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
            .service_config(FakeEnv(env.iter().copied().collect()))
            .region(region.map(Region::from_static));
        if let Some((_, url)) = env.iter().find(|(name, _)| *name == "AWS_ENDPOINT_URL") {
            builder = builder.endpoint_url(*url);
        }
        builder.build()
    }

    /// The URL (without query) a PUT of `results-bucket`/`results/k` goes to with this configuration.
    async fn put_url(shared: &SdkConfig, settings: &S3Settings) -> String {
        let client = Client::from_conf(s3_config(shared, settings));
        let presigned = client
            .put_object()
            .bucket("results-bucket")
            .key("results/k")
            .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("expiry"))
            .await
            .expect("presigned");
        let uri = presigned.uri().to_owned();
        uri.split('?').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn endpoints_come_from_the_s3_variable_then_the_global_one() {
        assert_eq!(configured_endpoint(&shared(&[], Some("us-east-1"))), None);
        let both = shared(
            &[
                ("AWS_ENDPOINT_URL_S3", "http://s3.local:9000"),
                ("AWS_ENDPOINT_URL", "http://all.local:4566"),
            ],
            None,
        );
        assert_eq!(
            configured_endpoint(&both).as_deref(),
            Some("http://s3.local:9000")
        );
        let global = shared(&[("AWS_ENDPOINT_URL", "http://all.local:4566")], None);
        assert_eq!(
            configured_endpoint(&global).as_deref(),
            Some("http://all.local:4566")
        );
    }

    #[tokio::test]
    async fn an_endpoint_from_the_environment_means_path_style() {
        let env_only = shared(
            &[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")],
            Some("us-east-1"),
        );
        assert_eq!(
            put_url(&env_only, &S3Settings::default()).await,
            "http://127.0.0.1:9/results-bucket/results/k"
        );
        let explicit_off = S3Settings {
            force_path_style: Some(false),
            ..S3Settings::default()
        };
        assert_eq!(
            put_url(
                &shared(&[("AWS_ENDPOINT_URL_S3", "http://s3.local:9")], None),
                &explicit_off
            )
            .await,
            "http://results-bucket.s3.local:9/results/k"
        );
    }

    #[tokio::test]
    async fn the_builders_endpoint_wins_and_means_path_style() {
        let settings = S3Settings {
            endpoint_url: Some("http://127.0.0.1:7".to_owned()),
            force_path_style: None,
        };
        let env = shared(&[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")], None);
        assert_eq!(
            put_url(&env, &settings).await,
            "http://127.0.0.1:7/results-bucket/results/k"
        );
    }

    #[tokio::test]
    async fn plain_aws_uses_virtual_hosts_in_the_configured_region() {
        let aws = shared(&[], Some("ap-southeast-2"));
        assert_eq!(
            put_url(&aws, &S3Settings::default()).await,
            "https://results-bucket.s3.ap-southeast-2.amazonaws.com/results/k"
        );
        // No region anywhere: the fallback, instead of a failure at the first upload.
        assert_eq!(
            put_url(&shared(&[], None), &S3Settings::default()).await,
            "https://results-bucket.s3.us-east-1.amazonaws.com/results/k"
        );
        let forced = S3Settings {
            force_path_style: Some(true),
            ..S3Settings::default()
        };
        assert_eq!(
            put_url(&aws, &forced).await,
            "https://s3.ap-southeast-2.amazonaws.com/results-bucket/results/k"
        );
    }

    #[tokio::test]
    async fn files_that_cannot_be_sent_are_refused_before_any_request() {
        let missing = file_body(Path::new("/nonexistent/result.json"))
            .await
            .expect_err("missing");
        assert!(
            matches!(missing, S3UploadError::Unreadable { .. }),
            "{missing}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let not_a_file = file_body(dir.path()).await.expect_err("a directory");
        assert!(
            not_a_file.to_string().contains("not a regular file"),
            "{not_a_file}"
        );
        let file = dir.path().join("r.bin");
        std::fs::write(&file, b"12345").expect("written");
        let body = file_body(&file).await.expect("readable");
        assert_eq!(body.size_hint(), (5, Some(5)));
    }

    #[tokio::test]
    async fn malformed_storage_uris_fail_without_touching_aws() {
        let uploader = S3Uploader::default();
        let lease = Lease::lasting(Duration::from_secs(60));
        let error = uploader
            .upload(
                "s3:///results/x",
                "result.json",
                &Source::Bytes(Vec::new()),
                &lease,
            )
            .await
            .expect_err("no bucket");
        assert_eq!(
            error.message(),
            r#"cannot upload "result.json": the S3 URI "s3:///results/x" names no bucket"#
        );
        assert!(!uploader.client.initialized(), "no client was built");
    }
}
