//! The narrator: shows each kernel step as it happens, at the level the user
//! chose, pauses before steps in step-through mode, and writes the JSON trace.
//! Narration goes to stderr so the container's own output stays clean on stdout.

pub mod diagram;

use crate::kernel::{Go, StepObserver};
use crate::step::{Lang, Step};
use anyhow::{Context, Result};
use colored::Colorize;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    #[default]
    Quiet,
    Summary,
    Steps,
    Deep,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "quiet" | "off" | "0" => Some(Level::Quiet),
            "summary" | "1" => Some(Level::Summary),
            "steps" | "2" => Some(Level::Steps),
            "deep" | "3" => Some(Level::Deep),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Level::Quiet => "quiet",
            Level::Summary => "summary",
            Level::Steps => "steps",
            Level::Deep => "deep",
        }
    }
}

/// Where step-through reads the learner's answers from.
pub trait Answers {
    fn read_answer(&mut self) -> Option<String>;
}

/// Set by SIGINT while a container is being set up (see `catch_interrupt`).
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Make Ctrl-C during set-up abort the run (and roll the container back)
/// instead of killing glassbox half-way. No SA_RESTART: a paused step-through
/// read returns at once. Once the program runs, the kernel forwards signals.
pub fn catch_interrupt() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Answers typed on the terminal (/dev/tty, so it works even when stdin is
/// piped): one key each, no Enter, the terminal in non-canonical mode only
/// while waiting (restored by a guard on every way out). Without a terminal
/// (GLASSBOX_NO_TTY, scripts, tests) answers are lines from stdin.
pub struct TerminalAnswers;

/// Non-canonical, no-echo mode on one terminal fd, restored on drop. Signals
/// stay on, so Ctrl-C still interrupts the wait.
struct KeyMode {
    fd: std::os::fd::RawFd,
    saved: nix::sys::termios::Termios,
}

impl KeyMode {
    fn enter(fd: std::os::fd::RawFd) -> Option<KeyMode> {
        use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices};
        // SAFETY: the caller keeps fd open while the guard lives.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let saved = termios::tcgetattr(borrowed).ok()?;
        let mut keys = saved.clone();
        keys.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO);
        keys.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        keys.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::tcsetattr(borrowed, SetArg::TCSANOW, &keys).ok()?;
        Some(KeyMode { fd, saved })
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        // SAFETY: the fd outlives the guard (see enter).
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let _ =
            nix::sys::termios::tcsetattr(borrowed, nix::sys::termios::SetArg::TCSANOW, &self.saved);
    }
}

/// One key from a terminal: Enter is "", an escape sequence (arrows) is
/// swallowed whole and reported as "\x1b".
fn read_key(fd: std::os::fd::RawFd) -> Option<String> {
    let _mode = KeyMode::enter(fd)?;
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) if interrupted() => return None,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
    match byte[0] {
        b'\r' | b'\n' => Some(String::new()),
        0x04 => None, // Ctrl-D
        0x1b => {
            // SAFETY: fd is open (see enter).
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let mut rest = [0u8; 16];
            loop {
                let mut f = [nix::poll::PollFd::new(
                    borrowed,
                    nix::poll::PollFlags::POLLIN,
                )];
                if !matches!(
                    nix::poll::poll(&mut f, nix::poll::PollTimeout::from(30u8)),
                    Ok(1)
                ) {
                    break;
                }
                if !matches!(nix::unistd::read(fd, &mut rest), Ok(n) if n > 0) {
                    break;
                }
            }
            Some("\x1b".into())
        }
        b => Some((b as char).to_string()),
    }
}

