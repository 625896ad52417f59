//! Jobs (contract §7), user side: submit (with the cache), list, read, cancel, download, the job
//! types and the request history. The worker side is in [`worker`].

pub mod dto;
pub mod worker;

use std::collections::BTreeMap;

use actix_web::{get, post, routes, web};
use reefguide_domain::job::{JobId, JobStatus};
use reefguide_domain::storage::{FilterPrefix, InvalidExpiry, PresignExpiry};
use reefguide_ports::repositories::JobPage;
use reefguide_ports::services::{DownloadRequest, JobListing};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use self::dto::{JobDto, JobRequestDto};
use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::{NotAdmin, Unauthenticated};
use crate::routes::{Guard, Registry, RouteSet};
use crate::wire::Validation;

/// Default and largest page sizes of job listings.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;
/// Default and largest number of requests listed.
const DEFAULT_REQUESTS: u64 = 100;
const MAX_REQUESTS: u64 = 1000;

/// The user routes (inside the `/api/jobs` scope, which authenticates and applies the
/// feature gate). The fixed paths come before `/{id}` so that `types` or `mine` is never read as
/// an id. `invalidate-cache` (POST only) is a scope of its own: as a bare route, a GET to it
/// would miss the route's method guard and reach `GET /{id}` (400, invalid id) instead of getting
/// a 405.
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_jobs)
            .handler(submit_job)
            .handler(list_my_jobs)
            .handler(job_types)
            .handler(job_requests)
            .scope_of("/invalidate-cache", Guard::Open, invalidate_cache)
            .handler(get_job)
            .handler(cancel_job)
            .handler(download_job);
    }
}

/// A job submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitJobRequest {
    /// The job type name (see `GET /api/jobs/types`).
    #[serde(rename = "type")]
    #[schema(example = "TEST")]
    pub job_type: String,
    /// The input payload, validated strictly against the type's input schema.
    #[schema(value_type = Object, example = json!({"id": 1}))]
    #[serde(default)]
    pub input_payload: Value,
    /// The data collection a workflow (Airflow) job runs on: required for those types, refused
    /// for the others (see `GET /api/jobs/types`, `engine`).
    #[schema(example = json!(null))]
    #[serde(default)]
    pub collection: Option<String>,
}

/// The outcome of a submission.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitJobResponse {
    /// The job serving the request.
    pub job_id: i32,
    /// Whether an existing job was reused.
    pub cached: bool,
    /// The recorded request.
    pub request_id: i32,
}

