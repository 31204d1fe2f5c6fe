//! runc's command line, as podman's conmon and containerd's shim call it,
//! and the `--log` file: errors as JSON lines (`{"level":"error","msg":...,
//! "time":...}`) with `--log-format json`, which is where those callers
//! read why a runtime failed.

use super::Runtime;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "glassbox-runtime",
    version,
    about = "An OCI runtime (runc's command line) that runs containers with glassbox's narrated steps"
)]
pub struct Cli {
    /// Where container state is kept.
    #[arg(long, global = true, default_value = "/run/glassbox-runtime")]
    pub root: PathBuf,
    /// Write errors and warnings to this file (the caller reads it).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Manage cgroups with systemd (not supported: refused).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Write debug lines to the log.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc compatibility ("false" only). Not global: `spec`
    /// has its own `--rootless` switch, as runc's has.
    #[arg(long)]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    /// The bundle directory (config.json and the root filesystem).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the terminal's master (SCM_RIGHTS).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility: glassbox-runtime always uses pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted: glassbox-runtime makes no session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (3..3+N) on to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a default config.json into the bundle directory.
    Spec {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Set a container up; its process waits for `start`.
    Create(CreateArgs),
    /// Let a created container run its program.
    Start { id: String },
    /// Create and start a container, then wait for it (and delete it).
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long = "keep")]
        keep: bool,
    },
    /// The OCI state of a container (JSON).
    State { id: String },
    /// Send a signal (name or number, default SIGTERM) to the container.
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Remove a stopped container (`--force`: kill it first).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// List the containers under --root.
    List {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// The processes in a container's cgroup.
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container (cgroup freezer).
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Run another process in a running container.
    Exec(super::exec::ExecArgs),
    /// Change a running container's cgroup limits.
    Update {
        /// A LinuxResources JSON file, or - for standard input.
        #[arg(long, short = 'r')]
        resources: Option<String>,
        id: String,
    },
    /// Resource usage of a container (JSON).
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// What this runtime supports (JSON, runc's `features`).
    Features,
}

/// The `--log` file.
pub struct Log {
    pub path: Option<PathBuf>,
    pub json: bool,
    pub debug: bool,
}

impl Log {
    fn line(&self, level: &str, msg: &str) {
        let Some(path) = &self.path else { return };
        let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        else {
            return;
        };
        let time = crate::clock::now_rfc3339();
        let _ = if self.json {
            writeln!(
                f,
                "{}",
                serde_json::json!({"level": level, "msg": msg, "time": time})
            )
        } else {
            writeln!(f, "time=\"{time}\" level={level} msg={msg:?}")
        };
    }
    pub fn error(&self, msg: &str) {
        self.line("error", msg);
    }
    pub fn warn(&self, msg: &str) {
        self.line("warning", msg);
    }
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.line("debug", msg);
        }
    }
}

/// The whole program: parse, run the verb, report errors; the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            let _ = e.print();
            return crate::error::EXIT_ENGINE;
        }
    };
    let log = Log {
        path: cli.log.clone(),
        json: cli.log_format == "json",
        debug: cli.debug,
    };
    let rt = Runtime {
        root: cli.root.clone(),
        log,
        debug: cli.debug,
    };
    let result = check_globals(&cli).and_then(|_| dispatch(&rt, cli.command));
    match result {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            rt.log.error(&msg);
            eprintln!("Error: {msg}");
            crate::error::exit_code_of(&e)
        }
    }
}

fn check_globals(cli: &Cli) -> anyhow::Result<()> {
    if cli.log_format != "text" && cli.log_format != "json" {
        anyhow::bail!(super::plan::bad(format!(
            "--log-format {:?}: use text or json",
            cli.log_format
        )));
    }
    if cli.systemd_cgroup {
        anyhow::bail!(super::plan::bad(
            "--systemd-cgroup is not supported: glassbox-runtime manages cgroupfs paths itself; configure the caller for cgroupfs (podman: cgroup_manager = \"cgroupfs\" in containers.conf; containerd: SystemdCgroup = false)".into()
        ));
    }
    if cli.rootless.as_deref().is_some_and(|r| r == "true") {
        anyhow::bail!(super::plan::bad(
            "--rootless true is not supported: glassbox-runtime runs as root".into()
        ));
    }
    Ok(())
}

fn dispatch(rt: &Runtime, command: Command) -> anyhow::Result<i32> {
    use super::{exec, lifecycle};
    match command {
        Command::Spec { bundle, rootless } => exec::spec(&bundle, rootless).map(|_| 0),
        Command::Create(a) => lifecycle::create(rt, &a).map(|_| 0),
        Command::Start { id } => lifecycle::start(rt, &id).map(|_| 0),
        Command::Run {
            create,
            detach,
            keep,
        } => lifecycle::run(rt, &create, detach, keep),
        Command::State { id } => lifecycle::state(rt, &id).map(|_| 0),
        Command::Kill { all, id, signal } => {
            lifecycle::kill(rt, &id, signal.as_deref().unwrap_or("SIGTERM"), all).map(|_| 0)
        }
        Command::Delete { force, id } => lifecycle::delete(rt, &id, force).map(|_| 0),
        Command::List { format, quiet } => lifecycle::list(rt, &format, quiet).map(|_| 0),
        Command::Ps { format, id, .. } => lifecycle::ps(rt, &id, &format).map(|_| 0),
        Command::Pause { id } => lifecycle::freeze(rt, &id, true).map(|_| 0),
        Command::Resume { id } => lifecycle::freeze(rt, &id, false).map(|_| 0),
        Command::Exec(a) => exec::exec(rt, &a),
        Command::Update { resources, id } => exec::update(rt, &id, resources.as_deref()).map(|_| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => exec::events(rt, &id, stats, &interval).map(|_| 0),
        Command::Features => exec::features().map(|_| 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap checks the definitions (clashing names, types) only when asked:
    /// a clash otherwise panics at the first parse.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        Cli::try_parse_from(["glassbox-runtime", "spec", "--rootless"]).unwrap();
        Cli::try_parse_from(["glassbox-runtime", "--rootless", "false", "list"]).unwrap();
    }
}
