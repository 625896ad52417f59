//! ReefGuide's data specification (reefguide-r2 §3.2, issue 27): the regions a user can assess,
//! the criteria (depth, slope, …) each region has data for, and each criterion's range in each
//! region, which the front end reads to build its sliders
//! (`GET /api/admin/regions`, `GET /api/admin/criteria/{region}/ranges`).
//!
//! The specification is written whole: a worker's `DATA_SPECIFICATION_UPDATE` job computes it
//! from the data sets and an administrator posts it (`POST /api/admin/data-specification`), and
//! it **replaces** what is stored: regions and criteria missing from it are deleted, the others
//! are created or updated. A criterion is one definition shared by every region that has it
//! (stored once, by name); what differs between regions is only its range.
//!
//! [`DataSpecification::parse`] checks a posted specification and reports every problem it finds
//! (at most [`MAX_VIOLATIONS`]) by where it is in the request (`regions[1].criteria[0].min_val`).
//! ReefGuide R2 checks only the JSON types, so an invalid specification there is stored or fails
//! with a 500. The rules here are the ones that cannot refuse what R2's worker sends (its
//! names are identifiers such as `Townsville-Whitsunday` and `Depth`, its ranges are the minimum
//! and maximum of the data and its defaults come from each criterion's metadata):
//!
//! - **Names** (of regions, of criteria, and the `payload_prefix` of a criterion) are identifiers:
//!   1 to [`NAME_MAX_LEN`] characters, no leading or trailing whitespace (a name is matched
//!   exactly: a job names its region by it), no control characters; a region name has no `/`
//!   either, since it is a segment of `/api/admin/criteria/{region}/ranges`.
//! - **Labels** (`display_name`, `display_title`, and the optional `display_subtitle` and
//!   `units`) are one line of at most [`LABEL_MAX_LEN`] characters; the required ones must not be
//!   blank. **Texts** (`description`, `min_tooltip`, `max_tooltip`) may span lines, at most
//!   [`TEXT_MAX_LEN`] characters. An optional label or text that is blank is stored as absent
//!   (R2 stores an empty one as `null` too).
//! - **Ranges**: every number is finite, `min_val ≤ max_val` and
//!   `default_min_val ≤ default_max_val`. The default range is **not** required to lie inside
//!   `[min_val, max_val]`: R2's worker takes the defaults from a criterion's metadata, the same
//!   for every region, while the range comes from each region's data, so a region whose data
//!   spans less than the default range is real and must be accepted.
//! - **Uniqueness**: a region appears once; a criterion appears at most once in a region.
//! - **One definition per criterion**: a criterion in several regions must have the same
//!   criterion-level fields (`display_title`, `display_subtitle`, `units`, `min_tooltip`,
//!   `max_tooltip`, `payload_prefix`) everywhere, since it is stored once. R2 silently keeps the
//!   last region's; here a difference is refused, naming the field and where the criterion was
//!   first defined, as an administrator would want to know which of the two is meant.
//! - **Sizes**: at most [`MAX_REGIONS`] regions, [`MAX_CRITERIA_PER_REGION`] criteria in a
//!   region and [`MAX_DISTINCT_CRITERIA`] distinct criteria (R2's own data has four regions of
//!   eight criteria).

use std::collections::HashMap;
use std::fmt;

pub mod errors;
#[cfg(test)]
mod tests;

pub use errors::{
    CriteriaRangesError, InvalidSpecification, ReplaceSpecificationError, RequestUpdateError,
    SpecProblem, Violation,
};

