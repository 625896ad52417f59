//! Storage ports for polygons and notes.

use async_trait::async_trait;
use reefguide_domain::UserId;
use reefguide_domain::geometry::{BoundingBox, PolygonGeometry};
use reefguide_domain::note::{Note, NoteContent, NoteId};
use reefguide_domain::polygon::{Polygon, PolygonId};
use reefguide_domain::project::ProjectId;

/// Which polygons to list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolygonQuery {
    /// Only this owner's polygons (`None`: everyone's).
    pub owner: Option<UserId>,
    /// Only polygons this user sees: their own, and those in projects they see (`None`: no
    /// such restriction).
    pub visible_to: Option<UserId>,
    /// Only polygons in this project.
    pub project: Option<ProjectId>,
    /// Only polygons whose bounding box intersects this one (edges touching count); polygons
    /// marked invalid have none and never match.
    pub bbox: Option<BoundingBox>,
    /// Page size.
    pub limit: u64,
    /// Polygons to skip.
    pub offset: u64,
}

/// A page of polygons.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonPage {
    /// The polygons, by id.
    pub polygons: Vec<Polygon>,
    /// Polygons matching the query in all.
    pub total: u64,
}

/// Polygons. Each stores its bounding box so the spatial filter is an indexed query. Polygons
/// are created and updated only with valid geometry; a polygon marked invalid
/// ([`PolygonShape::Invalid`](reefguide_domain::PolygonShape::Invalid)) comes only from an import
/// and is read, listed and deleted like any other.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PolygonRepository: Send + Sync + 'static {
    /// Stores a new polygon for `owner`, outside any project.
    async fn create_polygon(
        &self,
        owner: UserId,
        geometry: &PolygonGeometry,
    ) -> anyhow::Result<Polygon> {
        self.create_polygon_in(owner, geometry, None).await
    }

    /// Stores a new polygon for `owner` in `project` (`None`: in none). The project's existence
    /// is the store's to check: a polygon in a project deleted meanwhile is an error.
    async fn create_polygon_in(
        &self,
        owner: UserId,
        geometry: &PolygonGeometry,
        project: Option<ProjectId>,
    ) -> anyhow::Result<Polygon>;

    /// The polygon with this id, if any, valid or marked invalid.
    async fn find_polygon(&self, id: PolygonId) -> anyhow::Result<Option<Polygon>>;

    /// A page of polygons matching the query, ordered by id, with the total count.
    async fn list_polygons(&self, query: &PolygonQuery) -> anyhow::Result<PolygonPage>;

    /// Replaces a polygon's geometry, clearing any invalid mark (the new one is valid); `None`
    /// when it does not exist. Its project is kept.
    async fn update_polygon(
        &self,
        id: PolygonId,
        geometry: &PolygonGeometry,
    ) -> anyhow::Result<Option<Polygon>> {
        self.update_polygon_in(id, geometry, None).await
    }

    /// Like [`PolygonRepository::update_polygon`], also moving the polygon into `project` when
    /// one is given (`None`: its project is kept).
    async fn update_polygon_in(
        &self,
        id: PolygonId,
        geometry: &PolygonGeometry,
        project: Option<ProjectId>,
    ) -> anyhow::Result<Option<Polygon>>;

    /// Deletes a polygon and its notes; `false` when it does not exist.
    async fn delete_polygon(&self, id: PolygonId) -> anyhow::Result<bool>;
}

/// Notes on polygons.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait NoteRepository: Send + Sync + 'static {
    /// Stores a note by `author` on `polygon`; `None` when the polygon no longer exists.
    async fn create_note(
        &self,
        author: UserId,
        polygon: PolygonId,
        content: &NoteContent,
    ) -> anyhow::Result<Option<Note>>;

    /// The note with this id, if any.
    async fn find_note(&self, id: NoteId) -> anyhow::Result<Option<Note>>;

    /// Notes `reader` sees (`None`: everyone's), ordered by id: the notes they wrote and the
    /// notes on every polygon they see (their own, and those in projects they see).
    async fn list_notes(&self, reader: Option<UserId>) -> anyhow::Result<Vec<Note>>;

    /// Notes on any of these polygons, ordered by id.
    async fn list_polygon_notes(&self, polygons: &[PolygonId]) -> anyhow::Result<Vec<Note>>;

    /// Replaces a note's content; `None` when it does not exist.
    async fn update_note(&self, id: NoteId, content: &NoteContent) -> anyhow::Result<Option<Note>>;

    /// Deletes a note; `false` when it does not exist.
    async fn delete_note(&self, id: NoteId) -> anyhow::Result<bool>;
}
