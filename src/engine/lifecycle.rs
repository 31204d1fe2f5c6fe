//! `stop`, `kill`, `wait`: signals to a container's first process, by PID
//! (checked against its start time, so a reused PID is never hit), and
//! waiting for its supervisor to record the end.

use crate::container::{self, Container, Status};
use crate::error::EXIT_ENGINE;
use anyhow::Result;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

/// A signal by name (`KILL`, `SIGKILL`, `kill`) or number (`9`).
pub fn parse_signal(s: &str) -> Result<Signal> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| {
            anyhow::Error::new(crate::error::ExitError::new(
                EXIT_ENGINE,
                format!("invalid signal: {s}"),
            ))
        });
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| {
        anyhow::Error::new(crate::error::ExitError::new(
            EXIT_ENGINE,
            format!("invalid signal: {s}"),
        ))
    })
}

fn send(c: &Container, sig: Signal) -> bool {
    // Check right before sending that the PID is still the container's.
    c.process_alive()
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.state.pid), sig).is_ok()
}

/// Wait until the process is gone; false on timeout.
fn wait_gone(c: &Container, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    while c.process_alive() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    true
}

/// Wait until the record no longer says running (the supervisor wrote the
/// exit, or `container::refresh` found that nobody will); returns it.
pub fn wait_recorded(root: &Path, id: &str, timeout: Option<Duration>) -> Result<Container> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut pause = Duration::from_millis(2);
    loop {
        let c = container::load_fresh(root, id)?;
        if c.state.status != Status::Running {
            return Ok(c);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(c);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// When the process is gone and no supervisor is left to record it, record
/// the exit ourselves with the code we know (137 after our SIGKILL).
fn record_unmonitored(root: &Path, id: &str, code: i32) -> Result<()> {
    let _lock = crate::fsutil::StoreLock::exclusive(root)?;
    let Ok(mut c) = Container::load(root, id) else {
        return Ok(());
    };
    if c.state.status == Status::Running && !c.process_alive() && !c.monitor_alive() {
        c.state.status = Status::Exited;
        c.state.pid = 0;
        c.state.exit_code = Some(code);
        c.state.finished_at = Some(container::now_rfc3339());
        c.save_locked(root)?;
        container::remove_orphan_cgroup(&c.id);
    }
    Ok(())
}

/// Note in the record that the user stopped the container, before any
/// signal: its monitor must not restart it under its restart policy. A
/// container between two runs (`restarting`) is simply marked exited: its
/// monitor sees that after its back-off and leaves.
fn mark_stopped(root: &Path, id: &str) -> Result<Option<Container>> {
    let _lock = crate::fsutil::StoreLock::exclusive(root)?;
    let Ok(mut c) = Container::load(root, id) else {
        return Ok(None);
    };
    c.state.manually_stopped = true;
    let was_restarting = c.state.status == Status::Restarting;
    if was_restarting {
        c.state.status = Status::Exited;
    }
    c.save_locked(root)?;
    Ok(was_restarting.then_some(c))
}

/// docker stop: SIGTERM, then SIGKILL after `timeout`; returns the container as recorded.
pub fn stop(root: &Path, key: &str, timeout: Duration) -> Result<Container> {
    let c = container::find(root, key)?;
    if c.state.status == Status::Restarting && !c.simulated {
        if let Some(stopped) = mark_stopped(root, &c.id)? {
            container::events::record(root, "stop", &stopped, &[]);
            return Ok(stopped);
        }
    }
    if !c.is_running() {
        return Ok(c);
    }
    if c.simulated {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} is simulated: it has no process to stop",
            c.name
        );
    }
    mark_stopped(root, &c.id)?;
    container::events::record(root, "kill", &c, &[("signal", "15".into())]);
    send(&c, Signal::SIGTERM);
    let mut code = 143;
    if !wait_gone(&c, timeout) {
        send(&c, Signal::SIGKILL);
        code = 137;
        if !wait_gone(&c, Duration::from_secs(10)) {
            crate::exit_err!(
                EXIT_ENGINE,
                "cannot stop container {}: its process {} survived SIGKILL",
                c.name,
                c.state.pid
            );
        }
    }
    record_unmonitored(root, &c.id, code)?;
    let done = match wait_recorded(root, &c.id, Some(Duration::from_secs(10))) {
        // --rm: its monitor removed it once it stopped; stopped it is.
        Err(_) if !c.dir(root).join("container.json").exists() => {
            let mut gone = c.clone();
            gone.state.status = Status::Exited;
            gone.state.pid = 0;
            Ok(gone)
        }
        other => other,
    };
    container::events::record(root, "stop", &c, &[]);
    done
}

/// docker kill: send a signal (default SIGKILL) to a running container.
pub fn kill(root: &Path, key: &str, sig: Signal) -> Result<Container> {
    let c = container::find(root, key)?;
    if !c.is_running() || c.simulated {
        crate::exit_err!(
            1,
            "cannot kill container: {key}: container {} is not running",
            c.id
        );
    }
    mark_stopped(root, &c.id)?;
    container::events::record(root, "kill", &c, &[("signal", (sig as i32).to_string())]);
    if !send(&c, sig) {
        crate::exit_err!(
            1,
            "cannot kill container: {key}: container {} is not running",
            c.id
        );
    }
    if sig == Signal::SIGKILL && wait_gone(&c, Duration::from_secs(10)) {
        record_unmonitored(root, &c.id, 137)?;
        return wait_recorded(root, &c.id, Some(Duration::from_secs(10)));
    }
    Ok(c)
}

/// docker wait: block until the container is not running; returns its exit code.
pub fn wait(root: &Path, key: &str) -> Result<i32> {
    let c = container::find(root, key)?;
    match wait_recorded(root, &c.id, None) {
        Ok(c) => Ok(c.state.exit_code.unwrap_or(0)),
        Err(_) if !c.dir(root).exists() => crate::exit_err!(
            1,
            "container {} was removed (--rm) before its exit code could be read",
            c.name
        ),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("HUP").unwrap(), Signal::SIGHUP);
        assert!(parse_signal("NOPE").is_err());
    }
}
