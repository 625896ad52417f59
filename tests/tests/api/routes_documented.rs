//! The OpenAPI document and the routing table agree: every `(method, path)` the running service
//! serves is documented, and every documented operation is served.
//!
//! How the test learns what the service serves, with no list kept by hand:
//!
//! 1. **Paths.** actix-web has no public way to walk its routing table, but the table
//!    ([`actix_web::dev::ResourceMap`], from [`HttpRequest::resource_map`]) derives `Debug`. The
//!    test builds an in-process app from the very function the server wires,
//!    [`reefguide_http_actix::routes::configure`], plus one probe resource outside `/api` that
//!    answers `format!("{:#?}", req.resource_map())`, and parses that text ([`parse_debug`],
//!    [`route_patterns`]) into the full path template of every leaf resource. The server
//!    (`Application::build`) adds nothing to `configure` but a 404 default service, which is no
//!    route. So that a change of actix's `Debug` format fails the test instead of letting it
//!    pass on an empty table, the probe's own resource and a few known templates must be found,
//!    and at least [`MIN_TEMPLATES`] in all.
//! 2. **Methods.** An actix resource answers 405 to a method it has no route for. Each template,
//!    its parameters filled with values that name nothing ([`fill_parameters`]), is sent every
//!    OpenAPI method with the ADMIN token (ADMIN passes every role guard) on a running
//!    [`TestApp`]: any answer but a 405 means the method is routed. (A guard that refused the
//!    admin would answer for every method and so fail the test loudly, never hide a route.)
//! 3. **Compare** the served `(method, template)` pairs with those of the document the same
//!    service serves at `/api/openapi.json`, both ways; the failure lists every difference.
//!
//! Templates are compared normalised ([`normalise_template`]): no trailing slash (`/api/jobs/`
//! is `/api/jobs`) and no regex (`{key:.+}` is `{key}`). The document is also checked for an
//! operation without responses and for path parameters that are used but not declared (or
//! declared but not used).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use actix_web::{App, HttpRequest, web};
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

/// Path of the probe resource added to the throw-away app; not one of the service's routes.
const PROBE_PATH: &str = "/__routes_documented_probe";

/// Served templates that are deliberately not in the API document (normalised).
const NOT_IN_DOCUMENT: &[&str] = &[
    // The Swagger UI page that renders the document: `/api/docs` redirects to `/api/docs/`,
    // and `/api/docs/{_:.*}` serves the page's HTML, scripts and styles. It shows the API; it
    // is not part of it.
    "/api/docs",
    "/api/docs/{_}",
];

/// Templates that must be found, so that a parser gone wrong cannot pass: a list pattern
/// (`["", "/"]` under `/api`), a nested scope with a parameter, a parameter with a regex.
const KNOWN_TEMPLATES: &[&str] = &["/api", "/api/jobs/{id}", "/api/storage/{key}"];

/// The fewest templates the routing table can plausibly hold (it held 41 when this was
/// written); fewer means the `Debug` text was misread. Lower it if routes are really removed.
const MIN_TEMPLATES: usize = 30;

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

/// Steps 1 to 3 of the module docs: the served and the documented `(method, path)` sets match.
#[rstest]
#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let templates = served_templates().await;
    for excluded in NOT_IN_DOCUMENT {
        assert!(
            templates.contains(*excluded),
            "stale exclusion: {excluded} is no longer served; remove it from NOT_IN_DOCUMENT"
        );
    }

    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mut served = BTreeSet::new();
    let mut unmatched = Vec::new();
    for template in templates
        .iter()
        .filter(|template| !NOT_IN_DOCUMENT.contains(&template.as_str()))
    {
        let path = fill_parameters(template);
        for (method, _) in openapi_methods() {
            match probe(&app, &admin, &method, template, &path).await {
                Answer::Routed => {
                    served.insert((method.to_string(), template.clone()));
                }
                Answer::MethodNotAllowed => {}
                Answer::NoSuchRoute => unmatched.push(format!("{method} {path} ({template})")),
            }
        }
    }
    assert!(
        unmatched.is_empty(),
        "these requests matched no route although their template is in the routing table; \
         make `fill_parameters` fill the parameters with values the patterns accept:\n  {}",
        unmatched.join("\n  ")
    );

    let document = served_document(&app).await;
    let documented = documented_operations(&document);
    let mut report = String::new();
    list_missing(
        &mut report,
        "served but not in the OpenAPI document",
        served.difference(&documented),
    );
    list_missing(
        &mut report,
        "in the OpenAPI document but not served",
        documented.difference(&served),
    );
    assert!(report.is_empty(), "{report}");
}

