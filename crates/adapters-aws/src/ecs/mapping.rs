//! Pure translations of ECS SDK values into the port's domain of services and tasks.

use std::cmp::Reverse;
use std::collections::HashMap;

use aws_sdk_ecs::primitives::DateTime as SdkDateTime;
use aws_sdk_ecs::types::{Deployment as SdkDeployment, Service, ServiceEvent as SdkEvent, Task};
use chrono::{DateTime, Utc};
use reefguide_ports::{Deployment, ServiceEvent, ServiceStatus, TaskInfo, TaskState};

/// How many service events the status shows (contract §8).
const EVENTS_SHOWN: usize = 5;

/// The status of `service` as contract §8 shows it.
pub(super) fn service_status(service: &Service) -> ServiceStatus {
    ServiceStatus {
        running_count: count(service.running_count()),
        pending_count: count(service.pending_count()),
        desired_count: count(service.desired_count()),
        deployments: deployments(service.deployments()),
        events: latest_events(service.events()),
        service_status: service.status().unwrap_or_default().to_owned(),
    }
}

/// The deployments, newest first.
fn deployments(deployments: &[SdkDeployment]) -> Vec<Deployment> {
    let mut sorted: Vec<&SdkDeployment> = deployments.iter().collect();
    sorted.sort_by_key(|d| Reverse(d.created_at().map(SdkDateTime::as_nanos)));
    sorted.into_iter().map(deployment).collect()
}

/// One deployment.
fn deployment(deployment: &SdkDeployment) -> Deployment {
    Deployment {
        status: deployment.status().unwrap_or_default().to_owned(),
        task_definition: deployment.task_definition().unwrap_or_default().to_owned(),
        desired_count: count(deployment.desired_count()),
        pending_count: count(deployment.pending_count()),
        running_count: count(deployment.running_count()),
        failed_tasks: count(deployment.failed_tasks()),
        rollout_state: deployment.rollout_state().map(|s| s.as_str().to_owned()),
        rollout_state_reason: deployment.rollout_state_reason().map(str::to_owned),
    }
}

/// The latest [`EVENTS_SHOWN`] events with a time, newest first.
fn latest_events(events: &[SdkEvent]) -> Vec<ServiceEvent> {
    let mut timed: Vec<ServiceEvent> = events.iter().filter_map(event).collect();
    timed.sort_by_key(|e| Reverse(e.created_at));
    timed.truncate(EVENTS_SHOWN);
    timed
}

/// One event, if it says when it happened.
fn event(event: &SdkEvent) -> Option<ServiceEvent> {
    let created_at = event.created_at().and_then(instant)?;
    Some(ServiceEvent {
        created_at,
        message: event.message().unwrap_or_default().to_owned(),
    })
}

/// An SDK instant as a chrono one (`None` when out of chrono's range).
fn instant(at: &SdkDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.secs(), at.subsec_nanos())
}

/// An ECS count (never negative in practice) as a `u32`.
fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// Where a task with ECS `lastStatus` `status` is in its life. Statuses ECS may add later count
/// as starting, so that a task of unknown status is not replaced by another.
pub(super) fn task_state(status: &str) -> TaskState {
    match status {
        "RUNNING" => TaskState::Running,
        "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" | "STOPPED" | "DELETED" => {
            TaskState::Stopped
        }
        _ => TaskState::Starting,
    }
}

/// The states of described `tasks`, by ARN and by task id (the ARN's last segment), so that
/// callers may name tasks either way.
pub(super) fn states_by_id(tasks: &[Task]) -> HashMap<String, TaskState> {
    let mut states = HashMap::new();
    for task in tasks {
        let Some(arn) = task.task_arn() else { continue };
        let state = task_state(task.last_status().unwrap_or_default());
        if let Some((_, id)) = arn.rsplit_once('/') {
            states.insert(id.to_owned(), state);
        }
        states.insert(arn.to_owned(), state);
    }
    states
}

/// The state of each of `ids` in order; ids not described are stopped.
pub(super) fn task_infos(ids: &[String], states: &HashMap<String, TaskState>) -> Vec<TaskInfo> {
    ids.iter()
        .map(|id| TaskInfo {
            id: id.clone(),
            state: states.get(id).copied().unwrap_or(TaskState::Stopped),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::DeploymentRolloutState;

    use super::*;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/cluster/abc123";

    #[test]
    fn task_states_follow_the_ecs_lifecycle() {
        for status in ["PROVISIONING", "PENDING", "ACTIVATING", ""] {
            assert_eq!(task_state(status), TaskState::Starting, "{status}");
        }
        assert_eq!(task_state("RUNNING"), TaskState::Running);
        for status in ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"] {
            assert_eq!(task_state(status), TaskState::Stopped, "{status}");
        }
    }

    #[test]
    fn tasks_are_found_by_arn_or_id_and_unknown_ones_are_stopped() {
        let task = Task::builder().task_arn(ARN).last_status("RUNNING").build();
        let states = states_by_id(&[task]);
        let ids = [ARN.to_owned(), "abc123".to_owned(), "nope".to_owned()];
        let infos = task_infos(&ids, &states);
        let got: Vec<(&str, TaskState)> = infos.iter().map(|t| (t.id.as_str(), t.state)).collect();
        assert_eq!(
            got,
            [
                (ARN, TaskState::Running),
                ("abc123", TaskState::Running),
                ("nope", TaskState::Stopped)
            ]
        );
    }

    #[test]
    fn status_shows_deployments_and_the_latest_five_events_newest_first() {
        let events = (0..7).map(|i| {
            SdkEvent::builder()
                .created_at(SdkDateTime::from_secs(1_700_000_000 + i))
                .message(format!("event {i}"))
                .build()
        });
        let old = SdkDeployment::builder()
            .status("ACTIVE")
            .task_definition("worker:1")
            .created_at(SdkDateTime::from_secs(1))
            .build();
        let new = SdkDeployment::builder()
            .status("PRIMARY")
            .task_definition("worker:2")
            .desired_count(2)
            .failed_tasks(1)
            .rollout_state(DeploymentRolloutState::InProgress)
            .rollout_state_reason("starting")
            .created_at(SdkDateTime::from_secs(2))
            .build();
        let service = Service::builder()
            .status("ACTIVE")
            .desired_count(2)
            .running_count(1)
            .pending_count(-1)
            .deployments(old)
            .deployments(new)
            .set_events(Some(events.collect()))
            .build();
        let status = service_status(&service);
        assert_eq!(
            (
                status.desired_count,
                status.running_count,
                status.pending_count
            ),
            (2, 1, 0)
        );
        assert_eq!(status.service_status, "ACTIVE");
        let messages: Vec<&str> = status.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            ["event 6", "event 5", "event 4", "event 3", "event 2"]
        );
        let primary = &status.deployments[0];
        assert_eq!(
            (primary.status.as_str(), primary.failed_tasks),
            ("PRIMARY", 1)
        );
        assert_eq!(primary.rollout_state.as_deref(), Some("IN_PROGRESS"));
        assert_eq!(primary.rollout_state_reason.as_deref(), Some("starting"));
        assert_eq!(status.deployments[1].task_definition, "worker:1");
    }
}
