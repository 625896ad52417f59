//! Invalid polygons (issue 26): a polygon imported from a ReefGuide database may hold geometry
//! our validation refuses; it is kept, marked invalid with the reason.
//!
//! `polygons.invalid_reason` (TEXT, NULL for a valid polygon) is added and the four bounding-box
//! columns `min_lon`, `min_lat`, `max_lon`, `max_lat` become NULLable: an invalid polygon has no
//! bounding box. A CHECK constraint (`ck_polygons_validity`) keeps every row one of the two kinds:
//! valid (no reason, all four edges) or invalid (a reason, no edge), so a bounding-box filter,
//! a range condition on the edges, can never return an invalid polygon.
//!
//! Postgres alters the table in place, in the migration's transaction. SQLite cannot drop a
//! `NOT NULL`: the table is rebuilt on one connection with foreign keys off (see
//! [`super::sqlite_rebuild`]), exactly as `m0005_external_identities` rebuilds `users`, so the
//! notes that cascade from polygons stay, the foreign key to `users` keeps its `ON DELETE
//! CASCADE`, both indexes come back and deleted ids are not handed out again. This migration
//! therefore runs outside a transaction on SQLite (`use_transaction() == None`).

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    double, double_null, integer, json_binary, pk_auto, text_null, timestamp_with_time_zone,
};

use super::sqlite_rebuild::{Rebuild, rebuild_table};
use super::{cascading_foreign_key, count, sqlite_has_column};

/// Lets `polygons` hold invalid imported geometry.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The two kinds of polygon a row may be, as SQL both backends accept.
const VALIDITY_CHECK: &str = "(invalid_reason IS NULL \
         AND min_lon IS NOT NULL AND min_lat IS NOT NULL \
         AND max_lon IS NOT NULL AND max_lat IS NOT NULL) \
     OR (invalid_reason IS NOT NULL \
         AND min_lon IS NULL AND min_lat IS NULL AND max_lon IS NULL AND max_lat IS NULL)";

/// The indexes of m0002, as SQLite recreates them after a rebuild.
const INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_polygons_user_id_id ON polygons (user_id, id)",
    "CREATE INDEX IF NOT EXISTS idx_polygons_bbox \
     ON polygons (min_lon, max_lon, min_lat, max_lat)",
];

/// SQLite: the columns both shapes have, copied by either rebuild.
const COPY_ROWS: &str = "INSERT INTO polygons_new \
     (id, user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at) \
     SELECT id, user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at \
     FROM polygons";

/// Postgres: the change in place.
const POSTGRES_UP: &str = "ALTER TABLE polygons \
     ALTER COLUMN min_lon DROP NOT NULL, \
     ALTER COLUMN min_lat DROP NOT NULL, \
     ALTER COLUMN max_lon DROP NOT NULL, \
     ALTER COLUMN max_lat DROP NOT NULL, \
     ADD COLUMN invalid_reason text";

/// Postgres: undoing it (once no invalid polygon is left).
const POSTGRES_DOWN: &str = "ALTER TABLE polygons \
     DROP CONSTRAINT IF EXISTS ck_polygons_validity, \
     DROP COLUMN invalid_reason, \
     ALTER COLUMN min_lon SET NOT NULL, \
     ALTER COLUMN min_lat SET NOT NULL, \
     ALTER COLUMN max_lon SET NOT NULL, \
     ALTER COLUMN max_lat SET NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            // Already rebuilt by a run that stopped before the migrator recorded it.
            DbBackend::Sqlite
                if sqlite_has_column(manager, "polygons", "invalid_reason").await? =>
            {
                Ok(())
            }
            DbBackend::Sqlite => rebuild_table(manager, &sqlite_up()).await,
            _ => postgres_up(manager).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_if_invalid_polygons(manager).await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_table(manager, &sqlite_down()).await,
            _ => postgres_down(manager).await,
        }
    }

    /// `None`: a transaction on Postgres, none on SQLite (the rebuild makes its own on the
    /// connection it turns foreign keys off on).
    fn use_transaction(&self) -> Option<bool> {
        None
    }
}

