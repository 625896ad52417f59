//! The job-type registry (contract §7, "Job types"): the set of job types one deployment offers.
//!
//! A type is defined by a [`JobTypeSpec`]: its name, a JSON Schema for the input payload and
//! optionally one for the result payload, its retry policy (lease and attempts), whether identical
//! submissions reuse a job (cache), who may submit it ([`SubmitAccess`], LabCAS-style
//! `authorized_users`) and which compute target runs it. [`JobType::compile`] compiles the schemas
//! once; [`JobTypeRegistry`] holds the compiled types of a deployment: the five built-in ReefGuide
//! types ([`JobTypeSpec::builtins`]), adjusted or extended by configuration
//! ([`JobTypeRegistry::with_overrides`]).
//!
//! Schemas are compiled without any network or file access: every `$ref` must resolve inside the
//! schema itself (or to a bundled JSON Schema meta-schema), otherwise compilation fails with
//! [`RegistryError::InvalidSchema`]. Schemas are checked against their meta-schema (draft
//! 2020-12 unless `$schema` names draft 4, 6, 7 or 2019-09), and `format` keywords are asserted.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::Duration;
use jsonschema::{Draft, Retrieve, Uri, Validator};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::job::state::RetryPolicy;
use crate::user::{Email, Role, User};
use crate::workflow::{DagId, Engine};

mod builtin;
#[cfg(test)]
mod tests;

/// Longest job type name accepted, in characters.
pub const JOB_TYPE_NAME_MAX_LEN: usize = 64;

/// Most schema violations reported for one payload ([`PayloadErrors::errors`]).
pub const MAX_PAYLOAD_ERRORS: usize = 20;

/// Root of the paths of input payload violations (the request field `inputPayload`).
pub const INPUT_PAYLOAD_ROOT: &str = "inputPayload";

/// Root of the paths of result payload violations (the request field `resultPayload`).
pub const RESULT_PAYLOAD_ROOT: &str = "resultPayload";

/// The compute target of a type that names none ([`JobTypeSpec::compute_target`] is `None`).
pub const DEFAULT_COMPUTE_TARGET: &str = "default";

/// Lease of a type defined only in configuration, in minutes.
const DEFAULT_LEASE_MINUTES: i64 = 60;

/// Attempts of a type defined only in configuration.
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A job type name: 1..=64 characters matching `^[A-Z][A-Z0-9_]*$` (e.g. `TEST`,
/// `ADRIA_MODEL_RUN`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct JobTypeName(String);

/// Why a job type name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "a job type name must be 1 to 64 characters: an upper-case letter followed by upper-case \
     letters, digits or underscores (e.g. MY_TYPE_2)"
)]
pub struct InvalidJobTypeName;

