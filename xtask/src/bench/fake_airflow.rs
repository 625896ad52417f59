//! A fake Apache Airflow for `cargo xtask bench workflows`: the parts of Airflow 2's stable REST
//! API that the server's adapter calls (`crates/adapters-airflow/src/protocol.rs`), in memory and
//! fast, counting every request by route.
//!
//! - A triggered run is `running` from its trigger and `success` [`FakeAirflow::start`]'s
//!   `run_time` later, as if a scheduler had run it; its last change (what `updated_at_gte`
//!   filters on) is then that instant. A trigger repeating a `dag_run_id` is answered 409, a
//!   `PATCH` of a run's `state` sets it (a cancel).
//! - Listings (`dags`, `dagRuns`, `taskInstances`) page with `limit` (at most 100, Airflow's
//!   default `maximum_page_limit`) and `offset` and say `total_entries`; runs are listed in id
//!   order (`order_by=id`, or `-id`).
//! - Every route but `/health` needs the basic-auth credentials [`USERNAME`] / [`PASSWORD`]
//!   (401 otherwise); unknown DAGs and runs are 404, with Airflow's problem JSON.
//! - Every request is logged with its instant, route and status, so that a window of the log
//!   ([`FakeAirflow::window`]) says what the server asked, by route, and in how many dispatcher
//!   cycles: each cycle's sync reads the first page of each DAG's changed runs once.
//!
//! It runs on its own actix-web worker thread, beside the load generator's tokio runtime.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The basic-auth user.
pub const USERNAME: &str = "airflow";
/// Its password.
pub const PASSWORD: &str = "airflow";
/// `Authorization` for [`USERNAME`]:[`PASSWORD`] (`airflow:airflow` in base64).
const BASIC_AUTH: &str = "Basic YWlyZmxvdzphaXJmbG93";
/// Largest page (Airflow's default `maximum_page_limit`); also the default `limit`.
const PAGE_LIMIT: usize = 100;

/// A route of the API, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Route {
    /// `GET /health`.
    Health,
    /// `GET /dags`.
    ListDags,
    /// `PATCH /dags/{dag}` (unpause).
    PatchDag,
    /// `POST /dags/{dag}/dagRuns` (trigger).
    Trigger,
    /// `GET /dags/{dag}/dagRuns` (the sync's listing of changed runs).
    ListRuns,
    /// `GET /dags/{dag}/dagRuns/{run}` (one run, checked by id).
    GetRun,
    /// `GET /dags/{dag}/dagRuns/{run}/taskInstances` (a failed run's tasks).
    TaskInstances,
    /// `PATCH /dags/{dag}/dagRuns/{run}` (cancel).
    PatchRun,
    /// Anything else (answered 404).
    Unknown,
}

impl Route {
    /// The route as a table header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "GET /health",
            Self::ListDags => "GET /dags",
            Self::PatchDag => "PATCH /dags/{dag}",
            Self::Trigger => "POST …/dagRuns",
            Self::ListRuns => "GET …/dagRuns",
            Self::GetRun => "GET …/dagRuns/{run}",
            Self::TaskInstances => "GET …/taskInstances",
            Self::PatchRun => "PATCH …/dagRuns/{run}",
            Self::Unknown => "other",
        }
    }
}

/// One logged request.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// When it was answered.
    at: Instant,
    route: Route,
    /// A run listing's first page (`offset` 0): the start of a sync.
    first_page: bool,
    status: u16,
}

/// What the server asked in a window of the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Window {
    /// Seconds from the window's start to its last request.
    pub seconds: f64,
    /// Requests in all.
    pub requests: u64,
    /// Requests by route ([`Route::name`]).
    pub by_route: BTreeMap<&'static str, u64>,
    /// Syncs seen: first pages of run listings (one per DAG and dispatcher cycle).
    pub sync_cycles: u64,
    /// Run-listing pages per sync: the largest.
    pub max_list_pages_per_cycle: u64,
    /// Answers 409 (a repeated `dag_run_id`).
    pub conflicts: u64,
    /// Other non-2xx answers.
    pub errors: u64,
}

