//! Parsed nodes → typed instructions in stages, as BuildKit's
//! `frontend/dockerfile/instructions` does: each instruction's flags
//! (BuildKit's BFlags rules: unknown, duplicate and value-less flags are
//! errors), argument counts, FROM stage names, HEALTHCHECK options, RUN's
//! `--mount`, `--network` and `--security`, heredoc files, and ARGs before
//! the first FROM. Errors carry the instruction's line.
//!
//! Words are kept as written; a builder expands them per stage with
//! `Instruction::expand` (the instructions and fields BuildKit expands),
//! giving it the stage's ENV and ARG values.

use super::parser::{self, Ast, Heredoc, Node, Warning};
use super::ParseError;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written `KEY value` (no `=`).
    pub no_delim: bool,
}

/// An ARG: a name and maybe a default.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgDef {
    pub key: String,
    pub value: Option<String>,
}

/// A heredoc given to RUN as a file (`RUN <<EOF`).
#[derive(Clone, Debug, PartialEq)]
pub struct InlineFile {
    pub name: String,
    pub data: String,
    pub chomp: bool,
}

/// RUN, CMD and ENTRYPOINT's command: exec form as is, shell form as the
/// one string to give the SHELL (`prepend_shell`).
#[derive(Clone, Debug, PartialEq)]
pub struct CmdLine {
    pub args: Vec<String>,
    pub prepend_shell: bool,
    pub files: Vec<InlineFile>,
}

/// A COPY/ADD source given inline as a heredoc.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceContent {
    pub path: String,
    pub data: String,
    pub expand: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Copy {
    pub sources: Vec<String>,
    pub contents: Vec<SourceContent>,
    pub dest: String,
    /// `--from`: a stage name or index, or an image.
    pub from: String,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    /// ADD only.
    pub checksum: String,
    pub keep_git_dir: Option<bool>,
    pub unpack: Option<bool>,
}

/// One `RUN --mount=...` (BuildKit's Mount).
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub kind: String,
    pub from: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub size_limit: i64,
    pub cache_id: String,
    pub sharing: String,
    pub required: bool,
    pub env: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub cmd: CmdLine,
    /// The `--mount` values as written; `mounts` once expanded.
    pub mount_specs: Vec<String>,
    pub mounts: Vec<Mount>,
    /// `default`, `none` or `host`.
    pub network: String,
    /// `sandbox` or `insecure`.
    pub security: String,
    pub flags_used: Vec<String>,
}

/// HEALTHCHECK: `test` is `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", s]`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Health {
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Instruction {
    Add(Copy),
    Arg(Vec<ArgDef>),
    Cmd(CmdLine),
    Copy(Copy),
    Entrypoint(CmdLine),
    Env(Vec<KeyValue>),
    Expose(Vec<String>),
    Healthcheck(Health),
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// The trigger instruction's text, run in builds FROM this image.
    Onbuild(String),
    Run(Run),
    Shell(Vec<String>),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
}

/// An instruction and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    pub line: usize,
    pub end_line: usize,
    /// The instruction's text (continuations joined), e.g. for `history`.
    pub original: String,
    pub instruction: Instruction,
}

/// `FROM base [AS name]` and the instructions up to the next FROM.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub base: String,
    /// Lower-cased, as BuildKit keeps it.
    pub name: Option<String>,
    pub platform: Option<String>,
    pub line: usize,
    pub original: String,
    pub commands: Vec<Command>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines).
    pub meta_args: Vec<Command>,
    pub stages: Vec<Stage>,
    pub escape: char,
    pub warnings: Vec<Warning>,
}

/// Parse a Dockerfile into stages.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let ast = parser::parse(text)?;
    from_ast(&ast)
}

/// Typed stages from a parsed file (BuildKit's `instructions.Parse`).
pub fn from_ast(ast: &Ast) -> Result<Dockerfile, ParseError> {
    let mut df = Dockerfile {
        meta_args: Vec::new(),
        stages: Vec::new(),
        escape: ast.escape,
        warnings: ast.warnings.clone(),
    };
    for node in &ast.nodes {
        let err = |message: String| ParseError {
            line: node.start_line,
            message,
        };
        match parse_node(node).map_err(err)? {
            Parsed::Stage(s) => df.stages.push(s),
            Parsed::Command(c) => {
                if df.stages.is_empty() && matches!(c.instruction, Instruction::Arg(_)) {
                    df.meta_args.push(c);
                    continue;
                }
                match df.stages.last_mut() {
                    Some(stage) => stage.commands.push(c),
                    None => return Err(err("no build stage in current context".into())),
                }
            }
        }
    }
    Ok(df)
}

