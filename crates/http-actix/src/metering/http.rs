//! HTTP requests counted and timed by method, route template and status.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// The request counter.
pub(super) const REQUESTS: &str = "http_requests_total";
/// The request latency histogram, in seconds.
pub(super) const DURATION: &str = "http_request_duration_seconds";
/// Its buckets: 1 ms to 30 s (long polls end at the claim wait).
pub(super) const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// The route label of a request no route matched (one series for every unknown path).
const UNMATCHED: &str = "unmatched";

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
