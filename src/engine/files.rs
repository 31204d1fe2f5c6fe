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
//! them (`resolve_in_root`): symlinks, even absolute ones, stay inside its
//! root and `..` stops there, so `cp` never reads or writes outside it.

use crate::container::{Container, Status};
use crate::error::EXIT_ENGINE;
use crate::image::Store;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files glassbox creates in the upper dir only as mount points for its
/// binds (docker keeps them in an "init" layer): not the container's changes.
const MOUNT_POINTS: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// The image's unpacked layers, top first.
pub fn lower_dirs(root: &Path, c: &Container) -> Result<Vec<PathBuf>> {
    let store = Store::open(root)?;
    let image = store.resolve(&c.image_id)?.ok_or_else(|| {
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

/// Whether `rel` exists in the layers (top first), honouring whiteouts and
/// opaque directories of the higher layers.
fn in_lower(lower: &[PathBuf], rel: &Path) -> bool {
    for layer in lower {
        match fs::symlink_metadata(layer.join(rel)) {
            Ok(m) if is_whiteout(&m) => return false,
            Ok(_) => return true,
            Err(_) => {}
        }
        // An opaque ancestor in this layer hides the layers below.
        let mut p = rel.parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            if is_opaque(&layer.join(dir)) {
                return false;
            }
            p = dir.parent();
        }
    }
    false
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
pub fn changes(root: &Path, c: &Container) -> Result<Vec<(String, Change)>> {
    let upper = c.dir(root).join("upper");
    let lower = lower_dirs(root, c)?;
    let mut out: BTreeMap<String, Change> = BTreeMap::new();
    walk_changes(&upper, Path::new(""), &lower, &mut out)?;
    Ok(out.into_iter().collect())
}

/// Returns whether anything under `rel` was reported.
fn walk_changes(
    upper: &Path,
    rel: &Path,
    lower: &[PathBuf],
    out: &mut BTreeMap<String, Change>,
) -> Result<bool> {
    let dir = upper.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    let mut any = false;
    for name in names {
        let child = rel.join(&name);
        let m = fs::symlink_metadata(upper.join(&child))?;
        let shown = format!("/{}", child.display());
        if is_whiteout(&m) {
            out.insert(shown, Change::Deleted);
            any = true;
            continue;
        }
        let existed = in_lower(lower, &child);
        if !existed
            && m.is_file()
            && m.len() == 0
            && MOUNT_POINTS.iter().any(|p| Path::new(p) == child)
        {
            continue;
        }
        if m.is_dir() {
            let below = walk_changes(upper, &child, lower, out)?;
            if !existed {
                out.insert(shown, Change::Added);
            } else if below || is_opaque(&upper.join(&child)) {
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

/// Resolve the container path `path` inside `rootfs` as the container would:
/// symlinks are followed within `rootfs` (an absolute target starts again at
/// `rootfs`), `..` never climbs above it. The last component is followed
/// only with `follow_last` (`cp` copies a symlink itself, as docker does).
pub fn resolve_in_root(rootfs: &Path, path: &str, follow_last: bool) -> Result<PathBuf> {
    let mut queue: VecDeque<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        match part.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let mut candidate = rootfs.to_path_buf();
        candidate.extend(resolved.iter());
        candidate.push(&part);
        let last = queue.is_empty();
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                links += 1;
                if links > 40 {
                    bail!("{path}: too many levels of symbolic links");
                }
                let target = fs::read_link(&candidate)?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                for (i, t) in target.split('/').filter(|s| !s.is_empty()).enumerate() {
                    queue.insert(i, t.to_string());
                }
            }
            _ => resolved.push(part),
        }
    }
    let mut out = rootfs.to_path_buf();
    out.extend(resolved.iter());
    Ok(out)
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
    if c.simulated {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} is simulated: it has no files on this host",
            c.name
        );
    }
    if c.is_running() {
        return f(Path::new(&format!("/proc/{}/root", c.state.pid)));
    }
    if c.state.status == Status::Restarting {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} is restarting: try again once it runs or is stopped",
            c.name
        );
    }
    let dir = c.dir(root);
    let lower = lower_dirs(root, c)?;
    let merged = dir.join("merged");
    fs::create_dir_all(&merged)?;
    fs::create_dir_all(dir.join("work"))?;
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

/// Copy one tree (`src` read without following symlinks) to the logical
/// destination `dst`, which `place` turns into a real path right before each
/// entry is made (for a container: resolved inside its root, so a symlink
/// met on the way can never lead outside).
fn copy_tree(src: &Path, dst: &str, place: &dyn Fn(&str) -> Result<PathBuf>) -> Result<()> {
    let m = fs::symlink_metadata(src).with_context(|| format!("{}", src.display()))?;
    let real = place(dst)?;
    let existing = fs::symlink_metadata(&real).ok();
    let ft = m.file_type();
    if ft.is_dir() {
        match &existing {
            Some(e) if e.is_dir() => {}
            Some(_) => {
                fs::remove_file(&real)?;
                fs::create_dir(&real)?;
            }
            None => fs::create_dir(&real).with_context(|| format!("mkdir {dst}"))?,
        }
        fs::set_permissions(&real, fs::Permissions::from_mode(m.mode() & 0o7777))?;
        let mut names: Vec<_> = fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let child = format!("{}/{}", dst.trim_end_matches('/'), name.to_string_lossy());
            copy_tree(&src.join(&name), &child, place)?;
        }
        return Ok(());
    }
    if let Some(e) = &existing {
        if e.is_dir() {
            bail!(
                "cannot overwrite directory {dst} with non-directory {}",
                src.display()
            );
        }
        fs::remove_file(&real)?;
    }
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, &real)
            .with_context(|| format!("symlink {dst}"))?;
    } else if ft.is_file() {
        let mut from = fs::File::open(src).with_context(|| format!("open {}", src.display()))?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(m.mode() & 0o7777)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&real)
            .with_context(|| format!("create {dst}"))?;
        std::io::copy(&mut from, &mut to)?;
        fs::set_permissions(&real, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    // Devices, sockets and fifos are not copied.
    Ok(())
}

