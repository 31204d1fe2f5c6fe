//! glassbox-runtime, the OCI runtime: the create/start/state/kill/delete
//! cycle on bundles the tests write (rootfs from the busybox fixture),
//! hooks, errors in the --log file, and podman driving it as its runtime.
//! Real mode: needs root. Every test has its own --root, bundle and ids.

mod common;

use common::{eventually, fixture, is_root, stderr, stdout, Tmux};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RUNTIME: &str = env!("CARGO_BIN_EXE_glassbox-runtime");

/// A state root and a bundle (busybox rootfs + config.json) in a temp dir.
struct Bundle {
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl Bundle {
    fn new() -> Option<Bundle> {
        if !is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let Some(tar) = fixture("busybox-rootfs.tar") else {
            eprintln!("skipped: no busybox-rootfs.tar fixture (scripts/fixtures)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("gbrt-").tempdir().unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let st = Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&rootfs)
            .status()
            .unwrap();
        assert!(st.success());
        let b = Bundle {
            dir,
            ids: Vec::new(),
        };
        let o = b.rt(&["spec", "--bundle", b.bundle().to_str().unwrap()]);
        assert!(o.status.success(), "spec: {}", stderr(&o));
        Some(b)
    }
    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// Edit config.json.
    fn config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let p = self.bundle().join("config.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    fn id(&mut self, tag: &str) -> String {
        let id = format!("gbrt-{tag}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(RUNTIME);
        c.arg("--root").arg(self.root());
        c.env_remove("GLASSBOX_EXPLAIN");
        c
    }
    /// Run the runtime; the container's inherited streams go to files, so
    /// waiting for the runtime never waits for the container.
    fn rt(&self, args: &[&str]) -> Output {
        let out = std::fs::File::create(self.path("rt.out")).unwrap();
        let err = std::fs::File::create(self.path("rt.err")).unwrap();
        let st = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        Output {
            status: st,
            stdout: std::fs::read(self.path("rt.out")).unwrap_or_default(),
            stderr: std::fs::read(self.path("rt.err")).unwrap_or_default(),
        }
    }
    /// config.json for `sleep 300` in a new user namespace mapping ids
    /// 0..32768 to host ids from `host` (as podman --uidmap 0:HOST:32768).
    /// The container's root is an unprivileged host user: it must be able to
    /// walk to the rootfs (a temp dir is 0700).
    fn sleep_in_user_namespace(&self, host: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        self.config(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(["sleep", "300"]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.push(serde_json::json!({"type": "user"}));
            let map = serde_json::json!([{"containerID": 0, "hostID": host, "size": 32768}]);
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map;
        });
    }
    /// A host id range of this test process's own: two of 32768 ids.
    fn host_ids(half: u32) -> u32 {
        300_000 + (std::process::id() % 1000) * 65536 + half * 32768
    }
    fn state(&self, id: &str) -> serde_json::Value {
        let o = self.rt(&["state", id]);
        assert!(o.status.success(), "state {id}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.rt(&["delete", "--force", id]);
        }
    }
}

fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(rel))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn create_start_state_kill_delete_cycle() {
    let Some(mut b) = Bundle::new() else { return };
    let id = b.id("cycle");
    let cg = format!("gbrt-test/{id}");
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] =
            serde_json::json!(["sh", "-c", "hostname > /started; exec sleep 300"]);
        // runc's default spec has a read-only root; the program writes a marker.
        c["root"]["readonly"] = false.into();
        c["linux"]["cgroupsPath"] = format!("/{cg}").into();
        c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 50});
    });
    let bundle = b.bundle();
    let o = b.rt(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        b.path("pid").to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let st = b.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(
        Path::new(st["bundle"].as_str().unwrap()),
        bundle.canonicalize().unwrap()
    );
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    let pid_file = std::fs::read_to_string(b.path("pid")).unwrap();
    assert_eq!(pid_file.trim(), pid.to_string());
    // set up and waiting: in its cgroup (with its limit), the program not run yet
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let pids_dir = Path::new("/sys/fs/cgroup/pids").join(&cg);
    if pids_dir.exists() {
        assert_eq!(
            std::fs::read_to_string(pids_dir.join("pids.max"))
                .unwrap()
                .trim(),
            "50"
        );
        let procs = std::fs::read_to_string(pids_dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "{procs}"
        );
    }
    let started = bundle.join("rootfs/started");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!started.exists(), "the program ran before start");
    // a second create of the same id is refused
    let again = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    // start: the program runs, in its own UTS namespace with config.json's hostname
    let o = b.rt(&["start", &id]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    // The shell makes the file before hostname writes into it: wait for the line.
    eventually(5, "the program to start", || {
        std::fs::read_to_string(&started).is_ok_and(|t| t.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(&started).unwrap().trim(),
        "glassbox"
    );
    assert_eq!(b.state(&id)["status"], "running");
    // a second start is refused; delete of a running container too
    assert!(!b.rt(&["start", &id]).status.success());
    let o = b.rt(&["delete", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not stopped"), "{}", stderr(&o));
    // list shows it
    let o = b.rt(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str() && c["status"] == "running"),
        "{list}"
    );
    // ps lists the container's process
    let o = b.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(pids.contains(&pid), "{pids:?}");
    // kill by name (positional), then the state says stopped
    let o = b.rt(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "kill: {}", stderr(&o));
    eventually(5, "the container to stop", || {
        b.state(&id)["status"] == "stopped"
    });
    let o = b.rt(&["delete", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
    assert!(!b.root().join(&id).exists());
    assert!(
        cgroup_dirs(&cg).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&cg)
    );
    let o = b.rt(&["state", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    for d in cgroup_dirs("gbrt-test") {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn kill_takes_signal_numbers_and_delete_force_kills() {
    let Some(mut b) = Bundle::new() else { return };
    let id = b.id("force");
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
    });
    let bundle = b.bundle();
    let o = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    assert!(b.rt(&["start", &id]).status.success());
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    // an unknown signal is refused and changes nothing
    let o = b.rt(&["kill", &id, "NOSUCH"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("NOSUCH"), "{}", stderr(&o));
    assert_eq!(b.state(&id)["status"], "running");
    // SIGSTOP by number: still there (stopped processes are alive)
    assert!(b.rt(&["kill", &id, "19"]).status.success());
    assert_eq!(b.state(&id)["status"], "running");
    let o = b.rt(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete --force: {}", stderr(&o));
    eventually(5, "the process to be gone", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z"))
    });
    assert!(!b.root().join(&id).exists());
}

#[test]
fn hooks_run_with_the_state_and_a_failing_prestart_leaves_nothing() {
    let Some(mut b) = Bundle::new() else { return };
    let id = b.id("hooks");
    let out = b.path("hooks");
    std::fs::create_dir_all(&out).unwrap();
    let hook = |stage: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{stage}.json", out.display())],
        })
    };
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["true"]);
        c["hooks"] = serde_json::json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    let bundle = b.bundle();
    let o = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    for stage in ["prestart", "createRuntime"] {
        let st: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{stage}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(st["id"], id.as_str(), "{stage}: {st}");
        assert_eq!(st["pid"].as_i64(), Some(pid), "{stage}: {st}");
    }
    assert!(!out.join("poststart.json").exists());
    assert!(b.rt(&["start", &id]).status.success());
    assert!(out.join("poststart.json").exists());
    eventually(5, "true to exit", || b.state(&id)["status"] == "stopped");
    assert!(!out.join("poststop.json").exists());
    assert!(b.rt(&["delete", &id]).status.success());
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("poststop.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "stopped");

    // A failing prestart hook fails create: no state, no cgroup, no process.
    let bad = b.id("badhook");
    let cg = format!("gbrt-test/{bad}");
    b.config(|c| {
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
        c["linux"]["cgroupsPath"] = format!("/{cg}").into();
        c["hooks"] = serde_json::json!({
            "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no network for you >&2; exit 3"]}],
        });
    });
    let log = b.path("bad.log");
    let o = b.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        &bad,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("prestart hook"),
        "{:?}\n{}\n{}\nlog: {}",
        o.status,
        stdout(&o),
        stderr(&o),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(stderr(&o).contains("no network for you"), "{}", stderr(&o));
    assert!(!b.root().join(&bad).exists(), "state left behind");
    assert!(
        cgroup_dirs(&cg).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&cg)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("no network for you"), "{text}");
    for d in cgroup_dirs("gbrt-test") {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn errors_go_to_the_log_file_as_json_lines() {
    let Some(b) = Bundle::new() else { return };
    let log = b.path("runtime.log");
    let missing = b.path("no-such-bundle");
    let o = b.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        missing.to_str().unwrap(),
        "gbrt-nobundle",
    ]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"].as_str().unwrap().contains("no-such-bundle"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().starts_with("20"), "{line}");
    // text format
    let o = b.rt(&["--log", log.to_str().unwrap(), "state", "gbrt-nosuch"]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().last().unwrap().contains("level=error"),
        "{text}"
    );
    // --systemd-cgroup is refused with what to do instead
    let o = b.rt(&["--systemd-cgroup", "list"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cgroupfs"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("ID"));
}

/// podman with glassbox-runtime as its OCI runtime: private storage and
/// run dirs, a private containers.conf (this host lacks CAP_SYS_RESOURCE:
/// podman's default ulimits would be refused; cgroupfs, as glassbox-runtime
/// refuses systemd cgroups), busybox loaded from the fixture.
struct Podman {
    dir: tempfile::TempDir,
    /// Whether podman's cgroupfs parent existed before the test (then it is
    /// someone else's and stays).
    had_libpod_parent: bool,
    /// Held until after the clean-up: podman tests share libpod_parent, and
    /// one test's clean-up must not rmdir a cgroup another's container is
    /// about to join.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static PODMAN_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// podman's cgroupfs parent in every v1 hierarchy (or the v2 root).
fn libpod_parents() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join("libpod_parent");
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    out
}

/// rmdir a cgroup tree bottom-up; a cgroup that still holds a process stays.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Podman {
    fn new() -> Option<Podman> {
        let ok = Command::new("podman")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok || !is_root() {
            eprintln!("skipped: needs podman (scripts/test installs it) and root");
            return None;
        }
        let Some(image) = fixture("busybox-docker.tar") else {
            eprintln!("skipped: no busybox-docker.tar fixture");
            return None;
        };
        let lock = PODMAN_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::Builder::new().prefix("gbpm-").tempdir().unwrap();
        // Networks live in the test's own CNI config dir (a private bridge
        // and subnet), never in the host's /etc/cni/net.d.
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\n\
                 [network]\nnetwork_config_dir = \"{}\"\n",
                dir.path().join("cni").display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("cni")).unwrap();
        let pm = Podman {
            dir,
            had_libpod_parent: !libpod_parents().is_empty(),
            _one_at_a_time: lock,
        };
        pm.ok(&["load", "-i", image.to_str().unwrap()]);
        Some(pm)
    }
    /// podman's global options for this test's storage and runtime.
    fn globals(&self) -> Vec<String> {
        let mut v = common::podman_private_storage(self.dir.path());
        v.extend(["--runtime".into(), RUNTIME.into()]);
        v
    }
    /// The same podman as a shell command line (for tmux).
    fn shell_line(&self, args: &[&str]) -> String {
        let mut line = format!(
            "env -u GLASSBOX_EXPLAIN CONTAINERS_CONF={} podman",
            self.dir.path().join("containers.conf").display()
        );
        for a in self
            .globals()
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
        {
            line.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        }
        line
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env_remove("GLASSBOX_EXPLAIN")
            .args(self.globals())
            .args(args);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podman")
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "podman {args:?} failed\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        // vfs layers and podman's run dir: unmount anything left, then remove.
        let _ = self.run(&["system", "reset", "-f"]);
        if !self.had_libpod_parent {
            for p in libpod_parents() {
                remove_cgroup_tree(&p);
            }
        }
    }
}

#[test]
fn podman_runs_containers_with_glassbox_runtime() {
    let Some(pm) = Podman::new() else { return };
    let out = pm.ok(&["run", "--rm", "--network", "none", "busybox", "echo", "hi"]);
    assert_eq!(out.trim(), "hi");
    // exit codes come through
    let o = pm.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    // detached, exec, logs, stop, rm
    let name = format!("gbpm-{}", std::process::id());
    pm.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo up; exec sleep 300",
    ]);
    let out = pm.ok(&["exec", &name, "cat", "/proc/1/cmdline"]);
    assert!(out.starts_with("sleep"), "{out:?}");
    let out = pm.ok(&["exec", &name, "sh", "-c", "echo $((6*7))"]);
    assert_eq!(out.trim(), "42");
    eventually(5, "the log line", || pm.ok(&["logs", &name]).contains("up"));
    let st = pm.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(st.trim(), "running");
    pm.ok(&["stop", "-t", "2", &name]);
    let st = pm.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(st.trim(), "exited");
    pm.ok(&["rm", &name]);
    // --memory reaches the cgroup; --cap-drop the process's capabilities
    let out = pm.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory",
        "64m",
        "busybox",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(out.trim(), (64 * 1024 * 1024).to_string());
    let out = pm.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-drop",
        "all",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(out.contains("0000000000000000"), "{out}");
    let o = pm.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-drop",
        "chown",
        "busybox",
        "chown",
        "nobody",
        "/tmp",
    ]);
    assert!(!o.status.success(), "chown worked without CAP_CHOWN");
    // --uidmap/--gidmap: a user namespace with podman's maps, several
    // ranges, uids and gids each their own
    let out = pm.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--uidmap",
        "0:300000:1000",
        "--uidmap",
        "1000:310000:64536",
        "--gidmap",
        "0:400000:65536",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
    ]);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "0", "0", "300000", "1000", "1000", "310000", "64536", "0", "400000", "65536"],
        "{out}"
    );
}

