//! Health and discovery (contract §2).

use std::time::Duration;

use actix_web::{HttpResponse, get, routes, web};
use reefguide_ports::HealthCheck as _;
use reefguide_ports::workflow_engine::EngineHealth;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::crypto::Jwks;
use crate::routes::{Registry, RouteSet};
use crate::wire::MessageResponse;

/// How long the health check waits for the database.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The routes (inside the `/api` scope).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(root)
            .handler(health)
            .handler(live)
            .handler(jwks)
            .handler(openapi)
            .handler(service_info);
    }
}

/// Liveness of the API process (R1).
#[utoipa::path(tag = "health",
    responses((status = 200, description = "The API is up", body = MessageResponse,
        example = json!({"message": "API healthy."}))))]
#[routes]
#[get("")]
#[get("/")]
pub async fn root() -> web::Json<MessageResponse> {
    web::Json(MessageResponse::new("API healthy."))
}

/// Health including the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`, `unavailable` (the database is unreachable) or `draining` (shutting down).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Why it is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// The workflow engine, when one is configured: a degraded engine delays workflow jobs and
    /// leaves the service up (still 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineHealthDto>,
}

/// How the workflow engine answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineHealthDto {
    /// The engine: `airflow`.
    #[schema(example = "airflow")]
    pub name: &'static str,
    /// `ok` or `degraded`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Why it is degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Readiness: whether this instance should get requests. The database must answer and the
/// instance must not be shutting down; a workflow engine's health is reported, never decisive.
#[utoipa::path(tag = "health",
    responses(
        (status = 200, description = "Ready: service and database are up (a workflow engine \
            may be `degraded`: its jobs wait)", body = HealthResponse),
        (status = 503, description = "Not ready: the database is unreachable (`unavailable`) \
            or the instance is shutting down (`draining`)", body = HealthResponse)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    if state.runtime.job_signal.is_draining() {
        return HttpResponse::ServiceUnavailable().json(HealthResponse {
            status: "draining",
            message: Some("shutting down"),
            engine: None,
        });
    }
    let healthy = matches!(
        tokio::time::timeout(DB_CHECK_TIMEOUT, state.runtime.store.ping()).await,
        Ok(Ok(()))
    );
    let engine = match &state.runtime.dispatcher {
        Some(dispatcher) => Some(match dispatcher.health().await {
            EngineHealth::Healthy => EngineHealthDto {
                name: "airflow",
                status: "ok",
                message: None,
            },
            EngineHealth::Degraded(reason) => EngineHealthDto {
                name: "airflow",
                status: "degraded",
                message: Some(reason),
            },
        }),
        None => None,
    };
    if healthy {
        HttpResponse::Ok().json(HealthResponse {
            status: "ok",
            message: None,
            engine,
        })
    } else {
        tracing::warn!("health check: database unreachable");
        HttpResponse::ServiceUnavailable().json(HealthResponse {
            status: "unavailable",
            message: Some("database unreachable"),
            engine,
        })
    }
}

/// Liveness: the process serves requests (nothing else is checked, so a database outage or a
/// shutdown never makes an orchestrator restart a process that is fine).
#[utoipa::path(tag = "health",
    responses((status = 200, description = "The process serves requests", body = HealthResponse,
        example = json!({"status": "ok"}))))]
#[get("/health/live")]
pub async fn live() -> web::Json<HealthResponse> {
    web::Json(HealthResponse {
        status: "ok",
        message: None,
        engine: None,
    })
}

/// The public key that verifies access tokens (RFC 7517).
#[utoipa::path(tag = "health",
    responses((status = 200, description = "JWK set", body = Jwks)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> web::Json<Jwks> {
    web::Json(state.published.jwks.clone())
}

/// This OpenAPI document.
#[utoipa::path(tag = "health",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.published.openapi.clone())
}

/// The kind of service, per GA4GH service-info.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceType {
    /// Namespace.
    #[schema(example = "org.reefguide")]
    pub group: &'static str,
    /// Service family.
    #[schema(example = "reefguide-api")]
    pub artifact: &'static str,
    /// Version of the API contract.
    #[schema(example = "1.0.0")]
    pub version: &'static str,
}

/// Who runs the service.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    /// Name.
    pub name: &'static str,
    /// Web address.
    pub url: String,
}

/// GA4GH service-info, plus the job types this deployment accepts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    /// Stable service id.
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Service type.
    #[serde(rename = "type")]
    pub service_type: ServiceType,
    /// Description.
    pub description: &'static str,
    /// Operator.
    pub organization: Organization,
    /// Where the API reference lives.
    #[serde(rename = "documentationUrl")]
    pub documentation_url: String,
    /// Implementation version.
    pub version: &'static str,
    /// Names of the job types registered in this deployment (none until the job system is
    /// configured).
    #[serde(rename = "jobTypes")]
    pub job_types: Vec<String>,
    /// The engines that run jobs: `worker`, and `airflow` when Airflow is configured.
    #[schema(example = json!(["worker"]))]
    pub engines: Vec<&'static str>,
}

/// Version of the wire contract this implementation follows.
const API_CONTRACT_VERSION: &str = "1.0.0";

/// Describes this service (GA4GH service-info shape).
#[utoipa::path(tag = "health",
    responses((status = 200, description = "Service description", body = ServiceInfo)))]
#[get("/service-info")]
pub async fn service_info(state: web::Data<AppState>) -> web::Json<ServiceInfo> {
    web::Json(ServiceInfo {
        id: "org.reefguide.api",
        name: "ReefGuide API",
        service_type: ServiceType {
            group: "org.reefguide",
            artifact: "reefguide-api",
            version: API_CONTRACT_VERSION,
        },
        description: "Accounts, study areas and analysis jobs for ReefGuide",
        organization: Organization {
            name: "ReefGuide",
            url: state.published.public_url.clone(),
        },
        documentation_url: format!("{}/api/docs/", state.published.public_url),
        version: env!("CARGO_PKG_VERSION"),
        job_types: state.published.job_type_names.clone(),
        engines: if state.runtime.dispatcher.is_some() {
            vec!["worker", "airflow"]
        } else {
            vec!["worker"]
        },
    })
}
