//! Unit tests of the scaling formula and the launch planner.

use chrono::{TimeZone as _, Utc};
use rstest::rstest;

use super::*;

fn settings(sensitivity: f64, factor: f64, min: u32, max: u32) -> ScalingSettings {
    ScalingSettings {
        sensitivity,
        factor,
        min_workers: min,
        max_workers: max,
        cooldown: Duration::seconds(60),
        max_launch_per_cycle: 5,
    }
}

fn policy(sensitivity: f64, factor: f64, min: u32, max: u32) -> ScalingPolicy {
    ScalingPolicy::new(settings(sensitivity, factor, min, max)).expect("valid policy")
}

/// ReefGuide's worked example: sensitivity 1.5, factor 2, 0 to 10 workers.
fn example() -> ScalingPolicy {
    policy(1.5, 2.0, 0, 10)
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid instant")
        + Duration::seconds(seconds)
}

#[rstest]
#[case::empty_queue(example(), 0, 0)]
#[case::one_job(example(), 1, 1)]
#[case::four_jobs(example(), 4, 2)]
#[case::ten_jobs(example(), 10, 3)]
#[case::beyond_reefguides_page_of_ten(example(), 100, 6)]
#[case::huge_queue_capped_at_max(example(), u64::MAX, 10)]
#[case::minimum_kept_when_idle(policy(1.5, 2.0, 2, 10), 0, 2)]
#[case::minimum_is_the_base(policy(1.5, 2.0, 2, 10), 4, 4)]
#[case::max_zero_disables(policy(1.5, 2.0, 0, 0), 1_000, 0)]
#[case::zero_sensitivity_still_one_when_pending(policy(0.0, 2.0, 0, 10), 50, 1)]
#[case::zero_sensitivity_huge_queue(policy(0.0, f64::MIN_POSITIVE, 3, 10), u64::MAX, 3)]
#[case::tiny_factor_overflows_to_max(policy(1.0, f64::MIN_POSITIVE, 0, 7), u64::MAX, 7)]
#[case::fixed_size(policy(4.0, 1.0, 3, 3), 1_000, 3)]
fn desired_workers_follow_the_formula(
    #[case] policy: ScalingPolicy,
    #[case] pending: u64,
    #[case] expected: u32,
) {
    assert_eq!(policy.desired_workers(pending), expected);
}

#[test]
fn desired_workers_never_decrease_as_the_queue_grows() {
    let policy = example();
    let mut previous = 0;
    for pending in 0..10_000 {
        let desired = policy.desired_workers(pending);
        assert!(desired >= previous, "{pending} pending");
        previous = desired;
    }
}

#[rstest]
#[case::negative_sensitivity(settings(-0.1, 2.0, 0, 1), ScalingPolicyError::Sensitivity(-0.1))]
#[case::infinite_sensitivity(
    settings(f64::INFINITY, 2.0, 0, 1),
    ScalingPolicyError::Sensitivity(f64::INFINITY)
)]
#[case::zero_factor(settings(1.0, 0.0, 0, 1), ScalingPolicyError::Factor(0.0))]
#[case::negative_factor(settings(1.0, -2.0, 0, 1), ScalingPolicyError::Factor(-2.0))]
#[case::infinite_factor(
    settings(1.0, f64::INFINITY, 0, 1),
    ScalingPolicyError::Factor(f64::INFINITY)
)]
#[case::min_above_max(settings(1.0, 2.0, 3, 2), ScalingPolicyError::MinAboveMax { min: 3, max: 2 })]
#[case::negative_cooldown(
    ScalingSettings { cooldown: Duration::seconds(-1), ..settings(1.0, 2.0, 0, 1) },
    ScalingPolicyError::NegativeCooldown
)]
#[case::no_launch(
    ScalingSettings { max_launch_per_cycle: 0, ..settings(1.0, 2.0, 0, 1) },
    ScalingPolicyError::NoLaunchAllowed
)]
fn invalid_settings_are_refused(
    #[case] settings: ScalingSettings,
    #[case] error: ScalingPolicyError,
) {
    assert_eq!(ScalingPolicy::new(settings), Err(error));
}

#[test]
fn nan_settings_are_refused() {
    assert!(matches!(
        ScalingPolicy::new(settings(f64::NAN, 2.0, 0, 1)),
        Err(ScalingPolicyError::Sensitivity(_))
    ));
    assert!(matches!(
        ScalingPolicy::new(settings(1.0, f64::NAN, 0, 1)),
        Err(ScalingPolicyError::Factor(_))
    ));
}

