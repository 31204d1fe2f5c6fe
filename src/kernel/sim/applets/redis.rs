//! A simulated redis (7.0, Debian's redis-server and redis-tools): the
//! server and `redis-cli` speaking enough of the protocol over the simulated
//! network for what the lessons do: `PING`, `ECHO`, `SET`, `GET`, `DEL`,
//! `EXISTS`, `INCR`, `KEYS`, `DBSIZE`, `FLUSHALL`, `SAVE`, `CONFIG GET`,
//! `AUTH` (`requirepass`).
//!
//! The server is a detached program; a client in another run reaches it
//! through `reach` (routing, names from /etc/hosts) and answers itself from
//! the server's state, which is a pure function of what the server loaded
//! at its start and what it was sent since ([`Dataset::serve`]). Each
//! request is kept with the server's container (`reach::deliver`) and fed to
//! the server's own replays at its time, so a `SAVE` writes the dump into
//! the server's filesystem (its `/data` volume) when it was asked for.
//!
//! The dump is glassbox's own text format (see [`Dataset::dump`]), not
//! Redis's binary RDB: a real server cannot read a simulated dump, nor the
//! reverse. The log lines and redis-cli's output (raw when stdout is not a
//! terminal, quoted and numbered when it is) are redis 7.0's.

use super::net::{ctx, lookup};
use crate::kernel::sim::fs::SimFs;
use crate::kernel::sim::net::Path;
use crate::kernel::sim::nft::Proto;
use crate::kernel::sim::reach::{self, Delivery};
use crate::kernel::sim::sh::exec::Sh;
use crate::kernel::sim::sh::world::Proc;
use crate::kernel::sim::sh::Flow;
use std::collections::BTreeMap;

type R = Result<i32, Flow>;

/// The first line of a simulated dump.
const DUMP_MAGIC: &str = "REDIS-GLASSBOX-SIM 1";
const VERSION: &str = "7.0.15";

/// A reply, as the protocol (RESP2) types it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Value>),
}

/// The server's settings: its configuration file, then its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Directive → value, with redis's defaults for those it has.
    params: BTreeMap<String, String>,
    /// The configuration file it was started with.
    pub file: Option<String>,
}

