//! The kernel boundary. Every privileged change goes through a `Kernel`:
//! `linux::LinuxKernel` makes real system calls, `sim::SimKernel` applies the
//! same steps to an in-memory model. The engine never knows which it has.

pub mod cgroup;
pub mod linux;
pub mod sim;

use crate::image::LayerInfo;
use crate::step::Step;
use anyhow::Result;

pub use cgroup::{CgroupMode, CgroupSetup};

/// What the engine decides before a step runs (step-through can abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Go {
    Run,
    Abort,
}

/// Watches steps as they happen. The narrator implements it; the plain
/// runtime uses `Silent`, which costs nothing.
pub trait StepObserver {
    /// Whether the child must report each of its steps (narration, trace or
    /// step-through). When false the child runs straight through.
    fn wants_reports(&self) -> bool;
    /// Called before each step runs; may pause (step-through) and abort.
    fn before(&mut self, step: &Step) -> Result<Go>;
    /// Called after a parent-side step ran (the child's are confirmed by the next report).
    fn after(&mut self, _step: &Step) {}
    /// Step-through's `l`: the observer wants to see the effect of the step
    /// it was last shown, in this language, once the step has happened.
    fn look_wanted(&self) -> Option<crate::step::Lang> {
        None
    }
    /// The kernel's rendering of that effect (`Kernel::look`).
    fn looked(&mut self, _view: &str) {}
    /// What carries this observer across an exec (a monitor's exit command,
    /// `linux::handover`): arguments for `glassbox __monitor-exited`, and
    /// the descriptors they name, which must stay open.
    fn exec_carry(&self) -> (Vec<String>, Vec<std::os::fd::RawFd>) {
        (Vec::new(), Vec::new())
    }
}

/// Right after `step` happened: give an observer that asked for it the
/// kernel's own view of the step's effect (the simulator's model).
pub fn offer_look(kernel: &dyn Kernel, observer: &mut dyn StepObserver, step: &Step) {
    if let Some(lang) = observer.look_wanted() {
        if let Some(view) = kernel.look(step, lang) {
            observer.looked(&view);
        }
    }
}

/// An observer that watches nothing.
pub struct Silent;

impl StepObserver for Silent {
    fn wants_reports(&self) -> bool {
        false
    }
    fn before(&mut self, _step: &Step) -> Result<Go> {
        Ok(Go::Run)
    }
}

/// How the container's standard streams are wired.
#[derive(Clone, Debug, Default)]
pub struct Stdio {
    /// Allocate a pseudo-terminal and make it the container's controlling terminal.
    pub tty: bool,
    /// Keep stdin open (`-i`); otherwise the container reads /dev/null.
    pub interactive: bool,
    /// Log mode (detached containers): instead of sharing glassbox's own
    /// streams, the container writes into pipes (or its terminal) that
    /// `wait_child` relays into this docker json-file log. With `interactive`
    /// its stdin is a pipe kept open (and never written), as `docker run -di`.
    pub log: Option<std::path::PathBuf>,
    /// Log mode: also serve attach on this unix socket (see `container::attach`).
    pub attach: Option<std::path::PathBuf>,
    /// Read no output until the first attach client connects (or 5 s pass):
    /// a foreground `run -it` served by a monitor sees its first prompt.
    pub attach_wait: bool,
    /// `exec -d`: the program's stdout and stderr go to /dev/null (as
    /// docker's), so nobody waits on them.
    pub discard_output: bool,
}

/// Everything the container's first process needs to carry out its steps.
pub struct ChildSpec {
    /// The steps the child runs inside its namespaces, ending with `Step::Exec`.
    pub steps: Vec<Step>,
    pub stdio: Stdio,
    /// Report each step and wait for a go-ahead (narration, trace or step-through).
    /// False for the plain runtime: no round-trips at all.
    pub report_each: bool,
    /// The image layers, lowest first: the simulated kernel reads them instead
    /// of mounting an overlay.
    pub layers: Vec<LayerInfo>,
    /// The image store root, for the simulated kernel to read layers from.
    pub store_root: std::path::PathBuf,
}

/// One link of a network namespace, as the kernel reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkView {
    pub index: u32,
    pub name: String,
    /// "loopback", "bridge", "veth" or another kind the kernel names ("ether" when none).
    pub kind: String,
    pub up: bool,
    /// The bridge it is plugged into.
    pub master: Option<String>,
    pub addrs: Vec<(std::net::Ipv4Addr, u8)>,
    pub mac: String,
    /// A veth's other end: its index in the peer's namespace (`eth0@if12`).
    pub peer_index: Option<u32>,
}

/// Why a container's first process did not reach its program.
#[derive(Debug)]
pub struct ChildFailure {
    /// The step that failed (its kind).
    pub kind: &'static str,
    /// docker's exit code for it: 126, 127 or 125.
    pub code: i32,
    pub message: String,
}

