//! The monitor's own steps narrated (real kernel), OOM kills recorded,
//! `exec -d` and `exec -u`, `ps -s`, `rm -v`.
//! These need root; each test has its own storage root and removes its
//! containers (by PID, through `rm -f`) even when it fails.

mod common;

use common::{cgroup_dirs_for, eventually, ok, stderr, stdout, trace_kinds, Cleanup, Gb};
use std::time::Duration;

fn run_detached(gb: &Gb, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let id = ok(&gb.run(&all)).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
    id
}

fn inspect(gb: &Gb, name: &str, format: &str) -> String {
    ok(&gb.run(&["inspect", "--format", format, name]))
        .trim()
        .to_string()
}

/// Indexes of `wanted` in `kinds`, each after the previous one.
fn in_order(kinds: &[String], wanted: &[&str]) -> bool {
    let mut from = 0;
    for w in wanted {
        match kinds[from..].iter().position(|k| k == w) {
            Some(i) => from += i + 1,
            None => return false,
        }
    }
    true
}

#[test]
fn run_detached_traces_the_monitors_steps_in_order() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let trace = gb.root().join("trace.json");
    let trace_arg = trace.display().to_string();
    let id = ok(&gb.run(&[
        "--trace-json",
        &trace_arg,
        "run",
        "-d",
        "--name",
        "lc3-narrated",
        "busybox",
        "sh",
        "-c",
        "echo hello",
    ]))
    .trim()
    .to_string();
    ok(&gb.run(&["wait", "lc3-narrated"]));
    // The monitor writes its last steps (wait's record, cgroup_remove) as the container ends.
    eventually(10, "the monitor's last step in the trace", || {
        trace_kinds(&trace).last().map(String::as_str) == Some("cgroup_remove")
    });
    let kinds = trace_kinds(&trace);
    assert!(
        in_order(
            &kinds,
            &[
                "monitor_fork",
                "setsid",
                "cgroup_create",
                "log_pipe",
                "clone",
                "cgroup_join",
                "exec",
                "monitor_exec",
                "wait",
                "cgroup_remove"
            ]
        ),
        "{kinds:?}"
    );
    // The exit command (after glassbox-monitor) went on numbering the same trace.
    let seqs: Vec<u64> = common::trace_records(&trace)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // create's steps (in the CLI), then the monitor is forked first.
    assert_eq!(
        kinds[..4],
        ["record_create", "dir_create", "etc_write", "monitor_fork"],
        "{kinds:?}"
    );
    for k in ["monitor_fork", "setsid", "log_pipe", "monitor_exec", "wait"] {
        assert_eq!(
            kinds.iter().filter(|x| *x == k).count(),
            1,
            "{k}: {kinds:?}"
        );
    }
    // The log pipe really fed the log.
    assert_eq!(ok(&gb.run(&["logs", "lc3-narrated"])), "hello\n");
    assert!(cgroup_dirs_for(&id).is_empty());

    // --explain=steps shows them too, in English and Chinese.
    let o = gb.run(&["--explain=steps", "run", "-d", "busybox", "true"]);
    ok(&o);
    let err = stderr(&o);
    for title in [
        "fork a monitor for container",
        "setsid: the monitor gets its own session",
        "connect the container's output to its log",
        "exec glassbox-monitor: the monitor of",
        "wait for process",
    ] {
        assert!(err.contains(title), "{title} missing from:\n{err}");
    }
    let o = gb.run(&[
        "--lang",
        "zh",
        "--explain=steps",
        "run",
        "-d",
        "busybox",
        "true",
    ]);
    ok(&o);
    assert!(stderr(&o).contains("监控进程"), "{}", stderr(&o));

    // A foreground run takes none of them.
    let trace2 = gb.root().join("trace2.json");
    let trace2_arg = trace2.display().to_string();
    ok(&gb.run(&[
        "--trace-json",
        &trace2_arg,
        "run",
        "--rm",
        "busybox",
        "true",
    ]));
    let fg = trace_kinds(&trace2);
    for k in ["monitor_fork", "setsid", "log_pipe", "wait"] {
        assert!(
            !fg.contains(&k.to_string()),
            "{k} in a foreground run: {fg:?}"
        );
    }
}

