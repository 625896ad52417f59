//! Tests of polygon parsing: one per refusal reason, the accepted shapes, and agreement with
//! `geo::Validation`.

use geo::{Coord, LineString, Polygon, Validation};
use rstest::rstest;
use serde_json::{Value, json};

use super::*;

fn polygon(coordinates: Value) -> Value {
    json!({"type": "Polygon", "coordinates": coordinates})
}

fn parse(value: &Value) -> Result<PolygonGeometry, GeometryError> {
    PolygonGeometry::parse(value, PolygonLimits::default())
}

fn square() -> Value {
    json!([[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]])
}

/// A closed ring of `vertices` distinct points on a circle (so `vertices + 1` positions).
fn circle(center: (f64, f64), radius: f64, vertices: usize) -> Value {
    let mut ring: Vec<Value> = (0..vertices)
        .map(|i| {
            let angle = std::f64::consts::TAU * i as f64 / vertices as f64;
            json!([
                center.0 + radius * angle.cos(),
                center.1 + radius * angle.sin()
            ])
        })
        .collect();
    ring.push(ring.first().cloned().expect("at least one vertex"));
    Value::Array(ring)
}

/// A realistic reef study area off Townsville, around (146.2, -18.1).
fn reef() -> Value {
    json!([
        [146.05, -18.21],
        [146.18, -18.26],
        [146.33, -18.22],
        [146.41, -18.1],
        [146.36, -17.97],
        [146.22, -17.93],
        [146.09, -17.98],
        [146.02, -18.09],
        [146.05, -18.21]
    ])
}

