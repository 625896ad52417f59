//! `cargo xtask bench import`: `reefguide import reefguide` (release build) of a ReefGuide R1
//! database of 10,000 users, 50,000 polygons and 200,000 jobs in every state with their
//! requests, assignments and results, into an empty Postgres database (issue 26: under 60 s).
//! The source is ReefGuide's schema (`tests/fixtures/reefguide_r1.sql`) filled by the tests'
//! bulk fixture (`tests/fixtures/reefguide_bulk.sql`); both databases are scratch ones, dropped
//! afterwards.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use sea_orm::{ConnectionTrait as _, Database};

use crate::server::{Profile, ScratchDatabase, build_binary};

/// ReefGuide R1's schema.
const R1_SCHEMA: &str = include_str!("../../../tests/fixtures/reefguide_r1.sql");
/// The sizes of the target.
const USERS: u32 = 10_000;
const POLYGONS: u32 = 50_000;
const JOBS: u32 = 200_000;
/// The time the import must beat.
const TARGET_SECONDS: f64 = 60.0;

/// The rows, shared with the tests' fixture (`{users}`, `{polygons}`, `{jobs}` and `{hash}` are
/// replaced): users with one LOGIN each, polygons (one in a hundred self-intersecting, a note on
/// one in five) and TEST jobs in every state with their requests, assignments and results.
const BULK_SQL: &str = include_str!("../../../tests/fixtures/reefguide_bulk.sql");
/// A bcrypt hash (cost 10) every user shares: the benchmark never logs in.
const BULK_HASH: &str = "'$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'";

/// The source's rows for the sizes.
fn fill_sql() -> String {
    BULK_SQL
        .replace("{users}", &USERS.to_string())
        .replace("{polygons}", &POLYGONS.to_string())
        .replace("{jobs}", &JOBS.to_string())
        .replace("{hash}", BULK_HASH)
}

/// Runs the benchmark against the Postgres of `admin_url`.
///
/// # Errors
/// When a database, the build or the import fails, or an imported table's count is off.
pub async fn run(admin_url: &str) -> anyhow::Result<()> {
    let binary = build_binary(Profile::Release)?;
    let source = ScratchDatabase::create(admin_url, "import_source").await?;
    let target = ScratchDatabase::create(admin_url, "import_target").await?;
    let outcome = measure(&binary, &source.url, &target.url).await;
    source.drop_now().await;
    target.drop_now().await;
    outcome
}

async fn measure(binary: &std::path::Path, source: &str, target: &str) -> anyhow::Result<()> {
    let db = Database::connect(source).await?;
    let filling = Instant::now();
    db.execute_unprepared(R1_SCHEMA)
        .await
        .context("cannot create ReefGuide's schema")?;
    db.execute_unprepared(&fill_sql())
        .await
        .context("cannot fill the source")?;
    db.close().await?;
    eprintln!(
        "xtask: source filled in {:.1} s ({USERS} users, {POLYGONS} polygons, {JOBS} jobs)",
        filling.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let output = Command::new(binary)
        .args(["import", "reefguide", "--from", source])
        .env("DATABASE_URL", target)
        .env("REEFGUIDE_LOG_LEVEL", "warn")
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "the import failed ({}): {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let db = Database::connect(target).await?;
    for (table, expected) in [
        ("users", USERS),
        ("user_logs", USERS),
        ("polygons", POLYGONS),
        ("notes", POLYGONS / 5),
        ("jobs", JOBS),
        ("job_requests", JOBS),
        ("job_assignments", JOBS / 10 * 8),
        ("job_results", JOBS / 10 * 6),
    ] {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT count(*) AS n FROM {table}"),
            ))
            .await?
            .context("no count")?;
        let n: i64 = row.try_get("", "n")?;
        if n != i64::from(expected) {
            bail!("{table}: expected {expected} imported rows, found {n}");
        }
    }
    db.close().await?;
    let rows = 2 * USERS + POLYGONS + POLYGONS / 5 + 2 * JOBS + JOBS / 10 * 14;
    println!(
        "import: {rows} rows ({USERS} users with a log line, {POLYGONS} polygons, {} notes, \
         {JOBS} jobs and requests, their assignments and results) in {seconds:.1} s ({:.0} \
         rows/s); target < {TARGET_SECONDS:.0} s: {}",
        POLYGONS / 5,
        f64::from(rows) / seconds,
        if seconds < TARGET_SECONDS {
            "met"
        } else {
            "MISSED"
        }
    );
    if seconds >= TARGET_SECONDS {
        bail!("the import took {seconds:.1} s, over the {TARGET_SECONDS:.0} s target");
    }
    Ok(())
}
