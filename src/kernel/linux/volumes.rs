//! The child's volume steps: seed an empty volume from the image, mount a
//! volume, a host path or a tmpfs inside the container's root, and make a
//! mount read-only.
//!
//! The container's root is content the image controls. Every mount target
//! is resolved inside it with `openat2(RESOLVE_IN_ROOT)` (a symlink is
//! followed as if the root were `/`, `..` stops at the root), missing
//! directories are made relative to the fd of their resolved parent, and the
//! mount is made on `/proc/self/fd/N` of the final `O_PATH` fd, as runc does:
//! no path is ever handed to mount(2) that the image could redirect.

use crate::fsutil::{self, Resolve, RootDir};
use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Resolve `destination` inside `root`, making what is missing (directories,
/// and an empty file as the last component when `dir` is false). A dangling
/// symlink on the way is followed inside the root and its target made.
/// Returns an `O_PATH` fd of the mount point.
pub fn target_in_root(root: &RootDir, destination: &str, dir: bool) -> Result<OwnedFd> {
    let mut pending = components(destination);
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    let open = |path: &[String], last: bool| -> std::io::Result<OwnedFd> {
        let flags = libc::O_PATH | if last && !dir { 0 } else { libc::O_DIRECTORY };
        root.open_in_root(path.join("/").as_bytes(), flags, 0, Resolve::InRoot)
    };
    while !pending.is_empty() {
        let c = pending.remove(0);
        let last = pending.is_empty();
        let mut here = done.clone();
        here.push(c.clone());
        match open(&here, last) {
            Ok(_) => {
                done = here;
                continue;
            }
            Err(e) if errno_of(&e) == libc::ENOENT => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("mount point /{} in the container", here.join("/")))
            }
        }
        // Missing: the parent resolved fine (inside the root); make it there.
        let parent = open(&done, false)
            .with_context(|| format!("mount point /{} in the container", done.join("/")))?;
        match fsutil::lstat_at(parent.as_fd(), c.as_bytes()) {
            Ok(st) if fsutil::is_symlink(&st) => {
                // A dangling link: make its target, inside the root.
                links += 1;
                if links > 40 {
                    bail!("mount point {destination}: too many levels of symbolic links");
                }
                let target = fsutil::readlink_at(parent.as_fd(), c.as_bytes())?;
                let target = String::from_utf8_lossy(&target).into_owned();
                let mut next = if target.starts_with('/') {
                    Vec::new()
                } else {
                    done.clone()
                };
                next.extend(components(&target));
                next.append(&mut pending);
                pending = next;
                done.clear();
                continue;
            }
            Ok(_) | Err(_) => {}
        }
        let made = if last && !dir {
            fsutil::openat(
                parent.as_fd(),
                c.as_bytes(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                0o644,
            )
            .map(drop)
        } else {
            fsutil::mkdir_at(parent.as_fd(), c.as_bytes(), 0o755)
        };
        match made {
            Ok(()) => {}
            Err(e) if errno_of(&e) == libc::EEXIST => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("make mount point /{} in the container", here.join("/"))
                })
            }
        }
        done = here;
    }
    open(&done, true).with_context(|| format!("mount point {destination} in the container"))
}

