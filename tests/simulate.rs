//! The simulated kernel: runs anywhere, no root, deterministic, so what a
//! learner reads is snapshot-tested in both languages.

mod common;

use common::{stderr, stdout, Gb};

fn simulated(gb: &Gb, args: &[&str]) -> std::process::Output {
    gb.cmd()
        .arg("--simulate")
        .args(args)
        .output()
        .expect("run glassbox")
}

/// Narration with the temp root replaced, so snapshots are stable.
fn redact(gb: &Gb, text: &str) -> String {
    text.replace(&gb.root().display().to_string(), "[ROOT]")
}

#[test]
fn simulated_run_prints_what_the_real_one_does() {
    let gb = Gb::new();
    let o = simulated(
        &gb,
        &[
            "run",
            "--rm",
            "-h",
            "box1",
            "busybox",
            "sh",
            "-c",
            "echo $$; hostname; ls /",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["1", "box1"]);
    assert!(lines.contains(&"bin") && lines.contains(&"proc"), "{out}");
    assert!(gb.sim_containers().is_empty());
    // The simulator reads layers from their blobs: with every unpacked layer
    // gone it still runs, and unpacks nothing.
    std::fs::remove_dir_all(gb.sim_root().join("layers")).unwrap();
    let o = simulated(&gb, &["run", "--rm", "busybox", "ls", "/bin/busybox"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "/bin/busybox\n");
    let unpacked = std::fs::read_dir(gb.sim_root().join("layers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(unpacked, 0, "simulation unpacked layers");
}

#[test]
fn simulated_exit_codes_match_the_real_ones() {
    let gb = Gb::new();
    assert_eq!(
        simulated(&gb, &["run", "--rm", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        simulated(&gb, &["run", "--rm", "busybox", "nosuchcmd"])
            .status
            .code(),
        Some(127)
    );
    assert_eq!(
        simulated(&gb, &["run", "--rm", "nosuchimage"])
            .status
            .code(),
        Some(125)
    );
    let o = simulated(&gb, &["run", "--rm", "busybox", "vi"]);
    assert_eq!(o.status.code(), Some(126));
    assert!(
        stderr(&o).contains("cannot run in simulation"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulated_narration_in_english() {
    let gb = Gb::new();
    let o = simulated(
        &gb,
        &[
            "--explain=steps",
            "--lang",
            "en",
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo $$; hostname; ls /",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("narration_en", redact(&gb, &stderr(&o)));
}

#[test]
fn simulated_narration_in_chinese() {
    let gb = Gb::new();
    let o = simulated(
        &gb,
        &[
            "--explain=deep",
            "--lang",
            "zh",
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo $$; hostname; ls /",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("narration_zh_deep", redact(&gb, &stderr(&o)));
}

#[test]
fn simulated_summary_and_chinese_locale_from_lang() {
    let gb = Gb::new();
    let o = gb
        .cmd()
        .env("LANG", "zh_CN.UTF-8")
        .args([
            "--simulate",
            "--explain=summary",
            "run",
            "--rm",
            "busybox",
            "true",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("summary_zh_from_locale", redact(&gb, &stderr(&o)));
}

#[test]
fn simulated_records_are_deterministic() {
    let gb = Gb::new();
    let o = simulated(&gb, &["run", "busybox", "echo", "hi"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ps = stdout(&simulated(&gb, &["ps", "-a", "--no-trunc"]));
    let row = ps.lines().nth(1).unwrap();
    assert!(row.starts_with("43673a6d962f7fc7"), "{row}");
    assert!(row.contains("admiring_agnesi"), "{row}");
    assert!(row.contains("Exited (0)"), "{row}");
}

#[test]
fn step_through_in_simulation_pauses_explains_and_aborts() {
    let gb = Gb::new();
    let mut child = gb
        .cmd()
        .env("GLASSBOX_NO_TTY", "1")
        .args([
            "--simulate",
            "--step",
            "run",
            "--name",
            "half",
            "busybox",
            "true",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // Run create's three steps (record, directories, /etc files), the
    // cgroup and device steps, ask about the clone, run it, then quit.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\n\n\n\n\n?\n\nq\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    let text = stderr(&o);
    assert!(
        text.contains("CLONE_NEWPID"),
        "? did not explain the clone: {text}"
    );
    assert!(text.contains("rolled back"), "{text}");
    assert!(gb.sim_containers().is_empty(), "abort left a container");
}

#[test]
fn without_root_glassbox_falls_back_to_simulation() {
    if !common::is_root() {
        // Already not root: the plain command must fall back.
        let gb = Gb::new();
        let o = gb.run(&["run", "--rm", "busybox", "echo", "hi"]);
        assert!(stderr(&o).contains("simulated kernel"), "{}", stderr(&o));
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let gb = Gb::new();
    std::fs::set_permissions(gb.root(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = gb
        .cmd()
        .uid(65534)
        .gid(65534)
        .env("HOME", gb.root())
        .args(["run", "--rm", "busybox", "echo", "hi"])
        .output()
        .unwrap();
    let err = stderr(&o);
    if err.contains("Permission denied") && err.contains("glassbox") && !err.contains("simulated") {
        eprintln!("skipped: the test binary is not readable by nobody here");
        return;
    }
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("simulated kernel"))
            .count(),
        1,
        "{err}"
    );
    assert!(o.status.success(), "{err}");
    assert_eq!(stdout(&o), "hi\n");
}

/// Step-through's `l` in simulation shows the simulated state after the
/// step (the simulated PID's namespaces, its cgroup file, the overlay's
/// mount line), never a real-host command to run elsewhere.
#[test]
fn step_through_look_in_simulation_shows_the_model() {
    let gb = Gb::new();
    let mut child = gb
        .cmd()
        .env("GLASSBOX_NO_TTY", "1")
        .env("GLASSBOX_SIM_CLOCK", "1767225600")
        .args([
            "--simulate",
            "--step",
            "run",
            "--rm",
            "busybox",
            "echo",
            "hi",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // Create's three store steps and the cgroup and device steps run; then
    // look after the clone, the cgroup join, the private mounts and the
    // overlay; then continue.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\n\n\n\n\nl\nl\nl\nl\nc\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");
    let text = redact(&gb, &stderr(&o));
    let from_clone = &text[text.find("[6]").expect("a clone pause")..];
    assert!(!from_clone.contains("(simulated"), "{from_clone}");
    let pid = "4242";
    assert!(
        from_clone.contains(&format!("$ ls -l /proc/{pid}/ns\n")),
        "{from_clone}"
    );
    assert!(from_clone.contains(" pid -> pid:["), "{from_clone}");
    assert!(
        from_clone.contains(&format!("$ cat /proc/{pid}/cgroup\n")),
        "{from_clone}"
    );
    insta::assert_snapshot!("sim_step_look_en", from_clone);
}
