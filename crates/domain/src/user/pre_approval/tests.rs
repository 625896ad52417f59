use chrono::TimeZone as _;
use rstest::rstest;

use super::*;

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("email")
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(seconds)
}

fn pre_approval(roles: &[&str], used: bool) -> PreApproval {
    PreApproval {
        id: PreApprovalId::new(4).expect("positive"),
        email: email("ana@example.com"),
        roles: PreApprovalRoles::parse(roles).expect("roles"),
        created_at: at(0),
        updated_at: at(0),
        created_by: Some(UserId::new(1).expect("positive")),
        used,
        used_at: used.then(|| at(10)),
    }
}

#[test]
fn roles_are_r2s_sorted_and_deduplicated() {
    let roles = PreApprovalRoles::parse(["DEFAULT", "ANALYST", "DEFAULT", "ADMIN"]).expect("known");
    assert_eq!(
        roles.as_slice(),
        &[
            PreApprovalRole::Admin,
            PreApprovalRole::Analyst,
            PreApprovalRole::Default
        ]
    );
    let names: Vec<&str> = roles.as_slice().iter().map(|r| r.as_str()).collect();
    assert_eq!(names, ["ADMIN", "ANALYST", "DEFAULT"]);
}

#[rstest]
#[case(&[], PreApprovalRolesError::Empty)]
#[case(&["WORKER"], PreApprovalRolesError::Unknown("WORKER".into()))]
#[case(&["admin"], PreApprovalRolesError::Unknown("admin".into()))]
#[case(&["ANALYST", ""], PreApprovalRolesError::Unknown(String::new()))]
fn empty_and_unknown_roles_are_refused(
    #[case] names: &[&str],
    #[case] expected: PreApprovalRolesError,
) {
    assert_eq!(PreApprovalRoles::parse(names), Err(expected));
}

#[test]
fn an_unknown_name_is_echoed_cut_short() {
    let long = "R".repeat(10_000);
    let Err(PreApprovalRolesError::Unknown(echoed)) = PreApprovalRoles::parse([long]) else {
        panic!("refused");
    };
    assert_eq!(echoed.chars().count(), 32);
}

#[rstest]
#[case(&["DEFAULT"], &[])]
#[case(&["ANALYST", "DEFAULT"], &[Role::Analyst])]
#[case(&["ADMIN", "ANALYST"], &[Role::Admin, Role::Analyst])]
fn default_grants_nothing(#[case] names: &[&str], #[case] granted: &[Role]) {
    let roles = PreApprovalRoles::parse(names).expect("known");
    assert_eq!(roles.granted().as_slice(), granted);
}

#[test]
fn registering_without_a_pre_approval_grants_nothing_and_consumes_nothing() {
    assert_eq!(
        plan_registration(None),
        Ok(RegistrationPlan {
            roles: Roles::none(),
            consumes: None
        })
    );
}

#[test]
fn registering_with_an_unused_pre_approval_grants_its_roles_and_consumes_it() {
    let found = pre_approval(&["ANALYST", "DEFAULT"], false);
    let plan = plan_registration(Some(&found)).expect("allowed");
    assert_eq!(plan.roles.as_slice(), &[Role::Analyst]);
    assert_eq!(plan.consumes, Some(found));
}

#[test]
fn registering_with_a_used_pre_approval_is_refused() {
    let refused = plan_registration(Some(&pre_approval(&["ADMIN"], true)));
    assert_eq!(refused, Err(PreApprovalUsed(email("ana@example.com"))));
    assert_eq!(
        refused.expect_err("refused").to_string(),
        "Pre-approval for ana@example.com has already been used"
    );
}

#[test]
fn listing_limits_are_clamped_and_offsets_checked() {
    let page = |limit, offset| PreApprovalQuery::new(PreApprovalFilter::default(), limit, offset);
    let default = page(None, None).expect("valid");
    assert_eq!((default.limit(), default.offset()), (50, 0));
    for (asked, limit) in [
        (0, 1),
        (-3, 1),
        (1, 1),
        (100, 100),
        (101, 100),
        (i64::MAX, 100),
    ] {
        assert_eq!(
            page(Some(asked), None).expect("valid").limit(),
            limit,
            "{asked}"
        );
    }
    assert_eq!(page(None, Some(7)).expect("valid").offset(), 7);
    let refused = Err(PreApprovalQueryError::Offset {
        max: PreApprovalQuery::MAX_OFFSET,
    });
    assert_eq!(page(None, Some(-1)), refused);
    assert_eq!(
        page(
            None,
            Some(i64::try_from(PreApprovalQuery::MAX_OFFSET).expect("small") + 1)
        ),
        refused
    );
}

#[test]
fn the_email_filter_is_trimmed_lowered_and_dropped_when_empty() {
    let filter = PreApprovalFilter::new(Some("  Ana@EX "), Some(true), None).expect("valid");
    assert_eq!(filter.email(), Some("ana@ex"));
    assert_eq!(filter.used, Some(true));
    assert_eq!(
        PreApprovalFilter::new(Some("   "), None, None)
            .expect("valid")
            .email(),
        None
    );
    assert_eq!(
        PreApprovalFilter::new(Some(&"a".repeat(EMAIL_MAX_LEN + 1)), None, None),
        Err(PreApprovalQueryError::EmailTooLong { max: EMAIL_MAX_LEN })
    );
    // İ lower-cases to two characters: the limit counts what was given.
    let dotted = "İ".repeat(EMAIL_MAX_LEN);
    assert!(PreApprovalFilter::new(Some(&dotted), None, None).is_ok());
}

#[test]
fn cleanup_ages_are_days_from_one_to_a_hundred_years() {
    assert_eq!(CleanupAge::default().cutoff(at(0)), at(-30 * 86_400));
    assert_eq!(
        CleanupAge::days(1.5).expect("valid").cutoff(at(0)),
        at(-36 * 3_600)
    );
    assert_eq!(
        CleanupAge::days(36_500.0).expect("valid").cutoff(at(0)),
        at(-36_500 * 86_400)
    );
    for refused in [0.0, 0.99, -1.0, 36_500.5, f64::NAN, f64::INFINITY] {
        assert_eq!(CleanupAge::days(refused), Err(CleanupAgeError), "{refused}");
    }
}
