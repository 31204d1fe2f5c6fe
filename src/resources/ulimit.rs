//! `--ulimit NAME=SOFT[:HARD]` (go-units ParseUlimit): setrlimit(2) in the
//! container's first process. Without CAP_SYS_RESOURCE no process may raise
//! a hard limit above its own, so a value above glassbox's hard limit is
//! clamped to it (and said so) instead of failing the start, as podman does.

use serde::{Deserialize, Serialize};

/// The names docker accepts, with their RLIMIT_* resource numbers.
pub const NAMES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// One limit; -1 is unlimited (RLIM_INFINITY), as docker writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Soft")]
    pub soft: i64,
    #[serde(rename = "Hard")]
    pub hard: i64,
}

impl Ulimit {
    pub fn resource(&self) -> Option<libc::__rlimit_resource_t> {
        NAMES.iter().find(|(n, _)| *n == self.name).map(|(_, r)| *r)
    }
    /// The `ulimit` option of busybox/bash that shows it (`-n` for nofile).
    pub fn shell_option(&self) -> &'static str {
        match self.name.as_str() {
            "core" => "-c",
            "cpu" => "-t",
            "data" => "-d",
            "fsize" => "-f",
            "locks" => "-x",
            "memlock" => "-l",
            "msgqueue" => "-q",
            "nice" => "-e",
            "nofile" => "-n",
            "nproc" => "-u",
            "rss" => "-m",
            "rtprio" => "-r",
            "rttime" => "-R",
            "sigpending" => "-i",
            _ => "-s",
        }
    }
}

/// `nofile=1024:2048`, `nproc=64` (hard = soft), `core=-1`.
pub fn parse(s: &str) -> Result<Ulimit, String> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !NAMES.iter().any(|(n, _)| *n == name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let mut parts = values.splitn(3, ':');
    let num = |v: Option<&str>| -> Result<Option<i64>, String> {
        match v {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("invalid ulimit argument: {s}")),
        }
    };
    let soft = num(parts.next())?.ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    let hard = num(parts.next())?.unwrap_or(soft);
    if parts.next().is_some() {
        return Err(format!(
            "too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
        ));
    }
    if soft < -1 || hard < -1 {
        return Err(format!("invalid ulimit argument: {s}"));
    }
    let (s_cmp, h_cmp) = (soft as u64, hard as u64); // -1 (unlimited) is the largest
    if s_cmp > h_cmp {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// Clamp each limit to `host_hard(resource)` (glassbox's own hard limit)
/// when glassbox may not raise it (`can_raise`: CAP_SYS_RESOURCE); returns
/// the limits to set and a warning for each one changed.
pub fn clamp(
    limits: &[Ulimit],
    can_raise: bool,
    host_hard: impl Fn(libc::__rlimit_resource_t) -> Option<u64>,
) -> (Vec<Ulimit>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for l in limits {
        let mut l = l.clone();
        if let (false, Some(res)) = (can_raise, l.resource()) {
            if let Some(max) = host_hard(res).filter(|m| *m != libc::RLIM_INFINITY) {
                let max = max.min(i64::MAX as u64) as i64;
                let over = |v: i64| v == -1 || v > max;
                if over(l.hard) {
                    let asked = format!("{}:{}", l.soft, l.hard);
                    l.hard = max;
                    if over(l.soft) {
                        l.soft = max;
                    }
                    warnings.push(format!(
                        "--ulimit {}={asked} is above this host's hard limit {max} and glassbox lacks CAP_SYS_RESOURCE to raise it: using {}={}:{}",
                        l.name, l.name, l.soft, l.hard
                    ));
                }
            }
        }
        out.push(l);
    }
    (out, warnings)
}

/// glassbox's own hard limit for `res`.
pub fn own_hard(res: libc::__rlimit_resource_t) -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    (unsafe { libc::getrlimit(res, &mut r) } == 0).then_some(r.rlim_max)
}

/// Whether glassbox holds CAP_SYS_RESOURCE (bit 24 of CapEff).
pub fn has_cap_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

/// setrlimit(2) of each limit in this process (the container's child).
pub fn apply(limits: &[Ulimit]) -> Result<(), String> {
    for l in limits {
        let res = l
            .resource()
            .ok_or_else(|| format!("unknown ulimit {}", l.name))?;
        let v = |x: i64| {
            if x < 0 {
                libc::RLIM_INFINITY
            } else {
                x as u64
            }
        };
        let r = libc::rlimit {
            rlim_cur: v(l.soft),
            rlim_max: v(l.hard),
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(res, &r) } != 0 {
            return Err(format!(
                "setrlimit {} {}:{}: {}",
                l.name,
                l.soft,
                l.hard,
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go_units() {
        assert_eq!(
            parse("nofile=1024:2048").unwrap(),
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }
        );
        assert_eq!(parse("nproc=64").unwrap().hard, 64);
        assert_eq!(parse("core=-1").unwrap().soft, -1);
        assert_eq!(
            parse("nofile=2048:1024").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"
        );
        assert_eq!(parse("files=1").unwrap_err(), "invalid ulimit type: files");
        assert_eq!(
            parse("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert!(parse("nofile=x").is_err());
    }

    #[test]
    fn clamps_to_the_hard_limit_without_cap_sys_resource() {
        let asked = [
            parse("nofile=1024:99999").unwrap(),
            parse("nproc=10").unwrap(),
        ];
        let (got, warn) = clamp(&asked, false, |_| Some(20000));
        assert_eq!(got[0].hard, 20000);
        assert_eq!(got[0].soft, 1024);
        assert_eq!(got[1].hard, 10);
        assert_eq!(warn.len(), 1);
        assert!(warn[0].contains("20000"), "{}", warn[0]);
        let (got, warn) = clamp(&asked, true, |_| Some(20000));
        assert_eq!(got[0].hard, 99999);
        assert!(warn.is_empty());
        let (got, _) = clamp(&[parse("core=-1").unwrap()], false, |_| Some(0));
        assert_eq!((got[0].soft, got[0].hard), (0, 0));
    }
}
