//! `create`, `start` and `run` (= create + start): make a container from an
//! image, then run its program, in the foreground or detached (log mode,
//! under a monitor: see `engine::monitor`).
//!
//! `create` only writes the container's record (command, environment,
//! working directory, hostname, settings) and its directories; `start` turns
//! a created or exited container into a running one from that record, with
//! the same writable upper dir, so a restarted container keeps its files.
//!
//! The plan `start` carries out, in the order the kernel sees it:
//!   parent: cgroup_create → clone (new namespaces) → cgroup_join
//!   child:  mount_private → mount_overlay → /proc, /sys, /dev and friends →
//!           hostname, hosts, resolv.conf binds → set_hostname → link_up lo →
//!           pivot_root → exec
//!   parent: wait → cgroup_remove
//! Overlay and every other mount live only in the container's mount
//! namespace, so they vanish with it: nothing is left on the host.

use super::apply_step;
use crate::confine::userns::{self, UsernsMode};
use crate::confine::Confinement;
use crate::container::{self, names, Config, Container, ContainerLock, State, Status};
use crate::error::{ExitError, EXIT_ENGINE};
use crate::image::{Image, Reference, Store};
use crate::kernel::{ChildSpec, Go, Kernel, Stdio, StepObserver};
use crate::step::{default_devices, Namespace, Special, Step};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Network {
    /// No --network: the default `bridge` network on the real kernel; in
    /// simulation `none`, until the simulated host has bridges.
    #[default]
    Default,
    /// Its own network namespace with only a loopback interface.
    None,
    /// The host's network (and hostname), as docker's --network host.
    Host,
    /// A bridge network by name (`bridge` or one made by `network create`):
    /// its own namespace wired to the network (`engine::network`).
    Bridge(String),
    /// `--network container:ID|NAME`: the network namespace of another
    /// container (its full id once created), and its /etc files.
    Container(String),
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub image: String,
    pub command: Vec<String>,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<String>,
    pub interactive: bool,
    pub tty: bool,
    pub rm: bool,
    pub network: Network,
    /// docker's --restart policy ("" or "no" for none); see `RestartPolicy`.
    pub restart: String,
    /// Confinement: --privileged, --cap-add/--cap-drop, --security-opt,
    /// --read-only, --tmpfs, --device.
    pub security: crate::confine::Security,
    /// Limits as given: --memory, --cpus, --pids-limit, --ulimit, ...
    pub resources: crate::resources::ResourceFlags,
    /// -v, --mount, --volumes-from.
    pub mounts: super::volumes::MountFlags,
    /// -p, --ip, --network-alias, --link, --dns*, --add-host.
    pub net: super::network::NetConfig,
    /// -P: publish every port the image EXPOSEs.
    pub publish_all: bool,
    /// --userns: the host's user namespace, or one of its own.
    pub userns: crate::confine::userns::UsernsMode,
    /// -u USER[:GROUP]; none: the image's USER (docker's rule).
    pub user: Option<String>,
}

/// docker's --restart, which a container's monitor carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    /// Restart after a non-zero exit, at most N times (0: no limit).
    OnFailure(u32),
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let policy = match (name, count) {
            ("" | "no", None) => RestartPolicy::No,
            ("always", None) => RestartPolicy::Always,
            ("unless-stopped", None) => RestartPolicy::UnlessStopped,
            ("on-failure", None) => RestartPolicy::OnFailure(0),
            ("on-failure", Some(n)) => match n.parse::<i64>() {
                Ok(n) if n >= 0 => RestartPolicy::OnFailure(n as u32),
                Ok(_) => crate::exit_err!(
                    EXIT_ENGINE,
                    "invalid restart policy: maximum retry count cannot be negative"
                ),
                Err(_) => crate::exit_err!(
                    EXIT_ENGINE,
                    "invalid restart policy format: maximum retry count must be an integer"
                ),
            },
            ("no" | "always" | "unless-stopped", Some(_)) => crate::exit_err!(
                EXIT_ENGINE,
                "invalid restart policy '{name}': maximum retry count can only be used with 'on-failure'"
            ),
            _ => crate::exit_err!(
                EXIT_ENGINE,
                "invalid restart policy '{s}': use no, on-failure[:max-retries], always or unless-stopped"
            ),
        };
        Ok(policy)
    }

    /// docker's HostConfig.RestartPolicy: its Name and MaximumRetryCount.
    pub fn name_and_count(self) -> (&'static str, u32) {
        match self {
            RestartPolicy::No => ("no", 0),
            RestartPolicy::OnFailure(n) => ("on-failure", n),
            RestartPolicy::Always => ("always", 0),
            RestartPolicy::UnlessStopped => ("unless-stopped", 0),
        }
    }

    /// Whether a container that exited with `code`, restarted `count` times
    /// already, is started again.
    pub fn restarts(self, code: i32, count: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => code != 0 && (max == 0 || count < max),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

fn engine_error(message: String) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(EXIT_ENGINE, message))
}

/// Find the image, importing the embedded default if it is the one asked for.
pub fn resolve_image(
    store: &Store,
    name: &str,
    simulate: bool,
    observer: &mut dyn StepObserver,
) -> Result<Image> {
    if let Some(image) = store.resolve(name)? {
        return Ok(image);
    }
    let reference = Reference::parse(name)
        .map_err(|e| engine_error(format!("invalid reference format {name:?}: {e}")))?;
    let default = Reference::parse(crate::image::embedded::DEFAULT_IMAGE)?;
    // Pull it, as docker does, when there is a registry to pull from without
    // the internet: one named in the reference, or a docker.io mirror.
    // In simulation the simulated registry serves the lessons' images (debian).
    let served = simulate
        && reference.registry == crate::image::reference::DEFAULT_REGISTRY
        && crate::image::sim_images::find(&reference.repository).is_some();
    if served || crate::registry::can_pull(&store.root, &reference) {
        eprintln!("Unable to find image '{reference}' locally");
        // The pull's protocol steps are narrated like the kernel's; simulated
        // runs pull from the simulated registry, never the network.
        let opts = crate::registry::PullOptions {
            simulate,
            for_run: true,
            ..Default::default()
        };
        // With its tag: docker's run says nothing of a default tag.
        match crate::registry::pull_observed(
            &store.root,
            &reference.to_string(),
            &opts,
            &mut std::io::stderr(),
            observer,
        ) {
            Ok(image) => return Ok(image),
            Err(e) if reference.full() == default.full() => {
                eprintln!("glassbox: {e:#}");
            }
            Err(e) => return Err(engine_error(format!("{e:#}"))),
        }
    }
    if reference.full() == default.full() {
        if let Some(tar) = crate::image::embedded::default_rootfs() {
            eprintln!("Unable to find image '{reference}' locally; using glassbox's built-in busybox image");
            // A fixed time makes the built-in image's id the same everywhere, so
            // concurrent first runs import one image, not two.
            let config = crate::image::ImportConfig {
                cmd: Some(vec!["sh".into()]),
                source: Some("glassbox's built-in busybox".into()),
                created: Some("2024-01-01T00:00:00Z".into()),
                ..Default::default()
            };
            return store.import_tar(tar, Some(&reference), config);
        }
    }
    Err(engine_error(format!(
        "Unable to find image '{reference}' locally: it is not in the store at {} (list images with `glassbox images`; add one with `glassbox import FILE {}`)",
        store.root.display(),
        reference.familiar_repo()
    )))
}

