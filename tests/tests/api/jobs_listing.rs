//! Contract §7, user side, continued: listing and paging jobs, the job types, the request
//! history, reading and cancelling one job, and cache invalidation.

use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{Reply, TestApp};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

use crate::jobs::{
    BUILTIN_TYPES, JOB_KEYS, claim_one, error_paths, id, is_timestamp, job, job_ids, keys, report,
    status_of, submit, submit_test, type_names,
};
// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn listing_shows_own_and_requested_jobs_and_admin_sees_all(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let (_, cy) = app.user("cy@example.com").await;
    let admin = app.admin_token().await;
    let a1 = submit_test(&app, &ana, 1).await;
    let a2 = submit_test(&app, &ana, 2).await;
    let b1 = submit_test(&app, &bob, 3).await;
    // Bob requests Ana's first job through the cache.
    let cached = submit(&app, &bob, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    assert_eq!(cached.body["jobId"], json!(a1));

    let check = |reply: Reply, ids: &[i64]| {
        assert_eq!(job_ids(&reply), ids, "{}", reply.text);
        assert_eq!(reply.body["total"], json!(ids.len()), "{}", reply.text);
        assert_eq!(reply.body["nextCursor"], Value::Null, "{}", reply.text);
        for job in reply.body["jobs"].as_array().expect("jobs") {
            assert_eq!(keys(job), JOB_KEYS);
        }
    };
    check(
        app.get("/api/jobs", Some(&ana)).await.expect(200),
        &[a2, a1],
    );
    check(
        app.get("/api/jobs", Some(&bob)).await.expect(200),
        &[b1, a1],
    );
    check(app.get("/api/jobs", Some(&cy)).await.expect(200), &[]);
    check(
        app.get("/api/jobs", Some(&admin)).await.expect(200),
        &[b1, a2, a1],
    );
    // `mine`: only the caller's own jobs, never those requested through the cache.
    check(
        app.get("/api/jobs/mine", Some(&ana)).await.expect(200),
        &[a2, a1],
    );
    check(
        app.get("/api/jobs/mine", Some(&bob)).await.expect(200),
        &[b1],
    );
    check(
        app.get("/api/jobs/mine", Some(&admin)).await.expect(200),
        &[],
    );
    // The trailing-slash form is the same route.
    check(
        app.get("/api/jobs/", Some(&ana)).await.expect(200),
        &[a2, a1],
    );
}

