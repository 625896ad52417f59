//! The compute section: the cluster that runs workers (local processes or ECS) and the capacity
//! manager that starts them as the queue grows.

use std::collections::BTreeMap;

use reefguide_domain::capacity::{
    MAX_DESIRED_COUNT, ScalingPolicy, ScalingPolicyError, ScalingSettings,
};
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The worker cluster and the capacity manager.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ComputeSettings {
    /// The cluster running workers (the setting `compute`): `local` (worker processes on this
    /// machine) or `ecs`.
    #[serde(rename = "compute")]
    pub kind: ComputeKind,
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

impl CapacityTargetSettings {
    /// This target's scaling policy.
    ///
    /// # Errors
    /// When the numbers are out of range.
    pub fn scaling_policy(&self) -> Result<ScalingPolicy, ScalingPolicyError> {
        ScalingPolicy::new(ScalingSettings {
            sensitivity: self.sensitivity,
            factor: self.factor,
            min_workers: self.min_workers,
            max_workers: self.max_workers,
            cooldown: chrono::Duration::seconds(i64::from(self.cooldown_seconds)),
            max_launch_per_cycle: self.max_launch_per_cycle,
        })
    }
}

impl Default for ComputeSettings {
    fn default() -> Self {
        Self {
            kind: ComputeKind::Local,
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

impl ComputeSettings {
    /// Checks that ECS is named, the capacity manager's interval and policies, and the local
    /// pool's size.
    ///
    /// # Errors
    /// The first setting missing or out of range, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.kind == ComputeKind::Ecs
            && (self.ecs_cluster.is_none() || self.ecs_service.is_none())
        {
            return Err(ConfigError::invalid(
                "ecs_cluster",
                "compute = \"ecs\" needs ecs_cluster and ecs_service",
            ));
        }
        if self.capacity_interval_ms < 100 {
            return Err(ConfigError::invalid(
                "capacity_interval_ms",
                "must be at least 100",
            ));
        }
        for (name, target) in &self.capacity_targets {
            target
                .scaling_policy()
                .map_err(|e| ConfigError::invalid("capacity_targets", format!("{name}: {e}")))?;
        }
        if self.local_workers > self.local_max_workers {
            return Err(ConfigError::invalid(
                "local_workers",
                "must be at most local_max_workers",
            ));
        }
        Ok(())
    }

    /// The largest desired worker count an administrator may set on this cluster: the local
    /// pool's maximum (never above [`MAX_DESIRED_COUNT`]), or [`MAX_DESIRED_COUNT`] on ECS.
    #[must_use]
    pub fn max_desired_count(&self) -> u32 {
        match self.kind {
            ComputeKind::Local => self.local_max_workers.min(MAX_DESIRED_COUNT),
            ComputeKind::Ecs => MAX_DESIRED_COUNT,
        }
    }
}
