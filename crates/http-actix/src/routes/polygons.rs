//! Polygons (contract §5): owner-scoped CRUD, bbox filter, GeoJSON and KML export.
//!
//! A polygon imported from ReefGuide whose geometry our validation refuses is kept, marked
//! invalid (`invalidReason`, null for every other polygon): it is read, listed (never by a
//! `bbox` filter: it has no bounding box), exported, annotated and deleted like any other, and
//! an update must carry a valid geometry, which clears the mark.

pub mod kml;

use actix_web::{HttpResponse, delete, get, put, routes, web};
use reefguide_domain::geometry::{BoundingBox, PolygonGeometry};
use reefguide_domain::project::ProjectId;
use reefguide_domain::{Note, Polygon, PolygonId, PolygonShape};
use reefguide_ports::services::{PolygonExport, PolygonListing};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::Unauthenticated;
use crate::routes::{Registry, RouteSet};
use crate::wire::{Validation, timestamp};

/// Default and largest page sizes of the polygon listing.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// Largest `offset` (the databases take a signed 64-bit offset; nobody pages this far).
const MAX_OFFSET: u64 = 1_000_000_000;

/// The routes (inside the `/api/polygons` scope, which authenticates and applies the
/// feature gate).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_polygons)
            .handler(create_polygon)
            .handler(get_polygon)
            .handler(update_polygon)
            .handler(delete_polygon);
    }
}

/// A polygon as R1 serialises it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolygonDto {
    /// Id.
    pub id: i32,
    /// Creation time.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub created_at: String,
    /// Owner.
    pub user_id: i32,
    /// The GeoJSON Polygon geometry, as submitted; for a polygon marked invalid, the JSON as
    /// imported, any JSON value (see [`stored_geometry_schema`]).
    #[schema(schema_with = stored_geometry_schema)]
    pub polygon: Value,
    /// Why the geometry is invalid: set only on a polygon imported from ReefGuide whose
    /// geometry this service's validation refuses (e.g. `ring 0 self-intersects near (1, 1)`);
    /// `null` for every other polygon. Updating the polygon with a valid geometry clears it.
    #[serde(rename = "invalidReason")]
    #[schema(required = true, nullable, value_type = Option<String>, example = json!(null))]
    pub invalid_reason: Option<String>,
    /// The project it belongs to (R2), null when none.
    #[schema(required = true, nullable, value_type = Option<i32>, example = json!(null))]
    pub project_id: Option<i32>,
}

impl From<&Polygon> for PolygonDto {
    fn from(polygon: &Polygon) -> Self {
        Self {
            id: polygon.id.get(),
            created_at: timestamp(polygon.created_at),
            user_id: polygon.owner.get(),
            polygon: polygon.shape.to_geojson(),
            invalid_reason: polygon.shape.invalid_reason().map(str::to_owned),
            project_id: polygon.project.map(ProjectId::get),
        }
    }
}

/// The stored geometry: a GeoJSON Polygon object, except on a polygon marked invalid, where it is
/// whatever JSON was imported (an object, but also a number, an array, `null`, …), so the schema
/// constrains nothing.
fn stored_geometry_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .description(Some(
            "The GeoJSON Polygon geometry, as submitted. For a polygon marked invalid \
             (`invalidReason` set), the JSON exactly as it was imported, which may be any JSON \
             value.",
        ))
        .examples([json!({"type": "Polygon", "coordinates": [[[146.1, -18.2], [146.3, -18.2], [146.3, -18.0], [146.1, -18.2]]]})])
        .into()
}

/// `{"polygon": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolygonResponse {
    /// The polygon.
    pub polygon: PolygonDto,
}

/// A geometry to store.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PolygonRequest {
    /// A GeoJSON Polygon: closed rings of at least 4 [lon, lat] positions, no self-intersection,
    /// holes inside the shell.
    #[schema(schema_with = geojson_polygon_schema)]
    pub polygon: Value,
    /// The project to file it under (R2): one the caller sees. On an update, absent keeps the
    /// polygon's project.
    #[serde(
        rename = "projectId",
        default,
        deserialize_with = "optional_whole_number"
    )]
    #[schema(minimum = 1, maximum = 2_147_483_647, value_type = Option<i64>)]
    pub project_id: Option<i64>,
}

/// An optional integer, also as an integer-valued number.
fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "crate::wire::whole_number")] i64);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|Whole(n)| n))
}

/// The shape of a GeoJSON Polygon (RFC 7946 §3.1.6); closure, self-intersection and holes are
/// checked by the server beyond this schema.
fn geojson_polygon_schema() -> utoipa::openapi::Schema {
    let position = serde_json::json!({
        "type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"},
    });
    let schema = serde_json::json!({
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": {"type": "string", "enum": ["Polygon"]},
            "coordinates": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "array", "minItems": 4, "items": position},
            },
        },
    });
    serde_json::from_value(schema).unwrap_or_default()
}

/// Listing paging.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolygonPagination {
    /// Matching polygons in all.
    pub total: u64,
    /// Page size.
    pub limit: u64,
    /// Skipped.
    pub offset: u64,
}

