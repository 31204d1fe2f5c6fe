//! The lifecycle verbs of the OCI runtime spec: create, start, state, kill,
//! delete (and runc's run, list, ps, pause, resume).

use super::cli::CreateArgs;
use super::plan::{self, bad};
use super::state::{self, Record, Status};
use super::{do_step, Runtime};
use crate::kernel::linux::LinuxKernel;
use crate::kernel::Kernel;
use crate::step::Step;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A created container: the kernel still holds its process (for `run`).
pub struct Created {
    pub kernel: LinuxKernel,
    pub record: Record,
}

/// Load config.json with oci-spec's types; a clear error naming the file.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    Spec::load(&path).map_err(|e| bad(format!("cannot load {}: {e}", path.display())))
}

/// Mark inherited fds above 2 + `preserve` close-on-exec: what the caller
/// left open must not reach the container (a caller waiting for end of file
/// on a pipe would wait for it), except the fds it asked to pass on.
fn cloexec_inherited(preserve: u32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|&fd| fd > 2 + preserve as i32)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD on descriptors this process holds.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

fn hook_state(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &serde_json::Value,
) -> String {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
    .to_string()
}

pub fn create(rt: &Runtime, a: &CreateArgs) -> Result<()> {
    let created = create_container(rt, a, false)?;
    drop(created);
    Ok(())
}

/// Everything `create` does; `foreground`: `run` without a console socket
/// relays the terminal itself.
pub fn create_container(rt: &Runtime, a: &CreateArgs, foreground: bool) -> Result<Created> {
    state::valid_id(&a.id)?;
    cloexec_inherited(a.preserve_fds);
    std::fs::create_dir_all(&rt.root)
        .with_context(|| format!("create the state root {}", rt.root.display()))?;
    let dir = state::dir(&rt.root, &a.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(bad(format!("container with id {} already exists", a.id)))
        }
        Err(e) => return Err(e).with_context(|| format!("create {}", dir.display())),
    }
    let mut undo = Undo {
        dir: dir.clone(),
        cgroups: Vec::new(),
        armed: true,
    };
    let result = create_in(rt, a, foreground, &mut undo);
    if result.is_err() {
        undo.run();
    }
    undo.armed = false;
    result
}

/// What a failed create leaves behind, taken away again.
struct Undo {
    dir: PathBuf,
    cgroups: Vec<PathBuf>,
    armed: bool,
}

