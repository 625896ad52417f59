//! The use case of importing a ReefGuide database: read the snapshot, plan it, check the target,
//! write (unless a dry run) — stopping, with the report, at the first thing that forbids it.

use reefguide_domain::Email;
use reefguide_domain::import::{ImportReport, ImportRules, plan_import};
use thiserror::Error;

use crate::import::{ImportTarget, ImportWriteError, ReefGuideSource, SourceError};

/// Why an import did not happen.
#[derive(Debug, Error)]
pub enum ImportError {
    /// Something in the source or the target forbids it; nothing was written. The report lists
    /// the conflicts, if that was the reason.
    #[error("import refused: {reason}")]
    Refused {
        /// The report so far.
        report: Box<ImportReport>,
        /// Why, in a sentence.
        reason: String,
    },
    /// The source could not be read.
    #[error("cannot read the ReefGuide database: {0}")]
    Source(#[from] SourceError),
    /// Writing failed; nothing was written.
    #[error("import failed, nothing written: {error}")]
    Failed {
        /// The report of what was planned.
        report: Box<ImportReport>,
        /// What broke.
        error: ImportWriteError,
    },
}

impl ImportError {
    /// The report, when the import got as far as planning.
    pub fn report(&self) -> Option<&ImportReport> {
        match self {
            Self::Refused { report, .. } | Self::Failed { report, .. } => Some(report),
            Self::Source(_) => None,
        }
    }
}

/// Imports a ReefGuide database into this service's.
pub struct ImportService<'a> {
    source: &'a dyn ReefGuideSource,
    target: &'a dyn ImportTarget,
}

impl<'a> ImportService<'a> {
    /// An import from `source` into `target`.
    pub fn new(source: &'a dyn ReefGuideSource, target: &'a dyn ImportTarget) -> Self {
        Self { source, target }
    }

    /// Reads, plans and (unless `dry_run`) writes; the report says what came over and what did
    /// not. The target may hold the `service_accounts` and nothing else.
    ///
    /// # Errors
    /// [`ImportError`]: refused (conflicts in the source, a target holding data), the source
    /// unreadable, or the write failed (then nothing was written).
    pub async fn run(
        &self,
        rules: &ImportRules,
        service_accounts: &[Email],
        dry_run: bool,
    ) -> Result<ImportReport, ImportError> {
        let snapshot = self.source.snapshot().await?;
        let plan = plan_import(snapshot, rules, dry_run).map_err(|report| {
            let reasons: Vec<&str> = report
                .conflicts
                .iter()
                .map(|conflict| conflict.reason.as_str())
                .collect();
            let reason = format!(
                "{} conflict(s) in the source: {}",
                reasons.len(),
                reasons.join("; ")
            );
            ImportError::Refused {
                report: Box::new(report),
                reason,
            }
        })?;
        let refused = |report: &ImportReport, error: ImportWriteError| match error {
            ImportWriteError::NotEmpty(_) => ImportError::Refused {
                report: Box::new(report.clone()),
                reason: format!("{error}; import into a fresh database"),
            },
            error => ImportError::Failed {
                report: Box::new(report.clone()),
                error,
            },
        };
        self.target
            .check_empty(service_accounts)
            .await
            .map_err(|error| refused(&plan.report, error))?;
        if dry_run {
            return Ok(plan.report);
        }
        self.target
            .write(&plan, service_accounts)
            .await
            .map_err(|error| refused(&plan.report, error))?;
        let mut report = plan.report;
        report.imported = true;
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
