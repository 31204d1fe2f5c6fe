//! A layered, in-memory view of a container's root filesystem for the
//! simulated kernel.
//!
//! The simulator never unpacks an image to disk. Instead it reads the
//! (already uncompressed) layer tar streams, lowest first, and builds a tree
//! of [`Node`]s keyed by absolute, normalised path. Whiteouts are honoured the
//! same way overlayfs honours them for the real runtime, and writes made by
//! the simulated container land in this in-memory tree (the "upper").
//!
//! File contents are kept only up to [`MAX_FILE_DATA`] bytes per file, so a
//! large image (a debian rootfs, say) costs little memory; the real size is
//! remembered for `ls -l`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use anyhow::{bail, Context};

/// How many bytes of each file's content are kept in memory.
pub const MAX_FILE_DATA: usize = 64 * 1024;

/// How many symlinks one lookup may follow (Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: usize = 40;

/// One entry of the filesystem view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Node {
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        data: Vec<u8>,
    },
    Symlink {
        target: String,
    },
    /// A device or fifo: 'c' (character device), 'b' (block device), 'p' (fifo).
    Other {
        kind: char,
    },
}

impl Node {
    /// A directory with mode 0755 owned by root.
    pub fn dir() -> Node {
        Node::Dir {
            mode: 0o755,
            uid: 0,
            gid: 0,
        }
    }

    /// A regular root-owned file with mode 0644.
    pub fn file(data: impl Into<Vec<u8>>) -> Node {
        Node::File {
            mode: 0o644,
            uid: 0,
            gid: 0,
            data: data.into(),
        }
    }

    /// A symlink.
    pub fn symlink(target: impl Into<String>) -> Node {
        Node::Symlink {
            target: target.into(),
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }

    /// Permission bits (and setuid/setgid/sticky); symlinks report 0777,
    /// devices 0666.
    pub fn mode(&self) -> u32 {
        match self {
            Node::Dir { mode, .. } | Node::File { mode, .. } => *mode & 0o7777,
            Node::Symlink { .. } => 0o777,
            Node::Other { .. } => 0o666,
        }
    }

    /// (uid, gid); symlinks and devices are owned by root.
    pub fn owner(&self) -> (u32, u32) {
        match self {
            Node::Dir { uid, gid, .. } | Node::File { uid, gid, .. } => (*uid, *gid),
            _ => (0, 0),
        }
    }
}

/// Errors of filesystem operations, displayed like the C library's strerror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    NotADirectory,
    IsADirectory,
    PermissionDenied,
    /// `mkdir` of something that exists.
    AlreadyExists,
    /// More than [`MAX_SYMLINKS`] symlinks followed.
    TooManyLinks,
    /// A change under a read-only mount (EROFS).
    ReadOnly,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotADirectory => "Not a directory",
            FsError::IsADirectory => "Is a directory",
            FsError::PermissionDenied => "Permission denied",
            FsError::AlreadyExists => "File exists",
            FsError::TooManyLinks => "Too many levels of symbolic links",
            FsError::ReadOnly => "Read-only file system",
        })
    }
}

impl std::error::Error for FsError {}

/// The in-memory filesystem view. Keys are absolute normalised paths
/// ("/", "/bin", "/bin/sh").
#[derive(Debug, Clone)]
pub struct SimFs {
    nodes: BTreeMap<String, Node>,
    /// Real size of files whose data was truncated to [`MAX_FILE_DATA`].
    sizes: BTreeMap<String, u64>,
    /// Modification times (seconds since the epoch) from the layer tars.
    mtimes: BTreeMap<String, u64>,
    /// The container's mount points and whether each is read-only, set when
    /// its program starts (`set_mounts`): the changes programs make through
    /// the methods below are refused (EROFS) under a read-only one, as the
    /// kernel refuses them; the set-up steps and patches are not programs.
    mounts: Vec<(String, bool)>,
}

impl Default for SimFs {
    fn default() -> Self {
        SimFs::new()
    }
}

/// Lexically normalise `path` (relative to `cwd` if not absolute): `.` and
/// empty components dropped, `..` pops (clamped at `/`). Symlinks are not
/// looked at.
pub fn normalize(path: &str, cwd: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let full_rel = !path.starts_with('/');
    let iter_cwd = if full_rel { cwd } else { "" };
    for c in iter_cwd.split('/').chain(path.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    join(&parts)
}

fn join<S: AsRef<str>>(parts: &[S]) -> String {
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut s = String::new();
    for p in parts {
        s.push('/');
        s.push_str(p.as_ref());
    }
    s
}

/// Parent directory of an absolute normalised path ("/" for "/").
pub fn parent_of(abs: &str) -> &str {
    match abs.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &abs[..i],
    }
}

/// Last component of a path ("" for "/").
pub fn basename(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    }
}

fn child_path(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Check and normalise a path from a layer tar: leading "./" and "/"-free,
/// no "..". Returns the absolute path ("/" for the archive root).
fn tar_entry_path(raw: &str) -> anyhow::Result<String> {
    if raw.starts_with('/') {
        bail!("layer entry {raw:?} has an absolute path; refusing to unpack it");
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => bail!("layer entry {raw:?} contains '..'; refusing to unpack it"),
            c => parts.push(c),
        }
    }
    Ok(join(&parts))
}

enum LayerEntry {
    Node(String, Node, u64 /*size*/, u64 /*mtime*/),
    HardLink(String, String, u64 /*mtime*/),
}

