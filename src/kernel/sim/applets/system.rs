//! System applets: date, uname, uptime, free, mount, hostname, id, env,
//! whoami, nproc, true, false, pwd, test/[, sh, busybox — their figures come
//! from the simulated model (clock, mount table, process table).

use super::{bad_opt, getopt, has, val};
use crate::kernel::sim::sh::exec::{Flavor, Sh};
use crate::kernel::sim::sh::world::Proc;
use crate::kernel::sim::sh::Flow;

type R = Result<i32, Flow>;

/// The simulated host's memory and CPUs.
pub const MEM_BYTES: u64 = 4 * 1024 * 1024 * 1024;
pub const NPROC: usize = 2;
/// The simulated kernel's release and version (`uname -r`, `uname -v`).
pub const KERNEL_RELEASE: &str = "6.1.0-glassbox-sim";
pub const KERNEL_VERSION: &str = "#1 SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:00 UTC 2026";
/// The simulated host booted an hour before the simulated epoch.
pub const BOOT_SECS: u64 = crate::kernel::sim::SIM_EPOCH - 3600;

pub struct Mem {
    pub total: u64,
    pub used: u64,
    pub free: u64,
    pub shared: u64,
    pub buffers: u64,
    pub cached: u64,
    pub available: u64,
}

/// Memory figures for a host running `nprocs` simulated processes.
pub fn mem_model(nprocs: usize) -> Mem {
    let used = 512 * 1024 * 1024 + nprocs as u64 * 1328 * 1024;
    let shared = 8 * 1024 * 1024;
    let buffers = 64 * 1024 * 1024;
    let cached = 1024 * 1024 * 1024;
    let free = MEM_BYTES - used - buffers - cached;
    Mem {
        total: MEM_BYTES,
        used,
        free,
        shared,
        buffers,
        cached,
        available: free + cached,
    }
}

pub fn true_(_p: &mut Proc, _sh: &mut Sh, _a: &[String]) -> R {
    Ok(0)
}

pub fn false_(_p: &mut Proc, _sh: &mut Sh, _a: &[String]) -> R {
    Ok(1)
}

pub fn pwd(p: &mut Proc, sh: &mut Sh, _a: &[String]) -> R {
    p.out(format!("{}\n", sh.cwd))?;
    Ok(0)
}

pub fn whoami(p: &mut Proc, _sh: &mut Sh, _a: &[String]) -> R {
    let n = p.world().user_name();
    p.out(format!("{n}\n"))?;
    Ok(0)
}

pub fn nproc(p: &mut Proc, _sh: &mut Sh, _a: &[String]) -> R {
    p.out(format!("{NPROC}\n"))?;
    Ok(0)
}

pub(crate) fn parse_date(s: &str) -> Option<i64> {
    if let Some(n) = s.strip_prefix('@') {
        return n.parse().ok();
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

pub fn date(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, rest) = match getopt(&argv[1..], "uRI", "dDr") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "date", c),
    };
    let mut t = (p.world().clock_ms / 1000) as i64;
    if let Some(d) = val(&opts, 'd') {
        match parse_date(d) {
            Some(x) => t = x,
            None => {
                p.err(format!("date: invalid date '{d}'\n"))?;
                return Ok(1);
            }
        }
    }
    let Some(dt) = chrono::DateTime::from_timestamp(t, 0) else {
        return Ok(1);
    };
    let fmt = match rest.first() {
        Some(f) if f.starts_with('+') => f[1..].replace("%N", "000000000"),
        Some(f) => {
            p.err(format!(
                "date: can't set date to '{f}': the simulated clock is read-only\n"
            ))?;
            return Ok(1);
        }
        None if has(&opts, 'R') => "%a, %d %b %Y %H:%M:%S +0000".into(),
        None if has(&opts, 'I') => "%Y-%m-%d".into(),
        None => "%a %b %e %H:%M:%S UTC %Y".into(),
    };
    let mut out = String::new();
    use std::fmt::Write;
    if write!(out, "{}", dt.format(&fmt)).is_err() {
        out = fmt.clone();
    }
    p.out(format!("{out}\n"))?;
    Ok(0)
}

pub fn uname(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, _) = match getopt(&argv[1..], "asnrvmpio", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "uname", c),
    };
    let host = p.world().hostname.clone();
    let all = has(&opts, 'a');
    let mut parts = Vec::new();
    let want = |c| all || has(&opts, c);
    if want('s') || opts.is_empty() {
        parts.push("Linux".to_string());
    }
    if want('n') {
        parts.push(host);
    }
    if want('r') {
        parts.push(KERNEL_RELEASE.into());
    }
    if want('v') {
        parts.push(KERNEL_VERSION.into());
    }
    if want('m') {
        parts.push("x86_64".into());
    }
    if has(&opts, 'p') || has(&opts, 'i') {
        parts.push("unknown".into());
    }
    if want('o') {
        parts.push("GNU/Linux".into());
    }
    p.out(format!("{}\n", parts.join(" ")))?;
    Ok(0)
}

