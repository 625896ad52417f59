//! `cargo xtask cors-page`: CORS tested in a real browser (issue 22).
//!
//! A page served from a second local origin (`http://127.0.0.1:<page port>`, a small static HTTP
//! server on another port than the API) logs in, creates a polygon, lists polygons and submits a
//! TEST job with `fetch` against the API at `http://127.0.0.1:<api port>`; headless Chromium
//! loads it and dumps the DOM, where the page wrote each step's outcome. Three runs, each on its
//! own server and scratch Postgres database:
//!
//! - `any-origin`: default settings (`cors_allowed_origins = "*"`): every step works;
//! - `listed-origin`: `REEFGUIDE_CORS_ALLOWED_ORIGINS` names the page's origin: every step works;
//! - `other-origin`: the list names only another origin: the browser blocks every request (the
//!   login shows `error: TypeError: Failed to fetch`) and nothing is created.
//!
//! In the working runs the server's own answers (with the admin token) confirm the polygon and
//! the job the page reported. The DOM dumps, Chromium's and the server's logs are kept under
//! `target/cors-page/`.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::bench::api;
use crate::docs_page::{chromium_command, ensure_chromium};
use crate::page_dom::PageOutcome;
use crate::page_server::PageServer;
use crate::server::{Profile, Server, ServerOptions, build_binary, with_scratch_server};

/// The page: plain JavaScript, no external assets.
const PAGE_HTML: &str = include_str!("../cors-page/index.html");
/// The setting naming the allowed origins.
const CORS_VAR: &str = "REEFGUIDE_CORS_ALLOWED_ORIGINS";
/// The only origin allowed in the run where the page's origin is not: nothing listens there.
const OTHER_ORIGIN: &str = "http://127.0.0.1:1";
/// The ADMIN account of the server, which the page logs in as.
const ADMIN: (&str, &str) = ("cors-admin@reefguide.test", "cors-admin-password");
/// Virtual time the page's script gets (milliseconds); requests pause virtual time.
const SCRIPT_BUDGET_MS: u32 = 15_000;
/// Wall-clock limit for one Chromium run.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);
/// The steps the page runs, in order, by the id of the element holding their outcome.
const STEPS: [&str; 4] = ["login", "polygon", "polygons", "job"];
/// The elements the page writes: where it runs, the API it calls, then every step.
const PAGE_ELEMENTS: [&str; 6] = ["origin", "api", "login", "polygon", "polygons", "job"];

/// What a run expects of the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Every request reaches the API and its answer reaches the page.
    Works,
    /// The browser blocks every request (refused preflight); nothing is created.
    Blocked,
}

/// One server configuration and what the page must see under it.
struct Case {
    /// Its name (the file names under `target/cors-page/`).
    name: &'static str,
    /// The scratch database's purpose (`reefguide_<purpose>_<pid>`).
    purpose: &'static str,
    /// `REEFGUIDE_CORS_ALLOWED_ORIGINS`, or `None` for the default (`*`).
    allowed: Option<String>,
    /// The expected outcome.
    expect: Expect,
}

/// What every run shares.
struct Shared<'a> {
    admin_url: &'a str,
    chromium: &'a Path,
    binary: &'a Path,
    work_dir: &'a Path,
    page: &'a PageServer,
}

