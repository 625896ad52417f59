//! Password reset by e-mail (issue 27), through a real SMTP server (aiosmtpd, started by
//! `cargo xtask test`): the e-mail arrives, its code works once and signs the account out
//! everywhere; a wrong, malformed, expired, reused or over-attempted code gets one answer; an
//! address without an account gets the same answer (and a note, no code); a request within the
//! cooldown sends nothing, for both alike.

use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_tests::TestApp;
use reefguide_tests::smtp::TestSmtp;
use rstest::rstest;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

/// What every well-formed request is answered.
const REQUEST_ANSWER: &str = "If an account with that email exists, a reset code has been sent.";
/// What every refused code is answered.
const INVALID_CODE: &str = "Invalid or expired reset code";

/// An address no other test uses (the SMTP server is shared by the whole run).
fn address(name: &str) -> String {
    format!("{name}-{:016x}@reset.example.com", rand::random::<u64>())
}

async fn app(backend: TestBackend, smtp: &TestSmtp) -> TestApp {
    TestApp::spawn_with(backend, |settings| smtp.configure(settings)).await
}

/// Asks for a code for `email` and checks the one answer.
async fn request(app: &TestApp, email: &str) {
    let reply = app
        .post("/api/password-reset/request", None, json!({"email": email}))
        .await
        .expect(200);
    assert_eq!(reply.body, json!({"message": REQUEST_ANSWER}));
}

/// Confirms `code` with `password` (twice, matching).
async fn confirm(app: &TestApp, code: &str, password: &str) -> reefguide_tests::Reply {
    app.post(
        "/api/password-reset/confirm",
        None,
        json!({"code": code, "newPassword": password, "confirmPassword": password}),
    )
    .await
}

/// The refusal every bad code gets.
#[track_caller]
fn assert_invalid_code(body: &Value) {
    assert_eq!(body["message"], json!(INVALID_CODE), "{body}");
}

/// The code of the only e-mail `email` received.
async fn mailed_code(smtp: &TestSmtp, email: &str, count: usize) -> String {
    let mails = smtp.wait_for(email, count).await;
    mails[count - 1]
        .reset_code()
        .unwrap_or_else(|| panic!("no code in {:?}", mails[count - 1]))
}

#[rstest]
#[tokio::test]
async fn the_mailed_code_resets_the_password_once_and_signs_out_everywhere(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let smtp = TestSmtp::from_env();
    let app = app(backend, &smtp).await;
    let email = address("ana");
    let id = app.register(&email, "old-password-1").await;
    let (_, refresh) = app.login(&email, "old-password-1").await;

    // The address as typed, in another case: the account's address is normalised.
    request(&app, &email.to_uppercase()).await;
    let mails = smtp.wait_for(&email, 1).await;
    let mail = &mails[0];
    assert!(mail.from.contains("ReefGuide"), "{mail:?}");
    assert_eq!(mail.subject, "Your ReefGuide password reset code");
    let code = mail.reset_code().expect("a code");
    assert_eq!(
        code.len(),
        10,
        "{code}: fits the front end's 6 to 10 characters"
    );

    let typed = format!(" {}-{} ", &code[..5].to_lowercase(), &code[5..]);
    let reply = confirm(&app, &typed, "new-password-2").await.expect(200);
    assert_eq!(
        reply.body["message"],
        json!("Password has been successfully reset. You can now log in with your new password.")
    );
    app.post(
        "/api/auth/login",
        None,
        json!({"email": email, "password": "old-password-1"}),
    )
    .await
    .expect(401);
    app.login(&email, "new-password-2").await;
    app.post("/api/auth/token", None, json!({"refreshToken": refresh}))
        .await
        .expect(401);
    assert!(
        app.log_actions(id)
            .await
            .contains(&"CHANGE_PASSWORD".to_owned())
    );

    let reused = confirm(&app, &code, "third-password-3").await.expect(400);
    assert_invalid_code(&reused.body);
    app.login(&email, "new-password-2").await;
}

