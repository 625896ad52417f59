//! `cargo xtask labcas-page`: LabCAS's browser client, as a page of our own, works against the
//! server in a real browser (labcas-contract §3).
//!
//! LabCAS's public client is a plain page calling the LabCAS routes with `fetch` from its own
//! origin, with the pasted token as the whole `Authorization` header (no `Bearer `) and the run
//! parameters' JSON text as a body without `Content-Type`. Our page (`xtask/labcas-page/`)
//! makes the same calls the same way, scripted: it lists the workflows of data selection
//! `images`, triggers `reefguide_echo` on it, reads the run list until the run has ended and
//! draws it as a table, then clicks the run's data-folder link, whose handler fetches the
//! folder. Headless Chromium loads it from a second loopback origin and dumps the DOM.
//!
//! The server runs on a scratch Postgres database with the tests' Airflow (the `ECHO` type on
//! DAG `reefguide_echo`, allowed to LabCAS user `thomas`), LabCAS tokens trusted (HS256, a
//! secret made per run) and the default CORS setting (`*`). Two page runs:
//!
//! - `thomas`: every step works; the table shows the run `success` with a folder link; the
//!   folder lists `output.txt` and `conf.json`, and `output.txt` (fetched from here through its
//!   presigned link) says `hello thomas`;
//! - `mallory` (not allowed): the workflow list is empty and the run is refused with 403.
//!
//! Afterwards the admin sees exactly one job, thomas's ECHO job, SUCCEEDED. The DOM dumps,
//! Chromium's and the server's logs are kept under `target/labcas-page/`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::Rng as _;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

use crate::airflow::Access;
use crate::bench::api;
use crate::cors_page::{load_page, query_value};
use crate::docs_page::ensure_chromium;
use crate::page_dom::{PageOutcome, between, unescape};
use crate::page_server::PageServer;
use crate::server::{Profile, Server, ServerOptions, build_binary, with_scratch_server};

/// The page: plain JavaScript, no external assets.
const PAGE_HTML: &str = include_str!("../labcas-page/index.html");
/// The ADMIN account of the server, which checks the jobs afterwards.
const ADMIN: (&str, &str) = ("labcas-admin@reefguide.test", "labcas-admin-password");
/// The job type running the test DAG.
const JOB_TYPE: &str = "ECHO";
/// The test DAG: writes `conf.json` and `output.txt` (`hello <username>`) into the run folder.
const WORKFLOW: &str = "reefguide_echo";
/// The data selection offering it.
const COLLECTION: &str = "images";
/// LabCAS's token issuer and audience.
const LABCAS: &str = "LabCAS";
/// The LabCAS user allowed to run the workflow.
const ALLOWED_UID: &str = "thomas";
/// A LabCAS user who is not.
const DENIED_UID: &str = "mallory";
/// The most run-list reads of one page run (about 80 s, within the 120 s Chromium gets).
const MAX_POLLS: u32 = 150;
/// The elements the page writes: where it runs, the API it calls, every step (in order) and the
/// folder it opened.
const PAGE_ELEMENTS: [&str; 7] = [
    "origin",
    "api",
    "workflows",
    "trigger",
    "poll",
    "open",
    "folder",
];

/// What every page run shares.
struct Shared<'a> {
    chromium: &'a Path,
    work_dir: &'a Path,
    page: &'a PageServer,
    secret: &'a str,
}

