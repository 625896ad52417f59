//! The job state machine of contract §7.
//!
//! A job is `PENDING` until a worker claims it, then `IN_PROGRESS` under a lease that heartbeats
//! extend. The worker reports `SUCCEEDED` or `FAILED`; a user may cancel it while it is pending or
//! in progress; and the sweeper re-queues a job whose lease expired while attempts remain, or marks
//! it `TIMED_OUT` once they are used up. The four end states are terminal: no transition leaves
//! them.
//!
//! [`JobState`] is a plain value. Each transition borrows it and returns the next state or a
//! [`TransitionError`] saying why the move is illegal, so storage adapters can apply the rules
//! inside their own transaction (compare-and-set on the row) and the HTTP layer can map the error
//! to a status code (e.g. [`TransitionError::LeaseLost`] → 409).
//!
//! Invariants that hold for every value (checked by [`JobState::restore`] on the way in from
//! storage and preserved by every transition):
//! - a lease expiry is present if and only if the status is `IN_PROGRESS`;
//! - a job that is, or has been, in progress (`IN_PROGRESS`, `SUCCEEDED`, `FAILED`) has at least
//!   one attempt (a `TIMED_OUT` job may have none: an administrator timed it out while it was
//!   still pending);
//! - transitions never raise `attempts` above the policy's `max_attempts`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The status of a job, as it appears on the wire: `PENDING`, `IN_PROGRESS`, `SUCCEEDED`,
/// `FAILED`, `CANCELLED`, `TIMED_OUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker that holds a lease.
    InProgress,
    /// The worker reported success (terminal).
    Succeeded,
    /// The worker reported failure (terminal).
    Failed,
    /// Cancelled by a user (terminal).
    Cancelled,
    /// Every allowed attempt ended with an expired lease (terminal).
    TimedOut,
}

impl JobStatus {
    /// Every status, in wire order.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::TimedOut,
    ];

    /// The wire name, e.g. `"IN_PROGRESS"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::TimedOut => "TIMED_OUT",
        }
    }

    /// Whether no transition leaves this status (`SUCCEEDED`, `FAILED`, `CANCELLED`,
    /// `TIMED_OUT`).
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the six job status names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown job status {0:?} (expected PENDING, IN_PROGRESS, SUCCEEDED, FAILED, CANCELLED or TIMED_OUT)"
)]
pub struct UnknownJobStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownJobStatus;

    /// Parses an exact wire name (case-sensitive, as R1 stores and compares them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownJobStatus(s.to_owned()))
    }
}

/// How many attempts a job type allows and how long a lease lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    lease: Duration,
}

/// Why a [`RetryPolicy`] cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidRetryPolicy {
    /// `max_attempts` was 0: the job could never run.
    #[error("max attempts must be at least 1")]
    ZeroAttempts,
    /// The lease was zero or negative: every claim would expire at once.
    #[error("lease duration must be positive")]
    NonPositiveLease,
}

impl RetryPolicy {
    /// A policy allowing `max_attempts` (at least 1) claims, each holding a lease of `lease`
    /// (positive).
    ///
    /// # Errors
    /// [`InvalidRetryPolicy`] when either bound is violated.
    pub fn new(max_attempts: u32, lease: Duration) -> Result<Self, InvalidRetryPolicy> {
        if max_attempts == 0 {
            return Err(InvalidRetryPolicy::ZeroAttempts);
        }
        if lease <= Duration::zero() {
            return Err(InvalidRetryPolicy::NonPositiveLease);
        }
        Ok(Self {
            max_attempts,
            lease,
        })
    }

    /// How many times the job may be claimed in total (at least 1).
    #[must_use]
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How long a claim or heartbeat keeps the lease (positive).
    #[must_use]
    pub const fn lease(&self) -> Duration {
        self.lease
    }
}

/// The result a worker may report: only success or failure can be expressed (§9: R1 accepted any
/// status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// The job produced its result.
    Succeeded,
    /// The job ran and failed.
    Failed,
}

impl Outcome {
    /// The terminal status this outcome leads to.
    #[must_use]
    pub const fn status(self) -> JobStatus {
        match self {
            Self::Succeeded => JobStatus::Succeeded,
            Self::Failed => JobStatus::Failed,
        }
    }
}

