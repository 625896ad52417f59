//! The storage contract of the user search (reefguide-r2 §3.2 `GET /api/users/search`), on
//! both backends: containment in any case, R2's ranking, the limit, and what is never found.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use chrono::{TimeZone as _, Utc};
use common::database;
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::user::search::UserSearch;
use reefguide_domain::{Email, ExternalIdentity, IssuerName, PasswordHash, Roles, Username};
use reefguide_ports::{NewUser, UserRepository};
use rstest::rstest;

async fn create(store: &SeaOrmStore, address: &str) {
    store
        .create_user(NewUser {
            email: Email::parse(address).expect("email"),
            password_hash: PasswordHash::from_phc("$argon2id$h".into()),
            roles: Roles::none(),
        })
        .await
        .expect("created");
}

async fn found(store: &SeaOrmStore, text: &str, limit: Option<i64>) -> Vec<String> {
    store
        .search_users(&UserSearch::new(text, limit).expect("a search"))
        .await
        .expect("searched")
        .iter()
        .filter_map(|user| user.email().map(|email| email.as_str().to_owned()))
        .collect()
}

#[rstest]
#[tokio::test]
async fn matches_are_ranked_exact_prefix_position_then_alphabetical(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    for address in [
        "zana@example.com",
        "bob@ana.org",
        "ana.smith@example.com",
        "ana@example.com",
        "xana@example.com",
        "carol@example.com",
        "anabel@example.com",
    ] {
        create(store, address).await;
    }
    store
        .find_or_create_external(
            &ExternalIdentity {
                issuer: IssuerName::parse("LabCAS").expect("issuer"),
                username: Username::parse("ana").expect("username"),
            },
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
        )
        .await
        .expect("external account");

    assert_eq!(
        found(store, "ANA@EXAMPLE.COM", None).await,
        ["ana@example.com", "xana@example.com", "zana@example.com"],
        "exact first, then by position; any case"
    );
    assert_eq!(
        found(store, "ana", None).await,
        [
            // Prefix matches, alphabetically.
            "ana.smith@example.com",
            "ana@example.com",
            "anabel@example.com",
            // Then by where `ana` starts: position 2, then 5.
            "xana@example.com",
            "zana@example.com",
            "bob@ana.org",
        ],
        "the external account (no email) is never found"
    );
    assert_eq!(found(store, "ana", Some(2)).await.len(), 2);
    assert!(found(store, "nobody", None).await.is_empty());
}

#[rstest]
#[tokio::test]
async fn wildcards_are_plain_text(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    create(store, "a_b@example.com").await;
    create(store, "axb@example.com").await;
    create(store, "100%@example.com").await;
    assert_eq!(found(store, "a_b", None).await, ["a_b@example.com"]);
    assert_eq!(found(store, "%", None).await, ["100%@example.com"]);
    assert!(
        found(store, "'; drop table users; --", None)
            .await
            .is_empty()
    );
    assert_eq!(
        found(store, "example", None).await.len(),
        3,
        "and the table is still there"
    );
}
