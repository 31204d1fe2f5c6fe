//! busybox's network applets over the simulated host's network
//! (`kernel::sim::reach`): `ip` (addr, link, route: read-only, as in a
//! container without CAP_NET_ADMIN), `ping`, `wget`, `nc` (client, and
//! `-l` server) and `httpd` (servers other programs reach). Their output and exit statuses
//! are busybox 1.35's.

use super::{getopt, has, val};
use crate::kernel::sim::net::{self, Path};
use crate::kernel::sim::nft::Proto;
use crate::kernel::sim::reach::{self, Reply};
use crate::kernel::sim::sh::exec::Sh;
use crate::kernel::sim::sh::world::{Proc, St};
use crate::kernel::sim::sh::Flow;
use std::net::Ipv4Addr;

type R = Result<i32, Flow>;

/// The network the process is on, or None (a throwaway host: no network).
pub(super) fn ctx(p: &Proc) -> Option<std::sync::Arc<reach::NetCtx>> {
    p.world().net.clone().filter(|c| !c.offline)
}

/// Resolve a name through the container's /etc/hosts (there is no DNS
/// server on the simulated host's network).
pub(super) fn lookup(p: &Proc, name: &str) -> Option<Ipv4Addr> {
    if name == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    let hosts = p
        .world()
        .fs
        .read_file("/etc/hosts", "/")
        .unwrap_or_default();
    reach::resolve(&String::from_utf8_lossy(&hosts), name)
}

/// Command lines of this run's own live processes (a server started by the same shell).
fn own_cmdlines(p: &Proc) -> Vec<String> {
    p.world()
        .procs
        .values()
        .filter(|e| e.state != St::Done && e.exit.is_none() && e.killed.is_none() && e.pid != p.pid)
        .map(|e| e.cmdline.clone())
        .collect()
}

/// Let `ms` of virtual time pass; Some(status) if a signal ended the wait.
pub(super) fn pause(p: &mut Proc, ms: u64) -> Result<Option<i32>, Flow> {
    let t = p.world().clock_ms.saturating_add(ms);
    while p.world().clock_ms < t {
        if let Some(sig) = p.sleep_until(t)? {
            return Ok(Some(128 + sig));
        }
    }
    Ok(None)
}

pub fn ip(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let args: Vec<&str> = argv[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !matches!(*a, "-4" | "-o" | "-s"))
        .collect();
    let object = args.first().copied().unwrap_or("");
    let rest = &args[args.len().min(1)..];
    let cmd = rest.first().copied().unwrap_or("show");
    let Some(c) = ctx(p) else {
        p.err("ip: can't find network namespace\n")?;
        return Ok(1);
    };
    let Some(ns) = c.ns().cloned() else {
        p.err("ip: can't find network namespace\n")?;
        return Ok(1);
    };
    let kind = match object {
        o if !o.is_empty() && "address".starts_with(o) => "addr",
        o if !o.is_empty() && "link".starts_with(o) => "link",
        o if !o.is_empty() && "route".starts_with(o) => "route",
        _ => {
            p.err("BusyBox v1.35.0 multi-call binary.\n\nUsage: ip [OPTIONS] address|route|link|tunnel|neigh|rule [ARGS]\n\nOPTIONS := -f[amily] inet|inet6|link | -o[neline]\n")?;
            return Ok(1);
        }
    };
    if !matches!(cmd, "show" | "list" | "lst" | "sh" | "ls" | "l") && !cmd.starts_with("dev") {
        // Changing links, addresses or routes needs CAP_NET_ADMIN, which a
        // container does not have.
        p.err("ip: RTNETLINK answers: Operation not permitted\n")?;
        return Ok(2);
    }
    let dev = rest
        .iter()
        .skip_while(|a| !matches!(**a, "dev" | "show" | "list"))
        .skip(1)
        .find(|a| **a != "dev")
        .copied();
    let mut only = ns.clone();
    if let Some(d) = dev {
        if kind != "route" {
            only.links.retain(|l| l.name == d);
            if only.links.is_empty() {
                p.err(format!("ip: can't find device '{d}'\n"))?;
                return Ok(1);
            }
        }
    }
    let text = match kind {
        "addr" => net::ip_show(&only, &c.net, true),
        "link" => net::ip_show(&only, &c.net, false),
        _ => net::ip_route(&ns),
    };
    p.out(text)?;
    Ok(0)
}