pub fn uptime(p: &mut Proc, _sh: &mut Sh, _a: &[String]) -> R {
    let now = p.world().clock_ms / 1000;
    let up = now.saturating_sub(BOOT_SECS);
    let dt = chrono::DateTime::from_timestamp(now as i64, 0).unwrap_or_default();
    let (d, h, m) = (up / 86400, (up % 86400) / 3600, (up % 3600) / 60);
    let mut s = format!(" {} up ", dt.format("%H:%M:%S"));
    if d > 0 {
        s.push_str(&format!("{d} day{}, ", if d == 1 { "" } else { "s" }));
    }
    if h > 0 {
        s.push_str(&format!("{h}:{m:02}, "));
    } else {
        s.push_str(&format!("{m} min, "));
    }
    s.push_str(" 0 users,  load average: 0.00, 0.00, 0.00\n");
    p.out(s)?;
    Ok(0)
}

pub fn free(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, _) = match getopt(&argv[1..], "bkmgh", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "free", c),
    };
    let n = p
        .world()
        .procs
        .values()
        .filter(|e| e.exit.is_none())
        .count();
    let m = mem_model(n);
    let f = |b: u64| -> String {
        if has(&opts, 'h') {
            super::files::human(b)
        } else if has(&opts, 'b') {
            b.to_string()
        } else if has(&opts, 'm') {
            (b >> 20).to_string()
        } else if has(&opts, 'g') {
            (b >> 30).to_string()
        } else {
            (b >> 10).to_string()
        }
    };
    let out = format!(
        "              total        used        free      shared  buff/cache   available\nMem:{:>15}{:>12}{:>12}{:>12}{:>12}{:>12}\nSwap:{:>14}{:>12}{:>12}\n",
        f(m.total), f(m.used), f(m.free), f(m.shared), f(m.buffers + m.cached), f(m.available), f(0), f(0), f(0)
    );
    p.out(out)?;
    Ok(0)
}

pub fn mount(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, operands) = match super::getopt(&argv[1..], "arwnfvi", "to") {
        Ok(x) => x,
        Err(c) => return super::bad_opt(p, "mount", c),
    };
    let given = |c| super::has(&opts, c);
    if operands.len() == 1 && !given('a') && !given('t') && !given('o') {
        // one operand is looked up in /etc/fstab, which the image lacks
        let cwd = sh.cwd.clone();
        if p.world().fs.read_file("/etc/fstab", &cwd).is_err() {
            p.err("mount: can't read '/etc/fstab': No such file or directory\n")?;
            return Ok(1);
        }
    }
    if !operands.is_empty() || super::has(&opts, 'a') || super::val(&opts, 'o').is_some() {
        // the container's process lacks CAP_SYS_ADMIN: mount(2) says EPERM
        p.err("mount: permission denied (are you root?)\n")?;
        return Ok(1);
    }
    let only = super::val(&opts, 't').map(str::to_string);
    // busybox reads /proc/mounts: the same table, so the same rw/ro.
    let table = crate::kernel::sim::mounttab::mounts(&crate::kernel::sim::mounttab::rows(
        &p.world().mounts,
    ));
    let mut out = String::new();
    for line in table.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let [src, target, fstype, opts, ..] = f[..] else {
            continue;
        };
        if only.as_ref().is_some_and(|t| t != fstype) {
            continue;
        }
        out.push_str(&format!("{src} on {target} type {fstype} ({opts})\n"));
    }
    p.out(out)?;
    Ok(0)
}

/// `tty`: the terminal on stdin. A simulated container's terminal is its
/// own /dev/pts/0 (never a host terminal).
pub fn tty(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let silent = argv[1..].iter().any(|a| a == "-s");
    let on_tty = matches!(p.fd(0), crate::kernel::sim::sh::world::Fd::Tty(_)) && p.world().is_tty();
    if !silent {
        p.out(if on_tty {
            "/dev/pts/0\n"
        } else {
            "not a tty\n"
        })?;
    }
    Ok(if on_tty { 0 } else { 1 })
}

