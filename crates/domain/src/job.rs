//! Jobs: the domain rules of the job queue (contract §7).
//!
//! [`hash`] computes the R1-compatible content hash of a job request, used to find cached jobs.

pub mod hash;
pub mod state;
