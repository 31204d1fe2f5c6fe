//! pause/unpause: the freezer on cgroup v1 (this host) and in simulation,
//! exec refused while paused, stop and rm -f of a paused container, events.

mod common;
use common::*;

fn freezer_state(id: &str) -> String {
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/freezer/glassbox/{id}/freezer.state"
    ))
    .unwrap()
    .trim()
    .to_string()
}

#[test]
fn real_pause_freezes_refuses_exec_until_unpause() {
    require_root!();
    let gb = Gb::new();
    let _clean = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "-d",
        "--name",
        "fz",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; sleep 0.1; done",
    ]));
    let id = ok(&gb.run(&["inspect", "-f", "{{.Id}}", "fz"]))
        .trim()
        .to_string();
    assert_eq!(ok(&gb.run(&["pause", "fz"])).trim(), "fz");
    assert_eq!(freezer_state(&id), "FROZEN");
    let state = ok(&gb.run(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
        "fz",
    ]));
    assert_eq!(state.trim(), "paused true true");
    assert!(ok(&gb.run(&["ps"])).contains("(Paused)"));
    assert!(
        ok(&gb.run(&["ps", "-f", "status=paused", "-q"]))
            .trim()
            .len()
            == 12
    );
    // A frozen process writes nothing.
    let before = ok(&gb.run(&["logs", "fz"])).lines().count();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(ok(&gb.run(&["logs", "fz"])).lines().count(), before);
    let o = gb.run(&["exec", "fz", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is paused, unpause the container before exec"),
        "{}",
        stderr(&o)
    );
    let o = gb.run(&["pause", "fz"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is already paused"), "{}", stderr(&o));
    assert_eq!(freezer_state(&id), "FROZEN", "still frozen until unpause");
    assert_eq!(ok(&gb.run(&["unpause", "fz"])).trim(), "fz");
    assert_eq!(freezer_state(&id), "THAWED");
    eventually(5, "output after the thaw", || {
        ok(&gb.run(&["logs", "fz"])).lines().count() > before
    });
    ok(&gb.run(&["exec", "fz", "true"]));
    let o = gb.run(&["unpause", "fz"]);
    assert!(stderr(&o).contains("is not paused"), "{}", stderr(&o));
    // rm -f of a paused container thaws it and kills it.
    ok(&gb.run(&["pause", "fz"]));
    ok(&gb.run(&["rm", "-f", "fz"]));
    let until = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
    let events = ok(&gb.run(&["events", "--since", "0", "--until", &until]));
    for action in ["pause", "unpause", "destroy"] {
        assert!(events.contains(&format!("container {action} ")), "{events}");
    }
    assert_clean(&gb, &[id]);
}

#[test]
fn real_stop_of_a_paused_container_works() {
    require_root!();
    let gb = Gb::new();
    let _clean = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "-d",
        "--name",
        "ps1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; while true; do sleep 0.1; done",
    ]));
    ok(&gb.run(&["pause", "ps1"]));
    ok(&gb.run(&["stop", "-t", "5", "ps1"]));
    let state = ok(&gb.run(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}",
        "ps1",
    ]));
    assert_eq!(
        state.trim(),
        "exited false 3",
        "the thawed program got its SIGTERM"
    );
}

#[test]
fn simulated_freezer_stops_the_program_clock() {
    let gb = Gb::new();
    // Each simulated command moves the pinned clock on 2 seconds.
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
        "tick",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; sleep 1; done",
    ]));
    let lines = |gb_out: std::process::Output| ok(&gb_out).lines().count();
    let o = sim(&["--explain=steps", "pause", "tick"]);
    ok(&o);
    assert!(
        stderr(&o).contains("freeze the container's cgroup"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("echo 1 > /sys/fs/cgroup/glassbox/"),
        "{}",
        stderr(&o)
    );
    let frozen_at = lines(sim(&["logs", "tick"]));
    assert_eq!(
        lines(sim(&["logs", "tick"])),
        frozen_at,
        "nothing while paused"
    );
    assert_eq!(lines(sim(&["logs", "tick"])), frozen_at);
    assert!(ok(&sim(&["ps"])).contains("(Paused)"));
    let o = sim(&["exec", "tick", "true"]);
    assert!(stderr(&o).contains("is paused"), "{}", stderr(&o));
    ok(&sim(&["unpause", "tick"]));
    let later = lines(sim(&["logs", "tick"]));
    assert!(later > frozen_at, "it runs again: {later} > {frozen_at}");
    ok(&sim(&["rm", "-f", "tick"]));
}

#[test]
fn simulated_v1_freezer_state() {
    let gb = Gb::new();
    let sim = |args: &[&str]| {
        gb.cmd()
            .args(["--simulate", "--sim-host", "v1"])
            .args(args)
            .output()
            .unwrap()
    };
    ok(&sim(&[
        "run", "-d", "--name", "f1", "busybox", "sleep", "100",
    ]));
    let id = ok(&sim(&["inspect", "-f", "{{.Id}}", "f1"]))
        .trim()
        .to_string();
    ok(&sim(&["pause", "f1"]));
    let host: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gb.sim_root().join("sim-host.json")).unwrap(),
    )
    .unwrap();
    let file = format!("/sys/fs/cgroup/freezer/glassbox/{id}/freezer.state");
    assert_eq!(host["cgroup_files"][&file], "FROZEN");
    ok(&sim(&["unpause", "f1"]));
    ok(&sim(&["rm", "-f", "f1"]));
}
