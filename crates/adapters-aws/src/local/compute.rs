//! The local compute cluster: worker processes on this machine, so the embedded default
//! processes jobs with no cloud at all. Its "service" is a pool kept at a desired size (what
//! ECS's service is); `run_tasks` starts extra one-off workers for a compute target, as the
//! capacity manager asks. Status, scale and redeploy act on this pool.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use reefguide_ports::{
    Clock, ComputeCluster, ComputeError, Deployment, ServiceEvent, ServiceStatus, TaskInfo,
    TaskState,
};
use tokio::process::{Child, Command};

/// Events kept for the status (contract §8 shows the latest 5).
const EVENTS_KEPT: usize = 5;

/// How to start one worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The program (e.g. this binary).
    pub program: String,
    /// Its arguments (e.g. `["worker"]`).
    pub args: Vec<String>,
    /// Extra environment (API URL, worker credentials…).
    pub env: Vec<(String, String)>,
}

/// Settings of the local pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalComputeSettings {
    /// How to start a worker.
    pub command: WorkerCommand,
    /// Workers the pool keeps running from the start.
    pub desired_count: u32,
    /// Largest desired count (and most one-off workers per target).
    pub max_workers: u32,
}

/// One worker process.
struct Worker {
    id: String,
    child: Child,
    /// `None` for the pool's own workers; the compute target for one-off workers.
    target: Option<String>,
}

/// What the pool tracks.
struct Pool {
    desired: u32,
    deployment: u32,
    workers: Vec<Worker>,
    /// The latest events, newest first.
    events: VecDeque<ServiceEvent>,
    /// The time events are stamped with.
    clock: Arc<dyn Clock>,
}

/// Worker processes on this machine.
#[derive(Clone)]
pub struct LocalWorkerPool {
    settings: Arc<LocalComputeSettings>,
    pool: Arc<Mutex<Pool>>,
}

impl std::fmt::Debug for LocalWorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWorkerPool")
            .field("program", &self.settings.command.program)
            .field("max_workers", &self.settings.max_workers)
            .finish_non_exhaustive()
    }
}

