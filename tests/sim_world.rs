//! The simulated host persists between commands: detached containers live
//! on, their clock follows a pinned (stepping) clock, their files are kept,
//! and the simulated and real stores never see each other.

mod common;
use common::*;

/// A simulated command on a clock pinned at 2026-01-01T00:00:00Z that moves
/// one second on per command, so what the ticker printed repeats exactly.

const TICKER: &str =
    "trap 'echo bye; exit 3' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done";

#[test]
fn a_detached_container_lives_between_commands() {
    let gb = Gb::new();
    let id = ok(&gb.sim_ticking(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", TICKER,
    ]));
    assert_eq!(id.trim().len(), 64, "{id}");
    // One command later, one simulated second later.
    let ps = ok(&gb.sim_ticking(&["ps"]));
    assert!(ps.contains("ticker"), "{ps}");
    assert!(ps.contains("1 second ago"), "{ps}");
    assert!(ps.contains("Up 1 second"), "{ps}");
    assert_eq!(
        ok(&gb.sim_ticking(&["inspect", "--format", "{{.State.Status}}", "ticker"])).trim(),
        "running"
    );
    // Three commands after the start: ticks 0..3 printed, the last two shown.
    assert_eq!(
        ok(&gb.sim_ticking(&["logs", "--tail", "2", "ticker"])),
        "tick 2\ntick 3\n"
    );

    // exec sees the program's processes and its filesystem, and what it
    // changes stays for the next exec.
    let procs = ok(&gb.sim_ticking(&["exec", "ticker", "ps"]));
    assert!(procs.contains("sh -c trap"), "{procs}");
    ok(&gb.sim_ticking(&["exec", "ticker", "sh", "-c", "echo hi > /tmp/note"]));
    assert_eq!(
        ok(&gb.sim_ticking(&["exec", "ticker", "cat", "/tmp/note"])),
        "hi\n"
    );
    assert_eq!(
        ok(&gb.sim_ticking(&["exec", "ticker", "hostname"])).trim(),
        &id.trim()[..12]
    );

    // stop: SIGTERM, which the script traps: it says bye and exits 3.
    assert_eq!(
        ok(&gb.sim_ticking(&["stop", "-t", "10", "ticker"])).trim(),
        "ticker"
    );
    assert_eq!(
        ok(&gb.sim_ticking(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ticker"
        ]))
        .trim(),
        "exited 3"
    );
    let logs = ok(&gb.sim_ticking(&["logs", "ticker"]));
    assert!(logs.ends_with("bye\n"), "{logs}");
    // What exec wrote is in its upper layer: diff shows it.
    let diff = ok(&gb.sim_ticking(&["diff", "ticker"]));
    assert!(diff.contains("A /tmp/note"), "{diff}");

    // start again; rm -f kills it.
    ok(&gb.sim_ticking(&["start", "ticker"]));
    assert!(ok(&gb.sim_ticking(&["ps", "-q"])).contains(&id[..12]));
    ok(&gb.sim_ticking(&["rm", "-f", "ticker"]));
    assert_eq!(ok(&gb.sim_ticking(&["ps", "-aq"])), "");
}

#[test]
fn a_pid_1_without_a_trap_ignores_sigterm_and_stop_kills_it_after_the_timeout() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]));
    let t = std::time::Instant::now();
    ok(&gb.sim_ticking(&["stop", "-t", "30", "stubborn"]));
    // Thirty simulated seconds, not thirty real ones.
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    assert_eq!(
        ok(&gb.sim_ticking(&["inspect", "--format", "{{.State.ExitCode}}", "stubborn"])).trim(),
        "137"
    );
    ok(&gb.sim_ticking(&["rm", "stubborn"]));
}

#[test]
fn kill_and_wait_report_the_programs_own_status() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&["run", "-d", "--name", "k", "busybox", "sleep", "1000"]));
    ok(&gb.sim_ticking(&["kill", "k"]));
    let o = gb.sim_ticking(&["wait", "k"]);
    assert_eq!(stdout(&o).trim(), "137", "{}", stderr(&o));
    // A program that ends by itself: wait returns its code once it has.
    ok(&gb.sim_ticking(&[
        "run", "-d", "--name", "quick", "busybox", "sh", "-c", "exit 7",
    ]));
    assert_eq!(stdout(&gb.sim_ticking(&["wait", "quick"])).trim(), "7");
    ok(&gb.sim_ticking(&["rm", "k", "quick"]));
}

