//! What the ECS cluster adapter is configured with, and how its SDK client is built from the
//! standard AWS chain plus those settings.

use std::collections::BTreeMap;

use anyhow::bail;
use aws_sdk_ecs::Client;

use super::EcsCluster;

/// The most tasks the worker service may be scaled to unless configured otherwise (contract §8).
pub const DEFAULT_MAX_DESIRED_COUNT: u32 = 10;

/// How tasks of one compute target are started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsTarget {
    /// The task definition (family, `family:revision` or ARN).
    pub task_definition: String,
    /// The worker container's name in the task definition, when it matters (e.g. overrides).
    pub container_name: Option<String>,
    /// The subnets of the awsvpc network configuration; none means no network configuration.
    pub subnets: Vec<String>,
    /// The security groups of the awsvpc network configuration.
    pub security_groups: Vec<String>,
    /// Whether the tasks get a public IP address.
    pub assign_public_ip: bool,
    /// Whether tasks use the `FARGATE` launch type (default); otherwise none is named and the
    /// cluster's default capacity provider strategy applies.
    pub launch_type_fargate: bool,
}

impl EcsTarget {
    /// A Fargate target running `task_definition` without network configuration or public IP.
    #[must_use]
    pub fn new(task_definition: impl Into<String>) -> Self {
        Self {
            task_definition: task_definition.into(),
            container_name: None,
            subnets: Vec::new(),
            security_groups: Vec::new(),
            assign_public_ip: false,
            launch_type_fargate: true,
        }
    }
}

/// Which ECS cluster and worker service the adapter manages, and how to reach ECS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsSettings {
    /// The cluster's name or ARN.
    pub cluster: String,
    /// The worker service's name (or ARN).
    pub service: String,
    /// How to run each compute target, by target name.
    pub targets: BTreeMap<String, EcsTarget>,
    /// An ECS-compatible endpoint (e.g. `http://127.0.0.1:5000` for moto) instead of AWS's own.
    pub endpoint_url: Option<String>,
    /// The region, overriding the one of the AWS chain.
    pub region: Option<String>,
    /// The most tasks the worker service may be scaled to (default
    /// [`DEFAULT_MAX_DESIRED_COUNT`]).
    pub max_desired_count: u32,
}

impl EcsSettings {
    /// Settings for `service` in `cluster` with no compute targets, AWS's endpoint, the region
    /// of the AWS chain and the default maximum desired count.
    #[must_use]
    pub fn new(cluster: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            service: service.into(),
            targets: BTreeMap::new(),
            endpoint_url: None,
            region: None,
            max_desired_count: DEFAULT_MAX_DESIRED_COUNT,
        }
    }
}

impl EcsCluster {
    /// An adapter for `settings`, with region and credentials from the standard AWS chain
    /// (environment, profile, IMDS or the ECS task role) and the overrides of `settings`.
    /// Credentials are resolved on first use, not here. Falls back to region `us-east-1` (with a
    /// warning) when none is configured anywhere.
    ///
    /// # Errors
    /// When the cluster or service name is empty.
    pub async fn connect(settings: EcsSettings) -> anyhow::Result<Self> {
        if settings.cluster.trim().is_empty() || settings.service.trim().is_empty() {
            bail!(
                "invalid ECS settings: cluster {:?} and service {:?} must both be named",
                settings.cluster,
                settings.service
            );
        }
        let shared = crate::aws::shared_config(
            "ECS",
            settings.region.clone(),
            settings.endpoint_url.as_deref(),
        )
        .await;
        Ok(Self::from_client(Client::new(&shared), settings))
    }
}

#[cfg(test)]
mod tests {
    use aws_config::Region;

    use super::*;

    #[test]
    fn defaults_are_fargate_and_ten_tasks() {
        let target = EcsTarget::new("worker:3");
        assert!(target.launch_type_fargate && !target.assign_public_ip);
        assert!(target.subnets.is_empty() && target.container_name.is_none());
        let settings = EcsSettings::new("cluster", "service");
        assert_eq!(settings.max_desired_count, 10);
        assert!(settings.targets.is_empty() && settings.endpoint_url.is_none());
    }

    #[tokio::test]
    async fn connect_refuses_unnamed_clusters_and_services() {
        for (cluster, service) in [("", "service"), ("cluster", " ")] {
            let connected = EcsCluster::connect(EcsSettings::new(cluster, service)).await;
            assert!(connected.is_err(), "{cluster:?} {service:?}");
        }
    }

    /// The endpoint is proven by the contract suite against moto.
    #[tokio::test]
    async fn connect_prefers_the_configured_region() {
        let settings = EcsSettings {
            endpoint_url: Some("http://127.0.0.1:9".to_owned()),
            region: Some("ap-southeast-2".to_owned()),
            ..EcsSettings::new("cluster", "service")
        };
        let cluster = EcsCluster::connect(settings).await.expect("a cluster");
        let region = cluster.client().config().region().cloned();
        assert_eq!(region, Some(Region::new("ap-southeast-2")));
    }
}
