//! The five built-in ReefGuide job types, with the input and result schemas of R1/R2 (its zod
//! schemas, expressed as JSON Schema draft 2020-12). Every object is strict: unknown fields are
//! rejected.

use chrono::Duration;
use serde_json::{Map, Value, json};

use super::{JobTypeName, JobTypeSpec, SubmitAccess};
use crate::job::state::RetryPolicy;
use crate::workflow::Engine;

/// The meta-schema every built-in schema declares.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Default number of attempts of a built-in type.
const MAX_ATTEMPTS: u32 = 3;
/// Default lease of a built-in type, in minutes (R1: 60).
const LEASE_MINUTES: i64 = 60;
/// Lease of `ADRIA_MODEL_RUN`, in minutes (R1: 240).
const ADRIA_LEASE_MINUTES: i64 = 240;

/// The optional numeric ranges shared by the suitability and regional assessments.
const CRITERIA_RANGES: [(&str, &str); 16] = [
    (
        "depth_min",
        "Depth minimum (negative values, relative to sea surface; further from 0 is deeper)",
    ),
    (
        "depth_max",
        "Depth maximum (negative values, relative to sea surface; closer to 0 is shallower)",
    ),
    ("low_tide_min", "The low tide range (min)"),
    ("low_tide_max", "The low tide range (max)"),
    ("high_tide_min", "The high tide range (min)"),
    ("high_tide_max", "The high tide range (max)"),
    ("slope_min", "The slope range (min)"),
    ("slope_max", "The slope range (max)"),
    ("rugosity_min", "The rugosity range (min)"),
    ("rugosity_max", "The rugosity range (max)"),
    ("turbidity_min", "The turbidity range (min)"),
    ("turbidity_max", "The turbidity range (max)"),
    ("waves_period_min", "The wave period range (min)"),
    ("waves_period_max", "The wave period range (max)"),
    ("waves_height_min", "The wave height range (min)"),
    ("waves_height_max", "The wave height range (max)"),
];

