//! Worker capacity: how many workers a compute target needs for its queue, and how many to start
//! now.
//!
//! A *compute target* is a group of job types that share a task definition (see
//! [`JobType::compute_target`](crate::job::registry::JobType::compute_target)). Each has a
//! [`ScalingPolicy`]; [`ScalingPolicy::desired_workers`] turns the number of claimable jobs into a
//! number of workers with ReefGuide's logarithmic formula
//!
//! ```text
//! desired = clamp(round(sensitivity · ln(pending / factor + 1) + min), min, max)
//! ```
//!
//! raised to at least one worker while anything is pending (when `max ≥ 1`). With sensitivity
//! 1.5, factor 2, min 0 and max 10: 1 pending job wants 1 worker, 4 want 2, 10 want 3.
//!
//! [`plan`] decides a launch: the shortfall between desired and live workers, capped per cycle
//! and held back until a cooldown since the previous launch has passed. Nothing here ever stops a
//! worker: workers exit by themselves after an idle timeout, and the planner launches again
//! whenever fewer than `min_workers` are alive, so the minimum is kept even with an empty queue.

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

/// The largest desired worker count an administrator may set for a cluster (contract §8: the
/// `scale` action refuses more, and no deployment advertises more).
pub const MAX_DESIRED_COUNT: u32 = 10;

/// A worker count an administrator asked a cluster to keep running: `0..=`[`MAX_DESIRED_COUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DesiredCount(u32);

/// A requested worker count outside `0..=`[`MAX_DESIRED_COUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be from 0 to {MAX_DESIRED_COUNT}")]
pub struct DesiredCountOutOfRange;

impl DesiredCount {
    /// Checks the range.
    ///
    /// # Errors
    /// [`DesiredCountOutOfRange`] when `count` is negative or above [`MAX_DESIRED_COUNT`].
    pub fn new(count: i64) -> Result<Self, DesiredCountOutOfRange> {
        u32::try_from(count)
            .ok()
            .filter(|count| *count <= MAX_DESIRED_COUNT)
            .map(Self)
            .ok_or(DesiredCountOutOfRange)
    }

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The settings of a [`ScalingPolicy`], before validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingSettings {
    /// How steeply workers grow with the queue (finite, ≥ 0; 0 keeps `min_workers`).
    pub sensitivity: f64,
    /// The queue length scale (finite, > 0): larger means fewer workers for the same queue.
    pub factor: f64,
    /// Workers kept alive even when the queue is empty.
    pub min_workers: u32,
    /// Most workers ever wanted (≥ `min_workers`; 0 disables the target).
    pub max_workers: u32,
    /// Least time between two launches (≥ 0), so that workers just started can claim jobs
    /// before more are started.
    pub cooldown: Duration,
    /// Most workers started in one cycle (≥ 1).
    pub max_launch_per_cycle: u32,
}

/// Why scaling settings are refused.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ScalingPolicyError {
    /// The sensitivity is negative, infinite or not a number.
    #[error("the scaling sensitivity must be a finite number of at least 0, not {0}")]
    Sensitivity(f64),
    /// The factor is not positive, infinite or not a number.
    #[error("the scaling factor must be a finite number above 0, not {0}")]
    Factor(f64),
    /// More workers are required than allowed.
    #[error("the minimum number of workers ({min}) is above the maximum ({max})")]
    MinAboveMax {
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
    },
    /// The cooldown is negative.
    #[error("the scaling cooldown must not be negative")]
    NegativeCooldown,
    /// Zero launches per cycle would never start a worker.
    #[error("at least one worker must be allowed to start per cycle")]
    NoLaunchAllowed,
}

/// A validated scaling policy of one compute target (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingPolicy {
    settings: ScalingSettings,
}

impl ScalingPolicy {
    /// Validates `settings`.
    ///
    /// # Errors
    /// [`ScalingPolicyError`] when the sensitivity is negative or not finite, the factor is not
    /// positive or not finite, `min_workers > max_workers`, the cooldown is negative or
    /// `max_launch_per_cycle` is 0.
    pub fn new(settings: ScalingSettings) -> Result<Self, ScalingPolicyError> {
        let ScalingSettings {
            sensitivity,
            factor,
            min_workers,
            max_workers,
            cooldown,
            max_launch_per_cycle,
        } = settings;
        if !sensitivity.is_finite() || sensitivity < 0.0 {
            return Err(ScalingPolicyError::Sensitivity(sensitivity));
        }
        if !factor.is_finite() || factor <= 0.0 {
            return Err(ScalingPolicyError::Factor(factor));
        }
        if min_workers > max_workers {
            return Err(ScalingPolicyError::MinAboveMax {
                min: min_workers,
                max: max_workers,
            });
        }
        if cooldown < Duration::zero() {
            return Err(ScalingPolicyError::NegativeCooldown);
        }
        if max_launch_per_cycle == 0 {
            return Err(ScalingPolicyError::NoLaunchAllowed);
        }
        Ok(Self { settings })
    }

