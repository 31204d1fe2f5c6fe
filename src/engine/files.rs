//! A container's files from the host: `diff` (the upper dir against the
//! image's layers), `cp` both ways, `export` (the merged filesystem as a
//! tar), and the layer tar `commit` makes of the upper dir.
//!
//! Where the files are:
//! - the writable layer is `<root>/containers/<id>/upper`, the image's layers
//!   `<root>/layers/<chain id>/diff`; overlay marks a deleted file in the
//!   upper dir with a whiteout (a 0/0 character device) and a directory that
//!   hides everything below it with the xattr `trusted.overlay.opaque=y`;
//! - a running container's merged view is `/proc/PID/root`; for a stopped
//!   one a forked helper mounts the overlay in a mount namespace of its own
//!   (nothing appears on the host) and works there.
//!
//! Paths inside a container are resolved the way the container would see
//! them, by the kernel, against a directory fd of its root
//! (`fsutil::RootDir`, openat2 `RESOLVE_IN_ROOT`): symlinks, even absolute
//! ones, stay inside its root and `..` stops there. Every file is then read
//! or made relative to an fd (`openat(O_NOFOLLOW)`, `mkdirat`, `fchmod`),
//! never by a path the kernel would walk again: a container swapping a
//! directory for a symlink while `cp` runs cannot send it to the host.