impl JobTypeName {
    /// Checks the naming rule (no trimming, no case folding).
    ///
    /// # Errors
    /// [`InvalidJobTypeName`] when `raw` is empty, longer than 64 characters or not of the form
    /// `^[A-Z][A-Z0-9_]*$`.
    pub fn parse(raw: &str) -> Result<Self, InvalidJobTypeName> {
        let mut chars = raw.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        // ASCII only from here on, so bytes are characters.
        if starts_with_letter && rest_ok && raw.len() <= JOB_TYPE_NAME_MAX_LEN {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidJobTypeName)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for JobTypeName {
    type Err = InvalidJobTypeName;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

/// Lets maps keyed by name be searched with a `&str`.
impl Borrow<str> for JobTypeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Deserialises from a string, enforcing the naming rule (for configuration files).
impl<'de> Deserialize<'de> for JobTypeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A name that is not one of the deployment's job types ([`JobTypeRegistry::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Unknown job type {name:?}; known types: {}", .known.join(", "))]
pub struct UnknownJobType {
    /// The name asked for, as given.
    pub name: String,
    /// The deployment's type names, sorted.
    pub known: Vec<String>,
}

/// Who may submit a job type (LabCAS-style `authorized_users`).
///
/// Empty `roles`, `emails` and `usernames` mean every authenticated user. Otherwise the caller
/// needs one of the roles **or** to be one of the listed users. An administrator may always
/// submit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitAccess {
    /// Roles any of which permits submission.
    pub roles: Vec<Role>,
    /// Users (by normalised email) permitted to submit.
    pub emails: Vec<Email>,
    /// Users (by external username, labcas-contract §4) permitted to submit.
    pub usernames: Vec<String>,
}

impl SubmitAccess {
    /// Whether `user` may submit the type: an administrator, anyone when the type is open, a
    /// holder of a listed role, or a listed user (an entry matches the account's username or
    /// email, labcas-contract §4).
    pub fn permits(&self, user: &User) -> bool {
        let username = user.username();
        user.roles.is_admin()
            || self.is_open()
            || self.roles.iter().any(|role| user.roles.contains(*role))
            || self
                .emails
                .iter()
                .any(|email| Some(email) == user.email() || email.as_str() == username)
            || self.usernames.iter().any(|listed| listed == username)
    }

    /// Whether every authenticated user may submit (no role and no user listed).
    pub fn is_open(&self) -> bool {
        self.roles.is_empty() && self.emails.is_empty() && self.usernames.is_empty()
    }
}

/// Everything that defines a job type (before its schemas are compiled).
#[derive(Debug, Clone, PartialEq)]
pub struct JobTypeSpec {
    /// The type's name, as sent in `type` of a job request.
    pub name: JobTypeName,
    /// A human description, shown by `GET /api/jobs/types`.
    pub description: String,
    /// JSON Schema of the input payload (draft 2020-12 unless `$schema` names another draft).
    pub input_schema: Value,
    /// JSON Schema of the result payload; `None` accepts any result payload.
    pub result_schema: Option<Value>,
    /// Lease duration and maximum number of attempts.
    pub policy: RetryPolicy,
    /// Whether an identical submission reuses an existing job (contract §7, "Cache").
    pub cache: bool,
    /// Who may submit jobs of this type.
    pub access: SubmitAccess,
    /// Which compute target runs the type (free text; `None`: the default target,
    /// [`DEFAULT_COMPUTE_TARGET`]).
    pub compute_target: Option<String>,
    /// What runs the type's jobs: reefguide's workers (every built-in type) or an Airflow DAG.
    pub engine: Engine,
}

impl JobTypeSpec {
    /// The five built-in ReefGuide types, sorted by name: `ADRIA_MODEL_RUN`,
    /// `DATA_SPECIFICATION_UPDATE`, `REGIONAL_ASSESSMENT`, `SUITABILITY_ASSESSMENT` and `TEST`.
    ///
    /// All allow 3 attempts, are cached, open to every user and run on the default compute
    /// target; their lease is 60 minutes, 240 for `ADRIA_MODEL_RUN` (as R1).
    pub fn builtins() -> Vec<JobTypeSpec> {
        builtin::specs()
    }
}

/// One schema violation of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadError {
    /// Where the offending value is, in the style of the API's validation details:
    /// `inputPayload` for the root, `inputPayload.region`, `inputPayload.model_params[0].lower`
    /// (rooted at `resultPayload` for a result). A property name that is not an identifier is
    /// quoted in brackets: `inputPayload["a b"]`.
    pub path: String,
    /// A human sentence from the validator, e.g. `"id" is a required property`.
    pub message: String,
}

/// The schema violations of one payload (at most [`MAX_PAYLOAD_ERRORS`], i.e. 20, are kept;
/// there is always at least one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "payload does not match the schema of job type {job_type}: {}",
    .errors.first().map_or("invalid payload", |error| error.message.as_str())
)]
pub struct PayloadErrors {
    /// The job type whose schema was violated.
    pub job_type: String,
    /// The violations, in the validator's order (at most 20).
    pub errors: Vec<PayloadError>,
}

