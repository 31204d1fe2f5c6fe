//! Files a lesson part writes before its command: the build contexts of
//! lesson 07 (Dockerfiles, a script, a page, the static hello). They go
//! under the working directory (the learner's, or the scratch one of an
//! unattended run), each shown in full, so the learner sees exactly what
//! `build` reads and can edit it and build again.

use super::model::LessonFile;
use crate::programs::hello as static_hello;
use crate::step::Lang;
use anyhow::{bail, Context, Result};
use std::path::{Component, Path};

/// The one program lessons may ask for.
const STATIC_HELLO: &str = "static-hello";

/// Refuse what a lesson file must not say: a path leaving the working
/// directory, no content or two, an unknown program, a bad mode.
pub fn validate(f: &LessonFile) -> Result<()> {
    let p = Path::new(&f.path);
    if f.path.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!(
            "lesson file path {:?} must be relative, without `..`",
            f.path
        );
    }
    match (&f.text, &f.program) {
        // A line `EOF` would end the here-document `show` prints early.
        (Some(text), None) if text.lines().any(|l| l.trim() == "EOF") => {
            bail!(
                "lesson file {}: a line EOF cannot be shown as a here-document",
                f.path
            )
        }
        (Some(_), None) => {}
        (None, Some(name)) if name == STATIC_HELLO => {}
        (None, Some(name)) => bail!("lesson file {}: unknown program {name:?}", f.path),
        _ => bail!(
            "lesson file {}: give exactly one of text or program",
            f.path
        ),
    }
    mode(f)?;
    Ok(())
}