#[test]
fn files_of_a_simulated_container_diff_cp_commit_and_export() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "echo data > /newfile; rm /etc/group",
    ]));
    assert_eq!(
        ok(&gb.sim_ticking(&["diff", "writer"])),
        "C /etc\nD /etc/group\nA /newfile\n"
    );
    // cp out, cp in (the container is stopped: its upper layer changes).
    let host = gb.root().join("out.txt");
    ok(&gb.sim_ticking(&["cp", "writer:/newfile", host.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "data\n");
    let src = gb.root().join("in.txt");
    std::fs::write(&src, "from the host\n").unwrap();
    ok(&gb.sim_ticking(&["cp", src.to_str().unwrap(), "writer:/in.txt"]));
    // commit: a simulated image that a later simulated run uses.
    ok(&gb.sim_ticking(&["commit", "writer", "written:1"]));
    assert_eq!(
        ok(&gb.sim_ticking(&["run", "--rm", "written:1", "cat", "/newfile", "/in.txt"])),
        "data\nfrom the host\n"
    );
    let o = gb.sim_ticking(&["run", "--rm", "written:1", "cat", "/etc/group"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // export: the merged tree as a tar.
    let tar = gb.root().join("writer.tar");
    ok(&gb.sim_ticking(&["export", "-o", tar.to_str().unwrap(), "writer"]));
    let mut names = Vec::new();
    let mut a = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    for e in a.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n == "newfile"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(!names.iter().any(|n| n == "etc/group"), "{names:?}");
    ok(&gb.sim_ticking(&["rm", "writer"]));
}

#[test]
fn simulated_and_real_stores_never_see_each_other() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&["run", "-d", "--name", "simonly", "busybox", "sleep", "1000"]));
    ok(&gb.sim_ticking(&["tag", "busybox", "simimage:1"]));
    assert!(ok(&gb.sim_ticking(&["ps", "-a"])).contains("simonly"));
    if is_root() {
        let _cleanup = Cleanup(&gb);
        assert!(!ok(&gb.run(&["ps", "-a"])).contains("simonly"));
        assert!(!ok(&gb.run(&["images"])).contains("simimage"));
        let id = ok(&gb.run(&["create", "--name", "realonly", "busybox", "true"]));
        assert!(
            !ok(&gb.sim_ticking(&["ps", "-a"])).contains("realonly"),
            "{id}"
        );
        ok(&gb.run(&["rm", "realonly"]));
    }
    ok(&gb.sim_ticking(&["rm", "-f", "simonly"]));
}

/// The simulator opens nothing of the host outside its store, the binary's
/// own libraries and its process's /proc/self/maps (the Rust runtime's).
#[test]
fn a_simulated_run_opens_no_host_file_outside_its_store() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: strace is not installed (scripts/test installs it)");
        return;
    }
    let gb = Gb::new();
    let trace = gb.root().join("strace.txt");
    let o = std::process::Command::new("strace")
        .args(["-f", "-e", "trace=openat,open,execve", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_glassbox"))
        .arg("--root")
        .arg(gb.root())
        .args([
            "--simulate",
            "run",
            "-t",
            "--rm",
            "-h",
            "box",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/status /etc/resolv.conf; hostname",
        ])
        .env_remove("GLASSBOX_ROOT")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("box"), "{}", stdout(&o));
    let root = gb.root().display().to_string();
    let text = std::fs::read_to_string(&trace).unwrap();
    let outside: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("open") && !l.contains("ENOENT"))
        .filter_map(|l| l.split('"').nth(1).map(|p| (l, p)))
        .filter(|(_, p)| p.starts_with('/'))
        .filter(|(_, p)| {
            !(p.starts_with(&root)
                || p.starts_with("/etc/ld.so")
                || p.starts_with("/lib")
                || p.starts_with("/usr/lib")
                || p.starts_with("/usr/share/locale")
                || p.starts_with("/usr/share/zoneinfo")
                || *p == "/proc/self/maps")
        })
        .map(|(l, _)| l)
        .collect();
    assert!(outside.is_empty(), "host files opened: {outside:#?}");
}

