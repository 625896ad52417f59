//! A real Apache Airflow 2.11.2 for the test suite: installed once into a Python virtual
//! environment under the target directory (`target/airflow-venv`, from the pinned
//! `xtask/airflow/requirements.txt`), started on a fresh `AIRFLOW_HOME` serving
//! `tests/airflow/dags`, with its REST API on a free loopback port and an admin user whose
//! password is drawn per run; stopped when [`Airflow`] is dropped or xtask is interrupted.
//!
//! It runs tasks side by side (the LocalExecutor: the test servers sharing it trigger runs at
//! once, and one test's long task must not hold up another's), so its metadata database is on
//! Postgres, not SQLite: a fresh database per run, `reefguide_airflow_<xtask's pid>`, on the
//! server of the tests' admin URL (`DATABASE_URL`, default `127.0.0.1:5432`), dropped when
//! Airflow stops (see [`MetadataDatabase`]).
//!
//! Every Airflow process runs under a small Python supervisor ([`SUPERVISOR`]) that leads its
//! own process group and is a child subreaper: Airflow's task processes leave their parent's
//! process group, and the webserver's gunicorn workers and the scheduler's task subprocesses
//! outlive a killed parent, so killing process groups would leave some behind (and reparent them
//! to an init that may never reap them). The supervisor kills and reaps every descendant when its
//! standard input closes, which happens when xtask drops it and also when xtask dies of anything,
//! SIGKILL included.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, Statement};
use serde_json::Value;

use crate::python::Venv;

/// The pinned package set (Airflow and everything it resolved to).
const REQUIREMENTS: &str = include_str!("../airflow/requirements.txt");
/// The virtual environment's directory under the target directory.
const VENV_DIR: &str = "airflow-venv";
/// Airflow's command-line entry point in the virtual environment.
const AIRFLOW: &str = "airflow";
/// The run directory (home, logs) of `cargo xtask test` under the target directory.
pub const TEST_RUN_DIR: &str = "airflow-test";
/// The run directory of `cargo xtask airflow`, apart from the tests' so that both can run.
pub const DEV_RUN_DIR: &str = "airflow-dev";
/// The test DAGs, relative to the workspace root: one DAG per `.py` file, named after it.
const DAGS_DIR: &str = "tests/airflow/dags";
/// The admin user's name.
const USERNAME: &str = "reefguide";
/// The length of the admin user's password (letters and digits).
const PASSWORD_LEN: usize = 24;
/// How many gunicorn workers serve the webserver (Airflow's default of 4 is slow to start on
/// two cores).
const WEBSERVER_WORKERS: u32 = 2;
/// How long Airflow may take to answer with every test DAG listed after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a supervisor may take to kill and reap its processes before it is killed itself.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The metadata databases' name prefix; the rest is the pid of the xtask that created one.
const DATABASE_PREFIX: &str = "reefguide_airflow_";
/// How long connecting to Postgres (to create or drop a metadata database) may take.
const POSTGRES_TIMEOUT: Duration = Duration::from_secs(10);
/// How many task instances run at once, in all (the LocalExecutor's worker processes).
const PARALLELISM: u32 = 8;
/// How many task instances of one DAG run at once.
const MAX_ACTIVE_TASKS_PER_DAG: u32 = 8;
/// How many runs of one DAG are active at once (several test servers trigger the same DAGs).
const MAX_ACTIVE_RUNS_PER_DAG: u32 = 16;

/// The variable naming the tests' Airflow (its base URL, without `/api/v1`).
pub const URL_VAR: &str = "REEFGUIDE_TEST_AIRFLOW_URL";
/// The variable naming the tests' Airflow user.
pub const USERNAME_VAR: &str = "REEFGUIDE_TEST_AIRFLOW_USERNAME";
/// The variable holding that user's password.
pub const PASSWORD_VAR: &str = "REEFGUIDE_TEST_AIRFLOW_PASSWORD";

/// The supervisor's script in the run directory.
const SUPERVISOR_FILE: &str = "supervise.py";
/// Runs the command of its arguments, and kills and reaps it and every process under it (it is a
/// child subreaper, so orphans of the command stay under it) when its standard input closes,
/// when it gets SIGTERM, SIGINT or SIGHUP, or when the command exits; then exits with the
/// command's status (128 + signal when the command died of one, 0 when it was stopped).
const SUPERVISOR: &str = r##"# Written by `cargo xtask` (xtask/src/airflow.rs): runs the command of its arguments and,
# when its standard input closes, kills and reaps every process under it.
import ctypes, os, signal, sys, threading, time

try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except (AttributeError, OSError):
    pass
stop = threading.Event()
for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(signum, lambda *_: stop.set())

def watch_stdin():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop.set()

threading.Thread(target=watch_stdin, daemon=True).start()
command = os.posix_spawnp(
    sys.argv[1], sys.argv[1:], os.environ,
    file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
)
status = None

def reap():
    global status
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == command:
            status = os.waitstatus_to_exitcode(wait_status)

def descendants():
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, pending = [], [os.getpid()]
    while pending:
        for pid in children.get(pending.pop(), ()):
            found.append(pid)
            pending.append(pid)
    return found

while status is None and not stop.is_set():
    reap()
    stop.wait(0.2)
