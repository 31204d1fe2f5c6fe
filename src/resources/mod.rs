//! Resource limits: docker's `--memory`, `--cpus`, `--pids-limit`, ...
//! parsed in docker's units (`units`), checked against what the host can
//! honour with docker's messages, kept in the container's record, and
//! turned into the cgroup files each version uses (`files`: runc's
//! libcontainer/cgroups/fs and fs2 names and conversions). `--ulimit` is
//! `ulimit`.

pub mod files;
pub mod ulimit;
pub mod units;

use crate::error::EXIT_ENGINE;
use crate::kernel::cgroup::{CgroupMode, CgroupSetup};
use anyhow::Result;
use serde::{Deserialize, Serialize};
pub use ulimit::Ulimit;

/// The smallest memory limit docker accepts (linuxMinMemory): 6 MiB.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// cgroup v1's cpu.shares range (runc's and docker's clamps).
pub const MIN_SHARES: i64 = 2;
pub const MAX_SHARES: i64 = 262144;
/// The CFS period `--cpus` uses, in microseconds (docker's default).
pub const DEFAULT_PERIOD: i64 = 100_000;

/// A container's limits, as its record keeps them and `inspect` shows them
/// (docker's HostConfig names). 0 / empty / false: not set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Bytes (`-m`).
    pub memory: i64,
    /// Memory plus swap, bytes; -1 unlimited (`--memory-swap`). docker makes
    /// it twice the memory when only `-m` is given.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// CPUs times 10^9 (`--cpus`).
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    /// Microseconds.
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// Processes; -1 unlimited.
    pub pids_limit: i64,
    pub blkio_weight: u16,
    pub oom_kill_disable: bool,
    pub oom_score_adj: i32,
    pub ulimits: Vec<Ulimit>,
}

impl Resources {
    /// No limit set (the record then leaves them out).
    pub fn is_unset(&self) -> bool {
        *self == Resources::default()
    }
}

/// The flags as given on the command line (strings, so the errors are
/// docker's and name the value).
#[derive(Clone, Debug, Default)]
pub struct ResourceFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub kernel_memory: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<String>,
    pub cpu_period: Option<String>,
    pub cpu_quota: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<String>,
    pub blkio_weight: Option<String>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: Option<String>,
    pub ulimits: Vec<String>,
}

impl ResourceFlags {
    pub fn is_empty(&self) -> bool {
        self.memory.is_none()
            && self.memory_swap.is_none()
            && self.memory_reservation.is_none()
            && self.kernel_memory.is_none()
            && self.cpus.is_none()
            && self.cpu_shares.is_none()
            && self.cpu_period.is_none()
            && self.cpu_quota.is_none()
            && self.cpuset_cpus.is_none()
            && self.cpuset_mems.is_none()
            && self.pids_limit.is_none()
            && self.blkio_weight.is_none()
            && !self.oom_kill_disable
            && self.oom_score_adj.is_none()
            && self.ulimits.is_empty()
    }
}

/// What the (real or simulated) host can honour.
#[derive(Clone, Debug)]
pub struct HostResources {
    pub version: u8,
    /// CPUs glassbox may run on (docker's sysinfo.NumCPU).
    pub cpus: usize,
    /// The cpuset's effective CPUs and memory nodes (`0-1`, `0`).
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// memory.memsw.* on v1 (swap accounting), memory.swap.max on v2.
    pub swap: bool,
    /// A blkio/io weight file exists.
    pub blkio_weight: bool,
    /// memory.oom_control (v1 only: v2 has no switch for it).
    pub oom_kill_disable: bool,
}

