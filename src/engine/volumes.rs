//! Volumes as verbs: what a container mounts (decided at `create`, made
//! ready and turned into child steps at each `start`), and `volume create`,
//! `ls`, `inspect`, `rm`, `prune`.
//!
//! Never losing a volume in use: a container's record names its volumes
//! (`config.mounts`) before any of them is made, written while `create`
//! holds each one's lock shared (`volume::lock`), and a volume is removed
//! only by `remove` below, which, under the volume's lock held exclusively,
//! checks that no record names it and renames it away in one step; the
//! deletion of the renamed directory follows outside the lock. Killed
//! anywhere, the volume is either whole and in place, or renamed trash
//! that nobody uses.

use super::{store_step, test_pause};
use crate::container::{self, Container};
use crate::error::EXIT_ENGINE;
use crate::image::Image;
use crate::kernel::{Go, StepObserver};
use crate::step::Step;
use crate::volume::lock::VolumeLock;
use crate::volume::{spec, store, MountKind, MountSpec, Volume};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn engine_error(message: String) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(EXIT_ENGINE, message))
}

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct MountFlags {
    /// `-v`/`--volume`.
    pub volumes: Vec<String>,
    /// `--mount`.
    pub mounts: Vec<String>,
    /// `--volumes-from`.
    pub volumes_from: Vec<String>,
}

impl MountFlags {
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.mounts.is_empty() && self.volumes_from.is_empty()
    }
}

/// The image's `VOLUME`s (docker's config keeps them as an object's keys).
pub fn image_volumes(image: &Image) -> Vec<String> {
    let mut v: Vec<String> = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.volumes().clone())
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

