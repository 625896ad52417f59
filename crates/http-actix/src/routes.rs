//! The routes, served and documented by the same calls.
//!
//! Each handler carries its OpenAPI operation (`#[utoipa::path(...)]`) above an actix route macro
//! (`#[get("/{id}")]`) that gives its method and path. [`register`] hands the handlers to
//! `utoipa_actix_web`'s scopes and service configs, whose `service` both serves a handler and
//! adds its operation to the document under the scopes' path prefixes, so a served path and its
//! documented path cannot differ. `service` only takes handlers that carry `#[utoipa::path]`: a
//! route cannot be served undocumented (see [`register`]).
//!
//! [`register`] is called by the server ([`serve`]) and by the document ([`documented`], which
//! [`crate::openapi::ApiDoc::render`] completes).

pub mod admin;
pub mod auth;
mod fallback;
pub mod health;
pub mod jobs;
pub mod notes;
pub mod polygons;
pub mod storage;
pub mod users;

use actix_web::dev::{HttpServiceFactory, ServiceFactory, ServiceRequest};
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use utoipa_actix_web::scope::scope;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt as _, OpenApiFactory};
use utoipa_swagger_ui::SwaggerUi;

use crate::middleware::{
    require_admin, require_user, require_user_features, require_worker, screen_request,
};

/// Registers every route of the service: the API under `/api`, and the Swagger UI page.
///
/// Registration goes through `utoipa_actix_web`, whose `service` takes only handlers with an
/// OpenAPI operation, so serving an undocumented handler does not compile. A documented handler
/// registers:
///
/// ```
/// use actix_web::{HttpResponse, get};
/// use utoipa_actix_web::service_config::ServiceConfig;
///
/// /// A handler.
/// #[utoipa::path(responses((status = 200, description = "Served")))]
/// #[get("/handler")]
/// async fn handler() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// fn register(cfg: &mut ServiceConfig) {
///     cfg.service(handler);
/// }
/// ```
///
/// and the same code without the `#[utoipa::path]` line does not (the handler lacks
/// `OpenApiFactory`, E0277):
///
/// ```compile_fail,E0277
/// use actix_web::{HttpResponse, get};
/// use utoipa_actix_web::service_config::ServiceConfig;
///
/// /// A handler.
/// #[get("/handler")]
/// async fn handler() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// fn register(cfg: &mut ServiceConfig) {
///     cfg.service(handler);
/// }
/// ```
///
/// The only ways past the documentation are `utoipa_actix_web`'s `map` and `route`; `map` is
/// used once here, for the Swagger UI, and `route` not at all.
pub fn register(cfg: &mut ServiceConfig<'_>) {
    // The Swagger UI page shows the document; it is not part of the API, so it is registered
    // through `map`, past the documentation. It comes before the `/api` scope, which would
    // otherwise claim its paths. Its assets are vendored into the binary, so it works with no
    // internet access.
    cfg.map(|cfg| {
        cfg.service(web::resource("/api/docs").route(web::get().to(docs_redirect)))
            .service(
                SwaggerUi::new("/api/docs/{_:.*}")
                    .config(utoipa_swagger_ui::Config::from("/api/openapi.json")),
            )
    });
    cfg.service(
        scope("/api")
            .configure(health::configure)
            .service(scope("/auth").configure(auth::configure))
            .service(user_scope("/polygons", polygons::configure))
            .service(user_scope("/notes", notes::configure))
            .configure(storage::configure)
            .configure(jobs::worker::configure)
            .service(user_scope("/jobs", jobs::configure))
            .service(admin_scope("/admin", admin::configure))
            .service(admin_scope("/users", users::configure)),
    );
}

/// `app` serving every route of [`register`], and answering a request that no route takes with
/// a 405 when its path is a route's (actix's route macros leave that to the default service) or a
/// JSON 404.
pub fn serve<T>(app: App<T>) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    let (app, document) = app.into_utoipa_app().configure(register).split_for_parts();
    app.app_data(web::Data::new(fallback::ServedMethods::new(&document)))
        .default_service(web::to(fallback::unknown_route))
}

/// The operations (paths) and the schemas they use of every route [`register`] serves, collected
/// by registering them on an application that is never run.
pub fn documented() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .configure(register)
        .split_for_parts()
        .1
}

// The scopes of the authenticated route groups, one function per kind. actix runs the middleware
// added last first: each authenticates the caller (`require_user`), then checks its right, then
// screens the request (`screen_request`), and only then reads the body.

/// A scope of the user features (polygons, notes, jobs): any user allowed to use them
/// ([`require_user_features`]).
fn user_scope(
    path: &'static str,
    routes: fn(&mut ServiceConfig<'_>),
) -> impl HttpServiceFactory + OpenApiFactory + 'static {
    scope(path)
        .wrap(from_fn(screen_request))
        .wrap(from_fn(require_user_features))
        .wrap(from_fn(require_user))
        .configure(routes)
}

/// A scope of administrators only ([`require_admin`]).
fn admin_scope(
    path: &'static str,
    routes: fn(&mut ServiceConfig<'_>),
) -> impl HttpServiceFactory + OpenApiFactory + 'static {
    scope(path)
        .wrap(from_fn(screen_request))
        .wrap(from_fn(require_admin))
        .wrap(from_fn(require_user))
        .configure(routes)
}

/// A scope of workers and administrators ([`require_worker`]).
fn worker_scope(
    path: &'static str,
    routes: fn(&mut ServiceConfig<'_>),
) -> impl HttpServiceFactory + OpenApiFactory + 'static {
    scope(path)
        .wrap(from_fn(screen_request))
        .wrap(from_fn(require_worker))
        .wrap(from_fn(require_user))
        .configure(routes)
}

/// `/api/docs` → `/api/docs/` (the page's relative asset paths need the slash).
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/api/docs/"))
        .finish()
}