/// Submits a job; an identical earlier job that is pending, running or succeeded (with a valid
/// result) is reused when the type caches.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    request_body = SubmitJobRequest,
    responses(
        (status = 200, description = "Submitted (or served from the cache)", body = SubmitJobResponse),
        (status = 400, description = "Unknown type (`unknown_job_type`), a payload failing the \
            type's schema (`validation_error`, with details); for workflow types a missing \
            (`missing_collection`) or unknown (`unknown_collection`) collection, a collection that \
            does not list the type (`workflow_not_in_collection`), a payload setting a parameter \
            the server gives the workflow (`reserved_parameter`); a collection named for another \
            type (`collection_not_applicable`)", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not submit this type", body = ErrorBody)))]
#[routes]
#[post("")]
#[post("/")]
pub async fn submit_job(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<SubmitJobRequest>,
) -> Result<web::Json<SubmitJobResponse>, ApiError> {
    let SubmitJobRequest {
        job_type,
        input_payload,
        collection,
    } = body.into_inner();
    let submission = state
        .jobs
        .submit(&actor, &job_type, input_payload, collection.as_deref())
        .await?;
    Ok(web::Json(SubmitJobResponse {
        job_id: submission.job_id.get(),
        cached: submission.cached,
        request_id: submission.request_id.get(),
    }))
}

/// Listing parameters (all optional).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListJobsParams {
    /// Only jobs with this status.
    #[param(value_type = Option<dto::JobStatusName>, example = "PENDING")]
    pub status: Option<String>,
    /// Only jobs of this type (one of the deployment's types; another is a 400).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// Page size, 1..200 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub cursor: Option<String>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobListResponse {
    /// The jobs, each with its assignments and results.
    pub jobs: Vec<JobDto>,
    /// Jobs matching the filters in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn parse_listing(state: &AppState, params: &ListJobsParams) -> Result<JobListing, ApiError> {
    let job_type = params
        .job_type
        .as_deref()
        .map(|name| state.jobs.job_type(name))
        .transpose()
        .map_err(|unknown| ApiError::unknown_job_type(&unknown, "type"))?;
    let mut validation = Validation::default();
    let status = validation.field(
        "status",
        params
            .status
            .as_deref()
            .map(str::parse::<JobStatus>)
            .transpose(),
    );
    let limit = validation.field("limit", parse_limit(params.limit.as_deref()));
    let before = validation.field(
        "cursor",
        params
            .cursor
            .as_deref()
            .map(|raw| {
                crate::wire::query_integer(raw)
                    .and_then(|id| JobId::new(id).ok())
                    .ok_or("must be a cursor returned by a previous page")
            })
            .transpose(),
    );
    let (status, limit, before) = validation.finish((status, limit, before))?;
    Ok(JobListing {
        status,
        job_type,
        limit,
        before,
        offset: 0,
    })
}

fn parse_limit(raw: Option<&str>) -> Result<u64, String> {
    raw.map_or(Ok(DEFAULT_LIMIT), |raw| {
        crate::wire::query_integer_in(raw, 1..=MAX_LIMIT)
            .ok_or_else(|| format!("must be an integer from 1 to {MAX_LIMIT}"))
    })
}

fn list_response(page: JobPage) -> JobListResponse {
    JobListResponse {
        jobs: page.jobs.iter().map(JobDto::detailed).collect(),
        total: page.total,
        next_cursor: page.next.map(|id| id.to_string()),
    }
}

/// The caller's jobs and the jobs it requested through the cache (every job for ADMIN).
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    params(ListJobsParams),
    responses(
        (status = 200, description = "A page of jobs, newest first", body = JobListResponse),
        (status = 400, description = "Unknown type (`unknown_job_type`, naming the known \
            types), or a bad status, limit or cursor", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use jobs", body = ErrorBody)))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list_jobs(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<ListJobsParams>,
) -> Result<web::Json<JobListResponse>, ApiError> {
    let listing = parse_listing(&state, &params)?;
    let page = state.jobs.list_visible(&actor, listing).await?;
    Ok(web::Json(list_response(page)))
}

/// The caller's own jobs.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    params(ListJobsParams),
    responses(
        (status = 200, description = "A page of the caller's jobs, newest first", body = JobListResponse),
        (status = 400, description = "Unknown type (`unknown_job_type`, naming the known \
            types), or a bad status, limit or cursor", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use jobs", body = ErrorBody)))]
#[get("/mine")]
pub async fn list_my_jobs(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<ListJobsParams>,
) -> Result<web::Json<JobListResponse>, ApiError> {
    let listing = parse_listing(&state, &params)?;
    let page = state.jobs.list_own(&actor, listing).await?;
    Ok(web::Json(list_response(page)))
}

/// A job type the caller may submit.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobTypeDto {
    /// The name to submit.
    #[schema(example = "TEST")]
    pub name: String,
    /// JSON Schema of `inputPayload`.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// JSON Schema of `resultPayload` (`null`: anything).
    #[schema(value_type = Option<Object>)]
    pub result_schema: Option<Value>,
    /// What it does.
    pub description: String,
    /// Lease length in seconds.
    pub lease_seconds: i64,
    /// Attempts before TIMED_OUT.
    pub max_attempts: u32,
    /// Whether identical submissions reuse a job.
    pub cached: bool,
    /// What runs it: `worker` (claimed by workers) or `airflow` (a DAG run on a data
    /// collection: submit it with `collection`).
    #[schema(example = "worker")]
    pub engine: &'static str,
    /// The Airflow DAG of an `airflow` type (named `dag_id` as in labcas-contract §2).
    #[schema(example = json!(null))]
    #[serde(rename = "dag_id")]
    pub dag_id: Option<String>,
}

/// `{"jobTypes": […]}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobTypesResponse {
    /// The types the caller may submit, by name.
    pub job_types: Vec<JobTypeDto>,
}

/// The job types the caller may submit, with their schemas.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The types the caller may submit", body = JobTypesResponse),
        Unauthenticated,
        (status = 403, description = "The caller may not use jobs", body = ErrorBody)))]
