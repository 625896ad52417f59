//! Issue 28, metrics: the real binary's `GET /metrics` in Prometheus' text format, behind the
//! configured bearer token; each request counted and timed under its method, route template
//! (never the raw path) and status.

use std::collections::BTreeMap;

use reefguide_tests::header_text;
use serde_json::json;

use crate::served::Server;

/// The token the server is started with.
const TOKEN: &str = "metrics-s3cret";

/// One scrape: each sample line's series (`name{labels}`) and value.
async fn scrape(server: &Server) -> BTreeMap<String, f64> {
    let reply = reqwest::Client::new()
        .get(format!("{}/metrics", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("an answer");
    assert_eq!(reply.status().as_u16(), 200);
    let content_type = header_text(reply.headers(), "content-type").to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = reply.text().await.expect("a body");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {line}"));
            let value = value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not a value: {line}"));
            (series.to_owned(), value)
        })
        .collect()
}

/// The value of the series of `name` whose labels include every one of `labels`
/// (`key="value"`); 0 when there is none.
fn value(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(series, _)| {
            (series.as_str() == name || series.starts_with(&format!("{name}{{")))
                && labels.iter().all(|label| series.contains(label))
        })
        .map(|(_, value)| *value)
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} names several series: {samples:#?}"
    );
    found.first().copied().unwrap_or(0.0)
}

