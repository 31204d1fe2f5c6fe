//! A simulated process's resource limits (getrlimit/setrlimit): the
//! simulated host's defaults for a container's process (docker's: open
//! files 1048576, an 8 MiB stack, the rest as a stock kernel sets them),
//! with the `--ulimit`s the `set_rlimits` step set; shown in
//! /proc/PID/limits and by ash's `ulimit`.

use crate::resources::Ulimit;

/// RLIM_INFINITY.
pub const INFINITY: u64 = u64::MAX;

/// One limit of the kernel's table, in its order (RLIMIT_CPU = 0 ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// docker's `--ulimit` name.
    pub name: &'static str,
    /// /proc/PID/limits' row name and unit.
    pub row: &'static str,
    pub unit: &'static str,
    pub soft: u64,
    pub hard: u64,
}

const fn r(
    name: &'static str,
    row: &'static str,
    unit: &'static str,
    soft: u64,
    hard: u64,
) -> Rlimit {
    Rlimit {
        name,
        row,
        unit,
        soft,
        hard,
    }
}

/// The simulated host's limits for a container's first process.
pub const DEFAULTS: [Rlimit; 16] = [
    r("cpu", "Max cpu time", "seconds", INFINITY, INFINITY),
    r("fsize", "Max file size", "bytes", INFINITY, INFINITY),
    r("data", "Max data size", "bytes", INFINITY, INFINITY),
    r("stack", "Max stack size", "bytes", 8 << 20, INFINITY),
    r("core", "Max core file size", "bytes", INFINITY, INFINITY),
    r("rss", "Max resident set", "bytes", INFINITY, INFINITY),
    r("nproc", "Max processes", "processes", INFINITY, INFINITY),
    r("nofile", "Max open files", "files", 1_048_576, 1_048_576),
    r("memlock", "Max locked memory", "bytes", 8 << 20, 8 << 20),
    r("as", "Max address space", "bytes", INFINITY, INFINITY),
    r("locks", "Max file locks", "locks", INFINITY, INFINITY),
    r(
        "sigpending",
        "Max pending signals",
        "signals",
        15_391,
        15_391,
    ),
    r("msgqueue", "Max msgqueue size", "bytes", 819_200, 819_200),
    r("nice", "Max nice priority", "", 0, 0),
    r("rtprio", "Max realtime priority", "", 0, 0),
    r("rttime", "Max realtime timeout", "us", INFINITY, INFINITY),
];

/// The table with `set` (`--ulimit`, -1 unlimited) applied.
pub fn table(set: &[Ulimit]) -> Vec<Rlimit> {
    let v = |x: i64| if x < 0 { INFINITY } else { x as u64 };
    DEFAULTS
        .iter()
        .map(|d| match set.iter().rev().find(|u| u.name == d.name) {
            Some(u) => Rlimit {
                soft: v(u.soft),
                hard: v(u.hard),
                ..*d
            },
            None => *d,
        })
        .collect()
}

/// /proc/PID/limits (fs/proc/base.c proc_pid_limits).
pub fn proc_limits(t: &[Rlimit]) -> String {
    let mut out = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    let show = |x: u64| {
        if x == INFINITY {
            "unlimited".to_string()
        } else {
            x.to_string()
        }
    };
    for l in t {
        out.push_str(&format!(
            "{:<25} {:<20} {:<20} ",
            l.row,
            show(l.soft),
            show(l.hard)
        ));
        if !l.unit.is_empty() {
            out.push_str(&format!("{:<10}", l.unit));
        }
        out.push('\n');
    }
    out
}

/// ash's `ulimit` options (busybox 1.35, `ulimit -a`'s order): option,
/// label, the limit's docker name, the unit it shows in (bytes per unit).
pub const ULIMIT_OPTS: &[(char, &str, &str, u64)] = &[
    ('c', "core file size (blocks)", "core", 512),
    ('d', "data seg size (kb)", "data", 1024),
    ('e', "scheduling priority", "nice", 1),
    ('f', "file size (blocks)", "fsize", 512),
    ('i', "pending signals", "sigpending", 1),
    ('l', "max locked memory (kb)", "memlock", 1024),
    ('m', "max memory size (kb)", "rss", 1024),
    ('n', "open files", "nofile", 1),
    ('q', "POSIX message queues (bytes)", "msgqueue", 1),
    ('r', "real-time priority", "rtprio", 1),
    ('s', "stack size (kb)", "stack", 1024),
    ('t', "cpu time (seconds)", "cpu", 1),
    ('u', "max user processes", "nproc", 1),
    ('v', "virtual memory (kb)", "as", 1024),
    ('x', "file locks", "locks", 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimit_lands_in_the_table_and_proc_limits() {
        let t = table(&[Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }]);
        let text = proc_limits(&t);
        assert!(text.starts_with(
            "Limit                     Soft Limit           Hard Limit           Units     \n"
        ));
        assert!(text.contains("\nMax open files            1024                 2048                 files     \n"), "{text}");
        assert!(
            text.contains(
                "\nMax nice priority         0                    0                    \n"
            ),
            "{text}"
        );
        assert!(text.contains("\nMax stack size            8388608              unlimited            bytes     \n"), "{text}");
    }
}
