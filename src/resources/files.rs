//! Which cgroup files carry each limit, and the values written, per cgroup
//! version (runc's libcontainer/cgroups/fs for v1, fs2 for v2, with its
//! conversions: cpu.shares → cpu.weight, blkio weight → io.weight,
//! memory-swap → memory.swap.max).

use super::{units, Resources, DEFAULT_PERIOD};
use crate::kernel::cgroup::{CgroupMode, CgroupSetup};
use crate::step::Step;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One flag (or flags written together) and the files it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Group {
    /// -m and --memory-swap (written together: v1 orders them).
    Memory,
    MemoryReservation,
    OomKillDisable,
    /// --cpus, --cpu-period, --cpu-quota.
    Cpu,
    CpuShares,
    CpusetCpus,
    CpusetMems,
    Pids,
    BlkioWeight,
}

impl Group {
    /// The controller whose files it writes (v1 hierarchy; v2 subtree_control).
    pub fn controller(self) -> &'static str {
        match self {
            Group::Memory | Group::MemoryReservation | Group::OomKillDisable => "memory",
            Group::Cpu | Group::CpuShares => "cpu",
            Group::CpusetCpus | Group::CpusetMems => "cpuset",
            Group::Pids => "pids",
            Group::BlkioWeight => "blkio",
        }
    }
}

/// The groups a container's limits set (what `start` writes).
pub fn set_groups(r: &Resources) -> Vec<Group> {
    let mut g = Vec::new();
    if r.memory > 0 || r.memory_swap != 0 {
        g.push(Group::Memory);
    }
    if r.memory_reservation > 0 {
        g.push(Group::MemoryReservation);
    }
    if r.oom_kill_disable {
        g.push(Group::OomKillDisable);
    }
    if r.nano_cpus > 0 || r.cpu_period > 0 || r.cpu_quota != 0 {
        g.push(Group::Cpu);
    }
    if r.cpu_shares > 0 {
        g.push(Group::CpuShares);
    }
    if !r.cpuset_cpus.is_empty() {
        g.push(Group::CpusetCpus);
    }
    if !r.cpuset_mems.is_empty() {
        g.push(Group::CpusetMems);
    }
    if r.pids_limit != 0 {
        g.push(Group::Pids);
    }
    if r.blkio_weight > 0 {
        g.push(Group::BlkioWeight);
    }
    g
}

/// Whether a v1 hierarchy's mount point carries `controller` (`cpu,cpuacct`).
pub fn hierarchy_has(h: &Path, controller: &str) -> bool {
    h.file_name()
        .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == controller))
}

/// runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] onto [1, 10000].
pub fn shares_to_weight(shares: i64) -> i64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares - 2) * 9999) / 262142
}

/// runc's ConvertBlkIOToIOWeightValue: [10, 1000] onto [1, 10000].
pub fn blkio_to_io_weight(w: u16) -> i64 {
    if w == 0 {
        return 0;
    }
    1 + (w as i64 - 10) * 9999 / 990
}

/// The CFS period and quota the limits ask for (`--cpus 0.5`: 100000, 50000).
pub fn period_quota(r: &Resources) -> (i64, i64) {
    if r.nano_cpus > 0 {
        (DEFAULT_PERIOD, r.nano_cpus * DEFAULT_PERIOD / 1_000_000_000)
    } else {
        (r.cpu_period, r.cpu_quota)
    }
}

/// How the group's flags read (for the narration's title).
pub fn flag_text(g: Group, r: &Resources) -> String {
    match g {
        Group::Memory => {
            let mut s = format!("--memory {}", units::human_bytes(r.memory));
            if r.memory_swap == -1 {
                s += " --memory-swap -1";
            } else if r.memory_swap > 0 {
                s += &format!(" --memory-swap {}", units::human_bytes(r.memory_swap));
            }
            s
        }
        Group::MemoryReservation => format!(
            "--memory-reservation {}",
            units::human_bytes(r.memory_reservation)
        ),
        Group::OomKillDisable => "--oom-kill-disable".into(),
        Group::Cpu if r.nano_cpus > 0 => format!("--cpus {}", units::human_cpus(r.nano_cpus)),
        Group::Cpu => {
            let mut parts = Vec::new();
            if r.cpu_period > 0 {
                parts.push(format!("--cpu-period {}", r.cpu_period));
            }
            if r.cpu_quota != 0 {
                parts.push(format!("--cpu-quota {}", r.cpu_quota));
            }
            parts.join(" ")
        }
        Group::CpuShares => format!("--cpu-shares {}", r.cpu_shares),
        Group::CpusetCpus => format!("--cpuset-cpus {}", r.cpuset_cpus),
        Group::CpusetMems => format!("--cpuset-mems {}", r.cpuset_mems),
        Group::Pids => format!("--pids-limit {}", r.pids_limit),
        Group::BlkioWeight => format!("--blkio-weight {}", r.blkio_weight),
    }
}