#[rstest]
#[tokio::test]
async fn listing_filters_by_status_and_type_and_refuses_bad_parameters(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let t1 = submit_test(&app, &ana, 1).await;
    let t2 = submit_test(&app, &ana, 2).await;
    let t3 = submit_test(&app, &ana, 3).await;
    let d1 = id(&submit(
        &app,
        &ana,
        "DATA_SPECIFICATION_UPDATE",
        json!({"cache_buster": 1}),
    )
    .await
    .expect(200)
    .body["jobId"]);
    app.post(&format!("/api/jobs/{t2}/cancel"), Some(&ana), json!({}))
        .await
        .expect(200);

    for (query, expected) in [
        ("status=CANCELLED", vec![t2]),
        ("status=PENDING", vec![d1, t3, t1]),
        ("status=SUCCEEDED", vec![]),
        ("type=TEST", vec![t3, t2, t1]),
        ("type=DATA_SPECIFICATION_UPDATE", vec![d1]),
        ("status=PENDING&type=TEST", vec![t3, t1]),
        ("limit=200", vec![d1, t3, t2, t1]),
    ] {
        for route in ["/api/jobs", "/api/jobs/mine"] {
            let reply = app
                .get(&format!("{route}?{query}"), Some(&ana))
                .await
                .expect(200);
            assert_eq!(job_ids(&reply), expected, "{route}?{query}");
            assert_eq!(
                reply.body["total"],
                json!(expected.len()),
                "{route}?{query}"
            );
        }
    }
    for (query, path) in [
        ("status=bogus", "status"),
        ("status=", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("cursor=x", "cursor"),
        ("cursor=0", "cursor"),
    ] {
        for route in ["/api/jobs", "/api/jobs/mine"] {
            let reply = app
                .get(&format!("{route}?{query}"), Some(&ana))
                .await
                .expect_error(400, "validation_error");
            assert_eq!(error_paths(&reply), [path], "{route}?{query}");
        }
    }
}

/// An unknown type in the listing filter is a client mistake: 400 `unknown_job_type` naming the
/// known types (as `/api/jobs/poll` answers), never an empty page.
#[rstest]
#[tokio::test]
async fn listing_refuses_an_unknown_type_naming_the_known_ones(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let admin = app.admin_token().await;
    submit_test(&app, &ana, 1).await;
    for route in ["/api/jobs", "/api/jobs/mine"] {
        for (token, query) in [
            (&ana, "type=BOGUS"),
            (&admin, "type=BOGUS"),
            (&ana, "type=test"),
            (&ana, "type="),
            (&ana, "status=PENDING&type=BOGUS"),
        ] {
            let reply = app
                .get(&format!("{route}?{query}"), Some(token))
                .await
                .expect_error(400, "unknown_job_type");
            let message = reply.body["message"].as_str().unwrap_or_default();
            assert!(message.contains("in type"), "{route}?{query}: {message}");
            for known in BUILTIN_TYPES {
                assert!(message.contains(known), "{route}?{query}: {message}");
            }
        }
    }
    // The same wording as the worker poll's.
    let worker = app.worker_token("worker@example.com").await;
    let poll = app
        .get("/api/jobs/poll?jobType=BOGUS", Some(&worker))
        .await
        .expect_error(400, "unknown_job_type");
    let listing = app
        .get("/api/jobs?type=BOGUS", Some(&ana))
        .await
        .expect_error(400, "unknown_job_type");
    assert_eq!(
        poll.body["message"]
            .as_str()
            .map(|m| m.replace("jobType", "type")),
        listing.body["message"].as_str().map(str::to_owned)
    );
    // A known type still lists.
    let reply = app.get("/api/jobs?type=TEST", Some(&ana)).await.expect(200);
    assert_eq!(reply.body["total"], json!(1));
}

#[rstest]
#[tokio::test]
async fn cursor_paging_covers_every_job_exactly_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(submit_test(&app, &ana, n).await);
        // Bob's jobs are interleaved and must never appear in Ana's pages.
        submit_test(&app, &bob, 100 + n).await;
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/jobs?limit=2&cursor={c}"),
            None => "/api/jobs?limit=2".to_owned(),
        };
        let reply = app.get(&path, Some(&ana)).await.expect(200);
        pages += 1;
        assert_eq!(reply.body["total"], json!(5), "{}", reply.text);
        seen.extend(job_ids(&reply));
        match &reply.body["nextCursor"] {
            Value::Null => break,
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("bad nextCursor {other}"),
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every job once, newest first");

    // A page that ends exactly at the last job has no next cursor.
    let whole = app.get("/api/jobs?limit=5", Some(&ana)).await.expect(200);
    assert_eq!(job_ids(&whole), ids);
    assert_eq!(whole.body["nextCursor"], Value::Null);
    // The cursor combines with a filter.
    let first = app
        .get("/api/jobs/mine?limit=1&status=PENDING", Some(&ana))
        .await
        .expect(200);
    assert_eq!(job_ids(&first), [ids[0]]);
    let next = first.body["nextCursor"].as_str().expect("cursor");
    let second = app
        .get(
            &format!("/api/jobs/mine?limit=1&status=PENDING&cursor={next}"),
            Some(&ana),
        )
        .await
        .expect(200);
    assert_eq!(job_ids(&second), [ids[1]]);
}

