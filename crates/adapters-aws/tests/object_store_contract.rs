//! The object-store contract: every promise of [`ObjectStore`], checked through
//! `Arc<dyn ObjectStore>` against each adapter — the local store under a temporary directory and
//! S3 against the emulator named by `S3_ENDPOINT_URL` (`cargo xtask test` starts moto and sets
//! it; without it the S3 cases fail rather than skip).
//!
//! "Fetching" a presigned URL means a real HTTP request for S3; for the local store (whose URLs
//! only the HTTP layer serves) it means what that layer does: decode the key, ask
//! [`LocalObjectStore::authorize`] and read or write the file it grants.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_s3::config::{Credentials, Region};
use chrono::{DateTime, TimeZone as _, Utc};
use reefguide_adapters_aws::{LocalObjectStore, S3ObjectStore, S3Settings, SigningKey};
use reefguide_domain::job::{JobId, StorageLocation, StorageScheme};
use reefguide_domain::storage::{FilterPrefix, PresignExpiry, RelativePath};
use reefguide_ports::object_store::Level;
use reefguide_ports::{
    Listing, ObjectStore, ObjectStoreError, SignedMethod, StoredObject, SystemClock,
};
use rstest::rstest;
use tempfile::TempDir;
use tokio::task::JoinSet;

/// The public URL the local store signs URLs for (nothing listens there).
const LOCAL_PUBLIC_URL: &str = "http://127.0.0.1:9";

/// The adapter under test.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Local,
    S3,
}

/// How a backend's presigned URLs are used, and what it must keep alive.
enum Access {
    /// The local store itself (to authorize URLs).
    Local {
        store: LocalObjectStore,
        /// Its directory, deleted when the test ends.
        _dir: TempDir,
    },
    /// Plain HTTP against the emulator.
    S3(reqwest::Client),
}

/// One adapter with a fresh, empty root (a temporary directory or a new bucket).
struct Harness {
    store: Arc<dyn ObjectStore>,
    access: Access,
    /// Location URIs of this store's scheme that it must refuse: its bare root (no location
    /// below it), and locations of another directory or bucket.
    foreign_uris: Vec<String>,
}

impl Harness {
    async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Local => Self::local(),
            Backend::S3 => Self::s3().await,
        }
    }

    fn local() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalObjectStore::new(
            dir.path(),
            SigningKey::generate(),
            LOCAL_PUBLIC_URL,
            Arc::new(SystemClock),
        )
        .expect("a local store");
        Self {
            store: Arc::new(store.clone()),
            foreign_uris: vec![
                store.base().root,
                format!("{}/", store.base().root),
                format!("{}-other/test/1/1700", store.base().root),
                "file:///elsewhere/test/1/1700".to_owned(),
            ],
            access: Access::Local { store, _dir: dir },
        }
    }

    async fn s3() -> Self {
        let bucket = unique_bucket();
        let store = s3_store(&bucket).await;
        store
            .client()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("the test bucket is created");
        Self {
            store: Arc::new(store),
            access: Access::S3(reqwest::Client::new()),
            foreign_uris: vec![
                format!("s3://{bucket}"),
                format!("s3://{bucket}/"),
                format!("s3://{bucket}-other/results/test/1/1700"),
                format!("{bucket}/results/test/1/1700"),
            ],
        }
    }

    /// The location of job 1's assignment claimed at `epoch_ms`.
    fn location(&self, epoch_ms: i64) -> StorageLocation {
        self.store.base().location_for(
            &reefguide_domain::job::registry::JobTypeName::parse("TEST").expect("valid name"),
            job(1),
            at(epoch_ms),
        )
    }

    /// Stores `path` under `location` with `bytes`.
    async fn put(&self, location: &StorageLocation, path: &str, bytes: &[u8]) {
        self.store
            .put(location, &rel(path), bytes.to_vec())
            .await
            .unwrap_or_else(|e| panic!("put {path}: {e:#}"));
    }

    /// Stores `count` small files `<under>f0000`… under `location`, 32 at a time.
    async fn put_many(&self, location: &StorageLocation, under: &str, count: usize) {
        let mut running = JoinSet::new();
        for index in 0..count {
            if running.len() >= 32 {
                join_one(&mut running).await;
            }
            let (store, location) = (Arc::clone(&self.store), location.clone());
            let path = rel(&format!("{under}f{index:04}"));
            running.spawn(async move { store.put(&location, &path, vec![1; index % 7]).await });
        }
        while !running.is_empty() {
            join_one(&mut running).await;
        }
    }

    async fn list(
        &self,
        location: &StorageLocation,
        filter: Option<&str>,
        limit: usize,
    ) -> Listing {
        let filter = filter.map(|f| FilterPrefix::parse(f).expect("a valid filter"));
        self.store
            .list(location, filter, limit)
            .await
            .expect("the listing")
    }

    /// The level of `folder` below `location`.
    async fn level(&self, location: &StorageLocation, folder: Option<&str>) -> Level {
        self.store
            .list_level(location, folder.map(rel))
            .await
            .unwrap_or_else(|e| panic!("the level of {folder:?}: {e:#}"))
    }

    /// GETs a presigned URL, returning the body.
    async fn fetch(&self, url: &str) -> Vec<u8> {
        match &self.access {
            Access::S3(http) => {
                let response = http.get(url).send().await.expect("the GET is answered");
                assert!(
                    response.status().is_success(),
                    "GET {url}: {}",
                    response.status()
                );
                response.bytes().await.expect("the body").to_vec()
            }
            Access::Local { store, .. } => {
                let file = authorize(store, SignedMethod::Get, url);
                tokio::fs::read(file).await.expect("the granted file")
            }
        }
    }

    /// PUTs `bytes` to a presigned URL.
    async fn upload(&self, url: &str, bytes: &[u8]) {
        match &self.access {
            Access::S3(http) => {
                let response = http
                    .put(url)
                    .body(bytes.to_vec())
                    .send()
                    .await
                    .expect("the PUT is answered");
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                assert!(status.is_success(), "PUT {url}: {status} {body}");
            }
            Access::Local { store, .. } => {
                let file = authorize(store, SignedMethod::Put, url);
                let mut upload = store.begin_upload(&file).await.expect("an upload");
                upload
                    .write_chunk(bytes)
                    .await
                    .expect("the bytes are written");
                upload.finish().await.expect("the upload is finished");
            }
        }
    }
}

