//! config.json → the step plan `glassbox run` uses: parent steps (cgroup,
//! device rules, limits), the clone with its namespaces, and the child's
//! steps (mounts, devices, pivot_root, masked paths, rlimits, confinement,
//! the exec fifo, exec). Nothing here touches the host.

use crate::confine::caps::{self, CapSet};
use crate::kernel::CgroupSetup;
use crate::step::{default_devices, ExecUser, IdMap, Namespace, Step};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// What `create` carries out, in order.
pub struct Plan {
    /// Before clone: cgroup_create, device_cgroup, cgroup_limit...
    pub parent: Vec<Step>,
    pub clone: Step,
    pub child: Vec<Step>,
    pub cgroups: Vec<PathBuf>,
    /// A new user namespace's id map: written by the parent right after
    /// the clone, before the child goes on.
    pub userns: Option<IdMap>,
    /// Whose root (new or joined user namespace) sets the container up, as
    /// that host id: None outside a user namespace.
    pub user_root: Option<IdMap>,
    /// Warnings for what config.json asks that glassbox-runtime does not do.
    pub warnings: Vec<String>,
}

/// config.json's uidMappings and gidMappings for a new user namespace, as
/// many ranges as given, uids and gids each their own (podman's several
/// `--uidmap`/`--gidmap`, containerd's user namespaces). Refused, naming the
/// entry: what the kernel would refuse (`IdRanges::check`), one list without
/// the other, and a map without container id 0, which runc refuses too
/// ("user namespaces enabled, but no mapping found for uid 0"): the
/// container is set up by that root.
pub fn id_map(linux: &oci_spec::runtime::Linux) -> Result<IdMap> {
    use crate::confine::userns::{IdRange, IdRanges};
    let ranges = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.as_ref().map(|v| {
            IdRanges(
                v.iter()
                    .map(|e| IdRange {
                        container: e.container_id(),
                        host: e.host_id(),
                        size: e.size(),
                    })
                    .collect(),
            )
        })
    };
    let (uids, gids) = (ranges(linux.uid_mappings()), ranges(linux.gid_mappings()));
    let given = |r: &Option<IdRanges>| r.as_ref().is_some_and(|r| !r.0.is_empty());
    let missing = match (given(&uids), given(&gids)) {
        (true, true) => None,
        (true, false) => Some("gidMappings is empty while uidMappings is given: give the groups' ranges too (containerID, hostID, size)"),
        (false, true) => Some("uidMappings is empty while gidMappings is given: give the users' ranges too (containerID, hostID, size)"),
        (false, false) => Some("a new user namespace needs linux.uidMappings and linux.gidMappings (containerID, hostID, size each), or join one by path"),
    };
    if let Some(msg) = missing {
        bail!(bad(msg.to_string()));
    }
    IdMap::new(uids.unwrap_or_default(), gids.unwrap_or_default())
        .map_err(|e| bad(format!("config.json: {e}")))
}

pub fn bad(msg: String) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(crate::error::EXIT_ENGINE, msg))
}

fn namespace_of(t: LinuxNamespaceType) -> Option<Namespace> {
    Some(match t {
        LinuxNamespaceType::Mount => Namespace::Mount,
        LinuxNamespaceType::Uts => Namespace::Uts,
        LinuxNamespaceType::Ipc => Namespace::Ipc,
        LinuxNamespaceType::Pid => Namespace::Pid,
        LinuxNamespaceType::Network => Namespace::Net,
        LinuxNamespaceType::User => Namespace::User,
        LinuxNamespaceType::Cgroup => Namespace::Cgroup,
        _ => return None,
    })
}

/// (new namespaces for clone, namespaces joined by path).
pub fn namespaces(spec: &Spec) -> Result<(Vec<Namespace>, Vec<(Namespace, PathBuf)>)> {
    let mut new = Vec::new();
    let mut joined = Vec::new();
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in list {
        let Some(kind) = namespace_of(ns.typ()) else {
            bail!(bad(format!(
                "namespace {:?} is not supported by glassbox-runtime; remove it from config.json",
                ns.typ()
            )));
        };
        match ns.path() {
            None => new.push(kind),
            Some(path) => {
                if kind == Namespace::Mount {
                    refuse_the_hosts_mount_namespace(path)?;
                }
                joined.push((kind, path.clone()));
            }
        }
    }
    if let Some((kind, path)) = joined.first().filter(|_| new.contains(&Namespace::User)) {
        // The process is in its new user namespace from the clone on; from
        // there the kernel refuses setns into one the host's owns.
        bail!(bad(format!(
            "joining the {} namespace at {} together with a new user namespace is not supported by glassbox-runtime (setns from inside the new user namespace is refused); drop the user namespace or the path",
            kind.proc_name(),
            path.display()
        )));
    }
    if !new.contains(&Namespace::Mount) && !joined.iter().any(|(k, _)| *k == Namespace::Mount) {
        bail!(bad(
            "config.json has no mount namespace: glassbox-runtime needs one (add {\"type\": \"mount\"} to linux.namespaces)".into()
        ));
    }
    Ok((new, joined))
}