#[rstest]
#[case::array_geometry(json!([[0, 0]]), GeometryError::NotAnObject)]
#[case::string_geometry(json!("Polygon"), GeometryError::NotAnObject)]
#[case::null_geometry(Value::Null, GeometryError::NotAnObject)]
#[case::type_missing(json!({"coordinates": [square()]}), GeometryError::MissingType)]
#[case::type_not_a_string(json!({"type": 7, "coordinates": [square()]}), GeometryError::MissingType)]
#[case::multipolygon(
    json!({"type": "MultiPolygon", "coordinates": [[square()], [square()]]}),
    GeometryError::WrongType { got: "MultiPolygon".to_owned() }
)]
#[case::lowercase_type(
    json!({"type": "polygon", "coordinates": [square()]}),
    GeometryError::WrongType { got: "polygon".to_owned() }
)]
#[case::coordinates_missing(json!({"type": "Polygon"}), GeometryError::CoordinatesNotArray)]
#[case::coordinates_object(polygon(json!({"ring": 0})), GeometryError::CoordinatesNotArray)]
#[case::coordinates_empty(polygon(json!([])), GeometryError::NoRings)]
#[case::ring_empty(polygon(json!([[]])), GeometryError::TooFewPositions { ring: 0, count: 0 })]
#[case::ring_not_array(polygon(json!([square(), 5])), GeometryError::RingNotArray { ring: 1 })]
#[case::three_positions(
    polygon(json!([[[0, 0], [1, 0], [0, 0]]])),
    GeometryError::TooFewPositions { ring: 0, count: 3 }
)]
#[case::hole_with_three_positions(
    polygon(json!([square(), [[1, 1], [2, 1], [1, 1]]])),
    GeometryError::TooFewPositions { ring: 1, count: 3 }
)]
#[case::latitude_91(
    polygon(json!([[[0, 0], [1, 0], [1, 91], [0, 0]]])),
    GeometryError::LatitudeOutOfRange { ring: 0, position: 2, lat: 91.0 }
)]
#[case::longitude_minus_181(
    polygon(json!([[[0, 0], [-181, 0], [1, 1], [0, 0]]])),
    GeometryError::LongitudeOutOfRange { ring: 0, position: 1, lon: -181.0 }
)]
#[case::nan_string(
    polygon(json!([[[0, 0], [1, 0], ["NaN", 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 2 }
)]
#[case::infinity_string(
    polygon(json!([[[0, 0], [1, "Infinity"], [1, 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 1 }
)]
#[case::null_position(
    polygon(json!([[[0, 0], [1, 0], null, [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 2 }
)]
#[case::null_latitude(
    polygon(json!([[[0, 0], [1, null], [1, 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 1 }
)]
#[case::one_number(
    polygon(json!([[[0, 0], [1], [1, 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 1 }
)]
#[case::four_numbers(
    polygon(json!([[[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 1 }
)]
#[case::nested_array(
    polygon(json!([[[0, 0], [[1, 0], 0], [1, 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 1 }
)]
#[case::non_numeric_altitude(
    polygon(json!([[[0, 0], [1, 0, "high"], [1, 1], [0, 0]]])),
    GeometryError::BadPosition { ring: 0, position: 1 }
)]
#[case::bad_position_in_hole(
    polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [true, 1], [1, 1]]])),
    GeometryError::BadPosition { ring: 1, position: 3 }
)]
#[case::open_ring(
    polygon(json!([[[0, 0], [1, 0], [1, 1], [0, 1]]])),
    GeometryError::NotClosed { ring: 0 }
)]
#[case::open_hole(
    polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [1, 2]]])),
    GeometryError::NotClosed { ring: 1 }
)]
#[case::collinear(
    polygon(json!([[[0, 0], [1, 1], [2, 2], [0, 0]]])),
    GeometryError::ZeroArea { ring: 0 }
)]
#[case::collinear_hole(
    polygon(json!([square(), [[1, 1], [2, 1], [3, 1], [1, 1]]])),
    GeometryError::ZeroArea { ring: 1 }
)]
#[case::duplicates_collapse(
    polygon(json!([[[0, 0], [0, 0], [1, 0], [1, 0], [0, 0]]])),
    GeometryError::Collapsed { ring: 0 }
)]
#[case::back_and_forth(
    polygon(json!([[[0, 0], [1, 0], [0, 0], [1, 0], [0, 0]]])),
    GeometryError::Collapsed { ring: 0 }
)]
#[case::hole_collapses(
    polygon(json!([square(), [[1, 1], [1, 1], [2, 2], [2, 2], [1, 1]]])),
    GeometryError::Collapsed { ring: 1 }
)]
#[case::bow_tie(
    polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]])),
    GeometryError::SelfIntersection { ring: 0, lon: 1.0, lat: 1.0 }
)]
#[case::figure_eight_touching_at_a_vertex(
    polygon(json!([[[0, 0], [2, 0], [1, 1], [2, 2], [0, 2], [1, 1], [0, 0]]])),
    GeometryError::SelfIntersection { ring: 0, lon: 1.0, lat: 1.0 }
)]
#[case::spike(
    polygon(json!([[[0, 0], [4, 0], [4, 4], [2, 4], [2, 6], [2, 4], [0, 4], [0, 0]]])),
    GeometryError::SelfIntersection { ring: 0, lon: 2.0, lat: 4.0 }
)]
#[case::self_intersecting_hole(
    polygon(json!([square(), [[1, 1], [3, 3], [3, 1], [1, 3], [1, 1]]])),
    GeometryError::SelfIntersection { ring: 1, lon: 2.0, lat: 2.0 }
)]
#[case::hole_outside_shell(
    polygon(json!([square(), [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]])),
    GeometryError::HoleOutsideShell { hole: 1 }
)]
#[case::hole_around_shell(
    polygon(json!([square(), [[-1, -1], [5, -1], [5, 5], [-1, 5], [-1, -1]]])),
    GeometryError::HoleOutsideShell { hole: 1 }
)]
#[case::second_hole_outside_touching_a_corner(
    polygon(json!([
        square(),
        [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]],
        [[4, 4], [5, 4], [5, 5], [4, 5], [4, 4]]
    ])),
    GeometryError::HoleOutsideShell { hole: 2 }
)]
#[case::hole_through_a_vertex(
    polygon(json!([square(), [[4, 2], [5, 3], [3, 3], [4, 2]]])),
    GeometryError::HoleCrossesShell { hole: 1, lon: 4.0, lat: 3.0 }
)]
#[case::hole_along_the_shell(
    polygon(json!([square(), [[0, 1], [2, 1], [2, 3], [0, 3], [0, 1]]])),
    GeometryError::HoleTouchesShell { hole: 1 }
)]
#[case::overlapping_holes(
    polygon(json!([
        square(),
        [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]],
        [[2, 2], [3.5, 2], [3.5, 3.5], [2, 3.5], [2, 2]]
    ])),
    GeometryError::HolesOverlap { first: 1, second: 2 }
)]
#[case::hole_in_hole(
    polygon(json!([
        square(),
        [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]],
        [[1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5], [1.5, 1.5]]
    ])),
    GeometryError::HolesOverlap { first: 1, second: 2 }
)]
#[case::holes_sharing_an_edge(
    polygon(json!([
        square(),
        [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]],
        [[2, 1], [3, 1], [3, 2], [2, 2], [2, 1]]
    ])),
    GeometryError::HolesTouch { first: 1, second: 2 }
)]
fn refuses(#[case] value: Value, #[case] expected: GeometryError) {
    assert_eq!(parse(&value), Err(expected));
}