/// Every documented operation has a response and declares exactly its path's parameters.
#[rstest]
#[tokio::test]
async fn documented_operations_have_responses_and_declare_their_path_parameters(
    #[values(TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let document = served_document(&app).await;
    let operations = documented_operations(&document);
    assert!(
        operations.len() >= MIN_TEMPLATES,
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

/// The probe's handler: the app's whole routing table, as `Debug` text.
async fn dump_resource_map(req: HttpRequest) -> String {
    format!("{:#?}", req.resource_map())
}

/// The normalised path templates of every route of the service (see the module docs).
async fn served_templates() -> BTreeSet<String> {
    let app = actix_web::test::init_service(
        App::new()
            .configure(reefguide_http_actix::routes::configure)
            .service(web::resource(PROBE_PATH).route(web::get().to(dump_resource_map))),
    )
    .await;
    let request = actix_web::test::TestRequest::get()
        .uri(PROBE_PATH)
        .to_request();
    let body = actix_web::test::call_and_read_body(&app, request).await;
    let debug = std::str::from_utf8(&body).expect("the probe answers with text");
    let patterns = route_patterns(debug)
        .unwrap_or_else(|e| panic!("cannot read actix's routing table: {e}\nits text:\n{debug}"));
    assert!(
        patterns.iter().any(|pattern| pattern == PROBE_PATH),
        "the probe's own resource is missing from {patterns:?}; the parser misread:\n{debug}"
    );
    let templates: BTreeSet<String> = patterns
        .iter()
        .filter(|pattern| *pattern != PROBE_PATH)
        .map(|pattern| normalise_template(pattern))
        .collect();
    for known in KNOWN_TEMPLATES {
        assert!(
            templates.contains(*known),
            "{known} not found in {templates:?}; the parser misread:\n{debug}"
        );
    }
    assert!(
        templates.len() >= MIN_TEMPLATES,
        "only {} route templates found ({templates:?}); the parser misread, or routes were \
         removed and MIN_TEMPLATES should be lowered:\n{debug}",
        templates.len()
    );
    templates
}

/// What the running service says about one method on one path.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The resource has a route for the method (whatever the route then answered).
    Routed,
    /// actix's 405: the resource has no route for the method.
    MethodNotAllowed,
    /// The app's 404 fallback: the path matched no resource at all.
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
                    "{method} {path}: a 405 that is not actix's: {}",
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

/// The parameter names of a normalised template, in order: `/a/{x}/b/{y}` → `[x, y]`.
fn template_parameters(template: &str) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// A route pattern as the document writes it: regexes dropped (`{key:.+}` → `{key}`, braces
/// inside the regex included) and trailing slashes dropped (`/api/` → `/api`; `/` stays).
fn normalise_template(pattern: &str) -> String {
    let mut template = String::with_capacity(pattern.len());
    let mut depth = 0_usize;
    let mut in_regex = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    template.push('{');
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_regex = false;
                    template.push('}');
                }
            }
            ':' if depth == 1 => in_regex = true,
            c if !in_regex => template.push(c),
            _ => {}
        }
    }
    match template.trim_end_matches('/') {
        "" => "/".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

/// Every `(METHOD, template)` the document lists, templates normalised.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has `paths`");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for (method, key) in openapi_methods() {
            if item.get(key).is_some() {
                operations.insert((method.to_string(), normalise_template(path)));
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

/// The full pattern of every leaf resource in the `Debug` text of an actix
/// [`ResourceMap`](actix_web::dev::ResourceMap): each node's `pattern.patterns` (`Single("…")`
/// or `List(["…", …])`) joined to its ancestors', following `nodes` (`Some([…])` for a scope,
/// `None` for a resource). A list pattern yields one entry per alternative. Fails on any other
/// shape, and on a prefix service with no table of its own (static files, say), whose methods
/// and paths this test could not see.
fn route_patterns(debug: &str) -> Result<Vec<String>, String> {
    let root = parse_debug(debug)?;
    let mut patterns = Vec::new();
    collect_patterns(&root, "", &mut patterns)?;
    Ok(patterns)
}

/// [`route_patterns`] for one `ResourceMap` node under the full pattern `parent`.
fn collect_patterns(node: &DebugValue, parent: &str, out: &mut Vec<String>) -> Result<(), String> {
    let definition = node.field("ResourceMap", "pattern")?;
    let own = match definition.field("ResourceDef", "patterns")? {
        DebugValue::Tuple(kind, items) => match (kind.as_str(), items.as_slice()) {
            ("Single", [single]) => vec![single.text()?],
            ("List", [DebugValue::List(list)]) => list
                .iter()
                .map(DebugValue::text)
                .collect::<Result<_, _>>()?,
            _ => return Err(format!("unknown `patterns`: {}", node.summary())),
        },
        other => return Err(format!("unknown `patterns`: {}", other.summary())),
    };
    let is_prefix = *definition.field("ResourceDef", "is_prefix")? == DebugValue::word("true");
    let children = match node.field("ResourceMap", "nodes")? {
        DebugValue::Word(none) if none == "None" => None,
        DebugValue::Tuple(some, items) if some == "Some" => match items.as_slice() {
            [DebugValue::List(children)] => Some(children),
            _ => return Err(format!("unknown `nodes`: {}", node.summary())),
        },
        other => return Err(format!("unknown `nodes`: {}", other.summary())),
    };
    for pattern in own {
        let full = format!("{parent}{pattern}");
        match children {
            Some(children) => {
                for child in children {
                    collect_patterns(child, &full, out)?;
                }
            }
            None if is_prefix => {
                return Err(format!(
                    "`{full}` is a prefix service without a routing table of its own; \
                     this test cannot see what it serves"
                ));
            }
            None => out.push(full),
        }
    }
    Ok(())
}

/// One value of Rust's `Debug` output (`{:?}` or `{:#?}`), parsed just enough to walk it.
#[derive(Debug, Clone, PartialEq)]
enum DebugValue {
    /// `"text"`, unescaped.
    Str(String),
    /// A bare token: `true`, `None`, `42`, `Weak`, `..`.
    Word(String),
    /// `Name { field: value, … }`.
    Struct(String, Vec<(String, DebugValue)>),
    /// `Name(value, …)`; the name is empty for a plain tuple.
    Tuple(String, Vec<DebugValue>),
    /// `[value, …]`.
    List(Vec<DebugValue>),
    /// `{key: value, …}`; a set's entries have no value.
    Map(Vec<(DebugValue, Option<DebugValue>)>),
}

impl DebugValue {
    /// A [`DebugValue::Word`].
    fn word(word: &str) -> Self {
        Self::Word(word.to_owned())
    }

    /// The field `name` of this value, which must be a struct named `type_name`.
    fn field(&self, type_name: &str, name: &str) -> Result<&DebugValue, String> {
        match self {
            Self::Struct(found, fields) if found == type_name => fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value)
                .ok_or_else(|| format!("{type_name} has no field `{name}`: {}", self.summary())),
            other => Err(format!("expected a {type_name}: {}", other.summary())),
        }
    }

    /// The text of a [`DebugValue::Str`].
    fn text(&self) -> Result<String, String> {
        match self {
            Self::Str(text) => Ok(text.clone()),
            other => Err(format!("expected a string: {}", other.summary())),
        }
    }

    /// The start of this value's own `Debug`, for error messages.
    fn summary(&self) -> String {
        format!("{self:?}").chars().take(160).collect()
    }
}

/// Parses the `Debug` text of one value; errors name the place the text stopped making sense.
fn parse_debug(text: &str) -> Result<DebugValue, String> {
    let mut parser = DebugParser {
        chars: text.chars().collect(),
        at: 0,
    };
    let value = parser.value()?;
    parser.skip_space();
    if parser.at < parser.chars.len() {
        return Err(parser.error("text after the value"));
    }
    Ok(value)
}

/// A recursive-descent reader of `Debug` text.
struct DebugParser {
    /// The text.
    chars: Vec<char>,
    /// The next character to read.
    at: usize,
}

impl DebugParser {
    /// The next character, not consumed.
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    /// The next character, consumed.
    fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    /// Skips whitespace.
    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// Consumes `c` (after whitespace) if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        let found = self.peek() == Some(c);
        if found {
            self.at += 1;
        }
        found
    }

    /// Consumes `c` (after whitespace), or fails.
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{c}`")))
        }
    }

    /// `what`, with where it happened and the text there.
    fn error(&self, what: &str) -> String {
        let here: String = self.chars.iter().skip(self.at).take(60).collect();
        format!("{what} at character {}: {here:?}", self.at)
    }

    /// Comma-separated items (a trailing comma allowed) up to and including `close`.
    fn items<T>(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(item(self)?);
            if !self.eat(',') {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    /// One value.
    fn value(&mut self) -> Result<DebugValue, String> {
        self.skip_space();
        match self.peek() {
            None => Err(self.error("unexpected end")),
            Some('"') => self.string().map(DebugValue::Str),
            Some('[') => {
                self.at += 1;
                self.items(']', Self::value).map(DebugValue::List)
            }
            Some('(') => {
                self.at += 1;
                self.items(')', Self::value)
                    .map(|items| DebugValue::Tuple(String::new(), items))
            }
            Some('{') => {
                self.at += 1;
                self.items('}', |parser| {
                    let key = parser.value()?;
                    let value = if parser.eat(':') {
                        Some(parser.value()?)
                    } else {
                        None
                    };
                    Ok((key, value))
                })
                .map(DebugValue::Map)
            }
            Some(_) => {
                let name = self.word()?;
                if self.eat('{') {
                    self.items('}', |parser| {
                        let field = parser.word()?;
                        if field == ".." {
                            return Ok((field, DebugValue::word("..")));
                        }
                        parser.expect(':')?;
                        Ok((field, parser.value()?))
                    })
                    .map(|fields| DebugValue::Struct(name, fields))
                } else if self.eat('(') {
                    self.items(')', Self::value)
                        .map(|items| DebugValue::Tuple(name, items))
                } else {
                    Ok(DebugValue::Word(name))
                }
            }
        }
    }

    /// A bare token: everything up to whitespace or punctuation.
    fn word(&mut self) -> Result<String, String> {
        self.skip_space();
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && !"{}[](),:\"".contains(c))
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected a value"));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    /// A quoted string with Rust's escapes (`\"`, `\\`, `\n`, `\u{…}`, …).
    fn string(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut text = String::new();
        loop {
            match self.next_char() {
                None => return Err(self.error("unterminated string")),
                Some('"') => return Ok(text),
                Some('\\') => {
                    let escaped = match self.next_char() {
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('0') => '\0',
                        Some('u') => {
                            self.expect('{')?;
                            let mut hex = String::new();
                            while let Some(c) = self.next_char().filter(|c| *c != '}') {
                                hex.push(c);
                            }
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.error("bad \\u escape"))?
                        }
                        Some(other) => other,
                        None => return Err(self.error("unterminated escape")),
                    };
                    text.push(escaped);
                }
                Some(c) => text.push(c),
            }
        }
    }
}

