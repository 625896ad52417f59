//! `reefguide worker` processes (the worker SDK's TEST handler) serving one server, as the
//! checks and benchmarks run them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// How many worker processes to run, and as whom.
pub struct WorkerPool {
    /// Processes.
    pub processes: usize,
    /// Jobs each runs at once (`--concurrency`).
    pub concurrency: u32,
    /// The WORKER account `(email, password)` they log in with.
    pub account: (&'static str, &'static str),
}

/// The worker processes; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Workers {
    children: Vec<Child>,
}

impl Workers {
    /// Starts `pool`'s processes against the server at `base`, each logging into
    /// `<logs>/worker-<n>.log`.
    pub fn start(
        binary: &Path,
        base: &str,
        logs: &Path,
        pool: &WorkerPool,
    ) -> anyhow::Result<Self> {
        let mut children = Vec::new();
        for index in 0..pool.processes {
            let log = std::fs::File::create(worker_log(logs, index))?;
            let child = Command::new(binary)
                .args(["worker", "--api-url", base, "--concurrency"])
                .arg(pool.concurrency.to_string())
                .env("WORKER_USERNAME", pool.account.0)
                .env("WORKER_PASSWORD", pool.account.1)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {} worker", binary.display()))?;
            children.push(child);
        }
        Ok(Self { children })
    }

    /// Asks every worker to stop (SIGTERM: graceful) and waits up to 10 s before killing it.
    pub fn stop(&mut self) {
        for child in &self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.children {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The log of worker `index`.
fn worker_log(logs: &Path, index: usize) -> PathBuf {
    logs.join(format!("worker-{index}.log"))
}
