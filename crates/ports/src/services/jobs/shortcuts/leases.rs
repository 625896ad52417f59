//! The leases this instance handed out or last changed, so that the common path of a worker's
//! life costs fewer storage round trips:
//!
//! - a heartbeat or result report decides on the remembered assignment and job instead of
//!   reading them again. The compare-and-set on the job's version makes that safe: every change
//!   of a job bumps its version, so a change decided on a stale copy is refused by storage, and
//!   the use case then reads afresh and decides again. Only a change that storage accepted is
//!   answered from a remembered copy: a refusal is always decided again on fresh rows.
//! - R1's `assign` of a job this instance has leased answers "not available" without storage.
//!   A job leaves `IN_PROGRESS` for `PENDING` only through the sweeper once its lease expired
//!   ([`reefguide_domain::job::JobState::expire`]), and never leaves a final status, so until the
//!   lease this instance granted expires the job cannot be assignable. (Another instance whose
//!   clock runs ahead could re-queue it slightly earlier; such a worker is told "not available"
//!   and takes the job at its next poll.)
//!
//! Both memories are bounded ([`CAPACITY`] entries each, least recently used first out) and
//! hold no payloads. They sit behind one mutex held for a few map operations: on the worker
//! routes this is measurably cheaper than a concurrent cache (see `docs/performance.md`).

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use lru::LruCache;
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{Assignment, AssignmentId, Job, JobId, JobState, RetryPolicy};

/// How many leases, and how many leased job ids, are remembered at most.
pub(super) const CAPACITY: NonZeroUsize = NonZeroUsize::new(8_192).expect("non-zero");

/// The part of a job that heartbeats and results decide on (a job without its payload).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeasedJob {
    /// The job's id.
    pub id: JobId,
    /// Its type, for validating results.
    pub job_type: JobTypeName,
    /// Status, attempts and lease.
    pub state: JobState,
    /// The retry policy, for extending the lease.
    pub policy: RetryPolicy,
    /// The assignment holding its lease.
    pub current_assignment: Option<AssignmentId>,
    /// The version a change is compared against.
    pub version: i64,
}

impl From<&Job> for LeasedJob {
    fn from(job: &Job) -> Self {
        Self {
            id: job.id,
            job_type: job.job_type.clone(),
            state: job.state,
            policy: job.policy,
            current_assignment: job.current_assignment,
            version: job.version,
        }
    }
}

/// An assignment with the job it holds, as last read or written by this instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lease {
    /// The assignment.
    pub assignment: Assignment,
    /// Its job.
    pub job: LeasedJob,
}

impl Lease {
    /// The lease of `assignment` on `job`.
    pub fn new(assignment: Assignment, job: &Job) -> Self {
        Self {
            assignment,
            job: job.into(),
        }
    }
}

/// The remembered leases (by assignment) and leased jobs (until when they stay leased).
pub(super) struct LeaseBook {
    memory: Mutex<Memory>,
}

/// The two maps, changed together under one lock.
struct Memory {
    leases: LruCache<AssignmentId, Lease>,
    leased_until: LruCache<JobId, DateTime<Utc>>,
}

impl Default for LeaseBook {
    fn default() -> Self {
        Self {
            memory: Mutex::new(Memory {
                leases: LruCache::new(CAPACITY),
                leased_until: LruCache::new(CAPACITY),
            }),
        }
    }
}

impl std::fmt::Debug for LeaseBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let memory = self.lock();
        f.debug_struct("LeaseBook")
            .field("leases", &memory.leases.len())
            .field("leased_jobs", &memory.leased_until.len())
            .finish()
    }
}

impl LeaseBook {
    /// Remembers a lease just granted or just changed. The job stays known as leased until the
    /// latest lease end remembered for it.
    pub(super) fn remember(&self, lease: Lease) {
        let mut memory = self.lock();
        let until = lease.assignment.expires_at;
        let known = memory.leased_until.get(&lease.job.id).copied();
        let until = known.map_or(until, |known| known.max(until));
        memory.leased_until.put(lease.job.id, until);
        memory.leases.put(lease.assignment.id, lease);
    }