/// Longest name (of a region or a criterion, or a payload prefix), in characters.
pub const NAME_MAX_LEN: usize = 128;
/// Longest label (display name, title, subtitle, units), in characters.
pub const LABEL_MAX_LEN: usize = 256;
/// Longest text (description, tooltip), in characters.
pub const TEXT_MAX_LEN: usize = 4_000;
/// Most regions in a specification.
pub const MAX_REGIONS: usize = 100;
/// Most criteria in one region.
pub const MAX_CRITERIA_PER_REGION: usize = 100;
/// Most distinct criteria in a specification.
pub const MAX_DISTINCT_CRITERIA: usize = 1_000;
/// Most problems one refusal reports.
pub const MAX_VIOLATIONS: usize = 20;

/// The job type whose job recomputes the specification from the data.
pub const UPDATE_JOB_TYPE: &str = "DATA_SPECIFICATION_UPDATE";

/// The name of a region (an identifier, see the module documentation), e.g.
/// `Townsville-Whitsunday`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionName(String);

impl RegionName {
    /// Checks the naming rules.
    ///
    /// # Errors
    /// The first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, SpecProblem> {
        check_name(raw)?;
        if raw.contains('/') {
            return Err(SpecProblem::Slash);
        }
        Ok(Self(raw.to_owned()))
    }

    /// A name as stored (it was checked on the way in).
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a criterion (an identifier, see the module documentation), e.g. `Depth`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CriterionName(String);

impl CriterionName {
    /// Checks the naming rules.
    ///
    /// # Errors
    /// The first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, SpecProblem> {
        check_name(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// A name as stored (it was checked on the way in).
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CriterionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A region as posted, unchecked.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInput {
    /// Its name.
    pub name: String,
    /// Its name for people.
    pub display_name: String,
    /// A description, if any.
    pub description: Option<String>,
    /// Its criteria with their ranges.
    pub criteria: Vec<CriterionInput>,
}

/// A criterion of a region as posted, unchecked: the criterion's definition and its range in
/// the region.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionInput {
    /// Its name.
    pub name: String,
    /// Its title for people.
    pub display_title: String,
    /// A subtitle, if any.
    pub display_subtitle: Option<String>,
    /// Its units, if any.
    pub units: Option<String>,
    /// The tooltip of its lower bound, if any.
    pub min_tooltip: Option<String>,
    /// The tooltip of its upper bound, if any.
    pub max_tooltip: Option<String>,
    /// The prefix of its properties in job payloads (`depth_` for `depth_min`, `depth_max`).
    pub payload_prefix: String,
    /// Lowest value in the region.
    pub min_val: f64,
    /// Highest value in the region.
    pub max_val: f64,
    /// Default lower bound.
    pub default_min_val: f64,
    /// Default upper bound.
    pub default_max_val: f64,
}

/// A criterion's definition, shared by every region that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    /// Its name.
    pub name: CriterionName,
    /// Its title for people.
    pub display_title: String,
    /// A subtitle, if any.
    pub display_subtitle: Option<String>,
    /// Its units, if any.
    pub units: Option<String>,
    /// The tooltip of its lower bound, if any.
    pub min_tooltip: Option<String>,
    /// The tooltip of its upper bound, if any.
    pub max_tooltip: Option<String>,
    /// The prefix of its properties in job payloads.
    pub payload_prefix: String,
}

impl Criterion {
    /// The first criterion-level field in which `other` differs from `self`, by its request name.
    fn differing_field(&self, other: &Self) -> Option<&'static str> {
        [
            ("display_title", self.display_title == other.display_title),
            (
                "display_subtitle",
                self.display_subtitle == other.display_subtitle,
            ),
            ("units", self.units == other.units),
            ("min_tooltip", self.min_tooltip == other.min_tooltip),
            ("max_tooltip", self.max_tooltip == other.max_tooltip),
            (
                "payload_prefix",
                self.payload_prefix == other.payload_prefix,
            ),
        ]
        .into_iter()
        .find_map(|(field, same)| (!same).then_some(field))
    }
}

/// A criterion's range in one region: the values its data spans and the bounds a user starts
/// with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CriterionRange {
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
    /// Default lower bound.
    pub default_min: f64,
    /// Default upper bound.
    pub default_max: f64,
}

