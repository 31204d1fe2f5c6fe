//! Split a script into tokens as ash does: words keep their quotes (the
//! expander reads them), operators, newlines, redirections with their fd,
//! and here-document bodies read after the line that asked for them.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A word, raw: quotes, `$...` and backquotes still in it.
    Word(String),
    /// `&&`, `||`, `;`, `;;`, `&`, `|`, `(`, `)`.
    Op(&'static str),
    Newline,
    /// A redirection operator with its explicit fd; `heredoc` indexes the
    /// body table for `<<`/`<<-`.
    Redir {
        fd: Option<i32>,
        op: &'static str,
        heredoc: Option<usize>,
    },
    /// A lexical error; nothing follows it.
    Error(String),
}

/// A here-document: its body and whether it is expanded (unquoted delimiter).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HereDoc {
    pub body: String,
    pub expand: bool,
}

pub struct Lexed {
    pub toks: Vec<Tok>,
    pub heredocs: Vec<HereDoc>,
}

const OPS: &[&str] = &[
    "&&", "||", ";;", ";", "&", "|", "(", ")", "<<-", "<<", ">>", ">&", "<&", "<>", ">|", "<", ">",
];

pub fn lex(src: &str) -> Lexed {
    let s: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut heredocs: Vec<HereDoc> = Vec::new();
    // here-docs waiting for their delimiter word / their body
    let mut want_delim: Option<(usize, bool)> = None;
    let mut pending: Vec<(usize, String, bool)> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '\\' && s.get(i + 1) == Some(&'\n') {
            i += 2;
            continue;
        }
        if c == '#' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\n' {
            toks.push(Tok::Newline);
            i += 1;
            for (idx, delim, strip) in pending.drain(..) {
                let mut body = String::new();
                loop {
                    if i >= s.len() {
                        break;
                    }
                    let start = i;
                    while i < s.len() && s[i] != '\n' {
                        i += 1;
                    }
                    let mut line: String = s[start..i].iter().collect();
                    i = (i + 1).min(s.len() + 1);
                    if strip {
                        line = line.trim_start_matches('\t').to_string();
                    }
                    if line == delim {
                        break;
                    }
                    body.push_str(&line);
                    body.push('\n');
                }
                i = i.min(s.len());
                heredocs[idx].body = body;
            }
            continue;
        }
        if let Some(op) = OPS.iter().find(|op| starts_with(&s, i, op)) {
            i += op.len();
            if op.starts_with('<') || op.starts_with('>') {
                let mut hd = None;
                if op.starts_with("<<") {
                    heredocs.push(HereDoc::default());
                    hd = Some(heredocs.len() - 1);
                    want_delim = Some((heredocs.len() - 1, *op == "<<-"));
                }
                toks.push(Tok::Redir {
                    fd: None,
                    op,
                    heredoc: hd,
                });
            } else {
                toks.push(Tok::Op(op));
            }
            continue;
        }
        // A word.
        let start = i;
        match scan_word(&s, &mut i) {
            Ok(()) => {}
            Err(e) => {
                toks.push(Tok::Error(e));
                return Lexed { toks, heredocs };
            }
        }
        let w: String = s[start..i].iter().collect();
        // "2>" : an all-digit word right before a redirection is its fd.
        if w.chars().all(|c| c.is_ascii_digit())
            && w.len() <= 2
            && (s.get(i) == Some(&'<') || s.get(i) == Some(&'>'))
        {
            let op = OPS
                .iter()
                .find(|op| starts_with(&s, i, op))
                .copied()
                .unwrap_or(">");
            i += op.len();
            let mut hd = None;
            if op.starts_with("<<") {
                heredocs.push(HereDoc::default());
                hd = Some(heredocs.len() - 1);
                want_delim = Some((heredocs.len() - 1, op == "<<-"));
            }
            toks.push(Tok::Redir {
                fd: w.parse().ok(),
                op,
                heredoc: hd,
            });
            continue;
        }
        if let Some((idx, strip)) = want_delim.take() {
            let quoted = w.contains(['\'', '"', '\\']);
            heredocs[idx].expand = !quoted;
            let delim: String = w
                .chars()
                .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                .collect();
            pending.push((idx, delim, strip));
        }
        toks.push(Tok::Word(w));
    }
    Lexed { toks, heredocs }
}