impl Undo {
    fn run(&mut self) {
        if !self.armed {
            return;
        }
        if !self.cgroups.is_empty() {
            if let Ok(mut k) = LinuxKernel::for_oci() {
                let _ = k.apply(&Step::CgroupRemove {
                    paths: self.cgroups.clone(),
                });
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.armed = false;
    }
}

fn create_in(rt: &Runtime, a: &CreateArgs, foreground: bool, undo: &mut Undo) -> Result<Created> {
    let bundle = std::fs::canonicalize(&a.bundle)
        .map_err(|e| bad(format!("bundle {}: {e}", a.bundle.display())))?;
    let spec = load_spec(&bundle)?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    let rootfs = std::fs::canonicalize(bundle.join(&root)).map_err(|e| {
        bad(format!(
            "root filesystem {}: {e}",
            bundle.join(&root).display()
        ))
    })?;
    let process = spec
        .process()
        .clone()
        .ok_or_else(|| bad("config.json has no process".into()))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.console_socket.is_none() && !foreground {
        bail!(bad(
            "config.json asks for a terminal (process.terminal) but no --console-socket was given to send it to".into()
        ));
    }
    if !terminal && a.console_socket.is_some() {
        bail!(bad(
            "--console-socket was given but config.json's process.terminal is false".into()
        ));
    }
    let annotations = serde_json::to_value(spec.annotations().clone().unwrap_or_default())?;
    // The exec fifo: the process opens it for writing and blocks until `start`.
    let fifo = state::fifo(&rt.root, &a.id);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .with_context(|| format!("mkfifo {}", fifo.display()))?;
    let fifo_fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open {}", fifo.display()))?;
    // SAFETY: a fresh descriptor we own.
    let fifo_fd = unsafe { OwnedFd::from_raw_fd(fifo_fd) };
    let mut kernel = LinuxKernel::for_oci()?;
    let console = if terminal {
        kernel.prepare_terminal()?
    } else {
        None
    };
    let id = a.id.clone();
    let state_for = |stage: &str| {
        let status = if stage == "startContainer" {
            "created"
        } else {
            "creating"
        };
        hook_state(&id, status, 0, &bundle, &annotations)
    };
    let plan = plan::build(
        &spec,
        &a.id,
        &rootfs,
        kernel.cgroup_setup(),
        (&fifo, fifo_fd.as_raw_fd()),
        console.as_deref(),
        &state_for,
    )?;
    for w in &plan.warnings {
        rt.log.warn(w);
    }
    // In a user namespace the waiting process is an unprivileged host user:
    // the fifo (the runtime's own bookkeeping, like its mkfifo) becomes that
    // user's, as runc chowns its exec.fifo to the container's root.
    if let Some(map) = &plan.user_root {
        let (uid, gid) = map.root();
        nix::unistd::chown(
            &fifo,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .with_context(|| format!("chown {} to {uid}:{gid}", fifo.display()))?;
    }
    let mut observer = rt.observer("create", &a.id);
    kernel.warm_cgroup_migration();
    undo.cgroups = plan.cgroups.clone();
    for step in &plan.parent {
        do_step(&mut kernel, observer.as_mut(), step)?;
    }
    if observer.before(&plan.clone)? == crate::kernel::Go::Abort {
        bail!("aborted");
    }
    let new_namespaces = match &plan.clone {
        Step::Clone { namespaces } => namespaces.clone(),
        _ => Vec::new(),
    };
    let pid = kernel.clone_child(
        &plan.clone,
        rt.child_spec(plan.child.clone(), terminal, observer.as_ref()),
    )?;
    observer.after(&plan.clone);
    let ok = (|| -> Result<Record> {
        if let Some(map) = &plan.userns {
            do_step(
                &mut kernel,
                observer.as_mut(),
                &Step::UsernsMap {
                    pid,
                    map: map.clone(),
                },
            )?;
        }
        do_step(
            &mut kernel,
            observer.as_mut(),
            &Step::CgroupJoin {
                paths: plan.cgroups.clone(),
                pid,
            },
        )?;
        // prestart (deprecated) and createRuntime run on the host once the
        // namespaces exist, before the program can run.
        for stage in ["prestart", "createRuntime"] {
            for hook in plan::hooks_of(&spec, stage) {
                let st = hook_state(&a.id, "creating", pid, &bundle, &annotations);
                do_step(
                    &mut kernel,
                    observer.as_mut(),
                    &plan::hook_step(stage, &hook, st),
                )?;
            }
        }
        match kernel.start_child(observer.as_mut())? {
            Ok(()) => {}
            Err(f) => {
                return Err(anyhow::Error::new(crate::error::ExitError::new(
                    f.code,
                    format!("{}: {}", f.kind, f.message),
                )));
            }
        }
        let record = Record {
            id: a.id.clone(),
            pid,
            pid_start: crate::container::proc_start_time(pid).unwrap_or(0),
            bundle: bundle.clone(),
            rootfs: rootfs.clone(),
            created: crate::clock::now_rfc3339(),
            cgroups: plan.cgroups.clone(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            poststop: plan::hooks_of(&spec, "poststop")
                .iter()
                .map(|h| state::HookRecord {
                    path: h.path().clone(),
                    args: h.args().clone().unwrap_or_default(),
                    env: h.env().clone().unwrap_or_default(),
                    timeout: h.timeout(),
                })
                .collect(),
            namespaces: new_namespaces,
        };
        if let Some(sock) = &a.console_socket {
            let master = kernel
                .take_terminal_master()
                .context("no terminal to send to the console socket")?;
            send_console(sock, &master)?;
        }
        state::save(&rt.root, &record)?;
        if let Some(pf) = &a.pid_file {
            crate::fsutil::atomic_write_with(pf, pid.to_string().as_bytes(), false)
                .with_context(|| format!("write the pid file {}", pf.display()))?;
        }
        Ok(record)
    })();
    match ok {
        Ok(record) => {
            drop(fifo_fd);
            Ok(Created { kernel, record })
        }
        Err(e) => {
            kernel.kill_child();
            Err(e)
        }
    }
}

/// Hand the terminal's master to the caller's unix socket (SCM_RIGHTS), as runc.
pub(crate) fn send_console(socket: &Path, master: &OwnedFd) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connect to the console socket {}", socket.display()))?;
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    let iov = [std::io::IoSlice::new(name)];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| anyhow::anyhow!("send the terminal to {}: {}", socket.display(), e.desc()))?;
    Ok(())
}

pub fn start(rt: &Runtime, id: &str) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    let status = state::status(&rt.root, &record);
    if status != Status::Created {
        bail!(bad(format!(
            "cannot start container {id}: it is {}, not created",
            status.name()
        )));
    }
    let fifo = state::fifo(&rt.root, id);
    let mut kernel = LinuxKernel::for_oci()?;
    let mut observer = rt.observer("start", id);
    do_step(
        &mut kernel,
        observer.as_mut(),
        &Step::ReleaseStart {
            fifo: fifo.clone(),
            pid: record.pid,
            pid_start: record.pid_start,
        },
    )
    .map_err(|e| bad(format!("cannot start container {id}: {e:#}")))?;
    let _ = std::fs::remove_file(&fifo);
    // poststart: after the program started; a failure is only a warning.
    if let Ok(spec) = load_spec(&record.bundle) {
        let annotations = serde_json::to_value(&record.annotations)?;
        for hook in plan::hooks_of(&spec, "poststart") {
            let st = hook_state(id, "running", record.pid, &record.bundle, &annotations);
            if let Err(e) = do_step(
                &mut kernel,
                observer.as_mut(),
                &plan::hook_step("poststart", &hook, st),
            ) {
                rt.log.warn(&format!("{e:#}"));
            }
        }
    }
    Ok(())
}

pub fn run(rt: &Runtime, a: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let foreground = !detach && a.console_socket.is_none();
    let mut created = create_container(rt, a, foreground)?;
    start(rt, &a.id)?;
    if detach {
        return Ok(0);
    }
    let code = created.kernel.wait_child()?;
    if !keep {
        delete(rt, &a.id, true)?;
    }
    Ok(code)
}

pub fn state(rt: &Runtime, id: &str) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&state::state_json(&rt.root, &record))?
    );
    Ok(())
}

