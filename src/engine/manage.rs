//! `rename`, `container prune`, `top`, and what `top` and `stats` read from a
//! container's cgroup (the kernel's own account of its processes, memory
//! and CPU time; v1 and v2 name the files differently).

use crate::container::{self, names, Container, Status};
use crate::error::EXIT_ENGINE;
use crate::fsutil::StoreLock;
use crate::kernel::cgroup::CgroupFiles;
use crate::kernel::{CgroupMode, CgroupSetup, Go, StepObserver};
use crate::step::Step;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// docker rename: the name is checked and changed under the store lock, a
/// narrated `record_write` of the record's `name`.
pub fn rename(
    root: &Path,
    observer: &mut dyn StepObserver,
    key: &str,
    new_name: &str,
) -> Result<Container> {
    let new_name = new_name.trim_start_matches('/');
    if !names::is_valid_name(new_name) {
        crate::exit_err!(
            EXIT_ENGINE,
            "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
    }
    let c = container::find(root, key)?;
    if c.name == new_name {
        crate::exit_err!(
            EXIT_ENGINE,
            "Renaming a container with the same name as its current name"
        );
    }
    let _lock = StoreLock::exclusive(root)?;
    for other in container::list_locked(root)? {
        if other.name == new_name {
            crate::exit_err!(
                EXIT_ENGINE,
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            );
        }
    }
    let mut fresh = Container::load(root, &c.id)?;
    let step = Step::RecordWrite {
        record: fresh.record_file(root),
        fields: vec![("name".into(), serde_json::json!(new_name).to_string())],
    };
    // (Under the store lock: a pause here holds up other writers, which is
    // what step-through is for: the name is not changed yet.)
    if observer.before(&step)? == Go::Abort {
        crate::exit_err!(
            EXIT_ENGINE,
            "aborted before step record_write; container {} keeps its name",
            fresh.name
        );
    }
    let old = std::mem::replace(&mut fresh.name, new_name.to_string());
    fresh.save_locked(root)?;
    observer.after(&step);
    container::events::record(root, "rename", &fresh, &[("oldName", format!("/{old}"))]);
    Ok(fresh)
}

/// The containers `container prune` removes: every one not running.
pub fn prunable(root: &Path) -> Result<Vec<Container>> {
    Ok(container::list(root)?
        .into_iter()
        .filter(|c| !c.is_running() && c.state.status != Status::Restarting && !c.monitor_alive())
        .collect())
}

/// What `container prune` removed: the containers' ids and the bytes their
/// writable layers held.
#[derive(Debug, Default)]
pub struct PrunedContainers {
    pub deleted: Vec<String>,
    pub reclaimed: u64,
}

/// Remove every stopped container (`container prune`, `system prune`). A
/// container that cannot be removed is reported to `failed` as it happens
/// and the others are still tried.
pub fn prune(
    root: &Path,
    kernel: &mut dyn crate::kernel::Kernel,
    observer: &mut dyn crate::kernel::StepObserver,
    failed: &mut dyn FnMut(&Container, &anyhow::Error),
) -> Result<PrunedContainers> {
    let mut out = PrunedContainers::default();
    for c in prunable(root)? {
        let size = dir_size(&c.dir(root).join("upper"));
        match super::remove(root, kernel, observer, &c.id, false) {
            Ok(_) => {
                out.deleted.push(c.id.clone());
                out.reclaimed += size;
            }
            Err(e) => failed(&c, &e),
        }
    }
    Ok(out)
}

/// Bytes used under a directory (files only, not following symlinks).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// The container's cgroup directory for one controller (v1) or its only one (v2).
fn cgroup_dir(setup: &CgroupSetup, id: &str, controller: &str) -> Option<PathBuf> {
    let paths = setup.paths_for(id);
    match setup.mode {
        CgroupMode::Unified => paths.into_iter().next(),
        _ => paths.into_iter().find(|p| {
            p.parent()
                .and_then(|g| g.parent())
                .and_then(|h| h.file_name())
                .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == controller))
        }),
    }
}

/// `top` of a simulated container: its processes as the simulated host
/// has them now, in `ps -ef`'s columns.
pub fn sim_top(root: &Path, c: &Container) -> Result<Vec<Vec<String>>> {
    if !c.is_running() {
        crate::exit_err!(1, "container {} is not running", c.id);
    }
    let started = c
        .state
        .started_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default();
    let mut rows = vec!["UID PID PPID C STIME TTY TIME CMD"
        .split(' ')
        .map(String::from)
        .collect::<Vec<_>>()];
    for (host_pid, p) in crate::kernel::sim::host::processes(root, c)? {
        let ppid = if p.pid == 1 { 0 } else { c.state.pid };
        rows.push(vec![
            p.user.clone(),
            host_pid.to_string(),
            ppid.to_string(),
            "0".into(),
            started.clone(),
            if c.config.tty {
                "pts/0".into()
            } else {
                "?".into()
            },
            "00:00:00".into(),
            p.cmdline.clone(),
        ]);
    }
    Ok(rows)
}

