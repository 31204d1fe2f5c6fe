//! The Dockerfile parser: text → a list of instruction nodes, as BuildKit's
//! `frontend/dockerfile/parser` does it (parser.go, line_parsers.go,
//! split_command.go, directives.go): parser directives (`# syntax=`,
//! `# escape=`, `# check=`), comments, line continuations (comment and
//! empty lines inside them; empty ones give BuildKit's warning), flags
//! before the arguments, JSON and shell forms, heredocs for RUN/COPY/ADD.
//!
//! Like BuildKit's, this layer does not expand variables or check argument
//! counts; `instructions` does that for a builder. `Ast::dump` prints
//! BuildKit's AST dump (what the conformance cases compare).

use super::expand::{go_quote, Lex, NoEnv};
use super::ParseError;
use regex::Regex;
use std::sync::OnceLock;

/// One instruction as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The instruction word as written (`RUN`, `run`, ...).
    pub name: String,
    /// `--name=value` words before the arguments.
    pub flags: Vec<String>,
    /// The arguments after the instruction's own parsing (BuildKit's `Next`
    /// chain): JSON items, whitespace-split words, ENV/LABEL key, value,
    /// separator triples, or the one shell-form string.
    pub args: Vec<String>,
    /// ONBUILD's trigger instruction.
    pub trigger: Option<Box<Node>>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The instruction's text with continuations joined.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    pub heredocs: Vec<Heredoc>,
    /// Comment lines right above the instruction.
    pub comments: Vec<String>,
}

/// A `<<EOF` document attached to RUN, COPY or ADD.
#[derive(Clone, Debug, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub file_descriptor: u32,
    /// The word was unquoted: `$VAR` in the content expands.
    pub expand: bool,
    /// `<<-`: leading tabs are removed.
    pub chomp: bool,
    pub content: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A parsed Dockerfile.
#[derive(Clone, Debug)]
pub struct Ast {
    pub nodes: Vec<Node>,
    pub escape: char,
    /// The `# syntax=` directive, if any (glassbox parses every file itself).
    pub syntax: Option<String>,
    pub warnings: Vec<Warning>,
}

const MAX_LINE: usize = 64 * 1024;

fn re_whitespace() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"[\t\x0b\x0c\r ]+").unwrap())
}

fn re_heredoc() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^([0-9]*)<<(-?)[\t\n\x0c\r ]*([^<]*)$").unwrap())
}

fn re_directive() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\x0c\r ]*=[\t\n\x0c\r ]*(.+?)[\t\n\x0c\r ]*$")
            .unwrap()
    })
}

/// The parser directives seen so far (only at the top of the file).
struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
    syntax: Option<String>,
}

impl Directives {
    /// Go's `possibleParserDirective`: whether `line` was a directive.
    fn possible_directive(&mut self, line: &str) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        let Some(m) = re_directive().captures(rest) else {
            self.done = true;
            return Ok(false);
        };
        let key = m[1].to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        let value = m[2].to_string();
        match key.as_str() {
            "escape" => {
                self.escape = match value.as_str() {
                    "`" => '`',
                    "\\" => '\\',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                }
            }
            "syntax" => self.syntax = Some(value),
            _ => {}
        }
        Ok(true)
    }

    /// BuildKit's line-continuation regex `([^E])E[ \t]*$|^E[ \t]*$` (E
    /// the escape): drop a final escape not itself escaped; returns the
    /// line and whether it ended the instruction.
    fn trim_continuation<'a>(&self, line: &'a str) -> (&'a str, bool) {
        let body = line.trim_end_matches([' ', '\t']);
        if !body.ends_with(self.escape) {
            return (line, true);
        }
        let before = &body[..body.len() - self.escape.len_utf8()];
        match before.chars().last() {
            None => ("", false),
            Some(c) if c == self.escape => (line, true),
            Some(_) => (before, false),
        }
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Go's `processLine`: the line without its newline (and leading blanks
/// for a first line), checked for a directive, comments dropped.
fn process_line<'a>(
    d: &mut Directives,
    line: &'a str,
    strip_left: bool,
) -> Result<(&'a str, bool), String> {
    let mut token = trim_newline(line);
    if strip_left {
        token = token.trim_start();
    }
    let directive = d.possible_directive(token)?;
    Ok((if is_comment(token) { "" } else { token }, directive))
}

