//! `/workflows/{id}/runs…` (labcas-contract §3): trigger a run of a workflow on a data
//! selection, list the caller's runs, read one, cancel one. A run is a job of the workflow's
//! Airflow type; its id is the Airflow `dag_run_id` of its current attempt.
//!
//! The trigger's body is read as JSON whatever its `Content-Type` (LabCAS's browser client sends
//! none), in LabCAS's flat form or its spec's `{"workflow_id", "params"}` form.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use reefguide_domain::User;
use reefguide_domain::job::errors::{CancelJobError, JobAccessError, SubmitJobError};
use reefguide_domain::job::registry::JobType;
use reefguide_domain::job::{JobDetails, JobStatus};
use reefguide_domain::workflow::DagRunId;
use reefguide_domain::workflow::runs::{RunRequest, current_run_id, run_status, sent_conf};
use reefguide_ports::services::JobListing;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::CurrentUser;
use crate::openapi::responses::Unauthenticated;

/// Default and largest page of a run listing.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;

/// A triggered run.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggeredRun {
    /// The Airflow `dag_run_id` of the run.
    #[schema(example = "reefguide-42-1")]
    pub run_id: String,
    /// Its state (`queued` when new).
    pub state: &'static str,
    /// The same, under LabCAS's other name.
    pub status: &'static str,
    /// The job behind it (`/api/jobs/{job_id}`).
    pub job_id: i64,
}

/// A run as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    /// The Airflow `dag_run_id` of its current attempt.
    pub run_id: String,
    /// The workflow (DAG) id.
    pub workflow_id: String,
    /// `queued`, `running`, `success`, `failed` or `cancelled`.
    pub status: &'static str,
    /// When it was requested (RFC 3339).
    pub start_time: String,
    /// When it ended (RFC 3339), once it has.
    pub end_time: Option<String>,
    /// Its output folder in the output browser.
    pub output_url: Option<String>,
    /// The parameters as sent (with `in_data_selection`).
    #[schema(value_type = Object)]
    pub conf: Value,
    /// The job behind it.
    pub job_id: i64,
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunsPage {
    /// The runs, newest first.
    pub runs: Vec<RunDto>,
    /// All the caller's runs of the workflow.
    pub total: u64,
}

/// Run-listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// Page size, 1..200 (default 50).
    pub limit: Option<String>,
    /// Runs skipped (default 0).
    pub offset: Option<String>,
}

/// Triggers a run of a workflow on a data selection.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The workflow id (DAG id)")),
    request_body(content = Object, description = "`{\"in_data_selection\": \"<collection>\", …params}` or `{\"workflow_id\", \"params\": {…}}`; any content type"),
    responses(
        (status = 201, description = "The run, queued (or the cached run of the same request)", body = TriggeredRun),
        (status = 400, description = "Missing or unknown data selection, invalid or reserved parameters", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not run this workflow, or not on that data selection", body = ErrorBody),
        (status = 404, description = "No such workflow", body = ErrorBody)))]
#[post("/workflows/{id}/runs")]
pub async fn trigger_run(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: Value = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request("invalid_body", format!("Invalid JSON body: {error}"))
    })?;
    let request = RunRequest::parse(body)
        .map_err(|error| ApiError::bad_request("invalid_body", error.to_string()))?;
    let job_type = runnable(&state, &actor, &id, Refusal::Forbidden)?;
    let submission = state
        .jobs
        .submit(
            &actor,
            job_type.name().as_str(),
            request.params,
            request.collection.as_deref(),
        )
        .await
        .map_err(trigger_error)?;
    let details = state
        .jobs
        .get(&actor, submission.job_id)
        .await
        .map_err(access_error)?;
    let status = status_of(&details);
    Ok(HttpResponse::Created().json(TriggeredRun {
        run_id: run_id(&details),
        state: status,
        status,
        job_id: details.job.id.get().into(),
    }))
}

/// Lists the caller's runs of a workflow (every run for an administrator), newest first.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The workflow id (DAG id)"), RunsParams),
    responses(
        (status = 200, description = "A page of runs", body = RunsPage),
        (status = 400, description = "A bad limit or offset", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "No such workflow, or one the caller may not run", body = ErrorBody)))]
#[get("/workflows/{id}/runs")]
pub async fn list_runs(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: web::Query<RunsParams>,
) -> Result<web::Json<RunsPage>, ApiError> {
    let job_type = runnable(&state, &actor, &id, Refusal::Unknown)?;
    let limit = number(
        params.limit.as_deref(),
        "limit",
        DEFAULT_LIMIT,
        1..=MAX_LIMIT,
    )?;
    let offset = number(
        params.offset.as_deref(),
        "offset",
        0,
        0..=u64::from(u32::MAX),
    )?;
    let page = state
        .jobs
        .list_visible(
            &actor,
            JobListing {
                status: None,
                job_type: Some(job_type.name().clone()),
                limit,
                before: None,
                offset,
            },
        )
        .await?;
    Ok(web::Json(RunsPage {
        runs: page
            .jobs
            .iter()
            .map(|details| run_dto(&state, &id, details))
            .collect(),
        total: page.total,
    }))
}

/// One run of the caller's.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The workflow id (DAG id)"),
        ("run_id" = String, Path, description = "The run id")),
    responses(
        (status = 200, description = "The run", body = RunDto),
        Unauthenticated,
        (status = 404, description = "No such run of the caller's", body = ErrorBody)))]
