//! An in-process stand-in for the original ReefGuide Node server ("R1",
//! `open-AIMS/reefguide-web-api`), limited to the routes a worker uses, to test the worker SDK
//! against R1's real contract rather than against this server.
//!
//! What it reproduces, from R1's `src/api/jobs/routes.ts`, `src/api/services/jobs.ts`,
//! `src/api/auth/routes.ts` and the libraries they use (express 4.21, zod 3.23.8,
//! zod-express-middleware 1.4.0, passport-jwt, finalhandler 1.3.1):
//!
//! - Routes: `POST /api/auth/login`, `POST /api/auth/token`, `GET /api/jobs/poll`,
//!   `POST /api/jobs/assign`, `POST /api/jobs/assignments/:id/result` and `GET /api`. Every other
//!   request gets Express's default 404 page (`Cannot POST /api/jobs/claim`): R1 has no claim,
//!   heartbeat or upload-urls route.
//! - Request validation (zod-express-middleware's `processRequest`) runs before authentication
//!   (passport), so an invalid request is answered 400 even without a token. The 400 body is a
//!   JSON array `[{"type":"Body","errors":{"issues":[…],"name":"ZodError"}}]` with zod's issues,
//!   keys in zod's order.
//! - `express.json()`: a body that is not `application/json` counts as `{}`; malformed JSON or a
//!   body over 100 kB ends in R1's error middleware as a 500.
//! - Authentication: a bearer token issued by this stub's login or refresh (JWT-shaped, RS256
//!   header, 10 minute lifetime), else 401 with the plain text `Unauthorized`.
//! - Assign: 404 `Job not found`, 400 `Job is not available for assignment` unless PENDING, else an
//!   assignment with an S3 storage URI, 60 minute expiry, job set IN_PROGRESS. Assigns are
//!   serialised (R1 itself is not atomic).
//! - Result: 404 `Assignment not found`, 400 `Assignment already completed!`, the job type's result
//!   schema for a truthy payload (400 `Invalid result payload for job type …`), else the result
//!   is stored, the job gets the reported status, and the answer is 200 with an empty body.
//!
//! What it does not reproduce: the other R1 routes (users, polygons, notes, job submission and
//! listing; [`R1Stub::submit`] puts jobs in directly), roles (R1's worker routes check none),
//! JWT signatures (tokens are checked against the ones this stub issued).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// R1's `JobType` enum (its Prisma schema).
pub const R1_JOB_TYPES: [&str; 3] = ["TEST", "SUITABILITY_ASSESSMENT", "REGIONAL_ASSESSMENT"];
/// R1's `JobStatus` enum (its Prisma schema), in declaration order.
pub const R1_JOB_STATUSES: [&str; 6] = [
    "PENDING",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "TIMED_OUT",
];

/// Lifetime of R1's access tokens (`TOKEN_EXPIRY = '10m'`).
const ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 600;
/// Lifetime of R1's refresh tokens (`REFRESH_DURATION_HOURS = 48`).
const REFRESH_TOKEN_LIFETIME_SECONDS: i64 = 48 * 3600;
/// How long an assignment lasts (`jobExpiryMap`: 60 minutes for every type).
const ASSIGNMENT_MINUTES: i64 = 60;
/// `express.json()`'s default body limit ("100kb").
const JSON_BODY_LIMIT: usize = 100 * 1024;
/// The user id of the worker account.
const WORKER_USER_ID: i64 = 1;
/// The user id given as owner of submitted jobs.
const SUBMITTER_USER_ID: i64 = 2;

/// How to start an [`R1Stub`].
#[derive(Debug, Clone)]
pub struct R1StubOptions {
    /// The email of the one account that can log in.
    pub worker_email: String,
    /// Its password.
    pub worker_password: String,
    /// The bucket named in storage URIs: `s3://{bucket}/results/{type}/{job id}/{ms}`.
    pub bucket: String,
}

/// An assignment the stub made (a successful `POST /api/jobs/assign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R1Assignment {
    /// Its id.
    pub id: i64,
    /// The job.
    pub job_id: i64,
    /// The `ecsTaskArn` the worker sent.
    pub ecs_task_arn: String,
    /// The `ecsClusterArn` the worker sent.
    pub ecs_cluster_arn: String,
    /// Where the worker was told to write: `s3://{bucket}/results/{type}/{job id}/{ms}`.
    pub storage_uri: String,
}

/// A result the stub accepted (`POST /api/jobs/assignments/:id/result` answered 200).
#[derive(Debug, Clone, PartialEq)]
pub struct R1Result {
    /// The assignment it was reported for.
    pub assignment_id: i64,
    /// Its job.
    pub job_id: i64,
    /// The reported status (`SUCCEEDED`, `FAILED`, …).
    pub status: String,
    /// The reported `resultPayload`, when there was one.
    pub result_payload: Option<Value>,
}

/// One request the stub answered, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R1Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// The answer's status.
    pub status: u16,
    /// The answer's body (empty for successful answers, which can be long).
    pub error_body: String,
}

/// A job as R1 stores it (Prisma's field order).
#[derive(Debug, Clone, Serialize)]
struct Job {
    id: i64,
    created_at: String,
    updated_at: String,
    #[serde(rename = "type")]
    job_type: String,
    status: String,
    hash: String,
    user_id: i64,
    input_payload: Value,
}

