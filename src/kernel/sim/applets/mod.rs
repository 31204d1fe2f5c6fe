//! The programs the simulated kernel can run: busybox applets written
//! against the simulated world, printing what busybox prints. One table
//! ([`APPLETS`]) says what exists; anything else reports it cannot run.

pub mod archive;
pub mod files;
pub mod net;
pub mod procs;
pub mod redis;
pub mod system;
pub mod text;

use super::fs::SimFs;
use super::sh::exec::Sh;
use super::sh::world::Proc;
use super::sh::Flow;

pub type AppletFn = fn(&mut Proc, &mut Sh, &[String]) -> Result<i32, Flow>;

pub struct Applet {
    pub name: &'static str,
    pub run: AppletFn,
}

macro_rules! applets {
    ($($name:literal => $f:path),* $(,)?) => {
        /// Every program the simulator runs, by name.
        pub const APPLETS: &[Applet] = &[$(Applet { name: $name, run: $f }),*];
    };
}

applets! {
    "echo" => text::echo, "printf" => text::printf, "cat" => text::cat, "grep" => text::grep,
    "egrep" => text::grep, "fgrep" => text::grep, "wc" => text::wc, "head" => text::head,
    "tail" => text::tail, "cut" => text::cut, "sort" => text::sort, "uniq" => text::uniq,
    "sed" => text::sed, "tr" => text::tr, "tee" => text::tee, "xargs" => text::xargs,
    "seq" => text::seq, "yes" => text::yes, "expr" => text::expr, "basename" => text::basename,
    "dirname" => text::dirname, "awk" => text::awk, "rev" => text::rev, "tac" => text::tac,
    "paste" => text::paste,
    "ls" => files::ls, "mkdir" => files::mkdir, "rmdir" => files::rmdir, "rm" => files::rm,
    "touch" => files::touch, "cp" => files::cp, "mv" => files::mv, "ln" => files::ln,
    "chmod" => files::chmod, "stat" => files::stat, "df" => files::df, "du" => files::du,
    "dd" => files::dd, "which" => files::which, "readlink" => files::readlink,
    "realpath" => files::realpath,
    "ps" => procs::ps, "top" => procs::top, "kill" => procs::kill, "sleep" => procs::sleep,
    "date" => system::date, "uname" => system::uname, "free" => system::free,
    "mount" => system::mount, "hostname" => system::hostname, "tty" => system::tty, "id" => system::id,
    "env" => system::env, "whoami" => system::whoami, "nproc" => system::nproc,
    "true" => system::true_, "false" => system::false_, "pwd" => system::pwd,
    "test" => system::test, "[" => system::test, "uptime" => system::uptime,
    "sh" => system::sh, "ash" => system::sh, "dash" => system::sh, "bash" => system::sh,
    "busybox" => system::busybox,
    "ip" => net::ip, "ping" => net::ping, "wget" => net::wget, "nc" => net::nc,
    "httpd" => net::httpd,
    "tar" => archive::tar,
    "redis-server" => redis::server, "redis-cli" => redis::cli,
}

/// Names that run as the shell.
pub const SHELLS: &[&str] = &["sh", "ash", "dash", "bash"];

pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}

/// Every runnable name, sorted, for messages.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = APPLETS.iter().map(|a| a.name).collect();
    v.sort();
    v
}

/// Run applet `base` (found at `path`) with `args` (args[0] as invoked).
pub fn run(
    p: &mut Proc,
    sh: &mut Sh,
    base: &str,
    path: &str,
    args: &[String],
) -> Result<i32, Flow> {
    if SHELLS.contains(&base) {
        let parent = sh.clone();
        return system::sh_main(p, &parent, path, args);
    }
    match find(base) {
        Some(a) => (a.run)(p, sh, args),
        None if own_program(p, path).is_some() => {
            run_own_program(p, own_program(p, path).expect("just found"))
        }
        None => {
            let m = format!("{}\n", super::shell::cannot_simulate_msg(base));
            p.err(m)?;
            Ok(126)
        }
    }
}

/// Which of glassbox's own programs (`crate::programs`) the file at `path`
/// is, known by its bytes.
fn own_program(p: &Proc, path: &str) -> Option<crate::programs::Program> {
    let data = p.world().fs.read_file(path, "/").ok()?;
    crate::programs::Program::recognise(&data)
}

/// What one of glassbox's own programs' system calls do, over the model.
/// `udp-echo` waits for signals; the datagrams it answers reach it through
/// `reach::NetCtx::datagram`, which finds it among the live programs.
fn run_own_program(p: &mut Proc, program: crate::programs::Program) -> Result<i32, Flow> {
    use crate::programs::{hello, Program};
    match program {
        Program::Hello => {
            p.out(hello::MESSAGE)?;
            Ok(0)
        }
        Program::UdpEcho => loop {
            if let Some(sig) = p.sleep_until(u64::MAX / 2)? {
                return Ok(128 + sig);
            }
        },
    }
}

/// Look a name up by id in /etc/passwd or /etc/group (field 0 = name, field 2 = id).
pub fn db_name(fs: &SimFs, file: &str, id: u32) -> Option<String> {
    let data = fs.read_file(file, "/").ok()?;
    let text = String::from_utf8_lossy(&data);
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(id)).then(|| f[0].to_string())
    })
}

