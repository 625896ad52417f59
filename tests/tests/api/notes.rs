//! Contract §6: notes on polygons. The caller's notes, a polygon's notes by the R1 and R2 paths,
//! content rules, and who may add, change and delete them.

use reefguide_domain::Role;
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{Reply, TestApp};
use reqwest::Method;
use rstest::rstest;
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

/// Stores a polygon and returns its id.
async fn create_polygon(app: &TestApp, token: &str) -> i64 {
    let reply = app
        .post(
            "/api/polygons",
            Some(token),
            json!({"polygon": square(0, 0, 1)}),
        )
        .await
        .expect(200);
    reply.body["polygon"]["id"].as_i64().expect("polygon id")
}

/// Adds a note and returns the note object.
async fn add_note(app: &TestApp, token: &str, polygon_id: i64, content: &str) -> Value {
    let reply = app
        .post(
            "/api/notes",
            Some(token),
            json!({"content": content, "polygonId": polygon_id}),
        )
        .await
        .expect(200);
    reply.body["note"].clone()
}

fn id_of(note: &Value) -> i64 {
    note["id"].as_i64().expect("note id")
}

fn note_path(id: i64) -> String {
    format!("/api/notes/{id}")
}

fn note_path_raw(raw: &str) -> String {
    format!("/api/notes/{raw}")
}

/// Ids of a `{"notes": […]}` reply, in order.
fn note_ids(reply: &Reply) -> Vec<i64> {
    notes(reply).iter().map(id_of).collect()
}

fn notes(reply: &Reply) -> &Vec<Value> {
    reply.body["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes array: {}", reply.text))
}

/// The notes of a polygon as its owner sees them.
async fn notes_of(app: &TestApp, owner: &str, polygon_id: i64) -> Value {
    app.get(&format!("/api/notes/{polygon_id}"), Some(owner))
        .await
        .expect(200)
        .body["notes"]
        .clone()
}

/// The id of the account behind a token.
async fn id_behind(app: &TestApp, token: &str) -> i64 {
    let profile = app.get("/api/auth/profile", Some(token)).await.expect(200);
    profile.body["user"]["id"].as_i64().expect("user id")
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
async fn create_note_returns_it_and_every_read_route_shows_it(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, token) = app.user("ana@example.com").await;
    let polygon = create_polygon(&app, &token).await;
    let reply = app
        .post(
            "/api/notes",
            Some(&token),
            json!({"content": "Healthy coral here", "polygonId": polygon}),
        )
        .await
        .expect(200);
    let note = &reply.body["note"];
    let mut keys: Vec<&str> = note
        .as_object()
        .expect("note object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["content", "created_at", "id", "polygon_id", "user_id"]
    );
    assert!(id_of(note) > 0);
    assert_eq!(note["content"], json!("Healthy coral here"));
    assert_eq!(note["user_id"], json!(ana));
    assert_eq!(note["polygon_id"], json!(polygon));
    assert!(is_timestamp(&note["created_at"]), "{}", reply.text);

    for target in [
        "/api/notes".to_owned(),
        format!("/api/notes/{polygon}"),
        format!("/api/notes/polygon/{polygon}"),
    ] {
        let list = app.get(&target, Some(&token)).await.expect(200);
        assert_eq!(list.body, json!({"notes": [note]}), "{target}");
    }
}

#[rstest]
#[tokio::test]
async fn notes_of_a_polygon_by_both_paths(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let first = create_polygon(&app, &token).await;
    let second = create_polygon(&app, &token).await;
    let empty = create_polygon(&app, &token).await;
    let a = id_of(&add_note(&app, &token, first, "a").await);
    let b = id_of(&add_note(&app, &token, second, "b").await);
    let c = id_of(&add_note(&app, &token, first, "c").await);
    for prefix in ["/api/notes", "/api/notes/polygon"] {
        let reply = app
            .get(&format!("{prefix}/{first}"), Some(&token))
            .await
            .expect(200);
        assert_eq!(note_ids(&reply), [a, c], "{prefix}");
        let reply = app
            .get(&format!("{prefix}/{second}"), Some(&token))
            .await
            .expect(200);
        assert_eq!(note_ids(&reply), [b], "{prefix}");
        let reply = app
            .get(&format!("{prefix}/{empty}"), Some(&token))
            .await
            .expect(200);
        assert_eq!(reply.body, json!({"notes": []}), "{prefix}");
        // The id is a polygon id: a note id that is no polygon's is 404 "Polygon not found".
        let reply = app
            .get(&format!("{prefix}/999999"), Some(&token))
            .await
            .expect_error(404, "not_found");
        assert_eq!(reply.body["message"], json!("Polygon not found"));
        for bad in ["abc", "0", "-1", "99999999999"] {
            app.get(&format!("{prefix}/{bad}"), Some(&token))
                .await
                .expect_error(400, "invalid_id");
        }
    }
    let all = app.get("/api/notes", Some(&token)).await.expect(200);
    assert_eq!(note_ids(&all), [a, b, c]);
}