impl Config {
    /// `redis-server [FILE] [--name value...]`, read against the server's
    /// filesystem. Err: redis's own fatal message.
    pub fn parse(args: &[String], fs: &SimFs, cwd: &str) -> Result<Config, String> {
        let mut params: BTreeMap<String, String> = [
            ("port", "6379"),
            ("bind", "* -::*"),
            ("protected-mode", "yes"),
            ("dir", cwd),
            ("dbfilename", "dump.rdb"),
            ("requirepass", ""),
            ("save", "3600 1 300 100 60 10000"),
            ("appendonly", "no"),
            ("maxmemory", "0"),
            ("maxmemory-policy", "noeviction"),
            ("daemonize", "no"),
            ("databases", "16"),
            ("loglevel", "notice"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut rest = args;
        let mut file = None;
        if let Some(first) = args.first().filter(|a| !a.starts_with("--")) {
            let text = fs.read_file(first, cwd).map_err(|e| {
                format!("\n*** FATAL CONFIG FILE ERROR (Redis {VERSION}) ***\nFatal error, can't open config file '{first}': {e}\n")
            })?;
            for line in String::from_utf8_lossy(&text).lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (k, v) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                set(&mut params, k, v.trim())?;
            }
            file = Some(first.clone());
            rest = &args[1..];
        }
        let mut i = 0;
        while i < rest.len() {
            let Some(name) = rest[i].strip_prefix("--") else {
                return Err(format!("\n*** FATAL CONFIG FILE ERROR (Redis {VERSION}) ***\nReading the configuration file, at line 2\n>>> '{}'\nBad directive or wrong number of arguments\n", rest[i]));
            };
            let mut value = Vec::new();
            i += 1;
            while i < rest.len() && !rest[i].starts_with("--") {
                value.push(rest[i].as_str());
                i += 1;
            }
            set(&mut params, name, &value.join(" "))?;
        }
        Ok(Config { params, file })
    }

    pub fn get(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn port(&self) -> u16 {
        self.get("port").parse().unwrap_or(6379)
    }

    fn password(&self) -> Option<&str> {
        Some(self.get("requirepass")).filter(|p| !p.is_empty())
    }

    /// Where `SAVE` writes and the start reads: `dir`/`dbfilename`.
    pub fn dump_path(&self) -> String {
        format!(
            "{}/{}",
            self.get("dir").trim_end_matches('/'),
            self.get("dbfilename")
        )
    }
}

/// One directive into the settings (quotes removed, sizes in bytes).
fn set(params: &mut BTreeMap<String, String>, name: &str, value: &str) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    let value = value.trim_matches('"').to_string();
    let value = if name == "maxmemory" {
        memory_bytes(&value)
            .ok_or_else(|| {
                format!("\n*** FATAL CONFIG FILE ERROR (Redis {VERSION}) ***\n>>> 'maxmemory \"{value}\"'\nargument must be a memory value\n")
            })?
            .to_string()
    } else {
        value
    };
    params.insert(name, value);
    Ok(())
}

/// redis's memory units: `1k` = 1000, `1kb` = 1024, m/mb, g/gb.
fn memory_bytes(v: &str) -> Option<u64> {
    let v = v.to_ascii_lowercase();
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits.parse().ok()?;
    let mul = match &v[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    Some(n * mul)
}

/// The server's keys and values (strings only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    keys: BTreeMap<String, String>,
}

impl Dataset {
    /// glassbox's simulated dump: a first line naming it, then each key and
    /// value as `$<length>` followed by the bytes, one line each (binary
    /// safe, and a key or value can be read with `cat`).
    pub fn dump(&self) -> Vec<u8> {
        let mut out = format!("{DUMP_MAGIC}\n").into_bytes();
        for (k, v) in &self.keys {
            for s in [k, v] {
                out.extend(format!("${}\n{s}\n", s.len()).into_bytes());
            }
        }
        out
    }

