//! Unpacking one layer tarball into a directory, safely.
//!
//! A layer is a tar archive of the files it adds or changes. It comes from
//! the network, so it is hostile input: an entry named `../../etc/passwd`,
//! `/etc/passwd`, or `link/evil` after `link -> /etc` would make a naive
//! unpacker write on the host ("tar-slip"). We therefore never let the tar
//! crate pick paths: every entry is checked component by component, and
//! every operation (create, mkdir, chmod, chown, utimes, link, xattrs,
//! whiteouts) is made relative to a directory fd reached from `dest` with
//! `O_NOFOLLOW` at each step (`fsutil::RootDir`): no symlink is ever
//! followed, not even one that a later entry put where a directory was.
//!
//! Deletions in a layer are *whiteouts* (an AUFS convention docker kept):
//! `.wh.foo` means "foo was deleted", `.wh..wh..opq` means "this directory
//! replaces the one below it". overlayfs spells these differently, so we
//! translate: a character device 0/0 named `foo`, and the xattr
//! `trusted.overlay.opaque=y` on the directory. The unpacked directory can
//! then be used directly as an overlay lowerdir.

use crate::fsutil::{self, Resolve, RootDir};
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Rootless overlay (mounted with `userxattr`) reads the `user.` namespace.
pub const OPAQUE_XATTR_USER: &str = "user.overlay.opaque";

/// What one unpack did (for narration and for the layer's meta.json).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnpackStats {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub devices: u64,
    pub whiteouts: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// Wrap a reader so that gzip input is transparently decompressed. We sniff
/// the gzip magic (`1f 8b`) rather than trust a media type: `docker import`
/// accepts both, and registries sometimes mislabel layers.
pub fn decompressed<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let head = br.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        // MultiGzDecoder: some tools write concatenated gzip members.
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else if head.len() >= 4 && head[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "zstd-compressed layers are not supported",
        ))
    } else {
        Ok(Box::new(br))
    }
}

/// Unpack a plain or gzip-compressed layer tarball into `dest` (created if missing).
pub fn unpack_layer(tar_reader: impl Read, dest: &Path) -> Result<UnpackStats> {
    let r = decompressed(tar_reader).context("read layer")?;
    unpack_tar(r, dest)
}

