//! Contract §5: polygons. Owner-scoped CRUD, geometry validation, listing with pagination and a
//! bounding-box filter, GeoJSON and KML export, the rule that no user can reach another
//! user's polygon by any route, and polygons imported with invalid geometry (issue 26): readable,
//! listed, exported, annotated and deletable, marked with `invalidReason`, and only ever updated
//! to a valid geometry.

use geojson::{FeatureCollection, GeoJson};
use quick_xml::Reader;
use quick_xml::events::Event;
use reefguide_domain::{PolygonShape, Role};
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{Reply, TestApp};
use reqwest::Method;
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A closed, counter-clockwise square GeoJSON Polygon with integer coordinates.
fn square(x: i64, y: i64, size: i64) -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]],
    })
}

/// A GeoJSON Polygon with the given rings.
fn polygon(rings: Value) -> Value {
    json!({"type": "Polygon", "coordinates": rings})
}

/// A closed ring of `positions` positions (the last repeats the first) on a circle of radius
/// one degree around (146, -18).
fn circle_ring(positions: usize) -> Value {
    let distinct = positions - 1;
    let mut ring: Vec<Value> = (0..distinct)
        .map(|i| {
            let angle = std::f64::consts::TAU * i as f64 / distinct as f64;
            json!([146.0 + angle.cos(), -18.0 + angle.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    Value::Array(ring)
}

/// A polygon of `rings` rings: one long shell and `rings - 1` small disjoint holes inside it.
fn polygon_with_rings(rings: usize) -> Value {
    let holes = rings - 1;
    let width = holes.max(1) as f64;
    let mut all = vec![json!([[0, 0], [width, 0.0], [width, 2.0], [0, 2], [0, 0]])];
    for i in 0..holes {
        let (west, east) = (i as f64 + 0.25, i as f64 + 0.75);
        all.push(json!([
            [west, 0.5],
            [west, 1.5],
            [east, 1.5],
            [east, 0.5],
            [west, 0.5]
        ]));
    }
    polygon(Value::Array(all))
}

/// Stores a polygon and returns its id.
async fn create(app: &TestApp, token: &str, geometry: &Value) -> i64 {
    let reply = app
        .post("/api/polygons", Some(token), json!({"polygon": geometry}))
        .await
        .expect(200);
    reply.body["polygon"]["id"].as_i64().expect("polygon id")
}

/// Adds a note to a polygon and returns its id.
async fn add_note(app: &TestApp, token: &str, polygon_id: i64, content: &str) -> i64 {
    let reply = app
        .post(
            "/api/notes",
            Some(token),
            json!({"content": content, "polygonId": polygon_id}),
        )
        .await
        .expect(200);
    reply.body["note"]["id"].as_i64().expect("note id")
}

fn path(id: i64) -> String {
    format!("/api/polygons/{id}")
}

/// Ids of a JSON listing, in order.
fn listed_ids(reply: &Reply) -> Vec<i64> {
    reply.body["polygons"]
        .as_array()
        .unwrap_or_else(|| panic!("no polygons array: {}", reply.text))
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect()
}

/// Ids of a `{"notes": […]}` reply, in order.
fn note_ids(reply: &Reply) -> Vec<i64> {
    reply.body["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes array: {}", reply.text))
        .iter()
        .map(|n| n["id"].as_i64().expect("id"))
        .collect()
}

/// Parses a GeoJSON export as a FeatureCollection (checking the media type too).
fn feature_collection(reply: &Reply) -> FeatureCollection {
    assert!(
        reply.content_type().starts_with("application/geo+json"),
        "content type {}",
        reply.content_type()
    );
    let geojson: GeoJson = reply
        .text
        .parse()
        .unwrap_or_else(|e| panic!("not GeoJSON ({e}): {}", reply.text));
    FeatureCollection::try_from(geojson)
        .unwrap_or_else(|e| panic!("not a FeatureCollection ({e}): {}", reply.text))
}

/// The polygon ids of the features of a GeoJSON export (from `properties.id`), in order.
fn feature_ids(collection: &FeatureCollection) -> Vec<i64> {
    collection
        .features
        .iter()
        .map(|f| {
            f.properties.as_ref().expect("properties")["id"]
                .as_i64()
                .expect("properties.id")
        })
        .collect()
}

/// What a KML document holds, read with a real XML parser.
#[derive(Debug, Default)]
struct Kml {
    /// The root element's local name.
    root: String,
    /// Local names of every element, in document order.
    elements: Vec<String>,
    /// All character data with entities resolved.
    text: String,
}

impl Kml {
    fn count(&self, name: &str) -> usize {
        self.elements.iter().filter(|e| *e == name).count()
    }
}

/// Parses a KML export (checking the media type): every event must parse, elements must nest,
/// and there must be exactly one root element.
fn parse_kml(reply: &Reply) -> Kml {
    assert!(
        reply
            .content_type()
            .starts_with("application/vnd.google-earth.kml+xml"),
        "content type {}",
        reply.content_type()
    );
    let mut reader = Reader::from_str(&reply.text);
    let mut kml = Kml::default();
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut open = |name: &str, kml: &mut Kml, depth: usize| {
        let name = name.to_owned();
        if depth == 0 {
            roots += 1;
            kml.root.clone_from(&name);
        }
        kml.elements.push(name);
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                open(e.local_name().as_ref(), &mut kml, depth);
                depth += 1;
            }
            Ok(Event::Empty(e)) => open(e.local_name().as_ref(), &mut kml, depth),
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => kml.text.push_str(&t.xml10_content()),
            Ok(Event::CData(c)) => kml.text.push_str(&c.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match &*r {
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "amp" => "&".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => panic!("undefined entity &{other}; in KML: {}", reply.text),
                    },
                    Err(e) => panic!("bad character reference ({e}) in KML: {}", reply.text),
                };
                kml.text.push_str(&resolved);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "KML does not parse at byte {}: {e}\n{}",
                reader.error_position(),
                reply.text
            ),
        }
    }
    assert_eq!(depth, 0, "unclosed elements in KML: {}", reply.text);
    assert_eq!(roots, 1, "KML must have one root element: {}", reply.text);
    kml
}

/// Creates a user holding only the WORKER role and returns its token.
async fn worker_token(app: &TestApp, admin: &str) -> String {
    app.post(
        "/api/users",
        Some(admin),
        json!({"email": "worker@example.com", "password": "worker-pass-1", "roles": ["WORKER"]}),
    )
    .await
    .expect(200);
    app.login("worker@example.com", "worker-pass-1").await.0
}

/// Where two JSON values first differ (`None` when equal), with both sides shown there.
fn first_difference(actual: &Value, expected: &Value, at: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                return Some(format!("{at}: {} items, expected {}", a.len(), e.len()));
            }
            a.iter()
                .zip(e)
                .enumerate()
                .find_map(|(i, (a, e))| first_difference(a, e, &format!("{at}[{i}]")))
        }
        (Value::Object(a), Value::Object(e)) => {
            let mut keys: Vec<&String> = a.keys().chain(e.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let (a, e) = (a.get(key), e.get(key));
                match (a, e) {
                    (Some(a), Some(e)) => first_difference(a, e, &format!("{at}.{key}")),
                    _ => Some(format!("{at}.{key}: {a:?}, expected {e:?}")),
                }
            })
        }
        _ if actual == expected => None,
        _ => Some(format!("{at}: {actual}, expected {expected}")),
    }
}

