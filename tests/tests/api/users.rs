//! Contract §4: user administration.

use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::json;

#[rstest]
#[tokio::test]
async fn only_admins_may_administer(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user("ana@example.com").await;
    let routes = [
        (Method::GET, "/api/users".to_owned(), None),
        (Method::GET, format!("/api/users/{id}"), None),
        (
            Method::POST,
            "/api/users".to_owned(),
            Some(json!({"email": "x@y.com", "password": "password-1"})),
        ),
        (
            Method::PUT,
            format!("/api/users/{id}/roles"),
            Some(json!({"roles": ["ADMIN"]})),
        ),
        (
            Method::PUT,
            format!("/api/users/{id}/password"),
            Some(json!({"password": "password-2"})),
        ),
        (Method::DELETE, format!("/api/users/{id}"), None),
        (Method::GET, "/api/users/utils/log".to_owned(), None),
    ];
    for (method, path, body) in routes {
        app.send(method.clone(), &path, Some(&token), body.clone())
            .await
            .expect_error(403, "forbidden");
        app.send(method, &path, None, body)
            .await
            .expect_error(401, "unauthorized");
    }
    // The forbidden role change did not happen.
    let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(profile.body["user"]["roles"], json!([]));
}

#[rstest]
#[tokio::test]
async fn list_and_get_users(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = app.register("ana@example.com", "user-password-1").await;
    let list = app.get("/api/users", Some(&admin)).await.expect(200);
    let users = list.body.as_array().expect("bare array");
    assert!(
        users.contains(&json!({"id": id, "email": "ana@example.com", "username": "ana@example.com", "roles": []})),
        "{users:?}"
    );
    let one = app
        .get(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(
        one.body,
        json!({"id": id, "email": "ana@example.com", "username": "ana@example.com", "roles": []})
    );
    app.get("/api/users/999999", Some(&admin))
        .await
        .expect_error(404, "not_found");
}

#[rstest]
#[tokio::test]
async fn create_user_with_roles(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let reply = app
        .post("/api/users", Some(&admin), json!({"email": "Worker@Example.com", "password": "worker-pass-1", "roles": ["WORKER", "ANALYST"]}))
        .await
        .expect(200);
    let id = reply.body["id"].as_i64().expect("id");
    let user = app
        .get(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(user.body["email"], json!("worker@example.com"));
    assert_eq!(user.body["roles"], json!(["ANALYST", "WORKER"]));
    let (token, _) = app.login("worker@example.com", "worker-pass-1").await;
    app.get("/api/auth/profile", Some(&token)).await.expect(200);
    // Without roles: none.
    let reply = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "plain@example.com", "password": "plain-pass-1"}),
        )
        .await
        .expect(200);
    let id = reply.body["id"].as_i64().expect("id");
    let user = app
        .get(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(user.body["roles"], json!([]));
}

#[rstest]
#[tokio::test]
async fn create_user_errors(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.register("ana@example.com", "user-password-1").await;
    app.post(
        "/api/users",
        Some(&admin),
        json!({"email": "ANA@example.com", "password": "password-1"}),
    )
    .await
    .expect_error(400, "user_exists");
    app.post(
        "/api/users",
        Some(&admin),
        json!({"email": "new@example.com", "password": "short"}),
    )
    .await
    .expect_error(400, "validation_error");
    let reply = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "new@example.com", "password": "password-1", "roles": ["ROOT"]}),
        )
        .await
        .expect_error(400, "validation_error");
    assert_eq!(reply.body["details"][0]["path"], json!("roles"));
    app.post(
        "/api/users",
        Some(&admin),
        json!({"email": "new@example.com"}),
    )
    .await
    .expect_error(400, "invalid_body");
}