/// The specs of the five built-in types, sorted by name.
///
/// Their policies are positive constants, so [`spec`] never returns `None`; the unit tests prove
/// all five are present (this keeps the crate free of panicking paths).
pub(super) fn specs() -> Vec<JobTypeSpec> {
    [
        spec(
            "ADRIA_MODEL_RUN",
            "ADRIA model run: runs scenarios of the ADRIA coral ecosystem model for a data package",
            adria_input(),
            Some(adria_result()),
            ADRIA_LEASE_MINUTES,
        ),
        spec(
            "DATA_SPECIFICATION_UPDATE",
            "Data specification update: recomputes the criteria ranges of every region",
            json!({
                "$schema": DRAFT_2020_12,
                "title": "DATA_SPECIFICATION_UPDATE input",
                "type": "object",
                "properties": {
                    "cache_buster": {
                        "type": "number",
                        "description": "Any number, to force a new job instead of a cached one"
                    }
                },
                "additionalProperties": false
            }),
            Some(empty_result("DATA_SPECIFICATION_UPDATE result")),
            LEASE_MINUTES,
        ),
        spec(
            "REGIONAL_ASSESSMENT",
            "Regional assessment: a suitability raster (cloud-optimised GeoTIFF) of a region",
            regional_input(),
            Some(json!({
                "$schema": DRAFT_2020_12,
                "title": "REGIONAL_ASSESSMENT result",
                "type": "object",
                "properties": {
                    "cog_path": {
                        "type": "string",
                        "description": "Path of the cloud-optimised GeoTIFF, relative to the job's storage location"
                    }
                },
                "required": ["cog_path"],
                "additionalProperties": false
            })),
            LEASE_MINUTES,
        ),
        spec(
            "SUITABILITY_ASSESSMENT",
            "Suitability assessment: the sites of a region where a polygon of the given size fits the criteria",
            suitability_input(),
            Some(json!({
                "$schema": DRAFT_2020_12,
                "title": "SUITABILITY_ASSESSMENT result",
                "type": "object",
                "properties": {
                    "geojson_path": {
                        "type": "string",
                        "description": "Path of the GeoJSON of suitable sites, relative to the job's storage location"
                    }
                },
                "required": ["geojson_path"],
                "additionalProperties": false
            })),
            LEASE_MINUTES,
        ),
        spec(
            "TEST",
            "Test job: does nothing but complete (used to exercise workers)",
            json!({
                "$schema": DRAFT_2020_12,
                "title": "TEST input",
                "type": "object",
                "properties": {
                    "id": {
                        "type": "number",
                        "description": "Any number, to tell test jobs apart"
                    }
                },
                "required": ["id"],
                "additionalProperties": false
            }),
            Some(empty_result("TEST result")),
            LEASE_MINUTES,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A built-in spec with the default policy (3 attempts), caching and open access; `None` only
/// if the constant policy were invalid.
fn spec(
    name: &str,
    description: &str,
    input_schema: Value,
    result_schema: Option<Value>,
    lease_minutes: i64,
) -> Option<JobTypeSpec> {
    Some(JobTypeSpec {
        name: JobTypeName(name.to_owned()),
        description: description.to_owned(),
        input_schema,
        result_schema,
        policy: RetryPolicy::new(MAX_ATTEMPTS, Duration::minutes(lease_minutes)).ok()?,
        cache: true,
        access: SubmitAccess::default(),
        compute_target: None,
        engine: Engine::Worker,
    })
}

/// A strict object schema that accepts only `{}`.
fn empty_result(title: &str) -> Value {
    json!({
        "$schema": DRAFT_2020_12,
        "title": title,
        "type": "object",
        "properties": {},
        "additionalProperties": false
    })
}

/// The properties of the criteria shared by the suitability and regional assessments.
fn criteria_properties() -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert(
        "region".to_owned(),
        json!({"type": "string", "description": "Region for assessment"}),
    );
    properties.insert(
        "reef_type".to_owned(),
        json!({"type": "string", "description": "The type of reef, slopes or flats"}),
    );
    for (name, description) in CRITERIA_RANGES {
        properties.insert(
            name.to_owned(),
            json!({"type": "number", "description": description}),
        );
    }
    properties
}

/// Input of `SUITABILITY_ASSESSMENT`: the criteria plus the size of the target polygon.
fn suitability_input() -> Value {
    let mut properties = criteria_properties();
    properties.insert(
        "x_dist".to_owned(),
        json!({"type": "number", "description": "Length (m) of the target polygon"}),
    );
    properties.insert(
        "y_dist".to_owned(),
        json!({"type": "number", "description": "Width (m) of the target polygon"}),
    );
    properties.insert(
        "threshold".to_owned(),
        json!({"type": "number", "description": "Suitability threshold: the lowest score a reported site may have"}),
    );
    json!({
        "$schema": DRAFT_2020_12,
        "title": "SUITABILITY_ASSESSMENT input",
        "type": "object",
        "properties": properties,
        "required": ["region", "reef_type", "x_dist", "y_dist"],
        "additionalProperties": false
    })
}

/// Input of `REGIONAL_ASSESSMENT`: the criteria plus the colour scheme of the raster.
fn regional_input() -> Value {
    let mut properties = criteria_properties();
    properties.insert(
        "cogColor".to_owned(),
        json!({
            "type": "string",
            "enum": ["greyscale"],
            "description": "Colour scheme of the cloud-optimised GeoTIFF"
        }),
    );
    json!({
        "$schema": DRAFT_2020_12,
        "title": "REGIONAL_ASSESSMENT input",
        "type": "object",
        "properties": properties,
        "required": ["region", "reef_type"],
        "additionalProperties": false
    })
}

/// Input of `ADRIA_MODEL_RUN`.
fn adria_input() -> Value {
    json!({
        "$schema": DRAFT_2020_12,
        "title": "ADRIA_MODEL_RUN input",
        "type": "object",
        "properties": {
            "data_package": {
                "type": "string",
                "enum": ["MOORE", "GBR"],
                "description": "The data package to run the model on"
            },
            "num_scenarios": {
                "type": "integer",
                "minimum": 1,
                "description": "Number of scenarios to run (must be power of 2)"
            },
            "model_params": {
                "type": "array",
                "description": "The parameters to vary and their ranges",
                "items": {
                    "type": "object",
                    "properties": {
                        "param_name": {
                            "type": "string",
                            "description": "Name of the model parameter"
                        },
                        "third_param_flag": {
                            "type": "boolean",
                            "description": "Whether the parameter's distribution takes a third value (optional_third)"
                        },
                        "lower": {
                            "type": "number",
                            "description": "Lower bound of the parameter"
                        },
                        "upper": {
                            "type": "number",
                            "description": "Upper bound of the parameter"
                        },
                        "optional_third": {
                            "type": "number",
                            "description": "Third value of the distribution, when third_param_flag is set"
                        }
                    },
                    "required": ["param_name", "third_param_flag", "lower", "upper"],
                    "additionalProperties": false
                }
            },
            "rcp_scenario": {
                "type": "string",
                "enum": ["26", "45", "60", "85"],
                "description": "Climate scenario (RCP 2.6, 4.5, 6.0 or 8.5)"
            }
        },
        "required": ["data_package", "num_scenarios", "model_params"],
        "additionalProperties": false
    })
}

/// Result of `ADRIA_MODEL_RUN`.
fn adria_result() -> Value {
    json!({
        "$schema": DRAFT_2020_12,
        "title": "ADRIA_MODEL_RUN result",
        "type": "object",
        "properties": {
            "spatial_metrics_path": {
                "type": "string",
                "description": "Path of the spatial metrics, relative to the job's storage location"
            },
            "reef_boundaries_path": {
                "type": "string",
                "description": "Path of the reef boundaries, relative to the job's storage location"
            },
            "output_result_set_path": {
                "type": "string",
                "description": "Path of the ADRIA result set, relative to the job's storage location"
            },
            "available_charts": {
                "type": "object",
                "description": "Chart name to chart file path",
                "additionalProperties": {"type": "string"}
            },
            "chart_metadata": {
                "type": "object",
                "description": "Chart name to the metadata of that chart",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "metric_name": {"type": "string", "description": "Name of the metric charted"},
                        "filename": {"type": "string", "description": "File name of the chart"},
                        "y_label": {"type": "string", "description": "Label of the y axis"},
                        "description": {"type": "string", "description": "What the chart shows"},
                        "generation_time_seconds": {
                            "type": "number",
                            "description": "How long the chart took to generate, in seconds"
                        }
                    },
                    "required": [
                        "metric_name",
                        "filename",
                        "y_label",
                        "description",
                        "generation_time_seconds"
                    ],
                    "additionalProperties": false
                }
            }
        },
        "required": [
            "spatial_metrics_path",
            "reef_boundaries_path",
            "output_result_set_path",
            "available_charts",
            "chart_metadata"
        ],
        "additionalProperties": false
    })
}
