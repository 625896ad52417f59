//! The storage contract of password resets (issue 27), on both backends.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use common::database;
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::auth::reset::{MAX_RESET_ATTEMPTS, NewPasswordReset, ResetCode};
use reefguide_domain::{
    Email, PasswordHash, RefreshTokenRecord, RefreshTokenSecret, Roles, UserId,
};
use reefguide_ports::{NewUser, PasswordResetRepository, RefreshTokenRepository, UserRepository};
use rstest::rstest;

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}

fn code(text: &str) -> ResetCode {
    ResetCode::parse(text).expect("a code")
}

/// A fixed instant (whole seconds) plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(seconds)
}

async fn account(store: &SeaOrmStore, address: &str) -> UserId {
    store
        .create_user(NewUser {
            email: email(address),
            password_hash: PasswordHash::from_phc("$argon2id$old".into()),
            roles: Roles::none(),
        })
        .await
        .expect("user created")
        .id
}

async fn store_reset(
    store: &SeaOrmStore,
    address: &str,
    user: Option<UserId>,
    typed: &str,
    when: DateTime<Utc>,
) -> bool {
    store
        .insert_password_reset(&NewPasswordReset::new(
            email(address),
            user,
            &code(typed),
            when,
        ))
        .await
        .expect("stored")
}

#[rstest]
#[tokio::test]
async fn a_reset_is_found_by_its_selector_with_its_digest(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = account(store, "ana@example.com").await;
    assert_eq!(
        store
            .latest_unused_reset(&email("ana@example.com"))
            .await
            .expect("read"),
        None
    );

    assert!(store_reset(store, "ana@example.com", Some(ana), "ABCD123456", at(0)).await);
    let found = store
        .find_password_reset(&code("ABCD123456").selector())
        .await
        .expect("read")
        .expect("found");
    assert_eq!(found.user_id, Some(ana));
    assert_eq!(found.code_hash, code("ABCD123456").hash());
    assert_eq!(found.attempts, 0);
    assert_eq!(found.expires_at, at(30 * 60));
    assert_eq!(found.used_at, None);
    assert_eq!(
        store
            .latest_unused_reset(&email("ana@example.com"))
            .await
            .expect("read"),
        Some(at(0))
    );
    assert!(
        store
            .find_password_reset(&code("WXYZ123456").selector())
            .await
            .expect("read")
            .is_none()
    );

    // An address without an account is stored too, and shares the cooldown.
    assert!(store_reset(store, "nobody@example.com", None, "QRST000000", at(1)).await);
    assert_eq!(
        store
            .latest_unused_reset(&email("nobody@example.com"))
            .await
            .expect("read"),
        Some(at(1))
    );
}

#[rstest]
#[tokio::test]
async fn a_new_request_supersedes_and_live_selectors_are_unique(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = account(store, "ana@example.com").await;
    let bob = account(store, "bob@example.com").await;
    assert!(store_reset(store, "ana@example.com", Some(ana), "ABCD111111", at(0)).await);

    assert!(
        !store_reset(store, "bob@example.com", Some(bob), "ABCD222222", at(1)).await,
        "another live reset holds the selector"
    );
    assert!(
        store
            .latest_unused_reset(&email("bob@example.com"))
            .await
            .expect("read")
            .is_none(),
        "nothing was stored"
    );

    assert!(store_reset(store, "ana@example.com", Some(ana), "EFGH111111", at(2)).await);
    assert!(
        store
            .find_password_reset(&code("ABCD111111").selector())
            .await
            .expect("read")
            .is_none(),
        "the older code is superseded"
    );
    assert!(
        store_reset(store, "bob@example.com", Some(bob), "ABCD222222", at(3)).await,
        "its selector is free again"
    );
    // Expired unused resets release their selectors at the next store.
    assert!(store_reset(store, "carol@example.com", None, "JKMN000000", at(4)).await);
    assert!(
        store_reset(
            store,
            "dan@example.com",
            None,
            "JKMN111111",
            at(4 + 31 * 60)
        )
        .await,
        "the expired reset no longer holds JKMN"
    );
}

