//! The container's first process, between clone and exec.
//!
//! It waits for the parent's go-ahead (so the parent can put it in its cgroup
//! first), then carries out its steps. When the parent asked for reports it
//! writes `S <index>` before each step and waits for `g` (go) or `q` (abort):
//! that is how narration and step-through see steps inside the namespaces.
//! A failure is written as `E <code> <kind> <message>`. The report pipe is
//! close-on-exec, so the parent reads end-of-file exactly when exec succeeded.

use super::{confine, mounts, net, oci};
use crate::error::{EXIT_CANNOT_EXEC, EXIT_ENGINE, EXIT_NOT_FOUND};
use crate::step::{Namespace, Step};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::io::{FromRawFd, RawFd};
use std::path::Path;

pub struct ChildContext<'a> {
    pub steps: &'a [Step],
    pub go_read: RawFd,
    pub report_write: RawFd,
    pub report_each: bool,
    pub tty_slave: Option<RawFd>,
    pub interactive: bool,
    /// Log mode: the pipes that become the container's stdin, stdout and stderr.
    pub stdin_fd: Option<RawFd>,
    pub stdout_fd: Option<RawFd>,
    pub stderr_fd: Option<RawFd>,
    /// Parent-side fds the child must close.
    pub close: Vec<RawFd>,
    /// In a new user namespace: where the idmapped layers arrive.
    pub layer_sock: Option<RawFd>,
}

