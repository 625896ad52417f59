//! Tables on stdout, the figures checked against the targets of issue 9, and
//! `target/bench/results.json`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use super::Observed;
use super::load::Stats;
use super::system::Machine;

/// A target of issue 9 for one figure.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Goal {
    /// The figure must be at least this.
    AtLeast(f64),
    /// The figure must be strictly below this.
    Below(f64),
    /// The figure must be at most this (`AtMost(0.0)`: none at all).
    AtMost(f64),
}

impl Goal {
    /// Whether `value` meets the goal.
    pub fn met(self, value: f64) -> bool {
        match self {
            Self::AtLeast(goal) => value >= goal,
            Self::Below(goal) => value < goal,
            Self::AtMost(goal) => value <= goal,
        }
    }

    fn text(self) -> String {
        match self {
            Self::AtLeast(goal) => format!(">= {}", number(goal)),
            Self::Below(goal) => format!("< {}", number(goal)),
            Self::AtMost(0.0) => "0".into(),
            Self::AtMost(goal) => format!("<= {}", number(goal)),
        }
    }
}

/// A number for a table: no decimals from 100 up, two below.
pub fn number(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// One figure of the summary, with its target when issue 9 sets one.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Scenario (`polygons`, `submit`, …).
    pub scenario: String,
    /// Phase (`32 connections`, …).
    pub phase: String,
    /// What was measured (`requests/s`, `p99 ms`, …).
    pub figure: String,
    /// The measured value.
    pub value: f64,
    /// The target, if any.
    pub goal: Option<Goal>,
    /// Whether the target was met (absent when there is no target).
    pub pass: Option<bool>,
    /// The ReefGuide (Node) figure from issue 9, if any.
    pub reference: Option<String>,
}

/// One measured phase, with all its figures, for the results file.
#[derive(Debug, Serialize)]
struct PhaseRecord {
    scenario: String,
    phase: String,
    figures: Value,
}

/// Everything measured in a run.
#[derive(Debug, Default)]
pub struct Report {
    phases: Vec<PhaseRecord>,
    checks: Vec<Check>,
}

impl Report {
    /// Records the figures of one phase.
    pub fn phase(&mut self, scenario: &str, phase: &str, figures: impl Serialize) {
        self.phases.push(PhaseRecord {
            scenario: scenario.into(),
            phase: phase.into(),
            figures: serde_json::to_value(figures).unwrap_or(Value::Null),
        });
    }

    /// Records one figure for the summary.
    pub fn check(
        &mut self,
        (scenario, phase): (&str, &str),
        figure: &str,
        value: f64,
        goal: Option<Goal>,
        reference: Option<&str>,
    ) {
        self.checks.push(Check {
            scenario: scenario.into(),
            phase: phase.into(),
            figure: figure.into(),
            value,
            goal,
            pass: goal.map(|goal| goal.met(value)),
            reference: reference.map(str::to_owned),
        });
    }

    /// Records an error count, whose target is always zero.
    pub fn check_no_errors(&mut self, key: (&str, &str), errors: u64) {
        self.check(key, "errors", errors as f64, Some(Goal::AtMost(0.0)), None);
    }

    /// Prints every recorded figure beside its target.
    pub fn print_summary(&self) {
        let rows: Vec<Vec<String>> = self
            .checks
            .iter()
            .map(|check| {
                vec![
                    check.scenario.clone(),
                    check.phase.clone(),
                    check.figure.clone(),
                    number(check.value),
                    check.goal.map_or_else(|| "-".into(), Goal::text),
                    check.reference.clone().unwrap_or_else(|| "-".into()),
                    match check.pass {
                        Some(true) => "PASS".into(),
                        Some(false) => "MISS".into(),
                        None => "-".into(),
                    },
                ]
            })
            .collect();
        table(
            "summary: measured figures against the targets of issue 9",
            &[
                "scenario",
                "phase",
                "figure",
                "measured",
                "target",
                "R1 (Node)",
                "result",
            ],
            &rows,
        );
        let missed = self.checks.iter().filter(|c| c.pass == Some(false)).count();
        let checked = self.checks.iter().filter(|c| c.pass.is_some()).count();
        println!("{} of {checked} targets met", checked - missed);
    }

    /// Writes `target/bench/results.json` and returns its path.
    pub fn write(
        &self,
        target_dir: &Path,
        machine: &Machine,
        run: Value,
    ) -> anyhow::Result<PathBuf> {
        let dir = target_dir.join("bench");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("results.json");
        let results = json!({
            "machine": machine,
            "run": run,
            "phases": self.phases,
            "targets": self.checks,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// Prints a table of load phases, one row each: the phase, how many `count` (e.g. "requests")
/// and their `rate` (e.g. "req/s"), latencies, errors, the server's peak memory and CPU shares.
pub fn load_table(title: &str, count: &str, rate: &str, phases: &[(String, Stats, Observed)]) {
    let rows: Vec<Vec<String>> = phases
        .iter()
        .map(|(phase, stats, observed)| {
            vec![
                phase.clone(),
                stats.requests.to_string(),
                number(stats.per_second),
                number(stats.p50_ms),
                number(stats.p99_ms),
                number(stats.max_ms),
                stats.errors.to_string(),
                format!("{:.1}", observed.peak_rss_kib as f64 * 1024.0 / 1e6),
                observed.cpu.cell(),
            ]
        })
        .collect();
    table(
        title,
        &[
            "phase",
            count,
            rate,
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "peak MB",
            "cpu % srv/pg/gen/all",
        ],
        &rows,
    );
}

/// Prints a table: a title, a header and right-aligned columns (the first left-aligned).
pub fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| {
                if i == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        println!("  {}", text.join("  "));
    };
    println!("\n{title}");
    line(header.iter().map(|h| (*h).to_owned()).collect());
    line(widths.iter().map(|&w| "-".repeat(w)).collect());
    for row in rows {
        line(row.clone());
    }
}