impl LocalWorkerPool {
    /// A pool that starts `settings.desired_count` workers now; its events are stamped with
    /// `clock`'s time.
    ///
    /// # Errors
    /// When a worker process cannot be started.
    pub fn start(
        settings: LocalComputeSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ComputeError> {
        let desired = settings.desired_count.min(settings.max_workers);
        let pool = Self {
            settings: Arc::new(settings),
            pool: Arc::new(Mutex::new(Pool {
                desired,
                deployment: 1,
                workers: Vec::new(),
                events: VecDeque::new(),
                clock,
            })),
        };
        pool.reconcile()?;
        Ok(pool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts one worker process.
    fn spawn(&self, target: Option<&str>) -> Result<Worker, ComputeError> {
        let command = &self.settings.command;
        let mut process = Command::new(&command.program);
        process
            .args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(target) = target {
            process.env("REEFGUIDE_COMPUTE_TARGET", target);
        }
        let child = process.spawn().map_err(|e| {
            ComputeError::Upstream(format!("cannot start worker {:?}: {e}", command.program))
        })?;
        let id = format!("local-{}", child.id().unwrap_or_default());
        Ok(Worker {
            id,
            child,
            target: target.map(str::to_owned),
        })
    }

    /// Replaces pool workers that exited (call it now and then, as ECS would).
    ///
    /// # Errors
    /// When a worker process cannot be started.
    pub fn maintain(&self) -> Result<(), ComputeError> {
        self.reconcile()
    }

    /// Stops every worker (pool and one-off): the server is shutting down. Their jobs return to
    /// the queue when their leases expire.
    pub fn shutdown(&self) {
        let mut pool = self.lock();
        pool.desired = 0;
        for worker in &mut pool.workers {
            let _ = worker.child.start_kill();
        }
        pool.workers.clear();
    }

    /// Forgets workers that exited (recording an event for each), then starts or stops pool
    /// workers until the pool has its desired size.
    fn reconcile(&self) -> Result<(), ComputeError> {
        let mut pool = self.lock();
        reap(&mut pool);
        let own = pool.workers.iter().filter(|w| w.target.is_none()).count();
        let desired = usize::try_from(pool.desired).unwrap_or(usize::MAX);
        for _ in own..desired {
            let worker = self.spawn(None)?;
            record(&mut pool, format!("started worker {}", worker.id));
            pool.workers.push(worker);
        }
        let mut surplus = own.saturating_sub(desired);
        let mut kept = Vec::with_capacity(pool.workers.len());
        let mut stopped = Vec::new();
        for mut worker in std::mem::take(&mut pool.workers) {
            if surplus > 0 && worker.target.is_none() {
                surplus -= 1;
                // SIGKILL: the job's lease returns it to the queue.
                let _ = worker.child.start_kill();
                stopped.push(worker.id);
            } else {
                kept.push(worker);
            }
        }
        pool.workers = kept;
        for id in stopped {
            record(&mut pool, format!("stopped worker {id}"));
        }
        Ok(())
    }
}

/// Forgets exited workers, recording an event for each.
fn reap(pool: &mut Pool) {
    let mut ended = Vec::new();
    pool.workers
        .retain_mut(|worker| match worker.child.try_wait() {
            Ok(Some(status)) => {
                ended.push(format!("worker {} exited ({status})", worker.id));
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    for message in ended {
        record(pool, message);
    }
}

/// Records an event, stamped with the pool's clock (keeping the latest [`EVENTS_KEPT`]).
fn record(pool: &mut Pool, message: String) {
    let created_at = pool.clock.now();
    pool.events.push_front(ServiceEvent {
        created_at,
        message,
    });
    pool.events.truncate(EVENTS_KEPT);
}

#[async_trait]
impl ComputeCluster for LocalWorkerPool {
    async fn service_status(&self) -> Result<ServiceStatus, ComputeError> {
        self.reconcile()?;
        let pool = self.lock();
        let running = u32::try_from(pool.workers.iter().filter(|w| w.target.is_none()).count())
            .unwrap_or(u32::MAX);
        Ok(ServiceStatus {
            running_count: running,
            pending_count: 0,
            desired_count: pool.desired,
            deployments: vec![Deployment {
                status: "PRIMARY".into(),
                task_definition: format!(
                    "local:{} (deployment {})",
                    self.settings.command.program, pool.deployment
                ),
                desired_count: pool.desired,
                pending_count: 0,
                running_count: running,
                failed_tasks: 0,
                rollout_state: Some("COMPLETED".into()),
                rollout_state_reason: None,
            }],
            events: pool.events.iter().cloned().collect(),
            service_status: "ACTIVE".into(),
        })
    }

    async fn set_desired_count(&self, count: u32) -> Result<(), ComputeError> {
        if count > self.settings.max_workers {
            return Err(ComputeError::Invalid(format!(
                "at most {} local workers",
                self.settings.max_workers
            )));
        }
        self.lock().desired = count;
        self.reconcile()
    }

    async fn redeploy(&self) -> Result<(), ComputeError> {
        {
            let mut pool = self.lock();
            pool.deployment += 1;
            for worker in pool.workers.iter_mut().filter(|w| w.target.is_none()) {
                let _ = worker.child.start_kill();
            }
            let deployment = pool.deployment;
            record(&mut pool, format!("deployment {deployment} started"));
        }
        // Wait for the old workers to go before starting their replacements.
        for _ in 0..50 {
            let alive = {
                let mut pool = self.lock();
                reap(&mut pool);
                pool.workers.iter().any(|w| w.target.is_none())
            };
            if !alive {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.reconcile()
    }

    async fn run_tasks(&self, target: &str, count: u32) -> Result<Vec<String>, ComputeError> {
        let mut pool = self.lock();
        reap(&mut pool);
        let running = pool
            .workers
            .iter()
            .filter(|w| w.target.as_deref() == Some(target))
            .count();
        let room = usize::try_from(self.settings.max_workers)
            .unwrap_or(usize::MAX)
            .saturating_sub(running);
        let mut ids = Vec::new();
        for _ in 0..usize::try_from(count).unwrap_or(usize::MAX).min(room) {
            let worker = self.spawn(Some(target))?;
            ids.push(worker.id.clone());
            record(
                &mut pool,
                format!("started worker {} for {target}", worker.id),
            );
            pool.workers.push(worker);
        }
        Ok(ids)
    }

    async fn describe_tasks(&self, ids: &[String]) -> Result<Vec<TaskInfo>, ComputeError> {
        let mut pool = self.lock();
        reap(&mut pool);
        Ok(ids
            .iter()
            .map(|id| TaskInfo {
                id: id.clone(),
                state: if pool.workers.iter().any(|w| &w.id == id) {
                    TaskState::Running
                } else {
                    TaskState::Stopped
                },
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use reefguide_ports::SystemClock;

    use super::*;

    /// Workers that sleep for a minute (or exit at once with `exit_at_once`).
    fn pool(desired: u32, exit_at_once: bool) -> LocalWorkerPool {
        LocalWorkerPool::start(
            LocalComputeSettings {
                command: WorkerCommand {
                    program: "sh".into(),
                    args: vec![
                        "-c".into(),
                        if exit_at_once { "exit 0" } else { "sleep 60" }.into(),
                    ],
                    env: vec![],
                },
                desired_count: desired,
                max_workers: 3,
            },
            Arc::new(SystemClock),
        )
        .expect("pool starts")
    }

    #[tokio::test]
    async fn the_pool_keeps_its_desired_size_and_scales() {
        let pool = pool(2, false);
        let status = pool.service_status().await.expect("status");
        assert_eq!((status.running_count, status.desired_count), (2, 2));
        pool.set_desired_count(1).await.expect("scale down");
        assert_eq!(
            pool.service_status().await.expect("status").running_count,
            1
        );
        pool.set_desired_count(3).await.expect("scale up");
        assert_eq!(
            pool.service_status().await.expect("status").running_count,
            3
        );
        assert!(matches!(
            pool.set_desired_count(4).await,
            Err(ComputeError::Invalid(_))
        ));
        let events = pool.service_status().await.expect("status").events;
        assert!(events.len() <= EVENTS_KEPT && !events.is_empty());
    }

    #[tokio::test]
    async fn redeploy_replaces_every_pool_worker() {
        let pool = pool(2, false);
        let before: Vec<String> = pool.lock().workers.iter().map(|w| w.id.clone()).collect();
        pool.redeploy().await.expect("redeploy");
        let after: Vec<String> = pool.lock().workers.iter().map(|w| w.id.clone()).collect();
        assert_eq!(after.len(), 2);
        assert!(
            after.iter().all(|id| !before.contains(id)),
            "{before:?} {after:?}"
        );
        let status = pool.service_status().await.expect("status");
        assert!(
            status.deployments[0]
                .task_definition
                .contains("deployment 2")
        );
    }

    #[tokio::test]
    async fn one_off_workers_are_tracked_until_they_exit() {
        let pool = pool(0, false);
        let ids = pool.run_tasks("default", 5).await.expect("started");
        assert_eq!(ids.len(), 3, "capped at max_workers");
        let states = pool.describe_tasks(&ids).await.expect("described");
        assert!(states.iter().all(|t| t.state == TaskState::Running));
        let unknown = pool
            .describe_tasks(&["local-0".to_owned()])
            .await
            .expect("described");
        assert_eq!(unknown[0].state, TaskState::Stopped);

        let quick = self::pool(0, true);
        let ids = quick.run_tasks("default", 1).await.expect("started");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let states = quick.describe_tasks(&ids).await.expect("described");
        assert_eq!(states[0].state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn a_missing_program_is_an_upstream_error() {
        let started = LocalWorkerPool::start(
            LocalComputeSettings {
                command: WorkerCommand {
                    program: "/nonexistent/reefguide-worker".into(),
                    args: vec![],
                    env: vec![],
                },
                desired_count: 1,
                max_workers: 1,
            },
            Arc::new(SystemClock),
        );
        assert!(matches!(started, Err(ComputeError::Upstream(_))));
    }
}