impl SimFs {
    /// An empty filesystem: just "/".
    pub fn new() -> SimFs {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::dir());
        SimFs {
            nodes,
            sizes: BTreeMap::new(),
            mtimes: BTreeMap::new(),
            mounts: Vec::new(),
        }
    }

    /// Build the view from layer tar streams (uncompressed), lowest layer
    /// first. Whiteouts (`.wh.<name>`, `.wh..wh..opq`) hide lower-layer
    /// content; hard links get a copy of their target; entries with an
    /// absolute path or `..` are rejected.
    pub fn from_layers(layers: Vec<Box<dyn Read + '_>>) -> anyhow::Result<SimFs> {
        let mut fs = SimFs::new();
        for (i, layer) in layers.into_iter().enumerate() {
            fs.apply_layer(layer)
                .with_context(|| format!("reading layer {} of the image", i + 1))?;
        }
        Ok(fs)
    }

    /// Lay one more layer (an uncompressed tar) on top, whiteouts honoured.
    pub fn apply_layer_bytes(&mut self, tar: &[u8]) -> anyhow::Result<()> {
        self.apply_layer(Box::new(tar))
    }

    fn apply_layer(&mut self, layer: Box<dyn Read + '_>) -> anyhow::Result<()> {
        let mut archive = tar::Archive::new(layer);
        // Whiteouts of a layer only hide lower layers, so read the whole layer
        // first, apply its whiteouts, then add its entries.
        let mut opaque: Vec<String> = Vec::new();
        let mut whiteouts: Vec<String> = Vec::new();
        let mut entries: Vec<LayerEntry> = Vec::new();
        for entry in archive.entries().context("reading tar stream")? {
            let mut entry = entry.context("reading tar entry")?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = tar_entry_path(&raw)?;
            let name = basename(&path).to_string();
            if name == ".wh..wh..opq" {
                opaque.push(parent_of(&path).to_string());
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                if hidden.is_empty() || hidden == "." || hidden == ".." {
                    bail!("layer entry {raw:?} is a malformed whiteout");
                }
                whiteouts.push(child_path(parent_of(&path), hidden));
                continue;
            }
            let header = entry.header();
            let mode = header.mode().unwrap_or(0o644) & 0o7777;
            let uid = header.uid().unwrap_or(0) as u32;
            let gid = header.gid().unwrap_or(0) as u32;
            let mtime = header.mtime().unwrap_or(0);
            let size = header.size().unwrap_or(0);
            let kind = header.entry_type();
            use tar::EntryType as T;
            let node = match kind {
                T::Directory => Node::Dir { mode, uid, gid },
                T::Regular | T::Continuous | T::GNUSparse => {
                    let mut data = Vec::new();
                    (&mut entry)
                        .take(MAX_FILE_DATA as u64)
                        .read_to_end(&mut data)
                        .with_context(|| format!("reading {raw:?}"))?;
                    Node::File {
                        mode,
                        uid,
                        gid,
                        data,
                    }
                }
                T::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    Node::Symlink { target }
                }
                T::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let target =
                        tar_entry_path(&target).with_context(|| format!("hard link {raw:?}"))?;
                    entries.push(LayerEntry::HardLink(path, target, mtime));
                    continue;
                }
                T::Char => Node::Other { kind: 'c' },
                T::Block => Node::Other { kind: 'b' },
                T::Fifo => Node::Other { kind: 'p' },
                // pax/GNU metadata entries are consumed by the tar crate;
                // anything else is not representable here.
                _ => continue,
            };
            entries.push(LayerEntry::Node(path, node, size, mtime));
        }
        for dir in opaque {
            for k in self.subtree_keys(&dir) {
                if k != dir {
                    self.remove_key(&k);
                }
            }
        }
        for p in whiteouts {
            for k in self.subtree_keys(&p) {
                self.remove_key(&k);
            }
        }
        for e in entries {
            match e {
                LayerEntry::Node(path, node, size, mtime) => {
                    self.put(&path, node, size, mtime);
                }
                LayerEntry::HardLink(path, target, mtime) => {
                    let node = match self.nodes.get(&target) {
                        Some(n) => n.clone(),
                        None => bail!(
                            "hard link {path:?} points to {target:?}, which is not in the image"
                        ),
                    };
                    let size = self.size_of(&target);
                    self.put(&path, node, size, mtime);
                }
            }
        }
        Ok(())
    }

    /// Insert a node at an absolute normalised path, creating missing parent
    /// directories and replacing whatever was there (a directory replacing a
    /// directory keeps its children).
    fn put(&mut self, path: &str, node: Node, size: u64, mtime: u64) {
        self.ensure_parents(path);
        let keep_children =
            node.is_dir() && self.nodes.get(path).map(Node::is_dir).unwrap_or(false);
        if !keep_children {
            for k in self.subtree_keys(path) {
                self.remove_key(&k);
            }
        }
        let stored_len = match &node {
            Node::File { data, .. } => data.len() as u64,
            _ => size,
        };
        if matches!(node, Node::File { .. }) && size > stored_len {
            self.sizes.insert(path.to_string(), size);
        } else {
            self.sizes.remove(path);
        }
        if mtime != 0 {
            self.mtimes.insert(path.to_string(), mtime);
        }
        self.nodes.insert(path.to_string(), node);
    }

    fn ensure_parents(&mut self, path: &str) {
        let mut missing = Vec::new();
        let mut p = parent_of(path);
        loop {
            match self.nodes.get(p) {
                Some(n) if n.is_dir() => break,
                Some(_) => {
                    // A non-directory in the way: a later layer put a
                    // directory's content where a file was. Replace it.
                    missing.push(p.to_string());
                }
                None => missing.push(p.to_string()),
            }
            if p == "/" {
                break;
            }
            p = parent_of(p);
        }
        for m in missing.into_iter().rev() {
            for k in self.subtree_keys(&m) {
                self.remove_key(&k);
            }
            self.nodes.insert(m, Node::dir());
        }
    }

    fn remove_key(&mut self, k: &str) {
        if k == "/" {
            return;
        }
        self.nodes.remove(k);
        self.sizes.remove(k);
        self.mtimes.remove(k);
    }

    /// The key itself plus every key below it.
    fn subtree_keys(&self, abs: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.nodes.contains_key(abs) {
            out.push(abs.to_string());
        }
        let prefix = if abs == "/" {
            "/".to_string()
        } else {
            format!("{abs}/")
        };
        for (k, _) in self.nodes.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            if k != abs {
                out.push(k.clone());
            }
        }
        out
    }

    /// Names directly inside directory `abs` (sorted, byte order).
    fn children(&self, abs: &str) -> Vec<String> {
        let prefix = if abs == "/" {
            "/".to_string()
        } else {
            format!("{abs}/")
        };
        let mut out = Vec::new();
        for (k, _) in self.nodes.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            let rest = &k[prefix.len()..];
            if !rest.is_empty() && !rest.contains('/') {
                out.push(rest.to_string());
            }
        }
        out
    }

    /// Resolve `path` (relative to `cwd`) to an absolute path, following
    /// symlinks in every component, and the last one too if `follow_last`.
    /// The last component need not exist (its parent must).
    pub fn resolve(&self, path: &str, cwd: &str, follow_last: bool) -> Result<String, FsError> {
        if path.is_empty() {
            return Err(FsError::NotFound);
        }
        let start = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{cwd}/{path}")
        };
        let mut queue: std::collections::VecDeque<String> = start
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0usize;
        while let Some(c) = queue.pop_front() {
            if c == "." {
                continue;
            }
            if c == ".." {
                cur.pop();
                continue;
            }
            let is_last = queue.iter().all(|c| c == ".");
            cur.push(c);
            let candidate = join(&cur);
            match self.nodes.get(&candidate) {
                Some(Node::Symlink { target }) if !is_last || follow_last => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(FsError::TooManyLinks);
                    }
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    for t in target.split('/').rev() {
                        if !t.is_empty() && t != "." {
                            queue.push_front(t.to_string());
                        }
                    }
                }
                Some(Node::Dir { .. }) => {}
                Some(_) if !is_last => return Err(FsError::NotADirectory),
                Some(_) => {}
                None if !is_last => return Err(FsError::NotFound),
                None => {}
            }
        }
        Ok(join(&cur))
    }

    /// Look a path up, following symlinks (also in the last component).
    pub fn lookup(&self, path: &str, cwd: &str) -> Option<(String, &Node)> {
        let abs = self.resolve(path, cwd, true).ok()?;
        self.nodes.get_key_value(&abs).map(|(k, n)| (k.clone(), n))
    }

    /// Like [`lookup`](Self::lookup) but does not follow a symlink in the
    /// last component (lstat).
    pub fn lstat(&self, path: &str, cwd: &str) -> Option<(String, &Node)> {
        let abs = self.resolve(path, cwd, false).ok()?;
        self.nodes.get_key_value(&abs).map(|(k, n)| (k.clone(), n))
    }

    fn lookup_err(&self, path: &str, cwd: &str) -> Result<(String, &Node), FsError> {
        let abs = self.resolve(path, cwd, true)?;
        match self.nodes.get_key_value(&abs) {
            Some((k, n)) => Ok((k.clone(), n)),
            None => Err(FsError::NotFound),
        }
    }

    /// The (possibly truncated) content of a file. Devices read as empty.
    pub fn read_file(&self, path: &str, cwd: &str) -> Result<Vec<u8>, FsError> {
        match self.lookup_err(path, cwd)?.1 {
            Node::File { data, .. } => Ok(data.clone()),
            Node::Dir { .. } => Err(FsError::IsADirectory),
            Node::Other { .. } => Ok(Vec::new()),
            Node::Symlink { .. } => Err(FsError::NotFound),
        }
    }

    /// Sorted names inside a directory (without "." and "..").
    pub fn list_dir(&self, path: &str, cwd: &str) -> Result<Vec<String>, FsError> {
        let (abs, node) = self.lookup_err(path, cwd)?;
        if !node.is_dir() {
            return Err(FsError::NotADirectory);
        }
        Ok(self.children(&abs))
    }

    /// Write (or append to) a file; a new file is created (0644, root) if its
    /// parent directory exists. Writing to a device succeeds and discards.
    pub fn write_file(
        &mut self,
        path: &str,
        cwd: &str,
        data: &[u8],
        append: bool,
    ) -> Result<(), FsError> {
        let abs = self.resolve(path, cwd, true)?;
        if abs == "/" || path.ends_with('/') && !self.nodes.contains_key(&abs) {
            return Err(FsError::IsADirectory);
        }
        if !matches!(
            self.nodes.get(&abs),
            Some(Node::Dir { .. } | Node::Other { .. })
        ) {
            // A device node stays writable on a read-only mount.
            self.check_writable(&abs)?;
        }
        match self.nodes.get_mut(&abs) {
            Some(Node::Dir { .. }) => Err(FsError::IsADirectory),
            Some(Node::Other { .. }) => Ok(()),
            Some(Node::File { data: d, .. }) => {
                if append {
                    d.extend_from_slice(data);
                } else {
                    *d = data.to_vec();
                }
                if let Some(sz) = self.sizes.get_mut(&abs) {
                    if append {
                        *sz += data.len() as u64;
                    }
                }
                if !append {
                    self.sizes.remove(&abs);
                }
                Ok(())
            }
            Some(Node::Symlink { .. }) => Err(FsError::NotFound), // dangling
            None => {
                match self.nodes.get(parent_of(&abs)) {
                    Some(n) if n.is_dir() => {}
                    Some(_) => return Err(FsError::NotADirectory),
                    None => return Err(FsError::NotFound),
                }
                self.nodes.insert(abs, Node::file(data.to_vec()));
                Ok(())
            }
        }
    }

    /// Create a directory (0755, root); its parent must exist.
    pub fn mkdir(&mut self, path: &str, cwd: &str) -> Result<(), FsError> {
        let abs = self.resolve(path, cwd, false)?;
        if self.nodes.contains_key(&abs) {
            return Err(FsError::AlreadyExists);
        }
        self.check_writable(&abs)?;
        match self.nodes.get(parent_of(&abs)) {
            Some(n) if n.is_dir() => {}
            Some(_) => return Err(FsError::NotADirectory),
            None => return Err(FsError::NotFound),
        }
        self.nodes.insert(abs, Node::dir());
        Ok(())
    }

    /// Remove a file, symlink or (recursively) directory.
    pub fn remove(&mut self, path: &str, cwd: &str) -> Result<(), FsError> {
        let abs = self.resolve(path, cwd, false)?;
        if !self.nodes.contains_key(&abs) {
            return Err(FsError::NotFound);
        }
        self.check_writable(&abs)?;
        for k in self.subtree_keys(&abs) {
            self.remove_key(&k);
        }
        Ok(())
    }

    /// Put kernel-made entries into the view (procfs, /etc/hostname, ...).
    ///
    /// `path` is the mount point (absolute; created with its parents if
    /// missing). Each entry's name is relative to it ("1/cmdline", "self");
    /// an empty name stands for the mount point itself, so
    /// `mount_pseudo("/etc/hostname", vec![("".into(), Node::file("box\n"))])`
    /// replaces one file. Entries replace what was at their path (and its
    /// subtree); other content under `path` is left visible. Missing parent
    /// directories of entries are created.
    pub fn mount_pseudo(&mut self, path: &str, entries: Vec<(String, Node)>) {
        let mount = normalize(path, "/");
        if !self.nodes.get(&mount).map(Node::is_dir).unwrap_or(false)
            && !entries.iter().any(|(n, _)| normalize(n, "/") == "/")
        {
            self.put(&mount, Node::dir(), 0, 0);
        }
        for (name, node) in entries {
            let rel = normalize(&name, "/");
            let abs = if rel == "/" {
                mount.clone()
            } else if mount == "/" {
                rel
            } else {
                format!("{mount}{rel}")
            };
            if abs == "/" && !node.is_dir() {
                continue;
            }
            self.put(&abs, node, 0, 0);
        }
    }

    /// A regular file (after following symlinks) with any execute bit.
    pub fn is_executable(&self, path: &str, cwd: &str) -> bool {
        matches!(self.lookup(path, cwd), Some((_, Node::File { mode, .. })) if mode & 0o111 != 0)
    }

    /// execvp-style lookup. A `cmd` containing '/' is checked directly
    /// (relative to "/"); otherwise each directory of `path_var` is tried in
    /// order. Returns the path as found (symlinks not resolved).
    pub fn find_in_path(&self, cmd: &str, path_var: &str) -> Option<String> {
        if cmd.is_empty() {
            return None;
        }
        if cmd.contains('/') {
            return self.is_executable(cmd, "/").then(|| cmd.to_string());
        }
        for dir in path_var.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let cand = normalize(&format!("{dir}/{cmd}"), "/");
            if self.is_executable(&cand, "/") {
                return Some(cand);
            }
        }
        None
    }

    /// Whether anything (even a dangling symlink) is at `path`.
    pub fn exists(&self, path: &str, cwd: &str) -> bool {
        self.lstat(path, cwd).is_some()
    }

    /// Real size of the node at an absolute path as returned by
    /// [`lookup`](Self::lookup)/[`lstat`](Self::lstat) (files may hold less
    /// data than this when truncated). Directories report 4096.
    pub fn size_of(&self, abs: &str) -> u64 {
        if let Some(s) = self.sizes.get(abs) {
            return *s;
        }
        match self.nodes.get(abs) {
            Some(Node::File { data, .. }) => data.len() as u64,
            Some(Node::Dir { .. }) => 4096,
            Some(Node::Symlink { target }) => target.len() as u64,
            _ => 0,
        }
    }

    /// Bytes of file data at and below the directory `abs` (a tmpfs
    /// mount's usage, for the memory cgroup).
    pub fn data_bytes_under(&self, abs: &str) -> u64 {
        let prefix = format!("{}/", abs.trim_end_matches('/'));
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, n)| match n {
                Node::File { .. } => self.size_of(k),
                _ => 0,
            })
            .sum()
    }

    /// Whether the file at `abs` had its content cut at [`MAX_FILE_DATA`].
    pub fn is_truncated(&self, abs: &str) -> bool {
        self.sizes.contains_key(abs)
    }

    /// Modification time from the image (0 for entries made at run time).
    pub fn mtime_of(&self, abs: &str) -> u64 {
        self.mtimes.get(abs).copied().unwrap_or(0)
    }

    // --- Changes the simulated programs make (mv, ln -s, chmod, touch, cp). ---

    /// The container's mount table, for the read-only check.
    pub fn set_mounts(&mut self, mounts: &[super::SimMount]) {
        self.mounts = mounts
            .iter()
            .map(|m| (m.target.clone(), m.read_only))
            .collect();
    }

    /// EROFS when the mount `abs` lies in (the deepest mount point above
    /// it, the last one mounted there) is read-only.
    pub fn check_writable(&self, abs: &str) -> Result<(), FsError> {
        let under = |target: &str| {
            target == "/"
                || abs == target
                || abs.starts_with(&format!("{}/", target.trim_end_matches('/')))
        };
        let mount = self
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| under(t))
            .max_by_key(|(i, (t, _))| (t.trim_end_matches('/').len(), *i));
        match mount {
            Some((_, (_, true))) => Err(FsError::ReadOnly),
            _ => Ok(()),
        }
    }

    /// utimensat(2) on an existing `abs` (touch): refused on a read-only mount.
    pub fn touch_at(&mut self, abs: &str, t: u64) -> Result<(), FsError> {
        if matches!(self.nodes.get(abs), Some(Node::Other { .. })) {
            return Ok(());
        }
        self.check_writable(abs)?;
        self.set_mtime(abs, t);
        Ok(())
    }

    /// Stamp `abs` as modified at `t` (seconds since the epoch).
    pub fn set_mtime(&mut self, abs: &str, t: u64) {
        if self.nodes.contains_key(abs) {
            self.mtimes.insert(abs.to_string(), t);
        }
    }

    /// Put `node` at `path` (its parent must be a directory); replaces what was there.
    pub fn create(&mut self, path: &str, cwd: &str, node: Node) -> Result<String, FsError> {
        let abs = self.resolve(path, cwd, false)?;
        match self.nodes.get(parent_of(&abs)) {
            Some(n) if n.is_dir() => {}
            Some(_) => return Err(FsError::NotADirectory),
            None => return Err(FsError::NotFound),
        }
        if abs == "/" {
            return Err(FsError::AlreadyExists);
        }
        self.check_writable(&abs)?;
        self.put(&abs, node, 0, 0);
        Ok(abs)
    }

    /// rename(2): move a node and everything below it; a file replaces a file.
    pub fn rename(&mut self, from: &str, to: &str, cwd: &str) -> Result<(), FsError> {
        let src = self.resolve(from, cwd, false)?;
        let dst = self.resolve(to, cwd, false)?;
        if !self.nodes.contains_key(&src) {
            return Err(FsError::NotFound);
        }
        if src == dst {
            return Ok(());
        }
        self.check_writable(&src)?;
        self.check_writable(&dst)?;
        if dst.starts_with(&format!("{src}/")) {
            return Err(FsError::PermissionDenied);
        }
        match self.nodes.get(parent_of(&dst)) {
            Some(n) if n.is_dir() => {}
            Some(_) => return Err(FsError::NotADirectory),
            None => return Err(FsError::NotFound),
        }
        if let Some(n) = self.nodes.get(&dst) {
            if n.is_dir() && !self.children(&dst).is_empty() {
                return Err(FsError::AlreadyExists);
            }
        }
        for k in self.subtree_keys(&dst) {
            self.remove_key(&k);
        }
        for k in self.subtree_keys(&src) {
            let nk = format!("{dst}{}", &k[src.len()..]);
            if let Some(n) = self.nodes.remove(&k) {
                self.nodes.insert(nk.clone(), n);
            }
            if let Some(v) = self.sizes.remove(&k) {
                self.sizes.insert(nk.clone(), v);
            }
            if let Some(v) = self.mtimes.remove(&k) {
                self.mtimes.insert(nk, v);
            }
        }
        Ok(())
    }

    /// chmod(2) on the node `path` leads to (symlinks followed).
    pub fn chmod(&mut self, path: &str, cwd: &str, new: u32) -> Result<(), FsError> {
        let abs = self.resolve(path, cwd, true)?;
        if self.nodes.contains_key(&abs) {
            self.check_writable(&abs)?;
        }
        match self.nodes.get_mut(&abs) {
            Some(Node::Dir { mode, .. }) | Some(Node::File { mode, .. }) => {
                *mode = new & 0o7777;
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(FsError::NotFound),
        }
    }

    /// Number of entries (including "/").
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The node stored at the absolute normalised path `abs` (no symlinks followed).
    pub fn node_at(&self, abs: &str) -> Option<&Node> {
        self.nodes.get(abs)
    }

    /// Put `node` at the absolute path `abs` as a layer would (parents made,
    /// what was there replaced), with its real size and modification time.
    pub fn put_at(&mut self, abs: &str, node: Node, size: u64, mtime: u64) {
        self.put(abs, node, size, mtime);
    }

    /// Remove `abs` and everything below it (a whiteout).
    pub fn remove_at(&mut self, abs: &str) {
        for k in self.subtree_keys(abs) {
            self.remove_key(&k);
        }
    }

    /// Every (path, node), sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builder for in-memory layer tars.
    pub struct TarBuilder {
        b: tar::Builder<Vec<u8>>,
    }

    impl TarBuilder {
        pub fn new() -> Self {
            TarBuilder {
                b: tar::Builder::new(Vec::new()),
            }
        }
        fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(size);
            h.set_mtime(1_700_000_000);
            h
        }
        /// Write a raw name into the header, bypassing the tar crate's
        /// safety checks (to build malicious archives).
        fn raw_name(h: &mut tar::Header, name: &str) {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        pub fn dir(mut self, name: &str) -> Self {
            let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
            Self::raw_name(&mut h, name);
            h.set_cksum();
            self.b.append(&h, &[][..]).unwrap();
            self
        }
        pub fn file(self, name: &str, data: &[u8]) -> Self {
            self.file_mode(name, data, 0o644)
        }
        pub fn file_mode(mut self, name: &str, data: &[u8], mode: u32) -> Self {
            let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
            Self::raw_name(&mut h, name);
            h.set_cksum();
            self.b.append(&h, data).unwrap();
            self
        }
        pub fn symlink(mut self, name: &str, target: &str) -> Self {
            let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
            Self::raw_name(&mut h, name);
            h.set_link_name(target).unwrap();
            h.set_cksum();
            self.b.append(&h, &[][..]).unwrap();
            self
        }
        pub fn hardlink(mut self, name: &str, target: &str) -> Self {
            let mut h = Self::header(tar::EntryType::Link, 0o755, 0);
            Self::raw_name(&mut h, name);
            h.set_link_name(target).unwrap();
            h.set_cksum();
            self.b.append(&h, &[][..]).unwrap();
            self
        }
        pub fn chardev(mut self, name: &str) -> Self {
            let mut h = Self::header(tar::EntryType::Char, 0o666, 0);
            Self::raw_name(&mut h, name);
            h.set_cksum();
            self.b.append(&h, &[][..]).unwrap();
            self
        }
        pub fn build(self) -> Vec<u8> {
            self.b.into_inner().unwrap()
        }
    }

    fn layers(ls: Vec<Vec<u8>>) -> anyhow::Result<SimFs> {
        SimFs::from_layers(
            ls.into_iter()
                .map(|v| Box::new(std::io::Cursor::new(v)) as Box<dyn Read>)
                .collect(),
        )
    }

    /// A small busybox-like image: one base layer and one layer with
    /// whiteouts and additions.
    pub fn busybox_fs() -> SimFs {
        let base = TarBuilder::new()
            .dir("./")
            .dir("./bin/")
            .file_mode("./bin/busybox", b"\x7fELF busybox", 0o755)
            .symlink("./bin/sh", "busybox")
            .hardlink("./bin/echo", "bin/busybox")
            .hardlink("./bin/cat", "bin/busybox")
            .hardlink("./bin/ls", "bin/busybox")
            .hardlink("./bin/hostname", "bin/busybox")
            .hardlink("./bin/ps", "bin/busybox")
            .hardlink("./bin/id", "bin/busybox")
            .hardlink("./bin/env", "bin/busybox")
            .hardlink("./bin/sleep", "bin/busybox")
            .hardlink("./bin/true", "bin/busybox")
            .hardlink("./bin/false", "bin/busybox")
            .hardlink("./bin/pwd", "bin/busybox")
            .hardlink("./bin/vi", "bin/busybox")
            .dir("./etc/")
            .file(
                "./etc/passwd",
                b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
            )
            .file(
                "./etc/group",
                b"root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nnogroup:x:65534:\n",
            )
            .file("./etc/motd", b"old motd\n")
            .dir("./home/")
            .dir("./proc/")
            .dir("./root/")
            .dir("./tmp/")
            .dir("./usr/")
            .dir("./usr/share/")
            .file("./usr/share/a", b"a")
            .file("./usr/share/b", b"b")
            .dir("./var/")
            .dir("./dev/")
            .chardev("./dev/null")
            .build();
        let top = TarBuilder::new()
            .file("etc/.wh.motd", b"")
            .file("usr/share/.wh..wh..opq", b"")
            .file("usr/share/c", b"c")
            .symlink("etc/mtab", "/proc/mounts")
            .file("root/.profile", b"export X=1\n")
            .build();
        layers(vec![base, top]).unwrap()
    }

    #[test]
    fn new_has_root() {
        let fs = SimFs::new();
        assert_eq!(fs.list_dir("/", "/").unwrap(), Vec::<String>::new());
        assert!(fs.lookup("/", "/").unwrap().1.is_dir());
    }

    #[test]
    fn normalize_clamps() {
        assert_eq!(normalize("../../a/./b/", "/x"), "/a/b");
        assert_eq!(normalize("a", "/x/y"), "/x/y/a");
        assert_eq!(normalize("/..", "/x"), "/");
        assert_eq!(normalize("", "/x"), "/x");
    }

    #[test]
    fn layers_build_tree() {
        let fs = busybox_fs();
        assert_eq!(
            fs.list_dir("/", "/").unwrap(),
            vec!["bin", "dev", "etc", "home", "proc", "root", "tmp", "usr", "var"]
        );
        assert!(fs
            .list_dir("/bin", "/")
            .unwrap()
            .contains(&"sh".to_string()));
        assert_eq!(fs.read_file("/etc/passwd", "/").unwrap()[..4], b"root"[..]);
    }

    #[test]
    fn whiteout_removes_lower_file() {
        let fs = busybox_fs();
        assert_eq!(fs.read_file("/etc/motd", "/"), Err(FsError::NotFound));
        assert!(!fs.list_dir("/etc", "/").unwrap().contains(&"motd".into()));
        assert!(!fs
            .list_dir("/etc", "/")
            .unwrap()
            .iter()
            .any(|n| n.starts_with(".wh.")));
    }

    #[test]
    fn opaque_whiteout_hides_lower_keeps_upper() {
        let fs = busybox_fs();
        assert_eq!(fs.list_dir("/usr/share", "/").unwrap(), vec!["c"]);
    }

    #[test]
    fn whiteout_of_directory_removes_subtree() {
        let base = TarBuilder::new()
            .dir("a/")
            .dir("a/b/")
            .file("a/b/f", b"x")
            .file("keep", b"k")
            .build();
        let top = TarBuilder::new().file(".wh.a", b"").build();
        let fs = layers(vec![base, top]).unwrap();
        assert_eq!(fs.list_dir("/", "/").unwrap(), vec!["keep"]);
        assert!(fs.lookup("/a/b/f", "/").is_none());
    }

    #[test]
    fn whiteout_in_same_layer_does_not_hide_own_entries() {
        let base = TarBuilder::new().file("f", b"old").build();
        let top = TarBuilder::new()
            .file("f", b"new")
            .file(".wh.f", b"")
            .build();
        let fs = layers(vec![base, top]).unwrap();
        assert_eq!(fs.read_file("/f", "/").unwrap(), b"new");
    }

    #[test]
    fn file_replacing_dir_drops_subtree_and_dir_keeps_children() {
        let base = TarBuilder::new()
            .dir("d/")
            .file("d/x", b"1")
            .dir("e/")
            .file("e/y", b"2")
            .build();
        let top = TarBuilder::new().file("d", b"now a file").dir("e/").build();
        let fs = layers(vec![base, top]).unwrap();
        assert_eq!(fs.read_file("/d", "/").unwrap(), b"now a file");
        assert!(fs.lookup("/d/x", "/").is_none());
        assert_eq!(fs.read_file("/e/y", "/").unwrap(), b"2");
    }

    #[test]
    fn rejects_dotdot_and_absolute() {
        let evil = TarBuilder::new().file("../etc/passwd", b"x").build();
        let err = layers(vec![evil]).unwrap_err();
        assert!(format!("{err:#}").contains(".."), "{err:#}");
        let evil = TarBuilder::new().file("/etc/passwd", b"x").build();
        let err = layers(vec![evil]).unwrap_err();
        assert!(format!("{err:#}").contains("absolute"), "{err:#}");
        let evil = TarBuilder::new().file("a/../../b", b"x").build();
        assert!(layers(vec![evil]).is_err());
        let evil = TarBuilder::new()
            .file("f", b"x")
            .hardlink("g", "../f")
            .build();
        assert!(layers(vec![evil]).is_err());
    }

    #[test]
    fn hardlink_copies_content_and_missing_target_errors() {
        let fs = busybox_fs();
        assert_eq!(fs.read_file("/bin/echo", "/").unwrap(), b"\x7fELF busybox");
        assert!(fs.is_executable("/bin/echo", "/"));
        let bad = TarBuilder::new().hardlink("x", "nothing").build();
        assert!(layers(vec![bad]).is_err());
    }

    #[test]
    fn implicit_parents_created() {
        let l = TarBuilder::new().file("a/b/c", b"x").build();
        let fs = layers(vec![l]).unwrap();
        assert!(fs.lookup("/a/b", "/").unwrap().1.is_dir());
        assert_eq!(fs.read_file("c", "/a/b").unwrap(), b"x");
    }

    #[test]
    fn big_files_are_truncated_but_size_kept() {
        let big = vec![7u8; MAX_FILE_DATA + 100];
        let l = TarBuilder::new()
            .file("big", &big)
            .file("after", b"ok")
            .build();
        let fs = layers(vec![l]).unwrap();
        assert_eq!(fs.read_file("/big", "/").unwrap().len(), MAX_FILE_DATA);
        assert_eq!(fs.size_of("/big"), (MAX_FILE_DATA + 100) as u64);
        assert!(fs.is_truncated("/big"));
        assert_eq!(fs.read_file("/after", "/").unwrap(), b"ok");
    }

    #[test]
    fn lookup_follows_symlinks_and_dotdot() {
        let fs = busybox_fs();
        let (abs, node) = fs.lookup("/bin/sh", "/").unwrap();
        assert_eq!(abs, "/bin/busybox");
        assert!(matches!(node, Node::File { .. }));
        let (abs, _) = fs.lstat("/bin/sh", "/").unwrap();
        assert_eq!(abs, "/bin/sh");
        assert_eq!(fs.lookup("../../etc", "/bin").unwrap().0, "/etc");
        assert_eq!(fs.lookup("sh", "/bin").unwrap().0, "/bin/busybox");
        assert_eq!(fs.lookup("/..", "/").unwrap().0, "/");
        // dangling symlink: lstat yes, lookup no
        assert!(fs.lookup("/etc/mtab", "/").is_none());
        assert!(fs.lstat("/etc/mtab", "/").is_some());
    }

    #[test]
    fn symlinked_dirs_and_dotdot_after_symlink() {
        let l = TarBuilder::new()
            .dir("usr/")
            .dir("usr/bin/")
            .file_mode("usr/bin/tool", b"x", 0o755)
            .symlink("bin", "usr/bin")
            .symlink("up", "usr/bin/..")
            .build();
        let fs = layers(vec![l]).unwrap();
        assert_eq!(fs.lookup("/bin/tool", "/").unwrap().0, "/usr/bin/tool");
        assert_eq!(fs.lookup("/bin/..", "/").unwrap().0, "/usr");
        assert_eq!(fs.lookup("/up", "/").unwrap().0, "/usr");
        assert_eq!(fs.list_dir("/bin", "/").unwrap(), vec!["tool"]);
        assert_eq!(
            fs.find_in_path("tool", "/sbin:/bin").as_deref(),
            Some("/bin/tool")
        );
    }

    #[test]
    fn symlink_loop_is_bounded() {
        let l = TarBuilder::new()
            .symlink("a", "b")
            .symlink("b", "a")
            .symlink("self", "self/x")
            .build();
        let fs = layers(vec![l]).unwrap();
        assert!(fs.lookup("/a", "/").is_none());
        assert_eq!(fs.read_file("/a", "/"), Err(FsError::TooManyLinks));
        assert!(fs.lookup("/self", "/").is_none());
    }

    #[test]
    fn errors_and_messages() {
        let fs = busybox_fs();
        assert_eq!(fs.read_file("/etc", "/"), Err(FsError::IsADirectory));
        assert_eq!(fs.read_file("/nope", "/"), Err(FsError::NotFound));
        assert_eq!(
            fs.read_file("/etc/passwd/x", "/"),
            Err(FsError::NotADirectory)
        );
        assert_eq!(fs.list_dir("/etc/passwd", "/"), Err(FsError::NotADirectory));
        assert_eq!(FsError::NotFound.to_string(), "No such file or directory");
        assert_eq!(FsError::NotADirectory.to_string(), "Not a directory");
        assert_eq!(FsError::IsADirectory.to_string(), "Is a directory");
        assert_eq!(FsError::PermissionDenied.to_string(), "Permission denied");
    }

    #[test]
    fn write_append_mkdir() {
        let mut fs = busybox_fs();
        fs.write_file("/tmp/x", "/", b"one\n", false).unwrap();
        fs.write_file("x", "/tmp", b"two\n", true).unwrap();
        assert_eq!(fs.read_file("/tmp/x", "/").unwrap(), b"one\ntwo\n");
        fs.write_file("/tmp/x", "/", b"3", false).unwrap();
        assert_eq!(fs.read_file("/tmp/x", "/").unwrap(), b"3");
        assert_eq!(
            fs.write_file("/nodir/x", "/", b"", false),
            Err(FsError::NotFound)
        );
        assert_eq!(
            fs.write_file("/etc", "/", b"", false),
            Err(FsError::IsADirectory)
        );
        assert_eq!(
            fs.write_file("/etc/passwd/x", "/", b"", false),
            Err(FsError::NotADirectory)
        );
        // devices swallow writes
        fs.write_file("/dev/null", "/", b"gone", false).unwrap();
        assert_eq!(fs.read_file("/dev/null", "/").unwrap(), b"");
        fs.mkdir("/tmp/d", "/").unwrap();
        assert_eq!(fs.mkdir("/tmp/d", "/"), Err(FsError::AlreadyExists));
        assert_eq!(fs.mkdir("/no/d", "/"), Err(FsError::NotFound));
        fs.write_file("d/f", "/tmp", b"z", false).unwrap();
        assert_eq!(fs.list_dir("/tmp/d", "/").unwrap(), vec!["f"]);
        fs.remove("/tmp/d", "/").unwrap();
        assert!(fs.lookup("/tmp/d/f", "/").is_none());
    }

    #[test]
    fn write_through_symlink_writes_target() {
        let l = TarBuilder::new()
            .dir("d/")
            .file("d/real", b"")
            .symlink("link", "d/real")
            .build();
        let mut fs = layers(vec![l]).unwrap();
        fs.write_file("/link", "/", b"hi", false).unwrap();
        assert_eq!(fs.read_file("/d/real", "/").unwrap(), b"hi");
        assert!(matches!(
            fs.lstat("/link", "/").unwrap().1,
            Node::Symlink { .. }
        ));
    }

    #[test]
    fn mount_pseudo_entries() {
        let mut fs = busybox_fs();
        fs.mount_pseudo(
            "/proc",
            vec![
                ("1".into(), Node::dir()),
                ("1/cmdline".into(), Node::file("sh\0-c\0ps\0")),
                ("mounts".into(), Node::file("overlay / overlay rw 0 0\n")),
                ("self".into(), Node::symlink("1")),
                ("sys/kernel/hostname".into(), Node::file("box\n")),
            ],
        );
        assert_eq!(
            fs.list_dir("/proc", "/").unwrap(),
            vec!["1", "mounts", "self", "sys"]
        );
        assert_eq!(
            fs.read_file("/proc/self/cmdline", "/").unwrap(),
            b"sh\0-c\0ps\0"
        );
        // /etc/mtab -> /proc/mounts now resolves
        assert!(fs
            .read_file("/etc/mtab", "/")
            .unwrap()
            .starts_with(b"overlay"));
        fs.mount_pseudo("/etc/hostname", vec![("".into(), Node::file("box\n"))]);
        assert_eq!(fs.read_file("/etc/hostname", "/").unwrap(), b"box\n");
        // the rest of /etc is untouched
        assert!(fs.read_file("/etc/passwd", "/").is_ok());
        // a new mount point with parents
        fs.mount_pseudo(
            "/sys/fs/cgroup",
            vec![("cpu.max".into(), Node::file("max 100000\n"))],
        );
        assert_eq!(fs.list_dir("/sys/fs/cgroup", "/").unwrap(), vec!["cpu.max"]);
    }

    #[test]
    fn executables_and_path_search() {
        let fs = busybox_fs();
        assert!(fs.is_executable("/bin/sh", "/"));
        assert!(!fs.is_executable("/etc/passwd", "/"));
        assert!(!fs.is_executable("/bin", "/"));
        assert!(!fs.is_executable("/nope", "/"));
        assert_eq!(
            fs.find_in_path("sh", "/usr/bin:/bin").as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(fs.find_in_path("nosuch", "/usr/bin:/bin"), None);
        assert_eq!(fs.find_in_path("/bin/ls", "").as_deref(), Some("/bin/ls"));
        assert_eq!(fs.find_in_path("/etc/passwd", "/bin"), None);
        assert_eq!(fs.find_in_path("", "/bin"), None);
        assert_eq!(fs.find_in_path("passwd", "/etc"), None);
    }
}
