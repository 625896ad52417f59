//! Tests of the local object store: signed URLs, locations, files, listings, uploads and keys.

use std::path::PathBuf;

use chrono::TimeZone as _;
use percent_encoding::percent_decode_str;
use reefguide_domain::job::JobId;
use reefguide_ports::{StoredObject, SystemClock};
use rstest::{fixture, rstest};
use tempfile::TempDir;

use super::*;

/// The public URL the stores are built with (given with a trailing `/`, which is dropped).
const PUBLIC_URL: &str = "http://localhost:8000";

/// A store under a fresh temporary directory and the location of one assignment in it.
struct Fixture {
    /// Holds the temporary directory (the root is `data/` inside it).
    dir: TempDir,
    /// The store.
    store: LocalObjectStore,
    /// `file://<root>/test/12/1700000000000`.
    location: StorageLocation,
}

#[fixture]
fn fx() -> Fixture {
    let dir = TempDir::new().expect("a temporary directory");
    let store = LocalObjectStore::new(
        &dir.path().join("data"),
        SigningKey::generate(),
        &format!("{PUBLIC_URL}/"),
        Arc::new(SystemClock),
    )
    .expect("the store opens");
    let claimed = Utc
        .timestamp_millis_opt(1_700_000_000_000)
        .single()
        .expect("a valid instant");
    let location = store.base().location_for(
        &reefguide_domain::job::registry::JobTypeName::parse("TEST").expect("valid name"),
        JobId::new(12).expect("a positive id"),
        claimed,
    );
    Fixture {
        dir,
        store,
        location,
    }
}

/// The key of the fixture's location.
const LOCATION_KEY: &str = "test/12/1700000000000";

fn rel(raw: &str) -> RelativePath {
    RelativePath::parse(raw).expect("a valid relative path")
}

/// A location `rest` below the store's root.
fn location_at(store: &LocalObjectStore, rest: &str) -> StorageLocation {
    StorageLocation {
        scheme: StorageScheme::Local,
        uri: format!("{}/{rest}", store.base().root),
    }
}

/// The parts of a signed URL, as the HTTP layer reads them.
#[derive(Debug, Clone)]
struct SignedUrl {
    key: String,
    expires: i64,
    signature: String,
}

fn parse_url(url: &str) -> SignedUrl {
    let rest = url
        .strip_prefix(&format!("{PUBLIC_URL}/api/storage/"))
        .expect("the URL points at the storage endpoint");
    let (path, query) = rest.split_once('?').expect("the URL has a query");
    let key = percent_decode_str(path)
        .decode_utf8()
        .expect("the key is UTF-8")
        .into_owned();
    let (mut expires, mut signature) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=').expect("a name=value pair") {
            ("expires", value) => expires = Some(value.parse().expect("expires is an integer")),
            ("signature", value) => signature = Some(value.to_owned()),
            (other, _) => panic!("unexpected query parameter {other}"),
        }
    }
    SignedUrl {
        key,
        expires: expires.expect("the URL has an expiry"),
        signature: signature.expect("the URL has a signature"),
    }
}

fn authorize(
    store: &LocalObjectStore,
    method: SignedMethod,
    url: &SignedUrl,
) -> Result<PathBuf, SignedUrlError> {
    store.authorize(method, &url.key, url.expires, &url.signature, Utc::now())
}

/// A URL for any key (even one the store would never presign), validly signed by `store`.
fn signed_by(store: &LocalObjectStore, method: SignedMethod, key: &str) -> SignedUrl {
    let expires = Utc::now().timestamp() + 600;
    SignedUrl {
        key: key.to_owned(),
        expires,
        signature: store.inner.key.sign(method, key, expires),
    }
}

