//! The simulated /proc and /sys agree with the steps glassbox narrated:
//! the cgroup path from cgroup_create, the namespaces from clone, the
//! capabilities and filters from cap_set / seccomp_load / no_new_privs, the
//! mount table from the mount steps, on simulated v1, v2 and hybrid hosts.

mod common;

use common::{stderr, stdout, Gb};
use serde_json::Value;

/// The host's namespace inodes (the kernel's PROC_*_INIT_INO).
const HOST_NS: [(&str, u64); 8] = [
    ("mnt", 4026531832),
    ("net", 4026531833),
    ("time", 4026531834),
    ("cgroup", 4026531835),
    ("pid", 4026531836),
    ("user", 4026531837),
    ("uts", 4026531838),
    ("ipc", 4026531839),
];

const SCRIPT: &str = "cat /proc/self/cgroup; echo ---; ls -l /proc/self/ns; echo ---; \
                      cat /proc/self/status; echo ---; cat /proc/self/mountinfo; echo ---; \
                      cat /proc/mounts; echo ---; ls -la /sys/fs/cgroup; echo ---; ls /sys";

struct Run {
    sections: Vec<String>,
    steps: Vec<Value>,
}

impl Run {
    fn steps(&self, kind: &str) -> Vec<&Value> {
        self.steps
            .iter()
            .filter(|s| s["kind"] == kind)
            .map(|s| &s["step"])
            .collect()
    }
    fn step(&self, kind: &str) -> &Value {
        self.steps(kind)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no {kind} step"))
    }
}

fn run(gb: &Gb, host: Option<&str>, extra: &[&str]) -> Run {
    let trace = gb
        .root()
        .join(format!("trace-{}.json", host.unwrap_or("default")));
    let mut cmd = gb.cmd();
    cmd.arg("--simulate").arg("--trace-json").arg(&trace);
    if let Some(h) = host {
        cmd.env("GLASSBOX_SIM_HOST", h);
    }
    let o = cmd
        .args(["run", "--rm"])
        .args(extra)
        .args(["busybox", "sh", "-c", SCRIPT])
        .output()
        .expect("run glassbox");
    assert!(o.status.success(), "{}", stderr(&o));
    let steps = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sections = stdout(&o)
        .split("---\n")
        .map(String::from)
        .collect::<Vec<_>>();
    assert_eq!(sections.len(), 7, "{}", stdout(&o));
    Run { sections, steps }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// /proc/self/cgroup names the cgroup(s) cgroup_create made, one line per hierarchy.
fn check_cgroup(r: &Run, v1: bool, hybrid: bool) {
    let paths = strs(&r.step("cgroup_create")["paths"]);
    assert_eq!(strs(&r.step("cgroup_join")["paths"]), paths);
    let text = &r.sections[0];
    let lines: Vec<&str> = text.lines().collect();
    if !v1 {
        assert_eq!(paths.len(), 1);
        let rel = paths[0].strip_prefix("/sys/fs/cgroup").unwrap();
        assert_eq!(lines, [format!("0::{rel}")]);
        return;
    }
    assert_eq!(lines.len(), paths.len() + usize::from(hybrid), "{text}");
    for p in &paths {
        let rest = p.strip_prefix("/sys/fs/cgroup/").unwrap();
        let (dir, rel) = rest.split_once('/').unwrap();
        let controllers = if dir == "systemd" {
            "name=systemd"
        } else {
            dir
        };
        let want = format!(":{controllers}:/{rel}");
        assert!(
            lines.iter().any(|l| l.ends_with(&want)),
            "{want} not in\n{text}"
        );
    }
    assert_eq!(lines.last() == Some(&"0::/"), hybrid, "{text}");
    let ids: Vec<u32> = lines
        .iter()
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest hierarchy first: {text}"
    );
}

/// /proc/self/ns: the namespaces clone made are new, the others the host's.
fn check_ns(r: &Run) {
    let cloned = strs(&r.step("clone")["namespaces"]);
    let text = &r.sections[1];
    let link = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        let target = line.rsplit(" -> ").next().unwrap();
        let kind = if name.ends_with("_for_children") {
            name.split('_').next().unwrap()
        } else {
            name
        };
        let inode = target
            .strip_prefix(&format!("{kind}:["))
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or_else(|| panic!("{target}"));
        inode.parse().unwrap()
    };
    for (name, host) in HOST_NS {
        let step_name = match name {
            "mnt" => "mount",
            other => other,
        };
        if cloned.iter().any(|c| c == step_name) {
            assert_ne!(link(name), host, "{name} is new:\n{text}");
            assert!(link(name) > 4026532000, "{text}");
        } else {
            assert_eq!(link(name), host, "{name} is the host's:\n{text}");
        }
    }
    assert_eq!(link("pid_for_children"), link("pid"));
    assert_eq!(link("time_for_children"), link("time"));
    assert_eq!(
        text.lines().filter(|l| l.contains(" -> ")).count(),
        10,
        "{text}"
    );
}

/// /proc/self/status: the confinement steps' capabilities, no_new_privs, filters.
fn check_status(r: &Run) {
    let text = &r.sections[2];
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:\t")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_string()
    };
    let set = r.step("cap_set")["set"].as_u64().unwrap();
    for f in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(field(f), format!("{set:016x}"), "{f}");
    }
    assert_eq!(field("CapAmb"), "0000000000000000");
    assert_eq!(
        field("NoNewPrivs"),
        if r.steps("no_new_privs").is_empty() {
            "0"
        } else {
            "1"
        }
    );
    let filters = r.steps("seccomp_load").len();
    assert_eq!(field("Seccomp_filters"), filters.to_string());
    assert_eq!(field("Seccomp"), if filters > 0 { "2" } else { "0" });
    assert_eq!(field("Pid"), "1");
    assert_eq!(field("PPid"), "0");
}

