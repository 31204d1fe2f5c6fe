//! Simulated volumes: the same `volume_seed`, `volume_mount` and
//! `volume_remount_ro` steps over the model.
//!
//! A volume's files are real files in the simulated store
//! (`<simstore>/volumes/<name>/_data`, the layout the volume verbs read),
//! and a bind of a host path `/p` is `<simstore>/host-fs/p`: the simulator
//! never touches the host outside its own store. `volume_mount` loads that
//! directory into the container's model at the mount point (its content
//! hides what the image had there, as a mount does) and remembers it as the
//! mount's `backing`; the mount point is left out of the container's upper
//! layer. What programs change under the mount point is written back to
//! the directory when the run ends (a foreground run when it is waited
//! for, a detached one when the simulated host settles it, and, while it
//! runs, before another container mounts the same directory), as the
//! difference between the tree the run started with and the tree now, so
//! two containers' writes to different files both land.
//!
//! Nothing on disk is ever followed: directories are walked with lstat,
//! a symlink is read and written as a link, and a write whose parent on
//! disk is not a real directory below the backing directory is refused.

use super::fs::{Node, SimFs, MAX_FILE_DATA};
use super::upper::FsPatch;
use super::SimMount;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `<store>/host-fs/<path>`: where a simulated host path lives.
pub fn host_path(store_root: &Path, path: &Path) -> PathBuf {
    crate::volume::store::sim_host_path(store_root, path)
}

/// The model path `target` + `rel` ("" is the target itself).
fn model_path(target: &str, rel: &str) -> String {
    if rel.is_empty() {
        target.to_string()
    } else if target == "/" {
        format!("/{rel}")
    } else {
        format!("{target}/{rel}")
    }
}

/// Load `backing` (a directory or a file) into `fs` at `target`, replacing
/// what was there.
pub fn load(fs: &mut SimFs, target: &str, backing: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(backing)
        .with_context(|| format!("the simulated volume {}", backing.display()))?;
    fs.remove_at(target);
    load_node(fs, target, backing, &meta)
}

fn load_node(fs: &mut SimFs, at: &str, path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let mtime = meta.mtime().max(0) as u64;
    let ft = meta.file_type();
    if ft.is_dir() {
        fs.put_at(
            at,
            Node::Dir {
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            },
            0,
            mtime,
        );
        let mut names: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let child = path.join(&name);
            let m = std::fs::symlink_metadata(&child)?;
            load_node(fs, &model_path(at, &name.to_string_lossy()), &child, &m)?;
        }
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path)?;
        fs.put_at(
            at,
            Node::symlink(target.to_string_lossy().into_owned()),
            0,
            mtime,
        );
    } else if ft.is_file() {
        let mut data = Vec::new();
        std::fs::File::open(path)
            .with_context(|| format!("read {}", path.display()))?
            .take(MAX_FILE_DATA as u64)
            .read_to_end(&mut data)?;
        fs.put_at(
            at,
            Node::File {
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                data,
            },
            meta.len(),
            mtime,
        );
    } else {
        fs.put_at(at, Node::Other { kind: 'c' }, 0, mtime);
    }
    Ok(())
}

/// Whether `path` is `root` or below it.
fn under(path: &str, root: &str) -> bool {
    root == "/" || path == root || path.strip_prefix(root).is_some_and(|r| r.starts_with('/'))
}

/// What changed under `target` from `before` to `after`, leaving out the
/// mounts made below it (their own backing gets theirs).
fn changes_under(before: &SimFs, after: &SimFs, target: &str, nested: &[String]) -> FsPatch {
    let mut patch = FsPatch::between(before, after, nested);
    patch
        .changes
        .retain(|c| c.path != target && under(&c.path, target));
    patch
}

