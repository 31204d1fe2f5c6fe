//! Volumes on the real kernel: binds of host paths, named and anonymous
//! volumes, `--volumes-from`, an image's VOLUME, read-only mounts, mount
//! targets resolved inside the container's root, and removals killed
//! half-way that never lose a volume in use.

mod common;

use common::{eventually, ok, stderr, stdout, Cleanup, Gb};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

fn inspect_mounts(gb: &Gb, name: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&ok(&gb.run(&["inspect", name]))).unwrap();
    v[0]["Mounts"].as_array().cloned().unwrap_or_default()
}

fn volume_names(gb: &Gb) -> Vec<String> {
    ok(&gb.run(&["volume", "ls", "-q"]))
        .lines()
        .map(str::to_string)
        .collect()
}

fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s[s.rfind(')').unwrap() + 2..].starts_with('T'))
        .unwrap_or(false)
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn round_trip_host_to_container_and_back_with_stop_change_start() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("msg"), "from the host\n").unwrap();
    let spec = format!("{}:/data", p(host.path()));
    let out = ok(&gb.run(&[
        "run",
        "--name",
        "rt",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /data/msg; echo from the container > /data/back",
    ]));
    assert_eq!(out, "from the host\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("back")).unwrap(),
        "from the container\n"
    );
    // Changed on the host while stopped: the next start sees it.
    std::fs::write(host.path().join("msg"), "changed on the host\n").unwrap();
    let again = ok(&gb.run(&["start", "-a", "rt"]));
    assert_eq!(again, "changed on the host\n");
    let mounts = inspect_mounts(&gb, "rt");
    assert_eq!(
        mounts,
        vec![serde_json::json!({
            "Type": "bind",
            "Source": p(host.path()),
            "Destination": "/data",
            "Mode": "",
            "RW": true,
            "Propagation": "rprivate",
        })]
    );
    // A missing host directory is made, as docker does.
    let fresh = host.path().join("new/sub");
    ok(&gb.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/x", p(&fresh)),
        "busybox",
        "touch",
        "/x/made",
    ]));
    assert!(fresh.join("made").exists());
    // A source that is a symlink is resolved on the host.
    let link = host.path().join("link");
    std::os::unix::fs::symlink(host.path(), &link).unwrap();
    let out = ok(&gb.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/l", p(&link)),
        "busybox",
        "cat",
        "/l/msg",
    ]));
    assert_eq!(out, "changed on the host\n");
}

#[test]
fn read_only_mounts_refuse_writes() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let host = tempfile::tempdir().unwrap();
    let trace = host.path().join("trace.json");
    let out = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args([
            "run",
            "--rm",
            "-v",
            &format!("{}:/data:ro", p(host.path())),
            "busybox",
            "sh",
            "-c",
            "echo x > /data/f",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!host.path().join("f").exists());
    let kinds = common::trace_kinds(&trace);
    let mount = kinds
        .iter()
        .position(|k| k == "volume_mount")
        .expect("volume_mount");
    assert_eq!(kinds[mount + 1], "volume_remount_ro");
    // --mount ...,readonly, and a read-only named volume, the same.
    for spec in [
        vec![
            "--mount".to_string(),
            format!("type=bind,source={},target=/data,readonly", p(host.path())),
        ],
        vec!["-v".to_string(), "rovol:/data:ro".to_string()],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(spec.iter().map(String::as_str));
        args.extend(["busybox", "sh", "-c", "touch /data/f"]);
        let out = gb.run(&args);
        assert!(!out.status.success(), "{spec:?}");
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!host.path().join("f").exists());
    // The rest of the container stays writable; --mount bind refuses a missing source.
    ok(&gb.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data:ro", p(host.path())),
        "busybox",
        "touch",
        "/tmp/ok",
    ]));
    let out = gb.run(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nonexistent-gb-src,target=/d",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("bind source path does not exist: /nonexistent-gb-src"),
        "{}",
        stderr(&out)
    );
    assert!(!Path::new("/nonexistent-gb-src").exists());
}

