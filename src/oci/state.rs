//! What glassbox-runtime keeps per container under `--root`: `<root>/<id>/
//! state.json` and the exec fifo. The status is never stored: it is read
//! from the kernel each time (is the PID, with its start time, alive; is the
//! fifo still there; is the freezer frozen), as runc does.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// /proc/PID/stat field 22, so a reused PID is never taken for ours.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub cgroups: Vec<PathBuf>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The poststop hooks, kept here: the bundle may be gone at delete.
    #[serde(default)]
    pub poststop: Vec<HookRecord>,
    /// The namespaces `exec` joins (those the container got new).
    #[serde(default)]
    pub namespaces: Vec<crate::step::Namespace>,
}

/// A hook as config.json gives it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HookRecord {
    pub path: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub timeout: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

pub fn valid_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if !ok {
        bail!(super::plan::bad(format!(
            "invalid container id {id:?}: use letters, digits, _ - . +"
        )));
    }
    Ok(())
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

pub fn load(root: &Path, id: &str) -> Result<Record> {
    valid_id(id)?;
    let path = dir(root, id).join("state.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(super::plan::bad(format!(
                "container \"{id}\" does not exist"
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

pub fn save(root: &Path, r: &Record) -> Result<()> {
    let path = dir(root, &r.id).join("state.json");
    crate::fsutil::atomic_write_with(&path, serde_json::to_string(r)?.as_bytes(), false)
}

fn frozen(cgroups: &[PathBuf]) -> bool {
    cgroups.iter().any(|c| {
        std::fs::read_to_string(c.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
            || std::fs::read_to_string(c.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    })
}

pub fn status(root: &Path, r: &Record) -> Status {
    if !crate::container::pid_alive(r.pid, r.pid_start) {
        return Status::Stopped;
    }
    if frozen(&r.cgroups) {
        return Status::Paused;
    }
    if fifo(root, &r.id).exists() {
        return Status::Created;
    }
    Status::Running
}

/// The OCI state JSON (runtime spec "State"), as runc prints it.
pub fn state_json(root: &Path, r: &Record) -> serde_json::Value {
    let status = status(root, r);
    let mut v = serde_json::json!({
        "ociVersion": "1.0.2",
        "id": r.id,
        "status": status.name(),
        "pid": if status == Status::Stopped { 0 } else { r.pid },
        "bundle": r.bundle,
        "rootfs": r.rootfs,
        "created": r.created,
        "owner": "",
    });
    if !r.annotations.is_empty() {
        v["annotations"] = serde_json::to_value(&r.annotations).unwrap_or_default();
    }
    v
}

/// Every container id under the root.
pub fn list(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}
