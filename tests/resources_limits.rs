//! Resource limits: the files `run -m/--cpus/--pids-limit/...` and `update`
//! write on cgroup v1 (this host), on a fake v2 tree, and in the simulated
//! model; docker's refusals (125, no container left); --ulimit clamped.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn id_of(gb: &Gb, name: &str) -> String {
    ok(&gb.run(&["inspect", "-f", "{{.Id}}", name]))
        .trim()
        .to_string()
}

fn v1_file(controller: &str, id: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}/glassbox/{id}/{file}"))
        .unwrap_or_else(|e| panic!("read {controller}/{file}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn real_run_memory_32m_sets_33554432_in_the_memory_cgroup() {
    require_root!();
    let gb = Gb::new();
    let _clean = Cleanup(&gb);
    ok(&gb.run(&[
        "run", "-d", "--name", "mem", "-m", "32m", "busybox", "sleep", "30",
    ]));
    let id = id_of(&gb, "mem");
    assert_eq!(v1_file("memory", &id, "memory.limit_in_bytes"), "33554432");
    // docker's default swap: twice the memory.
    assert_eq!(
        v1_file("memory", &id, "memory.memsw.limit_in_bytes"),
        "67108864"
    );
    let shown = ok(&gb.run(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
        "mem",
    ]));
    assert_eq!(shown.trim(), "33554432 67108864");

    // update -m 64m changes the file of the running container.
    let o = gb.run(&["update", "-m", "64m", "--memory-swap", "128m", "mem"]);
    assert_eq!(ok(&o).trim(), "mem", "docker prints the name as given");
    assert_eq!(v1_file("memory", &id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(
        v1_file("memory", &id, "memory.memsw.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(
        ok(&gb.run(&["inspect", "-f", "{{.HostConfig.Memory}}", "mem"])).trim(),
        "67108864"
    );
    // Above the recorded swap without a new swap: docker's refusal.
    let o = gb.run(&["update", "-m", "256m", "mem"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("memoryswap"), "{}", stderr(&o));
    assert_eq!(v1_file("memory", &id, "memory.limit_in_bytes"), "67108864");
    ok(&gb.run(&["rm", "-f", "mem"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn real_cpus_half_writes_quota_50000_for_period_100000() {
    require_root!();
    let gb = Gb::new();
    let _clean = Cleanup(&gb);
    let trace = gb.root().join("trace.jsonl");
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args([
            "run",
            "-d",
            "--name",
            "cpu",
            "--cpus",
            "0.5",
            "-c",
            "512",
            "--pids-limit",
            "10",
            "busybox",
            "sleep",
            "30",
        ])
        .output()
        .unwrap();
    ok(&o);
    let id = id_of(&gb, "cpu");
    assert_eq!(v1_file("cpu", &id, "cpu.cfs_period_us"), "100000");
    assert_eq!(v1_file("cpu", &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(v1_file("cpu", &id, "cpu.shares"), "512");
    assert_eq!(v1_file("pids", &id, "pids.max"), "10");
    let shown = ok(&gb.run(&[
        "inspect",
        "-f",
        "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}",
        "cpu",
    ]));
    assert_eq!(shown.trim(), "500000000 512 10");
    // The limits are written before the program runs (before clone).
    let kinds = trace_kinds(&trace);
    let limit = kinds.iter().position(|k| k == "cgroup_limit").unwrap();
    let clone = kinds.iter().position(|k| k == "clone").unwrap();
    assert!(limit < clone, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "cgroup_limit").count(), 3);
    ok(&gb.run(&["rm", "-f", "cpu"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn real_pids_limit_10_stops_a_fork_bomb_at_10() {
    require_root!();
    let gb = Gb::new();
    // The shell counts each child it got; busybox sh gives up at the first
    // fork the kernel refuses: 1 shell + 9 sleeps = 10 processes.
    let o = gb.run(&[
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
    assert!(stderr(&o).contains("can't fork"), "{}", stderr(&o));
    assert!(gb.containers().is_empty());
}

#[test]
fn real_bad_values_exit_125_and_leave_no_container() {
    require_root!();
    let gb = Gb::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-m", "64x"],
            "invalid argument \"64x\" for \"-m, --memory\" flag: invalid size: '64x'",
        ),
        (&["-m", "1m"], "Minimum memory limit allowed is 6MB"),
        (
            &["--cpus", "8"],
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
        ),
        (
            &["--cpus", "abc"],
            "failed to parse abc as a rational number",
        ),
        (
            &["--cpuset-cpus", "0-7"],
            "Requested CPUs are not available - requested 0-7, available: 0-1",
        ),
        (
            &["--cpu-period", "10"],
            "CPU cfs period can not be less than 1ms",
        ),
        (
            &["--blkio-weight", "5"],
            "Range of blkio weight is from 10 to 1000",
        ),
        (&["--kernel-memory", "8m"], "no longer supported"),
        (
            &["--ulimit", "nofile=2048:1024"],
            "soft limit must be less than or equal to hard limit",
        ),
        (
            &["--oom-score-adj", "-2000"],
            "range for oom score adj is [-1000, 1000]",
        ),
        (
            &["-m", "32m", "--memory-swap", "16m"],
            "Minimum memoryswap limit should be larger than memory limit",
        ),
    ];
    let ncpu = std::thread::available_parallelism().unwrap().get();
    for (flags, message) in cases {
        if flags[0] == "--cpus" && flags[1] == "8" && ncpu != 2 {
            continue; // the message names this host's CPU count
        }
        if flags[0] == "--cpuset-cpus" && ncpu != 2 {
            continue;
        }
        let mut args = vec!["run", "--name", "bad"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let o = gb.run(&args);
        assert_eq!(o.status.code(), Some(125), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{flags:?}: {}", stderr(&o));
        assert!(gb.containers().is_empty(), "{flags:?} left a container");
    }
}

#[test]
fn real_ulimit_above_the_hard_limit_is_clamped_with_a_warning() {
    require_root!();
    let gb = Gb::new();
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    let o = gb.run(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1024:99999999",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1024");
    let caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if eff & (1 << 24) == 0 {
        assert_eq!(lines[1], hard.rlim_max.to_string());
        assert!(
            stderr(&o).contains("lacks CAP_SYS_RESOURCE"),
            "{}",
            stderr(&o)
        );
    } else {
        assert_eq!(lines[1], "99999999");
    }
    // Within the hard limit: exactly as asked.
    let o = gb.run(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=512:1024",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(ok(&o), "512\n1024\n");
}

/// A fake cgroup v2 root, as the foundation's v2 test makes one.
fn fake_v2(gb: &Gb) -> PathBuf {
    let fake = gb.root().join("fake-cgroup2");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(
        fake.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    std::fs::write(fake.join("cpuset.cpus.effective"), "0-1\n").unwrap();
    fake
}

fn v2(gb: &Gb, fake: &Path, args: &[&str]) -> std::process::Output {
    gb.cmd()
        .env("GLASSBOX_CGROUP_ROOT", fake)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn v2_limit_files_against_a_fake_cgroupfs() {
    require_root!();
    let gb = Gb::new();
    let fake = fake_v2(&gb);
    // --privileged: a plain-directory tree cannot hold the v2 device
    // program (tests/device_program.rs covers that on a real cgroup2 dir);
    // docker applies resource limits to privileged containers too.
    ok(&v2(
        &gb,
        &fake,
        &[
            "run",
            "-d",
            "--privileged",
            "--name",
            "v2",
            "-m",
            "32m",
            "--cpus",
            "0.5",
            "-c",
            "1024",
            "--pids-limit",
            "10",
            "--cpuset-cpus",
            "1",
            "--memory-reservation",
            "16m",
            "--blkio-weight",
            "500",
            "busybox",
            "sleep",
            "30",
        ],
    ));
    let id = id_of(&gb, "v2");
    let dir = fake.join("glassbox").join(&id);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("memory.max"), "33554432");
    assert_eq!(
        read("memory.swap.max"),
        "33554432",
        "--memory-swap minus --memory"
    );
    assert_eq!(read("memory.low"), "16777216");
    assert_eq!(read("cpu.max"), "50000 100000");
    assert_eq!(read("cpu.weight"), "39", "runc's shares → weight");
    assert_eq!(read("pids.max"), "10");
    assert_eq!(read("cpuset.cpus"), "1");
    assert_eq!(read("io.weight"), "default 4950");
    assert!(std::fs::read_to_string(fake.join("glassbox/cgroup.subtree_control")).is_ok());
    ok(&v2(
        &gb,
        &fake,
        &["update", "--pids-limit", "20", "--cpus", "1", "v2"],
    ));
    assert_eq!(read("pids.max"), "20");
    assert_eq!(read("cpu.max"), "100000 100000");
    // pause/unpause: cgroup.freeze.
    ok(&v2(&gb, &fake, &["pause", "v2"]));
    assert_eq!(read("cgroup.freeze"), "1");
    ok(&v2(&gb, &fake, &["unpause", "v2"]));
    assert_eq!(read("cgroup.freeze"), "0");
    // --oom-kill-disable has no v2 file: discarded with docker's warning.
    let o = v2(
        &gb,
        &fake,
        &[
            "create",
            "--name",
            "nokill",
            "--oom-kill-disable",
            "-m",
            "32m",
            "busybox",
            "true",
        ],
    );
    ok(&o);
    assert!(
        stderr(&o).contains("OomKillDisable discarded"),
        "{}",
        stderr(&o)
    );
    ok(&v2(&gb, &fake, &["rm", "-f", "v2", "nokill"]));
    assert!(!dir.exists());
    assert!(gb.containers().is_empty());
}

#[test]
fn v2_update_refused_half_way_puts_back_what_it_wrote() {
    require_root!();
    let gb = Gb::new();
    let fake = fake_v2(&gb);
    ok(&v2(
        &gb,
        &fake,
        &[
            "run",
            "-d",
            "--privileged",
            "--name",
            "half",
            "-m",
            "32m",
            "--pids-limit",
            "10",
            "busybox",
            "sleep",
            "30",
        ],
    ));
    let id = id_of(&gb, "half");
    let dir = fake.join("glassbox").join(&id);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    // A directory where pids.max was: its write fails even for root (EISDIR),
    // after the memory group (docker's order: memory first) was written.
    std::fs::remove_file(dir.join("pids.max")).unwrap();
    std::fs::create_dir(dir.join("pids.max")).unwrap();
    let o = v2(
        &gb,
        &fake,
        &["update", "-m", "64m", "--pids-limit", "20", "half"],
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("pids.max"), "{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(
        read("memory.max"),
        "33554432",
        "the memory group was put back"
    );
    assert_eq!(read("memory.swap.max"), "33554432");
    let recorded = ok(&v2(
        &gb,
        &fake,
        &[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "half",
        ],
    ));
    assert_eq!(recorded.trim(), "33554432 10", "the record is unchanged");
    // With the file back, the same update goes through whole.
    std::fs::remove_dir(dir.join("pids.max")).unwrap();
    std::fs::write(dir.join("pids.max"), "10").unwrap();
    ok(&v2(
        &gb,
        &fake,
        &["update", "-m", "64m", "--pids-limit", "20", "half"],
    ));
    assert_eq!(read("memory.max"), "67108864");
    assert_eq!(read("pids.max"), "20");
    let recorded = ok(&v2(
        &gb,
        &fake,
        &[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "half",
        ],
    ));
    assert_eq!(recorded.trim(), "67108864 20");
    ok(&v2(&gb, &fake, &["rm", "-f", "half"]));
    assert!(!dir.exists());
    assert!(gb.containers().is_empty());
}

// ---- simulation ---------------------------------------------------------

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

#[test]
fn simulated_limits_land_in_the_model_on_v2_and_v1() {
    for layout in ["v2", "v1"] {
        let gb = Gb::new();
        let o = gb.run(&[
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
            "--pids-limit",
            "10",
            "busybox",
            "sleep",
            "100",
        ]);
        ok(&o);
        let id = ok(&gb.run(&["--simulate", "inspect", "-f", "{{.Id}}", "lim"]))
            .trim()
            .to_string();
        let files: Vec<String> = sim_files(&gb)
            .into_iter()
            .map(|(k, v)| format!("{} = {v}", k.replace(&id, "<id>")))
            .collect();
        insta::assert_snapshot!(format!("sim_limit_files_{layout}"), files.join("\n"));
        ok(&gb.run(&[
            "--simulate",
            "--sim-host",
            layout,
            "update",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "lim",
        ]));
        let after = sim_files(&gb);
        let mem = if layout == "v2" {
            format!("/sys/fs/cgroup/glassbox/{id}/memory.max")
        } else {
            format!("/sys/fs/cgroup/memory/glassbox/{id}/memory.limit_in_bytes")
        };
        assert_eq!(after[&mem], "67108864");
        ok(&gb.run(&["--simulate", "--sim-host", layout, "rm", "-f", "lim"]));
        assert!(
            !sim_files(&gb).keys().any(|k| k.contains(&id)),
            "the container's files went with its cgroup"
        );
    }
}

#[test]
fn simulated_limit_narration() {
    let gb = Gb::new();
    let o = gb.run(&[
        "--simulate",
        "--explain=steps",
        "run",
        "--rm",
        "-m",
        "32m",
        "--cpus",
        "0.5",
        "-c",
        "512",
        "--pids-limit",
        "10",
        "--ulimit",
        "nofile=1024:2048",
        "busybox",
        "true",
    ]);
    ok(&o);
    let text = stderr(&o);
    let id_start = text
        .find("/glassbox/")
        .map(|i| i + "/glassbox/".len())
        .unwrap();
    let id = &text[id_start..id_start + 64];
    let limits: Vec<String> = text
        .split("\n[")
        .filter(|s| s.contains("] limit ") || s.contains("] set resource limits"))
        .map(|s| format!("[{}", s.replace(id, "<id>").trim_end()))
        .collect();
    insta::assert_snapshot!("sim_limit_narration_en", limits.join("\n"));
    let o = gb.run(&[
        "--simulate",
        "--explain=steps",
        "--lang",
        "zh",
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "true",
    ]);
    ok(&o);
    let text = stderr(&o);
    assert!(text.contains("限制 --pids-limit 10"), "{text}");
    assert!(text.contains("fork 炸弹"), "{text}");
}

#[test]
fn real_allocation_past_32m_is_oom_killed() {
    require_root!();
    if std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(true)
    {
        // With swap the allocation may be swapped out (memsw is twice -m).
        eprintln!("skipped: this host has swap");
        return;
    }
    let gb = Gb::new();
    let trace = gb.root().join("trace.jsonl");
    let o = gb
        .cmd()
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
            "head -c 64m /dev/zero | tail",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    let shown = ok(&gb.run(&[
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        "oom",
    ]));
    assert_eq!(shown.trim(), "true 137");
    let records = common::trace_records(&trace);
    let oom = records
        .iter()
        .find(|r| r["kind"] == "oom_killed")
        .expect("an oom_killed step");
    let counter = oom["step"]["counter"].as_str().unwrap();
    assert!(counter.ends_with("memory.oom_control"), "{oom}");
    // Under load the kernel may kill head as well as tail: at least one.
    assert!(
        oom["step"]["kills"].as_u64().is_some_and(|k| k >= 1),
        "{oom}"
    );
    let until = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
    let events = ok(&gb.run(&["events", "--since", "0", "--until", &until]));
    let oom_at = events.find("container oom ").expect("an oom event");
    let die_at = events.find("container die ").expect("a die event");
    assert!(oom_at < die_at, "{events}");
    let id = ok(&gb.run(&["inspect", "-f", "{{.Id}}", "oom"]))
        .trim()
        .to_string();
    ok(&gb.run(&["rm", "oom"]));
    assert_clean(&gb, &[id]);
}