/// Runs the check: the three cases against fresh servers on scratch databases of the Postgres
/// at `admin_url`.
pub fn run_check(admin_url: &str) -> anyhow::Result<()> {
    let chromium = ensure_chromium()?;
    let binary = build_binary(Profile::Debug)?;
    let work_dir = crate::target_dir().join("cors-page");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    // The page's origin is fixed first, so that the allowed-origin list can name it.
    let page = PageServer::start(PAGE_HTML)?;
    let origin = page.origin();
    eprintln!("xtask: serving the CORS page at {origin}/");
    // The server inherits xtask's environment: a setting there would replace the default.
    let default_setting = std::env::var(CORS_VAR).ok().map(|inherited| {
        eprintln!(
            "xtask: {CORS_VAR}={inherited} is set here; the default case sets `*` explicitly"
        );
        "*".to_owned()
    });
    let cases = [
        Case {
            name: "any-origin",
            purpose: "cors_any",
            allowed: default_setting,
            expect: Expect::Works,
        },
        Case {
            name: "listed-origin",
            purpose: "cors_listed",
            allowed: Some(origin.clone()),
            expect: Expect::Works,
        },
        Case {
            name: "other-origin",
            purpose: "cors_other",
            allowed: Some(OTHER_ORIGIN.to_owned()),
            expect: Expect::Blocked,
        },
    ];
    let context = Shared {
        admin_url,
        chromium: &chromium,
        binary: &binary,
        work_dir: &work_dir,
        page: &page,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start a tokio runtime")?;
    let mut failed = Vec::new();
    for case in &cases {
        let setting = case.allowed.as_deref().map_or_else(
            || "default `*`".to_owned(),
            |list| format!("{CORS_VAR}={list}"),
        );
        match runtime.block_on(run_case(&context, case)) {
            Ok(summary) => eprintln!("xtask: cors-page {} ({setting}): {summary}", case.name),
            Err(error) => {
                eprintln!(
                    "xtask: cors-page {} ({setting}) failed: {error:#}",
                    case.name
                );
                failed.push(case.name);
            }
        }
    }
    drop(page);
    if !failed.is_empty() {
        bail!(
            "CORS page check failed for {} (DOM dumps and logs in {})",
            failed.join(", "),
            work_dir.display()
        );
    }
    eprintln!(
        "xtask: cors-page: the page at {origin} works with `*` and when listed, and is blocked \
         when another origin is listed"
    );
    Ok(())
}

/// Starts a server configured for `case`, runs the page against it and checks the outcome;
/// keeps the server's log.
async fn run_case(context: &Shared<'_>, case: &Case) -> anyhow::Result<String> {
    let env: Vec<(&str, &str)> = case
        .allowed
        .as_deref()
        .map(|list| (CORS_VAR, list))
        .into_iter()
        .collect();
    let options = ServerOptions {
        binary: context.binary,
        admin: ADMIN,
        worker: None,
        env: &env,
    };
    with_scratch_server(
        context.admin_url,
        case.purpose,
        &options,
        async |server, _| {
            let result = check_case(context, case, server).await;
            let log = context.work_dir.join(format!("{}-server.log", case.name));
            if let Err(error) = std::fs::copy(server.log_path(), &log) {
                eprintln!(
                    "xtask: could not keep the server log in {}: {error}",
                    log.display()
                );
            }
            result
        },
    )
    .await
}

/// Loads the page against `server` and checks the DOM and the server's data; returns a summary.
async fn check_case(context: &Shared<'_>, case: &Case, server: &Server) -> anyhow::Result<String> {
    let origin = context.page.origin();
    let url = format!(
        "{origin}/?api={}&email={}&password={}",
        query_value(&server.base),
        query_value(ADMIN.0),
        query_value(ADMIN.1)
    );
    let dom_file = context.work_dir.join(format!("{}.html", case.name));
    let log_file = context.work_dir.join(format!("{}-chromium.log", case.name));
    let loads_before = context.page.loads();
    let dom = load_page(context.chromium, &url, &dom_file, &log_file)?;
    if context.page.loads() == loads_before {
        bail!(
            "Chromium never fetched the page from {origin}; its log is in {}",
            log_file.display()
        );
    }
    let page = PageOutcome::read(&dom, PAGE_ELEMENTS);
    let where_ = format!("DOM in {}", dom_file.display());
    if page.title != "done" {
        bail!(
            "expected the page's script to finish (title `done`), the DOM has title `{}` and \
             shows {}; {where_}",
            page.title,
            page.describe()
        );
    }
    let shown_origin = page.step("origin");
    if shown_origin != origin {
        bail!("expected the page to run on origin {origin}, it shows `{shown_origin}`; {where_}");
    }
    let blocks = cors_blocks(&log_file)?;
    let api = Api::login(&server.base).await?;
    match case.expect {
        Expect::Works => check_works(&page, &blocks, &api, &where_).await,
        Expect::Blocked => check_blocked(&page, &blocks, &api, &where_).await,
    }
}

/// Every step succeeded, and the server holds the polygon and the job the page reported.
async fn check_works(
    page: &PageOutcome,
    blocks: &[String],
    api: &Api,
    where_: &str,
) -> anyhow::Result<String> {
    for id in STEPS {
        let shown = page.step(id);
        if !shown.starts_with("ok 200") {
            bail!(
                "expected step `{id}` to show `ok 200 …`, the DOM shows `{shown}`{}; the page \
                 showed {}; {where_}",
                blocked_hint(shown, blocks),
                page.describe()
            );
        }
    }
    let polygon_id = page.number("polygon", "id=")?;
    let listed = page.number("polygons", "count=")?;
    if listed < 1 {
        bail!(
            "expected the page's polygon list to hold at least 1 polygon, the DOM shows `{}`; \
             {where_}",
            page.step("polygons")
        );
    }
    let job_id = page.number("job", "jobId=")?;
    let polygons = api.get("/api/polygons").await?;
    let total = polygons["pagination"]["total"].as_i64().unwrap_or(0);
    let has_polygon = polygons["polygons"]
        .as_array()
        .is_some_and(|list| list.iter().any(|p| p["id"].as_i64() == Some(polygon_id)));
    if total < 1 || !has_polygon {
        bail!(
            "expected the server to hold polygon {polygon_id} the page created, GET \
             /api/polygons answered {polygons}"
        );
    }
    let jobs = api.get("/api/jobs").await?;
    let has_job = jobs["jobs"].as_array().is_some_and(|list| {
        list.iter()
            .any(|job| job["id"].as_i64() == Some(job_id) && job["type"] == "TEST")
    });
    if !has_job {
        bail!(
            "expected the server to hold TEST job {job_id} the page submitted, GET /api/jobs answered {jobs}"
        );
    }
    Ok(format!(
        "login, polygon (id={polygon_id}), list (count={listed}) and job (jobId={job_id}) all ok \
         across origins; the server holds {total} polygon(s) and TEST job {job_id}"
    ))
}

/// The browser blocked every request (the login with a fetch error, which Chromium's console
/// attributes to the CORS policy), and the server holds nothing the page could have created.
async fn check_blocked(
    page: &PageOutcome,
    blocks: &[String],
    api: &Api,
    where_: &str,
) -> anyhow::Result<String> {
    let login = page.step("login");
    if !login.starts_with("error: TypeError") {
        bail!(
            "expected the browser to block the login (`error: TypeError: Failed to fetch`), the \
             DOM shows `{login}`; the page showed {}; {where_}",
            page.describe()
        );
    }
    for id in STEPS {
        let shown = page.step(id);
        if !shown.starts_with("error:") {
            bail!(
                "expected step `{id}` to be blocked (`error: …`), the DOM shows `{shown}`; \
                 {where_}"
            );
        }
    }
    let Some(login_block) = blocks.iter().find(|line| line.contains("/api/auth/login")) else {
        bail!(
            "expected Chromium's console to say the login was blocked by the CORS policy, it \
             reports {} such message(s) and none for /api/auth/login (the fetch failed for \
             another reason?); {where_}",
            blocks.len()
        );
    };
    let polygons = api.get("/api/polygons").await?;
    let jobs = api.get("/api/jobs").await?;
    let polygon_total = polygons["pagination"]["total"].as_i64();
    let job_total = jobs["total"].as_i64();
    if polygon_total != Some(0) || job_total != Some(0) {
        bail!(
            "expected nothing created by the blocked page, the server lists {} polygon(s) and {} \
             job(s)",
            polygons["pagination"]["total"],
            jobs["total"]
        );
    }
    let reason = login_block
        .split_once("blocked by CORS policy: ")
        .map_or(login_block.as_str(), |(_, reason)| reason);
    Ok(format!(
        "every request blocked by the browser (login: `{login}`; Chromium: blocked by CORS \
         policy: {reason}); the server holds no polygon and no job"
    ))
}

/// A hint for an outcome that looks like a CORS block: Chromium's first CORS message, if any.
fn blocked_hint(shown: &str, blocks: &[String]) -> String {
    if !shown.starts_with("error: TypeError") {
        return String::new();
    }
    blocks.first().map_or_else(
        || " (the browser refused the request)".to_owned(),
        |block| format!(" (Chromium: {block})"),
    )
}

/// The CORS refusals Chromium's console reported in `log_file` (`Access to fetch at '…' from
/// origin '…' has been blocked by CORS policy: …`), in order.
fn cors_blocks(log_file: &Path) -> anyhow::Result<Vec<String>> {
    let log = std::fs::read_to_string(log_file)
        .with_context(|| format!("cannot read {}", log_file.display()))?;
    Ok(parse_cors_blocks(&log))
}

/// The CORS refusals in a Chromium log.
fn parse_cors_blocks(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("CONSOLE") && line.contains("blocked by CORS policy"))
        .map(|line| {
            // `[…:INFO:CONSOLE:0] "<message>", source: <page url> (0)`
            line.split_once("] \"")
                .and_then(|(_, rest)| rest.rsplit_once("\", source:"))
                .map_or(line, |(message, _)| message)
                .to_owned()
        })
        .collect()
}

