//! `cp` with `-` in simulation: a tar stream out of a simulated container
//! (`cp box:/etc - | tar t`) and into it (`cp - box:/dir` from a tar on
//! stdin), with the real copy's names and rules.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

fn names(tar_bytes: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar_bytes);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn cp_in(gb: &Gb, tar_bytes: &[u8], dest: &str) -> std::process::Output {
    let mut child = gb
        .cmd()
        .env("GLASSBOX_SIM_CLOCK", "1767225600+1")
        .args(["--simulate", "cp", "-", dest])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(tar_bytes).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cp_to_and_from_a_tar_stream_in_simulation() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]));
    // Out: a directory, named by its last component, parents first.
    let o = gb.sim_ticking(&["cp", "box:/etc", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = names(&o.stdout);
    assert_eq!(listed[0], "etc/", "{listed:?}");
    for n in ["etc/passwd", "etc/group", "etc/hostname", "etc/resolv.conf"] {
        assert!(listed.iter().any(|x| x == n), "{n}: {listed:?}");
    }
    // One file, with its content.
    let o = gb.sim_ticking(&["cp", "box:/etc/passwd", "-"]);
    let mut ar = tar::Archive::new(o.stdout.as_slice());
    let mut e = ar.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().display().to_string(), "passwd");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut e, &mut text).unwrap();
    assert!(text.starts_with("root:x:0:0:"), "{text}");
    // A path that is not there: docker's message.
    let o = gb.sim_ticking(&["cp", "box:/nope", "-"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Could not find the file /nope"),
        "{}",
        stderr(&o)
    );

    // In: a tar on stdin unpacked into a directory of the running container.
    // (A directory entry first: the real copy, too, needs each parent.)
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("new/").unwrap();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_cksum();
    b.append(&h, std::io::empty()).unwrap();
    b.get_mut()
        .extend_from_slice(&tar_of(&[("new/a.txt", b"alpha\n"), ("b.txt", b"beta\n")]));
    let t = b.into_inner().unwrap();
    let o = cp_in(&gb, &t, "box:/tmp");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        ok(&gb.sim_ticking(&["exec", "box", "cat", "/tmp/new/a.txt", "/tmp/b.txt"])),
        "alpha\nbeta\n"
    );
    // The copy shows in diff and survives a stop (it is the container's upper layer).
    ok(&gb.sim_ticking(&["kill", "box"]));
    let diff = ok(&gb.sim_ticking(&["diff", "box"]));
    assert!(diff.contains("A /tmp/b.txt"), "{diff}");
    // Into a stopped container too, then out again.
    let o = cp_in(&gb, &tar_of(&[("c.txt", b"gamma\n")]), "box:/tmp/new");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gb.sim_ticking(&["cp", "box:/tmp/new", "-"]);
    assert_eq!(names(&o.stdout), vec!["new/", "new/a.txt", "new/c.txt"]);

    // The real copy's refusals.
    let o = cp_in(&gb, &t, "box:/nowhere");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("destination directory /nowhere does not exist"),
        "{}",
        stderr(&o)
    );
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_mut_bytes()[..9].copy_from_slice(b"../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    evil.append(&h, &b"x"[..]).unwrap();
    let o = cp_in(&gb, &evil.into_inner().unwrap(), "box:/tmp");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("leaves the destination"),
        "{}",
        stderr(&o)
    );
    ok(&gb.sim_ticking(&["rm", "-f", "box"]));
}
