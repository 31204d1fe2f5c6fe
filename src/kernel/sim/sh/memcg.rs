//! The simulated cgroup's accounting, as the world keeps it while its
//! processes run: what the limit files say (memory, pids), what the
//! processes use (memory, PIDs, CPU time, bytes written), and the OOM
//! killer's and the PID controller's verdicts.
//!
//! The model, kept simple and honest:
//! - memory = `PROCESS_BASE` per live process (a busybox process's
//!   resident pages, stack and page tables) + what programs hold (the
//!   input `tail` keeps until it has its last lines, `sort`'s lines, a
//!   `$(...)`'s output while it is read) + the files written on tmpfs
//!   mounts (/dev/shm, `--tmpfs`: shmem, charged to the cgroup until
//!   removed). The shell's own variables and pipe buffers are not counted.
//! - The simulated host has no swap (`free` shows 0), so memory.max (v2)
//!   or memory.limit_in_bytes (v1) alone bounds the cgroup; the swap limit
//!   (`--memory-swap`, docker's default twice `-m`) is written and shown
//!   but never the one reached.
//! - Past the limit the OOM killer kills (SIGKILL) the process with the
//!   largest footprint whose oom_score_adj is not -1000, counting `oom` and
//!   `oom_kill`; with `--oom-kill-disable` (v1) the allocating process
//!   waits instead, as under_oom.
//! - pids = live processes; a fork past pids.max fails with EAGAIN.
//! - CPU = the shell's busy time (`World::cpu_us`); a sleeping process
//!   uses none. Writes to files not on tmpfs count as block I/O writes.

use serde::{Deserialize, Serialize};

/// Memory a live process uses before it holds any data.
pub const PROCESS_BASE: u64 = 512 * 1024;

/// The limits a cgroup's files set (None: "max", no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgLimits {
    /// memory.max / memory.limit_in_bytes.
    pub memory: Option<u64>,
    /// memory.swap.max (v2, swap only) or memory.memsw.limit_in_bytes (v1, memory + swap).
    pub swap: Option<u64>,
    /// memory.oom_control's oom_kill_disable (v1).
    pub oom_kill_disable: bool,
    /// pids.max.
    pub pids: Option<u64>,
}

impl CgLimits {
    /// Where the OOM killer acts: the memory limit (no swap on this host).
    pub fn oom_at(&self) -> Option<u64> {
        self.memory
    }

    /// The limits the files of `dirs` (a container's cgroup directories)
    /// hold, as `file(name)` reads them; absent files are "max".
    pub fn from_files(
        dirs: &[std::path::PathBuf],
        file: impl Fn(&std::path::Path) -> Option<String>,
    ) -> CgLimits {
        let num = |name: &str| -> Option<u64> {
            dirs.iter()
                .find_map(|d| file(&d.join(name)))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        // v1 writes -1 for no limit; parse fails and it stays None.
        CgLimits {
            memory: num("memory.max").or_else(|| num("memory.limit_in_bytes")),
            swap: num("memory.swap.max").or_else(|| num("memory.memsw.limit_in_bytes")),
            oom_kill_disable: dirs
                .iter()
                .find_map(|d| file(&d.join("memory.oom_control")))
                .is_some_and(|v| v.trim() == "1"),
            pids: num("pids.max"),
        }
    }
}

/// A change of limits while the program runs (`update`), at a time in ms
/// since the run started (on the program's own clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedLimits {
    pub at_ms: u64,
    pub limits: CgLimits,
}

/// What the cgroup's counters say at the end of a run (or at its horizon).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgCounters {
    /// memory.current / memory.usage_in_bytes.
    pub memory: u64,
    /// memory.peak / memory.max_usage_in_bytes.
    pub peak: u64,
    /// Of `memory`: what programs hold (anon) and what tmpfs files hold (shmem).
    pub anon: u64,
    pub shmem: u64,
    /// memory.events: times the limit was hit, OOM situations, kills.
    pub max_events: u64,
    pub oom: u64,
    pub oom_kill: u64,
    /// A process waits for memory (--oom-kill-disable).
    pub under_oom: bool,
    /// pids.current and the forks pids.max refused (pids.events max).
    pub pids: u64,
    pub pids_refused: u64,
    /// cpu.stat usage_usec.
    pub cpu_us: u64,
    /// Bytes and writes to files on the container's disk (io.stat).
    pub wbytes: u64,
    pub wios: u64,
}

impl CgCounters {
    /// Two processes' cgroups summed (a container's first process and the
    /// others the host knows).
    pub fn add(&mut self, o: &CgCounters) {
        self.memory += o.memory;
        self.peak = self.peak.max(o.peak).max(self.memory);
        self.anon += o.anon;
        self.shmem += o.shmem;
        self.max_events += o.max_events;
        self.oom += o.oom;
        self.oom_kill += o.oom_kill;
        self.under_oom |= o.under_oom;
        self.pids += o.pids;
        self.pids_refused += o.pids_refused;
        self.cpu_us += o.cpu_us;
        self.wbytes += o.wbytes;
        self.wios += o.wios;
    }
}

/// The accounting the world keeps while it runs.
#[derive(Clone, Debug, Default)]
pub struct CgState {
    /// The limits in force from each time on (absolute virtual ms), sorted.
    pub limits: Vec<TimedLimits>,
    /// Bytes each process holds beyond its base (by pid).
    pub held: std::collections::BTreeMap<u32, u64>,
    pub peak: u64,
    pub max_events: u64,
    pub oom: u64,
    pub oom_kill: u64,
    /// Processes waiting for memory (--oom-kill-disable).
    pub waiting: u64,
    pub pids_refused: u64,
    pub wbytes: u64,
    pub wios: u64,
    /// /proc/PID/oom_score_adj of the container's processes (inherited).
    pub oom_score_adj: i32,
    /// The counters when the run was halted (threads unwind after that).
    pub at_halt: Option<CgCounters>,
    /// The container's resource limits (`rlimits::table`; empty: the defaults).
    pub rlimits: Vec<crate::kernel::sim::rlimits::Rlimit>,
}

