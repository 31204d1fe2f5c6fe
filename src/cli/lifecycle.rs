//! More container commands: diff, cp, commit, export, rename, container
//! prune, top, port, stats, events. Output shaped like docker's. And the
//! hidden exit command of a detached container's monitor.

use super::format::{human_size, Table};
use super::GlobalOptions;
use crate::container::{self, events, logs};
use crate::engine::{self, files, manage};
use crate::error::{ExitError, EXIT_ENGINE};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The narrator of a verb whose steps are glassbox's own file and store work
/// (cp, commit, export, rename): no kernel is needed, so none is chosen
/// (nor its "not running as root" notice printed).
pub(super) fn file_narrator(g: &GlobalOptions) -> Result<crate::narrate::Narrator> {
    let mut n = crate::narrate::Narrator::new(
        g.explain.unwrap_or_default(),
        g.lang(),
        g.step,
        g.trace_json.as_deref(),
    )?;
    n.real = !g.simulate;
    Ok(n)
}

fn exit(code: i32, message: String) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(code, message))
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The container (name or id)
    pub container: String,
}

/// `diff`: A (added), C (changed), D (deleted) paths of the container's writable layer.
pub fn diff(g: &GlobalOptions, args: DiffArgs) -> Result<i32> {
    let root = g.root();
    let c = container::find(&root, &args.container)?;
    let mut narrator = file_narrator(g)?;
    let mut out = String::new();
    for (path, change) in files::changes_observed(&root, &mut narrator, &c)? {
        out.push_str(&format!("{} {path}\n", change.letter()));
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information); accepted, ownership is kept as is
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol links in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path (- for a tar stream on stdin)
    pub src: String,
    /// a host path or CONTAINER:DEST_PATH (- for a tar stream on stdout)
    pub dest: String,
}

/// `CONTAINER:PATH` → (container, path); a host path (even with a colon,
/// when it starts with / or .) → None.
fn split_container_path(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    (!c.is_empty()).then_some((c, p))
}

/// `cp`: copy files between a container and the host, either way (any
/// failure exits 1, as docker's does).
pub fn cp(g: &GlobalOptions, args: CpArgs) -> Result<i32> {
    cp_inner(g, args).map_err(|e| exit(1, format!("{e:#}")))
}

