//! The capacity manager's loop: every `capacity_interval_ms`, the one instance leading the
//! capacity manager role (see [`crate::leading`]) compares the queue with the workers and starts more (see
//! `reefguide_ports::services::capacity`). Runs inside `reefguide serve` when `capacity_manager`
//! is set, or alone as `reefguide manager`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reefguide_ports::services::CapacityManager;
use reefguide_ports::{ComputeCluster, SystemClock};

use tokio_util::sync::CancellationToken;

use crate::app::Store;
use crate::config::Settings;
use crate::leading::{Role, Turn, Turns};

/// The capacity manager as wired: its ledger is the store, so whichever instance holds the
/// manager lock next carries on from the tasks and launches recorded there.
pub type Manager = CapacityManager<Store, Arc<dyn ComputeCluster>, SystemClock, Store>;

/// A manager over the store and the cluster, with the configured policy per compute target.
///
/// # Errors
/// When a policy is invalid or a job type's compute target has none.
pub fn build_manager(
    settings: &Settings,
    store: Store,
    compute: Arc<dyn ComputeCluster>,
) -> anyhow::Result<Manager> {
    let registry = settings.jobs.registry()?;
    let mut policies = BTreeMap::new();
    for (target, policy) in &settings.compute.capacity_targets {
        let policy = policy
            .scaling_policy()
            .with_context(|| format!("capacity_targets.{target}"))?;
        policies.insert(target.clone(), policy);
    }
    let manager = CapacityManager::new(store.clone(), compute, SystemClock, &registry, policies)
        .context("invalid capacity configuration")?;
    Ok(manager.with_ledger(store))
}

/// Runs a cycle every `interval` while this instance leads the capacity manager role, until
/// `stop` is cancelled.
pub async fn run_loop(manager: Manager, store: Store, interval: Duration, stop: CancellationToken) {
    let mut turns = Turns::new(Role::CapacityManager, &store, interval, stop);
    while turns.next().await {
        match turns.take(manager.run_cycle()).await {
            Turn::Followed { .. } => tracing::debug!("another instance manages capacity"),
            Turn::Led(Ok(report)) => {
                crate::metering::record_capacity_cycle(&report);
                for target in report
                    .targets
                    .iter()
                    .filter(|t| t.launched > 0 || t.error.is_some())
                {
                    tracing::info!(
                        target = %target.target,
                        pending = target.pending,
                        live = target.live,
                        desired = target.desired,
                        launched = target.launched,
                        error = ?target.error,
                        "capacity"
                    );
                }
            }
            Turn::Led(Err(error)) => {
                crate::metering::record_capacity_failure();
                tracing::warn!(%error, "capacity cycle failed");
            }
        }
    }
}
