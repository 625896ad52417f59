//! Issue 28, logs: the real binary, as an operator runs it. With `log_format = "json"` every
//! line on standard error is one JSON object; every request gets an id (the caller's
//! `X-Request-Id` when it is a sensible one, else one made here), echoed in the answer and
//! carried by every log line of that request; the default text format names it too.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use reefguide_tests::reefguide_binary;
use serde_json::Value;

/// The `reefguide` binary, built once per test binary.
static BINARY: LazyLock<PathBuf> = LazyLock::new(reefguide_binary);

/// `reefguide serve` on a free port with the zero-config defaults (SQLite and local storage in
/// a temporary directory), its standard error collected line by line.
struct Server {
    child: Child,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts it with `REEFGUIDE_LOG_FORMAT` set to `format` (unset: the default) and waits
    /// until it answers.
    async fn start(format: Option<&str>) -> Self {
        let binary = tokio::task::spawn_blocking(|| BINARY.clone())
            .await
            .expect("the reefguide binary is built");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env_clear()
            .env("REEFGUIDE_PORT", port.to_string())
            .env("REEFGUIDE_DATA_DIR", dir.path())
            .env("REEFGUIDE_LOG_LEVEL", "info")
            .env("REEFGUIDE_CONFIG", dir.path().join("none.toml"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(format) = format {
            command.env("REEFGUIDE_LOG_FORMAT", format);
        }
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let mut child = command.spawn().expect("reefguide serve starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lines").push(line);
            }
        });
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            lines,
            _dir: dir,
        };
        server.wait_until_ready().await;
        server
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = reqwest::get(format!("{}/api/health", self.base)).await;
            if health.is_ok_and(|reply| reply.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "reefguide serve never answered; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// GETs `path` with `request_id` as `X-Request-Id` (if any); returns the status and the
    /// echoed id.
    async fn get(&self, path: &str, request_id: Option<&str>) -> (u16, String) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(id) = request_id {
            request = request.header("X-Request-Id", id);
        }
        let reply = request.send().await.expect("an answer");
        let echoed = reply
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (reply.status().as_u16(), echoed)
    }

    /// Everything logged so far.
    fn log(&self) -> String {
        self.lines.lock().expect("log lines").join("\n")
    }

    /// The lines naming `id`, waiting up to ten seconds for one.
    async fn lines_naming(&self, id: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .lines
                .lock()
                .expect("log lines")
                .iter()
                .filter(|line| line.contains(id))
                .cloned()
                .collect();
            if !found.is_empty() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no log line names {id}; the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let server = Server::start(Some("json")).await;

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
    let server = Server::start(None).await;
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
