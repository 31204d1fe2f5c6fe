//! Unpacking one layer tarball into a directory, safely.
//!
//! A layer is a tar archive of the files it adds or changes. It comes from
//! the network, so it is hostile input: an entry named `../../etc/passwd`,
//! `/etc/passwd`, or `link/evil` after `link -> /etc` would make a naive
//! unpacker write on the host ("tar-slip"). We therefore never let the tar
//! crate pick paths: every entry is checked component by component, every
//! existing parent is `lstat`ed (a symlink is never followed), and files are
//! created relative to `dest` only.
//!
//! Deletions in a layer are *whiteouts* (an AUFS convention docker kept):
//! `.wh.foo` means "foo was deleted", `.wh..wh..opq` means "this directory
//! replaces the one below it". overlayfs spells these differently, so we
//! translate: a character device 0/0 named `foo`, and the xattr
//! `trusted.overlay.opaque=y` on the directory. The unpacked directory can
//! then be used directly as an overlay lowerdir.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
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
    let is_root = nix::unistd::geteuid().is_root();
    let mut stats = UnpackStats::default();
    // Directory modes and mtimes are applied at the end: adding children
    // changes a directory's mtime, and a 0555 directory would block them.
    let mut dir_meta: Vec<(PathBuf, u32, i64)> = Vec::new();

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
                chown(dest, h, is_root)?;
                dir_meta.push((dest.to_path_buf(), h.mode()? & 0o7777, h.mtime()? as i64));
            }
            continue;
        }

        let file_name = rel.file_name().unwrap_or_default().to_owned();
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = ensure_parent(dest, parent_rel)
            .with_context(|| format!("refusing tar entry {name:?}"))?;

        // Whiteouts become overlayfs whiteouts.
        let fname = file_name.as_bytes();
        if fname == OPAQUE_MARKER.as_bytes() {
            set_opaque(&parent, is_root).with_context(|| format!("opaque whiteout {name:?}"))?;
            stats.whiteouts += 1;
            continue;
        }
        if let Some(hidden) = fname.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                bail!("refusing tar entry {name:?}: invalid whiteout name");
            }
            let target = parent.join(OsStr::from_bytes(hidden));
            remove_existing(&target)?;
            mknod(&target, libc::S_IFCHR, 0, 0).with_context(|| format!("whiteout {name:?}"))?;
            stats.whiteouts += 1;
            continue;
        }

        let target = parent.join(&file_name);
        let h = entry.header().clone();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0) as i64;

        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_existing(&target)?;
                        mkdir(&target)?;
                    }
                    Err(_) => mkdir(&target)?,
                }
                chown(&target, &h, is_root)?;
                set_xattrs(&mut entry, &target, is_root)?;
                dir_meta.push((target, mode, mtime));
                stats.dirs += 1;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                if kind == tar::EntryType::GNUSparse {
                    bail!("tar entry {name:?}: sparse files are not supported");
                }
                remove_existing(&target)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)
                    .with_context(|| format!("create {}", target.display()))?;
                let want = entry.size();
                let n = io::copy(&mut entry, &mut f).with_context(|| format!("write {name:?}"))?;
                if n != want {
                    bail!("truncated tar: entry {name:?} has {n} of {want} bytes");
                }
                drop(f);
                chown(&target, &h, is_root)?;
                chmod(&target, mode)?;
                set_xattrs(&mut entry, &target, is_root)?;
                set_mtime(&target, mtime)?;
                stats.files += 1;
                stats.bytes += n;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .context("symlink target")?
                    .ok_or_else(|| anyhow!("tar entry {name:?}: symlink without target"))?
                    .into_owned();
                remove_existing(&target)?;
                // Creating a symlink that points anywhere is harmless; only
                // writing *through* one is not, and ensure_parent forbids that.
                std::os::unix::fs::symlink(&link, &target)
                    .with_context(|| format!("symlink {name:?}"))?;
                chown(&target, &h, is_root)?;
                set_xattrs(&mut entry, &target, is_root)?;
                set_mtime(&target, mtime)?;
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
                if link_rel.as_os_str().is_empty() {
                    bail!("refusing hard link {name:?}: target is the layer root");
                }
                // The target must already be inside dest, reached without symlinks.
                check_no_symlink_parents(dest, link_rel.parent().unwrap_or(Path::new("")))
                    .with_context(|| {
                        format!("refusing hard link {name:?} -> {:?}", link.display())
                    })?;
                let src = dest.join(&link_rel);
                let m = fs::symlink_metadata(&src).with_context(|| {
                    format!("hard link {name:?}: target {:?} not found", link.display())
                })?;
                if m.is_dir() {
                    bail!(
                        "refusing hard link {name:?}: target {:?} is a directory",
                        link.display()
                    );
                }
                if src == target {
                    continue;
                }
                remove_existing(&target)?;
                // std::fs::hard_link is linkat(..., 0): it links a symlink itself, never its target.
                fs::hard_link(&src, &target).with_context(|| format!("hard link {name:?}"))?;
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
                remove_existing(&target)?;
                mknod(&target, fmt | mode, major, minor)
                    .with_context(|| format!("{what} {name:?}"))?;
                chown(&target, &h, is_root)?;
                chmod(&target, mode)?;
                set_xattrs(&mut entry, &target, is_root)?;
                set_mtime(&target, mtime)?;
                stats.devices += 1;
            }
            // GNU long names and PAX headers are folded into the next entry by the tar crate.
            _ => {}
        }
    }

    for (dir, mode, mtime) in dir_meta.iter().rev() {
        chmod(dir, *mode)?;
        set_mtime(dir, *mtime)?;
    }
    Ok(stats)
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