reap()
if status is None:
    print("# xtask: stopping", flush=True)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    pids = descendants()
    if status is None:
        pids.append(command)
    if not pids:
        break
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.05)
    reap()
os._exit(0 if status is None else status if status >= 0 else 128 - status)
"##;

/// How to reach an Airflow's REST API (under `<url>/api/v1`) with basic auth.
#[derive(Debug, Clone)]
pub struct Access {
    /// Its base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// A user allowed to use the REST API.
    pub username: String,
    /// That user's password.
    pub password: String,
}

impl Access {
    /// The Airflow named by `REEFGUIDE_TEST_AIRFLOW_URL`, `_USERNAME` and `_PASSWORD`, if the
    /// URL is set (the user and password default to empty).
    pub fn from_env() -> Option<Self> {
        let url = std::env::var(URL_VAR).ok()?;
        let var = |name| std::env::var(name).unwrap_or_default();
        Some(Self {
            url,
            username: var(USERNAME_VAR),
            password: var(PASSWORD_VAR),
        })
    }

    /// The variables telling the tests where it is and how to log in.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            (URL_VAR, self.url.clone()),
            (USERNAME_VAR, self.username.clone()),
            (PASSWORD_VAR, self.password.clone()),
        ]
    }
}

/// A running Airflow (webserver and scheduler); stopped, every process reaped, and its metadata
/// database dropped, on drop.
pub struct Airflow {
    processes: Arc<Mutex<Vec<Supervised>>>,
    url: String,
    password: String,
    run_dir: PathBuf,
    database: Arc<MetadataDatabase>,
}

impl Airflow {
    /// Installs Airflow into `<target_dir>/airflow-venv` unless already there, wipes
    /// `<target_dir>/<run_dir>`, sets up a fresh `AIRFLOW_HOME` in it and a fresh metadata
    /// database on the Postgres of `admin_url` (migrated, with the admin user), starts the
    /// webserver on a free loopback port and the scheduler, and waits until the REST API answers
    /// with a healthy scheduler and every test DAG listed. Every Airflow process (and so every
    /// task) also gets `task_env`, e.g. where the DAGs' S3 is ([`s3_task_env`]).
    ///
    /// # Errors
    /// When Python, the installation, Postgres, a setup command, a spawn or the readiness wait
    /// fails (naming the logs).
    pub fn start(
        target_dir: &Path,
        run_dir: &str,
        admin_url: &str,
        task_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let venv = ensure_installed(target_dir)?;
        let installed = started.elapsed();
        let run_dir = target_dir.join(run_dir);
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .with_context(|| format!("cannot remove {}", run_dir.display()))?;
        }
        let home = run_dir.join("home");
        fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
        let dags = workspace_root().join(DAGS_DIR);
        let expected = dag_ids(&dags)?;
        let port = free_loopback_port()?;
        let password = password()?;
        // Before the processes: dropped after them when starting fails.
        let database = Arc::new(MetadataDatabase::create(admin_url)?);
        let airflow = venv.bin(AIRFLOW);
        let mut env = airflow_env(
            airflow.parent().unwrap_or(Path::new(".")),
            &home,
            &dags,
            port,
            &database.sql_alchemy_conn,
            std::env::var_os("PATH"),
        );
        env.extend(
            task_env
                .iter()
                .map(|(name, value)| (name.clone(), OsString::from(value))),
        );
        let launcher = Launcher::new(venv.bin("python"), airflow, env, &run_dir)?;

        let setup_log = run_dir.join("setup.log");
        launcher.run(&["db", "migrate"], &setup_log)?;
        launcher.run(
            &[
                "users",
                "create",
                "--role",
                "Admin",
                "--username",
                USERNAME,
                "--password",
                &password,
                "--email",
                "reefguide-test@example.invalid",
                "--firstname",
                "Reefguide",
                "--lastname",
                "Test",
            ],
            &setup_log,
        )?;
        let set_up = started.elapsed();