fn starts_with(s: &[char], i: usize, p: &str) -> bool {
    p.chars().enumerate().all(|(k, c)| s.get(i + k) == Some(&c))
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
    )
}

/// Advance over one word (quotes, `$(...)`, `${...}`, backquotes nest).
fn scan_word(s: &[char], i: &mut usize) -> Result<(), String> {
    while *i < s.len() && !is_meta(s[*i]) {
        scan_unit(s, i, false)?;
    }
    Ok(())
}

/// One character or one quoted/substituted unit of a word.
pub fn scan_unit(s: &[char], i: &mut usize, in_dq: bool) -> Result<(), String> {
    match s[*i] {
        '\\' => *i = (*i + 2).min(s.len()),
        '\'' if !in_dq => {
            *i += 1;
            while *i < s.len() && s[*i] != '\'' {
                *i += 1;
            }
            if *i >= s.len() {
                return Err("unterminated quoted string".into());
            }
            *i += 1;
        }
        '"' if !in_dq => {
            *i += 1;
            while *i < s.len() && s[*i] != '"' {
                scan_unit(s, i, true)?;
            }
            if *i >= s.len() {
                return Err("unterminated quoted string".into());
            }
            *i += 1;
        }
        '`' => {
            *i += 1;
            while *i < s.len() && s[*i] != '`' {
                if s[*i] == '\\' {
                    *i += 1;
                }
                *i += 1;
            }
            if *i >= s.len() {
                return Err("EOF in backquote substitution".into());
            }
            *i += 1;
        }
        '$' if s.get(*i + 1) == Some(&'(') => {
            *i += 2;
            let mut depth = 1;
            while *i < s.len() {
                match s[*i] {
                    '(' => {
                        depth += 1;
                        *i += 1;
                    }
                    ')' => {
                        depth -= 1;
                        *i += 1;
                        if depth == 0 {
                            return Ok(());
                        }
                    }
                    '#' if s[*i - 1].is_whitespace() => {
                        while *i < s.len() && s[*i] != '\n' {
                            *i += 1;
                        }
                    }
                    _ => scan_unit(s, i, false)?,
                }
            }
            return Err("unexpected end of file (expecting \")\")".into());
        }
        '$' if s.get(*i + 1) == Some(&'{') => {
            *i += 2;
            while *i < s.len() && s[*i] != '}' {
                scan_unit(s, i, in_dq)?;
            }
            if *i >= s.len() {
                return Err("missing '}'".into());
            }
            *i += 1;
        }
        _ => *i += 1,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_substitutions() {
        let l = lex("echo 'a b' \"c $(x \"y\")\" $((1 + 2))|wc 2>&1");
        assert_eq!(
            l.toks,
            vec![
                Tok::Word("echo".into()),
                Tok::Word("'a b'".into()),
                Tok::Word("\"c $(x \"y\")\"".into()),
                Tok::Word("$((1 + 2))".into()),
                Tok::Op("|"),
                Tok::Word("wc".into()),
                Tok::Redir {
                    fd: Some(2),
                    op: ">&",
                    heredoc: None
                },
                Tok::Word("1".into()),
            ]
        );
    }

    #[test]
    fn heredoc_bodies() {
        let l = lex("cat <<EOF; cat <<-'X'\nhi $A\nEOF\n\tlit $A\nX\necho after");
        assert_eq!(l.heredocs[0].body, "hi $A\n");
        assert!(l.heredocs[0].expand);
        assert_eq!(l.heredocs[1].body, "lit $A\n");
        assert!(!l.heredocs[1].expand);
        assert_eq!(l.toks.last(), Some(&Tok::Word("after".into())));
    }

    #[test]
    fn errors() {
        assert_eq!(
            lex("echo 'a").toks.last(),
            Some(&Tok::Error("unterminated quoted string".into()))
        );
        assert_eq!(
            lex("echo `a").toks.last(),
            Some(&Tok::Error("EOF in backquote substitution".into()))
        );
    }
}
