//! The command line: argument types (clap) and output. No engine logic lives
//! here; each command parses, calls `engine`, and prints.

pub mod build;
pub mod containers;
pub mod df;
pub mod dockerfile;
pub mod format;
pub mod images;
pub mod inspect;
pub mod learn;
pub mod lifecycle;
pub mod network;
pub mod prompt;
pub mod resources;
pub mod stats;
pub mod system;
pub mod template;
pub mod volumes;

use crate::kernel::{linux::LinuxKernel, sim::SimKernel, Kernel};
use crate::narrate::{Level, Narrator};
use crate::step::Lang;
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "glassbox",
    version,
    about = "A container runtime you can see through",
    long_about = "glassbox runs real containers and can show every kernel step it takes:\n\
                  the namespaces, the cgroup, the overlay mount, pivot_root and exec.\n\
                  Without root (or with --simulate) it runs the same steps on a simulated kernel.",
    after_help = "Examples:\n  glassbox run --rm busybox echo hello\n  glassbox --explain=steps run --rm busybox sh -c 'echo $$; hostname'\n  glassbox --step run --rm busybox true\n  glassbox --simulate --lang zh --explain run --rm busybox ls /"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    /// With no command, glassbox opens its learning shell (the REPL).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOptions {
    /// Where images and containers are stored
    #[arg(long, global = true, env = "GLASSBOX_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Run against the simulated kernel (no root needed, nothing changes on the host)
    #[arg(long, global = true)]
    pub simulate: bool,
    /// Show kernel steps: quiet, summary, steps (the default when given without a value), deep
    #[arg(long, global = true, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "steps", value_parser = parse_level)]
    pub explain: Option<Level>,
    /// Pause before each kernel step (Enter: run, ?: explain, l: look, c: continue, q: abort)
    #[arg(long, global = true)]
    pub step: bool,
    /// Language of narration and lessons: en or zh (default: from LANG)
    #[arg(long, global = true, value_parser = parse_lang)]
    pub lang: Option<Lang>,
    /// Write one JSON object per executed step to FILE
    #[arg(long = "trace-json", global = true, value_name = "FILE")]
    pub trace_json: Option<PathBuf>,
    /// The simulated host's cgroup layout: v2 (the default), v1 or hybrid
    #[arg(long = "sim-host", global = true, env = "GLASSBOX_SIM_HOST", value_name = "LAYOUT", value_parser = parse_sim_host)]
    pub sim_host: Option<crate::kernel::cgroup::CgroupMode>,
}

fn parse_sim_host(s: &str) -> std::result::Result<crate::kernel::cgroup::CgroupMode, String> {
    crate::kernel::cgroup::CgroupMode::parse_sim_host(s)
        .ok_or_else(|| format!("unknown simulated host layout {s:?}: use v1, v2 or hybrid"))
}

fn parse_level(s: &str) -> std::result::Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("unknown level {s:?}: use quiet, summary, steps or deep"))
}

