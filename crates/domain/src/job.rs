//! Jobs: the domain rules of the job queue (contract §7).
//!
//! [`hash`] computes the R1-compatible content hash of a job request, used to find cached jobs;
//! [`state`] is the job state machine (claims, leases, heartbeats, retries, cancellation).

pub mod hash;
pub mod state;
