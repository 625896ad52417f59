//! Registration and the pre-approval it consumes (reefguide-r2 §3.1), with a mocked store.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use mockall::predicate::eq;
use reefguide_domain::auth::errors::{RegisterError, TokenRejection};
use reefguide_domain::user::pre_approval::{PreApproval, PreApprovalId, PreApprovalRoles};
use reefguide_domain::{AccessClaims, PasswordHash, Role, Roles, User, UserAction};
use serde_json::json;

use super::{AuthService, AuthSettings};
use crate::clock::MockClock;
use crate::crypto::{IssuedToken, MockPasswordHasher, TokenIssuer, TokenVerifier};
use crate::repositories::Registered;
use crate::services::test_support::{MockStore, now, user};

mockall::mock! {
    Tokens {}
    impl TokenIssuer for Tokens {
        fn issue(&self, user: &User, now: DateTime<Utc>) -> anyhow::Result<IssuedToken>;
    }
    impl TokenVerifier for Tokens {
        fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection>;
    }
}

type Service = AuthService<MockStore, MockPasswordHasher, MockTokens, MockClock>;

fn service(store: MockStore) -> Service {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
    AuthService::new(
        store,
        hasher,
        MockTokens::new(),
        clock,
        AuthSettings::default(),
    )
}

fn pre_approval(roles: &[&str], used: bool) -> PreApproval {
    PreApproval {
        id: PreApprovalId::new(5).expect("positive"),
        email: ana(),
        roles: PreApprovalRoles::parse(roles).expect("roles"),
        created_at: now(),
        updated_at: now(),
        created_by: None,
        used,
        used_at: used.then(now),
    }
}

fn ana() -> reefguide_domain::Email {
    reefguide_domain::Email::parse("ana@example.com").expect("email")
}

fn password() -> reefguide_domain::Password {
    reefguide_domain::Password::new("a-good-password").expect("valid")
}

/// The account `register_user` creates, with the roles it was given.
fn created(roles: Roles) -> Registered {
    Registered::Created(User { roles, ..user() })
}

/// Keeps the details of the log entries appended.
fn logged(store: &mut MockStore) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let details = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&details);
    store
        .expect_append_user_log()
        .withf(|entry| entry.action == UserAction::Created && entry.user_id == user().id)
        .returning(move |entry| {
            kept.lock()
                .expect("lock")
                .push(entry.metadata.clone().unwrap_or_default());
            Ok(())
        });
    details
}

#[tokio::test]
async fn without_a_pre_approval_the_account_has_no_roles_and_consumes_nothing() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval_by_email()
        .with(eq(ana()))
        .returning(|_| Ok(None));
    store
        .expect_register_user()
        .withf(|new_user, consumes, at| {
            new_user.email == ana()
                && new_user.roles == Roles::none()
                && new_user.password_hash.as_str() == "$argon2id$new"
                && consumes.is_none()
                && *at == now()
        })
        .times(1)
        .returning(|new_user, _, _| Ok(created(new_user.roles)));
    let details = logged(&mut store);
    let id = service(store)
        .register(ana(), &password())
        .await
        .expect("registered");
    assert_eq!(id, user().id);
    assert_eq!(*details.lock().expect("lock"), [json!({"via": "register"})]);
}

#[tokio::test]
async fn an_unused_pre_approval_is_consumed_and_grants_its_roles_but_not_default() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval_by_email()
        .returning(|_| Ok(Some(pre_approval(&["ANALYST", "DEFAULT"], false))));
    store
        .expect_register_user()
        .withf(|new_user, consumes, _| {
            new_user.roles.as_slice() == [Role::Analyst]
                && consumes.as_ref() == Some(&pre_approval(&["ANALYST", "DEFAULT"], false))
        })
        .times(1)
        .returning(|new_user, _, _| Ok(created(new_user.roles)));
    let details = logged(&mut store);
    service(store)
        .register(ana(), &password())
        .await
        .expect("registered");
    assert_eq!(
        *details.lock().expect("lock"),
        [json!({"via": "register", "preApprovalId": 5, "roles": ["ANALYST"]})]
    );
}

#[tokio::test]
async fn a_used_pre_approval_refuses_the_registration_before_anything_is_written() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval_by_email()
        .returning(|_| Ok(Some(pre_approval(&["ADMIN"], true))));
    store.expect_register_user().never();
    store.expect_append_user_log().never();
    let refused = service(store).register(ana(), &password()).await;
    let Err(RegisterError::PreApprovalUsed(email)) = refused else {
        panic!("refused: {refused:?}");
    };
    assert_eq!(email, ana());
}

#[tokio::test]
async fn a_pre_approval_consumed_meanwhile_is_read_again_and_refuses() {
    let mut store = MockStore::new();
    let mut reads = 0;
    store
        .expect_find_pre_approval_by_email()
        .times(2)
        .returning(move |_| {
            reads += 1;
            Ok(Some(pre_approval(&["ANALYST"], reads > 1)))
        });
    store
        .expect_register_user()
        .times(1)
        .returning(|_, _, _| Ok(Registered::PreApprovalChanged));
    store.expect_append_user_log().never();
    let refused = service(store).register(ana(), &password()).await;
    assert!(
        matches!(refused, Err(RegisterError::PreApprovalUsed(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_pre_approval_made_meanwhile_is_read_again_and_consumed() {
    let mut store = MockStore::new();
    let mut reads = 0;
    store
        .expect_find_pre_approval_by_email()
        .times(2)
        .returning(move |_| {
            reads += 1;
            Ok((reads > 1).then(|| pre_approval(&["ADMIN"], false)))
        });
    let mut attempts = 0;
    store
        .expect_register_user()
        .times(2)
        .returning(move |new_user, consumes, _| {
            attempts += 1;
            if attempts == 1 {
                assert!(consumes.is_none());
                return Ok(Registered::PreApprovalChanged);
            }
            assert!(consumes.is_some());
            assert_eq!(new_user.roles.as_slice(), [Role::Admin]);
            Ok(created(new_user.roles))
        });
    let details = logged(&mut store);
    service(store)
        .register(ana(), &password())
        .await
        .expect("registered");
    assert_eq!(details.lock().expect("lock")[0]["preApprovalId"], json!(5));
}

#[tokio::test]
async fn a_taken_address_is_refused_and_nothing_is_logged() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval_by_email()
        .returning(|_| Ok(Some(pre_approval(&["ANALYST"], false))));
    store
        .expect_register_user()
        .times(1)
        .returning(|_, _, _| Err(reefguide_domain::user::errors::CreateUserError::UserExists));
    store.expect_append_user_log().never();
    let refused = service(store).register(ana(), &password()).await;
    assert!(
        matches!(refused, Err(RegisterError::UserExists)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_pre_approval_that_keeps_changing_gives_up_after_three_attempts() {
    let mut store = MockStore::new();
    store
        .expect_find_pre_approval_by_email()
        .times(3)
        .returning(|_| Ok(None));
    store
        .expect_register_user()
        .times(3)
        .returning(|_, _, _| Ok(Registered::PreApprovalChanged));
    store.expect_append_user_log().never();
    let refused = service(store).register(ana(), &password()).await;
    assert!(
        matches!(refused, Err(RegisterError::Unexpected(_))),
        "{refused:?}"
    );
}