/// `hostname -i`: the addresses of the host name (through /etc/hosts).
pub fn hostname_i(p: &mut Proc) -> R {
    let name = p.world().hostname.clone();
    match lookup(p, &name) {
        Some(ip) => {
            p.out(format!("{ip}\n"))?;
            Ok(0)
        }
        None => {
            p.err(format!("hostname: {name}: Unknown host\n"))?;
            Ok(1)
        }
    }
}

pub fn ping(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, rest) = match getopt(&argv[1..], "qn46", "cWwsit") {
        Ok(x) => x,
        Err(c) => return super::bad_opt(p, "ping", c),
    };
    let Some(host) = rest.first().cloned() else {
        p.err("BusyBox v1.35.0 multi-call binary.\n\nUsage: ping [OPTIONS] HOST\n")?;
        return Ok(1);
    };
    let count: Option<u64> = val(&opts, 'c').and_then(|c| c.parse().ok());
    let wait_s: u64 = val(&opts, 'W').and_then(|c| c.parse().ok()).unwrap_or(10);
    let quiet = has(&opts, 'q');
    let Some(ip) = lookup(p, &host) else {
        p.err(format!("ping: bad address '{host}'\n"))?;
        return Ok(1);
    };
    let path = match ctx(p) {
        Some(c) => c.route(ip, Proto::Tcp, 0),
        None => Path::Unreachable,
    };
    p.out(format!("PING {host} ({ip}): 56 data bytes\n"))?;
    if path == Path::Unreachable {
        p.err("ping: sendto: Network is unreachable\n")?;
        return Ok(1);
    }
    let answered = matches!(path, Path::Deliver { .. });
    let total = count.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut times = Vec::new();
    let mut interrupted = false;
    while sent < total {
        let rtt = 60 + (sent * 37 + u64::from(ip.octets()[3]) * 11) % 50;
        sent += 1;
        if answered {
            times.push(rtt);
            if !quiet {
                p.out(format!(
                    "64 bytes from {ip}: seq={} ttl=64 time=0.{rtt:03} ms\n",
                    sent - 1
                ))?;
            }
        }
        // One echo request a second; after the last, an unanswered one is waited for.
        let wait = if sent < total {
            1000
        } else if answered {
            0
        } else {
            wait_s * 1000
        };
        if wait > 0 && pause(p, wait)?.is_some() {
            interrupted = true;
            break;
        }
    }
    p.out(format!("\n--- {host} ping statistics ---\n"))?;
    let got = times.len() as u64;
    p.out(format!(
        "{sent} packets transmitted, {got} packets received, {}% packet loss\n",
        if sent == 0 {
            0
        } else {
            (sent - got) * 100 / sent
        }
    ))?;
    if got > 0 {
        let min = times.iter().min().copied().unwrap_or(0);
        let max = times.iter().max().copied().unwrap_or(0);
        let avg = times.iter().sum::<u64>() / got;
        p.out(format!(
            "round-trip min/avg/max = 0.{min:03}/0.{avg:03}/0.{max:03} ms\n"
        ))?;
    }
    let _ = interrupted;
    Ok(if got > 0 { 0 } else { 1 })
}

/// `http://host[:port]/path` → (host, port, path, host[:port] as written).
fn parse_url(url: &str) -> Option<(String, u16, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (hostport.to_string(), 80),
    };
    Some((host, port, path, hostport.to_string()))
}

