//! Shared helpers for the integration tests: each test gets its own storage
//! root in a temp dir and drives the real `glassbox` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A file the fixtures script built (`$GLASSBOX_FIXTURES`, else target/fixtures).
pub fn fixture(name: &str) -> Option<PathBuf> {
    let dir = std::env::var("GLASSBOX_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures"));
    let p = dir.join(name);
    p.is_file().then_some(p)
}

pub struct Gb {
    pub dir: tempfile::TempDir,
}

/// Before the temp root goes: wait for the glassbox processes still working
/// on it (a detached `--rm` container's monitor finishing its clean-up), so
/// none of them re-creates the root after it was removed.
impl Drop for Gb {
    fn drop(&mut self) {
        let needle = self.root().display().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline && processes_using(&needle) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Whether any process's command line names `needle`.
fn processes_using(needle: &str) -> bool {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.chars().all(|c| c.is_ascii_digit())
                    && name != me
                    && std::fs::read(e.path().join("cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).contains(needle))
                        .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

impl Gb {
    pub fn new() -> Gb {
        Gb {
            dir: tempfile::Builder::new()
                .prefix("gbtest-")
                .tempdir()
                .expect("temp dir"),
        }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_glassbox"));
        c.arg("--root").arg(self.root());
        c.env_remove("GLASSBOX_ROOT")
            .env_remove("GLASSBOX_SIM_HOST")
            // The simulated clock pinned at 2026-01-01T00:00:00Z so simulated
            // output (times, ages) repeats; real-mode commands ignore it.
            .env("GLASSBOX_SIM_CLOCK", "1767225600")
            .env("LANG", "C")
            // No bridge unless a test asks for one (tests/network_real.rs):
            // the suite's other tests leave no bridge or nft rule behind.
            .env("GLASSBOX_DEFAULT_NETWORK", "none")
            .stdin(Stdio::null());
        c
    }
    /// `glassbox --simulate` on this store (the clock pinned, see `cmd`).
    pub fn sim_cmd(&self) -> Command {
        let mut c = self.cmd();
        c.arg("--simulate");
        c
    }
    /// As `sim_cmd`, the simulated clock going on a second at each reading
    /// (programs that sleep, restarts, waits).
    pub fn sim_ticking_cmd(&self) -> Command {
        let mut c = self.sim_cmd();
        c.env("GLASSBOX_SIM_CLOCK", "1767225600+1");
        c
    }
    /// Run `glassbox --simulate` with these arguments.
    pub fn sim(&self, args: &[&str]) -> Output {
        self.sim_cmd().args(args).output().expect("run glassbox")
    }
    /// As `sim`, on the ticking clock.
    pub fn sim_ticking(&self, args: &[&str]) -> Output {
        self.sim_ticking_cmd()
            .args(args)
            .output()
            .expect("run glassbox")
    }
    /// Run glassbox with these arguments and collect its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run glassbox")
    }
    /// The simulated host's own store under the root (`--simulate` works there).
    pub fn sim_root(&self) -> PathBuf {
        self.root().join("simulated")
    }
    /// Simulated containers' directories (in the simulated store).
    pub fn sim_containers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.sim_root().join("containers"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    }
    pub fn containers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.root().join("containers"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Real-kernel tests need root; elsewhere they say why they did nothing.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!(
                "skipped: this test runs real containers and needs root (CI runs it as root)"
            );
            return;
        }
    };
}

/// The records of a --trace-json file (one JSON object per step), in order.
pub fn trace_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("trace file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The `kind`s of a --trace-json file, in order.
pub fn trace_kinds(path: &Path) -> Vec<String> {
    trace_records(path)
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

/// glassbox cgroup directories that exist for a container id (v1 or v2).
pub fn cgroup_dirs_for(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let candidate = e.path().join("glassbox").join(id);
            if candidate.exists() {
                found.push(candidate);
            }
        }
    }
    let v2 = Path::new("/sys/fs/cgroup/glassbox").join(id);
    if v2.exists() {
        found.push(v2);
    }
    found
}

/// Mount points that mention this path (there should be none on the host).
pub fn host_mounts_under(path: &Path) -> Vec<String> {
    let needle = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}

/// A terminal session in tmux, for driving interactive programs as a person would.
pub struct Tmux {
    pub name: String,
}

impl Tmux {
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
    /// Start `command` (a shell command line) in a detached 200x50 session.
    pub fn start(name: &str, command: &str) -> Tmux {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", name])
            .output();
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "200",
                "-y",
                "50",
                command,
            ])
            .status()
            .expect("tmux")
            .success();
        assert!(ok, "tmux could not start");
        Tmux {
            name: name.to_string(),
        }
    }
    pub fn keys(&self, keys: &[&str]) {
        let mut c = Command::new("tmux");
        c.args(["send-keys", "-t", &self.name]).args(keys);
        assert!(c.status().unwrap().success());
    }
    /// Type text literally (no key names), without Enter.
    pub fn type_text(&self, text: &str) {
        assert!(Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", text])
            .status()
            .unwrap()
            .success());
    }
    pub fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-2000", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// Wait until the screen shows `text` (up to 60 s: CI runs tests in parallel); the screen on failure.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            if std::time::Instant::now() > deadline {
                panic!("timed out waiting for {text:?}; screen:\n{s}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    /// How many times `text` is on the screen.
    pub fn count(&self, text: &str) -> usize {
        self.screen().matches(text).count()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .output();
    }
}

/// The output of a glassbox command that must succeed (fails the test with both streams otherwise).
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "glassbox failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Poll until `f` holds, or fail after `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Force-removes every container of the test's root when dropped (also on panic).
pub struct Cleanup<'a>(pub &'a Gb);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let ids = stdout(&self.0.run(&["ps", "-aq", "--no-trunc"]));
        for id in ids.lines().filter(|l| !l.is_empty()) {
            let _ = self.0.run(&["rm", "-f", id]);
        }
    }
}

