//! Resources in simulation: the limit files land in the simulated cgroup,
//! the simulated memory accounting OOM-kills past memory.max (v2) /
//! memory.limit_in_bytes (v1), pids.max holds a fork bomb, `stats` reads
//! the simulated counters (frozen while paused), and --ulimit and
//! --oom-score-adj show in the simulated /proc and in `ulimit`.

mod common;
use common::*;

/// The simulated host's limit and freezer files (sim-host.json).
fn sim_files(gb: &Gb) -> std::collections::BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gb.sim_root().join("sim-host.json")).unwrap(),
    )
    .unwrap();
    v["cgroup_files"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn sim_id(gb: &Gb, name: &str) -> String {
    ok(&gb.run(&["--simulate", "inspect", "-f", "{{.Id}}", name]))
        .trim()
        .to_string()
}

#[test]
fn sim_memory_and_cpu_limits_land_in_the_v1_and_v2_files() {
    for layout in ["v2", "v1"] {
        let gb = Gb::new();
        ok(&gb.run(&[
            "--simulate",
            "--sim-host",
            layout,
            "run",
            "-d",
            "--name",
            "lim",
            "-m",
            "32m",
            "--cpus",
            "0.5",
            "busybox",
            "sleep",
            "100",
        ]));
        let id = sim_id(&gb, "lim");
        let files = sim_files(&gb);
        if layout == "v2" {
            let dir = format!("/sys/fs/cgroup/glassbox/{id}");
            assert_eq!(files[&format!("{dir}/memory.max")], "33554432");
            assert_eq!(files[&format!("{dir}/cpu.max")], "50000 100000");
        } else {
            let mem = format!("/sys/fs/cgroup/memory/glassbox/{id}");
            let cpu = format!("/sys/fs/cgroup/cpu/glassbox/{id}");
            assert_eq!(files[&format!("{mem}/memory.limit_in_bytes")], "33554432");
            assert_eq!(
                files[&format!("{mem}/memory.memsw.limit_in_bytes")],
                "67108864"
            );
            assert_eq!(files[&format!("{cpu}/cpu.cfs_quota_us")], "50000");
            assert_eq!(files[&format!("{cpu}/cpu.cfs_period_us")], "100000");
        }
        ok(&gb.run(&["--simulate", "--sim-host", layout, "rm", "-f", "lim"]));
    }
}

#[test]
fn sim_allocation_past_32m_is_oom_killed_on_v2_and_v1() {
    for (layout, counter) in [("v2", "memory.events"), ("v1", "memory.oom_control")] {
        let gb = Gb::new();
        let trace = gb.root().join("trace.jsonl");
        let o = gb
            .cmd()
            .arg("--simulate")
            .args(["--sim-host", layout])
            .arg("--trace-json")
            .arg(&trace)
            .args([
                "run",
                "--name",
                "oom",
                "-m",
                "32m",
                "busybox",
                "sh",
                "-c",
                "head -c 100m /dev/zero | tail",
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(137), "{layout}: {}", stderr(&o));
        let shown = ok(&gb.run(&[
            "--simulate",
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "oom",
        ]));
        assert_eq!(shown.trim(), "true 137", "{layout}");
        let records = common::trace_records(&trace);
        let oom = records
            .iter()
            .find(|r| r["kind"] == "oom_killed")
            .expect("an oom_killed step");
        let file = oom["step"]["counter"].as_str().unwrap();
        assert!(file.ends_with(counter), "{layout}: {oom}");
        assert_eq!(oom["step"]["kills"], 1, "{layout}: {oom}");
        // Shown before the cgroup goes, as on the real kernel.
        let at = |kind: &str| records.iter().position(|r| r["kind"] == kind).unwrap();
        assert!(at("oom_killed") < at("cgroup_remove"), "{layout}");
        let events = ok(&gb.run(&[
            "--simulate",
            "events",
            "--since",
            "0",
            "--until",
            "2026-01-01T00:01:00Z",
        ]));
        let oom_at = events.find("container oom ").expect("an oom event");
        let die_at = events.find("container die ").expect("a die event");
        assert!(oom_at < die_at, "{events}");
    }
}

#[test]
fn sim_memory_under_the_limit_is_not_killed() {
    let gb = Gb::new();
    // 16 MiB held by tail (and 16 MiB on /dev/shm) fit under 64m.
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "head -c 16m /dev/zero > /dev/shm/blob; head -c 16m /dev/zero | tail | wc -c",
    ]);
    assert_eq!(stdout(&ok_out(&o)).trim(), "16777216");
    // The tmpfs file is memory too: past the limit its writer is killed
    // (the shell, which allocates nothing more, goes on).
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "-m",
        "8m",
        "busybox",
        "sh",
        "-c",
        "head -c 16m /dev/zero > /dev/shm/blob; echo head: $?",
    ]);
    assert_eq!(stdout(&ok_out(&o)).trim(), "head: 137");
}

fn ok_out(o: &std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "{}", stderr(o));
    o.clone()
}

#[test]
fn sim_fork_bomb_is_held_at_pids_limit_10() {
    let gb = Gb::new();
    // As the real test: 1 shell + 9 sleeps = 10 processes, then ash's
    // fork fails with EAGAIN and it gives up (exit status 2).
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        "n=0; while [ $n -lt 50 ]; do sleep 30 & n=$((n+1)); echo $n; done",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().last(), Some("9"), "{}", stdout(&o));
    assert_eq!(
        stderr(&o).lines().last(),
        Some("sh: can't fork: Resource temporarily unavailable")
    );
    assert!(gb.sim_containers().is_empty());
}