/// `volume_mount`: bind `source` (recursively) or mount a tmpfs (`options`:
/// its flags and data) at `destination` inside `root`.
pub fn mount_in_root(
    kind: &str,
    source: &Path,
    root: &Path,
    destination: &str,
    options: &str,
) -> Result<()> {
    let root_dir = RootDir::open(root)?;
    let dir = kind == "tmpfs" || source.is_dir();
    let fd = target_in_root(&root_dir, destination, dir)?;
    let target = fsutil::proc_fd_path(fd.as_fd());
    if kind == "tmpfs" {
        // "nosuid,nodev,noexec,size=1m": the flags, then tmpfs's own data.
        let (flags, data) = super::mounts::split_options(options, false);
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(Some("tmpfs"), &target, Some("tmpfs"), flags, data)
            .with_context(|| format!("mount tmpfs on {destination}"))
    } else {
        mount(
            Some(source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .with_context(|| format!("bind {} onto {destination}", source.display()))
    }
}

/// `volume_remount_ro`: the mount now at `destination` becomes read-only.
pub fn remount_ro(root: &Path, destination: &str) -> Result<()> {
    let root_dir = RootDir::open(root)?;
    let fd = root_dir
        .open_in_root(destination.as_bytes(), libc::O_PATH, 0, Resolve::InRoot)
        .with_context(|| format!("mount point {destination} in the container"))?;
    mount(
        None::<&str>,
        &fsutil::proc_fd_path(fd.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .with_context(|| format!("remount {destination} read-only"))
}

/// `volume_seed`: copy what the image has at `destination` into the empty
/// `volume` (owners and modes kept, symlinks copied as links, never
/// followed), under the volume's lock.
pub fn seed(root: &Path, destination: &str, volume: &Path) -> Result<()> {
    let root_dir = RootDir::open(root)?;
    let src = match root_dir.open_in_root(
        destination.as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        Resolve::InRoot,
    ) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: nothing to copy.
        Err(e) if matches!(errno_of(&e), libc::ENOENT | libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("open {destination} in the image")),
    };
    // Under the volume's lock: of two containers starting on one empty
    // volume, one copies and the other finds it full.
    let _lock = crate::volume::lock::VolumeLock::exclusive_for_data(volume)?;
    let dst = RootDir::open(volume)?;
    let dst = fsutil::openat(dst.fd(), b".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    if !fsutil::dir_entries(dst.as_fd())?.is_empty() {
        return Ok(()); // it holds something already: left as it is
    }
    let st = fsutil::fstat(src.as_fd())?;
    copy_dir(src.as_fd(), dst.as_fd())
        .with_context(|| format!("copy {destination} into {}", volume.display()))?;
    fsutil::chown_at(dst.as_fd(), b"", st.st_uid, st.st_gid)?;
    fsutil::chmod_fd(dst.as_fd(), st.st_mode & 0o7777)?;
    Ok(())
}

fn copy_dir(src: BorrowedFd, dst: BorrowedFd) -> Result<()> {
    for name in fsutil::dir_entries(src)? {
        let st = fsutil::lstat_at(src, &name)?;
        let mode = st.st_mode & 0o7777;
        if fsutil::is_dir(&st) {
            fsutil::mkdir_at(dst, &name, 0o700)?;
            let s = fsutil::openat(
                src,
                &name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?;
            let d = fsutil::openat(
                dst,
                &name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?;
            copy_dir(s.as_fd(), d.as_fd())?;
            fsutil::chmod_fd(d.as_fd(), mode)?;
        } else if fsutil::is_regular(&st) {
            let s = fsutil::openat(src, &name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
            let d = fsutil::openat(
                dst,
                &name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            )?;
            let (mut s, mut d) = (std::fs::File::from(s), std::fs::File::from(d));
            std::io::copy(&mut s, &mut d)?;
            fsutil::chmod_fd(d.as_fd(), mode)?;
        } else if fsutil::is_symlink(&st) {
            let target = fsutil::readlink_at(src, &name)?;
            fsutil::symlink_at(&target, dst, &name)?;
        } else {
            // Devices, fifos, sockets: the same node.
            fsutil::mknod_at(dst, &name, st.st_mode, st.st_rdev)?;
            fsutil::chmod_at(dst, &name, mode)?;
        }
        fsutil::chown_at(dst, &name, st.st_uid, st.st_gid)?;
        if !fsutil::is_symlink(&st) {
            // chown clears setuid/setgid bits: put the mode back.
            fsutil::chmod_at(dst, &name, mode)?;
        }
    }
    Ok(())
}