        let webserver = launcher.spawn(&["webserver"], &run_dir.join("webserver.log"))?;
        let scheduler = launcher.spawn(
            &["scheduler", "--skip-serve-logs"],
            &run_dir.join("scheduler.log"),
        )?;
        let airflow = Self {
            processes: Arc::new(Mutex::new(vec![webserver, scheduler])),
            url: format!("http://{}:{port}", Ipv4Addr::LOCALHOST),
            password,
            run_dir,
            database,
        };
        airflow.wait_ready(&expected)?;
        eprintln!(
            "xtask: Airflow ready at {} in {:.0} s (install check {:.0} s, setup {:.0} s; \
             metadata database {})",
            airflow.url,
            started.elapsed().as_secs_f64(),
            installed.as_secs_f64(),
            (set_up - installed).as_secs_f64(),
            airflow.database.name,
        );
        Ok(airflow)
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (the REST API is under `/api/v1`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The variables telling the tests where Airflow is and how to log in.
    pub fn test_env(&self) -> [(&'static str, String); 3] {
        self.access().env()
    }

    /// Where it is and how to log in.
    pub fn access(&self) -> Access {
        Access {
            url: self.url.clone(),
            username: USERNAME.to_owned(),
            password: self.password.clone(),
        }
    }

    /// Where the home and the logs are.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Stops Airflow and drops its metadata database when xtask receives SIGINT, SIGTERM or
    /// SIGHUP, then exits with status 130: a process dying of a signal runs no destructors.
    /// (Were xtask to exit first anyway, the supervisors would still stop every Airflow process
    /// when their standard input closes, and the next start would drop the database.)
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn stop_on_signal(&self) -> anyhow::Result<()> {
        let processes = Arc::clone(&self.processes);
        let database = Arc::clone(&self.database);
        crate::on_signal::stop_on_signal("Airflow", move || {
            stop_all(&processes);
            database.drop_now();
        })
    }

    /// Runs until xtask receives SIGINT, SIGTERM or SIGHUP (then stops Airflow and returns), or
    /// an Airflow process exits (an error).
    ///
    /// # Errors
    /// When the signal handlers cannot be installed or Airflow dies.
    pub fn run_until_interrupted(self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the signal-handling runtime")?;
        let outcome = runtime.block_on(self.wait_interrupted());
        drop(self);
        eprintln!("xtask: Airflow stopped");
        outcome
    }

    /// Waits for SIGINT, SIGTERM or SIGHUP, checking every second that Airflow still runs.
    async fn wait_interrupted(&self) -> anyhow::Result<()> {
        let interrupted = crate::on_signal::Signals::install()?.next();
        tokio::pin!(interrupted);
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = &mut interrupted => return Ok(()),
                _ = ticks.tick() => self.check_running()?,
            }
        }
    }

    /// An error naming the log when a supervised process exited.
    fn check_running(&self) -> anyhow::Result<()> {
        let mut processes = lock(&self.processes);
        for process in processes.iter_mut() {
            if let Some(status) = process.exited()? {
                bail!(
                    "{} exited ({status}); see {}",
                    process.name,
                    process.log.display()
                );
            }
        }
        Ok(())
    }

    /// Polls until the API answers with a healthy scheduler and every DAG of `expected` listed,
    /// failing early if a process exits or a DAG file does not import.
    fn wait_ready(&self, expected: &[String]) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime of the readiness checks")?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build an HTTP client")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_running()
                .context("Airflow stopped before it was ready")?;
            let last = match runtime.block_on(self.probe(&client, expected)) {
                Probe::Ready => return Ok(()),
                Probe::Broken(why) => bail!(
                    "the test DAGs in {} do not all import: {why}",
                    workspace_root().join(DAGS_DIR).display()
                ),
                Probe::NotYet(why) => why,
            };
            if Instant::now() > deadline {
                bail!(
                    "Airflow at {} was not ready within {} s ({last}); see {} and {}",
                    self.url,
                    READY_TIMEOUT.as_secs(),
                    self.run_dir.join("webserver.log").display(),
                    self.run_dir.join("scheduler.log").display(),
                );
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// One readiness check.
    async fn probe(&self, client: &reqwest::Client, expected: &[String]) -> Probe {
        let api = format!("{}/api/v1", self.url);
        let get = |path: &str| {
            client
                .get(format!("{api}/{path}"))
                .basic_auth(USERNAME, Some(&self.password))
                .send()
        };
        let json = |response: reqwest::Result<reqwest::Response>| async move {
            match response.and_then(reqwest::Response::error_for_status) {
                Ok(response) => response.json::<Value>().await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            }
        };
        let health = match json(get("health").await).await {
            Ok(health) => health,
            Err(error) => return Probe::NotYet(format!("health: {error}")),
        };
        if let Some(why) = unhealthy(&health) {
            return Probe::NotYet(why);
        }
        match json(get("importErrors").await).await {
            Ok(errors) => {
                if let Some(summary) = import_errors(&errors) {
                    return Probe::Broken(summary);
                }
            }
            Err(error) => return Probe::NotYet(format!("importErrors: {error}")),
        }
        match json(get("dags?limit=100").await).await {
            Ok(dags) => {
                let missing = missing_dags(&dags, expected);
                if missing.is_empty() {
                    Probe::Ready
                } else {
                    Probe::NotYet(format!("DAGs not listed yet: {}", missing.join(", ")))
                }
            }
            Err(error) => Probe::NotYet(format!("dags: {error}")),
        }
    }
}

impl Drop for Airflow {
    fn drop(&mut self) {
        stop_all(&self.processes);
        // Explicitly: the signal-handling thread holds the database too.
        self.database.drop_now();
    }
}

/// Airflow's metadata database, `reefguide_airflow_<xtask's pid>`, on the Postgres server of an
/// admin URL; dropped (forcibly, whoever is still connected) by [`MetadataDatabase::drop_now`]
/// or on drop.
struct MetadataDatabase {
    admin_url: String,
    name: String,
    /// Airflow's `sql_alchemy_conn` for it (psycopg2).
    sql_alchemy_conn: String,
    dropped: AtomicBool,
}