#[test]
fn podman_run_it_gets_a_terminal_through_the_console_socket() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let Some(pm) = Podman::new() else { return };
    let done = pm.dir.path().join("exit-code");
    // conmon makes the console socket; glassbox-runtime sends the PTY
    // master to it; podman relays tmux's terminal to it.
    let line = format!(
        "{}; echo $? > {}",
        pm.shell_line(&["run", "-it", "--rm", "--network", "none", "busybox", "sh"]),
        done.display()
    );
    let t = Tmux::start(&format!("gbrt-it-{}", std::process::id()), &line);
    t.wait_for("/ # ");
    t.type_text("echo $((6*7)) on $(tty); stty size");
    t.keys(&["Enter"]);
    let screen = t.wait_for("42 on ");
    // a real terminal inside (the console), sized as tmux's window
    assert!(screen.contains("42 on /dev/console"), "{screen}");
    t.wait_for("50 200");
    t.type_text("exit 3");
    t.keys(&["Enter"]);
    eventually(30, "podman to exit", || {
        std::fs::read_to_string(&done).is_ok_and(|t| t.ends_with('\n'))
    });
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "3");
}

/// One table's rules (`iptables -t TABLE -S`).
fn iptables_rules(table: &str) -> Vec<String> {
    let o = Command::new("iptables")
        .args(["-t", table, "-S"])
        .output()
        .expect("iptables");
    stdout(&o).lines().map(String::from).collect()
}

