//! The event journal: `<root>/events.jsonl`, one JSON object a line, appended
//! by the commands that change a container (create, start, die, stop, kill,
//! destroy, rename) and read by `glassbox events`. There is no daemon to
//! stream events from, so `events -f` follows the file.
//!
//! `{"time":"2026-11-25T19:00:00.000000000Z","type":"container","action":"start",
//!   "id":"<64 hex>","attributes":{"image":"busybox","name":"web"}}`

use super::Container;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    pub id: String,
    /// Sorted by name, as docker prints them.
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// docker's line: `TIME container start ID (image=busybox, name=web)`.
    pub fn line(&self) -> String {
        let attrs: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let time = self
            .time()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_else(|| self.time.clone());
        if attrs.is_empty() {
            format!("{time} {} {} {}", self.kind, self.action, self.id)
        } else {
            format!(
                "{time} {} {} {} ({})",
                self.kind,
                self.action,
                self.id,
                attrs.join(", ")
            )
        }
    }
}

pub fn journal_path(root: &Path) -> PathBuf {
    root.join("events.jsonl")
}

/// The journal's bound: 1 MiB, or `GLASSBOX_EVENTS_MAX_BYTES`.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;

fn max_bytes() -> u64 {
    std::env::var("GLASSBOX_EVENTS_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_BYTES)
}

/// A flock on `<root>/events.lock`: appenders share it, rotation takes it
/// alone, so no append lands in a journal that is being replaced.
struct JournalLock {
    _file: std::fs::File,
}

impl JournalLock {
    fn take(root: &Path, how: libc::c_int) -> Option<JournalLock> {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join("events.lock"))
            .ok()?;
        // SAFETY: flock on a valid fd we own; released when the file closes.
        (unsafe { libc::flock(f.as_raw_fd(), how) } == 0).then_some(JournalLock { _file: f })
    }
}

/// Append one event (never fails the command that made it: a journal that
/// cannot be written loses the event, not the container). A journal grown
/// past its bound is rotated.
pub fn append(root: &Path, event: &Event) {
    append_bounded(root, event, max_bytes());
}

fn append_bounded(root: &Path, event: &Event, max: u64) {
    let Ok(mut line) = serde_json::to_vec(event) else {
        return;
    };
    line.push(b'\n');
    let len = {
        let Some(_shared) = JournalLock::take(root, libc::LOCK_SH) else {
            return;
        };
        // O_APPEND and one write per line: concurrent writers never interleave.
        let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal_path(root))
        else {
            return;
        };
        if f.write_all(&line).is_err() {
            return;
        }
        f.metadata().map(|m| m.len()).unwrap_or(0)
    };
    if len > max {
        let _ = rotate(root, max);
    }
}

/// Keep the newest half of the journal (whole lines; at least the last
/// one), dropping the oldest events: written to a temp file and renamed
/// over, under the exclusive journal lock. A follower (`events -f`) whose
/// offset is now past the end starts again from the end.
fn rotate(root: &Path, max: u64) -> Result<()> {
    let Some(_alone) = JournalLock::take(root, libc::LOCK_EX) else {
        return Ok(());
    };
    let path = journal_path(root);
    let data = std::fs::read(&path)?;
    if data.len() as u64 <= max {
        return Ok(()); // someone else rotated it meanwhile
    }
    let body = &data[..data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
    let keep_from = body.len().saturating_sub((max / 2) as usize);
    // Start at a line boundary at or after keep_from, but keep the last line.
    let last_start = body[..body.len().saturating_sub(1)]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let start = if keep_from == 0 {
        0
    } else {
        body[keep_from - 1..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(last_start, |i| keep_from + i)
            .min(last_start)
    };
    crate::fsutil::atomic_write_with(&path, &body[start..], false)
}

/// Empty the journal (`system reset`), alone under the journal lock.
pub fn clear(root: &Path) -> Result<()> {
    let Some(_alone) = JournalLock::take(root, libc::LOCK_EX) else {
        return Ok(());
    };
    match std::fs::remove_file(journal_path(root)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", journal_path(root).display()))
        }
        _ => Ok(()),
    }
}

/// Record a container event; `extra` attributes join image and name.
/// A simulated container's events go to the simulated store's own journal
/// (`root` is that store), never the real one.
pub fn record(root: &Path, action: &str, c: &Container, extra: &[(&str, String)]) {
    record_at(root, action, c, extra, super::now_rfc3339());
}

/// `record` with the time it happened (RFC 3339): the simulator finds a
/// program's end, or its restart, after the fact and tells it at its time.
pub fn record_at(root: &Path, action: &str, c: &Container, extra: &[(&str, String)], time: String) {
    let mut attributes = BTreeMap::new();
    attributes.insert("image".to_string(), c.image.clone());
    attributes.insert("name".to_string(), c.name.clone());
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.clone());
    }
    append(
        root,
        &Event {
            time,
            kind: "container".into(),
            action: action.into(),
            id: c.id.clone(),
            attributes,
        },
    );
}

