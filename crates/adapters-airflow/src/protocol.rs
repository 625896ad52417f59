//! Airflow 2's stable REST API, once for both transports: the paths, the JSON shapes, the paging
//! and how an answer's status becomes an [`EngineError`].
//!
//! A [`Transport`] only carries one request (method, path below `/api/v1`, query, JSON body) to
//! Airflow and brings back its status and JSON body; everything that knows Airflow is here.
//!
//! Status mapping (checked against Airflow 2.11): 401 and 403 (Airflow's answer to bad basic-auth
//! credentials) → [`EngineError::CredentialsRefused`]; 404 → [`EngineError::NotFound`]; 5xx →
//! [`EngineError::Unavailable`]; any other 4xx → [`EngineError::Refused`], with Airflow's
//! problem `title` and `detail` in the message. An answer that is not the JSON Airflow documents
//! is [`EngineError::Unavailable`] too: like an outage, it leaves jobs as they are, to be retried.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reefguide_domain::workflow::{AirflowRunState, DagId};
use reefguide_ports::workflow_engine::{
    DagInfo, EngineError, EngineHealth, RunStatus, TriggerRequest, Triggered, WorkflowEngine,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Airflow;

/// Items asked for per page (Airflow's default `maximum_page_limit`).
pub(crate) const PAGE_SIZE: u64 = 100;

/// Most pages read for one listing: a guard against an engine whose `total_entries` never stops
/// growing (10 000 pages of 100 items).
const MAX_PAGES: u64 = 10_000;

/// Longest part of an answer's body quoted in an error message.
const MAX_QUOTED: usize = 300;

/// The bytes escaped in a path segment: everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Reads.
    Get,
    /// Creates (a run).
    Post,
    /// Updates (a run's state, a DAG's pause flag).
    Patch,
}

impl Method {
    /// The method's name on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
        }
    }
}

/// One call of the API.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiRequest {
    /// Its method.
    pub(crate) method: Method,
    /// Its path below `/api/v1`, starting with `/`, segments percent-encoded.
    pub(crate) path: String,
    /// Its query parameters (not encoded).
    pub(crate) query: Vec<(&'static str, String)>,
    /// Its JSON body.
    pub(crate) body: Option<Value>,
}

impl ApiRequest {
    /// A request without query or body.
    fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    /// The request with `name=value` added to its query.
    fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// The request with a JSON body.
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl fmt::Display for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)
    }
}

/// Airflow's answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiResponse {
    /// Its HTTP status.
    pub(crate) status: u16,
    /// Its body: the JSON, or the text when it was not JSON, or `null` when empty.
    pub(crate) body: Value,
}

/// Carries one request to Airflow.
#[async_trait]
pub(crate) trait Transport: fmt::Debug + Send + Sync + 'static {
    /// Sends `request` and returns Airflow's answer, whatever its status.
    ///
    /// # Errors
    /// Only when Airflow gave no answer: [`EngineError::Unavailable`] when it could not be
    /// reached or timed out, [`EngineError::CredentialsRefused`] or [`EngineError::Refused`] when
    /// the transport itself (not Airflow) refused the call.
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, EngineError>;
}

/// A path segment, percent-encoded.
fn segment(raw: &str) -> String {
    utf8_percent_encode(raw, SEGMENT).to_string()
}

/// `/dags/{dag_id}`.
fn dag_path(dag_id: &DagId) -> String {
    format!("/dags/{}", segment(dag_id.as_str()))
}

/// `/dags/{dag_id}/dagRuns`.
fn runs_path(dag_id: &DagId) -> String {
    format!("{}/dagRuns", dag_path(dag_id))
}

/// `/dags/{dag_id}/dagRuns/{run_id}`.
fn run_path(dag_id: &DagId, run_id: &str) -> String {
    format!("{}/{}", runs_path(dag_id), segment(run_id))
}

/// A body quoted in an error message, cut to [`MAX_QUOTED`] characters.
fn quote(body: &Value) -> String {
    let text = match body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// What Airflow said about a failure: its problem `title` and `detail`, else the body itself.
fn problem(body: &Value) -> String {
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::trim);
    match (field("title"), field("detail")) {
        (Some(title), Some(detail)) if !detail.is_empty() => format!("{title}: {detail}"),
        (Some(title), _) => title.to_owned(),
        (None, Some(detail)) => detail.to_owned(),
        (None, None) if body.is_null() => "no details".to_owned(),
        (None, None) => quote(body),
    }
}

