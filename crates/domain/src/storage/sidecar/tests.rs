//! Sidecar names, the storability rules, and INI round trips.

use rstest::rstest;

use super::*;

fn name(raw: &str) -> EntryName {
    EntryName::parse(raw).expect("a valid name")
}

fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|&(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[rstest]
#[case("a.tif.cfg", true, Some("a.tif"))]
#[case("settings.cfg", true, Some("settings"))]
#[case(".cfg", true, None)]
#[case("a.tif", false, None)]
#[case("a.CFG", false, None)]
#[case("a.cfg.txt", false, None)]
fn sidecars_are_recognised_by_their_suffix(
    #[case] raw: &str,
    #[case] sidecar: bool,
    #[case] described: Option<&str>,
) {
    let entry = name(raw);
    assert_eq!(entry.is_sidecar(), sidecar);
    assert_eq!(
        entry.described_file().map(|f| f.to_string()).as_deref(),
        described
    );
}

#[test]
fn a_file_sidecar_is_its_name_and_cfg() {
    assert_eq!(name("a b.tif").sidecar(), Ok(name("a b.tif.cfg")));
    let longest = "a".repeat(crate::storage::outputs::MAX_NAME_BYTES);
    assert_eq!(name(&longest).sidecar(), Err(InvalidPath::NameTooLong));
}

#[rstest]
#[case("reviewed")]
#[case("Site Name")]
#[case("CamelCase.key-1")]
#[case("clé")]
#[case("a]b")]
#[case("x;y#z")]
fn storable_keys(#[case] key: &str) {
    assert_eq!(check_key(key), Ok(()));
}

#[rstest]
#[case("", Unstorable::Empty)]
#[case(" key", Unstorable::EdgeWhitespace)]
#[case("key\t", Unstorable::ControlCharacter)]
#[case("key ", Unstorable::EdgeWhitespace)]
#[case("a=b", Unstorable::ReservedCharacter)]
#[case("a:b", Unstorable::ReservedCharacter)]
#[case("a\\b", Unstorable::ReservedCharacter)]
#[case("[section", Unstorable::ReservedCharacter)]
#[case(";comment", Unstorable::ReservedCharacter)]
#[case("#comment", Unstorable::ReservedCharacter)]
#[case("two\nlines", Unstorable::ControlCharacter)]
fn unstorable_keys(#[case] key: &str, #[case] why: Unstorable) {
    assert_eq!(check_key(key), Err(why));
}

#[test]
fn keys_and_values_have_length_limits() {
    assert_eq!(check_key(&"k".repeat(MAX_KEY_BYTES)), Ok(()));
    assert_eq!(
        check_key(&"k".repeat(MAX_KEY_BYTES + 1)),
        Err(Unstorable::TooLong(MAX_KEY_BYTES))
    );
    assert_eq!(check_value(&"v".repeat(MAX_VALUE_BYTES)), Ok(()));
    assert_eq!(
        check_value(&"v".repeat(MAX_VALUE_BYTES + 1)),
        Err(Unstorable::TooLong(MAX_VALUE_BYTES))
    );
}

#[rstest]
#[case("", Ok(()))]
#[case("a = b: c ; d # e [f]", Ok(()))]
#[case("\"quoted\"", Ok(()))]
#[case("C:\\Windows\\x", Ok(()))]
#[case("ends with\\", Err(Unstorable::TrailingBackslash))]
#[case(" padded", Err(Unstorable::EdgeWhitespace))]
#[case("line\nbreak", Err(Unstorable::ControlCharacter))]
#[case("carriage\rreturn", Err(Unstorable::ControlCharacter))]
fn value_rules(#[case] value: &str, #[case] expected: Result<(), Unstorable>) {
    assert_eq!(check_value(value), expected);
}

#[test]
fn a_rendered_sidecar_has_one_section_named_after_the_file() {
    let rendered = render(
        &name("suitability.tif"),
        &props(&[("reviewed", "true"), ("Site Name", "Moore Reef")]),
    );
    assert_eq!(
        String::from_utf8(rendered).expect("UTF-8"),
        "[suitability.tif]\nSite Name=Moore Reef\nreviewed=true\n"
    );
    let empty = render(&name("a.tif"), &Properties::new());
    assert_eq!(String::from_utf8(empty).expect("UTF-8"), "[a.tif]\n");
}

#[rstest]
#[case("plain.tif")]
#[case("with spaces.tif")]
#[case("brackets]in[name].tif")]
#[case("semi;colon#hash=eq.tif")]
#[case("名前.tif")]
fn storable_properties_round_trip_exactly(#[case] file: &str) {
    let file = name(file);
    let properties = props(&[
        ("Key", "Value"),
        ("key", "lower"),
        ("empty", ""),
        ("tricky", "a = b: c ; d # e [f] \"g\" 'h' C:\\x"),
        ("number", "1.5e-7"),
        ("unicode", "récif ☀"),
        ("x]y", "z"),
    ]);
    for (key, value) in &properties {
        assert_eq!(check_key(key), Ok(()), "{key}");
        assert_eq!(check_value(value), Ok(()), "{value}");
    }
    let rendered = render(&file, &properties);
    assert_eq!(read(&file, &rendered), Ok(properties));
}

#[test]
fn a_name_with_edge_spaces_round_trips_through_the_trimmed_section() {
    let file = name(" spaced .tif ");
    let properties = props(&[("k", "v")]);
    assert_eq!(read(&file, &render(&file, &properties)), Ok(properties));
}

#[rstest]
#[case::other_sections_ignored(
    "[a.tif]\nk=1\n[b.tif]\nk=2\n",
    &[("k", "1")]
)]
#[case::repeated_section_later_wins("[a.tif]\nk=1\nx=0\n[a.tif]\nk=2\n", &[("k", "2"), ("x", "0")])]
#[case::only_section_of_another_name("[DEFAULT]\nk=1\n", &[("k", "1")])]
#[case::only_general_section("k = 1\n; comment\n", &[("k", "1")])]
#[case::two_foreign_sections("[x]\nk=1\n[y]\nk=2\n", &[])]
#[case::empty("", &[])]
#[case::byte_order_mark("\u{feff}[a.tif]\nk=1\r\n", &[("k", "1")])]
#[case::spaces_trimmed("[ a.tif ]\n  k  =  v  \n", &[("k", "v")])]
fn sidecars_written_elsewhere_are_read_leniently(
    #[case] text: &str,
    #[case] expected: &[(&str, &str)],
) {
    assert_eq!(read(&name("a.tif"), text.as_bytes()), Ok(props(expected)));
}

#[rstest]
#[case::not_utf8(b"[a.tif]\nk=\xff\n".to_vec())]
#[case::missing_key(b"[a.tif]\n=v\n".to_vec())]
#[case::too_large(vec![b'#'; MAX_SIDECAR_BYTES + 1])]
fn unreadable_sidecars_are_refused(#[case] bytes: Vec<u8>) {
    let file = name("a.tif");
    assert_eq!(read(&file, &bytes), Err(UnreadableSidecar { file }));
}
