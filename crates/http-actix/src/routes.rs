//! Route groups. Each handler carries its OpenAPI annotation.

pub mod admin;
pub mod auth;
pub mod health;
pub mod jobs;
pub mod notes;
pub mod polygons;
pub mod storage;
pub mod users;

use actix_web::web;
use utoipa_swagger_ui::SwaggerUi;

use crate::middleware::{require_admin, require_user, require_user_features, screen_request};

/// Registers every route under `/api`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The docs page first: the `/api` scope would otherwise claim its paths. Its assets are
    // vendored into the binary, so it works with no internet access.
    cfg.service(web::resource("/api/docs").route(web::get().to(docs_redirect)));
    cfg.service(
        SwaggerUi::new("/api/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::from("/api/openapi.json")),
    );
    cfg.service(
        web::scope("/api")
            .configure(health::configure)
            .service(web::scope("/auth").configure(auth::configure))
            .service(
                web::scope("/polygons")
                    .wrap(actix_web::middleware::from_fn(screen_request))
                    .wrap(actix_web::middleware::from_fn(require_user_features))
                    .wrap(actix_web::middleware::from_fn(require_user))
                    .configure(polygons::configure),
            )
            .service(
                web::scope("/notes")
                    .wrap(actix_web::middleware::from_fn(screen_request))
                    .wrap(actix_web::middleware::from_fn(require_user_features))
                    .wrap(actix_web::middleware::from_fn(require_user))
                    .configure(notes::configure),
            )
            .configure(storage::configure)
            .configure(jobs::worker::configure)
            .service(
                web::scope("/jobs")
                    .wrap(actix_web::middleware::from_fn(screen_request))
                    .wrap(actix_web::middleware::from_fn(require_user_features))
                    .wrap(actix_web::middleware::from_fn(require_user))
                    .configure(jobs::configure),
            )
            .service(
                web::scope("/admin")
                    .wrap(actix_web::middleware::from_fn(screen_request))
                    .wrap(actix_web::middleware::from_fn(require_admin))
                    .wrap(actix_web::middleware::from_fn(require_user))
                    .configure(admin::configure),
            )
            .service(
                web::scope("/users")
                    .wrap(actix_web::middleware::from_fn(screen_request))
                    .wrap(actix_web::middleware::from_fn(require_admin))
                    .wrap(actix_web::middleware::from_fn(require_user))
                    .configure(users::configure),
            ),
    );
}

/// `/api/docs` → `/api/docs/` (the page's relative asset paths need the slash).
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/api/docs/"))
        .finish()
}
