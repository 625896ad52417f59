//! The jobs section: the job types of this deployment (the built-ins with the configured
//! overrides, and new ones), how often expired leases are swept, and how long a claim may wait.

use std::collections::BTreeMap;

use reefguide_domain::job::registry::{JobTypeName, JobTypeOverride, JobTypeRegistry};
use reefguide_domain::workflow::{DagId, Engine};
use reefguide_domain::{Email, Role};
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The job types, the lease sweeper and the claim wait.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JobsSettings {
    /// Job types: overrides of the built-in ones and new ones, by name (see the README).
    pub job_types: BTreeMap<String, JobTypeSettings>,
    /// How often the lease sweeper looks for expired job leases, in milliseconds.
    pub lease_sweep_interval_ms: u64,
    /// Longest a worker's `POST /api/jobs/claim` may wait for a job, in seconds (1..=30; lower
    /// it behind proxies that cut idle requests sooner).
    pub claim_max_wait_seconds: u32,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            job_types: BTreeMap::new(),
            lease_sweep_interval_ms: 5_000,
            claim_max_wait_seconds: 30,
        }
    }
}

/// The configuration of one job type. For a built-in type every field is optional and replaces
/// the built-in value (except the schemas, which cannot be replaced); a new type needs
/// `input_schema`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobTypeSettings {
    /// What the type does.
    pub description: Option<String>,
    /// JSON Schema of the input payload.
    pub input_schema: Option<serde_json::Value>,
    /// JSON Schema of the result payload.
    pub result_schema: Option<serde_json::Value>,
    /// Lease length in seconds: a worker must heartbeat or finish within it.
    pub lease_seconds: Option<u32>,
    /// How many times a job is claimed before it is TIMED_OUT.
    pub max_attempts: Option<u32>,
    /// Whether identical submissions reuse a job.
    pub cache: Option<bool>,
    /// Roles permitted to submit it (ADMIN always may).
    pub allowed_roles: Option<Vec<Role>>,
    /// Users (emails) permitted to submit it.
    pub allowed_emails: Option<Vec<String>>,
    /// Users permitted to submit it, by email (an entry with `@`) or external username;
    /// together with `allowed_emails`.
    pub allowed_users: Option<Vec<String>>,
    /// The compute target that runs it.
    pub compute_target: Option<String>,
    /// What runs it: `worker` (the default: claimed by workers) or `airflow`.
    pub engine: Option<EngineKind>,
    /// The Airflow DAG (required with `engine = "airflow"`, unique across types).
    pub dag_id: Option<String>,
}

/// The engine named by a job type's `engine`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// reefguide's workers.
    #[default]
    Worker,
    /// An Airflow DAG.
    Airflow,
}

impl JobsSettings {
    /// Checks the sweep interval, the claim wait and that the job types make a registry.
    ///
    /// # Errors
    /// The first setting out of range, by name; a bad job type as `job_types`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lease_sweep_interval_ms < 10 {
            return Err(ConfigError::invalid(
                "lease_sweep_interval_ms",
                "must be at least 10",
            ));
        }
        if !(1..=30).contains(&self.claim_max_wait_seconds) {
            return Err(ConfigError::invalid(
                "claim_max_wait_seconds",
                "must be from 1 to 30",
            ));
        }
        self.registry()?;
        Ok(())
    }

    /// The job types of this deployment: the built-ins with `job_types` applied.
    ///
    /// # Errors
    /// A bad type name, email or override, as the setting `job_types`.
    pub fn registry(&self) -> Result<JobTypeRegistry, ConfigError> {
        let invalid = |reason: String| ConfigError::invalid("job_types", reason);
        let mut overrides = Vec::with_capacity(self.job_types.len());
        for (name, settings) in &self.job_types {
            let name = JobTypeName::parse(name).map_err(|e| invalid(format!("{name}: {e}")))?;
            let mut allowed_emails = settings
                .allowed_emails
                .as_ref()
                .map(|emails| {
                    emails
                        .iter()
                        .map(|email| {
                            Email::parse(email)
                                .map_err(|e| invalid(format!("{name}.allowed_emails: {e}")))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            let mut allowed_usernames = None;
            if let Some(users) = &settings.allowed_users {
                let (emails, usernames): (Vec<&String>, Vec<&String>) =
                    users.iter().partition(|user| user.contains('@'));
                let emails = emails
                    .into_iter()
                    .map(|email| {
                        Email::parse(email)
                            .map_err(|e| invalid(format!("{name}.allowed_users: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                allowed_emails.get_or_insert_with(Vec::new).extend(emails);
                allowed_usernames = Some(usernames.into_iter().cloned().collect());
            }
            let engine = engine(&name, settings).map_err(invalid)?;
            overrides.push((
                name,
                JobTypeOverride {
                    description: settings.description.clone(),
                    input_schema: settings.input_schema.clone(),
                    result_schema: settings.result_schema.clone(),
                    lease: settings
                        .lease_seconds
                        .map(|seconds| chrono::Duration::seconds(i64::from(seconds))),
                    max_attempts: settings.max_attempts,
                    cache: settings.cache,
                    allowed_roles: settings.allowed_roles.clone(),
                    allowed_emails,
                    allowed_usernames,
                    compute_target: settings.compute_target.clone(),
                    engine,
                },
            ));
        }
        JobTypeRegistry::with_overrides(overrides).map_err(|e| invalid(e.to_string()))
    }
}

/// The engine of the type `name`: Airflow needs a valid `dag_id`, which no other engine takes.
fn engine(name: &JobTypeName, settings: &JobTypeSettings) -> Result<Option<Engine>, String> {
    match (settings.engine, &settings.dag_id) {
        (Some(EngineKind::Airflow), None) => {
            Err(format!("{name}.dag_id: required with engine = \"airflow\""))
        }
        (Some(EngineKind::Airflow), Some(dag_id)) => {
            let dag_id = DagId::parse(dag_id).map_err(|e| format!("{name}.dag_id: {e}"))?;
            Ok(Some(Engine::Airflow { dag_id }))
        }
        (_, Some(_)) => Err(format!(
            "{name}.dag_id: only a type with engine = \"airflow\" runs a DAG"
        )),
        (Some(EngineKind::Worker), None) => Ok(Some(Engine::Worker)),
        (None, None) => Ok(None),
    }
}
