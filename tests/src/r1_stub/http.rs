//! Express's side of the stub: routing, `express.json()`, `qs` query parsing, the answers (R1's
//! error middleware, passport's 401, finalhandler's 404 page) and the request log.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};

use super::R1Request;
use super::auth::{login, refresh};
use super::jobs::{assign, poll, submit_result};
use super::state::Shared;

/// `express.json()`'s default body limit ("100kb").
const JSON_BODY_LIMIT: usize = 100 * 1024;

/// An answer before it is logged.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    /// `None`: an empty body with no content type (`res.status(200).send()`).
    pub(super) body: Option<Body>,
}

/// An answer's body and its content type.
pub(super) enum Body {
    Json(String),
    Text(String),
    Html(String),
}

impl Answer {
    pub(super) fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        Self {
            status,
            body: Some(Body::Json(text)),
        }
    }

    /// R1's error middleware: `{"status": N, "message": "…"}`.
    pub(super) fn error(status: StatusCode, message: &str) -> Self {
        #[derive(Serialize)]
        struct ErrorResponse<'a> {
            status: u16,
            message: &'a str,
        }
        Self::json(
            status,
            &ErrorResponse {
                status: status.as_u16(),
                message,
            },
        )
    }

    /// Anything that is not one of R1's exceptions (body-parser errors, Prisma errors).
    pub(super) fn unexpected() -> Self {
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred",
        )
    }

    /// passport's answer when authentication fails.
    pub(super) fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: Some(Body::Text("Unauthorized".to_owned())),
        }
    }

    /// Express's default 404 (finalhandler): an HTML page saying `Cannot METHOD /path`.
    fn express_not_found(method: &Method, path: &str) -> Self {
        let message = format!("Cannot {method} {path}");
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Error</title>\n</head>\n<body>\n<pre>{}</pre>\n</body>\n</html>\n",
            escape_html(&message)
        );
        Self {
            status: StatusCode::NOT_FOUND,
            body: Some(Body::Html(page)),
        }
    }

    fn into_response(self) -> (HttpResponse, String) {
        let mut builder = HttpResponse::build(self.status);
        match self.body {
            None => (builder.finish(), String::new()),
            Some(Body::Json(text)) => (
                builder
                    .content_type("application/json; charset=utf-8")
                    .body(text.clone()),
                text,
            ),
            Some(Body::Text(text)) => (builder.body(text.clone()), text),
            Some(Body::Html(text)) => (
                builder
                    .content_type("text/html; charset=utf-8")
                    .insert_header(("Content-Security-Policy", "default-src 'none'"))
                    .insert_header(("X-Content-Type-Options", "nosniff"))
                    .body(text.clone()),
                text,
            ),
        }
    }
}

/// Every request: routes it, answers, and logs it.
pub(super) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let answer = route(&req, &body, &shared);
    let status = answer.status.as_u16();
    let (response, text) = answer.into_response();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    shared.state().requests.push(R1Request {
        method: req.method().to_string(),
        path,
        status,
        error_body: if status >= 400 { text } else { String::new() },
    });
    response
}

/// Express's routing (case-insensitive, an optional trailing slash) of the routes a worker uses.
fn route(req: &HttpRequest, body: &[u8], shared: &Shared) -> Answer {
    let path = req.path();
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = req.method();
    match (method, lower.as_slice()) {
        (&Method::GET, ["api"]) => {
            Answer::json(StatusCode::OK, &json!({"message": "API healthy."}))
        }
        (&Method::POST, ["api", "auth", "login"]) => {
            with_json_body(req, body, |body| login(shared, &body))
        }
        (&Method::POST, ["api", "auth", "token"]) => {
            with_json_body(req, body, |body| refresh(shared, &body))
        }
        (&Method::GET, ["api", "jobs", "poll"]) => poll(req, shared),
        (&Method::POST, ["api", "jobs", "assign"]) => {
            with_json_body(req, body, |body| assign(req, shared, &body))
        }
        (&Method::POST, ["api", "jobs", "assignments", id, "result"]) => {
            with_json_body(req, body, |body| submit_result(req, shared, id, &body))
        }
        _ => Answer::express_not_found(method, path),
    }
}

/// `express.json()`: the parsed body (`{}` unless the request is JSON), or R1's 500 for a body
/// it cannot take.
fn with_json_body(req: &HttpRequest, body: &[u8], then: impl FnOnce(Value) -> Answer) -> Answer {
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json || body.is_empty() {
        return then(json!({}));
    }
    if body.len() > JSON_BODY_LIMIT {
        return Answer::unexpected(); // 413 from body-parser, turned into 500 by R1's middleware
    }
    // body-parser's strict mode: only objects and arrays.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if !matches!(first, Some(b'{' | b'[')) {
        return Answer::unexpected();
    }
    match serde_json::from_slice(body) {
        Ok(value) => then(value),
        Err(_) => Answer::unexpected(),
    }
}

/// The query as Express's `qs` parses it: a repeated key becomes an array.
pub(super) fn query_object(req: &HttpRequest) -> Value {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut object = serde_json::Map::new();
    for (key, value) in pairs {
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => {
                let first = first.take();
                object.insert(key, json!([first, value]));
            }
            None => {
                object.insert(key, Value::String(value));
            }
        }
    }
    Value::Object(object)
}

/// The `escape-html` package: `&`, `<`, `>`, `"` and `'`.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}