fn read_byte(fd: RawFd) -> Option<u8> {
    let mut b = [0u8; 1];
    loop {
        match nix::unistd::read(fd, &mut b) {
            Ok(1) => return Some(b[0]),
            Ok(_) => return None,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// The child's whole life; the return value is its exit status when it fails before exec.
pub fn run(ctx: &ChildContext) -> isize {
    for fd in &ctx.close {
        let _ = nix::unistd::close(*fd);
    }
    // SAFETY: the fd was made by the parent for us and is not used elsewhere in this process.
    let mut report = unsafe { std::fs::File::from_raw_fd(ctx.report_write) };
    // Unobserved, the child builds its mounts while the parent moves it into
    // its cgroup (on cgroup v1 that write waits for an RCU grace period, 6 to
    // 28 ms here) and takes the go-ahead only before the first step that
    // must run inside the cgroup. Observed, every step waits, in plan order.
    let mut released = ctx.report_each;
    // Reports stop at the exec fifo: `create` has returned and nobody reads them.
    let mut report_each = ctx.report_each;
    if released && read_byte(ctx.go_read) != Some(b'g') {
        return EXIT_ENGINE as isize;
    }
    if let Err(e) = setup_stdio(ctx) {
        let _ = writeln!(report, "E {EXIT_ENGINE} stdio {e}");
        return EXIT_ENGINE as isize;
    }
    for (index, step) in ctx.steps.iter().enumerate() {
        if !released && !before_cgroup_join(step) {
            if read_byte(ctx.go_read) != Some(b'g') {
                return EXIT_ENGINE as isize;
            }
            released = true;
        }
        if report_each {
            if writeln!(report, "S {index}").is_err() {
                return EXIT_ENGINE as isize;
            }
            if read_byte(ctx.go_read) != Some(b'g') {
                return EXIT_ENGINE as isize; // aborted by the user in step-through
            }
        }
        if let Step::SetNs { pid, namespaces } = step {
            if let Err(message) = enter(*pid, namespaces) {
                let _ = writeln!(report, "E {EXIT_ENGINE} setns {message}");
                return EXIT_ENGINE as isize;
            }
            // Joining a PID namespace takes effect for children only: fork once
            // more. The first process stays outside, waits, and passes on the status.
            // (`--network container:` joins the network namespace only: no fork.)
            if !namespaces.contains(&Namespace::Pid) {
                continue;
            }
            // SAFETY: this process is single-threaded (a fork of glassbox).
            match unsafe { libc::fork() } {
                -1 => {
                    let e = std::io::Error::last_os_error();
                    let _ = writeln!(report, "E {EXIT_ENGINE} setns fork: {e}");
                    return EXIT_ENGINE as isize;
                }
                0 => continue,
                grandchild => {
                    let _ = nix::unistd::close(ctx.go_read);
                    let _ = nix::unistd::close(ctx.report_write);
                    std::mem::forget(report);
                    relay_exit(grandchild);
                }
            }
        }
        if let Step::AwaitStart { fd, .. } = step {
            // `create` returns here: check now what exec will need, so a
            // missing program fails `create` (as runc's), then report the
            // wait and stop reporting (the runtime that reads it exits).
            if let Some((code, message)) = exec_precheck(&ctx.steps[index..]) {
                let _ = writeln!(report, "E {code} exec {message}");
                return code as isize;
            }
            if writeln!(report, "W").is_err() {
                return EXIT_ENGINE as isize;
            }
            if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                use std::os::unix::io::AsRawFd;
                let _ = nix::unistd::dup2(null.as_raw_fd(), ctx.report_write);
            }
            report_each = false;
            if oci::await_start(*fd).is_err() {
                return EXIT_ENGINE as isize;
            }
            continue;
        }
        if let Err((code, message)) = apply(step, ctx.layer_sock) {
            let message = message.replace('\n', " ");
            let _ = writeln!(report, "E {code} {} {message}", step.kind());
            return code as isize;
        }
    }
    EXIT_ENGINE as isize // unreachable in practice: the last step is exec
}

/// Steps that may run before the parent has put the child in its cgroup:
/// mounts and names inside the child's own new namespaces, which vanish with
/// them. No program of the user's runs, and nothing forks, before the join:
/// setns (which forks), the confinement calls and exec all wait for it.
fn before_cgroup_join(step: &Step) -> bool {
    matches!(
        step,
        Step::MountPrivate
            | Step::AttachLayers { .. }
            | Step::MountOverlay { .. }
            | Step::MountSpecial { .. }
            | Step::MakeDevices { .. }
            | Step::MountBind { .. }
            | Step::SetHostname { .. }
            | Step::LinkUp { .. }
            | Step::PivotRoot { .. }
            | Step::AddDevices { .. }
            | Step::RemountReadOnly { .. }
            | Step::MaskPaths { .. }
            | Step::ReadonlyPaths { .. }
            | Step::VolumeSeed { .. }
            | Step::VolumeMount { .. }
            | Step::VolumeRemountRo { .. }
            | Step::OciMount { .. }
    )
}

/// Before the exec fifo: would exec find the program and its directory?
fn exec_precheck(rest: &[Step]) -> Option<(i32, String)> {
    let Some(Step::Exec { argv, env, cwd, .. }) =
        rest.iter().find(|s| matches!(s, Step::Exec { .. }))
    else {
        return None;
    };
    let first = argv.first()?;
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let resolved = if first.contains('/') {
        Path::new(cwd).join(first).exists().then(|| first.clone())
    } else {
        resolve_command(first, path_var)
    };
    match resolved {
        Some(_) => None,
        None => Some((
            EXIT_NOT_FOUND,
            format!("exec: \"{first}\": executable file not found in $PATH"),
        )),
    }
}

/// Join the namespaces of process `pid`, the mount namespace last (its root
/// becomes ours: the container's, already pivoted).
fn enter(pid: i32, namespaces: &[Namespace]) -> Result<(), String> {
    let mut files = Vec::new();
    for ns in namespaces {
        let path = format!("/proc/{pid}/ns/{}", ns.proc_name());
        let file = std::fs::File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        files.push((*ns, path, file));
    }
    files.sort_by_key(|(ns, _, _)| *ns == Namespace::Mount);
    for (ns, path, file) in &files {
        nix::sched::setns(file, super::LinuxKernel::clone_flags(&[*ns]))
            .map_err(|e| format!("setns {path}: {}", e.desc()))?;
    }
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))
}

static EXEC_CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = EXEC_CHILD.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// The process left outside the PID namespace: forward signals to the one
/// inside, wait for it, and exit as it did (128+N for signal N).
fn relay_exit(grandchild: libc::pid_t) -> ! {
    EXEC_CHILD.store(grandchild, std::sync::atomic::Ordering::SeqCst);
    for sig in super::FORWARDED_SIGNALS {
        // SAFETY: installing a handler that only calls kill(2).
        unsafe {
            libc::signal(
                sig,
                forward as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let code = loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(grandchild, &mut status, 0) };
        if r == grandchild {
            if libc::WIFEXITED(status) {
                break libc::WEXITSTATUS(status);
            }
            if libc::WIFSIGNALED(status) {
                break 128 + libc::WTERMSIG(status);
            }
        } else if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break EXIT_ENGINE;
        }
    };
    // SAFETY: leave without running destructors of the parent's copies.
    unsafe { libc::_exit(code) }
}

