//! The workflow section (labcas-contract §1): the Airflow deployment that runs workflow job
//! types, the data collections they run on, and the LabCAS settings (where outputs are staged).
//!
//! Rules that span sections (an Airflow type needs `[airflow]`, a collection lists Airflow types
//! only, the staging area lives in the configured result store) are checked by
//! [`WorkflowSettings::check_against`], after every section checked itself.

use std::collections::BTreeMap;
use std::time::Duration;

use reefguide_domain::job::registry::{JobTypeName, JobTypeRegistry};
use reefguide_domain::workflow::{Collection, CollectionId, Collections, DataLocation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::storage::{StorageKind, StorageSettings};
use super::{ConfigError, check_http_url};

/// The workflow engine, the collections and the LabCAS settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WorkflowSettings {
    /// The Airflow deployment (`[airflow]`); absent: no Airflow job type is allowed.
    pub airflow: Option<AirflowSettings>,
    /// The LabCAS settings (`[labcas]`).
    #[serde(default)]
    pub labcas: LabcasSettings,
    /// The data collections, by id (`[collections.<id>]`).
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionSettings>,
}

/// How to reach Airflow: its webserver with basic auth, or AWS MWAA.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AirflowSettings {
    /// The Airflow 2.x webserver (its stable REST API is `{url}/api/v1`).
    pub url: Option<String>,
    /// The basic-auth user.
    pub username: Option<String>,
    /// The basic-auth password.
    #[serde(skip_serializing)]
    pub password: Option<SecretString>,
    /// The MWAA environment, instead of `url`: calls go through MWAA's InvokeRestApi.
    pub mwaa_environment: Option<String>,
    /// The MWAA environment's region; unset: the AWS chain.
    pub mwaa_region: Option<String>,
    /// How often run states are read back, in milliseconds (at least 100).
    #[serde(default = "default_sync_interval_ms")]
    pub sync_interval_ms: u64,
    /// How long one Airflow request may take, in milliseconds (at least 100).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_sync_interval_ms() -> u64 {
    2_000
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

/// Where Airflow is, as the adapter needs it.
#[derive(Debug, Clone)]
pub enum AirflowEndpoint {
    /// The webserver, with basic auth.
    Rest {
        /// Its URL.
        url: String,
        /// The user.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// AWS MWAA.
    Mwaa {
        /// The environment's name.
        environment: String,
        /// Its region, else the AWS chain's.
        region: Option<String>,
    },
}

impl AirflowSettings {
    /// Checks that exactly one way to reach Airflow is set, and the intervals.
    ///
    /// # Errors
    /// The first setting missing, conflicting or out of range, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.endpoint()?;
        if self.sync_interval_ms < 100 {
            return Err(ConfigError::invalid(
                "airflow.sync_interval_ms",
                "must be at least 100",
            ));
        }
        if self.request_timeout_ms < 100 {
            return Err(ConfigError::invalid(
                "airflow.request_timeout_ms",
                "must be at least 100",
            ));
        }
        Ok(())
    }

    /// Where Airflow is.
    ///
    /// # Errors
    /// Neither or both of `url` and `mwaa_environment`, or `url` without credentials.
    pub fn endpoint(&self) -> Result<AirflowEndpoint, ConfigError> {
        match (&self.url, &self.mwaa_environment) {
            (Some(_), Some(_)) => Err(ConfigError::invalid(
                "airflow.mwaa_environment",
                "set either airflow.url (with username and password) or airflow.mwaa_environment, \
                 not both",
            )),
            (None, None) => Err(ConfigError::invalid(
                "airflow.url",
                "set airflow.url (with username and password) or airflow.mwaa_environment",
            )),
            (Some(url), None) => {
                check_http_url("airflow.url", Some(url))?;
                let username = self.username.clone().ok_or_else(|| {
                    ConfigError::invalid("airflow.username", "required with airflow.url")
                })?;
                let password = self.password.clone().ok_or_else(|| {
                    ConfigError::invalid("airflow.password", "required with airflow.url")
                })?;
                Ok(AirflowEndpoint::Rest {
                    url: url.trim_end_matches('/').to_owned(),
                    username,
                    password,
                })
            }
            (None, Some(environment)) if environment.trim().is_empty() => Err(
                ConfigError::invalid("airflow.mwaa_environment", "must not be empty"),
            ),
            (None, Some(environment)) => Ok(AirflowEndpoint::Mwaa {
                environment: environment.clone(),
                region: self.mwaa_region.clone(),
            }),
        }
    }

    /// How often run states are read back.
    pub fn sync_interval(&self) -> Duration {
        Duration::from_millis(self.sync_interval_ms)
    }

    /// How long one Airflow request may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// The LabCAS settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LabcasSettings {
    /// Where the LabCAS routes are mounted.
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// Where workflow outputs go: `s3://bucket/prefix/` or `local://prefix/` (below the local
    /// result store). Unset: `local://labcas/` with `storage = "local"`, and
    /// `s3://<s3_bucket>/<s3_prefix>/labcas/` with `storage = "s3"`.
    pub staging: Option<String>,
}

fn default_base_path() -> String {
    "/labcas".to_owned()
}

impl Default for LabcasSettings {
    fn default() -> Self {
        Self {
            base_path: default_base_path(),
            staging: None,
        }
    }
}