pub fn user_name(fs: &SimFs, uid: u32) -> String {
    db_name(fs, "/etc/passwd", uid).unwrap_or_else(|| uid.to_string())
}

pub fn group_name(fs: &SimFs, gid: u32) -> String {
    db_name(fs, "/etc/group", gid).unwrap_or_else(|| gid.to_string())
}

/// A user's home directory from /etc/passwd.
pub fn home_of(fs: &SimFs, user: &str) -> Option<String> {
    let data = fs.read_file("/etc/passwd", "/").ok()?;
    let text = String::from_utf8_lossy(&data);
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 5 && f[0] == user).then(|| f[5].to_string())
    })
}

const SIGNALS: &[&str] = &[
    "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR", "SYS",
];

pub fn signal_name(n: i32) -> &'static str {
    SIGNALS.get(n as usize).copied().unwrap_or("?")
}

/// A signal by number or name (with or without SIG); EXIT is 0.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (0..SIGNALS.len() as i32).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if name == "EXIT" {
        return Some(0);
    }
    if name == "IO" {
        return Some(29);
    }
    SIGNALS
        .iter()
        .position(|x| !x.is_empty() && *x == name)
        .map(|i| i as i32)
}

/// Split `-abc` style flags from operands. `with_value` lists flags that take
/// a value (`-n 5` or `-n5`). Returns (flags with values, operands) or the
/// bad flag.
/// Parsed options (flag, value) and operands.
pub type Opts = (Vec<(char, String)>, Vec<String>);

pub fn getopt(args: &[String], flags: &str, with_value: &str) -> Result<Opts, char> {
    let mut opts = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    let mut done = false;
    while i < args.len() {
        let a = &args[i];
        if done || !a.starts_with('-') || a == "-" || a.len() < 2 {
            rest.push(a.clone());
            i += 1;
            continue;
        }
        if a == "--" {
            done = true;
            i += 1;
            continue;
        }
        let cs: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < cs.len() {
            let c = cs[k];
            if with_value.contains(c) {
                let v: String = cs[k + 1..].iter().collect();
                let v = if v.is_empty() {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => return Err(c),
                    }
                } else {
                    v
                };
                opts.push((c, v));
                break;
            } else if flags.contains(c) {
                opts.push((c, String::new()));
            } else {
                return Err(c);
            }
            k += 1;
        }
        i += 1;
    }
    Ok((opts, rest))
}

/// `name: invalid option -- 'c'` and busybox's exit status 1.
pub fn bad_opt(p: &mut Proc, name: &str, c: char) -> Result<i32, Flow> {
    p.err(format!("{name}: invalid option -- '{c}'\n"))?;
    Ok(1)
}

pub fn has(opts: &[(char, String)], c: char) -> bool {
    opts.iter().any(|(o, _)| *o == c)
}

pub fn val(opts: &[(char, String)], c: char) -> Option<&str> {
    opts.iter()
        .rev()
        .find(|(o, _)| *o == c)
        .map(|(_, v)| v.as_str())
}

/// The input of a text filter: each named file (or stdin for none / "-"),
/// with the busybox error for files it cannot open.
/// Named inputs and the exit status so far.
pub type Inputs = (Vec<(String, Vec<u8>)>, i32);

pub fn inputs(p: &mut Proc, sh: &Sh, name: &str, files: &[String]) -> Result<Inputs, Flow> {
    read_inputs(p, sh, name, files, false)
}

/// [`inputs`] for a program that keeps everything it reads (`sort`): its
/// memory is charged to the cgroup as it reads.
pub fn inputs_held(p: &mut Proc, sh: &Sh, name: &str, files: &[String]) -> Result<Inputs, Flow> {
    read_inputs(p, sh, name, files, true)
}

fn read_inputs(
    p: &mut Proc,
    sh: &Sh,
    name: &str,
    files: &[String],
    held: bool,
) -> Result<Inputs, Flow> {
    let mut out = Vec::new();
    let mut st = 0;
    let mut kept = 0u64;
    let stdin: &[String] = &["-".to_string()];
    for f in if files.is_empty() { stdin } else { files } {
        if f == "-" {
            if !held {
                out.push((f.clone(), p.read_all(0)?));
                continue;
            }
            let mut all = Vec::new();
            loop {
                let b = p.read(0, crate::kernel::sim::sh::world::PIPE_CAP)?;
                if b.is_empty() {
                    break;
                }
                kept += b.len() as u64;
                all.extend(b);
                p.hold(kept)?;
            }
            out.push((f.clone(), all));
            continue;
        }
        match p.world().fs.read_file(f, &sh.cwd) {
            Ok(d) => {
                if held {
                    kept += d.len() as u64;
                    p.hold(kept)?;
                }
                out.push((f.clone(), d))
            }
            Err(super::fs::FsError::IsADirectory) => {
                p.err(format!("{name}: read error: Is a directory\n"))?;
                st = 1;
            }
            Err(e) => {
                p.err(format!("{name}: can't open '{f}': {e}\n"))?;
                st = 1;
            }
        }
    }
    Ok((out, st))
}

/// Split bytes into lines, without their newlines.
pub fn lines(data: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(data);
    let mut v: Vec<String> = s.split('\n').map(String::from).collect();
    if s.ends_with('\n') || s.is_empty() {
        v.pop();
    }
    v
}