#[rstest]
#[tokio::test]
async fn using_a_reset_sets_the_password_revokes_tokens_and_happens_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = account(store, "ana@example.com").await;
    let bob = account(store, "bob@example.com").await;
    for (user, name) in [(ana, "a"), (bob, "b")] {
        store
            .insert_refresh_token(&RefreshTokenRecord {
                hash: RefreshTokenSecret::new(name.into()).hash(),
                user_id: user,
                family: name.into(),
                expires_at: at(3600),
                revoked_at: None,
                rotated_at: None,
            })
            .await
            .expect("token");
    }
    assert!(store_reset(store, "ana@example.com", Some(ana), "ABCD123456", at(0)).await);
    let reset = store
        .find_password_reset(&code("ABCD123456").selector())
        .await
        .expect("read")
        .expect("found");
    let new_hash = PasswordHash::from_phc("$argon2id$new".into());

    assert!(
        !store
            .use_password_reset(reset.id, bob, &new_hash, at(10))
            .await
            .expect("used"),
        "a reset only resets its own account"
    );
    assert!(
        store
            .use_password_reset(reset.id, ana, &new_hash, at(10))
            .await
            .expect("used")
    );
    assert!(
        !store
            .use_password_reset(reset.id, ana, &new_hash, at(11))
            .await
            .expect("used"),
        "only once"
    );
    let credentials = store
        .find_credentials(ana)
        .await
        .expect("read")
        .expect("ana");
    assert_eq!(credentials.password_hash, new_hash);
    let token = |name: &str| RefreshTokenSecret::new(name.into()).hash();
    let ana_token = store
        .find_refresh_token(&token("a"))
        .await
        .expect("read")
        .expect("a");
    assert_eq!(ana_token.revoked_at, Some(at(10)));
    let bob_token = store
        .find_refresh_token(&token("b"))
        .await
        .expect("read")
        .expect("b");
    assert_eq!(bob_token.revoked_at, None, "other accounts keep theirs");
    assert_eq!(
        store
            .find_credentials(bob)
            .await
            .expect("read")
            .expect("bob")
            .password_hash,
        PasswordHash::from_phc("$argon2id$old".into())
    );
    assert!(
        store
            .find_password_reset(&code("ABCD123456").selector())
            .await
            .expect("read")
            .is_none(),
        "a used reset is not found"
    );
}

#[rstest]
#[tokio::test]
async fn attempts_are_counted_and_an_exhausted_reset_cannot_be_used(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = account(store, "ana@example.com").await;
    assert!(store_reset(store, "ana@example.com", Some(ana), "ABCD123456", at(0)).await);
    let selector = code("ABCD123456").selector();
    let id = store
        .find_password_reset(&selector)
        .await
        .expect("read")
        .expect("found")
        .id;
    for _ in 0..MAX_RESET_ATTEMPTS {
        store.count_reset_attempt(id).await.expect("counted");
    }
    let found = store
        .find_password_reset(&selector)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(found.attempts, MAX_RESET_ATTEMPTS);
    assert!(
        !store
            .use_password_reset(
                id,
                ana,
                &PasswordHash::from_phc("$argon2id$new".into()),
                at(5)
            )
            .await
            .expect("checked"),
        "the store refuses an exhausted reset too"
    );
}

#[rstest]
#[tokio::test]
async fn concurrent_uses_of_one_reset_change_the_password_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = account(store, "ana@example.com").await;
    assert!(store_reset(store, "ana@example.com", Some(ana), "ABCD123456", at(0)).await);
    let id = store
        .find_password_reset(&code("ABCD123456").selector())
        .await
        .expect("read")
        .expect("found")
        .id;
    let attempts = (0..8).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let hash = PasswordHash::from_phc(format!("$argon2id$new{n}"));
            store
                .use_password_reset(id, ana, &hash, at(10))
                .await
                .expect("used")
        })
    });
    let mut won = 0;
    for attempt in attempts {
        won += usize::from(attempt.await.expect("joined"));
    }
    assert_eq!(won, 1);
}
