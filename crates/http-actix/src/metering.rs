//! Metrics in Prometheus' text format at `GET /metrics`: HTTP requests counted by method, route
//! template (`/api/polygons/{id}`, never the raw path, so the series stay few) and status, with
//! a latency histogram of the same labels. One recorder per process (the `metrics` facade is
//! global), installed by the first application built; the optional `metrics_token` guards the
//! endpoint with a bearer token.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, get, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};

/// The request counter.
const REQUESTS: &str = "http_requests_total";
/// The request latency histogram, in seconds.
const DURATION: &str = "http_request_duration_seconds";
/// Its buckets: 1 ms to 30 s (long polls end at the claim wait).
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// The route label of a request no route matched (one series for every unknown path).
const UNMATCHED: &str = "unmatched";

/// The process's recorder: installed at the first call, `None` when another recorder was
/// installed first (then nothing is measured, and `/metrics` says so).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &DURATION_BUCKETS)
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

/// Middleware: counts and times every request under its route template and status.
pub async fn measure_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    // The template is looked up by path before routing, so a guard's refusal (answered before
    // the resource is reached) is counted under its route too.
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(started.elapsed().as_secs_f64());
    result
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