/// Where a copy of `src_name` lands given docker's rules for DEST: into an
/// existing directory, else as DEST itself.
fn target_of(
    dst: &str,
    dst_real: &Path,
    src_name: &str,
    src_is_dir: bool,
    contents: bool,
) -> Result<String> {
    match fs::metadata(dst_real) {
        Ok(m) if m.is_dir() => {
            if contents {
                Ok(dst.to_string())
            } else {
                Ok(format!("{}/{}", dst.trim_end_matches('/'), src_name))
            }
        }
        Ok(_) if src_is_dir => bail!("cannot copy a directory to a file: {dst}"),
        Ok(_) => Ok(dst.to_string()),
        Err(_) if dst.ends_with('/') && !src_is_dir => {
            bail!("destination directory {dst} does not exist")
        }
        Err(_) => Ok(dst.to_string()),
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
    with_rootfs(root, c, false, |rootfs| {
        let real = resolve_in_root(rootfs, &src, follow_link)?;
        let m = fs::symlink_metadata(&real).map_err(|_| {
            anyhow::Error::new(crate::error::ExitError::new(
                1,
                format!("Could not find the file {src} in container {}", c.name),
            ))
        })?;
        let contents = src.ends_with("/.");
        let name = base_name(&src);
        let target = target_of(
            &dest_s,
            dest,
            if name.is_empty() { "root" } else { &name },
            m.is_dir(),
            contents,
        )?;
        copy_tree(&real, &target, &|p| Ok(PathBuf::from(p)))
    })
}

/// `docker cp HOSTSRC CONTAINER:DEST`: every entry is placed through
/// `resolve_in_root`, so nothing is written outside the container.
pub fn copy_into(root: &Path, c: &Container, src: &Path, dest: &str) -> Result<()> {
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
    with_rootfs(root, c, true, |rootfs| {
        let dest_real = resolve_in_root(rootfs, &dest, true)?;
        let target = target_of(&dest, &dest_real, &name, m.is_dir(), contents)?;
        let parent_real = resolve_in_root(rootfs, &target, false)?;
        if !parent_real.parent().is_some_and(|p| p.is_dir()) {
            bail!(
                "no such directory: {}",
                Path::new(&target)
                    .parent()
                    .unwrap_or(Path::new("/"))
                    .display()
            );
        }
        copy_tree(src, &target, &|p| resolve_in_root(rootfs, p, false))
    })
}

/// `docker cp CONTAINER:SRC -`: SRC as a tar stream on `out`.
pub fn copy_from_as_tar(
    root: &Path,
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
    with_rootfs(root, c, false, move |rootfs| {
        let real = resolve_in_root(rootfs, &src, follow_link)?;
        let m = fs::symlink_metadata(&real).map_err(|_| {
            anyhow::Error::new(crate::error::ExitError::new(
                1,
                format!("Could not find the file {src} in container {}", c.name),
            ))
        })?;
        let name = match base_name(&src) {
            n if n.is_empty() => ".".to_string(),
            n => n,
        };
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        builder.append_path_with_name(&real, &name)?;
        if m.is_dir() {
            append_named(&mut builder, &real, Path::new(&name))?;
        }
        builder.into_inner()?.flush()?;
        Ok(())
    })
}

fn append_named<W: Write>(builder: &mut tar::Builder<W>, dir: &Path, name: &Path) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let full = dir.join(&n);
        builder.append_path_with_name(&full, name.join(&n))?;
        if fs::symlink_metadata(&full)?.is_dir() {
            append_named(builder, &full, &name.join(&n))?;
        }
    }
    Ok(())
}