pub trait Kernel {
    /// "linux" or "simulated".
    fn name(&self) -> &'static str;
    /// How cgroups are laid out on this (real or simulated) host.
    fn cgroup_setup(&self) -> &CgroupSetup;
    /// A container is about to start: get the kernel's cgroup migration
    /// path ready so `cgroup_join` does not wait on it (real kernel only;
    /// it changes nothing a step would show).
    fn warm_cgroup_migration(&mut self) {}
    /// Open the container's terminal (`-t`); returns the path of its slave side,
    /// which becomes the container's /dev/console.
    fn prepare_terminal(&mut self) -> Result<Option<String>>;
    /// Open a terminal for `exec -t` in the devpts of the container whose first
    /// process is `pid`, so the program finds its terminal under the
    /// container's /dev/pts (`tty` works). Defaults to `prepare_terminal`.
    fn prepare_terminal_in(&mut self, _pid: i32) -> Result<Option<String>> {
        self.prepare_terminal()
    }
    /// What this host's limits can be: CPUs, cpusets, which files exist
    /// (`resources::HostResources`); the simulator answers for its own host.
    fn host_resources(&self) -> crate::resources::HostResources {
        crate::resources::HostResources::detect(self.cgroup_setup())
    }
    /// Carry out a parent-side step.
    fn apply(&mut self, step: &Step) -> Result<()>;
    /// Carry out a `Step::Clone`: make the child, stopped before its first step. Returns its host PID.
    fn clone_child(&mut self, clone: &Step, spec: ChildSpec) -> Result<i32>;
    /// For `exec`: fork a process (no new namespaces) that will run `spec.steps`
    /// (`Step::SetNs` into a running container, then `Step::Exec`), stopped
    /// before its first step like a cloned child. Returns its host PID.
    fn enter_child(&mut self, spec: ChildSpec) -> Result<i32>;
    /// Let the child run its steps up to and including exec, showing each to `observer`.
    fn start_child(
        &mut self,
        observer: &mut dyn StepObserver,
    ) -> Result<std::result::Result<(), ChildFailure>>;
    /// Relay the container's I/O and wait for it; returns docker's exit status (128+N for signal N).
    fn wait_child(&mut self) -> Result<i32>;
    /// A detached container's monitor becomes `program` (glassbox-monitor:
    /// exec, same PID), which relays, waits and then execs `exit_command`;
    /// `keep` stays open across the exec. Returns only if it could not
    /// (the caller then waits itself). See `linux::handover`.
    fn hand_over(
        &mut self,
        _program: &std::path::Path,
        _exit_command: &[String],
        _keep: &[std::os::fd::RawFd],
    ) -> Result<()> {
        anyhow::bail!("this kernel's monitors do not hand over")
    }
    /// How many processes the OOM killer killed in the cgroup at `paths`
    /// (read before `cgroup_remove`).
    fn oom_kills(&self, _paths: &[std::path::PathBuf]) -> u64 {
        0
    }
    /// The counter file that says the OOM killer killed, and how many
    /// (v1 memory.oom_control, v2 memory.events); None when it did not.
    fn oom_counter(&self, paths: &[std::path::PathBuf]) -> Option<(std::path::PathBuf, u64)> {
        crate::resources::files::oom_counter(paths)
    }
    /// Kill the child (abort or clean-up after a failure).
    fn kill_child(&mut self);
    /// Whether the child started by `start_child` was handed to the
    /// (simulated) host to keep running after this command: there is
    /// nothing to wait for here. The real kernel's children are waited for.
    fn left_running(&self) -> bool {
        false
    }
    /// Whether the process `pid` (started at `pid_start`) still runs.
    fn process_alive(&self, pid: i32, pid_start: u64) -> bool {
        crate::container::pid_alive(pid, pid_start)
    }
    /// Deterministic values for simulation (ids, names, times); None on the real kernel.
    fn is_simulated(&self) -> bool {
        false
    }
    /// What `step`'s look command (`describe().look`) would show right after
    /// the step, rendered from the kernel's own model: the simulator's. None
    /// on the real kernel, whose host the narrator looks at itself, and for
    /// steps whose effect the model does not keep.
    fn look(&self, _step: &Step, _lang: crate::step::Lang) -> Option<String> {
        None
    }
    // ---- the network state the engine reads to choose its network steps
    /// Whether glassbox's own network namespace (the host's) has a link `name`.
    fn link_exists(&mut self, name: &str) -> bool {
        linux::netlink::link_index(name).is_ok_and(|i| i.is_some())
    }
    /// A sysctl's value (`net.ipv4.ip_forward`), "" when there is no such key.
    fn sysctl(&mut self, key: &str) -> String {
        std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    /// `nft -j -a list table ip TABLE`, or None when there is no such table.
    fn nft_list_table(&mut self, table: &str) -> Result<Option<serde_json::Value>> {
        linux::nft::list_table(table)
    }
    /// The links of a network namespace as `ip -d addr` shows them: the
    /// host's (`None`) or that of the process `pid` (a container's). What
    /// `network inspect --diagram` draws besides the books.
    fn links(&mut self, pid: Option<i32>) -> Result<Vec<LinkView>> {
        linux::netlink::link_view(pid)
    }
    /// glassbox rewrote a file the container sees through a bind mount
    /// (`/etc/hosts` when a peer joins): the real container sees the new
    /// text at once; the simulator puts it into the running program's files.
    fn bound_file_written(&mut self, _container: &str, _target: &str, _text: &str) -> Result<()> {
        Ok(())
    }
    /// The time to record in container state (RFC 3339). The simulated
    /// kernel keeps a fixed clock, so its records and narration repeat exactly.
    fn now(&self) -> String {
        crate::container::now_rfc3339()
    }
}
