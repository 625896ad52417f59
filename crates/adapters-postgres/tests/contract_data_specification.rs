//! The storage contract of ReefGuide's data specification (issue 27), on both backends: what is
//! stored is read back whole and sorted; a replacement deletes what it does not name (ranges by
//! cascade) and updates the rest in place; a failed replacement changes nothing; concurrent
//! replacements leave one of them, whole.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use common::{database, execute};
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::data_specification::{
    CriterionInput, CriterionRange, DataSpecification, RegionInput, RegionName, RegionSummary,
};
use reefguide_ports::DataSpecificationRepository;
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};

/// A fixed instant plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(seconds)
}

fn criterion(name: &str, min: f64, max: f64) -> CriterionInput {
    CriterionInput {
        name: name.to_owned(),
        display_title: format!("{name} range"),
        display_subtitle: None,
        units: Some("m".to_owned()),
        min_tooltip: None,
        max_tooltip: None,
        payload_prefix: format!("{}_", name.to_lowercase()),
        min_val: min,
        max_val: max,
        default_min_val: min,
        default_max_val: max,
    }
}

fn region(name: &str, criteria: Vec<CriterionInput>) -> RegionInput {
    RegionInput {
        name: name.to_owned(),
        display_name: format!("{name} region"),
        description: None,
        criteria,
    }
}

fn spec(regions: Vec<RegionInput>) -> DataSpecification {
    DataSpecification::parse(regions).expect("a valid specification")
}

async fn replace(store: &SeaOrmStore, spec: &DataSpecification, now: DateTime<Utc>) {
    store
        .replace_data_specification(spec, now)
        .await
        .expect("replaced");
}

fn name(raw: &str) -> RegionName {
    RegionName::parse(raw).expect("a region name")
}

/// `(name, criteria_count)` of every region, as listed.
async fn listed(store: &SeaOrmStore) -> Vec<(String, u64)> {
    store
        .list_regions()
        .await
        .expect("listed")
        .into_iter()
        .map(|region| (region.name.as_str().to_owned(), region.criteria_count))
        .collect()
}

/// `(criterion, min, max)` of a region, as read; `None` for no such region.
async fn ranges_of(store: &SeaOrmStore, region: &str) -> Option<Vec<(String, f64, f64)>> {
    store
        .region_criteria(&name(region))
        .await
        .expect("read")
        .map(|ranges| {
            ranges
                .into_iter()
                .map(|r| {
                    (
                        r.criterion.name.as_str().to_owned(),
                        r.range.min,
                        r.range.max,
                    )
                })
                .collect()
        })
}

async fn count(store: &SeaOrmStore, table: &str) -> i64 {
    let backend = store.connection().get_database_backend();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get("", "n").expect("a count")
}

/// The id, creation and update times of the row named `name` in `table`.
async fn row_of(
    store: &SeaOrmStore,
    table: &str,
    name: &str,
) -> (i32, DateTime<Utc>, DateTime<Utc>) {
    let backend = store.connection().get_database_backend();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT id, created_at, updated_at FROM {table} WHERE name = '{name}'"),
        ))
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("{name} in {table}"));
    (
        row.try_get("", "id").expect("id"),
        row.try_get("", "created_at").expect("created_at"),
        row.try_get("", "updated_at").expect("updated_at"),
    )
}

