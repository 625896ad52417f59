//! A server process xtask starts for the tests (moto, the SMTP server): waited for until it
//! answers, and killed and reaped when dropped or when xtask is interrupted.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
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

/// The status of an HTTP/1.0 `GET path` to `address`, or `None` when nothing answers HTTP there
/// within a few seconds (a readiness probe needing no HTTP client).
pub fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    // "HTTP/1.x NNN"
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).ok()?;
    if !head.starts_with(b"HTTP/1.") {
        return None;
    }
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;

    use super::*;

    #[test]
    fn readiness_needs_an_http_answer() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
        let address = listener.local_addr().expect("its address");
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("the probe connects");
            let mut request = [0_u8; 16];
            stream
                .read_exact(&mut request)
                .expect("the probe's request");
            stream
                .write_all(b"HTTP/1.0 200 OK\r\n\r\n")
                .expect("the answer is sent");
        });
        assert_eq!(http_status(address, "/"), Some(200));
        server.join().expect("the fake server ran");
        assert_eq!(http_status(address, "/"), None, "nothing listens any more");
    }
}
