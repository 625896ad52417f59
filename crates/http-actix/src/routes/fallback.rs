//! The answer to a request that no route takes: 405 with `Allow` when its path is a route's but
//! its method is not, a JSON 404 otherwise.
//!
//! An actix route macro (`#[get(...)]`, …) gives each handler a resource of its own, guarded by
//! the handler's method, so a request with another method matches no resource and comes here
//! instead of getting a resource's 405 (actix-web issue #2735). The routing table still tells
//! which route the path belongs to: a route macro names its resource after the handler, which
//! is also the handler's OpenAPI operation id, and the methods served at that path are the
//! operations of its path item in the document. This runs inside the middleware of the scope
//! the request reached, as a resource's 405 did (authentication comes first).

use std::collections::HashMap;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use utoipa::openapi::OpenApi;

use crate::errors::ApiError;

/// For each operation id (the name of its handler and of its resource), the methods served at
/// its path, in the document's order (which is the order of the routes of each old resource).
#[derive(Debug, Default)]
pub struct ServedMethods(HashMap<String, Vec<Method>>);

impl ServedMethods {
    /// The methods of every documented path, by operation id.
    pub fn new(document: &OpenApi) -> Self {
        let mut by_operation = HashMap::new();
        for item in document.paths.paths.values() {
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::OPTIONS, &item.options),
                (Method::HEAD, &item.head),
                (Method::PATCH, &item.patch),
                (Method::TRACE, &item.trace),
            ];
            let methods: Vec<Method> = operations
                .iter()
                .filter(|(_, operation)| operation.is_some())
                .map(|(method, _)| method.clone())
                .collect();
            for (_, operation) in operations {
                if let Some(id) = operation.as_ref().and_then(|o| o.operation_id.clone()) {
                    by_operation.insert(id, methods.clone());
                }
            }
        }
        Self(by_operation)
    }

    /// The methods served at the path of the resource named `name`.
    fn of(&self, name: &str) -> Option<&[Method]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

/// The default service: 405 (turned into JSON, `Allow` kept, by `json_error_body` like actix's
/// own 405) when a route's path matches with another method, else a JSON 404.
pub async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let served = req
        .app_data::<web::Data<ServedMethods>>()
        .and_then(|served| {
            let name = req.resource_map().match_name(req.match_info().as_str())?;
            served.of(name)
        });
    match served {
        Some(methods) => HttpResponse::MethodNotAllowed()
            .insert_header(header::Allow(methods.to_vec()))
            .finish(),
        None => ApiError::not_found(format!("Route {} {} not found", req.method(), req.path()))
            .error_response(),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use utoipa_actix_web::AppExt as _;

    use super::*;

    /// Two handlers on one path, one on another.
    mod handlers {
        use actix_web::{HttpResponse, get, put};

        /// Read.
        #[utoipa::path(responses((status = 200, description = "Read")))]
        #[get("/things/{id}")]
        pub async fn read() -> HttpResponse {
            HttpResponse::Ok().finish()
        }

        /// Replace.
        #[utoipa::path(responses((status = 200, description = "Replaced")))]
        #[put("/things/{id}")]
        pub async fn replace() -> HttpResponse {
            HttpResponse::Ok().finish()
        }

        /// List.
        #[utoipa::path(responses((status = 200, description = "Listed")))]
        #[get("/things")]
        pub async fn list() -> HttpResponse {
            HttpResponse::Ok().finish()
        }
    }

    #[actix_web::test]
    async fn a_known_path_with_another_method_is_405_with_its_methods() {
        let (app, document) = App::new()
            .into_utoipa_app()
            .service(utoipa_actix_web::scope("/api").configure(|cfg| {
                cfg.service(handlers::read)
                    .service(handlers::replace)
                    .service(handlers::list);
            }))
            .split_for_parts();
        let app = test::init_service(
            app.app_data(web::Data::new(ServedMethods::new(&document)))
                .default_service(web::to(unknown_route)),
        )
        .await;
        let answer = |method: Method, uri: &'static str| {
            test::TestRequest::default()
                .method(method)
                .uri(uri)
                .to_request()
        };

        let reply = test::call_service(&app, answer(Method::PUT, "/api/things/1")).await;
        assert_eq!(reply.status(), 200);
        let reply = test::call_service(&app, answer(Method::DELETE, "/api/things/1")).await;
        assert_eq!(reply.status(), 405);
        assert_eq!(
            reply.headers().get(header::ALLOW).expect("Allow"),
            "GET, PUT"
        );
        let reply = test::call_service(&app, answer(Method::POST, "/api/things")).await;
        assert_eq!(reply.status(), 405);
        assert_eq!(reply.headers().get(header::ALLOW).expect("Allow"), "GET");
        let reply = test::call_service(&app, answer(Method::GET, "/api/things/1/x")).await;
        assert_eq!(reply.status(), 404);
        let reply = test::call_service(&app, answer(Method::GET, "/elsewhere")).await;
        assert_eq!(reply.status(), 404);
    }
}