#[test]
fn hole_crossing_the_shell_is_located_at_a_crossing() {
    let value = polygon(json!([square(), [[3, 1], [5, 1], [5, 3], [3, 3], [3, 1]]]));
    let error = parse(&value).expect_err("hole crosses the shell");
    assert!(
        matches!(
            error,
            GeometryError::HoleCrossesShell { hole: 1, lon, lat }
                if lon == 4.0 && (lat == 1.0 || lat == 3.0)
        ),
        "{error:?}"
    );
}

#[test]
fn refuses_10_001_positions_before_reading_them() {
    // One more than the default limit; positions are garbage to show they are never read.
    let ring: Vec<Value> = (0..10_001).map(|_| json!("not a position")).collect();
    assert_eq!(
        parse(&polygon(json!([ring]))),
        Err(GeometryError::TooManyPositions {
            count: 10_001,
            max: 10_000
        })
    );
}

#[test]
fn counts_positions_over_all_rings() {
    let limits = PolygonLimits {
        max_positions: 9,
        max_rings: 100,
    };
    let value = polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]));
    assert_eq!(
        PolygonGeometry::parse(&value, limits),
        Err(GeometryError::TooManyPositions { count: 10, max: 9 })
    );
}

#[test]
fn refuses_101_rings() {
    let rings: Vec<Value> = (0..101).map(|_| square()).collect();
    assert_eq!(
        parse(&polygon(Value::Array(rings))),
        Err(GeometryError::TooManyRings {
            count: 101,
            max: 100
        })
    );
}

#[test]
fn limits_are_configurable() {
    let limits = PolygonLimits {
        max_positions: 10_000,
        max_rings: 1,
    };
    let value = polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]));
    assert_eq!(
        PolygonGeometry::parse(&value, limits),
        Err(GeometryError::TooManyRings { count: 2, max: 1 })
    );
    assert_eq!(
        PolygonLimits::default(),
        PolygonLimits {
            max_positions: 10_000,
            max_rings: 100
        }
    );
}

#[test]
fn long_type_names_are_cut_in_the_error() {
    let kind = "X".repeat(1_000);
    let error = parse(&json!({"type": kind, "coordinates": [square()]})).expect_err("wrong type");
    assert_eq!(
        error,
        GeometryError::WrongType {
            got: "X".repeat(64)
        }
    );
}

#[rstest]
#[case::not_an_object(json!(null), "geometry must be a JSON object")]
#[case::multipolygon(
    json!({"type": "MultiPolygon", "coordinates": []}),
    "type must be \"Polygon\", got \"MultiPolygon\""
)]
#[case::no_rings(polygon(json!([])), "polygon must have at least one ring")]
#[case::three_positions(
    polygon(json!([[[0, 0], [1, 0], [0, 0]]])),
    "ring 0 has 3 positions; a ring needs at least 4"
)]
#[case::bad_position(
    polygon(json!([[[0, 0], [1, 0], ["NaN", 1], [0, 0]]])),
    "ring 0 position 2 must be [longitude, latitude] numbers"
)]
#[case::longitude(
    polygon(json!([[[0, 0], [1, 0], [181, 1], [0, 0]]])),
    "ring 0 position 2 longitude 181 is out of range [-180, 180]"
)]
#[case::huge_latitude(
    polygon(json!([[[0, 0], [1, 0], [1, 1e300], [0, 0]]])),
    "ring 0 position 2 latitude 1e300 is out of range [-90, 90]"
)]
#[case::open(
    polygon(json!([[[0, 0], [1, 0], [1, 1], [0, 1]]])),
    "ring 0 is not closed (first position differs from last)"
)]
#[case::collapsed(
    polygon(json!([square(), [[1, 1], [1, 1], [2, 2], [2, 2], [1, 1]]])),
    "ring 1 collapses to fewer than 3 distinct points"
)]
#[case::bow_tie(
    polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]])),
    "ring 0 self-intersects near (1, 1)"
)]
#[case::reef_bow_tie(
    polygon(json!([[[146.1, -18.2], [146.3, -18.0], [146.3, -18.2], [146.1, -18.0], [146.1, -18.2]]])),
    "ring 0 self-intersects near (146.2, -18.1)"
)]
#[case::hole_outside(
    polygon(json!([square(), [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]])),
    "hole 1 is not inside the shell"
)]
#[case::hole_crossing(
    polygon(json!([square(), [[4, 2], [5, 3], [3, 3], [4, 2]]])),
    "hole 1 crosses the shell near (4, 3)"
)]
#[case::holes_overlap(
    polygon(json!([
        square(),
        [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]],
        [[2, 2], [3.5, 2], [3.5, 3.5], [2, 3.5], [2, 2]]
    ])),
    "holes 1 and 2 overlap"
)]
fn error_messages_name_what_and_where(#[case] value: Value, #[case] expected: &str) {
    assert_eq!(parse(&value).expect_err("refused").to_string(), expected);
}

