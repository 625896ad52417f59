//! Blocking file-system walks below the store's root: listing a location's files and refusing
//! paths that pass through a symbolic link. Run them on tokio's blocking pool.

use std::io;
use std::path::{Path, PathBuf};

use reefguide_domain::storage::{FilterPrefix, RelativePath};
use reefguide_ports::{Listing, StoredObject};

/// Fails with [`io::ErrorKind::InvalidInput`] when `root/<key>` or one of its existing
/// ancestors below `root` is a symbolic link. `key` is a `/`-separated relative path; the
/// components that do not exist yet are fine (they will be created as directories or files).
pub(crate) fn refuse_symlinks(root: &Path, key: &str) -> io::Result<()> {
    let mut path = root.to_path_buf();
    for segment in key.split('/') {
        path.push(segment);
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a symbolic link", path.display()),
                ));
            }
            Ok(_) => {}
            // Nothing there, or a file where a folder would be: no link on the way either.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(());
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The regular files below `dir`, named relative to it, that `filter` selects: in path order,
/// at most `limit` of them, `truncated` when more exist. Symbolic links are skipped, not
/// followed, as are names that are not valid UTF-8 or not valid relative paths. A missing
/// `dir` (or a directory vanishing during the walk) has no files.
pub(crate) fn list(dir: &Path, filter: Option<&FilterPrefix>, limit: usize) -> io::Result<Listing> {
    let mut objects = Vec::new();
    // Directories still to read, each with the relative path of its entries ("" or "a/b/").
    let mut pending: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((directory, prefix)) = pending.pop() {
        let entries = match std::fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(
                    path = %entry.path().display(),
                    "skipping a stored file whose name is not UTF-8"
                );
                continue;
            };
            let relative = format!("{prefix}{name}");
            let Ok(path) = RelativePath::parse(&relative) else {
                tracing::warn!(
                    path = %entry.path().display(),
                    "skipping a stored file whose name is not a valid relative path"
                );
                continue;
            };
            let file_type = match entry.file_type() {
                Ok(file_type) => file_type,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            if file_type.is_dir() {
                let folder = format!("{relative}/");
                if may_hold_selected(&folder, filter) {
                    pending.push((entry.path(), folder));
                }
            } else if file_type.is_file() && filter.is_none_or(|filter| filter.selects(&path)) {
                let size = match entry.metadata() {
                    Ok(metadata) => metadata.len(),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                };
                objects.push(StoredObject { path, size });
            }
            // Anything else (symbolic links, sockets, …) is not a stored file.
        }
    }
    objects.sort_by(|a, b| a.path.cmp(&b.path));
    let truncated = objects.len() > limit;
    objects.truncate(limit);
    Ok(Listing { objects, truncated })
}

/// Whether files below `folder` (a relative path ending in `/`) may be selected by `filter`:
/// either the filter names something inside the folder or the folder is inside the filter.
fn may_hold_selected(folder: &str, filter: Option<&FilterPrefix>) -> bool {
    filter.is_none_or(|filter| {
        let filter = filter.as_str();
        filter.starts_with(folder) || folder.starts_with(filter)
    })
}
