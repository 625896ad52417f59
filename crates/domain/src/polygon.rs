//! Polygons: user-owned study areas, each with a validated geometry, or, for a polygon imported
//! from an older ReefGuide database, possibly with the invalid geometry it was stored with.
//!
//! Every polygon this service stores itself passed [`PolygonGeometry::parse`]. ReefGuide (R1)
//! stored whatever polygon JSON its clients sent after a light check, so an imported polygon may
//! hold geometry those rules refuse (a self-intersecting ring, `[[]]` coordinates, a number, …).
//! Such a polygon is kept as it was stored, marked invalid with the reason
//! ([`PolygonShape::Invalid`]): it can be read, exported, annotated and deleted, it has no
//! bounding box (so no bounding-box filter finds it), and the only way to change it is to replace
//! its geometry with a valid one, which clears the mark.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::geometry::{BoundingBox, PolygonGeometry};
use crate::project::ProjectId;
use crate::user::UserId;

crate::id::positive_id!(
    /// Identifier of a polygon.
    PolygonId
);

/// The warning [`PolygonShape::from_imported`] gives for a geometry stored as a JSON string.
pub const UNWRAPPED_STRING_WARNING: &str = "stored as a JSON string; unwrapped";

/// A stored polygon.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// Id.
    pub id: PolygonId,
    /// The owner.
    pub owner: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its geometry: valid, or (imported polygons only) invalid with the reason.
    pub shape: PolygonShape,
    /// The project it belongs to, if any (R2): whoever sees the project sees the polygon.
    pub project: Option<ProjectId>,
}

/// What a stored polygon's geometry is.
#[derive(Debug, Clone, PartialEq)]
pub enum PolygonShape {
    /// A geometry that passed validation (every polygon created or updated through this service).
    Valid(PolygonGeometry),
    /// An imported geometry that validation refuses, kept exactly as it was stored.
    Invalid(InvalidGeometry),
}

/// An imported geometry that is not an acceptable polygon, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidGeometry {
    /// The JSON exactly as stored (after unwrapping a geometry stored as a JSON string): any
    /// JSON value, not necessarily an object.
    pub raw: Value,
    /// Why it is refused: the `Display` of the [`GeometryError`](crate::geometry::GeometryError)
    /// validation gave when it was imported (a sentence meant for API clients).
    pub reason: String,
}

impl PolygonShape {
    /// The shape of a polygon imported from a ReefGuide database, whose `polygon` column held
    /// `value`, and a warning for the import's report when the value needed repair.
    ///
    /// - A JSON *string* whose text is JSON is unwrapped first (R1 clients sometimes stored the
    ///   serialised geometry), with the warning [`UNWRAPPED_STRING_WARNING`].
    /// - The value is then validated with every rule of [`PolygonGeometry::parse`] (structure,
    ///   ranges, closed and non-degenerate rings, no self-intersection, holes inside the shell)
    ///   but no size limits ([`PolygonGeometry::parse_without_limits`]).
    /// - A refused value is kept as [`PolygonShape::Invalid`], its `raw` the (unwrapped) value and
    ///   its `reason` the refusal's message. Nothing is ever dropped or "fixed".
    ///
    /// The importer stores [`PolygonShape::to_geojson`] with [`PolygonShape::bbox`] (none when
    /// invalid) and [`PolygonShape::invalid_reason`].
    pub fn from_imported(value: &Value) -> (PolygonShape, Option<String>) {
        let (value, warning) = match value {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(inner) => (Cow::Owned(inner), Some(UNWRAPPED_STRING_WARNING.to_owned())),
                Err(_) => (Cow::Borrowed(value), None),
            },
            _ => (Cow::Borrowed(value), None),
        };
        let shape = match PolygonGeometry::parse_without_limits(&value) {
            Ok(geometry) => PolygonShape::Valid(geometry),
            Err(err) => PolygonShape::Invalid(InvalidGeometry {
                raw: value.into_owned(),
                reason: err.to_string(),
            }),
        };
        (shape, warning)
    }

    /// The valid geometry, if it is valid.
    pub fn valid(&self) -> Option<&PolygonGeometry> {
        match self {
            PolygonShape::Valid(geometry) => Some(geometry),
            PolygonShape::Invalid(_) => None,
        }
    }

    /// The invalid geometry, if it is invalid.
    pub fn invalid(&self) -> Option<&InvalidGeometry> {
        match self {
            PolygonShape::Valid(_) => None,
            PolygonShape::Invalid(invalid) => Some(invalid),
        }
    }

    /// Why the geometry is invalid; `None` when it is valid.
    pub fn invalid_reason(&self) -> Option<&str> {
        self.invalid().map(|invalid| invalid.reason.as_str())
    }

    /// The bounding box of a valid geometry; `None` for an invalid one (it has none: an invalid
    /// polygon never matches a bounding-box filter).
    pub fn bbox(&self) -> Option<BoundingBox> {
        self.valid().map(PolygonGeometry::bbox)
    }

    /// The geometry as stored and shown: [`PolygonGeometry::to_geojson`] when valid, the raw
    /// JSON (any JSON value) when invalid.
    pub fn to_geojson(&self) -> Value {
        match self {
            PolygonShape::Valid(geometry) => geometry.to_geojson(),
            PolygonShape::Invalid(invalid) => invalid.raw.clone(),
        }
    }
}

