//! The jobs that an `assign` of this instance is claiming right now: R1's `assign` of such a job
//! answers "not available" at once (of racing workers exactly one wins anyway, and the first to
//! arrive is the one that tries), and polls leave them out.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use reefguide_domain::job::JobId;

/// The jobs being assigned now.
#[derive(Debug, Default)]
pub(super) struct Assigning {
    jobs: Arc<Mutex<HashSet<JobId>>>,
}

impl Assigning {
    /// Starts assigning `job`: `None` when another assignment of it is under way. The job counts
    /// as being assigned until the returned guard is dropped.
    pub(super) fn start(&self, job: JobId) -> Option<AssigningGuard> {
        lock(&self.jobs).insert(job).then(|| AssigningGuard {
            jobs: Arc::clone(&self.jobs),
            job,
        })
    }

    /// How many jobs are being assigned now.
    pub(super) fn count(&self) -> usize {
        lock(&self.jobs).len()
    }

    /// The jobs being assigned now.
    pub(super) fn now(&self) -> HashSet<JobId> {
        lock(&self.jobs).clone()
    }
}

/// An assignment under way (see [`Assigning::start`]): the job counts as being assigned until
/// this is dropped.
#[derive(Debug)]
pub(crate) struct AssigningGuard {
    jobs: Arc<Mutex<HashSet<JobId>>>,
    job: JobId,
}

impl Drop for AssigningGuard {
    fn drop(&mut self) {
        lock(&self.jobs).remove(&self.job);
    }
}

fn lock(jobs: &Mutex<HashSet<JobId>>) -> MutexGuard<'_, HashSet<JobId>> {
    // A set of ids holds no invariant a panicking holder could break half way.
    jobs.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::jobs::tests::jid;

    #[test]
    fn a_job_is_assigned_by_one_caller_at_a_time() {
        let assigning = Assigning::default();
        let first = assigning.start(jid(1)).expect("first");
        assert!(assigning.start(jid(1)).is_none());
        let other = assigning.start(jid(2)).expect("another job");
        assert_eq!(assigning.now(), HashSet::from([jid(1), jid(2)]));
        assert_eq!(assigning.count(), 2);
        drop(first);
        drop(other);
        assert!(assigning.now().is_empty());
        assert!(assigning.start(jid(1)).is_some());
    }
}