/// One data collection.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CollectionSettings {
    /// What it holds.
    #[serde(default)]
    pub description: String,
    /// Where its data is: `s3://bucket/prefix/` or `local://prefix/`.
    pub location: String,
    /// The job types that may run on it.
    #[serde(default)]
    pub workflows: Vec<String>,
}

impl WorkflowSettings {
    /// Checks the section's own values: the Airflow settings, the base path, the staging area
    /// and each collection's id and location.
    ///
    /// # Errors
    /// The first setting out of rule, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(airflow) = &self.airflow {
            airflow.validate()?;
        }
        let base = &self.labcas.base_path;
        if !base.starts_with('/') || base.ends_with('/') || base.contains("//") {
            return Err(ConfigError::invalid(
                "labcas.base_path",
                "must start with '/', not end with '/' and have no empty segment (e.g. /labcas)",
            ));
        }
        if base == "/api" || base.starts_with("/api/") {
            return Err(ConfigError::invalid(
                "labcas.base_path",
                "may not be under /api, where the ReefGuide routes are (e.g. /labcas)",
            ));
        }
        if let Some(staging) = &self.labcas.staging {
            DataLocation::parse(staging)
                .map_err(|e| ConfigError::invalid("labcas.staging", e.to_string()))?;
        }
        self.collection_list()?;
        Ok(())
    }

    /// The collections as the domain knows them (not yet checked against the job types).
    fn collection_list(&self) -> Result<Vec<Collection>, ConfigError> {
        self.collections
            .iter()
            .map(|(id, settings)| {
                let invalid = |what: String| ConfigError::invalid("collections", what);
                let collection_id =
                    CollectionId::parse(id).map_err(|e| invalid(format!("{id}: {e}")))?;
                let location = DataLocation::parse(&settings.location)
                    .map_err(|e| invalid(format!("{id}.location: {e}")))?;
                let workflows = settings
                    .workflows
                    .iter()
                    .map(|name| {
                        JobTypeName::parse(name).map_err(|_| {
                            invalid(format!("{id}.workflows: {name:?} is not a job type"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Collection {
                    id: collection_id,
                    description: settings.description.clone(),
                    location,
                    workflows,
                })
            })
            .collect()
    }

    /// The collections, checked against the job types: each lists Airflow types only.
    ///
    /// # Errors
    /// A collection listing anything else, as the setting `collections`.
    pub fn collections(&self, registry: &JobTypeRegistry) -> Result<Collections, ConfigError> {
        Collections::new(self.collection_list()?, registry)
            .map_err(|e| ConfigError::invalid("collections", e.to_string()))
    }

    /// Where workflow outputs go: `labcas.staging`, else the default of the result store (see
    /// [`LabcasSettings::staging`]).
    ///
    /// # Errors
    /// An unparsable `labcas.staging`.
    pub fn staging(&self, storage: &StorageSettings) -> Result<DataLocation, ConfigError> {
        let invalid = |e: reefguide_domain::workflow::InvalidLocation| {
            ConfigError::invalid("labcas.staging", e.to_string())
        };
        if let Some(staging) = &self.labcas.staging {
            return DataLocation::parse(staging).map_err(invalid);
        }
        match (storage.kind, storage.s3_bucket.as_deref()) {
            (StorageKind::S3, Some(bucket)) => {
                let prefix = storage.s3_prefix.trim_matches('/');
                let folder = if prefix.is_empty() {
                    "labcas/".to_owned()
                } else {
                    format!("{prefix}/labcas/")
                };
                DataLocation::parse(&format!("s3://{bucket}/{folder}")).map_err(invalid)
            }
            _ => Ok(DataLocation::Local {
                prefix: "labcas/".to_owned(),
            }),
        }
    }

    /// The rules spanning sections: an Airflow type needs `[airflow]`; collections list Airflow
    /// types only; the staging area is in the configured result store (`s3://` needs
    /// `storage = "s3"` and the same bucket, `local://` needs `storage = "local"`), since
    /// downloads of outputs go through it.
    ///
    /// # Errors
    /// The first rule broken, naming the setting.
    pub fn check_against(
        &self,
        registry: &JobTypeRegistry,
        storage: &StorageSettings,
    ) -> Result<(), ConfigError> {
        if self.airflow.is_none()
            && let Some(job_type) = registry.airflow_types().next()
        {
            return Err(ConfigError::invalid(
                "airflow",
                format!(
                    "job type {} has engine = \"airflow\", which needs an [airflow] section",
                    job_type.name()
                ),
            ));
        }
        self.collections(registry)?;
        match (self.staging(storage)?, storage.kind) {
            (DataLocation::S3 { .. }, StorageKind::Local) => Err(ConfigError::invalid(
                "labcas.staging",
                "an s3:// staging area needs storage = \"s3\" (outputs are downloaded through \
                 the result store)",
            )),
            (DataLocation::S3 { bucket, .. }, StorageKind::S3)
                if storage.s3_bucket.as_deref() != Some(bucket.as_str()) =>
            {
                Err(ConfigError::invalid(
                    "labcas.staging",
                    format!(
                        "the staging bucket {bucket} must be the result bucket (s3_bucket), \
                         through which outputs are downloaded"
                    ),
                ))
            }
            (DataLocation::Local { .. }, StorageKind::S3) => Err(ConfigError::invalid(
                "labcas.staging",
                "a local:// staging area needs storage = \"local\" (outputs are downloaded \
                 through the result store)",
            )),
            _ => Ok(()),
        }
    }
}
