//! `glassbox-runtime`: an OCI runtime with runc's command line, over the
//! same steps and kernel as `glassbox run`. podman (through conmon) and
//! containerd (through its runc shim) call it as they call runc:
//! `create` sets the container up and leaves its process waiting on an exec
//! fifo, `start` lets it exec, `state`/`kill`/`delete` manage it.
//!
//! - `cli`: the command line and the `--log` file (JSON lines for conmon).
//! - `plan`: config.json → steps.
//! - `state`: what is kept under `--root`, and the OCI state JSON.
//! - `lifecycle`: create, start, run, kill, delete, pause, resume, ps, list.
//! - `exec`: exec, update, events, features, spec.

pub mod cli;
pub mod exec;
pub mod lifecycle;
pub mod plan;
pub mod state;

use crate::kernel::{Go, Kernel, StepObserver};
use crate::step::Step;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// The global options every verb sees.
pub struct Runtime {
    pub root: PathBuf,
    pub log: cli::Log,
    pub debug: bool,
}

impl Runtime {
    /// The child process of `create` or `exec`: its steps, on a terminal
    /// when the process asks for one, reporting each step when narrated.
    pub fn child_spec(
        &self,
        steps: Vec<Step>,
        terminal: bool,
        observer: &dyn StepObserver,
    ) -> crate::kernel::ChildSpec {
        crate::kernel::ChildSpec {
            steps,
            stdio: crate::kernel::Stdio {
                tty: terminal,
                interactive: true,
                ..crate::kernel::Stdio::default()
            },
            report_each: observer.wants_reports(),
            layers: Vec::new(),
            store_root: self.root.clone(),
        }
    }

    /// The observer for this verb's steps: silent, or with
    /// `GLASSBOX_EXPLAIN=steps` (summary, deep) a narrator writing into a
    /// file a learner can tail while podman or containerd runs:
    /// `GLASSBOX_EXPLAIN_LOG`, else `glassbox-steps.log` next to `--log`,
    /// else under `--root`.
    pub fn observer(&self, verb: &str, id: &str) -> Box<dyn StepObserver> {
        let Some(level) = std::env::var("GLASSBOX_EXPLAIN")
            .ok()
            .and_then(|v| crate::narrate::Level::parse(&v))
            .filter(|l| *l != crate::narrate::Level::Quiet)
        else {
            return Box::new(crate::kernel::Silent);
        };
        let path = self.explain_log();
        let lang = std::env::var("LANG")
            .map(|v| crate::step::Lang::from_locale(&v))
            .unwrap_or_default();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        match file {
            Ok(mut f) => {
                use std::io::Write;
                let _ = writeln!(
                    f,
                    "\n== glassbox-runtime {verb} {id} ({}) ==",
                    crate::clock::now_rfc3339()
                );
                match crate::narrate::Narrator::new(level, lang, false, None) {
                    Ok(n) => Box::new(n.with_output(Box::new(f))),
                    Err(_) => Box::new(crate::kernel::Silent),
                }
            }
            Err(e) => {
                self.log.warn(&format!(
                    "cannot open the explain log {}: {e}",
                    path.display()
                ));
                Box::new(crate::kernel::Silent)
            }
        }
    }

    pub fn explain_log(&self) -> PathBuf {
        if let Some(p) = std::env::var_os("GLASSBOX_EXPLAIN_LOG") {
            return PathBuf::from(p);
        }
        match self.log.path.as_ref().and_then(|p| p.parent()) {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join("glassbox-steps.log"),
            _ => self.root.join("glassbox-steps.log"),
        }
    }
}

/// Show a parent-side step to the observer, then carry it out.
pub fn do_step(
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    step: &Step,
) -> Result<()> {
    if observer.before(step)? == Go::Abort {
        bail!("aborted at {}", step.kind());
    }
    kernel.apply(step)?;
    observer.after(step);
    Ok(())
}
