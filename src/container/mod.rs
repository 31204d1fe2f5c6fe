//! Container records: what a container is (its config) and where it is in its
//! life (its state), kept in `<root>/containers/<id>/container.json`.
//! Every write is atomic and made under the store lock, into the directory
//! `create` made: nothing re-creates a removed container.

pub mod attach;
pub mod events;
pub mod logs;
pub mod names;

use crate::fsutil::{read_json, StoreLock};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Config {
    pub hostname: String,
    pub env: Vec<String>,
    pub working_dir: String,
    pub tty: bool,
    pub interactive: bool,
    pub network: String,
    pub auto_remove: bool,
    /// docker's --restart: "no", "on-failure[:N]", "always", "unless-stopped"
    /// (carried out by the container's monitor).
    #[serde(default)]
    pub restart_policy: String,
    /// Capabilities, seccomp, read-only root, tmpfs, devices (`confine`).
    #[serde(default)]
    pub security: crate::confine::Security,
    /// Limits: --memory, --cpus, --pids-limit, --ulimit, ... (`resources`);
    /// left out of the record when none is set.
    #[serde(default, skip_serializing_if = "crate::resources::Resources::is_unset")]
    pub resources: crate::resources::Resources,
    /// Volumes, binds and tmpfs mounts (`-v`, `--mount`, `--volumes-from`,
    /// the image's VOLUME), in the order they are mounted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<crate::volume::MountSpec>,
    /// What inspect shows as docker's `HostConfig.Binds` (the `-v` flags
    /// with a source, as given) and `Config.Volumes` (anonymous `-v /path`
    /// and the image's VOLUMEs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// -p, --ip, --network-alias, --link, --dns*, --add-host
    /// (`engine::network`); left out when none is set.
    #[serde(
        default,
        skip_serializing_if = "crate::engine::network::NetConfig::is_unset"
    )]
    pub net: crate::engine::network::NetConfig,
    /// The user its program runs as (`-u`, else the image's USER); empty: root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22):
    /// tells a live container from a reused PID.
    pub pid_start: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// The process that supervises the container (the `run` command in the
    /// foreground, the monitor when detached) and its start time: while it
    /// lives it will record the exit; once it is gone nobody will.
    #[serde(default)]
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start: u64,
    /// Times the monitor restarted the container under its restart policy
    /// (reset by a user's start).
    #[serde(default)]
    pub restart_count: u32,
    /// Set by `stop` and `kill` before signalling: the restart policy must
    /// not undo what the user asked for.
    #[serde(default)]
    pub manually_stopped: bool,
    /// The kernel's OOM killer killed a process of the container in its last
    /// run (its cgroup's `oom_kill` counter, read before the cgroup went).
    #[serde(default)]
    pub oom_killed: bool,
    /// Its cgroup is frozen (`pause`); it still runs, as docker's Running
    /// and Paused are both true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub created: String,
    /// The command line the container runs (entrypoint + cmd).
    pub command: Vec<String>,
    pub config: Config,
    pub state: State,
    pub simulated: bool,
}

pub fn containers_dir(root: &Path) -> PathBuf {
    root.join("containers")
}

