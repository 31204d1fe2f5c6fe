//! The learning shell (`glassbox` with no arguments): docker-style commands,
//! each run as its own glassbox process with the shell's settings (step-through,
//! explain level, language), and a few `:` commands to look closer.

pub mod complete;

use crate::cli::GlobalOptions;
use crate::learn::{lessons, runner::Runner, words};
use crate::narrate::{diagram, Level};
use crate::step::Lang;
use anyhow::Result;
use colored::Colorize;
use rustyline::error::ReadlineError;
use std::path::PathBuf;
use std::process::Command;

/// The learner's settings, shared by the shell and the lessons it opens: the
/// `:` commands change them, and they work the same at a lesson's prompt.
pub struct Session {
    pub root: PathBuf,
    pub simulate: bool,
    pub lang: Lang,
    pub step: bool,
    /// None: the shell's default (steps) and each lesson part's own level.
    pub explain: Option<Level>,
    /// Where the last command's step trace is (`:why`, `:look`).
    pub trace: PathBuf,
}

extern "C" fn ignore(_: libc::c_int) {}

impl Session {
    /// The store the session's commands work on.
    fn store(&self) -> PathBuf {
        crate::engine::store_root(&self.root, self.simulate)
    }

    pub fn new(
        root: PathBuf,
        simulate: bool,
        lang: Lang,
        step: bool,
        explain: Option<Level>,
    ) -> Session {
        let trace = crate::learn::progress::state_dir()
            .join(format!("repl-trace-{}.jsonl", std::process::id()));
        Session {
            root,
            simulate,
            lang,
            step,
            explain,
            trace,
        }
    }

    /// Options a lesson adds to its commands for these settings.
    pub fn lesson_options(&self) -> Vec<String> {
        let mut o = Vec::new();
        if self.step {
            o.push("--step".to_string());
        }
        if let Some(level) = self.explain {
            o.push(format!("--explain={}", level.name()));
        }
        o
    }

    fn prompt(&self) -> String {
        let mode = if self.simulate { "sim" } else { "real" };
        let step = if self.step { "·step" } else { "" };
        format!("glassbox[{mode}·{}{step}]> ", self.lang.code())
    }

    fn options(&self) -> Vec<String> {
        let mut o = vec!["--lang".into(), self.lang.code().into()];
        if self.step {
            o.push("--step".into());
        }
        o.push(format!(
            "--explain={}",
            self.explain.unwrap_or(Level::Steps).name()
        ));
        o
    }

