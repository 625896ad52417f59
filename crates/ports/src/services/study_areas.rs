//! Polygon and note use cases. Every decision about who may see or change what is delegated to
//! the pure rules of `reefguide_domain::access`.

use std::collections::HashMap;

use reefguide_domain::access::{
    CreateNoteError, NoteAccessError, PolygonAccessError, listing_scope, may_edit_note,
    may_manage_polygon, may_see_polygon,
};
use reefguide_domain::geometry::{BoundingBox, PolygonGeometry};
use reefguide_domain::project::ProjectId;
use reefguide_domain::{Email, Note, NoteContent, NoteId, Polygon, PolygonId, User, UserId};

use crate::repositories::{
    NoteRepository, PolygonPage, PolygonQuery, PolygonRepository, ProjectRepository, UserRepository,
};
use crate::services::projects::seen_project;

/// Everything the polygon and note use cases need from storage.
pub trait StudyAreaStore:
    PolygonRepository + NoteRepository + UserRepository + ProjectRepository
{
}

impl<T> StudyAreaStore for T where
    T: PolygonRepository + NoteRepository + UserRepository + ProjectRepository
{
}

/// A listing request as the caller gave it (scope is decided by the service).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolygonListing {
    /// Only polygons intersecting this box.
    pub bbox: Option<BoundingBox>,
    /// Page size.
    pub limit: u64,
    /// Polygons to skip.
    pub offset: u64,
    /// Only polygons in this project.
    pub project: Option<ProjectId>,
    /// Only the caller's own polygons (else every polygon they see).
    pub only_mine: bool,
}

/// Whether `actor` sees `polygon`: its owner, an administrator, or anyone who sees its project.
async fn sees_polygon<S: StudyAreaStore>(
    store: &S,
    actor: &User,
    polygon: &Polygon,
) -> anyhow::Result<bool> {
    let sees_its_project = match polygon.project {
        Some(project) if !may_manage_polygon(actor, polygon.owner) => {
            seen_project(store, actor, project).await?.is_some()
        }
        _ => false,
    };
    Ok(may_see_polygon(actor, polygon.owner, sees_its_project))
}

/// A polygon with what an export shows next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonExport {
    /// The polygon.
    pub polygon: Polygon,
    /// Its owner's email (absent only if the owner vanished mid-request).
    pub owner_email: Option<Email>,
    /// Its notes, by id.
    pub notes: Vec<Note>,
}

/// An export page.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    /// Polygons with owners and notes.
    pub items: Vec<PolygonExport>,
    /// Polygons matching the listing in all.
    pub total: u64,
}

/// The polygon use cases.
#[derive(Debug, Clone)]
pub struct PolygonService<S> {
    store: S,
}

impl<S: StudyAreaStore> PolygonService<S> {
    /// Wires the service.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// Stores a polygon owned by the caller, in a project the caller sees when one is named (R2
    /// asks for no more than seeing it).
    pub async fn create(
        &self,
        actor: &User,
        geometry: &PolygonGeometry,
        project: Option<ProjectId>,
    ) -> Result<Polygon, PolygonAccessError> {
        self.check_project(actor, project).await?;
        Ok(self
            .store
            .create_polygon_in(actor.id, geometry, project)
            .await?)
    }

    async fn check_project(
        &self,
        actor: &User,
        project: Option<ProjectId>,
    ) -> Result<(), PolygonAccessError> {
        if let Some(project) = project
            && seen_project(&self.store, actor, project).await?.is_none()
        {
            return Err(PolygonAccessError::ProjectNotFound(project));
        }
        Ok(())
    }

    /// One polygon, if the caller may see it: its owner, an administrator, or anyone who sees
    /// its project.
    pub async fn get(&self, actor: &User, id: PolygonId) -> Result<Polygon, PolygonAccessError> {
        let polygon = self
            .store
            .find_polygon(id)
            .await?
            .ok_or(PolygonAccessError::NotFound(id))?;
        if !sees_polygon(&self.store, actor, &polygon).await? {
            return Err(PolygonAccessError::Forbidden);
        }
        Ok(polygon)
    }

