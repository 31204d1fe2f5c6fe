//! The user-namespace steps on the real kernel (`--userns=auto`): the id
//! maps, idmapped copies of the image layers handed to the child over a
//! socket, the child becoming the namespace's root, and the chown of the
//! few files that root must write.

use crate::confine::userns::IdMap;
use anyhow::{bail, Context, Result};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// `struct mount_attr` of mount_setattr(2) (not in the libc crate).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;

/// Every range of the map, uid_map then gid_map, each in one write(2) as
/// the kernel wants it (`IdRanges::check` kept it under a page).
pub fn write_maps(pid: i32, map: &IdMap) -> Result<()> {
    for (file, ranges) in [("uid_map", map.uids()), ("gid_map", map.gids())] {
        let path = format!("/proc/{pid}/{file}");
        let text = ranges.text();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("open {path}"))?;
        let n = std::io::Write::write(&mut f, text.as_bytes())
            .with_context(|| format!("write {text:?} to {path}"))?;
        if n != text.len() {
            bail!(
                "write {text:?} to {path}: the kernel took {n} of {} bytes",
                text.len()
            );
        }
    }
    Ok(())
}

fn c_path(path: &Path) -> Result<std::ffi::CString> {
    std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .with_context(|| format!("path {} has a NUL byte", path.display()))
}

/// An idmapped, detached copy of the mount at `layer`.
fn idmapped_copy(layer: &Path, userns: RawFd) -> Result<OwnedFd> {
    let path = c_path(layer)?;
    // SAFETY: open_tree with a valid C string; the fd returned is ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        bail!("open_tree {}: {e}", layer.display());
    }
    // SAFETY: a fresh descriptor open_tree gave us.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns as u64,
    };
    // SAFETY: mount_setattr on our tree fd with a properly sized attr struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        bail!(
            "mount_setattr(MOUNT_ATTR_IDMAP) on {}: {e} (idmapped mounts need Linux 5.12 or later and a filesystem that supports them)",
            layer.display()
        );
    }
    Ok(tree)
}

/// The parent's half: an idmapped copy of each layer, sent to the child in order.
pub fn idmap_layers(pid: i32, layers: &[PathBuf], targets: &[PathBuf], sock: RawFd) -> Result<()> {
    let userns = std::fs::File::open(format!("/proc/{pid}/ns/user"))
        .with_context(|| format!("open /proc/{pid}/ns/user"))?;
    for target in targets {
        std::fs::create_dir_all(target).with_context(|| format!("create {}", target.display()))?;
    }
    for layer in layers {
        let tree = idmapped_copy(layer, userns.as_raw_fd())?;
        let fds = [tree.as_raw_fd()];
        sendmsg::<()>(
            sock,
            &[IoSlice::new(b"L")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| anyhow::anyhow!("send the idmapped layer to the container: {}", e.desc()))?;
    }
    Ok(())
}

/// The child's half: receive each layer's mount and attach it at its target.
pub fn attach_layers(sock: RawFd, targets: &[PathBuf]) -> Result<()> {
    for target in targets {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(|e| anyhow::anyhow!("receive an idmapped layer: {}", e.desc()))?;
        let fd = msg
            .cmsgs()
            .map_err(|e| anyhow::anyhow!("receive an idmapped layer: {}", e.desc()))?
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .context("the parent sent no idmapped layer")?;
        // SAFETY: the descriptor just arrived with SCM_RIGHTS: ours alone.
        let tree = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = c_path(target)?;
        // SAFETY: move_mount of our detached tree onto a path we name.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                path.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            bail!("move_mount onto {}: {e}", target.display());
        }
    }
    Ok(())
}

/// Become uid and gid 0 of the user namespace just joined or made.
pub fn become_root() -> Result<()> {
    use super::confine::{raw_setgroups, raw_setresid};
    raw_setgroups(&[]).map_err(|e| anyhow::anyhow!("setgroups: {}", e.desc()))?;
    raw_setresid(libc::SYS_setresgid, 0)
        .map_err(|e| anyhow::anyhow!("setresgid 0: {}", e.desc()))?;
    raw_setresid(libc::SYS_setresuid, 0).map_err(|e| anyhow::anyhow!("setresuid 0: {}", e.desc()))
}

/// chown without following a symlink (the files are glassbox's own).
pub fn chown(paths: &[PathBuf], uid: u32, gid: u32) -> Result<()> {
    for p in paths {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid))
            .with_context(|| format!("chown {uid}:{gid} {}", p.display()))?;
    }
    Ok(())
}