/// The `Debug` reader handles structs, tuples, lists, maps, sets, escapes and `..`; and refuses
/// broken text.
#[test]
fn parse_debug_reads_every_shape() {
    let value = parse_debug(
        r#"Outer {
            text: "a \"quoted\" \\ line\n\u{e9}",
            list: [1, -2.5, None,],
            tuple: Some((Weak)),
            map: {"k": V { x: true }, "j": [],},
            set: {"a", "b"},
            rest: Partial { y: 1, .. },
        }"#,
    )
    .expect("parses");
    let word = DebugValue::word;
    assert_eq!(
        value,
        DebugValue::Struct(
            "Outer".into(),
            vec![
                (
                    "text".into(),
                    DebugValue::Str("a \"quoted\" \\ line\n\u{e9}".into())
                ),
                (
                    "list".into(),
                    DebugValue::List(vec![word("1"), word("-2.5"), word("None")])
                ),
                (
                    "tuple".into(),
                    DebugValue::Tuple(
                        "Some".into(),
                        vec![DebugValue::Tuple(String::new(), vec![word("Weak")])]
                    )
                ),
                (
                    "map".into(),
                    DebugValue::Map(vec![
                        (
                            DebugValue::Str("k".into()),
                            Some(DebugValue::Struct(
                                "V".into(),
                                vec![("x".into(), word("true"))]
                            ))
                        ),
                        (DebugValue::Str("j".into()), Some(DebugValue::List(vec![]))),
                    ])
                ),
                (
                    "set".into(),
                    DebugValue::Map(vec![
                        (DebugValue::Str("a".into()), None),
                        (DebugValue::Str("b".into()), None),
                    ])
                ),
                (
                    "rest".into(),
                    DebugValue::Struct(
                        "Partial".into(),
                        vec![("y".into(), word("1")), ("..".into(), word(".."))]
                    )
                ),
            ]
        )
    );
    for broken in [
        "Outer { a: 1",
        "[1 2]",
        "\"open",
        "Outer { a 1 }",
        "1 2",
        "",
    ] {
        assert!(parse_debug(broken).is_err(), "{broken:?} should not parse");
    }
}

