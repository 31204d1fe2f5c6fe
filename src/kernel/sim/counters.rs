//! The simulated cgroup's counter files, read at a moment: the limit and
//! freezer files hold what was written (`limits`); the usage counters
//! (memory.current, memory.events, cpu.stat, pids.current, io.stat and
//! their v1 names) are what the cgroup's running programs, recomputed up
//! to that moment (`host::Detached::replay`), used (`sh::memcg`). A frozen
//! program's clock stands still, and so do its counters.

use super::host::{self, HostState};
use super::sh::memcg::CgCounters;
use crate::kernel::cgroup::{CgroupFiles, CgroupMode, CgroupSetup};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The simulated host's cgroup files as they read at `at_ms`.
pub struct SimCgroupFiles {
    st: HostState,
    at_ms: u64,
}

impl SimCgroupFiles {
    /// The files of the simulated host in the store at `root`, now.
    pub fn now(root: &Path) -> Result<SimCgroupFiles> {
        Ok(SimCgroupFiles {
            st: host::load_state(root)?,
            at_ms: crate::clock::now_ms(),
        })
    }

    /// The layout the container's cgroups were made on (v1 has a memory
    /// hierarchy directory for it).
    pub fn setup_of(&self, id: &str) -> CgroupSetup {
        let v1 = self
            .st
            .cgroups
            .keys()
            .any(|d| d.ends_with(id) && d.starts_with("/sys/fs/cgroup/memory"));
        CgroupSetup::simulated(if v1 {
            CgroupMode::Legacy
        } else {
            CgroupMode::Unified
        })
    }

    /// The counters of the cgroup `dir`: its running programs' summed.
    fn counters(&self, dir: &Path) -> Option<CgCounters> {
        let members = self.st.cgroups.get(dir)?;
        let mut sum = CgCounters::default();
        for pid in members {
            let Some(d) = self.st.procs.get(pid).filter(|d| d.exited.is_none()) else {
                continue;
            };
            if d.started_ms > self.at_ms {
                continue;
            }
            if let Ok((trace, _)) = d.replay(self.at_ms) {
                if matches!(trace.outcome, super::shell::Outcome::StillRunning { .. }) {
                    sum.add(&trace.cg);
                }
            }
        }
        Some(sum)
    }
}

impl CgroupFiles for SimCgroupFiles {
    fn read(&self, file: &Path) -> Option<String> {
        if let Some(v) = self.st.cgroup_files.get(file) {
            return Some(v.clone());
        }
        let dir = file.parent()?;
        let name = file.file_name()?.to_str()?;
        let c = self.counters(dir)?;
        counter_file(&c, name, controller_of(dir))
    }
}

/// The v1 hierarchy a directory is in (its controller), "" on v2.
fn controller_of(dir: &Path) -> &str {
    dir.strip_prefix("/sys/fs/cgroup")
        .ok()
        .and_then(|r| r.components().next())
        .and_then(|c| c.as_os_str().to_str())
        .filter(|h| *h != "glassbox")
        .unwrap_or("")
}