/// Runs the check against a fresh server on a scratch database of the Postgres at `admin_url`,
/// its workflows on the Airflow of `access`.
pub fn run_check(admin_url: &str, access: &Access) -> anyhow::Result<()> {
    let started = Instant::now();
    let chromium = ensure_chromium()?;
    let binary = build_binary(Profile::Debug)?;
    let work_dir = crate::target_dir().join("labcas-page");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    let page = PageServer::start(PAGE_HTML)?;
    eprintln!("xtask: serving the LabCAS page at {}/", page.origin());
    let secret = random_text(40);
    let config_dir = tempfile::tempdir().context("cannot create a directory for the settings")?;
    let config_file = config_dir.path().join("reefguide.toml");
    std::fs::write(&config_file, server_config(access, &secret))
        .with_context(|| format!("cannot write {}", config_file.display()))?;
    let config_path = config_file.to_string_lossy().into_owned();
    let env = [("REEFGUIDE_CONFIG", config_path.as_str())];
    let options = ServerOptions {
        binary: &binary,
        admin: ADMIN,
        worker: None,
        env: &env,
    };
    let shared = Shared {
        chromium: &chromium,
        work_dir: &work_dir,
        page: &page,
        secret: &secret,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start a tokio runtime")?;
    let outcome = runtime.block_on(with_scratch_server(
        admin_url,
        "labcas_page",
        &options,
        async |server, database_url| {
            let result = async {
                start_job_ids_at_random(database_url).await?;
                check(&shared, server).await
            }
            .await;
            let log = work_dir.join("server.log");
            if let Err(error) = std::fs::copy(server.log_path(), &log) {
                eprintln!(
                    "xtask: could not keep the server log in {}: {error}",
                    log.display()
                );
            }
            result
        },
    ));
    drop(page);
    let summary = outcome.with_context(|| {
        format!(
            "LabCAS page check failed (DOM dumps and logs in {})",
            work_dir.display()
        )
    })?;
    eprintln!(
        "xtask: labcas-page: {summary} ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The server's settings file: Airflow, the `ECHO` type, the `images` collection and LabCAS's
/// token issuer.
fn server_config(access: &Access, secret: &str) -> String {
    let text = |value: &str| Value::from(value).to_string();
    format!(
        "[airflow]\n\
         url = {url}\n\
         username = {username}\n\
         password = {password}\n\
         sync_interval_ms = 250\n\
         \n\
         [job_types.{JOB_TYPE}]\n\
         description = \"Writes the run's conf and a greeting (reefguide_echo)\"\n\
         engine = \"airflow\"\n\
         dag_id = \"{WORKFLOW}\"\n\
         allowed_users = [\"{ALLOWED_UID}\"]\n\
         input_schema = {{ type = \"object\", properties = {{ greeting = {{ type = \"string\" }} }} }}\n\
         \n\
         [collections.{COLLECTION}]\n\
         description = \"Images for the LabCAS page check\"\n\
         location = \"local://archive/images/\"\n\
         workflows = [\"{JOB_TYPE}\"]\n\
         \n\
         [[external_jwt]]\n\
         issuer = \"{LABCAS}\"\n\
         audience = \"{LABCAS}\"\n\
         hs256_secret = {secret}\n",
        url = text(&access.url),
        username = text(&access.username),
        password = text(&access.password),
        secret = text(secret),
    )
}

/// Makes the scratch database's job ids start at a random number. Airflow run ids are
/// `reefguide-<job id>-<attempt>` and the server adopts a run that exists instead of triggering
/// it again: with ids from 1, a second check against the same long-lived Airflow would adopt the
/// first check's run (and its output folder, gone with that server).
async fn start_job_ids_at_random(database_url: &str) -> anyhow::Result<()> {
    let first: u32 = rand::thread_rng().gen_range(1_000_000..1_001_000_000);
    let database = sea_orm::Database::connect(database_url)
        .await
        .context("cannot connect to the scratch database")?;
    database
        .execute_unprepared(&format!("ALTER SEQUENCE jobs_id_seq RESTART WITH {first}"))
        .await
        .context("cannot make the job ids start at a random number")?;
    database.close().await?;
    Ok(())
}

/// A token as LabCAS mints it for `uid` (HS256, valid for an hour).
fn labcas_token(secret: &str, uid: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": LABCAS,
        "aud": LABCAS,
        "sub": format!("uid={uid},dc=edrn,dc=jpl,dc=nasa,dc=gov"),
        "iat": now,
        "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("cannot sign a LabCAS token")
}

/// `len` random letters and digits.
fn random_text(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Both page runs, then the server's own view of the jobs; returns a summary.
async fn check(shared: &Shared<'_>, server: &Server) -> anyhow::Result<String> {
    let api = format!("{}/labcas", server.base);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build an HTTP client")?;
    let greeting = format!("from the LabCAS page at {}", shared.page.origin());
    let params = json!({"in_data_selection": COLLECTION, "greeting": greeting}).to_string();

    let token = labcas_token(shared.secret, ALLOWED_UID)?;
    let run = open_page(shared, "thomas", &api, &token, &params)?;
    let works = check_works(&run, &api, &client).await?;

    let token = labcas_token(shared.secret, DENIED_UID)?;
    let refused = open_page(shared, "mallory", &api, &token, &params)?;
    let refusal = check_refused(&refused)?;

    let admin = api::login(&client, &server.base, ADMIN.0, ADMIN.1)
        .await
        .context("the admin cannot log in")?;
    let jobs: Value = client
        .get(format!("{}/api/jobs", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .context("cannot GET /api/jobs")?
        .error_for_status()
        .context("GET /api/jobs failed")?
        .json()
        .await
        .context("cannot read the answer to GET /api/jobs")?;
    let listed = jobs["jobs"].as_array().map_or(&[][..], Vec::as_slice);
    let job = listed
        .iter()
        .find(|job| job["id"].as_i64() == Some(works.job_id));
    let Some(job) = job.filter(|job| job["type"] == JOB_TYPE && job["status"] == "SUCCEEDED")
    else {
        bail!(
            "expected the server to hold {JOB_TYPE} job {} SUCCEEDED, GET /api/jobs answered \
             {jobs}",
            works.job_id
        );
    };
    if listed.len() != 1 {
        bail!(
            "expected only thomas's job (mallory's run was refused), GET /api/jobs lists {} \
             jobs: {jobs}",
            listed.len()
        );
    }
    Ok(format!(
        "from {origin}, thomas listed {WORKFLOW} on {COLLECTION}, ran it ({run_id}, job {id} \
         {status}; {polls} polls), saw it in the run table and opened its folder by its link \
         ({folder_type}; output.txt says `hello {ALLOWED_UID}`); mallory: {refusal}",
        origin = shared.page.origin(),
        run_id = works.run_id,
        id = works.job_id,
        status = job["status"].as_str().unwrap_or_default(),
        polls = works.polls,
        folder_type = works.folder_type,
    ))
}

/// One page run: its DOM and where it is kept.
struct PageRun {
    outcome: PageOutcome,
    dom: String,
    where_: String,
}

/// Loads the page as the holder of `token`, checks that it ran to the end on its own origin,
/// and returns what it shows.
fn open_page(
    shared: &Shared<'_>,
    name: &str,
    api: &str,
    token: &str,
    params: &str,
) -> anyhow::Result<PageRun> {
    let origin = shared.page.origin();
    let url = format!(
        "{origin}/?api={}&token={}&workflow={}&collection={}&params={}&polls={MAX_POLLS}",
        query_value(api),
        query_value(token),
        query_value(WORKFLOW),
        query_value(COLLECTION),
        query_value(params),
    );
    let dom_file = shared.work_dir.join(format!("{name}.html"));
    let log_file = shared.work_dir.join(format!("{name}-chromium.log"));
    let loads_before = shared.page.loads();
    let dom = load_page(shared.chromium, &url, &dom_file, &log_file)?;
    if shared.page.loads() == loads_before {
        bail!(
            "Chromium never fetched the page from {origin}; its log is in {}",
            log_file.display()
        );
    }
    let outcome = PageOutcome::read(&dom, PAGE_ELEMENTS);
    let where_ = format!(
        "DOM in {}, Chromium's log in {}",
        dom_file.display(),
        log_file.display()
    );
    if outcome.title != "done" {
        bail!(
            "expected the page's script to finish (title `done`), the DOM has title `{}` and \
             shows {}; {where_}",
            outcome.title,
            outcome.describe()
        );
    }
    let shown_origin = outcome.step("origin");
    if shown_origin != origin || api.starts_with(&format!("{shown_origin}/")) {
        bail!(
            "expected the page to run on its own origin {origin} (not the API's, {api}), it \
             shows `{shown_origin}`; {where_}"
        );
    }
    Ok(PageRun {
        outcome,
        dom,
        where_,
    })
}

/// What thomas's run showed.
struct Works {
    run_id: String,
    job_id: i64,
    polls: String,
    folder_type: String,
}

/// Every step worked, the run table shows the run succeeded with its folder link, and the
/// folder holds the DAG's files, `output.txt` saying `hello thomas`.
async fn check_works(run: &PageRun, api: &str, client: &reqwest::Client) -> anyhow::Result<Works> {
    let (page, where_) = (&run.outcome, run.where_.as_str());
    let fail_step = |id: &str, expected: &str| {
        anyhow::anyhow!(
            "expected step `{id}` to show {expected}, the DOM shows `{}`; the page showed {}; \
             {where_}",
            page.step(id),
            page.describe()
        )
    };
    // Step 1: the data selection's workflows.
    let workflows = page
        .answer("workflows", 200)
        .ok_or_else(|| fail_step("workflows", "`ok 200 <JSON>`"))?;
    let listed = workflows["workflows"].as_array().is_some_and(|list| {
        list.iter()
            .any(|workflow| workflow["id"] == WORKFLOW || *workflow == WORKFLOW)
    });
    if !listed {
        return Err(fail_step(
            "workflows",
            &format!("a list naming workflow `{WORKFLOW}`"),
        ));
    }
    // Step 2: the run, accepted.
    let triggered = page
        .answer("trigger", 201)
        .ok_or_else(|| fail_step("trigger", "`ok 201 <JSON>`"))?;
    let run_id = triggered["run_id"].as_str().unwrap_or_default().to_owned();
    let Some(job_id) = dag_run_job(&run_id) else {
        return Err(fail_step(
            "trigger",
            "a `run_id` of the form `reefguide-<job id>-1`",
        ));
    };
    if triggered["job_id"].as_i64() != Some(job_id) {
        return Err(fail_step(
            "trigger",
            &format!("`job_id` {job_id}, as in its run id"),
        ));
    }
    // Step 3: the run table, as drawn when the run ended.
    let poll = page.step("poll");
    let Some(polls) = poll
        .strip_prefix("ok 200 status=success polls=")
        .map(str::to_owned)
    else {
        return Err(fail_step("poll", "`ok 200 status=success polls=<n>`"));
    };
    let table = RunsTable::read(&run.dom).with_context(|| {
        format!("expected the DOM to hold the run table `<table id=\"runs\">`; {where_}")
    })?;
    let row = table.row_of(&run_id).with_context(|| {
        format!(
            "expected the run table to have a row for {run_id}, it has columns {:?} and {} \
             row(s); {where_}",
            table.columns,
            table.rows.len()
        )
    })?;
    let status = table.cell(row, "status").map(|cell| cell.text.as_str());
    if status != Some("success") {
        bail!(
            "expected the run table to show {run_id} with status `success`, it shows {status:?} \
             (columns {:?}); {where_}",
            table.columns
        );
    }
    let Some(output_url) = table
        .cell(row, "output_url")
        .and_then(|cell| cell.link.clone())
    else {
        bail!(
            "expected the run table's row of {run_id} to hold a data-folder link in column \
             `output_url`, it holds {:?}; {where_}",
            table.cell(row, "output_url")
        );
    };
    if !output_url.starts_with(&format!("{api}/output-data/")) {
        bail!(
            "expected the folder link of {run_id} under {api}/output-data/, it is \
             `{output_url}`; {where_}"
        );
    }
    // Step 4: the folder, fetched by the link's click handler.
    let open = page.step("open");
    let Some(folder_type) = open
        .strip_prefix("ok 200 content-type=")
        .and_then(|rest| rest.split(" url=").next())
        .map(str::to_owned)
    else {
        return Err(fail_step("open", "`ok 200 content-type=… url=…`"));
    };
    if !open.ends_with(&format!(" url={output_url}")) {
        return Err(fail_step(
            "open",
            &format!("the link's folder `{output_url}` fetched"),
        ));
    }
    let folder_text = page.step("folder");
    let folder: Value = serde_json::from_str(folder_text).with_context(|| {
        format!(
            "expected the folder's text (`<pre id=\"folder\">`) to be JSON (fetch accepts \
             `*/*`), it is `{}` ({folder_type}); {where_}",
            folder_text.chars().take(300).collect::<String>()
        )
    })?;
    let href = |name: &str| folder["files"][name]["href"].as_str().map(str::to_owned);
    let (Some(output), Some(_)) = (href("output.txt"), href("conf.json")) else {
        bail!(
            "expected the folder to list files `output.txt` and `conf.json`, each with an \
             `href`, it is {folder}; {where_}"
        );
    };
    let fetched = client
        .get(&output)
        .send()
        .await
        .with_context(|| format!("cannot GET output.txt at {output}"))?;
    let fetched_status = fetched.status();
    let text = fetched
        .text()
        .await
        .with_context(|| format!("cannot read output.txt at {output}"))?;
    let expected = format!("hello {ALLOWED_UID}");
    if !fetched_status.is_success() || text.trim() != expected {
        bail!(
            "expected output.txt (its presigned link {output}) to say `{expected}`, GET answered \
             {fetched_status} `{}`",
            text.trim()
        );
    }
    Ok(Works {
        run_id,
        job_id,
        polls,
        folder_type,
    })
}

/// mallory sees no workflow of the collection and the run is refused with 403; returns what
/// the page showed.
fn check_refused(run: &PageRun) -> anyhow::Result<String> {
    let (page, where_) = (&run.outcome, run.where_.as_str());
    let workflows = page.answer("workflows", 200);
    let empty = workflows
        .as_ref()
        .is_some_and(|listed| listed["workflows"].as_array().is_some_and(Vec::is_empty));
    if !empty {
        bail!(
            "expected mallory's workflow list to be `ok 200` and empty, the DOM shows `{}`; \
             {where_}",
            page.step("workflows")
        );
    }
    let trigger = page.step("trigger");
    if !trigger.starts_with("http 403 ") {
        bail!(
            "expected mallory's run to be refused with `http 403 …`, the DOM shows `{trigger}`; \
             the page showed {}; {where_}",
            page.describe()
        );
    }
    if page.step("poll") != "skipped: no run" {
        bail!(
            "expected no run-list step after the refusal, the DOM shows `{}`; {where_}",
            page.step("poll")
        );
    }
    Ok(format!("no workflow listed, run refused (`{trigger}`)"))
}

/// The job id of a first-attempt run id `reefguide-<job id>-1`.
fn dag_run_job(run_id: &str) -> Option<i64> {
    let job = run_id.strip_prefix("reefguide-")?.strip_suffix("-1")?;
    if job.is_empty() || !job.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    job.parse().ok().filter(|&id| id > 0)
}

/// The page's run table (`<table id="runs">`), read back from the dumped DOM.
#[derive(Debug, PartialEq, Eq)]
struct RunsTable {
    /// The header cells: the keys of the first run.
    columns: Vec<String>,
    /// The body rows, a cell per column.
    rows: Vec<Vec<Cell>>,
}

/// One cell of the run table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cell {
    /// Its text.
    text: String,
    /// The `data-url` of a `data-folder-link` in it.
    link: Option<String>,
}

impl RunsTable {
    /// The table in `dom`, if there is one.
    fn read(dom: &str) -> Option<Self> {
        let table = between(dom, "<table id=\"runs\">", "</table>")?;
        let (head, body) = table.split_once("</thead>")?;
        let columns = cells(head, "th")
            .into_iter()
            .map(|cell| cell.text)
            .collect();
        let rows = body
            .split("<tr>")
            .skip(1)
            .map(|row| cells(row, "td"))
            .collect();
        Some(Self { columns, rows })
    }

    /// The index of the row whose `run_id` is `run_id`.
    fn row_of(&self, run_id: &str) -> Option<usize> {
        let column = self.column("run_id")?;
        self.rows
            .iter()
            .position(|row| row.get(column).is_some_and(|cell| cell.text == run_id))
    }

    /// The cell of row `row` in column `name`.
    fn cell(&self, row: usize, name: &str) -> Option<&Cell> {
        self.rows.get(row)?.get(self.column(name)?)
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column == name)
    }
}

/// The `<tag>` cells (without attributes, as the page makes them) of a piece of serialised
/// HTML, in order.
fn cells(html: &str, tag: &str) -> Vec<Cell> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    html.split(&open)
        .skip(1)
        .map(|rest| {
            let inner = rest.split(&close).next().unwrap_or_default();
            let link = inner
                .contains("class=\"data-folder-link\"")
                .then(|| between(inner, "data-url=\"", "\"").map(unescape))
                .flatten();
            Cell {
                text: unescape(&strip_tags(inner)),
                link,
            }
        })
        .collect()
}

/// `html` without its tags (entities left as they are).
fn strip_tags(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for character in html.chars() {
        match character {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(character),
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run table as Chromium serialises the page's.
    const TABLE: &str = "<div id=\"runs-view\"><table id=\"runs\"><thead><tr><th>run_id</th>\
        <th>status</th><th>output_url</th><th>conf</th></tr></thead><tbody><tr>\
        <td>reefguide-17-1</td><td>success</td><td><a href=\"#\" class=\"data-folder-link\" \
        data-url=\"http://127.0.0.1:9/labcas/output-data/20250101T000000000000/?a=1&amp;b=2\">\
        data folder</a></td><td>{\"greeting\":\"a &amp; b &lt;c&gt;\"}</td></tr><tr>\
        <td>reefguide-16-1</td><td>failed</td><td>null</td><td>{}</td></tr></tbody></table></div>";

    #[test]
    fn the_run_table_is_read_from_the_dumped_dom() {
        let table = RunsTable::read(&format!("<body><p>x</p>{TABLE}</body>")).expect("a table");
        assert_eq!(table.columns, ["run_id", "status", "output_url", "conf"]);
        assert_eq!(table.rows.len(), 2);
        let row = table.row_of("reefguide-17-1").expect("the row");
        assert_eq!(row, 0);
        assert_eq!(
            table.cell(row, "status").map(|cell| cell.text.as_str()),
            Some("success")
        );
        let link = table.cell(row, "output_url").expect("the cell");
        assert_eq!(link.text, "data folder");
        assert_eq!(
            link.link.as_deref(),
            Some("http://127.0.0.1:9/labcas/output-data/20250101T000000000000/?a=1&b=2")
        );
        assert_eq!(
            table.cell(row, "conf").map(|cell| cell.text.as_str()),
            Some("{\"greeting\":\"a & b <c>\"}")
        );
        let other = table.row_of("reefguide-16-1").expect("the other row");
        assert_eq!(
            table.cell(other, "output_url"),
            Some(&Cell {
                text: "null".to_owned(),
                link: None
            })
        );
        assert_eq!(table.row_of("reefguide-15-1"), None);
        assert_eq!(table.cell(other, "job_id"), None);
        assert_eq!(RunsTable::read("<body><p>none yet</p></body>"), None);
    }

    #[test]
    fn steps_are_read_from_the_dumped_dom() {
        let dom = "<html><head><title>done</title></head><body>\
            <pre id=\"origin\">http://127.0.0.1:5</pre>\
            <pre id=\"workflows\">ok 200 {\"workflows\":[{\"id\":\"reefguide_echo\"}]}</pre>\
            <pre id=\"trigger\">http 403 {&quot;error&quot;:&quot;x &amp; y&quot;}</pre>\
            <pre id=\"poll\">skipped: no run</pre><pre id=\"folder\"></pre></body></html>";
        let page = PageOutcome::read(dom, PAGE_ELEMENTS);
        assert_eq!(page.title, "done");
        assert_eq!(page.step("trigger"), "http 403 {\"error\":\"x & y\"}");
        assert_eq!(page.step("open"), "(missing from the DOM)");
        assert_eq!(page.step("folder"), "");
        assert_eq!(
            page.answer("workflows", 200),
            Some(json!({"workflows": [{"id": "reefguide_echo"}]}))
        );
        assert_eq!(page.answer("workflows", 201), None);
        assert_eq!(page.answer("trigger", 403), None);
        assert!(page.describe().contains("poll=`skipped: no run`"));
    }

    #[test]
    fn run_ids_name_the_job_and_the_first_attempt() {
        assert_eq!(dag_run_job("reefguide-42-1"), Some(42));
        assert_eq!(dag_run_job("reefguide-42-2"), None);
        assert_eq!(dag_run_job("reefguide--1"), None);
        assert_eq!(dag_run_job("reefguide-+4-1"), None);
        assert_eq!(dag_run_job("manual__2025-01-01"), None);
    }

    #[test]
    fn the_settings_name_airflow_the_type_the_collection_and_the_issuer() {
        let access = Access {
            url: "http://127.0.0.1:8080".to_owned(),
            username: "reefguide".to_owned(),
            password: "p\"w".to_owned(),
        };
        let config = server_config(&access, "s3cret-s3cret-s3cret");
        assert!(
            config.contains("url = \"http://127.0.0.1:8080\"\n"),
            "{config}"
        );
        assert!(config.contains("password = \"p\\\"w\"\n"), "{config}");
        assert!(config.contains("[job_types.ECHO]\n"), "{config}");
        assert!(config.contains("dag_id = \"reefguide_echo\"\n"), "{config}");
        assert!(config.contains("[collections.images]\n"), "{config}");
        assert!(config.contains("[[external_jwt]]\n"), "{config}");
        assert!(
            config.contains("hs256_secret = \"s3cret-s3cret-s3cret\"\n"),
            "{config}"
        );
    }

    #[test]
    fn labcas_tokens_carry_the_ldap_subject() -> anyhow::Result<()> {
        let token = labcas_token("a-secret-of-enough-length", "thomas")?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[LABCAS]);
        validation.set_issuer(&[LABCAS]);
        let claims = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"a-secret-of-enough-length"),
            &validation,
        )?
        .claims;
        assert_eq!(claims["sub"], "uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov");
        assert_eq!(random_text(32).len(), 32);
        Ok(())
    }
}