/// Unpack an *uncompressed* tar stream into `dest`. The store uses this when
/// it has already decompressed (and is hashing) the stream itself.
pub fn unpack_tar(r: impl Read, dest: &Path) -> Result<UnpackStats> {
    fs::create_dir_all(dest).with_context(|| format!("create {}", dest.display()))?;
    let root = RootDir::open(dest)?;
    let is_root = nix::unistd::geteuid().is_root();
    let mut stats = UnpackStats::default();
    // Directory modes and mtimes are applied at the end: adding children
    // changes a directory's mtime, and a 0555 directory would block them.
    // Each is remembered by path *and* inode, and applied only to that very
    // directory, reached again without following any symlink: a later entry
    // may have replaced it (`d/`, then `d -> /etc`).
    let mut dir_meta: Vec<DirMeta> = Vec::new();

    let mut archive = tar::Archive::new(r);
    let entries = archive.entries().context("read tar")?;
    for entry in entries {
        let mut entry = entry.context("read tar entry (truncated or corrupt archive?)")?;
        let raw_path = entry.path().context("tar entry path")?.into_owned();
        let name = raw_path.display().to_string();
        let rel =
            safe_relative(&raw_path).with_context(|| format!("refusing tar entry {name:?}"))?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        stats.entries += 1;

        // The root directory itself ("./"): only its metadata matters.
        if rel.as_os_str().is_empty() {
            if kind.is_dir() {
                let h = entry.header();
                chown(root.fd(), b"", h, is_root, &name)?;
                let st = fsutil::fstat(root.fd())?;
                dir_meta.push(DirMeta {
                    rel: PathBuf::new(),
                    dev: st.st_dev,
                    ino: st.st_ino,
                    mode: h.mode()? & 0o7777,
                    mtime: h.mtime()? as i64,
                });
            }
            continue;
        }

        let file_name = rel.file_name().unwrap_or_default().to_owned();
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        // Every directory on the way is made or opened relative to the one
        // before it, refusing symlinks: `parent` is an fd, not a path.
        let parent = root
            .mkdir_in_root(parent_rel)
            .with_context(|| format!("refusing tar entry {name:?}"))?;
        let pfd = parent.as_fd();

        // Whiteouts become overlayfs whiteouts.
        let fname = file_name.as_bytes();
        if fname == OPAQUE_MARKER.as_bytes() {
            set_opaque(pfd, is_root).with_context(|| format!("opaque whiteout {name:?}"))?;
            stats.whiteouts += 1;
            continue;
        }
        if let Some(hidden) = fname.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                bail!("refusing tar entry {name:?}: invalid whiteout name");
            }
            remove_existing(pfd, hidden, &name)?;
            fsutil::mknod_at(pfd, hidden, libc::S_IFCHR, 0)
                .with_context(|| format!("whiteout {name:?}"))?;
            stats.whiteouts += 1;
            continue;
        }

        let h = entry.header().clone();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0) as i64;

        match kind {
            tar::EntryType::Directory => {
                match fsutil::lstat_at(pfd, fname) {
                    Ok(st) if fsutil::is_dir(&st) => {}
                    Ok(_) => {
                        remove_existing(pfd, fname, &name)?;
                        mkdir(pfd, fname, &name)?;
                    }
                    Err(_) => mkdir(pfd, fname, &name)?,
                }
                chown(pfd, fname, &h, is_root, &name)?;
                set_xattrs(&mut entry, pfd, fname, is_root)?;
                let st = fsutil::lstat_at(pfd, fname).with_context(|| format!("lstat {name:?}"))?;
                dir_meta.push(DirMeta {
                    rel: rel.clone(),
                    dev: st.st_dev,
                    ino: st.st_ino,
                    mode,
                    mtime,
                });
                stats.dirs += 1;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                if kind == tar::EntryType::GNUSparse {
                    bail!("tar entry {name:?}: sparse files are not supported");
                }
                remove_existing(pfd, fname, &name)?;
                let fd = fsutil::openat(
                    pfd,
                    fname,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .with_context(|| format!("create {name:?}"))?;
                let mut f = fs::File::from(fd);
                let want = entry.size();
                let n = io::copy(&mut entry, &mut f).with_context(|| format!("write {name:?}"))?;
                if n != want {
                    bail!("truncated tar: entry {name:?} has {n} of {want} bytes");
                }
                // Owner first: chown clears the set-id bits the mode may carry.
                chown(pfd, fname, &h, is_root, &name)?;
                fsutil::chmod_fd(f.as_fd(), mode).with_context(|| format!("chmod {name:?}"))?;
                drop(f);
                set_xattrs(&mut entry, pfd, fname, is_root)?;
                set_mtime(pfd, fname, mtime, &name)?;
                stats.files += 1;
                stats.bytes += n;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .context("symlink target")?
                    .ok_or_else(|| anyhow!("tar entry {name:?}: symlink without target"))?
                    .into_owned();
                remove_existing(pfd, fname, &name)?;
                // Creating a symlink that points anywhere is harmless; only
                // following one is not, and nothing here ever does.
                fsutil::symlink_at(link.as_os_str().as_bytes(), pfd, fname)
                    .with_context(|| format!("symlink {name:?}"))?;
                chown(pfd, fname, &h, is_root, &name)?;
                set_xattrs(&mut entry, pfd, fname, is_root)?;
                set_mtime(pfd, fname, mtime, &name)?;
                stats.symlinks += 1;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .context("hard link target")?
                    .ok_or_else(|| anyhow!("tar entry {name:?}: hard link without target"))?
                    .into_owned();
                let link_rel = safe_relative(&link).with_context(|| {
                    format!("refusing hard link {name:?} -> {:?}", link.display())
                })?;
                let Some(src_name) = link_rel.file_name() else {
                    bail!("refusing hard link {name:?}: target is the layer root");
                };
                // The target must already be inside dest, reached without symlinks.
                let src_parent =
                    open_dir_no_symlinks(&root, link_rel.parent()).with_context(|| {
                        format!("refusing hard link {name:?} -> {:?}", link.display())
                    })?;
                let src_name = src_name.as_bytes();
                let st = fsutil::lstat_at(src_parent.as_fd(), src_name).with_context(|| {
                    format!("hard link {name:?}: target {:?} not found", link.display())
                })?;
                if fsutil::is_dir(&st) {
                    bail!(
                        "refusing hard link {name:?}: target {:?} is a directory",
                        link.display()
                    );
                }
                if link_rel == rel {
                    continue;
                }
                remove_existing(pfd, fname, &name)?;
                // linkat(..., 0) links a symlink itself, never its target.
                fsutil::link_at(src_parent.as_fd(), src_name, pfd, fname)
                    .with_context(|| format!("hard link {name:?}"))?;
                stats.hardlinks += 1;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (fmt, what) = match kind {
                    tar::EntryType::Char => (libc::S_IFCHR, "char device"),
                    tar::EntryType::Block => (libc::S_IFBLK, "block device"),
                    _ => (libc::S_IFIFO, "fifo"),
                };
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                remove_existing(pfd, fname, &name)?;
                fsutil::mknod_at(pfd, fname, fmt | mode, libc::makedev(major, minor))
                    .with_context(|| format!("{what} {name:?}"))?;
                chown(pfd, fname, &h, is_root, &name)?;
                fsutil::chmod_at(pfd, fname, mode).with_context(|| format!("chmod {name:?}"))?;
                set_xattrs(&mut entry, pfd, fname, is_root)?;
                set_mtime(pfd, fname, mtime, &name)?;
                stats.devices += 1;
            }
            // GNU long names and PAX headers are folded into the next entry by the tar crate.
            _ => {}
        }
    }

    for d in dir_meta.iter().rev() {
        // Only the directory that entry made, reached without symlinks; if a
        // later entry replaced it (or a directory above it), there is nothing to do.
        let Some(fd) = reopen_dir(&root, d) else {
            continue;
        };
        let shown = d.rel.display();
        fsutil::chmod_fd(fd.as_fd(), d.mode).with_context(|| format!("chmod {shown:?}"))?;
        fsutil::set_mtime_at(fd.as_fd(), b"", d.mtime)
            .with_context(|| format!("set mtime {shown:?}"))?;
    }
    Ok(stats)
}