impl Window {
    /// Requests per dispatcher cycle (0 when no cycle was seen).
    pub fn per_cycle(&self) -> f64 {
        per(self.requests, self.sync_cycles)
    }

    /// Requests of `route` per dispatcher cycle.
    pub fn route_per_cycle(&self, route: Route) -> f64 {
        per(self.route(route), self.sync_cycles)
    }

    /// Requests of `route`.
    pub fn route(&self, route: Route) -> u64 {
        self.by_route.get(route.name()).copied().unwrap_or(0)
    }
}

fn per(count: u64, cycles: u64) -> f64 {
    if cycles == 0 {
        0.0
    } else {
        count as f64 / cycles as f64
    }
}

/// One dispatcher cycle as Airflow saw it: its triggers, then its sync's pages (a cycle's
/// other work, in storage, is between them and after them). Instants are seconds from the
/// start of the window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleTrace {
    /// Triggers.
    pub triggers: u64,
    /// The first trigger.
    pub first_trigger_s: Option<f64>,
    /// The last trigger.
    pub last_trigger_s: Option<f64>,
    /// The sync's first page.
    pub sync_s: Option<f64>,
    /// The sync's last page.
    pub sync_end_s: Option<f64>,
    /// Pages of changed runs read.
    pub list_pages: u64,
    /// Other requests.
    pub other: u64,
}

/// One run.
#[derive(Debug)]
struct Run {
    dag_run_id: String,
    triggered: DateTime<Utc>,
    conf: Value,
    /// A state set through `PATCH`, and when.
    set: Option<(String, DateTime<Utc>)>,
}

/// A run's state at one instant.
struct RunView<'a> {
    state: &'a str,
    end_date: Option<DateTime<Utc>>,
    /// Its last change: what `updated_at_gte` compares.
    updated: DateTime<Utc>,
}

impl Run {
    fn view(&self, now: DateTime<Utc>, run_time: chrono::Duration) -> RunView<'_> {
        if let Some((state, at)) = &self.set {
            let ended = matches!(state.as_str(), "success" | "failed");
            return RunView {
                state,
                end_date: ended.then_some(*at),
                updated: *at,
            };
        }
        let done = self.triggered + run_time;
        if now >= done {
            RunView {
                state: "success",
                end_date: Some(done),
                updated: done,
            }
        } else {
            RunView {
                state: "running",
                end_date: None,
                updated: self.triggered,
            }
        }
    }

    /// The run as Airflow 2 answers it.
    fn json(&self, dag_id: &str, view: &RunView<'_>) -> Value {
        let triggered = time(self.triggered);
        json!({
            "dag_run_id": self.dag_run_id,
            "dag_id": dag_id,
            "logical_date": triggered,
            "execution_date": triggered,
            "start_date": triggered,
            "end_date": view.end_date.map(time),
            "data_interval_start": triggered,
            "data_interval_end": triggered,
            "last_scheduling_decision": time(view.updated),
            "run_type": "manual",
            "state": view.state,
            "external_trigger": true,
            "conf": self.conf,
            "note": null,
        })
    }
}

/// An instant as Airflow writes it (`2025-01-01T00:00:00.123456+00:00`).
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// One DAG and its runs.
#[derive(Debug)]
struct Dag {
    paused: bool,
    /// In trigger order, which is Airflow's id order (what `order_by=id` sorts on).
    runs: Vec<Run>,
    /// Index in `runs` by `dag_run_id`.
    by_run_id: HashMap<String, usize>,
}

