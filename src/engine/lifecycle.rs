//! `stop`, `kill`, `wait`: signals to a container's first process, by PID
//! (checked against its start time, so a reused PID is never hit), and
//! waiting for its supervisor to record the end. Signals and waits are
//! kernel steps (`Step::Signal`, `Step::WaitExit`), narrated as they happen;
//! stop and kill hold the container's lock (`ContainerLock`).

use super::{apply_step, store_step};
use crate::container::{self, Container, ContainerLock, Status};
use crate::error::EXIT_ENGINE;
use crate::kernel::{Go, Kernel, StepObserver};
use crate::step::Step;
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

/// What became of a process after `signal_and_wait`.
pub enum Signalled {
    /// It is gone.
    Gone,
    /// It outlived the wait.
    StillRunning,
    /// Step-through aborted before this step.
    Aborted(&'static str),
}

/// Send `signal` ("SIGTERM") to the container's process, by PID checked
/// against its start time (a kernel step), without waiting.
pub fn send_signal(
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: &Container,
    signal: &str,
) -> Result<Go> {
    apply_step(
        kernel,
        observer,
        &Step::Signal {
            pid: c.state.pid,
            pid_start: c.state.pid_start,
            signal: signal.to_string(),
        },
    )
}

/// Send `signal`, then wait up to `timeout_s` for the process to be gone
/// (both kernel steps, narrated before they happen).
pub fn signal_and_wait(
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: &Container,
    signal: &str,
    timeout_s: u64,
) -> Result<Signalled> {
    if send_signal(kernel, observer, c, signal)? == Go::Abort {
        return Ok(Signalled::Aborted("signal"));
    }
    let wait = Step::WaitExit {
        pid: c.state.pid,
        pid_start: c.state.pid_start,
        timeout_s,
    };
    if apply_step(kernel, observer, &wait)? == Go::Abort {
        return Ok(Signalled::Aborted("wait_exit"));
    }
    Ok(if kernel.process_alive(c.state.pid, c.state.pid_start) {
        Signalled::StillRunning
    } else {
        Signalled::Gone
    })
}

/// The record-write step that sets `status` (and `extra` fields, JSON values).
pub fn status_step(root: &Path, c: &Container, status: Status, extra: &[(&str, String)]) -> Step {
    let mut fields = vec![("status".to_string(), format!("\"{}\"", status.as_str()))];
    fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Step::RecordWrite {
        record: c.record_file(root),
        fields,
    }
}

/// Change the recorded state under the store lock; `No such container`
/// when its record is gone (never re-created).
pub fn write_state(
    root: &Path,
    id: &str,
    change: impl FnOnce(&mut container::State),
) -> Result<()> {
    let _lock = crate::fsutil::StoreLock::exclusive(root)?;
    let Ok(mut c) = Container::load(root, id) else {
        return Err(container::gone(id));
    };
    change(&mut c.state);
    c.save_locked(root)
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
/// the exit ourselves with the code we know (137 after our SIGKILL),
/// narrated as a record write.
fn record_unmonitored(
    root: &Path,
    observer: &mut dyn StepObserver,
    id: &str,
    code: i32,
) -> Result<()> {
    let Ok(c) = Container::load(root, id) else {
        return Ok(());
    };
    // The simulated host records the end itself, with the program's own
    // exit status, the next time the record is read (`container::refresh`).
    if c.simulated {
        return Ok(());
    }
    if !(c.state.status == Status::Running && !c.process_alive() && !c.monitor_alive()) {
        return Ok(());
    }
    // The OOM killer may have struck before our signal: its count goes
    // with the cgroup, so it is read (and told) before the cgroup is removed.
    let oom = container::orphan_oom_counter(&c.id);
    if let Some((counter, kills)) = oom.clone() {
        let _ = observer.before(&Step::OomKilled { counter, kills });
    }
    let finished = container::now_rfc3339();
    let mut fields = vec![
        ("pid", "0".to_string()),
        ("exit_code", code.to_string()),
        ("finished_at", format!("\"{finished}\"")),
    ];
    if oom.is_some() {
        fields.push(("oom_killed", "true".into()));
    }
    let step = status_step(root, &c, Status::Exited, &fields);
    store_step(observer, &step, || {
        let _lock = crate::fsutil::StoreLock::exclusive(root)?;
        let Ok(mut c) = Container::load(root, id) else {
            return Ok(());
        };
        if c.state.status == Status::Running && !c.process_alive() && !c.monitor_alive() {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.exit_code = Some(code);
            c.state.finished_at = Some(finished.clone());
            c.state.oom_killed = oom.is_some();
            c.save_locked(root)?;
            if oom.is_some() {
                container::events::record(root, "oom", &c, &[]);
            }
            container::remove_orphan_cgroup(&c.id);
        }
        Ok(())
    })?;
    Ok(())
}

/// Note in the record that the user stopped the container, before any
/// signal: its monitor must not restart it under its restart policy. A
/// container between two runs (`restarting`) is simply marked exited: its
/// monitor sees that after its back-off and leaves. Returns the container as
/// recorded after the write.
fn mark_stopped(root: &Path, observer: &mut dyn StepObserver, c: &Container) -> Result<Container> {
    let was_restarting = c.state.status == Status::Restarting;
    let step = Step::RecordWrite {
        record: c.record_file(root),
        fields: if was_restarting {
            vec![
                ("status".into(), "\"exited\"".into()),
                ("manually_stopped".into(), "true".into()),
            ]
        } else {
            vec![("manually_stopped".into(), "true".into())]
        },
    };
    if store_step(observer, &step, || {
        write_state(root, &c.id, |s| {
            s.manually_stopped = true;
            if s.status == Status::Restarting {
                s.status = Status::Exited;
            }
        })
    })? == Go::Abort
    {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step record_write; container {} was not stopped",
            c.name
        );
    }
    Container::load(root, &c.id).map_err(|_| container::gone(&c.name))
}

/// Find the container and take its lock; None when it was removed after
/// `find` saw it (a foreground --rm container that just ended).
fn find_locked(root: &Path, key: &str) -> Result<Option<(Container, ContainerLock)>> {
    let found = container::find(root, key)?;
    let lock = match ContainerLock::take(root, &found) {
        Ok(lock) => lock,
        Err(e) if container::is_gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    match container::load_fresh(root, &found.id) {
        Ok(c) => Ok(Some((c, lock))),
        Err(_) => Ok(None),
    }
}

/// docker stop: SIGTERM, then SIGKILL after `timeout`; returns the container
/// as recorded (None: it ended and was removed meanwhile, as --rm does).
pub fn stop(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
    timeout: Duration,
) -> Result<Option<Container>> {
    let Some((c, _lock)) = find_locked(root, key)? else {
        return Ok(None);
    };
    if c.state.status == Status::Restarting {
        let stopped = mark_stopped(root, observer, &c)?;
        container::events::record(root, "stop", &stopped, &[]);
        return Ok(Some(stopped));
    }
    if !c.is_running() {
        return Ok(Some(c));
    }
    super::resources::thaw_for_signal(root, kernel, observer, &c)?;
    mark_stopped(root, observer, &c)?;
    container::events::record(root, "kill", &c, &[("signal", "15".into())]);
    let aborted = |kind: &str| -> anyhow::Error {
        anyhow::Error::new(crate::error::ExitError::new(
            EXIT_ENGINE,
            format!(
                "aborted before step {kind}; container {} keeps running",
                c.name
            ),
        ))
    };
    let mut code = 143;
    match signal_and_wait(kernel, observer, &c, "SIGTERM", timeout.as_secs())? {
        Signalled::Aborted(kind) => return Err(aborted(kind)),
        Signalled::Gone => {}
        Signalled::StillRunning => {
            code = 137;
            match signal_and_wait(kernel, observer, &c, "SIGKILL", 10)? {
                Signalled::Aborted(kind) => return Err(aborted(kind)),
                Signalled::Gone => {}
                Signalled::StillRunning => crate::exit_err!(
                    EXIT_ENGINE,
                    "cannot stop container {}: its process {} survived SIGKILL",
                    c.name,
                    c.state.pid
                ),
            }
        }
    }
    record_unmonitored(root, observer, &c.id, code)?;
    let done = wait_recorded(root, &c.id, Some(Duration::from_secs(10))).ok();
    container::events::record(root, "stop", &c, &[]);
    // None: --rm, its supervisor removed it once it stopped; stopped it is.
    Ok(done)
}

/// docker kill: send a signal (default SIGKILL) to a running container.
/// Ok even when it ended (and was removed) while the signal was on its way.
pub fn kill(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
    sig: Signal,
) -> Result<()> {
    let Some((c, _lock)) = find_locked(root, key)? else {
        return Ok(());
    };
    if !c.is_running() {
        crate::exit_err!(
            1,
            "cannot kill container: {key}: container {} is not running",
            c.id
        );
    }
    super::resources::thaw_for_signal(root, kernel, observer, &c)?;
    mark_stopped(root, observer, &c)?;
    container::events::record(root, "kill", &c, &[("signal", (sig as i32).to_string())]);
    let aborted = |kind: &str| {
        crate::error::ExitError::new(
            EXIT_ENGINE,
            format!("aborted before step {kind}; no signal was sent"),
        )
    };
    if sig != Signal::SIGKILL {
        if send_signal(kernel, observer, &c, sig.as_str())? == Go::Abort {
            return Err(aborted("signal").into());
        }
        return Ok(());
    }
    match signal_and_wait(kernel, observer, &c, sig.as_str(), 10)? {
        Signalled::Aborted(kind) => Err(aborted(kind).into()),
        Signalled::StillRunning => Ok(()),
        Signalled::Gone => {
            record_unmonitored(root, observer, &c.id, 137)?;
            // (absent when --rm removed it: killed it is)
            let _ = wait_recorded(root, &c.id, Some(Duration::from_secs(10)));
            Ok(())
        }
    }
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
