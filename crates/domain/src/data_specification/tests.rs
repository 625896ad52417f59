use super::*;

fn criterion(name: &str) -> CriterionInput {
    CriterionInput {
        name: name.to_owned(),
        display_title: format!("{name} range"),
        display_subtitle: None,
        units: Some("m".to_owned()),
        min_tooltip: None,
        max_tooltip: None,
        payload_prefix: format!("{}_", name.to_lowercase()),
        min_val: -50.0,
        max_val: -2.0,
        default_min_val: -30.0,
        default_max_val: -5.0,
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

/// The problems of a refused specification, as `(path, problem)`.
fn refused(regions: Vec<RegionInput>) -> Vec<(String, SpecProblem)> {
    DataSpecification::parse(regions)
        .expect_err("refused")
        .violations
        .into_iter()
        .map(|violation| (violation.path, violation.problem))
        .collect()
}

fn one(path: &str, problem: SpecProblem) -> Vec<(String, SpecProblem)> {
    vec![(path.to_owned(), problem)]
}

#[test]
fn a_valid_specification_keeps_everything_and_counts_shared_criteria_once() {
    let mut depth = criterion("Depth");
    depth.display_subtitle = Some("Water depth".to_owned());
    depth.min_tooltip = Some("Shallowest\nin metres".to_owned());
    let spec = DataSpecification::parse(vec![
        RegionInput {
            description: Some("The Townsville and Whitsunday area".to_owned()),
            ..region(
                "Townsville-Whitsunday",
                vec![depth.clone(), criterion("Slope")],
            )
        },
        region(
            "Cairns-Cooktown",
            vec![
                CriterionInput {
                    min_val: -20.0,
                    max_val: 0.0,
                    ..depth
                },
                criterion("Turbidity"),
            ],
        ),
    ])
    .expect("valid");

    assert_eq!(
        spec.counts(),
        SpecificationCounts {
            criteria: 3,
            regions: 2,
            regional_criteria: 4
        }
    );
    let names: Vec<&str> = spec.criteria().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["Depth", "Slope", "Turbidity"],
        "first appearance order"
    );
    let depth = &spec.criteria()[0];
    assert_eq!(depth.display_subtitle.as_deref(), Some("Water depth"));
    assert_eq!(depth.min_tooltip.as_deref(), Some("Shallowest\nin metres"));
    assert_eq!(depth.payload_prefix, "depth_");
    let cairns = &spec.regions()[1];
    assert_eq!(cairns.name.as_str(), "Cairns-Cooktown");
    assert_eq!(
        cairns.criteria[0].range,
        CriterionRange {
            min: -20.0,
            max: 0.0,
            default_min: -30.0,
            default_max: -5.0
        },
        "the range is the region's own"
    );
    assert_eq!(
        spec.regions()[0].description.as_deref(),
        Some("The Townsville and Whitsunday area")
    );
}

#[test]
fn an_empty_specification_is_valid_and_empties_everything() {
    let spec = DataSpecification::parse(Vec::new()).expect("valid");
    assert_eq!(
        spec.counts(),
        SpecificationCounts {
            criteria: 0,
            regions: 0,
            regional_criteria: 0
        }
    );
    let bare = DataSpecification::parse(vec![region("Empty", Vec::new())]).expect("valid");
    assert_eq!(bare.counts().regions, 1);
    assert_eq!(bare.counts().regional_criteria, 0);
}

#[test]
fn blank_optional_texts_are_absent() {
    let spec = DataSpecification::parse(vec![RegionInput {
        description: Some("  ".to_owned()),
        ..region(
            "A",
            vec![CriterionInput {
                display_subtitle: Some(String::new()),
                units: Some(" \t".to_owned()),
                min_tooltip: Some(String::new()),
                max_tooltip: None,
                ..criterion("Depth")
            }],
        )
    }])
    .expect("valid");
    assert_eq!(spec.regions()[0].description, None);
    // The length limit holds for blank texts too, as the API documents it.
    assert_eq!(
        refused(vec![RegionInput {
            description: Some(" ".repeat(TEXT_MAX_LEN + 1)),
            ..region("A", Vec::new())
        }]),
        one(
            "regions[0].description",
            SpecProblem::TooLong { max: TEXT_MAX_LEN }
        )
    );
    let depth = &spec.criteria()[0];
    assert_eq!(
        (&depth.display_subtitle, &depth.units, &depth.min_tooltip),
        (&None, &None, &None)
    );
}

#[test]
fn names_are_identifiers() {
    for (raw, problem) in [
        ("", SpecProblem::Empty),
        (" Depth", SpecProblem::Padded),
        ("Depth ", SpecProblem::Padded),
        ("De\u{7}pth", SpecProblem::ControlCharacter),
        ("Two\nlines", SpecProblem::ControlCharacter),
    ] {
        assert_eq!(RegionName::parse(raw), Err(problem.clone()), "{raw:?}");
        assert_eq!(CriterionName::parse(raw), Err(problem), "{raw:?}");
    }
    let longest = "n".repeat(NAME_MAX_LEN);
    assert!(RegionName::parse(&longest).is_ok());
    assert!(CriterionName::parse(&longest).is_ok());
    let too_long = "é".repeat(NAME_MAX_LEN + 1);
    assert_eq!(
        RegionName::parse(&too_long),
        Err(SpecProblem::TooLong { max: NAME_MAX_LEN })
    );
    // A region name is a URL path segment; a criterion name is only a JSON key.
    assert_eq!(RegionName::parse("a/b"), Err(SpecProblem::Slash));
    assert!(CriterionName::parse("Waves Hs/Tp").is_ok());
    for fine in ["Townsville-Whitsunday", "FarNorthern", "Low tide", "深さ"] {
        assert!(RegionName::parse(fine).is_ok(), "{fine}");
    }
}

#[test]
fn every_field_problem_is_reported_with_its_place() {
    let problems = refused(vec![
        region("A", vec![criterion("Depth")]),
        RegionInput {
            name: "B ".to_owned(),
            display_name: " ".to_owned(),
            description: Some("x".repeat(TEXT_MAX_LEN + 1)),
            criteria: vec![
                criterion("Slope"),
                CriterionInput {
                    name: String::new(),
                    display_title: "Title\twith a tab".to_owned(),
                    units: Some("u".repeat(LABEL_MAX_LEN + 1)),
                    max_tooltip: Some("bell\u{7}".to_owned()),
                    payload_prefix: "x y ".to_owned(),
                    ..criterion("Turbidity")
                },
            ],
        },
    ]);
    assert_eq!(
        problems,
        vec![
            ("regions[1].name".to_owned(), SpecProblem::Padded),
            ("regions[1].display_name".to_owned(), SpecProblem::Empty),
            (
                "regions[1].description".to_owned(),
                SpecProblem::TooLong { max: TEXT_MAX_LEN }
            ),
            ("regions[1].criteria[1].name".to_owned(), SpecProblem::Empty),
            (
                "regions[1].criteria[1].display_title".to_owned(),
                SpecProblem::ControlCharacter
            ),
            (
                "regions[1].criteria[1].units".to_owned(),
                SpecProblem::TooLong { max: LABEL_MAX_LEN }
            ),
            (
                "regions[1].criteria[1].max_tooltip".to_owned(),
                SpecProblem::ControlCharacter
            ),
            (
                "regions[1].criteria[1].payload_prefix".to_owned(),
                SpecProblem::Padded
            ),
        ]
    );
}

#[test]
fn numbers_are_finite_and_ranges_ordered() {
    let with = |min: f64, max: f64, default_min: f64, default_max: f64| {
        vec![region(
            "A",
            vec![CriterionInput {
                min_val: min,
                max_val: max,
                default_min_val: default_min,
                default_max_val: default_max,
                ..criterion("Depth")
            }],
        )]
    };
    assert_eq!(
        refused(with(f64::NAN, 1.0, 0.0, f64::INFINITY)),
        vec![
            (
                "regions[0].criteria[0].min_val".to_owned(),
                SpecProblem::NotFinite
            ),
            (
                "regions[0].criteria[0].default_max_val".to_owned(),
                SpecProblem::NotFinite
            ),
        ]
    );
    assert_eq!(
        refused(with(3.0, 1.0, 2.0, 1.5)),
        vec![
            (
                "regions[0].criteria[0].min_val".to_owned(),
                SpecProblem::RangeReversed { min: 3.0, max: 1.0 }
            ),
            (
                "regions[0].criteria[0].default_min_val".to_owned(),
                SpecProblem::DefaultRangeReversed { min: 2.0, max: 1.5 }
            ),
        ]
    );
    // Equal bounds are a range of one value.
    assert!(DataSpecification::parse(with(1.0, 1.0, 1.0, 1.0)).is_ok());
    // The default range comes from the criterion's metadata and may reach past the region's
    // data (R2's worker sends such ranges): accepted.
    let spec = DataSpecification::parse(with(-8.0, -1.0, -10.0, -2.0)).expect("accepted");
    assert_eq!(
        spec.regions()[0].criteria[0].range,
        CriterionRange {
            min: -8.0,
            max: -1.0,
            default_min: -10.0,
            default_max: -2.0
        }
    );
}

#[test]
fn duplicate_regions_and_criteria_are_refused() {
    assert_eq!(
        refused(vec![
            region("A", Vec::new()),
            region("B", Vec::new()),
            region("A", Vec::new()),
        ]),
        one(
            "regions[2].name",
            SpecProblem::DuplicateRegion {
                name: "A".to_owned(),
                first: "regions[0]".to_owned()
            }
        )
    );
    assert_eq!(
        refused(vec![region(
            "A",
            vec![criterion("Depth"), criterion("Slope"), criterion("Depth")]
        )]),
        one(
            "regions[0].criteria[2].name",
            SpecProblem::DuplicateCriterion {
                name: "Depth".to_owned(),
                first: "regions[0].criteria[0]".to_owned()
            }
        )
    );
    // Names are exact: another case is another name.
    assert!(
        DataSpecification::parse(vec![region("A", Vec::new()), region("a", Vec::new())]).is_ok()
    );
}

#[test]
fn a_criterion_has_one_definition_in_every_region() {
    let mut retitled = criterion("Depth");
    retitled.display_title = "Another title".to_owned();
    assert_eq!(
        refused(vec![
            region("A", vec![criterion("Slope"), criterion("Depth")]),
            region("B", vec![retitled]),
        ]),
        one(
            "regions[1].criteria[0].display_title",
            SpecProblem::CriterionDiffers {
                name: "Depth".to_owned(),
                field: "display_title",
                first: "regions[0].criteria[1]".to_owned()
            }
        )
    );
    for (field, change) in [
        (
            "display_subtitle",
            Box::new(|c: &mut CriterionInput| c.display_subtitle = Some("s".into()))
                as Box<dyn Fn(&mut CriterionInput)>,
        ),
        ("units", Box::new(|c| c.units = None)),
        (
            "min_tooltip",
            Box::new(|c| c.min_tooltip = Some("t".into())),
        ),
        (
            "max_tooltip",
            Box::new(|c| c.max_tooltip = Some("t".into())),
        ),
        (
            "payload_prefix",
            Box::new(|c| c.payload_prefix = "p_".into()),
        ),
    ] {
        let mut changed = criterion("Depth");
        change(&mut changed);
        let problems = refused(vec![
            region("A", vec![criterion("Depth")]),
            region("B", vec![changed]),
        ]);
        assert!(
            matches!(
                problems.as_slice(),
                [(_, SpecProblem::CriterionDiffers { field: found, .. })] if *found == field
            ),
            "{field}: {problems:?}"
        );
    }
    // Blank and absent are the same definition; the range may differ.
    let mut same = criterion("Depth");
    same.display_subtitle = Some(" ".to_owned());
    same.min_val = -100.0;
    let spec = DataSpecification::parse(vec![
        region("A", vec![criterion("Depth")]),
        region("B", vec![same]),
    ])
    .expect("one definition");
    assert_eq!(spec.counts().criteria, 1);
    assert_eq!(spec.counts().regional_criteria, 2);
}

#[test]
fn sizes_are_capped() {
    let many = |n: usize| {
        (0..n)
            .map(|i| region(&format!("R{i}"), Vec::new()))
            .collect()
    };
    assert!(DataSpecification::parse(many(MAX_REGIONS)).is_ok());
    assert_eq!(
        refused(many(MAX_REGIONS + 1)),
        one("regions", SpecProblem::TooManyRegions { max: MAX_REGIONS })
    );

    let criteria = |n: usize, from: usize| {
        (from..from + n)
            .map(|i| criterion(&format!("C{i}")))
            .collect()
    };
    assert!(
        DataSpecification::parse(vec![region("A", criteria(MAX_CRITERIA_PER_REGION, 0))]).is_ok()
    );
    assert_eq!(
        refused(vec![region("A", criteria(MAX_CRITERIA_PER_REGION + 1, 0))]),
        one(
            "regions[0].criteria",
            SpecProblem::TooManyCriteria {
                max: MAX_CRITERIA_PER_REGION
            }
        )
    );

    let regions_needed = MAX_DISTINCT_CRITERIA / MAX_CRITERIA_PER_REGION;
    let full: Vec<RegionInput> = (0..regions_needed)
        .map(|r| {
            region(
                &format!("R{r}"),
                criteria(MAX_CRITERIA_PER_REGION, r * MAX_CRITERIA_PER_REGION),
            )
        })
        .collect();
    assert_eq!(
        DataSpecification::parse(full.clone())
            .expect("at the limit")
            .counts()
            .criteria,
        MAX_DISTINCT_CRITERIA
    );
    let mut over = full;
    over.push(region("Last", criteria(1, MAX_DISTINCT_CRITERIA)));
    assert_eq!(
        refused(over),
        one(
            "regions",
            SpecProblem::TooManyDistinctCriteria {
                max: MAX_DISTINCT_CRITERIA
            }
        )
    );
}

#[test]
fn at_most_twenty_problems_are_reported_but_all_are_counted() {
    let regions: Vec<RegionInput> = (0..30).map(|_| region("", Vec::new())).collect();
    let error = DataSpecification::parse(regions).expect_err("refused");
    assert_eq!(error.violations.len(), MAX_VIOLATIONS);
    assert_eq!(error.found, 30);
    assert!(
        error
            .to_string()
            .starts_with("invalid data specification (30 problem(s)): regions[0].name: must not"),
        "{error}"
    );
}
