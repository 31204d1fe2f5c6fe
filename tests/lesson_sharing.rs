//! Lesson 12 (sharing images) and its lab, run as a learner would, and
//! `login` against a real registry with Basic auth (htpasswd), its password
//! typed at a hidden prompt in a terminal (tmux).

mod common;

use common::{stderr, stdout, Gb, Tmux};
use glassbox::learn::model::RegistrySpec;
use glassbox::learn::registry::LessonRegistry;
use glassbox::learn::runner::Runner;
use glassbox::step::Lang;

fn learn_cmd(gb: &Gb, state: &std::path::Path) -> std::process::Command {
    let mut c = gb.cmd();
    c.env("GLASSBOX_STATE_DIR", state)
        .env("GLASSBOX_OFFLINE", "1")
        .current_dir(gb.root());
    c
}

fn docker_registry_installed() -> bool {
    std::process::Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_ok()
}

/// The PID and directory the lesson's registry line names, from a run's output.
fn registry_pid_and_dir(out: &str) -> Option<(i32, String)> {
    let line = out.lines().find(|l| l.contains("docker-registry serve "))?;
    let config = line.split("serve ").nth(1)?.split_whitespace().next()?;
    let pid = line
        .split("(pid ")
        .nth(1)?
        .split(')')
        .next()?
        .parse()
        .ok()?;
    let dir = config.trim_end_matches("/config.yml").to_string();
    Some((pid, dir))
}

/// Gone, or a zombie (it holds no port and no file).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.contains(") Z "),
    }
}

#[test]
fn lesson_12_runs_in_simulation() {
    let gb = Gb::new();
    let state = gb.root().join("state");
    let o = learn_cmd(&gb, &state)
        .args(["learn", "--run-all", "--simulate", "12"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("lesson 12 sharing-images: ok"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("skipped"), "{}", stdout(&o));
    // The simulated registry the lesson made is gone with the lesson.
    let users = gb.sim_root().join("registry/users");
    assert!(
        std::fs::read_dir(&users)
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "the lesson left its simulated registry's users"
    );
}

#[test]
fn lesson_12_runs_for_real_and_stops_its_registry() {
    require_root!();
    if !docker_registry_installed() {
        eprintln!("skipped: docker-registry is not installed (apt-get install docker-registry)");
        return;
    }
    let gb = Gb::new();
    let state = gb.root().join("state");
    let o = learn_cmd(&gb, &state)
        .args(["learn", "--run-all", "12"])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("lesson 12 sharing-images: ok"), "{out}");
    let (pid, dir) = registry_pid_and_dir(&out).expect("the lesson names its registry");
    assert!(process_gone(pid), "registry pid {pid} still runs");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} was left");
    assert!(out.contains(&format!("stopped (kill {pid})")), "{out}");
    assert!(gb.containers().is_empty(), "the lesson left containers");
}

