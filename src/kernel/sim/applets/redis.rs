//! A simulated redis (7.0, Debian's redis-server and redis-tools): the
//! server and `redis-cli` speaking enough of the protocol over the simulated
//! network for what the lessons do: `PING`, `ECHO`, `SET`, `GET`, `DEL`,
//! `EXISTS`, `INCR`, `KEYS`, `DBSIZE`, `FLUSHALL`, `SAVE`, `CONFIG GET`,
//! `AUTH` (`requirepass`).
//!
//! The server is a detached program; a client in another run reaches it
//! through `reach` (routing, names from /etc/hosts) and sends its request
//! as redis's own protocol (RESP: an `AUTH` first with `-a`, then the
//! command) on a simulated TCP connection, which is kept with the server's
//! container (`reach::deliver`). The server's replays are fed every
//! connection at its time ([`server`]): it serves each from its dataset
//! and records the bytes it answered (`World::answered`), which the client
//! reads back from the server's replay and prints. So a `SAVE` writes the
//! dump into the server's filesystem (its `/data` volume) when it was
//! asked for, and a later server loads it. Each command is a connection of
//! its own, even in an interactive session (a real redis-cli keeps one).
//!
//! The dump is glassbox's own text format (see [`Dataset::dump`]), not
//! Redis's binary RDB: a real server cannot read a simulated dump, nor the
//! reverse. The log lines and redis-cli's output (raw when stdout is not a
//! terminal, quoted and numbered when it is) are redis 7.0's.

use super::net::{ctx, lookup};
use crate::kernel::sim::fs::SimFs;
use crate::kernel::sim::net::Path;
use crate::kernel::sim::nft::Proto;
use crate::kernel::sim::reach;
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

    /// One command on a connection (`authed`: whether the connection
    /// passed `AUTH`, or needs not). Returns the reply and whether it asked
    /// for the dataset to be saved.
    pub fn serve(&mut self, cfg: &Config, authed: &mut bool, words: &[String]) -> (Value, bool) {
        let Some(name) = words.first() else {
            return (Value::Error("ERR empty command".into()), false);
        };
        let cmd = name.to_ascii_lowercase();
        let args = &words[1..];
        if !*authed && cmd != "auth" {
            return (
                Value::Error("NOAUTH Authentication required.".into()),
                false,
            );
        }
        let arity = |ok: bool| -> Option<Value> {
            (!ok)
                .then(|| Value::Error(format!("ERR wrong number of arguments for '{cmd}' command")))
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
                    (1, Some(p)) if p == args[0] => {
                        *authed = true;
                        ok()
                    }
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
        (reply, save)
    }
}

/// A request as redis-cli sends it: an array of bulk strings.
pub fn encode_request(words: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend(format!("${}\r\n", w.len()).into_bytes());
        out.extend(w.as_bytes());
        out.extend(b"\r\n");
    }
    out
}

/// The commands a connection carried: RESP arrays of bulk strings, or
/// inline commands (a line of words, as typed into `nc`).
pub fn parse_requests(data: &[u8]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut at = 0;
    let line = |at: usize| -> Option<(&[u8], usize)> {
        let end = data[at..].windows(2).position(|w| w == b"\r\n")? + at;
        Some((&data[at..end], end + 2))
    };
    while at < data.len() {
        let Some((first, next)) = line(at) else { break };
        if let Some(n) = first.strip_prefix(b"*") {
            let Some(n) = std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
            else {
                break;
            };
            let mut words = Vec::new();
            at = next;
            for _ in 0..n {
                let Some((head, body)) = line(at) else {
                    return out;
                };
                let Some(len) = head
                    .strip_prefix(b"$")
                    .and_then(|l| std::str::from_utf8(l).ok())
                    .and_then(|l| l.parse::<usize>().ok())
                else {
                    return out;
                };
                let Some(word) = data.get(body..body + len) else {
                    return out;
                };
                words.push(String::from_utf8_lossy(word).into_owned());
                at = body + len + 2;
            }
            out.push(words);
        } else {
            let text = String::from_utf8_lossy(first);
            out.push(text.split_whitespace().map(String::from).collect());
            at = next;
        }
    }
    out
}