    /// Run a glassbox command line as a child process with the session's settings.
    fn run_command(&self, args: &[String]) -> Result<()> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg("--root").arg(&self.root);
        if self.simulate {
            cmd.arg("--simulate");
        }
        cmd.arg("--trace-json")
            .arg(&self.trace)
            .args(self.options())
            .args(args);
        let status = cmd.status()?;
        if let Some(code) = status.code().filter(|c| *c != 0) {
            println!("{}", format!("(exit status {code})").dimmed());
        }
        Ok(())
    }

    /// The last step of the last command, from the session's trace.
    fn last_step(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(&self.trace).ok()?;
        text.lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
    }

    fn why(&self) {
        match self.last_step() {
            Some(s) => {
                let e = &s["explain"];
                println!("{}", e["title"].as_str().unwrap_or("").bold());
                println!("  {}", e["why"].as_str().unwrap_or(""));
                println!("  $ {}", e["shell"].as_str().unwrap_or(""));
                println!(
                    "  {} {}",
                    self.lang.pick("syscall:", "系统调用:"),
                    e["syscall"].as_str().unwrap_or("")
                );
                println!(
                    "  {} {}",
                    self.lang.pick("look:", "查看:"),
                    e["look"].as_str().unwrap_or("")
                );
            }
            None => println!(
                "{}",
                self.lang.pick(
                    "No step yet: run a container first.",
                    "还没有步骤：先运行一个容器。"
                )
            ),
        }
    }

    /// The container the last command made, from its cgroup path in the trace.
    fn traced_container(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.trace).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| {
                let path = v["step"]["paths"].get(0)?.as_str()?.to_string();
                Some(
                    std::path::Path::new(&path)
                        .file_name()?
                        .to_string_lossy()
                        .into_owned(),
                )
            })
    }

    /// What is left of a container once its process is gone: its record and
    /// writable layer, or nothing when it was removed.
    fn remains(&self, id: Option<String>) {
        let l = |en: &str, zh: &str| self.lang.pick(en, zh).to_string();
        let found = id
            .as_deref()
            .and_then(|id| crate::container::find(&self.store(), id).ok());
        match found {
            Some(c) => {
                println!(
                    "{} {} ({}, {} {})",
                    l("  what remains: the container record", "  还剩下：容器记录"),
                    c.name,
                    c.state.status.as_str(),
                    l("exit code", "退出码"),
                    c.state.exit_code.map(|x| x.to_string()).unwrap_or_default()
                );
                let upper = c.dir(&self.store()).join("upper");
                println!("{}", l("  and its writable layer:", "  以及它的可写层："));
                println!("  $ ls -A {}", upper.display());
                let _ = Command::new("ls").arg("-A").arg(&upper).status();
            }
            None => println!(
                "{}",
                l(
                    "  nothing remains of the container (it was removed, e.g. by --rm); the image's layers stay: glassbox images",
                    "  容器已经什么都不剩了（比如被 --rm 删除了）；镜像的层还在：glassbox images"
                )
            ),
        }
    }

    /// `:look` on the simulated host while the container's process lives:
    /// what the simulated host keeps of it, rendered by the simulated kernel
    /// (its cgroup file; the process); each step's own look is step-through's
    /// `l`, which sees the model while the step happens.
    fn look_simulated(&self, pid: i64, look: &str) {
        use crate::kernel::Kernel;
        let kernel = crate::kernel::sim::SimKernel::persistent(
            &self.store(),
            crate::kernel::cgroup::CgroupMode::Unified,
        );
        println!(
            "{}",
            self.lang.pick(
                &format!("The container's process {pid} still runs on the simulated host. The last step's look was `{look}`; what the simulated host keeps:"),
                &format!("容器的进程 {pid} 还在模拟主机上运行。上一步的查看命令是 `{look}`；模拟主机保存着的是："),
            )
        );
        let pid = pid as i32;
        for step in [
            crate::step::Step::WaitExit {
                pid,
                pid_start: 0,
                timeout_s: 0,
            },
            crate::step::Step::CgroupJoin {
                paths: Vec::new(),
                pid,
            },
        ] {
            if let Some(view) = kernel.look(&step, self.lang) {
                print!("{view}");
            }
        }
        println!(
            "{}",
            self.lang.pick(
                "(`:step on`, then `l` at a pause, shows each step's effect as it happens)",
                "（`:step on` 之后在暂停处按 `l`，可以看到每一步发生时的效果）"
            )
        );
    }

    fn look(&self) {
        let Some(s) = self.last_step() else {
            println!(
                "{}",
                self.lang.pick(
                    "No step yet: run a container first.",
                    "还没有步骤：先运行一个容器。"
                )
            );
            return;
        };
        let look = s["explain"]["look"].as_str().unwrap_or("").to_string();
        let pid = s["pid"].as_i64().unwrap_or(0);
        let id = self.traced_container();
        let gone = if self.simulate {
            pid <= 0 || !crate::kernel::sim::host::alive(&self.store(), pid as i32).unwrap_or(false)
        } else {
            pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists()
        };
        if gone {
            println!(
                "{}",
                self.lang.pick(
                    &format!("The container's process {pid} has exited: its namespaces and cgroup are gone, so `{look}` has nothing left to show. (--step or -d let you look while it lives.)"),
                    &format!("容器的进程 {pid} 已经退出：它的命名空间和 cgroup 都没了，所以 `{look}` 已经看不到什么。（用 --step 或 -d 可以在它运行时查看。）"),
                )
            );
            self.remains(id);
            return;
        }
        if self.simulate {
            self.look_simulated(pid, &look);
            return;
        }
        println!("$ {look}");
        let _ = Command::new("sh").arg("-c").arg(&look).status();
    }

    /// The networks' picture (`network inspect --diagram`), when the store
    /// has any network: read as it is, nothing collected or changed.
    fn network_picture(&self) -> Option<String> {
        use crate::network::diagram as net;
        let store = self.store();
        let mut nets = crate::network::read_all(&store);
        if nets.is_empty() {
            return None;
        }
        nets.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        let mut kernel: Box<dyn crate::kernel::Kernel> = if self.simulate {
            Box::new(crate::kernel::sim::SimKernel::persistent(
                &store,
                crate::kernel::cgroup::CgroupMode::Unified,
            ))
        } else {
            Box::new(crate::kernel::linux::LinuxKernel::new().ok()?)
        };
        let containers = crate::container::list(&store).unwrap_or_default();
        let table = crate::engine::network::nft_table(&store);
        let picture = net::gather(kernel.as_mut(), &nets, &containers, &table, true);
        Some(net::render(
            &picture,
            self.lang,
            net::Charset::from_locale(),
        ))
    }

    fn help(&self) {
        let text = self.lang.pick(
            "Type docker commands (with or without `docker`): run, ps, rm, images, import, ...\n\
             learn [N]          take a lesson        lab list|start|check|hint|reset N   labs\n\
             :step on|off       pause before each kernel step (one key: Enter, ?, l, c, q)\n\
             :explain LEVEL     quiet, summary, steps or deep\n\
             :lang en|zh        language of narration and lessons\n\
             :why               the last step, explained more deeply\n\
             :look              run the host command that shows the last step's effect\n\
             :diagram           a picture of the containers (layers, namespaces) and networks\n\
             help, exit",
            "输入 docker 命令（可以带也可以不带 `docker`）：run、ps、rm、images、import ……\n\
             learn [N]          上课                 lab list|start|check|hint|reset N   实验\n\
             :step on|off       每个内核步骤前暂停（按一个键：回车、?、l、c、q）\n\
             :explain 级别      quiet、summary、steps 或 deep\n\
             :lang en|zh        讲解和课程的语言\n\
             :why               更深入地讲解上一步\n\
             :look              在宿主机上运行能看到上一步效果的命令\n\
             :diagram           画出容器（层、命名空间）和网络\n\
             help、exit",
        );
        println!("{text}");
    }

    /// A `:` command (the same in the shell and at a lesson's prompt); false
    /// when `words` is not one.
    pub fn colon(&mut self, words: &[String]) -> bool {
        let Some(first) = words.first().map(String::as_str) else {
            return false;
        };
        if !first.starts_with(':') {
            return false;
        }
        let arg = words.get(1).map(String::as_str);
        let l = |en: &'static str, zh: &'static str| self.lang.pick(en, zh).to_string();
        match (first, arg) {
            (":step", Some("on")) => {
                self.step = true;
                println!(
                    "{}",
                    l(
                        "step-through on: glassbox pauses before each kernel step",
                        "逐步模式已打开：每个内核步骤前都会暂停"
                    )
                );
            }
            (":step", Some("off")) => {
                self.step = false;
                println!("{}", l("step-through off", "逐步模式已关闭"));
            }
            (":step", _) => println!(":step on|off"),
            (":explain", Some(level)) => match Level::parse(level) {
                Some(lv) => self.explain = Some(lv),
                None => println!("quiet, summary, steps, deep"),
            },
            (":explain", None) => println!("quiet, summary, steps, deep"),
            (":lang", Some(code)) => match Lang::parse(code) {
                Some(lang) => self.lang = lang,
                None => println!("en, zh"),
            },
            (":lang", None) => println!("en, zh"),
            (":why", _) => self.why(),
            (":look", _) => self.look(),
            (":diagram", _) => {
                println!("{}", diagram::all(&self.store(), self.lang));
                if let Some(picture) = self.network_picture() {
                    println!();
                    print!("{picture}");
                }
            }
            (":help", _) => self.help(),
            _ => println!(
                "{}",
                l(
                    "unknown : command; try :help",
                    "未知的 : 命令；输入 :help 查看"
                )
            ),
        }
        true
    }

    /// Handle one line; false ends the session.
    fn handle(&mut self, line: &str) -> Result<bool> {
        let words = match words::split(line) {
            Ok(w) => words::without_program(w),
            Err(e) => {
                println!("{e}");
                return Ok(true);
            }
        };
        if self.colon(&words) {
            return Ok(true);
        }
        let Some(first) = words.first().map(String::as_str) else {
            return Ok(true);
        };
        let arg = words.get(1).map(String::as_str);
        match (first, arg) {
            ("exit" | "quit", _) => return Ok(false),
            ("help" | "?", _) => self.help(),
            ("learn", lesson) => {
                let mut runner = Runner::new(&self.root, self.simulate, self.lang)?;
                match lesson {
                    Some(key) => {
                        if let Err(e) = lessons::take(&mut runner, key, self, false) {
                            println!("{e:#}");
                        }
                    }
                    None => lessons::menu(self.lang)?,
                }
            }
            _ => self.run_command(&words)?,
        }
        Ok(true)
    }
}

