//! [`DataSpecificationRepository`] for [`SeaOrmStore`].
//!
//! A replacement is one write transaction: the regions and criteria the specification does not
//! name are deleted (their ranges go by cascade), every range left is deleted, the criteria and
//! regions are upserted by name (keeping ids and creation times), and the ranges are inserted
//! anew. Replacements are serialised: on SQLite by its single writer (the store's `IMMEDIATE`
//! write transactions), on Postgres by a lock on `regions` taken first, in a mode that conflicts
//! with itself but not with readers, so that two replacements never interleave and reads go on.
//!
//! Each read is one statement (a consistent snapshot on both backends), sorted afterwards in code
//! point order, since Postgres would otherwise sort by its database's collation.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::data_specification::{
    Criterion, CriterionName, CriterionRange, CriterionRanges, DataSpecification, RegionName,
    RegionSummary,
};
use reefguide_ports::DataSpecificationRepository;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DbBackend, EntityTrait as _, FromQueryResult,
    QueryFilter as _, QuerySelect as _, Statement,
};

use super::stored_time;
use crate::SeaOrmStore;
use crate::entities::{criteria, regional_criteria, regions};
use crate::errors::DbContext as _;

/// Rows per multi-row `INSERT` (at most 9 values each: well under both backends' limits on bound
/// parameters).
const INSERT_BATCH: usize = 500;

/// Taken first by a replacement on Postgres: `SHARE ROW EXCLUSIVE` conflicts with itself (and
/// with writes to `regions`), not with the `ACCESS SHARE` of readers.
const SERIALISE_REPLACEMENTS: &str = "LOCK TABLE regions IN SHARE ROW EXCLUSIVE MODE";

/// One region with its number of ranges, as read.
#[derive(Debug, FromQueryResult)]
struct SummaryRow {
    name: String,
    display_name: String,
    description: Option<String>,
    criteria_count: i64,
}

/// One range of a region with its criterion, as read: every column is NULL for a region without
/// criteria (the row only says that the region exists).
#[derive(Debug, FromQueryResult)]
struct RangeRow {
    name: Option<String>,
    display_title: Option<String>,
    display_subtitle: Option<String>,
    units: Option<String>,
    min_tooltip: Option<String>,
    max_tooltip: Option<String>,
    payload_prefix: Option<String>,
    min_val: Option<f64>,
    max_val: Option<f64>,
    default_min_val: Option<f64>,
    default_max_val: Option<f64>,
}

impl RangeRow {
    /// The criterion and its range, or `None` for the row of a region without criteria.
    fn into_ranges(self) -> anyhow::Result<Option<CriterionRanges>> {
        let Some(name) = self.name else {
            return Ok(None);
        };
        let missing = || format!("the stored range of criterion {name:?} is incomplete");
        let criterion = Criterion {
            display_title: self.display_title.with_context(missing)?,
            display_subtitle: self.display_subtitle,
            units: self.units,
            min_tooltip: self.min_tooltip,
            max_tooltip: self.max_tooltip,
            payload_prefix: self.payload_prefix.with_context(missing)?,
            name: CriterionName::from_stored(name.clone()),
        };
        let range = CriterionRange {
            min: self.min_val.with_context(missing)?,
            max: self.max_val.with_context(missing)?,
            default_min: self.default_min_val.with_context(missing)?,
            default_max: self.default_max_val.with_context(missing)?,
        };
        Ok(Some(CriterionRanges { criterion, range }))
    }
}

