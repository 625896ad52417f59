//! A moto server (the AWS emulator) for the test suite: installed once into a Python virtual
//! environment under the target directory, started on a free loopback port, logging to
//! `target/moto.log`, and stopped when [`Moto`] is dropped or xtask is interrupted.

use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::python::Venv;
use crate::service_process::{ServiceProcess, http_status};

/// The moto release the tests are known to pass against.
const MOTO_REQUIREMENT: &str = "moto[server]==5.1.22";
/// The virtual environment's directory under the target directory.
const VENV_DIR: &str = "moto-venv";
/// The server's executable in the virtual environment.
const SERVER: &str = "moto_server";
/// The server's log under the target directory.
const LOG_FILE: &str = "moto.log";
/// How long the server may take to answer after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; killed (and reaped) on drop.
pub struct Moto {
    process: ServiceProcess,
    address: SocketAddr,
}

impl Moto {
    /// Installs moto into `<target_dir>/moto-venv` unless already there, starts it on a free
    /// loopback port and waits until it answers HTTP (`GET /moto-api/`).
    ///
    /// # Errors
    /// When Python, the installation, the spawn or the readiness wait fails (naming the log).
    pub fn start(target_dir: &Path) -> anyhow::Result<Self> {
        let server = ensure_installed(target_dir)?;
        let address = free_loopback_address()?;
        let log = target_dir.join(LOG_FILE);
        let process = ServiceProcess::new(SERVER, spawn(&server, address, &log)?, &log);
        process.wait_until(
            &format!("answering HTTP on {address}"),
            READY_TIMEOUT,
            || http_status(address, "/moto-api/").is_some(),
        )?;
        Ok(Self { process, address })
    }

    /// The server's URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Kills the server when xtask is interrupted (see [`crate::on_signal`]).
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn stop_on_signal(&self) -> anyhow::Result<()> {
        self.process.stop_on_signal()
    }
}

/// The `moto_server` executable, installing moto first when needed.
fn ensure_installed(target_dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = Venv::ensure(target_dir, VENV_DIR, &[MOTO_REQUIREMENT], &[SERVER])?;
    Ok(venv.bin(SERVER))
}

/// A loopback address with a port that was free a moment ago.
pub(crate) fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free loopback port")?;
    listener
        .local_addr()
        .context("cannot read the free port's address")
}

/// Spawns `server` on `address` with stdout and stderr appended to `log`.
fn spawn(server: &Path, address: SocketAddr, log: &Path) -> anyhow::Result<Child> {
    let mut out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    writeln!(
        out,
        "# {} -H {} -p {}",
        server.display(),
        address.ip(),
        address.port()
    )?;
    let err = out.try_clone().context("cannot share the moto log")?;
    Command::new(server)
        .arg("-H")
        .arg(address.ip().to_string())
        .arg("-p")
        .arg(address.port().to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_addresses_are_on_loopback() {
        let address = free_loopback_address().expect("a free port");
        assert!(address.ip().is_loopback() && address.port() != 0);
    }
}
