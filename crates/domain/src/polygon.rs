//! Polygons: user-owned study areas with a validated geometry.

use chrono::{DateTime, Utc};

use crate::geometry::PolygonGeometry;
use crate::user::UserId;

crate::id::positive_id!(
    /// Identifier of a polygon.
    PolygonId
);

/// A stored polygon.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// Id.
    pub id: PolygonId,
    /// The owner.
    pub owner: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its validated geometry.
    pub geometry: PolygonGeometry,
}
