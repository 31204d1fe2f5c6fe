//! The simulated container's mount table as the kernel prints it:
//! /proc/PID/mountinfo and /proc/PID/mounts, built from the `SimMount`
//! list the mount steps recorded. Pure functions, so the same table can be
//! shown for any process that shares the mount namespace.
//!
//! Formats (proc_pid_mountinfo(5), fs/proc_namespace.c):
//! mountinfo: `ID PARENT MAJOR:MINOR ROOT TARGET MOUNT_OPTS - FSTYPE SOURCE SUPER_OPTS`
//! (no optional fields: `mount_private` made every mount private);
//! mounts: `SOURCE TARGET FSTYPE OPTS 0 0`, where OPTS is the mount's rw/ro,
//! its per-mount flags, then the filesystem's own options.

use super::SimMount;

/// The ID of the container's root mount; each later mount takes the next.
pub const ROOT_MOUNT_ID: u32 = 600;
/// The mount the root is stacked on: outside the container, so never listed.
pub const HOST_PARENT_ID: u32 = 599;
/// The first anonymous device minor (0:N) a new virtual superblock takes.
pub const FIRST_ANON_MINOR: u32 = 40;
/// The simulated host's disk (/dev/vda, 254:0), where bound files live.
pub const HOST_DISK: (&str, u32, u32) = ("/dev/vda", 254, 0);

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountRow {
    pub id: u32,
    pub parent: u32,
    pub dev: (u32, u32),
    /// The path inside its filesystem that is mounted ("/" for a fresh mount).
    pub root: String,
    pub target: String,
    /// rw/ro and the per-mount flags (nosuid, nodev, noexec, relatime...).
    pub mount_opts: String,
    pub fstype: String,
    pub source: String,
    /// rw/ro of the superblock and the filesystem's own options.
    pub super_opts: String,
}

/// The per-mount flags and the filesystem options of a mount's option string.
struct Parsed {
    read_only: bool,
    flags: Vec<&'static str>,
    fs: Vec<String>,
}

fn parse(options: &str, fstype: &str) -> Parsed {
    let (mut nosuid, mut nodev, mut noexec, mut read_only) = (false, false, false, false);
    let mut atime = Some("relatime");
    let mut fs = Vec::new();
    let (mut size, mut nr_inodes, mut mode, mut uid, mut gid, mut ptmxmode) =
        (None, None, None, None, None, None);
    for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nosuid" => nosuid = true,
            "nodev" => nodev = true,
            "noexec" => noexec = true,
            "strictatime" => atime = None,
            "noatime" => atime = Some("noatime"),
            "relatime" => atime = Some("relatime"),
            "suid" | "dev" | "exec" | "newinstance" | "bind" | "rbind" | "private" => {}
            other => match other.split_once('=') {
                Some(("size", v)) => size = Some(v.to_string()),
                Some(("nr_inodes", v)) => nr_inodes = Some(v.to_string()),
                Some(("mode", v)) => mode = Some(v.to_string()),
                Some(("uid", v)) => uid = Some(v.to_string()),
                Some(("gid", v)) => gid = Some(v.to_string()),
                Some(("ptmxmode", v)) => ptmxmode = Some(v.to_string()),
                _ => fs.push(other.to_string()),
            },
        }
    }
    let octal = |v: &str| u32::from_str_radix(v, 8).ok().map(|m| format!("{m:03o}"));
    // Each filesystem prints its own options in its own order, and only
    // the ones that differ from its defaults (shmem_show_options,
    // devpts_show_options).
    let mut own = Vec::new();
    match fstype {
        "tmpfs" => {
            if let Some(k) = size.as_deref().and_then(size_in_k) {
                own.push(format!("size={k}k"));
            }
            if let Some(n) = nr_inodes {
                own.push(format!("nr_inodes={n}"));
            }
            if let Some(m) = mode.as_deref().and_then(octal).filter(|m| m != "1777") {
                own.push(format!("mode={m}"));
            }
            own.extend(uid.filter(|u| u != "0").map(|u| format!("uid={u}")));
            own.extend(gid.filter(|g| g != "0").map(|g| format!("gid={g}")));
        }
        "devpts" => {
            own.extend(uid.map(|u| format!("uid={u}")));
            own.extend(gid.map(|g| format!("gid={g}")));
            own.push(format!(
                "mode={}",
                mode.as_deref()
                    .and_then(octal)
                    .unwrap_or_else(|| "600".into())
            ));
            own.push(format!(
                "ptmxmode={}",
                ptmxmode
                    .as_deref()
                    .and_then(octal)
                    .unwrap_or_else(|| "000".into())
            ));
        }
        _ => {
            for (k, v) in [
                ("size", size),
                ("nr_inodes", nr_inodes),
                ("mode", mode),
                ("uid", uid),
                ("gid", gid),
                ("ptmxmode", ptmxmode),
            ] {
                own.extend(v.map(|v| format!("{k}={v}")));
            }
        }
    }
    own.extend(fs);
    let mut flags = Vec::new();
    for (on, name) in [(nosuid, "nosuid"), (nodev, "nodev"), (noexec, "noexec")] {
        if on {
            flags.push(name);
        }
    }
    flags.extend(atime);
    Parsed {
        read_only,
        flags,
        fs: own,
    }
}