/// Record an image event (`pull`, `tag`, `untag`, `delete`, `import`):
/// docker's `image <action> <id or reference> (name=...)`.
pub fn record_image(root: &Path, action: &str, id: &str, name: Option<&str>) {
    let mut attributes = BTreeMap::new();
    if let Some(n) = name {
        attributes.insert("name".to_string(), n.to_string());
    }
    append(
        root,
        &Event {
            time: super::now_rfc3339(),
            kind: "image".into(),
            action: action.into(),
            id: id.into(),
            attributes,
        },
    );
}

/// Read the events appended after byte `offset`; returns them and the new offset
/// (a last line still being written is left for the next call).
pub fn read_from(root: &Path, offset: u64) -> Result<(Vec<Event>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(journal_path(root)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e.into()),
    };
    let len = f.metadata()?.len();
    if offset > len {
        // The journal was rotated under us: carry on from its end.
        return Ok((vec![], len));
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data)?;
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let events = data[..complete]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    Ok((events, offset + complete as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), format!("c{n}"));
        Event {
            time: format!("2026-11-25T19:00:{:02}Z", n % 60),
            kind: "container".into(),
            action: "start".into(),
            id: format!("{n:064}"),
            attributes,
        }
    }

    #[test]
    fn the_journal_is_rotated_at_its_bound_keeping_the_newest() {
        let t = tempfile::tempdir().unwrap();
        let max = 2000;
        for n in 0..200 {
            append_bounded(t.path(), &event(n), max);
            let len = std::fs::metadata(journal_path(t.path())).unwrap().len();
            assert!(len <= max, "{len} bytes after event {n}");
        }
        let (events, end) = read_from(t.path(), 0).unwrap();
        assert!(events.len() >= 5, "{}", events.len());
        assert_eq!(events.last().unwrap().id, format!("{:064}", 199));
        let ids: Vec<usize> = events.iter().map(|e| e.id.parse().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "newest, in order: {ids:?}"
        );
        assert!(ids[0] > 100, "the oldest were dropped: {ids:?}");
        // a follower past the end (rotated under it) carries on from the end
        assert_eq!(read_from(t.path(), end + 10_000).unwrap(), (vec![], end));
        // one event bigger than half the bound is still kept
        append_bounded(t.path(), &event(500), 100);
        let (events, _) = read_from(t.path(), 0).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, format!("{:064}", 500));
        assert!(!std::fs::read_dir(t.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp-")));
    }

    #[test]
    fn line_is_dockers() {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), "web".to_string());
        attributes.insert("image".to_string(), "busybox".to_string());
        let e = Event {
            time: "2026-11-25T19:00:00Z".into(),
            kind: "container".into(),
            action: "start".into(),
            id: "abc".into(),
            attributes,
        };
        assert_eq!(
            e.line(),
            "2026-11-25T19:00:00.000000000Z container start abc (image=busybox, name=web)"
        );
    }
}
