//! [`PolygonRepository`] for [`SeaOrmStore`].
//!
//! A polygon is stored as its GeoJSON (`PolygonGeometry::to_geojson`) next to its bounding box in
//! four plain, indexed columns, so the bounding-box filter of a listing is a range query on those
//! columns and never a scan of the JSON. Deleting a polygon deletes its notes (`ON DELETE
//! CASCADE`).
//!
//! An imported polygon whose geometry validation refuses has `invalid_reason` set, its JSON as it
//! was imported and no bounding box (NULLs, which no range condition matches, so a bounding-box
//! filter never returns it). It reads back as [`PolygonShape::Invalid`]. This store never writes
//! such a row (the importer does): creating and updating write a valid geometry and clear the
//! mark.
//!
//! On Postgres, concurrent reads of one polygon by id share one indexed statement
//! ([`PolygonReads`]): the read of a signed-in user's study area is the hottest query of the API,
//! and its cost is mostly the statement's round trip, not its row.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_domain::geometry::PolygonGeometry;
use reefguide_domain::project::ProjectId;
use reefguide_domain::{InvalidGeometry, Polygon, PolygonId, PolygonShape, UserId};
use reefguide_ports::{PolygonPage, PolygonQuery, PolygonRepository};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, DatabaseConnection, DbBackend, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement,
};

use super::projects::project_id;
use super::sharing::polygon_visible_to;
use super::{polygon_id, stored_time, user_id};
use crate::SeaOrmStore;
use crate::batch::Batch;
use crate::entities::polygons::{self, Column};
use crate::errors::DbContext as _;

/// A stored polygon as a domain polygon: marked invalid when `invalid_reason` is set (its JSON
/// kept as stored), else valid; a row not marked whose geometry no longer parses is an error.
pub(crate) fn to_polygon(row: polygons::Model) -> anyhow::Result<Polygon> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<Polygon> {
        let shape = match row.invalid_reason {
            Some(reason) => PolygonShape::Invalid(InvalidGeometry {
                raw: row.polygon,
                reason,
            }),
            None => PolygonShape::Valid(PolygonGeometry::from_stored(&row.polygon)?),
        };
        Ok(Polygon {
            id: polygon_id(row.id)?,
            owner: user_id(row.user_id)?,
            created_at: row.created_at,
            shape,
            project: row.project_id.map(project_id).transpose()?,
        })
    };
    parse().with_context(|| format!("stored polygon {stored_id} cannot be read"))
}

/// The columns a polygon's shape is stored in, the others `NotSet`: its JSON
/// ([`PolygonShape::to_geojson`]), its bounding box (four NULLs when invalid) and the invalid mark
/// (NULL when valid). Every write of a shape goes through this (creation, update, the import), so
/// a row always satisfies `ck_polygons_validity`.
pub(crate) fn shape_columns(shape: &PolygonShape) -> polygons::ActiveModel {
    let bbox = shape.bbox();
    polygons::ActiveModel {
        id: NotSet,
        user_id: NotSet,
        polygon: Set(shape.to_geojson()),
        min_lon: Set(bbox.map(|b| b.min_lon())),
        min_lat: Set(bbox.map(|b| b.min_lat())),
        max_lon: Set(bbox.map(|b| b.max_lon())),
        max_lat: Set(bbox.map(|b| b.max_lat())),
        created_at: NotSet,
        updated_at: NotSet,
        invalid_reason: Set(shape.invalid_reason().map(str::to_owned)),
        project_id: NotSet,
    }
}

/// Reads of one polygon by id, run in batches on Postgres (see [`crate::batch`]).
#[derive(Debug)]
pub(crate) struct PolygonReads {
    /// The store's pool.
    pub(crate) db: DatabaseConnection,
}

impl Batch for PolygonReads {
    type Request = PolygonId;
    type Response = Option<Polygon>;

    const MAX_BATCH: usize = 64;
    // Reads never wait for each other's rows.
    const MAX_IN_FLIGHT: usize = 2;

    fn may_join(&self, _batch: &[PolygonId], _next: &PolygonId) -> bool {
        true
    }

    async fn run_together(
        &self,
        batch: &[PolygonId],
    ) -> anyhow::Result<Vec<anyhow::Result<Option<Polygon>>>> {
        let ids: Vec<i32> = batch.iter().map(|id| id.get()).collect();
        let rows: HashMap<i32, polygons::Model> = polygons::Entity::find()
            .from_raw_sql(read_statement(&ids))
            .all(&self.db)
            .await
            .with_db_context(|| format!("cannot load {} polygons", batch.len()))?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        Ok(batch
            .iter()
            .map(|id| rows.get(&id.get()).cloned().map(to_polygon).transpose())
            .collect())
    }
}