/// Take away the CNI rules and chains that appeared since `before`, rules
/// first (they jump to the chains); never a flush: what was there stays.
fn remove_new_cni_rules(table: &str, before: &[String]) {
    let now = iptables_rules(table);
    let new = |l: &&String| !before.contains(l) && l.contains("CNI-");
    for rule in now.iter().filter(new).filter(|l| l.starts_with("-A ")) {
        // -S prints rules quoted for a shell: let one parse them again.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("iptables -t {table} -D {}", &rule[3..]))
            .status();
    }
    for chain in now.iter().filter(new).filter(|l| l.starts_with("-N ")) {
        let _ = Command::new("iptables")
            .args(["-t", table, "-X", &chain[3..]])
            .status();
    }
}

/// A private CNI network in the test's config dir, and on drop everything
/// CNI made on the host for it: bridge, iptables rules, ip_forward.
struct CniNetwork {
    name: String,
    bridge: String,
    nat: Vec<String>,
    filter: Vec<String>,
    ip_forward: String,
}

impl CniNetwork {
    fn new(pm: &Podman) -> Option<CniNetwork> {
        let have = |p: &str| Path::new(p).exists();
        if !have("/usr/lib/cni/bridge") || !have("/usr/lib/cni/portmap") {
            eprintln!("skipped: needs containernetworking-plugins (scripts/test installs it)");
            return None;
        }
        if Command::new("iptables").arg("-V").output().is_err() {
            eprintln!("skipped: needs iptables (scripts/test installs it)");
            return None;
        }
        let n = std::process::id();
        let net = CniNetwork {
            name: format!("gbpm-{n}"),
            bridge: format!("gbpm{n}"),
            nat: iptables_rules("nat"),
            filter: iptables_rules("filter"),
            ip_forward: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        // host-local keeps its leases in the test's dir; no ipMasq and no
        // firewall plugin: only what -p needs (bridge with a gateway, portmap).
        let subnet = format!("10.213.{}", 20 + n % 200);
        let conf = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": net.name,
            "plugins": [
                {"type": "bridge", "bridge": net.bridge, "isGateway": true, "ipMasq": false,
                 "ipam": {"type": "host-local",
                          "dataDir": pm.dir.path().join("cni-leases"),
                          "ranges": [[{"subnet": format!("{subnet}.0/24"),
                                       "gateway": format!("{subnet}.1")}]]}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
            ],
        });
        std::fs::write(
            pm.dir.path().join(format!("cni/{}.conflist", net.name)),
            serde_json::to_string_pretty(&conf).unwrap(),
        )
        .unwrap();
        Some(net)
    }
}

