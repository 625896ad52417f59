//! Jobs (contract §7), worker side: R1's `poll` → `assign` → `result`, the atomic long-polling
//! `claim`, and heartbeats. Only WORKER and ADMIN accounts may use them
//! (`reefguide_domain::access::may_act_as_worker`): their scope answers anyone else 403 before
//! the body is read, and the job service applies the same rule.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, get, post, web};
use reefguide_domain::job::worker::InvalidClaimTypes;
use reefguide_domain::job::{
    AssignmentId, EcsArn, JobId, Outcome, ProgressMessage, ProgressPercent,
};
use reefguide_domain::storage::RelativePath;
use reefguide_ports::services::{Progress, WorkerArns};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::dto::{AssignmentDto, JobDto};
use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::{NotWorker, Unauthenticated};
use crate::routes::{Guard, Registry, RouteSet};
use crate::wire::{MessageResponse, Validation};

/// The worker routes (inside the `/api` scope), each in a scope that authenticates and
/// requires the worker role. They are registered before the `/jobs` user scope so that
/// `/jobs/poll` is never read as a job id. Each path is a scope of its own rather than one
/// `/jobs` scope, which would claim every `/jobs/…` path; so a single route's handler has an
/// empty path.
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .scope_of("/jobs/poll", Guard::Worker, poll_jobs)
            .scope_of("/jobs/assign", Guard::Worker, assign_job)
            .scope_of("/jobs/claim", Guard::Worker, claim_job)
            .scope::<Assignment>("/jobs/assignments/{id}", Guard::Worker);
    }
}

/// The routes of one assignment.
struct Assignment;

impl RouteSet for Assignment {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(heartbeat)
            .handler(submit_result)
            .handler(upload_urls);
    }
}

/// Poll parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct PollParams {
    /// Only jobs of this type.
    pub job_type: Option<String>,
}

/// `{"jobs": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PollResponse {
    /// Up to 10 claimable jobs, oldest first.
    pub jobs: Vec<JobDto>,
}

/// Up to 10 claimable jobs, oldest first (R1's poll; claim them with `assign`).
///
/// So that workers polling together do not all race for the same job, the first job of an
/// answer is offered to its poller: for half a second, or until someone assigns it, other polls
/// leave it out (unless nothing else is waiting). Jobs being assigned right now are left out too.
/// An offer is only a hint: any worker may still assign the job, and exactly one wins.
#[utoipa::path(tag = "workers", security(("bearerAuth" = [])),
    params(PollParams),
    responses(
        (status = 200, description = "Pending jobs", body = PollResponse),
        (status = 400, description = "Unknown job type", body = ErrorBody),
        Unauthenticated,
        NotWorker))]
#[get("")]
pub async fn poll_jobs(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<PollParams>,
) -> Result<web::Json<PollResponse>, ApiError> {
    let jobs = state.jobs.poll(&actor, params.job_type.as_deref()).await?;
    Ok(web::Json(PollResponse {
        jobs: jobs.iter().map(JobDto::bare).collect(),
    }))
}

/// An R1 assignment request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignRequest {
    /// The job to take.
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    #[serde(deserialize_with = "crate::wire::whole_number")]
    pub job_id: i64,
    /// The worker's ECS task ARN.
    #[schema(max_length = 2048)]
    pub ecs_task_arn: Option<String>,
    /// The worker's ECS cluster ARN.
    #[schema(max_length = 2048)]
    pub ecs_cluster_arn: Option<String>,
}

/// `{"assignment": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentResponse {
    /// The assignment holding the job's lease.
    pub assignment: AssignmentDto,
}

/// The ARNs a worker names itself by; an empty one counts as none (as R1 sends them).
fn worker_arns(
    validation: &mut Validation,
    task: Option<String>,
    cluster: Option<String>,
) -> Option<WorkerArns> {
    let arn = |value: Option<String>| {
        value
            .filter(|arn| !arn.is_empty())
            .map(EcsArn::new)
            .transpose()
    };
    let task = validation.field("ecsTaskArn", arn(task));
    let cluster = validation.field("ecsClusterArn", arn(cluster));
    Some(WorkerArns {
        task: task?,
        cluster: cluster?,
    })
}