/// Split into lines that keep their `\n` (Go's `scanLines`).
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn at(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Parse a Dockerfile's text.
pub fn parse(text: &str) -> Result<Ast, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = Directives {
        escape: '\\',
        done: false,
        seen: Vec::new(),
        syntax: None,
    };
    let lines = lines(text);
    let mut i = 0;
    let mut current = 0usize;
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();

    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        if raw.len() > MAX_LINE {
            return Err(at(
                current + 1,
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                ),
            ));
        }
        if is_comment(raw) {
            let c = raw.trim_start()[1..].trim();
            if c.is_empty() {
                comments.clear();
            } else {
                comments.push(c.to_string());
            }
        }
        let (line, directive) = process_line(&mut d, raw, true).map_err(|e| at(current + 1, e))?;
        if directive {
            comments.pop();
        }
        current += 1;
        let start = current;
        let (first, mut end_of_line) = d.trim_continuation(line);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut buf = first.to_string();
        let mut empty_continuation = false;
        while !end_of_line && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let (next, _) = process_line(&mut d, raw, false).map_err(|e| at(current + 1, e))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if trim_newline(next).trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, eol) = d.trim_continuation(next);
            end_of_line = eol;
            buf.push_str(part);
        }
        if empty_continuation {
            warnings.push(Warning {
                line: current,
                message: format!("Empty continuation line found in: {buf}"),
            });
        }
        let mut node = node_from_line(&buf, d.escape, std::mem::take(&mut comments))
            .map_err(|e| at(start, e))?;
        if can_contain_heredoc(&node) && buf.contains("<<") {
            for mut doc in heredocs_from_line(&buf).map_err(|e| at(start, e))? {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(at(start, "unterminated heredoc"));
                }
                node.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(at(current.max(1), "file with no instructions"));
    }
    Ok(Ast {
        nodes,
        escape: d.escape,
        syntax: d.syntax,
        warnings,
    })
}

/// Go's `splitCommand` + dispatch: the instruction word, its flags, and
/// the arguments as that instruction parses them.
fn node_from_line(line: &str, escape: char, comments: Vec<String>) -> Result<Node, String> {
    let trimmed = line.trim();
    let mut parts = re_whitespace().splitn(trimmed, 2);
    let name = parts.next().unwrap_or("").to_string();
    let (flags, rest) = match parts.next() {
        Some(rest) => {
            let (flags, rest) = extract_flags(rest, escape);
            (flags, rest.trim().to_string())
        }
        None => (Vec::new(), String::new()),
    };
    let mut node = Node {
        name,
        flags,
        args: Vec::new(),
        trigger: None,
        json: false,
        original: line.to_string(),
        start_line: 0,
        end_line: 0,
        heredocs: Vec::new(),
        comments,
    };
    let rest = rest.as_str();
    match node.name.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => (node.args, node.json) = maybe_json_to_list(rest)?,
        "cmd" | "entrypoint" | "run" | "shell" => (node.args, node.json) = maybe_json(rest)?,
        "arg" => node.args = parse_words(rest, escape),
        "env" => node.args = parse_name_val(rest, "ENV", escape)?,
        "label" => node.args = parse_name_val(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = whitespace_delimited(rest),
        "healthcheck" => (node.args, node.json) = health_config(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !rest.is_empty() {
                node.args = vec![rest.to_string()];
            }
        }
        "onbuild" => {
            if !rest.is_empty() {
                node.trigger = Some(Box::new(node_from_line(rest, escape, Vec::new())?));
            }
        }
        // BuildKit keeps an unknown instruction with one empty argument;
        // `instructions` refuses it with its line.
        _ => node.args = vec![String::new()],
    }
    Ok(node)
}

