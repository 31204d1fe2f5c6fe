//! Attach and detach keys (driven through a real terminal in tmux),
//! restart policies, diff, cp,
//! commit, export, rename, prune, top, port, stats, events.
//! These need root; each test has its own storage root and removes its
//! containers (by PID, through `rm -f`) even when it fails.

mod common;

use common::{assert_clean, eventually, ok, stderr, stdout, Cleanup, Gb, Tmux};
use std::path::Path;
use std::time::{Duration, Instant};

fn inspect(gb: &Gb, name: &str, format: &str) -> String {
    ok(&gb.run(&["inspect", "--format", format, name]))
        .trim()
        .to_string()
}

fn run_detached(gb: &Gb, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    ok(&gb.run(&all)).trim().to_string()
}

/// The glassbox command line for a tmux session, with this test's root.
fn shell_cmd(gb: &Gb, args: &str) -> String {
    format!(
        "env -u GLASSBOX_ROOT LANG=C GLASSBOX_DEFAULT_NETWORK=none {} --root {} {args}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_glassbox"),
        gb.root().display()
    )
}

#[test]
fn run_it_detaches_with_ctrl_p_ctrl_q_and_attach_comes_back() {
    require_root!();
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let run = Tmux::start(
        "gb-attach-run",
        &shell_cmd(&gb, "run -it --name t busybox sh"),
    );
    run.wait_for("/ # ");
    run.type_text("echo hi");
    run.keys(&["Enter"]);
    run.wait_for("\nhi\n");
    run.keys(&["C-p", "C-q"]);
    // Detached: `run` ends with 0 and the container keeps running.
    run.wait_for("EXIT=0");
    assert_eq!(inspect(&gb, "t", "{{.State.Status}}"), "running");
    let ps = ok(&gb.run(&["ps", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.starts_with("t Up "), "{ps}");
    let id = inspect(&gb, "t", "{{.Id}}");
    assert!(gb
        .root()
        .join("containers")
        .join(&id)
        .join("attach.sock")
        .exists());

    // attach: the same shell (its variable survives), then detach again:
    // docker's `attach` says "read escape sequence" and exits 1.
    let at = Tmux::start("gb-attach-1", &shell_cmd(&gb, "attach t"));
    std::thread::sleep(Duration::from_millis(300));
    at.type_text("X=kept; echo marker-$X");
    at.keys(&["Enter"]);
    at.wait_for("marker-kept");
    at.keys(&["C-p", "C-q"]);
    at.wait_for("read escape sequence");
    at.wait_for("EXIT=1");
    assert_eq!(inspect(&gb, "t", "{{.State.Status}}"), "running");

    // attach with other detach keys (ctrl-p ctrl-q is plain input now), and the window size.
    let at = Tmux::start(
        "gb-attach-2",
        &shell_cmd(&gb, "attach --detach-keys ctrl-a,x t"),
    );
    std::thread::sleep(Duration::from_millis(300));
    at.type_text("echo again-$X; stty size");
    at.keys(&["Enter"]);
    at.wait_for("again-kept");
    at.wait_for("50 200");
    at.type_text("exit 4");
    at.keys(&["Enter"]);
    // exit: attach returns the container's status, and the container has exited.
    at.wait_for("EXIT=4");
    assert_eq!(
        inspect(&gb, "t", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 4"
    );
    assert!(!gb
        .root()
        .join("containers")
        .join(&id)
        .join("attach.sock")
        .exists());
    let again = gb.run(&["attach", "t"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("You cannot attach to a stopped container"));
    // The terminal's output was logged too.
    assert!(ok(&gb.run(&["logs", "t"])).contains("marker-kept"));
    // start -ai: the same terminal, the same detach keys.
    let st = Tmux::start("gb-attach-3", &shell_cmd(&gb, "start -ai t"));
    st.wait_for("/ # ");
    st.type_text("echo restarted-ok");
    st.keys(&["Enter"]);
    st.wait_for("\nrestarted-ok");
    st.keys(&["C-p", "C-q"]);
    st.wait_for("EXIT=0");
    assert_eq!(inspect(&gb, "t", "{{.State.Status}}"), "running");
    ok(&gb.run(&["rm", "-f", "t"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn run_it_exit_returns_the_status_and_rm_cleans_up() {
    require_root!();
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let run = Tmux::start(
        "gb-attach-rm",
        &shell_cmd(&gb, "run -it --rm --name gone busybox sh"),
    );
    run.wait_for("/ # ");
    run.type_text("tty; exit 6");
    run.keys(&["Enter"]);
    run.wait_for("EXIT=6");
    assert!(run.screen().contains("/dev/console"), "{}", run.screen());
    eventually(5, "--rm clean-up", || gb.containers().is_empty());
}

#[test]
fn attach_relays_output_and_stdin_without_a_terminal() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "-i",
            "--name",
            "cat",
            "busybox",
            "sh",
            "-c",
            "echo ready; while read l; do echo got $l; echo err $l >&2; done; exit 9",
        ],
    );
    eventually(5, "ready", || ok(&gb.run(&["logs", "cat"])) == "ready\n");
    let mut child = gb
        .cmd()
        .args(["attach", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    {
        let mut input = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        input.write_all(b"one\ntwo\n").unwrap();
    } // end of input: the container's stdin closes, its loop ends
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert_eq!(stdout(&out), "got one\ngot two\n");
    assert_eq!(stderr(&out), "err one\nerr two\n");
    assert_eq!(inspect(&gb, "cat", "{{.State.ExitCode}}"), "9");
    ok(&gb.run(&["rm", "cat"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn restart_on_failure_runs_three_times_then_stays_exited() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "echo run >> /runs; echo run; exit 1",
        ],
    );
    eventually(15, "three runs", || {
        inspect(&gb, "flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    // Stays exited: no fourth run.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(
            &gb,
            "flaky",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "exited 2 1 on-failure 2"
    );
    assert_eq!(ok(&gb.run(&["logs", "flaky"])), "run\nrun\nrun\n");
    let runs =
        std::fs::read_to_string(gb.root().join("containers").join(&id).join("upper/runs")).unwrap();
    assert_eq!(runs, "run\nrun\nrun\n");
    // A user's start begins the count again.
    ok(&gb.run(&["start", "flaky"]));
    eventually(15, "three more runs", || {
        ok(&gb.run(&["logs", "flaky"])).lines().count() == 6
            && inspect(&gb, "flaky", "{{.State.Status}}") == "exited"
    });
    assert_eq!(inspect(&gb, "flaky", "{{.RestartCount}}"), "2");
    // Invalid policies and --rm with a policy are refused, as docker does.
    for bad in ["sometimes", "always:3", "on-failure:x"] {
        let o = gb.run(&["run", "-d", "--restart", bad, "busybox", "true"]);
        assert_eq!(o.status.code(), Some(125), "{bad}: {}", stderr(&o));
    }
    let o = gb.run(&[
        "run",
        "-d",
        "--rm",
        "--restart",
        "always",
        "busybox",
        "true",
    ]);
    assert!(stderr(&o).contains("Conflicting options"), "{}", stderr(&o));
    ok(&gb.run(&["rm", "flaky"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn stop_is_not_undone_by_restart_always() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    // A container that exits on its own is restarted...
    let quick = run_detached(
        &gb,
        &[
            "--name",
            "quick",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "sleep 0.2",
        ],
    );
    eventually(10, "a restart", || {
        inspect(&gb, "quick", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap()
            >= 1
    });
    // ...but not after `stop`, whether it was running or between two runs.
    ok(&gb.run(&["stop", "-t", "1", "quick"]));
    let count = inspect(&gb, "quick", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(inspect(&gb, "quick", "{{.State.Status}}"), "exited");
    assert_eq!(inspect(&gb, "quick", "{{.RestartCount}}"), count);

    let long = run_detached(
        &gb,
        &[
            "--name",
            "long",
            "--restart",
            "always",
            "busybox",
            "sleep",
            "60",
        ],
    );
    ok(&gb.run(&["stop", "-t", "1", "long"]));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&gb, "long", "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );
    // kill is the user's too.
    ok(&gb.run(&["start", "long"]));
    ok(&gb.run(&["kill", "long"]));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(inspect(&gb, "long", "{{.State.Status}}"), "exited");
    // Between two runs (the back-off doubles) it shows as restarting, in
    // `ps` too; `stop` then ends it for good.
    let crashy = run_detached(
        &gb,
        &[
            "--name",
            "crashy",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "exit 3",
        ],
    );
    eventually(15, "restarting in ps", || {
        ok(&gb.run(&["ps", "--format", "{{.Names}} {{.Status}}"]))
            .contains("crashy Restarting (3) ")
    });
    assert_eq!(inspect(&gb, "crashy", "{{.State.Restarting}}"), "true");
    let refused = gb.run(&["rm", "crashy"]);
    assert!(
        stderr(&refused).contains("is restarting"),
        "{}",
        stderr(&refused)
    );
    ok(&gb.run(&["stop", "crashy"]));
    let count = inspect(&gb, "crashy", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&gb, "crashy", "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {count}")
    );
    // restart of a policy container: one new run, still exactly one process.
    ok(&gb.run(&["restart", "-t", "1", "long"]));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&gb, "long", "{{.State.Status}}"), "running");
    ok(&gb.run(&["rm", "-f", "quick", "long", "crashy"]));
    assert_clean(&gb, &[quick, long, crashy]);
}

#[test]
fn diff_shows_added_changed_and_deleted_paths() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(&gb, &["--name", "d1", "busybox", "touch", "/etc/x"]);
    ok(&gb.run(&["wait", "d1"]));
    // glassbox's own mount points (/etc/hostname, hosts, resolv.conf) are not changes.
    assert_eq!(ok(&gb.run(&["diff", "d1"])), "C /etc\nA /etc/x\n");
    let id2 = run_detached(
        &gb,
        &[
            "--name",
            "d2",
            "busybox",
            "sh",
            "-c",
            "rm /bin/vi; mkdir -p /new/sub; echo x > /new/sub/f; echo more >> /etc/passwd; sleep 60",
        ],
    );
    eventually(5, "the changes", || {
        ok(&gb.run(&["diff", "d2"])).contains("/etc/passwd")
    });
    assert_eq!(
        ok(&gb.run(&["diff", "d2"])),
        "C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /new\nA /new/sub\nA /new/sub/f\n"
    );
    let fresh = ok(&gb.run(&["create", "--name", "d3", "busybox", "true"]));
    assert_eq!(ok(&gb.run(&["diff", "d3"])), "");
    assert_eq!(gb.run(&["diff", "nosuch"]).status.code(), Some(1));
    ok(&gb.run(&["rm", "-f", "d1", "d2", "d3"]));
    assert_clean(&gb, &[id, id2, fresh.trim().to_string()]);
}

#[test]
fn cp_copies_both_ways_and_never_escapes_the_container() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    // Symlinks inside the container that would point at the host's files if
    // they were followed on the host: one absolute, one climbing with "..".
    let outside = h.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let script = format!(
        "mkdir -p /data/sub {o}; echo inner > /data/sub/f; echo conf > /etc/app.conf; \
         ln -s {o} /data/abs; ln -s ../../../../../../..{o} /data/rel; ln -s /etc /data/etc; sleep 60",
        o = outside.display()
    );
    let id = run_detached(&gb, &["--name", "box", "busybox", "sh", "-c", &script]);
    eventually(5, "the files", || {
        gb.run(&["exec", "box", "test", "-L", "/data/etc"])
            .status
            .success()
    });
    // Container → host, running: a file into a directory, a directory as a new name.
    ok(&gb.run(&["cp", "box:/etc/app.conf", h.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(h.join("app.conf")).unwrap(),
        "conf\n"
    );
    let copy = h.join("copy");
    ok(&gb.run(&["cp", "box:/data", copy.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(copy.join("sub/f")).unwrap(),
        "inner\n"
    );
    // Symlinks come as symlinks.
    assert_eq!(
        std::fs::read_link(copy.join("etc")).unwrap(),
        Path::new("/etc")
    );
    // Through a symlink, the container's file is read, never the host's.
    std::fs::write(outside.join("secret"), "host secret").unwrap();
    let leak = gb.run(&[
        "cp",
        "box:/data/abs/secret",
        h.join("leak").to_str().unwrap(),
    ]);
    assert!(
        !leak.status.success(),
        "read the host's file through a container symlink"
    );
    assert!(!h.join("leak").exists());
    ok(&gb.run(&[
        "cp",
        "box:/data/etc/app.conf",
        h.join("via-link").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read_to_string(h.join("via-link")).unwrap(),
        "conf\n"
    );

    // Host → container, running.
    let src = h.join("in.txt");
    std::fs::write(&src, "from host\n").unwrap();
    ok(&gb.run(&["cp", src.to_str().unwrap(), "box:/data/sub/"]));
    assert_eq!(
        ok(&gb.run(&["exec", "box", "cat", "/data/sub/in.txt"])),
        "from host\n"
    );
    // Escape attempts: writes through symlinks land inside the container.
    for target in [
        "box:/data/abs/pwned",
        "box:/data/rel/pwned",
        "box:../../../../..//data/abs/pwned",
    ] {
        let o = gb.run(&["cp", src.to_str().unwrap(), target]);
        assert!(o.status.success() || !stderr(&o).is_empty(), "{target}");
        assert!(
            !outside.join("pwned").exists(),
            "{target} wrote outside the container"
        );
    }
    assert_eq!(
        ok(&gb.run(&[
            "exec",
            "box",
            "cat",
            &format!("{}/pwned", outside.display())
        ])),
        "from host\n"
    );

    // Tar streams: `cp C:SRC -` and `cp - C:DEST`.
    let tarred = gb.run(&["cp", "box:/data/sub", "-"]);
    let mut names: Vec<String> = tar::Archive::new(&ok(&tarred).into_bytes()[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["sub", "sub/f", "sub/in.txt"]);
    // An archive whose symlink entry points at the host's directory, then a
    // file through it: the file lands in the container; `..` is refused.
    let archive = |entries: &[(&str, Option<&str>)]| -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            match link {
                Some(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, name, target).unwrap();
                }
                None => {
                    // The raw name (the tar crate itself refuses to write `..`).
                    h.set_size(4);
                    h.set_entry_type(tar::EntryType::Regular);
                    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
                    h.set_cksum();
                    b.append(&h, &b"evil"[..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    };
    let feed = |data: Vec<u8>, dest: &str| {
        let mut child = gb
            .cmd()
            .args(["cp", "-", dest])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&data).unwrap();
        child.wait_with_output().unwrap()
    };
    let o = feed(
        archive(&[
            ("hop", Some(outside.to_str().unwrap())),
            ("hop/tarred", None),
        ]),
        "box:/data",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !outside.join("tarred").exists(),
        "a tar entry was written outside"
    );
    assert_eq!(
        ok(&gb.run(&[
            "exec",
            "box",
            "cat",
            &format!("{}/tarred", outside.display())
        ])),
        "evil"
    );
    let o = feed(archive(&[("../../escape", None)]), "box:/data");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refusing"), "{}", stderr(&o));

    // Stopped: the same both ways, through the overlay mounted privately.
    ok(&gb.run(&["stop", "-t", "0", "box"]));
    ok(&gb.run(&["cp", src.to_str().unwrap(), "box:/etc/added.txt"]));
    let stopped_copy = h.join("stopped.txt");
    ok(&gb.run(&["cp", "box:/etc/added.txt", stopped_copy.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(&stopped_copy).unwrap(),
        "from host\n"
    );
    let o = gb.run(&["cp", src.to_str().unwrap(), "box:/data/rel/pwned2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !outside.join("pwned2").exists(),
        "a stopped container's symlink led outside"
    );
    assert!(ok(&gb.run(&["diff", "box"])).contains("A /etc/added.txt"));
    // No mount was left on the host.
    assert!(common::host_mounts_under(gb.root()).is_empty());
    let missing = gb.run(&["cp", "box:/nope", h.to_str().unwrap()]);
    assert!(!missing.status.success());
    ok(&gb.run(&["rm", "box"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn commit_makes_an_image_with_the_changes() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "src",
            "busybox",
            "sh",
            "-c",
            "echo made > /made.txt; rm /bin/vi; mkdir -p /opq; echo a > /opq/a",
        ],
    );
    ok(&gb.run(&["wait", "src"]));
    let image = ok(&gb.run(&[
        "commit",
        "-m",
        "my change",
        "-a",
        "Jane <j@example.com>",
        "-c",
        "CMD [\"cat\", \"/made.txt\"]",
        "-c",
        "ENV STAGE=two",
        "src",
        "committed:v1",
    ]))
    .trim()
    .to_string();
    assert!(image.starts_with("sha256:") && image.len() == 71, "{image}");
    assert_eq!(ok(&gb.run(&["run", "--rm", "committed:v1"])), "made\n");
    let o = ok(&gb.run(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "echo $STAGE; test -e /bin/vi && echo vi || echo no-vi; cat /opq/a",
    ]));
    assert_eq!(o, "two\nno-vi\na\n");
    let history = ok(&gb.run(&["history", "committed:v1"]));
    assert!(
        history.lines().nth(1).unwrap().contains("my change"),
        "{history}"
    );
    // The layer tar has the whiteout as docker writes it.
    let save = gb.root().join("saved.tar");
    ok(&gb.run(&["save", "-o", save.to_str().unwrap(), "committed:v1"]));
    // Untagged commit.
    let bare = ok(&gb.run(&["commit", "src"])).trim().to_string();
    assert!(bare.starts_with("sha256:"));
    ok(&gb.run(&["rm", "src"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn export_writes_the_merged_filesystem() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(
        &gb,
        &[
            "--name",
            "ex",
            "busybox",
            "sh",
            "-c",
            "echo x > /exported; rm /bin/vi; sleep 60",
        ],
    );
    eventually(5, "the file", || {
        gb.run(&["exec", "ex", "test", "-e", "/exported"])
            .status
            .success()
    });
    let list = |o: &std::process::Output| -> Vec<String> {
        let mut a = tar::Archive::new(&o.stdout[..]);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    };
    let running = gb.run(&["export", "ex"]);
    let names = list(&running);
    assert!(names.contains(&"exported".to_string()), "{names:?}");
    assert!(names.contains(&"bin/busybox".to_string()));
    assert!(!names.contains(&"bin/vi".to_string()));
    ok(&gb.run(&["stop", "-t", "0", "ex"]));
    let out = gb.root().join("ex.tar");
    ok(&gb.run(&["export", "-o", out.to_str().unwrap(), "ex"]));
    let mut a = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut found = String::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap() == Path::new("exported") {
            use std::io::Read;
            e.read_to_string(&mut found).unwrap();
        }
        assert_ne!(e.path().unwrap(), Path::new("bin/vi"));
    }
    assert_eq!(found, "x\n");
    assert!(common::host_mounts_under(gb.root()).is_empty());
    ok(&gb.run(&["rm", "ex"]));
    assert_clean(&gb, &[id]);
}

#[test]
fn rename_prune_top_port_stats_and_events() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let web = run_detached(
        &gb,
        &[
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "sleep 60 & sleep 60 & wait",
        ],
    );
    let done = run_detached(&gb, &["--name", "done", "busybox", "true"]);
    ok(&gb.run(&["wait", "done"]));
    // rename, also while running; the monitor keeps the new name at exit.
    ok(&gb.run(&["rename", "web", "site"]));
    assert_eq!(inspect(&gb, "site", "{{.Name}}"), "/site");
    let taken = gb.run(&["rename", "site", "done"]);
    assert_eq!(taken.status.code(), Some(125));
    assert!(stderr(&taken).contains("is already in use"));
    // top: the container's processes, seen from the host.
    let top = ok(&gb.run(&["top", "site"]));
    let rows: Vec<&str> = top.lines().collect();
    assert!(
        rows[0].starts_with("UID") && rows[0].contains("PID") && rows[0].ends_with("CMD"),
        "{top}"
    );
    assert_eq!(rows.len(), 4, "{top}"); // sh and two sleeps
    assert_eq!(
        rows.iter().filter(|r| r.ends_with("sleep 60")).count(),
        2,
        "{top}"
    );
    // port: no ports yet, nothing printed.
    let port = gb.run(&["port", "site"]);
    assert_eq!(port.status.code(), Some(0));
    assert!(stdout(&port).is_empty());
    // stats --no-stream: docker's table with the cgroup's numbers.
    let stats = ok(&gb.run(&["stats", "--no-stream", "site"]));
    let lines: Vec<&str> = stats.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"),
        "{stats}"
    );
    assert!(lines[0].ends_with("PIDS"));
    assert!(
        lines[1].starts_with(&web[..12]) && lines[1].contains("site"),
        "{stats}"
    );
    assert!(lines[1].contains("iB / "), "{stats}");
    assert_eq!(lines[1].split_whitespace().last(), Some("3"), "{stats}");
    // prune: only stopped containers go.
    let pruned = ok(&gb.run(&["container", "prune", "-f"]));
    assert!(
        pruned.starts_with(&format!("Deleted Containers:\n{done}\n")),
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space:"));
    assert_eq!(ok(&gb.run(&["ps", "-aq"])).trim(), &web[..12]);
    ok(&gb.run(&["stop", "-t", "0", "site"]));
    assert_eq!(inspect(&gb, "site", "{{.Name}}"), "/site");
    ok(&gb.run(&["rm", "site"]));
    // events: the journal, in docker's line format.
    let ev = ok(&gb.run(&["events", "--since", "1h", "--until", "0s"]));
    let of = |id: &str| -> Vec<String> {
        ev.lines()
            .filter(|l| l.contains(id))
            .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(
        of(&web),
        ["create", "start", "rename", "kill", "die", "stop", "destroy"],
        "{ev}"
    );
    assert_eq!(of(&done), ["create", "start", "die", "destroy"], "{ev}");
    let line = ev.lines().find(|l| l.contains(" rename ")).unwrap();
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(time.ends_with('Z') && time.len() == 30, "{line}");
    assert_eq!(
        rest,
        format!("container rename {web} (image=busybox, name=site, oldName=/web)")
    );
    let filtered = ok(&gb.run(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "-f",
        "event=die",
        "-f",
        "container=done",
    ]));
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    assert!(filtered.contains("exitCode=0"));
    assert_clean(&gb, &[web, done]);
}

#[test]
fn events_follows_the_journal_until_interrupted() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let old = ok(&gb.run(&["create", "--name", "before", "busybox", "true"]));
    // No --since: only what happens from now on, streamed as it happens.
    let mut follower = gb
        .cmd()
        .args(["events", "-f", "type=container"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let id = run_detached(&gb, &["--name", "live", "busybox", "true"]);
    ok(&gb.run(&["wait", "live"]));
    let stdout_pipe = follower.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout_pipe)
            .lines()
            .take(3)
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Stop the follower by its PID.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(follower.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = follower.wait();
    let lines = reader.join().unwrap();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(actions, ["create", "start", "die"], "{lines:?}");
    assert!(lines.iter().all(|l| l.contains(&id)), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains(old.trim())));
    ok(&gb.run(&["rm", "live", "before"]));
    assert_clean(&gb, &[id, old.trim().to_string()]);
}

#[test]
fn stop_of_an_rm_container_succeeds_and_removes_it() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = run_detached(&gb, &["--rm", "--name", "tmp", "busybox", "sleep", "60"]);
    assert_eq!(ok(&gb.run(&["stop", "-t", "1", "tmp"])).trim(), "tmp");
    eventually(5, "--rm clean-up", || gb.containers().is_empty());
    assert_clean(&gb, &[id]);
}
