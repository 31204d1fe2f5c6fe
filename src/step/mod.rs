//! The kernel-step vocabulary: every change glassbox makes to the kernel is one
//! of these values. The same values are executed by a kernel (real or
//! simulated), narrated, paused on and traced, so the paths cannot drift apart.

mod confine;
mod describe;
mod network;
mod oci;
mod read;
mod registry;
mod resources;
mod userns;
mod volumes;

pub use crate::confine::userns::IdMap;

pub use describe::{shell_join, shell_quote, Description, Lang};

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// A Linux namespace a container can get its own copy of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    Mount,
    Uts,
    Ipc,
    Pid,
    Net,
    User,
    Cgroup,
}

impl Namespace {
    /// The clone(2) flag that asks for a new one.
    pub fn clone_flag(self) -> &'static str {
        match self {
            Namespace::Mount => "CLONE_NEWNS",
            Namespace::Uts => "CLONE_NEWUTS",
            Namespace::Ipc => "CLONE_NEWIPC",
            Namespace::Pid => "CLONE_NEWPID",
            Namespace::Net => "CLONE_NEWNET",
            Namespace::User => "CLONE_NEWUSER",
            Namespace::Cgroup => "CLONE_NEWCGROUP",
        }
    }
    /// The name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::User => "user",
            Namespace::Cgroup => "cgroup",
        }
    }
    /// The unshare(1) option that asks for a new one.
    pub fn unshare_opt(self) -> &'static str {
        match self {
            Namespace::Mount => "--mount",
            Namespace::Uts => "--uts",
            Namespace::Ipc => "--ipc",
            Namespace::Pid => "--pid --fork",
            Namespace::Net => "--net",
            Namespace::User => "--user",
            Namespace::Cgroup => "--cgroup",
        }
    }
}

/// A pseudo filesystem the kernel provides (not backed by a disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Special {
    Proc,
    Sysfs,
    Tmpfs,
    Devpts,
    Mqueue,
}

impl Special {
    pub fn fstype(self) -> &'static str {
        match self {
            Special::Proc => "proc",
            Special::Sysfs => "sysfs",
            Special::Tmpfs => "tmpfs",
            Special::Devpts => "devpts",
            Special::Mqueue => "mqueue",
        }
    }
}

/// A device node or symlink made in the container's /dev.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DevEntry {
    Char {
        name: &'static str,
        major: u64,
        minor: u64,
        mode: u32,
    },
    Link {
        name: &'static str,
        target: &'static str,
    },
}

/// Where a step runs: in glassbox's own process, or inside the new namespaces
/// (reported to the parent over a pipe before it runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Parent,
    Child,
}

/// The user an `exec -u USER[:GROUP]` runs as, resolved against the
/// container's /etc/passwd and /etc/group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecUser {
    /// What the user asked for (`nobody`, `1000:1000`, `app:staff`).
    pub spec: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's memberships in /etc/group).
    pub groups: Vec<u32>,
}

/// A volume or host path that `cp`'s helper binds into a stopped
/// container's root at its mount point, as docker mounts them for a copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelperBind {
    pub source: PathBuf,
    pub destination: String,
    pub rw: bool,
}

