//! The stub's own tests: its answers to the SDK's calls, byte for byte, and the zod and
//! JavaScript semantics it copies.

use serde_json::{Value, json};

use super::jobs::{js_parse_int, js_truthy};
use super::zod::zod_email;
use super::{R1Stub, R1StubOptions};

const EMAIL: &str = "worker@example.com";
const PASSWORD: &str = "worker-password";

async fn stub() -> R1Stub {
    R1Stub::start(R1StubOptions {
        worker_email: EMAIL.into(),
        worker_password: PASSWORD.into(),
        bucket: "results-bucket".into(),
    })
    .await
}

/// Status and body text of a `POST` with a JSON body.
async fn post(stub: &R1Stub, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stub.url))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("stub answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn token(stub: &R1Stub) -> String {
    let (status, body) = post(
        stub,
        "/api/auth/login",
        None,
        &json!({"email": EMAIL, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    body["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn a_missing_arn_gets_zods_exact_400_body_even_without_a_token() {
    let stub = stub().await;
    let job = stub.submit("TEST", json!({"id": 1}));
    let (status, body) = post(
        &stub,
        "/api/jobs/assign",
        None,
        &json!({"jobId": job, "ecsTaskArn": "arn:task"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"[{"type":"Body","errors":{"issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["ecsClusterArn"],"message":"Required"}],"name":"ZodError"}}]"#
    );
    assert_eq!(
        stub.refused_assigns(),
        vec![serde_json::from_str::<Value>(&body).expect("JSON")]
    );
    assert_eq!(stub.job_status(job).as_deref(), Some("PENDING"));
    // Valid but unauthenticated: passport's plain 401, after validation passed.
    let (status, body) = post(
        &stub,
        "/api/jobs/assign",
        None,
        &json!({"jobId": job, "ecsTaskArn": "a", "ecsClusterArn": "b"}),
    )
    .await;
    assert_eq!((status, body.as_str()), (401, "Unauthorized"));
    assert!(stub.assignments().is_empty());
}

#[tokio::test]
async fn every_failing_field_is_reported_in_schema_order() {
    let stub = stub().await;
    let token = token(&stub).await;
    let (status, body) = post(
        &stub,
        "/api/jobs/assign",
        Some(&token),
        &json!({"jobId": "1", "ecsTaskArn": null, "extra": true}),
    )
    .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        body,
        json!([{"type": "Body", "errors": {"name": "ZodError", "issues": [
            {"code": "invalid_type", "expected": "number", "received": "string",
             "path": ["jobId"], "message": "Expected number, received string"},
            {"code": "invalid_type", "expected": "string", "received": "null",
             "path": ["ecsTaskArn"], "message": "Expected string, received null"},
            {"code": "invalid_type", "expected": "string", "received": "undefined",
             "path": ["ecsClusterArn"], "message": "Required"},
        ]}}])
    );
    // A body that is not JSON counts as {} (express.json skips it).
    let response = reqwest::Client::new()
        .post(format!("{}/api/jobs/assign", stub.url))
        .body("jobId=1")
        .send()
        .await
        .expect("stub answers");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body[0]["errors"]["issues"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn assign_and_result_follow_r1s_rules() {
    let stub = stub().await;
    let token = token(&stub).await;
    let job = stub.submit("TEST", json!({"id": 1}));
    let take = json!({"jobId": job, "ecsTaskArn": "arn:task", "ecsClusterArn": "arn:cluster"});
    let (status, body) = post(&stub, "/api/jobs/assign", Some(&token), &take).await;
    assert_eq!(status, 200, "{body}");
    let assignment: Value = serde_json::from_str(&body).expect("JSON");
    let assignment = &assignment["assignment"];
    assert_eq!(assignment["job_id"], json!(job));
    assert_eq!(assignment["storage_scheme"], json!("S3"));
    let uri = assignment["storage_uri"].as_str().expect("uri");
    assert!(
        uri.starts_with(&format!("s3://results-bucket/results/test/{job}/")),
        "{uri}"
    );
    assert_eq!(assignment["heartbeat_at"], Value::Null);
    assert_eq!(stub.job_status(job).as_deref(), Some("IN_PROGRESS"));

    let (status, body) = post(&stub, "/api/jobs/assign", Some(&token), &take).await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"status":400,"message":"Job is not available for assignment"}"#
        )
    );
    let missing = json!({"jobId": 999, "ecsTaskArn": "a", "ecsClusterArn": "b"});
    let (status, body) = post(&stub, "/api/jobs/assign", Some(&token), &missing).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"status":404,"message":"Job not found"}"#)
    );

    let id = assignment["id"].as_i64().expect("id");
    let result = format!("/api/jobs/assignments/{id}/result");
    let (status, body) = post(&stub, &result, Some(&token), &json!({"status": "DONE"})).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        body[0]["errors"]["issues"][0]["code"],
        json!("invalid_enum_value")
    );
    let (status, body) = post(
        &stub,
        &result,
        Some(&token),
        &json!({"status": "FAILED", "resultPayload": {"error": "boom"}}),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"status":400,"message":"Invalid result payload for job type TEST"}"#
        )
    );
    let done = json!({"status": "SUCCEEDED", "resultPayload": {}});
    let (status, body) = post(&stub, &result, Some(&token), &done).await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = post(&stub, &result, Some(&token), &done).await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"status":400,"message":"Assignment already completed!"}"#
        )
    );
    assert_eq!(stub.job_status(job).as_deref(), Some("SUCCEEDED"));
    assert_eq!(stub.results().len(), 1);
}

