//! The cgroup v2 device program (`confine::devices`, attached with bpf(2)
//! by `kernel::linux::bpf`) on the real kernel: in a directory of its own
//! under the host's cgroup2 mount (on the dev VM, /sys/fs/cgroup/unified,
//! which has no controllers: device programs need none).
//!
//! Host safety: the host's root disk is only opened for reading (a node
//! made in a temp dir, 512 bytes read at most); every cgroup made here is
//! removed, its processes killed by PID.

mod common;

use common::{stderr, stdout, Cgroup2Scratch, Gb};
use glassbox::confine::{devices, DEFAULT_DEVICE_RULES};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// A block device the host itself may open for reading, as (major, minor,
/// its /dev node): the root filesystem's device when the host can open it
/// (some sandboxes refuse even root), else the first of /sys/block that opens.
fn host_block_device() -> Option<(u32, u32, PathBuf)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let root = info
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string));
    let mut candidates: Vec<(String, PathBuf)> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            Some((
                dev.trim().to_string(),
                Path::new("/dev").join(e.file_name()),
            ))
        })
        .collect();
    candidates.sort_by_key(|(dev, node)| (Some(dev) != root.as_ref(), node.clone()));
    candidates.into_iter().find_map(|(dev, node)| {
        let (major, minor) = dev.split_once(':')?;
        std::fs::File::open(&node).ok()?;
        Some((major.parse().ok()?, minor.parse().ok()?, node))
    })
}

fn default_rules() -> Vec<String> {
    DEFAULT_DEVICE_RULES.iter().map(|r| r.to_string()).collect()
}

/// Run a shell in the cgroup (the forked child moves itself in before
/// exec) that opens /dev/null and then `node` for reading; its output.
fn open_in_cgroup(cgroup: &Path, node: &Path) -> (String, String) {
    let procs = std::ffi::CString::new(cgroup.join("cgroup.procs").to_str().unwrap()).unwrap();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args([
        "-c",
        ": </dev/null && echo null=ok; : <\"$1\" && echo disk=ok",
        "sh",
    ])
    .arg(node)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    // SAFETY: only open(2), write(2) and close(2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let r = libc::write(fd, b"0".as_ptr().cast(), 1);
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            if r != 1 {
                return Err(e);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn a shell in the cgroup");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    (stdout(&o), stderr(&o))
}

#[test]
fn the_device_program_refuses_the_host_disk_in_its_cgroup_and_allow_all_does_not() {
    require_root!();
    let Some((major, minor, _)) = host_block_device() else {
        eprintln!("skipped: the host cannot open any block device here");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("hostroot");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(major as u64, minor as u64),
    )
    .unwrap();
    let Some(confined) = Cgroup2Scratch::new("devprog") else {
        eprintln!("skipped: the host has no cgroup2 mount");
        return;
    };
    let program = devices::program(true, &default_rules()).unwrap();
    glassbox::kernel::linux::bpf::attach_device_program(&confined.path, &program)
        .expect("attach the default device program");
    let (out, err) = open_in_cgroup(&confined.path, &node);
    assert!(out.contains("null=ok"), "/dev/null must open: {out}{err}");
    assert!(!out.contains("disk=ok"), "the host disk opened: {out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");

    // The same list plus read access to that disk (what --device adds).
    let Some(given) = Cgroup2Scratch::new("devprog-given") else {
        return;
    };
    let mut rules = default_rules();
    rules.push(format!("b {major}:{minor} r"));
    let program = devices::program(true, &rules).unwrap();
    glassbox::kernel::linux::bpf::attach_device_program(&given.path, &program).unwrap();
    let (out, err) = open_in_cgroup(&given.path, &node);
    assert!(
        out.contains("null=ok") && out.contains("disk=ok"),
        "{out}{err}"
    );

    // An allow-all list lets everything through.
    let Some(open) = Cgroup2Scratch::new("devprog-all") else {
        return;
    };
    let program = devices::program(true, &["a *:* rwm".to_string()]).unwrap();
    glassbox::kernel::linux::bpf::attach_device_program(&open.path, &program).unwrap();
    let (out, err) = open_in_cgroup(&open.path, &node);
    assert!(
        out.contains("null=ok") && out.contains("disk=ok"),
        "{out}{err}"
    );
}

#[test]
fn attaching_to_a_plain_directory_is_refused_clearly() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let program = devices::program(true, &default_rules()).unwrap();
    let e = glassbox::kernel::linux::bpf::attach_device_program(tmp.path(), &program)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not on a cgroup2 filesystem"), "{e}");
}

/// `run` on a cgroup v2 layout (GLASSBOX_CGROUP_ROOT at a directory of the
/// host's real cgroup2 mount): the container's only device control is the
/// program glassbox attached.
#[test]
fn a_container_on_cgroup_v2_cannot_open_the_host_disk_unless_privileged_or_given() {
    require_root!();
    let Some((major, minor, _)) = host_block_device() else {
        eprintln!("skipped: the host cannot open any block device here");
        return;
    };
    let Some(scratch) = Cgroup2Scratch::new("devrun") else {
        eprintln!("skipped: the host has no cgroup2 mount");
        return;
    };
    let gb = Gb::new();
    let probe = format!("mknod /hostdev b {major} {minor} && : </hostdev && echo opened");
    let run = |extra: &[&str], script: &str| {
        let trace = gb.root().join("trace.jsonl");
        let _ = std::fs::remove_file(&trace);
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        let o = gb
            .cmd()
            .env("GLASSBOX_CGROUP_ROOT", &scratch.path)
            .arg("--trace-json")
            .arg(&trace)
            .args(&args)
            .output()
            .unwrap();
        let device_step = std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["kind"] == "device_cgroup");
        (o, device_step)
    };

    let (o, step) = run(&[], &probe);
    let step = step.expect("a device_cgroup step");
    assert_eq!(step["step"]["version"], 2);
    assert!(
        step["explain"]["syscall"]
            .as_str()
            .unwrap()
            .contains("BPF_PROG_ATTACH"),
        "{step}"
    );
    assert!(
        !o.status.success() && !stdout(&o).contains("opened"),
        "the host disk opened: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    // /dev/null and friends still work.
    let (o, _) = run(&[], "echo hi >/dev/null && head -c 4 /dev/urandom | wc -c");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "4");

    let (o, step) = run(&["--privileged"], &probe);
    assert!(step.unwrap()["title"]
        .as_str()
        .unwrap()
        .contains("--privileged"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "opened");

    // --device adds read access to that one device (and nothing else).
    let (_, _, host) = host_block_device().unwrap();
    let given = format!("{}:/dev/xda:r", host.display());
    let (o, _) = run(
        &["--device", &given],
        ": </dev/xda && echo opened; true 2>/dev/xda || echo no-write",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "opened\nno-write\n");
    // Nothing left under the scratch cgroup but glassbox's empty parent.
    let left: Vec<_> = std::fs::read_dir(scratch.path.join("glassbox"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
