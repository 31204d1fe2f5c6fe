//! The world simulated processes share, and its deterministic scheduler.
//!
//! Every simulated process (the shell, a background job, a pipeline stage)
//! is an OS thread, but only one runs at a time: the one holding the turn.
//! A thread gives the turn away only when it sleeps, blocks (pipe, wait) or
//! ends, and the next one is chosen from the model alone (first ready first,
//! then the earliest sleeper, advancing the virtual clock). So the same
//! program with the same timed signals always does the same thing, whatever
//! the horizon, and a later command can recompute a detached process's state
//! by re-running it up to "now".

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::Flow;
use crate::kernel::sim::fs::SimFs;

/// Bytes a pipe holds before its writer blocks (Linux's default).
pub const PIPE_CAP: usize = 65536;
/// Commands run without the clock moving before it advances by one tick.
pub const QUANTUM: u64 = 1000;
/// Virtual milliseconds one quantum of busy work costs (about what ash
/// takes for a thousand builtins).
pub const TICK_MS: u64 = 10;
/// Commands a whole run may execute; past it the run stops as if at its horizon.
pub const MAX_STEPS: u64 = 5_000_000;
/// Bytes of terminal output a run may produce before it is stopped.
pub const MAX_OUTPUT: usize = 8 << 20;

/// A change to the filesystem made from outside the run at a virtual time
/// (milliseconds since the run started): what an `exec` or a `cp` into the
/// running container did, replayed at the moment it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedPatch {
    pub at_ms: u64,
    pub patch: crate::kernel::sim::upper::FsPatch,
}

/// What a run's stdin gets: bytes typed or piped at virtual times
/// (milliseconds since the run started) and when it was closed. Without
/// `open` (no `-i`) nothing ever arrives: a terminal then stays silent, and
/// a plain stdin is at end of file (docker's /dev/null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StdinFeed {
    pub open: bool,
    /// A terminal (`-t`): a line discipline echoes and edits lines, ^C is
    /// SIGINT, ^D end of file, and output lines end in "\r\n" (onlcr).
    pub tty: bool,
    pub input: Vec<(u64, Vec<u8>)>,
    pub closed_at: Option<u64>,
}

/// The run's stdin as the kernel holds it: what is due but not yet read.
#[derive(Default)]
struct Stdin {
    tty: bool,
    /// Input still to arrive (absolute virtual times).
    pending: VecDeque<(u64, Vec<u8>)>,
    closed_at: Option<u64>,
    closed: bool,
    /// Bytes a reader can take now (whole lines on a terminal).
    ready: VecDeque<u8>,
    /// The terminal line being edited.
    line: Vec<u8>,
    /// ^D on an empty line: reads that return end of file.
    eofs: usize,
}

/// A signal to deliver at a virtual time (milliseconds since the run started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedSignal {
    pub at_ms: u64,
    pub signal: i32,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    PipeRead(usize),
    PipeWrite(usize),
    Child,
    Stdin,
    /// Waiting for memory under the cgroup's limit (--oom-kill-disable).
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum St {
    Run,
    Sleep(u64),
    Block(Why),
    Done,
}

/// One process in the simulated pid namespace.
#[derive(Debug, Clone)]
pub struct PEntry {
    pub pid: u32,
    pub ppid: u32,
    pub user: String,
    pub cmdline: String,
    pub start_ms: u64,
    /// The thread that runs it (itself for a thread, the shell for an applet
    /// the shell runs in the foreground); None for processes from outside.
    pub runner: Option<u32>,
    pub state: St,
    ready: u64,
    pub exit: Option<i32>,
    /// Set when a signal's default action killed it: the exit status (128+N).
    pub killed: Option<i32>,
    /// Signals with a handler (`trap 'cmd' SIG`) and ignored ones (`trap '' SIG`).
    pub trapped: BTreeSet<i32>,
    pub ignored: BTreeSet<i32>,
    pub pending: Vec<i32>,
    pub interrupted: bool,
}

pub struct Pipe {
    buf: VecDeque<u8>,
    pub readers: usize,
    pub writers: usize,
    cap: usize,
}

/// A file descriptor of a simulated process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fd {
    Closed,
    /// The container's stdin (always at end of file), stdout or stderr.
    Tty(u8),
    Null,
    /// A file opened for writing (appends at the current end).
    File(String),
    PipeR(usize),
    PipeW(usize),
}

