//! The OpenAPI 3.1 document: what is said once for the whole API ([`ApiDoc`]: info, tags, the
//! security scheme, the error body), the operations collected from the routes as they are
//! registered ([`crate::routes::documented`]), completed with the deployment's job types and
//! limits.

mod deployment;
pub mod responses;

pub use deployment::Deployment;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::errors::{ErrorBody, ErrorDetail};
use crate::routes;

/// What the API's OpenAPI document says once for the whole API; the operations come from the
/// routes ([`ApiDoc::render`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ReefGuide API",
        description = "Accounts, study areas and analysis jobs for ReefGuide. Wire-compatible with \
                       the ReefGuide web API. Errors are always JSON: `{status, message, code, details?}`. \
                       Request bodies are JSON objects; a NUL character (U+0000) anywhere in a \
                       request is refused with 400 `nul_character`."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Health and discovery"),
        (name = "auth", description = "Registration, login and tokens"),
        (name = "users", description = "User administration (ADMIN only)"),
        (name = "polygons", description = "Study areas: validated GeoJSON polygons"),
        (name = "notes", description = "Notes on polygons"),
        (name = "projects", description = "Projects (R2): shared with users, groups or everyone; changed only by their owner or ADMIN"),
        (name = "groups", description = "Groups of users (R2): an owner, managers and members"),
        (name = "jobs", description = "Analysis jobs: submit (cached by content), follow, cancel"),
        (name = "workers", description = "The worker protocol (WORKER or ADMIN): R1's poll → \
            assign → result, the atomic long-polling claim, heartbeats and upload URLs"),
        (name = "admin", description = "The worker cluster (ADMIN only): status, scale, redeploy"),
        (name = "data-specification", description = "ReefGuide's regions, criteria and their \
            ranges: read by every user of the user features, replaced or recomputed by ADMIN"),
        (name = "storage", description = "The embedded default's result files, through signed \
            expiring URLs (no token; the signature is the permission)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("RS256 access token from POST /api/auth/login"))
                    .build(),
            ),
        );
    }
}

impl ApiDoc {
    /// The document of a deployment as pretty JSON: [`ApiDoc`] with the operations of every
    /// route as registered ([`routes::documented`]), completed with what only the configuration
    /// knows (see [`deployment`]).
    ///
    /// # Errors
    /// When the document cannot be serialised (a bug).
    pub fn render(deployment: &Deployment<'_>) -> Result<String, serde_json::Error> {
        Self::render_operations(routes::documented(deployment.mounts), deployment)
    }

    /// [`Self::render`] with the operations already collected by [`routes::documented`] (the
    /// server collects them once and also builds its method table from them).
    ///
    /// # Errors
    /// When the document cannot be serialised (a bug).
    pub fn render_operations(
        operations: utoipa::openapi::OpenApi,
        deployment: &Deployment<'_>,
    ) -> Result<String, serde_json::Error> {
        let mut openapi = ApiDoc::openapi();
        openapi.merge(operations);
        let mut document = serde_json::to_value(openapi)?;
        deployment::complete(&mut document, deployment);
        serde_json::to_string_pretty(&document)
    }
}

#[cfg(test)]
mod tests {
    use reefguide_domain::job::registry::JobTypeRegistry;

    use super::*;

    /// The document of a deployment with the built-in job types.
    fn rendered() -> serde_json::Value {
        let registry = JobTypeRegistry::builtin().expect("built-in types");
        serde_json::from_str(
            &ApiDoc::render(&Deployment {
                job_types: &registry,
                claim_max_wait_seconds: 30,
                max_desired_count: 10,
                mounts: crate::routes::Mounts::default(),
            })
            .expect("renders"),
        )
        .expect("valid JSON")
    }

    /// A project's saved state is any JSON: its schema names no type where it is read, and
    /// every type but `null` where it is sent (utoipa gives a schema without a type `object`
    /// unless told otherwise, which once made every listed project "violate" its schema).
    #[test]
    fn project_state_is_any_json() {
        let document = rendered();
        let schemas = &document["components"]["schemas"];
        let read = &schemas["ProjectDto"]["properties"]["project_state"];
        assert!(read.is_object(), "{read}");
        assert!(read.get("type").is_none(), "{read}");
        let sent = &schemas["CreateProjectRequest"]["properties"]["project_state"];
        assert_eq!(
            sent["type"],
            serde_json::json!(["object", "array", "string", "number", "boolean"]),
            "{sent}"
        );
    }

    #[test]
    fn document_is_openapi_3_1_with_every_path() {
        let document = rendered();
        assert!(
            document["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        for path in [
            "/api",
            "/api/health",
            "/api/.well-known/jwks.json",
            "/api/auth/login",
            "/api/users/{id}/roles",
            "/api/users/utils/log",
            "/api/jobs",
            "/api/jobs/{id}/cancel",
            "/api/jobs/claim",
            "/api/jobs/assignments/{id}/result",
        ] {
            assert!(document["paths"][path].is_object(), "{path} missing");
        }
        assert!(document["components"]["securitySchemes"]["bearerAuth"].is_object());
    }
}