#[test]
fn valid_settings_are_kept() {
    let settings = settings(1.5, 2.0, 1, 4);
    let policy = ScalingPolicy::new(settings).expect("valid");
    assert_eq!(policy.settings(), &settings);
    assert_eq!(policy.min_workers(), 1);
    assert_eq!(policy.max_workers(), 4);
    assert_eq!(policy.cooldown(), Duration::seconds(60));
    assert_eq!(policy.max_launch_per_cycle(), 5);
}

#[rstest]
// Worked example, nothing live, never launched.
#[case::one_job(example(), 1, 0, None, 1, 1, PlanReason::ScaleUp { shortfall: 1 })]
#[case::four_jobs(example(), 4, 0, None, 2, 2, PlanReason::ScaleUp { shortfall: 2 })]
#[case::ten_jobs(example(), 10, 0, None, 3, 3, PlanReason::ScaleUp { shortfall: 3 })]
// Live workers count against the shortfall.
#[case::partly_served(example(), 10, 1, None, 3, 2, PlanReason::ScaleUp { shortfall: 2 })]
#[case::served(example(), 10, 3, None, 3, 0, PlanReason::Enough)]
#[case::more_than_enough(example(), 1, 4, None, 1, 0, PlanReason::Enough)]
#[case::idle(example(), 0, 0, None, 0, 0, PlanReason::Enough)]
// The minimum is kept with an empty queue.
#[case::minimum_when_idle(policy(1.5, 2.0, 2, 10), 0, 0, None, 2, 2, PlanReason::ScaleUp { shortfall: 2 })]
#[case::minimum_topped_up(policy(1.5, 2.0, 2, 10), 0, 1, None, 2, 1, PlanReason::ScaleUp { shortfall: 1 })]
#[case::max_zero(policy(1.5, 2.0, 0, 0), 100, 0, None, 0, 0, PlanReason::Enough)]
// The launch cap (5 per cycle).
#[case::capped(example(), u64::MAX, 0, None, 10, 5, PlanReason::ScaleUp { shortfall: 10 })]
#[case::capped_then_rest(example(), u64::MAX, 5, None, 10, 5, PlanReason::ScaleUp { shortfall: 5 })]
// The cooldown (60 s) since the last launch; now is `at(100)`.
#[case::cooling_down(example(), 10, 1, Some(at(50)), 3, 0, PlanReason::CoolingDown { until: at(110) })]
#[case::cooldown_just_over(example(), 10, 1, Some(at(40)), 3, 2, PlanReason::ScaleUp { shortfall: 2 })]
#[case::cooldown_long_over(example(), 10, 1, Some(at(-1000)), 3, 2, PlanReason::ScaleUp { shortfall: 2 })]
#[case::no_need_while_cooling(example(), 1, 1, Some(at(99)), 1, 0, PlanReason::Enough)]
fn plans_launch_the_capped_shortfall_after_the_cooldown(
    #[case] policy: ScalingPolicy,
    #[case] pending: u64,
    #[case] live: u32,
    #[case] last_launch: Option<DateTime<Utc>>,
    #[case] desired: u32,
    #[case] launch: u32,
    #[case] reason: PlanReason,
) {
    assert_eq!(
        plan(&policy, pending, live, last_launch, at(100)),
        Plan {
            desired,
            launch,
            reason
        }
    );
}

#[test]
fn zero_cooldown_never_holds_back() {
    let policy = ScalingPolicy::new(ScalingSettings {
        cooldown: Duration::zero(),
        ..settings(1.5, 2.0, 0, 10)
    })
    .expect("valid");
    let plan = plan(&policy, 4, 0, Some(at(100)), at(100));
    assert_eq!(plan.launch, 2);
}

#[test]
fn an_unreachable_cooldown_end_holds_back_forever() {
    let policy = ScalingPolicy::new(ScalingSettings {
        cooldown: Duration::MAX,
        ..settings(1.5, 2.0, 0, 10)
    })
    .expect("valid");
    let plan = plan(&policy, 4, 0, Some(at(0)), at(1_000_000));
    assert_eq!(
        plan.reason,
        PlanReason::CoolingDown {
            until: DateTime::<Utc>::MAX_UTC
        }
    );
    assert_eq!(plan.launch, 0);
}

#[rstest]
#[case(0, Some(0))]
#[case(10, Some(10))]
#[case(11, None)]
#[case(-1, None)]
#[case(i64::from(u32::MAX) + 1, None)]
fn desired_count_is_zero_to_the_maximum(#[case] requested: i64, #[case] expected: Option<u32>) {
    assert_eq!(
        DesiredCount::new(requested).ok().map(DesiredCount::get),
        expected
    );
    if expected.is_none() {
        assert_eq!(
            DesiredCount::new(requested)
                .expect_err("out of range")
                .to_string(),
            "must be from 0 to 10"
        );
    }
}
