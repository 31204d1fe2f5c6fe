//! Named and anonymous volumes in the store, in docker's layout:
//!
//! ```text
//! volumes/<name>/_data          what the containers see
//! volumes/<name>/volume.json    created time, labels, whether anonymous
//! volumes/.tmp-<pid>-<n>/       a volume being made (renamed into place whole)
//! volumes/.removing-<name>-...  a removed volume being deleted
//! ```
//!
//! A volume appears by one rename (never half-made) and disappears by one
//! rename under the store lock, after the check that no container record
//! names it (`engine::volumes::remove`): killed at any point, a volume in
//! use is never lost, and what is left is only trash the next command
//! deletes.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// docker's label on anonymous volumes (docker 23+): `volume prune`
/// without `--all` removes only these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Volume {
    pub name: String,
    pub meta: VolumeMeta,
    /// `<root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.meta.labels.contains_key(ANONYMOUS_LABEL)
    }
}

pub fn volumes_dir(root: &Path) -> PathBuf {
    root.join("volumes")
}

pub fn volume_dir(root: &Path, name: &str) -> PathBuf {
    volumes_dir(root).join(name)
}

pub fn data_dir(root: &Path, name: &str) -> PathBuf {
    volume_dir(root, name).join("_data")
}

/// The simulated host's file system: a bind of the host path `/p` in a
/// simulated container is `<simstore>/host-fs/p` (the simulator touches no
/// host file outside its store). `..` components are dropped, never followed.
pub fn sim_host_path(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.join("host-fs");
    for c in path.components() {
        if let std::path::Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Where a bind's host path is for this process: itself on the real host,
/// under `<simstore>/host-fs` on the simulated one.
pub fn host_side(root: &Path, path: &Path) -> PathBuf {
    if crate::clock::is_simulated() {
        sim_host_path(root, path)
    } else {
        path.to_path_buf()
    }
}

pub fn get(root: &Path, name: &str) -> Option<Volume> {
    if !super::spec::valid_volume_name(name) {
        return None;
    }
    let dir = volume_dir(root, name);
    let meta: VolumeMeta = crate::fsutil::read_json(&dir.join("volume.json")).ok()?;
    Some(Volume {
        name: name.to_string(),
        meta,
        mountpoint: dir.join("_data"),
    })
}

/// Every volume, by name.
pub fn list(root: &Path) -> Result<Vec<Volume>> {
    let dir = volumes_dir(root);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(v) = get(root, &name) {
            out.push(v);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Make the volume unless it exists; true when this call made it. The
/// directory is built under a temporary name and renamed into place, so a
/// volume is whole or absent, and two concurrent creates make one.
pub fn create(
    root: &Path,
    name: &str,
    labels: &BTreeMap<String, String>,
    now: &str,
) -> Result<bool> {
    if get(root, name).is_some() {
        return Ok(false);
    }
    let dir = volumes_dir(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        hex::encode(rand::random::<[u8; 6]>())
    ));
    std::fs::create_dir(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let made = (|| -> Result<bool> {
        std::fs::create_dir(tmp.join("_data"))?;
        // docker's _data is 0755 root; the umask must not narrow it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.join("_data"), std::fs::Permissions::from_mode(0o755))?;
        let meta = VolumeMeta {
            created_at: now.to_string(),
            labels: labels.clone(),
        };
        crate::fsutil::write_json(&tmp.join("volume.json"), &meta)?;
        match std::fs::rename(&tmp, volume_dir(root, name)) {
            Ok(()) => Ok(true),
            // Someone else made it meanwhile (the target is a non-empty directory).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {
                Ok(false)
            }
            Err(e) => {
                Err(e).with_context(|| format!("rename into {}", volume_dir(root, name).display()))
            }
        }
    })();
    if !matches!(made, Ok(true)) {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made
}

/// A unique name to rename a removed volume to before deleting it.
pub fn trash_path(root: &Path, name: &str) -> PathBuf {
    volumes_dir(root).join(format!(
        ".removing-{name}-{}-{}",
        std::process::id(),
        hex::encode(rand::random::<[u8; 6]>())
    ))
}

/// Delete what killed commands left: removed volumes not yet deleted, and
/// half-made ones whose maker is gone.
pub fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(volumes_dir(root)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = if let Some(rest) = name.strip_prefix(".removing-") {
            // Its remover may still be deleting it: only when that one is gone.
            !owner_alive(rest.rsplitn(3, '-').nth(1))
        } else if let Some(rest) = name.strip_prefix(".tmp-") {
            !owner_alive(rest.split('-').next())
        } else {
            false
        };
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn owner_alive(pid: Option<&str>) -> bool {
    match pid.and_then(|p| p.parse::<i32>().ok()) {
        Some(pid) if pid == std::process::id() as i32 => true,
        Some(pid) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
        None => false,
    }
}

/// Bytes of file content under `dir` (as `system df` counts a container's upper dir).
pub fn size(dir: &Path) -> u64 {
    crate::engine::disk::dir_size(dir)
}