impl MetadataDatabase {
    /// Creates the database, first dropping leftovers of earlier runs: databases of this prefix
    /// whose xtask is gone (one whose pid is no running xtask here, unless something is still
    /// connected to it) and a stale one of this pid.
    fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("{DATABASE_PREFIX}{}", std::process::id());
        let sql_alchemy_conn = database_url(admin_url, "postgresql+psycopg2", &name)
            .context("cannot read DATABASE_URL")?;
        let server = crate::host_port(admin_url).unwrap_or_else(|| "?".to_owned());
        let create = async {
            let admin = connect_admin(admin_url).await?;
            let listed = admin
                .query_all_raw(Statement::from_string(
                    admin.get_database_backend(),
                    format!(
                        "SELECT datname FROM pg_database WHERE datname LIKE '{}%'",
                        DATABASE_PREFIX.replace('_', "\\_")
                    ),
                ))
                .await?;
            for row in listed {
                let leftover: String = row.try_get_by_index(0)?;
                if leftover == name {
                    admin
                        .execute_unprepared(&format!("DROP DATABASE \"{leftover}\" WITH (FORCE)"))
                        .await?;
                } else if is_leftover(&leftover) {
                    // Not forcibly: a database in use (another machine's run?) stays.
                    match admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{leftover}\""))
                        .await
                    {
                        Ok(_) => eprintln!("xtask: dropped {leftover}, left behind by a past run"),
                        Err(error) => eprintln!("xtask: kept {leftover}, still in use? {error}"),
                    }
                }
            }
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            admin.close().await?;
            anyhow::Ok(())
        };
        run_async(create).with_context(|| {
            format!("cannot create Airflow's metadata database {name} on Postgres at {server}")
        })?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            sql_alchemy_conn,
            dropped: AtomicBool::new(false),
        })
    }

    /// Drops the database, once (reporting, not failing, when it cannot).
    fn drop_now(&self) {
        if self.dropped.swap(true, Ordering::SeqCst) {
            return;
        }
        let drop = async {
            let admin = connect_admin(&self.admin_url).await?;
            admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await?;
            admin.close().await?;
            anyhow::Ok(())
        };
        if let Err(error) = run_async(drop) {
            eprintln!("xtask: could not drop {}: {error:#}", self.name);
        }
    }
}

impl Drop for MetadataDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// Whether a database named with [`DATABASE_PREFIX`] was left behind: the xtask whose pid it
/// names no longer runs (here).
fn is_leftover(name: &str) -> bool {
    is_leftover_given(name, |pid| {
        fs::read_to_string(format!("/proc/{pid}/comm")).ok()
    })
}

/// [`is_leftover`], given the command name of a running process (`None` when none has that pid).
fn is_leftover_given(name: &str, command_of: impl Fn(u32) -> Option<String>) -> bool {
    name.strip_prefix(DATABASE_PREFIX)
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| command_of(pid).is_none_or(|command| command.trim() != "xtask"))
}

/// A one-connection pool on the admin database.
async fn connect_admin(admin_url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(POSTGRES_TIMEOUT)
        .acquire_timeout(POSTGRES_TIMEOUT)
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .context("cannot connect to Postgres")
}

/// Runs `work` to completion on a runtime of its own, in a thread of its own (so that it may be
/// called from anywhere, a runtime's thread included).
fn run_async<T: Send>(work: impl Future<Output = anyhow::Result<T>> + Send) -> anyhow::Result<T> {
    thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a runtime")?
                    .block_on(work)
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the thread talking to Postgres panicked")))
    })
}

/// The URL of database `name` on the server of `admin_url` (a `postgres://` URL) with `scheme`:
/// the same user, password, host, port and parameters.
fn database_url(admin_url: &str, scheme: &str, name: &str) -> anyhow::Result<String> {
    let Some((_, rest)) = admin_url.split_once("://") else {
        bail!("not a URL");
    };
    let (before_query, query) = rest
        .split_once('?')
        .map_or((rest, None), |(before, query)| (before, Some(query)));
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(authority, _)| authority);
    Ok(match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

/// What a readiness check found.
enum Probe {
    Ready,
    /// Not ready, and why.
    NotYet(String),
    /// Never going to be ready, and why.
    Broken(String),
}

/// How Airflow's commands are run: under the supervisor, with Airflow's environment, in the run
/// directory.
struct Launcher {
    python: PathBuf,
    /// The supervisor's script, in the run directory.
    supervisor: PathBuf,
    airflow: PathBuf,
    env: Vec<(String, OsString)>,
    dir: PathBuf,
}

impl Launcher {
    /// Runs `airflow` with `env` in `dir`, writing the supervisor's script there (a file rather
    /// than `python -c`, for a readable `ps`).
    fn new(
        python: PathBuf,
        airflow: PathBuf,
        env: Vec<(String, OsString)>,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let supervisor = dir.join(SUPERVISOR_FILE);
        fs::write(&supervisor, SUPERVISOR)
            .with_context(|| format!("cannot write {}", supervisor.display()))?;
        Ok(Self {
            python,
            supervisor,
            airflow,
            env,
            dir: dir.to_owned(),
        })
    }

    /// Starts `airflow <args>` in its own process group, appending its output to `log`.
    fn spawn(&self, args: &[&str], log: &Path) -> anyhow::Result<Supervised> {
        let name = format!("airflow {}", args.first().copied().unwrap_or_default());
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        writeln!(out, "# {} {}", self.airflow.display(), args.join(" "))?;
        let err = out.try_clone().context("cannot share the Airflow log")?;
        let mut command = Command::new(&self.python);
        command.arg(&self.supervisor).arg(&self.airflow).args(args);
        for (variable, _) in std::env::vars_os() {
            if variable.to_string_lossy().starts_with("AIRFLOW") {
                command.env_remove(variable);
            }
        }
        let child = command
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Supervised {
            name,
            child,
            log: log.to_owned(),
        })
    }

    /// Runs `airflow <args>` to completion (stopped if xtask dies meanwhile).
    fn run(&self, args: &[&str], log: &Path) -> anyhow::Result<()> {
        let mut process = self.spawn(args, log)?;
        // Not `Child::wait`: it would close the supervisor's standard input, that is, stop it.
        let status = loop {
            if let Some(status) = process.exited()? {
                break status;
            }
            thread::sleep(Duration::from_millis(50));
        };
        if !status.success() {
            bail!(
                "`airflow {}` failed ({status}); see {}",
                args.join(" "),
                log.display()
            );
        }
        Ok(())
    }
}

