//! Scenario `memory`: the server's resident memory (`VmRSS`) idle, right after start-up and one
//! login, and at its peak during each load phase observed so far (the polygons and throughput
//! phases, sampled every 100 ms), with the kernel's own high-water mark (`VmHWM`) as a check.
//! The idle and after-load figures are split into anonymous memory (heap, stacks) and
//! file-backed memory (the mapped binary), which tells an optimiser where to look.

use serde_json::json;

use super::Bench;
use super::report::{Goal, table};
use super::system::{Resident, status_kib};

/// Resident-memory target under load (issue 9), in MB.
const TARGET_MB: f64 = 60.0;

/// Megabytes (10^6 bytes, the unit of the target) of KiB.
fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

/// A table row of a full reading.
fn reading(when: &str, resident: &Resident) -> Vec<String> {
    vec![
        when.to_owned(),
        format!("{:.1}", mb(resident.rss_kib)),
        format!("{:.1}", mb(resident.anon_kib)),
        format!("{:.1}", mb(resident.file_kib)),
        resident.threads.to_string(),
    ]
}

/// Prints and records the memory figures.
pub fn run(bench: &mut Bench, idle: &Resident) {
    let now = Resident::read(bench.pid);
    let hwm_kib = status_kib(bench.pid, "VmHWM").unwrap_or(0);
    let dash = || "-".to_owned();
    let mut rows = vec![reading("idle (after start)", idle)];
    rows.extend(bench.peaks.iter().map(|(phase, kib)| {
        vec![
            format!("peak: {phase}"),
            format!("{:.1}", mb(*kib)),
            dash(),
            dash(),
            dash(),
        ]
    }));
    rows.push(reading("after the load", &now));
    rows.push(vec![
        "VmHWM (kernel high-water mark)".into(),
        format!("{:.1}", mb(hwm_kib)),
        dash(),
        dash(),
        dash(),
    ]);
    table(
        "memory: server resident memory (MB = 10^6 bytes)",
        &["when", "VmRSS", "anon", "file", "threads"],
        &rows,
    );
    let peak_kib = bench.peaks.iter().map(|(_, kib)| *kib).max().unwrap_or(0);
    bench.report.phase(
        "memory",
        "server",
        json!({"idle": idle, "peaks_kib": bench.peaks, "after_load": now, "vm_hwm_kib": hwm_kib}),
    );
    bench
        .report
        .check(("memory", "idle"), "VmRSS MB", mb(idle.rss_kib), None, None);
    bench.report.check(
        ("memory", "peak under load"),
        "VmRSS MB",
        mb(peak_kib),
        Some(Goal::Below(TARGET_MB)),
        Some("~200 MB"),
    );
}
