//! The data specification use cases (reefguide-r2 §3.2, issue 27): replace it (administrators),
//! read its regions and a region's criteria ranges (every user of the user features, a gate the
//! HTTP layer applies), and ask the workers to recompute it with a `DATA_SPECIFICATION_UPDATE`
//! job (administrators). The rules of a specification are in
//! [`reefguide_domain::data_specification`].

use reefguide_domain::access::{may_manage_data_specification, may_replace_data_specification};
use reefguide_domain::data_specification::{
    CriteriaRangesError, CriterionRanges, DataSpecification, RegionName, RegionSummary,
    ReplaceSpecificationError, RequestUpdateError, SpecificationCounts, UPDATE_JOB_TYPE,
};
use reefguide_domain::job::JobId;
use reefguide_domain::{Email, User, UserId};
use serde_json::json;

use crate::clock::Clock;
use crate::repositories::{DataSpecificationRepository, JobRepository, UserRepository};
use crate::services::JobService;

/// A `DATA_SPECIFICATION_UPDATE` job asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateRequested {
    /// The job.
    pub job_id: JobId,
    /// Whether an identical request of the same millisecond was reused (the payload's
    /// `cache_buster` makes every other request a new job).
    pub cached: bool,
    /// The account that owns the job.
    pub owner: UserId,
}

/// The data specification use cases.
#[derive(Debug, Clone)]
pub struct DataSpecificationService<S, C> {
    store: S,
    clock: C,
    update_owner: Option<Email>,
}

impl<S, C> DataSpecificationService<S, C> {
    /// Wires the service. `update_owner` is the server's ADMIN service account (R2's
    /// `ADMIN_USERNAME`), which owns the update jobs when it exists and is an administrator.
    pub fn new(store: S, clock: C, update_owner: Option<Email>) -> Self {
        Self {
            store,
            clock,
            update_owner,
        }
    }
}

impl<S: DataSpecificationRepository, C: Clock> DataSpecificationService<S, C> {
    /// Makes `spec` the stored specification (administrators and workers), deleting the
    /// regions and criteria it does not name, in one transaction. What it now holds, as R2
    /// counts it.
    pub async fn replace(
        &self,
        actor: &User,
        spec: &DataSpecification,
    ) -> Result<SpecificationCounts, ReplaceSpecificationError> {
        if !may_replace_data_specification(actor) {
            return Err(ReplaceSpecificationError::Forbidden);
        }
        self.store
            .replace_data_specification(spec, self.clock.now())
            .await?;
        Ok(spec.counts())
    }

    /// Every region with its number of criteria, by name.
    pub async fn regions(&self) -> anyhow::Result<Vec<RegionSummary>> {
        self.store.list_regions().await
    }

    /// The criteria of the region named `region`, with their ranges there, by criterion name.
    /// A name no region can have (see [`RegionName::parse`]) is a region not found, without
    /// asking the store.
    pub async fn criteria_ranges(
        &self,
        region: &str,
    ) -> Result<Vec<CriterionRanges>, CriteriaRangesError> {
        let name = RegionName::parse(region).map_err(|_| CriteriaRangesError::RegionNotFound)?;
        self.store
            .region_criteria(&name)
            .await?
            .ok_or(CriteriaRangesError::RegionNotFound)
    }
}

impl<S: UserRepository, C: Clock> DataSpecificationService<S, C> {
    /// Asks the workers to recompute the specification (administrators only): submits a
    /// `DATA_SPECIFICATION_UPDATE` job through `jobs` with the payload
    /// `{"cache_buster": <milliseconds since the epoch>}`, which makes each request a new job
    /// although the type caches (R2's payload).
    ///
    /// The job is owned by the ADMIN service account, as in R2, when it is configured, exists
    /// and still is an administrator; otherwise by the administrator asking (R2 fails with a
    /// 500 then; any administrator may ask, so owning the job is no privilege).
    pub async fn request_update<J: JobRepository, JC: Clock>(
        &self,
        actor: &User,
        jobs: &JobService<J, JC>,
    ) -> Result<UpdateRequested, RequestUpdateError> {
        if !may_manage_data_specification(actor) {
            return Err(RequestUpdateError::Forbidden);
        }
        let owner = self.update_owner(actor).await?;
        let payload = json!({"cache_buster": self.clock.now().timestamp_millis()});
        let submission = jobs.submit(&owner, UPDATE_JOB_TYPE, payload, None).await?;
        Ok(UpdateRequested {
            job_id: submission.job_id,
            cached: submission.cached,
            owner: owner.id,
        })
    }

    /// The owner of an update job asked for by `actor` (see [`Self::request_update`]).
    async fn update_owner(&self, actor: &User) -> anyhow::Result<User> {
        let Some(email) = &self.update_owner else {
            return Ok(actor.clone());
        };
        match self.store.find_credentials_by_email(email).await? {
            Some(found) if found.user.roles.is_admin() => Ok(found.user),
            found => {
                tracing::warn!(
                    account = email.as_str(),
                    exists = found.is_some(),
                    "the ADMIN service account cannot own the data specification update job \
                     (missing, or no longer an administrator): the requesting administrator \
                     owns it"
                );
                Ok(actor.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests;
