//! Restart policies on the simulated host behave as the real runtime's:
//! on-failure's count, `always` until a user's stop.

mod common;
use common::*;

fn state(o: std::process::Output) -> String {
    ok(&o).trim().to_string()
}

const FORMAT: &str = "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}";

#[test]
fn on_failure_restarts_n_times_and_always_stops_at_a_stop() {
    let gb = Gb::new();
    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "f",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]));
    // Runs at 0, 0.1, 0.3 and 0.7 s: all done one simulated second later.
    assert_eq!(
        state(gb.sim_ticking(&["inspect", "--format", FORMAT, "f"])),
        "exited 1 3"
    );
    assert_eq!(ok(&gb.sim_ticking(&["logs", "f"])), "run\nrun\nrun\nrun\n");
    // A success is not restarted by on-failure.
    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "s",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]));
    assert_eq!(
        state(gb.sim_ticking(&["inspect", "--format", FORMAT, "s"])),
        "exited 0 0"
    );

    ok(&gb.sim_ticking(&[
        "run",
        "-d",
        "--name",
        "a",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 2; exit 0",
    ]));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(state(gb.sim_ticking(&["inspect", "--format", FORMAT, "a"])));
    }
    assert!(seen.iter().any(|s| s.ends_with(" 1")), "{seen:?}");
    ok(&gb.sim_ticking(&["stop", "a"]));
    let after = state(gb.sim_ticking(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.RestartCount}}",
        "a",
    ]));
    let later = state(gb.sim_ticking(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.RestartCount}}",
        "a",
    ]));
    assert!(after.starts_with("exited "), "{after}");
    assert_eq!(after, later, "a stopped container is not restarted");
}

#[test]
fn on_failure_count_and_state_match_the_real_runtime() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let args = [
        "run",
        "-d",
        "--name",
        "r",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ];
    ok(&gb.run(&args));
    eventually(10, "the real restarts", || {
        ok(&gb.run(&["inspect", "--format", FORMAT, "r"])).trim() == "exited 3 2"
    });
    ok(&gb.sim_ticking(&args));
    assert_eq!(
        state(gb.sim_ticking(&["inspect", "--format", FORMAT, "r"])),
        "exited 3 2"
    );
    ok(&gb.run(&["rm", "-f", "r"]));
}