#[test]
fn an_oom_kill_is_recorded_and_inspect_shows_it() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "lc3-hog",
            "busybox",
            "sh",
            "-c",
            "sleep 1; x=a; while true; do x=$x$x; done",
        ],
    );
    let dirs = cgroup_dirs_for(&id);
    let limit = match dirs
        .iter()
        .find(|d| d.join("memory.limit_in_bytes").exists())
    {
        Some(memory) => memory.join("memory.limit_in_bytes"), // v1
        None => dirs
            .iter()
            .map(|d| d.join("memory.max"))
            .find(|f| f.exists())
            .expect("a memory cgroup for the container"),
    };
    std::fs::write(&limit, "33554432").expect("set the memory limit");
    assert_eq!(ok(&gb.run(&["wait", "lc3-hog"])).trim(), "137");
    assert_eq!(inspect(&gb, "lc3-hog", "{{.State.OOMKilled}}"), "true");
    assert_eq!(inspect(&gb, "lc3-hog", "{{.State.ExitCode}}"), "137");
    assert!(cgroup_dirs_for(&id).is_empty());

    // A plain kill is no OOM kill; a new start clears the flag.
    run_detached(&gb, &["--name", "lc3-killed", "busybox", "sleep", "60"]);
    ok(&gb.run(&["kill", "lc3-killed"]));
    ok(&gb.run(&["wait", "lc3-killed"]));
    assert_eq!(inspect(&gb, "lc3-killed", "{{.State.OOMKilled}}"), "false");
    ok(&gb.run(&["start", "lc3-hog"]));
    ok(&gb.run(&["kill", "lc3-hog"]));
    ok(&gb.run(&["wait", "lc3-hog"]));
    assert_eq!(inspect(&gb, "lc3-hog", "{{.State.OOMKilled}}"), "false");
}

