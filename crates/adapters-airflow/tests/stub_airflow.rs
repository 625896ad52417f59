//! The adapter against an in-process stub of Airflow's REST API (`rest`) and of MWAA's
//! `InvokeRestApi` (`mwaa`): the calls it sends and how it reads every kind of answer.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reefguide_adapters_airflow::{Airflow, MwaaSettings};
use reefguide_domain::job::JobId;
use reefguide_domain::workflow::{AirflowRunState, DagId, DagRunId};
use reefguide_ports::workflow_engine::{
    EngineError, EngineHealth, RunStatus, TriggerRequest, Triggered, WorkflowEngine,
};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use wiremock::matchers::{
    basic_auth, body_json, header_exists, header_regex, method, path, query_param,
};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn dag() -> DagId {
    DagId::parse("reefguide_echo").expect("a dag id")
}

fn trigger_request() -> TriggerRequest {
    let mut conf = Map::new();
    conf.insert("job_id".to_owned(), json!(7));
    conf.insert("in_prefix".to_owned(), json!("/data/in"));
    TriggerRequest {
        dag_id: dag(),
        run_id: DagRunId {
            job: JobId::new(7).expect("a job id"),
            attempt: 1,
        },
        conf,
    }
}

/// The body Airflow receives for [`trigger_request`].
fn trigger_body() -> Value {
    json!({"dag_run_id": "reefguide-7-1", "conf": {"job_id": 7, "in_prefix": "/data/in"}})
}

/// An Airflow run object.
fn run_json(id: &str, state: &str) -> Value {
    json!({
        "dag_id": "reefguide_echo",
        "dag_run_id": id,
        "state": state,
        "start_date": "2026-01-02T03:04:05.123456+00:00",
        "end_date": null,
        "conf": {},
    })
}

/// An Airflow problem answer.
fn problem(status: u16, title: &str, detail: &str) -> Value {
    json!({"status": status, "title": title, "detail": detail, "type": "about:blank"})
}

fn since() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("a time")
}

