//! Closed-loop load generation: N concurrent tasks, each sending its next request as soon as the
//! previous one is answered, for a fixed duration (after an unmeasured warm-up) or a fixed
//! number of requests. Every latency is recorded; every non-2xx answer and transport error is an
//! error, counted by kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What one request ended as: success, or the kind of error (`HTTP 503`, `transport`).
pub type Outcome = Result<(), String>;

/// A boxed future, as returned by a [`Request`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Makes the `n`-th request (`n` counts from 0 over all tasks of the run).
pub type Request = Arc<dyn Fn(u64) -> BoxFuture<Outcome> + Send + Sync>;

/// An HTTP client for `connections` concurrent requests (HTTP/1.1, one connection each, kept
/// alive).
pub fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// The outcome of a sent request; reads the body so that the connection can be reused.
pub async fn outcome(sent: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match sent {
        Ok(response) => {
            let status = response.status();
            let body = response.bytes().await;
            match body {
                Ok(_) if status.is_success() => Ok(()),
                Ok(_) => Err(format!("HTTP {}", status.as_u16())),
                Err(_) => Err("transport (body)".into()),
            }
        }
        Err(error) if error.is_timeout() => Err("transport (timeout)".into()),
        Err(error) if error.is_connect() => Err("transport (connect)".into()),
        Err(_) => Err("transport".into()),
    }
}

/// Error counts by kind.
pub type ErrorKinds = BTreeMap<String, u64>;

/// Adds one error of `kind` to `errors`.
pub fn count_error(errors: &mut ErrorKinds, kind: String) {
    *errors.entry(kind).or_default() += 1;
}

/// Every latency of a measured run and its errors.
#[derive(Debug, Default)]
pub struct Sample {
    /// Latencies of every measured request, sorted.
    pub latencies: Vec<Duration>,
    /// Errors by kind.
    pub errors: ErrorKinds,
    /// Length of the measured window.
    pub seconds: f64,
}

/// The figures of a [`Sample`].
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Measured requests.
    pub requests: u64,
    /// Requests per second over the measured window.
    pub per_second: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th-percentile latency.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
    /// Errors (non-2xx answers and transport errors).
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: ErrorKinds,
    /// Length of the measured window in seconds.
    pub seconds: f64,
}

impl Sample {
    /// Its figures.
    pub fn stats(&self) -> Stats {
        let requests = self.latencies.len() as u64;
        Stats {
            requests,
            per_second: requests as f64 / self.seconds.max(1e-9),
            p50_ms: percentile_ms(&self.latencies, 0.50),
            p99_ms: percentile_ms(&self.latencies, 0.99),
            max_ms: self
                .latencies
                .last()
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            errors: self.errors.values().sum(),
            error_kinds: self.errors.clone(),
            seconds: self.seconds,
        }
    }
}

/// The `quantile` (0..=1) of sorted latencies, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// What one load task collected.
#[derive(Default)]
struct TaskSample {
    latencies: Vec<Duration>,
    errors: ErrorKinds,
}

/// Merges the samples of the tasks (sorting the latencies).
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<TaskSample>>,
    measured_from: Instant,
) -> anyhow::Result<Sample> {
    let mut sample = Sample::default();
    for task in tasks {
        let part = task.await?;
        sample.latencies.extend(part.latencies);
        for (kind, count) in part.errors {
            *sample.errors.entry(kind).or_default() += count;
        }
    }
    sample.seconds = measured_from.elapsed().as_secs_f64();
    sample.latencies.sort_unstable();
    Ok(sample)
}

/// Runs `request` from `connections` tasks for `warm_up` (unmeasured) and then `duration`;
/// measures the requests started after the warm-up.
pub async fn for_duration(
    connections: usize,
    warm_up: Duration,
    duration: Duration,
    request: Request,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let measured_from = started + warm_up;
    let end = measured_from + duration;
    let next = Arc::new(AtomicU64::new(0));
    let tasks = (0..connections)
        .map(|_| {
            let (request, next) = (request.clone(), next.clone());
            tokio::spawn(async move {
                let mut sample = TaskSample::default();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        return sample;
                    }
                    let result = request(next.fetch_add(1, Ordering::Relaxed)).await;
                    if sent >= measured_from {
                        sample.latencies.push(sent.elapsed());
                        if let Err(kind) = result {
                            count_error(&mut sample.errors, kind);
                        }
                    }
                }
            })
        })
        .collect();
    gather(tasks, measured_from).await
}

/// Sends exactly `count` requests from `clients` tasks and measures them all.
pub async fn for_count(clients: usize, count: u64, request: Request) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let tasks = (0..clients)
        .map(|_| {
            let (request, next) = (request.clone(), next.clone());
            tokio::spawn(async move {
                let mut sample = TaskSample::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return sample;
                    }
                    let sent = Instant::now();
                    let result = request(n).await;
                    sample.latencies.push(sent.elapsed());
                    if let Err(kind) = result {
                        count_error(&mut sample.errors, kind);
                    }
                }
            })
        })
        .collect();
    gather(tasks, started).await
}
