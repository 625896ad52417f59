//! The rows of ReefGuide R2's own tables as an importer reads them
//! (`shared/spec/reefguide-schema.md`, "R2 additions"): plain values, enums as their names,
//! timestamps in UTC.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A `pre_approved_users` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePreApproval {
    /// Its id.
    pub id: i64,
    /// The address as stored (R2 compares it as is).
    pub email: String,
    /// `UserRole` names (R2's column may be NULL: read as none).
    pub roles: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The administrator who created it, if still there.
    pub created_by_user_id: Option<i64>,
    /// Whether a registration used it.
    pub used: bool,
    /// When.
    pub used_at: Option<DateTime<Utc>>,
}

/// A `projects` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceProject {
    /// Its id.
    pub id: i64,
    /// Its name as stored.
    pub name: String,
    /// Its description as stored.
    pub description: Option<String>,
    /// The `ProjectType` name.
    pub kind: String,
    /// The front end's saved state.
    pub project_state: Value,
    /// Seen by everyone (false before R2's groups migration added the column).
    pub is_public: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The owner.
    pub user_id: i64,
}

/// A `groups` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceGroup {
    /// Its id.
    pub id: i64,
    /// Its name as stored.
    pub name: String,
    /// Its description as stored.
    pub description: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The owner.
    pub owner_id: i64,
}

/// A row that links a parent to a holder: a project shared with a user
/// (`project_user_shares`) or a group (`project_group_shares`), a user seated in a group as a
/// manager (`group_managers`) or a member (`group_members`). The same shape is what the import
/// writes, holders remapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Its id.
    pub id: i64,
    /// The project or group.
    pub parent_id: i64,
    /// The user or group holding it.
    pub holder_id: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed (seats have none: their creation time).
    pub updated_at: DateTime<Utc>,
}

/// A `regions` row, imported as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRegion {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// Shown name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A `criteria` row, imported as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCriterion {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// Shown title.
    pub display_title: String,
    /// Shown subtitle.
    pub display_subtitle: Option<String>,
    /// Units.
    pub units: Option<String>,
    /// Tooltip of the minimum.
    pub min_tooltip: Option<String>,
    /// Tooltip of the maximum.
    pub max_tooltip: Option<String>,
    /// Prefix of the job payload's fields.
    pub payload_prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A `regional_criteria` row, imported as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRegionalCriterion {
    /// Its id.
    pub id: i64,
    /// The region.
    pub region_id: i64,
    /// The criterion.
    pub criteria_id: i64,
    /// Lowest value.
    pub min_val: f64,
    /// Highest value.
    pub max_val: f64,
    /// Default lower bound.
    pub default_min_val: f64,
    /// Default upper bound.
    pub default_max_val: f64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// R2's own tables, each ordered by id; empty for an R1 database (and for a table an R2
/// database's migrations had not created yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct R2Source {
    /// `pre_approved_users`.
    pub pre_approvals: Vec<SourcePreApproval>,
    /// `groups`.
    pub groups: Vec<SourceGroup>,
    /// `group_managers`: group → user.
    pub group_managers: Vec<Link>,
    /// `group_members`: group → user.
    pub group_members: Vec<Link>,
    /// `projects`.
    pub projects: Vec<SourceProject>,
    /// `project_user_shares`: project → user.
    pub project_user_shares: Vec<Link>,
    /// `project_group_shares`: project → group.
    pub project_group_shares: Vec<Link>,
    /// `regions`.
    pub regions: Vec<SourceRegion>,
    /// `criteria`.
    pub criteria: Vec<SourceCriterion>,
    /// `regional_criteria`.
    pub regional_criteria: Vec<SourceRegionalCriterion>,
}