#[tokio::test]
async fn requests_are_counted_and_timed_by_route_template_behind_the_token() {
    let server = Server::start(&[("REEFGUIDE_METRICS_TOKEN", TOKEN)]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    for token in [None, Some("wrong")] {
        let mut request = client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await.expect("an answer");
        assert_eq!(reply.status().as_u16(), 401, "token {token:?}");
        let body: serde_json::Value = reply.json().await.expect("a JSON error");
        assert_eq!(body["code"], "unauthorized", "{body}");
    }

    let health = [
        r#"route="/api/health""#,
        r#"status="200""#,
        r#"method="GET""#,
    ];
    let polygon = [r#"route="/api/polygons/{id}""#, r#"status="401""#];
    let unmatched = [r#"route="unmatched""#, r#"status="404""#];
    let before = scrape(&server).await;
    for _ in 0..3 {
        server.get("/api/health", None).await;
    }
    for id in [12_345, 678] {
        server.get(&format!("/api/polygons/{id}"), None).await;
    }
    server.get("/api/no-such-route/42", None).await;
    let after = scrape(&server).await;

    let delta = |labels: &[&str]| {
        value(&after, "http_requests_total", labels) - value(&before, "http_requests_total", labels)
    };
    assert_eq!(delta(&health), 3.0, "{after:#?}");
    assert_eq!(delta(&polygon), 2.0, "two ids, one series: {after:#?}");
    assert_eq!(delta(&unmatched), 1.0, "{after:#?}");
    assert!(
        after
            .keys()
            .all(|series| !series.contains("12345") && !series.contains("no-such-route")),
        "raw paths never become labels: {after:#?}"
    );

    // The latency histogram has the same series: its count follows the counter, and every
    // request fell in a bucket up to +Inf.
    let count = value(&after, "http_request_duration_seconds_count", &health);
    assert_eq!(count, value(&after, "http_requests_total", &health));
    let mut inf = health.to_vec();
    inf.push(r#"le="+Inf""#);
    assert_eq!(
        value(&after, "http_request_duration_seconds_bucket", &inf),
        count
    );
}

#[tokio::test]
async fn without_a_token_the_metrics_are_open() {
    let server = Server::start(&[]).await;
    let (status, _) = server.get("/metrics", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn jobs_queues_claims_and_the_pool_are_measured() {
    let admin = ("metrics-admin@example.com", "metrics-admin-password");
    let server = Server::start(&[
        ("REEFGUIDE_METRICS_TOKEN", TOKEN),
        ("ADMIN_USERNAME", admin.0),
        ("ADMIN_PASSWORD", admin.1),
    ])
    .await;
    let token = server.login(admin.0, admin.1).await;
    let test = r#"type="TEST""#;
    let tests_in = |samples: &BTreeMap<String, f64>, state: &str| {
        value(
            samples,
            "reefguide_jobs",
            &[test, &format!(r#"state="{state}""#)],
        )
    };

    let before = scrape(&server).await;
    assert_eq!(tests_in(&before, "PENDING"), 0.0);
    assert_eq!(value(&before, "reefguide_job_census_up", &[]), 1.0);
    for id in 1..=3 {
        let job = json!({"type": "TEST", "inputPayload": {"id": id}});
        let (status, body) = server.post("/api/jobs", Some(&token), &job).await;
        assert_eq!(status, 200, "{body}");
    }
    let queued = scrape(&server).await;
    assert_eq!(tests_in(&queued, "PENDING"), 3.0);
    assert_eq!(value(&queued, "reefguide_job_queue_depth", &[test]), 3.0);
    assert!(value(&queued, "reefguide_job_oldest_pending_age_seconds", &[test]) >= 0.0);

    // Two claims take two jobs; the third job is then taken, and a fourth claim finds none.
    let claim = json!({"jobTypes": ["TEST"], "waitSeconds": 0});
    for _ in 0..3 {
        let (status, body) = server.post("/api/jobs/claim", Some(&token), &claim).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = server.post("/api/jobs/claim", Some(&token), &claim).await;
    assert_eq!(status, 204);
    let claimed = scrape(&server).await;
    assert_eq!(tests_in(&claimed, "PENDING"), 0.0);
    assert_eq!(tests_in(&claimed, "IN_PROGRESS"), 3.0);
    assert_eq!(value(&claimed, "reefguide_job_queue_depth", &[test]), 0.0);
    assert_eq!(
        value(
            &claimed,
            "reefguide_job_oldest_pending_age_seconds",
            &[test]
        ),
        0.0
    );
    assert_eq!(
        value(&claimed, "reefguide_job_claim_wait_seconds_count", &[test]),
        3.0
    );
    let empty = |samples| value(samples, "reefguide_job_claims_empty_total", &[]);
    assert_eq!(empty(&claimed) - empty(&before), 1.0);
    // Every registered type is reported, zeros included, so a count that drops reads 0.
    assert_eq!(
        value(
            &claimed,
            "reefguide_jobs",
            &[r#"type="SUITABILITY_ASSESSMENT""#, r#"state="FAILED""#]
        ),
        0.0
    );
    assert!(
        claimed.contains_key(r#"reefguide_jobs{type="SUITABILITY_ASSESSMENT",state="FAILED"}"#),
        "{claimed:#?}"
    );
    assert!(value(&claimed, "reefguide_db_pool_max_connections", &[]) >= 1.0);
    assert!(
        value(
            &claimed,
            "reefguide_db_pool_connections",
            &[r#"state="idle""#]
        ) >= 0.0
    );
}

#[tokio::test]
async fn a_lone_instance_leads_the_lease_sweeper_and_counts_its_cycles() {
    let server = Server::start(&[
        ("REEFGUIDE_METRICS_TOKEN", TOKEN),
        ("REEFGUIDE_LEASE_SWEEP_INTERVAL_MS", "50"),
    ])
    .await;
    let role = r#"role="lease_sweeper""#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let samples = scrape(&server).await;
        let (leads, cycles) = (
            value(&samples, "reefguide_leader", &[role]),
            value(&samples, "reefguide_leader_cycles_total", &[role]),
        );
        if leads == 1.0 && cycles >= 3.0 {
            // No other role runs here: no capacity manager, no Airflow.
            assert_eq!(
                value(
                    &samples,
                    "reefguide_leader",
                    &[r#"role="capacity_manager""#]
                ),
                0.0
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never led: leader {leads}, cycles {cycles}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