#[test]
fn exec_as_another_user_and_detached() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    run_detached(&gb, &["--name", "lc3-exec", "busybox", "sleep", "120"]);
    assert_eq!(
        ok(&gb.run(&["exec", "-u", "nobody", "lc3-exec", "id", "-u"])),
        "65534\n"
    );
    assert_eq!(
        ok(&gb.run(&["exec", "--user", "1234:55", "lc3-exec", "id"])),
        "uid=1234 gid=55 groups=55\n"
    );
    assert_eq!(
        ok(&gb.run(&["exec", "-u", "nobody:root", "lc3-exec", "id", "-g"])),
        "0\n"
    );
    let o = gb.run(&["exec", "-u", "nobodyx", "lc3-exec", "id"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unable to find user nobodyx: no matching entries in passwd file"),
        "{}",
        stderr(&o)
    );
    // A non-root user really lacks root's rights.
    let o = gb.run(&["exec", "-u", "nobody", "lc3-exec", "touch", "/root/nope"]);
    assert!(!o.status.success());

    // -d: returns at once (the command sleeps first), output discarded.
    let began = std::time::Instant::now();
    let o = gb.run(&[
        "exec",
        "-d",
        "lc3-exec",
        "sh",
        "-c",
        "sleep 1; echo noise; touch /tmp/x",
    ]);
    assert_eq!(ok(&o), "");
    assert!(
        began.elapsed() < Duration::from_millis(900),
        "{:?}",
        began.elapsed()
    );
    let o = gb.run(&["exec", "lc3-exec", "ls", "/tmp"]);
    assert_eq!(ok(&o), "", "the file appeared too early");
    eventually(10, "/tmp/x in the container", || {
        stdout(&gb.run(&["exec", "lc3-exec", "ls", "/tmp"])) == "x\n"
    });
    assert_eq!(ok(&gb.run(&["logs", "lc3-exec"])), "");
    // -d with -u, and a start error still reported.
    ok(&gb.run(&["exec", "-d", "-u", "nobody", "lc3-exec", "touch", "/tmp/y"]));
    eventually(10, "/tmp/y owned by nobody", || {
        stdout(&gb.run(&["exec", "lc3-exec", "stat", "-c", "%u", "/tmp/y"])) == "65534\n"
    });
    let o = gb.run(&["exec", "-d", "lc3-exec", "no-such-program"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
}

#[test]
fn ps_size_and_rm_volumes() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    run_detached(
        &gb,
        &[
            "--name",
            "lc3-size",
            "busybox",
            "sh",
            "-c",
            "printf 123456789012 > /twelve; sleep 120",
        ],
    );
    eventually(10, "the file written", || {
        stdout(&gb.run(&["exec", "lc3-size", "cat", "/twelve"])) == "123456789012"
    });
    let table = ok(&gb.run(&["ps", "-s"]));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let titles: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(titles[titles.len() - 2..], ["NAMES", "SIZE"], "{table}");
    let row = lines.next().unwrap();
    assert!(row.contains("lc3-size"), "{table}");
    assert!(row.contains("12B (virtual "), "{table}");
    assert!(row.trim_end().ends_with("MB)"), "{table}");
    // Without -s there is no SIZE column.
    assert!(!ok(&gb.run(&["ps"])).contains("SIZE"));
    let size = ok(&gb.run(&["ps", "-s", "--format", "{{.Names}} {{.Size}}"]));
    assert!(size.starts_with("lc3-size 12B (virtual "), "{size}");

    // rm -v: documented (tests/volumes_real.rs removes real anonymous volumes).
    let help = ok(&gb.run(&["rm", "--help"]));
    assert!(help.contains("-v, --volumes"), "{help}");
    assert!(help.contains("anonymous volumes"), "{help}");
    assert_eq!(ok(&gb.run(&["rm", "-v", "-f", "lc3-size"])), "lc3-size\n");
    assert!(gb.containers().is_empty());
}

#[test]
fn an_oom_kill_after_the_monitor_died_is_recorded_by_the_next_command() {
    require_root!();
    if std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(true)
    {
        eprintln!("skipped: this host has swap (the allocation may be swapped out)");
        return;
    }
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    // `tail` holds the one 64 MiB line of zeros: past -m 32m, once the
    // monitor is gone.
    let id = run_detached(
        &gb,
        &[
            "--name",
            "orphan-oom",
            "-m",
            "32m",
            "busybox",
            "sh",
            "-c",
            "sleep 2; head -c 64m /dev/zero | tail >/dev/null",
        ],
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            gb.root()
                .join("containers")
                .join(&id)
                .join("container.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let monitor = record["state"]["monitor_pid"].as_i64().unwrap() as i32;
    let pid = record["state"]["pid"].as_i64().unwrap() as i32;
    assert!(monitor > 0 && monitor != pid);
    // The monitor, killed by its PID: nobody is left to see the OOM kill.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually(20, "the container to be seen exited", || {
        inspect(&gb, "orphan-oom", "{{.State.Status}}") == "exited"
    });
    assert_eq!(
        inspect(
            &gb,
            "orphan-oom",
            "{{.State.OOMKilled}} {{.State.ExitCode}}"
        ),
        "true 137"
    );
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let events = ok(&gb.run(&["events", "--since", "0", "--until", &until]));
    let oom_at = events.find("container oom ").expect(&events);
    let die_at = events.find("container die ").expect(&events);
    assert!(oom_at < die_at, "{events}");
    assert!(events.contains("exitCode=137"), "{events}");
    assert!(
        cgroup_dirs_for(&id).is_empty(),
        "the counter was read, then the cgroup removed"
    );
    ok(&gb.run(&["rm", "orphan-oom"]));
}

/// The monitor hands the running container over to glassbox-monitor (exec,
/// same PID): that small program relays and waits, then execs the exit
/// command, which records the end. (That the sockets holding published
/// ports cross the execs: network_real's "port is already allocated".)
#[test]
fn the_monitor_hands_over_to_glassbox_monitor_and_back() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "lc3-handover",
            "busybox",
            "sh",
            "-c",
            "echo up; exec sleep 300",
        ],
    );
    let pid = inspect(&gb, "lc3-handover", "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let monitor = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .to_string();
    // Its parent (the monitor whose PID the record keeps) is glassbox-monitor now.
    eventually(5, "the monitor execs glassbox-monitor", || {
        std::fs::read_link(format!("/proc/{monitor}/exe"))
            .is_ok_and(|p| p.ends_with("glassbox-monitor"))
    });
    let args = std::fs::read_to_string(format!("/proc/{monitor}/cmdline")).unwrap();
    assert!(args.contains("__monitor-exited"), "{args:?}");
    // It relays the log.
    eventually(5, "the log through glassbox-monitor", || {
        stdout(&gb.run(&["logs", "lc3-handover"])) == "up\n"
    });
    // The exit command by hand, while the process runs: refused, nothing changed.
    let o = gb.run(&[
        "__monitor-exited",
        "--id",
        &id,
        "--status",
        "0",
        "--began-ms",
        "0",
        "--delay-ms",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("still runs"), "{}", stderr(&o));
    assert_eq!(inspect(&gb, "lc3-handover", "{{.State.Status}}"), "running");
    // The exit command, back in glassbox, records the end and removes the cgroup.
    ok(&gb.run(&["stop", "-t", "1", "lc3-handover"]));
    assert_eq!(inspect(&gb, "lc3-handover", "{{.State.Status}}"), "exited");
    assert_eq!(inspect(&gb, "lc3-handover", "{{.State.ExitCode}}"), "137");
    eventually(5, "the monitor to end", || {
        !std::path::Path::new(&format!("/proc/{monitor}")).exists()
    });
    assert!(cgroup_dirs_for(&id).is_empty());
}

/// glassbox-monitor is started only by glassbox: by hand, it says what it
/// needs and exits 125 without touching anything.
#[test]
fn glassbox_monitor_by_hand_names_what_is_wrong() {
    let bin = env!("CARGO_BIN_EXE_glassbox-monitor");
    for (args, why) in [
        (vec![], "no exit command after --"),
        (
            vec!["--pid", "1", "--log-fd", "77", "--", "/bin/true"],
            "descriptor 77 is not open",
        ),
    ] {
        let o = std::process::Command::new(bin)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(why) && err.contains("usage:"), "{err}");
    }
}
