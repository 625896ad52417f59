//! Contract §1: the error model, body limits, ids and unknown routes.

use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::json;

#[rstest]
#[tokio::test]
async fn malformed_json_is_400_json(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.send_raw(
        Method::POST,
        "/api/auth/register",
        None,
        b"{\"email\": ".to_vec(),
    )
    .await
    .expect_error(400, "malformed_json");
}

#[rstest]
#[tokio::test]
async fn wrong_types_are_400(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.post(
        "/api/auth/register",
        None,
        json!({"email": 5, "password": ["x"]}),
    )
    .await
    .expect_error(400, "invalid_body");
    app.post("/api/auth/login", None, json!({"email": "a@b.com"}))
        .await
        .expect_error(400, "invalid_body");
    app.post("/api/auth/login", None, json!([1, 2]))
        .await
        .expect_error(400, "invalid_body");
}

#[rstest]
#[tokio::test]
async fn body_over_the_limit_is_413(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = serde_json::to_vec(&json!({"email": "a@b.com", "password": padding})).expect("json");
    app.send_raw(Method::POST, "/api/auth/register", None, body)
        .await
        .expect_error(413, "payload_too_large");
}

#[rstest]
#[tokio::test]
async fn body_limit_is_configurable(#[values(TestBackend::Sqlite)] backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |s| s.limits.body_limit_bytes = 2048).await;
    let body = serde_json::to_vec(&json!({"email": "a@b.com", "password": "x".repeat(4096)}))
        .expect("json");
    app.send_raw(Method::POST, "/api/auth/register", None, body)
        .await
        .expect_error(413, "payload_too_large");
}

#[rstest]
#[tokio::test]
async fn non_numeric_ids_are_400(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for id in ["abc", "0", "-1", "1.5", "99999999999"] {
        app.get(&format!("/api/users/{id}"), Some(&admin))
            .await
            .expect_error(400, "invalid_id");
    }
}

#[rstest]
#[tokio::test]
async fn unknown_routes_are_404_json(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.get("/api/nothing-here", None)
        .await
        .expect_error(404, "not_found");
    app.get("/elsewhere", None)
        .await
        .expect_error(404, "not_found");
    app.post("/api/auth/nope", None, json!({}))
        .await
        .expect_error(404, "not_found");
}

#[rstest]
#[tokio::test]
async fn wrong_method_is_json(#[values(TestBackend::Sqlite)] backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .get("/api/auth/login", None)
        .await
        .expect_error(405, "method_not_allowed");
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST"),
        "a 405 lists the allowed methods (RFC 9110)"
    );
}

#[rstest]
#[tokio::test]
async fn authentication_comes_before_the_body(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.send_raw(
        Method::POST,
        "/api/auth/change-password",
        None,
        b"{not json".to_vec(),
    )
    .await
    .expect_error(401, "unauthorized");
    app.send_raw(Method::POST, "/api/users", None, b"{not json".to_vec())
        .await
        .expect_error(401, "unauthorized");
    let padding = vec![b'x'; 2 * 1024 * 1024];
    app.send_raw(Method::PUT, "/api/users/1/roles", None, padding)
        .await
        .expect_error(401, "unauthorized");
}

#[rstest]
#[tokio::test]
async fn wrong_method_on_admin_routes_is_405_after_auth(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.send(Method::PATCH, "/api/users/1", Some(&admin), None)
        .await
        .expect_error(405, "method_not_allowed");
    app.send(Method::PATCH, "/api/users/1", None, None)
        .await
        .expect_error(401, "unauthorized");
}
