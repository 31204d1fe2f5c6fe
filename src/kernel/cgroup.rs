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
    /// The layout in `--sim-host`'s words.
    pub fn sim_host_name(self) -> &'static str {
        match self {
            CgroupMode::Unified => "v2",
            CgroupMode::Legacy => "v1",
            CgroupMode::Hybrid => "hybrid",
        }
    }
    /// `--sim-host`'s words for a layout: v1, v2, hybrid (or the mode's own name).
    pub fn parse_sim_host(s: &str) -> Option<CgroupMode> {
        match s {
            "v2" | "unified" => Some(CgroupMode::Unified),
            "v1" | "legacy" => Some(CgroupMode::Legacy),
            "hybrid" => Some(CgroupMode::Hybrid),
            _ => None,
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

/// Where the simulated host mounts its cgroup filesystems.
pub const SIM_MOUNT: &str = "/sys/fs/cgroup";
/// Where a hybrid simulated host mounts its (unused) v2 tree.
pub const SIM_HYBRID_V2: &str = "/sys/fs/cgroup/unified";

/// The simulated v1 host's hierarchies, one controller each (as on this
/// project's CI host; a distribution that co-mounts `cpu,cpuacct` names the
/// directory with a comma, which brace-expanded shell equivalents would
/// split): the hierarchy ID the kernel gave it (/proc/PID/cgroup's first
/// field), its controllers, and its directory under /sys/fs/cgroup.
pub const SIM_V1_HIERARCHIES: &[(u32, &str, &str)] = &[
    (1, "name=systemd", "systemd"),
    (2, "cpu", "cpu"),
    (3, "cpuacct", "cpuacct"),
    (4, "cpuset", "cpuset"),
    (5, "memory", "memory"),
    (6, "devices", "devices"),
    (7, "freezer", "freezer"),
    (8, "blkio", "blkio"),
    (9, "pids", "pids"),
    (10, "perf_event", "perf_event"),
    (11, "net_cls", "net_cls"),
    (12, "net_prio", "net_prio"),
    (13, "hugetlb", "hugetlb"),
];

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

    /// The simulated host's layout (`--sim-host`): a plain v2 machine by
    /// default, as most users have; v1 and hybrid mount one hierarchy per
    /// `SIM_V1_HIERARCHIES` entry, listed as `from_mountinfo` lists them.
    pub fn simulated(mode: CgroupMode) -> CgroupSetup {
        let hierarchies = match mode {
            CgroupMode::Unified => vec![PathBuf::from(SIM_MOUNT)],
            CgroupMode::Legacy | CgroupMode::Hybrid => {
                let mut v1: Vec<PathBuf> = SIM_V1_HIERARCHIES
                    .iter()
                    .map(|(_, _, dir)| Path::new(SIM_MOUNT).join(dir))
                    .collect();
                v1.sort();
                v1
            }
        };
        CgroupSetup { mode, hierarchies }
    }

    /// For a simulated hierarchy's mount point: its hierarchy ID and
    /// controllers as /proc/PID/cgroup names them (`0` and "" for v2).
    pub fn simulated_hierarchy(&self, mount: &Path) -> Option<(u32, &'static str)> {
        if self.mode == CgroupMode::Unified {
            return (mount == Path::new(SIM_MOUNT)).then_some((0, ""));
        }
        SIM_V1_HIERARCHIES
            .iter()
            .find(|(_, _, dir)| Path::new(SIM_MOUNT).join(dir) == mount)
            .map(|(id, controllers, _)| (*id, *controllers))
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

/// Where a container's cgroup files are read from: the kernel's cgroupfs,
/// or the simulated host's model (`kernel::sim::counters`), so `stats` reads
/// both through the same code.
pub trait CgroupFiles {
    /// The text of a cgroup file (None: no such file).
    fn read(&self, file: &Path) -> Option<String>;
}

/// The real host's cgroup files.
pub struct HostCgroupFiles;

impl CgroupFiles for HostCgroupFiles {
    fn read(&self, file: &Path) -> Option<String> {
        std::fs::read_to_string(file).ok()
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

/// Whether `path` is a cgroup strictly inside one of the hierarchies (never
/// a hierarchy's root): glassbox-runtime's guard, since an OCI bundle
/// chooses its own cgroupsPath (podman's /libpod_parent/libpod-ID).
pub fn is_inside(setup: &CgroupSetup, path: &Path) -> bool {
    !path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
        && setup
            .hierarchies
            .iter()
            .any(|h| path.starts_with(h) && path != h.as_path())
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
    fn simulated_layouts() {
        let v2 = CgroupSetup::simulated(CgroupMode::Unified);
        assert_eq!(
            v2.paths_for("abc"),
            vec![PathBuf::from("/sys/fs/cgroup/glassbox/abc")]
        );
        assert_eq!(
            v2.simulated_hierarchy(Path::new("/sys/fs/cgroup")),
            Some((0, ""))
        );
        for mode in [CgroupMode::Legacy, CgroupMode::Hybrid] {
            let v1 = CgroupSetup::simulated(mode);
            assert_eq!(v1.mode, mode);
            assert_eq!(v1.hierarchies.len(), SIM_V1_HIERARCHIES.len());
            let paths = v1.paths_for("abc");
            assert!(paths.contains(&PathBuf::from("/sys/fs/cgroup/memory/glassbox/abc")));
            assert_eq!(
                v1.simulated_hierarchy(Path::new("/sys/fs/cgroup/cpuacct")),
                Some((3, "cpuacct"))
            );
            // The same order the real detection gives a host with these mounts.
            let info: String = v1
                .hierarchies
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    format!(
                        "{} 1 0:{i} / {} rw - cgroup cgroup rw\n",
                        30 + i,
                        h.display()
                    )
                })
                .collect();
            assert_eq!(
                CgroupSetup::from_mountinfo(&info).unwrap().hierarchies,
                v1.hierarchies
            );
        }
        assert_eq!(
            CgroupMode::parse_sim_host("hybrid"),
            Some(CgroupMode::Hybrid)
        );
        assert_eq!(CgroupMode::parse_sim_host("v3"), None);
    }

    #[test]
    fn no_cgroups_is_a_clear_error() {
        let err = CgroupSetup::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/vda rw").unwrap_err();
        assert!(err.to_string().contains("no cgroup filesystem"));
    }
}
