//! The simulated kernel: the same steps, applied to an in-memory model of a
//! Linux host (processes with per-namespace PIDs, namespaces, mount tables,
//! a cgroup v2 tree, hostnames). Its filesystem is the image's layers read
//! straight from the store, never unpacked; its programs are a few builtins.
//! Everything is deterministic, so its narration can be snapshot-tested.

pub mod applets;
pub mod fs;
pub mod mounttab;
pub mod procfs;
pub mod sh;
pub mod shell;
pub mod sysfs;

use super::{CgroupSetup, ChildFailure, ChildSpec, Go, Kernel, StepObserver};
use crate::error::{EXIT_CANNOT_EXEC, EXIT_ENGINE, EXIT_NOT_FOUND};
use crate::step::{DevEntry, Namespace, Step};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The simulated clock: 2026-01-01T00:00:00Z, the same instant simulated records carry.
pub const SIM_EPOCH: u64 = 1_767_225_600;
/// `SIM_EPOCH` as the RFC 3339 time simulated records carry.
pub const SIM_TIME: &str = "2026-01-01T00:00:00Z";

/// The first host PID the simulator hands out.
const FIRST_HOST_PID: i32 = 4242;

/// One mount in the simulated container's mount table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimMount {
    pub source: String,
    pub target: String,
    /// "bind" for a host file bound in (see `mounttab::rows`).
    pub fstype: String,
    /// The options the step mounted it with ("nosuid,noexec,...", "ro").
    pub options: String,
    /// Read-only as a mount (remounted or mounted ro).
    pub read_only: bool,
    /// For a bind of a path already in the container: that path.
    pub bind_from: Option<String>,
}

struct SimChild {
    host_pid: i32,
    namespaces: Vec<Namespace>,
    spec: ChildSpec,
    /// Where the overlay is mounted on the (simulated) host; container paths are below it.
    rootfs: Option<PathBuf>,
    fs: fs::SimFs,
    mounts: Vec<SimMount>,
    hostname: String,
    pivoted: bool,
    exit: Option<i32>,
    /// What the confinement steps set on the process (None: root's full sets).
    caps: Option<crate::confine::caps::CapSet>,
    no_new_privs: bool,
    seccomp_filters: u32,
    /// Its namespaces' inode numbers and its /proc/PID/cgroup text.
    ns: procfs::NsInodes,
    cgroup: String,
}

pub struct SimKernel {
    cgroups: CgroupSetup,
    /// cgroup directory → member host PIDs.
    cgroup_tree: BTreeMap<PathBuf, Vec<i32>>,
    next_pid: i32,
    child: Option<SimChild>,
    host_hostname: String,
    /// The inode number the next new namespace gets.
    next_ns_inode: u64,
}

impl Default for SimKernel {
    fn default() -> Self {
        Self::new()
    }
}

impl SimKernel {
    /// A simulated cgroup v2 host.
    pub fn new() -> SimKernel {
        Self::with_host(crate::kernel::cgroup::CgroupMode::Unified)
    }

    /// A simulated host with this cgroup layout (`--sim-host`).
    pub fn with_host(layout: crate::kernel::cgroup::CgroupMode) -> SimKernel {
        SimKernel {
            cgroups: CgroupSetup::simulated(layout),
            cgroup_tree: BTreeMap::new(),
            next_pid: FIRST_HOST_PID,
            child: None,
            host_hostname: "glassbox-host".into(),
            next_ns_inode: procfs::FIRST_NEW_NS_INODE,
        }
    }

    /// The cgroups that exist in the model (for tests and diagrams).
    pub fn cgroups(&self) -> Vec<PathBuf> {
        self.cgroup_tree.keys().cloned().collect()
    }

    pub fn host_hostname(&self) -> &str {
        &self.host_hostname
    }
}

/// A host path below the container's root, as the container will see it.
fn in_container(rootfs: &Option<PathBuf>, path: &Path) -> String {
    match rootfs.as_ref().and_then(|r| path.strip_prefix(r).ok()) {
        Some(rel) => format!("/{}", rel.display()),
        None => path.display().to_string(),
    }
}

