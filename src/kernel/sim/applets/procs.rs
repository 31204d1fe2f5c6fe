//! Process applets: ps, top, kill, sleep — all over the simulated process
//! table and its virtual clock.

use super::{getopt, has, parse_signal, signal_name, val};
use crate::kernel::sim::sh::exec::Sh;
use crate::kernel::sim::sh::world::{PEntry, Proc, St};
use crate::kernel::sim::sh::Flow;

type R = Result<i32, Flow>;

/// The live processes, by pid.
fn live(p: &Proc) -> Vec<PEntry> {
    p.world()
        .procs
        .values()
        .filter(|e| e.state != St::Done && e.exit.is_none())
        .cloned()
        .collect()
}

/// The program's name (`/proc/PID/comm`): `{ps} sh -c ...` is ps run by
/// the shell without an exec (see [`crate::kernel::sim::sh::exec`]).
fn comm(cmdline: &str) -> String {
    if let Some(rest) = cmdline.strip_prefix('{') {
        if let Some((name, _)) = rest.split_once("} ") {
            return name.to_string();
        }
    }
    let first = cmdline.split(' ').next().unwrap_or("");
    first
        .rsplit('/')
        .next()
        .unwrap_or(first)
        .chars()
        .take(15)
        .collect()
}

fn cpu_time(e: &PEntry, now: u64) -> String {
    // the simulator's programs use no measurable CPU
    let _ = (e, now);
    "0:00".into()
}

