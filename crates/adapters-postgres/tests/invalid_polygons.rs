//! Invalid (imported) polygons, on both backends:
//!
//! - migration `m0006_invalid_polygons` on a database written under m0001–m0005: every row stays,
//!   foreign keys still hold and still cascade both ways (SQLite rebuilds `polygons` with foreign
//!   keys off; a mistake there would delete every note), indexes come back, ids are not reused;
//!   undoing it is refused while invalid polygons exist;
//! - the store's handling of rows marked invalid (planted with SQL, as the importer writes them):
//!   read back as `PolygonShape::Invalid` with the JSON as stored, listed without a bounding box
//!   and never with one, annotated, updated to a valid geometry (which clears the mark) and
//!   deleted with their notes.

mod common;

use common::{database, execute, user_id};
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::{TestBackend, TestDatabase};
use reefguide_domain::geometry::{BoundingBox, PolygonGeometry, PolygonLimits};
use reefguide_domain::{
    Email, InvalidGeometry, NoteContent, PasswordHash, PolygonId, PolygonShape, Roles,
};
use reefguide_ports::{NewUser, NoteRepository, PolygonQuery, PolygonRepository, UserRepository};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

/// The migrations before `m0006_invalid_polygons`.
const BEFORE_INVALID_POLYGONS: u32 = 5;

const T: &str = "'2026-01-01 00:00:00+00:00'";

const BOW_TIE: &str = r#"{"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}"#;
const EMPTY_RING: &str = r#"{"type":"Polygon","coordinates":[[]]}"#;

fn polygon_id(raw: i64) -> PolygonId {
    PolygonId::new(raw).expect("positive id")
}

fn query(bbox: Option<BoundingBox>) -> PolygonQuery {
    PolygonQuery {
        owner: None,
        visible_to: None,
        project: None,
        bbox,
        limit: 100,
        offset: 0,
    }
}

fn world() -> Option<BoundingBox> {
    Some(BoundingBox::new(-180.0, -90.0, 180.0, 90.0).expect("valid box"))
}

async fn listed(store: &SeaOrmStore, bbox: Option<BoundingBox>) -> (Vec<i64>, u64) {
    let page = store.list_polygons(&query(bbox)).await.expect("listed");
    (
        page.polygons
            .iter()
            .map(|p| i64::from(p.id.get()))
            .collect(),
        page.total,
    )
}

/// The single number a `SELECT … AS n` answers.
async fn count(store: &SeaOrmStore, sql: &str) -> i64 {
    let backend = store.connection().get_database_backend();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .expect("a row");
    let n: Option<i64> = row.try_get("", "n").expect("a number");
    n.unwrap_or(0)
}

async fn try_execute(store: &SeaOrmStore, sql: &str) -> Result<(), sea_orm::DbErr> {
    store.connection().execute_unprepared(sql).await.map(|_| ())
}

/// Plants a polygon of `owner` marked invalid, as the importer writes one: its JSON, the reason,
/// no bounding box.
async fn plant_invalid(store: &SeaOrmStore, owner: i64, json: &str, reason: &str) {
    execute(
        store,
        &format!(
            "INSERT INTO polygons (user_id, polygon, created_at, updated_at, invalid_reason) \
             VALUES ({owner}, '{json}', {T}, {T}, '{reason}')"
        ),
    )
    .await;
}

async fn create_user(store: &SeaOrmStore, address: &str) -> i64 {
    let user = store
        .create_user(NewUser {
            email: Email::parse(address).expect("valid email"),
            password_hash: PasswordHash::from_phc("hash".to_owned()),
            roles: Roles::none(),
        })
        .await
        .expect("user created");
    user.id.get().into()
}

fn geometry(value: &Value) -> PolygonGeometry {
    PolygonGeometry::parse(value, PolygonLimits::default()).expect("valid polygon")
}

// ---------------------------------------------------------------------------------------------
// The migration

/// Users 1 (ana) and 2 (ben); ana's polygons 1 (with her note and ben's) and 2, polygon 3
/// created then deleted. Raw SQL: the store speaks the newest schema only.
async fn plant_rows(store: &SeaOrmStore) {
    for address in ["ana@example.com", "ben@example.com"] {
        execute(
            store,
            &format!(
                "INSERT INTO users (email, password_hash, roles, created_at) \
                 VALUES ('{address}', 'hash', '[]', {T})"
            ),
        )
        .await;
    }
    for (west, south) in [(0, 0), (10, 10), (20, 20)] {
        let (east, north) = (west + 1, south + 1);
        execute(
            store,
            &format!(
                "INSERT INTO polygons \
                 (user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at) \
                 VALUES (1, '{{\"type\":\"Polygon\",\"coordinates\":[[[{west},{south}],\
                 [{east},{south}],[{east},{north}],[{west},{south}]]]}}', \
                 {west}, {south}, {east}, {north}, {T}, {T})"
            ),
        )
        .await;
    }
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM polygons WHERE id IN (1, 2, 3)"
        )
        .await,
        3,
        "a fresh database numbers polygons from 1"
    );
    execute(store, "DELETE FROM polygons WHERE id = 3").await;
    execute(
        store,
        &format!(
            "INSERT INTO notes (user_id, polygon_id, content, created_at) \
             VALUES (1, 1, 'mine', {T}), (2, 1, 'ben''s', {T}), (1, 2, 'other', {T})"
        ),
    )
    .await;
}

