//! The request id: taken from the caller's `X-Request-Id` when it is a sensible one, else made
//! here; echoed in the response's `X-Request-Id`, and carried by a `request` tracing span, so
//! every log line written while the request is served names it (in `log_format = "json"` under
//! `span.request_id`).

use std::fmt;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use rand::Rng as _;
use tracing::Instrument as _;

/// The header, in both directions.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from a caller.
const MAX_LEN: usize = 128;

/// Characters of a made id (hex digits).
const MADE_LEN: usize = 32;

/// A request's id: 1 to 128 characters of letters, digits and `-_.:` (so it is safe in a log
/// line and a header), or 32 random hex digits made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id, when it is one this service accepts.
    pub fn from_caller(raw: &str) -> Option<Self> {
        let accepted = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        accepted.then(|| Self(raw.to_owned()))
    }

    /// A new random id.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        Self(
            (0..MADE_LEN)
                .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
                .collect(),
        )
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Middleware: serves the request inside a `request` span carrying its id, and echoes the id.
/// Outermost, so that every other middleware's log lines carry it too.
pub async fn with_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(RequestId::from_caller)
        .unwrap_or_else(RequestId::generate);
    let span = tracing::info_span!("request", request_id = %id);
    // The id is made of header-safe characters, so this never fails.
    let value = HeaderValue::from_str(id.as_str()).ok();
    match next.call(req).instrument(span).await {
        Ok(response) => {
            let mut response = response.map_into_boxed_body();
            if let Some(value) = value {
                response.headers_mut().insert(X_REQUEST_ID, value);
            }
            Ok(response)
        }
        // An error still to be rendered: rendered here, with the id, keeping the error.
        Err(error) => {
            let mut rendered = error.error_response();
            if let Some(value) = value {
                rendered.headers_mut().insert(X_REQUEST_ID, value);
            }
            Err(InternalError::from_response(error, rendered).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn a_callers_id_is_kept_when_it_is_safe_and_short() {
        for good in ["abc", "7f3e-11aa_b.c:d", &"x".repeat(128)] {
            assert_eq!(
                RequestId::from_caller(good).map(|id| id.0),
                Some(good.to_owned())
            );
        }
        for bad in [
            "",
            "has space",
            "quote\"",
            "new\nline",
            "é",
            &"x".repeat(129),
        ] {
            assert_eq!(RequestId::from_caller(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn made_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(RequestId::from_caller(a.as_str()).is_some());
    }
}
