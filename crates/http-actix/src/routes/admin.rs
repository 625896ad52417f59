//! Cluster administration (contract §8, ADMIN only): the worker service's status, scale and
//! redeploy, on ECS or on the local worker pool. Upstream failures are 502 with the upstream
//! message, never 500.

use actix_web::{get, post, web};
use reefguide_domain::capacity::DesiredCount;
use reefguide_ports::{Deployment, ServiceEvent, ServiceStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
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
            .handler(redeploy);
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
