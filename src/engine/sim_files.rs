//! `diff`, `cp`, `export` and `commit`'s layer for simulated containers:
//! the same verbs over the simulated host's layered filesystem (the image's
//! layers, the container's upper layer, and, while it runs, what its
//! program changed by now). Host files are read and written only where the
//! user named them (`cp`'s host side, the export file).

use super::files::Change;
use crate::build::context::{CopyAttrs, LayerWriter};
use crate::container::Container;
use crate::image::{LayerInfo, Store};
use crate::kernel::sim::fs::{Node, SimFs};
use crate::kernel::sim::upper::{self, FsPatch};
use crate::kernel::sim::{host, volumes};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn layers(root: &Path, c: &Container) -> Result<Vec<LayerInfo>> {
    let store = Store::open(root)?;
    let image = store.image_for_container(&c.image_id)?.with_context(|| {
        format!(
            "the image of container {} ({}) is no longer in the store",
            c.name, c.image_id
        )
    })?;
    Ok(image.layers)
}

/// `diff`: A, C and D paths, as overlayfs would show them in the upper dir
/// (the directories above a change count as changed).
pub fn changes(root: &Path, c: &Container) -> Result<Vec<(String, Change)>> {
    let (patch, image, _) = host::container_changes(root, c, &layers(root, c)?)?;
    let mut out: BTreeMap<String, Change> = BTreeMap::new();
    for ch in &patch.changes {
        let mut p = crate::kernel::sim::fs::parent_of(&ch.path).to_string();
        while p != "/" {
            if image.node_at(&p).is_some() {
                out.entry(p.clone()).or_insert(Change::Changed);
            } else {
                out.entry(p.clone()).or_insert(Change::Added);
            }
            p = crate::kernel::sim::fs::parent_of(&p).to_string();
        }
        let kind = match (&ch.node, image.node_at(&ch.path)) {
            (None, _) => Change::Deleted,
            (Some(_), Some(_)) => Change::Changed,
            (Some(_), None) => Change::Added,
        };
        out.insert(ch.path.clone(), kind);
    }
    Ok(out.into_iter().collect())
}

/// `commit`'s layer: the container's changes as an OCI layer tar.
pub fn layer_tar(root: &Path, c: &Container, w: &mut dyn Write) -> Result<()> {
    let (patch, _, fs) = host::container_changes(root, c, &layers(root, c)?)?;
    w.write_all(&patch.to_layer_tar(&fs)?)?;
    Ok(())
}

/// `export`: the whole filesystem as a tar (mount points empty, as the
/// real export's private overlay shows them).
pub fn export(root: &Path, c: &Container, out: &mut dyn Write) -> Result<()> {
    let (fs, mounts) = host::container_fs(root, c, &layers(root, c)?)?;
    let mut whole = FsPatch::between(&SimFs::new(), &fs, &mounts);
    // The mount points themselves stay, empty: directories as they are,
    // the bound files (/etc/hostname, hosts, resolv.conf) as the empty
    // files the real start makes in the upper dir to bind onto (so they
    // are there once it ever started, running or not).
    let mut points = mounts.clone();
    if c.state.started_at.is_some() {
        for p in super::files::MOUNT_POINTS {
            let p = format!("/{p}");
            if !points.contains(&p) {
                points.push(p);
            }
        }
    }
    for m in &points {
        let bound_file = super::files::MOUNT_POINTS.contains(&m.trim_start_matches('/'));
        let node = match fs.node_at(m) {
            Some(n) if n.is_dir() => n.clone(),
            Some(Node::File { .. }) | None if bound_file => Node::File {
                mode: 0o644,
                uid: 0,
                gid: 0,
                data: Vec::new(),
            },
            _ => continue,
        };
        whole.changes.retain(|ch| &ch.path != m);
        whole.changes.push(upper::Change {
            path: m.clone(),
            node: Some(node),
            size: 0,
            mtime: fs.mtime_of(m),
        });
    }
    whole.changes.sort_by(|a, b| a.path.cmp(&b.path));
    out.write_all(&whole.to_layer_tar(&fs)?)?;
    out.flush()?;
    Ok(())
}

/// Where a copy lands: docker cp's rules (into an existing directory by
/// name, `SRC/.` copies the contents).
fn target(dest: &str, dest_is_dir: bool, name: &str, contents: bool) -> String {
    if dest_is_dir && !contents {
        format!("{}/{}", dest.trim_end_matches('/'), name)
    } else {
        dest.to_string()
    }
}

