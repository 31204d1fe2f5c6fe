//! Store garbage: what a killed image operation leaves behind is seen by
//! `system df`, removed by `image prune` / `system prune`, and never robs a
//! command still working; one image is one record whatever archive it came
//! from; `system prune`'s prompt and output are docker's.

mod common;

use common::{ok, stderr, stdout, Cleanup, Gb};
use std::path::Path;
use std::time::{Duration, Instant};

fn fixtures() -> Option<std::path::PathBuf> {
    std::env::var_os("GLASSBOX_FIXTURES").map(std::path::PathBuf::from)
}

/// (blob files, unpacked layer dirs, bytes of both) of a store: temp names included,
/// so anything a killed command left counts.
fn store_size(root: &Path) -> (usize, usize, u64) {
    fn bytes(p: &Path) -> u64 {
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if md.is_dir() {
            std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| bytes(&e.path())).sum())
                .unwrap_or(0)
        } else {
            md.len()
        }
    }
    let count = |d: &str| {
        std::fs::read_dir(root.join(d))
            .map(|rd| rd.count())
            .unwrap_or(0)
    };
    let loose: u64 = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .map(|e| bytes(&e.path()))
        .sum();
    (
        count("blobs/sha256"),
        count("layers"),
        bytes(&root.join("blobs")) + bytes(&root.join("layers")) + loose,
    )
}

/// A small rootfs image named `name` (the fixture's busybox, else a one-file tar).
fn import_base(gb: &Gb, name: &str) {
    let p = gb.root().join("base.tar");
    match fixtures() {
        Some(f) if f.join("busybox-rootfs.tar").is_file() => {
            std::fs::copy(f.join("busybox-rootfs.tar"), &p).unwrap();
        }
        _ => panic!("GLASSBOX_FIXTURES with busybox-rootfs.tar is needed"),
    }
    ok(&gb.run(&["import", "-c", "CMD [\"sh\"]", p.to_str().unwrap(), name]));
    std::fs::remove_file(&p).unwrap();
}

