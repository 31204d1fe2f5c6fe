//! The real kernel: each step becomes the system calls it names.
//!
//! Process layout (as youki's main → init, minus the intermediate process):
//! glassbox clones the container's first process into its namespaces; the
//! child blocks on a pipe until glassbox has put it into its cgroup, then
//! runs its steps and execs. glassbox stays as the supervisor: it relays the
//! terminal, forwards signals and collects the exit status.

mod attach;
pub mod bpf;
mod cgroupfs;
mod child;
mod confine;
pub mod handover;
mod lifecycle;
mod limits;
pub mod log;
mod mounts;
mod net;
pub mod netlink;
pub mod nft;
pub(crate) mod oci;
mod tty;
mod userns;
pub mod volumes;

pub use child::{resolve_command, DEFAULT_PATH};
pub use tty::RawMode;

use super::{CgroupSetup, ChildFailure, ChildSpec, Go, Kernel, StepObserver};
use crate::step::{Namespace, Step};
use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The child that signals received by glassbox are forwarded to.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// Ctrl-Cs forwarded so far: a container's PID 1 ignores SIGINT unless it
/// handles it, so the third one kills it, as docker's CLI does.
static INTERRUPTS: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        let forwarded = if sig == libc::SIGINT && INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 2 {
            libc::SIGKILL
        } else {
            sig
        };
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, forwarded) };
    }
}

/// The signals a supervisor passes on to the container's process.
const FORWARDED_SIGNALS: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Run `body` with the signals a user sends glassbox (Ctrl-C, SIGTERM, ...)
/// forwarded to the container's process `pid`, as docker's CLI and conmon do.
fn forwarding_signals<T>(pid: Pid, body: impl FnOnce() -> T) -> T {
    FORWARD_TO.store(pid.as_raw(), Ordering::SeqCst);
    let previous: Vec<_> = FORWARDED_SIGNALS
        .iter()
        // SAFETY: installing a handler that only calls kill(2).
        .map(|&sig| {
            (sig, unsafe {
                libc::signal(
                    sig,
                    forward_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            })
        })
        .collect();
    let result = body();
    FORWARD_TO.store(0, Ordering::SeqCst);
    for (sig, handler) in previous {
        // SAFETY: restoring the handler that was there before.
        unsafe { libc::signal(sig, handler) };
    }
    result
}

/// Wait for the container's first process; docker's exit status (128+N for signal N).
fn wait_status(pid: Pid) -> Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => bail!("wait for container process {pid}: {}", e.desc()),
        }
    }
}

fn raw_sources(sources: &[(OwnedFd, log::Stream)]) -> Vec<(RawFd, log::Stream)> {
    sources.iter().map(|(fd, s)| (fd.as_raw_fd(), *s)).collect()
}

/// A detached container's output into its log, and to attached clients
/// with their keys to the container, until every stream has closed.
fn relay_log(
    file: &mut log::JsonLog,
    sources: &[(RawFd, log::Stream)],
    attach: Option<&mut attach::Server>,
    input: attach::Input,
) -> Result<()> {
    match attach {
        Some(server) => attach::relay(sources, file, input, server),
        None => log::relay(sources, file),
    }
}

/// glassbox-monitor's work (after a hand-over): what `wait_child` does for
/// a detached container, from the descriptors it was handed.
fn serve(mut s: handover::Serve) -> Result<i32> {
    let sources = raw_sources(&s.sources);
    let status = forwarding_signals(s.pid, || -> Result<i32> {
        relay_log(&mut s.log, &sources, s.attach.as_mut(), s.input)?;
        wait_status(s.pid)
    })?;
    if let Some(server) = s.attach {
        server.finish(status);
    }
    Ok(status)
}

impl Running {
    /// Where attached clients' keys go: the terminal's master (the one log
    /// source when there is a terminal), the stdin pipe, or nowhere.
    fn take_input(&mut self) -> attach::Input {
        match (self.interactive, self.log_tty, self.stdin_hold.take()) {
            (false, _, _) => attach::Input::None,
            (true, true, _) => self
                .log
                .as_ref()
                .and_then(|(_, sources)| sources.first())
                .map_or(attach::Input::None, |(fd, _)| {
                    attach::Input::Tty(fd.as_raw_fd())
                }),
            (true, false, Some(pipe)) => attach::Input::Pipe(pipe),
            (true, false, None) => attach::Input::None,
        }
    }
}

