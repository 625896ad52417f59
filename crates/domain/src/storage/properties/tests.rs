//! Checking a properties request, and merging.

use serde_json::json;

use super::*;

fn name(raw: &str) -> EntryName {
    EntryName::parse(raw).expect("a valid name")
}

/// A request from JSON `{"<file>": {key: value}}`.
fn request(value: Value) -> BTreeMap<String, BTreeMap<String, Value>> {
    serde_json::from_value(value).expect("a request of the right shape")
}

fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|&(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn scalars_are_stored_as_text() {
    let edits = PropertyEdits::parse(request(json!({
        "b.tif": {"Reviewed": true, "score": 0.75, "count": 3, "big": 1e300, "neg": -2,
                  "note": "Moore Reef", "empty": ""},
        "a b.txt": {},
    })))
    .expect("a valid request");
    let files: Vec<_> = edits.files().collect();
    assert_eq!(
        files,
        [
            (&name("a b.txt"), &Properties::new()),
            (
                &name("b.tif"),
                &props(&[
                    ("Reviewed", "true"),
                    ("big", "1e+300"),
                    ("count", "3"),
                    ("empty", ""),
                    ("neg", "-2"),
                    ("note", "Moore Reef"),
                    ("score", "0.75"),
                ])
            ),
        ]
    );
    assert!(!edits.is_empty());
    assert!(
        PropertyEdits::parse(BTreeMap::new())
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn non_scalar_values_are_refused_naming_file_and_key() {
    for bad in [json!(null), json!([1]), json!({"x": 1})] {
        let got = PropertyEdits::parse(request(json!({"a.tif": {"ok": 1, "k": bad}})));
        assert_eq!(
            got,
            Err(InvalidEdit::BadValue {
                file: name("a.tif"),
                key: "k".into()
            }),
            "{bad}"
        );
    }
}

#[test]
fn bad_names_are_refused() {
    let cases = [
        (
            "",
            InvalidEdit::BadName {
                name: String::new(),
                why: InvalidPath::Empty,
            },
        ),
        (
            "..",
            InvalidEdit::BadName {
                name: "..".into(),
                why: InvalidPath::DotSegment,
            },
        ),
        (
            "a/b.tif",
            InvalidEdit::BadName {
                name: "a/b.tif".into(),
                why: InvalidPath::Separator,
            },
        ),
        (
            "../x",
            InvalidEdit::BadName {
                name: "../x".into(),
                why: InvalidPath::DotSegment,
            },
        ),
        (
            "a\\b",
            InvalidEdit::BadName {
                name: "a\\b".into(),
                why: InvalidPath::Backslash,
            },
        ),
        (
            "a.tif.cfg",
            InvalidEdit::SidecarNamed {
                name: name("a.tif.cfg"),
            },
        ),
    ];
    for (raw, expected) in cases {
        let got = PropertyEdits::parse(request(json!({ raw: {"k": "v"} })));
        assert_eq!(got, Err(expected), "{raw:?}");
    }
    // A name whose sidecar name would be too long cannot carry properties.
    let longest = "a".repeat(crate::storage::outputs::MAX_NAME_BYTES);
    let got = PropertyEdits::parse(request(json!({ longest.clone(): {} })));
    assert_eq!(
        got,
        Err(InvalidEdit::BadName {
            name: longest,
            why: InvalidPath::NameTooLong
        })
    );
}

#[test]
fn unstorable_keys_and_values_are_refused() {
    let got = PropertyEdits::parse(request(json!({"a.tif": {"a=b": 1}})));
    assert_eq!(
        got,
        Err(InvalidEdit::BadKey {
            file: name("a.tif"),
            key: "a=b".into(),
            why: Unstorable::ReservedCharacter
        })
    );
    let got = PropertyEdits::parse(request(json!({"a.tif": {"k": "two\nlines"}})));
    assert_eq!(
        got,
        Err(InvalidEdit::UnstorableValue {
            file: name("a.tif"),
            key: "k".into(),
            why: Unstorable::ControlCharacter
        })
    );
    let long = "v".repeat(sidecar::MAX_VALUE_BYTES + 1);
    let got = PropertyEdits::parse(request(json!({"a.tif": {"k": long}})));
    assert!(
        matches!(
            got,
            Err(InvalidEdit::UnstorableValue {
                why: Unstorable::TooLong(_),
                ..
            })
        ),
        "{got:?}"
    );
}

#[test]
fn request_sizes_are_bounded() {
    let keys: serde_json::Map<String, Value> = (0..=MAX_KEYS_PER_FILE)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    let got = PropertyEdits::parse(request(json!({"a.tif": keys})));
    assert_eq!(
        got,
        Err(InvalidEdit::TooManyKeys {
            file: name("a.tif")
        })
    );
    let at_most: serde_json::Map<String, Value> = (0..MAX_KEYS_PER_FILE)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    assert!(PropertyEdits::parse(request(json!({"a.tif": at_most}))).is_ok());

    let files = |count: usize| -> BTreeMap<String, BTreeMap<String, Value>> {
        (0..count)
            .map(|i| (format!("f{i}"), BTreeMap::new()))
            .collect()
    };
    assert!(PropertyEdits::parse(files(MAX_FILES_PER_UPDATE)).is_ok());
    assert_eq!(
        PropertyEdits::parse(files(MAX_FILES_PER_UPDATE + 1)),
        Err(InvalidEdit::TooManyFiles)
    );
}

#[test]
fn merging_replaces_the_keys_sent_and_keeps_the_others() {
    let existing = props(&[("a", "1"), ("b", "2"), ("B", "3")]);
    let merged = merge(existing, &props(&[("b", "20"), ("c", "30")]));
    assert_eq!(
        merged,
        props(&[("B", "3"), ("a", "1"), ("b", "20"), ("c", "30")])
    );
}

#[test]
fn errors_read_as_sentences() {
    let err = InvalidEdit::BadName {
        name: "a/b".into(),
        why: InvalidPath::Separator,
    };
    assert_eq!(
        err.to_string(),
        "\"a/b\" is not a file name: it must be a single name (no '/')"
    );
    let err = InvalidEdit::BadValue {
        file: name("a.tif"),
        key: "k".into(),
    };
    assert_eq!(
        err.to_string(),
        "the property \"k\" of a.tif must be a string, a number or a boolean"
    );
}
