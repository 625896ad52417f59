//! The `user_logs` table: the user audit log.

use sea_orm::entity::prelude::*;

/// A stored audit-log entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_logs")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The user the entry is about. Deliberately not a foreign key: entries outlive the user.
    pub user_id: i32,
    /// When it happened.
    pub time: DateTimeUtc,
    /// Action name (`LOGIN`, `LOGOUT`, `CHANGE_PASSWORD`, `UPDATED`, `CREATED`, `DELETED`).
    pub action: String,
    /// Free-form JSON detail.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
}

/// Relations are not navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
