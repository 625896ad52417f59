//! `cargo xtask rolling-restart`: two replicas of the server on one Postgres database, behind a
//! load balancer that, like an ALB, routes only to replicas whose readiness (`/api/health`)
//! answers 200. Submitters and `reefguide worker` processes work through it while each replica
//! in turn gets SIGTERM, must exit 0, and starts again. No request may get a 5xx or fail to
//! reach a replica, and every job submitted must succeed exactly once.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context as _, bail, ensure};
use sea_orm::Database;
use serde_json::json;

use crate::bench::api;
use crate::bench::throughput::check_queue;
use crate::server::{Profile, ScratchDatabase, Server, ServerOptions, build_binary};
use crate::workers::{WorkerPool, Workers};

/// The replicas' ADMIN account (it submits the jobs).
const ADMIN: (&str, &str) = ("rolling-admin@reefguide.test", "rolling-admin-password");
/// The workers' account.
const WORKER: (&str, &str) = ("rolling-worker@reefguide.test", "rolling-worker-password");
/// Tasks submitting jobs without pause.
const SUBMITTERS: usize = 4;
/// Seconds a replica keeps serving after SIGTERM (readiness 503), as `shutdown_delay_seconds`.
const SHUTDOWN_DELAY_SECONDS: &str = "2";
/// How often the balancer checks each replica's readiness.
const HEALTH_EVERY: Duration = Duration::from_millis(200);
/// Load before the first restart, and between and after restarts.
const SETTLE: Duration = Duration::from_secs(3);
/// How long a replica may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs the check on a scratch database of the Postgres server at `admin_url`.
pub fn run_check(admin_url: &str) -> anyhow::Result<()> {
    let binary = build_binary(Profile::Debug)?;
    let logs = crate::target_dir().join("rolling-restart");
    if logs.exists() {
        std::fs::remove_dir_all(&logs)
            .with_context(|| format!("cannot clear {}", logs.display()))?;
    }
    std::fs::create_dir_all(logs.join("data"))?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = ScratchDatabase::create(admin_url, "rolling").await?;
        let result = scenario(&binary, &database.url, &logs).await;
        database.drop_now().await;
        result
    })
}

async fn scenario(binary: &Path, database_url: &str, logs: &Path) -> anyhow::Result<()> {
    let balancer = Balancer::bind()?;
    // One public URL (the balancer's) and one data directory (keys, result files) for both
    // replicas, as a shared file system would give them.
    let data = logs.join("data").to_string_lossy().into_owned();
    let env = [
        ("REEFGUIDE_PUBLIC_URL", balancer.url.as_str()),
        ("REEFGUIDE_DATA_DIR", data.as_str()),
        ("REEFGUIDE_SHUTDOWN_DELAY_SECONDS", SHUTDOWN_DELAY_SECONDS),
        ("WORKER_USERNAME", WORKER.0),
        ("WORKER_PASSWORD", WORKER.1),
    ];
    let options = ServerOptions {
        binary,
        admin: ADMIN,
        env: &env,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(Server::start(&options, database_url).await?);
    }
    let outcome = drive(&balancer, &mut replicas, binary, database_url, logs).await;
    for (index, replica) in replicas.iter().enumerate() {
        let kept = logs.join(format!("replica-{index}.log"));
        if let Err(error) = std::fs::copy(replica.log_path(), &kept) {
            eprintln!("xtask: rolling-restart: could not keep a replica's log: {error}");
        }
    }
    balancer.stop().await;
    outcome
}

