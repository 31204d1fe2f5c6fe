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
