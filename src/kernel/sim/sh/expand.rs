//! Word expansion in ash's order: tilde, parameters, command substitution,
//! arithmetic, then field splitting on IFS, pathname expansion against the
//! simulated filesystem, and quote removal.

use super::arith;
use super::exec::Sh;
use super::lexer::scan_unit;
use super::world::Proc;
use super::Flow;

/// A piece of a word after expansion: its text, whether it was quoted,
/// whether it came from an expansion (and so is subject to splitting).
#[derive(Debug, Clone)]
enum Piece {
    Text(String, bool /*quoted*/, bool /*expanded*/),
    /// A field boundary ("$@" between parameters).
    Break,
    /// "$@" with no parameters: the field it is in vanishes if otherwise empty.
    NoField,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Normal,
    /// Here-document body: quotes are ordinary characters.
    HereDoc,
}

impl Sh {
    /// Expand words into fields (with splitting and globbing).
    pub fn expand_words(&mut self, p: &mut Proc, words: &[String]) -> Result<Vec<String>, Flow> {
        let mut out = Vec::new();
        for w in words {
            let pieces = self.pieces(p, w, Mode::Normal)?;
            for (field, pattern) in self.split(&pieces) {
                match pattern {
                    Some(pat) => {
                        let matches = glob(p, &self.cwd, &pat);
                        if matches.is_empty() {
                            out.push(field);
                        } else {
                            out.extend(matches);
                        }
                    }
                    None => out.push(field),
                }
            }
        }
        Ok(out)
    }

    /// Expand one word to one string (assignments, redirection targets, case words).
    pub fn expand_str(&mut self, p: &mut Proc, word: &str) -> Result<String, Flow> {
        let pieces = self.pieces(p, word, Mode::Normal)?;
        Ok(join_pieces(&pieces))
    }

    /// Expand a here-document body.
    pub fn expand_heredoc(&mut self, p: &mut Proc, body: &str) -> Result<String, Flow> {
        let pieces = self.pieces(p, body, Mode::HereDoc)?;
        Ok(join_pieces(&pieces))
    }