/// A store over `bucket` at the emulator, configured as the server does it
/// ([`S3ObjectStore::connect`]) but with static credentials: moto accepts any, and the
/// environment may have none.
async fn s3_store(bucket: &str) -> S3ObjectStore {
    let endpoint = std::env::var("S3_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "the S3 contract tests need an S3 emulator: set S3_ENDPOINT_URL or run \
             `cargo xtask test`, which starts moto"
        )
    });
    let settings = S3Settings {
        endpoint_url: Some(endpoint),
        force_path_style: true,
        region: Some("us-east-1".to_owned()),
        ..S3Settings::new(bucket)
    };
    let connected = S3ObjectStore::connect(&settings)
        .await
        .expect("an S3 client");
    let config = connected
        .client()
        .config()
        .to_builder()
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    assert_eq!(config.region(), Some(&Region::new("us-east-1")));
    S3ObjectStore::from_client(aws_sdk_s3::Client::from_conf(config), &settings)
}

/// Waits for one of the running puts, failing the test if it failed.
async fn join_one(running: &mut JoinSet<Result<(), ObjectStoreError>>) {
    if let Some(done) = running.join_next().await {
        done.expect("the put task ran").expect("the put succeeded");
    }
}

/// What the HTTP layer does with a local signed URL: the file it grants `method` on.
fn authorize(store: &LocalObjectStore, method: SignedMethod, url: &str) -> PathBuf {
    assert!(url.starts_with(LOCAL_PUBLIC_URL), "{url}");
    let url = reqwest::Url::parse(url).expect("an absolute URL");
    let encoded = url
        .path()
        .strip_prefix("/api/storage/")
        .expect("a storage URL");
    let key = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .expect("a UTF-8 key");
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} in {url}"))
    };
    let expires = query("expires").parse().expect("a Unix time");
    store
        .authorize(method, &key, expires, &query("signature"), Utc::now())
        .expect("the URL is granted")
}

