//! Waking claimers that wait for work.
//!
//! [`JobSignal`] is an in-process broadcast: whoever makes a job claimable (a submission, a
//! re-queue, or a storage adapter relaying another server instance's notification) calls
//! [`JobSignal::notify`], and every long-polling claimer re-checks the queue. It carries no data,
//! so a missed or spurious wake-up costs one extra query, never a lost job; claimers also re-check
//! periodically in case a wake-up never comes.
//!
//! When the server shuts down, [`JobSignal::drain`] wakes every waiter for good: a claimer checks
//! the queue once more and answers at once instead of holding its request open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// A cloneable "the queue may have changed" signal.
#[derive(Debug, Clone)]
pub struct JobSignal {
    sender: watch::Sender<u64>,
    draining: Arc<AtomicBool>,
}

/// One waiter's view of a [`JobSignal`].
#[derive(Debug)]
pub struct JobWaiter {
    receiver: watch::Receiver<u64>,
    draining: Arc<AtomicBool>,
}

impl Default for JobSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl JobSignal {
    /// A signal nobody waits on yet.
    #[must_use]
    pub fn new() -> Self {
        Self {
            sender: watch::Sender::new(0),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Wakes every current waiter.
    pub fn notify(&self) {
        self.sender.send_modify(|generation| {
            *generation = generation.wrapping_add(1);
        });
    }

    /// A waiter that sees every notification sent from now on.
    #[must_use]
    pub fn subscribe(&self) -> JobWaiter {
        JobWaiter {
            receiver: self.sender.subscribe(),
            draining: Arc::clone(&self.draining),
        }
    }

    /// Ends every wait, now and from now on: the server is shutting down, and claimers should
    /// answer rather than wait.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Whether [`JobSignal::drain`] was called.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

impl JobWaiter {
    /// Forgets notifications seen so far; call before checking the queue, so that one arriving
    /// after the check is not missed.
    pub fn arm(&mut self) {
        self.receiver.mark_unchanged();
    }

    /// Waits until a notification newer than the last [`JobWaiter::arm`] arrives, or `timeout`
    /// passes, whichever comes first.
    pub async fn wait(&mut self, timeout: std::time::Duration) {
        if self.is_draining() {
            return;
        }
        // Both a timeout and a closed channel simply end the wait: the caller re-checks.
        let _ = tokio::time::timeout(timeout, self.receiver.changed()).await;
    }
}

impl JobWaiter {
    /// Whether the signal is draining: waiting is over for good.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_notification_after_arming_ends_the_wait() {
        let signal = JobSignal::new();
        let mut waiter = signal.subscribe();
        waiter.arm();
        signal.notify();
        let started = tokio::time::Instant::now();
        waiter.wait(Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_notification_the_wait_times_out() {
        let signal = JobSignal::new();
        let mut waiter = signal.subscribe();
        signal.notify();
        waiter.arm();
        let started = tokio::time::Instant::now();
        waiter.wait(Duration::from_secs(2)).await;
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn draining_ends_current_and_later_waits_at_once() {
        let signal = JobSignal::new();
        let mut waiting = signal.subscribe();
        waiting.arm();
        let drained = signal.clone();
        let started = tokio::time::Instant::now();
        let wait = tokio::spawn(async move {
            waiting.wait(Duration::from_secs(60)).await;
            waiting.is_draining()
        });
        tokio::task::yield_now().await;
        drained.drain();
        assert!(wait.await.expect("the waiter ran"));
        let mut later = signal.subscribe();
        later.arm();
        later.wait(Duration::from_secs(60)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(signal.is_draining() && later.is_draining());
    }
}
