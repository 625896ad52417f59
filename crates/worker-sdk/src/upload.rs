//! Result file uploads: presigned PUT URLs from the API, or a direct write into a local
//! (`file://`) store on servers that do not offer upload URLs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use reqwest::StatusCode;

use crate::client::{ApiClient, ApiError};
use crate::handler::HandlerError;
use crate::wire::{UploadUrlsRequest, UploadUrlsResponse};
use crate::worker::backoff;

const ROUTE_UNKNOWN: u8 = 0;
const ROUTE_PRESENT: u8 = 1;
const ROUTE_MISSING: u8 = 2;
/// Attempts per upload step (asking for the URL, the PUT) on transient errors.
const ATTEMPTS: u32 = 4;

/// What to upload.
#[derive(Debug)]
pub(crate) enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Checks a result file's path relative to the storage prefix: not empty, no leading `/`, no
/// `.`/`..`/empty segments, no backslashes or control characters.
pub(crate) fn validate_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!("{path:?} must be relative (no leading /)"));
    }
    if path.contains('\\') {
        return Err(format!("{path:?} must use / as separator, not \\"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains control characters"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(format!("{path:?} contains an empty segment")),
            "." | ".." => return Err(format!("{path:?} contains a {segment:?} segment")),
            _ => {}
        }
    }
    Ok(())
}

/// The directory of a `file://` storage URI, if it is one (absolute paths only).
pub(crate) fn local_dir(storage_uri: &str) -> Option<PathBuf> {
    let rest = storage_uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    Some(PathBuf::from(rest))
}

/// Uploads result files; remembers (per worker) whether the server offers upload URLs.
#[derive(Debug)]
pub(crate) struct Uploader {
    client: Arc<ApiClient>,
    route: AtomicU8,
}

enum UrlAnswer {
    Url(String),
    RouteMissing,
}

impl Uploader {
    pub(crate) fn new(client: Arc<ApiClient>) -> Self {
        Self {
            client,
            route: AtomicU8::new(ROUTE_UNKNOWN),
        }
    }

    pub(crate) async fn upload(
        &self,
        assignment_id: i64,
        scheme: Option<&str>,
        storage_uri: &str,
        relative_path: &str,
        source: Source,
    ) -> Result<(), HandlerError> {
        validate_relative_path(relative_path)
            .map_err(|e| HandlerError::new(format!("invalid result file path: {e}")))?;
        if self.route.load(Ordering::Relaxed) != ROUTE_MISSING {
            match self.upload_url(assignment_id, relative_path).await? {
                UrlAnswer::Url(url) => {
                    self.route.store(ROUTE_PRESENT, Ordering::Relaxed);
                    return self.put(&url, relative_path, &source).await;
                }
                UrlAnswer::RouteMissing => {
                    tracing::info!("the server offers no upload URLs; falling back");
                    self.route.store(ROUTE_MISSING, Ordering::Relaxed);
                }
            }
        }
        let is_local = scheme.is_some_and(|s| s.eq_ignore_ascii_case("LOCAL"))
            || (scheme.is_none() && storage_uri.starts_with("file://"));
        let is_s3 = scheme.is_some_and(|s| s.eq_ignore_ascii_case("S3"))
            || (scheme.is_none() && storage_uri.starts_with("s3://"));
        if is_local && let Some(dir) = local_dir(storage_uri) {
            return write_local(&dir, relative_path, source).await;
        }
        if is_s3 {
            return Err(HandlerError::new(format!(
                "cannot upload {relative_path:?}: the server offers no upload URLs and direct S3 \
                 upload ({storage_uri}) needs the `s3` feature, which this SDK build does not have"
            )));
        }
        Err(HandlerError::new(format!(
            "cannot upload {relative_path:?}: the server offers no upload URLs and storage \
             {storage_uri:?} is not a local directory"
        )))
    }