#[tokio::test]
async fn routes_r1_lacks_get_expresss_404_page() {
    let stub = stub().await;
    for path in [
        "/api/jobs/claim",
        "/api/jobs/assignments/1/heartbeat",
        "/api/jobs/assignments/1/upload-urls",
    ] {
        let (status, body) = post(&stub, path, None, &json!({})).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            body.contains(&format!("<pre>Cannot POST {path}</pre>")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn login_refresh_and_poll() {
    let stub = stub().await;
    let (status, body) = post(
        &stub,
        "/api/auth/login",
        None,
        &json!({"email": EMAIL, "password": "wrong"}),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"status":401,"message":"Invalid credentials"}"#)
    );
    let (status, body) = post(
        &stub,
        "/api/auth/login",
        None,
        &json!({"email": "not-an-email", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains(r#""message":"Invalid email""#), "{body}");

    let (_, body) = post(
        &stub,
        "/api/auth/login",
        None,
        &json!({"email": EMAIL, "password": PASSWORD}),
    )
    .await;
    let tokens: Value = serde_json::from_str(&body).expect("JSON");
    let access = tokens["token"].as_str().expect("token").to_owned();
    let job = stub.submit("TEST", json!({"id": 4}));
    stub.submit("REGIONAL_ASSESSMENT", json!({}));
    let client = reqwest::Client::new();
    let poll = |token: String| {
        client
            .get(format!("{}/api/jobs/poll?jobType=TEST", stub.url))
            .bearer_auth(token)
            .send()
    };
    let polled: Value = poll(access.clone())
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let jobs = polled["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{polled}");
    assert_eq!(jobs[0]["id"], json!(job));
    assert_eq!(jobs[0]["input_payload"], json!({"id": 4}));
    assert_eq!(jobs[0]["status"], json!("PENDING"));

    stub.expire_access_tokens();
    assert_eq!(poll(access).await.expect("answer").status().as_u16(), 401);
    let (status, body) = post(
        &stub,
        "/api/auth/token",
        None,
        &json!({"refreshToken": tokens["refreshToken"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let fresh: Value = serde_json::from_str(&body).expect("JSON");
    let fresh = fresh["token"].as_str().expect("token").to_owned();
    assert_eq!(poll(fresh).await.expect("answer").status().as_u16(), 200);

    // An unknown job type fails the query's validation, before authentication.
    let response = client
        .get(format!("{}/api/jobs/poll?jobType=OTHER", stub.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body[0]["type"], json!("Query"));
    assert_eq!(
        body[0]["errors"]["issues"][0]["message"],
        json!(
            "Invalid enum value. Expected 'TEST' | 'SUITABILITY_ASSESSMENT' | \
             'REGIONAL_ASSESSMENT', received 'OTHER'"
        )
    );
}

#[test]
fn zod_email_matches_zods_regex() {
    for good in ["worker@example.com", "a.b+c@x-y.example.org", "A_1@EX.IO"] {
        assert!(zod_email(good), "{good}");
    }
    for bad in [
        "not-an-email",
        ".a@example.com",
        "a..b@example.com",
        "a.@example.com",
        "a@example",
        "a@-x.com",
        "a@x.c",
        "a@x.c0m",
    ] {
        assert!(!zod_email(bad), "{bad}");
    }
}

#[test]
fn js_semantics() {
    assert_eq!(js_parse_int(" 12abc"), Some(12));
    assert_eq!(js_parse_int("abc"), None);
    assert!(js_truthy(&json!({})));
    assert!(!js_truthy(&json!(0)));
    assert!(!js_truthy(&json!("")));
}
