//! The interpreter: runs parsed commands with ash's semantics (special
//! builtins, functions, builtins, then programs found through PATH),
//! redirections, pipelines and background jobs as simulated processes,
//! traps run when their signal arrives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::parser::{is_name, parse_script, Cmd, Redir, RedirOp};
use super::world::{Fd, Proc, Shared, St};
use super::Flow;
use crate::kernel::sim::applets;
use crate::kernel::sim::fs;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    Ash,
    Dash,
    Bash,
}

#[derive(Clone, Debug)]
pub struct Var {
    pub name: String,
    pub value: String,
    pub exported: bool,
}

/// One shell's state (cloned for a subshell).
#[derive(Clone)]
pub struct Sh {
    pub vars: Vec<Var>,
    pub funcs: HashMap<String, Arc<Cmd>>,
    pub arg0: String,
    pub pos: Vec<String>,
    pub last: i32,
    /// Signal number (0 = EXIT) → handler source.
    pub traps: BTreeMap<i32, String>,
    pub errexit: bool,
    /// `set -u`
    pub nounset: bool,
    /// Started as `sh -c` (the `c` of `$-`).
    pub dash_c: bool,
    /// getopts: the OPTIND it left and the place inside that argument.
    getopt_at: (usize, usize),
    pub xtrace: bool,
    /// An interactive shell (`-i`, or stdin and stderr on a terminal):
    /// prompts, and ^C (SIGINT) abandons the command line, not the shell.
    pub interactive: bool,
    locals: Vec<Vec<(String, Option<Var>)>>,
    loops: usize,
    depth: usize,
    /// Inside a condition (if/while test, left of && ||, after !): no set -e.
    cond: usize,
    pub cwd: String,
    pub flavor: Flavor,
    pub line: usize,
    pub last_bg: Option<u32>,
    pub children: Vec<u32>,
    subst_status: Option<i32>,
    in_trap: bool,
    /// The scope threads are spawned in.
    pub(crate) spawner: Option<Spawner>,
    /// Set when the next external command may replace this process (exec).
    exec_last: bool,
    /// Whether this shell runs a `-c` string (whose last command it execs).
    pub exec_ok: bool,
    /// `$RANDOM`'s generator state: a fixed seed, so runs repeat exactly.
    random: std::cell::Cell<u32>,
    /// Resource limits this shell's `ulimit` set (None: the container's).
    pub rlimits: Option<Vec<crate::kernel::sim::rlimits::Rlimit>>,
}

/// What a simulated process's thread runs, given the world it shares.
pub type Job = Box<dyn FnOnce(&Shared) + Send>;

/// Starts a simulated process's thread (a scoped thread of `shell::run_until`,
/// which borrows the world until every thread ended); false if it could not.
pub type Spawner = Arc<dyn Fn(Job) -> bool + Send + Sync>;

/// The exit status a flow ends a process with.
pub fn flow_code(f: &Flow, last: i32) -> i32 {
    match f {
        Flow::Exit(c) | Flow::Return(c) | Flow::Killed(c) => *c,
        Flow::Break(_) | Flow::Continue(_) | Flow::Halt => last,
    }
}

const SPECIAL: &[&str] = &[
    ":", ".", "break", "continue", "eval", "exec", "exit", "export", "readonly", "return", "set",
    "shift", "trap", "unset", "source",
];
/// Applets busybox's ash runs in a forked shell without re-executing itself
/// (seen with the real busybox: `sh -c 'cat | ps'` lists `{ps} sh -c ...`
/// but plain `cat`).
const NOEXEC: &[&str] = &["ps"];
const BUILTINS: &[&str] = &[
    "cd", "pwd", "echo", "printf", "test", "[", "true", "false", "kill", "read", "wait", "local",
    "type", "command", "umask", "jobs", "times", "getopts", "hash", "let", "chdir", "ulimit",
];

impl Sh {
    pub fn new(
        arg0: String,
        pos: Vec<String>,
        env: &[(String, String)],
        cwd: String,
        flavor: Flavor,
    ) -> Sh {
        Sh {
            vars: env
                .iter()
                .map(|(k, v)| Var {
                    name: k.clone(),
                    value: v.clone(),
                    exported: true,
                })
                .collect(),
            funcs: HashMap::new(),
            arg0,
            pos,
            last: 0,
            traps: BTreeMap::new(),
            errexit: false,
            nounset: false,
            dash_c: false,
            getopt_at: (0, 0),
            xtrace: false,
            interactive: false,
            locals: Vec::new(),
            loops: 0,
            depth: 0,
            cond: 0,
            cwd,
            flavor,
            line: 1,
            last_bg: None,
            children: Vec::new(),
            subst_status: None,
            in_trap: false,
            spawner: None,
            exec_last: false,
            exec_ok: false,
            random: std::cell::Cell::new(0x2545_f491),
            rlimits: None,
        }
    }

    pub fn prefix(&self) -> String {
        match self.flavor {
            Flavor::Ash => format!("{}: ", self.arg0),
            Flavor::Dash => format!("{}: {}: ", self.arg0, self.line),
            Flavor::Bash => format!("{}: line {}: ", self.arg0, self.line),
        }
    }

