//! Who sees which workflow and collection in the catalog.

use std::collections::BTreeSet;

use reefguide_domain::job::registry::{JobTypeName, JobTypeOverride, JobTypeRegistry};
use reefguide_domain::workflow::{Collection, CollectionId, Collections, DataLocation, Engine};
use reefguide_domain::{Role, User};
use serde_json::json;

use super::*;
use crate::services::test_support::user_with;

fn name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("name")
}

/// NEBRASKA (DAG `nebraska`, for u1 only), OPEN (DAG `open`, for everyone); the worker type
/// TEST is never a workflow.
fn registry() -> JobTypeRegistry {
    let airflow = |dag: &str, emails: Vec<reefguide_domain::Email>| JobTypeOverride {
        description: Some(format!("runs {dag}")),
        input_schema: Some(json!({"type": "object", "properties": {
            "tile_size": {"type": "integer", "description": "Tile edge"}}})),
        engine: Some(Engine::Airflow {
            dag_id: DagId::parse(dag).expect("dag"),
        }),
        allowed_emails: (!emails.is_empty()).then_some(emails),
        ..JobTypeOverride::default()
    };
    JobTypeRegistry::with_overrides([
        (
            name("NEBRASKA"),
            airflow(
                "nebraska",
                vec![reefguide_domain::Email::parse("u1@example.com").expect("email")],
            ),
        ),
        (name("OPEN"), airflow("open", Vec::new())),
    ])
    .expect("registry")
}

fn collection(id: &str, workflows: &[&str]) -> Collection {
    Collection {
        id: CollectionId::parse(id).expect("id"),
        description: format!("{id} data"),
        location: DataLocation::parse("s3://archive/x/").expect("location"),
        workflows: workflows.iter().map(|w| name(w)).collect::<BTreeSet<_>>(),
    }
}

fn catalog() -> WorkflowCatalog {
    let collections = Collections::new(
        [
            collection("images", &["NEBRASKA", "OPEN"]),
            collection("restricted", &["NEBRASKA"]),
        ],
        &registry(),
    )
    .expect("collections");
    WorkflowCatalog::new(
        registry(),
        Workflows {
            collections,
            staging: DataLocation::parse("local://labcas/").expect("staging"),
        },
    )
}

fn ids(summaries: &[WorkflowSummary]) -> Vec<&str> {
    summaries.iter().map(|s| s.id.as_str()).collect()
}

#[test]
fn a_caller_sees_only_the_workflows_they_may_run_and_admins_see_all() {
    let catalog = catalog();
    let listed: User = user_with(1, &[]);
    let other = user_with(2, &[]);
    let admin = user_with(3, &[Role::Admin]);
    assert_eq!(ids(&catalog.runnable(&listed)), ["nebraska", "open"]);
    assert_eq!(ids(&catalog.runnable(&other)), ["open"]);
    assert_eq!(ids(&catalog.runnable(&admin)), ["nebraska", "open"]);

    let described = catalog.workflow(&listed, "nebraska").expect("visible");
    assert_eq!(described.summary.description, "runs nebraska");
    assert_eq!(described.parameters["tile_size"], "integer: Tile edge");
    assert_eq!(catalog.workflow(&other, "nebraska"), None, "as unknown");
    assert_eq!(catalog.workflow(&admin, "no_such_dag"), None);
    assert!(catalog.runnable_type(&listed, "nebraska").is_some());
    assert!(
        catalog.runnable_type(&listed, "TEST").is_none(),
        "worker types are no workflows"
    );
}

#[test]
fn collections_are_listed_when_they_offer_something_runnable() {
    let catalog = catalog();
    let listed = user_with(1, &[]);
    let other = user_with(2, &[]);
    let collection_ids = |user: &User| -> Vec<String> {
        catalog
            .collections(user)
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(collection_ids(&listed), ["images", "restricted"]);
    assert_eq!(collection_ids(&other), ["images"]);
    assert_eq!(
        ids(&catalog
            .collection_workflows(&other, "images")
            .expect("known")),
        ["open"]
    );
    assert_eq!(
        catalog
            .collection_workflows(&other, "restricted")
            .expect("known"),
        [],
        "a known collection with nothing runnable is an empty list"
    );
    assert_eq!(
        catalog.collection_workflows(&other, "nope"),
        Err(UnknownCollection("nope".into()))
    );
}
