//! Jobs: the domain rules of the job queue (contract §7).
//!
//! [`hash`] computes the R1-compatible content hash of a job request, used to find cached jobs;
//! [`state`] is the job state machine (claims, leases, heartbeats, retries, cancellation);
//! [`errors`] says who may see and change a job and names every use case's outcomes;
//! [`model`] holds the stored shapes (jobs, assignments, results, requests);
//! [`registry`] is the set of job types a deployment offers, with their schemas and policies.

pub mod errors;
pub mod hash;
pub mod model;
pub mod registry;
pub mod state;

pub use hash::PayloadHash;
pub use model::{
    Assignment, AssignmentId, Job, JobDetails, JobId, JobRequest, JobRequestId, JobResult,
    JobResultId, StorageBase, StorageLocation, StorageScheme,
};
pub use state::{JobState, JobStatus, Outcome, RetryPolicy, TransitionError};