#[test]
fn a_named_volume_outlives_its_container() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "--name",
        "writer",
        "-v",
        "notes:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/note",
    ]));
    let mounts = inspect_mounts(&gb, "writer");
    assert_eq!(
        mounts,
        vec![serde_json::json!({
            "Type": "volume",
            "Name": "notes",
            "Source": p(&gb.root().join("volumes/notes/_data")),
            "Destination": "/data",
            "Driver": "local",
            "Mode": "z",
            "RW": true,
            "Propagation": "",
        })]
    );
    ok(&gb.run(&["rm", "-v", "writer"])); // -v: named volumes stay
    assert_eq!(volume_names(&gb), ["notes"]);
    let out = ok(&gb.run(&[
        "run",
        "--rm",
        "-v",
        "notes:/data",
        "busybox",
        "cat",
        "/data/note",
    ]));
    assert_eq!(out, "kept\n");
    let v: Value = serde_json::from_str(&ok(&gb.run(&["volume", "inspect", "notes"]))).unwrap();
    assert_eq!(
        v[0]["Mountpoint"],
        p(&gb.root().join("volumes/notes/_data"))
    );
    assert_eq!(v[0]["Driver"], "local");
    // dangling: nobody names it now; system prune without --volumes keeps it.
    assert_eq!(
        ok(&gb.run(&["volume", "ls", "-q", "-f", "dangling=true"])),
        "notes\n"
    );
    ok(&gb.run(&["system", "prune", "-f"]));
    assert_eq!(volume_names(&gb), ["notes"]);
    let df = ok(&gb.run(&["system", "df"]));
    assert!(
        df.lines()
            .any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("1")),
        "{df}"
    );
    ok(&gb.run(&["volume", "create", "--label", "team=a", "labelled"]));
    assert_eq!(
        ok(&gb.run(&["volume", "ls", "-q", "-f", "label=team=a"])),
        "labelled\n"
    );
    assert_eq!(
        ok(&gb.run(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}"])),
        "labelled local\nnotes local\n"
    );
    // prune without --all keeps named volumes; with it they go.
    ok(&gb.run(&["volume", "prune", "-f"]));
    assert_eq!(volume_names(&gb).len(), 2);
    ok(&gb.run(&["volume", "prune", "-f", "-a"]));
    assert!(volume_names(&gb).is_empty());
    assert!(!gb.root().join("volumes/notes").exists());
}

#[test]
fn volumes_from_inherits_every_mount_and_the_backup_makes_a_tar() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("c"), "conf\n").unwrap();
    ok(&gb.run(&[
        "run",
        "--name",
        "db",
        "-v",
        &format!("{}:/conf:ro", p(conf.path())),
        "-v",
        "dbdata:/data",
        "-v",
        "/cache",
        "busybox",
        "sh",
        "-c",
        "echo row1 > /data/table; echo warm > /cache/c",
    ]));
    let out = ok(&gb.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "db",
        "busybox",
        "sh",
        "-c",
        "cat /conf/c /data/table /cache/c",
    ]));
    assert_eq!(out, "conf\nrow1\nwarm\n");
    ok(&gb.run(&[
        "create",
        "--name",
        "heir",
        "--volumes-from",
        "db:ro",
        "busybox",
        "true",
    ]));
    let mine = inspect_mounts(&gb, "db");
    let heir = inspect_mounts(&gb, "heir");
    assert_eq!(mine.len(), 3);
    let key = |m: &Value| {
        (
            m["Destination"].to_string(),
            m["Name"].to_string(),
            m["Source"].to_string(),
        )
    };
    let mut a: Vec<_> = mine.iter().map(key).collect();
    let mut b: Vec<_> = heir.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(heir.iter().all(|m| m["RW"] == false && m["Mode"] == "ro"));
    // The seed's backup: the archive lands on the host.
    let backup = tempfile::tempdir().unwrap();
    ok(&gb.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "db",
        "-v",
        &format!("{}:/backup", p(backup.path())),
        "busybox",
        "tar",
        "cf",
        "/backup/db.tar",
        "/data",
    ]));
    let mut ar = tar::Archive::new(std::fs::File::open(backup.path().join("db.tar")).unwrap());
    let mut found = String::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("table") {
            std::io::Read::read_to_string(&mut e, &mut found).unwrap();
        }
    }
    assert_eq!(found, "row1\n");
    // The --rm containers took no volume of db's with them.
    assert_eq!(volume_names(&gb).len(), 2);
    // rm -v of db: its anonymous /cache volume goes, dbdata stays.
    ok(&gb.run(&["rm", "heir"]));
    ok(&gb.run(&["rm", "-v", "db"]));
    assert_eq!(volume_names(&gb), ["dbdata"]);
}

