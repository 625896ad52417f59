//! The storage contract of pre-approved users and the registration that consumes them
//! (issue 27, reefguide-r2 §3.1–3.2), on both backends.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use common::database;
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::user::errors::{CreateUserError, PreApprovalError};
use reefguide_domain::user::pre_approval::{
    NewPreApproval, PreApproval, PreApprovalChange, PreApprovalFilter, PreApprovalId,
    PreApprovalQuery, PreApprovalRoles,
};
use reefguide_domain::{Email, PasswordHash, Role, Roles, User, UserId};
use reefguide_ports::{NewUser, PreApprovalRepository, Registered, UserRepository};
use rstest::rstest;

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}

fn roles(names: &[&str]) -> PreApprovalRoles {
    PreApprovalRoles::parse(names).expect("roles")
}

/// A fixed instant (whole seconds) plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(seconds)
}

async fn account(store: &SeaOrmStore, address: &str, granted: &[Role]) -> UserId {
    store
        .create_user(NewUser {
            email: email(address),
            password_hash: PasswordHash::from_phc("$argon2id$x".into()),
            roles: granted.iter().copied().collect(),
        })
        .await
        .expect("user created")
        .id
}

async fn approve(
    store: &SeaOrmStore,
    address: &str,
    names: &[&str],
    by: UserId,
    when: DateTime<Utc>,
) -> Result<PreApproval, PreApprovalError> {
    store
        .insert_pre_approval(&NewPreApproval {
            email: email(address),
            roles: roles(names),
            created_by: by,
            at: when,
        })
        .await
}

fn new_user(address: &str, granted: Roles) -> NewUser {
    NewUser {
        email: email(address),
        password_hash: PasswordHash::from_phc("$argon2id$new".into()),
        roles: granted,
    }
}

async fn reread(store: &SeaOrmStore, id: PreApprovalId) -> PreApproval {
    store
        .find_pre_approval(id)
        .await
        .expect("read")
        .expect("still there")
}

async fn listed(
    store: &SeaOrmStore,
    filter: PreApprovalFilter,
    limit: i64,
    offset: i64,
) -> (Vec<String>, u64) {
    let query = PreApprovalQuery::new(filter, Some(limit), Some(offset)).expect("query");
    let page = store.list_pre_approvals(&query).await.expect("listed");
    (
        page.pre_approvals
            .iter()
            .map(|pre_approval| pre_approval.email.as_str().to_owned())
            .collect(),
        page.total,
    )
}

#[rstest]
#[tokio::test]
async fn a_pre_approval_is_stored_found_and_listed_newest_first_with_filters(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    let other = account(store, "other-admin@example.com", &[Role::Admin]).await;

    let ana = approve(
        store,
        "ana@example.com",
        &["DEFAULT", "ANALYST"],
        admin,
        at(0),
    )
    .await
    .expect("made");
    assert_eq!(ana.email.as_str(), "ana@example.com");
    assert_eq!(ana.roles, roles(&["ANALYST", "DEFAULT"]));
    assert_eq!((ana.created_at, ana.updated_at), (at(0), at(0)));
    assert_eq!(ana.created_by, Some(admin));
    assert!(!ana.used);
    assert_eq!(ana.used_at, None);
    assert_eq!(reread(store, ana.id).await, ana);
    assert_eq!(
        store
            .find_pre_approval_by_email(&email("ana@example.com"))
            .await
            .expect("read"),
        Some(ana.clone())
    );
    assert_eq!(
        store
            .find_pre_approval_by_email(&email("nobody@example.com"))
            .await
            .expect("read"),
        None
    );

    approve(store, "bob@ana.org", &["ADMIN"], other, at(10))
        .await
        .expect("made");
    approve(store, "carol@example.com", &["ANALYST"], admin, at(20))
        .await
        .expect("made");
    // Used: carol registers.
    let carol = store
        .find_pre_approval_by_email(&email("carol@example.com"))
        .await
        .expect("read")
        .expect("found");
    let registered = store
        .register_user(
            new_user("carol@example.com", carol.roles.granted()),
            Some(carol),
            at(30),
        )
        .await
        .expect("registered");
    assert!(matches!(registered, Registered::Created(_)));

    let all = PreApprovalFilter::default();
    assert_eq!(
        listed(store, all.clone(), 50, 0).await,
        (
            vec![
                "carol@example.com".to_owned(),
                "bob@ana.org".to_owned(),
                "ana@example.com".to_owned()
            ],
            3
        ),
        "newest first"
    );
    assert_eq!(
        listed(store, all, 1, 1).await,
        (vec!["bob@ana.org".to_owned()], 3),
        "a page, and the total of all"
    );
    let filter = |text: Option<&str>, used: Option<bool>, by: Option<UserId>| {
        PreApprovalFilter::new(text, used, by).expect("filter")
    };
    assert_eq!(
        listed(store, filter(Some(" ANA "), None, None), 50, 0).await,
        (
            vec!["bob@ana.org".to_owned(), "ana@example.com".to_owned()],
            2
        ),
        "the address contains the text, in any case"
    );
    assert_eq!(
        listed(store, filter(Some("%"), None, None), 50, 0).await.1,
        0,
        "no wildcards"
    );
    assert_eq!(
        listed(store, filter(None, Some(true), None), 50, 0).await.0,
        ["carol@example.com"]
    );
    assert_eq!(
        listed(store, filter(None, Some(false), Some(admin)), 50, 0)
            .await
            .0,
        ["ana@example.com"]
    );
    assert_eq!(
        listed(store, filter(Some("example"), None, Some(other)), 50, 0)
            .await
            .1,
        0
    );
}