/// A status a worker may not report as a result (anything but `SUCCEEDED` or `FAILED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("result status must be SUCCEEDED or FAILED, not {0}")]
pub struct NotAnOutcome(pub JobStatus);

impl TryFrom<JobStatus> for Outcome {
    type Error = NotAnOutcome;

    fn try_from(status: JobStatus) -> Result<Self, Self::Error> {
        match status {
            JobStatus::Succeeded => Ok(Self::Succeeded),
            JobStatus::Failed => Ok(Self::Failed),
            other => Err(NotAnOutcome(other)),
        }
    }
}

/// A stored (status, attempts, lease) combination that no sequence of transitions can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidJobState {
    /// `IN_PROGRESS` without a lease expiry.
    #[error("an IN_PROGRESS job must have a lease expiry")]
    MissingLease,
    /// A lease expiry on a job that is not `IN_PROGRESS`.
    #[error("a {status} job must not have a lease expiry")]
    UnexpectedLease {
        /// The stored status.
        status: JobStatus,
    },
    /// Zero attempts on a job that must have been claimed at least once.
    #[error("a {status} job must have at least one attempt")]
    NoAttempts {
        /// The stored status.
        status: JobStatus,
    },
}

/// Why a transition is not allowed from the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TransitionError {
    /// Only a `PENDING` job can be claimed.
    #[error("job is not available for assignment (status {status})")]
    NotPending {
        /// The current status.
        status: JobStatus,
    },
    /// The job has already been claimed as often as its policy allows.
    #[error("job is not available for assignment (all {max_attempts} attempts used)")]
    AttemptsExhausted {
        /// The attempts made so far.
        attempts: u32,
        /// The policy's limit.
        max_attempts: u32,
    },
    /// Heartbeats, results and expiry apply only to an `IN_PROGRESS` job.
    #[error("job is not in progress (status {status})")]
    NotInProgress {
        /// The current status.
        status: JobStatus,
    },
    /// The lease expired before the heartbeat or result arrived.
    #[error("the lease on this job has expired")]
    LeaseLost,
    /// The job already reached a terminal status.
    #[error("job can no longer be cancelled (status {status})")]
    NotCancellable {
        /// The current status.
        status: JobStatus,
    },
    /// The sweeper found the lease still valid.
    #[error("the lease on this job has not expired yet")]
    NotExpired,
    /// An administrator's time-out found the job already ended.
    #[error("job has already ended (status {status})")]
    Ended {
        /// The current status.
        status: JobStatus,
    },
    /// `now + lease` does not fit in a timestamp.
    #[error("the lease would end outside the representable time range")]
    LeaseOutOfRange,
}

/// The state of one job, as a value: transitions borrow it and return the next state or a typed
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    status: JobStatus,
    attempts: u32,
    lease_expires_at: Option<DateTime<Utc>>,
}

impl JobState {
    /// A freshly submitted job: `PENDING`, no attempts, no lease.
    #[must_use]
    pub const fn new_pending() -> Self {
        Self {
            status: JobStatus::Pending,
            attempts: 0,
            lease_expires_at: None,
        }
    }

