//! The storage contract for study areas: every promise of the polygon and note ports (and of
//! `UserRepository::find_users`), held against both backends.
//!
//! Like `contract.rs`, each test runs once on a fresh SQLite file and once on a fresh Postgres
//! database (see `reefguide_adapters_postgres::test_support`). Postgres must be reachable: without
//! it the Postgres cases fail, they are not skipped.

mod common;

use common::{database, execute, user_id};
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::geometry::{BoundingBox, PolygonGeometry, PolygonLimits};
use reefguide_domain::{
    Email, Note, NoteContent, NoteId, PasswordHash, Polygon, PolygonId, PolygonShape, Roles, User,
    UserId,
};
use reefguide_ports::{NewUser, NoteRepository, PolygonQuery, PolygonRepository, UserRepository};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement, TransactionTrait as _};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fixtures and builders

async fn create_user(store: &SeaOrmStore, address: &str) -> User {
    store
        .create_user(NewUser {
            email: Email::parse(address).expect("valid email"),
            password_hash: PasswordHash::from_phc(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash".to_owned(),
            ),
            roles: Roles::none(),
        })
        .await
        .expect("user created")
}

fn geometry(value: &Value) -> PolygonGeometry {
    PolygonGeometry::parse(value, PolygonLimits::default())
        .unwrap_or_else(|err| panic!("valid polygon {value}: {err}"))
}

/// GeoJSON of the axis-aligned rectangle with these corners.
fn rectangle_json(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[
            [min_lon, min_lat],
            [max_lon, min_lat],
            [max_lon, max_lat],
            [min_lon, max_lat],
            [min_lon, min_lat]
        ]]
    })
}

fn rectangle(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> PolygonGeometry {
    geometry(&rectangle_json(min_lon, min_lat, max_lon, max_lat))
}

fn bbox(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> BoundingBox {
    BoundingBox::new(min_lon, min_lat, max_lon, max_lat).expect("valid bounding box")
}

async fn create_polygon(store: &SeaOrmStore, owner: UserId, shape: &PolygonGeometry) -> Polygon {
    store
        .create_polygon(owner, shape)
        .await
        .expect("polygon created")
}

fn content(text: &str) -> NoteContent {
    NoteContent::new(text).expect("valid note content")
}

async fn create_note(store: &SeaOrmStore, author: UserId, polygon: PolygonId, text: &str) -> Note {
    store
        .create_note(author, polygon, &content(text))
        .await
        .expect("query")
        .expect("polygon exists")
}

fn query(
    owner: Option<UserId>,
    bbox: Option<BoundingBox>,
    limit: u64,
    offset: u64,
) -> PolygonQuery {
    PolygonQuery {
        owner,
        visible_to: None,
        project: None,
        bbox,
        limit,
        offset,
    }
}

async fn listed_ids(store: &SeaOrmStore, query: &PolygonQuery) -> (Vec<PolygonId>, u64) {
    let page = store.list_polygons(query).await.expect("query");
    (
        page.polygons.iter().map(|polygon| polygon.id).collect(),
        page.total,
    )
}

fn polygon_id(raw: i64) -> PolygonId {
    PolygonId::new(raw).expect("positive id")
}

fn note_id(raw: i64) -> NoteId {
    NoteId::new(raw).expect("positive id")
}

fn note_ids(notes: &[Note]) -> Vec<NoteId> {
    notes.iter().map(|note| note.id).collect()
}

// ---------------------------------------------------------------------------------------------
// Polygons

#[rstest]
#[case::decimal_coordinates(rectangle_json(146.25, -19.125, 147.5, -18.0625))]
#[case::integer_coordinates(json!({
    "type": "Polygon",
    "coordinates": [[[146, -19], [148, -19], [148, -17], [146, -17], [146, -19]]]
}))]
#[case::mixed_coordinates_with_a_hole(json!({
    "type": "Polygon",
    "coordinates": [
        [[145, -20], [150.5, -20], [150.5, -15], [145, -15], [145, -20]],
        [[146.123456789012, -19.5], [147, -19.5], [147, -18.987654321], [146.123456789012, -19.5]]
    ]
}))]
#[case::with_altitudes(json!({
    "type": "Polygon",
    "coordinates": [[[146, -19, 0], [148.5, -19, -2.5], [148, -17, 10], [146, -19, 0]]]
}))]
#[case::trailing_zero_decimals(
    serde_json::from_str::<Value>(
        r#"{"type":"Polygon","coordinates":[[[146.0,-19.0],[148.10,-19],[148,-17.0],[146.0,-19.0]]]}"#
    ).expect("valid JSON")
)]
#[case::antimeridian_and_poles(rectangle_json(-180.0, -90.0, 180.0, 90.0))]
#[tokio::test]
async fn polygon_round_trips(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[case] geojson: Value,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let shape = geometry(&geojson);

    let created = create_polygon(store, owner.id, &shape).await;
    assert_eq!(created.owner, owner.id);
    assert_eq!(created.shape, PolygonShape::Valid(shape.clone()));

    let found = store
        .find_polygon(created.id)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found, created);
    // The GeoJSON comes back as given: integers stay integers, decimals stay decimals.
    assert_eq!(found.shape.to_geojson(), geojson);
    assert_eq!(found.shape.to_geojson().to_string(), geojson.to_string());
    assert_eq!(found.shape.bbox(), Some(shape.bbox()));

    let listed = store
        .list_polygons(&query(None, None, 10, 0))
        .await
        .expect("query");
    assert_eq!(listed.polygons, vec![created]);
}