/// The number tokens of the first `"coordinates"` array in a JSON text, in order.
///
/// Read from the raw text because the harness parses bodies with serde_json's default float
/// parser, which may move a 17-digit decimal by one unit in the last place: only the text shows
/// whether the server kept a coordinate exactly.
fn coordinate_tokens(json_text: &str) -> Vec<String> {
    let Some(key) = json_text.find("\"coordinates\"") else {
        return Vec::new();
    };
    let rest = &json_text[key..];
    let Some(open) = rest.find('[') else {
        return Vec::new();
    };
    let mut depth = 0usize;
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in rest[open..].chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' => {}
            c if c.is_whitespace() => {}
            c => {
                current.push(c);
                continue;
            }
        }
        if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
        if depth == 0 {
            break;
        }
    }
    tokens
}

/// Asserts the first `"coordinates"` of a reply's raw text hold exactly the expected numbers:
/// the same doubles (parsed exactly), integers still written as integers.
#[track_caller]
fn assert_exact_coordinates(reply: &Reply, expected: &Value) {
    let actual = coordinate_tokens(&reply.text);
    let wanted = coordinate_tokens(&expected.to_string());
    assert_eq!(
        actual.len(),
        wanted.len(),
        "number of coordinates differs; body: {:.2000}",
        reply.text
    );
    let integer = |t: &str| !t.contains(['.', 'e', 'E']);
    for (i, (a, w)) in actual.iter().zip(&wanted).enumerate() {
        let same = a.parse::<f64>().ok() == w.parse::<f64>().ok() && integer(a) == integer(w);
        assert!(
            same,
            "coordinate number {i} came back as {a}, submitted as {w}; body: {:.2000}",
            reply.text
        );
    }
}

/// A value as the harness would read it back from JSON text.
fn through_text(value: &Value) -> Value {
    serde_json::from_str(&value.to_string()).expect("JSON")
}

/// Asserts a `{"polygon": {…}}` reply carries exactly this geometry.
#[track_caller]
fn assert_geometry(reply: &Reply, expected: &Value) {
    if let Some(difference) = first_difference(
        &reply.body["polygon"]["polygon"],
        &through_text(expected),
        "polygon",
    ) {
        panic!(
            "geometry differs at {difference}; body: {:.2000}",
            reply.text
        );
    }
    assert_exact_coordinates(reply, expected);
}

async fn assert_unchanged(app: &TestApp, owner: &str, id: i64, geometry: &Value) {
    let reply = app.get(&path(id), Some(owner)).await.expect(200);
    assert_geometry(&reply, geometry);
}

/// Asserts a 400 `validation_error` on `polygon` whose message mentions, for each group, at
/// least one of its words (case-insensitively).
#[track_caller]
fn assert_invalid_geometry(reply: Reply, case: &str, groups: &[&[&str]]) {
    let reply = reply.expect_error(400, "validation_error");
    assert_eq!(
        reply.body["details"][0]["path"],
        json!("polygon"),
        "{case}: {}",
        reply.text
    );
    let message = reply.body["message"].as_str().unwrap_or_default();
    let lower = message.to_lowercase();
    for group in groups {
        assert!(
            group.iter().any(|w| lower.contains(&w.to_lowercase())),
            "{case}: message {message:?} should mention one of {group:?}"
        );
    }
}

/// One row of the invalid-geometry table: a name, the geometry, and the words its message needs
/// (each group: at least one of its words).
type InvalidCase = (&'static str, Value, &'static [&'static [&'static str]]);

fn case(
    name: &'static str,
    geometry: Value,
    groups: &'static [&'static [&'static str]],
) -> InvalidCase {
    (name, geometry, groups)
}

fn is_timestamp(value: &Value) -> bool {
    value.as_str().is_some_and(|t| {
        t.len() == 24 && t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok()
    })
}

// ---------------------------------------------------------------------------------------------
// Create and read
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn create_returns_the_polygon_as_submitted(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, token) = app.user("ana@example.com").await;
    let geometry = square(146, -18, 1);
    let reply = app
        .post("/api/polygons", Some(&token), json!({"polygon": geometry}))
        .await
        .expect(200);
    let stored = &reply.body["polygon"];
    let keys: Vec<&str> = stored
        .as_object()
        .expect("polygon object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    // R1's fields, the invalid mark (issue 26) and R2's project, both null on every polygon
    // created here.
    assert_eq!(
        sorted,
        [
            "created_at",
            "id",
            "invalidReason",
            "polygon",
            "project_id",
            "user_id"
        ],
        "{keys:?}"
    );
    let id = stored["id"].as_i64().expect("id");
    assert!(id > 0);
    assert_eq!(stored["user_id"], json!(ana));
    assert!(is_timestamp(&stored["created_at"]), "{}", reply.text);
    assert_eq!(stored["polygon"], geometry);
    assert_eq!(stored["invalidReason"], Value::Null);

    let read = app.get(&path(id), Some(&token)).await.expect(200);
    assert_eq!(read.body, reply.body);
}

#[rstest]
#[tokio::test]
async fn polygons_with_holes_round_trip_unchanged(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let one_hole = polygon(json!([
        [
            [146, -18],
            [147.5, -18],
            [147.5, -16.25],
            [146, -16.25],
            [146, -18]
        ],
        [
            [146.5, -17.5],
            [146.5, -17],
            [147, -17],
            [147, -17.5],
            [146.5, -17.5]
        ]
    ]));
    let two_holes = polygon(json!([
        [
            [-10.5, -10],
            [10, -10],
            [10, 10.25],
            [-10.5, 10.25],
            [-10.5, -10]
        ],
        [[1, 1], [1, 2.5], [2.5, 2.5], [2.5, 1], [1, 1]],
        [
            [-5, -5],
            [-5, -4.123456789012],
            [-4.75, -4.123456789012],
            [-4.75, -5],
            [-5, -5]
        ]
    ]));
    for geometry in [&one_hole, &two_holes] {
        let created = app
            .post("/api/polygons", Some(&token), json!({"polygon": geometry}))
            .await
            .expect(200);
        assert_geometry(&created, geometry);
        let id = created.body["polygon"]["id"].as_i64().expect("id");
        let read = app.get(&path(id), Some(&token)).await.expect(200);
        assert_geometry(&read, geometry);
    }
    // Updating to a polygon with holes keeps it unchanged too, and so does the listing.
    let id = create(&app, &token, &square(0, 0, 1)).await;
    let updated = app
        .put(&path(id), Some(&token), json!({"polygon": two_holes}))
        .await
        .expect(200);
    assert_geometry(&updated, &two_holes);
    let list = app.get("/api/polygons", Some(&token)).await.expect(200);
    assert_eq!(
        list.body["polygons"]
            .as_array()
            .expect("polygons")
            .iter()
            .map(|p| p["polygon"].clone())
            .collect::<Vec<_>>(),
        [one_hole, two_holes.clone(), two_holes]
    );
}

// ---------------------------------------------------------------------------------------------
// Geometry validation
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn invalid_geometries_are_rejected_with_the_reason(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let closed_shell = json!([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]);
    let cases: Vec<InvalidCase> = vec![
        case(
            "open ring",
            polygon(json!([[[0, 0], [1, 0], [1, 1], [0, 1]]])),
            &[&["not closed"], &["ring 0"]],
        ),
        case(
            "three positions",
            polygon(json!([[[0, 0], [1, 0], [0, 0]]])),
            &[&["ring 0"], &["4"]],
        ),
        case(
            "bow-tie",
            polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]])),
            &[&["self-intersect"]],
        ),
        case(
            "hole outside the shell",
            polygon(json!([
                closed_shell,
                [[20, 20], [20, 21], [21, 21], [21, 20], [20, 20]]
            ])),
            &[
                &["ring 1", "hole"],
                &["inside", "outside", "within", "contain"],
            ],
        ),
        case(
            "open hole",
            polygon(json!([closed_shell, [[2, 2], [2, 3], [3, 3], [3, 2]]])),
            &[&["not closed"], &["ring 1"]],
        ),
        case(
            "latitude 91",
            polygon(json!([[[0, 0], [1, 0], [1, 91], [0, 0]]])),
            &[&["out of range", "outside", "between"], &["latitude", "91"]],
        ),
        case(
            "longitude 181",
            polygon(json!([[[0, 0], [181, 0], [181, 1], [0, 0]]])),
            &[
                &["out of range", "outside", "between"],
                &["longitude", "181"],
            ],
        ),
        case(
            "NaN string coordinate",
            polygon(json!([[[0, 0], ["NaN", 0], [1, 1], [0, 0]]])),
            &[&["number", "numeric", "finite"]],
        ),
        case(
            "Infinity string coordinate",
            polygon(json!([[[0, 0], [1, 0], [1, "Infinity"], [0, 0]]])),
            &[&["number", "numeric", "finite"]],
        ),
        case("no rings", polygon(json!([])), &[&["ring", "empty"]]),
        case(
            "one empty ring",
            polygon(json!([[]])),
            &[&["ring 0"], &["4", "empty"]],
        ),
        case(
            "10,001 positions",
            polygon(json!([circle_ring(10_001)])),
            &[&["too many positions", "10000", "10,000", "10 000"]],
        ),
        case(
            "101 rings",
            polygon_with_rings(101),
            &[&["too many rings", "100"]],
        ),
        case(
            "MultiPolygon",
            json!({
                "type": "MultiPolygon",
                "coordinates": [
                    [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                    [[[5, 5], [6, 5], [6, 6], [5, 5]]]
                ],
            }),
            &[&["multipolygon", "type"]],
        ),
        case(
            "type missing",
            json!({"coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
            &[&["type"]],
        ),
        case(
            "coordinates missing",
            json!({"type": "Polygon"}),
            &[&["coordinates"]],
        ),
        case(
            "coordinates not an array",
            json!({"type": "Polygon", "coordinates": "0 0, 1 0, 1 1, 0 0"}),
            &[&["coordinates", "array", "ring"]],
        ),
        case(
            "geometry is a string",
            json!("POLYGON((0 0, 1 0, 1 1, 0 0))"),
            &[&["object", "type", "geojson", "string"]],
        ),
        case(
            "position with one number",
            polygon(json!([[[0, 0], [1], [1, 1], [0, 0]]])),
            &[&["position", "coordinate"]],
        ),
        case(
            "null position",
            polygon(json!([[[0, 0], null, [1, 1], [0, 0]]])),
            &[&["position", "coordinate", "null"]],
        ),
    ];
    assert!(cases.len() >= 16);
    for (case, geometry, groups) in cases {
        let reply = app
            .post("/api/polygons", Some(&token), json!({"polygon": geometry}))
            .await;
        assert_invalid_geometry(reply, case, groups);
    }

    // The bow-tie's message says where it crosses itself: near (1, 1).
    let reply = app
        .post(
            "/api/polygons",
            Some(&token),
            json!({"polygon": polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]))}),
        )
        .await
        .expect_error(400, "validation_error");
    let compact: String = reply.body["message"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        ["(1,1)", "[1,1]", "(1.0,1.0)", "[1.0,1.0]"]
            .iter()
            .any(|point| compact.contains(point)),
        "the bow-tie message should name the crossing near (1, 1): {}",
        reply.text
    );

    // A number too large for a double (1e400) never becomes a coordinate.
    let raw = br#"{"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1e400, 0], [1, 1], [0, 0]]]}}"#;
    let reply = app
        .send_raw(Method::POST, "/api/polygons", Some(&token), raw.to_vec())
        .await
        .expect(400);
    let code = reply.body["code"].as_str().unwrap_or_default();
    assert!(
        ["malformed_json", "invalid_body", "validation_error"].contains(&code),
        "1e400: {}",
        reply.text
    );
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(
        ["out of range", "finite", "number"]
            .iter()
            .any(|w| message.to_lowercase().contains(w)),
        "1e400: {}",
        reply.text
    );

    // Nothing was stored.
    let list = app.get("/api/polygons", Some(&token)).await.expect(200);
    assert_eq!(list.body["pagination"]["total"], json!(0), "{}", list.text);
}

