//! The queries of ReefGuide R2's own tables (`shared/spec/reefguide-schema.md`, "R2 additions")
//! and their rows as the domain's source rows. R2 maps these models to lower-case table names;
//! a table (or `projects.is_public`) that an R2 database's migrations had not made yet is read as
//! empty (or false).

use reefguide_domain::import::{
    Link, R2Source, SourceCriterion, SourceGroup, SourcePreApproval, SourceProject, SourceRegion,
    SourceRegionalCriterion,
};
use reefguide_ports::SourceError;
use sea_orm::{DatabaseTransaction, QueryResult};
use serde_json::Value;

use crate::rows::Row;
use crate::{Schema, query};

const PRE_APPROVALS: &str = "SELECT id::bigint AS id, email, COALESCE(to_jsonb(roles::text[]), \
     '[]'::jsonb) AS roles, created_at, updated_at, created_by_user_id::bigint AS \
     created_by_user_id, used, used_at FROM pre_approved_users ORDER BY id";
const GROUPS: &str = "SELECT id::bigint AS id, name, description, created_at, updated_at, \
     owner_id::bigint AS owner_id FROM groups ORDER BY id";

/// Reads every R2 table `schema` has.
pub(crate) async fn read(
    txn: &DatabaseTransaction,
    schema: &Schema,
) -> Result<R2Source, SourceError> {
    let rows = |table: &'static str, sql: String| async move {
        if schema.has_table(table) {
            query(txn, &sql).await
        } else {
            Ok(Vec::new())
        }
    };
    let is_public = if schema.has_column("projects", "is_public") {
        "is_public"
    } else {
        "false"
    };
    Ok(R2Source {
        pre_approvals: pre_approvals(&rows("pre_approved_users", PRE_APPROVALS.into()).await?)?,
        groups: groups(&rows("groups", GROUPS.into()).await?)?,
        group_managers: links(
            "group_managers",
            &rows("group_managers", seats_sql("group_managers")).await?,
        )?,
        group_members: links(
            "group_members",
            &rows("group_members", seats_sql("group_members")).await?,
        )?,
        projects: projects(
            &rows(
                "projects",
                format!(
                    "SELECT id::bigint AS id, name, description, type::text AS kind, \
                     project_state, {is_public} AS is_public, created_at, updated_at, \
                     user_id::bigint AS user_id FROM projects ORDER BY id"
                ),
            )
            .await?,
        )?,
        project_user_shares: links(
            "project_user_shares",
            &rows(
                "project_user_shares",
                shares_sql("project_user_shares", "user_id"),
            )
            .await?,
        )?,
        project_group_shares: links(
            "project_group_shares",
            &rows(
                "project_group_shares",
                shares_sql("project_group_shares", "group_id"),
            )
            .await?,
        )?,
        regions: regions(
            &rows(
                "regions",
                "SELECT id::bigint AS id, name, display_name, description, created_at, \
                 updated_at FROM regions ORDER BY id"
                    .into(),
            )
            .await?,
        )?,
        criteria: criteria(
            &rows(
                "criteria",
                "SELECT id::bigint AS id, name, display_title, display_subtitle, units, \
                 min_tooltip, max_tooltip, payload_prefix, created_at, updated_at FROM criteria \
                 ORDER BY id"
                    .into(),
            )
            .await?,
        )?,
        regional_criteria: regional_criteria(
            &rows(
                "regional_criteria",
                "SELECT id::bigint AS id, region_id::bigint AS region_id, criteria_id::bigint \
                 AS criteria_id, min_val, max_val, default_min_val, default_max_val, created_at, \
                 updated_at FROM regional_criteria ORDER BY id"
                    .into(),
            )
            .await?,
        )?,
    })
}

/// A group-seat table (`group_id`, `user_id`, `created_at`; no `updated_at`).
fn seats_sql(table: &str) -> String {
    format!(
        "SELECT id::bigint AS id, group_id::bigint AS parent_id, user_id::bigint AS holder_id, \
         created_at, created_at AS updated_at FROM {table} ORDER BY id"
    )
}

/// A project-share table (`project_id`, `holder`, timestamps).
fn shares_sql(table: &str, holder: &str) -> String {
    format!(
        "SELECT id::bigint AS id, project_id::bigint AS parent_id, {holder}::bigint AS \
         holder_id, created_at, updated_at FROM {table} ORDER BY id"
    )
}

fn pre_approvals(rows: &[QueryResult]) -> Result<Vec<SourcePreApproval>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "pre_approved_users")?;
            Ok(SourcePreApproval {
                id: row.id(),
                email: row.get("email")?,
                roles: row.names("roles")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
                created_by_user_id: row.get("created_by_user_id")?,
                used: row.get("used")?,
                used_at: row.maybe_time("used_at")?,
            })
        })
        .collect()
}

fn groups(rows: &[QueryResult]) -> Result<Vec<SourceGroup>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "groups")?;
            Ok(SourceGroup {
                id: row.id(),
                name: row.get("name")?,
                description: row.get("description")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
                owner_id: row.get("owner_id")?,
            })
        })
        .collect()
}

fn projects(rows: &[QueryResult]) -> Result<Vec<SourceProject>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "projects")?;
            Ok(SourceProject {
                id: row.id(),
                name: row.get("name")?,
                description: row.get("description")?,
                kind: row.get("kind")?,
                project_state: row.get::<Value>("project_state")?,
                is_public: row.get("is_public")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
                user_id: row.get("user_id")?,
            })
        })
        .collect()
}

fn links(table: &'static str, rows: &[QueryResult]) -> Result<Vec<Link>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, table)?;
            Ok(Link {
                id: row.id(),
                parent_id: row.get("parent_id")?,
                holder_id: row.get("holder_id")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
            })
        })
        .collect()
}

fn regions(rows: &[QueryResult]) -> Result<Vec<SourceRegion>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "regions")?;
            Ok(SourceRegion {
                id: row.id(),
                name: row.get("name")?,
                display_name: row.get("display_name")?,
                description: row.get("description")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
            })
        })
        .collect()
}

fn criteria(rows: &[QueryResult]) -> Result<Vec<SourceCriterion>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "criteria")?;
            Ok(SourceCriterion {
                id: row.id(),
                name: row.get("name")?,
                display_title: row.get("display_title")?,
                display_subtitle: row.get("display_subtitle")?,
                units: row.get("units")?,
                min_tooltip: row.get("min_tooltip")?,
                max_tooltip: row.get("max_tooltip")?,
                payload_prefix: row.get("payload_prefix")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
            })
        })
        .collect()
}

fn regional_criteria(rows: &[QueryResult]) -> Result<Vec<SourceRegionalCriterion>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "regional_criteria")?;
            Ok(SourceRegionalCriterion {
                id: row.id(),
                region_id: row.get("region_id")?,
                criteria_id: row.get("criteria_id")?,
                min_val: row.get("min_val")?,
                max_val: row.get("max_val")?,
                default_min_val: row.get("default_min_val")?,
                default_max_val: row.get("default_max_val")?,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
            })
        })
        .collect()
}
