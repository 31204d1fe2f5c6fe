//! The few commands the simulated kernel can "run".
//!
//! A simulated container has no real processes, so its command is
//! interpreted here: a handful of busybox-compatible builtins (`echo`, `cat`,
//! `ls`, `ps`, ...) and a small `sh -c` interpreter (`;`, `&&`, `||`,
//! quoting, `$VAR`, `$$`, `$?`, `>`/`>>`). Commands are still looked up in
//! the image's filesystem through `PATH`, so a command the image lacks fails
//! like it would for real (`sh: x: not found`), and one the image has but the
//! simulator cannot run is reported as such.

use std::fmt;

use super::fs::{self, FsError, Node, SimFs};

/// Commands the simulator can run.
pub const BUILTINS: &[&str] = &[
    "echo", "cat", "ls", "hostname", "ps", "id", "env", "pwd", "sleep", "true", "false", "exit",
    "sh",
];

/// Names that run as the `sh` builtin.
const SHELL_NAMES: &[&str] = &["sh", "ash", "dash", "bash"];

/// Commands a shell runs itself, without a PATH lookup.
const SHELL_SPECIALS: &[&str] = &[
    ":", "true", "false", "echo", "pwd", "cd", "export", "unset", "exit",
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A process visible in the container's pid namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimProc {
    pub pid: u32,
    pub user: String,
    pub cmdline: String,
}

/// Everything a simulated command can see and change.
pub struct ShellCtx<'a> {
    pub fs: &'a mut SimFs,
    /// The environment (includes PATH).
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub hostname: String,
    pub uid: u32,
    pub gid: u32,
    /// The process's pid as seen in its namespace (`$$`).
    pub pid: u32,
    /// Processes visible in the pid namespace (for `ps`).
    pub procs: Vec<SimProc>,
    /// Simulated time in seconds since the epoch; `sleep` advances it and
    /// `ls -l` uses it as "now".
    pub clock_secs: u64,
    pub stdout: &'a mut dyn std::io::Write,
    pub stderr: &'a mut dyn std::io::Write,
}

/// Why a top-level command could not be started at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Not in the image (exit status 127).
    NotFound(String),
    /// In the image but not a builtin (exit status 126).
    CannotSimulate(String),
}

impl RunError {
    /// The exit status a real runtime would report.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::NotFound(_) => 127,
            RunError::CannotSimulate(_) => 126,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NotFound(c) => write!(f, "exec: \"{c}\": executable file not found in $PATH"),
            RunError::CannotSimulate(c) => f.write_str(&cannot_simulate_msg(c)),
        }
    }
}

impl std::error::Error for RunError {}

/// The message for a command that exists in the image but is not a builtin.
pub fn cannot_simulate_msg(cmd: &str) -> String {
    format!(
        "glassbox: '{cmd}' cannot run in simulation (it can run: {}); run for real as root to use it",
        BUILTINS.join(", ")
    )
}

/// Run `argv` (argv[0] may be a path like /bin/sh or a bare name) in the
/// simulated container. Returns the exit status, or [`RunError`] when the
/// top-level command cannot be run at all.
pub fn run(ctx: &mut ShellCtx, argv: &[String]) -> Result<i32, RunError> {
    let Some(name) = argv.first() else {
        return Ok(0);
    };
    let path_var = get_var(&ctx.env, "PATH")
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let Some(found) = locate(ctx, name, &path_var) else {
        return Err(RunError::NotFound(name.clone()));
    };
    let mut base = fs::basename(name).to_string();
    let mut args = argv.to_vec();
    if base == "busybox" {
        match argv.get(1) {
            Some(applet) if !applet.starts_with('-') => {
                base = fs::basename(applet).to_string();
                args = argv[1..].to_vec();
            }
            _ => {}
        }
    }
    if base != "busybox" && !is_runnable(&base) {
        return Err(RunError::CannotSimulate(base));
    }
    let mut out = Output::default();
    let code = run_program(ctx, &base, &found, &args, &mut out);
    out.flush_to(ctx);
    Ok(code)
}

fn is_runnable(base: &str) -> bool {
    (BUILTINS.contains(&base) && base != "exit") || SHELL_NAMES.contains(&base)
}

/// Find a command the way execvp would: names with '/' relative to cwd,
/// others through PATH.
fn locate(ctx: &ShellCtx, name: &str, path_var: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        if ctx.fs.is_executable(name, &ctx.cwd) {
            Some(fs::normalize(name, &ctx.cwd))
        } else {
            None
        }
    } else {
        ctx.fs.find_in_path(name, path_var)
    }
}

fn get_var<'v>(vars: &'v [(String, String)], name: &str) -> Option<&'v str> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn set_var(vars: &mut Vec<(String, String)>, name: &str, value: &str) {
    if let Some(e) = vars.iter_mut().find(|(k, _)| k == name) {
        e.1 = value.to_string();
    } else {
        vars.push((name.to_string(), value.to_string()));
    }
}

// ---------------------------------------------------------------------------
// Output: stdout/stderr chunks in order, routed after each command.

#[derive(Default)]
struct Output {
    chunks: Vec<(u8, Vec<u8>)>,
}

impl Output {
    fn write(&mut self, fd: u8, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        if let Some((f, last)) = self.chunks.last_mut() {
            if *f == fd {
                last.extend_from_slice(b);
                return;
            }
        }
        self.chunks.push((fd, b.to_vec()));
    }
    fn out(&mut self, s: &str) {
        self.write(1, s.as_bytes());
    }
    fn err(&mut self, s: &str) {
        self.write(2, s.as_bytes());
    }
    fn flush_to(self, ctx: &mut ShellCtx) {
        for (fd, b) in self.chunks {
            let w: &mut dyn std::io::Write = if fd == 2 {
                &mut *ctx.stderr
            } else {
                &mut *ctx.stdout
            };
            let _ = w.write_all(&b);
        }
        let _ = ctx.stdout.flush();
        let _ = ctx.stderr.flush();
    }
}

// ---------------------------------------------------------------------------
// Program dispatch.

/// Run a runnable program. `base` is the command's basename (after busybox
/// applet resolution), `path` where it was found, `argv[0]` the name as
/// invoked.
fn run_program(ctx: &mut ShellCtx, base: &str, path: &str, argv: &[String], o: &mut Output) -> i32 {
    let args = &argv[1..];
    match base {
        "busybox" => bi_busybox(ctx, path, args, o),
        "echo" => bi_echo(args, o),
        "cat" => bi_cat(ctx, args, o),
        "ls" => bi_ls(ctx, args, o),
        "hostname" => bi_hostname(ctx, args, o),
        "ps" => bi_ps(ctx, o),
        "id" => bi_id(ctx, args, o),
        "env" => bi_env(ctx, args, o),
        "pwd" => {
            o.out(&format!("{}\n", ctx.cwd));
            0
        }
        "sleep" => bi_sleep(ctx, args, o),
        "true" | ":" => 0,
        "false" => 1,
        "exit" => args
            .first()
            .and_then(|a| a.parse::<i32>().ok())
            .map(|c| c & 0xff)
            .unwrap_or(0),
        b if SHELL_NAMES.contains(&b) => run_sh(ctx, path, argv, o),
        other => {
            o.err(&format!("{}\n", cannot_simulate_msg(other)));
            126
        }
    }
}

fn bi_busybox(ctx: &mut ShellCtx, path: &str, args: &[String], o: &mut Output) -> i32 {
    match args.first().map(String::as_str) {
        None | Some("--help") => {
            o.out("BusyBox (glassbox simulation) multi-call binary.\n\nUsage: busybox [function [arguments]...]\n");
            0
        }
        Some("--list") => {
            for b in BUILTINS {
                o.out(&format!("{b}\n"));
            }
            0
        }
        Some(applet) => {
            let base = fs::basename(applet).to_string();
            if base == "busybox" || !is_runnable(&base) {
                o.err(&format!("{}\n", cannot_simulate_msg(&base)));
                return 126;
            }
            run_program(ctx, &base, path, args, o)
        }
    }
}

fn bi_echo(args: &[String], o: &mut Output) -> i32 {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| "neE".contains(c)) {
            for c in a[1..].chars() {
                match c {
                    'n' => newline = false,
                    'e' => escapes = true,
                    _ => escapes = false,
                }
            }
            i += 1;
        } else {
            break;
        }
    }
    let mut s = args[i..].join(" ");
    if escapes {
        let (t, stop) = unescape(&s);
        s = t;
        if stop {
            newline = false;
        }
    }
    if newline {
        s.push('\n');
    }
    o.out(&s);
    0
}