impl Container {
    pub fn dir(&self, root: &Path) -> PathBuf {
        containers_dir(root).join(&self.id)
    }
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
    fn record_path(root: &Path, id: &str) -> PathBuf {
        containers_dir(root).join(id).join("container.json")
    }
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        read_json(&Self::record_path(root, id))
    }
    /// Save under the store lock (callers that already hold it use `save_locked`).
    pub fn save(&self, root: &Path) -> Result<()> {
        let _lock = StoreLock::exclusive(root)?;
        self.save_locked(root)
    }
    /// Write the record (the caller holds the store lock). Only into the
    /// container's existing directory: the temp file is created there, so a
    /// container removed meanwhile fails with `gone` instead of coming back.
    pub fn save_locked(&self, root: &Path) -> Result<()> {
        write_into_existing_dir(
            &Self::record_path(root, &self.id),
            &serde_json::to_vec_pretty(self)?,
        )
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                gone(&self.name)
            } else {
                anyhow::Error::new(e)
                    .context(format!("write the record of container {}", self.name))
            }
        })
    }

    pub fn record_file(&self, root: &Path) -> PathBuf {
        Self::record_path(root, &self.id)
    }

    /// Register a new container: checks its name is free and writes its record, atomically
    /// with respect to other glassbox processes.
    /// `announce` is called with the record just before it is written (narration).
    pub fn register(
        root: &Path,
        announce: impl FnOnce(&Container) -> Result<()>,
        mut make: impl FnMut(u64, &[Container]) -> Result<Container>,
    ) -> Result<Container> {
        let _lock = StoreLock::exclusive(root)?;
        let existing = list_unlocked(root)?;
        let base = existing.len() as u64;
        let mut c = make(base, &existing)?;
        let mut attempt = 0;
        while let Some(other) = existing.iter().find(|o| o.name == c.name) {
            // A generated name that is taken: generate another, as docker does.
            // A given name comes back unchanged: that is a conflict.
            attempt += 1;
            let next = make(base + attempt, &existing)?;
            if next.name == c.name || attempt > 100 {
                crate::exit_err!(
                    crate::error::EXIT_ENGINE,
                    "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    c.name,
                    other.id
                );
            }
            c = next;
        }
        let dir = containers_dir(root);
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        announce(&c)?;
        // The one place a container's directory is made: nothing else ever
        // re-creates it, so a removed container stays removed.
        fs::create_dir(c.dir(root)).with_context(|| format!("create {}", c.dir(root).display()))?;
        if let Err(e) = c.save_locked(root) {
            let _ = fs::remove_dir_all(c.dir(root));
            return Err(e);
        }
        Ok(c)
    }

    /// Whether the recorded process is still this container's (and not a reused PID).
    pub fn process_alive(&self) -> bool {
        if self.simulated {
            // A simulated record is settled against the simulated host
            // whenever it is loaded (`refresh`): running means alive.
            return self.state.status == Status::Running && self.state.pid > 0;
        }
        pid_alive(self.state.pid, self.state.pid_start)
    }

    /// Whether the container's supervisor (foreground `run` or monitor) still lives.
    pub fn monitor_alive(&self) -> bool {
        pid_alive(self.state.monitor_pid, self.state.monitor_start)
    }

    /// The docker json-file log of a detached container.
    pub fn log_path(&self, root: &Path) -> PathBuf {
        self.dir(root).join(format!("{}-json.log", self.id))
    }

    /// Whether the container is running now (its process alive), as `ps` shows it.
    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running && (self.simulated || self.process_alive())
    }

    /// Remove everything under the container's directory, the record last
    /// (the order `rm` narrates), tolerating a concurrent remover.
    pub fn remove_files(&self, root: &Path) -> Result<()> {
        remove_all_but_record(&self.dir(root))?;
        remove_record_and_dir(&self.record_file(root), &self.dir(root))
    }
}

/// The error of a command whose container was removed under it.
pub fn gone(name: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(
        1,
        format!("No such container: {name}"),
    ))
}

/// Whether an error says the container is gone (`gone`).
pub fn is_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::error::ExitError>()
            .is_some_and(|x| x.message.starts_with("No such container"))
    })
}

/// Atomic write (temp file + rename) into a directory that must already
/// exist: creating the temp file fails with NotFound otherwise.
fn write_into_existing_dir(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Remove every entry of a container's directory but its record.
pub fn remove_all_but_record(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    for entry in entries.flatten() {
        if entry.file_name() == "container.json" {
            continue;
        }
        let path = entry.path();
        let result = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("remove {}", path.display())),
        }
    }
    Ok(())
}

/// Remove the record, then the (now empty) directory.
pub fn remove_record_and_dir(record: &Path, dir: &Path) -> Result<()> {
    match fs::remove_file(record) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("remove {}", record.display())),
    }
    crate::engine::test_pause("rm:after_record");
    // A command that lost the race may still drop a file here (its temp
    // record, or the `lock` file it opens with O_CREAT) after the sweep; it
    // then sees the record gone and leaves, so a few more sweeps converge.
    let mut last = None;
    for attempt in 0..100 {
        match fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(1 + attempt / 10));
    }
    Err(last.expect("100 failed attempts")).with_context(|| format!("remove {}", dir.display()))
}

/// A per-container lock (flock on `<dir>/lock`): start, stop, kill, rm and
/// commit of one container take it, so they happen one after the other,
/// while other containers are not held up. Taken before the store lock,
/// never while holding it. Released on drop.
pub struct ContainerLock {
    _file: fs::File,
}

impl ContainerLock {
    /// Take the lock of `c`; `No such container` when it was removed (before
    /// or while we waited for the lock).
    pub fn take(root: &Path, c: &Container) -> Result<ContainerLock> {
        use std::os::unix::io::AsRawFd;
        let path = c.dir(root).join("lock");
        // O_CREAT in an existing directory only: a removed one stays removed.
        let file = match fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone(&c.name)),
            Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
        };
        loop {
            // SAFETY: flock on a valid fd we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("flock the container lock");
            }
        }
        // Whoever held it may have removed the container.
        if !c.record_file(root).exists() {
            return Err(gone(&c.name));
        }
        Ok(ContainerLock { _file: file })
    }
}