async fn drive(
    balancer: &Balancer,
    replicas: &mut [Server],
    binary: &Path,
    database_url: &str,
    logs: &Path,
) -> anyhow::Result<()> {
    balancer.route_to(
        replicas
            .iter()
            .map(|replica| replica.base.clone())
            .collect(),
    );
    balancer.wait_until_ready(replicas.len()).await?;
    let client = reqwest::Client::new();
    let token = api::login(&client, &balancer.url, ADMIN.0, ADMIN.1).await?;
    let pool = WorkerPool {
        processes: 2,
        concurrency: 4,
        account: WORKER,
    };
    let mut workers = Workers::start(binary, &balancer.url, logs, &pool)?;
    let load = Load::start(&balancer.url, &token);
    let started = Instant::now();
    tokio::time::sleep(SETTLE).await;
    for (index, replica) in replicas.iter_mut().enumerate() {
        replica
            .terminate(EXIT_TIMEOUT)
            .await
            .with_context(|| format!("replica {index}"))?;
        eprintln!(
            "xtask: rolling-restart: replica {index} drained and exited 0 ({:.1} s in)",
            started.elapsed().as_secs_f64()
        );
        replica.restart().await?;
        balancer.wait_until_ready(2).await?;
        tokio::time::sleep(SETTLE).await;
    }
    let tally = load.stop().await;
    let db = Database::connect(database_url).await?;
    let submitted = tally.submitted.load(Ordering::SeqCst);
    let finished = wait_for_queue(&db, submitted).await;
    workers.stop();
    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let proxied = balancer.state.proxied.load(Ordering::SeqCst);
    let upstream = balancer
        .state
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    eprintln!(
        "xtask: rolling-restart: {submitted} jobs submitted, {proxied} requests through the \
         balancer in {:.1} s; logs in {}",
        started.elapsed().as_secs_f64(),
        logs.display()
    );
    ensure!(failures.is_empty(), "submissions failed: {failures:?}");
    ensure!(
        upstream.is_empty(),
        "requests through the balancer failed (workers' included): {upstream:?}"
    );
    ensure!(submitted > 0, "no job was submitted");
    let queue = finished?;
    ensure!(
        queue.duplicate_jobs == 0 && queue.extra_results == 0,
        "jobs done more than once: {queue:?}"
    );
    Ok(())
}