/// A directory whose mode and mtime are set once the whole layer is in.
struct DirMeta {
    rel: PathBuf,
    dev: libc::dev_t,
    ino: libc::ino_t,
    mode: u32,
    mtime: i64,
}

/// An `O_PATH` fd of the directory `d` recorded, if `d.rel` still leads to
/// that same directory (device and inode) without any symlink.
fn reopen_dir(root: &RootDir, d: &DirMeta) -> Option<std::os::fd::OwnedFd> {
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let fd = root
        .open_in_root(d.rel.as_os_str().as_bytes(), flags, 0, Resolve::NoSymlinks)
        .ok()?;
    let st = fsutil::fstat(fd.as_fd()).ok()?;
    (fsutil::is_dir(&st) && st.st_dev == d.dev && st.st_ino == d.ino).then_some(fd)
}

/// An `O_PATH` fd of the existing directory `rel` (none: the root), reached
/// without symlinks; the error names the component that is not a directory.
fn open_dir_no_symlinks(root: &RootDir, rel: Option<&Path>) -> Result<std::os::fd::OwnedFd> {
    let rel = rel.unwrap_or(Path::new(""));
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    match root.open_in_root(rel.as_os_str().as_bytes(), flags, 0, Resolve::NoSymlinks) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            // Say which component is wrong, as a person would look for it.
            let mut cur = PathBuf::new();
            for c in rel.components() {
                cur.push(c);
                match fs::symlink_metadata(root.path().join(&cur)) {
                    Ok(m) if m.file_type().is_symlink() => {
                        bail!("{:?} is a symlink", cur.display().to_string())
                    }
                    Ok(m) if !m.is_dir() => {
                        bail!("{:?} is not a directory", cur.display().to_string())
                    }
                    Ok(_) => {}
                    Err(_) => bail!("{:?} not found", cur.display().to_string()),
                }
            }
            Err(e).with_context(|| format!("open {:?}", rel.display().to_string()))
        }
    }
}

