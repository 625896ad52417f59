//! Developer tasks: `cargo xtask <task>`.
//!
//! - `test`: the whole test suite against a real Postgres (and SQLite), a moto server (S3) and
//!   a real Apache Airflow (workflows), see [`test`].
//! - `airflow`: the tests' Airflow, running until Ctrl-C, see [`airflow`].
//! - `docs-page`: the docs page renders offline in headless Chromium, see [`docs_page`].
//! - `cors-page`: CORS in headless Chromium, see [`cors_page`].
//! - `labcas-page`: LabCAS's browser client, in headless Chromium, see [`labcas_page`].
//! - `fuzz-api`: schemathesis against the running server's OpenAPI document, see [`fuzz`].
//! - `chaos`: the server killed and restarted under SDK workers loses no job, see [`chaos`].
//! - `prometheus`: a real Prometheus reports exactly a known load, see [`prometheus`].
//! - `rolling-restart`: two replicas restarted in turn under load, no 5xx, no job lost, see
//!   [`rolling`].
//! - `scale`: three replicas on one database as one (one leader per role, handover, wake-ups
//!   across replicas, no job done twice), see [`scale`].
//! - `bench`: release-build benchmarks against Postgres, see [`bench`].
//! - `image`: the container image is built with podman, inspected and run, see [`image`].
//! - `deploy-check`: the AWS CDK app under `deploy/` passes its tests and synthesizes, see
//!   [`deploy`].

mod airflow;
mod apt;
mod balancer;
mod bench;
mod chaos;
mod cors_page;
mod deploy;
mod docs_page;
mod fuzz;
mod image;
mod labcas_page;
mod moto;
mod on_signal;
mod page_dom;
mod page_server;
mod prometheus;
mod python;
mod rolling;
mod scale;
mod server;
mod service_process;
mod smtp;
mod submitters;
mod workers;

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::airflow::Airflow;
use crate::moto::Moto;
use crate::smtp::SmtpServer;