#[rstest]
#[tokio::test]
async fn stored_polygons_ignore_the_current_limits(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "big@example.com").await;
    // A shell with 120 small square holes: more rings than the default limit of 100.
    let mut rings = vec![json!([[0, 0], [13, 0], [13, 11], [0, 11], [0, 0]])];
    for row in 0..10 {
        for column in 0..12 {
            let (x, y) = (f64::from(column) + 0.25, f64::from(row) + 0.25);
            rings.push(json!([
                [x, y],
                [x, y + 0.5],
                [x + 0.5, y + 0.5],
                [x + 0.5, y],
                [x, y]
            ]));
        }
    }
    let geojson = json!({"type": "Polygon", "coordinates": rings});
    assert!(PolygonGeometry::parse(&geojson, PolygonLimits::default()).is_err());
    let shape = PolygonGeometry::parse(
        &geojson,
        PolygonLimits {
            max_positions: 10_000,
            max_rings: 1_000,
        },
    )
    .expect("valid under raised limits");

    let created = create_polygon(store, owner.id, &shape).await;
    let found = store
        .find_polygon(created.id)
        .await
        .expect("stored geometry is readable whatever the limits")
        .expect("found");
    assert_eq!(found.shape, PolygonShape::Valid(shape));
}

#[rstest]
#[tokio::test]
async fn update_replaces_geometry_and_bbox(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "mover@example.com").await;
    let created = create_polygon(store, owner.id, &rectangle(10.0, 10.0, 11.0, 11.0)).await;
    let other = create_polygon(store, owner.id, &rectangle(10.0, 10.0, 11.0, 11.0)).await;

    let moved = rectangle(-20.5, -30.0, -19.0, -29.0);
    let updated = store
        .update_polygon(created.id, &moved)
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.owner, owner.id);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(updated.shape, PolygonShape::Valid(moved.clone()));
    assert_eq!(
        store.find_polygon(created.id).await.expect("query"),
        Some(updated)
    );
    assert_eq!(
        store.find_polygon(other.id).await.expect("query"),
        Some(other.clone())
    );

    // The stored bounding box moved with the geometry.
    let old_area = Some(bbox(10.0, 10.0, 11.0, 11.0));
    let new_area = Some(bbox(-21.0, -31.0, -20.0, -29.5));
    assert_eq!(
        listed_ids(store, &query(None, old_area, 10, 0)).await,
        (vec![other.id], 1)
    );
    assert_eq!(
        listed_ids(store, &query(None, new_area, 10, 0)).await,
        (vec![created.id], 1)
    );

    assert_eq!(
        store
            .update_polygon(polygon_id(4242), &moved)
            .await
            .expect("query"),
        None
    );
}

