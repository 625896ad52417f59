//! Configuration, parsed once at start-up.
//!
//! Sources, later ones winning: built-in defaults → the file `reefguide.toml` (or the file named by
//! `REEFGUIDE_CONFIG`) → the ReefGuide (R1) environment names (`DATABASE_URL`, `PORT`,
//! `API_DOMAIN`, `JWT_PRIVATE_KEY`, `JWT_PUBLIC_KEY`, `JWT_KEY_ID`, `ADMIN_USERNAME`, …) →
//! `REEFGUIDE_<SETTING>` environment variables. Every setting has one flat name, the same in the
//! file and (upper-cased, prefixed) in the environment. Secrets are wrapped so they never print.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use reefguide_domain::capacity::{ScalingPolicy, ScalingPolicyError, ScalingSettings};
use reefguide_domain::job::registry::{JobTypeName, JobTypeOverride, JobTypeRegistry};
use reefguide_domain::storage::PresignExpiry;
use reefguide_domain::{Email, Role};

use crate::openapi::Deployment;
use reefguide_domain::capacity::MAX_DESIRED_COUNT;

mod cors;

pub use cors::{CorsOrigins, InvalidOrigin, Origin};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

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

/// Every setting of the service. See the README's configuration table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Public base URL of the API; the JWT issuer (`iss`). Unset: `public_url` when that is set,
    /// else `http://<host>:<port>` of the listener (see [`Settings::server_urls`]).
    pub api_domain: Option<String>,
    /// Directory for the embedded default's SQLite database and development keys.
    pub data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite://…`); default: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Database connection pool size.
    pub database_max_connections: u32,
    /// Seconds a user read for authentication may be served from memory (0..=60; 0 turns the
    /// cache off). Role changes and deletions invalidate it at once, on every instance sharing a
    /// Postgres database; this bounds only changes made behind the API's back (SQL by hand).
    pub user_cache_seconds: u64,
    /// Apply pending migrations at start-up.
    pub migrate_on_start: bool,
    /// RS256 private key (PEM; literal `\n` accepted); default: a development key in `data_dir`.
    #[serde(skip_serializing)]
    pub jwt_private_key: Option<SecretString>,
    /// RS256 public key (PEM), checked against the private key when given.
    pub jwt_public_key: Option<String>,
    /// Key id in token headers and the JWKS; default: the key's RFC 7638 thumbprint.
    pub jwt_key_id: Option<String>,
    /// Access-token lifetime in minutes.
    pub access_token_minutes: u32,
    /// Refresh-token lifetime in hours.
    pub refresh_token_hours: u32,
    /// Replace refresh tokens on use, with reuse detection.
    pub rotate_refresh_tokens: bool,
    /// Largest accepted JSON body, in bytes.
    pub body_limit_bytes: usize,
    /// Rate-limit login and register.
    pub rate_limit_enabled: bool,
    /// Login attempts per minute per client address.
    pub rate_limit_login_per_ip_per_minute: u32,
    /// Login attempts per minute per account (email).
    pub rate_limit_login_per_account_per_minute: u32,
    /// Registrations per hour per client address.
    pub rate_limit_register_per_ip_per_hour: u32,
    /// Use the `X-Forwarded-For` address for rate limits (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Browser origins allowed to call the API (CORS): `*` (any origin, as ReefGuide) or a list
    /// of `scheme://host[:port]` origins.
    pub cors_allowed_origins: CorsOrigins,
    /// argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// Concurrent password hashes at most (default: number of CPUs).
    pub argon2_max_concurrent: Option<usize>,
    /// HTTP worker threads (default: number of CPUs).
    pub http_workers: Option<usize>,
    /// Most positions a submitted polygon may have.
    pub polygon_max_positions: usize,
    /// Most rings (shell plus holes) a submitted polygon may have.
    pub polygon_max_rings: usize,
    /// Role a user needs for polygons, notes and jobs (`ANALYST`, as ReefGuide R2); none by default.
    pub required_role: Option<Role>,
    /// Log filter (`tracing` env-filter syntax), e.g. `info` or `warn,reefguide=debug`.
    pub log_level: String,
    /// Service account with role ADMIN (email).
    pub admin_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub admin_password: Option<SecretString>,
    /// Service account with role WORKER (email).
    pub worker_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub worker_password: Option<SecretString>,
    /// Capacity-manager service account, role WORKER (email).
    pub manager_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub manager_password: Option<SecretString>,
    /// How often the lease sweeper looks for expired job leases, in milliseconds.
    pub lease_sweep_interval_ms: u64,
    /// Job types: overrides of the built-in ones and new ones, by name (see the README).
    pub job_types: BTreeMap<String, JobTypeSettings>,
    /// Base URL at which clients reach this API, used in the local store's signed URLs. Unset:
    /// `api_domain` when that is set (unless `port` is 0), else `http://<host>:<port>` of the
    /// listener (see [`Settings::server_urls`]).
    pub public_url: Option<String>,
    /// Where result files live: `local` (under `data_dir/results`, served by this API through
    /// signed URLs) or `s3`.
    pub storage: StorageKind,
    /// S3 bucket of result files (required with `storage = "s3"`).
    pub s3_bucket: Option<String>,
    /// Key prefix of result files in the bucket.
    pub s3_prefix: String,
    /// Endpoint of an S3-compatible store (MinIO, moto…); unset for AWS itself.
    pub s3_endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub s3_force_path_style: bool,
    /// AWS region; unset means the standard AWS chain (`AWS_REGION`, profile, instance metadata).
    pub s3_region: Option<String>,
    /// Secret that signs the local store's URLs; unset means a random key kept in the data
    /// directory (`storage-signing.key`).
    #[serde(skip_serializing)]
    pub storage_signing_key: Option<SecretString>,
    /// Most files one download may list (more is a 400 asking for `filterPrefix`).
    pub download_max_files: usize,
    /// Longest a worker's `POST /api/jobs/claim` may wait for a job, in seconds (1..=30; lower
    /// it behind proxies that cut idle requests sooner).
    pub claim_max_wait_seconds: u32,
    /// Lifetime of the upload URLs given to workers, in seconds (1..=604800).
    pub upload_url_expiry_seconds: u32,
    /// Largest file the local store accepts through an upload URL, in bytes.
    pub upload_max_bytes: u64,
    /// The cluster running workers: `local` (worker processes on this machine) or `ecs`.
    pub compute: ComputeKind,
    /// Local workers started with the server (the local pool's desired count).
    pub local_workers: u32,
    /// Most local workers (the pool and one-off workers of each compute target).
    pub local_max_workers: u32,
    /// The program local workers run (`<program> worker`); default: this binary.
    pub local_worker_program: Option<String>,
    /// ECS cluster (name or ARN) of the worker service (required with `compute = "ecs"`).
    pub ecs_cluster: Option<String>,
    /// ECS service of the workers (required with `compute = "ecs"`).
    pub ecs_service: Option<String>,
    /// Endpoint of an ECS-compatible API (moto in tests); unset for AWS itself.
    pub ecs_endpoint_url: Option<String>,
    /// AWS region of the cluster; unset means the standard AWS chain.
    pub ecs_region: Option<String>,
    /// How the capacity manager runs tasks for each compute target on ECS.
    pub ecs_targets: BTreeMap<String, EcsTargetSettings>,
    /// Run the capacity manager inside `serve` (it starts workers as the queue grows).
    pub capacity_manager: bool,
    /// How often the capacity manager looks at the queue, in milliseconds.
    pub capacity_interval_ms: u64,
    /// Scaling policy per compute target (job types name theirs with `compute_target`; the
    /// default target is `default`).
    pub capacity_targets: BTreeMap<String, CapacityTargetSettings>,
}