/// `docker cp - CONTAINER:DEST`: unpack a tar from `input` into the
/// directory DEST; each entry is placed through `resolve_in_root`, and
/// entries with `..` or absolute names are refused.
pub fn copy_into_from_tar(
    root: &Path,
    c: &Container,
    input: &mut dyn std::io::Read,
    dest: &str,
) -> Result<()> {
    let dest = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("/{dest}")
    };
    with_rootfs(root, c, true, move |rootfs| {
        let dest_real = resolve_in_root(rootfs, &dest, true)?;
        if !dest_real.is_dir() {
            bail!("destination directory {dest} does not exist in the container");
        }
        let mut archive = tar::Archive::new(input);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
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
            let rel = path.display().to_string();
            let rel = rel.trim_start_matches("./").trim_end_matches('/');
            if rel.is_empty() || rel == "." {
                continue;
            }
            let logical = format!("{}/{rel}", dest.trim_end_matches('/'));
            let real = resolve_in_root(rootfs, &logical, false)?;
            let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
            let existing = fs::symlink_metadata(&real).ok();
            match entry.header().entry_type() {
                tar::EntryType::Directory => {
                    match &existing {
                        Some(e) if e.is_dir() => {}
                        Some(_) => {
                            fs::remove_file(&real)?;
                            fs::create_dir(&real)?;
                        }
                        None => {
                            fs::create_dir(&real).with_context(|| format!("mkdir {logical}"))?
                        }
                    }
                    fs::set_permissions(&real, fs::Permissions::from_mode(mode))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if let Some(e) = &existing {
                        if e.is_dir() {
                            bail!("cannot overwrite directory {logical} with a file");
                        }
                        fs::remove_file(&real)?;
                    }
                    let mut to = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&real)
                        .with_context(|| format!("create {logical}"))?;
                    std::io::copy(&mut entry, &mut to)?;
                    fs::set_permissions(&real, fs::Permissions::from_mode(mode))?;
                }
                tar::EntryType::Symlink => {
                    if let Some(e) = &existing {
                        if e.is_dir() {
                            bail!("cannot overwrite directory {logical} with a symlink");
                        }
                        fs::remove_file(&real)?;
                    }
                    let target = entry
                        .link_name()?
                        .context("symlink without a target")?
                        .into_owned();
                    std::os::unix::fs::symlink(target, &real)?;
                }
                // Hard links, devices and fifos are not unpacked.
                _ => {}
            }
        }
        Ok(())
    })
}