    /// Read a dump written by [`dump`](Self::dump); None if it is not one.
    pub fn load(data: &[u8]) -> Option<Dataset> {
        let rest = data.strip_prefix(format!("{DUMP_MAGIC}\n").as_bytes())?;
        let mut keys = BTreeMap::new();
        let mut at = 0;
        let mut field = || -> Option<Option<String>> {
            if at >= rest.len() {
                return Some(None);
            }
            let nl = rest[at..].iter().position(|&b| b == b'\n')? + at;
            let len: usize = std::str::from_utf8(&rest[at..nl])
                .ok()?
                .strip_prefix('$')?
                .parse()
                .ok()?;
            let s = rest.get(nl + 1..nl + 1 + len)?;
            if rest.get(nl + 1 + len) != Some(&b'\n') {
                return None;
            }
            at = nl + 2 + len;
            Some(Some(String::from_utf8_lossy(s).into_owned()))
        };
        loop {
            match field()? {
                None => return Some(Dataset { keys }),
                Some(k) => {
                    let v = field()??;
                    keys.insert(k, v);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// One client's request: its `AUTH` (redis-cli's `-a`) and command.
    /// Returns the AUTH reply, the command's reply and whether it asked
    /// for the dataset to be saved.
    pub fn serve(&mut self, cfg: &Config, d: &Delivery) -> (Option<Value>, Value, bool) {
        let mut authed = cfg.password().is_none();
        let auth = d.auth.as_ref().map(|pass| match cfg.password() {
            None => Value::Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into()),
            Some(p) if p == pass => {
                authed = true;
                Value::Status("OK".into())
            }
            Some(_) => Value::Error("WRONGPASS invalid username-password pair or user is disabled.".into()),
        });
        let Some(name) = d.words.first() else {
            return (auth, Value::Error("ERR empty command".into()), false);
        };
        let cmd = name.to_ascii_lowercase();
        let args = &d.words[1..];
        if !authed && cmd != "auth" {
            return (
                auth,
                Value::Error("NOAUTH Authentication required.".into()),
                false,
            );
        }
        let arity = |ok: bool| -> Option<Value> {
            (!ok).then(|| {
                Value::Error(format!(
                    "ERR wrong number of arguments for '{cmd}' command"
                ))
            })
        };
        let ok = || Value::Status("OK".into());
        let (reply, save) = match cmd.as_str() {
            "ping" => match args.len() {
                0 => (Value::Status("PONG".into()), false),
                1 => (Value::Bulk(Some(args[0].clone())), false),
                _ => (arity(false).unwrap(), false),
            },
            "echo" => (
                arity(args.len() == 1).unwrap_or_else(|| Value::Bulk(Some(args[0].clone()))),
                false,
            ),
            "auth" => (
                match (args.len(), cfg.password()) {
                    (1, None) => Value::Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into()),
                    (1, Some(p)) if p == args[0] => ok(),
                    (1, Some(_)) => Value::Error("WRONGPASS invalid username-password pair or user is disabled.".into()),
                    _ => Value::Error("ERR syntax error".into()),
                },
                false,
            ),
            "set" => (
                match args.len() {
                    2 => {
                        self.keys.insert(args[0].clone(), args[1].clone());
                        ok()
                    }
                    0 | 1 => arity(false).unwrap(),
                    _ => Value::Error("ERR syntax error".into()),
                },
                false,
            ),
            "get" => (
                arity(args.len() == 1)
                    .unwrap_or_else(|| Value::Bulk(self.keys.get(&args[0]).cloned())),
                false,
            ),
            "del" | "unlink" | "exists" => (
                arity(!args.is_empty()).unwrap_or_else(|| {
                    let n = args
                        .iter()
                        .filter(|k| {
                            if cmd == "exists" {
                                self.keys.contains_key(*k)
                            } else {
                                self.keys.remove(*k).is_some()
                            }
                        })
                        .count();
                    Value::Int(n as i64)
                }),
                false,
            ),
            "incr" => (
                arity(args.len() == 1).unwrap_or_else(|| {
                    let now = self.keys.get(&args[0]).map(|v| v.parse::<i64>());
                    match now {
                        Some(Err(_)) => {
                            Value::Error("ERR value is not an integer or out of range".into())
                        }
                        n => {
                            let n = n.map(|r| r.unwrap_or(0)).unwrap_or(0) + 1;
                            self.keys.insert(args[0].clone(), n.to_string());
                            Value::Int(n)
                        }
                    }
                }),
                false,
            ),
            "keys" => (
                arity(args.len() == 1).unwrap_or_else(|| {
                    Value::Array(
                        self.keys
                            .keys()
                            .filter(|k| glob(&args[0], k))
                            .map(|k| Value::Bulk(Some(k.clone())))
                            .collect(),
                    )
                }),
                false,
            ),
            "dbsize" => (Value::Int(self.keys.len() as i64), false),
            "flushall" | "flushdb" => {
                self.keys.clear();
                (ok(), false)
            }
            "save" => (ok(), true),
            "config" => match (args.first().map(|s| s.to_ascii_lowercase()), args.get(1)) {
                (Some(sub), Some(name)) if sub == "get" && args.len() == 2 => {
                    let name = name.to_ascii_lowercase();
                    let v = cfg.params.get(&name);
                    (
                        Value::Array(match v {
                            Some(v) => vec![Value::Bulk(Some(name)), Value::Bulk(Some(v.clone()))],
                            None => Vec::new(),
                        }),
                        false,
                    )
                }
                _ => (
                    Value::Error(
                        "ERR the simulated redis knows only CONFIG GET <parameter>".into(),
                    ),
                    false,
                ),
            },
            _ => {
                let shown: String = args.iter().map(|a| format!("'{a}' ")).collect();
                (
                    Value::Error(format!(
                        "ERR unknown command '{name}', with args beginning with: {shown}"
                    )),
                    false,
                )
            }
        };
        (auth, reply, save)
    }
}

/// redis's KEYS pattern: `*`, `?`, `[abc]`, `\x`.
fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && m(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return !s.is_empty() && s[0] == '[' && m(&p[1..], &s[1..]);
                };
                !s.is_empty() && p[1..end].contains(&s[0]) && m(&p[end + 1..], &s[1..])
            }
            Some('\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && m(&p[2..], &s[1..]),
            Some(c) => !s.is_empty() && s[0] == *c && m(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    m(&p, &s)
}

/// The arguments of a `redis-server` command line (None: not one).
pub fn server_args(cmdline: &str) -> Option<Vec<String>> {
    let mut words = cmdline.split_whitespace();
    let prog = words.next()?;
    (prog.rsplit('/').next() == Some("redis-server")).then(|| words.map(String::from).collect())
}

/// A line of the server's log, as redis 7.0 writes it (`1:M 02 Dec 2026
/// 10:00:00.000 * text`).
fn log(p: &mut Proc, role: char, level: char, text: &str) -> Result<(), Flow> {
    let at = crate::clock::at(p.world().clock_ms).format("%d %b %Y %H:%M:%S%.3f");
    let pid = p.pid;
    p.out(format!("{pid}:{role} {at} {level} {text}\n"))
}

/// Write the dataset where the configuration says; the log line redis writes.
fn save(p: &mut Proc, cfg: &Config, cwd: &str, data: &Dataset) -> Result<bool, Flow> {
    let path = cfg.dump_path();
    match p.w().fs.write_file(&path, cwd, &data.dump(), false) {
        Ok(()) => {
            log(p, 'M', '*', "DB saved on disk")?;
            Ok(true)
        }
        Err(e) => {
            log(
                p,
                'M',
                '#',
                &format!("Failed opening the temp RDB file temp-{}.rdb (in server root dir {}) for saving: {e}", p.pid, cfg.get("dir")),
            )?;
            Ok(false)
        }
    }
}

/// `redis-server [FILE] [--name value...]`: loads its dump, then answers
/// the requests its container was sent (as its replays are fed them), and
/// on SIGTERM or SIGINT saves (when it has save points) and exits 0.
pub fn server(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let cwd = sh.cwd.clone();
    let cfg = match Config::parse(&argv[1..], &p.world().fs, &cwd) {
        Ok(c) => c,
        Err(msg) => {
            p.err(msg)?;
            return Ok(1);
        }
    };
    let me = p.pid;
    if let Some(e) = p.w().procs.get_mut(&me) {
        // redis handles both: a graceful shutdown.
        e.trapped.insert(15);
        e.trapped.insert(2);
    }
    log(p, 'C', '#', "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")?;
    log(
        p,
        'C',
        '#',
        &format!("Redis version={VERSION}, bits=64, commit=00000000, modified=0, pid={me}, just started"),
    )?;
    // redis says so for any argument, a file or not.
    if argv.len() == 1 {
        log(p, 'C', '#', "Warning: no config file specified, using the default config. In order to specify a config file use redis-server /path/to/redis.conf")?;
    } else {
        log(p, 'C', '#', "Configuration loaded")?;
    }
    log(p, 'M', '*', "monotonic clock: POSIX clock_gettime")?;
    log(
        p,
        'M',
        '*',
        &format!("Running mode=standalone, port={}.", cfg.port()),
    )?;
    log(p, 'M', '#', "Server initialized")?;
    let mut data = Dataset::default();
    if let Ok(bytes) = p.world().fs.read_file(&cfg.dump_path(), &cwd) {
        match Dataset::load(&bytes) {
            Some(d) => {
                data = d;
                log(p, 'M', '*', &format!("Loading RDB produced by version {VERSION}"))?;
                log(
                    p,
                    'M',
                    '*',
                    &format!(
                        "Done loading RDB, keys loaded: {}, keys expired: 0.",
                        data.len()
                    ),
                )?;
                log(p, 'M', '*', "DB loaded from disk: 0.000 seconds")?;
            }
            None => {
                log(p, 'M', '#', "Wrong signature trying to load DB from file (not a dump of glassbox's simulated redis)")?;
                return Ok(1);
            }
        }
    }
    log(p, 'M', '*', "Ready to accept connections")?;
    let port = cfg.port();
    let inbox: Vec<Delivery> = ctx(p)
        .map(|c| c.inbox.iter().filter(|d| d.port == port).cloned().collect())
        .unwrap_or_default();
    let saves = !cfg.get("save").trim().is_empty();
    for d in inbox {
        if d.at_ms > p.world().clock_ms {
            if let Some(sig) = p.sleep_until(d.at_ms)? {
                return shutdown(p, sig, &cfg, &cwd, &data, saves);
            }
        }
        let (_, _, wants_save) = data.serve(&cfg, &d);
        if wants_save {
            save(p, &cfg, &cwd, &data)?;
        }
    }
    loop {
        if let Some(sig) = p.sleep_until(u64::MAX / 2)? {
            return shutdown(p, sig, &cfg, &cwd, &data, saves);
        }
    }
}

fn shutdown(p: &mut Proc, sig: i32, cfg: &Config, cwd: &str, data: &Dataset, saves: bool) -> R {
    let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
    let pid = p.pid;
    p.out(format!(
        "{pid}:signal-handler ({}) Received {name} scheduling shutdown...\n",
        p.world().clock_ms / 1000
    ))?;
    log(p, 'M', '#', "User requested shutdown...")?;
    if saves {
        log(p, 'M', '*', "Saving the final RDB snapshot before exiting.")?;
        save(p, cfg, cwd, data)?;
    }
    log(p, 'M', '#', "Redis is now ready to exit, bye bye...")?;
    Ok(0)
}

/// redis-cli's options.
struct Cli {
    host: String,
    port: u16,
    auth: Option<String>,
    raw: bool,
    no_auth_warning: bool,
    words: Vec<String>,
}

fn cli_args(argv: &[String]) -> Result<Cli, String> {
    let mut c = Cli {
        host: "127.0.0.1".into(),
        port: 6379,
        auth: None,
        raw: false,
        no_auth_warning: false,
        words: Vec::new(),
    };
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        let value = |i: usize| {
            argv.get(i + 1).cloned().ok_or_else(|| {
                format!("Unrecognized option or bad number of args for: '{a}'")
            })
        };
        match a {
            "-h" => {
                c.host = value(i)?;
                i += 1;
            }
            "-p" => {
                let v = value(i)?;
                c.port = v
                    .parse()
                    .map_err(|_| format!("Invalid server port: {v}"))?;
                i += 1;
            }
            "-a" | "--pass" => {
                c.auth = Some(value(i)?);
                i += 1;
            }
            "-n" => {
                let v = value(i)?;
                if v != "0" {
                    return Err(format!("the simulated redis has only database 0 (-n {v})"));
                }
                i += 1;
            }
            "--raw" => c.raw = true,
            "--no-raw" => c.raw = false,
            "--no-auth-warning" => c.no_auth_warning = true,
            _ if a.starts_with('-') && c.words.is_empty() => {
                return Err(format!(
                    "Unrecognized option or bad number of args for: '{a}'"
                ))
            }
            _ => {
                c.words = argv[i..].to_vec();
                break;
            }
        }
        i += 1;
    }
    Ok(c)
}

/// A reply as redis-cli prints it: raw (not a terminal, or `--raw`), or
/// quoted, typed and numbered.
pub fn format(v: &Value, raw: bool) -> String {
    fn quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    fn standard(v: &Value, indent: usize) -> String {
        match v {
            Value::Status(s) => s.clone(),
            Value::Error(e) => format!("(error) {e}"),
            Value::Int(n) => format!("(integer) {n}"),
            Value::Bulk(None) => "(nil)".into(),
            Value::Bulk(Some(s)) => quote(s),
            Value::Array(items) if items.is_empty() => "(empty array)".into(),
            Value::Array(items) => {
                let width = items.len().to_string().len();
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let pad = if i == 0 { 0 } else { indent };
                        format!(
                            "{}{:>width$}) {}",
                            " ".repeat(pad),
                            i + 1,
                            standard(item, indent + width + 2)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    }
    fn rawf(v: &Value) -> String {
        match v {
            Value::Status(s) => s.clone(),
            // redis-cli ends a raw error with a newline of its own.
            Value::Error(e) => format!("{e}\n"),
            Value::Int(n) => n.to_string(),
            Value::Bulk(None) => String::new(),
            Value::Bulk(Some(s)) => s.clone(),
            Value::Array(items) => items.iter().map(rawf).collect::<Vec<_>>().join("\n"),
        }
    }
    if raw {
        rawf(v)
    } else {
        standard(v, 0)
    }
}

/// The server `host:port` is, seen from this process: its host PID, its
/// settings and the dataset it holds before `this` request (what it loaded
/// at its start, plus every request it was sent before, in order: those of
/// earlier times and, at the same time, those kept before this one; a
/// foreground client's clock has whole seconds, so several clients share
/// one). Err: redis-cli's connection error.
fn reach_server(
    p: &mut Proc,
    host: &str,
    port: u16,
    this: &Delivery,
) -> Result<Result<(i32, Config, Dataset, u64), String>, Flow> {
    let at_ms = this.at_ms;
    let cant = |why: &str| format!("Could not connect to Redis at {host}:{port}: {why}");
    let Some(ip) = lookup(p, host) else {
        return Ok(Err(format!(
            "Could not connect to Redis at {host}:{port}: Name or service not known"
        )));
    };
    let Some(c) = ctx(p) else {
        return Ok(Err(cant("Network is unreachable")));
    };
    let ns = match c.route(ip, Proto::Tcp, port) {
        Path::Unreachable => return Ok(Err(cant("Network is unreachable"))),
        Path::Lost => {
            // The kernel gives up on a connect after its SYN retries (~127 s).
            if let Some(code) = super::net::pause(p, 127_000)? {
                return Err(Flow::Exit(code));
            }
            return Ok(Err(cant("Connection timed out")));
        }
        Path::Deliver { ns, port: to, .. } => (ns, to),
    };
    let (ns, port) = ns;
    // A foreground client's clock starts at its whole second: a server that
    // started within that second is up when the client connects.
    for (pid, d) in &c.procs {
        let key = if c.net.netns.contains_key(pid) { *pid } else { 0 };
        if key != ns || d.exited.is_some() || d.started_ms > at_ms + 999 {
            continue;
        }
        let at = at_ms.max(d.started_ms);
        // Replayed without its requests: what its filesystem held when it
        // loaded its dump (it writes one only when asked to, or at its end).
        let Some((trace, fs)) = reach::replay_serving(d, at) else {
            continue;
        };
        if !matches!(
            trace.outcome,
            crate::kernel::sim::shell::Outcome::StillRunning { .. }
        ) {
            continue;
        }
        let found = trace.live.iter().find_map(|l| {
            let args = server_args(&l.cmdline)?;
            Config::parse(&args, &fs, &d.cwd)
                .ok()
                .filter(|cfg| cfg.port() == port)
        });
        let Some(cfg) = found else { continue };
        let mut data = fs
            .read_file(&cfg.dump_path(), &d.cwd)
            .ok()
            .and_then(|b| Dataset::load(&b))
            .unwrap_or_default();
        let this = Delivery {
            at_ms: at,
            port,
            ..this.clone()
        };
        for earlier in reach::inbox(&d.store_root, &d.container) {
            if earlier == this || earlier.at_ms > at {
                break;
            }
            if earlier.at_ms >= d.started_ms && earlier.port == port {
                data.serve(&cfg, &earlier);
            }
        }
        return Ok(Ok((*pid, cfg, data, at)));
    }
    Ok(Err(cant("Connection refused")))
}

/// Send one command; print the reply. Returns whether the server answered.
fn one(p: &mut Proc, c: &Cli, words: Vec<String>, raw: bool) -> Result<bool, Flow> {
    let asked = Delivery {
        at_ms: p.world().clock_ms,
        port: c.port,
        from: ctx(p).map(|n| n.me).unwrap_or(0),
        auth: c.auth.clone(),
        words,
    };
    let (pid, cfg, mut data, at) = match reach_server(p, &c.host, c.port, &asked)? {
        Ok(x) => x,
        Err(msg) => {
            p.err(format!("{msg}\n"))?;
            return Ok(false);
        }
    };
    // As the server sees it: at its port (a published port's DNAT may
    // have changed it), not before it started.
    let d = Delivery {
        at_ms: at,
        port: cfg.port(),
        ..asked
    };
    let (auth, reply, _) = data.serve(&cfg, &d);
    if let Some(net) = ctx(p) {
        if let Some(server) = net.procs.get(&pid) {
            // Losing it would make the server forget the request: say so.
            if let Err(e) = reach::deliver(&server.store_root, &server.container, &d) {
                p.err(format!("glassbox: the simulated redis could not keep the request: {e:#}\n"))?;
            }
        }
    }
    if let Some(Value::Error(e)) = auth {
        p.err(format!("AUTH failed: {e}\n"))?;
    }
    p.out(format!("{}\n", format(&reply, raw)))?;
    Ok(true)
}

/// redis-cli's own split of a typed line: words, "double" and 'single' quotes.
fn split_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' | '\'' => {
                in_word = true;
                let q = ch;
                loop {
                    match chars.next()? {
                        c if c == q => break,
                        '\\' if q == '"' => match chars.next()? {
                            'n' => cur.push('\n'),
                            't' => cur.push('\t'),
                            c => cur.push(c),
                        },
                        c => cur.push(c),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// `redis-cli [-h HOST] [-p PORT] [-a PASS] [--raw] [CMD ARG...]`: one
/// command, or commands read line by line (a prompt on a terminal) until
/// `exit`/`quit` or the end of input.
pub fn cli(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let c = match cli_args(argv) {
        Ok(c) => c,
        Err(msg) => {
            p.err(format!("{msg}\n"))?;
            return Ok(1);
        }
    };
    if c.auth.is_some() && !c.no_auth_warning {
        p.err("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.\n")?;
    }
    let tty = p.world().is_tty();
    let raw = c.raw || !tty;
    if !c.words.is_empty() {
        let answered = one(p, &c, c.words.clone(), raw)?;
        return Ok(if answered { 0 } else { 1 });
    }
    // Interactive: the prompt names the server; a failed connection
    // shows `not connected>` as redis-cli's does.
    loop {
        if tty {
            let prompt = format!("{}:{}> ", c.host, c.port);
            p.out(prompt)?;
        }
        let Some(line) = p.read_line(0)? else {
            return Ok(0);
        };
        let line = String::from_utf8_lossy(&line).trim().to_string();
        let Some(words) = split_line(&line) else {
            p.out("Invalid argument(s)\n")?;
            continue;
        };
        match words.first().map(|w| w.to_ascii_lowercase()) {
            None => continue,
            Some(w) if w == "exit" || w == "quit" => return Ok(0),
            Some(_) => {
                one(p, &c, words, raw)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(words: &[&str]) -> Delivery {
        Delivery {
            at_ms: 0,
            port: 6379,
            from: 0,
            auth: None,
            words: words.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_dump_holds_every_key_and_reads_back_whole() {
        let cfg = Config::parse(&[], &SimFs::default(), "/data").unwrap();
        let mut d = Dataset::default();
        d.serve(&cfg, &req(&["SET", "greeting", "hello"]));
        d.serve(&cfg, &req(&["set", "odd", "two\nlines $3"]));
        let bytes = d.dump();
        assert!(String::from_utf8_lossy(&bytes).contains("greeting"));
        assert_eq!(Dataset::load(&bytes), Some(d));
        assert_eq!(Dataset::load(b"REDIS0010\xfa"), None);
        assert_eq!(cfg.dump_path(), "/data/dump.rdb");
    }

    #[test]
    fn replies_are_redis_s_and_printed_as_redis_cli_prints_them() {
        let cfg = Config::parse(&[], &SimFs::default(), "/data").unwrap();
        let mut d = Dataset::default();
        let mut run = |w: &[&str]| d.serve(&cfg, &req(w)).1;
        assert_eq!(format(&run(&["PING"]), false), "PONG");
        assert_eq!(format(&run(&["SET", "a", "1"]), true), "OK");
        assert_eq!(format(&run(&["GET", "a"]), false), "\"1\"");
        assert_eq!(format(&run(&["GET", "a"]), true), "1");
        assert_eq!(format(&run(&["GET", "nope"]), false), "(nil)");
        assert_eq!(format(&run(&["INCR", "a"]), false), "(integer) 2");
        run(&["SET", "b", "x"]);
        assert_eq!(format(&run(&["KEYS", "*"]), false), "1) \"a\"\n2) \"b\"");
        assert_eq!(format(&run(&["KEYS", "z*"]), false), "(empty array)");
        assert_eq!(format(&run(&["DEL", "a", "b", "c"]), false), "(integer) 2");
        assert_eq!(
            format(&run(&["GET"]), false),
            "(error) ERR wrong number of arguments for 'get' command"
        );
        assert!(d.serve(&cfg, &req(&["SAVE"])).2);
    }

    #[test]
    fn a_password_from_the_config_file_and_the_command_line() {
        let mut fs = SimFs::default();
        fs.mkdir("/etc", "/").unwrap();
        fs.mkdir("/etc/redis", "/").unwrap();
        fs.write_file(
            "/etc/redis/redis.conf",
            "/",
            b"# test\nmaxmemory 2mb\nrequirepass fromfile\n",
            false,
        )
        .unwrap();
        let args: Vec<String> = ["/etc/redis/redis.conf", "--requirepass", "s3cret"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cfg = Config::parse(&args, &fs, "/data").unwrap();
        assert_eq!(cfg.get("maxmemory"), "2097152");
        let mut d = Dataset::default();
        let (_, r, _) = d.serve(&cfg, &req(&["GET", "x"]));
        assert_eq!(r, Value::Error("NOAUTH Authentication required.".into()));
        let mut authed = req(&["CONFIG", "GET", "maxmemory"]);
        authed.auth = Some("s3cret".into());
        let (a, r, _) = d.serve(&cfg, &authed);
        assert_eq!(a, Some(Value::Status("OK".into())));
        assert_eq!(format(&r, true), "maxmemory\n2097152");
        let e = Config::parse(&["/nope.conf".to_string()], &fs, "/").unwrap_err();
        assert!(e.contains("can't open config file '/nope.conf'"), "{e}");
    }

    #[test]
    fn typed_lines_split_as_redis_cli_splits_them() {
        assert_eq!(
            split_line("set \"abc\" 123").unwrap(),
            vec!["set", "abc", "123"]
        );
        assert_eq!(split_line("set 'a b' \"c\\nd\"").unwrap(), vec!["set", "a b", "c\nd"]);
        assert_eq!(split_line("get \"open"), None);
        assert!(glob("gr*t?ng", "greeting"));
        assert!(!glob("h[ae]llo", "hillo"));
    }
}
