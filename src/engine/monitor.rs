//! Detached containers (`run -d`, `start`): a small monitor per container, as
//! conmon is for podman. No daemon: the CLI forks the monitor and waits only
//! until the container runs; the monitor lives exactly as long as the container.
//!
//! ```text
//!  glassbox run -d ──fork──► monitor (setsid, stdin=/dev/null)
//!       │   ◄── "R" or "E code message" ──┤  engine::start in log mode:
//!   prints the id, exits                 │    clone → container (stdout/stderr: pipes or PTY)
//!                                        │    relay them to <id>-json.log
//!                                        │    wait → record exit code, --rm clean-up
//!                                        └─ exits with the container
//! ```
//!
//! The monitor runs the very same `engine::start` as a foreground run; only
//! the container's streams differ. Its PID is recorded in the state, so a
//! monitor killed with SIGKILL is noticed (see `container::refresh`).

use super::apply_step;
use super::run::{start, StartOptions};
use crate::container::{Container, Status};
use crate::error::{ExitError, EXIT_ENGINE};
use crate::kernel::{Go, Kernel, StepObserver};
use crate::step::Step;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

pub(crate) fn redirect_to_null(fds: &[i32], write: bool) {
    let flags = if write {
        nix::fcntl::OFlag::O_WRONLY
    } else {
        nix::fcntl::OFlag::O_RDONLY
    };
    if let Ok(null) = nix::fcntl::open("/dev/null", flags, nix::sys::stat::Mode::empty()) {
        for &fd in fds {
            let _ = nix::unistd::dup2(null, fd);
        }
        if !fds.contains(&null) {
            let _ = nix::unistd::close(null);
        }
    }
}

/// Mark every inherited descriptor above 2 close-on-exec: the monitor may
/// still use its own (a --trace-json file), but the container must not keep
/// whatever its caller left open (a shell's pipe, make's jobserver), or a
/// caller waiting for end-of-file would wait for the container.
pub(crate) fn cloexec_inherited() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // (the directory's own descriptor is stale by now: that just fails)
        crate::kernel::linux::handover::set_cloexec(fd, true);
    }
}

/// Run `body` in a new process that init adopts (fork, fork, the middle one
/// exits), as the monitor is; `body` gets the write end of a report pipe and
/// writes `R` once it is under way or `E <code> <message>` if it failed. The
/// caller returns with that outcome; `body`'s return value is the process's
/// exit status. `what` names the process in an error.
pub(crate) fn fork_detached(what: &str, body: impl FnOnce(std::fs::File) -> i32) -> Result<()> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe to the detached process")?;
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let _ = std::io::Write::flush(&mut std::io::stderr());
    // SAFETY: glassbox is single-threaded, so the forked copy is consistent.
    match unsafe { nix::unistd::fork() }.with_context(|| format!("fork {what}"))? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            // SAFETY: still single-threaded.
            match unsafe { nix::unistd::fork() } {
                Ok(nix::unistd::ForkResult::Child) => {
                    let code = body(std::fs::File::from(write));
                    std::process::exit(code);
                }
                // SAFETY: leave without running destructors or flushing copies.
                _ => unsafe { libc::_exit(0) },
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut line = String::new();
            BufReader::new(std::fs::File::from(read))
                .read_line(&mut line)
                .with_context(|| format!("read from {what}"))?;
            let line = line.trim_end();
            if line == "R" {
                return Ok(());
            }
            if let Some(rest) = line.strip_prefix("E ") {
                let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
                return Err(anyhow::Error::new(ExitError::new(
                    code.parse().unwrap_or(EXIT_ENGINE),
                    message.to_string(),
                )));
            }
            crate::exit_err!(EXIT_ENGINE, "{what} exited before it started")
        }
    }
}

/// Start `c` under a new monitor process; returns once its program runs, or
/// with the error (and docker's exit code: 125, 126, 127) if it could not start.
pub fn start_detached(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: Container,
) -> Result<()> {
    spawn_monitor(root, kernel, observer, c, false)
}

/// As `start_detached`, for a client about to attach (foreground `run -it`):
/// the monitor holds the container's output until it is attached.
pub fn start_for_attach(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: Container,
) -> Result<()> {
    spawn_monitor(root, kernel, observer, c, true)
}

fn spawn_monitor(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: Container,
    attach_wait: bool,
) -> Result<()> {
    if kernel.is_simulated() {
        return simulated_monitor(root, kernel, observer, c);
    }
    // The monitor leaves the CLI's working directory (so it pins no mount), so
    // it needs the store's absolute path.
    let root = &std::fs::canonicalize(root)
        .with_context(|| format!("find the store at {}", root.display()))?;
    let fork_step = Step::MonitorFork {
        container: c.id.clone(),
        cli_pid: std::process::id() as i32,
    };
    if apply_step(kernel, observer, &fork_step)? == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step monitor_fork; container {} was not started",
            c.short_id()
        );
    }
    let what = format!("the monitor of container {}", c.short_id());
    fork_detached(&what, |report| {
        monitor(root, kernel, observer, c, report, attach_wait)
    })
}