#[rstest]
#[tokio::test]
async fn unknown_polygons_are_none(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "someone@example.com").await;
    create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;

    assert_eq!(
        store.find_polygon(polygon_id(999)).await.expect("query"),
        None
    );
    assert!(!store.delete_polygon(polygon_id(999)).await.expect("query"));
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_are_answered_one_by_one(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // On Postgres concurrent reads by id share statements: each must get its own polygon, the
    // same polygon read several times must reach every reader, and a missing id only its reader.
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "reader@example.com").await;
    let mut polygons = Vec::new();
    for n in 0..5 {
        let corner = f64::from(n);
        let area = rectangle(corner, corner, corner + 0.5, corner + 0.5);
        polygons.push(create_polygon(store, owner.id, &area).await);
    }
    let mut wanted: Vec<(PolygonId, Option<Polygon>)> = Vec::new();
    for round in 0..8 {
        for polygon in &polygons {
            wanted.push((polygon.id, Some(polygon.clone())));
        }
        wanted.push((polygon_id(900 + round), None));
    }
    let reads: Vec<_> = wanted
        .iter()
        .map(|(id, _)| {
            let (store, id) = (store.clone(), *id);
            tokio::spawn(async move { store.find_polygon(id).await })
        })
        .collect();
    for (read, (id, expected)) in reads.into_iter().zip(&wanted) {
        let found = read.await.expect("task").expect("query");
        assert_eq!(&found, expected, "the read of polygon {id}");
    }
}

#[rstest]
#[tokio::test]
async fn polygons_are_paged_by_id_with_owner_filter(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let alice = create_user(store, "alice@example.com").await;
    let bob = create_user(store, "bob@example.com").await;
    let mut alices = Vec::new();
    let mut all = Vec::new();
    for i in 0..5 {
        let offset = f64::from(i);
        let mine =
            create_polygon(store, alice.id, &rectangle(offset, 0.0, offset + 0.5, 1.0)).await;
        let theirs =
            create_polygon(store, bob.id, &rectangle(offset, 2.0, offset + 0.5, 3.0)).await;
        alices.push(mine.id);
        all.extend([mine.id, theirs.id]);
    }

    assert_eq!(
        listed_ids(store, &query(None, None, 100, 0)).await,
        (all.clone(), 10)
    );
    assert_eq!(
        listed_ids(store, &query(None, None, 3, 4)).await,
        (all[4..7].to_vec(), 10)
    );
    assert_eq!(
        listed_ids(store, &query(Some(alice.id), None, 100, 0)).await,
        (alices.clone(), 5)
    );
    assert_eq!(
        listed_ids(store, &query(Some(alice.id), None, 2, 0)).await,
        (alices[..2].to_vec(), 5)
    );
    assert_eq!(
        listed_ids(store, &query(Some(alice.id), None, 2, 4)).await,
        (alices[4..].to_vec(), 5)
    );
    assert_eq!(
        listed_ids(store, &query(Some(alice.id), None, 2, 5)).await,
        (vec![], 5)
    );
    assert_eq!(
        listed_ids(store, &query(Some(user_id(4242)), None, 10, 0)).await,
        (vec![], 0)
    );

    // Owner and bounding box together.
    let near_origin = Some(bbox(0.0, 0.0, 1.2, 2.0));
    assert_eq!(
        listed_ids(store, &query(Some(alice.id), near_origin, 10, 0)).await,
        (alices[..2].to_vec(), 2)
    );
    assert_eq!(
        listed_ids(store, &query(Some(bob.id), near_origin, 10, 0)).await,
        (vec![all[1], all[3]], 2)
    );
    assert_eq!(
        listed_ids(store, &query(None, near_origin, 3, 1)).await,
        (all[1..4].to_vec(), 4)
    );
}

