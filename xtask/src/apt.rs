//! Debian packages the checks need, installed with apt-get when missing (as root).

use std::path::PathBuf;
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
    let path = PathBuf::from(program);
    if path.is_file() {
        return Ok(path);
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !is_root {
        bail!(
            "{needed_by} needs {program}: install Debian's package with \
             `sudo apt-get install {package}`"
        );
    }
    eprintln!("xtask: installing Debian's {package} package");
    run(
        Command::new("apt-get").args(["update", "-qq"]),
        "update the apt package lists",
    )?;
    run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("install {package} with apt-get"),
    )?;
    if !path.is_file() {
        bail!("apt-get installed {package} but {program} is missing");
    }
    Ok(path)
}