/// One kernel step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Make the container's cgroup: one directory on v2, one per controller on v1.
    CgroupCreate { paths: Vec<PathBuf> },
    /// Start the container's first process in new namespaces.
    Clone { namespaces: Vec<Namespace> },
    /// Put a process into the container's cgroup.
    CgroupJoin { paths: Vec<PathBuf>, pid: i32 },
    /// Stop mount events propagating back to the host (mount --make-rprivate /).
    MountPrivate,
    /// Stack the image layers (read-only) under a writable upper dir.
    MountOverlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
        /// Mounted inside a user namespace: overlayfs keeps its whiteout
        /// marks in `user.overlay.*` xattrs (`trusted.*` needs host root).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        userxattr: bool,
    },
    /// Mount a kernel pseudo filesystem.
    MountSpecial {
        fs: Special,
        target: PathBuf,
        options: String,
        read_only: bool,
    },
    /// Make the few device nodes a process expects in /dev.
    MakeDevices {
        dev: PathBuf,
        entries: Vec<DevEntry>,
        /// In a user namespace mknod(2) is refused: bind the host's nodes.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        bind: bool,
    },
    /// Bind a host file or directory into the container.
    MountBind {
        source: PathBuf,
        target: PathBuf,
        read_only: bool,
    },
    /// Give the UTS namespace its own hostname.
    SetHostname { hostname: String },
    /// Bring a network interface up inside the container's network namespace.
    LinkUp { name: String },
    /// Make the overlay the process's root and detach the host's.
    PivotRoot { new_root: PathBuf },
    // ---- a user namespace of its own (--userns=auto): src/step/userns.rs ----
    /// Write the new user namespace's id maps (the parent, right after clone).
    UsernsMap { pid: i32, map: IdMap },
    /// Make an idmapped copy of each image layer's mount for the child, in
    /// which host uid 0 shows as the container's root.
    IdmapLayers {
        pid: i32,
        layers: Vec<PathBuf>,
        targets: Vec<PathBuf>,
        map: IdMap,
    },
    /// Attach the idmapped layers inside the container's mount namespace.
    AttachLayers { targets: Vec<PathBuf> },
    /// Become uid and gid 0 of the new user namespace (a host id range's first).
    UsernsRoot { map: IdMap },
    /// Give the container's root (its host id) what it must write: the
    /// overlay's upper and work dirs and its /etc files.
    Chown {
        paths: Vec<PathBuf>,
        uid: u32,
        gid: u32,
    },
    /// Join a running container's namespaces (`exec`): setns(2) on each
    /// /proc/PID/ns file, then fork so the PID namespace applies too. With
    /// only `Net` (`--network container:`), no fork.
    SetNs {
        pid: i32,
        namespaces: Vec<Namespace>,
    },
    /// Replace glassbox's code in the container process with the user's program.
    Exec {
        argv: Vec<String>,
        env: Vec<String>,
        cwd: String,
        /// The process joined a running container (`exec`): it is not the
        /// container's first process, so not PID 1.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        joined: bool,
    },
    /// Remove the container's cgroup once its processes are gone.
    CgroupRemove { paths: Vec<PathBuf> },

    // ---- confinement steps (src/confine): what the container's processes
    // may do. DeviceCgroup runs in glassbox (parent); the others run in the
    // child, the mounts around pivot_root and the last three right before
    // exec, in runc's order.
    /// Limit which devices the container's cgroup may open or mknod: on v1
    /// `a` into devices.deny, then each rule into devices.allow; on v2 the
    /// same rules as an eBPF program (`confine::devices`) attached with bpf(2).
    DeviceCgroup {
        paths: Vec<PathBuf>,
        /// Deny everything first (false for --privileged, which allows `a`).
        deny_all: bool,
        allow: Vec<String>,
        /// The cgroup version (v2: the rules become a device program).
        version: u8,
    },
    /// Make the nodes `--device` asked for in the container's /dev.
    AddDevices {
        dev: PathBuf,
        devices: Vec<crate::confine::Device>,
    },
    /// `--read-only`: remount the container's root read-only.
    RemountReadOnly { target: PathBuf },
    /// Hide kernel files and directories: /dev/null over files, an empty
    /// read-only tmpfs over directories (paths as the container sees them).
    MaskPaths { paths: Vec<String> },
    /// Make kernel tunables read-only: bind each onto itself, remount ro.
    ReadonlyPaths { paths: Vec<String> },
    /// prctl(PR_SET_NO_NEW_PRIVS): exec can never gain privileges (setuid
    /// binaries, file capabilities). Only with `--security-opt no-new-privileges`.
    NoNewPrivs,
    /// Install a seccomp filter (compiled in glassbox before clone).
    SeccompLoad {
        /// "docker-default" or the profile file's name.
        profile: String,
        default_action: String,
        /// How many system calls some rule allows.
        allowed: usize,
        arches: Vec<String>,
        program: crate::confine::seccomp::Program,
    },
    /// Keep only these capabilities: drop the rest from the bounding set,
    /// then capset(2) effective, permitted (inheritable and ambient empty).
    CapSet {
        keep: Vec<String>,
        set: crate::confine::caps::CapSet,
        /// The process already took a non-root uid (`exec -u`): it keeps the
        /// bounding set only; effective and permitted end empty, as docker
        /// gives a non-root user.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        non_root: bool,
    },
    /// `exec -u USER[:GROUP]`: take the user's identity (setgroups, setgid,
    /// setuid) with PR_SET_KEEPCAPS, before cap_set, as runc does, so a
    /// container without CAP_SETUID/CAP_SETGID can still exec as a user.
    SetUser { user: ExecUser },

    // ---- monitor steps (`run -d`, `start`): glassbox's own process work
    // around a detached container. The engine (`engine::monitor`,
    // `engine::run`) carries them out; both kernels accept them in `apply`
    // as no-ops, so they are narrated and traced like any other step.
    /// Fork the container's monitor (twice, so init adopts it), as conmon.
    MonitorFork { container: String, cli_pid: i32 },
    /// The monitor leaves the CLI's session and terminal.
    SetSid { container: String },
    /// The container's stdout and stderr become pipes (or its terminal) that
    /// the monitor relays into the docker json-file log.
    LogPipe { log: PathBuf, tty: bool },
    /// The monitor execs glassbox-monitor (same PID, so the container stays
    /// its child), which relays and waits with a fraction of the memory,
    /// then execs glassbox again to record the end (`linux::handover`).
    MonitorExec { container: String, pid: i32 },
    /// The monitor waits for the container's first process (waitpid), then
    /// records its exit in the container's record.
    Wait { pid: i32, record: PathBuf },

    // ---- lifecycle steps (create, stop, kill, rm, restart). Signals and
    // waits are kernel operations: both kernels carry them out in `apply`
    // (the simulator's processes end with their command, so it finds them
    // gone). The record and directory steps are glassbox's own file work on
    // the store, done by the engine (`engine::store_step`); kernels accept
    // them as no-ops, as they do monitor steps.
    /// Send a signal to a container's process, by PID, checked against the
    /// start time recorded for it (a reused PID is never hit).
    Signal {
        pid: i32,
        pid_start: u64,
        /// Its name as in signal.h, e.g. "SIGTERM".
        signal: String,
    },
    /// Wait (at most `timeout_s` seconds) for a process to be gone.
    WaitExit {
        pid: i32,
        pid_start: u64,
        timeout_s: u64,
    },
    /// Make the container's directory and write its record (`create`).
    RecordCreate {
        dir: PathBuf,
        record: PathBuf,
        /// The record as written (compact JSON).
        json: String,
    },
    /// Make the container's overlay directories (upper, work, merged).
    DirCreate { dirs: Vec<PathBuf> },
    /// Write the files bound over the container's /etc into its directory:
    /// hostname, hosts (its own, or a copy of the host's with --network host)
    /// and resolv.conf (the host's without loopback resolvers).
    EtcWrite {
        dir: PathBuf,
        hostname: String,
        /// None: a copy of the host's /etc/hosts.
        hosts: Option<String>,
        /// resolv.conf's text when it is not the host's file filtered (the
        /// simulated host's, which no host file holds).
        #[serde(skip_serializing_if = "Option::is_none")]
        resolv: Option<String>,
    },
    /// Change fields of the container's record (atomically: temp file, rename).
    RecordWrite {
        record: PathBuf,
        /// (field, JSON value), e.g. ("status", "\"exited\"").
        fields: Vec<(String, String)>,
    },
    /// Remove everything in the container's directory but its record.
    DirRemove { dir: PathBuf, keep: String },
    /// Remove the record, last, then the emptied directory.
    RecordRemove { record: PathBuf, dir: PathBuf },

    // ---- file and image steps (commit, cp, export): glassbox's own work on
    // the store and on a container's files, done by the engine
    // (`engine::commit`, `engine::files`); like the store steps above, the
    // kernels accept them as no-ops. A running container's files are reached
    // through /proc/PID/root; a stopped one's through an overlay a forked
    // helper mounts in a mount namespace of its own (`helper_mount`).
    /// Read the container's upper dir as a layer tar (whiteouts as
    /// `.wh.NAME`, opaque directories as `.wh..wh..opq`) into a temp file.
    LayerTar { upper: PathBuf, tar: PathBuf },
    /// Put a file into the store as a blob named by its sha256 digest.
    BlobWrite {
        /// "layer" or "config".
        what: String,
        source: PathBuf,
        digest: String,
        size: u64,
        blob: PathBuf,
    },
    /// Write the image's manifest blob and name it in `index.json`.
    ImageAdd {
        manifest: PathBuf,
        manifest_blob: PathBuf,
        /// The descriptor added to index.json (compact JSON).
        descriptor: String,
        reference: Option<String>,
        index: PathBuf,
    },
    /// `cp HOST CONTAINER:PATH`: copy a host file or tree into the container.
    CopyIn {
        src: PathBuf,
        /// The path inside the container, absolute.
        dest: String,
        /// Where the container's root is seen: /proc/PID/root, or the helper's mount.
        rootfs: PathBuf,
        /// The helper's overlay mount options (stopped container), else None.
        helper_mount: Option<String>,
        /// `-` as the source: a tar stream read from stdin.
        tar: bool,
        /// The stopped container's volumes and binds, bound by the helper.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        binds: Vec<HelperBind>,
    },
    /// `cp CONTAINER:PATH HOST`: copy a file or tree out of the container.
    CopyOut {
        src: String,
        /// None: a tar stream to stdout (`-`).
        dest: Option<PathBuf>,
        rootfs: PathBuf,
        helper_mount: Option<String>,
        follow_link: bool,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        binds: Vec<HelperBind>,
    },
    /// `export`: the container's whole filesystem (its upper dir over the
    /// image's layers, mounted read-only by the helper) as one tar.
    ExportTar {
        rootfs: PathBuf,
        helper_mount: String,
        /// None: standard output.
        output: Option<PathBuf>,
    },

    // ---- resource steps (src/resources): limits written into the cgroup
    // files (parent), the freezer (pause/unpause), and the child's rlimits
    // and OOM score right before exec.
    /// Write one limit's cgroup files (`--memory 32m` → memory.limit_in_bytes).
    CgroupLimit {
        /// The flags as docker spells them, e.g. "--cpus 0.5".
        flag: String,
        /// (file, value) in the order written.
        writes: Vec<(PathBuf, String)>,
    },
    /// Freeze (pause) or thaw (unpause) the container's cgroup: v1
    /// freezer.state FROZEN/THAWED, v2 cgroup.freeze 1/0 (then wait for
    /// cgroup.events to say `frozen 1`).
    Freeze {
        path: PathBuf,
        frozen: bool,
        version: u8,
    },
    /// `--ulimit`: setrlimit(2) in the container's first process.
    SetRlimits {
        limits: Vec<crate::resources::Ulimit>,
    },
    /// `--oom-score-adj`: write /proc/self/oom_score_adj before exec.
    OomScoreAdj { value: i32 },
    /// The kernel's OOM killer killed a process of the container: its
    /// memory cgroup's counter says so (read before `cgroup_remove`; shown,
    /// never applied: reading changes nothing).
    OomKilled { counter: PathBuf, kills: u64 },
    // ---- read and name steps (diff, logs, attach, tag, rmi): glassbox's own
    // reads of a container's files, log and socket, and its changes to the
    // image index; like the store steps, the kernels accept them as no-ops.
    /// `diff`: walk the container's upper dir, each entry compared with the
    /// image's layers below it.
    ChangesRead {
        upper: PathBuf,
        lowers: Vec<PathBuf>,
    },
    /// `logs`: read the container's json-file log (with `-f`, keep reading
    /// it while the container runs).
    LogRead { log: PathBuf, follow: bool },
    /// `attach`: connect to the unix socket the container's monitor serves.
    AttachConnect {
        socket: PathBuf,
        detach_keys: String,
    },
    /// `tag`: name an image (its manifest's descriptor) in index.json.
    ImageTag {
        index: PathBuf,
        reference: String,
        /// The descriptor named (compact JSON).
        descriptor: String,
    },
    /// `rmi`: take one name off an image in index.json.
    ImageUntag { index: PathBuf, reference: String },
    /// `rmi`: drop every entry of the image from index.json.
    ImageRemove {
        index: PathBuf,
        image_id: String,
        manifest_digest: String,
    },
    /// `rmi`: delete the blobs and unpacked layer directories no image in
    /// the index still uses.
    ContentRemove {
        blobs: Vec<PathBuf>,
        dirs: Vec<PathBuf>,
    },

    // ---- volume steps (src/volume, engine::volumes): the store's volumes
    // and a `-v` host directory are glassbox's own file work (kernels accept
    // them as no-ops); the seed and the mounts run in the child, each target
    // resolved inside the container's root (kernel::linux::volumes).
    /// Make a volume: `<root>/volumes/<name>/_data` (built aside, renamed in).
    VolumeCreate {
        name: String,
        dir: PathBuf,
        anonymous: bool,
    },
    /// `-v /host:/ctr` with a missing host directory: make it, as docker does.
    HostDirCreate { path: PathBuf },
    /// Remove a volume no container record names: rename it away under the
    /// store lock, then delete it.
    VolumeRemove {
        name: String,
        dir: PathBuf,
        trash: PathBuf,
    },
    /// Copy the image's files at the mount point into an empty volume.
    VolumeSeed {
        root: PathBuf,
        destination: String,
        volume: PathBuf,
    },
    /// Mount a volume, a host path (both bind mounts) or a tmpfs at
    /// `destination`, resolved inside the container's `root`.
    VolumeMount {
        /// "volume", "bind" or "tmpfs".
        what: String,
        source: PathBuf,
        root: PathBuf,
        destination: String,
        /// tmpfs data (size=, mode=).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        options: String,
    },
    /// Make that mount read-only (`:ro`, `readonly`).
    VolumeRemountRo { root: PathBuf, destination: String },
    // ---- network steps (src/network, engine::network; carried out by
    // kernel/linux/netlink.rs and nft.rs). All run in glassbox's own process:
    // it configures the container's network namespace from outside, after
    // clone and before the container's program runs.
    /// Make a network's Linux bridge, give it the gateway address, bring it up.
    BridgeCreate { bridge: String, gateway: String },
    /// Remove a network's bridge (`network rm`).
    BridgeRemove { bridge: String },
    /// A veth pair: `host` on the bridge (up), its peer made directly in the
    /// container's network namespace (of `pid`) as `peer` (eth0).
    VethCreate {
        host: String,
        peer: String,
        bridge: String,
        pid: i32,
        mac: String,
    },
    /// Give an interface in the container's network namespace an address.
    AddrAdd {
        pid: i32,
        dev: String,
        address: String,
    },
    /// Bring an interface in the container's network namespace up.
    NetnsLinkUp { pid: i32, dev: String },
    /// The container's default route, through its network's gateway.
    RouteAdd { pid: i32, gateway: String },
    /// Remove a container's veth pair by its host end.
    LinkRemove { name: String },
    /// Write a kernel setting under /proc/sys (ip_forward, route_localnet).
    SysctlWrite { key: String, value: String },
    /// Apply an nft script (one transaction) to glassbox's own table.
    NftApply { purpose: String, script: String },
    /// Hold the published host ports: sockets bound (never listening) that
    /// the container's supervisor keeps, so nothing else takes them.
    PortReserve { ports: Vec<String> },
    /// Rewrite a container's /etc/hosts in place (its own lines and its
    /// peers' on a user network): glassbox's file work, like the store steps.
    HostsWrite { file: PathBuf, text: String },

    // ---- registry steps (pull, push): not kernel steps. glassbox's own
    // process carries them out (src/registry); the observer sees them like
    // any other step, but no `Kernel` ever receives one.
    /// `GET /v2/`: is there a registry, and does it want authentication?
    RegistryPing { registry: String, url: String },
    /// Get a bearer token for one repository from the registry's auth server.
    RegistryToken {
        registry: String,
        realm: String,
        service: Option<String>,
        scope: String,
        with_credentials: bool,
    },
    /// `GET /v2/<name>/manifests/<tag|digest>`; reported once the registry
    /// answered, so it names the media type it chose.
    ManifestFetch {
        repository: String,
        reference: String,
        url: String,
        media_type: String,
        digest: Option<String>,
        /// Set when this manifest was picked out of an index for a platform.
        platform: Option<String>,
    },
    /// `GET /v2/<name>/blobs/<digest>`, streamed into the store while
    /// hashing; kept only if its digest and size match.
    BlobFetch {
        repository: String,
        digest: String,
        size: u64,
        media_type: String,
        url: String,
        dest: PathBuf,
    },
    /// Unpack a layer blob into its own directory (an overlay lower dir),
    /// checking the uncompressed tar against the config's diff_id.
    LayerUnpack {
        digest: String,
        diff_id: String,
        chain_id: String,
        media_type: String,
        blob: PathBuf,
        dir: PathBuf,
    },
    /// `HEAD /v2/<name>/blobs/<digest>`: does the registry have it already?
    BlobCheck {
        repository: String,
        digest: String,
        url: String,
    },
    /// `POST /v2/<name>/blobs/uploads/` then `PUT <location>?digest=`.
    BlobUpload {
        repository: String,
        digest: String,
        size: u64,
        url: String,
        source: PathBuf,
    },
    /// `PUT /v2/<name>/manifests/<tag>`: name the uploaded image.
    ManifestPut {
        repository: String,
        tag: String,
        media_type: String,
        digest: String,
        size: u64,
        url: String,
        source: PathBuf,
    },

    // ---- OCI runtime steps (glassbox-runtime, src/oci): what a bundle's
    // config.json asks for beyond glassbox's own plan (src/step/oci.rs).
    /// Mount one entry of config.json's `mounts` (any type; runc's options:
    /// bind/rbind, ro, nosuid, propagation...) at `destination`, resolved
    /// inside `root` (the image's symlinks never lead out of it); "/" is
    /// the root itself.
    OciMount {
        source: String,
        root: PathBuf,
        destination: String,
        fstype: String,
        options: Vec<String>,
    },
    /// Join a namespace that exists already (config.json `namespaces[].path`).
    JoinNamespace { namespace: Namespace, path: PathBuf },
    /// Set a namespaced kernel parameter from inside (config.json `linux.sysctl`).
    SysctlSet { key: String, value: String },
    /// Wait for `glassbox-runtime start`: open the exec fifo for writing,
    /// which blocks until `start` opens it for reading (runc's exec.fifo).
    AwaitStart { fifo: PathBuf, fd: i32 },
    /// `glassbox-runtime start`: open the exec fifo for reading, so the
    /// waiting process's write returns and it execs the program.
    ReleaseStart {
        fifo: PathBuf,
        pid: i32,
        pid_start: u64,
    },
    /// Run one OCI hook with the container's state JSON on its stdin.
    Hook {
        /// prestart, createRuntime, createContainer, startContainer, poststart, poststop.
        stage: String,
        path: PathBuf,
        args: Vec<String>,
        env: Vec<String>,
        timeout: Option<i64>,
        state: String,
    },
}

