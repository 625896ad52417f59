//! Study areas: user-owned polygons and the notes written on them.

use super::{cascading_foreign_key, create_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    double, integer, json_binary, pk_auto, text, timestamp_with_time_zone,
};

/// Creates `polygons` and `notes`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The bounding box is stored next to the GeoJSON so the spatial filter is a range query
        // on plain columns (indexed below), never a scan of the JSON.
        manager
            .create_table(
                Table::create()
                    .table(Polygons::Table)
                    .if_not_exists()
                    .col(pk_auto(Polygons::Id))
                    .col(integer(Polygons::UserId))
                    .col(json_binary(Polygons::Polygon))
                    .col(double(Polygons::MinLon))
                    .col(double(Polygons::MinLat))
                    .col(double(Polygons::MaxLon))
                    .col(double(Polygons::MaxLat))
                    .col(timestamp_with_time_zone(Polygons::CreatedAt))
                    .col(timestamp_with_time_zone(Polygons::UpdatedAt))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_polygons_user_id",
                        (Polygons::Table, Polygons::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // Serves the owner filter (ordered by id) and the cascade from `users`.
        create_index(
            manager,
            Polygons::Table,
            [Polygons::UserId, Polygons::Id],
            "idx_polygons_user_id_id",
        )
        .await?;
        create_index(
            manager,
            Polygons::Table,
            [
                Polygons::MinLon,
                Polygons::MaxLon,
                Polygons::MinLat,
                Polygons::MaxLat,
            ],
            "idx_polygons_bbox",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notes::Table)
                    .if_not_exists()
                    .col(pk_auto(Notes::Id))
                    .col(integer(Notes::UserId))
                    .col(integer(Notes::PolygonId))
                    .col(text(Notes::Content))
                    .col(timestamp_with_time_zone(Notes::CreatedAt))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_notes_user_id",
                        (Notes::Table, Notes::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut cascading_foreign_key(
                        "fk_notes_polygon_id",
                        (Notes::Table, Notes::PolygonId),
                        (Polygons::Table, Polygons::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(manager, Notes::Table, [Notes::UserId], "idx_notes_user_id").await?;
        create_index(
            manager,
            Notes::Table,
            [Notes::PolygonId],
            "idx_notes_polygon_id",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::drop_tables(
            manager,
            [Notes::Table.into_iden(), Polygons::Table.into_iden()],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Polygons {
    Table,
    Id,
    UserId,
    Polygon,
    MinLon,
    MinLat,
    MaxLon,
    MaxLat,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notes {
    Table,
    Id,
    UserId,
    PolygonId,
    Content,
    CreatedAt,
}