/// `echo -e` escapes; returns (text, saw \c).
fn unescape(s: &str) -> (String, bool) {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some('c') => return (out, true),
            Some('0') => {
                let mut v = 0u32;
                for _ in 0..3 {
                    match it.peek() {
                        Some(d @ '0'..='7') => {
                            v = v * 8 + d.to_digit(8).unwrap();
                            it.next();
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('?'));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    (out, false)
}

fn bi_cat(ctx: &mut ShellCtx, args: &[String], o: &mut Output) -> i32 {
    let files: Vec<&String> = args
        .iter()
        .filter(|a| !(a.starts_with('-') && a.len() > 1))
        .collect();
    let mut status = 0;
    for f in files {
        if f == "-" {
            continue; // no stdin in the simulator
        }
        match ctx.fs.read_file(f, &ctx.cwd) {
            Ok(data) => o.write(1, &data),
            Err(FsError::IsADirectory) => {
                o.err("cat: read error: Is a directory\n");
                status = 1;
            }
            Err(e) => {
                o.err(&format!("cat: can't open '{f}': {e}\n"));
                status = 1;
            }
        }
    }
    status
}

fn bi_hostname(ctx: &mut ShellCtx, args: &[String], o: &mut Output) -> i32 {
    match args.iter().find(|a| !a.starts_with('-')) {
        Some(name) => {
            ctx.hostname = name.clone();
            0
        }
        None => {
            let h = if args.iter().any(|a| a == "-s") {
                ctx.hostname.split('.').next().unwrap_or("").to_string()
            } else {
                ctx.hostname.clone()
            };
            o.out(&format!("{h}\n"));
            0
        }
    }
}

fn bi_ps(ctx: &mut ShellCtx, o: &mut Output) -> i32 {
    let mut procs = ctx.procs.clone();
    procs.sort_by_key(|p| p.pid);
    o.out("PID   USER     TIME  COMMAND\n");
    for p in procs {
        let user: String = p.user.chars().take(8).collect();
        o.out(&format!(
            "{:>5} {:<8} {:>5} {}\n",
            p.pid, user, "0:00", p.cmdline
        ));
    }
    0
}

/// Look a name up by id in /etc/passwd or /etc/group (field 0 = name,
/// field 2 = id).
fn db_name(fs: &SimFs, file: &str, id: u32) -> Option<String> {
    let data = fs.read_file(file, "/").ok()?;
    let text = String::from_utf8_lossy(&data);
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 2 && f[2].parse::<u32>().ok() == Some(id) {
            return Some(f[0].to_string());
        }
    }
    None
}

fn user_name(fs: &SimFs, uid: u32) -> String {
    db_name(fs, "/etc/passwd", uid).unwrap_or_else(|| uid.to_string())
}

fn group_name(fs: &SimFs, gid: u32) -> String {
    db_name(fs, "/etc/group", gid).unwrap_or_else(|| gid.to_string())
}

fn bi_id(ctx: &mut ShellCtx, args: &[String], o: &mut Output) -> i32 {
    let mut only_u = false;
    let mut only_g = false;
    let mut names = false;
    for a in args {
        if let Some(fl) = a.strip_prefix('-') {
            for c in fl.chars() {
                match c {
                    'u' => only_u = true,
                    'g' | 'G' => only_g = true,
                    'n' => names = true,
                    'r' => {}
                    _ => {
                        o.err(&format!("id: invalid option -- '{c}'\n"));
                        return 1;
                    }
                }
            }
        } else {
            o.err(&format!("id: unknown user {a}\n"));
            return 1;
        }
    }
    let uname = db_name(ctx.fs, "/etc/passwd", ctx.uid);
    let gname = db_name(ctx.fs, "/etc/group", ctx.gid);
    let fmt_one = |id: u32, name: &Option<String>| match name {
        Some(n) => format!("{id}({n})"),
        None => id.to_string(),
    };
    if only_u || only_g {
        let (id, name) = if only_u {
            (ctx.uid, uname)
        } else {
            (ctx.gid, gname)
        };
        let s = if names {
            name.unwrap_or_else(|| id.to_string())
        } else {
            id.to_string()
        };
        o.out(&format!("{s}\n"));
        return 0;
    }
    o.out(&format!(
        "uid={} gid={} groups={}\n",
        fmt_one(ctx.uid, &uname),
        fmt_one(ctx.gid, &gname),
        fmt_one(ctx.gid, &gname)
    ));
    0
}

fn bi_env(ctx: &mut ShellCtx, args: &[String], o: &mut Output) -> i32 {
    let mut vars = ctx.env.clone();
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
            set_var(&mut vars, k, v);
        } else {
            break;
        }
        i += 1;
    }
    if i >= args.len() {
        for (k, v) in &vars {
            o.out(&format!("{k}={v}\n"));
        }
        return 0;
    }
    // env ... CMD ARGS: run CMD with the modified environment.
    let saved = std::mem::replace(&mut ctx.env, vars);
    let path_var = get_var(&ctx.env, "PATH")
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let name = &args[i];
    let code = match locate(ctx, name, &path_var) {
        None => {
            o.err(&format!(
                "env: can't execute '{name}': No such file or directory\n"
            ));
            127
        }
        Some(found) => {
            let base = fs::basename(name).to_string();
            if base == "busybox" || is_runnable(&base) {
                run_program(ctx, &base, &found, &args[i..], o)
            } else {
                o.err(&format!("{}\n", cannot_simulate_msg(&base)));
                126
            }
        }
    };
    ctx.env = saved;
    code
}

fn bi_sleep(ctx: &mut ShellCtx, args: &[String], o: &mut Output) -> i32 {
    if args.is_empty() {
        o.err("sleep: missing operand\n");
        return 1;
    }
    let mut total = 0f64;
    for a in args {
        let (num, mult) = match a.chars().last() {
            Some('s') => (&a[..a.len() - 1], 1.0),
            Some('m') => (&a[..a.len() - 1], 60.0),
            Some('h') => (&a[..a.len() - 1], 3600.0),
            Some('d') => (&a[..a.len() - 1], 86400.0),
            _ => (a.as_str(), 1.0),
        };
        match num.parse::<f64>() {
            Ok(n) if n >= 0.0 && n.is_finite() => total += n * mult,
            _ => {
                o.err(&format!("sleep: invalid number '{a}'\n"));
                return 1;
            }
        }
    }
    ctx.clock_secs = ctx.clock_secs.saturating_add(total.ceil() as u64);
    0
}

// ---------------------------------------------------------------------------
// ls

struct LsOpts {
    long: bool,
    all: bool,
    almost_all: bool,
    dir_only: bool,
    classify: bool,
}

fn bi_ls(ctx: &mut ShellCtx, args: &[String], o: &mut Output) -> i32 {
    let mut opts = LsOpts {
        long: false,
        all: false,
        almost_all: false,
        dir_only: false,
        classify: false,
    };
    let mut operands: Vec<String> = Vec::new();
    let mut no_more_opts = false;
    for a in args {
        if !no_more_opts && a == "--" {
            no_more_opts = true;
        } else if !no_more_opts && a.starts_with('-') && a.len() > 1 {
            for c in a[1..].chars() {
                match c {
                    'l' => opts.long = true,
                    'a' => opts.all = true,
                    'A' => opts.almost_all = true,
                    'd' => opts.dir_only = true,
                    'F' => opts.classify = true,
                    '1' | 'h' | 'n' | 'C' => {}
                    _ => {
                        o.err(&format!("ls: unrecognized option: {c}\n"));
                        return 1;
                    }
                }
            }
        } else {
            operands.push(a.clone());
        }
    }
    let implicit = operands.is_empty();
    if implicit {
        operands.push(".".to_string());
    }
    let fs: &SimFs = ctx.fs;
    let cwd = ctx.cwd.clone();
    let mut status = 0;
    let mut files: Vec<(String, String)> = Vec::new(); // (display, abs from lstat)
    let mut dirs: Vec<(String, String)> = Vec::new(); // (display, abs resolved)
    for op in &operands {
        let Some((labs, lnode)) = fs.lstat(op, &cwd) else {
            o.err(&format!("ls: {op}: No such file or directory\n"));
            status = 1;
            continue;
        };
        let follow =
            !opts.long && !opts.dir_only && !opts.classify || !op.is_empty() && op.ends_with('/');
        let target = if matches!(lnode, Node::Symlink { .. }) && follow {
            fs.lookup(op, &cwd)
        } else {
            Some((labs.clone(), lnode))
        };
        match target {
            Some((abs, n)) if n.is_dir() && !opts.dir_only => dirs.push((op.clone(), abs)),
            _ => files.push((op.clone(), labs)),
        }
    }
    files.sort();
    dirs.sort();
    let now = ctx.clock_secs;
    let mut first = true;
    for (disp, abs) in &files {
        o.out(&ls_line(fs, abs, disp, &opts, now));
        first = false;
    }
    let headers = operands.len() > 1;
    for (disp, abs) in &dirs {
        if !first {
            o.out("\n");
        }
        first = false;
        if headers {
            o.out(&format!("{disp}:\n"));
        }
        let mut names = fs.list_dir(abs, "/").unwrap_or_default();
        if opts.all {
            names.push(".".into());
            names.push("..".into());
            names.sort();
        } else if !opts.almost_all {
            names.retain(|n| !n.starts_with('.'));
        }
        if opts.long {
            let blocks: u64 = names
                .iter()
                .map(|n| {
                    let p = if n == "." || n == ".." {
                        fs::normalize(n, abs)
                    } else {
                        child(abs, n)
                    };
                    fs.size_of(&p).div_ceil(4096) * 4
                })
                .sum();
            o.out(&format!("total {blocks}\n"));
        }
        for n in names {
            let p = if n == "." || n == ".." {
                fs::normalize(&n, abs)
            } else {
                child(abs, &n)
            };
            o.out(&ls_line(fs, &p, &n, &opts, now));
        }
    }
    status
}

fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// One line of ls output for the node at `abs` (not followed), shown as
/// `name`.
fn ls_line(fs: &SimFs, abs: &str, name: &str, opts: &LsOpts, now: u64) -> String {
    let node = fs.lstat(abs, "/").map(|(_, n)| n);
    let suffix = if opts.classify {
        match node {
            Some(Node::Dir { .. }) => "/",
            Some(Node::Symlink { .. }) => "@",
            Some(Node::Other { kind: 'p' }) => "|",
            Some(Node::File { mode, .. }) if mode & 0o111 != 0 => "*",
            _ => "",
        }
    } else {
        ""
    };
    if !opts.long {
        return format!("{name}{suffix}\n");
    }
    let Some(node) = node else {
        return format!("{name}\n");
    };
    let (uid, gid) = node.owner();
    let nlink = match node {
        Node::Dir { .. } => {
            2 + fs
                .list_dir(abs, "/")
                .unwrap_or_default()
                .iter()
                .filter(|n| {
                    fs.lstat(&child(abs, n), "/")
                        .map(|(_, c)| c.is_dir())
                        .unwrap_or(false)
                })
                .count()
        }
        _ => 1,
    };
    let size = match node {
        Node::Other { kind: 'c' | 'b' } => "  0,   0".to_string(),
        _ => fs.size_of(abs).to_string(),
    };
    let link = match node {
        Node::Symlink { target } => format!(" -> {target}"),
        _ => String::new(),
    };
    format!(
        "{:<10} {:>4} {:<8} {:<8} {:>9} {} {}{}{}\n",
        mode_string(node),
        nlink,
        trunc8(&user_name(fs, uid)),
        trunc8(&group_name(fs, gid)),
        size,
        ls_date(fs.mtime_of(abs), now),
        name,
        suffix,
        link
    )
}

fn trunc8(s: &str) -> String {
    s.chars().take(8).collect()
}

fn mode_string(node: &Node) -> String {
    let t = match node {
        Node::Dir { .. } => 'd',
        Node::File { .. } => '-',
        Node::Symlink { .. } => 'l',
        Node::Other { kind } => *kind,
    };
    let m = node.mode();
    let mut s = String::new();
    s.push(t);
    let bit = |b: u32, c: char| if m & b != 0 { c } else { '-' };
    let exec = |x: u32, special: u32, set: char, unset: char| match (m & x != 0, m & special != 0) {
        (true, true) => set,
        (false, true) => unset,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(exec(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(exec(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(exec(0o001, 0o1000, 't', 'T'));
    s
}

/// busybox: "Mon DD HH:MM" if within the last six months, else
/// "Mon DD  YYYY".
fn ls_date(mtime: u64, now: u64) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp(mtime as i64, 0) else {
        return "Jan  1  1970".to_string();
    };
    let age = now as i64 - mtime as i64;
    if age < 3600 * 24 * 365 / 2 && age > -15 * 60 {
        dt.format("%b %e %H:%M").to_string()
    } else {
        dt.format("%b %e  %Y").to_string()
    }
}

// ---------------------------------------------------------------------------
// sh

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    Ash,
    Dash,
    Bash,
}

struct Sh {
    flavor: Flavor,
    arg0: String,
    positional: Vec<String>,
    last: i32,
    exit: Option<i32>,
    line: usize,
}

impl Sh {
    fn prefix(&self) -> String {
        match self.flavor {
            Flavor::Ash => format!("{}: ", self.arg0),
            Flavor::Dash => format!("{}: {}: ", self.arg0, self.line),
            Flavor::Bash => format!("{}: line {}: ", self.arg0, self.line),
        }
    }
    fn not_found(&self, cmd: &str) -> String {
        match self.flavor {
            Flavor::Bash => format!("{}{cmd}: command not found\n", self.prefix()),
            _ => format!("{}{cmd}: not found\n", self.prefix()),
        }
    }
}

fn run_sh(ctx: &mut ShellCtx, path: &str, argv: &[String], o: &mut Output) -> i32 {
    let invoked = argv.first().cloned().unwrap_or_else(|| "sh".into());
    let flavor = {
        let real = ctx
            .fs
            .lookup(path, &ctx.cwd)
            .map(|(abs, _)| fs::basename(&abs).to_string())
            .unwrap_or_default();
        let name = if real == "busybox" || real.is_empty() {
            fs::basename(&invoked).to_string()
        } else {
            real
        };
        match name.as_str() {
            "dash" => Flavor::Dash,
            "bash" => Flavor::Bash,
            _ => Flavor::Ash,
        }
    };
    let mut script: Option<String> = None;
    let mut cmd_c = false;
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            i += 1;
            break;
        }
        if a.starts_with('-') && a.len() > 1 || a.starts_with('+') && a.len() > 1 {
            if a[1..].contains('c') {
                cmd_c = true;
            }
            i += 1;
            continue;
        }
        break;
    }
    let mut arg0 = invoked.clone();
    let mut positional = Vec::new();
    if cmd_c {
        let Some(s) = argv.get(i) else {
            o.err(&format!(
                "{}: -c requires an argument\n",
                fs::basename(&invoked)
            ));
            return 2;
        };
        script = Some(s.clone());
        if let Some(a0) = argv.get(i + 1) {
            arg0 = a0.clone();
            positional = argv[i + 2..].to_vec();
        }
    } else if let Some(file) = argv.get(i) {
        match ctx.fs.read_file(file, &ctx.cwd) {
            Ok(d) => {
                script = Some(String::from_utf8_lossy(&d).into_owned());
                arg0 = file.clone();
                positional = argv[i + 1..].to_vec();
            }
            Err(e) => {
                o.err(&format!("{invoked}: can't open '{file}': {e}\n"));
                return 127;
            }
        }
    }
    let Some(script) = script else {
        return 0; // no stdin in the simulator
    };
    let mut sh = Sh {
        flavor,
        arg0,
        positional,
        last: 0,
        exit: None,
        line: 1,
    };
    // A shell is a child process: its variables and cwd do not leak.
    let saved_env = ctx.env.clone();
    let saved_cwd = ctx.cwd.clone();
    let code = run_script(ctx, &mut sh, &script, o);
    ctx.env = saved_env;
    ctx.cwd = saved_cwd;
    code
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String, bool /*quoted*/),
    Var(
        String,
        bool,                     /*quoted*/
        Option<(String, String)>, /*op, word*/
    ),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Vec<Seg>),
    Semi,
    And,
    Or,
    Newline,
    /// fd, append, target word
    Redir(u8, bool),
    /// fd >& fd
    Dup(u8, u8),
}