#[rstest]
#[tokio::test]
async fn an_address_is_approved_once_and_never_when_it_has_an_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    account(store, "member@example.com", &[]).await;
    let ana = approve(store, "ana@example.com", &["ANALYST"], admin, at(0))
        .await
        .expect("made");
    let ben = approve(store, "ben@example.com", &["ANALYST"], admin, at(1))
        .await
        .expect("made");

    let again = approve(store, "ana@example.com", &["ADMIN"], admin, at(2)).await;
    assert!(
        matches!(&again, Err(PreApprovalError::AlreadyPreApproved(e)) if e.as_str() == "ana@example.com"),
        "{again:?}"
    );
    let member = approve(store, "member@example.com", &["ADMIN"], admin, at(2)).await;
    assert!(
        matches!(&member, Err(PreApprovalError::AlreadyRegistered(e)) if e.as_str() == "member@example.com"),
        "{member:?}"
    );
    assert_eq!(
        listed(store, PreApprovalFilter::default(), 50, 0).await.1,
        2,
        "nothing stored"
    );

    // Changes: to another pre-approval's address, to an account's address, then for real.
    let taken = store
        .update_pre_approval(
            ben.id,
            &PreApprovalChange {
                email: Some(email("ana@example.com")),
                roles: None,
            },
            at(3),
        )
        .await;
    assert!(
        matches!(taken, Err(PreApprovalError::AlreadyPreApproved(_))),
        "{taken:?}"
    );
    let registered = store
        .update_pre_approval(
            ben.id,
            &PreApprovalChange {
                email: Some(email("member@example.com")),
                roles: Some(roles(&["ADMIN"])),
            },
            at(3),
        )
        .await;
    assert!(
        matches!(registered, Err(PreApprovalError::AlreadyRegistered(_))),
        "{registered:?}"
    );
    assert_eq!(reread(store, ben.id).await, ben, "nothing changed");

    let changed = store
        .update_pre_approval(
            ben.id,
            &PreApprovalChange {
                email: Some(email("benjamin@example.com")),
                roles: Some(roles(&["ADMIN", "DEFAULT"])),
            },
            at(4),
        )
        .await
        .expect("updated")
        .expect("unused");
    assert_eq!(changed.email.as_str(), "benjamin@example.com");
    assert_eq!(changed.roles, roles(&["ADMIN", "DEFAULT"]));
    assert_eq!((changed.created_at, changed.updated_at), (at(1), at(4)));
    assert_eq!(reread(store, ben.id).await, changed);
    let stamped = store
        .update_pre_approval(ana.id, &PreApprovalChange::default(), at(5))
        .await
        .expect("updated")
        .expect("unused");
    assert_eq!(stamped.updated_at, at(5), "an empty change stamps the time");

    // A used pre-approval and an unknown one are not changed.
    let ana = reread(store, ana.id).await;
    store
        .register_user(
            new_user("ana@example.com", ana.roles.granted()),
            Some(ana.clone()),
            at(6),
        )
        .await
        .expect("registered");
    let used = store
        .update_pre_approval(ana.id, &PreApprovalChange::default(), at(7))
        .await
        .expect("checked");
    assert_eq!(used, None);
    let unknown = PreApprovalId::new(999).expect("positive");
    assert_eq!(
        store
            .update_pre_approval(unknown, &PreApprovalChange::default(), at(7))
            .await
            .expect("checked"),
        None
    );
}