    /// One polygon, if the caller may change it: its owner or an administrator (seeing it
    /// through a project is not enough).
    async fn changeable(&self, actor: &User, id: PolygonId) -> Result<Polygon, PolygonAccessError> {
        let polygon = self
            .store
            .find_polygon(id)
            .await?
            .ok_or(PolygonAccessError::NotFound(id))?;
        if !may_manage_polygon(actor, polygon.owner) {
            return Err(PolygonAccessError::Forbidden);
        }
        Ok(polygon)
    }

    /// The polygons the caller sees (everyone's for administrators), or only their own. Polygons
    /// marked invalid have no bounding box: a listing with one never includes them, a listing
    /// without one does.
    pub async fn list(&self, actor: &User, listing: PolygonListing) -> anyhow::Result<PolygonPage> {
        self.store.list_polygons(&scoped(actor, listing)).await
    }

    /// Like [`PolygonService::list`], with each polygon's owner email and notes (three queries
    /// whatever the page size).
    pub async fn export(
        &self,
        actor: &User,
        listing: PolygonListing,
    ) -> anyhow::Result<ExportPage> {
        let page = self.store.list_polygons(&scoped(actor, listing)).await?;
        let ids: Vec<PolygonId> = page.polygons.iter().map(|p| p.id).collect();
        let mut owner_ids: Vec<UserId> = page.polygons.iter().map(|p| p.owner).collect();
        owner_ids.sort();
        owner_ids.dedup();
        let owners: HashMap<UserId, Email> = self
            .store
            .find_users(&owner_ids)
            .await?
            .into_iter()
            .filter_map(|user| Some((user.id, user.email()?.clone())))
            .collect();
        let mut notes: HashMap<PolygonId, Vec<Note>> = HashMap::new();
        for note in self.store.list_polygon_notes(&ids).await? {
            notes.entry(note.polygon_id).or_default().push(note);
        }
        let items = page
            .polygons
            .into_iter()
            .map(|polygon| PolygonExport {
                owner_email: owners.get(&polygon.owner).cloned(),
                notes: notes.remove(&polygon.id).unwrap_or_default(),
                polygon,
            })
            .collect();
        Ok(ExportPage {
            items,
            total: page.total,
        })
    }

    /// Replaces the geometry of a polygon the caller may change, and moves it into `project`
    /// when one is named (a project the caller sees). The new geometry is always a valid one, so
    /// this is also how an imported polygon marked invalid becomes valid.
    pub async fn update(
        &self,
        actor: &User,
        id: PolygonId,
        geometry: &PolygonGeometry,
        project: Option<ProjectId>,
    ) -> Result<Polygon, PolygonAccessError> {
        self.changeable(actor, id).await?;
        self.check_project(actor, project).await?;
        self.store
            .update_polygon_in(id, geometry, project)
            .await?
            .ok_or(PolygonAccessError::NotFound(id))
    }

    /// Deletes a polygon the caller may change, with its notes.
    pub async fn delete(&self, actor: &User, id: PolygonId) -> Result<(), PolygonAccessError> {
        self.changeable(actor, id).await?;
        if self.store.delete_polygon(id).await? {
            Ok(())
        } else {
            Err(PolygonAccessError::NotFound(id))
        }
    }
}

fn scoped(actor: &User, listing: PolygonListing) -> PolygonQuery {
    let (owner, visible_to) = match (listing.only_mine, listing_scope(actor)) {
        (true, _) => (Some(actor.id), None),
        (false, scope) => (None, scope),
    };
    PolygonQuery {
        owner,
        visible_to,
        project: listing.project,
        bbox: listing.bbox,
        limit: listing.limit,
        offset: listing.offset,
    }
}

/// The note use cases.
#[derive(Debug, Clone)]
pub struct NoteService<S> {
    store: S,
}

impl<S: StudyAreaStore> NoteService<S> {
    /// Wires the service.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The notes the caller sees (everyone's for administrators): the notes they wrote and the
    /// notes on the polygons they see (R2).
    pub async fn list(&self, actor: &User) -> anyhow::Result<Vec<Note>> {
        self.store.list_notes(listing_scope(actor)).await
    }

