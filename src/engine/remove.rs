//! `rm`: a container's process, cgroup, files and record go, in that order,
//! under its lock. The record is marked `removing` first and removed last, so
//! a removal interrupted at any point is finished by the next `rm -f` (or, when
//! only the directory was left, by any command's repair pass).
//!
//!   record_write (removing) → signal SIGKILL → wait_exit → cgroup_remove →
//!   dir_remove (all but the record) → record_remove (record, then directory)

use super::{apply_step, lifecycle, store_step, test_pause};
use crate::container::{self, Container, ContainerLock, Status};
use crate::kernel::{Go, Kernel, StepObserver};
use crate::step::Step;
use anyhow::Result;
use std::path::Path;

pub fn remove(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
    force: bool,
) -> Result<String> {
    remove_container(root, kernel, observer, key, force, false)
}

/// `rm [-f] [-v]`: with `volumes`, the container's anonymous volumes go
/// after its record (one another container uses stays; named ones always
/// stay). Killed between the two, a volume is left unused, never lost.
pub fn remove_container(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
    force: bool,
    volumes: bool,
) -> Result<String> {
    let found = container::find(root, key)?;
    let _lock = ContainerLock::take(root, &found)?;
    let c = container::load_fresh(root, &found.id).map_err(|_| container::gone(key))?;
    let alive = c.process_alive();
    if !force {
        if c.state.status == Status::Restarting {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
                c.name
            );
        }
        if alive {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                c.name
            );
        }
    }
    let aborted = |kind: &str| -> anyhow::Error {
        anyhow::Error::new(crate::error::ExitError::new(
            crate::error::EXIT_ENGINE,
            format!(
                "aborted before step {kind}; container {} is marked for removal: `rm -f {}` finishes it",
                c.name, c.name
            ),
        ))
    };

    // (A simulated container's cgroup lives in the model while it runs.)
    let had_cgroup = if c.simulated {
        alive
    } else {
        kernel
            .cgroup_setup()
            .paths_for(&c.id)
            .iter()
            .any(|p| p.exists())
    };

    // 1. Mark it: its supervisor then leaves the record alone and restarts nothing.
    let mark = lifecycle::status_step(root, &c, Status::Removing, &[]);
    if store_step(observer, &mark, || {
        lifecycle::write_state(root, &c.id, |s| s.status = Status::Removing)
    })? == Go::Abort
    {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "aborted before step {}; container {} was not removed",
            mark.kind(),
            c.name
        );
    }
    test_pause("rm:after_mark");

    // 2. Its process, by PID checked against its start time (thawed first
    // when paused, so it dies now rather than at a later thaw).
    if alive {
        super::resources::thaw_for_signal(root, kernel, observer, &c)?;
        match lifecycle::signal_and_wait(kernel, observer, &c, "SIGKILL", 10)? {
            lifecycle::Signalled::Aborted(kind) => return Err(aborted(kind)),
            lifecycle::Signalled::StillRunning => crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "cannot remove container {}: its process {} survived SIGKILL",
                c.name,
                c.state.pid
            ),
            _ => {}
        }
        // The real container's monitor tells its death (`die`, 137) as the
        // SIGKILL lands; a simulated one's is told here, since its record,
        // marked removing, is settled by nobody.
        if c.simulated {
            container::events::record(root, "die", &c, &[("exitCode", "137".into())]);
        }
    }
    test_pause("rm:after_kill");

    // 3. Its cgroup (no host mounts to undo: every mount lived in its own
    // namespace). Its supervisor, seeing the process die, may remove the
    // cgroup too: whoever comes second finds it gone, which is fine.
    if had_cgroup {
        let paths = kernel.cgroup_setup().paths_for(&c.id);
        let step = Step::CgroupRemove { paths };
        if apply_step(kernel, observer, &step)? == Go::Abort {
            return Err(aborted(step.kind()));
        }
    }
    test_pause("rm:after_cgroup");
    // Its network endpoint, if its supervisor did not live to undo it
    // (port rules, veth end, address, peers' /etc/hosts lines).
    super::network::disconnect(root, kernel, observer, &c.id)?;

    // 4. Its files, all but the record.
    let dir = c.dir(root);
    let step = Step::DirRemove {
        dir: dir.clone(),
        keep: "container.json".into(),
    };
    if store_step(observer, &step, || container::remove_all_but_record(&dir))? == Go::Abort {
        return Err(aborted(step.kind()));
    }
    test_pause("rm:after_dir");

    // 5. The record, last.
    let record = c.record_file(root);
    let step = Step::RecordRemove {
        record: record.clone(),
        dir: dir.clone(),
    };
    if store_step(observer, &step, || {
        container::remove_record_and_dir(&record, &dir)
    })? == Go::Abort
    {
        return Err(aborted(step.kind()));
    }
    container::events::record(root, "destroy", &c, &[]);
    test_pause("rm:before_volumes");
    if volumes {
        super::volumes::remove_anonymous(root, observer, &c)?;
    }
    Ok(c.name)
}

/// Whether a container is gone from the store (its record removed).
pub fn is_removed(root: &Path, c: &Container) -> bool {
    !c.record_file(root).exists()
}
