//! Variable expansion and word splitting as BuildKit's shell lexer does it
//! (moby/buildkit `frontend/dockerfile/shell/lex.go`): quotes, escapes,
//! `$VAR`, `${VAR}`, `${VAR:-d}` `${VAR-d}` `${VAR:+a}` `${VAR+a}`
//! `${VAR?e}` `${VAR:?e}`, `${VAR#p}` `${VAR##p}` `${VAR%p}` `${VAR%%p}`,
//! `${VAR/p/r}` `${VAR//p/r}`, and the heredoc marker `<<`.
//!
//! The code follows lex.go's structure on purpose, quirks included (one
//! word buffer shared by nested `${...}` words, as in Go), so a Dockerfile
//! expands here exactly as it does under `docker build`. It runs over the
//! string only: nothing is executed.

use regex::Regex;
use std::collections::HashMap;

/// Where `$NAME` values come from.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// An environment from `KEY=VALUE` strings (a later key wins), as BuildKit's
/// `EnvsFromSlice`; a string without `=` sets the key to "".
pub fn env_from_pairs<S: AsRef<str>>(pairs: &[S]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p.as_ref().split_once('=').unwrap_or((p.as_ref(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// No variables at all (what the parser uses to find heredoc words).
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// The lexer's options, BuildKit's `shell.Lex`.
#[derive(Clone, Debug)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave `$UNSET` and `${UNSET...}` as written.
    pub skip_unset_env: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Expand `word` into one string (quotes removed, inner spaces kept):
    /// what BuildKit does to ENV, LABEL, COPY, WORKDIR, USER... arguments.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, String> {
        self.process(word, env).map(|(w, _)| w)
    }

    /// Expand `word` and split it into words at unquoted whitespace (after
    /// expansion, so `$VAR` holding spaces gives several words).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, String> {
        self.process(word, env).map(|(_, ws)| ws)
    }

    fn process(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), String> {
        let mut chars: Vec<char> = word.chars().collect();
        // text/scanner skips a byte order mark at the very start.
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        let mut sw = ShellWord {
            lex: self,
            env,
            chars,
            pos: 0,
            raw_escapes: self.raw_escapes,
            words_buffer: String::new(),
        };
        let raw = sw.raw_escapes;
        sw.process_stop_on(None, raw)
            .map_err(|e| format!("failed to process {}: {e}", go_quote(word)))
    }
}

struct ShellWord<'a> {
    lex: &'a Lex,
    env: &'a dyn Env,
    chars: Vec<char>,
    pos: usize,
    raw_escapes: bool,
    /// Shared by every (nested) call, as Go's `sw.wordsBuffer` is.
    words_buffer: String,
}

