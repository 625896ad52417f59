//! Projects and groups (R2, issue 27): `groups` with their `group_managers` and `group_members`,
//! `projects` with their `project_user_shares` and `project_group_shares`, and
//! `polygons.project_id`, as R2's schema has them (reefguide-schema: every foreign key
//! cascades, one share or seat per pair).
//!
//! Beyond R2: a project's name is unique per owner in the store (R2 checks it in code only, so
//! two concurrent creations could both pass).
//!
//! `polygons.project_id` is added with `ALTER TABLE … ADD COLUMN … REFERENCES`, which both
//! backends accept for a NULLable column. SQLite cannot drop a column that is a foreign key, so
//! undoing it there rebuilds `polygons` into m0006's shape ([`super::sqlite_rebuild`]); this
//! migration therefore runs outside a transaction on SQLite, and each step of `up` is safe to
//! repeat after a run that stopped half-way.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, json_binary, pk_auto, text, text_null, timestamp_with_time_zone,
};

use super::m0006_invalid_polygons::shape_after;
use super::sqlite_rebuild::rebuild_table;
use super::{cascading_foreign_key, create_index, sqlite_has_column};

/// Creates the project and group tables and `polygons.project_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The column on `polygons`, as SQL both backends accept.
const ADD_POLYGON_PROJECT: &str = "ALTER TABLE polygons ADD COLUMN project_id INTEGER NULL \
     REFERENCES projects (id) ON DELETE CASCADE";

/// SQLite: every column of m0006's shape, copied when `project_id` goes.
const COPY_WITHOUT_PROJECT: &str = "INSERT INTO polygons_new \
     (id, user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at, \
      invalid_reason) \
     SELECT id, user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at, \
     invalid_reason FROM polygons";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_groups(manager).await?;
        for seat in [Seat::Managers, Seat::Members] {
            create_seats(manager, seat).await?;
        }
        create_projects(manager).await?;
        create_user_shares(manager).await?;
        create_group_shares(manager).await?;
        let has_column = match manager.get_database_backend() {
            DbBackend::Sqlite => sqlite_has_column(manager, "polygons", "project_id").await?,
            _ => false,
        };
        if !has_column {
            manager
                .get_connection()
                .execute_unprepared(ADD_POLYGON_PROJECT)
                .await?;
        }
        create_index(
            manager,
            Polygons::Table,
            [Polygons::ProjectId],
            "idx_polygons_project_id",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                if sqlite_has_column(manager, "polygons", "project_id").await? {
                    rebuild_table(manager, &shape_after(COPY_WITHOUT_PROJECT)).await?;
                }
            }
            _ => {
                manager
                    .get_connection()
                    .execute_unprepared("ALTER TABLE polygons DROP COLUMN IF EXISTS project_id")
                    .await?;
            }
        }
        for table in [
            "project_group_shares",
            "project_user_shares",
            "projects",
            "group_members",
            "group_managers",
            "groups",
        ] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// `None`: a transaction on Postgres, none on SQLite (undoing rebuilds `polygons` on a
    /// connection with foreign keys off, which a transaction would not allow).
    fn use_transaction(&self) -> Option<bool> {
        None
    }
}

async fn create_groups(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Groups::Table)
                .if_not_exists()
                .col(pk_auto(Groups::Id))
                .col(text(Groups::Name))
                .col(text_null(Groups::Description))
                .col(timestamp_with_time_zone(Groups::CreatedAt))
                .col(timestamp_with_time_zone(Groups::UpdatedAt))
                .col(integer(Groups::OwnerId))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_groups_owner_id",
                    (Groups::Table, Groups::OwnerId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
    create_index(
        manager,
        Groups::Table,
        [Groups::OwnerId],
        "idx_groups_owner_id",
    )
    .await
}

/// The two seat tables of a group.
#[derive(Debug, Clone, Copy)]
enum Seat {
    Managers,
    Members,
}

