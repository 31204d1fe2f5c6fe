//! The simulated host that persists between commands.
//!
//! A real detached container is a process the kernel keeps running after
//! `run -d` returns. A simulated one is a deterministic program plus what
//! happened to it and when: its start time, the signals it got, the
//! filesystem changes `exec` and `cp` made while it ran. Because the
//! simulated shell always does the same thing given the same program and
//! the same timed events (see `shell::run_traced`), any later command can
//! recompute the process's state at "now": whether it still runs, what it
//! printed, what its filesystem holds. That record lives in
//! `<root>/sim-host.json` (the simulated store's own root), changed only
//! under `sim-host.lock`, together with the simulated clock's skew and the
//! next host PID.
//!
//! When a later command finds the program ended, the run is settled: its
//! output goes into the container's json-file log (as a monitor would have
//! written it, with the simulated times), its filesystem changes become the
//! container's upper layer (`upper.tar`, an OCI layer tar with whiteouts:
//! what `commit` adds), and the record says `exited` with its real code.

use super::fs::SimFs;
use super::sh::memcg::{CgLimits, ProcResources, TimedLimits};
use super::sh::world::{TimedPatch, TimedSignal};
use super::shell::{self, Outcome, ShellCtx, SimProc, Trace};
use super::upper::FsPatch;
use super::SimMount;
use crate::container::Container;
use crate::fsutil::{read_json, write_json_fast, StoreLock};
use crate::image::LayerInfo;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "sim-host.json";
const LOCK_FILE: &str = "sim-host.lock";
/// The name of a simulated container's upper layer in its directory.
pub const UPPER_TAR: &str = "upper.tar";

fn first_pid() -> i32 {
    super::FIRST_HOST_PID
}

/// Everything the simulated host remembers between commands.
#[derive(Debug, Serialize, Deserialize)]
pub struct HostState {
    /// Time the simulation made pass beyond the base clock (ms).
    #[serde(default)]
    pub skew_ms: u64,
    #[serde(default = "first_pid")]
    pub next_pid: i32,
    /// Detached processes by host PID.
    #[serde(default)]
    pub procs: BTreeMap<i32, Detached>,
    /// The next inode number for a new namespace (0: the first one).
    #[serde(default)]
    pub next_ns_inode: u64,
    /// The cgroup tree: directory → member host PIDs.
    #[serde(default)]
    pub cgroups: BTreeMap<PathBuf, Vec<i32>>,
    /// Limit and freezer files written into the cgroup tree (file → value):
    /// what `cat` of that file shows (`kernel::sim::limits`).
    #[serde(default)]
    pub cgroup_files: BTreeMap<PathBuf, String>,
    /// Its networking: namespaces, links, addresses, routes, sysctls, nft (`net`).
    #[serde(default)]
    pub net: super::net::SimNet,
}

impl Default for HostState {
    fn default() -> Self {
        HostState {
            skew_ms: 0,
            next_pid: first_pid(),
            procs: BTreeMap::new(),
            next_ns_inode: 0,
            cgroups: BTreeMap::new(),
            cgroup_files: BTreeMap::new(),
            net: Default::default(),
        }
    }
}

impl HostState {
    /// Move the simulated clock on to `ms` (never back).
    pub fn advance_to(&mut self, ms: u64) {
        let now = crate::clock::now_ms();
        if ms > now {
            self.skew_ms += ms - now;
            crate::clock::set_skew(self.skew_ms);
        }
    }

    /// The cgroups of a container whose processes are all gone (its
    /// supervisor's `cgroup_remove`, which nobody narrates after the fact).
    pub fn forget_cgroups_of(&mut self, id: &str) {
        self.cgroups.retain(|p, _| !p.ends_with(id));
        self.cgroup_files
            .retain(|f, _| !f.parent().is_some_and(|d| d.ends_with(id)));
    }

    pub fn take_pid(&mut self) -> i32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        pid
    }
}

/// A simulated container's first process that outlives the command that started it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detached {
    pub container: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub hostname: String,
    pub mounts: Vec<SimMount>,
    /// Its PID as it sees itself (1 in its own PID namespace).
    pub ns_pid: u32,
    pub store_root: PathBuf,
    pub layers: Vec<LayerInfo>,
    /// The container's upper layer as it was when this run began.
    pub upper: Option<PathBuf>,
    /// What the set-up steps put in place before exec (/proc, /dev, the bound files).
    pub setup: FsPatch,
    pub started_ms: u64,
    /// Signals received: (ms since the epoch, number).
    #[serde(default)]
    pub signals: Vec<(u64, i32)>,
    /// Filesystem changes from outside (exec, cp) and when they happened.
    #[serde(default)]
    pub patches: Vec<(u64, FsPatch)>,
    /// Bytes of stdout and stderr already written to the json-file log.
    #[serde(default)]
    pub logged: [u64; 2],
    pub log: Option<PathBuf>,
    /// Set once a wait saw it end: (exit status, ms since the epoch).
    #[serde(default)]
    pub exited: Option<(i32, u64)>,
    /// When its cgroup was frozen (`pause`) and thawed (None: still frozen),
    /// ms since the epoch: its clock stands still in between.
    #[serde(default)]
    pub pauses: Vec<(u64, Option<u64>)>,
    /// Its stdin is connected (`-i`) and is a terminal (`-t`).
    #[serde(default)]
    pub interactive: bool,
    #[serde(default)]
    pub tty: bool,
    /// What was typed or piped to its stdin while attached: (ms since the
    /// epoch, bytes), and when its stdin was closed.
    #[serde(default)]
    pub input: Vec<(u64, Vec<u8>)>,
    #[serde(default)]
    pub input_closed: Option<u64>,
    /// The back-off before its next restart under a restart policy (ms; 0: the first).
    #[serde(default)]
    pub restart_delay_ms: u64,
    /// Its cgroup's limits (from each host time on: `update` adds one),
    /// OOM score and rlimits.
    #[serde(default)]
    pub res: ProcResources,
    /// Its volumes' and binds' files as last written back (`volumes`).
    #[serde(default)]
    pub volumes_seen: FsPatch,
}