/// Why a registry (or one of its types) cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// Two types share a name.
    #[error("job type {0} is defined more than once")]
    DuplicateType(JobTypeName),
    /// A schema is not a valid, self-contained JSON Schema.
    #[error("the {which} schema of job type {job_type} is invalid: {reason}")]
    InvalidSchema {
        /// The type's name.
        job_type: String,
        /// Which schema: `"input"` or `"result"`.
        which: &'static str,
        /// What is wrong, from the schema compiler.
        reason: String,
    },
    /// Configuration tried to replace the input or result schema of a built-in type.
    #[error("the schemas of built-in job type {0} cannot be replaced")]
    BuiltinSchema(JobTypeName),
    /// Configuration set an invalid lease or number of attempts.
    #[error("invalid retry policy for job type {job_type}: {reason}")]
    InvalidPolicy {
        /// The type's name.
        job_type: String,
        /// What is wrong.
        reason: String,
    },
    /// Configuration defined a new type without an input schema.
    #[error("job type {0} is not built in, so it needs an input schema")]
    MissingInputSchema(JobTypeName),
    /// Two Airflow types run the same DAG (a run could not be told apart by type).
    #[error("job types {first} and {second} both run the Airflow DAG {dag_id}")]
    DuplicateDag {
        /// The DAG.
        dag_id: DagId,
        /// The type met first (in name order).
        first: JobTypeName,
        /// The other type.
        second: JobTypeName,
    },
}

/// A compiled job type: its spec and compiled validators. Cheap to share (`Send + Sync`).
pub struct JobType {
    spec: JobTypeSpec,
    input: Validator,
    result: Option<Validator>,
}

impl fmt::Debug for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobType")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl JobType {
    /// Compiles the schemas of `spec`.
    ///
    /// # Errors
    /// [`RegistryError::InvalidSchema`] when a schema does not match its meta-schema, names an
    /// unsupported `$schema`, or refers to anything outside itself (remote or file `$ref`).
    pub fn compile(spec: JobTypeSpec) -> Result<Self, RegistryError> {
        let input = compile_schema(&spec.name, "input", &spec.input_schema)?;
        let result = spec
            .result_schema
            .as_ref()
            .map(|schema| compile_schema(&spec.name, "result", schema))
            .transpose()?;
        Ok(Self {
            spec,
            input,
            result,
        })
    }

    /// The type's definition.
    pub fn spec(&self) -> &JobTypeSpec {
        &self.spec
    }

    /// The type's name.
    pub fn name(&self) -> &JobTypeName {
        &self.spec.name
    }

    /// The compute target that runs the type: the configured one, else
    /// [`DEFAULT_COMPUTE_TARGET`] (`"default"`).
    pub fn compute_target(&self) -> &str {
        self.spec
            .compute_target
            .as_deref()
            .unwrap_or(DEFAULT_COMPUTE_TARGET)
    }

    /// What runs the type's jobs.
    pub fn engine(&self) -> &Engine {
        &self.spec.engine
    }

    /// Whether reefguide's workers run the type (claim, poll, assign, leases).
    pub fn is_worker_run(&self) -> bool {
        self.spec.engine == Engine::Worker
    }

    /// Checks an input payload against the input schema; violation paths are rooted at
    /// `inputPayload`.
    ///
    /// # Errors
    /// [`PayloadErrors`] with up to 20 violations.
    pub fn validate_input(&self, payload: &Value) -> Result<(), PayloadErrors> {
        self.validate(&self.input, INPUT_PAYLOAD_ROOT, payload)
    }

    /// Checks a result payload against the result schema; violation paths are rooted at
    /// `resultPayload`. `None` (no result payload sent) is always accepted, as is any payload
    /// when the type has no result schema.
    ///
    /// # Errors
    /// [`PayloadErrors`] with up to 20 violations.
    pub fn validate_result(&self, payload: Option<&Value>) -> Result<(), PayloadErrors> {
        match (&self.result, payload) {
            (Some(validator), Some(payload)) => {
                self.validate(validator, RESULT_PAYLOAD_ROOT, payload)
            }
            _ => Ok(()),
        }
    }

    fn validate(
        &self,
        validator: &Validator,
        root: &str,
        payload: &Value,
    ) -> Result<(), PayloadErrors> {
        let errors: Vec<PayloadError> = validator
            .iter_errors(payload)
            .take(MAX_PAYLOAD_ERRORS)
            .map(|error| PayloadError {
                path: display_path(root, error.instance_path().as_str(), payload),
                message: error.to_string(),
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PayloadErrors {
                job_type: self.spec.name.to_string(),
                errors,
            })
        }
    }
}