/// A joined mount namespace is where the container's root is set up, as
/// runc does: its rootfs is bound and pivot_root'ed there, which also moves
/// the root of every process already in it whose root was the old one (a
/// pod's sandbox). In glassbox-runtime's own mount namespace (the host's,
/// under podman or containerd) that would be every process on the host:
/// refused, naming the path.
fn refuse_the_hosts_mount_namespace(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let joined = id(path).map_err(|e| bad(format!("mount namespace {}: {e}", path.display())))?;
    for own in ["/proc/self/ns/mnt", "/proc/1/ns/mnt"] {
        if id(Path::new(own)).is_ok_and(|o| o == joined) {
            bail!(bad(format!(
                "the mount namespace at {} is the host's ({own}): the container's pivot_root there would move the root of every process on the host; give no path to get a new mount namespace, or join a pod's own",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The container's cgroup directories: cgroupsPath under each hierarchy
/// (cgroupfs layout: podman's /libpod_parent/libpod-ID), or glassbox's own
/// place for the id when config.json gives none. A relative cgroupsPath is,
/// as runc has it, relative to the runtime's own cgroup in each hierarchy
/// (`self_cgroup`: the text of /proc/self/cgroup).
pub fn cgroup_paths(
    spec: &Spec,
    setup: &CgroupSetup,
    id: &str,
    self_cgroup: &str,
) -> Result<Vec<PathBuf>> {
    let given = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let Some(p) = given else {
        return Ok(setup.paths_for(id));
    };
    let text = p.display().to_string();
    if text.contains(':') {
        bail!(bad(format!(
            "cgroupsPath {text:?} is in systemd's slice:prefix:name form; glassbox-runtime manages cgroupfs paths only (use cgroup_manager = \"cgroupfs\" in containers.conf, or runc's --systemd-cgroup with runc)"
        )));
    }
    let rel = text.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        bail!(bad(format!("bad cgroupsPath {text:?}")));
    }
    let single = setup.hierarchies.len() == 1 && setup.mode.version() == 2;
    Ok(setup
        .hierarchies
        .iter()
        .map(|h| match text.starts_with('/') {
            true => h.join(rel),
            false => h
                .join(own_cgroup(h, single, self_cgroup).trim_start_matches('/'))
                .join(rel),
        })
        .collect())
}

/// The caller's cgroup in the hierarchy mounted at `mount` ("/" when
/// /proc/self/cgroup has no line for it): v1 lines name the hierarchy's
/// controllers (`4:memory:/user.slice`), v2's one line is `0::/path`.
fn own_cgroup<'a>(mount: &Path, single_v2: bool, self_cgroup: &'a str) -> &'a str {
    let name = mount
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    self_cgroup
        .lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let matches = if controllers.is_empty() {
                single_v2
            } else {
                controllers == name
                    || controllers.strip_prefix("name=") == Some(name.as_str())
                    || controllers.split(',').any(|c| c == name)
            };
            matches.then_some(path)
        })
        .unwrap_or("/")
}

/// config.json's limits in glassbox's (docker's) terms.
pub fn resources(r: &oci_spec::runtime::LinuxResources) -> crate::resources::Resources {
    let mut out = crate::resources::Resources::default();
    if let Some(m) = r.memory() {
        out.memory = m.limit().unwrap_or(0).max(0);
        out.memory_swap = m.swap().unwrap_or(0);
        out.memory_reservation = m.reservation().unwrap_or(0).max(0);
        out.oom_kill_disable = m.disable_oom_killer().unwrap_or(false);
    }
    if let Some(c) = r.cpu() {
        out.cpu_shares = c.shares().unwrap_or(0) as i64;
        out.cpu_quota = c.quota().unwrap_or(0).max(0);
        out.cpu_period = c.period().unwrap_or(0) as i64;
        out.cpuset_cpus = c.cpus().clone().unwrap_or_default();
        out.cpuset_mems = c.mems().clone().unwrap_or_default();
    }
    if let Some(p) = r.pids() {
        out.pids_limit = if p.limit() > 0 { p.limit() } else { 0 };
    }
    if let Some(b) = r.block_io() {
        out.blkio_weight = b.weight().unwrap_or(0);
    }
    out
}

/// The cgroup_limit steps for config.json's resources.
pub fn limit_steps(
    res: &crate::resources::Resources,
    setup: &CgroupSetup,
    dirs: &[PathBuf],
) -> Result<Vec<Step>> {
    let host = crate::resources::HostResources::detect(setup);
    let _ = host;
    crate::resources::files::limit_steps(
        &crate::resources::files::set_groups(res),
        res,
        None,
        setup,
        dirs,
        false,
    )
}

/// A capability set from config.json's names (CAP_CHOWN...).
pub fn cap_set(names: &[String]) -> Result<CapSet> {
    let mut bits = 0u64;
    for n in names {
        match caps::number(n) {
            Some(i) => bits |= 1 << i,
            None => bail!(bad(format!("unknown capability {n:?} in config.json"))),
        }
    }
    Ok(CapSet(bits))
}

fn cap_names(set: &Option<oci_spec::runtime::Capabilities>) -> Vec<String> {
    let mut v: Vec<String> = set
        .iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// What glassbox-runtime applies is the bounding set, and then, as docker
/// does, effective = permitted = bounding for root and no capability at all
/// for another user, inheritable and ambient empty. config.json's sets that
/// ask for something else are said, not silently dropped. (Root's ambient
/// capabilities within the bounding set change nothing: root's exec gets
/// them all in its permitted set anyway; runc's default spec has them.)
fn unapplied_cap_sets(
    c: &oci_spec::runtime::LinuxCapabilities,
    bounding: &[String],
    root: bool,
) -> Option<String> {
    let given = if root { bounding.to_vec() } else { Vec::new() };
    let sets = [
        ("effective", cap_names(c.effective()), &given),
        ("permitted", cap_names(c.permitted()), &given),
        ("inheritable", cap_names(c.inheritable()), &Vec::new()),
        ("ambient", cap_names(c.ambient()), &Vec::new()),
    ];
    let differ: Vec<&str> = sets
        .iter()
        .filter(|(name, asked, applied)| {
            let no_effect =
                root && *name == "ambient" && asked.iter().all(|c| bounding.contains(c));
            // An absent set asks for nothing in particular.
            !asked.is_empty() && asked != *applied && !no_effect
        })
        .map(|(name, _, _)| *name)
        .collect();
    (!differ.is_empty()).then(|| {
        format!(
            "capabilities: glassbox-runtime applies the bounding set and gives {}; config.json's {} set(s) ask for something else and are not applied",
            if root {
                "root effective = permitted = bounding, inheritable and ambient empty"
            } else {
                "a non-root user no capabilities"
            },
            differ.join(", ")
        )
    })
}

/// The steps right before exec for a process of config.json (or an
/// `exec --process` file): rlimits, OOM score, no_new_privs, user,
/// capabilities, seccomp in runc's order (`engine::run::last_steps`).
pub fn process_steps(
    process: &oci_spec::runtime::Process,
    seccomp: Option<Step>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut limits = Vec::new();
    for r in process.rlimits().iter().flatten() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| {
                v.as_str()
                    .map(|s| s.trim_start_matches("RLIMIT_").to_ascii_lowercase())
            })
            .unwrap_or_default();
        limits.push(crate::resources::Ulimit {
            name,
            soft: r.soft().min(i64::MAX as u64) as i64,
            hard: r.hard().min(i64::MAX as u64) as i64,
        });
    }
    if !limits.is_empty() {
        // Never above glassbox's own hard limit: without CAP_SYS_RESOURCE
        // setrlimit would refuse (podman's default nofile=1048576 does).
        let (limits, warned) = crate::resources::ulimit::clamp(
            &limits,
            crate::resources::ulimit::has_cap_sys_resource(),
            crate::resources::ulimit::own_hard,
        );
        warnings.extend(warned);
        if limits.iter().any(|l| l.resource().is_none()) {
            bail!(bad("unknown rlimit type in config.json".into()));
        }
        steps.push(Step::SetRlimits { limits });
    }
    if let Some(v) = process.oom_score_adj() {
        steps.push(Step::OomScoreAdj { value: v });
    }
    let user = process.user();
    let bounding = process
        .capabilities()
        .as_ref()
        .map(|c| cap_names(c.bounding()))
        .unwrap_or_default();
    let keep = cap_set(&bounding)?;
    if let Some(c) = process.capabilities() {
        warnings.extend(unapplied_cap_sets(c, &bounding, user.uid() == 0));
    }
    let exec_user =
        (user.uid() != 0 || user.gid() != 0 || user.additional_gids().is_some()).then(|| {
            ExecUser {
                spec: format!("{}:{}", user.uid(), user.gid()),
                uid: user.uid(),
                gid: user.gid(),
                groups: user.additional_gids().clone().unwrap_or_default(),
            }
        });
    steps.extend(crate::engine::run::last_steps(
        process.no_new_privileges().unwrap_or(false),
        keep,
        seccomp,
        exec_user,
    ));
    Ok(steps)
}

