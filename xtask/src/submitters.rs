//! The load of the multi-replica checks: tasks submitting TEST jobs until stopped, and the wait
//! until every job in the database is done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::bench::throughput::{QueueCheck, check_queue};

/// Tasks submitting distinct TEST jobs (as an ADMIN) until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the submitters saw.
#[derive(Default)]
pub struct Tally {
    /// Jobs accepted (2xx).
    pub submitted: AtomicU64,
    /// Every refused or failed submission.
    pub failures: Mutex<Vec<String>>,
    /// How long each accepted submission took.
    latencies: Mutex<Vec<Duration>>,
}

impl Load {
    /// `submitters` tasks posting to the server at `base` with `token`, each pausing `pause`
    /// after every submission.
    pub fn start(base: &str, token: &str, submitters: usize, pause: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let next_id = Arc::new(AtomicU64::new(0));
        let tasks = (0..submitters)
            .map(|_| {
                let (stop, tally, next_id) = (stop.clone(), tally.clone(), next_id.clone());
                let (url, token) = (format!("{base}/api/jobs"), token.to_owned());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::SeqCst) {
                        let id = next_id.fetch_add(1, Ordering::SeqCst);
                        let job = json!({"type": "TEST", "inputPayload": {"id": id}});
                        let sending = Instant::now();
                        let sent = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&job)
                            .send()
                            .await;
                        match sent {
                            Ok(reply) if reply.status().is_success() => {
                                tally.submitted.fetch_add(1, Ordering::SeqCst);
                                tally
                                    .latencies
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .push(sending.elapsed());
                            }
                            Ok(reply) => tally.failed(format!("job {id}: {}", reply.status())),
                            Err(error) => tally.failed(format!("job {id}: {error}")),
                        }
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Self { stop, tally, tasks }
    }

    /// Stops the submitters (each finishes its submission under way); what they saw.
    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
        self.tally
    }
}

impl Tally {
    /// The median and 99th percentile of the accepted submissions' latencies, in ms.
    pub fn latency_percentiles(&self) -> (f64, f64) {
        let mut latencies = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        latencies.sort();
        let at = |quantile: f64| {
            let last = latencies.len().saturating_sub(1);
            // Nearest rank, rounded down: a quantile of a few thousand samples.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let index = ((last as f64) * quantile) as usize;
            latencies
                .get(index)
                .map_or(0.0, |latency| latency.as_secs_f64() * 1_000.0)
        };
        (at(0.5), at(0.99))
    }

    fn failed(&self, what: String) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }
}

/// How many jobs the database should hold when all is done.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Exactly this many (every submission was answered).
    Exactly(u64),
    /// At least this many (submissions cut off may or may not have been stored).
    AtLeast(u64),
}

/// Waits until no job is left unfinished and the expected number succeeded, and returns the
/// final queue check.
pub async fn wait_for_queue(
    db: &sea_orm::DatabaseConnection,
    expect: Expect,
) -> anyhow::Result<QueueCheck> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let queue = check_queue(db).await?;
        let succeeded = u64::try_from(queue.succeeded).unwrap_or(0);
        let enough = match expect {
            Expect::Exactly(count) => succeeded == count,
            Expect::AtLeast(count) => succeeded >= count,
        };
        if enough && queue.unfinished == 0 {
            return Ok(queue);
        }
        if Instant::now() > deadline {
            bail!("{succeeded} jobs succeeded in time, expected {expect:?}: {queue:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
