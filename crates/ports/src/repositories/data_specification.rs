//! Storage of ReefGuide's data specification (issue 27): regions, criteria, and each criterion's
//! range in each region (see [`reefguide_domain::data_specification`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::data_specification::{
    CriterionRanges, DataSpecification, RegionName, RegionSummary,
};

/// The stored data specification.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DataSpecificationRepository: Send + Sync + 'static {
    /// Makes `spec` the stored specification, in one transaction: regions and criteria it does
    /// not name are deleted (their ranges with them), the others are created or updated in place
    /// (keeping their ids and creation times; `now` is their update time), and each region's
    /// ranges become exactly the ones `spec` gives it. Concurrent replacements are serialised:
    /// what is stored afterwards is one of them, whole. On any failure nothing changes.
    async fn replace_data_specification(
        &self,
        spec: &DataSpecification,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;

    /// Every region with its number of criteria, sorted by name in code point order (the same
    /// on both backends, whatever the database's collation).
    async fn list_regions(&self) -> anyhow::Result<Vec<RegionSummary>>;

    /// The criteria of region `name`, each with its definition and its range there, sorted by
    /// criterion name in code point order; `None` when there is no such region (a region
    /// without criteria has an empty list).
    async fn region_criteria(
        &self,
        name: &RegionName,
    ) -> anyhow::Result<Option<Vec<CriterionRanges>>>;
}
