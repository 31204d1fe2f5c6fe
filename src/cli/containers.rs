//! Container commands: run, create, start, stop, restart, kill, wait, logs, ps, rm.

use super::format::{ago, human_duration, seconds_since, Table};
use super::template::Template;
use super::GlobalOptions;
use crate::container::{self, logs, Container, Status};
use crate::engine::{self, Network, RunOptions};
use crate::step::Lang;
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (-h is --hostname here, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run the container in the background (under a monitor) and print its ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass the host's value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]); default: the image's USER
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the image's default entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Network: bridge (the default), a network's name, none (loopback only) or host
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Publish a container's port(s) to the host ([IP:][HOST:]CONTAINER[/PROTO], ranges allowed)
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every exposed port to a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// IPv4 address on the network (user-defined networks)
    #[arg(long = "ip", value_name = "IP")]
    pub ip: Option<String>,
    /// Add a network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// Add a link to another container (NAME[:ALIAS])
    #[arg(long = "link", value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "OPT")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (HOST:IP)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Give extended privileges: all capabilities, no seccomp, no masked paths, all devices
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities (NET_ADMIN, CAP_SYS_TIME, ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (CHOWN, ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Security options: seccomp=unconfined|PROFILE.json, no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// User namespace: host (the default) or auto (its root is an unprivileged range of host ids)
    #[arg(long = "userns", value_name = "MODE", default_value = "host", value_parser = parse_userns)]
    pub userns: crate::confine::userns::UsernsMode,
    /// Bind mount a volume: /host/path:/path[:ro], NAME:/path[:ro] or /path (anonymous)
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=,target=[,readonly]
    #[arg(long = "mount", value_name = "SPEC")]
    pub mount: Vec<String>,
    /// Mount the volumes of another container (CONTAINER[:ro|:rw])
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS], e.g. /tmp or /run:size=64m)
    #[arg(long = "tmpfs", value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER[:PERMISSIONS]])
    #[arg(long = "device", value_name = "DEVICE")]
    pub device: Vec<String>,
    #[command(flatten)]
    pub limits: super::resources::LimitArgs,
    /// Disable OOM Killer (cgroup v1 only)
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "INT", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// Ulimit options (NAME=SOFT[:HARD], e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_name = "ULIMIT")]
    pub ulimit: Vec<String>,
    /// Override the key sequence for detaching a container (docker's syntax: ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// The image to run, then the command and its arguments: everything
    /// after the image is the command's, as docker reads it (`run IMG ls -d /`)
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub image_and_command: Vec<String>,
}

impl RunArgs {
    /// (image, command) from the one positional list.
    fn split_image(&mut self) -> (String, Vec<String>) {
        let mut all = std::mem::take(&mut self.image_and_command).into_iter();
        (all.next().unwrap_or_default(), all.collect())
    }
}

fn run_options(mut args: RunArgs) -> Result<RunOptions> {
    let (image, command) = args.split_image();
    let network = match args.network.as_deref() {
        None => Network::Default,
        Some("none") => Network::None,
        Some("host") => Network::Host,
        Some(name) if name.starts_with("container:") => Network::parse_recorded(name),
        Some(name) => Network::Bridge(name.to_string()),
    };
    let engine_err =
        |m: String| anyhow::Error::new(crate::error::ExitError::new(crate::error::EXIT_ENGINE, m));
    let net = crate::engine::network::NetConfig {
        publish: args
            .publish
            .iter()
            .flat_map(|p| p.split(',').map(str::to_string).collect::<Vec<_>>())
            .map(|p| crate::network::ports::parse(&p))
            .collect::<Result<_>>()?,
        ip: args
            .ip
            .as_deref()
            .map(|ip| {
                ip.parse()
                    .map_err(|_| engine_err(format!("invalid IPv4 address: {ip}")))
            })
            .transpose()?,
        aliases: args.network_alias,
        links: args.link,
        dns: args
            .dns
            .iter()
            .map(|d| {
                d.parse::<std::net::IpAddr>()
                    .map(|_| d.clone())
                    .map_err(|_| engine_err(format!("{d} is not an ip address")))
            })
            .collect::<Result<_>>()?,
        dns_search: args.dns_search,
        dns_options: args.dns_option,
        add_hosts: args.add_host,
        ..Default::default()
    };
    let opts = RunOptions {
        image,
        command,
        name: args.name,
        hostname: args.hostname,
        env: args.env,
        workdir: args.workdir,
        user: args.user,
        entrypoint: args.entrypoint,
        interactive: args.interactive,
        tty: args.tty,
        rm: args.rm,
        network,
        userns: args.userns,
        restart: args.restart,
        security: crate::confine::Security {
            privileged: args.privileged,
            cap_add: args.cap_add,
            cap_drop: args.cap_drop,
            security_opt: args.security_opt,
            read_only: args.read_only,
            tmpfs: args.tmpfs,
            devices: args
                .device
                .iter()
                .map(|d| crate::confine::parse_device(d))
                .collect::<Result<_>>()?,
            ..Default::default()
        },
        resources: crate::resources::ResourceFlags {
            oom_kill_disable: args.oom_kill_disable,
            oom_score_adj: args.oom_score_adj,
            ulimits: args.ulimit,
            ..args.limits.flags()
        },
        mounts: engine::volumes::MountFlags {
            volumes: args.volume,
            mounts: args.mount,
            volumes_from: args.volumes_from,
        },
        net,
        publish_all: args.publish_all,
    };
    Ok(opts)
}

