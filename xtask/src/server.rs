//! The wired server as a child process on a private Postgres database: what the benchmarks and
//! the API fuzzing drive.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};

/// How long the server may take to answer `/api/health`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The cargo profile the `reefguide` binary is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dev` (`target/debug`): quick to build, for correctness checks.
    Debug,
    /// `release` (`target/release`): for measurements.
    Release,
}

/// Builds the `reefguide` binary and returns its path.
pub fn build_binary(profile: Profile) -> anyhow::Result<PathBuf> {
    let (flag, dir) = match profile {
        Profile::Debug => (None, "debug"),
        Profile::Release => (Some("--release"), "release"),
    };
    eprintln!("xtask: building the {dir} binary");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("build")
        .args(flag)
        .args([
            "--quiet",
            "-p",
            "reefguide-http-actix",
            "--bin",
            "reefguide",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("{dir} build failed");
    }
    Ok(crate::target_dir().join(dir).join("reefguide"))
}

/// A private Postgres database, dropped by [`ScratchDatabase::drop_now`].
pub struct ScratchDatabase {
    admin: DatabaseConnection,
    name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `reefguide_<purpose>_<pid>` on the server of `admin_url` (replacing a leftover).
    pub async fn create(admin_url: &str, purpose: &str) -> anyhow::Result<Self> {
        let admin = Database::connect(admin_url)
            .await
            .context("cannot connect to Postgres")?;
        let name = format!("reefguide_{purpose}_{}", std::process::id());
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let (without_query, query) = admin_url
            .split_once('?')
            .map_or((admin_url, None), |(url, query)| (url, Some(query)));
        let base = without_query
            .rsplit_once('/')
            .map_or(without_query, |(base, _)| base);
        // Connection parameters (`?sslmode=disable`, `?host=/run/postgresql`) carry over.
        let url = match query {
            Some(query) => format!("{base}/{name}?{query}"),
            None => format!("{base}/{name}"),
        };
        Ok(Self { admin, name, url })
    }

    /// Drops the database (reporting, not failing, when it cannot).
    pub async fn drop_now(self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = self.admin.execute_unprepared(&statement).await {
            eprintln!("xtask: could not drop {}: {error}", self.name);
        }
    }
}

/// Starts the server on a fresh scratch database named for `purpose`, runs `work` with the
/// server and the database's URL, then stops the server and drops the database, whatever `work`
/// returned.
pub async fn with_scratch_server<T>(
    admin_url: &str,
    purpose: &str,
    options: &ServerOptions<'_>,
    work: impl AsyncFnOnce(&Server, &str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let database = ScratchDatabase::create(admin_url, purpose).await?;
    let result = async {
        let server = Server::start(options, &database.url).await?;
        work(&server, &database.url).await
    }
    .await;
    database.drop_now().await;
    result
}

/// How to start the server.
pub struct ServerOptions<'a> {
    /// The `reefguide` binary.
    pub binary: &'a Path,
    /// The ADMIN service account `(email, password)`.
    pub admin: (&'a str, &'a str),
    /// The WORKER service account `(email, password)`, when worker processes will log in.
    pub worker: Option<(&'a str, &'a str)>,
    /// Extra environment (settings such as `REEFGUIDE_DATABASE_MAX_CONNECTIONS`).
    pub env: &'a [(&'a str, &'a str)],
}

/// The server process: rate limits off, logging at `warn` into `<data dir>/server.log`; killed
/// on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    launch: Launch,
    data_dir: tempfile::TempDir,
}

/// Everything needed to start the same server again (same port, database and data directory).
struct Launch {
    binary: PathBuf,
    port: u16,
    database_url: String,
    admin: (String, String),
    worker: Option<(String, String)>,
    env: Vec<(String, String)>,
}

impl Launch {
    fn spawn(&self, data_dir: &Path) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))?;
        Command::new(&self.binary)
            .arg("serve")
            .env("REEFGUIDE_CONFIG", data_dir.join("none.toml"))
            .env("REEFGUIDE_DATABASE_URL", &self.database_url)
            .env("REEFGUIDE_PORT", self.port.to_string())
            .env("REEFGUIDE_DATA_DIR", data_dir)
            .env("REEFGUIDE_RATE_LIMIT_ENABLED", "false")
            .env("REEFGUIDE_LOG_LEVEL", "warn")
            .env("ADMIN_USERNAME", &self.admin.0)
            .env("ADMIN_PASSWORD", &self.admin.1)
            .envs(self.worker.iter().flat_map(|(email, password)| {
                [("WORKER_USERNAME", email), ("WORKER_PASSWORD", password)]
            }))
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))
    }
}

impl Server {
    /// Starts the server on a free loopback port and waits until it is healthy.
    pub async fn start(options: &ServerOptions<'_>, database_url: &str) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data_dir = tempfile::tempdir()?;
        let launch = Launch {
            binary: options.binary.to_path_buf(),
            port,
            database_url: database_url.to_owned(),
            admin: (options.admin.0.to_owned(), options.admin.1.to_owned()),
            worker: options
                .worker
                .map(|(email, password)| (email.to_owned(), password.to_owned())),
            env: options
                .env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        };
        let child = launch.spawn(data_dir.path())?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            launch,
            data_dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Kills the process at once (SIGKILL: no graceful shutdown, as a crash or an OOM kill).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("cannot kill the server")?;
        self.child.wait().context("cannot reap the server")?;
        Ok(())
    }

    /// Asks the server to stop (SIGTERM, as an orchestrator does) and waits up to `timeout` for
    /// it to exit; the error says how it exited when not with status 0, or that it did not.
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.send_sigterm()?;
        self.wait_for_exit(timeout).await
    }

    /// Sends SIGTERM, without waiting.
    pub fn send_sigterm(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("SIGTERM could not be sent to the server");
        }
        Ok(())
    }

    /// Waits up to `timeout` for the server to exit; the error says how it exited when not with
    /// status 0, or that it did not.
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("cannot wait for the server")?
            {
                if !status.success() {
                    bail!(
                        "the server exited with {status} after SIGTERM; see {}",
                        self.log_path().display()
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not exit within {} s of SIGTERM; see {}",
                    timeout.as_secs(),
                    self.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the server again on the same port, database and data directory (after
    /// [`kill`](Self::kill) or [`terminate`](Self::terminate)) and waits until it is healthy.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.child = self.launch.spawn(self.data_dir.path())?;
        self.wait_ready().await
    }

    /// The OpenAPI document it serves.
    pub async fn openapi_document(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(format!("{}/api/openapi.json", self.base))
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// The process id (for reading its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/api/health", self.base))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the server did not become healthy within {} s; see {}",
            READY_TIMEOUT.as_secs(),
            self.log_path().display()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