pub struct World {
    pub fs: SimFs,
    pub hostname: String,
    pub uid: u32,
    pub gid: u32,
    /// Virtual time, milliseconds since the epoch.
    pub clock_ms: u64,
    pub start_ms: u64,
    horizon_ms: u64,
    pub procs: BTreeMap<u32, PEntry>,
    pub next_pid: u32,
    pipes: Vec<Pipe>,
    /// Terminal output in order: (fd, virtual time in ms, bytes).
    pub out: Vec<(u8, u64, Vec<u8>)>,
    out_len: usize,
    signals: VecDeque<TimedSignal>,
    patches: VecDeque<TimedPatch>,
    turn: Option<u32>,
    seq: u64,
    pub steps: u64,
    since_clock: u64,
    /// Why everything stopped before the first process ended (horizon, budget).
    pub halted: Option<String>,
    /// The processes alive when the run was halted (pid, user, command
    /// line), kept as they were: a foreground applet's entry is dropped as
    /// its thread unwinds after the halt.
    pub live_at_halt: Vec<(u32, String, String)>,
    pub live_threads: usize,
    pub mounts: Vec<crate::kernel::sim::SimMount>,
    stdin: Stdin,
    /// When the next thing would have happened, had the run not stopped at
    /// its horizon (None: nothing will until new input comes).
    pub next_event: Option<u64>,
    /// CPU time the run used (µs): each command costs 10 µs (see `TICK_MS`).
    pub cpu_us: u64,
    /// The cgroup's limits and accounting (`memcg`).
    pub cg: super::memcg::CgState,
    /// The simulated network the run is on (`kernel::sim::reach`).
    pub net: Option<std::sync::Arc<crate::kernel::sim::reach::NetCtx>>,
    /// TCP ports its processes listen on (`nc -l`): pid → (port, what it
    /// sends the client that connects).
    pub listening: BTreeMap<u32, (u16, Vec<u8>)>,
    /// What its servers sent back on connections that reached them (a
    /// simulated redis's replies): the connection's index in
    /// `net.inbound`, the bytes.
    pub answered: Vec<(usize, Vec<u8>)>,
}

/// What every thread shares.
pub struct Shared {
    pub m: Mutex<World>,
    pub cv: Condvar,
}