/// Overrides of one type from configuration; every field is optional.
///
/// For a built-in type the given fields replace the built-in values, except the schemas, which
/// cannot be replaced. For a new type `input_schema` is required and the other fields default to:
/// description `""`, lease 60 minutes, 3 attempts, cached, open access, no result schema, default
/// compute target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobTypeOverride {
    /// The description.
    pub description: Option<String>,
    /// JSON Schema of the input payload (new types only, where it is required).
    pub input_schema: Option<Value>,
    /// JSON Schema of the result payload (new types only).
    pub result_schema: Option<Value>,
    /// Lease duration (positive).
    pub lease: Option<Duration>,
    /// Maximum number of attempts (at least 1).
    pub max_attempts: Option<u32>,
    /// Whether identical submissions reuse a job.
    pub cache: Option<bool>,
    /// Roles permitted to submit (replaces the list; see [`SubmitAccess`]).
    pub allowed_roles: Option<Vec<Role>>,
    /// Users permitted to submit (replaces the list; see [`SubmitAccess`]).
    pub allowed_emails: Option<Vec<Email>>,
    /// Users permitted to submit, by external username (replaces the list).
    pub allowed_usernames: Option<Vec<String>>,
    /// The compute target that runs the type.
    pub compute_target: Option<String>,
    /// What runs the type's jobs.
    pub engine: Option<Engine>,
}

/// The compiled job types of one deployment, by name. Cheap to clone (types are shared).
#[derive(Clone)]
pub struct JobTypeRegistry {
    types: BTreeMap<JobTypeName, Arc<JobType>>,
}

impl fmt::Debug for JobTypeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.types.keys()).finish()
    }
}

impl JobTypeRegistry {
    /// Compiles `specs` into a registry.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateType`] when two specs share a name;
    /// [`RegistryError::DuplicateDag`] when two Airflow types share a DAG;
    /// [`RegistryError::InvalidSchema`] when a schema does not compile.
    pub fn new(specs: impl IntoIterator<Item = JobTypeSpec>) -> Result<Self, RegistryError> {
        let mut types = BTreeMap::new();
        let mut dags: BTreeMap<DagId, JobTypeName> = BTreeMap::new();
        for spec in specs {
            if types.contains_key(&spec.name) {
                return Err(RegistryError::DuplicateType(spec.name));
            }
            if let Some(dag_id) = spec.engine.dag_id() {
                if let Some(first) = dags.get(dag_id) {
                    let (first, second) = if *first < spec.name {
                        (first.clone(), spec.name)
                    } else {
                        (spec.name, first.clone())
                    };
                    return Err(RegistryError::DuplicateDag {
                        dag_id: dag_id.clone(),
                        first,
                        second,
                    });
                }
                dags.insert(dag_id.clone(), spec.name.clone());
            }
            let job_type = JobType::compile(spec)?;
            types.insert(job_type.name().clone(), Arc::new(job_type));
        }
        Ok(Self { types })
    }

    /// The five built-in types ([`JobTypeSpec::builtins`]).
    ///
    /// # Errors
    /// None in practice: the built-in schemas are constants and the unit tests prove they
    /// compile. The `Result` keeps the crate free of panicking paths.
    pub fn builtin() -> Result<Self, RegistryError> {
        Self::new(JobTypeSpec::builtins())
    }

