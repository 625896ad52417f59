//! Metrics in Prometheus' text format at `GET /metrics`:
//! - [`http`]: requests counted and timed by method, route template (`/api/polygons/{id}`,
//!   never the raw path, so the series stay few) and status;
//! - [`jobs`]: jobs by type and state, queues, claim waits, expired leases;
//! - [`database`]: the connection pool;
//! - [`background`]: which instance leads each role, the capacity manager's and the workflow
//!   dispatcher's decisions.
//!
//! One recorder per process (the `metrics` facade is global), installed by the first
//! application built; the optional `metrics_token` guards the endpoint with a bearer token.

mod background;
mod database;
mod http;
mod jobs;

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use self::background::{
    record_capacity_cycle, record_capacity_failure, record_dispatch, record_dispatch_failure,
    record_leader_cycle, record_leadership,
};
pub use self::http::measure_request;
pub use self::jobs::{record_claim, record_empty_claim, record_sweep};
use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};

/// The process's recorder: installed at the first call, `None` when another recorder was
/// installed first (then nothing is measured, and `/metrics` says so).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(http::DURATION.to_owned()),
                    &http::DURATION_BUCKETS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full(jobs::CLAIM_WAIT.to_owned()),
                        &jobs::CLAIM_WAIT_BUCKETS,
                    )
                })
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics are off: no recorder could be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The metrics, in Prometheus' text exposition format.
#[utoipa::path(tag = "operations",
    description = "Prometheus' text format. When `metrics_token` is set, the request must carry \
        it as a bearer token (`Authorization: Bearer …`).",
    responses(
        (status = 200, description = "The metrics (Prometheus text format 0.0.4)",
            content_type = "text/plain", body = String),
        (status = 401, description = "`metrics_token` is set and the request does not carry it \
            as a bearer token", body = ErrorBody),
        (status = 503, description = "Metrics are off in this process", body = ErrorBody)))]
#[get("/metrics")]
pub async fn metrics_endpoint(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.published.metrics_token {
        let offered = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if !offered.is_some_and(|offered| tokens_match(offered, token)) {
            return Err(ApiError::unauthorized(
                "The metrics need the configured metrics token as a bearer token",
            ));
        }
    }
    let handle = recorder().ok_or_else(ApiError::metrics_off)?;
    match state.jobs.census().await {
        Ok(census) => jobs::record_census(&census, state.jobs.registry(), chrono::Utc::now()),
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot count the jobs for the metrics"
            );
            jobs::record_census_failure();
        }
    }
    database::record_pool(state.runtime.store.pool_use());
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render()))
}

/// Compares two tokens in time independent of where they differ and of their lengths (their
/// digests are compared).
fn tokens_match(offered: &str, expected: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    use subtle::ConstantTimeEq as _;
    Sha256::digest(offered)
        .as_slice()
        .ct_eq(Sha256::digest(expected).as_slice())
        .into()
}

/// Keeps the histograms from growing: the recorder's upkeep, run every few seconds on the
/// current runtime for as long as it runs.
pub fn spawn_upkeep() {
    if let Some(handle) = recorder() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("s3cret", "s3cret"));
        assert!(!tokens_match("s3cret", "s3cret!"));
        assert!(!tokens_match("", "s3cret"));
    }
}