fn parse_lang(s: &str) -> std::result::Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("unknown language {s:?}: use en or zh"))
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a container from an image
    #[command(
        after_help = "Examples:\n  glassbox run --rm busybox sh -c 'echo $$; hostname; ls /'\n  glassbox run -it --name box -h mybox busybox sh\n  glassbox run --rm -e GREETING=hi -w /tmp busybox env"
    )]
    Run(containers::RunArgs),
    /// List containers
    Ps(containers::PsArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Create a container without starting it
    #[command(disable_help_flag = true)]
    Create(containers::RunArgs),
    /// Start one or more created or stopped containers (detached unless -a)
    Start(containers::StartArgs),
    /// Stop one or more running containers (SIGTERM, then SIGKILL after -t seconds)
    Stop(containers::StopArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Send a signal (default SIGKILL) to one or more running containers
    Kill(containers::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitArgs),
    /// Fetch the logs of a detached container
    Logs(containers::LogsArgs),
    /// Show low-level information on containers, as JSON or through --format
    Inspect(inspect::InspectArgs),
    /// Attach the terminal (or stdin, stdout and stderr) to a running container
    #[command(
        after_help = "Detach with ctrl-p ctrl-q (or --detach-keys); the container keeps running.\n\nExamples:\n  glassbox run -dit --name box busybox sh\n  glassbox attach box"
    )]
    Attach(containers::AttachArgs),
    /// Inspect changes to files or directories on a container's filesystem (A, C, D)
    Diff(lifecycle::DiffArgs),
    /// Copy files between a container and the host (CONTAINER:PATH on one side)
    #[command(
        after_help = "Examples:\n  glassbox cp web:/etc/hostname .\n  glassbox cp ./site web:/srv"
    )]
    Cp(lifecycle::CpArgs),
    /// Create a new image from a container's changes
    Commit(lifecycle::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(lifecycle::ExportArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Manage containers (prune, rename, diff, export, top, port, stats, ...)
    Container(lifecycle::ContainerArgs),
    /// Display the running processes of a container (from its cgroup)
    Top(lifecycle::TopArgs),
    /// List port mappings for the container
    Port(lifecycle::PortArgs),
    /// Manage networks (create, ls, inspect, rm, prune)
    Network(network::NetworkArgs),
    /// Display containers' resource usage (CPU, memory, PIDs from their cgroups)
    Stats(lifecycle::StatsArgs),
    /// Show container events from the journal (create, start, die, stop, kill, destroy, rename)
    Events(lifecycle::EventsArgs),
    /// Update the limits (and restart policy) of one or more containers
    #[command(
        after_help = "Examples:\n  glassbox update -m 64m --memory-swap 128m web\n  glassbox update --cpus 0.5 --pids-limit 100 web"
    )]
    Update(resources::UpdateArgs),
    /// Pause all processes within one or more containers (cgroup freezer)
    Pause(resources::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(resources::PauseArgs),
    /// Run a command in a running container (joins its namespaces and cgroup)
    #[command(
        after_help = "Examples:\n  glassbox exec web ps\n  glassbox exec -it web sh\n  glassbox --explain=steps exec web hostname"
    )]
    Exec(containers::ExecArgs),
    /// List images
    Images(ImagesArgs),
    /// Import a root filesystem tarball as an image (like docker import)
    #[command(
        after_help = "Examples:\n  glassbox import rootfs.tar busybox:latest\n  cat rootfs.tar.gz | glassbox import - myimage:v1"
    )]
    Import(ImportArgs),
    /// Download an image from a registry
    #[command(
        after_help = "Examples:\n  glassbox pull busybox\n  glassbox pull --platform linux/arm64 127.0.0.1:5000/library/busybox:multi\n  glassbox pull -q localhost:5000/app@sha256:<digest>"
    )]
    Pull(images::PullArgs),
    /// Upload an image to a registry
    Push(images::PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Manage images (inspect, ls, pull, push, rm, tag, history, save, load)
    Image(images::ImageArgs),
    /// Save one or more images to a tar archive (docker-archive)
    Save(images::SaveArgs),
    /// Load images from a tar archive (docker-archive or oci-archive)
    Load(images::LoadArgs),
    /// Search a registry for images (Docker Hub's search API, else the registry's catalog)
    #[command(
        after_help = "Examples:\n  glassbox search busybox\n  glassbox search --limit 5 127.0.0.1:5000/busy\n  glassbox search --format '{{.Name}}' 127.0.0.1:5000/"
    )]
    Search(images::SearchArgs),
    /// Build an image from a Dockerfile and a context
    #[command(
        after_help = "Examples:\n  glassbox build -t hello:v1 .\n  glassbox build --no-cache -f app.Dockerfile --build-arg VERSION=2 .\n  glassbox build -t tiny - < Dockerfile"
    )]
    Build(build::BuildArgs),
    /// Manage the build cache (prune)
    Builder(build::BuilderArgs),
    /// Read Dockerfiles as BuildKit does (parse: print the AST dump)
    Dockerfile(dockerfile::DockerfileArgs),
    /// Manage glassbox (df: disk usage, prune: remove unused data, info)
    System(df::SystemArgs),
    /// Manage volumes (create, ls, inspect, rm, prune)
    Volume(volumes::VolumeArgs),
    /// Log in to a registry (credentials are stored in <root>/auth.json)
    Login(images::LoginArgs),
    /// Log out from a registry
    Logout(images::LogoutArgs),
    /// Take a lesson (glassbox learn N), or list them
    Learn(learn::LearnArgs),
    /// Labs: tasks checked against the real (or simulated) state
    Lab(learn::LabArgs),
    /// The learning shell: docker-style commands with every kernel step shown
    Repl {
        /// Open the shell in this lesson (e.g. 00 for the first)
        #[arg(long)]
        lesson: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  glassbox completion bash > /etc/bash_completion.d/glassbox\n  glassbox completion zsh > \"${fpath[1]}/_glassbox\""
    )]
    Completion { shell: clap_complete::Shell },
    /// Show the glassbox version
    Version,
    /// Show system-wide information
    Info,
    /// (internal) A monitor's exit command: glassbox-monitor runs it once the container has ended
    #[command(name = "__monitor-exited", hide = true)]
    MonitorExited(lifecycle::MonitorExitedArgs),
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[command(flatten)]
    pub extra: images::ImagesExtraArgs,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A rootfs tarball (plain or gzip), or - for standard input
    pub source: String,
    /// Name the image REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set a commit message for the imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
}