#[rstest]
#[tokio::test]
async fn a_specification_is_read_back_whole_and_sorted_by_code_point(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    assert!(listed(store).await.is_empty());
    assert_eq!(ranges_of(store, "alpha").await, None);

    let mut depth = criterion("Depth", -50.123_456_789, -2.0);
    depth.display_subtitle = Some("Water depth".into());
    depth.min_tooltip = Some("Shallowest\nin metres".into());
    depth.max_tooltip = Some("Deepest".into());
    depth.default_min_val = -60.0;
    depth.default_max_val = -1e-300;
    let stored = spec(vec![
        RegionInput {
            description: Some("First, lower case".into()),
            ..region(
                "alpha",
                vec![
                    criterion("slope", 0.0, 45.0),
                    depth.clone(),
                    criterion("Turbidity", 0.0, 1.0),
                ],
            )
        },
        region("Beta", vec![depth]),
        region("Gamma", Vec::new()),
    ]);
    replace(store, &stored, at(0)).await;

    let regions = store.list_regions().await.expect("listed");
    assert_eq!(
        regions,
        vec![
            RegionSummary {
                name: name("Beta"),
                display_name: "Beta region".into(),
                description: None,
                criteria_count: 1,
            },
            RegionSummary {
                name: name("Gamma"),
                display_name: "Gamma region".into(),
                description: None,
                criteria_count: 0,
            },
            RegionSummary {
                name: name("alpha"),
                display_name: "alpha region".into(),
                description: Some("First, lower case".into()),
                criteria_count: 3,
            },
        ],
        "code point order: upper case first, whatever the database's collation"
    );

    let alpha = store
        .region_criteria(&name("alpha"))
        .await
        .expect("read")
        .expect("alpha exists");
    let names: Vec<&str> = alpha.iter().map(|r| r.criterion.name.as_str()).collect();
    assert_eq!(names, ["Depth", "Turbidity", "slope"]);
    let depth = &alpha[0];
    assert_eq!(depth.criterion, stored.criteria()[1], "every field kept");
    assert_eq!(
        depth.range,
        CriterionRange {
            min: -50.123_456_789,
            max: -2.0,
            default_min: -60.0,
            default_max: -1e-300,
        },
        "doubles kept exactly"
    );
    assert_eq!(
        ranges_of(store, "Gamma").await,
        Some(Vec::new()),
        "a region without criteria exists"
    );
    assert_eq!(ranges_of(store, "gamma").await, None, "names are exact");
    assert_eq!(count(store, "criteria").await, 3, "Depth is stored once");
    assert_eq!(count(store, "regional_criteria").await, 4);
}

#[rstest]
#[tokio::test]
async fn a_replacement_deletes_what_it_does_not_name_and_updates_the_rest_in_place(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    replace(
        store,
        &spec(vec![
            region(
                "A",
                vec![
                    criterion("Depth", -50.0, -2.0),
                    criterion("Slope", 0.0, 45.0),
                ],
            ),
            region(
                "B",
                vec![
                    criterion("Depth", -20.0, 0.0),
                    criterion("Turbidity", 0.0, 1.0),
                ],
            ),
        ]),
        at(0),
    )
    .await;
    let (a_id, a_created, _) = row_of(store, "regions", "A").await;
    let (depth_id, depth_created, _) = row_of(store, "criteria", "Depth").await;

    let mut retitled = criterion("Depth", -100.0, -1.0);
    retitled.display_title = "New title".into();
    replace(
        store,
        &spec(vec![RegionInput {
            display_name: "Renamed".into(),
            ..region("A", vec![retitled, criterion("Waves", 0.0, 3.0)])
        }]),
        at(60),
    )
    .await;

    assert_eq!(listed(store).await, [("A".to_owned(), 2)]);
    assert_eq!(ranges_of(store, "B").await, None, "B is gone");
    assert_eq!(
        ranges_of(store, "A").await,
        Some(vec![
            ("Depth".to_owned(), -100.0, -1.0),
            ("Waves".to_owned(), 0.0, 3.0)
        ]),
        "Slope's range is gone, Depth's replaced, Waves' new"
    );
    assert_eq!(
        count(store, "criteria").await,
        2,
        "Slope and Turbidity are gone"
    );
    assert_eq!(
        count(store, "regional_criteria").await,
        2,
        "B's ranges went with it"
    );
    let a = store.list_regions().await.expect("listed");
    assert_eq!(a[0].display_name, "Renamed");
    let depth = store
        .region_criteria(&name("A"))
        .await
        .expect("read")
        .expect("A");
    assert_eq!(depth[0].criterion.display_title, "New title");

    assert_eq!(
        row_of(store, "regions", "A").await,
        (a_id, a_created, at(60)),
        "A kept its id and creation time"
    );
    assert_eq!(
        row_of(store, "criteria", "Depth").await,
        (depth_id, depth_created, at(60)),
        "Depth kept its id and creation time"
    );
    assert_eq!(row_of(store, "criteria", "Waves").await.1, at(60));

    // Deleting rows outside a replacement cascades the same way.
    execute(store, "DELETE FROM criteria WHERE name = 'Waves'").await;
    assert_eq!(listed(store).await, [("A".to_owned(), 1)]);
}

