//! Tab completion in the REPL: commands, their flags (read from the clap
//! definition, so they never drift), container and image names, lesson ids.

use clap::CommandFactory;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::path::PathBuf;

pub struct ReplHelper {
    pub root: PathBuf,
}

const REPL_WORDS: &[&str] = &[
    ":step", ":explain", ":lang", ":why", ":look", ":diagram", "help", "exit", "learn", "lab",
];

impl ReplHelper {
    fn commands() -> Vec<String> {
        let cli = crate::cli::Cli::command();
        cli.get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect()
    }

    fn flags(command: &str) -> Vec<String> {
        let cli = crate::cli::Cli::command();
        let mut out: Vec<String> = cli
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        if let Some(sub) = cli.find_subcommand(command) {
            for a in sub.get_arguments() {
                if let Some(l) = a.get_long() {
                    out.push(format!("--{l}"));
                }
                if let Some(s) = a.get_short() {
                    out.push(format!("-{s}"));
                }
            }
        }
        out
    }

    fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = crate::container::list(&self.root)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect();
        if let Ok(store) = crate::image::Store::open(&self.root) {
            for img in store.list().unwrap_or_default() {
                if img.repository != "<none>" {
                    out.push(format!("{}:{}", img.repository, img.tag));
                    out.push(img.repository);
                }
            }
        }
        out
    }

    /// Candidates for the word being typed, given the words before it.
    pub fn candidates(&self, before: &[&str], word: &str) -> Vec<String> {
        let before: Vec<&str> = before
            .iter()
            .copied()
            .filter(|w| *w != "docker" && *w != "glassbox")
            .collect();
        let pool: Vec<String> = match before.first() {
            None => Self::commands()
                .into_iter()
                .chain(REPL_WORDS.iter().map(|s| s.to_string()))
                .collect(),
            Some(&":step") => vec!["on".into(), "off".into()],
            Some(&":explain") => ["quiet", "summary", "steps", "deep"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(&":lang") => vec!["en".into(), "zh".into()],
            Some(&"learn") => crate::learn::catalog::lessons()
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.id)
                .collect(),
            Some(&"lab") if before.len() == 1 => ["list", "start", "check", "hint", "reset"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(&"lab") => crate::learn::catalog::labs()
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.id)
                .collect(),
            Some(cmd) if word.starts_with('-') => Self::flags(cmd),
            Some(_) => self.names(),
        };
        let mut found: Vec<String> = pool.into_iter().filter(|c| c.starts_with(word)).collect();
        found.sort();
        found.dedup();
        found
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
        let before: Vec<&str> = head[..start].split_whitespace().collect();
        let found = self.candidates(&before, &head[start..]);
        Ok((
            start,
            found
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_commands_flags_and_lessons() {
        let h = ReplHelper {
            root: std::env::temp_dir().join("glassbox-complete-test-none"),
        };
        assert!(h.candidates(&[], "r").contains(&"run".to_string()));
        assert!(h.candidates(&["docker"], "ps").contains(&"ps".to_string()));
        assert!(h
            .candidates(&["run"], "--h")
            .contains(&"--hostname".to_string()));
        assert!(h.candidates(&["learn"], "0").contains(&"01".to_string()));
        assert_eq!(h.candidates(&[":lang"], "z"), vec!["zh".to_string()]);
    }
}