/// Runs headless Chromium on `url`, writing the DOM it dumps to `dom_file` and its log to
/// `log_file`, and returns the DOM. Chromium killed by a signal (it crashes now and then in a
/// sandbox without a session bus) is run once more, its first log kept beside as
/// `<log>.crashed`; the caller's checks of the server's state still see what both runs did.
pub(crate) fn load_page(
    chromium: &Path,
    url: &str,
    dom_file: &Path,
    log_file: &Path,
) -> anyhow::Result<String> {
    match load_page_once(chromium, url, dom_file, log_file)? {
        Loaded::Dom(dom) => Ok(dom),
        Loaded::Crashed(signal) => {
            let crashed = log_file.with_extension("log.crashed");
            std::fs::rename(log_file, &crashed)
                .with_context(|| format!("cannot keep {}", log_file.display()))?;
            eprintln!(
                "xtask: chromium died of signal {signal} loading {url} (log kept in {}); \
                 running it once more",
                crashed.display()
            );
            match load_page_once(chromium, url, dom_file, log_file)? {
                Loaded::Dom(dom) => Ok(dom),
                Loaded::Crashed(signal) => bail!(
                    "chromium died of signal {signal} twice loading {url}; its logs are in {} \
                     and {}",
                    crashed.display(),
                    log_file.display()
                ),
            }
        }
    }
}