/// `cp CONTAINER:SRC HOSTDEST`: the node (a tree for a directory) written
/// to the host where the user asked.
pub fn copy_from(root: &Path, c: &Container, src: &str, dest: &Path) -> Result<()> {
    let (fs, _) = volumes::copy_view(root, c, &layers(root, c)?)?;
    let Some((abs, node)) = fs.lookup(src, "/").map(|(a, n)| (a, n.clone())) else {
        crate::exit_err!(1, "Could not find the file {src} in container {}", c.name);
    };
    let contents = src.ends_with("/.");
    let name = crate::kernel::sim::fs::basename(&abs).to_string();
    let dest_s = dest.display().to_string();
    let out = target(&dest_s, dest.is_dir(), &name, contents);
    write_out(&fs, &abs, &node, Path::new(&out))
}

fn write_out(fs: &SimFs, abs: &str, node: &Node, to: &Path) -> Result<()> {
    match node {
        Node::Dir { mode, .. } => {
            std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(*mode & 0o7777))?;
            for name in fs.list_dir(abs, "/").unwrap_or_default() {
                let child = format!("{}/{}", abs.trim_end_matches('/'), name);
                if let Some(n) = fs.node_at(&child) {
                    write_out(fs, &child, &n.clone(), &to.join(&name))?;
                }
            }
            Ok(())
        }
        Node::File { mode, data, .. } => {
            std::fs::write(to, data).with_context(|| format!("write {}", to.display()))?;
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(*mode & 0o7777))?;
            Ok(())
        }
        Node::Symlink { target } => {
            let _ = std::fs::remove_file(to);
            std::os::unix::fs::symlink(target, to)
                .with_context(|| format!("make the symlink {}", to.display()))
        }
        Node::Other { .. } => {
            bail!("{abs} is a device or fifo: cp copies files, directories and symlinks")
        }
    }
}

/// `cp HOSTSRC CONTAINER:DEST`: the host file or tree becomes a patch of
/// the container's filesystem (at this moment of its run, if it runs).
pub fn copy_into(root: &Path, c: &Container, src: &Path, dest: &str) -> Result<()> {
    let layers = layers(root, c)?;
    let (fs, mounts) = volumes::copy_view(root, c, &layers)?;
    let src_s = src.display().to_string();
    let contents = src_s.ends_with("/.");
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest_is_dir = fs.lookup(dest, "/").is_some_and(|(_, n)| n.is_dir());
    let to = target(dest, dest_is_dir, &name, contents);
    let to = crate::kernel::sim::fs::normalize(&to, "/");
    if fs
        .lookup(crate::kernel::sim::fs::parent_of(&to), "/")
        .is_none_or(|(_, n)| !n.is_dir())
    {
        bail!(
            "no such directory: {}",
            crate::kernel::sim::fs::parent_of(&to)
        );
    }
    let mut patch = FsPatch::default();
    read_in(src, &to, &mut patch)?;
    to_container(root, c, &layers, &fs, mounts.as_deref(), patch)
}

/// A copy's patch into the container: what lands under a stopped
/// container's volume or bind goes to its directory, the rest to the
/// container (its upper layer, or its running program).
fn to_container(
    root: &Path,
    c: &Container,
    layers: &[LayerInfo],
    view: &SimFs,
    mounts: Option<&[crate::kernel::sim::SimMount]>,
    patch: FsPatch,
) -> Result<()> {
    let patch = match mounts {
        Some(m) => volumes::copy_into_mounts(m, view, patch)?,
        None => patch,
    };
    host::patch_container(root, c, layers, patch)
}

fn read_in(src: &Path, to: &str, patch: &mut FsPatch) -> Result<()> {
    let m = std::fs::symlink_metadata(src)
        .with_context(|| format!("could not find {} on the host", src.display()))?;
    let mode = m.permissions().mode() & 0o7777;
    let (uid, gid) = (m.uid(), m.gid());
    let mtime = m.mtime().max(0) as u64;
    let ft = m.file_type();
    let node = if ft.is_dir() {
        Node::Dir { mode, uid, gid }
    } else if ft.is_symlink() {
        Node::Symlink {
            target: std::fs::read_link(src)?.to_string_lossy().into_owned(),
        }
    } else if ft.is_file() {
        Node::File {
            mode,
            uid,
            gid,
            data: std::fs::read(src).with_context(|| format!("read {}", src.display()))?,
        }
    } else {
        bail!("{} is not a file, directory or symlink", src.display())
    };
    patch.changes.push(upper::Change {
        path: to.to_string(),
        node: Some(node),
        size: if ft.is_file() { m.len() } else { 0 },
        mtime,
    });
    if ft.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let child = format!("{}/{}", to.trim_end_matches('/'), n.to_string_lossy());
            read_in(&src.join(&n), &child, patch)?;
        }
    }
    Ok(())
}

