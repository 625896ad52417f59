//! What an import did, row by row where it matters: printed as text and written as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::source::Release;

/// Rows read and imported of one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// Rows in the source.
    pub read: u64,
    /// Rows written (or that a dry run would write).
    pub imported: u64,
}

/// What became of one source row (or of a whole table, `id: None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    /// Imported, with something the operator should know.
    ImportedWithWarning,
    /// Left out.
    NotImported,
    /// Folded into another row (a case-only duplicate user).
    Merged,
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowNote {
    /// The target table's name (`users`, `polygons`…).
    pub table: &'static str,
    /// The source row's id; `None` for a whole table.
    pub id: Option<i64>,
    /// What became of it.
    pub outcome: RowOutcome,
    /// Why.
    pub reason: String,
}

/// Source rows that cannot all be imported as they are: the import stops until resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The table.
    pub table: &'static str,
    /// The rows involved.
    pub ids: Vec<i64>,
    /// Why.
    pub reason: String,
}

/// The report of an import or a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Which ReefGuide the source is.
    pub release: Release,
    /// Whether nothing was (to be) written.
    pub dry_run: bool,
    /// Whether the rows are in the target now.
    pub imported: bool,
    /// Counts per target table, including tables read but never imported.
    pub tables: BTreeMap<&'static str, TableCount>,
    /// Every row imported with a warning, merged or left out, and every table left out.
    pub rows: Vec<RowNote>,
    /// What stopped the import, if anything did.
    pub conflicts: Vec<Conflict>,
}

impl ImportReport {
    /// An empty report of `release`.
    pub fn new(release: Release, dry_run: bool) -> Self {
        Self {
            release,
            dry_run,
            imported: false,
            tables: BTreeMap::new(),
            rows: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// Counts `read` rows of `table`, of which `imported` come over.
    pub fn count(&mut self, table: &'static str, read: usize, imported: usize) {
        let entry = self.tables.entry(table).or_default();
        entry.read += read as u64;
        entry.imported += imported as u64;
    }

    /// Notes what became of a row.
    pub fn note(
        &mut self,
        table: &'static str,
        id: Option<i64>,
        outcome: RowOutcome,
        reason: impl Into<String>,
    ) {
        self.rows.push(RowNote {
            table,
            id,
            outcome,
            reason: reason.into(),
        });
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.dry_run, self.imported) {
            (true, _) => "dry run: nothing written",
            (false, true) => "imported",
            (false, false) => "nothing imported",
        };
        writeln!(f, "ReefGuide {:?} import ({what})", self.release)?;
        writeln!(f, "{:<24} {:>10} {:>10}", "table", "read", "imported")?;
        for (table, count) in &self.tables {
            writeln!(f, "{table:<24} {:>10} {:>10}", count.read, count.imported)?;
        }
        if !self.conflicts.is_empty() {
            writeln!(f, "conflicts (the import stops until they are resolved):")?;
            for conflict in &self.conflicts {
                let ids: Vec<String> = conflict.ids.iter().map(i64::to_string).collect();
                writeln!(
                    f,
                    "  {} {}: {}",
                    conflict.table,
                    ids.join(", "),
                    conflict.reason
                )?;
            }
        }
        if !self.rows.is_empty() {
            writeln!(f, "rows:")?;
            for row in &self.rows {
                let id = row
                    .id
                    .map_or_else(|| "(all)".to_owned(), |id| id.to_string());
                let outcome = match row.outcome {
                    RowOutcome::ImportedWithWarning => "imported with a warning",
                    RowOutcome::NotImported => "not imported",
                    RowOutcome::Merged => "merged",
                };
                writeln!(f, "  {} {id}: {outcome}: {}", row.table, row.reason)?;
            }
        }
        Ok(())
    }
}
