//! `system reset` (podman's verb): the store starts afresh. On the simulated
//! host its processes, cgroups, clock and events go too; on the real host
//! every container is removed the way `rm -f` removes it (nothing left of
//! its process, cgroup or mounts) before any image goes.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

/// A simulated command on a clock pinned at 2026-01-01T00:00:00Z that moves
/// one second on per command.

/// `system reset` answering the prompt with `answer`.
fn reset_answering(gb: &Gb, simulate: bool, answer: &str) -> std::process::Output {
    let mut c = gb.cmd();
    c.env("GLASSBOX_SIM_CLOCK", "1767225600+1");
    if simulate {
        c.arg("--simulate");
    }
    let mut child = c
        .args(["system", "reset"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn simulated_system_reset_asks_then_starts_the_simulated_world_afresh() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; sleep 1; done",
    ]));
    ok(&gb.sim_ticking(&["create", "--name", "idle", "busybox", "true"]));
    ok(&gb.sim_ticking(&["tag", "busybox", "mine:1"]));
    let st = gb.sim_root().join("sim-host.json");
    assert!(
        std::fs::read_to_string(&st).unwrap().contains("ticker") || gb.sim_containers().len() == 2
    );

    // Anything but y keeps everything; the prompt is podman's, adapted.
    let o = reset_answering(&gb, true, "n\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let root = gb.sim_root().display().to_string();
    insta::assert_snapshot!("sim_reset_prompt", stdout(&o).replace(&root, "[ROOT]"));
    assert_eq!(gb.sim_containers().len(), 2);
    assert!(ok(&gb.sim_ticking(&["images"])).contains("mine"));

    let o = reset_answering(&gb, true, "y\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(gb.sim_containers().is_empty(), "{:?}", gb.sim_containers());
    assert_eq!(ok(&gb.sim_ticking(&["ps", "-aq"])), "");
    assert_eq!(ok(&gb.sim_ticking(&["images", "-q"])), "");
    assert_eq!(files_in(&gb.sim_root().join("blobs/sha256")), 0);
    assert!(!gb.sim_root().join("events.jsonl").exists());
    // The host forgot its processes and the time the simulation made pass.
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    assert_eq!(host["procs"], serde_json::json!({}), "{host}");
    assert_eq!(host["cgroups"], serde_json::json!({}), "{host}");
    assert_eq!(host["next_pid"], 4242, "{host}");

    // The world works again from nothing (busybox comes back on first use).
    assert_eq!(
        ok(&gb.sim_ticking(&["run", "--rm", "busybox", "echo", "again"])),
        "again\n"
    );
    // -f does not ask.
    ok(&gb.sim_ticking(&["create", "--name", "again", "busybox", "true"]));
    let o = gb.sim_ticking(&["system", "reset", "-f"]);
    assert_eq!(ok(&o), "");
    assert!(gb.sim_containers().is_empty());
}

#[test]
fn simulated_reset_leaves_the_real_store_alone_and_real_reset_cleans_everything() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let running = ok(&gb.run(&["run", "-d", "--name", "rr", "busybox", "sleep", "1000"]))
        .trim()
        .to_string();
    let idle = ok(&gb.run(&["create", "--name", "ri", "busybox", "true"]))
        .trim()
        .to_string();
    ok(&gb.sim_ticking(&["create", "--name", "simc", "busybox", "true"]));

    ok(&gb.sim_ticking(&["system", "reset", "-f"]));
    assert!(gb.sim_containers().is_empty());
    let ps = ok(&gb.run(&["ps", "-a"]));
    assert!(ps.contains("rr") && ps.contains("ri"), "{ps}");

    // The real reset: rm -f of each container (narrated as rm's steps), then the images.
    ok(&gb.sim_ticking(&["create", "--name", "simc2", "busybox", "true"]));
    let trace = gb.root().join("reset-trace.jsonl");
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args(["system", "reset", "--force"])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "");
    let kinds = trace_kinds(&trace);
    for k in [
        "signal",
        "wait_exit",
        "cgroup_remove",
        "dir_remove",
        "record_remove",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing: {kinds:?}");
    }
    assert_clean(&gb, &[running.clone(), idle]);
    assert!(host_mounts_under(gb.root()).is_empty());
    assert_eq!(ok(&gb.run(&["ps", "-aq"])), "");
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
    assert_eq!(files_in(&gb.root().join("blobs/sha256")), 0);
    assert_eq!(files_in(&gb.root().join("layers")), 0);
    assert!(!gb.root().join("cache").exists());
    // The simulated world is the other store: untouched by the real reset.
    assert_eq!(gb.sim_containers().len(), 1);
    // And the real store works again.
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "busybox", "echo", "fresh"])),
        "fresh\n"
    );
    ok(&gb.sim_ticking(&["rm", "simc2"]));
}