struct Running {
    pid: Pid,
    go_write: OwnedFd,
    report_read: Option<std::fs::File>,
    tty_master: Option<OwnedFd>,
    interactive: bool,
    steps: Vec<Step>,
    /// Log mode: the log, and the read ends of the container's output pipes.
    log: Option<(log::JsonLog, Vec<(OwnedFd, log::Stream)>)>,
    /// Log mode with `-i`: the write end of the container's stdin, held open
    /// (attached clients write to it).
    stdin_hold: Option<OwnedFd>,
    /// Log mode: the attach socket's server.
    attach: Option<attach::Server>,
    /// Log mode with a terminal: its master is the (only) log source.
    log_tty: bool,
    /// In a user namespace: the socket the idmapped layers are sent over.
    layer_sock: Option<OwnedFd>,
}

pub struct LinuxKernel {
    cgroups: CgroupSetup,
    /// Which cgroups `cgroup_remove` may touch: glassbox's own tree, or (for
    /// glassbox-runtime, whose caller picks cgroupsPath) any below a root.
    cgroup_scope: CgroupScope,
    child: Option<Running>,
    /// The PTY opened by `prepare_terminal`, handed to the child at clone.
    terminal: Option<(OwnedFd, OwnedFd)>,
    /// Namespaces the container's process is to be born in (`join_namespace`
    /// user or pid, parent steps before the clone): entered by `clone_joined`.
    children_join: Vec<(Namespace, std::fs::File)>,
    /// Its netlink socket in a container's network namespace, shared by
    /// that namespace's consecutive network steps (`net::NetnsSocket`).
    netns_socket: net::NetnsSocket,
}

/// Run `body` in a forked helper process and return what it says: for
/// what must not happen to this process itself (entering a user namespace
/// costs it its host privileges, and is refused while it has threads).
/// The helper only makes system calls and leaves by _exit; `what` names it
/// in an error.
pub(crate) fn in_helper_process(
    what: &str,
    body: impl FnOnce() -> Result<String>,
) -> Result<String> {
    let (read, write) = pipe_cloexec()?;
    // SAFETY: glassbox's only other thread is at most the cgroup migration
    // warmer, which holds no lock and allocates nothing; the helper leaves by _exit.
    match unsafe { nix::unistd::fork() }.with_context(|| format!("fork {what}"))? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            // NUL-terminated: a process the helper clones keeps the pipe
            // open, so its end of file can come much later.
            let said = match body() {
                Ok(text) => format!("+{text}\0"),
                Err(e) => format!("-{e:#}\0"),
            };
            let _ = nix::unistd::write(&write, said.as_bytes());
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let mut said = Vec::new();
            BufReader::new(std::fs::File::from(read))
                .read_until(0, &mut said)
                .with_context(|| format!("read from {what}"))?;
            let _ = waitpid(child, None);
            let said = String::from_utf8_lossy(said.strip_suffix(b"\0").unwrap_or_default());
            match said.split_at_checked(1) {
                Some(("+", text)) => Ok(text.to_string()),
                Some(("-", message)) => bail!("{message}"),
                _ => bail!("{what} ended without a word"),
            }
        }
    }
}