impl SimChild {
    /// What /proc shows: the container's processes running the program
    /// its exec step names, under the mounts made so far.
    fn proc_view(&self, procs: &[shell::SimProc]) -> procfs::ProcView {
        let (argv, env, cwd) = self
            .spec
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Exec { argv, env, cwd, .. } => Some((argv.clone(), env.clone(), cwd.clone())),
                _ => None,
            })
            .unwrap_or_default();
        let procs = procs
            .iter()
            .map(|p| procfs::ProcessView {
                pid: p.pid,
                ppid: 0,
                argv: argv.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                uid: 0,
                gid: 0,
                caps: self.caps,
                no_new_privs: self.no_new_privs,
                seccomp_filters: self.seccomp_filters,
                ns: self.ns,
                cgroup: self.cgroup.clone(),
            })
            .collect();
        procfs::ProcView {
            procs,
            mounts: self.mounts.clone(),
            uptime_secs: SIM_EPOCH - applets::system::BOOT_SECS,
            cpus: 2,
        }
    }

    /// (Re)generate every mounted /proc from the model.
    fn fill_proc(&mut self, procs: &[shell::SimProc]) {
        let view = self.proc_view(procs);
        let targets: Vec<String> = self
            .mounts
            .iter()
            .filter(|m| m.fstype == "proc" && m.bind_from.is_none())
            .map(|m| m.target.clone())
            .collect();
        for target in targets {
            self.fs.mount_pseudo(&target, procfs::entries(&view));
        }
    }

    fn apply(
        &mut self,
        step: &Step,
        procs: &[shell::SimProc],
    ) -> std::result::Result<(), (i32, String)> {
        let engine = |e: anyhow::Error| (EXIT_ENGINE, format!("{e:#}"));
        match step {
            Step::MountPrivate => Ok(()),
            Step::MountOverlay {
                lower,
                upper,
                work,
                target,
            } => {
                let store = crate::image::Store::open(&self.spec.store_root).map_err(engine)?;
                let mut readers = Vec::new();
                for layer in &self.spec.layers {
                    readers.push(store.open_layer(layer).map_err(engine)?);
                }
                self.fs = fs::SimFs::from_layers(readers).map_err(engine)?;
                self.rootfs = Some(target.clone());
                let lower: Vec<String> = lower.iter().map(|l| l.display().to_string()).collect();
                self.mounts.push(SimMount {
                    source: "overlay".into(),
                    target: "/".into(),
                    fstype: "overlay".into(),
                    options: format!(
                        "lowerdir={},upperdir={},workdir={}",
                        lower.join(":"),
                        upper.display(),
                        work.display()
                    ),
                    ..Default::default()
                });
                Ok(())
            }
            Step::MountSpecial {
                fs: kind,
                target,
                options,
                read_only,
            } => {
                let target = in_container(&self.rootfs, target);
                let _ = self.fs.mkdir(&target, "/");
                let root = fs::Node::Dir {
                    mode: mounttab::root_mode(kind.fstype(), options),
                    uid: 0,
                    gid: 0,
                };
                self.fs.mount_pseudo(&target, vec![(String::new(), root)]);
                self.mounts.push(SimMount {
                    source: kind.fstype().into(),
                    target: target.clone(),
                    fstype: kind.fstype().into(),
                    options: if *read_only {
                        format!("{options},ro")
                    } else {
                        options.clone()
                    },
                    read_only: *read_only,
                    bind_from: None,
                });
                match kind {
                    crate::step::Special::Proc => self.fill_proc(procs),
                    crate::step::Special::Sysfs => self.fs.mount_pseudo(&target, sysfs::entries()),
                    _ => {}
                }
                Ok(())
            }
            Step::MakeDevices { dev, entries } => {
                let dev = in_container(&self.rootfs, dev);
                let nodes = entries
                    .iter()
                    .map(|e| match e {
                        DevEntry::Char { name, .. } => {
                            (name.to_string(), fs::Node::Other { kind: 'c' })
                        }
                        DevEntry::Link { name, target } => (
                            name.to_string(),
                            fs::Node::Symlink {
                                target: target.to_string(),
                            },
                        ),
                    })
                    .collect();
                self.fs.mount_pseudo(&dev, nodes);
                Ok(())
            }
            Step::MountBind {
                source,
                target,
                read_only,
            } => {
                let target = in_container(&self.rootfs, target);
                // Bound files (hostname, hosts, resolv.conf) are real files glassbox wrote.
                let data = std::fs::read(source).unwrap_or_default();
                let (dir, name) = target.rsplit_once('/').unwrap_or(("/", &target));
                let dir = if dir.is_empty() { "/" } else { dir };
                self.fs.mount_pseudo(
                    dir,
                    vec![(
                        name.to_string(),
                        fs::Node::File {
                            mode: 0o644,
                            uid: 0,
                            gid: 0,
                            data,
                        },
                    )],
                );
                self.mounts.push(SimMount {
                    source: source.display().to_string(),
                    target,
                    fstype: "bind".into(),
                    read_only: *read_only,
                    ..Default::default()
                });
                Ok(())
            }
            Step::SetHostname { hostname } => {
                self.hostname = hostname.clone();
                Ok(())
            }
            Step::LinkUp { .. } => Ok(()),
            Step::SetNs { pid, .. } => Err((
                EXIT_ENGINE,
                format!(
                    "process {pid} is not running in the simulation: there is no container to join"
                ),
            )),
            Step::PivotRoot { .. } => {
                self.pivoted = true;
                Ok(())
            }
            Step::AddDevices { dev, devices } => {
                let dev = in_container(&self.rootfs, dev);
                let root = dev.trim_end_matches("/dev");
                for d in devices {
                    self.fs.mount_pseudo(
                        if root.is_empty() { "/" } else { root },
                        vec![(
                            d.path.trim_start_matches('/').to_string(),
                            fs::Node::Other { kind: d.kind },
                        )],
                    );
                }
                Ok(())
            }
            Step::RemountReadOnly { .. } => {
                if let Some(root) = self.mounts.iter_mut().find(|m| m.target == "/") {
                    root.read_only = true;
                }
                Ok(())
            }
            // Of the masked and read-only paths the simulated /proc and /sys
            // have only /sys/firmware; glassbox skips the ones missing.
            Step::MaskPaths { paths } => {
                for path in paths {
                    match self.fs.lookup(path, "/").map(|(_, node)| node.is_dir()) {
                        Some(true) => {
                            self.fs.mount_pseudo(
                                path,
                                vec![(
                                    String::new(),
                                    fs::Node::Dir {
                                        mode: 0o1777,
                                        uid: 0,
                                        gid: 0,
                                    },
                                )],
                            );
                            self.mounts.push(mounttab::masked_dir(path));
                        }
                        Some(false) => self.mounts.push(mounttab::masked_file(path)),
                        None => {}
                    }
                }
                Ok(())
            }
            Step::ReadonlyPaths { paths } => {
                for path in paths {
                    if self.fs.lookup(path, "/").is_some() {
                        let rows = mounttab::rows(&self.mounts);
                        let fstype = rows
                            .iter()
                            .rev()
                            .find(|r| {
                                path.starts_with(&format!("{}/", r.target.trim_end_matches('/')))
                            })
                            .map_or("none".to_string(), |r| r.fstype.clone());
                        self.mounts.push(mounttab::readonly_bind(path, &fstype));
                    }
                }
                Ok(())
            }
            Step::NoNewPrivs => {
                self.no_new_privs = true;
                Ok(())
            }
            Step::SeccompLoad { .. } => {
                self.seccomp_filters += 1;
                Ok(())
            }
            Step::CapSet { set, .. } => {
                self.caps = Some(*set);
                Ok(())
            }
            Step::Exec { argv, env, cwd, .. } => {
                self.fill_proc(procs);
                let env_pairs: Vec<(String, String)> = env
                    .iter()
                    .filter_map(|e| {
                        e.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect();
                let mut stdout = std::io::stdout();
                let mut stderr = std::io::stderr();
                let mut ctx = shell::ShellCtx {
                    fs: &mut self.fs,
                    env: env_pairs,
                    cwd: cwd.clone(),
                    hostname: self.hostname.clone(),
                    uid: 0,
                    gid: 0,
                    pid: 1,
                    procs: procs.to_vec(),
                    mounts: self.mounts.clone(),
                    clock_secs: SIM_EPOCH,
                    stdout: &mut stdout,
                    stderr: &mut stderr,
                };
                match shell::run(&mut ctx, argv) {
                    Ok(code) => {
                        self.exit = Some(code);
                        Ok(())
                    }
                    Err(shell::RunError::NotFound(cmd)) => {
                        Err((EXIT_NOT_FOUND, format!("exec: \"{cmd}\": executable file not found in $PATH")))
                    }
                    Err(shell::RunError::CannotSimulate(cmd)) => Err((
                        EXIT_CANNOT_EXEC,
                        format!(
                            "'{cmd}' cannot run in simulation (the simulator runs only: {}); run for real as root to use it",
                            shell::runnable().join(", ")
                        ),
                    )),
                }
            }
            other => Err((
                EXIT_ENGINE,
                format!("step {} cannot run inside the container", other.kind()),
            )),
        }
    }
}

impl Kernel for SimKernel {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn cgroup_setup(&self) -> &CgroupSetup {
        &self.cgroups
    }

    fn is_simulated(&self) -> bool {
        true
    }

    fn now(&self) -> String {
        SIM_TIME.to_string()
    }

    fn prepare_terminal(&mut self) -> Result<Option<String>> {
        Ok(Some("/dev/pts/0".into()))
    }

    fn apply(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::CgroupCreate { paths } => {
                for p in paths {
                    self.cgroup_tree.entry(p.clone()).or_default();
                }
                Ok(())
            }
            Step::CgroupJoin { paths, pid } => {
                for p in paths {
                    self.cgroup_tree
                        .get_mut(p)
                        .with_context(|| format!("no cgroup {}", p.display()))?
                        .push(*pid);
                }
                Ok(())
            }
            // Nothing in the model consults devices (v2 has no device program here).
            Step::DeviceCgroup { .. } => Ok(()),
            Step::CgroupRemove { paths } => {
                for p in paths {
                    self.cgroup_tree.remove(p);
                }
                Ok(())
            }
            // A simulated container's processes end with the command that
            // ran it: a later signal or wait finds its process already gone.
            Step::Signal { .. } | Step::WaitExit { .. } => Ok(()),
            // The engine itself does the monitor's work (fork, setsid, the
            // log pipes, waitpid) and the store's (record, directory).
            s if s.is_monitor() || s.is_store() => Ok(()),
            other => bail!(
                "step {} does not run in glassbox's own process",
                other.kind()
            ),
        }
    }

    fn clone_child(&mut self, clone: &Step, spec: ChildSpec) -> Result<i32> {
        let Step::Clone { namespaces } = clone else {
            bail!("clone_child needs a clone step")
        };
        let host_pid = self.next_pid;
        self.next_pid += 1;
        self.child = Some(SimChild {
            host_pid,
            namespaces: namespaces.clone(),
            spec,
            rootfs: None,
            fs: fs::SimFs::new(),
            mounts: Vec::new(),
            hostname: self.host_hostname.clone(),
            pivoted: false,
            exit: None,
            caps: None,
            no_new_privs: false,
            seccomp_filters: 0,
            ns: procfs::NsInodes::cloned(
                procfs::NsInodes::HOST,
                namespaces,
                &mut self.next_ns_inode,
            ),
            cgroup: String::new(),
        });
        Ok(host_pid)
    }

    fn enter_child(&mut self, _spec: ChildSpec) -> Result<i32> {
        bail!("the simulated kernel keeps no container running after its program ends, so there is nothing to exec into: run glassbox as root to use exec")
    }

    fn start_child(
        &mut self,
        observer: &mut dyn StepObserver,
    ) -> Result<std::result::Result<(), ChildFailure>> {
        let child = self.child.as_mut().context("no child to start")?;
        let member_of: Vec<PathBuf> = self
            .cgroup_tree
            .iter()
            .filter(|(_, pids)| pids.contains(&child.host_pid))
            .map(|(path, _)| path.clone())
            .collect();
        child.cgroup = procfs::cgroup_file(&self.cgroups, &member_of);
        let own_pid_ns = child.namespaces.contains(&Namespace::Pid);
        let steps = child.spec.steps.clone();
        let cmdline = steps
            .iter()
            .find_map(|s| {
                if let Step::Exec { argv, .. } = s {
                    Some(argv.join(" "))
                } else {
                    None
                }
            })
            .unwrap_or_default();
        // In its own PID namespace the container's process is PID 1 and sees only itself.
        let pid = if own_pid_ns { 1 } else { child.host_pid as u32 };
        let procs = vec![shell::SimProc {
            pid,
            user: "root".into(),
            cmdline,
        }];
        for step in &steps {
            if observer.before(step)? == Go::Abort {
                return Ok(Err(ChildFailure {
                    kind: step.kind(),
                    code: EXIT_ENGINE,
                    message: "aborted".into(),
                }));
            }
            if let Err((code, message)) = child.apply(step, &procs) {
                return Ok(Err(ChildFailure {
                    kind: step.kind(),
                    code,
                    message,
                }));
            }
        }
        Ok(Ok(()))
    }

    fn wait_child(&mut self) -> Result<i32> {
        let child = self.child.take().context("no child to wait for")?;
        child.exit.context("the simulated program did not run")
    }

    fn kill_child(&mut self) {
        self.child = None;
    }
}
