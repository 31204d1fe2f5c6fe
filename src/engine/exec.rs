//! `exec`: run another program in a running container. No new container is
//! made: a new process joins the container's namespaces and cgroup.
//!
//! The plan:
//!   parent: fork (stopped) → cgroup_join (the container's cgroup)
//!   child:  setns (each namespace of the container's first process, mount
//!           last, then fork so the PID namespace applies) → the container's
//!           seccomp filter and capabilities (and no_new_privs) → exec
//! The mount namespace already has the container's pivoted root, so after
//! setns the process is inside it: no chroot or pivot_root is needed.

use super::apply_step;
use crate::container::{self, Status};
use crate::error::{ExitError, EXIT_ENGINE};
use crate::kernel::{ChildSpec, Go, Kernel, Stdio, StepObserver};
use crate::step::{ExecUser, Namespace, Step};
use anyhow::Result;
use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub container: String,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub interactive: bool,
    pub tty: bool,
    /// `-d`: run it in the background and return once it runs; its output
    /// is discarded (as docker's).
    pub detach: bool,
    /// `-u USER[:GROUP]`: names or numbers, as in the container's
    /// /etc/passwd and /etc/group.
    pub user: Option<String>,
}

/// One line of /etc/passwd or /etc/group, split at its colons.
fn entries(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
}

/// Resolve `USER[:GROUP]` against a container's passwd and group files, as
/// runc does: a name must exist; a number that is not listed is used as is
/// (with gid 0); without a group, the user's primary group and its
/// memberships in /etc/group. Returns the user and its home directory.
pub fn resolve_user(
    spec: &str,
    passwd: &str,
    group: &str,
) -> std::result::Result<(ExecUser, Option<String>), String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let found = entries(passwd)
        .find(|f| f.len() >= 4 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let (uid, mut gid, name, home) = match (found, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| format!("invalid uid in passwd entry for {user}"))?,
            f[3].parse::<u32>().unwrap_or(0),
            Some(f[0].to_string()),
            f.get(5).map(|h| h.to_string()),
        ),
        (None, Ok(uid)) => (uid, 0, None, None),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        }
    };
    let mut groups = vec![];
    match grp {
        Some(g) if !g.is_empty() => {
            let found = entries(group)
                .find(|f| f.len() >= 3 && (f[0] == g || (g.parse::<u32>().is_ok() && f[2] == g)));
            gid = match (found, g.parse::<u32>()) {
                (Some(f), _) => f[2].parse().unwrap_or(0),
                (None, Ok(n)) => n,
                (None, Err(_)) => {
                    return Err(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                }
            };
        }
        _ => {
            if let Some(name) = &name {
                groups = entries(group)
                    .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
                    .filter_map(|f| f[2].parse::<u32>().ok())
                    .filter(|g| *g != gid)
                    .collect();
            }
        }
    }
    groups.insert(0, gid);
    groups.dedup();
    Ok((
        ExecUser {
            spec: spec.to_string(),
            uid,
            gid,
            groups,
        },
        home,
    ))
}

/// The namespaces of `pid` that differ from glassbox's own (a `--network host`
/// container shares the host's net and uts: nothing to join there).
fn namespaces_of(pid: i32) -> Vec<Namespace> {
    [
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Mount,
    ]
    .into_iter()
    .filter(|ns| {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{}", ns.proc_name()));
        let ours = std::fs::read_link(format!("/proc/self/ns/{}", ns.proc_name()));
        match (theirs, ours) {
            (Ok(t), Ok(o)) => t != o,
            _ => true,
        }
    })
    .collect()
}

fn exit_error(code: i32, message: String) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(code, message))
}

