//! Contract §3: registration, login, tokens, logout, profile, password change, rate limits.

use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{ADMIN_EMAIL, TestApp};
use rstest::rstest;
use serde_json::json;

const PASSWORD: &str = "user-password-1";

#[rstest]
#[tokio::test]
async fn register_returns_the_new_id(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("ana@example.com", PASSWORD).await;
    let second = app.register("ben@example.com", PASSWORD).await;
    assert!(first > 0 && second > first);
}

#[rstest]
#[tokio::test]
async fn duplicate_email_is_refused_case_insensitively(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.register("ana@example.com", PASSWORD).await;
    let reply = app
        .post(
            "/api/auth/register",
            None,
            json!({"email": "  ANA@Example.com ", "password": PASSWORD}),
        )
        .await
        .expect_error(400, "user_exists");
    assert_eq!(reply.body["message"], json!("User already exists"));
}

#[rstest]
#[tokio::test]
async fn register_validates_email_and_password(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .post(
            "/api/auth/register",
            None,
            json!({"email": "not-an-email", "password": "short"}),
        )
        .await
        .expect_error(400, "validation_error");
    let paths: Vec<&str> = reply.body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(paths, ["email", "password"]);
    app.post(
        "/api/auth/register",
        None,
        json!({"email": "a@b.com", "password": "x".repeat(129)}),
    )
    .await
    .expect_error(400, "validation_error");
    app.post(
        "/api/auth/register",
        None,
        json!({"email": "a@b.com", "password": "1234567"}),
    )
    .await
    .expect_error(400, "validation_error");
    app.post(
        "/api/auth/register",
        None,
        json!({"email": "a@b.com", "password": "12345678"}),
    )
    .await
    .expect(200);
}

#[rstest]
#[tokio::test]
async fn login_returns_tokens_and_logs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let id = app.register("ana@example.com", PASSWORD).await;
    let (token, refresh) = app.login("ANA@example.com", PASSWORD).await;
    assert_eq!(token.split('.').count(), 3);
    assert!(refresh.len() >= 40);
    let actions = app.log_actions(id).await;
    assert!(actions.iter().any(|a| a == "LOGIN"), "{actions:?}");
}

#[rstest]
#[tokio::test]
async fn bad_credentials_are_one_answer(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.register("ana@example.com", PASSWORD).await;
    let wrong_password = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ana@example.com", "password": "wrong-password"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    let unknown = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "wrong-password"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    let malformed = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "nobody", "password": "x"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(wrong_password.body, unknown.body);
    assert_eq!(unknown.body, malformed.body);
    assert_eq!(wrong_password.body["message"], json!("Invalid credentials"));
}

#[rstest]
#[tokio::test]
async fn refresh_token_gives_a_new_access_token(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    app.register("ana@example.com", PASSWORD).await;
    let (_, refresh) = app.login("ana@example.com", PASSWORD).await;
    let reply = app
        .post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect(200);
    let token = reply.body["token"].as_str().expect("token");
    assert!(
        reply.body.get("refreshToken").is_none(),
        "no rotation by default"
    );
    app.get("/api/auth/profile", Some(token)).await.expect(200);
    // Without rotation (R1 workers), the same refresh token keeps working.
    app.post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect(200);
    app.post("/api/auth/token", None, json!({"refreshToken": "garbage"}))
        .await
        .expect_error(401, "invalid_refresh_token");
}

#[rstest]
#[tokio::test]
async fn rotation_replaces_tokens_and_detects_reuse(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.rotate_refresh_tokens = true).await;
    app.register("ana@example.com", PASSWORD).await;
    let (_, first) = app.login("ana@example.com", PASSWORD).await;
    let reply = app
        .post("/api/auth/token", None, json!({"refreshToken": first}))
        .await
        .expect(200);
    let second = reply.body["refreshToken"]
        .as_str()
        .expect("successor")
        .to_owned();
    assert_ne!(first, second);
    // Reusing the rotated token is refused and revokes the whole family, successor included.
    app.post("/api/auth/token", None, json!({"refreshToken": first}))
        .await
        .expect_error(401, "invalid_refresh_token");
    app.post("/api/auth/token", None, json!({"refreshToken": second}))
        .await
        .expect_error(401, "invalid_refresh_token");
}

