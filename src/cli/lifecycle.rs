//! More container commands: diff, cp, commit, export, rename, container
//! prune, top, port, stats, events. Output shaped like docker's.

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
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Pause the container during commit (accepted; glassbox does not pause yet)
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
    let c = container::find(&root, &args.container)?;
    let changes = engine::changes::parse_changes(&args.change)
        .map_err(|e| exit(EXIT_ENGINE, format!("{e:#}")))?;
    // Its lock: no start, stop or rm of it while its files are read.
    let _lock = container::ContainerLock::take(&root, &c)?;
    let mut narrator = file_narrator(g)?;
    let id = engine::commit::commit(
        &root,
        &mut narrator,
        &c,
        &engine::commit::CommitOptions {
            message: args.message,
            author: args.author,
            changes,
            reference: args.reference,
        },
    )?;
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

/// `port`: no port is published yet (networking comes later): nothing to
/// print, as docker prints nothing for a container without ports.
pub fn port(g: &GlobalOptions, args: PortArgs) -> Result<i32> {
    let c = container::find(&g.root(), &args.container)?;
    if let Some(p) = args.private_port {
        return Err(exit(
            1,
            format!("No public port '{p}' published for {}", c.short_id()),
        ));
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Containers (name or id); default: all running
    pub containers: Vec<String>,
}

/// go-units BytesSize: binary units, four significant digits (MEM USAGE).
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let int_digits = if value < 1.0 {
        1
    } else {
        (value.log10().floor() as usize) + 1
    };
    let decimals = 4usize.saturating_sub(int_digits);
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

/// Whether `stats` looks at simulated containers (time passes in simulation).
fn c_simulated(chosen: &[container::Container], g: &GlobalOptions) -> bool {
    chosen.first().map_or(g.simulated(), |c| c.simulated)
}

/// `stats`: CPU %, memory, network, block I/O and PIDs from each container's
/// cgroup, sampled twice half a second apart (docker's table).
pub fn stats(g: &GlobalOptions, args: StatsArgs) -> Result<i32> {
    let root = g.root();
    let chosen: Vec<container::Container> = if args.containers.is_empty() {
        container::list(&root)?
            .into_iter()
            .filter(|c| args.all || c.is_running())
            .collect()
    } else {
        args.containers
            .iter()
            .map(|k| container::find(&root, k))
            .collect::<Result<_>>()?
    };
    loop {
        let first: Vec<Option<manage::Sample>> = chosen
            .iter()
            .map(|c| {
                c.is_running()
                    .then(|| manage::sample(&root, c).ok())
                    .flatten()
            })
            .collect();
        let wall = manage::pass_interval(&root, c_simulated(&chosen, g))? as f64;
        let mut table = Table::new(&[
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ]);
        for (c, before) in chosen.iter().zip(&first) {
            let id = if args.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            };
            let now = before.as_ref().and_then(|_| manage::sample(&root, c).ok());
            match (before, now) {
                (Some(b), Some(n)) => {
                    let cpu = (n.cpu_ns.saturating_sub(b.cpu_ns)) as f64 / wall * 100.0;
                    let mem_pct = if n.mem_limit > 0 {
                        n.mem as f64 / n.mem_limit as f64 * 100.0
                    } else {
                        0.0
                    };
                    table.row(vec![
                        id,
                        c.name.clone(),
                        format!("{cpu:.2}%"),
                        format!("{} / {}", bytes_size(n.mem), bytes_size(n.mem_limit)),
                        format!("{mem_pct:.2}%"),
                        format!("{} / {}", human_size(n.net_rx), human_size(n.net_tx)),
                        format!(
                            "{} / {}",
                            human_size(n.block_read),
                            human_size(n.block_write)
                        ),
                        n.pids.to_string(),
                    ]);
                }
                _ => table.row(vec![
                    id,
                    c.name.clone(),
                    "0.00%".into(),
                    "0B / 0B".into(),
                    "0.00%".into(),
                    "0B / 0B".into(),
                    "0B / 0B".into(),
                    "0".into(),
                ]),
            }
        }
        let text = table.render();
        if args.no_stream {
            let _ = std::io::stdout().write_all(text.as_bytes());
            return Ok(0);
        }
        // Streaming: redraw in place, as docker does, until interrupted.
        let _ = std::io::stdout().write_all(format!("\x1b[2J\x1b[H{text}").as_bytes());
        let _ = std::io::stdout().flush();
    }
}

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
    fn binary_sizes_like_docker_stats() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1_462_272), "1.395MiB");
        assert_eq!(bytes_size(8_232_000_000), "7.667GiB");
    }

    #[test]
    fn container_paths() {
        assert_eq!(split_container_path("web:/etc/x"), Some(("web", "/etc/x")));
        assert_eq!(split_container_path("./a:b"), None);
        assert_eq!(split_container_path("/tmp/x"), None);
        assert_eq!(split_container_path("file"), None);
    }
}
