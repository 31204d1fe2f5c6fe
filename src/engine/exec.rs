//! `exec`: run another program in a running container. No new container is
//! made: a new process joins the container's namespaces and cgroup.
//!
//! The plan:
//!   parent: fork (stopped) → cgroup_join (the container's cgroup)
//!   child:  setns (each namespace of the container's first process, mount
//!           last, then fork so the PID namespace applies) → exec
//! The mount namespace already has the container's pivoted root, so after
//! setns the process is inside it: no chroot or pivot_root is needed.

use super::apply_step;
use crate::container::{self, Status};
use crate::error::{ExitError, EXIT_ENGINE};
use crate::kernel::{ChildSpec, Go, Kernel, Stdio, StepObserver};
use crate::step::{Namespace, Step};
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
    if c.simulated || kernel.is_simulated() {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} is simulated: the simulator keeps no container running, so there is nothing to exec into",
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
    let steps = vec![
        Step::SetNs {
            pid: c.state.pid,
            namespaces: namespaces_of(c.state.pid),
        },
        Step::Exec {
            argv: opts.command.clone(),
            env,
            cwd,
            joined: true,
        },
    ];
    if opts.tty {
        kernel.prepare_terminal_in(c.state.pid)?;
    }
    let spec = ChildSpec {
        steps,
        stdio: Stdio {
            tty: opts.tty,
            interactive: opts.interactive,
            log: None,
            ..Default::default()
        },
        report_each: observer.wants_reports(),
        layers: vec![],
        store_root: root.to_path_buf(),
    };
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
        Ok(()) => kernel.wait_child(),
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