#[derive(Debug)]
enum ParseError {
    Syntax(String),
    Unsupported(String),
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn tokenize(src: &str) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut word: Vec<Seg> = Vec::new();
    let mut in_word = false;
    let mut i = 0;
    fn push_lit(word: &mut Vec<Seg>, c: char, quoted: bool) {
        if let Some(Seg::Lit(s, q)) = word.last_mut() {
            if *q == quoted {
                s.push(c);
                return;
            }
        }
        word.push(Seg::Lit(c.to_string(), quoted));
    }
    fn end_word(toks: &mut Vec<Tok>, word: &mut Vec<Seg>, in_word: &mut bool) {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    }
    // Parse a $-expansion starting after '$'; returns the segment and new index.
    let dollar = |i: usize, quoted: bool| -> Result<(Seg, usize), ParseError> {
        match chars.get(i) {
            Some('{') => {
                let mut j = i + 1;
                let mut body = String::new();
                while j < chars.len() && chars[j] != '}' {
                    body.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(ParseError::Syntax("missing '}'".into()));
                }
                let name_end = body
                    .char_indices()
                    .find(|(k, c)| !(is_name_char(*c) || (*k == 0 && "?$#@*!-0".contains(*c))))
                    .map(|(k, _)| k)
                    .unwrap_or(body.len());
                let name = body[..name_end].to_string();
                let rest = &body[name_end..];
                if name.is_empty() {
                    return Err(ParseError::Syntax(format!("${{{body}}}: bad substitution")));
                }
                let op = if rest.is_empty() {
                    None
                } else {
                    let opl = if rest.starts_with(':') { 2 } else { 1 };
                    let (op, w) = rest.split_at(opl.min(rest.len()));
                    if !matches!(op, ":-" | "-" | ":=" | "=" | ":+" | "+") {
                        return Err(ParseError::Unsupported(format!("${{{body}}}")));
                    }
                    Some((op.to_string(), w.to_string()))
                };
                Ok((Seg::Var(name, quoted, op), j + 1))
            }
            Some(c) if is_name_start(*c) => {
                let mut j = i;
                let mut name = String::new();
                while j < chars.len() && is_name_char(chars[j]) {
                    name.push(chars[j]);
                    j += 1;
                }
                Ok((Seg::Var(name, quoted, None), j))
            }
            Some(c) if c.is_ascii_digit() || "?$#@*!-".contains(*c) => {
                Ok((Seg::Var(c.to_string(), quoted, None), i + 1))
            }
            Some('(') => Err(ParseError::Unsupported("$(...)".into())),
            _ => Ok((Seg::Lit("$".into(), quoted), i)),
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                end_word(&mut toks, &mut word, &mut in_word);
                i += 1;
            }
            '\n' => {
                end_word(&mut toks, &mut word, &mut in_word);
                toks.push(Tok::Newline);
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ';' => {
                end_word(&mut toks, &mut word, &mut in_word);
                if chars.get(i + 1) == Some(&';') {
                    return Err(ParseError::Syntax("unexpected \";;\"".into()));
                }
                toks.push(Tok::Semi);
                i += 1;
            }
            '&' => {
                end_word(&mut toks, &mut word, &mut in_word);
                if chars.get(i + 1) == Some(&'&') {
                    toks.push(Tok::And);
                    i += 2;
                } else {
                    return Err(ParseError::Unsupported("'&' (background jobs)".into()));
                }
            }
            '|' => {
                end_word(&mut toks, &mut word, &mut in_word);
                if chars.get(i + 1) == Some(&'|') {
                    toks.push(Tok::Or);
                    i += 2;
                } else {
                    return Err(ParseError::Unsupported("'|' (pipes)".into()));
                }
            }
            '<' => return Err(ParseError::Unsupported("'<' (input redirection)".into())),
            '(' | ')' => return Err(ParseError::Unsupported(format!("'{c}' (subshells)"))),
            '`' => return Err(ParseError::Unsupported("'`' (command substitution)".into())),
            '>' => {
                // "2>" : a word made only of unquoted digits is the fd.
                let mut fd = 1u8;
                if in_word {
                    match word.as_slice() {
                        [Seg::Lit(s, false)]
                            if s.len() == 1 && s.chars().all(|c| c.is_ascii_digit()) =>
                        {
                            fd = s.parse().unwrap();
                            word.clear();
                            in_word = false;
                        }
                        _ => end_word(&mut toks, &mut word, &mut in_word),
                    }
                }
                i += 1;
                let mut append = false;
                if chars.get(i) == Some(&'>') {
                    append = true;
                    i += 1;
                } else if chars.get(i) == Some(&'|') {
                    i += 1;
                } else if chars.get(i) == Some(&'&') {
                    let d = chars.get(i + 1).and_then(|c| c.to_digit(10));
                    match d {
                        Some(d) => {
                            toks.push(Tok::Dup(fd, d as u8));
                            i += 2;
                            continue;
                        }
                        None => return Err(ParseError::Unsupported("'>&'".into())),
                    }
                }
                toks.push(Tok::Redir(fd, append));
            }
            '\\' => {
                in_word = true;
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(n) => push_lit(&mut word, *n, true),
                    None => push_lit(&mut word, '\\', true),
                }
                i += 2;
            }
            '\'' => {
                in_word = true;
                let mut j = i + 1;
                let mut s = String::new();
                while j < chars.len() && chars[j] != '\'' {
                    s.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(ParseError::Syntax("unterminated quoted string".into()));
                }
                word.push(Seg::Lit(s, true));
                i = j + 1;
            }
            '"' => {
                in_word = true;
                word.push(Seg::Lit(String::new(), true));
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(ParseError::Syntax("unterminated quoted string".into()))
                        }
                        Some('"') => {
                            j += 1;
                            break;
                        }
                        Some('\\') => {
                            match chars.get(j + 1) {
                                Some(n @ ('$' | '`' | '"' | '\\')) => push_lit(&mut word, *n, true),
                                Some('\n') => {}
                                Some(n) => {
                                    push_lit(&mut word, '\\', true);
                                    push_lit(&mut word, *n, true);
                                }
                                None => {
                                    return Err(ParseError::Syntax(
                                        "unterminated quoted string".into(),
                                    ))
                                }
                            }
                            j += 2;
                        }
                        Some('$') => {
                            let (seg, nj) = dollar(j + 1, true)?;
                            word.push(seg);
                            j = nj;
                        }
                        Some('`') => {
                            return Err(ParseError::Unsupported(
                                "'`' (command substitution)".into(),
                            ))
                        }
                        Some(c) => {
                            push_lit(&mut word, *c, true);
                            j += 1;
                        }
                    }
                }
                i = j;
            }
            '$' => {
                in_word = true;
                let (seg, ni) = dollar(i + 1, false)?;
                if let Seg::Lit(s, q) = &seg {
                    for ch in s.chars() {
                        push_lit(&mut word, ch, *q);
                    }
                } else {
                    word.push(seg);
                }
                i = ni.max(i + 1);
            }
            c => {
                in_word = true;
                push_lit(&mut word, c, false);
                i += 1;
            }
        }
    }
    end_word(&mut toks, &mut word, &mut in_word);
    Ok(toks)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Conn {
    Seq,
    And,
    Or,
}

#[derive(Debug, Default)]
struct Cmd {
    words: Vec<Vec<Seg>>,
    /// (fd, append, target) ; Dup encoded as target None with dup fd.
    redirs: Vec<Redir>,
    line: usize,
}

#[derive(Debug)]
enum Redir {
    File(u8, bool, Vec<Seg>),
    Dup(u8, u8),
}

/// Parse tokens into (connector-before, command) pairs.
fn parse(toks: Vec<Tok>) -> Result<Vec<(Conn, Cmd)>, ParseError> {
    let mut out: Vec<(Conn, Cmd)> = Vec::new();
    let mut cur = Cmd {
        line: 1,
        ..Default::default()
    };
    let mut conn = Conn::Seq;
    let mut line = 1;
    let mut it = toks.into_iter().peekable();
    let mut pending_op: Option<&'static str> = None;
    let empty = |c: &Cmd| c.words.is_empty() && c.redirs.is_empty();
    while let Some(t) = it.next() {
        match t {
            Tok::Word(w) => {
                if cur.words.is_empty() && cur.redirs.is_empty() {
                    cur.line = line;
                }
                cur.words.push(w);
                pending_op = None;
            }
            Tok::Redir(fd, app) => match it.next() {
                Some(Tok::Word(w)) => {
                    cur.line = line;
                    cur.redirs.push(Redir::File(fd, app, w));
                }
                _ => return Err(ParseError::Syntax("unexpected redirection".into())),
            },
            Tok::Dup(a, b) => cur.redirs.push(Redir::Dup(a, b)),
            Tok::Semi | Tok::Newline | Tok::And | Tok::Or => {
                let is_nl = matches!(t, Tok::Newline);
                let sym = match t {
                    Tok::Semi => ";",
                    Tok::And => "&&",
                    Tok::Or => "||",
                    _ => "newline",
                };
                if empty(&cur) {
                    if is_nl {
                        line += 1;
                        if pending_op.is_none() {
                            conn = Conn::Seq;
                        }
                        continue;
                    }
                    return Err(ParseError::Syntax(format!("unexpected \"{sym}\"")));
                }
                out.push((conn, std::mem::take(&mut cur)));
                match t {
                    Tok::And => {
                        conn = Conn::And;
                        pending_op = Some("&&");
                    }
                    Tok::Or => {
                        conn = Conn::Or;
                        pending_op = Some("||");
                    }
                    _ => conn = Conn::Seq,
                }
                if is_nl {
                    line += 1;
                }
            }
        }
    }
    if !empty(&cur) {
        out.push((conn, cur));
    } else if let Some(op) = pending_op {
        return Err(ParseError::Syntax(format!(
            "unexpected end of file (expecting command after \"{op}\")"
        )));
    }
    Ok(out)
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "{",
    "}", "!", "function",
];

