//! The capacity manager's ledger: one row per compute target, replaced whole.

use std::collections::BTreeSet;

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_ports::repositories::{CapacityLedger, TargetLedger};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait as _};

use super::stored_time;
use crate::SeaOrmStore;
use crate::entities::capacity_ledger;
use crate::errors::DbContext as _;

#[async_trait]
impl CapacityLedger for SeaOrmStore {
    async fn target_ledger(&self, target: &str) -> anyhow::Result<TargetLedger> {
        let Some(row) = capacity_ledger::Entity::find_by_id(target.to_owned())
            .one(&self.db)
            .await
            .db_context("cannot read the capacity ledger")?
        else {
            return Ok(TargetLedger::default());
        };
        let tasks: BTreeSet<String> = serde_json::from_value(row.tasks)
            .with_context(|| format!("the capacity ledger of {target:?} holds no task list"))?;
        Ok(TargetLedger {
            tasks,
            last_launch: row.last_launch_at,
        })
    }

    async fn record_target_ledger(
        &self,
        target: &str,
        ledger: &TargetLedger,
    ) -> anyhow::Result<()> {
        let row = capacity_ledger::ActiveModel {
            target: Set(target.to_owned()),
            tasks: Set(serde_json::json!(ledger.tasks)),
            last_launch_at: Set(ledger.last_launch.map(stored_time)),
            updated_at: Set(stored_time(self.clock.now())),
        };
        capacity_ledger::Entity::insert(row)
            .on_conflict(
                OnConflict::column(capacity_ledger::Column::Target)
                    .update_columns([
                        capacity_ledger::Column::Tasks,
                        capacity_ledger::Column::LastLaunchAt,
                        capacity_ledger::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .db_context("cannot record the capacity ledger")?;
        Ok(())
    }
}