/// Listing polygons `[reef, lagoon, far]` with a bounding box keeps those whose boxes intersect
/// it, edges and corners touching included; `expected` are indexes into that list.
#[rstest]
#[case::intersecting_one(bbox(151.0, -19.0, 152.5, -17.0), &[0])]
#[case::intersecting_two(bbox(151.0, -19.5, 153.5, -19.2), &[0, 1])]
#[case::touching_an_edge(bbox(152.0, -19.0, 152.5, -18.5), &[0])]
#[case::touching_a_corner(bbox(152.0, -18.0, 153.0, -17.0), &[0])]
#[case::touching_from_below(bbox(150.0, -25.0, 151.0, -20.0), &[0])]
#[case::containing(bbox(140.0, -30.0, 160.0, -10.0), &[0, 1])]
#[case::inside_one(bbox(150.5, -19.5, 151.0, -19.0), &[0])]
#[case::inside_the_hole_of_a_box_sized_polygon(bbox(153.4, -19.8, 153.6, -19.6), &[1])]
#[case::between(bbox(152.5, -19.0, 152.9, -18.0), &[])]
#[case::same_longitudes_other_latitudes(bbox(150.0, -17.0, 152.0, -16.0), &[])]
#[case::same_latitudes_other_longitudes(bbox(148.0, -20.0, 149.0, -18.0), &[])]
#[case::whole_world(bbox(-180.0, -90.0, 180.0, 90.0), &[0, 1, 2])]
#[tokio::test]
async fn bbox_filter_keeps_intersecting_polygons(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[case] area: BoundingBox,
    #[case] expected: &[usize],
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "spatial@example.com").await;
    let reef = create_polygon(store, owner.id, &rectangle(150.0, -20.0, 152.0, -18.0)).await;
    let lagoon = create_polygon(
        store,
        owner.id,
        &geometry(&json!({
            "type": "Polygon",
            "coordinates": [
                [[153, -20], [154, -20], [154, -19], [153, -19], [153, -20]],
                [[153.2, -19.9], [153.8, -19.9], [153.8, -19.3], [153.2, -19.3], [153.2, -19.9]]
            ]
        })),
    )
    .await;
    let far = create_polygon(store, owner.id, &rectangle(-10.0, 40.0, -9.0, 41.0)).await;
    let polygons = [reef.id, lagoon.id, far.id];
    let expected: Vec<PolygonId> = expected.iter().map(|&i| polygons[i]).collect();
    let count = u64::try_from(expected.len()).expect("small");

    assert_eq!(
        listed_ids(store, &query(None, Some(area), 10, 0)).await,
        (expected, count)
    );
}

#[rstest]
#[tokio::test]
async fn delete_polygon_cascades_its_notes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let doomed = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let kept = create_polygon(store, owner.id, &rectangle(2.0, 2.0, 3.0, 3.0)).await;
    let gone1 = create_note(store, owner.id, doomed.id, "first").await;
    let gone2 = create_note(store, owner.id, doomed.id, "second").await;
    let stays = create_note(store, owner.id, kept.id, "elsewhere").await;

    assert!(store.delete_polygon(doomed.id).await.expect("query"));

    assert_eq!(store.find_polygon(doomed.id).await.expect("query"), None);
    for note in [&gone1, &gone2] {
        assert_eq!(store.find_note(note.id).await.expect("query"), None);
    }
    assert_eq!(
        store
            .list_polygon_notes(&[doomed.id, kept.id])
            .await
            .expect("query"),
        vec![stays.clone()]
    );
    assert_eq!(store.list_notes(None).await.expect("query"), vec![stays]);
    assert_eq!(
        listed_ids(store, &query(None, None, 10, 0)).await,
        (vec![kept.id], 1)
    );
    assert!(!store.delete_polygon(doomed.id).await.expect("query"));
}