/// A command running under the supervisor; stopped on drop.
struct Supervised {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Supervised {
    /// The supervisor's status once it exited.
    fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("cannot check {}", self.name))
    }

    /// Asks the supervisor to stop everything (by closing its standard input).
    fn request_stop(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits for the supervisor to exit; past [`STOP_TIMEOUT`] kills it and its process group.
    fn wait_stopped(&mut self) {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                eprintln!(
                    "xtask: {} did not stop within {} s; killing its process group",
                    self.name,
                    STOP_TIMEOUT.as_secs()
                );
                let _ = Command::new("kill")
                    .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
                    .stderr(Stdio::null())
                    .status();
                let _ = self.child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.request_stop();
        self.wait_stopped();
    }
}

/// Stops every process, all at once, and reaps them.
fn stop_all(processes: &Mutex<Vec<Supervised>>) {
    let mut processes = lock(processes);
    for process in processes.iter_mut() {
        process.request_stop();
    }
    for process in processes.iter_mut() {
        process.wait_stopped();
    }
}

/// The processes, even if a thread panicked while holding them.
fn lock(processes: &Mutex<Vec<Supervised>>) -> std::sync::MutexGuard<'_, Vec<Supervised>> {
    processes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The virtual environment with the pinned Airflow, installing it first when needed. Each pin
/// is passed to pip, so the environment's stamp records the pins themselves: it is reinstalled
/// when they change, not when a comment does.
pub fn ensure_installed(target_dir: &Path) -> anyhow::Result<Venv> {
    let pins = requirement_lines(REQUIREMENTS)?;
    eprintln!(
        "xtask: Airflow {} ({} pinned packages) in {}",
        airflow_version(&pins).unwrap_or("?"),
        pins.len(),
        target_dir.join(VENV_DIR).display()
    );
    Venv::ensure(target_dir, VENV_DIR, &pins, &[AIRFLOW])
}

/// The requirements of a requirements file: its lines but blank ones and comments, each a pin
/// pip takes as an argument (options such as `-r` or `--hash` are refused).
fn requirement_lines(text: &str) -> anyhow::Result<Vec<&str>> {
    let mut pins = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('-') || line.contains(" -") || line.contains('#') {
            bail!("xtask/airflow/requirements.txt: only `name==version` lines, got {line:?}");
        }
        pins.push(line);
    }
    if pins.is_empty() {
        bail!("xtask/airflow/requirements.txt lists no package");
    }
    Ok(pins)
}

/// The version Airflow is pinned to.
fn airflow_version<'a>(pins: &[&'a str]) -> Option<&'a str> {
    pins.iter()
        .find_map(|pin| pin.strip_prefix("apache-airflow=="))
}

/// The workspace's root directory.
fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_owned()
}

/// The DAG ids of a DAG folder: the names of its `.py` files, sorted.
fn dag_ids(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "py")
            && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
        {
            ids.push(stem.to_owned());
        }
    }
    if ids.is_empty() {
        bail!("no DAG file (*.py) in {}", dir.display());
    }
    ids.sort();
    Ok(ids)
}