/// Takes one job by id (R1's assign). Atomic: of racing workers exactly one gets 200, the others
/// 400 `Job is not available for assignment`.
#[utoipa::path(tag = "workers", security(("bearerAuth" = [])),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "Assigned; the job is IN_PROGRESS", body = AssignmentResponse),
        (status = 400, description = "Not available for assignment (another worker won, or it \
            is not pending), or a bad body", body = ErrorBody),
        Unauthenticated,
        NotWorker,
        (status = 404, description = "No such job", body = ErrorBody)))]
#[post("")]
pub async fn assign_job(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<AssignRequest>,
) -> Result<web::Json<AssignmentResponse>, ApiError> {
    let AssignRequest {
        job_id,
        ecs_task_arn,
        ecs_cluster_arn,
    } = body.into_inner();
    let mut validation = Validation::default();
    let job_id = validation.field("jobId", JobId::new(job_id));
    let arns = worker_arns(&mut validation, ecs_task_arn, ecs_cluster_arn);
    let (job_id, arns) = validation.finish((job_id, arns))?;
    let claimed = state.jobs.assign(&actor, job_id, arns).await?;
    crate::metering::record_claim(&claimed);
    Ok(web::Json(AssignmentResponse {
        assignment: AssignmentDto::bare(&claimed.assignment),
    }))
}

/// A claim request; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRequestBody {
    /// Only jobs of these types (default: any type).
    #[schema(max_items = 64)]
    pub job_types: Option<Vec<String>>,
    /// The worker's ECS task ARN.
    #[schema(max_length = 2048)]
    pub ecs_task_arn: Option<String>,
    /// The worker's ECS cluster ARN.
    #[schema(max_length = 2048)]
    pub ecs_cluster_arn: Option<String>,
    /// How long to wait for a job when none is pending, in seconds (default 0): at most 30, or
    /// the deployment's `claim_max_wait_seconds` when lower.
    #[schema(minimum = 0, maximum = 30)]
    pub wait_seconds: Option<f64>,
}

/// `{"job", "assignment"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResponse {
    /// The job, now IN_PROGRESS.
    pub job: JobDto,
    /// Its new assignment (lease, storage location).
    pub assignment: AssignmentDto,
}

/// Claims the oldest pending job atomically, waiting up to `waitSeconds` for one to be submitted
/// (long poll): answers as soon as a job arrives.
#[utoipa::path(tag = "workers", security(("bearerAuth" = [])),
    request_body = ClaimRequestBody,
    responses(
        (status = 200, description = "Claimed", body = ClaimResponse),
        (status = 204, description = "No job arrived within waitSeconds"),
        (status = 400, description = "Unknown job type or waitSeconds out of range", body = ErrorBody),
        Unauthenticated,
        NotWorker))]
#[post("")]
pub async fn claim_job(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<ClaimRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let ClaimRequestBody {
        job_types,
        ecs_task_arn,
        ecs_cluster_arn,
        wait_seconds,
    } = body.into_inner();
    let mut validation = Validation::default();
    let job_types = validation.field(
        "jobTypes",
        job_types
            .map(|names| {
                state.jobs.claim_types(&names).map_err(|e| match e {
                    InvalidClaimTypes::Unknown(unknown) => {
                        ApiError::unknown_job_type(&unknown, "jobTypes").to_string()
                    }
                    InvalidClaimTypes::TooMany { .. } => e.to_string(),
                })
            })
            .transpose(),
    );
    let max_wait = state.request.claim_max_wait;
    let wait = validation.field(
        "waitSeconds",
        match wait_seconds {
            None => Ok(Duration::ZERO),
            Some(seconds) if (0.0..=max_wait.as_secs_f64()).contains(&seconds) => {
                Ok(Duration::from_secs_f64(seconds))
            }
            Some(_) => Err(format!(
                "must be a number of seconds from 0 to {}",
                max_wait.as_secs()
            )),
        },
    );
    let arns = worker_arns(&mut validation, ecs_task_arn, ecs_cluster_arn);
    let (job_types, wait, arns) = validation.finish((job_types, wait, arns))?;
    Ok(
        match state.jobs.claim(&actor, job_types, arns, wait).await? {
            Some(claimed) => {
                crate::metering::record_claim(&claimed);
                HttpResponse::Ok().json(ClaimResponse {
                    job: JobDto::bare(&claimed.job),
                    assignment: AssignmentDto::bare(&claimed.assignment),
                })
            }
            None => {
                crate::metering::record_empty_claim();
                HttpResponse::NoContent().finish()
            }
        },
    )
}