/// A container's mounts, decided at `create`: the flags (`-v`, `--mount`)
/// win over `--volumes-from`, which wins over the image's VOLUMEs, for the
/// same destination, as in docker. Nothing is made yet.
pub fn resolve(root: &Path, image: &Image, flags: &MountFlags) -> Result<Vec<MountSpec>> {
    let mut user: Vec<MountSpec> = Vec::new();
    for v in &flags.volumes {
        user.push(spec::parse_volume_flag(v)?);
    }
    for m in &flags.mounts {
        user.push(spec::parse_mount_flag(m)?);
    }
    for (i, m) in user.iter().enumerate() {
        if user[..i].iter().any(|o| o.destination == m.destination) {
            return Err(engine_error(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
    }
    let mut all = user;
    for from in &flags.volumes_from {
        let (key, rw) = spec::parse_volumes_from(from)?;
        let other = container::find(root, &key)
            .map_err(|_| engine_error(format!("No such container: {key}")))?;
        for m in &other.config.mounts {
            if all.iter().any(|o| o.destination == m.destination) {
                continue;
            }
            let mut m = m.clone();
            // Inherited, not made for this container: its `rm -v` keeps it.
            m.anonymous = false;
            if let Some(rw) = rw {
                m.rw = rw;
                m.mode = if rw { "rw".into() } else { "ro".into() };
            }
            all.push(m);
        }
    }
    for dest in image_volumes(image) {
        let dest = spec::clean(&dest);
        if dest == "/" || all.iter().any(|o| o.destination == dest) {
            continue;
        }
        all.push(MountSpec {
            kind: MountKind::Volume,
            name: spec::anonymous_name(),
            source: String::new(),
            destination: dest,
            rw: true,
            mode: String::new(),
            anonymous: true,
            nocopy: false,
            create_source: false,
            tmpfs_options: String::new(),
        });
    }
    for m in &all {
        if m.kind == MountKind::Bind
            && !m.create_source
            && !store::host_side(root, Path::new(&m.source)).exists()
        {
            return Err(engine_error(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
    }
    spec::sort_for_mounting(&mut all);
    Ok(all)
}

/// docker's `HostConfig.Binds`: each `-v` flag that names a source (a
/// host path or a volume), as given.
pub fn binds(flags: &MountFlags) -> Vec<String> {
    flags
        .volumes
        .iter()
        .filter(|v| spec::parse_volume_flag(v).is_ok_and(|m| !m.anonymous))
        .cloned()
        .collect()
}

/// docker's `Config.Volumes`: the image's VOLUMEs and each anonymous `-v /path`.
pub fn config_volumes(image: &Image, flags: &MountFlags) -> Vec<String> {
    let mut v: Vec<String> = image_volumes(image);
    v.extend(
        flags
            .volumes
            .iter()
            .filter_map(|f| spec::parse_volume_flag(f).ok())
            .filter(|m| m.anonymous)
            .map(|m| m.destination),
    );
    v.sort();
    v.dedup();
    v
}

fn anonymous_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(store::ANONYMOUS_LABEL.to_string(), String::new())])
}

/// Make a volume unless it exists (step `volume_create`); Ok(false) when it did.
pub fn create_volume(
    root: &Path,
    observer: &mut dyn StepObserver,
    name: &str,
    labels: &BTreeMap<String, String>,
    anonymous: bool,
) -> Result<bool> {
    spec::check_volume_name(name)?;
    // Under its lock: a concurrent `volume rm` is done before, or after.
    let _lock = VolumeLock::exclusive(root, name)?;
    if store::get(root, name).is_some() {
        return Ok(false);
    }
    let mut labels = labels.clone();
    if anonymous {
        labels.extend(anonymous_labels());
    }
    let step = Step::VolumeCreate {
        name: name.to_string(),
        dir: store::volume_dir(root, name),
        anonymous,
    };
    let mut made = false;
    if store_step(observer, &step, || {
        made = store::create(root, name, &labels, &crate::clock::now_rfc3339())?;
        Ok(())
    })? == Go::Abort
    {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step volume_create; volume {name} was not created"
        );
    }
    Ok(made)
}

/// After `create` recorded the container: make its volumes and `-v` host
/// directories (the record names them first, so no `volume rm` can take a
/// volume between its making and its use).
pub fn prepare(root: &Path, observer: &mut dyn StepObserver, c: &Container) -> Result<()> {
    for m in &c.config.mounts {
        match m.kind {
            MountKind::Volume => {
                create_volume(root, observer, &m.name, &BTreeMap::new(), m.anonymous)?;
            }
            MountKind::Bind => host_dir(root, observer, m)?,
            MountKind::Tmpfs => {}
        }
    }
    Ok(())
}

/// `-v /host:/ctr` with a missing host path: make the directory (docker's
/// rule). On the simulated host the step names the host path and the
/// directory is made under `<simstore>/host-fs`.
fn host_dir(root: &Path, observer: &mut dyn StepObserver, m: &MountSpec) -> Result<()> {
    let path = PathBuf::from(&m.source);
    let made = store::host_side(root, &path);
    if !m.create_source || std::fs::symlink_metadata(&made).is_ok() {
        return Ok(());
    }
    let step = Step::HostDirCreate { path: path.clone() };
    if store_step(observer, &step, || {
        std::fs::create_dir_all(&made).with_context(|| format!("mkdir -p {}", made.display()))
    })? == Go::Abort
    {
        crate::exit_err!(EXIT_ENGINE, "aborted before step host_dir_create");
    }
    Ok(())
}

/// The child steps of a start for the container's mounts (each volume made
/// again if a crash lost it before its first use; `-v` host directories
/// likewise), to go right after the container's own /dev mounts.
pub fn start_steps(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    merged: &Path,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for m in &c.config.mounts {
        let (kind, source) = match m.kind {
            MountKind::Volume => {
                create_volume(root, observer, &m.name, &BTreeMap::new(), m.anonymous)?;
                let data = store::data_dir(root, &m.name);
                let empty = std::fs::read_dir(&data)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if empty && !m.nocopy {
                    steps.push(Step::VolumeSeed {
                        root: merged.to_path_buf(),
                        destination: m.destination.clone(),
                        volume: data.clone(),
                    });
                }
                ("volume", data)
            }
            MountKind::Bind if crate::clock::is_simulated() => {
                host_dir(root, observer, m)?;
                // The simulated kernel maps the host path into its store.
                let on_sim_host = store::host_side(root, Path::new(&m.source));
                if std::fs::symlink_metadata(&on_sim_host).is_err() {
                    return Err(engine_error(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                ("bind", PathBuf::from(&m.source))
            }
            MountKind::Bind => {
                host_dir(root, observer, m)?;
                // A symlinked source is resolved on the host, as docker does.
                let source = std::fs::canonicalize(&m.source).map_err(|e| {
                    engine_error(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {} ({e})",
                        m.source
                    ))
                })?;
                ("bind", source)
            }
            MountKind::Tmpfs => ("tmpfs", PathBuf::from("tmpfs")),
        };
        steps.push(Step::VolumeMount {
            what: kind.into(),
            source,
            root: merged.to_path_buf(),
            destination: m.destination.clone(),
            options: match m.kind {
                MountKind::Tmpfs => ["nosuid", "nodev", &m.tmpfs_options]
                    .iter()
                    .filter(|o| !o.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            },
        });
        if !m.rw {
            steps.push(Step::VolumeRemountRo {
                root: merged.to_path_buf(),
                destination: m.destination.clone(),
            });
        }
    }
    Ok(steps)
}

/// The containers whose records name the volume (the caller holds the
/// volume's lock: no record naming it can appear meanwhile).
fn users_locked(root: &Path, name: &str) -> Result<Vec<Container>> {
    let _store = crate::fsutil::StoreLock::shared(root)?;
    Ok(container::list_locked(root)?
        .into_iter()
        .filter(|c| {
            c.config
                .mounts
                .iter()
                .any(|m| m.kind == MountKind::Volume && m.name == name)
        })
        .collect())
}

/// How a removal ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    Removed,
    InUse(Vec<String>),
}

/// `volume rm NAME`: refused while any container record (running or not)
/// names it; else renamed away under the volume's lock, then deleted.
pub fn remove(root: &Path, observer: &mut dyn StepObserver, name: &str) -> Result<Removed> {
    if store::get(root, name).is_none() {
        crate::exit_err!(1, "No such volume: {name}");
    }
    let dir = store::volume_dir(root, name);
    let trash = store::trash_path(root, name);
    let step = Step::VolumeRemove {
        name: name.to_string(),
        dir: dir.clone(),
        trash: trash.clone(),
    };
    let mut lock = Some(VolumeLock::exclusive(root, name)?);
    let users = users_locked(root, name)?;
    if !users.is_empty() {
        return Ok(Removed::InUse(users.into_iter().map(|c| c.id).collect()));
    }
    if store::get(root, name).is_none() {
        crate::exit_err!(1, "No such volume: {name}");
    }
    test_pause("volume_rm:after_check");
    let go = store_step(observer, &step, || {
        std::fs::rename(&dir, &trash)
            .with_context(|| format!("rename {} to {}", dir.display(), trash.display()))?;
        if let Some(lock) = lock.take() {
            lock.retire();
        }
        test_pause("volume_rm:after_rename");
        std::fs::remove_dir_all(&trash).with_context(|| format!("remove {}", trash.display()))
    })?;
    if go == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step volume_remove; volume {name} was not removed"
        );
    }
    Ok(Removed::Removed)
}

/// `rm -v` and `--rm`: the container's own anonymous volumes, once its
/// record is gone; one another container still uses is kept, as docker does.
pub fn remove_anonymous(root: &Path, observer: &mut dyn StepObserver, c: &Container) -> Result<()> {
    for m in &c.config.mounts {
        if m.kind == MountKind::Volume && m.anonymous && store::get(root, &m.name).is_some() {
            remove(root, observer, &m.name)?;
        }
    }
    Ok(())
}

/// `volume ls` / `inspect`: every volume with the containers using it.
pub fn list(root: &Path) -> Result<Vec<(Volume, Vec<String>)>> {
    store::sweep(root);
    let containers = container::list(root)?;
    Ok(store::list(root)?
        .into_iter()
        .map(|v| {
            let users = containers
                .iter()
                .filter(|c| {
                    c.config
                        .mounts
                        .iter()
                        .any(|m| m.kind == MountKind::Volume && m.name == v.name)
                })
                .map(|c| c.id.clone())
                .collect();
            (v, users)
        })
        .collect())
}

/// `volume prune [-a]`: unused anonymous volumes (all unused with `all`).
/// Returns each removed volume's name and size.
pub fn prune(
    root: &Path,
    observer: &mut dyn StepObserver,
    all: bool,
) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for (v, users) in list(root)? {
        if !users.is_empty() || !(all || v.anonymous()) {
            continue;
        }
        let size = store::size(&v.mountpoint);
        if remove(root, observer, &v.name)? == Removed::Removed {
            out.push((v.name, size));
        }
    }
    Ok(out)
}

/// docker's `volume inspect` object.
pub fn inspect_json(v: &Volume) -> Value {
    json!({
        "CreatedAt": v.meta.created_at,
        "Driver": "local",
        "Labels": if v.meta.labels.is_empty() { Value::Null } else { json!(v.meta.labels) },
        "Mountpoint": v.mountpoint.display().to_string(),
        "Name": v.name,
        "Options": Value::Null,
        "Scope": "local",
    })
}

/// One of docker's inspect `Mounts`, its fields in docker's order.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct MountJson {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    source: String,
    destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<&'static str>,
    mode: String,
    #[serde(rename = "RW")]
    rw: bool,
    propagation: &'static str,
}

/// A container's `Mounts`, as docker's inspect shows them.
pub fn mounts_json(root: &Path, c: &Container) -> Value {
    let mounts: Vec<MountJson> = c
        .config
        .mounts
        .iter()
        .map(|m| match m.kind {
            MountKind::Bind => MountJson {
                kind: "bind",
                name: None,
                source: m.source.clone(),
                destination: m.destination.clone(),
                driver: None,
                mode: m.mode.clone(),
                rw: m.rw,
                propagation: "rprivate",
            },
            MountKind::Volume => MountJson {
                kind: "volume",
                name: Some(m.name.clone()),
                source: store::data_dir(root, &m.name).display().to_string(),
                destination: m.destination.clone(),
                driver: Some("local"),
                mode: m.mode.clone(),
                rw: m.rw,
                propagation: "",
            },
            MountKind::Tmpfs => MountJson {
                kind: "tmpfs",
                name: None,
                source: String::new(),
                destination: m.destination.clone(),
                driver: None,
                mode: String::new(),
                rw: m.rw,
                propagation: "",
            },
        })
        .collect();
    serde_json::to_value(mounts).unwrap_or(Value::Null)
}