/// The environment of every Airflow command: a fresh home, the metadata database of
/// `sql_alchemy_conn` (Postgres) and the LocalExecutor (tasks side by side, up to
/// [`PARALLELISM`]), the test DAGs (paused at creation, Airflow's default), basic auth on the
/// REST API, quick DAG-folder scans, the webserver on `127.0.0.1:<port>`, and the virtual
/// environment's `bin` (`venv_bin`) first on `PATH`: the executor runs `airflow tasks run` by
/// name.
fn airflow_env(
    venv_bin: &Path,
    home: &Path,
    dags: &Path,
    port: u16,
    sql_alchemy_conn: &str,
    path: Option<OsString>,
) -> Vec<(String, OsString)> {
    let mut search_path = vec![venv_bin.to_owned()];
    search_path.extend(path.iter().flat_map(std::env::split_paths));
    let search_path = std::env::join_paths(search_path).unwrap_or_else(|_| venv_bin.into());
    let settings: [(&str, String); 22] = [
        ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
        (
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            sql_alchemy_conn.to_owned(),
        ),
        ("AIRFLOW__CORE__EXECUTOR", "LocalExecutor".into()),
        ("AIRFLOW__CORE__PARALLELISM", PARALLELISM.to_string()),
        (
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG",
            MAX_ACTIVE_TASKS_PER_DAG.to_string(),
        ),
        (
            "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG",
            MAX_ACTIVE_RUNS_PER_DAG.to_string(),
        ),
        (
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS",
            "False".into(),
        ),
        (
            "AIRFLOW__API__AUTH_BACKENDS",
            "airflow.api.auth.backend.basic_auth".into(),
        ),
        ("AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL", "5".into()),
        ("AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL", "5".into()),
        // A cancelled run's task notices within a second.
        ("AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC", "1".into()),
        ("AIRFLOW__WEBSERVER__WEB_SERVER_HOST", "127.0.0.1".into()),
        ("AIRFLOW__WEBSERVER__WEB_SERVER_PORT", port.to_string()),
        (
            "AIRFLOW__WEBSERVER__BASE_URL",
            format!("http://127.0.0.1:{port}"),
        ),
        ("AIRFLOW__WEBSERVER__WORKERS", WEBSERVER_WORKERS.to_string()),
        (
            "AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE",
            "False".into(),
        ),
        (
            "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS",
            "True".into(),
        ),
        ("AIRFLOW__LOGGING__COLORED_CONSOLE_LOG", "False".into()),
        ("AIRFLOW__CORE__DAGS_FOLDER", dags.display().to_string()),
        ("AIRFLOW_HOME", home.display().to_string()),
        // No __pycache__ next to the DAGs in the source tree; logs written as they come.
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("PYTHONUNBUFFERED", "1".into()),
    ];
    settings
        .into_iter()
        .map(|(name, value)| (name.to_owned(), OsString::from(value)))
        .chain([("PATH".to_owned(), search_path)])
        .collect()
}

/// A fresh password of [`PASSWORD_LEN`] letters and digits.
fn password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0_u8; PASSWORD_LEN];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(bytes
        .iter()
        .map(|&byte| char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]))
        .collect())
}

/// A loopback port that was free a moment ago.
fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free loopback port for Airflow")?;
    Ok(listener
        .local_addr()
        .context("cannot read the free port's address")?
        .port())
}

/// Why `/api/v1/health` does not say healthy, if it does not.
fn unhealthy(health: &Value) -> Option<String> {
    let status = |part: &str| health[part]["status"].as_str().unwrap_or("unknown");
    let (database, scheduler) = (status("metadatabase"), status("scheduler"));
    (database != "healthy" || scheduler != "healthy")
        .then(|| format!("metadatabase {database}, scheduler {scheduler}"))
}

/// The files and last lines of the errors `/api/v1/importErrors` lists, if any.
fn import_errors(errors: &Value) -> Option<String> {
    let errors = errors["import_errors"].as_array()?;
    let summary: Vec<String> = errors
        .iter()
        .map(|error| {
            let file = error["filename"].as_str().unwrap_or("?");
            let trace = error["stack_trace"].as_str().unwrap_or_default();
            let last = trace.lines().rev().find(|line| !line.trim().is_empty());
            format!("{file}: {}", last.unwrap_or("(no trace)").trim())
        })
        .collect();
    (!summary.is_empty()).then(|| summary.join("; "))
}