/// A reply as the server sends it (RESP2).
pub fn encode_reply(v: &Value) -> Vec<u8> {
    match v {
        Value::Status(s) => format!("+{s}\r\n").into_bytes(),
        Value::Error(e) => format!("-{e}\r\n").into_bytes(),
        Value::Int(n) => format!(":{n}\r\n").into_bytes(),
        Value::Bulk(None) => b"$-1\r\n".to_vec(),
        Value::Bulk(Some(s)) => format!("${}\r\n{s}\r\n", s.len()).into_bytes(),
        Value::Array(items) => {
            let mut out = format!("*{}\r\n", items.len()).into_bytes();
            for i in items {
                out.extend(encode_reply(i));
            }
            out
        }
    }
}

/// The replies in what a server sent back, in order.
pub fn decode_replies(data: &[u8]) -> Vec<Value> {
    fn one(data: &[u8], at: usize) -> Option<(Value, usize)> {
        let end = data[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let head = String::from_utf8_lossy(&data[at + 1..end]).into_owned();
        let next = end + 2;
        Some(match data.get(at)? {
            b'+' => (Value::Status(head), next),
            b'-' => (Value::Error(head), next),
            b':' => (Value::Int(head.parse().ok()?), next),
            b'$' => match head.parse::<i64>().ok()? {
                n if n < 0 => (Value::Bulk(None), next),
                n => {
                    let body = data.get(next..next + n as usize)?;
                    (
                        Value::Bulk(Some(String::from_utf8_lossy(body).into_owned())),
                        next + n as usize + 2,
                    )
                }
            },
            b'*' => {
                let mut items = Vec::new();
                let mut at = next;
                for _ in 0..head.parse::<usize>().ok()? {
                    let (v, n) = one(data, at)?;
                    items.push(v);
                    at = n;
                }
                (Value::Array(items), at)
            }
            _ => return None,
        })
    }
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((v, next)) = one(data, at) {
        out.push(v);
        at = next;
    }
    out
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
        &format!(
            "Redis version={VERSION}, bits=64, commit=00000000, modified=0, pid={me}, just started"
        ),
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
                log(
                    p,
                    'M',
                    '*',
                    &format!("Loading RDB produced by version {VERSION}"),
                )?;
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
    // Every connection to its port, at its time (also while it is replayed
    // to answer one: the network it would reach out to is then withheld,
    // what reached it is not).
    let inbound: Vec<(usize, reach::Inbound)> = p
        .world()
        .net
        .as_ref()
        .map(|c| c.inbound.iter().cloned().enumerate().collect())
        .unwrap_or_default();
    let saves = !cfg.get("save").trim().is_empty();
    for (index, conn) in inbound {
        if conn.proto != Proto::Tcp || conn.port != port {
            continue;
        }
        if conn.at_ms > p.world().clock_ms {
            if let Some(sig) = p.sleep_until(conn.at_ms)? {
                return shutdown(p, sig, &cfg, &cwd, &data, saves);
            }
        }
        let mut authed = cfg.password().is_none();
        let mut answer = Vec::new();
        for words in parse_requests(&conn.data) {
            let (mut reply, wants_save) = data.serve(&cfg, &mut authed, &words);
            if wants_save && !save(p, &cfg, &cwd, &data)? {
                reply = Value::Error("ERR".into());
            }
            answer.extend(encode_reply(&reply));
        }
        p.w().answered.push((index, answer));
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
            argv.get(i + 1)
                .cloned()
                .ok_or_else(|| format!("Unrecognized option or bad number of args for: '{a}'"))
        };
        match a {
            "-h" => {
                c.host = value(i)?;
                i += 1;
            }
            "-p" => {
                let v = value(i)?;
                c.port = v.parse().map_err(|_| format!("Invalid server port: {v}"))?;
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

/// Send `words` (after an `AUTH` with `-a`) to the redis server at
/// `host:port` on a connection of its own, and wait for what it answers:
/// the replies, or redis-cli's connection error.
fn request(p: &mut Proc, c: &Cli, words: &[String]) -> Result<Result<Vec<Value>, String>, Flow> {
    let (host, port) = (c.host.as_str(), c.port);
    let cant = |why: &str| format!("Could not connect to Redis at {host}:{port}: {why}");
    let Some(ip) = lookup(p, host) else {
        return Ok(Err(cant("Name or service not known")));
    };
    let Some(net) = ctx(p) else {
        return Ok(Err(cant("Network is unreachable")));
    };
    let (ns, port) = match net.route(ip, Proto::Tcp, port) {
        Path::Unreachable => return Ok(Err(cant("Network is unreachable"))),
        Path::Lost => {
            // The kernel gives up on a connect after its SYN retries (~127 s).
            if let Some(code) = super::net::pause(p, 127_000)? {
                return Err(Flow::Exit(code));
            }
            return Ok(Err(cant("Connection timed out")));
        }
        Path::Deliver { ns, port, .. } => (ns, port),
    };
    // A client's clock starts at its run's whole second: the connection is
    // no earlier than the run's start, nor the server's (one that started
    // within that second is up when the client connects).
    let at_ms = p.world().clock_ms.max(net.since_ms);
    for (pid, d) in &net.procs {
        if net.net.key_of(*pid) != ns || d.exited.is_some() || d.started_ms > at_ms + 999 {
            continue;
        }
        let at = at_ms.max(d.started_ms);
        let listens = |(trace, fs): &(crate::kernel::sim::shell::Trace, SimFs)| {
            matches!(
                trace.outcome,
                crate::kernel::sim::shell::Outcome::StillRunning { .. }
            ) && trace.live.iter().any(|l| {
                server_args(&l.cmdline)
                    .and_then(|args| Config::parse(&args, fs, &d.cwd).ok())
                    .is_some_and(|cfg| cfg.port() == port)
            })
        };
        if !reach::replay_serving(d, at).is_some_and(|r| listens(&r)) {
            continue;
        }
        let mut sent = Vec::new();
        if let Some(pass) = &c.auth {
            sent.extend(encode_request(&["AUTH".to_string(), pass.clone()]));
        }
        sent.extend(encode_request(words));
        let conn = net.open(at, Proto::Tcp, port, sent);
        if let Err(e) = reach::deliver(&d.store_root, &d.container, &conn) {
            return Ok(Err(format!(
                "glassbox: the simulated redis could not keep the request: {e:#}"
            )));
        }
        // The server, replayed with this connection, answers it at its time.
        let index = d.inbound().iter().position(|i| *i == conn);
        let answered = reach::replay_serving(d, at).and_then(|(trace, _)| {
            trace
                .answered
                .into_iter()
                .find(|(i, _)| Some(*i) == index)
                .map(|(_, bytes)| bytes)
        });
        return Ok(match answered {
            Some(bytes) => Ok(decode_replies(&bytes)),
            None => Err("Error: Server closed the connection".into()),
        });
    }
    Ok(Err(cant("Connection refused")))
}

/// Send one command; print the reply. Returns whether the server answered.
fn one(p: &mut Proc, c: &Cli, words: Vec<String>, raw: bool) -> Result<bool, Flow> {
    let mut replies = match request(p, c, &words)? {
        Ok(r) => r.into_iter(),
        Err(msg) => {
            p.err(format!("{msg}\n"))?;
            return Ok(false);
        }
    };
    if c.auth.is_some() {
        if let Some(Value::Error(e)) = replies.next() {
            p.err(format!("AUTH failed: {e}\n"))?;
        }
    }
    let reply = replies
        .next()
        .unwrap_or(Value::Error("ERR no reply".into()));
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
        // redis-cli reads a C string: a NUL byte ends the line.
        let line = line.split(|&b| b == 0).next().unwrap_or_default();
        let line = String::from_utf8_lossy(line).trim().to_string();
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

    fn req(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_dump_holds_every_key_and_reads_back_whole() {
        let cfg = Config::parse(&[], &SimFs::default(), "/data").unwrap();
        let mut d = Dataset::default();
        let mut authed = true;
        d.serve(&cfg, &mut authed, &req(&["SET", "greeting", "hello"]));
        d.serve(&cfg, &mut authed, &req(&["set", "odd", "two\nlines $3"]));
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
        let mut authed = true;
        let mut run = |w: &[&str]| d.serve(&cfg, &mut authed, &req(w)).0;
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
        assert!(d.serve(&cfg, &mut true, &req(&["SAVE"])).1);
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
        let mut authed = false;
        let (r, _) = d.serve(&cfg, &mut authed, &req(&["GET", "x"]));
        assert_eq!(r, Value::Error("NOAUTH Authentication required.".into()));
        let (a, _) = d.serve(&cfg, &mut authed, &req(&["AUTH", "fromfile"]));
        assert!(matches!(a, Value::Error(e) if e.starts_with("WRONGPASS")));
        let (a, _) = d.serve(&cfg, &mut authed, &req(&["AUTH", "s3cret"]));
        assert_eq!(a, Value::Status("OK".into()));
        let (r, _) = d.serve(&cfg, &mut authed, &req(&["CONFIG", "GET", "maxmemory"]));
        assert_eq!(format(&r, true), "maxmemory\n2097152");
        let e = Config::parse(&["/nope.conf".to_string()], &fs, "/").unwrap_err();
        assert!(e.contains("can't open config file '/nope.conf'"), "{e}");
    }

    #[test]
    fn requests_and_replies_go_over_the_wire_as_resp() {
        let mut wire = encode_request(&req(&["AUTH", "pw"]));
        wire.extend(encode_request(&req(&["SET", "k", "two words\r\n"])));
        assert_eq!(&wire[..14], b"*2\r\n$4\r\nAUTH\r\n");
        wire.extend(b"PING hi\r\n"); // an inline command, as typed into nc
        assert_eq!(
            parse_requests(&wire),
            vec![
                req(&["AUTH", "pw"]),
                req(&["SET", "k", "two words\r\n"]),
                req(&["PING", "hi"])
            ]
        );
        let replies = vec![
            Value::Status("OK".into()),
            Value::Error("NOAUTH Authentication required.".into()),
            Value::Int(-3),
            Value::Bulk(None),
            Value::Bulk(Some("a\r\nb".into())),
            Value::Array(vec![
                Value::Bulk(Some("x".into())),
                Value::Array(Vec::new()),
            ]),
        ];
        let bytes: Vec<u8> = replies.iter().flat_map(encode_reply).collect();
        assert!(bytes.starts_with(b"+OK\r\n-NOAUTH"));
        assert_eq!(decode_replies(&bytes), replies);
        assert_eq!(decode_replies(b"$5\r\nab"), Vec::new());
    }

    #[test]
    fn typed_lines_split_as_redis_cli_splits_them() {
        assert_eq!(
            split_line("set \"abc\" 123").unwrap(),
            vec!["set", "abc", "123"]
        );
        assert_eq!(
            split_line("set 'a b' \"c\\nd\"").unwrap(),
            vec!["set", "a b", "c\nd"]
        );
        assert_eq!(split_line("get \"open"), None);
        assert!(glob("gr*t?ng", "greeting"));
        assert!(!glob("h[ae]llo", "hillo"));
    }
}