use super::world::{St, World};

impl World {
    /// The limits in force now.
    pub fn cg_limits(&self) -> CgLimits {
        self.cg
            .limits
            .iter()
            .rev()
            .find(|l| l.at_ms <= self.clock_ms)
            .map(|l| l.limits)
            .unwrap_or_default()
    }

    /// Processes of the cgroup alive now (the OOM killer's and pids.current's view).
    fn cg_live(&self) -> impl Iterator<Item = &super::world::PEntry> {
        self.procs
            .values()
            .filter(|p| p.state != St::Done && p.exit.is_none() && p.killed.is_none())
    }

    /// Bytes in files on the tmpfs mounts (each mount counted once).
    pub fn tmpfs_bytes(&self) -> u64 {
        let tops: Vec<&str> = self
            .mounts
            .iter()
            .filter(|m| m.fstype == "tmpfs" && m.bind_from.is_none())
            .map(|m| m.target.as_str())
            .collect();
        tops.iter()
            .filter(|t| {
                !tops
                    .iter()
                    .any(|o| o != *t && t.starts_with(&format!("{}/", o.trim_end_matches('/'))))
            })
            .map(|t| self.fs.data_bytes_under(t))
            .sum()
    }

    /// What a process uses: its base and what it holds.
    pub fn footprint(&self, pid: u32) -> u64 {
        PROCESS_BASE + self.cg.held.get(&pid).copied().unwrap_or(0)
    }

    /// The counters as they are now.
    pub fn cg_counters(&self) -> CgCounters {
        let live: Vec<u32> = self.cg_live().map(|p| p.pid).collect();
        let anon: u64 = live
            .iter()
            .map(|p| self.cg.held.get(p).copied().unwrap_or(0))
            .sum();
        let shmem = self.tmpfs_bytes();
        let mut memory = live.len() as u64 * PROCESS_BASE + anon + shmem;
        if let Some(limit) = self.cg_limits().memory {
            // The kernel never lets usage stay above the limit.
            memory = memory.min(limit);
        }
        CgCounters {
            memory,
            peak: self.cg.peak.max(memory),
            anon,
            shmem,
            max_events: self.cg.max_events,
            oom: self.cg.oom,
            oom_kill: self.cg.oom_kill,
            under_oom: self.cg.waiting > 0,
            pids: live.len() as u64,
            pids_refused: self.cg.pids_refused,
            cpu_us: self.cpu_us,
            wbytes: self.cg.wbytes,
            wios: self.cg.wios,
        }
    }

    /// Memory in use now, unclipped (what an allocation is checked against).
    pub fn mem_in_use(&self) -> u64 {
        let live: Vec<u32> = self.cg_live().map(|p| p.pid).collect();
        live.iter().map(|p| self.footprint(*p)).sum::<u64>() + self.tmpfs_bytes()
    }

    /// The OOM killer's choice: the live process with the largest footprint
    /// (the later one on a tie, as the newest allocator), never one whose
    /// oom_score_adj is -1000.
    pub fn oom_victim(&self) -> Option<u32> {
        if self.cg.oom_score_adj <= -1000 {
            return None;
        }
        self.cg_live()
            .filter(|p| p.runner.is_some())
            .max_by_key(|p| (self.footprint(p.pid), p.pid))
            .map(|p| p.pid)
    }

    /// Whether one more process fits under pids.max; counts a refusal.
    pub fn fork_allowed(&mut self) -> bool {
        let Some(max) = self.cg_limits().pids else {
            return true;
        };
        if (self.cg_live().count() as u64) < max {
            return true;
        }
        self.cg.pids_refused += 1;
        false
    }

    /// A write of `n` bytes to the file `path`: block I/O unless on tmpfs.
    pub fn account_write(&mut self, path: &str, n: usize) -> bool {
        let on_tmpfs = fstype_at(&self.mounts, path) == "tmpfs";
        if !on_tmpfs {
            self.cg.wbytes += n as u64;
            self.cg.wios += 1;
        }
        on_tmpfs
    }
}

/// The filesystem type of the mount `path` lies on (the deepest mount
/// point above it, the last one mounted there).
fn fstype_at<'m>(mounts: &'m [crate::kernel::sim::SimMount], path: &str) -> &'m str {
    let mut best: Option<&crate::kernel::sim::SimMount> = None;
    for m in mounts {
        let t = m.target.trim_end_matches('/');
        let under = m.target == "/" || path == m.target || path.starts_with(&format!("{t}/"));
        if under && best.is_none_or(|b| m.target.len() >= b.target.len()) {
            best = Some(m);
        }
    }
    best.map_or("", |m| m.fstype.as_str())
}

/// What the kernel set for a container's process besides its program: its
/// cgroup's limits over time, its OOM score adjustment and its rlimits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcResources {
    /// Limits from each time on (ms since the run started; the first at 0).
    #[serde(default)]
    pub limits: Vec<TimedLimits>,
    #[serde(default)]
    pub oom_score_adj: i32,
    /// `--ulimit`s set on it (the others are the simulated host's defaults).
    #[serde(default)]
    pub rlimits: Vec<crate::resources::Ulimit>,
}