/// A heartbeat, optionally with progress.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct HeartbeatRequest {
    /// Percent complete, 0..100.
    #[schema(minimum = 0, maximum = 100)]
    pub progress: Option<f64>,
    /// A short status message (at most 1000 characters).
    #[schema(max_length = 1000)]
    pub message: Option<String>,
}

/// `{"assignment", "cancelled"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatResponse {
    /// The assignment with its extended lease.
    pub assignment: AssignmentDto,
    /// The job was cancelled: stop working on it and report nothing.
    pub cancelled: bool,
}

/// Extends the lease of a running assignment; tells the worker when the job was cancelled.
#[utoipa::path(tag = "workers",
    security(("bearerAuth" = [])), params(("id" = i32, Path, minimum = 1, description = "Assignment id")),
    request_body(content = Option<HeartbeatRequest>),
    responses(
        (status = 200, description = "Lease extended (or `cancelled: true`)", body = HeartbeatResponse),
        (status = 400, description = "Invalid id, progress or message", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not a WORKER or ADMIN, or the assignment belongs to \
            another worker account", body = ErrorBody),
        (status = 404, description = "No such assignment", body = ErrorBody),
        (status = 409, description = "The lease was lost (expired, re-queued, or the job ended)",
            body = ErrorBody)))]
#[post("/heartbeat")]
pub async fn heartbeat(
    CurrentUser(actor): CurrentUser,
    PathId(id): PathId<AssignmentId>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<web::Json<HeartbeatResponse>, ApiError> {
    let HeartbeatRequest { progress, message } = optional_json(&body)?;
    let mut validation = Validation::default();
    let percent = validation.field("progress", progress.map(ProgressPercent::new).transpose());
    let message = validation.field("message", message.map(ProgressMessage::new).transpose());
    let (percent, message) = validation.finish((percent, message))?;
    let reply = state
        .jobs
        .heartbeat(&actor, id, Progress { percent, message })
        .await?;
    Ok(web::Json(HeartbeatResponse {
        assignment: AssignmentDto::bare(&reply.assignment),
        cancelled: reply.cancelled,
    }))
}

/// An optional JSON body: empty or `null` means the defaults; anything else must parse.
fn optional_json<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            if e.is_data() {
                ApiError::bad_request("invalid_body", format!("Invalid request body: {e}"))
            } else {
                ApiError::bad_request("malformed_json", format!("Malformed JSON: {e}"))
            }
        })
}

/// A worker's result.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultRequest {
    /// `SUCCEEDED` or `FAILED`.
    #[schema(example = "SUCCEEDED", pattern = "^(SUCCEEDED|FAILED)$")]
    pub status: String,
    /// The result payload; for SUCCEEDED it must match the type's result schema.
    #[schema(value_type = Option<Value>)]
    pub result_payload: Option<Value>,
}

