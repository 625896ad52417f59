//! The ECS compute cluster: the worker service of contract §8 (status, scaling, forced
//! redeployment) and tasks started per compute target by the capacity manager.
//!
//! Region and credentials come from the standard AWS chain; [`EcsSettings`] names the cluster,
//! the worker service and how each compute target's tasks run ([`EcsTarget`]), and may override
//! the region and point the client at an ECS-compatible endpoint (moto). Every SDK failure becomes
//! [`ComputeError::Upstream`] carrying the SDK's full error context.

mod mapping;
mod settings;

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::operation::run_task::RunTaskOutput;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentConfiguration, Failure, LaunchType,
    NetworkConfiguration, Service,
};
use reefguide_ports::{ComputeCluster, ComputeError, ServiceStatus, TaskInfo};

pub use self::settings::{DEFAULT_MAX_DESIRED_COUNT, EcsSettings, EcsTarget};

/// Most tasks one RunTask call starts.
const RUN_TASK_BATCH: u32 = 10;
/// Most tasks one DescribeTasks call describes.
const DESCRIBE_TASKS_BATCH: usize = 100;
/// Who started the capacity manager's tasks, as ECS records it.
const STARTED_BY: &str = "reefguide-capacity";
/// The share of the desired count kept running during a forced redeployment (contract §8).
const MINIMUM_HEALTHY_PERCENT: i32 = 50;
/// The most tasks, as a share of the desired count, running during a redeployment (contract §8).
const MAXIMUM_PERCENT: i32 = 200;

/// Workers on ECS (see the module documentation).
#[derive(Clone, Debug)]
pub struct EcsCluster {
    client: Client,
    settings: EcsSettings,
}

impl EcsCluster {
    /// An adapter using an already configured `client` (its endpoint, region and credentials);
    /// the endpoint and region of `settings` are not used.
    #[must_use]
    pub fn from_client(client: Client, settings: EcsSettings) -> Self {
        Self { client, settings }
    }

    /// The SDK client, e.g. to create a cluster in tests.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings this adapter runs with.
    #[must_use]
    pub fn settings(&self) -> &EcsSettings {
        &self.settings
    }

    /// The worker service as DescribeServices reports it.
    async fn describe_service(&self) -> Result<Service, ComputeError> {
        let described = self
            .client
            .describe_services()
            .cluster(&self.settings.cluster)
            .services(&self.settings.service)
            .send()
            .await
            .map_err(|e| self.upstream(&self.of_service("DescribeServices"), e))?;
        let wanted = |s: &&Service| {
            let name = Some(self.settings.service.as_str());
            s.service_name() == name || s.service_arn() == name
        };
        if let Some(service) = described.services().iter().find(wanted) {
            return Ok(service.clone());
        }
        Err(ComputeError::Upstream(format!(
            "service {:?} not found in cluster {:?}{}",
            self.settings.service,
            self.settings.cluster,
            reasons(described.failures())
        )))
    }

    /// Updates the worker service with `desired_count`, or a forced new deployment.
    async fn update_service(&self, update: ServiceUpdate) -> Result<(), ComputeError> {
        let request = self
            .client
            .update_service()
            .cluster(&self.settings.cluster)
            .service(&self.settings.service);
        let request = match update {
            ServiceUpdate::DesiredCount(count) => request.desired_count(count),
            ServiceUpdate::Redeploy => request
                .force_new_deployment(true)
                .deployment_configuration(redeploy_configuration()),
        };
        request
            .send()
            .await
            .map_err(|e| self.upstream(&self.of_service("UpdateService"), e))?;
        Ok(())
    }

    /// Starts `count` (at most [`RUN_TASK_BATCH`]) tasks of `target`; their ARNs. Tasks ECS
    /// refused are logged.
    async fn run_batch(&self, target: &EcsTarget, count: u32) -> Result<Vec<String>, ComputeError> {
        let count = i32::try_from(count).unwrap_or(1);
        let output = self
            .client
            .run_task()
            .cluster(&self.settings.cluster)
            .task_definition(&target.task_definition)
            .count(count)
            .started_by(STARTED_BY)
            .set_launch_type(target.launch_type_fargate.then_some(LaunchType::Fargate))
            .set_network_configuration(network_configuration(target)?)
            .send()
            .await
            .map_err(|e| self.upstream("RunTask", e))?;
        log_failures(&target.task_definition, output.failures());
        Ok(started_arns(&output))
    }

    /// The states of `ids` (at most [`DESCRIBE_TASKS_BATCH`]).
    async fn describe_batch(&self, ids: &[String]) -> Result<Vec<TaskInfo>, ComputeError> {
        let described = self
            .client
            .describe_tasks()
            .cluster(&self.settings.cluster)
            .set_tasks(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| self.upstream("DescribeTasks", e))?;
        for failure in described.failures() {
            if failure.reason() != Some("MISSING") {
                tracing::warn!(
                    task = failure.arn(),
                    reason = failure.reason(),
                    detail = failure.detail(),
                    "ECS could not describe a task; counting it as stopped"
                );
            }
        }
        let states = mapping::states_by_id(described.tasks());
        Ok(mapping::task_infos(ids, &states))
    }

    /// `action` naming the worker service, for error messages.
    fn of_service(&self, action: &str) -> String {
        format!("{action} of service {:?}", self.settings.service)
    }

