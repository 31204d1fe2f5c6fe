//! `attach`: connect the user's terminal (or stdin/stdout/stderr) to a
//! container that its monitor runs, through the monitor's attach socket
//! (protocol in `container::attach`). A foreground `run -it` is the same
//! thing: `run` starts the container under a monitor and attaches, so the
//! detach keys (ctrl-p ctrl-q) can leave it running and `attach` can come
//! back to it.

use crate::container::attach::{self as proto, DetachMatcher};
use crate::container::{self, Container, Status};
use crate::kernel::{Go, StepObserver};
use crate::step::Step;
use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

#[derive(Clone, Debug)]
pub struct AttachOptions {
    /// Send the user's stdin to the container (it must have been started with -i).
    pub stdin: bool,
    /// The detach sequence (`container::attach::parse_detach_keys`); used with a terminal.
    pub detach_keys: Vec<u8>,
    /// The container was started by this same command (`run -it`, `start
    /// -ai`): show its output from the start (a real monitor holds it
    /// until the client is there), not only what comes after attaching.
    pub from_start: bool,
}

/// How an attach ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container exited with this status.
    Exited(i32),
    /// The user typed the detach keys: the container still runs.
    Detached,
}

static WINCH: AtomicBool = AtomicBool::new(false);
static PROXY_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::SeqCst);
}

extern "C" fn proxy(sig: libc::c_int) {
    let pid = PROXY_TO.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn winsize_frame() -> Option<Vec<u8>> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills the struct we own.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } != 0 || ws.ws_row == 0 {
        return None;
    }
    let mut p = ws.ws_row.to_be_bytes().to_vec();
    p.extend_from_slice(&ws.ws_col.to_be_bytes());
    Some(proto::frame(proto::RESIZE, &p))
}

