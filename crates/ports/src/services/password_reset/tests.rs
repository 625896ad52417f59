use std::sync::{Arc, Mutex};

use chrono::Duration;
use mockall::predicate::eq;
use reefguide_domain::PasswordHash;
use reefguide_domain::auth::reset::{MAX_RESET_ATTEMPTS, PasswordReset};

use super::*;
use crate::clock::MockClock;
use crate::crypto::MockPasswordHasher;
use crate::email::{EmailError, MockEmailSender};
use crate::services::test_support::{MockStore, credentials, now, user};

type Service = PasswordResetService<MockStore, MockPasswordHasher, MockClock, MockEmailSender>;

fn clock() -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    clock
}

fn service(store: MockStore, hasher: MockPasswordHasher, email: MockEmailSender) -> Service {
    PasswordResetService::new(store, hasher, clock(), email, "ReefGuide")
}

fn email(text: &str) -> Email {
    Email::parse(text).expect("email")
}

/// What one request did, counted call by call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Work {
    lookups: usize,
    cooldown_checks: usize,
    stored: Vec<(bool, usize)>,
    sent: usize,
    hashes: usize,
}

/// Runs a request for `address` against a store where ana has an account (and nobody else),
/// with no earlier reset, and counts every port call.
async fn request_work(address: &str) -> (Work, Vec<EmailMessage>, Vec<NewPasswordReset>) {
    let work = Arc::new(Mutex::new(Work::default()));
    let resets = Arc::new(Mutex::new(Vec::new()));
    let messages = Arc::new(Mutex::new(Vec::new()));
    let mut store = MockStore::new();
    let counted = Arc::clone(&work);
    store
        .expect_find_credentials_by_email()
        .returning(move |asked| {
            counted.lock().expect("lock").lookups += 1;
            Ok((asked.as_str() == "ana@example.com").then(credentials))
        });
    let counted = Arc::clone(&work);
    store.expect_latest_unused_reset().returning(move |_| {
        counted.lock().expect("lock").cooldown_checks += 1;
        Ok(None)
    });
    let (counted, kept) = (Arc::clone(&work), Arc::clone(&resets));
    store
        .expect_insert_password_reset()
        .returning(move |reset| {
            counted
                .lock()
                .expect("lock")
                .stored
                .push((reset.user_id.is_some(), reset.code_hash.as_str().len()));
            kept.lock().expect("lock").push(reset.clone());
            Ok(true)
        });
    let mut hasher = MockPasswordHasher::new();
    let counted = Arc::clone(&work);
    hasher.expect_hash().returning(move |_| {
        counted.lock().expect("lock").hashes += 1;
        Ok(PasswordHash::from_phc("$argon2id$new".into()))
    });
    let mut sender = MockEmailSender::new();
    let (counted, sent) = (Arc::clone(&work), Arc::clone(&messages));
    sender.expect_send().returning(move |message| {
        counted.lock().expect("lock").sent += 1;
        sent.lock().expect("lock").push(message);
        Ok(())
    });
    service(store, hasher, sender)
        .request(&email(address))
        .await
        .expect("requested");
    let work = work.lock().expect("lock").clone();
    let messages = messages.lock().expect("lock").clone();
    let resets = resets.lock().expect("lock").clone();
    (work, messages, resets)
}