/// The DAGs of `expected` that `/api/v1/dags` does not list.
fn missing_dags(dags: &Value, expected: &[String]) -> Vec<String> {
    let listed: Vec<&str> = dags["dags"]
        .as_array()
        .map(|dags| {
            dags.iter()
                .filter_map(|dag| dag["dag_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    expected
        .iter()
        .filter(|id| !listed.contains(&id.as_str()))
        .cloned()
        .collect()
}

/// The environment telling the test DAGs' S3 client (boto3) where the tests' S3 is: the
/// endpoint, and the emulator's credentials and region unless xtask's environment sets them.
pub fn s3_task_env(endpoint: &str) -> Vec<(String, String)> {
    let defaults = crate::EMULATOR_AWS_DEFAULTS
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()));
    [("AWS_ENDPOINT_URL_S3".to_owned(), endpoint.to_owned())]
        .into_iter()
        .chain(defaults)
        .collect()
}

/// `REEFGUIDE_TEST_AIRFLOW_URL` when set (`None`), else an Airflow started now in
/// `<target_dir>/airflow-test`, its metadata database on the tests' Postgres (kept running until
/// the returned guard is dropped, and stopped if xtask is interrupted).
///
/// # Errors
/// When Airflow cannot be started.
pub fn for_tests(
    target_dir: &Path,
    task_env: &[(String, String)],
) -> anyhow::Result<Option<Airflow>> {
    if std::env::var_os(URL_VAR).is_some() {
        return Ok(None);
    }
    let airflow = Airflow::start(target_dir, TEST_RUN_DIR, &crate::postgres_url()?, task_env)
        .context("cannot start Airflow for the workflow tests")?;
    airflow.stop_on_signal()?;
    Ok(Some(airflow))
}

/// `cargo xtask airflow`: starts Airflow as the tests do (in `<target_dir>/airflow-dev`, its
/// metadata database on the Postgres of `DATABASE_URL`), prints how to reach it, and runs until
/// Ctrl-C.
///
/// # Errors
/// When Airflow cannot be started or dies.
pub fn run_dev(target_dir: &Path) -> anyhow::Result<()> {
    let s3 = std::env::var(crate::S3_ENDPOINT_VAR).ok();
    if s3.is_none() {
        eprintln!(
            "xtask: {} is not set: the test DAGs can write only local outputs",
            crate::S3_ENDPOINT_VAR
        );
    }
    let task_env = s3.as_deref().map(s3_task_env).unwrap_or_default();
    let airflow = Airflow::start(target_dir, DEV_RUN_DIR, &crate::postgres_url()?, &task_env)?;
    eprintln!(
        "xtask: Airflow at {} (REST API under /api/v1, user {USERNAME}), serving {}; home and \
         logs in {}, metadata database {}. For `cargo xtask test` in another shell:",
        airflow.url(),
        workspace_root().join(DAGS_DIR).display(),
        airflow.run_dir().display(),
        airflow.database.name,
    );
    let mut out = std::io::stdout().lock();
    for (name, value) in airflow.test_env() {
        writeln!(out, "export {name}={value}")?;
    }
    out.flush()?;
    drop(out);
    eprintln!("xtask: Ctrl-C stops it");
    airflow.run_until_interrupted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pins_are_the_requirement_lines() {
        let pins = requirement_lines("# pinned\n\nalembic==1.19.2\n  apache-airflow==2.11.2 \n")
            .expect("pins");
        assert_eq!(pins, ["alembic==1.19.2", "apache-airflow==2.11.2"]);
        assert_eq!(airflow_version(&pins), Some("2.11.2"));
        assert!(requirement_lines("-r other.txt\n").is_err());
        assert!(requirement_lines("a==1 --hash=sha256:00\n").is_err());
        assert!(requirement_lines("# nothing\n").is_err());
    }

    #[test]
    fn the_repository_pins_airflow_2_11_2() {
        let pins = requirement_lines(REQUIREMENTS).expect("the file parses");
        assert_eq!(airflow_version(&pins), Some("2.11.2"));
        assert!(pins.len() > 100, "the full resolved set");
        assert!(pins.iter().all(|pin| pin.contains("==")), "{pins:?}");
    }

    #[test]
    fn the_environment_serves_the_test_dags_from_the_venv() {
        let env = airflow_env(
            Path::new("/t/airflow-venv/bin"),
            Path::new("/t/airflow-test/home"),
            Path::new("/repo/tests/airflow/dags"),
            40123,
            "postgresql+psycopg2://postgres@127.0.0.1:5432/reefguide_airflow_7",
            Some("/usr/bin:/bin".into()),
        );
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.to_string_lossy().into_owned())
        };
        assert_eq!(
            get("PATH").as_deref(),
            Some("/t/airflow-venv/bin:/usr/bin:/bin")
        );
        assert_eq!(get("AIRFLOW_HOME").as_deref(), Some("/t/airflow-test/home"));
        assert_eq!(
            get("AIRFLOW__CORE__DAGS_FOLDER").as_deref(),
            Some("/repo/tests/airflow/dags")
        );
        assert_eq!(
            get("AIRFLOW__WEBSERVER__WEB_SERVER_PORT").as_deref(),
            Some("40123")
        );
        assert_eq!(
            get("AIRFLOW__WEBSERVER__WEB_SERVER_HOST").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            get("AIRFLOW__API__AUTH_BACKENDS").as_deref(),
            Some("airflow.api.auth.backend.basic_auth")
        );
        assert_eq!(
            get("AIRFLOW__CORE__LOAD_EXAMPLES").as_deref(),
            Some("False")
        );
        assert_eq!(
            get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN").as_deref(),
            Some("postgresql+psycopg2://postgres@127.0.0.1:5432/reefguide_airflow_7")
        );
        assert_eq!(
            get("AIRFLOW__CORE__EXECUTOR").as_deref(),
            Some("LocalExecutor"),
            "tasks side by side: one test's long task holds up no other"
        );
        assert_eq!(get("AIRFLOW__CORE__PARALLELISM").as_deref(), Some("8"));
        assert_eq!(
            get("AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG").as_deref(),
            Some("16")
        );
        assert_eq!(
            get("AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC").as_deref(),
            Some("1")
        );
        assert_eq!(
            get("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"),
            None,
            "DAGs start paused (the default): the adapter under test unpauses them"
        );
        let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "no variable twice: {names:?}");
        let without_path = airflow_env(
            Path::new("/v/bin"),
            Path::new("/h"),
            Path::new("/d"),
            1,
            "postgresql+psycopg2:///x",
            None,
        );
        assert!(without_path.contains(&("PATH".to_owned(), "/v/bin".into())));
    }

    #[test]
    fn the_metadata_database_is_on_the_admin_urls_server() {
        let url = |admin: &str| {
            database_url(admin, "postgresql+psycopg2", "reefguide_airflow_7").expect("a URL")
        };
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgresql+psycopg2://postgres@127.0.0.1:5432/reefguide_airflow_7"
        );
        assert_eq!(
            url("postgresql://u:p%40ss@db.example/x?sslmode=disable"),
            "postgresql+psycopg2://u:p%40ss@db.example/reefguide_airflow_7?sslmode=disable"
        );
        assert_eq!(
            url("postgres://u@h:6543"),
            "postgresql+psycopg2://u@h:6543/reefguide_airflow_7"
        );
        assert_eq!(
            url("postgres:///x?host=/run/postgresql"),
            "postgresql+psycopg2:///reefguide_airflow_7?host=/run/postgresql"
        );
        assert!(database_url("nonsense", "postgresql", "x").is_err());
    }

    #[test]
    fn leftovers_are_the_databases_of_gone_xtasks() {
        let running = |pid: u32| match pid {
            7 => Some("xtask\n".to_owned()),
            8 => Some("bash\n".to_owned()),
            _ => None,
        };
        assert!(!is_leftover_given("reefguide_airflow_7", running), "alive");
        assert!(
            is_leftover_given("reefguide_airflow_8", running),
            "the pid is another program's now"
        );
        assert!(is_leftover_given("reefguide_airflow_9", running), "gone");
        assert!(
            !is_leftover_given("reefguide_test_00ff", running),
            "the tests' databases are not ours"
        );
        assert!(!is_leftover_given("reefguide_airflow_x", running));
        assert!(is_leftover(&format!("{DATABASE_PREFIX}{}", u32::MAX)));
    }

    #[test]
    fn the_dag_ids_are_the_python_files() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for file in ["b_dag.py", "a_dag.py", "README.md"] {
            fs::write(dir.path().join(file), "").expect("a file");
        }
        fs::create_dir(dir.path().join("__pycache__")).expect("a directory");
        assert_eq!(dag_ids(dir.path()).expect("ids"), ["a_dag", "b_dag"]);
        fs::remove_file(dir.path().join("a_dag.py")).expect("removed");
        fs::remove_file(dir.path().join("b_dag.py")).expect("removed");
        assert!(
            dag_ids(dir.path()).is_err(),
            "an empty DAG folder is a mistake"
        );
        let repo = dag_ids(&workspace_root().join(DAGS_DIR)).expect("the test DAGs");
        assert_eq!(
            repo,
            ["reefguide_echo", "reefguide_fail", "reefguide_sleep"]
        );
    }

    #[test]
    fn readiness_needs_health_and_every_dag() {
        let healthy = serde_json::json!({
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-01-01T00:00:00"}
        });
        assert_eq!(unhealthy(&healthy), None);
        let starting = serde_json::json!({
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": null}
        });
        assert_eq!(
            unhealthy(&starting).as_deref(),
            Some("metadatabase healthy, scheduler unhealthy")
        );
        assert!(unhealthy(&serde_json::json!({})).is_some());

        let expected = ["a".to_owned(), "b".to_owned()];
        let dags =
            serde_json::json!({"dags": [{"dag_id": "b"}, {"dag_id": "c"}], "total_entries": 2});
        assert_eq!(missing_dags(&dags, &expected), ["a"]);
        let all = serde_json::json!({"dags": [{"dag_id": "a"}, {"dag_id": "b"}]});
        assert!(missing_dags(&all, &expected).is_empty());

        assert_eq!(
            import_errors(&serde_json::json!({"import_errors": []})),
            None
        );
        let broken = serde_json::json!({"import_errors": [{
            "filename": "/d/x.py",
            "stack_trace": "Traceback...\n  line 1\nNameError: name 'y' is not defined\n"
        }]});
        assert_eq!(
            import_errors(&broken).as_deref(),
            Some("/d/x.py: NameError: name 'y' is not defined")
        );
    }

    #[test]
    fn passwords_are_fresh_letters_and_digits() {
        let (a, b) = (password().expect("one"), password().expect("another"));
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    /// The supervisor adopts what its command left behind in another session (as Airflow's task
    /// runner does: its own process group, its parent gone), and kills and reaps it when its
    /// standard input closes.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_supervisor_leaves_no_process_behind() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pid_file = dir.path().join("pid");
        let script = format!(
            "(setsid sleep 300 & echo $! > {}); exec sleep 300",
            pid_file.display()
        );
        let launcher = Launcher::new("python3".into(), "sh".into(), Vec::new(), dir.path())
            .expect("the supervisor's script is written");
        let mut process = launcher
            .spawn(&["-c", &script], &dir.path().join("log"))
            .expect("the supervisor starts");
        let supervisor = process.child.id();
        let parent_of = |pid: u32| -> Option<u32> {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let orphan: u32 = loop {
            let pid = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse().ok());
            if let Some(pid) = pid
                && parent_of(pid) == Some(supervisor)
            {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "no orphan adopted by the supervisor"
            );
            thread::sleep(Duration::from_millis(20));
        };
        assert!(process.exited().expect("checkable").is_none());
        drop(process);
        assert_eq!(
            parent_of(orphan),
            None,
            "the orphan is killed and reaped, not left a zombie"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_supervisor_passes_the_command_status_on() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let launcher = Launcher::new("python3".into(), "sh".into(), Vec::new(), dir.path())
            .expect("the supervisor's script is written");
        let log = dir.path().join("log");
        launcher
            .run(&["-c", "echo fine"], &log)
            .expect("a command that succeeds");
        let error = launcher
            .run(&["-c", "exit 3"], &log)
            .expect_err("a command that fails");
        assert!(error.to_string().contains("exit status: 3"), "{error}");
        let log = fs::read_to_string(&log).expect("the log");
        assert!(log.contains("# sh -c echo fine\nfine\n"), "{log}");
    }
}