use crate::confine::userns::IdMap;
use crate::container::{Container, Status};
use crate::error::EXIT_ENGINE;
use crate::fsutil::{self, Resolve, RootDir};
use crate::image::Store;
use crate::kernel::{Go, StepObserver};
use crate::step::{HelperBind, Step};
use crate::volume::MountKind;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files glassbox creates in the upper dir only as mount points for its
/// binds (docker keeps them in an "init" layer): not the container's changes.
pub(crate) const MOUNT_POINTS: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// A whiteout: overlay's mark of a deleted name (a 0:0 character device).
fn is_whiteout(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

/// Whether the directory `fd` (an `O_PATH` fd is fine) carries overlay's
/// opaque xattr. Read through the fd's magic link, `/proc/self/fd/N/.`:
/// the kernel goes to exactly the fd's inode, and the `/.` refuses anything
/// but a directory; no name in the tree is looked up again.
fn fd_is_opaque(fd: BorrowedFd) -> bool {
    let p = fsutil::proc_fd_path(fd).join(".");
    matches!(xattr::get(p, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// The image's unpacked layers, top first.
pub fn lower_dirs(root: &Path, c: &Container) -> Result<Vec<PathBuf>> {
    let store = Store::open(root)?;
    if c.simulated {
        // Named, never unpacked: the simulated kernel reads the layer blobs.
        let image = store
            .image_for_container(&c.image_id)?
            .context("the container's image is gone")?;
        let mut dirs: Vec<PathBuf> = image
            .layers
            .iter()
            .map(|l| super::run::layer_dir_path(root, &l.chain_id))
            .collect();
        dirs.reverse();
        return Ok(dirs);
    }
    let image = store.image_for_container(&c.image_id)?.ok_or_else(|| {
        anyhow::Error::new(crate::error::ExitError::new(
            EXIT_ENGINE,
            format!(
                "the image of container {} ({}) is no longer in the store",
                c.name, c.image_id
            ),
        ))
    })?;
    let mut dirs = store.layer_dirs(&image)?;
    dirs.reverse();
    Ok(dirs)
}

/// The image's layers (top first) held as directories, so names in them
/// are looked up through fds, never following a symlink a layer holds.
fn open_layers(lower: &[PathBuf]) -> Result<Vec<RootDir>> {
    lower.iter().map(|l| RootDir::open(l)).collect()
}

/// What one layer says about a path.
enum InLayer {
    /// The layer has it (anything but a whiteout).
    Present,
    /// The layer hides it from the layers below: a whiteout of it, an
    /// ancestor that is not a directory here (a file, a symlink, a
    /// whiteout), or an opaque ancestor directory.
    Hidden,
    /// Not here: ask the layer below.
    Absent,
}

fn missing(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

/// Look `rel` up in one layer, one name at a time (`openat(O_PATH|O_NOFOLLOW)`
/// relative to the directory before it), as overlay stacks its layers.
fn in_layer(layer: &RootDir, rel: &Path) -> Result<InLayer> {
    let names: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
    let Some((last, parents)) = names.split_last() else {
        return Ok(InLayer::Present);
    };
    let flags = libc::O_PATH | libc::O_NOFOLLOW;
    let mut cur: Option<OwnedFd> = None;
    let mut opaque = false;
    for name in parents {
        let dir = cur.as_ref().map(|f| f.as_fd()).unwrap_or(layer.fd());
        let fd = match fsutil::openat(dir, name, flags, 0) {
            Ok(fd) => fd,
            Err(e) if missing(&e) => {
                return Ok(if opaque {
                    InLayer::Hidden
                } else {
                    InLayer::Absent
                })
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("look up {} in {}", rel.display(), layer.path().display())
                })
            }
        };
        if !fsutil::is_dir(&fsutil::fstat(fd.as_fd())?) {
            return Ok(InLayer::Hidden);
        }
        opaque |= fd_is_opaque(fd.as_fd());
        cur = Some(fd);
    }
    let dir = cur.as_ref().map(|f| f.as_fd()).unwrap_or(layer.fd());
    match fsutil::lstat_at(dir, last) {
        Ok(st) if is_whiteout(&st) => Ok(InLayer::Hidden),
        Ok(_) => Ok(InLayer::Present),
        Err(e) if missing(&e) => Ok(if opaque {
            InLayer::Hidden
        } else {
            InLayer::Absent
        }),
        Err(e) => Err(e)
            .with_context(|| format!("look up {} in {}", rel.display(), layer.path().display())),
    }
}

/// Whether `rel` exists in the layers (top first), honouring whiteouts and
/// opaque directories of the higher layers.
fn in_lower(lower: &[RootDir], rel: &Path) -> Result<bool> {
    for layer in lower {
        match in_layer(layer, rel)? {
            InLayer::Present => return Ok(true),
            InLayer::Hidden => return Ok(false),
            InLayer::Absent => {}
        }
    }
    Ok(false)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Added,
    Changed,
    Deleted,
}

impl Change {
    pub fn letter(self) -> char {
        match self {
            Change::Added => 'A',
            Change::Changed => 'C',
            Change::Deleted => 'D',
        }
    }
}

/// `docker diff`: the changes of the upper dir, by path (`/etc/x`), sorted.
/// The upper dir is read through fds (the container may be running and
/// changing it): a directory it swaps for a symlink is reported as that
/// symlink, never followed to whatever it names.
pub fn changes(root: &Path, c: &Container) -> Result<Vec<(String, Change)>> {
    if c.simulated {
        return super::sim_files::changes(root, c);
    }
    let upper = RootDir::open(&c.dir(root).join("upper"))?;
    let lower = open_layers(&lower_dirs(root, c)?)?;
    let mut out: BTreeMap<String, Change> = BTreeMap::new();
    walk_changes(&upper, upper.fd(), Path::new(""), &lower, &mut out)?;
    Ok(out.into_iter().collect())
}

/// `diff`, narrated: one step, the upper dir read against the layers.
pub fn changes_observed(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
) -> Result<Vec<(String, Change)>> {
    let step = Step::ChangesRead {
        upper: c.dir(root).join("upper"),
        lowers: lower_dirs(root, c)?,
    };
    announce(observer, &step)?;
    let out = changes(root, c)?;
    observer.after(&step);
    Ok(out)
}

/// The changes in the upper directory `dir` (at `rel`). Returns whether
/// anything under `rel` was reported.
fn walk_changes(
    upper: &RootDir,
    dir: BorrowedFd,
    rel: &Path,
    lower: &[RootDir],
    out: &mut BTreeMap<String, Change>,
) -> Result<bool> {
    let names = fsutil::dir_entries(dir)
        .with_context(|| format!("read {}", upper.path().join(rel).display()))?;
    let mut any = false;
    for name in names {
        let child = rel.join(OsStr::from_bytes(&name));
        let fd = match fsutil::openat(dir, &name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => fd,
            // Removed since the directory was listed: no longer a change.
            Err(e) if missing(&e) => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("open {}", upper.path().join(&child).display()))
            }
        };
        let st = fsutil::fstat(fd.as_fd())?;
        let shown = format!("/{}", child.display());
        if is_whiteout(&st) {
            out.insert(shown, Change::Deleted);
            any = true;
            continue;
        }
        let existed = in_lower(lower, &child)?;
        if !existed
            && fsutil::is_regular(&st)
            && st.st_size == 0
            && MOUNT_POINTS.iter().any(|p| Path::new(p) == child)
        {
            continue;
        }
        if fsutil::is_dir(&st) {
            let below = walk_changes(upper, fd.as_fd(), &child, lower, out)?;
            if !existed {
                out.insert(shown, Change::Added);
            } else if below || fd_is_opaque(fd.as_fd()) {
                // A directory is copied up when something in it changes.
                out.insert(shown, Change::Changed);
            } else {
                continue;
            }
        } else {
            out.insert(
                shown,
                if existed {
                    Change::Changed
                } else {
                    Change::Added
                },
            );
        }
        any = true;
    }
    Ok(any)
}

/// Where the container's merged root is reached: `/proc/PID/root` while it
/// runs; for a stopped container, the overlay a helper mounts (with these
/// options) in a mount namespace of its own. Decided before any step, so
/// the narrated step names the real path and mount.
pub struct Rootfs {
    pub path: PathBuf,
    /// The helper's overlay mount options; None for a running container.
    pub helper_mount: Option<String>,
    /// What the helper binds over the overlay (`cp`: the volumes).
    pub binds: Vec<HelperBind>,
    writable: bool,
    dir: PathBuf,
}

/// Plan access to the container's merged root (read-only unless `writable`).
pub fn plan_rootfs(root: &Path, c: &Container, writable: bool) -> Result<Rootfs> {
    let dir = c.dir(root);
    if c.is_running() {
        return Ok(Rootfs {
            path: PathBuf::from(format!("/proc/{}/root", c.state.pid)),
            helper_mount: None,
            binds: Vec::new(),
            writable,
            dir,
        });
    }
    if c.state.status == Status::Restarting {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} is restarting: try again once it runs or is stopped",
            c.name
        );
    }
    let lower = lower_dirs(root, c)?;
    let lowers = |dirs: &[PathBuf]| {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let options = if writable {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers(&lower),
            dir.join("upper").display(),
            dir.join("work").display()
        )
    } else {
        // The upper dir as the top read-only layer: nothing can change.
        let mut all = vec![dir.join("upper")];
        all.extend(lower);
        format!("lowerdir={}", lowers(&all))
    };
    Ok(Rootfs {
        path: dir.join("merged"),
        helper_mount: Some(options),
        binds: Vec::new(),
        writable,
        dir,
    })
}

