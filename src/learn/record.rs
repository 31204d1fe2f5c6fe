//! Running an interactive lesson command on a terminal of its own, relayed to
//! the learner's and recorded, so the session can be checked afterwards
//! (what `script(1)` does). The learner's terminal is in raw mode while the
//! command runs and restored on every way out (a drop guard).

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The learner's window size, so the command's terminal matches it.
fn window_size() -> Option<nix::pty::Winsize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
    let ok = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0;
    ok.then_some(nix::pty::Winsize {
        ws_row: ws.ws_row,
        ws_col: ws.ws_col,
        ws_xpixel: 0,
        ws_ypixel: 0,
    })
}

/// Run `cmd` on a new pseudo-terminal; returns its exit status and everything
/// it wrote (the session as the learner saw it, terminal echo included).
pub fn run_in_terminal(cmd: &mut Command) -> Result<(i32, String)> {
    let pty = nix::pty::openpty(window_size().as_ref(), None).context("open a pseudo-terminal")?;
    let slave = std::fs::File::from(pty.slave);
    cmd.stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Its own session with the new terminal as the controlling one, so
            // Ctrl-C and job control reach the command, not the lesson.
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    cmd.env("GLASSBOX_NARRATION_MARKS", "1");
    let mut child = cmd.spawn().context("start glassbox")?;
    // Drop the Command's copies of the slave, so the master sees EOF/EIO at the end.
    *cmd = Command::new("true");
    let master = pty.master;
    let _raw = crate::kernel::linux::RawMode::enter();
    let mut record = Vec::new();
    let mut unmark = super::runner::Unmark::default();
    let mut buf = [0u8; 4096];
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let mut stdin_open = true;
    let mut eof_sent: Option<std::time::Instant> = None;
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let master_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = stdin_open && fds[1].revents().is_some_and(|r| !r.is_empty());
        if master_ready {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => break, // the command's side closed
                Ok(n) => {
                    let mut shown = Vec::new();
                    unmark.feed(&buf[..n], &mut shown, &mut record);
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&shown);
                    let _ = out.flush();
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if stdin_ready {
            match nix::unistd::read(0, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = nix::unistd::write(master.as_fd(), &buf[..n]);
                }
            }
        }
        // The learner's input ended (a pipe, a script): say so to the
        // session as a terminal user would, with Ctrl-D (EOF for a shell at
        // its prompt), or it waits forever. Once a second, since one sent
        // before the program reads its terminal (or switches it to raw
        // mode) is lost.
        if !stdin_open && eof_sent.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1))
        {
            let _ = nix::unistd::write(master.as_fd(), b"\x04");
            eof_sent = Some(std::time::Instant::now());
        }
        if !master_ready {
            if let Ok(Some(_)) = child.try_wait() {
                // Exited; take what is still buffered, then stop.
                loop {
                    let mut f = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                    if !matches!(poll(&mut f, PollTimeout::ZERO), Ok(1)) {
                        break;
                    }
                    let n = match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                        Ok(n) if n > 0 => n,
                        _ => break,
                    };
                    let mut shown = Vec::new();
                    unmark.feed(&buf[..n], &mut shown, &mut record);
                    let _ = std::io::stdout().write_all(&shown);
                }
                break;
            }
        }
    }
    let status = child.wait()?;
    let _ = std::io::stdout().flush();
    Ok((
        status.code().unwrap_or(128),
        String::from_utf8_lossy(&record).into_owned(),
    ))
}