/// The path on disk for the model path `path` under `target`, checked: every
/// directory between `backing` and it is a real directory (no symlink).
fn disk_path(backing: &Path, target: &str, path: &str) -> Result<PathBuf> {
    let rel = path
        .strip_prefix(target.trim_end_matches('/'))
        .unwrap_or(path)
        .trim_start_matches('/');
    let mut at = backing.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    for (i, p) in parts.iter().enumerate() {
        if *p == ".." || *p == "." {
            bail!("{path}: not a plain path");
        }
        if i + 1 < parts.len() {
            at.push(p);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => bail!("{} is not a directory", at.display()),
                Err(e) => return Err(e).with_context(|| format!("{}", at.display())),
            }
        } else {
            at.push(p);
        }
    }
    Ok(at)
}

fn remove_disk(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => std::fs::remove_dir_all(path)?,
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    Ok(())
}

/// Make the changes of `patch` (model paths under `target`) in `backing`.
fn write_patch(patch: &FsPatch, target: &str, backing: &Path) -> Result<()> {
    for c in &patch.changes {
        let disk = disk_path(backing, target, &c.path)?;
        match &c.node {
            None => remove_disk(&disk)?,
            Some(Node::Dir { mode, .. }) => {
                match std::fs::symlink_metadata(&disk) {
                    Ok(m) if m.file_type().is_dir() => {}
                    Ok(_) => {
                        remove_disk(&disk)?;
                        std::fs::create_dir(&disk)?;
                    }
                    Err(_) => std::fs::create_dir(&disk)
                        .with_context(|| format!("mkdir {}", disk.display()))?,
                }
                // The simulator must still be able to write below it.
                std::fs::set_permissions(&disk, std::fs::Permissions::from_mode(mode | 0o700))?;
            }
            Some(Node::File { mode, data, .. }) => {
                if std::fs::symlink_metadata(&disk).is_ok_and(|m| !m.file_type().is_file()) {
                    remove_disk(&disk)?;
                }
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags_nofollow()
                    .open(&disk)
                    .with_context(|| format!("write {}", disk.display()))?;
                std::io::Write::write_all(&mut &f, data)?;
                // Data past what the model keeps reads as zeros, at the real size.
                if c.size > data.len() as u64 {
                    f.set_len(c.size)?;
                }
                f.set_permissions(std::fs::Permissions::from_mode(mode | 0o600))?;
            }
            Some(Node::Symlink { target: link }) => {
                remove_disk(&disk)?;
                std::os::unix::fs::symlink(link, &disk)
                    .with_context(|| format!("symlink {}", disk.display()))?;
            }
            // Device nodes need privileges the simulator does not assume: an
            // empty file stands for one.
            Some(Node::Other { .. }) => {
                remove_disk(&disk)?;
                std::fs::File::create(&disk)?;
            }
        }
    }
    Ok(())
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NOFOLLOW)
    }
}

/// `volume_seed`: the image's files at `destination` (as `fs` has them)
/// copied into the empty volume directory `volume`, under its lock.
pub fn seed(fs: &SimFs, destination: &str, volume: &Path) -> Result<()> {
    let _lock = crate::volume::lock::VolumeLock::exclusive_for_data(volume)?;
    let occupied = std::fs::read_dir(volume)
        .with_context(|| format!("the simulated volume {}", volume.display()))?
        .next()
        .is_some();
    let Ok(at) = fs.resolve(destination, "/", true) else {
        return Ok(());
    };
    if occupied || !fs.node_at(&at).is_some_and(Node::is_dir) {
        return Ok(());
    }
    let empty = {
        let mut e = fs.clone();
        e.remove_at(&at);
        e
    };
    write_patch(&changes_under(&empty, fs, &at, &[]), &at, volume)
}

/// The mounts of `mounts` backed by a directory of the store, each with
/// the mounts made below it.
fn backed(mounts: &[SimMount]) -> Vec<(&SimMount, &Path, Vec<String>)> {
    mounts
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let backing = m.backing.as_deref()?;
            let nested = mounts[i + 1..]
                .iter()
                .filter(|o| o.target != m.target && under(&o.target, &m.target))
                .map(|o| o.target.clone())
                .collect();
            Some((m, backing, nested))
        })
        .collect()
}