/// `cp`'s plan: for a stopped container, its volumes and binds are bound
/// at their mount points over the overlay, as docker mounts them for a
/// copy (a running one's root shows them already; a tmpfs keeps nothing).
/// The overlay is then writable even to copy out: a container that never
/// started has no mount point yet, and the helper makes it as a start does.
pub fn plan_copy(root: &Path, c: &Container, writable: bool) -> Result<Rootfs> {
    let binds = c.config.mounts.iter().any(|m| m.kind != MountKind::Tmpfs);
    let mut plan = plan_rootfs(root, c, writable || binds)?;
    if plan.helper_mount.is_none() {
        return Ok(plan);
    }
    for m in &c.config.mounts {
        let source = match m.kind {
            MountKind::Volume => crate::volume::store::data_dir(root, &m.name),
            MountKind::Bind if c.simulated => PathBuf::from(&m.source),
            // A symlinked source is resolved on the host, as a start does.
            MountKind::Bind => fs::canonicalize(&m.source)
                .with_context(|| format!("the bind source {} of container {}", m.source, c.name))?,
            MountKind::Tmpfs => continue,
        };
        plan.binds.push(HelperBind {
            source,
            destination: m.destination.clone(),
            rw: m.rw,
        });
    }
    Ok(plan)
}

/// In the helper, over the overlay at `merged`: each bind at its mount
/// point, resolved inside the root (missing directories made, as a start
/// makes them).
fn bind_in_helper(merged: &Path, binds: &[HelperBind]) -> Result<()> {
    use crate::kernel::linux::volumes::{mount_in_root, remount_ro};
    for b in binds {
        mount_in_root("bind", &b.source, merged, &b.destination, "")?;
        if !b.rw {
            remount_ro(merged, &b.destination)?;
        }
    }
    Ok(())
}

/// Run `f` on the container's merged root: `/proc/PID/root` while it runs;
/// for a stopped container a forked helper mounts the overlay in its own
/// mount namespace (read-only unless `writable`) and runs `f` there.
pub fn with_rootfs(
    root: &Path,
    c: &Container,
    writable: bool,
    f: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let plan = plan_rootfs(root, c, writable)?;
    in_rootfs(&plan, c, f)
}

/// Run `f` on a planned root (see `plan_rootfs`).
pub fn in_rootfs(plan: &Rootfs, c: &Container, f: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let Some(options) = plan.helper_mount.clone() else {
        return f(&plan.path);
    };
    let writable = plan.writable;
    let binds = plan.binds.clone();
    let merged = plan.path.clone();
    fs::create_dir_all(&merged)?;
    fs::create_dir_all(plan.dir.join("work"))?;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // The helper's error, if any, comes back on a pipe: "<code> <message>".
    let (err_read, err_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe to the helper")?;
    // SAFETY: glassbox is single-threaded; the child leaves through _exit.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            drop(err_read);
            let result = (|| -> Result<()> {
                use nix::mount::{mount, MsFlags};
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .context("unshare the mount namespace")?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .context("make mounts private")?;
                let flags = if writable {
                    MsFlags::empty()
                } else {
                    MsFlags::MS_RDONLY
                };
                mount(
                    Some("overlay"),
                    &merged,
                    Some("overlay"),
                    flags,
                    Some(options.as_str()),
                )
                .with_context(|| {
                    format!("mount the container's overlay on {}", merged.display())
                })?;
                bind_in_helper(&merged, &binds)?;
                f(&merged)
            })();
            let code = match result {
                Ok(()) => 0,
                Err(e) => {
                    let code = crate::error::exit_code_of(&e).max(1);
                    let mut w = fs::File::from(err_write);
                    let _ = write!(w, "{code} {e:#}");
                    code
                }
            };
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(err_write);
            let mut report = String::new();
            let _ = std::io::Read::read_to_string(&mut fs::File::from(err_read), &mut report);
            let status = nix::sys::wait::waitpid(child, None)?;
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                nix::sys::wait::WaitStatus::Exited(_, code) => {
                    let (code, message) = match report.split_once(' ') {
                        Some((c, m)) => (c.parse().unwrap_or(code), m.to_string()),
                        None => (code, format!("the helper for container {} failed", c.name)),
                    };
                    Err(anyhow::Error::new(crate::error::ExitError::new(
                        code, message,
                    )))
                }
                other => bail!("the helper for container {} ended: {other:?}", c.name),
            }
        }
    }
}

/// The container's root as a directory fd; every path in it is opened with
/// `RESOLVE_IN_ROOT` against it (`fsutil::RootDir`), so a symlink (even one
/// swapped in while `cp` runs) is resolved inside the container, never on the host.
fn container_root(rootfs: &Path) -> Result<RootDir> {
    RootDir::open(rootfs)
}

/// An `O_PATH` fd of `path` inside the container; the last symlink is
/// followed only with `follow_last`.
fn open_in_container(root: &RootDir, path: &str, follow_last: bool) -> std::io::Result<OwnedFd> {
    let flags = libc::O_PATH | if follow_last { 0 } else { libc::O_NOFOLLOW };
    root.open_in_root(path.as_bytes(), flags, 0, Resolve::InRoot)
}

/// An `O_PATH` fd of the directory `path` inside the container (symlinks followed inside it).
fn open_dir_in_container(root: &RootDir, path: &str) -> std::io::Result<OwnedFd> {
    root.open_in_root(
        path.as_bytes(),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        Resolve::InRoot,
    )
}

fn not_found(src: &str, c: &Container) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(
        1,
        format!("Could not find the file {src} in container {}", c.name),
    ))
}