fn run_script(ctx: &mut ShellCtx, sh: &mut Sh, script: &str, o: &mut Output) -> i32 {
    let parsed = tokenize(script).and_then(parse);
    let cmds = match parsed {
        Ok(c) => c,
        Err(ParseError::Syntax(m)) => {
            o.err(&format!("{}syntax error: {m}\n", sh.prefix()));
            return 2;
        }
        Err(ParseError::Unsupported(m)) => {
            o.err(&format!(
                "glassbox: {}: {m} is not supported in simulation; run for real as root to use it\n",
                sh.arg0
            ));
            return 2;
        }
    };
    for (conn, cmd) in cmds {
        match conn {
            Conn::And if sh.last != 0 => continue,
            Conn::Or if sh.last == 0 => continue,
            _ => {}
        }
        sh.line = cmd.line;
        sh.last = run_cmd(ctx, sh, &cmd, o);
        if let Some(code) = sh.exit {
            return code;
        }
    }
    sh.last
}

fn var_value(ctx: &ShellCtx, sh: &Sh, name: &str) -> Option<String> {
    match name {
        "$" => Some(ctx.pid.to_string()),
        "?" => Some(sh.last.to_string()),
        "#" => Some(sh.positional.len().to_string()),
        "0" => Some(sh.arg0.clone()),
        "@" | "*" => Some(sh.positional.join(" ")),
        "!" => None,
        "-" => Some(String::new()),
        n if n.chars().all(|c| c.is_ascii_digit()) => {
            let k: usize = n.parse().unwrap_or(0);
            sh.positional.get(k.wrapping_sub(1)).cloned()
        }
        n => get_var(&ctx.env, n).map(str::to_string),
    }
}

/// Expand a variable segment (applying ${x:-w} style operators).
fn expand_var(ctx: &mut ShellCtx, sh: &Sh, name: &str, op: &Option<(String, String)>) -> String {
    let v = var_value(ctx, sh, name);
    let Some((op, w)) = op else {
        return v.unwrap_or_default();
    };
    let unset_or_null = |v: &Option<String>, colon: bool| match v {
        None => true,
        Some(s) => colon && s.is_empty(),
    };
    let colon = op.starts_with(':');
    match op.trim_start_matches(':') {
        "-" => {
            if unset_or_null(&v, colon) {
                w.clone()
            } else {
                v.unwrap_or_default()
            }
        }
        "=" => {
            if unset_or_null(&v, colon) {
                set_var(&mut ctx.env, name, w);
                w.clone()
            } else {
                v.unwrap_or_default()
            }
        }
        "+" => {
            if unset_or_null(&v, colon) {
                String::new()
            } else {
                w.clone()
            }
        }
        _ => v.unwrap_or_default(),
    }
}

