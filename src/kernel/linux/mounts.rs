//! Mounts made inside the container's mount namespace: the overlay root,
//! pseudo filesystems, device nodes, bind mounts and the pivot_root.

use crate::step::{DevEntry, Special};
use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mknod, Mode, SFlag};
use std::fs;
use std::path::{Path, PathBuf};

pub fn make_rprivate() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("make / private (mount --make-rprivate /)")
}

pub fn overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    userxattr: bool,
) -> Result<()> {
    // overlayfs lists the top-most lower layer first; our list is lowest first.
    let lowers: Vec<String> = lower
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}{}",
        lowers.join(":"),
        upper.display(),
        work.display(),
        if userxattr { ",userxattr" } else { "" }
    );
    fs::create_dir_all(target)?;
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| {
        let hint = if e == nix::errno::Errno::ENODEV {
            " (is the overlay module loaded? try: modprobe overlay)"
        } else {
            ""
        };
        anyhow::anyhow!(
            "mount overlay on {}: {}{}",
            target.display(),
            e.desc(),
            hint
        )
    })
}

/// Split "nosuid,noexec,mode=755" into mount flags and the filesystem's own data.
pub(super) fn split_options(options: &str, read_only: bool) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "ro" => flags |= MsFlags::MS_RDONLY,
            other => data.push(other),
        }
    }
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    (flags, data.join(","))
}

pub fn special(fs_kind: Special, target: &Path, options: &str, read_only: bool) -> Result<()> {
    fs::create_dir_all(target)
        .with_context(|| format!("create mount point {}", target.display()))?;
    let (flags, data) = split_options(options, read_only);
    let data = if data.is_empty() {
        None
    } else {
        Some(data.as_str())
    };
    mount(
        Some(fs_kind.fstype()),
        target,
        Some(fs_kind.fstype()),
        flags,
        data,
    )
    .with_context(|| format!("mount {} on {}", fs_kind.fstype(), target.display()))
}

pub fn devices(dev: &Path, entries: &[DevEntry], bind_host: bool) -> Result<()> {
    for entry in entries {
        match entry {
            DevEntry::Char { name, .. } if bind_host => {
                // A user namespace may not mknod: bind the host's node instead.
                bind(&Path::new("/dev").join(name), &dev.join(name), false)?;
            }
            DevEntry::Char {
                name,
                major,
                minor,
                mode,
            } => {
                let path = dev.join(name);
                mknod(
                    &path,
                    SFlag::S_IFCHR,
                    Mode::from_bits_truncate(*mode),
                    nix::sys::stat::makedev(*major, *minor),
                )
                .with_context(|| format!("mknod {}", path.display()))?;
                // mknod honours the umask; set the mode we asked for.
                nix::sys::stat::fchmodat(
                    None,
                    &path,
                    Mode::from_bits_truncate(*mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )?;
            }
            DevEntry::Link { name, target } => {
                std::os::unix::fs::symlink(target, dev.join(name))
                    .with_context(|| format!("symlink {}/{name}", dev.display()))?;
            }
        }
    }
    Ok(())
}

pub fn bind(source: &Path, target: &Path, read_only: bool) -> Result<()> {
    // The mount point must exist and be of the same kind as the source.
    if source.is_dir() {
        fs::create_dir_all(target)?;
    } else if fs::symlink_metadata(target).is_err() {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::File::create(target)
            .with_context(|| format!("create mount point {}", target.display()))?;
    }
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind {} onto {}", source.display(), target.display()))?;
    if read_only {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_context(|| format!("remount {} read-only", target.display()))?;
    }
    Ok(())
}

pub fn pivot_root(new_root: &Path) -> Result<()> {
    // The "pivot_root . ." trick (as runc does): no put_old directory is needed;
    // the old root ends up stacked under the new one and is detached at once.
    nix::unistd::chdir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    nix::unistd::pivot_root(".", ".").context("pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).context("detach the old root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(())
}
