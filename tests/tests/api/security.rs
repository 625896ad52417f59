//! Token security: forged, expired, tampered and stale tokens are refused; issued tokens verify
//! with a standard JWT library against the published JWKS; refresh tokens are not stored in clear.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reefguide_http_actix::crypto::RsaKeyPair;
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{ISSUER, KEYS, TestApp};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn claims(id: i64, email: &str, roles: &[&str], exp_offset_secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"id": id, "email": email, "roles": roles, "iss": ISSUER, "iat": now - 10, "exp": now + exp_offset_secs})
}

fn rs256(key: &RsaKeyPair, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEYS.thumbprint());
    let key = EncodingKey::from_rsa_pem(key.private_pem().as_bytes()).expect("encoding key");
    jsonwebtoken::encode(&header, claims, &key).expect("signed")
}

#[rstest]
#[tokio::test]
async fn unsigned_alg_none_token_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.user("ana@example.com").await;
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "none", "typ": "JWT", "kid": KEYS.thumbprint()}).to_string());
    let payload =
        URL_SAFE_NO_PAD.encode(claims(id, "ana@example.com", &["ADMIN"], 600).to_string());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        app.get("/api/auth/profile", Some(&token))
            .await
            .expect_error(401, "invalid_token");
    }
}

#[rstest]
#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.user("ana@example.com").await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KEYS.thumbprint());
    let token = jsonwebtoken::encode(
        &header,
        &claims(id, "ana@example.com", &["ADMIN"], 600),
        &EncodingKey::from_secret(KEYS.public_pem().as_bytes()),
    )
    .expect("signed");
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect_error(401, "invalid_token");
    app.get("/api/users", Some(&token))
        .await
        .expect_error(401, "invalid_token");
}

#[rstest]
#[tokio::test]
async fn expired_token_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.user("ana@example.com").await;
    let valid = rs256(&KEYS, &claims(id, "ana@example.com", &[], 600));
    app.get("/api/auth/profile", Some(&valid)).await.expect(200);
    let expired = rs256(&KEYS, &claims(id, "ana@example.com", &[], -120));
    app.get("/api/auth/profile", Some(&expired))
        .await
        .expect_error(401, "invalid_token");
}

#[rstest]
#[tokio::test]
async fn tampered_payload_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    let (admin_id, _) = app.user("other@example.com").await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["id"] = json!(admin_id);
    payload["roles"] = json!(["ADMIN"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    app.get("/api/auth/profile", Some(&forged))
        .await
        .expect_error(401, "invalid_token");
}

#[rstest]
#[tokio::test]
async fn token_signed_by_another_key_or_issuer_is_refused(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.user("ana@example.com").await;
    let other = RsaKeyPair::generate().expect("key");
    let token = rs256(&other, &claims(id, "ana@example.com", &[], 600));
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect_error(401, "invalid_token");
    let mut foreign = claims(id, "ana@example.com", &[], 600);
    foreign["iss"] = json!("https://someone-else.example");
    let token = rs256(&KEYS, &foreign);
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect_error(401, "invalid_token");
}

#[rstest]
#[tokio::test]
async fn deleted_users_token_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (id, token) = app.user("ana@example.com").await;
    app.get("/api/auth/profile", Some(&token)).await.expect(200);
    app.delete(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect(204);
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect_error(401, "invalid_token");
}

#[rstest]
#[tokio::test]
async fn demoted_admins_valid_token_loses_access_at_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let reply = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "boss@example.com", "password": "boss-password-1", "roles": ["ADMIN"]}),
        )
        .await
        .expect(200);
    let boss_id = reply.body["id"].as_i64().expect("id");
    let (boss, _) = app.login("boss@example.com", "boss-password-1").await;
    app.get("/api/users", Some(&boss)).await.expect(200);
    app.put(
        &format!("/api/users/{boss_id}/roles"),
        Some(&admin),
        json!({"roles": []}),
    )
    .await
    .expect(200);
    app.get("/api/users", Some(&boss))
        .await
        .expect_error(403, "forbidden");
}

#[rstest]
#[tokio::test]
async fn login_token_verifies_with_a_standard_library_against_jwks(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user("ana@example.com").await;
    let jwks = app
        .get("/api/.well-known/jwks.json", None)
        .await
        .expect(200);
    let jwk = &jwks.body["keys"][0];
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
    let key = DecodingKey::from_rsa_components(
        jwk["n"].as_str().expect("n"),
        jwk["e"].as_str().expect("e"),
    )
    .expect("decoding key from JWKS");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies");
    assert_eq!(data.claims["id"], json!(id));
    assert_eq!(data.claims["email"], json!("ana@example.com"));
    assert_eq!(data.claims["roles"], json!([]));
    let lifetime =
        data.claims["exp"].as_i64().expect("exp") - data.claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 600, "10 minutes by default");
}

#[rstest]
#[tokio::test]
async fn refresh_tokens_are_stored_only_as_sha256(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.register("ana@example.com", "user-password-1").await;
    let (_, refresh) = app.login("ana@example.com", "user-password-1").await;
    let db = app.sql().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM refresh_tokens",
        ))
        .await
        .expect("query");
    let expected_hash = hex::encode(Sha256::digest(refresh.as_bytes()));
    let mut found = false;
    for row in &rows {
        let hash: String = row.try_get("", "token_hash").expect("token_hash");
        found |= hash == expected_hash;
        let dump = format!("{row:?}");
        assert!(
            !dump.contains(&refresh),
            "clear refresh token stored: {dump}"
        );
    }
    assert!(found, "the token's SHA-256 digest is stored");
}