    /// The built-in types with `overrides` applied by name; a name that is not built in defines a
    /// new type (see [`JobTypeOverride`] for the defaults).
    ///
    /// # Errors
    /// [`RegistryError::BuiltinSchema`] when an override replaces a built-in type's input or
    /// result schema; [`RegistryError::MissingInputSchema`] for a new type without input schema;
    /// [`RegistryError::InvalidPolicy`] for a non-positive lease or zero attempts;
    /// [`RegistryError::DuplicateType`] when a name is overridden twice;
    /// [`RegistryError::InvalidSchema`] when a schema does not compile.
    pub fn with_overrides(
        overrides: impl IntoIterator<Item = (JobTypeName, JobTypeOverride)>,
    ) -> Result<Self, RegistryError> {
        let mut specs: BTreeMap<JobTypeName, JobTypeSpec> = JobTypeSpec::builtins()
            .into_iter()
            .map(|spec| (spec.name.clone(), spec))
            .collect();
        let mut seen = BTreeSet::new();
        for (name, change) in overrides {
            if !seen.insert(name.clone()) {
                return Err(RegistryError::DuplicateType(name));
            }
            let spec = match specs.remove(&name) {
                Some(builtin) => override_builtin(builtin, change)?,
                None => new_type(name, change)?,
            };
            specs.insert(spec.name.clone(), spec);
        }
        Self::new(specs.into_values())
    }

    /// The type called `name`, if the deployment has it.
    pub fn get(&self, name: &str) -> Option<&JobType> {
        self.types.get(name).map(Arc::as_ref)
    }

    /// The registered name of the type called `name`: whether a job type exists is decided here.
    ///
    /// # Errors
    /// [`UnknownJobType`], naming `name` and every known type, when the deployment has no type
    /// of that name.
    pub fn resolve(&self, name: &str) -> Result<JobTypeName, UnknownJobType> {
        self.types
            .get_key_value(name)
            .map(|(known, _)| known.clone())
            .ok_or_else(|| UnknownJobType {
                name: name.to_owned(),
                known: self.names(),
            })
    }

    /// Every type, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &JobType> {
        self.types.values().map(Arc::as_ref)
    }

    /// Every type name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.types.keys().map(ToString::to_string).collect()
    }

    /// The number of types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether the registry has no type at all.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The names of the types reefguide's workers run, when some type is run by another engine;
    /// `None` when workers run every type (a worker asking for any type may take any job).
    pub fn worker_run_names(&self) -> Option<Vec<JobTypeName>> {
        if self.iter().all(JobType::is_worker_run) {
            return None;
        }
        Some(
            self.iter()
                .filter(|job_type| job_type.is_worker_run())
                .map(|job_type| job_type.name().clone())
                .collect(),
        )
    }

    /// The types run by Airflow, sorted by name.
    pub fn airflow_types(&self) -> impl Iterator<Item = &JobType> {
        self.iter().filter(|job_type| !job_type.is_worker_run())
    }

    /// The types `user` may submit, sorted by name.
    pub fn submittable_by<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a JobType> + 'a {
        self.iter()
            .filter(move |job_type| job_type.spec.access.permits(user))
    }
}

/// Applies `change` to a built-in spec (its schemas are fixed).
fn override_builtin(
    mut spec: JobTypeSpec,
    change: JobTypeOverride,
) -> Result<JobTypeSpec, RegistryError> {
    if change.input_schema.is_some() || change.result_schema.is_some() {
        return Err(RegistryError::BuiltinSchema(spec.name));
    }
    spec.policy = policy(
        &spec.name,
        change.max_attempts.unwrap_or(spec.policy.max_attempts()),
        change.lease.unwrap_or(spec.policy.lease()),
    )?;
    if let Some(description) = change.description {
        spec.description = description;
    }
    if let Some(cache) = change.cache {
        spec.cache = cache;
    }
    if let Some(roles) = change.allowed_roles {
        spec.access.roles = roles;
    }
    if let Some(emails) = change.allowed_emails {
        spec.access.emails = emails;
    }
    if let Some(usernames) = change.allowed_usernames {
        spec.access.usernames = usernames;
    }
    if let Some(target) = change.compute_target {
        spec.compute_target = Some(target);
    }
    if let Some(engine) = change.engine {
        spec.engine = engine;
    }
    Ok(spec)
}

