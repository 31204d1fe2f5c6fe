//! `-p`/`--publish` and `-P`: docker's port specs, the bindings they become
//! once host ports are chosen, and how `ps` and `port` show them.
//!
//! Forms: `C`, `H:C`, `IP:H:C`, `IP::C`, each port a number or a range
//! (`8000-8001:80-81`), each with `/tcp` (default) or `/udp`.

use crate::error::EXIT_ENGINE;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `-p` as given: ranges not yet paired with host ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// None: every host address (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// None: any free port (the kernel's ephemeral range, as docker's 32768+).
    pub host: Option<(u16, u16)>,
    pub container: (u16, u16),
    pub proto: Proto,
}

/// One published port: host address and port → the container's port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Binding {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl Binding {
    /// docker's `0.0.0.0:32768->5000/tcp`.
    pub fn ps_text(&self) -> String {
        format!(
            "{}:{}->{}/{}",
            self.host_ip,
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

fn bad(spec: &str, why: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(
        EXIT_ENGINE,
        format!("invalid port specification {spec:?}: {why} (forms: 80, 8080:80, 127.0.0.1:8080:80, 127.0.0.1::80, 8000-8001:80-81, with /tcp or /udp)"),
    ))
}

fn range(spec: &str, text: &str) -> Result<(u16, u16)> {
    let num = |t: &str| -> Result<u16> {
        match t.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(bad(
                spec,
                &format!("{t:?} is not a port between 1 and 65535"),
            )),
        }
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad(
                    spec,
                    &format!("the range {text} ends before it starts"),
                ));
            }
            Ok((a, b))
        }
        None => {
            let p = num(text)?;
            Ok((p, p))
        }
    }
}

pub fn parse(spec: &str) -> Result<PortSpec> {
    let (body, proto) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, Proto::Tcp),
        Some((b, "udp")) => (b, Proto::Udp),
        Some((_, other)) => {
            return Err(bad(
                spec,
                &format!("unsupported protocol {other:?} (tcp or udp)"),
            ))
        }
        None => (spec, Proto::Tcp),
    };
    if body.starts_with('[') {
        return Err(bad(
            spec,
            "IPv6 host addresses are not supported by glassbox yet",
        ));
    }
    let parts: Vec<&str> = body.split(':').collect();
    let (ip, host, container) = match parts[..] {
        [c] => (None, None, c),
        [h, c] => (None, Some(h), c),
        [ip, h, c] => (Some(ip), Some(h).filter(|h| !h.is_empty()), c),
        _ => return Err(bad(spec, "too many colons")),
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<Ipv4Addr>()
                .map_err(|_| bad(spec, &format!("{ip:?} is not an IPv4 address")))?,
        ),
    };
    let container = range(spec, container)?;
    let host = host.map(|h| range(spec, h)).transpose()?;
    if let Some(h) = host {
        let (hl, cl) = (h.1 - h.0, container.1 - container.0);
        if hl != cl && cl != 0 {
            return Err(bad(spec, "the host and container ranges differ in length"));
        }
    }
    Ok(PortSpec {
        host_ip: host_ip.filter(|ip| !ip.is_unspecified()),
        host,
        container,
        proto,
    })
}

/// `-P`: every port the image EXPOSEs (`80/tcp`, `53/udp`), on any free host port.
pub fn exposed(exposed: &[String]) -> Result<Vec<PortSpec>> {
    exposed
        .iter()
        .map(|e| {
            let mut s = parse(e)?;
            s.host = None;
            s.host_ip = None;
            Ok(s)
        })
        .collect()
}

/// What one spec asks for, port by port: (host port or None for any, container port).
/// A host range with one container port means "one free port of that range".
pub fn wanted(spec: &PortSpec) -> Vec<(Vec<u16>, u16)> {
    let containers: Vec<u16> = (spec.container.0..=spec.container.1).collect();
    match spec.host {
        None => containers.into_iter().map(|c| (vec![], c)).collect(),
        Some((a, b)) if containers.len() == 1 && b > a => vec![((a..=b).collect(), containers[0])],
        Some((a, _)) => containers
            .iter()
            .enumerate()
            .map(|(i, c)| (vec![a + i as u16], *c))
            .collect(),
    }
}

/// `ps`'s PORTS column: docker's form, joined by ", ".
pub fn ps_column(bindings: &[Binding]) -> String {
    let mut b = bindings.to_vec();
    b.sort_by_key(|x| (x.container_port, x.proto, x.host_ip, x.host_port));
    b.iter().map(|x| x.ps_text()).collect::<Vec<_>>().join(", ")
}
