//! A small evaluator for the Go-template subset docker's `--format` uses, over
//! JSON values: `{{.A.B}}`, `{{.}}`, `{{json .Config}}`, `{{upper .X}}`,
//! `{{lower .X}}`, `{{len .X}}`, `{{join .Args " "}}`, `{{index .Data "k"}}`,
//! pipes (`{{.X | json}}`), `{{range .X}}...{{end}}`,
//! `{{if .X}}...{{else}}...{{end}}`, trim markers (`{{- x -}}`), and literal
//! text around them. Values print as Go prints them (`[a b]`, `map[k:v]`,
//! `<no value>` for a missing field).

use anyhow::{bail, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
enum Arg {
    Path(Vec<String>), // `.` is an empty path
    Str(String),
    Func(String),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Vec<Arg>>), // commands separated by |
    Range(Vec<Vec<Arg>>, Vec<Node>, Vec<Node>),
    If(Vec<Vec<Arg>>, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_string();
        let mut inner_start = open + 2;
        if rest[inner_start..].starts_with("- ") {
            text = text.trim_end().to_string();
            inner_start += 1;
        }
        if !text.is_empty() {
            out.push(Tok::Text(text));
        }
        let Some(close) = rest[inner_start..].find("}}") else {
            bail!("template: unclosed action");
        };
        let mut inner = &rest[inner_start..inner_start + close];
        let mut after = inner_start + close + 2;
        let trim_right = inner.ends_with(" -");
        if trim_right {
            inner = &inner[..inner.len() - 1];
        }
        out.push(Tok::Action(inner.trim().to_string()));
        rest = &rest[after..];
        if trim_right {
            let trimmed = rest.trim_start();
            after = rest.len() - trimmed.len();
            rest = &rest[after..];
        }
    }
    if !rest.is_empty() {
        out.push(Tok::Text(rest.to_string()));
    }
    Ok(out)
}

fn split_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            chars.next();
            let mut w = String::from("\"");
            let mut closed = false;
            while let Some(ch) = chars.next() {
                if ch == c {
                    closed = true;
                    break;
                }
                if ch == '\\' && c == '"' {
                    match chars.next() {
                        Some('n') => w.push('\n'),
                        Some('t') => w.push('\t'),
                        Some(o) => w.push(o),
                        None => {}
                    }
                } else {
                    w.push(ch);
                }
            }
            if !closed {
                bail!("template: unterminated quoted string");
            }
            words.push(w);
        } else if c == '|' {
            chars.next();
            words.push("|".into());
        } else {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '|' {
                    break;
                }
                w.push(ch);
                chars.next();
            }
            words.push(w);
        }
    }
    Ok(words)
}

const FUNCS: &[&str] = &[
    "json", "upper", "lower", "len", "join", "index", "title", "println",
];

fn parse_pipeline(s: &str) -> Result<Vec<Vec<Arg>>> {
    let mut cmds = vec![Vec::new()];
    for w in split_words(s)? {
        if w == "|" {
            cmds.push(Vec::new());
            continue;
        }
        let arg = if let Some(q) = w.strip_prefix('"') {
            Arg::Str(q.to_string())
        } else if w == "." {
            Arg::Path(vec![])
        } else if let Some(p) = w.strip_prefix('.') {
            Arg::Path(p.split('.').map(String::from).collect())
        } else if FUNCS.contains(&w.as_str()) {
            Arg::Func(w)
        } else {
            bail!("template: function {w:?} not defined");
        };
        cmds.last_mut().unwrap().push(arg);
    }
    if cmds.iter().any(|c| c.is_empty()) {
        bail!("template: missing value for command");
    }
    Ok(cmds)
}