/// A process is alive when it exists, is not a zombie (an orphan's zombie may
/// linger when the host's init is slow to reap), and started when recorded.
pub fn pid_alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(after) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return false;
    };
    let mut fields = after.split_whitespace();
    if matches!(fields.next(), Some("Z") | Some("X")) {
        return false;
    }
    fields.nth(18).and_then(|f| f.parse().ok()) == Some(start)
}

/// Field 22 of /proc/PID/stat: when the process started.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// All records as they are on disk, for a caller that holds the store lock.
pub fn list_locked(root: &Path) -> Result<Vec<Container>> {
    list_unlocked(root)
}

fn list_unlocked(root: &Path) -> Result<Vec<Container>> {
    let dir = containers_dir(root);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let id = entry.file_name().to_string_lossy().to_string();
        if id.starts_with('.') {
            continue;
        }
        // A directory without a readable record is a container being made or removed.
        if let Ok(c) = Container::load(root, &id) {
            out.push(c);
        }
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    Ok(out)
}

/// Whether a record says running but nobody will ever record its end: its
/// process is gone and so is its supervisor. (While the supervisor lives it is
/// about to write the real exit code; while the process lives, it runs, even
/// as an orphan whose monitor was killed.)
fn died_unseen(c: &Container) -> bool {
    let gone = match c.state.status {
        Status::Running => !c.process_alive(),
        // Between two runs only the monitor lives.
        Status::Restarting => true,
        _ => false,
    };
    gone && !c.simulated && !c.monitor_alive()
}

/// Remove the (empty) cgroup directories of a container whose supervisor is
/// gone, since nobody else will.
pub fn remove_orphan_cgroup(id: &str) {
    if let Ok(setup) = crate::kernel::CgroupSetup::detect() {
        for p in setup.paths_for(id) {
            if fs::remove_dir(&p).is_ok() {
                // The shared parent too, once empty (as cgroup_remove does).
                if let Some(parent) = p.parent() {
                    let _ = fs::remove_dir(parent);
                }
            }
        }
    }
}

/// The OOM killer's count in the cgroup of a container whose supervisor is
/// gone (the counter file and its value; None when it killed nothing). To
/// be read before `remove_orphan_cgroup`: the counter goes with the cgroup.
pub fn orphan_oom_counter(id: &str) -> Option<(PathBuf, u64)> {
    let setup = crate::kernel::CgroupSetup::detect().ok()?;
    crate::resources::files::oom_counter(&setup.paths_for(id))
}

/// Record the end of a container that died unseen: exit code 255 (unknown)
/// (a restarting one keeps its last run's), or 137 with OOMKilled when its cgroup's
/// `oom_kill` counter says the OOM killer struck (the SIGKILL it sends);
/// the `oom` and `die` events its monitor would have written; and its
/// cgroup directories removed.
pub fn refresh(root: &Path, c: &mut Container) -> Result<()> {
    if c.simulated {
        return refresh_simulated(root, c);
    }
    if !died_unseen(c) {
        return Ok(());
    }
    let _lock = StoreLock::exclusive(root)?;
    if let Ok(mut fresh) = Container::load(root, &c.id) {
        if died_unseen(&fresh) {
            let ran = fresh.state.status == Status::Running;
            let oom = orphan_oom_counter(&fresh.id);
            fresh.state.status = Status::Exited;
            fresh.state.pid = 0;
            if ran {
                fresh.state.oom_killed = oom.is_some();
                // (A code or time on a running record is its last run's.)
                fresh.state.exit_code = Some(if oom.is_some() { 137 } else { 255 });
                fresh.state.finished_at = Some(now_rfc3339());
            } else {
                // Restarting: its last run's end was recorded by its monitor.
                fresh.state.exit_code.get_or_insert(255);
                fresh.state.finished_at.get_or_insert_with(now_rfc3339);
            }
            fresh
                .state
                .error
                .get_or_insert_with(|| "the container's supervisor died".into());
            fresh.save_locked(root)?;
            if oom.is_some() {
                events::record(root, "oom", &fresh, &[]);
            }
            if ran {
                let code = fresh.state.exit_code.unwrap_or(255).to_string();
                events::record(root, "die", &fresh, &[("exitCode", code)]);
            }
            remove_orphan_cgroup(&fresh.id);
        }
        *c = fresh;
    }
    Ok(())
}