impl HostResources {
    /// Read the real host: CPU affinity, the root cpuset, which files exist.
    pub fn detect(setup: &CgroupSetup) -> HostResources {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let v2 = setup.mode == CgroupMode::Unified;
        let find = |controller: &str, file: &str| -> Option<std::path::PathBuf> {
            setup
                .hierarchies
                .iter()
                .find(|h| v2 || files::hierarchy_has(h, controller))
                .map(|h| h.join(file))
        };
        let read = |controller: &str, names: &[&str]| -> Option<String> {
            names.iter().find_map(|n| {
                find(controller, n)
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
        };
        let exists = |controller: &str, names: &[&str]| {
            names
                .iter()
                .any(|n| find(controller, n).is_some_and(|p| p.exists()))
        };
        let all_cpus = format!("0-{}", cpus.saturating_sub(1));
        let (cpus_files, mems_files): (&[&str], &[&str]) = if v2 {
            (&["cpuset.cpus.effective"], &["cpuset.mems.effective"])
        } else {
            (
                &["cpuset.effective_cpus", "cpuset.cpus"],
                &["cpuset.effective_mems", "cpuset.mems"],
            )
        };
        HostResources {
            version: setup.mode.version(),
            cpus,
            cpuset_cpus: read("cpuset", cpus_files).unwrap_or(all_cpus),
            cpuset_mems: read("cpuset", mems_files).unwrap_or_else(|| "0".into()),
            // A v2 host with a memory controller has swap files in children;
            // the fake test tree and most v2 machines do.
            swap: v2 || exists("memory", &["memory.memsw.limit_in_bytes"]),
            blkio_weight: v2 || exists("blkio", &["blkio.weight", "blkio.bfq.weight"]),
            oom_kill_disable: !v2 && exists("memory", &["memory.oom_control"]),
        }
    }

    /// The simulated host: 2 CPUs, one memory node, every v1 file.
    pub fn simulated(mode: CgroupMode) -> HostResources {
        let v2 = mode == CgroupMode::Unified;
        HostResources {
            version: mode.version(),
            cpus: crate::kernel::sim::applets::system::NPROC,
            cpuset_cpus: format!("0-{}", crate::kernel::sim::applets::system::NPROC - 1),
            cpuset_mems: "0".into(),
            swap: true,
            blkio_weight: true,
            oom_kill_disable: !v2,
        }
    }
}

/// A flag's value that does not parse: docker's CLI wording, exit 125.
fn bad_flag(flag: &str, value: &str, why: String, verb: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(
        EXIT_ENGINE,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {why}\nSee 'glassbox {verb} --help'."
        ),
    ))
}

fn int_flag(flag: &str, v: &str, verb: &str) -> Result<i64> {
    v.trim().parse::<i64>().map_err(|_| {
        bad_flag(
            flag,
            v,
            format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"),
            verb,
        )
    })
}

/// The result of applying flags: the new limits, docker's warnings, and
/// which flags were given (an `update` writes only those).
pub struct Applied {
    pub resources: Resources,
    pub warnings: Vec<String>,
    pub changed: Vec<files::Group>,
}

