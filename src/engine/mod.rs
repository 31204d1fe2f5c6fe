//! The verbs (run, create, start, stop, rm, ...; tag, rmi, import, ...) as a library: the CLI, the
//! REPL, lessons and tests all call these. They build kernel steps and hand
//! them to a `Kernel`, with an observer (the narrator) watching each one.

pub mod attach;
pub mod auth;
pub mod build;
pub mod build_cache;
pub mod changes;
pub mod commit;
pub mod disk;
pub mod exec;
pub mod files;
pub mod images;
pub mod lifecycle;
pub mod manage;
pub mod monitor;
pub mod network;
pub mod ps;
pub mod remove;
pub mod reset;
pub mod resources;
pub mod run;
pub mod search;
pub mod sim_files;
pub mod user;
pub mod validate;
pub mod volumes;

pub use attach::{attach, attach_to, AttachOptions, Ended};
pub use exec::{exec, ExecOptions};
pub use lifecycle::{kill, parse_signal, stop, wait};
pub use lifecycle::{signal_and_wait, Signalled};
pub use monitor::{start_detached, start_for_attach};
pub use remove::{remove, remove_container};
pub use resources::{pause, unpause, update, UpdateOptions};
pub use run::{create, run, start, Network, RestartPolicy, RunOptions, StartOptions};

use crate::kernel::{Go, Kernel, StepObserver};
use crate::step::Step;
use anyhow::Result;

/// Show a parent-side step to the observer, then carry it out.
pub(crate) fn apply_step(
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    step: &Step,
) -> Result<Go> {
    if observer.before(step)? == Go::Abort {
        return Ok(Go::Abort);
    }
    kernel.apply(step)?;
    crate::kernel::offer_look(kernel, observer, step);
    observer.after(step);
    Ok(Go::Run)
}

/// Show a store step (the container's record or directory) to the observer,
/// then carry it out: glassbox's own file work, which no kernel does.
pub(crate) fn store_step(
    observer: &mut dyn StepObserver,
    step: &Step,
    work: impl FnOnce() -> Result<()>,
) -> Result<Go> {
    if observer.before(step)? == Go::Abort {
        return Ok(Go::Abort);
    }
    work()?;
    observer.after(step);
    Ok(Go::Run)
}

/// Test hook: with `GLASSBOX_TEST_PAUSE_AT=<point>` (e.g. `rm:after_kill`),
/// glassbox stops itself (SIGSTOP) when it reaches that point, so a test can
/// kill it exactly there and check that the next command finishes the job.
/// Unset, it costs one environment lookup.
pub fn test_pause(point: &str) {
    if std::env::var_os("GLASSBOX_TEST_PAUSE_AT").is_some_and(|p| p == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

/// The store a command works on: `base` on the real host, `base/simulated`
/// on the simulated one (its own images, containers, clock and processes).
pub fn store_root(base: &std::path::Path, simulated: bool) -> std::path::PathBuf {
    if simulated {
        base.join("simulated")
    } else {
        base.to_path_buf()
    }
}
