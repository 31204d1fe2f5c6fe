//! Linux capabilities: names, docker's default set, and `--cap-add` /
//! `--cap-drop` applied the way docker's daemon does (moby `TweakCapabilities`).

use std::fmt;

/// Every capability the kernel knows, by number (capability.h order).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// docker's default capabilities (moby `oci/caps.DefaultCapabilities`):
/// CapEff 00000000a80425fb.
pub const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A set of capabilities, one bit per number, as /proc/PID/status shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CapSet(pub u64);

impl CapSet {
    /// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap),
    /// so "all" never names one the kernel would refuse.
    pub fn last_cap() -> u32 {
        // The simulated host's kernel knows every capability glassbox names.
        if crate::clock::is_simulated() {
            return NAMES.len() as u32 - 1;
        }
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map(|n| n.min(NAMES.len() as u32 - 1))
            .unwrap_or(NAMES.len() as u32 - 1)
    }
    /// Every capability this kernel knows that glassbox itself may hand on
    /// (its own bounding set: a host that withholds one, as some sandboxes
    /// withhold CAP_SYS_RESOURCE, cannot give it to a container).
    pub fn all() -> CapSet {
        let last = Self::last_cap();
        let known = if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        };
        CapSet(known & Self::own("CapBnd").unwrap_or(u64::MAX))
    }
    /// One of glassbox's own sets from /proc/self/status (CapBnd, CapPrm...).
    pub fn own(field: &str) -> Option<u64> {
        // On the simulated host glassbox holds every capability.
        if crate::clock::is_simulated() {
            return None;
        }
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status.lines().find_map(|l| {
            l.strip_prefix(field)
                .and_then(|v| v.strip_prefix(':'))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
    }
    pub fn docker_default() -> CapSet {
        CapSet::from_names(DOCKER_DEFAULT.iter().copied())
    }
    fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> CapSet {
        CapSet(names.filter_map(number).fold(0, |acc, n| acc | 1 << n))
    }
    pub fn has(self, n: u32) -> bool {
        n < 64 && self.0 & (1 << n) != 0
    }
    pub fn has_name(self, name: &str) -> bool {
        number(name).is_some_and(|n| self.has(n))
    }
    /// The capability names in the set, in number order.
    pub fn names(self) -> Vec<String> {
        (0..NAMES.len() as u32)
            .filter(|n| self.has(*n))
            .map(|n| NAMES[n as usize].to_string())
            .collect()
    }
}

impl fmt::Display for CapSet {
    /// As /proc/PID/status prints it: 16 hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A capability's number from its canonical name (`CAP_NET_ADMIN`).
pub fn number(name: &str) -> Option<u32> {
    NAMES.iter().position(|n| *n == name).map(|n| n as u32)
}

/// docker's spelling rules: case-insensitive, `CAP_` optional, `ALL` special.
pub fn normalize(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The container's capabilities from docker's default set and the user's
/// `--cap-add`/`--cap-drop`; an unknown name is an error naming it.
pub fn tweak(add: &[String], drop: &[String]) -> Result<CapSet, String> {
    let check = |list: &[String], what: &str| -> Result<Vec<String>, String> {
        list.iter()
            .map(|c| {
                let n = normalize(c);
                if n == "ALL" || number(&n).is_some() {
                    Ok(n)
                } else {
                    Err(format!(
                        "invalid {what}: unknown capability: {n:?} (see `man 7 capabilities`; names may omit CAP_, or be ALL)"
                    ))
                }
            })
            .collect()
    };
    let add = check(add, "--cap-add")?;
    let drop = check(drop, "--cap-drop")?;
    let named = |list: &[String]| CapSet::from_names(list.iter().map(|s| s.as_str()));
    let all = |list: &[String]| list.iter().any(|c| c == "ALL");
    Ok(if all(&add) {
        CapSet(CapSet::all().0 & !named(&drop).0)
    } else if all(&drop) {
        CapSet(named(&add).0 & CapSet::all().0)
    } else {
        CapSet((CapSet::docker_default().0 & !named(&drop).0) | (named(&add).0 & CapSet::all().0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_default_set_is_a80425fb() {
        assert_eq!(CapSet::docker_default().to_string(), "00000000a80425fb");
        assert_eq!(tweak(&[], &[]).unwrap(), CapSet::docker_default());
    }

    #[test]
    fn cap_add_and_drop_follow_dockers_rules() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let t = tweak(&s(&["net_admin"]), &s(&["CAP_CHOWN", "Mknod"])).unwrap();
        assert!(
            t.has_name("CAP_NET_ADMIN") && !t.has_name("CAP_CHOWN") && !t.has_name("CAP_MKNOD")
        );
        assert!(t.has_name("CAP_KILL"));
        assert_eq!(tweak(&[], &s(&["all"])).unwrap(), CapSet(0));
        let only = tweak(&s(&["KILL"]), &s(&["ALL"])).unwrap();
        assert_eq!(only.names(), vec!["CAP_KILL"]);
        let most = tweak(&s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
        assert!(!most.has_name("CAP_SYS_ADMIN") && most.has_name("CAP_SYS_MODULE"));
        let err = tweak(&s(&["FLY"]), &[]).unwrap_err();
        assert!(err.contains("\"CAP_FLY\""), "{err}");
    }
}