#[rstest]
#[tokio::test]
async fn default_geometry_limits_are_inclusive(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    for (positions, rings, geometry) in [
        (10_000, 1, polygon(json!([circle_ring(10_000)]))),
        (500, 100, polygon_with_rings(100)),
    ] {
        let reply = app
            .post("/api/polygons", Some(&token), json!({"polygon": geometry}))
            .await
            .expect(200);
        let stored = reply.body["polygon"]["polygon"]["coordinates"]
            .as_array()
            .expect("rings");
        assert_eq!(stored.len(), rings);
        let stored_positions: usize = stored
            .iter()
            .map(|ring| ring.as_array().expect("ring").len())
            .sum();
        assert_eq!(stored_positions, positions);
    }
}

#[rstest]
#[tokio::test]
async fn coordinates_keep_full_double_precision(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    // 17 significant digits, as JavaScript and Rust print computed doubles; both longitudes are
    // read one unit in the last place off by serde_json's default (non-round-trip) float parser.
    let (west, east) = (146.53361783740903, 146.99997611087485);
    let geometry = polygon(json!([[
        [west, -18.5],
        [east, -18.5],
        [east, -17.25],
        [west, -17.25],
        [west, -18.5]
    ]]));
    let created = app
        .post("/api/polygons", Some(&token), json!({"polygon": geometry}))
        .await
        .expect(200);
    assert_exact_coordinates(&created, &geometry);
    let id = created.body["polygon"]["id"].as_i64().expect("id");
    let read = app.get(&path(id), Some(&token)).await.expect(200);
    assert_exact_coordinates(&read, &geometry);
}

#[rstest]
#[tokio::test]
async fn geometry_limits_are_configurable(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.polygon_max_positions = 50;
        s.limits.polygon_max_rings = 2;
    })
    .await;
    let (_, token) = app.user("ana@example.com").await;
    let reply = app
        .post(
            "/api/polygons",
            Some(&token),
            json!({"polygon": polygon(json!([circle_ring(60)]))}),
        )
        .await;
    assert_invalid_geometry(
        reply,
        "60 positions over a limit of 50",
        &[&["too many positions", "50"]],
    );
    let reply = app
        .post(
            "/api/polygons",
            Some(&token),
            json!({"polygon": polygon_with_rings(3)}),
        )
        .await;
    assert_invalid_geometry(
        reply,
        "3 rings over a limit of 2",
        &[&["too many rings", "2"]],
    );
    // At the limits: accepted.
    app.post(
        "/api/polygons",
        Some(&token),
        json!({"polygon": polygon(json!([circle_ring(50)]))}),
    )
    .await
    .expect(200);
    app.post(
        "/api/polygons",
        Some(&token),
        json!({"polygon": polygon_with_rings(2)}),
    )
    .await
    .expect(200);
    // The limit applies to updates as well.
    let id = create(&app, &token, &square(0, 0, 1)).await;
    let reply = app
        .put(
            &path(id),
            Some(&token),
            json!({"polygon": polygon(json!([circle_ring(60)]))}),
        )
        .await;
    assert_invalid_geometry(
        reply,
        "update over the limit",
        &[&["too many positions", "50"]],
    );
    assert_unchanged(&app, &token, id, &square(0, 0, 1)).await;
}