/// config.json's seccomp (the OCI form is a subset of docker's JSON, which
/// `confine::seccomp` reads), compiled now, in the runtime.
pub fn seccomp_step(spec: &Spec, keep: CapSet) -> Result<Option<Step>> {
    use crate::confine::seccomp;
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(None);
    };
    let json = serde_json::to_string(&s)?;
    let fail = |e: String| bad(format!("config.json linux.seccomp: {e}"));
    let profile = seccomp::parse(&json).map_err(fail)?;
    let resolved = seccomp::resolve(
        &profile,
        seccomp::native_arch(),
        keep,
        seccomp::kernel_version(),
    )
    .map_err(fail)?;
    let program = seccomp::compile(&resolved).map_err(fail)?;
    Ok(Some(Step::SeccompLoad {
        profile: "config.json".into(),
        default_action: format!("{:?}", resolved.default),
        allowed: resolved.allowed().len(),
        arches: resolved.arches.clone(),
        program,
    }))
}

/// Everything `create` does for config.json.
#[allow(clippy::too_many_arguments)]
pub fn build(
    spec: &Spec,
    id: &str,
    rootfs: &Path,
    setup: &CgroupSetup,
    fifo: (&Path, i32),
    console: Option<&str>,
    hook_state: &dyn Fn(&str) -> String,
) -> Result<Plan> {
    let mut warnings = Vec::new();
    let (new_ns, mut joined) = namespaces(spec)?;
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let cgroups = cgroup_paths(spec, setup, id, &own)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let process = spec
        .process()
        .clone()
        .context("config.json has no process to run")
        .map_err(|e| bad(format!("{e:#}")))?;
    let argv = process.args().clone().unwrap_or_default();
    if argv.is_empty() {
        bail!(bad(
            "config.json process.args is empty: nothing to run".into()
        ));
    }

    // ---- parent: cgroup, device rules, limits
    let mut parent = vec![Step::CgroupCreate {
        paths: cgroups.clone(),
    }];
    let version = setup.mode.version();
    let mut allow: Vec<String> = Vec::new();
    let mut deny_all = false;
    for d in linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default()
    {
        let kind = d
            .typ()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "a".into());
        let major = d.major().map_or("*".into(), |m| m.to_string());
        let minor = d.minor().map_or("*".into(), |m| m.to_string());
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        let rule = if kind == "a" {
            format!("a *:* {access}")
        } else {
            format!("{kind} {major}:{minor} {access}")
        };
        if d.allow() {
            allow.push(rule);
        } else if rule.starts_with("a *:* rwm") {
            // runc's way of saying "start from nothing"; later entries allow.
            deny_all = true;
            allow.clear();
        } else {
            warnings.push(format!(
                "device rule \"deny {rule}\" after allows is not supported; ignored"
            ));
        }
    }
    let device_paths: Vec<PathBuf> = if version == 2 {
        cgroups.clone()
    } else {
        setup
            .hierarchies
            .iter()
            .zip(&cgroups)
            .filter(|(h, _)| crate::resources::files::hierarchy_has(h, "devices"))
            .map(|(_, c)| c.clone())
            .collect()
    };
    // As runc's specconv: its default rules (c *:* m, null, zero, tty,
    // ptmx...) and one per linux.devices entry follow config.json's own.
    if deny_all {
        allow.extend(
            crate::confine::DEFAULT_DEVICE_RULES
                .iter()
                .map(|r| r.to_string()),
        );
        for d in linux.devices().iter().flatten() {
            let kind = if d.typ().as_str() == "b" { "b" } else { "c" };
            allow.push(format!("{kind} {}:{} rwm", d.major(), d.minor()));
        }
    }
    if deny_all || !allow.is_empty() {
        parent.push(Step::DeviceCgroup {
            paths: device_paths,
            deny_all,
            allow,
            version,
        });
    }
    if let Some(r) = linux.resources() {
        parent.extend(limit_steps(&resources(r), setup, &cgroups)?);
    }

    let userns = if new_ns.contains(&Namespace::User) {
        Some(id_map(&linux)?)
    } else {
        None
    };

    // ---- child: inside the new namespaces
    let mut child = Vec::new();
    // In a user namespace of its own (the parent has written the maps by
    // then) or a joined one, the process first becomes its root, as
    // `glassbox run --userns`: host uid 0 is not mapped there.
    let joined_user = joined.iter().find(|(ns, _)| *ns == Namespace::User);
    let user_root = match (&userns, joined_user) {
        (Some(map), _) => Some(map.clone()),
        (None, Some((_, path))) => Some(joined_root_map(path)?),
        (None, None) => None,
    };
    if let Some(map) = &user_root {
        child.push(Step::UsernsRoot { map: map.clone() });
    }
    let first_join = parent.len();
    // A joined mount namespace last: the other paths are host paths, which
    // it may not show (setns moves the process's root to its root).
    joined.sort_by_key(|(ns, _)| *ns == Namespace::Mount);
    for (ns, path) in &joined {
        let join = Step::JoinNamespace {
            namespace: *ns,
            path: path.clone(),
        };
        // User and PID namespaces are joined for the clone, user first
        // (`linux::clone_joined`); the others by the process itself.
        match ns {
            Namespace::User => parent.insert(first_join, join),
            Namespace::Pid => parent.push(join),
            _ => child.push(join),
        }
    }
    child.push(Step::MountPrivate);
    // The root must be a mount point for pivot_root: bind it onto itself.
    child.push(Step::OciMount {
        source: rootfs.display().to_string(),
        root: rootfs.to_path_buf(),
        destination: "/".into(),
        fstype: "bind".into(),
        options: vec!["rbind".into()],
    });
    if let Some(prop) = linux.rootfs_propagation() {
        if !matches!(prop.as_str(), "private" | "rprivate" | "") {
            child.push(Step::OciMount {
                source: String::new(),
                root: rootfs.to_path_buf(),
                destination: "/".into(),
                fstype: "none".into(),
                options: vec![prop.clone()],
            });
        }
    }
    let mut dev_mounted = false;
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination();
        if !dest.is_absolute() {
            bail!(bad(format!(
                "mount destination {} is not absolute",
                dest.display()
            )));
        }
        if dest
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            bail!(bad(format!(
                "mount destination {} has '..'",
                dest.display()
            )));
        }
        let fstype = m.typ().clone().unwrap_or_else(|| "none".into());
        let options = m.options().clone().unwrap_or_default();
        let source = m
            .source()
            .as_ref()
            .map(|s| s.display().to_string())
            .unwrap_or_else(|| fstype.clone());
        let destination = dest.display().to_string();
        if fstype == "cgroup" || fstype == "cgroup2" {
            cgroup_mount(&mut child, setup, &cgroups, rootfs, &destination, &options);
            continue;
        }
        if dest == Path::new("/dev") {
            dev_mounted = true;
        }
        child.push(Step::OciMount {
            source,
            root: rootfs.to_path_buf(),
            destination,
            fstype,
            options,
        });
    }
    if dev_mounted {
        // mknod is refused in a user namespace: bind the host's nodes.
        child.push(Step::MakeDevices {
            dev: rootfs.join("dev"),
            entries: default_devices(false),
            bind: user_root.is_some(),
        });
    }
    let devices: Vec<crate::confine::Device> = linux
        .devices()
        .iter()
        .flatten()
        .map(|d| crate::confine::Device {
            host: String::new(),
            path: d.path().display().to_string(),
            kind: match d.typ().as_str() {
                "b" => 'b',
                _ => 'c',
            },
            major: d.major() as u64,
            minor: d.minor() as u64,
            perms: "rwm".into(),
            mode: d.file_mode().unwrap_or(0o666),
        })
        .collect();
    if !devices.is_empty() {
        child.push(Step::AddDevices {
            dev: rootfs.join("dev"),
            devices,
        });
    }
    if let Some(c) = console {
        child.push(Step::MountBind {
            source: c.into(),
            target: rootfs.join("dev/console"),
            read_only: false,
        });
    }
    if new_ns.contains(&Namespace::Uts) {
        if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
            child.push(Step::SetHostname {
                hostname: h.clone(),
            });
        }
    }
    if new_ns.contains(&Namespace::Net) {
        child.push(Step::LinkUp { name: "lo".into() });
    }
    for hook in hooks_of(spec, "createContainer") {
        child.push(hook_step(
            "createContainer",
            &hook,
            hook_state("createContainer"),
        ));
    }
    child.push(Step::PivotRoot {
        new_root: rootfs.to_path_buf(),
    });
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        child.push(Step::RemountReadOnly { target: "/".into() });
    }
    for (key, value) in linux.sysctl().clone().unwrap_or_default() {
        child.push(Step::SysctlSet { key, value });
    }
    if let Some(masked) = linux.masked_paths().clone().filter(|m| !m.is_empty()) {
        child.push(Step::MaskPaths { paths: masked });
    }
    if let Some(ro) = linux.readonly_paths().clone().filter(|m| !m.is_empty()) {
        child.push(Step::ReadonlyPaths { paths: ro });
    }
    let keep = cap_set(
        &process
            .capabilities()
            .as_ref()
            .map(|c| cap_names(c.bounding()))
            .unwrap_or_default(),
    )?;
    let seccomp = seccomp_step(spec, keep)?;
    child.extend(process_steps(&process, seccomp, &mut warnings)?);
    child.push(Step::AwaitStart {
        fifo: fifo.0.to_path_buf(),
        fd: fifo.1,
    });
    for hook in hooks_of(spec, "startContainer") {
        child.push(hook_step(
            "startContainer",
            &hook,
            hook_state("startContainer"),
        ));
    }
    child.push(Step::Exec {
        argv,
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().display().to_string(),
        joined: false,
    });
    Ok(Plan {
        parent,
        clone: Step::Clone { namespaces: new_ns },
        child,
        cgroups,
        userns,
        user_root,
        warnings,
    })
}