pub fn run(g: &GlobalOptions, args: RunArgs) -> Result<i32> {
    let detach = args.detach;
    let detach_keys = crate::container::attach::parse_detach_keys(
        args.detach_keys
            .as_deref()
            .unwrap_or(crate::container::attach::DEFAULT_DETACH_KEYS),
    )
    .map_err(|e| {
        anyhow::Error::new(crate::error::ExitError::new(
            crate::error::EXIT_ENGINE,
            format!("{e:#}"),
        ))
    })?;
    let opts = run_options(args)?;
    engine::RestartPolicy::parse(&opts.restart)?;
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let served = (opts.tty && opts.interactive)
        || engine::RestartPolicy::parse(&opts.restart)? != engine::RestartPolicy::No;
    if !detach && served && !g.step {
        // Under a monitor, attached: the detach keys can leave it running,
        // and a restart policy outlives this command.
        let root = g.root();
        let c = engine::create(&root, kernel.as_ref(), &mut narrator, &opts)?;
        engine::start_for_attach(&root, kernel.as_mut(), &mut narrator, c.clone())?;
        if crate::narrate::interrupted() {
            // Ctrl-C while it was being set up: roll it back, as a foreground run does.
            let _ = engine::remove(&root, kernel.as_mut(), &mut narrator, &c.id, true);
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "interrupted during set-up; container {} was rolled back",
                c.short_id()
            );
        }
        let ended = engine::attach(
            &root,
            &container::load_fresh(&root, &c.id).unwrap_or(c),
            &engine::AttachOptions {
                stdin: opts.interactive,
                detach_keys,
                from_start: true,
            },
            &mut narrator,
        )?;
        return Ok(match ended {
            engine::Ended::Exited(code) => code,
            engine::Ended::Detached => 0,
        });
    }
    if !detach {
        return engine::run(&g.root(), kernel.as_mut(), &mut narrator, &opts);
    }
    if g.step {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "--step needs the terminal, so it cannot be used with -d (run in the foreground to step through)"
        );
    }
    let root = g.root();
    let c = engine::create(&root, kernel.as_ref(), &mut narrator, &opts)?;
    let id = c.id.clone();
    engine::start_detached(&root, kernel.as_mut(), &mut narrator, c).map_err(|e| {
        // `rm -f` won the race: docker run's own failures exit 125.
        if container::is_gone(&e) {
            anyhow::Error::new(crate::error::ExitError::new(
                crate::error::EXIT_ENGINE,
                format!("{e:#}"),
            ))
        } else {
            e
        }
    })?;
    println!("{id}");
    Ok(0)
}

/// `create`: the container's record and directories, ready for `start`.
pub fn create(g: &GlobalOptions, args: RunArgs) -> Result<i32> {
    if args.detach {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "unknown shorthand flag: 'd' in -d (create never starts the container; use `start`)"
        );
    }
    let opts = run_options(args)?;
    let kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let c = engine::create(&g.root(), kernel.as_ref(), &mut narrator, &opts)?;
    println!("{}", c.id);
    Ok(0)
}

