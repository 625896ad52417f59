//! Workflows: job types run by an external workflow engine (Airflow) on data collections
//! (labcas-contract §1, §2).
//!
//! A job type is run either by reefguide's own pull workers or by an Airflow DAG ([`Engine`]). An
//! Airflow job runs on a [`Collection`] (an archived data location that lists the workflows that
//! may run on it); the engine receives the job's input payload plus the keys of
//! [`RESERVED_PARAMETERS`], which a caller may therefore not send. Each trigger of a job is an
//! Airflow run named [`DagRunId`] (`reefguide-<job id>-<attempt>`), deterministic so that a
//! trigger repeated after a crash is recognised instead of run twice; its outputs go to a run
//! folder named after the job's creation time ([`run_folder`]). Airflow's run states map onto job
//! states with [`AirflowRunState::job_status`].
//!
//! Who may run which workflow on which collection is decided by
//! [`crate::access::may_run_workflow`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::job::registry::{JobTypeName, JobTypeRegistry};
use crate::job::{JobId, JobStatus, PayloadHash, StorageLocation, StorageScheme};

pub mod parameters;
pub mod runs;
#[cfg(test)]
mod tests;

pub use parameters::describe_parameters;

/// Longest Airflow `dag_id` (Airflow's own limit on keys).
pub const DAG_ID_MAX_LEN: usize = 250;

/// Longest collection id, in characters.
pub const COLLECTION_ID_MAX_LEN: usize = 128;

/// The payload keys the server gives an Airflow run itself (labcas-contract §2): a caller's
/// payload may not contain them.
pub const RESERVED_PARAMETERS: [&str; 6] = [
    "in_bucket",
    "in_prefix",
    "out_bucket",
    "out_prefix",
    "username",
    "job_id",
];

/// What runs the jobs of a type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// reefguide's pull workers (`/claim`, `/poll`), as for every ReefGuide type.
    #[default]
    Worker,
    /// An Airflow DAG, triggered by the server.
    Airflow {
        /// The DAG.
        dag_id: DagId,
    },
}

impl Engine {
    /// The engine's name on the wire (`worker` or `airflow`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Airflow { .. } => "airflow",
        }
    }

    /// The DAG of an Airflow type.
    pub fn dag_id(&self) -> Option<&DagId> {
        match self {
            Self::Worker => None,
            Self::Airflow { dag_id } => Some(dag_id),
        }
    }
}

/// An Airflow DAG id: 1 to [`DAG_ID_MAX_LEN`] ASCII letters, digits, `_`, `-` or `.` (Airflow's
/// rule for keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DagId(String);

/// Why a text is not a DAG id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "a dag_id must be 1 to {DAG_ID_MAX_LEN} characters: ASCII letters, digits, '_', '-' or '.'"
)]
pub struct InvalidDagId;

impl DagId {
    /// Checks Airflow's rule for keys.
    ///
    /// # Errors
    /// [`InvalidDagId`] when `raw` is empty, too long or has another character.
    pub fn parse(raw: &str) -> Result<Self, InvalidDagId> {
        if !is_key(raw, DAG_ID_MAX_LEN) {
            return Err(InvalidDagId);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A collection id (its name in the configuration): 1 to [`COLLECTION_ID_MAX_LEN`] ASCII
/// letters, digits, `_`, `-` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(String);

/// Why a text is not a collection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "a collection id must be 1 to {COLLECTION_ID_MAX_LEN} characters: ASCII letters, digits, \
     '_', '-' or '.'"
)]
pub struct InvalidCollectionId;

impl CollectionId {
    /// Checks the naming rule.
    ///
    /// # Errors
    /// [`InvalidCollectionId`] when `raw` is empty, too long or has another character.
    pub fn parse(raw: &str) -> Result<Self, InvalidCollectionId> {
        if !is_key(raw, COLLECTION_ID_MAX_LEN) {
            return Err(InvalidCollectionId);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets the catalog be searched with a `&str`.
impl std::borrow::Borrow<str> for CollectionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `raw` is 1 to `max_len` ASCII letters, digits, `_`, `-` or `.` (Airflow's rule for
/// keys, which collection ids follow too).
fn is_key(raw: &str, max_len: usize) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    !raw.is_empty() && raw.len() <= max_len && raw.chars().all(allowed)
}

/// Where data lives: an S3 bucket and key prefix, or a folder below the local result store.
/// A non-empty prefix always ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataLocation {
    /// `s3://<bucket>/<prefix>`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix (empty: the whole bucket).
        prefix: String,
    },
    /// `local://<prefix>`: below the local result store.
    Local {
        /// The relative folder (empty: the store's root).
        prefix: String,
    },
}

/// Why a text is not a data location.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidLocation {
    /// Neither `s3://` nor `local://`.
    #[error("a location must start with s3:// or local://")]
    Scheme,
    /// An S3 bucket name outside S3's rule.
    #[error(
        "an S3 bucket name must be 3 to 63 characters: lower-case letters, digits, '.' or '-', \
         starting and ending with a letter or digit"
    )]
    Bucket,
    /// A prefix with an empty, `.` or `..` segment, or a backslash.
    #[error("a location's path must not contain empty, '.' or '..' segments or backslashes")]
    Path,
}