fn write_out(fd: i32, data: &[u8]) {
    let mut f = std::mem::ManuallyDrop::new(unsafe {
        // SAFETY: fds 1 and 2 stay open; ManuallyDrop never closes them.
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    let _ = f.write_all(data);
    let _ = f.flush();
}

/// Attach to a running container; returns how it ended.
pub fn attach(
    root: &Path,
    c: &Container,
    opts: &AttachOptions,
    observer: &mut dyn StepObserver,
) -> Result<Ended> {
    if c.simulated {
        return attach_simulated(root, c, opts, observer);
    }
    if !c.is_running() {
        crate::exit_err!(
            1,
            "You cannot attach to a stopped container, start it first"
        );
    }
    let path = proto::socket_path(&c.dir(root));
    if !path.exists() {
        crate::exit_err!(
            1,
            "container {} runs in the foreground of another glassbox (not under a monitor): there is nothing to attach to",
            c.name
        );
    }
    let step = Step::AttachConnect {
        socket: path.clone(),
        detach_keys: keys_text(&opts.detach_keys),
    };
    if observer.before(&step)? == Go::Abort {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "aborted before step attach_connect; the container keeps running"
        );
    }
    let mut sock = proto::connect(&path)?;
    observer.after(&step);
    let tty = c.config.tty;
    let stdin_wanted = opts.stdin && c.config.interactive;
    // SAFETY: isatty on fd 0.
    let stdin_is_tty = unsafe { libc::isatty(0) } == 1;
    let _raw = (tty && stdin_wanted && stdin_is_tty).then(crate::kernel::linux::RawMode::enter);
    if tty {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(
                libc::SIGWINCH,
                on_winch as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
        if let Some(f) = winsize_frame() {
            let _ = sock.write_all(&f);
        }
    } else {
        // Without a terminal ctrl-C is a signal: pass it on, as docker's --sig-proxy.
        PROXY_TO.store(c.state.pid, Ordering::SeqCst);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            // SAFETY: installing a handler that only calls kill(2).
            unsafe {
                libc::signal(
                    sig,
                    proxy as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            };
        }
    }
    let mut matcher = DetachMatcher::new(if tty {
        opts.detach_keys.clone()
    } else {
        vec![]
    });
    let mut stdin_open = stdin_wanted;
    let mut inbuf = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    let mut exit: Option<i32> = None;
    'outer: loop {
        if WINCH.swap(false, Ordering::SeqCst) {
            if let Some(f) = winsize_frame() {
                let _ = sock.write_all(&f);
            }
        }
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
            Ok(_) => {}
        }
        let any = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        let sock_ready = fds[0]
            .revents()
            .unwrap_or(PollFlags::empty())
            .intersects(any);
        let stdin_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty())
            .intersects(any);
        drop(fds);
        if sock_ready {
            match sock.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            for (kind, data) in proto::take_frames(&mut inbuf)? {
                match kind {
                    proto::STDOUT => write_out(1, &data),
                    proto::STDERR => write_out(2, &data),
                    proto::EXIT if data.len() == 4 => {
                        exit = Some(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
                        break 'outer;
                    }
                    _ => {}
                }
            }
        }
        if stdin_ready {
            match nix::unistd::read(0, &mut chunk) {
                Ok(0) | Err(nix::errno::Errno::EIO) => {
                    stdin_open = false;
                    let _ = proto::write_frame(&mut sock, proto::STDIN_EOF, &[]);
                }
                Ok(n) => {
                    let (pass, detached) = matcher.feed(&chunk[..n]);
                    if !pass.is_empty()
                        && proto::write_frame(&mut sock, proto::STDIN, &pass).is_err()
                    {
                        stdin_open = false;
                    }
                    if detached {
                        PROXY_TO.store(0, Ordering::SeqCst);
                        return Ok(Ended::Detached);
                    }
                }
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
    PROXY_TO.store(0, Ordering::SeqCst);
    drop(_raw);
    // Let the monitor record the exit before the caller looks (ps, inspect).
    let recorded =
        super::lifecycle::wait_recorded(root, &c.id, Some(std::time::Duration::from_secs(5)));
    let code = match (exit, recorded) {
        (Some(code), _) => code,
        (None, Ok(now)) if now.state.status != Status::Running => now.state.exit_code.unwrap_or(0),
        (None, _) => 0,
    };
    Ok(Ended::Exited(code))
}

/// Attach to a container on the simulated host: the user's keys become
/// its program's input (kept with it, so later commands see their
/// effects), its new output is printed as it is recomputed.
fn attach_simulated(
    root: &Path,
    c: &Container,
    opts: &AttachOptions,
    observer: &mut dyn StepObserver,
) -> Result<Ended> {
    use crate::kernel::sim::live;
    let mut c = c.clone();
    container::refresh(root, &mut c)?;
    if c.state.status != Status::Running {
        crate::exit_err!(
            1,
            "You cannot attach to a stopped container, start it first"
        );
    }
    // The simulated monitor's socket, told as the real attach tells it
    // (as `run -d` tells the simulated monitor's own steps).
    let step = Step::AttachConnect {
        socket: proto::socket_path(&c.dir(root)),
        detach_keys: keys_text(&opts.detach_keys),
    };
    if observer.before(&step)? == Go::Abort {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "aborted before step attach_connect; the container keeps running"
        );
    }
    observer.after(&step);
    let tty = c.config.tty;
    let stdin_wanted = opts.stdin && c.config.interactive;
    // SAFETY: isatty on fd 0.
    let stdin_is_tty = unsafe { libc::isatty(0) } == 1;
    let raw = (tty && stdin_wanted && stdin_is_tty).then(crate::kernel::linux::RawMode::enter);
    let term = live::Terminal {
        stdin: stdin_wanted,
        detach_keys: if tty {
            opts.detach_keys.clone()
        } else {
            Vec::new()
        },
        skip_past_output: !opts.from_start,
    };
    let end = live::attach(
        root,
        &mut live::HostProcess {
            root,
            pid: c.state.pid,
        },
        &term,
    )?;
    drop(raw);
    match end {
        live::End::Detached => Ok(Ended::Detached),
        live::End::Exited { code, .. } => {
            // Record the end as its monitor would (or remove it for --rm).
            container::refresh(root, &mut c)?;
            Ok(Ended::Exited(code))
        }
    }
}

/// Attach by name or id (the `attach` command).
pub fn attach_to(
    root: &Path,
    key: &str,
    opts: &AttachOptions,
    observer: &mut dyn StepObserver,
) -> Result<Ended> {
    let c = container::find(root, key)?;
    attach(root, &c, opts, observer)
}

/// The detach keys as `--detach-keys` spells them (`ctrl-p,ctrl-q`).
fn keys_text(keys: &[u8]) -> String {
    keys.iter()
        .map(|&b| match b {
            1..=26 => format!("ctrl-{}", (b'a' + b - 1) as char),
            0 => "ctrl-@".to_string(),
            27 => "ctrl-[".to_string(),
            28 => "ctrl-\\".to_string(),
            29 => "ctrl-]".to_string(),
            30 => "ctrl-^".to_string(),
            31 => "ctrl-_".to_string(),
            _ => (b as char).to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