    /// Rebuilds a state read from storage, checking that it is consistent: a lease exactly when
    /// `IN_PROGRESS`, and at least one attempt when `IN_PROGRESS`, `SUCCEEDED` or `FAILED`.
    ///
    /// # Errors
    /// [`InvalidJobState`] naming the first broken rule.
    pub fn restore(
        status: JobStatus,
        attempts: u32,
        lease_expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self, InvalidJobState> {
        match (status, lease_expires_at) {
            (JobStatus::InProgress, None) => return Err(InvalidJobState::MissingLease),
            (JobStatus::InProgress, Some(_)) | (_, None) => {}
            (status, Some(_)) => return Err(InvalidJobState::UnexpectedLease { status }),
        }
        let needs_attempt = matches!(
            status,
            JobStatus::InProgress | JobStatus::Succeeded | JobStatus::Failed
        );
        if needs_attempt && attempts == 0 {
            return Err(InvalidJobState::NoAttempts { status });
        }
        Ok(Self {
            status,
            attempts,
            lease_expires_at,
        })
    }

    /// The current status.
    #[must_use]
    pub const fn status(&self) -> JobStatus {
        self.status
    }

    /// How many times the job has been claimed.
    #[must_use]
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the current lease ends; `Some` exactly when `IN_PROGRESS`.
    #[must_use]
    pub const fn lease_expires_at(&self) -> Option<DateTime<Utc>> {
        self.lease_expires_at
    }

    /// Whether the job holds a lease that has expired at `now`. A lease is valid strictly before
    /// its expiry instant and expired from that instant on.
    #[must_use]
    pub fn is_lease_expired(&self, now: DateTime<Utc>) -> bool {
        self.lease_expires_at.is_some_and(|expires| now >= expires)
    }

    /// A worker claims the job: `PENDING` → `IN_PROGRESS`, `attempts + 1`, lease until
    /// `now + policy.lease()`.
    ///
    /// # Errors
    /// [`TransitionError::NotPending`] from any other status;
    /// [`TransitionError::AttemptsExhausted`] when the policy allows no further attempt;
    /// [`TransitionError::LeaseOutOfRange`] when the lease end overflows.
    pub fn claim(&self, now: DateTime<Utc>, policy: &RetryPolicy) -> Result<Self, TransitionError> {
        if self.status != JobStatus::Pending {
            return Err(TransitionError::NotPending {
                status: self.status,
            });
        }
        let exhausted = TransitionError::AttemptsExhausted {
            attempts: self.attempts,
            max_attempts: policy.max_attempts,
        };
        if self.attempts >= policy.max_attempts {
            return Err(exhausted);
        }
        let attempts = self.attempts.checked_add(1).ok_or(exhausted)?;
        Ok(Self {
            status: JobStatus::InProgress,
            attempts,
            lease_expires_at: Some(lease_end(now, policy)?),
        })
    }

    /// A heartbeat extends the lease to `now + policy.lease()`, only while `IN_PROGRESS` and the
    /// lease has not expired at `now`.
    ///
    /// # Errors
    /// [`TransitionError::NotInProgress`] from any other status (a cancelled job reports
    /// `CANCELLED` here, so the caller can tell the worker to stop);
    /// [`TransitionError::LeaseLost`] when the lease expired at `now`;
    /// [`TransitionError::LeaseOutOfRange`] when the lease end overflows.
    pub fn heartbeat(
        &self,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> Result<Self, TransitionError> {
        self.require_live_lease(now)?;
        Ok(Self {
            lease_expires_at: Some(lease_end(now, policy)?),
            ..*self
        })
    }

    /// The worker reports a result: `IN_PROGRESS` → `SUCCEEDED` or `FAILED`, releasing the lease.
    ///
    /// # Errors
    /// [`TransitionError::NotInProgress`] from any other status (e.g. already completed);
    /// [`TransitionError::LeaseLost`] when the lease expired at `now` (a late result changes
    /// nothing; the HTTP layer answers 409).
    pub fn complete(&self, outcome: Outcome, now: DateTime<Utc>) -> Result<Self, TransitionError> {
        self.require_live_lease(now)?;
        Ok(Self {
            status: outcome.status(),
            attempts: self.attempts,
            lease_expires_at: None,
        })
    }

    /// A user cancels the job: `PENDING` or `IN_PROGRESS` → `CANCELLED`, releasing any lease.
    ///
    /// # Errors
    /// [`TransitionError::NotCancellable`] when the job is already terminal.
    pub fn cancel(&self) -> Result<Self, TransitionError> {
        if self.status.is_terminal() {
            return Err(TransitionError::NotCancellable {
                status: self.status,
            });
        }
        Ok(Self {
            status: JobStatus::Cancelled,
            attempts: self.attempts,
            lease_expires_at: None,
        })
    }

    /// An administrator times the job out (R2's `POST /api/admin/timeout-jobs`): `PENDING` or
    /// `IN_PROGRESS` → `TIMED_OUT`, releasing any lease (a worker's later heartbeat or result
    /// is refused as for a lost lease).
    ///
    /// # Errors
    /// [`TransitionError::Ended`] when the job is already terminal.
    pub fn time_out(&self) -> Result<Self, TransitionError> {
        if self.status.is_terminal() {
            return Err(TransitionError::Ended {
                status: self.status,
            });
        }
        Ok(Self {
            status: JobStatus::TimedOut,
            attempts: self.attempts,
            lease_expires_at: None,
        })
    }

    /// The sweeper: an `IN_PROGRESS` job whose lease expired at `now` goes back to `PENDING`
    /// while `attempts < policy.max_attempts()`, else to `TIMED_OUT`; the lease is released.
    ///
    /// # Errors
    /// [`TransitionError::NotInProgress`] from any other status;
    /// [`TransitionError::NotExpired`] while the lease is still valid at `now`.
    pub fn expire(
        &self,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> Result<Self, TransitionError> {
        if self.status != JobStatus::InProgress {
            return Err(TransitionError::NotInProgress {
                status: self.status,
            });
        }
        if !self.is_lease_expired(now) {
            return Err(TransitionError::NotExpired);
        }
        self.lose_run(policy)
    }

    /// The workflow engine reports the job's run finished: `IN_PROGRESS` → `SUCCEEDED` or
    /// `FAILED`, releasing the lease. Unlike [`complete`](Self::complete) the lease is not
    /// checked: an engine-run job is watched by the engine, not leased to a worker.
    ///
    /// # Errors
    /// [`TransitionError::NotInProgress`] from any other status (e.g. cancelled meanwhile).
    pub fn finish_run(&self, outcome: Outcome) -> Result<Self, TransitionError> {
        if self.status != JobStatus::InProgress {
            return Err(TransitionError::NotInProgress {
                status: self.status,
            });
        }
        Ok(Self {
            status: outcome.status(),
            attempts: self.attempts,
            lease_expires_at: None,
        })
    }

    /// The workflow engine no longer knows the job's run: back to `PENDING` for another attempt
    /// while `attempts < policy.max_attempts()`, else `TIMED_OUT` (as [`expire`](Self::expire),
    /// without waiting for the lease).
    ///
    /// # Errors
    /// [`TransitionError::NotInProgress`] from any other status.
    pub fn lose_run(&self, policy: &RetryPolicy) -> Result<Self, TransitionError> {
        if self.status != JobStatus::InProgress {
            return Err(TransitionError::NotInProgress {
                status: self.status,
            });
        }
        let status = if self.attempts < policy.max_attempts {
            JobStatus::Pending
        } else {
            JobStatus::TimedOut
        };
        Ok(Self {
            status,
            attempts: self.attempts,
            lease_expires_at: None,
        })
    }

    /// `Ok` when `IN_PROGRESS` with a lease still valid at `now`.
    ///
    /// # Errors
    /// [`TransitionError::NotInProgress`] from any other status;
    /// [`TransitionError::LeaseLost`] when the lease expired at `now`.
    pub fn require_live_lease(&self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.status != JobStatus::InProgress {
            return Err(TransitionError::NotInProgress {
                status: self.status,
            });
        }
        if self.is_lease_expired(now) {
            return Err(TransitionError::LeaseLost);
        }
        Ok(())
    }
}

impl Default for JobState {
    fn default() -> Self {
        Self::new_pending()
    }
}

/// `now + policy.lease()`, without panicking on overflow.
fn lease_end(now: DateTime<Utc>, policy: &RetryPolicy) -> Result<DateTime<Utc>, TransitionError> {
    now.checked_add_signed(policy.lease)
        .ok_or(TransitionError::LeaseOutOfRange)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;
    use rstest::rstest;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy::new(max_attempts, Duration::minutes(60)).unwrap()
    }

    /// A consistent state with `status`, one attempt, and (if `IN_PROGRESS`) a lease ending at
    /// `t0 + 60 min`.
    fn state(status: JobStatus) -> JobState {
        let lease = (status == JobStatus::InProgress).then(|| t0() + Duration::minutes(60));
        JobState::restore(status, 1, lease).unwrap()
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Claim,
        Heartbeat,
        Succeed,
        Fail,
        Cancel,
        TimeOut,
        Expire,
        RunSucceeded,
        RunLost,
    }

    fn apply(
        s: &JobState,
        op: Op,
        now: DateTime<Utc>,
        p: &RetryPolicy,
    ) -> Result<JobState, TransitionError> {
        match op {
            Op::Claim => s.claim(now, p),
            Op::Heartbeat => s.heartbeat(now, p),
            Op::Succeed => s.complete(Outcome::Succeeded, now),
            Op::Fail => s.complete(Outcome::Failed, now),
            Op::Cancel => s.cancel(),
            Op::TimeOut => s.time_out(),
            Op::Expire => s.expire(now, p),
            Op::RunSucceeded => s.finish_run(Outcome::Succeeded),
            Op::RunLost => s.lose_run(p),
        }
    }

    /// The engine's transitions ignore the lease: a run may outlast it.
    #[rstest]
    #[case::succeeded(Op::RunSucceeded, 1, Ok(Succeeded))]
    #[case::lost_with_attempts_left(Op::RunLost, 2, Ok(Pending))]
    #[case::lost_on_the_last_attempt(Op::RunLost, 1, Ok(TimedOut))]
    fn engine_transitions_after_the_lease(
        #[case] op: Op,
        #[case] max_attempts: u32,
        #[case] expected: Result<JobStatus, ()>,
    ) {
        let long_after = t0() + Duration::days(3);
        let next = apply(&state(InProgress), op, long_after, &policy(max_attempts));
        assert_eq!(next.map(|s| s.status()).map_err(|_| ()), expected);
        if let Ok(next) = next {
            assert_eq!(next.lease_expires_at(), None);
            assert_eq!(next.attempts(), 1);
        }
    }

    #[rstest]
    fn engine_transitions_need_a_job_in_progress(
        #[values(Pending, Succeeded, Failed, Cancelled, TimedOut)] status: JobStatus,
        #[values(Op::RunSucceeded, Op::RunLost)] op: Op,
    ) {
        assert_eq!(
            apply(&state(status), op, t0(), &policy(3)),
            Err(NotInProgress { status })
        );
    }

    use JobStatus::{Cancelled, Failed, InProgress, Pending, Succeeded, TimedOut};
    use TransitionError::{
        Ended, LeaseLost, NotCancellable, NotExpired, NotInProgress, NotPending,
    };

    /// Every (status, operation) pair, at `t0 + 1 min` (an `IN_PROGRESS` lease is still valid).
    #[rstest]
    #[case(Pending, Op::Claim, Ok(InProgress))]
    #[case(Pending, Op::Heartbeat, Err(NotInProgress { status: Pending }))]
    #[case(Pending, Op::Succeed, Err(NotInProgress { status: Pending }))]
    #[case(Pending, Op::Fail, Err(NotInProgress { status: Pending }))]
    #[case(Pending, Op::Cancel, Ok(Cancelled))]
    #[case(Pending, Op::TimeOut, Ok(TimedOut))]
    #[case(Pending, Op::Expire, Err(NotInProgress { status: Pending }))]
    #[case(InProgress, Op::Claim, Err(NotPending { status: InProgress }))]
    #[case(InProgress, Op::Heartbeat, Ok(InProgress))]
    #[case(InProgress, Op::Succeed, Ok(Succeeded))]
    #[case(InProgress, Op::Fail, Ok(Failed))]
    #[case(InProgress, Op::Cancel, Ok(Cancelled))]
    #[case(InProgress, Op::TimeOut, Ok(TimedOut))]
    #[case(InProgress, Op::Expire, Err(NotExpired))]
    #[case(Succeeded, Op::Claim, Err(NotPending { status: Succeeded }))]
    #[case(Succeeded, Op::Heartbeat, Err(NotInProgress { status: Succeeded }))]
    #[case(Succeeded, Op::Succeed, Err(NotInProgress { status: Succeeded }))]
    #[case(Succeeded, Op::Fail, Err(NotInProgress { status: Succeeded }))]
    #[case(Succeeded, Op::Cancel, Err(NotCancellable { status: Succeeded }))]
    #[case(Succeeded, Op::TimeOut, Err(Ended { status: Succeeded }))]
    #[case(Succeeded, Op::Expire, Err(NotInProgress { status: Succeeded }))]
    #[case(Failed, Op::Claim, Err(NotPending { status: Failed }))]
    #[case(Failed, Op::Heartbeat, Err(NotInProgress { status: Failed }))]
    #[case(Failed, Op::Succeed, Err(NotInProgress { status: Failed }))]
    #[case(Failed, Op::Fail, Err(NotInProgress { status: Failed }))]
    #[case(Failed, Op::Cancel, Err(NotCancellable { status: Failed }))]
    #[case(Failed, Op::TimeOut, Err(Ended { status: Failed }))]
    #[case(Failed, Op::Expire, Err(NotInProgress { status: Failed }))]
    #[case(Cancelled, Op::Claim, Err(NotPending { status: Cancelled }))]
    #[case(Cancelled, Op::Heartbeat, Err(NotInProgress { status: Cancelled }))]
    #[case(Cancelled, Op::Succeed, Err(NotInProgress { status: Cancelled }))]
    #[case(Cancelled, Op::Fail, Err(NotInProgress { status: Cancelled }))]
    #[case(Cancelled, Op::Cancel, Err(NotCancellable { status: Cancelled }))]
    #[case(Cancelled, Op::TimeOut, Err(Ended { status: Cancelled }))]
    #[case(Cancelled, Op::Expire, Err(NotInProgress { status: Cancelled }))]
    #[case(TimedOut, Op::Claim, Err(NotPending { status: TimedOut }))]
    #[case(TimedOut, Op::Heartbeat, Err(NotInProgress { status: TimedOut }))]
    #[case(TimedOut, Op::Succeed, Err(NotInProgress { status: TimedOut }))]
    #[case(TimedOut, Op::Fail, Err(NotInProgress { status: TimedOut }))]
    #[case(TimedOut, Op::Cancel, Err(NotCancellable { status: TimedOut }))]
    #[case(TimedOut, Op::TimeOut, Err(Ended { status: TimedOut }))]
    #[case(TimedOut, Op::Expire, Err(NotInProgress { status: TimedOut }))]
    fn transition_table(
        #[case] from: JobStatus,
        #[case] op: Op,
        #[case] expected: Result<JobStatus, TransitionError>,
    ) {
        let p = policy(3);
        let now = t0() + Duration::minutes(1);
        let got = apply(&state(from), op, now, &p).map(|s| s.status());
        assert_eq!(got, expected);
    }

    /// The same operations on an `IN_PROGRESS` job whose lease has expired.
    #[rstest]
    #[case(Op::Claim, Err(NotPending { status: InProgress }))]
    #[case(Op::Heartbeat, Err(LeaseLost))]
    #[case(Op::Succeed, Err(LeaseLost))]
    #[case(Op::Fail, Err(LeaseLost))]
    #[case(Op::Cancel, Ok(Cancelled))]
    #[case(Op::Expire, Ok(Pending))]
    fn transitions_after_lease_expiry(
        #[case] op: Op,
        #[case] expected: Result<JobStatus, TransitionError>,
    ) {
        let p = policy(3);
        let now = t0() + Duration::minutes(61);
        let got = apply(&state(InProgress), op, now, &p).map(|s| s.status());
        assert_eq!(got, expected);
    }

    #[test]
    fn claim_counts_an_attempt_and_sets_the_lease() {
        let p = policy(3);
        let claimed = JobState::new_pending().claim(t0(), &p).unwrap();
        assert_eq!(claimed.status(), InProgress);
        assert_eq!(claimed.attempts(), 1);
        assert_eq!(
            claimed.lease_expires_at(),
            Some(t0() + Duration::minutes(60))
        );
    }

    #[test]
    fn heartbeat_extends_the_lease_from_now() {
        let p = policy(3);
        let now = t0() + Duration::minutes(30);
        let beat = state(InProgress).heartbeat(now, &p).unwrap();
        assert_eq!(beat.lease_expires_at(), Some(now + Duration::minutes(60)));
        assert_eq!(beat.attempts(), 1);
    }

    #[test]
    fn completion_and_cancel_release_the_lease() {
        let now = t0() + Duration::minutes(1);
        let done = state(InProgress).complete(Outcome::Succeeded, now).unwrap();
        assert_eq!(done.lease_expires_at(), None);
        let cancelled = state(InProgress).cancel().unwrap();
        assert_eq!(cancelled.lease_expires_at(), None);
        assert_eq!(cancelled.attempts(), 1);
    }

    #[rstest]
    #[case::one_ms_before(Duration::milliseconds(-1), true)]
    #[case::exactly_at_expiry(Duration::zero(), false)]
    #[case::one_ms_after(Duration::milliseconds(1), false)]
    fn lease_boundary(#[case] offset: Duration, #[case] live: bool) {
        let p = policy(3);
        let s = state(InProgress);
        let now = s.lease_expires_at().unwrap() + offset;
        assert_eq!(s.is_lease_expired(now), !live);
        let (hb, done, swept) = (
            s.heartbeat(now, &p),
            s.complete(Outcome::Failed, now),
            s.expire(now, &p),
        );
        if live {
            assert_eq!(hb.unwrap().lease_expires_at(), Some(now + p.lease()));
            assert_eq!(done.unwrap().status(), Failed);
            assert_eq!(swept, Err(NotExpired));
        } else {
            assert_eq!(hb, Err(LeaseLost));
            assert_eq!(done, Err(LeaseLost));
            assert_eq!(swept.unwrap().status(), Pending);
        }
    }

    #[test]
    fn expire_requeues_until_max_attempts_then_times_out() {
        let p = policy(3);
        let mut s = JobState::new_pending();
        let mut now = t0();
        for attempt in 1..=3 {
            s = s.claim(now, &p).unwrap();
            assert_eq!(s.attempts(), attempt);
            now = s.lease_expires_at().unwrap();
            s = s.expire(now, &p).unwrap();
            let expected = if attempt < 3 { Pending } else { TimedOut };
            assert_eq!(s.status(), expected);
            assert_eq!(s.lease_expires_at(), None);
        }
        assert_eq!(s.attempts(), 3);
        assert_eq!(s.claim(now, &p), Err(NotPending { status: TimedOut }));
    }

    #[test]
    fn single_attempt_policy_times_out_on_first_expiry() {
        let p = policy(1);
        let s = JobState::new_pending().claim(t0(), &p).unwrap();
        let s = s.expire(t0() + p.lease(), &p).unwrap();
        assert_eq!(s.status(), TimedOut);
    }

    #[test]
    fn claim_refused_when_attempts_exhausted() {
        // Only reachable when a job type's max_attempts was lowered after jobs were re-queued.
        let s = JobState::restore(Pending, 3, None).unwrap();
        assert_eq!(
            s.claim(t0(), &policy(3)),
            Err(TransitionError::AttemptsExhausted {
                attempts: 3,
                max_attempts: 3
            })
        );
        assert_eq!(s.claim(t0(), &policy(4)).unwrap().attempts(), 4);
    }

    #[test]
    fn lease_overflow_is_an_error_not_a_panic() {
        let p = policy(3);
        let s = JobState::new_pending();
        assert_eq!(
            s.claim(DateTime::<Utc>::MAX_UTC, &p),
            Err(TransitionError::LeaseOutOfRange)
        );
    }

    #[rstest]
    #[case(InProgress, 1, false, Err(InvalidJobState::MissingLease))]
    #[case(Pending, 0, true, Err(InvalidJobState::UnexpectedLease { status: Pending }))]
    #[case(Succeeded, 1, true, Err(InvalidJobState::UnexpectedLease { status: Succeeded }))]
    #[case(Failed, 1, true, Err(InvalidJobState::UnexpectedLease { status: Failed }))]
    #[case(Cancelled, 1, true, Err(InvalidJobState::UnexpectedLease { status: Cancelled }))]
    #[case(TimedOut, 1, true, Err(InvalidJobState::UnexpectedLease { status: TimedOut }))]
    #[case(InProgress, 0, true, Err(InvalidJobState::NoAttempts { status: InProgress }))]
    #[case(Succeeded, 0, false, Err(InvalidJobState::NoAttempts { status: Succeeded }))]
    #[case(Failed, 0, false, Err(InvalidJobState::NoAttempts { status: Failed }))]
    #[case(TimedOut, 0, false, Ok(()))]
    #[case(Pending, 0, false, Ok(()))]
    #[case(Pending, 2, false, Ok(()))]
    #[case(InProgress, 1, true, Ok(()))]
    #[case(Succeeded, 1, false, Ok(()))]
    #[case(Failed, 2, false, Ok(()))]
    #[case(Cancelled, 0, false, Ok(()))]
    #[case(TimedOut, 3, false, Ok(()))]
    fn restore_checks_consistency(
        #[case] status: JobStatus,
        #[case] attempts: u32,
        #[case] with_lease: bool,
        #[case] expected: Result<(), InvalidJobState>,
    ) {
        let lease = with_lease.then(t0);
        let got = JobState::restore(status, attempts, lease);
        assert_eq!(got.map(|_| ()), expected);
        if let Ok(s) = got {
            assert_eq!(
                (s.status(), s.attempts(), s.lease_expires_at()),
                (status, attempts, lease)
            );
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<JobStatus>(&json).unwrap(), status);
        }
        for bad in ["", "pending", "Pending", "RUNNING", " PENDING", "TIMEDOUT"] {
            assert_eq!(
                bad.parse::<JobStatus>(),
                Err(UnknownJobStatus(bad.to_owned()))
            );
        }
    }

    #[test]
    fn terminal_statuses() {
        let terminal: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, [Succeeded, Failed, Cancelled, TimedOut]);
    }