/// Turn a tar path into a relative path with only normal components.
/// `./a/b` is fine; `/a`, `../a` and `a/../../b` are not.
pub fn safe_relative(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => bail!("absolute path"),
            Component::ParentDir => bail!("path contains '..'"),
        }
    }
    Ok(out)
}

fn mkdir(dir: BorrowedFd, name: &[u8], shown: &str) -> Result<()> {
    fsutil::mkdir_at(dir, name, 0o755).with_context(|| format!("mkdir {shown:?}"))
}

/// Remove whatever is at `name` in `dir` (file, symlink, device or whole directory), without following symlinks.
fn remove_existing(dir: BorrowedFd, name: &[u8], shown: &str) -> Result<()> {
    fsutil::remove_all_at(dir, name).with_context(|| format!("remove the old {shown:?}"))
}

fn chown(dir: BorrowedFd, name: &[u8], h: &tar::Header, is_root: bool, shown: &str) -> Result<()> {
    let uid = h.uid().unwrap_or(0) as u32;
    let gid = h.gid().unwrap_or(0) as u32;
    match fsutil::chown_at(dir, name, uid, gid) {
        Ok(()) => Ok(()),
        // Without root we cannot give files away; keep ours (rootless mode).
        Err(_) if !is_root => Ok(()),
        Err(e) => Err(e).with_context(|| format!("chown {shown:?}")),
    }
}

fn set_mtime(dir: BorrowedFd, name: &[u8], mtime: i64, shown: &str) -> Result<()> {
    fsutil::set_mtime_at(dir, name, mtime).with_context(|| format!("set mtime {shown:?}"))
}

/// `/proc/self/fd/<dir>/<name>`: the kernel takes the directory from the fd
/// and then only `name`, which the `l*xattr` calls do not follow.
fn at_path(dir: BorrowedFd, name: &[u8]) -> PathBuf {
    fsutil::proc_fd_path(dir).join(OsStr::from_bytes(if name.is_empty() { b"." } else { name }))
}

fn set_opaque(dir: BorrowedFd, is_root: bool) -> Result<()> {
    let p = at_path(dir, b".");
    match xattr::set(&p, OPAQUE_XATTR, b"y") {
        Ok(()) => Ok(()),
        Err(_) if !is_root => xattr::set(&p, OPAQUE_XATTR_USER, b"y")
            .with_context(|| format!("set {OPAQUE_XATTR_USER}")),
        Err(e) => Err(e).with_context(|| format!("set {OPAQUE_XATTR}")),
    }
}

