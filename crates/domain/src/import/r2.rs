//! ReefGuide R2's own tables in an import (issue 27): pre-approvals, groups with their seats,
//! projects with their shares, and the data specification, turned into this service's rows.
//!
//! The rules, each reported row by row:
//! - rows of a user merged into another (a case-only duplicate email) follow that user; a seat
//!   or share the merge makes twice is kept once;
//! - names and descriptions are stored the way this service's routes store them (trimmed, a
//!   name 1 to 200 characters, a description at most 2000): a blank name gets one, a longer text
//!   is cut, and a project name an owner already uses (after a merge, or a race in R2, which
//!   checks uniqueness in code only) gets its id appended;
//! - a pre-approval keeps its roles (`DEFAULT` when R2 stored none); one whose address this
//!   service refuses, or that differs from another only by case, is left out;
//! - the data specification comes over as it is.

pub mod source;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

pub use source::{
    Link, R2Source, SourceCriterion, SourceGroup, SourcePreApproval, SourceProject, SourceRegion,
    SourceRegionalCriterion,
};

use super::plan::owner;
use super::report::{ImportReport, RowOutcome};
use crate::project::{ProjectState, ProjectType};
use crate::text::{Description, Label, MAX_DESCRIPTION_CHARS, MAX_LABEL_CHARS, TextError};
use crate::user::Email;
use crate::user::pre_approval::PreApprovalRoles;

/// A pre-approval to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPreApproval {
    /// Its ReefGuide id.
    pub id: i64,
    /// The address, normalised.
    pub email: Email,
    /// The roles it grants.
    pub roles: PreApprovalRoles,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The administrator who created it.
    pub created_by: Option<i64>,
    /// Whether a registration used it.
    pub used: bool,
    /// When.
    pub used_at: Option<DateTime<Utc>>,
}

/// A group to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedGroup {
    /// Its ReefGuide id.
    pub id: i64,
    /// The owner.
    pub owner_id: i64,
    /// Its name.
    pub name: Label,
    /// Its description.
    pub description: Option<Description>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A project to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedProject {
    /// Its ReefGuide id.
    pub id: i64,
    /// The owner.
    pub owner_id: i64,
    /// Its name, unique among the owner's projects.
    pub name: Label,
    /// Its description.
    pub description: Option<Description>,
    /// Kind of work.
    pub kind: ProjectType,
    /// The front end's saved state, as stored.
    pub state: ProjectState,
    /// Seen by everyone.
    pub is_public: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// R2's tables as they are to be written, parents first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct R2Plan {
    /// Pre-approvals.
    pub pre_approvals: Vec<ImportedPreApproval>,
    /// Groups.
    pub groups: Vec<ImportedGroup>,
    /// Group managers: group → user.
    pub group_managers: Vec<Link>,
    /// Group members: group → user.
    pub group_members: Vec<Link>,
    /// Projects.
    pub projects: Vec<ImportedProject>,
    /// Project shares with users: project → user.
    pub project_user_shares: Vec<Link>,
    /// Project shares with groups: project → group.
    pub project_group_shares: Vec<Link>,
    /// Regions.
    pub regions: Vec<SourceRegion>,
    /// Criteria.
    pub criteria: Vec<SourceCriterion>,
    /// Criteria ranges per region.
    pub regional_criteria: Vec<SourceRegionalCriterion>,
}

