//! Middleware: CORS, authentication, role guard, request logging, and JSON for framework errors.

use std::time::Instant;

use actix_cors::{Cors, CorsError};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{HttpMessage as _, HttpRequest, ResponseError as _, web};

use reefguide_domain::access::may_use_user_features;

use crate::app::AppState;
use crate::config::CorsOrigins;
use crate::errors::ApiError;
use crate::extract::CurrentUser;
use crate::request_id::X_REQUEST_ID;

/// How long browsers may cache a preflight answer, in seconds.
const CORS_MAX_AGE_SECONDS: usize = 3600;

/// CORS for the browser front end, which runs on its own origin. It must wrap everything that
/// can answer (authentication included), so that preflights are answered before any token is
/// asked for and error answers carry `Access-Control-Allow-Origin` too.
///
/// With [`CorsOrigins::Any`] every origin gets `Access-Control-Allow-Origin: *`, as ReefGuide
/// answers; credentials are never allowed (tokens travel in the `Authorization` header, not in
/// cookies). With a list, an allowed origin is echoed back; another origin gets no CORS header
/// (the browser then hides the answer) and its preflights are refused with 400.
pub fn cors(origins: &CorsOrigins) -> Cors {
    let cors = match origins {
        CorsOrigins::Any => Cors::default().allow_any_origin().send_wildcard(),
        CorsOrigins::List(origins) => origins.iter().fold(Cors::default(), |cors, origin| {
            cors.allowed_origin(origin.as_str())
        }),
    };
    cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            X_REQUEST_ID,
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            X_REQUEST_ID,
        ])
        .max_age(CORS_MAX_AGE_SECONDS)
        .block_on_origin_mismatch(false)
}

/// Authenticates the bearer token **before** anything reads the body, re-reading the user's
/// roles from storage, and stores the [`CurrentUser`] for handlers.
pub async fn require_user(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let token = bearer_token(req.request())?.to_owned();
    authenticate(req, next, token).await
}

/// [`require_user`], also accepting a token sent without `Bearer ` (as LabCAS's browser client
/// does; only on the LabCAS routes).
pub async fn require_user_bare_token_allowed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let token = bearer_or_bare_token(req.request())?.to_owned();
    authenticate(req, next, token).await
}

/// Authenticates `token`, stores the [`CurrentUser`] and calls the rest of the chain.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
    token: String,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::unexpected(&anyhow::anyhow!("application state missing")))?;
    let user = state
        .auth
        .authenticate(&token)
        .await
        .map_err(ApiError::from)?;
    req.extensions_mut().insert(CurrentUser(user));
    next.call(req).await
}

/// Lets only administrators through; must run after [`require_user`].
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_admin = req
        .extensions()
        .get::<CurrentUser>()
        .map(|CurrentUser(user)| user.roles.is_admin());
    match is_admin {
        Some(true) => next.call(req).await,
        Some(false) => Err(ApiError::forbidden("Administrator role required").into()),
        None => Err(ApiError::unauthorized("Authentication required").into()),
    }
}

/// Lets only callers that may act as workers through
/// (`reefguide_domain::access::may_act_as_worker`: WORKER or ADMIN); must run after
/// [`require_user`]. The job service applies the same rule; this gate answers 403 before the
/// request body is read, as R1's role check does before its body validation.
pub async fn require_worker(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let allowed = req
        .extensions()
        .get::<CurrentUser>()
        .map(|CurrentUser(user)| reefguide_domain::access::may_act_as_worker(user));
    match allowed {
        Some(true) => next.call(req).await,
        Some(false) => Err(ApiError::forbidden("Worker or administrator role required").into()),
        None => Err(ApiError::unauthorized("Authentication required").into()),
    }
}

/// Lets through only users allowed to use the user features (polygons, notes, jobs): see
/// `reefguide_domain::access::may_use_user_features`. Must run after [`require_user`].
pub async fn require_user_features(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let required_role = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.request.required_role);
    let allowed = req
        .extensions()
        .get::<CurrentUser>()
        .map(|CurrentUser(user)| may_use_user_features(user, required_role));
    match allowed {
        Some(true) => next.call(req).await,
        Some(false) => Err(ApiError::forbidden(match required_role {
            Some(role) => format!("This feature requires the {role} role"),
            None => "Service accounts may not use this feature".to_owned(),
        })
        .into()),
        None => Err(ApiError::unauthorized("Authentication required").into()),
    }
}

/// The token of `Authorization: Bearer <token>`, or of a bare `Authorization: <token>` (a
/// value without a space).
fn bearer_or_bare_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let bare = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty() && !value.contains(' '));
    match bare {
        Some(token) => Ok(token),
        None => bearer_token(req),
    }
}

fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("Missing Authorization header"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("Authorization header must be 'Bearer <token>'"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "Authorization header must be 'Bearer <token>'",
        ));
    }
    Ok(token)
}

/// One log line per request: method, path (never the query, which may carry signatures),
/// status and latency. Server errors log at `error`, client errors at `info`.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(%method, %path, status = status.as_u16(), elapsed_ms, "request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), elapsed_ms, "request");
    }
    result
}