fn mode(f: &LessonFile) -> Result<u32> {
    match &f.mode {
        Some(m) => u32::from_str_radix(m, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .with_context(|| format!("lesson file {}: mode {m:?} is not octal bits", f.path)),
        None if f.program.is_some() => Ok(0o755),
        None => Ok(0o644),
    }
}

/// Write the files under `dir`, making their directories; an existing file
/// is replaced (the lesson's own directory holds them).
pub fn write(dir: &Path, files: &[LessonFile], lang: Lang) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        validate(f)?;
        let bytes = match (&f.text, &f.program) {
            (Some(text), _) => text.clone().into_bytes(),
            _ => static_hello::program().with_context(|| {
                lang.pick(
                    &format!(
                        "glassbox carries a ready static hello only for x86-64; compile your own into {}: gcc -static -o {} hello.c (hello.c: {})",
                        f.path, f.path, static_hello::C_SOURCE.trim().replace('\n', " ")
                    ),
                    &format!(
                        "glassbox 只为 x86-64 带了现成的静态 hello；请自己编译一个放到 {}：gcc -static -o {} hello.c（hello.c：{}）",
                        f.path, f.path, static_hello::C_SOURCE.trim().replace('\n', " ")
                    ),
                )
                .to_string()
            })?,
        };
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("make the directory {}", parent.display()))?;
        }
        // Replace, not truncate: a file the learner made read-only or a
        // running program's file is swapped whole.
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &bytes).with_context(|| format!("write {}", tmp.display()))?;
        // A pinned clock (GLASSBOX_SIM_CLOCK, the book's) dates them at its
        // start, so its runs build the same layers and image ids every time.
        let ms = crate::clock::pinned_from_env()
            .map(|(base, _)| base)
            .unwrap_or_else(crate::clock::now_ms);
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .and_then(|f| f.set_modified(now))
            .with_context(|| format!("date {}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode(f)?))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// What a program file is, in a sentence (its bytes are not shown).
pub fn program_note(lang: Lang) -> String {
    let size = static_hello::program().map(|p| p.len()).unwrap_or(0);
    lang.pick(
        &format!(
            "a static x86-64 program of {size} bytes that glassbox assembles: two system calls, write(1, \"Hello from glassbox!\\n\", 21) and exit(0); no libc, no loader. It stands for this C, which `gcc -static -o hello hello.c` compiles into the same kind of file:"
        ),
        &format!(
            "glassbox 拼出来的一个 {size} 字节的 x86-64 静态程序：只做两个系统调用，write(1, \"Hello from glassbox!\\n\", 21) 和 exit(0)；不需要 libc，也不需要动态加载器。它相当于下面这段 C 代码，`gcc -static -o hello hello.c` 编译出来的也是同一类文件："
        ),
    )
    .to_string()
}

/// The files as the terminal shows them before the command: each as the
/// shell command that writes the same file (a here-document), so the
/// learner sees every byte `build` will read and could type it themselves.
pub fn show(files: &[LessonFile], lang: Lang) -> String {
    let mut out = String::new();
    for f in files {
        let dir = Path::new(&f.path)
            .parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty());
        let mkdir = dir.map(|d| format!("mkdir -p {d} && ")).unwrap_or_default();
        match &f.text {
            Some(text) => {
                out.push_str(&lang.pick(
                    &format!(
                        "  glassbox writes {}, as this shell command would:\n",
                        f.path
                    ),
                    &format!("  glassbox 写入 {}，等同于这条 shell 命令：\n", f.path),
                ));
                out.push_str(&format!("  $ {mkdir}cat > {} <<'EOF'\n", f.path));
                // Unindented, so that pasted into a shell it writes the same bytes.
                for line in text.lines() {
                    out.push_str(&format!("{line}\n"));
                }
                out.push_str("EOF\n");
                let m = mode(f).unwrap_or(0o644);
                if m != 0o644 {
                    out.push_str(&format!("  $ chmod {m:o} {}\n", f.path));
                }
            }
            None => {
                out.push_str(&format!(
                    "  {} {}\n",
                    lang.pick(
                        &format!("glassbox writes {}:", f.path),
                        &format!("glassbox 写入 {}：", f.path)
                    ),
                    program_note(lang)
                ));
                for line in static_hello::C_SOURCE.lines() {
                    out.push_str(&format!("  │ {line}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: Option<&str>, program: Option<&str>) -> LessonFile {
        LessonFile {
            path: path.into(),
            text: text.map(String::from),
            program: program.map(String::from),
            mode: None,
        }
    }

    #[test]
    fn paths_that_leave_the_directory_and_unknown_contents_are_refused() {
        assert!(validate(&file("ctx/Dockerfile", Some("FROM scratch\n"), None)).is_ok());
        assert!(validate(&file("ctx/hello", None, Some("static-hello"))).is_ok());
        for bad in ["/etc/passwd", "../x", "ctx/../../x", ""] {
            assert!(validate(&file(bad, Some("x"), None)).is_err(), "{bad}");
        }
        assert!(validate(&file("x", None, Some("cowsay"))).is_err());
        assert!(validate(&file("x", None, None)).is_err());
        assert!(validate(&file("x", Some("a"), Some("static-hello"))).is_err());
        let mut f = file("x", Some("a"), None);
        f.mode = Some("9".into());
        assert!(validate(&f).is_err());
    }

    #[test]
    fn files_are_written_with_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut script = file("ctx/run.sh", Some("#!/bin/sh\necho hi\n"), None);
        script.mode = Some("755".into());
        write(
            dir.path(),
            &[file("ctx/Dockerfile", Some("FROM busybox\n"), None), script],
            Lang::En,
        )
        .unwrap();
        let df = dir.path().join("ctx/Dockerfile");
        assert_eq!(std::fs::read_to_string(&df).unwrap(), "FROM busybox\n");
        assert_eq!(df.metadata().unwrap().permissions().mode() & 0o777, 0o644);
        let sh = dir.path().join("ctx/run.sh");
        assert_eq!(sh.metadata().unwrap().permissions().mode() & 0o777, 0o755);
        // Written again with new text: replaced.
        write(
            dir.path(),
            &[file("ctx/Dockerfile", Some("FROM scratch\n"), None)],
            Lang::En,
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&df).unwrap(), "FROM scratch\n");
    }
}