impl Drop for CniNetwork {
    fn drop(&mut self) {
        remove_new_cni_rules("nat", &self.nat);
        remove_new_cni_rules("filter", &self.filter);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        // The bridge plugin turns forwarding on for its gateway.
        if !self.ip_forward.is_empty() {
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", &self.ip_forward);
        }
    }
}

/// An HTTP GET to 127.0.0.1:port; the whole answer.
fn http_get(port: u16) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn podman_publishes_a_port_into_the_network_namespace_it_made() {
    let Some(pm) = Podman::new() else { return };
    // Declared after pm: dropped first, once podman has removed the container.
    let Some(net) = CniNetwork::new(&pm) else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = format!("gbpm-web-{}", std::process::id());
    let publish = format!("127.0.0.1:{port}:80");
    pm.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net.name,
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    // podman made the namespace and gave glassbox-runtime its path to join.
    let netns = pm.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.SandboxKey}}",
        &name,
    ]);
    assert!(netns.trim().starts_with("/run/netns/"), "{netns}");
    let mut answer = String::new();
    eventually(20, "httpd to answer on the published port", || {
        answer = http_get(port).unwrap_or_default();
        answer.contains("hello from")
    });
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "{answer}"
    );
    pm.ok(&["rm", "-f", "-t", "0", &name]);
    assert!(http_get(port).is_err(), "the port still answers after rm");
    drop(net);
}

/// A private containerd (Debian's package): its own root, state and socket
/// in a temp dir, the plugins that would reach past it (CRI, tracing, other
/// snapshotters) off; killed by PID at the end. containerd 1.6's runc shim
/// keeps its socket in /run/containerd/s whatever the config says: the test
/// removes the directories there that it made.
struct Containerd {
    dir: tempfile::TempDir,
    daemon: std::process::Child,
    namespace: String,
    run_dirs_before: Vec<PathBuf>,
}

const RUN_CONTAINERD: &str = "/run/containerd";

fn run_containerd_dirs() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(RUN_CONTAINERD)];
    for sub in ["s", "fifo", "runc"] {
        v.push(Path::new(RUN_CONTAINERD).join(sub));
    }
    v.retain(|p| p.exists());
    v
}