/// tmpfs's size= value in KiB, as the kernel prints it back ("64m" -> 65536).
fn size_in_k(v: &str) -> Option<u64> {
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().ok()?;
    let bytes = match unit.to_ascii_lowercase().as_str() {
        "" => n,
        "k" => n << 10,
        "m" => n << 20,
        "g" => n << 30,
        _ => return None,
    };
    Some(bytes.div_ceil(4096) * 4)
}

fn joined(first: &str, rest: impl IntoIterator<Item = String>) -> String {
    std::iter::once(first.to_string())
        .chain(rest)
        .collect::<Vec<_>>()
        .join(",")
}

/// The mount that holds `path`: the latest one at the longest prefix.
fn covering<'a>(rows: &'a [MountRow], path: &str) -> Option<&'a MountRow> {
    let under =
        |target: &str| target == "/" || path == target || path.starts_with(&format!("{target}/"));
    rows.iter()
        .enumerate()
        .filter(|(_, r)| under(&r.target))
        .max_by_key(|(i, r)| (r.target.len(), *i))
        .map(|(_, r)| r)
}

/// The mount table the steps made, in mount order.
pub fn rows(mounts: &[SimMount]) -> Vec<MountRow> {
    let mut rows: Vec<MountRow> = Vec::new();
    let mut next_minor = FIRST_ANON_MINOR;
    for (i, m) in mounts.iter().enumerate() {
        let id = ROOT_MOUNT_ID + i as u32;
        let parent = covering(&rows, &m.target).map_or(HOST_PARENT_ID, |r| r.id);
        let row = if let Some(from) = &m.bind_from {
            // A bind of something already in the container (a masked file
            // gets /dev/null, a read-only path itself): same filesystem and
            // superblock, its own flags.
            let Some(under) = covering(&rows, from).cloned() else {
                continue;
            };
            let rel = from
                .strip_prefix(under.target.trim_end_matches('/'))
                .unwrap_or(from);
            let root = format!("{}{}", under.root.trim_end_matches('/'), rel);
            let p = parse(&m.options, &under.fstype);
            let mut flags: Vec<String> = under
                .mount_opts
                .split(',')
                .skip(1)
                .map(String::from)
                .collect();
            if !m.options.is_empty() {
                flags = p.flags.iter().map(|f| f.to_string()).collect();
            }
            MountRow {
                id,
                parent,
                dev: under.dev,
                root: if root.is_empty() { "/".into() } else { root },
                target: m.target.clone(),
                mount_opts: joined(
                    if m.read_only || p.read_only {
                        "ro"
                    } else {
                        "rw"
                    },
                    flags,
                ),
                fstype: under.fstype.clone(),
                source: under.source.clone(),
                super_opts: under.super_opts.clone(),
            }
        } else if m.fstype == "bind" {
            // A file glassbox wrote on the host, bound in: the host's disk.
            let p = parse(&m.options, "ext4");
            MountRow {
                id,
                parent,
                dev: (HOST_DISK.1, HOST_DISK.2),
                root: m.source.clone(),
                target: m.target.clone(),
                mount_opts: joined(
                    if m.read_only || p.read_only {
                        "ro"
                    } else {
                        "rw"
                    },
                    p.flags.iter().map(|f| f.to_string()),
                ),
                fstype: "ext4".into(),
                source: HOST_DISK.0.into(),
                super_opts: "rw".into(),
            }
        } else {
            let p = parse(&m.options, &m.fstype);
            let dev = (0, next_minor);
            next_minor += 1;
            MountRow {
                id,
                parent,
                dev,
                root: "/".into(),
                target: m.target.clone(),
                mount_opts: joined(
                    if m.read_only || p.read_only {
                        "ro"
                    } else {
                        "rw"
                    },
                    p.flags.iter().map(|f| f.to_string()),
                ),
                fstype: m.fstype.clone(),
                source: m.source.clone(),
                super_opts: joined(if p.read_only { "ro" } else { "rw" }, p.fs),
            }
        };
        rows.push(row);
    }
    rows
}