/// Run the REPL until `exit` or end of input.
pub fn run(g: &GlobalOptions, lesson: Option<&str>) -> Result<i32> {
    let simulate = g.simulated();
    let state = crate::learn::progress::state_dir();
    std::fs::create_dir_all(&state)?;
    let mut session = Session::new(g.base_root(), simulate, g.lang(), g.step, g.explain);
    // Ctrl-C belongs to the command running in the foreground, not to the shell.
    // SAFETY: a handler that does nothing; exec resets it to the default in children.
    unsafe {
        libc::signal(
            libc::SIGINT,
            ignore as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    let mut editor =
        rustyline::Editor::<complete::ReplHelper, rustyline::history::DefaultHistory>::new()?;
    editor.set_helper(Some(complete::ReplHelper {
        root: session.root.clone(),
    }));
    let history = state.join("history");
    let _ = editor.load_history(&history);
    let welcome = session.lang.pick(
        "glassbox: a container runtime you can see through. Type `learn 0` for the first lesson, `help` for commands.",
        "glassbox：一个看得见内部的容器运行时。输入 `learn 0` 开始第一课，输入 `help` 查看命令。",
    );
    println!("{}", welcome.bold());
    if simulate {
        println!(
            "{}",
            session
                .lang
                .pick(
                    "(simulated kernel: nothing on this machine changes)",
                    "（模拟内核：不会改动这台机器）"
                )
                .dimmed()
        );
    }
    if let Some(key) = lesson {
        session.handle(&format!("learn {key}"))?;
    }
    loop {
        match editor.readline(&session.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match session.handle(&line) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => println!("glassbox: {e:#}"),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let _ = editor.save_history(&history);
    let _ = std::fs::remove_file(&session.trace);
    Ok(0)
}
