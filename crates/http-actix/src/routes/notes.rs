//! Notes (contract §6): the caller's notes, a polygon's notes, and authored changes.

use actix_web::{HttpResponse, delete, get, put, routes, web};
use reefguide_domain::{Note, NoteContent, NoteId, PolygonId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::Unauthenticated;
use crate::routes::{Registry, RouteSet};
use crate::wire::{Validation, timestamp};

/// The routes (inside the `/api/notes` scope, which authenticates and applies the
/// feature gate).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_notes)
            .handler(create_note)
            .handler(polygon_notes_r2)
            .handler(polygon_notes)
            .handler(update_note)
            .handler(delete_note);
    }
}

/// A note as R1 serialises it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteDto {
    /// Id.
    pub id: i32,
    /// Creation time.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub created_at: String,
    /// The text.
    pub content: String,
    /// Author.
    pub user_id: i32,
    /// The annotated polygon.
    pub polygon_id: i32,
}

impl From<&Note> for NoteDto {
    fn from(note: &Note) -> Self {
        Self {
            id: note.id.get(),
            created_at: timestamp(note.created_at),
            content: note.content.as_str().to_owned(),
            user_id: note.author.get(),
            polygon_id: note.polygon_id.get(),
        }
    }
}

/// `{"notes": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotesResponse {
    /// Notes, by id.
    pub notes: Vec<NoteDto>,
}

/// `{"note": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteResponse {
    /// The note.
    pub note: NoteDto,
}

fn notes_response(notes: &[Note]) -> web::Json<NotesResponse> {
    web::Json(NotesResponse {
        notes: notes.iter().map(NoteDto::from).collect(),
    })
}

/// The caller's notes (all for ADMIN).
#[utoipa::path(tag = "notes", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Notes", body = NotesResponse),
        Unauthenticated,
        (status = 403, description = "The caller may not use notes", body = ErrorBody)))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list_notes(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<NotesResponse>, ApiError> {
    Ok(notes_response(&state.notes.list(&actor).await?))
}

async fn notes_of_polygon(
    id: PolygonId,
    actor: &reefguide_domain::User,
    state: &AppState,
) -> Result<web::Json<NotesResponse>, ApiError> {
    Ok(notes_response(&state.notes.for_polygon(actor, id).await?))
}

/// The notes of a polygon (R1 path: the id is a **polygon** id).
#[utoipa::path(tag = "notes", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Polygon id")),
    responses(
        (status = 200, description = "The polygon's notes", body = NotesResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the polygon's owner and not ADMIN", body = ErrorBody),
        (status = 404, description = "Polygon not found", body = ErrorBody)))]
#[get("/{id}")]
pub async fn polygon_notes(
    PathId(id): PathId<PolygonId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<NotesResponse>, ApiError> {
    notes_of_polygon(id, &actor, &state).await
}

/// The notes of a polygon (R2 path).
#[utoipa::path(tag = "notes", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Polygon id")),
    responses(
        (status = 200, description = "The polygon's notes", body = NotesResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the polygon's owner and not ADMIN", body = ErrorBody),
        (status = 404, description = "Polygon not found", body = ErrorBody)))]
#[get("/polygon/{id}")]
pub async fn polygon_notes_r2(
    PathId(id): PathId<PolygonId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<NotesResponse>, ApiError> {
    notes_of_polygon(id, &actor, &state).await
}

/// A note to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateNoteRequest {
    /// The text, 1 to 10,000 characters, not only whitespace.
    #[schema(min_length = 1, max_length = 10000, pattern = "\\S")]
    pub content: String,
    /// The polygon to annotate.
    #[serde(rename = "polygonId")]
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    #[serde(deserialize_with = "crate::wire::whole_number")]
    pub polygon_id: i64,
}

/// Adds a note to one of the caller's polygons.
#[utoipa::path(tag = "notes", security(("bearerAuth" = [])),
    request_body = CreateNoteRequest,
    responses(
        (status = 200, description = "Created", body = NoteResponse),
        (status = 400, description = "Invalid content or polygon id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the polygon's owner", body = ErrorBody),
        (status = 404, description = "Polygon not found", body = ErrorBody)))]
#[routes]
#[post("")]
#[post("/")]
pub async fn create_note(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<CreateNoteRequest>,
) -> Result<web::Json<NoteResponse>, ApiError> {
    let mut validation = Validation::default();
    let content = validation.field("content", NoteContent::new(&body.content));
    let polygon_id = validation.field("polygonId", PolygonId::new(body.polygon_id));
    let (content, polygon_id) = validation.finish((content, polygon_id))?;
    let note = state.notes.create(&actor, polygon_id, &content).await?;
    Ok(web::Json(NoteResponse {
        note: NoteDto::from(&note),
    }))
}

/// New content.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateNoteRequest {
    /// The text, 1 to 10,000 characters, not only whitespace.
    #[schema(min_length = 1, max_length = 10000, pattern = "\\S")]
    pub content: String,
}

/// Replaces a note's content (its author or ADMIN).
#[utoipa::path(tag = "notes", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Note id")), request_body = UpdateNoteRequest,
    responses(
        (status = 200, description = "Updated", body = NoteResponse),
        (status = 400, description = "Invalid id or content", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the author and not ADMIN", body = ErrorBody),
        (status = 404, description = "No such note", body = ErrorBody)))]
#[put("/{id}")]
pub async fn update_note(
    PathId(id): PathId<NoteId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UpdateNoteRequest>,
) -> Result<web::Json<NoteResponse>, ApiError> {
    let mut validation = Validation::default();
    let content = validation.field("content", NoteContent::new(&body.content));
    let content = validation.finish((content,))?;
    let note = state.notes.update(&actor, id, &content).await?;
    Ok(web::Json(NoteResponse {
        note: NoteDto::from(&note),
    }))
}

/// Deletes a note (its author or ADMIN).
#[utoipa::path(tag = "notes", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Note id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not the author and not ADMIN", body = ErrorBody),
        (status = 404, description = "No such note", body = ErrorBody)))]
#[delete("/{id}")]
pub async fn delete_note(
    PathId(id): PathId<NoteId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.notes.delete(&actor, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