impl Dag {
    fn json(&self, dag_id: &str) -> Value {
        json!({
            "dag_id": dag_id,
            "description": format!("the benchmark's fake DAG {dag_id}"),
            "is_paused": self.paused,
            "is_active": true,
            "fileloc": "/fake/dags.py",
            "owners": ["xtask"],
            "tags": [],
        })
    }
}

/// What the handlers share.
#[derive(Debug)]
struct Shared {
    dags: Mutex<BTreeMap<String, Dag>>,
    log: Mutex<Vec<Hit>>,
    run_time: chrono::Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Logs the answer to one request and returns it.
    fn answer(&self, route: Route, first_page: bool, response: HttpResponse) -> HttpResponse {
        lock(&self.log).push(Hit {
            at: Instant::now(),
            route,
            first_page,
            status: response.status().as_u16(),
        });
        response
    }
}

/// The fake Airflow, serving until [`FakeAirflow::stop`] (or dropped with the process).
pub struct FakeAirflow {
    /// `http://127.0.0.1:<port>` (the adapter adds `/api/v1`).
    pub url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

/// A position in the request log.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    index: usize,
    at: Instant,
}

impl FakeAirflow {
    /// Starts serving `dag_ids` (paused, no runs) on a free loopback port; a triggered run
    /// succeeds `run_time` after its trigger.
    pub fn start(dag_ids: &[&str], run_time: std::time::Duration) -> anyhow::Result<Self> {
        let dags = dag_ids
            .iter()
            .map(|dag_id| {
                let dag = Dag {
                    paused: true,
                    runs: Vec::new(),
                    by_run_id: HashMap::new(),
                };
                ((*dag_id).to_owned(), dag)
            })
            .collect();
        let shared = Arc::new(Shared {
            dags: Mutex::new(dags),
            log: Mutex::new(Vec::new()),
            run_time: chrono::Duration::from_std(run_time)?,
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/api/v1/health", web::get().to(health))
                .route("/api/v1/dags", web::get().to(list_dags))
                .route("/api/v1/dags/{dag}", web::patch().to(patch_dag))
                .route("/api/v1/dags/{dag}/dagRuns", web::get().to(list_runs))
                .route("/api/v1/dags/{dag}/dagRuns", web::post().to(trigger))
                .route("/api/v1/dags/{dag}/dagRuns/{run}", web::get().to(get_run))
                .route(
                    "/api/v1/dags/{dag}/dagRuns/{run}",
                    web::patch().to(patch_run),
                )
                .route(
                    "/api/v1/dags/{dag}/dagRuns/{run}/taskInstances",
                    web::get().to(task_instances),
                )
                .default_service(web::to(unknown))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            handle,
        })
    }

    /// The current end of the request log.
    pub fn mark(&self) -> Mark {
        Mark {
            index: lock(&self.shared.log).len(),
            at: Instant::now(),
        }
    }

    /// Syncs (first pages of run listings) since `mark`.
    pub fn syncs_since(&self, mark: Mark) -> u64 {
        lock(&self.shared.log)[mark.index..]
            .iter()
            .filter(|hit| hit.first_page)
            .count() as u64
    }

    /// What was asked from `from` to `to`.
    pub fn window(&self, from: Mark, to: Mark) -> Window {
        let log = lock(&self.shared.log);
        let hits = &log[from.index..to.index];
        let mut window = Window {
            seconds: to.at.duration_since(from.at).as_secs_f64(),
            requests: hits.len() as u64,
            ..Window::default()
        };
        let mut pages_this_cycle = 0_u64;
        for hit in hits {
            *window.by_route.entry(hit.route.name()).or_default() += 1;
            if hit.first_page {
                window.sync_cycles += 1;
                pages_this_cycle = 0;
            }
            if hit.route == Route::ListRuns {
                pages_this_cycle += 1;
                window.max_list_pages_per_cycle =
                    window.max_list_pages_per_cycle.max(pages_this_cycle);
            }
            match hit.status {
                200..=299 => {}
                409 => window.conflicts += 1,
                _ => window.errors += 1,
            }
        }
        window
    }

