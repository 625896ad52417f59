//! The `polygons` table: user-owned study areas with their bounding boxes, and imported ones
//! marked invalid.

use sea_orm::entity::prelude::*;

/// A stored polygon.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "polygons")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Owner (`users.id`, deleted with it).
    pub user_id: i32,
    /// The geometry as the domain writes it (`PolygonShape::to_geojson`): GeoJSON when valid,
    /// the imported JSON, whatever it is, when `invalid_reason` is set.
    #[sea_orm(column_type = "JsonBinary")]
    pub polygon: Json,
    /// Westmost longitude of the bounding box (NULL, like the other three, when invalid).
    pub min_lon: Option<f64>,
    /// Southmost latitude of the bounding box.
    pub min_lat: Option<f64>,
    /// Eastmost longitude of the bounding box.
    pub max_lon: Option<f64>,
    /// Northmost latitude of the bounding box.
    pub max_lat: Option<f64>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Time of the last geometry change (the creation time until then).
    pub updated_at: DateTimeUtc,
    /// Why the imported geometry is invalid; NULL for a valid polygon (m0006). The CHECK
    /// `ck_polygons_validity` keeps a valid row with its four bounding-box columns set and an
    /// invalid one with none.
    pub invalid_reason: Option<String>,
    /// The project it belongs to, if any (`projects.id`, deleted with it; m0010).
    pub project_id: Option<i32>,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
