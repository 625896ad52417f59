//! `GET /api/users/search` (reefguide-r2 §3.2): find users by part of their email, to share
//! projects and groups with. Open to every user allowed the user features (the
//! `required_role` gate, `ANALYST` as R2), unlike the rest of `/api/users`, which is ADMIN's.

use actix_web::{get, web};
use reefguide_domain::user::search::UserSearch;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::openapi::responses::Unauthenticated;
use crate::routes::users::optional_integer;
use crate::routes::{Registry, RouteSet};
use crate::wire::Validation;

/// The route (at `/api/users/search`, behind the user-features gate).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes.handler(search_users);
    }
}

/// What to search for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Part of an email, any case (1 to 254 characters).
    #[param(min_length = 1, max_length = 254, example = "ana")]
    pub q: String,
    /// Most results, clamped to 1..50 (default 20).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
}

/// A user found.
#[derive(Debug, Serialize, ToSchema)]
pub struct FoundUser {
    /// Id.
    #[schema(example = 3)]
    pub id: i32,
    /// Email.
    #[schema(example = "ana@example.com")]
    pub email: String,
}

/// The users found, best match first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// The exact address first, then addresses starting with `q`, then by where `q` starts in
    /// the address, then alphabetically.
    pub results: Vec<FoundUser>,
}

/// Finds users whose email contains `q`.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "Users found, best first", body = SearchResponse),
        (status = 400, description = "Missing or empty `q`, or a non-numeric `limit`", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller lacks the role the user features require", body = ErrorBody)))]
#[get("")]
pub async fn search_users(
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<web::Json<SearchResponse>, ApiError> {
    let mut validation = Validation::default();
    let limit = optional_integer("limit", params.limit.as_deref(), &mut validation);
    let search = validation.field("q", UserSearch::new(&params.q, limit.flatten()));
    let (_, search) = validation.finish((limit, search))?;
    let found = state
        .directory
        .search(&search)
        .await
        .map_err(|error| ApiError::unexpected(&error))?;
    Ok(web::Json(SearchResponse {
        results: found
            .iter()
            .filter_map(|user| {
                Some(FoundUser {
                    id: user.id.get(),
                    email: user.email()?.as_str().to_owned(),
                })
            })
            .collect(),
    }))
}
