//! The jobs R1's `poll` offered first, so that pollers do not all race for the same job.
//!
//! Every R1 poller lists the same oldest pending jobs, and ReefGuide's workers try the first one
//! they can handle (the Julia worker tries only that one, then sleeps until its next poll): of
//! N workers polling together one wins and N − 1 lose. So the first job of a poll's answer is
//! *offered* to that poller: for [`OFFER_HOLD`], or until someone tries to assign it, later polls
//! of this instance leave it out, and each poller meets a different job first. An offer is a
//! hint, never a lock: anyone may still assign or claim the job, and storage alone decides who
//! wins. When every job a poll would list is on offer, the poll lists them anyway, so a poll
//! never hides the queue.
//!
//! The offers are bounded ([`MAX_OFFERS`]); forgetting one is always safe.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use reefguide_domain::job::{Job, JobId};

/// How long a job offered to one poller stays out of other polls' answers, unless someone tries
/// to assign it first. A worker answers a poll within milliseconds; a worker that never does only
/// delays the job's listing by this much.
pub const OFFER_HOLD: TimeDelta = TimeDelta::milliseconds(500);

/// Most jobs on offer at once; a poll offers nothing while this many offers are running.
pub(super) const MAX_OFFERS: usize = 1_024;

/// The jobs on offer and when each offer ends.
#[derive(Debug, Default)]
pub(super) struct Offers {
    until: Mutex<HashMap<JobId, DateTime<Utc>>>,
}

impl Offers {
    /// How many offers run at `now` (ended offers are forgotten).
    pub(super) fn running(&self, now: DateTime<Utc>) -> usize {
        self.running_at(now).len()
    }

    /// A poll's answer at `now` from `jobs`, the claimable jobs oldest first: without the jobs on
    /// offer (unless every one is), at most `limit`, the first of them offered. One step under
    /// one lock, so that concurrent polls never meet the same job first.
    pub(super) fn answer(&self, mut jobs: Vec<Job>, limit: usize, now: DateTime<Utc>) -> Vec<Job> {
        let mut until = self.running_at(now);
        if jobs.iter().any(|job| !until.contains_key(&job.id)) {
            jobs.retain(|job| !until.contains_key(&job.id));
        }
        jobs.truncate(limit);
        if let Some(first) = jobs.first()
            && !until.contains_key(&first.id)
            && until.len() < MAX_OFFERS
        {
            until.insert(first.id, now + OFFER_HOLD);
        }
        jobs
    }

    /// Ends the offer of `job` (someone is trying to assign it).
    pub(super) fn withdraw(&self, job: JobId) {
        self.lock().remove(&job);
    }

    /// The offers running at `now`, locked, the ended ones forgotten.
    fn running_at(&self, now: DateTime<Utc>) -> MutexGuard<'_, HashMap<JobId, DateTime<Utc>>> {
        let mut until = self.lock();
        until.retain(|_, ends| *ends > now);
        until
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, DateTime<Utc>>> {
        // A map of ids to instants holds no invariant a panicking holder could break half way.
        self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::jobs::tests::{jid, pending_job};
    use crate::services::test_support::now;

    /// The ids of the answer of a poll at `at` of jobs `ids`, at most 3.
    fn answer(offers: &Offers, ids: impl IntoIterator<Item = i64>, at: DateTime<Utc>) -> Vec<i32> {
        let jobs = offers.answer(ids.into_iter().map(pending_job).collect(), 3, at);
        jobs.iter().map(|job| job.id.get()).collect()
    }

    #[test]
    fn each_answer_starts_with_a_job_on_offer_to_no_one_else() {
        let offers = Offers::default();
        assert_eq!(answer(&offers, 1..=5, now()), [1, 2, 3]);
        assert_eq!(answer(&offers, 1..=5, now()), [2, 3, 4]);
        assert_eq!(answer(&offers, 1..=5, now()), [3, 4, 5]);
        assert_eq!(offers.running(now()), 3);
    }

    #[test]
    fn jobs_on_offer_are_listed_when_nothing_else_waits() {
        let offers = Offers::default();
        assert_eq!(answer(&offers, 1..=2, now()), [1, 2]);
        assert_eq!(answer(&offers, 1..=2, now()), [2]);
        assert_eq!(answer(&offers, 1..=2, now()), [1, 2]);
        assert_eq!(offers.running(now()), 2);
    }

    #[test]
    fn an_offer_runs_for_the_hold_and_is_never_extended() {
        let offers = Offers::default();
        assert_eq!(answer(&offers, [1], now()), [1]);
        let almost = now() + OFFER_HOLD - TimeDelta::milliseconds(1);
        assert_eq!(answer(&offers, [1], almost), [1]);
        assert_eq!(offers.running(almost), 1);
        assert_eq!(offers.running(now() + OFFER_HOLD), 0);
    }

    #[test]
    fn a_withdrawn_offer_ends_at_once() {
        let offers = Offers::default();
        answer(&offers, 1..=5, now());
        answer(&offers, 1..=5, now());
        offers.withdraw(jid(1));
        assert_eq!(answer(&offers, 1..=5, now()), [1, 3, 4]);
    }

    #[test]
    fn no_more_than_the_bound_run_at_once() {
        let offers = Offers::default();
        let bound = i64::try_from(MAX_OFFERS).expect("small");
        for n in 1..=bound + 1 {
            answer(&offers, [n], now());
        }
        assert_eq!(offers.running(now()), MAX_OFFERS);
        // The last job was not offered: it still comes first.
        let last = i32::try_from(bound + 1).expect("small");
        assert_eq!(
            answer(&offers, [bound + 1, bound + 2], now()),
            [last, last + 1]
        );
        // Once the running offers ended, new ones are made again.
        let later = now() + OFFER_HOLD;
        answer(&offers, [1], later);
        assert_eq!(offers.running(later), 1);
    }
}
