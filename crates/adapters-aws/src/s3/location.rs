//! How the S3 store names things: its base URI (`s3://<bucket>/<prefix>`) and the key prefix of a
//! storage location in its bucket (`s3://<bucket>/<key prefix>`), from which object keys are
//! built as `<key prefix>/<relative path>`.

use reefguide_domain::job::{StorageLocation, StorageScheme};
use reefguide_domain::storage::{FilterPrefix, RelativePath};
use reefguide_ports::{ObjectStoreError, StoredObject};

/// The URI scheme of S3 locations.
const S3_URI_SCHEME: &str = "s3://";

/// The root URI of a store over `bucket` and `prefix`: `s3://bucket/prefix`, or `s3://bucket`
/// when the prefix is empty (slashes around the prefix are dropped).
pub(super) fn base_root(bucket: &str, prefix: &str) -> String {
    match prefix.trim_matches('/') {
        "" => format!("{S3_URI_SCHEME}{bucket}"),
        prefix => format!("{S3_URI_SCHEME}{bucket}/{prefix}"),
    }
}

/// The key prefix of a location in this store's bucket, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyPrefix(String);

impl KeyPrefix {
    /// The key prefix of `location` if it is an S3 location in `bucket` naming a non-empty key
    /// prefix (trailing slashes are dropped).
    ///
    /// # Errors
    /// [`ObjectStoreError::ForeignLocation`] for anything else.
    pub(super) fn parse(
        bucket: &str,
        location: &StorageLocation,
    ) -> Result<Self, ObjectStoreError> {
        let foreign = || ObjectStoreError::ForeignLocation(location.uri.clone());
        if location.scheme != StorageScheme::S3 {
            return Err(foreign());
        }
        let (location_bucket, key_prefix) = location
            .uri
            .strip_prefix(S3_URI_SCHEME)
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(foreign)?;
        let key_prefix = key_prefix.trim_end_matches('/');
        if location_bucket != bucket || key_prefix.is_empty() {
            return Err(foreign());
        }
        Ok(Self(key_prefix.to_owned()))
    }

    /// The object key of the file at `path`.
    pub(super) fn key(&self, path: &RelativePath) -> String {
        format!("{}/{path}", self.0)
    }

    /// The ListObjectsV2 prefix selecting the files below this prefix (never a sibling), and only
    /// those selected by `filter` when given.
    pub(super) fn list_prefix(&self, filter: Option<&FilterPrefix>) -> String {
        format!("{}/{}", self.0, filter.map_or("", FilterPrefix::as_str))
    }

    /// The ListObjectsV2 prefix of the folder `folder` below this prefix (the prefix itself
    /// when `None`): `<prefix>/` or `<prefix>/<folder>/`.
    pub(super) fn level_prefix(&self, folder: Option<&RelativePath>) -> String {
        match folder {
            None => format!("{}/", self.0),
            Some(folder) => format!("{}/{folder}/", self.0),
        }
    }

