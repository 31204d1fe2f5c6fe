//! The books (English in `book/en`, Chinese in `book/zh`): each lesson chapter
//! is generated from its lesson file, with the real output of every command
//! from a simulated run (the simulator's clock and ids are fixed, so a
//! regenerated chapter says the same). `glassbox learn --write-book book`
//! writes them; tests/learn.rs checks they are current and build with mdBook.

use super::catalog;
use super::model::Lesson;
use super::runner::Runner;
use crate::step::Lang;
use anyhow::Result;
use std::path::Path;

/// Where the books say the storage root is (the run's own is a temp dir).
const SHOWN_ROOT: &str = "/var/lib/glassbox";

/// Escape `<`, `>` and `&` in prose for mdBook's HTML, leaving `code spans` alone.
pub fn escape_prose(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push_str(
                &part
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;"),
            );
        }
    }
    out
}

/// A fenced block that no line of `body` can close.
fn fenced(lang: &str, body: &str) -> String {
    let fence = if body.contains("```") { "````" } else { "```" };
    format!("{fence}{lang}\n{}\n{fence}\n\n", body.trim_end())
}

/// One lesson as a chapter in one language, running each command on the
/// simulated kernel under `runner`'s (fresh) root to show its output.
pub fn chapter(lesson: &Lesson, lang: Lang, runner: &Runner) -> Result<String> {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    let n: u32 = lesson.id.parse().unwrap_or(0);
    let mut out = match lang {
        Lang::Zh => format!("# 第 {n} 课 · {}\n\n", lesson.title.zh),
        _ => format!("# Lesson {} · {}\n\n", lesson.id, lesson.title.en),
    };
    out.push_str(&l(
        &format!(
            "*Generated from `lessons/{}-{}.toml`, with each command's output from a simulated run; take it interactively with `glassbox learn {}`.*\n\n",
            lesson.id, lesson.slug, n
        ),
        &format!(
            "*本章由 `lessons/{}-{}.toml` 生成，每条命令的输出都来自一次模拟运行；交互式学习请运行 `glassbox --lang zh learn {}`。*\n\n",
            lesson.id, lesson.slug, n
        ),
    ));
    let root = runner.root.display().to_string();
    for (i, s) in lesson.section.iter().enumerate() {
        out.push_str(&format!(
            "## {}\n\n{}\n\n",
            i + 1,
            escape_prose(s.text.get(lang).trim())
        ));
        for f in &s.files {
            out.push_str(&file_block(f, lang));
        }
        if let Some(dir) = &runner.workdir {
            super::files::write(dir, &s.files, lang)?;
        }
        if let Some(cmd) = &s.command {
            let opts = if s.options.is_empty() {
                String::new()
            } else {
                format!("{} ", s.options.join(" "))
            };
            let line = if cmd.starts_with("curl ") {
                format!("$ {cmd}")
            } else {
                format!("$ glassbox {opts}{cmd}")
            };
            if s.real_only {
                out.push_str(&fenced("console", &line));
                out.push_str(&l(
                    "*(needs the real kernel: run it as root to see its output)*\n\n",
                    "*（需要真实内核：以 root 运行才能看到输出）*\n\n",
                ));
            } else if s.image.is_some() && !runner.simulate {
                out.push_str(&fenced("console", &line));
                out.push_str(&l(
                    "*(needs an image pulled from a registry; not run for the book)*\n\n",
                    "*（需要从仓库拉取的镜像；生成本书时没有运行）*\n\n",
                ));
            } else {
                let o = runner.run(cmd, &s.options, s.input.as_deref(), true, false)?;
                let output = strip_ansi(&o.output).replace(&root, SHOWN_ROOT);
                out.push_str(&fenced("console", &format!("{line}\n{output}")));
            }
        }
        if let Some(notice) = &s.notice {
            out.push_str(&format!(
                "> {}\n\n",
                escape_prose(notice.get(lang).trim()).replace('\n', "\n> ")
            ));
        }
    }
    Ok(out)
}