/// Drops the `NOT NULL`s, adds the column and the CHECK.
async fn postgres_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let connection = manager.get_connection();
    connection.execute_unprepared(POSTGRES_UP).await?;
    connection
        .execute_unprepared(&format!(
            "ALTER TABLE polygons ADD CONSTRAINT ck_polygons_validity CHECK ({VALIDITY_CHECK})"
        ))
        .await?;
    Ok(())
}

/// The CHECK and the column go; the `NOT NULL`s come back.
async fn postgres_down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(POSTGRES_DOWN)
        .await?;
    Ok(())
}

/// SQLite: `polygons` in its new shape, filled from m0002's.
fn sqlite_up() -> Rebuild {
    shape_after(COPY_ROWS)
}

/// SQLite: `polygons` in the shape this migration gives it (the columns of m0002, the bounding
/// box now NULLable, then the new one, in the order Postgres's `ADD COLUMN` gives it), filled by
/// `copy`. A later migration undoing a column of its own rebuilds into this shape.
pub(super) fn shape_after(copy: &'static str) -> Rebuild {
    let create = Table::create()
        .table(PolygonsNew::Table)
        .col(pk_auto(Polygons::Id))
        .col(integer(Polygons::UserId))
        .col(json_binary(Polygons::Polygon))
        .col(double_null(Polygons::MinLon))
        .col(double_null(Polygons::MinLat))
        .col(double_null(Polygons::MaxLon))
        .col(double_null(Polygons::MaxLat))
        .col(timestamp_with_time_zone(Polygons::CreatedAt))
        .col(timestamp_with_time_zone(Polygons::UpdatedAt))
        .col(text_null(Polygons::InvalidReason))
        .foreign_key(&mut owner_foreign_key())
        .check(Check::named(
            "ck_polygons_validity",
            Expr::cust(VALIDITY_CHECK),
        ))
        .to_string(SqliteQueryBuilder);
    Rebuild {
        table: "polygons",
        create,
        copy,
        indexes: INDEXES,
    }
}

/// SQLite: `polygons` as m0002 made it.
fn sqlite_down() -> Rebuild {
    let create = Table::create()
        .table(PolygonsNew::Table)
        .col(pk_auto(Polygons::Id))
        .col(integer(Polygons::UserId))
        .col(json_binary(Polygons::Polygon))
        .col(double(Polygons::MinLon))
        .col(double(Polygons::MinLat))
        .col(double(Polygons::MaxLon))
        .col(double(Polygons::MaxLat))
        .col(timestamp_with_time_zone(Polygons::CreatedAt))
        .col(timestamp_with_time_zone(Polygons::UpdatedAt))
        .foreign_key(&mut owner_foreign_key())
        .to_string(SqliteQueryBuilder);
    Rebuild {
        table: "polygons",
        create,
        copy: COPY_ROWS,
        indexes: INDEXES,
    }
}

/// The owner's foreign key as m0002 declared it: the polygons go with their user.
fn owner_foreign_key() -> ForeignKeyCreateStatement {
    cascading_foreign_key(
        "fk_polygons_user_id",
        (PolygonsNew::Table, Polygons::UserId),
        (Users::Table, Users::Id),
    )
}

/// Undoing the migration would have to delete the invalid polygons with their notes: refuse
/// instead, saying how many there are.
async fn refuse_if_invalid_polygons(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let invalid = count(
        manager,
        "SELECT COUNT(*) AS n FROM polygons WHERE invalid_reason IS NOT NULL",
    )
    .await?;
    if invalid == 0 {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "cannot undo m0006_invalid_polygons: {invalid} polygon(s) are marked invalid; give \
         them a valid geometry or delete them first"
    )))
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Polygons {
    Id,
    UserId,
    Polygon,
    MinLon,
    MinLat,
    MaxLon,
    MaxLat,
    CreatedAt,
    UpdatedAt,
    InvalidReason,
}

/// The name `polygons` is rebuilt under on SQLite.
#[derive(DeriveIden)]
enum PolygonsNew {
    Table,
}