/// Make sure every directory on `rel` exists under `dest` as a real directory
/// (creating missing ones), refusing symlinks. Returns `dest/rel`.
fn ensure_parent(dest: &Path, rel: &Path) -> Result<PathBuf> {
    let mut cur = dest.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!(
                    "parent {:?} is a symlink; writing through it could escape the layer",
                    rel_display(dest, &cur)
                )
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("parent {:?} is not a directory", rel_display(dest, &cur)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => mkdir(&cur)?,
            Err(e) => return Err(e).with_context(|| format!("lstat {}", cur.display())),
        }
    }
    Ok(cur)
}

/// Like `ensure_parent` but creates nothing: every component must be a real directory.
fn check_no_symlink_parents(dest: &Path, rel: &Path) -> Result<()> {
    let mut cur = dest.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        let m = fs::symlink_metadata(&cur)
            .with_context(|| format!("{:?} not found", rel_display(dest, &cur)))?;
        if m.file_type().is_symlink() {
            bail!("{:?} is a symlink", rel_display(dest, &cur));
        }
        if !m.is_dir() {
            bail!("{:?} is not a directory", rel_display(dest, &cur));
        }
    }
    Ok(())
}

fn rel_display(dest: &Path, p: &Path) -> String {
    p.strip_prefix(dest).unwrap_or(p).display().to_string()
}

fn mkdir(p: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o755)
        .create(p)
        .with_context(|| format!("mkdir {}", p.display()))
}

/// Remove whatever is at `p` (file, symlink, device or whole directory), without following symlinks.
fn remove_existing(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(p).with_context(|| format!("remove {}", p.display()))
        }
        Ok(_) => fs::remove_file(p).with_context(|| format!("remove {}", p.display())),
        Err(_) => Ok(()),
    }
}

fn mknod(p: &Path, mode: libc::mode_t, major: u32, minor: u32) -> Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
    // SAFETY: valid NUL-terminated path; mknod does not follow a final symlink (we removed it anyway).
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, libc::makedev(major, minor)) };
    if rc != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("mknod {}", p.display()));
    }
    Ok(())
}

fn chown(p: &Path, h: &tar::Header, is_root: bool) -> Result<()> {
    let uid = h.uid().unwrap_or(0) as u32;
    let gid = h.gid().unwrap_or(0) as u32;
    match std::os::unix::fs::lchown(p, Some(uid), Some(gid)) {
        Ok(()) => Ok(()),
        // Without root we cannot give files away; keep ours (rootless mode).
        Err(_) if !is_root => Ok(()),
        Err(e) => Err(e).with_context(|| format!("chown {}", p.display())),
    }
}

fn chmod(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", p.display()))
}

fn set_mtime(p: &Path, mtime: i64) -> Result<()> {
    let ts = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
    // SAFETY: valid path and a two-element timespec array; AT_SYMLINK_NOFOLLOW touches symlinks themselves.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("set mtime {}", p.display()));
    }
    Ok(())
}

fn set_opaque(dir: &Path, is_root: bool) -> Result<()> {
    match xattr::set(dir, OPAQUE_XATTR, b"y") {
        Ok(()) => Ok(()),
        Err(_) if !is_root => xattr::set(dir, OPAQUE_XATTR_USER, b"y")
            .with_context(|| format!("set {OPAQUE_XATTR_USER} on {}", dir.display())),
        Err(e) => Err(e).with_context(|| format!("set {OPAQUE_XATTR} on {}", dir.display())),
    }
}

/// Extended attributes travel in PAX headers as `SCHILY.xattr.<name>`.
fn set_xattrs<R: Read>(entry: &mut tar::Entry<R>, p: &Path, is_root: bool) -> Result<()> {
    let Some(exts) = entry.pax_extensions().context("read pax headers")? else {
        return Ok(());
    };
    for ext in exts {
        let ext = ext.context("pax header")?;
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        let name = OsStr::from_bytes(name);
        if let Err(e) = xattr::set(p, name, ext.value_bytes()) {
            // trusted.* and security.* need privileges; some filesystems lack xattrs.
            if is_root && e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(e).with_context(|| format!("set xattr {:?} on {}", name, p.display()));
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
