//! Contract §7, worker side: who may use the worker routes, R1's poll → assign → result, the
//! atomic claim, heartbeats and results, and cancelling a running job.

use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

use crate::jobs::{
    ASSIGNMENT_KEYS, JOB_KEYS, RESULT_KEYS, claim, claim_one, error_paths, id, is_timestamp, job,
    job_ids, keys, report, status_of, submit, submit_test, time_of,
};

/// The keys of a job as poll and claim return it (no assignments).
const BARE_JOB_KEYS: [&str; 8] = [
    "created_at",
    "hash",
    "id",
    "input_payload",
    "status",
    "type",
    "updated_at",
    "user_id",
];

fn heartbeat_path(assignment: i64) -> String {
    format!("/api/jobs/assignments/{assignment}/heartbeat")
}

fn result_path(assignment: i64) -> String {
    format!("/api/jobs/assignments/{assignment}/result")
}

/// Asserts an assignment's storage location for a job of `job_type`.
fn assert_local_storage(assignment: &Value, job_type: &str, job_id: i64) {
    assert_eq!(assignment["storage_scheme"], json!("LOCAL"), "{assignment}");
    let uri = assignment["storage_uri"].as_str().expect("storage_uri");
    assert!(uri.starts_with("file://"), "{uri}");
    assert!(uri.contains(&format!("/{job_type}/{job_id}/")), "{uri}");
}

#[rstest]
#[tokio::test]
async fn worker_routes_refuse_users_and_anonymous_callers(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, analyst) = app
        .user_with_roles("analyst@example.com", &["ANALYST"])
        .await;
    let job_id = submit_test(&app, &ana, 1).await;
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::GET, "/api/jobs/poll".into(), Value::Null),
        (
            Method::POST,
            "/api/jobs/assign".into(),
            json!({"jobId": job_id}),
        ),
        (Method::POST, "/api/jobs/claim".into(), json!({})),
        (Method::POST, heartbeat_path(1), json!({})),
        (Method::POST, result_path(1), json!({"status": "SUCCEEDED"})),
    ];
    for (method, path, body) in &routes {
        let body = (!body.is_null()).then(|| body.clone());
        for token in [&ana, &analyst] {
            app.send(method.clone(), path, Some(token), body.clone())
                .await
                .expect_error(403, "forbidden");
        }
        app.send(method.clone(), path, None, body.clone())
            .await
            .expect_error(401, "unauthorized");
        app.send(method.clone(), path, Some("garbage"), body)
            .await
            .expect_error(401, "invalid_token");
        // Authentication comes before the body.
        if *method == Method::POST {
            app.send_raw(Method::POST, path, None, b"{bad".to_vec())
                .await
                .expect_error(401, "unauthorized");
        }
    }
    assert_eq!(status_of(&app, job_id).await, "PENDING");
    // A worker and the admin pass the same guard.
    let worker = app.worker_token("worker@example.com").await;
    let admin = app.admin_token().await;
    for token in [&worker, &admin] {
        app.get("/api/jobs/poll", Some(token)).await.expect(200);
    }
}

#[rstest]
#[tokio::test]
async fn a_worker_service_account_from_settings_works_the_queue(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.auth.worker_username = Some("svc-worker@reefguide.test".into());
        s.auth.worker_password = Some("worker-password-1".to_owned().into());
    })
    .await;
    let (worker, _) = app
        .login("svc-worker@reefguide.test", "worker-password-1")
        .await;
    let profile = app
        .get("/api/auth/profile", Some(&worker))
        .await
        .expect(200);
    assert_eq!(profile.body["user"]["roles"], json!(["WORKER"]));
    let (_, ana) = app.user("ana@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (claimed, assignment) = claim_one(&app, &worker).await;
    assert_eq!(claimed, job_id);
    report(&app, &worker, id(&assignment["id"]), "SUCCEEDED", None)
        .await
        .expect(200);
    assert_eq!(status_of(&app, job_id).await, "SUCCEEDED");
    // Workers may not use user features.
    submit(&app, &worker, "TEST", json!({"id": 2}))
        .await
        .expect_error(403, "forbidden");
}

