//! Taking a lesson: interactively (`glassbox learn N`), or all of them
//! unattended (`glassbox learn --run-all`), which is how tests and CI cover them.

use super::catalog;
use super::model::{Lesson, Section};
use super::progress::Progress;
use super::runner::{Outcome, Runner};
use super::words;
use crate::step::Lang;
use anyhow::{bail, Result};
use colored::Colorize;
use std::io::{BufRead, IsTerminal, Write};

/// What the learner answered at a prompt.
pub enum Answer {
    Line(String),
    /// Ctrl-C: the line is cleared (asked again, empty).
    Cleared,
    /// Ctrl-D or the end of input: leave.
    End,
}

/// Reads the learner's answers: a line editor on a terminal, plain lines otherwise.
pub struct Prompter {
    editor: Option<rustyline::DefaultEditor>,
}

impl Prompter {
    pub fn new() -> Prompter {
        let editor = if std::io::stdin().is_terminal() {
            rustyline::DefaultEditor::new().ok().map(|mut ed| {
                // Ctrl-D leaves even when the prompt holds a suggestion.
                ed.bind_sequence(
                    rustyline::KeyEvent::ctrl('D'),
                    rustyline::EventHandler::Simple(rustyline::Cmd::EndOfFile),
                );
                ed
            })
        } else {
            None
        };
        Prompter { editor }
    }
    /// Ask with `initial` already typed.
    pub fn ask(&mut self, prompt: &str, initial: &str) -> Answer {
        match &mut self.editor {
            Some(ed) => match ed.readline_with_initial(prompt, (initial, "")) {
                Ok(line) => Answer::Line(line),
                Err(rustyline::error::ReadlineError::Interrupted) => Answer::Cleared,
                Err(_) => Answer::End,
            },
            None => {
                print!("{prompt}");
                let _ = std::io::stdout().flush();
                let mut line = String::new();
                match std::io::stdin().lock().read_line(&mut line) {
                    Ok(0) | Err(_) => Answer::End,
                    Ok(_) => {
                        let line = line.trim_end_matches('\n').to_string();
                        // Without an editor, an empty answer takes the suggestion;
                        // show what was taken, as a terminal would have.
                        let taken = if line.is_empty() {
                            initial.to_string()
                        } else {
                            line
                        };
                        println!("{taken}");
                        Answer::Line(taken)
                    }
                }
            }
        }
    }
}

impl Default for Prompter {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a line typed at a lesson prompt means "leave the lesson": `q`,
/// `:q`, `quit`, `exit`, also typed at the end of the pre-filled suggestion.
pub fn is_leave(line: &str, suggestion: &str) -> bool {
    let t = line.trim();
    let leave = |w: &str| matches!(w, "q" | ":q" | "quit" | "exit" | ":quit");
    leave(t)
        || (!suggestion.is_empty()
            && t.strip_prefix(suggestion.trim())
                .is_some_and(|rest| leave(rest.trim())))
}

pub fn heading(lesson: &Lesson, lang: Lang) -> String {
    match lang {
        Lang::Zh => {
            let n: u32 = lesson.id.parse().unwrap_or(0);
            format!("━━ 第 {n} 课 · {} ━━", lesson.title.get(lang))
        }
        _ => format!("━━ Lesson {} · {} ━━", lesson.id, lesson.title.get(lang)),
    }
}

/// Make sure a section's image is here, pulling it if need be. Err holds what
/// to tell the learner when it cannot be had (no network and no mirror).
pub fn ensure_image(runner: &Runner, image: &str) -> std::result::Result<(), String> {
    let here = |r: &Runner| {
        crate::image::Store::open(&r.store)
            .and_then(|s| s.resolve(image))
            .map(|i| i.is_some())
            .unwrap_or(false)
    };
    if here(runner) {
        return Ok(());
    }
    // GLASSBOX_OFFLINE (tests): pull only through a configured mirror, never from the internet.
    let mirrored = crate::registry::config::RegistryConfig::load(&runner.root)
        .map(|c| !c.registry_mirrors.is_empty())
        .unwrap_or(false);
    // The simulated registry is local: a simulated runner always pulls from it.
    let pulled = if std::env::var_os("GLASSBOX_OFFLINE").is_some() && !mirrored && !runner.simulate
    {
        Err(anyhow::anyhow!(
            "{}",
            runner.lang.pick(
                "offline, and no registry mirror is configured",
                "离线，且没有配置镜像加速器"
            )
        ))
    } else {
        runner.run(&format!("pull {image}"), &[], None, true, false)
    };
    if here(runner) {
        return Ok(());
    }
    let why = pulled
        .map(|o| o.output.trim().lines().last().unwrap_or("").to_string())
        .unwrap_or_else(|e| e.to_string());
    Err(runner.lang.pick(
        &format!(
            "This part needs the {image} image, which is not here and could not be pulled ({why}).\n  Bring it from a machine with a network:  glassbox pull {image} && glassbox save -o {image}.tar {image}\n  and here:  glassbox load -i {image}.tar\n  Or, with a registry mirror on your network, put  registry_mirrors = [\"http://HOST:PORT\"]  in {}/config.toml (or /etc/glassbox/config.toml).",
            runner.root.display()
        ),
        &format!(
            "这一部分需要 {image} 镜像，本机没有，也拉取不到（{why}）。\n  在有网络的机器上：  glassbox pull {image} && glassbox save -o {image}.tar {image}\n  再在这里：  glassbox load -i {image}.tar\n  如果你的网络里有镜像加速器（registry mirror），在 {}/config.toml（或 /etc/glassbox/config.toml）里写上  registry_mirrors = [\"http://主机:端口\"]。",
            runner.root.display()
        ),
    ).to_string())
}

/// Whether a run may fetch a missing image itself (so the learner sees the
/// automatic pull): not offline (GLASSBOX_OFFLINE, tests) without a mirror.
fn may_pull(runner: &Runner) -> bool {
    let mirrored = crate::registry::config::RegistryConfig::load(&runner.root)
        .map(|c| !c.registry_mirrors.is_empty())
        .unwrap_or(false);
    // The simulated registry is local: simulated runs always pull from it.
    runner.simulate || std::env::var_os("GLASSBOX_OFFLINE").is_none() || mirrored
}

fn image_here(runner: &Runner, image: &str) -> bool {
    crate::image::Store::open(&runner.store)
        .and_then(|s| s.resolve(image))
        .map(|i| i.is_some())
        .unwrap_or(false)
}

/// Where a lesson's files go: where its commands run.
pub fn workdir(runner: &Runner) -> std::path::PathBuf {
    runner
        .workdir
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| "/".into()))
}

