//! `--userns=auto`: a user namespace of the container's own, its root an
//! unprivileged range of host ids, for real and in simulation.

mod common;

use common::{ok, stderr, stdout, trace_kinds, Gb};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// A store the container's root (an ordinary host uid) can pass through.
fn store() -> Gb {
    let gb = Gb::new();
    std::fs::set_permissions(gb.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    gb
}

/// The first line of /proc/PID/status that starts with `key`, its first id.
fn status_id(pid: &str, key: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn root_in_the_container_is_an_unprivileged_host_user() {
    require_root!();
    let gb = store();
    let trace = gb.root().join("trace.jsonl");
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args([
            "run",
            "--name",
            "un1",
            "--userns=auto",
            "busybox",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; echo written > /etc/made-here; stat -c %u /etc/passwd /etc/made-here",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{out}"
    );
    // The image's files (host root's) and its own both show as root inside.
    assert_eq!(lines[2..], ["0", "0"], "{out}");
    // On the host, what it wrote belongs to the mapped id, in its upper dir.
    let id = ok(&gb.run(&["inspect", "-f", "{{.Id}}", "un1"]));
    let made = gb
        .root()
        .join("containers")
        .join(id.trim())
        .join("upper/etc/made-here");
    assert_eq!(std::fs::metadata(&made).unwrap().uid(), 100_000);
    let kinds = trace_kinds(&trace);
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(at("chown") < at("clone"));
    assert!(at("clone") < at("userns_map") && at("userns_map") < at("idmap_layers"));
    assert!(at("idmap_layers") < at("userns_root") && at("userns_root") < at("attach_layers"));
    assert!(at("attach_layers") < at("mount_overlay"));
    // The image's layer was not touched: still host root's.
    let layers = std::fs::read_dir(gb.root().join("layers")).unwrap();
    for l in layers.flatten() {
        assert_eq!(
            std::fs::metadata(l.path().join("diff/etc/passwd"))
                .unwrap()
                .uid(),
            0
        );
    }
    // `commit` stores the container's own view of owners (0), not the host's.
    ok(&gb.run(&["commit", "un1", "un1-img"]));
    let o = gb.run(&[
        "run",
        "--rm",
        "un1-img",
        "stat",
        "-c",
        "%u %g",
        "/etc/made-here",
    ]);
    assert_eq!(stdout(&o), "0 0\n", "{}", stderr(&o));
    ok(&gb.run(&["rm", "un1"]));
}

#[test]
fn exec_joins_the_user_namespace_and_ranges_do_not_overlap() {
    require_root!();
    let gb = store();
    for name in ["un2a", "un2b"] {
        ok(&gb.run(&[
            "run",
            "-d",
            "--name",
            name,
            "--userns=auto",
            "busybox",
            "sleep",
            "60",
        ]));
    }
    let pid = |name: &str| {
        ok(&gb.run(&["inspect", "-f", "{{.State.Pid}}", name]))
            .trim()
            .to_string()
    };
    let (a, b) = (pid("un2a"), pid("un2b"));
    let (ua, ub) = (status_id(&a, "Uid:"), status_id(&b, "Uid:"));
    assert_eq!(ua, 100_000);
    assert_eq!(ub, 100_000 + 65_536, "two containers share no host ids");
    assert_eq!(status_id(&b, "Gid:"), ub);
    // exec: root inside, the container's mapped id outside.
    let o = gb.run(&["exec", "un2b", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.starts_with("0\n"), "{out}");
    assert!(out.contains("165536"), "{out}");
    let o = gb.run(&["exec", "-d", "un2b", "sleep", "30"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let top = ok(&gb.run(&["top", "un2b", "-o", "pid,comm"]));
    let exec_pid = top
        .lines()
        .find(|l| l.ends_with("sleep") && !l.contains(&format!("{b} ")))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string);
    if let Some(p) = exec_pid.filter(|p| *p != b) {
        assert_eq!(status_id(&p, "Uid:"), ub, "{top}");
    }
    ok(&gb.run(&["rm", "-f", "un2a", "un2b"]));
}

#[test]
fn what_a_user_namespace_cannot_do_is_refused_before_anything_is_made() {
    let gb = store();
    for (args, says) in [
        (
            vec!["--privileged"],
            "privileged mode is incompatible with user namespaces",
        ),
        (
            vec!["--network", "host"],
            "--network host cannot be combined with --userns=auto",
        ),
        (
            vec!["--device", "/dev/null"],
            "--device cannot be combined with --userns=auto",
        ),
    ] {
        let mut a = vec!["--simulate", "run", "--rm", "--userns=auto"];
        a.extend(args);
        a.extend(["busybox", "true"]);
        let o = gb.run(&a);
        assert_eq!(o.status.code(), Some(125), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{a:?}: {}", stderr(&o));
    }
    let o = gb.run(&["--simulate", "run", "--userns=keep-id", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("use host"), "{}", stderr(&o));
    assert!(gb.sim_containers().is_empty());
}

#[test]
fn the_simulated_user_namespace_takes_the_same_steps() {
    let gb = store();
    let trace = gb.root().join("sim.jsonl");
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args([
            "--simulate",
            "run",
            "--rm",
            "--userns=auto",
            "busybox",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o), @r"
    0
             0     100000      65536
    ");
    let sim = trace_kinds(&trace);
    for k in [
        "chown",
        "userns_map",
        "idmap_layers",
        "userns_root",
        "attach_layers",
    ] {
        assert!(sim.iter().any(|x| x == k), "{k} missing: {sim:?}");
    }
    if common::is_root() {
        let real_trace = gb.root().join("real.jsonl");
        let o = gb
            .cmd()
            .arg("--trace-json")
            .arg(&real_trace)
            .args([
                "run",
                "--rm",
                "--userns=auto",
                "busybox",
                "sh",
                "-c",
                "id -u; cat /proc/self/uid_map",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let real = trace_kinds(&real_trace);
        // The built-in image is imported on first use in each store: compare from the record on.
        let from = |k: &Vec<String>| {
            k.iter()
                .skip_while(|x| *x != "record_create")
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(from(&sim), from(&real));
    }
}

/// `cp` into a `--userns=auto` container makes files its root owns (the
/// mapped host uid), as docker's cp does under userns-remap: inside they
/// are root's, on the host they are not host root's. Both a host tree and
/// a tar on stdin.
#[test]
fn cp_into_a_userns_container_gives_the_files_to_its_root() {
    require_root!();
    let gb = store();
    ok(&gb.run(&[
        "create",
        "--name",
        "cpu",
        "--userns=auto",
        "busybox",
        "stat",
        "-c",
        "%u %g %a",
        "/copied",
        "/copied/f",
        "/tarred",
    ]));
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("copied");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x\n").unwrap();
    std::fs::set_permissions(src.join("f"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    ok(&gb.run(&["cp", &src.display().to_string(), "cpu:/"]));
    let tar = common::tar_of(&[("tarred", b"t\n")]);
    let mut cp = gb
        .cmd()
        .args(["cp", "-", "cpu:/"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(cp.stdin.as_mut().unwrap(), &tar).unwrap();
    drop(cp.stdin.take());
    assert!(cp.wait().unwrap().success());
    let id = ok(&gb.run(&["inspect", "-f", "{{.Id}}", "cpu"]));
    let upper = gb.root().join("containers").join(id.trim()).join("upper");
    for f in ["copied", "copied/f", "tarred"] {
        let m = std::fs::symlink_metadata(upper.join(f)).unwrap();
        assert_eq!((m.uid(), m.gid()), (100_000, 100_000), "{f}");
    }
    // The set-uid bit survives the chown (as a copy as root keeps it).
    assert_eq!(
        std::fs::metadata(upper.join("copied/f")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        ok(&gb.run(&["start", "-a", "cpu"])),
        "0 0 755\n0 0 4755\n0 0 644\n"
    );
    ok(&gb.run(&["rm", "cpu"]));
}