    /// The validated settings.
    pub fn settings(&self) -> &ScalingSettings {
        &self.settings
    }

    /// Workers kept alive even when the queue is empty.
    pub fn min_workers(&self) -> u32 {
        self.settings.min_workers
    }

    /// Most workers ever wanted.
    pub fn max_workers(&self) -> u32 {
        self.settings.max_workers
    }

    /// Least time between two launches.
    pub fn cooldown(&self) -> Duration {
        self.settings.cooldown
    }

    /// Most workers started in one cycle.
    pub fn max_launch_per_cycle(&self) -> u32 {
        self.settings.max_launch_per_cycle
    }

    /// The workers wanted for `pending` claimable jobs:
    /// `clamp(round(sensitivity · ln(pending / factor + 1) + min), min, max)`, and at least 1
    /// when `pending > 0` and `max ≥ 1`.
    pub fn desired_workers(&self, pending: u64) -> u32 {
        let ScalingSettings {
            sensitivity,
            factor,
            min_workers,
            max_workers,
            ..
        } = self.settings;
        // u64 → f64 loses precision only beyond 2^53 jobs, far past any maximum.
        let growth = sensitivity * (pending as f64 / factor + 1.0).ln();
        // `0 · ∞` (a queue so long that the logarithm overflows) is NaN: no growth then.
        let growth = if growth.is_nan() { 0.0 } else { growth };
        let wanted = (growth + f64::from(min_workers))
            .round()
            .clamp(f64::from(min_workers), f64::from(max_workers));
        // In range: clamped between two u32 values and rounded, so the cast is exact.
        let wanted = wanted as u32;
        if pending > 0 && max_workers >= 1 {
            wanted.max(1)
        } else {
            wanted
        }
    }
}

/// Why a [`Plan`] launches what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanReason {
    /// At least as many workers are live as are wanted: nothing to start.
    Enough,
    /// Workers are missing, but the last launch was too recent; launching is allowed again from
    /// `until`.
    CoolingDown {
        /// When the cooldown ends.
        until: DateTime<Utc>,
    },
    /// Workers are missing and are started (`launch` may be below `shortfall` when capped by
    /// [`ScalingSettings::max_launch_per_cycle`]).
    ScaleUp {
        /// Workers missing (`desired - live`).
        shortfall: u32,
    },
}

/// What one capacity cycle should do for a compute target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Workers wanted for the queue ([`ScalingPolicy::desired_workers`]).
    pub desired: u32,
    /// Workers to start now.
    pub launch: u32,
    /// Why.
    pub reason: PlanReason,
}

/// Plans a cycle: with `pending` claimable jobs, `live_tasks` workers starting or running, the
/// previous launch at `last_launch` (`None`: never) and the time `now`, start
/// `min(desired - live, max_launch_per_cycle)` workers when some are missing and the cooldown
/// since the previous launch has passed (`now ≥ last_launch + cooldown`), none otherwise.
pub fn plan(
    policy: &ScalingPolicy,
    pending: u64,
    live_tasks: u32,
    last_launch: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Plan {
    let desired = policy.desired_workers(pending);
    let shortfall = desired.saturating_sub(live_tasks);
    let (launch, reason) = if shortfall == 0 {
        (0, PlanReason::Enough)
    } else if let Some(until) = cooldown_end(policy, last_launch).filter(|until| now < *until) {
        (0, PlanReason::CoolingDown { until })
    } else {
        (
            shortfall.min(policy.max_launch_per_cycle()),
            PlanReason::ScaleUp { shortfall },
        )
    };
    Plan {
        desired,
        launch,
        reason,
    }
}

/// When launching is allowed again after `last_launch` (`None`: it always is).
fn cooldown_end(
    policy: &ScalingPolicy,
    last_launch: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    // An end beyond the representable range never comes.
    last_launch.map(|at| {
        at.checked_add_signed(policy.cooldown())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    })
}

#[cfg(test)]
mod tests;