impl Containerd {
    fn start() -> Option<Containerd> {
        let have = |bin: &str| {
            Command::new(bin)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !is_root() || !have("containerd") || !have("ctr") {
            eprintln!("skipped: needs root and containerd (scripts/test installs it)");
            return None;
        }
        let Some(image) = fixture("busybox-oci.tar") else {
            eprintln!("skipped: no busybox-oci.tar fixture");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("gbctr-").tempdir().unwrap();
        let d = dir.path().display().to_string();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\", \
             \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \
             \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.tracing.processor.v1.otlp\", \
             \"io.containerd.internal.v1.tracing\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n[ttrpc]\n  address = \"\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let run_dirs_before = run_containerd_dirs();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd {
            dir,
            daemon,
            namespace: format!("gbctr-{}", std::process::id()),
            run_dirs_before,
        };
        eventually(20, "containerd's socket", || {
            c.dir.path().join("containerd.sock").exists()
        });
        c.ok(&["images", "import", image.to_str().unwrap()]);
        Some(c)
    }
    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["--namespace", &self.namespace])
            .args(args)
            .env_remove("GLASSBOX_EXPLAIN")
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(
            o.status.success(),
            "ctr {args:?} failed\n{}\n{}\ncontainerd's log (end):\n{}",
            stdout(&o),
            stderr(&o),
            self.log_tail()
        );
        stdout(&o)
    }
    fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
    /// Where the runc shim tells glassbox-runtime to keep state (--runc-root).
    fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("runtime")
    }
    /// `ctr run` options that make the runc shim call glassbox-runtime.
    fn run_args(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            RUNTIME.into(),
            "--runc-root".into(),
            self.runtime_root().display().to_string(),
            "--fifo-dir".into(),
            self.dir.path().join("fifo").display().to_string(),
        ]
    }
    /// A task's status in `ctr task ls` (RUNNING, STOPPED...).
    fn task_status(&self, id: &str) -> String {
        self.ok(&["task", "ls"])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks and containers first: the shim unmounts rootfs and exits.
        let tasks = stdout(&self.ctr(&["task", "ls", "-q"]));
        for t in tasks.lines() {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", t]);
            let _ = self.ctr(&["task", "rm", "-f", t]);
        }
        for c in stdout(&self.ctr(&["containers", "ls", "-q"])).lines() {
            let _ = self.ctr(&["containers", "rm", c]);
        }
        // Shims left over (a failed test): by PID, found by this test's socket.
        let sock = self
            .dir
            .path()
            .join("containerd.sock")
            .display()
            .to_string();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.starts_with("/usr/bin/containerd-shim") && cmd.contains(&sock) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.daemon.try_wait().ok().flatten().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Snapshot and rootfs mounts left under the temp dir, deepest first.
        let mut mounts = common::host_mounts_under(self.dir.path())
            .iter()
            .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
            .collect::<Vec<_>>();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // The container cgroups (cgroupsPath /NAMESPACE/ID).
        for d in cgroup_dirs(&self.namespace) {
            remove_cgroup_tree(&d);
        }
        // /run/containerd's directories this test made, if left empty.
        let mut made: Vec<PathBuf> = run_containerd_dirs()
            .into_iter()
            .filter(|d| !self.run_dirs_before.contains(d))
            .collect();
        made.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for d in made {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn containerd_runs_tasks_with_glassbox_runtime_as_the_runc_binary() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let n = std::process::id();
    let opts = ctd.run_args();
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    // a task that prints and exits: its output and exit code come through
    let id = format!("gbctr-echo-{n}");
    let mut args = vec!["run", "--rm"];
    args.extend(&opts);
    args.extend(["busybox:latest", &id, "echo", "hi from containerd"]);
    let out = ctd.ok(&args);
    assert_eq!(out.trim(), "hi from containerd");
    let id = format!("gbctr-exit-{n}");
    let mut args = vec!["run", "--rm"];
    args.extend(&opts);
    args.extend(["busybox:latest", &id, "sh", "-c", "exit 7"]);
    let o = ctd.ctr(&args);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    // a detached task: exec into it, kill it
    let id = format!("gbctr-sleep-{n}");
    let mut args = vec!["run", "-d"];
    args.extend(&opts);
    args.extend(["busybox:latest", &id, "sleep", "300"]);
    ctd.ok(&args);
    assert_eq!(ctd.task_status(&id), "RUNNING");
    // glassbox-runtime keeps it, under the root the shim gave it
    let o = Command::new(RUNTIME)
        .arg("--root")
        .arg(ctd.runtime_root().join(&ctd.namespace))
        .args(["state", &id])
        .output()
        .unwrap();
    assert!(o.status.success(), "state: {}", stderr(&o));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    let task_pid = ctd
        .ok(&["task", "ls"])
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1).map(String::from))
        .unwrap_or_default();
    assert_eq!(task_pid, pid.to_string());
    let out = ctd.ok(&[
        "task",
        "exec",
        "--exec-id",
        "calc",
        &id,
        "sh",
        "-c",
        "echo $((6*7)) $(cat /proc/1/cmdline | tr '\\0' ' ')",
    ]);
    assert_eq!(out.trim(), "42 sleep 300");
    ctd.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    eventually(10, "the task to stop", || ctd.task_status(&id) == "STOPPED");
    ctd.ok(&["task", "rm", &id]);
    ctd.ok(&["containers", "rm", &id]);
    assert!(!ctd.runtime_root().join(&ctd.namespace).join(&id).exists());
    assert!(cgroup_dirs(&format!("{}/{id}", ctd.namespace)).is_empty());
}

