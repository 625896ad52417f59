//! The content hash of a job request, byte-compatible with the ReefGuide web API (R1).
//!
//! Contract §7 ("Cache"): `hash = sha256(sha256(normalised payload JSON) ++ type)`. As in R1
//! (`hashObject`/`normalizeObject` in `src/api/util.ts`, `generateJobHash` in
//! `src/api/services/jobs.ts` of `open-AIMS/reefguide-web-api`):
//!
//! 1. The payload is normalised: object keys are sorted (JavaScript's default sort, i.e. by UTF-16
//!    code units) and then trimmed; strings are trimmed and every run of whitespace is collapsed
//!    to one space; arrays keep their order; numbers, booleans and `null` are kept.
//! 2. The normalised value is serialised exactly as `JSON.stringify` does: no insignificant
//!    whitespace, numbers as `Number.prototype.toString` (`1.0` → `1`, `-0` → `0`, `1e21` →
//!    `1e+21`), and JavaScript's own-property order (array-index keys such as `"7"` first in
//!    ascending numeric order, then the other keys in insertion order).
//! 3. The inner digest is the lower-case hex SHA-256 of that UTF-8 text.
//! 4. The hash is the lower-case hex SHA-256 of the inner hex digest immediately followed by the
//!    job type name (no separator).
//!
//! "Whitespace" is JavaScript's `\s` (also what `String.prototype.trim` removes), which differs
//! slightly from Rust's [`char::is_whitespace`] (U+FEFF is whitespace in JavaScript, U+0085 is
//! not).

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The R1-compatible content hash of a job request (lower-case hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayloadHash(String);

impl PayloadHash {
    /// Computes the hash of a job of type `job_type` with input `payload`, as R1 does.
    pub fn compute(job_type: &str, payload: &Value) -> Self {
        let inner = hex::encode(Sha256::digest(normalised_json(payload).as_bytes()));
        let mut outer = Sha256::new();
        outer.update(inner.as_bytes());
        outer.update(job_type.as_bytes());
        Self(hex::encode(outer.finalize()))
    }

    /// The hash as lower-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a hash read back from storage (not re-validated: it was computed by
    /// [`PayloadHash::compute`] or by R1).
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
}

/// The normalised JSON text that is hashed (exposed for tests and debugging).
pub fn normalised_json(payload: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, payload);
    out
}

/// Appends the normalised serialisation of `value` to `out`.
fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_js_string(out, &normalise_string(text)),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Numbers become JavaScript doubles (as `JSON.parse` makes them) and print as JavaScript does;
/// a non-finite number prints `null`, as R1 normalises it.
fn write_number(out: &mut String, number: &serde_json::Number) {
    match number.as_f64() {
        Some(float) if float.is_finite() => {
            // `Number.prototype.toString` prints negative zero as "0".
            let float = if float == 0.0 { 0.0 } else { float };
            let mut buffer = ryu_js::Buffer::new();
            out.push_str(buffer.format_finite(float));
        }
        _ => out.push_str("null"),
    }
}

/// Writes an object the way R1 builds and `JSON.stringify`s it.
fn write_object(out: &mut String, map: &serde_json::Map<String, Value>) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));

    // R1 assigns `normalized[key.trim()] = value` in sorted key order: a later key that trims
    // to the same name replaces the value but keeps the first position, and assigning
    // `__proto__` sets the prototype instead of creating a property, so it never serialises.
    let mut entries: Vec<(&str, &Value)> = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(value) = map.get(key) else { continue };
        let name = trim_js(key);
        if name == "__proto__" {
            continue;
        }
        match entries.iter_mut().find(|(existing, _)| *existing == name) {
            Some(entry) => entry.1 = value,
            None => entries.push((name, value)),
        }
    }

    // JavaScript enumerates array-index keys first, in ascending numeric order.
    let (mut indices, named): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(name, _)| array_index(name).is_some());
    indices.sort_by_key(|(name, _)| array_index(name));

    out.push('{');
    for (position, (name, value)) in indices.into_iter().chain(named).enumerate() {
        if position > 0 {
            out.push(',');
        }
        write_js_string(out, name);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// The numeric value of a canonical JavaScript array index (`"0"`, `"17"`, at most
/// 2^32 - 2, no leading zeros), or `None` for any other property name.
fn array_index(name: &str) -> Option<u32> {
    let canonical = !name.is_empty()
        && name.len() <= 10
        && name.bytes().all(|byte| byte.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'));
    if !canonical {
        return None;
    }
    name.parse::<u32>().ok().filter(|&index| index != u32::MAX)
}

/// JavaScript's `\s`: WhiteSpace (tab, VT, FF, U+FEFF, category Zs) and LineTerminator.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'..='\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '\u{FEFF}'
    )
}

/// `String.prototype.trim`.
fn trim_js(text: &str) -> &str {
    text.trim_matches(is_js_whitespace)
}

