//! The simulated kernel: the same steps, applied to an in-memory model of a
//! Linux host (processes with per-namespace PIDs, namespaces, mount tables,
//! a cgroup v2 tree, hostnames). Its filesystem is the image's layers read
//! straight from the store, never unpacked; its programs are a few builtins.
//! Everything is deterministic, so its narration can be snapshot-tested.

pub mod applets;
pub mod counters;
pub mod fs;
pub mod host;
pub mod limits;
pub mod live;
pub mod look;
pub mod mounttab;
pub mod net;
pub mod nft;
pub mod procfs;
pub mod reach;
pub mod rlimits;
pub mod sh;
pub mod shell;
pub mod sysfs;
pub mod upper;
pub mod volumes;

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
pub(crate) const FIRST_HOST_PID: i32 = 4242;

/// One mount in the simulated container's mount table.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// A volume or host bind: the directory of the simulated store that
    /// holds its files (see `volumes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing: Option<PathBuf>,
}

struct SimChild {
    host_pid: i32,
    /// `exec` into a running simulated container (`enter_child`) rather than a new one.
    entering: bool,
    /// The store root of the simulated host, when it persists between commands.
    host_root: Option<PathBuf>,
    namespaces: Vec<Namespace>,
    spec: ChildSpec,
    /// Where the overlay is mounted on the (simulated) host; container paths are below it.
    rootfs: Option<PathBuf>,
    fs: fs::SimFs,
    mounts: Vec<SimMount>,
    hostname: String,
    pivoted: bool,
    exit: Option<i32>,
    /// The container's directory (where its upper layer is kept).
    upper_dir: Option<PathBuf>,
    /// `exec`: the host PID of the running container's first process it joins.
    target_pid: i32,
    /// The identity `set_user` took (`exec -u`).
    user: Option<crate::step::ExecUser>,
    /// The program was left running on the simulated host (`run -d`, `start`).
    detached: bool,
    /// The filesystem as the set-up steps left it, before the program ran.
    before_exec: Option<fs::SimFs>,
    /// When the program started (ms since the epoch) and ended.
    started_ms: u64,
    ended_ms: u64,
    /// What the confinement steps set on the process (None: root's full sets).
    caps: Option<crate::confine::caps::CapSet>,
    no_new_privs: bool,
    seccomp_filters: u32,
    /// Its namespaces' inode numbers and its /proc/PID/cgroup text.
    ns: procfs::NsInodes,
    cgroup: String,
    /// Its cgroup's limits, OOM score and rlimits; and its cgroup's
    /// counters when a foreground run ended.
    res: sh::memcg::ProcResources,
    counters: sh::memcg::CgCounters,
}