#[rstest]
#[tokio::test]
async fn deleting_a_user_cascades_polygons_and_notes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let doomed = create_user(store, "gone@example.com").await;
    let survivor = create_user(store, "stays@example.com").await;
    let doomed_polygon = create_polygon(store, doomed.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let survivor_polygon = create_polygon(store, survivor.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    // Notes on the doomed user's polygon, by both; notes on the survivor's polygon, by both.
    let own_note = create_note(store, doomed.id, doomed_polygon.id, "mine").await;
    let visitor_note = create_note(store, survivor.id, doomed_polygon.id, "visiting").await;
    let written_elsewhere = create_note(store, doomed.id, survivor_polygon.id, "hello").await;
    let survivor_note = create_note(store, survivor.id, survivor_polygon.id, "own").await;

    assert!(store.delete_user(doomed.id).await.expect("query"));

    assert_eq!(
        store.find_polygon(doomed_polygon.id).await.expect("query"),
        None
    );
    assert_eq!(
        store
            .find_polygon(survivor_polygon.id)
            .await
            .expect("query"),
        Some(survivor_polygon.clone())
    );
    for note in [&own_note, &visitor_note, &written_elsewhere] {
        assert_eq!(store.find_note(note.id).await.expect("query"), None);
    }
    assert_eq!(
        store.list_notes(None).await.expect("query"),
        vec![survivor_note.clone()]
    );
    assert_eq!(
        store.list_notes(Some(doomed.id)).await.expect("query"),
        vec![]
    );
    assert_eq!(
        listed_ids(store, &query(None, None, 10, 0)).await,
        (vec![survivor_polygon.id], 1)
    );
    assert_eq!(
        listed_ids(store, &query(Some(doomed.id), None, 10, 0)).await,
        (vec![], 0)
    );
}

#[rstest]
#[tokio::test]
async fn corrupt_stored_polygon_is_an_error(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "corrupt@example.com").await;
    execute(
        store,
        &format!(
            "INSERT INTO polygons \
             (user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at) \
             VALUES ({}, '{{\"type\":\"Point\",\"coordinates\":[1,2]}}', 1, 2, 1, 2, \
             '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
            owner.id
        ),
    )
    .await;

    let err = store
        .list_polygons(&query(None, None, 10, 0))
        .await
        .expect_err("a point is not a polygon");
    let message = format!("{err:#}");
    assert!(message.contains("stored polygon 1"), "{message}");
    let err = store
        .find_polygon(polygon_id(1))
        .await
        .expect_err("a point is not a polygon");
    assert!(format!("{err:#}").contains("stored polygon 1"));
}

#[rstest]
#[tokio::test]
async fn polygon_of_unknown_owner_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    assert!(
        store
            .create_polygon(user_id(4242), &rectangle(0.0, 0.0, 1.0, 1.0))
            .await
            .is_err()
    );
    assert_eq!(
        listed_ids(store, &query(None, None, 10, 0)).await,
        (vec![], 0)
    );
}

