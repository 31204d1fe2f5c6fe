//! Taking a lesson: interactively (`glassbox learn N`), or all of them
//! unattended (`glassbox learn --run-all`), which is how tests and CI cover them.

use super::catalog;
use super::model::{Lesson, Section};
use super::progress::Progress;
use super::runner::{Outcome, Runner};
use crate::step::Lang;
use anyhow::{bail, Result};
use colored::Colorize;
use std::io::{BufRead, IsTerminal, Write};

/// Reads the learner's answers: a line editor on a terminal, plain lines otherwise.
pub struct Prompter {
    editor: Option<rustyline::DefaultEditor>,
}

impl Prompter {
    pub fn new() -> Prompter {
        let editor = if std::io::stdin().is_terminal() {
            rustyline::DefaultEditor::new().ok()
        } else {
            None
        };
        Prompter { editor }
    }
    /// Ask with `initial` already typed; None at end of input.
    pub fn ask(&mut self, prompt: &str, initial: &str) -> Option<String> {
        match &mut self.editor {
            Some(ed) => ed.readline_with_initial(prompt, (initial, "")).ok(),
            None => {
                print!("{prompt}");
                let _ = std::io::stdout().flush();
                let mut line = String::new();
                match std::io::stdin().lock().read_line(&mut line) {
                    Ok(0) | Err(_) => None,
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
                        Some(taken)
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

pub fn heading(lesson: &Lesson, lang: Lang) -> String {
    let word = lang.pick("Lesson", "第");
    let suffix = lang.pick("", " 课");
    format!(
        "━━ {word} {}{suffix} · {} ━━",
        lesson.id,
        lesson.title.get(lang)
    )
}

/// Make sure a section's image is here, pulling it if need be. Err holds what
/// to tell the learner when it cannot be had (no network and no mirror).
pub fn ensure_image(runner: &Runner, image: &str) -> std::result::Result<(), String> {
    let here = |r: &Runner| {
        crate::image::Store::open(&r.root)
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
    let pulled = if std::env::var_os("GLASSBOX_OFFLINE").is_some() && !mirrored {
        Err(anyhow::anyhow!(
            "offline, and no registry mirror is configured"
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
            "This part needs the {image} image, which is not here and could not be pulled ({why}).\n  Offline, build it and serve it from a local registry:\n    scripts/fixtures --debian && scripts/registry start 5000 && scripts/fixtures --seed-registry 127.0.0.1:5000\n  then put  registry_mirrors = [\"http://127.0.0.1:5000\"]  in {}/config.toml (or /etc/glassbox/config.toml).",
            runner.root.display()
        ),
        &format!(
            "这一部分需要 {image} 镜像，本机没有，也拉取不到（{why}）。\n  离线时，可以先构建它并用本地仓库提供：\n    scripts/fixtures --debian && scripts/registry start 5000 && scripts/fixtures --seed-registry 127.0.0.1:5000\n  然后在 {}/config.toml（或 /etc/glassbox/config.toml）里写上  registry_mirrors = [\"http://127.0.0.1:5000\"]  （这就是教程里的\"镜像加速器\"）。",
            runner.root.display()
        ),
    ).to_string())
}

/// Whether a section's command needs the learner's terminal.
fn needs_terminal(section: &Section, options: &[String]) -> bool {
    section.interactive || options.iter().any(|o| o == "--step")
}

/// Run a section's checks; returns the failures.
pub fn failed_checks(
    runner: &Runner,
    section: &Section,
    outcome: &Outcome,
    captured: bool,
) -> Vec<String> {
    section
        .check
        .iter()
        .filter(|c| {
            captured
                || !matches!(
                    c,
                    super::Check::OutputContains { .. } | super::Check::OutputLacks { .. }
                )
        })
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
        let total = lesson.section.len();
        let mark = if done >= total {
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

/// Take one lesson interactively, resuming where the learner stopped.
pub fn take(runner: &Runner, key: &str, extra_options: &[String], restart: bool) -> Result<()> {
    let lang = runner.lang;
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
    println!("{}", heading(&lesson, lang).bold());
    if start > 0 {
        println!(
            "{}",
            lang.pick(
                &format!("(resuming at part {}; --restart starts over)", start + 1),
                &format!("（从第 {} 部分继续；--restart 从头开始）", start + 1)
            )
        );
    }
    let mut prompter = Prompter::new();
    let total = lesson.section.len();
    for (i, section) in lesson.section.iter().enumerate().skip(start) {
        println!(
            "\n{} {}",
            format!("[{}/{total}]", i + 1).cyan(),
            section.text.get(lang).trim()
        );
        if let Some(command) = &section.command {
            if section.real_only && runner.simulate {
                println!(
                    "{}",
                    lang.pick(
                        "  (this part needs the real kernel; skipped in simulation)",
                        "  （这一部分需要真实内核；模拟模式下跳过）"
                    )
                    .dimmed()
                );
            } else if let Some(Err(message)) =
                section.image.as_deref().map(|i| ensure_image(runner, i))
            {
                println!("  {}", message.yellow());
            } else {
                let hint = lang.pick(
                    "  Enter runs it; edit it first if you like; q quits.",
                    "  回车执行；也可以先修改；q 退出。",
                );
                println!("{}", hint.dimmed());
                let Some(line) = prompter.ask("  $ ", &format!("docker {command}")) else {
                    break;
                };
                if line.trim() == "q" {
                    break;
                }
                let options: Vec<String> = section
                    .options
                    .iter()
                    .chain(extra_options)
                    .cloned()
                    .collect();
                let terminal = needs_terminal(section, &options);
                let outcome = runner.run(&line, &options, None, !terminal, true)?;
                let failures = if line.trim() == format!("docker {command}")
                    || line.trim() == command.as_str()
                {
                    failed_checks(runner, section, &outcome, !terminal)
                } else {
                    vec![] // the learner changed the command: no checks to hold it to
                };
                for f in &failures {
                    println!("  {} {f}", "✗".red());
                }
                if failures.is_empty() && !section.check.is_empty() {
                    println!(
                        "  {} {}",
                        "✓".green(),
                        lang.pick("that happened as expected", "一切如预期发生")
                    );
                }
            }
        }
        if let Some(notice) = &section.notice {
            println!(
                "  {} {}",
                lang.pick("Notice:", "注意：").yellow(),
                notice.get(lang).trim()
            );
        }
        progress.lessons.insert(lesson.id.clone(), i + 1);
        progress.save()?;
        if i + 1 < total && section.command.is_none() {
            if prompter
                .ask(lang.pick("  (Enter to go on) ", "  （回车继续）"), "")
                .is_none()
            {
                break;
            }
        }
    }
    Ok(())
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
        let mut checked = 0;
        let mut skipped = 0;
        let mut missing_images = 0;
        for (i, section) in lesson.section.iter().enumerate() {
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
            let failures = failed_checks(runner, section, &outcome, true);
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