/// A simulated running container: ask the simulated host whether its
/// program ended by now; if so, record the end as its monitor would have
/// (exit code, the simulated time it ended, the `die` event), or remove it
/// (`--rm`). Its output and changes were kept by the host.
fn refresh_simulated(root: &Path, c: &mut Container) -> Result<()> {
    use crate::kernel::sim::host::RunEvent;
    if !matches!(c.state.status, Status::Running | Status::Restarting) {
        return Ok(());
    }
    let mut updated = None;
    crate::kernel::sim::host::settle(root, c, |event| {
        let _lock = StoreLock::exclusive(root)?;
        let Ok(mut fresh) = Container::load(root, &c.id) else {
            return Ok(false);
        };
        let at = |ms| crate::clock::rfc3339(crate::clock::at(ms));
        let (end, offer) = match event {
            RunEvent::Began => {
                fresh.state.status = Status::Running;
                fresh.save_locked(root)?;
                updated = Some(fresh);
                return Ok(true);
            }
            RunEvent::Ended(end, offer) => (end, offer),
        };
        // The simulated OOM killer's kills, counted in its cgroup (as the
        // real monitor reads memory.events / memory.oom_control).
        fresh.state.oom_killed = end.oom_kills > 0;
        if fresh.state.oom_killed {
            events::record_at(root, "oom", &fresh, &[], at(end.at_ms));
        }
        events::record_at(
            root,
            "die",
            &fresh,
            &[("exitCode", end.code.to_string())],
            at(end.at_ms),
        );
        fresh.state.exit_code = Some(end.code);
        fresh.state.finished_at = Some(at(end.at_ms));
        // The restart policy, as the real monitor applies it: not after a
        // user's stop or kill, and within on-failure's count.
        let policy = crate::engine::RestartPolicy::parse(&fresh.config.restart_policy)
            .unwrap_or(crate::engine::RestartPolicy::No);
        if let Some(offer) = offer.filter(|_| {
            !fresh.state.manually_stopped && policy.restarts(end.code, fresh.state.restart_count)
        }) {
            fresh.state.restart_count += 1;
            fresh.state.pid = offer.pid;
            fresh.state.started_at = Some(at(offer.at_ms));
            fresh.state.status = if offer.at_ms <= crate::clock::now_ms() {
                Status::Running
            } else {
                Status::Restarting
            };
            fresh.save_locked(root)?;
            events::record_at(root, "start", &fresh, &[], at(offer.at_ms));
            updated = Some(fresh);
            return Ok(true);
        }
        if fresh.config.auto_remove {
            fresh.remove_files(root)?;
            events::record(root, "destroy", &fresh, &[]);
            return Ok(false);
        }
        fresh.state.status = Status::Exited;
        fresh.state.pid = 0;
        fresh.save_locked(root)?;
        updated = Some(fresh);
        Ok(false)
    })?;
    if let Some(fresh) = updated {
        *c = fresh;
    }
    Ok(())
}

/// Finish removals that lost only their directory: a directory without a
/// record, seen under the store lock (which `register` holds from making the
/// directory to writing the record), is what an interrupted `rm` left.
fn repair(root: &Path) -> Result<()> {
    let dir = containers_dir(root);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    let orphans: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.join("container.json").exists())
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let _lock = StoreLock::exclusive(root)?;
    for path in orphans {
        if path.join("container.json").exists() {
            continue;
        }
        if let Some(id) = path.file_name().and_then(|n| n.to_str()) {
            remove_orphan_cgroup(id);
        }
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// All containers, newest first, with the state of any whose process died
/// unseen (its supervisor was killed) corrected on disk.
pub fn list(root: &Path) -> Result<Vec<Container>> {
    repair(root)?;
    let mut all = list_unlocked(root)?;
    for c in all.iter_mut() {
        refresh(root, c)?;
    }
    // A simulated --rm container that ended is gone now, with its process.
    if all.iter().any(|c| c.simulated) {
        all.retain(|c| c.record_file(root).exists());
        crate::kernel::sim::host::forget_removed(root)?;
    }
    Ok(all)
}

/// Load one container by its full id, its state corrected like `list`'s.
pub fn load_fresh(root: &Path, id: &str) -> Result<Container> {
    let mut c = Container::load(root, id)?;
    refresh(root, &mut c)?;
    Ok(c)
}

/// Find a container by full id, name, or unique id prefix, as docker does.
pub fn find(root: &Path, key: &str) -> Result<Container> {
    let all = list(root)?;
    if let Some(c) = all
        .iter()
        .find(|c| c.id == key || c.name == key || c.name == key.trim_start_matches('/'))
    {
        return Ok(c.clone());
    }
    let matches: Vec<&Container> = all
        .iter()
        .filter(|c| !key.is_empty() && c.id.starts_with(key))
        .collect();
    match matches.len() {
        1 => Ok(matches[0].clone()),
        // (docker's CLI exits 1 for the daemon's "no such container")
        0 => crate::exit_err!(1, "No such container: {key}"),
        _ => bail!("multiple containers match the prefix {key}: use more of the id"),
    }
}

/// Now (the simulated host's time in a simulated command).
pub fn now_rfc3339() -> String {
    crate::clock::now_rfc3339()
}