/// The Postgres used when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "reefguide developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run the whole test suite (unit, contract tests on SQLite and Postgres and on the local
    /// store and S3, black-box HTTP), then, unless arguments narrow it, `docs-page` and
    /// `fuzz-api`. Uses DATABASE_URL when set, else Postgres at
    /// 127.0.0.1:5432; each test creates and drops its own database there. Starts a moto server
    /// (installed once into target/moto-venv) for the S3 tests unless S3_ENDPOINT_URL is set,
    /// and Apache Airflow 2.11.2 (installed once into target/airflow-venv, serving
    /// tests/airflow/dags) for the workflow tests unless REEFGUIDE_TEST_AIRFLOW_URL is set, and
    /// an SMTP server (aiosmtpd, installed once into target/smtp-venv) for the reset e-mails.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test-name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Start the tests' Apache Airflow (as `test` does, in target/airflow-dev), print its URL,
    /// user and password as REEFGUIDE_TEST_AIRFLOW_* lines, and run until Ctrl-C.
    Airflow,
    /// Check that the docs page (/api/docs/) renders every operation in headless Chromium
    /// with no network but the server (installs Debian's chromium package when missing).
    DocsPage,
    /// Check CORS in headless Chromium: a page on another local origin logs in, lists polygons
    /// and submits a job with fetch under `*` and a listed origin, and is blocked when only
    /// another origin is listed.
    CorsPage,
    /// Check in headless Chromium that LabCAS's browser client works: a page on another local
    /// origin, calling the LabCAS routes as that client does (bare token, JSON body without
    /// Content-Type), lists a data selection's workflows, runs `reefguide_echo` on the tests'
    /// Airflow, follows the run in its run table and opens its data folder from the table's link.
    /// Uses REEFGUIDE_TEST_AIRFLOW_URL (with `_USERNAME` and `_PASSWORD`) when set, else starts
    /// the tests' Airflow for the check.
    LabcasPage,
    /// Fuzz the API against its own OpenAPI document with schemathesis (installed once into
    /// target/api-venv), as anonymous, USER, WORKER and ADMIN callers, on a fresh Postgres
    /// database; also validates the document as OpenAPI 3.1.
    FuzzApi {
        /// Examples per operation and phase.
        #[arg(long, default_value_t = fuzz::FuzzOptions::CI.max_examples)]
        max_examples: u32,
        /// The generator's seed (the fixed default keeps CI reproducible).
        #[arg(long, default_value_t = fuzz::FuzzOptions::CI.seed)]
        seed: u64,
    },
    /// Kill the server (SIGKILL) twice while SDK worker processes run 2,400 TEST jobs on a
    /// fresh Postgres database, restart it on the same port each time, and check that every job
    /// SUCCEEDED exactly once (one result row each) and none FAILED.
    Chaos,
    /// Debian's Prometheus (installed when missing) scrapes the server with its metrics token
    /// while a known load runs (refused reads, TEST jobs run by `reefguide worker` processes);
    /// PromQL queries through Prometheus' HTTP API must return exactly that load.
    Prometheus,
    /// Two replicas on one Postgres database behind a readiness-checking load balancer, under
    /// load (submitters and `reefguide worker` processes): each replica in turn gets SIGTERM,
    /// must exit 0 and starts again; no request may get a 5xx and every job must succeed once.
    RollingRestart,
    /// Three replicas on one Postgres database behind the same balancer, each with the lease
    /// sweeper and the capacity manager on: exactly one leads each role and only it runs
    /// cycles; a claim waiting on one replica is woken by a submission to another at once;
    /// under load, killing the leader (SIGKILL) passes its roles on within one interval, and
    /// every job succeeds exactly once.
    Scale,
    /// Run the benchmark suite of issue 9 on the release build against Postgres (DATABASE_URL or
    /// 127.0.0.1:5432), all scenarios on one server; prints a table per scenario and a summary
    /// against the targets, and writes target/bench/results.json (see docs/performance.md).
    Bench {
        /// Which scenario: `all`, `polygons` (GET /api/polygons/:id at 32 and 256
        /// connections), `submit` (job submission at 0 and 100,000 stored jobs), `throughput`
        /// (jobs/s with 8 and 64 workers, R1 poll/assign and /claim), `memory` (resident memory
        /// idle and under the polygons and throughput load) or `login` (argon2id logins); and,
        /// outside `all`, `workflows` (the Airflow dispatcher), `import` (`reefguide import
        /// reefguide` of 10,000 users, 50,000 polygons and 200,000 jobs) and `scale` (the same
        /// job load through one and through three replicas).
        #[arg(default_value = "all")]
        scenario: String,
    },
    /// Build the container image of the Dockerfile with Debian's podman (installed with
    /// apt-get when missing), on local Debian bookworm base images made with debootstrap and
    /// this machine's Rust toolchain when the Dockerfile's cannot be pulled; check its size,
    /// non-root user, entrypoint and health check, then run it until /api/health answers and
    /// stop it (or say loudly which step cannot run containers here).
    Image,
    /// Check the AWS CDK app under deploy/ with no AWS account: `npm ci` (only when
    /// deploy/node_modules does not match package-lock.json), its type check and assertion
    /// tests, and `cdk synth` of config.example.json into target/cdk.out. Needs Node.js 20+
    /// and npm.
    DeployCheck,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.task {
        Task::Test { args } => test(&args),
        Task::Airflow => airflow::run_dev(&target_dir()),
        Task::DocsPage => docs_page::run_check(&postgres_url()?),
        Task::CorsPage => cors_page::run_check(&postgres_url()?),
        Task::LabcasPage => {
            let started = airflow::for_tests(&target_dir(), &[])?;
            let access = started
                .as_ref()
                .map(Airflow::access)
                .or_else(airflow::Access::from_env)
                .context("Airflow neither started nor named")?;
            labcas_page::run_check(&postgres_url()?, &access)
        }
        Task::FuzzApi { max_examples, seed } => {
            fuzz::run(&postgres_url()?, &fuzz::FuzzOptions { max_examples, seed })
        }
        Task::Chaos => chaos::run(&postgres_url()?),
        Task::Prometheus => prometheus::run_check(&postgres_url()?),
        Task::RollingRestart => rolling::run_check(&postgres_url()?),
        Task::Scale => scale::run_check(&postgres_url()?),
        Task::Bench { scenario } => bench::run(&postgres_url()?, &scenario),
        Task::Image => image::run_check(),
        Task::DeployCheck => deploy::run_check(),
    }
}