impl GlobalOptions {
    /// The storage root: --root, GLASSBOX_ROOT, /var/lib/glassbox as root,
    /// else $XDG_DATA_HOME/glassbox.
    pub fn base_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/glassbox");
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        data.join("glassbox")
    }

    /// Whether this command works on the simulated host: --simulate, or
    /// not root, or not Linux.
    pub fn simulated(&self) -> bool {
        self.simulate || !cfg!(target_os = "linux") || !nix::unistd::geteuid().is_root()
    }

    /// The store this command works on: the base root for the real host,
    /// its `simulated/` directory for the simulated one, so neither ever
    /// sees the other's containers and images.
    pub fn root(&self) -> PathBuf {
        crate::engine::store_root(&self.base_root(), self.simulated())
    }

    pub fn lang(&self) -> Lang {
        self.lang.unwrap_or_else(|| {
            let locale = std::env::var("LC_ALL")
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| std::env::var("LANG").ok());
            locale.map(|l| Lang::from_locale(&l)).unwrap_or_default()
        })
    }

    /// The kernel to use: real when root on Linux, unless --simulate.
    pub fn kernel(&self) -> Result<Box<dyn Kernel>> {
        let layout = self
            .sim_host
            .unwrap_or(crate::kernel::cgroup::CgroupMode::Unified);
        if self.simulate {
            return Ok(Box::new(SimKernel::persistent(&self.root(), layout)));
        }
        if !cfg!(target_os = "linux") || !nix::unistd::geteuid().is_root() {
            let why = if cfg!(target_os = "linux") {
                "not running as root"
            } else {
                "not on Linux"
            };
            eprintln!("glassbox: {why}, so running on the simulated kernel (--simulate)");
            return Ok(Box::new(SimKernel::persistent(&self.root(), layout)));
        }
        Ok(Box::new(LinuxKernel::new()?))
    }

    pub fn narrator(&self, kernel: &dyn Kernel) -> Result<Narrator> {
        let mut n = Narrator::new(
            self.explain.unwrap_or_default(),
            self.lang(),
            self.step,
            self.trace_json.as_deref(),
        )?;
        n.real = !kernel.is_simulated();
        Ok(n)
    }
}

