//! Contract §7, user side: submitting jobs (schemas, the cache, who may submit what) and
//! authentication of the user routes. Listing, reading, cancelling and cache invalidation are in
//! `jobs_listing.rs`; the worker routes in `jobs_workers.rs`; races, leases and long polls in
//! `jobs_concurrency.rs`.
//!
//! The helpers here are shared with those files.

use reefguide_domain::Role;
use reefguide_http_actix::config::JobTypeSettings;
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{Reply, TestApp};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers (shared with the other job suites)
// ---------------------------------------------------------------------------------------------

/// The five built-in job types, sorted.
pub(crate) const BUILTIN_TYPES: [&str; 5] = [
    "ADRIA_MODEL_RUN",
    "DATA_SPECIFICATION_UPDATE",
    "REGIONAL_ASSESSMENT",
    "SUITABILITY_ASSESSMENT",
    "TEST",
];

/// The keys of a job with its assignments (R1's `include: {assignments: {include: result}}`).
pub(crate) const JOB_KEYS: [&str; 9] = [
    "assignments",
    "created_at",
    "hash",
    "id",
    "input_payload",
    "status",
    "type",
    "updated_at",
    "user_id",
];

/// The keys of an assignment as returned alone: the contract's eleven plus the heartbeat's
/// `progress` and `message`.
pub(crate) const ASSIGNMENT_KEYS: [&str; 13] = [
    "completed_at",
    "created_at",
    "ecs_cluster_arn",
    "ecs_task_arn",
    "expires_at",
    "heartbeat_at",
    "id",
    "job_id",
    "message",
    "progress",
    "storage_scheme",
    "storage_uri",
    "updated_at",
];

/// The keys of a result: the contract's eight plus `cache_valid`.
pub(crate) const RESULT_KEYS: [&str; 9] = [
    "assignment_id",
    "cache_valid",
    "created_at",
    "id",
    "job_id",
    "metadata",
    "result_payload",
    "storage_scheme",
    "storage_uri",
];

/// The sorted keys of a JSON object.
pub(crate) fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

/// Whether `value` is an ISO-8601 UTC timestamp with milliseconds.
pub(crate) fn is_timestamp(value: &Value) -> bool {
    value.as_str().is_some_and(|t| {
        t.len() == 24 && t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok()
    })
}

/// Parses a timestamp field.
pub(crate) fn time_of(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("timestamp string"))
        .unwrap_or_else(|e| panic!("bad timestamp {value}: {e}"))
}

/// An id field as an integer.
pub(crate) fn id(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an id: {value}"))
}

/// Submits a job and returns the whole reply (not checked).
pub(crate) async fn submit(app: &TestApp, token: &str, job_type: &str, payload: Value) -> Reply {
    app.post(
        "/api/jobs",
        Some(token),
        json!({"type": job_type, "inputPayload": payload}),
    )
    .await
}

/// Submits a new TEST job `{"id": n}` and returns its id (asserting it was not cached).
pub(crate) async fn submit_test(app: &TestApp, token: &str, n: i64) -> i64 {
    let reply = submit(app, token, "TEST", json!({"id": n}))
        .await
        .expect(200);
    assert_eq!(reply.body["cached"], json!(false), "{}", reply.text);
    id(&reply.body["jobId"])
}

/// `GET /api/jobs/{id}` as `token`, expecting 200; the `job` object.
pub(crate) async fn job(app: &TestApp, token: &str, job_id: i64) -> Value {
    let reply = app
        .get(&format!("/api/jobs/{job_id}"), Some(token))
        .await
        .expect(200);
    reply.body["job"].clone()
}

/// The status of a job, read by the admin.
pub(crate) async fn status_of(app: &TestApp, job_id: i64) -> String {
    let admin = app.admin_token().await;
    job(app, &admin, job_id).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

/// The job ids of a `{"jobs": […]}` reply, in order.
pub(crate) fn job_ids(reply: &Reply) -> Vec<i64> {
    reply.body["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs array: {}", reply.text))
        .iter()
        .map(|job| id(&job["id"]))
        .collect()
}

/// The `details[].path` of a validation error.
pub(crate) fn error_paths(reply: &Reply) -> Vec<String> {
    reply.body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {}", reply.text))
        .iter()
        .map(|detail| detail["path"].as_str().expect("path").to_owned())
        .collect()
}

/// `POST /api/jobs/claim` with `body`.
pub(crate) async fn claim(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/api/jobs/claim", Some(token), body).await
}

/// Claims the oldest pending job as `token`; `(job id, assignment)`.
pub(crate) async fn claim_one(app: &TestApp, token: &str) -> (i64, Value) {
    let reply = claim(app, token, json!({})).await.expect(200);
    (
        id(&reply.body["job"]["id"]),
        reply.body["assignment"].clone(),
    )
}