/// Clone the container's process with `flags`, born in the namespaces of
/// `joins` (opened by `join_namespace` steps). setns(2) into a PID
/// namespace changes only where the caller's next children are born; into
/// a user namespace it is refused to a multi-threaded caller and would cost
/// this process its host privileges, and the new namespaces must belong to
/// it. So with a user namespace to join, a forked helper joins (user, then
/// pid) and clones with CLONE_PARENT, so the container is still our child,
/// and tells us its PID; with only a PID namespace, we join it for the
/// clone and go back to our own.
fn clone_joined(
    joins: &[(Namespace, std::fs::File)],
    flags: CloneFlags,
    run: &dyn Fn() -> isize,
) -> Result<Pid> {
    let clone = |flags: CloneFlags| -> Result<Pid> {
        // The child runs on its own stack until exec; 1 MiB is plenty for mounts and exec.
        let mut stack = vec![0u8; 1 << 20];
        // SAFETY: glassbox's only other thread here is the cgroup migration
        // warmer, which holds no lock and allocates nothing
        // (cgroupfs::warm_migrations), so the child's copy of the address
        // space is consistent; the callback only uses memory it owns.
        unsafe { nix::sched::clone(Box::new(run), &mut stack, flags, Some(libc::SIGCHLD)) }
            .map_err(|e| anyhow::anyhow!("clone({:?}): {}", flags, e.desc()))
    };
    let enter = |ns: Namespace, file: &std::fs::File| {
        oci::setns_file(ns, file).map_err(|e| {
            anyhow::anyhow!("setns into the {} namespace: {}", ns.proc_name(), e.desc())
        })
    };
    let find = |want: Namespace| joins.iter().find(|(ns, _)| *ns == want).map(|(_, f)| f);
    if find(Namespace::User).is_none() {
        let Some(pid_ns) = find(Namespace::Pid) else {
            return clone(flags);
        };
        let own = std::fs::File::open("/proc/self/ns/pid")
            .context("open /proc/self/ns/pid (our own PID namespace)")?;
        enter(Namespace::Pid, pid_ns)?;
        let pid = clone(flags);
        enter(Namespace::Pid, &own).context("go back to our own PID namespace")?;
        return pid;
    }
    let said = in_helper_process("the namespace-joining helper", || {
        for ns in [Namespace::User, Namespace::Pid] {
            if let Some(file) = find(ns) {
                enter(ns, file)?;
            }
        }
        Ok(clone(flags | CloneFlags::CLONE_PARENT)?.to_string())
    })?;
    said.parse::<i32>()
        .map(Pid::from_raw)
        .with_context(|| format!("the namespace-joining helper said {said:?}"))
}

/// See [`LinuxKernel::for_oci`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum CgroupScope {
    Glassbox,
    AnyInside,
}

