//! A simulated container's writable layer: what its programs changed in its
//! filesystem, as overlayfs would have kept it in the upper dir.
//!
//! The simulator never writes a container's files to disk as files (it has
//! no root: no whiteout devices, no chown). A change set is an [`FsPatch`]:
//! each changed path with its new node, or `None` for a deletion. Between
//! runs it is kept as an OCI layer tar (`.wh.` whiteouts) in the container's
//! directory, which is exactly what `commit` adds as a layer; during a run,
//! what an `exec` or a `cp` changed is a patch replayed at the moment it
//! happened (see `host`).

use super::fs::{basename, parent_of, Node, SimFs};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One change: the new node at `path` (with its size and mtime), or its removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub node: Option<Node>,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub mtime: u64,
}

/// Changes to a filesystem, parents before children.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsPatch {
    pub changes: Vec<Change>,
}

/// Whether `path` is `root` or below it.
fn under(path: &str, root: &str) -> bool {
    root == "/"
        || path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl FsPatch {
    /// What turns `before` into `after`, ignoring everything at or below
    /// `skip` (mount points: /proc, /dev, the bound /etc files, tmpfs, whose
    /// content never reaches the upper dir).
    pub fn between(before: &SimFs, after: &SimFs, skip: &[String]) -> FsPatch {
        let skipped = |p: &str| p != "/" && skip.iter().any(|s| s != "/" && under(p, s));
        let mut changes = Vec::new();
        for (path, node) in after.iter() {
            if path == "/" || skipped(path) {
                continue;
            }
            let same = before.node_at(path) == Some(node)
                && before.mtime_of(path) == after.mtime_of(path)
                && before.size_of(path) == after.size_of(path);
            if !same {
                changes.push(Change {
                    path: path.to_string(),
                    node: Some(node.clone()),
                    size: after.size_of(path),
                    mtime: after.mtime_of(path),
                });
            }
        }
        let mut gone: Vec<&str> = Vec::new();
        for (path, _) in before.iter() {
            if path == "/" || skipped(path) || after.node_at(path).is_some() {
                continue;
            }
            // Only the top of a removed tree: its whiteout hides the rest.
            if gone.last().is_some_and(|g| under(path, g)) {
                continue;
            }
            gone.push(path);
        }
        changes.extend(gone.into_iter().map(|p| Change {
            path: p.to_string(),
            node: None,
            size: 0,
            mtime: 0,
        }));
        // Removals first would undo a re-created path: order by path, a
        // removal before a node at the same path.
        changes.sort_by(|a, b| {
            a.path
                .cmp(&b.path)
                .then(a.node.is_some().cmp(&b.node.is_some()))
        });
        FsPatch { changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Make the same changes in `fs`.
    pub fn apply(&self, fs: &mut SimFs) {
        for c in &self.changes {
            match &c.node {
                Some(node) => fs.put_at(&c.path, node.clone(), c.size, c.mtime),
                None => fs.remove_at(&c.path),
            }
        }
    }

    /// Apply `later` on top of this patch: the patch of both.
    pub fn then(&self, later: &FsPatch) -> FsPatch {
        let mut all = self.changes.clone();
        for c in &later.changes {
            // A later change at or above a path replaces what was said of it.
            all.retain(|old| !under(&old.path, &c.path));
            all.push(c.clone());
        }
        all.sort_by(|a, b| a.path.cmp(&b.path));
        FsPatch { changes: all }
    }

    /// The patch as an OCI layer tar: entries for new and changed nodes
    /// (with the directories above them, as an upper dir holds them) and a
    /// `.wh.NAME` whiteout for each removal.
    pub fn to_layer_tar(&self, fs: &SimFs) -> Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        let mut written = std::collections::BTreeSet::new();
        for c in &self.changes {
            // The directories above it, as they are now.
            let mut parents = Vec::new();
            let mut p = parent_of(&c.path);
            while p != "/" {
                parents.push(p.to_string());
                p = parent_of(p);
            }
            for dir in parents.into_iter().rev() {
                if written.insert(dir.clone()) {
                    let node = fs.node_at(&dir).cloned().unwrap_or_else(Node::dir);
                    append(&mut b, &dir, &node, 0, fs.mtime_of(&dir))?;
                }
            }
            match &c.node {
                Some(node) => {
                    if written.insert(c.path.clone()) {
                        append(&mut b, &c.path, node, c.size, c.mtime)?;
                    }
                }
                None => {
                    let wh = format!("{}/.wh.{}", parent_of(&c.path), basename(&c.path));
                    let wh = wh.trim_start_matches('/').to_string();
                    let mut h = tar::Header::new_ustar();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(0);
                    b.append_data(&mut h, wh, std::io::empty())
                        .context("write a whiteout")?;
                }
            }
        }
        b.into_inner().context("finish the layer tar")
    }
}

/// The tree at `abs` in `fs` as a tar stream whose top entry is `name`
/// (`cp CONTAINER:SRC -`): a directory with everything below it, sorted.
pub fn tree_tar(fs: &SimFs, abs: &str, name: &str) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    tree_into(&mut b, fs, abs, name)?;
    b.into_inner().context("finish the tar stream")
}

/// Several trees in one tar stream (`tar c`): each `(abs, name)` as in
/// `tree_tar`; also the names written, in order (for `tar cv`).
pub fn trees_tar(fs: &SimFs, items: &[(String, String)]) -> Result<(Vec<u8>, Vec<String>)> {
    let mut b = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    for (abs, name) in items {
        tree_into_named(&mut b, fs, abs, name, &mut names)?;
    }
    Ok((b.into_inner().context("finish the tar stream")?, names))
}

fn tree_into(b: &mut tar::Builder<Vec<u8>>, fs: &SimFs, abs: &str, name: &str) -> Result<()> {
    tree_into_named(b, fs, abs, name, &mut Vec::new())
}

fn tree_into_named(
    b: &mut tar::Builder<Vec<u8>>,
    fs: &SimFs,
    abs: &str,
    name: &str,
    written: &mut Vec<String>,
) -> Result<()> {
    let Some(node) = fs.node_at(abs) else {
        return Ok(());
    };
    written.push(if node.is_dir() {
        format!("{}/", name.trim_end_matches('/'))
    } else {
        name.to_string()
    });
    append(b, name, node, fs.size_of(abs), fs.mtime_of(abs))?;
    if node.is_dir() {
        let mut names = fs.list_dir(abs, "/").unwrap_or_default();
        names.sort();
        for n in names {
            let child = format!("{}/{n}", abs.trim_end_matches('/'));
            tree_into_named(
                b,
                fs,
                &child,
                &format!("{}/{n}", name.trim_end_matches('/')),
                written,
            )?;
        }
    }
    Ok(())
}

/// One tar entry for `node` at `abs`.
fn append(
    b: &mut tar::Builder<Vec<u8>>,
    abs: &str,
    node: &Node,
    size: u64,
    mtime: u64,
) -> Result<()> {
    let name = abs.trim_start_matches('/');
    let mut h = tar::Header::new_ustar();
    h.set_mtime(mtime);
    let (uid, gid) = node.owner();
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mode(node.mode() & 0o7777);
    match node {
        Node::Dir { .. } => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, format!("{name}/"), std::io::empty())
        }
        Node::File { data, .. } => {
            // Data past what the simulator keeps is zeros, at the real size.
            h.set_entry_type(tar::EntryType::Regular);
            let len = size.max(data.len() as u64);
            h.set_size(len);
            let pad = std::io::repeat(0).take_len(len - data.len() as u64);
            b.append_data(&mut h, name, std::io::Read::chain(&data[..], pad))
        }
        Node::Symlink { target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target)
        }
        Node::Other { kind } => {
            h.set_entry_type(match kind {
                'b' => tar::EntryType::Block,
                'p' => tar::EntryType::Fifo,
                _ => tar::EntryType::Char,
            });
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty())
        }
    }
    .with_context(|| format!("write {abs} into the layer tar"))
}