impl DataLocation {
    /// Parses `s3://bucket/prefix` or `local://prefix` (a trailing `/` is added to a non-empty
    /// prefix).
    ///
    /// # Errors
    /// [`InvalidLocation`] naming what is wrong.
    pub fn parse(raw: &str) -> Result<Self, InvalidLocation> {
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !is_bucket_name(bucket) {
                return Err(InvalidLocation::Bucket);
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: folder(prefix)?,
            });
        }
        if let Some(rest) = raw.strip_prefix("local://") {
            return Ok(Self::Local {
                prefix: folder(rest)?,
            });
        }
        Err(InvalidLocation::Scheme)
    }

    /// The folder `child` (a relative folder path, e.g. `ana/20250403T191112825218/`) below this
    /// location.
    pub fn join(&self, child: &str) -> Self {
        match self {
            Self::S3 { bucket, prefix } => Self::S3 {
                bucket: bucket.clone(),
                prefix: format!("{prefix}{child}"),
            },
            Self::Local { prefix } => Self::Local {
                prefix: format!("{prefix}{child}"),
            },
        }
    }
}

impl fmt::Display for DataLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Self::Local { prefix } => write!(f, "local://{prefix}"),
        }
    }
}

/// S3's bucket naming rule (the common part: length, characters, ends).
fn is_bucket_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-');
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.chars().all(allowed)
        && edge(name.chars().next())
        && edge(name.chars().last())
}

/// A relative folder path, checked segment by segment, ending with `/` unless empty.
fn folder(path: &str) -> Result<String, InvalidLocation> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let bad = |segment: &str| segment.is_empty() || segment == "." || segment == "..";
    if trimmed.contains('\\') || trimmed.split('/').any(bad) {
        return Err(InvalidLocation::Path);
    }
    Ok(format!("{trimmed}/"))
}

/// A data collection: archived data that workflows run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// Its id (the name callers use).
    pub id: CollectionId,
    /// What it holds.
    pub description: String,
    /// Where its data is.
    pub location: DataLocation,
    /// The job types that may run on it.
    pub workflows: BTreeSet<JobTypeName>,
}

impl Collection {
    /// Whether `job_type` may run on this collection.
    pub fn offers(&self, job_type: &JobTypeName) -> bool {
        self.workflows.contains(job_type)
    }
}

/// A payload key the server reserves for itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the parameter {key:?} is set by the server and may not be given")]
pub struct ReservedParameter {
    /// The first reserved key found (in [`RESERVED_PARAMETERS`] order).
    pub key: &'static str,
}

/// Refuses a payload that sets any of [`RESERVED_PARAMETERS`] (a payload that is not an object
/// sets none).
///
/// # Errors
/// [`ReservedParameter`] naming the first reserved key found.
pub fn check_reserved_parameters(payload: &Value) -> Result<(), ReservedParameter> {
    let Some(object) = payload.as_object() else {
        return Ok(());
    };
    match RESERVED_PARAMETERS
        .iter()
        .find(|key| object.contains_key(**key))
    {
        Some(key) => Err(ReservedParameter { key }),
        None => Ok(()),
    }
}

/// The name of a job's run folder: its creation time in UTC as `YYYYmmddTHHMMSSffffff` (how
/// LabCAS names run folders), e.g. `20250403T191112825218`.
pub fn run_folder(created_at: DateTime<Utc>) -> String {
    created_at.format("%Y%m%dT%H%M%S%6f").to_string()
}