pub enum Parsed {
    Stage(Stage),
    Command(Command),
}

/// One node as a stage start or a command (BuildKit's `ParseInstruction`).
pub fn parse_node(node: &Node) -> Result<Parsed, String> {
    let mut flags = Flags::new(&node.flags);
    let args = node_args(node);
    let name = node.name.to_ascii_lowercase();
    let cmd = |instruction| {
        Ok(Parsed::Command(Command {
            line: node.start_line,
            end_line: node.end_line,
            original: node.original.clone(),
            instruction,
        }))
    };
    match name.as_str() {
        "env" => {
            flags.parse()?;
            cmd(Instruction::Env(key_values(&args, "ENV")?))
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            flags.parse()?;
            cmd(Instruction::Maintainer(args[0].clone()))
        }
        "label" => {
            flags.parse()?;
            cmd(Instruction::Label(key_values(&args, "LABEL")?))
        }
        "add" | "copy" => {
            let upper = name.to_ascii_uppercase();
            if args.len() < 2 {
                return Err(format!("{upper} requires at least two arguments, but only one was provided. Destination could not be determined"));
            }
            let add = name == "add";
            flags.string("chown");
            flags.string("chmod");
            flags.boolean("link");
            flags.strings("exclude");
            if add {
                flags.boolean("keep-git-dir");
                flags.string("checksum");
                flags.boolean("unpack");
            } else {
                flags.string("from");
                flags.boolean("parents");
            }
            flags.parse()?;
            let mut c = sources_and_dest(&args, &node.heredocs, &upper)?;
            c.chown = flags.value("chown");
            c.chmod = flags.value("chmod");
            c.link = flags.value("link") == "true";
            c.excludes = flags.values("exclude");
            if add {
                c.checksum = flags.value("checksum");
                c.keep_git_dir = flags.used_bool("keep-git-dir");
                c.unpack = flags.used_bool("unpack");
                cmd(Instruction::Add(c))
            } else {
                c.from = flags.value("from");
                c.parents = flags.value("parents") == "true";
                cmd(Instruction::Copy(c))
            }
        }
        "from" => {
            let stage_name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let n = args[2].to_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            super::expand::go_quote(&args[2])
                        ));
                    }
                    Some(n)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            flags.string("platform");
            flags.parse()?;
            let platform = flags.value("platform");
            Ok(Parsed::Stage(Stage {
                base: args[0].clone(),
                name: stage_name,
                platform: (!platform.is_empty()).then_some(platform),
                line: node.start_line,
                original: node.original.trim().to_string(),
                commands: Vec::new(),
            }))
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            flags.parse()?;
            let trigger = args[0].trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let mut expr = strip_onbuild(&node.original);
            for h in &node.heredocs {
                expr.push('\n');
                expr.push_str(&h.content);
                expr.push_str(&h.name);
            }
            cmd(Instruction::Onbuild(expr))
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            flags.parse()?;
            cmd(Instruction::Workdir(args[0].clone()))
        }
        "run" => {
            flags.strings("mount");
            flags.string_default("network", "default");
            flags.string_default("security", "sandbox");
            flags.parse()?;
            let run = Run {
                cmd: cmd_line(node, &args),
                mount_specs: flags.values("mount"),
                mounts: Vec::new(),
                network: flags.value("network"),
                security: flags.value("security"),
                flags_used: flags.used.clone(),
            };
            for m in &run.mount_specs {
                parse_mount(m, None)?;
            }
            if !matches!(run.network.as_str(), "default" | "none" | "host") {
                return Err(format!(
                    "invalid network mode {}",
                    super::expand::go_quote(&run.network)
                ));
            }
            if !matches!(run.security.as_str(), "sandbox" | "insecure") {
                return Err(format!(
                    "security {} is not valid",
                    super::expand::go_quote(&run.security)
                ));
            }
            cmd(Instruction::Run(run))
        }
        "cmd" => {
            flags.parse()?;
            cmd(Instruction::Cmd(cmd_line(node, &args)))
        }
        "entrypoint" => {
            flags.parse()?;
            cmd(Instruction::Entrypoint(cmd_line(node, &args)))
        }
        "healthcheck" => cmd(Instruction::Healthcheck(health(node, &args, &mut flags)?)),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            flags.parse()?;
            let mut ports = args.clone();
            ports.sort();
            cmd(Instruction::Expose(ports))
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            flags.parse()?;
            cmd(Instruction::User(args[0].clone()))
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            flags.parse()?;
            let mut vols = Vec::new();
            for v in &args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            cmd(Instruction::Volume(vols))
        }
        "stopsignal" => {
            // BuildKit does not check STOPSIGNAL's flags.
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            cmd(Instruction::StopSignal(args[0].clone()))
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut defs = Vec::new();
            for a in &args {
                defs.push(match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => ArgDef {
                        key: k.into(),
                        value: Some(v.into()),
                    },
                    None => ArgDef {
                        key: a.clone(),
                        value: None,
                    },
                });
            }
            cmd(Instruction::Arg(defs))
        }
        "shell" => {
            flags.parse()?;
            let shell = handle_json_args(&args, node.json);
            if shell.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            cmd(Instruction::Shell(shell))
        }
        _ => Err(format!("unknown instruction: {}", node.name)),
    }
}