    async fn upload_url(
        &self,
        assignment_id: i64,
        relative_path: &str,
    ) -> Result<UrlAnswer, HandlerError> {
        let path = format!("/jobs/assignments/{assignment_id}/upload-urls");
        let body = UploadUrlsRequest {
            files: [relative_path],
        };
        let mut attempt = 0;
        loop {
            let result = self.client.post(&path, &body).await;
            let error = match result {
                Ok(reply) if reply.status == StatusCode::OK => {
                    let mut answer: UploadUrlsResponse = reply.json().map_err(upload_error)?;
                    return answer
                        .files
                        .remove(relative_path)
                        .map(UrlAnswer::Url)
                        .ok_or_else(|| {
                            HandlerError::new(format!(
                                "the server returned no upload URL for {relative_path:?}"
                            ))
                        });
                }
                Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
                    return Ok(UrlAnswer::RouteMissing);
                }
                Ok(reply) => reply.error(),
                Err(error) => error,
            };
            attempt += 1;
            if !error.is_transient() || attempt >= ATTEMPTS {
                return Err(upload_error(error));
            }
            tracing::warn!(%error, relative_path, "asking for an upload URL failed; retrying");
            tokio::time::sleep(backoff(
                attempt - 1,
                Duration::from_millis(200),
                Duration::from_secs(5),
            ))
            .await;
        }
    }

    async fn put(
        &self,
        url: &str,
        relative_path: &str,
        source: &Source,
    ) -> Result<(), HandlerError> {
        let mut attempt = 0;
        loop {
            let request = self.client.http().put(url);
            let request = match source {
                Source::Bytes(bytes) => request.body(bytes.clone()),
                Source::File(path) => {
                    let file = tokio::fs::File::open(path).await.map_err(|e| {
                        HandlerError::new(format!("cannot read {}: {e}", path.display()))
                    })?;
                    let length = file
                        .metadata()
                        .await
                        .map_err(|e| {
                            HandlerError::new(format!("cannot read {}: {e}", path.display()))
                        })?
                        .len();
                    let stream = tokio_util::io::ReaderStream::new(file);
                    request
                        .header(reqwest::header::CONTENT_LENGTH, length)
                        .body(reqwest::Body::wrap_stream(stream))
                }
            };
            let error = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    tracing::debug!(relative_path, "uploaded");
                    return Ok(());
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    ApiError::Status {
                        status: status.as_u16(),
                        code: None,
                        message: body.chars().take(300).collect(),
                    }
                }
                Err(error) => ApiError::transport(&error),
            };
            attempt += 1;
            if !error.is_transient() || attempt >= ATTEMPTS {
                return Err(HandlerError::new(format!(
                    "upload of {relative_path:?} failed: {error}"
                )));
            }
            tracing::warn!(%error, relative_path, "upload failed; retrying");
            tokio::time::sleep(backoff(
                attempt - 1,
                Duration::from_millis(200),
                Duration::from_secs(5),
            ))
            .await;
        }
    }
}

fn upload_error(error: ApiError) -> HandlerError {
    HandlerError::new(format!("could not get an upload URL: {error}"))
}

/// Writes a result file straight into a local store (atomically: temporary file, then rename).
async fn write_local(dir: &Path, relative_path: &str, source: Source) -> Result<(), HandlerError> {
    let target = dir.join(relative_path);
    let parent = target.parent().unwrap_or(dir).to_path_buf();
    tokio::fs::create_dir_all(&parent).await.map_err(|e| {
        HandlerError::new(format!(
            "the local result store {} is not reachable from this machine: {e}",
            dir.display()
        ))
    })?;
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{file_name}.part-{}", std::process::id()));
    let written = match source {
        Source::Bytes(bytes) => tokio::fs::write(&temporary, bytes).await,
        Source::File(path) => tokio::fs::copy(&path, &temporary).await.map(|_| ()),
    };
    let result = match written {
        Ok(()) => tokio::fs::rename(&temporary, &target).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(HandlerError::new(format!(
            "could not write {}: {e}",
            target.display()
        )));
    }
    tracing::debug!(path = %target.display(), "result file written to the local store");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in ["result.json", "maps/site.tif", "a/b/c.d", "x..y", ".hidden"] {
            assert_eq!(validate_relative_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_escaping_or_odd_paths() {
        for bad in [
            "",
            "/etc/passwd",
            "../up",
            "a/../b",
            "a/..",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "..\\up",
            "a/\nb",
        ] {
            assert!(validate_relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_dirs() {
        assert_eq!(
            local_dir("file:///data/results/test/12/1700000000000"),
            Some(PathBuf::from("/data/results/test/12/1700000000000"))
        );
        assert_eq!(
            local_dir("file://localhost/data/r"),
            Some(PathBuf::from("/data/r"))
        );
        assert_eq!(local_dir("s3://bucket/results/test/12/1"), None);
        assert_eq!(local_dir("file://relative/path"), None);
    }

    #[tokio::test]
    async fn writes_local_files_atomically() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("test/12/1700000000000");
        write_local(&dir, "maps/out.txt", Source::Bytes(b"hello".to_vec()))
            .await
            .expect("written");
        let written = std::fs::read(dir.join("maps/out.txt")).expect("exists");
        assert_eq!(written, b"hello");
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("maps"))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1);
    }
}
