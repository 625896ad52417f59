//! zod 3.23.8 and zod-express-middleware 1.4.0, as far as R1's worker routes use them: the
//! object schemas' checks, zod's issues and English messages, and the 400 answer.

use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::http::Answer;

/// One zod issue, fields in the order zod 3.23.8 creates them (`makeIssue` spreads the issue data
/// then adds `path` and `message`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(super) enum Issue {
    /// `z.string()`, `z.number()`, `z.object()` given another type.
    InvalidType {
        code: &'static str,
        expected: String,
        received: &'static str,
        path: Vec<&'static str>,
        message: String,
    },
    /// `z.nativeEnum()` given neither a string nor a number (its issue data starts with
    /// `expected`).
    EnumInvalidType {
        expected: String,
        received: &'static str,
        code: &'static str,
        path: Vec<&'static str>,
        message: String,
    },
    /// `z.nativeEnum()` given a value outside the enum.
    InvalidEnumValue {
        received: Value,
        code: &'static str,
        options: Vec<&'static str>,
        path: Vec<&'static str>,
        message: String,
    },
    /// `z.string().email()` given a string that is no email.
    InvalidString {
        validation: &'static str,
        code: &'static str,
        message: String,
        path: Vec<&'static str>,
    },
}

/// zod's `ZodParsedType` of a JSON value (`None`: absent).
fn parsed_type(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// zod's English message for `invalid_type`.
fn invalid_type_message(expected: &str, received: &str) -> String {
    if received == "undefined" {
        "Required".to_owned()
    } else {
        format!("Expected {expected}, received {received}")
    }
}

/// zod's `util.joinValues` of string options: `'A' | 'B'`.
fn join_values(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// What one field of a `z.object` must be.
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    /// `z.string()`.
    String,
    /// `z.string().email()`.
    Email,
    /// `z.number()`.
    Number,
    /// `z.nativeEnum(…)`.
    NativeEnum(&'static [&'static str]),
    /// `z.nativeEnum(…).optional()`.
    OptionalNativeEnum(&'static [&'static str]),
    /// `z.any().optional()`.
    Any,
}

/// `z.object({...}).safeParse(input)`: the issues, in the order of the schema's keys (unknown keys
/// are stripped, not reported).
pub(super) fn check_object(input: &Value, fields: &[(&'static str, Field)]) -> Vec<Issue> {
    let Some(object) = input.as_object() else {
        let received = parsed_type(Some(input));
        return vec![Issue::InvalidType {
            code: "invalid_type",
            expected: "object".to_owned(),
            received,
            path: vec![],
            message: invalid_type_message("object", received),
        }];
    };
    let mut issues = Vec::new();
    for &(name, field) in fields {
        let value = object.get(name);
        let received = parsed_type(value);
        let plain = |expected: &str| Issue::InvalidType {
            code: "invalid_type",
            expected: expected.to_owned(),
            received,
            path: vec![name],
            message: invalid_type_message(expected, received),
        };
        match field {
            Field::Any => {}
            Field::String if received != "string" => issues.push(plain("string")),
            Field::Number if received != "number" => issues.push(plain("number")),
            Field::Email => match value {
                Some(Value::String(text)) if !zod_email(text) => {
                    issues.push(Issue::InvalidString {
                        validation: "email",
                        code: "invalid_string",
                        message: "Invalid email".to_owned(),
                        path: vec![name],
                    });
                }
                Some(Value::String(_)) => {}
                _ => issues.push(plain("string")),
            },
            Field::OptionalNativeEnum(_) if value.is_none() => {}
            Field::NativeEnum(options) | Field::OptionalNativeEnum(options) => match value {
                Some(Value::String(text)) if options.contains(&text.as_str()) => {}
                Some(received_value @ (Value::String(_) | Value::Number(_))) => {
                    let shown = match received_value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    issues.push(Issue::InvalidEnumValue {
                        received: received_value.clone(),
                        code: "invalid_enum_value",
                        options: options.to_vec(),
                        path: vec![name],
                        message: format!(
                            "Invalid enum value. Expected {}, received '{shown}'",
                            join_values(options)
                        ),
                    });
                }
                _ => {
                    let expected = join_values(options);
                    issues.push(Issue::EnumInvalidType {
                        message: invalid_type_message(&expected, received),
                        expected,
                        received,
                        code: "invalid_type",
                        path: vec![name],
                    });
                }
            },
            Field::String | Field::Number => {}
        }
    }
    issues
}

/// zod 3.23.8's email check:
/// `/^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$/i`.
pub(super) fn zod_email(text: &str) -> bool {
    if text.starts_with('.') || text.contains("..") {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_'+-.".contains(c))
        && local
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, hosts)) = labels.split_last() else {
        return false;
    };
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    let hosts_ok = !hosts.is_empty()
        && hosts.iter().all(|label| {
            label
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && tld_ok && hosts_ok
}

/// zod-express-middleware's `sendErrors`: 400 with `[{"type": …, "errors": ZodError}]`, where a
/// `ZodError` serialises as `{"issues": […], "name": "ZodError"}`.
pub(super) fn validation_failure(kind: &'static str, issues: Vec<Issue>) -> Answer {
    #[derive(Serialize)]
    struct ZodError {
        issues: Vec<Issue>,
        name: &'static str,
    }
    #[derive(Serialize)]
    struct ErrorListItem {
        #[serde(rename = "type")]
        kind: &'static str,
        errors: ZodError,
    }
    Answer::json(
        StatusCode::BAD_REQUEST,
        &[ErrorListItem {
            kind,
            errors: ZodError {
                issues,
                name: "ZodError",
            },
        }],
    )
}
