//! The shell grammar (POSIX sh as busybox ash accepts it) into a tree.
//! A script is parsed one complete command (one line) at a time, as ash
//! does, so the lines before a syntax error still run.

use std::sync::Arc;

use super::lexer::{lex, HereDoc, Tok};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirOp {
    In,
    Out,
    Append,
    DupOut,
    DupIn,
    ReadWrite,
    HereDoc(bool /*expand*/),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redir {
    pub fd: i32,
    pub op: RedirOp,
    /// The target word, or a here-document's body.
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Simple {
        words: Vec<String>,
        redirs: Vec<Redir>,
        line: usize,
    },
    Pipeline {
        cmds: Vec<Cmd>,
        bang: bool,
    },
    And(Box<Cmd>, Box<Cmd>),
    Or(Box<Cmd>, Box<Cmd>),
    Seq(Vec<Cmd>),
    Bg(Box<Cmd>),
    Brace(Box<Cmd>),
    Sub(Box<Cmd>),
    If(Vec<(Cmd, Cmd)>, Option<Box<Cmd>>),
    Loop {
        until: bool,
        cond: Box<Cmd>,
        body: Box<Cmd>,
    },
    For {
        var: String,
        list: Option<Vec<String>>,
        body: Box<Cmd>,
    },
    Case {
        word: String,
        arms: Vec<(Vec<String>, Cmd)>,
    },
    Func {
        name: String,
        body: Arc<Cmd>,
    },
    Redirected(Box<Cmd>, Vec<Redir>),
}

const ENDS: &[&str] = &["then", "else", "elif", "fi", "do", "done", "esac", "}"];

struct Parser {
    toks: Vec<Tok>,
    heredocs: Vec<HereDoc>,
    pos: usize,
    line: usize,
}

/// Parse a whole script: each complete command, and the syntax error (the
/// message after "syntax error: ") that stopped parsing, if any.
pub fn parse_script(src: &str) -> (Vec<Cmd>, Option<String>) {
    let l = lex(src);
    let mut p = Parser {
        toks: l.toks,
        heredocs: l.heredocs,
        pos: 0,
        line: 1,
    };
    let mut cmds = Vec::new();
    loop {
        match p.complete_command() {
            Ok(Some(c)) => cmds.push(c),
            Ok(None) => return (cmds, None),
            Err(e) => return (cmds, Some(e)),
        }
    }
}

fn show(t: Option<&Tok>) -> String {
    match t {
        None => "end of file".into(),
        Some(Tok::Word(w)) => format!("\"{w}\""),
        Some(Tok::Op(o)) => format!("\"{o}\""),
        Some(Tok::Newline) => "newline".into(),
        Some(Tok::Redir { op, .. }) => format!("\"{op}\""),
        Some(Tok::Error(e)) => e.clone(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        if t == Some(Tok::Newline) {
            self.line += 1;
        }
        self.pos += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn is_op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(x)) if *x == o)
    }

    fn unexpected(&self) -> String {
        match self.peek() {
            Some(Tok::Error(e)) => e.clone(),
            None => "unexpected end of file".into(),
            t => format!("unexpected {}", show(t)),
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<(), String> {
        if self.is_word(w) {
            self.next();
            return Ok(());
        }
        Err(match self.peek() {
            None => format!("unexpected end of file (expecting \"{w}\")"),
            Some(Tok::Error(e)) => e.clone(),
            t => format!("unexpected {}", show(t)),
        })
    }

    fn linebreak(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.next();
        }
    }

    fn complete_command(&mut self) -> Result<Option<Cmd>, String> {
        self.linebreak();
        match self.peek() {
            None => return Ok(None),
            Some(Tok::Error(e)) => return Err(e.clone()),
            _ => {}
        }
        let c = self.list(true, None)?;
        match self.peek() {
            None | Some(Tok::Newline) => Ok(Some(c)),
            _ => Err(self.unexpected()),
        }
    }

    fn at_list_end(&self, top: bool) -> bool {
        match self.peek() {
            None | Some(Tok::Error(_)) => true,
            Some(Tok::Newline) => top,
            Some(Tok::Op(")")) | Some(Tok::Op(";;")) => true,
            Some(Tok::Word(w)) => ENDS.contains(&w.as_str()),
            _ => false,
        }
    }

    /// A list of and-or lists; `closing` names what must end it (for the
    /// "expecting" of an early end of file).
    fn list(&mut self, top: bool, closing: Option<&str>) -> Result<Cmd, String> {
        let mut items = Vec::new();
        loop {
            if !top {
                self.linebreak();
            }
            if self.at_list_end(top) {
                break;
            }
            let ao = self.and_or()?;
            if self.is_op(";") {
                self.next();
                items.push(ao);
            } else if self.is_op("&") {
                self.next();
                items.push(Cmd::Bg(Box::new(ao)));
            } else if !top && self.peek() == Some(&Tok::Newline) {
                self.next();
                items.push(ao);
            } else {
                items.push(ao);
                break;
            }
        }
        if items.is_empty() {
            return Err(match (self.peek(), closing) {
                (None, Some(c)) => format!("unexpected end of file (expecting \"{c}\")"),
                _ => self.unexpected(),
            });
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Cmd::Seq(items)
        })
    }

    fn and_or(&mut self) -> Result<Cmd, String> {
        let mut left = self.pipeline()?;
        loop {
            let and = if self.is_op("&&") {
                true
            } else if self.is_op("||") {
                false
            } else {
                return Ok(left);
            };
            self.next();
            self.linebreak();
            let right = self.pipeline()?;
            left = if and {
                Cmd::And(Box::new(left), Box::new(right))
            } else {
                Cmd::Or(Box::new(left), Box::new(right))
            };
        }
    }

    fn pipeline(&mut self) -> Result<Cmd, String> {
        let bang = self.is_word("!");
        if bang {
            self.next();
        }
        let mut cmds = vec![self.command()?];
        while self.is_op("|") {
            self.next();
            self.linebreak();
            cmds.push(self.command()?);
        }
        Ok(if cmds.len() == 1 && !bang {
            cmds.pop().unwrap()
        } else {
            Cmd::Pipeline { cmds, bang }
        })
    }

    fn redir(&mut self) -> Result<Option<Redir>, String> {
        let Some(Tok::Redir { fd, op, heredoc }) = self.peek().cloned() else {
            return Ok(None);
        };
        self.next();
        let Some(Tok::Word(target)) = self.peek().cloned() else {
            return Err(self.unexpected());
        };
        self.next();
        let (op, default_fd) = match op {
            "<" => (RedirOp::In, 0),
            ">" | ">|" => (RedirOp::Out, 1),
            ">>" => (RedirOp::Append, 1),
            ">&" => (RedirOp::DupOut, 1),
            "<&" => (RedirOp::DupIn, 0),
            "<>" => (RedirOp::ReadWrite, 0),
            _ => {
                let h = &self.heredocs[heredoc.unwrap_or(0)];
                let r = Redir {
                    fd: fd.unwrap_or(0),
                    op: RedirOp::HereDoc(h.expand),
                    target: h.body.clone(),
                };
                return Ok(Some(r));
            }
        };
        Ok(Some(Redir {
            fd: fd.unwrap_or(default_fd),
            op,
            target,
        }))
    }

    fn command(&mut self) -> Result<Cmd, String> {
        let body = match self.peek().cloned() {
            Some(Tok::Word(w)) if w == "{" => {
                self.next();
                let b = self.list(false, Some("}"))?;
                self.expect_word("}")?;
                Cmd::Brace(Box::new(b))
            }
            Some(Tok::Op("(")) => {
                self.next();
                let b = self.list(false, Some(")"))?;
                if !self.is_op(")") {
                    return Err(match self.peek() {
                        None => "unexpected end of file (expecting \")\")".into(),
                        _ => self.unexpected(),
                    });
                }
                self.next();
                Cmd::Sub(Box::new(b))
            }
            Some(Tok::Word(w)) if w == "if" => self.if_clause()?,
            Some(Tok::Word(w)) if w == "while" || w == "until" => {
                self.next();
                let cond = self.list(false, Some("do"))?;
                self.expect_word("do")?;
                let body = self.list(false, Some("done"))?;
                self.expect_word("done")?;
                Cmd::Loop {
                    until: w == "until",
                    cond: Box::new(cond),
                    body: Box::new(body),
                }
            }
            Some(Tok::Word(w)) if w == "for" => self.for_clause()?,
            Some(Tok::Word(w)) if w == "case" => self.case_clause()?,
            Some(Tok::Word(w)) if ENDS.contains(&w.as_str()) => return Err(self.unexpected()),
            Some(Tok::Word(w))
                if self.toks.get(self.pos + 1) == Some(&Tok::Op("("))
                    && self.toks.get(self.pos + 2) == Some(&Tok::Op(")"))
                    && is_name(&w) =>
            {
                self.pos += 3;
                self.linebreak();
                let body = self.command()?;
                return Ok(Cmd::Func {
                    name: w,
                    body: Arc::new(body),
                });
            }
            _ => return self.simple(),
        };
        let mut redirs = Vec::new();
        while let Some(r) = self.redir()? {
            redirs.push(r);
        }
        Ok(if redirs.is_empty() {
            body
        } else {
            Cmd::Redirected(Box::new(body), redirs)
        })
    }

    fn simple(&mut self) -> Result<Cmd, String> {
        let line = self.line;
        let mut words = Vec::new();
        let mut redirs = Vec::new();
        loop {
            if let Some(r) = self.redir()? {
                redirs.push(r);
                continue;
            }
            match self.peek() {
                Some(Tok::Word(w)) => {
                    words.push(w.clone());
                    self.next();
                }
                _ => break,
            }
        }
        if words.is_empty() && redirs.is_empty() {
            return Err(self.unexpected());
        }
        Ok(Cmd::Simple {
            words,
            redirs,
            line,
        })
    }

    fn if_clause(&mut self) -> Result<Cmd, String> {
        self.next();
        let mut arms = Vec::new();
        let mut els = None;
        loop {
            let cond = self.list(false, Some("then"))?;
            self.expect_word("then")?;
            let body = self.list(false, Some("fi"))?;
            arms.push((cond, body));
            if self.is_word("elif") {
                self.next();
                continue;
            }
            if self.is_word("else") {
                self.next();
                els = Some(Box::new(self.list(false, Some("fi"))?));
            }
            self.expect_word("fi")?;
            return Ok(Cmd::If(arms, els));
        }
    }

    fn for_clause(&mut self) -> Result<Cmd, String> {
        self.next();
        let var = match self.next() {
            Some(Tok::Word(w)) if is_name(&w) => w,
            Some(Tok::Word(w)) => return Err(format!("bad for loop variable '{w}'")),
            t => return Err(format!("unexpected {}", show(t.as_ref()))),
        };
        self.linebreak();
        let mut list = None;
        if self.is_word("in") {
            self.next();
            let mut ws = Vec::new();
            while let Some(Tok::Word(w)) = self.peek().cloned() {
                ws.push(w);
                self.next();
            }
            if self.is_op(";") || self.peek() == Some(&Tok::Newline) {
                self.next();
            }
            list = Some(ws);
        } else if self.is_op(";") {
            self.next();
        }
        self.linebreak();
        self.expect_word("do")?;
        let body = self.list(false, Some("done"))?;
        self.expect_word("done")?;
        Ok(Cmd::For {
            var,
            list,
            body: Box::new(body),
        })
    }

    fn case_clause(&mut self) -> Result<Cmd, String> {
        self.next();
        let word = match self.next() {
            Some(Tok::Word(w)) => w,
            t => return Err(format!("unexpected {}", show(t.as_ref()))),
        };
        self.linebreak();
        self.expect_word("in")?;
        let mut arms = Vec::new();
        loop {
            self.linebreak();
            if self.is_word("esac") {
                self.next();
                return Ok(Cmd::Case { word, arms });
            }
            if self.is_op("(") {
                self.next();
            }
            let mut pats = Vec::new();
            loop {
                match self.next() {
                    Some(Tok::Word(w)) => pats.push(w),
                    None => return Err("unexpected end of file (expecting \")\")".into()),
                    t => return Err(format!("unexpected {}", show(t.as_ref()))),
                }
                if self.is_op("|") {
                    self.next();
                    continue;
                }
                if self.is_op(")") {
                    self.next();
                    break;
                }
                return Err(self.unexpected());
            }
            self.linebreak();
            let body = if self.is_op(";;") || self.is_word("esac") {
                Cmd::Seq(Vec::new())
            } else {
                self.list(false, Some("esac"))?
            };
            arms.push((pats, body));
            if self.is_op(";;") {
                self.next();
            } else if !self.is_word("esac") {
                return Err(match self.peek() {
                    None => "unexpected end of file (expecting \"esac\")".into(),
                    _ => self.unexpected(),
                });
            }
        }
    }
}