/// The maps of the user namespace at `path`: a forked helper enters it and
/// reads its own /proc/self/uid_map and gid_map (the path may be any nsfs
/// file, not only /proc/PID/ns/user). Its uid and gid 0 must be mapped.
fn joined_root_map(path: &Path) -> Result<IdMap> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let text = crate::kernel::linux::in_helper_process("the uid_map reader", || {
        crate::kernel::linux::oci::setns_file(Namespace::User, &file)
            .map_err(|e| anyhow::anyhow!("setns into {}: {}", path.display(), e.desc()))?;
        let read = |f: &str| std::fs::read_to_string(f).with_context(|| format!("read {f}"));
        // The helper's answer ends at a NUL: the two files are parted by '|'.
        Ok(format!(
            "{}|{}",
            read("/proc/self/uid_map")?,
            read("/proc/self/gid_map")?
        ))
    })?;
    let (uid_map, gid_map) = text.split_once('|').unwrap_or((&text, ""));
    maps_of(uid_map, gid_map).map_err(|e| {
        bad(format!(
            "the user namespace at {} {e} (uid_map: {:?}, gid_map: {:?}): glassbox-runtime sets the container up as its root; join one that maps uid and gid 0",
            path.display(),
            uid_map.trim(),
            gid_map.trim()
        ))
    })
}

