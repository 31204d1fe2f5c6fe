//! The monitor's side of attach (protocol: `container::attach`): while it
//! relays a detached container's output into its json-file log, it also
//! serves `attach.sock`. Every attached client gets the output as it comes,
//! and its stdin frames go to the container's terminal (or stdin pipe).
//!
//! A foreground `run -it` runs under a monitor too and attaches to it; so
//! that its first prompt is not lost, that monitor reads nothing from the
//! container until the first client is there (the output waits in the
//! terminal's buffer), or 5 seconds have passed.

use super::log::{JsonLog, Stream};
use crate::container::attach::{self as proto, frame};
use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a monitor waits for its first client before it reads the output anyway.
const FIRST_CLIENT_WAIT: Duration = Duration::from_secs(5);

struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// Where the user's keys go.
pub enum Input {
    /// Nowhere (the container has no open stdin).
    None,
    /// The terminal's master side (the same fd the output comes from).
    Tty(RawFd),
    /// The write end of the container's stdin pipe (`-i` without `-t`).
    Pipe(OwnedFd),
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    wait_first: bool,
}

impl Server {
    pub fn open(path: PathBuf, wait_first: bool) -> Result<Server> {
        let listener = proto::listen(&path)?;
        Server::from_parts(listener.into(), path, wait_first)
    }

    /// The listening socket, its path and whether the first client is
    /// awaited: what a hand-over passes on (`handover`).
    pub(crate) fn parts(&self) -> (RawFd, &std::path::Path, bool) {
        (self.listener.as_raw_fd(), &self.path, self.wait_first)
    }

    /// A server on a listening socket: `open`'s, or one another process
    /// opened and handed over.
    pub(crate) fn from_parts(listener: OwnedFd, path: PathBuf, wait_first: bool) -> Result<Server> {
        let listener = UnixListener::from(listener);
        listener
            .set_nonblocking(true)
            .context("attach socket: non-blocking")?;
        Ok(Server {
            listener,
            path,
            clients: Vec::new(),
            wait_first,
        })
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.set_nonblocking(false);
            // A client that stops reading is dropped rather than stalling the container.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            self.clients.push(Client {
                stream,
                buf: Vec::new(),
            });
            self.wait_first = false;
        }
    }

    fn broadcast(&mut self, kind: u8, data: &[u8]) {
        let f = frame(kind, data);
        self.clients.retain_mut(|c| c.stream.write_all(&f).is_ok());
    }

    /// Tell the clients how the container ended, close them and the socket.
    pub fn finish(mut self, status: i32) {
        self.accept();
        self.broadcast(proto::EXIT, &status.to_be_bytes());
    }
}

impl Drop for Server {
    /// The socket goes with its server (also when a start is rolled back).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: the caller keeps fd open.
        match nix::unistd::write(unsafe { BorrowedFd::borrow_raw(fd) }, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
    true
}

fn resize(fd: RawFd, payload: &[u8]) {
    if payload.len() != 4 {
        return;
    }
    let ws = libc::winsize {
        ws_row: u16::from_be_bytes([payload[0], payload[1]]),
        ws_col: u16::from_be_bytes([payload[2], payload[3]]),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct we own.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Copy the container's streams into the log and to attached clients, and
/// the clients' keys to the container, until every stream has closed.
pub fn relay(
    sources: &[(RawFd, Stream)],
    log: &mut JsonLog,
    mut input: Input,
    server: &mut Server,
) -> Result<()> {
    let mut open: Vec<(RawFd, Stream)> = sources.to_vec();
    let mut buf = Vec::with_capacity(super::log::RELAY_BUFFER);
    let started = Instant::now();
    while !open.is_empty() {
        let waiting = server.wait_first && started.elapsed() < FIRST_CLIENT_WAIT;
        let outputs = if waiting { 0 } else { open.len() };
        let mut fds: Vec<PollFd> = Vec::new();
        for (fd, _) in &open[..outputs] {
            // SAFETY: the caller owns the fds for the whole loop.
            fds.push(PollFd::new(
                unsafe { BorrowedFd::borrow_raw(*fd) },
                PollFlags::POLLIN,
            ));
        }
        fds.push(PollFd::new(server.listener.as_fd(), PollFlags::POLLIN));
        for c in &server.clients {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if waiting {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        let Some(ready) = super::tty::poll_readable(&mut fds, timeout, "the container's output")?
        else {
            continue;
        };
        drop(fds);
        // Clients first: a new one must not miss output read in this round.
        let client_ready = ready[outputs + 1..].to_vec();
        let mut gone = Vec::new();
        for (i, c) in server.clients.iter_mut().enumerate() {
            if !client_ready.get(i).copied().unwrap_or(false) {
                continue;
            }
            let mut chunk = [0u8; 8192];
            match c.stream.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    gone.push(i);
                    continue;
                }
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            }
            let Ok(frames) = proto::take_frames(&mut c.buf) else {
                gone.push(i);
                continue;
            };
            for (kind, data) in frames {
                match (kind, &input) {
                    (proto::STDIN, Input::Tty(fd)) => {
                        write_all(*fd, &data);
                    }
                    (proto::STDIN, Input::Pipe(fd)) => {
                        write_all(fd.as_raw_fd(), &data);
                    }
                    (proto::RESIZE, Input::Tty(fd)) => resize(*fd, &data),
                    (proto::STDIN_EOF, Input::Tty(fd)) => {
                        write_all(*fd, &[4]);
                    }
                    (proto::STDIN_EOF, Input::Pipe(_)) => input = Input::None,
                    _ => {}
                }
            }
        }
        for i in gone.into_iter().rev() {
            server.clients.remove(i);
        }
        if ready[outputs] {
            server.accept();
        }
        let mut closed = Vec::new();
        for (i, (fd, stream)) in open[..outputs].iter().enumerate() {
            if !ready[i] {
                continue;
            }
            match super::log::read_fresh(*fd, &mut buf) {
                // EIO: the last holder of the terminal's slave side closed it.
                Ok(0) | Err(nix::errno::Errno::EIO) => closed.push(i),
                Ok(n) => {
                    log.write(*stream, &buf[..n]);
                    let kind = match stream {
                        Stream::Stdout => proto::STDOUT,
                        Stream::Stderr => proto::STDERR,
                    };
                    server.broadcast(kind, &buf[..n]);
                }
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            let (_, stream) = open.remove(i);
            if !open.iter().any(|(_, s)| *s == stream) {
                log.flush(stream);
            }
        }
    }
    Ok(())
}
