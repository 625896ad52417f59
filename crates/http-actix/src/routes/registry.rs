//! Where routes are registered: the served application or the OpenAPI document, through one
//! interface ([`Registry`]) so that both come from the same registration code.
//!
//! Both registries take only handlers that carry an OpenAPI operation (the `OpenApiFactory`
//! bound of [`Registry::handler`] and [`Registry::scope_of`]), so a route cannot be served
//! undocumented. Only the document's registry (`utoipa_actix_web`'s service config) collects the
//! operations; the server's (actix's own service config) just serves. Collecting the document
//! costs thousands of short-lived allocations, which the allocator's per-thread caches then keep:
//! done in every HTTP worker thread it cost each about a megabyte of resident memory for
//! nothing, since the document is built once at start-up anyway.

use actix_web::dev::HttpServiceFactory;
use actix_web::middleware::from_fn;
use actix_web::web;
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::service_config::ServiceConfig as DocumentingConfig;

use crate::middleware::{
    require_admin, require_user, require_user_bare_token_allowed, require_user_features,
    require_worker, screen_request,
};

/// The middleware in front of a scope's routes. actix runs the middleware added last first:
/// authentication (`require_user`) comes first, then the caller's right, then the request screen
/// (`screen_request`), and only then is the body read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// None.
    Open,
    /// The request screen only.
    Screened,
    /// Any signed-in user.
    SignedIn,
    /// Any signed-in user, then the request screen.
    ScreenedSignedIn,
    /// Any signed-in user, whose token may come without `Bearer ` (the LabCAS routes), then the
    /// request screen.
    ScreenedSignedInBareToken,
    /// A user allowed to use the user features (polygons, notes, jobs): [`require_user_features`].
    UserFeatures,
    /// Administrators only: [`require_admin`].
    Admin,
    /// Workers and administrators: [`require_worker`].
    Worker,
}

/// A set of routes registered together (a module's routes), in any [`Registry`].
pub trait RouteSet {
    /// Registers the routes.
    fn register<R: Registry>(routes: &mut R);
}

/// Where routes go: served, or documented.
pub trait Registry {
    /// Registers a handler that carries an OpenAPI operation (`#[utoipa::path]`).
    fn handler<F>(&mut self, handler: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static;

    /// Registers the routes of `S` under `path`, behind `guard`.
    fn scope<S: RouteSet>(&mut self, path: &'static str, guard: Guard) -> &mut Self;

    /// Registers one handler under `path`, behind `guard` (a scope of its own, so that its
    /// middleware also runs before the answer to a wrong method).
    fn scope_of<F>(&mut self, path: &'static str, guard: Guard, handler: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static;

    /// Registers services that are not part of the API (the Swagger UI page) and so are neither
    /// documented nor bound to be.
    fn undocumented(&mut self, register: fn(&mut web::ServiceConfig)) -> &mut Self;
}

/// Implements [`Registry`] for a service config type whose `service` method registers a scope
/// made by `$scope`, applying each [`Guard`]'s middleware in one place for both registries.
macro_rules! registry {
    (@guarded $self:ident, $scope:expr, $guard:expr, |$s:ident| $finish:expr) => {
        match $guard {
            Guard::Open => {
                let $s = $scope;
                $self.service($finish)
            }
            Guard::Screened => {
                let $s = $scope.wrap(from_fn(screen_request));
                $self.service($finish)
            }
            Guard::SignedIn => {
                let $s = $scope.wrap(from_fn(require_user));
                $self.service($finish)
            }
            Guard::ScreenedSignedIn => {
                let $s = $scope
                    .wrap(from_fn(screen_request))
                    .wrap(from_fn(require_user));
                $self.service($finish)
            }
            Guard::ScreenedSignedInBareToken => {
                let $s = $scope
                    .wrap(from_fn(screen_request))
                    .wrap(from_fn(require_user_bare_token_allowed));
                $self.service($finish)
            }
            Guard::UserFeatures => {
                let $s = $scope
                    .wrap(from_fn(screen_request))
                    .wrap(from_fn(require_user_features))
                    .wrap(from_fn(require_user));
                $self.service($finish)
            }
            Guard::Admin => {
                let $s = $scope
                    .wrap(from_fn(screen_request))
                    .wrap(from_fn(require_admin))
                    .wrap(from_fn(require_user));
                $self.service($finish)
            }
            Guard::Worker => {
                let $s = $scope
                    .wrap(from_fn(screen_request))
                    .wrap(from_fn(require_worker))
                    .wrap(from_fn(require_user));
                $self.service($finish)
            }
        }
    };
    ($config:ty, $scope:path, |$cfg:ident, $register:ident| $undocumented:expr) => {
        impl Registry for $config {
            fn handler<F>(&mut self, handler: F) -> &mut Self
            where
                F: HttpServiceFactory + OpenApiFactory + 'static,
            {
                self.service(handler)
            }

            fn scope<S: RouteSet>(&mut self, path: &'static str, guard: Guard) -> &mut Self {
                registry!(@guarded self, $scope(path), guard, |scope| scope
                    .configure(|routes| S::register(routes)))
            }

            fn scope_of<F>(&mut self, path: &'static str, guard: Guard, handler: F) -> &mut Self
            where
                F: HttpServiceFactory + OpenApiFactory + 'static,
            {
                registry!(@guarded self, $scope(path), guard, |scope| scope.service(handler))
            }

            fn undocumented(&mut self, $register: fn(&mut web::ServiceConfig)) -> &mut Self {
                let $cfg = self;
                $undocumented
            }
        }
    };
}

// The server: actix's own service config, which serves and documents nothing.
registry!(web::ServiceConfig, web::scope, |cfg, register| {
    register(cfg);
    cfg
});

// The document: `utoipa_actix_web`'s service config, which serves and collects the operations.
registry!(
    DocumentingConfig<'_>,
    utoipa_actix_web::scope::scope,
    |cfg, register| cfg.map(|inner| {
        register(inner);
        inner
    })
);