/// A page of polygons.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolygonListResponse {
    /// The polygons, by id.
    pub polygons: Vec<PolygonDto>,
    /// Paging.
    pub pagination: PolygonPagination,
}

/// Listing parameters (all optional).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1..1000 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Polygons to skip, 0..1000000000 (default 0).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<String>,
    /// `minLon,minLat,maxLon,maxLat`: only polygons whose bounding box intersects it.
    #[param(
        pattern = r"^-?[0-9]{1,3}(\.[0-9]+)?(,-?[0-9]{1,3}(\.[0-9]+)?){3}$",
        example = "145.0,-20.0,150.0,-15.0"
    )]
    pub bbox: Option<String>,
    /// `geojson` for a FeatureCollection, `kml` for a KML document; JSON listing otherwise.
    #[param(pattern = "^(geojson|kml)$")]
    pub format: Option<String>,
    /// Only polygons in this project (R2).
    #[serde(rename = "projectId")]
    #[param(rename = "projectId", value_type = Option<i32>, minimum = 1, maximum = 2_147_483_647)]
    pub project_id: Option<String>,
    /// `true`: only the caller's own polygons; else every polygon the caller sees (their own and
    /// those in projects they see; everyone's for ADMIN).
    #[serde(rename = "onlyMine")]
    #[param(rename = "onlyMine", value_type = Option<bool>)]
    pub only_mine: Option<String>,
}

enum Format {
    Json,
    GeoJson,
    Kml,
}

fn parse_listing(params: &ListParams) -> Result<(PolygonListing, Format), ApiError> {
    let mut validation = Validation::default();
    let limit = validation.field(
        "limit",
        params.limit.as_deref().map_or(Ok(DEFAULT_LIMIT), |raw| {
            crate::wire::query_integer_in(raw, 1..=MAX_LIMIT)
                .ok_or_else(|| format!("must be an integer from 1 to {MAX_LIMIT}"))
        }),
    );
    let offset = validation.field(
        "offset",
        params.offset.as_deref().map_or(Ok(0), |raw| {
            crate::wire::query_integer_in(raw, 0..=MAX_OFFSET)
                .ok_or_else(|| format!("must be an integer from 0 to {MAX_OFFSET}"))
        }),
    );
    let bbox = validation.field(
        "bbox",
        params
            .bbox
            .as_deref()
            .map(BoundingBox::parse_query)
            .transpose(),
    );
    let format = validation.field(
        "format",
        match params
            .format
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("json") => Ok(Format::Json),
            Some("geojson") => Ok(Format::GeoJson),
            Some("kml") => Ok(Format::Kml),
            Some(_) => Err("must be geojson or kml"),
        },
    );
    let project = validation.field(
        "projectId",
        params
            .project_id
            .as_deref()
            .map(|raw| {
                crate::wire::query_integer(raw)
                    .and_then(|n| ProjectId::new(n).ok())
                    .ok_or("must be a positive integer")
            })
            .transpose(),
    );
    let only_mine = validation.field(
        "onlyMine",
        match params.only_mine.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err("must be true or false"),
        },
    );
    let (limit, offset, bbox, format) = validation.finish((limit, offset, bbox, format))?;
    let (project, only_mine) = Validation::default().finish((project, only_mine))?;
    Ok((
        PolygonListing {
            bbox,
            limit,
            offset,
            project,
            only_mine,
        },
        format,
    ))
}

/// The caller's polygons (all for ADMIN), as JSON, GeoJSON or KML.
#[utoipa::path(tag = "polygons", security(("bearerAuth" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of polygons; a GeoJSON FeatureCollection with \
            `format=geojson` (`application/geo+json`); a KML document with `format=kml` \
            (`application/vnd.google-earth.kml+xml`). Polygons marked invalid are listed and \
            exported too (never when `bbox` is given: they have no bounding box): as a Feature \
            with `properties.invalidReason` and its stored JSON as `geometry` when that is \
            structurally a GeoJSON geometry, else `null`; as a Placemark without geometry and \
            with an `invalid_reason` Data element.",
            content((PolygonListResponse = "application/json"),
                (Object = "application/geo+json"),
                (String = "application/vnd.google-earth.kml+xml"))),
        (status = 400, description = "Bad limit, offset, bbox or format", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use polygons", body = ErrorBody)))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list_polygons(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let (listing, format) = parse_listing(&params)?;
    match format {
        Format::Json => {
            let page = state.polygons.list(&actor, listing).await?;
            Ok(HttpResponse::Ok().json(PolygonListResponse {
                polygons: page.polygons.iter().map(PolygonDto::from).collect(),
                pagination: PolygonPagination {
                    total: page.total,
                    limit: listing.limit,
                    offset: listing.offset,
                },
            }))
        }
        Format::GeoJson => {
            let page = state.polygons.export(&actor, listing).await?;
            let features: Vec<Value> = page.items.iter().map(feature).collect();
            Ok(HttpResponse::Ok()
                .content_type("application/geo+json")
                .json(json!({"type": "FeatureCollection", "features": features})))
        }
        Format::Kml => {
            let page = state.polygons.export(&actor, listing).await?;
            let document = kml::render(&page.items).map_err(|e| {
                ApiError::unexpected(&anyhow::Error::new(e).context("KML rendering failed"))
            })?;
            Ok(HttpResponse::Ok()
                .content_type(kml::KML_CONTENT_TYPE)
                .body(document))
        }
    }
}