/// The error of a non-2xx answer to `request` (see the module documentation).
pub(crate) fn status_error(request: &ApiRequest, response: &ApiResponse) -> EngineError {
    let status = response.status;
    let message = format!("{request} answered {status}: {}", problem(&response.body));
    match status {
        401 | 403 => EngineError::CredentialsRefused(message),
        404 => EngineError::NotFound(message),
        400..=499 => EngineError::Refused(message),
        _ => EngineError::Unavailable(message),
    }
}

/// An answer that is not what Airflow documents.
fn unexpected(request: &ApiRequest, what: impl fmt::Display) -> EngineError {
    EngineError::Unavailable(format!("{request} answered unexpectedly: {what}"))
}

/// Sends `request` and returns the body of a 2xx answer.
async fn call(transport: &dyn Transport, request: &ApiRequest) -> Result<Value, EngineError> {
    let response = transport.send(request).await?;
    if (200..300).contains(&response.status) {
        Ok(response.body)
    } else {
        Err(status_error(request, &response))
    }
}

/// Reads `body` as `T`.
fn decode<T: DeserializeOwned>(request: &ApiRequest, body: Value) -> Result<T, EngineError> {
    serde_json::from_value(body).map_err(|error| unexpected(request, error))
}

/// One page of a collection (`dag_runs`, `dags`, `task_instances` and `total_entries`).
#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(alias = "dag_runs", alias = "dags", alias = "task_instances")]
    items: Vec<T>,
    total_entries: u64,
}

/// Every page of the collection at `request` (which must not set `limit` or `offset`).
async fn every_page<T: DeserializeOwned>(
    transport: &dyn Transport,
    request: ApiRequest,
) -> Result<Vec<T>, EngineError> {
    let mut items = Vec::new();
    let mut offset = 0_u64;
    for _ in 0..MAX_PAGES {
        let page_request = request
            .clone()
            .query("limit", PAGE_SIZE.to_string())
            .query("offset", offset.to_string());
        let body = call(transport, &page_request).await?;
        let page: Page<T> = decode(&page_request, body)?;
        let read = u64::try_from(page.items.len()).unwrap_or(u64::MAX);
        items.extend(page.items);
        offset = offset.saturating_add(read);
        if read == 0 || offset >= page.total_entries {
            return Ok(items);
        }
    }
    Err(unexpected(
        &request,
        format!("more than {MAX_PAGES} pages of {PAGE_SIZE}"),
    ))
}

/// A DAG run as Airflow answers it.
#[derive(Debug, Deserialize)]
struct DagRun {
    dag_run_id: String,
    state: String,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
}

impl DagRun {
    /// The run as the port reports it.
    ///
    /// # Errors
    /// When its state is not one of Airflow 2's run states (the message says which).
    fn status(self) -> Result<RunStatus, String> {
        let state = AirflowRunState::parse(&self.state)
            .map_err(|error| format!("run {:?}: {error}", self.dag_run_id))?;
        Ok(RunStatus {
            run_id: self.dag_run_id,
            state,
            start_date: self.start_date,
            end_date: self.end_date,
        })
    }
}

/// A DAG as Airflow answers it.
#[derive(Debug, Deserialize)]
struct Dag {
    dag_id: String,
    #[serde(default)]
    is_paused: Option<bool>,
    #[serde(default)]
    description: Option<String>,
}

/// A task instance as Airflow answers it.
#[derive(Debug, Deserialize)]
struct TaskInstance {
    task_id: String,
    state: Option<String>,
}

/// Airflow's `/health` answer (the parts read).
#[derive(Debug, Deserialize)]
struct Health {
    metadatabase: Option<Component>,
    scheduler: Option<Component>,
}

/// One component of the `/health` answer.
#[derive(Debug, Deserialize)]
struct Component {
    status: Option<String>,
}

impl Health {
    /// Why the engine is unhealthy, if it is: the metadatabase and the scheduler must both say
    /// `healthy` (the triggerer and the DAG processor are optional).
    fn problem(&self) -> Option<String> {
        let unhealthy: Vec<String> = [
            ("metadatabase", &self.metadatabase),
            ("scheduler", &self.scheduler),
        ]
        .into_iter()
        .filter_map(|(name, component)| {
            let status = component.as_ref().and_then(|c| c.status.as_deref());
            (status != Some("healthy"))
                .then(|| format!("the {name} is {}", status.unwrap_or("not reported")))
        })
        .collect();
        (!unhealthy.is_empty()).then(|| unhealthy.join(", "))
    }
}