/// `cp CONTAINER:SRC -`: SRC as a tar stream on `out`, named by its last
/// component (`.` for the root), as the real copy writes it.
pub fn copy_from_as_tar(
    root: &Path,
    c: &Container,
    src: &str,
    follow_link: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let (fs, _) = volumes::copy_view(root, c, &layers(root, c)?)?;
    let found = if follow_link {
        fs.lookup(src, "/")
    } else {
        fs.lstat(src, "/")
    };
    let Some((abs, _)) = found else {
        crate::exit_err!(1, "Could not find the file {src} in container {}", c.name);
    };
    let name = match crate::kernel::sim::fs::basename(src.trim_end_matches('/')) {
        "" | "." => ".".to_string(),
        n => n.to_string(),
    };
    out.write_all(&upper::tree_tar(&fs, &abs, &name)?)?;
    out.flush()?;
    Ok(())
}

/// `cp - CONTAINER:DEST`: a tar stream unpacked into the directory DEST,
/// as a patch of the container's filesystem (at this moment of its run, if
/// it runs). The real copy's rules: entries that leave DEST are refused,
/// each needs its parent directory, a file never replaces a directory,
/// what is made belongs to root, hard links, devices and fifos are skipped.
pub fn copy_into_from_tar(
    root: &Path,
    c: &Container,
    input: &mut dyn std::io::Read,
    dest: &str,
) -> Result<()> {
    use crate::kernel::sim::fs::{normalize, parent_of};
    let layers = layers(root, c)?;
    let (mut fs, mounts) = volumes::copy_view(root, c, &layers)?;
    let view = fs.clone();
    let Some((dest_abs, _)) = fs.lookup(dest, "/").filter(|(_, n)| n.is_dir()) else {
        bail!("destination directory {dest} does not exist in the container");
    };
    let mut patch = FsPatch::default();
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(rel) = super::files::archive_entry_name(&entry.path()?)? else {
            continue;
        };
        let rel = rel.as_str();
        let logical = normalize(&format!("{}/{rel}", dest_abs.trim_end_matches('/')), "/");
        let parent = parent_of(&logical).to_string();
        // The parent as the real copy opens it: symlinks resolved inside the container.
        let Some((parent_abs, _)) = fs.lookup(&parent, "/").filter(|(_, n)| n.is_dir()) else {
            bail!("{logical}: no such directory {parent}");
        };
        let at = format!(
            "{}/{}",
            parent_abs.trim_end_matches('/'),
            crate::kernel::sim::fs::basename(&logical)
        );
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let mtime = entry.header().mtime().unwrap_or(0);
        let existing_dir = fs.node_at(&at).is_some_and(|n| n.is_dir());
        let node = match entry.header().entry_type() {
            tar::EntryType::Directory => Node::Dir {
                mode,
                uid: 0,
                gid: 0,
            },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if existing_dir {
                    bail!("cannot overwrite directory {logical} with a file");
                }
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data)?;
                Node::File {
                    mode,
                    uid: 0,
                    gid: 0,
                    data,
                }
            }
            tar::EntryType::Symlink => {
                if existing_dir {
                    bail!("cannot overwrite directory {logical} with a symlink");
                }
                let target = entry
                    .link_name()?
                    .context("symlink without a target")?
                    .to_string_lossy()
                    .into_owned();
                Node::Symlink { target }
            }
            // Hard links, devices and fifos are not unpacked.
            _ => continue,
        };
        let size = match &node {
            Node::File { data, .. } => data.len() as u64,
            _ => 0,
        };
        let change = upper::Change {
            path: at,
            node: Some(node),
            size,
            mtime,
        };
        // A directory that exists keeps what it holds (only its mode changes).
        let one = FsPatch {
            changes: vec![change.clone()],
        };
        one.apply(&mut fs);
        patch.changes.push(change);
    }
    to_container(root, c, &layers, &view, mounts.as_deref(), patch)
}