/// `text.trim().replace(/\s+/g, ' ')`.
fn normalise_string(text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    let mut in_whitespace = false;
    for c in trim_js(text).chars() {
        if is_js_whitespace(c) {
            if !in_whitespace {
                normalised.push(' ');
            }
            in_whitespace = true;
        } else {
            normalised.push(c);
            in_whitespace = false;
        }
    }
    normalised
}

/// Writes `text` as a JSON string literal exactly as `JSON.stringify` quotes it.
fn write_js_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{0008}' => out.push_str("\\b"),
            '\u{0009}' => out.push_str("\\t"),
            '\u{000A}' => out.push_str("\\n"),
            '\u{000C}' => out.push_str("\\f"),
            '\u{000D}' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const VECTORS: &str = include_str!("../../tests/fixtures/job-hash-vectors.json");

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("test JSON parses")
    }

    fn number_text(literal: &str) -> String {
        normalised_json(&parse(literal))
    }

    #[test]
    fn every_r1_vector_matches() {
        let vectors = parse(VECTORS);
        let vectors = vectors.as_array().expect("vectors are an array");
        assert!(!vectors.is_empty());
        for vector in vectors {
            let job_type = vector["type"].as_str().expect("type is a string");
            let expected = vector["hash"].as_str().expect("hash is a string");
            let hash = PayloadHash::compute(job_type, &vector["inputPayload"]);
            assert_eq!(hash.as_str(), expected, "vector {vector}");
        }
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = parse(r#"{"b":1,"a":{"y":2,"x":[3,{"q":1,"p":2}]}}"#);
        let b = parse(r#"{"a":{"x":[3,{"p":2,"q":1}],"y":2},"b":1}"#);
        assert_eq!(
            PayloadHash::compute("TEST", &a),
            PayloadHash::compute("TEST", &b)
        );
        assert_eq!(
            normalised_json(&a),
            r#"{"a":{"x":[3,{"p":2,"q":1}],"y":2},"b":1}"#
        );
    }

    #[test]
    fn whitespace_is_normalised_in_nested_strings_and_arrays() {
        let payload = json!({
            "outer": {"name": "\t Cairns \n\n  Cooktown\u{00A0} "},
            "list": ["  a  b ", ["c\r\nd"], "\u{FEFF}e\u{3000}f"],
        });
        assert_eq!(
            normalised_json(&payload),
            r#"{"list":["a b",["c d"],"e f"],"outer":{"name":"Cairns Cooktown"}}"#
        );
    }

    #[test]
    fn keys_are_trimmed_but_not_collapsed() {
        let payload = json!({" a  b ": 1});
        assert_eq!(normalised_json(&payload), r#"{"a  b":1}"#);
    }

    #[test]
    fn numbers_format_as_javascript() {
        assert_eq!(number_text("1.0"), "1");
        assert_eq!(number_text("2.5"), "2.5");
        assert_eq!(number_text("-0.0"), "0");
        assert_eq!(number_text("-0"), "0");
        assert_eq!(number_text("1e21"), "1e+21");
        assert_eq!(number_text("1e-7"), "1e-7");
        assert_eq!(number_text("0.000001"), "0.000001");
        assert_eq!(
            number_text("123456789012345680000"),
            "123456789012345680000"
        );
        assert_eq!(number_text("-10"), "-10");
        assert_eq!(number_text("0.1"), "0.1");
        // Integers beyond 2^53 round to the nearest double, as `JSON.parse` does.
        assert_eq!(number_text("9007199254740993"), "9007199254740992");
    }

    #[test]
    fn nested_objects_are_normalised() {
        let payload = parse(r#"{"z":{"b":{"d":" x ","c":1.50}},"a":[null,true,false]}"#);
        assert_eq!(
            normalised_json(&payload),
            r#"{"a":[null,true,false],"z":{"b":{"c":1.5,"d":"x"}}}"#
        );
    }

    #[test]
    fn array_index_keys_come_first_as_in_javascript() {
        let payload = json!({"b": 1, "10": 2, "2": 3, "01": 4, "a": 5});
        assert_eq!(
            normalised_json(&payload),
            r#"{"2":3,"10":2,"01":4,"a":5,"b":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_json_stringify_does() {
        let payload = json!({"a\nb": "q\"\\\u{0001}\u{0008}/\u{007F}"});
        assert_eq!(
            normalised_json(&payload),
            "{\"a\\nb\":\"q\\\"\\\\\\u0001\\b/\u{007F}\"}"
        );
    }

    #[test]
    fn different_types_give_different_hashes() {
        let payload = json!({"id": 1});
        let test = PayloadHash::compute("TEST", &payload);
        let other = PayloadHash::compute("SUITABILITY_ASSESSMENT", &payload);
        assert_ne!(test, other);
        assert_eq!(test.as_str().len(), 64);
        assert!(
            test.as_str()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn stored_hash_round_trips() {
        let hash = PayloadHash::compute("TEST", &json!({"id": 1}));
        assert_eq!(PayloadHash::from_stored(hash.as_str().to_owned()), hash);
    }
}
