//! Downloads and uploads through signed URLs (the embedded default's local store): the store
//! decides which file a URL grants, this service decides when (the [`Clock`]) and how much (the
//! upload size limit). Uploads stream chunk by chunk; a body is never held in memory whole.

use std::fmt::Display;

use futures_util::{Stream, StreamExt as _};
use thiserror::Error;

use crate::clock::Clock;
use crate::signed_files::{
    LocalFile, SignedFileStore, SignedMethod, SignedUpload, SignedUrl, SignedUrlError,
};

/// Why an upload through a signed URL failed.
#[derive(Debug, Error)]
pub enum SignedUploadError {
    /// The URL does not grant the upload.
    #[error(transparent)]
    Refused(#[from] SignedUrlError),
    /// The body is larger than the limit; nothing was stored.
    #[error("Files may be at most {max_bytes} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max_bytes: u64,
    },
    /// The body stopped arriving (the reason as the transport told it); nothing was stored.
    #[error("Upload interrupted: {0}")]
    Interrupted(String),
    /// The store failed; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The signed-URL use cases over a [`SignedFileStore`].
#[derive(Debug, Clone)]
pub struct SignedFileService<F, C> {
    files: F,
    clock: C,
    /// Largest file accepted, in bytes.
    max_upload_bytes: u64,
}

impl<F: SignedFileStore, C: Clock> SignedFileService<F, C> {
    /// Wires the service; uploads larger than `max_upload_bytes` are refused.
    pub const fn new(files: F, clock: C, max_upload_bytes: u64) -> Self {
        Self {
            files,
            clock,
            max_upload_bytes,
        }
    }

    /// The file a download through `url` may read, now.
    ///
    /// # Errors
    /// The store's [`SignedUrlError`] when `url` does not grant a download.
    pub fn download(&self, url: &SignedUrl) -> Result<LocalFile, SignedUrlError> {
        self.files
            .authorize(SignedMethod::Get, url, self.clock.now())
    }

    /// Stores `body` as the file `url` grants an upload to, chunk by chunk, and returns its size.
    /// The file is replaced only once every byte arrived and was written.
    ///
    /// # Errors
    /// [`SignedUploadError::Refused`] when `url` does not grant an upload (checked before any
    /// byte is read); [`SignedUploadError::Interrupted`] when `body` fails;
    /// [`SignedUploadError::TooLarge`] as soon as more than the limit arrived;
    /// [`SignedUploadError::Unexpected`] when the store fails.
    pub async fn upload<S, B, E>(&self, url: &SignedUrl, body: S) -> Result<u64, SignedUploadError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: Display,
    {
        let file = self
            .files
            .authorize(SignedMethod::Put, url, self.clock.now())?;
        let mut upload = self.files.begin_upload(&file).await?;
        let mut body = std::pin::pin!(body);
        let mut received: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| SignedUploadError::Interrupted(e.to_string()))?;
            let chunk = chunk.as_ref();
            received = received.saturating_add(chunk.len() as u64);
            if received > self.max_upload_bytes {
                return Err(SignedUploadError::TooLarge {
                    max_bytes: self.max_upload_bytes,
                });
            }
            upload.write_chunk(chunk).await?;
        }
        Ok(upload.finish().await?)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use chrono::{TimeZone as _, Utc};
    use futures_util::stream;
    use mockall::predicate::eq;

    use super::*;
    use crate::clock::MockClock;
    use crate::signed_files::{MockSignedFileStore, MockSignedUpload};

    fn url() -> SignedUrl {
        SignedUrl {
            key: "test/1/2/out.txt".to_owned(),
            expires: 1_700_000_000,
            signature: "ab".to_owned(),
        }
    }

