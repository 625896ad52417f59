//! Route groups. Each handler carries its OpenAPI annotation.

pub mod auth;
pub mod health;
pub mod users;

use actix_web::web;

use crate::middleware::{require_admin, require_user};

/// Registers every route under `/api`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .configure(health::configure)
            .service(web::scope("/auth").configure(auth::configure))
            .service(
                web::scope("/users")
                    .wrap(actix_web::middleware::from_fn(require_admin))
                    .wrap(actix_web::middleware::from_fn(require_user))
                    .configure(users::configure),
            ),
    );
}
