//! cgroup layout: where a container's cgroup lives on this host.
//!
//! cgroup v2 ("unified") has one tree: a container is one directory.
//! cgroup v1 ("legacy") has one tree per controller (cpu, memory, pids, ...):
//! a container is one directory in each. "Hybrid" hosts mount v1 controllers
//! and an (often empty) v2 tree at /sys/fs/cgroup/unified; glassbox uses the v1
//! controllers there (crun 1.8 refuses such hosts; we do not).
//! Both versions express the same intent (make, join, limit, remove); they
//! differ only in which files get written. Limits arrive with the resources
//! issue as `Intent -> Vec<(file, value)>` per version.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupMode {
    /// v2 only.
    Unified,
    /// v1 only.
    Legacy,
    /// v1 controllers plus a v2 tree beside them.
    Hybrid,
}

impl CgroupMode {
    pub fn version(self) -> u8 {
        match self {
            CgroupMode::Unified => 2,
            CgroupMode::Legacy | CgroupMode::Hybrid => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CgroupMode::Unified => "unified",
            CgroupMode::Legacy => "legacy",
            CgroupMode::Hybrid => "hybrid",
        }
    }
}

/// The cgroup hierarchies glassbox will use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupSetup {
    pub mode: CgroupMode,
    /// v2: one mount point. v1: one per mounted hierarchy (controller).
    pub hierarchies: Vec<PathBuf>,
}

/// The directory under each hierarchy that holds glassbox's containers.
pub const PARENT: &str = "glassbox";

impl CgroupSetup {
    /// Read the host's layout from /proc/self/mountinfo. `GLASSBOX_CGROUP_ROOT`
    /// points glassbox at a fake v2 tree (tests of v2 on v1 hosts).
    pub fn detect() -> Result<CgroupSetup> {
        if let Some(fake) = std::env::var_os("GLASSBOX_CGROUP_ROOT") {
            return Ok(CgroupSetup {
                mode: CgroupMode::Unified,
                hierarchies: vec![PathBuf::from(fake)],
            });
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
        Self::from_mountinfo(&info)
    }

    /// Parse mountinfo text (split out so it can be tested on any host).
    pub fn from_mountinfo(info: &str) -> Result<CgroupSetup> {
        let mut v1 = Vec::new();
        let mut v2 = Vec::new();
        for line in info.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(sep) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(mount_point), Some(fstype)) = (fields.get(4), fields.get(sep + 1)) else {
                continue;
            };
            match *fstype {
                "cgroup2" => v2.push(PathBuf::from(mount_point)),
                "cgroup" => v1.push(PathBuf::from(mount_point)),
                _ => {}
            }
        }
        v1.sort();
        v1.dedup();
        Ok(match (v1.is_empty(), v2.is_empty()) {
            (true, false) => CgroupSetup { mode: CgroupMode::Unified, hierarchies: vec![v2[0].clone()] },
            (false, true) => CgroupSetup { mode: CgroupMode::Legacy, hierarchies: v1 },
            (false, false) => CgroupSetup { mode: CgroupMode::Hybrid, hierarchies: v1 },
            (true, true) => bail!("no cgroup filesystem is mounted (looked in /proc/self/mountinfo); mount cgroup2 on /sys/fs/cgroup"),
        })
    }

    /// The simulated host: a plain v2 machine, as most users have.
    pub fn simulated() -> CgroupSetup {
        CgroupSetup {
            mode: CgroupMode::Unified,
            hierarchies: vec![PathBuf::from("/sys/fs/cgroup")],
        }
    }

    /// The container's cgroup directories (one on v2, one per hierarchy on v1).
    pub fn paths_for(&self, container_id: &str) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|h| h.join(PARENT).join(container_id))
            .collect()
    }

    /// The version-specific name of the file that lists a cgroup's processes.
    pub fn procs_file(&self) -> &'static str {
        "cgroup.procs"
    }
}

/// The `oom_kill N` counter of a memory cgroup file: v1's
/// `memory.oom_control` and v2's `memory.events` both carry this line.
pub fn parse_oom_kill(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == "oom_kill")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// How many of the cgroup's processes the kernel's OOM killer killed: read
/// from `memory.oom_control` in the v1 memory hierarchy's directory, or
/// `memory.events` in the v2 directory (whichever of `paths` has it).
/// Read before `cgroup_remove`: the counters go with the directory.
pub fn oom_kills(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .flat_map(|p| [p.join("memory.oom_control"), p.join("memory.events")])
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| parse_oom_kill(&t))
        .max()
        .unwrap_or(0)
}

/// Whether `path` is inside one of the hierarchies (a guard before rmdir).
pub fn is_under(setup: &CgroupSetup, path: &Path) -> bool {
    setup
        .hierarchies
        .iter()
        .any(|h| path.starts_with(h.join(PARENT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    #[test]
    fn hybrid_host_uses_v1_controllers() {
        let s = CgroupSetup::from_mountinfo(HYBRID).unwrap();
        assert_eq!(s.mode, CgroupMode::Hybrid);
        assert_eq!(s.hierarchies.len(), 3);
        assert_eq!(
            s.paths_for("abc")[1],
            PathBuf::from("/sys/fs/cgroup/memory/glassbox/abc")
        );
    }

    #[test]
    fn unified_host_has_one_directory() {
        let s = CgroupSetup::from_mountinfo("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw")
            .unwrap();
        assert_eq!(s.mode, CgroupMode::Unified);
        assert_eq!(
            s.paths_for("abc"),
            vec![PathBuf::from("/sys/fs/cgroup/glassbox/abc")]
        );
    }

    #[test]
    fn legacy_host() {
        let only_v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            CgroupSetup::from_mountinfo(&only_v1).unwrap().mode,
            CgroupMode::Legacy
        );
    }

    #[test]
    fn oom_kill_counters_of_both_versions() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 14\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kill(v1), 2);
        assert_eq!(parse_oom_kill(v2), 1);
        assert_eq!(parse_oom_kill("oom_kill_disable 1\nunder_oom 0\n"), 0);
        assert_eq!(parse_oom_kill("oom 3\noom_group_kill 1\n"), 0);
        let dir = tempfile::tempdir().unwrap();
        let (mem, cpu) = (dir.path().join("memory"), dir.path().join("cpu"));
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::create_dir_all(&cpu).unwrap();
        assert_eq!(oom_kills(&[cpu.clone(), mem.clone()]), 0);
        std::fs::write(mem.join("memory.oom_control"), v1).unwrap();
        assert_eq!(oom_kills(&[cpu, mem.clone()]), 2);
        std::fs::write(dir.path().join("memory.events"), v2).unwrap();
        assert_eq!(oom_kills(&[dir.path().to_path_buf()]), 1);
    }

    #[test]
    fn no_cgroups_is_a_clear_error() {
        let err = CgroupSetup::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/vda rw").unwrap_err();
        assert!(err.to_string().contains("no cgroup filesystem"));
    }
}
