//! Python tools the tests use (moto, schemathesis, openapi-spec-validator), each installed from
//! PyPI into its own virtual environment under the target directory, pinned, and reinstalled only
//! when the pinned requirements change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// The file in a virtual environment recording which requirements were installed.
const STAMP_FILE: &str = "reefguide-requirements";

/// A virtual environment with its requirements installed.
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// `<target_dir>/<name>` with `requirements` installed (pip runs only when the stamp file
    /// does not list exactly these requirements, or one of `executables` is missing).
    ///
    /// # Errors
    /// When Python, its venv module or the installation fails.
    pub fn ensure(
        target_dir: &Path,
        name: &str,
        requirements: &[&str],
        executables: &[&str],
    ) -> anyhow::Result<Self> {
        let venv = Self {
            dir: target_dir.join(name),
        };
        let wanted = requirements.join("\n");
        let stamp = venv.dir.join(STAMP_FILE);
        let installed = fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted);
        if installed && executables.iter().all(|exe| venv.bin(exe).is_file()) {
            return Ok(venv);
        }
        eprintln!(
            "xtask: installing {} into {}",
            requirements.join(", "),
            venv.dir.display()
        );
        let python = venv.bin("python");
        if !python.is_file() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv.dir),
                "create a virtual environment with `python3 -m venv` (is python3 with the venv \
                 module installed?)",
            )?;
        }
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
                .args(requirements),
            &format!("install {wanted:?} with pip into {}", venv.dir.display()),
        )?;
        if let Some(missing) = executables.iter().find(|exe| !venv.bin(exe).is_file()) {
            bail!(
                "pip finished but {} is missing",
                venv.bin(missing).display()
            );
        }
        fs::write(&stamp, &wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
        Ok(venv)
    }

    /// An executable of the environment.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }
}

/// Runs `command` to completion; `what` completes "cannot …" in errors.
pub fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("cannot {what}"))?;
    if !status.success() {
        bail!("cannot {what}: {status}");
    }
    Ok(())
}
