//! Issue 28, metrics: the real binary's `GET /metrics` in Prometheus' text format, behind the
//! configured bearer token; each request counted and timed under its method, route template
//! (never the raw path) and status.

use std::collections::BTreeMap;

use reefguide_tests::header_text;

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
            series.starts_with(&format!("{name}{{"))
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