/// Write back to each writable volume and bind what changed under its
/// mount point between `before` and `after`.
pub fn write_back(mounts: &[SimMount], before: &SimFs, after: &SimFs) -> Result<()> {
    // A later mount on the same point hides an earlier one: only the last counts.
    let all = backed(mounts);
    for (i, (m, backing, nested)) in all.iter().enumerate() {
        if m.read_only || all[i + 1..].iter().any(|(o, _, _)| o.target == m.target) {
            continue;
        }
        let patch = changes_under(before, after, &m.target, nested);
        if patch.is_empty() {
            continue;
        }
        if std::fs::symlink_metadata(backing).is_ok_and(|md| md.file_type().is_dir()) {
            write_patch(&patch, &m.target, backing)?;
        } else if let Some(Node::File { data, .. }) = after.node_at(&m.target) {
            // A bound file: its new content.
            std::fs::write(backing, data)?;
        }
    }
    Ok(())
}

/// Whether any of `mounts` is backed by `dir`.
pub fn uses(mounts: &[SimMount], dir: &Path) -> bool {
    mounts.iter().any(|m| m.backing.as_deref() == Some(dir))
}

/// The files of `mounts`' volumes and binds as `fs` has them (what a
/// detached run starts with, then what was last written back).
pub fn snapshot(mounts: &[SimMount], fs: &SimFs) -> FsPatch {
    let targets: Vec<&str> = mounts
        .iter()
        .filter(|m| m.backing.is_some())
        .map(|m| m.target.as_str())
        .collect();
    if targets.is_empty() {
        return FsPatch::default();
    }
    let mut patch = FsPatch::between(&SimFs::new(), fs, &[]);
    patch
        .changes
        .retain(|c| targets.iter().any(|t| under(&c.path, t)));
    patch
}

fn from_snapshot(seen: &FsPatch) -> SimFs {
    let mut fs = SimFs::new();
    seen.apply(&mut fs);
    fs
}

/// A detached run, replayed up to now as `fs`: what it changed in its
/// volumes since they were last written back goes to their directories.
pub fn sync_detached(d: &mut super::host::Detached, fs: &SimFs) -> Result<()> {
    if !d.mounts.iter().any(|m| m.backing.is_some()) {
        return Ok(());
    }
    write_back(&d.mounts, &from_snapshot(&d.volumes_seen), fs)?;
    d.volumes_seen = snapshot(&d.mounts, fs);
    Ok(())
}

/// Before a container mounts `backing`: what the simulated host's running
/// programs wrote there so far is written back, so it sees it.
pub fn sync_running(root: &Path, backing: &Path) -> Result<()> {
    let now = crate::clock::now_ms();
    super::host::update(root, |st| {
        for d in st.procs.values_mut() {
            if d.exited.is_none() && uses(&d.mounts, backing) {
                let (_, fs) = d.replay(now)?;
                sync_detached(d, &fs)?;
            }
        }
        Ok(())
    })
}

/// The components of a container path.
fn components(path: &str) -> std::collections::VecDeque<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// Resolve `destination` inside the model's root as `target_in_root` does
/// on the real kernel: symlinks followed as if the root were `/`, `..`
/// stopping at it, missing directories made (the last component an empty
/// file when `dir` is false). Returns the mount point's path in the model.
fn mount_point(fs: &mut SimFs, destination: &str, dir: bool) -> Result<String> {
    let mut pending = components(destination);
    let mut done = "/".to_string();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            done = super::fs::parent_of(&done).to_string();
            continue;
        }
        let here = model_path(&done, &c);
        match fs.node_at(&here).cloned() {
            Some(Node::Symlink { target }) => {
                links += 1;
                if links > super::fs::MAX_SYMLINKS {
                    bail!("mount point {destination}: too many levels of symbolic links");
                }
                if target.starts_with('/') {
                    done = "/".into();
                }
                for t in components(&target).into_iter().rev() {
                    pending.push_front(t);
                }
            }
            Some(Node::Dir { .. }) => done = here,
            Some(_) if pending.is_empty() => done = here,
            Some(_) => {
                bail!("mount point {destination} in the container: {here} is not a directory")
            }
            None => {
                let node = if pending.is_empty() && !dir {
                    Node::file(Vec::new())
                } else {
                    Node::dir()
                };
                fs.put_at(&here, node, 0, 0);
                done = here;
            }
        }
    }
    Ok(done)
}