    fn clock() -> MockClock {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| {
            Utc.timestamp_opt(1_600_000_000, 0)
                .single()
                .expect("an instant")
        });
        clock
    }

    fn file() -> LocalFile {
        LocalFile::new("/data/results/test/1/2/out.txt".into())
    }

    /// A store granting `method` on [`file`] at the clock's time, whose upload (if any) is
    /// `upload`.
    fn store(method: SignedMethod, upload: Option<MockSignedUpload>) -> MockSignedFileStore {
        let mut files = MockSignedFileStore::new();
        files
            .expect_authorize()
            .withf(move |m, u, now| *m == method && *u == url() && now.timestamp() == 1_600_000_000)
            .returning(|_, _, _| Ok(file()));
        if let Some(upload) = upload {
            files
                .expect_begin_upload()
                .with(eq(file()))
                .return_once(move |_| Ok(upload));
        }
        files
    }

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<&'static [u8], Infallible>> {
        stream::iter(
            parts
                .iter()
                .map(|part| Ok(part.as_bytes()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_download_is_checked_at_the_clocks_time() {
        let service = SignedFileService::new(store(SignedMethod::Get, None), clock(), 10);
        assert_eq!(service.download(&url()).expect("granted"), file());
    }

    #[tokio::test]
    async fn a_refused_upload_reads_nothing() {
        let mut files = MockSignedFileStore::new();
        files
            .expect_authorize()
            .returning(|_, _, _| Err(SignedUrlError::Expired));
        let service = SignedFileService::new(files, clock(), 10);
        let body = stream::once(async { panic!("the body was read") as Result<&[u8], Infallible> });
        let error = service.upload(&url(), body).await.expect_err("refused");
        assert!(matches!(
            error,
            SignedUploadError::Refused(SignedUrlError::Expired)
        ));
    }

    #[tokio::test]
    async fn an_upload_streams_every_chunk_then_finishes() {
        let mut upload = MockSignedUpload::new();
        let mut seq = mockall::Sequence::new();
        for part in ["hello ", "world"] {
            upload
                .expect_write_chunk()
                .withf(move |bytes| bytes == part.as_bytes())
                .times(1)
                .in_sequence(&mut seq)
                .returning(|_| Ok(()));
        }
        upload
            .expect_finish()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(11));
        let service = SignedFileService::new(store(SignedMethod::Put, Some(upload)), clock(), 11);
        let bytes = service
            .upload(&url(), chunks(&["hello ", "world"]))
            .await
            .expect("stored");
        assert_eq!(bytes, 11);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_stops_before_its_last_chunk_is_written() {
        let mut upload = MockSignedUpload::new();
        upload.expect_write_chunk().times(1).returning(|_| Ok(()));
        upload.expect_finish().never();
        let service = SignedFileService::new(store(SignedMethod::Put, Some(upload)), clock(), 10);
        let error = service
            .upload(&url(), chunks(&["hello ", "world"]))
            .await
            .expect_err("too large");
        assert!(matches!(
            error,
            SignedUploadError::TooLarge { max_bytes: 10 }
        ));
        assert_eq!(error.to_string(), "Files may be at most 10 bytes");
    }

    #[tokio::test]
    async fn an_interrupted_body_is_not_stored() {
        let mut upload = MockSignedUpload::new();
        upload.expect_write_chunk().never();
        upload.expect_finish().never();
        let service = SignedFileService::new(store(SignedMethod::Put, Some(upload)), clock(), 10);
        let body = stream::iter([Err::<&[u8], _>("connection reset")]);
        let error = service.upload(&url(), body).await.expect_err("interrupted");
        assert_eq!(error.to_string(), "Upload interrupted: connection reset");
    }

    #[tokio::test]
    async fn a_failing_store_is_unexpected() {
        let mut upload = MockSignedUpload::new();
        upload
            .expect_write_chunk()
            .returning(|_| Err(anyhow::anyhow!("disk full")));
        upload.expect_finish().never();
        let service = SignedFileService::new(store(SignedMethod::Put, Some(upload)), clock(), 10);
        let error = service
            .upload(&url(), chunks(&["hello"]))
            .await
            .expect_err("failed");
        assert!(matches!(error, SignedUploadError::Unexpected(_)));
    }
}
