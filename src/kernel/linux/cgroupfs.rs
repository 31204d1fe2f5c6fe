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
