//! labcas-contract §4: tokens of trusted external issuers, through the HTTP API. Tokens are
//! minted here as the LabCAS backend mints them (HS256 with a shared secret, `iss = aud =
//! "LabCAS"`, an LDAP DN in `sub`), and forged in every way the contract names.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reefguide_http_actix::Settings;
use reefguide_http_actix::config::{ExternalJwtSettings, JobTypeSettings};
use reefguide_http_actix::crypto::RsaKeyPair;
use reefguide_tests::TestApp;
use reefguide_tests::labcas::{LABCAS_SECRET, labcas_claims, labcas_issuer, labcas_token};
use reefguide_tests::test_support::TestBackend;
use rstest::rstest;
use serde_json::{Value, json};

/// A second issuer (RS256), beside LabCAS, to try confusing the two.
static OTHER: std::sync::LazyLock<RsaKeyPair> =
    std::sync::LazyLock::new(|| RsaKeyPair::generate().expect("key generation"));

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// LabCAS (HS256) and Other (RS256) trusted; type `TILES` open to thomas and to ANALYSTs.
fn configure(settings: &mut Settings) {
    settings.auth.external_jwt = vec![
        labcas_issuer(),
        ExternalJwtSettings {
            issuer: "Other".into(),
            audience: "other".into(),
            hs256_secret: None,
            rs256_public_key: Some(OTHER.public_pem().to_owned()),
            jwks_url: None,
            username_claim: None,
        },
    ];
    settings.jobs.job_types.insert(
        "TILES".into(),
        JobTypeSettings {
            input_schema: Some(json!({"type": "object"})),
            allowed_users: Some(vec!["thomas".into()]),
            allowed_roles: Some(vec![reefguide_domain::Role::Analyst]),
            ..JobTypeSettings::default()
        },
    );
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signed")
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[rstest]
#[tokio::test]
async fn a_labcas_user_is_an_account_created_on_first_use_without_email_or_password(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, configure).await;
    let token = labcas_token("thomas");
    let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    let user = &profile.body["user"];
    let id = user["id"].as_i64().expect("an id");
    assert_eq!(
        *user,
        json!({"id": id, "email": null, "username": "thomas", "roles": []})
    );
    // The same account on every use, also with a fresh token.
    let again = app
        .get("/api/auth/profile", Some(&labcas_token("thomas")))
        .await
        .expect(200);
    assert_eq!(again.body["user"]["id"], json!(id));

    // No password: neither a login nor a password change.
    app.post(
        "/api/auth/login",
        None,
        json!({"email": "thomas", "password": "anything-at-all"}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    app.post(
        "/api/auth/change-password",
        Some(&token),
        json!({"oldPassword": "x", "newPassword": "new-password-1", "confirmPassword": "new-password-1"}),
    )
    .await
    .expect_error(400, "no_password");

    // The admin sees it, grants it a role, cannot give it a password, deletes it.
    let admin = app.admin_token().await;
    let users = app.get("/api/users", Some(&admin)).await.expect(200);
    assert!(
        users
            .body
            .as_array()
            .expect("array")
            .contains(&json!({"id": id, "email": null, "username": "thomas", "roles": []})),
        "{}",
        users.body
    );
    app.put(
        &format!("/api/users/{id}/roles"),
        Some(&admin),
        json!({"roles": ["ANALYST"]}),
    )
    .await
    .expect(200);
    let analyst = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(analyst.body["user"]["roles"], json!(["ANALYST"]));
    app.put(
        &format!("/api/users/{id}/password"),
        Some(&admin),
        json!({"password": "admin-chosen-1"}),
    )
    .await
    .expect_error(400, "no_password");
    app.delete(&format!("/api/users/{id}"), Some(&admin))
        .await
        .expect(204);
    // Deleted: the next use is a first use again, a new account with no role.
    let fresh = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_ne!(fresh.body["user"]["id"], json!(id));
    assert_eq!(fresh.body["user"]["roles"], json!([]));
}

#[rstest]
#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused_and_create_nobody(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, configure).await;
    let admin = app.admin_token().await;
    let before = app.get("/api/users", Some(&admin)).await.expect(200).body;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(labcas_claims("thomas").to_string())
    );
    let other_claims = json!({"iss": "Other", "aud": "other", "exp": now() + 60,
        "username": "mallory"});
    let cases = [
        ("alg none", none),
        (
            "HS256 with another secret",
            hs256(
                &labcas_claims("thomas"),
                b"some-other-secret-of-enough-length",
            ),
        ),
        (
            "expired",
            hs256(
                &with(labcas_claims("thomas"), "exp", json!(now() - 120)),
                LABCAS_SECRET.as_bytes(),
            ),
        ),
        (
            "not yet valid",
            hs256(
                &with(labcas_claims("thomas"), "nbf", json!(now() + 120)),
                LABCAS_SECRET.as_bytes(),
            ),
        ),
        (
            "unknown issuer",
            hs256(
                &with(labcas_claims("thomas"), "iss", json!("Mallory")),
                LABCAS_SECRET.as_bytes(),
            ),
        ),
        (
            "wrong audience",
            hs256(
                &with(labcas_claims("thomas"), "aud", json!("ReefGuide")),
                LABCAS_SECRET.as_bytes(),
            ),
        ),
        (
            "no uid in sub",
            hs256(
                &with(labcas_claims("thomas"), "sub", json!("cn=Thomas,dc=edrn")),
                LABCAS_SECRET.as_bytes(),
            ),
        ),
        (
            "HS256 for the RS256 issuer, keyed with its public key",
            hs256(&other_claims, OTHER.public_pem().as_bytes()),
        ),
        (
            "the RS256 issuer's claims under the HS256 issuer's secret",
            hs256(&other_claims, LABCAS_SECRET.as_bytes()),
        ),
    ];
    for (case, token) in cases {
        let reply = app.get("/api/auth/profile", Some(&token)).await;
        assert_eq!(reply.status.as_u16(), 401, "{case}: {}", reply.text);
        assert_eq!(reply.body["code"], json!("invalid_token"), "{case}");
    }
    let after = app.get("/api/users", Some(&admin)).await.expect(200).body;
    assert_eq!(before, after, "a refused token created an account");

    // Our own tokens still work beside the external ones, and the RS256 issuer's own do too.
    let (_, ours) = app.user("ana@example.com").await;
    app.get("/api/auth/profile", Some(&ours)).await.expect(200);
    let other = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &other_claims,
        &EncodingKey::from_rsa_pem(OTHER.private_pem().as_bytes()).expect("key"),
    )
    .expect("signed");
    let mallory = app.get("/api/auth/profile", Some(&other)).await.expect(200);
    assert_eq!(mallory.body["user"]["username"], json!("mallory"));
}

#[rstest]
#[tokio::test]
async fn allowed_users_admit_an_external_username(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, configure).await;
    let submit = |token: String| {
        let app = &app;
        async move {
            app.post(
                "/api/jobs",
                Some(&token),
                json!({"type": "TILES", "inputPayload": {"n": 1}}),
            )
            .await
        }
    };
    submit(labcas_token("thomas")).await.expect(200);
    submit(labcas_token("mallory"))
        .await
        .expect_error(403, "job_type_forbidden");
    // The listed types say the same.
    let types = |token: String| {
        let app = &app;
        async move {
            let reply = app.get("/api/jobs/types", Some(&token)).await.expect(200);
            reply.body.to_string().contains("\"TILES\"")
        }
    };
    assert!(types(labcas_token("thomas")).await);
    assert!(!types(labcas_token("mallory")).await);
}
