//! The container's terminal (`-t`): a pseudo-terminal whose slave side is the
//! container's controlling terminal and whose master side glassbox relays to
//! the user's terminal, in raw mode so keys like ctrl-C reach the container.

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::BorrowedFd;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::SeqCst);
}

pub fn host_winsize() -> Option<nix::pty::Winsize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills the struct we own.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        Some(nix::pty::Winsize {
            ws_row: ws.ws_row,
            ws_col: ws.ws_col,
            ws_xpixel: 0,
            ws_ypixel: 0,
        })
    } else {
        None
    }
}

/// A pseudo-terminal from the devpts instance of the container whose first
/// process is `pid` (reached through /proc/PID/root): returns master, slave
/// and the slave's name as the container sees it (/dev/pts/N).
pub fn open_in_container(pid: i32) -> Result<(OwnedFd, OwnedFd, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    let pts = format!("/proc/{pid}/root/dev/pts");
    let open = |path: &str| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .with_context(|| format!("open {path}"))
    };
    let master = OwnedFd::from(open(&format!("{pts}/ptmx"))?);
    let unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK reads and TIOCGPTN writes the ints we own.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) < 0
            || libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) < 0
        {
            return Err(std::io::Error::last_os_error())
                .context("unlock the container's pseudo-terminal");
        }
    }
    let slave = OwnedFd::from(open(&format!("{pts}/{number}"))?);
    if let Some(ws) = host_winsize() {
        let ws = libc::winsize {
            ws_row: ws.ws_row,
            ws_col: ws.ws_col,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the struct we own.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    Ok((master, slave, format!("/dev/pts/{number}")))
}

pub fn pts_name(fd: RawFd) -> Result<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.display().to_string())
        .context("name of the pseudo-terminal")
}

/// Puts the user's terminal in raw mode and restores it on drop.
pub struct RawMode(Option<Termios>);

impl RawMode {
    pub fn enter() -> RawMode {
        // SAFETY: fd 0 stays open for the life of the process.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        match termios::tcgetattr(stdin) {
            Ok(saved) => {
                let mut raw = saved.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(stdin, SetArg::TCSANOW, &raw);
                RawMode(Some(saved))
            }
            Err(_) => RawMode(None), // stdin is not a terminal: nothing to restore
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: fd 0 stays open for the life of the process.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            let _ = termios::tcsetattr(stdin, SetArg::TCSANOW, saved);
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(unsafe { BorrowedFd::borrow_raw(fd) }, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// Copy the user's keys to the container and its output back until it closes.
pub fn relay(master: RawFd, interactive: bool) -> Result<()> {
    let _raw = if interactive {
        Some(RawMode::enter())
    } else {
        None
    };
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGWINCH,
            on_winch as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    let mut stdin_open = interactive;
    let mut buf = [0u8; 8192];
    loop {
        if WINCH.swap(false, Ordering::SeqCst) {
            if let Some(ws) = host_winsize() {
                let ws = libc::winsize {
                    ws_row: ws.ws_row,
                    ws_col: ws.ws_col,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // SAFETY: TIOCSWINSZ reads the struct we own.
                unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
            }
        }
        // SAFETY: both fds stay open during the loop.
        let (m, s) = unsafe { (BorrowedFd::borrow_raw(master), BorrowedFd::borrow_raw(0)) };
        let mut fds = vec![PollFd::new(m, PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(s, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll the terminal"),
            Ok(_) => {}
        }
        let master_ready = fds[0].revents().unwrap_or(PollFlags::empty());
        let stdin_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => return Ok(()), // the container closed its terminal
                Ok(n) => {
                    write_all(1, &buf[..n]);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("read the container's terminal"),
            }
        }
        if stdin_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(0, &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    write_all(master, &[4]); // end of input: send ^D as a terminal would
                }
                Ok(n) => {
                    if !write_all(master, &buf[..n]) {
                        return Ok(());
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}

/// poll(2) once: which of `fds` can be read (input, hang-up or error), or
/// None when a signal interrupted the wait (callers loop and poll again).
pub fn poll_readable(
    fds: &mut [PollFd],
    timeout: PollTimeout,
    what: &str,
) -> Result<Option<Vec<bool>>> {
    match poll(fds, timeout) {
        Err(nix::errno::Errno::EINTR) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("poll {what}")),
        Ok(_) => Ok(Some(
            fds.iter()
                .map(|f| {
                    f.revents()
                        .unwrap_or(PollFlags::empty())
                        .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                })
                .collect(),
        )),
    }
}