#[rstest]
#[tokio::test]
async fn listing_shows_the_callers_notes_and_admin_sees_all(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let (_, cy) = app.user("cy@example.com").await;
    let admin = app.admin_token().await;
    let anas = create_polygon(&app, &ana).await;
    let bobs = create_polygon(&app, &bob).await;
    let a1 = id_of(&add_note(&app, &ana, anas, "ana 1").await);
    let b1 = id_of(&add_note(&app, &bob, bobs, "bob 1").await);
    let a2 = id_of(&add_note(&app, &ana, anas, "ana 2").await);

    let reply = app.get("/api/notes", Some(&ana)).await.expect(200);
    assert_eq!(note_ids(&reply), [a1, a2]);
    let reply = app.get("/api/notes", Some(&bob)).await.expect(200);
    assert_eq!(note_ids(&reply), [b1]);
    let reply = app.get("/api/notes", Some(&cy)).await.expect(200);
    assert_eq!(reply.body, json!({"notes": []}));
    let reply = app.get("/api/notes", Some(&admin)).await.expect(200);
    assert_eq!(note_ids(&reply), [a1, b1, a2]);
    app.get("/api/notes", None)
        .await
        .expect_error(401, "unauthorized");
}

// ---------------------------------------------------------------------------------------------
// Content rules and bodies
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn note_content_must_be_1_to_10000_characters(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let polygon = create_polygon(&app, &token).await;
    for (case, content) in [
        ("empty", String::new()),
        ("whitespace", "   \n\t ".to_owned()),
        ("10,001 characters", "x".repeat(10_001)),
        ("10,001 two-byte characters", "é".repeat(10_001)),
    ] {
        let reply = app
            .post(
                "/api/notes",
                Some(&token),
                json!({"content": content, "polygonId": polygon}),
            )
            .await
            .expect_error(400, "validation_error");
        assert_eq!(
            reply.body["details"][0]["path"],
            json!("content"),
            "{case}: {}",
            reply.text
        );
    }
    let none = app.get("/api/notes", Some(&token)).await.expect(200);
    assert_eq!(none.body, json!({"notes": []}));

    // The limit counts characters, not bytes, and is inclusive.
    for content in ["x".repeat(10_000), "é".repeat(10_000), "y".to_owned()] {
        let note = add_note(&app, &token, polygon, &content).await;
        assert_eq!(note["content"], json!(content));
    }

    // The same rules on update; a refused update changes nothing.
    let note = add_note(&app, &token, polygon, "original").await;
    for content in [String::new(), " \n ".to_owned(), "z".repeat(10_001)] {
        app.put(
            &note_path(id_of(&note)),
            Some(&token),
            json!({"content": content}),
        )
        .await
        .expect_error(400, "validation_error");
    }
    let stored = notes_of(&app, &token, polygon).await;
    assert!(
        stored.as_array().expect("notes").contains(&note),
        "{stored}"
    );
}

#[rstest]
#[tokio::test]
async fn malformed_note_bodies_are_400(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let polygon = create_polygon(&app, &token).await;
    let note = add_note(&app, &token, polygon, "original").await;
    for body in [
        json!({}),
        json!({"polygonId": polygon}),
        json!({"content": "no polygon"}),
        json!({"content": 5, "polygonId": polygon}),
        json!({"content": "x", "polygonId": "abc"}),
        json!({"content": "x", "polygonId": null}),
        json!("x"),
    ] {
        app.post("/api/notes", Some(&token), body)
            .await
            .expect_error(400, "invalid_body");
    }
    for bad in [0, -1] {
        app.post(
            "/api/notes",
            Some(&token),
            json!({"content": "x", "polygonId": bad}),
        )
        .await
        .expect_error(400, "validation_error");
    }
    for body in [json!({}), json!({"content": 7}), json!({"content": null})] {
        app.put(&note_path(id_of(&note)), Some(&token), body)
            .await
            .expect_error(400, "invalid_body");
    }
    for (method, target) in [
        (Method::POST, "/api/notes".to_owned()),
        (Method::PUT, note_path(id_of(&note))),
    ] {
        app.send_raw(method, &target, Some(&token), b"{\"content\": ".to_vec())
            .await
            .expect_error(400, "malformed_json");
    }
    assert_eq!(notes_of(&app, &token, polygon).await, json!([note]));
}