/// A detached start on the simulated host: the same steps a monitor takes
/// (fork, setsid, log pipe, ..., wait), taken by this command, after which
/// the simulated host keeps the program running (`kernel::sim::host`).
fn simulated_monitor(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: Container,
) -> Result<()> {
    for step in [
        Step::MonitorFork {
            container: c.id.clone(),
            cli_pid: std::process::id() as i32,
        },
        Step::SetSid {
            container: c.id.clone(),
        },
    ] {
        if apply_step(kernel, observer, &step)? == Go::Abort {
            crate::exit_err!(
                EXIT_ENGINE,
                "aborted before step {}; container {} was not started",
                step.kind(),
                c.short_id()
            );
        }
    }
    // A user's start: the count of policy restarts begins again (as the real monitor does).
    let mut c = c;
    if c.state.restart_count != 0 {
        let _lock = crate::fsutil::StoreLock::exclusive(root)?;
        if let Ok(mut disk) = Container::load(root, &c.id) {
            disk.state.restart_count = 0;
            disk.save_locked(root)?;
        }
        c.state.restart_count = 0;
    }
    let exit = exit_command(root, &c.id, crate::clock::now_ms(), RESTART_DELAY);
    start(
        root,
        kernel,
        observer,
        c,
        StartOptions {
            detached: true,
            fresh: false,
            stdin: None,
            on_running: None,
            attach_wait: false,
            restart_policy: true,
            policy_restart: false,
            discard_output: false,
            exit_command: Some(exit),
        },
    )
    .map(|_| ())
}

/// The command glassbox-monitor runs once the container has ended (conmon's
/// `--exit-command`): this glassbox, back in the monitor's process, records
/// the end and cleans up (`resume`). `began_ms` and `delay` carry the
/// restart back-off across the execs; `start` adds what else must cross.
fn exit_command(root: &Path, id: &str, began_ms: u64, delay: Duration) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "glassbox".into());
    vec![
        exe,
        "--root".into(),
        root.display().to_string(),
        EXIT_COMMAND.into(),
        "--id".into(),
        id.to_string(),
        "--began-ms".into(),
        began_ms.to_string(),
        "--delay-ms".into(),
        delay.as_millis().to_string(),
    ]
}

/// The hidden subcommand of the exit command.
pub const EXIT_COMMAND: &str = "__monitor-exited";

/// The first restart waits this long; each quick failure doubles it (docker's back-off).
const RESTART_DELAY: Duration = Duration::from_millis(100);
const RESTART_DELAY_MAX: Duration = Duration::from_secs(60);
/// A run this long resets the back-off.
const RESTART_RESET: Duration = Duration::from_secs(10);

/// The monitor's whole life; returns its exit status (the container's).
///
/// With a restart policy it loops: `start` itself decides, under the store
/// lock, whether the record says `restarting` (policy allows it, no `stop`
/// or `kill` came from the user) or `exited`; the monitor waits out the
/// back-off, checks that nobody stopped or removed the container meanwhile,
/// counts the restart and starts it again.
fn monitor(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    mut c: Container,
    report: std::fs::File,
    attach_wait: bool,
) -> i32 {
    // Its own session: no terminal's hang-up or ctrl-C reaches it.
    let setsid = Step::SetSid {
        container: c.id.clone(),
    };
    match apply_step(kernel, observer, &setsid) {
        Ok(Go::Run) => {}
        other => {
            let mut report = report;
            let message = match other {
                Err(e) => format!("{e:#}").replace('\n', " "),
                _ => format!(
                    "aborted before step setsid; container {} was not started",
                    c.short_id()
                ),
            };
            let _ = writeln!(report, "E {EXIT_ENGINE} {message}");
            return EXIT_ENGINE;
        }
    }
    let _ = nix::unistd::setsid();
    // A vanished attach client or caller must be an EPIPE to handle, not a
    // signal that kills the monitor (main sets SIGPIPE back to the default).
    // SAFETY: setting a signal disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let _ = std::env::set_current_dir("/");
    redirect_to_null(&[0], false);
    cloexec_inherited();
    // A user's start: the count of policy restarts begins again.
    if c.state.restart_count != 0 {
        if let Ok(_lock) = crate::fsutil::StoreLock::exclusive(root) {
            if let Ok(mut disk) = Container::load(root, &c.id) {
                disk.state.restart_count = 0;
                let _ = disk.save_locked(root);
                c.state.restart_count = 0;
            }
        }
    }
    supervise(
        root,
        kernel,
        observer,
        c,
        Supervision {
            report: Some(report),
            running: false,
            attach_wait,
            delay: RESTART_DELAY,
        },
    )
}