/// A bucket name no other test (or earlier run against the same emulator) uses.
fn unique_bucket() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "reefguide-test-{}-{}-{}",
        Utc::now().timestamp_millis(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn job(id: i64) -> JobId {
    JobId::new(id).expect("a positive id")
}

fn at(epoch_ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(epoch_ms)
        .single()
        .expect("a valid instant")
}

fn rel(path: &str) -> RelativePath {
    RelativePath::parse(path).expect("a valid relative path")
}

fn paths(listing: &Listing) -> Vec<&str> {
    listing.objects.iter().map(|o| o.path.as_str()).collect()
}

fn expiry() -> PresignExpiry {
    PresignExpiry::from_seconds(300).expect("a valid expiry")
}

#[rstest]
#[tokio::test]
async fn put_then_get_round_trips_binary_bytes(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    let bytes: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
    harness.put(&location, "maps/result.bin", &bytes).await;
    let got = harness.store.get(&location, &rel("maps/result.bin")).await;
    assert_eq!(got.expect("the stored bytes"), bytes);
    harness.put(&location, "maps/result.bin", b"replaced").await;
    let got = harness.store.get(&location, &rel("maps/result.bin")).await;
    assert_eq!(got.expect("the replaced bytes"), b"replaced");
}

#[rstest]
#[tokio::test]
async fn getting_a_missing_file_is_not_found(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    let got = harness.store.get(&location, &rel("missing.txt")).await;
    assert!(
        matches!(&got, Err(ObjectStoreError::NotFound(p)) if p == "missing.txt"),
        "{got:?}"
    );
}

#[rstest]
#[tokio::test]
async fn getting_a_folder_or_a_path_below_a_file_is_not_found(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    harness.put(&location, "maps/a.tif", b"x").await;
    for path in ["maps", "maps/a.tif/child"] {
        let got = harness.store.get(&location, &rel(path)).await;
        assert!(
            matches!(&got, Err(ObjectStoreError::NotFound(p)) if p == path),
            "{path}: {got:?}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn list_returns_every_file_with_its_size_in_path_order(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    let files = [
        ("z.txt", 1),
        ("maps/region/b.tif", 22),
        ("maps/a.tif", 333),
        ("maps-old.txt", 0),
        ("a", 4),
        ("maps/region/a/deep.json", 5),
    ];
    for (path, size) in files {
        harness.put(&location, path, &vec![7; size]).await;
    }
    let mut expected: Vec<StoredObject> = files
        .iter()
        .map(|&(path, size)| StoredObject {
            path: rel(path),
            size: u64::try_from(size).expect("a small size"),
        })
        .collect();
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    let listing = harness.list(&location, None, 100).await;
    assert_eq!(
        listing,
        Listing {
            objects: expected,
            truncated: false
        }
    );
    let empty = harness.list(&harness.location(1_800), None, 100).await;
    assert_eq!(empty, Listing::default());
}

#[rstest]
#[tokio::test]
async fn more_than_a_thousand_files_are_listed_completely(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    harness.put_many(&location, "", 1_050).await;
    let all = harness.list(&location, None, 5_000).await;
    assert!(!all.truncated);
    assert_eq!(all.objects.len(), 1_050);
    assert_eq!(all.objects.last().map(|o| o.path.as_str()), Some("f1049"));
    assert_eq!(all.objects[1_000].size, 1_000 % 7);
    let exactly = harness.list(&location, None, 1_050).await;
    assert!(!exactly.truncated);
    assert_eq!(exactly.objects.len(), 1_050);
    let fewer = harness.list(&location, None, 1_049).await;
    assert!(fewer.truncated);
    assert_eq!(fewer.objects, all.objects[..1_049]);
}

#[rstest]
#[tokio::test]
async fn a_sibling_location_is_never_listed(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let (mine, sibling) = (harness.location(1_700), harness.location(17_001));
    assert!(
        sibling.uri.starts_with(&mine.uri),
        "{} / {}",
        mine.uri,
        sibling.uri
    );
    harness.put(&mine, "mine.txt", b"1").await;
    harness.put(&sibling, "sibling.txt", b"2").await;
    assert_eq!(paths(&harness.list(&mine, None, 100).await), ["mine.txt"]);
    assert_eq!(
        paths(&harness.list(&sibling, None, 100).await),
        ["sibling.txt"]
    );
    let got = harness.store.get(&mine, &rel("sibling.txt")).await;
    assert!(matches!(got, Err(ObjectStoreError::NotFound(_))), "{got:?}");
}

#[rstest]
#[tokio::test]
async fn a_filter_prefix_selects_files(#[values(Backend::Local, Backend::S3)] backend: Backend) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    for path in [
        "maps/region.tif",
        "maps/reef.tif",
        "maps/x/region.tif",
        "mapsx.txt",
        "r.txt",
    ] {
        harness.put(&location, path, b"x").await;
    }
    let folder = harness.list(&location, Some("maps/"), 100).await;
    assert_eq!(
        paths(&folder),
        ["maps/reef.tif", "maps/region.tif", "maps/x/region.tif"]
    );
    let partial = harness.list(&location, Some("maps/reg"), 100).await;
    assert_eq!(paths(&partial), ["maps/region.tif"]);
    let file = harness.list(&location, Some("r.txt"), 100).await;
    assert_eq!(paths(&file), ["r.txt"]);
    let none = harness.list(&location, Some("nothing/"), 100).await;
    assert_eq!(none, Listing::default());
}

#[rstest]
#[tokio::test]
async fn a_limit_truncates_the_listing(#[values(Backend::Local, Backend::S3)] backend: Backend) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    for path in ["c", "a", "b/1", "b/2"] {
        harness.put(&location, path, b"x").await;
    }
    let two = harness.list(&location, None, 2).await;
    assert_eq!((paths(&two), two.truncated), (vec!["a", "b/1"], true));
    let four = harness.list(&location, None, 4).await;
    assert_eq!((four.objects.len(), four.truncated), (4, false));
    let filtered = harness.list(&location, Some("b/"), 1).await;
    assert_eq!((paths(&filtered), filtered.truncated), (vec!["b/1"], true));
    let zero = harness.list(&location, None, 0).await;
    assert_eq!((zero.objects.len(), zero.truncated), (0, true));
}

