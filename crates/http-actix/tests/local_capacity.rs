//! The embedded default with local capacity: `reefguide serve` (the real binary, SQLite, local
//! storage) with the capacity manager on starts local workers as jobs arrive and processes them
//! with no other process started by hand; the admin routes act on its worker pool.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reefguide_http_actix::config::R1_ENV_NAMES;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "admin-password-for-local";

/// A server process, stopped (SIGTERM, then killed) when dropped.
struct Server {
    child: Child,
    base: String,
    _data_dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_reefguide"));
        command.arg("serve");
        // The ReefGuide names the server also reads stay out of its environment.
        for name in R1_ENV_NAMES {
            command.env_remove(name);
        }
        for (key, _) in std::env::vars() {
            if key.starts_with("REEFGUIDE_") {
                command.env_remove(key);
            }
        }
        command
            .env("REEFGUIDE_CONFIG", data_dir.path().join("none.toml"))
            .env("REEFGUIDE_PORT", port.to_string())
            .env("REEFGUIDE_API_DOMAIN", format!("http://127.0.0.1:{port}"))
            .env("REEFGUIDE_DATA_DIR", data_dir.path())
            .env("REEFGUIDE_LOCAL_WORKERS", "0")
            .env("REEFGUIDE_CAPACITY_MANAGER", "true")
            .env("REEFGUIDE_CAPACITY_INTERVAL_MS", "200")
            .env("REEFGUIDE_RATE_LIMIT_ENABLED", "false")
            .env("REEFGUIDE_LOG_LEVEL", "warn")
            .env("RUST_LOG", "error")
            .env("ADMIN_USERNAME", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().expect("reefguide starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data_dir: data_dir,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{}/api/health", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// `(status, JSON body)` of a request.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!(status < 500 || status == 502, "{path}: {status} {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `POST /api/admin/scale` as `admin`.
    async fn scale(&self, admin: &str, desired_count: u32) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/api/admin/scale",
            Some(admin),
            Some(json!({"desiredCount": desired_count})),
        )
        .await
    }

    /// The admin's view of the worker service.
    async fn status(&self, admin: &str) -> Value {
        let (status, body) = self
            .call(reqwest::Method::GET, "/api/admin/status", Some(admin), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until `check` holds for the admin status.
    async fn wait_for_status(&self, admin: &str, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let status = self.status(admin).await;
            if check(&status) {
                return status;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Server {
    /// Stops the server with SIGTERM, as a supervisor would, and waits for it to exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let exited = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the server stops within 15 s of SIGTERM")
            .expect("exit status");
        assert!(exited.success(), "{exited}");
    }
}

/// The pids of running `<reefguide> worker` processes started from `program`.
fn local_workers(program: &str) -> Vec<String> {
    let output = std::process::Command::new("pgrep")
        .args(["-f", &format!("{program} worker")])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_local_workers_processes_jobs_on_its_own() {
    let server = Server::start().await;
    let admin = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Nothing runs until there is work.
    let status = server.status(&admin).await;
    assert_eq!(
        (
            status["runningCount"].clone(),
            status["desiredCount"].clone()
        ),
        (json!(0), json!(0))
    );
    assert_eq!(status["serviceStatus"], json!("ACTIVE"));

    let mut jobs = Vec::new();
    for n in 0..20 {
        let (code, body) = server
            .call(
                reqwest::Method::POST,
                "/api/jobs",
                Some(&admin),
                Some(json!({"type": "TEST", "inputPayload": {"id": n}})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        jobs.push(body["jobId"].as_i64().expect("job id"));
    }
    let started = Instant::now();
    loop {
        let (_, body) = server
            .call(
                reqwest::Method::GET,
                "/api/jobs?status=SUCCEEDED&limit=200",
                Some(&admin),
                None,
            )
            .await;
        if body["jobs"].as_array().map_or(0, Vec::len) == jobs.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not all jobs succeeded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Each wrote its result file, downloadable through the local store's signed URL.
    let (code, body) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/jobs/{}/download", jobs[0]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let url = body["files"]["result.json"].as_str().expect("result.json");
    let file: Value = reqwest::get(url)
        .await
        .expect("download")
        .json()
        .await
        .expect("JSON");
    assert_eq!(file["id"], json!(0));

    // The manager's workers showed up as events.
    let events = server.status(&admin).await["events"].clone();
    assert!(
        events
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["message"]
                .as_str()
                .is_some_and(|m| m.contains("for default"))),
        "{events}"
    );

    // Scale and redeploy act on the pool; only admins may.
    let (code, body) = server.scale(&admin, 2).await;
    assert_eq!(code, 200, "{body}");
    server
        .wait_for_status(&admin, |s| s["runningCount"] == json!(2))
        .await;
    let (code, _) = server.scale(&admin, 11).await;
    assert_eq!(code, 400);
    let (code, body) = server
        .call(
            reqwest::Method::POST,
            "/api/admin/redeploy",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = server.scale(&admin, 0).await;
    assert_eq!(code, 200, "{body}");
    let status = server
        .wait_for_status(&admin, |s| s["runningCount"] == json!(0))
        .await;
    assert_eq!(status["desiredCount"], json!(0));
    assert!(!status["events"].as_array().expect("events").is_empty());

    let (code, _) = server
        .call(
            reqwest::Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "ana@example.com", "password": "ana-password-1"})),
        )
        .await;
    assert_eq!(code, 200);
    let ana = server.login("ana@example.com", "ana-password-1").await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/admin/status"),
        (reqwest::Method::POST, "/api/admin/redeploy"),
    ] {
        let (code, _) = server.call(method, path, Some(&ana), None).await;
        assert_eq!(code, 403, "{path}");
    }
    let (code, _) = server
        .call(reqwest::Method::GET, "/api/admin/status", None, None)
        .await;
    assert_eq!(code, 401);

    // A stopped server leaves no worker behind.
    let (code, _) = server.scale(&admin, 2).await;
    assert_eq!(code, 200);
    let program = env!("CARGO_BIN_EXE_reefguide");
    assert!(!local_workers(program).is_empty());
    server.stop().await;
    let started = Instant::now();
    while !local_workers(program).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "workers outlived the server: {:?}",
            local_workers(program)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
