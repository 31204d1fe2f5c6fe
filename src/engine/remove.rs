//! `rm`: a container's record, directory and cgroup go; a running one only with force.

use super::apply_step;
use crate::container::{self, Status};
use crate::kernel::{Kernel, StepObserver};
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
    let c = container::find(root, key)?;
    if c.state.status == Status::Restarting && !force {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
            c.name
        );
    }
    if c.state.status == Status::Running && c.process_alive() {
        if !force {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                c.name
            );
        }
        // Kill by PID (never by name); its supervisor sees the exit and leaves the record to us.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.state.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while c.process_alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    {
        // Delete the record first, under the lock, so no supervisor re-saves it.
        let _lock = crate::fsutil::StoreLock::exclusive(root)?;
        c.remove_files(root)?;
    }
    container::events::record(root, "destroy", &c, &[]);
    let paths = kernel.cgroup_setup().paths_for(&c.id);
    if !c.simulated && paths.iter().any(|p| p.exists()) {
        apply_step(kernel, observer, &Step::CgroupRemove { paths })?;
    }
    Ok(c.name)
}
