//! Shutdown as an orchestrator drives it, on the real `reefguide serve`: SIGTERM drains (long
//! polls answer 204 at once, readiness fails while liveness holds, requests are still served
//! for `shutdown_delay_seconds`), then the listener closes, requests in flight finish, and the
//! process exits 0.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::served::Server;

const ADMIN: (&str, &str) = ("shutdown-admin@example.com", "shutdown-admin-password");

async fn server(delay_seconds: &str) -> Server {
    Server::start(&[
        ("ADMIN_USERNAME", ADMIN.0),
        ("ADMIN_PASSWORD", ADMIN.1),
        ("REEFGUIDE_SHUTDOWN_DELAY_SECONDS", delay_seconds),
    ])
    .await
}

#[tokio::test]
async fn sigterm_drains_serves_through_the_delay_then_exits_zero() {
    let mut server = server("3").await;
    let token = server.login(ADMIN.0, ADMIN.1).await;
    let base = server.base.clone();
    let long_poll = tokio::spawn(async move {
        let reply = reqwest::Client::new()
            .post(format!("{base}/api/jobs/claim"))
            .bearer_auth(token)
            .json(&json!({"jobTypes": ["TEST"], "waitSeconds": 25}))
            .send()
            .await
            .expect("the long poll is answered");
        (reply.status().as_u16(), Instant::now())
    });
    // The claim is waiting when the signal comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    server.terminate();

    let (status, answered) = long_poll.await.expect("the long poll ran");
    assert_eq!(
        status, 204,
        "a waiting claim answers when the server drains"
    );
    assert!(
        answered.duration_since(signalled) < Duration::from_secs(2),
        "it answered {:?} after SIGTERM",
        answered.duration_since(signalled)
    );
    let client = reqwest::Client::new();
    let readiness = client
        .get(format!("{}/api/health", server.base))
        .send()
        .await
        .expect("served while draining");
    assert_eq!(readiness.status().as_u16(), 503);
    let body: serde_json::Value = readiness.json().await.expect("JSON");
    assert_eq!(body["status"], "draining", "{body}");
    let (live, _) = server.get("/api/health/live", None).await;
    assert_eq!(live, 200, "liveness holds while draining");
    let (root, _) = server.get("/api", None).await;
    assert_eq!(root, 200, "requests are still served during the delay");

    let status = server
        .exit_status(Duration::from_secs(15))
        .await
        .expect("the process exits after the delay");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log()
    );
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "it exited before the 3 s delay ended"
    );
    let log = server.log();
    assert!(log.contains("shutting down: draining"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn a_request_in_flight_finishes_after_the_listener_closes() {
    let mut server = server("0").await;
    let body = json!({"email": ADMIN.0, "password": ADMIN.1}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let address = server.address().to_owned();
    let mut stream = TcpStream::connect(&address).expect("connected");
    write!(
        stream,
        "POST /api/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .expect("the first half is sent");
    stream.flush().expect("flushed");
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.terminate();
    // The listener closes at once (no delay); the request already in flight is not cut.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&address).is_ok() {
        assert!(Instant::now() < deadline, "the listener never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stream.write_all(tail.as_bytes()).expect("the rest is sent");
    let answer = tokio::task::spawn_blocking(move || {
        let mut answer = String::new();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        stream.read_to_string(&mut answer).expect("an answer");
        answer
    })
    .await
    .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"token\""), "{answer}");

    let status = server
        .exit_status(Duration::from_secs(15))
        .await
        .expect("the process exits");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log()
    );
}