/// Runs `cargo test --workspace` with `REEFGUIDE_TEST_DATABASE_URL` pointing at a reachable
/// Postgres server (stopping early with instructions when none is reachable),
/// `S3_ENDPOINT_URL` at an S3 emulator: the one given, or a moto server started for the run and
/// stopped after it, pass, fail or Ctrl-C, and `REEFGUIDE_TEST_AIRFLOW_URL` (with
/// `_USERNAME` and `_PASSWORD`) at an Airflow: the one given, or one started for the run
/// (alongside moto) and stopped likewise.
fn test(args: &[String]) -> anyhow::Result<()> {
    let url = postgres_url()?;
    let address = host_port(&url).context("cannot read host and port from DATABASE_URL")?;
    if !reachable(&address) {
        bail!(
            "no Postgres reachable at {address}.\n\
             The test suite needs a Postgres server it may create databases on. Either start one \
             locally (trust auth for user postgres on 127.0.0.1:5432), or point DATABASE_URL at \
             one, e.g.\n  DATABASE_URL=postgres://user:password@host:5432/postgres cargo xtask test"
        );
    }
    eprintln!("xtask: testing against Postgres at {address}");
    let target = target_dir();
    // Airflow's tasks write to the S3 emulator, so moto runs first; Airflow's installation (the
    // long part on a fresh machine) goes on meanwhile.
    let (s3, installed) = std::thread::scope(|scope| {
        let installed = scope.spawn(|| airflow::ensure_installed(&target).map(drop));
        let s3 = s3_endpoint();
        let installed = installed
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("installing Airflow panicked")));
        (s3, installed)
    });
    let (s3_endpoint, _moto) = s3?;
    installed?;
    let smtp = SmtpServer::start(&target).context("cannot start the SMTP server for the tests")?;
    let airflow = airflow::for_tests(&target, &airflow::s3_task_env(&s3_endpoint))?;
    eprintln!("xtask: testing S3 against {s3_endpoint}");
    let access = airflow
        .as_ref()
        .map(Airflow::access)
        .or_else(airflow::Access::from_env)
        .context("Airflow neither started nor named")?;
    eprintln!("xtask: testing workflows against Airflow at {}", access.url);
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(cargo_test_args(args))
        .env("REEFGUIDE_TEST_DATABASE_URL", &url)
        .env(S3_ENDPOINT_VAR, &s3_endpoint)
        .envs(access.env())
        .envs(smtp.env());
    for (name, value) in EMULATOR_AWS_DEFAULTS {
        if std::env::var_os(name).is_none() {
            command.env(name, value);
        }
    }
    let status = command.status().context("cannot run cargo test")?;
    let mut failed = Vec::new();
    if !status.success() {
        failed.push("cargo test".to_owned());
    }
    if args.is_empty() {
        // The whole suite: the API checks against the running server too.
        let checks: &[(&str, &dyn Fn() -> anyhow::Result<()>)] = &[
            ("deploy-check", &|| deploy::run_check()),
            ("docs-page", &|| docs_page::run_check(&url)),
            ("cors-page", &|| cors_page::run_check(&url)),
            ("labcas-page", &|| labcas_page::run_check(&url, &access)),
            ("fuzz-api", &|| fuzz::run(&url, &fuzz::FuzzOptions::CI)),
            ("chaos", &|| chaos::run(&url)),
            ("prometheus", &|| prometheus::run_check(&url)),
            ("rolling-restart", &|| rolling::run_check(&url)),
            ("scale", &|| scale::run_check(&url)),
            ("image", &|| image::run_check()),
        ];
        for &(name, check) in checks {
            eprintln!("xtask: running {name}");
            if let Err(error) = check() {
                eprintln!("xtask: {name} failed: {error:#}");
                failed.push(name.to_owned());
            }
        }
    }
    drop(_moto);
    drop(airflow);
    drop(smtp);
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The `cargo test` arguments: the whole workspace unless `args` choose packages (`-p`), then
/// `args`.
fn cargo_test_args(args: &[String]) -> Vec<String> {
    let chooses_packages = args
        .iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg.starts_with("-p") || arg.starts_with("--package"));
    let scope = if chooses_packages {
        None
    } else {
        Some("--workspace")
    };
    ["test", "--no-fail-fast"]
        .into_iter()
        .chain(scope)
        .map(str::to_owned)
        .chain(args.iter().cloned())
        .collect()
}