pub struct SimKernel {
    /// The simulated store's root: where the simulated host persists
    /// (`host`). None: a throwaway host (unit tests), forgotten at the end.
    root: Option<PathBuf>,
    cgroups: CgroupSetup,
    /// cgroup directory → member host PIDs.
    cgroup_tree: BTreeMap<PathBuf, Vec<i32>>,
    /// Limit and freezer files (throwaway host; else the host's `cgroup_files`).
    cgroup_files: BTreeMap<PathBuf, String>,
    next_pid: i32,
    child: Option<SimChild>,
    host_hostname: String,
    /// The inode number the next new namespace gets.
    next_ns_inode: u64,
    /// The cgroup counters of the last foreground run waited for (read
    /// for its OOM kills before its cgroup goes).
    last_counters: Option<sh::memcg::CgCounters>,
    /// The throwaway host's networking (else the host's `net`).
    net: net::SimNet,
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
            root: None,
            cgroups: CgroupSetup::simulated(layout),
            cgroup_tree: BTreeMap::new(),
            cgroup_files: BTreeMap::new(),
            next_pid: FIRST_HOST_PID,
            child: None,
            host_hostname: "glassbox-host".into(),
            next_ns_inode: procfs::FIRST_NEW_NS_INODE,
            last_counters: None,
            net: net::SimNet::default(),
        }
    }

    /// The simulated host kept in the store at `root`, shared by every
    /// simulated command on that store.
    pub fn persistent(root: &Path, layout: crate::kernel::cgroup::CgroupMode) -> SimKernel {
        SimKernel {
            root: Some(root.to_path_buf()),
            ..SimKernel::with_host(layout)
        }
    }

    /// The next host PID: from the simulated host when it persists, so no
    /// two simulated processes ever share one.
    fn take_pid(&mut self) -> Result<i32> {
        match &self.root {
            Some(root) => host::update(root, |st| Ok(st.take_pid())),
            None => {
                self.next_pid += 1;
                Ok(self.next_pid - 1)
            }
        }
    }

    /// An exec'd process ended: the kernel takes it out of its cgroups
    /// (a container's first process leaves with its cgroup's removal).
    fn leave_cgroups(&mut self, pid: i32) -> Result<()> {
        self.with_cgroups(|tree| {
            for pids in tree.values_mut() {
                pids.retain(|p| *p != pid);
            }
            Ok(())
        })
    }

    /// The cgroups that exist in the model (for tests and diagrams).
    pub fn cgroups(&self) -> Vec<PathBuf> {
        match &self.root {
            Some(root) => host::update(root, |st| Ok(st.cgroups.keys().cloned().collect()))
                .unwrap_or_default(),
            None => self.cgroup_tree.keys().cloned().collect(),
        }
    }

    /// Change the cgroup tree: the simulated host's when it persists.
    fn with_cgroups(
        &mut self,
        f: impl FnOnce(&mut BTreeMap<PathBuf, Vec<i32>>) -> Result<()>,
    ) -> Result<()> {
        match &self.root {
            Some(root) => host::update(root, |st| f(&mut st.cgroups)),
            None => f(&mut self.cgroup_tree),
        }
    }

    /// Change the cgroup tree's limit and freezer files (`limits`).
    fn with_cgroup_files(
        &mut self,
        f: impl FnOnce(&BTreeMap<PathBuf, Vec<i32>>, &mut BTreeMap<PathBuf, String>) -> Result<()>,
    ) -> Result<()> {
        match &self.root {
            Some(root) => host::update(root, |st| f(&st.cgroups, &mut st.cgroup_files)),
            None => f(&self.cgroup_tree, &mut self.cgroup_files),
        }
    }

    /// Read or change the networking model: the simulated host's when it
    /// persists. Namespaces of processes that ended are gone first (the
    /// kernel frees a namespace with its last process).
    pub fn with_net<T>(&mut self, f: impl FnOnce(&mut net::SimNet) -> Result<T>) -> Result<T> {
        let mine = self.child.as_ref().map(|c| c.host_pid);
        match &self.root {
            Some(root) => host::update(root, |st| {
                let procs = &st.procs;
                st.net.prune(|pid| {
                    Some(pid) == mine || procs.get(&pid).is_some_and(|d| d.exited.is_none())
                });
                f(&mut st.net)
            }),
            None => {
                self.net.prune(|pid| Some(pid) == mine);
                f(&mut self.net)
            }
        }
    }

    /// A foreground process ended: its network namespace (if it had one)
    /// goes with it, and the host ends of its veth pairs.
    fn forget_netns(&mut self, pid: i32) -> Result<()> {
        let has = match &self.root {
            Some(root) => host::read(root, |st| st.net.netns.contains_key(&pid))?,
            None => self.net.netns.contains_key(&pid),
        };
        if has {
            self.with_net(|_| Ok(()))?;
        }
        Ok(())
    }

    /// What a limit or freezer file of the model holds (tests, diagrams).
    pub fn cgroup_file(&self, file: &Path) -> Option<String> {
        match &self.root {
            Some(root) => host::update(root, |st| Ok(st.cgroup_files.get(file).cloned()))
                .ok()
                .flatten(),
            None => self.cgroup_files.get(file).cloned(),
        }
    }

    /// The limits the files of the cgroups `dirs` set now.
    fn limits_of(&self, dirs: &[PathBuf]) -> sh::memcg::CgLimits {
        let read = |files: &BTreeMap<PathBuf, String>| {
            sh::memcg::CgLimits::from_files(dirs, |f| files.get(f).cloned())
        };
        match &self.root {
            Some(root) => host::update(root, |st| Ok(read(&st.cgroup_files))).unwrap_or_default(),
            None => read(&self.cgroup_files),
        }
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
    fn new(
        host_pid: i32,
        namespaces: Vec<Namespace>,
        spec: ChildSpec,
        host_root: Option<PathBuf>,
        hostname: String,
        ns: procfs::NsInodes,
    ) -> SimChild {
        SimChild {
            host_pid,
            entering: false,
            host_root,
            namespaces,
            spec,
            rootfs: None,
            fs: fs::SimFs::new(),
            mounts: Vec::new(),
            hostname,
            pivoted: false,
            exit: None,
            upper_dir: None,
            before_exec: None,
            started_ms: 0,
            ended_ms: 0,
            target_pid: 0,
            user: None,
            detached: false,
            caps: None,
            no_new_privs: false,
            seccomp_filters: 0,
            ns,
            cgroup: String::new(),
            res: Default::default(),
            counters: Default::default(),
        }
    }

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
                rlimits: rlimits::table(&self.res.rlimits),
                oom_score_adj: self.res.oom_score_adj,
                id_map: self.id_map(),
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
            // The layers are read from their blobs: the idmapped copies are
            // the same files, and after pivot_root no mount of them shows.
            // Root of the namespace is uid 0 inside, as before.
            Step::AttachLayers { .. } | Step::UsernsRoot { .. } => Ok(()),
            Step::MountOverlay {
                lower,
                upper,
                work,
                target,
                userxattr,
            } => {
                // The image's layers and, on top, what earlier runs of the
                // container changed (its upper layer, kept as a layer tar).
                let upper_tar = upper.parent().map(|d| d.join(host::UPPER_TAR));
                self.fs = host::layered_fs(
                    &self.spec.store_root,
                    &self.spec.layers,
                    upper_tar.as_deref(),
                )
                .map_err(engine)?;
                self.upper_dir = upper.parent().map(Path::to_path_buf);
                self.rootfs = Some(target.clone());
                let lower: Vec<String> = lower.iter().map(|l| l.display().to_string()).collect();
                self.mounts.push(SimMount {
                    source: "overlay".into(),
                    target: "/".into(),
                    fstype: "overlay".into(),
                    options: format!(
                        "lowerdir={},upperdir={},workdir={}{}",
                        lower.join(":"),
                        upper.display(),
                        work.display(),
                        if *userxattr { ",userxattr" } else { "" }
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
                    backing: None,
                });
                match kind {
                    crate::step::Special::Proc => self.fill_proc(procs),
                    crate::step::Special::Sysfs => self.fs.mount_pseudo(&target, sysfs::entries()),
                    // The container's terminal lives in its own devpts (as
                    // docker's /dev/pts/0): the simulator opens no host terminal.
                    crate::step::Special::Devpts => {
                        let mut nodes = vec![(String::from("ptmx"), fs::Node::Other { kind: 'c' })];
                        if self.spec.stdio.tty {
                            nodes.push((String::from("0"), fs::Node::Other { kind: 'c' }));
                        }
                        self.fs.mount_pseudo(&target, nodes);
                    }
                    _ => {}
                }
                Ok(())
            }
            // Bound from the simulated host's /dev or made by mknod: the
            // same nodes either way.
            Step::MakeDevices { dev, entries, .. } => {
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
                // Bound files (hostname, hosts, resolv.conf) are files glassbox
                // wrote in the store; anything else (the console's terminal) is
                // never opened: the simulator reads no host file outside its store.
                let inside_store = source.starts_with(&self.spec.store_root);
                if !inside_store {
                    let (dir, name) = target.rsplit_once('/').unwrap_or(("/", &target));
                    self.fs.mount_pseudo(
                        if dir.is_empty() { "/" } else { dir },
                        vec![(name.to_string(), fs::Node::Other { kind: 'c' })],
                    );
                    self.mounts.push(SimMount {
                        source: source.display().to_string(),
                        target,
                        fstype: "bind".into(),
                        read_only: *read_only,
                        ..Default::default()
                    });
                    return Ok(());
                }
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
            // Volumes: see `volumes`.
            Step::VolumeSeed { .. } | Step::VolumeMount { .. } | Step::VolumeRemountRo { .. } => {
                self.apply_volume_step(step).map_err(engine)
            }
            Step::SetHostname { hostname } => {
                self.hostname = hostname.clone();
                Ok(())
            }
            // The loopback of its own network namespace comes up (the model's `net`).
            Step::LinkUp { .. } => {
                if let (Some(root), true) =
                    (&self.host_root, self.namespaces.contains(&Namespace::Net))
                {
                    let pid = self.host_pid;
                    host::update(root, |st| {
                        st.net.loopback_up(pid);
                        Ok(())
                    })
                    .map_err(|e| (EXIT_ENGINE, format!("{e:#}")))?;
                }
                Ok(())
            }
            Step::SetNs { pid, namespaces } => {
                let alive = match &self.host_root {
                    Some(root) => host::alive(root, *pid).map_err(engine)?,
                    None => false,
                };
                if !alive {
                    return Err((
                        EXIT_ENGINE,
                        format!("process {pid} is not running in the simulation: there is no container to join"),
                    ));
                }
                self.target_pid = *pid;
                // `--network container:`: the new container's process joins
                // the owner's network namespace instead of making one.
                if !self.entering && namespaces.as_slice() == [Namespace::Net] {
                    if let Some(root) = &self.host_root {
                        let me = self.host_pid;
                        host::update(root, |st| st.net.join(me, *pid)).map_err(engine)?;
                    }
                }
                Ok(())
            }
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
            Step::SetUser { user } => {
                self.user = Some(user.clone());
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
            // /proc/PID/limits, oom_score_adj and `ulimit` show them; the
            // OOM killer spares a process at -1000.
            Step::SetRlimits { limits } => {
                self.res.rlimits = limits.clone();
                Ok(())
            }
            Step::OomScoreAdj { value } => {
                self.res.oom_score_adj = *value;
                Ok(())
            }
            Step::Exec { argv, env, cwd, .. } => {
                let env_pairs: Vec<(String, String)> = env
                    .iter()
                    .filter_map(|e| {
                        e.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect();
                if self.entering {
                    let user = self.user.clone();
                    return self.exec_joined(argv, env_pairs, cwd, user.as_ref());
                }
                self.fill_proc(procs);
                let pid = procs.first().map(|p| p.pid).unwrap_or(1);
                self.started_ms = crate::clock::now_ms();
                self.before_exec = Some(self.fs.clone());
                if self.spec.stdio.log.is_some() {
                    if let Some(root) = self.host_root.clone() {
                        return self.detach(&root, argv, env_pairs, cwd, pid);
                    }
                }
                if self.spec.stdio.interactive {
                    if let Some(root) = self.host_root.clone() {
                        return self.run_attached(&root, argv, env_pairs, cwd, pid);
                    }
                }
                let mut stdout = std::io::stdout();
                let mut stderr = std::io::stderr();
                let net = self.net_ctx();
                let mut ctx = shell::ShellCtx {
                    fs: &mut self.fs,
                    env: env_pairs,
                    cwd: cwd.clone(),
                    hostname: self.hostname.clone(),
                    uid: 0,
                    gid: 0,
                    pid,
                    procs: procs.to_vec(),
                    mounts: self.mounts.clone(),
                    clock_secs: self.started_ms / 1000,
                    res: self.res.clone(),
                    net,
                    stdout: &mut stdout,
                    stderr: &mut stderr,
                };
                let ran = shell::run_counted(&mut ctx, argv);
                self.ended_ms = self.started_ms.max(ctx.clock_secs * 1000);
                match ran {
                    Ok((code, counters)) => {
                        self.exit = Some(code);
                        self.counters = counters;
                        Ok(())
                    }
                    Err(e) => Err(exec_failure(e)),
                }
            }
            other => Err((
                EXIT_ENGINE,
                format!("step {} cannot run inside the container", other.kind()),
            )),
        }
    }
}

/// docker's exit code and message for a program that could not start.
fn exec_failure(e: shell::RunError) -> (i32, String) {
    match e {
        shell::RunError::NotFound(cmd) => (
            EXIT_NOT_FOUND,
            format!("exec: \"{cmd}\": executable file not found in $PATH"),
        ),
        shell::RunError::CannotSimulate(cmd) => (
            EXIT_CANNOT_EXEC,
            format!(
                "'{cmd}' cannot run in simulation (the simulator runs only: {}); run for real as root to use it",
                shell::runnable().join(", ")
            ),
        ),
    }
}

impl SimChild {
    /// Its user namespace's id map (`--userns=auto`), from its own steps.
    fn id_map(&self) -> Option<crate::confine::userns::IdMap> {
        self.spec.steps.iter().find_map(|s| match s {
            Step::UsernsRoot { map } => Some(map.clone()),
            _ => None,
        })
    }

    /// The network a foreground program is on: the simulated host's, seen
    /// from this process's namespace.
    fn net_ctx(&self) -> Option<std::sync::Arc<reach::NetCtx>> {
        let root = self.host_root.as_ref()?;
        let mut ctx = host::read(root, |st| reach::for_pid(st, self.host_pid)).ok()?;
        std::sync::Arc::make_mut(&mut ctx).since_ms = self.started_ms;
        Some(ctx)
    }

    /// A detached container's program: checked that it can start, then
    /// left to the simulated host, which recomputes it whenever a later
    /// command looks at it.
    fn detach(
        &mut self,
        root: &Path,
        argv: &[String],
        env: Vec<(String, String)>,
        cwd: &str,
        pid: u32,
    ) -> std::result::Result<(), (i32, String)> {
        let engine = |e: anyhow::Error| (EXIT_ENGINE, format!("{e:#}"));
        let base = self.upper_dir.as_ref().map(|d| d.join(host::UPPER_TAR));
        let base_fs = host::layered_fs(&self.spec.store_root, &self.spec.layers, base.as_deref())
            .map_err(engine)?;
        let setup = upper::FsPatch::between(&base_fs, &self.fs, &[]);
        let d = host::Detached {
            container: self
                .upper_dir
                .as_ref()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            argv: argv.to_vec(),
            env,
            cwd: cwd.to_string(),
            hostname: self.hostname.clone(),
            mounts: self.mounts.clone(),
            ns_pid: pid,
            store_root: self.spec.store_root.clone(),
            layers: self.spec.layers.clone(),
            upper: base.filter(|b| b.exists()),
            setup,
            started_ms: self.started_ms,
            signals: Vec::new(),
            patches: Vec::new(),
            logged: [0, 0],
            log: self.spec.stdio.log.clone(),
            exited: None,
            pauses: Vec::new(),
            interactive: self.spec.stdio.interactive,
            tty: self.spec.stdio.tty,
            input: Vec::new(),
            input_closed: None,
            restart_delay_ms: 0,
            res: host::absolute(&self.res, self.started_ms),
            volumes_seen: volumes::snapshot(&self.mounts, &self.fs),
        };
        // A program that cannot start fails `run -d` itself, as exec(2) would.
        let mut started = self.fs.clone();
        let mut sink = std::io::sink();
        let mut sink2 = std::io::sink();
        let mut ctx = shell::ShellCtx {
            fs: &mut started,
            env: d.env.clone(),
            cwd: d.cwd.clone(),
            hostname: d.hostname.clone(),
            uid: 0,
            gid: 0,
            pid,
            procs: Vec::new(),
            mounts: d.mounts.clone(),
            clock_secs: d.started_ms / 1000,
            res: self.res.clone(),
            net: None,
            stdout: &mut sink,
            stderr: &mut sink2,
        };
        shell::run_traced(&mut ctx, argv, d.started_ms, 0, &[], &[]).map_err(exec_failure)?;
        let host_pid = self.host_pid;
        host::update(root, |st| {
            st.procs.insert(host_pid, d);
            Ok(())
        })
        .map_err(engine)?;
        self.detached = true;
        Ok(())
    }

    /// A foreground run with stdin (`run -i`, `start -ai`): the program is
    /// put on the simulated host and the user's terminal drives it (see
    /// `live`); when it ends it leaves the host and its filesystem is the
    /// run's, as for any foreground run.
    fn run_attached(
        &mut self,
        root: &Path,
        argv: &[String],
        env: Vec<(String, String)>,
        cwd: &str,
        pid: u32,
    ) -> std::result::Result<(), (i32, String)> {
        let engine = |e: anyhow::Error| (EXIT_ENGINE, format!("{e:#}"));
        self.detach(root, argv, env, cwd, pid)?;
        self.detached = false;
        let host_pid = self.host_pid;
        let tty = self.spec.stdio.tty;
        // SAFETY: isatty on fd 0.
        let raw =
            (tty && unsafe { libc::isatty(0) } == 1).then(crate::kernel::linux::RawMode::enter);
        let term = live::Terminal {
            stdin: true,
            detach_keys: if tty {
                crate::container::attach::parse_detach_keys(
                    crate::container::attach::DEFAULT_DETACH_KEYS,
                )
                .unwrap_or_default()
            } else {
                Vec::new()
            },
            skip_past_output: false,
        };
        let end = live::attach(
            root,
            &mut live::HostProcess {
                root,
                pid: host_pid,
            },
            &term,
        )
        .map_err(engine)?;
        drop(raw);
        match end {
            live::End::Detached => {
                self.detached = true;
                Ok(())
            }
            live::End::Exited { code, at_ms } => {
                let (trace, fs) = host::replay_pid(root, host_pid, at_ms)
                    .map_err(engine)?
                    .ok_or_else(|| (EXIT_ENGINE, "the simulated program vanished".to_string()))?;
                host::update(root, |st| {
                    st.procs.remove(&host_pid);
                    Ok(())
                })
                .map_err(engine)?;
                self.fs = fs;
                self.ended_ms = at_ms;
                self.exit = Some(code);
                self.counters = trace.cg;
                Ok(())
            }
        }
    }

    /// `exec`: run the program in the running container the set-up joined.
    fn exec_joined(
        &mut self,
        argv: &[String],
        env: Vec<(String, String)>,
        cwd: &str,
        user: Option<&crate::step::ExecUser>,
    ) -> std::result::Result<(), (i32, String)> {
        let engine = |e: anyhow::Error| (EXIT_ENGINE, format!("{e:#}"));
        let Some(root) = self.host_root.clone() else {
            return Err((
                EXIT_ENGINE,
                "the simulated host keeps no containers here".into(),
            ));
        };
        let c = crate::container::list(&root)
            .map_err(engine)?
            .into_iter()
            .find(|c| c.state.pid == self.target_pid && c.is_running())
            .ok_or_else(|| {
                (
                    EXIT_ENGINE,
                    format!(
                        "process {} is not running in the simulation",
                        self.target_pid
                    ),
                )
            })?;
        let (uid, gid) = user.map(|u| (u.uid, u.gid)).unwrap_or((0, 0));
        if self.spec.stdio.interactive {
            let ran = host::exec_attached(&root, &c, argv, env, cwd, uid, gid, self.spec.stdio.tty)
                .map_err(|e| (crate::error::exit_code_of(&e), format!("{e:#}")))?;
            self.exit = Some(ran.map_err(exec_failure)?);
            return Ok(());
        }
        let ran = host::exec(
            &root,
            &c,
            argv,
            env,
            cwd,
            uid,
            gid,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )
        .map_err(|e| (crate::error::exit_code_of(&e), format!("{e:#}")))?;
        self.exit = Some(ran.map_err(exec_failure)?);
        Ok(())
    }

    /// After a foreground run: keep what it changed as the container's
    /// upper layer and let the simulated clock show the time it took.
    fn keep_changes(&self) -> Result<()> {
        let (Some(root), Some(dir)) = (&self.host_root, &self.upper_dir) else {
            return Ok(());
        };
        if self.entering || self.detached || self.before_exec.is_none() {
            return Ok(());
        }
        let image = host::layered_fs(&self.spec.store_root, &self.spec.layers, None)?;
        let changes = upper::FsPatch::between(&image, &self.fs, &host::mount_points(&self.mounts));
        host::write_upper(dir, &changes, &self.fs)?;
        let end = self.ended_ms;
        host::update(root, |st| {
            st.advance_to(end);
            Ok(())
        })
    }
}

impl Kernel for SimKernel {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn cgroup_setup(&self) -> &CgroupSetup {
        &self.cgroups
    }

    fn host_resources(&self) -> crate::resources::HostResources {
        crate::resources::HostResources::simulated(self.cgroups.mode)
    }

    fn is_simulated(&self) -> bool {
        true
    }

    fn now(&self) -> String {
        crate::clock::now_rfc3339()
    }

    fn look(&self, step: &Step, lang: crate::step::Lang) -> Option<String> {
        self.render_look(step, lang)
    }

    fn prepare_terminal(&mut self) -> Result<Option<String>> {
        Ok(Some("/dev/pts/0".into()))
    }

    fn bound_file_written(&mut self, container: &str, target: &str, text: &str) -> Result<()> {
        match &self.root {
            Some(root) => host::rewrite_bound_file(root, container, target, text.as_bytes()),
            None => Ok(()),
        }
    }

    fn link_exists(&mut self, name: &str) -> bool {
        self.with_net(|n| Ok(n.link_exists(name))).unwrap_or(false)
    }

    fn sysctl(&mut self, key: &str) -> String {
        self.with_net(|n| Ok(n.sysctl(key))).unwrap_or_default()
    }

    fn links(&mut self, pid: Option<i32>) -> Result<Vec<crate::kernel::LinkView>> {
        self.with_net(|n| n.link_view(pid.unwrap_or(0)))
    }

    fn nft_list_table(&mut self, table: &str) -> Result<Option<serde_json::Value>> {
        self.with_net(|n| Ok(n.nft.get(table).map(nft::json)))
    }

    fn apply(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::CgroupCreate { .. } | Step::CgroupJoin { .. } => {
                let step = step.clone();
                self.with_cgroups(|tree| match &step {
                    Step::CgroupCreate { paths } => {
                        for p in paths {
                            tree.entry(p.clone()).or_default();
                        }
                        Ok(())
                    }
                    Step::CgroupJoin { paths, pid } => {
                        for p in paths {
                            tree.get_mut(p)
                                .with_context(|| format!("no cgroup {}", p.display()))?
                                .push(*pid);
                        }
                        Ok(())
                    }
                    _ => Ok(()),
                })
            }
            // The model has no device nodes to open: it checks what the
            // kernel would (the cgroup exists; on v2 the rules compile to the
            // same program the real kernel loads) and changes nothing else.
            Step::DeviceCgroup {
                paths,
                deny_all,
                allow,
                version,
            } => {
                if *version == 2 && *deny_all {
                    crate::confine::devices::program(*deny_all, allow)?;
                }
                let paths = paths.clone();
                self.with_cgroups(|tree| {
                    for p in &paths {
                        if !tree.contains_key(p) {
                            bail!("open {}: No such file or directory", p.display());
                        }
                    }
                    Ok(())
                })
            }
            Step::CgroupRemove { paths } => {
                let paths = paths.clone();
                self.with_cgroup_files(|_, files| {
                    limits::forget(files, &paths);
                    Ok(())
                })?;
                self.with_cgroups(|tree| {
                    for p in &paths {
                        tree.remove(p);
                    }
                    Ok(())
                })
            }
            Step::CgroupLimit { writes, .. } => {
                let writes = writes.clone();
                self.with_cgroup_files(|tree, files| {
                    writes
                        .iter()
                        .try_for_each(|(f, v)| limits::write(tree, files, f, v))
                })?;
                // A running program lives under its new limits from now on.
                match &self.root {
                    Some(root) => {
                        let dirs: Vec<PathBuf> = writes
                            .iter()
                            .filter_map(|(f, _)| f.parent().map(Path::to_path_buf))
                            .collect();
                        host::limits_changed(root, &dirs)
                    }
                    None => Ok(()),
                }
            }
            Step::Freeze {
                path,
                frozen,
                version,
            } => {
                let (path, frozen, version) = (path.clone(), *frozen, *version);
                self.with_cgroup_files(|tree, files| {
                    limits::freeze(tree, files, &path, frozen, version)
                })?;
                match &self.root {
                    Some(root) => host::freeze(root, &path, frozen),
                    None => Ok(()),
                }
            }
            // Signals and waits reach the simulated host's processes; on a
            // throwaway host every process ended with the command that ran it.
            Step::Signal { pid, signal, .. } => match &self.root {
                Some(root) => {
                    let sig: nix::sys::signal::Signal = signal
                        .parse()
                        .with_context(|| format!("unknown signal {signal}"))?;
                    host::signal(root, *pid, sig as i32)
                }
                None => Ok(()),
            },
            Step::WaitExit { pid, timeout_s, .. } => match &self.root {
                Some(root) => host::wait_exit(root, *pid, *timeout_s).map(|_| ()),
                None => Ok(()),
            },
            // The model keeps no host-side owners of a container's files,
            // and its processes read the layers from their blobs: the maps
            // show in /proc/PID/uid_map from the child's own steps.
            Step::UsernsMap { .. } | Step::IdmapLayers { .. } | Step::Chown { .. } => Ok(()),
            // The engine itself does the monitor's work (fork, setsid, the
            // log pipes, waitpid) and the store's (record, directory).
            s if s.is_monitor() || s.is_store() => Ok(()),
            s if s.is_network() => {
                let s = s.clone();
                self.with_net(|n| n.apply(&s))
            }
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
        let host_pid = self.take_pid()?;
        // Namespace inodes, like PIDs, are never handed out twice on one host.
        let ns = match &self.root {
            Some(root) => host::update(root, |st| {
                if st.next_ns_inode == 0 {
                    st.next_ns_inode = procfs::FIRST_NEW_NS_INODE;
                }
                Ok(procfs::NsInodes::cloned(
                    procfs::NsInodes::HOST,
                    namespaces,
                    &mut st.next_ns_inode,
                ))
            })?,
            None => procfs::NsInodes::cloned(
                procfs::NsInodes::HOST,
                namespaces,
                &mut self.next_ns_inode,
            ),
        };
        self.child = Some(SimChild::new(
            host_pid,
            namespaces.clone(),
            spec,
            self.root.clone(),
            self.host_hostname.clone(),
            ns,
        ));
        if namespaces.contains(&Namespace::Net) {
            self.with_net(|n| {
                n.new_netns(host_pid);
                Ok(())
            })?;
        }
        Ok(host_pid)
    }

    fn enter_child(&mut self, spec: ChildSpec) -> Result<i32> {
        let host_pid = self.take_pid()?;
        let mut child = SimChild::new(
            host_pid,
            Vec::new(),
            spec,
            self.root.clone(),
            self.host_hostname.clone(),
            procfs::NsInodes::HOST,
        );
        child.entering = true;
        self.child = Some(child);
        Ok(host_pid)
    }

    fn start_child(
        &mut self,
        observer: &mut dyn StepObserver,
    ) -> Result<std::result::Result<(), ChildFailure>> {
        let host_pid = self.child.as_ref().context("no child to start")?.host_pid;
        // The cgroups it joined: the persistent host's tree when there is one.
        let mut member_of: Vec<PathBuf> = Vec::new();
        self.with_cgroups(|tree| {
            member_of = tree
                .iter()
                .filter(|(_, pids)| pids.contains(&host_pid))
                .map(|(path, _)| path.clone())
                .collect();
            Ok(())
        })?;
        let limits = self.limits_of(&member_of);
        let child = self.child.as_mut().context("no child to start")?;
        child.cgroup = procfs::cgroup_file(&self.cgroups, &member_of);
        child.res.limits = vec![sh::memcg::TimedLimits { at_ms: 0, limits }];
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
            // Step-through's `l`: the model right after the step.
            if let Some(lang) = observer.look_wanted() {
                if let Some(view) = look::child_step(child, step, lang) {
                    observer.looked(&view);
                }
            }
        }
        Ok(Ok(()))
    }

    fn wait_child(&mut self) -> Result<i32> {
        let child = self.child.take().context("no child to wait for")?;
        self.forget_netns(child.host_pid)?;
        child.keep_volumes()?;
        child.keep_changes()?;
        self.last_counters = Some(child.counters);
        if child.entering {
            self.leave_cgroups(child.host_pid)?;
        }
        child.exit.context("the simulated program did not run")
    }

    fn oom_kills(&self, paths: &[PathBuf]) -> u64 {
        self.oom_counter(paths).map_or(0, |(_, kills)| kills)
    }

    fn oom_counter(&self, paths: &[PathBuf]) -> Option<(PathBuf, u64)> {
        let kills = self.last_counters?.oom_kill;
        let file = counters::oom_file(&self.cgroups, paths)?;
        (kills > 0).then_some((file, kills))
    }

    fn left_running(&self) -> bool {
        self.child.as_ref().is_some_and(|c| c.detached)
    }

    fn process_alive(&self, pid: i32, _pid_start: u64) -> bool {
        match &self.root {
            Some(root) => host::alive(root, pid).unwrap_or(false),
            None => false,
        }
    }

    fn kill_child(&mut self) {
        if let Some(c) = self.child.take() {
            let _ = self.forget_netns(c.host_pid);
            if c.entering {
                let _ = self.leave_cgroups(c.host_pid);
            }
        }
    }
}