#[rstest]
#[tokio::test]
async fn malformed_polygon_bodies_are_400(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let id = create(&app, &token, &square(0, 0, 1)).await;
    for (method, target) in [
        (Method::POST, "/api/polygons".to_owned()),
        (Method::PUT, path(id)),
    ] {
        app.send(method.clone(), &target, Some(&token), Some(json!({})))
            .await
            .expect_error(400, "invalid_body");
        app.send(
            method.clone(),
            &target,
            Some(&token),
            Some(json!({"geometry": square(0, 0, 1)})),
        )
        .await
        .expect_error(400, "invalid_body");
        app.send(
            method.clone(),
            &target,
            Some(&token),
            Some(json!("polygon")),
        )
        .await
        .expect_error(400, "invalid_body");
        app.send_raw(
            method.clone(),
            &target,
            Some(&token),
            b"{\"polygon\": {\"type\": ".to_vec(),
        )
        .await
        .expect_error(400, "malformed_json");
    }
    assert_unchanged(&app, &token, id, &square(0, 0, 1)).await;
}

// ---------------------------------------------------------------------------------------------
// Update and delete
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn update_replaces_only_the_geometry(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, token) = app.user("ana@example.com").await;
    let created = app
        .post(
            "/api/polygons",
            Some(&token),
            json!({"polygon": square(0, 0, 1)}),
        )
        .await
        .expect(200);
    let id = created.body["polygon"]["id"].as_i64().expect("id");
    let replacement = square(146, -18, 2);
    let updated = app
        .put(&path(id), Some(&token), json!({"polygon": replacement}))
        .await
        .expect(200);
    let stored = &updated.body["polygon"];
    assert_eq!(stored["id"], json!(id));
    assert_eq!(stored["user_id"], json!(ana));
    assert_eq!(stored["created_at"], created.body["polygon"]["created_at"]);
    assert_eq!(stored["polygon"], replacement);
    assert_unchanged(&app, &token, id, &replacement).await;

    // An invalid replacement is refused and changes nothing.
    let reply = app
        .put(
            &path(id),
            Some(&token),
            json!({"polygon": polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]))}),
        )
        .await;
    assert_invalid_geometry(reply, "bow-tie update", &[&["self-intersect"]]);
    assert_unchanged(&app, &token, id, &replacement).await;
}

