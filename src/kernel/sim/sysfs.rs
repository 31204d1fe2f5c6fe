//! The simulated /sys: the top of a fresh sysfs mount, as a container
//! with its own network namespace sees it. glassbox mounts no cgroup
//! filesystem inside the container (docker's `--cgroupns=host` without the
//! cgroup mount), so /sys/fs/cgroup is sysfs's own empty, read-only mount
//! point there, exactly as in a real glassbox container; the container's
//! cgroup shows in /proc/self/cgroup instead.

use super::fs::Node;

/// The top-level directories of sysfs (every kernel has these).
pub const TOP: [&str; 10] = [
    "block", "bus", "class", "dev", "devices", "firmware", "fs", "kernel", "module", "power",
];

/// The mount points sysfs itself provides under /sys/fs and /sys/kernel
/// (kernfs empty directories, mode 0555), which stay empty in a container.
pub const MOUNT_POINTS: [&str; 6] = [
    "fs/bpf",
    "fs/cgroup",
    "fs/pstore",
    "kernel/debug",
    "kernel/security",
    "kernel/tracing",
];

fn dir(mode: u32) -> Node {
    Node::Dir {
        mode,
        uid: 0,
        gid: 0,
    }
}

/// The entries of /sys, relative to its mount point.
pub fn entries() -> Vec<(String, Node)> {
    let mut out: Vec<(String, Node)> = TOP.iter().map(|d| (d.to_string(), dir(0o755))).collect();
    out.extend(MOUNT_POINTS.iter().map(|d| (d.to_string(), dir(0o555))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mount_point_is_empty_and_read_only() {
        let e = entries();
        assert!(e
            .iter()
            .any(|(n, node)| n == "fs/cgroup" && node.mode() & 0o777 == 0o555));
        assert!(!e.iter().any(|(n, _)| n.starts_with("fs/cgroup/")));
        assert_eq!(
            e.iter().filter(|(n, _)| !n.contains('/')).count(),
            TOP.len()
        );
    }
}
