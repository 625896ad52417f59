//! A workflow's parameters as LabCAS describes them (labcas-contract §3, `GET /workflows/{id}`):
//! one line per property of the input schema, `"<json type>: <description>"`.

use std::collections::BTreeMap;

use serde_json::Value;

/// The parameters of a workflow whose input schema is `schema`: each top-level property's JSON
/// type (`a | b` for a list of types, `any` when none is given) and description, by name. A
/// schema without `properties` has none.
#[must_use]
pub fn describe_parameters(schema: &Value) -> BTreeMap<String, String> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let description = property
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let line = format!("{}: {description}", type_of(property));
            (name.clone(), line.trim_end().to_owned())
        })
        .collect()
}

/// The `type` of a property schema, as written.
fn type_of(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => {
            let names: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            if names.is_empty() {
                "any".to_owned()
            } else {
                names.join(" | ")
            }
        }
        _ => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_property_is_its_type_and_description() {
        let schema = json!({
            "type": "object",
            "properties": {
                "tile_size": {"type": "integer", "minimum": 1, "description": "Tile edge in pixels"},
                "label": {"type": ["string", "null"]},
                "anything": {},
            }
        });
        let described = describe_parameters(&schema);
        assert_eq!(described["tile_size"], "integer: Tile edge in pixels");
        assert_eq!(described["label"], "string | null:");
        assert_eq!(described["anything"], "any:");
        assert!(describe_parameters(&json!({"type": "object"})).is_empty());
        assert!(describe_parameters(&json!(true)).is_empty());
    }
}