/// `res` with its limits' times made host times (ms since the epoch) for a
/// run that started at `started_ms`.
pub fn absolute(res: &ProcResources, started_ms: u64) -> ProcResources {
    ProcResources {
        limits: res
            .limits
            .iter()
            .map(|l| TimedLimits {
                at_ms: started_ms + l.at_ms,
                limits: l.limits,
            })
            .collect(),
        ..res.clone()
    }
}

/// The cgroups `dirs` got new limits (`update`): each running program in
/// them lives under the limits of all its cgroups' files from just after now.
pub fn limits_changed(root: &Path, dirs: &[PathBuf]) -> Result<()> {
    let now = crate::clock::now_ms();
    update(root, |st| {
        let pids: Vec<i32> = dirs
            .iter()
            .filter_map(|d| st.cgroups.get(d))
            .flatten()
            .copied()
            .collect();
        for pid in pids {
            let mine: Vec<PathBuf> = st
                .cgroups
                .iter()
                .filter(|(_, m)| m.contains(&pid))
                .map(|(d, _)| d.clone())
                .collect();
            let limits = CgLimits::from_files(&mine, |f| st.cgroup_files.get(f).cloned());
            if let Some(d) = st.procs.get_mut(&pid).filter(|d| d.exited.is_none()) {
                if d.res.limits.last().map(|l| l.limits) != Some(limits) {
                    d.res.limits.push(TimedLimits {
                        at_ms: after(now),
                        limits,
                    });
                }
            }
        }
        Ok(())
    })
}

/// How a settled run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub code: i32,
    pub at_ms: u64,
    /// Processes the OOM killer killed in its cgroup (memory.events oom_kill).
    pub oom_kills: u64,
}

/// Change the host under its lock; saved when `f` succeeds.
pub fn update<T>(root: &Path, f: impl FnOnce(&mut HostState) -> Result<T>) -> Result<T> {
    let _lock = StoreLock::exclusive_on(&root.join(LOCK_FILE))?;
    let mut st = load(root)?;
    let r = f(&mut st)?;
    write_json_fast(&root.join(STATE_FILE), &st)?;
    Ok(r)
}

/// The simulated host as it is saved (read without changing it).
pub fn load_state(root: &Path) -> Result<HostState> {
    load(root)
}

/// Read the host under its lock, changing nothing.
pub fn read<T>(root: &Path, f: impl FnOnce(&HostState) -> T) -> Result<T> {
    let _lock = StoreLock::exclusive_on(&root.join(LOCK_FILE))?;
    Ok(f(&load(root)?))
}

fn load(root: &Path) -> Result<HostState> {
    let path = root.join(STATE_FILE);
    let st: HostState = if path.exists() {
        read_json(&path).with_context(|| {
            format!(
                "the simulated host in {} is unreadable: `glassbox --simulate system reset` starts it afresh",
                path.display()
            )
        })?
    } else {
        HostState::default()
    };
    crate::clock::set_skew(st.skew_ms);
    Ok(st)
}

/// Start telling simulated time in this process (once per command); with a
/// pinned clock that steps, this command moves it on.
pub fn open_clock(root: &Path) -> Result<()> {
    let pinned = crate::clock::pinned_from_env();
    crate::clock::use_simulated(pinned.map(|p| p.0), 0);
    let step = pinned.map(|p| p.1).unwrap_or(0);
    if step == 0 && !root.join(STATE_FILE).exists() {
        return Ok(());
    }
    update(root, |st| {
        st.skew_ms += step;
        crate::clock::set_skew(st.skew_ms);
        Ok(())
    })
}

/// Forget every simulated process and the clock's skew (`system reset`).
pub fn reset(root: &Path) -> Result<()> {
    update(root, |st| {
        *st = HostState::default();
        crate::clock::set_skew(0);
        Ok(())
    })
}

/// Mount points whose content never reaches a container's upper layer.
pub fn mount_points(mounts: &[SimMount]) -> Vec<String> {
    mounts
        .iter()
        .filter(|m| m.target.starts_with('/') && m.target != "/" && !m.target.contains(' '))
        .map(|m| m.target.clone())
        .collect()
}

/// The image's layers read straight from the store, then `upper` on top.
pub fn layered_fs(store_root: &Path, layers: &[LayerInfo], upper: Option<&Path>) -> Result<SimFs> {
    let store = crate::image::Store::open(store_root)?;
    let mut readers: Vec<Box<dyn Read>> = Vec::new();
    for layer in layers {
        readers.push(store.open_layer(layer)?);
    }
    if let Some(u) = upper.filter(|u| u.exists()) {
        readers.push(Box::new(
            std::fs::File::open(u).with_context(|| format!("open {}", u.display()))?,
        ));
    }
    SimFs::from_layers(readers)
}

impl Detached {
    fn cmdline(&self) -> String {
        self.argv.join(" ")
    }

