//! One level of a folder from ListObjectsV2 pages with delimiter `/`: each common prefix is a
//! sub-folder, each object directly below the level's prefix a file.

use chrono::{DateTime, Utc};
use reefguide_domain::storage::outputs::EntryName;
use reefguide_ports::object_store::{Level, LevelFile};

/// Collects the entries of the level whose ListObjectsV2 prefix is `prefix` (ending with `/`),
/// page by page.
#[derive(Debug)]
pub(super) struct LevelBuilder<'p> {
    prefix: &'p str,
    level: Level,
}

impl<'p> LevelBuilder<'p> {
    /// An empty level below `prefix`.
    pub(super) fn new(prefix: &'p str) -> Self {
        Self {
            prefix,
            level: Level::default(),
        }
    }

    /// Adds one page's common prefixes and objects.
    pub(super) fn add_page(
        &mut self,
        page: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
    ) {
        let folders = page
            .common_prefixes()
            .iter()
            .filter_map(|common| common.prefix())
            .filter_map(|common| self.folder(common));
        self.level.folders.extend(folders.collect::<Vec<_>>());
        let files = page
            .contents()
            .iter()
            .filter_map(|object| self.file(object));
        self.level.files.extend(files.collect::<Vec<_>>());
    }

    /// The level, folders and files in name order.
    pub(super) fn finish(mut self) -> Level {
        self.level.folders.sort();
        self.level.folders.dedup();
        self.level.files.sort_by(|a, b| a.name.cmp(&b.name));
        self.level
    }

    /// The sub-folder named by a common prefix (`<prefix><name>/`).
    fn folder(&self, common: &str) -> Option<EntryName> {
        let name = common.strip_prefix(self.prefix)?.strip_suffix('/')?;
        self.entry_name(name, common)
    }

    /// The file of an object directly below the prefix; the folder's own marker object (the
    /// prefix itself, as the S3 console creates) is none.
    fn file(&self, object: &aws_sdk_s3::types::Object) -> Option<LevelFile> {
        let key = object.key()?;
        let name = key.strip_prefix(self.prefix)?;
        if name.is_empty() {
            return None;
        }
        Some(LevelFile {
            name: self.entry_name(name, key)?,
            size: object
                .size()
                .map_or(0, |size| u64::try_from(size).unwrap_or(0)),
            last_modified: object
                .last_modified()
                .and_then(|time| DateTime::<Utc>::from_timestamp(time.secs(), time.subsec_nanos())),
        })
    }

    /// `name` as an entry name, or `None` with a warning naming `key` (`a//b` is a fine S3 key
    /// but no name of ours).
    fn entry_name(&self, name: &str, key: &str) -> Option<EntryName> {
        match EntryName::parse(name) {
            Ok(name) => Some(name),
            Err(why) => {
                tracing::warn!(key, %why, "skipping an S3 entry not named by a valid name");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::primitives::DateTime as SdkTime;
    use aws_sdk_s3::types::{CommonPrefix, Object};

    use super::*;

    fn page(prefixes: &[&str], keys: &[(&str, i64)]) -> ListObjectsV2Output {
        let mut page = ListObjectsV2Output::builder();
        for prefix in prefixes {
            page = page.common_prefixes(CommonPrefix::builder().prefix(*prefix).build());
        }
        for &(key, size) in keys {
            page = page.contents(
                Object::builder()
                    .key(key)
                    .size(size)
                    .last_modified(SdkTime::from_secs_and_nanos(1_743_707_472, 825_000_000))
                    .build(),
            );
        }
        page.build()
    }

    fn names(names: &[EntryName]) -> Vec<&str> {
        names.iter().map(EntryName::as_str).collect()
    }

    #[test]
    fn pages_become_one_sorted_level() {
        let mut builder = LevelBuilder::new("p/run/");
        builder.add_page(&page(
            &["p/run/tiles/", "p/run/a b/"],
            &[("p/run/", 0), ("p/run/z.tif", 5), ("p/run/a.tif", -1)],
        ));
        builder.add_page(&page(
            &["p/run/more/", "p/run/tiles/"],
            &[("p/run/m.txt", 2)],
        ));
        let level = builder.finish();
        assert_eq!(names(&level.folders), ["a b", "more", "tiles"]);
        let files: Vec<_> = level
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.size))
            .collect();
        assert_eq!(files, [("a.tif", 0), ("m.txt", 2), ("z.tif", 5)]);
        let modified = level.files[0].last_modified.expect("a time");
        assert_eq!(modified.to_rfc3339(), "2025-04-03T19:11:12.825+00:00");
    }

    #[test]
    fn names_that_are_no_entry_names_are_skipped() {
        let mut builder = LevelBuilder::new("p/");
        builder.add_page(&page(
            &["p//", "p/../", "p/./", "other/x/", "p/ok/"],
            &[("p/..", 1), ("p/a\\b", 1), ("q/x", 1), ("p/ok.txt", 1)],
        ));
        let level = builder.finish();
        assert_eq!(names(&level.folders), ["ok"]);
        assert_eq!(level.files.len(), 1);
        assert_eq!(level.files[0].name.as_str(), "ok.txt");
    }
}
