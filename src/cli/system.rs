//! version and info.

use super::GlobalOptions;
use anyhow::Result;

pub fn version() -> Result<()> {
    println!("Client: glassbox");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(
        " OS/Arch:           {}/{}",
        std::env::consts::OS,
        host_arch()
    );
    println!();
    println!("Server: none (glassbox has no daemon: each container has its own supervisor)");
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
    println!("   Profile: builtin (docker's default, compiled with libseccomp)");
    println!("  capabilities: docker's default set (00000000a80425fb)");
    println!(
        "  devices: {}",
        if cg.mode.version() == 2 {
            "cgroup v2: no device program installed yet (BPF_PROG_TYPE_CGROUP_DEVICE); devices are limited by the capability set and /dev contents only"
        } else {
            "cgroup v1 devices allowlist (runc's default rules)"
        }
    );
    println!(" Kernel Version: {}", uname.release().to_string_lossy());
    println!(" Operating System: {}", os_name());
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