/// One criterion of a region, by name, with its range there.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionalCriterion {
    /// The criterion.
    pub criterion: CriterionName,
    /// Its range in the region.
    pub range: CriterionRange,
}

/// A region of a checked specification.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Its name.
    pub name: RegionName,
    /// Its name for people.
    pub display_name: String,
    /// A description, if any.
    pub description: Option<String>,
    /// Its criteria with their ranges, as posted.
    pub criteria: Vec<RegionalCriterion>,
}

/// A checked data specification: only [`DataSpecification::parse`] makes one, so a value of this
/// type keeps every rule of the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpecification {
    regions: Vec<Region>,
    criteria: Vec<Criterion>,
}

/// How much a specification holds (R2's `updated` counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecificationCounts {
    /// Distinct criteria.
    pub criteria: usize,
    /// Regions.
    pub regions: usize,
    /// Criteria of regions, summed over the regions.
    pub regional_criteria: usize,
}

/// A region as listed: `GET /api/admin/regions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSummary {
    /// Its name.
    pub name: RegionName,
    /// Its name for people.
    pub display_name: String,
    /// A description, if any.
    pub description: Option<String>,
    /// How many criteria it has.
    pub criteria_count: u64,
}

/// A criterion of a region with its definition and range there:
/// `GET /api/admin/criteria/{region}/ranges`.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionRanges {
    /// The criterion's definition.
    pub criterion: Criterion,
    /// Its range in the region.
    pub range: CriterionRange,
}

impl DataSpecification {
    /// Checks a posted specification against every rule of the module documentation.
    ///
    /// # Errors
    /// [`InvalidSpecification`] with every problem found (at most [`MAX_VIOLATIONS`]), each
    /// with its place in the request. Over [`MAX_REGIONS`] regions nothing else is looked at.
    pub fn parse(regions: Vec<RegionInput>) -> Result<Self, InvalidSpecification> {
        let mut report = Report::default();
        if regions.len() > MAX_REGIONS {
            report.push(
                "regions".to_owned(),
                SpecProblem::TooManyRegions { max: MAX_REGIONS },
            );
            return Err(report.into_error());
        }
        let mut builder = Builder::default();
        for (index, region) in regions.into_iter().enumerate() {
            builder.add_region(index, region, &mut report);
        }
        if builder.criteria.len() > MAX_DISTINCT_CRITERIA {
            report.push(
                "regions".to_owned(),
                SpecProblem::TooManyDistinctCriteria {
                    max: MAX_DISTINCT_CRITERIA,
                },
            );
        }
        if report.is_empty() {
            Ok(Self {
                regions: builder.regions,
                criteria: builder.criteria,
            })
        } else {
            Err(report.into_error())
        }
    }

    /// The regions, as posted.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The distinct criteria, in the order they first appear.
    pub fn criteria(&self) -> &[Criterion] {
        &self.criteria
    }

    /// How much it holds.
    pub fn counts(&self) -> SpecificationCounts {
        SpecificationCounts {
            criteria: self.criteria.len(),
            regions: self.regions.len(),
            regional_criteria: self.regions.iter().map(|r| r.criteria.len()).sum(),
        }
    }
}

/// The problems found so far, at most [`MAX_VIOLATIONS`] kept.
#[derive(Default)]
struct Report {
    violations: Vec<Violation>,
    found: usize,
}

impl Report {
    fn push(&mut self, path: String, problem: SpecProblem) {
        self.found += 1;
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(Violation { path, problem });
        }
    }

    /// The value, or `None` with its problem recorded under `path`.
    fn check<T>(
        &mut self,
        path: impl FnOnce() -> String,
        result: Result<T, SpecProblem>,
    ) -> Option<T> {
        result.map_err(|problem| self.push(path(), problem)).ok()
    }

    fn is_empty(&self) -> bool {
        self.found == 0
    }

    fn into_error(self) -> InvalidSpecification {
        InvalidSpecification {
            violations: self.violations,
            found: self.found,
        }
    }
}