/// The columns of `stats --no-stream`'s one row: (CPU %, MEM USAGE / LIMIT, PIDS).
fn stats_row(gb: &Gb) -> (String, String, String) {
    let out = ok(&gb.run(&["--simulate", "stats", "--no-stream"]));
    let row = out.lines().nth(1).expect("a row").to_string();
    let cols: Vec<&str> = row
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    (
        cols[2].to_string(),
        cols[3].to_string(),
        cols.last().unwrap().to_string(),
    )
}

#[test]
fn sim_stats_move_as_the_program_allocates_and_stand_still_while_paused() {
    let gb = Gb::new();
    // Each `stats` lets half a second of simulated time pass.
    ok(&gb.run(&[
        "--simulate",
        "run",
        "-d",
        "--name",
        "st",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 0.7; head -c 10m /dev/zero > /dev/shm/blob; while :; do :; done",
    ]));
    // 0 to 0.5 s: the shell and its sleep, idle.
    assert_eq!(
        stats_row(&gb),
        ("0.00%".into(), "1MiB / 64MiB".into(), "2".into())
    );
    // 0.5 to 1 s: 10 MiB on /dev/shm, and the busy loop's CPU time.
    let (cpu, mem, pids) = stats_row(&gb);
    assert_eq!(mem, "10.5MiB / 64MiB");
    assert_eq!(pids, "1");
    assert_ne!(cpu, "0.00%");
    assert_eq!(stats_row(&gb).0, "100.00%");
    ok(&gb.run(&["--simulate", "pause", "st"]));
    // Frozen: no CPU time, the same memory.
    assert_eq!(
        stats_row(&gb),
        ("0.00%".into(), "10.5MiB / 64MiB".into(), "1".into())
    );
    assert_eq!(stats_row(&gb).0, "0.00%");
    ok(&gb.run(&["--simulate", "unpause", "st"]));
    assert_eq!(stats_row(&gb).0, "100.00%");
    ok(&gb.run(&["--simulate", "rm", "-f", "st"]));
}

#[test]
fn sim_detached_oom_kill_is_recorded_when_a_later_command_finds_it() {
    let gb = Gb::new();
    let sim = |args: &[&str]| {
        gb.cmd()
            .env("GLASSBOX_SIM_CLOCK", "1767225600+2")
            .arg("--simulate")
            .args(args)
            .output()
            .unwrap()
    };
    ok(&sim(&[
        "run",
        "-d",
        "--name",
        "late",
        "-m",
        "32m",
        "busybox",
        "sh",
        "-c",
        "sleep 1; head -c 100m /dev/zero | tail",
    ]));
    let shown = ok(&sim(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.OOMKilled}} {{.State.ExitCode}}",
        "late",
    ]));
    assert_eq!(shown.trim(), "exited true 137");
    let events = ok(&sim(&[
        "events",
        "--since",
        "0",
        "--until",
        "2026-01-01T00:01:00Z",
    ]));
    assert!(events.contains("container oom "), "{events}");
}

#[test]
fn sim_oom_kill_disable_on_v1_makes_the_allocation_wait() {
    let gb = Gb::new();
    let sim = |args: &[&str]| {
        gb.cmd()
            .env("GLASSBOX_SIM_CLOCK", "1767225600+2")
            .args(["--simulate", "--sim-host", "v1"])
            .args(args)
            .output()
            .unwrap()
    };
    ok(&sim(&[
        "run",
        "-d",
        "--name",
        "wait",
        "-m",
        "32m",
        "--oom-kill-disable",
        "busybox",
        "sh",
        "-c",
        "head -c 100m /dev/zero | tail",
    ]));
    let shown = ok(&sim(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.OOMKilled}}",
        "wait",
    ]));
    assert_eq!(shown.trim(), "running false");
    let (_, mem, _) = stats_row_v1(&gb);
    assert_eq!(mem, "32MiB / 32MiB");
    ok(&sim(&["rm", "-f", "wait"]));
}

fn stats_row_v1(gb: &Gb) -> (String, String, String) {
    let out = ok(&gb.run(&["--simulate", "--sim-host", "v1", "stats", "--no-stream"]));
    let row = out.lines().nth(1).expect("a row").to_string();
    let cols: Vec<&str> = row
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    (
        cols[2].to_string(),
        cols[3].to_string(),
        cols.last().unwrap().to_string(),
    )
}

#[test]
fn sim_ulimit_and_oom_score_adj_in_proc_and_ulimit() {
    let gb = Gb::new();
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "--ulimit",
        "nofile=1024:2048",
        "--oom-score-adj",
        "500",
        "busybox",
        "sh",
        "-c",
        "cat /proc/1/limits; cat /proc/self/oom_score_adj; ulimit -n; ulimit -Hn; ulimit -n 4096; ulimit -n 512; ulimit -n; ulimit -n -s",
    ]);
    let text = format!("{}--- stderr\n{}", stdout(&o), stderr(&o));
    insta::assert_snapshot!("sim_ulimit_proc_limits", text);
}
