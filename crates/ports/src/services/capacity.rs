//! The capacity manager: starts workers on the compute cluster as the job queue grows.
//!
//! Job types are grouped into *compute targets* (types sharing a task definition, see
//! [`JobType::compute_target`]); each target has a [`ScalingPolicy`]. One
//! [`CapacityManager::run_cycle`] reads the claimable jobs per type (one query, true counts),
//! sums them per target, refreshes the tasks it started earlier (forgetting those stopped or no
//! longer known) and, following [`plan`], starts the missing workers. It fixes ReefGuide's
//! manager: the whole queue is counted (not a page of 10), `min_workers` are kept alive while the
//! queue is empty, a launch that starts fewer tasks than asked (even none) is logged and retried
//! on a later cycle once the cooldown has passed (never in a loop), and a failure on one target
//! does not stop the others.
//!
//! Scaling down is not done here: workers exit on their idle timeout, and stopped tasks simply
//! stop counting. The loop that calls `run_cycle` periodically (and makes sure only one server
//! instance does) lives in the binary.
//!
//! What the manager remembers of a target (its live tasks, its last launch) is read from a
//! [`CapacityLedger`] at the start of the target's cycle and written back after it; the last
//! launch time is written *before* tasks are started, so an instance taking over after a crash
//! mid-launch still waits for the cooldown. With the shared store as the ledger
//! ([`CapacityManager::with_ledger`]), a change of the acting instance starts no extra task.

use std::collections::{BTreeMap, HashSet};

use reefguide_domain::capacity::{PlanReason, ScalingPolicy, plan};
use reefguide_domain::job::registry::{JobType, JobTypeName, JobTypeRegistry};
use thiserror::Error;
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::compute::{ComputeCluster, ComputeError, TaskState};
use crate::repositories::capacity::{CapacityLedger, MemoryLedger, TargetLedger};
use crate::repositories::jobs::JobRepository;

/// Why a capacity manager cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CapacityConfigError {
    /// A job type runs on a compute target that has no scaling policy.
    #[error("job type {job_type} runs on compute target {target:?}, which has no scaling policy")]
    NoPolicy {
        /// The job type.
        job_type: JobTypeName,
        /// Its compute target.
        target: String,
    },
}

/// Why a whole capacity cycle failed (nothing was started).
#[derive(Debug, Error)]
pub enum CapacityError {
    /// The pending jobs could not be counted.
    #[error("cannot count the pending jobs")]
    PendingCounts(#[source] anyhow::Error),
}

/// Why one compute target could not be scaled in a cycle (the others still were).
#[derive(Debug, Error)]
pub enum TargetError {
    /// The states of the target's tasks could not be read; nothing was started for it.
    #[error("cannot describe the tasks of compute target {target:?}")]
    Describe {
        /// The compute target.
        target: String,
        /// The cluster's error.
        #[source]
        source: ComputeError,
    },
    /// Starting tasks failed; the next attempt waits for the cooldown.
    #[error("cannot start tasks for compute target {target:?}")]
    Launch {
        /// The compute target.
        target: String,
        /// The cluster's error.
        #[source]
        source: ComputeError,
    },
    /// The target's ledger could not be read or written (when written after a launch, the
    /// started tasks are not remembered and count only once seen by a worker claim).
    #[error("cannot read or record the ledger of compute target {target:?}")]
    Ledger {
        /// The compute target.
        target: String,
        /// The store's error.
        #[source]
        source: anyhow::Error,
    },
}

/// What one cycle did for one compute target.
#[derive(Debug)]
pub struct TargetReport {
    /// The compute target.
    pub target: String,
    /// Claimable jobs of the target's types.
    pub pending: u64,
    /// Workers starting or running before this cycle's launch (when their states could not be
    /// read: the tasks still tracked).
    pub live: u32,
    /// Workers wanted for `pending`.
    pub desired: u32,
    /// Tasks started in this cycle (what the cluster reported started).
    pub launched: u32,
    /// Why the plan launched what it did; `None` when no plan was made (see `error`).
    pub reason: Option<PlanReason>,
    /// What went wrong for this target, if anything.
    pub error: Option<TargetError>,
}

/// What one cycle did.
#[derive(Debug)]
pub struct CycleReport {
    /// One report per compute target with a scaling policy, sorted by target name.
    pub targets: Vec<TargetReport>,
    /// Claimable jobs of types the registry does not know (no target runs them).
    pub unrouted_pending: u64,
}

impl CycleReport {
    /// The report of `target`, if it has a scaling policy.
    pub fn target(&self, target: &str) -> Option<&TargetReport> {
        self.targets.iter().find(|report| report.target == target)
    }

