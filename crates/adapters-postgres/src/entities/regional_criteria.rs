//! The `regional_criteria` table: each criterion's range in each region that has it.

use sea_orm::entity::prelude::*;

/// A stored range of a criterion in a region.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "regional_criteria")]
pub struct Model {
    /// Auto-incremented id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The region (`regions.id`, deleted with it).
    pub region_id: i32,
    /// The criterion (`criteria.id`, deleted with it).
    pub criteria_id: i32,
    /// Lowest value.
    pub min_val: f64,
    /// Highest value.
    pub max_val: f64,
    /// Default lower bound.
    pub default_min_val: f64,
    /// Default upper bound.
    pub default_max_val: f64,
    /// When it was stored.
    pub created_at: DateTimeUtc,
    /// When it was stored (a replaced specification stores its ranges anew).
    pub updated_at: DateTimeUtc,
}

/// Relations are not navigated through sea-orm; the foreign keys live in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