/// Parse until one of `stops` (an action keyword); returns the nodes and the stop met.
fn parse_nodes(
    toks: &mut std::iter::Peekable<std::vec::IntoIter<Tok>>,
    stops: &[&str],
) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(tok) = toks.next() {
        match tok {
            Tok::Text(t) => nodes.push(Node::Text(t)),
            Tok::Action(a) => {
                let keyword = a.split_whitespace().next().unwrap_or("");
                if stops.contains(&keyword) {
                    return Ok((nodes, Some(keyword.to_string())));
                }
                match keyword {
                    "range" | "if" => {
                        let pipe = parse_pipeline(a[keyword.len()..].trim())?;
                        let (body, stop) = parse_nodes(toks, &["else", "end"])?;
                        let mut alt = Vec::new();
                        match stop.as_deref() {
                            Some("else") => {
                                let (a2, stop2) = parse_nodes(toks, &["end"])?;
                                if stop2.is_none() {
                                    bail!("template: unexpected EOF: missing {{{{end}}}}");
                                }
                                alt = a2;
                            }
                            Some("end") => {}
                            _ => bail!("template: unexpected EOF: missing {{{{end}}}}"),
                        }
                        nodes.push(if keyword == "range" {
                            Node::Range(pipe, body, alt)
                        } else {
                            Node::If(pipe, body, alt)
                        });
                    }
                    "end" | "else" => bail!("template: unexpected {{{{{keyword}}}}}"),
                    _ if a.starts_with("/*") => {} // a comment
                    _ => nodes.push(Node::Action(parse_pipeline(&a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

impl Template {
    /// Parse a format; `\t` and `\n` written literally become tab and newline, as docker does.
    pub fn parse(src: &str) -> Result<Template> {
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let mut toks = lex(&src)?.into_iter().peekable();
        let (nodes, stop) = parse_nodes(&mut toks, &[])?;
        if stop.is_some() {
            bail!("template: unexpected keyword");
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }

    /// The field paths the template prints (for table headers).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            if let Node::Action(cmds) = n {
                for c in cmds {
                    for a in c {
                        if let Arg::Path(p) = a {
                            out.push(p.join("."));
                        }
                    }
                }
            }
        }
        out
    }
}

fn lookup<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = data;
    for key in path {
        v = v.get(key)?;
    }
    Some(v)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(false),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// How Go's text/template prints a value.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_print(&o[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

fn eval_arg(a: &Arg, data: &Value) -> Value {
    match a {
        Arg::Path(p) => lookup(data, p).cloned().unwrap_or(Value::Null),
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Func(_) => Value::Null,
    }
}

fn call(func: &str, args: &[Value]) -> Result<Value> {
    let one = || -> Result<&Value> {
        args.first()
            .ok_or_else(|| anyhow::anyhow!("template: wrong number of args for {func}"))
    };
    Ok(match func {
        "json" => Value::String(serde_json::to_string(one()?)?),
        "upper" => Value::String(go_print(one()?).to_uppercase()),
        "lower" => Value::String(go_print(one()?).to_lowercase()),
        "title" => {
            let s = go_print(one()?);
            let mut c = s.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            })
        }
        "len" => Value::from(match one()? {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::String(s) => s.len(),
            other => bail!("template: len of {}", go_print(other)),
        }),
        "join" => {
            let sep = args.get(1).map(go_print).unwrap_or_default();
            match one()? {
                Value::Array(a) => {
                    Value::String(a.iter().map(go_print).collect::<Vec<_>>().join(&sep))
                }
                other => Value::String(go_print(other)),
            }
        }
        "index" => {
            let v = one()?;
            let key = args.get(1).cloned().unwrap_or(Value::Null);
            match (v, &key) {
                (Value::Object(o), Value::String(k)) => o.get(k).cloned().unwrap_or(Value::Null),
                (Value::Array(a), Value::String(k)) => k
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get(i).cloned())
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(go_print).collect::<Vec<_>>().join(" ")
        )),
        other => bail!("template: function {other:?} not defined"),
    })
}

fn eval_pipeline(cmds: &[Vec<Arg>], data: &Value) -> Result<Value> {
    let mut piped: Option<Value> = None;
    for cmd in cmds {
        let value = match &cmd[0] {
            Arg::Func(f) => {
                let mut args: Vec<Value> = cmd[1..].iter().map(|a| eval_arg(a, data)).collect();
                if let Some(p) = piped.take() {
                    args.push(p);
                }
                call(f, &args)?
            }
            a => {
                if cmd.len() > 1 || piped.is_some() {
                    bail!("template: can't give argument to non-function");
                }
                eval_arg(a, data)
            }
        };
        piped = Some(value);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn render_nodes(nodes: &[Node], data: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&go_print(&eval_pipeline(p, data)?)),
            Node::If(p, body, alt) => {
                let v = eval_pipeline(p, data)?;
                render_nodes(if truthy(&v) { body } else { alt }, data, out)?;
            }
            Node::Range(p, body, alt) => {
                let v = eval_pipeline(p, data)?;
                let items: Vec<Value> = match v {
                    Value::Array(a) => a,
                    Value::Object(o) => {
                        let mut keys: Vec<_> = o.keys().cloned().collect();
                        keys.sort();
                        keys.into_iter().map(|k| o[&k].clone()).collect()
                    }
                    Value::Null => vec![],
                    other => bail!("template: range can't iterate over {}", go_print(&other)),
                };
                if items.is_empty() {
                    render_nodes(alt, data, out)?;
                }
                for item in &items {
                    render_nodes(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_json_and_text() {
        let v = json!({"State": {"ExitCode": 137, "Running": false}, "Name": "/web",
                        "Config": {"Env": ["A=1", "B=2"], "Tty": false}});
        assert_eq!(r("{{.State.ExitCode}}", &v), "137");
        assert_eq!(
            r("name={{.Name}} run={{.State.Running}}", &v),
            "name=/web run=false"
        );
        assert_eq!(
            r("{{json .Config}}", &v),
            r#"{"Env":["A=1","B=2"],"Tty":false}"#
        );
        assert_eq!(
            r("{{.Config | json}}", &v),
            r#"{"Env":["A=1","B=2"],"Tty":false}"#
        );
        assert_eq!(r("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(r("{{range .Config.Env}}<{{.}}>{{end}}", &v), "<A=1><B=2>");
        assert_eq!(r("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}", &v), "down");
        assert_eq!(r("{{.Nope}}", &v), "<no value>");
        assert_eq!(r("{{upper .Name}}\\t{{len .Config.Env}}", &v), "/WEB\t2");
        assert_eq!(r("a {{- .Name -}} b", &v), "a/webb");
        assert!(Template::parse("{{frob .X}}").is_err());
        assert!(Template::parse("{{range .X}}").is_err());
    }
}