impl World {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        fs: SimFs,
        hostname: String,
        uid: u32,
        gid: u32,
        start_ms: u64,
        horizon_ms: u64,
        mut signals: Vec<TimedSignal>,
        mut patches: Vec<TimedPatch>,
        mounts: Vec<crate::kernel::sim::SimMount>,
    ) -> World {
        signals.sort_by_key(|s| s.at_ms);
        patches.sort_by_key(|p| p.at_ms);
        World {
            fs,
            hostname,
            uid,
            gid,
            clock_ms: start_ms,
            start_ms,
            horizon_ms: start_ms.saturating_add(horizon_ms),
            procs: BTreeMap::new(),
            next_pid: 1,
            pipes: Vec::new(),
            out: Vec::new(),
            out_len: 0,
            signals: signals
                .into_iter()
                .map(|s| TimedSignal {
                    at_ms: start_ms + s.at_ms,
                    ..s
                })
                .collect(),
            patches: patches
                .into_iter()
                .map(|p| TimedPatch {
                    at_ms: start_ms + p.at_ms,
                    ..p
                })
                .collect(),
            turn: None,
            seq: 0,
            steps: 0,
            since_clock: 0,
            halted: None,
            live_at_halt: Vec::new(),
            listening: BTreeMap::new(),
            answered: Vec::new(),
            live_threads: 0,
            mounts,
            stdin: Stdin {
                closed: true,
                ..Default::default()
            },
            next_event: None,
            cpu_us: 0,
            cg: Default::default(),
            net: None,
        }
    }

    /// The cgroup's limits from the start (`at_ms` relative to it) and the
    /// container's oom_score_adj.
    pub fn set_cgroup(&mut self, limits: &[super::memcg::TimedLimits], oom_score_adj: i32) {
        let start = self.start_ms;
        self.cg.limits = limits
            .iter()
            .map(|l| super::memcg::TimedLimits {
                at_ms: start + l.at_ms,
                limits: l.limits,
            })
            .collect();
        self.cg.limits.sort_by_key(|l| l.at_ms);
        self.cg.oom_score_adj = oom_score_adj;
    }

    /// Connect the run's stdin (the default is a closed one).
    pub fn set_stdin(&mut self, feed: &StdinFeed) {
        let start = self.start_ms;
        self.stdin = Stdin {
            tty: feed.tty,
            pending: feed
                .input
                .iter()
                .map(|(at, b)| (start + at, b.clone()))
                .collect(),
            closed_at: feed.closed_at.map(|at| start + at),
            closed: !feed.open && !feed.tty,
            ..Default::default()
        };
    }

    /// Whether the run has a terminal (isatty on its stdio).
    pub fn is_tty(&self) -> bool {
        self.stdin.tty
    }

    /// The next time input arrives or stdin closes.
    fn next_input(&self) -> Option<u64> {
        let data = self.stdin.pending.front().map(|p| p.0);
        let close = self.stdin.closed_at.filter(|_| !self.stdin.closed);
        [data, close].into_iter().flatten().min()
    }

    /// Hand the input due by now to the terminal's line discipline (or
    /// straight to the reader without a terminal), then wake readers.
    fn take_input(&mut self) {
        let mut any = false;
        while self.stdin.pending.front().map(|p| p.0 <= self.clock_ms) == Some(true) {
            let (_, bytes) = self.stdin.pending.pop_front().unwrap();
            if self.stdin.tty {
                for b in bytes {
                    self.line_discipline(b);
                }
            } else {
                self.stdin.ready.extend(bytes);
            }
            any = true;
        }
        if self.stdin.closed_at.is_some_and(|t| t <= self.clock_ms) && !self.stdin.closed {
            self.stdin.closed = true;
            any = true;
        }
        if any {
            self.wake(St::Block(Why::Stdin));
        }
    }

    /// One typed byte through a canonical terminal (icanon, echo, icrnl,
    /// isig, echoctl), as the pty of `run -it` treats it.
    fn line_discipline(&mut self, b: u8) {
        let echo = |w: &mut World, s: &[u8]| w.emit_raw(s);
        match b {
            b'\r' | b'\n' => {
                self.stdin.line.push(b'\n');
                let line = std::mem::take(&mut self.stdin.line);
                self.stdin.ready.extend(line);
                echo(self, b"\r\n");
            }
            0x7f | 0x08 => {
                if self.stdin.line.pop().is_some() {
                    echo(self, b"\x08 \x08");
                }
            }
            0x15 => {
                let n = std::mem::take(&mut self.stdin.line).len();
                echo(self, &b"\x08 \x08".repeat(n));
            }
            0x04 => {
                if self.stdin.line.is_empty() {
                    self.stdin.eofs += 1;
                } else {
                    let line = std::mem::take(&mut self.stdin.line);
                    self.stdin.ready.extend(line);
                }
            }
            0x03 | 0x1c => {
                echo(self, if b == 0x03 { b"^C" } else { b"^\\" });
                self.stdin.line.clear();
                let sig = if b == 0x03 { 2 } else { 3 };
                // The terminal's foreground process group: every process of the run.
                let pids: Vec<u32> = self
                    .procs
                    .values()
                    .filter(|p| p.runner.is_some() && p.state != St::Done)
                    .map(|p| p.pid)
                    .collect();
                for pid in pids {
                    self.deliver(pid, sig);
                }
            }
            c if c < 0x20 && c != b'\t' => {
                self.stdin.line.push(c);
                echo(self, &[b'^', c + 0x40]);
            }
            c => {
                self.stdin.line.push(c);
                echo(self, &[c]);
            }
        }
    }

    /// A process from outside the run (visible to `ps`, never scheduled).
    pub fn add_foreign(&mut self, pid: u32, user: &str, cmdline: &str) {
        let e = self.entry(pid, 0, user, cmdline, None);
        self.procs.insert(pid, e);
        self.next_pid = self.next_pid.max(pid + 1);
    }

    fn entry(&mut self, pid: u32, ppid: u32, user: &str, cmd: &str, runner: Option<u32>) -> PEntry {
        self.seq += 1;
        PEntry {
            pid,
            ppid,
            user: user.into(),
            cmdline: cmd.into(),
            start_ms: self.clock_ms,
            runner,
            state: St::Run,
            ready: self.seq,
            exit: None,
            killed: None,
            trapped: BTreeSet::new(),
            ignored: BTreeSet::new(),
            pending: Vec::new(),
            interrupted: false,
        }
    }

    /// A new process run by its own thread (`pid` None: the next free pid).
    pub fn add_thread(&mut self, pid: Option<u32>, ppid: u32, cmd: &str) -> u32 {
        let pid = pid.unwrap_or(self.next_pid);
        self.next_pid = self.next_pid.max(pid + 1);
        let user = self.user_name();
        let e = self.entry(pid, ppid, &user, cmd, Some(pid));
        self.procs.insert(pid, e);
        self.live_threads += 1;
        pid
    }

    /// A process the shell runs in the foreground on its own thread (fork+exec, wait).
    pub fn add_applet(&mut self, runner: u32, cmd: &str) -> u32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        let user = self.user_name();
        let e = self.entry(pid, runner, &user, cmd, Some(runner));
        self.procs.insert(pid, e);
        pid
    }

    pub fn user_name(&self) -> String {
        crate::kernel::sim::applets::user_name(&self.fs, self.uid)
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.clock_ms - self.start_ms
    }

    pub fn new_pipe(&mut self, data: Vec<u8>, writers: usize, unbounded: bool) -> usize {
        self.pipes.push(Pipe {
            buf: data.into(),
            readers: 1,
            writers,
            cap: if unbounded { usize::MAX } else { PIPE_CAP },
        });
        self.pipes.len() - 1
    }

    pub fn retain(&mut self, fd: &Fd) {
        match fd {
            Fd::PipeR(i) => self.pipes[*i].readers += 1,
            Fd::PipeW(i) => self.pipes[*i].writers += 1,
            _ => {}
        }
    }

    pub fn release(&mut self, fd: &Fd) {
        match fd {
            Fd::PipeR(i) => {
                self.pipes[*i].readers -= 1;
                if self.pipes[*i].readers == 0 {
                    self.pipes[*i].buf.clear();
                    self.wake(St::Block(Why::PipeWrite(*i)));
                }
            }
            Fd::PipeW(i) => {
                self.pipes[*i].writers -= 1;
                if self.pipes[*i].writers == 0 {
                    self.wake(St::Block(Why::PipeRead(*i)));
                }
            }
            _ => {}
        }
    }

    fn make_ready(&mut self, pid: u32) {
        self.seq += 1;
        let seq = self.seq;
        if let Some(p) = self.procs.get_mut(&pid) {
            if p.state != St::Done {
                p.state = St::Run;
                p.ready = seq;
            }
        }
    }

    /// Make every thread blocked for `why` ready again.
    fn wake(&mut self, why: St) {
        let pids: Vec<u32> = self
            .procs
            .values()
            .filter(|p| p.state == why)
            .map(|p| p.pid)
            .collect();
        for pid in pids {
            self.make_ready(pid);
        }
    }

    /// Terminal output (stdout 1, stderr 2), in order. On a terminal both
    /// are the one stream and each "\n" goes out as "\r\n" (onlcr).
    pub fn emit(&mut self, fd: u8, b: &[u8]) -> Result<(), Flow> {
        if b.is_empty() {
            return Ok(());
        }
        if self.stdin.tty {
            let mut crlf = Vec::with_capacity(b.len() + 8);
            for &c in b {
                if c == b'\n' {
                    crlf.push(b'\r');
                }
                crlf.push(c);
            }
            return self.emit_plain(1, &crlf);
        }
        self.emit_plain(fd, b)
    }

    /// The terminal's own echo.
    fn emit_raw(&mut self, b: &[u8]) {
        let _ = self.emit_plain(1, b);
    }

    fn emit_plain(&mut self, fd: u8, b: &[u8]) -> Result<(), Flow> {
        self.out_len += b.len();
        if self.out_len > MAX_OUTPUT {
            self.halt(format!(
                "it wrote more than {} MiB to the terminal",
                MAX_OUTPUT >> 20
            ));
            return Err(Flow::Halt);
        }
        match self.out.last_mut() {
            Some((f, t, last)) if *f == fd && *t == self.clock_ms => last.extend_from_slice(b),
            _ => self.out.push((fd, self.clock_ms, b.to_vec())),
        }
        Ok(())
    }

    pub fn halt(&mut self, why: String) {
        if self.halted.is_none() {
            self.halted = Some(why);
            self.cg.at_halt = Some(self.cg_counters());
            // Who was alive when time stopped (threads unwind after this).
            self.live_at_halt = self
                .procs
                .values()
                .filter(|p| p.state != St::Done && p.exit.is_none() && p.killed.is_none())
                .map(|p| (p.pid, p.user.clone(), p.cmdline.clone()))
                .collect();
        }
    }

    /// Send `sig` to `pid` now, as the kernel would. Returns false if there
    /// is no such (live) process.
    pub fn deliver(&mut self, pid: u32, sig: i32) -> bool {
        let Some(p) = self.procs.get_mut(&pid) else {
            return false;
        };
        if p.state == St::Done || p.exit.is_some() {
            return false;
        }
        if sig == 0 {
            return true;
        }
        let runner = p.runner;
        if sig == 9 {
            p.killed = Some(128 + 9);
        } else if p.trapped.contains(&sig) {
            p.pending.push(sig);
            if matches!(
                p.state,
                St::Sleep(_) | St::Block(Why::Child) | St::Block(Why::Stdin)
            ) {
                p.interrupted = true;
                self.make_ready(pid);
            }
            return true;
        } else if p.ignored.contains(&sig) || DEFAULT_IGNORED.contains(&sig) {
            return true;
        } else if pid == 1 {
            // The init of a pid namespace gets no default action for
            // signals it has no handler for (kill(2), pid_namespaces(7)).
            return true;
        } else {
            p.killed = Some(128 + sig);
        }
        if let Some(r) = runner {
            self.make_ready(r);
        }
        true
    }

    /// Choose who runs next, advancing the clock when nobody is ready.
    fn schedule(&mut self) {
        loop {
            let live = self
                .procs
                .values()
                .filter(|p| p.runner == Some(p.pid) && p.state != St::Done);
            if self.halted.is_some() {
                // Let each thread run once more so it unwinds.
                self.turn = live.map(|p| p.pid).min();
                return;
            }
            let ready = live
                .clone()
                .filter(|p| p.state == St::Run)
                .min_by_key(|p| p.ready)
                .map(|p| p.pid);
            if let Some(pid) = ready {
                self.turn = Some(pid);
                return;
            }
            let wake = live
                .filter_map(|p| match p.state {
                    St::Sleep(t) => Some(t),
                    _ => None,
                })
                .min();
            let sig = self.signals.front().map(|s| s.at_ms);
            let patch = self.patches.front().map(|p| p.at_ms);
            let input = self.next_input();
            let next = [wake, sig, patch, input].into_iter().flatten().min();
            match next {
                Some(t) if t <= self.horizon_ms => {
                    self.clock_ms = self.clock_ms.max(t);
                    self.since_clock = 0;
                    while self.patches.front().map(|p| p.at_ms <= self.clock_ms) == Some(true) {
                        let p = self.patches.pop_front().unwrap();
                        p.patch.apply(&mut self.fs);
                    }
                    while self.signals.front().map(|s| s.at_ms <= self.clock_ms) == Some(true) {
                        let s = self.signals.pop_front().unwrap();
                        self.deliver(s.pid, s.signal);
                    }
                    self.take_input();
                    let due: Vec<u32> = self
                        .procs
                        .values()
                        .filter(|p| matches!(p.state, St::Sleep(t) if t <= self.clock_ms))
                        .map(|p| p.pid)
                        .collect();
                    for pid in due {
                        self.make_ready(pid);
                    }
                }
                _ => {
                    // Nothing will ever happen before the horizon: everyone
                    // left is blocked or sleeping past it.
                    self.clock_ms = self.horizon_ms.max(self.clock_ms);
                    self.next_event = next;
                    self.halt("the horizon".into());
                }
            }
        }
    }
}

