//! What the server and the machine use while a phase runs: resident memory of the server
//! (`VmRSS`, sampled every 100 ms), CPU time of the server, of Postgres, of this load generator
//! and of the whole machine (from `/proc`), and the facts about the machine that go into the
//! results file.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use serde::Serialize;
use tokio::task::JoinHandle;

/// How often the memory sampler reads `VmRSS`.
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// A numeric field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, … in KiB; `Threads`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The resident memory of a process at one instant, KiB, with its parts: anonymous (heap,
/// stacks) and file-backed (the mapped binary and libraries), and its thread count.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Resident {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `RssAnon`.
    pub anon_kib: u64,
    /// `RssFile`.
    pub file_kib: u64,
    /// `Threads`.
    pub threads: u64,
}

impl Resident {
    /// Reads `/proc/<pid>/status` now (zeros when the process is gone).
    pub fn read(pid: u32) -> Self {
        let field = |name| status_kib(pid, name).unwrap_or(0);
        Self {
            rss_kib: field("VmRSS"),
            anon_kib: field("RssAnon"),
            file_kib: field("RssFile"),
            threads: field("Threads"),
        }
    }
}

/// Samples the resident memory of a process every 100 ms until stopped.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<u64>,
}

impl MemorySampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(status_kib(pid, "VmRSS").unwrap_or(0));
                if flag.load(Ordering::Relaxed) {
                    return peak;
                }
                tokio::time::sleep(MEMORY_SAMPLE_INTERVAL).await;
            }
        });
        Self { stop, task }
    }

    /// Stops sampling (after one last sample) and returns the peak `VmRSS` in KiB.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

/// Clock ticks per second of the `/proc` CPU counters (`getconf CLK_TCK`, usually 100).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU ticks of one process (`/proc/<pid>/stat` fields 14 and 15).
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// CPU ticks of every running `postgres` process, by pid.
fn postgres_ticks() -> BTreeMap<String, u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .filter_map(|pid| process_ticks(&pid).map(|ticks| (pid, ticks)))
        .collect()
}

/// Busy and total CPU ticks of the whole machine (first line of `/proc/stat`).
fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|value| value.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    // Fields 4 and 5 are idle and iowait.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// CPU counters at one instant.
pub struct CpuSnapshot {
    at: Instant,
    server_pid: u32,
    server: u64,
    postgres: BTreeMap<String, u64>,
    load_generator: u64,
    machine_busy: u64,
}

/// CPU use over a phase, in percent of one core (the machine's maximum is `nproc` × 100).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuUse {
    /// The `reefguide` server process.
    pub server_pct: f64,
    /// Every `postgres` process.
    pub postgres_pct: f64,
    /// This load generator (the xtask process).
    pub load_generator_pct: f64,
    /// The whole machine, including anything else running on it.
    pub machine_pct: f64,
}

impl CpuUse {
    /// `server/postgres/load generator/machine` as a compact table cell.
    pub fn cell(&self) -> String {
        format!(
            "{:.0}/{:.0}/{:.0}/{:.0}",
            self.server_pct, self.postgres_pct, self.load_generator_pct, self.machine_pct
        )
    }
}

impl CpuSnapshot {
    /// Reads the counters now.
    pub fn take(server_pid: u32) -> Self {
        Self {
            at: Instant::now(),
            server_pid,
            server: process_ticks(&server_pid.to_string()).unwrap_or(0),
            postgres: postgres_ticks(),
            load_generator: process_ticks("self").unwrap_or(0),
            machine_busy: machine_ticks().0,
        }
    }

    /// The CPU used since this snapshot.
    pub fn since(&self) -> CpuUse {
        let now = Self::take(self.server_pid);
        let seconds = self.at.elapsed().as_secs_f64().max(1e-3);
        let hertz = clock_ticks();
        let percent = |ticks: u64| ticks as f64 / hertz / seconds * 100.0;
        // Postgres backends that started during the phase count from zero; those that ended
        // during it are missed (the server's pool keeps its connections, so few do).
        let postgres: u64 = now
            .postgres
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(self.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        CpuUse {
            server_pct: percent(now.server.saturating_sub(self.server)),
            postgres_pct: percent(postgres),
            load_generator_pct: percent(now.load_generator.saturating_sub(self.load_generator)),
            machine_pct: percent(now.machine_busy.saturating_sub(self.machine_busy)),
        }
    }
}

/// The machine the benchmark ran on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs (`nproc`).
    pub nproc: usize,
    /// Total memory in MiB (`MemTotal`).
    pub memory_mib: u64,
    /// 1-, 5- and 15-minute load averages when the run started (other work on the machine).
    pub load_average: String,
    /// `SELECT version()`.
    pub postgres: String,
    /// `git rev-parse --short HEAD`, with `-dirty` when the tree has uncommitted changes.
    pub commit: String,
}

impl Machine {
    /// Reads the machine's facts.
    pub async fn describe(db: &DatabaseConnection) -> Self {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    let rest = line.strip_prefix("MemTotal:")?;
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
            })
            .unwrap_or(0);
        let postgres = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT version()",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get_by_index::<String>(0).ok())
            .unwrap_or_else(|| "unknown".into());
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            memory_mib: memory_kib / 1024,
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|text| {
                    text.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            postgres,
            commit: git_commit(),
        }
    }
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
    };
    let Some(commit) = run(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.trim().is_empty());
    format!("{}{}", commit.trim(), if dirty { "-dirty" } else { "" })
}