fn setup_stdio(ctx: &ChildContext) -> nix::Result<()> {
    if let Some(slave) = ctx.tty_slave {
        nix::unistd::setsid()?;
        // SAFETY: TIOCSCTTY on the terminal fd we own makes it our controlling terminal.
        if unsafe { libc::ioctl(slave, libc::TIOCSCTTY as _, 0) } < 0 {
            return Err(nix::errno::Errno::last());
        }
        for target in 0..3 {
            nix::unistd::dup2(slave, target)?;
        }
        if slave > 2 {
            nix::unistd::close(slave)?;
        }
    } else if let Some(fd) = ctx.stdin_fd {
        nix::unistd::dup2(fd, 0)?;
    } else if !ctx.interactive || ctx.stdout_fd.is_some() {
        // Without -i the container reads nothing, as with docker.
        let null = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY,
            nix::sys::stat::Mode::empty(),
        )?;
        nix::unistd::dup2(null, 0)?;
        nix::unistd::close(null)?;
    }
    // (dup2 clears close-on-exec on the copies; the originals close at exec.)
    if let Some(fd) = ctx.stdout_fd {
        nix::unistd::dup2(fd, 1)?;
    }
    if let Some(fd) = ctx.stderr_fd {
        nix::unistd::dup2(fd, 2)?;
    }
    Ok(())
}

/// `layer_sock`: where the idmapped layers arrive (a new user namespace only).
fn apply(step: &Step, layer_sock: Option<RawFd>) -> Result<(), (i32, String)> {
    let engine = |e: anyhow::Error| (EXIT_ENGINE, format!("{e:#}"));
    match step {
        Step::MountPrivate => mounts::make_rprivate().map_err(engine),
        Step::UsernsRoot { .. } => super::userns::become_root().map_err(engine),
        Step::AttachLayers { targets } => match layer_sock {
            Some(sock) => super::userns::attach_layers(sock, targets).map_err(engine),
            None => Err((
                EXIT_ENGINE,
                "no socket to receive the idmapped layers on".into(),
            )),
        },
        Step::MountOverlay {
            lower,
            upper,
            work,
            target,
            userxattr,
        } => mounts::overlay(lower, upper, work, target, *userxattr).map_err(engine),
        Step::MountSpecial {
            fs,
            target,
            options,
            read_only,
        } => mounts::special(*fs, target, options, *read_only).map_err(engine),
        Step::MakeDevices { dev, entries, bind } => {
            mounts::devices(dev, entries, *bind).map_err(engine)
        }
        Step::MountBind {
            source,
            target,
            read_only,
        } => mounts::bind(source, target, *read_only).map_err(engine),
        Step::VolumeSeed {
            root,
            destination,
            volume,
        } => super::volumes::seed(root, destination, volume).map_err(engine),
        Step::VolumeMount {
            what: kind,
            source,
            root,
            destination,
            options,
        } => {
            super::volumes::mount_in_root(kind, source, root, destination, options).map_err(engine)
        }
        Step::VolumeRemountRo { root, destination } => {
            super::volumes::remount_ro(root, destination).map_err(engine)
        }
        Step::SetHostname { hostname } => nix::unistd::sethostname(hostname)
            .map_err(|e| (EXIT_ENGINE, format!("sethostname {hostname}: {}", e.desc()))),
        Step::LinkUp { name } => net::link_up(name).map_err(engine),
        Step::PivotRoot { new_root } => mounts::pivot_root(new_root).map_err(engine),
        Step::AddDevices { dev, devices } => confine::add_devices(dev, devices).map_err(engine),
        Step::RemountReadOnly { target } => {
            confine::remount_ro(target, nix::mount::MsFlags::empty()).map_err(engine)
        }
        Step::MaskPaths { paths } => confine::mask_paths(paths).map_err(engine),
        Step::ReadonlyPaths { paths } => confine::readonly_paths(paths).map_err(engine),
        Step::NoNewPrivs => confine::no_new_privs().map_err(engine),
        Step::SeccompLoad { program, .. } => confine::seccomp_load(program).map_err(engine),
        Step::CapSet { set, non_root, .. } => confine::cap_set(*set, *non_root).map_err(engine),
        Step::SetUser { user } => confine::set_user(user).map_err(|(call, e)| {
            (
                EXIT_CANNOT_EXEC,
                format!("{call} for user {}: {}", user.spec, e.desc()),
            )
        }),
        Step::SetRlimits { limits } => {
            crate::resources::ulimit::apply(limits).map_err(|e| (EXIT_ENGINE, e))
        }
        Step::OomScoreAdj { value } => {
            std::fs::write("/proc/self/oom_score_adj", value.to_string()).map_err(|e| {
                (
                    EXIT_ENGINE,
                    format!("write {value} to /proc/self/oom_score_adj: {e}"),
                )
            })
        }
        Step::OciMount {
            source,
            root,
            destination,
            fstype,
            options,
        } => oci::oci_mount(source, root, destination, fstype, options).map_err(engine),
        Step::JoinNamespace { namespace, path } => {
            oci::join_namespace(*namespace, path).map_err(engine)
        }
        Step::SysctlSet { key, value } => oci::sysctl_set(key, value).map_err(engine),
        Step::Hook {
            stage,
            path,
            args,
            env,
            timeout,
            state,
        } => oci::run_hook(stage, path, args, env, *timeout, state).map_err(engine),
        Step::Exec { argv, env, cwd, .. } => Err(exec(argv, env, cwd)),
        other => Err((
            EXIT_ENGINE,
            format!("step {} cannot run inside the container", other.kind()),
        )),
    }
}