/// The files left in `<root>/.uploads/`.
fn pending_uploads(store: &LocalObjectStore) -> Vec<PathBuf> {
    match std::fs::read_dir(store.root().join(UPLOADS_DIR)) {
        Ok(entries) => entries
            .map(|entry| entry.expect("a directory entry").path())
            .collect(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => panic!("cannot read the uploads directory: {error}"),
    }
}

// --- the store itself ---------------------------------------------------------------------

#[test]
fn new_creates_and_canonicalizes_the_root() {
    let dir = TempDir::new().expect("a temporary directory");
    let store = LocalObjectStore::new(
        &dir.path().join("x/../nested/data"),
        SigningKey::generate(),
        PUBLIC_URL,
        Arc::new(SystemClock),
    )
    .expect("the store opens");
    let expected = dir
        .path()
        .canonicalize()
        .expect("canonical")
        .join("nested/data");
    assert_eq!(store.root(), expected);
    assert!(expected.is_dir());
    assert_eq!(
        store.base(),
        StorageBase::new(
            StorageScheme::Local,
            &format!("file://{}", expected.display())
        )
    );
}

#[rstest]
fn locations_are_built_below_the_root(fx: Fixture) {
    assert_eq!(fx.location.scheme, StorageScheme::Local);
    assert_eq!(
        fx.location.uri,
        format!("file://{}/{LOCATION_KEY}", fx.store.root().display())
    );
}

#[rstest]
fn debug_output_hides_the_key(fx: Fixture) {
    let secret = fx.store.inner.key.to_hex();
    let store = format!("{:?}", fx.store);
    let key = format!("{:?}", fx.store.inner.key);
    assert!(
        store.contains(&fx.store.root().display().to_string()),
        "{store}"
    );
    assert!(!store.contains(&secret), "{store}");
    assert!(!key.contains(&secret), "{key}");
}

// --- signed URLs --------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn presigned_get_url_grants_the_file(fx: Fixture) {
    fx.store
        .put(&fx.location, &rel("maps/a b.tif"), b"tif".to_vec())
        .await
        .expect("stored");
    let before = Utc::now().timestamp();
    let url = fx
        .store
        .presign_get(&fx.location, &rel("maps/a b.tif"), PresignExpiry::DEFAULT)
        .await
        .expect("presigned");
    assert!(
        url.starts_with(&format!(
            "{PUBLIC_URL}/api/storage/{LOCATION_KEY}/maps/a%20b.tif?expires="
        )),
        "{url}"
    );
    let signed = parse_url(&url);
    assert_eq!(signed.key, format!("{LOCATION_KEY}/maps/a b.tif"));
    assert!(
        (before + 3_600..=Utc::now().timestamp() + 3_600).contains(&signed.expires),
        "{url}"
    );
    assert_eq!(signed.signature.len(), 64);
    assert!(
        signed
            .signature
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );

    let path = authorize(&fx.store, SignedMethod::Get, &signed).expect("granted");
    assert_eq!(
        path,
        fx.store.root().join(format!("{LOCATION_KEY}/maps/a b.tif"))
    );
    assert_eq!(std::fs::read(&path).expect("the file exists"), b"tif");
}

#[rstest]
#[case::get_url(SignedMethod::Get, SignedMethod::Put)]
#[case::put_url(SignedMethod::Put, SignedMethod::Get)]
#[tokio::test]
async fn signed_urls_grant_only_their_method(
    fx: Fixture,
    #[case] signed_for: SignedMethod,
    #[case] other: SignedMethod,
) {
    let path = rel("out.json");
    let url = match signed_for {
        SignedMethod::Get => {
            fx.store
                .presign_get(&fx.location, &path, PresignExpiry::DEFAULT)
                .await
        }
        SignedMethod::Put => {
            fx.store
                .presign_put(&fx.location, &path, PresignExpiry::DEFAULT)
                .await
        }
    }
    .expect("presigned");
    let signed = parse_url(&url);
    assert_eq!(
        authorize(&fx.store, signed_for, &signed),
        Ok(fx.store.root().join(format!("{LOCATION_KEY}/out.json")))
    );
    assert_eq!(
        authorize(&fx.store, other, &signed),
        Err(SignedUrlError::BadSignature)
    );
}

