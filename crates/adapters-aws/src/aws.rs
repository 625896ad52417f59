//! What the AWS adapters share: the pinned SDK behaviour and the loading of the shared
//! configuration (region from the settings, else the AWS chain, else a fallback; an optional
//! endpoint for S3- or ECS-compatible servers such as moto or MinIO).

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The region used when neither the settings nor the AWS chain name one.
const FALLBACK_REGION: &str = "us-east-1";

/// The SDK behaviour these adapters were written and tested against (pinned, so that an SDK
/// upgrade does not silently change retries or timeouts).
pub(crate) fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// The shared SDK configuration for one adapter (`service` names it in the fallback warning).
/// Credentials are resolved on first use, not here.
pub(crate) async fn shared_config(
    service: &str,
    region: Option<String>,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    let mut loader =
        aws_config::defaults(behavior_version()).region(resolve_region(service, region).await);
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// `configured`, else the region of the AWS chain, else [`FALLBACK_REGION`].
async fn resolve_region(service: &str, configured: Option<String>) -> Region {
    let chain = RegionProviderChain::first_try(configured.map(Region::new)).or_default_provider();
    if let Some(region) = chain.region().await {
        return region;
    }
    tracing::warn!(
        region = FALLBACK_REGION,
        service,
        "no AWS region configured (settings, AWS_REGION, profile or instance metadata); using \
         the fallback"
    );
    Region::from_static(FALLBACK_REGION)
}
