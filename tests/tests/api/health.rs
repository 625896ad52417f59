//! Contract §2: health and discovery.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use rstest::rstest;
use serde_json::json;

#[rstest]
#[tokio::test]
async fn root_says_healthy(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let reply = app.get("/api", None).await.expect(200);
    assert_eq!(reply.body, json!({"message": "API healthy."}));
}

#[rstest]
#[tokio::test]
async fn health_checks_the_database(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let reply = app.get("/api/health", None).await.expect(200);
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn health_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn(TestBackend::Postgres).await;
    app.db
        .drop_now()
        .await
        .expect("drop the database under the app");
    let reply = app
        .send_allowing_5xx(reqwest::Method::GET, "/api/health", None, None)
        .await
        .expect(503);
    assert_eq!(reply.body["status"], json!("unavailable"));
}

#[rstest]
#[tokio::test]
async fn jwks_publishes_the_real_modulus(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .get("/api/.well-known/jwks.json", None)
        .await
        .expect(200);
    let keys = reply.body["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], json!("RSA"));
    assert_eq!(key["use"], json!("sig"));
    assert_eq!(key["alg"], json!("RS256"));
    assert_eq!(key["e"], json!("AQAB"));
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    let modulus = URL_SAFE_NO_PAD
        .decode(key["n"].as_str().expect("n"))
        .expect("n is base64url");
    assert_eq!(modulus.len(), 256, "2048-bit modulus");
    assert_eq!(key["n"], json!(reefguide_tests::KEYS.modulus_b64()));
}

#[rstest]
#[tokio::test]
async fn openapi_document_is_served(#[values(TestBackend::Sqlite)] backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let reply = app.get("/api/openapi.json", None).await.expect(200);
    assert!(
        reply.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert!(reply.body["paths"]["/api/auth/login"]["post"].is_object());
}