#[rstest]
#[case::other_file(|url: &mut SignedUrl| url.key = url.key.replace("a.txt", "b.txt"))]
#[case::other_job(|url: &mut SignedUrl| url.key = url.key.replace("/12/", "/13/"))]
#[case::later_expiry(|url: &mut SignedUrl| url.expires += 1)]
#[case::earlier_expiry(|url: &mut SignedUrl| url.expires -= 1)]
#[case::flipped_signature(|url: &mut SignedUrl| {
    let last = if url.signature.ends_with('0') { "1" } else { "0" };
    url.signature.pop();
    url.signature.push_str(last);
})]
#[case::short_signature(|url: &mut SignedUrl| url.signature.truncate(62))]
#[case::long_signature(|url: &mut SignedUrl| url.signature.push_str("00"))]
#[case::non_hex_signature(|url: &mut SignedUrl| url.signature.replace_range(..1, "g"))]
#[case::odd_signature(|url: &mut SignedUrl| url.signature.push('0'))]
#[case::empty_signature(|url: &mut SignedUrl| url.signature.clear())]
#[tokio::test]
async fn tampered_urls_are_refused(fx: Fixture, #[case] tamper: fn(&mut SignedUrl)) {
    let url = fx
        .store
        .presign_get(&fx.location, &rel("a.txt"), PresignExpiry::DEFAULT)
        .await
        .expect("presigned");
    let mut signed = parse_url(&url);
    assert!(authorize(&fx.store, SignedMethod::Get, &signed).is_ok());
    tamper(&mut signed);
    assert_eq!(
        authorize(&fx.store, SignedMethod::Get, &signed),
        Err(SignedUrlError::BadSignature)
    );
}

#[rstest]
#[tokio::test]
async fn only_stores_sharing_the_key_accept_a_url(fx: Fixture) {
    let secret = LocalObjectStore::new(
        fx.store.root(),
        SigningKey::from_secret("shared"),
        PUBLIC_URL,
        Arc::new(SystemClock),
    )
    .expect("the store opens");
    let same_secret = LocalObjectStore::new(
        fx.store.root(),
        SigningKey::from_secret("shared"),
        PUBLIC_URL,
        Arc::new(SystemClock),
    )
    .expect("the store opens");
    let url = secret
        .presign_put(&fx.location, &rel("a.txt"), PresignExpiry::DEFAULT)
        .await
        .expect("presigned");
    let signed = parse_url(&url);
    assert!(authorize(&same_secret, SignedMethod::Put, &signed).is_ok());
    assert_eq!(
        authorize(&fx.store, SignedMethod::Put, &signed),
        Err(SignedUrlError::BadSignature)
    );
}

#[rstest]
#[tokio::test]
async fn expired_urls_are_refused(fx: Fixture) {
    let url = fx
        .store
        .presign_get(
            &fx.location,
            &rel("a.txt"),
            PresignExpiry::from_seconds(60).expect("valid"),
        )
        .await
        .expect("presigned");
    let signed = parse_url(&url);
    let at = |seconds: i64| Utc.timestamp_opt(seconds, 0).single().expect("valid");
    let check = |now| {
        fx.store.authorize(
            SignedMethod::Get,
            &signed.key,
            signed.expires,
            &signed.signature,
            now,
        )
    };
    assert!(check(at(signed.expires)).is_ok());
    assert_eq!(check(at(signed.expires + 1)), Err(SignedUrlError::Expired));
    // The signature is checked first: a forged URL is refused as such even once expired.
    assert_eq!(
        fx.store.authorize(
            SignedMethod::Get,
            &signed.key,
            signed.expires,
            "00",
            at(signed.expires + 1)
        ),
        Err(SignedUrlError::BadSignature)
    );
}