impl Step {
    /// A stable snake_case name, used by --trace-json and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::CgroupCreate { .. } => "cgroup_create",
            Step::Clone { .. } => "clone",
            Step::CgroupJoin { .. } => "cgroup_join",
            Step::MountPrivate => "mount_private",
            Step::MountOverlay { .. } => "mount_overlay",
            Step::MountSpecial { .. } => "mount_special",
            Step::MakeDevices { .. } => "make_devices",
            Step::MountBind { .. } => "mount_bind",
            Step::SetHostname { .. } => "set_hostname",
            Step::LinkUp { .. } => "link_up",
            Step::PivotRoot { .. } => "pivot_root",
            Step::SetNs { .. } => "setns",
            Step::UsernsMap { .. } => "userns_map",
            Step::IdmapLayers { .. } => "idmap_layers",
            Step::AttachLayers { .. } => "attach_layers",
            Step::UsernsRoot { .. } => "userns_root",
            Step::Chown { .. } => "chown",
            Step::Exec { .. } => "exec",
            Step::CgroupRemove { .. } => "cgroup_remove",
            Step::DeviceCgroup { .. } => "device_cgroup",
            Step::AddDevices { .. } => "add_devices",
            Step::RemountReadOnly { .. } => "remount_read_only",
            Step::MaskPaths { .. } => "mask_paths",
            Step::ReadonlyPaths { .. } => "readonly_paths",
            Step::NoNewPrivs => "no_new_privs",
            Step::SeccompLoad { .. } => "seccomp_load",
            Step::CapSet { .. } => "cap_set",
            Step::SetUser { .. } => "set_user",
            Step::MonitorFork { .. } => "monitor_fork",
            Step::SetSid { .. } => "setsid",
            Step::LogPipe { .. } => "log_pipe",
            Step::MonitorExec { .. } => "monitor_exec",
            Step::Wait { .. } => "wait",
            Step::Signal { .. } => "signal",
            Step::WaitExit { .. } => "wait_exit",
            Step::RecordCreate { .. } => "record_create",
            Step::DirCreate { .. } => "dir_create",
            Step::EtcWrite { .. } => "etc_write",
            Step::RecordWrite { .. } => "record_write",
            Step::DirRemove { .. } => "dir_remove",
            Step::RecordRemove { .. } => "record_remove",
            Step::LayerTar { .. } => "layer_tar",
            Step::BlobWrite { .. } => "blob_write",
            Step::ImageAdd { .. } => "image_add",
            Step::CopyIn { .. } => "copy_in",
            Step::CopyOut { .. } => "copy_out",
            Step::ExportTar { .. } => "export_tar",
            Step::CgroupLimit { .. } => "cgroup_limit",
            Step::Freeze { .. } => "freeze",
            Step::SetRlimits { .. } => "set_rlimits",
            Step::OomScoreAdj { .. } => "oom_score_adj",
            Step::OomKilled { .. } => "oom_killed",
            Step::ChangesRead { .. } => "changes_read",
            Step::LogRead { .. } => "log_read",
            Step::AttachConnect { .. } => "attach_connect",
            Step::ImageTag { .. } => "image_tag",
            Step::ImageUntag { .. } => "image_untag",
            Step::ImageRemove { .. } => "image_remove",
            Step::ContentRemove { .. } => "content_remove",
            Step::VolumeCreate { .. } => "volume_create",
            Step::HostDirCreate { .. } => "host_dir_create",
            Step::VolumeRemove { .. } => "volume_remove",
            Step::VolumeSeed { .. } => "volume_seed",
            Step::VolumeMount { .. } => "volume_mount",
            Step::VolumeRemountRo { .. } => "volume_remount_ro",
            Step::BridgeCreate { .. } => "bridge_create",
            Step::BridgeRemove { .. } => "bridge_remove",
            Step::VethCreate { .. } => "veth_create",
            Step::AddrAdd { .. } => "addr_add",
            Step::NetnsLinkUp { .. } => "netns_link_up",
            Step::RouteAdd { .. } => "route_add",
            Step::LinkRemove { .. } => "link_remove",
            Step::SysctlWrite { .. } => "sysctl_write",
            Step::NftApply { .. } => "nft_apply",
            Step::PortReserve { .. } => "port_reserve",
            Step::HostsWrite { .. } => "hosts_write",
            Step::RegistryPing { .. } => "registry_ping",
            Step::RegistryToken { .. } => "registry_token",
            Step::ManifestFetch { .. } => "manifest_fetch",
            Step::BlobFetch { .. } => "blob_fetch",
            Step::LayerUnpack { .. } => "layer_unpack",
            Step::BlobCheck { .. } => "blob_check",
            Step::BlobUpload { .. } => "blob_upload",
            Step::ManifestPut { .. } => "manifest_put",
            Step::OciMount { .. } => "oci_mount",
            Step::JoinNamespace { .. } => "join_namespace",
            Step::SysctlSet { .. } => "sysctl_set",
            Step::AwaitStart { .. } => "await_start",
            Step::ReleaseStart { .. } => "release_start",
            Step::Hook { .. } => "hook",
        }
    }

    /// A registry step (pull, push): carried out by glassbox itself, never
    /// by a `Kernel`.
    pub fn is_registry(&self) -> bool {
        matches!(
            self,
            Step::RegistryPing { .. }
                | Step::RegistryToken { .. }
                | Step::ManifestFetch { .. }
                | Step::BlobFetch { .. }
                | Step::LayerUnpack { .. }
                | Step::BlobCheck { .. }
                | Step::BlobUpload { .. }
                | Step::ManifestPut { .. }
        )
    }

    /// A monitor step (`run -d`, `start`): glassbox's own process work, done
    /// by the engine; kernels accept it in `apply` and do nothing.
    pub fn is_monitor(&self) -> bool {
        matches!(
            self,
            Step::MonitorFork { .. }
                | Step::SetSid { .. }
                | Step::LogPipe { .. }
                | Step::MonitorExec { .. }
                | Step::Wait { .. }
        )
    }

    /// A network step (bridges, veths, addresses, routes, sysctls, nft).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Step::BridgeCreate { .. }
                | Step::BridgeRemove { .. }
                | Step::VethCreate { .. }
                | Step::AddrAdd { .. }
                | Step::NetnsLinkUp { .. }
                | Step::RouteAdd { .. }
                | Step::LinkRemove { .. }
                | Step::SysctlWrite { .. }
                | Step::NftApply { .. }
                | Step::PortReserve { .. }
        )
    }

    /// A store step (the container's record and directory): glassbox's own
    /// file work, done by the engine; kernels accept it in `apply` and do nothing.
    pub fn is_store(&self) -> bool {
        matches!(
            self,
            Step::RecordCreate { .. }
                | Step::DirCreate { .. }
                | Step::EtcWrite { .. }
                | Step::RecordWrite { .. }
                | Step::DirRemove { .. }
                | Step::RecordRemove { .. }
                | Step::LayerTar { .. }
                | Step::BlobWrite { .. }
                | Step::ImageAdd { .. }
                | Step::CopyIn { .. }
                | Step::CopyOut { .. }
                | Step::ExportTar { .. }
                | Step::ChangesRead { .. }
                | Step::LogRead { .. }
                | Step::AttachConnect { .. }
                | Step::ImageTag { .. }
                | Step::ImageUntag { .. }
                | Step::ImageRemove { .. }
                | Step::ContentRemove { .. }
                | Step::VolumeCreate { .. }
                | Step::HostDirCreate { .. }
                | Step::VolumeRemove { .. }
                | Step::HostsWrite { .. }
        )
    }

    /// Which process carries the step out.
    pub fn side(&self) -> Side {
        match self {
            Step::CgroupCreate { .. }
            | Step::Clone { .. }
            | Step::CgroupJoin { .. }
            | Step::CgroupRemove { .. }
            | Step::Signal { .. }
            | Step::WaitExit { .. }
            | Step::DeviceCgroup { .. }
            | Step::CgroupLimit { .. }
            | Step::Freeze { .. }
            | Step::UsernsMap { .. }
            | Step::IdmapLayers { .. }
            | Step::Chown { .. }
            | Step::ReleaseStart { .. }
            | Step::OomKilled { .. } => Side::Parent,
            Step::Hook { stage, .. } if !hook_runs_in_container(stage) => Side::Parent,
            // Where the container's process is born: joined for the clone.
            Step::JoinNamespace {
                namespace: Namespace::Pid | Namespace::User,
                ..
            } => Side::Parent,
            s if s.is_network() => Side::Parent,
            s if s.is_registry() || s.is_monitor() || s.is_store() => Side::Parent,
            _ => Side::Child,
        }
    }
}

