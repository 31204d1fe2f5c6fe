//! The verbs around a running container: exec, update, events; and the
//! two that need none: features, spec.

use super::plan::{self, bad};
use super::state::{self, Status};
use super::{do_step, Runtime};
use crate::kernel::linux::LinuxKernel;
use crate::kernel::Kernel;
use crate::step::Step;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// A process.json (the OCI `process` object) to run instead of CMD.
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long, short = 't')]
    pub tty: bool,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// UID[:GID].
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The process to run: --process FILE, or config.json's with CMD and the flags.
fn exec_process(a: &ExecArgs, bundle: &Path) -> Result<oci_spec::runtime::Process> {
    if let Some(file) = &a.process {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("read the process file {}", file.display()))?;
        return serde_json::from_str(&text)
            .map_err(|e| bad(format!("process file {}: {e}", file.display())));
    }
    if a.command.is_empty() {
        bail!(bad("exec needs a command (or --process FILE)".into()));
    }
    let spec = super::lifecycle::load_spec(bundle)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let mut user = p.user().clone();
        user.set_uid(
            uid.parse()
                .map_err(|_| bad(format!("--user {u:?}: use UID[:GID]")))?,
        );
        user.set_gid(
            gid.parse()
                .map_err(|_| bad(format!("--user {u:?}: use UID[:GID]")))?,
        );
        p.set_user(user);
    }
    Ok(p)
}