/// A type defined only in configuration, with defaults for what `change` leaves out.
fn new_type(name: JobTypeName, change: JobTypeOverride) -> Result<JobTypeSpec, RegistryError> {
    let Some(input_schema) = change.input_schema else {
        return Err(RegistryError::MissingInputSchema(name));
    };
    let policy = policy(
        &name,
        change.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        change
            .lease
            .unwrap_or_else(|| Duration::minutes(DEFAULT_LEASE_MINUTES)),
    )?;
    Ok(JobTypeSpec {
        name,
        description: change.description.unwrap_or_default(),
        input_schema,
        result_schema: change.result_schema,
        policy,
        cache: change.cache.unwrap_or(true),
        access: SubmitAccess {
            roles: change.allowed_roles.unwrap_or_default(),
            emails: change.allowed_emails.unwrap_or_default(),
            usernames: change.allowed_usernames.unwrap_or_default(),
        },
        compute_target: change.compute_target,
        engine: change.engine.unwrap_or_default(),
    })
}

/// A retry policy, or [`RegistryError::InvalidPolicy`] naming the type.
fn policy(
    name: &JobTypeName,
    max_attempts: u32,
    lease: Duration,
) -> Result<RetryPolicy, RegistryError> {
    RetryPolicy::new(max_attempts, lease).map_err(|error| RegistryError::InvalidPolicy {
        job_type: name.to_string(),
        reason: error.to_string(),
    })
}

/// Refuses every external resource: job type schemas must be self-contained, and the domain does
/// no I/O. (Installed explicitly so that no `jsonschema` feature enabled elsewhere in a build can
/// turn network or file retrieval back on.)
struct NoRetrieval;

impl Retrieve for NoRetrieval {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!(
            "external reference {} is not allowed: job type schemas must be self-contained",
            uri.as_str()
        )
        .into())
    }
}

/// Compiles one schema of the type `name` (`which` is `"input"` or `"result"`).
fn compile_schema(
    name: &JobTypeName,
    which: &'static str,
    schema: &Value,
) -> Result<Validator, RegistryError> {
    let invalid = |reason: String| RegistryError::InvalidSchema {
        job_type: name.to_string(),
        which,
        reason,
    };
    if let Some(declared) = schema.get("$schema")
        && Draft::default().detect(schema) == Draft::Unknown
    {
        return Err(invalid(format!(
            "unsupported $schema {declared}: use JSON Schema draft 4, 6, 7, 2019-09 or 2020-12"
        )));
    }
    jsonschema::options()
        .with_retriever(NoRetrieval)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| invalid(error.to_string()))
}

/// Turns the JSON pointer `pointer` into `payload` into the API's path style under `root`:
/// array indices become `[n]`, property names `.name` (or `["name"]` when not an identifier).
/// Whether a segment is an index is decided by the value it indexes, so a property named `"0"`
/// stays a property.
fn display_path(root: &str, pointer: &str, payload: &Value) -> String {
    let mut path = root.to_owned();
    let Some(segments) = pointer.strip_prefix('/') else {
        return path;
    };
    let mut current = Some(payload);
    for raw in segments.split('/') {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                let index = segment.parse::<usize>().ok();
                current = index.and_then(|index| items.get(index));
                match index {
                    Some(index) => path.push_str(&format!("[{index}]")),
                    None => push_property(&mut path, &segment),
                }
            }
            Some(Value::Object(fields)) => {
                current = fields.get(&segment);
                push_property(&mut path, &segment);
            }
            _ => {
                current = None;
                push_property(&mut path, &segment);
            }
        }
    }
    path
}

/// Appends `.name`, or `["name"]` when `name` is not an identifier.
fn push_property(path: &mut String, name: &str) {
    let mut chars = name.chars();
    let is_identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if is_identifier {
        path.push('.');
        path.push_str(name);
    } else {
        path.push('[');
        path.push_str(&Value::String(name.to_owned()).to_string());
        path.push(']');
    }
}