#[cfg(test)]
mod tests {
    /// Both SQLite shapes keep m0002's columns, types and cascading foreign key to `users`; the
    /// new one has the NULLable box, the new column and the CHECK.
    #[test]
    fn sqlite_shapes() {
        let owner = r#"FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE"#;
        let up = super::sqlite_up().create;
        assert!(up.contains(owner), "{up}");
        assert!(up.contains(r#""min_lon" double NULL"#), "{up}");
        assert!(up.contains(r#""invalid_reason" text NULL"#), "{up}");
        assert!(
            up.contains(r#"CONSTRAINT "ck_polygons_validity" CHECK"#),
            "{up}"
        );
        let down = super::sqlite_down().create;
        assert!(down.contains(owner), "{down}");
        assert!(down.contains(r#""min_lon" double NOT NULL"#), "{down}");
        assert!(!down.contains("invalid_reason"), "{down}");
    }
}

/// Undoing the migration: refused while invalid polygons exist, then the old shape comes back
/// with every row, and the migration applies again.
#[cfg(all(test, feature = "test-support"))]
mod down_tests {
    use rstest::rstest;
    use sea_orm_migration::MigratorTrait as _;

    use crate::migrations::Migrator;
    use crate::test_support::{
        TestBackend, TestDatabase, count_rows as count, execute_sql as execute,
    };

    const T: &str = "'2026-01-01 00:00:00+00:00'";

    #[rstest]
    #[tokio::test]
    async fn down_waits_for_invalid_polygons_to_go_then_restores_the_old_shape(
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
                "INSERT INTO polygons \
                 (user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at) \
                 VALUES (1, '{{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}}', \
                 0, 0, 1, 1, {T}, {T})"
            ),
            format!(
                "INSERT INTO polygons (user_id, polygon, created_at, updated_at, invalid_reason) \
                 VALUES (1, '42', {T}, {T}, 'geometry must be a JSON object')"
            ),
            format!(
                "INSERT INTO notes (user_id, polygon_id, content, created_at) \
                 VALUES (1, 1, 'stays', {T})"
            ),
        ] {
            execute(store, &sql).await.expect("planted");
        }

        crate::migrations::undo_migrations_after(store, &super::Migration).await;
        let refused = Migrator::down(store.connection(), Some(1))
            .await
            .expect_err("an invalid polygon exists");
        assert!(
            refused
                .to_string()
                .contains("1 polygon(s) are marked invalid"),
            "{refused}"
        );
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) AS n FROM polygons WHERE invalid_reason IS NOT NULL"
            )
            .await,
            1,
            "nothing changed"
        );

        execute(store, "DELETE FROM polygons WHERE id = 2")
            .await
            .expect("deleted");
        Migrator::down(store.connection(), Some(1))
            .await
            .expect("undone");
        assert!(
            execute(
                store,
                &format!(
                    "INSERT INTO polygons (user_id, polygon, created_at, updated_at) \
                     VALUES (1, '42', {T}, {T})"
                ),
            )
            .await
            .is_err(),
            "the bounding box is NOT NULL again"
        );
        assert!(
            execute(store, "SELECT invalid_reason FROM polygons")
                .await
                .is_err(),
            "the column is gone"
        );
        assert_eq!(
            count(store, "SELECT COUNT(*) AS n FROM notes").await,
            1,
            "the note stayed"
        );

        Migrator::up(store.connection(), None)
            .await
            .expect("applied again");
        assert_eq!(count(store, "SELECT COUNT(*) AS n FROM notes").await, 1);
        execute(
            store,
            &format!(
                "INSERT INTO polygons (user_id, polygon, created_at, updated_at, invalid_reason) \
                 VALUES (1, '42', {T}, {T}, 'geometry must be a JSON object')"
            ),
        )
        .await
        .expect("invalid polygons again");
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) AS n FROM polygons WHERE id > 2 AND invalid_reason IS NOT NULL"
            )
            .await,
            1,
            "the deleted id 2 is not reused"
        );
        execute(store, "DELETE FROM users WHERE id = 1")
            .await
            .expect("deleted");
        assert_eq!(
            count(store, "SELECT COUNT(*) AS n FROM polygons").await
                + count(store, "SELECT COUNT(*) AS n FROM notes").await,
            0,
            "and still cascades"
        );
    }
}