#[rstest]
#[tokio::test]
async fn delete_removes_the_polygon_and_its_notes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let doomed = create(&app, &token, &square(0, 0, 1)).await;
    let kept = create(&app, &token, &square(5, 5, 1)).await;
    let doomed_notes = [
        add_note(&app, &token, doomed, "first").await,
        add_note(&app, &token, doomed, "second").await,
    ];
    let kept_note = add_note(&app, &token, kept, "stays").await;

    let reply = app.delete(&path(doomed), Some(&token)).await.expect(204);
    assert!(reply.text.is_empty(), "204 with a body: {}", reply.text);

    app.get(&path(doomed), Some(&token))
        .await
        .expect_error(404, "not_found");
    app.put(
        &path(doomed),
        Some(&token),
        json!({"polygon": square(0, 0, 1)}),
    )
    .await
    .expect_error(404, "not_found");
    app.delete(&path(doomed), Some(&token))
        .await
        .expect_error(404, "not_found");
    let list = app.get("/api/polygons", Some(&token)).await.expect(200);
    assert_eq!(listed_ids(&list), [kept]);

    // Its notes went with it.
    let notes = app.get("/api/notes", Some(&token)).await.expect(200);
    assert_eq!(note_ids(&notes), [kept_note]);
    for notes_path in [
        format!("/api/notes/{doomed}"),
        format!("/api/notes/polygon/{doomed}"),
    ] {
        app.get(&notes_path, Some(&token))
            .await
            .expect_error(404, "not_found");
    }
    for note in doomed_notes {
        app.put(
            &format!("/api/notes/{note}"),
            Some(&token),
            json!({"content": "back?"}),
        )
        .await
        .expect_error(404, "not_found");
        app.delete(&format!("/api/notes/{note}"), Some(&token))
            .await
            .expect_error(404, "not_found");
    }
    let kept_notes = app
        .get(&format!("/api/notes/{kept}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(note_ids(&kept_notes), [kept_note]);
}

#[rstest]
#[tokio::test]
async fn unknown_and_invalid_polygon_ids(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let admin = app.admin_token().await;
    let body = json!({"polygon": square(0, 0, 1)});
    for caller in [&token, &admin] {
        app.get("/api/polygons/999999", Some(caller))
            .await
            .expect_error(404, "not_found");
        app.put("/api/polygons/999999", Some(caller), body.clone())
            .await
            .expect_error(404, "not_found");
        app.delete("/api/polygons/999999", Some(caller))
            .await
            .expect_error(404, "not_found");
        for bad in ["abc", "0", "-1", "1.5", "99999999999"] {
            let target = format!("/api/polygons/{bad}");
            app.get(&target, Some(caller))
                .await
                .expect_error(400, "invalid_id");
            app.put(&target, Some(caller), body.clone())
                .await
                .expect_error(400, "invalid_id");
            app.delete(&target, Some(caller))
                .await
                .expect_error(400, "invalid_id");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Who may do what
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum PolygonRoute {
    Get,
    Update,
    Delete,
}

impl PolygonRoute {
    fn request(self, id: i64, replacement: &Value) -> (Method, String, Option<Value>) {
        match self {
            Self::Get => (Method::GET, path(id), None),
            Self::Update => (Method::PUT, path(id), Some(json!({"polygon": replacement}))),
            Self::Delete => (Method::DELETE, path(id), None),
        }
    }
}

/// For each route on one polygon: anonymous → 401, another user → 403 with the polygon
/// unchanged, then the owner and an admin → 2xx with the expected effect.
#[rstest]
#[tokio::test]
async fn polygon_ownership_matrix(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, owner) = app.user("ana@example.com").await;
    let (_, other) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let original = square(0, 0, 1);
    let replacement = square(10, 10, 3);
    for route in [
        PolygonRoute::Get,
        PolygonRoute::Update,
        PolygonRoute::Delete,
    ] {
        for (caller, allowed) in [("owner", &owner), ("admin", &admin)] {
            let id = create(&app, &owner, &original).await;
            let (method, target, body) = route.request(id, &replacement);
            app.send(method.clone(), &target, None, body.clone())
                .await
                .expect_error(401, "unauthorized");
            app.send(method.clone(), &target, Some("not-a-jwt"), body.clone())
                .await
                .expect(401);
            app.send(method.clone(), &target, Some(&other), body.clone())
                .await
                .expect_error(403, "forbidden");
            assert_unchanged(&app, &owner, id, &original).await;

            let reply = app.send(method.clone(), &target, Some(allowed), body).await;
            assert!(
                reply.status.is_success(),
                "{caller} {method} {target}: {} {}",
                reply.status,
                reply.text
            );
            match route {
                PolygonRoute::Get => {
                    assert_geometry(&reply, &original);
                    assert_eq!(reply.body["polygon"]["user_id"], json!(ana));
                }
                PolygonRoute::Update => {
                    assert_geometry(&reply, &replacement);
                    // The owner stays the owner, even when an admin edits.
                    assert_eq!(reply.body["polygon"]["user_id"], json!(ana));
                    assert_unchanged(&app, &owner, id, &replacement).await;
                }
                PolygonRoute::Delete => {
                    assert_eq!(reply.status.as_u16(), 204);
                    app.get(&target, Some(&owner))
                        .await
                        .expect_error(404, "not_found");
                }
            }
        }
    }
}

#[rstest]
#[tokio::test]
async fn anonymous_callers_get_401_whatever_the_body(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let id = create(&app, &token, &square(0, 0, 1)).await;
    for target in [
        "/api/polygons".to_owned(),
        "/api/polygons?format=geojson".to_owned(),
        "/api/polygons?format=kml".to_owned(),
        "/api/polygons?bbox=-1,-1,2,2".to_owned(),
        "/api/polygons?limit=0".to_owned(),
        path(id),
        "/api/polygons/abc".to_owned(),
    ] {
        app.get(&target, None)
            .await
            .expect_error(401, "unauthorized");
    }
    for (method, target) in [
        (Method::POST, "/api/polygons".to_owned()),
        (Method::PUT, path(id)),
    ] {
        for body in [
            json!({"polygon": square(0, 0, 1)}),
            json!({"polygon": "nonsense"}),
            json!({}),
        ] {
            app.send(method.clone(), &target, None, Some(body))
                .await
                .expect_error(401, "unauthorized");
        }
        app.send_raw(method.clone(), &target, None, b"{not json".to_vec())
            .await
            .expect_error(401, "unauthorized");
    }
    app.delete(&path(id), None)
        .await
        .expect_error(401, "unauthorized");
    assert_unchanged(&app, &token, id, &square(0, 0, 1)).await;
    let list = app.get("/api/polygons", Some(&token)).await.expect(200);
    assert_eq!(listed_ids(&list), [id]);
}

/// A user can never read, change, list, export or annotate another user's polygon, by any route.
#[rstest]
#[tokio::test]
async fn another_users_polygon_is_unreachable_by_every_route(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let secret = "ana-secret-note";
    let geometry = square(0, 0, 2);
    let anas = create(&app, &ana, &geometry).await;
    let anas_note = add_note(&app, &ana, anas, secret).await;
    // Bob has his own polygon in the same place, so every filter that finds his finds hers too.
    let bobs = create(&app, &bob, &square(0, 0, 2)).await;
    add_note(&app, &bob, bobs, "bob's note").await;

    let mut seen_by_bob = Vec::new();
    // Read, change, delete.
    for (method, target, body) in [
        (Method::GET, path(anas), None),
        (
            Method::PUT,
            path(anas),
            Some(json!({"polygon": square(50, 50, 1)})),
        ),
        (Method::DELETE, path(anas), None),
        // Notes of her polygon, by both paths; annotating it; changing her note.
        (Method::GET, format!("/api/notes/{anas}"), None),
        (Method::GET, format!("/api/notes/polygon/{anas}"), None),
        (
            Method::POST,
            "/api/notes".to_owned(),
            Some(json!({"content": "bob was here", "polygonId": anas})),
        ),
        (
            Method::PUT,
            format!("/api/notes/{anas_note}"),
            Some(json!({"content": "bob was here"})),
        ),
        (Method::DELETE, format!("/api/notes/{anas_note}"), None),
    ] {
        let reply = app
            .send(method, &target, Some(&bob), body)
            .await
            .expect_error(403, "forbidden");
        seen_by_bob.push(reply.text);
    }

    // List, with and without a bbox covering both.
    for target in [
        "/api/polygons",
        "/api/polygons?bbox=-1,-1,3,3",
        "/api/polygons?bbox=-180,-90,180,90&limit=1000",
    ] {
        let reply = app.get(target, Some(&bob)).await.expect(200);
        assert_eq!(listed_ids(&reply), [bobs], "{target}: {}", reply.text);
        assert_eq!(reply.body["pagination"]["total"], json!(1), "{target}");
        seen_by_bob.push(reply.text);
    }
    // Export.
    for target in [
        "/api/polygons?format=geojson",
        "/api/polygons?format=geojson&bbox=-1,-1,3,3",
    ] {
        let reply = app.get(target, Some(&bob)).await.expect(200);
        assert_eq!(feature_ids(&feature_collection(&reply)), [bobs], "{target}");
        seen_by_bob.push(reply.text);
    }
    for target in [
        "/api/polygons?format=kml",
        "/api/polygons?format=kml&bbox=-1,-1,3,3",
    ] {
        let reply = app.get(target, Some(&bob)).await.expect(200);
        assert_eq!(parse_kml(&reply).count("Placemark"), 1, "{target}");
        seen_by_bob.push(reply.text);
    }
    // His notes.
    let reply = app.get("/api/notes", Some(&bob)).await.expect(200);
    assert!(!note_ids(&reply).contains(&anas_note), "{}", reply.text);
    seen_by_bob.push(reply.text);

    for text in &seen_by_bob {
        assert!(!text.contains(secret), "Bob saw Ana's note: {text}");
        assert!(
            !text.contains("ana@example.com"),
            "Bob saw Ana's email: {text}"
        );
    }

    // Nothing of Ana's changed.
    assert_unchanged(&app, &ana, anas, &geometry).await;
    let notes = app
        .get(&format!("/api/notes/{anas}"), Some(&ana))
        .await
        .expect(200);
    assert_eq!(note_ids(&notes), [anas_note]);
    assert_eq!(notes.body["notes"][0]["content"], json!(secret));
}

#[rstest]
#[tokio::test]
async fn admin_sees_and_manages_every_polygon(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let anas = create(&app, &ana, &square(0, 0, 1)).await;
    let bobs = create(&app, &bob, &square(5, 5, 1)).await;

    let list = app.get("/api/polygons", Some(&admin)).await.expect(200);
    assert_eq!(listed_ids(&list), [anas, bobs]);
    assert_eq!(list.body["pagination"]["total"], json!(2));
    let owners: Vec<&Value> = list.body["polygons"]
        .as_array()
        .expect("polygons")
        .iter()
        .map(|p| &p["user_id"])
        .collect();
    assert_eq!(owners, [&json!(ana_id), &json!(bob_id)]);

    let geojson = app
        .get("/api/polygons?format=geojson", Some(&admin))
        .await
        .expect(200);
    let collection = feature_collection(&geojson);
    assert_eq!(feature_ids(&collection), [anas, bobs]);
    let emails: Vec<&Value> = collection
        .features
        .iter()
        .map(|f| &f.properties.as_ref().expect("properties")["user_email"])
        .collect();
    assert_eq!(
        emails,
        [&json!("ana@example.com"), &json!("bob@example.com")]
    );

    let kml = app
        .get("/api/polygons?format=kml", Some(&admin))
        .await
        .expect(200);
    assert_eq!(parse_kml(&kml).count("Placemark"), 2);

    // The admin's own polygons are listed with everyone's.
    let admins = create(&app, &admin, &square(20, 20, 1)).await;
    let list = app.get("/api/polygons", Some(&admin)).await.expect(200);
    assert_eq!(listed_ids(&list), [anas, bobs, admins]);
    // Users still see only their own.
    let list = app.get("/api/polygons", Some(&ana)).await.expect(200);
    assert_eq!(listed_ids(&list), [anas]);
}

#[rstest]
#[tokio::test]
async fn workers_may_not_use_polygons(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, ana) = app.user("ana@example.com").await;
    let anas = create(&app, &ana, &square(0, 0, 1)).await;
    let worker = worker_token(&app, &admin).await;
    for (method, target, body) in [
        (Method::GET, "/api/polygons".to_owned(), None),
        (Method::GET, "/api/polygons?format=kml".to_owned(), None),
        (
            Method::POST,
            "/api/polygons".to_owned(),
            Some(json!({"polygon": square(0, 0, 1)})),
        ),
        (Method::GET, path(anas), None),
        (
            Method::PUT,
            path(anas),
            Some(json!({"polygon": square(9, 9, 1)})),
        ),
        (Method::DELETE, path(anas), None),
    ] {
        app.send(method, &target, Some(&worker), body)
            .await
            .expect_error(403, "forbidden");
    }
    assert_unchanged(&app, &ana, anas, &square(0, 0, 1)).await;
}

#[rstest]
#[tokio::test]
async fn required_role_gates_polygons(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let admin = app.admin_token().await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let body = json!({"polygon": square(0, 0, 1)});
    app.get("/api/polygons", Some(&ana))
        .await
        .expect_error(403, "forbidden");
    app.post("/api/polygons", Some(&ana), body.clone())
        .await
        .expect_error(403, "forbidden");
    // The admin passes the gate.
    let admins = create(&app, &admin, &square(3, 3, 1)).await;
    app.get(&path(admins), Some(&admin)).await.expect(200);
    // Granted ANALYST, the same token passes (roles are re-read on each request).
    app.put(
        &format!("/api/users/{ana_id}/roles"),
        Some(&admin),
        json!({"roles": ["ANALYST"]}),
    )
    .await
    .expect(200);
    let id = create(&app, &ana, &square(0, 0, 1)).await;
    let list = app.get("/api/polygons", Some(&ana)).await.expect(200);
    assert_eq!(listed_ids(&list), [id]);
    app.get(&path(id), Some(&ana)).await.expect(200);
    // And loses it again when the role goes.
    app.put(
        &format!("/api/users/{ana_id}/roles"),
        Some(&admin),
        json!({"roles": []}),
    )
    .await
    .expect(200);
    app.get(&path(id), Some(&ana))
        .await
        .expect_error(403, "forbidden");
}

// ---------------------------------------------------------------------------------------------
// Listing: pagination, bbox, parameters
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn listing_is_ordered_by_id_and_paginated(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create(&app, &token, &square(i * 10, 0, 1)).await);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let all = app.get("/api/polygons", Some(&token)).await.expect(200);
    assert_eq!(listed_ids(&all), ids);
    assert_eq!(
        all.body["pagination"],
        json!({"total": 5, "limit": 100, "offset": 0})
    );
    for polygon in all.body["polygons"].as_array().expect("polygons") {
        assert!(is_timestamp(&polygon["created_at"]), "{polygon}");
    }

    let page = app
        .get("/api/polygons?limit=2&offset=1", Some(&token))
        .await
        .expect(200);
    assert_eq!(listed_ids(&page), &ids[1..3]);
    assert_eq!(
        page.body["pagination"],
        json!({"total": 5, "limit": 2, "offset": 1})
    );
    let last = app
        .get("/api/polygons?limit=2&offset=4", Some(&token))
        .await
        .expect(200);
    assert_eq!(listed_ids(&last), &ids[4..]);
    let beyond = app
        .get("/api/polygons?offset=10", Some(&token))
        .await
        .expect(200);
    assert_eq!(listed_ids(&beyond), Vec::<i64>::new());
    assert_eq!(
        beyond.body["pagination"],
        json!({"total": 5, "limit": 100, "offset": 10})
    );
    let max = app
        .get("/api/polygons?limit=1000", Some(&token))
        .await
        .expect(200);
    assert_eq!(max.body["pagination"]["limit"], json!(1000));
    let one = app
        .get("/api/polygons?limit=1", Some(&token))
        .await
        .expect(200);
    assert_eq!(listed_ids(&one), &ids[..1]);
}

#[rstest]
#[tokio::test]
async fn bad_listing_parameters_are_400(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    create(&app, &token, &square(0, 0, 1)).await;
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-5",
        "limit=1.5",
        "offset=-1",
        "offset=abc",
        "bbox=1,2,3",
        "bbox=1,2,3,4,5",
        "bbox=a,b,c,d",
        "bbox=0,0,1,91",
        "bbox=0,-91,1,1",
        "bbox=-181,0,1,1",
        "bbox=0,0,181,1",
        "bbox=2,0,1,1",
        "bbox=0,2,1,1",
        "bbox=NaN,0,1,1",
        "limit=0&format=geojson",
        "bbox=1,2,3&format=kml",
    ] {
        let reply = app
            .get(&format!("/api/polygons?{query}"), Some(&token))
            .await;
        let reply = reply.expect_error(400, "validation_error");
        assert!(
            reply.body["details"]
                .as_array()
                .is_some_and(|d| !d.is_empty()),
            "{query}: {}",
            reply.text
        );
    }
    for query in ["format=pdf", "format=", "format=kml2"] {
        let reply = app
            .get(&format!("/api/polygons?{query}"), Some(&token))
            .await
            .expect(400);
        assert!(reply.body["code"].is_string(), "{query}: {}", reply.text);
        assert_eq!(reply.body["status"], json!(400), "{query}");
    }
}

