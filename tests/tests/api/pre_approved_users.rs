//! Pre-approved users (reefguide-r2 §3.1–3.2, `/api/auth/admin/pre-approved-users`): R2's shapes
//! and refusals through the API, the ADMIN gate, filters from the query string (R2 read them
//! from a GET's body), the clean-up, and registration consuming a pre-approval once.

use std::sync::Arc;

use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::Role;
use reefguide_tests::TestApp;
use reqwest::Method;
use rstest::rstest;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tokio::task::JoinSet;

const BASE: &str = "/api/auth/admin/pre-approved-users";

fn at(id: i64) -> String {
    format!("{BASE}/{id}")
}

fn id(value: &Value) -> i64 {
    value["id"].as_i64().expect("an id")
}

/// Pre-approves `email` with `roles` as `admin`; returns the pre-approval.
async fn approve(app: &TestApp, admin: &str, email: &str, roles: &[&str]) -> Value {
    app.post(BASE, Some(admin), json!({"email": email, "roles": roles}))
        .await
        .expect(201)
        .body["preApprovedUser"]
        .clone()
}

/// The emails of a listing, in order.
fn emails(body: &Value) -> Vec<&str> {
    body["preApprovedUsers"]
        .as_array()
        .expect("preApprovedUsers")
        .iter()
        .map(|item| item["email"].as_str().expect("email"))
        .collect()
}

/// The admin service account's id (it made the pre-approvals).
async fn admin_id(app: &TestApp, admin: &str) -> i64 {
    app.get("/api/auth/profile", Some(admin))
        .await
        .expect(200)
        .body["user"]["id"]
        .as_i64()
        .expect("id")
}

