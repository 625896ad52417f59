//! `cargo xtask prometheus`: Debian's Prometheus (installed with apt-get when missing) scrapes
//! the server's `/metrics` every second with the metrics token, while the check makes a known
//! load (unauthorised reads, job submissions, `reefguide worker` processes running the jobs);
//! PromQL queries through Prometheus' HTTP API must then return exactly that load.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::bench::api;
use crate::moto::free_loopback_address;
use crate::server::{Profile, Server, ServerOptions, build_binary, with_scratch_server};
use crate::service_process::{ServiceProcess, http_status};
use crate::workers::{WorkerPool, Workers};

/// Debian's Prometheus.
const PROMETHEUS: &str = "/usr/bin/prometheus";
/// The server's ADMIN account (it submits the jobs).
const ADMIN: (&str, &str) = (
    "prometheus-admin@reefguide.test",
    "prometheus-admin-password",
);
/// The workers' account.
const WORKER: (&str, &str) = ("prometheus-worker@reefguide.test", "prometheus-worker-pw");
/// The bearer token `/metrics` requires.
const METRICS_TOKEN: &str = "prometheus-check-token";
/// TEST jobs submitted (distinct payloads: no cache hit).
const JOBS: u64 = 24;
/// Unauthenticated `GET /api/polygons/{id}` requests (401s: a series no one else adds to).
const REFUSED_READS: u64 = 7;
/// How long Prometheus may take to start, and to scrape what the load did.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SCRAPED_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the check on a scratch database of the Postgres server at `admin_url`.
pub fn run_check(admin_url: &str) -> anyhow::Result<()> {
    let prometheus = crate::apt::ensure_package(PROMETHEUS, "prometheus", "the prometheus check")?;
    let binary = build_binary(Profile::Debug)?;
    let dir = crate::target_dir().join("prometheus");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let env = [("REEFGUIDE_METRICS_TOKEN", METRICS_TOKEN)];
    let options = ServerOptions {
        binary: &binary,
        admin: ADMIN,
        worker: Some(WORKER),
        env: &env,
    };
    tokio::runtime::Runtime::new()?.block_on(with_scratch_server(
        admin_url,
        "prometheus",
        &options,
        async |server, _| {
            let scraper = Prometheus::start(&prometheus, &dir, server)?;
            load(server, &binary, &dir).await?;
            let expected = expectations();
            scraper.wait_for(&expected).await?;
            eprintln!(
                "xtask: prometheus: every query answered as expected ({} queries)",
                expected.len()
            );
            Ok(())
        },
    ))
}

/// A PromQL query and the value it must return.
struct Expectation {
    query: &'static str,
    value: f64,
}

/// What Prometheus must report once it scraped the load.
fn expectations() -> Vec<Expectation> {
    let jobs = JOBS as f64;
    vec![
        Expectation {
            query: r#"up{job="reefguide"}"#,
            value: 1.0,
        },
        Expectation {
            query: r#"sum(http_requests_total{route="/api/polygons/{id}",method="GET",status="401"})"#,
            value: REFUSED_READS as f64,
        },
        Expectation {
            query: r#"sum(http_requests_total{route="/api/jobs",method="POST",status="200"})"#,
            value: jobs,
        },
        Expectation {
            query: r#"sum(http_request_duration_seconds_count{route="/api/jobs",method="POST"})"#,
            value: jobs,
        },
        Expectation {
            query: r#"max(reefguide_jobs{type="TEST",state="SUCCEEDED"})"#,
            value: jobs,
        },
        Expectation {
            query: r#"max(reefguide_jobs{type="TEST",state="PENDING"})"#,
            value: 0.0,
        },
        Expectation {
            query: r#"max(reefguide_job_queue_depth{type="TEST"})"#,
            value: 0.0,
        },
        Expectation {
            query: r#"sum(reefguide_job_claim_wait_seconds_count{type="TEST"})"#,
            value: jobs,
        },
        Expectation {
            query: r#"max(reefguide_job_census_up)"#,
            value: 1.0,
        },
    ]
}

/// The load: refused reads, then [`JOBS`] TEST jobs run by two `reefguide worker` processes
/// until every one succeeded.
async fn load(server: &Server, binary: &Path, logs: &Path) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for id in 0..REFUSED_READS {
        let status = client
            .get(format!("{}/api/polygons/{}", server.base, 1000 + id))
            .send()
            .await?
            .status();
        if status.as_u16() != 401 {
            bail!("an unauthenticated polygon read answered {status}, not 401");
        }
    }
    let token = api::login(&client, &server.base, ADMIN.0, ADMIN.1).await?;
    let mut ids = Vec::new();
    for n in 0..JOBS {
        let job = json!({"type": "TEST", "inputPayload": {"id": n}});
        let reply = api::post(
            &client,
            &format!("{}/api/jobs", server.base),
            Some(&token),
            &job,
        )
        .await?;
        ids.push(
            reply["jobId"]
                .as_u64()
                .context("a submission without jobId")?,
        );
    }
    let pool = WorkerPool {
        processes: 2,
        concurrency: 2,
        account: WORKER,
    };
    let mut workers = Workers::start(binary, &server.base, logs, &pool)?;
    let finished = wait_until_succeeded(&client, &server.base, &token, &ids).await;
    workers.stop();
    finished
}

