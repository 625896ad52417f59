//! Debian packages the checks need, installed with apt-get when missing (as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

use crate::python::run;

/// The program at `program` (an absolute path), installing Debian's `package` with apt-get
/// first when it is missing; `needed_by` names the check in the error when it cannot be.
///
/// # Errors
/// When not root (the error gives the install command), or apt-get fails.
pub(crate) fn ensure_package(
    program: &str,
    package: &str,
    needed_by: &str,
) -> anyhow::Result<PathBuf> {
    ensure_packages(&[(package, program)], needed_by)?;
    Ok(PathBuf::from(program))
}

/// Installs, in one apt-get run, each `(package, program)` of `wanted` whose program (an
/// absolute path) is missing; `needed_by` names the check in the error when it cannot.
///
/// # Errors
/// When not root (the error gives the install command), or apt-get fails or leaves a program
/// missing.
pub(crate) fn ensure_packages(wanted: &[(&str, &str)], needed_by: &str) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(_, program)| !Path::new(program).is_file())
        .map(|&(package, _)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages = missing.join(" ");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !is_root {
        bail!("{needed_by} needs Debian's packages {packages}: `sudo apt-get install {packages}`");
    }
    eprintln!("xtask: installing Debian's {packages}");
    run(
        Command::new("apt-get").args(["update", "-qq"]),
        "update the apt package lists",
    )?;
    run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("install {packages} with apt-get"),
    )?;
    if let Some((package, program)) = wanted.iter().find(|(_, p)| !Path::new(p).is_file()) {
        bail!("apt-get installed {package} but {program} is missing");
    }
    Ok(())
}
