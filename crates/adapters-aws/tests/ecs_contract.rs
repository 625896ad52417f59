//! The compute-cluster contract of the ECS adapter, checked through `dyn ComputeCluster` against
//! moto at `S3_ENDPOINT_URL` (moto serves every AWS service on one endpoint; `cargo xtask test`
//! starts it and sets the variable; without it these tests fail rather than skip).
//!
//! Each test creates its own cluster with a Fargate task definition and a worker service of one
//! task. What moto does differently from ECS:
//! - RunTask starts nothing: tasks are born `RUNNING`, and by default each DescribeTasks moves
//!   them one step towards `STOPPED`. The suite makes that progression need a million
//!   descriptions (moto's state manager), so a task stays `RUNNING` until stopped.
//! - RunTask needs the awsvpc subnets and security groups to exist (moto's default VPC's are
//!   used) and, without a launch type, container instances: targets use `FARGATE`.
//! - Containers of tasks come back with `"cpu": 0` (a number where ECS sends a string, which the
//!   SDK refuses), so the adapter talks to moto through [`rewriting_proxy`], which quotes it; and
//!   a container-level `memory` would come back as a number too, so the test task definition
//!   reserves memory instead.
//! - Unknown task ids are left out of DescribeTasks answers rather than listed as `MISSING`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::{Credentials, Region};
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
use chrono::Utc;
use reefguide_adapters_aws::{EcsCluster, EcsSettings, EcsTarget};
use reefguide_ports::{ComputeCluster, ComputeError, TaskState};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The compute target every test configures.
const TARGET: &str = "suitability";
/// The worker service every test creates.
const SERVICE: &str = "reefguide-worker";
/// The task definition family every test registers.
const FAMILY: &str = "reefguide-worker";

/// A fresh cluster with a worker service of one task, and the adapter over it.
struct Harness {
    adapter: EcsCluster,
    cluster: String,
}

impl Harness {
    async fn new() -> Self {
        let endpoint = endpoint();
        keep_tasks_running(&endpoint).await;
        let proxy = rewriting_proxy(endpoint.clone()).await;
        let cluster = unique_cluster();
        let target = EcsTarget {
            subnets: vec![ec2_first(&endpoint, "DescribeSubnets", "subnetId").await],
            security_groups: vec![ec2_first(&endpoint, "DescribeSecurityGroups", "groupId").await],
            assign_public_ip: true,
            ..EcsTarget::new(FAMILY)
        };
        let settings = EcsSettings {
            targets: BTreeMap::from([(TARGET.to_owned(), target)]),
            endpoint_url: Some(proxy),
            region: Some("us-east-1".to_owned()),
            ..EcsSettings::new(&cluster, SERVICE)
        };
        let adapter = adapter(settings).await;
        create_worker_service(adapter.client(), &cluster).await;
        Self { adapter, cluster }
    }

    fn compute(&self) -> &dyn ComputeCluster {
        &self.adapter
    }

    /// The worker service as moto reports it.
    async fn service(&self) -> aws_sdk_ecs::types::Service {
        let described = self
            .adapter
            .client()
            .describe_services()
            .cluster(&self.cluster)
            .services(SERVICE)
            .send()
            .await
            .expect("the service is described");
        described.services()[0].clone()
    }

    /// The same settings with another service or cluster.
    fn other(&self, cluster: &str, service: &str) -> EcsCluster {
        let settings = EcsSettings {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            ..self.adapter.settings().clone()
        };
        EcsCluster::from_client(self.adapter.client().clone(), settings)
    }
}

#[tokio::test]
async fn service_status_reports_the_worker_service() {
    let harness = Harness::new().await;
    let status = harness.compute().service_status().await.expect("a status");
    assert_eq!(status.desired_count, 1);
    assert_eq!(status.running_count + status.pending_count, 1, "{status:?}");
    assert_eq!(status.service_status, "ACTIVE");
    assert!(status.events.len() <= 5);
    let [deployment] = status.deployments.as_slice() else {
        panic!("one deployment: {status:?}");
    };
    assert_eq!(deployment.status, "PRIMARY");
    assert!(
        deployment
            .task_definition
            .contains(&format!("task-definition/{FAMILY}:")),
        "{deployment:?}"
    );
    assert_eq!(deployment.desired_count, 1);
}

