//! What the generated document cannot know at compile time, filled in from the configuration:
//! the job types this deployment offers (an enum of names, and each type's input schema as the
//! shape of `inputPayload`), the longest claim wait and the largest cluster size.
//!
//! Client authors get the exact submission contract of the deployment they talk to, and API
//! fuzzing generates payloads the server must accept.

use reefguide_domain::job::registry::JobTypeRegistry;
use serde_json::{Map, Value, json};

/// The component naming a job type.
const JOB_TYPE_NAME: &str = "JobTypeName";
/// The prefix of the component holding a type's input schema (`JobInput.TEST`).
const JOB_INPUT_PREFIX: &str = "JobInput.";

/// What a deployment's configuration adds to the document.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a> {
    /// The job types offered.
    pub job_types: &'a JobTypeRegistry,
    /// The longest wait of `POST /api/jobs/claim`.
    pub claim_max_wait_seconds: u32,
    /// The largest `desiredCount` of `POST /api/admin/scale` the cluster accepts.
    pub max_desired_count: u32,
    /// Where the configurable route sets are mounted.
    pub mounts: crate::routes::Mounts,
}

/// Completes `document` (an OpenAPI 3.1 document as JSON) for this deployment.
pub fn complete(document: &mut Value, deployment: &Deployment<'_>) {
    let job_types = deployment.job_types;
    let schemas = &mut document["components"]["schemas"];
    let names: Vec<String> = job_types.names();
    schemas[JOB_TYPE_NAME] = json!({
        "type": "string",
        "enum": names,
        "description": "A job type offered by this deployment (see GET /api/jobs/types).",
    });
    let mut variants = Vec::with_capacity(names.len());
    for kind in job_types.iter() {
        let name = kind.name().as_str();
        let component = format!("{JOB_INPUT_PREFIX}{name}");
        schemas[&component] = embeddable(&kind.spec().input_schema, &component);
        variants.push(json!({
            "type": "object",
            "title": name,
            "required": ["type", "inputPayload"],
            "properties": {
                "type": {"const": name},
                "inputPayload": {"$ref": format!("#/components/schemas/{component}")},
            },
        }));
    }
    schemas["SubmitJobRequest"] = json!({
        "description": "A job submission: a job type and an input payload valid against that \
                        type's input schema.",
        "oneOf": variants,
    });
    let type_ref = json!({"$ref": format!("#/components/schemas/{JOB_TYPE_NAME}")});
    schemas["InvalidateCacheRequest"]["properties"]["jobType"] = type_ref.clone();
    let claim = &mut schemas["ClaimRequestBody"]["properties"];
    claim["jobTypes"]["items"] = type_ref.clone();
    claim["waitSeconds"]["maximum"] = json!(deployment.claim_max_wait_seconds);
    schemas["ScaleRequest"]["properties"]["desiredCount"]["maximum"] =
        json!(deployment.max_desired_count);
    set_query_schema(document, "/api/jobs/poll", "get", "jobType", &type_ref);
    for listing in ["/api/jobs", "/api/jobs/mine"] {
        set_query_schema(document, listing, "get", "type", &type_ref);
    }
}

/// Sets the schema of query parameter `name` of an operation.
fn set_query_schema(document: &mut Value, path: &str, method: &str, name: &str, schema: &Value) {
    if let Some(parameters) = document["paths"][path][method]["parameters"].as_array_mut() {
        for parameter in parameters {
            if parameter["name"] == name && parameter["in"] == "query" {
                parameter["schema"] = schema.clone();
            }
        }
    }
}

/// A job type's JSON Schema made fit to live at `#/components/schemas/<component>`: `$schema`
/// and `$id` go (the document's dialect is JSON Schema 2020-12) and internal references
/// (`#/$defs/…`, `#/definitions/…`) are re-rooted at the component.
fn embeddable(schema: &Value, component: &str) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(root) = &mut schema {
        root.remove("$schema");
        root.remove("$id");
    }
    reroot_references(&mut schema, &format!("#/components/schemas/{component}"));
    schema
}

fn reroot_references(value: &mut Value, root: &str) {
    match value {
        Value::Object(object) => {
            reroot_reference(object, root);
            object
                .values_mut()
                .for_each(|child| reroot_references(child, root));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|child| reroot_references(child, root)),
        _ => {}
    }
}

fn reroot_reference(object: &mut Map<String, Value>, root: &str) {
    if let Some(Value::String(reference)) = object.get_mut("$ref")
        && let Some(pointer) = reference.strip_prefix('#')
    {
        *reference = format!("{root}{pointer}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_references_are_rerooted_and_dialect_keys_dropped() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "urn:x",
            "type": "object",
            "properties": {"a": {"$ref": "#/definitions/a"}, "b": {"$ref": "#"}},
            "definitions": {"a": {"items": [{"$ref": "#/definitions/c"}]}, "c": {}},
        });
        let embedded = embeddable(&schema, "JobInput.X");
        assert!(embedded.get("$schema").is_none() && embedded.get("$id").is_none());
        assert_eq!(
            embedded["properties"]["a"]["$ref"],
            "#/components/schemas/JobInput.X/definitions/a"
        );
        assert_eq!(
            embedded["properties"]["b"]["$ref"],
            "#/components/schemas/JobInput.X"
        );
        assert_eq!(
            embedded["definitions"]["a"]["items"][0]["$ref"],
            "#/components/schemas/JobInput.X/definitions/c"
        );
    }
}