/// The Airflow run of one attempt of a job: `reefguide-<job id>-<attempt>`, attempts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DagRunId {
    /// The job.
    pub job: JobId,
    /// The attempt (1 for the first trigger).
    pub attempt: u32,
}

impl DagRunId {
    /// The prefix of every run id the server triggers.
    pub const PREFIX: &'static str = "reefguide-";

    /// Reads a run id the server triggered; `None` for any other run (triggered by hand, or by
    /// Airflow's scheduler).
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(Self::PREFIX)?;
        let (job, attempt) = rest.split_once('-')?;
        let canonical =
            |digits: &str| !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
        if !canonical(job) || !canonical(attempt) {
            return None;
        }
        let job = JobId::new(job.parse().ok()?).ok()?;
        let attempt = attempt.parse().ok().filter(|attempt| *attempt > 0)?;
        Some(Self { job, attempt })
    }
}

impl fmt::Display for DagRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}-{}", Self::PREFIX, self.job, self.attempt)
    }
}

/// The state of an Airflow DAG run (Airflow 2's `DagRunState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AirflowRunState {
    /// Waiting to be scheduled (also while the DAG is paused).
    Queued,
    /// Running.
    Running,
    /// Every task succeeded (or was skipped).
    Success,
    /// A task failed, or the run was marked failed (how a run is cancelled).
    Failed,
}

/// A run state Airflow answered that this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown Airflow run state {0:?}")]
pub struct UnknownRunState(pub String);

impl AirflowRunState {
    /// Reads Airflow's name of the state.
    ///
    /// # Errors
    /// [`UnknownRunState`] for any other name.
    pub fn parse(raw: &str) -> Result<Self, UnknownRunState> {
        match raw {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "success" => Ok(Self::Success),
            "failed" => Ok(Self::Failed),
            other => Err(UnknownRunState(other.to_owned())),
        }
    }

    /// Airflow's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    /// The status of the job whose current run is in this state.
    pub fn job_status(self) -> JobStatus {
        match self {
            Self::Queued | Self::Running => JobStatus::InProgress,
            Self::Success => JobStatus::Succeeded,
            Self::Failed => JobStatus::Failed,
        }
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }
}

/// The data collections of a deployment, by id, each checked against the job types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collections {
    by_id: BTreeMap<CollectionId, Collection>,
}

/// Why the collections do not fit the job types.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CollectionsError {
    /// A collection lists a workflow that is not a job type of the deployment.
    #[error("collection {collection} lists {workflow:?}, which is not a job type")]
    UnknownWorkflow {
        /// The collection.
        collection: CollectionId,
        /// The name it lists.
        workflow: String,
    },
    /// A collection lists a type that reefguide's workers run: only Airflow types run on
    /// collections.
    #[error("collection {collection} lists {workflow}, which is not an Airflow job type")]
    NotAWorkflow {
        /// The collection.
        collection: CollectionId,
        /// The type.
        workflow: JobTypeName,
    },
}

impl Collections {
    /// Checks that every workflow each collection lists is an Airflow type of `registry`.
    ///
    /// # Errors
    /// [`CollectionsError`] for the first collection (in id order) that lists anything else.
    pub fn new(
        collections: impl IntoIterator<Item = Collection>,
        registry: &JobTypeRegistry,
    ) -> Result<Self, CollectionsError> {
        let by_id: BTreeMap<_, _> = collections
            .into_iter()
            .map(|collection| (collection.id.clone(), collection))
            .collect();
        for collection in by_id.values() {
            for workflow in &collection.workflows {
                let Some(job_type) = registry.get(workflow.as_str()) else {
                    return Err(CollectionsError::UnknownWorkflow {
                        collection: collection.id.clone(),
                        workflow: workflow.to_string(),
                    });
                };
                if job_type.is_worker_run() {
                    return Err(CollectionsError::NotAWorkflow {
                        collection: collection.id.clone(),
                        workflow: workflow.clone(),
                    });
                }
            }
        }
        Ok(Self { by_id })
    }

    /// The collection called `id`.
    pub fn get(&self, id: &str) -> Option<&Collection> {
        self.by_id.get(id)
    }

    /// Every collection, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Collection> {
        self.by_id.values()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// What an Airflow job needs besides its payload, fixed when it is submitted: the collection it
/// runs on, the submitter's username and the run folder its outputs go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRun {
    /// The collection.
    pub collection: CollectionId,
    /// The submitter's username (their external username, else their email).
    pub username: String,
    /// The run folder: `<staging>/<username>/<run folder>/` ([`run_folder`]).
    pub output: DataLocation,
}