/// Waits until every job of `ids` has succeeded.
async fn wait_until_succeeded(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    ids: &[u64],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let job: Value = client
                .get(format!("{base}/api/jobs/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            match job["job"]["status"].as_str() {
                Some("SUCCEEDED") => break,
                Some("FAILED" | "CANCELLED" | "TIMED_OUT") => bail!("job {id} ended: {job}"),
                _ if Instant::now() > deadline => bail!("job {id} did not succeed in time: {job}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

/// Prometheus, scraping one server every second; stopped on drop.
struct Prometheus {
    _process: ServiceProcess,
    address: SocketAddr,
}

impl Prometheus {
    /// Starts `binary` with its configuration and data under `dir`, scraping `server`.
    fn start(binary: &Path, dir: &Path, server: &Server) -> anyhow::Result<Self> {
        let target = server
            .base
            .strip_prefix("http://")
            .context("the server's URL is not http://")?;
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, scrape_config(target))?;
        let address = free_loopback_address()?;
        let log_path = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let process = ServiceProcess::new("prometheus", child, &log_path);
        process.stop_on_signal()?;
        process.wait_until(&format!("ready on {address}"), READY_TIMEOUT, || {
            http_status(address, "/-/ready") == Some(200)
        })?;
        Ok(Self {
            _process: process,
            address,
        })
    }

    /// Polls every query until each returns its value, failing with what they returned last.
    async fn wait_for(&self, expected: &[Expectation]) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + SCRAPED_TIMEOUT;
        loop {
            let mut misses = Vec::new();
            for expectation in expected {
                let got = self.query(&client, expectation.query).await?;
                if got != Some(expectation.value) {
                    misses.push(format!(
                        "{} = {got:?}, expected {}",
                        expectation.query, expectation.value
                    ));
                }
            }
            if misses.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "Prometheus never reported the load:\n  {}",
                    misses.join("\n  ")
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The single value an instant `query` returns (`None` when it returns no series).
    async fn query(&self, client: &reqwest::Client, query: &str) -> anyhow::Result<Option<f64>> {
        let reply: Value = client
            .get(format!("http://{}/api/v1/query", self.address))
            .query(&[("query", query)])
            .send()
            .await?
            .json()
            .await
            .with_context(|| format!("Prometheus' answer to {query} is not JSON"))?;
        sample_value(&reply).with_context(|| format!("Prometheus' answer to {query}: {reply}"))
    }
}

/// The scrape configuration: the server every second, with the metrics token.
fn scrape_config(target: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: reefguide\n    metrics_path: /metrics\n    \
         authorization:\n      credentials: {METRICS_TOKEN}\n    \
         static_configs:\n      - targets: [\"{target}\"]\n"
    )
}

/// The value of an instant-query answer of at most one series.
fn sample_value(reply: &Value) -> anyhow::Result<Option<f64>> {
    if reply["status"] != "success" {
        bail!("the query failed");
    }
    let series = reply["data"]["result"]
        .as_array()
        .context("no result list")?;
    match series.as_slice() {
        [] => Ok(None),
        [one] => {
            let text = one["value"][1]
                .as_str()
                .context("a sample without a value")?;
            Ok(Some(text.parse().context("a value that is not a number")?))
        }
        _ => bail!("{} series where one was expected", series.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_answers_are_read() {
        let one = json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [1.7e9, "24"]}]}});
        assert_eq!(sample_value(&one).expect("read"), Some(24.0));
        let none = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
        assert_eq!(sample_value(&none).expect("read"), None);
        let failed = json!({"status": "error", "error": "parse error"});
        assert!(sample_value(&failed).is_err());
        let two = json!({"status": "success", "data": {"result": [
            {"value": [1, "1"]}, {"value": [1, "2"]}]}});
        assert!(sample_value(&two).is_err());
    }

    #[test]
    fn the_scrape_config_names_the_target_and_token() {
        let config = scrape_config("127.0.0.1:4321");
        assert!(config.contains("targets: [\"127.0.0.1:4321\"]"), "{config}");
        assert!(
            config.contains(&format!("credentials: {METRICS_TOKEN}")),
            "{config}"
        );
        assert!(config.contains("scrape_interval: 1s"), "{config}");
    }
}