/// A specification being checked: what passed so far, and what names were seen where.
#[derive(Default)]
struct Builder {
    regions: Vec<Region>,
    criteria: Vec<Criterion>,
    /// Each region name and the path of the region that first had it.
    region_paths: HashMap<String, String>,
    /// Each criterion name, its index in `criteria` and the path where it was first defined.
    criterion_defs: HashMap<String, (usize, String)>,
}

impl Builder {
    fn add_region(&mut self, index: usize, input: RegionInput, report: &mut Report) {
        let at = format!("regions[{index}]");
        let name = report.check(|| format!("{at}.name"), RegionName::parse(&input.name));
        if let Some(name) = &name {
            match self.region_paths.get(name.as_str()) {
                Some(first) => report.push(
                    format!("{at}.name"),
                    SpecProblem::DuplicateRegion {
                        name: name.to_string(),
                        first: first.clone(),
                    },
                ),
                None => {
                    self.region_paths.insert(name.to_string(), at.clone());
                }
            }
        }
        let display_name = report.check(
            || format!("{at}.display_name"),
            required_label(&input.display_name),
        );
        let description = report.check(
            || format!("{at}.description"),
            optional_text(input.description, TEXT_MAX_LEN, true),
        );
        if input.criteria.len() > MAX_CRITERIA_PER_REGION {
            report.push(
                format!("{at}.criteria"),
                SpecProblem::TooManyCriteria {
                    max: MAX_CRITERIA_PER_REGION,
                },
            );
            return;
        }
        let mut in_region: HashMap<String, String> = HashMap::new();
        let mut criteria = Vec::with_capacity(input.criteria.len());
        for (c, criterion) in input.criteria.into_iter().enumerate() {
            let at = format!("{at}.criteria[{c}]");
            let definition = parse_criterion(&criterion, &at, report);
            let range = parse_range(&criterion, &at, report);
            let Some(definition) = definition else {
                continue;
            };
            let key = definition.name.as_str().to_owned();
            if let Some(first) = in_region.get(&key) {
                report.push(
                    format!("{at}.name"),
                    SpecProblem::DuplicateCriterion {
                        name: key,
                        first: first.clone(),
                    },
                );
                continue;
            }
            in_region.insert(key.clone(), at.clone());
            self.define(definition.clone(), &at, report);
            if let Some(range) = range {
                criteria.push(RegionalCriterion {
                    criterion: definition.name,
                    range,
                });
            }
        }
        if let (Some(name), Some(display_name), Some(description)) =
            (name, display_name, description)
        {
            self.regions.push(Region {
                name,
                display_name,
                description,
                criteria,
            });
        }
    }

    /// Records a criterion's definition the first time it is seen, or checks it against that
    /// first definition.
    fn define(&mut self, definition: Criterion, at: &str, report: &mut Report) {
        let key = definition.name.as_str().to_owned();
        match self.criterion_defs.get(&key) {
            Some((index, first)) => {
                if let Some(field) = self
                    .criteria
                    .get(*index)
                    .and_then(|known| known.differing_field(&definition))
                {
                    report.push(
                        format!("{at}.{field}"),
                        SpecProblem::CriterionDiffers {
                            name: key,
                            field,
                            first: first.clone(),
                        },
                    );
                }
            }
            None => {
                self.criterion_defs
                    .insert(key, (self.criteria.len(), at.to_owned()));
                self.criteria.push(definition);
            }
        }
    }
}