/// This process's cgroup in the v1 hierarchy `name` ("/" if none).
fn own_cgroup(name: &str) -> String {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctl, path) = (p.next()?, p.next()?, p.next()?);
            ctl.split(',').any(|c| c == name).then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".into())
}

#[test]
fn a_relative_cgroups_path_is_under_the_runtime_own_cgroup() {
    let Some(mut b) = Bundle::new() else { return };
    let pids_root = Path::new("/sys/fs/cgroup/pids");
    if !pids_root.join("cgroup.procs").exists() {
        eprintln!("skipped: needs the cgroup v1 pids hierarchy (v2 is covered by the unit test)");
        return;
    }
    let id = b.id("relcg");
    // The runtime runs in a pids cgroup of the test's making: the relative
    // path must land under it there, and under the test's own elsewhere.
    let parent = pids_root.join(format!("gbrt-parent-{}", std::process::id()));
    std::fs::create_dir_all(&parent).unwrap();
    let rel = format!("gbrt-rel-{}", std::process::id());
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
        c["linux"]["cgroupsPath"] = format!("{rel}/{id}").into();
    });
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec {RUNTIME} --root {} create --bundle {} {id}",
            parent.display(),
            b.root().display(),
            b.bundle().display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(b.path("create.err")).unwrap())
        .status()
        .unwrap();
    let created = st.success();
    let err = std::fs::read_to_string(b.path("create.err")).unwrap_or_default();
    let under_parent = parent.join(&rel).join(&id);
    let memory = Path::new("/sys/fs/cgroup/memory")
        .join(own_cgroup("memory").trim_start_matches('/'))
        .join(&rel)
        .join(&id);
    let check = || {
        assert!(created, "create: {err}");
        let pid = b.state(&id)["pid"].as_i64().unwrap().to_string();
        let procs = std::fs::read_to_string(under_parent.join("cgroup.procs")).unwrap();
        assert!(procs.lines().any(|l| l == pid), "{procs}");
        if memory.parent().unwrap().parent().unwrap().exists() {
            let procs = std::fs::read_to_string(memory.join("cgroup.procs")).unwrap();
            assert!(procs.lines().any(|l| l == pid), "{procs}");
        }
        // nothing at the hierarchy's root by that name
        assert!(!pids_root.join(&rel).exists());
        let o = b.rt(&["delete", "--force", &id]);
        assert!(o.status.success(), "delete: {}", stderr(&o));
        assert!(
            !under_parent.exists(),
            "cgroup left: {}",
            under_parent.display()
        );
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    let _ = b.rt(&["delete", "--force", &id]);
    for d in [parent.join(&rel), memory.parent().unwrap().to_path_buf()] {
        remove_cgroup_tree(&d);
    }
    for d in cgroup_dirs(&rel) {
        remove_cgroup_tree(&d);
    }
    let _ = std::fs::remove_dir(&parent);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_user_namespace_gets_the_maps_of_config_json() {
    let Some(mut b) = Bundle::new() else { return };
    let id = b.id("userns");
    let host = Bundle::host_ids(0);
    b.sleep_in_user_namespace(host);
    let bundle = b.bundle();
    let o = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let maps = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap();
    let fields = |t: String| t.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(fields(maps("uid_map")), ["0", &host.to_string(), "32768"]);
    assert_eq!(fields(maps("gid_map")), ["0", &host.to_string(), "32768"]);
    assert!(b.rt(&["start", &id]).status.success());
    eventually(5, "sleep to run", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"))
    });
    // root inside is the range's first id on the host
    let status = maps("status");
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        fields(uid.to_string())[1..],
        [
            host.to_string(),
            host.to_string(),
            host.to_string(),
            host.to_string()
        ]
    );
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap(),
        own
    );
    assert!(b.rt(&["delete", "--force", &id]).status.success());

    // maps the kernel would refuse are refused up front, naming the entry
    let bad = b.id("userns-bad");
    b.config(|c| {
        c["linux"]["gidMappings"] = serde_json::json!([
            {"containerID": 0, "hostID": host, "size": 10},
            {"containerID": 10, "hostID": host + 5, "size": 10}
        ]);
    });
    let o = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &bad]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "gidMappings[1] (10:{}:10) overlaps gidMappings[0] (0:{host}:10) in host ids",
            host + 5
        )),
        "{}",
        stderr(&o)
    );
    assert!(!b.root().join(&bad).exists());

    // a namespace joined by path cannot go with a new user namespace: refused up front
    let joined = b.id("userns-join");
    b.config(|c| {
        c["linux"]["gidMappings"] = c["linux"]["uidMappings"].clone();
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(serde_json::json!({"type": "network", "path": "/proc/1/ns/net"}));
    });
    let o = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &joined]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/proc/1/ns/net") && stderr(&o).contains("user namespace"),
        "{}",
        stderr(&o)
    );
    assert!(!b.root().join(&joined).exists());
}