#[tokio::test]
async fn set_desired_count_scales_the_service_up_to_the_maximum() {
    let harness = Harness::new().await;
    let compute = harness.compute();
    compute.set_desired_count(3).await.expect("scaled to 3");
    assert_eq!(harness.service().await.desired_count(), 3);
    compute
        .set_desired_count(10)
        .await
        .expect("scaled to the maximum");
    compute.set_desired_count(0).await.expect("scaled to 0");
    assert_eq!(
        compute
            .service_status()
            .await
            .expect("a status")
            .desired_count,
        0
    );
    let refused = compute.set_desired_count(11).await;
    assert!(
        matches!(refused, Err(ComputeError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(harness.service().await.desired_count(), 0, "unchanged");
}

#[tokio::test]
async fn redeploy_forces_a_new_deployment_keeping_half() {
    let harness = Harness::new().await;
    let before = harness.service().await.deployments()[0]
        .id()
        .map(str::to_owned);
    harness.compute().redeploy().await.expect("redeployed");
    let service = harness.service().await;
    let after = service.deployments()[0].id().map(str::to_owned);
    assert_ne!(before, after, "a new deployment");
    let config = service.deployment_configuration().expect("a configuration");
    assert_eq!(config.minimum_healthy_percent(), Some(50));
    assert_eq!(config.maximum_percent(), Some(200));
}

#[tokio::test]
async fn run_tasks_starts_tasks_in_batches_of_ten() {
    let harness = Harness::new().await;
    let started = harness
        .compute()
        .run_tasks(TARGET, 12)
        .await
        .expect("tasks started");
    assert_eq!(started.len(), 12, "{started:?}");
    let listed = harness
        .adapter
        .client()
        .list_tasks()
        .cluster(&harness.cluster)
        .started_by("reefguide-capacity")
        .send()
        .await
        .expect("tasks listed");
    let mut listed = listed.task_arns().to_vec();
    let mut expected = started.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        started.iter().all(|arn| arn.contains(&harness.cluster)),
        "{started:?}"
    );
    let none = harness.compute().run_tasks(TARGET, 0).await;
    assert_eq!(none.expect("nothing to start"), Vec::<String>::new());
}

#[tokio::test]
async fn run_tasks_refuses_unknown_targets() {
    let harness = Harness::new().await;
    let refused = harness.compute().run_tasks("nope", 1).await;
    assert!(
        matches!(&refused, Err(ComputeError::UnknownTarget(name)) if name == "nope"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn describe_tasks_maps_states_in_chunks_and_stops_unknown_ids() {
    let harness = Harness::new().await;
    let started = harness
        .compute()
        .run_tasks(TARGET, 2)
        .await
        .expect("tasks started");
    let [running, stopped] = started.as_slice() else {
        panic!("two tasks: {started:?}");
    };
    harness
        .adapter
        .client()
        .stop_task()
        .cluster(&harness.cluster)
        .task(stopped)
        .send()
        .await
        .expect("a task stopped");
    let prefix = format!(
        "arn:aws:ecs:us-east-1:123456789012:task/{}",
        harness.cluster
    );
    let mut ids: Vec<String> = (0..150)
        .map(|i| format!("{prefix}/made-up-{i:04}"))
        .collect();
    ids.insert(120, running.clone());
    ids.push(stopped.clone());
    let short_id = running.rsplit_once('/').expect("an ARN").1.to_owned();
    ids.push(short_id);
    let infos = harness
        .compute()
        .describe_tasks(&ids)
        .await
        .expect("tasks described");
    let got: Vec<&str> = infos.iter().map(|info| info.id.as_str()).collect();
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "in order"
    );
    for info in &infos {
        let expected = if info.id == *running || running.ends_with(&format!("/{}", info.id)) {
            TaskState::Running
        } else {
            TaskState::Stopped
        };
        assert_eq!(info.state, expected, "{}", info.id);
    }
    let empty = harness.compute().describe_tasks(&[]).await;
    assert!(empty.expect("nothing to describe").is_empty());
}

#[tokio::test]
async fn a_missing_service_or_cluster_is_an_upstream_error_naming_it() {
    let harness = Harness::new().await;
    let missing = harness.other(&harness.cluster, "no-such-service");
    for result in [
        missing.service_status().await.map(drop),
        missing.set_desired_count(1).await,
        missing.redeploy().await,
    ] {
        let Err(ComputeError::Upstream(message)) = result else {
            panic!("an upstream error: {result:?}");
        };
        assert!(message.contains("no-such-service"), "{message}");
    }
    let no_cluster = harness.other("no-such-cluster", SERVICE);
    let Err(ComputeError::Upstream(message)) = no_cluster.service_status().await else {
        panic!("an upstream error");
    };
    assert!(message.contains("no-such-cluster"), "{message}");
}

/// The emulator's URL.
fn endpoint() -> String {
    std::env::var("S3_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "the ECS contract tests need moto: set S3_ENDPOINT_URL or run `cargo xtask test`, \
             which starts it"
        )
    })
}

/// The adapter for `settings`, connected as in production but with static test credentials.
async fn adapter(settings: EcsSettings) -> EcsCluster {
    let connected = EcsCluster::connect(settings.clone())
        .await
        .expect("an ECS client");
    let config = connected
        .client()
        .config()
        .to_builder()
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    assert_eq!(config.region(), Some(&Region::new("us-east-1")));
    EcsCluster::from_client(Client::from_conf(config), settings)
}

/// Makes moto keep tasks `RUNNING` through a million descriptions (idempotent; it only affects
/// ECS tasks, which only this suite uses).
async fn keep_tasks_running(endpoint: &str) {
    let body =
        r#"{"model_name":"ecs::task","transition":{"progression":"manual","times":1000000}}"#;
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/state-manager/set-transition"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("moto's state manager answers");
    assert!(response.status().is_success(), "{}", response.status());
}

/// The first `<tag>` of an EC2 query `action` on moto (its default VPC's subnets and security
/// groups, which RunTask checks), without an EC2 SDK: moto routes by the signature's scope and
/// does not verify it.
async fn ec2_first(endpoint: &str, action: &str, tag: &str) -> String {
    let authorization = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, \
                         SignedHeaders=host, Signature=0";
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("authorization", authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("Action={action}&Version=2016-11-15"))
        .send()
        .await
        .expect("moto's EC2 answers");
    let text = response.text().await.expect("an EC2 answer");
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {text}"))
        + open.len();
    let length = text[start..].find(&close).expect("a closing tag");
    text[start..start + length].to_owned()
}

/// Registers the worker task definition and creates the worker service (one Fargate task) in a
/// new `cluster`.
async fn create_worker_service(client: &Client, cluster: &str) {
    client
        .create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .expect("the cluster is created");
    // moto needs a container-level memory (reservation) to "place" a task, and echoes a
    // container-level `memory` or `cpu` as a number where the SDK expects a string.
    let container = ContainerDefinition::builder()
        .name("worker")
        .image("busybox")
        .essential(true)
        .memory_reservation(512)
        .build();
    client
        .register_task_definition()
        .family(FAMILY)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container)
        .send()
        .await
        .expect("the task definition is registered");
    client
        .create_service()
        .cluster(cluster)
        .service_name(SERVICE)
        .task_definition(FAMILY)
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .send()
        .await
        .expect("the service is created");
}

fn unique_cluster() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "reefguide-test-{}-{}-{}",
        Utc::now().timestamp_millis(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The URL of a proxy to moto at `upstream` that quotes moto's numeric container `cpu` in
/// answers (one request per connection).
async fn rewriting_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(forward(stream, client.clone(), upstream.clone()));
        }
    });
    format!("http://{address}")
}

