//! The roles one server instance at a time plays for all of them: the lease sweeper, the
//! capacity manager and the workflow dispatcher. Each runs as a loop of [`Turns`]: at every tick
//! the instance checks whether it leads the role (see `reefguide_adapters_postgres::Leadership`:
//! the leader keeps it until it stops or dies, and a follower takes over at its next tick), runs
//! a cycle only if it does, and reports the role in `reefguide_leader{role}`. A loop ends when its
//! stop token is cancelled (the server drains), giving the role up at once.

use std::future::Future;
use std::time::Duration;

use reefguide_adapters_postgres::Leadership;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::app::Store;

/// A role among the instances sharing a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Re-queues or times out jobs whose lease expired.
    LeaseSweeper,
    /// Starts workers as the queue grows.
    CapacityManager,
    /// Triggers and follows Airflow runs.
    WorkflowDispatcher,
}

impl Role {
    /// The name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Role::LeaseSweeper => "lease_sweeper",
            Role::CapacityManager => "capacity_manager",
            Role::WorkflowDispatcher => "workflow_dispatcher",
        }
    }

    /// The advisory-lock key of the role (each also uses the next key for its cycles).
    fn key(self) -> i64 {
        match self {
            // "reefswep", "reefcapa", "reefflow" as big-endian bytes.
            Role::LeaseSweeper => 0x7265_6566_7377_6570,
            Role::CapacityManager => 0x7265_6566_6361_7061,
            Role::WorkflowDispatcher => 0x7265_6566_666c_6f77,
        }
    }
}

/// What a turn of a role's loop came to.
pub enum Turn<T> {
    /// This instance leads and ran the cycle.
    Led(T),
    /// Another instance leads (or the database could not say): no cycle ran. `lost` is set on
    /// the first such turn after this instance led.
    Followed {
        /// This instance led at its previous turn.
        lost: bool,
    },
}

/// The ticks of one role's loop on this instance.
pub struct Turns {
    role: Role,
    leadership: Leadership,
    tick: Interval,
    stop: CancellationToken,
    led: bool,
}

impl Turns {
    /// Turns every `interval` (the first at once) until `stop` is cancelled.
    pub fn new(role: Role, store: &Store, interval: Duration, stop: CancellationToken) -> Self {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        crate::metering::record_leadership(role.name(), false);
        Self {
            role,
            leadership: store.leadership(role.key()),
            tick,
            stop,
            led: false,
        }
    }

    /// Waits for the next tick: `false` once the loop is to stop (the role is then given up).
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => {}
            _ = self.tick.tick() => return true,
        }
        self.leadership.resign().await;
        if self.led {
            tracing::info!(role = self.role.name(), "this instance gave up its role");
        }
        self.led = false;
        crate::metering::record_leadership(self.role.name(), false);
        false
    }

    /// Runs `cycle` if this instance leads the role now.
    pub async fn take<T>(&mut self, cycle: impl Future<Output = T>) -> Turn<T> {
        let outcome = match self.leadership.lead(cycle).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(
                    role = self.role.name(),
                    error = format!("{error:#}"),
                    "cannot tell which instance leads"
                );
                None
            }
        };
        let leads = self.leadership.leads();
        if leads != self.led {
            if leads {
                tracing::info!(role = self.role.name(), "this instance now leads");
            } else {
                tracing::info!(role = self.role.name(), "another instance now leads");
            }
        }
        let lost = self.led && !leads;
        self.led = leads;
        crate::metering::record_leadership(self.role.name(), leads);
        match outcome {
            Some(output) => {
                crate::metering::record_leader_cycle(self.role.name());
                Turn::Led(output)
            }
            None => Turn::Followed { lost },
        }
    }
}
