//! Validated GeoJSON polygons and lon/lat bounding boxes (contract §5, "Geometry validation").
//!
//! [`PolygonGeometry::parse`] (or, for imports, [`PolygonGeometry::parse_without_limits`]) is the
//! only way to get a [`PolygonGeometry`], so a polygon stored through this service is always a
//! GeoJSON `Polygon` that is OGC-valid; an imported polygon whose geometry is refused is kept as
//! [`PolygonShape::Invalid`](crate::polygon::PolygonShape::Invalid) instead. Checks run cheapest
//! first and stop at the first problem:
//!
//! 1. structure: a JSON object, `type` `"Polygon"`, `coordinates` an array of rings;
//! 2. limits ([`PolygonLimits`]): rings, then positions over all rings (counted from the array
//!    lengths, before any position is read);
//! 3. every ring has at least 4 positions, every position is 2 or 3 finite numbers (an altitude
//!    is allowed and ignored) with longitude in [-180, 180] and latitude in [-90, 90];
//! 4. every ring is closed (first position equals last);
//! 5. no ring is degenerate: ignoring repeated consecutive positions it keeps at least 3
//!    distinct vertices, not all on one line;
//! 6. OGC validity, with geo's predicates: rings do not self-intersect, holes lie inside the shell
//!    and do not overlap (see `topology`).
//!
//! Coordinates are planar lon/lat degrees; the antimeridian gets no special treatment.

mod bbox;
mod errors;
mod topology;

#[cfg(test)]
mod tests;

use geo::Coord;
use geo::kernels::{Kernel, Orientation, RobustKernel};
use serde_json::Value;

pub use bbox::BoundingBox;
pub use errors::{BoundingBoxError, GeometryError};

/// Default of [`PolygonLimits::max_positions`].
pub const DEFAULT_MAX_POSITIONS: usize = 10_000;
/// Default of [`PolygonLimits::max_rings`].
pub const DEFAULT_MAX_RINGS: usize = 100;

/// Longest `type` string echoed back in [`GeometryError::WrongType`].
const MAX_ECHOED_TYPE_CHARS: usize = 64;

/// Size limits of a polygon (configurable by the deployment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolygonLimits {
    /// Most positions over all rings, closing positions included.
    pub max_positions: usize,
    /// Most rings, the shell included.
    pub max_rings: usize,
}

impl PolygonLimits {
    /// No limit at all (for geometry read back or imported, never for a request).
    const fn unlimited() -> Self {
        Self {
            max_positions: usize::MAX,
            max_rings: usize::MAX,
        }
    }
}

impl Default for PolygonLimits {
    /// 10,000 positions and 100 rings.
    fn default() -> Self {
        Self {
            max_positions: DEFAULT_MAX_POSITIONS,
            max_rings: DEFAULT_MAX_RINGS,
        }
    }
}

/// A GeoJSON Polygon geometry that passed validation; only built through
/// [`PolygonGeometry::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonGeometry {
    /// The `coordinates` member exactly as received.
    coordinates: Value,
    /// The bounding box of the exterior ring.
    bbox: BoundingBox,
    /// The exterior ring as (lon, lat), closed.
    exterior: Vec<(f64, f64)>,
    /// The holes as (lon, lat), each closed.
    holes: Vec<Vec<(f64, f64)>>,
}

impl PolygonGeometry {
    /// Validates a GeoJSON geometry object against contract §5; the error names the first
    /// problem found and where it is.
    pub fn parse(value: &Value, limits: PolygonLimits) -> Result<Self, GeometryError> {
        let (coordinates, parsed) = parse_structure(value, limits)?;
        let simplified = parsed
            .iter()
            .enumerate()
            .map(|(ring, positions)| non_degenerate(ring, positions))
            .collect::<Result<Vec<_>, _>>()?;
        for (ring, coords) in simplified.iter().enumerate() {
            if let Some(point) = topology::self_intersection(coords) {
                return Err(GeometryError::SelfIntersection {
                    ring,
                    lon: point.x,
                    lat: point.y,
                });
            }
        }
        topology::check_holes(&simplified)?;
        Self::assemble(coordinates, parsed)
    }

