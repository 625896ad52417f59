//! Who may see and change a job, and the typed outcomes of every job use case.

use thiserror::Error;

use super::model::{AssignmentId, JobId};
use super::state::JobStatus;
use crate::user::{User, UserId};

/// Whether `actor` may read a job owned by `owner`: its owner, a user who requested it through a
/// cache hit (`requested`), or an administrator.
pub fn may_view_job(actor: &User, owner: UserId, requested: bool) -> bool {
    actor.id == owner || requested || actor.roles.is_admin()
}

/// Whether `actor` may cancel a job owned by `owner`: its owner or an administrator. A user who
/// only reused the job through the cache may not cancel it for everyone else.
pub fn may_cancel_job(actor: &User, owner: UserId) -> bool {
    actor.id == owner || actor.roles.is_admin()
}

/// Whether `actor` may act on an assignment claimed by `holder` (heartbeat, result, upload
/// URLs): the claiming account or an administrator.
pub fn may_work_assignment(actor: &User, holder: UserId) -> bool {
    actor.id == holder || actor.roles.is_admin()
}

/// Submitting a job.
#[derive(Debug, Error)]
pub enum SubmitJobError {
    /// No job type of that name.
    #[error("Unknown job type {0:?}")]
    UnknownType(String),
    /// The type exists but the caller may not submit it.
    #[error("You are not permitted to submit jobs of type {0}")]
    NotPermitted(String),
    /// The input payload fails the type's schema.
    #[error(transparent)]
    InvalidPayload(#[from] super::registry::PayloadErrors),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Reading one job.
#[derive(Debug, Error)]
pub enum JobAccessError {
    /// No such job.
    #[error("Job not found")]
    NotFound(JobId),
    /// It exists but the caller may not see it.
    #[error("You do not have access to this job")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Cancelling a job.
#[derive(Debug, Error)]
pub enum CancelJobError {
    /// No such job.
    #[error("Job not found")]
    NotFound(JobId),
    /// Not the owner and not an administrator.
    #[error("You can only cancel your own jobs")]
    Forbidden,
    /// The job already ended.
    #[error("Job can no longer be cancelled: it is {0}")]
    NotCancellable(JobStatus),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A worker assigning itself one job by id (R1's `assign`).
#[derive(Debug, Error)]
pub enum AssignJobError {
    /// No such job.
    #[error("Job not found")]
    NotFound(JobId),
    /// Another worker won it, or it is not pending (R1 workers read this 400 as "someone else
    /// won").
    #[error("Job is not available for assignment")]
    NotAvailable,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A worker's heartbeat or result for an assignment.
#[derive(Debug, Error)]
pub enum AssignmentError {
    /// No such assignment.
    #[error("Assignment not found")]
    NotFound(AssignmentId),
    /// The caller is not the account that claimed the assignment.
    #[error("This assignment belongs to another worker")]
    NotHolder,
    /// A result was already reported for this assignment.
    #[error("Assignment already completed")]
    AlreadyCompleted,
    /// The lease is gone: it expired, the job was re-queued or cancelled, or another assignment
    /// holds it now. Nothing changed.
    #[error("The lease on this job was lost ({0})")]
    LeaseLost(&'static str),
    /// The result payload fails the type's result schema.
    #[error(transparent)]
    InvalidResult(#[from] super::registry::PayloadErrors),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Invalidating the cached results of a job type.
#[derive(Debug, Error)]
pub enum InvalidateCacheError {
    /// No job type of that name.
    #[error("Unknown job type {0:?}")]
    UnknownType(String),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{Email, Role, Roles};

    fn user(id: i64, roles: &[Role]) -> User {
        User {
            id: UserId::new(id).expect("positive"),
            email: Email::parse(&format!("u{id}@example.com")).expect("email"),
            roles: roles.iter().copied().collect::<Roles>(),
        }
    }

    fn id(raw: i64) -> UserId {
        UserId::new(raw).expect("positive")
    }

    #[test]
    fn owner_requester_and_admin_view_jobs() {
        assert!(may_view_job(&user(1, &[]), id(1), false));
        assert!(may_view_job(&user(2, &[]), id(1), true));
        assert!(!may_view_job(&user(2, &[]), id(1), false));
        assert!(!may_view_job(&user(2, &[Role::Worker]), id(1), false));
        assert!(may_view_job(&user(3, &[Role::Admin]), id(1), false));
    }

    #[test]
    fn only_owner_and_admin_cancel() {
        assert!(may_cancel_job(&user(1, &[]), id(1)));
        assert!(!may_cancel_job(&user(2, &[Role::Analyst]), id(1)));
        assert!(may_cancel_job(&user(3, &[Role::Admin]), id(1)));
    }
}
