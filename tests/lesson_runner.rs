//! The lesson runner is honest: checks judge what the learner's command did,
//! failed parts stay open (also on resume), leaving works from a pre-filled
//! prompt, output comes in the order it happened, `:` commands and
//! single-key step-through work inside lessons, labs check outcomes.

mod common;

use common::{stderr, stdout, Gb, Tmux};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn learn(gb: &Gb, state: &Path, args: &[&str], input: &str) -> std::process::Output {
    let mut c = gb.cmd();
    c.env("GLASSBOX_STATE_DIR", state)
        .env("GLASSBOX_OFFLINE", "1")
        .env("GLASSBOX_NO_TTY", "1")
        .args(["--simulate", "--lang", "en"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn progress(state: &Path) -> String {
    std::fs::read_to_string(state.join("progress.toml")).unwrap_or_default()
}

#[test]
fn an_edited_command_that_does_the_wrong_thing_fails_and_the_part_stays_open() {
    let gb = Gb::new();
    let state = gb.root().join("state");
    // Part 1: Enter to go on; part 2: the suggestion; part 3: a typo.
    let o = learn(
        &gb,
        &state,
        &["learn", "0"],
        "\n\ndocker run --rm -h inside-a-box busybox hostnamex\n",
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let part3 = out.split("[3/7]").nth(1).expect("part 3 shown");
    assert!(part3.contains("executable file not found"), "{part3}");
    assert!(part3.contains("✗"), "{part3}");
    assert!(
        part3.contains("the output does not show \"inside-a-box\""),
        "narration must not satisfy an output check: {part3}"
    );
    assert!(!part3.contains("✓"), "a failed command got ✓: {part3}");
    assert!(part3.contains("stays open"), "{part3}");
    // Only parts 1 and 2 are done.
    assert!(progress(&state).contains("00 = 2"), "{}", progress(&state));

    // Resuming starts at the failed part, and the right command passes it.
    let o = learn(&gb, &state, &["learn", "0"], "\n\n\n");
    let out = stdout(&o);
    assert!(out.contains("resuming at part 3"), "{out}");
    let part3 = out.split("[3/7]").nth(1).expect("part 3 again");
    assert!(part3.contains("inside-a-box\n"), "{part3}");
    assert!(part3.contains("✓ that happened as expected"), "{part3}");
    assert!(progress(&state).contains("00 = 5"), "{}", progress(&state));
    // Parts 4 (/proc/self/ns, from the simulated model) and 5 ran: all done.
    assert!(!progress(&state).contains("00 = ["), "{}", progress(&state));
}

#[test]
fn skip_passes_over_a_part_without_marking_it_done() {
    let gb = Gb::new();
    let state = gb.root().join("state");
    let o = learn(&gb, &state, &["learn", "0"], "\n:skip\n:q\n");
    let out = stdout(&o);
    assert!(out.contains("skipped: this part is not done"), "{out}");
    assert!(!out.contains("PID   USER"), "the skipped part ran: {out}");
    let p = progress(&state);
    assert!(p.contains("00 = 2") && p.contains("00 = [2]"), "{p}");
}

#[test]
fn lesson_output_comes_in_the_order_it_happened() {
    let gb = Gb::new();
    let state = gb.root().join("state");
    let o = learn(&gb, &state, &["learn", "1"], &"\n".repeat(12));
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let at = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing:\n{out}"))
    };
    // The automatic import is announced before the program's output.
    assert!(at("Unable to find image 'busybox:latest' locally") < at("\nHello World\n"));
    // Part 7: the steps, then the program's output, then the clean-up step.
    let part5 = &out[at("[7/8]")..];
    let p = |s: &str| {
        part5
            .find(s)
            .unwrap_or_else(|| panic!("{s:?} missing:\n{part5}"))
    };
    assert!(p("] create the container's cgroup") < p("] exec echo"));
    assert!(p("] exec echo") < p("\nHello again\n"));
    assert!(p("\nHello again\n") < p("] remove the container's cgroup"));
    assert!(part5.contains("✓ that happened as expected"), "{part5}");
}

fn tmux_lesson(gb: &Gb, name: &str, lesson: &str) -> Tmux {
    let sim = if common::is_root() { "" } else { "--simulate" };
    let cmdline = format!(
        "GLASSBOX_DEFAULT_NETWORK=none GLASSBOX_STATE_DIR={} {} --root {} {sim} --lang en learn {lesson}; echo EXIT=$?; sleep 30",
        gb.root().join("state").display(),
        env!("CARGO_BIN_EXE_glassbox"),
        gb.root().display()
    );
    Tmux::start(&format!("{name}-{}", std::process::id()), &cmdline)
}

#[test]
fn colon_q_leaves_from_a_prefilled_prompt() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (scripts/test installs it)");
        return;
    }
    let gb = Gb::new();
    let t = tmux_lesson(&gb, "gbtest-leave", "1");
    t.wait_for("$ docker run --name hello busybox echo \"Hello World\"");
    // Typed at the end of the suggestion, as a learner would.
    t.type_text(":q");
    t.keys(&["Enter"]);
    let screen = t.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        !screen.contains("Hello World\n"),
        "the command ran: {screen}"
    );
    assert!(gb.containers().is_empty(), "a container was made");
}