fn can_contain_heredoc(node: &Node) -> bool {
    let n = match (&node.trigger, node.name.eq_ignore_ascii_case("onbuild")) {
        (Some(t), true) => t.as_ref(),
        _ => node,
    };
    matches!(n.name.to_ascii_lowercase().as_str(), "add" | "copy" | "run") && !n.json
}

/// The heredoc words (`<<EOF`, `<<-"EOF"`, `3<<X`) of an instruction line.
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(doc) = parse_heredoc(&w)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// BuildKit's `ParseHeredoc`: a word like `<<EOF` as a heredoc, or none.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let Some(m) = re_heredoc().captures(word) else {
        return Ok(None);
    };
    let fd = m[1].parse::<u32>().unwrap_or(0);
    let chomp = &m[2] == "-";
    let rest = &m[3];
    if rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        file_descriptor: fd,
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    }))
}

/// Go's `extractBuilderFlags`: leading `--flag[=value]` words (quotes and
/// escapes processed) until the first other word or `--`. It walks bytes,
/// as BuildKit does.
fn extract_flags(line: &str, escape: char) -> (Vec<String>, String) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b = line.as_bytes();
    let esc = escape as u32 as u8;
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= b.len() {
        let ch = if pos < b.len() { b[pos] } else { 0 };
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if (ch as char).is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (words, tail(b, pos));
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        let mut c = ch;
        if phase == Phase::Word {
            if (c as char).is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (words, tail(b, pos));
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if c == b'\'' || c == b'"' {
                quote = c;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if c == esc {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = b[pos];
            }
            // Go writes each byte as a rune (so a non-ASCII flag value
            // comes out as Latin-1): kept for parity.
            word.push(c as char);
            pos += 1;
            continue;
        }
        // In quotes.
        if c == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if c == esc {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = b[pos];
        }
        word.push(c as char);
        pos += 1;
    }
    (words, String::new())
}

/// The bytes from `pos` on (Go slices strings by byte; a slice inside a
/// character, after a Latin-1 blank byte, is kept as lossy text).
fn tail(b: &[u8], pos: usize) -> String {
    String::from_utf8_lossy(&b[pos..]).into_owned()
}

/// Go's `parseWords`: split at unquoted whitespace, keeping quotes and
/// escapes in the words (the expander removes them later).
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// ENV and LABEL: `name value` (old form, the rest of the line is the
/// value) or `name=value ...`; each pair becomes key, value, separator.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let parts: Vec<&str> = re_whitespace().splitn(rest, 2).collect();
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].into(), parts[1].into(), String::new()]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    re_whitespace().split(rest).map(str::to_string).collect()
}

enum JsonOutcome {
    Array(Vec<String>),
    NotStrings,
    NotJson,
}

/// `[...]` holding only strings (Go's `parseJSON`).
fn parse_json(rest: &str) -> JsonOutcome {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return JsonOutcome::NotJson;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Err(_) => JsonOutcome::NotJson,
        Ok(items) => {
            let mut out = Vec::new();
            for it in items {
                match it {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return JsonOutcome::NotStrings,
                }
            }
            JsonOutcome::Array(out)
        }
    }
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// CMD, ENTRYPOINT, RUN, SHELL: a JSON array, or the whole text as one
/// argument (shell form).
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest) {
        JsonOutcome::Array(a) => Ok((a, true)),
        JsonOutcome::NotStrings => Err(NOT_STRING_ARRAY.into()),
        JsonOutcome::NotJson => Ok((vec![rest.to_string()], false)),
    }
}