#[get("/types")]
pub async fn job_types(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> web::Json<JobTypesResponse> {
    let job_types = state
        .jobs
        .submittable_types(&actor)
        .map(|kind| {
            let spec = kind.spec();
            JobTypeDto {
                name: spec.name.as_str().to_owned(),
                input_schema: spec.input_schema.clone(),
                result_schema: spec.result_schema.clone(),
                description: spec.description.clone(),
                lease_seconds: spec.policy.lease().num_seconds(),
                max_attempts: spec.policy.max_attempts(),
                cached: spec.cache,
                engine: spec.engine.name(),
                dag_id: spec.engine.dag_id().map(ToString::to_string),
            }
        })
        .collect();
    web::Json(JobTypesResponse { job_types })
}

/// Request-history parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsParams {
    /// How many, 1..1000 (default 100), newest first.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// `{"jobRequests": […]}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobRequestsResponse {
    /// The requests, newest first.
    pub job_requests: Vec<JobRequestDto>,
}

/// The caller's submissions (everyone's for ADMIN), cached or not.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    params(RequestsParams),
    responses(
        (status = 200, description = "Requests, newest first", body = JobRequestsResponse),
        (status = 400, description = "Bad limit", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use jobs", body = ErrorBody)))]
#[get("/requests")]
pub async fn job_requests(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<RequestsParams>,
) -> Result<web::Json<JobRequestsResponse>, ApiError> {
    let limit = params
        .limit
        .as_deref()
        .map_or(Ok(DEFAULT_REQUESTS), |raw| {
            crate::wire::query_integer_in(raw, 1..=MAX_REQUESTS).ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!("must be an integer from 1 to {MAX_REQUESTS}"),
                )
            })
        })?;
    let requests = state.jobs.requests(&actor, limit).await?;
    Ok(web::Json(JobRequestsResponse {
        job_requests: requests.iter().map(JobRequestDto::from).collect(),
    }))
}

/// `{"job": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    /// The job with its assignments and results.
    pub job: JobDto,
}