    /// The dispatcher cycles from `from` to `to` (see [`CycleTrace`]).
    pub fn cycles(&self, from: Mark, to: Mark) -> Vec<CycleTrace> {
        let log = lock(&self.shared.log);
        let mut cycles = Vec::new();
        let mut cycle = CycleTrace::default();
        for hit in &log[from.index..to.index] {
            let at = hit.at.duration_since(from.at).as_secs_f64();
            let starts_cycle = match hit.route {
                Route::Trigger => true,
                Route::ListRuns => hit.first_page,
                _ => false,
            };
            if starts_cycle && cycle.sync_s.is_some() {
                cycles.push(std::mem::take(&mut cycle));
            }
            match hit.route {
                Route::Trigger => {
                    cycle.triggers += 1;
                    cycle.first_trigger_s.get_or_insert(at);
                    cycle.last_trigger_s = Some(at);
                }
                Route::ListRuns => {
                    if hit.first_page {
                        cycle.sync_s = Some(at);
                    }
                    cycle.list_pages += 1;
                    cycle.sync_end_s = Some(at);
                }
                _ => cycle.other += 1,
            }
        }
        if cycle.triggers + cycle.list_pages + cycle.other > 0 {
            cycles.push(cycle);
        }
        cycles
    }

    /// Seconds from `from` to the first and to the last request of `route` before `to` (zeros
    /// when there was none).
    pub fn first_and_last(&self, from: Mark, to: Mark, route: Route) -> (f64, f64) {
        let log = lock(&self.shared.log);
        let mut hits = log[from.index..to.index]
            .iter()
            .filter(|hit| hit.route == route)
            .map(|hit| hit.at.duration_since(from.at).as_secs_f64());
        let first = hits.next().unwrap_or(0.0);
        (first, hits.next_back().unwrap_or(first))
    }

    /// Runs triggered on `dag_id` so far.
    pub fn runs(&self, dag_id: &str) -> usize {
        lock(&self.shared.dags)
            .get(dag_id)
            .map_or(0, |dag| dag.runs.len())
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Airflow's problem answer.
fn problem(status: u16, title: &str, detail: String) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code)
        .content_type("application/problem+json")
        .json(json!({
            "detail": detail,
            "status": status,
            "title": title,
            "type": format!(
                "https://airflow.apache.org/docs/apache-airflow/2.11.0/stable-rest-api-ref.html#section/Errors/{}",
                title.replace(' ', "")
            ),
        }))
}

/// `None` when the request carries the credentials, else the 401.
fn unauthorised(request: &HttpRequest) -> Option<HttpResponse> {
    let header = request.headers().get("authorization");
    (header.and_then(|value| value.to_str().ok()) != Some(BASIC_AUTH)).then(|| {
        problem(
            401,
            "Unauthorized",
            "No credentials were provided or they were wrong".into(),
        )
    })
}

fn dag_missing(dag_id: &str) -> HttpResponse {
    problem(
        404,
        "DAG not found",
        format!("DAG with dag_id: '{dag_id}' not found"),
    )
}

fn run_missing(dag_id: &str, run_id: &str) -> HttpResponse {
    problem(
        404,
        "DAGRun not found",
        format!("DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found"),
    )
}

fn bad_request(detail: String) -> HttpResponse {
    problem(400, "Bad Request", detail)
}

/// A path parameter.
fn param<'a>(request: &'a HttpRequest, name: &str) -> &'a str {
    request.match_info().get(name).unwrap_or_default()
}

/// The paging and filter parameters of a listing.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    order_by: Option<String>,
    updated_at_gte: Option<String>,
}

impl ListQuery {
    /// The query of `request`, or why it is not one (the detail of a 400).
    fn parse(request: &HttpRequest) -> Result<Self, String> {
        web::Query::<Self>::from_query(request.query_string())
            .map(web::Query::into_inner)
            .map_err(|error| error.to_string())
    }

