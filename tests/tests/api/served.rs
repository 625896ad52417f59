//! The real `reefguide serve`, as an operator runs it, for tests of what only the process shows
//! (its log, its metrics): zero-config defaults (SQLite and local storage in a temporary
//! directory) on a free port, settings from the environment, standard error collected.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use reefguide_tests::{header_text, reefguide_binary};
use serde_json::{Value, json};

/// The `reefguide` binary, built once per test binary.
static BINARY: LazyLock<PathBuf> = LazyLock::new(reefguide_binary);

/// `reefguide serve` on a free port with the zero-config defaults (SQLite and local storage in
/// a temporary directory), its standard error collected line by line.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts it with the settings `env` (`REEFGUIDE_…` variables) and waits until it answers.
    pub async fn start(env: &[(&str, &str)]) -> Self {
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
        command.envs(env.iter().copied());
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
    pub async fn get(&self, path: &str, request_id: Option<&str>) -> (u16, String) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(id) = request_id {
            request = request.header("X-Request-Id", id);
        }
        let reply = request.send().await.expect("an answer");
        let echoed = header_text(reply.headers(), "x-request-id").to_owned();
        (reply.status().as_u16(), echoed)
    }

    /// POSTs `body` as JSON to `path`, with `token` as a bearer token (if any); returns the
    /// status and the body (`null` when empty or not JSON).
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await.expect("an answer");
        let status = reply.status().as_u16();
        let text = reply.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let credentials = json!({"email": email, "password": password});
        let (status, body) = self.post("/api/auth/login", None, &credentials).await;
        assert_eq!(status, 200, "login of {email}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Sends SIGTERM, as an orchestrator stopping the process does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM could not be sent");
    }

    /// The exit status, waiting up to `timeout` for the process to exit (`None` if it did not).
    pub async fn exit_status(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process can be waited on") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.lines.lock().expect("log lines").join("\n")
    }

    /// The lines naming `id`, waiting up to ten seconds for one.
    pub async fn lines_naming(&self, id: &str) -> Vec<String> {
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
