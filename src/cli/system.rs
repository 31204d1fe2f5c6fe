//! version, info and `system prune`.

use super::GlobalOptions;
use anyhow::Result;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes not used by any container
    #[arg(long)]
    pub volumes: bool,
}

/// docker's confirmation text for `system prune`. glassbox has no networks,
/// so docker's "all networks not used by at least one container" line is
/// not promised. Volumes are kept unless `--volumes` is given.
pub fn prune_warning(a: &PruneArgs) -> String {
    let mut items = vec!["all stopped containers"];
    if a.volumes {
        items.push("all anonymous volumes not used by at least one container");
    }
    if a.all {
        items.push("all images without at least one container associated to them");
        items.push("all build cache");
    } else {
        items.push("all dangling images");
        items.push("unused build cache");
    }
    let mut s = String::from("WARNING! This will remove:\n");
    for i in items {
        s.push_str(&format!("  - {i}\n"));
    }
    s.push_str("\nAre you sure you want to continue? [y/N] ");
    s
}

/// `docker system prune [-a] [-f] [--volumes]`: stopped containers, then
/// dangling (with -a: unused) images and the store's garbage, the build
/// cache (dangling entries; all with -a); with --volumes, unused anonymous volumes (after the
/// containers, so those of the containers just removed go too). Without -f it asks on stdout and
/// reads the answer from stdin, as docker does: anything but y/yes (an
/// empty or closed stdin included) removes nothing.
pub fn prune(g: &GlobalOptions, a: PruneArgs) -> Result<i32> {
    if !a.force {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", prune_warning(&a))?;
        out.flush()?;
        let mut answer = String::new();
        let n = std::io::stdin().read_line(&mut answer).unwrap_or(0);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            if n == 0 {
                writeln!(out)?; // end the prompt's line: nothing was typed
            }
            return Ok(0);
        }
    }
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let mut out = String::new();
    let (deleted, mut reclaimed) =
        super::lifecycle::prune_containers(&root, kernel.as_mut(), &mut narrator)?;
    super::lifecycle::push_deleted(&mut out, "Containers", &deleted);
    if a.volumes {
        let removed = crate::engine::volumes::prune(&root, &mut narrator, false)?;
        reclaimed += removed.iter().map(|(_, s)| s).sum::<u64>();
        let names: Vec<String> = removed.into_iter().map(|(n, _)| n).collect();
        super::lifecycle::push_deleted(&mut out, "Volumes", &names);
    }
    let pruned = crate::engine::images::prune(&root, a.all)?;
    reclaimed += pruned.reclaimed;
    super::lifecycle::push_deleted(
        &mut out,
        "Images",
        &super::images::prune_lines(&pruned.removed),
    );
    // The build cache: dangling entries, all of them with -a.
    let (keys, freed) = crate::engine::build_cache::prune(&root, a.all)?;
    reclaimed += freed;
    out.push_str(&super::build::prune_lines(&keys, freed, false));
    super::lifecycle::push_reclaimed(&mut out, reclaimed);
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