/// Patterns join through scopes, lists split, `named` is not followed, prefix leaves are refused.
#[test]
fn route_patterns_joins_scopes_and_splits_lists() {
    let debug = r#"ResourceMap {
        pattern: ResourceDef { patterns: Single(""), is_prefix: true },
        named: {},
        nodes: Some([
            ResourceMap {
                pattern: ResourceDef { patterns: Single("/a"), is_prefix: true },
                named: {"n": ResourceMap {
                    pattern: ResourceDef { patterns: Single("/ignored"), is_prefix: false },
                    nodes: None,
                }},
                nodes: Some([
                    ResourceMap {
                        pattern: ResourceDef { patterns: List(["", "/"]), is_prefix: false },
                        nodes: None,
                    },
                    ResourceMap {
                        pattern: ResourceDef { patterns: Single("/{id:\\d+}"), is_prefix: false },
                        nodes: None,
                    },
                ]),
            },
            ResourceMap {
                pattern: ResourceDef { patterns: Single("/b"), is_prefix: false },
                nodes: None,
            },
        ]),
    }"#;
    assert_eq!(
        route_patterns(debug).expect("reads the table"),
        ["/a", "/a/", r"/a/{id:\d+}", "/b"]
    );
    let files = r#"ResourceMap {
        pattern: ResourceDef { patterns: Single("/static"), is_prefix: true },
        nodes: None,
    }"#;
    assert!(route_patterns(files).is_err(), "a prefix leaf is refused");
    assert!(route_patterns("Other { x: 1 }").is_err());
}