/// /proc/PID/mountinfo.
pub fn mountinfo(rows: &[MountRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {}:{} {} {} {} - {} {} {}\n",
                r.id,
                r.parent,
                r.dev.0,
                r.dev.1,
                escape(&r.root),
                escape(&r.target),
                r.mount_opts,
                r.fstype,
                escape(&r.source),
                r.super_opts
            )
        })
        .collect()
}

/// /proc/PID/mounts (and /proc/mounts): the superblock's own options follow
/// the mount's flags.
pub fn mounts(rows: &[MountRow]) -> String {
    rows.iter()
        .map(|r| {
            let fs_opts = r.super_opts.split(',').skip(1).map(String::from);
            let mut mount_opts = r.mount_opts.split(',');
            let rw = mount_opts.next().unwrap_or("rw");
            let rw = if r.super_opts.starts_with("ro") {
                "ro"
            } else {
                rw
            };
            let opts = joined(rw, mount_opts.map(String::from).chain(fs_opts));
            format!(
                "{} {} {} {} 0 0\n",
                escape(&r.source),
                escape(&r.target),
                r.fstype,
                opts
            )
        })
        .collect()
}

/// The kernel's escaping of space, tab, newline and backslash (mangle()).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// The mode of a fresh filesystem's root directory, as `ls -ld` shows the
/// mount point once it is mounted: proc and sysfs 0555, tmpfs its mode=
/// (1777 by default), mqueue 1777, devpts 0755.
pub fn root_mode(fstype: &str, options: &str) -> u32 {
    let mode = options
        .split(',')
        .find_map(|o| o.trim().strip_prefix("mode="))
        .and_then(|m| u32::from_str_radix(m, 8).ok());
    match fstype {
        "proc" | "sysfs" => 0o555,
        "tmpfs" => mode.unwrap_or(0o1777),
        "mqueue" => 0o1777,
        _ => 0o755,
    }
}

/// What `mask_paths` mounts over a directory: an empty read-only tmpfs.
pub fn masked_dir(path: &str) -> SimMount {
    SimMount {
        source: "tmpfs".into(),
        target: path.into(),
        fstype: "tmpfs".into(),
        options: "ro".into(),
        read_only: true,
        bind_from: None,
        backing: None,
    }
}

/// What `mask_paths` mounts over a file: /dev/null bound onto it.
pub fn masked_file(path: &str) -> SimMount {
    SimMount {
        // /dev/null lives on the container's /dev tmpfs.
        source: "tmpfs".into(),
        target: path.into(),
        fstype: "tmpfs".into(),
        options: String::new(),
        read_only: false,
        bind_from: Some("/dev/null".into()),
        backing: None,
    }
}

