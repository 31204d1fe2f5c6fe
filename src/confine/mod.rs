//! Default confinement, as docker and runc give every container: a reduced
//! capability set, docker's seccomp filter, masked and read-only /proc and
//! /sys paths, and a device cgroup allowlist. `--privileged` lifts all of it;
//! `--cap-add`, `--cap-drop`, `--security-opt`, `--read-only`, `--tmpfs` and
//! `--device` adjust it.
//!
//! This module decides *what* (from the user's options, recorded with the
//! container); the steps in `step` say it, and the kernels do it.

pub mod caps;
pub mod devices;
pub mod seccomp;
pub mod userns;

use caps::CapSet;
use serde::{Deserialize, Serialize};

/// The user's confinement options, as recorded in the container's config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `--security-opt` values as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// The text of a `seccomp=FILE` profile, read at create time (as docker does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// `--tmpfs PATH[:OPTIONS]`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// `--device`, resolved against the host at create time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// `--userns=auto`: the id map chosen at create time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<userns::IdMap>,
}

/// A host device given to the container with `--device HOST[:CONTAINER[:PERMS]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub host: String,
    /// Its path inside the container.
    pub path: String,
    /// 'c' or 'b'.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    /// The cgroup permissions: some of r, w, m.
    pub perms: String,
    /// The node's mode bits (permissions), as on the host.
    pub mode: u32,
}

impl Device {
    /// Its device cgroup rule: `c 1:3 rwm`.
    pub fn rule(&self) -> String {
        format!("{} {}:{} {}", self.kind, self.major, self.minor, self.perms)
    }
}

/// Which seccomp filter a container gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeccompChoice {
    /// docker's default profile (built in).
    Default,
    Unconfined,
    /// A profile from a file (its text recorded in the container's config).
    Custom(String),
}

/// Everything decided: what the steps carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confinement {
    pub privileged: bool,
    pub caps: CapSet,
    pub no_new_privs: bool,
    pub seccomp: SeccompChoice,
    pub read_only: bool,
    pub tmpfs: Vec<(String, String)>,
    pub devices: Vec<Device>,
    /// `--userns=auto`: the container's id map.
    pub userns: Option<userns::IdMap>,
}

/// runc's masked paths (docker's defaults): hidden from the container.
pub const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// docker's read-only paths: visible but not writable.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device cgroup rules every container gets after `a` is denied: runc's
/// `specconv.AllowedDevices` (mknod of anything, use of the harmless few).
pub const DEFAULT_DEVICE_RULES: [&str; 12] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",    // /dev/null
    "c 1:5 rwm",    // /dev/zero
    "c 1:7 rwm",    // /dev/full
    "c 1:8 rwm",    // /dev/random
    "c 1:9 rwm",    // /dev/urandom
    "c 5:0 rwm",    // /dev/tty
    "c 5:1 rwm",    // /dev/console
    "c 5:2 rwm",    // /dev/ptmx
    "c 136:* rwm",  // /dev/pts/*
    "c 10:200 rwm", // /dev/net/tun
];

fn bad(message: String) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(
        crate::error::EXIT_ENGINE,
        message,
    ))
}

impl Security {
    /// Check the user's options and read what must be read at create time
    /// (a seccomp profile file, `--device` nodes). Errors exit 125, naming the bad value.
    pub fn prepare(mut self) -> anyhow::Result<Security> {
        caps::tweak(&self.cap_add, &self.cap_drop).map_err(bad)?;
        for opt in self.security_opt.clone() {
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            match (key, value) {
                ("no-new-privileges", None | Some("true" | "false")) => {}
                ("seccomp", Some("unconfined")) => {}
                ("seccomp", Some(path)) if !path.is_empty() => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        bad(format!("opening seccomp profile ({path}) failed: {e}"))
                    })?;
                    let profile = seccomp::parse(&text).map_err(|e| bad(format!("{path}: {e}")))?;
                    seccomp::resolve(&profile, seccomp::native_arch(), CapSet::all(), (99, 0))
                        .map_err(|e| bad(format!("{path}: {e}")))?;
                    self.seccomp_profile = Some(text);
                }
                _ => {
                    return Err(bad(format!(
                        "invalid --security-opt: {opt:?} (glassbox knows no-new-privileges[:true|false], seccomp=unconfined and seccomp=PROFILE.json)"
                    )))
                }
            }
        }
        for t in &self.tmpfs {
            let path = t.split(':').next().unwrap_or("");
            if !path.starts_with('/') || path == "/" {
                return Err(bad(format!(
                    "invalid --tmpfs {t:?}: the mount point must be an absolute path other than / (e.g. --tmpfs /tmp or --tmpfs /run:size=64m)"
                )));
            }
        }
        Ok(self)
    }

    /// What the container gets.
    pub fn confinement(&self) -> anyhow::Result<Confinement> {
        let caps = if self.privileged {
            CapSet::all()
        } else {
            caps::tweak(&self.cap_add, &self.cap_drop).map_err(bad)?
        };
        let mut no_new_privs = false;
        let mut seccomp = if self.privileged {
            SeccompChoice::Unconfined
        } else {
            SeccompChoice::Default
        };
        for opt in &self.security_opt {
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            match (key, value) {
                ("no-new-privileges", None | Some("true")) => no_new_privs = true,
                ("no-new-privileges", Some(_)) => no_new_privs = false,
                ("seccomp", Some("unconfined")) => seccomp = SeccompChoice::Unconfined,
                ("seccomp", Some(_)) if !self.privileged => {
                    seccomp =
                        SeccompChoice::Custom(self.seccomp_profile.clone().unwrap_or_default())
                }
                _ => {}
            }
        }
        let tmpfs = self
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();
        Ok(Confinement {
            privileged: self.privileged,
            caps,
            no_new_privs,
            seccomp,
            read_only: self.read_only,
            tmpfs,
            devices: self.devices.clone(),
            userns: self.userns.clone(),
        })
    }
}