/// The words being split off: Go's `wordsStruct`, its buffer held by the
/// `ShellWord` and passed in.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(buf, ch);
        }
    }
    fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, buf: &mut String, s: &str) {
        for ch in s.chars() {
            self.add_char(buf, ch);
        }
    }
    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }
    fn get_words(mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
        }
        self.words
    }
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Process until `stop` (consumed) or the end; returns the word and
    /// the split words.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.words_buffer.clear();
        let mut words = Words::default();
        let quotes = !self.lex.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                let ws = words.get_words(&mut self.words_buffer);
                return Ok((result, ws));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if quotes => Some(self.process_single_quote()?),
                '"' if quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&mut self.words_buffer, &tmp);
                } else {
                    words.add_raw_string(&mut self.words_buffer, &tmp);
                }
                continue;
            }
            let mut ch = self.next().unwrap_or(ch);
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(&mut self.words_buffer, ch);
                    result.push(ch);
                }
                // The escape escapes the next character, except at the end.
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(&mut self.words_buffer, ch);
            } else {
                words.add_char(&mut self.words_buffer, ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        let ws = words.get_words(&mut self.words_buffer);
        Ok((result, ws))
    }

    /// `'...'`: everything literal; a single quote cannot be escaped.
    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            result.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    /// `"..."`: `$` expands; the escape quotes only `"`, `$` and itself.
    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            result.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue, // an escape at the end is dropped
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next(); // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.env.get(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // the '{'
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.process_name();
        let first = self.next();
        // Go's string(rune(EOF)) is the replacement character.
        let mut chs = first.unwrap_or('\u{fffd}').to_string();
        let mut ch = first;
        let mut null_is_unset = false;
        match first {
            Some('}') => {
                return Ok(match self.env.get(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                if first == Some(':') {
                    null_is_unset = true;
                    ch = self.next();
                    chs.push(ch.unwrap_or('\u{fffd}'));
                }
                let raw = matches!(ch, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.env.get(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let empty =
                    |v: &Option<String>| v.is_none() || (null_is_unset && v.as_deref() == Some(""));
                match ch {
                    Some('-') => Ok(if empty(&value) {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    Some('+') => Ok(if empty(&value) { String::new() } else { word }),
                    Some('?') => {
                        let default_msg = match &value {
                            None => Some("is not allowed to be unset"),
                            Some(v) if null_is_unset && v.is_empty() => {
                                Some("is not allowed to be empty")
                            }
                            Some(_) => None,
                        };
                        match default_msg {
                            Some(m) => Err(format!(
                                "{name}: {}",
                                if word.is_empty() { m } else { word.as_str() }
                            )),
                            None => Ok(value.unwrap_or_default()),
                        }
                    }
                    Some(c @ ('%' | '#')) => {
                        // %/# remove the shortest match, %%/## the longest.
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let value = value.unwrap_or_default();
                        if c == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                    _ => Err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = match self.env.get(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"))
                    }
                    None => String::new(),
                };
                let re = shell_pattern_regex(&pattern, true, false)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(if all {
                    re.replace_all(&value, regex::NoExpand(&replacement))
                        .into_owned()
                } else {
                    match re.find(&value) {
                        Some(m) => format!(
                            "{}{}{}",
                            &value[..m.start()],
                            replacement,
                            &value[m.end()..]
                        ),
                        None => value,
                    }
                })
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// A name (letters, digits, `_`), all the digits of a positional
    /// parameter, or one special parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    /// `<<` and the blanks after it stay together, so `<< EOF` is one word
    /// the parser recognises as a heredoc.
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            result.push(c);
            self.next();
        }
        result
    }
}

/// A shell wildcard pattern (`*`, `?`, `\` escapes; no brackets) as a regex.
fn shell_pattern_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::new();
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let mut tok = chars[i];
        i += 1;
        match tok {
            '*' => {
                out.push_str(star);
                continue;
            }
            '?' => {
                out.push('.');
                continue;
            }
            '\\' => {
                // `\}` and `\/` inside ${} are escapes of the ${} syntax,
                // not of the pattern.
                if matches!(chars.get(i), Some('}' | '/')) {
                    continue;
                }
                out.push('\\');
                match chars.get(i) {
                    Some(&c @ ('*' | '?' | '\\')) => {
                        tok = c;
                        i += 1;
                    }
                    Some(&c) => return Err(format!("invalid escape '\\{c}'")),
                    None => return Err("invalid escape '\\'".into()),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => out.push('\\'),
            _ => {}
        }
        out.push(tok);
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let re = shell_pattern_regex(pattern, greedy, true)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Reverse a pattern keeping each `\x` escape in front of its character.
fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let n = p.len();
    let mut out = vec![' '; n];
    let mut i = 0;
    while i < n {
        let o = n - 1 - i;
        if p[i] == '\\' && i != n - 1 {
            out[o - 1] = p[i];
            out[o] = p[i + 1];
            i += 2;
        } else {
            out[o] = p[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Regexes find the leftmost match only, so the shortest/longest suffix is
/// found as a prefix of the reversed value with the reversed pattern.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let rev: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &rev, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Go's `strconv.Quote`: the form BuildKit's AST dump and error messages
/// print strings in.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`: graphic characters and the ASCII space (no
/// control, format, private-use or other space characters).
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !matches!(u,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x206f | 0xd800..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0xfffe | 0xffff | 0xe0000..=0xe007f | 0xf0000..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        env_from_pairs(&["PWD=/home", "NULL=", "V=abcabc"])
    }

    #[test]
    fn modifiers() {
        let l = Lex::new('\\');
        let e = env();
        let w = |s: &str| l.process_word(s, &e);
        assert_eq!(w("${V#*b}").unwrap(), "cabc");
        assert_eq!(w("${V##*b}").unwrap(), "c");
        assert_eq!(w("${V%b*}").unwrap(), "abca");
        assert_eq!(w("${V%%b*}").unwrap(), "a");
        assert_eq!(w("${V/b/X}").unwrap(), "aXcabc");
        assert_eq!(w("${V//b/X}").unwrap(), "aXcaXc");
        assert_eq!(w("${NULL-d}").unwrap(), "");
        assert_eq!(w("${NULL:-d}").unwrap(), "d");
        assert_eq!(w("${NULL+a}").unwrap(), "a");
        assert_eq!(w("${NULL:+a}").unwrap(), "");
        let err = w("${NOPE:?must be set}").unwrap_err();
        assert_eq!(
            err,
            "failed to process \"${NOPE:?must be set}\": NOPE: must be set"
        );
        assert!(w("${V:#x}").is_err());
    }

    #[test]
    fn skip_unset_keeps_the_reference() {
        let mut l = Lex::new('\\');
        l.skip_unset_env = true;
        assert_eq!(
            l.process_word("$A ${B} ${C:-x} $PWD", &env()).unwrap(),
            "$A ${B} ${C:-x} /home"
        );
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(go_quote("a\"b\\c\t\u{0}♥"), "\"a\\\"b\\\\c\\t\\x00♥\"");
        assert_eq!(go_quote("\u{a0}\u{feff}"), "\"\\u00a0\\ufeff\"");
    }

    #[test]
    fn reversed_patterns_keep_escapes() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
    }
}
