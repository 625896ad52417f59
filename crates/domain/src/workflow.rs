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

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use crate::job::JobId;
use crate::job::JobStatus;
use crate::job::registry::JobTypeName;

#[cfg(test)]
mod tests;

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
