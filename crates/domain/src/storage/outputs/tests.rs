//! The output-path rules, table by table.

use rstest::rstest;

use super::*;

#[rstest]
#[case("", "")]
#[case("20250403T191112825218", "20250403T191112825218")]
#[case("20250403T191112825218/tiles", "20250403T191112825218/tiles")]
#[case("20250403T191112825218/tiles/", "20250403T191112825218/tiles")]
#[case("run 1/région", "run 1/région")]
#[case("..hidden/x", "..hidden/x")]
fn valid_prefixes_name_a_folder(#[case] raw: &str, #[case] folder: &str) {
    let parsed = OutputFolder::parse(raw).expect("a valid prefix");
    assert_eq!(parsed.as_str(), folder);
    assert_eq!(parsed.is_root(), folder.is_empty());
    assert_eq!(
        parsed.path().map(RelativePath::as_str),
        (!folder.is_empty()).then_some(folder)
    );
}

#[rstest]
#[case("/", InvalidPath::Absolute)]
#[case("/etc", InvalidPath::Absolute)]
#[case("//", InvalidPath::Absolute)]
#[case("a//b", InvalidPath::EmptySegment)]
#[case("a//", InvalidPath::EmptySegment)]
#[case("..", InvalidPath::DotSegment)]
#[case("../other-user", InvalidPath::DotSegment)]
#[case("a/../../b", InvalidPath::DotSegment)]
#[case("./a", InvalidPath::DotSegment)]
#[case("a/.", InvalidPath::DotSegment)]
#[case("a/./", InvalidPath::DotSegment)]
#[case("a\\..\\b", InvalidPath::Backslash)]
#[case("a\u{7}b", InvalidPath::ControlCharacter)]
#[case("a\nb", InvalidPath::ControlCharacter)]
#[case("a\u{85}b", InvalidPath::ControlCharacter)]
fn unsafe_prefixes_are_refused(#[case] raw: &str, #[case] why: InvalidPath) {
    assert_eq!(OutputFolder::parse(raw), Err(why));
}

#[test]
fn an_over_long_prefix_is_refused() {
    let longest = "a".repeat(crate::storage::MAX_RELATIVE_PATH_BYTES);
    assert!(OutputFolder::parse(&longest).is_ok());
    assert!(OutputFolder::parse(&format!("{longest}/")).is_ok());
    assert_eq!(
        OutputFolder::parse(&format!("{longest}b")),
        Err(InvalidPath::TooLong)
    );
}

#[rstest]
#[case("result.tif")]
#[case("name with spaces.txt")]
#[case("..hidden")]
#[case(".hidden")]
#[case("a.cfg")]
#[case("名前.txt")]
fn valid_names_are_kept_as_given(#[case] raw: &str) {
    assert_eq!(
        EntryName::parse(raw).map(|name| name.to_string()),
        Ok(raw.to_owned())
    );
}

#[rstest]
#[case("", InvalidPath::Empty)]
#[case(".", InvalidPath::DotSegment)]
#[case("..", InvalidPath::DotSegment)]
#[case("a/b", InvalidPath::Separator)]
#[case("a/", InvalidPath::EmptySegment)]
#[case("/a", InvalidPath::Absolute)]
#[case("a\\b", InvalidPath::Backslash)]
#[case("a\tb", InvalidPath::ControlCharacter)]
#[case("a\0", InvalidPath::ControlCharacter)]
fn unsafe_names_are_refused(#[case] raw: &str, #[case] why: InvalidPath) {
    assert_eq!(EntryName::parse(raw), Err(why));
}

#[test]
fn names_are_at_most_255_bytes() {
    let longest = "é".repeat(MAX_NAME_BYTES / 2) + "a";
    assert_eq!(longest.len(), MAX_NAME_BYTES);
    assert!(EntryName::parse(&longest).is_ok());
    assert_eq!(
        EntryName::parse(&format!("{longest}b")),
        Err(InvalidPath::NameTooLong)
    );
}

#[test]
fn entries_are_joined_below_the_folder() {
    let name = EntryName::parse("b c.tif").expect("a valid name");
    let root = OutputFolder::root();
    let tiles = OutputFolder::parse("run/tiles/").expect("a valid prefix");
    assert_eq!(
        root.entry(&name).map(|p| p.to_string()),
        Ok("b c.tif".into())
    );
    assert_eq!(
        tiles.entry(&name).map(|p| p.to_string()),
        Ok("run/tiles/b c.tif".into())
    );
    let deep = OutputFolder::parse(&"a".repeat(crate::storage::MAX_RELATIVE_PATH_BYTES))
        .expect("a valid prefix");
    assert_eq!(deep.entry(&name), Err(InvalidPath::TooLong));
}
