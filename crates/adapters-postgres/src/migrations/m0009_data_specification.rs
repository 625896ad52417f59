//! ReefGuide's data specification (issue 27, reefguide-r2 §3.2): `regions`, `criteria` and
//! `regional_criteria` (each criterion's range in each region), with R2's table and column names
//! so that its rows map one to one.
//!
//! Region and criterion names are unique (the specification addresses them by name); a criterion
//! appears at most once per region. A region's or a criterion's ranges go with it
//! (`ON DELETE CASCADE`), which is how a replaced specification drops what it no longer names.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    double, integer, pk_auto, text, text_null, timestamp_with_time_zone,
};

use super::{cascading_foreign_key, create_index};

/// Creates `regions`, `criteria` and `regional_criteria`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// A unique index over `columns`.
async fn create_unique_index<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
    name: &str,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.if_not_exists().unique().name(name).table(table);
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Regions::Table)
                    .if_not_exists()
                    .col(pk_auto(Regions::Id))
                    .col(text(Regions::Name))
                    .col(text(Regions::DisplayName))
                    .col(text_null(Regions::Description))
                    .col(timestamp_with_time_zone(Regions::CreatedAt))
                    .col(timestamp_with_time_zone(Regions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        create_unique_index(manager, Regions::Table, [Regions::Name], "idx_regions_name").await?;

        manager
            .create_table(
                Table::create()
                    .table(Criteria::Table)
                    .if_not_exists()
                    .col(pk_auto(Criteria::Id))
                    .col(text(Criteria::Name))
                    .col(text(Criteria::DisplayTitle))
                    .col(text_null(Criteria::DisplaySubtitle))
                    .col(text_null(Criteria::Units))
                    .col(text_null(Criteria::MinTooltip))
                    .col(text_null(Criteria::MaxTooltip))
                    .col(text(Criteria::PayloadPrefix))
                    .col(timestamp_with_time_zone(Criteria::CreatedAt))
                    .col(timestamp_with_time_zone(Criteria::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        create_unique_index(
            manager,
            Criteria::Table,
            [Criteria::Name],
            "idx_criteria_name",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RegionalCriteria::Table)
                    .if_not_exists()
                    .col(pk_auto(RegionalCriteria::Id))
                    .col(integer(RegionalCriteria::RegionId))
                    .col(integer(RegionalCriteria::CriteriaId))
                    .col(double(RegionalCriteria::MinVal))
                    .col(double(RegionalCriteria::MaxVal))
                    .col(double(RegionalCriteria::DefaultMinVal))
                    .col(double(RegionalCriteria::DefaultMaxVal))
                    .col(timestamp_with_time_zone(RegionalCriteria::CreatedAt))
                    .col(timestamp_with_time_zone(RegionalCriteria::UpdatedAt))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_regional_criteria_region_id",
                        (RegionalCriteria::Table, RegionalCriteria::RegionId),
                        (Regions::Table, Regions::Id),
                    ))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_regional_criteria_criteria_id",
                        (RegionalCriteria::Table, RegionalCriteria::CriteriaId),
                        (Criteria::Table, Criteria::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // Also serves the cascade from `regions` and the reads by region.
        create_unique_index(
            manager,
            RegionalCriteria::Table,
            [RegionalCriteria::RegionId, RegionalCriteria::CriteriaId],
            "idx_regional_criteria_region_id_criteria_id",
        )
        .await?;
        // Serves the cascade from `criteria`.
        create_index(
            manager,
            RegionalCriteria::Table,
            [RegionalCriteria::CriteriaId],
            "idx_regional_criteria_criteria_id",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(
            manager,
            [
                RegionalCriteria::Table.into_iden(),
                Criteria::Table.into_iden(),
                Regions::Table.into_iden(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Regions {
    Table,
    Id,
    Name,
    DisplayName,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Criteria {
    Table,
    Id,
    Name,
    DisplayTitle,
    DisplaySubtitle,
    Units,
    MinTooltip,
    MaxTooltip,
    PayloadPrefix,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RegionalCriteria {
    Table,
    Id,
    RegionId,
    CriteriaId,
    MinVal,
    MaxVal,
    DefaultMinVal,
    DefaultMaxVal,
    CreatedAt,
    UpdatedAt,
}

#[cfg(all(test, feature = "test-support"))]
mod tests;