/// Reports a result for an assignment.
pub(crate) async fn report(
    app: &TestApp,
    token: &str,
    assignment: i64,
    status: &str,
    payload: Option<Value>,
) -> Reply {
    let mut body = json!({"status": status});
    if let Some(payload) = payload {
        body["resultPayload"] = payload;
    }
    app.post(
        &format!("/api/jobs/assignments/{assignment}/result"),
        Some(token),
        body,
    )
    .await
}

/// R1's hash: `sha256(sha256(normalised payload JSON) ++ type)`, lower-case hex.
fn r1_hash(normalised_payload: &str, job_type: &str) -> String {
    let inner = hex::encode(Sha256::digest(normalised_payload.as_bytes()));
    hex::encode(Sha256::digest(format!("{inner}{job_type}").as_bytes()))
}

fn type_settings(configure: impl FnOnce(&mut JobTypeSettings)) -> JobTypeSettings {
    let mut settings = JobTypeSettings::default();
    configure(&mut settings);
    settings
}

/// The names of a `GET /api/jobs/types` reply, sorted.
pub(crate) async fn type_names(app: &TestApp, token: &str) -> Vec<String> {
    let reply = app.get("/api/jobs/types", Some(token)).await.expect(200);
    let mut names: Vec<String> = reply.body["jobTypes"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobTypes: {}", reply.text))
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort_unstable();
    names
}

// ---------------------------------------------------------------------------------------------
// Submitting
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn submit_returns_ids_and_the_job_reads_back_with_r1_fields(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let reply = submit(&app, &ana, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    assert_eq!(keys(&reply.body), ["cached", "jobId", "requestId"]);
    assert_eq!(reply.body["cached"], json!(false));
    let job_id = id(&reply.body["jobId"]);
    assert!(
        job_id > 0 && id(&reply.body["requestId"]) > 0,
        "{}",
        reply.text
    );

    let job = job(&app, &ana, job_id).await;
    assert_eq!(keys(&job), JOB_KEYS);
    assert_eq!(job["id"], json!(job_id));
    assert_eq!(job["type"], json!("TEST"));
    assert_eq!(job["status"], json!("PENDING"));
    assert_eq!(job["user_id"], json!(ana_id));
    assert_eq!(job["input_payload"], json!({"id": 1}));
    assert_eq!(job["assignments"], json!([]));
    assert!(is_timestamp(&job["created_at"]), "{job}");
    assert!(is_timestamp(&job["updated_at"]), "{job}");
    // Byte-compatible with R1's generateJobHash.
    assert_eq!(job["hash"], json!(r1_hash(r#"{"id":1}"#, "TEST")));

    // A second, different job gets the next id.
    let second = submit_test(&app, &ana, 2).await;
    assert!(second > job_id);
}

#[rstest]
#[tokio::test]
async fn identical_payloads_share_one_job_through_the_cache(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let first = app
        .send_raw(
            Method::POST,
            "/api/jobs",
            Some(&ana),
            br#"{"type": "SUITABILITY_ASSESSMENT", "inputPayload": {"region": "Townsville Whitsunday",
                "reef_type": "slopes", "x_dist": 450, "y_dist": 20, "threshold": 95}}"#
                .to_vec(),
        )
        .await
        .expect(200);
    assert_eq!(first.body["cached"], json!(false), "{}", first.text);
    let job_id = id(&first.body["jobId"]);

    // Keys in another order, whitespace inside strings, 450.0 for 450: the same request.
    let second = app
        .send_raw(
            Method::POST,
            "/api/jobs",
            Some(&bob),
            br#"{"inputPayload": {"threshold": 95, "y_dist": 20, "x_dist": 450.0,
                "reef_type": "  slopes ", "region": "Townsville \t  Whitsunday"},
                "type": "SUITABILITY_ASSESSMENT"}"#
                .to_vec(),
        )
        .await
        .expect(200);
    assert_eq!(second.body["cached"], json!(true), "{}", second.text);
    assert_eq!(second.body["jobId"], json!(job_id));
    assert_ne!(second.body["requestId"], first.body["requestId"]);

    // The owner resubmitting is served from the cache too.
    let third = submit(
        &app,
        &ana,
        "SUITABILITY_ASSESSMENT",
        json!({"region": "Townsville Whitsunday", "reef_type": "slopes", "x_dist": 450,
               "y_dist": 20, "threshold": 95}),
    )
    .await
    .expect(200);
    assert_eq!(
        (&third.body["cached"], &third.body["jobId"]),
        (&json!(true), &json!(job_id))
    );

    // Any difference in a value is a new job.
    let other = submit(
        &app,
        &bob,
        "SUITABILITY_ASSESSMENT",
        json!({"region": "Townsville Whitsunday", "reef_type": "slopes", "x_dist": 451,
               "y_dist": 20, "threshold": 95}),
    )
    .await
    .expect(200);
    assert_eq!(other.body["cached"], json!(false));
    assert_ne!(other.body["jobId"], json!(job_id));

    // The job keeps its first submitter and payload.
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["user_id"], json!(ana_id));
    assert_eq!(
        stored["input_payload"]["region"],
        json!("Townsville Whitsunday")
    );
    let admin = app.admin_token().await;
    let all = app.get("/api/jobs", Some(&admin)).await.expect(200);
    assert_eq!(all.body["total"], json!(2), "{}", all.text);
}

