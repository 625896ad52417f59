//! The OpenAPI document and the routes agree.
//!
//! A route cannot be served undocumented: the server registers its handlers through
//! `utoipa_actix_web` ([`reefguide_http_actix::routes::register`]), which takes only handlers
//! that carry `#[utoipa::path]` and documents each under the very path it serves (the
//! `compile_fail` doc test of `register` shows an undocumented handler does not compile). The
//! document served at `/api/openapi.json` is collected by the same registration.
//!
//! What remains to check at run time is the other direction and the document itself:
//!
//! 1. **Every documented operation is served, and nothing else at its path.** Each documented
//!    path, its parameters filled with values that name nothing ([`fill_parameters`]), is sent
//!    every OpenAPI method with the ADMIN token (ADMIN passes every role guard) on a running
//!    [`TestApp`]. A documented method must be routed (any answer but the routing 404 or a 405);
//!    any other method must get the 405 of a path that exists. (A guard that refused the admin
//!    would answer for every method and so fail the test loudly, never hide a route.)
//! 2. **Collections are served with a trailing slash too** ([`TRAILING_SLASH`]), which the
//!    document cannot say.
//! 3. **The document is sound:** every operation has a response, and declares exactly the path
//!    parameters its path uses ([`document_problems`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

/// The fewest operations the document can plausibly hold (it held 49 when this was written);
/// fewer means `paths` went missing. Lower it if routes are really removed.
const MIN_OPERATIONS: usize = 40;

/// Collection paths also served with a trailing slash (`#[routes]` with `""` and `"/"`); the
/// document lists them without it.
const TRAILING_SLASH: &[&str] = &[
    "/api/",
    "/api/polygons/",
    "/api/notes/",
    "/api/jobs/",
    "/api/users/",
    "/api/auth/admin/pre-approved-users/",
];

/// Long-polling routes and the body that makes them answer at once.
const LONG_POLLS: &[(&str, &str)] = &[("/api/jobs/claim", r#"{"waitSeconds": 0}"#)];

/// How long one probe may take; a probe that waits longer is a bug in this test (or a hang).
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP methods an OpenAPI path item can document, with their key in the document.
fn openapi_methods() -> [(Method, &'static str); 8] {
    [
        (Method::GET, "get"),
        (Method::PUT, "put"),
        (Method::POST, "post"),
        (Method::DELETE, "delete"),
        (Method::OPTIONS, "options"),
        (Method::HEAD, "head"),
        (Method::PATCH, "patch"),
        (Method::TRACE, "trace"),
    ]
}

/// Step 1 of the module docs: at each documented path, exactly the documented methods are
/// routed, and every other method is a 405.
#[rstest]
#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let document = served_document(&app).await;
    let documented = documented_operations(&document);
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    let mut served = BTreeSet::new();
    let mut no_route = Vec::new();
    for template in paths {
        let path = fill_parameters(template);
        for (method, _) in openapi_methods() {
            match probe(&app, &admin, &method, template, &path).await {
                Answer::Routed => {
                    served.insert((method.to_string(), template.clone()));
                }
                Answer::MethodNotAllowed => {}
                Answer::NoSuchRoute => no_route.push(format!("{method} {path} ({template})")),
            }
        }
    }
    assert!(
        no_route.is_empty(),
        "these requests to documented paths matched no route (a 404 instead of a 405 or an \
         answer); if the path is served, make `fill_parameters` fill its parameters with values \
         its pattern accepts:\n  {}",
        no_route.join("\n  ")
    );
    let mut report = String::new();
    list_missing(
        &mut report,
        "in the OpenAPI document but not served",
        documented.difference(&served),
    );
    list_missing(
        &mut report,
        "served at a documented path, but not documented (no 405)",
        served.difference(&documented),
    );
    assert!(report.is_empty(), "{report}");
}

/// Step 2 of the module docs.
#[rstest]
#[tokio::test]
async fn collections_are_served_with_a_trailing_slash_too(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for path in TRAILING_SLASH {
        assert_eq!(
            probe(&app, &admin, &Method::GET, path, path).await,
            Answer::Routed,
            "GET {path}"
        );
    }
}

/// Step 3 of the module docs: every documented operation has a response and declares exactly
/// its path's parameters.
#[rstest]
#[tokio::test]
async fn documented_operations_have_responses_and_declare_their_path_parameters(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let document = served_document(&app).await;
    let operations = documented_operations(&document);
    assert!(
        operations.len() >= MIN_OPERATIONS,
        "only {} documented operations: is `paths` there?",
        operations.len()
    );
    let problems = document_problems(&document);
    assert!(
        problems.is_empty(),
        "the OpenAPI document:\n  {}",
        problems.join("\n  ")
    );
}

/// The OpenAPI document as the service serves it (`GET /api/openapi.json`).
async fn served_document(app: &TestApp) -> Value {
    let reply = app.get("/api/openapi.json", None).await.expect(200);
    assert!(
        reply.body["paths"].is_object(),
        "the document has no `paths`: {}",
        reply.text
    );
    reply.body
}

/// What the running service says about one method on one path.
#[derive(Debug, PartialEq)]
enum Answer {
    /// A route took the request (whatever it then answered).
    Routed,
    /// The router's 405: the path is a route's, the method is not.
    MethodNotAllowed,
    /// The router's 404: the path is no route's at all.
    NoSuchRoute,
}

/// Sends `method` to `path` (an instance of `template`) as the admin and classifies the answer.
async fn probe(app: &TestApp, admin: &str, method: &Method, template: &str, path: &str) -> Answer {
    let body = LONG_POLLS
        .iter()
        .find(|(long_poll, _)| *long_poll == template)
        .map_or_else(
            || json!({}),
            |(_, body)| serde_json::from_str(body).expect("LONG_POLLS bodies are JSON"),
        );
    let reply = tokio::time::timeout(
        PROBE_TIMEOUT,
        app.send(method.clone(), path, Some(admin), Some(body)),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path} took over {PROBE_TIMEOUT:?}: a long poll?"));
    match reply.status.as_u16() {
        405 => {
            if *method != Method::HEAD {
                assert_eq!(
                    reply.body["code"],
                    json!("method_not_allowed"),
                    "{method} {path}: a 405 that is not the router's: {}",
                    reply.text
                );
            }
            Answer::MethodNotAllowed
        }
        404 if reply.body["message"] == json!(format!("Route {method} {path} not found")) => {
            Answer::NoSuchRoute
        }
        _ => Answer::Routed,
    }
}

/// `template` with each parameter replaced by a value that names nothing: a number for ids
/// (`id`, `userId`), a word for anything else. Nothing exists, so nothing is changed.
fn fill_parameters(template: &str) -> String {
    let mut path = template.to_owned();
    for name in template_parameters(template) {
        let value = if name == "id" || name.ends_with("Id") || name.ends_with("_id") {
            "987654321"
        } else {
            "no-such-key"
        };
        path = path.replace(&format!("{{{name}}}"), value);
    }
    path
}

/// The parameter names of a template, in order: `/a/{x}/b/{y}` → `[x, y]`.
fn template_parameters(template: &str) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Every `(METHOD, path)` the document lists.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has `paths`");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for (method, key) in openapi_methods() {
            if item.get(key).is_some() {
                operations.insert((method.to_string(), path.clone()));
            }
        }
    }
    operations
}