#[rstest]
#[case::parent("../outside/file")]
#[case::escaping("test/../../outside")]
#[case::dot("test/./file")]
#[case::absolute("/etc/passwd")]
#[case::empty_segment("test//file")]
#[case::trailing_slash("test/12/")]
#[case::single_segment("file")]
#[case::empty("")]
#[case::backslash("test\\..\\file/x")]
#[case::control("test/a\nb")]
#[case::uploads(".uploads/0123.part")]
fn unsafe_keys_are_refused(fx: Fixture, #[case] key: &str) {
    for method in [SignedMethod::Get, SignedMethod::Put] {
        assert_eq!(
            authorize(&fx.store, method, &signed_by(&fx.store, method, key)),
            Err(SignedUrlError::InvalidPath),
            "{key}"
        );
    }
}

#[rstest]
fn keys_of_files_not_yet_written_are_granted(fx: Fixture) {
    let key = format!("{LOCATION_KEY}/deep/new/file.bin");
    assert_eq!(
        authorize(
            &fx.store,
            SignedMethod::Put,
            &signed_by(&fx.store, SignedMethod::Put, &key)
        ),
        Ok(fx.store.root().join(key))
    );
}

#[cfg(unix)]
#[rstest]
#[tokio::test]
async fn nothing_is_served_through_symbolic_links(fx: Fixture) {
    let outside = fx.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("created");
    std::fs::write(outside.join("secret"), b"secret").expect("written");
    let dir = fx.store.root().join(LOCATION_KEY);
    std::fs::create_dir_all(&dir).expect("created");
    std::os::unix::fs::symlink(&outside, dir.join("linked")).expect("linked");
    std::os::unix::fs::symlink(outside.join("secret"), dir.join("file-link")).expect("linked");
    std::fs::write(dir.join("real.txt"), b"real").expect("written");

    for key in ["linked/secret", "linked/new", "file-link"] {
        let key = format!("{LOCATION_KEY}/{key}");
        for method in [SignedMethod::Get, SignedMethod::Put] {
            assert_eq!(
                authorize(&fx.store, method, &signed_by(&fx.store, method, &key)),
                Err(SignedUrlError::InvalidPath),
                "{key}"
            );
        }
    }
    let listing = fx
        .store
        .list(&fx.location, None, 100)
        .await
        .expect("listed");
    assert_eq!(
        listing.objects,
        vec![StoredObject {
            path: rel("real.txt"),
            size: 4
        }]
    );
    assert!(matches!(
        fx.store.get(&fx.location, &rel("file-link")).await,
        Err(ObjectStoreError::Backend(_))
    ));
    assert!(matches!(
        fx.store
            .put(&fx.location, &rel("linked/new"), b"x".to_vec())
            .await,
        Err(ObjectStoreError::Backend(_))
    ));
    assert!(!outside.join("new").exists());

    // A location whose directory is itself a link is not listed either.
    std::os::unix::fs::symlink(&outside, fx.store.root().join("test/99")).expect("linked");
    assert!(matches!(
        fx.store
            .list(&location_at(&fx.store, "test/99"), None, 100)
            .await,
        Err(ObjectStoreError::Backend(_))
    ));
}

// --- locations ----------------------------------------------------------------------------