/// Run `f` for each container; errors are printed as docker prints them and make the status 1.
fn each(lang: Lang, keys: &[String], mut f: impl FnMut(&str) -> Result<()>) -> i32 {
    let mut status = 0;
    for key in keys {
        if let Err(e) = f(key) {
            eprintln!("Error: {}", crate::error::localize(&format!("{e:#}"), lang));
            status = 1;
        }
    }
    status
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables (KEY=VALUE, or KEY to pass the host's value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Detached mode: run the command in the background (its output is discarded)
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>]), looked up in the container's /etc/passwd and /etc/group
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// The container (name or id), then the command and its arguments
    /// (everything after the container is the command's: `exec c ls -d /`)
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true
    )]
    pub container_and_command: Vec<String>,
}

/// `exec`: run a command in a running container (joins its namespaces and cgroup).
pub fn exec(g: &GlobalOptions, mut args: ExecArgs) -> Result<i32> {
    let mut words = std::mem::take(&mut args.container_and_command).into_iter();
    let container = words.next().unwrap_or_default();
    let opts = engine::ExecOptions {
        container,
        command: words.collect(),
        env: args.env,
        workdir: args.workdir,
        interactive: args.interactive,
        tty: args.tty,
        detach: args.detach,
        user: args.user,
    };
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    engine::exec(&g.root(), kernel.as_mut(), &mut narrator, &opts)
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container (docker's syntax: ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy received signals to the process (without a terminal)
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// The container (name or id)
    pub container: String,
}

/// `attach`: the container's terminal, or its output (and stdin with -i),
/// through its monitor's socket; the detach keys leave it running.
pub fn attach(g: &GlobalOptions, args: AttachArgs) -> Result<i32> {
    let keys = crate::container::attach::parse_detach_keys(
        args.detach_keys
            .as_deref()
            .unwrap_or(crate::container::attach::DEFAULT_DETACH_KEYS),
    )
    .map_err(|e| anyhow::Error::new(crate::error::ExitError::new(1, format!("{e:#}"))))?;
    let mut narrator = super::lifecycle::file_narrator(g)?;
    let ended = engine::attach_to(
        &g.root(),
        &args.container,
        &engine::AttachOptions {
            stdin: !args.no_stdin,
            detach_keys: keys,
            from_start: false,
        },
        &mut narrator,
    )?;
    Ok(match ended {
        engine::Ended::Exited(code) => code,
        engine::Ended::Detached => {
            // docker's CLI says so, and exits 1.
            eprintln!("read escape sequence");
            1
        }
    })
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals (run in the foreground)
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn start(g: &GlobalOptions, args: StartArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "you cannot start and attach multiple containers at once"
            );
        }
        let c = container::find(&root, &args.containers[0])?;
        if c.is_running() {
            crate::exit_err!(1, "container {} is already running", c.name);
        }
        let stdin = c.config.interactive && args.interactive;
        if stdin && c.config.tty && !g.step {
            // `start -ai` of a terminal container: under its monitor, attached,
            // so ctrl-p ctrl-q can leave it running (as `run -it`).
            engine::start_for_attach(&root, kernel.as_mut(), &mut narrator, c.clone())?;
            let ended = engine::attach(
                &root,
                &container::load_fresh(&root, &c.id).unwrap_or(c),
                &engine::AttachOptions {
                    stdin: true,
                    detach_keys: crate::container::attach::parse_detach_keys(
                        crate::container::attach::DEFAULT_DETACH_KEYS,
                    )?,
                    from_start: true,
                },
                &mut narrator,
            )?;
            return Ok(match ended {
                engine::Ended::Exited(code) => code,
                engine::Ended::Detached => 0,
            });
        }
        return engine::start(
            &root,
            kernel.as_mut(),
            &mut narrator,
            c,
            engine::StartOptions {
                stdin: Some(stdin),
                ..Default::default()
            },
        );
    }
    if g.step {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "--step needs the terminal: use `start -a` to step through"
        );
    }
    Ok(each(g.lang(), &args.containers, |key| {
        let c = container::find(&root, key)?;
        if !c.is_running() {
            engine::start_detached(&root, kernel.as_mut(), &mut narrator, c)?;
        }
        println!("{key}");
        Ok(())
    }))
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait for the container to stop before killing it
    #[arg(short = 't', long = "time", alias = "timeout", default_value_t = 10)]
    pub time: u64,
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn stop(g: &GlobalOptions, args: StopArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let timeout = Duration::from_secs(args.time);
    Ok(each(g.lang(), &args.containers, |key| {
        engine::stop(&root, kernel.as_mut(), &mut narrator, key, timeout)?;
        println!("{key}");
        Ok(())
    }))
}

