//! `.dockerignore`, read as docker reads it (moby/patternmatcher): one
//! pattern a line, `#` comments, `!` re-includes, patterns cleaned and
//! anchored at the context root; `*` and `?` stay within one path element,
//! `**` spans any number of them, `[...]` and `\` escapes as Go's
//! filepath.Match. The last pattern that matches a path (or one of its
//! parent directories) decides.

use anyhow::{Context, Result};
use regex::Regex;

#[derive(Debug, Default)]
pub struct Ignore {
    patterns: Vec<(Regex, bool)>,
}

impl Ignore {
    /// Read the `.dockerignore` text.
    pub fn parse(text: &str) -> Result<Ignore> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            let re = Regex::new(&to_regex(&pat))
                .with_context(|| format!("invalid .dockerignore pattern {line:?}"))?;
            patterns.push((re, exclusion));
        }
        Ok(Ignore { patterns })
    }

    /// Whether the context-relative path `rel` (no leading `/`) is left out.
    pub fn excludes(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        let mut excluded = false;
        for (re, exclusion) in &self.patterns {
            // The path itself or one of its parents.
            let mut hit = re.is_match(rel);
            if !hit {
                let mut prefix = String::new();
                for part in rel.split('/') {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(part);
                    if prefix.len() < rel.len() && re.is_match(&prefix) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                excluded = !exclusion;
            }
        }
        excluded
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Go's filepath.Clean, then without a leading `/` (patterns are anchored
/// at the context root either way).
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// patternmatcher's regexp for one pattern.
fn to_regex(pat: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pat.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                // `**/` also matches nothing; a trailing `**` anything.
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                    re.push_str("(.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                // A character class, copied (Go's `^` negation as regex's).
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'^') || chars.get(j) == Some(&'!') {
                    class.push('^');
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' && j + 1 < chars.len() {
                        j += 1;
                    }
                    class.push_str(&regex::escape(&chars[j].to_string()));
                    j += 1;
                }
                class.push(']');
                if j < chars.len() {
                    re.push_str(&class);
                    i = j;
                } else {
                    re.push_str(&regex::escape("["));
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_dockers_patternmatcher() {
        let ig = Ignore::parse("# comment\n*.log\n!keep.log\nbuild/\n**/tmp\n/secret?\n").unwrap();
        assert!(ig.excludes("a.log"));
        assert!(!ig.excludes("keep.log"));
        assert!(!ig.excludes("dir/a.log"), "* stays in one element");
        assert!(ig.excludes("build"));
        assert!(ig.excludes("build/x/y"), "a parent directory matched");
        assert!(ig.excludes("tmp") && ig.excludes("a/b/tmp") && ig.excludes("a/tmp/f"));
        assert!(ig.excludes("secret1"));
        assert!(!ig.excludes("secret12"));
        assert!(!ig.excludes("src/main.c"));
        let all = Ignore::parse("*\n!Dockerfile\n!src\n").unwrap();
        assert!(all.excludes("x"));
        assert!(!all.excludes("Dockerfile"));
        assert!(!all.excludes("src/a"));
    }
}