// ---------------------------------------------------------------------------------------------
// Change and delete
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn author_updates_and_deletes_a_note(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let polygon = create_polygon(&app, &token).await;
    let note = add_note(&app, &token, polygon, "first draft").await;
    let other = add_note(&app, &token, polygon, "another").await;
    let id = id_of(&note);

    let reply = app
        .put(
            &note_path(id),
            Some(&token),
            json!({"content": "second draft"}),
        )
        .await
        .expect(200);
    let mut expected = note.clone();
    expected["content"] = json!("second draft");
    assert_eq!(reply.body, json!({"note": expected}));
    assert_eq!(
        notes_of(&app, &token, polygon).await,
        json!([expected, other])
    );

    let reply = app.delete(&note_path(id), Some(&token)).await.expect(204);
    assert!(reply.text.is_empty(), "204 with a body: {}", reply.text);
    assert_eq!(notes_of(&app, &token, polygon).await, json!([other]));
    let mine = app.get("/api/notes", Some(&token)).await.expect(200);
    assert_eq!(note_ids(&mine), [id_of(&other)]);
    app.put(&note_path(id), Some(&token), json!({"content": "again"}))
        .await
        .expect_error(404, "not_found");
    app.delete(&note_path(id), Some(&token))
        .await
        .expect_error(404, "not_found");
    // The polygon itself is untouched.
    app.get(&format!("/api/polygons/{polygon}"), Some(&token))
        .await
        .expect(200);
}