#[rstest]
#[case::s3_scheme(|base: &str| (StorageScheme::S3, format!("{base}/{LOCATION_KEY}")))]
#[case::s3_uri(|_: &str| (StorageScheme::Local, format!("s3://bucket/{LOCATION_KEY}")))]
#[case::other_root(|_: &str| (StorageScheme::Local, format!("file:///elsewhere/{LOCATION_KEY}")))]
#[case::sibling_root(|base: &str| (StorageScheme::Local, format!("{base}x/{LOCATION_KEY}")))]
#[case::bare_root(|base: &str| (StorageScheme::Local, base.to_owned()))]
#[case::root_with_slash(|base: &str| (StorageScheme::Local, format!("{base}/")))]
#[case::parent(|base: &str| (StorageScheme::Local, format!("{base}/../x")))]
#[case::nested_parent(|base: &str| (StorageScheme::Local, format!("{base}/test/../../x")))]
#[case::trailing_slash(|base: &str| (StorageScheme::Local, format!("{base}/{LOCATION_KEY}/")))]
#[case::uploads(|base: &str| (StorageScheme::Local, format!("{base}/.uploads/x")))]
#[tokio::test]
async fn foreign_locations_are_refused(
    fx: Fixture,
    #[case] make: fn(&str) -> (StorageScheme, String),
) {
    let (scheme, uri) = make(&fx.store.base().root);
    let location = StorageLocation {
        scheme,
        uri: uri.clone(),
    };
    let path = rel("a.txt");
    let expiry = PresignExpiry::DEFAULT;
    let foreign = |result: Result<(), ObjectStoreError>, operation: &str| {
        assert!(
            matches!(&result, Err(ObjectStoreError::ForeignLocation(refused)) if *refused == uri),
            "{operation} {uri}: {result:?}"
        );
    };
    foreign(fx.store.list(&location, None, 10).await.map(drop), "list");
    foreign(
        fx.store
            .presign_get(&location, &path, expiry)
            .await
            .map(drop),
        "presign_get",
    );
    foreign(
        fx.store
            .presign_put(&location, &path, expiry)
            .await
            .map(drop),
        "presign_put",
    );
    foreign(fx.store.put(&location, &path, b"x".to_vec()).await, "put");
    foreign(fx.store.get(&location, &path).await.map(drop), "get");
    assert!(pending_uploads(&fx.store).is_empty());
}

// --- files --------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn put_then_get_round_trips_and_replaces(fx: Fixture) {
    let path = rel("maps/region 1/suitability.tif");
    fx.store
        .put(&fx.location, &path, b"first".to_vec())
        .await
        .expect("stored");
    assert_eq!(
        fx.store.get(&fx.location, &path).await.expect("read"),
        b"first"
    );
    fx.store
        .put(&fx.location, &path, b"second, longer".to_vec())
        .await
        .expect("replaced");
    assert_eq!(
        fx.store.get(&fx.location, &path).await.expect("read"),
        b"second, longer"
    );
    assert_eq!(
        std::fs::read(
            fx.store
                .root()
                .join(format!("{LOCATION_KEY}/maps/region 1/suitability.tif"))
        )
        .expect("the file is where its key says"),
        b"second, longer"
    );
    assert!(pending_uploads(&fx.store).is_empty());
}

#[rstest]
#[tokio::test]
async fn get_of_a_missing_file_is_not_found(fx: Fixture) {
    fx.store
        .put(&fx.location, &rel("present.txt"), b"x".to_vec())
        .await
        .expect("stored");
    assert!(matches!(
        fx.store.get(&fx.location, &rel("missing.txt")).await,
        Err(ObjectStoreError::NotFound(path)) if path == "missing.txt"
    ));
}

// --- listings -----------------------------------------------------------------------------

/// Stores the files used by the listing tests, in no particular order.
async fn store_sample_files(fx: &Fixture) {
    for (path, bytes) in [
        ("maps/region.tif", "12345"),
        ("b.txt", "12"),
        ("a/z.bin", "123"),
        ("maps/reg/x", "1234"),
        ("a/b/c.txt", "1"),
    ] {
        fx.store
            .put(&fx.location, &rel(path), bytes.as_bytes().to_vec())
            .await
            .expect("stored");
    }
}

fn object(path: &str, size: u64) -> StoredObject {
    StoredObject {
        path: rel(path),
        size,
    }
}

#[rstest]
#[tokio::test]
async fn list_is_recursive_sorted_and_sized(fx: Fixture) {
    store_sample_files(&fx).await;
    let listing = fx
        .store
        .list(&fx.location, None, 100)
        .await
        .expect("listed");
    assert_eq!(
        listing,
        Listing {
            objects: vec![
                object("a/b/c.txt", 1),
                object("a/z.bin", 3),
                object("b.txt", 2),
                object("maps/reg/x", 4),
                object("maps/region.tif", 5),
            ],
            truncated: false,
        }
    );
}

