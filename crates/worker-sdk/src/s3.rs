//! Direct uploads into S3, for servers that store results in S3 but offer no upload URLs
//! (ReefGuide R1, whose `storage_uri` is `s3://<bucket>/results/<type>/<job id>/<epoch ms>`).
//!
//! With the `s3` feature (on by default) the worker PUTs each result file with the AWS SDK as
//! `s3://<bucket>/<prefix>/<relative path>`, using the standard AWS credential chain
//! (environment, profile, web identity, ECS task role, instance metadata). One S3 client serves
//! the whole worker; it is built on the first direct upload, so workers that never need one
//! never load the AWS configuration. Without the feature such uploads fail with an error naming
//! it.
//!
//! The endpoint comes from [`WorkerBuilder::s3_endpoint_url`](crate::WorkerBuilder) or the
//! configuration the AWS SDK reads itself (`AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then
//! the profile's `endpoint_url`). The SDK has no setting for path-style addressing, so when an
//! endpoint is configured either way the client uses path style (as S3-compatible stores such
//! as moto and MinIO need) unless `s3_force_path_style(false)` says otherwise.

#[cfg(feature = "s3")]
mod error;
#[cfg(feature = "s3")]
mod location;
#[cfg(feature = "s3")]
mod uploader;

#[cfg(feature = "s3")]
pub(crate) use self::uploader::S3Uploader;

/// How a worker reaches S3 for direct uploads; set through the `s3_*` methods of
/// [`WorkerBuilder`](crate::WorkerBuilder). Empty without the `s3` feature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct S3Settings {
    /// The S3 endpoint, overriding the one of the AWS configuration.
    #[cfg(feature = "s3")]
    pub endpoint_url: Option<String>,
    /// Path-style addressing; by default on exactly when an endpoint is configured.
    #[cfg(feature = "s3")]
    pub force_path_style: Option<bool>,
}