#[test]
fn too_many_messages() {
    assert_eq!(
        GeometryError::TooManyRings {
            count: 101,
            max: 100
        }
        .to_string(),
        "too many rings: 101 (at most 100)"
    );
    assert_eq!(
        GeometryError::TooManyPositions {
            count: 10_001,
            max: 10_000
        }
        .to_string(),
        "too many positions: 10001 (at most 10000)"
    );
}

#[rstest]
#[case::square(polygon(json!([square()])))]
#[case::clockwise_square(polygon(json!([[[0, 0], [0, 4], [4, 4], [4, 0], [0, 0]]])))]
#[case::triangle(polygon(json!([[[0, 0], [1, 0], [0, 1], [0, 0]]])))]
#[case::one_hole(polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]])))]
#[case::two_holes(polygon(json!([
    square(),
    [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]],
    [[2.5, 2.5], [3.5, 2.5], [3.5, 3.5], [2.5, 3.5], [2.5, 2.5]]
])))]
#[case::hole_touching_shell_at_a_point(
    polygon(json!([square(), [[0, 2], [2, 1], [3, 2], [2, 3], [0, 2]]]))
)]
#[case::holes_touching_at_a_point(polygon(json!([
    square(),
    [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]],
    [[2, 2], [3, 2], [3, 3], [2, 3], [2, 2]]
])))]
#[case::altitude(polygon(json!([[[0, 0, 10], [4, 0, 12.5], [4, 4, -3], [0, 4], [0, 0, 10]]])))]
#[case::duplicate_consecutive_point(
    polygon(json!([[[0, 0], [4, 0], [4, 0], [4, 4], [0, 4], [0, 0], [0, 0]]]))
)]
#[case::world_extent(polygon(json!([[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]])))]
#[case::reef(polygon(json!([reef()])))]
#[case::reef_with_islands(polygon(json!([
    reef(),
    [[146.15, -18.15], [146.2, -18.15], [146.2, -18.1], [146.15, -18.15]],
    [[146.25, -18.05], [146.3, -18.05], [146.28, -18.0], [146.25, -18.05]]
])))]
#[case::foreign_members(json!({
    "type": "Polygon",
    "coordinates": [square()],
    "bbox": [0, 0, 4, 4],
    "properties": {"name": "x"}
}))]
fn accepts(#[case] value: Value) {
    let parsed = parse(&value);
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn to_geojson_keeps_the_coordinates_verbatim() {
    let coordinates = json!([
        [
            [146, -18],
            [146.25, -18],
            [146.25, -17.875],
            [146, -17.875],
            [146, -18]
        ],
        [
            [146.1, -17.95],
            [146.2, -17.95],
            [146.2, -17.9, 3],
            [146.1, -17.95]
        ]
    ]);
    let value = json!({
        "type": "Polygon",
        "coordinates": coordinates.clone(),
        "bbox": [146, -18, 146.25, -17.875],
        "id": 7
    });
    let parsed = parse(&value).expect("valid");
    assert_eq!(
        parsed.to_geojson(),
        json!({"type": "Polygon", "coordinates": coordinates})
    );
    let reparsed = parse(&parsed.to_geojson()).expect("round trip");
    assert_eq!(reparsed, parsed);
    assert_eq!(
        serde_json::to_string(&parsed.to_geojson()["coordinates"][0][0]).expect("serialises"),
        "[146,-18]"
    );
}

#[test]
fn exposes_rings_and_bbox() {
    let value = polygon(json!([
        [[0, 0, 5], [4, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
        [[1, 1], [2, 1], [2, 2], [1, 1]]
    ]));
    let parsed = parse(&value).expect("valid");
    assert_eq!(
        parsed.exterior(),
        [
            (0.0, 0.0),
            (4.0, 0.0),
            (4.0, 0.0),
            (4.0, 4.0),
            (0.0, 4.0),
            (0.0, 0.0)
        ]
        .as_slice()
    );
    assert_eq!(
        parsed.holes(),
        [vec![(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 1.0)]].as_slice()
    );
    assert_eq!(
        parsed.bbox(),
        BoundingBox::new(0.0, 0.0, 4.0, 4.0).expect("valid box")
    );
}

#[test]
fn reef_bbox_is_its_extent() {
    let parsed = parse(&polygon(json!([reef()]))).expect("valid");
    assert_eq!(
        parsed.bbox(),
        BoundingBox::new(146.02, -18.26, 146.41, -17.93).expect("valid box")
    );
    let query = BoundingBox::parse_query("146.2,-18.1,146.3,-18.0").expect("valid query");
    assert!(parsed.bbox().intersects(&query));
}

#[test]
fn accepts_10_000_positions() {
    let value = polygon(json!([circle((146.2, -18.1), 0.5, 9_999)]));
    let parsed = parse(&value).expect("valid");
    assert_eq!(parsed.exterior().len(), 10_000);
}

#[test]
fn locates_a_crossing_in_a_large_ring() {
    // A 5,000-vertex circle whose last vertex is dragged across to the far side.
    let mut ring = circle((146.2, -18.1), 0.5, 5_000);
    if let Some(position) = ring.get_mut(4_999) {
        *position = json!([146.2 - 0.6, -18.1 + 0.01]);
    }
    let error = parse(&polygon(json!([ring]))).expect_err("self-intersects");
    assert!(
        matches!(error, GeometryError::SelfIntersection { ring: 0, .. }),
        "{error:?}"
    );
}

#[test]
fn long_comb_is_checked_quickly_on_a_small_stack() {
    // 2,499 east-west teeth 10° long: every tooth overlaps every other in longitude, so the
    // sweep must pick latitude, and it must not recurse per segment.
    let mut ring = Vec::new();
    for tooth in 0..2_499 {
        let lat = -30.0 + f64::from(tooth) * 0.01;
        ring.extend([
            json!([140.0, lat]),
            json!([150.0, lat]),
            json!([150.0, lat + 0.005]),
            json!([140.5, lat + 0.005]),
        ]);
    }
    let top = -30.0 + 2_499.0 * 0.01;
    ring.extend([
        json!([140.5, top]),
        json!([139.0, top]),
        json!([139.0, -30.0]),
        json!([140.0, -30.0]),
    ]);
    assert_eq!(ring.len(), 10_000);
    let value = polygon(json!([ring]));
    let parsed = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || parse(&value).map(|p| p.exterior().len()))
        .expect("thread starts")
        .join()
        .expect("no stack overflow");
    assert_eq!(parsed, Ok(10_000));
}

/// The same rings as a geo polygon, repeated positions removed.
fn geo_polygon(value: &Value) -> Polygon<f64> {
    let ring = |ring: &Value| -> LineString<f64> {
        let mut coords: Vec<Coord<f64>> = Vec::new();
        for position in ring.as_array().expect("ring") {
            let coord = Coord {
                x: position[0].as_f64().expect("lon"),
                y: position[1].as_f64().expect("lat"),
            };
            if coords.last() != Some(&coord) {
                coords.push(coord);
            }
        }
        LineString::new(coords)
    };
    let rings = value["coordinates"].as_array().expect("rings");
    let (shell, holes) = rings.split_first().expect("a shell");
    Polygon::new(ring(shell), holes.iter().map(ring).collect())
}

#[rstest]
#[case(polygon(json!([square()])))]
#[case(polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]])))]
#[case(polygon(json!([[[0, 0], [2, 0], [1, 1], [2, 2], [0, 2], [1, 1], [0, 0]]])))]
#[case(polygon(json!([[[0, 0], [4, 0], [4, 4], [2, 4], [2, 6], [2, 4], [0, 4], [0, 0]]])))]
#[case(polygon(json!([[[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [0, 0]]])))]
#[case(polygon(json!([[[0, 0], [4, 0], [4, 4], [0, 4], [4, 2], [0, 0]]])))]
#[case(polygon(json!([square(), [[1, 1], [3, 3], [3, 1], [1, 3], [1, 1]]])))]
#[case(polygon(json!([square(), [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]])))]
#[case(polygon(json!([square(), [[3, 1], [5, 1], [5, 3], [3, 3], [3, 1]]])))]
#[case(polygon(json!([square(), [[4, 2], [5, 3], [3, 3], [4, 2]]])))]
#[case(polygon(json!([square(), [[0, 1], [2, 1], [2, 3], [0, 3], [0, 1]]])))]
#[case(polygon(json!([square(), [[0, 2], [2, 1], [3, 2], [2, 3], [0, 2]]])))]
#[case(polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]], [[2, 2], [3, 2], [3, 3], [2, 3], [2, 2]]])))]
#[case(polygon(json!([square(), [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]], [[2, 1], [3, 1], [3, 2], [2, 2], [2, 1]]])))]
#[case(polygon(json!([square(), [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]], [[2, 2], [3.5, 2], [3.5, 3.5], [2, 3.5], [2, 2]]])))]
#[case(polygon(json!([square(), [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]], [[1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5], [1.5, 1.5]]])))]
#[case(polygon(json!([reef()])))]
#[case(polygon(json!([circle((146.2, -18.1), 0.5, 300), circle((146.2, -18.1), 0.2, 100)])))]
#[case(polygon(json!([circle((146.2, -18.1), 0.5, 300), circle((146.6, -18.1), 0.2, 100)])))]
fn topology_verdict_matches_geo_validation(#[case] value: Value) {
    let ours = parse(&value);
    let geo = geo_polygon(&value).check_validation();
    assert_eq!(ours.is_ok(), geo.is_ok(), "ours: {ours:?}, geo: {geo:?}");
}

#[test]
fn from_stored_reads_back_what_parse_accepted() {
    let value = serde_json::json!({"type": "Polygon", "coordinates": [
        [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
        [[2, 2], [4, 2], [4, 4], [2, 2]]
    ]});
    let parsed = PolygonGeometry::parse(&value, PolygonLimits::default()).expect("valid");
    let stored = PolygonGeometry::from_stored(&parsed.to_geojson()).expect("readable");
    assert_eq!(stored, parsed);
}

#[test]
fn from_stored_ignores_lowered_limits_but_still_checks_structure() {
    let many: Vec<serde_json::Value> = (0..=200)
        .map(|i| {
            let angle = f64::from(i) / 200.0 * std::f64::consts::TAU;
            serde_json::json!([angle.cos(), angle.sin()])
        })
        .collect();
    let mut ring = many;
    ring.push(ring[0].clone());
    let value = serde_json::json!({"type": "Polygon", "coordinates": [ring]});
    let tight = PolygonLimits {
        max_positions: 50,
        max_rings: 1,
    };
    assert!(PolygonGeometry::parse(&value, tight).is_err());
    assert!(PolygonGeometry::from_stored(&value).is_ok());
    let corrupt =
        serde_json::json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], "x", [0, 0]]]});
    assert!(matches!(
        PolygonGeometry::from_stored(&corrupt),
        Err(GeometryError::BadPosition {
            ring: 0,
            position: 2
        })
    ));
}

#[test]
fn parse_without_limits_checks_everything_but_size() {
    let rings: Vec<Value> = (0..101).map(|_| square()).collect();
    let too_many = polygon(Value::Array(rings));
    assert!(matches!(
        parse(&too_many),
        Err(GeometryError::TooManyRings { .. })
    ));
    // Past the size limits the rings are checked in full: these overlap.
    assert_eq!(
        PolygonGeometry::parse_without_limits(&too_many),
        Err(GeometryError::HoleTouchesShell { hole: 1 })
    );
    let big = polygon(Value::Array(vec![circle((146.0, -18.0), 1.0, 10_000)]));
    assert!(parse(&big).is_err(), "over the default 10,000 positions");
    let accepted = PolygonGeometry::parse_without_limits(&big).expect("no size limit");
    assert_eq!(accepted.exterior().len(), 10_001);
    // Topology is not skipped, unlike `from_stored`.
    let bow_tie = polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]));
    assert!(PolygonGeometry::from_stored(&bow_tie).is_ok());
    assert!(matches!(
        PolygonGeometry::parse_without_limits(&bow_tie),
        Err(GeometryError::SelfIntersection { ring: 0, .. })
    ));
}
