//! The capacity manager's loop: every `capacity_interval_ms`, the one instance holding the
//! manager lock compares the queue with the workers and starts more (see
//! `reefguide_ports::services::capacity`). Runs inside `reefguide serve` when `capacity_manager`
//! is set, or alone as `reefguide manager`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reefguide_ports::services::CapacityManager;
use reefguide_ports::{ComputeCluster, SystemClock};

use crate::app::Store;
use crate::config::Settings;

/// The advisory-lock key that makes one instance the acting manager ("reefcapa").
const MANAGER_LOCK: i64 = 0x7265_6566_6361_7061;

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

/// Runs a cycle every `interval` (when this instance holds the manager lock) until aborted.
pub async fn run_loop(manager: Manager, store: Store, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.as_leader(MANAGER_LOCK, manager.run_cycle()).await {
            Ok(None) => tracing::debug!("another instance manages capacity"),
            Ok(Some(Ok(report))) => {
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
            Ok(Some(Err(error))) => {
                crate::metering::record_capacity_failure();
                tracing::warn!(%error, "capacity cycle failed");
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "capacity lock failed"),
        }
    }
}