/// How to run one compute target's tasks on ECS.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EcsTargetSettings {
    /// Task definition (family, family:revision or ARN).
    pub task_definition: String,
    /// Subnets of the tasks (awsvpc).
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security groups of the tasks.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Give the tasks a public IP.
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// ReefGuide's scaling formula for one compute target:
/// `clamp(round(sensitivity · ln(pending / factor + 1) + min), min, max)`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapacityTargetSettings {
    /// How fast workers grow with the queue.
    pub sensitivity: f64,
    /// Queue size per step.
    pub factor: f64,
    /// Workers kept even when idle.
    pub min_workers: u32,
    /// Most workers.
    pub max_workers: u32,
    /// Pause after a launch before the next, in seconds.
    pub cooldown_seconds: u32,
    /// Most tasks started per cycle.
    pub max_launch_per_cycle: u32,
}

impl Default for CapacityTargetSettings {
    fn default() -> Self {
        Self {
            sensitivity: 1.5,
            factor: 2.0,
            min_workers: 0,
            max_workers: 10,
            cooldown_seconds: 60,
            max_launch_per_cycle: 5,
        }
    }
}

/// The cluster running workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeKind {
    /// Worker processes on this machine, running `reefguide worker`.
    #[default]
    Local,
    /// An ECS cluster and service.
    Ecs,
}