/// Ask `warning` + docker's question on stdout; true for y/yes on stdin.
pub fn confirm(warning: &str) -> Result<bool> {
    let mut out = std::io::stdout().lock();
    write!(out, "{warning}\nAre you sure you want to continue? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    let n = std::io::stdin().read_line(&mut answer).unwrap_or(0);
    let yes = matches!(answer.trim(), "y" | "Y" | "yes" | "Yes");
    if !yes && n == 0 {
        writeln!(out)?;
    }
    Ok(yes)
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// podman's confirmation text for `system reset`, in glassbox's terms
/// (no pods, networks, machines or volumes; the store directory named).
pub fn reset_warning(root: &std::path::Path, simulated: bool) -> String {
    let mut items = vec![
        "all containers".to_string(),
        "all images".to_string(),
        "all build cache".to_string(),
        "the event journal".to_string(),
    ];
    if simulated {
        items.push("the simulated host: its processes, cgroups and clock".to_string());
    }
    items.push(format!(
        "the content of the store directory: {:?} (its config.toml and auth.json stay)",
        root.display().to_string()
    ));
    let mut s = String::from("WARNING! This will remove:\n");
    for i in items {
        s.push_str(&format!("        - {i}\n"));
    }
    s.push_str("Are you sure you want to continue? [y/N] ");
    s
}

/// `podman system reset [-f]`: without -f it asks on stdout and reads the
/// answer from stdin; anything but y/yes removes nothing. Prints nothing
/// else on success, as podman.
pub fn reset(g: &GlobalOptions, a: ResetArgs) -> Result<i32> {
    let root = g.root();
    if !a.force {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", reset_warning(&root, g.simulated()))?;
        out.flush()?;
        let mut answer = String::new();
        let n = std::io::stdin().read_line(&mut answer).unwrap_or(0);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            if n == 0 {
                writeln!(out)?;
            }
            return Ok(0);
        }
    }
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    crate::engine::reset::reset(&root, kernel.as_mut(), &mut narrator)?;
    Ok(0)
}

pub fn version(lang: crate::step::Lang) -> Result<()> {
    println!("Client: glassbox");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(
        " OS/Arch:           {}/{}",
        std::env::consts::OS,
        host_arch()
    );
    println!();
    println!(
        "{}",
        lang.pick(
            "Server: none (glassbox has no daemon: each container has its own supervisor)",
            "Server: 无（glassbox 没有守护进程：每个容器有它自己的监管进程）"
        )
    );
    Ok(())
}

pub fn info(g: &GlobalOptions) -> Result<()> {
    let root = g.root();
    let kernel = g.kernel()?;
    let containers = crate::container::list(&root).unwrap_or_default();
    let running = containers
        .iter()
        .filter(|c| c.state.status == crate::container::Status::Running)
        .count();
    let images = crate::image::Store::open(&root)
        .and_then(|s| s.list())
        .map(|l| l.len())
        .unwrap_or(0);
    let uname = nix::sys::utsname::uname()?;
    let cg = kernel.cgroup_setup();
    println!("Client: glassbox {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("Server:");
    println!(" Containers: {}", containers.len());
    println!("  Running: {running}");
    println!("  Paused: 0");
    println!("  Stopped: {}", containers.len() - running);
    println!(" Images: {images}");
    println!(" Storage Driver: overlay2");
    println!(" Cgroup Driver: cgroupfs");
    println!(" Cgroup Version: {}", cg.mode.version());
    println!(" Cgroup Mode: {}", cg.mode.name());
    if kernel.is_simulated() {
        println!(
            " Simulated Host: cgroup {} (--sim-host v1|v2|hybrid)",
            cg.mode.sim_host_name()
        );
        println!(" Cgroup Hierarchies:");
        for h in &cg.hierarchies {
            println!("  {}", h.display());
        }
        if cg.mode == crate::kernel::cgroup::CgroupMode::Hybrid {
            println!(
                "  {} (cgroup2, unused by glassbox)",
                crate::kernel::cgroup::SIM_HYBRID_V2
            );
        }
    }
    println!(
        " Kernel: {}",
        if kernel.is_simulated() {
            "simulated"
        } else {
            "linux (real)"
        }
    );
    println!(" Security Options:");
    println!("  seccomp");
    let lang = g.lang();
    println!(
        "   Profile: builtin {}",
        lang.pick(
            "(docker's default, compiled with libseccomp)",
            "（docker 的默认配置，用 libseccomp 编译）"
        )
    );
    println!(
        "  capabilities: {} (00000000a80425fb)",
        lang.pick("docker's default set", "docker 的默认集合")
    );
    println!(
        "  devices: {}",
        match (cg.mode.version() == 2, lang) {
            (true, crate::step::Lang::Zh) =>
                "cgroup v2 eBPF 设备程序（BPF_PROG_TYPE_CGROUP_DEVICE，runc 的默认规则）",
            (true, _) =>
                "cgroup v2 eBPF device program (BPF_PROG_TYPE_CGROUP_DEVICE, runc's default rules)",
            (false, crate::step::Lang::Zh) => "cgroup v1 devices 控制器白名单（runc 的默认规则）",
            (false, _) => "cgroup v1 devices controller allowlist (runc's default rules)",
        }
    );
    // The simulated host is its own machine: its kernel, not this one's.
    if kernel.is_simulated() {
        println!(
            " Kernel Version: {}",
            crate::kernel::sim::applets::system::KERNEL_RELEASE
        );
        println!(
            " Operating System: {}",
            lang.pick("glassbox simulated host", "glassbox 模拟主机")
        );
    } else {
        println!(" Kernel Version: {}", uname.release().to_string_lossy());
        println!(" Operating System: {}", os_name());
    }
    println!(" OSType: {}", std::env::consts::OS);
    println!(" Architecture: {}", std::env::consts::ARCH);
    println!(" Docker Root Dir: {}", root.display());
    Ok(())
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// The architecture in OCI's words (amd64, arm64), not Rust's (x86_64, aarch64).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