    /// The page of `items` asked for.
    fn page<T>(&self, items: Vec<T>) -> (Vec<T>, usize) {
        let total = items.len();
        let limit = self.limit.unwrap_or(PAGE_LIMIT).min(PAGE_LIMIT);
        let page = items
            .into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(limit)
            .collect();
        (page, total)
    }
}

async fn health(state: web::Data<Shared>) -> HttpResponse {
    let now = time(Utc::now());
    let body = json!({
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": now},
        "triggerer": {"status": null, "latest_triggerer_heartbeat": null},
        "dag_processor": {"status": null, "latest_dag_processor_heartbeat": null},
    });
    state.answer(Route::Health, false, HttpResponse::Ok().json(body))
}

async fn list_dags(request: HttpRequest, state: web::Data<Shared>) -> HttpResponse {
    let response = match (unauthorised(&request), ListQuery::parse(&request)) {
        (Some(refused), _) => refused,
        (None, Err(detail)) => bad_request(detail),
        (None, Ok(query)) => {
            let dags: Vec<Value> = lock(&state.dags)
                .iter()
                .map(|(dag_id, dag)| dag.json(dag_id))
                .collect();
            let (dags, total) = query.page(dags);
            HttpResponse::Ok().json(json!({"dags": dags, "total_entries": total}))
        }
    };
    state.answer(Route::ListDags, false, response)
}

async fn patch_dag(
    request: HttpRequest,
    state: web::Data<Shared>,
    body: web::Bytes,
) -> HttpResponse {
    let response = unauthorised(&request).unwrap_or_else(|| {
        let dag_id = param(&request, "dag");
        let patch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(paused) = patch.get("is_paused").and_then(Value::as_bool) else {
            return bad_request("is_paused: a boolean is required".into());
        };
        let mut dags = lock(&state.dags);
        match dags.get_mut(dag_id) {
            Some(dag) => {
                dag.paused = paused;
                HttpResponse::Ok().json(dag.json(dag_id))
            }
            None => dag_missing(dag_id),
        }
    });
    state.answer(Route::PatchDag, false, response)
}

async fn trigger(request: HttpRequest, state: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let response = unauthorised(&request).unwrap_or_else(|| {
        let dag_id = param(&request, "dag");
        let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&body) else {
            return bad_request("the body must be a JSON object".into());
        };
        let conf = fields.remove("conf").unwrap_or_else(|| json!({}));
        if !conf.is_object() {
            return bad_request("conf: an object is required".into());
        }
        let now = Utc::now();
        let dag_run_id = match fields.remove("dag_run_id") {
            Some(Value::String(id)) => id,
            None | Some(Value::Null) => format!("manual__{}", time(now)),
            Some(_) => return bad_request("dag_run_id: a string is required".into()),
        };
        let mut dags = lock(&state.dags);
        let Some(dag) = dags.get_mut(dag_id) else {
            return dag_missing(dag_id);
        };
        if dag.by_run_id.contains_key(&dag_run_id) {
            return problem(
                409,
                "Conflict",
                format!(
                    "DAGRun with DAG ID: '{dag_id}' and DAGRun ID: '{dag_run_id}' already exists"
                ),
            );
        }
        let run = Run {
            dag_run_id: dag_run_id.clone(),
            triggered: now,
            conf,
            set: None,
        };
        let answer = run.json(dag_id, &run.view(now, state.run_time));
        dag.by_run_id.insert(dag_run_id, dag.runs.len());
        dag.runs.push(run);
        HttpResponse::Ok().json(answer)
    });
    state.answer(Route::Trigger, false, response)
}