/// Run a program in a running container; returns its exit status.
pub fn exec(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    opts: &ExecOptions,
) -> Result<i32> {
    if opts.command.is_empty() {
        crate::exit_err!(EXIT_ENGINE, "exec needs a command to run in the container");
    }
    let c = container::find(root, &opts.container)?;
    if c.state.status != Status::Running || !c.is_running() {
        crate::exit_err!(1, "container {} is not running", c.id);
    }
    if c.state.paused {
        crate::exit_err!(
            1,
            "container {} is paused, unpause the container before exec",
            c.id
        );
    }
    if c.simulated != kernel.is_simulated() {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} belongs to the other host (real or simulated): use the same --simulate setting that made it",
            c.name
        );
    }
    let mut env = c.config.env.clone();
    let mut set = |entry: String| {
        let key = entry.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    };
    if opts.tty {
        set("TERM=xterm".into());
    }
    for e in &opts.env {
        if e.contains('=') {
            set(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            set(format!("{e}={v}"));
        }
    }
    let user = match opts.user.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(spec) => {
            // The container's own files, through its root as its first process sees it.
            let etc = format!("/proc/{}/root/etc", c.state.pid);
            let read = |f: &str| std::fs::read_to_string(format!("{etc}/{f}")).unwrap_or_default();
            let (user, home) = resolve_user(spec, &read("passwd"), &read("group"))
                .map_err(|m| exit_error(crate::error::EXIT_CANNOT_EXEC, m))?;
            if let Some(home) = home.filter(|_| !opts.env.iter().any(|e| e.starts_with("HOME="))) {
                set(format!("HOME={home}"));
            }
            Some(user)
        }
    };
    let cwd = opts
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| {
            if c.config.working_dir.is_empty() {
                "/".into()
            } else {
                c.config.working_dir.clone()
            }
        });
    // The same capabilities, seccomp filter and no_new_privs as the
    // container's first process (docker exec inherits them).
    let conf = c.config.security.confinement()?;
    let seccomp = super::run::seccomp_step(root, &conf)?;
    let mut namespaces = namespaces_of(c.state.pid);
    if conf.userns.is_some() {
        // The user namespace first: the others belong to it.
        namespaces.insert(0, Namespace::User);
    }
    let mut steps = vec![Step::SetNs {
        pid: c.state.pid,
        namespaces,
    }];
    if let Some(map) = conf.userns.clone() {
        // Joined as host root, which the namespace does not map: become its root.
        steps.push(Step::UsernsRoot { map });
    }
    steps.extend(super::run::before_exec(&conf, seccomp, user));
    steps.push(Step::Exec {
        argv: opts.command.clone(),
        env,
        cwd,
        joined: true,
    });
    // `-d`: nobody reads a terminal or writes to stdin.
    let (tty, interactive) = if opts.detach {
        (false, false)
    } else {
        (opts.tty, opts.interactive)
    };
    if tty {
        kernel.prepare_terminal_in(c.state.pid)?;
    }
    let spec = ChildSpec {
        steps,
        stdio: Stdio {
            tty,
            interactive,
            log: None,
            discard_output: opts.detach,
            ..Default::default()
        },
        report_each: observer.wants_reports(),
        layers: vec![],
        store_root: root.to_path_buf(),
    };
    if !opts.detach {
        start_exec(kernel, observer, spec, &c)?;
        return kernel.wait_child();
    }
    // `-d`: a process of its own (adopted by init) starts it, reports back
    // once it runs, and waits for it, so the caller returns at once.
    let what = format!("the exec process in container {}", c.short_id());
    super::monitor::fork_detached(&what, |mut report| {
        use std::io::Write;
        let _ = nix::unistd::setsid();
        let _ = std::env::set_current_dir("/");
        super::monitor::redirect_to_null(&[0], false);
        super::monitor::cloexec_inherited();
        match start_exec(kernel, observer, spec, &c) {
            Ok(()) => {
                let _ = report.write_all(b"R\n");
                drop(report);
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                super::monitor::redirect_to_null(&[1, 2], true);
                kernel.wait_child().unwrap_or(EXIT_ENGINE)
            }
            Err(e) => {
                let code = crate::error::exit_code_of(&e);
                let message = format!("{e:#}").replace('\n', " ");
                let _ = writeln!(report, "E {code} {message}");
                code
            }
        }
    })?;
    Ok(0)
}

/// Fork the exec process, put it in the container's cgroup and let it join
/// the namespaces and exec; returns once the program runs.
fn start_exec(
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    spec: ChildSpec,
    c: &container::Container,
) -> Result<()> {
    let pid = kernel.enter_child(spec)?;
    let join = Step::CgroupJoin {
        paths: kernel.cgroup_setup().paths_for(&c.id),
        pid,
    };
    match apply_step(kernel, observer, &join) {
        Ok(Go::Run) => {}
        Ok(Go::Abort) => {
            kernel.kill_child();
            crate::exit_err!(EXIT_ENGINE, "aborted before step cgroup_join");
        }
        Err(e) => {
            kernel.kill_child();
            return Err(e);
        }
    }
    match kernel.start_child(observer)? {
        Ok(()) => Ok(()),
        Err(f) => {
            kernel.kill_child();
            if f.message == "aborted" {
                return Err(exit_error(
                    EXIT_ENGINE,
                    format!("aborted before step {}", f.kind),
                ));
            }
            Err(exit_error(
                f.code,
                format!(
                    "exec failed in container {}: {} (in step {})",
                    c.short_id(),
                    f.message,
                    f.kind
                ),
            ))
        }
    }
}

#[cfg(test)]
mod user_tests {
    use super::resolve_user;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nstaff:x:50:app\nwheel:x:10:root,app\napp:x:1000:\nnogroup:x:65534:\n";

    #[test]
    fn users_resolve_like_runcs() {
        let (u, home) = resolve_user("nobody", PASSWD, GROUP).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone()),
            (65534, 65534, vec![65534])
        );
        assert_eq!(home.as_deref(), Some("/home"));
        let (u, _) = resolve_user("app", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.groups), (1000, 1000, vec![1000, 50, 10]));
        let (u, _) = resolve_user("1000:staff", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.groups), (1000, 50, vec![50]));
        let (u, home) = resolve_user("4242:4343", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, home), (4242, 4343, None));
        let (u, _) = resolve_user("4242", PASSWD, GROUP).unwrap();
        assert_eq!(u.gid, 0);
        assert_eq!(
            resolve_user("nobodyx", PASSWD, GROUP).unwrap_err(),
            "unable to find user nobodyx: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_user("app:nope", PASSWD, GROUP).unwrap_err(),
            "unable to find group nope: no matching entries in group file"
        );
    }
}