pub fn restart(g: &GlobalOptions, args: StopArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let timeout = Duration::from_secs(args.time);
    Ok(each(g.lang(), &args.containers, |key| {
        // Its stop half, then its start half (each under the container's lock).
        let stopped = engine::stop(&root, kernel.as_mut(), &mut narrator, key, timeout)?;
        let Some(c) = stopped.and_then(|c| container::load_fresh(&root, &c.id).ok()) else {
            crate::exit_err!(1, "No such container: {key}");
        };
        engine::start_detached(&root, kernel.as_mut(), &mut narrator, c.clone())?;
        container::events::record(&root, "restart", &c, &[]);
        println!("{key}");
        Ok(())
    }))
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn kill(g: &GlobalOptions, args: KillArgs) -> Result<i32> {
    let root = g.root();
    let sig = engine::parse_signal(&args.signal)?;
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    Ok(each(g.lang(), &args.containers, |key| {
        engine::kill(&root, kernel.as_mut(), &mut narrator, key, sig)?;
        println!("{key}");
        Ok(())
    }))
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn wait(g: &GlobalOptions, args: WaitArgs) -> Result<i32> {
    let root = g.root();
    Ok(each(g.lang(), &args.containers, |key| {
        let code = engine::wait(&root, key)?;
        println!("{code}");
        Ok(())
    }))
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output until the container stops
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (2026-01-02T13:23:37Z) or relative (42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    /// The container (name or id)
    pub container: String,
}

fn print_entries(entries: &[logs::Entry], timestamps: bool) {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    for e in entries {
        let w: &mut dyn Write = if e.stream == "stderr" {
            &mut err
        } else {
            &mut out
        };
        if timestamps {
            let _ = write!(w, "{} ", e.time);
        }
        let _ = w.write_all(e.log.as_bytes());
    }
    let _ = out.flush();
    let _ = err.flush();
}

pub fn logs(g: &GlobalOptions, args: LogsArgs) -> Result<i32> {
    let root = g.root();
    let c = container::find(&root, &args.container)?;
    let now = crate::clock::now();
    let bound = |s: &Option<String>, what: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        match s {
            None => Ok(None),
            Some(v) => match logs::parse_time(v, now) {
                Some(t) => Ok(Some(t)),
                None => crate::exit_err!(
                    1,
                    "invalid value for \"{what}\": {v:?} is neither a time (2026-01-02T13:23:37Z, 1767225600) nor a duration (42m)"
                ),
            },
        }
    };
    let since = bound(&args.since, "since")?;
    let until = bound(&args.until, "until")?;
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => match n.parse() {
            Ok(v) => Some(v),
            Err(_) => crate::exit_err!(
                1,
                "invalid value for \"tail\": {n:?} is not a number or \"all\""
            ),
        },
    };
    let keep = |e: &logs::Entry| {
        let t = e.time();
        since.is_none_or(|s| t.is_none_or(|t| t >= s))
            && until.is_none_or(|u| t.is_none_or(|t| t <= u))
    };
    let step = crate::step::Step::LogRead {
        log: c.log_path(&root),
        follow: args.follow,
    };
    let mut narrator = super::lifecycle::file_narrator(g)?;
    if crate::kernel::StepObserver::before(&mut narrator, &step)? == crate::kernel::Go::Abort {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "aborted before step log_read; nothing was read"
        );
    }
    let mut reader = logs::LogReader::open(&c.log_path(&root))?;
    crate::kernel::StepObserver::after(&mut narrator, &step);
    let mut entries: Vec<logs::Entry> =
        reader.read_new()?.into_iter().filter(|e| keep(e)).collect();
    if let Some(n) = tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    print_entries(&entries, args.timestamps);
    if !args.follow || until.is_some() {
        return Ok(0);
    }
    if reader_missing(&c, &root) {
        // Started in the foreground: its output went to the terminal, nothing to follow.
        return Ok(0);
    }
    loop {
        let running = match container::load_fresh(&root, &c.id) {
            Ok(now) => now.is_running() || now.state.status == Status::Running,
            Err(_) => false, // removed
        };
        let new: Vec<logs::Entry> = reader.read_new()?.into_iter().filter(|e| keep(e)).collect();
        print_entries(&new, args.timestamps);
        if !running {
            let last: Vec<logs::Entry> =
                reader.read_new()?.into_iter().filter(|e| keep(e)).collect();
            print_entries(&last, args.timestamps);
            return Ok(0);
        }
        if c.simulated {
            crate::kernel::sim::host::let_time_pass(&root, Duration::from_millis(100))?;
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn reader_missing(c: &Container, root: &std::path::Path) -> bool {
    !c.log_path(root).exists()
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output: status=, name=, id=, ancestor=, exited= (repeat to combine)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Show the n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Format output with a Go template ({{.ID}} {{.Names}} {{.Status}} ...; "table ..." for columns)
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes: the container's writable layer (its upper dir), and in parentheses with the image ("virtual")
    #[arg(short = 's', long)]
    pub size: bool,
}

/// docker's SIZE column: the bytes the container wrote (its overlay upper
/// dir), then "virtual": those plus its image's.
fn size_text(root: &std::path::Path, store: Option<&crate::image::Store>, c: &Container) -> String {
    let upper = crate::engine::disk::dir_size(&c.dir(root).join("upper"));
    let image = store
        .and_then(|s| s.image_for_container(&c.image_id).ok().flatten())
        .map(|i| i.size)
        .unwrap_or(0);
    format!(
        "{} (virtual {})",
        super::format::human_size(upper),
        super::format::human_size(upper + image)
    )
}

/// One `ps` row as the fields docker's --format knows.
/// The PORTS column: docker's `0.0.0.0:32768->5000/tcp`, for a container
/// wired to a network now (from the network records `ps` read once).
fn ports_text(c: &Container) -> String {
    PS_NETWORKS.with(|n| {
        n.borrow()
            .as_ref()
            .and_then(|nets| crate::network::endpoint_in(nets, &c.id))
            .map(|(_, e)| crate::network::ports::ps_column(&e.ports))
            .unwrap_or_default()
    })
}

fn parse_userns(text: &str) -> std::result::Result<crate::confine::userns::UsernsMode, String> {
    crate::confine::userns::UsernsMode::parse(text)
}

/// docker's IMAGE column: the name the container was made from while that
/// name still means its image; once it was removed (`rmi -f`) or now names
/// another image, the image id (12 hex digits unless `--no-trunc`).
fn image_text(c: &Container, no_trunc: bool) -> String {
    let names_it = PS_IMAGES.with(|s| {
        s.borrow()
            .get(&c.image)
            .is_some_and(|id| id.as_deref() == Some(c.image_id.as_str()))
    });
    if names_it || c.image_id.is_empty() {
        return c.image.clone();
    }
    let hex = c.image_id.strip_prefix("sha256:").unwrap_or(&c.image_id);
    if no_trunc {
        c.image_id.clone()
    } else {
        hex[..hex.len().min(12)].to_string()
    }
}

thread_local! {
    /// What each image name of `ps`'s rows means now (`engine::ps::image_ids`).
    static PS_IMAGES: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    /// The networks `ps` read once for its rows.
    static PS_NETWORKS: std::cell::RefCell<Option<Vec<crate::network::NetworkRecord>>> =
        const { std::cell::RefCell::new(None) };
}

fn ps_fields(c: &Container, no_trunc: bool, size: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "ID": if no_trunc { c.id.clone() } else { c.short_id().to_string() },
        "Names": c.name,
        "Image": image_text(c, no_trunc),
        "Command": command_text(c, no_trunc),
        "CreatedAt": c.created,
        "RunningFor": ago(&c.created),
        "Status": status_text(c),
        "State": engine::ps::shown_status(c).as_str(),
        "Ports": ports_text(c),
        "Labels": "",
        "Mounts": "",
        "Networks": c.config.network,
        "Size": size.unwrap_or_default(),
    })
}

/// docker's column titles for --format "table ...".
fn header_for(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "Names" => "NAMES".into(),
        "Image" => "IMAGE".into(),
        "Command" => "COMMAND".into(),
        "CreatedAt" => "CREATED AT".into(),
        "RunningFor" => "CREATED".into(),
        "Status" => "STATUS".into(),
        "State" => "STATE".into(),
        "Ports" => "PORTS".into(),
        "Networks" => "NETWORKS".into(),
        other => other.to_uppercase(),
    }
}