/// The files one group writes, in order, for the container whose cgroup
/// directories are `dirs` (`CgroupSetup::paths_for`). `previous`: the
/// limits before an `update` (v1 must raise memory.memsw before
/// memory.limit_in_bytes goes above it). `simulated`: never look at the
/// real host's files.
pub fn writes(
    g: Group,
    r: &Resources,
    previous: Option<&Resources>,
    setup: &CgroupSetup,
    dirs: &[PathBuf],
    simulated: bool,
) -> Result<Vec<(PathBuf, String)>> {
    let v2 = setup.mode == CgroupMode::Unified;
    let dir = if v2 {
        dirs.first().cloned()
    } else {
        setup
            .hierarchies
            .iter()
            .zip(dirs)
            .find(|(h, _)| hierarchy_has(h, g.controller()))
            .map(|(_, d)| d.clone())
    };
    let Some(dir) = dir else {
        bail!(
            "the {} controller is not mounted on this host (cgroup v1), so {} cannot be set",
            g.controller(),
            flag_text(g, r)
        );
    };
    let f = |name: &str, v: String| (dir.join(name), v);
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    if v2 {
        // A v2 controller's files appear in a cgroup only once its parents
        // enable it for their children (runc does this for its parent too).
        let controller = if g == Group::BlkioWeight {
            "io"
        } else {
            g.controller()
        };
        if let (Some(parent), Some(root)) = (dir.parent(), setup.hierarchies.first()) {
            out.push((
                root.join("cgroup.subtree_control"),
                format!("+{controller}"),
            ));
            out.push((
                parent.join("cgroup.subtree_control"),
                format!("+{controller}"),
            ));
        }
    }
    let unlimited = |v1: &str| {
        if v2 {
            "max".to_string()
        } else {
            v1.to_string()
        }
    };
    match g {
        Group::Memory => {
            let limit = if r.memory > 0 {
                r.memory.to_string()
            } else {
                unlimited("-1")
            };
            if v2 {
                out.push(f("memory.max", limit));
                if r.memory_swap == -1 {
                    out.push(f("memory.swap.max", "max".into()));
                } else if r.memory_swap > 0 {
                    out.push(f(
                        "memory.swap.max",
                        (r.memory_swap - r.memory.max(0)).to_string(),
                    ));
                }
            } else {
                let limit_w = f("memory.limit_in_bytes", limit);
                let swap_w = (r.memory_swap != 0)
                    .then(|| f("memory.memsw.limit_in_bytes", r.memory_swap.to_string()));
                // memsw must stay >= limit at every moment: raise it first
                // when the new limit goes above the old memsw.
                let old_swap = previous.map(|p| p.memory_swap).unwrap_or(-1);
                let swap_first = old_swap > 0 && r.memory > old_swap;
                match (swap_w, swap_first) {
                    (Some(s), true) => out.extend([s, limit_w]),
                    (Some(s), false) => out.extend([limit_w, s]),
                    (None, _) => out.push(limit_w),
                }
            }
        }
        Group::MemoryReservation => out.push(if v2 {
            f("memory.low", r.memory_reservation.to_string())
        } else {
            f(
                "memory.soft_limit_in_bytes",
                r.memory_reservation.to_string(),
            )
        }),
        Group::OomKillDisable => {
            if v2 {
                bail!("cgroup v2 has no switch to disable the OOM killer (--oom-kill-disable)");
            }
            out.push(f("memory.oom_control", "1".into()));
        }
        Group::Cpu => {
            let (period, quota) = period_quota(r);
            if v2 {
                let q = if quota > 0 {
                    quota.to_string()
                } else {
                    "max".into()
                };
                let p = if period > 0 { period } else { DEFAULT_PERIOD };
                out.push(f("cpu.max", format!("{q} {p}")));
            } else {
                if period > 0 {
                    out.push(f("cpu.cfs_period_us", period.to_string()));
                }
                out.push(f(
                    "cpu.cfs_quota_us",
                    if quota > 0 {
                        quota.to_string()
                    } else {
                        "-1".into()
                    },
                ));
            }
        }
        Group::CpuShares => out.push(if v2 {
            f("cpu.weight", shares_to_weight(r.cpu_shares).to_string())
        } else {
            f("cpu.shares", r.cpu_shares.to_string())
        }),
        Group::CpusetCpus => out.push(f("cpuset.cpus", r.cpuset_cpus.clone())),
        Group::CpusetMems => out.push(f("cpuset.mems", r.cpuset_mems.clone())),
        Group::Pids => out.push(f(
            "pids.max",
            if r.pids_limit > 0 {
                r.pids_limit.to_string()
            } else {
                "max".into()
            },
        )),
        Group::BlkioWeight => {
            if v2 {
                out.push(f(
                    "io.weight",
                    format!("default {}", blkio_to_io_weight(r.blkio_weight)),
                ));
            } else {
                // Kernels without CFQ have only BFQ's weight file (runc's choice too).
                let plain = dir.join("blkio.weight");
                let name = if simulated || plain.exists() || !dir.join("blkio.bfq.weight").exists()
                {
                    "blkio.weight"
                } else {
                    "blkio.bfq.weight"
                };
                out.push(f(name, r.blkio_weight.to_string()));
            }
        }
    }
    Ok(out)
}

