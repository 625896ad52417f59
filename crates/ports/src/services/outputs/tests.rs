//! Unit tests of [`OutputBrowser`] against a mocked object store.

use std::sync::Mutex;

use chrono::TimeZone as _;
use reefguide_domain::storage::properties::InvalidEdit;
use rstest::rstest;
use serde_json::json;

use super::*;
use crate::object_store::MockObjectStore;

/// The staging location of the tests, and Ana's root below it.
const STAGING: &str = "s3://staging-bucket/outputs";
const ANA: &str = "s3://staging-bucket/outputs/ana";

/// Sidecar writes a store received: (location URI, path, content).
type Puts = Arc<Mutex<Vec<(String, String, String)>>>;

fn browser(store: MockObjectStore) -> OutputBrowser {
    browser_over(store, STAGING)
}

fn browser_over(store: MockObjectStore, staging: &str) -> OutputBrowser {
    OutputBrowser::new(
        Arc::new(store),
        DataLocation::parse(staging).expect("a valid staging location"),
        LocalRoot::new("/srv/data"),
    )
}

fn name(raw: &str) -> EntryName {
    EntryName::parse(raw).expect("a valid name")
}

fn modified() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 3, 19, 11, 12)
        .single()
        .expect("a valid time")
}

/// A level of `folders` and `files` (name, size).
fn level(folders: &[&str], files: &[(&str, u64)]) -> Level {
    Level {
        folders: folders.iter().map(|f| name(f)).collect(),
        files: files
            .iter()
            .map(|&(file, size)| LevelFile {
                name: name(file),
                size,
                last_modified: Some(modified()),
            })
            .collect(),
    }
}

/// A store whose one folder of Ana's, `folder` below her root, holds `listed`, whose files'
/// contents are `contents` (path below Ana's root → text), and that records sidecar writes.
fn store(
    folder: Option<&str>,
    listed: Level,
    contents: &[(&str, &str)],
) -> (MockObjectStore, Puts) {
    store_at(ANA, folder, listed, contents)
}

fn store_at(
    location: &'static str,
    folder: Option<&str>,
    listed: Level,
    contents: &[(&str, &str)],
) -> (MockObjectStore, Puts) {
    let mut store = MockObjectStore::new();
    let folder = folder.map(str::to_owned);
    store
        .expect_list_level()
        .withf(move |at, asked| {
            at.uri == location && asked.as_ref().map(RelativePath::as_str) == folder.as_deref()
        })
        .times(1)
        .returning(move |_, _| Ok(listed.clone()));
    store
        .expect_presign_get()
        .withf(move |at, _, _| at.uri == location)
        .returning(|at, path, expiry| {
            Ok(format!("{}/{path}?expires={}", at.uri, expiry.seconds()))
        });
    let contents: BTreeMap<String, Vec<u8>> = contents
        .iter()
        .map(|&(path, text)| (path.to_owned(), text.as_bytes().to_vec()))
        .collect();
    store
        .expect_get()
        .withf(move |at, _| at.uri == location)
        .returning(move |_, path| {
            contents
                .get(path.as_str())
                .cloned()
                .ok_or_else(|| ObjectStoreError::NotFound(path.to_string()))
        });
    let puts = Puts::default();
    let recorded = Arc::clone(&puts);
    store.expect_put().returning(move |at, path, bytes| {
        let text = String::from_utf8(bytes).expect("a UTF-8 sidecar");
        recorded
            .lock()
            .expect("the lock")
            .push((at.uri.clone(), path.to_string(), text));
        Ok(())
    });
    (store, puts)
}

fn puts(puts: &Puts) -> Vec<(String, String, String)> {
    let mut puts = puts.lock().expect("the lock").clone();
    puts.sort();
    puts
}

/// A properties request from JSON.
fn request(value: Value) -> BTreeMap<String, BTreeMap<String, Value>> {
    serde_json::from_value(value).expect("a request of the right shape")
}

fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|&(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// browse

#[tokio::test]
async fn the_root_lists_folders_and_files_with_urls_and_sidecar_properties() {
    let listed = level(
        &["20250403T191112825218", "older run"],
        &[
            ("a.tif", 10),
            ("a.tif.cfg", 30),
            ("b c.txt", 0),
            ("orphan.tif.cfg", 5),
        ],
    );
    let (store, _) = store(
        None,
        listed,
        &[("a.tif.cfg", "[a.tif]\nreviewed=true\nSite=Moore Reef\n")],
    );
    let folder = browser(store).browse("ana", "").await.expect("the root");
    assert_eq!(
        folder,
        Folder {
            prefix: OutputFolder::root(),
            folders: vec![name("20250403T191112825218"), name("older run")],
            files: vec![
                FileEntry {
                    name: name("a.tif"),
                    size: 10,
                    last_modified: Some(modified()),
                    href: format!("{ANA}/a.tif?expires=3600"),
                    properties: Some(props(&[("Site", "Moore Reef"), ("reviewed", "true")])),
                },
                FileEntry {
                    name: name("b c.txt"),
                    size: 0,
                    last_modified: Some(modified()),
                    href: format!("{ANA}/b c.txt?expires=3600"),
                    properties: None,
                },
            ],
        }
    );
}

#[tokio::test]
async fn a_nested_prefix_lists_that_folder_and_names_files_below_it() {
    let listed = level(&["deep"], &[("x.png", 3), ("x.png.cfg", 1)]);
    let (store, _) = store(
        Some("20250403T191112825218/tiles"),
        listed,
        &[("20250403T191112825218/tiles/x.png.cfg", "[x.png]\nzoom=3\n")],
    );
    let browser = browser(store).with_expiry(PresignExpiry::from_seconds(60).expect("valid"));
    let folder = browser
        .browse("ana", "20250403T191112825218/tiles/")
        .await
        .expect("the folder");
    assert_eq!(folder.prefix.as_str(), "20250403T191112825218/tiles");
    assert_eq!(folder.folders, [name("deep")]);
    assert_eq!(folder.files.len(), 1);
    assert_eq!(
        folder.files[0].href,
        format!("{ANA}/20250403T191112825218/tiles/x.png?expires=60")
    );
    assert_eq!(folder.files[0].properties, Some(props(&[("zoom", "3")])));
}

#[tokio::test]
async fn an_empty_root_is_an_empty_folder() {
    let (store, _) = store(None, Level::default(), &[]);
    let folder = browser(store).browse("ana", "").await.expect("the root");
    assert_eq!(folder.prefix, OutputFolder::root());
    assert!(folder.folders.is_empty() && folder.files.is_empty());
}

#[tokio::test]
async fn an_empty_folder_below_the_root_is_not_found() {
    let (store, _) = store(Some("nothing/here"), Level::default(), &[]);
    let got = browser(store).browse("ana", "nothing/here").await;
    assert!(
        matches!(&got, Err(OutputError::NotFound(p)) if p == "nothing/here"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_folder_of_sidecars_only_is_listed_empty() {
    let (store, _) = store(Some("run"), level(&[], &[("gone.tif.cfg", 3)]), &[]);
    let folder = browser(store)
        .browse("ana", "run")
        .await
        .expect("the folder");
    assert!(folder.files.is_empty());
}

#[tokio::test]
async fn unreadable_or_vanished_sidecars_give_no_properties() {
    let listed = level(&[], &[("a", 1), ("a.cfg", 1), ("b", 1), ("b.cfg", 1)]);
    let (store, _) = store(None, listed, &[("a.cfg", "[a]\n=no key\n")]);
    let folder = browser(store).browse("ana", "").await.expect("the root");
    let properties: Vec<_> = folder.files.iter().map(|f| f.properties.clone()).collect();
    assert_eq!(properties, [None, None]);
}

#[tokio::test]
async fn a_local_staging_location_is_resolved_below_the_local_root() {
    let (store, _) = store_at(
        "file:///srv/data/staging/ana",
        None,
        level(&[], &[("a", 1)]),
        &[],
    );
    let folder = browser_over(store, "local://staging")
        .browse("ana", "")
        .await
        .expect("the root");
    assert_eq!(
        folder.files[0].href,
        "file:///srv/data/staging/ana/a?expires=3600"
    );
}

#[tokio::test]
async fn a_store_failure_is_reported() {
    let mut store = MockObjectStore::new();
    store
        .expect_list_level()
        .returning(|_, _| Err(ObjectStoreError::Backend(anyhow::anyhow!("down"))));
    let got = browser(store).browse("ana", "").await;
    assert!(matches!(got, Err(OutputError::Store(_))), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// paths and usernames: checked before the store is asked anything

#[rstest]
#[case("..", InvalidPath::DotSegment)]
#[case("../bob", InvalidPath::DotSegment)]
#[case("run/../../bob", InvalidPath::DotSegment)]
#[case("./run", InvalidPath::DotSegment)]
#[case("run//tiles", InvalidPath::EmptySegment)]
#[case("/bob", InvalidPath::Absolute)]
#[case("/", InvalidPath::Absolute)]
#[case("run\\..\\..\\bob", InvalidPath::Backslash)]
#[case("run\n", InvalidPath::ControlCharacter)]
#[tokio::test]
async fn unsafe_prefixes_are_refused(#[case] prefix: &str, #[case] why: InvalidPath) {
    let browser = browser(MockObjectStore::new());
    let got = browser.browse("ana", prefix).await;
    assert!(
        matches!(got, Err(OutputError::BadPath(w)) if w == why),
        "{got:?}"
    );
    let got = browser
        .update_properties("ana", prefix, request(json!({"a.tif": {"k": 1}})))
        .await;
    assert!(
        matches!(got, Err(OutputError::BadPath(w)) if w == why),
        "{got:?}"
    );
}

#[rstest]
#[case("")]
#[case(" ")]
#[case(".")]
#[case("..")]
#[case("ana/bob")]
#[case("..\\bob")]
#[case("ana\u{0}")]
#[tokio::test]
async fn unusable_usernames_are_refused(#[case] username: &str) {
    let browser = browser(MockObjectStore::new());
    let got = browser.browse(username, "").await;
    assert!(
        matches!(got, Err(OutputError::UnusableUsername(_))),
        "{got:?}"
    );
    let got = browser
        .update_properties(username, "", request(json!({"a.tif": {"k": 1}})))
        .await;
    assert!(
        matches!(got, Err(OutputError::UnusableUsername(_))),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_prefix_naming_another_user_stays_inside_the_callers_folder() {
    // `bob` as a prefix is a folder *below Ana's root*, never Bob's root.
    let (store, _) = store(Some("bob"), Level::default(), &[]);
    let got = browser(store).browse("ana", "bob").await;
    assert!(matches!(got, Err(OutputError::NotFound(_))), "{got:?}");
}

#[tokio::test]
async fn an_email_username_names_the_folder() {
    let (store, _) = store_at(
        "s3://staging-bucket/outputs/ana@example.com",
        None,
        Level::default(),
        &[],
    );
    let folder = browser(store).browse("ana@example.com", "").await;
    assert!(folder.is_ok(), "{folder:?}");
}

// ---------------------------------------------------------------------------------------------
// update_properties

#[tokio::test]
async fn properties_are_merged_into_existing_sidecars_and_new_ones_written() {
    let listed = level(&["sub"], &[("a.tif", 1), ("a.tif.cfg", 1), ("b c.tif", 1)]);
    let (store, written) = store(
        Some("run"),
        listed,
        &[("run/a.tif.cfg", "[a.tif]\nold=1\nkeep=yes\n")],
    );
    let updated = browser(store)
        .update_properties(
            "ana",
            "run/",
            request(json!({
                "a.tif": {"old": 2, "new": true},
                "b c.tif": {"Site Name": "Moore Reef"},
            })),
        )
        .await
        .expect("the update");
    assert_eq!(updated, [name("a.tif"), name("b c.tif")]);
    assert_eq!(
        puts(&written),
        [
            (
                ANA.to_owned(),
                "run/a.tif.cfg".to_owned(),
                "[a.tif]\nkeep=yes\nnew=true\nold=2\n".to_owned()
            ),
            (
                ANA.to_owned(),
                "run/b c.tif.cfg".to_owned(),
                "[b c.tif]\nSite Name=Moore Reef\n".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_missing_file_is_named_and_nothing_is_written() {
    let listed = level(&[], &[("a.tif", 1), ("orphan.tif.cfg", 1)]);
    let (store, written) = store(None, listed, &[]);
    let got = browser(store)
        .update_properties(
            "ana",
            "",
            request(json!({"a.tif": {"k": 1}, "orphan.tif": {"k": 2}, "z.tif": {"k": 3}})),
        )
        .await;
    assert!(
        matches!(&got, Err(OutputError::MissingFile(n)) if n.as_str() == "orphan.tif"),
        "{got:?}"
    );
    assert!(puts(&written).is_empty());
}

#[tokio::test]
async fn a_sub_folder_is_no_file() {
    let (store, written) = store(None, level(&["run"], &[]), &[]);
    let got = browser(store)
        .update_properties("ana", "", request(json!({"run": {"k": 1}})))
        .await;
    assert!(matches!(got, Err(OutputError::MissingFile(_))), "{got:?}");
    assert!(puts(&written).is_empty());
}

#[tokio::test]
async fn an_unreadable_sidecar_stops_the_update_before_any_write() {
    let listed = level(&[], &[("a", 1), ("b", 1), ("b.cfg", 1)]);
    let (store, written) = store(None, listed, &[("b.cfg", "[b]\n=broken\n")]);
    let got = browser(store)
        .update_properties("ana", "", request(json!({"a": {"k": 1}, "b": {"k": 2}})))
        .await;
    assert!(
        matches!(&got, Err(OutputError::UnreadableSidecar(e)) if e.file.as_str() == "b"),
        "{got:?}"
    );
    assert!(puts(&written).is_empty());
}

#[tokio::test]
async fn an_invalid_request_is_refused_before_the_store_is_asked() {
    let browser = browser(MockObjectStore::new());
    let cases = [
        json!({"a.tif": {"k": [1, 2]}}),
        json!({"a.tif": {"k": null}}),
        json!({"a.tif": {"k": {"nested": 1}}}),
        json!({"a/b.tif": {"k": 1}}),
        json!({"..": {"k": 1}}),
        json!({"a.tif.cfg": {"k": 1}}),
        json!({"a.tif": {"bad=key": 1}}),
    ];
    for body in cases {
        let got = browser
            .update_properties("ana", "", request(body.clone()))
            .await;
        assert!(
            matches!(got, Err(OutputError::BadEdit(_))),
            "{body}: {got:?}"
        );
    }
    let got = browser
        .update_properties("ana", "", request(json!({"a.tif": {"ok": 1, "k": [1]}})))
        .await;
    assert!(
        matches!(
            &got,
            Err(OutputError::BadEdit(InvalidEdit::BadValue { file, key }))
                if file.as_str() == "a.tif" && key == "k"
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn updating_in_a_missing_folder_is_not_found() {
    let (store, written) = store(Some("gone"), Level::default(), &[]);
    let got = browser(store)
        .update_properties("ana", "gone", request(json!({"a": {"k": 1}})))
        .await;
    assert!(matches!(got, Err(OutputError::NotFound(_))), "{got:?}");
    assert!(puts(&written).is_empty());
}

#[tokio::test]
async fn an_empty_request_updates_nothing() {
    let (store, written) = store(None, level(&[], &[("a", 1)]), &[]);
    let got = browser(store)
        .update_properties("ana", "", BTreeMap::new())
        .await
        .expect("an empty update");
    assert!(got.is_empty());
    assert!(puts(&written).is_empty());
}

#[tokio::test]
async fn a_failed_write_is_reported() {
    let mut store = MockObjectStore::new();
    store
        .expect_list_level()
        .returning(|_, _| Ok(level(&[], &[("a", 1)])));
    store
        .expect_put()
        .returning(|_, _, _| Err(ObjectStoreError::Backend(anyhow::anyhow!("full"))));
    let got = browser(store)
        .update_properties("ana", "", request(json!({"a": {"k": 1}})))
        .await;
    assert!(matches!(got, Err(OutputError::Store(_))), "{got:?}");
}