/// What the monitor's loop carries from one run of its container to the next.
struct Supervision {
    /// The pipe to the CLI, until the first run has started.
    report: Option<std::fs::File>,
    /// The container's program ran at least once (the CLI has its answer).
    running: bool,
    /// The first run waits for an attach client (`run -it`).
    attach_wait: bool,
    /// The back-off before the next policy restart.
    delay: Duration,
}

/// Run the container, and again as its restart policy says; returns the
/// monitor's exit status (the container's). A run that hands over to
/// glassbox-monitor continues in `resume`, in the exit command.
fn supervise(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    mut c: Container,
    mut sv: Supervision,
) -> i32 {
    loop {
        let began_ms = crate::clock::now_ms();
        let first = sv.report.is_some();
        let running = std::cell::Cell::new(sv.running);
        let mut report = sv.report.take();
        let mut on_running = |_: &Container| {
            if let Some(mut r) = report.take() {
                let _ = r.write_all(b"R\n");
            }
            if !running.get() {
                running.set(true);
                // Narration (if any) went to the CLI's streams until now; let them close.
                let _ = std::io::Write::flush(&mut std::io::stdout());
                let _ = std::io::Write::flush(&mut std::io::stderr());
                redirect_to_null(&[1, 2], true);
            }
        };
        let result = start(
            root,
            kernel,
            observer,
            c.clone(),
            StartOptions {
                detached: true,
                fresh: false,
                stdin: None,
                on_running: Some(&mut on_running),
                attach_wait: sv.attach_wait && first,
                restart_policy: true,
                policy_restart: !first,
                discard_output: false,
                exit_command: Some(exit_command(root, &c.id, began_ms, sv.delay)),
            },
        );
        sv.running = running.get();
        let code = match result {
            Ok(code) => code,
            Err(e) => {
                let code = crate::error::exit_code_of(&e);
                if !sv.running {
                    if let Some(r) = report.as_mut() {
                        let message = format!("{e:#}").replace('\n', " ");
                        let _ = writeln!(r, "E {code} {message}");
                    }
                    // A container that never ran is not restarted.
                    return code;
                }
                code
            }
        };
        match next_run(root, &c.id, began_ms, &mut sv.delay) {
            Some(next) => c = next,
            None => return code,
        }
    }
}

/// After a run has ended and its end is recorded: the container to start
/// again when the record says `restarting` (once the back-off is waited out
/// and nobody stopped or removed it meanwhile), counting the restart.
fn next_run(root: &Path, id: &str, began_ms: u64, delay: &mut Duration) -> Option<Container> {
    if crate::clock::now_ms().saturating_sub(began_ms) >= RESTART_RESET.as_millis() as u64 {
        *delay = RESTART_DELAY;
    }
    match Container::load(root, id) {
        Ok(now) if now.state.status == Status::Restarting => {}
        _ => return None,
    }
    std::thread::sleep(*delay);
    *delay = (*delay * 2).min(RESTART_DELAY_MAX);
    // Still wanted? `stop` or `rm -f` may have come during the back-off.
    let _lock = crate::fsutil::StoreLock::exclusive(root).ok()?;
    let mut now = Container::load(root, id).ok()?;
    if now.state.status != Status::Restarting || now.state.manually_stopped {
        return None;
    }
    now.state.restart_count += 1;
    now.save_locked(root).ok()?;
    Some(now)
}

/// What the exit command was told (`glassbox __monitor-exited`).
pub struct Exited {
    pub id: String,
    pub status: i32,
    pub began_ms: u64,
    pub delay_ms: u64,
    pub bridge: bool,
    pub ports: Vec<std::os::fd::OwnedFd>,
}

/// The exit command's work, in the monitor's process after glassbox-monitor:
/// record the end and clean up, then go on as the monitor (a policy
/// restart hands over again). Returns the monitor's exit status.
pub fn resume(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    exited: Exited,
) -> i32 {
    let code = match super::run::finish_handed_over(
        root,
        kernel,
        observer,
        &exited.id,
        exited.status,
        exited.bridge,
        exited.ports,
    ) {
        Ok(code) => code,
        Err(e) => {
            // To /dev/null from glassbox-monitor; to whoever typed it by hand.
            eprintln!("glassbox: {e:#}");
            crate::error::exit_code_of(&e)
        }
    };
    let mut delay = Duration::from_millis(exited.delay_ms);
    match next_run(root, &exited.id, exited.began_ms, &mut delay) {
        Some(c) => supervise(
            root,
            kernel,
            observer,
            c,
            Supervision {
                report: None,
                running: true,
                attach_wait: false,
                delay,
            },
        ),
        None => code,
    }
}
