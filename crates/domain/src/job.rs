//! Jobs: the domain rules of the job queue (contract §7).
//!
//! [`hash`] computes the R1-compatible content hash of a job request, used to find cached jobs;
//! [`state`] is the job state machine (claims, leases, heartbeats, retries, cancellation);
//! [`errors`] names every use case's outcomes (who may do what is [`crate::access`]);
//! [`model`] holds the stored shapes (jobs, assignments, results, requests);
//! [`registry`] is the set of job types a deployment offers, with their schemas and policies;
//! [`worker`] holds the bounded values a worker sends (ARNs, claimed types, progress).

pub mod errors;
pub mod hash;
pub mod model;
pub mod registry;
pub mod state;
pub mod worker;

pub use hash::PayloadHash;
pub use model::{
    Assignment, AssignmentId, Job, JobDetails, JobId, JobRequest, JobRequestId, JobResult,
    JobResultId, StorageBase, StorageLocation, StorageScheme,
};
pub use state::{JobState, JobStatus, Outcome, RetryPolicy, TransitionError};
pub use worker::{ClaimTypes, EcsArn, ProgressMessage, ProgressPercent};