pub fn is_name(w: &str) -> bool {
    let mut c = w.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_script(s).1.unwrap_or_default()
    }

    #[test]
    fn structures() {
        let (c, e) = parse_script("if a; then b; elif c; then d; else e; fi");
        assert_eq!(e, None);
        assert!(matches!(&c[0], Cmd::If(arms, Some(_)) if arms.len() == 2));
        let (c, _) = parse_script("a | b && c || d &");
        assert!(matches!(&c[0], Cmd::Bg(_)));
        let (c, _) = parse_script("f() { echo; }\nfor i in 1 2; do :; done");
        assert_eq!(c.len(), 2);
        assert!(matches!(&c[1], Cmd::For { list: Some(l), .. } if l.len() == 2));
        let (c, e) = parse_script("case $x in a|b) echo 1;; *) echo 2;; esac");
        assert_eq!(e, None);
        assert!(matches!(&c[0], Cmd::Case { arms, .. } if arms.len() == 2));
        let (c, _) = parse_script("{ a; } >/dev/null 2>&1");
        assert!(matches!(&c[0], Cmd::Redirected(_, r) if r.len() == 2));
    }

    #[test]
    fn syntax_errors_as_ash_words_them() {
        assert_eq!(
            err("if true; then echo"),
            "unexpected end of file (expecting \"fi\")"
        );
        assert_eq!(err("fi"), "unexpected \"fi\"");
        assert_eq!(err("echo a &&"), "unexpected end of file");
        assert_eq!(err("&& echo"), "unexpected \"&&\"");
        assert_eq!(err("echo )"), "unexpected \")\"");
        assert_eq!(err("(echo"), "unexpected end of file (expecting \")\")");
        assert_eq!(
            err("while true; do"),
            "unexpected end of file (expecting \"done\")"
        );
        assert_eq!(err("f() {"), "unexpected end of file (expecting \"}\")");
        assert_eq!(err("a | | b"), "unexpected \"|\"");
        assert_eq!(err("; ;"), "unexpected \";\"");
        // commands before the error still parse
        let (c, e) = parse_script("echo a\nfi");
        assert_eq!(c.len(), 1);
        assert_eq!(e.as_deref(), Some("unexpected \"fi\""));
    }
}