#[rstest]
#[tokio::test]
async fn unknown_job_type_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    for name in ["NOPE", "", "SUITABILITY"] {
        submit(&app, &ana, name, json!({"id": 1}))
            .await
            .expect_error(400, "unknown_job_type");
    }
    let admin = app.admin_token().await;
    submit(&app, &admin, "NOPE", json!({}))
        .await
        .expect_error(400, "unknown_job_type");
    let listed = app.get("/api/jobs", Some(&admin)).await.expect(200);
    assert_eq!(listed.body["total"], json!(0));
}

#[rstest]
#[tokio::test]
async fn payloads_failing_the_schema_are_refused_with_paths(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    // Wrong type of a field: the path names it.
    let reply = submit(&app, &ana, "TEST", json!({"id": "one"}))
        .await
        .expect_error(400, "validation_error");
    assert_eq!(error_paths(&reply), ["inputPayload.id"]);
    // Missing field and unknown field: reported at the object, naming the field.
    let reply = submit(&app, &ana, "TEST", json!({}))
        .await
        .expect_error(400, "validation_error");
    assert_eq!(error_paths(&reply), ["inputPayload"]);
    assert!(
        reply.body["details"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("id"))
    );
    let reply = submit(&app, &ana, "TEST", json!({"id": 1, "extra": true}))
        .await
        .expect_error(400, "validation_error");
    assert_eq!(error_paths(&reply), ["inputPayload"]);
    assert!(
        reply.body["details"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("extra"))
    );
    // Not an object at all, or absent.
    for payload in [json!([1]), json!(1), Value::Null] {
        let reply = submit(&app, &ana, "TEST", payload)
            .await
            .expect_error(400, "validation_error");
        assert_eq!(error_paths(&reply), ["inputPayload"]);
    }
    app.post("/api/jobs", Some(&ana), json!({"type": "TEST"}))
        .await
        .expect_error(400, "validation_error");
    // Nested paths for a richer type.
    let reply = submit(
        &app,
        &ana,
        "ADRIA_MODEL_RUN",
        json!({"data_package": "GBR", "num_scenarios": 8,
               "model_params": [{"param_name": "a", "third_param_flag": false,
                                 "lower": "low", "upper": 1}]}),
    )
    .await
    .expect_error(400, "validation_error");
    assert_eq!(error_paths(&reply), ["inputPayload.model_params[0].lower"]);
    // Missing `type`, or the wrong JSON type for it: a bad body.
    app.post("/api/jobs", Some(&ana), json!({"inputPayload": {"id": 1}}))
        .await
        .expect_error(400, "invalid_body");
    app.post(
        "/api/jobs",
        Some(&ana),
        json!({"type": 5, "inputPayload": {"id": 1}}),
    )
    .await
    .expect_error(400, "invalid_body");
    app.send_raw(Method::POST, "/api/jobs", Some(&ana), b"{not json".to_vec())
        .await
        .expect_error(400, "malformed_json");
    // Nothing was stored.
    let requests = app.get("/api/jobs/requests", Some(&ana)).await.expect(200);
    assert_eq!(requests.body, json!({"jobRequests": []}));
}

#[rstest]
#[tokio::test]
async fn a_type_restricted_to_a_role_is_submittable_only_by_that_role_and_admin(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.jobs.job_types.insert(
            "TEST".into(),
            type_settings(|t| t.allowed_roles = Some(vec![Role::Analyst])),
        );
    })
    .await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, analyst) = app
        .user_with_roles("analyst@example.com", &["ANALYST"])
        .await;
    let admin = app.admin_token().await;

    let reply = submit(&app, &ana, "TEST", json!({"id": 1}))
        .await
        .expect_error(403, "job_type_forbidden");
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("TEST")),
        "{}",
        reply.text
    );
    // Other types stay open to Ana.
    submit(&app, &ana, "DATA_SPECIFICATION_UPDATE", json!({}))
        .await
        .expect(200);
    let by_analyst = submit_test(&app, &analyst, 1).await;
    let by_admin = submit(&app, &admin, "TEST", json!({"id": 2}))
        .await
        .expect(200);
    assert_ne!(by_admin.body["jobId"], json!(by_analyst));

    // The types listing follows the permission.
    let without_test: Vec<&str> = BUILTIN_TYPES
        .iter()
        .copied()
        .filter(|t| *t != "TEST")
        .collect();
    assert_eq!(type_names(&app, &ana).await, without_test);
    assert_eq!(type_names(&app, &analyst).await, BUILTIN_TYPES);
    assert_eq!(type_names(&app, &admin).await, BUILTIN_TYPES);
}

