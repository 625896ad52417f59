//! What one server instance remembers so that the job queue's hot paths skip storage round trips
//! and races no one can win. Nothing here is needed for correctness: storage alone decides every
//! change (a compare-and-set on the job's version, an atomic claim), and forgetting anything is
//! always safe; a memory only saves work or spares a worker a lost race.
//!
//! Three memories sit behind [`Shortcuts`], each with its own reasons written down where it is
//! kept:
//!
//! - the leases this instance granted or last changed (`leases`): heartbeats and results decide
//!   on them without reading the assignment and its job again, and R1's `assign` of a job still
//!   leased answers "not available" without storage;
//! - the jobs an `assign` of this instance is claiming right now (`assigning`): a second
//!   `assign` of the same job answers "not available" at once, and polls leave them out;
//! - the jobs R1's `poll` offered first (`offers`): each of several pollers meets a different
//!   job first instead of all racing for the oldest.

use chrono::{DateTime, Utc};
use reefguide_domain::job::{AssignmentId, Job, JobId};

use self::assigning::Assigning;
use self::leases::LeaseBook;
use self::offers::Offers;
use crate::repositories::jobs::Claimed;

pub(crate) use self::assigning::AssigningGuard;
pub(crate) use self::leases::{Lease, LeasedJob};
pub use self::offers::OFFER_HOLD;

mod assigning;
mod leases;
mod offers;

/// The process-local memories of the job use cases (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Shortcuts {
    leases: LeaseBook,
    assigning: Assigning,
    offers: Offers,
}

impl Shortcuts {
    /// How many claimable jobs a poll at `now` may leave out (being assigned, or on offer): the
    /// poll reads that many more.
    pub(crate) fn poll_margin(&self, now: DateTime<Utc>) -> usize {
        self.assigning
            .count()
            .saturating_add(self.offers.running(now))
    }

    /// A poll's answer at `now` from `listing`, the claimable jobs oldest first as storage listed
    /// them: without the jobs being assigned or leased by this instance (a listing read before a
    /// claim's commit still shows its job as pending), without the jobs on offer unless every
    /// one is, at most `limit`; the first job is offered to this poller.
    pub(crate) fn poll_answer(
        &self,
        mut listing: Vec<Job>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Vec<Job> {
        let assigning = self.assigning.now();
        listing.retain(|job| !assigning.contains(&job.id) && !self.leases.is_leased(job.id, now));
        self.offers.answer(listing, limit, now)
    }

    /// Starts an `assign` of `job` at `now`, ending its offer: `None` when the job is known not
    /// to be available (this instance leased it and the lease has not ended, or another `assign`
    /// is claiming it now). The job counts as being assigned until the guard is dropped.
    pub(crate) fn start_assign(&self, job: JobId, now: DateTime<Utc>) -> Option<AssigningGuard> {
        self.offers.withdraw(job);
        if self.leases.is_leased(job, now) {
            return None;
        }
        self.assigning.start(job)
    }

    /// Remembers the lease of a job just claimed or assigned.
    pub(crate) fn claimed(&self, claimed: &Claimed) {
        self.leases
            .remember(Lease::new(claimed.assignment.clone(), &claimed.job));
    }

    /// Takes the remembered lease of assignment `id`, if any (a use case whose change storage
    /// accepts remembers the changed lease again with [`Self::remember_lease`]).
    pub(crate) fn take_lease(&self, id: AssignmentId) -> Option<Lease> {
        self.leases.take(id)
    }

    /// Remembers a lease just changed.
    pub(crate) fn remember_lease(&self, lease: Lease) {
        self.leases.remember(lease);
    }
}