/// Parse `flags` over `base` (a new container's empty limits, or the
/// record's for `update`), then check them against `host` as docker's
/// daemon does. Any error is exit 125 and nothing has been made.
pub fn apply_flags(
    flags: &ResourceFlags,
    base: &Resources,
    host: &HostResources,
    update: bool,
) -> Result<Applied> {
    use files::Group;
    let verb = if update { "update" } else { "run" };
    let mut r = base.clone();
    let mut changed = Vec::new();
    let mut warnings = Vec::new();
    if let Some(v) = &flags.kernel_memory {
        crate::exit_err!(
            EXIT_ENGINE,
            "--kernel-memory {v}: kernel memory limits are no longer supported (docker deprecated them in 20.10 and its API ignores them since 1.42; Linux 6.x has no memory.kmem.limit_in_bytes to set on cgroup v2); use -m/--memory, which counts kernel memory too"
        );
    }
    let mem = |flag: &str, v: &str| units::ram_in_bytes(v).map_err(|e| bad_flag(flag, v, e, verb));
    if let Some(v) = &flags.memory {
        r.memory = mem("-m, --memory", v)?;
        changed.push(Group::Memory);
    }
    let swap_given = flags.memory_swap.is_some();
    if let Some(v) = &flags.memory_swap {
        r.memory_swap = if v.trim() == "-1" {
            -1
        } else {
            mem("--memory-swap", v)?
        };
        if !changed.contains(&Group::Memory) {
            changed.push(Group::Memory);
        }
    }
    if let Some(v) = &flags.memory_reservation {
        r.memory_reservation = mem("--memory-reservation", v)?;
        changed.push(Group::MemoryReservation);
    }
    if let Some(v) = &flags.cpus {
        r.nano_cpus = units::nano_cpus(v).map_err(|e| bad_flag("--cpus", v, e, verb))?;
        changed.push(Group::Cpu);
    }
    if let Some(v) = &flags.cpu_period {
        r.cpu_period = int_flag("--cpu-period", v, verb)?;
        if !changed.contains(&Group::Cpu) {
            changed.push(Group::Cpu);
        }
    }
    if let Some(v) = &flags.cpu_quota {
        r.cpu_quota = int_flag("--cpu-quota", v, verb)?;
        if !changed.contains(&Group::Cpu) {
            changed.push(Group::Cpu);
        }
    }
    if let Some(v) = &flags.cpu_shares {
        r.cpu_shares = int_flag("-c, --cpu-shares", v, verb)?;
        changed.push(Group::CpuShares);
    }
    if let Some(v) = &flags.cpuset_cpus {
        r.cpuset_cpus = v.trim().to_string();
        changed.push(Group::CpusetCpus);
    }
    if let Some(v) = &flags.cpuset_mems {
        r.cpuset_mems = v.trim().to_string();
        changed.push(Group::CpusetMems);
    }
    if let Some(v) = &flags.pids_limit {
        let n = int_flag("--pids-limit", v, verb)?;
        // docker: 0 and negative mean unlimited.
        r.pids_limit = if n <= 0 { -1 } else { n };
        changed.push(Group::Pids);
    }
    if let Some(v) = &flags.blkio_weight {
        r.blkio_weight = v.trim().parse::<u16>().map_err(|_| {
            bad_flag(
                "--blkio-weight",
                v,
                format!("strconv.ParseUint: parsing \"{v}\": invalid syntax"),
                verb,
            )
        })?;
        changed.push(Group::BlkioWeight);
    }
    if flags.oom_kill_disable {
        r.oom_kill_disable = true;
        changed.push(Group::OomKillDisable);
    }
    if let Some(v) = &flags.oom_score_adj {
        let n = int_flag("--oom-score-adj", v, verb)?;
        if !(-1000..=1000).contains(&n) {
            crate::exit_err!(
                EXIT_ENGINE,
                "Invalid value {n}, range for oom score adj is [-1000, 1000]"
            );
        }
        r.oom_score_adj = n as i32;
    }
    for u in &flags.ulimits {
        let parsed = ulimit::parse(u).map_err(|e| bad_flag("--ulimit", u, e, verb))?;
        r.ulimits.retain(|x| x.name != parsed.name);
        r.ulimits.push(parsed);
    }

    // ---- docker's daemon checks (verifyPlatformContainerResources).
    if r.memory != 0 && r.memory < MIN_MEMORY {
        crate::exit_err!(EXIT_ENGINE, "Minimum memory limit allowed is 6MB");
    }
    if flags.memory.is_some() && !swap_given && r.memory > 0 {
        if update {
            // docker's update: a memory above the recorded swap limit needs both.
            if base.memory_swap > 0 && r.memory > base.memory_swap {
                crate::exit_err!(EXIT_ENGINE, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
            }
        } else if r.memory_swap == 0 {
            r.memory_swap = r.memory * 2;
        }
    }
    if r.memory == 0 && r.memory_swap > 0 && !update {
        crate::exit_err!(
            EXIT_ENGINE,
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        crate::exit_err!(
            EXIT_ENGINE,
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
    }
    if r.memory_swap != 0 && !host.swap {
        warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        r.memory_swap = -1;
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        crate::exit_err!(
            EXIT_ENGINE,
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        );
    }
    if r.memory_reservation > 0 && r.memory_reservation < MIN_MEMORY {
        crate::exit_err!(EXIT_ENGINE, "Minimum memory reservation allowed is 6MB");
    }
    if r.oom_kill_disable && !host.oom_kill_disable {
        warnings
            .push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        r.oom_kill_disable = false;
        changed.retain(|g| *g != Group::OomKillDisable);
    }
    if r.oom_kill_disable && r.memory == 0 {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        crate::exit_err!(
            EXIT_ENGINE,
            "Conflicting options: Nano CPUs and CPU Period cannot both be set"
        );
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        crate::exit_err!(
            EXIT_ENGINE,
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
        );
    }
    let max_nano = host.cpus as i64 * 1_000_000_000;
    if r.nano_cpus < 0 || r.nano_cpus > max_nano || (r.nano_cpus > 0 && r.nano_cpus < 10_000_000) {
        crate::exit_err!(
            EXIT_ENGINE,
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
            n = host.cpus
        );
    }
    if r.cpu_shares < 0 {
        crate::exit_err!(
            EXIT_ENGINE,
            "Invalid value {} for --cpu-shares: shares are a relative weight, 2 to 262144 (1024 is a normal share)",
            r.cpu_shares
        );
    }
    if r.cpu_shares > 0 {
        // docker's adaptContainerSettings clamps into the kernel's range.
        r.cpu_shares = r.cpu_shares.clamp(MIN_SHARES, MAX_SHARES);
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        crate::exit_err!(
            EXIT_ENGINE,
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        );
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        crate::exit_err!(
            EXIT_ENGINE,
            "CPU cfs quota can not be less than 1ms (i.e. 1000)"
        );
    }
    check_set(
        &r.cpuset_cpus,
        &host.cpuset_cpus,
        "Invalid value {} for cpuset cpus",
        "Requested CPUs are not available - requested {}, available: {}",
    )?;
    check_set(
        &r.cpuset_mems,
        &host.cpuset_mems,
        "Invalid value {} for cpuset mems",
        "Requested memory nodes are not available - requested {}, available: {}",
    )?;
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        crate::exit_err!(EXIT_ENGINE, "Range of blkio weight is from 10 to 1000");
    }
    if r.blkio_weight > 0 && !host.blkio_weight {
        warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
        r.blkio_weight = 0;
        changed.retain(|g| *g != Group::BlkioWeight);
    }
    Ok(Applied {
        resources: r,
        warnings,
        changed,
    })
}

/// A cpuset list that parses and lies within what the host has.
fn check_set(asked: &str, available: &str, invalid: &str, missing: &str) -> Result<()> {
    if asked.is_empty() {
        return Ok(());
    }
    let Some(want) = units::parse_list(asked) else {
        crate::exit_err!(EXIT_ENGINE, "{}", invalid.replacen("{}", asked, 1));
    };
    let have = units::parse_list(available).unwrap_or_default();
    if want.iter().any(|c| !have.contains(c)) {
        crate::exit_err!(
            EXIT_ENGINE,
            "{}",
            missing
                .replacen("{}", asked, 1)
                .replacen("{}", available, 1)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(version: u8) -> HostResources {
        HostResources {
            version,
            cpus: 2,
            cpuset_cpus: "0-1".into(),
            cpuset_mems: "0".into(),
            swap: true,
            blkio_weight: false,
            oom_kill_disable: version == 1,
        }
    }

    fn err(flags: ResourceFlags) -> String {
        match apply_flags(&flags, &Resources::default(), &host(1), false) {
            Ok(_) => panic!("accepted {flags:?}"),
            Err(e) => {
                assert_eq!(crate::error::exit_code_of(&e), 125);
                e.to_string()
            }
        }
    }

    #[test]
    fn memory_defaults_swap_to_twice_as_docker() {
        let flags = ResourceFlags {
            memory: Some("32m".into()),
            ..Default::default()
        };
        let a = apply_flags(&flags, &Resources::default(), &host(1), false).unwrap();
        assert_eq!(a.resources.memory, 33554432);
        assert_eq!(a.resources.memory_swap, 67108864);
    }

    #[test]
    fn refusals_are_dockers() {
        let e = err(ResourceFlags {
            cpus: Some("8".into()),
            ..Default::default()
        });
        assert_eq!(
            e,
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        let e = err(ResourceFlags {
            memory: Some("64x".into()),
            ..Default::default()
        });
        assert!(
            e.starts_with(
                "invalid argument \"64x\" for \"-m, --memory\" flag: invalid size: '64x'"
            ),
            "{e}"
        );
        assert_eq!(
            err(ResourceFlags {
                memory: Some("1m".into()),
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert!(err(ResourceFlags {
            cpuset_cpus: Some("0-3".into()),
            ..Default::default()
        })
        .contains("requested 0-3, available: 0-1"));
        assert!(err(ResourceFlags {
            kernel_memory: Some("8m".into()),
            ..Default::default()
        })
        .contains("no longer supported"));
        assert!(err(ResourceFlags {
            cpus: Some("1".into()),
            cpu_quota: Some("50000".into()),
            ..Default::default()
        })
        .contains("Conflicting options"));
        assert!(err(ResourceFlags {
            memory: Some("32m".into()),
            memory_swap: Some("16m".into()),
            ..Default::default()
        })
        .contains("memoryswap limit should be larger"));
        assert!(err(ResourceFlags {
            oom_score_adj: Some("2000".into()),
            ..Default::default()
        })
        .contains("[-1000, 1000]"));
    }

    #[test]
    fn unsupported_settings_are_discarded_with_dockers_warnings() {
        let flags = ResourceFlags {
            blkio_weight: Some("500".into()),
            oom_kill_disable: true,
            ..Default::default()
        };
        let a = apply_flags(&flags, &Resources::default(), &host(2), false).unwrap();
        assert_eq!(a.resources.blkio_weight, 0);
        assert!(!a.resources.oom_kill_disable);
        assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
        assert!(a.changed.is_empty());
    }

    #[test]
    fn update_keeps_what_it_does_not_change() {
        let first = apply_flags(
            &ResourceFlags {
                memory: Some("32m".into()),
                pids_limit: Some("10".into()),
                ..Default::default()
            },
            &Resources::default(),
            &host(1),
            false,
        )
        .unwrap()
        .resources;
        let a = apply_flags(
            &ResourceFlags {
                memory: Some("64m".into()),
                ..Default::default()
            },
            &first,
            &host(1),
            true,
        )
        .unwrap();
        assert_eq!(a.resources.memory, 64 << 20);
        assert_eq!(a.resources.pids_limit, 10);
        assert_eq!(a.changed, vec![files::Group::Memory]);
        let too_big = apply_flags(
            &ResourceFlags {
                memory: Some("128m".into()),
                ..Default::default()
            },
            &first,
            &host(1),
            true,
        );
        assert!(too_big.is_err());
    }
}