    /// An SDK failure of `action` as an upstream error naming the cluster and the SDK's context.
    fn upstream(&self, action: &str, error: impl std::error::Error) -> ComputeError {
        ComputeError::Upstream(format!(
            "ECS {action} in cluster {:?} failed: {}",
            self.settings.cluster,
            DisplayErrorContext(error)
        ))
    }
}

/// A change to the worker service.
enum ServiceUpdate {
    /// Keep this many tasks running.
    DesiredCount(i32),
    /// Replace every task (forced new deployment).
    Redeploy,
}

/// The deployment configuration of a forced redeployment (contract §8).
fn redeploy_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .minimum_healthy_percent(MINIMUM_HEALTHY_PERCENT)
        .maximum_percent(MAXIMUM_PERCENT)
        .build()
}

/// The awsvpc network configuration of `target`, when it names subnets.
fn network_configuration(target: &EcsTarget) -> Result<Option<NetworkConfiguration>, ComputeError> {
    if target.subnets.is_empty() {
        return Ok(None);
    }
    let assign = if target.assign_public_ip {
        AssignPublicIp::Enabled
    } else {
        AssignPublicIp::Disabled
    };
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(target.subnets.clone()))
        .set_security_groups(Some(target.security_groups.clone()))
        .assign_public_ip(assign)
        .build()
        .map_err(|e| {
            ComputeError::Invalid(format!(
                "invalid network configuration for task definition {:?}: {}",
                target.task_definition,
                DisplayErrorContext(e)
            ))
        })?;
    Ok(Some(
        NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build(),
    ))
}

/// The ARNs of the tasks RunTask started.
fn started_arns(output: &RunTaskOutput) -> Vec<String> {
    output
        .tasks()
        .iter()
        .filter_map(|task| task.task_arn().map(str::to_owned))
        .collect()
}

/// Logs each task RunTask could not start, with ECS's reason.
fn log_failures(task_definition: &str, failures: &[Failure]) {
    for failure in failures {
        tracing::warn!(
            task_definition,
            arn = failure.arn(),
            reason = failure.reason(),
            detail = failure.detail(),
            "ECS did not start a task"
        );
    }
}

/// ` (<arn>: <reason>, …)` for DescribeServices failures, or nothing.
fn reasons(failures: &[Failure]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = failures
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f.arn().unwrap_or("?"),
                f.reason().unwrap_or("no reason given")
            )
        })
        .collect();
    format!(" ({})", listed.join(", "))
}

#[async_trait]
impl ComputeCluster for EcsCluster {
    async fn service_status(&self) -> Result<ServiceStatus, ComputeError> {
        let service = self.describe_service().await?;
        Ok(mapping::service_status(&service))
    }

    async fn set_desired_count(&self, count: u32) -> Result<(), ComputeError> {
        let max = self.settings.max_desired_count;
        let desired = i32::try_from(count)
            .ok()
            .filter(|_| count <= max)
            .ok_or_else(|| {
                ComputeError::Invalid(format!(
                    "desired count {count} is over the maximum of {max}"
                ))
            })?;
        self.update_service(ServiceUpdate::DesiredCount(desired))
            .await
    }

    async fn redeploy(&self) -> Result<(), ComputeError> {
        self.update_service(ServiceUpdate::Redeploy).await
    }

    async fn run_tasks(&self, target: &str, count: u32) -> Result<Vec<String>, ComputeError> {
        let Some(ecs_target) = self.settings.targets.get(target) else {
            return Err(ComputeError::UnknownTarget(target.to_owned()));
        };
        let mut started = Vec::new();
        let mut remaining = count;
        while remaining > 0 {
            let batch = remaining.min(RUN_TASK_BATCH);
            match self.run_batch(ecs_target, batch).await {
                Ok(arns) if arns.is_empty() => break,
                Ok(arns) => started.extend(arns),
                Err(error) if started.is_empty() => return Err(error),
                Err(error) => {
                    tracing::warn!(target, %error, "stopped starting tasks after a failure");
                    break;
                }
            }
            remaining -= batch;
        }
        Ok(started)
    }

    async fn describe_tasks(&self, ids: &[String]) -> Result<Vec<TaskInfo>, ComputeError> {
        let mut infos = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(DESCRIBE_TASKS_BATCH) {
            infos.extend(self.describe_batch(chunk).await?);
        }
        Ok(infos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_configuration_is_awsvpc_only_with_subnets() {
        let mut target = EcsTarget::new("worker");
        assert_eq!(network_configuration(&target).expect("valid"), None);
        target.subnets = vec!["subnet-1".to_owned()];
        target.security_groups = vec!["sg-1".to_owned()];
        target.assign_public_ip = true;
        let config = network_configuration(&target)
            .expect("valid")
            .expect("some");
        let vpc = config.awsvpc_configuration().expect("awsvpc");
        assert_eq!(
            (vpc.subnets(), vpc.security_groups()),
            (&["subnet-1".to_owned()][..], &["sg-1".to_owned()][..])
        );
        assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Enabled));
    }

    #[test]
    fn redeploys_keep_half_and_allow_double() {
        let config = redeploy_configuration();
        assert_eq!(config.minimum_healthy_percent(), Some(50));
        assert_eq!(config.maximum_percent(), Some(200));
    }

    #[test]
    fn failure_reasons_are_listed() {
        assert_eq!(reasons(&[]), "");
        let missing = Failure::builder().arn("arn:svc").reason("MISSING").build();
        assert_eq!(reasons(&[missing]), " (arn:svc: MISSING)");
    }
}