    /// Takes the remembered lease of an assignment out of the book (a caller whose change
    /// storage accepts remembers the changed lease again).
    pub(super) fn take(&self, id: AssignmentId) -> Option<Lease> {
        self.lock().leases.pop(&id)
    }

    /// Whether `job` is known to be leased at `now`, hence not assignable.
    pub(super) fn is_leased(&self, job: JobId, now: DateTime<Utc>) -> bool {
        self.lock()
            .leased_until
            .get(&job)
            .is_some_and(|until| *until > now)
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        // The memory holds no invariant a panicking holder could break half way.
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use reefguide_domain::job::JobStatus;

    use super::*;
    use crate::services::jobs::tests::{aid, assignment_of, jid, running, test_job};
    use crate::services::test_support::now;

    /// `seconds` after the tests' fixed instant.
    fn at(seconds: i64) -> DateTime<Utc> {
        now() + Duration::seconds(seconds)
    }

    /// A lease of job `job` by assignment `assignment`, expiring at `until` seconds.
    fn lease(job: i64, assignment: i64, until: i64) -> Lease {
        let mut leased = test_job(running());
        leased.id = jid(job);
        let mut granted = assignment_of(&leased);
        granted.id = aid(assignment);
        granted.expires_at = at(until);
        Lease::new(granted, &leased)
    }

    #[test]
    fn a_remembered_lease_is_taken_once() {
        let book = LeaseBook::default();
        book.remember(lease(1, 10, 100));
        let taken = book.take(aid(10)).expect("remembered");
        assert_eq!(taken.job.id, jid(1));
        assert_eq!(taken.job.state.status(), JobStatus::InProgress);
        assert_eq!(book.take(aid(10)), None);
        assert_eq!(book.take(aid(11)), None);
    }

    #[test]
    fn a_job_is_leased_until_its_lease_expires() {
        let book = LeaseBook::default();
        book.remember(lease(1, 10, 100));
        assert!(book.is_leased(jid(1), at(99)));
        assert!(!book.is_leased(jid(1), at(100)));
        assert!(!book.is_leased(jid(2), at(0)));
    }

    #[test]
    fn a_job_stays_leased_after_its_lease_is_taken() {
        // A reported job is final: it never becomes assignable again.
        let book = LeaseBook::default();
        book.remember(lease(1, 10, 100));
        book.take(aid(10));
        assert!(book.is_leased(jid(1), at(50)));
    }

    #[test]
    fn a_longer_lease_extends_and_a_shorter_one_does_not_shorten() {
        let book = LeaseBook::default();
        book.remember(lease(1, 10, 100));
        book.remember(lease(1, 10, 200));
        assert!(book.is_leased(jid(1), at(150)));
        book.remember(lease(1, 11, 120));
        assert!(book.is_leased(jid(1), at(150)));
    }

    #[test]
    fn a_full_book_forgets_the_least_recently_used() {
        let book = LeaseBook::default();
        let capacity = i64::try_from(CAPACITY.get()).expect("small");
        for n in 1..=capacity {
            book.remember(lease(n, n, 100));
        }
        // Job 1 was used recently; job 2 is now the least recently used.
        assert!(book.is_leased(jid(1), at(0)));
        book.remember(lease(capacity + 1, capacity + 1, 100));
        assert!(book.is_leased(jid(capacity + 1), at(0)));
        assert!(book.is_leased(jid(1), at(0)));
        assert!(!book.is_leased(jid(2), at(0)));
        assert!(book.take(aid(capacity + 1)).is_some());
        assert!(
            book.take(aid(1)).is_none(),
            "the oldest lease was forgotten"
        );
        assert!(book.take(aid(2)).is_some());
    }
}
