//! The private registry a lesson or lab shares images through (seed 002
//! P27-P28 starts `registry:2` in a container; here it is Debian's
//! `docker-registry`, the same CNCF distribution program, run on the host).
//!
//! Real: on a free port of 127.0.0.1, with a temp directory for its config,
//! storage and (when the lesson has a user) an htpasswd file; the learner is
//! told the command, its PID and its directory. A lesson's registry is a
//! child of `learn` and is killed by that PID, its directory removed, when
//! the lesson ends, a check fails or the learner leaves ([`Drop`]). A lab's
//! must outlive `lab start`: its PID and directory are recorded in the
//! state directory, and `lab reset` (or the next `lab start`) stops it after
//! making sure the PID is still that registry.
//!
//! Simulated: the simulated registry (`registry::sim`) stands in at
//! [`SIM_HOST`], with the same users; nothing runs and nothing listens.
//!
//! Lessons and labs name the registry `$REGISTRY`; it is replaced by its
//! `host:port` before the file is read ([`super::catalog`]).

use super::model::RegistrySpec;
use super::runner::Runner;
use crate::step::Lang;
use anyhow::{bail, Context, Result};
use colored::Colorize;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the simulated registry stands in (the seeds' `127.0.0.1:5000`).
pub const SIM_HOST: &str = "127.0.0.1:5000";

/// What lessons and labs write for the registry's `host:port`.
pub const PLACEHOLDER: &str = "$REGISTRY";

/// The Debian package's binary.
const PROGRAM: &str = "docker-registry";

/// bcrypt's cost for the htpasswd file: the registry checks the password on
/// every request, so the lowest cost keeps a push (a dozen requests) quick.
/// It guards a throwaway registry on 127.0.0.1 with a password the lesson prints.
const BCRYPT_COST: u32 = 4;

/// A running (or simulated) registry; stopped when dropped.
pub struct LessonRegistry {
    pub host: String,
    lang: Lang,
    /// Real: the registry process (our child) and its directory.
    child: Option<std::process::Child>,
    dir: Option<PathBuf>,
    /// Simulated: the simulated store whose registry stands in.
    sim_store: Option<PathBuf>,
}

fn note(text: &str) {
    println!("{}", text.dimmed());
}

/// A free TCP port on 127.0.0.1 (the kernel picks it; we let it go just before
/// the registry binds it).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// Write the registry's config (and htpasswd) into `dir`; returns the config path.
fn write_config(dir: &Path, port: u16, spec: &RegistrySpec) -> Result<PathBuf> {
    std::fs::create_dir_all(dir.join("data"))?;
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: glassbox-lesson-{port}\n",
        dir.join("data").display()
    );
    if let (Some(user), Some(password)) = (&spec.user, &spec.password) {
        let hash = bcrypt::hash(password, BCRYPT_COST).context("hash the lesson's password")?;
        std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n"))?;
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: glassbox-lesson\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Whether something answers HTTP on `host` with a registry's `/v2/` (200 or 401).
fn answers(host: &str) -> bool {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(500))
        .build();
    match agent.get(&format!("http://{host}/v2/")).call() {
        Ok(_) => true,
        Err(ureq::Error::Status(401, _)) => true,
        Err(_) => false,
    }
}

/// Start `docker-registry serve CONFIG` in its own process group (a Ctrl-C
/// meant for a lesson command must not reach it), output to `dir/log`;
/// wait until it answers.
fn spawn(dir: &Path, config: &Path, host: &str) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(dir.join("log"))?;
    let mut child = std::process::Command::new(PROGRAM)
        .arg("serve")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "{PROGRAM} is not installed: this part runs a private registry (apt-get install docker-registry), or take it with --simulate"
                )
            } else {
                anyhow::anyhow!("start {PROGRAM}: {e}")
            }
        })?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if answers(host) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            bail!("{PROGRAM} exited ({status}) before answering on {host}: {log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("{PROGRAM} did not answer on {host} within 15 s")
}