/// The arguments with ONBUILD's trigger flattened (BuildKit's `nodeArgs`).
fn node_args(node: &Node) -> Vec<String> {
    let mut out = node.args.clone();
    if let Some(t) = &node.trigger {
        out.push(t.name.clone());
        out.extend(node_args(t));
    }
    out
}

fn strip_onbuild(original: &str) -> String {
    let t = original.trim_start();
    match t.get(..7) {
        Some(w) if w.eq_ignore_ascii_case("onbuild") => t[7..].trim_start().to_string(),
        _ => original.to_string(),
    }
}

fn valid_stage_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some('a'..='z'))
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn key_values(args: &[String], cmd: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if args.len() % 3 != 0 {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::new();
    for t in args.chunks(3) {
        if t[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push(KeyValue {
            key: t[0].clone(),
            value: t[1].clone(),
            no_delim: t[2].is_empty(),
        });
    }
    Ok(out)
}

/// Shell form: the words joined into one string; exec form as is.
fn handle_json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() || json {
        return args.to_vec();
    }
    vec![args.join(" ")]
}

fn cmd_line(node: &Node, args: &[String]) -> CmdLine {
    CmdLine {
        args: handle_json_args(args, node.json),
        prepend_shell: !node.json,
        files: node
            .heredocs
            .iter()
            .map(|h| InlineFile {
                name: h.name.clone(),
                data: h.content.clone(),
                chomp: h.chomp,
            })
            .collect(),
    }
}

fn sources_and_dest(args: &[String], heredocs: &[Heredoc], cmd: &str) -> Result<Copy, String> {
    let (srcs, dest) = args.split_at(args.len() - 1);
    if parser::parse_heredoc(&dest[0]).ok().flatten().is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut c = Copy {
        dest: dest[0].clone(),
        ..Default::default()
    };
    for s in srcs {
        match parser::parse_heredoc(s).ok().flatten() {
            Some(h) => {
                let mut data = heredocs
                    .iter()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                if h.chomp {
                    data = chomp_heredoc(&data);
                }
                c.contents.push(SourceContent {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => c.sources.push(s.clone()),
        }
    }
    Ok(c)
}

/// `<<-`: remove the leading tabs of every line.
pub fn chomp_heredoc(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

fn health(node: &Node, args: &[String], flags: &mut Flags) -> Result<Health, String> {
    if args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = args[0].to_ascii_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Health {
            test: vec![typ],
            ..Default::default()
        });
    }
    for f in [
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ] {
        flags.string(f);
    }
    flags.parse()?;
    if typ != "CMD" {
        return Err(format!("Unknown type \"{typ}\" in HEALTHCHECK (try CMD)"));
    }
    let cmd = handle_json_args(rest, node.json);
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![if node.json {
        "CMD".to_string()
    } else {
        "CMD-SHELL".to_string()
    }];
    test.extend(cmd);
    let interval = |name: &str| -> Result<Duration, String> {
        let v = flags.value(name);
        if v.is_empty() {
            return Ok(Duration::ZERO);
        }
        let d = go_duration(&v)?;
        if !d.is_zero() && d < Duration::from_millis(1) {
            return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
        }
        Ok(d)
    };
    let retries = match flags.value("retries") {
        v if v.is_empty() => 0,
        v => {
            let r: i32 = v.parse().map_err(|_| {
                format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    super::expand::go_quote(&v)
                )
            })?;
            if r < 0 {
                return Err(format!("--retries cannot be negative ({r})"));
            }
            r as i64
        }
    };
    Ok(Health {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

/// Go's `time.ParseDuration` for non-negative values (`1h2m3.5s`, `300ms`).
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {}", super::expand::go_quote(s));
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return Err(bad());
        }
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    super::expand::go_quote(s)
                ))
            }
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    super::expand::go_quote(other),
                    super::expand::go_quote(s)
                ))
            }
        };
        total += num * nanos;
        rest = &rest[u..];
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// CSV fields of one record (the `--mount` value), `"..."` quoting with
/// `""` for a quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut f = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(
                            "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                                .into(),
                        )
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        f.push('"');
                    }
                    Some('"') => break,
                    Some(c) => f.push(c),
                }
            }
            match chars.next() {
                None => {
                    out.push(f);
                    return Ok(out);
                }
                Some(',') => out.push(f),
                Some(_) => {
                    return Err(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                            .into(),
                    )
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(f);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some(c) => f.push(c),
                }
            }
            out.push(f);
        }
    }
}

