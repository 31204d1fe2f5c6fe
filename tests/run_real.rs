//! `glassbox run` on the real kernel, as a learner would use it.
//! These need root; CI runs them as root.

mod common;

use common::{cgroup_dirs_for, host_mounts_under, stderr, stdout, trace_kinds, Gb};
use std::process::Stdio;

#[test]
fn run_shows_pid_1_its_own_hostname_and_the_image_root() {
    require_root!();
    let gb = Gb::new();
    let host_name = nix::unistd::gethostname().unwrap();
    let o = gb.run(&[
        "run",
        "--rm",
        "-h",
        "box1",
        "busybox",
        "sh",
        "-c",
        "echo $$; hostname; ls /; ps -o pid,comm",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], "box1");
    for entry in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
        assert!(lines.contains(&entry), "ls / lacks {entry}: {out}");
    }
    // Only the container's own processes are visible: the few it started, numbered from 1.
    let pids: Vec<u32> = lines
        .iter()
        .skip_while(|l| !l.contains("PID"))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(
        !pids.is_empty() && pids.iter().all(|&p| p <= 2),
        "container saw host processes: {out}"
    );
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        host_name,
        "host hostname changed"
    );
    assert!(
        host_mounts_under(gb.root()).is_empty(),
        "mounts leaked to the host"
    );
    assert!(
        gb.containers().is_empty(),
        "--rm left a container directory"
    );
}

#[test]
fn default_hostname_is_the_short_id_and_the_container_lists_the_hosts_file() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run",
        "--name",
        "hn",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep -c localhost /etc/hosts",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].len(), 12);
    assert_eq!(lines[0], lines[1]);
    let record = std::fs::read_to_string(gb.containers()[0].join("container.json")).unwrap();
    assert!(record.contains(lines[0]));
    assert!(gb.run(&["rm", "hn"]).status.success());
}

#[test]
fn a_file_written_in_the_container_stays_out_of_the_image() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "echo hi > /newfile; echo x > /etc/passwd",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let container = gb.containers().pop().expect("container dir");
    assert_eq!(
        std::fs::read_to_string(container.join("upper/newfile")).unwrap(),
        "hi\n"
    );
    for layer in std::fs::read_dir(gb.root().join("layers"))
        .unwrap()
        .flatten()
    {
        let diff = layer.path().join("diff");
        assert!(
            !diff.join("newfile").exists(),
            "container write reached the layer {}",
            diff.display()
        );
        if diff.join("etc/passwd").exists() {
            assert!(std::fs::read_to_string(diff.join("etc/passwd"))
                .unwrap()
                .contains("root:"));
        }
    }
    // rm takes away everything of it.
    let id = container.file_name().unwrap().to_string_lossy().to_string();
    let o = gb.run(&["rm", "writer"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!container.exists());
    assert!(cgroup_dirs_for(&id).is_empty());
}