/// Why a username cannot name a run folder.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the username {0:?} cannot name a folder")]
pub struct UnusableUsername(pub String);

impl WorkflowRun {
    /// The run of a job on `collection` submitted by `username` at `created_at`, its outputs
    /// below `staging`.
    ///
    /// # Errors
    /// [`UnusableUsername`] when the username is not one folder name (empty, `.`, `..`, or with
    /// `/` or `\`).
    pub fn new(
        collection: CollectionId,
        username: &str,
        staging: &DataLocation,
        created_at: DateTime<Utc>,
    ) -> Result<Self, UnusableUsername> {
        let unusable = username.is_empty()
            || username == "."
            || username == ".."
            || username.contains(['/', '\\']);
        if unusable {
            return Err(UnusableUsername(username.to_owned()));
        }
        Ok(Self {
            collection,
            username: username.to_owned(),
            output: staging.join(&format!("{username}/{}/", run_folder(created_at))),
        })
    }
}

/// Where the local store keeps its files: the absolute folder behind `local://` locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoot(String);

impl LocalRoot {
    /// The folder at the absolute path `path` (a trailing `/` is dropped).
    pub fn new(path: &str) -> Self {
        Self(path.trim_end_matches('/').to_owned())
    }

    /// The absolute path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DataLocation {
    /// The `(bucket, prefix)` an Airflow run is given for this location (labcas-contract §2): an
    /// S3 bucket and key prefix, or for `local://` an empty bucket and the absolute folder path
    /// (ending with `/`) below `root`.
    pub fn conf_parts(&self, root: &LocalRoot) -> (String, String) {
        match self {
            Self::S3 { bucket, prefix } => (bucket.clone(), prefix.clone()),
            Self::Local { prefix } => (String::new(), format!("{}/{prefix}", root.as_str())),
        }
    }

    /// The location as the object store names it (where `GET /api/jobs/:id/download` lists
    /// files): `s3://bucket/prefix` or `file://<root>/prefix`, without a trailing `/`.
    pub fn storage_location(&self, root: &LocalRoot) -> StorageLocation {
        match self {
            Self::S3 { bucket, prefix } => StorageLocation {
                scheme: StorageScheme::S3,
                uri: format!("s3://{bucket}/{}", prefix.trim_end_matches('/'))
                    .trim_end_matches('/')
                    .to_owned(),
            },
            Self::Local { prefix } => StorageLocation {
                scheme: StorageScheme::Local,
                uri: format!("file://{}/{}", root.as_str(), prefix.trim_end_matches('/'))
                    .trim_end_matches('/')
                    .to_owned(),
            },
        }
    }
}

/// The `conf` of a job's Airflow run (labcas-contract §2): the input payload's keys plus the
/// reserved parameters, the input location from the collection and the output location from the
/// run. A payload that is not an object contributes no keys.
pub fn run_conf(
    job: JobId,
    payload: &Value,
    run: &WorkflowRun,
    collection: &DataLocation,
    root: &LocalRoot,
) -> Map<String, Value> {
    let mut conf = payload.as_object().cloned().unwrap_or_default();
    let (in_bucket, in_prefix) = collection.conf_parts(root);
    let (out_bucket, out_prefix) = run.output.conf_parts(root);
    conf.insert("in_bucket".into(), Value::String(in_bucket));
    conf.insert("in_prefix".into(), Value::String(in_prefix));
    conf.insert("out_bucket".into(), Value::String(out_bucket));
    conf.insert("out_prefix".into(), Value::String(out_prefix));
    conf.insert("username".into(), Value::String(run.username.clone()));
    conf.insert("job_id".into(), Value::from(job.get()));
    conf
}

/// The cache hash of a workflow job: the payload hash of `{"collection", "username",
/// "inputPayload"}`, so that the same parameters on two collections are two jobs, and so are the
/// same request of two users: a run's outputs live in its user's own folder, which nobody else
/// may browse, so a user's cache hit is only ever their own earlier run.
pub fn workflow_hash(
    job_type: &JobTypeName,
    collection: &CollectionId,
    username: &str,
    payload: &Value,
) -> PayloadHash {
    let hashed = serde_json::json!({
        "collection": collection.as_str(),
        "username": username,
        "inputPayload": payload,
    });
    PayloadHash::compute(job_type.as_str(), &hashed)
}
