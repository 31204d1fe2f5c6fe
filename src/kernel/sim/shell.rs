//! The simulated kernel's programs, seen from the rest of glassbox.
//!
//! A simulated container has no real processes, so its command is
//! interpreted: a busybox-ash-compatible shell (`sh/`) and busybox applets
//! (`applets/`), run against a virtual clock in a deterministic world.
//! Commands are still looked up in the image's filesystem through `PATH`,
//! so a command the image lacks fails like it would for real, and one the
//! image has but the simulator cannot run says so.
//!
//! [`run_until`] runs a program up to a *horizon* of virtual time with
//! signals delivered at given virtual times; the same program with the same
//! signals always does the same thing, so a later command can recompute a
//! detached process's state by re-running it up to "now".

use std::fmt;
use std::sync::{mpsc, Arc, Condvar, Mutex};

use super::applets;
use super::fs::{self, SimFs};
use super::sh::exec::{finish_script, Flavor, Job, Sh, Spawner};
use super::sh::world::{self, Fd, Proc, Shared, World};
use super::sh::Flow;
use super::SimMount;

pub use super::sh::world::{StdinFeed, TimedSignal};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Virtual time a plain [`run`] may take before it is stopped (30 days).
pub const DEFAULT_HORIZON_MS: u64 = 30 * 24 * 3600 * 1000;

/// Stack for each simulated process's thread (the interpreter recurses).
const THREAD_STACK: usize = 16 << 20;

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
    /// Other processes visible in the pid namespace (for `ps`).
    pub procs: Vec<SimProc>,
    /// The container's mount table (for `mount`, `df`).
    pub mounts: Vec<SimMount>,
    /// Simulated time in seconds since the epoch; the run advances it.
    pub clock_secs: u64,
    /// Its cgroup's limits, OOM score and rlimits.
    pub res: super::sh::memcg::ProcResources,
    /// The network it is on (None: no network to reach, a throwaway host).
    pub net: Option<std::sync::Arc<super::reach::NetCtx>>,
    pub stdout: &'a mut dyn std::io::Write,
    pub stderr: &'a mut dyn std::io::Write,
}

/// Why a top-level command could not be started at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Not in the image (exit status 127).
    NotFound(String),
    /// In the image but not something the simulator runs (exit status 126).
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

/// How a run up to a horizon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Still running at the horizon (or stopped by the step/output budget: `why`).
    StillRunning {
        why: String,
    },
}

/// Every program the simulator can run, for messages.
pub fn runnable() -> Vec<&'static str> {
    applets::names()
}

/// The message for a command that exists in the image but is not simulated.
pub fn cannot_simulate_msg(cmd: &str) -> String {
    format!(
        "glassbox: '{cmd}' cannot run in simulation (it can run: {}); run for real as root to use it",
        runnable().join(", ")
    )
}

/// Run `argv` to its end (or [`DEFAULT_HORIZON_MS`] of virtual time).
pub fn run(ctx: &mut ShellCtx, argv: &[String]) -> Result<i32, RunError> {
    run_counted(ctx, argv).map(|(code, _)| code)
}

/// [`run`], with what its cgroup's counters said at the end.
pub fn run_counted(
    ctx: &mut ShellCtx,
    argv: &[String],
) -> Result<(i32, super::sh::memcg::CgCounters), RunError> {
    let mut counters = Default::default();
    let outcome = run_until_counted(ctx, argv, DEFAULT_HORIZON_MS, &[], &mut counters)?;
    let code = match outcome {
        Outcome::Exited(c) => c,
        Outcome::StillRunning { why } => {
            let _ = writeln!(
                ctx.stderr,
                "glassbox: the simulated program was stopped: {why}; run for real as root to let it run on"
            );
            137
        }
    };
    Ok((code, counters))
}

/// A duration for messages: "30 days", "2 h", "1500 ms".
fn human_ms(ms: u64) -> String {
    match ms {
        m if m >= 86_400_000 && m % 86_400_000 == 0 => format!("{} days", m / 86_400_000),
        m if m >= 3_600_000 && m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m if m >= 1000 && m % 1000 == 0 => format!("{} s", m / 1000),
        m => format!("{m} ms"),
    }
}

