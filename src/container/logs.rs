//! Reading a container's json-file log (written by its monitor, see
//! `kernel::linux::log`): entries, `--since` times, and following a log
//! that is still growing.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Clone, Debug, serde::Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

impl Entry {
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A reader of the complete lines appended to a log since the last read.
pub struct LogReader {
    file: Option<std::fs::File>,
    offset: u64,
    partial: Vec<u8>,
}

impl LogReader {
    /// A missing log (a container run in the foreground keeps none) reads as empty.
    pub fn open(path: &Path) -> Result<LogReader> {
        let file = match std::fs::File::open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
        };
        Ok(LogReader {
            file,
            offset: 0,
            partial: Vec::new(),
        })
    }

    /// The entries written since the last call (complete lines only).
    pub fn read_new(&mut self) -> Result<Vec<Entry>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(vec![]);
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut data = std::mem::take(&mut self.partial);
        let n = file.read_to_end(&mut data)?;
        self.offset += n as u64;
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = data[start..].iter().position(|&b| b == b'\n') {
            if let Ok(e) = serde_json::from_slice::<Entry>(&data[start..start + nl]) {
                out.push(e);
            }
            start += nl + 1;
        }
        self.partial = data[start..].to_vec();
        Ok(out)
    }
}

/// A `--since`/`--until` value: an RFC 3339 time, a Unix timestamp
/// (`1700000000.5`), or a duration before now (`10s`, `5m`, `1h30m`).
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        let whole = secs.trunc() as i64;
        let nanos = ((secs - secs.trunc()) * 1e9) as u32;
        return DateTime::from_timestamp(whole, nanos);
    }
    parse_duration(s).map(|d| now - d)
}

/// Go's time.ParseDuration for h, m, s, ms, us, ns (e.g. `1h30m`, `500ms`).
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Some(chrono::Duration::nanoseconds((total * 1e9) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("90m", now).unwrap().to_rfc3339(),
            "2025-12-31T23:30:00+00:00"
        );
        assert_eq!(
            parse_time("1h30m", now).unwrap(),
            parse_time("90m", now).unwrap()
        );
        assert_eq!(
            parse_time("2026-01-01T00:00:00Z", now).unwrap().timestamp(),
            1_767_225_600
        );
        assert_eq!(
            parse_time("1767225600", now).unwrap().timestamp(),
            1_767_225_600
        );
        assert!(parse_time("soon", now).is_none());
    }

    #[test]
    fn reader_returns_complete_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(
            &path,
            "{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n{\"log\":",
        )
        .unwrap();
        let mut r = LogReader::open(&path).unwrap();
        assert_eq!(r.read_new().unwrap().len(), 1);
        assert_eq!(r.read_new().unwrap().len(), 0);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"\"b\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:01Z\"}\n")
            .unwrap();
        let e = r.read_new().unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].stream, "stderr");
        assert_eq!(e[0].log, "b\n");
    }
}