/// How a command's outputs are compared between the real and the simulated
/// host (beyond its exit code and step kinds, always compared).
#[derive(Clone, Copy)]
enum Compare {
    /// The same words once ids and hashes are set aside.
    Plain,
    /// As `Plain`, also without the ages docker prints ("2 seconds ago").
    NoTimes,
    /// `top`: the same header, and the same users and commands.
    Top,
    /// `stats`: the same header, and rows of the same shape (the figures
    /// are the hosts' own).
    Shape,
    /// `events`: the same events in the same order, times set aside.
    Events,
    /// A file the command wrote under the store root: the same bytes.
    HostFile(&'static str),
    /// A tar the command wrote under the store root: the same entry names.
    TarNames(&'static str),
}

/// Words of an output without ids, hostnames (= short ids) and hashes.
fn plain_words(s: &str) -> Vec<String> {
    s.split_whitespace()
        .filter(|w| !(w.len() >= 12 && w.chars().all(|c| c.is_ascii_hexdigit() || c == ':')))
        .filter(|w| !w.starts_with("sha256:"))
        .map(String::from)
        .collect()
}

/// An output line by line, as `cmp` wants to see it on both hosts.
fn comparable(how: Compare, root: &std::path::Path, out: &str) -> Vec<String> {
    const AGES: &[&str] = &[
        "Less", "than", "a", "second", "seconds", "About", "an", "minute", "minutes", "hour",
        "hours", "ago",
    ];
    match how {
        Compare::Plain => plain_words(out),
        Compare::NoTimes => plain_words(out)
            .into_iter()
            .filter(|w| !AGES.contains(&w.as_str()) && w.parse::<u64>().is_err())
            .collect(),
        Compare::Top => {
            let mut rows: Vec<String> = out
                .lines()
                .skip(1)
                .map(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    // UID and CMD (from the eighth column on).
                    format!("{} {}", w[0], w[7.min(w.len())..].join(" "))
                })
                .collect();
            rows.sort();
            let mut all = vec![out.lines().next().unwrap_or("").to_string()];
            all.extend(rows);
            all
        }
        Compare::Shape => {
            let mut lines = out.lines();
            let mut all = vec![lines.next().unwrap_or("").to_string()];
            for l in lines {
                // Each word's kind: a percentage, a size, a count, a slash, a name.
                let kinds: Vec<&str> = l
                    .split_whitespace()
                    .skip(1)
                    .map(|w| match w {
                        "/" => "/",
                        w if w.ends_with('%') => "percent",
                        w if w.ends_with('B') => "size",
                        w if w.parse::<u64>().is_ok() => "count",
                        _ => "name",
                    })
                    .collect();
                all.push(kinds.join(" "));
            }
            all
        }
        Compare::Events => out
            .lines()
            .map(|l| {
                plain_words(l)
                    .into_iter()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect(),
        Compare::HostFile(name) => {
            let mut all = plain_words(out);
            all.push(std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| format!("{e}")));
            all
        }
        Compare::TarNames(name) => {
            let mut all = plain_words(out);
            let file = std::fs::File::open(root.join(name));
            let mut names: Vec<String> = match file {
                Ok(f) => tar::Archive::new(f)
                    .entries()
                    .unwrap()
                    // Directory names: the real export writes `bin`, the
                    // simulated one (as docker) `bin/`; names are compared.
                    .map(|e| {
                        let name = e.unwrap().path().unwrap().display().to_string();
                        name.trim_end_matches('/').to_string()
                    })
                    .collect(),
                Err(e) => vec![format!("{e}")],
            };
            names.sort();
            all.extend(names);
            all
        }
    }
}

/// The same script of commands on the real kernel and on the simulated
/// one (issue 9's list: run -d, ps, logs --tail, exec, top, stats, stop,
/// start, restart, kill, wait, attach with detach keys, diff, cp both ways,
/// commit and a run of the result, export, rename, events, rm -f, container
/// prune, inspect of the state fields): the same exit code and step kinds
/// for every command, and the same outputs once ids and times are set aside.
#[test]
fn real_and_simulated_hosts_take_the_same_steps_for_the_lifecycle() {
    require_root!();
    use Compare::*;
    const STATE: &str = "{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.State.Restarting}} {{.State.OOMKilled}} {{.State.Dead}} {{.State.ExitCode}} {{.State.Error}}";
    let script: &[(&[&str], Option<&[u8]>, Compare)] = &[
        (
            &[
                "run",
                "-d",
                "--name",
                "par",
                "busybox",
                "sh",
                "-c",
                "echo one; echo two; echo three; while true; do sleep 1; done",
            ],
            None,
            Plain,
        ),
        (&["ps"], None, NoTimes),
        (&["logs", "--tail", "2", "par"], None, Plain),
        (
            &["exec", "par", "sh", "-c", "echo hi > /tmp/x; cat /tmp/x"],
            None,
            Plain,
        ),
        (&["exec", "par", "hostname"], None, Plain),
        (&["top", "par"], None, Top),
        (&["stats", "--no-stream", "par"], None, Shape),
        (&["inspect", "--format", STATE, "par"], None, Plain),
        (
            &["cp", "par:/tmp/x", "{root}/x.out"],
            None,
            HostFile("x.out"),
        ),
        (&["cp", "{root}/in.txt", "par:/tmp/in.txt"], None, Plain),
        (&["exec", "par", "cat", "/tmp/in.txt"], None, Plain),
        (&["diff", "par"], None, Plain),
        (&["stop", "-t", "1", "par"], None, Plain),
        (&["inspect", "--format", STATE, "par"], None, Plain),
        (&["logs", "par"], None, Plain),
        (&["start", "par"], None, Plain),
        (&["restart", "-t", "1", "par"], None, Plain),
        (&["inspect", "--format", STATE, "par"], None, Plain),
        (&["kill", "par"], None, Plain),
        (&["wait", "par"], None, Plain),
        (&["inspect", "--format", STATE, "par"], None, Plain),
        (
            &["run", "-dit", "--name", "att", "busybox", "sh"],
            None,
            Plain,
        ),
        // ctrl-p ctrl-q: detached, the container runs on.
        (&["attach", "att"], Some(b"\x10\x11"), Plain),
        (&["inspect", "--format", STATE, "att"], None, Plain),
        (&["rename", "par", "par2"], None, Plain),
        (&["commit", "par2", "parimg:1"], None, Plain),
        (
            &[
                "run",
                "--rm",
                "--name",
                "parrun",
                "parimg:1",
                "cat",
                "/tmp/x",
                "/tmp/in.txt",
            ],
            None,
            Plain,
        ),
        (
            &["export", "-o", "{root}/par.tar", "par2"],
            None,
            TarNames("par.tar"),
        ),
        (&["rm", "-f", "par2", "att"], None, Plain),
        (&["run", "--name", "done", "busybox", "true"], None, Plain),
        (&["container", "prune", "-f"], None, Plain),
        (&["ps", "-a"], None, NoTimes),
        (
            &["events", "--since", "0", "--until", "{until}"],
            None,
            Events,
        ),
        // Untagged, Deleted (image), Deleted (its own layer) on both.
        (&["rmi", "parimg:1"], None, Plain),
    ];
    let real = Gb::new();
    let _cleanup = Cleanup(&real);
    let simulated = Gb::new();
    for gb in [&real, &simulated] {
        std::fs::write(gb.root().join("in.txt"), "from the host\n").unwrap();
    }
    // Every difference, so one run tells them all.
    let mut differ: Vec<String> = Vec::new();
    for (i, (cmd, input, how)) in script.iter().enumerate() {
        let mut results = Vec::new();
        for (gb, sim) in [(&real, false), (&simulated, true)] {
            let trace = gb.root().join(format!("trace-{i}.jsonl"));
            // Now on each host's clock: the real one, or the pinned
            // simulated one (plus what `stop -t` let pass there).
            let until = if sim {
                "1767226200".to_string()
            } else {
                // (whole seconds: the next one, so this second's events count)
                (chrono::Utc::now().timestamp() + 1).to_string()
            };
            let args: Vec<String> = cmd
                .iter()
                .map(|a| {
                    a.replace("{root}", &gb.root().display().to_string())
                        .replace("{until}", &until)
                })
                .collect();
            let mut c = gb.cmd();
            if sim {
                c.arg("--simulate");
            }
            c.arg("--trace-json").arg(&trace).args(&args);
            let o = match input {
                Some(bytes) => {
                    c.stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped());
                    let mut child = c.spawn().unwrap();
                    use std::io::Write;
                    child.stdin.take().unwrap().write_all(bytes).unwrap();
                    child.wait_with_output().unwrap()
                }
                None => c.output().unwrap(),
            };
            let kinds = if trace.exists() {
                trace_kinds(&trace)
            } else {
                vec![]
            };
            results.push((
                o.status.code(),
                kinds,
                comparable(*how, gb.root(), &stdout(&o)),
                stderr(&o),
            ));
        }
        let (real_r, sim_r) = (&results[0], &results[1]);
        if real_r.0 != sim_r.0 {
            differ.push(format!(
                "{cmd:?}: exit codes differ (real, simulated): {:?} {:?}\n{}\n{}",
                real_r.0, sim_r.0, real_r.3, sim_r.3
            ));
        }
        if real_r.1 != sim_r.1 {
            differ.push(format!(
                "{cmd:?}: step kinds differ (real, simulated):\n{:?}\n{:?}",
                real_r.1, sim_r.1
            ));
        }
        if real_r.2 != sim_r.2 {
            let only = |a: &Vec<String>, b: &Vec<String>| -> Vec<String> {
                a.iter().filter(|x| !b.contains(x)).cloned().collect()
            };
            differ.push(format!(
                "{cmd:?}: outputs differ (real, simulated):\n{:?}\n{:?}\nonly real: {:?}\nonly simulated: {:?}",
                real_r.2,
                sim_r.2,
                only(&real_r.2, &sim_r.2),
                only(&sim_r.2, &real_r.2)
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}

/// An exec'd process leaves the container's cgroup when it ends, as the
/// kernel takes a dead process out of cgroup.procs; the first process stays.
#[test]
fn exec_processes_leave_the_simulated_cgroup_when_they_end() {
    let gb = Gb::new();
    let id = ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "cg",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]))
    .trim()
    .to_string();
    let members = |gb: &Gb| -> Vec<i64> {
        let st: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(gb.sim_root().join("sim-host.json")).unwrap(),
        )
        .unwrap();
        let (_, pids) = st["cgroups"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.ends_with(&id))
            .expect("the container's cgroup");
        pids.as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect()
    };
    let first = members(&gb);
    assert_eq!(first.len(), 1, "{first:?}");
    // While it runs the exec is a member (it reads its own cgroup.procs).
    let inside = ok(&gb.sim_ticking(&["exec", "cg", "cat", "/proc/self/cgroup"]));
    assert!(inside.contains(&id), "{inside}");
    ok(&gb.sim_ticking(&["exec", "cg", "true"]));
    assert_eq!(members(&gb), first);
    ok(&gb.sim_ticking(&["rm", "-f", "cg"]));
}

/// `rmi` of a simulated image says what the real one says: Untagged, then
/// Deleted for the image and for each layer no other image uses.
#[test]
fn simulated_rmi_deletes_the_image_and_its_unshared_layers() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&["run", "--name", "w", "busybox", "sh", "-c", "echo x > /f"]));
    ok(&gb.sim_ticking(&["commit", "w", "mine:1"]));
    ok(&gb.sim_ticking(&["rm", "w"]));
    let out = ok(&gb.sim_ticking(&["rmi", "mine:1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "Untagged: mine:1");
    assert!(lines[1].starts_with("Deleted: sha256:"), "{out}");
    assert!(lines[2].starts_with("Deleted: sha256:"), "{out}");
}

/// `events --until` a future time in simulation: nothing else moves the
/// (pinned) clock while it waits, so time passes in the simulated world up
/// to then at once, and what happened meanwhile is shown; it never hangs.
#[test]
fn simulated_events_until_a_future_time_lets_that_time_pass() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "brief",
        "busybox",
        "sh",
        "-c",
        "sleep 5; exit 3",
    ]));
    // Started at +0 s; this command runs at +1 s and waits until +30 s.
    let mut child = gb
        .cmd()
        .env("GLASSBOX_SIM_CLOCK", "1767225600+1")
        .args(["--simulate", "events", "--until", "1767225630"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill(); // by PID: our own child
            let _ = child.wait();
            panic!("events --until did not return within 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let events = ok(&child.wait_with_output().unwrap());
    assert!(
        events.contains("container die") && events.contains("exitCode=3"),
        "{events}"
    );
    assert_eq!(
        ok(&gb.sim_ticking(&["inspect", "--format", "{{.State.ExitCode}}", "brief"])).trim(),
        "3"
    );
}
