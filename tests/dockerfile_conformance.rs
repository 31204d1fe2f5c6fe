//! BuildKit's own Dockerfile parser and shell-lexer cases
//! (../shared/conformance/dockerfile, from moby/buildkit at 73ed6825),
//! run against glassbox's parser and expander: every positive case's AST
//! dump, every negative case's failure, every expansion case of envVarTest
//! (the Unix and all-platform ones, as BuildKit's test does on Linux) and
//! every word-splitting case of wordsTest. Plus the CLI's
//! `dockerfile parse` printing the same dump.

use glassbox::build::expand::{env_from_pairs, Lex};
use glassbox::build::parser;
use std::path::PathBuf;
use std::process::Command;

/// `../shared/conformance/dockerfile` next to the checkout (a worktree one
/// level deeper finds it further up). Missing data fails: no silent skip.
fn cases() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/conformance/dockerfile"))
        .find(|p| p.is_dir())
        .expect("../shared/conformance/dockerfile (BuildKit's cases) not found")
}

fn dirs(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cases().join(sub))
        .unwrap_or_else(|e| panic!("{}: {e}", cases().join(sub).display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn positive_cases_dump_as_buildkit() {
    let dirs = dirs("testfiles");
    let mut failed = Vec::new();
    for d in &dirs {
        let text = std::fs::read_to_string(d.join("Dockerfile")).unwrap();
        let want = std::fs::read_to_string(d.join("result")).unwrap();
        match parser::parse(&text) {
            Ok(ast) if ast.dump() == want => {}
            Ok(ast) => failed.push(format!(
                "{}:\n--- want\n{want}--- got\n{}",
                d.display(),
                ast.dump()
            )),
            Err(e) => failed.push(format!("{}: {e}", d.display())),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed:\n{}",
        failed.len(),
        dirs.len(),
        failed.join("\n")
    );
    assert_eq!(dirs.len(), 33, "BuildKit's 33 positive cases");
}

#[test]
fn negative_cases_fail() {
    let dirs = dirs("testfiles-negative");
    for d in &dirs {
        let text = std::fs::read_to_string(d.join("Dockerfile")).unwrap();
        let r = parser::parse(&text);
        assert!(
            r.is_err(),
            "{} parsed: {:?}",
            d.display(),
            r.map(|a| a.dump())
        );
    }
    assert_eq!(dirs.len(), 4, "BuildKit's 4 negative cases");
}

#[test]
fn expansion_cases() {
    let text = std::fs::read_to_string(cases().join("envVarTest")).unwrap();
    let env = env_from_pairs(&["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]);
    let lex = Lex::new('\\');
    let (mut run, mut failed) = (0, Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(parts.len(), 3, "line {}: {line}", n + 1);
        let (platform, source, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        assert!(matches!(platform, "A" | "U" | "W"), "line {}", n + 1);
        if platform == "W" {
            continue;
        }
        run += 1;
        let got = lex.process_word(source, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(w), e) => e != "error" && w == e,
            _ => false,
        };
        if !ok {
            failed.push(format!(
                "line {}: {source:?} → {got:?}, want {expected:?}",
                n + 1
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {run} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    // 230 cases in the file: 228 for Unix and all platforms, 2 Windows-only.
    assert_eq!(run, 228);
}

#[test]
fn word_splitting_cases() {
    let text = std::fs::read_to_string(cases().join("wordsTest")).unwrap();
    let lex = Lex::new('\\');
    let mut envs: Vec<String> = Vec::new();
    let (mut run, mut failed) = (0, Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            envs.push(rest.trim_start_matches(' ').to_string());
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 2, "line {}: {line}", n + 1);
        let test = parts[0].trim();
        let expected: Vec<&str> = parts[1].trim_start_matches(' ').split(',').collect();
        run += 1;
        let got = lex
            .process_words(test, &env_from_pairs(&envs))
            .unwrap_or_else(|_| vec!["error".into()]);
        if got != expected {
            failed.push(format!(
                "line {}: {test:?} → {got:?}, want {expected:?}",
                n + 1
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {run} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_eq!(run, 24);
}

#[test]
fn cli_prints_the_dump_and_names_the_bad_line() {
    let d = cases().join("testfiles/lk4d4-the-edge-case-generator");
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["dockerfile", "parse"])
        .arg(d.join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(d.join("result")).unwrap()
    );

    let t = tempfile::tempdir().unwrap();
    let bad = t.path().join("Dockerfile");
    std::fs::write(&bad, "FROM busybox\n\nENV PATH\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["dockerfile", "parse"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dockerfile parse error on line 3: ENV must have two arguments"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // --check also reads each instruction as a build would.
    std::fs::write(&bad, "FROM busybox\nRUN echo hi\nCOPY --chown=1 a\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["dockerfile", "parse", "--check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dockerfile parse error on line 3: COPY requires at least two arguments"),
        "{err}"
    );
}