/// A polygon as a GeoJSON Feature. A polygon marked invalid keeps its raw JSON as the geometry
/// only when that is structurally a GeoJSON geometry (`InvalidGeometry::as_geojson_geometry`),
/// else the geometry is `null` (allowed by RFC 7946 §3.2), so the collection always parses; its
/// `properties.invalidReason` says why (`null` for valid polygons).
fn feature(item: &PolygonExport) -> Value {
    let polygon = &item.polygon;
    let notes: Vec<Value> = item.notes.iter().map(note_json).collect();
    let geometry = match &polygon.shape {
        PolygonShape::Valid(geometry) => geometry.to_geojson(),
        PolygonShape::Invalid(invalid) => invalid
            .as_geojson_geometry()
            .cloned()
            .unwrap_or(Value::Null),
    };
    json!({
        "type": "Feature",
        "id": polygon.id.get(),
        "geometry": geometry,
        "properties": {
            "id": polygon.id.get(),
            "created_at": timestamp(polygon.created_at),
            "user_id": polygon.owner.get(),
            "user_email": item.owner_email.as_ref().map(|e| e.as_str()),
            "invalidReason": polygon.shape.invalid_reason(),
            "notes": notes,
        },
    })
}

fn note_json(note: &Note) -> Value {
    json!({
        "id": note.id.get(),
        "created_at": timestamp(note.created_at),
        "content": note.content.as_str(),
        "user_id": note.author.get(),
        "polygon_id": note.polygon_id.get(),
    })
}

/// The geometry and the project of a request, or a 400 naming every bad field.
fn geometry(
    state: &AppState,
    body: &PolygonRequest,
) -> Result<(PolygonGeometry, Option<ProjectId>), ApiError> {
    let mut validation = Validation::default();
    let geometry = validation.field(
        "polygon",
        PolygonGeometry::parse(&body.polygon, state.request.polygon_limits),
    );
    let project = validation.field("projectId", body.project_id.map(ProjectId::new).transpose());
    validation.finish((geometry, project))
}

/// One polygon.
#[utoipa::path(tag = "polygons", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Polygon id")),
    responses(
        (status = 200, description = "The polygon", body = PolygonResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the owner and not ADMIN", body = ErrorBody),
        (status = 404, description = "No such polygon", body = ErrorBody)))]
#[get("/{id}")]
pub async fn get_polygon(
    PathId(id): PathId<PolygonId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<PolygonResponse>, ApiError> {
    let polygon = state.polygons.get(&actor, id).await?;
    Ok(web::Json(PolygonResponse {
        polygon: PolygonDto::from(&polygon),
    }))
}

/// Stores a polygon owned by the caller.
#[utoipa::path(tag = "polygons", security(("bearerAuth" = [])),
    request_body = PolygonRequest,
    responses(
        (status = 200, description = "Stored", body = PolygonResponse),
        (status = 400, description = "Invalid geometry, with the reason", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use polygons", body = ErrorBody)))]
#[routes]
#[post("")]
#[post("/")]
pub async fn create_polygon(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<PolygonRequest>,
) -> Result<web::Json<PolygonResponse>, ApiError> {
    let (geometry, project) = geometry(&state, &body)?;
    let polygon = state.polygons.create(&actor, &geometry, project).await?;
    Ok(web::Json(PolygonResponse {
        polygon: PolygonDto::from(&polygon),
    }))
}

/// Replaces a polygon's geometry; the new one must be valid, also for a polygon marked invalid,
/// whose mark it clears.
#[utoipa::path(tag = "polygons", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Polygon id")), request_body = PolygonRequest,
    responses(
        (status = 200, description = "Updated", body = PolygonResponse),
        (status = 400, description = "Invalid id or geometry", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the owner and not ADMIN", body = ErrorBody),
        (status = 404, description = "No such polygon", body = ErrorBody)))]
#[put("/{id}")]
pub async fn update_polygon(
    PathId(id): PathId<PolygonId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<PolygonRequest>,
) -> Result<web::Json<PolygonResponse>, ApiError> {
    let (geometry, project) = geometry(&state, &body)?;
    let polygon = state
        .polygons
        .update(&actor, id, &geometry, project)
        .await?;
    Ok(web::Json(PolygonResponse {
        polygon: PolygonDto::from(&polygon),
    }))
}

/// Deletes a polygon and its notes.
#[utoipa::path(tag = "polygons", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Polygon id")),
    responses(
        (status = 204, description = "Deleted, with its notes"),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the owner and not ADMIN", body = ErrorBody),
        (status = 404, description = "No such polygon", body = ErrorBody)))]
#[delete("/{id}")]
pub async fn delete_polygon(
    PathId(id): PathId<PolygonId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.polygons.delete(&actor, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