    /// The program's own clock at host time `at`: the host's minus the time
    /// it spent frozen before then.
    pub fn own_time(&self, at: u64) -> u64 {
        let frozen: u64 = self
            .pauses
            .iter()
            .map(|(from, to)| {
                let end = to.unwrap_or(u64::MAX).min(at);
                end.saturating_sub(*from)
            })
            .sum();
        at - frozen.min(at)
    }

    /// The host time at which the program's own clock reads `own` (the
    /// inverse of `own_time`; an instant at a freeze is told before it).
    pub fn host_time(&self, own: u64) -> u64 {
        let mut at = own;
        for (from, to) in &self.pauses {
            if *from < at {
                at += to.unwrap_or(u64::MAX / 2).saturating_sub(*from);
            }
        }
        at
    }

    /// Whether its cgroup is frozen now.
    pub fn frozen(&self) -> bool {
        self.pauses.last().is_some_and(|(_, to)| to.is_none())
    }

    /// What a replay depends on, as one key: the program, its set-up, the
    /// events it received, and how far to run it.
    fn replay_key(&self, until_ms: u64) -> Result<String> {
        let inputs = serde_json::to_vec(&(
            (
                &self.argv,
                &self.env,
                &self.cwd,
                &self.hostname,
                &self.mounts,
            ),
            (self.ns_pid, &self.store_root, &self.layers, &self.upper),
            (&self.setup, self.started_ms, &self.signals, &self.patches),
            (self.exited, &self.pauses, until_ms),
            (self.interactive, self.tty, &self.input, self.input_closed),
            (&self.res, &self.inbound()),
        ))?;
        Ok(crate::fsutil::sha256_hex(&inputs))
    }

    /// The time of the latest thing sent to it from outside.
    fn last_event(&self) -> u64 {
        self.signals
            .iter()
            .map(|s| s.0)
            .chain(self.patches.iter().map(|p| p.0))
            .chain(self.input.iter().map(|i| i.0))
            .chain(self.input_closed)
            .chain(self.inbound().iter().map(|i| i.at_ms))
            .max()
            .unwrap_or(0)
    }

    /// What clients sent its container's listeners since this run started
    /// (`reach::deliver`), on the host's clock.
    pub fn inbound(&self) -> Vec<super::reach::Inbound> {
        let mut all = super::reach::inbound(&self.store_root, &self.container);
        all.retain(|i| i.at_ms >= self.started_ms);
        all
    }

    /// Its stdin as the replay feeds it (times relative to its start).
    fn stdin_feed(&self) -> shell::StdinFeed {
        // On its own clock, as signals and patches (see `replay_uncached`).
        let rel = |at: u64| self.own_time(at).saturating_sub(self.started_ms);
        shell::StdinFeed {
            open: self.interactive,
            tty: self.tty,
            input: self
                .input
                .iter()
                .map(|(at, b)| (rel(*at), b.clone()))
                .collect(),
            closed_at: self.input_closed.map(rel),
        }
    }

    /// The network this run is on, read from the simulated host's saved
    /// state (None while it is replayed to answer a request, see `reach`).
    fn net_ctx(&self) -> Option<std::sync::Arc<super::reach::NetCtx>> {
        // What reached its listeners, on its own clock (it stands still while frozen).
        let inbound = self
            .inbound()
            .into_iter()
            .map(|i| super::reach::Inbound {
                at_ms: self.own_time(i.at_ms),
                ..i
            })
            .collect();
        if super::reach::serving() {
            return Some(std::sync::Arc::new(super::reach::NetCtx::offline(inbound)));
        }
        let st: HostState = read_json(&self.store_root.join(STATE_FILE)).ok()?;
        let pid = st
            .procs
            .iter()
            .find(|(_, d)| d.container == self.container && d.started_ms == self.started_ms)
            .map(|(p, _)| *p)?;
        let mut ctx = (*super::reach::for_pid(&st, pid)).clone();
        ctx.inbound = inbound;
        ctx.since_ms = self.started_ms;
        Some(std::sync::Arc::new(ctx))
    }