#[test]
fn an_image_volume_is_seeded_from_the_image() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "--name",
        "base",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo seeded > /data/sub/seed.txt && chmod 0750 /data/sub",
    ]));
    ok(&gb.run(&["commit", "-c", "VOLUME /data", "base", "volimg"]));
    ok(&gb.run(&["rm", "base"]));
    let out = ok(&gb.run(&[
        "run",
        "--name",
        "v1",
        "volimg",
        "sh",
        "-c",
        "cat /data/sub/seed.txt; stat -c %a /data/sub; echo new > /data/new",
    ]));
    assert_eq!(out, "seeded\n750\n");
    let mounts = inspect_mounts(&gb, "v1");
    assert_eq!(mounts.len(), 1);
    let name = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert_eq!(mounts[0]["Mode"], "");
    let data = gb.root().join("volumes").join(&name).join("_data");
    assert_eq!(
        std::fs::read_to_string(data.join("sub/seed.txt")).unwrap(),
        "seeded\n"
    );
    // A volume that holds something is not seeded again at the next start.
    std::fs::remove_file(data.join("sub/seed.txt")).unwrap();
    let again = gb.run(&["start", "-a", "v1"]);
    assert!(
        stderr(&again).contains("can't open '/data/sub/seed.txt'"),
        "{}",
        stderr(&again)
    );
    assert!(!data.join("sub/seed.txt").exists());
    assert_eq!(std::fs::read_to_string(data.join("new")).unwrap(), "new\n");
    // Each container gets its own; --rm takes its anonymous one along.
    ok(&gb.run(&["run", "--rm", "volimg", "cat", "/data/sub/seed.txt"]));
    assert_eq!(volume_names(&gb), [name.clone()]);
    let v: Value = serde_json::from_str(&ok(&gb.run(&["volume", "inspect", &name]))).unwrap();
    assert_eq!(v[0]["Labels"]["com.docker.volume.anonymous"], "");
    ok(&gb.run(&["rm", "-v", "v1"]));
    assert!(volume_names(&gb).is_empty());
}

#[test]
fn volume_rm_of_a_volume_in_use_fails_and_the_data_stays() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "--name",
        "user",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo precious > /data/f",
    ]));
    let id = ok(&gb.run(&["inspect", "-f", "{{.Id}}", "user"]))
        .trim()
        .to_string();
    let out = gb.run(&["volume", "rm", "keep"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("Error: remove keep: volume is in use - [{id}]\n")
    );
    let f = gb.root().join("volumes/keep/_data/f");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "precious\n");
    assert!(stdout(&gb.run(&["volume", "prune", "-f", "-a"])).contains("Total reclaimed space: 0B"));
    assert!(f.exists());
    ok(&gb.run(&["rm", "user"]));
    assert_eq!(ok(&gb.run(&["volume", "rm", "keep"])), "keep\n");
    assert!(!gb.root().join("volumes/keep").exists());
    let out = gb.run(&["volume", "rm", "keep"]);
    assert_eq!(stderr(&out), "Error: No such volume: keep\n");
}

#[test]
fn a_symlinked_mount_target_cannot_reach_a_host_path() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("marker"), "host\n").unwrap();
    let src = tempfile::tempdir().unwrap();
    // /data -> /etc/../../<victim>: outside the root if the host resolved it.
    let target = format!("/etc/../..{}", p(victim.path()));
    ok(&gb.run(&[
        "run", "--name", "evil", "busybox", "ln", "-s", &target, "/data",
    ]));
    ok(&gb.run(&["commit", "evil", "evilimg"]));
    let out = ok(&gb.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", p(src.path())),
        "evilimg",
        "sh",
        "-c",
        "echo inside > /data/f; ls /data",
    ]));
    assert_eq!(out, "f\n");
    assert_eq!(
        std::fs::read_to_string(src.path().join("f")).unwrap(),
        "inside\n"
    );
    let left: Vec<_> = std::fs::read_dir(victim.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["marker"]);
    assert!(common::host_mounts_under(victim.path()).is_empty());
}

