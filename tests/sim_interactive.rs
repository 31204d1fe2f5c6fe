//! Interactive containers on the simulated host: `run -it` in a real
//! terminal (tmux), `run -i` with piped stdin, `attach` with detach keys,
//! `exec -i`; the program reads glassbox's own stdin and its terminal is
//! the simulated /dev/pts/0, never a host terminal. Runs without root.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

/// A simulated command on the pinned clock.

/// A simulated command with `input` on its stdin.
fn sim_piped(gb: &Gb, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = gb
        .cmd()
        .arg("--simulate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run glassbox");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The glassbox command line for a tmux session on this test's root and
/// pinned clock; `strace` (when given) records every file it opens.
fn shell_cmd(gb: &Gb, args: &str, strace: Option<&std::path::Path>) -> String {
    let trace = match strace {
        Some(out) => format!("strace -f -qq -e trace=%file -o {} ", out.display()),
        None => String::new(),
    };
    format!(
        "env -u GLASSBOX_ROOT LANG=C GLASSBOX_SIM_CLOCK=1767225600 {trace}{} --root {} --simulate {args}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_glassbox"),
        gb.root().display()
    )
}

fn inspect(gb: &Gb, name: &str, format: &str) -> String {
    ok(&gb.sim(&["inspect", "--format", format, name]))
        .trim()
        .to_string()
}

#[test]
fn piped_stdin_runs_each_command_without_a_prompt() {
    let gb = Gb::new();
    let out = sim_piped(
        &gb,
        &["run", "-i", "--name", "p", "busybox", "sh"],
        b"echo hi\ntty; echo tty=$?\nif true\nthen echo multi-line\nfi\nexit 7\necho never\n",
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // No terminal: no prompt, no echo, `tty` says so.
    assert_eq!(stdout(&out), "hi\nnot a tty\ntty=1\nmulti-line\n");
    assert_eq!(
        inspect(&gb, "p", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 7"
    );
    // End of input ends the shell with the last status.
    let out = sim_piped(
        &gb,
        &["run", "--rm", "-i", "busybox", "sh"],
        b"echo hi > /f; cat /f",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "hi\n");
    // cat copies its stdin; without -i it reads nothing.
    let out = sim_piped(&gb, &["run", "--rm", "-i", "busybox", "cat"], b"a\nb\n");
    assert_eq!(stdout(&out), "a\nb\n");
    let out = sim_piped(&gb, &["run", "--rm", "busybox", "cat"], b"a\nb\n");
    assert_eq!(stdout(&out), "");
}

#[test]
fn run_it_in_a_terminal_gets_a_prompt_and_its_own_pts() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let gb = Gb::new();
    let trace = gb.root().join("strace.out");
    let strace = which("strace").then_some(trace.as_path());
    let t = Tmux::start(
        "gb-sim-run-it",
        &shell_cmd(&gb, "run -it --name t busybox sh", strace),
    );
    t.wait_for("/ # ");
    t.type_text("hostname; tty; echo hi > /f; exit 3");
    t.keys(&["Enter"]);
    let screen = t.wait_for("EXIT=3");
    let id = inspect(&gb, "t", "{{.Id}}");
    // The typed line (echoed by the simulated terminal), then the output.
    let expected = format!(
        "/ # hostname; tty; echo hi > /f; exit 3\n{}\n/dev/pts/0\nEXIT=3",
        &id[..12]
    );
    assert!(screen.contains(&expected), "{screen}");
    assert_eq!(
        inspect(&gb, "t", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    // What it wrote is the container's: a start sees it.
    assert_eq!(
        ok(&gb.sim(&["diff", "t"])),
        "A /f\n",
        "the upper layer keeps /f"
    );
    if let Some(trace) = strace {
        // glassbox opened no terminal: its own stdin was enough.
        let opened = std::fs::read_to_string(trace).unwrap();
        for line in opened.lines() {
            assert!(
                !line.contains("\"/dev/pts") && !line.contains("\"/dev/tty"),
                "opened a host terminal: {line}"
            );
        }
    }
}

#[test]
fn attach_to_a_detached_shell_detaches_with_the_keys_and_its_input_persists() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let gb = Gb::new();
    let id = ok(&gb.sim(&["run", "-dit", "--name", "d", "busybox", "sh"]));
    assert_eq!(id.trim().len(), 64);
    // -dt without input: the shell waits at its prompt, as the real one does.
    assert_eq!(inspect(&gb, "d", "{{.State.Status}}"), "running");

    let at = Tmux::start("gb-sim-attach-1", &shell_cmd(&gb, "attach d", None));
    std::thread::sleep(std::time::Duration::from_millis(500));
    at.type_text("X=kept; echo marker-$X; echo typed > /g");
    at.keys(&["Enter"]);
    at.wait_for("marker-kept");
    at.keys(&["C-p", "C-q"]);
    // docker's attach says so and exits 1; the container runs on.
    at.wait_for("read escape sequence");
    at.wait_for("EXIT=1");
    assert_eq!(inspect(&gb, "d", "{{.State.Status}}"), "running");
    // What was typed while attached is part of the process's history.
    assert_eq!(ok(&gb.sim(&["exec", "d", "cat", "/g"])), "typed\n");
    let logs = ok(&gb.sim(&["logs", "d"]));
    assert!(logs.contains("marker-kept\r\n"), "{logs:?}");

    // Other detach keys: ctrl-p ctrl-q is plain input now; `exit` ends it.
    let at = Tmux::start(
        "gb-sim-attach-2",
        &shell_cmd(&gb, "attach --detach-keys ctrl-a,x d", None),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    at.type_text("echo again-$X");
    at.keys(&["Enter"]);
    at.wait_for("again-kept");
    at.type_text("exit 4");
    at.keys(&["Enter"]);
    at.wait_for("EXIT=4");
    assert_eq!(
        inspect(&gb, "d", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 4"
    );
    let again = gb.sim(&["attach", "d"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("You cannot attach to a stopped container"));

    // start -ai: the same terminal; ^C abandons the line, ctrl-p ctrl-q detaches.
    let st = Tmux::start("gb-sim-attach-3", &shell_cmd(&gb, "start -ai d", None));
    st.wait_for("/ # ");
    st.type_text("cat /g; echo half");
    st.keys(&["C-c"]);
    st.wait_for("^C");
    st.type_text("cat /g");
    st.keys(&["Enter"]);
    st.wait_for("\ntyped\n");
    st.keys(&["C-p", "C-q"]);
    st.wait_for("EXIT=0");
    assert!(!st.screen().contains("half\n"), "{}", st.screen());
    assert_eq!(inspect(&gb, "d", "{{.State.Status}}"), "running");
    ok(&gb.sim(&["rm", "-f", "d"]));
}

#[test]
fn exec_i_reads_stdin_and_its_changes_reach_the_container() {
    let gb = Gb::new();
    ok(&gb.sim(&["run", "-d", "--name", "x", "busybox", "sleep", "1000"]));
    let out = sim_piped(
        &gb,
        &["exec", "-i", "x", "sh"],
        b"echo from-exec > /e\ncat /e\nexit 2\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from-exec\n");
    assert_eq!(ok(&gb.sim(&["exec", "x", "cat", "/e"])), "from-exec\n");
    ok(&gb.sim(&["rm", "-f", "x"]));
}

fn which(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
