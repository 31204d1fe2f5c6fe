//! `update` (change a container's limits and restart policy), `pause` and
//! `unpause` (the cgroup freezer). Each change to the kernel is a narrated
//! step (`cgroup_limit`, `freeze`); the record follows (`record_write`).
//! stop, kill and rm thaw a paused container first (`thaw_for_signal`), as
//! docker does, so their signals reach it.

use super::{apply_step, store_step};
use crate::container::{self, Container, ContainerLock};
use crate::error::EXIT_ENGINE;
use crate::kernel::{CgroupMode, Go, Kernel, StepObserver};
use crate::resources::{self, files, ResourceFlags};
use crate::step::Step;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The container's cgroup directory the freezer lives in (v1: its freezer
/// hierarchy's; v2: its only one).
fn freezer_dir(kernel: &dyn Kernel, c: &Container) -> Result<PathBuf> {
    let setup = kernel.cgroup_setup();
    let dirs = setup.paths_for(&c.id);
    if setup.mode == CgroupMode::Unified {
        return Ok(dirs[0].clone());
    }
    setup
        .hierarchies
        .iter()
        .zip(dirs)
        .find(|(h, _)| files::hierarchy_has(h, "freezer"))
        .map(|(_, d)| d)
        .ok_or_else(|| {
            anyhow::Error::new(crate::error::ExitError::new(
                EXIT_ENGINE,
                "the freezer controller is not mounted on this host (cgroup v1): pause needs /sys/fs/cgroup/freezer".to_string(),
            ))
        })
}

fn freeze_step(kernel: &dyn Kernel, c: &Container, frozen: bool) -> Result<Step> {
    Ok(Step::Freeze {
        path: freezer_dir(kernel, c)?,
        frozen,
        version: kernel.cgroup_setup().mode.version(),
    })
}

/// Record `paused` (a narrated record write).
fn record_paused(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    paused: bool,
) -> Result<()> {
    let step = Step::RecordWrite {
        record: c.record_file(root),
        fields: vec![("paused".into(), paused.to_string())],
    };
    store_step(observer, &step, || {
        super::lifecycle::write_state(root, &c.id, |s| s.paused = paused)
    })?;
    Ok(())
}

fn find_locked(root: &Path, key: &str) -> Result<(Container, ContainerLock)> {
    let found = container::find(root, key)?;
    let lock = ContainerLock::take(root, &found)?;
    let c = container::load_fresh(root, &found.id).map_err(|_| container::gone(key))?;
    Ok((c, lock))
}

fn same_host(kernel: &dyn Kernel, c: &Container) -> Result<()> {
    if c.simulated != kernel.is_simulated() {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {} belongs to the other host (real or simulated): use the same --simulate setting that made it",
            c.name
        );
    }
    Ok(())
}

/// docker pause: freeze every process of the container.
pub fn pause(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
) -> Result<()> {
    let (c, _lock) = find_locked(root, key)?;
    same_host(kernel, &c)?;
    if !c.is_running() {
        crate::exit_err!(1, "Container {} is not running", c.id);
    }
    if c.state.paused {
        crate::exit_err!(1, "Container {} is already paused", c.id);
    }
    let step = freeze_step(kernel, &c, true)?;
    if apply_step(kernel, observer, &step)? == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step freeze; container {} keeps running",
            c.name
        );
    }
    if let Err(e) = record_paused(root, observer, &c, true) {
        // Never leave a frozen container the record does not know about.
        let _ = kernel.apply(&freeze_step(kernel, &c, false)?);
        return Err(e);
    }
    container::events::record(root, "pause", &c, &[]);
    Ok(())
}

/// docker unpause: thaw the container's processes.
pub fn unpause(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
) -> Result<()> {
    let (c, _lock) = find_locked(root, key)?;
    same_host(kernel, &c)?;
    if !c.is_running() || !c.state.paused {
        crate::exit_err!(1, "Container {} is not paused", c.id);
    }
    thaw(root, kernel, observer, &c)?;
    container::events::record(root, "unpause", &c, &[]);
    Ok(())
}

