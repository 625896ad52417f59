//! Cluster administration (contract §8): the worker service's status, its desired worker count
//! and redeployment, on whichever [`ComputeCluster`] is wired (ECS or the local worker pool).
//!
//! Who may call these is decided at the route's scope (administrators only); the service holds
//! the business limit on the desired count, through [`DesiredCount`].

use std::sync::Arc;

use reefguide_domain::capacity::DesiredCount;

use crate::compute::{ComputeCluster, ComputeError, ServiceStatus};

/// The administration use cases of the worker cluster.
#[derive(Clone)]
pub struct ClusterAdminService {
    cluster: Arc<dyn ComputeCluster>,
}

impl ClusterAdminService {
    /// A service over `cluster`.
    pub fn new(cluster: Arc<dyn ComputeCluster>) -> Self {
        Self { cluster }
    }

    /// The cluster the service administers (also driven by the capacity manager).
    pub fn cluster(&self) -> &Arc<dyn ComputeCluster> {
        &self.cluster
    }

    /// The worker service's counts, deployments and recent events.
    ///
    /// # Errors
    /// [`ComputeError`] when the cluster fails.
    pub async fn status(&self) -> Result<ServiceStatus, ComputeError> {
        self.cluster.service_status().await
    }

    /// Asks the cluster to keep `count` workers running.
    ///
    /// # Errors
    /// [`ComputeError`] when the cluster fails.
    pub async fn scale(&self, count: DesiredCount) -> Result<(), ComputeError> {
        self.cluster.set_desired_count(count.get()).await
    }

    /// Restarts the worker service on its current definition.
    ///
    /// # Errors
    /// [`ComputeError`] when the cluster fails.
    pub async fn redeploy(&self) -> Result<(), ComputeError> {
        self.cluster.redeploy().await
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use crate::compute::MockComputeCluster;

    #[tokio::test]
    async fn scale_hands_the_checked_count_to_the_cluster() {
        let mut cluster = MockComputeCluster::new();
        cluster
            .expect_set_desired_count()
            .withf(|count| *count == 7)
            .times(1)
            .returning(|_| Ok(()));
        let service = ClusterAdminService::new(Arc::new(cluster));
        service
            .scale(DesiredCount::new(7).expect("in range"))
            .await
            .expect("scaled");
    }
}