/// Several ranges, uids and gids each their own (podman's repeated
/// --uidmap/--gidmap): the container's uid_map and gid_map hold exactly
/// those lines, and its root is the first range's host ids.
#[test]
fn several_id_ranges_are_written_as_config_json_gives_them() {
    let Some(mut b) = Bundle::new() else { return };
    let id = b.id("userns-ranges");
    let host = Bundle::host_ids(0);
    b.sleep_in_user_namespace(host);
    let uids = [
        (0, host, 1000),
        (1000, host + 2000, 1),
        (1001, host + 5001, 2000),
    ];
    let gids = [(0, host + 10_000, 500), (500, host + 20_000, 100)];
    let json = |m: &[(u32, u32, u32)]| {
        m.iter()
            .map(|(c, h, n)| serde_json::json!({"containerID": c, "hostID": h, "size": n}))
            .collect::<Vec<_>>()
    };
    b.config(|c| {
        c["linux"]["uidMappings"] = json(&uids).into();
        c["linux"]["gidMappings"] = json(&gids).into();
    });
    let bundle = b.bundle();
    let o = b.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap();
    let lines = |text: String| {
        text.lines()
            .map(|l| {
                let n: Vec<u32> = l.split_whitespace().map(|n| n.parse().unwrap()).collect();
                (n[0], n[1], n[2])
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(read("uid_map")), uids);
    assert_eq!(lines(read("gid_map")), gids);
    assert!(b.rt(&["start", &id]).status.success());
    eventually(5, "sleep to run", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"))
    });
    let status = read("status");
    let ids = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace()
            .skip(1)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("Uid:"), vec![host.to_string(); 4]);
    assert_eq!(ids("Gid:"), vec![(host + 10_000).to_string(); 4]);
    assert_eq!(b.state(&id)["status"], "running");
    assert!(b.rt(&["delete", "--force", &id]).status.success());
}

#[test]
fn explain_narrates_every_verb_after_create() {
    let Some(mut b) = Bundle::new() else { return };
    let id = b.id("explain");
    let log = b.path("steps.log");
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
    });
    let bundle = b.bundle();
    let rt = |args: &[&str]| {
        let o = b
            .cmd()
            .env("GLASSBOX_EXPLAIN", "steps")
            .env("GLASSBOX_EXPLAIN_LOG", &log)
            .env("LANG", "C.UTF-8")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // a file, not a pipe: the container inherits it (see Bundle::rt)
            .stderr(std::fs::File::create(b.path("explain.err")).unwrap())
            .status()
            .unwrap();
        let err = std::fs::read_to_string(b.path("explain.err")).unwrap_or_default();
        assert!(o.success(), "{args:?}: {err}");
    };
    rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    rt(&["start", &id]);
    let has_freezer = Path::new("/sys/fs/cgroup/freezer/cgroup.procs").exists();
    if has_freezer {
        rt(&["pause", &id]);
        rt(&["resume", &id]);
    }
    rt(&["kill", &id, "KILL"]);
    eventually(5, "the container to stop", || {
        b.state(&id)["status"] == "stopped"
    });
    rt(&["delete", &id]);
    let text = std::fs::read_to_string(&log).unwrap();
    // Each verb's section, in order, with what it did to the kernel.
    let section = |verb: &str| -> String {
        let head = format!("== glassbox-runtime {verb} {id} (");
        let start = text
            .find(&head)
            .unwrap_or_else(|| panic!("no {verb} section:\n{text}"));
        let rest = &text[start + head.len()..];
        rest[..rest.find("\n== ").unwrap_or(rest.len())].to_string()
    };
    let start = section("start");
    assert!(
        start.contains(&format!("let process {pid} run its program")),
        "{start}"
    );
    assert!(
        start.contains("exec.fifo") || start.contains("fifo"),
        "{start}"
    );
    if has_freezer {
        let pause = section("pause");
        assert!(pause.contains("freezer") && pause.contains(&id), "{pause}");
        assert!(section("resume").contains("freezer"), "{text}");
    }
    let kill = section("kill");
    assert!(
        kill.contains(&pid.to_string()) && kill.contains("SIGKILL"),
        "{kill}"
    );
    let delete = section("delete");
    assert!(delete.contains(&id) && delete.contains("rmdir"), "{delete}");
    // the sections come in the order the verbs ran
    let at = |v: &str| text.find(&format!("== glassbox-runtime {v} ")).unwrap();
    assert!(at("create") < at("start") && at("start") < at("kill") && at("kill") < at("delete"));
}

