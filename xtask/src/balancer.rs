//! A load balancer for the checks that run several replicas of the server: like an ALB, it
//! routes each request round robin to a replica whose readiness (`/api/health`) answered 200 at
//! its last check, and counts every 5xx or unreachable replica a request met.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::bail;

/// How often the balancer checks each replica's readiness.
pub const HEALTH_EVERY: Duration = Duration::from_millis(200);

/// How the balancer connects to replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// A new connection per request (replicas restarted on the same port leave no stale
    /// connection behind).
    FreshConnections,
    /// Connections kept and reused (for measurements).
    Pooled,
}

/// A reverse proxy over the replicas that routes each request, round robin, to a replica whose
/// last readiness check answered 200.
pub struct Balancer {
    /// Its base URL.
    pub url: String,
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
    pub fn bind(upstream: Upstream) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(BalancerState::default());
        let data = web::Data::from(state.clone());
        let client = match upstream {
            Upstream::FreshConnections => reqwest::Client::builder().pool_max_idle_per_host(0),
            // Idle connections are dropped well before the server's keep-alive (5 s) closes
            // them, so that no request goes out on a connection the server is closing.
            Upstream::Pooled => {
                reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2))
            }
        };
        let client = web::Data::new(client.build()?);
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

    pub fn route_to(&self, bases: Vec<String>) {
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
    pub async fn wait_until_ready(&self, count: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state.ready().len() < count {
            if Instant::now() > deadline {
                bail!("the balancer never saw {count} ready replicas");
            }
            tokio::time::sleep(HEALTH_EVERY).await;
        }
        Ok(())
    }

    pub async fn stop(self) {
        self.checker.abort();
        self.handle.stop(false).await;
    }

    /// Requests forwarded so far.
    pub fn proxied(&self) -> u64 {
        self.state.proxied.load(Ordering::SeqCst)
    }

    /// Every 5xx or unreachable replica a request met so far.
    pub fn failures(&self) -> Vec<String> {
        self.state
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
