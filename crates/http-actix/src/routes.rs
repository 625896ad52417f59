//! The routes, served and documented by the same calls.
//!
//! Each handler carries its OpenAPI operation (`#[utoipa::path(...)]`) above an actix route macro
//! (`#[get("/{id}")]`) that gives its method and path. [`register`] hands the handlers and their
//! scopes to a [`Registry`]: the server's registry serves them ([`serve`]), the document's
//! registry (`utoipa_actix_web`'s) collects their operations under the scopes' path prefixes
//! ([`documented`], which [`crate::openapi::ApiDoc::render`] completes). Both run the same
//! registration, so a served path and its documented path cannot differ, and a registry takes
//! only handlers that carry `#[utoipa::path]`: a route cannot be served undocumented (see
//! [`register`]).

pub mod admin;
pub mod auth;
pub mod data_specification;
mod fallback;
pub mod groups;
pub mod health;
pub mod jobs;
pub mod labcas;
pub mod notes;
pub mod password_reset;
pub mod polygons;
pub mod pre_approvals;
pub mod projects;
mod registry;
pub mod sharing;
pub mod storage;
pub mod user_search;
pub mod users;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::{App, web};
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

pub use self::fallback::ServedMethods;
pub use self::registry::{Guard, Registry, RouteSet};

/// Registers every route of the service in `routes`: the API under `/api`, and the Swagger UI
/// page.
///
/// A [`Registry`] takes only handlers with an OpenAPI operation, so registering an undocumented
/// handler does not compile. A documented handler registers:
///
/// ```
/// use actix_web::{HttpResponse, get};
/// use reefguide_http_actix::routes::Registry;
///
/// /// A handler.
/// #[utoipa::path(responses((status = 200, description = "Served")))]
/// #[get("/handler")]
/// async fn handler() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// fn register<R: Registry>(routes: &mut R) {
///     routes.handler(handler);
/// }
/// ```
///
/// and the same code without the `#[utoipa::path]` line does not (the handler lacks
/// `OpenApiFactory`, E0277):
///
/// ```compile_fail,E0277
/// use actix_web::{HttpResponse, get};
/// use reefguide_http_actix::routes::Registry;
///
/// /// A handler.
/// #[get("/handler")]
/// async fn handler() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// fn register<R: Registry>(routes: &mut R) {
///     routes.handler(handler);
/// }
/// ```
///
/// The only way past the documentation is [`Registry::undocumented`], used once here, for the
/// Swagger UI.
pub fn register<R: Registry>(routes: &mut R, mounts: Mounts) {
    // The Swagger UI page shows the document; it is not part of the API, so it is registered
    // past the documentation. It comes before the `/api` scope, which would otherwise claim its
    // paths. Its assets are vendored into the binary, so it works with no internet access.
    routes
        .undocumented(|cfg| {
            cfg.service(web::resource("/api/docs").route(web::get().to(docs_redirect)))
                .service(
                    SwaggerUi::new("/api/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/api/openapi.json")),
                );
        })
        .handler(crate::metering::metrics_endpoint)
        .scope::<Api>("/api", Guard::Open)
        .scope::<labcas::Routes>(mounts.labcas, Guard::ScreenedSignedInBareToken);
}

/// Where the route sets with a configurable path are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mounts {
    /// The LabCAS routes (`labcas.base_path`).
    pub labcas: &'static str,
}

impl Default for Mounts {
    fn default() -> Self {
        Self { labcas: "/labcas" }
    }
}

impl Mounts {
    /// The mounts of a configuration.
    #[must_use]
    pub fn of(settings: &crate::Settings) -> Self {
        Self {
            labcas: interned(&settings.workflows.labcas.base_path),
        }
    }
}

/// `path` with the `'static` lifetime route scopes need: each distinct path is leaked once per
/// process (a configuration holds one; test processes start a few apps).
fn interned(path: &str) -> &'static str {
    static PATHS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut paths = PATHS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = paths.iter().find(|known| **known == path) {
        return known;
    }
    let leaked: &'static str = Box::leak(path.to_owned().into_boxed_str());
    paths.push(leaked);
    leaked
}

/// The routes under `/api`.
struct Api;

impl RouteSet for Api {
    fn register<R: Registry>(routes: &mut R) {
        health::Routes::register(routes);
        routes
            .scope::<auth::Routes>("/auth", Guard::Open)
            .scope::<password_reset::Routes>("/password-reset", Guard::Open)
            .scope::<polygons::Routes>("/polygons", Guard::UserFeatures)
            .scope::<notes::Routes>("/notes", Guard::UserFeatures)
            .scope::<projects::Routes>("/projects", Guard::UserFeatures)
            .scope::<groups::Routes>("/groups", Guard::UserFeatures);
        storage::Routes::register(routes);
        jobs::worker::Routes::register(routes);
        routes
            .scope::<jobs::Routes>("/jobs", Guard::UserFeatures)
            // R2's readers of the data specification live under `/admin` but are open to every
            // user of the user features: before `/admin`, whose scope would take them.
            .scope::<data_specification::RegionRoutes>("/admin/regions", Guard::UserFeatures)
            .scope::<data_specification::CriteriaRoutes>("/admin/criteria", Guard::UserFeatures)
            // The worker of a DATA_SPECIFICATION_UPDATE job posts what it computed.
            .scope::<data_specification::SpecificationRoutes>(
                "/admin/data-specification",
                Guard::Worker,
            )
            .scope::<admin::Routes>("/admin", Guard::Admin)
            // Before `/users`, whose scope would take it.
            .scope::<user_search::Routes>("/users/search", Guard::UserFeatures)
            .scope::<users::Routes>("/users", Guard::Admin);
    }
}

/// `app` serving every route of [`register`] (with nothing documented: the document is built
/// once, by [`documented`]), and answering a request that no route takes with a 405 when its
/// path is a route's (actix's route macros leave that to the default service) or a JSON 404.
/// `served` is the method table of the document, built once and shared by every HTTP worker.
pub fn serve<T>(app: App<T>, served: web::Data<ServedMethods>, mounts: Mounts) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.configure(|routes| register(routes, mounts))
        .app_data(served)
        .default_service(web::to(fallback::unknown_route))
}

/// The operations (paths) and the schemas they use of every route [`register`] serves, collected
/// by registering them on an application that is never run.
pub fn documented(mounts: Mounts) -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .configure(|routes| register(routes, mounts))
        .split_for_parts()
        .1
}

/// `/api/docs` → `/api/docs/` (the page's relative asset paths need the slash).
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/api/docs/"))
        .finish()
}
