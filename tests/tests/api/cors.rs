//! CORS for the browser front end (issue 22): preflights are answered before authentication,
//! every answer to an allowed origin carries `Access-Control-Allow-Origin` (401s and other
//! errors included), any origin by default (`*`, as ReefGuide), and a configured list lets only
//! its origins in.

use reefguide_http_actix::config::CorsOrigins;
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use reqwest::header::HeaderMap;
use rstest::rstest;
use serde_json::json;

/// The front end's origin in these tests.
const FRONT_END: &str = "http://127.0.0.1:4200";
/// An origin no list below allows.
const STRANGER: &str = "https://evil.example.com";

/// A response's status, headers and JSON body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: serde_json::Value,
}

impl Answer {
    /// A header's value, if present and text.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The comma-separated, lower-cased entries of a list header.
    fn list(&self, name: &str) -> Vec<String> {
        self.header(name)
            .unwrap_or_default()
            .split(',')
            .map(|entry| entry.trim().to_ascii_lowercase())
            .filter(|entry| !entry.is_empty())
            .collect()
    }
}

/// Sends `method path` from `origin` with extra headers.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    origin: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header("origin", origin);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or_default(),
    }
}

/// The browser's preflight for a JSON POST with a token.
async fn preflight(app: &TestApp, path: &str, origin: &str) -> Answer {
    send(
        app,
        Method::OPTIONS,
        path,
        origin,
        &[
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type",
            ),
        ],
    )
    .await
}

/// Checks a preflight was granted to `allow_origin`.
#[track_caller]
fn assert_preflight_granted(answer: &Answer, allow_origin: &str) {
    assert!(
        matches!(answer.status, 200 | 204),
        "preflight status {}: {}",
        answer.status,
        answer.body
    );
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(allow_origin)
    );
    let methods = answer.list("access-control-allow-methods");
    for method in ["get", "post", "put", "patch", "delete", "options"] {
        assert!(methods.iter().any(|m| m == method), "{method}: {methods:?}");
    }
    let headers = answer.list("access-control-allow-headers");
    for header in ["authorization", "content-type", "accept", "x-request-id"] {
        assert!(headers.iter().any(|h| h == header), "{header}: {headers:?}");
    }
    assert_eq!(answer.header("access-control-max-age"), Some("3600"));
    assert_eq!(
        answer.header("access-control-allow-credentials"),
        None,
        "tokens travel in a header, never in cookies"
    );
}

/// Checks an actual answer carries the CORS headers for `allow_origin`.
#[track_caller]
fn assert_cors_answer(answer: &Answer, allow_origin: &str) {
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(allow_origin),
        "status {}",
        answer.status
    );
    let exposed = answer.list("access-control-expose-headers");
    for header in ["retry-after", "content-disposition", "x-request-id"] {
        assert!(exposed.iter().any(|h| h == header), "{header}: {exposed:?}");
    }
    assert_eq!(answer.header("access-control-allow-credentials"), None);
}

#[rstest]
#[tokio::test]
async fn any_origin_by_default_before_authentication_and_on_errors(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;

    // The preflight needs no token.
    let answer = preflight(&app, "/api/polygons", FRONT_END).await;
    assert_preflight_granted(&answer, "*");
    assert_preflight_granted(&preflight(&app, "/api/jobs/1/cancel", STRANGER).await, "*");

    // An error answer still carries the CORS headers, so the front end can read the 401.
    let answer = send(&app, Method::GET, "/api/polygons", FRONT_END, &[]).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.body["code"], json!("unauthorized"));
    assert_cors_answer(&answer, "*");
    // So do the framework's own errors, turned into JSON (405) and unknown routes (404).
    let answer = send(&app, Method::PATCH, "/api/health", FRONT_END, &[]).await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.body["code"], json!("method_not_allowed"));
    assert_cors_answer(&answer, "*");
    let answer = send(&app, Method::GET, "/api/nowhere", FRONT_END, &[]).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_cors_answer(&answer, "*");

    // And a success, with a token.
    let (_, token) = app.user("ana@example.com").await;
    let bearer = format!("Bearer {token}");
    let answer = send(
        &app,
        Method::GET,
        "/api/polygons",
        FRONT_END,
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_cors_answer(&answer, "*");

    // A preflight asking for a header the API does not take is refused, as JSON.
    let answer = send(
        &app,
        Method::OPTIONS,
        "/api/polygons",
        FRONT_END,
        &[
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "x-not-allowed"),
        ],
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["code"], json!("cors_refused"));
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

#[rstest]
#[tokio::test]
async fn a_configured_list_lets_only_its_origins_in(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.cors_allowed_origins =
            CorsOrigins::parse("http://127.0.0.1:4200,https://app.example.org")
                .expect("valid origins");
    })
    .await;

    // An allowed origin is echoed back, on preflights and answers alike.
    assert_preflight_granted(
        &preflight(&app, "/api/polygons", FRONT_END).await,
        FRONT_END,
    );
    assert_preflight_granted(
        &preflight(&app, "/api/polygons", "https://app.example.org").await,
        "https://app.example.org",
    );
    let answer = send(&app, Method::GET, "/api/polygons", FRONT_END, &[]).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_cors_answer(&answer, FRONT_END);
    assert!(
        answer.list("vary").iter().any(|value| value == "origin"),
        "answers vary by origin: {:?}",
        answer.header("vary")
    );

    // Another origin: its preflight is refused (JSON, no allow header) ...
    let answer = preflight(&app, "/api/polygons", STRANGER).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["code"], json!("cors_refused"));
    assert_eq!(answer.header("access-control-allow-origin"), None);
    // ... and its requests are answered as usual but without CORS headers, so a browser keeps
    // the answer from the page.
    let answer = send(&app, Method::GET, "/api/polygons", STRANGER, &[]).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.header("access-control-allow-origin"), None);
    let answer = send(&app, Method::GET, "/api/health", STRANGER, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("access-control-allow-origin"), None);
    // A port is part of the origin.
    let answer = send(
        &app,
        Method::GET,
        "/api/health",
        "http://127.0.0.1:4201",
        &[],
    )
    .await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
}