/// Run a section's checks against what the command did; returns the failures.
pub fn failed_checks(runner: &Runner, section: &Section, outcome: &Outcome) -> Vec<String> {
    section
        .check
        .iter()
        .filter_map(|c| runner.check(c, outcome).err())
        .collect()
}

/// The menu: every lesson with the learner's progress.
pub fn menu(lang: Lang) -> Result<()> {
    let progress = Progress::load();
    println!(
        "{}",
        lang.pick("Lessons (glassbox learn N):", "课程（glassbox learn N）：")
    );
    for lesson in catalog::lessons()? {
        let done = progress.lessons.get(&lesson.id).copied().unwrap_or(0);
        let skipped = progress.skipped.get(&lesson.id).map(Vec::len).unwrap_or(0);
        let total = lesson.section.len();
        let mark = if done >= total && skipped > 0 {
            format!("{}/{total}", total - skipped)
        } else if done >= total {
            "✓".green().to_string()
        } else if done > 0 {
            format!("{done}/{total}")
        } else {
            " ".into()
        };
        println!("  {:>5}  {}  {}", mark, lesson.id, lesson.title.get(lang));
    }
    Ok(())
}

/// The first lesson not yet finished (a part skipped counts as passed over,
/// as the menu counts it), or None when every lesson is done.
pub fn next_lesson(progress: &Progress) -> Result<Option<Lesson>> {
    Ok(catalog::lessons()?.into_iter().find(|lesson| {
        progress.lessons.get(&lesson.id).copied().unwrap_or(0) < lesson.section.len()
    }))
}

/// How one part of a lesson ended.
enum PartEnd {
    /// Its checks passed (or it has nothing to check).
    Done,
    /// Passed over with `:skip`, or impossible here (real kernel, image).
    Skipped,
    /// The learner left the lesson.
    Leave,
}

fn note(text: &str) {
    println!("{}", text.dimmed());
}