    /// Tasks started in this cycle, over every target.
    pub fn launched(&self) -> u32 {
        self.targets
            .iter()
            .fold(0, |total, report| total.saturating_add(report.launched))
    }
}

/// A compute target: its policy, and a lock that serialises its cycles in this process.
#[derive(Debug)]
struct Target {
    policy: ScalingPolicy,
    cycle: Mutex<()>,
}

/// Starts workers for compute targets as their queues grow (see the
/// [module documentation](self)). Meant to be driven by a single loop; concurrent cycles are
/// serialised per target.
pub struct CapacityManager<
    S: JobRepository,
    K: ComputeCluster,
    C: Clock,
    L: CapacityLedger = MemoryLedger,
> {
    store: S,
    cluster: K,
    clock: C,
    ledger: L,
    /// Compute target of every registered job type.
    routes: BTreeMap<JobTypeName, String>,
    /// Every compute target with a policy, by name.
    targets: BTreeMap<String, Target>,
}

impl<S: JobRepository, K: ComputeCluster, C: Clock, L: CapacityLedger> std::fmt::Debug
    for CapacityManager<S, K, C, L>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapacityManager")
            .field("routes", &self.routes)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl<S: JobRepository, K: ComputeCluster, C: Clock> CapacityManager<S, K, C> {
    /// A manager scaling each compute target of `policies` for the job types of `registry` that
    /// run on it ([`JobType::compute_target`]). A target without any job type still keeps its
    /// `min_workers` alive. It remembers its tasks in memory until given a shared ledger
    /// ([`CapacityManager::with_ledger`]).
    ///
    /// # Errors
    /// [`CapacityConfigError::NoPolicy`] when a job type runs on a target absent from `policies`.
    pub fn new(
        store: S,
        cluster: K,
        clock: C,
        registry: &JobTypeRegistry,
        policies: BTreeMap<String, ScalingPolicy>,
    ) -> Result<Self, CapacityConfigError> {
        let routes = registry
            .iter()
            .map(|job_type| route(job_type, &policies))
            .collect::<Result<_, _>>()?;
        let targets = policies
            .into_iter()
            .map(|(name, policy)| {
                let cycle = Mutex::new(());
                (name, Target { policy, cycle })
            })
            .collect();
        Ok(Self {
            store,
            cluster,
            clock,
            ledger: MemoryLedger::default(),
            routes,
            targets,
        })
    }
}

impl<S: JobRepository, K: ComputeCluster, C: Clock, L: CapacityLedger> CapacityManager<S, K, C, L> {
    /// The same manager, remembering its tasks and launches in `ledger` (the shared store, so
    /// that whichever instance acts next carries on).
    pub fn with_ledger<M: CapacityLedger>(self, ledger: M) -> CapacityManager<S, K, C, M> {
        CapacityManager {
            store: self.store,
            cluster: self.cluster,
            clock: self.clock,
            ledger,
            routes: self.routes,
            targets: self.targets,
        }
    }

    /// Runs one cycle: counts the claimable jobs per target, forgets stopped tasks and starts the
    /// missing workers of each target ([`plan`]). A target's failure is reported in its
    /// [`TargetReport`] and does not stop the others.
    ///
    /// # Errors
    /// [`CapacityError::PendingCounts`] when the queue cannot be read (nothing is started).
    pub async fn run_cycle(&self) -> Result<CycleReport, CapacityError> {
        let counts = self
            .store
            .pending_counts()
            .await
            .map_err(CapacityError::PendingCounts)?;
        let (pending, unrouted_pending) = self.pending_per_target(counts);
        if unrouted_pending > 0 {
            tracing::debug!(unrouted_pending, "pending jobs of unregistered types");
        }
        let mut targets = Vec::with_capacity(self.targets.len());
        for (name, target) in &self.targets {
            let pending = pending.get(name.as_str()).copied().unwrap_or(0);
            targets.push(self.scale(name, target, pending).await);
        }
        Ok(CycleReport {
            targets,
            unrouted_pending,
        })
    }

    /// Pending jobs summed per target, and those of types no target runs.
    fn pending_per_target(&self, counts: BTreeMap<JobTypeName, u64>) -> (BTreeMap<&str, u64>, u64) {
        let mut per_target = BTreeMap::new();
        let mut unrouted = 0_u64;
        for (job_type, pending) in counts {
            let sum = match self.routes.get(&job_type) {
                Some(target) => per_target.entry(target.as_str()).or_insert(0_u64),
                None => &mut unrouted,
            };
            *sum = sum.saturating_add(pending);
        }
        (per_target, unrouted)
    }

