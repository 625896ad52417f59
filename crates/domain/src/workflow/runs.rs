//! A workflow job as LabCAS shows a run (labcas-contract §3): its run id, status, and the
//! parameters the user sent.

use serde_json::{Map, Value};

use super::DagRunId;
use crate::job::{Job, JobStatus};

/// The request key naming the data selection (collection) a run works on.
pub const DATA_SELECTION_KEY: &str = "in_data_selection";

/// LabCAS's status of a run whose job is in `status`; `triggered` says whether Airflow accepted
/// the current attempt's run (an attempt started but not yet accepted is still queued).
#[must_use]
pub fn run_status(status: JobStatus, triggered: bool) -> &'static str {
    match status {
        JobStatus::Pending => "queued",
        JobStatus::InProgress if !triggered => "queued",
        JobStatus::InProgress => "running",
        JobStatus::Succeeded => "success",
        JobStatus::Failed | JobStatus::TimedOut => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

/// The run id of `job`'s current (or, before its first trigger, first) attempt.
#[must_use]
pub fn current_run_id(job: &Job) -> DagRunId {
    DagRunId {
        job: job.id,
        attempt: job.state.attempts().max(1),
    }
}

/// The parameters of a run as the user sent them: the job's payload with the data selection
/// (LabCAS's `in_data_selection`); the keys the server adds for Airflow are never stored.
#[must_use]
pub fn sent_conf(job: &Job) -> Value {
    let mut conf = match &job.input_payload {
        Value::Object(payload) => payload.clone(),
        _ => Map::new(),
    };
    if let Some(run) = &job.workflow {
        conf.insert(
            DATA_SELECTION_KEY.to_owned(),
            Value::String(run.collection.to_string()),
        );
    }
    Value::Object(conf)
}

/// A run trigger as LabCAS clients send it: the flat form `{"in_data_selection", …params}` or
/// its spec's `{"workflow_id", "params": {"in_data_selection", …}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The data selection, when given.
    pub collection: Option<String>,
    /// The parameters (the payload of the job).
    pub params: Value,
}

/// Why a trigger body is not a run request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunRequestError {
    /// Not a JSON object (or `params` is not one).
    #[error("the body must be a JSON object of parameters")]
    NotAnObject,
    /// `in_data_selection` is not a string.
    #[error("in_data_selection must be a string")]
    BadDataSelection,
}

impl RunRequest {
    /// Reads a trigger body in either form.
    ///
    /// # Errors
    /// [`RunRequestError`] for a body that is not an object of parameters.
    pub fn parse(body: Value) -> Result<Self, RunRequestError> {
        let Value::Object(mut body) = body else {
            return Err(RunRequestError::NotAnObject);
        };
        let mut params = match body.remove("params") {
            Some(Value::Object(params)) => params,
            Some(_) => return Err(RunRequestError::NotAnObject),
            None => {
                body.remove("workflow_id");
                body
            }
        };
        let collection = match params.remove(DATA_SELECTION_KEY) {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id),
            Some(_) => return Err(RunRequestError::BadDataSelection),
        };
        Ok(Self {
            collection,
            params: Value::Object(params),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_forms_of_a_trigger_are_read() {
        let flat = RunRequest::parse(json!({"in_data_selection": "images", "tile_size": 3}));
        assert_eq!(
            flat,
            Ok(RunRequest {
                collection: Some("images".into()),
                params: json!({"tile_size": 3}),
            })
        );
        let spec = RunRequest::parse(json!({"workflow_id": "nebraska",
            "params": {"in_data_selection": "images", "tile_size": 3}}));
        assert_eq!(spec, flat);
        let none = RunRequest::parse(json!({"tile_size": 3})).expect("read");
        assert_eq!(none.collection, None);
        assert_eq!(
            RunRequest::parse(json!([1])),
            Err(RunRequestError::NotAnObject)
        );
        assert_eq!(
            RunRequest::parse(json!({"params": 3})),
            Err(RunRequestError::NotAnObject)
        );
        assert_eq!(
            RunRequest::parse(json!({"in_data_selection": 3})),
            Err(RunRequestError::BadDataSelection)
        );
    }

    #[test]
    fn statuses_are_labcas_words() {
        assert_eq!(run_status(JobStatus::Pending, false), "queued");
        assert_eq!(run_status(JobStatus::InProgress, false), "queued");
        assert_eq!(run_status(JobStatus::InProgress, true), "running");
        assert_eq!(run_status(JobStatus::Succeeded, true), "success");
        assert_eq!(run_status(JobStatus::TimedOut, false), "failed");
        assert_eq!(run_status(JobStatus::Cancelled, true), "cancelled");
    }
}