/// One job with its assignments and results: its owner, a user who requested it through the
/// cache, or ADMIN.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the owner, a requester or ADMIN", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
#[get("/{id}")]
pub async fn get_job(
    PathId(id): PathId<JobId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<JobResponse>, ApiError> {
    let details = state.jobs.get(&actor, id).await?;
    Ok(web::Json(JobResponse {
        job: JobDto::detailed(&details),
    }))
}

/// Cancels a pending or running job (its owner or ADMIN). A running job's worker is told to stop
/// at its next heartbeat and its result is refused.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Job id")),
    responses(
        (status = 200, description = "The job, now CANCELLED", body = JobResponse),
        (status = 400, description = "Invalid id, or the job already ended \
            (`job_not_cancellable`)", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the owner and not ADMIN", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
#[post("/{id}/cancel")]
pub async fn cancel_job(
    PathId(id): PathId<JobId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<JobResponse>, ApiError> {
    let details = state.jobs.cancel(&actor, id).await?;
    Ok(web::Json(JobResponse {
        job: JobDto::detailed(&details),
    }))
}

/// Which type's cache to invalidate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidateCacheRequest {
    /// The job type name.
    #[schema(example = "SUITABILITY_ASSESSMENT")]
    pub job_type: String,
}

/// What was invalidated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invalidated {
    /// The job type.
    pub job_type: String,
    /// Results no longer reused.
    pub affected_results: u64,
}

/// `{"message", "invalidated"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidateCacheResponse {
    /// A human sentence.
    pub message: String,
    /// What changed.
    pub invalidated: Invalidated,
}

/// Stops reusing every stored result of a job type (ADMIN): the next identical submission runs
/// again.
#[utoipa::path(tag = "jobs",
    security(("bearerAuth" = [])), request_body = InvalidateCacheRequest,
    responses(
        (status = 200, description = "Invalidated", body = InvalidateCacheResponse),
        (status = 400, description = "Unknown job type", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[post("")]
pub async fn invalidate_cache(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<InvalidateCacheRequest>,
) -> Result<web::Json<InvalidateCacheResponse>, ApiError> {
    let affected_results = state.jobs.invalidate_cache(&actor, &body.job_type).await?;
    Ok(web::Json(InvalidateCacheResponse {
        message: format!(
            "Invalidated {affected_results} cached result(s) of job type {}",
            body.job_type
        ),
        invalidated: Invalidated {
            job_type: body.job_type.clone(),
            affected_results,
        },
    }))
}

/// Download parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DownloadParams {
    /// Lifetime of the URLs in seconds, 1 to 604800 (seven days); default 3600.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 604_800)]
    pub expiry_seconds: Option<String>,
    /// Only files whose path (relative to the result folder) starts with this.
    pub filter_prefix: Option<String>,
}

/// The job a download is of.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadJob {
    /// Id.
    pub id: i32,
    /// Job type name.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Status (always SUCCEEDED).
    pub status: dto::JobStatusName,
}

/// A succeeded job's files.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadResponse {
    /// The job.
    pub job: DownloadJob,
    /// Path relative to the result folder → presigned GET URL.
    #[schema(example = json!({"result.json": "https://bucket.s3.amazonaws.com/results/test/1/1700000000000/result.json?X-Amz-Signature=…"}))]
    pub files: BTreeMap<String, String>,
}

/// Presigned download URLs for every result file of a succeeded job (its owner, a requester or
/// ADMIN). In the embedded default the URLs point at this API's `/api/storage/…`.
#[utoipa::path(tag = "jobs", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Job id"), DownloadParams),
    responses(
        (status = 200, description = "The files, each with a presigned URL", body = DownloadResponse),
        (status = 400, description = "Job not SUCCEEDED, no results, more files than the \
            configured maximum (narrow with filterPrefix), or invalid parameters", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the owner, a requester or ADMIN", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The files are in a store this server is not configured \
            for", body = ErrorBody),
        (status = 502, description = "The result store failed", body = ErrorBody)))]
#[get("/{id}/download")]
pub async fn download_job(
    PathId(id): PathId<JobId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<DownloadParams>,
) -> Result<web::Json<DownloadResponse>, ApiError> {
    let DownloadParams {
        expiry_seconds,
        filter_prefix,
    } = params.into_inner();
    let mut validation = Validation::default();
    let expiry = validation.field(
        "expirySeconds",
        expiry_seconds
            .as_deref()
            .map_or(Ok(PresignExpiry::DEFAULT), |raw| {
                crate::wire::query_integer(raw)
                    .ok_or(InvalidExpiry)
                    .and_then(PresignExpiry::from_seconds)
            }),
    );
    let filter = validation.field(
        "filterPrefix",
        filter_prefix
            .filter(|prefix| !prefix.is_empty())
            .map(|prefix| FilterPrefix::parse(&prefix))
            .transpose(),
    );
    let (expiry, filter) = validation.finish((expiry, filter))?;
    let download = state
        .results
        .download(&actor, id, DownloadRequest { expiry, filter })
        .await?;
    Ok(web::Json(DownloadResponse {
        job: DownloadJob {
            id: download.job.id.get(),
            job_type: download.job.job_type.to_string(),
            status: download.job.state.status().into(),
        },
        files: download
            .files
            .into_iter()
            .map(|(path, url)| (path.to_string(), url))
            .collect(),
    }))
}