/// The command line: docker's rules for Entrypoint and Cmd.
fn command_line(image: &Image, opts: &RunOptions) -> Vec<String> {
    let cfg = image.config.config().clone().unwrap_or_default();
    let entrypoint: Vec<String> = match &opts.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !opts.command.is_empty() {
        opts.command.clone()
    } else if opts.entrypoint.is_some() {
        vec![] // a new entrypoint drops the image's Cmd, as docker does
    } else {
        cfg.cmd().clone().unwrap_or_default()
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The environment: image Env, then -e (KEY=VALUE, or KEY to take the host's value).
fn environment(image: &Image, opts: &RunOptions, hostname: &str) -> Vec<String> {
    let cfg = image.config.config().clone().unwrap_or_default();
    let mut env: Vec<String> = cfg.env().clone().unwrap_or_default();
    let mut set = |entry: String| {
        let key = entry.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    };
    if !opts.env.iter().any(|e| e.starts_with("PATH="))
        && !cfg
            .env()
            .clone()
            .unwrap_or_default()
            .iter()
            .any(|e| e.starts_with("PATH="))
    {
        set(format!("PATH={}", crate::kernel::linux::DEFAULT_PATH));
    }
    set(format!("HOSTNAME={hostname}"));
    if opts.tty {
        set("TERM=xterm".into());
    }
    for e in &opts.env {
        if e.contains('=') {
            set(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            set(format!("{e}={v}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push("HOME=/root".into());
    }
    env
}

/// The container's own /etc/hosts (None with --network host: the host's is copied).
fn hosts_text(hostname: &str, network: &Network) -> Option<String> {
    match network {
        Network::Host => None,
        _ => Some(format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.0.1\t{hostname}\n"
        )),
    }
}

/// Write hostname, hosts and resolv.conf into the container's existing
/// directory (`fs::write` creates a file, never a missing directory).
/// `resolv`: the text to write (the simulated host's), else the host's
/// /etc/resolv.conf filtered.
fn write_etc_files(
    dir: &Path,
    hostname: &str,
    hosts: &Option<String>,
    resolv: Option<&str>,
) -> Result<()> {
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let hosts = match hosts {
        Some(text) => text.clone(),
        None => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
    };
    std::fs::write(dir.join("hosts"), hosts)?;
    let resolv = match resolv {
        Some(text) => text.to_string(),
        None => resolv_text(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()),
    };
    std::fs::write(dir.join("resolv.conf"), resolv)?;
    Ok(())
}

/// Like docker: the host's resolv.conf without loopback resolvers, which
/// would point at the container itself.
fn resolv_text(host_resolv: &str) -> String {
    host_resolv
        .lines()
        .filter(|l| {
            !(l.trim_start().starts_with("nameserver")
                && (l.contains(" 127.") || l.contains(" ::1")))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The simulated host's /etc/hosts and /etc/resolv.conf (a resolver on
/// QEMU's user network, as a learner's VM often has).
const SIM_HOST_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const SIM_HOST_RESOLV: &str = "nameserver 10.0.2.3\n";

/// In its user namespace the container's root is an ordinary host user: it
/// must be able to pass through every directory above its own to mount its
/// overlay (docker keeps /var/lib/docker at 0711 for the same reason).
fn searchable_by_others(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for ancestor in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor)
            .with_context(|| format!("stat {}", ancestor.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            crate::exit_err!(
                EXIT_ENGINE,
                "--userns=auto: the container's root (an unprivileged host uid) cannot pass through {} (mode {:04o}); allow it with `chmod o+x {}` (docker keeps its store at 0711 for this)",
                ancestor.display(),
                mode & 0o7777,
                ancestor.display()
            );
        }
    }
    Ok(())
}

/// Where the child attaches the idmapped copy of each layer (lowest first).
fn idmapped_targets(dir: &Path, layers: usize) -> Vec<PathBuf> {
    (0..layers)
        .map(|i| dir.join("lower").join(i.to_string()))
        .collect()
}

/// The steps the container's first process runs inside its namespaces.
#[allow(clippy::too_many_arguments)]
fn child_steps(
    lower: Vec<PathBuf>,
    dir: &Path,
    console: Option<String>,
    hostname: &str,
    tty: bool,
    network: &Network,
    argv: Vec<String>,
    env: Vec<String>,
    cwd: String,
    conf: &Confinement,
    seccomp: Option<Step>,
    pre_exec: Vec<Step>,
    volumes: Vec<Step>,
    user: Option<crate::step::ExecUser>,
) -> Vec<Step> {
    let merged = dir.join("merged");
    let special = |fs, sub: &str, options: &str, read_only| Step::MountSpecial {
        fs,
        target: merged.join(sub),
        options: options.into(),
        read_only,
    };
    let mut steps = Vec::new();
    // In a user namespace of its own the child first becomes that
    // namespace's root, then stacks the idmapped copies of the layers.
    let lower = match &conf.userns {
        Some(map) => {
            steps.push(Step::UsernsRoot { map: map.clone() });
            steps.push(Step::MountPrivate);
            let targets = idmapped_targets(dir, lower.len());
            steps.push(Step::AttachLayers {
                targets: targets.clone(),
            });
            targets
        }
        None => {
            steps.push(Step::MountPrivate);
            lower
        }
    };
    steps.extend([
        Step::MountOverlay {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: merged.clone(),
            userxattr: conf.userns.is_some(),
        },
        special(Special::Proc, "proc", "nosuid,noexec,nodev", false),
        // --privileged containers get a writable /sys, as docker's.
        special(
            Special::Sysfs,
            "sys",
            "nosuid,noexec,nodev",
            !conf.privileged,
        ),
        special(
            Special::Tmpfs,
            "dev",
            "nosuid,strictatime,mode=755,size=65536k",
            false,
        ),
        Step::MakeDevices {
            dev: merged.join("dev"),
            entries: default_devices(tty),
            bind: conf.userns.is_some(),
        },
        special(
            Special::Devpts,
            "dev/pts",
            "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
            false,
        ),
        special(
            Special::Tmpfs,
            "dev/shm",
            "nosuid,nodev,noexec,mode=1777,size=65536k",
            false,
        ),
        special(Special::Mqueue, "dev/mqueue", "nosuid,nodev,noexec", false),
    ]);
    if !conf.devices.is_empty() {
        let after = steps
            .iter()
            .position(|s| matches!(s, Step::MakeDevices { .. }))
            .map_or(steps.len(), |i| i + 1);
        steps.insert(
            after,
            Step::AddDevices {
                dev: merged.join("dev"),
                devices: conf.devices.clone(),
            },
        );
    }
    // --tmpfs: its mount point resolved inside the root, as a volume's.
    for (path, options) in &conf.tmpfs {
        steps.push(Step::VolumeMount {
            what: "tmpfs".into(),
            source: "tmpfs".into(),
            root: merged.clone(),
            destination: path.clone(),
            options: crate::confine::tmpfs_options(options),
        });
    }
    // -v, --mount, --volumes-from, VOLUME: engine::volumes::start_steps.
    steps.extend(volumes);
    if let Some(console) = console {
        steps.push(Step::MountBind {
            source: console.into(),
            target: merged.join("dev/console"),
            read_only: false,
        });
    }
    for file in ["hostname", "hosts", "resolv.conf"] {
        steps.push(Step::MountBind {
            source: dir.join(file),
            target: merged.join("etc").join(file),
            read_only: false,
        });
    }
    if *network != Network::Host {
        steps.push(Step::SetHostname {
            hostname: hostname.to_string(),
        });
        steps.push(Step::LinkUp { name: "lo".into() });
    }
    steps.push(Step::PivotRoot { new_root: merged });
    if conf.read_only {
        steps.push(Step::RemountReadOnly { target: "/".into() });
    }
    if !conf.privileged {
        steps.push(Step::MaskPaths {
            paths: crate::confine::MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        });
        steps.push(Step::ReadonlyPaths {
            paths: crate::confine::READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        });
    }
    // rlimits and the OOM score while CAP_SYS_RESOURCE may still be held.
    steps.extend(pre_exec);
    steps.extend(before_exec(conf, seccomp, user));
    steps.push(Step::Exec {
        argv,
        env,
        cwd,
        joined: false,
    });
    steps
}

/// The last steps before exec, in runc's order: without no_new_privs the
/// filter goes in while the process still has CAP_SYS_ADMIN (the kernel
/// demands one or the other), then the capabilities; with it, capabilities
/// first and the filter last, so the fewest calls run under it. An
/// `exec -u` user is taken right before the capabilities (runc's
/// finalizeNamespace), while CAP_SETUID/CAP_SETGID are still held.
pub(crate) fn before_exec(
    conf: &Confinement,
    seccomp: Option<Step>,
    user: Option<crate::step::ExecUser>,
) -> Vec<Step> {
    last_steps(conf.no_new_privs, conf.caps, seccomp, user)
}

/// `before_exec` from its parts, for glassbox-runtime's config.json too
/// (`oci::plan::process_steps`).
pub(crate) fn last_steps(
    no_new_privs: bool,
    keep: crate::confine::caps::CapSet,
    seccomp: Option<Step>,
    user: Option<crate::step::ExecUser>,
) -> Vec<Step> {
    let mut caps = vec![Step::CapSet {
        keep: keep.names(),
        set: keep,
        non_root: user.as_ref().is_some_and(|u| u.uid != 0),
    }];
    if let Some(user) = user {
        caps.insert(0, Step::SetUser { user });
    }
    let mut steps = Vec::new();
    if no_new_privs {
        steps.push(Step::NoNewPrivs);
        steps.extend(caps);
        steps.extend(seccomp);
    } else {
        steps.extend(seccomp);
        steps.extend(caps);
    }
    steps
}

/// Compile the container's seccomp filter (in glassbox, before clone).
/// Compiling docker's profile costs about 20 ms of CPU, so the program is
/// kept under `<root>/cache/seccomp/`, keyed by everything it depends on
/// (profile text, capabilities, kernel version, architecture, libseccomp).
pub(crate) fn seccomp_step(root: &Path, conf: &Confinement) -> Result<Option<Step>> {
    use crate::confine::{seccomp, SeccompChoice};
    let (name, text) = match &conf.seccomp {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => ("docker-default", seccomp::DOCKER_DEFAULT_JSON),
        SeccompChoice::Custom(text) => ("custom profile", text.as_str()),
    };
    let fail = |e: String| engine_error(format!("seccomp profile {name}: {e}"));
    let profile = seccomp::parse(text).map_err(fail)?;
    let resolved = seccomp::resolve(
        &profile,
        seccomp::native_arch(),
        conf.caps,
        seccomp::kernel_version(),
    )
    .map_err(fail)?;
    let kernel = seccomp::kernel_version();
    let key = crate::fsutil::sha256_hex(
        format!(
            "{text}\0{}\0{}.{}\0{}\0{:?}",
            conf.caps,
            kernel.0,
            kernel.1,
            seccomp::native_arch().0,
            libseccomp::ScmpVersion::current()
                .ok()
                .map(|v| (v.major, v.minor, v.micro)),
        )
        .as_bytes(),
    );
    let cached = root
        .join("cache")
        .join("seccomp")
        .join(format!("{key}.bpf"));
    let program = match std::fs::read(&cached) {
        Ok(bytes) if !bytes.is_empty() && bytes.len() % 8 == 0 => seccomp::Program(bytes),
        _ => {
            let program = seccomp::compile(&resolved).map_err(fail)?;
            if let Some(dir) = cached.parent() {
                // A cache: failing to keep it costs only time.
                let _ = std::fs::create_dir_all(dir)
                    .map_err(anyhow::Error::from)
                    .and_then(|_| crate::fsutil::atomic_write_with(&cached, &program.0, false));
            }
            program
        }
    };
    Ok(Some(Step::SeccompLoad {
        profile: name.into(),
        default_action: match resolved.default {
            seccomp::Action::Errno(e) => format!(
                "errno {e} ({})",
                nix::errno::Errno::from_raw(e as i32).desc()
            ),
            other => format!("{other:?}"),
        },
        allowed: resolved.allowed().len(),
        arches: resolved.arches.clone(),
        program,
    }))
}

/// The `--ulimit`s a start sets, clamped to glassbox's own hard limits on a
/// real host without CAP_SYS_RESOURCE (with a warning for each), so a start
/// never fails for want of it. The simulated host may raise them.
fn rlimits(
    kernel: &dyn Kernel,
    res: &crate::resources::Resources,
) -> (Vec<crate::resources::Ulimit>, Vec<String>) {
    use crate::resources::ulimit;
    if kernel.is_simulated() {
        return (res.ulimits.clone(), Vec::new());
    }
    ulimit::clamp(
        &res.ulimits,
        ulimit::has_cap_sys_resource(),
        ulimit::own_hard,
    )
}

/// The device cgroup step for a container's cgroup directories.
fn device_cgroup_step(kernel: &dyn Kernel, cgroups: &[PathBuf], conf: &Confinement) -> Step {
    let setup = kernel.cgroup_setup();
    let version = setup.mode.version();
    let paths: Vec<PathBuf> = if version == 2 {
        cgroups.to_vec()
    } else {
        // v1: the container's directory in the devices hierarchy.
        setup
            .hierarchies
            .iter()
            .zip(cgroups)
            .filter(|(h, _)| {
                h.file_name()
                    .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == "devices"))
            })
            .map(|(_, c)| c.clone())
            .collect()
    };
    let allow: Vec<String> = if conf.privileged {
        vec!["a *:* rwm".into()]
    } else {
        crate::confine::DEFAULT_DEVICE_RULES
            .iter()
            .map(|r| r.to_string())
            .chain(conf.devices.iter().map(|d| d.rule()))
            .collect()
    };
    Step::DeviceCgroup {
        paths,
        deny_all: !conf.privileged,
        allow,
        version,
    }
}

/// Where a layer is (or will be) unpacked, without unpacking it: the
/// simulated kernel narrates these paths but reads the layer blobs instead.
pub(crate) fn layer_dir_path(root: &Path, chain_id: &str) -> PathBuf {
    root.join("layers")
        .join(chain_id.trim_start_matches("sha256:"))
        .join("diff")
}

impl Network {
    pub fn parse_recorded(s: &str) -> Network {
        match s {
            "host" => Network::Host,
            "none" | "" => Network::None,
            s if s.starts_with("container:") => {
                Network::Container(s["container:".len()..].to_string())
            }
            name => Network::Bridge(name.to_string()),
        }
    }
    /// As recorded in the container (docker's NetworkMode).
    pub fn recorded(&self) -> String {
        match self {
            Network::Default => crate::network::DEFAULT_NETWORK.into(),
            Network::None => "none".into(),
            Network::Host => "host".into(),
            Network::Bridge(name) => name.clone(),
            Network::Container(id) => format!("container:{id}"),
        }
    }
}

/// The hostname a container sees: its own, or the host's with --network host.
fn effective_hostname(c: &Container) -> String {
    match Network::parse_recorded(&c.config.network) {
        Network::Host => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => c.config.hostname.clone(),
    }
}

/// The network a new container joins and its settings, checked before
/// anything is made: bridge-only flags need a bridge network. The simulated
/// host has its own bridges (`kernel::sim::net`), so the same rules hold there.
fn network_settings(
    root: &Path,
    image: &Image,
    opts: &RunOptions,
    simulated: bool,
) -> Result<(Network, super::network::NetConfig)> {
    use crate::network::DEFAULT_NETWORK;
    let mut net = opts.net.clone();
    if opts.publish_all {
        let exposed = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default();
        net.publish
            .extend(crate::network::ports::exposed(&exposed)?);
    }
    let network = match &opts.network {
        Network::Default => Network::parse_recorded(&super::network::default_network(root)),
        other => other.clone(),
    };
    let gateway = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    for h in &net.add_hosts {
        crate::network::hosts::parse_add_host(h, gateway)?;
    }
    if let Network::Container(key) = &network {
        return Ok((shared_network(root, key, opts, &net)?, net));
    }
    match &network {
        Network::Bridge(name) => {
            if name != DEFAULT_NETWORK {
                crate::network::Networks::lock(root)?.get(name)?;
            } else if !net.aliases.is_empty() {
                crate::exit_err!(EXIT_ENGINE, "network-scoped aliases are supported only for containers in user-defined networks (create one with `glassbox network create NAME`)");
            } else if net.ip.is_some() {
                crate::exit_err!(
                    EXIT_ENGINE,
                    "user specified IP address is supported on user defined networks only"
                );
            }
            super::network::check_ports_free(root, &net.publish, simulated)?;
        }
        _ => {
            if !net.publish.is_empty() {
                eprintln!(
                    "WARNING: Published ports are discarded when using {} network mode",
                    network.recorded()
                );
                net.publish.clear();
            }
            if net.ip.is_some() || !net.aliases.is_empty() || !net.links.is_empty() {
                crate::exit_err!(
                    EXIT_ENGINE,
                    "--ip, --network-alias and --link need a bridge network, not --network {}",
                    network.recorded()
                );
            }
        }
    }
    Ok((network, net))
}

/// What `--userns=auto` cannot be combined with, refused before anything is made.
fn check_userns(
    root: &Path,
    simulated: bool,
    opts: &RunOptions,
    security: &crate::confine::Security,
) -> Result<()> {
    if opts.userns == UsernsMode::Host {
        return Ok(());
    }
    if security.privileged {
        // docker's words for the same refusal.
        crate::exit_err!(EXIT_ENGINE, "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode (--userns=host)");
    }
    if opts.network == Network::Host {
        crate::exit_err!(EXIT_ENGINE, "--network host cannot be combined with --userns=auto: the host's network namespace belongs to the host's user namespace, where the container's root has no rights; use --userns=host or another network");
    }
    if let Network::Container(_) = opts.network {
        crate::exit_err!(EXIT_ENGINE, "--network container: cannot be combined with --userns=auto: that network namespace belongs to the host's user namespace, where the container's root has no rights; use --userns=host");
    }
    if !security.devices.is_empty() {
        crate::exit_err!(EXIT_ENGINE, "--device cannot be combined with --userns=auto yet: a user namespace may not make device nodes, and glassbox does not bind them in its place; use --userns=host");
    }
    if !simulated {
        // Where its directory will be (start checks again: the store may change).
        std::fs::create_dir_all(root.join("containers"))?;
        searchable_by_others(&root.join("containers").join("new"))?;
    }
    Ok(())
}

/// `--network container:KEY`: the container it names (recorded by full id),
/// and docker's refusals of what only a container's own network allows.
fn shared_network(
    root: &Path,
    key: &str,
    opts: &RunOptions,
    net: &super::network::NetConfig,
) -> Result<Network> {
    let conflict = if opts.hostname.is_some() {
        Some("conflicting options: hostname and the network mode")
    } else if !net.publish.is_empty() || opts.publish_all {
        Some("conflicting options: port publishing and the container type network mode")
    } else if !net.dns.is_empty() || !net.dns_search.is_empty() || !net.dns_options.is_empty() {
        Some("conflicting options: dns and the network mode")
    } else if !net.add_hosts.is_empty() {
        Some("conflicting options: custom host-to-IP mapping and the network mode")
    } else if !net.links.is_empty() {
        Some("conflicting options: container type network can't be used with links. This would result in undefined behavior")
    } else if net.ip.is_some() || !net.aliases.is_empty() {
        Some("conflicting options: --ip and --network-alias need a network of the container's own, not the network mode container:")
    } else {
        None
    };
    if let Some(message) = conflict {
        crate::exit_err!(EXIT_ENGINE, "{message}");
    }
    if key.is_empty() {
        crate::exit_err!(
            EXIT_ENGINE,
            "--network container: needs a container's name or id (container:NAME)"
        );
    }
    let target = container::find(root, key).map_err(|_| {
        engine_error(format!(
            "No such container: {key} (--network container:{key} needs an existing container)"
        ))
    })?;
    if target.config.network.starts_with("container:") {
        // Follow the chain to the namespace's owner, as docker does.
        return Ok(Network::parse_recorded(&target.config.network));
    }
    Ok(Network::Container(target.id))
}

/// The container whose network a `container:` one shares, running (its
/// first process's PID owns the namespace).
fn network_owner(root: &Path, id: &str) -> Result<Container> {
    let owner = container::load_fresh(root, id).map_err(|_| {
        engine_error(format!(
            "cannot join network of a non running container: {id} (it was removed)"
        ))
    })?;
    if !owner.is_running() {
        crate::exit_err!(
            EXIT_ENGINE,
            "cannot join network of a non running container: {} (start it first)",
            owner.name
        );
    }
    Ok(owner)
}

/// `--network container:`: the child first joins the owner's network
/// namespace (its `lo` is up already), and binds the owner's /etc/hosts,
/// resolv.conf and hostname files, as docker shares them.
fn share_network(steps: &mut Vec<Step>, root: &Path, owner: &Container) {
    steps.retain(|s| !matches!(s, Step::LinkUp { .. }));
    let owner_dir = owner.dir(root);
    for s in steps.iter_mut() {
        if let Step::MountBind { source, target, .. } = s {
            let etc_file = target
                .parent()
                .is_some_and(|p| p.ends_with("etc"))
                .then(|| target.file_name())
                .flatten()
                .filter(|f| ["hostname", "hosts", "resolv.conf"].iter().any(|n| f == n));
            if let Some(name) = etc_file {
                *source = owner_dir.join(name);
            }
        }
    }
    steps.insert(
        0,
        Step::SetNs {
            pid: owner.state.pid,
            namespaces: vec![Namespace::Net],
        },
    );
}

/// Make a container (record and directories) without starting it.
pub fn create(
    root: &Path,
    kernel: &dyn Kernel,
    observer: &mut dyn StepObserver,
    opts: &RunOptions,
) -> Result<Container> {
    super::validate::run_options(opts)?;
    let store = Store::open(root)?;
    let image = resolve_image(&store, &opts.image, kernel.is_simulated(), observer)?;
    if let Some(name) = &opts.name {
        if !names::is_valid_name(name) {
            crate::exit_err!(
                EXIT_ENGINE,
                "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            );
        }
    }
    let restart = RestartPolicy::parse(&opts.restart)?;
    if restart != RestartPolicy::No && opts.rm {
        crate::exit_err!(EXIT_ENGINE, "Conflicting options: --restart and --rm");
    }
    let security = opts.security.clone().prepare()?;
    check_userns(root, kernel.is_simulated(), opts, &security)?;
    let simulated = kernel.is_simulated();
    let limits = crate::resources::apply_flags(
        &opts.resources,
        &crate::resources::Resources::default(),
        &kernel.host_resources(),
        false,
    )?;
    for w in limits
        .warnings
        .iter()
        .chain(&rlimits(kernel, &limits.resources).1)
    {
        eprintln!("WARNING: {w}");
    }
    let mounts = super::volumes::resolve(root, &image, &opts.mounts)?;
    let (network, net) = network_settings(root, &image, opts, simulated)?;
    // docker gives a container that shares another's network its hostname.
    let shared_hostname = match &network {
        Network::Container(id) => Container::load(root, id).ok().map(|o| o.config.hostname),
        _ => None,
    };
    let argv = command_line(&image, opts);
    if argv.is_empty() {
        crate::exit_err!(EXIT_ENGINE, "No command specified: the image {} has no Cmd or Entrypoint; give one after the image name", opts.image);
    }
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| {
            image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.working_dir().clone())
        })
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let announce = |c: &Container| -> Result<()> {
        let step = Step::RecordCreate {
            dir: c.dir(root),
            record: c.record_file(root),
            json: serde_json::to_string(c)?,
        };
        if observer.before(&step)? == Go::Abort {
            crate::exit_err!(
                EXIT_ENGINE,
                "aborted before step record_create; no container was created"
            );
        }
        Ok(())
    };
    // The volumes it names stay put while its record is written: a `volume
    // rm` either sees the record or was done before (volume::lock).
    let volume_locks = crate::volume::lock::shared_all(
        root,
        mounts
            .iter()
            .filter(|m| m.kind == crate::volume::MountKind::Volume)
            .map(|m| m.name.as_str()),
    )?;
    let c = Container::register(root, announce, |n, existing| {
        let id = if simulated {
            crate::fsutil::sha256_hex(format!("glassbox-simulated-container-{n}").as_bytes())
        } else {
            hex::encode(rand::random::<[u8; 32]>())
        };
        let name = opts.name.clone().unwrap_or_else(|| {
            if simulated {
                names::name_for(n)
            } else {
                names::random_name()
            }
        });
        let hostname = opts
            .hostname
            .clone()
            .or_else(|| shared_hostname.clone())
            .unwrap_or_else(|| id[..12].to_string());
        let created = kernel.now();
        let seen_hostname = match network {
            Network::Host => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => hostname.clone(),
        };
        Ok(Container {
            id,
            name,
            image: opts.image.clone(),
            image_id: image.id.clone(),
            created,
            command: argv.clone(),
            config: Config {
                hostname,
                env: environment(&image, opts, &seen_hostname),
                working_dir: cwd.clone(),
                tty: opts.tty,
                interactive: opts.interactive,
                network: network.recorded(),
                net: net.clone(),
                auto_remove: opts.rm,
                restart_policy: restart.name_and_count().0.to_string()
                    + &match restart {
                        RestartPolicy::OnFailure(n) if n > 0 => format!(":{n}"),
                        _ => String::new(),
                    },
                security: crate::confine::Security {
                    userns: match opts.userns {
                        UsernsMode::Host => None,
                        UsernsMode::Auto => Some(
                            userns::allocate(
                                &existing
                                    .iter()
                                    .filter_map(|o| o.config.security.userns.clone())
                                    .collect::<Vec<_>>(),
                            )
                            .map_err(engine_error)?,
                        ),
                    },
                    ..security.clone()
                },
                resources: limits.resources.clone(),
                mounts: mounts.clone(),
                user: opts
                    .user
                    .clone()
                    .filter(|u| !u.is_empty())
                    .or_else(|| {
                        image
                            .config
                            .config()
                            .as_ref()
                            .and_then(|c| c.user().clone())
                    })
                    .unwrap_or_default(),
                binds: super::volumes::binds(&opts.mounts),
                volumes: super::volumes::config_volumes(&image, &opts.mounts),
            },
            state: State {
                status: Status::Created,
                pid: 0,
                pid_start: 0,
                started_at: None,
                finished_at: None,
                exit_code: None,
                error: None,
                monitor_pid: 0,
                monitor_start: 0,
                restart_count: 0,
                manually_stopped: false,
                oom_killed: false,
                paused: false,
            },
            simulated,
        })
    })?;
    drop(volume_locks);
    // Its lock while its files are made: an `rm -f` that came first makes
    // this `No such container`; one that comes later waits for a whole
    // container (never removes the directory under make_files).
    let lock = ContainerLock::take(root, &c)?;
    if let Err(e) =
        make_files(root, observer, &c).and_then(|_| super::volumes::prepare(root, observer, &c))
    {
        let _ = c.remove_files(root);
        let _ = super::volumes::remove_anonymous(root, &mut crate::kernel::Silent, &c);
        return Err(e);
    }
    drop(lock);
    container::events::record(root, "create", &c, &[]);
    Ok(c)
}

/// The rest of `create`: the overlay directories and the /etc files, in the
/// directory `Container::register` made (and nothing else ever re-creates).
fn make_files(root: &Path, observer: &mut dyn StepObserver, c: &Container) -> Result<()> {
    let dir = c.dir(root);
    let dirs: Vec<PathBuf> = ["upper", "work", "merged"]
        .iter()
        .map(|sub| dir.join(sub))
        .collect();
    let aborted = |kind: &str| -> anyhow::Error {
        engine_error(format!(
            "aborted before step {kind}; container {} was rolled back",
            c.short_id()
        ))
    };
    let step = Step::DirCreate { dirs: dirs.clone() };
    let made = super::store_step(observer, &step, || {
        for d in &dirs {
            std::fs::create_dir(d).with_context(|| format!("create {}", d.display()))?;
        }
        Ok(())
    })?;
    if made == Go::Abort {
        return Err(aborted(step.kind()));
    }
    let network = Network::parse_recorded(&c.config.network);
    let hostname = effective_hostname(c);
    let mut hosts = hosts_text(&hostname, &network);
    // The simulated host's files are no host file: the step says their text.
    let simulated = crate::clock::is_simulated();
    if simulated && hosts.is_none() {
        hosts = Some(SIM_HOST_HOSTS.to_string());
    }
    let n = &c.config.net;
    let resolv = if n.dns.is_empty() && n.dns_search.is_empty() && n.dns_options.is_empty() {
        simulated.then(|| resolv_text(SIM_HOST_RESOLV))
    } else {
        // The simulated host's resolv.conf, never the real one.
        let host = if simulated {
            resolv_text(SIM_HOST_RESOLV)
        } else {
            resolv_text(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
        };
        Some(crate::network::hosts::resolv(
            &host,
            &n.dns,
            &n.dns_search,
            &n.dns_options,
        ))
    };
    let step = Step::EtcWrite {
        dir: dir.clone(),
        hostname: hostname.clone(),
        hosts: hosts.clone(),
        resolv: resolv.clone(),
    };
    if super::store_step(observer, &step, || {
        write_etc_files(&dir, &hostname, &hosts, resolv.as_deref())
    })? == Go::Abort
    {
        return Err(aborted(step.kind()));
    }
    Ok(())
}

/// How `start` runs the container.
#[derive(Default)]
pub struct StartOptions<'a> {
    /// Log mode: the container's output goes to its json-file log (a monitor runs it).
    pub detached: bool,
    /// The container was created by this same command (`run`): an abort in
    /// step-through rolls it back entirely.
    pub fresh: bool,
    /// Whether to connect stdin this time (`start -a` without `-i` does not),
    /// instead of the container's recorded `-i`.
    pub stdin: Option<bool>,
    /// Called once the container's program runs (after exec), before waiting for it.
    pub on_running: Option<&'a mut dyn FnMut(&Container)>,
    /// Log mode: read no output until the first attach client is there (a
    /// foreground `run -it` served by a monitor).
    pub attach_wait: bool,
    /// Apply the container's restart policy when it exits (its monitor does):
    /// the record then says `restarting` instead of `exited`.
    pub restart_policy: bool,
    /// This start is a restart under the policy (not the user's): it gives
    /// way to a `stop` that came while it was being set up.
    pub policy_restart: bool,
    /// The program's output goes nowhere (`build -q`'s RUN steps).
    pub discard_output: bool,
    /// A monitor's exit command (`glassbox __monitor-exited ...`): once the
    /// container runs, the monitor hands it over to glassbox-monitor, which
    /// runs this when it has ended. None: this process waits for it.
    pub exit_command: Option<Vec<String>>,
}

/// Run a container in the foreground; returns its exit status.
pub fn run(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    opts: &RunOptions,
) -> Result<i32> {
    kernel.warm_cgroup_migration();
    let c = create(root, kernel, observer, opts)?;
    start(
        root,
        kernel,
        observer,
        c,
        StartOptions {
            fresh: true,
            ..Default::default()
        },
    )
}

/// Start a created or exited container and wait for it; returns its exit status.
pub fn start(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    mut c: Container,
    mut so: StartOptions,
) -> Result<i32> {
    // The container's lock, held while it is set up (not while it runs), so
    // an `rm -f` either comes first (and this start finds no container) or
    // after it runs (and kills it): never half-way.
    let lock = ContainerLock::take(root, &c)?;
    c = container::load_fresh(root, &c.id).map_err(|_| container::gone(&c.name))?;
    if c.state.status == Status::Removing {
        return Err(container::gone(&c.name));
    }
    if c.state.status == Status::Running && !c.is_running() && c.monitor_alive() {
        // Its process just ended and its supervisor is recording that: let it
        // finish, or it would write "exited" over this new start.
        c = super::lifecycle::wait_recorded(root, &c.id, Some(std::time::Duration::from_secs(10)))?;
    }
    if c.is_running() {
        crate::exit_err!(EXIT_ENGINE, "container {} is already running", c.name);
    }
    let store = Store::open(root)?;
    let image = store.image_for_container(&c.image_id)?.ok_or_else(|| {
        engine_error(format!(
            "the image of container {} ({}, {}) is no longer in the store",
            c.name, c.image, c.image_id
        ))
    })?;
    let previous = c.state.clone();
    c.state.error = None;
    let mut started = Started {
        container: c,
        lock: Some(lock),
        cgroups: vec![],
        cgroup_made: false,
        cloned: false,
        previous,
        net: None,
        net_tried: false,
    };
    let result = start_container(
        root,
        &store,
        &image,
        kernel,
        observer,
        &mut so,
        &mut started,
    );
    finish(
        root,
        kernel,
        observer,
        so.fresh,
        so.restart_policy,
        started,
        result,
    )
}

/// What has been made so far, so a failure can undo exactly that.
struct Started {
    container: Container,
    /// The container's lock, released once its program runs.
    lock: Option<ContainerLock>,
    cgroups: Vec<PathBuf>,
    cgroup_made: bool,
    cloned: bool,
    /// The state before this start, restored when step-through aborts it.
    previous: State,
    /// Wired to a bridge network (its sockets hold the published ports).
    net: Option<super::network::Attached>,
    /// `connect` was tried: `finish` undoes whatever of it was done.
    net_tried: bool,
}

/// How the run ended before clean-up.
enum Outcome {
    Exited(i32),
    Failed {
        code: i32,
        message: String,
    },
    Aborted(&'static str),
    /// `rm -f` removed the container while it was being started.
    Gone,
    /// The simulated host keeps the program running after this command
    /// (`run -d` in simulation): its record says running, its cgroup stays,
    /// and a later command settles its end (`kernel::sim::host::settle`).
    LeftRunning,
}

fn start_container(
    root: &Path,
    store: &Store,
    image: &Image,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    so: &mut StartOptions,
    started: &mut Started,
) -> Result<Outcome> {
    let c = &mut started.container;
    let dir = c.dir(root);
    // `create` made the directory and its files; a start never re-creates
    // them (the container's lock and record say it still exists).
    let network = Network::parse_recorded(&c.config.network);
    let hostname = effective_hostname(c);
    let owner = match &network {
        Network::Container(id) => Some(network_owner(root, id)?),
        _ => None,
    };

    started.cgroups = kernel.cgroup_setup().paths_for(&c.id);
    if apply_step(
        kernel,
        observer,
        &Step::CgroupCreate {
            paths: started.cgroups.clone(),
        },
    )? == Go::Abort
    {
        return Ok(Outcome::Aborted("cgroup_create"));
    }
    started.cgroup_made = true;
    let conf = c.config.security.confinement()?;
    let devices = device_cgroup_step(kernel, &started.cgroups, &conf);
    if apply_step(kernel, observer, &devices)? == Go::Abort {
        return Ok(Outcome::Aborted("device_cgroup"));
    }
    let seccomp = seccomp_step(root, &conf)?;
    let res = c.config.resources.clone();
    for step in crate::resources::files::limit_steps(
        &crate::resources::files::set_groups(&res),
        &res,
        None,
        kernel.cgroup_setup(),
        &started.cgroups,
        kernel.is_simulated(),
    )? {
        if apply_step(kernel, observer, &step)? == Go::Abort {
            return Ok(Outcome::Aborted("cgroup_limit"));
        }
    }
    let mut pre_exec = Vec::new();
    if !res.ulimits.is_empty() {
        pre_exec.push(Step::SetRlimits {
            limits: rlimits(kernel, &res).0,
        });
    }
    if res.oom_score_adj != 0 {
        pre_exec.push(Step::OomScoreAdj {
            value: res.oom_score_adj,
        });
    }

    let lower: Vec<PathBuf> = if kernel.is_simulated() {
        image
            .layers
            .iter()
            .map(|l| layer_dir_path(root, &l.chain_id))
            .collect()
    } else {
        store.layer_dirs(image)?
    };
    if let Some(map) = &conf.userns {
        let (uid, gid) = map.root();
        if !kernel.is_simulated() {
            searchable_by_others(&dir)?;
        }
        let chown = Step::Chown {
            paths: ["upper", "work", "hostname", "hosts", "resolv.conf"]
                .iter()
                .map(|f| dir.join(f))
                .collect(),
            uid,
            gid,
        };
        if apply_step(kernel, observer, &chown)? == Go::Abort {
            return Ok(Outcome::Aborted("chown"));
        }
    }
    let console = if c.config.tty {
        kernel.prepare_terminal()?
    } else {
        None
    };
    let volumes = super::volumes::start_steps(root, observer, c, &dir.join("merged"))?;
    // The program's user (`-u`, else the image's USER), from the container's passwd.
    let user = super::user::resolve(root, store, image, c, &c.config.user)?;
    let mut env = c.config.env.clone();
    if let Some(home) = user.as_ref().and_then(|(_, h)| h.clone()) {
        let image_home = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.env().clone())
            .is_some_and(|e| e.iter().any(|e| e.starts_with("HOME=")));
        if !image_home {
            for e in env.iter_mut().filter(|e| *e == "HOME=/root") {
                *e = format!("HOME={home}");
            }
        }
    }
    let mut steps = child_steps(
        lower.clone(),
        &dir,
        console,
        &hostname,
        c.config.tty,
        &network,
        c.command.clone(),
        env,
        c.config.working_dir.clone(),
        &conf,
        seccomp,
        pre_exec,
        volumes,
        user.map(|(u, _)| u),
    );
    if let Some(owner) = &owner {
        share_network(&mut steps, root, owner);
    }
    let mut namespaces = vec![
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Pid,
        Namespace::Net,
    ];
    if owner.is_some() {
        namespaces.retain(|n| *n != Namespace::Net);
    }
    if network == Network::Host {
        namespaces.retain(|n| !matches!(n, Namespace::Net | Namespace::Uts));
    }
    if conf.userns.is_some() {
        // First: the other new namespaces then belong to it.
        namespaces.insert(0, Namespace::User);
    }
    if so.detached {
        // The monitor's own work (done by `clone_child` in log mode): shown and
        // traced, never part of a foreground run's plan.
        let pipe = Step::LogPipe {
            log: c.log_path(root),
            tty: c.config.tty,
        };
        if apply_step(kernel, observer, &pipe)? == Go::Abort {
            return Ok(Outcome::Aborted("log_pipe"));
        }
    }
    let clone = Step::Clone { namespaces };
    if observer.before(&clone)? == Go::Abort {
        return Ok(Outcome::Aborted("clone"));
    }
    let spec = ChildSpec {
        steps,
        stdio: Stdio {
            tty: c.config.tty,
            interactive: so.stdin.unwrap_or(c.config.interactive),
            log: so.detached.then(|| c.log_path(root)),
            attach: so
                .detached
                .then(|| crate::container::attach::socket_path(&dir)),
            attach_wait: so.attach_wait,
            discard_output: so.discard_output,
        },
        report_each: observer.wants_reports(),
        layers: image.layers.clone(),
        store_root: root.to_path_buf(),
    };
    let pid = kernel.clone_child(&clone, spec)?;
    started.cloned = true;
    crate::kernel::offer_look(kernel, observer, &clone);
    let simulated = kernel.is_simulated();
    c.state.status = Status::Running;
    c.state.pid = pid;
    c.state.pid_start = if simulated {
        0
    } else {
        container::proc_start_time(pid).unwrap_or(0)
    };
    if !simulated {
        let me = std::process::id() as i32;
        c.state.monitor_pid = me;
        c.state.monitor_start = container::proc_start_time(me).unwrap_or(0);
    }
    c.state.manually_stopped = false;
    c.state.started_at = Some(kernel.now());
    let mut stopped_meanwhile = None;
    {
        let _lock = crate::fsutil::StoreLock::exclusive(root)?;
        let Ok(disk) = Container::load(root, &c.id) else {
            return Err(container::gone(&c.name));
        };
        c.name = disk.name; // renamed meanwhile
        c.state.restart_count = disk.state.restart_count;
        // A policy restart that a user's `stop` overtook: do not run it.
        if so.policy_restart && disk.state.manually_stopped {
            stopped_meanwhile = Some(disk.state);
        }
        if stopped_meanwhile.is_none() {
            c.save_locked(root)?;
        }
    }
    if let Some(state) = stopped_meanwhile {
        started.previous = state;
        return Ok(Outcome::Aborted("exec"));
    }

    if let Some(map) = &conf.userns {
        let userns_steps = [
            Step::UsernsMap {
                pid,
                map: map.clone(),
            },
            Step::IdmapLayers {
                pid,
                layers: lower.clone(),
                targets: idmapped_targets(&dir, lower.len()),
                map: map.clone(),
            },
        ];
        for step in &userns_steps {
            if apply_step(kernel, observer, step)? == Go::Abort {
                return Ok(Outcome::Aborted(step.kind()));
            }
        }
    }
    if apply_step(
        kernel,
        observer,
        &Step::CgroupJoin {
            paths: started.cgroups.clone(),
            pid,
        },
    )? == Go::Abort
    {
        return Ok(Outcome::Aborted("cgroup_join"));
    }
    if let Network::Bridge(_) = &network {
        started.net_tried = true;
        let attached = super::network::connect(root, kernel, observer, &started.container, pid)?;
        started.net = Some(attached);
    }
    let c = &mut started.container;
    match kernel.start_child(observer)? {
        // Ctrl-C during set-up (see narrate::catch_interrupt): roll back rather
        // than start a program the user already asked to stop.
        Ok(()) if crate::narrate::interrupted() => return Ok(Outcome::Aborted("exec")),
        Ok(()) => {}
        Err(f) if f.message == "aborted" => return Ok(Outcome::Aborted(f.kind)),
        Err(f) => {
            return Ok(Outcome::Failed {
                code: f.code,
                message: format!("{} (in step {})", f.message, f.kind),
            })
        }
    }
    container::events::record(root, "start", c, &[]);
    let mut hand_over = None;
    if let (true, Some(exit)) = (so.detached, so.exit_command.take()) {
        // The simulated monitor takes the same step (its host keeps the
        // program); the real one needs glassbox-monitor beside glassbox.
        let program = if simulated {
            Some(PathBuf::from(
                crate::kernel::linux::handover::MONITOR_PROGRAM,
            ))
        } else {
            crate::kernel::linux::handover::monitor_program()
        };
        if let Some(program) = program {
            let step = Step::MonitorExec {
                container: c.id.clone(),
                pid,
            };
            if apply_step(kernel, observer, &step)? == Go::Abort {
                return Ok(Outcome::Aborted("monitor_exec"));
            }
            hand_over = Some((program, exit));
        }
    }
    if so.detached {
        let wait = Step::Wait {
            pid,
            record: dir.join("container.json"),
        };
        if apply_step(kernel, observer, &wait)? == Go::Abort {
            return Ok(Outcome::Aborted("wait"));
        }
    }
    // It runs: lifecycle commands on it may proceed (a monitor must not hold
    // the lock for the container's whole life).
    started.lock = None;
    if let Some(notify) = so.on_running.as_mut() {
        notify(&started.container);
    }
    if kernel.left_running() {
        return Ok(Outcome::LeftRunning);
    }
    if let Some((program, mut exit)) = hand_over {
        // The exit command carries the narrator's trace and the sockets
        // holding the published ports; the bridge flag says to disconnect.
        let (carry, mut keep) = observer.exec_carry();
        exit.extend(carry);
        if started.net_tried {
            exit.push("--bridge".into());
        }
        let ports = started
            .net
            .as_ref()
            .map(|n| n.raw_fds())
            .unwrap_or_default();
        for fd in &ports {
            exit.extend(["--port-fd".to_string(), fd.to_string()]);
        }
        keep.extend(ports);
        // Returns only if the exec failed: then this process serves it.
        let _ = kernel.hand_over(&program, &exit, &keep);
    }
    Ok(Outcome::Exited(kernel.wait_child()?))
}

/// The end of a run whose monitor handed over (`linux::handover`): the
/// exit command, run once glassbox-monitor has seen process end with
/// `status`, records it and cleans up as `finish` does for a monitor that
/// waited itself. `bridge`: the container was wired to a bridge network;
/// `ports`: the sockets holding its published ports, passed down the execs.
pub(crate) fn finish_handed_over(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    id: &str,
    status: i32,
    bridge: bool,
    ports: Vec<std::os::fd::OwnedFd>,
) -> Result<i32> {
    let cgroups = kernel.cgroup_setup().paths_for(id);
    let net = Some(super::network::Attached::handed_over(ports));
    let Ok(c) = Container::load(root, id) else {
        // Removed meanwhile (`rm -f`): release what the run held, as
        // `finish` does before it finds the record gone.
        release(
            root,
            kernel,
            observer,
            id,
            Some(&cgroups),
            true,
            bridge,
            net,
        )?;
        return Ok(status);
    };
    // Only the monitor, once glassbox-monitor has reaped the process, may
    // record its end (a hand-typed call must not mark a live one exited).
    if c.process_alive() {
        crate::exit_err!(
            EXIT_ENGINE,
            "container {}'s process {} still runs: {} is run by glassbox-monitor once it has ended",
            c.short_id(),
            c.state.pid,
            super::monitor::EXIT_COMMAND
        );
    }
    let started = Started {
        previous: c.state.clone(),
        container: c,
        lock: None,
        cgroups,
        cgroup_made: true,
        cloned: true,
        net,
        net_tried: bridge,
    };
    finish(
        root,
        kernel,
        observer,
        false,
        true,
        started,
        Ok(Outcome::Exited(status)),
    )
}

/// Release what a run held once its process has ended: its network (port
/// rules, veth, address; then the sockets holding its ports, with `net`)
/// and its cgroup (None: none was made). Returns whether the OOM killer
/// struck in the cgroup.
#[allow(clippy::too_many_arguments)]
fn release(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    id: &str,
    cgroups: Option<&[PathBuf]>,
    cloned: bool,
    net_tried: bool,
    net: Option<super::network::Attached>,
) -> Result<bool> {
    if net_tried {
        // Its port rules, veth end and address go before anything else can
        // take them; the sockets holding its ports close after.
        if let Err(e) = super::network::disconnect(root, kernel, observer, id) {
            eprintln!(
                "glassbox: network clean-up of {}: {e:#}",
                &id[..12.min(id.len())]
            );
        }
    }
    drop(net);
    let Some(cgroups) = cgroups else {
        return Ok(false);
    };
    let oom_killed = cloned && kernel.oom_kills(cgroups) > 0;
    if oom_killed {
        // Which counter said so (the real kernel's file, or the simulated one's).
        if let Some((counter, kills)) = kernel.oom_counter(cgroups) {
            let _ = observer.before(&Step::OomKilled { counter, kills });
        }
    }
    let remove = Step::CgroupRemove {
        paths: cgroups.to_vec(),
    };
    // Clean-up is shown but never paused on: an abort must still roll back.
    let _ = observer.before(&remove);
    kernel.apply(&remove)?;
    crate::kernel::offer_look(kernel, observer, &remove);
    Ok(oom_killed)
}

/// Clean up after the container, whatever happened: kill a half-started
/// child, remove the cgroup, and record the end (or remove everything for
/// --rm and aborted runs). Returns the exit status or the error to show.
fn finish(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    fresh: bool,
    restart_policy: bool,
    started: Started,
    result: Result<Outcome>,
) -> Result<i32> {
    let outcome = result.unwrap_or_else(|e| {
        if container::is_gone(&e) {
            Outcome::Gone
        } else {
            Outcome::Failed {
                code: crate::error::exit_code_of(&e),
                message: format!("{e:#}"),
            }
        }
    });
    if matches!(outcome, Outcome::LeftRunning) {
        return Ok(0);
    }
    if !matches!(outcome, Outcome::Exited(_)) && started.cloned {
        kernel.kill_child();
    }
    let oom_killed = release(
        root,
        kernel,
        observer,
        &started.container.id,
        started.cgroup_made.then_some(&started.cgroups[..]),
        started.cloned,
        started.net_tried,
        started.net,
    )?;
    if oom_killed {
        container::events::record(root, "oom", &started.container, &[]);
    }
    let mut c = started.container;
    if matches!(outcome, Outcome::Gone) {
        // Removed under us: what we started is killed and its cgroup gone;
        // the record and directory are not ours to bring back.
        return Err(container::gone(&c.name));
    }
    let aborted = matches!(outcome, Outcome::Aborted(_));
    let remove_all = c.config.auto_remove || (aborted && fresh);
    let mut removed = false;
    // The "die" event, written before the exit is recorded (so before a
    // waiting `stop` writes its own), with the name as it is now.
    let mut die = match &outcome {
        Outcome::Exited(code) | Outcome::Failed { code, .. } if started.cloned => Some(*code),
        _ => None,
    };
    {
        let _lock = crate::fsutil::StoreLock::exclusive(root)?;
        let disk = Container::load(root, &c.id).ok();
        // Absent when `rm -f` removed it meanwhile, `removing` while it does:
        // leave it to `rm`, and never bring it back.
        let removing = disk
            .as_ref()
            .is_none_or(|d| d.state.status == Status::Removing);
        if remove_all && !removing {
            c.remove_files(root)?;
            removed = true;
        } else if let Some(disk) = disk.filter(|_| !removing) {
            // What users changed while it ran (rename, stop) is kept.
            c.name = disk.name;
            if let Some(code) = die.take() {
                container::events::record(root, "die", &c, &[("exitCode", code.to_string())]);
            }
            c.state.manually_stopped = disk.state.manually_stopped;
            c.state.restart_count = disk.state.restart_count;
            // `update` may have changed these while it ran.
            c.config.restart_policy = disk.config.restart_policy.clone();
            c.config.resources = disk.config.resources.clone();
            // ... and `network connect`/`disconnect` its networks.
            c.config.network = disk.config.network.clone();
            c.config.net = disk.config.net.clone();
            c.state.paused = false;
            if aborted {
                c.state = started.previous;
            } else {
                c.state.status = Status::Exited;
                c.state.pid = 0;
                c.state.finished_at = Some(kernel.now());
            }
            if !aborted {
                c.state.oom_killed = oom_killed;
            }
            match &outcome {
                Outcome::Exited(code) => c.state.exit_code = Some(*code),
                Outcome::Failed { code, message } => {
                    c.state.exit_code = Some(*code);
                    c.state.error = Some(message.clone());
                }
                Outcome::Aborted(_) | Outcome::Gone | Outcome::LeftRunning => {}
            }
            // The restart policy, decided under the lock, so a `stop` or
            // `restart` racing with the exit is never undone.
            if let (true, Outcome::Exited(code) | Outcome::Failed { code, .. }) =
                (restart_policy, &outcome)
            {
                let policy =
                    RestartPolicy::parse(&c.config.restart_policy).unwrap_or(RestartPolicy::No);
                if !c.state.manually_stopped && policy.restarts(*code, c.state.restart_count) {
                    c.state.status = Status::Restarting;
                }
            }
            match c.save_locked(root) {
                Err(e) if !container::is_gone(&e) => return Err(e),
                _ => {}
            }
        }
    }
    if let Some(code) = die.take() {
        container::events::record(root, "die", &c, &[("exitCode", code.to_string())]);
    }
    if removed {
        // --rm (and a rolled-back run) take the container's anonymous
        // volumes with it, as docker's --rm does; named ones stay.
        super::volumes::remove_anonymous(root, observer, &c)?;
    }
    match outcome {
        Outcome::Exited(code) => Ok(code),
        Outcome::LeftRunning => Ok(0),
        Outcome::Gone => Err(container::gone(&c.name)),
        Outcome::Failed { code, message } => Err(anyhow::Error::new(ExitError::new(
            code,
            format!("error starting container {}: {message}", c.short_id()),
        ))),
        Outcome::Aborted(kind) => Err(anyhow::Error::new(ExitError::new(
            EXIT_ENGINE,
            if fresh {
                format!(
                    "aborted before step {kind}; container {} was rolled back",
                    c.short_id()
                )
            } else {
                format!(
                    "aborted before step {kind}; container {} was not started",
                    c.short_id()
                )
            },
        ))),
    }
}

#[cfg(test)]
mod restart_tests {
    use super::RestartPolicy;

    #[test]
    fn restart_policies_parse_and_decide_like_dockers() {
        assert_eq!(RestartPolicy::parse("").unwrap(), RestartPolicy::No);
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("always").unwrap(),
            RestartPolicy::Always
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            RestartPolicy::OnFailure(0)
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:2").unwrap(),
            RestartPolicy::OnFailure(2)
        );
        for bad in ["sometimes", "always:1", "on-failure:-1", "on-failure:x"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
        let two = RestartPolicy::OnFailure(2);
        assert!(two.restarts(1, 0) && two.restarts(1, 1) && !two.restarts(1, 2));
        assert!(!two.restarts(0, 0));
        assert!(RestartPolicy::OnFailure(0).restarts(1, 1000));
        assert!(RestartPolicy::Always.restarts(0, 5));
        assert!(!RestartPolicy::No.restarts(1, 0));
    }
}
