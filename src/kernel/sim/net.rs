//! The simulated host's networking: network namespaces (the host's, key 0,
//! and one per container, keyed by the host PID that made it), their links
//! (loopback, bridges, veth pairs with their peers), addresses, default
//! routes, sysctls and glassbox's nft table. The network steps change it
//! exactly as rtnetlink, `sysctl -w` and `nft -f` change the real kernel's
//! (`apply`); `ip`-style views and packet paths (`route`) read it.

use super::nft::{self, Proto, Tables};
use crate::step::Step;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The simulated host's own uplink (a VM's usual user-mode network).
pub const HOST_ETH0: &str = "10.0.2.15/24";
/// Its route: the subnet of `HOST_ETH0` (new networks stay clear of it).
pub const HOST_SUBNET: &str = "10.0.2.0/24";
pub const HOST_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// "loopback", "bridge", "veth" or "ether".
    pub kind: String,
    pub mac: String,
    pub up: bool,
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// A veth's other end: (namespace key, its index).
    #[serde(default)]
    pub peer: Option<(i32, u32)>,
}

impl Link {
    fn subnet_has(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.addrs.iter().find_map(|(a, p)| {
            let m = if *p == 0 {
                0
            } else {
                u32::MAX << (32 - *p as u32)
            };
            (u32::from(*a) & m == u32::from(ip) & m).then_some(*a)
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NetNs {
    pub links: Vec<Link>,
    #[serde(default)]
    pub default_via: Option<Ipv4Addr>,
}

impl NetNs {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }
    fn link_mut(&mut self, name: &str) -> Result<&mut Link> {
        self.links
            .iter_mut()
            .find(|l| l.name == name)
            .with_context(|| format!("Cannot find device \"{name}\""))
    }
    /// Whether `ip` is one of this namespace's own addresses (or loopback).
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback()
            || self
                .links
                .iter()
                .any(|l| l.addrs.iter().any(|(a, _)| *a == ip))
    }
    /// The first address of an up link other than loopback.
    pub fn primary(&self) -> Option<Ipv4Addr> {
        self.links
            .iter()
            .filter(|l| l.up && l.kind != "loopback")
            .find_map(|l| l.addrs.first().map(|(a, _)| *a))
    }
}

/// Everything the simulated host's networking holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SimNet {
    #[serde(default)]
    pub netns: BTreeMap<i32, NetNs>,
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default)]
    pub nft: Tables,
    #[serde(default)]
    pub last_index: u32,
    /// Processes that joined another's network namespace (`--network
    /// container:`, a setns): joiner's host PID → the namespace's key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub joined: BTreeMap<i32, i32>,
}

/// A MAC address for a link glassbox does not give one to (the kernel's random one, made repeatable).
fn mac_of(name: &str) -> String {
    let d = crate::fsutil::sha256_hex(name.as_bytes());
    format!(
        "{}2:{}:{}:{}:{}:{}",
        &d[0..1],
        &d[2..4],
        &d[4..6],
        &d[6..8],
        &d[8..10],
        &d[10..12]
    )
}

fn cidr(text: &str) -> Result<(Ipv4Addr, u8)> {
    let (ip, p) = text
        .split_once('/')
        .with_context(|| format!("address {text} has no prefix"))?;
    Ok((ip.parse()?, p.parse()?))
}

impl SimNet {
    /// The host's namespace, made on first use: lo and eth0 with its route out.
    fn host(&mut self) -> &mut NetNs {
        if !self.netns.contains_key(&0) {
            let (ip, p) = cidr(HOST_ETH0).expect("a valid constant");
            self.netns.insert(
                0,
                NetNs {
                    links: vec![
                        Link {
                            index: 1,
                            name: "lo".into(),
                            kind: "loopback".into(),
                            mac: "00:00:00:00:00:00".into(),
                            up: true,
                            addrs: vec![(Ipv4Addr::LOCALHOST, 8)],
                            ..Default::default()
                        },
                        Link {
                            index: 2,
                            name: "eth0".into(),
                            kind: "ether".into(),
                            mac: "52:54:00:12:34:56".into(),
                            up: true,
                            addrs: vec![(ip, p)],
                            ..Default::default()
                        },
                    ],
                    default_via: Some(HOST_GATEWAY),
                },
            );
            self.last_index = self.last_index.max(2);
        }
        self.netns.get_mut(&0).expect("just made")
    }