/// Expand a word into fields (unquoted expansions are split on whitespace).
fn expand_fields(ctx: &mut ShellCtx, sh: &Sh, word: &[Seg]) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut has = false; // cur is a field (even if empty)
                         // "$@" with no parameters yields no field even though it is quoted.
    let has_at = word
        .iter()
        .any(|s| matches!(s, Seg::Var(n, true, None) if n == "@"));
    for seg in word {
        match seg {
            Seg::Lit(s, q) => {
                cur.push_str(s);
                if (*q && !has_at) || !s.is_empty() {
                    has = true;
                }
            }
            Seg::Var(name, true, op) => {
                if name == "@" {
                    // "$@": one field per positional parameter
                    let ps = sh.positional.clone();
                    for (k, p) in ps.iter().enumerate() {
                        if k > 0 {
                            fields.push(std::mem::take(&mut cur));
                        }
                        cur.push_str(p);
                    }
                    has = has || !ps.is_empty();
                    continue;
                }
                cur.push_str(&expand_var(ctx, sh, name, op));
                has = true;
            }
            Seg::Var(name, false, op) => {
                let v = expand_var(ctx, sh, name, op);
                let starts_ws = v.starts_with(|c: char| c.is_ascii_whitespace());
                let ends_ws = v.ends_with(|c: char| c.is_ascii_whitespace());
                let parts: Vec<&str> = v.split_ascii_whitespace().collect();
                if parts.is_empty() {
                    if starts_ws && has {
                        fields.push(std::mem::take(&mut cur));
                        has = false;
                    }
                    continue;
                }
                if starts_ws && has {
                    fields.push(std::mem::take(&mut cur));
                }
                for (k, p) in parts.iter().enumerate() {
                    if k > 0 {
                        fields.push(std::mem::take(&mut cur));
                    }
                    cur.push_str(p);
                }
                has = true;
                if ends_ws {
                    fields.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
        }
    }
    if has {
        fields.push(cur);
    }
    fields
}

/// Expand a word without field splitting (assignments, redirect targets).
fn expand_single(ctx: &mut ShellCtx, sh: &Sh, word: &[Seg]) -> String {
    let mut s = String::new();
    for seg in word {
        match seg {
            Seg::Lit(l, _) => s.push_str(l),
            Seg::Var(name, _, op) => s.push_str(&expand_var(ctx, sh, name, op)),
        }
    }
    s
}

/// If the word is NAME=value (NAME unquoted), split it.
fn as_assignment(word: &[Seg]) -> Option<(String, Vec<Seg>)> {
    let Some(Seg::Lit(first, false)) = word.first() else {
        return None;
    };
    let (name, rest) = first.split_once('=')?;
    let mut chars = name.chars();
    if !chars.next().map(is_name_start).unwrap_or(false) || !chars.all(is_name_char) {
        return None;
    }
    let mut value = Vec::new();
    if !rest.is_empty() {
        value.push(Seg::Lit(rest.to_string(), false));
    }
    value.extend_from_slice(&word[1..]);
    Some((name.to_string(), value))
}

#[derive(Clone, Copy, PartialEq)]
enum Route {
    Out,
    Err,
    File(usize),
}

fn run_cmd(ctx: &mut ShellCtx, sh: &mut Sh, cmd: &Cmd, o: &mut Output) -> i32 {
    // Assignments.
    let mut assigns: Vec<(String, String)> = Vec::new();
    let mut k = 0;
    while k < cmd.words.len() {
        match as_assignment(&cmd.words[k]) {
            Some((n, v)) => {
                let val = expand_single(ctx, sh, &v);
                assigns.push((n, val));
                k += 1;
            }
            None => break,
        }
    }
    let mut argv: Vec<String> = Vec::new();
    for w in &cmd.words[k..] {
        argv.extend(expand_fields(ctx, sh, w));
    }
    if let Some(first) = cmd.words.get(k) {
        if let [Seg::Lit(s, false)] = first.as_slice() {
            if RESERVED.contains(&s.as_str()) {
                o.err(&format!(
                    "glassbox: {}: '{s}' is not supported in simulation; run for real as root to use it\n",
                    sh.arg0
                ));
                return 2;
            }
        }
    }

    // Redirections: create/truncate targets first, like open(2) would.
    let mut routes = [Route::Out, Route::Out, Route::Err]; // index by fd (0 unused)
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for r in &cmd.redirs {
        match r {
            Redir::File(fd, append, w) => {
                let target = expand_single(ctx, sh, w);
                if *fd > 2 {
                    continue;
                }
                if let Err(e) = ctx.fs.write_file(&target, &ctx.cwd.clone(), b"", true) {
                    let why = match (e, sh.flavor) {
                        (FsError::NotFound, Flavor::Ash) => "nonexistent directory".to_string(),
                        (FsError::NotFound, Flavor::Dash) => "Directory nonexistent".to_string(),
                        (e, _) => e.to_string(),
                    };
                    let verb = if sh.flavor == Flavor::Ash {
                        "can't"
                    } else {
                        "cannot"
                    };
                    if sh.flavor == Flavor::Bash {
                        o.err(&format!("{}{target}: {e}\n", sh.prefix()));
                    } else {
                        o.err(&format!("{}{verb} create {target}: {why}\n", sh.prefix()));
                    }
                    return if sh.flavor == Flavor::Dash { 2 } else { 1 };
                }
                if !append {
                    let _ = ctx.fs.write_file(&target, &ctx.cwd.clone(), b"", false);
                }
                files.push((target, Vec::new()));
                routes[*fd as usize] = Route::File(files.len() - 1);
            }
            Redir::Dup(a, b) => {
                if *a <= 2 && (1..=2).contains(b) {
                    routes[*a as usize] = routes[*b as usize];
                }
            }
        }
    }
    // fd 1 default route is Out, fd 2 default is Err
    let mut inner = Output::default();
    let code = if argv.is_empty() {
        for (n, v) in &assigns {
            set_var(&mut ctx.env, n, v);
        }
        0
    } else {
        // Temporary assignments for this command only.
        let saved = if assigns.is_empty() {
            None
        } else {
            let s = ctx.env.clone();
            for (n, v) in &assigns {
                set_var(&mut ctx.env, n, v);
            }
            Some(s)
        };
        let c = exec_in_sh(ctx, sh, &argv, &mut inner);
        if let Some(s) = saved {
            // keep changes made by the command itself (export/cd) except
            // the temporary assignments
            let mut env = ctx.env.clone();
            for (n, _) in &assigns {
                match get_var(&s, n) {
                    Some(old) => set_var(&mut env, n, old),
                    None => env.retain(|(k, _)| k != n),
                }
            }
            ctx.env = env;
        }
        c
    };
    for (fd, bytes) in inner.chunks {
        match routes[fd.min(2) as usize] {
            Route::Out => o.write(1, &bytes),
            Route::Err => o.write(2, &bytes),
            Route::File(i) => files[i].1.extend_from_slice(&bytes),
        }
    }
    for (path, data) in files {
        let cwd = ctx.cwd.clone();
        let _ = ctx.fs.write_file(&path, &cwd, &data, true);
    }
    code
}

fn exec_in_sh(ctx: &mut ShellCtx, sh: &mut Sh, argv: &[String], o: &mut Output) -> i32 {
    let name = argv[0].as_str();
    if SHELL_SPECIALS.contains(&name) {
        match name {
            "exit" => {
                let code = match argv.get(1) {
                    None => sh.last,
                    Some(a) => match a.parse::<i64>() {
                        Ok(n) => (n & 0xff) as i32,
                        Err(_) => {
                            o.err(&format!("{}exit: Illegal number: {a}\n", sh.prefix()));
                            2
                        }
                    },
                };
                sh.exit = Some(code);
                return code;
            }
            "cd" => {
                let dir = match argv.get(1) {
                    Some(d) if d != "-" => d.clone(),
                    _ => get_var(&ctx.env, "HOME").unwrap_or("/").to_string(),
                };
                return match ctx.fs.lookup(&dir, &ctx.cwd) {
                    Some((abs, n)) if n.is_dir() => {
                        ctx.cwd = abs;
                        set_var(&mut ctx.env, "PWD", &ctx.cwd.clone());
                        0
                    }
                    Some(_) => {
                        o.err(&format!(
                            "{}cd: can't cd to {dir}: Not a directory\n",
                            sh.prefix()
                        ));
                        2
                    }
                    None => {
                        o.err(&format!(
                            "{}cd: can't cd to {dir}: No such file or directory\n",
                            sh.prefix()
                        ));
                        2
                    }
                };
            }
            "export" => {
                for a in &argv[1..] {
                    if let Some((k, v)) = a.split_once('=') {
                        set_var(&mut ctx.env, k, v);
                    }
                }
                return 0;
            }
            "unset" => {
                for a in &argv[1..] {
                    ctx.env.retain(|(k, _)| k != a);
                }
                return 0;
            }
            _ => {
                let path = argv[0].clone();
                return run_program(ctx, name, &path, argv, o);
            }
        }
    }
    let path_var = get_var(&ctx.env, "PATH")
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let Some(found) = locate(ctx, name, &path_var) else {
        o.err(&sh.not_found(name));
        return 127;
    };
    let base = fs::basename(name).to_string();
    if base == "busybox" || is_runnable(&base) {
        run_program(ctx, &base, &found, argv, o)
    } else {
        o.err(&format!("{}\n", cannot_simulate_msg(&base)));
        126
    }
}

#[cfg(test)]
mod tests {
    use super::super::fs::tests::{busybox_fs, TarBuilder};
    use super::*;

    struct Res {
        code: Result<i32, RunError>,
        out: String,
        err: String,
        clock: u64,
        hostname: String,
    }

    fn run_with(fs: &mut SimFs, argv: &[&str], tweak: impl FnOnce(&mut ShellCtx)) -> Res {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut ctx = ShellCtx {
            fs,
            env: vec![
                ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
                ("HOME".into(), "/root".into()),
            ],
            cwd: "/".into(),
            hostname: "glassbox-1".into(),
            uid: 0,
            gid: 0,
            pid: 1,
            procs: vec![SimProc {
                pid: 1,
                user: "root".into(),
                cmdline: argv.join(" "),
            }],
            clock_secs: 1_700_000_000,
            stdout: &mut out,
            stderr: &mut err,
        };
        tweak(&mut ctx);
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let code = run(&mut ctx, &argv);
        let clock = ctx.clock_secs;
        let hostname = ctx.hostname.clone();
        drop(ctx);
        Res {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
            clock,
            hostname,
        }
    }

    fn r(argv: &[&str]) -> Res {
        let mut fs = busybox_fs();
        run_with(&mut fs, argv, |_| {})
    }

    fn sh(script: &str) -> Res {
        r(&["sh", "-c", script])
    }

    #[test]
    fn example_from_brief() {
        let res = sh("echo $$; hostname; ls /");
        assert_eq!(res.code, Ok(0));
        assert_eq!(
            res.out,
            "1\nglassbox-1\nbin\ndev\netc\nhome\nproc\nroot\ntmp\nusr\nvar\n"
        );
        assert_eq!(res.err, "");
    }

    #[test]
    fn top_level_builtins() {
        assert_eq!(r(&["echo", "hello", "world"]).out, "hello world\n");
        assert_eq!(r(&["/bin/echo", "-n", "x"]).out, "x");
        assert_eq!(r(&["true"]).code, Ok(0));
        assert_eq!(r(&["false"]).code, Ok(1));
        assert_eq!(r(&["pwd"]).out, "/\n");
        assert_eq!(r(&["hostname"]).out, "glassbox-1\n");
    }

    #[test]
    fn top_level_not_found_and_cannot_simulate() {
        assert_eq!(
            r(&["nosuchcmd"]).code,
            Err(RunError::NotFound("nosuchcmd".into()))
        );
        assert_eq!(
            r(&["/bin/nosuch"]).code,
            Err(RunError::NotFound("/bin/nosuch".into()))
        );
        assert_eq!(
            r(&["vi", "x"]).code,
            Err(RunError::CannotSimulate("vi".into()))
        );
        // exit is a shell builtin, not a program in the image
        assert_eq!(r(&["exit"]).code, Err(RunError::NotFound("exit".into())));
        assert_eq!(RunError::NotFound("x".into()).exit_code(), 127);
        assert_eq!(RunError::CannotSimulate("x".into()).exit_code(), 126);
        assert!(RunError::CannotSimulate("vi".into())
            .to_string()
            .starts_with("glassbox: 'vi' cannot run in simulation (it can run: echo, cat,"));
    }

    #[test]
    fn builtin_missing_from_image_is_not_found() {
        // an image without `ps`
        let l = TarBuilder::new()
            .file_mode("bin/busybox", b"x", 0o755)
            .symlink("bin/sh", "busybox")
            .build();
        let mut fs = SimFs::from_layers(vec![Box::new(std::io::Cursor::new(l))]).unwrap();
        let res = run_with(&mut fs, &["ps"], |_| {});
        assert_eq!(res.code, Err(RunError::NotFound("ps".into())));
        let res = run_with(&mut fs, &["sh", "-c", "ps; echo $?"], |_| {});
        assert_eq!(res.code, Ok(0));
        assert_eq!(res.err, "sh: ps: not found\n");
        assert_eq!(res.out, "127\n");
        // but shell builtins still work without /bin/echo
        let res = run_with(&mut fs, &["sh", "-c", "echo hi"], |_| {});
        assert_eq!(res.out, "hi\n");
    }

    #[test]
    fn sh_not_found_and_cannot_simulate() {
        let res = sh("nosuchcmd; echo $?");
        assert_eq!(res.err, "sh: nosuchcmd: not found\n");
        assert_eq!(res.out, "127\n");
        let res = sh("vi /etc/passwd");
        assert_eq!(res.code, Ok(126));
        assert_eq!(res.err, format!("{}\n", cannot_simulate_msg("vi")));
        assert!(res.err.contains("(it can run: echo, cat, ls,"));
        assert!(res.err.ends_with("); run for real as root to use it\n"));
        let res = r(&["/bin/sh", "-c", "nosuch"]);
        assert_eq!(res.err, "/bin/sh: nosuch: not found\n");
        assert_eq!(res.code, Ok(127));
    }

    #[test]
    fn sequences_and_or() {
        assert_eq!(sh("true && echo a || echo b").out, "a\n");
        assert_eq!(sh("false && echo a || echo b").out, "b\n");
        assert_eq!(sh("false || false && echo c; echo d").out, "d\n");
        assert_eq!(sh("false; echo $?; true; echo $?").out, "1\n0\n");
        assert_eq!(
            sh("echo a\necho b\n\n# comment\necho c # trailing").out,
            "a\nb\nc\n"
        );
        assert_eq!(sh("false").code, Ok(1));
        assert_eq!(sh("").code, Ok(0));
        assert_eq!(sh("true &&\necho cont").out, "cont\n");
    }

    #[test]
    fn exit_ends_script() {
        let res = sh("echo a; exit 3; echo b");
        assert_eq!(res.code, Ok(3));
        assert_eq!(res.out, "a\n");
        assert_eq!(sh("false; exit").code, Ok(1));
        assert_eq!(sh("exit 256").code, Ok(0));
        assert_eq!(sh("true && exit 4 || echo no").code, Ok(4));
    }

    #[test]
    fn quoting_and_escapes() {
        assert_eq!(sh("echo 'a  b' \"c  d\" e\\ f").out, "a  b c  d e f\n");
        assert_eq!(
            sh("echo '$HOME' \"$HOME\" \\$HOME").out,
            "$HOME /root $HOME\n"
        );
        assert_eq!(sh("echo \"a\\\"b\" 'it'\\''s'").out, "a\"b it's\n");
        assert_eq!(sh("echo a';'b \"x&&y\"").out, "a;b x&&y\n");
        assert_eq!(sh("echo \"\" | true").code, Ok(2)); // pipes unsupported
        assert_eq!(sh("echo ''x'' \"\"").out, "x \n");
    }

    #[test]
    fn variables() {
        assert_eq!(sh("echo $HOME ${HOME}x $NOPE.").out, "/root /rootx .\n");
        assert_eq!(sh("X=1; echo $X").out, "1\n");
        assert_eq!(sh("X='a b'; echo [$X] \"[$X]\"").out, "[a b] [a b]\n");
        assert_eq!(
            sh("echo ${U:-def} ${HOME:+set} ${U-d2}").out,
            "def set d2\n"
        );
        assert_eq!(sh("echo $0 $1 $# \"$@\"").out, "sh 0\n");
        let res = r(&["sh", "-c", "echo $0 $1 $2 $#", "zero", "one", "two"]);
        assert_eq!(res.out, "zero one two 2\n");
        assert_eq!(sh("X=5 env | grep X").code, Ok(2));
        let res = sh("X=tmp env");
        assert!(res.out.contains("X=tmp\n"));
        assert_eq!(sh("X=tmp true; echo \"[$X]\"").out, "[]\n");
        assert_eq!(
            sh("export A=b; echo $A; unset A; echo \"[$A]\"").out,
            "b\n[]\n"
        );
        assert_eq!(sh("echo $").out, "$\n");
    }

    #[test]
    fn dollar_dollar_uses_namespace_pid() {
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["sh", "-c", "echo $$"], |c| c.pid = 42);
        assert_eq!(res.out, "42\n");
    }

    #[test]
    fn redirection() {
        let mut fs = busybox_fs();
        let res = run_with(
            &mut fs,
            &[
                "sh",
                "-c",
                "echo one > /tmp/f; echo two >> /tmp/f; cat /tmp/f",
            ],
            |_| {},
        );
        assert_eq!(res.out, "one\ntwo\n");
        assert_eq!(fs.read_file("/tmp/f", "/").unwrap(), b"one\ntwo\n");
        let res = run_with(
            &mut fs,
            &["sh", "-c", "echo new >/tmp/f; cat /tmp/f"],
            |_| {},
        );
        assert_eq!(res.out, "new\n");
        // stderr redirection
        let res = run_with(
            &mut fs,
            &["sh", "-c", "cat /nope 2>/tmp/e; cat /tmp/e"],
            |_| {},
        );
        assert_eq!(res.err, "");
        assert_eq!(
            res.out,
            "cat: can't open '/nope': No such file or directory\n"
        );
        let res = run_with(
            &mut fs,
            &["sh", "-c", "cat /nope /etc/hostname >/tmp/o 2>&1"],
            |_| {},
        );
        assert_eq!(res.err, "");
        assert!(String::from_utf8(fs.read_file("/tmp/o", "/").unwrap())
            .unwrap()
            .starts_with("cat: can't open '/nope'"));
        let res = run_with(
            &mut fs,
            &["sh", "-c", "echo x > /dev/null; echo done"],
            |_| {},
        );
        assert_eq!(res.out, "done\n");
        let res = run_with(&mut fs, &["sh", "-c", "echo x > /nodir/f; echo $?"], |_| {});
        assert_eq!(
            res.err,
            "sh: can't create /nodir/f: nonexistent directory\n"
        );
        assert_eq!(res.out, "1\n");
        let res = run_with(
            &mut fs,
            &["sh", "-c", "cd /tmp && echo rel>r && cat r"],
            |_| {},
        );
        assert_eq!(res.out, "rel\n");
        assert_eq!(fs.read_file("/tmp/r", "/").unwrap(), b"rel\n");
    }

    #[test]
    fn echo_flags() {
        assert_eq!(sh("echo -n a; echo b").out, "ab\n");
        assert_eq!(sh("echo -e 'a\\tb\\nc'").out, "a\tb\nc\n");
        assert_eq!(sh("echo -x").out, "-x\n");
        assert_eq!(sh("echo").out, "\n");
        assert_eq!(sh("echo -e 'x\\cy'").out, "x");
    }

    #[test]
    fn cat_files() {
        let mut fs = busybox_fs();
        fs.mount_pseudo("/etc/hostname", vec![("".into(), Node::file("box\n"))]);
        fs.mount_pseudo(
            "/proc",
            vec![
                ("1/cmdline".into(), Node::file("sh\0")),
                ("self".into(), Node::symlink("1")),
            ],
        );
        let res = run_with(&mut fs, &["cat", "/etc/hostname", "/etc/group"], |_| {});
        assert_eq!(
            res.out,
            "box\nroot:x:0:\ndaemon:x:1:\nwheel:x:10:root\nnogroup:x:65534:\n"
        );
        assert_eq!(res.code, Ok(0));
        let res = run_with(&mut fs, &["cat", "/proc/self/cmdline"], |_| {});
        assert_eq!(res.out, "sh\0");
        let res = run_with(&mut fs, &["cat", "/nope", "/etc/hostname"], |_| {});
        assert_eq!(res.code, Ok(1));
        assert_eq!(res.out, "box\n");
        assert_eq!(
            res.err,
            "cat: can't open '/nope': No such file or directory\n"
        );
        let res = run_with(&mut fs, &["cat", "/etc"], |_| {});
        assert_eq!(res.err, "cat: read error: Is a directory\n");
        let res = run_with(&mut fs, &["sh", "-c", "cd /etc; cat hostname"], |_| {});
        assert_eq!(res.out, "box\n");
    }

    #[test]
    fn ls_variants() {
        assert_eq!(r(&["ls", "/usr/share"]).out, "c\n");
        assert_eq!(r(&["ls", "-1", "/root"]).out, "");
        assert_eq!(r(&["ls", "-a", "/root"]).out, ".\n..\n.profile\n");
        assert_eq!(r(&["ls", "-A", "/root"]).out, ".profile\n");
        let res = r(&["ls", "/etc/passwd", "/usr/share", "/nope"]);
        assert_eq!(res.out, "/etc/passwd\n\n/usr/share:\nc\n");
        assert_eq!(res.err, "ls: /nope: No such file or directory\n");
        assert_eq!(res.code, Ok(1));
        let res = sh("cd /usr; ls");
        assert_eq!(res.out, "share\n");
        assert_eq!(r(&["ls", "-d", "/usr"]).out, "/usr\n");
    }

    #[test]
    fn ls_long_format() {
        let res = r(&["ls", "-l", "/bin/sh", "/etc/passwd", "/dev/null"]);
        let lines: Vec<&str> = res.out.lines().collect();
        assert_eq!(lines.len(), 3, "{}", res.out);
        assert!(
            lines[1].starts_with("crw-rw-rw-    1 root     root     "),
            "{}",
            lines[1]
        );
        assert!(
            lines[0].starts_with("lrwxrwxrwx    1 root     root             7 "),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with(" /bin/sh -> busybox"), "{}", lines[0]);
        assert!(
            lines[2].starts_with("-rw-r--r--    1 root     root     "),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains(" Nov 14 "), "{}", lines[2]); // mtime 1_700_000_000
        let res = r(&["ls", "-l", "/usr"]);
        assert!(res.out.starts_with("total "), "{}", res.out);
        assert!(
            res.out
                .contains("drwxr-xr-x    2 root     root          4096 "),
            "{}",
            res.out
        );
        assert!(res.out.trim_end().ends_with(" share"), "{}", res.out);
    }

    #[test]
    fn ls_long_old_files_show_year() {
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["ls", "-l", "/etc/passwd"], |c| {
            c.clock_secs = 1_800_000_000
        });
        assert!(res.out.contains(" Nov 14  2023 /etc/passwd"), "{}", res.out);
    }

    #[test]
    fn mode_strings() {
        let f = |mode| {
            mode_string(&Node::File {
                mode,
                uid: 0,
                gid: 0,
                data: vec![],
            })
        };
        assert_eq!(f(0o755), "-rwxr-xr-x");
        assert_eq!(f(0o4755), "-rwsr-xr-x");
        assert_eq!(f(0o1777), "-rwxrwxrwt");
        assert_eq!(f(0o2644), "-rw-r-Sr--");
    }

    #[test]
    fn ps_busybox_format() {
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["sh", "-c", "ps"], |c| {
            c.procs = vec![
                SimProc {
                    pid: 7,
                    user: "nobody".into(),
                    cmdline: "sleep 100".into(),
                },
                SimProc {
                    pid: 1,
                    user: "root".into(),
                    cmdline: "sh -c ps".into(),
                },
            ]
        });
        assert_eq!(
            res.out,
            "PID   USER     TIME  COMMAND\n    1 root      0:00 sh -c ps\n    7 nobody    0:00 sleep 100\n"
        );
    }

    #[test]
    fn id_names_and_fallback() {
        assert_eq!(r(&["id"]).out, "uid=0(root) gid=0(root) groups=0(root)\n");
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["id"], |c| {
            c.uid = 1000;
            c.gid = 65534
        });
        assert_eq!(
            res.out,
            "uid=1000 gid=65534(nogroup) groups=65534(nogroup)\n"
        );
        assert_eq!(r(&["id", "-u"]).out, "0\n");
        assert_eq!(r(&["id", "-un"]).out, "root\n");
        assert_eq!(r(&["id", "-g"]).out, "0\n");
    }

    #[test]
    fn env_prints_and_runs() {
        let res = r(&["env"]);
        assert_eq!(res.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nHOME=/root\n");
        let res = r(&["env", "-i", "A=1", "env"]);
        assert_eq!(res.out, "A=1\n");
        let res = r(&["env", "nosuch"]);
        assert_eq!(res.code, Ok(127));
        assert_eq!(
            res.err,
            "env: can't execute 'nosuch': No such file or directory\n"
        );
    }

    #[test]
    fn sleep_advances_clock() {
        let res = r(&["sleep", "5"]);
        assert_eq!(res.code, Ok(0));
        assert_eq!(res.clock, 1_700_000_005);
        let res = sh("sleep 1; sleep 0.5; sleep 1m");
        assert_eq!(res.clock, 1_700_000_000 + 1 + 1 + 60);
        let res = r(&["sleep", "abc"]);
        assert_eq!(res.code, Ok(1));
        assert_eq!(res.err, "sleep: invalid number 'abc'\n");
    }

    #[test]
    fn hostname_set() {
        let res = sh("hostname other; hostname");
        assert_eq!(res.out, "other\n");
        assert_eq!(res.hostname, "other");
    }

    #[test]
    fn busybox_applet_form() {
        assert_eq!(r(&["busybox", "echo", "hi"]).out, "hi\n");
        assert_eq!(r(&["/bin/busybox", "sh", "-c", "echo $$"]).out, "1\n");
        assert_eq!(
            r(&["busybox", "vi"]).code,
            Err(RunError::CannotSimulate("vi".into()))
        );
        assert_eq!(sh("busybox echo x; busybox vi").code, Ok(126));
        assert_eq!(r(&["busybox"]).code, Ok(0));
    }

    #[test]
    fn sh_without_c_and_script_files() {
        let res = r(&["sh"]);
        assert_eq!(res.code, Ok(0));
        assert_eq!(res.out, "");
        let mut fs = busybox_fs();
        fs.write_file("/tmp/s.sh", "/", b"echo from script $1\nexit 5\n", false)
            .unwrap();
        let res = run_with(&mut fs, &["sh", "/tmp/s.sh", "arg"], |_| {});
        assert_eq!(res.out, "from script arg\n");
        assert_eq!(res.code, Ok(5));
        let res = run_with(&mut fs, &["sh", "/tmp/none.sh"], |_| {});
        assert_eq!(res.code, Ok(127));
    }

    #[test]
    fn nested_sh_is_a_child() {
        let res = sh("X=1; sh -c 'echo in $X; X=2; cd /tmp; exit 3'; echo $? $X; pwd");
        assert_eq!(res.out, "in 1\n3 1\n/\n");
    }

    #[test]
    fn syntax_errors_and_unsupported() {
        let res = sh("echo 'oops");
        assert_eq!(res.code, Ok(2));
        assert_eq!(res.err, "sh: syntax error: unterminated quoted string\n");
        let res = sh("&& echo");
        assert_eq!(res.code, Ok(2));
        assert!(res.err.starts_with("sh: syntax error: unexpected"));
        let res = sh("echo a | cat");
        assert_eq!(res.code, Ok(2));
        assert!(res.err.contains("not supported in simulation"));
        let res = sh("echo $(id)");
        assert_eq!(res.code, Ok(2));
        let res = sh("if true; then echo y; fi");
        assert_eq!(res.code, Ok(2));
        assert!(res.err.contains("'if' is not supported"), "{}", res.err);
        let res = sh("echo a &&");
        assert_eq!(res.code, Ok(2));
    }

    #[test]
    fn cd_and_pwd() {
        assert_eq!(
            sh("cd /usr/share && pwd; cd ..; pwd; cd; pwd").out,
            "/usr/share\n/usr\n/root\n"
        );
        let res = sh("cd /nope; echo $?");
        assert_eq!(
            res.err,
            "sh: cd: can't cd to /nope: No such file or directory\n"
        );
        assert_eq!(res.out, "2\n");
    }

    #[test]
    fn dash_flavor_messages() {
        let l = TarBuilder::new()
            .file_mode("bin/dash", b"x", 0o755)
            .symlink("bin/sh", "dash")
            .file_mode("bin/ls", b"x", 0o755)
            .build();
        let mut fs = SimFs::from_layers(vec![Box::new(std::io::Cursor::new(l))]).unwrap();
        let res = run_with(&mut fs, &["sh", "-c", "true\nnosuch"], |_| {});
        assert_eq!(res.err, "sh: 2: nosuch: not found\n");
        assert_eq!(res.code, Ok(127));
        let res = run_with(&mut fs, &["/bin/sh", "-c", "ls /"], |_| {});
        assert_eq!(res.out, "bin\n");
    }

    #[test]
    fn relative_command_paths() {
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["sh", "-c", "cd /bin && ./echo hi"], |_| {});
        assert_eq!(res.out, "hi\n");
        let res = run_with(&mut fs, &["./echo", "x"], |c| c.cwd = "/bin".into());
        assert_eq!(res.out, "x\n");
    }

    #[test]
    fn path_from_env_is_honoured() {
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["ls"], |c| {
            c.env = vec![("PATH".into(), "/usr/bin".into())]
        });
        assert_eq!(res.code, Err(RunError::NotFound("ls".into())));
        let res = run_with(&mut fs, &["sh", "-c", "PATH=/nowhere; ls"], |_| {});
        assert_eq!(res.err, "sh: ls: not found\n");
    }

    #[test]
    fn output_interleaving_is_ordered() {
        let res = sh("echo a; cat /nope; echo b");
        assert_eq!(res.out, "a\nb\n");
        assert_eq!(
            res.err,
            "cat: can't open '/nope': No such file or directory\n"
        );
    }

    #[test]
    fn field_splitting_details() {
        assert_eq!(sh("X=' a  b '; echo [$X]").out, "[ a b ]\n");
        assert_eq!(sh("E=; echo x $E y").out, "x y\n");
        assert_eq!(sh("E=; echo x \"$E\" y").out, "x  y\n");
    }
}