impl LinuxKernel {
    /// Make the container's first process (`flags`: clone into new namespaces)
    /// or an `exec` process (None: a plain fork), stopped before its first step.
    fn spawn(&mut self, spec: ChildSpec, flags: Option<CloneFlags>) -> Result<i32> {
        let (go_read, go_write) = pipe_cloexec()?;
        let (report_read, report_write) = pipe_cloexec()?;
        let terminal = self.terminal.take();
        let report_each = spec.report_each;
        let mut close = vec![go_write.as_raw_fd(), report_read.as_raw_fd()];
        if let Some((master, _)) = &terminal {
            close.push(master.as_raw_fd());
        }
        // Log mode: pipes for the container's streams (its terminal when it has one).
        let mut log_pipes: Vec<(OwnedFd, OwnedFd, log::Stream)> = Vec::new();
        let mut stdin_pipe: Option<(OwnedFd, OwnedFd)> = None;
        let log_file = match &spec.stdio.log {
            Some(path) => Some(log::JsonLog::open(path)?),
            None => None,
        };
        let attach_server = match (&spec.stdio.log, &spec.stdio.attach) {
            (Some(_), Some(path)) => {
                Some(attach::Server::open(path.clone(), spec.stdio.attach_wait)?)
            }
            _ => None,
        };
        if log_file.is_some() && terminal.is_none() {
            for stream in [log::Stream::Stdout, log::Stream::Stderr] {
                let (r, w) = pipe_cloexec()?;
                close.push(r.as_raw_fd());
                log_pipes.push((r, w, stream));
            }
        }
        if log_file.is_some() && spec.stdio.interactive && terminal.is_none() {
            let (r, w) = pipe_cloexec()?;
            close.push(w.as_raw_fd());
            stdin_pipe = Some((r, w));
        }
        let null_out: Option<OwnedFd> = if spec.stdio.discard_output && log_pipes.is_empty() {
            let fd = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .context("open /dev/null")?;
            // SAFETY: a fresh descriptor we own.
            Some(unsafe { OwnedFd::from_raw_fd(fd) })
        } else {
            None
        };
        let null_fd = null_out.as_ref().map(|fd| fd.as_raw_fd());
        // A new user namespace: the parent hands the child its idmapped layers.
        let layer_socks = match flags {
            Some(f) if f.contains(CloneFlags::CLONE_NEWUSER) => {
                let (parent, child) = nix::sys::socket::socketpair(
                    nix::sys::socket::AddressFamily::Unix,
                    nix::sys::socket::SockType::Stream,
                    None,
                    nix::sys::socket::SockFlag::SOCK_CLOEXEC,
                )
                .context("socketpair for the idmapped layers")?;
                close.push(parent.as_raw_fd());
                Some((parent, child))
            }
            _ => None,
        };
        let ctx = child::ChildContext {
            layer_sock: layer_socks.as_ref().map(|(_, c)| c.as_raw_fd()),
            steps: &spec.steps,
            go_read: go_read.as_raw_fd(),
            report_write: report_write.as_raw_fd(),
            report_each,
            tty_slave: terminal.as_ref().map(|(_, slave)| slave.as_raw_fd()),
            interactive: spec.stdio.interactive,
            stdin_fd: stdin_pipe.as_ref().map(|(r, _)| r.as_raw_fd()),
            stdout_fd: log_pipes.first().map(|(_, w, _)| w.as_raw_fd()).or(null_fd),
            stderr_fd: log_pipes.get(1).map(|(_, w, _)| w.as_raw_fd()).or(null_fd),
            close,
        };
        let pid = match flags {
            Some(flags) => {
                let joins = std::mem::take(&mut self.children_join);
                clone_joined(&joins, flags, &|| child::run(&ctx))?
            }
            // SAFETY: single-threaded, as above; the child leaves through _exit.
            None => match unsafe { nix::unistd::fork() }.context("fork")? {
                nix::unistd::ForkResult::Child => {
                    let code = child::run(&ctx);
                    // SAFETY: leave without running the parent's destructors.
                    unsafe { libc::_exit(code as i32) }
                }
                nix::unistd::ForkResult::Parent { child } => child,
            },
        };
        drop(go_read);
        drop(report_write);
        let layer_sock = layer_socks.map(|(parent, _child_end)| parent);
        let mut tty_master = terminal.map(|(master, slave)| {
            drop(slave);
            master
        });
        let log_tty = log_file.is_some() && tty_master.is_some();
        let log = match log_file {
            None => None,
            Some(file) => {
                let mut sources = Vec::new();
                for (r, w, stream) in log_pipes {
                    drop(w);
                    sources.push((r, stream));
                }
                if let Some(master) = tty_master.take() {
                    sources.push((master, log::Stream::Stdout));
                }
                Some((file, sources))
            }
        };
        let stdin_hold = stdin_pipe.map(|(r, w)| {
            drop(r);
            w
        });
        // SAFETY: report_read is an fd we own; ownership moves into the File.
        let report_read = unsafe { std::fs::File::from_raw_fd(report_read.into_raw_fd()) };
        self.child = Some(Running {
            pid,
            go_write,
            report_read: Some(report_read),
            tty_master,
            interactive: spec.stdio.interactive,
            steps: spec.steps,
            log,
            stdin_hold,
            attach: attach_server,
            log_tty,
            layer_sock,
        });
        Ok(pid.as_raw())
    }

    pub fn new() -> Result<LinuxKernel> {
        Ok(LinuxKernel {
            cgroups: CgroupSetup::detect()?,
            cgroup_scope: CgroupScope::Glassbox,
            child: None,
            terminal: None,
            children_join: Vec::new(),
            netns_socket: None,
        })
    }

    /// `join_namespace` user or pid: kept open for the clone (`clone_joined`).
    fn join_for_children(&mut self, ns: Namespace, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        self.children_join.push((ns, file));
        Ok(())
    }

    /// The kernel glassbox-runtime drives: an OCI bundle names its own
    /// cgroupsPath (podman: /libpod_parent/libpod-ID), so removal is allowed
    /// for any cgroup strictly inside a hierarchy, not only glassbox's tree.
    /// `glassbox` itself keeps the narrow guard.
    pub fn for_oci() -> Result<LinuxKernel> {
        Ok(LinuxKernel {
            cgroup_scope: CgroupScope::AnyInside,
            ..LinuxKernel::new()?
        })
    }

    /// The container's terminal master once its process exists (for
    /// glassbox-runtime, which hands it to the caller's console socket
    /// instead of relaying it).
    pub fn take_terminal_master(&mut self) -> Option<OwnedFd> {
        self.child.as_mut().and_then(|c| c.tty_master.take())
    }