/// A `--tmpfs` mount's options as docker makes them: nosuid, nodev and
/// noexec unless the user says suid, dev or exec; `rw` is the default.
pub fn tmpfs_options(user: &str) -> String {
    let mut flags = vec!["nosuid", "nodev", "noexec"];
    let mut rest = Vec::new();
    for o in user.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "exec" => flags.retain(|f| *f != "noexec"),
            "suid" => flags.retain(|f| *f != "nosuid"),
            "dev" => flags.retain(|f| *f != "nodev"),
            "rw" | "nosuid" | "nodev" | "noexec" => {}
            other => rest.push(other),
        }
    }
    flags.into_iter().chain(rest).collect::<Vec<_>>().join(",")
}

/// Resolve `--device HOST[:CONTAINER[:PERMS]]` against the host (stat the node).
pub fn parse_device(spec: &str) -> anyhow::Result<Device> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let parts: Vec<&str> = spec.split(':').collect();
    let is_perms = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    let (host, path, perms) = match parts[..] {
        [h] => (h, h, "rwm"),
        [h, p] if is_perms(p) => (h, h, p),
        [h, c] => (h, c, "rwm"),
        [h, c, p] if is_perms(p) => (h, c, p),
        _ => {
            return Err(bad(format!(
                "invalid --device {spec:?}: use HOST[:CONTAINER[:PERMISSIONS]], permissions made of r, w and m"
            )))
        }
    };
    if !host.starts_with('/') || !path.starts_with('/') {
        return Err(bad(format!(
            "invalid --device {spec:?}: both paths must be absolute"
        )));
    }
    let meta = std::fs::metadata(host).map_err(|e| {
        bad(format!(
            "error gathering device information while adding device {host:?}: {e}"
        ))
    })?;
    let kind = if meta.file_type().is_char_device() {
        'c'
    } else if meta.file_type().is_block_device() {
        'b'
    } else {
        return Err(bad(format!(
            "error gathering device information while adding device {host:?}: not a device node"
        )));
    };
    let rdev = meta.rdev();
    Ok(Device {
        host: host.into(),
        path: path.into(),
        kind,
        major: nix::sys::stat::major(rdev),
        minor: nix::sys::stat::minor(rdev),
        perms: perms.into(),
        mode: meta.mode() & 0o7777,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_options_parse_and_refuse_like_dockers() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let sec = Security {
            security_opt: s(&["no-new-privileges:true", "seccomp=unconfined"]),
            ..Default::default()
        }
        .prepare()
        .unwrap();
        let c = sec.confinement().unwrap();
        assert!(c.no_new_privs);
        assert_eq!(c.seccomp, SeccompChoice::Unconfined);
        let c = Security::default().confinement().unwrap();
        assert!(!c.no_new_privs);
        assert_eq!(c.seccomp, SeccompChoice::Default);
        assert_eq!(c.caps.to_string(), "00000000a80425fb");
        let p = Security {
            privileged: true,
            cap_drop: s(&["ALL"]),
            ..Default::default()
        };
        assert_eq!(p.confinement().unwrap().caps, CapSet::all());
        for bad in [
            &["apparmor=x"][..],
            &["seccomp"],
            &["seccomp=/nonexistent.json"],
        ] {
            let r = Security {
                security_opt: s(bad),
                ..Default::default()
            }
            .prepare();
            assert!(r.is_err(), "{bad:?}");
        }
        let r = Security {
            tmpfs: s(&["tmp"]),
            ..Default::default()
        }
        .prepare();
        assert!(format!("{:#}", r.unwrap_err()).contains("\"tmp\""));
    }

    #[test]
    fn devices_resolve_against_the_host() {
        let d = parse_device("/dev/null:/dev/mynull:rw").unwrap();
        assert_eq!(
            (d.kind, d.major, d.minor, d.path.as_str()),
            ('c', 1, 3, "/dev/mynull")
        );
        assert_eq!(d.rule(), "c 1:3 rw");
        assert_eq!(parse_device("/dev/zero:r").unwrap().path, "/dev/zero");
        assert!(parse_device("/etc/passwd").is_err());
        assert!(parse_device("/dev/null:/x:q").is_err());
    }
}
