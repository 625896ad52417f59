//! Writing a stored file so that readers never see it half-written: the bytes go to a
//! temporary file under `<root>/.uploads/`, which replaces the target in one rename once every
//! byte is on disk. An upload dropped before [`Upload::finish`] leaves nothing behind.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use rand::rngs::OsRng;

/// The directory below the root where uploads in progress are written. Keys may not name it.
pub(crate) const UPLOADS_DIR: &str = ".uploads";

/// A stored file being written: the bytes go to a temporary file under `<root>/.uploads/`, which
/// replaces the target in one rename on [`finish`](Self::finish); dropped before that, it leaves
/// nothing behind.
#[derive(Debug)]
pub struct Upload {
    /// The temporary file, `None` while a write holds it (or after a write was abandoned).
    file: Option<File>,
    /// Where the temporary file is.
    temp: PathBuf,
    /// The file it replaces on [`finish`](Self::finish).
    target: PathBuf,
    /// Bytes written so far.
    written: u64,
    /// Whether the temporary file was renamed into place.
    finished: bool,
}

impl Upload {
    /// Creates a fresh temporary file under `<root>/.uploads/` for writing `target`.
    pub(crate) async fn begin(root: &Path, target: PathBuf) -> io::Result<Self> {
        let uploads = root.join(UPLOADS_DIR);
        let mut nonce = [0_u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let temp = uploads.join(format!("{}.part", hex::encode(nonce)));
        let file = blocking({
            let temp = temp.clone();
            move || {
                std::fs::create_dir_all(&uploads)?;
                File::options().write(true).create_new(true).open(&temp)
            }
        })
        .await?;
        Ok(Self {
            file: Some(file),
            temp,
            target,
            written: 0,
            finished: false,
        })
    }

    /// Appends `bytes` to the file.
    ///
    /// # Errors
    /// The I/O error writing them; once a write failed (or was cancelled), every later call
    /// fails too.
    pub async fn write_chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_owned(bytes.to_vec()).await
    }

    /// Appends `bytes` to the file without copying them.
    pub(crate) async fn write_owned(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        let mut file = self.take_file()?;
        let len = bytes.len() as u64;
        let file = blocking(move || {
            file.write_all(&bytes)?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    /// Makes the bytes durable and moves them to the target (creating its parent directories),
    /// replacing any file there; returns how many bytes were written.
    ///
    /// # Errors
    /// The I/O error syncing or renaming; the temporary file is then removed.
    pub async fn finish(mut self) -> io::Result<u64> {
        let file = self.take_file()?;
        let temp = self.temp.clone();
        let target = self.target.clone();
        blocking(move || {
            file.sync_all()?;
            drop(file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&temp, &target)
        })
        .await?;
        self.finished = true;
        Ok(self.written)
    }

    /// The open file, or an error when an earlier write failed or was cancelled while holding it.
    fn take_file(&mut self) -> io::Result<File> {
        self.file
            .take()
            .ok_or_else(|| io::Error::other("the upload failed earlier and cannot continue"))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        drop(self.file.take());
        if let Err(error) = std::fs::remove_file(&self.temp)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(
                temp = %self.temp.display(),
                %error,
                "could not remove an abandoned upload"
            );
        }
    }
}

/// Runs blocking file I/O on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}
