//! `reefguide import reefguide`: a ReefGuide database brought into the configured one (issue 26).
//! Wires the ReefGuide source adapter and the store to the import use case, prints the report
//! and writes it as JSON on request.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::Utc;
use reefguide_adapters_reefguide::ReefGuideDatabase;
use reefguide_domain::import::{ImportReport, ImportRules};
use reefguide_ports::services::{ImportError, ImportService};

use crate::app::{connect_store, server_account_emails};
use crate::config::Settings;

/// Options of `reefguide import reefguide`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The ReefGuide database (`postgres://…`), read in one read-only snapshot.
    #[arg(long = "from", value_name = "URL")]
    pub from: String,
    /// Plan and report only: write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the report as JSON into this file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Fold each group of users whose emails differ only by case into its lowest id (its
    /// polygons, notes, jobs and log move along; reported). Without it, such groups stop the
    /// import.
    #[arg(long)]
    pub merge_case_duplicates: bool,
}

/// The import stopped for a reason the operator must resolve (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Runs the import into the database of `settings`.
///
/// # Errors
/// [`Refused`] when the source or the target forbids the import; any other error when it fails
/// (nothing written).
pub async fn run(settings: &Settings, args: &ImportArgs) -> anyhow::Result<()> {
    let registry = settings.jobs.registry()?;
    let rules = ImportRules {
        now: Utc::now(),
        merge_case_duplicates: args.merge_case_duplicates,
        policies: registry
            .iter()
            .map(|kind| (kind.spec().name.clone(), kind.spec().policy))
            .collect(),
    };
    let source = ReefGuideDatabase::connect(&args.from).await?;
    let target = connect_store(settings, true).await?;
    let service_accounts = server_account_emails(settings);
    let outcome = ImportService::new(&source, &target)
        .run(&rules, &service_accounts, args.dry_run)
        .await;
    let report = match &outcome {
        Ok(report) => Some(report),
        Err(error) => error.report(),
    };
    if let Some(report) = report {
        print!("{report}");
        if let Some(path) = &args.report_json {
            write_json(path, report)?;
        }
    }
    match outcome {
        Ok(_) => Ok(()),
        Err(ImportError::Refused { reason, .. }) => Err(Refused(reason).into()),
        Err(error) => Err(error.into()),
    }
}

/// Writes `report` as pretty JSON to `path`.
fn write_json(path: &Path, report: &ImportReport) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report).context("cannot serialise the report")?;
    std::fs::write(path, json + "\n")
        .with_context(|| format!("cannot write the report to {}", path.display()))
}
