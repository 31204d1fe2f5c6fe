//! What a simulated program reaches over the simulated network: the
//! namespace it runs in, where a packet to an address goes (`net::SimNet::
//! route`: same bridge, the host, a published port's DNAT, or dropped), and
//! who answers there — a simulated `httpd` among the live processes of the
//! container that owns the address (its program replayed up to that moment,
//! so it serves the files it has then).

use super::fs::SimFs;
use super::host::{Detached, HostState};
use super::net::{NetNs, Path, SimNet};
use super::nft::Proto;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The network as one simulated process sees it (a snapshot of the host's).
#[derive(Clone, Debug)]
pub struct NetCtx {
    pub net: SimNet,
    /// The simulated host's detached programs (the servers), by host PID.
    pub procs: BTreeMap<i32, Detached>,
    /// The namespace the process is in: a container's key, 0 for the host's.
    pub me: i32,
    /// What clients sent this program's listeners since it started, on its
    /// own clock (set when it is a detached program being recomputed).
    pub inbound: Vec<Inbound>,
    /// Connections this process has opened so far (numbers the next one,
    /// see `Inbound::seq`).
    opened: Arc<AtomicU32>,
    /// A program recomputed to answer a request: it reaches no one itself
    /// (no chains of requests between replays), only its `inbound` counts.
    pub offline: bool,
    /// When the process's run started (host ms): the run's clock starts at
    /// that whole second, but a connection it opens is never earlier.
    pub since_ms: u64,
}

/// What a client sent a listening program in another run: on which
/// protocol and port, when, and the bytes (an `nc`'s stdin, a `redis-cli`'s
/// protocol request). A server's answers depend on what it was sent before,
/// so each one is kept with the server's container (`containers/<id>/
/// sim-inbound.jsonl`, `deliver`) and fed to the server's replays at its
/// time (`NetCtx::inbound`): a later look at the server (its log, its
/// files) sees what the request did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// Host time, ms since the epoch (the server's own clock once fed to it).
    pub at_ms: u64,
    pub proto: Proto,
    /// The port the server listens on (after any published port's DNAT).
    pub port: u16,
    /// The sender: its namespace's key (its container's host PID, 0: the
    /// host), and how many connections its run had opened before. A client
    /// run is recomputed whenever it is looked at and sends again; these
    /// keep each connection once, and two equal requests as two.
    pub from: i32,
    pub seq: u32,
    pub data: Vec<u8>,
}

fn inbound_file(store: &std::path::Path, container: &str) -> std::path::PathBuf {
    crate::container::containers_dir(store)
        .join(container)
        .join("sim-inbound.jsonl")
}

/// Everything sent to `container`'s programs, in the order it was sent.
pub fn inbound(store: &std::path::Path, container: &str) -> Vec<Inbound> {
    let text = std::fs::read_to_string(inbound_file(store, container)).unwrap_or_default();
    let mut all: Vec<Inbound> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all.sort_by_key(|i| i.at_ms); // stable: same-time requests keep their order
    all
}

/// Keep a connection's bytes with the container of the program it reached
/// (once). A file of its own, appended to without the host's lock: a
/// client may be recomputed while the host is locked (a look at a detached
/// client). A container that is gone takes nothing.
pub fn deliver(store: &std::path::Path, container: &str, i: &Inbound) -> anyhow::Result<()> {
    use std::io::Write;
    if inbound(store, container).contains(i) {
        return Ok(());
    }
    let path = inbound_file(store, container);
    if !path.parent().is_some_and(|p| p.is_dir()) {
        return Ok(());
    }
    let mut line = serde_json::to_vec(i)?;
    line.push(b'\n');
    // One write of a whole line with O_APPEND: concurrent senders never interleave.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&line))
        .with_context(|| format!("cannot keep a simulated connection in {}", path.display()))
}

thread_local! {
    /// Set while a server's program is replayed to answer a request: that
    /// replay reaches no further (no chains of requests between replays).
    static SERVING: Cell<bool> = const { Cell::new(false) };
}

/// Replay a server's run up to `at_ms` to answer a request: it reaches no
/// network meanwhile, and so is fed no requests itself either.
pub fn replay_serving(d: &Detached, at_ms: u64) -> Option<(super::shell::Trace, SimFs)> {
    SERVING.with(|s| s.set(true));
    let replayed = d.replay(at_ms);
    SERVING.with(|s| s.set(false));
    replayed.ok()
}