fn said_start(lang: Lang, host: &str, spec: &RegistrySpec, how: &str) {
    let user = match &spec.user {
        Some(u) => lang
            .pick(
                &format!(
                    "; it asks for a login (user {u}, password {})",
                    spec.password.as_deref().unwrap_or("")
                ),
                &format!(
                    "；它要求登录（用户 {u}，密码 {}）",
                    spec.password.as_deref().unwrap_or("")
                ),
            )
            .to_string(),
        None => String::new(),
    };
    note(&lang.pick(
        &format!("  [registry] {how}; it serves the registry API on {host}{user}"),
        &format!("  [镜像仓库] {how}；它在 {host} 上提供镜像仓库 API{user}"),
    ));
}

impl LessonRegistry {
    /// Start the lesson's registry (real) or set up the simulated one.
    pub fn start(runner: &Runner, spec: &RegistrySpec) -> Result<LessonRegistry> {
        let lang = runner.lang;
        if runner.simulate {
            fresh_sim(&runner.store, spec)?;
            said_start(
                lang,
                SIM_HOST,
                spec,
                lang.pick(
                    "the simulated registry stands in for docker-registry (nothing listens)",
                    "由模拟镜像仓库代替 docker-registry（不监听任何端口）",
                ),
            );
            return Ok(LessonRegistry {
                host: SIM_HOST.into(),
                lang,
                child: None,
                dir: None,
                sim_store: Some(runner.store.clone()),
            });
        }
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let dir = tempdir(port)?;
        let started = write_config(&dir, port, spec).and_then(|c| Ok((spawn(&dir, &c, &host)?, c)));
        let (child, config) = match started {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        said_start(
            lang,
            &host,
            spec,
            &format!("{PROGRAM} serve {} (pid {})", config.display(), child.id()),
        );
        Ok(LessonRegistry {
            host,
            lang,
            child: Some(child),
            dir: Some(dir),
            sim_store: None,
        })
    }
}

fn tempdir(port: u16) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("glassbox-registry-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("make {}", dir.display()))?;
    Ok(dir)
}

/// The simulated registry at [`SIM_HOST`], emptied, with the spec's user.
fn fresh_sim(store: &Path, spec: &RegistrySpec) -> Result<()> {
    crate::registry::sim::remove_registry(store, SIM_HOST)?;
    if let (Some(user), Some(password)) = (&spec.user, &spec.password) {
        crate::registry::sim::add_user(store, SIM_HOST, user, password)?;
    }
    Ok(())
}

impl Drop for LessonRegistry {
    fn drop(&mut self) {
        if let Some(store) = &self.sim_store {
            let _ = crate::registry::sim::remove_registry(store, SIM_HOST);
            return;
        }
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let _ = child.kill(); // SIGKILL to our own child, by its PID
            let _ = child.wait();
            let dir = self.dir.take().unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            note(&self.lang.pick(
                &format!(
                    "  [registry] stopped (kill {pid}) and removed {}",
                    dir.display()
                ),
                &format!(
                    "  [镜像仓库] 已停止（kill {pid}），并删除了 {}",
                    dir.display()
                ),
            ));
        }
    }
}

// ---- a lab's registry: it outlives the `lab start` process ----------------

/// What `lab start` records about the registry it left running.
#[derive(Serialize, Deserialize)]
struct LabRegistry {
    pid: i32,
    host: String,
    dir: PathBuf,
    config: PathBuf,
}

fn lab_record() -> PathBuf {
    super::progress::state_dir().join("lab-registry.json")
}

/// The host of the lab's registry: the simulated one, or the one `lab start` recorded.
pub fn lab_host(runner: &Runner) -> Option<String> {
    if runner.simulate {
        return Some(SIM_HOST.into());
    }
    let r: LabRegistry = crate::fsutil::read_json(&lab_record()).ok()?;
    Some(r.host)
}