/// An image's files as the simulated kernel reads them (its layer blobs,
/// lowest first, never unpacked): what `build` asks of the step's image
/// on the simulated host (does the WORKDIR or COPY destination exist, the
/// passwd for `--chown`, the sources of `COPY --from`).
pub struct ImageFiles {
    fs: SimFs,
    root: std::path::PathBuf,
    layers: Vec<LayerInfo>,
}

impl ImageFiles {
    pub fn open(root: &Path, layers: &[LayerInfo]) -> Result<ImageFiles> {
        Ok(ImageFiles {
            fs: host::layered_fs(root, layers, None)?,
            root: root.to_path_buf(),
            layers: layers.to_vec(),
        })
    }

    /// Whether `rel` (relative to the image's root) exists, and is a
    /// directory (symlinks followed inside the image).
    pub fn kind(&self, rel: &str) -> Option<bool> {
        self.fs
            .lookup(&format!("/{rel}"), "/")
            .map(|(_, n)| n.is_dir())
    }

    /// A file's whole content (the model keeps only the first 64 KiB of a
    /// file: a longer one is read again from the layer that holds it).
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let (abs, node) = self.fs.lookup(&format!("/{rel}"), "/")?;
        let Node::File { data, .. } = node else {
            return None;
        };
        if !self.fs.is_truncated(&abs) {
            return Some(data.clone());
        }
        self.whole_file(&abs).ok()
    }

    fn whole_file(&self, abs: &str) -> Result<Vec<u8>> {
        let store = Store::open(&self.root)?;
        let want = abs.trim_start_matches('/');
        for layer in self.layers.iter().rev() {
            let mut a = tar::Archive::new(store.open_layer(layer)?);
            for e in a.entries()? {
                let mut e = e?;
                let path = e.path()?.to_string_lossy().into_owned();
                let name = path.trim_start_matches("./").trim_end_matches('/');
                if name == want && e.header().entry_type().is_file() {
                    let mut data = Vec::new();
                    std::io::Read::read_to_end(&mut e, &mut data)?;
                    return Ok(data);
                }
            }
        }
        bail!("{abs}: not found as a regular file in the image's layers")
    }

    /// `COPY --from`: the source `src` (symlinks resolved inside the
    /// image) into the layer being written at `dest`, a directory's
    /// contents into it; returns "dir" or "file".
    pub fn copy_into<W: Write>(
        &self,
        src: &str,
        lw: &mut LayerWriter<W>,
        attrs: &CopyAttrs,
        dest: &str,
        dest_is_dir: bool,
    ) -> Result<&'static str> {
        let Some((abs, node)) = self.fs.lookup(&format!("/{src}"), "/") else {
            bail!("COPY --from: {src}: no such file or directory in the image");
        };
        if node.is_dir() {
            self.children(&abs, lw, attrs, dest)?;
            return Ok("dir");
        }
        let base = crate::kernel::sim::fs::basename(&abs);
        let target = if dest_is_dir {
            crate::build::context::join(dest, base)
        } else {
            dest.to_string()
        };
        self.entry(&abs, &target, lw, attrs)?;
        Ok("file")
    }

    fn children<W: Write>(
        &self,
        abs: &str,
        lw: &mut LayerWriter<W>,
        attrs: &CopyAttrs,
        dest: &str,
    ) -> Result<()> {
        let mut names = self.fs.list_dir(abs, "/").unwrap_or_default();
        names.sort();
        for n in names {
            let child = format!("{}/{n}", abs.trim_end_matches('/'));
            self.entry(&child, &crate::build::context::join(dest, &n), lw, attrs)?;
        }
        Ok(())
    }

    /// One node (not following a symlink) as `name`, a directory with all it holds.
    fn entry<W: Write>(
        &self,
        abs: &str,
        name: &str,
        lw: &mut LayerWriter<W>,
        attrs: &CopyAttrs,
    ) -> Result<()> {
        let mtime = self.fs.mtime_of(abs) as i64;
        match self.fs.node_at(abs) {
            Some(n @ Node::Dir { .. }) => {
                lw.dir(name, attrs.chmod.unwrap_or(n.mode()), attrs, mtime)?;
                self.children(abs, lw, attrs, name)
            }
            Some(n @ Node::File { .. }) => {
                let data = self.read(abs.trim_start_matches('/')).unwrap_or_default();
                lw.bytes(name, n.mode(), attrs, mtime, &data)
            }
            Some(Node::Symlink { target }) => lw.symlink(name, target.as_bytes(), attrs, mtime),
            // Devices and fifos are not copied (as from a context).
            Some(Node::Other { .. }) | None => Ok(()),
        }
    }
}