/// Plans R2's tables; `owner_of` maps a merged-away user to the user it was merged into.
/// Nothing here stops an import: every adjustment is a report row.
pub(super) fn plan_r2(
    source: &R2Source,
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> R2Plan {
    let follow = |user| owner(owner_of, user);
    let pre_approvals = plan_pre_approvals(&source.pre_approvals, owner_of, report);
    let groups = plan_groups(&source.groups, owner_of, report);
    let group_managers = plan_links("group_managers", &source.group_managers, follow, report);
    let group_members = plan_links("group_members", &source.group_members, follow, report);
    let projects = plan_projects(&source.projects, owner_of, report);
    let project_user_shares = plan_links(
        "project_user_shares",
        &source.project_user_shares,
        follow,
        report,
    );
    let project_group_shares = plan_links(
        "project_group_shares",
        &source.project_group_shares,
        |group| group,
        report,
    );
    for (table, rows) in [
        ("regions", source.regions.len()),
        ("criteria", source.criteria.len()),
        ("regional_criteria", source.regional_criteria.len()),
    ] {
        report.count(table, rows, rows);
    }
    R2Plan {
        pre_approvals,
        groups,
        group_managers,
        group_members,
        projects,
        project_user_shares,
        project_group_shares,
        regions: source.regions.clone(),
        criteria: source.criteria.clone(),
        regional_criteria: source.regional_criteria.clone(),
    }
}

fn plan_pre_approvals(
    source: &[SourcePreApproval],
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Vec<ImportedPreApproval> {
    const TABLE: &str = "pre_approved_users";
    let mut taken: HashMap<Email, i64> = HashMap::new();
    let mut planned = Vec::new();
    for row in source {
        let email = match Email::parse(&row.email) {
            Ok(email) => email,
            Err(error) => {
                report.note(
                    TABLE,
                    Some(row.id),
                    RowOutcome::NotImported,
                    format!(
                        "address {:?} is not one this service accepts ({error}): no account \
                         can register with it here",
                        row.email
                    ),
                );
                continue;
            }
        };
        if let Some(first) = taken.get(&email) {
            report.note(
                TABLE,
                Some(row.id),
                RowOutcome::NotImported,
                format!(
                    "{:?} differs from pre-approval {first}'s address only by case: this \
                     service compares addresses without case and keeps that one",
                    row.email
                ),
            );
            continue;
        }
        let roles = if row.roles.is_empty() {
            report.note(
                TABLE,
                Some(row.id),
                RowOutcome::ImportedWithWarning,
                "R2 stored no role: imported with DEFAULT (no role)",
            );
            PreApprovalRoles::parse(["DEFAULT"])
        } else {
            PreApprovalRoles::parse(&row.roles)
        };
        let roles = match roles {
            Ok(roles) => roles,
            Err(error) => {
                report.note(
                    TABLE,
                    Some(row.id),
                    RowOutcome::NotImported,
                    format!("roles {:?}: {error}", row.roles),
                );
                continue;
            }
        };
        taken.insert(email.clone(), row.id);
        planned.push(ImportedPreApproval {
            id: row.id,
            email,
            roles,
            created_at: row.created_at,
            updated_at: row.updated_at,
            created_by: row.created_by_user_id.map(|user| owner(owner_of, user)),
            used: row.used,
            used_at: row.used_at,
        });
    }
    report.count(TABLE, source.len(), planned.len());
    planned
}

fn plan_groups(
    source: &[SourceGroup],
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Vec<ImportedGroup> {
    let planned: Vec<ImportedGroup> = source
        .iter()
        .map(|row| {
            let mut warnings = Vec::new();
            let name = imported_name(&row.name, "Group", row.id, &mut warnings);
            let description = imported_description(row.description.as_deref(), &mut warnings);
            report_warnings(report, "groups", row.id, &warnings);
            ImportedGroup {
                id: row.id,
                owner_id: owner(owner_of, row.owner_id),
                name,
                description,
                created_at: row.created_at,
                updated_at: row.updated_at,
            }
        })
        .collect();
    report.count("groups", source.len(), planned.len());
    planned
}

fn plan_projects(
    source: &[SourceProject],
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Vec<ImportedProject> {
    let mut names_in_use: BTreeSet<(i64, Label)> = BTreeSet::new();
    let mut planned = Vec::new();
    for row in source {
        let mut warnings = Vec::new();
        let owner_id = owner(owner_of, row.user_id);
        let mut name = imported_name(&row.name, "Project", row.id, &mut warnings);
        if names_in_use.contains(&(owner_id, name.clone())) {
            let unique = with_suffix(&name, &format!(" ({})", row.id));
            warnings.push(format!(
                "its owner already has a project named {:?}: renamed {:?}",
                name.as_str(),
                unique.as_str()
            ));
            name = unique;
        }
        names_in_use.insert((owner_id, name.clone()));
        let description = imported_description(row.description.as_deref(), &mut warnings);
        let kind = row.kind.parse::<ProjectType>().unwrap_or_else(|_| {
            warnings.push(format!(
                "type {:?} is not a project type here: imported as SITE_SELECTION",
                row.kind
            ));
            ProjectType::SiteSelection
        });
        if !ProjectState::fits(&row.project_state) {
            warnings.push(
                "its saved state is larger than this service accepts in a request: kept as it \
                 is, but a change to the project must send a smaller one"
                    .to_owned(),
            );
        }
        report_warnings(report, "projects", row.id, &warnings);
        planned.push(ImportedProject {
            id: row.id,
            owner_id,
            name,
            description,
            kind,
            state: ProjectState::from_stored(row.project_state.clone()),
            is_public: row.is_public,
            created_at: row.created_at,
            updated_at: row.updated_at,
        });
    }
    report.count("projects", source.len(), planned.len());
    planned
}

/// The links of `table` with their holders mapped by `holder`; a link a merge made twice is
/// kept once (the first by id).
fn plan_links(
    table: &'static str,
    source: &[Link],
    holder: impl Fn(i64) -> i64,
    report: &mut ImportReport,
) -> Vec<Link> {
    let mut kept: HashMap<(i64, i64), i64> = HashMap::new();
    let mut planned = Vec::new();
    for link in source {
        let holder_id = holder(link.holder_id);
        if let Some(first) = kept.get(&(link.parent_id, holder_id)) {
            report.note(
                table,
                Some(link.id),
                RowOutcome::Merged,
                format!(
                    "its user {} was merged into user {holder_id}, who already has row {first}: \
                     kept once",
                    link.holder_id
                ),
            );
            continue;
        }
        kept.insert((link.parent_id, holder_id), link.id);
        planned.push(Link {
            holder_id,
            ..link.clone()
        });
    }
    report.count(table, source.len(), planned.len());
    planned
}

/// A name as this service stores it; what had to change goes into `warnings`.
fn imported_name(raw: &str, kind: &str, id: i64, warnings: &mut Vec<String>) -> Label {
    match Label::new(raw) {
        Ok(label) => label,
        Err(TextError::Empty) => {
            let named = format!("{kind} {id}");
            warnings.push(format!("its name is blank: named {named:?}"));
            Label::fitted_or(&named, "Imported")
        }
        Err(TextError::TooLong { max }) => {
            warnings.push(format!(
                "its name is longer than {max} characters: cut to the first {max} (the whole \
                 name stays in the source row)"
            ));
            Label::fitted_or(raw, &format!("{kind} {id}"))
        }
    }
}

/// A description as this service stores it; what had to change goes into `warnings`.
fn imported_description(raw: Option<&str>, warnings: &mut Vec<String>) -> Option<Description> {
    let raw = raw?;
    Description::new(raw).unwrap_or_else(|_| {
        warnings.push(format!(
            "its description is longer than {MAX_DESCRIPTION_CHARS} characters: cut to the \
             first {MAX_DESCRIPTION_CHARS} (the whole text stays in the source row)"
        ));
        Description::fitted(raw)
    })
}

/// `name` with `suffix`, the name cut so that both fit in a label.
fn with_suffix(name: &Label, suffix: &str) -> Label {
    let room = MAX_LABEL_CHARS.saturating_sub(suffix.chars().count());
    let base: String = name.as_str().chars().take(room).collect();
    Label::fitted_or(&format!("{}{suffix}", base.trim_end()), name.as_str())
}

fn report_warnings(report: &mut ImportReport, table: &'static str, id: i64, warnings: &[String]) {
    if !warnings.is_empty() {
        report.note(
            table,
            Some(id),
            RowOutcome::ImportedWithWarning,
            warnings.join("; "),
        );
    }
}