pub fn exec(rt: &Runtime, a: &ExecArgs) -> Result<i32> {
    let record = state::load(&rt.root, &a.id)?;
    let status = state::status(&rt.root, &record);
    if status != Status::Running && status != Status::Created {
        bail!(bad(format!(
            "cannot exec in container {}: it is {}",
            a.id,
            status.name()
        )));
    }
    let process = exec_process(a, &record.bundle)?;
    let argv = process.args().clone().unwrap_or_default();
    if argv.is_empty() {
        bail!(bad("the process to exec has no args".into()));
    }
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.console_socket.is_none() && a.detach {
        bail!(bad("exec --tty --detach needs --console-socket".into()));
    }
    let spec = super::lifecycle::load_spec(&record.bundle).ok();
    let mut warnings = Vec::new();
    let keep = plan::cap_set(
        &process
            .capabilities()
            .as_ref()
            .map(|c| {
                c.bounding()
                    .iter()
                    .flatten()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    )?;
    let seccomp = match &spec {
        Some(s) => plan::seccomp_step(s, keep)?,
        None => None,
    };
    let mut steps = vec![Step::SetNs {
        pid: record.pid,
        namespaces: record.namespaces.clone(),
    }];
    steps.extend(plan::process_steps(&process, seccomp, &mut warnings)?);
    steps.push(Step::Exec {
        argv,
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().display().to_string(),
        joined: true,
    });
    for w in &warnings {
        rt.log.warn(w);
    }
    let mut kernel = LinuxKernel::for_oci()?;
    if terminal {
        kernel.prepare_terminal_in(record.pid)?;
    }
    let mut observer = rt.observer("exec", &a.id);
    let pid = kernel.enter_child(rt.child_spec(steps, terminal, observer.as_ref()))?;
    let started = (|| -> Result<()> {
        do_step(
            &mut kernel,
            observer.as_mut(),
            &Step::CgroupJoin {
                paths: record.cgroups.clone(),
                pid,
            },
        )?;
        if let Err(f) = kernel.start_child(observer.as_mut())? {
            return Err(anyhow::Error::new(crate::error::ExitError::new(
                f.code,
                format!("{}: {}", f.kind, f.message),
            )));
        }
        if let Some(sock) = &a.console_socket {
            let master = kernel
                .take_terminal_master()
                .context("no terminal to send to the console socket")?;
            super::lifecycle::send_console(sock, &master)?;
        }
        if let Some(pf) = &a.pid_file {
            crate::fsutil::atomic_write_with(pf, pid.to_string().as_bytes(), false)
                .with_context(|| format!("write the pid file {}", pf.display()))?;
        }
        Ok(())
    })();
    if let Err(e) = started {
        kernel.kill_child();
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    kernel.wait_child()
}

fn read_input(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(arg).with_context(|| format!("read {arg}"))
    }
}

pub fn update(rt: &Runtime, id: &str, resources: Option<&str>) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    let Some(arg) = resources else {
        bail!(bad(
            "update needs --resources FILE (or - for standard input)".into()
        ));
    };
    let r: oci_spec::runtime::LinuxResources = serde_json::from_str(&read_input(arg)?)
        .map_err(|e| bad(format!("--resources {arg}: {e}")))?;
    let mut kernel = LinuxKernel::for_oci()?;
    let steps = plan::limit_steps(&plan::resources(&r), kernel.cgroup_setup(), &record.cgroups)?;
    let mut observer = rt.observer("update", id);
    for s in &steps {
        do_step(&mut kernel, observer.as_mut(), s)?;
    }
    Ok(())
}

fn read_num(dir: &Path, file: &str) -> Option<u64> {
    std::fs::read_to_string(dir.join(file))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// runc's `events --stats` object for the container's cgroup.
fn stats(record: &state::Record) -> serde_json::Value {
    let find = |file: &str| {
        record
            .cgroups
            .iter()
            .find(|c| c.join(file).exists())
            .cloned()
    };
    let mut data = serde_json::json!({});
    if let Some(d) = find("cpuacct.usage") {
        data["cpu"] = serde_json::json!({"usage": {"total": read_num(&d, "cpuacct.usage")}});
    } else if let Some(d) = find("cpu.stat") {
        let text = std::fs::read_to_string(d.join("cpu.stat")).unwrap_or_default();
        let usec = text
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        data["cpu"] = serde_json::json!({"usage": {"total": usec.map(|u| u * 1000)}});
    }
    if let Some(d) = find("memory.usage_in_bytes") {
        data["memory"] = serde_json::json!({"usage": {
            "usage": read_num(&d, "memory.usage_in_bytes"),
            "limit": read_num(&d, "memory.limit_in_bytes"),
            "max": read_num(&d, "memory.max_usage_in_bytes"),
        }});
    } else if let Some(d) = find("memory.current") {
        data["memory"] = serde_json::json!({"usage": {"usage": read_num(&d, "memory.current")}});
    }
    if let Some(d) = find("pids.current") {
        let limit = std::fs::read_to_string(d.join("pids.max")).unwrap_or_default();
        data["pids"] = serde_json::json!({"current": read_num(&d, "pids.current"), "limit": limit.trim().parse::<u64>().unwrap_or(0)});
    }
    serde_json::json!({"type": "stats", "id": record.id, "data": data})
}

pub fn events(rt: &Runtime, id: &str, once: bool, interval: &str) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    let every = interval
        .strip_suffix("ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
        .or_else(|| {
            interval
                .strip_suffix('s')
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_secs)
        })
        .ok_or_else(|| bad(format!("--interval {interval:?}: use e.g. 5s or 500ms")))?;
    loop {
        if state::status(&rt.root, &record) == Status::Stopped {
            if once {
                bail!(bad(format!("container {id} is not running")));
            }
            return Ok(());
        }
        println!("{}", stats(&record));
        if once {
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

pub fn features() -> Result<()> {
    let caps: Vec<&str> = crate::confine::caps::NAMES.to_vec();
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async",
            "dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "bind",
            "rbind", "relatime", "norelatime", "strictatime", "nostrictatime", "private", "rprivate",
            "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"],
                "operators": ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                    "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"],
                "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {"org.glassbox.runtime": "glassbox-runtime"},
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// A default config.json (oci-spec's default, which follows runc's).
pub fn spec(bundle: &Path, rootless: bool) -> Result<()> {
    if rootless {
        bail!(bad(
            "spec --rootless is not supported: glassbox-runtime runs as root".into()
        ));
    }
    let path = bundle.join("config.json");
    if path.exists() {
        bail!(bad(format!("{} exists: remove it first", path.display())));
    }
    let mut s = oci_spec::runtime::Spec::default();
    s.set_hostname(Some("glassbox".into()));
    // No inheritable set, as runc's spec since CVE-2022-29162 (oci-spec's
    // default still has one).
    if let Some(mut p) = s.process().clone() {
        if let Some(mut c) = p.capabilities().clone() {
            c.set_inheritable(None);
            p.set_capabilities(Some(c));
        }
        s.set_process(Some(p));
    }
    s.save(&path)
        .map_err(|e| bad(format!("write {}: {e}", path.display())))?;
    Ok(())
}