/// The variable naming the S3 endpoint of the tests.
pub(crate) const S3_ENDPOINT_VAR: &str = "S3_ENDPOINT_URL";

/// AWS settings given to the tests when not set already (moto accepts any credentials).
pub(crate) const EMULATOR_AWS_DEFAULTS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
];

/// `S3_ENDPOINT_URL` when set, else the URL of a moto server started now (kept running until
/// the returned guard is dropped, and stopped if xtask is interrupted).
fn s3_endpoint() -> anyhow::Result<(String, Option<Moto>)> {
    if let Ok(url) = std::env::var(S3_ENDPOINT_VAR) {
        return Ok((url, None));
    }
    let moto = Moto::start(&target_dir()).context("cannot start moto for the S3 tests")?;
    moto.stop_on_signal()?;
    Ok((moto.endpoint_url(), Some(moto)))
}

/// The workspace's target directory (`CARGO_TARGET_DIR` or `<workspace>/target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            xtask
                .parent()
                .map_or_else(|| xtask.join("target"), |root| root.join("target"))
        },
        PathBuf::from,
    )
}

/// `DATABASE_URL` (it must be a Postgres URL) or the local default.
fn postgres_url() -> anyhow::Result<String> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        bail!("DATABASE_URL must be a postgres:// URL (got a different scheme)");
    }
    Ok(url)
}

/// `host:port` of a database URL (default port 5432).
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') && !host_port.ends_with(']') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    })
}

fn reachable(address: &str) -> bool {
    address
        .to_socket_addrs()
        .map(|mut addrs| {
            addrs.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok())
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::{cargo_test_args, host_port};

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|&arg| arg.to_owned()).collect()
    }

    #[test]
    fn packages_replace_the_workspace() {
        assert_eq!(
            cargo_test_args(&strings(&["contract"])),
            strings(&["test", "--no-fail-fast", "--workspace", "contract"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["-p", "a", "--", "--nocapture"])),
            strings(&["test", "--no-fail-fast", "-p", "a", "--", "--nocapture"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--package=a"])),
            strings(&["test", "--no-fail-fast", "--package=a"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--", "-p"])),
            strings(&["test", "--no-fail-fast", "--workspace", "--", "-p"])
        );
    }

    #[test]
    fn host_and_port_are_read_from_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/postgres").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            host_port("postgres://u:p@db.example/x").as_deref(),
            Some("db.example:5432")
        );
        assert_eq!(
            host_port("postgresql://localhost:6543").as_deref(),
            Some("localhost:6543")
        );
        assert_eq!(host_port("postgres:///x"), None);
    }
}
