//! `cargo xtask docs-page`: the API docs page (`/api/docs/`) loads in headless Chromium with
//! every host but the server unresolvable, and renders every operation of the OpenAPI document.
//!
//! Chromium comes from Debian's `chromium` package, installed with apt-get when missing (as root;
//! otherwise the task says what to install). The rendered DOM and a screenshot are kept under
//! `target/docs-page/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::server::{Profile, ServerOptions, build_binary, with_scratch_server};

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Every host name resolves to nothing except the loopback address the server (and cors-page's
/// page) listens on.
const OFFLINE_RESOLVER: &str = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1";
/// Virtual time the page gets to fetch the document and render (milliseconds).
const RENDER_BUDGET_MS: u32 = 20_000;

/// Runs the check.
pub fn run_check(admin_url: &str) -> anyhow::Result<()> {
    let chromium = ensure_chromium()?;
    let binary = build_binary(Profile::Debug)?;
    let work_dir = crate::target_dir().join("docs-page");
    std::fs::create_dir_all(&work_dir)?;
    let server_options = ServerOptions {
        binary: &binary,
        admin: ("docs-admin@reefguide.test", "docs-admin-password"),
        worker: None,
        env: &[],
    };
    tokio::runtime::Runtime::new()?.block_on(with_scratch_server(
        admin_url,
        "docs",
        &server_options,
        async |server, _| {
            let document: Value = serde_json::from_str(&server.openapi_document().await?)?;
            check_page(&chromium, &server.base, &work_dir, &document)
        },
    ))
}

/// Loads the page, checks the rendered operations against `document`, takes a screenshot.
fn check_page(
    chromium: &Path,
    base: &str,
    work_dir: &Path,
    document: &Value,
) -> anyhow::Result<()> {
    let url = format!("{base}/api/docs/");
    let profile = tempfile::tempdir()?;
    let output = chromium_command(chromium, profile.path(), RENDER_BUDGET_MS)
        .arg("--dump-dom")
        .arg(&url)
        .stderr(Stdio::null())
        .output()
        .context("cannot run chromium")?;
    if !output.status.success() {
        bail!("chromium could not load {url}: {}", output.status);
    }
    let dom = String::from_utf8_lossy(&output.stdout);
    let dom_file = work_dir.join("docs.html");
    std::fs::write(&dom_file, dom.as_bytes())?;
    let expected = documented_operations(document);
    let rendered = rendered_operations(&dom);
    let missing: Vec<_> = expected.difference(&rendered).collect();
    if expected.is_empty() || !missing.is_empty() {
        bail!(
            "the docs page at {url} does not show {} of {} operations (first: {:?}); DOM in {}",
            missing.len(),
            expected.len(),
            missing.first(),
            dom_file.display()
        );
    }
    let screenshot = work_dir.join("docs.png");
    let status = chromium_command(chromium, profile.path(), RENDER_BUDGET_MS)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,2400")
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run chromium for the screenshot")?;
    if !status.success() {
        bail!("chromium could not take a screenshot of {url}: {status}");
    }
    eprintln!(
        "xtask: the docs page renders all {} operations offline; screenshot {}",
        expected.len(),
        screenshot.display()
    );
    Ok(())
}

/// Headless Chromium with a fresh profile, no background traffic, no name resolution but for
/// the loopback address, and `budget_ms` milliseconds of virtual time for the page (the
/// cors-page check runs it too).
pub(crate) fn chromium_command(chromium: &Path, profile: &Path, budget_ms: u32) -> Command {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--host-resolver-rules={OFFLINE_RESOLVER}"))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// `METHOD path` of every operation in the document.
fn documented_operations(document: &Value) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    operations.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
    }
    operations
}

/// `METHOD path` of every operation Swagger UI rendered: each is an element with class
/// `opblock-summary-method` holding the method, followed by one with `data-path`.
fn rendered_operations(dom: &str) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    let mut rest = dom;
    while let Some(start) = rest.find("opblock-summary-method\">") {
        rest = &rest[start + "opblock-summary-method\">".len()..];
        let method = rest.split('<').next().unwrap_or_default().trim().to_owned();
        let Some(path_start) = rest.find("data-path=\"") else {
            break;
        };
        let after = &rest[path_start + "data-path=\"".len()..];
        let path = after.split('"').next().unwrap_or_default();
        operations.insert(format!("{method} {path}"));
    }
    operations
}

/// Debian's Chromium, installed with apt-get when missing.
pub(crate) fn ensure_chromium() -> anyhow::Result<PathBuf> {
    crate::apt::ensure_package(
        CHROMIUM,
        "chromium",
        "the browser checks (docs-page, cors-page, labcas-page)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_operations_are_read_from_swagger_markup() {
        let dom = r#"<div><span class="opblock-summary-method">GET</span><a><span
            data-path="/api/jobs/{id}">/api/jobs/{id}</span></a></div>
            <span class="opblock-summary-method">POST</span><span data-path="/api/jobs">"#;
        let operations: Vec<_> = rendered_operations(dom).into_iter().collect();
        assert_eq!(operations, ["GET /api/jobs/{id}", "POST /api/jobs"]);
    }

    #[test]
    fn documented_operations_cover_every_method() {
        let document = serde_json::json!({"paths": {
            "/a": {"get": {}, "post": {}, "parameters": []},
            "/b/{id}": {"delete": {}},
        }});
        let operations: Vec<_> = documented_operations(&document).into_iter().collect();
        assert_eq!(operations, ["DELETE /b/{id}", "GET /a", "POST /a"]);
    }
}