/// Where result files live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files under the data directory, served by this API through signed, expiring URLs.
    #[default]
    Local,
    /// An S3 (or S3-compatible) bucket, with presigned URLs.
    S3,
}

/// The base URLs of a running server (see [`Settings::server_urls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrls {
    /// The API's public base URL and the JWT issuer (`iss`), exactly as configured or derived.
    pub api_domain: String,
    /// Where clients reach this API (the local store's signed URLs, local workers' API URL),
    /// without a trailing `/`.
    pub public_url: String,
    /// Whether a derived URL names the loopback address in place of a wildcard listen address:
    /// clients on other machines cannot use it, they need `public_url` and `api_domain` set.
    pub loopback_for_wildcard: bool,
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
    /// The compute target that runs it.
    pub compute_target: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 5000,
            api_domain: None,
            data_dir: PathBuf::from("reefguide-data"),
            database_url: None,
            database_max_connections: 10,
            user_cache_seconds: 5,
            migrate_on_start: true,
            jwt_private_key: None,
            jwt_public_key: None,
            jwt_key_id: None,
            access_token_minutes: 10,
            refresh_token_hours: 48,
            rotate_refresh_tokens: false,
            body_limit_bytes: 1024 * 1024,
            rate_limit_enabled: true,
            rate_limit_login_per_ip_per_minute: 30,
            rate_limit_login_per_account_per_minute: 10,
            rate_limit_register_per_ip_per_hour: 20,
            trust_forwarded_for: false,
            cors_allowed_origins: CorsOrigins::Any,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            argon2_max_concurrent: None,
            http_workers: None,
            polygon_max_positions: 10_000,
            polygon_max_rings: 100,
            required_role: None,
            log_level: "info".into(),
            admin_username: None,
            admin_password: None,
            worker_username: None,
            worker_password: None,
            manager_username: None,
            manager_password: None,
            lease_sweep_interval_ms: 5_000,
            job_types: BTreeMap::new(),
            public_url: None,
            storage: StorageKind::Local,
            s3_bucket: None,
            s3_prefix: "results".into(),
            s3_endpoint_url: None,
            s3_force_path_style: false,
            s3_region: None,
            storage_signing_key: None,
            download_max_files: 25,
            claim_max_wait_seconds: 30,
            upload_url_expiry_seconds: 3_600,
            upload_max_bytes: 5 * 1024 * 1024 * 1024,
            compute: ComputeKind::Local,
            local_workers: 0,
            local_max_workers: 4,
            local_worker_program: None,
            ecs_cluster: None,
            ecs_service: None,
            ecs_endpoint_url: None,
            ecs_region: None,
            ecs_targets: BTreeMap::new(),
            capacity_manager: false,
            capacity_interval_ms: 10_000,
            capacity_targets: BTreeMap::from([(
                "default".to_owned(),
                CapacityTargetSettings::default(),
            )]),
        }
    }
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
            .merge(Env::prefixed("REEFGUIDE_").ignore(&["CONFIG", "TEST_DATABASE_URL"]))
    }

    /// Extracts and checks settings from any figment.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Parse(one_line(&e.to_string())))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The scaling policy of a compute target.
    ///
    /// # Errors
    /// When the numbers are out of range.
    pub fn scaling_policy(
        &self,
        target: &CapacityTargetSettings,
    ) -> Result<ScalingPolicy, ScalingPolicyError> {
        ScalingPolicy::new(ScalingSettings {
            sensitivity: target.sensitivity,
            factor: target.factor,
            min_workers: target.min_workers,
            max_workers: target.max_workers,
            cooldown: chrono::Duration::seconds(i64::from(target.cooldown_seconds)),
            max_launch_per_cycle: target.max_launch_per_cycle,
        })
    }

    /// The base URLs of this server once it listens on `bound_port`: each configured one as
    /// given, the others derived.
    ///
    /// - `public_url`: as set; else `api_domain` when that is set and `port` is not 0 (with port
    ///   0 the free port picked at start is not known in advance); else the listener's URL.
    /// - `api_domain`: as set; else `public_url` when that is set; else the listener's URL.
    ///
    /// The listener's URL is `http://<host>:<bound_port>`, with the loopback address for a
    /// wildcard host (`0.0.0.0`, `::`), which only clients on this machine can use.
    #[must_use]
    pub fn server_urls(&self, bound_port: u16) -> ServerUrls {
        let wildcard = self.host.is_unspecified();
        let host = match self.host {
            IpAddr::V4(_) if wildcard => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) if wildcard => IpAddr::V6(Ipv6Addr::LOCALHOST),
            host => host,
        };
        let listener = format!("http://{}", SocketAddr::new(host, bound_port));
        let public_url = self
            .public_url
            .clone()
            .or_else(|| self.api_domain.clone().filter(|_| self.port != 0));
        let api_domain = self.api_domain.clone().or_else(|| self.public_url.clone());
        let derived = public_url.is_none() || api_domain.is_none();
        ServerUrls {
            public_url: public_url
                .unwrap_or_else(|| listener.clone())
                .trim_end_matches('/')
                .to_owned(),
            api_domain: api_domain.unwrap_or(listener),
            loopback_for_wildcard: wildcard && derived,
        }
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| ConfigError::Invalid {
            setting,
            reason: reason.to_owned(),
        };
        if self.storage == StorageKind::S3
            && self
                .s3_bucket
                .as_deref()
                .is_none_or(|b| b.trim().is_empty())
        {
            return Err(invalid("s3_bucket", "is required with storage = \"s3\""));
        }
        for (setting, url) in [
            ("s3_endpoint_url", &self.s3_endpoint_url),
            ("public_url", &self.public_url),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(setting, "must be an http:// or https:// URL"));
            }
        }
        if !(1..=30).contains(&self.claim_max_wait_seconds) {
            return Err(invalid("claim_max_wait_seconds", "must be from 1 to 30"));
        }
        if !(1..=10_000).contains(&self.download_max_files) {
            return Err(invalid("download_max_files", "must be from 1 to 10000"));
        }
        if PresignExpiry::from_seconds(i64::from(self.upload_url_expiry_seconds)).is_err() {
            return Err(invalid(
                "upload_url_expiry_seconds",
                "must be from 1 to 604800 seconds",
            ));
        }
        if self.upload_max_bytes == 0 {
            return Err(invalid("upload_max_bytes", "must be at least 1"));
        }
        if self.compute == ComputeKind::Ecs
            && (self.ecs_cluster.is_none() || self.ecs_service.is_none())
        {
            return Err(invalid(
                "ecs_cluster",
                "compute = \"ecs\" needs ecs_cluster and ecs_service",
            ));
        }
        if self.capacity_interval_ms < 100 {
            return Err(invalid("capacity_interval_ms", "must be at least 100"));
        }
        for (name, target) in &self.capacity_targets {
            self.scaling_policy(target)
                .map_err(|e| ConfigError::Invalid {
                    setting: "capacity_targets",
                    reason: format!("{name}: {e}"),
                })?;
        }
        if self.local_workers > self.local_max_workers {
            return Err(invalid(
                "local_workers",
                "must be at most local_max_workers",
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| ConfigError::Invalid {
            setting,
            reason: reason.to_owned(),
        };
        if let Some(domain) = &self.api_domain
            && !(domain.starts_with("http://") || domain.starts_with("https://"))
        {
            return Err(invalid("api_domain", "must be an http:// or https:// URL"));
        }
        if self.access_token_minutes == 0 {
            return Err(invalid("access_token_minutes", "must be at least 1"));
        }
        if self.refresh_token_hours == 0 {
            return Err(invalid("refresh_token_hours", "must be at least 1"));
        }
        if self.body_limit_bytes < 1024 {
            return Err(invalid("body_limit_bytes", "must be at least 1024"));
        }
        if self.polygon_max_positions < 4 || self.polygon_max_rings == 0 {
            return Err(invalid(
                "polygon_max_positions",
                "polygons need at least 4 positions and 1 ring",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        if self.user_cache_seconds > 60 {
            return Err(invalid("user_cache_seconds", "must be at most 60"));
        }
        if self.rate_limit_enabled
            && [
                self.rate_limit_login_per_ip_per_minute,
                self.rate_limit_login_per_account_per_minute,
                self.rate_limit_register_per_ip_per_hour,
            ]
            .contains(&0)
        {
            return Err(invalid(
                "rate_limit_*",
                "limits must be at least 1 (or set rate_limit_enabled = false)",
            ));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database_url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        for (user, password, name) in [
            (&self.admin_username, &self.admin_password, "admin_password"),
            (
                &self.worker_username,
                &self.worker_password,
                "worker_password",
            ),
            (
                &self.manager_username,
                &self.manager_password,
                "manager_password",
            ),
        ] {
            if user.is_some() != password.is_some() {
                return Err(invalid(
                    name,
                    "a service account needs both a username and a password",
                ));
            }
        }
        if self.lease_sweep_interval_ms < 10 {
            return Err(invalid("lease_sweep_interval_ms", "must be at least 10"));
        }
        self.validate_storage()?;
        self.job_registry()?;
        Ok(())
    }

    /// What the OpenAPI document needs from this configuration.
    pub fn deployment<'a>(&self, job_types: &'a JobTypeRegistry) -> Deployment<'a> {
        Deployment {
            job_types,
            claim_max_wait_seconds: self.claim_max_wait_seconds,
            max_desired_count: match self.compute {
                ComputeKind::Local => self.local_max_workers.min(MAX_DESIRED_COUNT),
                ComputeKind::Ecs => MAX_DESIRED_COUNT,
            },
        }
    }

    /// The job types of this deployment: the built-ins with `job_types` applied.
    pub fn job_registry(&self) -> Result<JobTypeRegistry, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            setting: "job_types",
            reason,
        };
        let mut overrides = Vec::with_capacity(self.job_types.len());
        for (name, settings) in &self.job_types {
            let name = JobTypeName::parse(name).map_err(|e| invalid(format!("{name}: {e}")))?;
            let allowed_emails = settings
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
                    compute_target: settings.compute_target.clone(),
                },
            ));
        }
        JobTypeRegistry::with_overrides(overrides).map_err(|e| invalid(e.to_string()))
    }

    /// The database URL to use: the configured one or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("reefguide.db").display()
            )
        })
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
// figment's `Jail` closures return figment's own (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_the_embedded_setup() {
        Jail::expect_with(|_| {
            let settings =
                Settings::from_figment(Settings::figment("none.toml")).expect("defaults");
            assert_eq!(settings.port, 5000);
            assert_eq!(settings.host.to_string(), "127.0.0.1");
            assert!(settings.effective_database_url().starts_with("sqlite://"));
            Ok(())
        });
    }

    #[test]
    fn storage_is_local_by_default_and_s3_needs_a_bucket() {
        Jail::expect_with(|jail| {
            let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
            assert_eq!(settings.storage, StorageKind::Local);
            assert_eq!(settings.download_max_files, 25);
            jail.set_env("REEFGUIDE_STORAGE", "s3");
            let error = Settings::from_figment(Settings::figment("none.toml"))
                .expect_err("no bucket")
                .to_string();
            assert!(error.contains("s3_bucket"), "{error}");
            jail.set_env("REEFGUIDE_S3_BUCKET", "reef-results");
            jail.set_env("REEFGUIDE_S3_ENDPOINT_URL", "http://127.0.0.1:9000");
            jail.set_env("REEFGUIDE_S3_FORCE_PATH_STYLE", "true");
            let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
            assert_eq!(settings.storage, StorageKind::S3);
            assert_eq!(settings.s3_bucket.as_deref(), Some("reef-results"));
            assert!(settings.s3_force_path_style);
            jail.set_env("REEFGUIDE_UPLOAD_URL_EXPIRY_SECONDS", "604801");
            let error = Settings::from_figment(Settings::figment("none.toml"))
                .expect_err("too long")
                .to_string();
            assert!(error.contains("upload_url_expiry_seconds"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn r1_names_and_prefixed_names_apply_prefixed_last() {
        Jail::expect_with(|jail| {
            jail.set_env("PORT", "6000");
            jail.set_env("DATABASE_URL", "postgres://db/r1");
            jail.set_env("REEFGUIDE_DATABASE_URL", "postgres://db/ours");
            jail.set_env("REEFGUIDE_RATE_LIMIT_ENABLED", "false");
            let settings = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
            assert_eq!(settings.port, 6000);
            assert_eq!(settings.database_url.as_deref(), Some("postgres://db/ours"));
            assert!(!settings.rate_limit_enabled);
            Ok(())
        });
    }

    #[test]
    fn urls_derive_from_host_and_port_unless_set() {
        let settings = |configure: fn(&mut Settings)| {
            let mut settings = Settings::default();
            configure(&mut settings);
            settings
        };
        let urls = settings(|s| s.port = 8080).server_urls(8080);
        assert_eq!(urls.api_domain, "http://127.0.0.1:8080");
        assert_eq!(urls.public_url, "http://127.0.0.1:8080");
        assert!(!urls.loopback_for_wildcard);

        // Only api_domain: public_url follows it (as before), except with port 0.
        let domain = |s: &mut Settings| s.api_domain = Some("https://reef.example.org/".into());
        let urls = settings(domain).server_urls(5000);
        assert_eq!(urls.api_domain, "https://reef.example.org/");
        assert_eq!(urls.public_url, "https://reef.example.org");
        let urls = settings(|s| {
            s.api_domain = Some("https://reef.example.org".into());
            s.port = 0;
        })
        .server_urls(40123);
        assert_eq!(urls.api_domain, "https://reef.example.org");
        assert_eq!(urls.public_url, "http://127.0.0.1:40123");

        // Only public_url: the issuer follows it.
        let urls =
            settings(|s| s.public_url = Some("http://10.0.0.5:5000".into())).server_urls(5000);
        assert_eq!(urls.api_domain, "http://10.0.0.5:5000");
        assert_eq!(urls.public_url, "http://10.0.0.5:5000");

        // A wildcard host: the loopback address, flagged.
        let urls = settings(|s| s.host = IpAddr::from([0, 0, 0, 0])).server_urls(5000);
        assert_eq!(urls.api_domain, "http://127.0.0.1:5000");
        assert!(urls.loopback_for_wildcard);
        let urls = settings(|s| s.host = IpAddr::V6(Ipv6Addr::UNSPECIFIED)).server_urls(5000);
        assert_eq!(urls.public_url, "http://[::1]:5000");
        assert!(urls.loopback_for_wildcard);
        let urls = settings(|s| {
            s.host = IpAddr::from([0, 0, 0, 0]);
            s.api_domain = Some("https://reef.example.org".into());
            s.public_url = Some("https://files.example.org".into());
        })
        .server_urls(5000);
        assert!(!urls.loopback_for_wildcard, "nothing derived");
        let urls = settings(|s| s.host = IpAddr::V6(Ipv6Addr::LOCALHOST)).server_urls(5000);
        assert_eq!(urls.api_domain, "http://[::1]:5000");
    }

    #[test]
    fn api_domain_is_unset_by_default_and_read_from_r1_name() {
        Jail::expect_with(|jail| {
            let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
            assert_eq!(settings.api_domain, None);
            jail.set_env("API_DOMAIN", "https://reef.example.org");
            let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
            assert_eq!(
                settings.api_domain.as_deref(),
                Some("https://reef.example.org")
            );
            jail.set_env("API_DOMAIN", "reef.example.org");
            let error = Settings::from_figment(Settings::figment("none.toml"))
                .expect_err("no scheme")
                .to_string();
            assert!(error.contains("api_domain"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn cors_origins_are_any_by_default_a_list_from_env_or_file() {
        Jail::expect_with(|jail| {
            let load = |file: &str| Settings::from_figment(Settings::figment(file));
            assert_eq!(
                load("none.toml").expect("ok").cors_allowed_origins,
                CorsOrigins::Any
            );
            jail.set_env("REEFGUIDE_CORS_ALLOWED_ORIGINS", "*");
            assert_eq!(
                load("none.toml").expect("ok").cors_allowed_origins,
                CorsOrigins::Any
            );
            jail.set_env(
                "REEFGUIDE_CORS_ALLOWED_ORIGINS",
                "http://127.0.0.1:4200, HTTPS://App.Example.org:443,http://[::1]:80",
            );
            let origins = match load("none.toml").expect("ok").cors_allowed_origins {
                CorsOrigins::List(origins) => origins,
                CorsOrigins::Any => panic!("a list was configured"),
            };
            assert_eq!(
                origins.iter().map(Origin::as_str).collect::<Vec<_>>(),
                [
                    "http://127.0.0.1:4200",
                    "https://app.example.org",
                    "http://[::1]"
                ]
            );
            jail.clear_env();
            jail.create_file(
                "r.toml",
                "cors_allowed_origins = [\"https://app.example.org\", \"http://localhost:4200\"]",
            )?;
            assert_eq!(
                load("r.toml").expect("ok").cors_allowed_origins,
                CorsOrigins::List(vec![
                    Origin::parse("https://app.example.org").expect("origin"),
                    Origin::parse("http://localhost:4200").expect("origin"),
                ])
            );
            jail.create_file("s.toml", "cors_allowed_origins = \"*\"")?;
            assert_eq!(
                load("s.toml").expect("ok").cors_allowed_origins,
                CorsOrigins::Any
            );
            Ok(())
        });
    }

    #[test]
    fn bad_cors_origins_stop_start_up_naming_the_setting() {
        // What is an origin is pinned in `config::cors`; here, that a bad one stops start-up.
        for bad in [
            "https://app.example.org/",
            "http://*.example.org",
            "*,http://localhost:4200",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad} accepted");
            Jail::expect_with(|jail| {
                jail.set_env("REEFGUIDE_CORS_ALLOWED_ORIGINS", bad);
                let error = Settings::from_figment(Settings::figment("none.toml"))
                    .expect_err("invalid")
                    .to_string();
                // Named as the variable is (`CORS_ALLOWED_ORIGINS` in `REEFGUIDE_` variables).
                assert!(
                    error.to_lowercase().contains("cors_allowed_origins"),
                    "{bad}: {error}"
                );
                assert!(!error.contains('\n'), "{error}");
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", "cors_allowed_origins = 5")?;
            let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
            assert!(
                error.to_string().contains("cors_allowed_origins"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn file_is_read() {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", "port = 7000\nlog_level = \"warn\"")?;
            let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
            assert_eq!((settings.port, settings.log_level.as_str()), (7000, "warn"));
            Ok(())
        });
    }

    #[test]
    fn bad_value_names_the_setting() {
        Jail::expect_with(|jail| {
            jail.set_env("REEFGUIDE_PORT", "not-a-port");
            let error =
                Settings::from_figment(Settings::figment("none.toml")).expect_err("invalid");
            let text = error.to_string();
            assert!(text.contains("port"), "{text}");
            assert!(!text.contains('\n'));
            Ok(())
        });
    }

    #[test]
    fn unknown_setting_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", "prot = 7000")?;
            let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
            assert!(error.to_string().contains("prot"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn half_a_service_account_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("ADMIN_USERNAME", "admin@example.com");
            let error =
                Settings::from_figment(Settings::figment("none.toml")).expect_err("invalid");
            assert!(error.to_string().contains("admin_password"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn job_types_are_configured_in_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "r.toml",
                r#"
[job_types.TEST]
lease_seconds = 2
max_attempts = 1
allowed_roles = ["ANALYST"]

[job_types.HABITAT_REPORT]
cache = false
allowed_emails = ["ana@example.com"]
input_schema = { type = "object", required = ["region"], additionalProperties = false, properties = { region = { type = "string" } } }
"#,
            )?;
            let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
            let registry = settings.job_registry().expect("registry");
            let test = registry.get("TEST").expect("TEST").spec();
            assert_eq!(test.policy.lease(), chrono::Duration::seconds(2));
            assert_eq!(test.policy.max_attempts(), 1);
            assert_eq!(test.access.roles, vec![Role::Analyst]);
            let habitat = registry.get("HABITAT_REPORT").expect("new type");
            assert!(!habitat.spec().cache);
            assert!(
                habitat
                    .validate_input(&serde_json::json!({"region": "GBR"}))
                    .is_ok()
            );
            assert!(
                habitat
                    .validate_input(&serde_json::json!({"region": 1}))
                    .is_err()
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_job_type_stops_start_up_naming_the_setting() {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", "[job_types.NEW_TYPE]\ncache = true\n")?;
            let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
            assert!(error.to_string().contains("job_types"), "{error}");
            jail.create_file("s.toml", "[job_types.TEST]\nlease_seconds = 0\n")?;
            let error = Settings::from_figment(Settings::figment("s.toml")).expect_err("invalid");
            assert!(error.to_string().contains("job_types"), "{error}");
            Ok(())
        });
    }
}