#[rstest]
#[tokio::test]
async fn registering_consumes_the_pre_approval_as_read_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    let ana = approve(
        store,
        "ana@example.com",
        &["ANALYST", "DEFAULT"],
        admin,
        at(0),
    )
    .await
    .expect("made");

    // Read before a change of roles: refused, nothing made.
    let stale = PreApproval {
        roles: roles(&["ADMIN"]),
        ..ana.clone()
    };
    let refused = store
        .register_user(
            new_user("ana@example.com", Roles::none()),
            Some(stale),
            at(5),
        )
        .await
        .expect("answered");
    assert_eq!(refused, Registered::PreApprovalChanged);
    // Read as having none.
    let refused = store
        .register_user(new_user("ana@example.com", Roles::none()), None, at(5))
        .await
        .expect("answered");
    assert_eq!(refused, Registered::PreApprovalChanged);
    assert!(
        store
            .find_credentials_by_email(&email("ana@example.com"))
            .await
            .expect("read")
            .is_none(),
        "no account"
    );
    assert_eq!(reread(store, ana.id).await, ana, "still unused");

    let Registered::Created(user) = store
        .register_user(
            new_user("ana@example.com", ana.roles.granted()),
            Some(ana.clone()),
            at(10),
        )
        .await
        .expect("registered")
    else {
        panic!("created");
    };
    assert_eq!(user.roles.as_slice(), [Role::Analyst]);
    assert_eq!(
        store.find_user(user.id).await.expect("read"),
        Some(User::local(
            user.id,
            email("ana@example.com"),
            user.roles.clone()
        ))
    );
    let used = reread(store, ana.id).await;
    assert!(used.used);
    assert_eq!(used.used_at, Some(at(10)));
    assert_eq!(used.updated_at, ana.updated_at);

    let again = store
        .register_user(
            new_user("ana@example.com", ana.roles.granted()),
            Some(ana.clone()),
            at(11),
        )
        .await
        .expect("answered");
    assert_eq!(again, Registered::PreApprovalChanged, "used once");
    assert_eq!(reread(store, ana.id).await.used_at, Some(at(10)));

    // An address without a pre-approval registers as before.
    let Registered::Created(ben) = store
        .register_user(new_user("ben@example.com", Roles::none()), None, at(12))
        .await
        .expect("registered")
    else {
        panic!("created");
    };
    assert_eq!(ben.roles, Roles::none());
}

#[rstest]
#[tokio::test]
async fn a_failed_registration_leaves_the_pre_approval_unused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    let ana = approve(store, "ana@example.com", &["ADMIN"], admin, at(0))
        .await
        .expect("made");
    // An administrator creates the account after the pre-approval was made.
    account(store, "ana@example.com", &[]).await;

    let refused = store
        .register_user(
            new_user("ana@example.com", ana.roles.granted()),
            Some(ana.clone()),
            at(10),
        )
        .await;
    assert!(
        matches!(refused, Err(CreateUserError::UserExists)),
        "{refused:?}"
    );
    assert_eq!(
        reread(store, ana.id).await,
        ana,
        "rolled back: still unused"
    );
}

