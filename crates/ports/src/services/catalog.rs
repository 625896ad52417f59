//! The workflow catalog of the LabCAS API (labcas-contract §3): which Airflow workflows a caller
//! may run, what they take, and on which data collections ("data selections"). A workflow the
//! caller may not run is as good as unknown to them.

use std::collections::BTreeMap;

use reefguide_domain::User;
use reefguide_domain::job::registry::{JobType, JobTypeRegistry};
use reefguide_domain::workflow::{DagId, describe_parameters};

use super::jobs::Workflows;

/// A workflow as listed: its DAG id and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSummary {
    /// The Airflow DAG id (LabCAS's workflow id).
    pub id: DagId,
    /// What it does.
    pub description: String,
}

/// One workflow described: its summary and its parameters (`"<json type>: <description>"` by
/// name, from the input schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowDetails {
    /// Id and description.
    pub summary: WorkflowSummary,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
}

/// A data collection as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSummary {
    /// Its id.
    pub id: String,
    /// What it holds.
    pub description: String,
}

/// No collection has this id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown data selection {0:?}")]
pub struct UnknownCollection(pub String);

/// The catalog of the configured Airflow workflows and collections.
#[derive(Debug, Clone)]
pub struct WorkflowCatalog {
    registry: JobTypeRegistry,
    workflows: Workflows,
}

impl WorkflowCatalog {
    /// The catalog of `registry`'s Airflow types on `workflows`' collections.
    #[must_use]
    pub fn new(registry: JobTypeRegistry, workflows: Workflows) -> Self {
        Self {
            registry,
            workflows,
        }
    }

    /// The Airflow workflows `actor` may run (every one for an administrator), by DAG id.
    #[must_use]
    pub fn runnable(&self, actor: &User) -> Vec<WorkflowSummary> {
        self.runnable_types(actor)
            .map(|(job_type, dag_id)| summary(job_type, dag_id))
            .collect()
    }

    /// The workflow of DAG `dag_id`, if `actor` may run it.
    #[must_use]
    pub fn workflow(&self, actor: &User, dag_id: &str) -> Option<WorkflowDetails> {
        self.runnable_types(actor)
            .find(|(_, id)| id.as_str() == dag_id)
            .map(|(job_type, id)| WorkflowDetails {
                summary: summary(job_type, id),
                parameters: describe_parameters(&job_type.spec().input_schema),
            })
    }

    /// The job type of DAG `dag_id`, if `actor` may run it.
    #[must_use]
    pub fn runnable_type<'a>(&'a self, actor: &'a User, dag_id: &str) -> Option<&'a JobType> {
        self.runnable_types(actor)
            .find(|(_, id)| id.as_str() == dag_id)
            .map(|(job_type, _)| job_type)
    }

    /// The Airflow type of DAG `dag_id`, whoever asks (to tell a workflow the caller may not run
    /// from one that does not exist).
    #[must_use]
    pub fn workflow_type(&self, dag_id: &str) -> Option<&JobType> {
        self.registry.iter().find(|job_type| {
            job_type
                .engine()
                .dag_id()
                .is_some_and(|id| id.as_str() == dag_id)
        })
    }

    /// The collections offering at least one workflow `actor` may run, by id.
    #[must_use]
    pub fn collections(&self, actor: &User) -> Vec<CollectionSummary> {
        self.workflows
            .collections
            .iter()
            .filter(|collection| {
                self.runnable_types(actor)
                    .any(|(job_type, _)| collection.offers(job_type.name()))
            })
            .map(|collection| CollectionSummary {
                id: collection.id.to_string(),
                description: collection.description.clone(),
            })
            .collect()
    }

    /// The workflows of collection `id` that `actor` may run (possibly none).
    ///
    /// # Errors
    /// [`UnknownCollection`] when no collection has that id.
    pub fn collection_workflows(
        &self,
        actor: &User,
        id: &str,
    ) -> Result<Vec<WorkflowSummary>, UnknownCollection> {
        let collection = self
            .workflows
            .collections
            .get(id)
            .ok_or_else(|| UnknownCollection(id.to_owned()))?;
        Ok(self
            .runnable_types(actor)
            .filter(|(job_type, _)| collection.offers(job_type.name()))
            .map(|(job_type, dag_id)| summary(job_type, dag_id))
            .collect())
    }

    /// The Airflow types `actor` may submit, with their DAGs, by type name.
    fn runnable_types<'a>(
        &'a self,
        actor: &'a User,
    ) -> impl Iterator<Item = (&'a JobType, &'a DagId)> + 'a {
        self.registry
            .submittable_by(actor)
            .filter_map(|job_type| Some((job_type, job_type.engine().dag_id()?)))
    }
}

/// The summary of an Airflow type running `dag_id`.
fn summary(job_type: &JobType, dag_id: &DagId) -> WorkflowSummary {
    WorkflowSummary {
        id: dag_id.clone(),
        description: job_type.spec().description.clone(),
    }
}

#[cfg(test)]
mod tests;