#[rstest]
#[tokio::test]
async fn job_types_list_the_builtins_with_their_schemas(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let reply = app.get("/api/jobs/types", Some(&ana)).await.expect(200);
    assert_eq!(keys(&reply.body), ["jobTypes"]);
    let types = reply.body["jobTypes"].as_array().expect("array");
    assert_eq!(type_names(&app, &ana).await, BUILTIN_TYPES);
    for t in types {
        for key in ["name", "inputSchema", "resultSchema", "description"] {
            assert!(t.get(key).is_some(), "{key} missing in {t}");
        }
        assert_eq!(t["inputSchema"]["type"], json!("object"), "{t}");
        assert!(
            t["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{t}"
        );
    }
    let test = types
        .iter()
        .find(|t| t["name"] == json!("TEST"))
        .expect("TEST");
    assert_eq!(test["inputSchema"]["required"], json!(["id"]));
    assert_eq!(test["inputSchema"]["additionalProperties"], json!(false));
    assert_eq!(test["resultSchema"]["additionalProperties"], json!(false));

    // service-info names the same five.
    let info = app.get("/api/service-info", None).await.expect(200);
    let mut names: Vec<&str> = info.body["jobTypes"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobTypes: {}", info.text))
        .iter()
        .map(|n| n.as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, BUILTIN_TYPES);
}

#[rstest]
#[tokio::test]
async fn job_requests_list_the_callers_submissions(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana_id, ana) = app.user("ana@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
    let (_, cy) = app.user("cy@example.com").await;
    let admin = app.admin_token().await;
    let first = submit(&app, &ana, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    let a1 = id(&first.body["jobId"]);
    let cached = submit(&app, &bob, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    let own = submit(&app, &bob, "TEST", json!({"id": 2}))
        .await
        .expect(200);

    let reply = app.get("/api/jobs/requests", Some(&ana)).await.expect(200);
    assert_eq!(keys(&reply.body), ["jobRequests"]);
    let requests = reply.body["jobRequests"].as_array().expect("array");
    assert_eq!(requests.len(), 1, "{}", reply.text);
    let request = &requests[0];
    assert_eq!(
        keys(request),
        [
            "cache_hit",
            "created_at",
            "id",
            "input_payload",
            "job_id",
            "type",
            "user_id"
        ]
    );
    assert_eq!(request["id"], first.body["requestId"]);
    assert_eq!(request["user_id"], json!(ana_id));
    assert_eq!(request["type"], json!("TEST"));
    assert_eq!(request["input_payload"], json!({"id": 1}));
    assert_eq!(request["cache_hit"], json!(false));
    assert_eq!(request["job_id"], json!(a1));
    assert!(is_timestamp(&request["created_at"]));

    // Bob's two, newest first; the cached one points at Ana's job.
    let reply = app.get("/api/jobs/requests", Some(&bob)).await.expect(200);
    let requests = reply.body["jobRequests"].as_array().expect("array");
    let summary: Vec<(Value, Value, Value, Value)> = requests
        .iter()
        .map(|r| {
            (
                r["id"].clone(),
                r["user_id"].clone(),
                r["cache_hit"].clone(),
                r["job_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                own.body["requestId"].clone(),
                json!(bob_id),
                json!(false),
                own.body["jobId"].clone()
            ),
            (
                cached.body["requestId"].clone(),
                json!(bob_id),
                json!(true),
                json!(a1)
            ),
        ]
    );
    let reply = app.get("/api/jobs/requests", Some(&cy)).await.expect(200);
    assert_eq!(reply.body, json!({"jobRequests": []}));
    let reply = app
        .get("/api/jobs/requests", Some(&admin))
        .await
        .expect(200);
    assert_eq!(reply.body["jobRequests"].as_array().map(Vec::len), Some(3));
    let reply = app
        .get("/api/jobs/requests?limit=1", Some(&admin))
        .await
        .expect(200);
    assert_eq!(
        reply.body["jobRequests"][0]["id"], own.body["requestId"],
        "newest first"
    );
    for bad in ["0", "x", "1001"] {
        app.get(&format!("/api/jobs/requests?limit={bad}"), Some(&ana))
            .await
            .expect_error(400, "validation_error");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and cancelling one job
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn a_job_is_visible_to_its_owner_requesters_and_admin_only(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let (_, cy) = app.user("cy@example.com").await;
    let admin = app.admin_token().await;
    let job_id = submit_test(&app, &ana, 1).await;
    let path = format!("/api/jobs/{job_id}");

    let reply = app
        .get(&path, Some(&cy))
        .await
        .expect_error(403, "forbidden");
    assert!(!reply.text.contains("input_payload"), "{}", reply.text);
    // Bob may read it once he has requested it.
    app.get(&path, Some(&bob))
        .await
        .expect_error(403, "forbidden");
    submit(&app, &bob, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    let owners = job(&app, &ana, job_id).await;
    assert_eq!(job(&app, &bob, job_id).await, owners);
    assert_eq!(job(&app, &admin, job_id).await, owners);
    assert_eq!(
        keys(&app.get(&path, Some(&ana)).await.expect(200).body),
        ["job"]
    );

    app.get("/api/jobs/999999", Some(&ana))
        .await
        .expect_error(404, "not_found");
    app.get("/api/jobs/999999", Some(&admin))
        .await
        .expect_error(404, "not_found");
    for bad in ["abc", "0", "-1", "1.5", "99999999999"] {
        app.get(&format!("/api/jobs/{bad}"), Some(&ana))
            .await
            .expect_error(400, "invalid_id");
    }
}

#[rstest]
#[tokio::test]
async fn the_owner_or_admin_cancels_a_pending_job_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let (_, cy) = app.user("cy@example.com").await;
    let admin = app.admin_token().await;
    let job_id = submit_test(&app, &ana, 1).await;
    // Bob requested it through the cache: he may read it, not cancel it.
    submit(&app, &bob, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    let path = format!("/api/jobs/{job_id}/cancel");
    for stranger in [&bob, &cy] {
        app.post(&path, Some(stranger), json!({}))
            .await
            .expect_error(403, "forbidden");
    }
    assert_eq!(status_of(&app, job_id).await, "PENDING");

    // No body at all is fine.
    let reply = app
        .send(Method::POST, &path, Some(&ana), None)
        .await
        .expect(200);
    assert_eq!(keys(&reply.body), ["job"]);
    assert_eq!(keys(&reply.body["job"]), JOB_KEYS);
    assert_eq!(reply.body["job"]["id"], json!(job_id));
    assert_eq!(reply.body["job"]["status"], json!("CANCELLED"));
    assert_eq!(job(&app, &bob, job_id).await["status"], json!("CANCELLED"));
    for caller in [&ana, &admin] {
        let reply = app
            .post(&path, Some(caller), json!({}))
            .await
            .expect_error(400, "job_not_cancellable");
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("CANCELLED")),
            "{}",
            reply.text
        );
    }
    // A cancelled job is never a cache hit.
    let again = submit(&app, &bob, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    assert_eq!(again.body["cached"], json!(false));
    assert_ne!(again.body["jobId"], json!(job_id));

    // The admin may cancel anyone's job.
    let other = submit_test(&app, &ana, 2).await;
    let reply = app
        .post(
            &format!("/api/jobs/{other}/cancel"),
            Some(&admin),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(reply.body["job"]["status"], json!("CANCELLED"));
    assert_eq!(status_of(&app, other).await, "CANCELLED");

    app.post("/api/jobs/999999/cancel", Some(&ana), json!({}))
        .await
        .expect_error(404, "not_found");
    app.post("/api/jobs/abc/cancel", Some(&ana), json!({}))
        .await
        .expect_error(400, "invalid_id");
    // Only POST cancels.
    app.get(&path, Some(&ana)).await.expect(405);
}

#[rstest]
#[tokio::test]
async fn invalidating_the_cache_makes_identical_submissions_run_again(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;
    let job_id = submit_test(&app, &ana, 7).await;
    // The admin may act as a worker.
    let (claimed, assignment) = claim_one(&app, &admin).await;
    assert_eq!(claimed, job_id);
    report(
        &app,
        &admin,
        id(&assignment["id"]),
        "SUCCEEDED",
        Some(json!({})),
    )
    .await
    .expect(200);
    assert_eq!(status_of(&app, job_id).await, "SUCCEEDED");
    let hit = submit(&app, &bob, "TEST", json!({"id": 7}))
        .await
        .expect(200);
    assert_eq!(
        (&hit.body["cached"], &hit.body["jobId"]),
        (&json!(true), &json!(job_id))
    );

    for caller in [&ana, &bob] {
        app.post(
            "/api/jobs/invalidate-cache",
            Some(caller),
            json!({"jobType": "TEST"}),
        )
        .await
        .expect_error(403, "forbidden");
    }
    app.post(
        "/api/jobs/invalidate-cache",
        Some(&admin),
        json!({"jobType": "NOPE"}),
    )
    .await
    .expect_error(400, "unknown_job_type");
    app.post("/api/jobs/invalidate-cache", Some(&admin), json!({}))
        .await
        .expect_error(400, "invalid_body");
    // Still cached after the refusals.
    let still = submit(&app, &ana, "TEST", json!({"id": 7}))
        .await
        .expect(200);
    assert_eq!(still.body["cached"], json!(true));

    let reply = app
        .post(
            "/api/jobs/invalidate-cache",
            Some(&admin),
            json!({"jobType": "TEST"}),
        )
        .await
        .expect(200);
    assert_eq!(keys(&reply.body), ["invalidated", "message"]);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(
        reply.body["invalidated"],
        json!({"jobType": "TEST", "affectedResults": 1})
    );
    let fresh = submit(&app, &bob, "TEST", json!({"id": 7}))
        .await
        .expect(200);
    assert_eq!(fresh.body["cached"], json!(false), "{}", fresh.text);
    assert_ne!(fresh.body["jobId"], json!(job_id));
    // The new (pending) job is the cache entry now; nothing left to invalidate.
    let again = submit(&app, &ana, "TEST", json!({"id": 7}))
        .await
        .expect(200);
    assert_eq!(again.body["jobId"], fresh.body["jobId"]);
    let reply = app
        .post(
            "/api/jobs/invalidate-cache",
            Some(&admin),
            json!({"jobType": "TEST"}),
        )
        .await
        .expect(200);
    assert_eq!(reply.body["invalidated"]["affectedResults"], json!(0));
    // The old job keeps its result, marked stale.
    let old = job(&app, &admin, job_id).await;
    assert_eq!(old["status"], json!("SUCCEEDED"));
    assert_eq!(old["assignments"][0]["result"]["cache_valid"], json!(false));
}