#[rstest]
#[tokio::test]
async fn wrong_malformed_expired_and_over_attempted_codes_get_one_answer(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let smtp = TestSmtp::from_env();
    let app = app(backend, &smtp).await;

    // Wrong and malformed codes.
    for code in ["ZZZZ000000", "123456", "", "not-a-code!", &"A".repeat(64)] {
        let reply = confirm(&app, code, "new-password-2").await.expect(400);
        assert_invalid_code(&reply.body);
    }

    // Over-attempted: five wrong codes naming the reset kill it; the right one is then refused.
    let email = address("bob");
    app.register(&email, "old-password-1").await;
    request(&app, &email).await;
    let code = mailed_code(&smtp, &email, 1).await;
    for attempt in 0..5 {
        let last = if code.ends_with('0') { '1' } else { '0' };
        let wrong = format!("{}{attempt}{last}", &code[..8]);
        assert_ne!(wrong, code);
        let reply = confirm(&app, &wrong, "new-password-2").await.expect(400);
        assert_invalid_code(&reply.body);
    }
    let refused = confirm(&app, &code, "new-password-2").await.expect(400);
    assert_invalid_code(&refused.body);
    app.login(&email, "old-password-1").await;

    // Expired: a code past its 30 minutes.
    let email = address("carol");
    app.register(&email, "old-password-1").await;
    request(&app, &email).await;
    let code = mailed_code(&smtp, &email, 1).await;
    app.sql()
        .await
        .execute_unprepared(&format!(
            "UPDATE password_resets SET expires_at = created_at WHERE email = '{email}'"
        ))
        .await
        .expect("expired");
    let refused = confirm(&app, &code, "new-password-2").await.expect(400);
    assert_invalid_code(&refused.body);
    app.login(&email, "old-password-1").await;

    // A confirmation that does not match is a different, field error, and spends nothing.
    let email = address("dan");
    app.register(&email, "old-password-1").await;
    request(&app, &email).await;
    let code = mailed_code(&smtp, &email, 1).await;
    let mismatch = app
        .post(
            "/api/password-reset/confirm",
            None,
            json!({"code": code, "newPassword": "new-password-2", "confirmPassword": "other-2"}),
        )
        .await
        .expect(400);
    assert_ne!(mismatch.body["message"], json!(INVALID_CODE));
    let weak = confirm(&app, &code, "short").await.expect(400);
    assert_ne!(weak.body["message"], json!(INVALID_CODE));
    confirm(&app, &code, "new-password-2").await.expect(200);
}

#[rstest]
#[tokio::test]
async fn an_address_without_an_account_gets_the_same_answer_and_no_code(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let smtp = TestSmtp::from_env();
    let app = app(backend, &smtp).await;
    let stranger = address("stranger");
    request(&app, &stranger).await;
    let mails = smtp.wait_for(&stranger, 1).await;
    assert!(mails[0].reset_code().is_none(), "{:?}", mails[0]);
    assert!(
        mails[0]
            .body
            .contains("no ReefGuide account uses this address"),
        "{:?}",
        mails[0]
    );

    // Within the cooldown nothing more is sent, to a stranger or to an account, and the
    // answer is the same. The server sends in order, so once a later message has arrived an
    // earlier one would have too.
    let ana = address("ana");
    app.register(&ana, "old-password-1").await;
    request(&app, &ana).await;
    let first = mailed_code(&smtp, &ana, 1).await;
    request(&app, &stranger).await;
    request(&app, &ana).await;
    let later = address("later");
    request(&app, &later).await;
    smtp.wait_for(&later, 1).await;
    assert_eq!(smtp.received_for(&stranger).len(), 1);
    assert_eq!(smtp.received_for(&ana).len(), 1);
    // The first code still works.
    confirm(&app, &first, "new-password-2").await.expect(200);

    // Malformed addresses are refused as such, not with the answer.
    app.post(
        "/api/password-reset/request",
        None,
        json!({"email": "not an address"}),
    )
    .await
    .expect(400);
}

#[rstest]
#[tokio::test]
async fn without_an_smtp_server_requests_still_work_and_are_rate_limited(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    // The zero-setup default (no smtp_host: the log), beside a non-default port setting and
    // the rate limits on.
    let app = TestApp::spawn_with(backend, |settings| {
        settings.email.smtp_port = Some(2525);
        settings.limits.rate_limit_enabled = true;
        settings.limits.rate_limit_password_reset_per_ip_per_hour = 2;
    })
    .await;
    let email = address("eve");
    app.register(&email, "old-password-1").await;
    request(&app, &email).await;
    request(&app, &address("frank")).await;
    app.post("/api/password-reset/request", None, json!({"email": email}))
        .await
        .expect(429);
    // Confirmations are counted apart.
    let refused = confirm(&app, "ZZZZ000000", "new-password-2")
        .await
        .expect(400);
    assert_invalid_code(&refused.body);
}