async fn create_seats(manager: &SchemaManager<'_>, seat: Seat) -> Result<(), DbErr> {
    let table = match seat {
        Seat::Managers => "group_managers",
        Seat::Members => "group_members",
    };
    manager
        .create_table(
            Table::create()
                .table(Alias::new(table))
                .if_not_exists()
                .col(pk_auto(SeatColumn::Id))
                .col(integer(SeatColumn::GroupId))
                .col(integer(SeatColumn::UserId))
                .col(timestamp_with_time_zone(SeatColumn::CreatedAt))
                .foreign_key(&mut cascading_foreign_key(
                    &format!("fk_{table}_group_id"),
                    (Alias::new(table), SeatColumn::GroupId),
                    (Groups::Table, Groups::Id),
                ))
                .foreign_key(&mut cascading_foreign_key(
                    &format!("fk_{table}_user_id"),
                    (Alias::new(table), SeatColumn::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
    unique_pair(manager, table, "group_id", "user_id").await?;
    create_index(
        manager,
        Alias::new(table),
        [SeatColumn::UserId],
        &format!("idx_{table}_user_id"),
    )
    .await
}

async fn create_projects(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Projects::Table)
                .if_not_exists()
                .col(pk_auto(Projects::Id))
                .col(text(Projects::Name))
                .col(text_null(Projects::Description))
                .col(text(Projects::Type))
                .col(json_binary(Projects::ProjectState))
                .col(boolean(Projects::IsPublic).default(false))
                .col(timestamp_with_time_zone(Projects::CreatedAt))
                .col(timestamp_with_time_zone(Projects::UpdatedAt))
                .col(integer(Projects::UserId))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_projects_user_id",
                    (Projects::Table, Projects::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
    unique_pair(manager, "projects", "user_id", "name").await?;
    create_index(
        manager,
        Projects::Table,
        [Projects::UpdatedAt],
        "idx_projects_updated_at",
    )
    .await
}

async fn create_user_shares(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ProjectUserShares::Table)
                .if_not_exists()
                .col(pk_auto(ProjectUserShares::Id))
                .col(integer(ProjectUserShares::ProjectId))
                .col(integer(ProjectUserShares::UserId))
                .col(timestamp_with_time_zone(ProjectUserShares::CreatedAt))
                .col(timestamp_with_time_zone(ProjectUserShares::UpdatedAt))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_project_user_shares_project_id",
                    (ProjectUserShares::Table, ProjectUserShares::ProjectId),
                    (Projects::Table, Projects::Id),
                ))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_project_user_shares_user_id",
                    (ProjectUserShares::Table, ProjectUserShares::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
    unique_pair(manager, "project_user_shares", "project_id", "user_id").await?;
    create_index(
        manager,
        ProjectUserShares::Table,
        [ProjectUserShares::UserId],
        "idx_project_user_shares_user_id",
    )
    .await
}

async fn create_group_shares(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ProjectGroupShares::Table)
                .if_not_exists()
                .col(pk_auto(ProjectGroupShares::Id))
                .col(integer(ProjectGroupShares::ProjectId))
                .col(integer(ProjectGroupShares::GroupId))
                .col(timestamp_with_time_zone(ProjectGroupShares::CreatedAt))
                .col(timestamp_with_time_zone(ProjectGroupShares::UpdatedAt))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_project_group_shares_project_id",
                    (ProjectGroupShares::Table, ProjectGroupShares::ProjectId),
                    (Projects::Table, Projects::Id),
                ))
                .foreign_key(&mut cascading_foreign_key(
                    "fk_project_group_shares_group_id",
                    (ProjectGroupShares::Table, ProjectGroupShares::GroupId),
                    (Groups::Table, Groups::Id),
                ))
                .to_owned(),
        )
        .await?;
    unique_pair(manager, "project_group_shares", "project_id", "group_id").await?;
    create_index(
        manager,
        ProjectGroupShares::Table,
        [ProjectGroupShares::GroupId],
        "idx_project_group_shares_group_id",
    )
    .await
}