impl Airflow {
    /// The transport, as a trait object.
    fn transport(&self) -> &dyn Transport {
        self.transport.as_ref()
    }

    /// Whether Airflow reports itself healthy and accepts the credentials.
    async fn check_health(&self) -> Result<(), EngineError> {
        let request = ApiRequest::new(Method::Get, "/health".to_owned());
        let body = call(self.transport(), &request).await?;
        let health: Health = decode(&request, body)?;
        if let Some(problem) = health.problem() {
            return Err(EngineError::Unavailable(problem));
        }
        // `/health` needs no credentials: one authenticated read proves them.
        let request = ApiRequest::new(Method::Get, "/dags".to_owned()).query("limit", "1");
        call(self.transport(), &request).await.map(drop)
    }
}

#[async_trait]
impl WorkflowEngine for Airflow {
    /// `POST /dags/{dag_id}/dagRuns {"dag_run_id", "conf"}`: 200 → created, 409 → a run with that
    /// id exists.
    async fn trigger(&self, request: &TriggerRequest) -> Result<Triggered, EngineError> {
        let api_request = ApiRequest::new(Method::Post, runs_path(&request.dag_id)).body(json!({
            "dag_run_id": request.run_id.to_string(),
            "conf": request.conf,
        }));
        let response = self.transport().send(&api_request).await?;
        match response.status {
            200..=299 => Ok(Triggered::Created),
            409 => Ok(Triggered::AlreadyExists),
            _ => Err(status_error(&api_request, &response)),
        }
    }

    /// `GET /dags/{dag_id}/dagRuns?updated_at_gte=…&order_by=id`, every page; runs in a state
    /// this version does not know are left out (with a warning).
    async fn runs_changed_since(
        &self,
        dag_id: &DagId,
        since: DateTime<Utc>,
    ) -> Result<Vec<RunStatus>, EngineError> {
        // Ordered by the runs' row ids, which neither updates nor new runs reorder, so that no run
        // moves across a page boundary while the pages are read.
        let request = ApiRequest::new(Method::Get, runs_path(dag_id))
            .query(
                "updated_at_gte",
                since.to_rfc3339_opts(SecondsFormat::Micros, true),
            )
            .query("order_by", "id");
        let runs: Vec<DagRun> = every_page(self.transport(), request).await?;
        Ok(runs
            .into_iter()
            .filter_map(|run| {
                run.status()
                    .inspect_err(|problem| {
                        tracing::warn!(dag_id = %dag_id, "skipping an Airflow run: {problem}");
                    })
                    .ok()
            })
            .collect())
    }

    /// `GET /dags/{dag_id}/dagRuns/{run_id}`.
    async fn run(&self, dag_id: &DagId, run_id: &str) -> Result<RunStatus, EngineError> {
        let request = ApiRequest::new(Method::Get, run_path(dag_id, run_id));
        let body = call(self.transport(), &request).await?;
        let run: DagRun = decode(&request, body)?;
        run.status()
            .map_err(|problem| unexpected(&request, problem))
    }

    /// `GET /dags/{dag_id}/dagRuns/{run_id}/taskInstances`, every page: the ids of the tasks in
    /// state `failed`, each once, in Airflow's order.
    async fn failed_tasks(&self, dag_id: &DagId, run_id: &str) -> Result<Vec<String>, EngineError> {
        let request = ApiRequest::new(
            Method::Get,
            format!("{}/taskInstances", run_path(dag_id, run_id)),
        );
        let instances: Vec<TaskInstance> = every_page(self.transport(), request).await?;
        let mut failed: Vec<String> = Vec::new();
        for instance in instances {
            // A mapped task has one instance per index: name it once.
            if instance.state.as_deref() == Some("failed") && !failed.contains(&instance.task_id) {
                failed.push(instance.task_id);
            }
        }
        Ok(failed)
    }

    /// `PATCH /dags/{dag_id}/dagRuns/{run_id} {"state": "failed"}`.
    async fn cancel(&self, dag_id: &DagId, run_id: &str) -> Result<(), EngineError> {
        let request = ApiRequest::new(Method::Patch, run_path(dag_id, run_id))
            .body(json!({ "state": "failed" }));
        call(self.transport(), &request).await.map(drop)
    }