    /// Recompute the run from its start up to `until_ms`. One command often
    /// asks for the same replay more than once (its listing settles every
    /// container, then the verb looks at one): the result is kept for the
    /// rest of the command, keyed by everything the replay depends on.
    pub fn replay(&self, until_ms: u64) -> Result<(Trace, SimFs)> {
        static MEMO: std::sync::Mutex<Option<(String, Trace, SimFs)>> = std::sync::Mutex::new(None);
        let key = self.replay_key(until_ms)?;
        if let Some((k, t, f)) = MEMO.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *k == key {
                return Ok((t.clone(), f.clone()));
            }
        }
        let (t, f) = self.replay_uncached(until_ms)?;
        *MEMO.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, t.clone(), f.clone()));
        Ok((t, f))
    }

    fn replay_uncached(&self, until_ms: u64) -> Result<(Trace, SimFs)> {
        let mut fs = layered_fs(&self.store_root, &self.layers, self.upper.as_deref())?;
        self.setup.apply(&mut fs);
        // A run known to have ended is replayed past its end (it does
        // nothing more), so everything it did at its last instant is seen.
        // Whatever was sent "just after now" (see `after`) is seen by any
        // later look, even on a clock that has not moved since.
        let last_event = self.last_event();
        let until_ms = match self.exited {
            Some((_, at)) => at + 1000,
            None => until_ms.max(last_event),
        };
        // The program runs on its own clock, which stands still while frozen:
        // events reach it at its own time, its output is told on the host's.
        let own = |at: u64| self.own_time(at);
        let signals: Vec<TimedSignal> = self
            .signals
            .iter()
            .map(|(at, sig)| TimedSignal {
                at_ms: own(*at).saturating_sub(self.started_ms),
                signal: *sig,
                pid: self.ns_pid,
            })
            .collect();
        let patches: Vec<TimedPatch> = self
            .patches
            .iter()
            .map(|(at, patch)| TimedPatch {
                at_ms: own(*at).saturating_sub(self.started_ms),
                patch: patch.clone(),
            })
            .collect();
        let res = ProcResources {
            limits: self
                .res
                .limits
                .iter()
                .map(|l| TimedLimits {
                    at_ms: own(l.at_ms).saturating_sub(self.started_ms),
                    limits: l.limits,
                })
                .collect(),
            ..self.res.clone()
        };
        let until_ms = own(until_ms);
        let mut sink_out = std::io::sink();
        let mut sink_err = std::io::sink();
        let mut ctx = ShellCtx {
            fs: &mut fs,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            hostname: self.hostname.clone(),
            uid: 0,
            gid: 0,
            pid: self.ns_pid,
            procs: vec![SimProc {
                pid: self.ns_pid,
                user: "root".into(),
                cmdline: self.cmdline(),
            }],
            mounts: self.mounts.clone(),
            clock_secs: self.started_ms / 1000,
            res,
            net: self.net_ctx(),
            stdout: &mut sink_out,
            stderr: &mut sink_err,
        };
        let horizon = until_ms.saturating_sub(self.started_ms);
        let trace = match shell::run_traced_io(
            &mut ctx,
            &self.argv,
            self.started_ms,
            horizon,
            &signals,
            &patches,
            &self.stdin_feed(),
        ) {
            Ok(mut t) => {
                for (_, at, _) in &mut t.out {
                    *at = self.host_time(*at);
                }
                t.end_ms = self.host_time(t.end_ms);
                t
            }
            Err(e) => Trace {
                outcome: Outcome::Exited(e.exit_code()),
                out: vec![(2, self.started_ms, format!("{e}\n").into_bytes())],
                live: Vec::new(),
                end_ms: self.started_ms,
                next_event: None,
                cpu_us: 0,
                cg: Default::default(),
                listening: Vec::new(),
                answered: Vec::new(),
            },
        };
        Ok((trace, fs))
    }

    /// Append to the json-file log what the run printed beyond what was
    /// logged: whole lines only while it runs, everything once it ended.
    fn log_output(&mut self, trace: &Trace, ended: bool) -> Result<()> {
        let Some(path) = self.log.clone() else {
            return Ok(());
        };
        let mut log = crate::kernel::linux::log::JsonLog::open(&path)?;
        let mut seen = [0u64; 2];
        for (fd, at, bytes) in &trace.out {
            let i = usize::from(*fd == 2);
            let start = seen[i];
            seen[i] += bytes.len() as u64;
            if seen[i] <= self.logged[i] {
                continue;
            }
            let skip = self.logged[i].saturating_sub(start) as usize;
            let mut new = &bytes[skip..];
            if !ended {
                // Keep a line that is still being written for later.
                let later: u64 = trace
                    .out
                    .iter()
                    .filter(|(f, t, _)| usize::from(*f == 2) == i && t > at)
                    .count() as u64;
                if later == 0 {
                    match new.iter().rposition(|&b| b == b'\n') {
                        Some(nl) => new = &new[..nl + 1],
                        None => continue,
                    }
                }
            }
            let stream = if i == 1 {
                crate::kernel::linux::log::Stream::Stderr
            } else {
                crate::kernel::linux::log::Stream::Stdout
            };
            log.write_at(stream, new, &crate::clock::rfc3339(crate::clock::at(*at)));
            self.logged[i] += new.len() as u64;
        }
        if ended {
            let end = crate::clock::rfc3339(crate::clock::at(trace.end_ms));
            log.flush_at(crate::kernel::linux::log::Stream::Stdout, &end);
            log.flush_at(crate::kernel::linux::log::Stream::Stderr, &end);
        }
        Ok(())
    }

    /// What an `exec`'d program joins: the container's cgroup as it is at
    /// `now` (its limits, less the memory the running program holds; its
    /// processes are in the exec's world and counted there) and its rlimits.
    fn exec_res(&self, trace: &Trace, now: u64) -> ProcResources {
        let mut limits = self
            .res
            .limits
            .iter()
            .rev()
            .find(|l| l.at_ms <= now)
            .map(|l| l.limits)
            .unwrap_or_default();
        limits.memory = limits.memory.map(|m| m.saturating_sub(trace.cg.anon));
        ProcResources {
            limits: vec![TimedLimits { at_ms: 0, limits }],
            ..self.res.clone()
        }
    }

    /// The container's changes to its image, as they are in `fs`.
    pub fn changes(&self, fs: &SimFs) -> Result<FsPatch> {
        let image = layered_fs(&self.store_root, &self.layers, None)?;
        Ok(FsPatch::between(&image, fs, &mount_points(&self.mounts)))
    }
}

/// Write `patch` as the container's upper layer (an OCI layer tar).
pub fn write_upper(dir: &Path, patch: &FsPatch, fs: &SimFs) -> Result<()> {
    let tar = patch.to_layer_tar(fs)?;
    crate::fsutil::atomic_write(&dir.join(UPPER_TAR), &tar)
}

/// A restart the host offers for a run that ended: the new process's host
/// PID and when it starts (after the policy's back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    pub pid: i32,
    pub at_ms: u64,
}