/// Copy the container's entry `fd` (an `O_PATH` fd, its `st`) to the host
/// path `dst`. Directories are read through their fd and each child opened
/// relative to it with `O_NOFOLLOW`: nothing is looked up by path.
fn copy_out(fd: BorrowedFd, st: &libc::stat, dst: &Path) -> Result<()> {
    let existing = fs::symlink_metadata(dst).ok();
    let mode = st.st_mode & 0o7777;
    if fsutil::is_dir(st) {
        match &existing {
            Some(e) if e.is_dir() => {}
            Some(_) => {
                fs::remove_file(dst)?;
                fs::create_dir(dst)?;
            }
            None => fs::create_dir(dst).with_context(|| format!("mkdir {}", dst.display()))?,
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
        for name in fsutil::dir_entries(fd)? {
            let child = fsutil::openat(fd, &name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
            let cst = fsutil::fstat(child.as_fd())?;
            copy_out(child.as_fd(), &cst, &dst.join(OsStr::from_bytes(&name)))?;
        }
        return Ok(());
    }
    if !fsutil::is_symlink(st) && !fsutil::is_regular(st) {
        // Devices, sockets and fifos are not copied.
        return Ok(());
    }
    if let Some(e) = &existing {
        if e.is_dir() {
            bail!(
                "cannot overwrite directory {} with a non-directory",
                dst.display()
            );
        }
        fs::remove_file(dst)?;
    }
    if fsutil::is_symlink(st) {
        let target = fsutil::readlink_fd(fd)?;
        std::os::unix::fs::symlink(OsStr::from_bytes(&target), dst)
            .with_context(|| format!("symlink {}", dst.display()))?;
    } else {
        // Re-opening the O_PATH fd reads exactly the file that was resolved.
        let mut from = fs::File::from(fsutil::reopen(fd, libc::O_RDONLY | libc::O_NONBLOCK)?);
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dst)
            .with_context(|| format!("create {}", dst.display()))?;
        std::io::copy(&mut from, &mut to)?;
        fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Copy the host's `src` (read without following symlinks) to `name` in the
/// container directory `dir` (an fd): files are created with
/// `openat(O_CREAT|O_EXCL|O_NOFOLLOW)`, directories with `mkdirat`, modes set
/// through the fd. `shown` is the container path, for messages.
/// `owner`: the container's root on the host when it has a user namespace
/// (`--userns=auto`): what `cp` makes belongs to the container's root, as
/// docker's copies do (with userns-remap, its mapped uid); None: host root.
fn copy_in(
    src: &Path,
    dir: BorrowedFd,
    name: &[u8],
    shown: &str,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let m = fs::symlink_metadata(src).with_context(|| format!("{}", src.display()))?;
    let mode = m.mode() & 0o7777;
    let existing = fsutil::lstat_at(dir, name).ok();
    let ft = m.file_type();
    if ft.is_dir() {
        match &existing {
            Some(e) if fsutil::is_dir(e) => {}
            Some(_) => {
                fsutil::unlink_at(dir, name).with_context(|| format!("remove {shown}"))?;
                fsutil::mkdir_at(dir, name, 0o700).with_context(|| format!("mkdir {shown}"))?;
            }
            None => fsutil::mkdir_at(dir, name, 0o700).with_context(|| format!("mkdir {shown}"))?,
        }
        let sub = fsutil::openat(
            dir,
            name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .with_context(|| format!("open {shown}"))?;
        fsutil::chmod_fd(sub.as_fd(), mode).with_context(|| format!("chmod {shown}"))?;
        own(dir, name, owner, Some(mode), shown)?;
        let mut names: Vec<_> = fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let child = format!("{}/{}", shown.trim_end_matches('/'), n.to_string_lossy());
            copy_in(&src.join(&n), sub.as_fd(), n.as_bytes(), &child, owner)?;
        }
        return Ok(());
    }
    if !ft.is_symlink() && !ft.is_file() {
        // Devices, sockets and fifos are not copied.
        return Ok(());
    }
    if let Some(e) = &existing {
        if fsutil::is_dir(e) {
            bail!(
                "cannot overwrite directory {shown} with non-directory {}",
                src.display()
            );
        }
        fsutil::unlink_at(dir, name).with_context(|| format!("remove {shown}"))?;
    }
    if ft.is_symlink() {
        fsutil::symlink_at(fs::read_link(src)?.as_os_str().as_bytes(), dir, name)
            .with_context(|| format!("symlink {shown}"))?;
        own(dir, name, owner, None, shown)?;
    } else {
        let mut from = fs::File::open(src).with_context(|| format!("open {}", src.display()))?;
        let to = fsutil::openat(
            dir,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            mode,
        )
        .with_context(|| format!("create {shown}"))?;
        let mut to = fs::File::from(to);
        std::io::copy(&mut from, &mut to)?;
        fsutil::chmod_fd(to.as_fd(), mode).with_context(|| format!("chmod {shown}"))?;
        own(dir, name, owner, Some(mode), shown)?;
    }
    Ok(())
}

/// Give a copied entry to `owner` (uid and gid), then its mode again
/// (chown clears set-id bits); nothing without an owner.
fn own(
    dir: BorrowedFd,
    name: &[u8],
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    shown: &str,
) -> Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    fsutil::chown_at(dir, name, uid, gid).with_context(|| format!("chown {shown}"))?;
    if let Some(mode) = mode {
        fsutil::chmod_at(dir, name, mode).with_context(|| format!("chmod {shown}"))?;
    }
    Ok(())
}

/// Who owns what `cp` makes in `c`: its root's host uid and gid with a
/// user namespace, else None (host root, glassbox itself).
fn copy_owner(c: &Container) -> Option<(u32, u32)> {
    c.config.security.userns.as_ref().map(|m| m.root())
}

/// Where a copy of `src_name` lands given docker's rules for DEST: into an
/// existing directory, else as DEST itself. `dst_is_dir`: what DEST is now
/// (`None`: nothing there).
fn target_of(
    dst: &str,
    dst_is_dir: Option<bool>,
    src_name: &str,
    src_is_dir: bool,
    contents: bool,
) -> Result<String> {
    match dst_is_dir {
        Some(true) => {
            if contents {
                Ok(dst.to_string())
            } else {
                Ok(format!("{}/{}", dst.trim_end_matches('/'), src_name))
            }
        }
        Some(false) if src_is_dir => bail!("cannot copy a directory to a file: {dst}"),
        Some(false) => Ok(dst.to_string()),
        None if dst.ends_with('/') && !src_is_dir => {
            bail!("destination directory {dst} does not exist")
        }
        None => Ok(dst.to_string()),
    }
}

fn base_name(p: &str) -> String {
    p.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && *s != ".")
        .unwrap_or("")
        .to_string()
}

/// `docker cp CONTAINER:SRC HOSTDEST`.
pub fn copy_from(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    src: &str,
    dest: &Path,
    follow_link: bool,
) -> Result<()> {
    let src = if src.starts_with('/') {
        src.to_string()
    } else {
        format!("/{src}")
    };
    let dest_s = dest.display().to_string();
    let plan = plan_copy(root, c, false)?;
    let step = Step::CopyOut {
        src: src.clone(),
        dest: Some(absolute(dest)),
        rootfs: plan.path.clone(),
        helper_mount: plan.helper_mount.clone(),
        follow_link,
        binds: plan.binds.clone(),
    };
    announce(observer, &step)?;
    if c.simulated {
        super::sim_files::copy_from(root, c, &src, dest)?;
        observer.after(&step);
        return Ok(());
    }
    in_rootfs(&plan, c, |rootfs| {
        let croot = container_root(rootfs)?;
        let node = open_in_container(&croot, &src, follow_link).map_err(|_| not_found(&src, c))?;
        let st = fsutil::fstat(node.as_fd())?;
        let contents = src.ends_with("/.");
        let name = base_name(&src);
        let target = target_of(
            &dest_s,
            fs::metadata(dest).ok().map(|m| m.is_dir()),
            if name.is_empty() { "root" } else { &name },
            fsutil::is_dir(&st),
            contents,
        )?;
        copy_out(node.as_fd(), &st, Path::new(&target))
    })?;
    observer.after(&step);
    Ok(())
}

/// A host path as an absolute one (for the narrated command), without
/// resolving symlinks: what the copy itself will open.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Show a file step to the observer; `q` at step-through stops before it.
fn announce(observer: &mut dyn StepObserver, step: &Step) -> Result<()> {
    if observer.before(step)? == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step {}; nothing was copied or written",
            step.kind()
        );
    }
    Ok(())
}

