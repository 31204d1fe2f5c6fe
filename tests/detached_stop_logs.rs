//! Detached containers on the real kernel: runs under a monitor, logs,
//! stop/kill/start/wait, inspect, ps filters, exec.
//! These need root; CI runs them as root. Each test has its own storage root
//! and removes its containers (by PID, through `rm -f`) even when it fails.

mod common;

use common::{assert_clean, cgroup_dirs_for, eventually, ok, stderr, stdout, Cleanup, Gb};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn run_detached(gb: &Gb, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let id = ok(&gb.run(&all)).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    id
}

fn inspect(gb: &Gb, name: &str, format: &str) -> String {
    ok(&gb.run(&["inspect", "--format", format, name]))
        .trim()
        .to_string()
}

fn record(gb: &Gb, id: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(gb.root().join("containers").join(id).join("container.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn detached_run_writes_logs_that_logs_reads_tails_and_follows() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "counter",
            "busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 12 ]; do echo $i; i=$((i+1)); sleep 0.1; done; echo done >&2",
        ],
    );
    // Follow from the start: it must see every line, then end with the container.
    let follower = gb
        .cmd()
        .args(["logs", "-f", "counter"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let followed = follower.wait_with_output().unwrap();
    assert!(followed.status.success(), "{}", stderr(&followed));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "logs -f did not end with the container"
    );
    let expected: String = (0..12).map(|i| format!("{i}\n")).collect();
    assert_eq!(stdout(&followed), expected);
    assert_eq!(stderr(&followed), "done\n");

    assert_eq!(ok(&gb.run(&["wait", "counter"])).trim(), "0");
    let all = gb.run(&["logs", "counter"]);
    assert_eq!(ok(&all), expected);
    assert_eq!(stderr(&all), "done\n");
    // --tail counts entries of both streams, as docker's does.
    let tail = gb.run(&["logs", "--tail", "3", "counter"]);
    assert_eq!(ok(&tail), "10\n11\n");
    assert_eq!(stderr(&tail), "done\n");
    let stamped = ok(&gb.run(&["logs", "-t", "--tail", "2", &id[..12]]));
    let line = stamped.lines().next().unwrap();
    let (time, text) = line.split_once(' ').unwrap();
    assert!(time.ends_with('Z') && time.contains('T'), "{line}");
    assert_eq!(text, "11");
    assert_eq!(
        ok(&gb.run(&["logs", "--since", "1h", "--tail", "1", "counter"])),
        ""
    );
    assert_eq!(
        ok(&gb.run(&[
            "logs",
            "--since",
            "2000-01-01T00:00:00Z",
            "--tail",
            "2",
            "counter"
        ])),
        "11\n"
    );
    assert!(ok(&gb.run(&["logs", "--until", "2000-01-01T00:00:00Z", "counter"])).is_empty());

    // The log is docker's json-file.
    let log = std::fs::read_to_string(
        gb.root()
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "0\n");
    assert_eq!(first["stream"], "stdout");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));

    ok(&gb.run(&["rm", "counter"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn logs_follow_sees_lines_written_after_it_started() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "slow",
            "busybox",
            "sh",
            "-c",
            "echo first; sleep 1; echo second",
        ],
    );
    eventually(5, "the first line", || {
        ok(&gb.run(&["logs", "slow"])).contains("first")
    });
    let followed = gb.run(&["logs", "-f", "--tail", "0", "slow"]);
    assert_eq!(ok(&followed), "second\n");
    ok(&gb.run(&["rm", "slow"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn stop_kills_a_container_that_ignores_sigterm_and_records_137() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "stubborn",
            "busybox",
            "sh",
            "-c",
            "trap '' TERM; while true; do sleep 1; done",
        ],
    );
    assert_eq!(inspect(&gb, "stubborn", "{{.State.Status}}"), "running");
    let pid: i32 = inspect(&gb, "stubborn", "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    let t = Instant::now();
    assert_eq!(
        ok(&gb.run(&["stop", "-t", "2", "stubborn"])).trim(),
        "stubborn"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "stop took {took:?}"
    );
    assert_eq!(
        inspect(
            &gb,
            "stubborn",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.State.Pid}}"
        ),
        "exited 137 false 0"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true),
        "the container process survived"
    );
    // A stopped container stops again without complaint.
    ok(&gb.run(&["stop", "stubborn"]));
    // kill needs a running container.
    let k = gb.run(&["kill", "stubborn"]);
    assert_eq!(k.status.code(), Some(1));
    assert!(stderr(&k).contains("is not running"), "{}", stderr(&k));
    ok(&gb.run(&["rm", "stubborn"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn kill_sends_the_signal_asked_for() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "hup",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got HUP; exit 7' HUP; echo ready; while true; do sleep 0.1; done",
        ],
    );
    // Signal only once the trap is set: as PID 1 of its namespace the shell
    // ignores a SIGHUP it has no handler for.
    eventually(5, "the trap", || ok(&gb.run(&["logs", "hup"])) == "ready\n");
    ok(&gb.run(&["kill", "-s", "HUP", "hup"]));
    assert_eq!(ok(&gb.run(&["wait", "hup"])).trim(), "7");
    assert_eq!(ok(&gb.run(&["logs", "hup"])), "ready\ngot HUP\n");
    let bad = gb.run(&["kill", "-s", "NOPE", "hup"]);
    assert!(!bad.status.success());
    ok(&gb.run(&["rm", "hup"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn ps_filters_limits_and_formats() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let e1 = run_detached(&gb, &["--name", "ex1", "busybox", "true"]);
    let e2 = run_detached(&gb, &["--name", "ex2", "busybox", "sh", "-c", "exit 3"]);
    let r1 = run_detached(&gb, &["--name", "run1", "busybox", "sleep", "60"]);
    let c1 = ok(&gb.run(&["create", "--name", "made1", "busybox", "true"]))
        .trim()
        .to_string();
    assert_eq!(c1.len(), 64);
    ok(&gb.run(&["wait", "ex1", "ex2"]));

    let lines = |o: String| -> Vec<String> {
        let mut v: Vec<String> = o.lines().map(String::from).collect();
        v.sort();
        v
    };
    let mut exited = vec![e1[..12].to_string(), e2[..12].to_string()];
    exited.sort();
    assert_eq!(
        lines(ok(&gb.run(&["ps", "-aq", "-f", "status=exited"]))),
        exited
    );
    // A status filter implies -a, as in docker.
    assert_eq!(
        lines(ok(&gb.run(&["ps", "-q", "-f", "status=exited"]))),
        exited
    );
    assert_eq!(
        lines(ok(&gb.run(&["ps", "-q"]))),
        vec![r1[..12].to_string()]
    );
    assert_eq!(
        lines(ok(&gb.run(&["ps", "-aq", "-f", "status=created"]))),
        vec![c1[..12].to_string()]
    );
    assert_eq!(
        lines(ok(&gb.run(&["ps", "-aq", "-f", "exited=3"]))),
        vec![e2[..12].to_string()]
    );
    assert_eq!(
        lines(ok(&gb.run(&[
            "ps",
            "-aq",
            "-f",
            "name=ex",
            "-f",
            "status=exited",
            "-f",
            "status=running"
        ]))),
        exited
    );
    assert_eq!(
        lines(ok(&gb.run(&[
            "ps",
            "-aq",
            "--no-trunc",
            "-f",
            &format!("id={}", &r1[..8])
        ]))),
        vec![r1.clone()]
    );
    assert_eq!(
        lines(ok(&gb.run(&["ps", "-aq", "-f", "ancestor=busybox"]))).len(),
        4
    );
    assert!(ok(&gb.run(&["ps", "-aq", "-f", "ancestor=alpine"])).is_empty());
    assert!(!gb.run(&["ps", "-f", "colour=red"]).status.success());
    // -n and -l: the newest first, whatever their state.
    assert_eq!(ok(&gb.run(&["ps", "-q", "-l"])).trim(), &c1[..12]);
    assert_eq!(ok(&gb.run(&["ps", "-q", "-n", "2"])).lines().count(), 2);
    // --format, plain and as a table.
    assert_eq!(
        ok(&gb.run(&["ps", "--format", "{{.Names}}:{{.Image}}:{{.Command}}"])).trim(),
        "run1:busybox:\"sleep 60\""
    );
    let table = ok(&gb.run(&["ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Status}}"]));
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[0].starts_with("CONTAINER ID   NAMES     STATUS"),
        "{table}"
    );
    assert!(
        rows[1].starts_with(&r1[..12]) && rows[1].contains("run1") && rows[1].contains("Up "),
        "{table}"
    );

    ok(&gb.run(&["rm", "-f", "ex1", "ex2", "run1", "made1"]));
    assert_clean(&gb, &[e1, e2, r1, c1]);
}

#[test]
fn inspect_shows_dockers_shape_and_formats() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name", "insp", "-e", "A=1", "-w", "/tmp", "busybox", "sh", "-c", "exit 3",
        ],
    );
    assert_eq!(ok(&gb.run(&["wait", "insp"])).trim(), "3");
    assert_eq!(inspect(&gb, "insp", "{{.State.ExitCode}}"), "3");
    assert_eq!(
        inspect(
            &gb,
            "insp",
            "name={{.Name}} wd={{.Config.WorkingDir}} rm={{.HostConfig.AutoRemove}}"
        ),
        "name=/insp wd=/tmp rm=false"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&inspect(&gb, "insp", "{{json .Config}}")).unwrap();
    assert_eq!(cfg["Cmd"], serde_json::json!(["sh", "-c", "exit 3"]));
    assert!(cfg["Env"].as_array().unwrap().iter().any(|e| e == "A=1"));
    let all: serde_json::Value = serde_json::from_str(&ok(&gb.run(&["inspect", "insp"]))).unwrap();
    let c = &all[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"], serde_json::json!(["-c", "exit 3"]));
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["Running"], false);
    assert_eq!(c["State"]["OOMKilled"], false);
    assert_eq!(c["State"]["ExitCode"], 3);
    assert!(c["State"]["FinishedAt"].as_str().unwrap().starts_with("20"));
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["GraphDriver"]["Name"], "overlay2");
    assert!(c["GraphDriver"]["Data"]["UpperDir"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{id}/upper")));
    assert!(!c["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(c["HostConfig"]["NetworkMode"], "none");
    assert_eq!(c["NetworkSettings"]["IPAddress"], "");
    assert_eq!(c["Config"]["Image"], "busybox");
    let missing = gb.run(&["inspect", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1));
    ok(&gb.run(&["rm", "insp"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn start_reruns_an_exited_container_with_its_files() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let script = "echo run >> /runs; wc -l < /runs";
    let id = run_detached(&gb, &["--name", "again", "busybox", "sh", "-c", script]);
    assert_eq!(ok(&gb.run(&["wait", "again"])).trim(), "0");
    let first_start = inspect(&gb, "again", "{{.State.StartedAt}}");
    assert_eq!(ok(&gb.run(&["start", "again"])).trim(), "again");
    assert_eq!(ok(&gb.run(&["wait", "again"])).trim(), "0");
    assert_ne!(inspect(&gb, "again", "{{.State.StartedAt}}"), first_start);
    // The same upper dir: the second run sees the first run's file.
    assert_eq!(ok(&gb.run(&["logs", "again"])), "1\n2\n");
    // start -a runs it in the foreground and returns its status.
    let attached = gb.run(&["start", "-a", "again"]);
    assert_eq!(ok(&attached), "3\n");
    // create + start.
    let made = ok(&gb.run(&[
        "create",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "echo made; exit 4",
    ]))
    .trim()
    .to_string();
    assert_eq!(inspect(&gb, "later", "{{.State.Status}}"), "created");
    ok(&gb.run(&["start", "later"]));
    assert_eq!(ok(&gb.run(&["wait", "later"])).trim(), "4");
    assert_eq!(ok(&gb.run(&["logs", "later"])), "made\n");
    // restart of a running container: a new process.
    let r = run_detached(&gb, &["--name", "rs", "busybox", "sleep", "60"]);
    let pid1 = inspect(&gb, "rs", "{{.State.Pid}}");
    ok(&gb.run(&["restart", "-t", "0", "rs"]));
    assert_eq!(inspect(&gb, "rs", "{{.State.Status}}"), "running");
    assert_ne!(inspect(&gb, "rs", "{{.State.Pid}}"), pid1);
    ok(&gb.run(&["rm", "-f", "again", "later", "rs"]));
    assert_clean(&gb, &[id, made, r]);
}

#[test]
fn detached_rm_leaves_nothing_after_exit() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(&gb, &["--rm", "busybox", "sh", "-c", "sleep 0.3"]);
    assert_eq!(gb.containers().len(), 1);
    eventually(10, "--rm clean-up", || gb.containers().is_empty());
    assert_clean(&gb, &[id]);
    assert!(ok(&gb.run(&["ps", "-aq"])).is_empty());
}

#[test]
fn detached_start_failures_exit_like_docker() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let o = gb.run(&["run", "-d", "--name", "nf", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("executable file not found"));
    assert!(stdout(&o).is_empty());
    assert_eq!(inspect(&gb, "nf", "{{.State.ExitCode}}"), "127");
    let o = gb.run(&["run", "-d", "--rm", "busybox", "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let o = gb.run(&["run", "-d", "--name", "nf", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    ok(&gb.run(&["rm", "nf"]));
    assert!(gb.containers().is_empty());
}

#[test]
fn a_killed_monitor_is_noticed() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "orphan",
            "busybox",
            "sh",
            "-c",
            "while true; do sleep 1; done",
        ],
    );
    let state = &record(&gb, &id)["state"];
    let monitor = state["monitor_pid"].as_i64().unwrap() as i32;
    let pid = state["pid"].as_i64().unwrap() as i32;
    assert!(monitor > 0 && pid > 0 && monitor != pid);
    let kill = |p: i32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap()
    };
    kill(monitor);
    std::thread::sleep(Duration::from_millis(200));
    // The container outlives its monitor: it still runs, as docker would report.
    assert_eq!(inspect(&gb, "orphan", "{{.State.Status}}"), "running");
    assert_eq!(ok(&gb.run(&["ps", "-q"])).trim(), &id[..12]);
    // With nobody left to collect its exit, the end is recorded as 255.
    kill(pid);
    eventually(10, "the orphan to be seen exited", || {
        ok(&gb.run(&["ps", "-a", "--format", "{{.Status}}"])).starts_with("Exited (255)")
    });
    assert_eq!(inspect(&gb, "orphan", "{{.State.ExitCode}}"), "255");
    assert!(
        cgroup_dirs_for(&id).is_empty(),
        "cgroup left after the orphan died"
    );
    ok(&gb.run(&["rm", "orphan"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn detached_tty_output_is_logged() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "-t",
            "--name",
            "tt",
            "busybox",
            "sh",
            "-c",
            "echo on a tty; tty",
        ],
    );
    assert_eq!(ok(&gb.run(&["wait", "tt"])).trim(), "0");
    assert_eq!(ok(&gb.run(&["logs", "tt"])), "on a tty\r\n/dev/console\r\n");
    // -di keeps stdin open, so a shell waits instead of exiting.
    let sh = run_detached(&gb, &["-i", "--name", "shell", "busybox", "sh"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inspect(&gb, "shell", "{{.State.Running}}"), "true");
    ok(&gb.run(&["rm", "-f", "tt", "shell"]));
    assert_clean(&gb, &[id, sh]);
}

#[test]
fn exec_joins_the_running_container() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "target",
            "-h",
            "inside",
            "-e",
            "FROM_RUN=1",
            "busybox",
            "sh",
            "-c",
            "while true; do sleep 1; done",
        ],
    );
    // PID 1 is the container's command: we are in its PID namespace.
    let cmdline = ok(&gb.run(&["exec", "target", "cat", "/proc/1/cmdline"]));
    assert_eq!(cmdline, "sh\0-c\0while true; do sleep 1; done\0");
    let out = ok(&gb.run(&[
        "exec",
        "-e",
        "X=y",
        "-w",
        "/tmp",
        "target",
        "sh",
        "-c",
        "hostname; pwd; echo $X $FROM_RUN; cat /proc/self/cgroup",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["inside", "/tmp", "y 1"]);
    assert!(
        lines[3..]
            .iter()
            .all(|l| l.ends_with(&format!("/glassbox/{id}")) || l.ends_with(":/")),
        "exec'd process is not in the container's cgroup: {out}"
    );
    // The exit status is the command's; docker's codes when it cannot run.
    assert_eq!(
        gb.run(&["exec", "target", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    let nf = gb.run(&["exec", "target", "nosuch"]);
    assert_eq!(nf.status.code(), Some(127));
    assert!(stderr(&nf).contains("executable file not found"));
    // stdin with -i.
    let mut child = gb
        .cmd()
        .args(["exec", "-i", "target", "sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo from stdin\n")
        .unwrap();
    assert_eq!(stdout(&child.wait_with_output().unwrap()), "from stdin\n");
    // Narrated as steps.
    let trace = gb.root().join("exec-trace.json");
    ok(&gb.run(&[
        "--trace-json",
        trace.to_str().unwrap(),
        "exec",
        "target",
        "true",
    ]));
    assert_eq!(
        common::trace_kinds(&trace),
        // exec takes the container's confinement too: its seccomp filter and capabilities.
        ["cgroup_join", "setns", "seccomp_load", "cap_set", "exec"]
    );
    // Only running containers.
    ok(&gb.run(&["stop", "-t", "0", "target"]));
    let stopped = gb.run(&["exec", "target", "true"]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(stderr(&stopped).contains("is not running"));
    ok(&gb.run(&["rm", "target"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn rm_force_of_a_detached_container_leaves_nothing_behind() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(&gb, &["--name", "busy", "busybox", "sleep", "60"]);
    let monitor = record(&gb, &id)["state"]["monitor_pid"].as_i64().unwrap() as i32;
    // start of a running container changes nothing.
    let pid = inspect(&gb, "busy", "{{.State.Pid}}");
    assert_eq!(ok(&gb.run(&["start", "busy"])).trim(), "busy");
    assert_eq!(inspect(&gb, "busy", "{{.State.Pid}}"), pid);
    let refused = gb.run(&["rm", "busy"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("container is running"));
    ok(&gb.run(&["rm", "-f", "busy"]));
    // The monitor sees its container die and exits without re-creating the record.
    eventually(5, "the monitor to exit", || {
        std::fs::read_to_string(format!("/proc/{monitor}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)
    });
    assert_clean(&gb, &[id]);
    assert_eq!(gb.run(&["logs", "busy"]).status.code(), Some(1));
}
