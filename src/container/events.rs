//! The event journal: `<root>/events.jsonl`, one JSON object a line, appended
//! by the commands that change a container (create, start, die, stop, kill,
//! destroy, rename) and read by `glassbox events`. There is no daemon to
//! stream events from, so `events -f` follows the file.
//!
//! `{"time":"2026-11-25T19:00:00.000000000Z","type":"container","action":"start",
//!   "id":"<64 hex>","attributes":{"image":"busybox","name":"web"}}`

use super::Container;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// Append one event (never fails the command that made it: a journal that
/// cannot be written loses the event, not the container).
pub fn append(root: &Path, event: &Event) {
    let Ok(mut line) = serde_json::to_vec(event) else {
        return;
    };
    line.push(b'\n');
    // O_APPEND and one write per line: concurrent writers never interleave.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal_path(root))
    {
        let _ = f.write_all(&line);
    }
}

/// Record a container event; `extra` attributes join image and name.
pub fn record(root: &Path, action: &str, c: &Container, extra: &[(&str, String)]) {
    if c.simulated {
        return; // the simulator changes nothing on the host, not even the journal
    }
    let mut attributes = BTreeMap::new();
    attributes.insert("image".to_string(), c.image.clone());
    attributes.insert("name".to_string(), c.name.clone());
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.clone());
    }
    append(
        root,
        &Event {
            time: super::now_rfc3339(),
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