/// What `settle` tells the container's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEvent {
    /// The run ended; with a restart on offer. The callback returns
    /// whether the container's policy takes it.
    Ended(Ended, Option<Restart>),
    /// A restarted run, waiting out its back-off, has begun.
    Began,
}

/// The first restart waits this long; each quick end doubles it, up to a
/// minute; a run of 10 s resets it (the real monitor's back-off).
const RESTART_DELAY_MS: u64 = 100;
const RESTART_DELAY_MAX_MS: u64 = 60_000;
const RESTART_RESET_MS: u64 = 10_000;

/// Bring the record of a simulated running container up to date: if its
/// program ended by now, log its output, keep its changes as its upper
/// layer and say how it ended; if its restart policy takes the restart the
/// host offers, the program runs again from then on (each run recomputed
/// in turn up to now). None while it runs.
///
/// `record` writes into the container's record; it runs under the host's
/// lock, so two commands settling the same run never both do.
pub fn settle(
    root: &Path,
    c: &Container,
    mut record: impl FnMut(RunEvent) -> Result<bool>,
) -> Result<Option<Ended>> {
    let now = crate::clock::now_ms();
    let ended = update(root, |st| {
        // Another command settled it meanwhile.
        match Container::load(root, &c.id) {
            Ok(disk)
                if matches!(
                    disk.state.status,
                    crate::container::Status::Running | crate::container::Status::Restarting
                ) && disk.state.pid == c.state.pid => {}
            _ => return Ok(None),
        }
        let mut pid = c.state.pid;
        let Some(mut d) = st.procs.get(&pid).filter(|d| d.container == c.id).cloned() else {
            // The host was reset (or never ran it): nothing runs it any more.
            let end = Ended {
                code: 255,
                at_ms: now,
                oom_kills: 0,
            };
            record(RunEvent::Ended(end, None))?;
            return Ok(Some(end));
        };
        if d.started_ms <= now && c.state.status == crate::container::Status::Restarting {
            record(RunEvent::Began)?;
        }
        loop {
            if d.started_ms > now {
                // A restart still waiting out its back-off.
                return Ok(None);
            }
            let (trace, fs) = d.replay(now)?;
            let oom_kills = trace.cg.oom_kill;
            let ended = match (d.exited, &trace.outcome) {
                (Some((code, at)), _) => Some(Ended {
                    code,
                    at_ms: at,
                    oom_kills,
                }),
                (None, Outcome::Exited(code)) => Some(Ended {
                    code: *code,
                    at_ms: trace.end_ms,
                    oom_kills,
                }),
                (None, Outcome::StillRunning { .. }) => None,
            };
            d.log_output(&trace, ended.is_some())?;
            super::volumes::sync_detached(&mut d, &fs)?;
            let Some(end) = ended else {
                st.procs.insert(pid, d);
                return Ok(None);
            };
            let changes = d.changes(&fs)?;
            write_upper(&c.dir(root), &changes, &fs)?;
            st.procs.remove(&pid);
            let mut delay = d.restart_delay_ms.max(RESTART_DELAY_MS);
            if end.at_ms.saturating_sub(d.started_ms) >= RESTART_RESET_MS {
                delay = RESTART_DELAY_MS;
            }
            let offer = Restart {
                pid: st.next_pid,
                at_ms: end.at_ms + delay,
            };
            // A run ended by a reset host or a user's stop is not offered one.
            if !record(RunEvent::Ended(end, Some(offer)))? {
                st.forget_cgroups_of(&c.id);
                return Ok(Some(end));
            }
            let new_pid = st.take_pid();
            for members in st.cgroups.iter_mut().filter(|(p, _)| p.ends_with(&c.id)) {
                members.1.retain(|m| *m != pid);
                members.1.push(new_pid);
            }
            let upper = c.dir(root).join(UPPER_TAR);
            d = Detached {
                upper: upper.exists().then_some(upper),
                started_ms: offer.at_ms,
                signals: Vec::new(),
                patches: Vec::new(),
                logged: [0, 0],
                exited: None,
                input: Vec::new(),
                input_closed: None,
                restart_delay_ms: (delay * 2).min(RESTART_DELAY_MAX_MS),
                ..d
            };
            super::volumes::reload_for_restart(&mut d)?;
            // Its network, wired again for the new process (the real
            // supervisor's start takes the same network steps again).
            st.net.carry_over(pid, new_pid);
            pid = new_pid;
            st.procs.insert(pid, d.clone());
        }
    })?;
    Ok(ended)
}

/// Forget processes of containers that no longer exist (removed by `rm`).
pub fn forget_removed(root: &Path) -> Result<()> {
    if !root.join(STATE_FILE).exists() {
        return Ok(());
    }
    let gone: Vec<i32> = load(root)?
        .procs
        .iter()
        .filter(|(_, d)| {
            !crate::container::containers_dir(root)
                .join(&d.container)
                .exists()
        })
        .map(|(p, _)| *p)
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    update(root, |st| {
        for p in gone {
            if let Some(d) = st.procs.remove(&p) {
                st.forget_cgroups_of(&d.container);
            }
        }
        Ok(())
    })
}

/// Whether host PID `pid` is a simulated process that has not ended.
pub fn alive(root: &Path, pid: i32) -> Result<bool> {
    let now = crate::clock::now_ms();
    let st = load(root)?;
    let Some(d) = st.procs.get(&pid) else {
        return Ok(false);
    };
    if d.exited.is_some() {
        return Ok(false);
    }
    let (trace, _) = d.replay(now)?;
    Ok(matches!(trace.outcome, Outcome::StillRunning { .. }))
}

