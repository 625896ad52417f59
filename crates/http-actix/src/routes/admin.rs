//! Administration (ADMIN only): the worker service's status, scale and redeploy, on ECS or on
//! the local worker pool (contract §8; upstream failures are 502 with the upstream message, never
//! 500), and timing out stale jobs (reefguide-r2 §3.2). The data specification's admin routes
//! are registered here too (`routes::data_specification`).

use std::collections::BTreeMap;

use actix_web::{get, post, web};
use reefguide_domain::capacity::DesiredCount;
use reefguide_ports::{Deployment, ServiceEvent, ServiceStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::CurrentUser;
use crate::openapi::responses::{NotAdmin, Unauthenticated};
use crate::routes::{Registry, RouteSet};
use crate::wire::{MessageResponse, timestamp};

/// The routes (inside the `/api/admin` scope, which requires ADMIN).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(cluster_status)
            .handler(scale)
            .handler(redeploy)
            .handler(timeout_jobs);
        crate::routes::data_specification::AdminRoutes::register(routes);
    }
}

/// The worker service.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Tasks running.
    pub running_count: u32,
    /// Tasks starting.
    pub pending_count: u32,
    /// Tasks wanted.
    pub desired_count: u32,
    /// Deployments.
    pub deployments: Vec<DeploymentDto>,
    /// The latest events (at most 5).
    pub events: Vec<EventDto>,
    /// The service's status.
    pub service_status: String,
}

/// One deployment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDto {
    /// `PRIMARY`, `ACTIVE`, `INACTIVE`.
    pub status: String,
    /// The task definition.
    pub task_definition: String,
    /// Tasks wanted.
    pub desired_count: u32,
    /// Tasks starting.
    pub pending_count: u32,
    /// Tasks running.
    pub running_count: u32,
    /// Tasks that failed to start.
    pub failed_tasks: u32,
    /// Rollout state, if known.
    pub rollout_state: Option<String>,
    /// Why the rollout is in that state.
    pub rollout_state_reason: Option<String>,
}

/// One service event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDto {
    /// When.
    pub created_at: String,
    /// What.
    pub message: String,
}

impl From<ServiceStatus> for StatusResponse {
    fn from(status: ServiceStatus) -> Self {
        Self {
            running_count: status.running_count,
            pending_count: status.pending_count,
            desired_count: status.desired_count,
            deployments: status.deployments.into_iter().map(deployment).collect(),
            events: status.events.into_iter().map(event).collect(),
            service_status: status.service_status,
        }
    }
}

fn deployment(d: Deployment) -> DeploymentDto {
    DeploymentDto {
        status: d.status,
        task_definition: d.task_definition,
        desired_count: d.desired_count,
        pending_count: d.pending_count,
        running_count: d.running_count,
        failed_tasks: d.failed_tasks,
        rollout_state: d.rollout_state,
        rollout_state_reason: d.rollout_state_reason,
    }
}

fn event(e: ServiceEvent) -> EventDto {
    EventDto {
        created_at: timestamp(e.created_at),
        message: e.message,
    }
}

/// The worker service's status.
#[utoipa::path(tag = "admin", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The worker service", body = StatusResponse),
        Unauthenticated,
        NotAdmin,
        (status = 502, description = "The cluster failed (upstream message)", body = ErrorBody)))]
#[get("/status")]
pub async fn cluster_status(
    state: web::Data<AppState>,
) -> Result<web::Json<StatusResponse>, ApiError> {
    Ok(web::Json(state.cluster.status().await?.into()))
}

/// A scale request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRequest {
    /// Tasks wanted, 0 to 10.
    #[serde(deserialize_with = "crate::wire::whole_number")]
    #[schema(minimum = 0, maximum = 10)]
    pub desired_count: i64,
}