    fn clone_flags(namespaces: &[Namespace]) -> CloneFlags {
        namespaces.iter().fold(CloneFlags::empty(), |acc, ns| {
            acc | match ns {
                Namespace::Mount => CloneFlags::CLONE_NEWNS,
                Namespace::Uts => CloneFlags::CLONE_NEWUTS,
                Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
                Namespace::Pid => CloneFlags::CLONE_NEWPID,
                Namespace::Net => CloneFlags::CLONE_NEWNET,
                Namespace::User => CloneFlags::CLONE_NEWUSER,
                Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            }
        })
    }
}

pub(super) fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")
}

impl Kernel for LinuxKernel {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn warm_cgroup_migration(&mut self) {
        cgroupfs::warm_migrations(&self.cgroups.hierarchies);
    }

    fn cgroup_setup(&self) -> &CgroupSetup {
        &self.cgroups
    }

    fn prepare_terminal(&mut self) -> Result<Option<String>> {
        let winsize = tty::host_winsize();
        let pty = nix::pty::openpty(winsize.as_ref(), None).context("open a pseudo-terminal")?;
        let name = tty::pts_name(pty.slave.as_raw_fd())?;
        self.terminal = Some((pty.master, pty.slave));
        Ok(Some(name))
    }

    fn prepare_terminal_in(&mut self, pid: i32) -> Result<Option<String>> {
        let (master, slave, name) = tty::open_in_container(pid)?;
        self.terminal = Some((master, slave));
        Ok(Some(name))
    }

    fn oom_kills(&self, paths: &[std::path::PathBuf]) -> u64 {
        super::cgroup::oom_kills(paths)
    }

    fn apply(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::CgroupCreate { paths } => paths.iter().try_for_each(|p| cgroupfs::create(p)),
            Step::CgroupJoin { paths, pid } => {
                let joined = paths.iter().try_for_each(|p| cgroupfs::join(p, *pid));
                cgroupfs::stop_warming();
                joined
            }
            Step::CgroupRemove { paths } => {
                for p in paths {
                    let allowed = match self.cgroup_scope {
                        CgroupScope::Glassbox => super::cgroup::is_under(&self.cgroups, p),
                        CgroupScope::AnyInside => super::cgroup::is_inside(&self.cgroups, p),
                    };
                    if !allowed {
                        bail!("refusing to remove {}: not a glassbox cgroup", p.display());
                    }
                    cgroupfs::remove(p)?;
                }
                Ok(())
            }
            Step::Signal {
                pid,
                pid_start,
                signal,
            } => lifecycle::signal(*pid, *pid_start, signal),
            Step::WaitExit {
                pid,
                pid_start,
                timeout_s,
            } => {
                lifecycle::wait_exit(*pid, *pid_start, *timeout_s);
                Ok(())
            }
            Step::DeviceCgroup {
                paths,
                deny_all,
                allow,
                version,
            } => confine::device_cgroup(paths, *deny_all, allow, *version),
            Step::CgroupLimit { writes, .. } => limits::write_limits(writes),
            Step::UsernsMap { pid, map } => userns::write_maps(*pid, map),
            Step::IdmapLayers {
                pid,
                layers,
                targets,
                ..
            } => {
                let sock = self
                    .child
                    .as_ref()
                    .and_then(|c| c.layer_sock.as_ref())
                    .context("no container process in a user namespace to send layers to")?;
                userns::idmap_layers(*pid, layers, targets, sock.as_raw_fd())
            }
            Step::Chown { paths, uid, gid } => userns::chown(paths, *uid, *gid),
            Step::JoinNamespace {
                namespace: ns @ (Namespace::Pid | Namespace::User),
                path,
            } => self.join_for_children(*ns, path),
            Step::Freeze {
                path,
                frozen,
                version,
            } => limits::freeze(path, *frozen, *version),
            // The engine itself does the monitor's work (fork, setsid, the
            // log pipes, waitpid) and the store's (record, directory).
            s if s.is_monitor() || s.is_store() => Ok(()),
            s if s.is_network() => net::apply(s, &mut self.netns_socket),
            Step::Hook {
                stage,
                path,
                args,
                env,
                timeout,
                state,
            } => oci::run_hook(stage, path, args, env, *timeout, state),
            Step::ReleaseStart {
                fifo,
                pid,
                pid_start,
            } => oci::release_start(fifo, *pid, *pid_start),
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
        self.spawn(spec, Some(Self::clone_flags(namespaces)))
    }