/// `UNIQUE (first, second)` on `table`, named `uq_<table>_<first>_<second>`.
async fn unique_pair(
    manager: &SchemaManager<'_>,
    table: &str,
    first: &str,
    second: &str,
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .unique()
                .name(format!("uq_{table}_{first}_{second}"))
                .table(Alias::new(table))
                .col(Alias::new(first))
                .col(Alias::new(second))
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Polygons {
    Table,
    ProjectId,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
    OwnerId,
}

#[derive(DeriveIden)]
enum SeatColumn {
    Id,
    GroupId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    Name,
    Description,
    Type,
    ProjectState,
    IsPublic,
    CreatedAt,
    UpdatedAt,
    UserId,
}

#[derive(DeriveIden)]
enum ProjectUserShares {
    Table,
    Id,
    ProjectId,
    UserId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectGroupShares {
    Table,
    Id,
    ProjectId,
    GroupId,
    CreatedAt,
    UpdatedAt,
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use rstest::rstest;
    use sea_orm_migration::{MigrationName as _, MigratorTrait as _};

    use crate::migrations::Migrator;
    use crate::test_support::{
        TestBackend, TestDatabase, count_rows as count, execute_sql as execute,
    };

    const T: &str = "'2026-01-01 00:00:00+00:00'";

    #[rstest]
    #[tokio::test]
    async fn down_keeps_polygons_and_notes_and_up_restores_the_tables(
        #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    ) {
        let db = TestDatabase::create(backend).await.expect("a database");
        let store = db.store();
        for sql in [
            format!(
                "INSERT INTO users (email, password_hash, roles, created_at) \
                 VALUES ('ana@example.com', 'hash', '[]', {T})"
            ),
            format!(
                "INSERT INTO projects (name, type, project_state, created_at, updated_at, user_id) \
                 VALUES ('Survey', 'SITE_SELECTION', '{{}}', {T}, {T}, 1)"
            ),
            format!(
                "INSERT INTO groups (name, created_at, updated_at, owner_id) \
                 VALUES ('Team', {T}, {T}, 1)"
            ),
            format!(
                "INSERT INTO polygons (user_id, polygon, created_at, updated_at, invalid_reason, \
                 project_id) VALUES (1, '42', {T}, {T}, 'geometry must be a JSON object', 1)"
            ),
            format!(
                "INSERT INTO notes (user_id, polygon_id, content, created_at) \
                 VALUES (1, 1, 'stays', {T})"
            ),
        ] {
            execute(store, &sql).await.expect("planted");
        }
        assert!(
            execute(
                store,
                &format!(
                    "INSERT INTO projects (name, type, project_state, created_at, updated_at, \
                     user_id) VALUES ('Survey', 'SITE_SELECTION', '{{}}', {T}, {T}, 1)"
                )
            )
            .await
            .is_err(),
            "a name is unique per owner"
        );

        // The migrations after this one are undone first, so that the next step is this one's.
        let migrations = Migrator::migrations();
        let position = migrations
            .iter()
            .position(|m| m.name() == super::Migration.name())
            .expect("listed");
        let steps = u32::try_from(migrations.len() - position).expect("few");
        Migrator::down(store.connection(), Some(steps))
            .await
            .expect("undone");
        assert!(
            execute(store, "SELECT project_id FROM polygons")
                .await
                .is_err(),
            "the column is gone"
        );
        assert!(execute(store, "SELECT id FROM projects").await.is_err());
        assert!(execute(store, "SELECT id FROM groups").await.is_err());
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) AS n FROM polygons WHERE invalid_reason IS NOT NULL"
            )
            .await,
            1,
            "the polygon stayed, with its mark"
        );
        assert_eq!(count(store, "SELECT COUNT(*) AS n FROM notes").await, 1);

        Migrator::up(store.connection(), None)
            .await
            .expect("applied again");
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) AS n FROM polygons WHERE project_id IS NULL"
            )
            .await,
            1
        );
        assert_eq!(count(store, "SELECT COUNT(*) AS n FROM notes").await, 1);
        assert_eq!(count(store, "SELECT COUNT(*) AS n FROM projects").await, 0);
    }
}