/// Rows per table, in a fixed order.
async fn row_counts(store: &SeaOrmStore) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in ["users", "polygons", "notes"] {
        counts.push((
            table,
            count(store, &format!("SELECT COUNT(*) AS n FROM {table}")).await,
        ));
    }
    counts
}

/// The indexes of `polygons` (their names, sorted), primary keys aside.
async fn polygon_indexes(store: &SeaOrmStore) -> Vec<String> {
    let backend = store.connection().get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'polygons' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name"
        }
        _ => {
            "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'polygons' \
             AND indexname <> 'polygons_pkey' ORDER BY indexname"
        }
    };
    store
        .connection()
        .query_all_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .expect("indexes")
        .iter()
        .map(|row| row.try_get::<String>("", "name").expect("a name"))
        .collect()
}

/// On SQLite, every pooled connection (including the one the rebuild used) still enforces
/// foreign keys, and the schema is consistent.
async fn assert_sqlite_foreign_keys_on(store: &SeaOrmStore) {
    let pool = store.connection().get_sqlite_connection_pool();
    let mut connections = Vec::new();
    // The test store's pool holds at most five: take them all at once.
    for _ in 0..5 {
        connections.push(pool.acquire().await.expect("a connection"));
    }
    for connection in &mut connections {
        let enabled: i64 = sea_orm::sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **connection)
            .await
            .expect("pragma");
        assert_eq!(enabled, 1, "a pooled connection lost its foreign keys");
    }
    let connection = connections.first_mut().expect("a connection");
    let dangling: Vec<(String, Option<i64>, String, i64)> =
        sea_orm::sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&mut **connection)
            .await
            .expect("pragma");
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    let integrity: String = sea_orm::sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut **connection)
        .await
        .expect("pragma");
    assert_eq!(integrity, "ok");
}