#[rstest]
#[tokio::test]
async fn an_empty_specification_empties_everything(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    replace(
        store,
        &spec(vec![region("A", vec![criterion("Depth", -50.0, -2.0)])]),
        at(0),
    )
    .await;
    replace(store, &spec(Vec::new()), at(1)).await;
    for table in ["regions", "criteria", "regional_criteria"] {
        assert_eq!(count(store, table).await, 0, "{table}");
    }
    // And filling it again works.
    replace(
        store,
        &spec(vec![region("A", vec![criterion("Depth", -50.0, -2.0)])]),
        at(2),
    )
    .await;
    assert_eq!(listed(store).await, [("A".to_owned(), 1)]);
}

#[rstest]
#[tokio::test]
async fn a_failed_replacement_changes_nothing(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let before = spec(vec![
        region("A", vec![criterion("Depth", -50.0, -2.0)]),
        region("B", vec![criterion("Slope", 0.0, 45.0)]),
    ]);
    replace(store, &before, at(0)).await;

    // The ranges' table is moved away, so the replacement fails after it has deleted B and
    // Slope and updated A, at its first statement on the ranges.
    execute(
        store,
        "ALTER TABLE regional_criteria RENAME TO regional_criteria_away",
    )
    .await;
    let failed = store
        .replace_data_specification(
            &spec(vec![
                RegionInput {
                    display_name: "Changed".into(),
                    ..region("A", vec![criterion("Waves", 0.0, 3.0)])
                },
                region("C", Vec::new()),
            ]),
            at(60),
        )
        .await;
    assert!(failed.is_err(), "the replacement failed");
    execute(
        store,
        "ALTER TABLE regional_criteria_away RENAME TO regional_criteria",
    )
    .await;

    assert_eq!(
        listed(store).await,
        [("A".to_owned(), 1), ("B".to_owned(), 1)],
        "B is back, C never came"
    );
    assert_eq!(
        store.list_regions().await.expect("listed")[0].display_name,
        "A region",
        "A is unchanged"
    );
    assert_eq!(
        ranges_of(store, "B").await,
        Some(vec![("Slope".to_owned(), 0.0, 45.0)])
    );
    assert_eq!(count(store, "criteria").await, 2, "no Waves, Slope kept");
    assert_eq!(row_of(store, "regions", "A").await.2, at(0));
}

#[rstest]
#[tokio::test]
async fn concurrent_replacements_leave_one_of_them_whole(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    // Every specification names the shared region and criterion (upserted by all) and regions
    // and criteria of its own (deleted by the others).
    let specs: Vec<DataSpecification> = (0..8)
        .map(|n| {
            let own = |name: &str| format!("{name}{n}");
            spec(vec![
                region(
                    "Shared",
                    vec![
                        criterion("Depth", -f64::from(n), 0.0),
                        criterion(&own("Own"), 0.0, f64::from(n)),
                    ],
                ),
                region(&own("Region"), vec![criterion("Depth", -1.0, 0.0)]),
            ])
        })
        .collect();
    let tasks: Vec<_> = specs
        .iter()
        .cloned()
        .map(|spec| {
            let store = store.clone();
            tokio::spawn(async move { store.replace_data_specification(&spec, at(0)).await })
        })
        .collect();
    for task in tasks {
        task.await
            .expect("joined")
            .expect("every replacement succeeds");
    }

    let regions = listed(store).await;
    assert_eq!(regions.len(), 2, "{regions:?}");
    let own = &regions[0].0;
    let n: usize = own
        .strip_prefix("Region")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("one specification's own region: {regions:?}"));
    assert_eq!(regions[1], ("Shared".to_owned(), 2));
    let shared = ranges_of(store, "Shared").await.expect("Shared");
    let n_f64 = f64::from(u32::try_from(n).expect("small"));
    assert_eq!(
        shared,
        vec![
            ("Depth".to_owned(), -n_f64, 0.0),
            (format!("Own{n}"), 0.0, n_f64)
        ],
        "the ranges of the same specification"
    );
    assert_eq!(count(store, "criteria").await, 2);
    assert_eq!(count(store, "regional_criteria").await, 3);
}