/// The numeric query parameter `name` of a request (0 when absent).
fn number_param(query: &[(String, String)], name: &str) -> usize {
    query
        .iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// `total` runs named `run-<n>`, the page at `offset` of at most `limit`; `bad` is in a state
/// Airflow 2 does not have.
fn runs_page(total: usize, offset: usize, limit: usize, bad: usize) -> Value {
    let runs: Vec<Value> = (offset..total.min(offset + limit))
        .map(|n| {
            run_json(
                &format!("run-{n}"),
                if n == bad { "weird" } else { "success" },
            )
        })
        .collect();
    json!({"dag_runs": runs, "total_entries": total})
}

mod rest {
    use super::*;

    const USER: &str = "admin";
    const PASSWORD: &str = "s3cret";

    fn airflow(server: &MockServer) -> Airflow {
        airflow_at(&server.uri(), Duration::from_secs(5))
    }

    fn airflow_at(url: &str, timeout: Duration) -> Airflow {
        Airflow::rest(url, USER, SecretString::from(PASSWORD), timeout).expect("an adapter")
    }

    /// A mock that also requires the basic-auth header.
    fn authed(http_method: &str, at: &str) -> wiremock::MockBuilder {
        Mock::given(method(http_method))
            .and(path(format!("/api/v1{at}")))
            .and(basic_auth(USER, PASSWORD))
    }

    #[tokio::test]
    async fn trigger_posts_the_run_with_basic_auth_and_reports_created() {
        let server = MockServer::start().await;
        authed("POST", "/dags/reefguide_echo/dagRuns")
            .and(body_json(trigger_body()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(run_json("reefguide-7-1", "queued")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let triggered = airflow(&server).trigger(&trigger_request()).await;
        assert_eq!(triggered.expect("a trigger"), Triggered::Created);
        let requests = server.received_requests().await.expect("recorded requests");
        let authorization = requests[0]
            .headers
            .get("authorization")
            .expect("basic auth");
        // base64("admin:s3cret")
        assert_eq!(authorization, "Basic YWRtaW46czNjcmV0");
    }

    #[tokio::test]
    async fn a_conflict_on_trigger_means_the_run_exists() {
        let server = MockServer::start().await;
        authed("POST", "/dags/reefguide_echo/dagRuns")
            .respond_with(ResponseTemplate::new(409).set_body_json(problem(
                409,
                "Conflict",
                "DAGRun with DAG ID: 'reefguide_echo' and DAGRun ID: 'reefguide-7-1' already exists",
            )))
            .expect(1)
            .mount(&server)
            .await;
        let triggered = airflow(&server).trigger(&trigger_request()).await;
        assert_eq!(triggered.expect("a trigger"), Triggered::AlreadyExists);
    }

    #[tokio::test]
    async fn refused_credentials_are_reported_and_degrade_health() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(403).set_body_raw(
                problem(403, "Forbidden", "Invalid credentials").to_string(),
                "application/problem+json",
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/health"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "metadatabase": {"status": "healthy"},
                "scheduler": {"status": "healthy"},
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/dags"))
            .respond_with(ResponseTemplate::new(401).set_body_json(problem(
                401,
                "Unauthorized",
                "",
            )))
            .mount(&server)
            .await;
        let airflow = airflow(&server);
        let error = airflow
            .trigger(&trigger_request())
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, EngineError::CredentialsRefused(message) if message.contains("Forbidden: Invalid credentials")),
            "{error:?}"
        );
        assert!(matches!(
            airflow.dags().await,
            Err(EngineError::CredentialsRefused(_))
        ));
        let health = airflow.health().await;
        assert!(
            matches!(&health, EngineHealth::Degraded(why) if why.contains("credentials")),
            "{health:?}"
        );
    }

    #[tokio::test]
    async fn server_errors_make_the_engine_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(500).set_body_string("<html>Internal Server Error</html>"),
            )
            .mount(&server)
            .await;
        let airflow = airflow(&server);
        let error = airflow
            .run(&dag(), "reefguide-7-1")
            .await
            .expect_err("a 500");
        assert!(
            matches!(&error, EngineError::Unavailable(message) if message.contains("Internal Server Error")),
            "{error:?}"
        );
        assert!(matches!(airflow.health().await, EngineHealth::Degraded(_)));
    }

    #[tokio::test]
    async fn an_unreachable_engine_is_unavailable() {
        // A port nothing listens on: bound, then released.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        drop(listener);
        let airflow = airflow_at(&url, Duration::from_secs(5));
        let error = airflow
            .trigger(&trigger_request())
            .await
            .expect_err("refused");
        assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
        assert!(matches!(airflow.health().await, EngineHealth::Degraded(_)));
    }

    #[tokio::test]
    async fn a_slow_engine_times_out_as_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(run_json("reefguide-7-1", "running"))
                    .set_delay(Duration::from_secs(3)),
            )
            .mount(&server)
            .await;
        let airflow = airflow_at(&server.uri(), Duration::from_millis(200));
        let error = airflow
            .run(&dag(), "reefguide-7-1")
            .await
            .expect_err("a timeout");
        assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_run_is_read_or_not_found() {
        let server = MockServer::start().await;
        authed("GET", "/dags/reefguide_echo/dagRuns/reefguide-7-1")
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "dag_run_id": "reefguide-7-1",
                "state": "success",
                "start_date": "2026-01-02T03:04:05+00:00",
                "end_date": "2026-01-02T04:04:05.5+01:00",
            })))
            .mount(&server)
            .await;
        // Percent-encoded: a run id of Airflow's own scheduler.
        authed(
            "GET",
            "/dags/reefguide_echo/dagRuns/manual__2026-01-02T03%3A04%3A05%2B00%3A00",
        )
        .respond_with(ResponseTemplate::new(404).set_body_json(problem(
            404,
            "DAGRun not found",
            "",
        )))
        .expect(1)
        .mount(&server)
        .await;
        let airflow = airflow(&server);
        let run = airflow.run(&dag(), "reefguide-7-1").await.expect("a run");
        assert_eq!(
            run,
            RunStatus {
                run_id: "reefguide-7-1".to_owned(),
                state: AirflowRunState::Success,
                start_date: Some(since()),
                end_date: Some(since() + chrono::Duration::milliseconds(500)),
            }
        );
        let error = airflow
            .run(&dag(), "manual__2026-01-02T03:04:05+00:00")
            .await
            .expect_err("unknown");
        assert!(matches!(error, EngineError::NotFound(_)), "{error:?}");
    }

    #[tokio::test]
    async fn other_client_errors_are_refusals_with_airflow_details() {
        let server = MockServer::start().await;
        authed("POST", "/dags/reefguide_echo/dagRuns")
            .respond_with(ResponseTemplate::new(400).set_body_json(problem(
                400,
                "Bad Request",
                "'conf' is not of type 'object'",
            )))
            .mount(&server)
            .await;
        let error = airflow(&server)
            .trigger(&trigger_request())
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, EngineError::Refused(message) if message.contains("Bad Request: 'conf' is not of type 'object'")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn runs_changed_since_reads_every_page_filtered_by_update_time() {
        let server = MockServer::start().await;
        authed("GET", "/dags/reefguide_echo/dagRuns")
            .and(query_param("updated_at_gte", "2026-01-02T03:04:05.000000Z"))
            .and(query_param("order_by", "id"))
            .and(query_param("limit", "100"))
            .respond_with(|request: &Request| {
                let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
                let offset = number_param(&query, "offset");
                ResponseTemplate::new(200).set_body_json(runs_page(250, offset, 100, 249))
            })
            .expect(3)
            .mount(&server)
            .await;
        let runs = airflow(&server)
            .runs_changed_since(&dag(), since())
            .await
            .expect("the runs");
        // Run 249 is in an unknown state: left out.
        assert_eq!(runs.len(), 249);
        let ids: Vec<String> = (0..249).map(|n| format!("run-{n}")).collect();
        assert_eq!(
            runs.iter()
                .map(|run| run.run_id.clone())
                .collect::<Vec<_>>(),
            ids
        );
        assert!(runs.iter().all(|run| run.state == AirflowRunState::Success));
        let offsets: Vec<usize> = server
            .received_requests()
            .await
            .expect("recorded requests")
            .iter()
            .map(|request| {
                let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
                number_param(&query, "offset")
            })
            .collect();
        assert_eq!(offsets, [0, 100, 200]);
    }

    #[tokio::test]
    async fn an_unknown_dag_has_no_runs() {
        let server = MockServer::start().await;
        authed("GET", "/dags/reefguide_echo/dagRuns")
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"dag_runs": [], "total_entries": 0})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let runs = airflow(&server).runs_changed_since(&dag(), since()).await;
        assert_eq!(runs.expect("no runs"), []);
    }

    #[tokio::test]
    async fn failed_tasks_are_the_task_instances_in_state_failed() {
        let server = MockServer::start().await;
        authed(
            "GET",
            "/dags/reefguide_echo/dagRuns/reefguide-7-1/taskInstances",
        )
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "task_instances": [
                {"task_id": "prepare", "state": "success", "map_index": -1},
                {"task_id": "explode", "state": "failed", "map_index": 0},
                {"task_id": "explode", "state": "failed", "map_index": 1},
                {"task_id": "after", "state": "upstream_failed", "map_index": -1},
                {"task_id": "never", "state": null, "map_index": -1},
                {"task_id": "tile", "state": "failed", "map_index": -1},
            ],
            "total_entries": 6,
        })))
        .expect(1)
        .mount(&server)
        .await;
        let failed = airflow(&server).failed_tasks(&dag(), "reefguide-7-1").await;
        assert_eq!(failed.expect("failed tasks"), ["explode", "tile"]);
    }

    #[tokio::test]
    async fn cancel_marks_the_run_failed() {
        let server = MockServer::start().await;
        authed("PATCH", "/dags/reefguide_echo/dagRuns/reefguide-7-1")
            .and(body_json(json!({"state": "failed"})))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(run_json("reefguide-7-1", "failed")),
            )
            .expect(1)
            .mount(&server)
            .await;
        authed("PATCH", "/dags/reefguide_echo/dagRuns/reefguide-8-1")
            .respond_with(ResponseTemplate::new(404).set_body_json(problem(
                404,
                "DAGRun not found",
                "",
            )))
            .mount(&server)
            .await;
        let airflow = airflow(&server);
        airflow
            .cancel(&dag(), "reefguide-7-1")
            .await
            .expect("cancelled");
        let error = airflow
            .cancel(&dag(), "reefguide-8-1")
            .await
            .expect_err("unknown");
        assert!(matches!(error, EngineError::NotFound(_)), "{error:?}");
    }

    #[tokio::test]
    async fn unpause_patches_only_the_pause_flag() {
        let server = MockServer::start().await;
        authed("PATCH", "/dags/reefguide_echo")
            .and(query_param("update_mask", "is_paused"))
            .and(body_json(json!({"is_paused": false})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"dag_id": "reefguide_echo", "is_paused": false})),
            )
            .expect(1)
            .mount(&server)
            .await;
        airflow(&server).unpause(&dag()).await.expect("unpaused");
    }

    #[tokio::test]
    async fn dags_reads_every_page() {
        let server = MockServer::start().await;
        authed("GET", "/dags")
            .and(query_param("limit", "100"))
            .respond_with(|request: &Request| {
                let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
                let offset = number_param(&query, "offset");
                let dags: Vec<Value> = (offset..150.min(offset + 100))
                    .map(|n| json!({"dag_id": format!("dag_{n}"), "is_paused": n % 2 == 0, "description": null}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"dags": dags, "total_entries": 150}))
            })
            .expect(2)
            .mount(&server)
            .await;
        let dags = airflow(&server).dags().await.expect("the DAGs");
        assert_eq!(dags.len(), 150);
        assert_eq!(dags[149].dag_id.as_str(), "dag_149");
        assert!(dags[0].is_paused && !dags[1].is_paused);
    }

    #[tokio::test]
    async fn health_follows_the_metadatabase_and_the_scheduler() {
        let server = MockServer::start().await;
        let airflow = airflow(&server);
        authed("GET", "/dags")
            .and(query_param("limit", "1"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"dags": [], "total_entries": 0})),
            )
            .mount(&server)
            .await;
        let healthy = Mock::given(method("GET"))
            .and(path("/api/v1/health"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "metadatabase": {"status": "healthy"},
                "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-01-02T03:04:05+00:00"},
                "triggerer": {"status": null, "latest_triggerer_heartbeat": null},
            })))
            .mount_as_scoped(&server)
            .await;
        assert_eq!(airflow.health().await, EngineHealth::Healthy);
        drop(healthy);
        Mock::given(method("GET"))
            .and(path("/api/v1/health"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "metadatabase": {"status": "healthy"},
                "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": null},
            })))
            .mount(&server)
            .await;
        let health = airflow.health().await;
        assert!(
            matches!(&health, EngineHealth::Degraded(why) if why.contains("scheduler is unhealthy")),
            "{health:?}"
        );
    }
}