/// Operations with no documented response, and path parameters used by a template but not
/// declared `in: path` (with `required: true`) by its operation or path item, or declared but
/// not used.
fn document_problems(document: &Value) -> Vec<String> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has `paths`");
    let mut problems = Vec::new();
    for (path, item) in paths {
        let used: BTreeSet<String> = template_parameters(path).into_iter().collect();
        for (method, key) in openapi_methods() {
            let Some(operation) = item.get(key) else {
                continue;
            };
            let operation_name = format!("{method} {path}");
            if operation["responses"]
                .as_object()
                .is_none_or(serde_json::Map::is_empty)
            {
                problems.push(format!("{operation_name} documents no response"));
            }
            let mut declared = BTreeSet::new();
            let parameters = [&item["parameters"], &operation["parameters"]];
            for parameter in parameters.into_iter().filter_map(Value::as_array).flatten() {
                let parameter = resolve(document, parameter);
                if parameter["in"] != json!("path") {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                if parameter["required"] != json!(true) {
                    problems.push(format!(
                        "{operation_name}: path parameter `{name}` is not `required: true`"
                    ));
                }
                declared.insert(name);
            }
            for name in used.difference(&declared) {
                problems.push(format!(
                    "{operation_name}: path parameter `{name}` is not declared"
                ));
            }
            for name in declared.difference(&used) {
                problems.push(format!(
                    "{operation_name}: declares path parameter `{name}`, absent from the path"
                ));
            }
        }
    }
    problems
}

/// `value`, or what its `$ref` (`#/components/...`) points to.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    value["$ref"]
        .as_str()
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| document.pointer(pointer))
        .unwrap_or(value)
}

/// Appends `title` and the operations of `missing`, one a line, when there are any.
fn list_missing<'a>(
    report: &mut String,
    title: &str,
    missing: impl Iterator<Item = &'a (String, String)>,
) {
    let lines: Vec<String> = missing
        .map(|(method, template)| format!("  {method} {template}"))
        .collect();
    if !lines.is_empty() {
        writeln!(report, "{title}:\n{}", lines.join("\n")).expect("writing to a String");
    }
}

/// Parameters are found and filled by kind.
#[test]
fn parameters_are_found_and_filled() {
    assert_eq!(
        template_parameters("/a/{id}/b/{key}"),
        ["id".to_owned(), "key".to_owned()]
    );
    assert_eq!(
        fill_parameters("/a/{id}/b/{userId}/c/{key}"),
        "/a/987654321/b/987654321/c/no-such-key"
    );
}

/// Each kind of document problem is reported, `$ref` parameters are resolved.
#[test]
fn document_problems_finds_missing_responses_and_parameters() {
    let document = json!({
        "components": {"parameters": {"Id": {"name": "id", "in": "path", "required": true}}},
        "paths": {
            "/ok/{id}": {"get": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "responses": {"200": {}},
            }},
            "/bad/{id}": {
                "post": {"responses": {}},
                "put": {
                    "parameters": [{"name": "other", "in": "path", "required": false}],
                    "responses": {"200": {}},
                },
            },
        },
    });
    assert_eq!(
        document_problems(&document),
        [
            "PUT /bad/{id}: path parameter `other` is not `required: true`",
            "PUT /bad/{id}: path parameter `id` is not declared",
            "PUT /bad/{id}: declares path parameter `other`, absent from the path",
            "POST /bad/{id} documents no response",
            "POST /bad/{id}: path parameter `id` is not declared",
        ]
    );
    assert_eq!(
        documented_operations(&document),
        BTreeSet::from([
            ("GET".to_owned(), "/ok/{id}".to_owned()),
            ("POST".to_owned(), "/bad/{id}".to_owned()),
            ("PUT".to_owned(), "/bad/{id}".to_owned()),
        ])
    );
}
