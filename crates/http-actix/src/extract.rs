//! Request extractors: the authenticated user and validated path ids.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};
use reefguide_domain::{EntityId, User};

use crate::errors::ApiError;

/// The user authenticated by the `require_user` middleware, with its current roles.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<CurrentUser>()
                .cloned()
                .ok_or_else(|| ApiError::unauthorized("Authentication required")),
        )
    }
}

/// The `{id}` path segment as a domain id (`UserId`, `PolygonId`, …); anything that is not a
/// positive 32-bit integer is a 400 `invalid_id`.
#[derive(Debug, Clone, Copy)]
pub struct PathId<T>(pub T);

impl<T: EntityId> FromRequest for PathId<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("id").unwrap_or_default();
        ready(
            parse_positive_id(raw)
                .and_then(|id| T::from_raw(id).ok())
                .map(PathId)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_id",
                        format!("Invalid id {raw:?}: expected a positive integer"),
                    )
                }),
        )
    }
}

fn parse_positive_id(raw: &str) -> Option<i64> {
    raw.parse::<i32>().ok().filter(|id| *id > 0).map(i64::from)
}

#[cfg(test)]
mod tests {
    use super::parse_positive_id;

    #[test]
    fn ids_are_positive_i32() {
        assert_eq!(parse_positive_id("42"), Some(42));
        for bad in ["0", "-1", "abc", "1.5", "", "99999999999", "+"] {
            assert_eq!(parse_positive_id(bad), None, "{bad}");
        }
    }
}