/// Whether this thread is replaying a server to answer a request.
pub fn serving() -> bool {
    SERVING.with(Cell::get)
}

/// The context of a process started by host PID `pid` (its own network
/// namespace if it has one, else the host's).
pub fn for_pid(st: &HostState, pid: i32) -> Arc<NetCtx> {
    Arc::new(NetCtx {
        me: st.net.key_of(pid),
        net: st.net.clone(),
        procs: st.procs.clone(),
        inbound: Vec::new(),
        opened: Arc::default(),
        offline: false,
        since_ms: 0,
    })
}

/// What a connection got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// No route from the sender.
    Unreachable,
    /// The address answered, nobody listens on the port.
    Refused,
    /// Nothing ever answered.
    TimedOut,
    /// The server's answer.
    Data(Vec<u8>),
    /// The simulator could not keep what was sent (the reason).
    Lost(String),
}

/// A listening simulated server found in a process list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    /// `httpd -h DIR` (relative to the server's working directory).
    pub home: String,
}

/// The `httpd` (busybox) among command lines, listening on `port`.
pub fn httpd_on(cmdlines: &[String], port: u16, cwd: &str) -> Option<Listener> {
    cmdlines.iter().find_map(|c| {
        let words: Vec<&str> = c.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| w.rsplit('/').next() == Some("httpd"))?;
        let args = &words[at + 1..];
        let mut listen = 80u16;
        let mut home = cwd.to_string();
        let mut i = 0;
        while i < args.len() {
            let a = args[i];
            let value = |i: usize| args.get(i + 1).copied();
            match a {
                "-p" => {
                    let v = value(i)?;
                    listen = v.rsplit(':').next()?.parse().ok()?;
                    i += 1;
                }
                "-h" => {
                    home = value(i)?.to_string();
                    i += 1;
                }
                "-c" | "-r" | "-u" | "-m" | "-e" | "-d" => i += 1,
                _ => {
                    if let Some(p) = a.strip_prefix("-p").filter(|p| !p.is_empty()) {
                        listen = p.rsplit(':').next()?.parse().ok()?;
                    } else if let Some(h) = a.strip_prefix("-h").filter(|h| !h.is_empty()) {
                        home = h.to_string();
                    } else if a.starts_with('-') && a.len() > 2 && a.ends_with('p') {
                        listen = value(i)?.rsplit(':').next()?.parse().ok()?;
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        if !home.starts_with('/') {
            home = format!("{}/{}", cwd.trim_end_matches('/'), home);
        }
        (listen == port).then_some(Listener { port, home })
    })
}

impl NetCtx {
    /// The context of a program recomputed to answer a request (`offline`).
    pub fn offline(inbound: Vec<Inbound>) -> NetCtx {
        NetCtx {
            net: SimNet::default(),
            procs: BTreeMap::new(),
            me: 0,
            inbound,
            opened: Arc::default(),
            offline: true,
            since_ms: 0,
        }
    }

    /// A new connection's bytes from this process to a listener, numbered
    /// after the ones it opened before.
    pub fn open(&self, at_ms: u64, proto: Proto, port: u16, data: Vec<u8>) -> Inbound {
        Inbound {
            at_ms,
            proto,
            port,
            from: self.me,
            seq: self.opened.fetch_add(1, Ordering::SeqCst),
            data,
        }
    }

    pub fn ns(&self) -> Option<&NetNs> {
        self.net.netns.get(&self.me)
    }

    /// Where a packet from this process to `dst` goes.
    pub fn route(&self, dst: Ipv4Addr, proto: Proto, port: u16) -> Path {
        self.net.route(self.me, dst, proto, port)
    }

    /// The running programs in namespace `ns` at host time `at_ms`: their
    /// host PID, live processes' command lines, the filesystem, working
    /// directory and listening `nc -l`s (port, what each sends).
    #[allow(clippy::type_complexity)]
    fn programs_in(
        &self,
        ns: i32,
        at_ms: u64,
    ) -> Vec<(i32, Vec<String>, SimFs, String, Vec<(u16, Vec<u8>)>)> {
        let mut out = Vec::new();
        for (pid, d) in &self.procs {
            let key = self.net.key_of(*pid);
            if key != ns || d.exited.is_some() || d.started_ms > at_ms {
                continue;
            }
            let Some((trace, fs)) = replay_serving(d, at_ms) else {
                continue;
            };
            if !matches!(trace.outcome, super::shell::Outcome::StillRunning { .. }) {
                continue;
            }
            let cmdlines = trace.live.iter().map(|p| p.cmdline.clone()).collect();
            out.push((*pid, cmdlines, fs, d.cwd.clone(), trace.listening));
        }
        out
    }

    /// A TCP connection to `dst:port` sending `request`, at host time
    /// `at_ms`. `local`: the command lines of the caller's own run, which
    /// answer for its own namespace as well.
    pub fn connect(
        &self,
        dst: Ipv4Addr,
        port: u16,
        request: &[u8],
        at_ms: u64,
        local: &[String],
        local_fs: &SimFs,
        local_cwd: &str,
    ) -> Reply {
        match self.route(dst, Proto::Tcp, port) {
            Path::Unreachable => Reply::Unreachable,
            Path::Lost => Reply::TimedOut,
            Path::Deliver { ns, port, .. } => {
                if ns == self.me {
                    if let Some(l) = httpd_on(local, port, local_cwd) {
                        return Reply::Data(http_answer(local_fs, &l, request, at_ms));
                    }
                }
                for (pid, cmdlines, fs, cwd, listening) in self.programs_in(ns, at_ms) {
                    if let Some(l) = httpd_on(&cmdlines, port, &cwd) {
                        return Reply::Data(http_answer(&fs, &l, request, at_ms));
                    }
                    // An `nc -l`: it takes this one connection, prints what
                    // came and answers with what it had to send.
                    if let Some((_, reply)) = listening.into_iter().find(|(p, _)| *p == port) {
                        let sent = self.open(at_ms, Proto::Tcp, port, request.to_vec());
                        if let Some(d) = self.procs.get(&pid) {
                            // Unkept, the listener would never have seen it: say so.
                            if let Err(e) = deliver(&d.store_root, &d.container, &sent) {
                                return Reply::Lost(format!("{e:#}"));
                            }
                        }
                        return Reply::Data(reply);
                    }
                }
                Reply::Refused
            }
        }
    }
}

impl NetCtx {
    /// A UDP datagram to `dst:port` at host time `at_ms`, and what comes
    /// back: the echo of glassbox's `udp-echo` listening there, or the
    /// kernel's "port unreachable" (`Refused`) when nothing is bound.
    pub fn datagram(&self, dst: Ipv4Addr, port: u16, data: &[u8], at_ms: u64) -> Reply {
        match self.route(dst, Proto::Udp, port) {
            Path::Unreachable => Reply::Unreachable,
            Path::Lost => Reply::TimedOut,
            Path::Deliver { ns, port, .. } => {
                let echoes = self.programs_in(ns, at_ms).into_iter().any(|prog| {
                    let (_, cmdlines, fs, cwd, _) = prog;
                    udp_echo_on(&cmdlines, &fs, &cwd, port)
                });
                if echoes {
                    Reply::Data(data.to_vec())
                } else {
                    Reply::Refused
                }
            }
        }
    }
}

/// Whether one of these command lines is glassbox's `udp-echo` (known by
/// the bytes of the file it runs) bound to `port`.
fn udp_echo_on(cmdlines: &[String], fs: &SimFs, cwd: &str, port: u16) -> bool {
    use crate::programs::{udp_echo, Program};
    cmdlines.iter().any(|c| {
        let words: Vec<String> = c.split_whitespace().map(String::from).collect();
        let Some(name) = words.first() else {
            return false;
        };
        let path = if name.contains('/') {
            Some(super::fs::normalize(name, cwd))
        } else {
            fs.find_in_path(name, super::shell::DEFAULT_PATH)
        };
        path.and_then(|p| fs.read_file(&p, "/").ok())
            .and_then(|bytes| Program::recognise(&bytes))
            == Some(Program::UdpEcho)
            && udp_echo::port_of(&words[1..]) == port
    })
}

/// busybox httpd's answer to an HTTP request for a file under its home.
pub fn http_answer(fs: &SimFs, l: &Listener, request: &[u8], at_ms: u64) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let first = text.lines().next().unwrap_or_default();
    let mut words = first.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let date = crate::clock::at(at_ms)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let error = |code: u16, reason: &str, body: &str| {
        format!(
            "HTTP/1.1 {code} {reason}\r\nDate: {date}\r\nConnection: close\r\nContent-type: text/html\r\n\r\n{body}"
        )
        .into_bytes()
    };
    if method != "GET" && method != "HEAD" {
        return error(
            501,
            "Not Implemented",
            "<HTML><HEAD><TITLE>501 Not Implemented</TITLE></HEAD>\n<BODY><H1>501 Not Implemented</H1>\nThe requested method is not recognized\n</BODY></HTML>\n",
        );
    }
    let path = target.split('?').next().unwrap_or("/");
    let mut file = format!("{}{}", l.home.trim_end_matches('/'), path);
    if file.ends_with('/') {
        file.push_str("index.html");
    }
    match fs.read_file(&file, "/") {
        Ok(data) => {
            let ctype = match file.rsplit('.').next() {
                Some("html" | "htm") => "text/html",
                Some("txt") => "text/plain",
                Some("css") => "text/css",
                Some("js") => "application/javascript",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nDate: {date}\r\nConnection: close\r\nContent-type: {ctype}\r\nAccept-Ranges: bytes\r\nLast-Modified: {date}\r\nETag: \"{:x}-{:x}\"\r\nContent-Length: {}\r\n\r\n",
                at_ms / 1000,
                data.len(),
                data.len()
            )
            .into_bytes();
            if method == "GET" {
                out.extend(data);
            }
            out
        }
        Err(_) => error(
            404,
            "Not Found",
            "<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD>\n<BODY><H1>404 Not Found</H1>\nThe requested URL was not found\n</BODY></HTML>\n",
        ),
    }
}

/// Split an HTTP response into status line, and body.
pub fn split_response(data: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(data);
    let status = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string();
    let body = match data.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => data[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

/// The address of `name` in the hosts file text (`/etc/hosts`), or the
/// name itself when it is an IPv4 address.
pub fn resolve(hosts: &str, name: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = name.parse() {
        return Some(ip);
    }
    hosts.lines().find_map(|l| {
        let l = l.split('#').next().unwrap_or_default();
        let mut w = l.split_whitespace();
        let ip: Ipv4Addr = w.next()?.parse().ok()?;
        w.any(|n| n.eq_ignore_ascii_case(name)).then_some(ip)
    })
}

/// A request from the simulated host itself (its own namespace, as
/// `curl http://127.0.0.1:PORT/` on the host): what a lesson's or lab's
/// check asks of a published port in simulation. `root` is the simulated
/// store; the answer is the whole HTTP response.
pub fn sim_host_request(
    root: &std::path::Path,
    host_ip: Ipv4Addr,
    port: u16,
    request: &[u8],
) -> anyhow::Result<Reply> {
    let (ctx, now) = sim_host_ctx(root)?;
    Ok(ctx.connect(host_ip, port, request, now, &[], &SimFs::default(), "/"))
}

/// A UDP datagram from the simulated host itself, as a socket on the host
/// sending to `host_ip:port` and waiting for an answer.
pub fn sim_host_datagram(
    root: &std::path::Path,
    host_ip: Ipv4Addr,
    port: u16,
    data: &[u8],
) -> anyhow::Result<Reply> {
    let (ctx, now) = sim_host_ctx(root)?;
    Ok(ctx.datagram(host_ip, port, data, now))
}

/// The simulated host's own network context, with its live programs, and
/// the time now.
fn sim_host_ctx(root: &std::path::Path) -> anyhow::Result<(NetCtx, u64)> {
    if !crate::clock::is_simulated() {
        crate::clock::use_simulated(crate::clock::pinned_from_env().map(|p| p.0), 0);
    }
    let st = super::host::load_state(root)?;
    let now = crate::clock::now_ms();
    let mut ctx = (*for_pid(&st, 0)).clone();
    ctx.net.host_view();
    ctx.procs
        .retain(|pid, d| d.exited.is_none() && super::host::alive(root, *pid).unwrap_or(false));
    Ok((ctx, now))
}