impl Answers for TerminalAnswers {
    fn read_answer(&mut self) -> Option<String> {
        use std::os::unix::io::AsRawFd;
        // GLASSBOX_NO_TTY: read answers from stdin even when a terminal exists (tests, scripts).
        let tty = if std::env::var_os("GLASSBOX_NO_TTY").is_some() {
            None
        } else {
            File::open("/dev/tty").ok()
        };
        if let Some(t) = &tty {
            let answer = read_key(t.as_raw_fd());
            // Echo the key, so the screen shows what was chosen.
            eprintln!("{}", answer.as_deref().unwrap_or(""));
            return answer;
        }
        // Byte by byte with read(2), so Ctrl-C (EINTR) ends the wait and no
        // input meant for the container is buffered away.
        let fd = 0;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(fd, &mut byte) {
                Ok(0) => {
                    return if line.is_empty() {
                        None
                    } else {
                        Some(String::from_utf8_lossy(&line).trim().to_string())
                    }
                }
                Ok(_) if byte[0] == b'\n' => {
                    return Some(String::from_utf8_lossy(&line).trim().to_string())
                }
                Ok(_) => line.push(byte[0]),
                Err(nix::errno::Errno::EINTR) if interrupted() => return None,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// Marks that frame narration on stderr when GLASSBOX_NARRATION_MARKS is
/// set (by the lesson runner): the lesson shows one stream in the order it
/// was written, yet checks the program's output without the narration.
pub const NARRATION_START: u8 = 0x1e;
pub const NARRATION_END: u8 = 0x1f;

struct Marked<W: Write>(W);

impl<W: Write> Write for Marked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut framed = Vec::with_capacity(buf.len() + 2);
        framed.push(NARRATION_START);
        framed.extend_from_slice(buf);
        framed.push(NARRATION_END);
        self.0.write_all(&framed)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn narration_output() -> Box<dyn Write> {
    if std::env::var_os("GLASSBOX_NARRATION_MARKS").is_some() {
        Box::new(Marked(std::io::stderr()))
    } else {
        Box::new(std::io::stderr())
    }
}

pub struct Narrator {
    pub level: Level,
    pub lang: Lang,
    pub step_through: bool,
    /// Real kernel (so `l` can look at the host); false in simulation.
    pub real: bool,
    trace: Option<File>,
    seq: u64,
    out: Box<dyn Write>,
    answers: Box<dyn Answers>,
    /// The container's host PID once known, to fill `<pid>` in look commands.
    pid: Option<i32>,
    /// A step whose look command runs once it has happened (`l` at its pause,
    /// or the deep level's "look:" line): at the next step or its `after`.
    look_after: Option<(Step, LookMode)>,
}

/// What to do with a step's look command once the step has happened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LookMode {
    /// Print it, with the real PID (the deep level).
    Print,
    /// Run it on the host (`l` in step-through).
    Run,
}

impl Narrator {
    pub fn new(
        level: Level,
        lang: Lang,
        step_through: bool,
        trace: Option<&Path>,
    ) -> Result<Narrator> {
        let trace = trace
            .map(|p| File::create(p).with_context(|| format!("create trace file {}", p.display())))
            .transpose()?;
        colored::control::set_override(std::io::stderr().is_terminal());
        Ok(Narrator {
            level,
            lang,
            step_through,
            real: true,
            trace,
            seq: 0,
            out: narration_output(),
            answers: Box::new(TerminalAnswers),
            pid: None,
            look_after: None,
        })
    }

    /// Go on writing a trace another process began (a monitor's exit
    /// command, after glassbox-monitor): its file, the last step's number
    /// and the container's PID.
    pub fn continue_trace(mut self, file: File, seq: u64, pid: Option<i32>) -> Narrator {
        self.trace = Some(file);
        self.seq = seq;
        self.pid = pid;
        self
    }

    /// Send narration somewhere else (tests, the REPL).
    pub fn with_output(mut self, out: Box<dyn Write>) -> Narrator {
        self.out = out;
        self
    }

    pub fn with_answers(mut self, answers: Box<dyn Answers>) -> Narrator {
        self.answers = answers;
        self
    }

    fn fill_pid(&self, text: &str) -> String {
        match self.pid {
            Some(pid) => text.replace("<pid>", &pid.to_string()),
            None => text.to_string(),
        }
    }

    fn print(&mut self, step: &Step) {
        let d = step.describe(self.lang);
        let label = |en: &str, zh: &str| self.lang.pick(en, zh).to_string();
        let head = format!("[{}]", self.seq).cyan().bold();
        let _ = writeln!(self.out, "{head} {}", d.title.bold());
        if self.level >= Level::Steps {
            let _ = writeln!(
                self.out,
                "    {} {}",
                label("why:", "为什么:").dimmed(),
                d.why
            );
            let shell = if self.level >= Level::Deep {
                d.shell.clone()
            } else {
                fold_here_document(&d.shell, self.lang)
            };
            let _ = writeln!(self.out, "    {} {}", "$".green(), self.fill_pid(&shell));
        }
        if self.level >= Level::Deep {
            let _ = writeln!(
                self.out,
                "    {} {}",
                label("syscall:", "系统调用:").dimmed(),
                d.syscall
            );
            if !d.look.contains("<pid>") || self.pid.is_some() {
                let _ = writeln!(
                    self.out,
                    "    {} {}",
                    label("look:", "查看:").dimmed(),
                    self.fill_pid(&d.look)
                );
            } else if self.look_after.is_none() {
                // The PID is known only once the step happened: say it then.
                self.look_after = Some((step.clone(), LookMode::Print));
            }
        }
    }

    /// The look of a step that has now happened (see `look_after`).
    fn settle_look(&mut self) {
        let Some((step, mode)) = self.look_after.take() else {
            return;
        };
        match mode {
            LookMode::Print => {
                let look = self.fill_pid(&step.describe(self.lang).look);
                let label = self.lang.pick("look:", "查看:").dimmed();
                let _ = writeln!(self.out, "    {label} {look}");
            }
            LookMode::Run => self.look(&step),
        }
    }

    fn write_trace(&mut self, step: &Step) {
        if self.trace.is_some() {
            let d = step.describe(Lang::En);
            // title and shell in English (stable for tools); the explanation in
            // the narrator's language, for the REPL's :why and :look.
            let local = step.describe(self.lang);
            let record = serde_json::json!({
                "seq": self.seq,
                "kind": step.kind(),
                "side": step.side(),
                "title": d.title,
                "shell": d.shell,
                "pid": self.pid,
                "explain": {
                    "title": local.title,
                    "why": local.why,
                    "shell": self.fill_pid(&local.shell),
                    "syscall": local.syscall,
                    "look": self.fill_pid(&local.look),
                },
                "step": step,
            });
            if let Some(trace) = &mut self.trace {
                let _ = writeln!(trace, "{record}");
            }
        }
    }

    /// Show what a step that has happened changed. On the real kernel: run
    /// its look command on the host, with the container's real PID. In
    /// simulation the kernel renders it from its model (`looked`, before we
    /// get here); what is left are the store's steps, whose files are real
    /// files of the simulated store, and steps the model keeps nothing of.
    pub fn look(&mut self, step: &Step) {
        let cmd = self.fill_pid(&step.describe(self.lang).look);
        if !self.real {
            if !step.is_store() {
                let _ = writeln!(
                    self.out,
                    "    {} {cmd}",
                    self.lang.pick(
                        "(the simulator keeps nothing this would show; on a real kernel, after this step:)",
                        "（模拟器没有保存这条命令能看到的东西；在真实内核上，这一步之后运行：）"
                    )
                );
                return;
            }
            self.run_look(&cmd);
            return;
        }
        if cmd.contains("<pid>") {
            let _ = writeln!(
                self.out,
                "    {} {cmd}",
                self.lang.pick(
                    "(the container has no process yet:)",
                    "（容器还没有进程：）"
                )
            );
            return;
        }
        if let Some(pid) = self
            .pid
            .filter(|p| !Path::new(&format!("/proc/{p}")).exists())
        {
            let _ = writeln!(
                self.out,
                "    {}",
                self.lang.pick(
                    &format!("(process {pid} has exited: its namespaces are gone)"),
                    &format!("（进程 {pid} 已经退出：它的命名空间已不存在）")
                )
            );
            return;
        }
        self.run_look(&cmd);
    }

    /// Run a look command on this host; its output goes with the narration
    /// (indented under it, each line ended).
    fn run_look(&mut self, cmd: &str) {
        let _ = writeln!(self.out, "    $ {cmd}");
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output();
        if let Ok(o) = output {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            for line in text.lines() {
                let _ = writeln!(self.out, "    {line}");
            }
        }
        let _ = self.out.flush();
    }

    fn pause(&mut self, step: &Step) -> Result<Go> {
        loop {
            let prompt = self.lang.pick(
                "    ⏸  Enter: run   ?: explain   l: run, then look   c: continue   q: abort > ",
                "    ⏸  回车: 执行   ?: 详解   l: 执行后查看   c: 不再暂停   q: 中止 > ",
            );
            if let Some(pid) = self.pid.filter(|_| self.real) {
                let hint = self.lang.pick(
                    "the container is half-built now; from another terminal try: ls -l /proc/",
                    "容器此刻只搭了一半；可以在另一个终端里试试：ls -l /proc/",
                );
                let _ = writeln!(self.out, "    {}{pid}/ns", hint.dimmed());
            }
            let _ = write!(self.out, "{prompt}");
            let _ = self.out.flush();
            let Some(answer) = self.answers.read_answer() else {
                return Ok(Go::Abort);
            };
            match answer.as_str() {
                "" => return Ok(Go::Run),
                "c" => {
                    self.step_through = false;
                    return Ok(Go::Run);
                }
                "q" => return Ok(Go::Abort),
                "?" => {
                    let d = step.describe(self.lang);
                    let _ = writeln!(self.out, "    {}", d.why);
                    let _ = writeln!(self.out, "    $ {}", self.fill_pid(&d.shell));
                    let _ = writeln!(
                        self.out,
                        "    {} {}",
                        self.lang.pick("syscall:", "系统调用:"),
                        d.syscall
                    );
                    let _ = writeln!(
                        self.out,
                        "    {} {}",
                        self.lang.pick("look:", "查看:"),
                        self.fill_pid(&d.look)
                    );
                }
                "l" => {
                    // The step's effect can be seen only once it happened:
                    // run it, look, and pause again before the next one.
                    self.look_after = Some((step.clone(), LookMode::Run));
                    return Ok(Go::Run);
                }
                _ => {}
            }
        }
    }
}

/// A here-document's body (the container record's JSON) folded to its size
/// below `--explain=deep`, which shows it whole, as the trace does.
fn fold_here_document(shell: &str, lang: crate::step::Lang) -> String {
    let Some((first, rest)) = shell.split_once("<<'EOF'\n") else {
        return shell.to_string();
    };
    let body = rest.strip_suffix("\nEOF").unwrap_or(rest);
    let n = body.len();
    format!(
        "{first}<<'EOF'\n    {}\n    EOF",
        lang.pick(
            &format!("… {n} bytes of JSON (--explain=deep shows them whole) …"),
            &format!("… {n} 字节的 JSON（--explain=deep 会完整显示）…"),
        )
    )
}

impl StepObserver for Narrator {
    fn wants_reports(&self) -> bool {
        self.level > Level::Quiet || self.step_through || self.trace.is_some()
    }

    fn exec_carry(&self) -> (Vec<String>, Vec<std::os::fd::RawFd>) {
        use std::os::fd::AsRawFd;
        let mut args = vec!["--lang".to_string(), self.lang.code().to_string()];
        let Some(trace) = &self.trace else {
            return (args, Vec::new());
        };
        args.extend(["--trace-fd".into(), trace.as_raw_fd().to_string()]);
        args.extend(["--trace-seq".into(), self.seq.to_string()]);
        if let Some(pid) = self.pid {
            args.extend(["--trace-pid".into(), pid.to_string()]);
        }
        (args, vec![trace.as_raw_fd()])
    }

    fn before(&mut self, step: &Step) -> Result<Go> {
        if interrupted() {
            return Ok(Go::Abort);
        }
        self.seq += 1;
        if let Step::CgroupJoin { pid, .. } = step {
            self.pid = Some(*pid);
        }
        // The previous step has happened by now.
        self.settle_look();
        if self.level > Level::Quiet || self.step_through {
            self.print(step);
        }
        let go = if self.step_through {
            self.pause(step)?
        } else {
            Go::Run
        };
        if go == Go::Run {
            self.write_trace(step);
        }
        Ok(go)
    }

    fn after(&mut self, _step: &Step) {
        self.settle_look();
    }

    fn look_wanted(&self) -> Option<Lang> {
        matches!(self.look_after, Some((_, LookMode::Run))).then_some(self.lang)
    }

    fn looked(&mut self, view: &str) {
        self.look_after = None;
        for line in view.lines() {
            let _ = writeln!(self.out, "    {line}");
        }
        let _ = self.out.flush();
    }
}

impl Drop for Narrator {
    fn drop(&mut self) {
        // The last step's look (the process may be gone by now: look says so).
        self.settle_look();
    }
}