pub fn kill(rt: &Runtime, id: &str, signal: &str, all: bool) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    let sig = crate::engine::lifecycle::parse_signal(signal)?;
    let status = state::status(&rt.root, &record);
    if status == Status::Stopped && !all {
        bail!(bad(format!("container {id} is not running")));
    }
    let mut kernel = LinuxKernel::for_oci()?;
    let mut observer = rt.observer("kill", id);
    let mut targets = vec![(record.pid, record.pid_start)];
    if all {
        targets = cgroup_processes(&record);
    }
    for (pid, start) in targets {
        do_step(
            &mut kernel,
            observer.as_mut(),
            &Step::Signal {
                pid,
                pid_start: start,
                signal: sig.as_str().to_string(),
            },
        )?;
    }
    // A paused container gets the signal once thawed; SIGKILL works frozen too.
    Ok(())
}

/// The cgroup's live processes with their start times (what `Step::Signal`
/// checks so that a reused PID is never signalled).
fn cgroup_processes(record: &Record) -> Vec<(i32, u64)> {
    cgroup_pids(record)
        .into_iter()
        .filter_map(|p| crate::container::proc_start_time(p).map(|s| (p, s)))
        .collect()
}

fn cgroup_pids(record: &Record) -> Vec<i32> {
    let mut pids: Vec<i32> = record
        .cgroups
        .iter()
        .find_map(|c| std::fs::read_to_string(c.join("cgroup.procs")).ok())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

pub fn delete(rt: &Runtime, id: &str, force: bool) -> Result<()> {
    let record = match state::load(&rt.root, id) {
        Ok(r) => r,
        Err(e) => {
            // runc: delete --force of a container that is not there succeeds.
            if force && !state::dir(&rt.root, id).join("state.json").exists() {
                let _ = std::fs::remove_dir_all(state::dir(&rt.root, id));
                return Ok(());
            }
            return Err(e);
        }
    };
    let status = state::status(&rt.root, &record);
    if status != Status::Stopped && !force {
        bail!(bad(format!(
            "cannot delete container {id} that is not stopped: {}",
            status.name()
        )));
    }
    let mut kernel = LinuxKernel::for_oci()?;
    let mut observer = rt.observer("delete", id);
    if status != Status::Stopped {
        if status == Status::Paused {
            if let Some(path) = freezer_dir(&kernel, &record) {
                let version = kernel.cgroup_setup().mode.version();
                do_step(
                    &mut kernel,
                    observer.as_mut(),
                    &Step::Freeze {
                        path,
                        frozen: false,
                        version,
                    },
                )?;
            }
        }
        for (pid, start) in cgroup_processes(&record)
            .into_iter()
            .chain([(record.pid, record.pid_start)])
        {
            do_step(
                &mut kernel,
                observer.as_mut(),
                &Step::Signal {
                    pid,
                    pid_start: start,
                    signal: "SIGKILL".into(),
                },
            )?;
        }
        do_step(
            &mut kernel,
            observer.as_mut(),
            &Step::WaitExit {
                pid: record.pid,
                pid_start: record.pid_start,
                timeout_s: 10,
            },
        )?;
    }
    do_step(
        &mut kernel,
        observer.as_mut(),
        &Step::CgroupRemove {
            paths: record.cgroups.clone(),
        },
    )?;
    let annotations = serde_json::to_value(&record.annotations)?;
    for h in &record.poststop {
        let step = Step::Hook {
            stage: "poststop".into(),
            path: h.path.clone(),
            args: h.args.clone(),
            env: h.env.clone(),
            timeout: h.timeout,
            state: hook_state(id, "stopped", 0, &record.bundle, &annotations),
        };
        // poststop failures are warnings (the container is gone already).
        if let Err(e) = do_step(&mut kernel, observer.as_mut(), &step) {
            rt.log.warn(&format!("{e:#}"));
        }
    }
    std::fs::remove_dir_all(state::dir(&rt.root, id))
        .with_context(|| format!("remove {}", state::dir(&rt.root, id).display()))?;
    Ok(())
}

pub fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<()> {
    let records: Vec<Record> = state::list(&rt.root)
        .iter()
        .filter_map(|id| state::load(&rt.root, id).ok())
        .collect();
    match format {
        "json" => {
            let v: Vec<_> = records
                .iter()
                .map(|r| state::state_json(&rt.root, r))
                .collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        "table" if quiet => records.iter().for_each(|r| println!("{}", r.id)),
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<30} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for r in &records {
                let st = state::status(&rt.root, r);
                let pid = if st == Status::Stopped { 0 } else { r.pid };
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<30} root",
                    r.id,
                    pid,
                    st.name(),
                    r.bundle.display(),
                    r.created
                );
            }
        }
        other => bail!(bad(format!("--format {other:?}: use table or json"))),
    }
    Ok(())
}

