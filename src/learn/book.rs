//! The book's lesson chapters, generated from the lesson files so the two
//! never drift (a test compares them with `book/src/lessons/`).

use super::catalog;
use super::model::Lesson;
use crate::step::Lang;
use anyhow::Result;
use std::path::Path;

fn render_lang(lesson: &Lesson, lang: Lang, out: &mut String) {
    for (i, s) in lesson.section.iter().enumerate() {
        out.push_str(&format!(
            "### {}. \n\n{}\n\n",
            i + 1,
            s.text.get(lang).trim()
        ));
        if let Some(cmd) = &s.command {
            let opts = if s.options.is_empty() {
                String::new()
            } else {
                format!("{} ", s.options.join(" "))
            };
            out.push_str(&format!("```console\n$ glassbox {opts}{cmd}\n```\n\n"));
            if s.real_only {
                out.push_str(lang.pick(
                    "*(needs the real kernel: run as root)*\n\n",
                    "*（需要真实内核：以 root 运行）*\n\n",
                ));
            }
        }
        if let Some(n) = &s.notice {
            out.push_str(&format!(
                "> {}\n\n",
                n.get(lang).trim().replace('\n', "\n> ")
            ));
        }
    }
}

/// One lesson as a Markdown chapter: English, then Chinese.
pub fn chapter(lesson: &Lesson) -> String {
    let mut out = format!("# {} · {}\n\n", lesson.id, lesson.title.en);
    out.push_str(&format!(
        "*Follows: {}. Kernel steps shown: {}.*\n\n*This chapter is generated from `lessons/{}-{}.toml`; take it interactively with `glassbox learn {}`.*\n\n",
        lesson.follows.join("; "),
        lesson.shows.join(", "),
        lesson.id,
        lesson.slug,
        lesson.id
    ));
    render_lang(lesson, Lang::En, &mut out);
    out.push_str(&format!("## 中文 · {}\n\n", lesson.title.zh));
    render_lang(lesson, Lang::Zh, &mut out);
    out
}

pub fn chapter_file(lesson: &Lesson) -> String {
    format!("{}-{}.md", lesson.id, lesson.slug)
}

/// Write every lesson chapter into `dir` (book/src/lessons).
pub fn write_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for lesson in catalog::lessons()? {
        std::fs::write(dir.join(chapter_file(&lesson)), chapter(&lesson))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book must show exactly what the lessons teach. To refresh it:
    /// `glassbox learn --write-book book/src/lessons`.
    #[test]
    fn book_chapters_match_the_lesson_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/lessons");
        let summary = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/SUMMARY.md"),
        )
        .unwrap();
        for lesson in catalog::lessons().unwrap() {
            let file = chapter_file(&lesson);
            let on_disk = std::fs::read_to_string(dir.join(&file))
                .unwrap_or_else(|_| panic!("book/src/lessons/{file} is missing: run glassbox learn --write-book book/src/lessons"));
            assert_eq!(
                on_disk,
                chapter(&lesson),
                "book/src/lessons/{file} differs from its lesson file: regenerate it"
            );
            assert!(
                summary.contains(&format!("lessons/{file}")),
                "SUMMARY.md does not list {file}"
            );
        }
    }
}
