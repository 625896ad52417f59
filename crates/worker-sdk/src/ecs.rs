//! Detection of the ECS task this worker runs in (task metadata endpoint v4).

use std::time::Duration;

use serde::Deserialize;

/// The environment variable ECS sets to the task metadata endpoint.
pub(crate) const METADATA_ENV: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// The task ARN and cluster passed along with claims so the server knows who holds a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EcsTask {
    pub task_arn: Option<String>,
    pub cluster_arn: Option<String>,
}

/// The ARNs sent where the server requires both (R1's `POST /api/jobs/assign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequiredArns {
    pub task_arn: String,
    pub cluster_arn: String,
}

impl EcsTask {
    /// The task's ARNs, each replaced by a placeholder naming `host` when unknown (outside ECS,
    /// or when the metadata endpoint failed): R1 refuses an assign without both strings.
    pub(crate) fn required_arns(&self, host: &str) -> RequiredArns {
        let placeholder = || placeholder_arn(host);
        RequiredArns {
            task_arn: self.task_arn.clone().unwrap_or_else(placeholder),
            cluster_arn: self.cluster_arn.clone().unwrap_or_else(placeholder),
        }
    }
}

/// What is sent instead of an unknown ARN: not an ARN, but it says which machine holds the job.
pub(crate) fn placeholder_arn(host: &str) -> String {
    format!("unknown (not an ECS task): host {host}")
}

/// This machine's host name, for placeholders and logs.
pub(crate) fn host_name() -> String {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_owned();
    if name.is_empty() {
        "unknown-host".to_owned()
    } else {
        name
    }
}

#[derive(Debug, Deserialize)]
struct TaskMetadata {
    #[serde(rename = "TaskARN", default)]
    task_arn: Option<String>,
    #[serde(rename = "Cluster", default)]
    cluster: Option<String>,
}

/// Asks the metadata endpoint (when `ECS_CONTAINER_METADATA_URI_V4` is set) for the task and
/// cluster; outside ECS, or when the endpoint fails, nothing is sent.
pub(crate) async fn detect(http: &reqwest::Client) -> EcsTask {
    let Ok(base) = std::env::var(METADATA_ENV) else {
        return EcsTask::default();
    };
    let url = format!("{}/task", base.trim_end_matches('/'));
    let answer = async {
        let response = http
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .error_for_status()?;
        response.json::<TaskMetadata>().await
    }
    .await;
    match answer {
        Ok(metadata) => {
            let task = parse(metadata);
            tracing::info!(task_arn = ?task.task_arn, cluster = ?task.cluster_arn, "running in ECS");
            task
        }
        Err(error) => {
            tracing::warn!(%url, error = %crate::client::error_chain(&error), "could not read the ECS task metadata");
            EcsTask::default()
        }
    }
}

fn parse(metadata: TaskMetadata) -> EcsTask {
    EcsTask {
        task_arn: metadata.task_arn.filter(|s| !s.is_empty()),
        cluster_arn: metadata.cluster.filter(|s| !s.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_task_metadata() {
        let body = r#"{"Cluster":"arn:aws:ecs:ap-southeast-2:1:cluster/reef","TaskARN":"arn:aws:ecs:ap-southeast-2:1:task/reef/abc","Family":"w","Containers":[]}"#;
        let metadata: TaskMetadata = serde_json::from_str(body).expect("parses");
        let task = parse(metadata);
        assert_eq!(
            task.task_arn.as_deref(),
            Some("arn:aws:ecs:ap-southeast-2:1:task/reef/abc")
        );
        assert_eq!(
            task.cluster_arn.as_deref(),
            Some("arn:aws:ecs:ap-southeast-2:1:cluster/reef")
        );
        let empty: TaskMetadata = serde_json::from_str("{}").expect("parses");
        assert_eq!(parse(empty), EcsTask::default());
    }

    #[test]
    fn required_arns_fall_back_to_placeholders_naming_the_host() {
        let outside = EcsTask::default().required_arns("node-7");
        assert_eq!(outside.task_arn, "unknown (not an ECS task): host node-7");
        assert_eq!(outside.cluster_arn, outside.task_arn);
        let inside = EcsTask {
            task_arn: Some("arn:task".into()),
            cluster_arn: None,
        }
        .required_arns("node-7");
        assert_eq!(inside.task_arn, "arn:task");
        assert_eq!(inside.cluster_arn, "unknown (not an ECS task): host node-7");
        assert!(!host_name().is_empty());
    }
}