#[rstest]
#[tokio::test]
async fn poll_lists_up_to_ten_pending_jobs_oldest_first(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let empty = app.get("/api/jobs/poll", Some(&worker)).await.expect(200);
    assert_eq!(empty.body, json!({"jobs": []}));

    let mut tests = Vec::new();
    for n in 1..=12 {
        tests.push(submit_test(&app, &ana, n).await);
    }
    let dsu = id(&submit(&app, &ana, "DATA_SPECIFICATION_UPDATE", json!({}))
        .await
        .expect(200)
        .body["jobId"]);

    let reply = app.get("/api/jobs/poll", Some(&worker)).await.expect(200);
    assert_eq!(keys(&reply.body), ["jobs"]);
    assert_eq!(job_ids(&reply), tests[..10]);
    for job in reply.body["jobs"].as_array().expect("jobs") {
        assert_eq!(keys(job), BARE_JOB_KEYS);
        assert_eq!(job["status"], json!("PENDING"));
    }
    let reply = app
        .get(
            "/api/jobs/poll?jobType=DATA_SPECIFICATION_UPDATE",
            Some(&worker),
        )
        .await
        .expect(200);
    assert_eq!(job_ids(&reply), [dsu]);
    let reply = app
        .get("/api/jobs/poll?jobType=REGIONAL_ASSESSMENT", Some(&worker))
        .await
        .expect(200);
    assert_eq!(job_ids(&reply), Vec::<i64>::new());
    app.get("/api/jobs/poll?jobType=NOPE", Some(&worker))
        .await
        .expect_error(400, "unknown_job_type");

    // Cancelled and assigned jobs leave the queue.
    app.post(
        &format!("/api/jobs/{}/cancel", tests[0]),
        Some(&ana),
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        "/api/jobs/assign",
        Some(&worker),
        json!({"jobId": tests[1]}),
    )
    .await
    .expect(200);
    let reply = app.get("/api/jobs/poll", Some(&worker)).await.expect(200);
    assert_eq!(job_ids(&reply), tests[2..12]);
    // The job listed first was offered to that poller: the next poll starts after it...
    let reply = app
        .get("/api/jobs/poll?jobType=TEST", Some(&worker))
        .await
        .expect(200);
    assert_eq!(job_ids(&reply), tests[3..12]);
    // ...and when only offered jobs wait, they are listed all the same.
    for job in &tests[4..12] {
        app.post("/api/jobs/assign", Some(&worker), json!({"jobId": job}))
            .await
            .expect(200);
    }
    let reply = app
        .get("/api/jobs/poll?jobType=TEST", Some(&worker))
        .await
        .expect(200);
    assert_eq!(job_ids(&reply), tests[2..4]);
}