async fn list_runs(request: HttpRequest, state: web::Data<Shared>) -> HttpResponse {
    let query = ListQuery::parse(&request);
    let first_page = query
        .as_ref()
        .is_ok_and(|query| query.offset.unwrap_or(0) == 0);
    let response = match (unauthorised(&request), query) {
        (Some(refused), _) => refused,
        (None, Err(detail)) => bad_request(detail),
        (None, Ok(query)) => list_runs_page(&state, param(&request, "dag"), &query),
    };
    state.answer(Route::ListRuns, first_page, response)
}

fn list_runs_page(state: &Shared, dag_id: &str, query: &ListQuery) -> HttpResponse {
    let since = match query
        .updated_at_gte
        .as_deref()
        .map(DateTime::parse_from_rfc3339)
    {
        None => None,
        Some(Ok(since)) => Some(since.with_timezone(&Utc)),
        Some(Err(error)) => return bad_request(format!("updated_at_gte: {error}")),
    };
    let descending = match query.order_by.as_deref() {
        None | Some("id") => false,
        Some("-id") => true,
        Some(other) => return bad_request(format!("order_by: {other:?} is not supported here")),
    };
    let now = Utc::now();
    let dags = lock(&state.dags);
    let Some(dag) = dags.get(dag_id) else {
        return dag_missing(dag_id);
    };
    let mut matching: Vec<(&Run, RunView<'_>)> = dag
        .runs
        .iter()
        .map(|run| (run, run.view(now, state.run_time)))
        .filter(|(_, view)| since.is_none_or(|since| view.updated >= since))
        .collect();
    if descending {
        matching.reverse();
    }
    let (page, total) = query.page(matching);
    let runs: Vec<Value> = page
        .iter()
        .map(|(run, view)| run.json(dag_id, view))
        .collect();
    HttpResponse::Ok().json(json!({"dag_runs": runs, "total_entries": total}))
}

/// The run named by the path, through `then`, or the 401/404.
fn with_run(
    request: &HttpRequest,
    state: &Shared,
    then: impl FnOnce(&str, &mut Run) -> HttpResponse,
) -> HttpResponse {
    if let Some(refused) = unauthorised(request) {
        return refused;
    }
    let (dag_id, run_id) = (param(request, "dag"), param(request, "run"));
    let mut dags = lock(&state.dags);
    let Some(dag) = dags.get_mut(dag_id) else {
        return dag_missing(dag_id);
    };
    match dag.by_run_id.get(run_id) {
        Some(&index) => then(dag_id, &mut dag.runs[index]),
        None => run_missing(dag_id, run_id),
    }
}

async fn get_run(request: HttpRequest, state: web::Data<Shared>) -> HttpResponse {
    let response = with_run(&request, &state, |dag_id, run| {
        let view = run.view(Utc::now(), state.run_time);
        HttpResponse::Ok().json(run.json(dag_id, &view))
    });
    state.answer(Route::GetRun, false, response)
}

async fn patch_run(
    request: HttpRequest,
    state: web::Data<Shared>,
    body: web::Bytes,
) -> HttpResponse {
    let patch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let response = with_run(&request, &state, |dag_id, run| {
        let Some(new_state @ ("success" | "failed" | "queued")) =
            patch.get("state").and_then(Value::as_str)
        else {
            return bad_request("state: one of success, failed, queued is required".into());
        };
        let now = Utc::now();
        run.set = Some((new_state.to_owned(), now));
        let view = run.view(now, state.run_time);
        HttpResponse::Ok().json(run.json(dag_id, &view))
    });
    state.answer(Route::PatchRun, false, response)
}

async fn task_instances(request: HttpRequest, state: web::Data<Shared>) -> HttpResponse {
    let query = ListQuery::parse(&request);
    let response = with_run(&request, &state, |dag_id, run| {
        let query = match &query {
            Ok(query) => query,
            Err(detail) => return bad_request(detail.clone()),
        };
        let view = run.view(Utc::now(), state.run_time);
        let task_state = match view.state {
            "success" | "failed" => view.state,
            _ => "running",
        };
        let task = json!({
            "task_id": "work",
            "dag_id": dag_id,
            "dag_run_id": run.dag_run_id,
            "state": task_state,
            "start_date": time(run.triggered),
            "end_date": view.end_date.map(time),
            "try_number": 1,
            "map_index": -1,
        });
        let (tasks, total) = query.page(vec![task]);
        HttpResponse::Ok().json(json!({"task_instances": tasks, "total_entries": total}))
    });
    state.answer(Route::TaskInstances, false, response)
}

async fn unknown(state: web::Data<Shared>) -> HttpResponse {
    let response = problem(404, "Not Found", "no such route in the fake Airflow".into());
    state.answer(Route::Unknown, false, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn started() -> (FakeAirflow, reqwest::Client, String) {
        let fake =
            FakeAirflow::start(&["flow"], std::time::Duration::from_millis(50)).expect("started");
        let api = format!("{}/api/v1", fake.url);
        (fake, reqwest::Client::new(), api)
    }

    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .basic_auth(USERNAME, Some(PASSWORD))
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn runs_succeed_after_their_run_time_and_list_by_last_change() {
        let (fake, client, api) = started().await;
        let before = Utc::now();
        let body = json!({"dag_run_id": "r-1", "conf": {"a": 1}});
        let (status, run) = send(client.post(format!("{api}/dags/flow/dagRuns")).json(&body)).await;
        assert_eq!((status, run["state"].as_str()), (200, Some("running")));
        let (status, _) = send(client.post(format!("{api}/dags/flow/dagRuns")).json(&body)).await;
        assert_eq!(status, 409);
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        let (_, run) = send(client.get(format!("{api}/dags/flow/dagRuns/r-1"))).await;
        assert_eq!(run["state"], "success");
        let list = |since: DateTime<Utc>| {
            client.get(format!("{api}/dags/flow/dagRuns")).query(&[
                (
                    "updated_at_gte",
                    since.to_rfc3339_opts(SecondsFormat::Micros, true),
                ),
                ("order_by", "id".to_owned()),
                ("limit", "100".to_owned()),
                ("offset", "0".to_owned()),
            ])
        };
        let (_, page) = send(list(before)).await;
        assert_eq!(page["total_entries"], 1);
        assert_eq!(page["dag_runs"][0]["dag_run_id"], "r-1");
        let (_, page) = send(list(Utc::now())).await;
        assert_eq!(page["total_entries"], 0);
        let (status, _) = send(client.get(format!("{api}/dags/other/dagRuns/r-1"))).await;
        assert_eq!(status, 404);
        let refused = client
            .get(format!("{api}/dags"))
            .send()
            .await
            .expect("answered");
        assert_eq!(refused.status().as_u16(), 401);
        let window = fake.window(
            Mark {
                index: 0,
                at: Instant::now(),
            },
            fake.mark(),
        );
        assert_eq!(window.requests, 7);
        assert_eq!(window.sync_cycles, 2);
        assert_eq!(window.conflicts, 1);
        assert_eq!(window.route(Route::Trigger), 2);
        fake.stop().await;
    }

    #[tokio::test]
    async fn listings_page() {
        let (fake, client, api) = started().await;
        for n in 0..250 {
            let body = json!({"dag_run_id": format!("r-{n}")});
            send(client.post(format!("{api}/dags/flow/dagRuns")).json(&body)).await;
        }
        let (_, page) = send(
            client
                .get(format!("{api}/dags/flow/dagRuns"))
                .query(&[("limit", "1000"), ("offset", "200")]),
        )
        .await;
        assert_eq!(page["total_entries"], 250);
        assert_eq!(page["dag_runs"].as_array().map(Vec::len), Some(50));
        assert_eq!(page["dag_runs"][0]["dag_run_id"], "r-200");
        assert_eq!(fake.runs("flow"), 250);
        fake.stop().await;
    }
}