pub fn ps(rt: &Runtime, id: &str, format: &str) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    let pids = cgroup_pids(&record);
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            println!("{:<8} CMD", "PID");
            for p in pids {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|b| {
                        b.split(|c| *c == 0)
                            .filter(|s| !s.is_empty())
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                println!("{p:<8} {cmd}");
            }
        }
        other => bail!(bad(format!("--format {other:?}: use table or json"))),
    }
    Ok(())
}

fn freezer_dir(kernel: &LinuxKernel, record: &Record) -> Option<PathBuf> {
    let setup = kernel.cgroup_setup();
    if setup.mode.version() == 2 {
        return record.cgroups.first().cloned();
    }
    setup
        .hierarchies
        .iter()
        .zip(&record.cgroups)
        .find(|(h, _)| crate::resources::files::hierarchy_has(h, "freezer"))
        .map(|(_, c)| c.clone())
}

pub fn freeze(rt: &Runtime, id: &str, frozen: bool) -> Result<()> {
    let record = state::load(&rt.root, id)?;
    let status = state::status(&rt.root, &record);
    let wanted = if frozen {
        Status::Running
    } else {
        Status::Paused
    };
    if status != wanted {
        bail!(bad(format!(
            "cannot {} container {id}: it is {}",
            if frozen { "pause" } else { "resume" },
            status.name()
        )));
    }
    let mut kernel = LinuxKernel::for_oci()?;
    let path = freezer_dir(&kernel, &record)
        .ok_or_else(|| bad("this host has no freezer cgroup".into()))?;
    let version = kernel.cgroup_setup().mode.version();
    let mut observer = rt.observer(if frozen { "pause" } else { "resume" }, id);
    do_step(
        &mut kernel,
        observer.as_mut(),
        &Step::Freeze {
            path,
            frozen,
            version,
        },
    )
}
