//! Contract §8: the cluster admin routes, for admins only, on the local pool, on ECS (moto), and
//! with ECS failing (502 with the upstream message, never 500).

use reefguide_http_actix::config::ComputeKind;
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn only_admins_see_and_change_the_cluster() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let admin = app.admin_token().await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;

    let status = app.get("/api/admin/status", Some(&admin)).await.expect(200);
    for key in [
        "runningCount",
        "pendingCount",
        "desiredCount",
        "deployments",
        "events",
        "serviceStatus",
    ] {
        assert!(status.body.get(key).is_some(), "{key}: {}", status.text);
    }
    for token in [&ana, &worker] {
        app.get("/api/admin/status", Some(token))
            .await
            .expect_error(403, "forbidden");
        app.post("/api/admin/scale", Some(token), json!({"desiredCount": 1}))
            .await
            .expect_error(403, "forbidden");
        app.post("/api/admin/redeploy", Some(token), json!({}))
            .await
            .expect_error(403, "forbidden");
    }
    app.get("/api/admin/status", None).await.expect(401);
    for bad in [
        json!({"desiredCount": 11}),
        json!({"desiredCount": -1}),
        json!({}),
    ] {
        app.post("/api/admin/scale", Some(&admin), bad)
            .await
            .expect(400);
    }
    app.post("/api/admin/scale", Some(&admin), json!({"desiredCount": 0}))
        .await
        .expect(200);
    app.post("/api/admin/redeploy", Some(&admin), json!({}))
        .await
        .expect(200);
}

#[tokio::test]
async fn an_unreachable_ecs_is_a_502_with_the_upstream_message() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |s| {
        s.compute.kind = ComputeKind::Ecs;
        s.compute.ecs_cluster = Some("reef".into());
        s.compute.ecs_service = Some("workers".into());
        // Nothing listens here.
        s.compute.ecs_endpoint_url = Some("http://127.0.0.1:9".into());
        s.compute.ecs_region = Some("us-east-1".into());
    })
    .await;
    let admin = app.admin_token().await;
    for reply in [
        app.send_allowing_5xx(Method::GET, "/api/admin/status", Some(&admin), None)
            .await,
        app.send_allowing_5xx(
            Method::POST,
            "/api/admin/scale",
            Some(&admin),
            Some(json!({"desiredCount": 2})),
        )
        .await,
        app.send_allowing_5xx(Method::POST, "/api/admin/redeploy", Some(&admin), None)
            .await,
    ] {
        let reply = reply.expect_error(502, "upstream_error");
        let message = reply.body["message"].as_str().expect("message");
        assert!(message.contains("reef"), "{message}");
    }
}

#[tokio::test]
async fn a_missing_ecs_service_is_a_502_naming_it() {
    let endpoint = std::env::var("S3_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("ECS tests need S3_ENDPOINT_URL (moto): run them with `cargo xtask test`")
    });
    let app = TestApp::spawn_with(TestBackend::Sqlite, move |s| {
        s.compute.kind = ComputeKind::Ecs;
        s.compute.ecs_cluster = Some("no-such-cluster".into());
        s.compute.ecs_service = Some("no-such-service".into());
        s.compute.ecs_endpoint_url = Some(endpoint);
        s.compute.ecs_region = Some("us-east-1".into());
    })
    .await;
    let admin = app.admin_token().await;
    let reply = app
        .send_allowing_5xx(Method::GET, "/api/admin/status", Some(&admin), None)
        .await
        .expect_error(502, "upstream_error");
    let message = reply.body["message"].as_str().expect("message");
    assert!(message.contains("no-such-service"), "{message}");
}
