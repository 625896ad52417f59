//! ReefGuide's data specification (reefguide-r2 §3.2, issue 27): its regions, criteria and
//! their ranges, under `/api/admin` as in R2.
//!
//! - `GET /api/admin/regions` and `GET /api/admin/criteria/{region}/ranges` are read by the front
//!   end: open to every user of the user features (the `required_role` gate, `ANALYST` as R2),
//!   so they are mounted before the `/api/admin` scope, whose gate is ADMIN ([`RegionRoutes`],
//!   [`CriteriaRoutes`]).
//! - `POST /api/admin/data-specification` (replace it) is for workers and administrators: the
//!   worker of a `DATA_SPECIFICATION_UPDATE` job posts what it computed (R2's worker does so
//!   with its own account). It is mounted before the `/api/admin` scope too, with the worker
//!   gate ([`SpecificationRoutes`]).
//! - `POST /api/admin/data-specification-update` (ask the workers to recompute it) is ADMIN's,
//!   in the `/api/admin` scope ([`AdminRoutes`]).
//!
//! The rules of a specification are in [`reefguide_domain::data_specification`]; this module
//! only translates.

use std::collections::BTreeMap;

use actix_web::{get, post, web};
use reefguide_domain::data_specification::{
    CriterionInput, CriterionRanges, DataSpecification, RegionInput, RegionSummary,
    SpecificationCounts,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::CurrentUser;
use crate::openapi::responses::{NotAdmin, NotWorker, Unauthenticated};
use crate::routes::{Registry, RouteSet};

/// The routes inside the `/api/admin` scope (ADMIN only).
pub struct AdminRoutes;

impl RouteSet for AdminRoutes {
    fn register<R: Registry>(routes: &mut R) {
        routes.handler(request_data_specification_update);
    }
}

/// `POST /api/admin/data-specification` (mounted at that path, behind the worker gate: workers
/// and administrators).
pub struct SpecificationRoutes;

impl RouteSet for SpecificationRoutes {
    fn register<R: Registry>(routes: &mut R) {
        routes.handler(replace_data_specification);
    }
}

/// The route at `/api/admin/regions` (behind the user-features gate).
pub struct RegionRoutes;

impl RouteSet for RegionRoutes {
    fn register<R: Registry>(routes: &mut R) {
        routes.handler(list_regions);
    }
}

/// The route under `/api/admin/criteria` (behind the user-features gate).
pub struct CriteriaRoutes;

impl RouteSet for CriteriaRoutes {
    fn register<R: Registry>(routes: &mut R) {
        routes.handler(criteria_ranges);
    }
}

/// A data specification: every region with its criteria and their ranges there. It replaces
/// the stored one whole.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DataSpecificationRequest {
    /// Every region (those not listed are deleted; an empty list deletes them all).
    #[schema(max_items = 100)]
    pub regions: Vec<RegionRequest>,
}

/// A region of a specification.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegionRequest {
    /// Its name, as jobs name it: no leading or trailing whitespace, no control character, no
    /// `/`; unique in the specification.
    #[schema(min_length = 1, max_length = 128, example = "Townsville-Whitsunday")]
    pub name: String,
    /// Its name for people (not blank, one line).
    #[schema(min_length = 1, max_length = 256, example = "Townsville/Whitsunday")]
    pub display_name: String,
    /// A description; blank is the same as none.
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// Its criteria with their ranges here (each at most once).
    #[schema(max_items = 100)]
    pub criteria: Vec<CriterionRequest>,
}

/// A criterion of a region: its definition (the same in every region that has it) and its
/// range in this region.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CriterionRequest {
    /// Its name: no leading or trailing whitespace, no control character.
    #[schema(min_length = 1, max_length = 128, example = "Depth")]
    pub name: String,
    /// Its title for people (not blank, one line).
    #[schema(min_length = 1, max_length = 256, example = "Depth")]
    pub display_title: String,
    /// A subtitle (one line); blank is the same as none.
    #[schema(max_length = 256)]
    pub display_subtitle: Option<String>,
    /// Its units (one line); blank is the same as none.
    #[schema(max_length = 256, example = "m")]
    pub units: Option<String>,
    /// The tooltip of the lower bound; blank is the same as none.
    #[schema(max_length = 4000)]
    pub min_tooltip: Option<String>,
    /// The tooltip of the upper bound; blank is the same as none.
    #[schema(max_length = 4000)]
    pub max_tooltip: Option<String>,
    /// The prefix of its properties in job payloads (`depth_` for `depth_min`); no leading or
    /// trailing whitespace, no control character.
    #[schema(min_length = 1, max_length = 128, example = "depth_")]
    pub payload_prefix: String,
    /// Lowest value in the region (at most `max_val`).
    #[schema(example = -50.0)]
    pub min_val: f64,
    /// Highest value in the region.
    #[schema(example = -2.0)]
    pub max_val: f64,
    /// Default lower bound (at most `default_max_val`; may lie outside `min_val..max_val`).
    #[schema(example = -30.0)]
    pub default_min_val: f64,
    /// Default upper bound.
    #[schema(example = -5.0)]
    pub default_max_val: f64,
}