#[rstest]
#[tokio::test]
async fn bbox_listing_uses_the_bbox_index(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let connection = store.connection();
    let filter = "min_lon <= 2 AND max_lon >= 1 AND min_lat <= 2 AND max_lat >= 1";
    let plan: Vec<String> = match backend {
        TestBackend::Postgres => {
            // With a handful of rows the planner would rightly scan; forbid that to see whether
            // the index can serve the filter at all.
            let txn = connection.begin().await.expect("begin");
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .expect("set");
            let rows = txn
                .query_all_raw(Statement::from_string(
                    connection.get_database_backend(),
                    format!("EXPLAIN SELECT id FROM polygons WHERE {filter}"),
                ))
                .await
                .expect("explain");
            txn.rollback().await.expect("rollback");
            rows.iter()
                .map(|row| row.try_get::<String>("", "QUERY PLAN").expect("plan line"))
                .collect()
        }
        TestBackend::Sqlite => connection
            .query_all_raw(Statement::from_string(
                connection.get_database_backend(),
                format!("EXPLAIN QUERY PLAN SELECT id FROM polygons WHERE {filter}"),
            ))
            .await
            .expect("explain")
            .iter()
            .map(|row| row.try_get::<String>("", "detail").expect("plan line"))
            .collect(),
    };
    assert!(
        plan.iter().any(|line| line.contains("idx_polygons_bbox")),
        "{plan:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Notes

#[rstest]
#[tokio::test]
async fn note_round_trips(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "writer@example.com").await;
    let polygon = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let text = "  Reef flat: check depth.\nÜnïcödé \"quoted\" 🐠  ";

    let note = create_note(store, owner.id, polygon.id, text).await;
    assert_eq!(note.content.as_str(), text);
    assert_eq!(note.author, owner.id);
    assert_eq!(note.polygon_id, polygon.id);
    assert_eq!(store.find_note(note.id).await.expect("query"), Some(note));
}

#[rstest]
#[tokio::test]
async fn note_on_missing_polygon_is_none(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "late@example.com").await;
    let deleted = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    assert!(store.delete_polygon(deleted.id).await.expect("query"));

    for missing in [deleted.id, polygon_id(4242)] {
        assert_eq!(
            store
                .create_note(owner.id, missing, &content("too late"))
                .await
                .expect("query"),
            None
        );
    }
    assert_eq!(store.list_notes(None).await.expect("query"), vec![]);
}

#[rstest]
#[tokio::test]
async fn note_by_unknown_author_is_an_error(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let polygon = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;

    let err = store
        .create_note(user_id(4242), polygon.id, &content("ghost"))
        .await
        .expect_err("unknown author refused");
    assert!(format!("{err:#}").contains("4242"));
    assert_eq!(store.list_notes(None).await.expect("query"), vec![]);
}

#[rstest]
#[tokio::test]
async fn notes_are_listed_by_id_for_authors_and_those_who_see_the_polygon(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let alice = create_user(store, "alice@example.com").await;
    let bob = create_user(store, "bob@example.com").await;
    let first = create_polygon(store, alice.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let second = create_polygon(store, bob.id, &rectangle(2.0, 2.0, 3.0, 3.0)).await;
    let a1 = create_note(store, alice.id, first.id, "a1").await;
    let b1 = create_note(store, bob.id, first.id, "b1").await;
    let a2 = create_note(store, alice.id, second.id, "a2").await;
    let b2 = create_note(store, bob.id, second.id, "b2").await;

    assert_eq!(
        store.list_notes(None).await.expect("query"),
        vec![a1.clone(), b1.clone(), a2.clone(), b2.clone()]
    );
    // Each reader: the notes they wrote, and every note on their own polygons (R2).
    assert_eq!(
        store.list_notes(Some(alice.id)).await.expect("query"),
        vec![a1.clone(), b1.clone(), a2.clone()]
    );
    assert_eq!(
        store.list_notes(Some(bob.id)).await.expect("query"),
        vec![b1.clone(), a2.clone(), b2.clone()]
    );
    assert_eq!(
        store.list_notes(Some(user_id(4242))).await.expect("query"),
        vec![]
    );
}

#[rstest]
#[tokio::test]
async fn notes_are_listed_for_several_polygons(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "many@example.com").await;
    let p1 = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let p2 = create_polygon(store, owner.id, &rectangle(2.0, 2.0, 3.0, 3.0)).await;
    let p3 = create_polygon(store, owner.id, &rectangle(4.0, 4.0, 5.0, 5.0)).await;
    let empty = create_polygon(store, owner.id, &rectangle(6.0, 6.0, 7.0, 7.0)).await;
    let n1 = create_note(store, owner.id, p1.id, "one").await;
    let n2 = create_note(store, owner.id, p2.id, "two").await;
    let n3 = create_note(store, owner.id, p1.id, "three").await;
    let n4 = create_note(store, owner.id, p3.id, "four").await;

    let notes = |ids: Vec<PolygonId>| async move {
        note_ids(&store.list_polygon_notes(&ids).await.expect("query"))
    };
    assert_eq!(notes(vec![p1.id]).await, vec![n1.id, n3.id]);
    // Any order, duplicates, polygons without notes and unknown ids are all fine.
    assert_eq!(
        notes(vec![p3.id, p1.id, empty.id, p1.id, polygon_id(4242)]).await,
        vec![n1.id, n3.id, n4.id]
    );
    assert_eq!(
        notes(vec![p1.id, p2.id, p3.id]).await,
        vec![n1.id, n2.id, n3.id, n4.id]
    );
    assert_eq!(notes(vec![empty.id]).await, vec![]);
    assert_eq!(notes(vec![]).await, vec![]);

    let full = store.list_polygon_notes(&[p2.id]).await.expect("query");
    assert_eq!(full, vec![n2]);
}