    /// The prefix of a builtin's error: ash names the builtin and the line
    /// (counted from 0 within `-c`), e.g. `sh: cd: line 0: `.
    pub fn bprefix(&self, builtin: &str) -> String {
        match self.flavor {
            Flavor::Ash => format!(
                "{}: {builtin}: line {}: ",
                self.arg0,
                self.line.saturating_sub(1)
            ),
            _ => format!("{}{builtin}: ", self.prefix()),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.clone())
    }

    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|v| v.name == name) {
            Some(v) => v.value = value.to_string(),
            None => self.vars.push(Var {
                name: name.into(),
                value: value.into(),
                exported: false,
            }),
        }
    }

    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|v| v.name != name);
    }

    pub fn export(&mut self, name: &str) {
        match self.vars.iter_mut().find(|v| v.name == name) {
            Some(v) => v.exported = true,
            None => self.vars.push(Var {
                name: name.into(),
                value: String::new(),
                exported: true,
            }),
        }
    }

    /// The environment a program gets.
    pub fn environ(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|v| v.exported)
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()
    }

    /// A special parameter, positional parameter or variable.
    pub fn param(&self, name: &str) -> Option<String> {
        Some(match name {
            "?" => self.last.to_string(),
            "#" => self.pos.len().to_string(),
            "0" => self.arg0.clone(),
            "@" | "*" => self.pos.join(" "),
            "!" => return self.last_bg.map(|p| p.to_string()),
            "-" => {
                // in ash's order: u x c e
                let mut f = String::new();
                if self.nounset {
                    f.push('u');
                }
                if self.xtrace {
                    f.push('x');
                }
                if self.dash_c {
                    f.push('c');
                }
                if self.errexit {
                    f.push('e');
                }
                f
            }
            "$" => return self.get("\0pid"),
            "RANDOM" => {
                // xorshift32, reduced to ash's 0..32767
                let mut x = self.random.get();
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                self.random.set(x);
                (x % 32768).to_string()
            }
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                let k: usize = n.parse().ok()?;
                return self.pos.get(k.checked_sub(1)?).cloned();
            }
            n => return self.get(n),
        })
    }

    /// Run a whole script, one complete command at a time as ash does.
    pub fn run_script(&mut self, p: &mut Proc, src: &str) -> Result<i32, Flow> {
        let (cmds, err) = parse_script(src);
        // `sh -c 'cmd'` with one simple command execs it in place.
        let n = cmds.len();
        for (k, c) in cmds.iter().enumerate() {
            // ash execs the last command of `sh -c` in place (no fork).
            self.exec_last = self.exec_ok && k + 1 == n && err.is_none() && self.traps.is_empty();
            let r = self.exec(p, c);
            self.exec_last = false;
            self.last = r?;
            self.after_command(p)?;
        }
        if let Some(e) = err {
            let m = format!("{}syntax error: {e}\n", self.prefix());
            p.err(m)?;
            return Err(Flow::Exit(2));
        }
        Ok(self.last)
    }

    /// Read commands from stdin and run each as soon as it is complete, as
    /// ash does; an interactive shell prompts (PS1, PS2 for more of a
    /// command) and survives ^C and syntax errors.
    pub fn run_stdin(&mut self, p: &mut Proc) -> Result<i32, Flow> {
        if self.interactive {
            let me = p.pid;
            if let Some(e) = p.w().procs.get_mut(&me) {
                // ash interactive: catches SIGINT, ignores SIGQUIT and SIGTERM.
                e.trapped.insert(2);
                e.ignored.insert(3);
                e.ignored.insert(15);
            }
        }
        let mut buf = String::new();
        loop {
            if self.interactive {
                let prompt = self.prompt(if buf.is_empty() { "PS1" } else { "PS2" });
                p.err(prompt)?;
            }
            let line = match p.read_line(0) {
                Ok(l) => l,
                Err(Flow::Killed(c)) if self.interrupted(p) => {
                    buf.clear();
                    self.last = c;
                    p.err("\n")?;
                    continue;
                }
                Err(f) => return Err(f),
            };
            let Some(line) = line else {
                if self.interactive {
                    p.err("\n")?;
                }
                break;
            };
            let complete = line.last() == Some(&b'\n');
            buf.push_str(&String::from_utf8_lossy(&line));
            let (_, err) = parse_script(&buf);
            if let Some(e) = &err {
                let more = e.starts_with("unexpected end of file")
                    || e == "unterminated quoted string"
                    || e == "EOF in backquote substitution";
                if more && complete {
                    continue;
                }
                if self.interactive {
                    let m = format!("{}syntax error: {e}\n", self.prefix());
                    p.err(m)?;
                    buf.clear();
                    self.last = 2;
                    continue;
                }
            }
            let src = std::mem::take(&mut buf);
            match self.run_script(p, &src) {
                Ok(_) => {}
                Err(Flow::Killed(c)) if self.interrupted(p) => {
                    self.last = c;
                    p.err("\n")?;
                }
                Err(f) => return Err(f),
            }
        }
        Ok(self.last)
    }

    /// An interactive shell got ^C (rather than being killed itself).
    fn interrupted(&self, p: &mut Proc) -> bool {
        let me = p.pid;
        let killed = p.world().procs.get(&me).and_then(|e| e.killed).is_some();
        if self.interactive && !killed {
            p.take_pending();
            true
        } else {
            false
        }
    }

    /// A prompt with busybox's escapes: \w (cwd, ~ for $HOME), \W, \u, \h, \$.
    fn prompt(&self, var: &str) -> String {
        let default = if var == "PS1" { "\\w \\$ " } else { "> " };
        let spec = self.get(var).unwrap_or_else(|| default.to_string());
        let root = p_uid_is_root(self);
        let home = self.get("HOME").unwrap_or_default();
        let cwd = if !home.is_empty() && home != "/" && self.cwd.starts_with(&home) {
            format!("~{}", &self.cwd[home.len()..])
        } else {
            self.cwd.clone()
        };
        let mut out = String::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('w') => out.push_str(&cwd),
                Some('W') => out.push_str(crate::kernel::sim::fs::basename(&self.cwd)),
                Some('u') => out.push_str(&self.get("USER").unwrap_or_else(|| "root".into())),
                Some('h') | Some('H') => out.push_str(&self.get("HOSTNAME").unwrap_or_default()),
                Some('$') => out.push(if root { '#' } else { '$' }),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        }
        out
    }

    /// Run pending traps and apply `set -e`.
    fn after_command(&mut self, p: &mut Proc) -> Result<(), Flow> {
        self.run_traps(p)?;
        if self.errexit && self.last != 0 && self.cond == 0 {
            return Err(Flow::Exit(self.last));
        }
        Ok(())
    }

    pub fn run_traps(&mut self, p: &mut Proc) -> Result<(), Flow> {
        if self.in_trap {
            return Ok(());
        }
        for sig in p.take_pending() {
            let Some(src) = self.traps.get(&sig).cloned() else {
                if sig == 2 && self.interactive {
                    // ash's own SIGINT handler: back to the prompt.
                    return Err(Flow::Killed(130));
                }
                continue;
            };
            let saved = self.last;
            self.in_trap = true;
            let r = self.eval_src(p, &src);
            self.in_trap = false;
            match r {
                Ok(_) => self.last = saved,
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    /// The EXIT trap, when the shell ends.
    pub fn run_exit_trap(&mut self, p: &mut Proc) -> Result<(), Flow> {
        if let Some(src) = self.traps.remove(&0) {
            let saved = self.last;
            match self.eval_src(p, &src) {
                Ok(_) => self.last = saved,
                Err(Flow::Exit(c)) => self.last = c,
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    fn eval_src(&mut self, p: &mut Proc, src: &str) -> Result<i32, Flow> {
        let (cmds, err) = parse_script(src);
        let mut st = self.last;
        for c in &cmds {
            st = self.exec(p, c)?;
            self.last = st;
        }
        if let Some(e) = err {
            let m = format!("{}syntax error: {e}\n", self.prefix());
            p.err(m)?;
            return Err(Flow::Exit(2));
        }
        Ok(st)
    }

    fn in_cond<T>(&mut self, f: impl FnOnce(&mut Sh) -> T) -> T {
        self.cond += 1;
        let r = f(self);
        self.cond -= 1;
        r
    }

    pub fn exec(&mut self, p: &mut Proc, c: &Cmd) -> Result<i32, Flow> {
        // Only a simple command (or the last of a list) is exec'd in place:
        // the commands inside a loop, an if or a group run as children.
        if !matches!(c, Cmd::Simple { .. } | Cmd::Seq(_)) && self.exec_last {
            self.exec_last = false;
            let r = self.exec_cmd(p, c);
            self.exec_last = true;
            return r;
        }
        self.exec_cmd(p, c)
    }

    fn exec_cmd(&mut self, p: &mut Proc, c: &Cmd) -> Result<i32, Flow> {
        match c {
            Cmd::Simple {
                words,
                redirs,
                line,
            } => {
                self.line = *line;
                let st = self.simple(p, words, redirs)?;
                // Signals that arrived run their traps after the command, as in ash.
                self.last = st;
                self.run_traps(p)?;
                Ok(st)
            }
            Cmd::Seq(items) => {
                let mut st = 0;
                for (k, it) in items.iter().enumerate() {
                    let keep = self.exec_last && k + 1 == items.len();
                    let el = std::mem::replace(&mut self.exec_last, keep);
                    let r = self.exec(p, it);
                    self.exec_last = el;
                    st = r?;
                    self.last = st;
                    self.after_command(p)?;
                }
                Ok(st)
            }
            Cmd::And(a, b) | Cmd::Or(a, b) => {
                let is_and = matches!(c, Cmd::And(..));
                let l = self.in_cond(|s| s.exec(p, a))?;
                self.last = l;
                if (l == 0) == is_and {
                    self.exec(p, b)
                } else {
                    Ok(l)
                }
            }
            Cmd::Pipeline { cmds, bang } => {
                let st = if cmds.len() == 1 {
                    self.in_cond(|s| s.exec(p, &cmds[0]))?
                } else {
                    self.pipeline(p, cmds)?
                };
                Ok(if *bang { (st == 0) as i32 } else { st })
            }
            Cmd::Bg(inner) => {
                let pid = self.fork(p, inner, Some(Fd::Null), None, false)?;
                self.last_bg = Some(pid);
                self.children.push(pid);
                Ok(0)
            }
            Cmd::Brace(b) => self.exec(p, b),
            Cmd::Sub(b) => self.subshell(p, b),
            Cmd::If(arms, els) => {
                for (cond, body) in arms {
                    let c = self.in_cond(|s| s.exec(p, cond))?;
                    if c == 0 {
                        return self.exec(p, body);
                    }
                }
                match els {
                    Some(e) => self.exec(p, e),
                    None => Ok(0),
                }
            }
            Cmd::Loop { until, cond, body } => {
                let mut st = 0;
                self.loops += 1;
                let r = (|| loop {
                    p.tick()?;
                    let c = self.in_cond(|s| s.exec(p, cond))?;
                    if (c == 0) == *until {
                        return Ok(st);
                    }
                    match self.exec(p, body) {
                        Ok(s) => st = s,
                        Err(Flow::Break(n)) if n > 1 => return Err(Flow::Break(n - 1)),
                        Err(Flow::Break(_)) => return Ok(0),
                        Err(Flow::Continue(n)) if n > 1 => return Err(Flow::Continue(n - 1)),
                        Err(Flow::Continue(_)) => {}
                        Err(f) => return Err(f),
                    }
                    self.last = st;
                })();
                self.loops -= 1;
                r
            }
            Cmd::For { var, list, body } => {
                let items = match list {
                    Some(ws) => self.expand_words(p, ws)?,
                    None => self.pos.clone(),
                };
                let mut st = 0;
                self.loops += 1;
                let r = (|| {
                    for it in items {
                        p.tick()?;
                        self.set(var, &it);
                        match self.exec(p, body) {
                            Ok(s) => st = s,
                            Err(Flow::Break(n)) if n > 1 => return Err(Flow::Break(n - 1)),
                            Err(Flow::Break(_)) => return Ok(st),
                            Err(Flow::Continue(n)) if n > 1 => return Err(Flow::Continue(n - 1)),
                            Err(Flow::Continue(_)) => {}
                            Err(f) => return Err(f),
                        }
                        self.last = st;
                    }
                    Ok(st)
                })();
                self.loops -= 1;
                r
            }
            Cmd::Case { word, arms } => {
                let w = self.expand_str(p, word)?;
                for (pats, body) in arms {
                    for pat in pats {
                        let pat = self.expand_pattern(p, pat)?;
                        if super::expand::glob_match(&pat, &w) {
                            return self.exec(p, body);
                        }
                    }
                }
                Ok(0)
            }
            Cmd::Func { name, body } => {
                self.funcs.insert(name.clone(), body.clone());
                Ok(0)
            }
            Cmd::Redirected(inner, redirs) => {
                let Some(saved) = self.redirect(p, redirs)? else {
                    return Ok(1);
                };
                let r = self.exec(p, inner);
                self.restore(p, saved);
                r
            }
        }
    }

    /// `( ... )`: run in a copy of this shell; nothing it changes leaks out.
    fn subshell(&mut self, p: &mut Proc, body: &Cmd) -> Result<i32, Flow> {
        let mut sub = self.clone();
        sub.traps.clear();
        let saved = p.fds.clone();
        p.fds = p.dup_fds(&saved);
        let r = sub.exec(p, body);
        let r = match r {
            Ok(c) => Ok(c),
            Err(Flow::Exit(c)) | Err(Flow::Return(c)) => Ok(c),
            Err(f) => Err(f),
        };
        let mine = std::mem::replace(&mut p.fds, saved);
        p.close_fds(&mine);
        r
    }

    /// `$(...)`: the output of `src` run in a subshell, trailing newlines removed.
    pub fn command_subst(&mut self, p: &mut Proc, src: &str) -> Result<String, Flow> {
        let id = p.w().new_pipe(Vec::new(), 1, true);
        let mut sub = self.clone();
        sub.traps.clear();
        let saved = p.fds.clone();
        p.fds = p.dup_fds(&saved);
        p.set_fd(1, Fd::PipeW(id));
        let r = sub.eval_src(p, src);
        let code = match r {
            Ok(c) => c,
            Err(Flow::Exit(c)) | Err(Flow::Return(c)) => c,
            Err(f) => {
                let mine = std::mem::replace(&mut p.fds, saved);
                p.close_fds(&mine);
                return Err(f);
            }
        };
        let mine = std::mem::replace(&mut p.fds, saved);
        p.close_fds(&mine);
        p.fds.push(Fd::PipeR(id));
        let n = p.fds.len() - 1;
        let data = p.read_all_held(n)?;
        p.hold(0)?;
        let fd = p.fds.pop().unwrap();
        p.w().release(&fd);
        self.subst_status = Some(code);
        let mut s = String::from_utf8_lossy(&data).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Start `cmd` as a forked child (a subshell) on its own thread.
    /// `stdin`/`stdout` replace fds 0/1 when given.
    fn fork(
        &mut self,
        p: &mut Proc,
        cmd: &Cmd,
        stdin: Option<Fd>,
        stdout: Option<Fd>,
        exec_ok: bool,
    ) -> Result<u32, Flow> {
        let cmdline = p
            .world()
            .procs
            .get(&p.pid)
            .map(|e| e.cmdline.clone())
            .unwrap_or_default();
        let mut sub = self.clone();
        sub.traps.clear();
        sub.children.clear();
        sub.exec_last = exec_ok && matches!(cmd, Cmd::Simple { .. });
        let cmd = cmd.clone();
        self.spawn(
            p,
            &cmdline,
            stdin,
            stdout,
            Box::new(move |cp: &mut Proc| match sub.exec(cp, &cmd) {
                Ok(c) | Err(Flow::Exit(c)) | Err(Flow::Return(c)) => Ok(c),
                Err(Flow::Break(_)) | Err(Flow::Continue(_)) => Ok(sub.last),
                Err(f) => Err(f),
            }),
        )
    }

    /// Start a new process running `body` on its own thread; returns its pid.
    pub fn spawn(
        &mut self,
        p: &mut Proc,
        cmdline: &str,
        stdin: Option<Fd>,
        stdout: Option<Fd>,
        body: Body,
    ) -> Result<u32, Flow> {
        let me = p.pid;
        self.may_fork(p)?;
        let pid = p.w().add_thread(None, me, cmdline);
        let mut fds = p.dup_fds(&p.fds.clone());
        if let Some(i) = stdin {
            p.w().retain(&i);
            let old = std::mem::replace(&mut fds[0], i);
            p.w().release(&old);
        }
        if let Some(o) = stdout {
            p.w().retain(&o);
            let old = std::mem::replace(&mut fds[1], o);
            p.w().release(&old);
        }
        let ok = match &self.spawner {
            Some(spawner) => spawner(Box::new(move |shared: &Shared| {
                run_child(shared, pid, fds, body)
            })),
            None => false,
        };
        if !ok {
            let w = p.w();
            w.procs.remove(&pid);
            w.live_threads -= 1;
            let m = format!("{}can't fork\n", self.prefix());
            p.err(m)?;
            return Err(Flow::Exit(2));
        }
        Ok(pid)
    }

    /// fork(2) under the cgroup's pids.max: past it the kernel says EAGAIN
    /// and ash gives up on the command line (exit status 2).
    fn may_fork(&mut self, p: &mut Proc) -> Result<(), Flow> {
        if p.w().fork_allowed() {
            return Ok(());
        }
        let m = format!(
            "{}can't fork: Resource temporarily unavailable\n",
            self.prefix()
        );
        p.err(m)?;
        Err(Flow::Exit(2))
    }

    /// Wait for the children `pids` to end; the last one's exit status.
    fn wait_for(&mut self, p: &mut Proc, pids: &[u32]) -> Result<i32, Flow> {
        loop {
            let done = pids.iter().all(|pid| {
                p.world()
                    .procs
                    .get(pid)
                    .map(|e| e.state == St::Done)
                    .unwrap_or(true)
            });
            if done {
                break;
            }
            p.wait_child()?;
        }
        let code = pids
            .last()
            .and_then(|pid| p.world().procs.get(pid).and_then(|e| e.exit))
            .unwrap_or(0);
        if let Some(k) = pids
            .last()
            .and_then(|pid| p.world().procs.get(pid).and_then(|e| e.killed))
        {
            report_signal(p, k)?;
        }
        for pid in pids {
            p.w().procs.remove(pid);
        }
        Ok(code)
    }

    fn pipeline(&mut self, p: &mut Proc, cmds: &[Cmd]) -> Result<i32, Flow> {
        let mut pids = Vec::new();
        let mut prev: Option<Fd> = None;
        for (k, c) in cmds.iter().enumerate() {
            let last = k + 1 == cmds.len();
            let (out, next_in) = if last {
                (None, None)
            } else {
                let id = p.w().new_pipe(Vec::new(), 1, false);
                (Some(Fd::PipeW(id)), Some(Fd::PipeR(id)))
            };
            let pid = self.fork(p, c, prev.clone(), out.clone(), true)?;
            pids.push(pid);
            if let Some(i) = prev.take() {
                p.w().release(&i);
            }
            if let Some(o) = out {
                p.w().release(&o);
            }
            prev = next_in;
        }
        self.wait_for(p, &pids)
    }

    /// Apply redirections to this process's fds; None when one failed (reported).
    pub fn redirect(&mut self, p: &mut Proc, redirs: &[Redir]) -> Result<Option<Vec<Fd>>, Flow> {
        let saved = p.fds.clone();
        p.fds = p.dup_fds(&saved);
        for r in redirs {
            let fd = r.fd.max(0) as usize;
            let res: Result<Fd, String> = match &r.op {
                RedirOp::HereDoc(expand) => {
                    let body = if *expand {
                        self.expand_heredoc(p, &r.target)?
                    } else {
                        r.target.clone()
                    };
                    Ok(Fd::PipeR(p.w().new_pipe(body.into_bytes(), 0, true)))
                }
                RedirOp::DupOut | RedirOp::DupIn => {
                    let t = self.expand_str(p, &r.target)?;
                    if t == "-" {
                        Ok(Fd::Closed)
                    } else {
                        match t.parse::<usize>() {
                            Ok(n) => {
                                let f = p.fd(n);
                                if f == Fd::Closed {
                                    Err(format!("{n}: Bad file descriptor"))
                                } else {
                                    p.w().retain(&f);
                                    Ok(f)
                                }
                            }
                            Err(_) => Err(format!("{t}: Bad file descriptor")),
                        }
                    }
                }
                op => {
                    let t = self.expand_str(p, &r.target)?;
                    self.open(p, &t, op)
                }
            };
            match res {
                Ok(f) => p.set_fd(fd, f),
                Err(m) => {
                    let m = format!("{}{m}\n", self.prefix());
                    let mine = std::mem::replace(&mut p.fds, saved);
                    // report on the original stderr
                    let _ = p.err(m);
                    p.close_fds(&mine);
                    return Ok(None);
                }
            }
        }
        Ok(Some(saved))
    }

    pub fn restore(&mut self, p: &mut Proc, saved: Vec<Fd>) {
        let mine = std::mem::replace(&mut p.fds, saved);
        p.close_fds(&mine);
    }

    fn open(&mut self, p: &mut Proc, t: &str, op: &RedirOp) -> Result<Fd, String> {
        let cwd = self.cwd.clone();
        let fsys = &mut p.w().fs;
        let abs = fsys
            .resolve(t, &cwd, true)
            .map_err(|e| open_err(t, e, op))?;
        let is_null = matches!(fsys.lookup(&abs, "/"), Some((_, fs::Node::Other { .. })));
        match op {
            RedirOp::In | RedirOp::ReadWrite => {
                if is_null {
                    return Ok(Fd::Null);
                }
                match fsys.read_file(&abs, "/") {
                    Ok(d) => Ok(Fd::PipeR(p.w().new_pipe(d, 0, true))),
                    Err(e) if *op == RedirOp::ReadWrite && e == fs::FsError::NotFound => {
                        fsys.write_file(&abs, "/", b"", true)
                            .map_err(|e| open_err(t, e, op))?;
                        Ok(Fd::PipeR(p.w().new_pipe(Vec::new(), 0, true)))
                    }
                    Err(e) => Err(open_err(t, e, op)),
                }
            }
            _ => {
                if is_null {
                    return Ok(Fd::Null);
                }
                fsys.write_file(&abs, "/", b"", true)
                    .map_err(|e| open_err(t, e, op))?;
                if *op == RedirOp::Out {
                    let _ = fsys.write_file(&abs, "/", b"", false);
                }
                // created or truncated now
                let now = p.world().clock_ms / 1000;
                p.w().fs.set_mtime(&abs, now);
                Ok(Fd::File(abs))
            }
        }
    }

    fn simple(&mut self, p: &mut Proc, words: &[String], redirs: &[Redir]) -> Result<i32, Flow> {
        p.tick()?;
        self.subst_status = None;
        let mut assigns = Vec::new();
        let mut k = 0;
        while k < words.len() {
            match words[k].split_once('=') {
                Some((n, v)) if is_name(n) => {
                    let v = self.expand_str(p, v)?;
                    assigns.push((n.to_string(), v));
                    k += 1;
                }
                _ => break,
            }
        }
        let argv = self.expand_words(p, &words[k..])?;
        if self.xtrace {
            let mut t: Vec<String> = assigns.iter().map(|(n, v)| format!("{n}={v}")).collect();
            t.extend(argv.iter().cloned());
            p.err(format!("+ {}\n", t.join(" ")))?;
        }
        if argv.is_empty() {
            for (n, v) in &assigns {
                self.set(n, v);
            }
            let st = self.subst_status.unwrap_or(0);
            if !redirs.is_empty() {
                match self.redirect(p, redirs)? {
                    Some(saved) => self.restore(p, saved),
                    None => return Ok(1),
                }
            }
            return Ok(st);
        }
        let Some(saved) = self.redirect(p, redirs)? else {
            return Ok(if SPECIAL.contains(&argv[0].as_str()) {
                2
            } else {
                1
            });
        };
        if argv.len() == 1 && argv[0] == "exec" {
            // `exec 3>file`, `exec >&-`: the redirections are the shell's own now
            p.close_fds(&saved);
            return Ok(0);
        }
        let r = self.run_argv(p, &argv, &assigns);
        self.restore(p, saved);
        r
    }

    /// Run a command by name: special builtin, function, builtin, program.
    pub fn run_argv(
        &mut self,
        p: &mut Proc,
        argv: &[String],
        assigns: &[(String, String)],
    ) -> Result<i32, Flow> {
        let name = argv[0].as_str();
        if SPECIAL.contains(&name) {
            for (n, v) in assigns {
                self.set(n, v);
            }
            return self.special(p, argv);
        }
        if let Some(body) = self.funcs.get(name).cloned() {
            return self.call(p, &body, argv, assigns);
        }
        let saved: Vec<Var> = if assigns.is_empty() {
            Vec::new()
        } else {
            self.vars.clone()
        };
        for (n, v) in assigns {
            self.set(n, v);
            self.export(n);
        }
        let r = if BUILTINS.contains(&name) {
            self.builtin(p, argv)
        } else {
            self.external(p, argv)
        };
        if !assigns.is_empty() {
            self.vars = saved;
        }
        r
    }

    fn call(
        &mut self,
        p: &mut Proc,
        body: &Cmd,
        argv: &[String],
        assigns: &[(String, String)],
    ) -> Result<i32, Flow> {
        if self.depth > 200 {
            let m = format!("{}{}: function nesting too deep\n", self.prefix(), argv[0]);
            p.err(m)?;
            return Ok(2);
        }
        let saved_pos = std::mem::replace(&mut self.pos, argv[1..].to_vec());
        self.depth += 1;
        self.locals.push(Vec::new());
        for (n, v) in assigns {
            self.local(n, Some(v.clone()));
        }
        let r = self.exec(p, body);
        let locals = self.locals.pop().unwrap_or_default();
        for (n, old) in locals.into_iter().rev() {
            self.unset(&n);
            if let Some(v) = old {
                self.vars.push(v);
            }
        }
        self.depth -= 1;
        self.pos = saved_pos;
        match r {
            Err(Flow::Return(c)) => Ok(c),
            r => r,
        }
    }

    fn local(&mut self, name: &str, value: Option<String>) {
        let old = self.vars.iter().find(|v| v.name == name).cloned();
        if let Some(frame) = self.locals.last_mut() {
            if !frame.iter().any(|(n, _)| n == name) {
                frame.push((name.to_string(), old));
            }
        }
        match value {
            Some(v) => self.set(name, &v),
            None => {
                if self.get(name).is_none() {
                    self.set(name, "");
                }
            }
        }
    }

    fn special(&mut self, p: &mut Proc, argv: &[String]) -> Result<i32, Flow> {
        let a = &argv[1..];
        let num = |s: &Sh, p: &mut Proc, x: &str, what: &str| -> Result<i64, Flow> {
            match x.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(n),
                _ => {
                    let m = format!("{}Illegal number: {x}\n", s.bprefix(what));
                    p.err(m)?;
                    Err(Flow::Exit(2))
                }
            }
        };
        match argv[0].as_str() {
            ":" => Ok(0),
            "exit" => {
                let c = match a.first() {
                    None => self.last,
                    Some(x) => (num(self, p, x, "exit")? & 0xff) as i32,
                };
                Err(Flow::Exit(c))
            }
            "return" => {
                let c = match a.first() {
                    None => self.last,
                    Some(x) => (num(self, p, x, "return")? & 0xff) as i32,
                };
                Err(Flow::Return(c))
            }
            "break" | "continue" => {
                let n = match a.first() {
                    None => 1,
                    Some(x) => num(self, p, x, &argv[0])?.max(1) as usize,
                };
                if self.loops == 0 {
                    return Ok(0);
                }
                let n = n.min(self.loops);
                Err(if argv[0] == "break" {
                    Flow::Break(n)
                } else {
                    Flow::Continue(n)
                })
            }
            "shift" => {
                let n = match a.first() {
                    None => 1,
                    Some(x) => num(self, p, x, "shift")? as usize,
                };
                if n > self.pos.len() {
                    let m = format!("{}can't shift that many\n", self.bprefix("shift"));
                    p.err(m)?;
                    return Err(Flow::Exit(2));
                }
                self.pos.drain(..n);
                Ok(0)
            }
            "export" | "readonly" => {
                if a.is_empty() || a[0] == "-p" {
                    let mut vs: Vec<Var> = self
                        .vars
                        .iter()
                        .filter(|v| v.exported && !v.name.starts_with('\0'))
                        .cloned()
                        .collect();
                    vs.sort_by(|x, y| x.name.cmp(&y.name));
                    for v in vs {
                        p.out(format!("export {}={}\n", v.name, quote(&v.value)))?;
                    }
                    return Ok(0);
                }
                for x in a {
                    match x.split_once('=') {
                        Some((n, v)) => {
                            self.set(n, v);
                            if argv[0] == "export" {
                                self.export(n);
                            }
                        }
                        None if argv[0] == "export" => self.export(x),
                        None => {}
                    }
                }
                Ok(0)
            }
            "unset" => {
                let mut funcs = false;
                for x in a {
                    match x.as_str() {
                        "-f" => funcs = true,
                        "-v" => funcs = false,
                        n if funcs => {
                            self.funcs.remove(n);
                        }
                        n => self.unset(n),
                    }
                }
                Ok(0)
            }
            "set" => self.set_builtin(p, a),
            "trap" => self.trap(p, a),
            "eval" => {
                let src = a.join(" ");
                self.eval_src(p, &src)
            }
            "." | "source" => {
                let Some(f) = a.first() else {
                    return Ok(0);
                };
                let path = if f.contains('/') {
                    Some(f.clone())
                } else {
                    let pv = self.get("PATH").unwrap_or_default();
                    p.world()
                        .fs
                        .find_in_path(f, &pv)
                        .or_else(|| p.world().fs.exists(f, &self.cwd).then(|| f.clone()))
                };
                let data = path.and_then(|x| p.world().fs.read_file(&x, &self.cwd).ok());
                match data {
                    Some(d) => {
                        let src = String::from_utf8_lossy(&d).into_owned();
                        let saved = if a.len() > 1 {
                            Some(std::mem::replace(&mut self.pos, a[1..].to_vec()))
                        } else {
                            None
                        };
                        let r = self.eval_src(p, &src);
                        if let Some(s) = saved {
                            self.pos = s;
                        }
                        match r {
                            Err(Flow::Return(c)) => Ok(c),
                            r => r,
                        }
                    }
                    None => {
                        let m = format!("{}.: {f}: not found\n", self.prefix());
                        p.err(m)?;
                        Err(Flow::Exit(2))
                    }
                }
            }
            "exec" => {
                if a.is_empty() {
                    // `exec >file` (its redirections stay: see `simple`)
                    return Ok(0);
                }
                let c = self.external(p, a)?;
                Err(Flow::Exit(c))
            }
            _ => Ok(0),
        }
    }

    fn set_builtin(&mut self, p: &mut Proc, a: &[String]) -> Result<i32, Flow> {
        if a.is_empty() {
            let mut vs: Vec<Var> = self
                .vars
                .iter()
                .filter(|v| !v.name.starts_with('\0'))
                .cloned()
                .collect();
            vs.sort_by(|x, y| x.name.cmp(&y.name));
            for v in vs {
                p.out(format!("{}={}\n", v.name, quote(&v.value)))?;
            }
            return Ok(0);
        }
        let mut i = 0;
        while i < a.len() {
            let x = &a[i];
            if x == "--" {
                self.pos = a[i + 1..].to_vec();
                return Ok(0);
            }
            if let Some(fl) = x.strip_prefix('-').or_else(|| x.strip_prefix('+')) {
                let on = x.starts_with('-');
                if fl == "o" {
                    i += 1;
                    match a.get(i).map(|s| s.as_str()) {
                        Some("errexit") => self.errexit = on,
                        Some("nounset") => self.nounset = on,
                        Some("xtrace") => self.xtrace = on,
                        _ => {}
                    }
                    i += 1;
                    continue;
                }
                for c in fl.chars() {
                    match c {
                        'e' => self.errexit = on,
                        'x' => self.xtrace = on,
                        'u' => self.nounset = on,
                        'f' | 'v' | 'm' | 'C' | 'a' | 'b' | 'n' => {}
                        _ => {
                            let m = format!("{}illegal option -{c}\n", self.bprefix("set"));
                            p.err(m)?;
                            return Err(Flow::Exit(2));
                        }
                    }
                }
                i += 1;
            } else {
                self.pos = a[i..].to_vec();
                return Ok(0);
            }
        }
        Ok(0)
    }

    fn trap(&mut self, p: &mut Proc, a: &[String]) -> Result<i32, Flow> {
        if a.is_empty() {
            for (sig, src) in self.traps.clone() {
                let name = if sig == 0 {
                    "EXIT".to_string()
                } else {
                    applets::signal_name(sig).to_string()
                };
                p.out(format!("trap -- {} {name}\n", quote(&src)))?;
            }
            return Ok(0);
        }
        let (action, sigs) =
            if a.len() == 1 || (!a[0].is_empty() && a[0].chars().all(|c| c.is_ascii_digit())) {
                ("-".to_string(), a)
            } else {
                (a[0].clone(), &a[1..])
            };
        let me = p.pid;
        for s in sigs {
            let Some(sig) = applets::parse_signal(s) else {
                let m = format!("{}{s}: bad trap\n", self.bprefix("trap"));
                p.err(m)?;
                return Ok(1);
            };
            let w = p.w();
            let e = w.procs.get_mut(&me);
            if action == "-" {
                self.traps.remove(&sig);
                if let Some(e) = e {
                    e.trapped.remove(&sig);
                    e.ignored.remove(&sig);
                }
            } else if action.is_empty() {
                self.traps.remove(&sig);
                if let Some(e) = e {
                    e.trapped.remove(&sig);
                    e.ignored.insert(sig);
                }
            } else {
                self.traps.insert(sig, action.clone());
                if let Some(e) = e {
                    e.ignored.remove(&sig);
                    if sig != 0 {
                        e.trapped.insert(sig);
                    }
                }
            }
        }
        Ok(0)
    }

    fn builtin(&mut self, p: &mut Proc, argv: &[String]) -> Result<i32, Flow> {
        let a = &argv[1..];
        match argv[0].as_str() {
            "cd" | "chdir" => {
                let dir = match a.first() {
                    Some(d) if d == "-" => self.get("OLDPWD").unwrap_or_else(|| self.cwd.clone()),
                    Some(d) => d.clone(),
                    None => self.get("HOME").unwrap_or_else(|| "/".into()),
                };
                let found = p
                    .world()
                    .fs
                    .lookup(&dir, &self.cwd)
                    .map(|(abs, n)| (abs, n.is_dir()));
                match found {
                    Some((abs, true)) => {
                        let old = std::mem::replace(&mut self.cwd, abs);
                        self.set("OLDPWD", &old);
                        let c = self.cwd.clone();
                        self.set("PWD", &c);
                        if a.first().map(|s| s.as_str()) == Some("-") {
                            p.out(format!("{c}\n"))?;
                        }
                        Ok(0)
                    }
                    other => {
                        let why = if other.is_some() {
                            "Not a directory"
                        } else {
                            "No such file or directory"
                        };
                        let m = format!("{}can't cd to {dir}: {why}\n", self.bprefix("cd"));
                        p.err(m)?;
                        Ok(2)
                    }
                }
            }
            "local" => {
                if self.depth == 0 {
                    let m = format!("{}not in a function\n", self.bprefix("local"));
                    p.err(m)?;
                    return Ok(2);
                }
                for x in a {
                    match x.split_once('=') {
                        Some((n, v)) => self.local(n, Some(v.to_string())),
                        None => self.local(x, None),
                    }
                }
                Ok(0)
            }
            "read" => self.read(p, a),
            "wait" => self.wait(p, a),
            "type" | "command" => {
                let (names, verbose) = match a.first().map(|s| s.as_str()) {
                    Some("-v") => (&a[1..], false),
                    Some("-V") => (&a[1..], true),
                    _ if argv[0] == "command" => return self.run_argv(p, a, &[]),
                    _ => (a, true),
                };
                let mut st = 0;
                for n in names {
                    let what = if SPECIAL.contains(&n.as_str()) {
                        Some((n.clone(), format!("{n} is a special shell builtin")))
                    } else if self.funcs.contains_key(n) {
                        Some((n.clone(), format!("{n} is a function")))
                    } else if BUILTINS.contains(&n.as_str()) {
                        Some((n.clone(), format!("{n} is a shell builtin")))
                    } else {
                        let pv = self.get("PATH").unwrap_or_default();
                        let standalone = self.flavor == Flavor::Ash && applets::find(n).is_some();
                        p.world().fs.find_in_path(n, &pv).map(|f| {
                            if standalone {
                                // busybox's ash runs its own applets by name
                                (n.clone(), format!("{n} is {n}"))
                            } else {
                                (f.clone(), format!("{n} is {f}"))
                            }
                        })
                    };
                    match what {
                        Some((short, long)) => {
                            p.out(format!("{}\n", if verbose { long } else { short }))?
                        }
                        None => {
                            st = 1;
                            if verbose {
                                p.out(format!("{n}: not found\n"))?;
                            }
                        }
                    }
                }
                Ok(st)
            }
            "umask" => {
                if a.is_empty() {
                    p.out("0022\n")?;
                }
                Ok(0)
            }
            "jobs" | "hash" | "times" => Ok(0),
            "ulimit" => self.ulimit(p, a),
            "getopts" => self.getopts(p, a),
            "let" => {
                let mut v = 0;
                for x in a {
                    v = self.arith(p, x)?;
                }
                Ok((v == 0) as i32)
            }
            name => {
                let f = applets::find(name)
                    .map(|ap| ap.run)
                    .expect("builtin applet");
                f(p, self, argv)
            }
        }
    }

    /// `getopts SPEC VAR [ARG...]`, one option per call, as ash does it:
    /// OPTIND counts arguments, and the place inside a bundle like `-ab`
    /// is kept while OPTIND is the value getopts itself left.
    fn getopts(&mut self, p: &mut Proc, a: &[String]) -> Result<i32, Flow> {
        if a.len() < 2 {
            let m = format!(
                "{}usage: getopts optstring var [arg]\n",
                self.bprefix("getopts")
            );
            p.err(m)?;
            return Ok(2);
        }
        let (spec, var) = (a[0].as_str(), a[1].as_str());
        let args: Vec<String> = if a.len() > 2 {
            a[2..].to_vec()
        } else {
            self.pos.clone()
        };
        let silent = spec.starts_with(':');
        let shown: usize = self
            .get("OPTIND")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        // inside a bundle OPTIND already names the next argument
        let (mut ind, mut off) = match self.getopt_at {
            (at, off) if at == shown && off > 0 => (shown - 1, off),
            _ => (shown, 0),
        };
        if ind > args.len() + 1 {
            // a new list of arguments: start again
            (ind, off) = (1, 0);
        }
        if off == 0 {
            let arg = args.get(ind - 1).map(String::as_str);
            let last = match arg {
                Some("--") => {
                    ind += 1;
                    true
                }
                Some(x) => !x.starts_with('-') || x == "-",
                None => true,
            };
            if last {
                self.set(var, "?");
                self.set("OPTIND", &ind.to_string());
                self.getopt_at = (ind, 0);
                return Ok(1);
            }
            off = 1;
        }
        let arg: Vec<char> = args[ind - 1].chars().collect();
        let c = arg[off];
        off += 1;
        let known = (c != ':').then(|| spec.find(c)).flatten();
        let mut name = c.to_string();
        let optarg: Option<String> = match known {
            None => {
                name = "?".into();
                if silent {
                    Some(c.to_string())
                } else {
                    p.err(format!("Illegal option -{c}\n"))?;
                    None
                }
            }
            Some(i) if spec[i + c.len_utf8()..].starts_with(':') => {
                if off < arg.len() {
                    let v: String = arg[off..].iter().collect();
                    off = arg.len();
                    Some(v)
                } else if let Some(next) = args.get(ind) {
                    ind += 1;
                    Some(next.clone())
                } else if silent {
                    name = ":".into();
                    Some(c.to_string())
                } else {
                    name = "?".into();
                    p.err(format!("No arg for -{c} option\n"))?;
                    None
                }
            }
            Some(_) => Some(String::new()),
        };
        if off >= arg.len() {
            ind += 1;
            off = 0;
        }
        let shown = if off > 0 { ind + 1 } else { ind };
        self.set(var, &name);
        self.set("OPTIND", &shown.to_string());
        match optarg {
            Some(v) => self.set("OPTARG", &v),
            None => self.unset("OPTARG"),
        }
        self.getopt_at = (shown, off);
        Ok(0)
    }

    fn read(&mut self, p: &mut Proc, a: &[String]) -> Result<i32, Flow> {
        let mut raw = false;
        let mut names = Vec::new();
        let mut i = 0;
        while i < a.len() {
            match a[i].as_str() {
                "-r" => raw = true,
                "-p" => {
                    i += 1;
                    if let Some(pr) = a.get(i) {
                        p.err(pr.clone())?;
                    }
                }
                "-t" | "-n" | "-u" | "-d" => i += 1,
                n => names.push(n.to_string()),
            }
            i += 1;
        }
        if names.is_empty() {
            names.push("REPLY".into());
        }
        let mut line = Vec::new();
        let mut eof = false;
        loop {
            match p.read_line(0)? {
                None => {
                    eof = true;
                    break;
                }
                Some(mut l) => {
                    if l.last() == Some(&b'\n') {
                        l.pop();
                    } else {
                        eof = true;
                    }
                    if !raw && l.last() == Some(&b'\\') && !eof {
                        l.pop();
                        line.extend(l);
                        continue;
                    }
                    line.extend(l);
                    break;
                }
            }
        }
        let mut s = String::from_utf8_lossy(&line).into_owned();
        if !raw {
            let mut o = String::new();
            let mut it = s.chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    if let Some(n) = it.next() {
                        o.push(n);
                    }
                } else {
                    o.push(c);
                }
            }
            s = o;
        }
        let ifs = self.get("IFS").unwrap_or_else(|| " \t\n".into());
        let mut rest = s
            .trim_matches(|c: char| ifs.contains(c) && c.is_whitespace())
            .to_string();
        for (k, n) in names.iter().enumerate() {
            if k + 1 == names.len() {
                self.set(
                    n,
                    rest.trim_end_matches(|c: char| ifs.contains(c) && c.is_whitespace()),
                );
                break;
            }
            let (field, r) = match rest.find(|c: char| ifs.contains(c)) {
                Some(at) => (rest[..at].to_string(), rest[at..].to_string()),
                None => (rest.clone(), String::new()),
            };
            self.set(n, &field);
            let mut r = r
                .trim_start_matches(|c: char| ifs.contains(c) && c.is_whitespace())
                .to_string();
            if r.starts_with(|c: char| ifs.contains(c) && !c.is_whitespace()) {
                r.remove(0);
                r = r
                    .trim_start_matches(|c: char| ifs.contains(c) && c.is_whitespace())
                    .to_string();
            }
            rest = r;
        }
        Ok(eof as i32)
    }

    fn wait(&mut self, p: &mut Proc, a: &[String]) -> Result<i32, Flow> {
        let targets: Vec<u32> = if a.is_empty() {
            self.children.clone()
        } else {
            a.iter().filter_map(|x| x.parse().ok()).collect()
        };
        let mut st = 0;
        for t in &targets {
            if !self.children.contains(t) {
                if !a.is_empty() {
                    st = 127;
                }
                continue;
            }
            loop {
                let e = p.world().procs.get(t).map(|e| (e.state, e.exit));
                match e {
                    Some((St::Done, code)) => {
                        st = code.unwrap_or(0);
                        if !a.is_empty() {
                            if let Some(k) = p.world().procs.get(t).and_then(|e| e.killed) {
                                report_signal(p, k)?;
                            }
                        }
                        p.w().procs.remove(t);
                        self.children.retain(|c| c != t);
                        break;
                    }
                    None => {
                        self.children.retain(|c| c != t);
                        break;
                    }
                    _ => {
                        if let Some(sig) = p.wait_child()? {
                            // a trapped signal interrupts wait (its trap runs next)
                            let me = p.pid;
                            if let Some(e) = p.w().procs.get_mut(&me) {
                                e.pending.retain(|_| true);
                            }
                            return Ok(128 + sig);
                        }
                    }
                }
            }
        }
        Ok(if a.is_empty() { 0 } else { st })
    }

    /// A program: found through PATH in the image, run if the simulator knows it.
    pub fn external(&mut self, p: &mut Proc, argv: &[String]) -> Result<i32, Flow> {
        let name = &argv[0];
        let pv = self
            .get("PATH")
            .unwrap_or_else(|| crate::kernel::sim::shell::DEFAULT_PATH.into());
        let found = if name.contains('/') {
            p.world()
                .fs
                .is_executable(name, &self.cwd)
                .then(|| fs::normalize(name, &self.cwd))
        } else {
            p.world().fs.find_in_path(name, &pv)
        };
        let Some(found) = found else {
            let m = match self.flavor {
                Flavor::Bash => format!("{}{name}: command not found\n", self.prefix()),
                _ => format!("{}{name}: not found\n", self.prefix()),
            };
            p.err(m)?;
            return Ok(127);
        };
        let mut base = fs::basename(name).to_string();
        let mut args = argv.to_vec();
        if base == "busybox" && argv.len() > 1 && !argv[1].starts_with('-') {
            base = fs::basename(&argv[1]).to_string();
            args = argv[1..].to_vec();
        }
        // A script with a #! line for a shell runs in a new shell.
        if applets::find(&base).is_none() && base != "busybox" {
            let data = p.world().fs.read_file(&found, "/").unwrap_or_default();
            if data.starts_with(b"#!") {
                let first = String::from_utf8_lossy(&data[2..])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let interp = first.split_whitespace().next().unwrap_or("").to_string();
                if applets::SHELLS.contains(&fs::basename(&interp)) {
                    // The interpreter reads the file found through PATH, as
                    // the kernel's binfmt_script hands it over.
                    let mut a = vec![interp, found.clone()];
                    a.extend(argv[1..].iter().cloned());
                    return self.external(p, &a);
                }
            }
            if crate::programs::Program::recognise(&data).is_some() {
                return self.run_applet(p, &base, &found, &args);
            }
            let m = format!(
                "{}\n",
                crate::kernel::sim::shell::cannot_simulate_msg(&base)
            );
            p.err(m)?;
            return Ok(126);
        }
        self.run_applet(p, &base, &found, &args)
    }

    fn run_applet(
        &mut self,
        p: &mut Proc,
        base: &str,
        found: &str,
        args: &[String],
    ) -> Result<i32, Flow> {
        let cmdline = args.join(" ");
        if applets::SHELLS.contains(&base) && !self.exec_last {
            // A new shell is a new process with its own traps and variables.
            let parent = self.clone();
            let (found, args) = (found.to_string(), args.to_vec());
            let pid = self.spawn(
                p,
                &cmdline,
                None,
                None,
                Box::new(move |cp: &mut Proc| applets::system::sh_main(cp, &parent, &found, &args)),
            )?;
            return self.wait_for(p, &[pid]);
        }
        let me = p.pid;
        let shell_cmdline = p
            .world()
            .procs
            .get(&me)
            .map(|e| e.cmdline.clone())
            .unwrap_or_default();
        // busybox's ash runs its NOEXEC applets in the forked shell without
        // an execve: the process keeps the shell's command line and only its
        // name changes, which ps shows as `{ps} sh -c ...`.
        let cmdline = if NOEXEC.contains(&base) && !shell_cmdline.is_empty() {
            format!("{{{base}}} {shell_cmdline}")
        } else {
            cmdline
        };
        if self.exec_last {
            // exec: this process becomes the program.
            if let Some(e) = p.w().procs.get_mut(&me) {
                e.cmdline = cmdline;
            }
            return applets::run(p, self, base, found, args);
        }
        self.may_fork(p)?;
        let pid = p.w().add_applet(me, &cmdline);
        let outer = p.applet.replace(pid);
        let r = applets::run(p, self, base, found, args);
        p.applet = outer;
        p.w().procs.remove(&pid);
        p.w().cg.held.remove(&pid);
        match r {
            Err(Flow::Killed(c)) => {
                let me_killed = p.world().procs.get(&me).and_then(|e| e.killed).is_some();
                if me_killed {
                    Err(Flow::Killed(c))
                } else {
                    Ok(c)
                }
            }
            Err(Flow::Exit(c)) => Ok(c),
            r => r,
        }
    }
}

/// What a new process runs.
pub type Body = Box<dyn FnOnce(&mut Proc) -> Result<i32, Flow> + Send>;

/// A new process's thread: wait for the turn, run, report the exit.
fn run_child(shared: &Shared, pid: u32, fds: Vec<Fd>, body: Body) {
    let mut p = Proc::start(shared, pid, fds);
    let r = p.check().and_then(|_| body(&mut p));
    let (code, halted) = match r {
        Ok(c) => (c, false),
        Err(Flow::Halt) => (0, true),
        Err(f) => (flow_code(&f, 0), false),
    };
    p.finish(code, halted);
}

/// Run a shell's script as the process `p` is, ending with its EXIT trap.
pub fn finish_script(sh: &mut Sh, p: &mut Proc, r: Result<i32, Flow>) -> Result<i32, Flow> {
    let code = match r {
        Ok(c) => c,
        Err(Flow::Exit(c)) => c,
        Err(Flow::Return(c)) => c,
        Err(Flow::Break(_)) | Err(Flow::Continue(_)) => sh.last,
        Err(f) => return Err(f),
    };
    sh.last = code;
    sh.run_exit_trap(p)?;
    Ok(sh.last)
}

/// Whether the shell runs as root (its prompt's `\$`).
fn p_uid_is_root(sh: &Sh) -> bool {
    sh.get("\0uid").is_none_or(|u| u == "0")
}

/// What ash prints when a child it waited for died of a signal.
fn report_signal(p: &mut Proc, status: i32) -> Result<(), Flow> {
    let msg = match status - 128 {
        2 | 13 => return Ok(()),
        1 => "Hangup",
        3 => "Quit",
        6 => "Aborted",
        9 => "Killed",
        10 => "User defined signal 1",
        12 => "User defined signal 2",
        14 => "Alarm clock",
        15 => "Terminated",
        _ => return Ok(()),
    };
    p.err(format!("{msg}\n"))
}

fn open_err(t: &str, e: fs::FsError, op: &RedirOp) -> String {
    match op {
        RedirOp::In => format!("can't open '{t}': {e}"),
        _ => match e {
            fs::FsError::NotFound => format!("can't create {t}: nonexistent directory"),
            e => format!("can't create {t}: {e}"),
        },
    }
}

/// Single-quote a value the way `set`/`export -p`/`trap` print it.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,@%+=".contains(c))
    {
        return format!("'{s}'");
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}