impl From<CriterionRequest> for CriterionInput {
    fn from(c: CriterionRequest) -> Self {
        Self {
            name: c.name,
            display_title: c.display_title,
            display_subtitle: c.display_subtitle,
            units: c.units,
            min_tooltip: c.min_tooltip,
            max_tooltip: c.max_tooltip,
            payload_prefix: c.payload_prefix,
            min_val: c.min_val,
            max_val: c.max_val,
            default_min_val: c.default_min_val,
            default_max_val: c.default_max_val,
        }
    }
}

impl DataSpecificationRequest {
    /// The checked domain specification, or a 400 naming every problem (at most 20).
    fn try_into_domain(self) -> Result<DataSpecification, ApiError> {
        let regions = self
            .regions
            .into_iter()
            .map(|region| RegionInput {
                name: region.name,
                display_name: region.display_name,
                description: region.description,
                criteria: region.criteria.into_iter().map(Into::into).collect(),
            })
            .collect();
        Ok(DataSpecification::parse(regions)?)
    }
}

/// What the specification now holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedCounts {
    /// Distinct criteria.
    pub criteria_count: usize,
    /// Regions.
    pub regions_count: usize,
    /// Criteria of regions, summed over the regions.
    pub regional_criteria_count: usize,
}

impl From<SpecificationCounts> for UpdatedCounts {
    fn from(counts: SpecificationCounts) -> Self {
        Self {
            criteria_count: counts.criteria,
            regions_count: counts.regions,
            regional_criteria_count: counts.regional_criteria,
        }
    }
}

/// The answer to a replacement.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataSpecificationResponse {
    /// `Data specification updated successfully`.
    #[schema(example = "Data specification updated successfully")]
    pub message: String,
    /// What the specification now holds.
    pub updated: UpdatedCounts,
}

/// Replaces the data specification (workers and ADMIN; the worker of a `DATA_SPECIFICATION_UPDATE` job posts what it computed): regions and criteria it does not name are deleted,
/// the others are created or updated, in one transaction. Problems are 400s naming each field
/// (`regions[1].criteria[0].min_val`): names that are identifiers, finite numbers with
/// `min_val ≤ max_val` and `default_min_val ≤ default_max_val`, no region twice, no criterion
/// twice in a region, and a criterion in several regions defined the same in all of them (only
/// its range may differ).
#[utoipa::path(tag = "data-specification", security(("bearerAuth" = [])),
    request_body = DataSpecificationRequest,
    responses(
        (status = 200, description = "Replaced", body = DataSpecificationResponse),
        (status = 400, description = "Not a specification, or one breaking its rules (each \
            problem in `details`)", body = ErrorBody),
        Unauthenticated,
        NotWorker))]
#[post("")]
pub async fn replace_data_specification(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<DataSpecificationRequest>,
) -> Result<web::Json<DataSpecificationResponse>, ApiError> {
    let spec = body.into_inner().try_into_domain()?;
    let counts = state.data_specification.replace(&actor, &spec).await?;
    Ok(web::Json(DataSpecificationResponse {
        message: "Data specification updated successfully".to_owned(),
        updated: counts.into(),
    }))
}

/// The answer to a request for recomputation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateJobResponse {
    /// The `DATA_SPECIFICATION_UPDATE` job.
    #[schema(example = 12)]
    pub job_id: i32,
    /// `Data specification update job created successfully` (or `… found in cache` for an
    /// identical request of the same millisecond).
    #[schema(example = "Data specification update job created successfully")]
    pub message: String,
}

/// Asks the workers to recompute the data specification (ADMIN): queues a
/// `DATA_SPECIFICATION_UPDATE` job with the payload `{"cache_buster": <ms since the epoch>}`,
/// owned by the ADMIN service account (`ADMIN_USERNAME`) when there is one, else by the caller.
/// The worker that runs it posts the new specification to `POST /api/admin/data-specification`.
#[utoipa::path(tag = "data-specification", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The job is queued", body = UpdateJobResponse),
        Unauthenticated,
        NotAdmin))]
