//! The `capacity_ledger` table: what the capacity manager remembers of each compute target.

use sea_orm::entity::prelude::*;

/// One compute target's record.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "capacity_ledger")]
pub struct Model {
    /// The compute target's name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    /// The ids of the tasks alive when last seen, as a JSON array of strings.
    pub tasks: Json,
    /// When the manager last tried to start tasks.
    pub last_launch_at: Option<DateTimeUtc>,
    /// When the record was written.
    pub updated_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