impl super::SimChild {
    /// `volume_seed`, `volume_mount`, `volume_remount_ro` on the model.
    pub(super) fn apply_volume_step(&mut self, step: &crate::step::Step) -> Result<()> {
        use crate::step::Step;
        let store = self.spec.store_root.clone();
        let inside_store = |p: &Path| -> Result<()> {
            if !p.starts_with(&store)
                || p.components().any(|c| c == std::path::Component::ParentDir)
            {
                bail!(
                    "{} is outside the simulated store: the simulator touches no host file",
                    p.display()
                );
            }
            Ok(())
        };
        match step {
            Step::VolumeSeed {
                destination,
                volume,
                ..
            } => {
                inside_store(volume)?;
                seed(&self.fs, destination, volume)
            }
            Step::VolumeMount {
                what,
                source,
                destination,
                options,
                ..
            } => {
                let (fstype, shown, backing) = match what.as_str() {
                    "tmpfs" => ("tmpfs", "tmpfs".to_string(), None),
                    "volume" => ("bind", source.display().to_string(), Some(source.clone())),
                    _ => (
                        "bind",
                        source.display().to_string(),
                        Some(host_path(&store, source)),
                    ),
                };
                let dir = match &backing {
                    Some(b) => {
                        inside_store(b)?;
                        if let Some(root) = &self.host_root {
                            sync_running(root, b)?;
                        }
                        std::fs::symlink_metadata(b)
                            .with_context(|| format!("the simulated {what} {}", b.display()))?
                            .is_dir()
                    }
                    None => true,
                };
                let target = mount_point(&mut self.fs, destination, dir)?;
                match &backing {
                    Some(b) => load(&mut self.fs, &target, b)?,
                    None => {
                        self.fs.remove_at(&target);
                        let mode = super::mounttab::root_mode("tmpfs", options);
                        self.fs.mount_pseudo(
                            &target,
                            vec![(
                                String::new(),
                                Node::Dir {
                                    mode,
                                    uid: 0,
                                    gid: 0,
                                },
                            )],
                        );
                    }
                }
                // A tmpfs's options are its flags and data, as given.
                let flags = if fstype == "tmpfs" {
                    options.clone()
                } else {
                    String::new()
                };
                self.mounts.push(SimMount {
                    source: shown,
                    target,
                    fstype: fstype.into(),
                    options: flags,
                    read_only: false,
                    bind_from: None,
                    backing,
                });
                Ok(())
            }
            Step::VolumeRemountRo { destination, .. } => {
                let target = self
                    .fs
                    .resolve(destination, "/", true)
                    .map_err(|e| anyhow::anyhow!("mount point {destination}: {e}"))?;
                let m = self
                    .mounts
                    .iter_mut()
                    .rev()
                    .find(|m| m.target == target)
                    .with_context(|| format!("nothing is mounted on {destination}"))?;
                m.read_only = true;
                Ok(())
            }
            other => bail!("{} is not a volume step", other.kind()),
        }
    }

    /// A foreground run was waited for: what it changed in its volumes and
    /// binds goes to their directories.
    pub(super) fn keep_volumes(&self) -> Result<()> {
        if self.entering || self.detached {
            return Ok(());
        }
        match &self.before_exec {
            Some(before) => write_back(&self.mounts, before, &self.fs),
            None => Ok(()),
        }
    }
}

