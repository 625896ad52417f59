//! The `criteria` table: the criteria of ReefGuide's data specification, one definition each,
//! shared by every region that has it.

use sea_orm::entity::prelude::*;

/// A stored criterion.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "criteria")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Its name (unique).
    pub name: String,
    /// Its title for people.
    pub display_title: String,
    /// A subtitle, if any.
    pub display_subtitle: Option<String>,
    /// Its units, if any.
    pub units: Option<String>,
    /// The tooltip of its lower bound, if any.
    pub min_tooltip: Option<String>,
    /// The tooltip of its upper bound, if any.
    pub max_tooltip: Option<String>,
    /// The prefix of its properties in job payloads.
    pub payload_prefix: String,
    /// When it was first stored.
    pub created_at: DateTimeUtc,
    /// When a specification last named it.
    pub updated_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
