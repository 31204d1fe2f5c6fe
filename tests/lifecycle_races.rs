//! Lifecycle races and their narration on the real kernel: `rm -f` racing
//! `run -d`, an `rm -f` killed between its steps, `kill` of a foreground
//! `--rm` container, the steps of stop/kill/rm in order, and the quoting of
//! a narrated shell equivalent. Real-kernel tests need root; each has its own
//! storage root and removes what it made (processes by PID, through `rm -f`).

mod common;

use common::{cgroup_dirs_for, eventually, ok, stderr, stdout, trace_kinds, Cleanup, Gb};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Words that must never reach a user in a lifecycle error: glassbox's
/// internals (its files, cgroups, pipes, OS error numbers).
const INTERNALS: &[&str] = &[
    "container.json",
    "cgroup",
    "Broken pipe",
    "os error",
    "move process",
    "release the container",
    "/sys/fs",
    "Directory not empty",
    "daemon",
];

fn assert_user_level(what: &str, text: &str) {
    for word in INTERNALS {
        assert!(
            !text.contains(word),
            "{what}: internal detail {word:?} leaked:\n{text}"
        );
    }
}

/// Whether `pid` is still the process that started at `start` (and not a zombie).
fn alive(pid: i32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let mut f = after.split_whitespace();
    let state = f.next().unwrap_or("");
    state != "Z" && state != "X" && f.nth(18).and_then(|s| s.parse().ok()) == Some(start)
}

/// The container records of a root, read straight from disk: id → (name, pid, pid start).
fn records(gb: &Gb) -> BTreeMap<String, (String, i32, u64)> {
    let mut out = BTreeMap::new();
    for dir in gb.containers() {
        if let Ok(text) = std::fs::read_to_string(dir.join("container.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                out.insert(
                    v["id"].as_str().unwrap_or("").to_string(),
                    (
                        v["name"].as_str().unwrap_or("").to_string(),
                        v["state"]["pid"].as_i64().unwrap_or(0) as i32,
                        v["state"]["pid_start"].as_u64().unwrap_or(0),
                    ),
                );
            }
        }
    }
    out
}