/// The mount points an `exec`'s changes leave out of the patch it sends the
/// running program: those of `host::mount_points` that no directory backs
/// (what an exec writes into a volume reaches the volume, through the
/// program's replay and its next write-back).
pub fn unbacked_points(mounts: &[SimMount]) -> Vec<String> {
    let backed: Vec<&str> = mounts
        .iter()
        .filter(|m| m.backing.is_some())
        .map(|m| m.target.as_str())
        .collect();
    super::host::mount_points(mounts)
        .into_iter()
        .filter(|p| !backed.contains(&p.as_str()))
        .collect()
}

/// A restarted run mounts its volumes afresh: it starts with what their
/// directories hold now, not with what the first run started with.
pub fn reload_for_restart(d: &mut super::host::Detached) -> Result<()> {
    if !d.mounts.iter().any(|m| m.backing.is_some()) {
        return Ok(());
    }
    let base = super::host::layered_fs(&d.store_root, &d.layers, d.upper.as_deref())?;
    let mut fs = base.clone();
    d.setup.apply(&mut fs);
    for m in &d.mounts {
        if let Some(b) = &m.backing {
            load(&mut fs, &m.target, b)?;
        }
    }
    d.setup = FsPatch::between(&base, &fs, &[]);
    d.volumes_seen = snapshot(&d.mounts, &fs);
    Ok(())
}

/// A stopped container's filesystem as `cp` sees it (docker mounts the
/// volumes for it): the image and upper layer, with each volume's and
/// bind's directory loaded at its mount point (resolved as a start
/// resolves it), and those mounts. While it runs: its program's view,
/// which has them already, and None.
pub fn copy_view(
    root: &Path,
    c: &crate::container::Container,
    layers: &[crate::image::LayerInfo],
) -> Result<(SimFs, Option<Vec<SimMount>>)> {
    let (mut fs, points) = super::host::container_fs(root, c, layers)?;
    let running = super::host::load_state(root)?
        .procs
        .get(&c.state.pid)
        .is_some_and(|d| d.container == c.id);
    if running || !points.is_empty() {
        return Ok((fs, None));
    }
    let mut mounts = Vec::new();
    for m in &c.config.mounts {
        let backing = match m.kind {
            crate::volume::MountKind::Volume => crate::volume::store::data_dir(root, &m.name),
            crate::volume::MountKind::Bind => host_path(root, Path::new(&m.source)),
            // A tmpfs keeps nothing once stopped: what is copied there stays in the upper layer.
            crate::volume::MountKind::Tmpfs => continue,
        };
        let Ok(meta) = std::fs::symlink_metadata(&backing) else {
            continue;
        };
        let target = mount_point(&mut fs, &m.destination, meta.is_dir())?;
        load(&mut fs, &target, &backing)?;
        mounts.push(SimMount {
            source: backing.display().to_string(),
            target,
            fstype: "bind".into(),
            options: String::new(),
            read_only: !m.rw,
            bind_from: None,
            backing: Some(backing),
        });
    }
    Ok((fs, Some(mounts)))
}

/// `cp` into a stopped container: the part of `patch` (paths of the view
/// `before`) under its volumes and binds is written to their directories
/// (refused under a read-only one, as the kernel refuses it); the rest is
/// returned, for the upper layer.
pub fn copy_into_mounts(mounts: &[SimMount], before: &SimFs, patch: FsPatch) -> Result<FsPatch> {
    let covering = |path: &str| {
        mounts
            .iter()
            .rev()
            .filter(|m| under(path, &m.target))
            .max_by_key(|m| m.target.len())
    };
    if let Some(ro) = patch
        .changes
        .iter()
        .find(|ch| covering(&ch.path).is_some_and(|m| m.read_only))
    {
        bail!(
            "copy into {}: Read-only file system (mounted read-only at {})",
            ro.path,
            covering(&ro.path).map(|m| m.target.as_str()).unwrap_or("")
        );
    }
    let mut after = before.clone();
    patch.apply(&mut after);
    write_back(mounts, before, &after)?;
    let mut rest = patch;
    rest.changes.retain(|ch| covering(&ch.path).is_none());
    Ok(rest)
}