/// ADD, COPY, VOLUME: a JSON array, or whitespace-separated words.
fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest) {
        JsonOutcome::Array(a) => Ok((a, true)),
        JsonOutcome::NotStrings => Err(NOT_STRING_ARRAY.into()),
        JsonOutcome::NotJson => Ok((whitespace_delimited(rest), false)),
    }
}

/// HEALTHCHECK: the type word (CMD, NONE, ...) then CMD's arguments.
fn health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let b = rest.as_bytes();
    let sep = b
        .iter()
        .position(|c| (*c as char).is_whitespace())
        .unwrap_or(b.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let next = b[sep..]
        .iter()
        .position(|c| !(*c as char).is_whitespace())
        .map_or(b.len(), |p| sep + p);
    let (cmd, json) = maybe_json(&tail(b, next))?;
    let mut args = vec![String::from_utf8_lossy(&b[..sep]).into_owned()];
    args.extend(cmd);
    Ok((args, json))
}

impl Node {
    /// BuildKit's `Node.Dump` for one instruction.
    pub fn dump(&self) -> String {
        let mut s = self.name.to_lowercase();
        if !self.flags.is_empty() {
            let quoted: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", quoted.join(" ")));
        }
        for a in &self.args {
            s.push(' ');
            s.push_str(&go_quote(a));
        }
        if let Some(t) = &self.trigger {
            s.push_str(&format!(" ({})", t.dump()));
        }
        s.trim().to_string()
    }
}

impl Ast {
    /// BuildKit's AST dump: one `(instruction "arg" ...)` line each.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push('(');
            s.push_str(&n.dump());
            s.push_str(")\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_flags() {
        let ast = parse("FROM busybox AS b\nCOPY --from=b --chown=1:1 a \\\n  b /c/\nRUN --mount=type=cache,target=/x echo hi\n").unwrap();
        assert_eq!(ast.nodes.len(), 3);
        let copy = &ast.nodes[1];
        assert_eq!((copy.start_line, copy.end_line), (2, 3));
        assert_eq!(copy.flags, vec!["--from=b", "--chown=1:1"]);
        assert_eq!(copy.args, vec!["a", "b", "/c/"]);
        assert_eq!(ast.nodes[2].flags, vec!["--mount=type=cache,target=/x"]);
        assert_eq!(ast.nodes[2].args, vec!["echo hi"]);
    }

    #[test]
    fn heredocs() {
        let ast =
            parse("FROM x\nRUN <<EOF\necho $A\nEOF\nCOPY <<-'A' /f\n\tline\n\tA\nRUN echo done\n")
                .unwrap();
        let run = &ast.nodes[1];
        assert_eq!(run.heredocs[0].name, "EOF");
        assert_eq!(run.heredocs[0].content, "echo $A\n");
        assert!(run.heredocs[0].expand);
        assert_eq!((run.start_line, run.end_line), (2, 4));
        let copy = &ast.nodes[2];
        assert!(copy.heredocs[0].chomp && !copy.heredocs[0].expand);
        assert_eq!(copy.heredocs[0].content, "\tline\n");
        assert_eq!(ast.nodes[3].start_line, 8);
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: unterminated heredoc"
        );
    }

    #[test]
    fn empty_continuation_warns() {
        let ast = parse("FROM x\nRUN a \\\n\n  b\n").unwrap();
        assert_eq!(ast.nodes[1].args, vec!["a   b"]);
        assert_eq!(ast.warnings.len(), 1);
        assert_eq!(ast.warnings[0].line, 4);
    }

    #[test]
    fn directives() {
        let ast = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n b\n").unwrap();
        assert_eq!(ast.escape, '`');
        assert_eq!(ast.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(ast.nodes[1].args, vec!["a  b"]);
        let e = parse("# escape=`\n# escape=\\\nFROM x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("# escape=x\nFROM x\n")
            .unwrap_err()
            .message
            .contains("invalid escape token"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM busybox\n\nENV PATH\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: ENV must have two arguments"
        );
    }
}