/// The host PIDs in the container's cgroup (`top`).
pub fn pids(c: &Container) -> Result<Vec<i32>> {
    if !c.is_running() || c.simulated {
        crate::exit_err!(1, "container {} is not running", c.id);
    }
    let setup = CgroupSetup::detect()?;
    let mut out: Vec<i32> = Vec::new();
    for dir in setup.paths_for(&c.id) {
        if let Ok(text) = std::fs::read_to_string(dir.join(setup.procs_file())) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() && c.state.pid > 0 {
        out.push(c.state.pid);
    }
    Ok(out)
}

/// `top`: the host's `ps` with `ps_args`, keeping the rows of the
/// processes in the container's cgroup. The first row is ps's header; the
/// last column (the command) keeps its spaces.
pub fn top(c: &Container, ps_args: &[String]) -> Result<Vec<Vec<String>>> {
    let pids = pids(c)?;
    let out = std::process::Command::new("ps")
        .args(ps_args)
        .output()
        .map_err(|e| ps_err(format!("run ps: {e}")))?;
    if !out.status.success() {
        return Err(ps_err(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let Some(pid_col) = header.split_whitespace().position(|h| h == "PID") else {
        return Err(ps_err("Couldn't find PID field in ps output".into()));
    };
    let mut rows = vec![header.split_whitespace().map(String::from).collect()];
    let columns = header.split_whitespace().count();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields
            .iter()
            .take(columns - 1)
            .map(|s| s.to_string())
            .collect();
        row.push(
            fields
                .iter()
                .skip(columns - 1)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        );
        rows.push(row);
    }
    Ok(rows)
}

fn ps_err(message: String) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(1, message))
}

fn read_u64(files: &dyn CgroupFiles, p: &Path) -> Option<u64> {
    files.read(p)?.trim().parse().ok()
}

fn stat_field(files: &dyn CgroupFiles, p: &Path, key: &str) -> Option<u64> {
    files.read(p)?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// One sample of a container's cgroup counters.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// CPU time used, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use (without the inactive file cache, as docker counts it).
    pub mem: u64,
    /// The memory limit (the host's memory when there is none).
    pub mem_limit: u64,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Read the counters of a running container now: from the kernel's
/// cgroupfs, or for a simulated container from the simulated host's
/// cgroup files at the simulated now (its programs recomputed up to then).
pub fn sample(root: &Path, c: &Container) -> Result<Sample> {
    if c.simulated {
        let files = crate::kernel::sim::counters::SimCgroupFiles::now(root)?;
        let setup = files.setup_of(&c.id);
        // The simulated container has only its loopback: no network counters.
        return Ok(sample_files(
            &files,
            &setup,
            c,
            crate::kernel::sim::applets::system::MEM_BYTES,
        ));
    }
    let setup = CgroupSetup::detect()?;
    let mut s = sample_files(
        &crate::kernel::cgroup::HostCgroupFiles,
        &setup,
        c,
        host_memory(),
    );
    if s.pids == 0 {
        s.pids = pids(c).map(|p| p.len() as u64).unwrap_or(0);
    }
    // The container's network namespace, seen through its first process.
    if let Ok(dev) = std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid)) {
        for l in dev.lines().skip(2) {
            let Some((name, rest)) = l.split_once(':') else {
                continue;
            };
            if name.trim() == "lo" {
                continue;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() >= 9 {
                s.net_rx += f[0];
                s.net_tx += f[8];
            }
        }
    }
    Ok(s)
}

/// The counters from a container's cgroup files (v1 and v2 name them
/// differently), whoever keeps them; `host_mem` is the limit when none is set.
pub fn sample_files(
    files: &dyn CgroupFiles,
    setup: &CgroupSetup,
    c: &Container,
    host: u64,
) -> Sample {
    let mut s = Sample::default();
    if setup.mode == CgroupMode::Unified {
        let dir = cgroup_dir(setup, &c.id, "").unwrap_or_default();
        s.cpu_ns = stat_field(files, &dir.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
        let current = read_u64(files, &dir.join("memory.current")).unwrap_or(0);
        let inactive = stat_field(files, &dir.join("memory.stat"), "inactive_file").unwrap_or(0);
        s.mem = current.saturating_sub(inactive);
        s.mem_limit = read_u64(files, &dir.join("memory.max"))
            .unwrap_or(host)
            .min(host.max(1));
        s.pids = read_u64(files, &dir.join("pids.current")).unwrap_or(0);
        if let Some(io) = files.read(&dir.join("io.stat")) {
            for word in io.split_whitespace() {
                if let Some(v) = word.strip_prefix("rbytes=") {
                    s.block_read += v.parse::<u64>().unwrap_or(0);
                } else if let Some(v) = word.strip_prefix("wbytes=") {
                    s.block_write += v.parse::<u64>().unwrap_or(0);
                }
            }
        }
    } else {
        if let Some(d) = cgroup_dir(setup, &c.id, "cpuacct") {
            s.cpu_ns = read_u64(files, &d.join("cpuacct.usage")).unwrap_or(0);
        }
        if let Some(d) = cgroup_dir(setup, &c.id, "memory") {
            let usage = read_u64(files, &d.join("memory.usage_in_bytes")).unwrap_or(0);
            let inactive =
                stat_field(files, &d.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            s.mem = usage.saturating_sub(inactive);
            s.mem_limit = read_u64(files, &d.join("memory.limit_in_bytes"))
                .unwrap_or(host)
                .min(host.max(1));
        }
        if let Some(d) = cgroup_dir(setup, &c.id, "pids") {
            s.pids = read_u64(files, &d.join("pids.current")).unwrap_or(0);
        }
        if let Some(d) = cgroup_dir(setup, &c.id, "blkio") {
            if let Some(t) = files.read(&d.join("blkio.throttle.io_service_bytes")) {
                for l in t.lines() {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() == 3 {
                        let v = f[2].parse::<u64>().unwrap_or(0);
                        match f[1] {
                            "Read" => s.block_read += v,
                            "Write" => s.block_write += v,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    s
}