    /// `PATCH /dags/{dag_id}?update_mask=is_paused {"is_paused": false}`.
    async fn unpause(&self, dag_id: &DagId) -> Result<(), EngineError> {
        let request = ApiRequest::new(Method::Patch, dag_path(dag_id))
            .query("update_mask", "is_paused")
            .body(json!({ "is_paused": false }));
        call(self.transport(), &request).await.map(drop)
    }

    /// `GET /dags`, every page; a DAG whose id is not a valid [`DagId`] is left out (with a
    /// warning).
    async fn dags(&self) -> Result<Vec<DagInfo>, EngineError> {
        let request = ApiRequest::new(Method::Get, "/dags".to_owned());
        let dags: Vec<Dag> = every_page(self.transport(), request).await?;
        Ok(dags
            .into_iter()
            .filter_map(|dag| match DagId::parse(&dag.dag_id) {
                Ok(dag_id) => Some(DagInfo {
                    dag_id,
                    is_paused: dag.is_paused.unwrap_or(false),
                    description: dag.description,
                }),
                Err(error) => {
                    tracing::warn!(dag_id = dag.dag_id, "skipping an Airflow DAG: {error}");
                    None
                }
            })
            .collect())
    }

    /// `GET /health` (the metadatabase and the scheduler must be healthy), then one
    /// authenticated read, since `/health` asks for no credentials.
    async fn health(&self) -> EngineHealth {
        match self.check_health().await {
            Ok(()) => EngineHealth::Healthy,
            Err(error) => EngineHealth::Degraded(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ApiRequest {
        ApiRequest::new(Method::Get, "/dags/x".to_owned())
    }

    fn answer(status: u16, body: Value) -> EngineError {
        status_error(&request(), &ApiResponse { status, body })
    }

    #[test]
    fn segments_escape_everything_but_unreserved_characters() {
        assert_eq!(segment("reefguide-12-1"), "reefguide-12-1");
        assert_eq!(segment("a.b_c~d"), "a.b_c~d");
        assert_eq!(
            segment("manual__2024-01-01T00:00:00+00:00"),
            "manual__2024-01-01T00%3A00%3A00%2B00%3A00"
        );
        assert_eq!(segment("a/b c?d#é"), "a%2Fb%20c%3Fd%23%C3%A9");
    }

    #[test]
    fn paths_name_the_dag_and_the_run() {
        let dag = DagId::parse("my.dag-1").expect("a dag id");
        assert_eq!(run_path(&dag, "r/1"), "/dags/my.dag-1/dagRuns/r%2F1");
    }

    #[test]
    fn statuses_map_onto_engine_errors() {
        let problem = json!({"title": "Forbidden", "detail": "bad", "status": 403});
        assert!(matches!(
            answer(401, Value::Null),
            EngineError::CredentialsRefused(_)
        ));
        assert!(matches!(
            answer(403, problem),
            EngineError::CredentialsRefused(message) if message.contains("Forbidden: bad")
        ));
        assert!(matches!(answer(404, Value::Null), EngineError::NotFound(_)));
        assert!(matches!(
            answer(400, json!({"title": "Bad Request", "detail": "no conf"})),
            EngineError::Refused(message) if message.contains("GET /dags/x answered 400: Bad Request: no conf")
        ));
        assert!(matches!(
            answer(409, json!("text")),
            EngineError::Refused(_)
        ));
        for status in [500, 502, 503] {
            assert!(matches!(
                answer(status, json!("<html>")),
                EngineError::Unavailable(message) if message.contains("<html>")
            ));
        }
    }

    #[test]
    fn quoted_bodies_are_cut() {
        let long = Value::String("é".repeat(1000));
        assert_eq!(quote(&long).chars().count(), MAX_QUOTED + 1);
    }

    #[test]
    fn health_needs_the_metadatabase_and_the_scheduler() {
        let health = |body: Value| {
            serde_json::from_value::<Health>(body)
                .expect("a health answer")
                .problem()
        };
        let healthy = json!({
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-01-01T00:00:00+00:00"},
            "triggerer": {"status": null},
        });
        assert_eq!(health(healthy), None);
        let sick = json!({
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": "unhealthy"},
        });
        assert_eq!(health(sick).as_deref(), Some("the scheduler is unhealthy"));
        assert_eq!(
            health(json!({})).as_deref(),
            Some("the metadatabase is not reported, the scheduler is not reported")
        );
    }
}