/// OCI hooks run by the container's own process (in its namespaces); the
/// others are run by the runtime on the host.
pub fn hook_runs_in_container(stage: &str) -> bool {
    matches!(stage, "createContainer" | "startContainer")
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(Lang::En).title)
    }
}

/// The devices every container gets (as runc and docker create them).
pub fn default_devices(tty: bool) -> Vec<DevEntry> {
    let mut v = vec![
        DevEntry::Char {
            name: "null",
            major: 1,
            minor: 3,
            mode: 0o666,
        },
        DevEntry::Char {
            name: "zero",
            major: 1,
            minor: 5,
            mode: 0o666,
        },
        DevEntry::Char {
            name: "full",
            major: 1,
            minor: 7,
            mode: 0o666,
        },
        DevEntry::Char {
            name: "random",
            major: 1,
            minor: 8,
            mode: 0o666,
        },
        DevEntry::Char {
            name: "urandom",
            major: 1,
            minor: 9,
            mode: 0o666,
        },
        DevEntry::Char {
            name: "tty",
            major: 5,
            minor: 0,
            mode: 0o666,
        },
        DevEntry::Link {
            name: "fd",
            target: "/proc/self/fd",
        },
        DevEntry::Link {
            name: "stdin",
            target: "/proc/self/fd/0",
        },
        DevEntry::Link {
            name: "stdout",
            target: "/proc/self/fd/1",
        },
        DevEntry::Link {
            name: "stderr",
            target: "/proc/self/fd/2",
        },
        DevEntry::Link {
            name: "ptmx",
            target: "pts/ptmx",
        },
    ];
    if tty {
        // /dev/console is bound to the container's terminal by a MountBind step.
        v.push(DevEntry::Char {
            name: "console",
            major: 5,
            minor: 1,
            mode: 0o620,
        });
    }
    v
}
