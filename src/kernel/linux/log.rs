//! Log mode: a detached container's output, relayed by its monitor into
//! docker's json-file format, one JSON object per line of output:
//! `{"log":"text\n","stream":"stdout","time":"2026-01-01T00:00:00.000000000Z"}`.
//! Lines are split at newlines; a line longer than 16 KiB is written in
//! pieces (as docker does), and a last line without a newline is written
//! as it is when the stream closes.

use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::os::unix::io::RawFd;
use std::path::Path;

const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Stream> {
        [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

#[derive(serde::Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// The json-file log of one container, opened for appending (a restarted
/// container adds to the same file, as docker's does).
pub struct JsonLog {
    file: File,
    partial: [Vec<u8>; 2],
}

impl JsonLog {
    pub fn open(path: &Path) -> Result<JsonLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("open the log {}", path.display()))?;
        Ok(JsonLog::from_file(file))
    }

    /// The log opened (for appending) by another process: the monitor that
    /// handed it over (`handover`).
    pub(crate) fn from_file(file: File) -> JsonLog {
        JsonLog {
            file,
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn entry(&mut self, stream: Stream, bytes: &[u8], time: Option<&str>) {
        let text = String::from_utf8_lossy(bytes);
        let time = time
            .map(str::to_string)
            .unwrap_or_else(crate::clock::now_rfc3339);
        let entry = Entry {
            log: &text,
            stream: stream.name(),
            time: &time,
        };
        if let Ok(mut line) = serde_json::to_vec(&entry) {
            line.push(b'\n');
            let _ = self.file.write_all(&line);
        }
    }

    /// Add output from one stream; whole lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        self.write_timed(stream, data, None)
    }

    /// As `write`, for output made at `time` (the simulated host's clock).
    pub fn write_at(&mut self, stream: Stream, data: &[u8], time: &str) {
        self.write_timed(stream, data, Some(time))
    }

    /// As `flush`, stamped `time`.
    pub fn flush_at(&mut self, stream: Stream, time: &str) {
        self.flush_timed(stream, Some(time))
    }

    fn write_timed(&mut self, stream: Stream, data: &[u8], time: Option<&str>) {
        let i = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            self.entry(stream, &buf[start..start + nl + 1], time);
            start += nl + 1;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE], time);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[i] = buf;
    }

    /// Write what is left of a stream that has closed.
    pub fn flush(&mut self, stream: Stream) {
        self.flush_timed(stream, None)
    }

    fn flush_timed(&mut self, stream: Stream, time: Option<&str>) {
        let rest = std::mem::take(&mut self.partial[stream as usize]);
        if !rest.is_empty() {
            self.entry(stream, &rest, time);
        }
    }
}

impl std::os::fd::AsRawFd for JsonLog {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// How much of the container's output one read takes.
pub(super) const RELAY_BUFFER: usize = 32 * 1024;

/// read(2) from `fd` into `buf`'s capacity, which is never zero-filled: a
/// page of it becomes resident only once output reaches it, so a monitor
/// whose container prints little keeps ~32 kB less (a zeroed buffer is
/// written whole by calloc up front). `buf[..n]` holds what was read.
pub(super) fn read_fresh(fd: RawFd, buf: &mut Vec<u8>) -> nix::Result<usize> {
    buf.clear();
    // SAFETY: read(2) writes at most `capacity` bytes into the spare
    // capacity, and the length is set to what it wrote.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.capacity()) };
    let n = nix::errno::Errno::result(n)? as usize;
    unsafe { buf.set_len(n) };
    Ok(n)
}

/// Copy the container's streams into the log until every one has closed
/// (the container and everything it started have exited: its PID namespace
/// dies with its first process, so no orphan keeps a pipe open).
pub fn relay(sources: &[(RawFd, Stream)], log: &mut JsonLog) -> Result<()> {
    let mut open: Vec<(RawFd, Stream)> = sources.to_vec();
    let mut buf = Vec::with_capacity(RELAY_BUFFER);
    while !open.is_empty() {
        // SAFETY: the fds stay open for the whole loop (the caller owns them).
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|(fd, _)| PollFd::new(unsafe { BorrowedFd::borrow_raw(*fd) }, PollFlags::POLLIN))
            .collect();
        let Some(ready) =
            super::tty::poll_readable(&mut fds, PollTimeout::NONE, "the container's output")?
        else {
            continue;
        };
        drop(fds);
        let mut closed = Vec::new();
        for (i, (fd, stream)) in open.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            match read_fresh(*fd, &mut buf) {
                // EIO: the last holder of the terminal's slave side closed it.
                Ok(0) | Err(nix::errno::Errno::EIO) => closed.push(i),
                Ok(n) => log.write(*stream, &buf[..n]),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_json_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path).unwrap();
        log.write(Stream::Stdout, b"one\ntw");
        log.write(Stream::Stderr, b"err\n");
        log.write(Stream::Stdout, b"o\nthree");
        log.flush(Stream::Stdout);
        let text = std::fs::read_to_string(&path).unwrap();
        let entries: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e["log"].as_str().unwrap(), e["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("one\n", "stdout"),
                ("err\n", "stderr"),
                ("two\n", "stdout"),
                ("three", "stdout")
            ]
        );
        assert!(entries[0]["time"].as_str().unwrap().ends_with('Z'));
    }
}