    /// The part of `key` below this prefix, if `key` is below it.
    pub(super) fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.0.as_str())?.strip_prefix('/')
    }

    /// A listed object below this prefix as a stored file; folder markers (keys ending in `/`)
    /// are skipped, and so are keys not ending in a valid relative path, with a warning (`a//b`
    /// is a fine S3 key but no file name of ours).
    pub(super) fn stored_object(&self, object: &aws_sdk_s3::types::Object) -> Option<StoredObject> {
        let key = object.key()?;
        let relative = self.relative(key)?;
        if relative.is_empty() || relative.ends_with('/') {
            return None; // a folder marker, as the S3 console creates
        }
        match RelativePath::parse(relative) {
            Ok(path) => Some(StoredObject {
                path,
                size: object
                    .size()
                    .map_or(0, |size| u64::try_from(size).unwrap_or(0)),
            }),
            Err(why) => {
                tracing::warn!(key, %why, "skipping an S3 object not named by a relative path");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn location(scheme: StorageScheme, uri: &str) -> StorageLocation {
        StorageLocation {
            scheme,
            uri: uri.to_owned(),
        }
    }

    #[rstest]
    #[case("s3://bucket/results/test/12/1700", "results/test/12/1700")]
    #[case("s3://bucket/results/test/12/1700/", "results/test/12/1700")]
    #[case("s3://bucket/elsewhere", "elsewhere")]
    fn locations_in_the_own_bucket_are_served(#[case] uri: &str, #[case] key_prefix: &str) {
        let parsed = KeyPrefix::parse("bucket", &location(StorageScheme::S3, uri));
        assert_eq!(parsed.ok(), Some(KeyPrefix(key_prefix.to_owned())));
    }

    #[rstest]
    #[case(StorageScheme::S3, "s3://other/results/test/12/1700")]
    #[case(StorageScheme::S3, "s3://bucket-2/results/test/12/1700")]
    #[case(StorageScheme::S3, "s3://bucket")]
    #[case(StorageScheme::S3, "s3://bucket/")]
    #[case(StorageScheme::S3, "s3://bucket//")]
    #[case(StorageScheme::S3, "file:///bucket/results")]
    #[case(StorageScheme::S3, "bucket/results")]
    #[case(StorageScheme::Local, "s3://bucket/results/test/12/1700")]
    fn other_locations_are_foreign(#[case] scheme: StorageScheme, #[case] uri: &str) {
        let parsed = KeyPrefix::parse("bucket", &location(scheme, uri));
        assert!(
            matches!(&parsed, Err(ObjectStoreError::ForeignLocation(u)) if u == uri),
            "{parsed:?}"
        );
    }

    #[test]
    fn keys_and_list_prefixes_end_below_the_prefix() {
        let prefix = KeyPrefix("results/test/12/1700".to_owned());
        let path = RelativePath::parse("maps/a.tif").expect("valid path");
        let filter = FilterPrefix::parse("maps/").expect("valid filter");
        assert_eq!(prefix.key(&path), "results/test/12/1700/maps/a.tif");
        assert_eq!(prefix.list_prefix(None), "results/test/12/1700/");
        assert_eq!(
            prefix.list_prefix(Some(&filter)),
            "results/test/12/1700/maps/"
        );
        assert_eq!(
            prefix.relative("results/test/12/1700/maps/a.tif"),
            Some("maps/a.tif")
        );
        assert_eq!(prefix.relative("results/test/12/17001/a.tif"), None);
        assert_eq!(prefix.level_prefix(None), "results/test/12/1700/");
        let folder = RelativePath::parse("maps/region 1").expect("valid path");
        assert_eq!(
            prefix.level_prefix(Some(&folder)),
            "results/test/12/1700/maps/region 1/"
        );
    }

    #[rstest]
    #[case("results/test/1/2/a/b.tif", Some(("a/b.tif", 3)))]
    #[case("results/test/1/2/a//b.tif", None)]
    #[case("results/test/1/2/../x", None)]
    #[case("results/test/1/2/", None)]
    #[case("results/test/1/2/maps/", None)]
    #[case("results/test/1/20/a", None)]
    fn listed_keys_become_stored_files(#[case] key: &str, #[case] expected: Option<(&str, u64)>) {
        let prefix = KeyPrefix("results/test/1/2".to_owned());
        let object = aws_sdk_s3::types::Object::builder()
            .key(key)
            .size(3)
            .build();
        let stored = prefix.stored_object(&object);
        assert_eq!(stored.as_ref().map(|s| (s.path.as_str(), s.size)), expected);
    }

    #[test]
    fn negative_or_missing_sizes_become_zero() {
        let prefix = KeyPrefix("p".to_owned());
        let negative = aws_sdk_s3::types::Object::builder()
            .key("p/a")
            .size(-5)
            .build();
        let missing = aws_sdk_s3::types::Object::builder().key("p/a").build();
        for object in [negative, missing] {
            assert_eq!(prefix.stored_object(&object).map(|s| s.size), Some(0));
        }
    }

    #[rstest]
    #[case("results", "s3://bucket/results")]
    #[case("/results/", "s3://bucket/results")]
    #[case("a/b", "s3://bucket/a/b")]
    #[case("", "s3://bucket")]
    #[case("/", "s3://bucket")]
    fn base_root_joins_bucket_and_prefix(#[case] prefix: &str, #[case] root: &str) {
        assert_eq!(base_root("bucket", prefix), root);
    }
}