/// `docker cp HOSTSRC CONTAINER:DEST`: every entry is made relative to a
/// directory fd opened inside the container's root, so nothing is written
/// outside the container.
pub fn copy_into(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    src: &Path,
    dest: &str,
) -> Result<()> {
    let dest = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("/{dest}")
    };
    let m = fs::symlink_metadata(src)
        .with_context(|| format!("could not find {} on the host", src.display()))?;
    let src_s = src.display().to_string();
    let contents = src_s.ends_with("/.");
    let name = base_name(&src_s);
    let plan = plan_copy(root, c, true)?;
    let step = Step::CopyIn {
        src: absolute(src),
        dest: dest.clone(),
        rootfs: plan.path.clone(),
        helper_mount: plan.helper_mount.clone(),
        tar: false,
        binds: plan.binds.clone(),
    };
    announce(observer, &step)?;
    if c.simulated {
        super::sim_files::copy_into(root, c, src, &dest)?;
        observer.after(&step);
        return Ok(());
    }
    in_rootfs(&plan, c, |rootfs| {
        let croot = container_root(rootfs)?;
        let dest_is_dir = open_in_container(&croot, &dest, true)
            .ok()
            .and_then(|fd| fsutil::fstat(fd.as_fd()).ok())
            .map(|st| fsutil::is_dir(&st));
        let target = target_of(&dest, dest_is_dir, &name, m.is_dir(), contents)?;
        let no_dir = || {
            anyhow::anyhow!(
                "no such directory: {}",
                Path::new(&target)
                    .parent()
                    .unwrap_or(Path::new("/"))
                    .display()
            )
        };
        match fsutil::split_last(&target) {
            Some((parent, leaf)) => {
                let dir = open_dir_in_container(&croot, &parent).map_err(|_| no_dir())?;
                copy_in(src, dir.as_fd(), &leaf, &target, copy_owner(c))
            }
            // DEST is the container's root (or ends in `.`/`..`): a directory's contents go into it.
            None => {
                if !m.is_dir() {
                    bail!("cannot copy a file onto the directory {target}");
                }
                let dir = open_dir_in_container(&croot, &target).map_err(|_| no_dir())?;
                let mut names: Vec<_> = fs::read_dir(src)?
                    .flatten()
                    .map(|e| e.file_name())
                    .collect();
                names.sort();
                for n in names {
                    let shown = format!("{}/{}", target.trim_end_matches('/'), n.to_string_lossy());
                    copy_in(
                        &src.join(&n),
                        dir.as_fd(),
                        n.as_bytes(),
                        &shown,
                        copy_owner(c),
                    )?;
                }
                Ok(())
            }
        }
    })?;
    observer.after(&step);
    Ok(())
}