/// PIDs of the processes in any cgroup of this container id.
fn cgroup_procs(id: &str) -> Vec<String> {
    cgroup_dirs_for(id)
        .iter()
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn wait_child(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("glassbox (pid {}) did not finish in {secs} s", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One round of the race: `run -d --name NAME` in the background while
/// `rm -f NAME` is retried until it succeeds. Returns what must be gone:
/// the ids and (pid, start) pairs seen, with both commands' outputs checked.
fn race_round(gb: &Gb, name: &str) -> (Vec<String>, Vec<(i32, u64)>) {
    let mut run = gb
        .cmd()
        .args(["run", "-d", "--name", name, "busybox", "sleep", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ids = Vec::new();
    let mut pids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for (id, (n, pid, start)) in records(gb) {
            if n == name {
                if !ids.contains(&id) {
                    ids.push(id);
                }
                if pid > 0 && !pids.contains(&(pid, start)) {
                    pids.push((pid, start));
                }
            }
        }
        let rm = gb.run(&["rm", "-f", name]);
        assert_user_level("rm -f", &stderr(&rm));
        if rm.status.success() {
            assert_eq!(stdout(&rm).trim(), name);
            break;
        }
        assert!(
            stderr(&rm).contains("No such container"),
            "rm -f failed otherwise: {}",
            stderr(&rm)
        );
        assert!(Instant::now() < deadline, "rm -f {name} never succeeded");
        std::thread::sleep(Duration::from_millis(5));
    }
    // `rm -f` exited 0: whatever `run -d` does from now on must not bring
    // the container back.
    let status = wait_child(&mut run, 60);
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    run.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    run.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_user_level("run -d", &err);
    if status.success() {
        let id = out.trim().to_string();
        assert_eq!(id.len(), 64, "{out}");
        if !ids.contains(&id) {
            ids.push(id);
        }
    } else {
        assert!(
            err.contains("No such container"),
            "run -d lost the race with an unclear error ({status:?}): {err}"
        );
    }
    (ids, pids)
}

#[test]
fn rm_force_racing_run_detached_always_wins() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let rounds: Vec<String> = (0..20).map(|i| format!("race{i}")).collect();
    let mut seen_ids = Vec::new();
    let mut seen_pids = Vec::new();
    // Four rounds at a time: enough to race, bounded for a small machine.
    for chunk in rounds.chunks(4) {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|name| s.spawn(|| race_round(&gb, name)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (ids, pids) in results {
            seen_ids.extend(ids);
            seen_pids.extend(pids);
        }
    }
    // A moment for any start that lost to give up (it must not resurrect anything).
    std::thread::sleep(Duration::from_millis(300));
    for (pid, start) in &seen_pids {
        assert!(!alive(*pid, *start), "process {pid} still runs after rm -f");
    }
    for id in &seen_ids {
        assert!(
            cgroup_procs(id).is_empty(),
            "processes left in {id}'s cgroup"
        );
        assert!(cgroup_dirs_for(id).is_empty(), "cgroup left for {id}");
    }
    assert!(
        gb.containers().is_empty(),
        "containers left: {:?}",
        gb.containers()
    );
    assert_eq!(ok(&gb.run(&["ps", "-aq"])).trim(), "");
}

/// Whether the process is stopped (state T), as the test hook leaves it.
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s[s.rfind(')').unwrap() + 2..].starts_with('T'))
        .unwrap_or(false)
}

#[test]
fn rm_force_killed_between_steps_is_finished_by_the_next_one() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    // GLASSBOX_TEST_PAUSE_AT stops glassbox (SIGSTOP) at a named point, so
    // the test can SIGKILL it exactly there.
    for point in [
        "rm:after_mark",
        "rm:after_kill",
        "rm:after_cgroup",
        "rm:after_dir",
        "rm:after_record",
    ] {
        let name = format!("half-{}", point.replace([':', '_'], "-"));
        let id = ok(&gb.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]))
            .trim()
            .to_string();
        let (_, pid, start) = records(&gb)[&id].clone();
        assert!(alive(pid, start));
        let mut rm = gb
            .cmd()
            .env("GLASSBOX_TEST_PAUSE_AT", point)
            .args(["rm", "-f", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rm_pid = rm.id();
        eventually(20, &format!("rm -f to reach {point}"), || stopped(rm_pid));
        rm.kill().unwrap(); // SIGKILL by its PID
        rm.wait().unwrap();
        // The next rm -f (by id: the name may be all that is gone) finishes the job.
        let again = gb.run(&["rm", "-f", &id]);
        assert_user_level("second rm -f", &stderr(&again));
        if point != "rm:after_record" {
            assert!(again.status.success(), "{point}: {}", stderr(&again));
        }
        // Any command's repair pass finishes a removal that lost only its directory.
        ok(&gb.run(&["ps", "-a"]));
        assert!(!alive(pid, start), "{point}: process {pid} survived");
        assert!(cgroup_dirs_for(&id).is_empty(), "{point}: cgroup left");
        assert!(
            gb.containers().is_empty(),
            "{point}: left {:?}",
            gb.containers()
        );
    }
}

#[test]
fn kill_of_a_foreground_rm_container_succeeds() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let mut fg = gb
        .cmd()
        .args(["run", "--rm", "--name", "fg-rm", "busybox", "sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(20, "the container to run", || {
        records(&gb)
            .values()
            .any(|(n, pid, _)| n == "fg-rm" && *pid > 0)
    });
    let (id, (_, pid, start)) = records(&gb).into_iter().next().unwrap();
    let killed = gb.run(&["kill", "fg-rm"]);
    assert!(killed.status.success(), "kill failed: {}", stderr(&killed));
    assert_eq!(stdout(&killed).trim(), "fg-rm");
    assert_eq!(wait_child(&mut fg, 20).code(), Some(137));
    assert!(!alive(pid, start));
    assert!(cgroup_dirs_for(&id).is_empty());
    eventually(5, "--rm clean-up", || gb.containers().is_empty());
}

