//! Attach: the wire protocol between a container's monitor, which serves
//! `<root>/containers/<id>/attach.sock`, and `glassbox attach` (or a
//! foreground `run -it`, which is an attach to a container its monitor runs).
//!
//! Every message, both ways, is a frame: one kind byte, a 4-byte big-endian
//! length, then that many bytes (docker's attach stream uses a similar
//! 8-byte header).
//!
//! ```text
//!  monitor → client   1 stdout data   2 stderr data (a terminal is all stdout)
//!                     3 exit: 4-byte big-endian exit status, then the socket closes
//!  client → monitor   0 stdin data    4 resize: rows u16, cols u16 (big-endian)
//!                     5 end of stdin
//! ```
//!
//! Detaching (ctrl-p ctrl-q) is the client's business: it stops reading the
//! user's keys and closes its connection; the container never sees the keys.
//! A socket path longer than `sun_path` allows is reached through
//! `/proc/self/fd/<dir fd>/attach.sock`.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const RESIZE: u8 = 4;
pub const STDIN_EOF: u8 = 5;

/// The largest frame either side sends (readers refuse bigger ones).
pub const MAX_FRAME: usize = 1 << 20;

/// Where a container's monitor listens.
pub fn socket_path(container_dir: &Path) -> PathBuf {
    container_dir.join("attach.sock")
}

pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Split whole frames off the front of `buf`; a partial frame stays.
pub fn take_frames(buf: &mut Vec<u8>) -> Result<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() - at >= 5 {
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        if len > MAX_FRAME {
            bail!("attach: frame of {len} bytes is too large");
        }
        if buf.len() - at - 5 < len {
            break;
        }
        out.push((buf[at], buf[at + 5..at + 5 + len].to_vec()));
        at += 5 + len;
    }
    buf.drain(..at);
    Ok(out)
}

/// Read one frame (blocking); None at end of stream.
pub fn read_frame(r: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("read from the attach socket"),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        bail!("attach: frame of {len} bytes is too large");
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)
        .context("read from the attach socket")?;
    Ok(Some((head[0], payload)))
}

pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    w.write_all(&frame(kind, payload))
}

/// Run `f` with a path to `path` short enough for a unix socket address:
/// the path itself, or `/proc/self/fd/N/<name>` through its directory.
fn with_short_path<T>(path: &Path, f: impl FnOnce(&Path) -> std::io::Result<T>) -> Result<T> {
    // sun_path holds 108 bytes with the terminating NUL.
    if path.as_os_str().len() < 100 {
        return f(path).with_context(|| format!("attach socket {}", path.display()));
    }
    let dir = path.parent().context("socket path has no directory")?;
    let name = path.file_name().context("socket path has no name")?;
    let d = std::fs::File::open(dir).with_context(|| format!("open {}", dir.display()))?;
    use std::os::unix::io::AsRawFd;
    let short = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    let r = f(&short).with_context(|| format!("attach socket {}", path.display()));
    drop(d);
    r
}

/// Listen on `path` (replacing a stale socket left by a dead monitor).
pub fn listen(path: &Path) -> Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    with_short_path(path, |p| UnixListener::bind(p))
}

pub fn connect(path: &Path) -> Result<UnixStream> {
    with_short_path(path, |p| UnixStream::connect(p))
}

/// Parse docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@,ctrl-[`).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let key = part.trim();
        let lower = key.to_ascii_lowercase();
        let byte = if let Some(rest) = lower.strip_prefix("ctrl-") {
            let b = rest.as_bytes();
            if b.len() != 1 {
                bail!("invalid detach keys {spec:?}: unknown key {key:?}");
            }
            match b[0] {
                c @ b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => bail!("invalid detach keys {spec:?}: unknown key {key:?}"),
            }
        } else if key.len() == 1 {
            key.as_bytes()[0]
        } else {
            bail!("invalid detach keys {spec:?}: unknown key {key:?} (use a single character or ctrl-<value>)");
        };
        keys.push(byte);
    }
    if keys.is_empty() {
        bail!("invalid detach keys {spec:?}");
    }
    Ok(keys)
}

pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Watches the user's keys for the detach sequence. Keys that start the
/// sequence are held back until it is clear they are not it, then passed on.
pub struct DetachMatcher {
    keys: Vec<u8>,
    held: Vec<u8>,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher {
            keys,
            held: Vec::new(),
        }
    }
    /// The bytes to send on, and whether the sequence was completed (what
    /// followed it is dropped).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.held.len()] {
                self.held.push(b);
                if self.held.len() == self.keys.len() {
                    self.held.clear();
                    return (out, true);
                }
                continue;
            }
            out.append(&mut self.held);
            if b == self.keys[0] {
                self.held.push(b);
                if self.keys.len() == 1 {
                    self.held.clear();
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a").unwrap(), vec![b'a']);
        assert_eq!(
            parse_detach_keys("ctrl-@,ctrl-[,ctrl-_").unwrap(),
            vec![0, 27, 31]
        );
        assert!(parse_detach_keys("ctrl-pq").is_err());
        assert!(parse_detach_keys("shift-a").is_err());
    }

    #[test]
    fn matcher_holds_back_a_prefix_and_detaches() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(m.feed(&[16]), (vec![], false));
        // Not the sequence after all: the held key goes on with the next one.
        assert_eq!(m.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(m.feed(&[16, 16]), (vec![16], false));
        assert_eq!(m.feed(&[17, b'y']), (vec![], true));
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(&[b'a', 16, 17]), (vec![b'a'], true));
    }

    #[test]
    fn frames_round_trip_and_split() {
        let mut buf = frame(STDOUT, b"hello");
        buf.extend(frame(EXIT, &7i32.to_be_bytes()));
        buf.extend(&frame(STDERR, b"partial")[..4]);
        let got = take_frames(&mut buf).unwrap();
        assert_eq!(
            got,
            vec![(STDOUT, b"hello".to_vec()), (EXIT, vec![0, 0, 0, 7])]
        );
        assert_eq!(buf.len(), 4);
    }
}