/// `docker cp CONTAINER:SRC -`: SRC as a tar stream on `out`.
pub fn copy_from_as_tar(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    src: &str,
    follow_link: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let src = if src.starts_with('/') {
        src.to_string()
    } else {
        format!("/{src}")
    };
    let plan = plan_copy(root, c, false)?;
    let step = Step::CopyOut {
        src: src.clone(),
        dest: None,
        rootfs: plan.path.clone(),
        helper_mount: plan.helper_mount.clone(),
        follow_link,
        binds: plan.binds.clone(),
    };
    announce(observer, &step)?;
    if c.simulated {
        super::sim_files::copy_from_as_tar(root, c, &src, follow_link, out)?;
        observer.after(&step);
        return Ok(());
    }
    in_rootfs(&plan, c, move |rootfs| {
        let croot = container_root(rootfs)?;
        let node = open_in_container(&croot, &src, follow_link).map_err(|_| not_found(&src, c))?;
        let name = match base_name(&src) {
            n if n.is_empty() => ".".to_string(),
            n => n,
        };
        let mut builder = tar::Builder::new(out);
        let ids = c.config.security.userns.as_ref();
        append_fd(
            &mut builder,
            node.as_fd(),
            Path::new(&name),
            ids,
            &mut |_, _| Walk::Descend,
        )?;
        builder.into_inner()?.flush()?;
        Ok(())
    })?;
    observer.after(&step);
    Ok(())
}

/// What `append_fd` does with an entry its filter saw.
enum Walk {
    /// Add it, and everything below it if it is a directory.
    Descend,
    /// Add it, but not what it holds (another filesystem mounted there).
    NoDescend,
}

/// Append the entry `fd` (an `O_PATH` fd) as `name` to `builder`, and for a
/// directory every entry below it, sorted; each child is opened relative
/// to its directory's fd with `O_NOFOLLOW`, so a symlink (or a directory
/// swapped for one meanwhile) is stored as a symlink and never followed.
/// `filter` sees each entry below the top (its tar name and stat) first.
fn append_fd<W: Write>(
    builder: &mut tar::Builder<W>,
    fd: BorrowedFd,
    name: &Path,
    ids: Option<&IdMap>,
    filter: &mut dyn FnMut(&Path, &libc::stat) -> Walk,
) -> Result<()> {
    let st = fsutil::fstat(fd)?;
    append_one(builder, fd, &st, name, ids)?;
    if fsutil::is_dir(&st) {
        append_children(builder, fd, name, ids, filter)?;
    }
    Ok(())
}

fn append_children<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: BorrowedFd,
    name: &Path,
    ids: Option<&IdMap>,
    filter: &mut dyn FnMut(&Path, &libc::stat) -> Walk,
) -> Result<()> {
    for n in fsutil::dir_entries(dir)? {
        let child = fsutil::openat(dir, &n, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        let st = fsutil::fstat(child.as_fd())?;
        let child_name = name.join(OsStr::from_bytes(&n));
        let walk = filter(&child_name, &st);
        append_one(builder, child.as_fd(), &st, &child_name, ids)?;
        if fsutil::is_dir(&st) && matches!(walk, Walk::Descend) {
            append_children(builder, child.as_fd(), &child_name, ids, filter)?;
        }
    }
    Ok(())
}

/// One tar entry from an fd: the header from fstat, a file's content read
/// through the fd itself, a symlink's target read from the link itself.
/// `ids`: the container's user namespace map, so a file its root made
/// (host uid 100000) is stored as the container sees it (uid 0).
fn append_one<W: Write>(
    builder: &mut tar::Builder<W>,
    fd: BorrowedFd,
    st: &libc::stat,
    name: &Path,
    ids: Option<&IdMap>,
) -> Result<()> {
    let file = fs::File::from(fd.try_clone_to_owned()?);
    let meta = file.metadata()?;
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if let Some(map) = ids {
        // An id no range maps is kept: the layers' files are host root's,
        // which the idmapped mounts show as the container's root (0).
        h.set_uid(map.uids().to_container(st.st_uid).unwrap_or(st.st_uid) as u64);
        h.set_gid(map.gids().to_container(st.st_gid).unwrap_or(st.st_gid) as u64);
    }
    if fsutil::is_symlink(st) {
        let target = fsutil::readlink_fd(fd)?;
        h.set_size(0);
        builder.append_link(&mut h, name, OsStr::from_bytes(&target))?;
    } else if fsutil::is_regular(st) {
        let data = fs::File::from(fsutil::reopen(fd, libc::O_RDONLY | libc::O_NONBLOCK)?);
        // The size in the header is the size read: a file growing meanwhile is cut there.
        builder.append_data(&mut h, name, std::io::Read::take(data, st.st_size as u64))?;
    } else {
        h.set_size(0);
        builder.append_data(&mut h, name, std::io::empty())?;
    }
    Ok(())
}

/// `docker cp - CONTAINER:DEST`: unpack a tar from `input` into the
/// directory DEST; each entry is made relative to its parent directory's fd,
/// opened inside the container's root, and entries with `..` or absolute
/// names are refused.
pub fn copy_into_from_tar(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    input: &mut dyn std::io::Read,
    dest: &str,
) -> Result<()> {
    let dest = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("/{dest}")
    };
    let plan = plan_copy(root, c, true)?;
    let step = Step::CopyIn {
        src: PathBuf::from("-"),
        dest: dest.clone(),
        rootfs: plan.path.clone(),
        helper_mount: plan.helper_mount.clone(),
        tar: true,
        binds: plan.binds.clone(),
    };
    announce(observer, &step)?;
    if c.simulated {
        super::sim_files::copy_into_from_tar(root, c, input, &dest)?;
        observer.after(&step);
        return Ok(());
    }
    in_rootfs(&plan, c, move |rootfs| {
        let croot = container_root(rootfs)?;
        if open_dir_in_container(&croot, &dest).is_err() {
            bail!("destination directory {dest} does not exist in the container");
        }
        let mut archive = tar::Archive::new(input);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let Some(rel) = archive_entry_name(&entry.path()?)? else {
                continue;
            };
            let rel = rel.as_str();
            let logical = format!("{}/{rel}", dest.trim_end_matches('/'));
            let Some((parent, leaf)) = fsutil::split_last(&logical) else {
                continue;
            };
            let dir = open_dir_in_container(&croot, &parent)
                .with_context(|| format!("{logical}: no such directory {parent}"))?;
            let dir = dir.as_fd();
            let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
            let existing = fsutil::lstat_at(dir, &leaf).ok();
            let is_dir = existing.as_ref().is_some_and(fsutil::is_dir);
            match entry.header().entry_type() {
                tar::EntryType::Directory => {
                    if !is_dir {
                        if existing.is_some() {
                            fsutil::unlink_at(dir, &leaf)?;
                        }
                        fsutil::mkdir_at(dir, &leaf, 0o700)
                            .with_context(|| format!("mkdir {logical}"))?;
                    }
                    fsutil::chmod_at(dir, &leaf, mode)
                        .with_context(|| format!("chmod {logical}"))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if is_dir {
                        bail!("cannot overwrite directory {logical} with a file");
                    }
                    if existing.is_some() {
                        fsutil::unlink_at(dir, &leaf)?;
                    }
                    let to = fsutil::openat(
                        dir,
                        &leaf,
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                        mode,
                    )
                    .with_context(|| format!("create {logical}"))?;
                    let mut to = fs::File::from(to);
                    std::io::copy(&mut entry, &mut to)?;
                    fsutil::chmod_fd(to.as_fd(), mode)?;
                }
                tar::EntryType::Symlink => {
                    if is_dir {
                        bail!("cannot overwrite directory {logical} with a symlink");
                    }
                    if existing.is_some() {
                        fsutil::unlink_at(dir, &leaf)?;
                    }
                    let target = entry
                        .link_name()?
                        .context("symlink without a target")?
                        .into_owned();
                    fsutil::symlink_at(target.as_os_str().as_bytes(), dir, &leaf)
                        .with_context(|| format!("symlink {logical}"))?;
                }
                // Hard links, devices and fifos are not unpacked.
                _ => continue,
            }
            let mode = (entry.header().entry_type() != tar::EntryType::Symlink).then_some(mode);
            own(dir, &leaf, copy_owner(c), mode, &logical)?;
        }
        Ok(())
    })?;
    observer.after(&step);
    Ok(())
}