#[test]
fn exit_codes_are_dockers() {
    require_root!();
    let gb = Gb::new();
    assert_eq!(
        gb.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let o = gb.run(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(
        stderr(&o).contains("\"nosuchcmd\": executable file not found in $PATH"),
        "{}",
        stderr(&o)
    );
    let o = gb.run(&["run", "--rm", "nosuchimage"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("nosuchimage"), "{}", stderr(&o));
    let o = gb.run(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    // PID 1 ignores signals it has no handler for, even SIGKILL sent from inside:
    // the kernel protects a namespace's init. (Killed from outside it is 137: see the rm -f test.)
    assert_eq!(
        gb.run(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "kill -9 $$; echo survived"
        ])
        .status
        .code(),
        Some(0)
    );
    assert!(
        gb.containers().is_empty(),
        "failed runs with --rm left containers"
    );
}

#[test]
fn failed_start_without_rm_is_recorded_not_half_made() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&["run", "--name", "broken", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127));
    let ps = stdout(&gb.run(&["ps", "-a"]));
    assert!(ps.contains("Exited (127)") && ps.contains("broken"), "{ps}");
    let id = gb.containers()[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        cgroup_dirs_for(&id).is_empty(),
        "cgroup left after a failed start"
    );
    assert!(gb.run(&["rm", "broken"]).status.success());
}

#[test]
fn explain_steps_names_every_kernel_step_with_its_shell_command() {
    require_root!();
    let gb = Gb::new();
    let o = gb
        .cmd()
        .args(["--explain=steps", "run", "--rm", "busybox", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stderr(&o);
    for needle in [
        "mount the overlay root filesystem",
        "mount -t overlay overlay -o lowerdir=",
        "clone the container process into new namespaces (mnt, uts, ipc, pid, net)",
        "unshare --mount --uts --ipc --pid --fork --net",
        "create the container's cgroup",
        "mkdir /sys/fs/cgroup/",
        "mount proc on /proc",
        "mount -t proc",
        "pivot_root into the overlay",
        "pivot_root . .",
        "exec true",
    ] {
        assert!(text.contains(needle), "narration lacks {needle:?}:\n{text}");
    }
}

#[test]
fn real_and_simulated_runs_take_the_same_steps() {
    require_root!();
    let gb = Gb::new();
    let real = gb.root().join("real.jsonl");
    let sim = gb.root().join("sim.jsonl");
    let script = "echo $$; hostname; ls /";
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&real)
        .args(["run", "--rm", "busybox", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gb
        .cmd()
        .arg("--simulate")
        .arg("--trace-json")
        .arg(&sim)
        .args(["run", "--rm", "busybox", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (real_kinds, sim_kinds) = (trace_kinds(&real), trace_kinds(&sim));
    assert!(real_kinds.len() > 10, "{real_kinds:?}");
    assert_eq!(real_kinds, sim_kinds);
    let first = std::fs::read_to_string(&real).unwrap();
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    for field in ["seq", "kind", "title", "shell"] {
        assert!(!first[field].is_null(), "trace record lacks {field}");
    }
}

#[test]
fn two_runs_at_once_both_succeed_and_the_store_stays_consistent() {
    require_root!();
    let gb = Gb::new();
    // Both race to import the built-in image into an empty store.
    let children: Vec<_> = (0..2)
        .map(|i| {
            gb.cmd()
                .args([
                    "run",
                    "--name",
                    &format!("twin{i}"),
                    "busybox",
                    "sh",
                    "-c",
                    "echo ran",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "ran\n");
    }
    let images = stdout(&gb.run(&["images", "-q"]));
    assert_eq!(images.lines().count(), 1, "{images}");
    let ps = stdout(&gb.run(&["ps", "-a"]));
    assert!(ps.contains("twin0") && ps.contains("twin1"), "{ps}");
    assert!(gb.run(&["rm", "twin0", "twin1"]).status.success());
    assert!(gb.containers().is_empty());
}

#[test]
fn rm_refuses_a_running_container_and_force_removes_it() {
    require_root!();
    let gb = Gb::new();
    let mut fg = gb
        .cmd()
        .args(["run", "--name", "sleeper", "busybox", "sleep", "30"])
        .spawn()
        .unwrap();
    common::eventually(10, "sleeper to run", || {
        stdout(&gb.run(&["ps"])).contains("sleeper")
    });
    let id = stdout(&gb.run(&["ps", "-q", "--no-trunc"]))
        .trim()
        .to_string();
    assert_eq!(
        cgroup_dirs_for(&id).is_empty(),
        false,
        "a running container has a cgroup"
    );
    let o = gb.run(&["rm", "sleeper"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("running"), "{}", stderr(&o));
    let o = gb.run(&["rm", "-f", "sleeper"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fg.wait().unwrap().code(), Some(137));
    assert!(gb.containers().is_empty());
    assert!(cgroup_dirs_for(&id).is_empty());
}

/// The v2 layout (one directory) on a v1 or hybrid host: GLASSBOX_CGROUP_ROOT
/// at a directory of the host's own cgroup2 mount (a real one, since the
/// device program can only be attached to a real cgroup v2 directory).
#[test]
fn cgroup_v2_layout_on_the_hosts_cgroup2_mount() {
    require_root!();
    let Some(scratch) = common::Cgroup2Scratch::new("layout") else {
        eprintln!("skipped: the host has no cgroup2 mount");
        return;
    };
    let gb = Gb::new();
    let trace = gb.root().join("trace.jsonl");
    let o = gb
        .cmd()
        .env("GLASSBOX_CGROUP_ROOT", &scratch.path)
        .arg("--trace-json")
        .arg(&trace)
        .args(["run", "--name", "v2", "busybox", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let records = common::trace_records(&trace);
    let create = records
        .iter()
        .find(|r| r["kind"] == "cgroup_create")
        .unwrap();
    let paths = create["step"]["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1, "v2 is one directory");
    assert!(paths[0]
        .as_str()
        .unwrap()
        .starts_with(scratch.path.to_str().unwrap()));
    let join = records.iter().find(|r| r["kind"] == "cgroup_join").unwrap();
    assert!(join["shell"].as_str().unwrap().ends_with("/cgroup.procs"));
    // Removed again after the exit.
    assert!(!std::path::Path::new(paths[0].as_str().unwrap()).exists());
    assert!(gb.run(&["rm", "v2"]).status.success());
}

#[test]
fn step_through_abort_rolls_the_container_back() {
    require_root!();
    let gb = Gb::new();
    // Answers come from stdin when there is no terminal: run two steps, then quit.
    let mut child = gb
        .cmd()
        .args(["--step", "run", "--name", "half", "busybox", "true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GLASSBOX_NO_TTY", "1")
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\n\n\n\nq\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("rolled back"), "{}", stderr(&o));
    assert!(gb.containers().is_empty(), "abort left a container");
    assert!(host_mounts_under(gb.root()).is_empty());
    // The narration showed the clean-up step, and no cgroup is left.
    assert!(
        stderr(&o).contains("remove the container's cgroup"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_container_gets_a_minimal_dev_a_read_only_sys_and_only_loopback() {
    require_root!();
    let gb = Gb::new();
    let script = "ls /dev; echo ---; touch /sys/x 2>&1 || echo sys-is-read-only; echo ---; cat /proc/net/dev | tail -n +3 | cut -d: -f1";
    let o = gb.run(&["run", "--rm", "busybox", "sh", "-c", script]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let parts: Vec<&str> = out.split("---\n").collect();
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd",
    ] {
        assert!(
            parts[0].lines().any(|l| l == dev),
            "/dev lacks {dev}: {}",
            parts[0]
        );
    }
    assert!(
        !parts[0]
            .lines()
            .any(|l| l.starts_with("sd") || l.starts_with("vd")),
        "host disks visible: {}",
        parts[0]
    );
    assert!(parts[1].contains("sys-is-read-only"), "{}", parts[1]);
    let links: Vec<&str> = parts[2].lines().map(str::trim).collect();
    assert_eq!(links, ["lo"], "network namespace should hold only lo");
}

#[test]
fn signals_sent_to_glassbox_reach_the_container() {
    require_root!();
    let gb = Gb::new();
    let child = gb
        .cmd()
        .args([
            "run",
            "--rm",
            "--name",
            "sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 5' TERM; echo ready; while true; do sleep 1; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    common::eventually(10, "sig to run", || {
        stdout(&gb.run(&["ps"])).contains("sig")
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stdout(&o).contains("got TERM"));
}

#[test]
fn env_workdir_and_entrypoint_follow_docker() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp/work",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; pwd; echo $HOME; echo $PATH",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["hi", "/tmp/work", "/root"]);
    assert!(lines[3].contains("/bin"));
    let o = gb.run(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "from",
        "entrypoint",
    ]);
    assert_eq!(stdout(&o), "from entrypoint\n", "{}", stderr(&o));
    // The image's Cmd (sh) runs when no command is given; with stdin closed it exits 0.
    assert_eq!(gb.run(&["run", "--rm", "busybox"]).status.code(), Some(0));
}

#[test]
fn network_host_shares_the_hosts_network_and_hostname() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&["run", "--rm", "--network", "host", "busybox", "hostname"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        nix::unistd::gethostname().unwrap().to_string_lossy()
    );
    let o = gb.run(&["run", "--rm", "--network", "bridge0", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("bridge0"), "{}", stderr(&o));
}

#[test]
fn invalid_names_and_duplicates_are_refused_before_anything_is_made() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&["run", "--rm", "--name", "bad name", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("Invalid container name"),
        "{}",
        stderr(&o)
    );
    assert!(gb
        .run(&["run", "--name", "dup", "busybox", "true"])
        .status
        .success());
    let o = gb.run(&["run", "--name", "dup", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("already in use"), "{}", stderr(&o));
    assert_eq!(gb.containers().len(), 1);
    assert!(gb.run(&["rm", "dup"]).status.success());
}

#[test]
fn three_ctrl_c_kill_a_container_that_ignores_them() {
    require_root!();
    let gb = Gb::new();
    let child = gb
        .cmd()
        .args([
            "run", "--rm", "--name", "stubborn", "busybox", "sleep", "20",
        ])
        .spawn()
        .unwrap();
    common::eventually(10, "stubborn to run", || {
        stdout(&gb.run(&["ps"])).contains("stubborn")
    });
    // Let set-up finish: a Ctrl-C during it rolls the container back instead.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    for _ in 0..3 {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(137));
    assert!(gb.containers().is_empty());
}

#[test]
fn stdin_is_passed_through_with_i_and_closed_without() {
    require_root!();
    let gb = Gb::new();
    use std::io::Write;
    let mut child = gb
        .cmd()
        .args(["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through the pipe\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "through the pipe\nend\n");
    // Without -i the container reads nothing, even when glassbox's stdin has data.
    let mut child = gb
        .cmd()
        .args(["run", "--rm", "busybox", "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"not for the container\n");
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(stdout(&o), "end\n");
}

#[test]
fn a_tty_gives_the_container_a_terminal() {
    require_root!();
    let gb = Gb::new();
    // stdin is not a terminal here; the container still gets one of its own.
    let o = gb.run(&[
        "run",
        "-t",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "tty; test -t 1 && echo is-a-tty; ls -l /dev/console",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("/dev/pts/") || out.contains("/dev/console"),
        "{out}"
    );
    assert!(out.contains("is-a-tty"), "{out}");
}

#[test]
fn programs_in_the_container_get_default_signal_dispositions() {
    require_root!();
    let gb = Gb::new();
    // With SIGPIPE ignored (glassbox's own setting), `yes` would never end.
    let o = gb.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "yes | head -2; grep -E '^Sig(Ign|Blk)' /proc/self/status",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("y\ny\n"), "{out}");
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
}

/// Unobserved, the child makes its mounts while the parent joins the cgroup:
/// a mount step that fails before the join still reports its own error (not
/// a broken pipe or a cgroup write), and nothing is left behind.
#[test]
fn a_mount_that_fails_before_the_cgroup_join_reports_itself() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run",
        "--rm",
        "--tmpfs",
        "/proc/sys/gb-nope",
        "busybox",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("in step volume_mount") && err.contains("/proc/sys/gb-nope"),
        "{err}"
    );
    assert!(
        !err.contains("Broken pipe") && !err.contains("cgroup"),
        "{err}"
    );
    let short = err
        .split("error starting container ")
        .nth(1)
        .and_then(|r| r.get(..12))
        .expect("the error names the container")
        .to_string();
    assert!(gb.containers().is_empty(), "{:?}", gb.containers());
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if let Ok(dirs) = std::fs::read_dir(h.path().join("glassbox")) {
            for d in dirs.flatten() {
                assert!(
                    !d.file_name().to_string_lossy().starts_with(&short),
                    "{:?} left",
                    d.path()
                );
            }
        }
    }
}