/// A counter file's text in the kernel's format (or its default, for a
/// limit file nothing wrote); None for a file the directory does not have.
pub fn counter_file(c: &CgCounters, name: &str, controller: &str) -> Option<String> {
    let v2 = controller.is_empty();
    let mine = |ctl: &str| v2 || controller == ctl;
    let text = match name {
        // v2
        "memory.current" if v2 => c.memory.to_string(),
        "memory.peak" if v2 => c.peak.to_string(),
        "memory.max" | "memory.swap.max" | "memory.high" if v2 => "max".into(),
        "memory.events" if v2 => format!(
            "low 0\nhigh 0\nmax {}\noom {}\noom_kill {}\noom_group_kill 0",
            c.max_events, c.oom, c.oom_kill
        ),
        "memory.stat" if v2 => format!(
            "anon {}\nfile {}\nkernel 0\nshmem {}\nfile_mapped 0\nfile_dirty 0\nactive_anon {}\ninactive_anon {}\nactive_file 0\ninactive_file 0\nunevictable 0",
            c.anon, c.shmem, c.shmem, c.anon, c.shmem
        ),
        "cpu.stat" if v2 => format!(
            "usage_usec {}\nuser_usec {}\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0",
            c.cpu_us, c.cpu_us
        ),
        "cpu.max" if v2 => "max 100000".into(),
        "pids.current" if mine("pids") => c.pids.to_string(),
        "pids.max" if mine("pids") => "max".into(),
        "pids.events" if mine("pids") => format!("max {}", c.pids_refused),
        "io.stat" if v2 => {
            if c.wbytes == 0 {
                String::new()
            } else {
                format!(
                    "8:0 rbytes=0 wbytes={} rios=0 wios={} dbytes=0 dios=0",
                    c.wbytes, c.wios
                )
            }
        }
        // v1
        "memory.usage_in_bytes" if controller == "memory" => c.memory.to_string(),
        "memory.max_usage_in_bytes" if controller == "memory" => c.peak.to_string(),
        "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" if controller == "memory" => {
            "9223372036854771712".into()
        }
        "memory.failcnt" if controller == "memory" => c.max_events.to_string(),
        "memory.oom_control" if controller == "memory" => format!(
            "oom_kill_disable 0\nunder_oom {}\noom_kill {}",
            u8::from(c.under_oom),
            c.oom_kill
        ),
        "memory.stat" if controller == "memory" => format!(
            "cache {}\nrss {}\nshmem {}\nmapped_file 0\ninactive_anon {}\nactive_anon {}\ninactive_file 0\nactive_file 0\ntotal_cache {}\ntotal_rss {}\ntotal_shmem {}\ntotal_inactive_file 0",
            c.shmem, c.anon, c.shmem, c.shmem, c.anon, c.shmem, c.anon, c.shmem
        ),
        "cpuacct.usage" if controller == "cpuacct" => (c.cpu_us * 1000).to_string(),
        "cpuacct.usage_user" if controller == "cpuacct" => (c.cpu_us * 1000).to_string(),
        "blkio.throttle.io_service_bytes" if controller == "blkio" => {
            if c.wbytes == 0 {
                "Total 0".into()
            } else {
                format!(
                    "8:0 Read 0\n8:0 Write {w}\n8:0 Sync {w}\n8:0 Async 0\n8:0 Discard 0\n8:0 Total {w}\nTotal {w}",
                    w = c.wbytes
                )
            }
        }
        _ => return None,
    };
    Some(text)
}

/// The file whose oom_kill line counts the container's OOM kills: v2's
/// memory.events, v1's memory.oom_control in the memory hierarchy.
pub fn oom_file(setup: &CgroupSetup, dirs: &[PathBuf]) -> Option<PathBuf> {
    if setup.mode == CgroupMode::Unified {
        return dirs.first().map(|d| d.join("memory.events"));
    }
    dirs.iter()
        .find(|d| controller_of(d) == "memory")
        .map(|d| d.join("memory.oom_control"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_in_v2_and_v1_formats() {
        let c = CgCounters {
            memory: 1048576,
            oom: 1,
            oom_kill: 1,
            cpu_us: 250,
            pids: 2,
            ..Default::default()
        };
        assert_eq!(counter_file(&c, "memory.current", "").unwrap(), "1048576");
        assert!(counter_file(&c, "memory.events", "")
            .unwrap()
            .contains("oom_kill 1"));
        assert_eq!(
            crate::kernel::cgroup::parse_oom_kill(
                &counter_file(&c, "memory.oom_control", "memory").unwrap()
            ),
            1
        );
        assert_eq!(
            counter_file(&c, "cpuacct.usage", "cpuacct").unwrap(),
            "250000"
        );
        assert_eq!(counter_file(&c, "pids.current", "pids").unwrap(), "2");
        // A v1 hierarchy has only its controller's files.
        assert!(counter_file(&c, "memory.usage_in_bytes", "cpu").is_none());
        assert!(counter_file(&c, "memory.current", "memory").is_none());
    }
}
