//! Small filesystem helpers shared by the image store and container records:
//! atomic writes (tmp + rename, so a crash never leaves half a file) and the
//! store-wide lock (flock, so two glassbox commands never corrupt the store).

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Write `data` to `path` atomically: write a sibling temp file, fsync it, rename it over.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    atomic_write_with(path, data, true)
}

/// As `atomic_write`; `durable: false` skips the fsync. Readers still see the
/// old or the new file, never half of one; only a power cut may lose the
/// latest version. Container state uses it: it is rewritten on every
/// transition, sits on the start-up path, and `container::list` re-derives
/// the truth from the kernel anyway.
pub fn atomic_write_with(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().context("atomic_write: path has no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path).with_context(|| format!("rename into {}", path.display()))?;
    Ok(())
}

/// Serialize `value` as pretty JSON and write it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)?;
    atomic_write(path, &data)
}

/// Pretty JSON, written atomically without fsync (see `atomic_write_with`).
pub fn write_json_fast<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    atomic_write_with(path, &serde_json::to_vec_pretty(value)?, false)
}

/// Read and parse a JSON file, naming the file on error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parse {}", path.display()))
}

/// An exclusive or shared flock on `<root>/lock`, released on drop.
pub struct StoreLock {
    file: File,
}

impl StoreLock {
    pub fn exclusive(root: &Path) -> Result<StoreLock> {
        Self::take(root, libc::LOCK_EX)
    }
    pub fn shared(root: &Path) -> Result<StoreLock> {
        Self::take(root, libc::LOCK_SH)
    }
    fn take(root: &Path, how: libc::c_int) -> Result<StoreLock> {
        fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
        let path = root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        // SAFETY: flock on a valid fd we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), how) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("flock store lock");
        }
        Ok(StoreLock { file })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}