#[rstest]
#[tokio::test]
async fn bbox_keeps_polygons_whose_bounding_box_intersects_it(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    // Bounding boxes: A [0,2]x[0,2], B [10,12]x[10,12], C [-50,-45]x[-20,-15].
    let a = create(&app, &token, &square(0, 0, 2)).await;
    let b = create(&app, &token, &square(10, 10, 2)).await;
    let c = create(&app, &token, &square(-50, -20, 5)).await;
    let cases: [(&str, Vec<i64>); 10] = [
        ("1,1,3,3", vec![a]),
        ("0.5,0.5,1.5,1.5", vec![a]),
        ("-1,-1,11,11", vec![a, b]),
        ("-60,-30,20,20", vec![a, b, c]),
        ("-180,-90,180,90", vec![a, b, c]),
        ("50,50,60,60", vec![]),
        ("3,3,9,9", vec![]),
        // Touching an edge or a corner counts.
        ("2,0,5,1", vec![a]),
        ("12,12,13,13", vec![b]),
        ("-45,-15,0,0", vec![a, c]),
    ];
    for (bbox, expected) in cases {
        let reply = app
            .get(&format!("/api/polygons?bbox={bbox}"), Some(&token))
            .await
            .expect(200);
        assert_eq!(listed_ids(&reply), expected, "bbox {bbox}: {}", reply.text);
        assert_eq!(
            reply.body["pagination"]["total"],
            json!(expected.len()),
            "bbox {bbox}"
        );
    }
    // Pagination counts the filtered set.
    let page = app
        .get("/api/polygons?bbox=-60,-30,20,20&limit=2", Some(&token))
        .await
        .expect(200);
    assert_eq!(listed_ids(&page), [a, b]);
    assert_eq!(
        page.body["pagination"],
        json!({"total": 3, "limit": 2, "offset": 0})
    );
    let rest = app
        .get(
            "/api/polygons?bbox=-60,-30,20,20&limit=2&offset=2",
            Some(&token),
        )
        .await
        .expect(200);
    assert_eq!(listed_ids(&rest), [c]);
    assert_eq!(rest.body["pagination"]["total"], json!(3));
    // The exports filter the same way.
    let geojson = app
        .get(
            "/api/polygons?bbox=-1,-1,11,11&format=geojson",
            Some(&token),
        )
        .await
        .expect(200);
    assert_eq!(feature_ids(&feature_collection(&geojson)), [a, b]);
    let kml = app
        .get("/api/polygons?bbox=-1,-1,11,11&format=kml", Some(&token))
        .await
        .expect(200);
    assert_eq!(parse_kml(&kml).count("Placemark"), 2);
    let empty = app
        .get("/api/polygons?bbox=50,50,60,60&format=kml", Some(&token))
        .await
        .expect(200);
    let document = parse_kml(&empty);
    assert_eq!(document.root, "kml");
    assert_eq!(document.count("Placemark"), 0);
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn geojson_export_is_a_feature_collection_of_own_polygons(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let with_hole = polygon(json!([
        [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
        [[1, 1], [1, 2.5], [2.5, 2.5], [2.5, 1], [1, 1]]
    ]));
    let first = create(&app, &ana, &with_hole).await;
    let second = create(&app, &ana, &square(146, -18, 1)).await;
    let bobs = create(&app, &bob, &square(0, 0, 1)).await;
    let note = app
        .post(
            "/api/notes",
            Some(&ana),
            json!({"content": "reef edge", "polygonId": first}),
        )
        .await
        .expect(200);
    add_note(&app, &bob, bobs, "bob's note").await;

    let reply = app
        .get("/api/polygons?format=geojson", Some(&ana))
        .await
        .expect(200);
    let collection = feature_collection(&reply);
    assert_eq!(collection.features.len(), 2);
    assert_eq!(feature_ids(&collection), [first, second]);
    assert!(!reply.text.contains("bob"), "{}", reply.text);

    // Geometry exactly as stored; properties carry id, created_at, owner email and notes.
    let stored = app.get(&path(first), Some(&ana)).await.expect(200);
    let feature = &reply.body["features"][0];
    assert_eq!(feature["type"], json!("Feature"));
    assert_eq!(feature["geometry"], with_hole);
    let properties = &feature["properties"];
    assert_eq!(properties["id"], json!(first));
    assert_eq!(
        properties["created_at"],
        stored.body["polygon"]["created_at"]
    );
    assert_eq!(properties["user_email"], json!("ana@example.com"));
    assert_eq!(properties["notes"], json!([note.body["note"]]));
    let exported_note = &properties["notes"][0];
    assert_eq!(exported_note["content"], json!("reef edge"));
    assert_eq!(exported_note["user_id"], json!(ana_id));
    assert_eq!(exported_note["polygon_id"], json!(first));
    let other = &reply.body["features"][1];
    assert_eq!(other["geometry"], square(146, -18, 1));
    assert_eq!(other["properties"]["notes"], json!([]));
    assert_eq!(other["properties"]["user_email"], json!("ana@example.com"));

    // A user with no polygons gets an empty collection.
    let (_, cy) = app.user("cy@example.com").await;
    let empty = app
        .get("/api/polygons?format=geojson", Some(&cy))
        .await
        .expect(200);
    assert!(feature_collection(&empty).features.is_empty());
}

#[rstest]
#[tokio::test]
async fn kml_export_is_a_document_with_one_placemark_per_visible_polygon(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let with_hole = polygon(json!([
        [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
        [[1, 1], [1, 2.5], [2.5, 2.5], [2.5, 1], [1, 1]]
    ]));
    let first = create(&app, &ana, &with_hole).await;
    create(&app, &ana, &square(146, -18, 1)).await;
    let bobs = create(&app, &bob, &square(0, 0, 1)).await;
    let hostile = "</description><script>alert(1)</script> & <![CDATA[ ]]> \"quoted\" 'single'";
    add_note(&app, &ana, first, "<script>&").await;
    add_note(&app, &ana, first, hostile).await;
    add_note(&app, &bob, bobs, "bob-private-note").await;

    let reply = app
        .get("/api/polygons?format=kml", Some(&ana))
        .await
        .expect(200);
    let kml = parse_kml(&reply);
    assert_eq!(kml.root, "kml");
    assert_eq!(kml.count("Placemark"), 2, "{}", reply.text);
    assert_eq!(kml.count("Polygon"), 2, "{}", reply.text);
    assert_eq!(kml.count("outerBoundaryIs"), 2, "{}", reply.text);
    assert_eq!(kml.count("innerBoundaryIs"), 1, "{}", reply.text);
    // The notes arrive as text, never as markup.
    assert_eq!(kml.count("script"), 0, "{}", reply.text);
    assert!(kml.text.contains("<script>&"), "{}", reply.text);
    assert!(kml.text.contains(hostile), "{}", reply.text);
    assert!(!kml.text.contains("bob-private-note"), "{}", reply.text);
    assert!(!reply.text.contains("bob@example.com"), "{}", reply.text);

    let bobs_kml = app
        .get("/api/polygons?format=kml", Some(&bob))
        .await
        .expect(200);
    let document = parse_kml(&bobs_kml);
    assert_eq!(document.count("Placemark"), 1);
    assert!(!document.text.contains("<script>&"), "{}", bobs_kml.text);
    assert!(!bobs_kml.text.contains("ana@example.com"));

    let admins_kml = app
        .get("/api/polygons?format=kml", Some(&admin))
        .await
        .expect(200);
    assert_eq!(parse_kml(&admins_kml).count("Placemark"), 3);
}

// ---------------------------------------------------------------------------------------------
// Invalid (imported) polygons
// ---------------------------------------------------------------------------------------------

/// A self-intersecting ring.
fn bow_tie() -> Value {
    polygon(json!([[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]))
}

/// Plants a polygon of `owner` as the ReefGuide import writes one whose geometry `stored` our
/// validation refuses: the JSON as it was, the reason `PolygonShape::from_imported` gives, no
/// bounding box. Returns its id and the reason.
async fn plant_invalid(app: &TestApp, owner: i64, stored: &Value) -> (i64, String) {
    let (shape, _) = PolygonShape::from_imported(stored);
    let reason = shape
        .invalid_reason()
        .unwrap_or_else(|| panic!("{stored} is valid"))
        .to_owned();
    let db = app.sql().await;
    let sql = format!(
        "INSERT INTO polygons (user_id, polygon, created_at, updated_at, invalid_reason) \
         VALUES ({owner}, '{}', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', '{}') \
         RETURNING id",
        shape.to_geojson().to_string().replace('\'', "''"),
        reason.replace('\'', "''"),
    );
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("planted")
        .expect("a row");
    let id: i32 = row.try_get("", "id").expect("an id");
    (i64::from(id), reason)
}

/// The polygon of a `{"polygon": {…}}` reply, asserting its invalid mark.
#[track_caller]
fn assert_marked(reply: &Reply, stored: &Value, reason: Option<&str>) {
    let polygon = &reply.body["polygon"];
    assert_eq!(polygon["polygon"], *stored, "{}", reply.text);
    assert_eq!(polygon["invalidReason"], json!(reason), "{}", reply.text);
}

#[rstest]
#[tokio::test]
async fn invalid_imported_polygons_are_readable_listed_exported_annotated_and_deletable(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let valid = create(&app, &ana, &square(146, -18, 1)).await;
    let empty_ring = polygon(json!([[]]));
    let (bow, bow_reason) = plant_invalid(&app, ana_id, &bow_tie()).await;
    let (empty, empty_reason) = plant_invalid(&app, ana_id, &empty_ring).await;
    let (number, number_reason) = plant_invalid(&app, ana_id, &json!(42)).await;
    assert_eq!(bow_reason, "ring 0 self-intersects near (1, 1)");
    assert_eq!(
        empty_reason,
        "ring 0 has 0 positions; a ring needs at least 4"
    );
    assert_eq!(number_reason, "geometry must be a JSON object");

    // Read: the JSON as stored, the reason; valid polygons say null.
    let reply = app.get(&path(valid), Some(&ana)).await.expect(200);
    assert_marked(&reply, &square(146, -18, 1), None);
    for (id, stored, reason) in [
        (bow, bow_tie(), &bow_reason),
        (empty, empty_ring.clone(), &empty_reason),
        (number, json!(42), &number_reason),
    ] {
        let reply = app.get(&path(id), Some(&ana)).await.expect(200);
        assert_marked(&reply, &stored, Some(reason));
        let polygon = &reply.body["polygon"];
        assert_eq!(polygon["id"], json!(id));
        assert_eq!(polygon["user_id"], json!(ana_id));
        assert!(is_timestamp(&polygon["created_at"]), "{}", reply.text);
    }

    // Listed without a bounding box; never with one (they have none).
    let list = app.get("/api/polygons", Some(&ana)).await.expect(200);
    assert_eq!(listed_ids(&list), [valid, bow, empty, number]);
    assert_eq!(list.body["pagination"]["total"], json!(4));
    assert_eq!(list.body["polygons"][0]["invalidReason"], Value::Null);
    assert_eq!(list.body["polygons"][1]["polygon"], bow_tie());
    assert_eq!(list.body["polygons"][1]["invalidReason"], json!(bow_reason));
    assert_eq!(list.body["polygons"][3]["polygon"], json!(42));
    for bbox in ["-180,-90,180,90", "-1,-1,3,3"] {
        let reply = app
            .get(&format!("/api/polygons?bbox={bbox}"), Some(&ana))
            .await
            .expect(200);
        let expected: &[i64] = if bbox.starts_with("-180") {
            &[valid]
        } else {
            &[]
        };
        assert_eq!(listed_ids(&reply), expected, "{bbox}");
        assert_eq!(
            reply.body["pagination"]["total"],
            json!(expected.len()),
            "{bbox}"
        );
    }

    // Annotated like any polygon.
    let note = add_note(&app, &ana, bow, "fix the crossing").await;
    let notes = app
        .get(&format!("/api/notes/{bow}"), Some(&ana))
        .await
        .expect(200);
    assert_eq!(note_ids(&notes), [note]);

    // Exported: GeoJSON that parses, the stored geometry when it is a GeoJSON geometry
    // (the bow-tie, the empty ring), else null (the number); the reason in the properties.
    let reply = app
        .get("/api/polygons?format=geojson", Some(&ana))
        .await
        .expect(200);
    let collection = feature_collection(&reply);
    assert_eq!(feature_ids(&collection), [valid, bow, empty, number]);
    let features = &reply.body["features"];
    assert_eq!(features[0]["geometry"], square(146, -18, 1));
    assert_eq!(features[0]["properties"]["invalidReason"], Value::Null);
    assert_eq!(features[1]["geometry"], bow_tie());
    assert_eq!(
        features[1]["properties"]["invalidReason"],
        json!(bow_reason)
    );
    assert_eq!(
        features[1]["properties"]["notes"][0]["content"],
        json!("fix the crossing")
    );
    assert_eq!(features[2]["geometry"], empty_ring);
    assert_eq!(features[3]["geometry"], Value::Null);
    assert_eq!(
        features[3]["properties"]["invalidReason"],
        json!(number_reason)
    );
    let bounded = app
        .get("/api/polygons?format=geojson&bbox=-1,-1,3,3", Some(&ana))
        .await
        .expect(200);
    assert!(feature_collection(&bounded).features.is_empty());
    // KML: a Placemark each, geometry only for the valid one, the reasons as data.
    let reply = app
        .get("/api/polygons?format=kml", Some(&ana))
        .await
        .expect(200);
    let kml = parse_kml(&reply);
    assert_eq!(kml.count("Placemark"), 4, "{}", reply.text);
    assert_eq!(kml.count("Polygon"), 1, "{}", reply.text);
    for reason in [&bow_reason, &empty_reason, &number_reason] {
        assert!(kml.text.contains(reason.as_str()), "{}", reply.text);
    }

    // An update must carry a valid geometry: another invalid one is refused, the mark stays.
    let crossed = polygon(json!([[[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]]));
    let reply = app
        .put(&path(bow), Some(&ana), json!({"polygon": crossed}))
        .await;
    assert_invalid_geometry(
        reply,
        "invalid update of an invalid polygon",
        &[&["self-intersect"]],
    );
    let reply = app.get(&path(bow), Some(&ana)).await.expect(200);
    assert_marked(&reply, &bow_tie(), Some(&bow_reason));
    // A valid one clears it, and a bounding box finds the polygon from then on.
    let fixed = square(10, 10, 1);
    let reply = app
        .put(&path(empty), Some(&ana), json!({"polygon": fixed}))
        .await
        .expect(200);
    assert_marked(&reply, &fixed, None);
    assert_eq!(reply.body["polygon"]["id"], json!(empty));
    let reply = app.get(&path(empty), Some(&ana)).await.expect(200);
    assert_marked(&reply, &fixed, None);
    let found = app
        .get("/api/polygons?bbox=9,9,12,12", Some(&ana))
        .await
        .expect(200);
    assert_eq!(listed_ids(&found), [empty]);
    let world = app
        .get("/api/polygons?bbox=-180,-90,180,90", Some(&ana))
        .await
        .expect(200);
    assert_eq!(listed_ids(&world), [valid, empty]);

    // Deleted, with their notes.
    app.delete(&path(number), Some(&ana)).await.expect(204);
    app.get(&path(number), Some(&ana))
        .await
        .expect_error(404, "not_found");
    app.delete(&path(bow), Some(&ana)).await.expect(204);
    app.get(&format!("/api/notes/{bow}"), Some(&ana))
        .await
        .expect_error(404, "not_found");
    let notes = app.get("/api/notes", Some(&ana)).await.expect(200);
    assert!(note_ids(&notes).is_empty(), "{}", notes.text);
    let list = app.get("/api/polygons", Some(&ana)).await.expect(200);
    assert_eq!(listed_ids(&list), [valid, empty]);
}

#[rstest]
#[tokio::test]
async fn another_users_invalid_polygon_is_unreachable(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let (anas, reason) = plant_invalid(&app, ana_id, &bow_tie()).await;
    let anas_note = add_note(&app, &ana, anas, "ana-secret-note").await;

    for (method, target, body) in [
        (Method::GET, path(anas), None),
        (
            Method::PUT,
            path(anas),
            Some(json!({"polygon": square(50, 50, 1)})),
        ),
        (Method::DELETE, path(anas), None),
        (Method::GET, format!("/api/notes/{anas}"), None),
        (Method::GET, format!("/api/notes/polygon/{anas}"), None),
        (
            Method::POST,
            "/api/notes".to_owned(),
            Some(json!({"content": "bob was here", "polygonId": anas})),
        ),
        (Method::DELETE, format!("/api/notes/{anas_note}"), None),
    ] {
        let reply = app
            .send(method.clone(), &target, Some(&bob), body)
            .await
            .expect_error(403, "forbidden");
        assert!(!reply.text.contains("ana-secret-note"), "{method} {target}");
    }
    for target in [
        "/api/polygons",
        "/api/polygons?format=geojson",
        "/api/polygons?format=kml",
    ] {
        let reply = app.get(target, Some(&bob)).await.expect(200);
        assert!(!reply.text.contains(&reason), "{target}: {}", reply.text);
        assert!(!reply.text.contains("ana@example.com"), "{target}");
    }
    let list = app.get("/api/polygons", Some(&bob)).await.expect(200);
    assert!(listed_ids(&list).is_empty(), "{}", list.text);
    // An unknown id is still 404, for an invalid polygon's neighbours too.
    app.get(&path(anas + 1), Some(&bob))
        .await
        .expect_error(404, "not_found");

    // Nothing of Ana's changed; an admin sees it, marked.
    let reply = app.get(&path(anas), Some(&ana)).await.expect(200);
    assert_marked(&reply, &bow_tie(), Some(&reason));
    let reply = app.get(&path(anas), Some(&admin)).await.expect(200);
    assert_marked(&reply, &bow_tie(), Some(&reason));
    let notes = app
        .get(&format!("/api/notes/{anas}"), Some(&ana))
        .await
        .expect(200);
    assert_eq!(note_ids(&notes), [anas_note]);
}
