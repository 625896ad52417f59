//! The LabCAS workflow API (labcas-contract §3), mounted at `labcas.base_path`: the workflow
//! catalog and the data selections. A workflow the caller may not run is answered as unknown.
//! LabCAS's browser client may send its token without `Bearer `, which these routes accept.

pub mod outputs;
pub mod runs;

use actix_web::{get, web};
use reefguide_ports::services::{CollectionSummary, WorkflowSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::CurrentUser;
use crate::openapi::responses::Unauthenticated;
use crate::routes::{Registry, RouteSet};

/// The catalog routes (inside the LabCAS scope, which authenticates).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_workflows)
            .handler(describe_workflow)
            .handler(runs::trigger_run)
            .handler(runs::list_runs)
            .handler(runs::get_run)
            .handler(runs::cancel_run)
            .handler(list_data_selections)
            .handler(data_selection_workflows)
            .handler(data_selection_workflows_by_path)
            .handler(outputs::browse_root)
            .handler(outputs::browse_folder)
            .handler(outputs::update_properties);
    }
}

/// A workflow as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDto {
    /// The workflow id (the Airflow DAG id).
    #[schema(example = "nebraska")]
    pub id: String,
    /// What it does.
    pub description: String,
}

impl From<WorkflowSummary> for WorkflowDto {
    fn from(summary: WorkflowSummary) -> Self {
        Self {
            id: summary.id.to_string(),
            description: summary.description,
        }
    }
}

/// `{"workflows": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowsResponse {
    /// The workflows.
    pub workflows: Vec<WorkflowDto>,
}

/// One workflow described.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDescription {
    /// The workflow id (the Airflow DAG id).
    pub id: String,
    /// What it does.
    pub description: String,
    /// Its parameters: `"<json type>: <description>"` by name, from the input schema.
    pub parameters: std::collections::BTreeMap<String, String>,
    /// Always null: runs are triggered, never scheduled.
    pub schedule: Option<String>,
}

/// A data selection (collection) as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataSelectionDto {
    /// Its id.
    #[schema(example = "nebraska_images")]
    pub id: String,
    /// What it holds.
    pub description: String,
}

impl From<CollectionSummary> for DataSelectionDto {
    fn from(summary: CollectionSummary) -> Self {
        Self {
            id: summary.id,
            description: summary.description,
        }
    }
}

/// The data selections, under both names LabCAS uses (`workflows` is its spec's name for the
/// same list).
#[derive(Debug, Serialize, ToSchema)]
pub struct DataSelectionsResponse {
    /// The data selections with at least one workflow the caller may run.
    pub data_selections: Vec<DataSelectionDto>,
    /// The same list, under the name of LabCAS's spec.
    pub workflows: Vec<DataSelectionDto>,
}

/// Lists the Airflow workflows the caller may run (all of them for an administrator).
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The workflows the caller may run", body = WorkflowsResponse),
        Unauthenticated))]
#[get("/workflows")]
pub async fn list_workflows(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> web::Json<WorkflowsResponse> {
    let workflows = state.catalog.runnable(&actor);
    web::Json(WorkflowsResponse {
        workflows: workflows.into_iter().map(WorkflowDto::from).collect(),
    })
}

/// Describes one workflow the caller may run: its parameters, from its input schema.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The workflow id (DAG id)")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDescription),
        Unauthenticated,
        (status = 404, description = "No such workflow, or one the caller may not run", body = ErrorBody)))]
#[get("/workflows/{id}")]
pub async fn describe_workflow(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<WorkflowDescription>, ApiError> {
    let details = state
        .catalog
        .workflow(&actor, &id)
        .ok_or_else(|| unknown_workflow(&id))?;
    Ok(web::Json(WorkflowDescription {
        id: details.summary.id.to_string(),
        description: details.summary.description,
        parameters: details.parameters,
        schedule: None,
    }))
}

/// Lists the data selections offering at least one workflow the caller may run.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The data selections", body = DataSelectionsResponse),
        Unauthenticated))]
#[get("/data-selections")]
pub async fn list_data_selections(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> web::Json<DataSelectionsResponse> {
    let selections: Vec<CollectionSummary> = state.catalog.collections(&actor);
    web::Json(DataSelectionsResponse {
        data_selections: selections
            .iter()
            .cloned()
            .map(DataSelectionDto::from)
            .collect(),
        workflows: selections.into_iter().map(DataSelectionDto::from).collect(),
    })
}

/// The data selection asked about.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataSelectionParams {
    /// The data selection (collection) id (required; missing or empty is a 400
    /// `missing_data_id`).
    #[param(required = true, min_length = 1)]
    pub data_id: Option<String>,
}

/// Lists the workflows of a data selection that the caller may run (possibly none).
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(DataSelectionParams),
    responses(
        (status = 200, description = "The data selection's workflows the caller may run", body = WorkflowsResponse),
        (status = 400, description = "`data_id` missing", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "No such data selection", body = ErrorBody)))]
#[get("/data-selections/workflows")]
pub async fn data_selection_workflows(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<DataSelectionParams>,
) -> Result<web::Json<WorkflowsResponse>, ApiError> {
    let data_id = params
        .into_inner()
        .data_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("missing_data_id", "Query parameter data_id is required")
        })?;
    selection_workflows(&state, &actor, &data_id)
}

/// The older path form of [`data_selection_workflows`], which LabCAS's browser client calls.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("data_id" = String, Path, description = "The data selection (collection) id")),
    responses(
        (status = 200, description = "The data selection's workflows the caller may run", body = WorkflowsResponse),
        Unauthenticated,
        (status = 404, description = "No such data selection", body = ErrorBody)))]
#[get("/data-selections/{data_id}/workflows")]
pub async fn data_selection_workflows_by_path(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    data_id: web::Path<String>,
) -> Result<web::Json<WorkflowsResponse>, ApiError> {
    selection_workflows(&state, &actor, &data_id)
}

fn selection_workflows(
    state: &AppState,
    actor: &reefguide_domain::User,
    data_id: &str,
) -> Result<web::Json<WorkflowsResponse>, ApiError> {
    let workflows = state
        .catalog
        .collection_workflows(actor, data_id)
        .map_err(|unknown| ApiError::not_found(unknown.to_string()))?;
    Ok(web::Json(WorkflowsResponse {
        workflows: workflows.into_iter().map(WorkflowDto::from).collect(),
    }))
}

/// The 404 of a workflow that is unknown or that the caller may not run (the same answer).
fn unknown_workflow(id: &str) -> ApiError {
    ApiError::not_found(format!("Unknown workflow {id:?}"))
}
