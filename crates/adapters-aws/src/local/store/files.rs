//! Blocking file-system walks below the store's root: listing a location's files or one folder
//! level, and refusing paths that pass through a symbolic link. Run them on tokio's blocking
//! pool.

use std::fs::DirEntry;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use reefguide_domain::storage::outputs::EntryName;
use reefguide_domain::storage::{FilterPrefix, RelativePath};
use reefguide_ports::object_store::{Level, LevelFile};
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

/// What is directly in the directory `dir`: its sub-directories holding at least one regular
/// file (at any depth, as S3 only knows folders that hold objects) and its regular files, each
/// in name order. Symbolic links are skipped, not followed, as are names that are not valid
/// UTF-8 [`EntryName`]s. A missing `dir`, or a file, holds nothing.
pub(crate) fn list_level(dir: &Path) -> io::Result<Level> {
    let mut level = Level::default();
    let Some(entries) = read_dir(dir)? else {
        return Ok(level);
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry_name(&entry) else {
            continue;
        };
        let Some(file_type) = vanished_is_none(entry.file_type())? else {
            continue;
        };
        if file_type.is_dir() {
            if holds_file(&entry.path())? {
                level.folders.push(name);
            }
        } else if file_type.is_file() {
            let Some(metadata) = vanished_is_none(entry.metadata())? else {
                continue;
            };
            level.files.push(LevelFile {
                name,
                size: metadata.len(),
                last_modified: metadata.modified().ok().map(DateTime::<Utc>::from),
            });
        }
        // Anything else (symbolic links, sockets, …) is not a stored file.
    }
    level.folders.sort();
    level.files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(level)
}

/// Whether the directory `dir` holds a regular file at any depth, symbolic links not followed.
fn holds_file(dir: &Path) -> io::Result<bool> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Some(entries) = read_dir(&directory)? else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            match vanished_is_none(entry.file_type())? {
                Some(file_type) if file_type.is_file() => return Ok(true),
                Some(file_type) if file_type.is_dir() => pending.push(entry.path()),
                _ => {}
            }
        }
    }
    Ok(false)
}

/// The entries of `dir`; `None` when it does not exist or is no directory.
fn read_dir(dir: &Path) -> io::Result<Option<std::fs::ReadDir>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The entry's name, if it is a valid UTF-8 [`EntryName`] (else `None`, with a warning).
fn entry_name(entry: &DirEntry) -> Option<EntryName> {
    let name = entry.file_name();
    let parsed = name.to_str().map(EntryName::parse);
    match parsed {
        Some(Ok(name)) => Some(name),
        _ => {
            tracing::warn!(
                path = %entry.path().display(),
                "skipping a stored entry whose name is not a valid name"
            );
            None
        }
    }
}

/// `None` for an entry that vanished while being read.
fn vanished_is_none<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}