#[tokio::test]
async fn a_request_does_the_same_work_with_or_without_an_account() {
    let (known, known_mail, known_resets) = request_work("ana@example.com").await;
    let (unknown, unknown_mail, unknown_resets) = request_work("nobody@example.com").await;

    assert_eq!(known.lookups, 1);
    assert_eq!(known.cooldown_checks, 1);
    assert_eq!(known.sent, 1);
    assert_eq!(known.hashes, 0, "no password is hashed at a request");
    assert_eq!(
        known.stored,
        vec![(true, 64)],
        "one reset, a SHA-256 digest"
    );
    assert_eq!(
        unknown.stored,
        vec![(false, 64)],
        "one reset, a SHA-256 digest"
    );
    let same_counts = |work: &Work| {
        (
            work.lookups,
            work.cooldown_checks,
            work.stored.len(),
            work.sent,
            work.hashes,
        )
    };
    assert_eq!(same_counts(&known), same_counts(&unknown));

    let code_mail = &known_mail[0];
    assert_eq!(code_mail.to.as_str(), "ana@example.com");
    let stored = &known_resets[0];
    let code = mailed_code(code_mail);
    assert_eq!(
        code.hash(),
        stored.code_hash,
        "the stored digest is the mailed code's"
    );
    assert_eq!(stored.expires_at - stored.created_at, Duration::minutes(30));
    assert!(
        !format!("{stored:?}").contains(code.expose()),
        "never the code itself"
    );

    let note = &unknown_mail[0];
    assert_eq!(note.to.as_str(), "nobody@example.com");
    assert!(note.body.contains("no ReefGuide account"), "{}", note.body);
    assert!(
        !note.body.contains("code is"),
        "no code for an address without an account: {}",
        note.body
    );
    assert_eq!(unknown_resets[0].user_id, None);
}

#[tokio::test]
async fn within_the_cooldown_nothing_is_stored_or_sent_for_anyone() {
    for address in ["ana@example.com", "nobody@example.com"] {
        let mut store = MockStore::new();
        store
            .expect_find_credentials_by_email()
            .returning(|asked| Ok((asked.as_str() == "ana@example.com").then(credentials)));
        store
            .expect_latest_unused_reset()
            .with(eq(email(address)))
            .returning(|_| Ok(Some(now() - Duration::minutes(4))));
        store.expect_insert_password_reset().never();
        let mut sender = MockEmailSender::new();
        sender.expect_send().never();
        service(store, MockPasswordHasher::new(), sender)
            .request(&email(address))
            .await
            .expect("the same answer");
    }
}

#[tokio::test]
async fn after_the_cooldown_a_new_code_is_sent() {
    let mut store = MockStore::new();
    store
        .expect_find_credentials_by_email()
        .returning(|_| Ok(Some(credentials())));
    store
        .expect_latest_unused_reset()
        .returning(|_| Ok(Some(now() - Duration::minutes(5))));
    store
        .expect_insert_password_reset()
        .times(1)
        .returning(|_| Ok(true));
    let mut sender = MockEmailSender::new();
    sender.expect_send().times(1).returning(|_| Ok(()));
    service(store, MockPasswordHasher::new(), sender)
        .request(&email("ana@example.com"))
        .await
        .expect("requested");
}

#[tokio::test]
async fn a_taken_selector_draws_another_code_and_a_send_failure_is_not_the_callers() {
    let mut store = MockStore::new();
    store
        .expect_find_credentials_by_email()
        .returning(|_| Ok(Some(credentials())));
    store.expect_latest_unused_reset().returning(|_| Ok(None));
    let mut taken = true;
    store
        .expect_insert_password_reset()
        .times(2)
        .returning(move |_| Ok(!std::mem::replace(&mut taken, false)));
    let mut sender = MockEmailSender::new();
    sender
        .expect_send()
        .times(1)
        .returning(|_| Err(EmailError::Queue("full".into())));
    service(store, MockPasswordHasher::new(), sender)
        .request(&email("ana@example.com"))
        .await
        .expect("the same answer");
}

/// The code an e-mail carries, on its "Your reset code is: …" line.
fn mailed_code(message: &EmailMessage) -> ResetCode {
    message
        .body
        .lines()
        .find_map(|line| line.strip_prefix("Your reset code is: "))
        .and_then(ResetCode::parse)
        .expect("the e-mail carries a code")
}

fn stored_reset(code: &ResetCode) -> PasswordReset {
    PasswordReset {
        id: 11,
        user_id: Some(user().id),
        code_hash: code.hash(),
        attempts: 0,
        expires_at: now() + Duration::minutes(10),
        used_at: None,
    }
}

fn new_password() -> Password {
    Password::new("a-new-password").expect("valid")
}

