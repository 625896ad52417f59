//! Configuration, parsed once at start-up.
//!
//! Sources, later ones winning: built-in defaults → the file `reefguide.toml` (or the file named by
//! `REEFGUIDE_CONFIG`) → the ReefGuide (R1) environment names (`DATABASE_URL`, `PORT`,
//! `API_DOMAIN`, `JWT_PRIVATE_KEY`, `JWT_PUBLIC_KEY`, `JWT_KEY_ID`, `ADMIN_USERNAME`, …) →
//! `REEFGUIDE_<SETTING>` environment variables. Every setting has one flat name, the same in the
//! file and (upper-cased, prefixed) in the environment. Secrets are wrapped so they never print.
//!
//! # Sections
//!
//! [`Settings`] groups the settings by concern, one module each, each checking its own values:
//! [`ServerSettings`] (listener, URLs, data directory, CORS, logging), [`AuthSettings`] (tokens,
//! password hashing, service accounts, required role), [`LimitsSettings`] (request and polygon
//! sizes, rate limits), [`DatabaseSettings`], [`JobsSettings`] (job types, lease sweeper, claim
//! wait), [`StorageSettings`] (result files), [`ComputeSettings`] (workers and the capacity
//! manager) and [`WorkflowSettings`] (Airflow, data collections, LabCAS) and [`EmailSettings`] (the SMTP server of reset e-mails). The sections exist only in the code: their fields keep the flat names.
//!
//! # How flat names become sections
//!
//! Each section is extracted from the same figment ([`Figment::extract`]), reading the names of
//! its own fields and ignoring the others; `keys::KnownNamesOnly` then refuses any name no
//! section has. Sections are not `#[serde(flatten)]`ed into one struct: serde buffers flattened
//! values in its own type before the section reads them, so figment could no longer say which
//! name and source a bad value came from, and `deny_unknown_fields` does not work with flatten.
//! Extracted this way, every error is figment's own, worded as for the former flat struct (an
//! unknown name's hint lists the known names section by section). When several names are wrong, the first in name order is reported, as the flat struct did (serde
//! read the names in that order and stopped at the first error); after that, each section checks
//! its values, in the order of [`Settings`]' fields.

use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use reefguide_domain::job::registry::JobTypeRegistry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::openapi::Deployment;

mod auth;
mod compute;
mod cors;
mod database;
mod email;
mod external_jwt;
mod jobs;
mod keys;
mod limits;
mod server;
mod storage;
#[cfg(test)]
mod tests;
mod workflows;

pub use auth::AuthSettings;
pub use compute::{CapacityTargetSettings, ComputeKind, ComputeSettings, EcsTargetSettings};
pub use cors::{CorsOrigins, InvalidOrigin, Origin};
pub use database::DatabaseSettings;
pub use email::{EmailSettings, SmtpSecurityKind};
pub use external_jwt::{ExternalJwtSettings, check_issuers};
pub use jobs::{EngineKind, JobTypeSettings, JobsSettings};
pub use limits::LimitsSettings;
pub use server::{LogFormat, ServerSettings, ServerUrls, ShutdownPlan};
pub use storage::{StorageKind, StorageSettings};
pub use workflows::{
    AirflowEndpoint, AirflowSettings, CollectionSettings, LabcasSettings, WorkflowSettings,
};

/// The start (after `REEFGUIDE_`, in any case) of the environment names the test suites use,
/// which are not settings.
const TEST_ENV_PREFIX: &str = "test_";

/// The R1 environment variable names that are honoured as-is.
pub const R1_ENV_NAMES: [&str; 12] = [
    "DATABASE_URL",
    "PORT",
    "API_DOMAIN",
    "JWT_PRIVATE_KEY",
    "JWT_PUBLIC_KEY",
    "JWT_KEY_ID",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
    "WORKER_USERNAME",
    "WORKER_PASSWORD",
    "MANAGER_USERNAME",
    "MANAGER_PASSWORD",
];