/// Reports the result of an assignment: the job ends SUCCEEDED or FAILED.
#[utoipa::path(tag = "workers",
    security(("bearerAuth" = [])), params(("id" = i32, Path, minimum = 1, description = "Assignment id")),
    request_body = ResultRequest,
    responses(
        (status = 200, description = "Recorded", body = MessageResponse),
        (status = 400, description = "Status other than SUCCEEDED or FAILED, a result failing \
            the type's result schema, or an assignment already completed", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not a WORKER or ADMIN, or the assignment belongs to \
            another worker account", body = ErrorBody),
        (status = 404, description = "No such assignment", body = ErrorBody),
        (status = 409, description = "The lease was lost (expired, re-queued or cancelled); \
            nothing changed", body = ErrorBody)))]
#[post("/result")]
pub async fn submit_result(
    CurrentUser(actor): CurrentUser,
    PathId(id): PathId<AssignmentId>,
    state: web::Data<AppState>,
    body: web::Json<ResultRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let ResultRequest {
        status,
        result_payload,
    } = body.into_inner();
    let outcome = match status.as_str() {
        "SUCCEEDED" => Outcome::Succeeded,
        "FAILED" => Outcome::Failed,
        _ => {
            return Err(ApiError::invalid_field(
                "status",
                "must be SUCCEEDED or FAILED",
            ));
        }
    };
    let result_payload = result_payload.filter(|payload| !payload.is_null());
    state
        .jobs
        .report(&actor, id, outcome, result_payload)
        .await?;
    Ok(web::Json(MessageResponse::new("Result recorded")))
}

/// Files a worker wants to upload.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UploadUrlsRequest {
    /// Paths relative to the assignment's storage prefix (no `..`, no leading `/`).
    #[schema(example = json!(["result.json", "maps/suitability.tif"]), min_items = 1, max_items = 100)]
    pub files: Vec<String>,
}

/// Presigned upload URLs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadUrlsResponse {
    /// Relative path → presigned PUT URL (send the file's bytes as the body).
    pub files: BTreeMap<String, String>,
    /// How long the URLs stay valid, in seconds.
    pub expiry_seconds: u32,
}

/// Presigned PUT URLs below the assignment's storage prefix, for workers without direct access
/// to the store. Only the account holding the assignment's lease (or ADMIN) may ask.
#[utoipa::path(tag = "workers",
    security(("bearerAuth" = [])), params(("id" = i32, Path, minimum = 1, description = "Assignment id")),
    request_body = UploadUrlsRequest,
    responses(
        (status = 200, description = "One URL per distinct file", body = UploadUrlsResponse),
        (status = 400, description = "Invalid or unsafe paths, no files or too many, or an \
            assignment already completed", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not a WORKER or ADMIN, or the assignment belongs to \
            another worker account", body = ErrorBody),
        (status = 404, description = "No such assignment", body = ErrorBody),
        (status = 409, description = "The lease was lost (expired, re-queued or cancelled)",
            body = ErrorBody),
        (status = 502, description = "The result store failed", body = ErrorBody)))]
#[post("/upload-urls")]
pub async fn upload_urls(
    CurrentUser(actor): CurrentUser,
    PathId(id): PathId<AssignmentId>,
    state: web::Data<AppState>,
    body: web::Json<UploadUrlsRequest>,
) -> Result<web::Json<UploadUrlsResponse>, ApiError> {
    // The number of files is the service's rule (UploadUrlError::TooManyFiles); the JSON body
    // limit already bounds how many paths are parsed here.
    let files = body.into_inner().files;
    let mut validation = Validation::default();
    let paths: Vec<Option<RelativePath>> = files
        .iter()
        .enumerate()
        .map(|(index, raw)| validation.field(&format!("files[{index}]"), RelativePath::parse(raw)))
        .collect();
    let paths = validation.finish((paths.into_iter().collect::<Option<Vec<_>>>(),))?;
    let urls = state.results.upload_urls(&actor, id, paths).await?;
    Ok(web::Json(UploadUrlsResponse {
        files: urls
            .files
            .into_iter()
            .map(|(path, url)| (path.to_string(), url))
            .collect(),
        expiry_seconds: urls.expiry.seconds(),
    }))
}