/// One part with a command: ask, run, check; stays until the checks pass,
/// the learner skips it or leaves.
fn take_part(
    runner: &mut Runner,
    section: &Section,
    session: &mut crate::repl::Session,
    prompter: &mut Prompter,
) -> Result<PartEnd> {
    let lang = session.lang;
    if !section.files.is_empty() {
        print!("{}", super::files::show(&section.files, lang));
        super::files::write(&workdir(runner), &section.files, lang)?;
    }
    let Some(command) = &section.command else {
        return Ok(PartEnd::Done);
    };
    if section.real_only && runner.simulate {
        note(lang.pick(
            "  (this part needs the real kernel; skipped in simulation)",
            "  （这一部分需要真实内核；模拟模式下跳过）",
        ));
        return Ok(PartEnd::Skipped);
    }
    if let Some(image) = &section.image {
        if !image_here(runner, image) && !may_pull(runner) {
            if let Err(message) = ensure_image(runner, image) {
                println!("  {}", message.yellow());
                return Ok(PartEnd::Skipped);
            }
        }
    }
    let suggestion = super::registry::shown(command);
    note(lang.pick(
        "  Enter runs it (edit it first if you like); :skip passes over this part; :q or Ctrl-D leaves; :help lists the : commands.",
        "  回车执行（也可以先修改）；:skip 跳过这一部分；:q 或 Ctrl-D 退出；:help 列出所有 : 命令。",
    ));
    let mut initial = suggestion.clone();
    loop {
        let line = match prompter.ask("  $ ", &initial) {
            Answer::End => return Ok(PartEnd::Leave),
            Answer::Cleared => {
                initial.clear();
                continue;
            }
            Answer::Line(l) => l,
        };
        initial = suggestion.clone();
        if is_leave(&line, &suggestion) {
            return Ok(PartEnd::Leave);
        }
        let line = if line.trim().is_empty() {
            suggestion.clone() // after Ctrl-C cleared it, Enter retypes the suggestion
        } else {
            line
        };
        if line.trim() == ":skip" {
            note(lang.pick(
                "  (skipped: this part is not done; `glassbox learn` shows it)",
                "  （已跳过：这一部分没有完成；`glassbox learn` 会显示出来）",
            ));
            return Ok(PartEnd::Skipped);
        }
        let typed = match words::split(&line) {
            Ok(w) => w,
            Err(e) => {
                println!("  {} {e}", "✗".red());
                continue;
            }
        };
        if session.colon(&typed) {
            runner.lang = session.lang;
            continue;
        }
        runner.lang = session.lang;
        let options: Vec<String> = section
            .options
            .iter()
            .chain(&session.lesson_options())
            .cloned()
            .collect();
        let outcome = runner.run(&line, &options, None, !section.interactive, true)?;
        let failures = failed_checks(runner, section, &outcome);
        if failures.is_empty() {
            if !section.check.is_empty() {
                println!(
                    "  {} {}",
                    "✓".green(),
                    lang.pick("that happened as expected", "一切如预期发生")
                );
            }
            return Ok(PartEnd::Done);
        }
        println!(
            "  {} {}",
            "✗".red(),
            lang.pick(
                "not yet: what this part expects is missing:",
                "还没有完成：缺少这一部分期望的结果："
            )
        );
        for f in &failures {
            println!("    - {f}");
        }
        note(lang.pick(
            "  This part stays open: Enter retypes the suggested command; :skip passes over it.",
            "  这一部分还没完成：回车重新输入建议的命令；:skip 跳过它。",
        ));
    }
}

/// Take one lesson interactively, resuming where the learner stopped.
pub fn take(
    runner: &mut Runner,
    key: &str,
    session: &mut crate::repl::Session,
    restart: bool,
) -> Result<()> {
    let lesson = catalog::lesson(key)?;
    let mut progress = Progress::load();
    let mut start = if restart {
        0
    } else {
        progress.lessons.get(&lesson.id).copied().unwrap_or(0)
    };
    if start >= lesson.section.len() {
        start = 0;
    }
    // A lesson's registry is new each time: what was pushed before is gone,
    // so such a lesson starts over.
    if lesson.registry.is_some() && start > 0 {
        start = 0;
    }
    let (lesson, _registry) = with_registry(runner, lesson)?;
    // `:why` and `:look` at the lesson prompt read the lesson's own trace.
    let shell_trace = std::mem::replace(&mut session.trace, runner.trace_path().to_path_buf());
    let result = take_from(runner, &lesson, session, &mut progress, start);
    session.trace = shell_trace;
    result
}