#[rstest]
#[tokio::test]
async fn assign_takes_a_pending_job_exactly_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let rival = app.worker_token("rival@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let reply = app
        .post(
            "/api/jobs/assign",
            Some(&worker),
            json!({"jobId": job_id, "ecsTaskArn": "arn:aws:ecs:task/abc",
                   "ecsClusterArn": "arn:aws:ecs:cluster/reefguide"}),
        )
        .await
        .expect(200);
    assert_eq!(keys(&reply.body), ["assignment"]);
    let assignment = &reply.body["assignment"];
    assert_eq!(keys(assignment), ASSIGNMENT_KEYS);
    assert_eq!(assignment["job_id"], json!(job_id));
    assert_eq!(assignment["ecs_task_arn"], json!("arn:aws:ecs:task/abc"));
    assert_eq!(
        assignment["ecs_cluster_arn"],
        json!("arn:aws:ecs:cluster/reefguide")
    );
    assert_eq!(assignment["heartbeat_at"], Value::Null);
    assert_eq!(assignment["completed_at"], Value::Null);
    assert_local_storage(assignment, "test", job_id);
    for field in ["created_at", "updated_at", "expires_at"] {
        assert!(is_timestamp(&assignment[field]), "{field}: {assignment}");
    }
    // The built-in lease is 60 minutes.
    let lease = time_of(&assignment["expires_at"]) - time_of(&assignment["created_at"]);
    assert!(
        (lease.num_seconds() - 3600).abs() <= 5,
        "lease of {lease} in {assignment}"
    );

    // The job is now IN_PROGRESS with that assignment (R1's nested shape, result null).
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(keys(&stored), JOB_KEYS);
    assert_eq!(stored["status"], json!("IN_PROGRESS"));
    let mut expected = assignment.clone();
    expected["result"] = Value::Null;
    assert_eq!(stored["assignments"], json!([expected]));

    for token in [&rival, &worker] {
        let reply = app
            .post("/api/jobs/assign", Some(token), json!({"jobId": job_id}))
            .await
            .expect_error(400, "job_not_available");
        assert_eq!(
            reply.body["message"],
            json!("Job is not available for assignment")
        );
    }
    // A cancelled job is not available either.
    let cancelled = submit_test(&app, &ana, 2).await;
    app.post(
        &format!("/api/jobs/{cancelled}/cancel"),
        Some(&ana),
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        "/api/jobs/assign",
        Some(&rival),
        json!({"jobId": cancelled}),
    )
    .await
    .expect_error(400, "job_not_available");
    app.post("/api/jobs/assign", Some(&rival), json!({"jobId": 999_999}))
        .await
        .expect_error(404, "not_found");
    for bad in [0, -5] {
        let reply = app
            .post("/api/jobs/assign", Some(&rival), json!({"jobId": bad}))
            .await
            .expect_error(400, "validation_error");
        assert_eq!(error_paths(&reply), ["jobId"]);
    }
    for body in [json!({"jobId": "abc"}), json!({}), json!([job_id])] {
        app.post("/api/jobs/assign", Some(&rival), body)
            .await
            .expect_error(400, "invalid_body");
    }
    // Without ARNs they are null; the admin may assign.
    let third = submit_test(&app, &ana, 3).await;
    let admin = app.admin_token().await;
    let reply = app
        .post("/api/jobs/assign", Some(&admin), json!({"jobId": third}))
        .await
        .expect(200);
    assert_eq!(reply.body["assignment"]["ecs_task_arn"], Value::Null);
    assert_eq!(reply.body["assignment"]["ecs_cluster_arn"], Value::Null);
    assert_eq!(
        job(&app, &ana, job_id).await["assignments"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "refused assigns leave no trace"
    );
}

#[rstest]
#[tokio::test]
async fn claim_takes_the_oldest_pending_job_of_the_requested_types(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    for body in [json!({}), json!({"waitSeconds": 0})] {
        let reply = claim(&app, &worker, body).await.expect(204);
        assert!(reply.text.is_empty(), "{}", reply.text);
    }
    let t1 = submit_test(&app, &ana, 1).await;
    let dsu = id(&submit(&app, &ana, "DATA_SPECIFICATION_UPDATE", json!({}))
        .await
        .expect(200)
        .body["jobId"]);
    let t2 = submit_test(&app, &ana, 2).await;

    let reply = claim(
        &app,
        &worker,
        json!({"jobTypes": ["REGIONAL_ASSESSMENT", "TEST"], "ecsTaskArn": "arn:task/1"}),
    )
    .await
    .expect(200);
    assert_eq!(keys(&reply.body), ["assignment", "job"]);
    let (job_reply, assignment) = (&reply.body["job"], &reply.body["assignment"]);
    assert_eq!(keys(job_reply), BARE_JOB_KEYS);
    assert_eq!(job_reply["id"], json!(t1));
    assert_eq!(job_reply["status"], json!("IN_PROGRESS"));
    assert_eq!(job_reply["input_payload"], json!({"id": 1}));
    assert_eq!(keys(assignment), ASSIGNMENT_KEYS);
    assert_eq!(assignment["job_id"], json!(t1));
    assert_eq!(assignment["ecs_task_arn"], json!("arn:task/1"));
    assert_eq!(assignment["ecs_cluster_arn"], Value::Null);
    assert_local_storage(assignment, "test", t1);
    let stored = job(&app, &ana, t1).await;
    assert_eq!(stored["status"], json!("IN_PROGRESS"));
    assert_eq!(stored["assignments"][0]["id"], assignment["id"]);

    let next = claim(&app, &worker, json!({"jobTypes": ["TEST"]}))
        .await
        .expect(200);
    assert_eq!(next.body["job"]["id"], json!(t2));
    assert_ne!(next.body["assignment"]["id"], assignment["id"]);
    claim(&app, &worker, json!({"jobTypes": ["TEST"]}))
        .await
        .expect(204);
    let last = claim(&app, &worker, json!({})).await.expect(200);
    assert_eq!(last.body["job"]["id"], json!(dsu));
    assert_local_storage(&last.body["assignment"], "data_specification_update", dsu);
    claim(&app, &worker, json!({})).await.expect(204);
    // Claimed jobs are gone from the poll.
    let poll = app.get("/api/jobs/poll", Some(&worker)).await.expect(200);
    assert_eq!(poll.body, json!({"jobs": []}));
}

#[rstest]
#[tokio::test]
async fn claim_refuses_bad_parameters(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    for (body, path) in [
        (json!({"waitSeconds": 31}), "waitSeconds"),
        (json!({"waitSeconds": -1}), "waitSeconds"),
        (json!({"jobTypes": ["NOPE"]}), "jobTypes"),
        (json!({"jobTypes": ["TEST", "NOPE"]}), "jobTypes"),
    ] {
        let reply = claim(&app, &worker, body.clone())
            .await
            .expect_error(400, "validation_error");
        assert_eq!(error_paths(&reply), [path], "{body}");
    }
    for body in [
        json!({"waitSeconds": "x"}),
        json!({"jobTypes": "TEST"}),
        json!([]),
    ] {
        claim(&app, &worker, body)
            .await
            .expect_error(400, "invalid_body");
    }
    // None of that claimed the job.
    assert_eq!(status_of(&app, job_id).await, "PENDING");
    let reply = claim(&app, &worker, json!({"waitSeconds": 30}))
        .await
        .expect(200);
    assert_eq!(reply.body["job"]["id"], json!(job_id));
}

#[rstest]
#[tokio::test]
async fn heartbeat_extends_the_lease_and_records_progress(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    let assignment_id = id(&assignment["id"]);
    let path = heartbeat_path(assignment_id);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let reply = app
        .post(
            &path,
            Some(&worker),
            json!({"progress": 50, "message": "halfway"}),
        )
        .await
        .expect(200);
    assert_eq!(keys(&reply.body), ["assignment", "cancelled"]);
    assert_eq!(reply.body["cancelled"], json!(false));
    let beat = &reply.body["assignment"];
    assert_eq!(keys(beat), ASSIGNMENT_KEYS);
    assert_eq!(beat["id"], json!(assignment_id));
    assert!(
        time_of(&beat["expires_at"]) > time_of(&assignment["expires_at"]),
        "lease extended: {beat} vs {assignment}"
    );
    assert!(is_timestamp(&beat["heartbeat_at"]), "{beat}");
    assert_eq!(beat["progress"], json!(50.0));
    assert_eq!(beat["message"], json!("halfway"));
    assert_eq!(beat["completed_at"], Value::Null);
    // Visible on the job.
    let stored = job(&app, &ana, job_id).await;
    let stored_assignment = &stored["assignments"][0];
    assert_eq!(stored_assignment["progress"], json!(50.0));
    assert_eq!(stored_assignment["message"], json!("halfway"));
    assert_eq!(stored_assignment["expires_at"], beat["expires_at"]);
    assert_eq!(stored_assignment["heartbeat_at"], beat["heartbeat_at"]);

    // An empty body (or none) is a plain heartbeat: the lease moves on, the progress stays.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let reply = app
        .send_raw(Method::POST, &path, Some(&worker), Vec::new())
        .await
        .expect(200);
    assert!(time_of(&reply.body["assignment"]["expires_at"]) > time_of(&beat["expires_at"]));
    assert_eq!(reply.body["assignment"]["progress"], json!(50.0));
    app.send(Method::POST, &path, Some(&worker), None)
        .await
        .expect(200);
    app.post(&path, Some(&worker), json!({"progress": 100}))
        .await
        .expect(200);

    for (body, field) in [
        (json!({"progress": 101}), "progress"),
        (json!({"progress": -1}), "progress"),
        (json!({"message": "x".repeat(1001)}), "message"),
    ] {
        let reply = app
            .post(&path, Some(&worker), body)
            .await
            .expect_error(400, "validation_error");
        assert_eq!(error_paths(&reply), [field]);
    }
    app.post(&path, Some(&worker), json!({"progress": "half"}))
        .await
        .expect_error(400, "invalid_body");
    app.send_raw(Method::POST, &path, Some(&worker), b"{".to_vec())
        .await
        .expect_error(400, "malformed_json");
    assert_eq!(
        job(&app, &ana, job_id).await["assignments"][0]["progress"],
        json!(100.0)
    );
    app.post(&heartbeat_path(999_999), Some(&worker), json!({}))
        .await
        .expect_error(404, "not_found");
    app.post(
        "/api/jobs/assignments/abc/heartbeat",
        Some(&worker),
        json!({}),
    )
    .await
    .expect_error(400, "invalid_id");
    // Once the result is in, the lease is over.
    report(&app, &worker, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    app.post(&path, Some(&worker), json!({}))
        .await
        .expect_error(409, "lease_lost");
}

#[rstest]
#[tokio::test]
async fn a_result_completes_the_job_exactly_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    let assignment_id = id(&assignment["id"]);

    for status in ["PENDING", "bogus", "succeeded", "CANCELLED"] {
        let reply = report(&app, &worker, assignment_id, status, Some(json!({})))
            .await
            .expect_error(400, "validation_error");
        assert_eq!(error_paths(&reply), ["status"]);
    }
    app.post(&result_path(assignment_id), Some(&worker), json!({}))
        .await
        .expect_error(400, "invalid_body");
    // A successful result must match the type's result schema (TEST: an empty object).
    let reply = report(
        &app,
        &worker,
        assignment_id,
        "SUCCEEDED",
        Some(json!({"x": 1})),
    )
    .await
    .expect_error(400, "validation_error");
    assert_eq!(error_paths(&reply), ["resultPayload"]);
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("IN_PROGRESS"));
    assert_eq!(stored["assignments"][0]["result"], Value::Null);
    assert_eq!(stored["assignments"][0]["completed_at"], Value::Null);

    let reply = report(&app, &worker, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    assert!(reply.body["message"].is_string(), "{}", reply.text);
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("SUCCEEDED"));
    let done = &stored["assignments"][0];
    assert!(is_timestamp(&done["completed_at"]), "{done}");
    let result = &done["result"];
    assert_eq!(keys(result), RESULT_KEYS);
    assert!(id(&result["id"]) > 0);
    assert!(is_timestamp(&result["created_at"]));
    assert_eq!(result["job_id"], json!(job_id));
    assert_eq!(result["assignment_id"], json!(assignment_id));
    assert_eq!(result["result_payload"], json!({}));
    assert_eq!(result["storage_scheme"], json!("LOCAL"));
    assert_eq!(result["storage_uri"], assignment["storage_uri"]);
    assert_eq!(result["cache_valid"], json!(true));

    for status in ["SUCCEEDED", "FAILED"] {
        report(&app, &worker, assignment_id, status, Some(json!({})))
            .await
            .expect_error(400, "assignment_completed");
    }
    assert_eq!(job(&app, &ana, job_id).await, stored, "nothing changed");
    // A finished job cannot be cancelled, and it is a cache hit now.
    app.post(&format!("/api/jobs/{job_id}/cancel"), Some(&ana), json!({}))
        .await
        .expect_error(400, "job_not_cancellable");
    let hit = submit(&app, &bob, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    assert_eq!(
        (&hit.body["cached"], &hit.body["jobId"]),
        (&json!(true), &json!(job_id))
    );

    report(&app, &worker, 999_999, "SUCCEEDED", None)
        .await
        .expect_error(404, "not_found");
    app.post(
        "/api/jobs/assignments/abc/result",
        Some(&worker),
        json!({"status": "SUCCEEDED"}),
    )
    .await
    .expect_error(400, "invalid_id");
}

#[rstest]
#[tokio::test]
async fn a_failed_job_keeps_its_report_and_is_never_a_cache_hit(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    // A failure's payload is diagnostic: not checked against the result schema.
    report(
        &app,
        &worker,
        id(&assignment["id"]),
        "FAILED",
        Some(json!({"error": "boom"})),
    )
    .await
    .expect(200);
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("FAILED"));
    assert_eq!(
        stored["assignments"][0]["result"]["result_payload"],
        json!({"error": "boom"})
    );
    let again = submit(&app, &ana, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    assert_eq!(again.body["cached"], json!(false));
    let new_id = id(&again.body["jobId"]);
    assert_ne!(new_id, job_id);
    assert_eq!(status_of(&app, new_id).await, "PENDING");
    assert_eq!(status_of(&app, job_id).await, "FAILED");
}

#[rstest]
#[tokio::test]
async fn cancelling_a_running_job_stops_its_worker(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    let assignment_id = id(&assignment["id"]);
    app.post(
        &heartbeat_path(assignment_id),
        Some(&worker),
        json!({"progress": 10}),
    )
    .await
    .expect(200);

    let reply = app
        .post(&format!("/api/jobs/{job_id}/cancel"), Some(&ana), json!({}))
        .await
        .expect(200);
    assert_eq!(reply.body["job"]["status"], json!("CANCELLED"));

    let beat = app
        .post(
            &heartbeat_path(assignment_id),
            Some(&worker),
            json!({"progress": 20}),
        )
        .await
        .expect(200);
    assert_eq!(beat.body["cancelled"], json!(true), "{}", beat.text);
    assert_eq!(beat.body["assignment"]["id"], json!(assignment_id));
    report(&app, &worker, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(409, "lease_lost");
    report(&app, &worker, assignment_id, "FAILED", None)
        .await
        .expect_error(409, "lease_lost");

    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("CANCELLED"));
    assert_eq!(stored["assignments"][0]["result"], Value::Null);
    assert_eq!(stored["assignments"][0]["completed_at"], Value::Null);
    assert_eq!(stored["assignments"][0]["progress"], json!(10.0));
    app.post(&format!("/api/jobs/{job_id}/cancel"), Some(&ana), json!({}))
        .await
        .expect_error(400, "job_not_cancellable");
    claim(&app, &worker, json!({})).await.expect(204);
    let admin = app.admin_token().await;
    let listed = app
        .get("/api/jobs?status=CANCELLED", Some(&admin))
        .await
        .expect(200);
    assert_eq!(job_ids(&listed), [job_id]);
}

#[rstest]
#[tokio::test]
async fn only_the_claiming_account_or_an_admin_works_an_assignment(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let holder = app.worker_token("holder@example.com").await;
    let rival = app.worker_token("rival@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &holder).await;
    let assignment_id = id(&assignment["id"]);

    app.post(&heartbeat_path(assignment_id), Some(&rival), json!({}))
        .await
        .expect_error(403, "not_assignment_holder");
    report(&app, &rival, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(403, "not_assignment_holder");
    assert_eq!(status_of(&app, job_id).await, "IN_PROGRESS");

    let admin = app.admin_token().await;
    app.post(&heartbeat_path(assignment_id), Some(&admin), json!({}))
        .await
        .expect(200);
    report(&app, &holder, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    assert_eq!(status_of(&app, job_id).await, "SUCCEEDED");
}