/// Parse and run; returns the process exit code.
pub fn main_with(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    // Commands the REPL and lessons start as child processes simulate the same host.
    if let Some(layout) = g.sim_host {
        std::env::set_var("GLASSBOX_SIM_HOST", layout.sim_host_name());
    }
    // Every command on the simulated store tells its time (the REPL's and
    // the lesson runner's checks too: they replay simulated processes).
    if g.simulated() {
        crate::kernel::sim::host::open_clock(&g.root())?;
    }
    let Some(command) = cli.command else {
        return crate::repl::run(g, None);
    };
    match command {
        Command::Run(args) => {
            // Ctrl-C while the container is being set up aborts and rolls back.
            crate::narrate::catch_interrupt();
            containers::run(g, args)
        }
        Command::Ps(args) => containers::ps(g, args).map(|_| 0),
        Command::Rm(args) => containers::rm(g, args),
        Command::Create(args) => containers::create(g, args),
        Command::Start(args) => containers::start(g, args),
        Command::Stop(args) => containers::stop(g, args),
        Command::Restart(args) => containers::restart(g, args),
        Command::Kill(args) => containers::kill(g, args),
        Command::Wait(args) => containers::wait(g, args),
        Command::Logs(args) => containers::logs(g, args),
        Command::Inspect(args) => inspect::inspect(g, args),
        Command::Exec(args) => containers::exec(g, args),
        Command::Update(args) => resources::update(g, args),
        Command::Pause(args) => resources::pause(g, args),
        Command::Unpause(args) => resources::unpause(g, args),
        Command::Attach(args) => containers::attach(g, args),
        Command::Diff(args) => lifecycle::diff(g, args),
        Command::Cp(args) => lifecycle::cp(g, args),
        Command::Commit(args) => lifecycle::commit(g, args),
        Command::Export(args) => lifecycle::export(g, args),
        Command::Rename(args) => lifecycle::rename(g, args),
        Command::Container(args) => lifecycle::container(g, args),
        Command::Top(args) => lifecycle::top(g, args),
        Command::Port(args) => lifecycle::port(g, args),
        Command::Network(args) => network::network(g, args),
        Command::Stats(args) => lifecycle::stats(g, args),
        Command::Events(args) => lifecycle::events_cmd(g, args),
        Command::Images(args) => {
            images::run_images(&g.root(), args.quiet, args.no_trunc, args.extra)
        }
        Command::Pull(args) => images::run_pull(g, args),
        Command::Push(args) => images::run_push(g, args),
        Command::Tag(args) => images::run_tag(g, args),
        Command::Rmi(args) => images::run_rmi(g, args),
        Command::History(args) => images::run_history(&g.root(), args),
        Command::Image(args) => images::run_image(g, args),
        Command::Search(args) => images::run_search(g, args),
        Command::System(args) => df::run_system(g, args),
        Command::Volume(args) => volumes::run_volume(g, args),
        Command::Build(args) => {
            crate::narrate::catch_interrupt();
            build::run(g, args)
        }
        Command::Builder(args) => build::run_builder(g, args),
        Command::MonitorExited(args) => lifecycle::monitor_exited(g, args),
        Command::Dockerfile(args) => dockerfile::run(args),
        Command::Save(args) => images::run_save(&g.root(), args),
        Command::Load(args) => images::run_load(&g.root(), args),
        Command::Login(args) => images::run_login(g, args),
        Command::Logout(args) => images::run_logout(&g.root(), args),
        Command::Import(args) => images::import(
            &g.root(),
            &args.source,
            args.reference.as_deref(),
            &args.change,
            args.message.as_deref(),
        )
        .map(|_| 0),
        Command::Learn(args) => learn::learn(g, args),
        Command::Lab(args) => learn::lab(g, args),
        Command::Repl { lesson } => crate::repl::run(g, lesson.as_deref()),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "glassbox", &mut script);
            use std::io::Write;
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(&script);
            Ok(0)
        }
        Command::Version => system::version(g.lang()).map(|_| 0),
        Command::Info => system::info(g).map(|_| 0),
    }
}