/// The criterion-level fields of a posted criterion, checked.
fn parse_criterion(input: &CriterionInput, at: &str, report: &mut Report) -> Option<Criterion> {
    let name = report.check(|| format!("{at}.name"), CriterionName::parse(&input.name));
    let display_title = report.check(
        || format!("{at}.display_title"),
        required_label(&input.display_title),
    );
    let display_subtitle = report.check(
        || format!("{at}.display_subtitle"),
        optional_text(input.display_subtitle.clone(), LABEL_MAX_LEN, false),
    );
    let units = report.check(
        || format!("{at}.units"),
        optional_text(input.units.clone(), LABEL_MAX_LEN, false),
    );
    let min_tooltip = report.check(
        || format!("{at}.min_tooltip"),
        optional_text(input.min_tooltip.clone(), TEXT_MAX_LEN, true),
    );
    let max_tooltip = report.check(
        || format!("{at}.max_tooltip"),
        optional_text(input.max_tooltip.clone(), TEXT_MAX_LEN, true),
    );
    let payload_prefix = report.check(
        || format!("{at}.payload_prefix"),
        check_name(&input.payload_prefix).map(|()| input.payload_prefix.clone()),
    );
    Some(Criterion {
        name: name?,
        display_title: display_title?,
        display_subtitle: display_subtitle?,
        units: units?,
        min_tooltip: min_tooltip?,
        max_tooltip: max_tooltip?,
        payload_prefix: payload_prefix?,
    })
}

/// The range of a posted criterion, checked.
fn parse_range(input: &CriterionInput, at: &str, report: &mut Report) -> Option<CriterionRange> {
    let mut finite = |field: &str, value: f64| {
        report.check(
            || format!("{at}.{field}"),
            if value.is_finite() {
                Ok(value)
            } else {
                Err(SpecProblem::NotFinite)
            },
        )
    };
    let min = finite("min_val", input.min_val);
    let max = finite("max_val", input.max_val);
    let default_min = finite("default_min_val", input.default_min_val);
    let default_max = finite("default_max_val", input.default_max_val);
    let (min, max, default_min, default_max) = (min?, max?, default_min?, default_max?);
    let mut ordered = true;
    if min > max {
        ordered = false;
        report.push(
            format!("{at}.min_val"),
            SpecProblem::RangeReversed { min, max },
        );
    }
    if default_min > default_max {
        ordered = false;
        report.push(
            format!("{at}.default_min_val"),
            SpecProblem::DefaultRangeReversed {
                min: default_min,
                max: default_max,
            },
        );
    }
    ordered.then_some(CriterionRange {
        min,
        max,
        default_min,
        default_max,
    })
}

/// The rules of a name: 1 to [`NAME_MAX_LEN`] characters, not padded, no control character.
fn check_name(raw: &str) -> Result<(), SpecProblem> {
    if raw.is_empty() {
        return Err(SpecProblem::Empty);
    }
    if raw.chars().count() > NAME_MAX_LEN {
        return Err(SpecProblem::TooLong { max: NAME_MAX_LEN });
    }
    if raw.trim() != raw {
        return Err(SpecProblem::Padded);
    }
    if raw.chars().any(char::is_control) {
        return Err(SpecProblem::ControlCharacter);
    }
    Ok(())
}

/// A required one-line label, kept as given: not blank, at most [`LABEL_MAX_LEN`] characters.
fn required_label(raw: &str) -> Result<String, SpecProblem> {
    match optional_text(Some(raw.to_owned()), LABEL_MAX_LEN, false)? {
        Some(label) => Ok(label),
        None => Err(SpecProblem::Empty),
    }
}

/// An optional label or text: absent when missing or blank, else kept as given if it has at
/// most `max` characters and no control character (line breaks and tabs allowed when
/// `multiline`).
fn optional_text(
    raw: Option<String>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, SpecProblem> {
    let Some(text) = raw else {
        return Ok(None);
    };
    // Before the blank check, so that the limit holds for every text as the API documents it.
    if text.chars().count() > max {
        return Err(SpecProblem::TooLong { max });
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(SpecProblem::ControlCharacter);
    }
    Ok(Some(text))
}