#[rstest]
#[tokio::test]
async fn a_presigned_get_url_serves_the_file(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    let bytes = b"\x00\xffresult with spaces".to_vec();
    harness
        .put(&location, "maps/region 1/a+b.tif", &bytes)
        .await;
    let url = harness
        .store
        .presign_get(&location, &rel("maps/region 1/a+b.tif"), expiry())
        .await
        .expect("a presigned GET URL");
    assert_eq!(harness.fetch(&url).await, bytes);
}

#[rstest]
#[tokio::test]
async fn a_presigned_put_url_stores_the_upload(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    let path = rel("uploads/résultat 1.json");
    let url = harness
        .store
        .presign_put(&location, &path, expiry())
        .await
        .expect("a presigned PUT URL");
    harness.upload(&url, b"{\"ok\":true}").await;
    let got = harness.store.get(&location, &path).await;
    assert_eq!(got.expect("the uploaded bytes"), b"{\"ok\":true}");
    let listing = harness.list(&location, None, 10).await;
    assert_eq!(paths(&listing), ["uploads/résultat 1.json"]);
}

#[rstest]
#[tokio::test]
async fn foreign_locations_are_refused(#[values(Backend::Local, Backend::S3)] backend: Backend) {
    let harness = Harness::new(backend).await;
    let own = harness.location(1_700);
    let other_scheme = match own.scheme {
        StorageScheme::S3 => StorageScheme::Local,
        StorageScheme::Local => StorageScheme::S3,
    };
    let mut foreign = vec![StorageLocation {
        scheme: other_scheme,
        uri: own.uri.clone(),
    }];
    foreign.extend(harness.foreign_uris.iter().map(|uri| StorageLocation {
        scheme: own.scheme,
        uri: uri.clone(),
    }));
    for location in &foreign {
        assert_foreign(harness.store.as_ref(), location).await;
    }
}

/// Every operation on `location` is refused as foreign.
async fn assert_foreign(store: &dyn ObjectStore, location: &StorageLocation) {
    let path = rel("a.txt");
    let results = [
        store.list(location, None, 10).await.map(drop),
        store.list_level(location, None).await.map(drop),
        store.get(location, &path).await.map(drop),
        store.put(location, &path, b"x".to_vec()).await,
        store.presign_get(location, &path, expiry()).await.map(drop),
        store.presign_put(location, &path, expiry()).await.map(drop),
    ];
    for (operation, result) in [
        "list",
        "list_level",
        "get",
        "put",
        "presign_get",
        "presign_put",
    ]
    .iter()
    .zip(results)
    {
        assert!(
            matches!(&result, Err(ObjectStoreError::ForeignLocation(uri)) if *uri == location.uri),
            "{operation} on {location:?}: {result:?}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn base_locations_are_served(#[values(Backend::Local, Backend::S3)] backend: Backend) {
    let harness = Harness::new(backend).await;
    let base = harness.store.base();
    let expected_scheme = match backend {
        Backend::Local => StorageScheme::Local,
        Backend::S3 => StorageScheme::S3,
    };
    assert_eq!(base.scheme, expected_scheme);
    assert!(!base.root.ends_with('/'), "{}", base.root);
    let now = Utc::now();
    let location = base.location_for(
        &reefguide_domain::job::registry::JobTypeName::parse("TEST").expect("valid name"),
        job(42),
        now,
    );
    assert_eq!(
        location.uri,
        format!("{}/test/42/{}", base.root, now.timestamp_millis())
    );
    harness.put(&location, "result.json", b"{}").await;
    let listing = harness.list(&location, None, 10).await;
    assert_eq!(
        listing.objects,
        [StoredObject {
            path: rel("result.json"),
            size: 2
        }]
    );
}

/// The names of a level's folders, and its files with their sizes.
fn level_names(level: &Level) -> (Vec<&str>, Vec<(&str, u64)>) {
    (
        level.folders.iter().map(|f| f.as_str()).collect(),
        level
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.size))
            .collect(),
    )
}

