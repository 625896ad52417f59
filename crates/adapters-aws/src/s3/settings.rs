//! What the S3 store is configured with, and how its SDK client is built from the standard AWS
//! chain plus those settings.

use anyhow::bail;
use aws_sdk_s3::Client;

use super::S3ObjectStore;

/// Where the S3 store keeps result files and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The key prefix under which every assignment's files go (default `results`).
    pub prefix: String,
    /// An S3-compatible endpoint (e.g. `http://127.0.0.1:5000` for moto) instead of AWS's own.
    pub endpoint_url: Option<String>,
    /// Address buckets in the path (`host/bucket/key`) rather than the host name; needed by most
    /// local emulators.
    pub force_path_style: bool,
    /// The region, overriding the one of the AWS chain.
    pub region: Option<String>,
}

impl S3Settings {
    /// Settings for `bucket` with the default prefix `results`, AWS's endpoint and the region of
    /// the AWS chain.
    #[must_use]
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: "results".to_owned(),
            endpoint_url: None,
            force_path_style: false,
            region: None,
        }
    }
}

impl S3ObjectStore {
    /// A store over `settings.bucket`, with region and credentials from the standard AWS chain
    /// (environment, profile, IMDS or the ECS task role) and the overrides of `settings`.
    /// Credentials are resolved on first use, not here. Falls back to region `us-east-1` (with a
    /// warning) when none is configured anywhere.
    ///
    /// # Errors
    /// When the bucket name is empty or contains `/`.
    pub async fn connect(settings: &S3Settings) -> anyhow::Result<Self> {
        if settings.bucket.is_empty() || settings.bucket.contains('/') {
            bail!(
                "invalid S3 bucket name {:?}: it must be non-empty and contain no '/'",
                settings.bucket
            );
        }
        let shared = crate::aws::shared_config(
            "S3",
            settings.region.clone(),
            settings.endpoint_url.as_deref(),
        )
        .await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .build();
        Ok(Self::from_client(Client::from_conf(config), settings))
    }
}

#[cfg(test)]
mod tests {
    use aws_config::Region;

    use super::*;

    #[test]
    fn settings_default_to_the_results_prefix() {
        let settings = S3Settings::new("bucket");
        assert_eq!(settings.prefix, "results");
        assert_eq!((settings.endpoint_url, settings.region), (None, None));
        assert!(!settings.force_path_style);
    }

    #[tokio::test]
    async fn connect_refuses_bucket_names_that_break_locations() {
        for bucket in ["", "a/b"] {
            let connected = S3ObjectStore::connect(&S3Settings::new(bucket)).await;
            assert!(connected.is_err(), "{bucket:?}");
        }
    }

    /// The endpoint and path style are proven by the contract suite against moto.
    #[tokio::test]
    async fn connect_prefers_the_configured_region() {
        let settings = S3Settings {
            endpoint_url: Some("http://127.0.0.1:9".to_owned()),
            force_path_style: true,
            region: Some("ap-southeast-2".to_owned()),
            ..S3Settings::new("bucket")
        };
        let store = S3ObjectStore::connect(&settings).await.expect("a store");
        let region = store.client().config().region().cloned();
        assert_eq!(region, Some(Region::new("ap-southeast-2")));
    }
}
