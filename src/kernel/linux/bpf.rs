//! Load a cgroup device program with bpf(2) and attach it to a cgroup v2
//! directory, as runc and crun do (BPF_F_ALLOW_MULTI, license "Apache").
//! The cgroup keeps its own reference to the program: glassbox closes its
//! fd right away, and the program goes away with the cgroup.

use crate::confine::devices::{encode, Insn};
use anyhow::{bail, Context, Result};
use std::os::fd::AsRawFd;
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The start of `union bpf_attr` for BPF_PROG_LOAD (the kernel zero-fills
/// the fields a shorter attr leaves out).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i32> {
    // SAFETY: attr is a live, initialised bpf_attr prefix of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r as i32)
}

/// Load the program (BPF_PROG_TYPE_CGROUP_DEVICE); on a verifier refusal the
/// error carries the verifier's log.
fn load(program: &[Insn]) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let code = encode(program);
    let license = b"Apache\0";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..12].copy_from_slice(b"glassbox_dev");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: a new fd the kernel just returned, owned by nobody else.
        Ok(fd) => Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }),
        Err(e)
            if e.raw_os_error() == Some(libc::EACCES) || e.raw_os_error() == Some(libc::EINVAL) =>
        {
            // Ask again with a log, to say why the verifier refused it.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            bail!("bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE): {e}: {text}")
        }
        Err(e) => bail!("bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE): {e}"),
    }
}

/// Load `program` and attach it to the cgroup v2 directory `cgroup`.
pub fn attach_device_program(cgroup: &Path, program: &[Insn]) -> Result<()> {
    let dir = std::fs::File::open(cgroup).with_context(|| format!("open {}", cgroup.display()))?;
    let fs =
        nix::sys::statfs::fstatfs(&dir).with_context(|| format!("statfs {}", cgroup.display()))?;
    if fs.filesystem_type().0 as i64 != CGROUP2_SUPER_MAGIC {
        bail!(
            "{} is not on a cgroup2 filesystem: the device program can only be attached to a real cgroup v2 directory",
            cgroup.display()
        );
    }
    let prog = load(program)?;
    let mut attr = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        anyhow::anyhow!(
            "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to {}: {e}",
            cgroup.display()
        )
    })?;
    Ok(())
}