    /// The host's namespace as it is (made on first look).
    pub fn host_view(&mut self) -> NetNs {
        self.host().clone()
    }

    fn next_index(&mut self) -> u32 {
        self.host();
        self.last_index += 1;
        self.last_index
    }

    /// A new network namespace for the process `pid` (clone with CLONE_NEWNET): only lo, down.
    pub fn new_netns(&mut self, pid: i32) {
        self.host();
        self.netns.insert(
            pid,
            NetNs {
                links: vec![Link {
                    index: 1,
                    name: "lo".into(),
                    kind: "loopback".into(),
                    mac: "00:00:00:00:00:00".into(),
                    up: false,
                    // The kernel gives lo 127.0.0.1 when it is brought up.
                    addrs: vec![(Ipv4Addr::LOCALHOST, 8)],
                    ..Default::default()
                }],
                default_via: None,
            },
        );
    }

    /// `ip link set lo up` in `pid`'s namespace (the child's loopback step).
    pub fn loopback_up(&mut self, pid: i32) {
        if let Some(l) = self
            .netns
            .get_mut(&pid)
            .and_then(|n| n.links.iter_mut().find(|l| l.kind == "loopback"))
        {
            l.up = true;
        }
    }

    /// Namespaces die with their last process: forget those of processes
    /// `alive` says are gone, and the host ends of veth pairs into them.
    pub fn prune(&mut self, alive: impl Fn(i32) -> bool) {
        self.joined.retain(|joiner, _| alive(*joiner));
        // A namespace lives while a process is in it: its maker or a joiner.
        let held = |k: i32| alive(k) || self.joined.values().any(|ns| *ns == k);
        let dead: Vec<i32> = self
            .netns
            .keys()
            .copied()
            .filter(|k| *k != 0 && !held(*k))
            .collect();
        if dead.is_empty() {
            return;
        }
        for k in &dead {
            self.netns.remove(k);
        }
        if let Some(h) = self.netns.get_mut(&0) {
            h.links
                .retain(|l| !l.peer.is_some_and(|(ns, _)| dead.contains(&ns)));
        }
    }

    /// The namespace process `pid` is in: its own, the one it joined, or
    /// the host's (0).
    pub fn key_of(&self, pid: i32) -> i32 {
        if self.netns.contains_key(&pid) {
            return pid;
        }
        match self.joined.get(&pid) {
            Some(k) if self.netns.contains_key(k) => *k,
            _ => 0,
        }
    }

    /// Process `joiner` setns'd into the network namespace of process `owner`.
    pub fn join(&mut self, joiner: i32, owner: i32) -> Result<()> {
        let key = self.key_of(owner);
        if key == 0 {
            bail!("process {owner} has no network namespace of its own to join");
        }
        self.joined.insert(joiner, key);
        Ok(())
    }

    /// A container restarted under its restart policy: its new process
    /// (`new`) gets a network namespace wired as the old one's (`old`) was,
    /// as the restarting supervisor's steps wire it (a veth pair with fresh
    /// interface indexes and the same names, MAC, addresses and route);
    /// the old namespace goes with its process. Processes that had joined
    /// the old one follow it.
    pub fn carry_over(&mut self, old: i32, new: i32) {
        let Some(mut ns) = self.netns.remove(&old) else {
            return;
        };
        for i in 0..ns.links.len() {
            let Some((0, host_index)) = ns.links[i].peer else {
                continue;
            };
            let inside = self.next_index();
            let outside = self.next_index();
            if let Some(h) = self
                .host()
                .links
                .iter_mut()
                .find(|h| h.index == host_index && h.peer == Some((old, ns.links[i].index)))
            {
                h.index = outside;
                h.peer = Some((new, inside));
            }
            ns.links[i].index = inside;
            ns.links[i].peer = Some((0, outside));
        }
        self.netns.insert(new, ns);
        for k in self.joined.values_mut().filter(|k| **k == old) {
            *k = new;
        }
    }

