//! The few API calls the scenarios make to set themselves up (contract §3, §4, §5): users,
//! logins, a polygon. Any failure here stops the benchmark: it cannot measure a broken server.

use anyhow::Context as _;
use serde_json::{Value, json};

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// POSTs `body` (with a token when given) and returns the JSON answer; a non-2xx answer is an
/// error naming the route and its body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("POST {url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url} answered {text:?}"))
}

/// Logs in and returns the access token.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let reply = post(
        client,
        &format!("{base}/api/auth/login"),
        None,
        &json!({"email": email, "password": password}),
    )
    .await?;
    reply["token"]
        .as_str()
        .map(str::to_owned)
        .context("login returned no token")
}

/// Registers a user through the public route (no roles).
pub async fn register(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<()> {
    post(
        client,
        &format!("{base}/api/auth/register"),
        None,
        &json!({"email": email, "password": password}),
    )
    .await
    .map(drop)
}

/// Creates a user with roles through the admin route.
pub async fn create_user(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
    (email, password): (&str, &str),
    roles: &[&str],
) -> anyhow::Result<()> {
    post(
        client,
        &format!("{base}/api/users"),
        Some(admin_token),
        &json!({"email": email, "password": password, "roles": roles}),
    )
    .await
    .map(drop)
}

/// Creates a small valid study area and returns its id.
pub async fn create_polygon(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<i64> {
    let polygon = json!({"type": "Polygon", "coordinates": [[
        [146.1, -18.2], [146.3, -18.2], [146.3, -18.0], [146.1, -18.0], [146.1, -18.2]
    ]]});
    let reply = post(
        client,
        &format!("{base}/api/polygons"),
        Some(token),
        &json!({"polygon": polygon}),
    )
    .await?;
    reply["polygon"]["id"]
        .as_i64()
        .context("the created polygon has no id")
}
