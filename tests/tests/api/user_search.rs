//! `GET /api/users/search` (reefguide-r2 §3.2): R2's shape and ranking through the API, its
//! gate (every user of the user features, `ANALYST` when required, as R2) and its refusals.

use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::Role;
use reefguide_tests::TestApp;
use rstest::rstest;
use serde_json::{Value, json};

fn emails(body: &Value) -> Vec<&str> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|user| user["email"].as_str().expect("email"))
        .collect()
}

#[rstest]
#[tokio::test]
async fn analysts_find_users_by_part_of_their_email_best_first(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let (_, ana) = app.user_with_roles("ana@example.com", &["ANALYST"]).await;
    let (bob_id, _) = app.user("bob@ana.org").await;
    app.user("anabel@example.com").await;
    app.user("xana@example.com").await;

    let reply = app
        .get("/api/users/search?q=ANA", Some(&ana))
        .await
        .expect(200);
    assert_eq!(
        emails(&reply.body),
        [
            "ana@example.com",
            "anabel@example.com",
            "xana@example.com",
            "bob@ana.org"
        ]
    );
    let bob = &reply.body["results"][3];
    assert_eq!(
        bob,
        &json!({"id": bob_id, "email": "bob@ana.org"}),
        "only id and email"
    );

    let exact = app
        .get("/api/users/search?q=xana%40example.com&limit=1", Some(&ana))
        .await
        .expect(200);
    assert_eq!(emails(&exact.body), ["xana@example.com"]);
    let clamped = app
        .get("/api/users/search?q=a&limit=0", Some(&ana))
        .await
        .expect(200);
    assert_eq!(emails(&clamped.body).len(), 1, "limit 0 is clamped to 1");

    for bad in ["?q=", "?q=a&limit=ten"] {
        app.get(&format!("/api/users/search{bad}"), Some(&ana))
            .await
            .expect_error(400, "validation_error");
    }
    app.get("/api/users/search", Some(&ana)).await.expect(400);
    let spaces = app
        .get("/api/users/search?q=%20%20", Some(&ana))
        .await
        .expect(200);
    assert_eq!(spaces.body, json!({"results": []}), "no email holds spaces");
}

#[rstest]
#[tokio::test]
async fn the_search_is_behind_the_user_features_gate(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let (_, no_role) = app.user("carol@example.com").await;
    app.get("/api/users/search?q=carol", None).await.expect(401);
    app.get("/api/users/search?q=carol", Some(&no_role))
        .await
        .expect_error(403, "forbidden");
    let admin = app.admin_token().await;
    let found = app
        .get("/api/users/search?q=carol", Some(&admin))
        .await
        .expect(200);
    assert_eq!(emails(&found.body), ["carol@example.com"]);
    // The rest of /api/users stays the admin's.
    app.get("/api/users", Some(&no_role))
        .await
        .expect_error(403, "forbidden");

    // Without a required role, every signed-in user may search.
    let open = TestApp::spawn(backend).await;
    let (_, dan) = open.user("dan@example.com").await;
    let found = open
        .get("/api/users/search?q=dan", Some(&dan))
        .await
        .expect(200);
    assert_eq!(emails(&found.body), ["dan@example.com"]);
}