/// What `readonly_paths` makes: the path bound onto itself, remounted
/// ro,nosuid,nodev,noexec.
pub fn readonly_bind(path: &str, fstype: &str) -> SimMount {
    SimMount {
        source: fstype.into(),
        target: path.into(),
        fstype: fstype.into(),
        options: "ro,nosuid,nodev,noexec".into(),
        read_only: true,
        bind_from: Some(path.into()),
        backing: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn special(fstype: &str, target: &str, options: &str, read_only: bool) -> SimMount {
        SimMount {
            source: fstype.into(),
            target: target.into(),
            fstype: fstype.into(),
            options: if read_only {
                format!("{options},ro")
            } else {
                options.into()
            },
            read_only,
            bind_from: None,
            backing: None,
        }
    }

    /// The table a default `run` makes, as the steps record it.
    fn table() -> Vec<SimMount> {
        vec![
            special(
                "overlay",
                "/",
                "lowerdir=/l1,upperdir=/c/upper,workdir=/c/work",
                false,
            ),
            special("proc", "/proc", "nosuid,noexec,nodev", false),
            special("sysfs", "/sys", "nosuid,noexec,nodev", true),
            special(
                "tmpfs",
                "/dev",
                "nosuid,strictatime,mode=755,size=65536k",
                false,
            ),
            special(
                "devpts",
                "/dev/pts",
                "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
                false,
            ),
            special(
                "tmpfs",
                "/dev/shm",
                "nosuid,nodev,noexec,mode=1777,size=65536k",
                false,
            ),
            special("mqueue", "/dev/mqueue", "nosuid,nodev,noexec", false),
            SimMount {
                source: "/c/hostname".into(),
                target: "/etc/hostname".into(),
                fstype: "bind".into(),
                ..Default::default()
            },
            masked_dir("/sys/firmware"),
            masked_file("/proc/keys"),
            readonly_bind("/proc/sys", "proc"),
        ]
    }

    /// Compared with a real busybox container's /proc/self/mountinfo (ids,
    /// devices and host paths differ by design).
    #[test]
    fn mountinfo_matches_the_kernels_format() {
        let text = mountinfo(&rows(&table()));
        let expected = "\
600 599 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/l1,upperdir=/c/upper,workdir=/c/work
601 600 0:41 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
602 600 0:42 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
603 600 0:43 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
604 603 0:44 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
605 603 0:45 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=65536k
606 603 0:46 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
607 600 254:0 /c/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
608 602 0:47 / /sys/firmware ro,relatime - tmpfs tmpfs ro
609 601 0:43 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
610 601 0:41 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
";
        assert_eq!(text, expected);
    }

    #[test]
    fn mounts_matches_the_kernels_format() {
        let text = mounts(&rows(&table()));
        let expected = "\
overlay / overlay rw,relatime,lowerdir=/l1,upperdir=/c/upper,workdir=/c/work 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0
mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda /etc/hostname ext4 rw,relatime 0 0
tmpfs /sys/firmware tmpfs ro,relatime 0 0
tmpfs /proc/keys tmpfs rw,nosuid,size=65536k,mode=755 0 0
proc /proc/sys proc ro,nosuid,nodev,noexec,relatime 0 0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn read_only_root_and_odd_paths() {
        let mut t = table();
        t[0].read_only = true;
        t.push(special(
            "tmpfs",
            "/my dir",
            "nosuid,nodev,noexec,size=64m,mode=0700",
            false,
        ));
        let r = rows(&t);
        assert!(mountinfo(&r).starts_with("600 599 0:40 / / ro,relatime - overlay overlay rw,"));
        assert!(mounts(&r).contains(
            "tmpfs /my\\040dir tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k,mode=700 0 0\n"
        ));
    }

    #[test]
    fn root_modes() {
        assert_eq!(root_mode("tmpfs", "nosuid,mode=755,size=1k"), 0o755);
        assert_eq!(root_mode("tmpfs", "nosuid"), 0o1777);
        assert_eq!(root_mode("proc", ""), 0o555);
        assert_eq!(root_mode("devpts", "mode=0620"), 0o755);
    }
}