    #[test]
    fn outcome_accepts_only_succeeded_or_failed() {
        for status in JobStatus::ALL {
            let got = Outcome::try_from(status);
            match status {
                Succeeded | Failed => assert_eq!(got.unwrap().status(), status),
                other => assert_eq!(got, Err(NotAnOutcome(other))),
            }
        }
    }

    #[test]
    fn retry_policy_bounds() {
        assert_eq!(
            RetryPolicy::new(0, Duration::minutes(1)),
            Err(InvalidRetryPolicy::ZeroAttempts)
        );
        assert_eq!(
            RetryPolicy::new(1, Duration::zero()),
            Err(InvalidRetryPolicy::NonPositiveLease)
        );
        let p = RetryPolicy::new(1, Duration::seconds(1)).unwrap();
        assert_eq!((p.max_attempts(), p.lease()), (1, Duration::seconds(1)));
    }

    #[test]
    fn error_messages_are_readable() {
        assert_eq!(
            NotPending { status: InProgress }.to_string(),
            "job is not available for assignment (status IN_PROGRESS)"
        );
        assert_eq!(
            NotCancellable { status: Succeeded }.to_string(),
            "job can no longer be cancelled (status SUCCEEDED)"
        );
        assert_eq!(LeaseLost.to_string(), "the lease on this job has expired");
    }