/// An assignment as R1 stores and returns it (Prisma's field order).
#[derive(Debug, Clone, Serialize)]
struct Assignment {
    id: i64,
    created_at: String,
    updated_at: String,
    job_id: i64,
    ecs_task_arn: String,
    ecs_cluster_arn: String,
    expires_at: String,
    storage_scheme: &'static str,
    storage_uri: String,
    heartbeat_at: Option<String>,
    completed_at: Option<String>,
    #[serde(skip)]
    expires: DateTime<Utc>,
}

/// A refresh token row.
#[derive(Debug)]
struct RefreshToken {
    token: String,
    expiry_time: i64,
}

/// Everything the stub knows, behind one lock.
#[derive(Debug, Default)]
struct State {
    jobs: BTreeMap<i64, Job>,
    assignments: BTreeMap<i64, Assignment>,
    results: Vec<R1Result>,
    refused_assigns: Vec<Value>,
    requests: Vec<R1Request>,
    /// Access token → its expiry (unix seconds).
    access_tokens: HashMap<String, i64>,
    /// Refresh token rows by id.
    refresh_tokens: BTreeMap<i64, RefreshToken>,
    next_job: i64,
    next_assignment: i64,
    next_refresh: i64,
}

/// The state and options shared with the server's handlers.
#[derive(Debug)]
struct Shared {
    options: R1StubOptions,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running R1 stand-in on a free loopback port. It stops when dropped (or with
/// [`R1Stub::stop`]).
pub struct R1Stub {
    /// `http://127.0.0.1:PORT` (the API is below `/api`).
    pub url: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl std::fmt::Debug for R1Stub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R1Stub")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl R1Stub {
    /// Starts the stub on `127.0.0.1:0` (HTTP/1.1 with keep-alive), in the current Tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(options: R1StubOptions) -> R1Stub {
        let shared = Arc::new(Shared {
            options,
            state: Mutex::new(State::default()),
        });
        let data = web::Data::from(Arc::clone(&shared));
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(dispatch))
        })
        .workers(1)
        .keep_alive(Duration::from_secs(75))
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("the R1 stub binds a loopback port");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        R1Stub {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            handle,
        }
    }

    /// Stops the server and waits until it has.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// Adds a PENDING job of `job_type` (one of [`R1_JOB_TYPES`]) owned by another user, as R1's
    /// `POST /api/jobs` would after validating it; its id.
    ///
    /// # Panics
    /// When `job_type` is not one of R1's job types: R1 could not hold such a job.
    pub fn submit(&self, job_type: &str, input_payload: Value) -> i64 {
        assert!(
            R1_JOB_TYPES.contains(&job_type),
            "R1 has no job type {job_type:?} (it has {R1_JOB_TYPES:?})"
        );
        let now = iso(Utc::now());
        let mut state = self.shared.state();
        state.next_job += 1;
        let id = state.next_job;
        let hash = hex_sha256(format!("{input_payload}{job_type}").as_bytes());
        state.jobs.insert(
            id,
            Job {
                id,
                created_at: now.clone(),
                updated_at: now,
                job_type: job_type.to_owned(),
                status: "PENDING".to_owned(),
                hash,
                user_id: SUBMITTER_USER_ID,
                input_payload,
            },
        );
        id
    }

    /// Every assignment made so far, in order.
    pub fn assignments(&self) -> Vec<R1Assignment> {
        self.shared
            .state()
            .assignments
            .values()
            .map(|a| R1Assignment {
                id: a.id,
                job_id: a.job_id,
                ecs_task_arn: a.ecs_task_arn.clone(),
                ecs_cluster_arn: a.ecs_cluster_arn.clone(),
                storage_uri: a.storage_uri.clone(),
            })
            .collect()
    }

    /// Every result accepted so far, in order.
    pub fn results(&self) -> Vec<R1Result> {
        self.shared.state().results.clone()
    }

    /// The 400 bodies (zod validation failures) sent for `POST /api/jobs/assign`, in order.
    pub fn refused_assigns(&self) -> Vec<Value> {
        self.shared.state().refused_assigns.clone()
    }

    /// The job's status (`PENDING`, `IN_PROGRESS`, `SUCCEEDED`, …); `None` for an unknown job.
    pub fn job_status(&self, job_id: i64) -> Option<String> {
        self.shared
            .state()
            .jobs
            .get(&job_id)
            .map(|job| job.status.clone())
    }

    /// Every request answered so far, in order (for diagnostics and call counts).
    pub fn requests(&self) -> Vec<R1Request> {
        self.shared.state().requests.clone()
    }

    /// Lets every access token issued so far expire now, as if ten minutes had passed: the next
    /// call with one is answered 401, and a worker must refresh or log in again.
    pub fn expire_access_tokens(&self) {
        let now = Utc::now().timestamp();
        for expiry in self.shared.state().access_tokens.values_mut() {
            *expiry = now - 1;
        }
    }
}

