use chrono::Duration;
use mockall::predicate::eq;
use reefguide_domain::Role;
use reefguide_domain::user::pre_approval::{PreApprovalFilter, PreApprovalRoles};

use super::*;
use crate::clock::MockClock;
use crate::repositories::PreApprovalPage;
use crate::services::test_support::{MockStore, now, user_with};

type Service = PreApprovalService<MockStore, MockClock>;

fn service(store: MockStore) -> Service {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    PreApprovalService::new(store, clock)
}

fn admin() -> User {
    user_with(1, &[Role::Admin])
}

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("email")
}

fn roles(names: &[&str]) -> PreApprovalRoles {
    PreApprovalRoles::parse(names).expect("roles")
}

fn id(raw: i64) -> PreApprovalId {
    PreApprovalId::new(raw).expect("positive")
}

fn stored(raw_id: i64, address: &str, creator: Option<i64>, used: bool) -> PreApproval {
    PreApproval {
        id: id(raw_id),
        email: email(address),
        roles: roles(&["ANALYST"]),
        created_at: now(),
        updated_at: now(),
        created_by: creator.map(|raw| UserId::new(raw).expect("positive")),
        used,
        used_at: used.then(now),
    }
}

#[tokio::test]
async fn only_administrators_use_any_of_it_and_the_store_is_never_asked() {
    for actor in [
        user_with(2, &[]),
        user_with(3, &[Role::Analyst]),
        user_with(4, &[Role::Worker]),
    ] {
        // A mock with no expectations fails on any call.
        let service = service(MockStore::new());
        let query = PreApprovalQuery::new(PreApprovalFilter::default(), None, None).expect("valid");
        let refusals = [
            service
                .create(&actor, email("a@example.com"), roles(&["ADMIN"]))
                .await
                .err(),
            service.create_many(&actor, Vec::new()).await.err(),
            service.list(&actor, &query).await.err(),
            service.get(&actor, id(1)).await.err(),
            service
                .update(&actor, id(1), PreApprovalChange::default())
                .await
                .err(),
            service.delete(&actor, id(1)).await.err(),
            service.clean_up(&actor, CleanupAge::default()).await.err(),
        ];
        for refusal in refusals {
            assert!(
                matches!(refusal, Some(PreApprovalError::Forbidden)),
                "{refusal:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_pre_approval_is_made_by_the_actor_now_and_shown_with_its_maker() {
    let mut store = MockStore::new();
    store
        .expect_insert_pre_approval()
        .with(eq(NewPreApproval {
            email: email("ben@example.com"),
            roles: roles(&["ANALYST"]),
            created_by: admin().id,
            at: now(),
        }))
        .times(1)
        .returning(|_| Ok(stored(3, "ben@example.com", Some(1), false)));
    store
        .expect_find_user()
        .with(eq(admin().id))
        .returning(|_| Ok(Some(admin())));
    let view = service(store)
        .create(&admin(), email("ben@example.com"), roles(&["ANALYST"]))
        .await
        .expect("made");
    assert_eq!(view.pre_approval.id, id(3));
    assert_eq!(view.creator, Some(admin()));
}

#[tokio::test]
async fn a_bulk_request_makes_what_it_can_and_says_which_entries_were_refused() {
    let mut store = MockStore::new();
    store
        .expect_insert_pre_approval()
        .returning(|new| match new.email.as_str() {
            "taken@example.com" => Err(PreApprovalError::AlreadyPreApproved(new.email.clone())),
            "member@example.com" => Err(PreApprovalError::AlreadyRegistered(new.email.clone())),
            address => Ok(stored(
                if address.starts_with('a') { 1 } else { 2 },
                address,
                Some(1),
                false,
            )),
        });
    store
        .expect_find_users()
        .times(1)
        .returning(|_| Ok(vec![admin()]));
    let entries = [
        "a@example.com",
        "taken@example.com",
        "b@example.com",
        "member@example.com",
    ]
    .into_iter()
    .map(|address| (email(address), roles(&["DEFAULT"])))
    .collect();
    let outcome = service(store)
        .create_many(&admin(), entries)
        .await
        .expect("done");
    let made: Vec<&str> = outcome
        .created
        .iter()
        .map(|view| view.pre_approval.email.as_str())
        .collect();
    assert_eq!(made, ["a@example.com", "b@example.com"]);
    assert!(
        outcome
            .created
            .iter()
            .all(|view| view.creator == Some(admin()))
    );
    let refused: Vec<(usize, String)> = outcome
        .refused
        .iter()
        .map(|refusal| (refusal.index, refusal.error.to_string()))
        .collect();
    assert_eq!(
        refused,
        [
            (
                1,
                "Pre-approval already exists for email: taken@example.com".to_owned()
            ),
            (
                3,
                "User already registered with email: member@example.com".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_store_failure_stops_a_bulk_request() {
    let mut store = MockStore::new();
    store
        .expect_insert_pre_approval()
        .times(1)
        .returning(|_| Err(PreApprovalError::Unexpected(anyhow::anyhow!("gone"))));
    let entries = vec![
        (email("a@example.com"), roles(&["ADMIN"])),
        (email("b@example.com"), roles(&["ADMIN"])),
    ];
    let failed = service(store).create_many(&admin(), entries).await;
    assert!(
        matches!(failed, Err(PreApprovalError::Unexpected(_))),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_listing_joins_the_makers_in_one_lookup_and_a_deleted_maker_is_none() {
    let mut store = MockStore::new();
    let query = PreApprovalQuery::new(PreApprovalFilter::default(), Some(2), Some(4)).expect("ok");
    store
        .expect_list_pre_approvals()
        .with(eq(query.clone()))
        .returning(|_| {
            Ok(PreApprovalPage {
                pre_approvals: vec![
                    stored(2, "b@example.com", Some(1), false),
                    stored(1, "a@example.com", Some(9), true),
                ],
                total: 7,
            })
        });
    store
        .expect_find_users()
        .times(1)
        .returning(|_| Ok(vec![admin()]));
    let listing = service(store).list(&admin(), &query).await.expect("listed");
    assert_eq!(listing.total, 7);
    let creators: Vec<Option<UserId>> = listing
        .pre_approvals
        .iter()
        .map(|view| view.creator.as_ref().map(|user| user.id))
        .collect();
    assert_eq!(creators, [Some(admin().id), None]);
}

#[tokio::test]
async fn an_unknown_pre_approval_is_not_found() {
    let mut store = MockStore::new();
    store.expect_find_pre_approval().returning(|_| Ok(None));
    store.expect_delete_pre_approval().returning(|_| Ok(false));
    let service = service(store);
    assert!(matches!(
        service.get(&admin(), id(8)).await,
        Err(PreApprovalError::NotFound(found)) if found == id(8)
    ));
    assert!(matches!(
        service
            .update(&admin(), id(8), PreApprovalChange::default())
            .await,
        Err(PreApprovalError::NotFound(_))
    ));
    assert!(matches!(
        service.delete(&admin(), id(8)).await,
        Err(PreApprovalError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_used_pre_approval_cannot_be_changed() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval()
        .returning(|_| Ok(Some(stored(2, "a@example.com", None, true))));
    store.expect_update_pre_approval().never();
    let refused = service(store)
        .update(
            &admin(),
            id(2),
            PreApprovalChange {
                roles: Some(roles(&["ADMIN"])),
                ..PreApprovalChange::default()
            },
        )
        .await;
    let Err(error @ PreApprovalError::Used(_)) = refused else {
        panic!("refused: {refused:?}");
    };
    assert_eq!(
        error.to_string(),
        "Cannot update a pre-approval that has already been used"
    );
}

#[tokio::test]
async fn its_own_address_again_is_no_change_and_the_change_is_stamped_now() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval()
        .returning(|_| Ok(Some(stored(2, "a@example.com", None, false))));
    store
        .expect_update_pre_approval()
        .with(
            eq(id(2)),
            eq(PreApprovalChange {
                email: None,
                roles: Some(roles(&["ADMIN"])),
            }),
            eq(now()),
        )
        .times(1)
        .returning(|_, _, _| Ok(Some(stored(2, "a@example.com", None, false))));
    let view = service(store)
        .update(
            &admin(),
            id(2),
            PreApprovalChange {
                email: Some(email("A@example.com")),
                roles: Some(roles(&["ADMIN"])),
            },
        )
        .await
        .expect("updated");
    assert_eq!(view.creator, None, "no maker to look up");
}

#[tokio::test]
async fn a_pre_approval_used_or_deleted_during_an_update_is_said_so() {
    for (still_there, used) in [(true, true), (false, false)] {
        let mut store = MockStore::new();
        let mut reads = 0;
        store.expect_find_pre_approval().returning(move |_| {
            reads += 1;
            Ok((reads == 1 || still_there).then(|| stored(2, "a@example.com", None, reads > 1)))
        });
        store
            .expect_update_pre_approval()
            .times(1)
            .returning(|_, _, _| Ok(None));
        let refused = service(store)
            .update(&admin(), id(2), PreApprovalChange::default())
            .await;
        if used {
            assert!(
                matches!(refused, Err(PreApprovalError::Used(_))),
                "{refused:?}"
            );
        } else {
            assert!(
                matches!(refused, Err(PreApprovalError::NotFound(_))),
                "{refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_clean_up_deletes_what_was_used_before_the_cutoff() {
    let mut store = MockStore::new();
    store
        .expect_delete_used_pre_approvals()
        .with(eq(now() - Duration::days(7)))
        .times(1)
        .returning(|_| Ok(3));
    let deleted = service(store)
        .clean_up(&admin(), CleanupAge::days(7.0).expect("valid"))
        .await
        .expect("cleaned");
    assert_eq!(deleted, 3);
}