    fn enter_child(&mut self, spec: ChildSpec) -> Result<i32> {
        self.spawn(spec, None)
    }

    fn start_child(
        &mut self,
        observer: &mut dyn StepObserver,
    ) -> Result<std::result::Result<(), ChildFailure>> {
        let child = self.child.as_mut().context("no child to start")?;
        let mut go = std::fs::File::from(child.go_write.try_clone()?);
        // Unobserved, the child may already have failed in a mount step and
        // closed its end: its report below says why, not this broken pipe
        // (nor a SIGPIPE: main restores its default action, which would kill us).
        // SAFETY: swapping a signal disposition around one write, then restoring it.
        let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let released = go.write_all(b"g");
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGPIPE, previous) };
        if let Err(e) = released {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(anyhow::Error::from(e).context("release the container process"));
            }
        }
        let mut reader = BufReader::new(child.report_read.take().context("child already started")?);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(Ok(())); // end of file: exec closed the pipe, the program runs
            }
            let line = line.trim_end();
            if line == "W" {
                // AwaitStart: set up, parked on the exec fifo until `start`.
                return Ok(Ok(()));
            }
            if let Some(index) = line.strip_prefix("S ") {
                let step = index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| child.steps.get(i))
                    .context("bad report from child")?;
                match observer.before(step)? {
                    Go::Run => go.write_all(b"g")?,
                    Go::Abort => {
                        go.write_all(b"q")?;
                        return Ok(Err(ChildFailure {
                            kind: step.kind(),
                            code: crate::error::EXIT_ENGINE,
                            message: "aborted".into(),
                        }));
                    }
                }
            } else if let Some(rest) = line.strip_prefix("E ") {
                let mut parts = rest.splitn(3, ' ');
                let code = parts
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(crate::error::EXIT_ENGINE);
                let kind_name = parts.next().unwrap_or("");
                let kind = child
                    .steps
                    .iter()
                    .map(|s| s.kind())
                    .find(|k| *k == kind_name)
                    .unwrap_or("exec");
                return Ok(Err(ChildFailure {
                    kind,
                    code,
                    message: parts.next().unwrap_or("").to_string(),
                }));
            }
        }
    }

    fn wait_child(&mut self) -> Result<i32> {
        let child = self.child.as_mut().context("no child to wait for")?;
        let pid = child.pid;
        let status = forwarding_signals(pid, || -> Result<i32> {
            if let Some(master) = &child.tty_master {
                tty::relay(master.as_raw_fd(), child.interactive)?;
            }
            // Keys come only through attach clients; without them the
            // stdin pipe stays held (open, never written) until the end.
            let input = match child.attach {
                Some(_) => child.take_input(),
                None => attach::Input::None,
            };
            if let Some((file, sources)) = &mut child.log {
                relay_log(file, &raw_sources(sources), child.attach.as_mut(), input)?;
            }
            wait_status(pid)
        })?;
        if let Some(server) = self.child.take().and_then(|c| c.attach) {
            server.finish(status);
        }
        Ok(status)
    }

    fn hand_over(&mut self, program: &Path, exit_command: &[String], keep: &[RawFd]) -> Result<()> {
        let child = self
            .child
            .as_mut()
            .context("no container process to hand over")?;
        if child.log.is_none() || child.attach.is_none() {
            bail!("only a detached container's monitor hands over");
        }
        let input = child.take_input();
        let Some((log, sources)) = &child.log else {
            unreachable!("checked above")
        };
        let (args, mut open) = handover::monitor_args(
            child.pid.as_raw(),
            log,
            &raw_sources(sources),
            child.attach.as_ref(),
            &input,
            exit_command,
        );
        open.extend_from_slice(keep);
        let err = match handover::exec_keeping(program, &args, &open) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        if let attach::Input::Pipe(fd) = input {
            child.stdin_hold = Some(fd);
        }
        Err(err)
    }

    fn kill_child(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = nix::sys::signal::kill(child.pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(child.pid, None);
        }
    }
}