#[rstest]
#[tokio::test]
async fn a_configured_type_restricted_to_emails(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.jobs.job_types.insert(
            "PRIVATE_MODEL".into(),
            type_settings(|t| {
                t.description = Some("A private model".into());
                t.input_schema = Some(json!({
                    "type": "object",
                    "properties": {"n": {"type": "integer"}},
                    "required": ["n"],
                    "additionalProperties": false
                }));
                t.allowed_emails = Some(vec!["Ana@Example.com".into()]);
            }),
        );
    })
    .await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;

    submit(&app, &bob, "PRIVATE_MODEL", json!({"n": 1}))
        .await
        .expect_error(403, "job_type_forbidden");
    let anas = submit(&app, &ana, "PRIVATE_MODEL", json!({"n": 1}))
        .await
        .expect(200);
    assert_eq!(anas.body["cached"], json!(false));
    // The configured schema is enforced.
    let reply = submit(&app, &ana, "PRIVATE_MODEL", json!({"n": 1.5}))
        .await
        .expect_error(400, "validation_error");
    assert_eq!(error_paths(&reply), ["inputPayload.n"]);
    submit(&app, &admin, "PRIVATE_MODEL", json!({"n": 2}))
        .await
        .expect(200);

    let mut all: Vec<&str> = BUILTIN_TYPES.to_vec();
    all.push("PRIVATE_MODEL");
    all.sort_unstable();
    assert_eq!(type_names(&app, &bob).await, BUILTIN_TYPES);
    assert_eq!(type_names(&app, &ana).await, all);
    assert_eq!(type_names(&app, &admin).await, all);
    // service-info lists every type of the deployment.
    let info = app.get("/api/service-info", None).await.expect(200);
    let mut names: Vec<&str> = info.body["jobTypes"]
        .as_array()
        .expect("jobTypes")
        .iter()
        .map(|n| n.as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, all);
}

#[rstest]
#[tokio::test]
async fn a_worker_only_account_may_not_use_the_user_routes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let worker = app.worker_token("worker@example.com").await;
    submit(&app, &worker, "TEST", json!({"id": 2}))
        .await
        .expect_error(403, "forbidden");
    for path in [
        "/api/jobs".to_owned(),
        "/api/jobs/mine".to_owned(),
        "/api/jobs/types".to_owned(),
        "/api/jobs/requests".to_owned(),
        format!("/api/jobs/{job_id}"),
    ] {
        app.get(&path, Some(&worker))
            .await
            .expect_error(403, "forbidden");
    }
    app.post(
        &format!("/api/jobs/{job_id}/cancel"),
        Some(&worker),
        json!({}),
    )
    .await
    .expect_error(403, "forbidden");
    app.post(
        "/api/jobs/invalidate-cache",
        Some(&worker),
        json!({"jobType": "TEST"}),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(status_of(&app, job_id).await, "PENDING");
    // A worker that is also an analyst may use both.
    let (_, both) = app
        .user_with_roles("both@example.com", &["WORKER", "ANALYST"])
        .await;
    submit_test(&app, &both, 3).await;
}

#[rstest]
#[tokio::test]
async fn user_job_routes_need_a_token_whatever_the_body(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    for token in [None, Some("not-a-jwt")] {
        let code = if token.is_some() {
            "invalid_token"
        } else {
            "unauthorized"
        };
        app.send_raw(Method::POST, "/api/jobs", token, b"{not json".to_vec())
            .await
            .expect_error(401, code);
        submit(&app, token.unwrap_or(""), "NOPE", json!(null))
            .await
            .expect(401);
        for path in [
            "/api/jobs".to_owned(),
            "/api/jobs/mine?limit=0".to_owned(),
            "/api/jobs/types".to_owned(),
            "/api/jobs/requests".to_owned(),
            format!("/api/jobs/{job_id}"),
            "/api/jobs/abc".to_owned(),
        ] {
            app.get(&path, token).await.expect_error(401, code);
        }
        app.send(
            Method::POST,
            &format!("/api/jobs/{job_id}/cancel"),
            token,
            None,
        )
        .await
        .expect_error(401, code);
        app.send_raw(
            Method::POST,
            "/api/jobs/invalidate-cache",
            token,
            b"[]".to_vec(),
        )
        .await
        .expect_error(401, code);
    }
    assert_eq!(status_of(&app, job_id).await, "PENDING");
}