/// `docker export`: the merged filesystem as a tar (the overlay mounted
/// read-only in a helper's own mount namespace, for a running container
/// too, so /proc, /sys and /dev are the image's empty directories). Read
/// through fds: the running container can change its upper dir meanwhile,
/// and a directory it swaps for a symlink is exported as that symlink.
pub fn export(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut stopped = c.clone();
    // Read through a private read-only overlay whether it runs or not.
    stopped.state.status = Status::Exited;
    stopped.state.pid = 0;
    let plan = plan_rootfs(root, &stopped, false)?;
    let step = Step::ExportTar {
        rootfs: plan.path.clone(),
        helper_mount: plan.helper_mount.clone().unwrap_or_default(),
        output: output.map(absolute),
    };
    announce(observer, &step)?;
    if c.simulated {
        super::sim_files::export(root, c, out)?;
        observer.after(&step);
        return Ok(());
    }
    in_rootfs(&plan, &stopped, move |rootfs| {
        let croot = container_root(rootfs)?;
        let mut builder = tar::Builder::new(out);
        let dev = fsutil::fstat(croot.fd())?.st_dev;
        // Mounts inside (none in the helper's fresh overlay, but be sure): their mount point only.
        let ids = c.config.security.userns.as_ref();
        append_children(
            &mut builder,
            croot.fd(),
            Path::new(""),
            ids,
            &mut |_, st| {
                if fsutil::is_dir(st) && st.st_dev != dev {
                    Walk::NoDescend
                } else {
                    Walk::Descend
                }
            },
        )?;
        builder.into_inner()?.flush()?;
        Ok(())
    })?;
    observer.after(&step);
    Ok(())
}

/// The upper dir as a layer tar (for `commit`): whiteouts become `.wh.NAME`
/// entries, opaque directories get `.wh..wh..opq`; glassbox's mount points
/// are left out. Read through fds, never following a symlink the container
/// made (it may still be running). Returns nothing; writes into `w`.
pub fn layer_tar(root: &Path, c: &Container, w: &mut dyn Write) -> Result<()> {
    if c.simulated {
        return super::sim_files::layer_tar(root, c, w);
    }
    let upper = c.dir(root).join("upper");
    let lower = open_layers(&lower_dirs(root, c)?)?;
    let mut builder = tar::Builder::new(w);
    let upper_root = RootDir::open(&upper)?;
    let mut skip: BTreeSet<PathBuf> = BTreeSet::new();
    for p in MOUNT_POINTS {
        let st = upper_root.open_in_root(
            p.as_bytes(),
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
            Resolve::NoSymlinks,
        );
        let plain_empty = st
            .ok()
            .and_then(|fd| fsutil::fstat(fd.as_fd()).ok())
            .is_some_and(|st| fsutil::is_regular(&st) && st.st_size == 0);
        if plain_empty && !in_lower(&lower, Path::new(p))? {
            skip.insert(PathBuf::from(p));
        }
    }
    layer_walk(
        &mut builder,
        upper_root.fd(),
        Path::new(""),
        &skip,
        c.config.security.userns.as_ref(),
    )?;
    builder.finish()?;
    Ok(())
}

