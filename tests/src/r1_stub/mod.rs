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

mod auth;
mod http;
mod jobs;
mod state;
#[cfg(test)]
mod tests;
mod zod;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;
use chrono::Utc;
use serde_json::Value;

use self::http::dispatch;
use self::state::{Job, Shared, State, hex_sha256, iso};

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
