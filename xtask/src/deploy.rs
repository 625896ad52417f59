//! `cargo xtask deploy-check`: the AWS CDK app under `deploy/` type-checks, passes its assertion
//! tests and synthesizes, with no AWS account and no network but the npm registry.
//!
//! Its packages come from the npm registry with `npm ci`, which runs only when `deploy/node_modules`
//! was not installed from exactly the current `package-lock.json` (a copy of the lock file
//! installed last is kept in `node_modules` as a stamp; `npm ci` deletes it with the rest). The
//! stack is synthesized from `deploy/config.example.json` into `target/cdk.out`, without
//! notices, version checks, telemetry or the CDK metadata resource.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::python::run;

/// The oldest Node.js major version the CDK app supports (`engines` of `deploy/package.json`).
const MIN_NODE_MAJOR: u32 = 20;
/// The stamp in `node_modules` holding the lock file it was installed from.
const STAMP_FILE: &str = ".reefguide-installed-lock";
/// The configuration synthesized by the check.
const EXAMPLE_CONFIG: &str = "config.example.json";

/// Runs the check.
///
/// # Errors
/// When Node.js or npm is missing or too old, or installing, a test or the synthesis fails.
pub fn run_check() -> anyhow::Result<()> {
    check_node()?;
    let deploy = deploy_dir();
    ensure_installed(&deploy)?;
    run(
        npm().arg("test").current_dir(&deploy),
        "pass the CDK app's tests (`npm test` in deploy/)",
    )?;
    let out = crate::target_dir().join("cdk.out");
    run(
        Command::new(deploy.join("node_modules").join(".bin").join("cdk"))
            .args(["synth", "--quiet", "--no-notices", "--no-version-reporting"])
            .args(["--context", &format!("config={EXAMPLE_CONFIG}")])
            .arg("--output")
            .arg(&out)
            .env("CDK_DISABLE_VERSION_CHECK", "1")
            .env("CDK_DISABLE_CLI_TELEMETRY", "true")
            .current_dir(&deploy),
        "synthesize the CDK app (`cdk synth` in deploy/)",
    )?;
    eprintln!("xtask: deploy-check passed; template in {}", out.display());
    Ok(())
}

/// `<workspace>/deploy`.
fn deploy_dir() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(&xtask).join("deploy")
}

/// `npm`, as a command.
fn npm() -> Command {
    Command::new("npm")
}

/// Fails with what to install when `node` or `npm` is missing, or Node.js is too old.
fn check_node() -> anyhow::Result<()> {
    let missing = |tool: &str| {
        format!(
            "deploy-check needs Node.js {MIN_NODE_MAJOR} or newer with npm, and `{tool}` cannot \
             be run; install them (e.g. `apt-get install nodejs npm`, or from nodejs.org) and \
             make sure they are on PATH"
        )
    };
    let output = Command::new("node")
        .arg("--version")
        .output()
        .with_context(|| missing("node"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match node_major(&version) {
        Some(major) if major >= MIN_NODE_MAJOR => {}
        _ => bail!(
            "deploy-check needs Node.js {MIN_NODE_MAJOR} or newer; `node --version` says {version:?}"
        ),
    }
    let npm_ok = npm()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !npm_ok {
        bail!(missing("npm"));
    }
    Ok(())
}

/// The major version of `node --version`'s answer (`v20.20.2` → 20).
fn node_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Runs `npm ci` in `deploy` unless `node_modules` was installed from the current lock file.
fn ensure_installed(deploy: &Path) -> anyhow::Result<()> {
    let lock_path = deploy.join("package-lock.json");
    let lock = fs::read_to_string(&lock_path)
        .with_context(|| format!("cannot read {}", lock_path.display()))?;
    let stamp_path = deploy.join("node_modules").join(STAMP_FILE);
    if fs::read_to_string(&stamp_path).is_ok_and(|stamp| stamp == lock) {
        return Ok(());
    }
    eprintln!("xtask: installing the CDK app's packages (npm ci in deploy/)");
    run(
        npm()
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(deploy),
        "install the CDK app's packages (`npm ci` in deploy/)",
    )?;
    fs::write(&stamp_path, &lock)
        .with_context(|| format!("cannot write {}", stamp_path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_major_reads_the_major_version() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v9.11.2"), Some(9));
        assert_eq!(node_major("20.1.0"), None);
        assert_eq!(node_major(""), None);
    }
}
