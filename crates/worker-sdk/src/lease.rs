//! The lease of a running job as this worker knows it, and retries that last as long as it.
//!
//! An outage of the server or its storage (connection refused, a reset, a 502/503/504) is not the
//! job's fault. Every call made for a running job (upload URLs, uploads, heartbeats, the result)
//! is retried with back-off while the lease lasts; once the lease is over the job is abandoned,
//! so that the server re-queues it, and never reported FAILED.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::worker::backoff;

/// The lease assumed when the server gives no readable `expires_at` (R1's default lease).
pub(crate) const UNKNOWN_LEASE: Duration = Duration::from_secs(3600);
/// First pause after a transient error; it doubles up to [`RETRY_CAP`].
const RETRY_BASE: Duration = Duration::from_millis(200);
/// Longest pause between two attempts.
const RETRY_CAP: Duration = Duration::from_secs(5);

/// Whether an error is worth retrying later (no answer, or a server-side failure).
pub(crate) trait Transient {
    /// True for connection errors, timeouts, 5xx answers and throttling.
    fn is_transient(&self) -> bool;
}

impl Transient for crate::client::ApiError {
    fn is_transient(&self) -> bool {
        crate::client::ApiError::is_transient(self)
    }
}

/// The lease of one assignment: its deadline on this machine's monotonic clock, moved on by
/// every accepted heartbeat, and whether the job was given up because of the infrastructure.
#[derive(Debug)]
pub(crate) struct Lease {
    deadline: Mutex<Instant>,
    abandoned: AtomicBool,
}

impl Lease {
    /// A lease ending at the server's `expires_at` (RFC 3339), read against this machine's
    /// clock; [`UNKNOWN_LEASE`] from now when it is missing or unreadable.
    pub(crate) fn from_expiry(expires_at: Option<&str>) -> Self {
        Self {
            deadline: Mutex::new(deadline_of(expires_at, Utc::now(), Instant::now())),
            abandoned: AtomicBool::new(false),
        }
    }

    /// A lease lasting `duration` from now.
    #[cfg(test)]
    pub(crate) fn lasting(duration: Duration) -> Self {
        Self {
            deadline: Mutex::new(Instant::now() + duration),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Moves the deadline to the server's new `expires_at` (a heartbeat's answer); an unreadable
    /// value leaves it as it is.
    pub(crate) fn extend(&self, expires_at: &str) {
        if parse_expiry(expires_at).is_none() {
            return;
        }
        let deadline = deadline_of(Some(expires_at), Utc::now(), Instant::now());
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = deadline;
    }

    /// When the lease ends, as far as this worker knows.
    pub(crate) fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a call for this job gave up because the lease ended during an outage: the
    /// job is then abandoned (left for the server to re-queue), whatever the handler returns.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// True once [`abandon`](Self::abandon) was called.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }
}

fn parse_expiry(expires_at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(expires_at.trim())
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// The monotonic deadline of `expires_at` given the wall clock `now` and the monotonic `mono_now`
/// read at the same moment (a past expiry is a deadline of now).
fn deadline_of(expires_at: Option<&str>, now: DateTime<Utc>, mono_now: Instant) -> Instant {
    let Some(expiry) = expires_at.and_then(parse_expiry) else {
        return mono_now + UNKNOWN_LEASE;
    };
    let left = (expiry - now).to_std().unwrap_or(Duration::ZERO);
    mono_now + left
}

/// Why [`within_lease`] gave up.
#[derive(Debug)]
pub(crate) enum GaveUp<E> {
    /// The error is not transient (the server or store refused the request).
    Refused(E),
    /// Transient errors lasted until the lease ended; the last one is given.
    LeaseOver(E),
}

impl<E> GaveUp<E> {
    /// The last error.
    pub(crate) fn error(&self) -> &E {
        match self {
            Self::Refused(error) | Self::LeaseOver(error) => error,
        }
    }
}

impl<E: fmt::Display> fmt::Display for GaveUp<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(error) => error.fmt(f),
            Self::LeaseOver(error) => {
                write!(f, "{error} (retried until the job's lease ended)")
            }
        }
    }
}