pub fn ps(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, _) = match getopt(&argv[1..], "AaefwlT", "o") {
        Ok(x) => x,
        Err(c) => {
            p.err(format!("ps: invalid option -- '{c}'\n"))?;
            return Ok(1);
        }
    };
    let now = p.world().clock_ms;
    let procs = live(p);
    let mut out = String::new();
    if let Some(cols) = val(&opts, 'o') {
        let cols: Vec<String> = cols
            .split(',')
            .map(|c| c.split('=').next().unwrap_or(c).to_string())
            .collect();
        let spec = |c: &str| -> Option<(&'static str, usize)> {
            Some(match c {
                "pid" => ("PID", 5),
                "ppid" => ("PPID", 5),
                "pgid" => ("PGID", 5),
                "sid" => ("SID", 5),
                "user" | "ruser" => ("USER", 8),
                "group" | "rgroup" => ("GROUP", 8),
                "comm" => ("COMMAND", 16),
                "args" => ("COMMAND", 0),
                "vsz" => ("VSZ", 6),
                "rss" => ("RSS", 6),
                "stat" => ("STAT", 4),
                "tty" => ("TT", 6),
                "nice" => ("NI", 5),
                "time" => ("TIME", 6),
                "etime" => ("ELAPSED", 7),
                _ => return None,
            })
        };
        for c in &cols {
            if spec(c).is_none() {
                p.err(format!("ps: bad -o argument '{c}', supported arguments: user,group,comm,args,pid,ppid,pgid,etime,nice,rgroup,ruser,time,tty,vsz,sid,stat,rss\n"))?;
                return Ok(1);
            }
        }
        let row = |vals: Vec<String>| -> String {
            let mut s = String::new();
            for (k, (c, v)) in cols.iter().zip(vals).enumerate() {
                let (_, w) = spec(c).unwrap();
                let last = k + 1 == cols.len();
                let numeric = matches!(
                    c.as_str(),
                    "pid" | "ppid" | "pgid" | "sid" | "vsz" | "rss" | "nice" | "time" | "etime"
                );
                if k > 0 {
                    s.push(' ');
                }
                if last && !numeric {
                    s.push_str(&v);
                } else if numeric {
                    s.push_str(&format!("{v:>w$}"));
                } else {
                    s.push_str(&format!("{v:<w$}"));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut hdr = String::new();
        for (k, c) in cols.iter().enumerate() {
            let (h, w) = spec(c).unwrap();
            if k > 0 {
                hdr.push(' ');
            }
            hdr.push_str(&format!("{h:<w$}"));
        }
        out.push_str(hdr.trim_end());
        out.push('\n');
        for e in &procs {
            let vals = cols
                .iter()
                .map(|c| match c.as_str() {
                    "pid" | "pgid" | "sid" => e.pid.to_string(),
                    "ppid" => e.ppid.to_string(),
                    "user" | "ruser" | "group" | "rgroup" => e.user.chars().take(8).collect(),
                    "comm" => comm(&e.cmdline),
                    "args" => e.cmdline.clone(),
                    "vsz" => "1328".into(),
                    "rss" => "4".into(),
                    "stat" => "S".into(),
                    "tty" => "?".into(),
                    "nice" => "0".into(),
                    "time" => cpu_time(e, now),
                    _ => {
                        let s = (now - e.start_ms.min(now)) / 1000;
                        format!("{}:{:02}", s / 60, s % 60)
                    }
                })
                .collect();
            out.push_str(&row(vals));
        }
    } else {
        // busybox built without FEATURE_PS_TIME (Debian's, which the
        // built-in image carries) has no TIME column
        out.push_str("PID   USER     COMMAND\n");
        for e in &procs {
            let user: String = e.user.chars().take(8).collect();
            out.push_str(&format!("{:>5} {:<8} {}\n", e.pid, user, e.cmdline));
        }
    }
    p.out(out)?;
    Ok(0)
}

pub fn top(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, _) = match getopt(&argv[1..], "bHmSs", "ndp") {
        Ok(x) => x,
        Err(c) => {
            p.err(format!("top: invalid option -- '{c}'\n"))?;
            return Ok(1);
        }
    };
    let iterations: Option<u64> = val(&opts, 'n').and_then(|n| n.parse().ok());
    let delay_ms: u64 = val(&opts, 'd')
        .and_then(|d| d.parse::<f64>().ok())
        .map(|d| (d * 1000.0) as u64)
        .unwrap_or(5000);
    let _ = has(&opts, 'b');
    let me = p.applet.unwrap_or(p.pid);
    let mut k = 0;
    loop {
        let procs = live(p);
        let m = super::system::mem_model(procs.len());
        let mut out = format!(
            "Mem: {}K used, {}K free, {}K shrd, {}K buff, {}K cached\n",
            m.used / 1024,
            m.free / 1024,
            m.shared / 1024,
            m.buffers / 1024,
            m.cached / 1024
        );
        out.push_str("CPU:   0% usr   0% sys   0% nic 100% idle   0% io   0% irq   0% sirq\n");
        let last_pid = procs.iter().map(|e| e.pid).max().unwrap_or(1);
        out.push_str(&format!(
            "Load average: 0.00 0.00 0.00 1/{} {}\n",
            procs.len(),
            last_pid
        ));
        out.push_str("  PID  PPID USER     STAT   VSZ %VSZ %CPU COMMAND\n");
        for e in &procs {
            let stat = if e.pid == me { "R" } else { "S" };
            let user: String = e.user.chars().take(8).collect();
            out.push_str(&format!(
                "{:>5} {:>5} {:<8} {:<4} {:>5} {:>3}% {:>3}% {}\n",
                e.pid, e.ppid, user, stat, 1328, 0, 0, e.cmdline
            ));
        }
        p.out(out)?;
        k += 1;
        if iterations.map(|n| k >= n).unwrap_or(false) {
            return Ok(0);
        }
        p.out("\n")?;
        let t = p.world().clock_ms + delay_ms.max(1);
        if let Some(sig) = p.sleep_until(t)? {
            let _ = sh;
            return Ok(128 + sig);
        }
    }
}

pub fn kill(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let prefix = if p.applet.is_none() {
        sh.prefix()
    } else {
        "kill: ".to_string()
    };
    let args = &argv[1..];
    if args.first().map(|a| a == "-l" || a == "-L") == Some(true) {
        if let Some(x) = args.get(1) {
            match x.parse::<i32>() {
                Ok(n) => {
                    let n = if n > 128 { n - 128 } else { n };
                    p.out(format!("{}\n", signal_name(n)))?;
                }
                Err(_) => match parse_signal(x) {
                    Some(n) => p.out(format!("{n}\n"))?,
                    None => {
                        p.err(format!("{prefix}bad signal name '{x}'\n"))?;
                        return Ok(1);
                    }
                },
            }
            return Ok(0);
        }
        let mut out = String::new();
        for n in 1..=31 {
            out.push_str(&format!("{n:2}) {}\n", signal_name(n)));
        }
        p.out(out)?;
        return Ok(0);
    }
    let mut sig = 15;
    let mut i = 0;
    if let Some(a) = args.first() {
        if a == "-s" || a == "-n" {
            let Some(s) = args.get(1).and_then(|s| parse_signal(s)) else {
                p.err(format!(
                    "{prefix}bad signal name '{}'\n",
                    args.get(1).map(|s| s.as_str()).unwrap_or("")
                ))?;
                return Ok(1);
            };
            sig = s;
            i = 2;
        } else if a.len() > 1 && a.starts_with('-') {
            let name = &a[1..];
            if name.parse::<i64>().map(|n| n > 0).unwrap_or(true) {
                match parse_signal(name) {
                    Some(s) => {
                        sig = s;
                        i = 1;
                    }
                    None => {
                        p.err(format!("{prefix}bad signal name '{name}'\n"))?;
                        return Ok(1);
                    }
                }
            }
        }
    }
    if i >= args.len() {
        p.err(format!("{prefix}you need to specify whom to kill\n"))?;
        return Ok(1);
    }
    let mut st = 0;
    for t in &args[i..] {
        let pids: Vec<u32> = match t.parse::<i64>() {
            Ok(n) if n > 0 => vec![n as u32],
            Ok(_) => {
                // 0 / -1 / -PGID: every process of the run (one process group)
                let me = p.pid;
                p.world()
                    .procs
                    .values()
                    .filter(|e| e.runner.is_some() && (t != "-1" || e.pid != me))
                    .map(|e| e.pid)
                    .collect()
            }
            Err(_) => {
                p.err(format!("{prefix}can't kill pid {t}: No such process\n"))?;
                st = 1;
                continue;
            }
        };
        let mut any = false;
        for pid in pids {
            any |= p.w().deliver(pid, sig);
        }
        if !any {
            p.err(format!("{prefix}can't kill pid {t}: No such process\n"))?;
            st = 1;
        }
    }
    // A signal to ourselves acts before the next command.
    p.check()?;
    Ok(st)
}

/// A duration as sleep reads it: `1.5`, `2m`, `1h`, `inf`.
pub fn parse_duration(a: &str) -> Option<u64> {
    if a == "inf" || a == "infinity" {
        return Some(u64::MAX / 4);
    }
    let (num, mult) = match a.chars().last() {
        Some('s') => (&a[..a.len() - 1], 1.0),
        Some('m') => (&a[..a.len() - 1], 60.0),
        Some('h') => (&a[..a.len() - 1], 3600.0),
        Some('d') => (&a[..a.len() - 1], 86400.0),
        _ => (a, 1.0),
    };
    match num.parse::<f64>() {
        Ok(n) if n >= 0.0 && n.is_finite() => Some((n * mult * 1000.0).round() as u64),
        _ => None,
    }
}

pub fn sleep(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    if argv.len() < 2 {
        p.err("Usage: sleep [N]...\n")?;
        return Ok(1);
    }
    let mut total: u64 = 0;
    for a in &argv[1..] {
        match parse_duration(a) {
            Some(ms) => total = total.saturating_add(ms),
            None => {
                p.err(format!("sleep: invalid number '{a}'\n"))?;
                return Ok(1);
            }
        }
    }
    let t = p.world().clock_ms.saturating_add(total);
    while p.world().clock_ms < t {
        if let Some(sig) = p.sleep_until(t)? {
            return Ok(128 + sig);
        }
    }
    Ok(0)
}
