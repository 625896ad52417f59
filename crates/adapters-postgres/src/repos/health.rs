//! [`HealthCheck`] for [`SeaOrmStore`].

use async_trait::async_trait;
use reefguide_ports::HealthCheck;

use crate::SeaOrmStore;
use crate::errors::DbContext as _;

#[async_trait]
impl HealthCheck for SeaOrmStore {
    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await.db_context("database ping failed")
    }
}