pub fn hostname(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    if argv[1..].iter().any(|a| a == "-i") {
        return super::net::hostname_i(p);
    }
    match argv[1..].iter().find(|a| !a.starts_with('-')) {
        Some(name) => {
            p.w().hostname = name.clone();
            Ok(0)
        }
        None => {
            let h = p.world().hostname.clone();
            let h = if argv.iter().any(|a| a == "-s") {
                h.split('.').next().unwrap_or("").to_string()
            } else {
                h
            };
            p.out(format!("{h}\n"))?;
            Ok(0)
        }
    }
}

pub fn id(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, rest) = match getopt(&argv[1..], "ugGnr", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "id", c),
    };
    if let Some(u) = rest.first() {
        p.err(format!("id: unknown user {u}\n"))?;
        return Ok(1);
    }
    let (uid, gid) = (p.world().uid, p.world().gid);
    let fs = &p.world().fs;
    let uname = super::db_name(fs, "/etc/passwd", uid);
    let gname = super::db_name(fs, "/etc/group", gid);
    let one = |id: u32, name: &Option<String>| match name {
        Some(n) => format!("{id}({n})"),
        None => id.to_string(),
    };
    let out = if has(&opts, 'u') || has(&opts, 'g') || has(&opts, 'G') {
        let (id, name) = if has(&opts, 'u') {
            (uid, uname)
        } else {
            (gid, gname)
        };
        if has(&opts, 'n') {
            name.unwrap_or_else(|| id.to_string())
        } else {
            id.to_string()
        }
    } else {
        // no supplementary groups in the container, so busybox prints none
        format!("uid={} gid={}", one(uid, &uname), one(gid, &gname))
    };
    p.out(format!("{out}\n"))?;
    Ok(0)
}

pub fn env(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let args = &argv[1..];
    let mut vars = sh.environ();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "-i" || a == "-" {
            vars.clear();
        } else if let Some(n) = a.strip_prefix("-u") {
            let n = if n.is_empty() {
                i += 1;
                args.get(i).cloned().unwrap_or_default()
            } else {
                n.to_string()
            };
            vars.retain(|(k, _)| *k != n);
        } else if let Some((k, v)) = a.split_once('=') {
            match vars.iter_mut().find(|(x, _)| x == k) {
                Some(e) => e.1 = v.to_string(),
                None => vars.push((k.to_string(), v.to_string())),
            }
        } else {
            break;
        }
        i += 1;
    }
    if i >= args.len() {
        let mut out = String::new();
        for (k, v) in &vars {
            out.push_str(&format!("{k}={v}\n"));
        }
        p.out(out)?;
        return Ok(0);
    }
    let mut sub = sh.clone();
    sub.vars.retain(|v| v.name.starts_with('\0'));
    for (k, v) in &vars {
        sub.set(k, v);
        sub.export(k);
    }
    let name = &args[i];
    let pv = sub
        .get("PATH")
        .unwrap_or_else(|| crate::kernel::sim::shell::DEFAULT_PATH.into());
    let found = if name.contains('/') {
        p.world().fs.is_executable(name, &sh.cwd)
    } else {
        p.world().fs.find_in_path(name, &pv).is_some()
    };
    if !found {
        p.err(format!(
            "env: can't execute '{name}': No such file or directory\n"
        ))?;
        return Ok(127);
    }
    sub.external(p, &args[i..])
}

/// test / [ : POSIX test with busybox's messages.
pub fn test(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let prefix = if p.applet.is_none() {
        sh.prefix()
    } else {
        format!("{}: ", argv[0])
    };
    let mut a: Vec<String> = argv[1..].to_vec();
    if argv[0] == "[" {
        if a.last().map(|s| s.as_str()) != Some("]") {
            p.err(format!("{prefix}missing ]\n"))?;
            return Ok(2);
        }
        a.pop();
    }
    let cwd = sh.cwd.clone();
    let mut t = Test {
        a: &a,
        i: 0,
        p,
        cwd: &cwd,
    };
    if a.is_empty() {
        return Ok(1);
    }
    match t.or() {
        Ok(v) if t.i == a.len() => Ok(!v as i32),
        Ok(_) => {
            let x = a[t.i].clone();
            p.err(format!("{prefix}{x}: unknown operand\n"))?;
            Ok(2)
        }
        Err(m) => {
            p.err(format!("{prefix}{m}\n"))?;
            Ok(2)
        }
    }
}

struct Test<'a, 'b, 'e> {
    a: &'a [String],
    i: usize,
    p: &'b mut Proc<'e>,
    cwd: &'a str,
}