#[get("/workflows/{id}/runs/{run_id}")]
pub async fn get_run(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<RunDto>, ApiError> {
    let (id, run) = path.into_inner();
    let details = find_run(&state, &actor, &id, &run).await?;
    Ok(web::Json(run_dto(&state, &id, &details)))
}

/// Cancels a run of the caller's that has not ended (its Airflow run is marked failed).
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The workflow id (DAG id)"),
        ("run_id" = String, Path, description = "The run id")),
    responses(
        (status = 200, description = "The run, cancelled", body = RunDto),
        (status = 400, description = "The run already ended", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "No such run of the caller's", body = ErrorBody)))]
#[post("/workflows/{id}/runs/{run_id}/cancel")]
pub async fn cancel_run(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<RunDto>, ApiError> {
    let (id, run) = path.into_inner();
    let details = find_run(&state, &actor, &id, &run).await?;
    let cancelled =
        state
            .jobs
            .cancel(&actor, details.job.id)
            .await
            .map_err(|error| match error {
                CancelJobError::NotCancellable(status) => ApiError::bad_request(
                    "run_finished",
                    format!("The run already ended: it is {}", run_status(status, true)),
                ),
                CancelJobError::NotFound(_) | CancelJobError::Forbidden => unknown_run(&run),
                CancelJobError::Unexpected(error) => ApiError::unexpected(&error),
            })?;
    Ok(web::Json(run_dto(&state, &id, &cancelled)))
}

/// How a workflow the caller may not run is answered.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// As unknown (404): the read routes.
    Unknown,
    /// As forbidden (403) when it exists: the trigger.
    Forbidden,
}

/// The Airflow type of DAG `id`, if the caller may run it.
fn runnable<'a>(
    state: &'a AppState,
    actor: &'a User,
    id: &str,
    refusal: Refusal,
) -> Result<&'a JobType, ApiError> {
    if let Some(job_type) = state.catalog.runnable_type(actor, id) {
        return Ok(job_type);
    }
    match (refusal, state.catalog.workflow_type(id)) {
        (Refusal::Forbidden, Some(_)) => Err(ApiError::forbidden(format!(
            "You are not authorised to run workflow {id:?}"
        ))),
        _ => Err(ApiError::not_found(format!("Unknown workflow {id:?}"))),
    }
}

/// The caller's job behind run `run` of workflow `id`.
async fn find_run(
    state: &AppState,
    actor: &User,
    id: &str,
    run: &str,
) -> Result<JobDetails, ApiError> {
    let job_type = runnable(state, actor, id, Refusal::Unknown)?;
    let run_id = DagRunId::parse(run).ok_or_else(|| unknown_run(run))?;
    let details = state
        .jobs
        .get(actor, run_id.job)
        .await
        .map_err(|_| unknown_run(run))?;
    let same_workflow = details.job.job_type == *job_type.name();
    let known_attempt = run_id.attempt <= details.job.state.attempts().max(1);
    if !same_workflow || !known_attempt {
        return Err(unknown_run(run));
    }
    Ok(details)
}

/// The run view of a job of workflow `id`.
fn run_dto(state: &AppState, id: &str, details: &JobDetails) -> RunDto {
    let job = &details.job;
    let ended = !matches!(
        job.state.status(),
        JobStatus::Pending | JobStatus::InProgress
    );
    let output_url = job.workflow.as_ref().and_then(|run| {
        let folder = run
            .output
            .to_string()
            .trim_end_matches('/')
            .rsplit('/')
            .next()?
            .to_owned();
        Some(format!(
            "{}/output-data/{folder}/",
            state.published.labcas_url
        ))
    });
    RunDto {
        run_id: run_id(details),
        workflow_id: id.to_owned(),
        status: status_of(details),
        start_time: job.created_at.to_rfc3339(),
        end_time: ended.then(|| job.updated_at.to_rfc3339()),
        output_url,
        conf: sent_conf(job),
        job_id: job.id.get().into(),
    }
}

/// The run id of a job: the recorded Airflow run of its current attempt, else the one its
/// current (or first) attempt gets.
fn run_id(details: &JobDetails) -> String {
    recorded_run(details).unwrap_or_else(|| current_run_id(&details.job).to_string())
}

/// The Airflow run recorded for the job's current attempt (once Airflow accepted it).
fn recorded_run(details: &JobDetails) -> Option<String> {
    let current = details.job.current_assignment;
    details
        .assignments
        .iter()
        .find(|(assignment, _)| Some(assignment.id) == current)
        .and_then(|(assignment, _)| assignment.engine_run_id.clone())
}

/// LabCAS's status of the job's run.
fn status_of(details: &JobDetails) -> &'static str {
    run_status(details.job.state.status(), recorded_run(details).is_some())
}

/// A query number within `range`, `default` when absent.
fn number(
    raw: Option<&str>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    crate::wire::query_integer_in(raw, range.clone()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "{name} must be an integer from {} to {}",
                range.start(),
                range.end()
            ),
        )
    })
}

/// A trigger's refusal: LabCAS answers a workflow not allowed on the data selection with 403;
/// everything else as a job submission.
fn trigger_error(error: SubmitJobError) -> ApiError {
    match error {
        SubmitJobError::WorkflowNotInCollection { .. } => ApiError::new(
            StatusCode::FORBIDDEN,
            "workflow_not_in_collection",
            error.to_string(),
        ),
        other => ApiError::from(other),
    }
}

fn access_error(error: JobAccessError) -> ApiError {
    match error {
        JobAccessError::Unexpected(error) => ApiError::unexpected(&error),
        other => ApiError::not_found(other.to_string()),
    }
}

fn unknown_run(run: &str) -> ApiError {
    ApiError::not_found(format!("Unknown run {run:?}"))
}
