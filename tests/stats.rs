//! `stats` for real: docker's columns and units, the memory figure moving
//! with what the container holds, --format, -a, --no-trunc, the host
//! network's NET I/O, streaming redraws, and the figures of a fake cgroup
//! v2 tree read from its files. These need root; each test has its own
//! storage root and removes its containers (through `rm -f`, by PID).

mod common;

use common::{ok, stderr, Cleanup, Gb};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const HEADER: &str =
    "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS";

/// go-units BytesSize text ("30.2MiB") back to bytes.
fn parse_binary(text: &str) -> f64 {
    let units = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ];
    for (unit, factor) in units {
        if let Some(n) = text.strip_suffix(unit) {
            return n.parse::<f64>().unwrap() * factor as f64;
        }
    }
    panic!("not a docker size: {text:?}")
}

/// The container's memory usage as `stats --no-stream` shows it.
fn mem_usage(gb: &Gb, name: &str) -> f64 {
    let text = ok(&gb.run(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]));
    let (usage, _limit) = text.trim().split_once(" / ").expect("USAGE / LIMIT");
    parse_binary(usage)
}

#[test]
fn real_stats_memory_moves_when_the_container_allocates() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&["run", "-d", "--name", "hog", "busybox", "sleep", "120"]));
    let table = ok(&gb.run(&["stats", "--no-stream", "hog"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        words.join(" "),
        HEADER.split_whitespace().collect::<Vec<_>>().join(" "),
        "{table}"
    );
    // --network none: only lo, which docker leaves out: 0B / 0B. One process.
    assert!(lines[1].contains("0B / 0B"), "{table}");
    assert!(lines[1].ends_with("   1"), "{table}");
    let before = mem_usage(&gb, "hog");
    // Pages of the container's /dev/shm (tmpfs) are charged to its memory
    // cgroup and stay there after the writer ends.
    ok(&gb.run(&[
        "exec",
        "hog",
        "sh",
        "-c",
        "head -c 30m /dev/zero > /dev/shm/fill",
    ]));
    let after = mem_usage(&gb, "hog");
    assert!(
        after - before >= 25.0 * 1048576.0,
        "30 MiB more held, stats moved from {before} to {after}"
    );
    ok(&gb.run(&["exec", "hog", "rm", "/dev/shm/fill"]));
    let freed = mem_usage(&gb, "hog");
    assert!(
        after - freed >= 25.0 * 1048576.0,
        "freed, stats moved from {after} to {freed}"
    );
}

#[test]
fn real_stats_format_all_no_trunc_and_the_host_network() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let own = ok(&gb.run(&["run", "-d", "--name", "own", "busybox", "sleep", "120"]))
        .trim()
        .to_string();
    ok(&gb.run(&[
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "hostnet",
        "busybox",
        "sleep",
        "120",
    ]));
    ok(&gb.run(&["create", "--name", "idle", "busybox", "true"]));
    let shown = ok(&gb.run(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.NetIO}}|{{.PIDs}}|{{.Container}}",
        "own",
        "hostnet",
    ]));
    assert_eq!(
        shown, "own|0B / 0B|1|own\nhostnet|-- (host)|1|hostnet\n",
        "the host's network is never shown as the container's"
    );
    let help = ok(&gb.run(&["stats", "--help"]));
    assert!(help.contains("-- (host)"), "{help}");
    // Without names: the running ones; -a adds the stopped one, all zeros.
    let running = ok(&gb.run(&["stats", "--no-stream", "--format", "{{.Name}}"]));
    let mut names: Vec<&str> = running.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["hostnet", "own"]);
    let all = ok(&gb.run(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "table {{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.BlockIO}}\t{{.PIDs}}",
    ]));
    assert!(all.starts_with("NAME "), "{all}");
    assert!(all.contains("CPU %     MEM USAGE / LIMIT   MEM %"), "{all}");
    let idle = all.lines().find(|l| l.starts_with("idle")).expect(&all);
    assert_eq!(
        idle.split_whitespace().collect::<Vec<_>>().join(" "),
        "idle 0.00% 0B / 0B 0.00% 0B / 0B 0"
    );
    let ids = ok(&gb.run(&[
        "stats",
        "--no-stream",
        "--no-trunc",
        "--format",
        "{{.ID}}",
        "own",
    ]));
    assert_eq!(ids.trim(), own);
    let short = ok(&gb.run(&["stats", "--no-stream", "--format", "{{.ID}}", "own"]));
    assert_eq!(short.trim(), &own[..12]);
    let json = ok(&gb.run(&["stats", "--no-stream", "--format", "json", "own"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], "own");
    assert!(v["CPUPerc"].as_str().unwrap().ends_with('%'), "{v}");
    let missing = gb.run(&["stats", "--no-stream", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("nosuch"), "{}", stderr(&missing));
}

#[test]
fn real_stats_streams_redrawing_the_table() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&["run", "-d", "--name", "tick", "busybox", "sleep", "120"]));
    let mut child = gb
        .cmd()
        .args(["stats", "tick"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&text)
                .matches("\x1b[2J\x1b[H")
                .count()
                >= 3
            {
                break;
            }
        }
        String::from_utf8_lossy(&text).to_string()
    });
    let text = reader.join().unwrap();
    // Ended by PID, as the user's Ctrl-C would.
    let _ = child.kill();
    let _ = child.wait();
    let frames: Vec<&str> = text.split("\x1b[2J\x1b[H").skip(1).collect();
    assert!(frames.len() >= 3, "three frames: {text:?}");
    for frame in &frames[..3] {
        assert!(frame.starts_with("CONTAINER ID"), "{frame:?}");
        assert!(frame.contains("   tick   "), "{frame:?}");
    }
}

fn fake_v2(gb: &Gb) -> std::path::PathBuf {
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
fn v2_stats_figures_come_from_the_cgroup_files() {
    require_root!();
    let gb = Gb::new();
    let fake = fake_v2(&gb);
    // --privileged: a plain-directory tree cannot hold the v2 device program.
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
            "busybox",
            "sleep",
            "60",
        ],
    ));
    let id = ok(&gb.run(&["inspect", "-f", "{{.Id}}", "v2"]))
        .trim()
        .to_string();
    let dir = fake.join("glassbox").join(&id);
    let put = |f: &str, text: &str| std::fs::write(dir.join(f), text).unwrap();
    // 50 MiB charged, 10 MiB of it inactive file cache (docker leaves it out).
    put("memory.current", "52428800\n");
    put(
        "memory.stat",
        "anon 41943040\nfile 10485760\ninactive_file 10485760\n",
    );
    put(
        "cpu.stat",
        "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\n",
    );
    put("pids.current", "4\n");
    put(
        "io.stat",
        "8:0 rbytes=4096 wbytes=1230000 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    let shown = ok(&v2(
        &gb,
        &fake,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}",
            "v2",
        ],
    ));
    assert_eq!(
        shown,
        "0.00%|40MiB / 32MiB|125.00%|0B / 0B|4.1kB / 1.23MB|4\n"
    );
    ok(&v2(&gb, &fake, &["rm", "-f", "v2"]));
    assert!(!dir.exists());
    assert!(gb.containers().is_empty());
}