#[test]
fn step_through_inside_a_lesson_takes_single_keys_and_looks_after_the_step() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (scripts/test installs it)");
        return;
    }
    let gb = Gb::new();
    let t = tmux_lesson(&gb, "gbtest-steplesson", "1");
    t.wait_for("$ docker run --name hello busybox echo \"Hello World\"");
    t.keys(&["C-u"]);
    t.type_text(":step on");
    t.keys(&["Enter"]);
    t.wait_for("step-through on");
    // The suggestion is typed again: Enter runs it, paused before each step.
    t.keys(&["Enter"]);
    // create's three steps, the cgroup and the device cgroup, one key each.
    t.wait_for("[1] make container ");
    t.keys(&["Enter"]);
    t.wait_for("[2] make the overlay directories");
    t.keys(&["Enter"]);
    t.wait_for("[3] write the container's hostname");
    t.keys(&["Enter"]);
    t.wait_for("[4] create the container's cgroup");
    t.keys(&["Enter"]);
    t.wait_for("[5] ");
    t.keys(&["Enter"]);
    t.wait_for("[6] clone the container process");
    // One key, no Enter: `l` runs the clone, then looks at its result.
    t.type_text("l");
    let screen = t.wait_for("[7] move process");
    if common::is_root() {
        let pid: String = screen
            .split("[7] move process ")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        assert!(
            screen.contains(&format!("$ ls -l /proc/{pid}/ns")),
            "look must use the real PID after the clone: {screen}"
        );
        assert!(screen.contains("pid:["), "{screen}");
        assert!(!screen.contains("<pid>"), "{screen}");
    } else {
        assert!(screen.contains("simulated kernel"), "{screen}");
    }
    // `c` (no Enter) runs the rest without pausing.
    t.type_text("c");
    t.wait_for("that happened as expected");
    t.wait_for("$ docker run --rm debian");
    t.keys(&["C-c"]);
    t.type_text(":q");
    t.keys(&["Enter"]);
    let screen = t.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    let o = gb.run(&["rm", "-f", "hello"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn lab(gb: &Gb, state: &Path, args: &[&str]) -> std::process::Output {
    gb.cmd()
        .env("GLASSBOX_STATE_DIR", state)
        .args(["--simulate", "lab"])
        .args(args)
        .output()
        .unwrap()
}

fn gbsim(gb: &Gb, args: &[&str]) -> std::process::Output {
    let mut c: Command = gb.cmd();
    c.arg("--simulate").args(args).output().unwrap()
}

#[test]
fn lab_01_checks_what_the_container_prints_not_its_command_line() {
    let gb = Gb::new();
    let state = gb.root().join("state");
    assert!(lab(&gb, &state, &["start", "01"]).status.success());
    // The right words, sent nowhere: not solved.
    gbsim(
        &gb,
        &[
            "run",
            "--name",
            "greeter",
            "busybox",
            "sh",
            "-c",
            "echo \"hello, glassbox\" > /dev/null",
        ],
    );
    let o = lab(&gb, &state, &["check", "01"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("greeter should print hello, glassbox"),
        "{}",
        stdout(&o)
    );
    // Printed through a variable: solved.
    assert!(lab(&gb, &state, &["reset", "01"]).status.success());
    gbsim(
        &gb,
        &[
            "run",
            "--name",
            "greeter",
            "busybox",
            "sh",
            "-c",
            "G=glassbox; echo \"hello, $G\"",
        ],
    );
    let o = lab(&gb, &state, &["check", "01"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn lab_hint_advances_and_solve_shows_glassbox_commands() {
    let gb = Gb::new();
    let state = gb.root().join("state");
    let first = stdout(&lab(&gb, &state, &["hint", "00"]));
    assert!(
        first.contains("hint 1/2") && first.contains("1 more"),
        "{first}"
    );
    let second = stdout(&lab(&gb, &state, &["hint", "00"]));
    assert!(
        second.contains("hint 2/2") && second.contains("last hint"),
        "{second}"
    );
    let third = stdout(&lab(&gb, &state, &["hint", "00"]));
    assert!(third.contains("No more hints"), "{third}");
    let solution = stdout(&lab(&gb, &state, &["solve", "00"]));
    assert!(
        solution.contains("    glassbox run --name peek"),
        "{solution}"
    );
    assert!(!solution.contains("docker "), "{solution}");
    // In Chinese too.
    let o = gb
        .cmd()
        .env("GLASSBOX_STATE_DIR", &state)
        .args(["--simulate", "--lang", "zh", "lab", "hint", "00", "1"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("提示 1/2") && stdout(&o).contains("还有 1 条"),
        "{}",
        stdout(&o)
    );
}
