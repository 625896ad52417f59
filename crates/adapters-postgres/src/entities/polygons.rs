//! The `polygons` table: user-owned study areas with their bounding boxes.

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
    /// The GeoJSON geometry, as the domain writes it (`PolygonGeometry::to_geojson`).
    #[sea_orm(column_type = "JsonBinary")]
    pub polygon: Json,
    /// Westmost longitude of the bounding box.
    pub min_lon: f64,
    /// Southmost latitude of the bounding box.
    pub min_lat: f64,
    /// Eastmost longitude of the bounding box.
    pub max_lon: f64,
    /// Northmost latitude of the bounding box.
    pub max_lat: f64,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Time of the last geometry change (the creation time until then).
    pub updated_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