/// A PID namespace joined by path (a pod sharing its processes): the second
/// container's process is born in the first one's PID namespace, sees its
/// processes and is not PID 1; the runtime itself stays in its own.
/// Joining a mount namespace by path is refused, naming it.
#[test]
fn a_pid_namespace_is_joined_by_path() {
    let Some(mut b) = Bundle::new() else { return };
    let sandbox = b.id("pidns-sandbox");
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
    });
    let bundle = b.bundle();
    let bundle = bundle.to_str().unwrap();
    let o = b.rt(&["create", "--bundle", bundle, &sandbox]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    assert!(b.rt(&["start", &sandbox]).status.success());
    let pid = b.state(&sandbox)["pid"].as_i64().unwrap();
    let ns = format!("/proc/{pid}/ns/pid");

    let member = b.id("pidns-member");
    b.config(|c| {
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo"
        ]);
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "pid");
        list.push(serde_json::json!({"type": "pid", "path": ns}));
    });
    let o = b.rt(&["run", "--bundle", bundle, &member]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("sleep 300"), "PID 1 is the sandbox's: {out}");
    let own: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid= line: {out}"));
    assert!(own > 1, "not the namespace's first process: {out}");

    // The host's own mount namespace (here this test's, reached by its PID)
    // is refused: pivot_root there would move every host process's root.
    let refused = b.id("join-host-mount");
    let path = format!("/proc/{}/ns/mnt", std::process::id());
    b.config(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "pid" && n["type"] != "mount");
        list.push(serde_json::json!({"type": "pid"}));
        list.push(serde_json::json!({"type": "mount", "path": path}));
    });
    let o = b.rt(&["create", "--bundle", bundle, &refused]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&path) && stderr(&o).contains("the host's"),
        "{}",
        stderr(&o)
    );
    assert!(!b.root().join(&refused).exists());
}

/// A process killed by PID and reaped when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A mount namespace joined by path is where the container's root is set
/// up, as runc does: the member runs in the sandbox's mount namespace, and
/// none of its mounts reach the host's.
#[test]
fn a_mount_namespace_is_joined_by_path() {
    let Some(mut b) = Bundle::new() else { return };
    // A sandbox with a mount namespace of its own that still shows the
    // host's files (as `unshare --mount` makes it).
    let sandbox = KillOnDrop(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "300"])
            .spawn()
            .unwrap(),
    );
    let ns = format!("/proc/{}/ns/mnt", sandbox.0.id());
    let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    eventually(5, "the sandbox's own mount namespace", || {
        std::fs::read_link(&ns).is_ok_and(|l| l != own)
    });
    let want = std::fs::read_link(&ns).unwrap();
    let member = b.id("mntns-member");
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["readlink", "/proc/self/ns/mnt"]);
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "mount");
        list.push(serde_json::json!({"type": "mount", "path": ns}));
    });
    let bundle = b.bundle();
    let o = b.rt(&["run", "--bundle", bundle.to_str().unwrap(), &member]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), want.to_str().unwrap(), "{}", stderr(&o));
    let leaked = common::host_mounts_under(&bundle);
    assert!(leaked.is_empty(), "mounts in the host's table: {leaked:?}");
    drop(sandbox);
}

/// A pod in a user namespace: the first container gets a new one (config's
/// maps), the second joins its user and PID namespaces by path and makes its
/// own mount, UTS and network namespaces, which belong to the joined user
/// namespace; root inside it is the pod's host id.
#[test]
fn a_user_namespace_is_joined_by_path_with_the_pods_pid_namespace() {
    let Some(mut b) = Bundle::new() else { return };
    let host = Bundle::host_ids(1);
    let sandbox = b.id("userns-pod");
    b.sleep_in_user_namespace(host);
    let bundle = b.bundle();
    let bundle = bundle.to_str().unwrap();
    let o = b.rt(&["create", "--bundle", bundle, &sandbox]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    assert!(b.rt(&["start", &sandbox]).status.success());
    let pod = b.state(&sandbox)["pid"].as_i64().unwrap();

    let member = b.id("userns-member");
    b.config(|c| {
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "user" && n["type"] != "pid");
        list.push(serde_json::json!({"type": "user", "path": format!("/proc/{pod}/ns/user")}));
        list.push(serde_json::json!({"type": "pid", "path": format!("/proc/{pod}/ns/pid")}));
    });
    let o = b.rt(&["create", "--bundle", bundle, &member]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(&member)["pid"].as_i64().unwrap();
    let ns = |p: i64, kind: &str| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).unwrap();
    assert_eq!(ns(pid, "user"), ns(pod, "user"));
    assert_eq!(ns(pid, "pid"), ns(pod, "pid"));
    for own in ["mnt", "uts", "net"] {
        assert_ne!(ns(pid, own), ns(pod, own), "{own}");
    }
    // Born with CLONE_PARENT: the runtime's child, whose state is its own.
    assert!(b.rt(&["start", &member]).status.success());
    eventually(5, "the member to run sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"))
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().nth(1),
        Some(host.to_string().as_str()),
        "{uid}"
    );
    assert_eq!(b.state(&member)["status"], "running");
    assert!(b.rt(&["delete", "--force", &member]).status.success());
    assert!(b.rt(&["delete", "--force", &sandbox]).status.success());
}