/// Signals whose default action is to do nothing.
const DEFAULT_IGNORED: &[i32] = &[17, 18, 23, 28];

/// The context of one running thread: its process, its file descriptors,
/// and the turn (the world lock) while it runs.
pub struct Proc<'e> {
    pub shared: &'e Shared,
    g: Option<MutexGuard<'e, World>>,
    /// The process this thread is.
    pub pid: u32,
    /// The foreground program the shell is running for it, if any.
    pub applet: Option<u32>,
    pub fds: Vec<Fd>,
}

impl<'e> Proc<'e> {
    /// Wait for this thread's first turn and take it.
    pub fn start(shared: &'e Shared, pid: u32, fds: Vec<Fd>) -> Proc<'e> {
        let g = shared.m.lock().unwrap_or_else(|e| e.into_inner());
        let g = shared
            .cv
            .wait_while(g, |w| w.turn != Some(pid))
            .unwrap_or_else(|e| e.into_inner());
        Proc {
            shared,
            g: Some(g),
            pid,
            applet: None,
            fds,
        }
    }

    pub fn w(&mut self) -> &mut World {
        self.g.as_mut().expect("the running thread holds the world")
    }

    pub fn world(&self) -> &World {
        self.g.as_ref().expect("the running thread holds the world")
    }

    /// Give the turn away and wait until it comes back.
    fn yield_turn(&mut self) {
        let me = self.pid;
        let mut g = self.g.take().expect("turn");
        g.schedule();
        self.shared.cv.notify_all();
        let g = self
            .shared
            .cv
            .wait_while(g, |w| w.turn != Some(me))
            .unwrap_or_else(|e| e.into_inner());
        self.g = Some(g);
    }

    /// This thread's process ends with `code`: wake its parent, close its
    /// descriptors, hand the turn on.
    pub fn finish(mut self, code: i32, halted: bool) {
        let fds = std::mem::take(&mut self.fds);
        let me = self.pid;
        let mut g = self.g.take().expect("turn");
        for fd in &fds {
            g.release(fd);
        }
        g.cg.held.remove(&me);
        g.wake(St::Block(Why::Memory));
        let mut ppid = 0;
        if let Some(p) = g.procs.get_mut(&me) {
            p.state = St::Done;
            p.exit = (!halted).then_some(code);
            ppid = p.ppid;
        }
        if g.procs.get(&ppid).map(|p| p.state) == Some(St::Block(Why::Child)) {
            g.make_ready(ppid);
        }
        g.live_threads -= 1;
        g.schedule();
        self.shared.cv.notify_all();
    }

    /// Stop if the run is over or this process was killed.
    pub fn check(&mut self) -> Result<(), Flow> {
        let (pid, applet) = (self.pid, self.applet);
        let w = self.w();
        if w.halted.is_some() {
            return Err(Flow::Halt);
        }
        if let Some(a) = applet {
            if let Some(code) = w.procs.get(&a).and_then(|p| p.killed) {
                return Err(Flow::Killed(code));
            }
        }
        if let Some(code) = w.procs.get(&pid).and_then(|p| p.killed) {
            return Err(Flow::Killed(code));
        }
        Ok(())
    }

    /// Count one command; busy work moves the clock (and lets others run).
    pub fn tick(&mut self) -> Result<(), Flow> {
        let w = self.w();
        w.steps += 1;
        w.cpu_us += TICK_MS * 1000 / QUANTUM;
        w.since_clock += 1;
        if w.steps > MAX_STEPS {
            w.halt(format!("it ran {MAX_STEPS} commands"));
            return Err(Flow::Halt);
        }
        if w.since_clock >= QUANTUM {
            let t = w.clock_ms + TICK_MS;
            self.sleep_until(t)?;
        }
        self.check()
    }

    /// Sleep until virtual time `t`. Ok(Some(sig)) when a trapped signal cut it short.
    pub fn sleep_until(&mut self, t: u64) -> Result<Option<i32>, Flow> {
        let me = self.pid;
        let w = self.w();
        if let Some(p) = w.procs.get_mut(&me) {
            p.state = St::Sleep(t);
            p.interrupted = false;
        }
        self.yield_turn();
        self.check()?;
        Ok(self.take_interrupt())
    }

    fn take_interrupt(&mut self) -> Option<i32> {
        let me = self.pid;
        let p = self.w().procs.get_mut(&me)?;
        p.state = St::Run;
        if std::mem::take(&mut p.interrupted) {
            p.pending.first().copied()
        } else {
            None
        }
    }

    /// Wait until a child of this process ends (or a trapped signal arrives).
    pub fn wait_child(&mut self) -> Result<Option<i32>, Flow> {
        let me = self.pid;
        if let Some(p) = self.w().procs.get_mut(&me) {
            p.state = St::Block(Why::Child);
            p.interrupted = false;
        }
        self.yield_turn();
        self.check()?;
        Ok(self.take_interrupt())
    }

    fn block(&mut self, why: Why) -> Result<(), Flow> {
        let me = self.pid;
        if let Some(p) = self.w().procs.get_mut(&me) {
            p.state = St::Block(why);
        }
        self.yield_turn();
        self.check()?;
        let me = self.pid;
        if let Some(p) = self.w().procs.get_mut(&me) {
            p.state = St::Run;
        }
        Ok(())
    }

    /// The running program now holds `total` bytes of data (its buffers):
    /// charged to the cgroup, which may OOM-kill (`memcg`).
    pub fn hold(&mut self, total: u64) -> Result<(), Flow> {
        let who = self.applet.unwrap_or(self.pid);
        let before = self.w().cg.held.insert(who, total).unwrap_or(0);
        if total > before {
            self.charge()
        } else {
            Ok(())
        }
    }

    /// After memory grew: past the limit the OOM killer kills the process
    /// with the largest footprint (with --oom-kill-disable the allocating
    /// process waits instead) until usage fits or this process is the one.
    pub fn charge(&mut self) -> Result<(), Flow> {
        loop {
            let w = self.w();
            let use_now = w.mem_in_use();
            let limits = w.cg_limits();
            let Some(limit) = limits.oom_at().filter(|l| use_now > *l) else {
                w.cg.peak = w.cg.peak.max(use_now);
                return Ok(());
            };
            w.cg.peak = w.cg.peak.max(limit);
            w.cg.max_events += 1;
            let victim = w.oom_victim().filter(|_| !limits.oom_kill_disable);
            let Some(victim) = victim else {
                // under_oom: wait until memory is freed or a SIGKILL comes.
                w.cg.waiting += 1;
                let r = self.block(Why::Memory);
                self.w().cg.waiting -= 1;
                r?;
                continue;
            };
            w.cg.oom += 1;
            w.cg.oom_kill += 1;
            w.cg.held.remove(&victim);
            w.deliver(victim, 9);
            self.check()?;
        }
    }

    /// Signals delivered to this process and not yet handled.
    pub fn take_pending(&mut self) -> Vec<i32> {
        let me = self.pid;
        self.w()
            .procs
            .get_mut(&me)
            .map(|p| std::mem::take(&mut p.pending))
            .unwrap_or_default()
    }

    pub fn fd(&self, n: usize) -> Fd {
        self.fds.get(n).cloned().unwrap_or(Fd::Closed)
    }

    /// Write to a descriptor; a pipe with no reader kills the writer (SIGPIPE).
    pub fn write(&mut self, n: usize, mut b: &[u8]) -> Result<(), Flow> {
        match self.fd(n) {
            Fd::Tty(t) => self.w().emit(t, b),
            Fd::Closed | Fd::Null | Fd::PipeR(_) => Ok(()),
            Fd::File(path) => {
                let w = self.w();
                if w.fs.write_file(&path, "/", b, true).is_ok() {
                    // a write changes the file's modification time
                    let now = w.clock_ms / 1000;
                    w.fs.set_mtime(&path, now);
                    if w.account_write(&path, b.len()) {
                        // tmpfs pages are memory of the cgroup
                        return self.charge();
                    }
                }
                Ok(())
            }
            Fd::PipeW(i) => {
                while !b.is_empty() {
                    let w = self.w();
                    let pipe = &mut w.pipes[i];
                    if pipe.readers == 0 {
                        return Err(Flow::Killed(128 + 13));
                    }
                    let room = pipe.cap.saturating_sub(pipe.buf.len());
                    if room == 0 {
                        self.block(Why::PipeWrite(i))?;
                        continue;
                    }
                    let k = room.min(b.len());
                    pipe.buf.extend(&b[..k]);
                    b = &b[k..];
                    w.wake(St::Block(Why::PipeRead(i)));
                }
                Ok(())
            }
        }
    }

    pub fn out(&mut self, s: impl AsRef<[u8]>) -> Result<(), Flow> {
        self.write(1, s.as_ref())
    }

    pub fn err(&mut self, s: impl AsRef<[u8]>) -> Result<(), Flow> {
        self.write(2, s.as_ref())
    }

    /// Read up to `max` bytes; empty at end of file.
    pub fn read(&mut self, n: usize, max: usize) -> Result<Vec<u8>, Flow> {
        let i = match self.fd(n) {
            Fd::PipeR(i) => i,
            Fd::Tty(0) => return self.read_stdin(max),
            _ => return Ok(Vec::new()),
        };
        loop {
            let w = self.w();
            let pipe = &mut w.pipes[i];
            if !pipe.buf.is_empty() {
                let k = max.min(pipe.buf.len());
                let data: Vec<u8> = pipe.buf.drain(..k).collect();
                w.wake(St::Block(Why::PipeWrite(i)));
                return Ok(data);
            }
            if pipe.writers == 0 {
                return Ok(Vec::new());
            }
            self.block(Why::PipeRead(i))?;
        }
    }

    /// read(2) on the container's stdin: what is due (one line at most on
    /// a terminal), end of file once closed, else wait for input. A trapped
    /// signal cuts the wait short: `Flow::Killed(128+N)` for its handler.
    fn read_stdin(&mut self, max: usize) -> Result<Vec<u8>, Flow> {
        loop {
            let w = self.w();
            let tty = w.stdin.tty;
            let st = &mut w.stdin;
            if !st.ready.is_empty() {
                let mut k = max.min(st.ready.len());
                if tty {
                    if let Some(nl) = st.ready.iter().position(|&c| c == b'\n') {
                        k = k.min(nl + 1);
                    }
                }
                return Ok(st.ready.drain(..k).collect());
            }
            if st.eofs > 0 {
                st.eofs -= 1;
                return Ok(Vec::new());
            }
            if st.closed {
                return Ok(Vec::new());
            }
            let me = self.pid;
            if let Some(p) = self.w().procs.get_mut(&me) {
                p.state = St::Block(Why::Stdin);
                p.interrupted = false;
            }
            self.yield_turn();
            self.check()?;
            if let Some(sig) = self.take_interrupt() {
                return Err(Flow::Killed(128 + sig));
            }
        }
    }

    pub fn read_all(&mut self, n: usize) -> Result<Vec<u8>, Flow> {
        let mut all = Vec::new();
        loop {
            let b = self.read(n, PIPE_CAP)?;
            if b.is_empty() {
                return Ok(all);
            }
            all.extend(b);
        }
    }

    /// [`read_all`](Self::read_all) by a program that keeps what it read
    /// (`sort`, a `$(...)`): the memory is charged as it grows.
    pub fn read_all_held(&mut self, n: usize) -> Result<Vec<u8>, Flow> {
        let mut all = Vec::new();
        loop {
            let b = self.read(n, PIPE_CAP)?;
            if b.is_empty() {
                return Ok(all);
            }
            all.extend(b);
            self.hold(all.len() as u64)?;
        }
    }

    /// One line (with its newline, if any); None at end of file.
    pub fn read_line(&mut self, n: usize) -> Result<Option<Vec<u8>>, Flow> {
        let mut line = Vec::new();
        loop {
            let b = self.read(n, 1)?;
            match b.first() {
                None if line.is_empty() => return Ok(None),
                None => return Ok(Some(line)),
                Some(&c) => {
                    line.push(c);
                    if c == b'\n' {
                        return Ok(Some(line));
                    }
                }
            }
        }
    }

    /// Copy a descriptor table, counting the new references to its pipes.
    pub fn dup_fds(&mut self, fds: &[Fd]) -> Vec<Fd> {
        for fd in fds {
            self.w().retain(fd);
        }
        fds.to_vec()
    }

    pub fn close_fds(&mut self, fds: &[Fd]) {
        for fd in fds {
            self.w().release(fd);
        }
    }

    /// Replace descriptor `n`, closing what it was.
    pub fn set_fd(&mut self, n: usize, fd: Fd) {
        if self.fds.len() <= n {
            self.fds.resize(n + 1, Fd::Closed);
        }
        let old = std::mem::replace(&mut self.fds[n], fd);
        self.w().release(&old);
    }
}

/// Start the first thread's turn (called once, before any thread runs).
pub fn give_first_turn(shared: &Shared) {
    let mut g = shared.m.lock().unwrap_or_else(|e| e.into_inner());
    g.schedule();
    shared.cv.notify_all();
}

/// Wait (on the calling, non-simulated thread) until every thread ended.
pub fn wait_all(shared: &Shared) {
    let g = shared.m.lock().unwrap_or_else(|e| e.into_inner());
    let _g = shared
        .cv
        .wait_while(g, |w| w.live_threads > 0)
        .unwrap_or_else(|e| e.into_inner());
}
