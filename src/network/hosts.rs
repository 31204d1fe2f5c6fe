//! The text of a networked container's /etc/hosts and /etc/resolv.conf.
//!
//! Names on a user network are resolved through /etc/hosts, not an embedded
//! DNS server: each container's file is its own part (`hosts.base`: localhost,
//! its address and hostname, `--link`, `--add-host`) plus one line per peer on
//! the same network (name, `--network-alias`es, short id), rewritten in place
//! for every member under the network lock whenever a container joins or
//! leaves. Simple and visible (`cat /etc/hosts`), at the cost of docker's
//! DNS features (round-robin aliases, names of containers on other networks
//! joined later).

use crate::error::EXIT_ENGINE;
use anyhow::Result;
use std::net::IpAddr;

pub const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The line a block of peers starts with (what follows it is rewritten).
pub const PEERS_MARK: &str = "# glassbox: containers on network ";

/// `--add-host HOST:IP` (or `HOST=IP`; `host-gateway` is the network's gateway).
pub fn parse_add_host(spec: &str, gateway: Option<IpAddr>) -> Result<(String, IpAddr)> {
    let (host, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(|| {
            anyhow::Error::new(crate::error::ExitError::new(
                EXIT_ENGINE,
                format!("bad format for add-host: {spec:?} (give HOST:IP, e.g. db:10.0.0.5)"),
            ))
        })?;
    let ip = if ip == "host-gateway" {
        gateway.ok_or_else(|| {
            anyhow::Error::new(crate::error::ExitError::new(
                EXIT_ENGINE,
                format!("--add-host {spec}: host-gateway needs a bridge network"),
            ))
        })?
    } else {
        ip.trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| {
                anyhow::Error::new(crate::error::ExitError::new(
                    EXIT_ENGINE,
                    format!("invalid IP address in add-host: {ip:?}"),
                ))
            })?
    };
    if host.is_empty() {
        crate::exit_err!(
            EXIT_ENGINE,
            "bad format for add-host: {spec:?} has no host name"
        );
    }
    Ok((host.to_string(), ip))
}

/// A container's own part of /etc/hosts.
pub fn base(
    hostname: &str,
    ip: Option<IpAddr>,
    links: &[(IpAddr, String)],
    add_hosts: &[(String, IpAddr)],
) -> String {
    let mut s = LOCALHOST.to_string();
    for (host, ip) in add_hosts {
        s.push_str(&format!("{ip}\t{host}\n"));
    }
    for (ip, names) in links {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    match ip {
        Some(ip) => s.push_str(&format!("{ip}\t{hostname}\n")),
        None => s.push_str(&format!("127.0.0.1\t{hostname}\n")),
    }
    s
}

/// The peers' block: one line per other container on the network.
pub fn peers_block(network: &str, peers: &[(IpAddr, Vec<String>)]) -> String {
    if peers.is_empty() {
        return String::new();
    }
    let mut s = format!("{PEERS_MARK}{network}\n");
    for (ip, names) in peers {
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    s
}

/// resolv.conf with docker's `--dns`, `--dns-search`, `--dns-option`: each
/// given replaces the host's lines of that kind.
pub fn resolv(
    host_filtered: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    if dns.is_empty() && search.is_empty() && options.is_empty() {
        return host_filtered.to_string();
    }
    let keep = |kind: &str, given: bool| !given || kind.is_empty();
    let mut out = String::new();
    for line in host_filtered.lines() {
        let kind = line.split_whitespace().next().unwrap_or("");
        let replaced = match kind {
            "nameserver" => !keep(kind, !dns.is_empty()),
            "search" | "domain" => !keep(kind, !search.is_empty()),
            "options" => !keep(kind, !options.is_empty()),
            _ => false,
        };
        if !replaced {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for ns in dns {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}