fn kill9(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

#[test]
fn a_killed_commit_leaves_nothing_after_system_prune() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    import_base(&gb, "gcbase");
    let name = format!("gc-{}", std::process::id());
    ok(&gb.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "gcbase",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1k count=300 2>/dev/null; echo ready > /ready; sleep 600",
    ]));
    common::eventually(20, "the container to write its files", || {
        stdout(&gb.run(&["exec", &name, "cat", "/ready"])).contains("ready")
    });
    let before = store_size(gb.root());

    // 1. Paused by the test hook after the layer blob, config and unpacked
    //    layer are written but before the image is named, then SIGKILLed.
    let marker = gb.root().join("paused");
    let child = gb
        .cmd()
        .env("GLASSBOX_TEST_PAUSE_BEFORE_INDEX", &marker)
        .args(["commit", &name, "gc-new:1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::eventually(30, "the commit to reach the hook", || marker.exists());
    kill9(child.id());
    let mut child = child;
    child.wait().unwrap();
    let orphaned = store_size(gb.root());
    assert!(
        orphaned.0 > before.0 && orphaned.1 > before.1 && orphaned.2 > before.2 + 300_000,
        "the killed commit left its layer: {before:?} -> {orphaned:?}"
    );
    assert!(!stdout(&gb.run(&["images"])).contains("gc-new"));

    // system df sees the orphans as reclaimable image data
    let df = ok(&gb.run(&["system", "df", "--format", "{{.Type}} {{.Reclaimable}}"]));
    let images_line = df.lines().find(|l| l.starts_with("Images")).unwrap();
    assert!(!images_line.ends_with(" 0B"), "{df}");

    let out = ok(&gb.run(&["system", "prune", "-a", "-f"]));
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(
        store_size(gb.root()),
        before,
        "the store is back to its size"
    );
    // the running container and its image were left alone
    assert!(stdout(&gb.run(&["ps", "-q"])).trim().len() == 12);
    assert!(stdout(&gb.run(&["images"])).contains("gcbase"));

    // 2. SIGKILL at a few points of an unpaused commit: whatever it left, prune clears.
    for delay_ms in [5u64, 40, 120, 300] {
        let mut child = gb
            .cmd()
            .args(["commit", &name, &format!("gc-k:{delay_ms}")])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        child.wait().unwrap();
        // a commit that finished before the kill made an image: untag it first
        let _ = gb.run(&["rmi", &format!("gc-k:{delay_ms}")]);
        ok(&gb.run(&["system", "prune", "-a", "-f"]));
        assert_eq!(
            store_size(gb.root()),
            before,
            "after a kill at {delay_ms} ms"
        );
    }
    ok(&gb.run(&["rm", "-f", &name]));
}

#[test]
fn prune_does_not_rob_an_operation_still_working() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    import_base(&gb, "gcbase2");
    let name = format!("gc2-{}", std::process::id());
    ok(&gb.run(&["create", "--name", &name, "gcbase2", "true"]));
    ok(&gb.run(&["start", "-a", &name]));
    // a commit paused before naming its image: its blobs are unreferenced but in use
    let marker = gb.root().join("paused");
    let mut child = gb
        .cmd()
        .env("GLASSBOX_TEST_PAUSE_BEFORE_INDEX", &marker)
        .env("GLASSBOX_TEST_PAUSE_SECS", "3")
        .args(["commit", &name, "gc-live:1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::eventually(30, "the commit to reach the hook", || marker.exists());
    let t = Instant::now();
    // image prune waits for the commit instead of removing its blobs
    let o = gb.run(&["image", "prune", "-f"]);
    ok(&o);
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "prune did not wait for the working commit"
    );
    assert!(child.wait().unwrap().success(), "the commit finished");
    assert!(stdout(&gb.run(&["images"])).contains("gc-live"));
    ok(&gb.run(&["run", "--rm", "gc-live:1", "true"]));
    ok(&gb.run(&["rm", "-f", &name]));
}

#[test]
fn orphans_are_seen_by_df_and_removed_by_image_prune() {
    let gb = Gb::new();
    ok(&gb.run(&["images"])); // makes the layout
    let root = gb.root();
    // an orphan blob (content-addressed, as a killed pull leaves it)
    let data = vec![7u8; 200_000];
    let hex = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&data))
    };
    std::fs::write(root.join("blobs/sha256").join(&hex), &data).unwrap();
    // an orphan unpacked layer
    let layer = root.join("layers").join("ab".repeat(32));
    std::fs::create_dir_all(layer.join("diff")).unwrap();
    std::fs::write(layer.join("diff/f"), vec![1u8; 100_000]).unwrap();
    std::fs::write(
        layer.join("meta.json"),
        serde_json::to_vec(&serde_json::json!({
            "chain_id": format!("sha256:{}", "ab".repeat(32)),
            "diff_id": format!("sha256:{}", "ab".repeat(32)),
            "blob_digest": format!("sha256:{hex}"),
            "size": 100_000,
            "stats": {"files": 1, "dirs": 0, "symlinks": 0, "hardlinks": 0, "whiteouts": 0, "opaque_dirs": 0, "devices": 0, "bytes": 100000},
            "unpacked_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap(),
    )
    .unwrap();
    // a temp file and dir of a dead process (the repair pass removes them)
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    std::fs::write(root.join(format!(".tmp-{dead_pid}-commit-layer.tar")), b"x").unwrap();
    std::fs::create_dir_all(root.join(format!("load.tmp-{dead_pid}-0/blobs"))).unwrap();

    let df = ok(&gb.run(&["system", "df"]));
    let images = df.lines().find(|l| l.starts_with("Images")).unwrap();
    assert!(
        images.contains("300kB") && images.contains("300kB (100%)"),
        "{df}"
    );
    assert!(!root
        .join(format!(".tmp-{dead_pid}-commit-layer.tar"))
        .exists());
    assert!(!root.join(format!("load.tmp-{dead_pid}-0")).exists());

    let out = ok(&gb.run(&["image", "prune", "-f"]));
    assert!(out.ends_with("Total reclaimed space: 300kB\n"), "{out}");
    assert!(!layer.exists() && !root.join("blobs/sha256").join(&hex).exists());
    assert_eq!(store_size(root), (0, 0, 0));
    let df = ok(&gb.run(&["system", "df"]));
    assert!(
        df.contains("Images          0         0         0B        0B"),
        "{df}"
    );
}

#[test]
fn an_image_loaded_from_two_archive_formats_is_one_image() {
    let Some(fx) = fixtures() else {
        eprintln!("skipped: GLASSBOX_FIXTURES is not set");
        return;
    };
    let gb = Gb::new();
    let docker = fx.join("busybox-docker.tar");
    let oci = fx.join("busybox-oci.tar");
    ok(&gb.run(&["load", "-i", docker.to_str().unwrap()]));
    ok(&gb.run(&["load", "-i", oci.to_str().unwrap()]));
    ok(&gb.run(&["load", "-i", docker.to_str().unwrap()]));
    let ids = ok(&gb.run(&["images", "-q"]));
    assert_eq!(ids.lines().count(), 1, "listed once: {ids}");
    let all = ok(&gb.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(all, "busybox:latest\n");
    ok(&gb.run(&["tag", "busybox", "mine:v1"]));
    let out = ok(&gb.run(&["rmi", "busybox", "mine:v1"]));
    assert!(
        out.contains("Untagged: mine:v1") && out.contains("Deleted: sha256:"),
        "{out}"
    );
    assert_eq!(
        ok(&gb.run(&["images", "-q"])),
        "",
        "one rmi per name removed it"
    );
    // what the second format brought (its manifest, other blobs) is garbage now
    ok(&gb.run(&["image", "prune", "-f"]));
    assert_eq!(store_size(gb.root()), (0, 0, 0));
}

#[test]
fn system_prune_prompts_like_docker_and_reports_what_it_removed() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    import_base(&gb, "gcbase3");
    ok(&gb.run(&["tag", "gcbase3", "other:1"]));
    ok(&gb.run(&["rmi", "gcbase3"])); // still named other:1
    let name = format!("gc3-{}", std::process::id());
    let id = ok(&gb.run(&["create", "--name", &name, "other:1", "true"]))
        .trim()
        .to_string();

    // no -f and nothing on stdin: docker's prompt, answered "no"
    let o = gb.run(&["system", "prune"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "WARNING! This will remove:\n  - all stopped containers\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] \n"
    );
    assert_eq!(
        stdout(&gb.run(&["ps", "-aq"])).lines().count(),
        1,
        "nothing removed"
    );
    let o = gb.run(&["system", "prune", "-a", "--volumes"]);
    assert!(
        stdout(&o).starts_with("WARNING! This will remove:\n  - all stopped containers\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\nAre you sure"),
        "{}",
        stdout(&o)
    );
    // answered yes on stdin
    let mut child = gb
        .cmd()
        .args(["system", "prune", "-a"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let o = child.wait_with_output().unwrap();
    let out = stdout(&o);
    let after_prompt = out.split("[y/N] ").nth(1).unwrap_or("");
    let lines: Vec<&str> = after_prompt.lines().collect();
    assert_eq!(lines[0], "Deleted Containers:", "{out}");
    assert_eq!(lines[1], id, "{out}");
    assert_eq!(lines[2], "", "{out}");
    assert_eq!(lines[3], "Deleted Images:", "{out}");
    assert_eq!(lines[4], "untagged: other:1", "{out}");
    assert!(lines[5].starts_with("deleted: sha256:"), "{out}");
    assert!(
        lines.last().unwrap().starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert_ne!(*lines.last().unwrap(), "Total reclaimed space: 0B", "{out}");
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
    assert_eq!(ok(&gb.run(&["ps", "-aq"])), "");
    assert_eq!(store_size(gb.root()), (0, 0, 0));
    // nothing left: just the total
    assert_eq!(
        ok(&gb.run(&["system", "prune", "-f", "--volumes"])),
        "Total reclaimed space: 0B\n"
    );
}

/// A `load` and an `import` killed after writing their blobs and layers but
/// before naming the image leave garbage that `image prune` removes.
#[test]
fn killed_load_and_import_leave_nothing_after_image_prune() {
    let Some(fx) = fixtures() else {
        eprintln!("skipped: GLASSBOX_FIXTURES is not set");
        return;
    };
    let gb = Gb::new();
    ok(&gb.run(&["images"]));
    let rootfs = fx.join("busybox-rootfs.tar");
    let oci = fx.join("busybox-oci.tar");
    let jobs: [(&str, Vec<&str>); 2] = [
        ("load", vec!["load", "-i", oci.to_str().unwrap()]),
        ("import", vec!["import", rootfs.to_str().unwrap(), "imp:1"]),
    ];
    for (what, args) in jobs {
        let marker = gb.root().join(format!("paused-{what}"));
        let mut child = gb
            .cmd()
            .env("GLASSBOX_TEST_PAUSE_BEFORE_INDEX", &marker)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        common::eventually(30, "the command to reach the hook", || marker.exists());
        kill9(child.id());
        child.wait().unwrap();
        let (blobs, layers, bytes) = store_size(gb.root());
        assert!(
            blobs >= 2 && layers >= 1 && bytes > 500_000,
            "{what} left {blobs} {layers} {bytes}"
        );
        assert_eq!(ok(&gb.run(&["images", "-q"])), "", "{what} named nothing");
        let out = ok(&gb.run(&["image", "prune", "-f"]));
        assert!(
            out.starts_with("Deleted Images:\ndeleted: sha256:"),
            "{out}"
        );
        assert_eq!(store_size(gb.root()), (0, 0, 0), "after the killed {what}");
    }
}