/// The statement reading the polygons of `ids`. The ids travel as one JSON array, so that every
/// batch size shares one prepared statement, and reach the rows through the primary key's index
/// (`= ANY` of an array).
fn read_statement(ids: &[i32]) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT * FROM polygons \
         WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)::int))",
        [serde_json::Value::from(ids).into()],
    )
}

#[async_trait]
impl PolygonRepository for SeaOrmStore {
    async fn create_polygon_in(
        &self,
        owner: UserId,
        geometry: &PolygonGeometry,
        project: Option<ProjectId>,
    ) -> anyhow::Result<Polygon> {
        let now = stored_time(self.clock.now());
        let shape = PolygonShape::Valid(geometry.clone());
        let row = polygons::ActiveModel {
            user_id: Set(owner.get()),
            created_at: Set(now),
            updated_at: Set(now),
            project_id: Set(project.map(ProjectId::get)),
            ..shape_columns(&shape)
        };
        let inserted = polygons::Entity::insert(row)
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot create polygon for user {owner}"))?;
        Ok(Polygon {
            id: polygon_id(inserted.last_insert_id)?,
            owner,
            created_at: now,
            shape,
            project,
        })
    }

    async fn find_polygon(&self, id: PolygonId) -> anyhow::Result<Option<Polygon>> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            return self.polygon_reads.call(id).await;
        }
        polygons::Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load polygon {id}"))?
            .map(to_polygon)
            .transpose()
    }

    async fn list_polygons(&self, query: &PolygonQuery) -> anyhow::Result<PolygonPage> {
        let mut select = polygons::Entity::find();
        if let Some(owner) = query.owner {
            select = select.filter(Column::UserId.eq(owner.get()));
        }
        if let Some(viewer) = query.visible_to {
            select = select.filter(Expr::cust(polygon_visible_to(viewer)));
        }
        if let Some(project) = query.project {
            select = select.filter(Column::ProjectId.eq(project.get()));
        }
        if let Some(bbox) = &query.bbox {
            // Boxes intersect, edges touching included, when neither lies wholly to one side of
            // the other on either axis. Invalid polygons have NULL edges, which no comparison
            // matches (and ck_polygons_validity keeps every invalid row's edges NULL).
            select = select
                .filter(Column::MinLon.lte(bbox.max_lon()))
                .filter(Column::MaxLon.gte(bbox.min_lon()))
                .filter(Column::MinLat.lte(bbox.max_lat()))
                .filter(Column::MaxLat.gte(bbox.min_lat()));
        }
        let total = select
            .clone()
            .count(&self.db)
            .await
            .db_context("cannot count polygons")?;
        let polygons = select
            .order_by_asc(Column::Id)
            .offset(query.offset)
            .limit(query.limit)
            .all(&self.db)
            .await
            .db_context("cannot list polygons")?
            .into_iter()
            .map(to_polygon)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(PolygonPage { polygons, total })
    }

    async fn update_polygon_in(
        &self,
        id: PolygonId,
        geometry: &PolygonGeometry,
        project: Option<ProjectId>,
    ) -> anyhow::Result<Option<Polygon>> {
        // A valid geometry: the bounding box is set and any invalid mark cleared.
        let mut columns = shape_columns(&PolygonShape::Valid(geometry.clone()));
        if let Some(project) = project {
            columns.project_id = Set(Some(project.get()));
        }
        let updated = polygons::Entity::update_many()
            .set(columns)
            .col_expr(
                Column::UpdatedAt,
                Expr::value(stored_time(self.clock.now())),
            )
            .filter(Column::Id.eq(id.get()))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot update polygon {id}"))?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        self.find_polygon(id).await
    }

    async fn delete_polygon(&self, id: PolygonId) -> anyhow::Result<bool> {
        // Its notes go with it (ON DELETE CASCADE).
        let deleted = polygons::Entity::delete_by_id(id.get())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot delete polygon {id}"))?;
        Ok(deleted.rows_affected == 1)
    }
}

#[cfg(test)]
mod tests {
    /// The batch read's generic plan (the one a prepared statement keeps) reaches polygons by
    /// their primary key even when made while the table was empty and never analysed.
    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn batch_reads_use_the_primary_key() {
        let db =
            crate::test_support::TestDatabase::create(crate::test_support::TestBackend::Postgres)
                .await
                .expect("test database");
        let statement = super::read_statement(&[1, 2]);
        let plan = crate::repos::plans::generic_plan(db.store(), &statement, "'[1, 2]'").await;
        assert!(plan.contains("polygons_pkey"), "{plan}");
        assert!(!plan.contains("Seq Scan on polygons"), "{plan}");
    }
}