/// A stored criterion row for `criterion` at `now` (the id and, on update, the creation time
/// are left to the database).
fn criterion_row(criterion: &Criterion, now: DateTime<Utc>) -> criteria::ActiveModel {
    criteria::ActiveModel {
        id: NotSet,
        name: Set(criterion.name.as_str().to_owned()),
        display_title: Set(criterion.display_title.clone()),
        display_subtitle: Set(criterion.display_subtitle.clone()),
        units: Set(criterion.units.clone()),
        min_tooltip: Set(criterion.min_tooltip.clone()),
        max_tooltip: Set(criterion.max_tooltip.clone()),
        payload_prefix: Set(criterion.payload_prefix.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// The first bound parameter in `backend`'s syntax.
fn first_parameter(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "$1",
        _ => "?",
    }
}

#[async_trait]
impl DataSpecificationRepository for SeaOrmStore {
    async fn replace_data_specification(
        &self,
        spec: &DataSpecification,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let what = "cannot replace the data specification";
        let now = stored_time(now);
        let txn = self.begin_write().await.db_context(what)?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(SERIALISE_REPLACEMENTS)
                .await
                .db_context(what)?;
        }
        regions::Entity::delete_many()
            .filter(regions::Column::Name.is_not_in(spec.regions().iter().map(|r| r.name.as_str())))
            .exec(&*txn)
            .await
            .db_context(what)?;
        criteria::Entity::delete_many()
            .filter(
                criteria::Column::Name.is_not_in(spec.criteria().iter().map(|c| c.name.as_str())),
            )
            .exec(&*txn)
            .await
            .db_context(what)?;
        regional_criteria::Entity::delete_many()
            .exec(&*txn)
            .await
            .db_context(what)?;

        for batch in spec.criteria().chunks(INSERT_BATCH) {
            criteria::Entity::insert_many(batch.iter().map(|c| criterion_row(c, now)))
                .on_conflict(
                    OnConflict::column(criteria::Column::Name)
                        .update_columns([
                            criteria::Column::DisplayTitle,
                            criteria::Column::DisplaySubtitle,
                            criteria::Column::Units,
                            criteria::Column::MinTooltip,
                            criteria::Column::MaxTooltip,
                            criteria::Column::PayloadPrefix,
                            criteria::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&*txn)
                .await
                .db_context(what)?;
        }
        for batch in spec.regions().chunks(INSERT_BATCH) {
            regions::Entity::insert_many(batch.iter().map(|region| regions::ActiveModel {
                id: NotSet,
                name: Set(region.name.as_str().to_owned()),
                display_name: Set(region.display_name.clone()),
                description: Set(region.description.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            }))
            .on_conflict(
                OnConflict::column(regions::Column::Name)
                    .update_columns([
                        regions::Column::DisplayName,
                        regions::Column::Description,
                        regions::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await
            .db_context(what)?;
        }

        let region_ids: HashMap<String, i32> = regions::Entity::find()
            .select_only()
            .column(regions::Column::Name)
            .column(regions::Column::Id)
            .into_tuple::<(String, i32)>()
            .all(&*txn)
            .await
            .db_context(what)?
            .into_iter()
            .collect();
        let criterion_ids: HashMap<String, i32> = criteria::Entity::find()
            .select_only()
            .column(criteria::Column::Name)
            .column(criteria::Column::Id)
            .into_tuple::<(String, i32)>()
            .all(&*txn)
            .await
            .db_context(what)?
            .into_iter()
            .collect();
        let mut ranges = Vec::new();
        for region in spec.regions() {
            let region_id = *region_ids
                .get(region.name.as_str())
                .with_context(|| format!("{what}: region {} was not stored", region.name))?;
            for regional in &region.criteria {
                let criteria_id = *criterion_ids
                    .get(regional.criterion.as_str())
                    .with_context(|| {
                        format!("{what}: criterion {} was not stored", regional.criterion)
                    })?;
                ranges.push(regional_criteria::ActiveModel {
                    id: NotSet,
                    region_id: Set(region_id),
                    criteria_id: Set(criteria_id),
                    min_val: Set(regional.range.min),
                    max_val: Set(regional.range.max),
                    default_min_val: Set(regional.range.default_min),
                    default_max_val: Set(regional.range.default_max),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
        }
        for batch in ranges.chunks(INSERT_BATCH) {
            regional_criteria::Entity::insert_many(batch.iter().cloned())
                .exec_without_returning(&*txn)
                .await
                .db_context(what)?;
        }
        txn.commit().await.db_context(what)
    }

    async fn list_regions(&self) -> anyhow::Result<Vec<RegionSummary>> {
        let statement = Statement::from_string(
            self.db.get_database_backend(),
            "SELECT r.name, r.display_name, r.description, COUNT(rc.id) AS criteria_count \
             FROM regions r LEFT JOIN regional_criteria rc ON rc.region_id = r.id \
             GROUP BY r.id, r.name, r.display_name, r.description",
        );
        let mut regions: Vec<RegionSummary> = SummaryRow::find_by_statement(statement)
            .all(&self.db)
            .await
            .db_context("cannot list regions")?
            .into_iter()
            .map(|row| RegionSummary {
                name: RegionName::from_stored(row.name),
                display_name: row.display_name,
                description: row.description,
                criteria_count: u64::try_from(row.criteria_count).unwrap_or_default(),
            })
            .collect();
        regions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(regions)
    }

    async fn region_criteria(
        &self,
        name: &RegionName,
    ) -> anyhow::Result<Option<Vec<CriterionRanges>>> {
        let what = || format!("cannot read the criteria of region {name}");
        let backend = self.db.get_database_backend();
        let statement = Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT c.name, c.display_title, c.display_subtitle, c.units, c.min_tooltip, \
                 c.max_tooltip, c.payload_prefix, rc.min_val, rc.max_val, rc.default_min_val, \
                 rc.default_max_val \
                 FROM regions r \
                 LEFT JOIN regional_criteria rc ON rc.region_id = r.id \
                 LEFT JOIN criteria c ON c.id = rc.criteria_id \
                 WHERE r.name = {}",
                first_parameter(backend)
            ),
            [name.as_str().into()],
        );
        let rows = RangeRow::find_by_statement(statement)
            .all(&self.db)
            .await
            .with_db_context(what)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut ranges = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(found) = row.into_ranges().with_context(what)? {
                ranges.push(found);
            }
        }
        ranges.sort_by(|a, b| a.criterion.name.cmp(&b.criterion.name));
        Ok(Some(ranges))
    }
}