fn thaw(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: &Container,
) -> Result<()> {
    let step = freeze_step(kernel, c, false)?;
    if apply_step(kernel, observer, &step)? == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step freeze; container {} stays paused",
            c.name
        );
    }
    record_paused(root, observer, c, false)
}

/// Before stop, kill or rm signal a paused container: thaw it (a frozen
/// process would not act on the signal until thawed). The caller holds the
/// container's lock.
pub fn thaw_for_signal(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: &Container,
) -> Result<()> {
    if c.state.paused && c.is_running() {
        thaw(root, kernel, observer, c)?;
        container::events::record(root, "unpause", c, &[]);
    }
    Ok(())
}

/// docker commit's pause: a running container (not already paused) is
/// frozen while `work` reads its files, then thawed, as `pause` and
/// `unpause` do it (narrated `freeze` steps, the record, the events). The
/// caller holds the container's lock.
pub fn frozen_while<T>(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: &Container,
    work: impl FnOnce(&mut dyn StepObserver) -> Result<T>,
) -> Result<T> {
    same_host(kernel, c)?;
    if !c.is_running() || c.state.paused {
        return work(observer);
    }
    let step = freeze_step(kernel, c, true)?;
    if apply_step(kernel, observer, &step)? == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step freeze; no image was made and container {} keeps running",
            c.name
        );
    }
    if let Err(e) = record_paused(root, observer, c, true) {
        let _ = kernel.apply(&freeze_step(kernel, c, false)?);
        return Err(e);
    }
    container::events::record(root, "pause", c, &[]);
    let result = work(observer);
    let thawed = thaw(root, kernel, observer, c);
    if thawed.is_ok() {
        container::events::record(root, "unpause", c, &[]);
    }
    match (result, thawed) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e.context(format!(
            "the image was made, but container {} stays paused (glassbox unpause {0})",
            c.name
        ))),
        (Ok(v), Ok(())) => Ok(v),
    }
}

/// What `update` may change.
#[derive(Clone, Debug, Default)]
pub struct UpdateOptions {
    pub resources: ResourceFlags,
    pub restart: Option<String>,
}

/// docker update: new limits for a container; written into its cgroup
/// files now when it runs (narrated), kept in its record for its next start.
/// Returns docker's warnings.
pub fn update(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
    opts: &UpdateOptions,
) -> Result<Vec<String>> {
    if opts.resources.is_empty() && opts.restart.is_none() {
        crate::exit_err!(
            EXIT_ENGINE,
            "you must provide one or more flags when using this command"
        );
    }
    if let Some(u) = opts.resources.ulimits.first() {
        crate::exit_err!(
            EXIT_ENGINE,
            "--ulimit {u}: ulimits cannot be updated: they are set in the container's first process when it starts (recreate the container)"
        );
    }
    if let Some(v) = &opts.resources.oom_score_adj {
        crate::exit_err!(
            EXIT_ENGINE,
            "--oom-score-adj {v} cannot be updated (docker's update has no such flag)"
        );
    }
    let restart = match &opts.restart {
        Some(r) => Some(super::RestartPolicy::parse(r)?),
        None => None,
    };
    let (c, _lock) = find_locked(root, key)?;
    same_host(kernel, &c)?;
    if restart.is_some_and(|r| r != super::RestartPolicy::No) && c.config.auto_remove {
        crate::exit_err!(
            EXIT_ENGINE,
            "Cannot update container {}: Restart policy cannot be updated because AutoRemove is enabled for the container",
            c.id
        );
    }
    let host = kernel.host_resources();
    let applied = resources::apply_flags(&opts.resources, &c.config.resources, &host, true)?;
    if c.is_running() {
        let dirs = kernel.cgroup_setup().paths_for(&c.id);
        let steps = files::limit_steps(
            &applied.changed,
            &applied.resources,
            Some(&c.config.resources),
            kernel.cgroup_setup(),
            &dirs,
            kernel.is_simulated(),
        )?;
        // What each file held before, so that a refusal half-way puts the
        // groups already written back: files and record never disagree.
        let mut written: Vec<(String, Vec<(PathBuf, String)>)> = Vec::new();
        for step in &steps {
            let Step::CgroupLimit { flag, writes } = step else {
                continue;
            };
            let before = if kernel.is_simulated() {
                // (The simulated host takes one update's writes whole, or
                // refuses them all when the cgroup is gone: nothing to undo.)
                Vec::new()
            } else {
                previous_values(writes)
            };
            let outcome = apply_step(kernel, observer, step);
            let failed = match outcome {
                Ok(Go::Run) => {
                    written.push((flag.clone(), before));
                    continue;
                }
                Ok(Go::Abort) => format!("aborted before step {}", step.kind()),
                Err(e) => {
                    // The group may be half-written: undo it too.
                    written.push((flag.clone(), before));
                    format!("{e:#}")
                }
            };
            let undone = undo_limits(kernel, observer, &written);
            crate::exit_err!(
                EXIT_ENGINE,
                "Cannot update container {}: {failed}; {undone}",
                c.name
            );
        }
    }
    let mut fields = vec![(
        "config.resources".to_string(),
        serde_json::to_string(&applied.resources)?,
    )];
    let policy = restart.map(|r| {
        let (name, count) = r.name_and_count();
        if count > 0 {
            format!("{name}:{count}")
        } else {
            name.to_string()
        }
    });
    if let Some(p) = &policy {
        fields.push(("config.restart_policy".into(), format!("\"{p}\"")));
    }
    let step = Step::RecordWrite {
        record: c.record_file(root),
        fields,
    };
    let new = applied.resources.clone();
    store_step(observer, &step, || {
        let _lock = crate::fsutil::StoreLock::exclusive(root)?;
        let mut disk = Container::load(root, &c.id).map_err(|_| container::gone(key))?;
        disk.config.resources = new;
        if let Some(p) = policy {
            disk.config.restart_policy = p;
        }
        disk.save_locked(root)
    })?;
    container::events::record(root, "update", &c, &[]);
    Ok(applied.warnings)
}