/// The memory cgroup file whose `oom_kill` counter is above zero (v1
/// `memory.oom_control`, v2 `memory.events`), with the count.
pub fn oom_counter(dirs: &[PathBuf]) -> Option<(PathBuf, u64)> {
    dirs.iter()
        .flat_map(|d| [d.join("memory.oom_control"), d.join("memory.events")])
        .filter_map(|f| {
            let n = crate::kernel::cgroup::parse_oom_kill(&std::fs::read_to_string(&f).ok()?);
            (n > 0).then_some((f, n))
        })
        .next()
}

/// The `cgroup_limit` steps for `groups` of `r`.
pub fn limit_steps(
    groups: &[Group],
    r: &Resources,
    previous: Option<&Resources>,
    setup: &CgroupSetup,
    dirs: &[PathBuf],
    simulated: bool,
) -> Result<Vec<Step>> {
    groups
        .iter()
        .map(|g| {
            Ok(Step::CgroupLimit {
                flag: flag_text(*g, r),
                writes: writes(*g, r, previous, setup, dirs, simulated)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res() -> Resources {
        Resources {
            memory: 32 << 20,
            memory_swap: 64 << 20,
            nano_cpus: 500_000_000,
            cpu_shares: 512,
            pids_limit: 10,
            ..Default::default()
        }
    }

    #[test]
    fn v1_files_and_values() {
        let setup = CgroupSetup::simulated(CgroupMode::Legacy);
        let dirs = setup.paths_for("abc");
        let w = writes(Group::Memory, &res(), None, &setup, &dirs, true).unwrap();
        assert_eq!(
            w,
            vec![
                (
                    PathBuf::from("/sys/fs/cgroup/memory/glassbox/abc/memory.limit_in_bytes"),
                    "33554432".into()
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/memory/glassbox/abc/memory.memsw.limit_in_bytes"),
                    "67108864".into()
                ),
            ]
        );
        let w = writes(Group::Cpu, &res(), None, &setup, &dirs, true).unwrap();
        assert_eq!(w[0].1, "100000");
        assert_eq!(w[1].1, "50000");
        assert!(w[1].0.ends_with("cpu/glassbox/abc/cpu.cfs_quota_us"));
        // Raising memory above the old memsw: memsw first.
        let mut bigger = res();
        bigger.memory = 128 << 20;
        bigger.memory_swap = 256 << 20;
        let w = writes(Group::Memory, &bigger, Some(&res()), &setup, &dirs, true).unwrap();
        assert!(w[0].0.ends_with("memory.memsw.limit_in_bytes"));
    }

    #[test]
    fn v2_files_and_runc_conversions() {
        let setup = CgroupSetup::simulated(CgroupMode::Unified);
        let dirs = setup.paths_for("abc");
        let w = writes(Group::Memory, &res(), None, &setup, &dirs, true).unwrap();
        assert_eq!(
            w[0].0,
            PathBuf::from("/sys/fs/cgroup/cgroup.subtree_control")
        );
        assert_eq!(w[0].1, "+memory");
        assert_eq!(
            w[1].0,
            PathBuf::from("/sys/fs/cgroup/glassbox/cgroup.subtree_control")
        );
        assert_eq!(w[2].1, "33554432");
        assert!(w[3].0.ends_with("memory.swap.max"));
        assert_eq!(w[3].1, "33554432");
        let w = writes(Group::Cpu, &res(), None, &setup, &dirs, true).unwrap();
        assert_eq!(w[2].1, "50000 100000");
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert!(writes(Group::OomKillDisable, &res(), None, &setup, &dirs, true).is_err());
    }
}