impl Drop for R1Stub {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let stopping = self.handle.stop(false);
            runtime.spawn(stopping);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch

/// An answer before it is logged.
struct Answer {
    status: StatusCode,
    /// `None`: an empty body with no content type (`res.status(200).send()`).
    body: Option<Body>,
}

enum Body {
    Json(String),
    Text(String),
    Html(String),
}

impl Answer {
    fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        Self {
            status,
            body: Some(Body::Json(text)),
        }
    }

    /// R1's error middleware: `{"status": N, "message": "…"}`.
    fn error(status: StatusCode, message: &str) -> Self {
        #[derive(Serialize)]
        struct ErrorResponse<'a> {
            status: u16,
            message: &'a str,
        }
        Self::json(
            status,
            &ErrorResponse {
                status: status.as_u16(),
                message,
            },
        )
    }

    /// Anything that is not one of R1's exceptions (body-parser errors, Prisma errors).
    fn unexpected() -> Self {
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred",
        )
    }

    /// passport's answer when authentication fails.
    fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: Some(Body::Text("Unauthorized".to_owned())),
        }
    }

    /// Express's default 404 (finalhandler): an HTML page saying `Cannot METHOD /path`.
    fn express_not_found(method: &Method, path: &str) -> Self {
        let message = format!("Cannot {method} {path}");
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Error</title>\n</head>\n<body>\n<pre>{}</pre>\n</body>\n</html>\n",
            escape_html(&message)
        );
        Self {
            status: StatusCode::NOT_FOUND,
            body: Some(Body::Html(page)),
        }
    }

    fn into_response(self) -> (HttpResponse, String) {
        let mut builder = HttpResponse::build(self.status);
        match self.body {
            None => (builder.finish(), String::new()),
            Some(Body::Json(text)) => (
                builder
                    .content_type("application/json; charset=utf-8")
                    .body(text.clone()),
                text,
            ),
            Some(Body::Text(text)) => (builder.body(text.clone()), text),
            Some(Body::Html(text)) => (
                builder
                    .content_type("text/html; charset=utf-8")
                    .insert_header(("Content-Security-Policy", "default-src 'none'"))
                    .insert_header(("X-Content-Type-Options", "nosniff"))
                    .body(text.clone()),
                text,
            ),
        }
    }
}

/// Every request: routes it, answers, and logs it.
async fn dispatch(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let answer = route(&req, &body, &shared);
    let status = answer.status.as_u16();
    let (response, text) = answer.into_response();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    shared.state().requests.push(R1Request {
        method: req.method().to_string(),
        path,
        status,
        error_body: if status >= 400 { text } else { String::new() },
    });
    response
}

/// Express's routing (case-insensitive, an optional trailing slash) of the routes a worker uses.
fn route(req: &HttpRequest, body: &[u8], shared: &Shared) -> Answer {
    let path = req.path();
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = req.method();
    match (method, lower.as_slice()) {
        (&Method::GET, ["api"]) => {
            Answer::json(StatusCode::OK, &json!({"message": "API healthy."}))
        }
        (&Method::POST, ["api", "auth", "login"]) => {
            with_json_body(req, body, |body| login(shared, &body))
        }
        (&Method::POST, ["api", "auth", "token"]) => {
            with_json_body(req, body, |body| refresh(shared, &body))
        }
        (&Method::GET, ["api", "jobs", "poll"]) => poll(req, shared),
        (&Method::POST, ["api", "jobs", "assign"]) => {
            with_json_body(req, body, |body| assign(req, shared, &body))
        }
        (&Method::POST, ["api", "jobs", "assignments", id, "result"]) => {
            with_json_body(req, body, |body| submit_result(req, shared, id, &body))
        }
        _ => Answer::express_not_found(method, path),
    }
}

/// `express.json()`: the parsed body (`{}` unless the request is JSON), or R1's 500 for a body
/// it cannot take.
fn with_json_body(req: &HttpRequest, body: &[u8], then: impl FnOnce(Value) -> Answer) -> Answer {
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json || body.is_empty() {
        return then(json!({}));
    }
    if body.len() > JSON_BODY_LIMIT {
        return Answer::unexpected(); // 413 from body-parser, turned into 500 by R1's middleware
    }
    // body-parser's strict mode: only objects and arrays.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if !matches!(first, Some(b'{' | b'[')) {
        return Answer::unexpected();
    }
    match serde_json::from_slice(body) {
        Ok(value) => then(value),
        Err(_) => Answer::unexpected(),
    }
}

// ---------------------------------------------------------------------------------------------
// zod and zod-express-middleware

/// One zod issue, fields in the order zod 3.23.8 creates them (`makeIssue` spreads the issue data
/// then adds `path` and `message`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Issue {
    /// `z.string()`, `z.number()`, `z.object()` given another type.
    InvalidType {
        code: &'static str,
        expected: String,
        received: &'static str,
        path: Vec<&'static str>,
        message: String,
    },
    /// `z.nativeEnum()` given neither a string nor a number (its issue data starts with
    /// `expected`).
    EnumInvalidType {
        expected: String,
        received: &'static str,
        code: &'static str,
        path: Vec<&'static str>,
        message: String,
    },
    /// `z.nativeEnum()` given a value outside the enum.
    InvalidEnumValue {
        received: Value,
        code: &'static str,
        options: Vec<&'static str>,
        path: Vec<&'static str>,
        message: String,
    },
    /// `z.string().email()` given a string that is no email.
    InvalidString {
        validation: &'static str,
        code: &'static str,
        message: String,
        path: Vec<&'static str>,
    },
}