#[rstest]
#[tokio::test]
async fn list_excludes_sibling_prefixes(fx: Fixture) {
    let location = location_at(&fx.store, "test/12/1");
    let sibling = location_at(&fx.store, "test/12/10");
    fx.store
        .put(&location, &rel("mine.txt"), b"1".to_vec())
        .await
        .expect("stored");
    fx.store
        .put(&sibling, &rel("theirs.txt"), b"22".to_vec())
        .await
        .expect("stored");
    let listing = fx.store.list(&location, None, 100).await.expect("listed");
    assert_eq!(listing.objects, vec![object("mine.txt", 1)]);
    let filtered = fx
        .store
        .list(
            &location,
            Some(FilterPrefix::parse("t").expect("valid")),
            100,
        )
        .await
        .expect("listed");
    assert_eq!(filtered, Listing::default());
}

#[rstest]
#[case::folder("maps/", &["maps/reg/x", "maps/region.tif"])]
#[case::part_of_a_name("maps/reg", &["maps/reg/x", "maps/region.tif"])]
#[case::nested_folder("maps/reg/", &["maps/reg/x"])]
#[case::deep("a/b", &["a/b/c.txt"])]
#[case::whole_name("b.txt", &["b.txt"])]
#[case::first_letter("a", &["a/b/c.txt", "a/z.bin"])]
#[case::nothing("zzz", &[])]
#[tokio::test]
async fn list_applies_the_filter(fx: Fixture, #[case] filter: &str, #[case] expected: &[&str]) {
    store_sample_files(&fx).await;
    let listing = fx
        .store
        .list(
            &fx.location,
            Some(FilterPrefix::parse(filter).expect("valid")),
            100,
        )
        .await
        .expect("listed");
    let paths: Vec<&str> = listing.objects.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, expected);
    assert!(!listing.truncated);
}

#[rstest]
#[case(0, false)]
#[case(2, false)]
#[case(4, false)]
#[case(5, true)]
#[case(100, true)]
#[tokio::test]
async fn list_stops_at_the_limit(fx: Fixture, #[case] limit: usize, #[case] all: bool) {
    store_sample_files(&fx).await;
    let listing = fx
        .store
        .list(&fx.location, None, limit)
        .await
        .expect("listed");
    let everything = [
        "a/b/c.txt",
        "a/z.bin",
        "b.txt",
        "maps/reg/x",
        "maps/region.tif",
    ];
    let paths: Vec<&str> = listing.objects.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, everything[..limit.min(everything.len())]);
    assert_eq!(listing.truncated, !all);
}

#[rstest]
#[tokio::test]
async fn list_of_a_missing_directory_is_empty(fx: Fixture) {
    assert_eq!(
        fx.store
            .list(&fx.location, None, 100)
            .await
            .expect("listed"),
        Listing::default()
    );
}

#[cfg(unix)]
#[rstest]
#[tokio::test]
async fn list_skips_names_that_are_not_relative_paths(fx: Fixture) {
    use std::os::unix::ffi::OsStrExt as _;

    fx.store
        .put(&fx.location, &rel("good.txt"), b"1".to_vec())
        .await
        .expect("stored");
    let dir = fx.store.root().join(LOCATION_KEY);
    std::fs::write(dir.join("back\\slash"), b"x").expect("written");
    std::fs::write(
        dir.join(std::ffi::OsStr::from_bytes(b"not-utf8-\xff")),
        b"x",
    )
    .expect("written");
    let listing = fx
        .store
        .list(&fx.location, None, 100)
        .await
        .expect("listed");
    assert_eq!(listing.objects, vec![object("good.txt", 1)]);
}

// --- one level ----------------------------------------------------------------------------

