//! The acceptance's five callers of the LabCAS routes (labcas-contract §3): a LabCAS user listed
//! for the workflow, one who is not, an ADMIN, an anonymous caller and a user of our own RS256
//! tokens; a route called by each of them, with the status each must get.

use reefguide_tests::TestApp;
use serde_json::Value;

/// The five callers of the acceptance matrix, in the order of [`Row::expect`].
pub(crate) const CALLERS: [&str; 5] = [
    "thomas (LabCAS token, listed for the workflow)",
    "mallory (LabCAS token, not listed)",
    "ADMIN",
    "anonymous",
    "ana@example.com (our RS256 token)",
];

/// One route called by every caller: the statuses expected, in the order of [`CALLERS`].
pub(crate) struct Row {
    /// The method.
    method: reqwest::Method,
    /// The path (and query) on the test server.
    path: String,
    /// A JSON body, if any.
    body: Option<Value>,
    /// The status for each caller.
    expect: [u16; 5],
}

impl Row {
    /// `method path`, expecting `expect`.
    pub(crate) fn new(method: reqwest::Method, path: String, expect: [u16; 5]) -> Self {
        Self {
            method,
            path,
            body: None,
            expect,
        }
    }

    /// The same with a JSON body.
    pub(crate) fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// Calls `row` as each of the five callers (`tokens`, `None` for the anonymous one); asserts
/// every status and returns the bodies.
pub(crate) async fn call_row(app: &TestApp, tokens: &[Option<String>; 5], row: &Row) -> Vec<Value> {
    let mut bodies = Vec::new();
    for ((caller, token), expected) in CALLERS.iter().zip(tokens).zip(row.expect) {
        let mut request = reqwest::Client::new()
            .request(row.method.clone(), format!("{}{}", app.address, row.path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &row.body {
            request = request.json(body);
        }
        let reply = request.send().await.expect("answered");
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status, expected,
            "{} {} as {caller}: {body}",
            row.method, row.path
        );
        if status >= 400 {
            assert!(body["code"].is_string(), "a JSON error: {body}");
        }
        bodies.push(body);
    }
    bodies
}