/// A namespace's maps from its uid_map and gid_map text, as the kernel
/// shows them; Err says what is wrong.
fn maps_of(uid_map: &str, gid_map: &str) -> std::result::Result<IdMap, String> {
    use crate::confine::userns::IdRanges;
    let (Some(uids), Some(gids)) = (IdRanges::parse(uid_map), IdRanges::parse(gid_map)) else {
        return Err("has map lines that are not three numbers".into());
    };
    if uids.to_host(0).is_none() {
        return Err("maps no uid 0".into());
    }
    if gids.to_host(0).is_none() {
        return Err("maps no gid 0".into());
    }
    IdMap::new(uids, gids)
}

/// A `cgroup` mount on cgroup v1 as runc makes it without a cgroup
/// namespace: a tmpfs, and in it each hierarchy's directory of the
/// container's own cgroup, bound read-only; then the tmpfs made read-only.
fn cgroup_mount(
    child: &mut Vec<Step>,
    setup: &CgroupSetup,
    cgroups: &[PathBuf],
    rootfs: &Path,
    destination: &str,
    options: &[String],
) {
    let ro = options.iter().any(|o| o == "ro");
    let mount =
        |source: String, destination: String, fstype: &str, options: &[&str]| Step::OciMount {
            source,
            root: rootfs.to_path_buf(),
            destination,
            fstype: fstype.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
    child.push(mount(
        "tmpfs".into(),
        destination.into(),
        "tmpfs",
        &["nosuid", "nodev", "noexec", "mode=755"],
    ));
    for (h, dir) in setup.hierarchies.iter().zip(cgroups) {
        let Some(name) = h.file_name() else { continue };
        let opts: &[&str] = if ro {
            &["rbind", "nosuid", "nodev", "noexec", "ro"]
        } else {
            &["rbind", "nosuid", "nodev", "noexec"]
        };
        child.push(mount(
            dir.display().to_string(),
            format!(
                "{}/{}",
                destination.trim_end_matches('/'),
                name.to_string_lossy()
            ),
            "bind",
            opts,
        ));
    }
    if ro {
        child.push(mount(
            "tmpfs".into(),
            destination.into(),
            "tmpfs",
            &["remount", "ro", "nosuid", "nodev", "noexec"],
        ));
    }
}

/// The hooks config.json gives for one stage.
#[allow(deprecated)]
pub fn hooks_of(spec: &Spec, stage: &str) -> Vec<oci_spec::runtime::Hook> {
    let Some(h) = spec.hooks() else {
        return Vec::new();
    };
    let list = match stage {
        "prestart" => h.prestart(),
        "createRuntime" => h.create_runtime(),
        "createContainer" => h.create_container(),
        "startContainer" => h.start_container(),
        "poststart" => h.poststart(),
        "poststop" => h.poststop(),
        _ => &None,
    };
    list.clone().unwrap_or_default()
}

pub fn hook_step(stage: &str, hook: &oci_spec::runtime::Hook, state: String) -> Step {
    Step::Hook {
        stage: stage.into(),
        path: hook.path().clone(),
        args: hook.args().clone().unwrap_or_default(),
        env: hook.env().clone().unwrap_or_default(),
        timeout: hook.timeout(),
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::cgroup::CgroupMode;

    #[test]
    fn the_maps_of_a_joined_namespace() {
        let map = maps_of(
            "      1000     100000      65536\n         0     300000       1000\n",
            "         0     400000         10\n",
        )
        .unwrap();
        assert_eq!(map.root(), (300000, 400000));
        assert_eq!(map.uids().to_host(1001), Some(100001));
        assert_eq!(map.uids().0.len(), 2);
        assert_eq!(maps_of("", "0 1 1\n").unwrap_err(), "maps no uid 0");
        assert_eq!(maps_of("1 2 3\n", "0 1 1\n").unwrap_err(), "maps no uid 0");
        assert_eq!(maps_of("0 2 3\n", "5 1 1\n").unwrap_err(), "maps no gid 0");
        assert!(maps_of("0 2\n", "0 1 1\n").is_err());
    }

    /// A user namespace that maps no uid 0 (made here by unshare, empty
    /// maps) cannot be joined: said, naming it.
    #[test]
    fn a_joined_user_namespace_must_map_root() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let mut holder = std::process::Command::new("unshare")
            .args(["--user", "sleep", "30"])
            .spawn()
            .expect("unshare");
        let path = PathBuf::from(format!("/proc/{}/ns/user", holder.id()));
        // unshare's own process, once it has made the namespace.
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        for _ in 0..100 {
            if std::fs::read_link(&path).is_ok_and(|l| l != own) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let err = format!("{:#}", joined_root_map(&path).unwrap_err());
        let _ = holder.kill();
        let _ = holder.wait();
        assert!(
            err.contains("maps no uid 0") && err.contains(&path.display().to_string()),
            "{err}"
        );
    }

    /// config.json's maps as serde reads them from a bundle.
    fn linux_with(maps: serde_json::Value) -> oci_spec::runtime::Linux {
        serde_json::from_value(maps).unwrap()
    }

    fn refusal(maps: serde_json::Value) -> String {
        let e = id_map(&linux_with(maps)).unwrap_err();
        let code = e.downcast_ref::<crate::error::ExitError>().map(|x| x.code);
        assert_eq!(code, Some(crate::error::EXIT_ENGINE), "{e:#}");
        format!("{e:#}")
    }

    /// podman's --uidmap 0:100000:1000 --uidmap 1000:1000:1
    /// --uidmap 1001:101001:64535 with two other gid ranges: taken as given.
    #[test]
    fn several_id_ranges_are_taken_as_given() {
        let map = id_map(&linux_with(serde_json::json!({
            "uidMappings": [
                {"containerID": 0, "hostID": 100000, "size": 1000},
                {"containerID": 1000, "hostID": 1000, "size": 1},
                {"containerID": 1001, "hostID": 101001, "size": 64535}
            ],
            "gidMappings": [
                {"containerID": 0, "hostID": 200000, "size": 10},
                {"containerID": 10, "hostID": 300000, "size": 5}
            ]
        })))
        .unwrap();
        assert_eq!(
            map.uids().text(),
            "0 100000 1000\n1000 1000 1\n1001 101001 64535\n"
        );
        assert_eq!(map.gids().text(), "0 200000 10\n10 300000 5\n");
        assert_eq!(map.root(), (100000, 200000));
        let step = Step::UsernsMap { pid: 42, map };
        let why = step.describe(crate::step::Lang::En).why;
        assert!(
            why.contains("Users, container to host: 0-999 are 100000-100999, 1000 is 1000, 1001-65535 are 101001-165535. Groups: 0-9 are 200000-200009, 10-14 are 300000-300004."),
            "{why}"
        );
        assert!(step
            .describe(crate::step::Lang::Zh)
            .why
            .contains("10-14 对应 300000-300004"));
        assert_eq!(
            step.describe(crate::step::Lang::En).shell,
            "printf '0 100000 1000\\n1000 1000 1\\n1001 101001 64535\\n' | dd of=/proc/42/uid_map bs=4096 iflag=fullblock status=none; printf '0 200000 10\\n10 300000 5\\n' | dd of=/proc/42/gid_map bs=4096 iflag=fullblock status=none"
        );
    }

    /// The userns_map step's shell line, pasted into bash for a process in
    /// a new user namespace (unshare, no maps yet), writes every range.
    #[test]
    fn the_userns_map_shell_line_writes_every_range() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let mut holder = std::process::Command::new("unshare")
            .args(["--user", "sleep", "30"])
            .spawn()
            .expect("unshare");
        let pid = holder.id() as i32;
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        for _ in 0..100 {
            if std::fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|l| l != own) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let map = id_map(&linux_with(serde_json::json!({
            "uidMappings": [
                {"containerID": 0, "hostID": 100000, "size": 1000},
                {"containerID": 1000, "hostID": 1000, "size": 1},
                {"containerID": 1001, "hostID": 101001, "size": 64535}
            ],
            "gidMappings": [
                {"containerID": 0, "hostID": 200000, "size": 10},
                {"containerID": 10, "hostID": 300000, "size": 5}
            ]
        })))
        .unwrap();
        let shell = Step::UsernsMap {
            pid,
            map: map.clone(),
        }
        .describe(crate::step::Lang::En)
        .shell;
        let out = std::process::Command::new("bash")
            .args(["-c", &shell])
            .output()
            .unwrap();
        let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap();
        let (uids, gids) = (read("uid_map"), read("gid_map"));
        let _ = holder.kill();
        let _ = holder.wait();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(uids, map.uids().proc_text());
        assert_eq!(gids, map.gids().proc_text());
    }

    #[test]
    fn id_maps_the_kernel_refuses_are_refused_naming_the_entry() {
        use serde_json::json;
        let one = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
        let many: Vec<_> = (0..341)
            .map(|i| json!({"containerID": i, "hostID": 1000 + i, "size": 1}))
            .collect();
        let cases = [
            (
                json!({"uidMappings": one}),
                "gidMappings is empty while uidMappings is given",
            ),
            (
                json!({"gidMappings": one, "uidMappings": []}),
                "uidMappings is empty while gidMappings is given",
            ),
            (json!({}), "needs linux.uidMappings and linux.gidMappings"),
            (
                json!({"uidMappings": one, "gidMappings": [
                    {"containerID": 0, "hostID": 5, "size": 10},
                    {"containerID": 9, "hostID": 50, "size": 1}
                ]}),
                "gidMappings[1] (9:50:1) overlaps gidMappings[0] (0:5:10) in container ids",
            ),
            (
                json!({"gidMappings": one, "uidMappings": [
                    {"containerID": 0, "hostID": 5, "size": 10},
                    {"containerID": 10, "hostID": 0, "size": 6}
                ]}),
                "uidMappings[1] (10:0:6) overlaps uidMappings[0] (0:5:10) in host ids",
            ),
            (
                json!({"gidMappings": one, "uidMappings": [
                    {"containerID": 0, "hostID": 5, "size": 0}
                ]}),
                "uidMappings[0] (0:5:0) has size 0",
            ),
            (
                json!({"uidMappings": one, "gidMappings": [
                    {"containerID": 1, "hostID": 5, "size": 10}
                ]}),
                "gidMappings maps no container id 0",
            ),
            (
                json!({"uidMappings": many, "gidMappings": one}),
                "uidMappings has 341 ranges",
            ),
        ];
        for (maps, want) in cases {
            let e = refusal(maps.clone());
            assert!(e.contains(want), "{maps}: {e}");
        }
    }

    /// Capability sets glassbox-runtime does not apply are said: a default
    /// spec (runc's sets, ambient within bounding) says nothing.
    #[test]
    fn capability_sets_that_are_not_applied_are_warned_of() {
        use oci_spec::runtime::{Capability, LinuxCapabilities};
        let caps = |names: &[Capability]| Some(names.iter().copied().collect());
        let default = Spec::default();
        let c = default
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let bounding = cap_names(c.bounding());
        let mut runc_like = c.clone();
        runc_like.set_inheritable(None);
        assert_eq!(unapplied_cap_sets(&runc_like, &bounding, true), None);
        // The sets named come after "config.json's".
        let named = |w: String| {
            w.split("config.json's ")
                .nth(1)
                .unwrap_or_default()
                .to_string()
        };
        let w = named(unapplied_cap_sets(&c, &bounding, true).unwrap());
        assert!(w.starts_with("inheritable set"), "{w}");

        let mut fewer = runc_like.clone();
        fewer.set_effective(caps(&[Capability::Kill]));
        let w = named(unapplied_cap_sets(&fewer, &bounding, true).unwrap());
        assert!(w.starts_with("effective set"), "{w}");

        let mut user: LinuxCapabilities = LinuxCapabilities::default();
        user.set_bounding(caps(&[Capability::NetBindService]));
        user.set_effective(None);
        user.set_permitted(None);
        user.set_inheritable(None);
        user.set_ambient(caps(&[Capability::NetBindService]));
        let bounding = cap_names(user.bounding());
        let w = unapplied_cap_sets(&user, &bounding, false).unwrap();
        assert!(w.contains("a non-root user no capabilities"), "{w}");
        assert!(named(w).starts_with("ambient set"));
    }

    fn spec_with(path: &str) -> Spec {
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_cgroups_path(Some(PathBuf::from(path)));
        spec.set_linux(Some(linux));
        spec
    }

    const SELF_V1: &str = "12:pids:/user.slice/run-1\n4:cpu,cpuacct:/build\n1:name=systemd:/init.scope\n0::/unified-only\n";

    #[test]
    fn a_relative_cgroups_path_is_under_the_runtime_own_cgroup() {
        let v1 = CgroupSetup {
            mode: CgroupMode::Hybrid,
            hierarchies: ["pids", "cpu,cpuacct", "cpu", "memory", "systemd"]
                .iter()
                .map(|h| Path::new("/sys/fs/cgroup").join(h))
                .collect(),
        };
        let got = cgroup_paths(&spec_with("pods/c1"), &v1, "x", SELF_V1).unwrap();
        let want: Vec<PathBuf> = [
            "pids/user.slice/run-1/pods/c1",
            "cpu,cpuacct/build/pods/c1",
            "cpu/build/pods/c1",
            // no line for memory: its root
            "memory/pods/c1",
            "systemd/init.scope/pods/c1",
        ]
        .iter()
        .map(|p| Path::new("/sys/fs/cgroup").join(p))
        .collect();
        assert_eq!(got, want);
        // an absolute one is from each hierarchy's root
        let abs = cgroup_paths(&spec_with("/pods/c1"), &v1, "x", SELF_V1).unwrap();
        assert_eq!(abs[0], Path::new("/sys/fs/cgroup/pids/pods/c1"));
        // v2: the one 0:: line
        let v2 = CgroupSetup {
            mode: CgroupMode::Unified,
            hierarchies: vec![PathBuf::from("/fake/v2")],
        };
        let got = cgroup_paths(&spec_with("c1"), &v2, "x", SELF_V1).unwrap();
        assert_eq!(got, vec![PathBuf::from("/fake/v2/unified-only/c1")]);
        // escaping upwards is refused either way
        assert!(cgroup_paths(&spec_with("../c1"), &v2, "x", SELF_V1).is_err());
    }
}
