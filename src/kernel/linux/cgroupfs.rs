//! Real cgroup directories: make, join, remove. v1 and v2 differ only in how
//! many directories there are (see `kernel::cgroup`); cpuset on v1 is the one
//! controller that needs its parent's cpus and mems copied before use.

use anyhow::{Context, Result};
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn create(path: &Path) -> Result<()> {
    // A concurrent removal of the shared parent can race with us: retry once.
    for attempt in 0..3 {
        match fs::create_dir_all(path) {
            Ok(()) => break,
            Err(e) if e.kind() == ErrorKind::NotFound && attempt < 2 => continue,
            Err(e) => return Err(e).with_context(|| format!("create cgroup {}", path.display())),
        }
    }
    if path.join("cpuset.cpus").exists() {
        // v1 cpuset starts empty and refuses tasks until cpus and mems are set.
        if let Some(parent) = path.parent() {
            for dir in [parent, path] {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let current = fs::read_to_string(dir.join(file)).unwrap_or_default();
                    if current.trim().is_empty() {
                        let from = dir
                            .parent()
                            .map(|p| fs::read_to_string(p.join(file)).unwrap_or_default())
                            .unwrap_or_default();
                        let _ = fs::write(dir.join(file), from.trim());
                    }
                }
            }
        }
    }
    Ok(())
}

pub fn join(path: &Path, pid: i32) -> Result<()> {
    fs::write(path.join("cgroup.procs"), pid.to_string())
        .with_context(|| format!("move process {pid} into cgroup {}", path.display()))
}

fn is_cgroupfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| {
            let t = s.filesystem_type();
            t == nix::sys::statfs::CGROUP_SUPER_MAGIC || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
        })
        .unwrap_or(false)
}

/// Remove a container's cgroup directory, and the shared parent when it is empty.
/// Processes of a dying PID namespace can take a moment to leave: wait up to 2 s.
pub fn remove(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    if !is_cgroupfs(path) {
        // A fake tree (tests of cgroup v2 on v1 hosts): plain files, plain removal.
        // (A real cgroup removed meanwhile by the container's monitor also
        // lands here, as statfs of a gone path fails: gone is what we want.)
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => {}
        }
    } else {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match fs::remove_dir(path) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("remove cgroup {}", path.display()))
                }
            }
        }
    }
    if let Some(parent) = path.parent() {
        // Fails while other containers still have cgroups there; that is fine.
        let _ = fs::remove_dir(parent);
    }
    Ok(())
}

/// Keep the kernel's cgroup migration path warm while a run gets ready.
///
/// Every write to a `cgroup.procs` takes the global
/// `cgroup_threadgroup_rwsem` for writing, and the first such write after a
/// quiet spell waits for an RCU grace period (`rcu_sync_enter`: 6 to 28 ms
/// on the dev VM); writes that follow within about one grace period don't.
/// So, from the start of `run`, a helper thread writes glassbox's own PID
/// into the cgroup it is already in (a migration that moves nothing) every
/// few milliseconds until `cgroup_join` is done (or 300 ms passed): the
/// grace period is waited for while glassbox reads the image and builds
/// the plan, not on the start's critical path. The thread only calls
/// open/write/close/nanosleep on memory it was given before it started (no
/// allocation, no lock), so the raw clone(2) of the container, which copies
/// the address space as the main thread sees it, is safe beside it; idle,
/// it parks.
pub struct MigrationWarmer {
    thread: std::thread::Thread,
    until_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    epoch: Instant,
}

static WARMER: std::sync::OnceLock<Option<MigrationWarmer>> = std::sync::OnceLock::new();

/// This process's own `cgroup.procs` in the first hierarchy of `mounts`
/// (from /proc/self/cgroup), if it is there to write.
pub fn own_procs_file(
    mounts: &[std::path::PathBuf],
    self_cgroup: &str,
) -> Option<std::path::PathBuf> {
    let mount = mounts.first()?;
    let name = mount.file_name()?.to_string_lossy().to_string();
    self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controllers.is_empty() {
            mounts.len() == 1 // v2: the one unified mount
        } else {
            controllers == name || controllers.strip_prefix("name=") == Some(name.as_str())
        };
        matches.then(|| {
            mount
                .join(path.trim_start_matches('/'))
                .join("cgroup.procs")
        })
    })
}

/// Start (or restart) keeping the migration path warm for up to 300 ms.
pub fn warm_migrations(mounts: &[std::path::PathBuf]) {
    use std::sync::atomic::Ordering;
    let warmer = WARMER.get_or_init(|| {
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let file = own_procs_file(mounts, &own).filter(|f| f.exists())?;
        let path = std::ffi::CString::new(file.into_os_string().into_encoded_bytes()).ok()?;
        let pid = std::process::id().to_string().into_bytes();
        let until_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let epoch = Instant::now();
        let until = until_ms.clone();
        let handle = std::thread::Builder::new()
            .name("cgroup-warm".into())
            .spawn(move || loop {
                if (epoch.elapsed().as_millis() as u64) >= until.load(Ordering::Acquire) {
                    std::thread::park();
                    continue;
                }
                // SAFETY: a NUL-terminated path and a byte buffer owned by this thread.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        until.store(0, Ordering::Release);
                        continue;
                    }
                    libc::write(fd, pid.as_ptr().cast(), pid.len());
                    libc::close(fd);
                }
                std::thread::sleep(Duration::from_millis(3));
            })
            .ok()?;
        Some(MigrationWarmer {
            thread: handle.thread().clone(),
            until_ms,
            epoch,
        })
    });
    if let Some(w) = warmer {
        let until = w.epoch.elapsed().as_millis() as u64 + 300;
        w.until_ms.store(until, Ordering::Release);
        w.thread.unpark();
    }
}

/// `cgroup_join` is done: stop writing.
pub fn stop_warming() {
    if let Some(Some(w)) = WARMER.get() {
        w.until_ms.store(0, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::own_procs_file;
    use std::path::PathBuf;

    #[test]
    fn own_cgroup_file_on_v1_and_v2() {
        let v1 = vec![
            PathBuf::from("/sys/fs/cgroup/blkio"),
            PathBuf::from("/sys/fs/cgroup/cpu"),
        ];
        let own = "9:name=systemd:/\n7:blkio:/user.slice\n2:cpu:/\n0::/\n";
        assert_eq!(
            own_procs_file(&v1, own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/blkio/user.slice/cgroup.procs"
            ))
        );
        let v2 = vec![PathBuf::from("/sys/fs/cgroup")];
        assert_eq!(
            own_procs_file(&v2, "0::/user.slice/session-1.scope\n"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/user.slice/session-1.scope/cgroup.procs"
            ))
        );
        let systemd = vec![PathBuf::from("/sys/fs/cgroup/systemd")];
        assert_eq!(
            own_procs_file(&systemd, "1:name=systemd:/a\n"),
            Some(PathBuf::from("/sys/fs/cgroup/systemd/a/cgroup.procs"))
        );
    }
}