/// The reader understands the `Debug` text of the actix version actually linked.
#[tokio::test]
async fn route_patterns_reads_actix_s_own_debug_text() {
    let app = actix_web::test::init_service(
        App::new()
            .service(
                web::scope("/a")
                    .service(web::resource(["", "/"]).route(web::get().to(dump_resource_map)))
                    .service(
                        web::resource(r"/{id:\d{1,9}}")
                            .name("by-id")
                            .route(web::get().to(dump_resource_map)),
                    ),
            )
            .service(web::resource("/b").route(web::post().to(dump_resource_map))),
    )
    .await;
    let request = actix_web::test::TestRequest::get().uri("/a").to_request();
    let body = actix_web::test::call_and_read_body(&app, request).await;
    let debug = std::str::from_utf8(&body).expect("text");
    let patterns = route_patterns(debug).unwrap_or_else(|e| panic!("{e}\n{debug}"));
    assert_eq!(patterns, ["/a", "/a/", r"/a/{id:\d{1,9}}", "/b"]);
    let templates: BTreeSet<String> = patterns.iter().map(|p| normalise_template(p)).collect();
    assert_eq!(
        templates,
        BTreeSet::from(["/a".to_owned(), "/a/{id}".to_owned(), "/b".to_owned()])
    );
}

/// Trailing slashes and regexes go; parameters are filled by kind.
#[test]
fn templates_are_normalised_and_filled() {
    assert_eq!(normalise_template("/api/"), "/api");
    assert_eq!(normalise_template(""), "/");
    assert_eq!(normalise_template("/"), "/");
    assert_eq!(normalise_template("/storage/{key:.+}"), "/storage/{key}");
    assert_eq!(normalise_template(r"/x/{id:\d{1,3}}/y/"), "/x/{id}/y");
    assert_eq!(normalise_template("/docs/{_:.*}"), "/docs/{_}");
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
