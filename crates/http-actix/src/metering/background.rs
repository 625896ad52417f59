//! What the background loops decided: which instance leads each role and how many cycles it
//! ran, the capacity manager's cycles and launches, and the workflow dispatcher's runs and syncs
//! with Airflow. Only the instance acting as leader runs a
//! cycle, so these series come from that instance (aggregate across instances with `sum`).

use reefguide_ports::services::{CycleReport, DispatchReport};

/// Capacity cycles by `outcome`: `acted` (this instance led and ran it) or `failed`.
const CAPACITY_CYCLES: &str = "reefguide_capacity_cycles_total";
/// Worker tasks started, by compute `target`.
const CAPACITY_LAUNCHED: &str = "reefguide_capacity_tasks_launched_total";
/// Targets whose cycle failed (listing or starting tasks), by compute `target`.
const CAPACITY_ERRORS: &str = "reefguide_capacity_target_errors_total";
/// The last cycle's view of each compute `target`: claimable jobs, live and wanted workers.
const CAPACITY_PENDING: &str = "reefguide_capacity_pending_jobs";
const CAPACITY_LIVE: &str = "reefguide_capacity_live_tasks";
const CAPACITY_DESIRED: &str = "reefguide_capacity_desired_tasks";
/// Workflow runs by `event`: `triggered`, `adopted`, `succeeded`, `failed`, `cancelled`, `lost`.
const WORKFLOW_RUNS: &str = "reefguide_workflow_runs_total";
/// Dispatcher cycles by `outcome`: `synced`, `engine_unavailable` (Airflow did not answer) or
/// `failed`.
const WORKFLOW_CYCLES: &str = "reefguide_workflow_cycles_total";

/// 1 on the instance leading each `role` (`lease_sweeper`, `capacity_manager`,
/// `workflow_dispatcher`), 0 on the others: `sum` across instances is 1 when all is well.
const LEADER: &str = "reefguide_leader";
/// Cycles this instance ran as the leader, by `role`.
const LEADER_CYCLES: &str = "reefguide_leader_cycles_total";

/// Whether this instance leads `role` (at its latest turn).
pub fn record_leadership(role: &'static str, leads: bool) {
    metrics::gauge!(LEADER, "role" => role).set(if leads { 1.0 } else { 0.0 });
}

/// One cycle of `role` this instance ran as the leader.
pub fn record_leader_cycle(role: &'static str) {
    metrics::counter!(LEADER_CYCLES, "role" => role).increment(1);
}

/// One capacity cycle this instance ran.
pub fn record_capacity_cycle(report: &CycleReport) {
    metrics::counter!(CAPACITY_CYCLES, "outcome" => "acted").increment(1);
    for target in &report.targets {
        let labels = [("target", target.target.clone())];
        metrics::counter!(CAPACITY_LAUNCHED, &labels).increment(u64::from(target.launched));
        if target.error.is_some() {
            metrics::counter!(CAPACITY_ERRORS, &labels).increment(1);
        }
        metrics::gauge!(CAPACITY_PENDING, &labels).set(target.pending as f64);
        metrics::gauge!(CAPACITY_LIVE, &labels).set(f64::from(target.live));
        metrics::gauge!(CAPACITY_DESIRED, &labels).set(f64::from(target.desired));
    }
}

/// A capacity cycle this instance led but could not run.
pub fn record_capacity_failure() {
    metrics::counter!(CAPACITY_CYCLES, "outcome" => "failed").increment(1);
}

/// One dispatcher cycle this instance ran.
pub fn record_dispatch(report: &DispatchReport) {
    let events = [
        ("triggered", report.triggered),
        ("adopted", report.adopted),
        ("succeeded", report.succeeded),
        ("failed", report.failed),
        ("cancelled", report.cancelled),
        ("lost", report.lost),
    ];
    for (event, count) in events {
        metrics::counter!(WORKFLOW_RUNS, "event" => event).increment(count);
    }
    let outcome = if report.engine_error.is_some() {
        "engine_unavailable"
    } else {
        "synced"
    };
    metrics::counter!(WORKFLOW_CYCLES, "outcome" => outcome).increment(1);
}

/// A dispatcher cycle this instance led but could not run.
pub fn record_dispatch_failure() {
    metrics::counter!(WORKFLOW_CYCLES, "outcome" => "failed").increment(1);
}