/// What one Chromium run gave.
enum Loaded {
    /// The dumped DOM.
    Dom(String),
    /// Chromium was killed by this signal.
    Crashed(i32),
}

/// One Chromium run of [`load_page`].
fn load_page_once(
    chromium: &Path,
    url: &str,
    dom_file: &Path,
    log_file: &Path,
) -> anyhow::Result<Loaded> {
    let profile = tempfile::tempdir().context("cannot create a Chromium profile directory")?;
    let dom_out =
        File::create(dom_file).with_context(|| format!("cannot create {}", dom_file.display()))?;
    let log =
        File::create(log_file).with_context(|| format!("cannot create {}", log_file.display()))?;
    let mut child = chromium_command(chromium, profile.path(), SCRIPT_BUDGET_MS)
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(dom_out)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot run {}", chromium.display()))?;
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for chromium")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "chromium did not finish loading {url} within {} s; its log is in {}",
                CHROMIUM_TIMEOUT.as_secs(),
                log_file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Ok(Loaded::Crashed(signal));
    }
    if !status.success() {
        bail!(
            "chromium could not load {url}: {status}; its log is in {}",
            log_file.display()
        );
    }
    std::fs::read_to_string(dom_file)
        .map(Loaded::Dom)
        .with_context(|| format!("cannot read {}", dom_file.display()))
}

/// The bytes a query value keeps as they are: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` percent-encoded for a query string.
pub(crate) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// The API as the admin sees it, for checking what the page did.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// Logs in as [`ADMIN`].
    async fn login(base: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build an HTTP client")?;
        let token = api::login(&client, base, ADMIN.0, ADMIN.1)
            .await
            .context("the admin cannot log in")?;
        Ok(Self {
            client,
            base: base.to_owned(),
            token,
        })
    }

    /// `GET path` with the admin token, as JSON.
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot GET {path}"))?
            .error_for_status()
            .with_context(|| format!("GET {path} failed"))?
            .json()
            .await
            .with_context(|| format!("cannot read the answer to GET {path}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_from_the_dumped_dom() {
        let dom = "<html><head><title>done</title></head><body>\
            <pre id=\"origin\">http://127.0.0.1:5</pre><pre id=\"login\">ok 200 token</pre>\
            <pre id=\"polygon\">http 400 {&quot;error&quot;:&quot;x &amp; y&quot;}</pre>\
            <pre id=\"polygons\">ok 200 count=2</pre></body></html>";
        let page = PageOutcome::read(dom, PAGE_ELEMENTS);
        assert_eq!(page.title, "done");
        assert_eq!(page.step("login"), "ok 200 token");
        assert_eq!(page.step("polygon"), "http 400 {\"error\":\"x & y\"}");
        assert_eq!(page.step("job"), "(missing from the DOM)");
        assert_eq!(page.number("polygons", "count=").ok(), Some(2));
        assert!(page.number("login", "count=").is_err());
    }

    #[test]
    fn cors_refusals_are_read_from_the_chromium_log() {
        let log = "[1:2:3:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n\
            [1:1:3:INFO:CONSOLE:0] \"Access to fetch at 'http://127.0.0.1:2/api/auth/login' \
            from origin 'http://127.0.0.1:3' has been blocked by CORS policy: No header.\", \
            source: http://127.0.0.1:3/?api=x (0)\n\
            [1:1:3:INFO:CONSOLE:0] \"hello\", source: http://127.0.0.1:3/ (0)";
        assert_eq!(
            parse_cors_blocks(log),
            [
                "Access to fetch at 'http://127.0.0.1:2/api/auth/login' from origin \
              'http://127.0.0.1:3' has been blocked by CORS policy: No header."
            ]
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_value("http://127.0.0.1:80"),
            "http%3A%2F%2F127.0.0.1%3A80"
        );
        assert_eq!(query_value("a@b.test"), "a%40b.test");
    }
}