/// When something done "now" from outside reaches the program: just after
/// everything a replay up to now already showed happened at this instant,
/// so a later replay never reorders what a user has seen.
pub fn after(now_ms: u64) -> u64 {
    now_ms + 1
}

/// kill(2) on a simulated process: remembered with the time it was sent.
pub fn signal(root: &Path, pid: i32, sig: i32) -> Result<()> {
    let now = crate::clock::now_ms();
    update(root, |st| {
        if let Some(d) = st.procs.get_mut(&pid) {
            if d.exited.is_none() {
                d.signals.push((after(now), sig));
            }
        }
        Ok(())
    })
}

/// Wait up to `timeout_s` of simulated time for the process to end; the
/// simulated clock moves on to when it ended (or to the timeout) without
/// waiting for real. Returns whether it ended.
pub fn wait_exit(root: &Path, pid: i32, timeout_s: u64) -> Result<bool> {
    let now = crate::clock::now_ms();
    update(root, |st| {
        let Some(d) = st.procs.get(&pid).cloned() else {
            return Ok(true);
        };
        if d.exited.is_some() {
            return Ok(true);
        }
        let (trace, _) = d.replay(now + timeout_s * 1000)?;
        match trace.outcome {
            Outcome::Exited(code) => {
                st.advance_to(trace.end_ms);
                if let Some(d) = st.procs.get_mut(&pid) {
                    d.exited = Some((code, trace.end_ms));
                }
                Ok(true)
            }
            Outcome::StillRunning { .. } => {
                st.advance_to(now + timeout_s * 1000);
                Ok(false)
            }
        }
    })
}

/// The container's processes now, as its PID namespace sees them, with
/// their host PIDs (the first process's host PID is known; the others are
/// numbered after it the way the simulator hands them out).
pub fn processes(root: &Path, c: &Container) -> Result<Vec<(i32, SimProc)>> {
    let now = crate::clock::now_ms();
    let st = load(root)?;
    let Some(d) = st.procs.get(&c.state.pid) else {
        bail!("container {} is not running", c.name)
    };
    let (trace, _) = d.replay(now)?;
    Ok(trace
        .live
        .into_iter()
        .map(|p| {
            let host = c.state.pid + (p.pid as i32 - d.ns_pid as i32);
            (host, p)
        })
        .collect())
}

/// The container's filesystem now: the running program's view, or the
/// image with its upper layer when it is not running.
pub fn container_fs(
    root: &Path,
    c: &Container,
    layers: &[LayerInfo],
) -> Result<(SimFs, Vec<String>)> {
    let st = load(root)?;
    if let Some(d) = st.procs.get(&c.state.pid).filter(|d| d.container == c.id) {
        let (_, fs) = d.replay(crate::clock::now_ms())?;
        return Ok((fs, mount_points(&d.mounts)));
    }
    let upper = c.dir(root).join(UPPER_TAR);
    Ok((layered_fs(root, layers, Some(&upper))?, Vec::new()))
}

/// Change a container's filesystem from outside (`cp` into it): a patch
/// at this moment of its run when it runs, else its upper layer rewritten.
pub fn patch_container(
    root: &Path,
    c: &Container,
    layers: &[LayerInfo],
    patch: FsPatch,
) -> Result<()> {
    let now = crate::clock::now_ms();
    let running = update(root, |st| {
        match st
            .procs
            .get_mut(&c.state.pid)
            .filter(|d| d.container == c.id)
        {
            Some(d) => {
                d.patches.push((after(now), patch.clone()));
                Ok(true)
            }
            None => Ok(false),
        }
    })?;
    if running {
        return Ok(());
    }
    let upper = c.dir(root).join(UPPER_TAR);
    let mut fs = layered_fs(root, layers, Some(&upper))?;
    patch.apply(&mut fs);
    let image = layered_fs(root, layers, None)?;
    write_upper(&c.dir(root), &FsPatch::between(&image, &fs, &[]), &fs)
}

/// A file bound into a running container was rewritten by glassbox (its
/// /etc/hosts when a peer joins): the program sees the new text from now.
pub fn rewrite_bound_file(root: &Path, container: &str, target: &str, data: &[u8]) -> Result<()> {
    let now = crate::clock::now_ms();
    update(root, |st| {
        for d in st
            .procs
            .values_mut()
            .filter(|d| d.container == container && d.exited.is_none())
        {
            d.patches.push((
                after(now),
                FsPatch {
                    changes: vec![super::upper::Change {
                        path: target.to_string(),
                        node: Some(super::fs::Node::File {
                            mode: 0o644,
                            uid: 0,
                            gid: 0,
                            data: data.to_vec(),
                        }),
                        size: data.len() as u64,
                        mtime: now / 1000,
                    }],
                },
            ));
        }
        Ok(())
    })
}

/// The changes a container made to its image (`diff`, `commit`), now.
pub fn container_changes(
    root: &Path,
    c: &Container,
    layers: &[LayerInfo],
) -> Result<(FsPatch, SimFs, SimFs)> {
    let (fs, skip) = container_fs(root, c, layers)?;
    let image = layered_fs(root, layers, None)?;
    Ok((FsPatch::between(&image, &fs, &skip), image, fs))
}