    /// A word as a pattern (case, ${x#pat}): quoted characters match literally.
    pub fn expand_pattern(&mut self, p: &mut Proc, word: &str) -> Result<String, Flow> {
        let pieces = self.pieces(p, word, Mode::Normal)?;
        let mut s = String::new();
        for pc in pieces {
            if let Piece::Text(t, q, _) = pc {
                if q {
                    for c in t.chars() {
                        if "*?[]\\".contains(c) {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                } else {
                    s.push_str(&t);
                }
            }
        }
        Ok(s)
    }

    fn pieces(&mut self, p: &mut Proc, w: &str, mode: Mode) -> Result<Vec<Piece>, Flow> {
        let c: Vec<char> = w.chars().collect();
        let mut out: Vec<Piece> = Vec::new();
        let mut i = 0;
        let push = |out: &mut Vec<Piece>, ch: char, q: bool| {
            if let Some(Piece::Text(s, pq, false)) = out.last_mut() {
                if *pq == q {
                    s.push(ch);
                    return;
                }
            }
            out.push(Piece::Text(ch.to_string(), q, false));
        };
        // Tilde at the start of an unquoted word.
        if mode == Mode::Normal && c.first() == Some(&'~') {
            let end = c.iter().position(|&x| x == '/').unwrap_or(c.len());
            let user: String = c[1..end].iter().collect();
            let home = if user.is_empty() {
                self.get("HOME")
            } else {
                crate::kernel::sim::applets::home_of(&p.world().fs, &user)
            };
            if let Some(h) = home {
                out.push(Piece::Text(h, true, false));
                i = end;
            }
        }
        let mut in_dq = false;
        while i < c.len() {
            let ch = c[i];
            match ch {
                '\\' if mode == Mode::HereDoc || in_dq => {
                    match c.get(i + 1) {
                        Some(n @ ('$' | '`' | '\\')) => push(&mut out, *n, true),
                        Some('"') if in_dq => push(&mut out, '"', true),
                        Some('\n') => {}
                        Some(n) => {
                            push(&mut out, '\\', true);
                            push(&mut out, *n, true);
                        }
                        None => push(&mut out, '\\', true),
                    }
                    i += 2;
                }
                '\\' => {
                    if let Some(n) = c.get(i + 1) {
                        if *n != '\n' {
                            push(&mut out, *n, true);
                        }
                    }
                    i += 2;
                }
                '\'' if mode == Mode::Normal && !in_dq => {
                    let end = c[i + 1..]
                        .iter()
                        .position(|&x| x == '\'')
                        .map(|k| i + 1 + k);
                    let end = end.unwrap_or(c.len());
                    let s: String = c[i + 1..end].iter().collect();
                    out.push(Piece::Text(s, true, false));
                    i = end + 1;
                }
                '"' if mode == Mode::Normal => {
                    in_dq = !in_dq;
                    // an empty "" still makes a field
                    out.push(Piece::Text(String::new(), true, false));
                    i += 1;
                }
                '`' => {
                    let mut j = i + 1;
                    let mut src = String::new();
                    while j < c.len() && c[j] != '`' {
                        if c[j] == '\\' && matches!(c.get(j + 1), Some('`' | '\\' | '$')) {
                            j += 1;
                        }
                        src.push(c[j]);
                        j += 1;
                    }
                    let v = self.command_subst(p, &src)?;
                    out.push(Piece::Text(v, in_dq || mode == Mode::HereDoc, true));
                    i = j + 1;
                }
                '$' => {
                    let q = in_dq || mode == Mode::HereDoc;
                    i = self.dollar(p, &c, i, q, &mut out)?;
                }
                _ => {
                    push(&mut out, ch, in_dq || mode == Mode::HereDoc);
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    /// Expand the `$...` at `c[i]`; returns the index after it.
    fn dollar(
        &mut self,
        p: &mut Proc,
        c: &[char],
        i: usize,
        q: bool,
        out: &mut Vec<Piece>,
    ) -> Result<usize, Flow> {
        let text = |out: &mut Vec<Piece>, s: String| out.push(Piece::Text(s, q, true));
        match c.get(i + 1) {
            Some('(') if c.get(i + 2) == Some(&'(') => {
                // $(( expr ))
                let mut depth = 0;
                let mut j = i + 3;
                while j < c.len() {
                    match c[j] {
                        '(' => depth += 1,
                        ')' if depth > 0 => depth -= 1,
                        ')' if c.get(j + 1) == Some(&')') => break,
                        _ => {}
                    }
                    j += 1;
                }
                let expr: String = c[i + 3..j.min(c.len())].iter().collect();
                let expr = self.expand_heredoc(p, &expr)?;
                let v = self.arith(p, &expr)?;
                text(out, v.to_string());
                Ok(j + 2)
            }
            Some('(') => {
                let mut j = i;
                let _ = scan_unit(c, &mut j, false);
                let src: String = c[i + 2..j.saturating_sub(1).max(i + 2)].iter().collect();
                let v = self.command_subst(p, &src)?;
                text(out, v);
                Ok(j)
            }
            Some('{') => {
                let mut j = i;
                let _ = scan_unit(c, &mut j, q);
                let body: String = c[i + 2..j.saturating_sub(1).max(i + 2)].iter().collect();
                self.brace_param(p, &body, q, out)?;
                Ok(j)
            }
            Some(&n) if n.is_ascii_alphabetic() || n == '_' => {
                let mut j = i + 1;
                while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '_') {
                    j += 1;
                }
                let name: String = c[i + 1..j].iter().collect();
                let v = self.param(&name);
                self.nounset_check(p, &name, &v)?;
                text(out, v.unwrap_or_default());
                Ok(j)
            }
            Some('@') | Some('*') => {
                let star = c[i + 1] == '*';
                if q && !star {
                    for (k, a) in self.pos.clone().into_iter().enumerate() {
                        if k > 0 {
                            out.push(Piece::Break);
                        }
                        out.push(Piece::Text(a, true, true));
                    }
                    if self.pos.is_empty() {
                        out.push(Piece::NoField);
                    }
                } else if q {
                    let sep = self
                        .ifs()
                        .chars()
                        .next()
                        .map(String::from)
                        .unwrap_or_default();
                    text(out, self.pos.join(&sep));
                } else {
                    for (k, a) in self.pos.clone().into_iter().enumerate() {
                        if k > 0 {
                            out.push(Piece::Break);
                        }
                        out.push(Piece::Text(a, false, true));
                    }
                }
                Ok(i + 2)
            }
            Some(&n) if n.is_ascii_digit() || "?$#!-0".contains(n) => {
                let v = self.param(&n.to_string());
                if n.is_ascii_digit() {
                    self.nounset_check(p, &n.to_string(), &v)?;
                }
                text(out, v.unwrap_or_default());
                Ok(i + 2)
            }
            _ => {
                out.push(Piece::Text("$".into(), q, false));
                Ok(i + 1)
            }
        }
    }

    /// `set -u`: expanding an unset variable is an error that ends the shell.
    fn nounset_check(&mut self, p: &mut Proc, name: &str, v: &Option<String>) -> Result<(), Flow> {
        if !self.nounset || v.is_some() {
            return Ok(());
        }
        let m = format!("{}{name}: parameter not set\n", self.prefix());
        p.err(m)?;
        Err(Flow::Exit(2))
    }

    /// `${...}`: `#name`, `name:-w`, `-`, `:=`, `=`, `:+`, `+`, `:?`, `?`,
    /// `#pat`, `##pat`, `%pat`, `%%pat`, `name:off:len`.
    fn brace_param(
        &mut self,
        p: &mut Proc,
        body: &str,
        q: bool,
        out: &mut Vec<Piece>,
    ) -> Result<(), Flow> {
        let bad = |s: &mut Sh, p: &mut Proc| -> Result<(), Flow> {
            let m = format!("{}syntax error: bad substitution\n", s.prefix());
            p.err(m)?;
            Err(Flow::Exit(2))
        };
        if let Some(name) = body.strip_prefix('#') {
            if !name.is_empty() {
                let v = self.param(name).unwrap_or_default();
                out.push(Piece::Text(v.chars().count().to_string(), q, true));
                return Ok(());
            }
        }
        let end = body
            .char_indices()
            .find(|&(k, ch)| {
                !(ch.is_ascii_alphanumeric() || ch == '_' || (k == 0 && "?$#!@*-".contains(ch)))
            })
            .map(|(k, _)| k)
            .unwrap_or(body.len());
        let end = if body.starts_with(|ch: char| "?$#!@*-".contains(ch)) {
            1.min(body.len())
        } else {
            end
        };
        let (name, rest) = body.split_at(end);
        if name.is_empty() {
            return bad(self, p);
        }
        let v = self.param(name);
        if rest.is_empty() {
            if (name == "@" || name == "*") && !q {
                let pos = self.pos.clone();
                for (k, a) in pos.into_iter().enumerate() {
                    if k > 0 {
                        out.push(Piece::Break);
                    }
                    out.push(Piece::Text(a, false, true));
                }
                return Ok(());
            }
            if name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                self.nounset_check(p, name, &v)?;
            }
            out.push(Piece::Text(v.unwrap_or_default(), q, true));
            return Ok(());
        }
        let ops = [
            ":-", ":=", ":+", ":?", "##", "%%", "//", "-", "=", "+", "?", "#", "%", ":", "/",
        ];
        let Some(op) = ops.iter().find(|o| rest.starts_with(*o)) else {
            return bad(self, p);
        };
        let word = &rest[op.len()..];
        let colon = op.starts_with(':') && op.len() == 2;
        let unset = match &v {
            None => true,
            Some(s) => colon && s.is_empty(),
        };
        let val = match op.trim_start_matches(':') {
            "-" if op.len() <= 2 && *op != ":" => {
                if unset {
                    self.expand_str(p, word)?
                } else {
                    v.unwrap_or_default()
                }
            }
            "=" => {
                if unset {
                    let w = self.expand_str(p, word)?;
                    self.set(name, &w);
                    w
                } else {
                    v.unwrap_or_default()
                }
            }
            "+" => {
                if unset {
                    String::new()
                } else {
                    self.expand_str(p, word)?
                }
            }
            "?" => {
                if unset {
                    let w = self.expand_str(p, word)?;
                    let msg = if w.is_empty() {
                        "parameter not set".to_string()
                    } else {
                        w
                    };
                    let m = format!("{}{name}: {msg}\n", self.prefix());
                    p.err(m)?;
                    return Err(Flow::Exit(2));
                }
                v.unwrap_or_default()
            }
            "/" | "//" => {
                // ${v/pat/rep}, ${v//pat/rep}
                let (pat, rep) = split_unescaped_slash(word);
                let pat = self.expand_pattern(p, pat)?;
                let rep = self.expand_str(p, rep)?;
                replace(&v.unwrap_or_default(), &pat, &rep, *op == "//")
            }
            "#" | "##" | "%" | "%%" => {
                let pat = self.expand_pattern(p, word)?;
                let s = v.unwrap_or_default();
                strip(&s, &pat, op)
            }
            _ => {
                // ${name:offset[:length]}
                let s: Vec<char> = v.unwrap_or_default().chars().collect();
                let (o, l) = match word.split_once(':') {
                    Some((o, l)) => (o.to_string(), Some(l.to_string())),
                    None => (word.to_string(), None),
                };
                let o = self.arith(p, &o)?;
                let start = if o < 0 {
                    (s.len() as i64 + o).max(0) as usize
                } else {
                    (o as usize).min(s.len())
                };
                let len = match l {
                    Some(l) => self.arith(p, &l)?.max(0) as usize,
                    None => s.len(),
                };
                s[start..(start + len).min(s.len())].iter().collect()
            }
        };
        out.push(Piece::Text(val, q, true));
        Ok(())
    }

    pub fn arith(&mut self, p: &mut Proc, expr: &str) -> Result<i64, Flow> {
        struct V<'a>(&'a mut Sh);
        impl arith::Vars for V<'_> {
            fn get(&mut self, n: &str) -> String {
                self.0.param(n).unwrap_or_default()
            }
            fn set(&mut self, n: &str, v: i64) {
                self.0.set(n, &v.to_string());
            }
        }
        match arith::eval(expr, &mut V(self)) {
            Ok(v) => Ok(v),
            Err(e) => {
                let m = format!("{}{e}\n", self.prefix());
                p.err(m)?;
                Err(Flow::Exit(2))
            }
        }
    }

    fn ifs(&self) -> String {
        self.param("IFS").unwrap_or_else(|| " \t\n".into())
    }

    /// Field splitting; each field with its glob pattern if it has unquoted
    /// pattern characters.
    fn split(&self, pieces: &[Piece]) -> Vec<(String, Option<String>)> {
        let ifs = self.ifs();
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut pat = String::new();
        let mut globby = false;
        let mut has = false;
        let mut no_field = false;
        let flush = |fields: &mut Vec<(String, Option<String>)>,
                     cur: &mut String,
                     pat: &mut String,
                     globby: &mut bool,
                     no_field: &mut bool| {
            let p = std::mem::take(pat);
            let c = std::mem::take(cur);
            if !(*no_field && c.is_empty()) {
                fields.push((c, if *globby { Some(p) } else { None }));
            }
            *no_field = false;
            *globby = false;
        };
        for pc in pieces {
            match pc {
                Piece::NoField => no_field = true,
                Piece::Break => {
                    if has {
                        flush(&mut fields, &mut cur, &mut pat, &mut globby, &mut no_field);
                    }
                    has = false;
                }
                Piece::Text(t, true, _) => {
                    cur.push_str(t);
                    for ch in t.chars() {
                        if "*?[]\\".contains(ch) {
                            pat.push('\\');
                        }
                        pat.push(ch);
                    }
                    has = true;
                }
                Piece::Text(t, false, expanded) => {
                    for ch in t.chars() {
                        if *expanded && ifs.contains(ch) {
                            let ws = ch.is_whitespace();
                            if has || !ws {
                                flush(&mut fields, &mut cur, &mut pat, &mut globby, &mut no_field);
                            }
                            has = false;
                            continue;
                        }
                        if "*?[".contains(ch) {
                            globby = true;
                        }
                        cur.push(ch);
                        pat.push(ch);
                        has = true;
                    }
                }
            }
        }
        if has {
            flush(&mut fields, &mut cur, &mut pat, &mut globby, &mut no_field);
        }
        fields
    }
}

fn join_pieces(pieces: &[Piece]) -> String {
    let mut s = String::new();
    let mut first = true;
    for pc in pieces {
        match pc {
            Piece::Text(t, _, _) => s.push_str(t),
            Piece::Break => {
                if !first {
                    s.push(' ');
                }
            }
            Piece::NoField => {}
        }
        first = false;
    }
    s
}

/// `pat/rep` split at the first `/` not escaped by a backslash.
fn split_unescaped_slash(w: &str) -> (&str, &str) {
    let mut esc = false;
    for (k, c) in w.char_indices() {
        match c {
            '\\' if !esc => esc = true,
            '/' if !esc => return (&w[..k], &w[k + 1..]),
            _ => esc = false,
        }
    }
    (w, "")
}

/// `${v/pat/rep}`: the leftmost longest match of `pat` (all of them with
/// `all`). busybox's ash has no `/#` or `/%` anchors: `#` is literal there.
fn replace(s: &str, pat: &str, rep: &str, all: bool) -> String {
    let idx: Vec<usize> = s
        .char_indices()
        .map(|(k, _)| k)
        .chain(std::iter::once(s.len()))
        .collect();
    let mut out = String::new();
    let mut a = 0;
    while a < idx.len() {
        let start = idx[a];
        let hit = if pat.is_empty() {
            None
        } else {
            idx[a..]
                .iter()
                .rev()
                .find(|&&e| e > start && glob_match(pat, &s[start..e]))
        };
        match hit {
            Some(&e) => {
                out.push_str(rep);
                if !all {
                    out.push_str(&s[e..]);
                    return out;
                }
                a = idx.iter().position(|&x| x == e).unwrap_or(idx.len());
            }
            None => {
                if a + 1 < idx.len() {
                    out.push_str(&s[start..idx[a + 1]]);
                }
                a += 1;
            }
        }
    }
    out
}

/// `${v#pat}` and friends.
fn strip(s: &str, pat: &str, op: &str) -> String {
    let idx: Vec<usize> = s
        .char_indices()
        .map(|(k, _)| k)
        .chain(std::iter::once(s.len()))
        .collect();
    match op {
        "#" => idx
            .iter()
            .find(|&&k| glob_match(pat, &s[..k]))
            .map(|&k| s[k..].to_string()),
        "##" => idx
            .iter()
            .rev()
            .find(|&&k| glob_match(pat, &s[..k]))
            .map(|&k| s[k..].to_string()),
        "%" => idx
            .iter()
            .rev()
            .find(|&&k| glob_match(pat, &s[k..]))
            .map(|&k| s[..k].to_string()),
        _ => idx
            .iter()
            .find(|&&k| glob_match(pat, &s[k..]))
            .map(|&k| s[..k].to_string()),
    }
    .unwrap_or_else(|| s.to_string())
}

/// fnmatch(3) without flags: `*`, `?`, `[...]` (with `!`/`^`, ranges), `\x`.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn m(p: &[char], t: &[char]) -> bool {
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            let step = if pi < p.len() {
                match p[pi] {
                    '*' => {
                        star = Some((pi, ti));
                        pi += 1;
                        continue;
                    }
                    '?' => Some(pi + 1),
                    '[' => match class(p, pi, t[ti]) {
                        Some((true, end)) => Some(end),
                        Some((false, _)) => None,
                        None => (t[ti] == '[').then_some(pi + 1),
                    },
                    '\\' if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
                    c => (c == t[ti]).then_some(pi + 1),
                }
            } else {
                None
            };
            match step {
                Some(np) => {
                    pi = np;
                    ti += 1;
                }
                None => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }
    m(&p, &t)
}

/// Match `c` against the bracket expression at `p[i]`; (matched, index after).
fn class(p: &[char], i: usize, c: char) -> Option<(bool, usize)> {
    let mut j = i + 1;
    let neg = matches!(p.get(j), Some('!') | Some('^'));
    if neg {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    while j < p.len() && (p[j] != ']' || first) {
        first = false;
        if p[j] == '[' && p.get(j + 1) == Some(&':') {
            let rest: String = p[j + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = &rest[..end];
                hit |= match name {
                    "alpha" => c.is_alphabetic(),
                    "digit" => c.is_ascii_digit(),
                    "alnum" => c.is_alphanumeric(),
                    "space" => c.is_whitespace(),
                    "upper" => c.is_uppercase(),
                    "lower" => c.is_lowercase(),
                    "punct" => c.is_ascii_punctuation(),
                    "xdigit" => c.is_ascii_hexdigit(),
                    _ => false,
                };
                j += 2 + end + 2;
                continue;
            }
        }
        let lo = if p[j] == '\\' && j + 1 < p.len() {
            j += 1;
            p[j]
        } else {
            p[j]
        };
        if p.get(j + 1) == Some(&'-') && j + 2 < p.len() && p[j + 2] != ']' {
            hit |= lo <= c && c <= p[j + 2];
            j += 3;
        } else {
            hit |= lo == c;
            j += 1;
        }
    }
    if j >= p.len() {
        return None;
    }
    Some((hit != neg, j + 1))
}

/// Pathname expansion against the simulated filesystem, sorted.
fn glob(p: &mut Proc, cwd: &str, pat: &str) -> Vec<String> {
    let fs = &p.world().fs;
    let abs = pat.starts_with('/');
    let comps: Vec<&str> = pat.split('/').filter(|c| !c.is_empty()).collect();
    let mut cands: Vec<String> = vec![if abs { "/".into() } else { String::new() }];
    for (k, comp) in comps.iter().enumerate() {
        let last = k + 1 == comps.len();
        let mut next = Vec::new();
        let has_meta = comp.contains(['*', '?', '[']);
        for base in &cands {
            let dir = if base.is_empty() { "." } else { base.as_str() };
            let join = |n: &str| {
                if base.is_empty() {
                    n.to_string()
                } else if base.ends_with('/') {
                    format!("{base}{n}")
                } else {
                    format!("{base}/{n}")
                }
            };
            if !has_meta {
                let lit: String = unescape(comp);
                let path = join(&lit);
                if fs.lstat(&path, cwd).is_some() {
                    next.push(path);
                }
                continue;
            }
            let Ok(names) = fs.list_dir(dir, cwd) else {
                continue;
            };
            for n in names {
                if n.starts_with('.') && !comp.starts_with('.') {
                    continue;
                }
                if glob_match(comp, &n) {
                    let path = join(&n);
                    if last
                        || fs
                            .lookup(&path, cwd)
                            .map(|(_, x)| x.is_dir())
                            .unwrap_or(false)
                    {
                        next.push(path);
                    }
                }
            }
        }
        next.sort();
        cands = next;
    }
    if pat.ends_with('/') {
        cands = cands.into_iter().map(|c| format!("{c}/")).collect();
    }
    cands
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txd"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(glob_match("[!a-c]x", "dx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("[[:digit:]]*", "1abc"));
        assert_eq!(strip("a/b/c", "*/", "#"), "b/c");
        assert_eq!(strip("a/b/c", "*/", "##"), "c");
        assert_eq!(strip("f.tar.gz", ".*", "%"), "f.tar");
        assert_eq!(strip("f.tar.gz", ".*", "%%"), "f");
    }
}
