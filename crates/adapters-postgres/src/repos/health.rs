//! [`HealthCheck`] for [`SeaOrmStore`].

use async_trait::async_trait;
use reefguide_ports::HealthCheck;

use crate::SeaOrmStore;
use crate::errors::db_error;

#[async_trait]
impl HealthCheck for SeaOrmStore {
    async fn ping(&self) -> anyhow::Result<()> {
        self.db
            .ping()
            .await
            .map_err(|err| db_error("database ping failed", err))
    }
}