/// The PATH a container gets when its image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Find a command as execvp would, but with the container's PATH (glibc's
/// execvpe would use glassbox's own).
pub fn resolve_command(cmd: &str, path_var: &str) -> Option<String> {
    if cmd.contains('/') {
        return Some(cmd.to_string());
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/{cmd}", d.trim_end_matches('/')))
        .find(|candidate| {
            Path::new(candidate)
                .metadata()
                .map(|m| m.is_file())
                .unwrap_or(false)
        })
}

/// exec the program; returns only on failure, with docker's code and message.
fn exec(argv: &[String], env: &[String], cwd: &str) -> (i32, String) {
    // Rust ignores SIGPIPE, and exec keeps ignored signals: give the program
    // the default, or `yes | head` inside the container would never end.
    // SAFETY: resetting a disposition and the signal mask in a single-threaded child.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    if argv.is_empty() {
        return (
            EXIT_ENGINE,
            "no command given and the image has no default command".into(),
        );
    }
    if let Err(e) = std::fs::create_dir_all(cwd).and_then(|_| std::env::set_current_dir(cwd)) {
        return (
            EXIT_ENGINE,
            format!("chdir to working directory {cwd:?}: {e}"),
        );
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let Some(program) = resolve_command(&argv[0], path_var) else {
        return (
            EXIT_NOT_FOUND,
            format!("exec: \"{}\": executable file not found in $PATH", argv[0]),
        );
    };
    let to_c = |s: &String| CString::new(s.as_bytes()).unwrap_or_default();
    let c_argv: Vec<CString> = argv.iter().map(to_c).collect();
    let c_env: Vec<CString> = env.iter().map(to_c).collect();
    let c_program = CString::new(program.as_bytes()).unwrap_or_default();
    let err = nix::unistd::execve(&c_program, &c_argv, &c_env).unwrap_err();
    let (code, reason) = match err {
        nix::errno::Errno::ENOENT => (EXIT_NOT_FOUND, "no such file or directory"),
        nix::errno::Errno::EACCES => (EXIT_CANNOT_EXEC, "permission denied"),
        nix::errno::Errno::ENOEXEC => (EXIT_CANNOT_EXEC, "exec format error"),
        nix::errno::Errno::EISDIR => (EXIT_CANNOT_EXEC, "is a directory"),
        other => (EXIT_CANNOT_EXEC, other.desc()),
    };
    (code, format!("exec: \"{program}\": {reason}"))
}