    /// One cycle for one target.
    async fn scale(&self, name: &str, target: &Target, pending: u64) -> TargetReport {
        let _serial = target.cycle.lock().await;
        let mut report = TargetReport {
            target: name.to_owned(),
            pending,
            live: 0,
            desired: target.policy.desired_workers(pending),
            launched: 0,
            reason: None,
            error: None,
        };
        let mut ledger = match self.ledger.target_ledger(name).await {
            Ok(ledger) => ledger,
            Err(source) => {
                report.error = Some(ledger_error(name, source));
                return report;
            }
        };
        let seen = ledger.clone();
        if let Err(error) = self.forget_stopped(name, &mut ledger).await {
            tracing::warn!(compute_target = name, error = %error, "cannot describe worker tasks");
            report.live = count(ledger.tasks.len());
            report.error = Some(error);
            return report;
        }
        report.live = count(ledger.tasks.len());
        let now = self.clock.now();
        let plan = plan(
            &target.policy,
            pending,
            report.live,
            ledger.last_launch,
            now,
        );
        report.reason = Some(plan.reason);
        if plan.launch > 0 {
            ledger.last_launch = Some(now);
            // Recorded before the launch: whoever acts next waits for the cooldown even if
            // this instance dies while tasks start.
            if let Err(error) = self.record(name, &ledger).await {
                report.error = Some(error);
                return report;
            }
            match self.launch(name, plan.launch).await {
                Ok(started) => {
                    report.launched = count(started.len());
                    ledger.tasks.extend(started);
                }
                Err(error) => report.error = Some(error),
            }
        }
        if ledger != seen
            && let Err(error) = self.record(name, &ledger).await
        {
            report.error.get_or_insert(error);
        }
        report
    }

    /// Writes the target's ledger.
    async fn record(&self, name: &str, ledger: &TargetLedger) -> Result<(), TargetError> {
        self.ledger
            .record_target_ledger(name, ledger)
            .await
            .map_err(|source| {
                tracing::warn!(compute_target = name, error = %source, "cannot record the capacity ledger");
                ledger_error(name, source)
            })
    }

    /// Drops the tracked tasks that stopped or that the cluster no longer reports.
    async fn forget_stopped(
        &self,
        name: &str,
        ledger: &mut TargetLedger,
    ) -> Result<(), TargetError> {
        if ledger.tasks.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ledger.tasks.iter().cloned().collect();
        let infos =
            self.cluster
                .describe_tasks(&ids)
                .await
                .map_err(|source| TargetError::Describe {
                    target: name.to_owned(),
                    source,
                })?;
        let alive: HashSet<String> = infos
            .into_iter()
            .filter(|info| info.state != TaskState::Stopped)
            .map(|info| info.id)
            .collect();
        ledger.tasks.retain(|id| alive.contains(id));
        Ok(())
    }

    /// Asks the cluster for `wanted` tasks once; the ids of those it started.
    async fn launch(&self, name: &str, wanted: u32) -> Result<Vec<String>, TargetError> {
        let started = self
            .cluster
            .run_tasks(name, wanted)
            .await
            .map_err(|source| TargetError::Launch {
                target: name.to_owned(),
                source,
            });
        match &started {
            Ok(ids) if count(ids.len()) < wanted => tracing::warn!(
                compute_target = name,
                wanted,
                started = ids.len(),
                "the cluster started fewer worker tasks than asked; retrying after the cooldown"
            ),
            Ok(ids) => tracing::info!(
                compute_target = name,
                started = ids.len(),
                "started worker tasks"
            ),
            Err(error) => {
                tracing::warn!(compute_target = name, error = %error, "cannot start worker tasks")
            }
        }
        started
    }
}

/// The job type's name and compute target, if that target has a policy.
fn route(
    job_type: &JobType,
    policies: &BTreeMap<String, ScalingPolicy>,
) -> Result<(JobTypeName, String), CapacityConfigError> {
    let target = job_type.compute_target();
    if !policies.contains_key(target) {
        return Err(CapacityConfigError::NoPolicy {
            job_type: job_type.name().clone(),
            target: target.to_owned(),
        });
    }
    Ok((job_type.name().clone(), target.to_owned()))
}

/// A ledger failure of `target`.
fn ledger_error(target: &str, source: anyhow::Error) -> TargetError {
    TargetError::Ledger {
        target: target.to_owned(),
        source,
    }
}

/// A collection length as a worker count (saturating; never reached in practice).
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
