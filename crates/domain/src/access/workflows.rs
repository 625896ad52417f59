//! Who may run which workflow on which data collection (labcas-contract §2).

use crate::job::registry::{JobTypeName, SubmitAccess};
use crate::user::User;
use crate::workflow::Collection;

/// Why a workflow may not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowRefusal {
    /// The collection does not list the workflow (LabCAS's trigger never checked this).
    #[error("Workflow {workflow} does not run on collection {collection}")]
    NotInCollection {
        /// The job type.
        workflow: JobTypeName,
        /// The collection's id.
        collection: String,
    },
    /// The caller is not among the workflow's authorised users or roles.
    #[error("You are not authorised to run workflow {0}")]
    NotAuthorised(JobTypeName),
}

/// Whether `actor` may run `workflow` (whose submitters are `access`) on `collection`: the
/// collection must list the workflow, and the actor must be one of the workflow's authorised
/// users or roles (an administrator always is). The collection is checked first: a workflow that
/// does not apply is refused whoever asks.
///
/// # Errors
/// [`WorkflowRefusal`] saying which condition failed.
pub fn may_run_workflow(
    actor: &User,
    workflow: &JobTypeName,
    access: &SubmitAccess,
    collection: &Collection,
) -> Result<(), WorkflowRefusal> {
    if !collection.offers(workflow) {
        return Err(WorkflowRefusal::NotInCollection {
            workflow: workflow.clone(),
            collection: collection.id.to_string(),
        });
    }
    if !access.permits(actor) {
        return Err(WorkflowRefusal::NotAuthorised(workflow.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::access::test_support::user;
    use crate::user::{Email, Role};
    use crate::workflow::{CollectionId, DataLocation};

    fn name(raw: &str) -> JobTypeName {
        JobTypeName::parse(raw).expect("name")
    }

    fn images() -> Collection {
        Collection {
            id: CollectionId::parse("nebraska_images").expect("id"),
            description: "Images".into(),
            location: DataLocation::parse("s3://labcas-archive/nebraska/images/")
                .expect("location"),
            workflows: [name("NEBRASKA")].into_iter().collect(),
        }
    }

    /// NEBRASKA admits user 1 by email and anyone with ANALYST.
    fn nebraska() -> SubmitAccess {
        SubmitAccess {
            roles: vec![Role::Analyst],
            emails: vec![Email::parse("u1@example.com").expect("email")],
            usernames: Vec::new(),
        }
    }

    #[rstest]
    #[case::listed_user(1, &[], "NEBRASKA", Ok(()))]
    #[case::listed_role(2, &[Role::Analyst], "NEBRASKA", Ok(()))]
    #[case::administrator(3, &[Role::Admin], "NEBRASKA", Ok(()))]
    #[case::anyone_else(4, &[], "NEBRASKA", Err("not authorised"))]
    #[case::a_worker_is_not_a_submitter(5, &[Role::Worker], "NEBRASKA", Err("not authorised"))]
    #[case::not_in_the_collection_even_for_a_listed_user(1, &[], "OTHER", Err("not in collection"))]
    #[case::not_in_the_collection_even_for_an_administrator(3, &[Role::Admin], "OTHER", Err("not in collection"))]
    fn who_may_run_what_where(
        #[case] id: i64,
        #[case] roles: &[Role],
        #[case] workflow: &str,
        #[case] expected: Result<(), &str>,
    ) {
        let outcome = may_run_workflow(&user(id, roles), &name(workflow), &nebraska(), &images());
        let kind = outcome.map_err(|refusal| match refusal {
            WorkflowRefusal::NotInCollection { .. } => "not in collection",
            WorkflowRefusal::NotAuthorised(_) => "not authorised",
        });
        assert_eq!(kind, expected);
    }

    #[test]
    fn an_open_workflow_admits_every_user_on_its_collections() {
        let outcome = may_run_workflow(
            &user(9, &[]),
            &name("NEBRASKA"),
            &SubmitAccess::default(),
            &images(),
        );
        assert_eq!(outcome, Ok(()));
    }
}