    /// The notes of a polygon the caller may see.
    pub async fn for_polygon(
        &self,
        actor: &User,
        polygon_id: PolygonId,
    ) -> Result<Vec<Note>, PolygonAccessError> {
        let polygon = self
            .store
            .find_polygon(polygon_id)
            .await?
            .ok_or(PolygonAccessError::NotFound(polygon_id))?;
        if !sees_polygon(&self.store, actor, &polygon).await? {
            return Err(PolygonAccessError::Forbidden);
        }
        Ok(self.store.list_polygon_notes(&[polygon_id]).await?)
    }

    /// Adds a note to a polygon the caller may annotate.
    pub async fn create(
        &self,
        actor: &User,
        polygon_id: PolygonId,
        content: &NoteContent,
    ) -> Result<Note, CreateNoteError> {
        let polygon = self
            .store
            .find_polygon(polygon_id)
            .await?
            .ok_or(CreateNoteError::PolygonNotFound(polygon_id))?;
        if !sees_polygon(&self.store, actor, &polygon).await? {
            return Err(CreateNoteError::Forbidden);
        }
        self.store
            .create_note(actor.id, polygon_id, content)
            .await?
            .ok_or(CreateNoteError::PolygonNotFound(polygon_id))
    }

    /// Replaces the content of a note the caller may edit.
    pub async fn update(
        &self,
        actor: &User,
        id: NoteId,
        content: &NoteContent,
    ) -> Result<Note, NoteAccessError> {
        self.editable(actor, id).await?;
        self.store
            .update_note(id, content)
            .await?
            .ok_or(NoteAccessError::NotFound(id))
    }

    /// Deletes a note the caller may edit.
    pub async fn delete(&self, actor: &User, id: NoteId) -> Result<(), NoteAccessError> {
        self.editable(actor, id).await?;
        if self.store.delete_note(id).await? {
            Ok(())
        } else {
            Err(NoteAccessError::NotFound(id))
        }
    }

