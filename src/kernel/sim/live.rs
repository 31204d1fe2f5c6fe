//! The user's terminal connected to a simulated process (`run -it`,
//! `run -i`, `attach`, `start -ai`, `exec -it`).
//!
//! A simulated process is recomputed from its program and its timed
//! events (see `host`), so being attached is a loop: read what the user
//! typed from glassbox's own stdin (never any other terminal or file), add
//! it to the process's input at the simulated time it came, recompute the
//! process up to now and print the output the user has not seen yet. The
//! detach keys are matched before anything reaches the program, with the
//! same `DetachMatcher` a real attach uses. When the program only sleeps,
//! the simulated clock jumps to its wake-up, as a foreground simulated run
//! does, rather than waiting for real.

use super::shell::{Outcome, Trace};
use crate::container::attach::DetachMatcher;
use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// How often a session waiting for input looks whether another command changed its process.
const RECHECK_MS: u64 = 250;

/// A simulated process a terminal can drive.
pub trait Session {
    /// The process recomputed up to `now_ms` with all input so far.
    fn replay(&mut self, now_ms: u64) -> Result<Trace>;
    /// Bytes for its stdin, arriving at `at_ms`.
    fn input(&mut self, at_ms: u64, bytes: &[u8]) -> Result<()>;
    /// Its stdin closes at `at_ms`.
    fn close_input(&mut self, at_ms: u64) -> Result<()>;
}

/// How the user is connected.
pub struct Terminal {
    /// Send the user's stdin (`-i`, and not `attach --no-stdin`).
    pub stdin: bool,
    /// The detach keys, matched only with a terminal (`-t`); empty: none.
    pub detach_keys: Vec<u8>,
    /// Show only output from now on (`attach` to a process that already ran).
    pub skip_past_output: bool,
}

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The program ended: its status and when (ms since the epoch).
    Exited { code: i32, at_ms: u64 },
    /// The user typed the detach keys: it goes on running.
    Detached,
}

fn write_fd(fd: i32, data: &[u8]) {
    let mut f = std::mem::ManuallyDrop::new(unsafe {
        // SAFETY: fds 1 and 2 stay open; ManuallyDrop never closes them.
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    let _ = f.write_all(data);
    let _ = f.flush();
}

/// Print the part of the run's output beyond the first `shown` bytes.
fn show_new(trace: &Trace, shown: &mut usize) {
    let mut at = 0usize;
    for (fd, _, bytes) in &trace.out {
        let end = at + bytes.len();
        if end > *shown {
            let skip = shown.saturating_sub(at);
            write_fd(if *fd == 2 { 2 } else { 1 }, &bytes[skip..]);
            *shown = end;
        }
        at = end;
    }
}

fn output_len(trace: &Trace) -> usize {
    trace.out.iter().map(|(_, _, b)| b.len()).sum()
}

/// Wait for the user's stdin up to `timeout_ms`; true when readable.
fn stdin_ready(timeout_ms: Option<u64>) -> Result<bool> {
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let timeout = match timeout_ms {
        None => PollTimeout::NONE,
        Some(ms) => PollTimeout::try_from(ms.min(60_000) as u16).unwrap_or(PollTimeout::ZERO),
    };
    loop {
        let mut fds = [PollFd::new(stdin, PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll stdin"),
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
        }
    }
}

/// Drive `session` from the user's terminal until its program ends or the
/// user detaches. `root` is the simulated store (its clock).
pub fn attach(root: &Path, session: &mut dyn Session, term: &Terminal) -> Result<End> {
    let mut matcher = DetachMatcher::new(term.detach_keys.clone());
    let mut stdin_open = term.stdin;
    let mut shown = 0usize;
    let mut first = true;
    let mut chunk = vec![0u8; 4096];
    loop {
        let now = crate::clock::now_ms();
        let trace = session.replay(now)?;
        if first && term.skip_past_output {
            shown = output_len(&trace);
        }
        first = false;
        show_new(&trace, &mut shown);
        if let Outcome::Exited(code) = trace.outcome {
            super::host::advance_clock(root, trace.end_ms)?;
            return Ok(End::Exited {
                code,
                at_ms: trace.end_ms,
            });
        }
        // It sleeps or works: let its time pass unless the user types. When
        // it waits for input, look again now and then: another command
        // (stop, kill, exec) may change it meanwhile.
        let wait = match trace.next_event {
            Some(_) => 0,
            None => RECHECK_MS,
        };
        if !stdin_open {
            match trace.next_event {
                Some(t) => super::host::advance_clock(root, t)?,
                None => std::thread::sleep(std::time::Duration::from_millis(RECHECK_MS)),
            }
            continue;
        }
        if !stdin_ready(Some(wait))? {
            if let Some(t) = trace.next_event {
                super::host::advance_clock(root, t)?;
            }
            continue;
        }
        match nix::unistd::read(0, &mut chunk) {
            Ok(0) | Err(nix::errno::Errno::EIO) => {
                stdin_open = false;
                session.close_input(super::host::after(crate::clock::now_ms()))?;
            }
            Ok(n) => {
                let (pass, detached) = matcher.feed(&chunk[..n]);
                if !pass.is_empty() {
                    session.input(super::host::after(crate::clock::now_ms()), &pass)?;
                }
                if detached {
                    return Ok(End::Detached);
                }
            }
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(_) => {
                stdin_open = false;
                session.close_input(super::host::after(crate::clock::now_ms()))?;
            }
        }
    }
}

/// A process on the simulated host (a container's first process): its
/// input is kept with it, so later commands replay what the user typed.
pub struct HostProcess<'a> {
    pub root: &'a Path,
    pub pid: i32,
}

impl Session for HostProcess<'_> {
    fn replay(&mut self, now_ms: u64) -> Result<Trace> {
        match super::host::replay_pid(self.root, self.pid, now_ms)? {
            Some((trace, _)) => Ok(trace),
            None => anyhow::bail!("process {} is no longer on the simulated host", self.pid),
        }
    }

    fn input(&mut self, at_ms: u64, bytes: &[u8]) -> Result<()> {
        super::host::send_input(self.root, self.pid, at_ms, bytes)
    }

    fn close_input(&mut self, at_ms: u64) -> Result<()> {
        super::host::close_input(self.root, self.pid, at_ms)
    }
}
