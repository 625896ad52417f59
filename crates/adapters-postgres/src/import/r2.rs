//! ReefGuide R2's own tables in an import (issue 27): pre-approvals, groups and their seats,
//! projects and their shares, the data specification, each table in batches with its ids.

use reefguide_domain::import::{Link, R2Plan};
use reefguide_ports::ImportWriteError;
use sea_orm::{DatabaseTransaction, Set};

use super::{id32, insert_all};
use crate::entities::{
    criteria, group_managers, group_members, groups, pre_approved_users, project_group_shares,
    project_user_shares, projects, regional_criteria, regions,
};
use crate::repos::{pre_approval_roles_json, stored_time};

/// R2's tables written before the polygons (which may belong to a project).
pub(super) async fn write_before_polygons(
    txn: &DatabaseTransaction,
    plan: &R2Plan,
) -> Result<(), ImportWriteError> {
    let pre_approvals = plan
        .pre_approvals
        .iter()
        .map(|row| {
            const TABLE: &str = "pre_approved_users";
            Ok((
                row.id,
                pre_approved_users::ActiveModel {
                    id: Set(id32(TABLE, row.id)?),
                    email: Set(row.email.as_str().to_owned()),
                    roles: Set(pre_approval_roles_json(&row.roles)),
                    created_at: Set(stored_time(row.created_at)),
                    updated_at: Set(stored_time(row.updated_at)),
                    created_by_user_id: Set(row
                        .created_by
                        .map(|user| id32(TABLE, user))
                        .transpose()?),
                    used: Set(row.used),
                    used_at: Set(row.used_at.map(stored_time)),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<pre_approved_users::Entity, _>(txn, "pre_approved_users", pre_approvals).await?;

    let groups = plan
        .groups
        .iter()
        .map(|row| {
            Ok((
                row.id,
                groups::ActiveModel {
                    id: Set(id32("groups", row.id)?),
                    name: Set(row.name.as_str().to_owned()),
                    description: Set(row.description.as_ref().map(|d| d.as_str().to_owned())),
                    created_at: Set(stored_time(row.created_at)),
                    updated_at: Set(stored_time(row.updated_at)),
                    owner_id: Set(id32("groups", row.owner_id)?),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<groups::Entity, _>(txn, "groups", groups).await?;

    let managers = links("group_managers", &plan.group_managers, |link| {
        Ok(group_managers::ActiveModel {
            id: Set(link.id),
            group_id: Set(link.parent),
            user_id: Set(link.holder),
            created_at: Set(link.created_at),
        })
    })?;
    insert_all::<group_managers::Entity, _>(txn, "group_managers", managers).await?;
    let members = links("group_members", &plan.group_members, |link| {
        Ok(group_members::ActiveModel {
            id: Set(link.id),
            group_id: Set(link.parent),
            user_id: Set(link.holder),
            created_at: Set(link.created_at),
        })
    })?;
    insert_all::<group_members::Entity, _>(txn, "group_members", members).await?;

    let projects = plan
        .projects
        .iter()
        .map(|row| {
            Ok((
                row.id,
                projects::ActiveModel {
                    id: Set(id32("projects", row.id)?),
                    name: Set(row.name.as_str().to_owned()),
                    description: Set(row.description.as_ref().map(|d| d.as_str().to_owned())),
                    kind: Set(row.kind.as_str().to_owned()),
                    project_state: Set(row.state.as_json().clone()),
                    is_public: Set(row.is_public),
                    created_at: Set(stored_time(row.created_at)),
                    updated_at: Set(stored_time(row.updated_at)),
                    user_id: Set(id32("projects", row.owner_id)?),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<projects::Entity, _>(txn, "projects", projects).await?;

    let user_shares = links("project_user_shares", &plan.project_user_shares, |link| {
        Ok(project_user_shares::ActiveModel {
            id: Set(link.id),
            project_id: Set(link.parent),
            user_id: Set(link.holder),
            created_at: Set(link.created_at),
            updated_at: Set(link.updated_at),
        })
    })?;
    insert_all::<project_user_shares::Entity, _>(txn, "project_user_shares", user_shares).await?;
    let group_shares = links("project_group_shares", &plan.project_group_shares, |link| {
        Ok(project_group_shares::ActiveModel {
            id: Set(link.id),
            project_id: Set(link.parent),
            group_id: Set(link.holder),
            created_at: Set(link.created_at),
            updated_at: Set(link.updated_at),
        })
    })?;
    insert_all::<project_group_shares::Entity, _>(txn, "project_group_shares", group_shares).await
}

/// The data specification, written as it was.
pub(super) async fn write_data_specification(
    txn: &DatabaseTransaction,
    plan: &R2Plan,
) -> Result<(), ImportWriteError> {
    let regions = plan
        .regions
        .iter()
        .map(|row| {
            Ok((
                row.id,
                regions::ActiveModel {
                    id: Set(id32("regions", row.id)?),
                    name: Set(row.name.clone()),
                    display_name: Set(row.display_name.clone()),
                    description: Set(row.description.clone()),
                    created_at: Set(stored_time(row.created_at)),
                    updated_at: Set(stored_time(row.updated_at)),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<regions::Entity, _>(txn, "regions", regions).await?;

    let criteria = plan
        .criteria
        .iter()
        .map(|row| {
            Ok((
                row.id,
                criteria::ActiveModel {
                    id: Set(id32("criteria", row.id)?),
                    name: Set(row.name.clone()),
                    display_title: Set(row.display_title.clone()),
                    display_subtitle: Set(row.display_subtitle.clone()),
                    units: Set(row.units.clone()),
                    min_tooltip: Set(row.min_tooltip.clone()),
                    max_tooltip: Set(row.max_tooltip.clone()),
                    payload_prefix: Set(row.payload_prefix.clone()),
                    created_at: Set(stored_time(row.created_at)),
                    updated_at: Set(stored_time(row.updated_at)),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<criteria::Entity, _>(txn, "criteria", criteria).await?;

    let ranges = plan
        .regional_criteria
        .iter()
        .map(|row| {
            const TABLE: &str = "regional_criteria";
            Ok((
                row.id,
                regional_criteria::ActiveModel {
                    id: Set(id32(TABLE, row.id)?),
                    region_id: Set(id32(TABLE, row.region_id)?),
                    criteria_id: Set(id32(TABLE, row.criteria_id)?),
                    min_val: Set(row.min_val),
                    max_val: Set(row.max_val),
                    default_min_val: Set(row.default_min_val),
                    default_max_val: Set(row.default_max_val),
                    created_at: Set(stored_time(row.created_at)),
                    updated_at: Set(stored_time(row.updated_at)),
                },
            ))
        })
        .collect::<Result<Vec<_>, ImportWriteError>>()?;
    insert_all::<regional_criteria::Entity, _>(txn, "regional_criteria", ranges).await
}

/// A link's columns as stored.
struct StoredLink {
    id: i32,
    parent: i32,
    holder: i32,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// The rows of a link table: each link's columns converted once, then `row` makes the model.
fn links<A>(
    table: &'static str,
    links: &[Link],
    row: impl Fn(StoredLink) -> Result<A, ImportWriteError>,
) -> Result<Vec<(i64, A)>, ImportWriteError> {
    links
        .iter()
        .map(|link| {
            let stored = StoredLink {
                id: id32(table, link.id)?,
                parent: id32(table, link.parent_id)?,
                holder: id32(table, link.holder_id)?,
                created_at: stored_time(link.created_at),
                updated_at: stored_time(link.updated_at),
            };
            Ok((link.id, row(stored)?))
        })
        .collect()
}