/// Extended attributes travel in PAX headers as `SCHILY.xattr.<name>`.
fn set_xattrs<R: Read>(
    entry: &mut tar::Entry<R>,
    dir: BorrowedFd,
    file: &[u8],
    is_root: bool,
) -> Result<()> {
    let Some(exts) = entry.pax_extensions().context("read pax headers")? else {
        return Ok(());
    };
    let p = at_path(dir, file);
    for ext in exts {
        let ext = ext.context("pax header")?;
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        let name = OsStr::from_bytes(name);
        // xattr::set is lsetxattr: a symlink itself, never its target.
        if let Err(e) = xattr::set(&p, name, ext.value_bytes()) {
            // trusted.* and security.* need privileges; some filesystems lack xattrs.
            if is_root && e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(e).with_context(|| {
                    format!("set xattr {:?} on {:?}", name, OsStr::from_bytes(file))
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Tar builder that writes raw names (the tar crate's own `append_*` refuses `..`).
    struct T(tar::Builder<Vec<u8>>);
    impl T {
        fn new() -> T {
            T(tar::Builder::new(Vec::new()))
        }
        fn raw(
            &mut self,
            name: &str,
            kind: tar::EntryType,
            link: Option<&str>,
            data: &[u8],
        ) -> &mut Self {
            let mut h = tar::Header::new_gnu();
            {
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                if let Some(l) = link {
                    gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
                }
            }
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_uid(1000);
            h.set_gid(1001);
            h.set_mtime(1_600_000_000);
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }
        fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.raw(name, tar::EntryType::Regular, None, data)
        }
        fn dir(&mut self, name: &str) -> &mut Self {
            self.raw(name, tar::EntryType::Directory, None, b"")
        }
        fn symlink(&mut self, name: &str, to: &str) -> &mut Self {
            self.raw(name, tar::EntryType::Symlink, Some(to), b"")
        }
        fn hardlink(&mut self, name: &str, to: &str) -> &mut Self {
            self.raw(name, tar::EntryType::Link, Some(to), b"")
        }
        fn finish(&mut self) -> Vec<u8> {
            let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
            b.into_inner().unwrap()
        }
    }

    /// A sandbox: `<tmp>/outside/` must stay empty, `<tmp>/layer/dest` receives the unpack.
    struct Sandbox {
        _t: tempfile::TempDir,
        outside: PathBuf,
        dest: PathBuf,
    }
    fn sandbox() -> Sandbox {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        let dest = t.path().join("layer").join("dest");
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(&dest).unwrap();
        Sandbox {
            _t: t,
            outside,
            dest,
        }
    }
    impl Sandbox {
        fn assert_outside_untouched(&self) {
            let n = fs::read_dir(&self.outside).unwrap().count();
            assert_eq!(n, 0, "something was written outside dest");
            let layer = self.dest.parent().unwrap();
            let names: Vec<_> = fs::read_dir(layer)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("dest")]);
        }
    }

    fn refused(tar: Vec<u8>, s: &Sandbox, needle: &str) {
        let err = unpack_layer(&tar[..], &s.dest).expect_err("unpack should fail");
        let msg = format!("{err:#}");
        assert!(
            msg.contains(needle),
            "error {msg:?} should mention {needle:?}"
        );
        s.assert_outside_untouched();
    }

    #[test]
    fn refuses_dotdot() {
        let s = sandbox();
        refused(T::new().file("../x", b"evil").finish(), &s, "../x");
        refused(
            T::new().file("a/../../x", b"evil").finish(),
            &s,
            "a/../../x",
        );
    }

    #[test]
    fn refuses_absolute() {
        let s = sandbox();
        let abs = format!("{}/x", s.outside.display());
        refused(T::new().file(&abs, b"evil").finish(), &s, &abs);
        refused(
            T::new().file("/etc/glassbox-test-x", b"evil").finish(),
            &s,
            "/etc/glassbox-test-x",
        );
        assert!(!Path::new("/etc/glassbox-test-x").exists());
    }

    #[test]
    fn refuses_write_through_absolute_symlink() {
        let s = sandbox();
        let out = s.outside.display().to_string();
        let tar = T::new().symlink("a", &out).file("a/evil", b"evil").finish();
        refused(tar, &s, "a/evil");
        // the symlink itself was created, and that is fine
        assert!(fs::symlink_metadata(s.dest.join("a"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn refuses_write_through_relative_symlink() {
        let s = sandbox();
        let tar = T::new().symlink("b", "..").file("b/evil", b"evil").finish();
        refused(tar, &s, "b/evil");
        let tar = T::new()
            .dir("d")
            .symlink("d/up", "../..")
            .file("d/up/outside/evil", b"e")
            .finish();
        refused(tar, &s, "d/up/outside/evil");
        // a directory entry through a symlink is refused too
        let tar = T::new().symlink("c", "..").dir("c/newdir").finish();
        refused(tar, &s, "c/newdir");
    }

    #[test]
    fn refuses_bad_hardlinks() {
        let s = sandbox();
        refused(T::new().hardlink("h", "../../etc/passwd").finish(), &s, "h");
        refused(
            T::new().hardlink("h", "/etc/passwd").finish(),
            &s,
            "/etc/passwd",
        );
        let out = s.outside.display().to_string();
        fs::write(s.outside.join("secret"), b"s").unwrap();
        let tar = T::new()
            .symlink("l", &out)
            .hardlink("h", "l/secret")
            .finish();
        let err = unpack_layer(&tar[..], &s.dest).unwrap_err();
        assert!(format!("{err:#}").contains("l/secret"), "{err:#}");
        assert!(!s.dest.join("h").exists());
        fs::remove_file(s.outside.join("secret")).unwrap();
        s.assert_outside_untouched();
    }

    #[test]
    fn a_directory_replaced_by_a_symlink_keeps_its_mode_off_the_target() {
        use std::os::unix::fs::PermissionsExt;
        let s = sandbox();
        let victim = s.outside.join("victim");
        fs::write(&victim, b"host").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o640)).unwrap();
        let vdir = s.outside.join("vdir");
        fs::create_dir(&vdir).unwrap();
        fs::set_permissions(&vdir, fs::Permissions::from_mode(0o750)).unwrap();
        let mut t = T::new();
        t.dir("d/").dir("e/").dir("e/inner/");
        // A 04777 directory entry, as a hostile layer would write it.
        let tar = {
            let mut h = tar::Header::new_gnu();
            h.set_path("f/").unwrap();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o4777);
            h.set_size(0);
            h.set_cksum();
            t.0.append(&h, &b""[..]).unwrap();
            t.symlink("d", &victim.display().to_string())
                .symlink("e", &vdir.display().to_string())
                .symlink("f", &victim.display().to_string())
                .finish()
        };
        unpack_layer(&tar[..], &s.dest).unwrap();
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(fs::metadata(&vdir).unwrap().mode() & 0o7777, 0o750);
        assert_ne!(fs::metadata(&victim).unwrap().mtime(), 1_600_000_000);
        assert!(!vdir.join("inner").exists());
        assert_eq!(fs::read_dir(&vdir).unwrap().count(), 0);
        assert!(fs::symlink_metadata(s.dest.join("f"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn overwriting_a_symlink_replaces_it_instead_of_following() {
        let s = sandbox();
        let target = s.outside.join("victim");
        let tar = T::new()
            .symlink("f", &target.display().to_string())
            .file("f", b"data")
            .finish();
        unpack_layer(&tar[..], &s.dest).unwrap();
        assert!(!target.exists());
        assert_eq!(fs::read(s.dest.join("f")).unwrap(), b"data");
        s.assert_outside_untouched();
    }

    #[test]
    fn unpacks_normal_layer_with_metadata() {
        let s = sandbox();
        let tar = T::new()
            .dir("./")
            .dir("./etc/")
            .file("./etc/hello", b"hello world")
            .file("bin/sh", b"#!") // parent created implicitly
            .symlink("./bin/ash", "sh")
            .symlink("abs", "/etc/hello")
            .hardlink("./etc/hello2", "./etc/hello")
            .raw("dev/null", tar::EntryType::Fifo, None, b"")
            .finish();
        let st = unpack_layer(&tar[..], &s.dest).unwrap();
        assert_eq!(st.files, 2);
        assert_eq!(st.symlinks, 2);
        assert_eq!(st.hardlinks, 1);
        assert_eq!(st.bytes, 13);
        let hello = s.dest.join("etc/hello");
        assert_eq!(fs::read(&hello).unwrap(), b"hello world");
        let m = fs::metadata(&hello).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o644);
        assert_eq!(m.mtime(), 1_600_000_000);
        assert_eq!(m.nlink(), 2);
        assert_eq!(
            m.ino(),
            fs::metadata(s.dest.join("etc/hello2")).unwrap().ino()
        );
        if is_root() {
            assert_eq!((m.uid(), m.gid()), (1000, 1001));
        }
        assert_eq!(
            fs::read_link(s.dest.join("bin/ash")).unwrap(),
            Path::new("sh")
        );
        assert_eq!(
            fs::read_link(s.dest.join("abs")).unwrap(),
            Path::new("/etc/hello")
        );
        assert!(fs::symlink_metadata(s.dest.join("dev/null"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            fs::metadata(s.dest.join("etc")).unwrap().mtime(),
            1_600_000_000
        );
        s.assert_outside_untouched();
    }

    #[test]
    fn hardlink_to_a_symlink_links_the_symlink_itself() {
        let s = sandbox();
        let tar = T::new()
            .symlink("l", "/etc/passwd")
            .hardlink("h", "l")
            .finish();
        unpack_layer(&tar[..], &s.dest).unwrap();
        assert!(fs::symlink_metadata(s.dest.join("h"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn device_nodes() {
        if !is_root() {
            eprintln!("skipping device_nodes: needs root for mknod");
            return;
        }
        let s = sandbox();
        let mut t = T::new();
        let mut h = tar::Header::new_gnu();
        h.set_path("dev/zero").unwrap();
        h.set_entry_type(tar::EntryType::Char);
        h.set_device_major(1).unwrap();
        h.set_device_minor(5).unwrap();
        h.set_mode(0o666);
        h.set_size(0);
        h.set_cksum();
        t.0.append(&h, &b""[..]).unwrap();
        let tar = t.finish();
        unpack_layer(&tar[..], &s.dest).unwrap();
        let m = fs::symlink_metadata(s.dest.join("dev/zero")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), libc::makedev(1, 5));
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        if !is_root() {
            eprintln!("skipping whiteouts test: needs root for mknod 0/0");
            return;
        }
        let s = sandbox();
        let tar = T::new()
            .dir("etc/")
            .file("etc/.wh.motd", b"")
            .dir("var/cache/")
            .file("var/cache/.wh..wh..opq", b"")
            .file(".wh.gone", b"")
            .finish();
        let st = unpack_layer(&tar[..], &s.dest).unwrap();
        assert_eq!(st.whiteouts, 3);
        for p in ["etc/motd", "gone"] {
            let m = fs::symlink_metadata(s.dest.join(p)).unwrap();
            assert!(m.file_type().is_char_device(), "{p}");
            assert_eq!(m.rdev(), 0);
        }
        assert!(!s.dest.join("etc/.wh.motd").exists());
        assert!(!s.dest.join("var/cache/.wh..wh..opq").exists());
        match xattr::get(s.dest.join("var/cache"), OPAQUE_XATTR) {
            Ok(v) => assert_eq!(v.as_deref(), Some(&b"y"[..])),
            Err(e) => eprintln!("filesystem without trusted xattrs? {e}"),
        }
        // a whiteout cannot escape either
        refused(T::new().file("../.wh.x", b"").finish(), &s, "../.wh.x");
        refused(
            T::new().file(".wh...", b"").finish(),
            &s,
            "invalid whiteout",
        );
    }

    #[test]
    fn gzip_and_xattrs() {
        let s = sandbox();
        let mut b = tar::Builder::new(Vec::new());
        // PAX xattr header for the following entry
        b.append_pax_extensions([("SCHILY.xattr.user.glassbox", &b"yes"[..])])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(2);
        h.set_mode(0o600);
        h.set_cksum();
        b.append(&h, &b"hi"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        unpack_layer(&gz[..], &s.dest).unwrap();
        assert_eq!(fs::read(s.dest.join("f")).unwrap(), b"hi");
        if let Ok(v) = xattr::get(s.dest.join("f"), "user.glassbox") {
            // tmpfs before 6.6 has no user xattrs; then nothing was set and that is fine
            if v.is_some() {
                assert_eq!(v.as_deref(), Some(&b"yes"[..]));
            }
        }
    }

    #[test]
    fn truncated_and_garbage_input_fail_cleanly() {
        let s = sandbox();
        let tar = T::new().file("big", &[7u8; 5000]).finish();
        let err = unpack_layer(&tar[..2048], &s.dest).unwrap_err();
        assert!(format!("{err:#}").contains("big"), "{err:#}");
        let err = unpack_layer(
            &b"this is not a tar archive at all, just some text.............."[..],
            &s.dest,
        );
        // tar sees a short first block: either an error or an empty archive, never a panic
        let _ = err;
        let garbage = vec![0x41u8; 1024];
        assert!(unpack_layer(&garbage[..], &s.dest).is_err());
        let gz_trunc = {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &tar).unwrap();
            let v = gz.finish().unwrap();
            v[..v.len() / 2].to_vec()
        };
        assert!(unpack_layer(&gz_trunc[..], &s.dest).is_err());
    }

    #[test]
    fn safe_relative_cases() {
        assert_eq!(
            safe_relative(Path::new("./a/./b")).unwrap(),
            Path::new("a/b")
        );
        assert_eq!(safe_relative(Path::new("./")).unwrap(), Path::new(""));
        assert!(safe_relative(Path::new("/a")).is_err());
        assert!(safe_relative(Path::new("a/../b")).is_err());
    }
}