/// Find a command the way execvp would: names with '/' relative to cwd, others through PATH.
fn locate(fs: &SimFs, cwd: &str, name: &str, path_var: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        fs.is_executable(name, cwd)
            .then(|| fs::normalize(name, cwd))
    } else {
        fs.find_in_path(name, path_var)
    }
}

/// What the top-level program is: (applet name, path found, argv for it).
fn resolve(ctx: &ShellCtx, argv: &[String]) -> Result<(String, String, Vec<String>), RunError> {
    let name = &argv[0];
    let path_var = ctx
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or(DEFAULT_PATH);
    let found =
        locate(ctx.fs, &ctx.cwd, name, path_var).ok_or_else(|| RunError::NotFound(name.clone()))?;
    let mut base = fs::basename(name).to_string();
    let mut args = argv.to_vec();
    if base == "busybox" && argv.len() > 1 && !argv[1].starts_with('-') {
        base = fs::basename(&argv[1]).to_string();
        args = argv[1..].to_vec();
    }
    if base == "busybox" || applets::find(&base).is_some() {
        return Ok((base, found, args));
    }
    // A shell script with a #! line runs in the shell it names.
    let data = ctx.fs.read_file(&found, "/").unwrap_or_default();
    if let Some(rest) = data.strip_prefix(b"#!") {
        let line = String::from_utf8_lossy(rest)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let interp = line.split_whitespace().next().unwrap_or("").to_string();
        if applets::SHELLS.contains(&fs::basename(&interp)) {
            // As the kernel's binfmt_script: the interpreter gets the path
            // execve was given (found through PATH), then the arguments.
            let mut a = vec![interp.clone(), found.clone()];
            a.extend(argv[1..].iter().cloned());
            return Ok((fs::basename(&interp).to_string(), interp, a));
        }
    }
    // One of glassbox's own programs, known by its bytes (applets::run).
    if crate::programs::Program::recognise(&data).is_some() {
        return Ok((base, found, args));
    }
    Err(RunError::CannotSimulate(base))
}

/// Run `argv` as the container's process up to `horizon_ms` of virtual time
/// after `ctx.clock_secs`, delivering `signals` (times relative to the start).
pub fn run_until(
    ctx: &mut ShellCtx,
    argv: &[String],
    horizon_ms: u64,
    signals: &[TimedSignal],
) -> Result<Outcome, RunError> {
    run_until_counted(ctx, argv, horizon_ms, signals, &mut Default::default())
}

fn run_until_counted(
    ctx: &mut ShellCtx,
    argv: &[String],
    horizon_ms: u64,
    signals: &[TimedSignal],
    counters: &mut super::sh::memcg::CgCounters,
) -> Result<Outcome, RunError> {
    let start_ms = ctx.clock_secs * 1000;
    let trace = run_traced(ctx, argv, start_ms, horizon_ms, signals, &[])?;
    for (fd, _, bytes) in &trace.out {
        let out: &mut dyn std::io::Write = if *fd == 2 {
            &mut *ctx.stderr
        } else {
            &mut *ctx.stdout
        };
        let _ = out.write_all(bytes);
    }
    let _ = ctx.stdout.flush();
    let _ = ctx.stderr.flush();
    ctx.clock_secs = trace.end_ms / 1000;
    *counters = trace.cg;
    Ok(trace.outcome)
}

/// What a run up to a horizon did, for a caller that keeps it (a detached
/// simulated process recomputed by a later command).
#[derive(Debug, Clone)]
pub struct Trace {
    pub outcome: Outcome,
    /// Terminal output: (fd, virtual time in ms since the epoch, bytes).
    pub out: Vec<(u8, u64, Vec<u8>)>,
    /// The processes still alive at the end (for `ps`, `top`, an `exec`).
    pub live: Vec<SimProc>,
    /// Virtual time (ms since the epoch) when the run ended or stopped.
    pub end_ms: u64,
    /// Still running: when it would next do something (a sleep ends, busy
    /// work goes on); None when it waits for input (or was stopped).
    pub next_event: Option<u64>,
    /// CPU time it used (µs), for the cgroup's counters.
    pub cpu_us: u64,
    /// The cgroup's counters when it ended or stopped (memory, pids, OOM kills).
    pub cg: super::sh::memcg::CgCounters,
    /// TCP ports its live processes listen on (`nc -l`) and what each sends.
    pub listening: Vec<(u16, Vec<u8>)>,
    /// What its servers answered each connection (`World::answered`).
    pub answered: Vec<(usize, Vec<u8>)>,
}