/// Run a command in a running simulated container (`exec`): it sees the
/// program's filesystem and processes as they are now; what it changes is
/// replayed into the program's run at this moment. Its output goes to
/// `stdout`/`stderr`; returns its exit status.
#[allow(clippy::too_many_arguments)]
pub fn exec(
    root: &Path,
    c: &Container,
    argv: &[String],
    env: Vec<(String, String)>,
    cwd: &str,
    uid: u32,
    gid: u32,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> Result<std::result::Result<i32, shell::RunError>> {
    let now = crate::clock::now_ms();
    update(root, |st| {
        let Some(d) = st
            .procs
            .get(&c.state.pid)
            .filter(|d| d.container == c.id)
            .cloned()
        else {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "container {} is not running",
                c.name
            )
        };
        let (trace, mut fs) = d.replay(now)?;
        if !matches!(trace.outcome, Outcome::StillRunning { .. }) {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "container {} is not running",
                c.name
            )
        }
        let before = fs.clone();
        let (pid, procs) = with_exec_process(&trace, &fs, uid, argv);
        let net = super::reach::for_pid(st, c.state.pid);
        let mut ctx = ShellCtx {
            fs: &mut fs,
            env,
            cwd: cwd.to_string(),
            hostname: d.hostname.clone(),
            uid,
            gid,
            pid,
            procs,
            mounts: d.mounts.clone(),
            clock_secs: now / 1000,
            res: d.exec_res(&trace, now),
            net: Some(net.clone()),
            stdout: &mut std::io::sink(),
            stderr: &mut std::io::sink(),
        };
        let ran = shell::run_traced(&mut ctx, argv, now, shell::DEFAULT_HORIZON_MS, &[], &[]);
        let t = match ran {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        for (fd, _, bytes) in &t.out {
            let out: &mut dyn std::io::Write = if *fd == 2 { &mut *stderr } else { &mut *stdout };
            let _ = out.write_all(bytes);
        }
        let _ = stdout.flush();
        let _ = stderr.flush();
        let patch = FsPatch::between(&before, &fs, &super::volumes::unbacked_points(&d.mounts));
        if !patch.is_empty() {
            if let Some(d) = st.procs.get_mut(&c.state.pid) {
                d.patches.push((after(now), patch));
            }
        }
        st.advance_to(t.end_ms);
        Ok(Ok(match t.outcome {
            Outcome::Exited(code) => code,
            Outcome::StillRunning { .. } => 137,
        }))
    })
}