    /// Validates a geometry with every rule of [`PolygonGeometry::parse`] but no size limits:
    /// for geometry stored before this service existed (an import), which no deployment's
    /// limits applied to. Unlike [`PolygonGeometry::from_stored`], topology is checked in full.
    pub fn parse_without_limits(value: &Value) -> Result<Self, GeometryError> {
        Self::parse(value, PolygonLimits::unlimited())
    }

    /// Reads back a geometry that [`PolygonGeometry::parse`] accepted when it was stored. The
    /// structure is checked again (a corrupt row is an error, never a panic), but the topology
    /// checks, the costly part, are not repeated on every read, and no size limits apply (they
    /// may have been lowered since the polygon was stored).
    pub fn from_stored(value: &Value) -> Result<Self, GeometryError> {
        let (coordinates, parsed) = parse_structure(value, PolygonLimits::unlimited())?;
        Self::assemble(coordinates, parsed)
    }

    fn assemble(coordinates: &Value, rings: Vec<Ring>) -> Result<Self, GeometryError> {
        let mut rings = rings.into_iter();
        let exterior = rings.next().unwrap_or_default();
        let holes: Vec<_> = rings.collect();
        let bbox = BoundingBox::around(&exterior).ok_or(GeometryError::NoRings)?;
        Ok(Self {
            coordinates: coordinates.clone(),
            bbox,
            exterior,
            holes,
        })
    }

    /// The geometry as GeoJSON: exactly `{"type":"Polygon","coordinates": …}` with the
    /// coordinates as received (so `146` stays `146` and `146.25` stays `146.25`); foreign
    /// members and `bbox` are dropped.
    pub fn to_geojson(&self) -> Value {
        serde_json::json!({
            "type": "Polygon",
            "coordinates": self.coordinates.clone(),
        })
    }

    /// The bounding box of the exterior ring (holes lie inside it).
    pub fn bbox(&self) -> BoundingBox {
        self.bbox
    }

    /// The exterior ring's positions as (lon, lat), closed (first == last), as received
    /// (altitudes dropped, repeated positions kept).
    pub fn exterior(&self) -> &[(f64, f64)] {
        &self.exterior
    }

    /// The interior rings (holes), each closed, in the order received.
    pub fn holes(&self) -> &[Vec<(f64, f64)>] {
        &self.holes
    }
}

/// The `coordinates` of a GeoJSON object whose `type` is `Polygon`.
/// A ring as (lon, lat) positions, closed.
type Ring = Vec<(f64, f64)>;

/// The checks that need no geometry: type, shape, limits, numbers, ranges, closed rings.
/// Returns the `coordinates` member and the rings as (lon, lat).
fn parse_structure(
    value: &Value,
    limits: PolygonLimits,
) -> Result<(&Value, Vec<Ring>), GeometryError> {
    let coordinates = polygon_coordinates(value)?;
    let rings = rings_within_limits(coordinates, limits)?;
    for (ring, positions) in rings.iter().enumerate() {
        if positions.len() < 4 {
            return Err(GeometryError::TooFewPositions {
                ring,
                count: positions.len(),
            });
        }
    }
    let parsed = rings
        .iter()
        .enumerate()
        .map(|(ring, positions)| parse_ring(ring, positions))
        .collect::<Result<Vec<_>, _>>()?;
    for (ring, positions) in parsed.iter().enumerate() {
        if positions.first() != positions.last() {
            return Err(GeometryError::NotClosed { ring });
        }
    }
    Ok((coordinates, parsed))
}