/// Connect from this process to `host:port` and send `request`: the reply,
/// or the busybox error text after the time it takes.
fn connect(
    p: &mut Proc,
    tool: &str,
    ip: Ipv4Addr,
    port: u16,
    request: &[u8],
) -> Result<Result<Vec<u8>, String>, Flow> {
    let Some(c) = ctx(p) else {
        return Ok(Err(format!(
            "{tool}: can't connect to remote host ({ip}): Network is unreachable\n"
        )));
    };
    let at = p.world().clock_ms;
    let local = own_cmdlines(p);
    let cwd = "/".to_string();
    let reply = c.connect(ip, port, request, at, &local, &p.world().fs, &cwd);
    Ok(match reply {
        Reply::Data(d) => Ok(d),
        Reply::Refused => Err(format!(
            "{tool}: can't connect to remote host ({ip}): Connection refused\n"
        )),
        Reply::Unreachable => Err(format!(
            "{tool}: can't connect to remote host ({ip}): Network is unreachable\n"
        )),
        Reply::Lost(why) => Err(format!("glassbox: {why}\n")),
        Reply::TimedOut => {
            // The kernel gives up on a connect after its SYN retries (~127 s).
            if let Some(code) = pause(p, 127_000)? {
                return Err(Flow::Exit(code));
            }
            Err(format!(
                "{tool}: can't connect to remote host ({ip}): Connection timed out\n"
            ))
        }
    })
}

pub fn wget(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, rest) = match getopt(&argv[1..], "qcsS", "OTUYPo") {
        Ok(x) => x,
        Err(c) => return super::bad_opt(p, "wget", c),
    };
    let quiet = has(&opts, 'q');
    let Some(url) = rest.first().cloned() else {
        p.err("BusyBox v1.35.0 multi-call binary.\n\nUsage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...\n")?;
        return Ok(1);
    };
    let Some((host, port, path, written)) = parse_url(&url) else {
        p.err(format!("wget: not an http or ftp url: {url}\n"))?;
        return Ok(1);
    };
    let Some(ip) = lookup(p, &host) else {
        p.err(format!("wget: bad address '{host}'\n"))?;
        return Ok(1);
    };
    if !quiet {
        // busybox names the server as the URL wrote it.
        p.err(format!("Connecting to {written} ({ip}:{port})\n"))?;
    }
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n"
    );
    let data = match connect(p, "wget", ip, port, request.as_bytes())? {
        Ok(d) => d,
        Err(msg) => {
            p.err(msg)?;
            return Ok(1);
        }
    };
    let (status, body) = reach::split_response(&data);
    if !status.contains(" 200 ") {
        p.err(format!("wget: server returned error: {status}\n"))?;
        return Ok(1);
    }
    let name = path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("index.html");
    let out = val(&opts, 'O')
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string());
    let bar = |shown: &str| {
        format!(
            "{:<20} 100% |********************************| {:>5}  0:00:00 ETA\n",
            shown,
            body.len()
        )
    };
    if out == "-" {
        if !quiet {
            p.err("writing to stdout\n")?;
        }
        p.out(&body)?;
        if !quiet {
            p.err(bar("-"))?;
            p.err("written to stdout\n")?;
        }
        return Ok(0);
    }
    if !quiet {
        p.err(format!("saving to '{out}'\n"))?;
    }
    let cwd = sh.cwd.clone();
    if let Err(e) = p.w().fs.write_file(&out, &cwd, &body, false) {
        p.err(format!("wget: can't open '{out}': {e}\n"))?;
        return Ok(1);
    }
    if !quiet {
        let base = out.rsplit('/').next().unwrap_or(&out).to_string();
        p.err(bar(&base))?;
        p.err(format!("'{out}' saved\n"))?;
    }
    Ok(0)
}

/// busybox 1.35's small `nc` (Debian's build, as in the busybox image):
/// no UDP, no -z/-n/-v.
const NC_USAGE: &str = "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n\nUsage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]\n\nOpen a pipe to IP:PORT or FILE\n\n\t-l\tListen mode, for inbound connects\n\t\t(use -ll with -e for persistent server)\n\t-p PORT\tLocal port\n\t-w SEC\tConnect timeout\n\t-i SEC\tDelay interval for lines sent\n\t-f FILE\tUse file (ala /dev/ttyS0) instead of network\n\t-e PROG\tRun PROG after connect\n";

