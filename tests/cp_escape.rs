//! `cp` against a container that keeps swapping a directory with a symlink
//! must never read or write the host's files.
//!
//! The attack: inside the container `/a` is a directory and `/b` a symlink
//! whose target is an absolute path that exists only on the HOST (a temp
//! dir of this test). Something keeps exchanging the two names
//! (renameat2 RENAME_EXCHANGE). A `cp` that checks the path first and then
//! opens `/proc/PID/root/a/...` by path lets the kernel follow the symlink
//! if the swap happens in between, and an absolute target is resolved
//! against the caller's root: the host's. The swapper here runs on the host
//! through `/proc/PID/root`, which is exactly what a process inside the
//! container can do to its own root (busybox has no RENAME_EXCHANGE tool).

mod common;

use common::{ok, stderr, stdout, Cleanup, Gb};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOST_SECRET: &str = "HOST SECRET, never to be read by cp";

fn exchange(root: &OwnedFd, a: &CString, b: &CString) -> bool {
    // SAFETY: valid fd and NUL-terminated names; RENAME_EXCHANGE swaps two existing entries.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            root.as_raw_fd(),
            a.as_ptr(),
            root.as_raw_fd(),
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

#[test]
fn cp_racing_a_directory_swapped_with_a_symlink_never_reaches_the_host() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let host = tempfile::Builder::new()
        .prefix("gb-cp-host-")
        .tempdir()
        .unwrap();
    // The host directory the symlink names; it does not exist in the container.
    let target = host.path().join("hostdir");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("secret"), HOST_SECRET).unwrap();
    let payload = host.path().join("payload");
    std::fs::write(&payload, "payload from the host\n").unwrap();
    let out = host.path().join("out");
    std::fs::create_dir(&out).unwrap();

    let script = format!(
        "mkdir /a && echo container secret > /a/secret && ln -s {} /b && touch /ready && sleep 300",
        target.display()
    );
    let id = ok(&gb.run(&["run", "-d", "--name", "box", "busybox", "sh", "-c", &script]))
        .trim()
        .to_string();
    common::eventually(10, "the container's /ready", || {
        gb.run(&["exec", "box", "test", "-e", "/ready"])
            .status
            .success()
    });
    let pid: i32 = ok(&gb.run(&["inspect", "--format", "{{.State.Pid}}", "box"]))
        .trim()
        .parse()
        .unwrap();

    // The swapper: /a <-> /b as fast as it can, in the container's root.
    let root_path = CString::new(format!("/proc/{pid}/root")).unwrap();
    // SAFETY: open with a valid path; we own the returned fd.
    let fd = unsafe {
        libc::open(
            root_path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0, "open /proc/{pid}/root");
    // SAFETY: fd is a fresh descriptor we own.
    let root = unsafe { OwnedFd::from_raw_fd(fd) };
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        std::thread::spawn(move || {
            let (a, b) = (CString::new("a").unwrap(), CString::new("b").unwrap());
            while !stop.load(Ordering::Relaxed) {
                if exchange(&root, &a, &b) {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut wrote, mut read, mut tar_read, mut tar_wrote, mut rounds) = (0, 0, 0, 0, 0);
    let mut leaks: Vec<String> = Vec::new();
    for i in 0..200 {
        if Instant::now() > deadline {
            break;
        }
        rounds += 1;
        // Host -> container: must land in the container or fail.
        let o = gb.run(&["cp", payload.to_str().unwrap(), &format!("box:/a/f{i}")]);
        if o.status.success() {
            wrote += 1;
        }
        // Container -> host, with and without -L.
        let dest = out.join(format!("secret{i}"));
        let mut args = vec!["cp"];
        if i % 2 == 1 {
            args.push("-L");
        }
        args.extend(["box:/a/secret", dest.to_str().unwrap()]);
        let o = gb.run(&args);
        if o.status.success() {
            read += 1;
            let got = std::fs::read_to_string(&dest).unwrap_or_default();
            if got.contains("HOST SECRET") {
                leaks.push(format!("cp {args:?} read the host's file"));
            }
        }
        // Container -> tar stream.
        let o = gb.run(&["cp", "box:/a/secret", "-"]);
        if o.status.success() {
            tar_read += 1;
            if stdout(&o).contains("HOST SECRET") {
                leaks.push("cp box:/a/secret - read the host's file".into());
            }
        }
        // Tar stream -> container.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("t{i}")).unwrap();
        h.set_size(4);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"evil"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let mut child = gb
            .cmd()
            .args(["cp", "-", "box:/a"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(&data);
        if child.wait_with_output().unwrap().status.success() {
            tar_wrote += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let swaps = swaps.load(Ordering::Relaxed);
    eprintln!(
        "{rounds} rounds, {swaps} swaps: cp into {wrote}, cp out {read}, cp out as tar {tar_read}, tar in {tar_wrote} succeeded; {} reads of the host's file",
        leaks.len()
    );

    // The host directory holds exactly what it held, unchanged.
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["secret"],
        "cp wrote into the host directory the container's symlink names"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("secret")).unwrap(),
        HOST_SECRET
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
    // The race was real: the swapper swapped, and cp worked some of the time.
    assert!(swaps > 100, "only {swaps} swaps");
    assert!(
        wrote > 0 && read > 0,
        "no cp succeeded: {wrote} in, {read} out"
    );
    // What was written is inside the container.
    let o = gb.run(&[
        "exec",
        "box",
        "sh",
        "-c",
        "ls /a /b 2>/dev/null | grep -c '^f'",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    ok(&gb.run(&["rm", "-f", "box"]));
    common::assert_clean(&gb, &[id]);
}

/// `diff` walks the container's upper dir from the host. Here a host thread
/// keeps exchanging, in that upper dir, a directory `a` with a symlink `b`
/// whose target is a host temp dir (what a container can do to its own
/// writable layer). A diff that lists `a` by path after seeing a directory
/// there would list the host directory's names instead.
#[test]
fn diff_racing_a_directory_swapped_with_a_symlink_never_lists_host_names() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let host = tempfile::Builder::new()
        .prefix("gb-diff-host-")
        .tempdir()
        .unwrap();
    const HOST_ONLY: &str = "only-on-the-host-never-in-a-diff";
    std::fs::write(host.path().join(HOST_ONLY), "host\n").unwrap();

    let script = format!(
        "mkdir /a && touch /a/inside && ln -s {} /b && touch /ready && sleep 300",
        host.path().display()
    );
    let id = ok(&gb.run(&[
        "run", "-d", "--name", "dbox", "busybox", "sh", "-c", &script,
    ]))
    .trim()
    .to_string();
    common::eventually(10, "the container's /ready", || {
        gb.run(&["exec", "dbox", "test", "-e", "/ready"])
            .status
            .success()
    });
    let before = ok(&gb.run(&["diff", "dbox"]));
    assert!(
        before.contains("A /a\nA /a/inside\nA /b\n"),
        "unexpected diff before the race:\n{before}"
    );

    // The swapper: upper/a <-> upper/b, straight in the writable layer.
    let upper = gb.root().join("containers").join(&id).join("upper");
    let upper_c = CString::new(upper.to_str().unwrap()).unwrap();
    // SAFETY: open with a valid path; we own the returned fd.
    let fd = unsafe {
        libc::open(
            upper_c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0, "open {}", upper.display());
    // SAFETY: fd is a fresh descriptor we own.
    let root = unsafe { OwnedFd::from_raw_fd(fd) };
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        std::thread::spawn(move || {
            let (a, b) = (CString::new("a").unwrap(), CString::new("b").unwrap());
            while !stop.load(Ordering::Relaxed) {
                if exchange(&root, &a, &b) {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut rounds, mut failed) = (0, Vec::new());
    let mut leaks: Vec<String> = Vec::new();
    while rounds < 100 && Instant::now() < deadline {
        rounds += 1;
        let o = gb.run(&["diff", "dbox"]);
        if !o.status.success() {
            failed.push(stderr(&o));
            continue;
        }
        let out = stdout(&o);
        if out.contains(HOST_ONLY) {
            leaks.push(out);
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let swaps = swaps.load(Ordering::Relaxed);
    eprintln!(
        "{rounds} rounds, {swaps} swaps: {} diffs failed, {} listed the host's names",
        failed.len(),
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "diff listed the host directory:\n{leaks:#?}"
    );
    assert!(
        failed.is_empty(),
        "diff failed during the race:\n{failed:#?}"
    );
    assert!(swaps > 100, "only {swaps} swaps");
    ok(&gb.run(&["rm", "-f", "dbox"]));
    common::assert_clean(&gb, &[id]);
}