fn polygon_coordinates(value: &Value) -> Result<&Value, GeometryError> {
    let object = value.as_object().ok_or(GeometryError::NotAnObject)?;
    match object.get("type") {
        Some(Value::String(kind)) if kind == "Polygon" => {}
        Some(Value::String(kind)) => {
            return Err(GeometryError::WrongType {
                got: kind.chars().take(MAX_ECHOED_TYPE_CHARS).collect(),
            });
        }
        _ => return Err(GeometryError::MissingType),
    }
    object
        .get("coordinates")
        .ok_or(GeometryError::CoordinatesNotArray)
}

/// The rings as arrays of (unchecked) positions, refusing more rings or positions than allowed.
fn rings_within_limits(
    coordinates: &Value,
    limits: PolygonLimits,
) -> Result<Vec<&Vec<Value>>, GeometryError> {
    let rings = coordinates
        .as_array()
        .ok_or(GeometryError::CoordinatesNotArray)?;
    if rings.is_empty() {
        return Err(GeometryError::NoRings);
    }
    if rings.len() > limits.max_rings {
        return Err(GeometryError::TooManyRings {
            count: rings.len(),
            max: limits.max_rings,
        });
    }
    let mut total = 0_usize;
    let mut arrays = Vec::with_capacity(rings.len());
    for (ring, value) in rings.iter().enumerate() {
        let positions = value
            .as_array()
            .ok_or(GeometryError::RingNotArray { ring })?;
        total = total.saturating_add(positions.len());
        arrays.push(positions);
    }
    if total > limits.max_positions {
        return Err(GeometryError::TooManyPositions {
            count: total,
            max: limits.max_positions,
        });
    }
    Ok(arrays)
}

/// A ring's positions as (lon, lat).
fn parse_ring(ring: usize, positions: &[Value]) -> Result<Vec<(f64, f64)>, GeometryError> {
    positions
        .iter()
        .enumerate()
        .map(|(position, value)| parse_position(ring, position, value))
        .collect()
}

/// One position: 2 or 3 finite numbers, longitude and latitude in range.
fn parse_position(
    ring: usize,
    position: usize,
    value: &Value,
) -> Result<(f64, f64), GeometryError> {
    let malformed = || GeometryError::BadPosition { ring, position };
    let numbers = value.as_array().ok_or_else(malformed)?;
    if !(2..=3).contains(&numbers.len()) {
        return Err(malformed());
    }
    let mut values = Vec::with_capacity(numbers.len());
    for number in numbers {
        values.push(number.as_f64().ok_or_else(malformed)?);
    }
    if values.iter().any(|value| !value.is_finite()) {
        return Err(GeometryError::NotFinite { ring, position });
    }
    let (Some(&lon), Some(&lat)) = (values.first(), values.get(1)) else {
        return Err(malformed());
    };
    if !(-180.0..=180.0).contains(&lon) {
        return Err(GeometryError::LongitudeOutOfRange {
            ring,
            position,
            lon,
        });
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(GeometryError::LatitudeOutOfRange {
            ring,
            position,
            lat,
        });
    }
    Ok((lon, lat))
}

/// The closed ring without repeated consecutive positions, refusing rings that collapse to
/// fewer than 3 distinct vertices or to a line.
fn non_degenerate(ring: usize, positions: &[(f64, f64)]) -> Result<Vec<Coord<f64>>, GeometryError> {
    let mut coords: Vec<Coord<f64>> = Vec::with_capacity(positions.len());
    for &(x, y) in positions {
        let coord = Coord { x, y };
        if coords.last() != Some(&coord) {
            coords.push(coord);
        }
    }
    let collapsed = GeometryError::Collapsed { ring };
    if coords.len() < 4 {
        return Err(collapsed);
    }
    let (Some(&first), Some(&second)) = (coords.first(), coords.get(1)) else {
        return Err(collapsed);
    };
    if !coords.iter().any(|c| *c != first && *c != second) {
        return Err(collapsed);
    }
    let collinear = coords.iter().all(|c| {
        <RobustKernel as Kernel<f64>>::orient2d(first, second, *c) == Orientation::Collinear
    });
    if collinear {
        return Err(GeometryError::ZeroArea { ring });
    }
    Ok(coords)
}