#[rstest]
#[tokio::test]
async fn rows_written_before_the_migration_stay_and_still_cascade(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = TestDatabase::create_with_migrations(backend, BEFORE_INVALID_POLYGONS)
        .await
        .expect("a database at m0005");
    let store = db.store();
    plant_rows(store).await;
    let before = row_counts(store).await;
    let indexes = polygon_indexes(store).await;
    assert_eq!(indexes, ["idx_polygons_bbox", "idx_polygons_user_id_id"]);

    store.migrate().await.expect("m0006 applied");

    assert_eq!(row_counts(store).await, before, "every row stays");
    // Later migrations may add indexes of their own (m0010's on `project_id`).
    let after = polygon_indexes(store).await;
    for index in &indexes {
        assert!(after.contains(index), "the indexes stay: {after:?}");
    }
    if backend == TestBackend::Sqlite {
        assert_sqlite_foreign_keys_on(store).await;
    }
    let first = store
        .find_polygon(polygon_id(1))
        .await
        .expect("query")
        .expect("polygon 1 stays");
    assert_eq!(first.owner, user_id(1));
    assert_eq!(
        first.shape.to_geojson(),
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    );
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM polygons WHERE invalid_reason IS NULL \
             AND min_lon IS NOT NULL AND max_lat IS NOT NULL"
        )
        .await,
        2,
        "old rows are valid, their boxes kept"
    );
    let unit = Some(BoundingBox::new(0.5, 0.5, 0.5, 0.5).expect("valid box"));
    assert_eq!(listed(store, unit).await, (vec![1], 1), "bbox filter works");

    // The deleted polygon's id 3 is not handed out again.
    let created = store
        .create_polygon(
            user_id(2),
            &geometry(
                &json!({"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 5]]]}),
            ),
        )
        .await
        .expect("created");
    assert_eq!(created.id, polygon_id(4));
    plant_invalid(store, 2, BOW_TIE, "ring 0 self-intersects near (1, 1)").await;

    // Rows are valid with a whole box, or invalid without one, nothing in between.
    for (values, what) in [
        ("NULL, NULL, NULL, NULL, NULL", "neither a box nor a reason"),
        ("0, 0, 1, NULL, NULL", "part of a box and no reason"),
        ("0, NULL, NULL, NULL, 'bad'", "a reason with part of a box"),
        ("0, 0, 1, 1, 'bad'", "a reason with a box"),
    ] {
        let sql = format!(
            "INSERT INTO polygons (user_id, polygon, min_lon, min_lat, max_lon, max_lat, \
             invalid_reason, created_at, updated_at) VALUES (2, '{{}}', {values}, {T}, {T})"
        );
        assert!(try_execute(store, &sql).await.is_err(), "{what}: {sql}");
    }

    // Deleting a polygon still takes its notes; deleting a user still takes their polygons.
    assert!(store.delete_polygon(polygon_id(2)).await.expect("deleted"));
    assert_eq!(
        row_counts(store).await,
        [("users", 2), ("polygons", 3), ("notes", 2)]
    );
    assert!(store.delete_user(user_id(1)).await.expect("deleted"));
    assert_eq!(
        row_counts(store).await,
        [("users", 1), ("polygons", 2), ("notes", 0)],
        "ana's polygon went with her, and both notes on it"
    );
    assert!(store.delete_user(user_id(2)).await.expect("deleted"));
    assert_eq!(
        row_counts(store).await,
        [("users", 0), ("polygons", 0), ("notes", 0)],
        "ben's polygons, the invalid one too"
    );
}

// ---------------------------------------------------------------------------------------------
// The store and invalid rows

#[rstest]
#[tokio::test]
async fn invalid_polygons_are_read_listed_annotated_updated_and_deleted(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = create_user(store, "ana@example.com").await;
    let square =
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]});
    store
        .create_polygon(user_id(ana), &geometry(&square))
        .await
        .expect("created");
    let bow_tie_reason = "ring 0 self-intersects near (1, 1)";
    plant_invalid(store, ana, BOW_TIE, bow_tie_reason).await;
    plant_invalid(
        store,
        ana,
        EMPTY_RING,
        "ring 0 has 0 positions; a ring needs at least 4",
    )
    .await;
    plant_invalid(store, ana, "42", "geometry must be a JSON object").await;

    // Read back as stored, with the reason.
    let bow_tie = store
        .find_polygon(polygon_id(2))
        .await
        .expect("readable")
        .expect("found");
    assert_eq!(bow_tie.owner, user_id(ana));
    assert_eq!(
        bow_tie.shape,
        PolygonShape::Invalid(InvalidGeometry {
            raw: serde_json::from_str(BOW_TIE).expect("JSON"),
            reason: bow_tie_reason.to_owned(),
        })
    );
    assert_eq!(bow_tie.shape.bbox(), None);
    let number = store
        .find_polygon(polygon_id(4))
        .await
        .expect("readable")
        .expect("found");
    assert_eq!(number.shape.to_geojson(), json!(42));
    assert_eq!(
        number.shape.invalid_reason(),
        Some("geometry must be a JSON object")
    );
    let empty = store
        .find_polygon(polygon_id(3))
        .await
        .expect("readable")
        .expect("found");
    assert_eq!(
        empty.shape.to_geojson(),
        serde_json::from_str::<Value>(EMPTY_RING).expect("JSON")
    );

    // Listed without a bounding box, never with one.
    assert_eq!(listed(store, None).await, (vec![1, 2, 3, 4], 4));
    assert_eq!(listed(store, world()).await, (vec![1], 1));
    let page = store.list_polygons(&query(None)).await.expect("listed");
    assert_eq!(page.polygons[1], bow_tie);

    // Annotated.
    let note = store
        .create_note(
            user_id(ana),
            polygon_id(2),
            &NoteContent::new("fix me").expect("content"),
        )
        .await
        .expect("query")
        .expect("the polygon exists");
    assert_eq!(note.polygon_id, polygon_id(2));

    // Updated with a valid geometry: the mark is cleared and the box set.
    let moved = geometry(
        &json!({"type": "Polygon", "coordinates": [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]}),
    );
    let updated = store
        .update_polygon(polygon_id(2), &moved)
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(updated.shape, PolygonShape::Valid(moved));
    assert_eq!(updated.created_at, bow_tie.created_at);
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM polygons WHERE id = 2 AND invalid_reason IS NULL \
             AND min_lon = 10 AND min_lat = 10 AND max_lon = 11 AND max_lat = 11"
        )
        .await,
        1
    );
    assert_eq!(listed(store, world()).await, (vec![1, 2], 2));
    let there = Some(BoundingBox::new(10.5, 10.5, 10.6, 10.6).expect("valid box"));
    assert_eq!(listed(store, there).await, (vec![2], 1));
    assert_eq!(
        store
            .list_polygon_notes(&[polygon_id(2)])
            .await
            .expect("notes"),
        [note],
        "the note stays"
    );

    // Deleted, with their notes.
    store
        .create_note(
            user_id(ana),
            polygon_id(4),
            &NoteContent::new("a number?").expect("content"),
        )
        .await
        .expect("query")
        .expect("the polygon exists");
    assert!(store.delete_polygon(polygon_id(3)).await.expect("deleted"));
    assert!(store.delete_polygon(polygon_id(4)).await.expect("deleted"));
    assert_eq!(listed(store, None).await, (vec![1, 2], 2));
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM notes WHERE polygon_id = 4"
        )
        .await,
        0
    );
}