#[rstest]
#[tokio::test]
async fn update_note_replaces_content(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "editor@example.com").await;
    let polygon = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let note = create_note(store, owner.id, polygon.id, "draft").await;
    let other = create_note(store, owner.id, polygon.id, "other").await;

    let updated = store
        .update_note(note.id, &content("final"))
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(updated.content.as_str(), "final");
    assert_eq!(updated.id, note.id);
    assert_eq!(updated.created_at, note.created_at);
    assert_eq!(updated.author, note.author);
    assert_eq!(updated.polygon_id, note.polygon_id);
    assert_eq!(
        store.find_note(note.id).await.expect("query"),
        Some(updated)
    );
    assert_eq!(store.find_note(other.id).await.expect("query"), Some(other));

    assert_eq!(
        store
            .update_note(note_id(4242), &content("x"))
            .await
            .expect("query"),
        None
    );
}

#[rstest]
#[tokio::test]
async fn delete_note_removes_only_it(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "deleter@example.com").await;
    let polygon = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    let doomed = create_note(store, owner.id, polygon.id, "doomed").await;
    let kept = create_note(store, owner.id, polygon.id, "kept").await;

    assert!(store.delete_note(doomed.id).await.expect("query"));
    assert_eq!(store.find_note(doomed.id).await.expect("query"), None);
    assert_eq!(
        store
            .list_polygon_notes(&[polygon.id])
            .await
            .expect("query"),
        vec![kept]
    );
    assert_eq!(
        store.find_polygon(polygon.id).await.expect("query"),
        Some(polygon)
    );
    assert!(!store.delete_note(doomed.id).await.expect("query"));
    assert!(!store.delete_note(note_id(4242)).await.expect("query"));
    assert_eq!(store.find_note(note_id(4242)).await.expect("query"), None);
}

#[rstest]
#[tokio::test]
async fn corrupt_stored_note_is_an_error(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "blank@example.com").await;
    let polygon = create_polygon(store, owner.id, &rectangle(0.0, 0.0, 1.0, 1.0)).await;
    execute(
        store,
        &format!(
            "INSERT INTO notes (user_id, polygon_id, content, created_at) \
             VALUES ({}, {}, '   ', '2026-01-01 00:00:00+00:00')",
            owner.id, polygon.id
        ),
    )
    .await;

    let err = store
        .list_notes(None)
        .await
        .expect_err("blank note refused");
    assert!(format!("{err:#}").contains("stored note 1"), "{err:#}");
}

// ---------------------------------------------------------------------------------------------
// Users by id

#[rstest]
#[tokio::test]
async fn find_users_returns_the_existing_ones_by_id(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let carol = create_user(store, "carol@example.com").await;
    let alice = create_user(store, "alice@example.com").await;
    let bob = create_user(store, "bob@example.com").await;

    assert_eq!(
        store
            .find_users(&[bob.id, user_id(4242), carol.id, bob.id])
            .await
            .expect("query"),
        vec![carol.clone(), bob.clone()]
    );
    assert_eq!(
        store.find_users(&[alice.id]).await.expect("query"),
        vec![alice]
    );
    assert_eq!(
        store.find_users(&[user_id(4242)]).await.expect("query"),
        vec![]
    );
    assert_eq!(store.find_users(&[]).await.expect("query"), vec![]);
}