/// Whether `wanted` appear in `kinds` in this order (others may come between).
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
fn stop_kill_and_rm_narrate_their_steps_in_order() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    // PID 1 of a PID namespace ignores SIGTERM it has no handler for: stop
    // has to wait out its timeout, then SIGKILL.
    let id = ok(&gb.run(&["run", "-d", "--name", "told", "busybox", "sleep", "1000"]))
        .trim()
        .to_string();
    let (_, pid, _) = records(&gb)[&id].clone();
    let trace = gb.root().join("stop.json");
    let began = Instant::now();
    let mut stop = gb
        .cmd()
        .args(["--explain=steps", "--trace-json"])
        .arg(&trace)
        .args(["stop", "-t", "3", "told"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The narration arrives as it happens: the wait is announced before
    // the 3 seconds pass, not after.
    let mut lines = BufReader::new(stop.stderr.take().unwrap()).lines();
    let mut narration = String::new();
    let mut wait_seen_at = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        narration.push_str(&line);
        narration.push('\n');
        if wait_seen_at.is_none() && line.contains(&format!("tail --pid={pid}")) {
            wait_seen_at = Some(began.elapsed());
        }
    }
    assert!(wait_stop(&mut stop).success(), "{narration}");
    let wait_seen_at = wait_seen_at.unwrap_or_else(|| panic!("no wait step:\n{narration}"));
    assert!(
        wait_seen_at < Duration::from_millis(2500),
        "the wait step was printed only after {wait_seen_at:?}:\n{narration}"
    );
    let term = narration
        .find(&format!("kill -TERM {pid}"))
        .unwrap_or_else(|| panic!("no SIGTERM step:\n{narration}"));
    let wait = narration.find(&format!("tail --pid={pid}")).unwrap();
    let kill = narration
        .find(&format!("kill -KILL {pid}"))
        .unwrap_or_else(|| panic!("no SIGKILL step:\n{narration}"));
    assert!(term < wait && wait < kill, "{narration}");
    // The user's stop is recorded first (no restart policy may undo it);
    // the exit itself is recorded by the container's supervisor, which
    // waited for it (its `wait` step), before stop returns.
    let kinds = trace_kinds(&trace);
    assert!(
        in_order(
            &kinds,
            &["record_write", "signal", "wait_exit", "signal", "wait_exit"]
        ),
        "{kinds:?}"
    );
    let state = ok(&gb.run(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "told",
    ]));
    assert_eq!(state.trim(), "exited 137");

    // kill: the signal, then the wait for the process to be gone.
    ok(&gb.run(&["start", "told"]));
    let (_, pid, _) = records(&gb)[&id].clone();
    let trace = gb.root().join("kill.json");
    let killed = gb
        .cmd()
        .args(["--explain=steps", "--trace-json"])
        .arg(&trace)
        .args(["kill", "told"])
        .output()
        .unwrap();
    assert_eq!(ok(&killed).trim(), "told");
    assert!(
        stderr(&killed).contains(&format!("kill -KILL {pid}")),
        "{}",
        stderr(&killed)
    );
    let kinds = trace_kinds(&trace);
    assert!(in_order(&kinds, &["signal", "wait_exit"]), "{kinds:?}");

    // rm -f of a running container: mark, kill, wait, cgroup, directory, record.
    ok(&gb.run(&["start", "told"]));
    let trace = gb.root().join("rm.json");
    let removed = gb
        .cmd()
        .args(["--explain=steps", "--trace-json"])
        .arg(&trace)
        .args(["rm", "-f", "told"])
        .output()
        .unwrap();
    assert_eq!(ok(&removed).trim(), "told");
    let kinds = trace_kinds(&trace);
    assert!(
        in_order(
            &kinds,
            &[
                "record_write",
                "signal",
                "wait_exit",
                "cgroup_remove",
                "dir_remove",
                "record_remove"
            ]
        ),
        "{kinds:?}"
    );
    let text = stderr(&removed);
    assert!(
        text.contains(&format!(
            "rmdir {}",
            gb.root().join("containers").join(&id).display()
        )),
        "{text}"
    );
    assert!(gb.containers().is_empty());
    assert!(cgroup_dirs_for(&id).is_empty());
}

fn wait_stop(child: &mut Child) -> std::process::ExitStatus {
    wait_child(child, 30)
}

#[test]
fn a_narrated_exec_pasted_into_sh_prints_the_same() {
    // Simulated: runs anywhere, and its exec step is described like the real one.
    let gb = Gb::new();
    let trace = gb.root().join("trace.json");
    let program = r#"echo "a b"; echo c"#;
    let out = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&trace)
        .args(["run", "--rm", "busybox", "sh", "-c", program])
        .output()
        .unwrap();
    assert_eq!(ok(&out), "a b\nc\n");
    let exec = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == "exec")
        .expect("an exec step");
    let shell = exec["shell"].as_str().unwrap().to_string();
    let pasted = std::process::Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&pasted.stdout),
        "a b\nc\n",
        "pasting {shell:?} into sh"
    );
}