pub fn nc(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, rest) = match getopt(&argv[1..], "l", "pwief") {
        Ok(x) => x,
        Err(c) => {
            p.err(format!("nc: invalid option -- '{c}'\n{NC_USAGE}"))?;
            return Ok(1);
        }
    };
    if has(&opts, 'e') || has(&opts, 'f') {
        p.err(
            "nc: -e PROG and -f FILE cannot run in simulation; run for real as root to use them\n",
        )?;
        return Ok(126);
    }
    if has(&opts, 'l') {
        return nc_listen(p, &opts);
    }
    let (Some(host), Some(port)) = (rest.first().cloned(), rest.get(1).cloned()) else {
        p.err(NC_USAGE)?;
        return Ok(1);
    };
    let Some(ip) = lookup(p, &host) else {
        p.err(format!("nc: bad address '{host}'\n"))?;
        return Ok(1);
    };
    let Ok(port) = port.parse::<u16>() else {
        p.err(format!("nc: bad port '{port}'\n"))?;
        return Ok(1);
    };
    let request = p.read_all(0)?;
    match connect(p, "nc", ip, port, &request)? {
        Ok(d) => {
            p.out(&d)?;
            Ok(0)
        }
        Err(msg) => {
            p.err(msg)?;
            Ok(1)
        }
    }
}

/// `nc -l -p PORT`: wait for one TCP connection, send it what stdin holds,
/// print what the client sent, and end (busybox without -e). The
/// connection comes from another simulated program (`reach::NetCtx::
/// connect`), which keeps it with this program's container (`reach::
/// deliver`), so every later replay sees it arrive then.
fn nc_listen(p: &mut Proc, opts: &[(char, String)]) -> R {
    let Some(port) = val(opts, 'p') else {
        // busybox listens on a port the kernel picks and says nothing:
        // nobody could know where to connect.
        p.err("nc: -l without -p PORT cannot run in simulation (no client could find the port)\n")?;
        return Ok(126);
    };
    let Ok(port) = port.parse::<u16>() else {
        p.err(format!("nc: bad port '{port}'\n"))?;
        return Ok(1);
    };
    let reply = p.read_all(0)?;
    let since = p.world().clock_ms;
    let me = p.pid;
    p.w().listening.insert(me, (port, reply));
    let arrival = p.world().net.clone().and_then(|c| {
        c.inbound
            .iter()
            .filter(|i| i.proto == Proto::Tcp && i.port == port && i.at_ms >= since)
            .min_by_key(|i| i.at_ms)
            .cloned()
    });
    let until = arrival.as_ref().map_or(u64::MAX / 2, |i| i.at_ms);
    while p.world().clock_ms < until {
        if let Some(sig) = p.sleep_until(until)? {
            p.w().listening.remove(&me);
            return Ok(128 + sig);
        }
    }
    p.w().listening.remove(&me);
    if let Some(i) = arrival {
        p.out(&i.data)?;
    }
    Ok(0)
}

/// busybox httpd: serves files under `-h DIR` (default: its working
/// directory) on `-p [IP:]PORT` (default 80). With `-f` it stays in the
/// foreground; without, it leaves a daemon behind and returns at once.
/// Requests reach it through `reach::NetCtx::connect`, which finds it among
/// the live processes of its run.
pub fn httpd(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, _rest) = match getopt(&argv[1..], "fvi", "phcruemd") {
        Ok(x) => x,
        Err(c) => return super::bad_opt(p, "httpd", c),
    };
    if let Some(port) = val(&opts, 'p') {
        if port
            .rsplit(':')
            .next()
            .and_then(|x| x.parse::<u16>().ok())
            .is_none()
        {
            p.err(format!("httpd: invalid port '{port}'\n"))?;
            return Ok(1);
        }
    }
    if !has(&opts, 'f') {
        let pid = p.world().next_pid;
        let cmd = argv.join(" ");
        p.w().add_foreign(pid, "root", &cmd);
        return Ok(0);
    }
    loop {
        if let Some(sig) = p.sleep_until(u64::MAX / 2)? {
            return Ok(128 + sig);
        }
    }
}