    fn ns_mut(&mut self, pid: i32) -> Result<&mut NetNs> {
        self.netns
            .get_mut(&pid)
            .with_context(|| format!("no network namespace of process {pid} (it has ended)"))
    }

    fn sysctl_path_exists(&mut self, key: &str) -> bool {
        match key.strip_prefix("net.ipv4.conf.") {
            Some(rest) => {
                let dev = rest.rsplit_once('.').map(|(d, _)| d).unwrap_or(rest);
                ["all", "default"].contains(&dev) || self.host().link(dev).is_some()
            }
            None => key.starts_with("net."),
        }
    }

    /// A sysctl's value as `cat /proc/sys/...` shows it (the kernel's defaults otherwise).
    pub fn sysctl(&mut self, key: &str) -> String {
        if let Some(v) = self.sysctls.get(key) {
            return v.clone();
        }
        if self.sysctl_path_exists(key) {
            "0".into()
        } else {
            String::new()
        }
    }

    pub fn link_exists(&mut self, name: &str) -> bool {
        self.host().link(name).is_some()
    }

    /// Carry out a network step on the model.
    pub fn apply(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::BridgeCreate { bridge, gateway } => {
                let (ip, p) = cidr(gateway)?;
                if self.host().link(bridge).is_none() {
                    let index = self.next_index();
                    self.host().links.push(Link {
                        index,
                        name: bridge.clone(),
                        kind: "bridge".into(),
                        mac: mac_of(bridge),
                        ..Default::default()
                    });
                }
                let l = self.host().link_mut(bridge)?;
                if l.addrs.contains(&(ip, p)) {
                    bail!("RTNETLINK answers: File exists (address {gateway} on {bridge})");
                }
                l.addrs.push((ip, p));
                l.up = true;
                Ok(())
            }
            Step::BridgeRemove { bridge } | Step::LinkRemove { name: bridge } => {
                let host = self.host();
                let i = host
                    .links
                    .iter()
                    .position(|l| l.name == *bridge)
                    .with_context(|| format!("Cannot find device \"{bridge}\""))?;
                let gone = host.links.remove(i);
                if gone.kind == "bridge" {
                    for l in host
                        .links
                        .iter_mut()
                        .filter(|l| l.master.as_deref() == Some(bridge))
                    {
                        l.master = None;
                    }
                    self.sysctls
                        .retain(|k, _| !k.starts_with(&format!("net.ipv4.conf.{bridge}.")));
                }
                // Deleting one end of a veth pair deletes the other.
                if let Some((ns, idx)) = gone.peer {
                    if let Some(n) = self.netns.get_mut(&ns) {
                        n.links.retain(|l| l.index != idx);
                    }
                }
                Ok(())
            }
            Step::VethCreate {
                host,
                peer,
                bridge,
                pid,
                mac,
            } => {
                if !self.netns.contains_key(pid) {
                    bail!("Cannot open network namespace of process {pid}: No such process");
                }
                if self.host().link(host).is_some() {
                    bail!("RTNETLINK answers: File exists ({host})");
                }
                if self.host().link(bridge).is_none_or(|b| b.kind != "bridge") {
                    bail!("Cannot find device \"{bridge}\"");
                }
                if self.netns[pid].link(peer).is_some() {
                    bail!("RTNETLINK answers: File exists ({peer} in process {pid}'s namespace)");
                }
                let peer_index = self.next_index();
                let host_index = self.next_index();
                self.ns_mut(*pid)?.links.push(Link {
                    index: peer_index,
                    name: peer.clone(),
                    kind: "veth".into(),
                    mac: mac.clone(),
                    peer: Some((0, host_index)),
                    ..Default::default()
                });
                self.host().links.push(Link {
                    index: host_index,
                    name: host.clone(),
                    kind: "veth".into(),
                    mac: mac_of(host),
                    up: true,
                    master: Some(bridge.clone()),
                    peer: Some((*pid, peer_index)),
                    ..Default::default()
                });
                Ok(())
            }
            Step::AddrAdd { pid, dev, address } => {
                let a = cidr(address)?;
                let l = self.ns_mut(*pid)?.link_mut(dev)?;
                if l.addrs.contains(&a) {
                    bail!("RTNETLINK answers: File exists ({address})");
                }
                l.addrs.push(a);
                Ok(())
            }
            Step::NetnsLinkUp { pid, dev } => {
                self.ns_mut(*pid)?.link_mut(dev)?.up = true;
                Ok(())
            }
            Step::RouteAdd { pid, gateway } => {
                let gw: Ipv4Addr = gateway.parse()?;
                let ns = self.ns_mut(*pid)?;
                if !ns.links.iter().any(|l| l.up && l.subnet_has(gw).is_some()) {
                    bail!("RTNETLINK answers: Network is unreachable (gateway {gw})");
                }
                if ns.default_via.is_some() {
                    bail!("RTNETLINK answers: File exists (a default route)");
                }
                ns.default_via = Some(gw);
                Ok(())
            }
            Step::SysctlWrite { key, value } => {
                if !self.sysctl_path_exists(key) {
                    bail!(
                        "write /proc/sys/{}: No such file or directory",
                        key.replace('.', "/")
                    );
                }
                self.sysctls.insert(key.clone(), value.clone());
                Ok(())
            }
            Step::NftApply { script, .. } => nft::apply(&mut self.nft, script)
                .map_err(|e| anyhow::anyhow!("nft refused the script: {e:#}\n{script}")),
            // The engine keeps the books of published ports; the simulated
            // host has no other program holding one.
            Step::PortReserve { .. } => Ok(()),
            other => bail!("{} is not a network step", other.kind()),
        }
    }

    /// The links of namespace `ns` (0: the host's) as the kernel reports them.
    pub fn link_view(&mut self, ns: i32) -> Result<Vec<crate::kernel::LinkView>> {
        if ns == 0 {
            self.host();
        }
        let n = self.netns.get(&ns).with_context(|| {
            format!("Cannot open network namespace of process {ns}: No such process")
        })?;
        Ok(n.links
            .iter()
            .map(|l| crate::kernel::LinkView {
                index: l.index,
                name: l.name.clone(),
                kind: l.kind.clone(),
                up: l.up,
                master: l.master.clone(),
                addrs: l.addrs.clone(),
                mac: l.mac.clone(),
                peer_index: l.peer.map(|(_, i)| i),
            })
            .collect())
    }

    /// The namespace (key) that owns address `ip` on a container link, or the host's.
    fn owner_of(&self, ip: Ipv4Addr) -> Option<i32> {
        self.netns
            .iter()
            .find(|(_, n)| {
                n.links
                    .iter()
                    .filter(|l| l.up && l.kind != "loopback")
                    .any(|l| l.addrs.iter().any(|(a, _)| *a == ip))
            })
            .map(|(k, _)| *k)
    }

    /// The bridge a container namespace's veth hangs on.
    /// The bridge a container's link is plugged into (its veth peer's master).
    fn link_bridge(&self, l: &Link) -> Option<String> {
        let (pns, pidx) = l.peer?;
        let host_end = self
            .netns
            .get(&pns)?
            .links
            .iter()
            .find(|h| h.index == pidx)?;
        host_end.master.clone()
    }

    /// The bridge behind the link of namespace `ns` that holds address `ip`
    /// (a container on several networks has one link per network).
    fn bridge_of_addr(&self, ns: i32, ip: Ipv4Addr) -> Option<String> {
        let n = self.netns.get(&ns)?;
        n.links
            .iter()
            .find(|l| l.addrs.iter().any(|(a, _)| *a == ip))
            .and_then(|l| self.link_bridge(l))
    }

    /// Where a packet from namespace `from` to `dst` ends up.
    pub fn route(&self, from: i32, dst: Ipv4Addr, proto: Proto, port: u16) -> Path {
        let Some(me) = self.netns.get(&from) else {
            return Path::Unreachable;
        };
        if me.is_local(dst) {
            // Locally delivered (the host's own output chain may still DNAT it).
            if from == 0 {
                if let Some(t) = self
                    .nft
                    .values()
                    .find_map(|t| nft::dnat(t, dst, proto, port))
                {
                    return self.route_dnat(t.0, t.1);
                }
            }
            return Path::Deliver {
                ns: from,
                ip: dst,
                port,
            };
        }
        // Out of an up link whose subnet holds dst, else via the default route.
        let direct = me
            .links
            .iter()
            .find(|l| l.up && l.subnet_has(dst).is_some());
        let (out, _next_hop) = match direct {
            Some(l) => (l.clone(), dst),
            None => match me.default_via.and_then(|gw| {
                me.links
                    .iter()
                    .find(|l| l.up && l.subnet_has(gw).is_some())
                    .map(|l| (l.clone(), gw))
            }) {
                Some(x) => x,
                None => return Path::Unreachable,
            },
        };
        if from == 0 {
            // The host: to a container on one of its bridges.
            return match self.owner_of(dst) {
                Some(ns)
                    if ns != 0
                        && out.kind == "bridge"
                        && self.bridge_of_addr(ns, dst).as_deref() == Some(&out.name) =>
                {
                    Path::Deliver { ns, ip: dst, port }
                }
                _ => Path::Lost,
            };
        }
        // A container: onto its bridge (the host end of its veth).
        let Some(bridge) = self.link_bridge(&out) else {
            return Path::Lost;
        };
        let host = &self.netns[&0];
        if direct.is_some() {
            // Same subnet: switched by the bridge, never forwarded.
            return match self.owner_of(dst) {
                Some(ns) if ns != 0 && self.bridge_of_addr(ns, dst).as_deref() == Some(&bridge) => {
                    Path::Deliver { ns, ip: dst, port }
                }
                Some(0) if host.is_local(dst) => self.to_host(dst, proto, port),
                _ => Path::Lost,
            };
        }
        if host.is_local(dst) {
            return self.to_host(dst, proto, port);
        }
        // Forwarded by the host: ip_forward, then the forward chain.
        if self.sysctls.get("net.ipv4.ip_forward").map(String::as_str) != Some("1") {
            return Path::Lost;
        }
        match self.owner_of(dst) {
            Some(ns) if ns != 0 => {
                let Some(obr) = self.bridge_of_addr(ns, dst) else {
                    return Path::Lost;
                };
                if self
                    .nft
                    .values()
                    .any(|t| nft::forward_drops(t, &bridge, &obr))
                {
                    return Path::Lost;
                }
                Path::Deliver { ns, ip: dst, port }
            }
            // The world beyond the simulated host answers nothing.
            _ => Path::Lost,
        }
    }

    /// A packet for one of the host's addresses from a container: prerouting's DNAT, else the host itself.
    fn to_host(&self, dst: Ipv4Addr, proto: Proto, port: u16) -> Path {
        match self
            .nft
            .values()
            .find_map(|t| nft::dnat(t, dst, proto, port))
        {
            Some((ip, p)) => self.route_dnat(ip, p),
            None => Path::Deliver {
                ns: 0,
                ip: dst,
                port,
            },
        }
    }

    fn route_dnat(&self, ip: Ipv4Addr, port: u16) -> Path {
        match self.owner_of(ip) {
            Some(ns) if ns != 0 => Path::Deliver { ns, ip, port },
            _ => Path::Lost,
        }
    }
}