/// docker's STATUS column.
pub fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Running => format!(
            "Up {}{}",
            human_duration(seconds_since(
                c.state.started_at.as_deref().unwrap_or(&c.created)
            )),
            if c.state.paused { " (Paused)" } else { "" }
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(seconds_since(
                c.state.finished_at.as_deref().unwrap_or(&c.created)
            ))
        ),
        Status::Created => "Created".into(),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(seconds_since(
                c.state.finished_at.as_deref().unwrap_or(&c.created)
            ))
        ),
        other => {
            let s = other.as_str();
            format!("{}{}", s[..1].to_uppercase(), &s[1..])
        }
    }
}

/// docker's COMMAND column: quoted, cut at 20 characters with an ellipsis.
pub fn command_text(c: &Container, no_trunc: bool) -> String {
    let cmd = c.command.join(" ");
    if no_trunc || cmd.chars().count() <= 20 {
        format!("\"{cmd}\"")
    } else {
        format!("\"{}…\"", cmd.chars().take(19).collect::<String>())
    }
}

pub fn ps(g: &GlobalOptions, args: PsArgs) -> Result<()> {
    let filters = engine::ps::Filters::parse(&args.filter)?;
    let template = match &args.format {
        Some(f) if f != "table" => Some(Template::parse(
            f.strip_prefix("table").unwrap_or(f).trim_start(),
        )?),
        _ => None,
    };
    let as_table = args
        .format
        .as_deref()
        .is_some_and(|f| f.starts_with("table"));
    let all = container::list(&g.root())?;
    PS_NETWORKS.with(|n| *n.borrow_mut() = Some(crate::network::read_all(&g.root())));
    let last = if args.latest { 1 } else { args.last };
    let shown = engine::ps::select(&all, &filters, args.all, last);
    PS_IMAGES.with(|s| *s.borrow_mut() = engine::ps::image_ids(&g.root(), &shown));
    if args.quiet {
        let mut out = String::new();
        for c in shown {
            out.push_str(if args.no_trunc {
                c.id.as_str()
            } else {
                c.short_id()
            });
            out.push('\n');
        }
        let _ = std::io::stdout().write_all(out.as_bytes());
        return Ok(());
    }
    let root = g.root();
    let store = if args.size {
        crate::image::Store::open(&root).ok()
    } else {
        None
    };
    let size = |c: &Container| args.size.then(|| size_text(&root, store.as_ref(), c));
    if let Some(t) = template {
        if as_table {
            // Headers: render the template over a row of titles.
            let mut titles = serde_json::Map::new();
            for field in t.fields() {
                titles.insert(field.clone(), serde_json::Value::String(header_for(&field)));
            }
            let header = t.render(&serde_json::Value::Object(titles))?;
            let mut table = Table::new(&[]);
            table.row(header.split('\t').map(String::from).collect());
            for c in &shown {
                let line = t.render(&ps_fields(c, args.no_trunc, size(c)))?;
                table.row(line.split('\t').map(String::from).collect());
            }
            let text = table.render();
            // (Table::new(&[]) put an empty first row: drop its line.)
            let _ = std::io::stdout()
                .write_all(text.split_once('\n').map(|x| x.1).unwrap_or("").as_bytes());
        } else {
            let mut out = String::new();
            for c in &shown {
                out.push_str(&t.render(&ps_fields(c, args.no_trunc, size(c)))?);
                out.push('\n');
            }
            let _ = std::io::stdout().write_all(out.as_bytes());
        }
        return Ok(());
    }
    let mut header = vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    if args.size {
        header.push("SIZE");
    }
    let mut table = Table::new(&header);
    for c in shown {
        let mut row = vec![
            if args.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            },
            image_text(c, args.no_trunc),
            command_text(c, args.no_trunc),
            ago(&c.created),
            status_text(c),
            ports_text(c),
            c.name.clone(),
        ];
        if let Some(size) = size(c) {
            row.push(size);
        }
        table.row(row);
    }
    table.print();
    Ok(())
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container (named volumes, and ones another container uses, stay)
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Containers to remove (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn rm(g: &GlobalOptions, args: RmArgs) -> Result<i32> {
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let mut status = 0;
    for key in &args.containers {
        match engine::remove_container(
            &g.root(),
            kernel.as_mut(),
            &mut narrator,
            key,
            args.force,
            args.volumes,
        ) {
            Ok(_) => println!("{key}"),
            Err(e) => {
                eprintln!(
                    "Error: {}",
                    crate::error::localize(&format!("{e:#}"), g.lang())
                );
                status = 1;
            }
        }
    }
    Ok(status)
}