fn empty_entry(path: &Path) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let _ = h.set_path(path);
    h.set_size(0);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    h.set_cksum();
    h
}

fn layer_walk<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: BorrowedFd,
    rel: &Path,
    skip: &BTreeSet<PathBuf>,
    ids: Option<&IdMap>,
) -> Result<()> {
    for name in fsutil::dir_entries(dir)? {
        let name_os = OsStr::from_bytes(&name);
        let child = rel.join(name_os);
        if skip.contains(&child) {
            continue;
        }
        let fd = fsutil::openat(dir, &name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        let st = fsutil::fstat(fd.as_fd())?;
        if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0 {
            let wh = rel.join(format!(".wh.{}", name_os.to_string_lossy()));
            builder.append(&empty_entry(&wh), std::io::empty())?;
            continue;
        }
        append_one(builder, fd.as_fd(), &st, &child, ids)?;
        if fsutil::is_dir(&st) {
            if fd_is_opaque(fd.as_fd()) {
                builder.append(&empty_entry(&child.join(".wh..wh..opq")), std::io::empty())?;
            }
            layer_walk(builder, fd.as_fd(), &child, skip, ids)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_of_a_tree_stores_symlinks_and_never_follows_them() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("root");
        fs::create_dir_all(r.join("data/sub")).unwrap();
        fs::write(r.join("data/sub/f"), "inner").unwrap();
        fs::create_dir_all(d.path().join("outside")).unwrap();
        fs::write(d.path().join("outside/secret"), "host secret").unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), r.join("data/out")).unwrap();
        let root = RootDir::open(&r).unwrap();
        let node = open_in_container(&root, "/data", false).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        append_fd(
            &mut b,
            node.as_fd(),
            Path::new("data"),
            None,
            &mut |_, _| Walk::Descend,
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            assert!(!s.contains("host secret"));
            if name == "data/out" {
                assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
            }
            if name == "data/sub/f" {
                assert_eq!(s, "inner");
            }
            names.push(name);
        }
        names.sort();
        assert_eq!(names, ["data", "data/out", "data/sub", "data/sub/f"]);
    }

    #[test]
    fn in_lower_follows_no_symlink_and_honours_whiteouts_and_non_dirs() {
        let d = tempfile::tempdir().unwrap();
        let (top, bottom) = (d.path().join("top"), d.path().join("bottom"));
        fs::create_dir_all(bottom.join("usr/lib")).unwrap();
        fs::write(bottom.join("usr/lib/libc.so"), "").unwrap();
        fs::create_dir_all(bottom.join("gone")).unwrap();
        fs::write(bottom.join("gone/f"), "").unwrap();
        fs::create_dir_all(bottom.join("file/x")).unwrap();
        fs::create_dir_all(top.join("usr")).unwrap();
        // A symlink in a layer pointing at the host's /etc: never followed.
        std::os::unix::fs::symlink("/etc", top.join("usr/hostetc")).unwrap();
        // A whiteout of `gone`, and a file `file` over the lower directory.
        fsutil::mknod_at(RootDir::open(&top).unwrap().fd(), b"gone", libc::S_IFCHR, 0).unwrap();
        fs::write(top.join("file"), "").unwrap();
        let layers = open_layers(&[top, bottom]).unwrap();
        let has = |p: &str| in_lower(&layers, Path::new(p)).unwrap();
        assert!(has("usr/lib/libc.so"));
        assert!(has("usr/hostetc"));
        assert!(
            !has("usr/hostetc/passwd"),
            "followed a layer's symlink to the host"
        );
        assert!(!has("gone"));
        assert!(!has("gone/f"));
        assert!(has("file"));
        assert!(!has("file/x"));
        assert!(!has("nothing"));
    }

    #[test]
    fn copy_in_writes_inside_the_root_through_an_absolute_symlink() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("root");
        fs::create_dir_all(r.join("etc")).unwrap();
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, r.join("hop")).unwrap();
        fs::create_dir_all(r.join(outside.strip_prefix("/").unwrap())).unwrap();
        let src = d.path().join("src");
        fs::write(&src, "payload").unwrap();
        let root = RootDir::open(&r).unwrap();
        let dir = open_dir_in_container(&root, "/hop").unwrap();
        copy_in(&src, dir.as_fd(), b"f", "/hop/f", None).unwrap();
        assert!(!outside.join("f").exists());
        assert_eq!(
            fs::read_to_string(r.join(outside.strip_prefix("/").unwrap()).join("f")).unwrap(),
            "payload"
        );
    }
}

/// The name a `cp -` archive entry has below the destination, without a
/// leading `./` or trailing `/` (None: the destination itself); an entry
/// whose path leaves the destination (`..`, absolute) is refused. The real
/// and the simulated copy take the same rule from here.
pub fn archive_entry_name(path: &std::path::Path) -> Result<Option<String>> {
    if path.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    }) {
        bail!(
            "refusing the archive entry {}: it leaves the destination",
            path.display()
        );
    }
    let name = path.display().to_string();
    let rel = name.trim_start_matches("./").trim_end_matches('/');
    Ok((!rel.is_empty() && rel != ".").then(|| rel.to_string()))
}