#[rstest]
#[tokio::test]
async fn set_roles_updates_and_logs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (id, token) = app.user("ana@example.com").await;
    let reply = app
        .put(
            &format!("/api/users/{id}/roles"),
            Some(&admin),
            json!({"roles": ["ANALYST"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        reply.body,
        json!({"id": id, "email": "ana@example.com", "username": "ana@example.com", "roles": ["ANALYST"]})
    );
    // The user's existing token sees the new roles at once.
    let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(profile.body["user"]["roles"], json!(["ANALYST"]));
    let logs = app
        .get(&format!("/api/users/utils/log?userId={id}"), Some(&admin))
        .await
        .expect(200);
    let entry = &logs.body["logs"][0];
    assert_eq!(entry["action"], json!("UPDATED"));
    assert_eq!(entry["metadata"]["roles"], json!(["ANALYST"]));
    app.put(
        "/api/users/999999/roles",
        Some(&admin),
        json!({"roles": []}),
    )
    .await
    .expect_error(404, "not_found");
    app.put(
        &format!("/api/users/{id}/roles"),
        Some(&admin),
        json!({"roles": ["KING"]}),
    )
    .await
    .expect_error(400, "validation_error");
    app.put(
        &format!("/api/users/{id}/roles"),
        Some(&admin),
        json!({"roles": "ADMIN"}),
    )
    .await
    .expect_error(400, "invalid_body");
}

#[rstest]
#[tokio::test]
async fn reset_password_revokes_tokens_and_logs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = app.register("ana@example.com", "user-password-1").await;
    let (_, refresh) = app.login("ana@example.com", "user-password-1").await;
    let reply = app
        .put(
            &format!("/api/users/{id}/password"),
            Some(&admin),
            json!({"password": "reset-password-2"}),
        )
        .await
        .expect(200);
    assert!(reply.body["message"].is_string());
    app.post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect_error(401, "invalid_refresh_token");
    app.login("ana@example.com", "reset-password-2").await;
    let actions = app.log_actions(id).await;
    assert!(
        actions.iter().any(|a| a == "CHANGE_PASSWORD"),
        "{actions:?}"
    );
    app.put(
        "/api/users/999999/password",
        Some(&admin),
        json!({"password": "reset-password-2"}),
    )
    .await
    .expect_error(404, "not_found");
    app.put(
        &format!("/api/users/{id}/password"),
        Some(&admin),
        json!({"password": "short"}),
    )
    .await
    .expect_error(400, "validation_error");
}

#[rstest]
#[tokio::test]
async fn delete_user_with_history(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = app.register("ana@example.com", "user-password-1").await;
    let (token, refresh) = app.login("ana@example.com", "user-password-1").await;
    app.login("ana@example.com", "user-password-1").await;
    let reply = app
        .delete(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect(204);
    assert!(reply.text.is_empty());
    app.get(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect_error(404, "not_found");
    app.delete(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect_error(404, "not_found");
    // Its tokens no longer work, its log entries stay (with the user gone).
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect_error(401, "invalid_token");
    app.post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect_error(401, "invalid_refresh_token");
    let logs = app
        .get(&format!("/api/users/utils/log?userId={id}"), Some(&admin))
        .await
        .expect(200);
    let entries = logs.body["logs"].as_array().expect("logs");
    assert!(entries.iter().any(|e| e["action"] == json!("LOGIN")));
    assert!(entries.iter().any(|e| e["action"] == json!("DELETED")));
    assert!(
        entries
            .iter()
            .all(|e| e["user"].is_null() && e["userId"] == json!(id))
    );
    // The email is free again.
    app.register("ana@example.com", "user-password-1").await;
}

#[rstest]
#[tokio::test]
async fn log_pages_newest_first(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = app.register("ana@example.com", "user-password-1").await;
    for _ in 0..3 {
        app.login("ana@example.com", "user-password-1").await;
    }
    // CREATED + 3 LOGIN for this user.
    let page = app
        .get(
            &format!("/api/users/utils/log?userId={id}&page=1&limit=2"),
            Some(&admin),
        )
        .await
        .expect(200);
    assert_eq!(
        page.body["pagination"],
        json!({"page": 1, "limit": 2, "total": 4, "pages": 2})
    );
    let logs = page.body["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["action"], json!("LOGIN"));
    assert_eq!(
        logs[0]["user"],
        json!({"id": id, "email": "ana@example.com", "username": "ana@example.com", "roles": []})
    );
    let first_time = logs[0]["time"].as_str().expect("time");
    assert!(
        first_time.ends_with('Z') && first_time.len() == 24,
        "{first_time}"
    );
    assert!(logs[0]["id"].as_i64() > logs[1]["id"].as_i64());
    let last = app
        .get(
            &format!("/api/users/utils/log?userId={id}&page=2&limit=2"),
            Some(&admin),
        )
        .await
        .expect(200);
    assert_eq!(last.body["logs"][1]["action"], json!("CREATED"));
    let clamped = app
        .get("/api/users/utils/log?limit=1000&page=0", Some(&admin))
        .await
        .expect(200);
    assert_eq!(clamped.body["pagination"]["limit"], json!(100));
    assert_eq!(clamped.body["pagination"]["page"], json!(1));
    let everything = app
        .get("/api/users/utils/log", Some(&admin))
        .await
        .expect(200);
    assert_eq!(everything.body["pagination"]["limit"], json!(50));
    assert!(everything.body["pagination"]["total"].as_u64() >= Some(4));
    app.get("/api/users/utils/log?userId=abc", Some(&admin))
        .await
        .expect_error(400, "validation_error");
    app.get("/api/users/utils/log?limit=ten", Some(&admin))
        .await
        .expect_error(400, "validation_error");
}
