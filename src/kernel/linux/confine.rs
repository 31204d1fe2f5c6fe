//! The confinement steps on the real kernel: masked and read-only paths,
//! the read-only root, `--device` nodes, the device cgroup (v1), and, right
//! before exec, no_new_privs, the seccomp filter and the capability sets.

use crate::confine::{caps::CapSet, seccomp::Program, Device};
use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use std::path::{Path, PathBuf};

/// /dev/null over files, an empty read-only tmpfs over directories; paths
/// this kernel does not have are skipped (as runc does).
pub fn mask_paths(paths: &[String]) -> Result<()> {
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let result = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some("/dev/null"),
                path.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        result.map_err(|e| anyhow::anyhow!("mask {path}: {}", e.desc()))?;
    }
    Ok(())
}

/// Bind each path onto itself, then remount it read-only, nosuid, nodev, noexec.
pub fn readonly_paths(paths: &[String]) -> Result<()> {
    for path in paths {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(
            Some(path.as_str()),
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| anyhow::anyhow!("bind {path} onto itself: {}", e.desc()))?;
        remount_ro(
            Path::new(path),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        )?;
    }
    Ok(())
}

/// Remount a mount read-only, keeping the flags it has (a bind remount may
/// not clear locked flags such as nosuid on /proc).
pub fn remount_ro(target: &Path, extra: MsFlags) -> Result<()> {
    let current = nix::sys::statvfs::statvfs(target)
        .map(|s| s.flags())
        .with_context(|| format!("statvfs {}", target.display()))?;
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | extra;
    use nix::sys::statvfs::FsFlags;
    for (have, keep) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(have) {
            flags |= keep;
        }
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(|e| anyhow::anyhow!("remount {} read-only: {}", target.display(), e.desc()))
}

/// mknod the `--device` nodes under the container's /dev (before pivot_root).
pub fn add_devices(dev: &Path, devices: &[Device]) -> Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let root = dev.parent().unwrap_or(dev);
    for d in devices {
        let target: PathBuf = root.join(d.path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        let _ = std::fs::remove_file(&target);
        let kind = if d.kind == 'b' {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        mknod(
            &target,
            kind,
            Mode::from_bits_truncate(d.mode),
            makedev(d.major, d.minor),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "mknod {} {} {}:{}: {}",
                target.display(),
                d.kind,
                d.major,
                d.minor,
                e.desc()
            )
        })?;
        // mknod honours the umask; the node gets the host's mode exactly.
        nix::sys::stat::fchmodat(
            None,
            &target,
            Mode::from_bits_truncate(d.mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .with_context(|| format!("chmod {}", target.display()))?;
    }
    Ok(())
}

/// Parent side, before the child joins. cgroup v1: deny all, then allow
/// each rule. cgroup v2: the same rules as an eBPF device program attached
/// to the directory; a privileged container (nothing denied) gets none.
pub fn device_cgroup(
    paths: &[PathBuf],
    deny_all: bool,
    allow: &[String],
    version: u8,
) -> Result<()> {
    if version == 2 {
        if !deny_all {
            return Ok(());
        }
        let program = crate::confine::devices::program(deny_all, allow)?;
        for dir in paths {
            super::bpf::attach_device_program(dir, &program)?;
        }
        return Ok(());
    }
    use std::io::Write;
    for dir in paths {
        if deny_all {
            std::fs::write(dir.join("devices.deny"), "a")
                .with_context(|| format!("write a to {}/devices.deny", dir.display()))?;
        }
        if allow.is_empty() {
            continue;
        }
        // The kernel takes one rule per write(2), but one open file takes them all.
        let file = dir.join("devices.allow");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .with_context(|| format!("open {}", file.display()))?;
        for rule in allow {
            f.write_all(rule.as_bytes())
                .with_context(|| format!("write {rule:?} to {}", file.display()))?;
        }
    }
    Ok(())
}

pub fn no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Hand the compiled program to the kernel.
pub fn seccomp_load(program: &Program) -> Result<()> {
    let mut filter = program.instructions();
    if filter.is_empty() {
        bail!("the seccomp program is empty");
    }
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prog points at `filter`, alive for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        bail!(
            "seccomp(SECCOMP_SET_MODE_FILTER): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Take a user's identity: supplementary groups, group, user, in that
/// order (after setuid a non-root process could change none of them).
/// PR_SET_KEEPCAPS keeps the permitted set across the change to a non-root
/// uid (the effective set is cleared), so `cap_set` can still trim the
/// bounding set afterwards.
pub fn set_user(u: &crate::step::ExecUser) -> Result<(), (&'static str, nix::errno::Errno)> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(("prctl(PR_SET_KEEPCAPS)", nix::errno::Errno::last()));
    }
    raw_setgroups(&u.groups).map_err(|e| ("setgroups", e))?;
    raw_setresid(libc::SYS_setresgid, u.gid).map_err(|e| ("setgid", e))?;
    raw_setresid(libc::SYS_setresuid, u.uid).map_err(|e| ("setuid", e))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

// The container's process is a clone(2) of a runtime that may have threads
// (the cgroup-warm thread): glibc's setgroups/setgid/setuid would signal
// and wait for those threads, which do not exist in the clone, forever.
// The raw system calls change only the calling thread, the only one here
// (as runc's nsexec does).

/// setgroups(2) as a raw system call (see above).
pub fn raw_setgroups(groups: &[u32]) -> Result<(), nix::errno::Errno> {
    // SAFETY: a length and a pointer to that many gid_t.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    nix::errno::Errno::result(r).map(drop)
}

/// setresgid(2)/setresuid(2) (`call`) with all three ids `id`, raw (see above).
pub fn raw_setresid(call: libc::c_long, id: u32) -> Result<(), nix::errno::Errno> {
    // SAFETY: three integer arguments.
    let r = unsafe { libc::syscall(call, id, id, id) };
    nix::errno::Errno::result(r).map(drop)
}

fn capget_permitted() -> std::io::Result<u64> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills two data words for a version-3 header.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &header as *const CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(data[0].permitted as u64 | (data[1].permitted as u64) << 32)
}

fn capset(effective: u64, permitted: u64) -> std::io::Result<()> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: 0,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: capset with a version-3 header and two data words, as capset(2) wants.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Drop every capability not in `keep` from the bounding set, clear the
/// ambient set, then set effective = permitted = keep (inheritable empty),
/// or, for a process that already became a non-root user, effective =
/// permitted = nothing, as docker gives a non-root user.
pub fn cap_set(keep: CapSet, non_root: bool) -> Result<()> {
    if non_root {
        // set_user kept the permitted set but the kernel cleared the
        // effective one; PR_CAPBSET_DROP needs CAP_SETPCAP effective.
        let permitted = capget_permitted().map_err(|e| anyhow::anyhow!("capget: {e}"))?;
        capset(permitted, permitted)
            .map_err(|e| anyhow::anyhow!("capset (raise effective to permitted): {e}"))?;
    }
    let last = CapSet::last_cap();
    for cap in 0..=last {
        if !keep.has(cap) {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINVAL) {
                    bail!("prctl(PR_CAPBSET_DROP, {cap}): {e}");
                }
            }
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let want = if non_root { 0 } else { keep.0 };
    if let Err(e) = capset(want, want) {
        let missing = CapSet(keep.0 & !CapSet::own("CapPrm").unwrap_or(u64::MAX));
        if missing.0 != 0 {
            bail!("capset: {e}: glassbox itself does not hold {} (its CapPrm), so it cannot give it to the container; drop it from --cap-add", missing.names().join(", "));
        }
        bail!("capset: {e}");
    }
    Ok(())
}