/// A file the part writes, as the chapter shows it.
fn file_block(f: &super::model::LessonFile, lang: Lang) -> String {
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    match &f.text {
        Some(text) => {
            let kind = if name.contains("Dockerfile") {
                "dockerfile"
            } else if name.ends_with(".sh") {
                "sh"
            } else if name.ends_with(".html") {
                "html"
            } else {
                "text"
            };
            format!(
                "{}\n\n{}",
                lang.pick(&format!("`{}`:", f.path), &format!("`{}`：", f.path)),
                fenced(kind, text)
            )
        }
        None => format!(
            "`{}`{} {}\n\n{}",
            f.path,
            lang.pick(":", "："),
            escape_prose(&super::files::program_note(lang)),
            fenced("c", crate::programs::hello::C_SOURCE)
        ),
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The command index: each docker command the tutorials use → the lesson
/// parts that teach it, linked to their chapters.
pub fn command_index(lessons: &[Lesson], lang: Lang) -> String {
    let mut out = lang
        .pick(
            "# Command index\n\nEvery docker command the tutorials use, and the lessons whose parts (numbered in brackets) run it and check what it did. Parts marked † need the real kernel.\n\n| command | taught in |\n| --- | --- |\n",
            "# 命令索引\n\n教程用到的每一条 docker 命令，以及运行它并检查其结果的课程（括号里是小节编号）。标 † 的小节需要真实内核。\n\n| 命令 | 在哪里学 |\n| --- | --- |\n",
        )
        .to_string();
    let taught = super::coverage::taught(lessons);
    for command in super::coverage::TUTORIAL_COMMANDS {
        // One link per lesson, with the parts that teach the command in it.
        let mut links: Vec<String> = Vec::new();
        for lesson in lessons {
            let parts: Vec<String> = taught[command]
                .iter()
                .filter(|t| t.lesson == lesson.id)
                .map(|t| format!("{}{}", t.part, if t.real_only { "†" } else { "" }))
                .collect();
            if !parts.is_empty() {
                links.push(format!(
                    "[{}](lessons/{}) ({})",
                    lesson.id,
                    chapter_file(lesson),
                    parts.join(", ")
                ));
            }
        }
        let links = if links.is_empty() {
            lang.pick("(not yet taught)", "（尚未讲到）").to_string()
        } else {
            links.join(", ")
        };
        out.push_str(&format!("| `{command}` | {links} |\n"));
    }
    out
}

pub fn chapter_file(lesson: &Lesson) -> String {
    format!("{}-{}.md", lesson.id, lesson.slug)
}

/// Write every lesson chapter of both books under `book` (book/en/src/lessons,
/// book/zh/src/lessons), each language from a fresh simulated store.
pub fn write_all(book: &Path) -> Result<()> {
    for (lang, dir) in [(Lang::En, "en"), (Lang::Zh, "zh")] {
        let out = book.join(dir).join("src/lessons");
        std::fs::create_dir_all(&out)?;
        let store =
            std::env::temp_dir().join(format!("glassbox-book-{}-{dir}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        let mut runner = Runner::new(&store, true, lang)?;
        // 2026-01-01T00:00:00Z, one simulated second per command: the book
        // shows time passing (ticks, ages) and repeats exactly.
        runner.sim_clock = Some("1767225600+1".into());
        // Files the lessons write (`save -o`) go to a scratch directory, removed after.
        let scratch = store.with_extension("cwd");
        std::fs::create_dir_all(&scratch)?;
        runner.workdir = Some(scratch.clone());
        let written = (|| -> Result<()> {
            let lessons = catalog::lessons()?;
            std::fs::write(
                book.join(dir).join("src/commands.md"),
                command_index(&lessons, lang),
            )?;
            for lesson in lessons {
                let (lesson, _registry) = super::lessons::with_registry(&runner, lesson)?;
                std::fs::write(
                    out.join(chapter_file(&lesson)),
                    chapter(&lesson, lang, &runner)?,
                )?;
            }
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&store);
        let _ = std::fs::remove_dir_all(&scratch);
        written?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_escaped_outside_code() {
        assert_eq!(
            escape_prose("shown as <none> under `<root>/layers`"),
            "shown as &lt;none&gt; under `<root>/layers`"
        );
    }
}