#[rstest]
#[tokio::test]
async fn unknown_and_invalid_note_ids(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let admin = app.admin_token().await;
    for caller in [&token, &admin] {
        app.put("/api/notes/999999", Some(caller), json!({"content": "x"}))
            .await
            .expect_error(404, "not_found");
        app.delete("/api/notes/999999", Some(caller))
            .await
            .expect_error(404, "not_found");
        let reply = app
            .post(
                "/api/notes",
                Some(caller),
                json!({"content": "x", "polygonId": 999999}),
            )
            .await
            .expect_error(404, "not_found");
        assert_eq!(reply.body["message"], json!("Polygon not found"));
        for bad in ["abc", "0", "-1", "1.5", "99999999999"] {
            app.put(&note_path_raw(bad), Some(caller), json!({"content": "x"}))
                .await
                .expect_error(400, "invalid_id");
            app.delete(&note_path_raw(bad), Some(caller))
                .await
                .expect_error(400, "invalid_id");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Who may do what
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum NoteRoute {
    /// GET `/api/notes/{polygonId}` (R1).
    PolygonNotes,
    /// GET `/api/notes/polygon/{polygonId}` (R2).
    PolygonNotesR2,
    /// POST `/api/notes` on the polygon.
    Create,
    /// PUT `/api/notes/{noteId}`.
    Update,
    /// DELETE `/api/notes/{noteId}`.
    Delete,
}

impl NoteRoute {
    const ALL: [Self; 5] = [
        Self::PolygonNotes,
        Self::PolygonNotesR2,
        Self::Create,
        Self::Update,
        Self::Delete,
    ];

    fn request(self, polygon: i64, note: i64) -> (Method, String, Option<Value>) {
        match self {
            Self::PolygonNotes => (Method::GET, format!("/api/notes/{polygon}"), None),
            Self::PolygonNotesR2 => (Method::GET, format!("/api/notes/polygon/{polygon}"), None),
            Self::Create => (
                Method::POST,
                "/api/notes".to_owned(),
                Some(json!({"content": "added", "polygonId": polygon})),
            ),
            Self::Update => (
                Method::PUT,
                note_path(note),
                Some(json!({"content": "edited"})),
            ),
            Self::Delete => (Method::DELETE, note_path(note), None),
        }
    }
}

/// For each route on one polygon's note: anonymous → 401, another user → 403 with the notes
/// unchanged, then the polygon's owner (the note's author) and an admin → 2xx with the effect.
#[rstest]
#[tokio::test]
async fn note_ownership_matrix(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, owner) = app.user("ana@example.com").await;
    let (_, other) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let admin_id = id_behind(&app, &admin).await;
    for route in NoteRoute::ALL {
        for (caller, allowed, allowed_id) in [("owner", &owner, ana), ("admin", &admin, admin_id)] {
            let polygon = create_polygon(&app, &owner).await;
            let note = add_note(&app, &owner, polygon, "original").await;
            let before = json!([note]);
            let (method, target, body) = route.request(polygon, id_of(&note));
            app.send(method.clone(), &target, None, body.clone())
                .await
                .expect_error(401, "unauthorized");
            app.send(method.clone(), &target, Some(&other), body.clone())
                .await
                .expect_error(403, "forbidden");
            assert_eq!(
                notes_of(&app, &owner, polygon).await,
                before,
                "{route:?} by another user changed something"
            );

            let reply = app.send(method.clone(), &target, Some(allowed), body).await;
            assert!(
                reply.status.is_success(),
                "{caller} {method} {target}: {} {}",
                reply.status,
                reply.text
            );
            let after = notes_of(&app, &owner, polygon).await;
            match route {
                NoteRoute::PolygonNotes | NoteRoute::PolygonNotesR2 => {
                    assert_eq!(reply.body, json!({"notes": before}), "{caller}");
                    assert_eq!(after, before);
                }
                NoteRoute::Create => {
                    let created = &reply.body["note"];
                    assert_eq!(created["content"], json!("added"));
                    assert_eq!(created["polygon_id"], json!(polygon));
                    assert_eq!(created["user_id"], json!(allowed_id), "{caller}");
                    assert_eq!(after, json!([note, created]));
                }
                NoteRoute::Update => {
                    let mut expected = note.clone();
                    expected["content"] = json!("edited");
                    // The author stays the author, even when an admin edits.
                    assert_eq!(reply.body, json!({"note": expected}), "{caller}");
                    assert_eq!(after, json!([expected]));
                }
                NoteRoute::Delete => {
                    assert_eq!(reply.status.as_u16(), 204);
                    assert_eq!(after, json!([]));
                }
            }
        }
    }
}

#[rstest]
#[tokio::test]
async fn polygon_owner_may_not_edit_an_admins_note(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let admin = app.admin_token().await;
    let admin_id = id_behind(&app, &admin).await;
    let polygon = create_polygon(&app, &ana).await;
    let note = add_note(&app, &admin, polygon, "reviewed by admin").await;
    assert_eq!(note["user_id"], json!(admin_id));
    // Ana sees it among her polygon's notes...
    assert_eq!(notes_of(&app, &ana, polygon).await, json!([note]));
    // ...but may not change or delete it: she is not its author.
    app.put(
        &note_path(id_of(&note)),
        Some(&ana),
        json!({"content": "not reviewed"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.delete(&note_path(id_of(&note)), Some(&ana))
        .await
        .expect_error(403, "forbidden");
    assert_eq!(notes_of(&app, &ana, polygon).await, json!([note]));
}

#[rstest]
#[tokio::test]
async fn another_users_notes_are_never_listed(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let anas = create_polygon(&app, &ana).await;
    let secret = add_note(&app, &ana, anas, "ana-secret").await;
    let bobs = create_polygon(&app, &bob).await;
    let own = add_note(&app, &bob, bobs, "bob's own").await;
    let reply = app.get("/api/notes", Some(&bob)).await.expect(200);
    assert_eq!(reply.body, json!({"notes": [own]}));
    for target in [
        format!("/api/notes/{anas}"),
        format!("/api/notes/polygon/{anas}"),
    ] {
        let reply = app
            .get(&target, Some(&bob))
            .await
            .expect_error(403, "forbidden");
        assert!(!reply.text.contains("ana-secret"), "{}", reply.text);
    }
    // Bob's note on his own polygon cannot be moved onto hers by an update either.
    app.put(
        &note_path(id_of(&own)),
        Some(&bob),
        json!({"content": "moved", "polygonId": anas, "polygon_id": anas}),
    )
    .await
    .expect(200);
    assert_eq!(notes_of(&app, &ana, anas).await, json!([secret]));
    let bobs_notes = notes_of(&app, &bob, bobs).await;
    assert_eq!(bobs_notes[0]["polygon_id"], json!(bobs));
}

#[rstest]
#[tokio::test]
async fn deleting_a_user_removes_its_polygons_and_notes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let anas = create_polygon(&app, &ana).await;
    let anas_note = id_of(&add_note(&app, &ana, anas, "ana's").await);
    let admins_note_on_anas = id_of(&add_note(&app, &admin, anas, "admin on ana's").await);
    let bobs = create_polygon(&app, &bob).await;
    let bobs_note = id_of(&add_note(&app, &bob, bobs, "bob's").await);
    let admins_note_on_bobs = id_of(&add_note(&app, &admin, bobs, "admin on bob's").await);

    app.delete(&format!("/api/users/{ana_id}"), Some(&admin))
        .await
        .expect(204);

    let polygons = app.get("/api/polygons", Some(&admin)).await.expect(200);
    let ids: Vec<i64> = polygons.body["polygons"]
        .as_array()
        .expect("polygons")
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [bobs]);
    assert_eq!(polygons.body["pagination"]["total"], json!(1));
    app.get(&format!("/api/polygons/{anas}"), Some(&admin))
        .await
        .expect_error(404, "not_found");
    let all = app.get("/api/notes", Some(&admin)).await.expect(200);
    assert_eq!(note_ids(&all), [bobs_note, admins_note_on_bobs]);
    for target in [
        format!("/api/notes/{anas}"),
        format!("/api/notes/polygon/{anas}"),
    ] {
        app.get(&target, Some(&admin))
            .await
            .expect_error(404, "not_found");
    }
    for note in [anas_note, admins_note_on_anas] {
        app.delete(&note_path(note), Some(&admin))
            .await
            .expect_error(404, "not_found");
    }
    // Bob's polygon and notes are untouched.
    let bobs_notes = app
        .get(&format!("/api/notes/{bobs}"), Some(&bob))
        .await
        .expect(200);
    assert_eq!(note_ids(&bobs_notes), [bobs_note, admins_note_on_bobs]);
}

#[rstest]
#[tokio::test]
async fn workers_may_not_use_notes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, ana) = app.user("ana@example.com").await;
    let polygon = create_polygon(&app, &ana).await;
    let note = add_note(&app, &ana, polygon, "ana's").await;
    app.post(
        "/api/users",
        Some(&admin),
        json!({"email": "worker@example.com", "password": "worker-pass-1", "roles": ["WORKER"]}),
    )
    .await
    .expect(200);
    let (worker, _) = app.login("worker@example.com", "worker-pass-1").await;
    let mut routes = vec![(Method::GET, "/api/notes".to_owned(), None)];
    routes.extend(NoteRoute::ALL.map(|route| route.request(polygon, id_of(&note))));
    for (method, target, body) in routes {
        app.send(method, &target, Some(&worker), body)
            .await
            .expect_error(403, "forbidden");
    }
    assert_eq!(notes_of(&app, &ana, polygon).await, json!([note]));
}

#[rstest]
#[tokio::test]
async fn required_role_gates_notes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let admin = app.admin_token().await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    app.get("/api/notes", Some(&ana))
        .await
        .expect_error(403, "forbidden");
    app.post(
        "/api/notes",
        Some(&ana),
        json!({"content": "x", "polygonId": 1}),
    )
    .await
    .expect_error(403, "forbidden");
    // The admin always passes.
    let admins = create_polygon(&app, &admin).await;
    let note = add_note(&app, &admin, admins, "admin's").await;
    app.get("/api/notes", Some(&admin)).await.expect(200);
    // With ANALYST, Ana passes.
    app.put(
        &format!("/api/users/{ana_id}/roles"),
        Some(&admin),
        json!({"roles": ["ANALYST"]}),
    )
    .await
    .expect(200);
    let polygon = create_polygon(&app, &ana).await;
    let anas = add_note(&app, &ana, polygon, "ana's").await;
    let mine = app.get("/api/notes", Some(&ana)).await.expect(200);
    assert_eq!(mine.body, json!({"notes": [anas]}));
    // Ownership still applies on top of the role.
    app.get(&format!("/api/notes/{admins}"), Some(&ana))
        .await
        .expect_error(403, "forbidden");
    app.delete(&note_path(id_of(&note)), Some(&ana))
        .await
        .expect_error(403, "forbidden");
}