/// zod's `ZodParsedType` of a JSON value (`None`: absent).
fn parsed_type(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// zod's English message for `invalid_type`.
fn invalid_type_message(expected: &str, received: &str) -> String {
    if received == "undefined" {
        "Required".to_owned()
    } else {
        format!("Expected {expected}, received {received}")
    }
}

/// zod's `util.joinValues` of string options: `'A' | 'B'`.
fn join_values(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// What one field of a `z.object` must be.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// `z.string()`.
    String,
    /// `z.string().email()`.
    Email,
    /// `z.number()`.
    Number,
    /// `z.nativeEnum(…)`.
    NativeEnum(&'static [&'static str]),
    /// `z.nativeEnum(…).optional()`.
    OptionalNativeEnum(&'static [&'static str]),
    /// `z.any().optional()`.
    Any,
}

/// `z.object({...}).safeParse(input)`: the issues, in the order of the schema's keys (unknown keys
/// are stripped, not reported).
fn check_object(input: &Value, fields: &[(&'static str, Field)]) -> Vec<Issue> {
    let Some(object) = input.as_object() else {
        let received = parsed_type(Some(input));
        return vec![Issue::InvalidType {
            code: "invalid_type",
            expected: "object".to_owned(),
            received,
            path: vec![],
            message: invalid_type_message("object", received),
        }];
    };
    let mut issues = Vec::new();
    for &(name, field) in fields {
        let value = object.get(name);
        let received = parsed_type(value);
        let plain = |expected: &str| Issue::InvalidType {
            code: "invalid_type",
            expected: expected.to_owned(),
            received,
            path: vec![name],
            message: invalid_type_message(expected, received),
        };
        match field {
            Field::Any => {}
            Field::String if received != "string" => issues.push(plain("string")),
            Field::Number if received != "number" => issues.push(plain("number")),
            Field::Email => match value {
                Some(Value::String(text)) if !zod_email(text) => {
                    issues.push(Issue::InvalidString {
                        validation: "email",
                        code: "invalid_string",
                        message: "Invalid email".to_owned(),
                        path: vec![name],
                    });
                }
                Some(Value::String(_)) => {}
                _ => issues.push(plain("string")),
            },
            Field::OptionalNativeEnum(_) if value.is_none() => {}
            Field::NativeEnum(options) | Field::OptionalNativeEnum(options) => match value {
                Some(Value::String(text)) if options.contains(&text.as_str()) => {}
                Some(received_value @ (Value::String(_) | Value::Number(_))) => {
                    let shown = match received_value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    issues.push(Issue::InvalidEnumValue {
                        received: received_value.clone(),
                        code: "invalid_enum_value",
                        options: options.to_vec(),
                        path: vec![name],
                        message: format!(
                            "Invalid enum value. Expected {}, received '{shown}'",
                            join_values(options)
                        ),
                    });
                }
                _ => {
                    let expected = join_values(options);
                    issues.push(Issue::EnumInvalidType {
                        message: invalid_type_message(&expected, received),
                        expected,
                        received,
                        code: "invalid_type",
                        path: vec![name],
                    });
                }
            },
            Field::String | Field::Number => {}
        }
    }
    issues
}

/// zod 3.23.8's email check:
/// `/^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$/i`.
fn zod_email(text: &str) -> bool {
    if text.starts_with('.') || text.contains("..") {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_'+-.".contains(c))
        && local
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, hosts)) = labels.split_last() else {
        return false;
    };
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    let hosts_ok = !hosts.is_empty()
        && hosts.iter().all(|label| {
            label
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && tld_ok && hosts_ok
}

/// zod-express-middleware's `sendErrors`: 400 with `[{"type": …, "errors": ZodError}]`, where a
/// `ZodError` serialises as `{"issues": […], "name": "ZodError"}`.
fn validation_failure(kind: &'static str, issues: Vec<Issue>) -> Answer {
    #[derive(Serialize)]
    struct ZodError {
        issues: Vec<Issue>,
        name: &'static str,
    }
    #[derive(Serialize)]
    struct ErrorListItem {
        #[serde(rename = "type")]
        kind: &'static str,
        errors: ZodError,
    }
    Answer::json(
        StatusCode::BAD_REQUEST,
        &[ErrorListItem {
            kind,
            errors: ZodError {
                issues,
                name: "ZodError",
            },
        }],
    )
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// passport-jwt with `ExtractJwt.fromAuthHeaderAsBearerToken()`: `Ok` for a live token of this
/// stub, else passport's 401.
fn authenticate(req: &HttpRequest, shared: &Shared) -> Result<(), Answer> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut parts = header.split_whitespace();
    let (Some(scheme), Some(token)) = (parts.next(), parts.next()) else {
        return Err(Answer::unauthorized());
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Answer::unauthorized());
    }
    let now = Utc::now().timestamp();
    match shared.state().access_tokens.get(token) {
        Some(&expiry) if expiry > now => Ok(()),
        _ => Err(Answer::unauthorized()),
    }
}

/// A JWT-shaped access token like R1's (`{id, email, roles, iss, iat, exp}`, RS256 header); its
/// signature is random, since the stub checks tokens against the ones it issued.
fn issue_access_token(state: &mut State, email: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let iat = Utc::now().timestamp();
    let exp = iat + ACCESS_TOKEN_LIFETIME_SECONDS;
    let header = engine.encode(br#"{"alg":"RS256","typ":"JWT","kid":"r1-stub"}"#);
    let claims = json!({
        "id": WORKER_USER_ID,
        "email": email,
        "roles": ["ADMIN"],
        "iss": "http://r1-stub.invalid",
        "iat": iat,
        "exp": exp,
    });
    let payload = engine.encode(claims.to_string());
    let signature = engine.encode(rand::random::<[u8; 32]>());
    let token = format!("{header}.{payload}.{signature}");
    state.access_tokens.insert(token.clone(), exp);
    token
}

/// `POST /api/auth/login`.
fn login(shared: &Shared, body: &Value) -> Answer {
    let issues = check_object(
        body,
        &[("email", Field::Email), ("password", Field::String)],
    );
    if !issues.is_empty() {
        return validation_failure("Body", issues);
    }
    let email = body["email"].as_str().unwrap_or_default();
    let password = body["password"].as_str().unwrap_or_default();
    let options = &shared.options;
    if email != options.worker_email || password != options.worker_password {
        return Answer::error(StatusCode::UNAUTHORIZED, "Invalid credentials");
    }
    let mut state = shared.state();
    let token = issue_access_token(&mut state, email);
    state.next_refresh += 1;
    let id = state.next_refresh;
    let secret = hex_sha256(&rand::random::<[u8; 32]>());
    state.refresh_tokens.insert(
        id,
        RefreshToken {
            token: secret.clone(),
            expiry_time: Utc::now().timestamp() + REFRESH_TOKEN_LIFETIME_SECONDS,
        },
    );
    let contents = json!({"id": id, "token": secret}).to_string();
    let refresh_token = base64::engine::general_purpose::STANDARD.encode(contents);
    Answer::json(
        StatusCode::OK,
        &json!({"token": token, "refreshToken": refresh_token}),
    )
}

/// `POST /api/auth/token`: a new access token (R1 does not rotate refresh tokens).
fn refresh(shared: &Shared, body: &Value) -> Answer {
    let issues = check_object(body, &[("refreshToken", Field::String)]);
    if !issues.is_empty() {
        return validation_failure("Body", issues);
    }
    let encoded = body["refreshToken"].as_str().unwrap_or_default();
    // Node's Buffer.from(…, 'base64') ignores padding and whitespace.
    let cleaned: String = encoded
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned.as_bytes())
        .unwrap_or_default();
    let Ok(contents) = serde_json::from_slice::<Value>(&decoded) else {
        return Answer::error(StatusCode::UNAUTHORIZED, "Invalid JSON in refresh token");
    };
    if !check_object(
        &contents,
        &[("id", Field::Number), ("token", Field::String)],
    )
    .is_empty()
    {
        return Answer::error(StatusCode::UNAUTHORIZED, "Invalid refresh token format");
    }
    let mut state = shared.state();
    let known = contents["id"]
        .as_i64()
        .and_then(|id| state.refresh_tokens.get(&id))
        .filter(|row| Some(row.token.as_str()) == contents["token"].as_str())
        .map(|row| row.expiry_time);
    let Some(expiry_time) = known else {
        return Answer::error(StatusCode::UNAUTHORIZED, "Refresh token is invalid");
    };
    if expiry_time <= Utc::now().timestamp() {
        return Answer::error(StatusCode::UNAUTHORIZED, "Refresh token has expired");
    }
    let email = shared.options.worker_email.clone();
    let token = issue_access_token(&mut state, &email);
    Answer::json(StatusCode::OK, &json!({"token": token}))
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// The query as Express's `qs` parses it: a repeated key becomes an array.
fn query_object(req: &HttpRequest) -> Value {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut object = serde_json::Map::new();
    for (key, value) in pairs {
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => {
                let first = first.take();
                object.insert(key, json!([first, value]));
            }
            None => {
                object.insert(key, Value::String(value));
            }
        }
    }
    Value::Object(object)
}

/// `GET /api/jobs/poll?jobType=T`: up to 10 PENDING jobs (of that type), oldest first, that have
/// no assignment still running.
fn poll(req: &HttpRequest, shared: &Shared) -> Answer {
    let query = query_object(req);
    let issues = check_object(
        &query,
        &[("jobType", Field::OptionalNativeEnum(&R1_JOB_TYPES))],
    );
    if !issues.is_empty() {
        return validation_failure("Query", issues);
    }
    if let Err(refused) = authenticate(req, shared) {
        return refused;
    }
    let job_type = query["jobType"].as_str();
    let now = Utc::now();
    let state = shared.state();
    let jobs: Vec<&Job> = state
        .jobs
        .values()
        .filter(|job| job.status == "PENDING")
        .filter(|job| job_type.is_none_or(|t| job.job_type == t))
        .filter(|job| {
            !state
                .assignments
                .values()
                .any(|a| a.job_id == job.id && (a.completed_at.is_none() || a.expires > now))
        })
        .take(10)
        .collect();
    Answer::json(StatusCode::OK, &json!({ "jobs": jobs }))
}

/// `POST /api/jobs/assign {jobId, ecsTaskArn, ecsClusterArn}`.
fn assign(req: &HttpRequest, shared: &Shared, body: &Value) -> Answer {
    let issues = check_object(
        body,
        &[
            ("jobId", Field::Number),
            ("ecsTaskArn", Field::String),
            ("ecsClusterArn", Field::String),
        ],
    );
    if !issues.is_empty() {
        let answer = validation_failure("Body", issues);
        if let Some(Body::Json(text)) = &answer.body {
            let sent = serde_json::from_str(text).unwrap_or(Value::Null);
            shared.state().refused_assigns.push(sent);
        }
        return answer;
    }
    if let Err(refused) = authenticate(req, shared) {
        return refused;
    }
    // Prisma refuses an id that is no 32-bit integer; R1 does not catch that (500).
    let Some(job_id) = body["jobId"]
        .as_i64()
        .filter(|id| i32::try_from(*id).is_ok())
    else {
        return Answer::unexpected();
    };
    let task_arn = body["ecsTaskArn"].as_str().unwrap_or_default().to_owned();
    let cluster_arn = body["ecsClusterArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bucket = shared.options.bucket.clone();
    let mut state = shared.state();
    let Some(job) = state.jobs.get(&job_id) else {
        return Answer::error(StatusCode::NOT_FOUND, "Job not found");
    };
    if job.status != "PENDING" {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "Job is not available for assignment",
        );
    }
    let now = Utc::now();
    let storage_uri = format!(
        "s3://{bucket}/results/{}/{job_id}/{}",
        job.job_type.to_lowercase(),
        now.timestamp_millis()
    );
    let expires = now + chrono::Duration::minutes(ASSIGNMENT_MINUTES);
    state.next_assignment += 1;
    let assignment = Assignment {
        id: state.next_assignment,
        created_at: iso(now),
        updated_at: iso(now),
        job_id,
        ecs_task_arn: task_arn,
        ecs_cluster_arn: cluster_arn,
        expires_at: iso(expires),
        storage_scheme: "S3",
        storage_uri,
        heartbeat_at: None,
        completed_at: None,
        expires,
    };
    state.assignments.insert(assignment.id, assignment.clone());
    if let Some(job) = state.jobs.get_mut(&job_id) {
        job.status = "IN_PROGRESS".to_owned();
        job.updated_at = iso(now);
    }
    Answer::json(StatusCode::OK, &json!({ "assignment": assignment }))
}

/// `POST /api/jobs/assignments/:id/result {status, resultPayload?}`.
fn submit_result(req: &HttpRequest, shared: &Shared, id: &str, body: &Value) -> Answer {
    let issues = check_object(
        body,
        &[
            ("status", Field::NativeEnum(&R1_JOB_STATUSES)),
            ("resultPayload", Field::Any),
        ],
    );
    if !issues.is_empty() {
        return validation_failure("Body", issues);
    }
    if let Err(refused) = authenticate(req, shared) {
        return refused;
    }
    // parseInt(req.params.id); NaN or a number Prisma refuses ends in a 500.
    let Some(assignment_id) = js_parse_int(id).filter(|id| i32::try_from(*id).is_ok()) else {
        return Answer::unexpected();
    };
    let status = body["status"].as_str().unwrap_or_default().to_owned();
    let payload = body.get("resultPayload").cloned();
    let mut state = shared.state();
    let Some(assignment) = state.assignments.get(&assignment_id) else {
        return Answer::error(StatusCode::NOT_FOUND, "Assignment not found");
    };
    if assignment.completed_at.is_some() {
        return Answer::error(StatusCode::BAD_REQUEST, "Assignment already completed!");
    }
    let job_id = assignment.job_id;
    let job_type = state
        .jobs
        .get(&job_id)
        .map(|job| job.job_type.clone())
        .unwrap_or_default();
    if let Some(payload) = payload.as_ref().filter(|p| js_truthy(p))
        && !result_payload_valid(&job_type, payload)
    {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid result payload for job type {job_type}"),
        );
    }
    let now = iso(Utc::now());
    if let Some(assignment) = state.assignments.get_mut(&assignment_id) {
        assignment.completed_at = Some(now.clone());
        assignment.updated_at.clone_from(&now);
    }
    if let Some(job) = state.jobs.get_mut(&job_id) {
        job.status.clone_from(&status);
        job.updated_at = now;
    }
    state.results.push(R1Result {
        assignment_id,
        job_id,
        status,
        result_payload: payload,
    });
    Answer {
        status: StatusCode::OK,
        body: None,
    }
}

/// R1's result schemas (`jobTypeSchemas[type].result`, all `.strict()`).
fn result_payload_valid(job_type: &str, payload: &Value) -> bool {
    let Some(object) = payload.as_object() else {
        return false;
    };
    let only_string =
        |key: &str| object.len() == 1 && object.get(key).is_some_and(Value::is_string);
    match job_type {
        "TEST" => object.is_empty(),
        "SUITABILITY_ASSESSMENT" => only_string("geojson_path"),
        "REGIONAL_ASSESSMENT" => only_string("cog_path"),
        _ => true,
    }
}

/// JavaScript's truthiness of a JSON value.
fn js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JavaScript's `parseInt(text)` for decimal integers: leading whitespace, a sign, digits; `None`
/// for NaN.
fn js_parse_int(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let value: i64 = digits.parse().ok()?;
    Some(if negative { -value } else { value })
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// JavaScript's `Date.toISOString()`: `2025-01-02T03:04:05.678Z`.
fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `escape-html` package: `&`, `<`, `>`, `"` and `'`.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "worker@example.com";
    const PASSWORD: &str = "worker-password";

    async fn stub() -> R1Stub {
        R1Stub::start(R1StubOptions {
            worker_email: EMAIL.into(),
            worker_password: PASSWORD.into(),
            bucket: "results-bucket".into(),
        })
        .await
    }

    /// Status and body text of a `POST` with a JSON body.
    async fn post(stub: &R1Stub, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", stub.url))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("stub answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn token(stub: &R1Stub) -> String {
        let (status, body) = post(
            stub,
            "/api/auth/login",
            None,
            &json!({"email": EMAIL, "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        body["token"].as_str().expect("token").to_owned()
    }

    #[tokio::test]
    async fn a_missing_arn_gets_zods_exact_400_body_even_without_a_token() {
        let stub = stub().await;
        let job = stub.submit("TEST", json!({"id": 1}));
        let (status, body) = post(
            &stub,
            "/api/jobs/assign",
            None,
            &json!({"jobId": job, "ecsTaskArn": "arn:task"}),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"[{"type":"Body","errors":{"issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["ecsClusterArn"],"message":"Required"}],"name":"ZodError"}}]"#
        );
        assert_eq!(
            stub.refused_assigns(),
            vec![serde_json::from_str::<Value>(&body).expect("JSON")]
        );
        assert_eq!(stub.job_status(job).as_deref(), Some("PENDING"));
        // Valid but unauthenticated: passport's plain 401, after validation passed.
        let (status, body) = post(
            &stub,
            "/api/jobs/assign",
            None,
            &json!({"jobId": job, "ecsTaskArn": "a", "ecsClusterArn": "b"}),
        )
        .await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized"));
        assert!(stub.assignments().is_empty());
    }

    #[tokio::test]
    async fn every_failing_field_is_reported_in_schema_order() {
        let stub = stub().await;
        let token = token(&stub).await;
        let (status, body) = post(
            &stub,
            "/api/jobs/assign",
            Some(&token),
            &json!({"jobId": "1", "ecsTaskArn": null, "extra": true}),
        )
        .await;
        assert_eq!(status, 400);
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            body,
            json!([{"type": "Body", "errors": {"name": "ZodError", "issues": [
                {"code": "invalid_type", "expected": "number", "received": "string",
                 "path": ["jobId"], "message": "Expected number, received string"},
                {"code": "invalid_type", "expected": "string", "received": "null",
                 "path": ["ecsTaskArn"], "message": "Expected string, received null"},
                {"code": "invalid_type", "expected": "string", "received": "undefined",
                 "path": ["ecsClusterArn"], "message": "Required"},
            ]}}])
        );
        // A body that is not JSON counts as {} (express.json skips it).
        let response = reqwest::Client::new()
            .post(format!("{}/api/jobs/assign", stub.url))
            .body("jobId=1")
            .send()
            .await
            .expect("stub answers");
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body[0]["errors"]["issues"].as_array().map(Vec::len),
            Some(3)
        );
    }

    #[tokio::test]
    async fn assign_and_result_follow_r1s_rules() {
        let stub = stub().await;
        let token = token(&stub).await;
        let job = stub.submit("TEST", json!({"id": 1}));
        let take = json!({"jobId": job, "ecsTaskArn": "arn:task", "ecsClusterArn": "arn:cluster"});
        let (status, body) = post(&stub, "/api/jobs/assign", Some(&token), &take).await;
        assert_eq!(status, 200, "{body}");
        let assignment: Value = serde_json::from_str(&body).expect("JSON");
        let assignment = &assignment["assignment"];
        assert_eq!(assignment["job_id"], json!(job));
        assert_eq!(assignment["storage_scheme"], json!("S3"));
        let uri = assignment["storage_uri"].as_str().expect("uri");
        assert!(
            uri.starts_with(&format!("s3://results-bucket/results/test/{job}/")),
            "{uri}"
        );
        assert_eq!(assignment["heartbeat_at"], Value::Null);
        assert_eq!(stub.job_status(job).as_deref(), Some("IN_PROGRESS"));

        let (status, body) = post(&stub, "/api/jobs/assign", Some(&token), &take).await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"{"status":400,"message":"Job is not available for assignment"}"#
            )
        );
        let missing = json!({"jobId": 999, "ecsTaskArn": "a", "ecsClusterArn": "b"});
        let (status, body) = post(&stub, "/api/jobs/assign", Some(&token), &missing).await;
        assert_eq!(
            (status, body.as_str()),
            (404, r#"{"status":404,"message":"Job not found"}"#)
        );

        let id = assignment["id"].as_i64().expect("id");
        let result = format!("/api/jobs/assignments/{id}/result");
        let (status, body) = post(&stub, &result, Some(&token), &json!({"status": "DONE"})).await;
        assert_eq!(status, 400);
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            body[0]["errors"]["issues"][0]["code"],
            json!("invalid_enum_value")
        );
        let (status, body) = post(
            &stub,
            &result,
            Some(&token),
            &json!({"status": "FAILED", "resultPayload": {"error": "boom"}}),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"{"status":400,"message":"Invalid result payload for job type TEST"}"#
            )
        );
        let done = json!({"status": "SUCCEEDED", "resultPayload": {}});
        let (status, body) = post(&stub, &result, Some(&token), &done).await;
        assert_eq!((status, body.as_str()), (200, ""));
        let (status, body) = post(&stub, &result, Some(&token), &done).await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"{"status":400,"message":"Assignment already completed!"}"#
            )
        );
        assert_eq!(stub.job_status(job).as_deref(), Some("SUCCEEDED"));
        assert_eq!(stub.results().len(), 1);
    }

    #[tokio::test]
    async fn routes_r1_lacks_get_expresss_404_page() {
        let stub = stub().await;
        for path in [
            "/api/jobs/claim",
            "/api/jobs/assignments/1/heartbeat",
            "/api/jobs/assignments/1/upload-urls",
        ] {
            let (status, body) = post(&stub, path, None, &json!({})).await;
            assert_eq!(status, 404, "{path}");
            assert!(
                body.contains(&format!("<pre>Cannot POST {path}</pre>")),
                "{path}: {body}"
            );
        }
    }

    #[tokio::test]
    async fn login_refresh_and_poll() {
        let stub = stub().await;
        let (status, body) = post(
            &stub,
            "/api/auth/login",
            None,
            &json!({"email": EMAIL, "password": "wrong"}),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (401, r#"{"status":401,"message":"Invalid credentials"}"#)
        );
        let (status, body) = post(
            &stub,
            "/api/auth/login",
            None,
            &json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains(r#""message":"Invalid email""#), "{body}");

        let (_, body) = post(
            &stub,
            "/api/auth/login",
            None,
            &json!({"email": EMAIL, "password": PASSWORD}),
        )
        .await;
        let tokens: Value = serde_json::from_str(&body).expect("JSON");
        let access = tokens["token"].as_str().expect("token").to_owned();
        let job = stub.submit("TEST", json!({"id": 4}));
        stub.submit("REGIONAL_ASSESSMENT", json!({}));
        let client = reqwest::Client::new();
        let poll = |token: String| {
            client
                .get(format!("{}/api/jobs/poll?jobType=TEST", stub.url))
                .bearer_auth(token)
                .send()
        };
        let polled: Value = poll(access.clone())
            .await
            .expect("answer")
            .json()
            .await
            .expect("JSON");
        let jobs = polled["jobs"].as_array().expect("jobs");
        assert_eq!(jobs.len(), 1, "{polled}");
        assert_eq!(jobs[0]["id"], json!(job));
        assert_eq!(jobs[0]["input_payload"], json!({"id": 4}));
        assert_eq!(jobs[0]["status"], json!("PENDING"));

        stub.expire_access_tokens();
        assert_eq!(poll(access).await.expect("answer").status().as_u16(), 401);
        let (status, body) = post(
            &stub,
            "/api/auth/token",
            None,
            &json!({"refreshToken": tokens["refreshToken"]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let fresh: Value = serde_json::from_str(&body).expect("JSON");
        let fresh = fresh["token"].as_str().expect("token").to_owned();
        assert_eq!(poll(fresh).await.expect("answer").status().as_u16(), 200);

        // An unknown job type fails the query's validation, before authentication.
        let response = client
            .get(format!("{}/api/jobs/poll?jobType=OTHER", stub.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body[0]["type"], json!("Query"));
        assert_eq!(
            body[0]["errors"]["issues"][0]["message"],
            json!(
                "Invalid enum value. Expected 'TEST' | 'SUITABILITY_ASSESSMENT' | \
                 'REGIONAL_ASSESSMENT', received 'OTHER'"
            )
        );
    }

    #[test]
    fn zod_email_matches_zods_regex() {
        for good in ["worker@example.com", "a.b+c@x-y.example.org", "A_1@EX.IO"] {
            assert!(zod_email(good), "{good}");
        }
        for bad in [
            "not-an-email",
            ".a@example.com",
            "a..b@example.com",
            "a.@example.com",
            "a@example",
            "a@-x.com",
            "a@x.c",
            "a@x.c0m",
        ] {
            assert!(!zod_email(bad), "{bad}");
        }
    }

    #[test]
    fn js_semantics() {
        assert_eq!(js_parse_int(" 12abc"), Some(12));
        assert_eq!(js_parse_int("abc"), None);
        assert!(js_truthy(&json!({})));
        assert!(!js_truthy(&json!(0)));
        assert!(!js_truthy(&json!("")));
    }
}
