//! `ps`: which containers to show (docker's `-a`, `-n`, `-f` rules);
//! `cli::containers` lays the rows out.

use crate::container::{Container, Status};
use anyhow::Result;
use std::collections::HashMap;

/// The image id each image name of `rows` means now (None: it names no
/// image any more), for docker's IMAGE column: the image index is read once
/// for the whole command, each name resolved once.
pub fn image_ids(root: &std::path::Path, rows: &[&Container]) -> HashMap<String, Option<String>> {
    let mut out = HashMap::new();
    let Ok(store) = crate::image::Store::open(root) else {
        return out;
    };
    let Ok(idx) = store.read_index() else {
        return out;
    };
    for c in rows {
        if !out.contains_key(&c.image) {
            let id = store
                .resolve_in(&idx, &c.image)
                .ok()
                .flatten()
                .map(|i| i.id);
            out.insert(c.image.clone(), id);
        }
    }
    out
}

/// The containers `ps` shows, in `list` order: running ones (and those
/// between two runs of their restart policy, as docker shows them), or all
/// with `all`, `last >= 0` or a status/exited filter; then the filters;
/// then the first `last` (when `last >= 0`).
pub fn select<'a>(
    all: &'a [Container],
    filters: &Filters,
    show_all: bool,
    last: i64,
) -> Vec<&'a Container> {
    let show_all = show_all || last >= 0 || filters.has("status") || filters.has("exited");
    let mut shown: Vec<&Container> = all
        .iter()
        .filter(|c| show_all || c.is_running() || c.state.status == Status::Restarting)
        .filter(|c| filters.matches(c))
        .collect();
    if last >= 0 {
        shown.truncate(last as usize);
    }
    shown
}

/// `ps` filters: values of one key are alternatives, different keys must all match.
pub struct Filters(Vec<(String, String)>);

impl Filters {
    pub fn parse(specs: &[String]) -> Result<Filters> {
        let mut out = Vec::new();
        for spec in specs {
            let Some((k, v)) = spec.split_once('=') else {
                crate::exit_err!(1, "bad format of filter (expected name=value): {spec}");
            };
            let k = k.trim().to_ascii_lowercase();
            match k.as_str() {
                "status" => {
                    const STATES: [&str; 7] = [
                        "created",
                        "restarting",
                        "running",
                        "removing",
                        "paused",
                        "exited",
                        "dead",
                    ];
                    if !STATES.contains(&v) {
                        crate::exit_err!(
                            1,
                            "invalid filter 'status={v}': use one of {}",
                            STATES.join(", ")
                        );
                    }
                }
                "name" | "id" | "ancestor" | "exited" => {}
                other => crate::exit_err!(
                    1,
                    "invalid filter '{other}': supported are status, name, id, ancestor, exited"
                ),
            }
            out.push((k, v.to_string()));
        }
        Ok(Filters(out))
    }
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
    pub fn matches(&self, c: &Container) -> bool {
        let status = shown_status(c);
        let test = |k: &str, v: &str| -> bool {
            match k {
                "status" => status.as_str() == v,
                "name" => name_matches(&c.name, v),
                "id" => c.id.starts_with(v),
                "exited" => status == Status::Exited && v.parse::<i32>().ok() == c.state.exit_code,
                "ancestor" => ancestor_matches(c, v),
                _ => false,
            }
        };
        let mut keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        keys.dedup();
        keys.iter().all(|key| {
            self.0
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(k, v)| test(k, v))
        })
    }
}

/// docker matches names as a regular expression; we take the common forms:
/// a substring, optionally anchored with ^ and $.
fn name_matches(name: &str, pattern: &str) -> bool {
    let pattern = pattern.trim_start_matches('/');
    let (start, p) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest.trim_start_matches('/')),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

fn ancestor_matches(c: &Container, v: &str) -> bool {
    let with_tag = |s: &str| {
        let last = s.rsplit('/').next().unwrap_or(s);
        if last.contains(':') || s.contains('@') {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    };
    let hex = v.trim_start_matches("sha256:");
    with_tag(&c.image) == with_tag(v)
        || c.image_id == v
        || (hex.len() >= 4
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && c.image_id.trim_start_matches("sha256:").starts_with(hex))
}

/// The status `ps` shows: a running record whose process is gone shows as exited.
pub fn shown_status(c: &Container) -> Status {
    if c.state.status == Status::Running && !c.is_running() {
        Status::Exited
    } else if c.state.paused && c.is_running() {
        Status::Paused
    } else {
        c.state.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filters_take_substrings_and_anchors() {
        assert!(name_matches("web-1", "web"));
        assert!(name_matches("web-1", "^web"));
        assert!(name_matches("web-1", "/web-1"));
        assert!(name_matches("web-1", "^web-1$"));
        assert!(!name_matches("myweb-1", "^web"));
        assert!(!name_matches("web-1", "web$"));
    }

    #[test]
    fn filters_parse_and_reject_unknown_keys() {
        assert!(Filters::parse(&["status=exited".into(), "name=x".into()]).is_ok());
        assert!(Filters::parse(&["status=sleeping".into()]).is_err());
        assert!(Filters::parse(&["colour=red".into()]).is_err());
        assert!(Filters::parse(&["status".into()]).is_err());
    }
}
