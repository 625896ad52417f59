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
    // A use case that needs the database answers 503 too, never 500.
    let reply = app
        .send_allowing_5xx(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "ana@example.com", "password": "whatever-1"})),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 503, "{}", reply.text);
    assert_eq!(reply.body["code"], json!("service_unavailable"));
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

#[rstest]
#[tokio::test]
async fn service_info_has_the_ga4gh_shape(#[values(TestBackend::Sqlite)] backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let reply = app.get("/api/service-info", None).await.expect(200);
    let info = &reply.body;
    for field in ["id", "name", "version", "description", "documentationUrl"] {
        assert!(
            info[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {info}"
        );
    }
    for field in ["group", "artifact", "version"] {
        assert!(info["type"][field].is_string(), "type.{field}: {info}");
    }
    assert_eq!(info["organization"]["url"], json!(reefguide_tests::ISSUER));
    assert!(info["jobTypes"].is_array());
}

#[rstest]
#[tokio::test]
async fn docs_page_is_served_with_local_assets(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    // `/api/docs` redirects to the page; reqwest follows.
    let page = app.get("/api/docs", None).await.expect(200);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "no remote assets"
    );
    let config = app
        .get("/api/docs/swagger-initializer.js", None)
        .await
        .expect(200);
    assert!(config.text.contains("/api/openapi.json"), "{}", config.text);
    let bundle = app
        .get("/api/docs/swagger-ui-bundle.js", None)
        .await
        .expect(200);
    assert!(
        bundle.text.len() > 100_000,
        "the renderer is served by the binary"
    );
}