/// Append the tree at `dir` to `builder` as `prefix/...`, sorted, without
/// following symlinks; `keep` decides per relative path.
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    skip_mounts: bool,
    root_dev: u64,
) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir.join(rel))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let child = rel.join(&name);
        let full = dir.join(&child);
        let m = fs::symlink_metadata(&full)?;
        builder.append_path_with_name(&full, &child)?;
        if m.is_dir() && !(skip_mounts && m.dev() != root_dev) {
            append_tree(builder, dir, &child, skip_mounts, root_dev)?;
        }
    }
    Ok(())
}

/// `docker export`: the merged filesystem as a tar (the overlay mounted
/// read-only in a helper's own mount namespace, for a running container
/// too, so /proc, /sys and /dev are the image's empty directories).
pub fn export(root: &Path, c: &Container, out: &mut dyn Write) -> Result<()> {
    let mut stopped = c.clone();
    // Read through a private read-only overlay whether it runs or not.
    stopped.state.status = Status::Exited;
    stopped.state.pid = 0;
    with_rootfs(root, &stopped, false, move |rootfs| {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        let dev = fs::metadata(rootfs)?.dev();
        append_tree(&mut builder, rootfs, Path::new(""), true, dev)?;
        builder.into_inner()?.flush()?;
        Ok(())
    })
}

/// The upper dir as a layer tar (for `commit`): whiteouts become `.wh.NAME`
/// entries, opaque directories get `.wh..wh..opq`; glassbox's mount points
/// are left out. Returns nothing; writes into `w`.
pub fn layer_tar(root: &Path, c: &Container, w: &mut dyn Write) -> Result<()> {
    let upper = c.dir(root).join("upper");
    let lower = lower_dirs(root, c)?;
    let mut builder = tar::Builder::new(w);
    builder.follow_symlinks(false);
    let mut skip: BTreeSet<PathBuf> = BTreeSet::new();
    for p in MOUNT_POINTS {
        let m = fs::symlink_metadata(upper.join(p));
        if matches!(&m, Ok(m) if m.is_file() && m.len() == 0) && !in_lower(&lower, Path::new(p)) {
            skip.insert(PathBuf::from(p));
        }
    }
    layer_walk(&mut builder, &upper, Path::new(""), &skip)?;
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
    upper: &Path,
    rel: &Path,
    skip: &BTreeSet<PathBuf>,
) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(upper.join(rel))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let child = rel.join(&name);
        if skip.contains(&child) {
            continue;
        }
        let full = upper.join(&child);
        let m = fs::symlink_metadata(&full)?;
        if is_whiteout(&m) {
            let wh = rel.join(format!(".wh.{}", name.to_string_lossy()));
            builder.append(&empty_entry(&wh), std::io::empty())?;
            continue;
        }
        builder.append_path_with_name(&full, &child)?;
        if m.is_dir() {
            if is_opaque(&full) {
                builder.append(&empty_entry(&child.join(".wh..wh..opq")), std::io::empty())?;
            }
            layer_walk(builder, upper, &child, skip)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::create_dir_all(r.join("data")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", r.join("data/up")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert_eq!(
            resolve_in_root(r, "/abs/passwd", false).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(r, "../../etc", false).unwrap(),
            r.join("etc")
        );
        assert_eq!(
            resolve_in_root(r, "/data/up/etc/x", false).unwrap(),
            r.join("etc/x")
        );
        // The last symlink itself, unless asked to follow it.
        assert_eq!(resolve_in_root(r, "/abs", false).unwrap(), r.join("abs"));
        assert_eq!(resolve_in_root(r, "/abs", true).unwrap(), r.join("etc"));
        assert!(resolve_in_root(r, "/loop/x", false).is_err());
    }
}