#[rstest]
#[tokio::test]
async fn logout_revokes_the_refresh_token(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let id = app.register("ana@example.com", PASSWORD).await;
    let (_, refresh) = app.login("ana@example.com", PASSWORD).await;
    let reply = app
        .post("/api/auth/logout", None, json!({"refreshToken": refresh}))
        .await
        .expect(204);
    assert!(reply.text.is_empty());
    app.post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect_error(401, "invalid_refresh_token");
    app.post("/api/auth/logout", None, json!({"refreshToken": refresh}))
        .await
        .expect_error(401, "invalid_refresh_token");
    app.post("/api/auth/logout", None, json!({"refreshToken": "nope"}))
        .await
        .expect_error(401, "invalid_refresh_token");
    let admin = app.admin_token().await;
    let logs = app
        .get(&format!("/api/users/utils/log?userId={id}"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(logs.body["logs"][0]["action"], json!("LOGOUT"));
}

#[rstest]
#[tokio::test]
async fn profile_shows_the_caller(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user("ana@example.com").await;
    let reply = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(
        reply.body,
        json!({"user": {"id": id, "email": "ana@example.com", "username": "ana@example.com", "roles": []}})
    );
    let admin = app.admin_token().await;
    let reply = app.get("/api/auth/profile", Some(&admin)).await.expect(200);
    assert_eq!(reply.body["user"]["email"], json!(ADMIN_EMAIL));
    assert_eq!(reply.body["user"]["roles"], json!(["ADMIN"]));
    app.get("/api/auth/profile", None)
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/auth/profile", Some("garbage"))
        .await
        .expect_error(401, "invalid_token");
}

#[rstest]
#[tokio::test]
async fn change_password_revokes_refresh_tokens(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let id = app.register("ana@example.com", PASSWORD).await;
    let (token, refresh) = app.login("ana@example.com", PASSWORD).await;
    let body = json!({"oldPassword": PASSWORD, "newPassword": "new-password-2", "confirmPassword": "new-password-2"});
    let reply = app
        .post("/api/auth/change-password", Some(&token), body)
        .await
        .expect(200);
    assert!(reply.body["message"].is_string());
    app.post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect_error(401, "invalid_refresh_token");
    app.post(
        "/api/auth/login",
        None,
        json!({"email": "ana@example.com", "password": PASSWORD}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    app.login("ana@example.com", "new-password-2").await;
    let actions = app.log_actions(id).await;
    assert!(
        actions.iter().any(|a| a == "CHANGE_PASSWORD"),
        "{actions:?}"
    );
}

#[rstest]
#[tokio::test]
async fn change_password_errors(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user("ana@example.com").await;
    app.post(
        "/api/auth/change-password",
        Some(&token),
        json!({"oldPassword": PASSWORD, "newPassword": "new-password-2", "confirmPassword": "other-password"}),
    )
    .await
    .expect_error(400, "validation_error");
    app.post(
        "/api/auth/change-password",
        Some(&token),
        json!({"oldPassword": PASSWORD, "newPassword": "short", "confirmPassword": "short"}),
    )
    .await
    .expect_error(400, "validation_error");
    app.post(
        "/api/auth/change-password",
        Some(&token),
        json!({"oldPassword": "wrong-password", "newPassword": "new-password-2", "confirmPassword": "new-password-2"}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    app.post(
        "/api/auth/change-password",
        None,
        json!({"oldPassword": PASSWORD, "newPassword": "new-password-2", "confirmPassword": "new-password-2"}),
    )
    .await
    .expect_error(401, "unauthorized");
}

#[rstest]
#[tokio::test]
async fn login_is_rate_limited_per_address_and_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.rate_limit_enabled = true;
        s.limits.rate_limit_login_per_ip_per_minute = 100;
        s.limits.rate_limit_login_per_account_per_minute = 3;
    })
    .await;
    let body = json!({"email": "victim@example.com", "password": "guess-guess"});
    for _ in 0..3 {
        app.post("/api/auth/login", None, body.clone())
            .await
            .expect(401);
    }
    let reply = app
        .post("/api/auth/login", None, body)
        .await
        .expect_error(429, "rate_limited");
    let retry_after: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry_after));
    // Another account from the same address is still allowed.
    app.post(
        "/api/auth/login",
        None,
        json!({"email": "other@example.com", "password": "guess-guess"}),
    )
    .await
    .expect(401);
}

#[rstest]
#[tokio::test]
async fn register_is_rate_limited_per_address(#[values(TestBackend::Sqlite)] backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.rate_limit_enabled = true;
        s.limits.rate_limit_register_per_ip_per_hour = 2;
    })
    .await;
    app.register("a1@example.com", PASSWORD).await;
    app.register("a2@example.com", PASSWORD).await;
    app.post(
        "/api/auth/register",
        None,
        json!({"email": "a3@example.com", "password": PASSWORD}),
    )
    .await
    .expect_error(429, "rate_limited");
}

#[rstest]
#[tokio::test]
async fn login_is_rate_limited_per_address(#[values(TestBackend::Sqlite)] backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.rate_limit_enabled = true;
        s.limits.rate_limit_login_per_ip_per_minute = 2;
    })
    .await;
    for n in 0..2 {
        app.post(
            "/api/auth/login",
            None,
            json!({"email": format!("u{n}@example.com"), "password": "guess-guess"}),
        )
        .await
        .expect(401);
    }
    app.post(
        "/api/auth/login",
        None,
        json!({"email": "u9@example.com", "password": "guess-guess"}),
    )
    .await
    .expect_error(429, "rate_limited");
}

/// An account imported from ReefGuide keeps its bcrypt hash (`$2a$`/`$2b$`, cost 10): its user
/// logs in with their old password, and that login replaces the hash with an argon2id one.
#[rstest]
#[tokio::test]
async fn a_bcrypt_password_works_once_and_becomes_argon2id(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[values(bcrypt::Version::TwoA, bcrypt::Version::TwoB)] version: bcrypt::Version,
) {
    use sea_orm::{ConnectionTrait as _, Statement};
    let app = TestApp::spawn(backend).await;
    let id = app.register("imported@example.com", "a-new-password").await;
    let bcrypt_hash = bcrypt::hash_with_result("the old reefguide password", 10)
        .expect("bcrypt")
        .format_for_version(version);
    let db = app.sql().await;
    let stored_hash = || async {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT password_hash FROM users WHERE id = {id}"),
            ))
            .await
            .expect("query")
            .expect("the user");
        row.try_get::<String>("", "password_hash").expect("a hash")
    };
    db.execute_unprepared(&format!(
        "UPDATE users SET password_hash = '{bcrypt_hash}' WHERE id = {id}"
    ))
    .await
    .expect("the imported hash stored");

    let login = |password: &'static str| {
        app.post(
            "/api/auth/login",
            None,
            json!({"email": "imported@example.com", "password": password}),
        )
    };
    login("not the old password").await.expect(401);
    assert_eq!(
        stored_hash().await,
        bcrypt_hash,
        "a failed login changes nothing"
    );
    login("the old reefguide password").await.expect(200);
    let upgraded = stored_hash().await;
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    login("the old reefguide password").await.expect(200);
    login("a-new-password").await.expect(401);
}