/// mountinfo and mounts: one line per mount step, at the container path it names.
fn check_mounts(r: &Run) {
    let overlay = r.step("mount_overlay");
    let merged = overlay["target"].as_str().unwrap().to_string();
    let info: Vec<Vec<String>> = r.sections[3]
        .lines()
        .map(|l| l.split(' ').map(String::from).collect())
        .collect();
    let mounts: Vec<Vec<String>> = r.sections[4]
        .lines()
        .map(|l| l.split(' ').map(String::from).collect())
        .collect();
    // mountinfo: ID PARENT MAJ:MIN ROOT TARGET OPTS - FSTYPE SOURCE SUPER
    let find = |target: &str| -> &Vec<String> {
        info.iter()
            .find(|f| f[4] == target)
            .unwrap_or_else(|| panic!("no mount at {target} in\n{}", r.sections[3]))
    };
    let root = find("/");
    assert_eq!(root[7], "overlay");
    let lower = strs(&overlay["lower"]).join(":");
    assert!(root[9].contains(&format!("lowerdir={lower},")), "{root:?}");
    assert!(root[9].contains(&format!("upperdir={}", overlay["upper"].as_str().unwrap())));
    for s in r.steps("mount_special") {
        let target = s["target"].as_str().unwrap().strip_prefix(&merged).unwrap();
        let line = find(target);
        assert_eq!(line[7], s["fs"].as_str().unwrap(), "{line:?}");
        let ro = s["read_only"].as_bool().unwrap();
        assert!(
            line[5].starts_with(if ro { "ro," } else { "rw" }),
            "{line:?}"
        );
        for flag in ["nosuid", "nodev", "noexec"] {
            let asked = s["options"].as_str().unwrap().split(',').any(|o| o == flag);
            assert_eq!(
                line[5].split(',').any(|o| o == flag),
                asked,
                "{flag}: {line:?}"
            );
        }
        // The parent is the mount its target sits in.
        let parent = info
            .iter()
            .find(|f| f[0] == line[1])
            .expect("parent listed");
        assert!(
            target.starts_with(parent[4].as_str()),
            "{line:?} under {parent:?}"
        );
    }
    for s in r.steps("mount_bind") {
        let target = s["target"].as_str().unwrap().strip_prefix(&merged).unwrap();
        assert_eq!(find(target)[3], s["source"].as_str().unwrap());
    }
    // /proc/mounts lists the same mounts in the same order.
    assert_eq!(mounts.len(), info.len());
    for (m, i) in mounts.iter().zip(&info) {
        assert_eq!((&m[1], &m[2]), (&i[4], &i[7]));
    }
    // No step mounts a cgroup filesystem, so none is listed...
    assert!(!info.iter().any(|f| f[7].starts_with("cgroup")));
}

/// ...and /sys/fs/cgroup is sysfs's empty mount point, as in a real container.
fn check_sys(r: &Run) {
    let listing: Vec<&str> = r.sections[5].lines().skip(1).collect();
    assert_eq!(listing.len(), 2, "{}", r.sections[5]);
    assert!(
        listing[0].starts_with("dr-xr-xr-x") && listing[0].ends_with(" ."),
        "{listing:?}"
    );
    let top: Vec<&str> = r.sections[6].lines().collect();
    for d in [
        "block", "bus", "class", "devices", "firmware", "fs", "kernel",
    ] {
        assert!(top.contains(&d), "{d} not in /sys: {top:?}");
    }
}

fn check_all(r: &Run, v1: bool, hybrid: bool) {
    check_cgroup(r, v1, hybrid);
    check_ns(r);
    check_status(r);
    check_mounts(r);
    check_sys(r);
}

#[test]
fn proc_agrees_with_the_steps_on_a_v2_host() {
    let gb = Gb::new();
    check_all(&run(&gb, None, &[]), false, false);
    check_all(&run(&gb, Some("v2"), &[]), false, false);
}

#[test]
fn proc_agrees_with_the_steps_on_a_v1_host() {
    let gb = Gb::new();
    check_all(&run(&gb, Some("v1"), &[]), true, false);
}

#[test]
fn proc_agrees_with_the_steps_on_a_hybrid_host() {
    let gb = Gb::new();
    check_all(&run(&gb, Some("hybrid"), &[]), true, true);
}

#[test]
fn proc_follows_confinement_options() {
    let gb = Gb::new();
    let r = run(
        &gb,
        None,
        &[
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
        ],
    );
    check_all(&r, false, false);
    assert_eq!(r.step("cap_set")["set"].as_u64(), Some(0));
    assert!(
        r.sections[3].lines().next().unwrap().contains(" / ro,"),
        "{}",
        r.sections[3]
    );
}

#[test]
fn info_reports_the_simulated_layout() {
    let gb = Gb::new();
    let o = gb
        .cmd()
        .args(["--simulate", "--sim-host", "hybrid", "info"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(" Cgroup Mode: hybrid\n"), "{out}");
    assert!(out.contains("  /sys/fs/cgroup/memory\n"), "{out}");
    assert!(out.contains("  /sys/fs/cgroup/unified (cgroup2"), "{out}");
    let o = gb.cmd().args(["--simulate", "info"]).output().unwrap();
    assert!(stdout(&o).contains(" Cgroup Mode: unified\n"));
    let o = gb
        .cmd()
        .args(["--simulate", "--sim-host", "v3", "info"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("use v1, v2 or hybrid"),
        "{}",
        stderr(&o)
    );
}