fn take_from(
    runner: &mut Runner,
    lesson: &Lesson,
    session: &mut crate::repl::Session,
    progress: &mut Progress,
    start: usize,
) -> Result<()> {
    println!("{}", heading(lesson, session.lang).bold());
    if start > 0 {
        println!(
            "{}",
            session.lang.pick(
                &format!("(resuming at part {}; --restart starts over)", start + 1),
                &format!("（从第 {} 部分继续；--restart 从头开始）", start + 1)
            )
        );
    }
    let mut prompter = Prompter::new();
    let total = lesson.section.len();
    for (i, section) in lesson.section.iter().enumerate().skip(start) {
        let lang = session.lang;
        println!(
            "\n{} {}",
            format!("[{}/{total}]", i + 1).cyan(),
            section.text.get(lang).trim()
        );
        let end = take_part(runner, section, session, &mut prompter)?;
        let lang = session.lang;
        let skipped = progress.skipped.entry(lesson.id.clone()).or_default();
        skipped.retain(|p| *p != i + 1);
        match end {
            PartEnd::Leave => {
                progress.skipped.retain(|_, v| !v.is_empty());
                progress.save()?;
                return Ok(());
            }
            PartEnd::Skipped => skipped.push(i + 1),
            PartEnd::Done => {
                if let Some(notice) = &section.notice {
                    println!(
                        "  {} {}",
                        lang.pick("Notice:", "注意：").yellow(),
                        notice.get(lang).trim()
                    );
                }
            }
        }
        progress.skipped.retain(|_, v| !v.is_empty());
        progress.lessons.insert(lesson.id.clone(), i + 1);
        progress.save()?;
        if i + 1 < total && section.command.is_none() {
            loop {
                match prompter.ask(lang.pick("  (Enter to go on) ", "  （回车继续）"), "") {
                    Answer::End => return Ok(()),
                    Answer::Cleared => continue,
                    Answer::Line(l) if is_leave(&l, "") => return Ok(()),
                    Answer::Line(l) => {
                        let typed = words::split(&l).unwrap_or_default();
                        if session.colon(&typed) {
                            runner.lang = session.lang;
                            continue;
                        }
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Start the lesson's private registry, if it has one, and read the lesson
/// with its address; the registry stops when the returned guard is dropped.
pub fn with_registry(
    runner: &Runner,
    lesson: Lesson,
) -> Result<(Lesson, Option<super::registry::LessonRegistry>)> {
    match &lesson.registry {
        None => Ok((lesson, None)),
        Some(spec) => {
            let registry = super::registry::LessonRegistry::start(runner, spec)?;
            let lesson = catalog::lesson_at(&lesson, &registry.host)?;
            Ok((lesson, Some(registry)))
        }
    }
}

/// Run every lesson unattended; fails on the first check that fails.
pub fn run_all(runner: &Runner, only: Option<&str>) -> Result<()> {
    let lang = runner.lang;
    for lesson in catalog::lessons()? {
        if only.is_some_and(|k| {
            catalog::lesson(k)
                .map(|l| l.id != lesson.id)
                .unwrap_or(true)
        }) {
            continue;
        }
        // Stopped (killed by PID, directory removed) when the lesson ends or fails.
        let (lesson, _registry) = with_registry(runner, lesson)?;
        let mut checked = 0;
        let mut skipped = 0;
        let mut missing_images = 0;
        for (i, section) in lesson.section.iter().enumerate() {
            // A part's files are written even when its command is skipped:
            // later parts build from them.
            super::files::write(&workdir(runner), &section.files, lang)?;
            let Some(command) = &section.command else {
                continue;
            };
            if section.real_only && runner.simulate {
                skipped += 1;
                continue;
            }
            if let Some(Err(message)) = section.image.as_deref().map(|i| ensure_image(runner, i)) {
                if std::env::var_os("GLASSBOX_LESSONS_NEED_IMAGES").is_some() {
                    bail!("lesson {} part {}: {message}", lesson.id, i + 1);
                }
                eprintln!("lesson {} part {}: {message}", lesson.id, i + 1);
                missing_images += 1;
                continue;
            }
            let options: Vec<String> = section
                .options
                .iter()
                .filter(|o| *o != "--step")
                .cloned()
                .collect();
            let outcome = runner.run(command, &options, section.input.as_deref(), true, false)?;
            let failures = failed_checks(runner, section, &outcome);
            if !failures.is_empty() {
                eprintln!("{}", heading(&lesson, lang));
                eprintln!(
                    "part {}: $ docker {command}\n--- output (exit {}) ---\n{}---",
                    i + 1,
                    outcome.code,
                    outcome.output
                );
                for f in &failures {
                    eprintln!("  ✗ {f}");
                }
                bail!("lesson {} failed at part {}", lesson.id, i + 1);
            }
            checked += section.check.len();
        }
        let mut skip_note = if skipped > 0 {
            format!(", {skipped} real-only part(s) skipped")
        } else {
            String::new()
        };
        if missing_images > 0 {
            skip_note.push_str(&format!(
                ", {missing_images} part(s) skipped for a missing image"
            ));
        }
        println!(
            "lesson {} {}: ok ({checked} checks{skip_note})",
            lesson.id, lesson.slug
        );
    }
    Ok(())
}