#[rstest]
#[tokio::test]
async fn a_level_lists_folders_and_files_one_level_deep(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    let before = Utc::now() - chrono::Duration::minutes(5);
    for (path, size) in [
        ("z.txt", 1),
        ("a b.txt", 22),
        ("maps-old.txt", 0),
        ("maps/a.tif", 3),
        ("maps/region 1/b.tif", 4),
        ("maps/region 1/deeper/c.tif", 5),
        ("run 2/x/y/z.json", 6),
    ] {
        harness.put(&location, path, &vec![7; size]).await;
    }
    // A sibling location sharing the prefix is never listed.
    harness
        .put(&harness.location(17_001), "sibling.txt", b"2")
        .await;

    let top = harness.level(&location, None).await;
    assert_eq!(
        level_names(&top),
        (
            vec!["maps", "run 2"],
            vec![("a b.txt", 22), ("maps-old.txt", 0), ("z.txt", 1)]
        )
    );
    for file in &top.files {
        let modified = file.last_modified.expect("a modification time");
        assert!(modified > before && modified < Utc::now() + chrono::Duration::minutes(5));
    }
    let maps = harness.level(&location, Some("maps")).await;
    assert_eq!(level_names(&maps), (vec!["region 1"], vec![("a.tif", 3)]));
    let region = harness.level(&location, Some("maps/region 1")).await;
    assert_eq!(level_names(&region), (vec!["deeper"], vec![("b.tif", 4)]));
    let chain = harness.level(&location, Some("run 2/x")).await;
    assert_eq!(level_names(&chain), (vec!["y"], vec![]));
}

#[rstest]
#[tokio::test]
async fn a_level_of_nothing_is_empty(#[values(Backend::Local, Backend::S3)] backend: Backend) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    harness.put(&location, "maps/a.tif", b"x").await;
    harness.put(&location, "file.txt", b"x").await;
    // Neither a missing folder, a partial name, a file nor a folder created empty is a folder
    // with content.
    let empty = StorageLocation {
        uri: format!("{}/empty", location.uri),
        ..location.clone()
    };
    harness
        .store
        .create_folder(&empty)
        .await
        .expect("the folder is created");
    for folder in ["missing", "map", "file.txt", "maps/a.tif", "empty"] {
        let level = harness.level(&location, Some(folder)).await;
        assert_eq!(level, Level::default(), "{folder}");
    }
    let top = harness.level(&location, None).await;
    assert_eq!(level_names(&top), (vec!["maps"], vec![("file.txt", 1)]));
    let elsewhere = harness.level(&harness.location(1_800), None).await;
    assert_eq!(elsewhere, Level::default());
}

#[rstest]
#[tokio::test]
async fn a_level_of_thousands_of_files_is_listed_whole(
    #[values(Backend::Local, Backend::S3)] backend: Backend,
) {
    let harness = Harness::new(backend).await;
    let location = harness.location(1_700);
    harness.put_many(&location, "big/", 2_500).await;
    // Folders sorting before and after every file, so they come on the first and last pages.
    harness.put(&location, "big/a-first/x", b"x").await;
    harness.put(&location, "big/zz-last/y", b"y").await;
    let level = harness.level(&location, Some("big")).await;
    assert_eq!(
        level.folders.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        ["a-first", "zz-last"]
    );
    assert_eq!(level.files.len(), 2_500);
    let names: Vec<String> = (0..2_500).map(|i| format!("f{i:04}")).collect();
    assert!(
        level
            .files
            .iter()
            .map(|f| f.name.as_str())
            .eq(names.iter().map(String::as_str)),
        "every file, in name order"
    );
    assert_eq!(level.files[2_499].size, 2_499 % 7);
}