fn cp_inner(g: &GlobalOptions, args: CpArgs) -> Result<i32> {
    let root = g.root();
    let mut narrator = file_narrator(g)?;
    let obs = &mut narrator;
    match (
        split_container_path(&args.src),
        split_container_path(&args.dest),
    ) {
        (Some((key, path)), None) if args.dest == "-" => {
            let c = container::find(&root, key)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            files::copy_from_as_tar(&root, obs, &c, path, args.follow_link, &mut out)?;
            out.flush()?;
        }
        (None, Some((key, path))) if args.src == "-" => {
            let c = container::find(&root, key)?;
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            files::copy_into_from_tar(&root, obs, &c, &mut input, path)?;
        }
        (Some((key, path)), None) => {
            let c = container::find(&root, key)?;
            files::copy_from(
                &root,
                obs,
                &c,
                path,
                Path::new(&args.dest),
                args.follow_link,
            )?;
        }
        (None, Some((key, path))) => {
            let c = container::find(&root, key)?;
            files::copy_into(&root, obs, &c, Path::new(&args.src), path)?;
        }
        (Some(_), Some(_)) => {
            return Err(exit(
                1,
                "copying between containers is not supported".into(),
            ))
        }
        (None, None) => {
            return Err(exit(
                1,
                "must specify at least one container source (CONTAINER:PATH)".into(),
            ))
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Pause the container while its files are read (--pause=false: don't)
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    /// The container (name or id)
    pub container: String,
    /// REPOSITORY[:TAG] for the new image
    pub reference: Option<String>,
}

/// `commit`: a new image from the container's changes; prints its id.
pub fn commit(g: &GlobalOptions, args: CommitArgs) -> Result<i32> {
    let root = g.root();
    let found = container::find(&root, &args.container)?;
    // Refuse bad changes before anything is frozen or written.
    engine::changes::parse_changes(&args.change)
        .map_err(|e| exit(EXIT_ENGINE, format!("{e:#}")))?;
    // Its lock: no start, stop or rm of it while its files are read.
    let _lock = container::ContainerLock::take(&root, &found)?;
    let c =
        container::load_fresh(&root, &found.id).map_err(|_| container::gone(&args.container))?;
    let opts = engine::commit::CommitOptions {
        message: args.message,
        author: args.author,
        changes: args.change,
        reference: args.reference,
    };
    let id = if args.pause && c.is_running() && !c.state.paused {
        let mut kernel = g.kernel()?;
        let mut narrator = g.narrator(kernel.as_ref())?;
        engine::resources::frozen_while(&root, kernel.as_mut(), &mut narrator, &c, |obs| {
            engine::commit::commit(&root, obs, &c, &opts)
        })?
    } else {
        let mut narrator = file_narrator(g)?;
        engine::commit::commit(&root, &mut narrator, &c, &opts)?
    };
    println!("{id}");
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The container (name or id)
    pub container: String,
}

/// `export`: the container's filesystem as a tar archive.
pub fn export(g: &GlobalOptions, args: ExportArgs) -> Result<i32> {
    let root = g.root();
    let c = container::find(&root, &args.container)?;
    let mut narrator = file_narrator(g)?;
    match &args.output {
        Some(path) => {
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            let result = (|| -> Result<()> {
                let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
                files::export(&root, &mut narrator, &c, Some(path), &mut f)?;
                f.flush()?;
                std::fs::rename(&tmp, path)?;
                Ok(())
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?;
        }
        None => {
            // SAFETY: isatty on fd 1.
            if unsafe { libc::isatty(1) } == 1 {
                return Err(exit(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                ));
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            files::export(&root, &mut narrator, &c, None, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container (name or id)
    pub container: String,
    /// Its new name
    pub new_name: String,
}

pub fn rename(g: &GlobalOptions, args: RenameArgs) -> Result<i32> {
    let mut narrator = file_narrator(g)?;
    manage::rename(&g.root(), &mut narrator, &args.container, &args.new_name)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings for the container
    Port(PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Attach to a running container
    Attach(super::containers::AttachArgs),
    /// Copy files between a container and the host
    Cp(CpArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(super::containers::PsArgs),
    /// Create and run a container from an image
    Run(super::containers::RunArgs),
    /// Create a container without starting it
    #[command(disable_help_flag = true)]
    Create(super::containers::RunArgs),
    /// Start one or more created or stopped containers
    Start(super::containers::StartArgs),
    /// Stop one or more running containers
    Stop(super::containers::StopArgs),
    /// Restart one or more containers
    Restart(super::containers::StopArgs),
    /// Send a signal to one or more running containers
    Kill(super::containers::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(super::containers::WaitArgs),
    /// Fetch the logs of a container
    Logs(super::containers::LogsArgs),
    /// Show low-level information on containers
    Inspect(super::inspect::InspectArgs),
    /// Run a command in a running container
    Exec(super::containers::ExecArgs),
    /// Remove one or more containers
    Rm(super::containers::RmArgs),
}

pub fn container(g: &GlobalOptions, args: ContainerArgs) -> Result<i32> {
    match args.command {
        ContainerCommand::Prune(a) => prune(g, a),
        ContainerCommand::Rename(a) => rename(g, a),
        ContainerCommand::Diff(a) => diff(g, a),
        ContainerCommand::Export(a) => export(g, a),
        ContainerCommand::Top(a) => top(g, a),
        ContainerCommand::Port(a) => port(g, a),
        ContainerCommand::Stats(a) => stats(g, a),
        ContainerCommand::Attach(a) => super::containers::attach(g, a),
        ContainerCommand::Cp(a) => cp(g, a),
        ContainerCommand::Commit(a) => commit(g, a),
        ContainerCommand::Ls(a) => super::containers::ps(g, a).map(|_| 0),
        ContainerCommand::Run(a) => {
            crate::narrate::catch_interrupt();
            super::containers::run(g, a)
        }
        ContainerCommand::Create(a) => super::containers::create(g, a),
        ContainerCommand::Start(a) => super::containers::start(g, a),
        ContainerCommand::Stop(a) => super::containers::stop(g, a),
        ContainerCommand::Restart(a) => super::containers::restart(g, a),
        ContainerCommand::Kill(a) => super::containers::kill(g, a),
        ContainerCommand::Wait(a) => super::containers::wait(g, a),
        ContainerCommand::Logs(a) => super::containers::logs(g, a),
        ContainerCommand::Inspect(a) => super::inspect::inspect(g, a),
        ContainerCommand::Exec(a) => super::containers::exec(g, a),
        ContainerCommand::Rm(a) => super::containers::rm(g, a),
    }
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// docker's BytesSize-like total for "Total reclaimed space" (go-units HumanSize).
pub fn prune(g: &GlobalOptions, args: PruneArgs) -> Result<i32> {
    if !args.force {
        eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(0);
        }
    }
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let (deleted, reclaimed) = prune_containers(&root, kernel.as_mut(), &mut narrator)?;
    let mut out = String::new();
    push_deleted(&mut out, "Containers", &deleted);
    push_reclaimed(&mut out, reclaimed);
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

/// Remove every stopped container (`container prune`, `system prune`):
/// their ids and the bytes their writable layers held. A failure is printed
/// as it happens; the others are still removed.
pub fn prune_containers(
    root: &std::path::Path,
    kernel: &mut dyn crate::kernel::Kernel,
    narrator: &mut crate::narrate::Narrator,
) -> Result<(Vec<String>, u64)> {
    let pruned = manage::prune(root, kernel, narrator, &mut |c, e| {
        eprintln!("glassbox: container {}: {e:#}", c.name)
    })?;
    Ok((pruned.deleted, pruned.reclaimed))
}

/// docker's "Deleted Containers:" / "Deleted Images:" block, when there is anything.
pub fn push_deleted(out: &mut String, what: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out.push_str(&format!("Deleted {what}:\n"));
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push('\n');
}

/// docker's closing line of every prune.
pub fn push_reclaimed(out: &mut String, bytes: u64) {
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(bytes)));
}

#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container (name or id)
    pub container: String,
    /// ps options (default: -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `top`: the host's `ps`, keeping the rows of the processes in the container's cgroup.
pub fn top(g: &GlobalOptions, args: TopArgs) -> Result<i32> {
    let root = g.root();
    let c = container::find(&root, &args.container)?;
    let ps_args = if args.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args.ps_args.clone()
    };
    let rows = if c.simulated {
        if args.ps_args.iter().any(|a| a != "-ef") {
            crate::exit_err!(
                EXIT_ENGINE,
                "top in simulation shows ps -ef's columns only; run for real as root for other ps options"
            );
        }
        manage::sim_top(&root, &c)?
    } else {
        manage::top(&c, &ps_args)?
    };
    let mut table = Table::new(&[]);
    for row in rows {
        table.row(row);
    }
    let text = table.render();
    let _ =
        std::io::stdout().write_all(text.split_once('\n').map(|x| x.1).unwrap_or("").as_bytes());
    Ok(0)
}

#[derive(Args, Debug)]
pub struct PortArgs {
    /// The container (name or id)
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub private_port: Option<String>,
}

/// `port`: the container's published ports, as docker prints them
/// (`80/tcp -> 0.0.0.0:32768`), or the host addresses of one port.
pub fn port(g: &GlobalOptions, args: PortArgs) -> Result<i32> {
    let root = g.root();
    let c = container::find(&root, &args.container)?;
    let nets = crate::network::read_all(&root);
    let mut bindings = crate::network::endpoint_in(&nets, &c.id)
        .map(|(_, e)| e.ports)
        .unwrap_or_default();
    bindings.sort_by_key(|b| (b.container_port, b.proto, b.host_ip, b.host_port));
    match args.private_port {
        Some(p) => {
            let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
            let hits: Vec<_> = bindings
                .iter()
                .filter(|b| b.container_port.to_string() == port && b.proto.as_str() == proto)
                .collect();
            if hits.is_empty() {
                return Err(exit(
                    1,
                    format!(
                        "No public port '{port}/{proto}' published for {}",
                        c.short_id()
                    ),
                ));
            }
            for b in hits {
                println!("{}:{}", b.host_ip, b.host_port);
            }
        }
        None => {
            for b in &bindings {
                println!(
                    "{}/{} -> {}:{}",
                    b.container_port,
                    b.proto.as_str(),
                    b.host_ip,
                    b.host_port
                );
            }
        }
    }
    Ok(0)
}

// `stats` lives in its own module (src/cli/stats.rs).
pub use super::stats::{stats, StatsArgs};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp (2026-01-02T13:23:37Z, 1767225600) or relative (10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp (without it, events streams until interrupted)
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output: container=, event=, image=, type= (repeat to combine)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format output with a Go template ('{{json .}}')
    #[arg(long)]
    pub format: Option<String>,
}

fn event_matches(e: &events::Event, filters: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(k, v)| match k.as_str() {
                "container" => e.id.starts_with(v.as_str()) || e.attributes.get("name") == Some(v),
                "event" => &e.action == v,
                "type" => &e.kind == v,
                "image" => e.attributes.get("image") == Some(v),
                _ => false,
            })
    })
}

/// `events`: the journal's events; with no --until it keeps following the
/// journal for new ones until interrupted, as docker streams them.
pub fn events_cmd(g: &GlobalOptions, args: EventsArgs) -> Result<i32> {
    let root = g.root();
    let now = crate::clock::now();
    let bound = |s: &Option<String>, what: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        match s {
            None => Ok(None),
            Some(v) => logs::parse_time(v, now)
                .map(Some)
                .ok_or_else(|| exit(1, format!("invalid value for \"{what}\": {v:?}"))),
        }
    };
    let since = bound(&args.since, "since")?;
    let until = bound(&args.until, "until")?;
    let mut filters = Vec::new();
    for f in &args.filter {
        let Some((k, v)) = f.split_once('=') else {
            return Err(exit(
                1,
                format!("bad format of filter (expected name=value): {f}"),
            ));
        };
        let k = k.trim().to_ascii_lowercase();
        if !["container", "event", "image", "type"].contains(&k.as_str()) {
            return Err(exit(
                1,
                format!("invalid filter '{k}': supported are container, event, image, type"),
            ));
        }
        filters.push((k, v.to_string()));
    }
    let template = match &args.format {
        Some(f) => Some(super::template::Template::parse(f)?),
        None => None,
    };
    let print = |e: &events::Event| -> Result<()> {
        let line = match &template {
            Some(t) => {
                let v = serde_json::json!({
                    "Type": e.kind, "Action": e.action, "ID": e.id, "id": e.id,
                    "Actor": {"ID": e.id, "Attributes": e.attributes},
                    "time": e.time().map(|t| t.timestamp()).unwrap_or(0),
                    "timeNano": e.time().and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0),
                    "status": e.action, "from": e.attributes.get("image"),
                });
                t.render(&v)?
            }
            None => e.line(),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        Ok(())
    };
    // Without --since, docker shows only what happens from now on.
    let mut offset = if since.is_none() {
        std::fs::metadata(events::journal_path(&root)).map_or(0, |m| m.len())
    } else {
        0
    };
    // (After the offset is taken: what happens meanwhile is shown.) In
    // simulation nothing else moves the clock while this waits (a pinned
    // one never moves): time passes in the simulated world up to --until at
    // once, and each container is settled there, so the events its programs
    // make meanwhile (die, restarts) are in the journal before it is read.
    if g.simulated() {
        if let Some(u) = until.filter(|u| *u > now) {
            let until_ms = u.timestamp_millis().max(0) as u64;
            crate::kernel::sim::host::advance_clock(&root, until_ms)?;
            crate::container::list(&root)?;
        }
    }
    loop {
        let (batch, next) = events::read_from(&root, offset)?;
        offset = next;
        for e in &batch {
            let t = e.time();
            if since.is_some_and(|s| t.is_some_and(|t| t < s)) {
                continue;
            }
            if until.is_some_and(|u| t.is_some_and(|t| t > u)) {
                continue;
            }
            if event_matches(e, &filters) {
                print(e)?;
            }
        }
        if let Some(u) = until {
            if crate::clock::now() >= u {
                return Ok(0);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(split_container_path("web:/etc/x"), Some(("web", "/etc/x")));
        assert_eq!(split_container_path("./a:b"), None);
        assert_eq!(split_container_path("/tmp/x"), None);
        assert_eq!(split_container_path("file"), None);
    }
}

#[derive(Args, Debug)]
pub struct MonitorExitedArgs {
    /// The container's full id
    #[arg(long)]
    pub id: String,
    /// How its first process ended (docker's exit status)
    #[arg(long)]
    pub status: i32,
    /// When this run began (ms since the epoch), for the restart back-off
    #[arg(long = "began-ms")]
    pub began_ms: u64,
    /// The back-off before a policy restart
    #[arg(long = "delay-ms")]
    pub delay_ms: u64,
    /// It was wired to a bridge network
    #[arg(long)]
    pub bridge: bool,
    /// A socket holding one of its published ports (left open by the monitor)
    #[arg(long = "port-fd")]
    pub port_fd: Vec<i32>,
    /// The trace file the monitor was writing (left open), and its last step number
    #[arg(long = "trace-fd")]
    pub trace_fd: Option<i32>,
    #[arg(long = "trace-seq", default_value_t = 0)]
    pub trace_seq: u64,
    #[arg(long = "trace-pid")]
    pub trace_pid: Option<i32>,
}

/// `__monitor-exited`: the exit command glassbox-monitor runs in the
/// monitor's process once the container has ended (`linux::handover`).
/// Its streams are the monitor's (/dev/null); it speaks through the record.
pub fn monitor_exited(g: &GlobalOptions, a: MonitorExitedArgs) -> Result<i32> {
    use crate::kernel::linux::handover::adopt_fd;
    let mut kernel = g.kernel()?;
    let mut narrator =
        crate::narrate::Narrator::new(crate::narrate::Level::Quiet, g.lang(), false, None)?;
    if let Some(fd) = a.trace_fd {
        let file = std::fs::File::from(adopt_fd(fd)?);
        narrator = narrator.continue_trace(file, a.trace_seq, a.trace_pid);
    }
    let ports = a
        .port_fd
        .iter()
        .map(|&fd| adopt_fd(fd))
        .collect::<Result<Vec<_>>>()?;
    Ok(engine::monitor::resume(
        &g.root(),
        kernel.as_mut(),
        &mut narrator,
        engine::monitor::Exited {
            id: a.id,
            status: a.status,
            began_ms: a.began_ms,
            delay_ms: a.delay_ms,
            bridge: a.bridge,
            ports,
        },
    ))
}
