//! `system reset` (podman's verb; docker has none): the store starts afresh.
//! Every container is removed the way `rm -f` removes one (its process
//! killed and waited for, its cgroup and files gone, each step narrated), and
//! only once all of them are gone, every image, blob, unpacked layer, the
//! seccomp cache and the event journal; on the simulated host also its
//! processes, cgroup tree and clock; on both, the networks with their
//! bridges and nft rules. Settings (`config.toml`) and
//! credentials (`auth.json`) stay, and so does the other world's store (the
//! real store's `simulated/` directory is the simulated world's own).

use super::remove;
use crate::container::{self, events};
use crate::image::Store;
use crate::kernel::{Kernel, StepObserver};
use anyhow::{Context, Result};
use std::path::Path;

/// Remove everything in the store at `root`. Returns the names of the
/// containers removed.
pub fn reset(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for c in container::list(root)? {
        match remove::remove(root, kernel, observer, &c.id, true) {
            Ok(name) => removed.push(name),
            Err(e) if container::is_gone(&e) => {}
            Err(e) => failed.push(format!("{}: {e:#}", c.name)),
        }
    }
    if !failed.is_empty() {
        // A container still there may still use the image layers: keep them.
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "could not remove every container, so no image was removed: {}",
            failed.join("; ")
        );
    }
    let store = Store::open(root)?;
    store.remove_everything(|| {
        // Under the store lock nothing registers a container: a directory
        // with a record was made since the list above; one without is what
        // an interrupted removal left.
        let dir = container::containers_dir(root);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(None);
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.join("container.json").exists() {
                return Ok(Some(format!(
                    "container {}",
                    e.file_name().to_string_lossy()
                )));
            }
            std::fs::remove_dir_all(&p).with_context(|| format!("remove {}", p.display()))?;
        }
        Ok(None)
    })?;
    events::clear(root)?;
    if !kernel.is_simulated() {
        // The real host's bridges and this store's rules in the nft table.
        super::network::remove_all(root, kernel, observer)?;
    }
    if kernel.is_simulated() {
        // The simulated host's bridges, veths and nft table go with it, and
        // so do the books of its networks.
        crate::kernel::sim::host::reset(root)?;
        let nets = root.join("networks");
        if nets.exists() {
            std::fs::remove_dir_all(&nets).with_context(|| format!("remove {}", nets.display()))?;
        }
    }
    Ok(removed)
}
