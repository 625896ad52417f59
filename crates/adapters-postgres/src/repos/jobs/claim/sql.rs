//! The SQL of a claim, written once: the claim rule, the new assignment (with its storage URI)
//! and the claimed job's new state. The Postgres statements ([`super::postgres`]) are built from
//! these fragments, and the claim rule also filters the sea-orm selects of claimable jobs
//! ([`super::claimable`]), so the rule the database applies is never written twice.
//!
//! Every fragment mirrors the domain: `JobState::claim` for the rule and the new state,
//! `StorageBase::location_for` for the storage URI.

use reefguide_domain::job::JobStatus;

/// The claim rule as a condition on a `jobs` row (unqualified columns): `PENDING` with attempts
/// below the maximum, and not a workflow job (those are run by the workflow engine, never by a
/// worker: labcas-contract §2). The status is a literal, so that Postgres and SQLite can match
/// the partial indexes of pending jobs (a bound parameter could not be proven equal to their
/// predicate). Status names are constants of the domain, never user input.
pub(super) fn claimable() -> String {
    format!(
        "status = '{}' AND attempts < max_attempts AND workflow IS NULL",
        JobStatus::Pending.as_str()
    )
}

/// Where the values of a new assignment come from: SQL expressions, one per value.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClaimValues {
    /// The claim time (`timestamptz`).
    pub now: &'static str,
    /// The claiming account.
    pub worker_id: &'static str,
    /// The worker's ECS task ARN (nullable).
    pub task_arn: &'static str,
    /// The worker's ECS cluster ARN (nullable).
    pub cluster_arn: &'static str,
    /// The storage scheme.
    pub scheme: &'static str,
    /// The storage root.
    pub root: &'static str,
    /// The claim time in epoch milliseconds, as text.
    pub millis: &'static str,
}

/// The new assignment's `INSERT` (the body of a CTE): one assignment for each job `job` of
/// `from`, with `values`; it returns every column. The lease ends the job's lease length after
/// the claim time.
pub(super) fn insert_assignments(values: &ClaimValues, job: &str, from: &str) -> String {
    let ClaimValues {
        now,
        worker_id,
        task_arn,
        cluster_arn,
        scheme,
        root,
        millis,
    } = values;
    format!(
        "INSERT INTO job_assignments (created_at, updated_at, job_id, worker_id, \
             ecs_task_arn, ecs_cluster_arn, expires_at, storage_scheme, storage_uri) \
         SELECT {now}, {now}, {job}.id, {worker_id}, {task_arn}, {cluster_arn}, \
             {now} + {job}.lease_seconds * interval '1 second', {scheme}, {uri} \
         FROM {from} \
         RETURNING *",
        uri = storage_uri(root, job, millis),
    )
}

/// The storage URI of job `job`'s new assignment, built exactly as
/// `StorageBase::location_for` builds it: `<root>/<lower-case type>/<job id>/<epoch ms>` (type
/// names are ASCII, so `lower` agrees with Rust's lower-casing).
fn storage_uri(root: &str, job: &str, millis: &str) -> String {
    format!("{root} || '/' || lower({job}.\"type\") || '/' || {job}.id::text || '/' || {millis}")
}

/// The claimed job's new state, as the `SET` list of an `UPDATE jobs j … FROM` its new
/// assignment `a`: `IN_PROGRESS`, one more attempt, the assignment's lease, a new version.
pub(super) fn claimed_state() -> String {
    format!(
        "status = '{}', attempts = j.attempts + 1, lease_expires_at = a.expires_at, \
         current_assignment_id = a.id, updated_at = a.created_at, version = j.version + 1",
        JobStatus::InProgress.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_and_the_new_state_use_the_domain_names() {
        assert_eq!(
            claimable(),
            "status = 'PENDING' AND attempts < max_attempts AND workflow IS NULL"
        );
        assert!(claimed_state().starts_with("status = 'IN_PROGRESS', "));
    }

    #[test]
    fn the_storage_uri_is_root_type_id_and_millis() {
        assert_eq!(
            storage_uri("s.root", "p", "s.millis"),
            "s.root || '/' || lower(p.\"type\") || '/' || p.id::text || '/' || s.millis"
        );
    }
}