#[post("/data-specification-update")]
pub async fn request_data_specification_update(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<UpdateJobResponse>, ApiError> {
    let requested = state
        .data_specification
        .request_update(&actor, &state.jobs)
        .await?;
    let message = if requested.cached {
        "Data specification update job found in cache"
    } else {
        "Data specification update job created successfully"
    };
    Ok(web::Json(UpdateJobResponse {
        job_id: requested.job_id.get(),
        message: message.to_owned(),
    }))
}

/// A region as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDto {
    /// Its name.
    #[schema(example = "Townsville-Whitsunday")]
    pub name: String,
    /// Its name for people.
    #[schema(example = "Townsville/Whitsunday")]
    pub display_name: String,
    /// Its description, or null.
    pub description: Option<String>,
    /// How many criteria it has.
    #[schema(example = 8)]
    pub criteria_count: u64,
}

impl From<RegionSummary> for RegionDto {
    fn from(region: RegionSummary) -> Self {
        Self {
            name: region.name.as_str().to_owned(),
            display_name: region.display_name,
            description: region.description,
            criteria_count: region.criteria_count,
        }
    }
}

/// The regions.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionsResponse {
    /// Every region, by name (code point order).
    pub regions: Vec<RegionDto>,
}

/// Every region with its number of criteria, sorted by name (every user of the user features).
#[utoipa::path(tag = "data-specification", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The regions", body = RegionsResponse),
        Unauthenticated,
        (status = 403, description = "The caller lacks the role the user features require", body = ErrorBody)))]
#[get("")]
pub async fn list_regions(
    state: web::Data<AppState>,
) -> Result<web::Json<RegionsResponse>, ApiError> {
    let regions = state
        .data_specification
        .regions()
        .await
        .map_err(|error| ApiError::unexpected(&error))?;
    Ok(web::Json(RegionsResponse {
        regions: regions.into_iter().map(Into::into).collect(),
    }))
}

/// A criterion of a region with its range there, as R2's front end reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CriterionRangeDto {
    /// The criterion's name (the key it is listed under).
    #[schema(example = "Depth")]
    pub id: String,
    /// Lowest value in the region.
    pub min_val: f64,
    /// Highest value in the region.
    pub max_val: f64,
    /// Its title.
    pub display_title: String,
    /// Its subtitle, or null.
    pub display_subtitle: Option<String>,
    /// Its units, or null.
    pub units: Option<String>,
    /// The tooltip of the lower bound, or null.
    pub min_tooltip: Option<String>,
    /// The tooltip of the upper bound, or null.
    pub max_tooltip: Option<String>,
    /// Default lower bound.
    pub default_min_val: f64,
    /// Default upper bound.
    pub default_max_val: f64,
    /// The prefix of its properties in job payloads.
    #[schema(example = "depth_")]
    pub payload_property_prefix: String,
}

impl From<CriterionRanges> for CriterionRangeDto {
    fn from(found: CriterionRanges) -> Self {
        let CriterionRanges { criterion, range } = found;
        Self {
            id: criterion.name.as_str().to_owned(),
            min_val: range.min,
            max_val: range.max,
            display_title: criterion.display_title,
            display_subtitle: criterion.display_subtitle,
            units: criterion.units,
            min_tooltip: criterion.min_tooltip,
            max_tooltip: criterion.max_tooltip,
            default_min_val: range.default_min,
            default_max_val: range.default_max,
            payload_property_prefix: criterion.payload_prefix,
        }
    }
}

/// The criteria of a region, by name.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
pub struct CriteriaRangesResponse(pub BTreeMap<String, CriterionRangeDto>);

/// The criteria of a region with their ranges there, keyed by criterion name (every user of the
/// user features).
#[utoipa::path(tag = "data-specification", security(("bearerAuth" = [])),
    params(("region" = String, Path, description = "The region's name", example = "Townsville-Whitsunday")),
    responses(
        (status = 200, description = "The region's criteria", body = CriteriaRangesResponse),
        Unauthenticated,
        (status = 403, description = "The caller lacks the role the user features require", body = ErrorBody),
        (status = 404, description = "`Region not found`", body = ErrorBody)))]
#[get("/{region}/ranges")]
pub async fn criteria_ranges(
    state: web::Data<AppState>,
    region: web::Path<String>,
) -> Result<web::Json<CriteriaRangesResponse>, ApiError> {
    let ranges = state.data_specification.criteria_ranges(&region).await?;
    Ok(web::Json(CriteriaRangesResponse(
        ranges
            .into_iter()
            .map(|found| (found.criterion.name.as_str().to_owned(), found.into()))
            .collect(),
    )))
}