mod mwaa {
    use aws_config::SdkConfig;
    use aws_sdk_mwaa::config::{Credentials, Region, SharedCredentialsProvider};

    use super::*;

    const ENVIRONMENT: &str = "reefguide-test";
    const ACCESS_KEY: &str = "AKIDREEFGUIDETEST";

    /// The adapter on the stub, with static credentials.
    fn airflow(server: &MockServer) -> Airflow {
        let shared = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY,
                "test-secret",
                None,
                None,
                "test",
            )))
            .build();
        let settings = MwaaSettings {
            endpoint_url: Some(server.uri()),
            request_timeout: Duration::from_secs(5),
            ..MwaaSettings::new(ENVIRONMENT)
        };
        Airflow::mwaa_with_config(&shared, &settings).expect("an adapter")
    }

    /// Mounts the stub of `InvokeRestApi`: only SigV4-signed calls for the environment reach
    /// `answer`, which sees the call's JSON body (`Method`, `Path`, `QueryParameters`, `Body`).
    async fn mount(
        server: &MockServer,
        answer: impl Fn(&Value) -> ResponseTemplate + Send + Sync + 'static,
    ) {
        Mock::given(method("POST"))
            .and(path(format!("/restapi/{ENVIRONMENT}")))
            .and(header_regex(
                "authorization",
                &format!(
                    r"^AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/\d{{8}}/us-east-1/airflow/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{{64}}$"
                ),
            ))
            .and(header_exists("x-amz-date"))
            .respond_with(move |request: &Request| {
                let call: Value = request.body_json().unwrap_or(Value::Null);
                answer(&call)
            })
            .mount(server)
            .await;
    }

    /// MWAA's answer carrying a 2xx of the webserver.
    fn ok(status: u16, body: Value) -> ResponseTemplate {
        ResponseTemplate::new(200)
            .set_body_json(json!({"RestApiStatusCode": status, "RestApiResponse": body}))
    }

    /// MWAA's exception `code` (the webserver's `status` and `body` when it carries them).
    fn exception(http_status: u16, code: &str, body: Value) -> ResponseTemplate {
        ResponseTemplate::new(http_status)
            .insert_header("x-amzn-errortype", code)
            .set_body_json(body)
    }

    fn client_exception(status: u16, body: Value) -> ResponseTemplate {
        exception(
            400,
            "RestApiClientException",
            json!({"RestApiStatusCode": status, "RestApiResponse": body}),
        )
    }

    #[tokio::test]
    async fn trigger_is_a_signed_invoke_rest_api_call() {
        let server = MockServer::start().await;
        mount(&server, |call| {
            if call == &json!({"Method": "POST", "Path": "/dags/reefguide_echo/dagRuns", "Body": trigger_body()}) {
                ok(200, run_json("reefguide-7-1", "queued"))
            } else {
                exception(400, "ValidationException", json!({"message": format!("unexpected {call}")}))
            }
        })
        .await;
        let triggered = airflow(&server).trigger(&trigger_request()).await;
        assert_eq!(triggered.expect("a trigger"), Triggered::Created);
        let requests = server.received_requests().await.expect("recorded requests");
        assert_eq!(requests.len(), 1);
        let host = requests[0].headers.get("host").expect("a host");
        assert!(
            !host.to_str().unwrap_or("env.").starts_with("env."),
            "{host:?}"
        );
    }

    #[tokio::test]
    async fn a_client_exception_carries_airflow_status() {
        let server = MockServer::start().await;
        mount(&server, |call| match call["Method"].as_str() {
            Some("POST") => client_exception(409, problem(409, "Conflict", "already exists")),
            _ => client_exception(404, problem(404, "DAGRun not found", "")),
        })
        .await;
        let airflow = airflow(&server);
        let triggered = airflow.trigger(&trigger_request()).await;
        assert_eq!(triggered.expect("a trigger"), Triggered::AlreadyExists);
        let error = airflow
            .run(&dag(), "reefguide-9-1")
            .await
            .expect_err("unknown");
        assert!(
            matches!(&error, EngineError::NotFound(message) if message.contains("DAGRun not found")),
            "{error:?}"
        );
        let error = airflow
            .cancel(&dag(), "reefguide-9-1")
            .await
            .expect_err("unknown");
        assert!(matches!(error, EngineError::NotFound(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_server_exception_makes_the_engine_unavailable() {
        let server = MockServer::start().await;
        mount(&server, |_| {
            exception(
                400,
                "RestApiServerException",
                json!({"RestApiStatusCode": 503, "RestApiResponse": problem(503, "Service Unavailable", "")}),
            )
        })
        .await;
        let error = airflow(&server).dags().await.expect_err("unavailable");
        assert!(
            matches!(&error, EngineError::Unavailable(message) if message.contains("503")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn mwaa_refusals_are_not_airflow_answers() {
        let server = MockServer::start().await;
        mount(&server, |call| match call["Path"].as_str() {
            Some("/dags") => exception(
                403,
                "AccessDeniedException",
                json!({"Message": "not allowed"}),
            ),
            Some("/health") => {
                exception(500, "InternalServerException", json!({"Message": "oops"}))
            }
            _ => exception(
                404,
                "ResourceNotFoundException",
                json!({"Message": "no environment"}),
            ),
        })
        .await;
        let airflow = airflow(&server);
        let error = airflow.dags().await.expect_err("denied");
        assert!(
            matches!(error, EngineError::CredentialsRefused(_)),
            "{error:?}"
        );
        // An unknown environment is not an unknown run.
        let error = airflow
            .run(&dag(), "reefguide-7-1")
            .await
            .expect_err("no environment");
        assert!(matches!(error, EngineError::Refused(_)), "{error:?}");
        assert!(matches!(airflow.health().await, EngineHealth::Degraded(_)));
    }

    #[tokio::test]
    async fn runs_are_paged_with_query_parameters() {
        let server = MockServer::start().await;
        mount(&server, |call| {
            let query = &call["QueryParameters"];
            if call["Path"] != "/dags/reefguide_echo/dagRuns"
                || query["updated_at_gte"] != "2026-01-02T03:04:05.000000Z"
                || query["limit"] != "100"
            {
                return exception(
                    400,
                    "ValidationException",
                    json!({"message": format!("unexpected {call}")}),
                );
            }
            let offset = query["offset"]
                .as_str()
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            ok(200, runs_page(250, offset, 100, usize::MAX))
        })
        .await;
        let runs = airflow(&server)
            .runs_changed_since(&dag(), since())
            .await
            .expect("the runs");
        assert_eq!(runs.len(), 250);
        assert_eq!(runs[249].run_id, "run-249");
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
    }

    #[tokio::test]
    async fn unpause_and_failed_tasks_go_through_mwaa() {
        let server = MockServer::start().await;
        mount(&server, |call| match (call["Method"].as_str(), call["Path"].as_str()) {
            (Some("PATCH"), Some("/dags/reefguide_echo"))
                if call["QueryParameters"] == json!({"update_mask": "is_paused"})
                    && call["Body"] == json!({"is_paused": false}) =>
            {
                ok(200, json!({"dag_id": "reefguide_echo", "is_paused": false}))
            }
            (Some("GET"), Some("/dags/reefguide_echo/dagRuns/reefguide-7-1/taskInstances")) => ok(
                200,
                json!({"task_instances": [{"task_id": "explode", "state": "failed"}], "total_entries": 1}),
            ),
            _ => exception(400, "ValidationException", json!({"message": format!("unexpected {call}")})),
        })
        .await;
        let airflow = airflow(&server);
        airflow.unpause(&dag()).await.expect("unpaused");
        let failed = airflow.failed_tasks(&dag(), "reefguide-7-1").await;
        assert_eq!(failed.expect("failed tasks"), ["explode"]);
    }
}
