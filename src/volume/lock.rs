//! One lock per volume: an flock on `volumes/.locks/<name>`, opened
//! relative to the fd of `volumes/.locks` (a name is never a path; a
//! symlink there is refused with ELOOP, not followed).
//!
//! Who holds it: `volume rm` (and `prune`, `rm -v`, `--rm`) exclusively
//! from its check that no container record names the volume to its rename
//! away; `create` shared, for each volume it names, while it writes the
//! container's record; the making of a volume and the seeding of an empty
//! one exclusively. So a removal and a container taking the volume are
//! ordered: either the record is there when the removal checks (refused,
//! "volume is in use") or the removal is done before the record is written
//! (the start makes a fresh volume): never a container on a deleted one.
//!
//! A removal deletes the lock file while it holds it; whoever was waiting
//! on that file then finds another (or no) file at the name and takes the
//! lock again on the new one, so a lock file never piles up and two holders
//! never hold two different files of one name. The kernel drops an flock
//! with its last fd: a holder killed with SIGKILL leaves nothing locked.

use super::store;
use crate::fsutil;
use anyhow::{Context, Result};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

const LOCKS: &[u8] = b".locks";

/// A held volume lock; released when dropped.
#[derive(Debug)]
pub struct VolumeLock {
    file: OwnedFd,
    locks: OwnedFd,
    name: String,
}

fn flock(fd: &OwnedFd, how: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(fd.as_raw_fd(), how) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

impl VolumeLock {
    pub fn exclusive(root: &Path, name: &str) -> Result<VolumeLock> {
        Self::take(&store::volumes_dir(root), name, libc::LOCK_EX)
    }

    pub fn shared(root: &Path, name: &str) -> Result<VolumeLock> {
        Self::take(&store::volumes_dir(root), name, libc::LOCK_SH)
    }

    /// The exclusive lock of the volume whose data directory is `data`
    /// (`<volumes>/<name>/_data`), as the seed step knows it.
    pub fn exclusive_for_data(data: &Path) -> Result<VolumeLock> {
        let vol = data.parent().context("a volume's data directory")?;
        let (Some(volumes), Some(name)) = (vol.parent(), vol.file_name()) else {
            anyhow::bail!("{} is not a volume's data directory", data.display());
        };
        Self::take(volumes, &name.to_string_lossy(), libc::LOCK_EX)
    }

    fn take(volumes: &Path, name: &str, how: libc::c_int) -> Result<VolumeLock> {
        if !super::spec::valid_volume_name(name) {
            anyhow::bail!("no lock for {name:?}: not a volume name");
        }
        std::fs::create_dir_all(volumes)
            .with_context(|| format!("create {}", volumes.display()))?;
        let dir = fsutil::RootDir::open(volumes)?;
        match fsutil::mkdir_at(dir.fd(), LOCKS, 0o755) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                return Err(e).with_context(|| format!("create {}/.locks", volumes.display()))
            }
            _ => {}
        }
        let locks = fsutil::openat(
            dir.fd(),
            LOCKS,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .with_context(|| format!("open {}/.locks", volumes.display()))?;
        let what = || {
            format!(
                "the lock of volume {name} ({}/.locks/{name})",
                volumes.display()
            )
        };
        loop {
            let flags = libc::O_CREAT | libc::O_NOFOLLOW;
            // Read-write to make it; a process that may not write there (a
            // user namespace's root) can still lock what exists.
            let file = fsutil::openat(locks.as_fd(), name.as_bytes(), flags | libc::O_RDWR, 0o644)
                .or_else(|e| match e.raw_os_error() {
                    Some(libc::EACCES) | Some(libc::EROFS) => fsutil::openat(
                        locks.as_fd(),
                        name.as_bytes(),
                        libc::O_RDONLY | libc::O_NOFOLLOW,
                        0,
                    ),
                    _ => Err(e),
                })
                .with_context(what)?;
            flock(&file, how).with_context(what)?;
            // Still the file at the name (no removal deleted it meanwhile)?
            let held = fsutil::fstat(file.as_fd()).with_context(what)?;
            match fsutil::lstat_at(locks.as_fd(), name.as_bytes()) {
                Ok(now) if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) => {
                    return Ok(VolumeLock {
                        file,
                        locks,
                        name: name.to_string(),
                    })
                }
                _ => continue,
            }
        }
    }

    /// The volume is gone: delete its lock file, still held (see the module).
    pub fn retire(self) {
        let _ = fsutil::unlink_at(self.locks.as_fd(), self.name.as_bytes());
    }
}

impl Drop for VolumeLock {
    fn drop(&mut self) {
        // Closing the fd would release it too; unlock first, explicitly,
        // in case a forked child still shares the open file.
        // SAFETY: unlocking our own fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Shared locks on each of `names` (sorted, each once: two commands taking
/// several never wait on each other in a cycle).
pub fn shared_all<'a>(
    root: &Path,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<VolumeLock>> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|n| VolumeLock::shared(root, n))
        .collect()
}
