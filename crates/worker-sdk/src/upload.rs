//! Result file uploads: presigned PUT URLs from the API, or a direct write into a local
//! (`file://`) store on servers that do not offer upload URLs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use reqwest::StatusCode;

use crate::client::{ApiClient, ApiError};
use crate::handler::HandlerError;
use crate::lease::{Lease, Transient, within_lease};
use crate::wire::{UploadUrlsRequest, UploadUrlsResponse};

const ROUTE_UNKNOWN: u8 = 0;
const ROUTE_PRESENT: u8 = 1;
const ROUTE_MISSING: u8 = 2;

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
    /// Direct S3 uploads for servers without upload URLs; its client is built on first use.
    #[cfg(feature = "s3")]
    s3: crate::s3::S3Uploader,
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
            #[cfg(feature = "s3")]
            s3: crate::s3::S3Uploader::default(),
        }
    }

    /// Uses `settings` for direct S3 uploads (no effect without the `s3` feature).
    pub(crate) fn with_s3(self, settings: crate::s3::S3Settings) -> Self {
        #[cfg(feature = "s3")]
        return Self {
            s3: crate::s3::S3Uploader::new(settings),
            ..self
        };
        #[cfg(not(feature = "s3"))]
        {
            let _ = settings;
            self
        }
    }

    pub(crate) async fn upload(
        &self,
        assignment_id: i64,
        scheme: Option<&str>,
        storage_uri: &str,
        relative_path: &str,
        source: Source,
        lease: &Lease,
    ) -> Result<(), HandlerError> {
        validate_relative_path(relative_path)
            .map_err(|e| HandlerError::new(format!("invalid result file path: {e}")))?;
        if self.route.load(Ordering::Relaxed) != ROUTE_MISSING {
            match self.upload_url(assignment_id, relative_path, lease).await? {
                UrlAnswer::Url(url) => {
                    self.route.store(ROUTE_PRESENT, Ordering::Relaxed);
                    return self.put(&url, relative_path, &source, lease).await;
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
            #[cfg(feature = "s3")]
            return self
                .s3
                .upload(storage_uri, relative_path, &source, lease)
                .await;
            #[cfg(not(feature = "s3"))]
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

    /// Asks for a presigned PUT URL, retrying transient errors while the lease lasts.
    async fn upload_url(
        &self,
        assignment_id: i64,
        relative_path: &str,
        lease: &Lease,
    ) -> Result<UrlAnswer, HandlerError> {
        let path = format!("/jobs/assignments/{assignment_id}/upload-urls");
        let body = UploadUrlsRequest {
            files: [relative_path],
        };
        let answer = within_lease(lease, "upload URL request", || async {
            match self.client.post(&path, &body).await {
                Ok(reply) if reply.status == StatusCode::OK => Ok(Some(reply)),
                Ok(reply) if reply.status == StatusCode::NOT_FOUND => Ok(None),
                Ok(reply) => Err(reply.error()),
                Err(error) => Err(error),
            }
        })
        .await
        .map_err(|gave_up| {
            // 409: the server says the lease is lost; the job is no longer this worker's.
            if gave_up.error().status() == Some(409) {
                lease.abandon();
            }
            HandlerError::new(format!("could not get an upload URL: {gave_up}"))
        })?;
        let Some(reply) = answer else {
            return Ok(UrlAnswer::RouteMissing);
        };
        let mut answer: UploadUrlsResponse = reply.json().map_err(upload_error)?;
        answer
            .files
            .remove(relative_path)
            .map(UrlAnswer::Url)
            .ok_or_else(|| {
                HandlerError::new(format!(
                    "the server returned no upload URL for {relative_path:?}"
                ))
            })
    }

    /// PUTs the bytes to a presigned URL, retrying transient errors while the lease lasts.
    async fn put(
        &self,
        url: &str,
        relative_path: &str,
        source: &Source,
        lease: &Lease,
    ) -> Result<(), HandlerError> {
        within_lease(lease, "upload", || self.put_once(url, source))
            .await
            .map_err(|gave_up| {
                HandlerError::new(format!("upload of {relative_path:?} failed: {gave_up}"))
            })?;
        tracing::debug!(relative_path, "uploaded");
        Ok(())
    }

    /// One PUT of `source` to `url`.
    async fn put_once(&self, url: &str, source: &Source) -> Result<(), PutError> {
        let request = self.client.http().put(url);
        let request = match source {
            Source::Bytes(bytes) => request.body(bytes.clone()),
            Source::File(path) => {
                let unreadable = |error: std::io::Error| PutError::Unreadable {
                    path: path.display().to_string(),
                    error,
                };
                let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
                let length = file.metadata().await.map_err(unreadable)?.len();
                let stream = tokio_util::io::ReaderStream::new(file);
                request
                    .header(reqwest::header::CONTENT_LENGTH, length)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        };
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                Err(PutError::Api(ApiError::Status {
                    status: status.as_u16(),
                    code: None,
                    message: body.chars().take(300).collect(),
                }))
            }
            Err(error) => Err(PutError::Api(ApiError::transport(&error))),
        }
    }
}

/// Why one PUT failed.
#[derive(Debug, thiserror::Error)]
enum PutError {
    /// The store answered with an error, or did not answer.
    #[error(transparent)]
    Api(ApiError),
    /// The local file could not be read.
    #[error("cannot read {path}: {error}")]
    Unreadable { path: String, error: std::io::Error },
}

impl Transient for PutError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Api(error) if error.is_transient())
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