/// The values the files of a `cgroup_limit` step hold now, in its order
/// (`cgroup.subtree_control` left out: enabling a controller for the
/// children changes no limit; a file that cannot be read has nothing to
/// restore). v1's `memory.oom_control` reads as several lines but takes
/// only its `oom_kill_disable` value.
fn previous_values(writes: &[(PathBuf, String)]) -> Vec<(PathBuf, String)> {
    writes
        .iter()
        .filter(|(f, _)| f.file_name().is_some_and(|n| n != "cgroup.subtree_control"))
        .filter_map(|(f, _)| {
            let text = std::fs::read_to_string(f).ok()?;
            let value = if f.ends_with("memory.oom_control") {
                text.lines()
                    .find_map(|l| l.strip_prefix("oom_kill_disable "))?
                    .trim()
                    .to_string()
            } else {
                text.trim().to_string()
            };
            Some((f.clone(), value))
        })
        .collect()
}

/// Put back the files of the groups an `update` wrote before it failed,
/// newest first and each group's files in reverse (so v1's memsw stays at
/// or above the limit at every moment), as `cgroup_limit` steps shown but
/// never paused on. Says what was restored, or what could not be.
fn undo_limits(
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    written: &[(String, Vec<(PathBuf, String)>)],
) -> String {
    let mut failed = Vec::new();
    let mut restored = 0;
    for (flag, before) in written.iter().rev() {
        for (file, value) in before.iter().rev() {
            let step = Step::CgroupLimit {
                flag: format!("(undo {flag})"),
                writes: vec![(file.clone(), value.clone())],
            };
            let _ = observer.before(&step);
            match kernel.apply(&step) {
                Ok(()) => {
                    observer.after(&step);
                    restored += 1;
                }
                // The file that refused the new value refuses the old one
                // too, as a rule: it was never changed.
                Err(e) => failed.push(format!("{} ({e:#})", file.display())),
            }
        }
    }
    match (restored, failed.is_empty()) {
        (0, true) => "no limit was changed, the record is unchanged".into(),
        (_, true) => format!(
            "the {restored} limit file(s) written before were put back as they were, the record is unchanged"
        ),
        (_, false) => format!(
            "the limits written before were put back, except {}; the record is unchanged",
            failed.join(", ")
        ),
    }
}