/// A failed check still stops the registry: a lesson whose store cannot
/// hold what it needs (busybox is made unusable) fails early.
#[test]
fn a_failing_lesson_12_still_stops_its_registry() {
    require_root!();
    if !docker_registry_installed() {
        eprintln!("skipped: docker-registry is not installed");
        return;
    }
    let gb = Gb::new();
    let state = gb.root().join("state");
    // A name already taken: part 1's `run --name share-src` fails.
    let o = gb.run(&["create", "--name", "share-src", "busybox", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = learn_cmd(&gb, &state)
        .args(["learn", "--run-all", "12"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let out = stdout(&o);
    let (pid, dir) = registry_pid_and_dir(&out).expect("the lesson names its registry");
    assert!(
        process_gone(pid),
        "registry pid {pid} still runs after a failure"
    );
    assert!(!std::path::Path::new(&dir).exists(), "{dir} was left");
    let _ = gb.run(&["rm", "-f", "share-src"]);
}

/// The chapter of lesson 12, as the book shows it (a simulated run), ids masked.
fn chapter(lang: &str) -> String {
    let gb = Gb::new();
    let o = gb
        .cmd()
        .args(["learn", "--write-book"])
        .arg(gb.root().join("book"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(
        gb.root()
            .join("book")
            .join(lang)
            .join("src/lessons/12-sharing-images.md"),
    )
    .unwrap();
    mask(&md)
}

/// Hex ids of 12 or 64 digits → [ID]; `import`'s real clock → [TIME].
fn mask(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 12 || run.len() == 64 {
            out.push_str("[ID]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out.lines()
        .map(|l| {
            // `import`'s layer is stamped with the real time: its age and size columns vary.
            if l.contains("Imported from") {
                "[IMPORTED LAYER LINE]".to_string()
            } else {
                l.trim_end().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lesson_12_in_english() {
    insta::assert_snapshot!("lesson_12_en", chapter("en"));
}

#[test]
fn lesson_12_in_chinese() {
    insta::assert_snapshot!("lesson_12_zh", chapter("zh"));
}

fn lab(gb: &Gb, state: &std::path::Path, args: &[&str], sim: bool) -> std::process::Output {
    let mut c = learn_cmd(gb, state);
    if sim {
        c.arg("--simulate");
    }
    c.arg("lab").args(args).output().unwrap()
}

/// Lab 12: unsolved it fails (the registry has no such tag), solved it
/// passes (the registry's digest is the local image's); reset stops the registry.
fn lab_12(sim: bool) {
    let gb = Gb::new();
    let state = gb.root().join("state");
    let o = lab(&gb, &state, &["start", "12"], sim);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let host = if sim {
        "127.0.0.1:5000".to_string()
    } else {
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(state.join("lab-registry.json")).unwrap(),
        )
        .unwrap();
        record["host"].as_str().unwrap().to_string()
    };
    assert!(stdout(&o).contains(&host), "{}", stdout(&o));
    let o = lab(&gb, &state, &["check", "12"], sim);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("should serve mybox:v1"),
        "{}",
        stdout(&o)
    );
    // Tagged but not pushed: still not solved.
    let sim_flag: &[&str] = if sim { &["--simulate"] } else { &[] };
    let remote = format!("{host}/mybox:v1");
    let o = gb
        .cmd()
        .args(sim_flag)
        .args(["tag", "mybox:v1", &remote])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lab(&gb, &state, &["check", "12"], sim);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = gb
        .cmd()
        .args(sim_flag)
        .args(["push", &remote])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lab(&gb, &state, &["check", "12"], sim);
    assert!(o.status.success(), "{}", stdout(&o));
    let pid = (!sim).then(|| {
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(state.join("lab-registry.json")).unwrap(),
        )
        .unwrap();
        record["pid"].as_i64().unwrap() as i32
    });
    let o = lab(&gb, &state, &["reset", "12"], sim);
    assert!(o.status.success(), "{}", stderr(&o));
    if let Some(pid) = pid {
        assert!(process_gone(pid), "lab reset left registry pid {pid}");
        assert!(!state.join("lab-registry.json").exists());
    }
    let o = lab(&gb, &state, &["check", "12"], sim);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn lab_12_in_simulation() {
    lab_12(true);
}

#[test]
fn lab_12_for_real() {
    require_root!();
    if !docker_registry_installed() {
        eprintln!("skipped: docker-registry is not installed");
        return;
    }
    lab_12(false);
}

/// A real docker-registry with one htpasswd user on a free 127.0.0.1 port,
/// killed by its PID when dropped.
fn registry_with_user(gb: &Gb) -> LessonRegistry {
    let runner = Runner::new(gb.root(), false, Lang::En).unwrap();
    LessonRegistry::start(
        &runner,
        &RegistrySpec {
            user: Some("tester".into()),
            password: Some("right-one".into()),
        },
    )
    .unwrap()
}

#[test]
fn login_with_basic_auth_against_a_real_registry() {
    if !docker_registry_installed() {
        eprintln!("skipped: docker-registry is not installed");
        return;
    }
    let gb = Gb::new();
    let registry = registry_with_user(&gb);
    let host = registry.host.clone();
    let login = |password: &str| {
        let mut child = gb
            .cmd()
            .args(["login", "-u", "tester", "--password-stdin", &host])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = login("wrong");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("login attempt to {host} failed")),
        "{}",
        stderr(&o)
    );
    assert!(
        !gb.root().join("auth.json").exists()
            || !std::fs::read_to_string(gb.root().join("auth.json"))
                .unwrap()
                .contains(&host)
    );
    let o = login("right-one");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Login Succeeded"));
    let auth = std::fs::read_to_string(gb.root().join("auth.json")).unwrap();
    assert!(auth.contains(&host), "{auth}");
    // The stored credentials open the registry's API: the catalog answers.
    let o = gb.run(&["search", &format!("{host}/")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gb.run(&["logout", &host]);
    assert!(stdout(&o).contains(&format!("Removing login credentials for {host}")));
    let o = gb.run(&["search", &format!("{host}/")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("authentication required"),
        "{}",
        stderr(&o)
    );
    drop(registry);
}

#[test]
fn login_asks_for_the_password_without_echoing_it() {
    if !Tmux::available() || !docker_registry_installed() {
        eprintln!("skipped: needs tmux and docker-registry");
        return;
    }
    let gb = Gb::new();
    let registry = registry_with_user(&gb);
    let host = registry.host.clone();
    let cmdline = format!(
        "{} --root {} login {host}; echo \"exit=$?\"; sleep 30",
        env!("CARGO_BIN_EXE_glassbox"),
        gb.root().display()
    );
    let name = format!("gbtest-login-{}", std::process::id());
    let t = Tmux::start(&name, &cmdline);
    // No -u: the user name is asked for too, and shown as typed.
    t.wait_for("Username: ");
    t.type_text("tester");
    t.keys(&["Enter"]);
    t.wait_for("Password: ");
    t.type_text("right-one");
    t.keys(&["Enter"]);
    let screen = t.wait_for("exit=");
    assert!(screen.contains("Username: tester"), "{screen}");
    assert!(
        !screen.contains("right-one"),
        "the password was echoed:\n{screen}"
    );
    assert!(screen.contains("Login Succeeded"), "{screen}");
    assert!(screen.contains("exit=0"), "{screen}");
    drop(t);
    drop(registry);
}