/// Runs `attempt` until it succeeds, fails with an error that is not transient, or the lease
/// ends: transient errors are logged and retried after 0.2 s, doubling up to 5 s (never sleeping
/// past the deadline). `what` names the call in the log. When the lease ends first, the job is
/// marked abandoned ([`Lease::abandon`]): whatever the handler then returns, it is not reported.
///
/// The deadline is the lease's as known when the call begins. Heartbeats that extend the lease
/// meanwhile do not prolong the retries: a store that stays unreachable while the API answers
/// (a misconfigured URL, say) must not hold the job for ever.
pub(crate) async fn within_lease<T, E, F, Fut>(
    lease: &Lease,
    what: &str,
    mut attempt: F,
) -> Result<T, GaveUp<E>>
where
    E: Transient + fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = lease.deadline();
    let mut failures = 0_u32;
    loop {
        let error = match attempt().await {
            Ok(value) => {
                if failures > 0 {
                    tracing::info!(what, failures, "succeeded after transient errors");
                }
                return Ok(value);
            }
            Err(error) => error,
        };
        if !error.is_transient() {
            return Err(GaveUp::Refused(error));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::warn!(what, %error, "giving up: the job's lease has ended");
            lease.abandon();
            return Err(GaveUp::LeaseOver(error));
        }
        let pause = backoff(failures, RETRY_BASE, RETRY_CAP).min(left);
        tracing::warn!(what, %error, ?pause, lease_left = ?left, "transient error; retrying");
        failures = failures.saturating_add(1);
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::AtomicU32;

    #[derive(Debug)]
    struct Fake(bool);

    impl Transient for Fake {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    impl fmt::Display for Fake {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(if self.0 {
                "refused connection"
            } else {
                "denied"
            })
        }
    }

    #[test]
    fn deadlines_follow_the_servers_expiry() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mono = Instant::now();
        assert_eq!(
            deadline_of(Some("2026-01-01T00:10:00.000Z"), now, mono),
            mono + Duration::from_secs(600)
        );
        assert_eq!(
            deadline_of(Some("2026-01-01T10:10:00+10:00"), now, mono),
            mono + Duration::from_secs(600)
        );
        // Already expired: no time left, not a negative one.
        assert_eq!(deadline_of(Some("2025-12-31T23:00:00Z"), now, mono), mono);
        assert_eq!(deadline_of(None, now, mono), mono + UNKNOWN_LEASE);
        assert_eq!(deadline_of(Some("soon"), now, mono), mono + UNKNOWN_LEASE);
    }

    #[test]
    fn heartbeats_extend_and_garbage_does_not() {
        let lease = Lease::lasting(Duration::from_secs(5));
        let before = lease.deadline();
        lease.extend("not a time");
        assert_eq!(lease.deadline(), before);
        let later = (Utc::now() + chrono::Duration::seconds(3600)).to_rfc3339();
        lease.extend(&later);
        assert!(lease.deadline() > before + Duration::from_secs(3000));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let lease = Lease::lasting(Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let result = within_lease(&lease, "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 5 {
                Err(Fake(true))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_not_retried() {
        let lease = Lease::lasting(Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = within_lease(&lease, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Fake(false))
        })
        .await;
        assert!(matches!(result, Err(GaveUp::Refused(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!lease.is_abandoned(), "a refusal is the job's to report");
    }

    #[tokio::test(start_paused = true)]
    async fn extensions_during_the_retries_do_not_prolong_them() {
        let lease = Lease::lasting(Duration::from_secs(10));
        let started = Instant::now();
        let result: Result<(), _> = within_lease(&lease, "test", || {
            lease.extend(&(Utc::now() + chrono::Duration::seconds(3600)).to_rfc3339());
            async { Err(Fake(true)) }
        })
        .await;
        assert!(matches!(result, Err(GaveUp::LeaseOver(_))));
        assert!(started.elapsed() < Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_longer_than_the_lease_gives_up_at_the_deadline() {
        let lease = Lease::lasting(Duration::from_secs(30));
        let started = Instant::now();
        let result: Result<(), _> =
            within_lease(&lease, "test", || async { Err(Fake(true)) }).await;
        assert!(matches!(result, Err(GaveUp::LeaseOver(_))));
        assert!(
            lease.is_abandoned(),
            "the job is left for the server to re-queue"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
    }
}