    /// A deterministic 64-bit LCG (Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % bound
        }
    }

    fn assert_invariants(s: &JobState, p: &RetryPolicy) {
        assert!(s.attempts() <= p.max_attempts(), "{s:?}");
        assert_eq!(
            s.lease_expires_at().is_some(),
            s.status() == InProgress,
            "{s:?}"
        );
        // Every reachable state is one that storage may hand back.
        assert_eq!(
            JobState::restore(s.status(), s.attempts(), s.lease_expires_at()),
            Ok(*s)
        );
    }

    #[test]
    fn random_operation_sequences_keep_the_invariants() {
        const OPS: [Op; 8] = [
            Op::Claim,
            Op::Heartbeat,
            Op::Succeed,
            Op::Fail,
            Op::Cancel,
            Op::Expire,
            Op::RunSucceeded,
            Op::RunLost,
        ];
        let mut rng = Lcg(0x5EED);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let p = RetryPolicy::new(
                u32::try_from(rng.next(4)).unwrap() + 1,
                Duration::minutes(i64::try_from(rng.next(60)).unwrap() + 1),
            )
            .unwrap();
            let mut s = JobState::new_pending();
            let mut now = t0();
            for _ in 0..40 {
                // Mostly small steps, sometimes past a whole lease.
                now += Duration::seconds(i64::try_from(rng.next(5_400)).unwrap());
                let op = OPS[usize::try_from(rng.next(8)).unwrap()];
                let before = s;
                match apply(&s, op, now, &p) {
                    Ok(next) => {
                        assert!(
                            !before.status().is_terminal(),
                            "{op:?} left terminal {before:?}"
                        );
                        assert!(next.attempts() >= before.attempts());
                        seen.insert(next.status());
                        s = next;
                    }
                    Err(e) => {
                        if before.status().is_terminal() {
                            assert!(
                                matches!(
                                    e,
                                    NotPending { .. }
                                        | NotInProgress { .. }
                                        | NotCancellable { .. }
                                ),
                                "{op:?} on {before:?}: {e:?}"
                            );
                        }
                    }
                }
                assert_invariants(&s, &p);
            }
        }
        // The walk reached every status, so the checks above were exercised everywhere.
        assert_eq!(seen.len(), JobStatus::ALL.len());
    }
}