/// Sets how many workers the service keeps running.
#[utoipa::path(tag = "admin", security(("bearerAuth" = [])),
    request_body = ScaleRequest,
    responses(
        (status = 200, description = "Scaled", body = MessageResponse),
        (status = 400, description = "desiredCount outside 0..10", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 502, description = "The cluster failed (upstream message)", body = ErrorBody)))]
#[post("/scale")]
pub async fn scale(
    state: web::Data<AppState>,
    body: web::Json<ScaleRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let count = DesiredCount::new(body.desired_count)
        .map_err(|error| ApiError::invalid_field("desiredCount", error.to_string()))?;
    state.cluster.scale(count).await?;
    Ok(web::Json(MessageResponse::new(format!(
        "Desired count set to {}",
        count.get()
    ))))
}

/// Replaces the service's workers with fresh ones (minimum healthy 50 %, maximum 200 %).
#[utoipa::path(tag = "admin", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Redeployment started", body = MessageResponse),
        Unauthenticated,
        NotAdmin,
        (status = 502, description = "The cluster failed (upstream message)", body = ErrorBody)))]
#[post("/redeploy")]
pub async fn redeploy(state: web::Data<AppState>) -> Result<web::Json<MessageResponse>, ApiError> {
    state.cluster.redeploy().await?;
    Ok(web::Json(MessageResponse::new("Redeployment started")))
}

/// The longest threshold accepted: ten years, in minutes.
const MAX_TIMEOUT_MINUTES: f64 = 10.0 * 365.25 * 24.0 * 60.0;

/// Which jobs to time out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutJobsRequest {
    /// Jobs created longer ago than this many minutes (a positive number; default 120).
    #[schema(example = 120, exclusive_minimum = 0, maximum = 5_259_600)]
    pub timeout_threshold_minutes: Option<f64>,
    /// Only jobs of these types (every type when absent or empty).
    pub job_types: Option<Vec<String>>,
}

/// What was timed out.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutJobsResponse {
    /// Jobs timed out.
    pub total_timed_out: usize,
    /// Of which, by job type.
    pub by_type: BTreeMap<String, usize>,
    /// Their ids, ascending.
    pub timed_out_job_ids: Vec<i32>,
}

/// Times out every worker job still `PENDING` or `IN_PROGRESS` that was created longer ago
/// than the threshold (ReefGuide R2's cleanup of stuck jobs). A worker still on one is refused
/// its next heartbeat or result; workflow (Airflow) jobs are left alone: cancel them to stop
/// their runs.
#[utoipa::path(tag = "admin",
    security(("bearerAuth" = [])), request_body = TimeoutJobsRequest,
    responses(
        (status = 200, description = "Timed out", body = TimeoutJobsResponse),
        (status = 400, description = "A threshold that is not a positive number of minutes, or an unknown job type", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[post("/timeout-jobs")]
pub async fn timeout_jobs(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<TimeoutJobsRequest>,
) -> Result<web::Json<TimeoutJobsResponse>, ApiError> {
    let minutes = body.timeout_threshold_minutes.unwrap_or(120.0);
    if !(minutes > 0.0 && minutes <= MAX_TIMEOUT_MINUTES) {
        return Err(ApiError::invalid_field(
            "timeoutThresholdMinutes",
            "must be a positive number of minutes, at most ten years",
        ));
    }
    // Whole milliseconds; the range check keeps the product well inside i64.
    #[allow(clippy::cast_possible_truncation)]
    let threshold = chrono::Duration::milliseconds((minutes * 60_000.0).round() as i64);
    let types = body.job_types.clone().unwrap_or_default();
    let timed_out = state.jobs.time_out_stale(&actor, threshold, &types).await?;
    let mut by_type = BTreeMap::new();
    for job in &timed_out {
        *by_type.entry(job.job_type.as_str().to_owned()).or_insert(0) += 1;
    }
    Ok(web::Json(TimeoutJobsResponse {
        total_timed_out: timed_out.len(),
        by_type,
        timed_out_job_ids: timed_out.iter().map(|job| job.id.get()).collect(),
    }))
}