/// Nothing of these containers is left: no cgroup, no container directory.
pub fn assert_clean(gb: &Gb, ids: &[String]) {
    for id in ids {
        assert!(cgroup_dirs_for(id).is_empty(), "cgroup left for {id}");
    }
    assert!(
        gb.containers().is_empty(),
        "containers left: {:?}",
        gb.containers()
    );
}

/// A tar archive of regular files (mode 0644), built in memory.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A directory of its own under the host's cgroup2 mount (the v2 hierarchy
/// of a v2 or hybrid host; /sys/fs/cgroup/unified on the dev VM), removed
/// on drop with everything below it: processes still in it are killed by
/// PID first.
pub struct Cgroup2Scratch {
    pub path: PathBuf,
}

impl Cgroup2Scratch {
    /// None when the host has no cgroup2 mount.
    pub fn new(tag: &str) -> Option<Cgroup2Scratch> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mount = info.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let sep = f.iter().position(|x| *x == "-")?;
            (f.get(sep + 1) == Some(&"cgroup2")).then(|| PathBuf::from(f[4]))
        })?;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = mount.join(format!("gbtest-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).ok()?;
        Some(Cgroup2Scratch { path })
    }
}

impl Drop for Cgroup2Scratch {
    fn drop(&mut self) {
        fn clear(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        clear(&e.path());
                    }
                }
            }
            for _ in 0..100 {
                let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                if pids.trim().is_empty() {
                    break;
                }
                for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = std::fs::remove_dir(dir);
        }
        clear(&self.path);
    }
}

/// A build context for an image with glassbox's `udp-echo` in busybox
/// (`glassbox::programs`), under `dir`: what answers a UDP port published
/// with `-p …/udp`, for real and in simulation alike.
#[allow(dead_code)]
pub fn udp_echo_context(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let ctx = dir.join("udp-echo-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY udp-echo /bin/udp-echo\nCMD [\"udp-echo\", \"53\"]\n",
    )
    .unwrap();
    let program = glassbox::programs::Program::UdpEcho
        .bytes()
        .expect("glassbox carries udp-echo for this machine");
    std::fs::write(ctx.join("udp-echo"), program).unwrap();
    std::fs::set_permissions(ctx.join("udp-echo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    ctx
}

/// podman's global options for a test's own throwaway storage under `dir`
/// (vfs, cgroupfs, no events journal): the host's podman images and
/// containers are never touched.
#[allow(dead_code)]
pub fn podman_private_storage(dir: &Path) -> Vec<String> {
    vec![
        "--root".into(),
        dir.join("root").display().to_string(),
        "--runroot".into(),
        dir.join("run").display().to_string(),
        "--storage-driver".into(),
        "vfs".into(),
        "--cgroup-manager".into(),
        "cgroupfs".into(),
        "--events-backend".into(),
        "none".into(),
    ]
}

/// A build context directory with these files (0755 for names ending `.sh`).
pub fn build_context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("gbctx-").tempdir().unwrap();
    for (name, text) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        if name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    d
}