/// Freeze or thaw the processes of the cgroup at `dir` (`pause`,
/// `unpause`): their clocks stop or go on from now.
pub fn freeze(root: &Path, dir: &Path, frozen: bool) -> Result<()> {
    let now = crate::clock::now_ms();
    update(root, |st| {
        let members = st.cgroups.get(dir).cloned().unwrap_or_default();
        for pid in members {
            let Some(d) = st.procs.get_mut(&pid) else {
                continue;
            };
            match (frozen, d.frozen()) {
                (true, false) => d.pauses.push((after(now), None)),
                (false, true) => {
                    if let Some(last) = d.pauses.last_mut() {
                        last.1 = Some(after(now));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    })
}

/// Keys typed (or bytes piped) to a simulated process's stdin, at `at_ms`.
pub fn send_input(root: &Path, pid: i32, at_ms: u64, bytes: &[u8]) -> Result<()> {
    update(root, |st| {
        if let Some(d) = st.procs.get_mut(&pid).filter(|d| d.exited.is_none()) {
            // Strictly after what it was sent before, so the program has
            // reacted to that (as the user saw) before this arrives.
            let at = at_ms.max(d.last_event() + 1);
            d.input.push((at, bytes.to_vec()));
        }
        Ok(())
    })
}

/// The end of a simulated process's stdin (the user's stdin closed).
pub fn close_input(root: &Path, pid: i32, at_ms: u64) -> Result<()> {
    update(root, |st| {
        if let Some(d) = st.procs.get_mut(&pid) {
            let at = at_ms.max(d.last_event() + 1);
            d.input_closed.get_or_insert(at);
        }
        Ok(())
    })
}

/// The process recomputed up to `now_ms` (None: no such process).
pub fn replay_pid(root: &Path, pid: i32, now_ms: u64) -> Result<Option<(Trace, SimFs)>> {
    let st = load(root)?;
    match st.procs.get(&pid) {
        Some(d) => d.replay(now_ms).map(Some),
        None => Ok(None),
    }
}

/// Move the simulated clock on to `ms` (a program that only sleeps, watched live).
pub fn advance_clock(root: &Path, ms: u64) -> Result<()> {
    update(root, |st| {
        st.advance_to(ms);
        Ok(())
    })
}

/// A command that waits (`logs -f`, streaming `stats`) lets `d` pass on
/// the simulated host: a pinned clock is moved on (it would never move by
/// itself), a clock that follows the real one is waited for, so a learner
/// watching sees the program's own pace.
pub fn let_time_pass(root: &Path, d: std::time::Duration) -> Result<()> {
    if crate::clock::is_pinned() {
        advance_clock(root, crate::clock::now_ms() + d.as_millis() as u64)
    } else {
        std::thread::sleep(d);
        Ok(())
    }
}

/// An `exec -i` program in a running simulated container, driven by the
/// user's terminal: it starts on the container's filesystem and processes
/// as they are now and is recomputed with its input as that comes.
struct ExecSession {
    base: SimFs,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
    hostname: String,
    uid: u32,
    gid: u32,
    pid: u32,
    procs: Vec<SimProc>,
    mounts: Vec<SimMount>,
    started_ms: u64,
    res: ProcResources,
    feed: shell::StdinFeed,
    /// Its filesystem at the last replay.
    fs: Option<SimFs>,
    net: Option<std::sync::Arc<super::reach::NetCtx>>,
}

impl ExecSession {
    /// When its last input came (relative to its start).
    fn last_input(&self) -> u64 {
        self.feed.input.iter().map(|i| i.0).max().unwrap_or(0)
    }

    fn run(&self, until_ms: u64) -> std::result::Result<(Trace, SimFs), shell::RunError> {
        let mut fs = self.base.clone();
        let mut ctx = ShellCtx {
            fs: &mut fs,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            hostname: self.hostname.clone(),
            uid: self.uid,
            gid: self.gid,
            pid: self.pid,
            procs: self.procs.clone(),
            mounts: self.mounts.clone(),
            clock_secs: self.started_ms / 1000,
            res: self.res.clone(),
            net: self.net.clone(),
            stdout: &mut std::io::sink(),
            stderr: &mut std::io::sink(),
        };
        let last = self
            .feed
            .input
            .iter()
            .map(|i| i.0)
            .chain(self.feed.closed_at)
            .max()
            .unwrap_or(0);
        let horizon = until_ms.saturating_sub(self.started_ms).max(last);
        let trace = shell::run_traced_io(
            &mut ctx,
            &self.argv,
            self.started_ms,
            horizon,
            &[],
            &[],
            &self.feed,
        )?;
        Ok((trace, fs))
    }
}

impl super::live::Session for ExecSession {
    fn replay(&mut self, now_ms: u64) -> Result<Trace> {
        let (trace, fs) = self.run(now_ms).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.fs = Some(fs);
        Ok(trace)
    }

    fn input(&mut self, at_ms: u64, bytes: &[u8]) -> Result<()> {
        let at = at_ms
            .saturating_sub(self.started_ms)
            .max(self.last_input() + 1);
        self.feed.input.push((at, bytes.to_vec()));
        Ok(())
    }

    fn close_input(&mut self, at_ms: u64) -> Result<()> {
        let at = at_ms
            .saturating_sub(self.started_ms)
            .max(self.last_input() + 1);
        self.feed.closed_at.get_or_insert(at);
        Ok(())
    }
}

/// `exec -i` (`-it`) in a running simulated container: the user's terminal
/// drives the program; what it changed in the filesystem is replayed into
/// the container's run when it ends. Returns its exit status.
#[allow(clippy::too_many_arguments)]
pub fn exec_attached(
    root: &Path,
    c: &Container,
    argv: &[String],
    env: Vec<(String, String)>,
    cwd: &str,
    uid: u32,
    gid: u32,
    tty: bool,
) -> Result<std::result::Result<i32, shell::RunError>> {
    let now = crate::clock::now_ms();
    let st = load(root)?;
    let not_running = || -> Result<std::result::Result<i32, shell::RunError>> {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "container {} is not running",
            c.name
        )
    };
    let Some(d) = st
        .procs
        .get(&c.state.pid)
        .filter(|d| d.container == c.id)
        .cloned()
    else {
        return not_running();
    };
    let (trace, fs) = d.replay(now)?;
    if !matches!(trace.outcome, Outcome::StillRunning { .. }) {
        return not_running();
    }
    let (pid, procs) = with_exec_process(&trace, &fs, uid, argv);
    let mut session = ExecSession {
        base: fs,
        argv: argv.to_vec(),
        env,
        cwd: cwd.to_string(),
        hostname: d.hostname.clone(),
        uid,
        gid,
        pid,
        procs,
        mounts: d.mounts.clone(),
        started_ms: now,
        res: d.exec_res(&trace, now),
        feed: shell::StdinFeed {
            open: true,
            tty,
            ..Default::default()
        },
        fs: None,
        net: Some(super::reach::for_pid(&st, c.state.pid)),
    };
    // A program that cannot start fails as exec(2) would, before any input.
    if let Err(e) = session.run(now) {
        return Ok(Err(e));
    }
    // SAFETY: isatty on fd 0.
    let raw = (tty && unsafe { libc::isatty(0) } == 1).then(crate::kernel::linux::RawMode::enter);
    // docker's exec detach keys are not simulated: an exec'd program is not
    // kept on the simulated host, so the keys reach it.
    let term = super::live::Terminal {
        stdin: true,
        detach_keys: Vec::new(),
        skip_past_output: false,
    };
    let end = super::live::attach(root, &mut session, &term)?;
    drop(raw);
    let super::live::End::Exited { code, at_ms } = end else {
        return Ok(Ok(0));
    };
    if let Some(fs) = &session.fs {
        let patch = FsPatch::between(
            &session.base,
            fs,
            &super::volumes::unbacked_points(&d.mounts),
        );
        if !patch.is_empty() {
            update(root, |st| {
                if let Some(d) = st.procs.get_mut(&c.state.pid) {
                    d.patches.push((after(at_ms), patch));
                }
                Ok(())
            })?;
        }
    }
    Ok(Ok(code))
}

/// The processes an exec'd program sees: the container's live ones, and
/// itself under the next free namespace PID (returned).
fn with_exec_process(trace: &Trace, fs: &SimFs, uid: u32, argv: &[String]) -> (u32, Vec<SimProc>) {
    let pid = trace.live.iter().map(|p| p.pid).max().unwrap_or(1) + 1;
    let mut procs = trace.live.clone();
    procs.push(SimProc {
        pid,
        user: super::applets::user_name(fs, uid),
        cmdline: argv.join(" "),
    });
    (pid, procs)
}