#[tokio::test]
async fn the_right_code_resets_once_revoking_tokens_in_the_store() {
    let code = ResetCode::parse("ABCD123456").expect("code");
    let mut store = MockStore::new();
    let found = stored_reset(&code);
    store
        .expect_find_password_reset()
        .returning(move |_| Ok(Some(found.clone())));
    store
        .expect_use_password_reset()
        .with(
            eq(11),
            eq(user().id),
            eq(PasswordHash::from_phc("$argon2id$new".into())),
            eq(now()),
        )
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    store
        .expect_append_user_log()
        .withf(|entry| entry.action == UserAction::ChangePassword)
        .times(1)
        .returning(|_| Ok(()));
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
    service(store, hasher, MockEmailSender::new())
        .confirm("abcd-123456", &new_password(), "a-new-password")
        .await
        .expect("reset");
}

#[tokio::test]
async fn a_reset_used_meanwhile_is_refused() {
    let code = ResetCode::parse("ABCD123456").expect("code");
    let mut store = MockStore::new();
    let found = stored_reset(&code);
    store
        .expect_find_password_reset()
        .returning(move |_| Ok(Some(found.clone())));
    store
        .expect_use_password_reset()
        .returning(|_, _, _, _| Ok(false));
    store.expect_append_user_log().never();
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
    let refused = service(store, hasher, MockEmailSender::new())
        .confirm("ABCD123456", &new_password(), "a-new-password")
        .await;
    assert!(matches!(refused, Err(PasswordResetError::InvalidCode)));
}

#[tokio::test]
async fn a_wrong_code_is_counted_against_the_reset_it_names() {
    let code = ResetCode::parse("ABCD123456").expect("code");
    let mut store = MockStore::new();
    let found = stored_reset(&code);
    store
        .expect_find_password_reset()
        .returning(move |_| Ok(Some(found.clone())));
    store
        .expect_count_reset_attempt()
        .with(eq(11))
        .times(1)
        .returning(|_| Ok(()));
    store.expect_use_password_reset().never();
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().never();
    let refused = service(store, hasher, MockEmailSender::new())
        .confirm("ABCD999999", &new_password(), "a-new-password")
        .await;
    assert!(matches!(refused, Err(PasswordResetError::InvalidCode)));
}

#[tokio::test]
async fn every_unusable_code_gets_the_same_refusal_without_counting() {
    let code = ResetCode::parse("ABCD123456").expect("code");
    let usable = stored_reset(&code);
    let unusable = [
        PasswordReset {
            used_at: Some(now()),
            ..usable.clone()
        },
        PasswordReset {
            expires_at: now() - Duration::seconds(1),
            ..usable.clone()
        },
        PasswordReset {
            attempts: MAX_RESET_ATTEMPTS,
            ..usable.clone()
        },
        PasswordReset {
            user_id: None,
            ..usable
        },
    ];
    for reset in unusable {
        let mut store = MockStore::new();
        store
            .expect_find_password_reset()
            .returning(move |_| Ok(Some(reset.clone())));
        store.expect_count_reset_attempt().never();
        store.expect_use_password_reset().never();
        let refused = service(store, MockPasswordHasher::new(), MockEmailSender::new())
            .confirm("ABCD123456", &new_password(), "a-new-password")
            .await;
        assert!(matches!(refused, Err(PasswordResetError::InvalidCode)));
    }
    for typed in ["", "123456", "not a code at all"] {
        let mut store = MockStore::new();
        store.expect_find_password_reset().returning(|_| Ok(None));
        let refused = service(store, MockPasswordHasher::new(), MockEmailSender::new())
            .confirm(typed, &new_password(), "a-new-password")
            .await;
        assert!(
            matches!(refused, Err(PasswordResetError::InvalidCode)),
            "{typed}"
        );
    }
}

#[tokio::test]
async fn a_mismatched_confirmation_is_refused_before_the_code_is_looked_at() {
    let mut store = MockStore::new();
    store.expect_find_password_reset().never();
    let refused = service(store, MockPasswordHasher::new(), MockEmailSender::new())
        .confirm("ABCD123456", &new_password(), "another-password")
        .await;
    assert!(matches!(
        refused,
        Err(PasswordResetError::ConfirmationMismatch)
    ));
}