/// BuildKit's `parseMount`. Without an expander (at parse time) only
/// `from` is checked; the rest is read once the values are expanded.
pub fn parse_mount(
    val: &str,
    expander: Option<&dyn Fn(&str) -> Result<String, String>>,
) -> Result<Mount, String> {
    let mut m = Mount {
        kind: "bind".into(),
        from: String::new(),
        source: String::new(),
        target: String::new(),
        read_only: false,
        size_limit: 0,
        cache_id: String::new(),
        sharing: String::new(),
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    let parse_bool = |key: &str, v: &str| -> Result<bool, String> {
        match v {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(format!("invalid value for {key}: {v}")),
        }
    };
    for field in csv_fields(val)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(mut value) = value else {
            let Some(_) = expander else { continue };
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if m.kind == "secret" || m.kind == "ssh" => m.required = true,
                "required" => {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match expander {
            Some(e) => value = e(&value)?,
            None if key == "from" => {
                if let Some(i) = value.find('$') {
                    if i != value.len() - 1 {
                        return Err(format!("'{key}' doesn't support variable expansion, define alias stage instead"));
                    }
                }
            }
            None => continue,
        }
        match key.as_str() {
            "type" => {
                let v = value.to_lowercase();
                if !matches!(v.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
                    return Err(format!(
                        "unsupported mount type {}",
                        super::expand::go_quote(&value)
                    ));
                }
                m.kind = v;
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "required" if m.kind == "secret" || m.kind == "ssh" => {
                m.required = parse_bool(&key, &value)?
            }
            "size" if m.kind == "tmpfs" => {
                m.size_limit = crate::resources::units::ram_in_bytes(&value)
                    .map_err(|_| format!("invalid value for {key}: {value}"))?
            }
            "required" | "size" => {
                return Err(format!(
                    "unexpected key '{key}' for mount type '{}'",
                    m.kind
                ))
            }
            "id" => m.cache_id = value,
            "sharing" => {
                let v = value.to_lowercase();
                if !matches!(v.as_str(), "shared" | "private" | "locked") {
                    return Err(format!(
                        "unsupported sharing value {}",
                        super::expand::go_quote(&value)
                    ));
                }
                m.sharing = v;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value),
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !matches!(m.kind.as_str(), "secret" | "ssh" | "cache") {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!("{name} not allowed for \"{}\" type mounts", m.kind));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind.as_str(), "cache" | "tmpfs");
    }
    if m.kind == "secret" {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if !m.sharing.is_empty() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    if !m.sharing.is_empty() && m.kind != "cache" {
        return Err(format!("invalid cache sharing set for {} mount", m.kind));
    }
    Ok(m)
}

impl Instruction {
    /// Expand variables in the fields BuildKit expands (each with
    /// `expander`, normally `Lex::process_word` over the stage's ENV and
    /// ARGs): ENV and LABEL keys and values, ADD/COPY sources, destination,
    /// --chown, --chmod (and ADD's --checksum), WORKDIR, USER, VOLUME,
    /// STOPSIGNAL, EXPOSE, ARG names and defaults, RUN's --mount values.
    /// CMD, ENTRYPOINT and RUN commands stay as written (the shell expands
    /// them when they run).
    pub fn expand(
        &mut self,
        expander: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<(), String> {
        let all = |v: &mut Vec<String>| -> Result<(), String> {
            for s in v.iter_mut() {
                *s = expander(s)?;
            }
            Ok(())
        };
        match self {
            Instruction::Env(kvs) | Instruction::Label(kvs) => {
                for kv in kvs {
                    kv.key = expander(&kv.key)?;
                    kv.value = expander(&kv.value)?;
                }
            }
            Instruction::Add(c) | Instruction::Copy(c) => {
                c.chown = expander(&c.chown)?;
                c.chmod = expander(&c.chmod)?;
                c.checksum = expander(&c.checksum)?;
                all(&mut c.sources)?;
                c.dest = expander(&c.dest)?;
            }
            Instruction::Workdir(s) | Instruction::User(s) | Instruction::StopSignal(s) => {
                *s = expander(s)?
            }
            Instruction::Volume(v) | Instruction::Expose(v) => all(v)?,
            Instruction::Arg(defs) => {
                for d in defs {
                    d.key = expander(&d.key)?;
                    if let Some(v) = &d.value {
                        d.value = Some(expander(v)?);
                    }
                }
            }
            Instruction::Run(r) => {
                r.mounts = r
                    .mount_specs
                    .iter()
                    .map(|s| parse_mount(s, Some(expander)))
                    .collect::<Result<_, _>>()?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// BuildKit's BFlags: the flags an instruction accepts, checked against
/// the `--name[=value]` words written.
struct Flags {
    args: Vec<String>,
    known: Vec<(String, Kind, String, Vec<String>)>,
    used: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Str,
    Strs,
}

impl Flags {
    fn new(args: &[String]) -> Flags {
        Flags {
            args: args.to_vec(),
            known: Vec::new(),
            used: Vec::new(),
        }
    }
    fn add(&mut self, name: &str, kind: Kind, default: &str) {
        self.known
            .push((name.into(), kind, default.into(), Vec::new()));
    }
    fn boolean(&mut self, name: &str) {
        self.add(name, Kind::Bool, "false");
    }
    fn string(&mut self, name: &str) {
        self.add(name, Kind::Str, "");
    }
    fn string_default(&mut self, name: &str, default: &str) {
        self.add(name, Kind::Str, default);
    }
    fn strings(&mut self, name: &str) {
        self.add(name, Kind::Strs, "");
    }
    fn value(&self, name: &str) -> String {
        self.known
            .iter()
            .find(|f| f.0 == name)
            .map(|f| f.2.clone())
            .unwrap_or_default()
    }
    fn values(&self, name: &str) -> Vec<String> {
        self.known
            .iter()
            .find(|f| f.0 == name)
            .map(|f| f.3.clone())
            .unwrap_or_default()
    }
    fn used_bool(&self, name: &str) -> Option<bool> {
        self.used
            .iter()
            .any(|u| u == name)
            .then(|| self.value(name) == "true")
    }

    fn parse(&mut self) -> Result<(), String> {
        for a in self.args.clone() {
            if a == "--" {
                return Ok(());
            }
            let Some(stripped) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match stripped.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (stripped, None),
            };
            let flag_name = format!("--{name}");
            let Some(f) = self.known.iter_mut().find(|f| f.0 == name) else {
                return Err(format!("unknown flag: {flag_name}"));
            };
            if self.used.iter().any(|u| u == name) && f.1 != Kind::Strs {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            if !self.used.iter().any(|u| u == name) {
                self.used.push(name.to_string());
            }
            match (f.1, value) {
                (Kind::Bool, Some("")) => {
                    return Err(format!("missing a value on flag: {flag_name}"))
                }
                (Kind::Bool, v) => {
                    f.2 = match v.unwrap_or("").to_lowercase().as_str() {
                        "true" | "" => "true".into(),
                        "false" => "false".into(),
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                v.unwrap_or("")
                            ))
                        }
                    }
                }
                (_, None) => return Err(format!("missing a value on flag: {flag_name}")),
                (Kind::Str, Some(v)) => f.2 = v.to_string(),
                (Kind::Strs, Some(v)) => f.3.push(v.to_string()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::expand::{env_from_pairs, Lex};

    #[test]
    fn stages_and_commands() {
        let df = parse(
            "ARG V=1\nFROM busybox:$V AS Build\nRUN --mount=type=cache,target=/c echo hi\nCOPY --from=build --chown=1:1 a b /d/\nCMD [\"/hello\"]\nFROM scratch\nCOPY --from=build /d /\n",
        )
        .unwrap();
        assert_eq!(df.meta_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        let s = &df.stages[0];
        assert_eq!(
            (s.base.as_str(), s.name.as_deref(), s.line),
            ("busybox:$V", Some("build"), 2)
        );
        let Instruction::Run(r) = &s.commands[0].instruction else {
            panic!()
        };
        assert_eq!(r.cmd.args, vec!["echo hi"]);
        assert!(r.cmd.prepend_shell);
        assert_eq!(r.network, "default");
        let Instruction::Copy(c) = &s.commands[1].instruction else {
            panic!()
        };
        assert_eq!((c.from.as_str(), c.chown.as_str()), ("build", "1:1"));
        assert_eq!(
            (c.sources.clone(), c.dest.as_str()),
            (vec!["a".to_string(), "b".into()], "/d/")
        );
        assert_eq!(s.commands[2].line, 5);
    }

    #[test]
    fn errors_name_the_line() {
        let e = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            e("FROM x\n\nBADCMD y\n"),
            "dockerfile parse error on line 3: unknown instruction: BADCMD"
        );
        assert_eq!(
            e("FROM x\nCOPY --user=me a b\n"),
            "dockerfile parse error on line 2: unknown flag: --user"
        );
        assert_eq!(e("FROM x\nCOPY a\n"), "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
        assert_eq!(
            e("RUN x\n"),
            "dockerfile parse error on line 1: no build stage in current context"
        );
        assert_eq!(
            e("FROM x\nRUN --network=foo x\n"),
            "dockerfile parse error on line 2: invalid network mode \"foo\""
        );
        assert_eq!(e("FROM x AS 1a\n"), "dockerfile parse error on line 1: invalid name for build stage: \"1a\", name can't start with a number or contain symbols");
        assert_eq!(e("FROM x\nRUN --mount=from=$X,target=/y x\n"), "dockerfile parse error on line 2: 'from' doesn't support variable expansion, define alias stage instead");
        assert!(e("FROM x\nHEALTHCHECK CMD\n").contains("Missing command after HEALTHCHECK CMD"));
        assert!(
            e("FROM x\nSHELL sh -c\n").contains("SHELL requires the arguments to be in JSON form")
        );
    }

    #[test]
    fn expansion_in_a_stage() {
        let df = parse("FROM x\nENV A=\"hello world\" B=$HOME/x\nCOPY ${SRC:-src} $HOME/\nRUN --mount=type=tmpfs,target=$HOME,size=1m true\n").unwrap();
        let lex = Lex::new(df.escape);
        let env = env_from_pairs(&["HOME=/root"]);
        let f = |s: &str| lex.process_word(s, &env);
        let mut cmds = df.stages[0].commands.clone();
        for c in &mut cmds {
            c.instruction.expand(&f).unwrap();
        }
        let Instruction::Env(kv) = &cmds[0].instruction else {
            panic!()
        };
        assert_eq!(
            (kv[0].value.as_str(), kv[1].value.as_str()),
            ("hello world", "/root/x")
        );
        let Instruction::Copy(c) = &cmds[1].instruction else {
            panic!()
        };
        assert_eq!((c.sources[0].as_str(), c.dest.as_str()), ("src", "/root/"));
        let Instruction::Run(r) = &cmds[2].instruction else {
            panic!()
        };
        assert_eq!(
            (
                r.mounts[0].kind.as_str(),
                r.mounts[0].target.as_str(),
                r.mounts[0].size_limit
            ),
            ("tmpfs", "/root", 1 << 20)
        );
        assert!(!r.mounts[0].read_only);
    }

    #[test]
    fn healthcheck_options() {
        let df = parse(
            "FROM x\nHEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://localhost/\n",
        )
        .unwrap();
        let Instruction::Healthcheck(h) = &df.stages[0].commands[0].instruction else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://localhost/"]);
        assert_eq!((h.interval, h.retries), (Duration::from_secs(90), 3));
    }
}