/// Forwards one HTTP/1.1 request from `stream` to `upstream` and answers with moto's answer,
/// with the containers' `cpu` of RunTask, DescribeTasks and StopTask answers quoted (task definitions'
/// containers have a numeric `cpu`, as in ECS).
async fn forward(stream: TcpStream, client: reqwest::Client, upstream: String) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader
        .read_line(&mut request_line)
        .await
        .expect("a request line");
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("POST"), parts.next().unwrap_or("/"));
    let mut request = client.request(
        method.parse().expect("an HTTP method"),
        format!("{upstream}{path}"),
    );
    let mut length = 0;
    let mut about_tasks = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("a header line");
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().expect("a content length"),
            "host" | "connection" => {}
            "x-amz-target" => {
                about_tasks = [".RunTask", ".DescribeTasks", ".StopTask"]
                    .iter()
                    .any(|operation| value.ends_with(operation));
                request = request.header(name, value);
            }
            _ => request = request.header(name, value),
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .await
        .expect("the request body");
    let answer = request.body(body).send().await.expect("moto answers");
    let status = answer.status();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.1")
        .to_owned();
    let text = answer.text().await.expect("moto's answer");
    let text = if about_tasks {
        text.replace("\"cpu\": 0,", "\"cpu\": \"0\",")
            .replace("\"cpu\": 0}", "\"cpu\": \"0\"}")
    } else {
        text
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        text.len()
    );
    let mut stream = reader.into_inner();
    stream
        .write_all(head.as_bytes())
        .await
        .expect("the answer's head");
    stream
        .write_all(text.as_bytes())
        .await
        .expect("the answer's body");
    stream.shutdown().await.ok();
}