#[rstest]
#[tokio::test]
async fn admins_make_read_change_and_delete_pre_approvals(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let admin_id = admin_id(&app, &admin).await;
    app.user("member@example.com").await;

    let made = app
        .post(
            BASE,
            Some(&admin),
            json!({"email": "  Ana@Example.COM ", "roles": ["DEFAULT", "ANALYST", "ANALYST"]}),
        )
        .await
        .expect(201);
    let ana = made.body["preApprovedUser"].clone();
    assert_eq!(ana["email"], json!("ana@example.com"), "normalised");
    assert_eq!(ana["roles"], json!(["ANALYST", "DEFAULT"]));
    assert_eq!(ana["created_by_user_id"], json!(admin_id));
    assert_eq!(
        ana["created_by_user"],
        json!({"id": admin_id, "email": reefguide_tests::ADMIN_EMAIL})
    );
    assert_eq!(ana["used"], json!(false));
    assert_eq!(ana["used_at"], Value::Null);
    assert_eq!(ana["created_at"], ana["updated_at"]);
    assert!(
        ana["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24),
        "{ana}"
    );
    let fields: Vec<&String> = ana.as_object().expect("object").keys().collect();
    assert_eq!(fields.len(), 9, "R2's row and its maker: {fields:?}");

    let duplicate = app
        .post(
            BASE,
            Some(&admin),
            json!({"email": "ANA@example.com", "roles": ["ADMIN"]}),
        )
        .await
        .expect_error(400, "pre_approval_exists");
    assert_eq!(
        duplicate.body["message"],
        json!("Pre-approval already exists for email: ana@example.com")
    );
    let member = app
        .post(
            BASE,
            Some(&admin),
            json!({"email": "member@example.com", "roles": ["ADMIN"]}),
        )
        .await
        .expect_error(400, "user_exists");
    assert_eq!(
        member.body["message"],
        json!("User already registered with email: member@example.com")
    );
    for bad in [
        json!({"email": "not an email", "roles": ["ADMIN"]}),
        json!({"email": "ben@example.com", "roles": []}),
        json!({"email": "ben@example.com", "roles": ["WORKER"]}),
        json!({"email": "ben@example.com"}),
    ] {
        app.post(BASE, Some(&admin), bad.clone()).await.expect(400);
    }

    let ana_id = id(&ana);
    let read = app.get(&at(ana_id), Some(&admin)).await.expect(200);
    assert_eq!(read.body["preApprovedUser"], ana);
    app.get(&at(987_654), Some(&admin))
        .await
        .expect_error(404, "not_found");
    app.get(&format!("{BASE}/abc"), Some(&admin))
        .await
        .expect_error(400, "invalid_id");

    let changed = app
        .put(&at(ana_id), Some(&admin), json!({"roles": ["ADMIN"]}))
        .await
        .expect(200)
        .body["preApprovedUser"]
        .clone();
    assert_eq!(changed["roles"], json!(["ADMIN"]));
    assert_eq!(changed["email"], json!("ana@example.com"));
    let moved = app
        .put(
            &at(ana_id),
            Some(&admin),
            json!({"email": "Anabel@Example.com", "roles": null}),
        )
        .await
        .expect(200)
        .body["preApprovedUser"]
        .clone();
    assert_eq!(moved["email"], json!("anabel@example.com"));
    assert_eq!(moved["roles"], json!(["ADMIN"]));
    app.put(
        &at(ana_id),
        Some(&admin),
        json!({"email": "anabel@example.com"}),
    )
    .await
    .expect(200);
    app.put(
        &at(ana_id),
        Some(&admin),
        json!({"email": "member@example.com"}),
    )
    .await
    .expect_error(400, "user_exists");
    for bad in [json!({"roles": []}), json!({"email": "nope"})] {
        app.put(&at(ana_id), Some(&admin), bad)
            .await
            .expect_error(400, "validation_error");
    }
    app.put(&at(987_654), Some(&admin), json!({}))
        .await
        .expect_error(404, "not_found");

    let deleted = app.delete(&at(ana_id), Some(&admin)).await.expect(200);
    assert_eq!(
        deleted.body,
        json!({"message": format!("Successfully deleted pre-approval with ID {ana_id}")})
    );
    app.delete(&at(ana_id), Some(&admin))
        .await
        .expect_error(404, "not_found");
    app.get(&at(ana_id), Some(&admin)).await.expect(404);
}

#[rstest]
#[tokio::test]
async fn a_bulk_request_makes_what_it_can_and_lists_the_rest(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.user("member@example.com").await;
    approve(&app, &admin, "taken@example.com", &["ANALYST"]).await;

    let reply = app
        .post(
            &format!("{BASE}/bulk"),
            Some(&admin),
            json!({"users": [
                {"email": "a@example.com", "roles": ["ANALYST"]},
                {"email": "Taken@example.com", "roles": ["ADMIN"]},
                {"email": "b@example.com", "roles": ["DEFAULT"]},
                {"email": "member@example.com", "roles": ["ANALYST"]},
                {"email": "A@example.com ", "roles": ["ADMIN"]},
            ]}),
        )
        .await
        .expect(201);
    let created: Vec<&str> = reply.body["created"]
        .as_array()
        .expect("created")
        .iter()
        .map(|item| item["email"].as_str().expect("email"))
        .collect();
    assert_eq!(created, ["a@example.com", "b@example.com"]);
    assert!(reply.body["created"][0]["created_by_user"]["id"].is_i64());
    assert_eq!(
        reply.body["errors"],
        json!([
            {"email": "Taken@example.com", "error": "Pre-approval already exists for email: taken@example.com"},
            {"email": "member@example.com", "error": "User already registered with email: member@example.com"},
            {"email": "A@example.com ", "error": "Pre-approval already exists for email: a@example.com"},
        ])
    );
    assert_eq!(
        reply.body["summary"],
        json!({"totalRequested": 5, "totalCreated": 2, "totalErrors": 3})
    );

    // An invalid entry refuses the whole request, naming it; nothing is made.
    let refused = app
        .post(
            &format!("{BASE}/bulk"),
            Some(&admin),
            json!({"users": [
                {"email": "c@example.com", "roles": ["ANALYST"]},
                {"email": "not-an-email", "roles": ["ANALYST"]},
                {"email": "d@example.com", "roles": ["ROOT"]},
            ]}),
        )
        .await
        .expect_error(400, "validation_error");
    let paths: Vec<&str> = refused.body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|detail| detail["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["users[1].email", "users[2].roles"]);
    let listing = app.get(BASE, Some(&admin)).await.expect(200);
    assert_eq!(listing.body["pagination"]["total"], json!(3));

    app.post(&format!("{BASE}/bulk"), Some(&admin), json!({"users": []}))
        .await
        .expect_error(400, "validation_error");
    let too_many: Vec<Value> = (0..1001)
        .map(|n| json!({"email": format!("u{n}@example.com"), "roles": ["ANALYST"]}))
        .collect();
    app.post(
        &format!("{BASE}/bulk"),
        Some(&admin),
        json!({"users": too_many}),
    )
    .await
    .expect_error(400, "validation_error");
}

#[rstest]
#[tokio::test]
async fn the_listing_is_newest_first_and_filtered_by_the_query_string(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let admin_id = admin_id(&app, &admin).await;
    let (other_id, other) = app
        .user_with_roles("other-admin@example.com", &["ADMIN"])
        .await;
    approve(&app, &admin, "ana@example.com", &["ANALYST"]).await;
    approve(&app, &other, "bob@ana.org", &["ADMIN"]).await;
    approve(&app, &admin, "carol@example.com", &["DEFAULT"]).await;
    app.register("carol@example.com", "carol-password-1").await;

    let all = app.get(BASE, Some(&admin)).await.expect(200);
    assert_eq!(
        emails(&all.body),
        ["carol@example.com", "bob@ana.org", "ana@example.com"]
    );
    assert_eq!(
        all.body["pagination"],
        json!({"total": 3, "limit": 50, "offset": 0})
    );

    for (query, expected) in [
        ("?email=ANA", vec!["bob@ana.org", "ana@example.com"]),
        (
            "?email=%20%20",
            vec!["carol@example.com", "bob@ana.org", "ana@example.com"],
        ),
        ("?used=true", vec!["carol@example.com"]),
        ("?used=false&email=example", vec!["ana@example.com"]),
        (&format!("?createdByUserId={other_id}"), vec!["bob@ana.org"]),
        (
            &format!("?createdByUserId={admin_id}&used=false"),
            vec!["ana@example.com"],
        ),
        ("?limit=1&offset=1", vec!["bob@ana.org"]),
        ("?email=%25", vec![]),
    ] {
        let reply = app
            .get(&format!("{BASE}{query}"), Some(&admin))
            .await
            .expect(200);
        assert_eq!(emails(&reply.body), expected, "{query}");
    }
    let paged = app
        .get(&format!("{BASE}?limit=1&offset=1"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(
        paged.body["pagination"],
        json!({"total": 3, "limit": 1, "offset": 1})
    );
    let clamped = app
        .get(&format!("{BASE}?limit=500"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(clamped.body["pagination"]["limit"], json!(100));

    // R2's filters in a GET body are ignored: the query string decides.
    let with_body = app
        .send(
            Method::GET,
            &format!("{BASE}?email=bob"),
            Some(&admin),
            Some(json!({"email": "ana@example.com", "used": true})),
        )
        .await
        .expect(200);
    assert_eq!(emails(&with_body.body), ["bob@ana.org"]);

    for bad in [
        "?used=maybe",
        "?createdByUserId=0",
        "?createdByUserId=x",
        "?limit=ten",
        "?offset=-1",
    ] {
        app.get(&format!("{BASE}{bad}"), Some(&admin))
            .await
            .expect_error(400, "validation_error");
    }
    app.get(&format!("{BASE}?email={}", "a".repeat(255)), Some(&admin))
        .await
        .expect_error(400, "validation_error");
}

#[rstest]
#[tokio::test]
async fn a_clean_up_deletes_only_pre_approvals_used_long_enough_ago(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for address in ["old@example.com", "older@example.com", "recent@example.com"] {
        approve(&app, &admin, address, &["ANALYST"]).await;
        app.register(address, "user-password-1").await;
    }
    approve(&app, &admin, "unused@example.com", &["ANALYST"]).await;
    let sql = app.sql().await;
    let now = chrono::Utc::now();
    for (address, days) in [("old@example.com", 2), ("older@example.com", 40)] {
        let used_at = (now - chrono::Duration::days(days)).to_rfc3339();
        sql.execute_unprepared(&format!(
            "UPDATE pre_approved_users SET used_at = '{used_at}' WHERE email = '{address}'"
        ))
        .await
        .expect("backdated");
    }

    let cleaned = app
        .post(&format!("{BASE}/cleanup"), Some(&admin), json!({}))
        .await
        .expect(200);
    assert_eq!(
        cleaned.body,
        json!({"deletedCount": 1}),
        "30 days by default"
    );
    let cleaned = app
        .post(
            &format!("{BASE}/cleanup"),
            Some(&admin),
            json!({"olderThanDays": 1}),
        )
        .await
        .expect(200);
    assert_eq!(cleaned.body, json!({"deletedCount": 1}));
    let left = app.get(BASE, Some(&admin)).await.expect(200);
    assert_eq!(
        emails(&left.body),
        ["unused@example.com", "recent@example.com"]
    );
    for bad in [
        json!({"olderThanDays": 0}),
        json!({"olderThanDays": 0.5}),
        json!({"olderThanDays": "7"}),
    ] {
        app.post(&format!("{BASE}/cleanup"), Some(&admin), bad)
            .await
            .expect(400);
    }
}

#[rstest]
#[tokio::test]
async fn only_administrators_manage_pre_approvals(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let made = approve(&app, &admin, "ana@example.com", &["ANALYST"]).await;
    let one = at(id(&made));
    let (_, analyst) = app
        .user_with_roles("analyst@example.com", &["ANALYST"])
        .await;
    let (_, plain) = app.user("plain@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let entry = json!({"email": "x@example.com", "roles": ["ADMIN"]});
    let routes = [
        (Method::POST, BASE.to_owned(), Some(entry.clone())),
        (
            Method::POST,
            format!("{BASE}/bulk"),
            Some(json!({"users": [entry]})),
        ),
        (Method::GET, BASE.to_owned(), None),
        (Method::GET, one.clone(), None),
        (Method::PUT, one.clone(), Some(json!({"roles": ["ADMIN"]}))),
        (Method::DELETE, one.clone(), None),
        (Method::POST, format!("{BASE}/cleanup"), Some(json!({}))),
    ];
    for (method, path, body) in &routes {
        app.send(method.clone(), path, None, body.clone())
            .await
            .expect_error(401, "unauthorized");
        for token in [&analyst, &plain, &worker] {
            app.send(method.clone(), path, Some(token), body.clone())
                .await
                .expect_error(403, "forbidden");
        }
    }
    let kept = app.get(&one, Some(&admin)).await.expect(200);
    assert_eq!(kept.body["preApprovedUser"], made, "nothing changed");
}

#[rstest]
#[tokio::test]
async fn registering_consumes_the_pre_approval_and_grants_its_roles_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // R2 requires ANALYST for the user features: a pre-approval is how a new user gets it.
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let admin = app.admin_token().await;
    let ana = approve(&app, &admin, "ana@example.com", &["ANALYST", "DEFAULT"]).await;
    approve(&app, &admin, "carol@example.com", &["DEFAULT"]).await;

    let ana_id = app.register(" Ana@Example.com", "ana-password-1").await;
    let (token, _) = app.login("ana@example.com", "ana-password-1").await;
    let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(profile.body["user"]["roles"], json!(["ANALYST"]));
    app.get("/api/polygons", Some(&token)).await.expect(200);
    let used = app.get(&at(id(&ana)), Some(&admin)).await.expect(200);
    assert_eq!(used.body["preApprovedUser"]["used"], json!(true));
    assert!(used.body["preApprovedUser"]["used_at"].is_string());
    let logs = app
        .get(
            &format!("/api/users/utils/log?userId={ana_id}"),
            Some(&admin),
        )
        .await
        .expect(200);
    let created = logs.body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .find(|entry| entry["action"] == json!("CREATED"))
        .expect("a CREATED entry");
    assert_eq!(
        created["metadata"],
        json!({"via": "register", "preApprovalId": id(&ana), "roles": ["ANALYST"]})
    );

    // DEFAULT alone grants nothing beyond registering; no pre-approval, the same.
    for address in ["carol@example.com", "bob@example.com"] {
        let (_, token) = app.user(address).await;
        let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
        assert_eq!(profile.body["user"]["roles"], json!([]), "{address}");
        app.get("/api/polygons", Some(&token))
            .await
            .expect_error(403, "forbidden");
    }

    // A used pre-approval is not changed, and its address cannot register again.
    let refused = app
        .put(&at(id(&ana)), Some(&admin), json!({"roles": ["ADMIN"]}))
        .await
        .expect_error(400, "pre_approval_used");
    assert_eq!(
        refused.body["message"],
        json!("Cannot update a pre-approval that has already been used")
    );
    app.delete(&format!("/api/users/{ana_id}"), Some(&admin))
        .await
        .expect(204);
    let again = app
        .post(
            "/api/auth/register",
            None,
            json!({"email": "ana@example.com", "password": "ana-password-2"}),
        )
        .await
        .expect_error(400, "pre_approval_used");
    assert_eq!(
        again.body["message"],
        json!("Pre-approval for ana@example.com has already been used")
    );
    // Once an administrator deletes the used pre-approval, the address registers as anyone.
    app.delete(&at(id(&ana)), Some(&admin)).await.expect(200);
    app.register("ana@example.com", "ana-password-2").await;
}

#[rstest]
#[tokio::test]
async fn a_failed_registration_leaves_the_pre_approval_unused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let ana = approve(&app, &admin, "ana@example.com", &["ADMIN"]).await;
    // An administrator creates the account directly meanwhile.
    app.post(
        "/api/users",
        Some(&admin),
        json!({"email": "ana@example.com", "password": "ana-password-1"}),
    )
    .await
    .expect(200);
    app.post(
        "/api/auth/register",
        None,
        json!({"email": "ana@example.com", "password": "ana-password-2"}),
    )
    .await
    .expect_error(400, "user_exists");
    let kept = app.get(&at(id(&ana)), Some(&admin)).await.expect(200);
    assert_eq!(kept.body["preApprovedUser"], ana, "still unused");
}

#[rstest]
#[tokio::test]
async fn concurrent_registrations_consume_one_pre_approval_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    const RACERS: usize = 6;
    let app = TestApp::spawn_with(backend, |s| {
        s.database.database_max_connections = 16;
        s.server.http_workers = Some(2);
    })
    .await;
    let admin = app.admin_token().await;
    let ana = approve(&app, &admin, "ana@example.com", &["ANALYST"]).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for n in 0..RACERS {
        let (client, base, barrier) = (
            app.client.clone(),
            app.address.clone(),
            Arc::clone(&barrier),
        );
        racers.spawn(async move {
            barrier.wait().await;
            let reply = client
                .post(format!("{base}/api/auth/register"))
                .json(&json!({"email": "ana@example.com", "password": format!("password-{n}-ok")}))
                .send()
                .await
                .expect("sent");
            let status = reply.status().as_u16();
            let body: Value = reply.json().await.expect("JSON");
            (n, status, body)
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = racers.join_next().await {
        let (n, status, body) = result.expect("joined");
        match status {
            200 => winners.push(n),
            400 => assert!(
                body["code"] == json!("user_exists") || body["code"] == json!("pre_approval_used"),
                "{body}"
            ),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let used = app.get(&at(id(&ana)), Some(&admin)).await.expect(200);
    assert_eq!(used.body["preApprovedUser"]["used"], json!(true));
    let users = app.get("/api/users", Some(&admin)).await.expect(200);
    let anas = users
        .body
        .as_array()
        .expect("users")
        .iter()
        .filter(|user| user["email"] == json!("ana@example.com"))
        .count();
    assert_eq!(anas, 1);
    // The one account has the pre-approval's role.
    let (token, _) = app
        .login("ana@example.com", &format!("password-{}-ok", winners[0]))
        .await;
    let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(profile.body["user"]["roles"], json!(["ANALYST"]));
}