/// The names of a level's folders and files.
fn level_names(level: &Level) -> (Vec<&str>, Vec<&str>) {
    (
        level.folders.iter().map(|f| f.as_str()).collect(),
        level.files.iter().map(|f| f.name.as_str()).collect(),
    )
}

#[cfg(unix)]
#[rstest]
#[tokio::test]
async fn list_level_never_follows_symbolic_links(fx: Fixture) {
    let outside = fx.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("sub")).expect("created");
    std::fs::write(outside.join("sub/secret"), b"secret").expect("written");
    let dir = fx.store.root().join(LOCATION_KEY);
    std::fs::create_dir_all(dir.join("maps")).expect("created");
    std::fs::write(dir.join("maps/a.tif"), b"a").expect("written");
    std::fs::write(dir.join("real.txt"), b"real").expect("written");
    std::os::unix::fs::symlink(&outside, dir.join("linked")).expect("linked");
    std::os::unix::fs::symlink(outside.join("sub/secret"), dir.join("file-link")).expect("linked");
    // A real folder whose only content is a link holds no file.
    std::fs::create_dir_all(dir.join("only-link")).expect("created");
    std::os::unix::fs::symlink(&outside, dir.join("only-link/l")).expect("linked");

    let level = fx
        .store
        .list_level(&fx.location, None)
        .await
        .expect("listed");
    assert_eq!(level_names(&level), (vec!["maps"], vec!["real.txt"]));
    for through_link in ["linked", "linked/sub", "only-link/l"] {
        let level = fx
            .store
            .list_level(&fx.location, Some(rel(through_link)))
            .await
            .expect("listed");
        assert_eq!(level, Level::default(), "{through_link}");
    }
    // A location whose directory is itself a link holds nothing either.
    std::os::unix::fs::symlink(&outside, fx.store.root().join("test/99")).expect("linked");
    let level = fx
        .store
        .list_level(&location_at(&fx.store, "test/99"), Some(rel("sub")))
        .await
        .expect("listed");
    assert_eq!(level, Level::default());
}

#[cfg(unix)]
#[rstest]
#[tokio::test]
async fn list_level_hides_empty_folders_and_invalid_names(fx: Fixture) {
    let dir = fx.store.root().join(LOCATION_KEY);
    for folder in [
        "empty",
        "nested/empty/inside",
        "deep/x/y",
        "back\\slash-dir",
    ] {
        std::fs::create_dir_all(dir.join(folder)).expect("created");
    }
    std::fs::write(dir.join("deep/x/y/z.txt"), b"z").expect("written");
    std::fs::write(dir.join("back\\slash-dir/f"), b"f").expect("written");
    std::fs::write(dir.join("back\\slash"), b"x").expect("written");
    std::fs::write(dir.join("top.bin"), b"12345").expect("written");

    let level = fx
        .store
        .list_level(&fx.location, None)
        .await
        .expect("listed");
    assert_eq!(level_names(&level), (vec!["deep"], vec!["top.bin"]));
    assert_eq!(level.files[0].size, 5);
    let modified = level.files[0].last_modified.expect("a modification time");
    assert!(
        (Utc::now() - modified).num_minutes().abs() < 5,
        "{modified}"
    );
    let empty = fx
        .store
        .list_level(&fx.location, Some(rel("nested")))
        .await
        .expect("listed");
    assert_eq!(empty, Level::default());
}

#[rstest]
#[tokio::test]
async fn list_level_of_a_missing_folder_or_a_file_is_empty(fx: Fixture) {
    fx.store
        .put(&fx.location, &rel("a.txt"), b"1".to_vec())
        .await
        .expect("stored");
    for folder in [Some("missing"), Some("a.txt"), Some("a.txt/below")] {
        let level = fx
            .store
            .list_level(&fx.location, folder.map(rel))
            .await
            .expect("listed");
        assert_eq!(level, Level::default(), "{folder:?}");
    }
    let elsewhere = location_at(&fx.store, "test/12/none");
    let level = fx.store.list_level(&elsewhere, None).await.expect("listed");
    assert_eq!(level, Level::default());
}

