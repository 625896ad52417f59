//! [`NoteRepository`] for [`SeaOrmStore`].
//!
//! A note refers to its polygon and its author through foreign keys: creating one on a polygon
//! that is gone (even one deleted concurrently) is refused by the database, and that refusal is
//! the port's `None`.

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_domain::{Note, NoteContent, NoteId, PolygonId, UserId};
use reefguide_ports::NoteRepository;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::sharing::polygon_visible_to;
use super::{note_id, polygon_id, stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::notes::{self, Column};
use crate::entities::polygons;
use crate::errors::{DbContext as _, db_error, is_foreign_key_violation};

/// A stored note as a domain note; content that no longer passes the rules is an error.
fn to_note(row: notes::Model) -> anyhow::Result<Note> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<Note> {
        Ok(Note {
            id: note_id(row.id)?,
            created_at: row.created_at,
            content: NoteContent::new(&row.content)?,
            author: user_id(row.user_id)?,
            polygon_id: polygon_id(row.polygon_id)?,
        })
    };
    parse().with_context(|| format!("stored note {stored_id} cannot be read"))
}

impl SeaOrmStore {
    /// Whether polygon `id` exists.
    async fn polygon_exists(&self, id: PolygonId) -> anyhow::Result<bool> {
        let found = polygons::Entity::find_by_id(id.get())
            .select_only()
            .column(polygons::Column::Id)
            .into_tuple::<i32>()
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load polygon {id}"))?;
        Ok(found.is_some())
    }

    /// Every note matching `filter` (all notes when `None`), by id.
    async fn notes_where(
        &self,
        filter: Option<Expr>,
        what: &'static str,
    ) -> anyhow::Result<Vec<Note>> {
        let mut select = notes::Entity::find();
        if let Some(filter) = filter {
            select = select.filter(filter);
        }
        select
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .db_context(what)?
            .into_iter()
            .map(to_note)
            .collect()
    }
}

#[async_trait]
impl NoteRepository for SeaOrmStore {
    async fn create_note(
        &self,
        author: UserId,
        polygon: PolygonId,
        content: &NoteContent,
    ) -> anyhow::Result<Option<Note>> {
        let what = || format!("cannot create note on polygon {polygon}");
        let now = stored_time(self.clock.now());
        let row = notes::ActiveModel {
            id: NotSet,
            user_id: Set(author.get()),
            polygon_id: Set(polygon.get()),
            content: Set(content.as_str().to_owned()),
            created_at: Set(now),
        };
        let inserted = match notes::Entity::insert(row).exec(&self.db).await {
            Ok(inserted) => inserted,
            // The polygon or the author is gone; only the former is a business outcome.
            Err(err) if is_foreign_key_violation(&err) => {
                if self.polygon_exists(polygon).await? {
                    return Err(db_error(what(), err)
                        .context(format!("the author, user {author}, does not exist")));
                }
                return Ok(None);
            }
            Err(err) => return Err(db_error(what(), err)),
        };
        Ok(Some(Note {
            id: note_id(inserted.last_insert_id)?,
            created_at: now,
            content: content.clone(),
            author,
            polygon_id: polygon,
        }))
    }

    async fn find_note(&self, id: NoteId) -> anyhow::Result<Option<Note>> {
        notes::Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load note {id}"))?
            .map(to_note)
            .transpose()
    }

    async fn list_notes(&self, reader: Option<UserId>) -> anyhow::Result<Vec<Note>> {
        // The reader's id is a validated integer: safe to write into the SQL.
        let filter = reader.map(|reader| {
            Expr::cust(format!(
                "(notes.user_id = {} OR notes.polygon_id IN \
                  (SELECT polygons.id FROM polygons WHERE {}))",
                reader.get(),
                polygon_visible_to(reader)
            ))
        });
        self.notes_where(filter, "cannot list notes").await
    }

    async fn list_polygon_notes(&self, polygons: &[PolygonId]) -> anyhow::Result<Vec<Note>> {
        let mut ids: Vec<i32> = polygons.iter().map(|id| id.get()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.notes_where(
            Some(Column::PolygonId.is_in(ids)),
            "cannot list the notes of polygons",
        )
        .await
    }

    async fn update_note(&self, id: NoteId, content: &NoteContent) -> anyhow::Result<Option<Note>> {
        let updated = notes::Entity::update_many()
            .col_expr(Column::Content, Expr::value(content.as_str().to_owned()))
            .filter(Column::Id.eq(id.get()))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot update note {id}"))?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        self.find_note(id).await
    }

    async fn delete_note(&self, id: NoteId) -> anyhow::Result<bool> {
        let deleted = notes::Entity::delete_by_id(id.get())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot delete note {id}"))?;
        Ok(deleted.rows_affected == 1)
    }
}