/// `Read::take` by value, named for what it does here.
trait TakeLen: std::io::Read + Sized {
    fn take_len(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeLen for R {}

#[cfg(test)]
mod tests {
    use super::super::fs::tests::busybox_fs;
    use super::*;

    #[test]
    fn a_patch_is_what_changed_and_replays_to_the_same_tree() {
        let before = busybox_fs();
        let mut after = before.clone();
        after.write_file("/newfile", "/", b"data\n", false).unwrap();
        after.remove("/etc/group", "/").unwrap();
        after.mkdir("/proc", "/").ok();
        let patch = FsPatch::between(&before, &after, &["/proc".to_string()]);
        let paths: Vec<(&str, bool)> = patch
            .changes
            .iter()
            .map(|c| (c.path.as_str(), c.node.is_some()))
            .collect();
        assert_eq!(paths, vec![("/etc/group", false), ("/newfile", true)]);
        let mut replayed = before.clone();
        patch.apply(&mut replayed);
        assert_eq!(replayed.read_file("/newfile", "/").unwrap(), b"data\n");
        assert!(!replayed.exists("/etc/group", "/"));

        // As a layer on top of the image, it gives the same tree again.
        let tar = patch.to_layer_tar(&after).unwrap();
        let mut layered = before.clone();
        layered
            .apply_layer_bytes(&tar)
            .expect("the upper tar is a valid layer");
        assert_eq!(layered.read_file("/newfile", "/").unwrap(), b"data\n");
        assert!(!layered.exists("/etc/group", "/"));
    }
}