/// Where a packet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// To namespace `ns`, address `ip` (after any DNAT), port `port`.
    Deliver { ns: i32, ip: Ipv4Addr, port: u16 },
    /// No route from the sender ("Network is unreachable").
    Unreachable,
    /// Sent, never answered (dropped, or nobody at that address).
    Lost,
}

/// `ip addr` / `ip link` as busybox prints them.
pub fn ip_show(ns: &NetNs, all: &SimNet, addrs: bool) -> String {
    let mut s = String::new();
    for l in &ns.links {
        let peer = l.peer.and_then(|(pns, idx)| {
            let here = all
                .netns
                .iter()
                .find(|(_, n)| std::ptr::eq(*n, ns))
                .map(|(k, _)| *k);
            let p = all.netns.get(&pns)?.links.iter().find(|x| x.index == idx)?;
            Some(if here == Some(pns) {
                format!("@{}", p.name)
            } else {
                format!("@if{}", p.index)
            })
        });
        let peer_up = l.peer.is_none_or(|(pns, idx)| {
            all.netns
                .get(&pns)
                .and_then(|n| n.links.iter().find(|x| x.index == idx))
                .is_some_and(|p| p.up)
        });
        let mut flags = match l.kind.as_str() {
            "loopback" => vec!["LOOPBACK"],
            _ => vec!["BROADCAST", "MULTICAST"],
        };
        if l.up {
            flags.push("UP");
        }
        if l.up && peer_up {
            flags.push("LOWER_UP");
        } else if l.kind == "veth" {
            flags.push("M-DOWN");
        }
        let (mtu, qdisc) = match l.kind.as_str() {
            "loopback" => (65536, if l.up { "noqueue" } else { "noop" }),
            "ether" => (1500, "pfifo_fast"),
            _ => (1500, if l.up { "noqueue" } else { "noop" }),
        };
        let master = l
            .master
            .as_ref()
            .map(|m| format!(" master {m}"))
            .unwrap_or_default();
        s += &format!(
            "{}: {}{}: <{}> mtu {mtu} qdisc {qdisc}{master} qlen 1000\n",
            l.index,
            l.name,
            peer.unwrap_or_default(),
            flags.join(",")
        );
        let (kind, brd) = if l.kind == "loopback" {
            ("loopback", "00:00:00:00:00:00")
        } else {
            ("ether", "ff:ff:ff:ff:ff:ff")
        };
        s += &format!("    link/{kind} {} brd {brd}\n", l.mac);
        if addrs && l.up {
            for (a, p) in &l.addrs {
                let (scope, brd) = if a.is_loopback() {
                    ("host", String::new())
                } else {
                    let m = u32::MAX >> *p as u32;
                    (
                        "global",
                        format!(" brd {}", Ipv4Addr::from(u32::from(*a) | m)),
                    )
                };
                s += &format!("    inet {a}/{p}{brd} scope {scope} {}\n", l.name);
                s += "       valid_lft forever preferred_lft forever\n";
            }
            // The kernel's IPv6 addresses: ::1 on lo, a link-local one from the MAC elsewhere.
            let v6 = if l.kind == "loopback" {
                Some(("::1/128".to_string(), "host"))
            } else {
                link_local(&l.mac).map(|a| (format!("{a}/64"), "link"))
            };
            if let Some((a, scope)) = v6 {
                s += &format!("    inet6 {a} scope {scope} \n");
                s += "       valid_lft forever preferred_lft forever\n";
            }
        }
    }
    s
}

/// The EUI-64 link-local address the kernel gives a link with this MAC.
fn link_local(mac: &str) -> Option<std::net::Ipv6Addr> {
    let b: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).ok())
        .collect::<Option<_>>()?;
    if b.len() != 6 {
        return None;
    }
    let g = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Some(std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        g(b[0] ^ 2, b[1]),
        g(b[2], 0xff),
        g(0xfe, b[3]),
        g(b[4], b[5]),
    ))
}

/// `ip route` as busybox prints it.
pub fn ip_route(ns: &NetNs) -> String {
    let mut s = String::new();
    if let Some(gw) = ns.default_via {
        if let Some(l) = ns.links.iter().find(|l| l.up && l.subnet_has(gw).is_some()) {
            s += &format!("default via {gw} dev {} \n", l.name);
        }
    }
    for l in ns.links.iter().filter(|l| l.up && l.kind != "loopback") {
        for (a, p) in &l.addrs {
            let m = u32::MAX << (32 - *p as u32);
            let net = Ipv4Addr::from(u32::from(*a) & m);
            s += &format!("{net}/{p} dev {} scope link  src {a} \n", l.name);
        }
    }
    s
}