    async fn editable(&self, actor: &User, id: NoteId) -> Result<Note, NoteAccessError> {
        let note = self
            .store
            .find_note(id)
            .await?
            .ok_or(NoteAccessError::NotFound(id))?;
        if !may_edit_note(actor, note.author) {
            return Err(NoteAccessError::Forbidden);
        }
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_support::{MockStore, note, polygon, user_with};
    use mockall::predicate::eq;
    use reefguide_domain::Role;

    const OWNER: i64 = 1;
    const OTHER: i64 = 2;
    const ADMIN: i64 = 3;

    fn store_with_polygon() -> MockStore {
        let mut store = MockStore::new();
        store
            .expect_find_polygon()
            .returning(|id| Ok((id.get() == 10).then(|| polygon(10, OWNER))));
        store
    }

    fn pid(raw: i64) -> PolygonId {
        PolygonId::new(raw).expect("positive")
    }

    #[tokio::test]
    async fn others_are_forbidden_and_unknown_is_not_found() {
        let service = PolygonService::new(store_with_polygon());
        assert!(service.get(&user_with(OWNER, &[]), pid(10)).await.is_ok());
        assert!(
            service
                .get(&user_with(ADMIN, &[Role::Admin]), pid(10))
                .await
                .is_ok()
        );
        assert!(matches!(
            service
                .get(&user_with(OTHER, &[Role::Analyst]), pid(10))
                .await,
            Err(PolygonAccessError::Forbidden)
        ));
        assert!(matches!(
            service.get(&user_with(OWNER, &[]), pid(11)).await,
            Err(PolygonAccessError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn others_never_reach_update_or_delete() {
        let mut store = store_with_polygon();
        store.expect_update_polygon_in().never();
        store.expect_delete_polygon().never();
        let service = PolygonService::new(store);
        let other = user_with(OTHER, &[]);
        let geometry = polygon(10, OTHER)
            .shape
            .valid()
            .cloned()
            .expect("a valid square");
        assert!(matches!(
            service.update(&other, pid(10), &geometry, None).await,
            Err(PolygonAccessError::Forbidden)
        ));
        assert!(matches!(
            service.delete(&other, pid(10)).await,
            Err(PolygonAccessError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn listings_show_what_the_caller_sees_unless_admin() {
        let mut store = MockStore::new();
        store
            .expect_list_polygons()
            .withf(|query| query.visible_to == UserId::new(OWNER).ok() && query.owner.is_none())
            .times(1)
            .returning(|_| {
                Ok(PolygonPage {
                    polygons: vec![],
                    total: 0,
                })
            });
        store
            .expect_list_polygons()
            .withf(|query| query.owner.is_none() && query.visible_to.is_none())
            .times(1)
            .returning(|_| {
                Ok(PolygonPage {
                    polygons: vec![],
                    total: 0,
                })
            });
        let service = PolygonService::new(store);
        let listing = PolygonListing {
            bbox: None,
            limit: 10,
            offset: 0,
            project: None,
            only_mine: false,
        };
        service
            .list(&user_with(OWNER, &[]), listing)
            .await
            .expect("listed");
        service
            .list(&user_with(ADMIN, &[Role::Admin]), listing)
            .await
            .expect("listed");
    }

    #[tokio::test]
    async fn export_joins_owners_and_notes_in_batches() {
        let mut store = MockStore::new();
        store.expect_list_polygons().returning(|_| {
            Ok(PolygonPage {
                polygons: vec![polygon(10, OWNER), polygon(11, OWNER)],
                total: 2,
            })
        });
        store
            .expect_find_users()
            .withf(|ids| ids == [UserId::new(OWNER).expect("positive")])
            .times(1)
            .returning(|_| Ok(vec![user_with(OWNER, &[])]));
        store
            .expect_list_polygon_notes()
            .withf(|ids| ids == [pid(10), pid(11)])
            .times(1)
            .returning(|_| Ok(vec![note(1, OWNER, 11), note(2, OWNER, 11)]));
        let page = PolygonService::new(store)
            .export(
                &user_with(OWNER, &[]),
                PolygonListing {
                    bbox: None,
                    limit: 10,
                    offset: 0,
                    project: None,
                    only_mine: false,
                },
            )
            .await
            .expect("exported");
        assert_eq!(page.total, 2);
        assert!(page.items[0].notes.is_empty());
        assert_eq!(page.items[1].notes.len(), 2);
        assert_eq!(
            page.items[1].owner_email.as_ref().map(|e| e.as_str()),
            Some("u1@example.com")
        );
    }

    #[tokio::test]
    async fn notes_only_on_polygons_the_caller_may_annotate() {
        let mut store = store_with_polygon();
        store.expect_create_note().never();
        let service = NoteService::new(store);
        let content = NoteContent::new("mine now").expect("valid");
        assert!(matches!(
            service
                .create(&user_with(OTHER, &[]), pid(10), &content)
                .await,
            Err(CreateNoteError::Forbidden)
        ));
        assert!(matches!(
            service
                .create(&user_with(OWNER, &[]), pid(11), &content)
                .await,
            Err(CreateNoteError::PolygonNotFound(_))
        ));
    }

    #[tokio::test]
    async fn only_author_or_admin_edits_a_note() {
        let mut store = MockStore::new();
        store
            .expect_find_note()
            .returning(|_| Ok(Some(note(5, OWNER, 10))));
        store
            .expect_update_note()
            .with(
                eq(NoteId::new(5).expect("positive")),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(|_, _| Ok(Some(note(5, OWNER, 10))));
        store.expect_delete_note().never();
        let service = NoteService::new(store);
        let id = NoteId::new(5).expect("positive");
        let content = NoteContent::new("edited").expect("valid");
        assert!(matches!(
            service.delete(&user_with(OTHER, &[]), id).await,
            Err(NoteAccessError::Forbidden)
        ));
        service
            .update(&user_with(ADMIN, &[Role::Admin]), id, &content)
            .await
            .expect("admin may edit");
    }
}