#[rstest]
#[tokio::test]
async fn concurrent_registrations_consume_one_pre_approval_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    let ana = approve(store, "ana@example.com", &["ANALYST"], admin, at(0))
        .await
        .expect("made");
    let attempts: Vec<_> = (0..8)
        .map(|n| {
            let (store, ana) = (store.clone(), ana.clone());
            tokio::spawn(async move {
                store
                    .register_user(
                        new_user("ana@example.com", ana.roles.granted()),
                        Some(ana),
                        at(10 + n),
                    )
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.expect("joined") {
            Ok(Registered::Created(user)) => {
                created += 1;
                assert_eq!(user.roles.as_slice(), [Role::Analyst]);
            }
            Ok(Registered::PreApprovalChanged) | Err(CreateUserError::UserExists) => {}
            Err(CreateUserError::Unexpected(error)) => panic!("{error:#}"),
        }
    }
    assert_eq!(created, 1);
    let used = reread(store, ana.id).await;
    assert!(used.used);
    let users = store.list_users().await.expect("listed");
    assert_eq!(users.len(), 2, "the admin and one ana");
}

#[rstest]
#[tokio::test]
async fn an_account_and_a_pre_approval_of_one_address_are_never_both_made_at_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    for round in 0..10 {
        let address = format!("racer{round}@example.com");
        let approving = {
            let (store, address) = (store.clone(), address.clone());
            tokio::spawn(async move { approve(&store, &address, &["ADMIN"], admin, at(0)).await })
        };
        let registering = {
            let (store, address) = (store.clone(), address.clone());
            tokio::spawn(async move {
                store
                    .register_user(new_user(&address, Roles::none()), None, at(0))
                    .await
            })
        };
        let approved = approving.await.expect("joined");
        let registered = registering.await.expect("joined");
        match (&approved, &registered) {
            (Ok(_), Ok(Registered::PreApprovalChanged))
            | (Err(PreApprovalError::AlreadyRegistered(_)), Ok(Registered::Created(_))) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[rstest]
#[tokio::test]
async fn deleting_and_cleaning_up(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let admin = account(store, "admin@example.com", &[Role::Admin]).await;
    let mut made = Vec::new();
    for (n, address) in [
        "old@example.com",
        "recent@example.com",
        "unused@example.com",
    ]
    .iter()
    .enumerate()
    {
        let seconds = i64::try_from(n).expect("small");
        made.push(
            approve(store, address, &["ANALYST"], admin, at(seconds))
                .await
                .expect("made"),
        );
    }
    for (pre_approval, when) in [(&made[0], at(100)), (&made[1], at(300))] {
        store
            .register_user(
                new_user(pre_approval.email.as_str(), Roles::none()),
                Some(pre_approval.clone()),
                when,
            )
            .await
            .expect("registered");
    }
    assert_eq!(
        store
            .delete_used_pre_approvals(at(100))
            .await
            .expect("cleaned"),
        0,
        "used exactly at the cutoff is not older"
    );
    assert_eq!(
        store
            .delete_used_pre_approvals(at(200))
            .await
            .expect("cleaned"),
        1
    );
    let left = listed(store, PreApprovalFilter::default(), 50, 0).await;
    assert_eq!(
        left,
        (
            vec![
                "unused@example.com".to_owned(),
                "recent@example.com".to_owned()
            ],
            2
        )
    );
    assert_eq!(
        store
            .delete_used_pre_approvals(at(1_000_000))
            .await
            .expect("cleaned"),
        1,
        "unused ones are never cleaned up"
    );

    assert!(
        store
            .delete_pre_approval(made[2].id)
            .await
            .expect("deleted")
    );
    assert!(
        !store
            .delete_pre_approval(made[2].id)
            .await
            .expect("checked")
    );
    assert_eq!(
        listed(store, PreApprovalFilter::default(), 50, 0).await.1,
        0
    );
}

#[rstest]
#[tokio::test]
async fn a_pre_approval_outlives_its_maker(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let maker = account(store, "maker@example.com", &[Role::Admin]).await;
    let ana = approve(store, "ana@example.com", &["ANALYST"], maker, at(0))
        .await
        .expect("made");
    assert!(store.delete_user(maker).await.expect("deleted"));
    let kept = reread(store, ana.id).await;
    assert_eq!(kept.created_by, None);
    assert_eq!(kept.email, ana.email);
}