impl Test<'_, '_, '_> {
    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.a.get(self.i).map(|s| s == "-o") == Some(true) {
            self.i += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.a.get(self.i).map(|s| s == "-a") == Some(true) {
            self.i += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<bool, String> {
        if self.a.get(self.i).map(|s| s == "!") == Some(true) && self.i + 1 < self.a.len() {
            self.i += 1;
            return Ok(!self.not()?);
        }
        self.prim()
    }
    fn num(s: &str) -> Result<i64, String> {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{s}: bad number"))
    }
    fn prim(&mut self) -> Result<bool, String> {
        let rest = self.a.len() - self.i;
        let Some(x) = self.a.get(self.i).cloned() else {
            return Err("argument expected".into());
        };
        if x == "(" && rest >= 3 {
            self.i += 1;
            let v = self.or()?;
            if self.a.get(self.i).map(|s| s == ")") != Some(true) {
                return Err("missing )".into());
            }
            self.i += 1;
            return Ok(v);
        }
        // binary
        if rest >= 3 {
            let op = self.a[self.i + 1].clone();
            let y = self.a[self.i + 2].clone();
            let r = match op.as_str() {
                "=" | "==" => Some(x == y),
                "!=" => Some(x != y),
                "<" => Some(x < y),
                ">" => Some(x > y),
                "-eq" => Some(Self::num(&x)? == Self::num(&y)?),
                "-ne" => Some(Self::num(&x)? != Self::num(&y)?),
                "-lt" => Some(Self::num(&x)? < Self::num(&y)?),
                "-le" => Some(Self::num(&x)? <= Self::num(&y)?),
                "-gt" => Some(Self::num(&x)? > Self::num(&y)?),
                "-ge" => Some(Self::num(&x)? >= Self::num(&y)?),
                "-nt" | "-ot" => {
                    let fs = &self.p.world().fs;
                    let m = |f: &str| fs.lookup(f, self.cwd).map(|(a, _)| fs.mtime_of(&a));
                    let (a, b) = (m(&x), m(&y));
                    Some(if op == "-nt" {
                        a > b
                    } else {
                        a < b && a.is_some()
                    })
                }
                "-ef" => {
                    let fs = &self.p.world().fs;
                    Some(
                        fs.resolve(&x, self.cwd, true).ok() == fs.resolve(&y, self.cwd, true).ok()
                            && fs.exists(&x, self.cwd),
                    )
                }
                _ => None,
            };
            if let Some(r) = r {
                self.i += 3;
                return Ok(r);
            }
        }
        if x.len() == 2 && x.starts_with('-') && rest >= 2 && !["-a", "-o"].contains(&x.as_str()) {
            let f = self.a[self.i + 1].clone();
            let fs = &self.p.world().fs;
            use crate::kernel::sim::fs::Node;
            let node = fs.lookup(&f, self.cwd).map(|(a, n)| (a, n.clone()));
            let r = match x.as_bytes()[1] {
                b'z' => f.is_empty(),
                b'n' => !f.is_empty(),
                b'e' | b'a' => node.is_some(),
                b'f' => matches!(node, Some((_, Node::File { .. }))),
                b'd' => matches!(node, Some((_, Node::Dir { .. }))),
                b'c' => matches!(node, Some((_, Node::Other { kind: 'c' }))),
                b'b' => matches!(node, Some((_, Node::Other { kind: 'b' }))),
                b'p' => matches!(node, Some((_, Node::Other { kind: 'p' }))),
                b'h' | b'L' => matches!(fs.lstat(&f, self.cwd), Some((_, Node::Symlink { .. }))),
                b's' => node.map(|(a, _)| fs.size_of(&a) > 0).unwrap_or(false),
                b'r' | b'w' => node.is_some(),
                b'x' => node
                    .map(|(_, n)| n.is_dir() || n.mode() & 0o111 != 0)
                    .unwrap_or(false),
                b'u' => node.map(|(_, n)| n.mode() & 0o4000 != 0).unwrap_or(false),
                b'g' => node.map(|(_, n)| n.mode() & 0o2000 != 0).unwrap_or(false),
                b'k' => node.map(|(_, n)| n.mode() & 0o1000 != 0).unwrap_or(false),
                b'S' => false,
                b't' => false,
                _ => return Err(format!("{x}: unknown operand")),
            };
            self.i += 2;
            return Ok(r);
        }
        if rest == 2 && x.starts_with('-') {
            return Err(format!("{x}: unknown operand"));
        }
        if rest >= 2 && self.a[self.i + 1].starts_with('-') && rest == 2 {
            return Err(format!("{}: argument expected", self.a[self.i + 1]));
        }
        self.i += 1;
        if rest == 2 {
            // `test 1 -gt`
            return Err(format!("{}: argument expected", self.a[self.i]));
        }
        Ok(!x.is_empty())
    }
}

/// Run a shell: `sh -c CMD [ARG0 ARGS]`, `sh FILE ARGS`, or `sh` (reads stdin).
pub fn sh_main(p: &mut Proc, parent: &Sh, path: &str, argv: &[String]) -> R {
    let invoked = argv.first().cloned().unwrap_or_else(|| "sh".into());
    let real = p
        .world()
        .fs
        .lookup(path, &parent.cwd)
        .map(|(abs, _)| crate::kernel::sim::fs::basename(&abs).to_string())
        .unwrap_or_default();
    let name = if real == "busybox" || real.is_empty() || !super::SHELLS.contains(&real.as_str()) {
        crate::kernel::sim::fs::basename(&invoked).to_string()
    } else {
        real
    };
    let flavor = match name.as_str() {
        "dash" => Flavor::Dash,
        "bash" => Flavor::Bash,
        _ => Flavor::Ash,
    };
    let mut cmd_c = false;
    let mut iflag = false;
    let mut errexit = false;
    let mut xtrace = false;
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" || a == "-" {
            i += 1;
            break;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            for c in a[1..].chars() {
                match c {
                    'c' => cmd_c = true,
                    'i' => iflag = a.starts_with('-'),
                    'e' => errexit = a.starts_with('-'),
                    'x' => xtrace = a.starts_with('-'),
                    _ => {}
                }
            }
            i += 1;
            continue;
        }
        break;
    }
    let mut arg0 = invoked.clone();
    let mut pos = Vec::new();
    let script = if cmd_c {
        let Some(s) = argv.get(i) else {
            p.err(format!(
                "{}: -c requires an argument\n",
                crate::kernel::sim::fs::basename(&invoked)
            ))?;
            return Ok(2);
        };
        if let Some(a0) = argv.get(i + 1) {
            arg0 = a0.clone();
            pos = argv[i + 2..].to_vec();
        }
        s.clone()
    } else if let Some(file) = argv.get(i) {
        match p.world().fs.read_file(file, &parent.cwd) {
            Ok(d) => {
                arg0 = file.clone();
                pos = argv[i + 1..].to_vec();
                String::from_utf8_lossy(&d).into_owned()
            }
            Err(e) => {
                p.err(format!("{invoked}: can't open '{file}': {e}\n"))?;
                return Ok(127);
            }
        }
    } else {
        // No script: commands come from stdin (see `Sh::run_stdin`).
        String::new()
    };
    let from_stdin = !cmd_c && argv.get(i).is_none();
    let mut sh = Sh::new(arg0, pos, &parent.environ(), parent.cwd.clone(), flavor);
    // ash exports SHLVL (one deeper) and PWD at start-up
    let lvl = parent
        .get("SHLVL")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        + 1;
    sh.set("SHLVL", &lvl.to_string());
    sh.export("SHLVL");
    if sh.get("PWD").is_none() {
        sh.set("PWD", &parent.cwd);
        sh.export("PWD");
    }
    sh.spawner = parent.spawner.clone();
    sh.set("\0pid", &p.pid.to_string());
    sh.errexit = errexit;
    sh.exec_ok = cmd_c;
    sh.dash_c = cmd_c;
    sh.xtrace = xtrace;
    let r = if from_stdin {
        let on_tty = |p: &Proc, n: usize| {
            matches!(p.fd(n), crate::kernel::sim::sh::world::Fd::Tty(_)) && p.world().is_tty()
        };
        sh.interactive = iflag || (on_tty(p, 0) && on_tty(p, 2));
        if p.world().uid != 0 {
            sh.set("\0uid", &p.world().uid.to_string());
        }
        sh.run_stdin(p)
    } else {
        sh.run_script(p, &script)
    };
    crate::kernel::sim::sh::exec::finish_script(&mut sh, p, r)
}

pub fn sh(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let parent = sh.clone();
    sh_main(p, &parent, &argv[0], argv)
}

pub fn busybox(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    match argv.get(1).map(String::as_str) {
        None | Some("--help") => {
            p.out("BusyBox (glassbox simulation) multi-call binary.\n\nUsage: busybox [function [arguments]...]\n")?;
            Ok(0)
        }
        Some("--list") => {
            let mut out = String::new();
            for n in super::names() {
                out.push_str(n);
                out.push('\n');
            }
            p.out(out)?;
            Ok(0)
        }
        Some(applet) => {
            let base = crate::kernel::sim::fs::basename(applet).to_string();
            super::run(p, sh, &base, &argv[0], &argv[1..])
        }
    }
}
