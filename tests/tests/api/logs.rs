//! Issue 28, logs: the real binary, as an operator runs it. With `log_format = "json"` every
//! line on standard error is one JSON object; every request gets an id (the caller's
//! `X-Request-Id` when it is a sensible one, else one made here), echoed in the answer and
//! carried by every log line of that request; the default text format names it too.

use serde_json::Value;

use crate::served::Server;

/// The request line of `id` among `lines`, parsed.
#[track_caller]
fn request_line(lines: &[String], id: &str) -> Value {
    lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .find(|line| line["fields"]["message"] == "request" && line["span"]["request_id"] == id)
        .unwrap_or_else(|| panic!("no request line in the span of {id}: {lines:#?}"))
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_carry_each_requests_id() {
    let server = Server::start(&[("REEFGUIDE_LOG_FORMAT", "json")]).await;

    // The caller's id is kept, echoed and in the request's line, for an answer and an error.
    for (path, id, status) in [
        ("/api/health", "trace-42", 200),
        ("/api/no-such-route", "trace-43:b", 404),
    ] {
        let (answered, echoed) = server.get(path, Some(id)).await;
        assert_eq!((answered, echoed.as_str()), (status, id));
        let line = request_line(&server.lines_naming(id).await, id);
        assert_eq!(line["fields"]["status"], status, "{line}");
        assert_eq!(line["fields"]["path"], path, "{line}");
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }

    // Without an id, or with one that is not safe in a log line, one is made.
    for offered in [None, Some("has space"), Some(&*"x".repeat(129))] {
        let (_, made) = server.get("/api/health", offered).await;
        assert_eq!(made.len(), 32, "{offered:?}: {made}");
        assert!(made.chars().all(|c| c.is_ascii_hexdigit()), "{made}");
        request_line(&server.lines_naming(&made).await, &made);
    }

    // Every line, start-up included, is one JSON object.
    let log = server.log();
    for line in log.lines() {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(parsed.is_object() && parsed["fields"].is_object(), "{line}");
    }
}

#[tokio::test]
async fn text_logs_name_the_request_id_too() {
    let server = Server::start(&[]).await;
    let (status, echoed) = server.get("/api/health", Some("trace-7")).await;
    assert_eq!((status, echoed.as_str()), (200, "trace-7"));
    let lines = server.lines_naming("request_id=trace-7").await;
    assert!(
        lines
            .iter()
            .any(|line| line.contains("status=200") && serde_json::from_str::<Value>(line).is_err()),
        "{lines:#?}"
    );
}
