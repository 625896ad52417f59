//! Reading jobs with their assignments and results: one job, or a page of them. A page costs
//! three queries whatever its size (jobs, their assignments, their results), plus the count.

use std::collections::HashMap;

use reefguide_domain::job::{JobDetails, JobResult};
use reefguide_ports::repositories::{JobPage, JobQuery, JobScope};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::rows::{to_assignment, to_job, to_result};
use crate::SeaOrmStore;
use crate::entities::{job_assignments, job_requests, job_results, jobs};
use crate::errors::DbContext as _;
use crate::repos::job_id;

/// The jobs a scope covers.
fn scope_condition(scope: JobScope) -> Condition {
    match scope {
        JobScope::All => Condition::all(),
        JobScope::OwnedBy(user) => Condition::all().add(jobs::Column::UserId.eq(user.get())),
        JobScope::VisibleTo(user) => {
            let requested = Query::select()
                .column(job_requests::Column::JobId)
                .from(job_requests::Entity)
                .and_where(job_requests::Column::UserId.eq(user.get()))
                .to_owned();
            Condition::any()
                .add(jobs::Column::UserId.eq(user.get()))
                .add(jobs::Column::Id.in_subquery(requested))
        }
    }
}

/// The jobs a query covers, ignoring its cursor.
fn query_condition(query: &JobQuery) -> Condition {
    let mut condition = Condition::all().add(scope_condition(query.scope));
    if let Some(status) = query.status {
        condition = condition.add(jobs::Column::Status.eq(status.as_str()));
    }
    if let Some(job_type) = &query.job_type {
        condition = condition.add(jobs::Column::JobType.eq(job_type.as_str()));
    }
    condition
}

impl SeaOrmStore {
    /// A page of jobs, newest first.
    pub(super) async fn job_page(&self, query: JobQuery) -> anyhow::Result<JobPage> {
        let matching = jobs::Entity::find().filter(query_condition(&query));
        let total = matching
            .clone()
            .count(&self.db)
            .await
            .db_context("cannot count jobs")?;
        if query.limit == 0 {
            return Ok(JobPage {
                jobs: Vec::new(),
                total,
                next: None,
            });
        }
        let mut page = matching;
        if let Some(before) = query.before {
            page = page.filter(jobs::Column::Id.lt(before.get()));
        }
        let mut rows = page
            .order_by_desc(jobs::Column::Id)
            .offset(query.offset)
            .limit(query.limit.saturating_add(1))
            .all(&self.db)
            .await
            .db_context("cannot list jobs")?;
        // One row beyond the page says whether there is a next page.
        let more = u64::try_from(rows.len()).unwrap_or(u64::MAX) > query.limit;
        rows.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let next = match (more, rows.last()) {
            (true, Some(last)) => Some(job_id(last.id)?),
            _ => None,
        };
        Ok(JobPage {
            jobs: with_details(&self.db, rows).await?,
            total,
            next,
        })
    }
}

/// The jobs with their assignments (oldest first) and results, in two queries, in the order
/// given.
pub(super) async fn with_details(
    db: &impl ConnectionTrait,
    rows: Vec<jobs::Model>,
) -> anyhow::Result<Vec<JobDetails>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i32> = rows.iter().map(|row| row.id).collect();
    let mut results = results_by_assignment(db, &ids).await?;
    let assignments = job_assignments::Entity::find()
        .filter(job_assignments::Column::JobId.is_in(ids))
        .order_by_asc(job_assignments::Column::Id)
        .all(db)
        .await
        .db_context("cannot load job assignments")?;
    let mut by_job: HashMap<i32, Vec<_>> = HashMap::new();
    for row in assignments {
        let result = results.remove(&row.id);
        by_job
            .entry(row.job_id)
            .or_default()
            .push((to_assignment(row)?, result));
    }
    rows.into_iter()
        .map(|row| {
            let assignments = by_job.remove(&row.id).unwrap_or_default();
            Ok(JobDetails {
                job: to_job(row)?,
                assignments,
            })
        })
        .collect()
}

/// The results of these jobs, by assignment id.
async fn results_by_assignment(
    db: &impl ConnectionTrait,
    job_ids: &[i32],
) -> anyhow::Result<HashMap<i32, JobResult>> {
    job_results::Entity::find()
        .filter(job_results::Column::JobId.is_in(job_ids.iter().copied()))
        .all(db)
        .await
        .db_context("cannot load job results")?
        .into_iter()
        .map(|row| Ok((row.assignment_id, to_result(row)?)))
        .collect()
}
