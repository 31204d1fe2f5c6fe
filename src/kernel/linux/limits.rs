//! Resource limits and the freezer on the real cgroup filesystem: plain
//! writes of the values `resources::files` chose, and freeze/thaw with the
//! wait for the kernel to report it done.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Write each (file, value) in order; the first refusal stops, naming the
/// file, the value and the kernel's reason.
pub fn write_limits(writes: &[(PathBuf, String)]) -> Result<()> {
    for (file, value) in writes {
        std::fs::write(file, value)
            .with_context(|| format!("write {value} to {}", file.display()))?;
    }
    Ok(())
}

/// Whether `dir` is on a real cgroup filesystem (the fake v2 test tree is not).
fn on_cgroupfs(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .map(|s| {
            let t = s.filesystem_type();
            t == nix::sys::statfs::CGROUP_SUPER_MAGIC || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
        })
        .unwrap_or(false)
}

/// Freeze or thaw the cgroup at `dir` and wait (5 s at most) until the
/// kernel says every process reached that state (v1 freezer.state may read
/// FREEZING for a while; v2 reports in cgroup.events).
pub fn freeze(dir: &Path, frozen: bool, version: u8) -> Result<()> {
    let (file, value, done_file, done) = if version == 1 {
        let v = if frozen { "FROZEN" } else { "THAWED" };
        ("freezer.state", v, "freezer.state", v.to_string())
    } else {
        (
            "cgroup.freeze",
            if frozen { "1" } else { "0" },
            "cgroup.events",
            format!("frozen {}", u8::from(frozen)),
        )
    };
    std::fs::write(dir.join(file), value)
        .with_context(|| format!("write {value} to {}", dir.join(file).display()))?;
    if !on_cgroupfs(dir) {
        return Ok(()); // a fake tree: no kernel to wait for
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(dir.join(done_file)).unwrap_or_default();
        if text.lines().any(|l| l.trim() == done) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not report `{done}` within 5 s (it reads {:?})",
                dir.join(done_file).display(),
                text.trim()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