/// [`run_until`] starting at `start_ms`, with filesystem `patches` applied
/// at their times, returning the output instead of writing it.
pub fn run_traced(
    ctx: &mut ShellCtx,
    argv: &[String],
    start_ms: u64,
    horizon_ms: u64,
    signals: &[TimedSignal],
    patches: &[world::TimedPatch],
) -> Result<Trace, RunError> {
    run_traced_io(
        ctx,
        argv,
        start_ms,
        horizon_ms,
        signals,
        patches,
        &StdinFeed::default(),
    )
}

/// [`run_traced`] with the input its stdin gets (`-i`, `-t`).
pub fn run_traced_io(
    ctx: &mut ShellCtx,
    argv: &[String],
    start_ms: u64,
    horizon_ms: u64,
    signals: &[TimedSignal],
    patches: &[world::TimedPatch],
    stdin: &StdinFeed,
) -> Result<Trace, RunError> {
    if argv.is_empty() {
        return Ok(Trace {
            outcome: Outcome::Exited(0),
            out: Vec::new(),
            live: Vec::new(),
            end_ms: start_ms,
            next_event: None,
            cpu_us: 0,
            cg: Default::default(),
            listening: Vec::new(),
            answered: Vec::new(),
        });
    }
    let (base, found, args) = resolve(ctx, argv)?;
    let mut fsys = std::mem::take(ctx.fs);
    fsys.set_mounts(&ctx.mounts);
    let mut w = World::new(
        fsys,
        ctx.hostname.clone(),
        ctx.uid,
        ctx.gid,
        start_ms,
        horizon_ms,
        signals.to_vec(),
        patches.to_vec(),
        ctx.mounts.clone(),
    );
    w.set_stdin(stdin);
    w.net = ctx.net.clone();
    w.set_cgroup(&ctx.res.limits, ctx.res.oom_score_adj);
    w.cg.rlimits = super::rlimits::table(&ctx.res.rlimits);
    for p in &ctx.procs {
        if p.pid != ctx.pid {
            w.add_foreign(p.pid, &p.user, &p.cmdline);
        }
    }
    let root = w.add_thread(Some(ctx.pid), 0, &argv.join(" "));
    let shared = Shared {
        m: Mutex::new(w),
        cv: Condvar::new(),
    };
    // Every simulated process is a thread scoped to this call, borrowing
    // `shared`. Threads started by other threads (pipeline stages,
    // background jobs, subshells) ask this thread to spawn them, through a
    // channel that closes once every shell holding the spawner is gone.
    let (requests, incoming) = mpsc::channel::<(Job, mpsc::Sender<bool>)>();
    let spawner: Spawner = Arc::new(move |job| {
        let (reply, answer) = mpsc::channel();
        requests.send((job, reply)).is_ok() && answer.recv().unwrap_or(false)
    });
    let mut sh = Sh::new(
        args[0].clone(),
        Vec::new(),
        &ctx.env,
        ctx.cwd.clone(),
        Flavor::Ash,
    );
    sh.spawner = Some(spawner);
    sh.set("\0pid", &ctx.pid.to_string());
    let root_job: Job = Box::new(move |shared: &Shared| {
        let mut p = Proc::start(shared, root, vec![Fd::Tty(0), Fd::Tty(1), Fd::Tty(2)]);
        let r = p
            .check()
            .and_then(|_| applets::run(&mut p, &mut sh, &base, &found, &args));
        let r = match r {
            Err(Flow::Halt) => Err(Flow::Halt),
            r if applets::SHELLS.contains(&base.as_str()) => {
                Ok(r.unwrap_or_else(|f| super::sh::exec::flow_code(&f, 0)))
            }
            r => finish_script(&mut sh, &mut p, r),
        };
        let (code, halted) = match r {
            Ok(c) => (c, false),
            Err(Flow::Halt) => (0, true),
            Err(f) => (super::sh::exec::flow_code(&f, 0), false),
        };
        if !halted {
            // The namespace's init is gone: the kernel kills the rest.
            p.w().halt("its PID 1 exited".into());
        }
        p.finish(code, halted);
    });
    let started = std::thread::scope(|scope| {
        let shared = &shared;
        let start = |job: Job| {
            std::thread::Builder::new()
                .name("glassbox-sim".into())
                .stack_size(THREAD_STACK)
                .spawn_scoped(scope, move || job(shared))
                .is_ok()
        };
        if !start(root_job) {
            return false;
        }
        world::give_first_turn(shared);
        for (job, reply) in incoming {
            let _ = reply.send(start(job));
        }
        world::wait_all(shared);
        true
    });
    let mut w = shared.m.into_inner().unwrap_or_else(|e| e.into_inner());
    ctx.hostname = w.hostname.clone();
    let exit = w.procs.get(&root).and_then(|e| e.exit);
    let why = w.halted.clone().unwrap_or_default();
    let live = w
        .live_at_halt
        .iter()
        .map(|(pid, user, cmdline)| SimProc {
            pid: *pid,
            user: user.clone(),
            cmdline: cmdline.clone(),
        })
        .collect();
    let out = std::mem::take(&mut w.out);
    let end_ms = w.clock_ms;
    let next_event = w.next_event;
    let cpu_us = w.cpu_us;
    let cg = w.cg.at_halt.unwrap_or_else(|| w.cg_counters());
    let listening: Vec<(u16, Vec<u8>)> = w
        .listening
        .iter()
        .filter(|(pid, _)| w.live_at_halt.iter().any(|(p, _, _)| p == *pid))
        .map(|(_, l)| l.clone())
        .collect();
    let answered = std::mem::take(&mut w.answered);
    *ctx.fs = w.fs;
    let done = |outcome| Trace {
        outcome,
        out,
        live,
        end_ms,
        next_event,
        cpu_us,
        cg,
        listening,
        answered,
    };
    if !started {
        return Ok(done(Outcome::StillRunning {
            why: "the simulator could not start a thread".into(),
        }));
    }
    Ok(done(match exit {
        Some(c) => Outcome::Exited(c),
        None => Outcome::StillRunning {
            why: if why == "the horizon" {
                format!(
                    "it was still running at the horizon ({} of simulated time)",
                    human_ms(horizon_ms)
                )
            } else {
                why
            },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::super::fs::tests::{busybox_fs, TarBuilder};
    use super::super::fs::Node;
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
            mounts: Vec::new(),
            clock_secs: 1_700_000_000,
            res: Default::default(),
            net: None,
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
            .starts_with("glassbox: 'vi' cannot run in simulation (it can run: [, ash, awk,"));
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
        assert!(res.err.contains(", echo, "));
        assert!(res.err.contains(", yes"));
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
        assert_eq!(sh("echo \"\" | true").code, Ok(0));
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
        assert_eq!(sh("X=5 env | grep X").code, Ok(127)); // no grep in this image
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
            crate::kernel::sim::applets::files::mode_string(&Node::File {
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
            // `sh -c ps` runs ps in place without an exec: PID 1 is named ps
            // but keeps the shell's command line
            "PID   USER     COMMAND\n    1 root     {ps} sh -c ps\n    7 nobody   sleep 100\n"
        );
    }

    #[test]
    fn id_names_and_fallback() {
        assert_eq!(r(&["id"]).out, "uid=0(root) gid=0(root)\n");
        let mut fs = busybox_fs();
        let res = run_with(&mut fs, &["id"], |c| {
            c.uid = 1000;
            c.gid = 65534
        });
        assert_eq!(res.out, "uid=1000 gid=65534(nogroup)\n");
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
        assert_eq!(res.clock, 1_700_000_000 + 61); // 61.5 s, in whole seconds
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
        // X is not exported, so the child shell does not see it
        assert_eq!(res.out, "in\n3 1\n/\n");
        let res = sh("export X=1; sh -c 'echo in $X'");
        assert_eq!(res.out, "in 1\n");
    }

    #[test]
    fn syntax_errors_and_unsupported() {
        let res = sh("echo 'oops");
        assert_eq!(res.code, Ok(2));
        assert_eq!(res.err, "sh: syntax error: unterminated quoted string\n");
        let res = sh("&& echo");
        assert_eq!(res.code, Ok(2));
        assert_eq!(res.err, "sh: syntax error: unexpected \"&&\"\n");
        let res = sh("echo a | cat");
        assert_eq!((res.code, res.out.as_str()), (Ok(0), "a\n"));
        let res = sh("echo $(id -u)");
        assert_eq!(res.out, "0\n");
        let res = sh("if true; then echo y; fi");
        assert_eq!(res.out, "y\n");
        let res = sh("echo a &&");
        assert_eq!(res.code, Ok(2));
        assert_eq!(res.err, "sh: syntax error: unexpected end of file\n");
        // lines before the bad one run, as in ash
        let res = sh("echo a\nfi\necho b");
        assert_eq!((res.code, res.out.as_str()), (Ok(2), "a\n"));
        assert_eq!(res.err, "sh: syntax error: unexpected \"fi\"\n");
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
            "sh: cd: line 0: can't cd to /nope: No such file or directory\n"
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

    // --- The full shell, applets, and the virtual clock with signals. ---

    /// An image with every applet the simulator knows linked to busybox.
    fn full_fs() -> SimFs {
        let mut fs = busybox_fs();
        for name in runnable() {
            if name != "busybox" && !fs.exists(&format!("/bin/{name}"), "/") {
                fs.create(&format!("/bin/{name}"), "/", Node::symlink("busybox"))
                    .unwrap();
            }
        }
        fs
    }

    fn full(script: &str) -> Res {
        let mut fs = full_fs();
        run_with(&mut fs, &["sh", "-c", script], |_| {})
    }

    struct Timed {
        outcome: Result<Outcome, RunError>,
        out: String,
        err: String,
        clock: u64,
    }

    fn timed(script: &str, horizon_ms: u64, signals: &[TimedSignal]) -> Timed {
        let mut fs = full_fs();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut ctx = ShellCtx {
            fs: &mut fs,
            env: vec![("PATH".into(), "/bin".into())],
            cwd: "/".into(),
            hostname: "box".into(),
            uid: 0,
            gid: 0,
            pid: 1,
            procs: Vec::new(),
            mounts: Vec::new(),
            clock_secs: 1_700_000_000,
            res: Default::default(),
            net: None,
            stdout: &mut out,
            stderr: &mut err,
        };
        let argv: Vec<String> = ["sh", "-c", script].iter().map(|s| s.to_string()).collect();
        let outcome = run_until(&mut ctx, &argv, horizon_ms, signals);
        let clock = ctx.clock_secs;
        drop(ctx);
        Timed {
            outcome,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
            clock,
        }
    }

    #[test]
    fn pipes_pass_bytes_and_report_the_last_status() {
        assert_eq!(
            full("printf 'b\\na\\nb\\n' | sort | uniq -c").out,
            "      1 a\n      2 b\n"
        );
        assert_eq!(
            full("true | false; echo $?; false | true; echo $?").out,
            "1\n0\n"
        );
        assert_eq!(full("! false | false; echo $?").out, "0\n");
        assert_eq!(full("yes | head -n 3").out, "y\ny\ny\n");
        assert_eq!(
            full("echo a b c | while read x y; do echo \"$y|$x\"; done").out,
            "b c|a\n"
        );
        assert_eq!(full("seq 5 | tail -n 2 | wc -l").out, "2\n");
    }

    #[test]
    fn compound_commands() {
        let r = full("for i in 1 2 3; do if [ $i = 2 ]; then continue; elif [ $i = 3 ]; then echo three; else echo $i; fi; done");
        assert_eq!(r.out, "1\nthree\n");
        assert_eq!(
            full("i=0; until [ $i -ge 3 ]; do i=$((i+1)); done; echo $i").out,
            "3\n"
        );
        assert_eq!(
            full("while true; do while true; do break 2; done; done; echo out").out,
            "out\n"
        );
        assert_eq!(
            full("case foo.txt in *.c) echo c;; *.txt|*.md) echo doc;; esac").out,
            "doc\n"
        );
        assert_eq!(full("{ echo a; echo b; } | wc -l").out, "2\n");
        assert_eq!(
            full("X=1; (X=2; cd /tmp; echo $X $(pwd)); echo $X $(pwd)").out,
            "2 /tmp\n1 /\n"
        );
    }

    #[test]
    fn functions_locals_and_positionals() {
        let r = full(
            "f() { local a=$1; shift; echo \"$a:$#:$*\"; return 3; }; a=out; f x y z; echo $? $a",
        );
        assert_eq!(r.out, "x:2:y z\n3 out\n");
        assert_eq!(
            full("set -- a 'b c'; for x in \"$@\"; do echo \"[$x]\"; done").out,
            "[a]\n[b c]\n"
        );
        assert_eq!(full("fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1-1))) )); fi; }; fact 5").out, "120\n");
    }

    #[test]
    fn expansions() {
        assert_eq!(
            full("echo $((2+3*4)) $((7/2)) $((7%3)) $((1<2 && 3>2)) $(( (1+2)*3 ))").out,
            "14 3 1 1 9\n"
        );
        assert_eq!(
            full("x=5; echo $((x*2)) `echo back` \"$(echo 'a  b')\"").out,
            "10 back a  b\n"
        );
        assert_eq!(
            full("v=a/b/c.txt; echo ${v##*/} ${v%.*} ${#v} ${u:-d} ${v:2:3}").out,
            "c.txt a/b/c 9 d b/c\n"
        );
        let r = full("echo $((1/0)); echo after");
        assert_eq!(
            (r.code, r.err.as_str(), r.out.as_str()),
            (Ok(2), "sh: divide by zero\n", "")
        );
        assert_eq!(
            full("cd /usr/share; echo *; echo /usr/s*; echo nomatch*").out,
            "c\n/usr/share\nnomatch*\n"
        );
        assert_eq!(
            full("cat <<EOF\nhi $((1+1))\nEOF\ncat <<'X'\n$HOME\nX").out,
            "hi 2\n$HOME\n"
        );
    }

    #[test]
    fn redirections_and_errors() {
        let r = full("echo out >/tmp/o; echo err >&2; ls /nope 2>/dev/null; echo $?; cat /tmp/o; nosuch 2>&1 | cat");
        assert_eq!(r.out, "1\nout\nsh: nosuch: not found\n");
        assert_eq!(r.err, "err\n");
        let r = full("wc -l < /etc/passwd; read l < /etc/group; echo $l");
        assert_eq!(r.out, "3\nroot:x:0:\n");
        let r = full("nosuch; echo $?");
        assert_eq!(
            (r.out.as_str(), r.err.as_str()),
            ("127\n", "sh: nosuch: not found\n")
        );
        let r = full("set -e; true; false; echo no");
        assert_eq!((r.code, r.out.as_str()), (Ok(1), ""));
        assert_eq!(
            full("set -e; if false; then :; fi; false || echo yes").out,
            "yes\n"
        );
    }

    #[test]
    fn background_jobs_and_wait() {
        let r = full("sleep 2 & p=$!; echo started; wait $p; echo done $?");
        assert_eq!(r.out, "started\ndone 0\n");
        assert_eq!(r.clock, 1_700_000_002);
        let r = full("(sleep 1; echo late) & echo early; wait");
        assert_eq!(r.out, "early\nlate\n");
        let r = full("sleep 100 & kill $!; wait $!; echo $?");
        assert_eq!(r.out, "143\n");
        let r = full("trap 'echo bye' EXIT; echo hi; exit 4");
        assert_eq!((r.code, r.out.as_str()), (Ok(4), "hi\nbye\n"));
    }

    const TICKER: &str = "trap 'echo got TERM; exit 3' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done";

    #[test]
    fn a_trapped_signal_interrupts_sleep_and_runs_its_handler() {
        let sig = [TimedSignal {
            at_ms: 2500,
            signal: 15,
            pid: 1,
        }];
        let t = timed(TICKER, 60_000, &sig);
        assert_eq!(t.outcome, Ok(Outcome::Exited(3)));
        assert_eq!(t.out, "tick 0\ntick 1\ntick 2\ngot TERM\n");
        assert_eq!(t.clock, 1_700_000_002);
    }

    #[test]
    fn runs_stop_at_the_horizon_and_are_deterministic() {
        let sig = [TimedSignal {
            at_ms: 2500,
            signal: 15,
            pid: 1,
        }];
        let a = timed(TICKER, 1500, &sig);
        assert!(
            matches!(a.outcome, Ok(Outcome::StillRunning { .. })),
            "{:?}",
            a.outcome
        );
        assert_eq!(a.out, "tick 0\ntick 1\n");
        let b = timed(TICKER, 1500, &sig);
        assert_eq!((a.out, a.clock), (b.out, b.clock));
        // the longer run starts with what the shorter one printed
        let c = timed(TICKER, 60_000, &sig);
        assert!(c.out.starts_with("tick 0\ntick 1\n"));
    }

    #[test]
    fn pid_1_ignores_untrapped_term_but_not_kill() {
        let script = "while true; do sleep 1; done";
        let t = timed(
            script,
            5000,
            &[TimedSignal {
                at_ms: 1000,
                signal: 15,
                pid: 1,
            }],
        );
        assert!(
            matches!(t.outcome, Ok(Outcome::StillRunning { .. })),
            "{:?}",
            t.outcome
        );
        let t = timed(
            script,
            5000,
            &[TimedSignal {
                at_ms: 1000,
                signal: 9,
                pid: 1,
            }],
        );
        assert_eq!(t.outcome, Ok(Outcome::Exited(137)));
        assert_eq!(t.clock, 1_700_000_001);
        // another process dies of an untrapped TERM
        let t = timed(
            "sleep 50 & wait $!; echo $?",
            5000,
            &[TimedSignal {
                at_ms: 1000,
                signal: 15,
                pid: 2,
            }],
        );
        assert_eq!(
            (t.outcome, t.out.as_str()),
            (Ok(Outcome::Exited(0)), "143\n")
        );
    }

    #[test]
    fn busy_loops_are_bounded_by_the_clock() {
        let t = timed("while true; do :; done", 200, &[]);
        assert!(
            matches!(t.outcome, Ok(Outcome::StillRunning { .. })),
            "{:?}",
            t.outcome
        );
        let t = timed(
            "trap 'echo stop; exit 0' INT; while :; do :; done",
            60_000,
            &[TimedSignal {
                at_ms: 100,
                signal: 2,
                pid: 1,
            }],
        );
        assert_eq!(
            (t.outcome, t.out.as_str()),
            (Ok(Outcome::Exited(0)), "stop\n")
        );
        assert_eq!(t.err, "");
    }

    #[test]
    fn applets_print_busybox_formats() {
        let r = full("printf 'a b\\nc\\n' > /tmp/f; wc /tmp/f; wc -l < /tmp/f; grep -n c /tmp/f; cut -d' ' -f2 /tmp/f; sed 's/a/A/; 2d' /tmp/f");
        assert_eq!(
            r.out,
            "        2         3         6 /tmp/f\n2\n2:c\nb\nc\nA b\n"
        );
        assert_eq!(full("seq -s, 3; expr 3 + 4; basename /a/b.txt .txt; dirname /a/b; echo HeLLo | tr a-z A-Z").out, "1,2,3\n7\nb\n/a\nHELLO\n");
        assert_eq!(
            full("printf '%5s|%-5s|%05d|%x\\n' a b 42 255").out,
            "    a|b    |00042|ff\n"
        );
        let r = full("mkdir -p /tmp/d/e && touch /tmp/d/e/f && cp -r /tmp/d /tmp/c && mv /tmp/c/e/f /tmp/c/g && ln -s g /tmp/c/l && chmod 750 /tmp/c/g && ls /tmp/c && stat -c '%a %n' /tmp/c/g && rm -rf /tmp/d && ls /tmp");
        assert_eq!(r.out, "e\ng\nl\n750 /tmp/c/g\nc\n");
        assert_eq!(
            full("date; date +%Y-%m-%d").out,
            "Tue Nov 14 22:13:20 UTC 2023\n2023-11-14\n"
        );
        assert_eq!(full("kill -l 15; kill -l 143; echo $((16#1f))").code, Ok(2));
    }
}
