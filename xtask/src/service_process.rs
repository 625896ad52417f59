//! A server process xtask starts for the tests (moto, the SMTP server): waited for until it
//! answers, and killed and reaped when dropped or when xtask is interrupted.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running server process; killed (and reaped) on drop.
pub struct ServiceProcess {
    /// What it is called in messages (`moto_server`, `aiosmtpd`).
    name: &'static str,
    child: Arc<Mutex<Child>>,
    /// Where its output goes, named in every failure.
    log: PathBuf,
}

impl ServiceProcess {
    /// Takes charge of `child`, whose output goes to `log`.
    pub fn new(name: &'static str, child: Child, log: &Path) -> Self {
        Self {
            name,
            child: Arc::new(Mutex::new(child)),
            log: log.to_path_buf(),
        }
    }

    /// Polls `ready` until it holds, failing early if the process exits and after `timeout`.
    /// `what` completes "… before …" and "… was not … within" in the errors (e.g. `answering
    /// HTTP on 127.0.0.1:40123`).
    ///
    /// # Errors
    /// When the process exits first or `ready` never holds in time (naming the log).
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn() -> bool,
    ) -> anyhow::Result<()> {
        let name = self.name;
        let deadline = Instant::now() + timeout;
        loop {
            let exited = lock(&self.child)
                .try_wait()
                .with_context(|| format!("cannot check the {name} process"))?;
            if let Some(status) = exited {
                bail!(
                    "{name} exited ({status}) before {what}; see {}",
                    self.log.display()
                );
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} was not {what} within {} s; see {}",
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the process when xtask is interrupted (see [`crate::on_signal`]).
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn stop_on_signal(&self) -> anyhow::Result<()> {
        let child = Arc::clone(&self.child);
        crate::on_signal::stop_on_signal(self.name, move || stop(&child))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        stop(&self.child);
    }
}

/// The child, even if a thread panicked while holding it.
fn lock(child: &Mutex<Child>) -> std::sync::MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills and reaps the process (harmless if it already exited).
fn stop(child: &Mutex<Child>) {
    let mut child = lock(child);
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let _ = child.wait();
}