#[test]
fn kill_9_of_volume_rm_never_loses_a_volume_in_use() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    for (i, point) in ["volume_rm:after_check", "volume_rm:after_rename"]
        .iter()
        .enumerate()
    {
        let vol = format!("race{i}");
        ok(&gb.run(&["volume", "create", &vol]));
        let mut rm = gb
            .cmd()
            .env("GLASSBOX_TEST_PAUSE_AT", point)
            .args(["volume", "rm", &vol])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rm_pid = rm.id();
        eventually(20, &format!("volume rm to reach {point}"), || {
            stopped(rm_pid)
        });
        // A container takes the volume while the removal is stopped there
        // (after the check it waits for the store lock the removal holds).
        let name = format!("late{i}");
        let mut run = gb
            .cmd()
            .args([
                "run",
                "--name",
                &name,
                "-v",
                &format!("{vol}:/data"),
                "busybox",
                "sh",
                "-c",
                "echo mine > /data/f",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        rm.kill().unwrap(); // SIGKILL by PID
        rm.wait().unwrap();
        let status = run.wait().unwrap();
        assert!(status.success(), "{point}");
        let f = gb.root().join("volumes").join(&vol).join("_data/f");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "mine\n", "{point}");
        // Now in use: refused; trash of the killed removal is swept.
        assert_eq!(gb.run(&["volume", "rm", &vol]).status.code(), Some(1));
        ok(&gb.run(&["volume", "ls"]));
        let trash: Vec<_> = std::fs::read_dir(gb.root().join("volumes"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .filter(|e| e.file_name() != ".locks")
            .collect();
        assert!(trash.is_empty(), "{point}: {trash:?}");
        assert!(f.exists());
    }
}

#[test]
fn kill_9_of_rm_v_never_loses_a_volume_another_container_uses() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    for point in [
        "rm:after_mark",
        "rm:after_dir",
        "rm:after_record",
        "rm:before_volumes",
    ] {
        let tag = point.replace([':', '_'], "-");
        let first = format!("first-{tag}");
        let second = format!("second-{tag}");
        ok(&gb.run(&[
            "run",
            "--name",
            &first,
            "-v",
            "/shared",
            "busybox",
            "sh",
            "-c",
            "echo both > /shared/f",
        ]));
        ok(&gb.run(&[
            "create",
            "--name",
            &second,
            "--volumes-from",
            &first,
            "busybox",
            "cat",
            "/shared/f",
        ]));
        let mut rm = gb
            .cmd()
            .env("GLASSBOX_TEST_PAUSE_AT", point)
            .args(["rm", "-v", &first])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rm_pid = rm.id();
        eventually(20, &format!("rm -v to reach {point}"), || stopped(rm_pid));
        rm.kill().unwrap();
        rm.wait().unwrap();
        let _ = gb.run(&["rm", "-f", "-v", &first]);
        ok(&gb.run(&["ps", "-a"]));
        assert_eq!(ok(&gb.run(&["start", "-a", &second])), "both\n", "{point}");
        ok(&gb.run(&["rm", "-v", &second]));
    }
    // The inherited volume was not the second's own: it stays, unused.
    assert_eq!(
        ok(&gb.run(&["volume", "ls", "-q", "-f", "dangling=false"])),
        ""
    );
    assert_eq!(volume_names(&gb).len(), 4);
}

/// The lock is the volume's own: while a removal of one volume holds it
/// (stopped right after its check), a `create` naming that volume waits for
/// it, and one naming another volume goes on. Once the removal ends, the
/// waiting create makes the volume afresh and holds it: the next removal is
/// refused, and the container's volume directory is there.
#[test]
fn a_volume_rm_holds_that_volume_s_lock_only() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    ok(&gb.run(&["volume", "create", "locked"]));
    std::fs::write(gb.root().join("volumes/locked/_data/old"), "old\n").unwrap();
    let rm = gb
        .cmd()
        .env("GLASSBOX_TEST_PAUSE_AT", "volume_rm:after_check")
        .args(["volume", "rm", "locked"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rm_pid = rm.id();
    eventually(20, "volume rm to reach after_check", || stopped(rm_pid));
    let lock = gb.root().join("volumes/.locks/locked");
    assert!(lock.exists(), "the volume's lock file");
    // Another volume is not held up.
    ok(&gb.run(&[
        "run",
        "--rm",
        "-v",
        "other:/d",
        "busybox",
        "sh",
        "-c",
        "echo o > /d/f",
    ]));
    let mut waiter = gb
        .cmd()
        .args([
            "create",
            "--name",
            "waiter",
            "-v",
            "locked:/d",
            "busybox",
            "ls",
            "/d",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "create went on while the removal held the volume's lock"
    );
    assert!(gb.containers().is_empty(), "{:?}", gb.containers());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(rm_pid as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let rm = rm.wait_with_output().unwrap();
    assert_eq!(stdout(&rm), "locked\n", "{}", stderr(&rm));
    assert!(waiter.wait().unwrap().success());
    // The create came second: a fresh, empty volume, now in use.
    assert_eq!(ok(&gb.run(&["start", "-a", "waiter"])), "");
    assert!(gb.root().join("volumes/locked/_data").is_dir());
    let out = gb.run(&["volume", "rm", "locked"]);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    ok(&gb.run(&["rm", "waiter"]));
    ok(&gb.run(&["volume", "rm", "locked", "other"]));
    // A removed volume's lock file goes with it.
    assert!(!lock.exists());
    assert!(!gb.root().join("volumes/.locks/other").exists());
}

/// `volume rm` racing `run -v` on the same volume, many times over: the run
/// always gets a volume that exists (the old one, and the removal is refused
/// "volume is in use", or a fresh one made after the removal), never a
/// deleted directory; what it wrote is in the volume afterwards.
#[test]
fn volume_rm_racing_run_never_leaves_a_container_on_a_deleted_volume() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let (mut refused, mut removed) = (0, 0);
    for i in 0..10 {
        let vol = format!("race{i}");
        ok(&gb.run(&["volume", "create", &vol]));
        let name = format!("racer{i}");
        let run = gb
            .cmd()
            .args([
                "run",
                "--name",
                &name,
                "-v",
                &format!("{vol}:/d"),
                "busybox",
                "sh",
                "-c",
                "sleep 0.2; echo mine > /d/f; cat /d/f",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Stagger the removal across the run's create and start.
        std::thread::sleep(std::time::Duration::from_millis(15 * i));
        let rm = gb.run(&["volume", "rm", &vol]);
        let run = run.wait_with_output().unwrap();
        assert_eq!(ok(&run), "mine\n", "round {i}");
        match rm.status.code() {
            Some(0) => removed += 1,
            Some(1) if stderr(&rm).contains("volume is in use") => refused += 1,
            other => panic!("round {i}: volume rm {other:?}: {}", stderr(&rm)),
        }
        let f = gb.root().join("volumes").join(&vol).join("_data/f");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "mine\n", "round {i}");
        let mounts = inspect_mounts(&gb, &name);
        let source = mounts[0]["Source"].as_str().unwrap().to_string();
        assert!(Path::new(&source).is_dir(), "round {i}: {source}");
        ok(&gb.run(&["rm", &name]));
        ok(&gb.run(&["volume", "rm", &vol]));
    }
    eprintln!("volume rm refused {refused} times, came first {removed} times");
    assert!(volume_names(&gb).is_empty());
}

/// Several containers starting at once on one empty volume: the image's
/// files are copied once (under the volume's lock), every run sees all of
/// them, none fails on a file another copy made first.
#[test]
fn concurrent_starts_on_one_empty_volume_seed_it_once() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "--name",
        "mk",
        "busybox",
        "sh",
        "-c",
        "mkdir /seed && cd /seed && i=0; while [ $i -lt 400 ]; do echo $i > f$i; i=$((i+1)); done",
    ]));
    ok(&gb.run(&["commit", "mk", "seedimg"]));
    ok(&gb.run(&["rm", "mk"]));
    for round in 0..3 {
        let vol = format!("seeded{round}");
        let runs: Vec<_> = (0..5)
            .map(|_| {
                gb.cmd()
                    .args([
                        "run",
                        "--rm",
                        "-v",
                        &format!("{vol}:/seed"),
                        "seedimg",
                        "sh",
                        "-c",
                        "ls /seed | wc -l",
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for r in runs {
            let o = r.wait_with_output().unwrap();
            assert_eq!(ok(&o).trim(), "400", "round {round}");
        }
        let n = std::fs::read_dir(gb.root().join("volumes").join(&vol).join("_data"))
            .unwrap()
            .count();
        assert_eq!(n, 400, "round {round}");
        ok(&gb.run(&["volume", "rm", &vol]));
    }
}

/// `--tmpfs` on a path the image made a symlink climbing out of the root:
/// the tmpfs is mounted where the link leads inside the container (so the
/// container's writes through the link land on it), never on the host path.
#[test]
fn a_tmpfs_on_a_symlinked_target_stays_inside_the_root() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("marker"), "host\n").unwrap();
    let target = format!("/../..{}", p(victim.path()));
    ok(&gb.run(&[
        "run", "--name", "evil", "busybox", "ln", "-s", &target, "/scratch",
    ]));
    ok(&gb.run(&["commit", "evil", "tmpfsimg"]));
    let script = format!(
        "echo in > /scratch/f && ls /scratch/ && grep ' {} ' /proc/mounts | cut -d' ' -f1,3,4",
        p(victim.path())
    );
    let out = ok(&gb.run(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1m",
        "tmpfsimg",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(
        out,
        "f\ntmpfs tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k\n"
    );
    let left: Vec<_> = std::fs::read_dir(victim.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["marker"]);
    assert!(common::host_mounts_under(victim.path()).is_empty());
}

/// `cp` into a stopped container at a path under a volume or bind mount
/// lands in the volume (docker mounts them for the copy), not in the upper
/// layer; `cp` out of such a path reads the volume, even for a container
/// that never started; a read-only mount refuses the copy.
#[test]
fn cp_under_a_volume_of_a_stopped_container_uses_the_volume() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let host = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("in.txt");
    std::fs::write(&src, "copied\n").unwrap();
    ok(&gb.run(&[
        "create",
        "--name",
        "cpv",
        "-v",
        "cpvol:/data",
        "-v",
        &format!("{}:/hostdata", p(host.path())),
        "-v",
        "rovol:/ro:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt /hostdata/in.txt",
    ]));
    // Out of a container that never started: the volume's file.
    std::fs::write(
        gb.root().join("volumes/cpvol/_data/seen.txt"),
        "in the volume\n",
    )
    .unwrap();
    let out = work.path().join("seen.txt");
    ok(&gb.run(&["cp", "cpv:/data/seen.txt", &p(&out)]));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "in the volume\n");
    // In: the volume and the host directory get the files.
    ok(&gb.run(&["cp", &p(&src), "cpv:/data/in.txt"]));
    ok(&gb.run(&["cp", &p(&src), "cpv:/hostdata/"]));
    assert_eq!(
        std::fs::read_to_string(gb.root().join("volumes/cpvol/_data/in.txt")).unwrap(),
        "copied\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("in.txt")).unwrap(),
        "copied\n"
    );
    assert!(
        !stdout(&gb.run(&["diff", "cpv"])).contains("in.txt"),
        "the copy went to the upper layer"
    );
    let o = gb.run(&["cp", &p(&src), "cpv:/ro/in.txt"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!gb.root().join("volumes/rovol/_data/in.txt").exists());
    // The container reads what was copied, then stopped again: a tar out.
    assert_eq!(ok(&gb.run(&["start", "-a", "cpv"])), "copied\ncopied\n");
    let tar = gb.cmd().args(["cp", "cpv:/data", "-"]).output().unwrap();
    assert!(tar.status.success(), "{}", stderr(&tar));
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert_eq!(names, ["data/in.txt", "data/seen.txt"]);
    assert!(common::host_mounts_under(gb.root()).is_empty());
}