// --- uploads ------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn uploads_appear_only_when_finished(fx: Fixture) {
    let key = format!("{LOCATION_KEY}/out/data.bin");
    let path = authorize(
        &fx.store,
        SignedMethod::Put,
        &signed_by(&fx.store, SignedMethod::Put, &key),
    )
    .expect("granted");
    let mut upload = fx.store.begin_upload(&path).await.expect("begun");
    upload.write_chunk(b"hello ").await.expect("written");
    upload.write_chunk(b"").await.expect("written");
    upload.write_chunk(b"world").await.expect("written");
    assert!(!path.exists());
    assert_eq!(pending_uploads(&fx.store).len(), 1);

    assert_eq!(upload.finish().await.expect("finished"), 11);
    assert_eq!(
        std::fs::read(&path).expect("the file exists"),
        b"hello world"
    );
    assert!(pending_uploads(&fx.store).is_empty());
    assert_eq!(
        fx.store
            .get(&fx.location, &rel("out/data.bin"))
            .await
            .expect("read"),
        b"hello world"
    );
}

#[rstest]
#[tokio::test]
async fn dropped_uploads_leave_nothing_behind(fx: Fixture) {
    let path = fx.store.root().join(format!("{LOCATION_KEY}/out/data.bin"));
    let mut upload = fx.store.begin_upload(&path).await.expect("begun");
    upload.write_chunk(b"partial").await.expect("written");
    assert_eq!(pending_uploads(&fx.store).len(), 1);
    drop(upload);
    assert!(pending_uploads(&fx.store).is_empty());
    assert!(!path.exists());
    assert!(!path.parent().expect("has a parent").exists());
}

#[rstest]
#[tokio::test]
async fn uploads_outside_the_root_are_refused(fx: Fixture) {
    for path in [
        fx.dir.path().join("elsewhere.bin"),
        fx.store.root().join(".uploads/x.part"),
    ] {
        let error = fx.store.begin_upload(&path).await.expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{path:?}");
    }
    assert!(pending_uploads(&fx.store).is_empty());
}

// --- key files ----------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn key_files_are_created_then_reloaded(fx: Fixture) {
    let file = fx.dir.path().join("secrets/nested/signing.key");
    let (created, was_created) = SigningKey::load_or_create(&file).expect("created");
    assert!(was_created);
    let (loaded, was_created) = SigningKey::load_or_create(&file).expect("loaded");
    assert!(!was_created);
    assert_eq!(
        created.sign(SignedMethod::Get, "a/b", 7),
        loaded.sign(SignedMethod::Get, "a/b", 7)
    );
    assert_ne!(
        created.sign(SignedMethod::Get, "a/b", 7),
        fx.store.inner.key.sign(SignedMethod::Get, "a/b", 7)
    );

    let first = LocalObjectStore::new(fx.store.root(), created, PUBLIC_URL, Arc::new(SystemClock))
        .expect("opens");
    let second = LocalObjectStore::new(fx.store.root(), loaded, PUBLIC_URL, Arc::new(SystemClock))
        .expect("opens");
    let url = first
        .presign_put(&fx.location, &rel("a.txt"), PresignExpiry::DEFAULT)
        .await
        .expect("presigned");
    assert!(authorize(&second, SignedMethod::Put, &parse_url(&url)).is_ok());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[rstest]
#[case::not_hex("not a key")]
#[case::too_short("abcd")]
#[case::too_long(&"ab".repeat(33))]
#[case::empty("")]
fn key_files_with_bad_content_are_invalid_data(#[case] content: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    let file = dir.path().join("signing.key");
    std::fs::write(&file, content).expect("written");
    let error = SigningKey::load_or_create(&file).expect_err("refused");
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        content,
        "a bad key file is never overwritten"
    );
}