/// `lab start`: a registry for the lab, left running (recorded for `lab reset`).
pub fn start_for_lab(runner: &Runner, spec: &RegistrySpec) -> Result<String> {
    stop_for_lab(runner);
    if runner.simulate {
        fresh_sim(&runner.store, spec)?;
        return Ok(SIM_HOST.into());
    }
    let port = free_port()?;
    let host = format!("127.0.0.1:{port}");
    let dir = tempdir(port)?;
    let config = write_config(&dir, port, spec)?;
    let mut child = match spawn(&dir, &config, &host) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let record = LabRegistry {
        pid: child.id() as i32,
        host: host.clone(),
        dir: dir.clone(),
        config: config.clone(),
    };
    let saved = std::fs::create_dir_all(super::progress::state_dir())
        .map_err(anyhow::Error::from)
        .and_then(|_| crate::fsutil::write_json(&lab_record(), &record));
    if let Err(e) = saved {
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    said_start(
        runner.lang,
        &host,
        spec,
        &format!("{PROGRAM} serve {} (pid {})", config.display(), record.pid),
    );
    Ok(host)
}

/// Stop the lab's registry: only the recorded PID, and only while its command
/// line still names the recorded config (PIDs are reused); then its directory.
pub fn stop_for_lab(runner: &Runner) {
    if runner.simulate {
        let _ = crate::registry::sim::remove_registry(&runner.store, SIM_HOST);
        return;
    }
    let Ok(r) = crate::fsutil::read_json::<LabRegistry>(&lab_record()) else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", r.pid)).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&*r.config.to_string_lossy());
    if ours {
        let pid = nix::unistd::Pid::from_raw(r.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        // Not our child (lab start has exited): wait for /proc to let it go.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{}", r.pid)).exists() && Instant::now() < deadline {
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", r.pid)).unwrap_or_default();
            if stat.contains(") Z ") {
                break; // a zombie waiting for its parent: it holds no port
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = std::fs::remove_dir_all(&r.dir);
    let _ = std::fs::remove_file(lab_record());
}

// ---- curl: how the seeds read the registry's API ---------------------------

/// Whether a lesson line is a host `curl` rather than a glassbox command.
pub fn is_curl(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "curl")
}

/// The command line a learner sees for a lesson command.
pub fn shown(command: &str) -> String {
    if command.starts_with("curl ") {
        command.to_string()
    } else {
        format!("docker {command}")
    }
}

/// What `curl [-s] [-i] [-u USER:PASS] URL` says. Real: the host's curl,
/// refused for anything but 127.0.0.1 and localhost. Simulated: the
/// simulated registry answers the GET (see `registry::sim::http_get`).
pub fn curl(runner: &Runner, args: &[String]) -> Result<(i32, String)> {
    let mut url = None;
    let mut creds = None;
    let mut head = false;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" | "--silent" => {}
            "-i" | "--include" => head = true,
            "-u" | "--user" => {
                let v = it.next().context("curl: -u needs USER:PASSWORD")?;
                let (u, p) = v.split_once(':').unwrap_or((v, ""));
                creds = Some((u.to_string(), p.to_string()));
            }
            u if u.starts_with("http://") => url = Some(u.to_string()),
            other => {
                bail!("lessons run curl with -s, -i, -u and an http:// URL only, not {other:?}")
            }
        }
    }
    let url = url.context("curl: no http:// URL")?;
    let rest = &url["http://".len()..];
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let hostname = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if hostname != "127.0.0.1" && hostname != "localhost" {
        bail!("lessons reach only 127.0.0.1 and localhost, not {host}");
    }
    if !runner.simulate {
        let o = std::process::Command::new("curl")
            .args(&args[1..])
            .stdin(std::process::Stdio::null())
            .output()
            .context("run curl (apt-get install curl)")?;
        let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&o.stderr));
        return Ok((o.status.code().unwrap_or(128), text));
    }
    let (status, headers, body) = crate::registry::sim::http_get(&runner.store, host, path, creds);
    let mut out = String::new();
    if head {
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        out.push_str(&format!("HTTP/1.1 {status} {reason}\r\n"));
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
    }
    out.push_str(&body);
    Ok((0, out))
}
