//! `cargo xtask fuzz-api`: property-based fuzzing of the running API against its own OpenAPI
//! document.
//!
//! The task builds the server, starts it on a fresh Postgres database, validates the served
//! document as OpenAPI 3.1 (`openapi-spec-validator`) and runs schemathesis against it once per
//! kind of caller: anonymous, USER, WORKER and ADMIN (the ADMIN run leaves the operations that
//! could lock the fuzzing account out, deleting users, changing their roles or passwords, to a
//! last run of their own). Every check schemathesis has runs (its default): no 5xx, responses
//! match their documented schema, status code, content type and headers, schema-valid requests
//! are accepted and schema-invalid ones rejected, with the exceptions (and their reasons) in
//! `xtask/schemathesis.toml`. The tools are installed from PyPI into `target/api-venv`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::python::Venv;
use crate::server::{Profile, Server, ServerOptions, build_binary, with_scratch_server};

/// The pinned tools.
const REQUIREMENTS: [&str; 2] = ["schemathesis==4.32.5", "openapi-spec-validator==0.9.0"];
/// Their virtual environment under the target directory.
const VENV_DIR: &str = "api-venv";
const ADMIN_EMAIL: &str = "fuzz-admin@reefguide.test";
const ADMIN_PASSWORD: &str = "fuzz-admin-password";
/// Operations that can lock the ADMIN caller out of later operations: fuzzed last.
const LOCKOUT_OPERATIONS: &str = "^/api/users/\\{id\\}(/roles|/password)?$";

/// Options of a fuzzing run.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// Examples per operation and phase.
    pub max_examples: u32,
    /// The hypothesis seed (fixed by default, so that CI runs are reproducible).
    pub seed: u64,
}

impl FuzzOptions {
    /// What `cargo xtask test` runs: bounded, reproducible.
    pub const CI: Self = Self {
        max_examples: 25,
        seed: 20_261_124,
    };
}

/// Runs the whole check; fails when the document is invalid or schemathesis reports a failure.
pub fn run(admin_url: &str, options: &FuzzOptions) -> anyhow::Result<()> {
    let target = crate::target_dir();
    let venv = Venv::ensure(
        &target,
        VENV_DIR,
        &REQUIREMENTS,
        &["schemathesis", "openapi-spec-validator"],
    )?;
    let binary = build_binary(Profile::Debug)?;
    let work_dir = target.join("fuzz");
    std::fs::create_dir_all(&work_dir)?;
    let server_options = ServerOptions {
        binary: &binary,
        admin: (ADMIN_EMAIL, ADMIN_PASSWORD),
        worker: None,
        // Long polls are documented with this maximum, which keeps fuzzed claims short.
        env: &[("REEFGUIDE_CLAIM_MAX_WAIT_SECONDS", "1")],
    };
    tokio::runtime::Runtime::new()?.block_on(with_scratch_server(
        admin_url,
        "fuzz",
        &server_options,
        async |server, _| fuzz_server(&venv, server, &work_dir, options).await,
    ))
}

async fn fuzz_server(
    venv: &Venv,
    server: &Server,
    work_dir: &Path,
    options: &FuzzOptions,
) -> anyhow::Result<()> {
    let document = work_dir.join("openapi.json");
    std::fs::write(&document, server.openapi_document().await?)?;
    let client = reqwest::Client::new();
    validate_document(venv, &document)?;
    let callers = callers(&client, &server.base).await?;
    let mut failed = Vec::new();
    for caller in &callers {
        eprintln!("xtask: fuzzing as {}", caller.name);
        if !schemathesis(venv, &server.base, work_dir, caller, options)? {
            failed.push(caller.name);
        }
    }
    if !failed.is_empty() {
        bail!(
            "schemathesis found failures as {} (server log: {})",
            failed.join(", "),
            server.log_path().display()
        );
    }
    eprintln!("xtask: fuzzing found no failure");
    Ok(())
}

/// Checks the served document with `openapi-spec-validator` (it detects the 3.1 dialect).
fn validate_document(venv: &Venv, document: &Path) -> anyhow::Result<()> {
    let status = Command::new(venv.bin("openapi-spec-validator"))
        .arg(document)
        .status()
        .context("cannot run openapi-spec-validator")?;
    if !status.success() {
        bail!(
            "{} is not a valid OpenAPI document ({status})",
            document.display()
        );
    }
    let parsed: Value = serde_json::from_str(&std::fs::read_to_string(document)?)?;
    let version = parsed["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.1") {
        bail!("the document declares OpenAPI {version:?}, not 3.1");
    }
    Ok(())
}

/// One kind of caller of a schemathesis run.
struct Caller {
    name: &'static str,
    token: Option<String>,
    /// `--include-path-regex` / `--exclude-path-regex` for this run.
    paths: PathFilter,
}

enum PathFilter {
    All,
    Except(&'static str),
    Only(&'static str),
}

/// The anonymous, USER, WORKER and ADMIN callers (accounts created through the API).
async fn callers(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<Caller>> {
    let admin = login(client, base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let mut callers = vec![Caller {
        name: "anonymous",
        token: None,
        paths: PathFilter::All,
    }];
    for (name, email, roles) in [
        ("user", "fuzz-user@reefguide.test", json!([])),
        ("worker", "fuzz-worker@reefguide.test", json!(["WORKER"])),
    ] {
        let password = "fuzz-caller-password";
        client
            .post(format!("{base}/api/users"))
            .bearer_auth(&admin)
            .json(&json!({"email": email, "password": password, "roles": roles}))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("cannot create the {name} account"))?;
        callers.push(Caller {
            name,
            token: Some(login(client, base, email, password).await?),
            paths: PathFilter::All,
        });
    }
    callers.push(Caller {
        name: "admin",
        token: Some(admin.clone()),
        paths: PathFilter::Except(LOCKOUT_OPERATIONS),
    });
    callers.push(Caller {
        name: "admin (user administration, last)",
        token: Some(admin),
        paths: PathFilter::Only(LOCKOUT_OPERATIONS),
    });
    Ok(callers)
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let reply: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("cannot log in as {email}"))?
        .json()
        .await?;
    reply["token"]
        .as_str()
        .map(str::to_owned)
        .context("login returned no token")
}

/// Runs schemathesis for one caller; `Ok(false)` when it reported failures.
fn schemathesis(
    venv: &Venv,
    base: &str,
    work_dir: &Path,
    caller: &Caller,
    options: &FuzzOptions,
) -> anyhow::Result<bool> {
    let mut command = Command::new(venv.bin("schemathesis"));
    command
        .current_dir(work_dir)
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("--no-color")
        .arg("--config-file")
        .arg(config_file())
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--max-examples", &options.max_examples.to_string()])
        .args(["--seed", &options.seed.to_string()])
        // One worker: hypothesis's lambda-source cache is not thread-safe (seen as "AST
        // constructor recursion depth mismatch" errors with two).
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"]);
    if let Some(token) = &caller.token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    match caller.paths {
        PathFilter::All => {}
        PathFilter::Except(regex) => {
            command.args(["--exclude-path-regex", regex]);
        }
        PathFilter::Only(regex) => {
            command.args(["--include-path-regex", regex]);
        }
    }
    let status = command.status().context("cannot run schemathesis")?;
    Ok(status.success())
}

/// The schemathesis configuration (per-operation exceptions, with their reasons).
fn config_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml")
}
