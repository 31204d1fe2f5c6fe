//! Signals and waits on a container's process, by PID checked against the
//! start time recorded for it, so a PID the kernel reused is never touched.

use crate::container::pid_alive;
use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// Send `signal` ("SIGTERM") to `pid` if it is still the recorded process;
/// a process already gone is not an error (there is nothing left to signal).
pub fn signal(pid: i32, pid_start: u64, signal: &str) -> Result<()> {
    let sig: Signal = signal
        .parse()
        .with_context(|| format!("unknown signal {signal}"))?;
    if !pid_alive(pid, pid_start) {
        return Ok(());
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("send {signal} to process {pid}")),
    }
}

/// Wait up to `timeout_s` seconds for the process to be gone (the caller
/// checks whether it is).
pub fn wait_exit(pid: i32, pid_start: u64, timeout_s: u64) {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let mut pause = Duration::from_millis(2);
    while pid_alive(pid, pid_start) && Instant::now() < deadline {
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