/// Every setting of the service, by section. See the README's configuration table.
///
/// Serializes flat (every section's fields side by side, with their flat names), which is how
/// the defaults enter the figment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settings {
    /// Listener, public URLs, data directory, CORS and logging.
    #[serde(flatten)]
    pub server: ServerSettings,
    /// Tokens, password hashing, service accounts and the required role.
    #[serde(flatten)]
    pub auth: AuthSettings,
    /// Request and polygon sizes, rate limits.
    #[serde(flatten)]
    pub limits: LimitsSettings,
    /// The database and its pool.
    #[serde(flatten)]
    pub database: DatabaseSettings,
    /// Job types, the lease sweeper and the claim wait.
    #[serde(flatten)]
    pub jobs: JobsSettings,
    /// Where result files live and their limits.
    #[serde(flatten)]
    pub storage: StorageSettings,
    /// The worker cluster and the capacity manager.
    #[serde(flatten)]
    pub compute: ComputeSettings,
    /// Airflow, the data collections and the LabCAS settings.
    #[serde(flatten)]
    pub workflows: WorkflowSettings,
    /// The SMTP server of password reset e-mails.
    #[serde(flatten)]
    pub email: EmailSettings,
}

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value failed to parse, with figment's description of which key and source.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value parsed but is not acceptable.
    #[error("invalid configuration: {setting}: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    /// The setting named `setting` is not acceptable, because `reason`.
    pub fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

impl Settings {
    /// Loads the configuration from the default file and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var("REEFGUIDE_CONFIG").unwrap_or_else(|_| "reefguide.toml".into());
        Self::from_figment(Self::figment(&file))
    }

    /// The layered sources, for [`Settings::load`] and tests.
    pub fn figment(file: &str) -> Figment {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .merge(Env::raw().only(&R1_ENV_NAMES))
            .merge(
                Env::prefixed("REEFGUIDE_")
                    .ignore(&["CONFIG"])
                    // `REEFGUIDE_TEST_*` belong to the test suites (their database, their
                    // Airflow), which start servers that inherit them.
                    .filter(|key| {
                        !key.as_str()
                            .to_ascii_lowercase()
                            .starts_with(TEST_ENV_PREFIX)
                    }),
            )
    }

    /// Extracts and checks settings from any figment: every section, then the names no section
    /// has, then each section's values (see the [module documentation](self)).
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let settings = Settings {
            server: section(&figment, &mut errors),
            auth: section(&figment, &mut errors),
            limits: section(&figment, &mut errors),
            database: section(&figment, &mut errors),
            jobs: section(&figment, &mut errors),
            storage: section(&figment, &mut errors),
            compute: section(&figment, &mut errors),
            workflows: section(&figment, &mut errors),
            email: section(&figment, &mut errors),
        };
        if let Err(error) = figment.extract::<keys::KnownNamesOnly>() {
            errors.push(error);
        }
        // The first name in order; `min_by` keeps the first of equals (an error of the sources
        // themselves, which every extraction reports alike).
        if let Some(error) = errors.into_iter().min_by(|a, b| a.path.cmp(&b.path)) {
            return Err(ConfigError::Parse(one_line(&error.to_string())));
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Each section's checks, in the order of the fields, then the rules spanning sections
    /// (the workflow settings against the job types and the result store).
    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.auth.validate()?;
        self.limits.validate()?;
        self.database.validate()?;
        self.jobs.validate()?;
        self.storage.validate()?;
        self.compute.validate()?;
        self.workflows.validate()?;
        self.email.validate()?;
        self.workflows
            .check_against(&self.jobs.registry()?, &self.storage)
    }

    /// What the OpenAPI document needs from this configuration.
    pub fn deployment<'a>(&self, job_types: &'a JobTypeRegistry) -> Deployment<'a> {
        Deployment {
            job_types,
            claim_max_wait_seconds: self.jobs.claim_max_wait_seconds,
            max_desired_count: self.compute.max_desired_count(),
            mounts: crate::routes::Mounts::of(self),
        }
    }

    /// The database URL to use: the configured one or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        self.database.effective_url(&self.server.data_dir)
    }
}

/// One section read from `figment`; on an error, the error joins `errors` and the section's
/// defaults stand in (never used: [`Settings::from_figment`] then reports an error).
fn section<S: DeserializeOwned + Default>(
    figment: &Figment,
    errors: &mut Vec<figment::Error>,
) -> S {
    figment.extract().unwrap_or_else(|error| {
        errors.push(error);
        S::default()
    })
}

/// `Err` unless `url` is unset or an `http://` or `https://` URL.
fn check_http_url(setting: &'static str, url: Option<&str>) -> Result<(), ConfigError> {
    match url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(
            ConfigError::invalid(setting, "must be an http:// or https:// URL"),
        ),
        _ => Ok(()),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
