//! The job system seen by operators: jobs by type and state, each type's queue (depth and the
//! age of its oldest claimable job), how long claimed jobs waited, long polls that ended empty,
//! and leases that expired.
//!
//! The counts are read from the store at each scrape, so every server instance on one database
//! reports the same values (aggregate them across instances with `max`, not `sum`); the claim
//! and lease counters are this instance's own (aggregate with `sum`).

use chrono::{DateTime, Utc};
use reefguide_domain::job::JobStatus;
use reefguide_domain::job::registry::{JobTypeName, JobTypeRegistry};
use reefguide_ports::repositories::{Claimed, JobCensus};
use reefguide_ports::services::jobs::SweepSummary;

/// Jobs by `type` and `state` (every registered type in every state, zeros included).
const JOBS: &str = "reefguide_jobs";
/// Claimable jobs by `type`.
const QUEUE_DEPTH: &str = "reefguide_job_queue_depth";
/// Age in seconds of each `type`'s oldest claimable job (0 when none waits).
const OLDEST_PENDING_AGE: &str = "reefguide_job_oldest_pending_age_seconds";
/// 1 when the last scrape could read the counts, 0 when the store failed.
const CENSUS_UP: &str = "reefguide_job_census_up";
/// Seconds from a job's submission to its claim by a worker, by `type`.
pub(super) const CLAIM_WAIT: &str = "reefguide_job_claim_wait_seconds";
/// Its buckets: 10 ms to 6 h.
pub(super) const CLAIM_WAIT_BUCKETS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0, 21600.0,
];
/// Claims (long polls included) that ended without a job.
const EMPTY_CLAIMS: &str = "reefguide_job_claims_empty_total";
/// Expired leases by `outcome`: `requeued` (retried) or `timed_out` (out of attempts).
const LEASES_EXPIRED: &str = "reefguide_job_leases_expired_total";

/// Sets the census gauges from `census` taken at `now`: every type of `registry` (and any other
/// type found stored) in every state, so a count that drops to zero reads 0 instead of keeping
/// its last value.
pub(super) fn record_census(census: &JobCensus, registry: &JobTypeRegistry, now: DateTime<Utc>) {
    let mut types: Vec<&JobTypeName> = registry.iter().map(|job_type| job_type.name()).collect();
    types.extend(census.by_state.keys().map(|(job_type, _)| job_type));
    types.sort();
    types.dedup();
    for job_type in types {
        for state in JobStatus::ALL {
            let count = census
                .by_state
                .get(&(job_type.clone(), state))
                .copied()
                .unwrap_or(0);
            let labels = [
                ("type", job_type.as_str().to_owned()),
                ("state", state.as_str().to_owned()),
            ];
            metrics::gauge!(JOBS, &labels).set(count as f64);
        }
        let queue = census.queues.get(job_type);
        let labels = [("type", job_type.as_str().to_owned())];
        metrics::gauge!(QUEUE_DEPTH, &labels).set(queue.map_or(0, |q| q.depth) as f64);
        let age = queue.map_or(0.0, |q| seconds_between(q.oldest_created_at, now));
        metrics::gauge!(OLDEST_PENDING_AGE, &labels).set(age);
    }
    metrics::gauge!(CENSUS_UP).set(1.0);
}

/// Marks the census as unreadable this scrape (the gauges keep their last values).
pub(super) fn record_census_failure() {
    metrics::gauge!(CENSUS_UP).set(0.0);
}

/// A worker claimed a job (by `/claim` or R1's `assign`): how long it waited since submission.
pub fn record_claim(claimed: &Claimed) {
    let labels = [("type", claimed.job.job_type.as_str().to_owned())];
    let waited = seconds_between(claimed.job.created_at, claimed.assignment.created_at);
    metrics::histogram!(CLAIM_WAIT, &labels).record(waited);
}

/// A claim ended without a job.
pub fn record_empty_claim() {
    metrics::counter!(EMPTY_CLAIMS).increment(1);
}

/// What one lease sweep of this instance did.
pub fn record_sweep(summary: &SweepSummary) {
    metrics::counter!(LEASES_EXPIRED, "outcome" => "requeued").increment(summary.requeued);
    metrics::counter!(LEASES_EXPIRED, "outcome" => "timed_out").increment(summary.timed_out);
}

/// Seconds from `earlier` to `later`, 0 when `later` is not after it.
fn seconds_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier)
        .to_std()
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::seconds_between;

    #[test]
    fn seconds_between_never_goes_negative() {
        let at = |s| chrono::Utc.timestamp_opt(s, 0).single().expect("a time");
        assert!((seconds_between(at(10), at(12)) - 2.0).abs() < f64::EPSILON);
        assert_eq!(seconds_between(at(12), at(10)), 0.0);
    }
}