/// Turns any error response that is not already JSON (actix's own 404/405/400 for bad headers
/// and so on) into the JSON error body of contract §1.
pub fn json_error_body<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let allow = response.headers().get(header::ALLOW).cloned();
    let cors_refusal = response
        .response()
        .error()
        .and_then(|error| error.as_error::<CorsError>())
        .map(ToString::to_string);
    let (req, _) = response.into_parts();
    let error = match (status.as_u16(), cors_refusal) {
        // A preflight the CORS layer refused (origin, method or headers not allowed).
        (_, Some(reason)) => ApiError::new(
            status,
            "cors_refused",
            format!("Cross-origin request refused: {reason}"),
        ),
        (404, None) => {
            ApiError::not_found(format!("Route {} {} not found", req.method(), req.path()))
        }
        (405, None) => ApiError::new(
            status,
            "method_not_allowed",
            format!("Method {} is not allowed on {}", req.method(), req.path()),
        ),
        _ => ApiError::new(
            status,
            "http_error",
            status.canonical_reason().unwrap_or("Request failed"),
        ),
    };
    let mut body = error.error_response();
    if let Some(allow) = allow {
        // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
        body.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, body).map_into_right_body(),
    ))
}

/// Screens what a handler is about to read, with 400s the handlers would otherwise not give:
///
/// - a NUL character (U+0000) in the path, the query or a JSON body (`nul_character`): Postgres
///   stores none in `text` or `jsonb`, so it is refused up front, the same on both backends;
/// - a JSON body that is not an object (`invalid_body`): every request body of the API is an
///   object, and serde would otherwise read a struct from an array (`[1, "x"]`).
///
/// Runs inside the authenticating scopes (authentication must come before the body is read);
/// the body is buffered under the configured payload limit and handed on unchanged.
pub async fn screen_request(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let refuse = |place: &str| {
        ApiError::bad_request(
            "nul_character",
            format!("The request {place} contains a NUL character (U+0000), which is not accepted"),
        )
    };
    if has_encoded_nul(req.path()) {
        return Err(refuse("path").into());
    }
    if has_encoded_nul(req.query_string()) {
        return Err(refuse("query").into());
    }
    if matches!(
        *req.method(),
        actix_web::http::Method::POST
            | actix_web::http::Method::PUT
            | actix_web::http::Method::PATCH
    ) {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(0, |state| state.request.body_limit);
        let body = req.extract::<web::Bytes>().await.map_err(|error| {
            if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::bad_request(
                    "invalid_body",
                    format!("Cannot read the request body: {error}"),
                )
            }
        })?;
        if json_has_nul(&body) {
            return Err(refuse("body").into());
        }
        if is_json_but_not_object(&body) {
            return Err(ApiError::bad_request(
                "invalid_body",
                "Invalid request body: expected a JSON object",
            )
            .into());
        }
        req.set_payload(body.into());
    }
    next.call(req).await
}

/// Whether a percent-encoded URL part encodes U+0000.
fn has_encoded_nul(raw: &str) -> bool {
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// Whether `body`, read as JSON, holds U+0000 in a string or a member name (not JSON: `false`,
/// the handler reports it).
fn json_has_nul(body: &[u8]) -> bool {
    // Only an escape can put U+0000 into valid JSON; skip the parse when none is present.
    if !body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|value| value_has_nul(&value))
}

/// Whether `body` is valid JSON other than an object (`null`, which an optional body may be,
/// and anything that is not JSON pass: the handler reports them).
fn is_json_but_not_object(body: &[u8]) -> bool {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None | Some(b'{') => false,
        Some(_) => serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|value| !value.is_null() && !value.is_object()),
    }
}

fn value_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(value_has_nul),
        serde_json::Value::Object(members) => members
            .iter()
            .any(|(name, member)| name.contains('\0') || value_has_nul(member)),
        _ => false,
    }
}

#[cfg(test)]
mod screen_tests {
    use super::*;

    #[test]
    fn encoded_nul_is_found_in_url_parts() {
        assert!(has_encoded_nul("type=%00"));
        assert!(has_encoded_nul("/api/jobs/%00"));
        assert!(!has_encoded_nul("type=%20TEST%0a"));
    }

    #[test]
    fn nul_is_found_anywhere_in_json() {
        assert!(json_has_nul(br#"{"a":["x\u0000"]}"#));
        assert!(json_has_nul(br#"{"k\u0000":1}"#));
        assert!(
            !json_has_nul(br#"{"a":"\\u0000"}"#),
            "an escaped backslash is not NUL"
        );
        assert!(!json_has_nul(br#"{"a":"plain"}"#));
        assert!(!json_has_nul(b"{not json \\u0000"));
    }

    #[test]
    fn only_objects_pass_as_json_bodies() {
        assert!(is_json_but_not_object(b"[null, null]"));
        assert!(is_json_but_not_object(b" 42"));
        assert!(!is_json_but_not_object(b"{\"a\": 1}"));
        assert!(!is_json_but_not_object(b"null"));
        assert!(!is_json_but_not_object(b""));
        assert!(!is_json_but_not_object(b"[not json"));
    }
}