impl From<PolygonGeometry> for PolygonShape {
    fn from(geometry: PolygonGeometry) -> Self {
        PolygonShape::Valid(geometry)
    }
}

impl InvalidGeometry {
    /// The raw JSON when it is, structurally, a GeoJSON geometry (RFC 7946 §3.1): an object whose
    /// `type` is `Point`, `MultiPoint`, `LineString`, `MultiLineString`, `Polygon` or
    /// `MultiPolygon` and whose `coordinates` nest arrays as deep as that type requires down to
    /// positions of 2 or 3 finite numbers (empty arrays allowed). Rings need not be closed,
    /// simple or long enough: that is what makes it invalid. `None` otherwise, e.g. for a number,
    /// an unknown type or malformed positions, so that an export holding it stays a GeoJSON
    /// document any reader can parse.
    pub fn as_geojson_geometry(&self) -> Option<&Value> {
        let object = self.raw.as_object()?;
        let depth = match object.get("type")?.as_str()? {
            "Point" => 0,
            "MultiPoint" | "LineString" => 1,
            "MultiLineString" | "Polygon" => 2,
            "MultiPolygon" => 3,
            _ => return None,
        };
        nested_positions(object.get("coordinates")?, depth).then_some(&self.raw)
    }
}

/// Whether `value` is a position (depth 0) or an array of `depth`-deep nested positions.
fn nested_positions(value: &Value, depth: usize) -> bool {
    let Some(items) = value.as_array() else {
        return false;
    };
    match depth.checked_sub(1) {
        None => {
            (2..=3).contains(&items.len())
                && items.iter().all(|n| n.as_f64().is_some_and(f64::is_finite))
        }
        Some(inner) => items.iter().all(|item| nested_positions(item, inner)),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn valid_square() -> Value {
        json!({"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]]})
    }

    fn bow_tie() -> Value {
        json!({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]})
    }

    fn invalid(shape: &PolygonShape) -> &InvalidGeometry {
        shape.invalid().expect("marked invalid")
    }

    #[test]
    fn a_valid_polygon_is_valid_without_warning() {
        let (shape, warning) = PolygonShape::from_imported(&valid_square());
        assert_eq!(warning, None);
        let geometry = shape.valid().expect("valid");
        assert_eq!(shape.to_geojson(), valid_square());
        assert_eq!(shape.bbox(), Some(geometry.bbox()));
        assert_eq!(shape.invalid_reason(), None);
        assert_eq!(
            shape.bbox().map(|b| (b.min_lon(), b.max_lat())),
            Some((0.0, 4.0))
        );
    }

    #[test]
    fn foreign_members_of_a_valid_polygon_are_dropped_as_for_a_request() {
        let mut value = valid_square();
        value["properties"] = json!({"name": "reef"});
        let (shape, warning) = PolygonShape::from_imported(&value);
        assert_eq!(warning, None);
        assert_eq!(shape.to_geojson(), valid_square());
    }

    #[test]
    fn a_bow_tie_is_kept_invalid_with_the_reason() {
        let (shape, warning) = PolygonShape::from_imported(&bow_tie());
        assert_eq!(warning, None);
        let invalid = invalid(&shape);
        assert_eq!(invalid.raw, bow_tie());
        assert_eq!(invalid.reason, "ring 0 self-intersects near (1, 1)");
        assert_eq!(shape.invalid_reason(), Some(invalid.reason.as_str()));
        assert_eq!(shape.bbox(), None);
        assert_eq!(shape.to_geojson(), bow_tie());
        assert_eq!(invalid.as_geojson_geometry(), Some(&bow_tie()));
    }

    #[test]
    fn an_empty_ring_is_kept_invalid() {
        let value = json!({"type": "Polygon", "coordinates": [[]]});
        let (shape, warning) = PolygonShape::from_imported(&value);
        assert_eq!(warning, None);
        let invalid = invalid(&shape);
        assert_eq!(invalid.raw, value);
        assert_eq!(
            invalid.reason,
            "ring 0 has 0 positions; a ring needs at least 4"
        );
        assert_eq!(invalid.as_geojson_geometry(), Some(&value));
    }

    #[test]
    fn a_valid_polygon_stored_as_a_json_string_is_unwrapped_with_a_warning() {
        let stored = Value::String(valid_square().to_string());
        let (shape, warning) = PolygonShape::from_imported(&stored);
        assert_eq!(warning.as_deref(), Some(UNWRAPPED_STRING_WARNING));
        assert!(shape.valid().is_some(), "{shape:?}");
        assert_eq!(shape.to_geojson(), valid_square());
    }

    #[test]
    fn an_invalid_polygon_stored_as_a_json_string_is_unwrapped_and_kept_invalid() {
        let stored = Value::String(bow_tie().to_string());
        let (shape, warning) = PolygonShape::from_imported(&stored);
        assert_eq!(warning.as_deref(), Some(UNWRAPPED_STRING_WARNING));
        let invalid = invalid(&shape);
        assert_eq!(invalid.raw, bow_tie(), "raw is the unwrapped object");
        assert!(invalid.reason.contains("self-intersects"), "{invalid:?}");
    }

    #[test]
    fn a_string_that_is_not_json_is_kept_as_the_string() {
        let stored = json!("not json at all");
        let (shape, warning) = PolygonShape::from_imported(&stored);
        assert_eq!(warning, None);
        let invalid = invalid(&shape);
        assert_eq!(invalid.raw, stored);
        assert_eq!(invalid.reason, "geometry must be a JSON object");
        assert_eq!(invalid.as_geojson_geometry(), None);
    }

    #[rstest]
    #[case::number(json!(42))]
    #[case::null(Value::Null)]
    #[case::array(json!([[0, 0], [1, 1]]))]
    fn a_value_that_is_not_an_object_is_kept_invalid(#[case] value: Value) {
        let (shape, warning) = PolygonShape::from_imported(&value);
        assert_eq!(warning, None);
        let invalid = invalid(&shape);
        assert_eq!(invalid.raw, value);
        assert_eq!(invalid.reason, "geometry must be a JSON object");
        assert_eq!(shape.to_geojson(), value);
        assert_eq!(shape.bbox(), None);
        assert_eq!(invalid.as_geojson_geometry(), None);
    }

    #[test]
    fn size_limits_do_not_apply_to_imports() {
        let ring: Vec<Value> = (0..=20_000)
            .map(|i| {
                let angle = std::f64::consts::TAU * f64::from(i % 20_000) / 20_000.0;
                json!([angle.cos(), angle.sin()])
            })
            .collect();
        let value = json!({"type": "Polygon", "coordinates": [ring]});
        let (shape, _) = PolygonShape::from_imported(&value);
        assert!(shape.valid().is_some(), "{:?}", shape.invalid_reason());
    }

    #[rstest]
    #[case::point(json!({"type": "Point", "coordinates": [1, 2]}), true)]
    #[case::line(json!({"type": "LineString", "coordinates": [[1, 2], [3, 4.5, 9]]}), true)]
    #[case::empty_polygon(json!({"type": "Polygon", "coordinates": []}), true)]
    #[case::multipolygon(json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 1]]]]}), true)]
    #[case::unknown_type(json!({"type": "Banana", "coordinates": [1, 2]}), false)]
    #[case::collection(json!({"type": "GeometryCollection", "geometries": []}), false)]
    #[case::no_coordinates(json!({"type": "Polygon"}), false)]
    #[case::too_shallow(json!({"type": "Polygon", "coordinates": [[0, 0], [1, 1]]}), false)]
    #[case::too_deep(json!({"type": "Point", "coordinates": [[1, 2]]}), false)]
    #[case::text_position(json!({"type": "Polygon", "coordinates": [[["a", 0]]]}), false)]
    #[case::one_number(json!({"type": "Polygon", "coordinates": [[[0]]]}), false)]
    #[case::type_not_string(json!({"type": 1, "coordinates": [1, 2]}), false)]
    fn only_structural_geojson_geometries_are_exported(#[case] raw: Value, #[case] kept: bool) {
        let invalid = InvalidGeometry {
            raw: raw.clone(),
            reason: "test".to_owned(),
        };
        assert_eq!(invalid.as_geojson_geometry().is_some(), kept, "{raw}");
    }
}