/// Waits until every one of `submitted` jobs succeeded, and returns the final queue check.
async fn wait_for_queue(
    db: &sea_orm::DatabaseConnection,
    submitted: u64,
) -> anyhow::Result<crate::bench::throughput::QueueCheck> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let queue = check_queue(db).await?;
        let succeeded = u64::try_from(queue.succeeded).unwrap_or(0);
        if succeeded == submitted && queue.unfinished == 0 {
            return Ok(queue);
        }
        if Instant::now() > deadline {
            bail!("only {succeeded} of {submitted} jobs succeeded in time: {queue:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Submitters posting distinct TEST jobs until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the submitters saw.
#[derive(Default)]
struct Tally {
    submitted: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Load {
    fn start(base: &str, token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let next_id = Arc::new(AtomicU64::new(0));
        let tasks = (0..SUBMITTERS)
            .map(|_| {
                let (stop, tally, next_id) = (stop.clone(), tally.clone(), next_id.clone());
                let (url, token) = (format!("{base}/api/jobs"), token.to_owned());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::SeqCst) {
                        let id = next_id.fetch_add(1, Ordering::SeqCst);
                        let job = json!({"type": "TEST", "inputPayload": {"id": id}});
                        let sent = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&job)
                            .send()
                            .await;
                        match sent {
                            Ok(reply) if reply.status().is_success() => {
                                tally.submitted.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(reply) => tally.failed(format!("job {id}: {}", reply.status())),
                            Err(error) => tally.failed(format!("job {id}: {error}")),
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Self { stop, tally, tasks }
    }

    async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
        self.tally
    }
}

impl Tally {
    fn failed(&self, what: String) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }
}

/// A reverse proxy over the replicas that routes each request, round robin, to a replica whose
/// last readiness check answered 200.
struct Balancer {
    url: String,
    state: Arc<BalancerState>,
    handle: actix_web::dev::ServerHandle,
    checker: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct BalancerState {
    backends: Mutex<Vec<Backend>>,
    next: AtomicUsize,
    proxied: AtomicU64,
    /// Every 5xx or unreachable replica a request met.
    failures: Mutex<Vec<String>>,
}

struct Backend {
    base: String,
    ready: Arc<AtomicBool>,
}

impl Balancer {
    /// Listens on a free loopback port (no replica yet: every request answers 503).
    fn bind() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(BalancerState::default());
        let data = web::Data::from(state.clone());
        let client = web::Data::new(
            reqwest::Client::builder()
                // A new connection per request: a replica that restarted on the same port
                // leaves no stale pooled connection behind.
                .pool_max_idle_per_host(0)
                .build()?,
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(client.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(forward))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let checker = tokio::spawn(check_readiness(state.clone()));
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
            handle,
            checker,
        })
    }

    fn route_to(&self, bases: Vec<String>) {
        *self
            .state
            .backends
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = bases
            .into_iter()
            .map(|base| Backend {
                base,
                ready: Arc::new(AtomicBool::new(false)),
            })
            .collect();
    }

    /// Waits until `count` replicas are in rotation.
    async fn wait_until_ready(&self, count: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state.ready().len() < count {
            if Instant::now() > deadline {
                bail!("the balancer never saw {count} ready replicas");
            }
            tokio::time::sleep(HEALTH_EVERY).await;
        }
        Ok(())
    }

    async fn stop(self) {
        self.checker.abort();
        self.handle.stop(false).await;
    }
}

impl BalancerState {
    /// The base URLs of the replicas in rotation.
    fn ready(&self) -> Vec<String> {
        self.backends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|backend| backend.ready.load(Ordering::SeqCst))
            .map(|backend| backend.base.clone())
            .collect()
    }

    fn failed(&self, what: String) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }
}

/// Checks every replica's readiness every [`HEALTH_EVERY`], taking it out of rotation at the
/// first answer that is not 200 (a load balancer's unhealthy threshold of one).
async fn check_readiness(state: Arc<BalancerState>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_or_default();
    loop {
        let backends: Vec<(String, Arc<AtomicBool>)> = state
            .backends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|backend| (backend.base.clone(), backend.ready.clone()))
            .collect();
        for (base, ready) in backends {
            let healthy = client
                .get(format!("{base}/api/health"))
                .send()
                .await
                .is_ok_and(|reply| reply.status().is_success());
            ready.store(healthy, Ordering::SeqCst);
        }
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}

/// Forwards one request to the next replica in rotation.
async fn forward(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<BalancerState>,
    client: web::Data<reqwest::Client>,
) -> HttpResponse {
    let ready = state.ready();
    if ready.is_empty() {
        state.failed(format!(
            "{} {}: no replica ready",
            request.method(),
            request.uri()
        ));
        return HttpResponse::ServiceUnavailable().finish();
    }
    let base = &ready[state.next.fetch_add(1, Ordering::SeqCst) % ready.len()];
    state.proxied.fetch_add(1, Ordering::SeqCst);
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut outgoing = client.request(method, format!("{base}{}", request.uri()));
    for (name, value) in request.headers() {
        if !matches!(name.as_str(), "host" | "connection" | "content-length") {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let reply = match outgoing.body(body).send().await {
        Ok(reply) => reply,
        Err(error) => {
            state.failed(format!(
                "{} {} via {base}: {error}",
                request.method(),
                request.uri()
            ));
            return HttpResponse::BadGateway().finish();
        }
    };
    let status = actix_web::http::StatusCode::from_u16(reply.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    if status.is_server_error() {
        state.failed(format!(
            "{} {} via {base}: {status}",
            request.method(),
            request.uri()
        ));
    }
    let mut answer = HttpResponse::build(status);
    for (name, value) in reply.headers() {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            answer.append_header((name.as_str(), value.as_bytes()));
        }
    }
    match reply.bytes().await {
        Ok(bytes) => answer.body(bytes),
        Err(error) => {
            state.failed(format!(
                "{} {} via {base}: body {error}",
                request.method(),
                request.uri()
            ));
            HttpResponse::BadGateway().finish()
        }
    }
}
