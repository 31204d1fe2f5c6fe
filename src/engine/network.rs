//! Bridge networking for real containers, as narrated steps: `connect` wires
//! a started container's network namespace to its network (bridge, veth,
//! address, route, nft rules, /etc/hosts), `disconnect` undoes exactly that,
//! and `collect_leftovers` undoes it for containers whose supervisor died.
//! The network verbs (`network create/ls/inspect/rm/prune`) are here too.
//!
//! nftables layout, all in glassbox's own table (`ip glassbox` unless
//! `[network] nft_table` says otherwise; no other table is ever touched):
//!   set bridges          every glassbox bridge's name
//!   chain ports          one DNAT rule per published port (comment `c:<id>`)
//!   chain prerouting     nat, dstnat:  `fib daddr type local jump ports`
//!   chain output         nat, -100:    the same, so 127.0.0.1:PORT works
//!   chain postrouting    nat, srcnat:  masquerade each network's subnet
//!                        leaving its bridge (comment `n:<id>`), and
//!                        127.0.0.0/8 sources going out a bridge (those
//!                        reach a container through `route_localnet`)
//!   chain forward        filter: drop from one glassbox bridge to another
//!                        (isolation), or anything leaving an --internal one

use super::apply_step;
use crate::container::Container;
use crate::error::{ExitError, EXIT_ENGINE};
use crate::kernel::{Go, Kernel, StepObserver};
use crate::network::{self, ports, Endpoint, NetworkRecord, Networks};
use crate::step::Step;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::OwnedFd;
use std::path::Path;

/// A container's network settings, from `run`'s flags (kept in its record).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NetConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<ports::PortSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `--link NAME[:ALIAS]`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// `--add-host HOST:IP` as given (host-gateway resolved at start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_hosts: Vec<String>,
    /// Networks joined with `network connect` besides the first (eth1...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraNetwork>,
    /// `network disconnect` took it off its only network: it starts with
    /// its own namespace and `lo` only, until a `network connect`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
}

/// A network joined with `network connect`: its name and the settings
/// given (`--ip`, `--alias`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ExtraNetwork {
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl NetConfig {
    pub fn is_unset(&self) -> bool {
        *self == NetConfig::default()
    }
}

/// The network `run` joins without --network: `GLASSBOX_DEFAULT_NETWORK`,
/// else `[network] default_network` in config.toml, else `bridge` (docker's).
/// The test suite sets `none` for tests that are not about networking, so
/// they leave no bridge behind.
pub fn default_network(root: &Path) -> String {
    std::env::var("GLASSBOX_DEFAULT_NETWORK")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| network::settings(root).default_network)
        .unwrap_or_else(|| crate::network::DEFAULT_NETWORK.into())
}

/// glassbox's nft table (`glassbox`, or `[network] nft_table`).
pub fn nft_table(root: &Path) -> String {
    network::settings(root)
        .nft_table
        .unwrap_or_else(|| "glassbox".into())
}

fn engine_error(message: String) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(EXIT_ENGINE, message))
}

/// What a started container holds while it runs: the sockets reserving its
/// published host ports (closed when dropped, with the supervisor).
pub struct Attached {
    sockets: Vec<OwnedFd>,
}

impl Attached {
    /// The sockets' descriptors, for a monitor handing over (`linux::handover`).
    pub fn raw_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.sockets.iter().map(|s| s.as_raw_fd()).collect()
    }

    /// The sockets a monitor handed over, held again until the clean-up.
    pub fn handed_over(sockets: Vec<OwnedFd>) -> Attached {
        Attached { sockets }
    }
}

/// The comment on a container's nft rules.
fn ctr_comment(id: &str) -> String {
    format!("c:{id}")
}
fn net_comment(id: &str) -> String {
    format!("n:{}", &id[..12])
}

/// The table, its set and base chains (made once, on first use).
fn table_script(table: &str) -> String {
    format!(
        "table ip {table} {{\n\
         \tset bridges {{ type ifname; }}\n\
         \tchain ports {{ }}\n\
         \tchain prerouting {{ type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump ports; }}\n\
         \tchain output {{ type nat hook output priority -100; policy accept; fib daddr type local jump ports; }}\n\
         \tchain postrouting {{ type nat hook postrouting priority srcnat; policy accept; oifname @bridges ip saddr 127.0.0.0/8 masquerade; }}\n\
         \tchain forward {{ type filter hook forward priority filter; policy accept; }}\n\
         }}\n"
    )
}

/// A network's own rules: its bridge in the set, masquerade out of it (not
/// for --internal), isolation from other glassbox bridges.
fn network_script(table: &str, net: &NetworkRecord) -> String {
    let (br, c) = (&net.bridge, net_comment(&net.id));
    let mut s = format!("add element ip {table} bridges {{ \"{br}\" }}\n");
    if net.internal {
        s += &format!("add rule ip {table} forward iifname \"{br}\" oifname != \"{br}\" drop comment \"{c}\"\n");
        s += &format!("add rule ip {table} forward oifname \"{br}\" iifname != \"{br}\" drop comment \"{c}\"\n");
    } else {
        s += &format!(
            "add rule ip {table} postrouting ip saddr {} oifname != \"{br}\" masquerade comment \"{c}\"\n",
            net.subnet
        );
        s += &format!("add rule ip {table} forward iifname \"{br}\" oifname @bridges oifname != \"{br}\" drop comment \"{c}\"\n");
    }
    s
}

/// One DNAT rule per published port.
fn ports_script(table: &str, container: &str, ip: Ipv4Addr, bindings: &[ports::Binding]) -> String {
    bindings
        .iter()
        .map(|b| {
            let daddr = if b.host_ip.is_unspecified() {
                String::new()
            } else {
                format!("ip daddr {} ", b.host_ip)
            };
            format!(
                "add rule ip {table} ports {daddr}{} dport {} dnat to {ip}:{} comment \"{}\"\n",
                b.proto.as_str(),
                b.host_port,
                b.container_port,
                ctr_comment(container)
            )
        })
        .collect()
}

/// Delete rules by handle (found by their comment in the table's listing).
fn delete_script(table: &str, listing: &serde_json::Value, comment: &str) -> String {
    crate::kernel::linux::nft::rules_with_comment(listing, comment)
        .iter()
        .map(|(chain, handle)| format!("delete rule ip {table} {chain} handle {handle}\n"))
        .collect()
}

fn step(kernel: &mut dyn Kernel, observer: &mut dyn StepObserver, s: Step) -> Result<()> {
    if apply_step(kernel, observer, &s)? == Go::Abort {
        return Err(engine_error(format!("aborted before step {}", s.kind())));
    }
    Ok(())
}

/// The network a container asks for, by the name in its record (`bridge`
/// made on first use).
fn network_for(nets: &Networks, root: &Path, name: &str, now: &str) -> Result<NetworkRecord> {
    if name == network::DEFAULT_NETWORK {
        return nets.default_network(root, now);
    }
    nets.get(name)
}

/// The default network, unused, follows a change of `default_bridge` or
/// `default_subnet` in config.toml (as docker0 follows `bip` when dockerd
/// restarts): its old bridge and rules go, and `ensure_network` makes the
/// new ones.
fn follow_default_settings(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    nets: &Networks,
    net: &mut NetworkRecord,
) -> Result<()> {
    if net.name != network::DEFAULT_NETWORK || !net.endpoints.is_empty() {
        return Ok(());
    }
    let settings = network::settings(root);
    let subnet = settings
        .default_subnet
        .map(|s| network::Subnet::parse(&s))
        .transpose()
        .context("[network] default_subnet in config.toml")?;
    let bridge = settings.default_bridge;
    let subnet_changed = subnet.as_ref().is_some_and(|s| s.to_string() != net.subnet);
    let bridge_changed = bridge.as_ref().is_some_and(|b| *b != net.bridge);
    if !subnet_changed && !bridge_changed {
        return Ok(());
    }
    // Another store's containers may still be plugged into that bridge.
    let old_in_use = kernel
        .links(None)?
        .iter()
        .any(|l| l.master.as_deref() == Some(net.bridge.as_str()));
    match (old_in_use, bridge_changed) {
        (false, _) => remove_kernel_objects(root, kernel, observer, net)?,
        (true, false) => {
            return Err(engine_error(format!(
                "default_subnet changed in config.toml, but bridge {} still has containers \
                 plugged in (another store's?): stop them first, or set another default_bridge",
                net.bridge
            )))
        }
        (true, true) => {} // the old bridge stays for whoever uses it
    }
    if let Some(s) = subnet {
        net.subnet = s.to_string();
        net.gateway = s.first_host();
    }
    if let Some(b) = bridge {
        net.bridge = b;
    }
    nets.save(net)
}

/// How closely `ensure_network` looks at the kernel.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// Read the nft table (`nft -j -a list`, a program run) and make
    /// whatever of the network is missing: `network create`/`connect`, and
    /// a start that publishes ports (its DNAT rules go into the table).
    Thorough,
    /// A start without published ports: a network whose bridge is up with
    /// `route_localnet` on was made whole this boot (that sysctl is written
    /// last, after its nft rules), so nothing is read but sysfs and
    /// /proc/sys. A reboot or `system reset` takes the bridge away, and the
    /// next start makes everything again.
    Quick,
}

/// Make sure the table exists and the network's bridge and rules are in the
/// kernel (after a reboot the records stay but the kernel objects are gone).
/// The order is table, bridge, rules, then `route_localnet` on the bridge:
/// that last write marks the network whole for `Check::Quick`.
fn ensure_network(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    net: &NetworkRecord,
    check: Check,
) -> Result<()> {
    let localnet = format!("net.ipv4.conf.{}.route_localnet", net.bridge);
    let whole =
        check == Check::Quick && kernel.link_exists(&net.bridge) && kernel.sysctl(&localnet) == "1";
    if !whole {
        make_network(root, kernel, observer, net)?;
        if kernel.sysctl(&localnet) != "1" {
            step(
                kernel,
                observer,
                Step::SysctlWrite {
                    key: localnet,
                    value: "1".into(),
                },
            )?;
        }
    }
    let may_forward = network::settings(root).ip_forward.unwrap_or(true);
    if !net.internal && may_forward && kernel.sysctl("net.ipv4.ip_forward") != "1" {
        step(
            kernel,
            observer,
            Step::SysctlWrite {
                key: "net.ipv4.ip_forward".into(),
                value: "1".into(),
            },
        )?;
    }
    Ok(())
}

/// The table, the bridge and the network's rules, each only when missing.
fn make_network(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    net: &NetworkRecord,
) -> Result<()> {
    let table = nft_table(root);
    let listing = match kernel.nft_list_table(&table)? {
        Some(l) => l,
        None => {
            step(
                kernel,
                observer,
                Step::NftApply {
                    purpose: format!("create glassbox's table ip {table}"),
                    script: table_script(&table),
                },
            )?;
            kernel.nft_list_table(&table)?.ok_or_else(|| {
                engine_error(format!("nft table ip {table} is missing after creating it"))
            })?
        }
    };
    if !kernel.link_exists(&net.bridge) {
        refuse_hidden_route(root, kernel, net)?;
        step(
            kernel,
            observer,
            Step::BridgeCreate {
                bridge: net.bridge.clone(),
                gateway: net.gateway_cidr(),
            },
        )?;
    }
    if !crate::kernel::linux::nft::set_has(&listing, "bridges", &net.bridge) {
        step(
            kernel,
            observer,
            Step::NftApply {
                purpose: format!("rules of network {} (bridge {})", net.name, net.bridge),
                script: network_script(&table, net),
            },
        )?;
    }
    Ok(())
}

/// Is `container` still using its endpoint? (Its record exists and its
/// process lives.)
fn endpoint_live(root: &Path, container: &str) -> bool {
    Container::load(root, container).is_ok_and(|c| c.is_running())
}

/// Bind (without listening) a socket to each binding's host address and
/// port; port 0 lets the kernel choose one (its ephemeral range, as
/// docker's 32768 and up).
fn reserve(
    wanted: &[(Ipv4Addr, Vec<u16>, u16, ports::Proto)],
    taken_by_records: &[ports::Binding],
    simulated: bool,
) -> Result<(Vec<ports::Binding>, Vec<OwnedFd>)> {
    if simulated {
        return reserve_simulated(wanted, taken_by_records).map(|b| (b, Vec::new()));
    }
    use nix::sys::socket::{
        bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let mut bindings = Vec::new();
    let mut fds = Vec::new();
    for (ip, candidates, container_port, proto) in wanted {
        let kind = match proto {
            ports::Proto::Tcp => SockType::Stream,
            ports::Proto::Udp => SockType::Datagram,
        };
        let tries: Vec<u16> = if candidates.is_empty() {
            vec![0]
        } else {
            candidates.clone()
        };
        let mut last_err = None;
        let mut done = false;
        for port in tries {
            let clash = taken_by_records.iter().any(|b| {
                b.proto == *proto
                    && b.host_port == port
                    && (b.host_ip == *ip || b.host_ip.is_unspecified() || ip.is_unspecified())
            });
            if clash && port != 0 {
                last_err = Some(format!("{ip}:{port}"));
                continue;
            }
            let fd = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None)
                .context("socket for a published port")?;
            let o = ip.octets();
            match bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &SockaddrIn::new(o[0], o[1], o[2], o[3], port),
            ) {
                Ok(()) => {
                    let got: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
                    bindings.push(ports::Binding {
                        host_ip: *ip,
                        host_port: got.port(),
                        container_port: *container_port,
                        proto: *proto,
                    });
                    fds.push(fd);
                    done = true;
                    break;
                }
                Err(nix::errno::Errno::EADDRINUSE) => last_err = Some(format!("{ip}:{port}")),
                Err(nix::errno::Errno::EADDRNOTAVAIL) => {
                    return Err(engine_error(format!(
                        "cannot publish on {ip}: it is not an address of this host"
                    )))
                }
                Err(e) => return Err(engine_error(format!("bind {ip}:{port}: {e}"))),
            }
        }
        if !done {
            return Err(engine_error(format!(
                "Bind for {} failed: port is already allocated (choose another host port, or leave it out to get a free one)",
                last_err.unwrap_or_default()
            )));
        }
    }
    Ok((bindings, fds))
}

/// The simulated host's reservation: no socket (the simulator never binds
/// a host port), the books alone say which ports are taken; port 0 takes
/// the lowest free one of the kernel's ephemeral range (32768-60999).
fn reserve_simulated(
    wanted: &[(Ipv4Addr, Vec<u16>, u16, ports::Proto)],
    taken_by_records: &[ports::Binding],
) -> Result<Vec<ports::Binding>> {
    let mut bindings: Vec<ports::Binding> = Vec::new();
    for (ip, candidates, container_port, proto) in wanted {
        let tries: Vec<u16> = if candidates.is_empty() {
            (32768..=60999).collect()
        } else {
            candidates.clone()
        };
        let clash = |port: u16| {
            taken_by_records.iter().chain(bindings.iter()).any(|b| {
                b.proto == *proto
                    && b.host_port == port
                    && (b.host_ip == *ip || b.host_ip.is_unspecified() || ip.is_unspecified())
            })
        };
        let Some(port) = tries.iter().copied().find(|p| !clash(*p)) else {
            let shown = match candidates[..] {
                [] => format!("{ip}:0"),
                [one] => format!("{ip}:{one}"),
                [first, .., last] => format!("{ip}:{first}-{last}"),
            };
            return Err(engine_error(format!(
                "Bind for {shown} failed: port is already allocated (choose another host port, or leave it out to get a free one)"
            )));
        };
        bindings.push(ports::Binding {
            host_ip: *ip,
            host_port: port,
            container_port: *container_port,
            proto: *proto,
        });
    }
    Ok(bindings)
}

/// Each spec's ports, expanded: (host ip, host port candidates, container port, proto).
fn expand(specs: &[ports::PortSpec]) -> Vec<(Ipv4Addr, Vec<u16>, u16, ports::Proto)> {
    specs
        .iter()
        .flat_map(|s| {
            ports::wanted(s).into_iter().map(move |(hosts, c)| {
                (
                    s.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    hosts,
                    c,
                    s.proto,
                )
            })
        })
        .collect()
}

/// Every port published by a live container on any network.
fn published(nets: &[NetworkRecord]) -> Vec<ports::Binding> {
    nets.iter()
        .flat_map(|n| n.endpoints.values())
        .flat_map(|e| e.ports.iter().cloned())
        .collect()
}

/// `create`'s check: the explicitly asked host ports are free now (the run
/// fails before any record exists; `start` reserves them for real).
pub fn check_ports_free(root: &Path, specs: &[ports::PortSpec], simulated: bool) -> Result<()> {
    let explicit: Vec<_> = expand(specs)
        .into_iter()
        .filter(|(_, hosts, _, _)| hosts.len() == 1)
        .collect();
    if explicit.is_empty() {
        return Ok(());
    }
    let nets = Networks::lock(root)?;
    let taken: Vec<ports::Binding> = published(&nets.list()?).into_iter().collect();
    drop(nets);
    reserve(&explicit, &taken, simulated).map(|_| ())
}

/// Wire the container (process `pid`) to its networks: its first one (eth0,
/// with the default route and the published ports), then each joined with
/// `network connect` (eth1...). Runs after clone and cgroup_join, before the
/// container's program is released.
pub fn connect(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    c: &Container,
    pid: i32,
) -> Result<Attached> {
    let cfg = &c.config.net;
    if cfg.detached {
        // Disconnected from every network: its namespace has only `lo`.
        return Ok(Attached {
            sockets: Vec::new(),
        });
    }
    let nets = Networks::lock(root)?;
    collect_locked(root, kernel, observer, &nets, Some(&c.id))?;
    let mut net = network_for(&nets, root, &c.config.network, &kernel.now())?;
    follow_default_settings(root, kernel, observer, &nets, &mut net)?;
    let check = if cfg.publish.is_empty() {
        Check::Quick
    } else {
        Check::Thorough
    };
    ensure_network(root, kernel, observer, &net, check)?;
    let ip = net.allocate(cfg.ip)?;
    let all = nets.list()?;
    let (bindings, sockets) = if cfg.publish.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let wanted = expand(&cfg.publish);
        let shown: Vec<String> = wanted
            .iter()
            .map(|(ip, hosts, _, proto)| {
                let port = match hosts[..] {
                    [] => "0".to_string(),
                    [one] => one.to_string(),
                    [first, .., last] => format!("{first}-{last}"),
                };
                format!("{ip}:{port}/{}", proto.as_str())
            })
            .collect();
        step(kernel, observer, Step::PortReserve { ports: shown })?;
        reserve(&wanted, &published(&all), kernel.is_simulated())?
    };
    // Resolve --link targets before anything is made.
    let mut links = Vec::new();
    for link in &cfg.links {
        let (name, alias) = link.split_once(':').unwrap_or((link, link));
        let target = net
            .endpoints
            .values()
            .find(|e| e.name == name || e.container.starts_with(name))
            .ok_or_else(|| {
                engine_error(format!(
                    "could not link to {name}: it is not a running container on network {}",
                    net.name
                ))
            })?;
        let mut names = vec![alias.to_string()];
        if alias != name {
            names.push(name.to_string());
        }
        names.push(target.container[..12].to_string());
        links.push((IpAddr::V4(target.ip), names.join(" ")));
    }
    let aliases = if net.is_default() {
        vec![]
    } else {
        cfg.aliases.clone()
    };
    wire(
        root, kernel, observer, &nets, &mut net, c, pid, ip, "eth0", aliases, &bindings,
    )?;
    write_hosts_base(root, c, &net, ip, &links)?;
    rewrite_hosts(root, kernel, observer, &nets, &net, None)?;
    // Networks joined with `network connect`, in the order they were.
    for (i, extra) in cfg.extra.iter().enumerate() {
        let mut other = network_for(&nets, root, &extra.network, &kernel.now())?;
        follow_default_settings(root, kernel, observer, &nets, &mut other)?;
        ensure_network(root, kernel, observer, &other, Check::Quick)?;
        let ip = other.allocate(extra.ip)?;
        let ifname = format!("eth{}", i + 1);
        wire(
            root,
            kernel,
            observer,
            &nets,
            &mut other,
            c,
            pid,
            ip,
            &ifname,
            extra.aliases.clone(),
            &[],
        )?;
        rewrite_hosts(root, kernel, observer, &nets, &other, None)?;
    }
    Ok(Attached { sockets })
}

/// The container's own part of /etc/hosts (its address on its first network).
fn write_hosts_base(
    root: &Path,
    c: &Container,
    net: &NetworkRecord,
    ip: Ipv4Addr,
    links: &[(IpAddr, String)],
) -> Result<()> {
    let gateway = Some(IpAddr::V4(net.gateway));
    let add_hosts = c
        .config
        .net
        .add_hosts
        .iter()
        .map(|h| network::hosts::parse_add_host(h, gateway))
        .collect::<Result<Vec<_>>>()?;
    let base = network::hosts::base(&c.config.hostname, Some(IpAddr::V4(ip)), links, &add_hosts);
    std::fs::write(c.dir(root).join("hosts.base"), &base)?;
    Ok(())
}

/// One endpoint, booked then made: a veth pair with `ifname` in the
/// container's namespace, its address, the link up, the default route (on
/// eth0 only), and the DNAT rules of its published ports.
#[allow(clippy::too_many_arguments)]
fn wire(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    nets: &Networks,
    net: &mut NetworkRecord,
    c: &Container,
    pid: i32,
    ip: Ipv4Addr,
    ifname: &str,
    aliases: Vec<String>,
    bindings: &[ports::Binding],
) -> Result<()> {
    let host_veth = network::host_veth_name(&c.id, &net.id);
    let endpoint = Endpoint {
        container: c.id.clone(),
        name: c.name.clone(),
        ip,
        mac: network::mac_for(ip),
        host_veth: host_veth.clone(),
        ifname: ifname.to_string(),
        aliases,
        ports: bindings.to_vec(),
    };
    // Booked first: a failure below is undone by `disconnect`, which reads it.
    net.endpoints.insert(c.id.clone(), endpoint.clone());
    nets.save_endpoints(net)?;
    step(
        kernel,
        observer,
        Step::VethCreate {
            host: host_veth,
            peer: ifname.into(),
            bridge: net.bridge.clone(),
            pid,
            mac: endpoint.mac.clone(),
        },
    )?;
    let prefix = net.subnet().prefix;
    step(
        kernel,
        observer,
        Step::AddrAdd {
            pid,
            dev: ifname.into(),
            address: format!("{ip}/{prefix}"),
        },
    )?;
    step(
        kernel,
        observer,
        Step::NetnsLinkUp {
            pid,
            dev: ifname.into(),
        },
    )?;
    if ifname == "eth0" {
        step(
            kernel,
            observer,
            Step::RouteAdd {
                pid,
                gateway: net.gateway.to_string(),
            },
        )?;
    }
    if !bindings.is_empty() {
        step(
            kernel,
            observer,
            Step::NftApply {
                purpose: format!("publish {}", ports::ps_column(bindings)),
                script: ports_script(&nft_table(root), &c.id, ip, bindings),
            },
        )?;
    }
    Ok(())
}

/// Rewrite the /etc/hosts of every member of `net` (and of `also`, a
/// container that just left it), in place: the file is bind-mounted into
/// the container. Each file is the container's own part, then one block per
/// user network it is on, one line per peer there.
fn rewrite_hosts(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    nets: &Networks,
    net: &NetworkRecord,
    also: Option<&str>,
) -> Result<()> {
    let all = nets.list()?;
    let members: Vec<&str> = net
        .endpoints
        .keys()
        .map(String::as_str)
        .chain(also)
        .collect();
    for id in members {
        let dir = root.join("containers").join(id);
        let Ok(mut text) = std::fs::read_to_string(dir.join("hosts.base")) else {
            continue; // not wired yet, or gone
        };
        for (n, _) in network::endpoints_of(&all, id) {
            if n.is_default() {
                continue; // docker's default bridge resolves no names
            }
            let peers: Vec<(IpAddr, Vec<String>)> = n
                .endpoints
                .values()
                .filter(|p| p.container != id)
                .map(|p| {
                    let mut names = vec![p.name.clone()];
                    names.extend(p.aliases.iter().cloned());
                    names.push(p.container[..12].to_string());
                    (IpAddr::V4(p.ip), names)
                })
                .collect();
            text += &network::hosts::peers_block(&n.name, &peers);
        }
        let file = dir.join("hosts");
        if std::fs::read_to_string(&file).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        let s = Step::HostsWrite {
            file: file.clone(),
            text: text.clone(),
        };
        if super::store_step(observer, &s, || {
            // Write the same inode: the container sees it through its bind
            // mount (a rename would leave it the old file). Overwritten and
            // then cut to length rather than truncated first, so its block
            // is kept, not freed and taken again (on a `discard` mount each
            // freed block is a wait for the disk).
            overwrite(&file, text.as_bytes())
        })? == Go::Abort
        {
            return Err(engine_error("aborted before step hosts_write".into()));
        }
        kernel.bound_file_written(id, "/etc/hosts", &text)?;
    }
    Ok(())
}

/// Write `data` over `file` in place and cut it to its length.
fn overwrite(file: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(file)
        .with_context(|| format!("open {}", file.display()))?;
    f.write_all(data)
        .and_then(|()| f.set_len(data.len() as u64))
        .with_context(|| format!("write {}", file.display()))
}

/// Undo `connect` for a container: on every network, its port rules, its
/// veth end if left, its address (the endpoint), and its lines in peers'
/// /etc/hosts.
pub fn disconnect(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    container: &str,
) -> Result<()> {
    let nets = Networks::lock(root)?;
    disconnect_locked(root, kernel, observer, &nets, container)
}

fn disconnect_locked(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    nets: &Networks,
    container: &str,
) -> Result<()> {
    for net in nets.list()? {
        if net.endpoints.contains_key(container) {
            leave(root, kernel, observer, nets, net, container, false)?;
        }
    }
    let _ = std::fs::remove_file(root.join("containers").join(container).join("hosts.base"));
    Ok(())
}

/// Take one container off one network: its port rules, its veth pair, its
/// endpoint, and the peers' lines. `rewrite_own`: the container still runs
/// (`network disconnect`), so its own /etc/hosts loses the network's block.
fn leave(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    nets: &Networks,
    mut net: NetworkRecord,
    container: &str,
    rewrite_own: bool,
) -> Result<()> {
    let Some(e) = net.endpoints.get(container).cloned() else {
        return Ok(());
    };
    if !e.ports.is_empty() {
        let table = nft_table(root);
        if let Some(listing) = kernel.nft_list_table(&table)? {
            let script = delete_script(&table, &listing, &ctr_comment(container));
            if !script.is_empty() {
                let s = Step::NftApply {
                    purpose: format!("remove container {}'s port rules", &container[..12]),
                    script,
                };
                // Clean-up is shown, never paused on.
                let _ = observer.before(&s);
                kernel.apply(&s)?;
            }
        }
    }
    // Its veth pair. A stopped container's would also go with its network
    // namespace, which a kernel worker tears down some milliseconds after
    // the last process: not waited for, so nothing of it is left when this
    // command returns (the deletion's RCU barrier is waited out by a
    // short-lived process, see `delete_link_unlisted`). Clean-up is shown,
    // never paused on.
    if kernel.link_exists(&e.host_veth) {
        let s = Step::LinkRemove {
            name: e.host_veth.clone(),
        };
        let _ = observer.before(&s);
        kernel.apply(&s)?;
    }
    net.endpoints.remove(container);
    nets.save_endpoints(&net)?;
    rewrite_hosts(
        root,
        kernel,
        observer,
        nets,
        &net,
        rewrite_own.then_some(container),
    )
}

/// Disconnect every endpoint whose container is gone or no longer runs
/// (its supervisor was killed, or `rm` was): the next command cleans up.
fn collect_locked(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    nets: &Networks,
    except: Option<&str>,
) -> Result<()> {
    let dead: Vec<String> = nets
        .list()?
        .iter()
        .flat_map(|n| n.endpoints.keys().cloned())
        .filter(|id| Some(id.as_str()) != except && !endpoint_live(root, id))
        .collect();
    for id in dead {
        disconnect_locked(root, kernel, observer, nets, &id)?;
    }
    Ok(())
}

/// Collect leftovers of dead containers (any network command runs this).
pub fn collect_leftovers(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
) -> Result<()> {
    let nets = Networks::lock(root)?;
    collect_locked(root, kernel, observer, &nets, None)
}

// ---- the network verbs

/// `network create`'s options.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: Vec<String>,
}

/// The host's routes a new subnet must not hide: the simulated host's own
/// (its uplink) in simulation, never the real host's.
fn host_routes(kernel: &dyn Kernel) -> Vec<network::Subnet> {
    if kernel.is_simulated() {
        vec![network::Subnet::parse(crate::kernel::sim::net::HOST_SUBNET).expect("a valid constant")]
    } else {
        network::host_routes()
    }
}

/// A bridge about to be made would route the network's subnet to it and
/// hide a host route already there (a VPN's, a LAN's): refuse, saying
/// what to change. The bridge is not there yet, so every route that
/// overlaps belongs to something else.
fn refuse_hidden_route(root: &Path, kernel: &dyn Kernel, net: &NetworkRecord) -> Result<()> {
    let subnet = net.subnet();
    let Some(route) = host_routes(kernel)
        .into_iter()
        .find(|r| r.overlaps(&subnet))
    else {
        return Ok(());
    };
    Err(engine_error(if net.name == network::DEFAULT_NETWORK {
        format!(
            "the default network's subnet {subnet} overlaps the host's route to {route}: \
             set default_subnet under [network] in {} to a free subnet",
            root.join("config.toml").display()
        )
    } else {
        format!(
            "network {}'s subnet {subnet} overlaps the host's route to {route}, added \
             since the network was made: remove the network and create it with another --subnet",
            net.name
        )
    }))
}

/// `network create`: the record, then its bridge, sysctls and nft rules.
pub fn create(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    opts: &CreateOptions,
) -> Result<NetworkRecord> {
    if opts.driver != "bridge" {
        return Err(engine_error(format!(
            "network driver {:?} is not supported: glassbox has the bridge driver only",
            opts.driver
        )));
    }
    if !crate::container::names::is_valid_name(&opts.name) {
        return Err(engine_error(format!(
            "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            opts.name
        )));
    }
    if ["bridge", "host", "none"].contains(&opts.name.as_str()) {
        return Err(engine_error(format!(
            "{} is a pre-defined network and cannot be created",
            opts.name
        )));
    }
    let nets = Networks::lock(root)?;
    if nets.find(&opts.name)?.is_some_and(|n| n.name == opts.name) {
        return Err(engine_error(format!(
            "network with name {} already exists",
            opts.name
        )));
    }
    let subnet = match &opts.subnet {
        Some(s) => {
            let s = network::Subnet::parse(s)?;
            if let Some(other) = nets.list()?.iter().find(|n| n.subnet().overlaps(&s)) {
                return Err(engine_error(format!(
                    "subnet {s} overlaps network {}'s {}",
                    other.name, other.subnet
                )));
            }
            if let Some(route) = host_routes(kernel).iter().find(|r| r.overlaps(&s)) {
                return Err(engine_error(format!(
                    "subnet {s} overlaps the host's route to {route}: choose another"
                )));
            }
            s
        }
        None => nets.free_subnet_among(root, host_routes(kernel))?,
    };
    let gateway = match &opts.gateway {
        Some(g) => {
            let ip: Ipv4Addr = g.parse().map_err(|_| {
                engine_error(format!("invalid gateway {g:?}: give an IPv4 address"))
            })?;
            if !subnet.contains(ip) || ip == subnet.network() || ip == subnet.broadcast() {
                return Err(engine_error(format!(
                    "gateway {ip} is not a host address of subnet {subnet}"
                )));
            }
            ip
        }
        None => subnet.first_host(),
    };
    let mut labels = BTreeMap::new();
    for l in &opts.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    // Simulated ids repeat (a network's name and the simulated clock), as
    // simulated containers' do.
    let id = if kernel.is_simulated() {
        crate::fsutil::sha256_hex(
            format!("glassbox-sim-network/{}/{}", opts.name, kernel.now()).as_bytes(),
        )
    } else {
        network::new_id()
    };
    let net = NetworkRecord {
        bridge: network::bridge_name(&id),
        id,
        name: opts.name.clone(),
        driver: "bridge".into(),
        subnet: subnet.to_string(),
        gateway,
        internal: opts.internal,
        labels,
        created: kernel.now(),
        endpoints: BTreeMap::new(),
    };
    nets.save(&net)?;
    if let Err(e) = ensure_network(root, kernel, observer, &net, Check::Thorough) {
        let _ = remove_kernel_objects(root, kernel, observer, &net);
        let _ = nets.remove(&net);
        return Err(e);
    }
    Ok(net)
}

/// The bridge and the network's nft rules.
fn remove_kernel_objects(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    net: &NetworkRecord,
) -> Result<()> {
    let table = nft_table(root);
    if let Some(listing) = kernel.nft_list_table(&table)? {
        let mut script = delete_script(&table, &listing, &net_comment(&net.id));
        if crate::kernel::linux::nft::set_has(&listing, "bridges", &net.bridge) {
            script += &format!(
                "delete element ip {table} bridges {{ \"{}\" }}\n",
                net.bridge
            );
        }
        if !script.is_empty() {
            step(
                kernel,
                observer,
                Step::NftApply {
                    purpose: format!("remove network {}'s rules", net.name),
                    script,
                },
            )?;
        }
    }
    if kernel.link_exists(&net.bridge) {
        step(
            kernel,
            observer,
            Step::BridgeRemove {
                bridge: net.bridge.clone(),
            },
        )?;
    }
    Ok(())
}

/// `network rm`: refused while containers use it (docker's rule).
pub fn remove(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    key: &str,
) -> Result<String> {
    let nets = Networks::lock(root)?;
    collect_locked(root, kernel, observer, &nets, None)?;
    let net = nets.get(key)?;
    if net.name == network::DEFAULT_NETWORK {
        return Err(engine_error(
            "bridge is a pre-defined network and cannot be removed".into(),
        ));
    }
    if !net.endpoints.is_empty() {
        let names: Vec<&str> = net.endpoints.values().map(|e| e.name.as_str()).collect();
        return Err(engine_error(format!(
            "error while removing network: network {} id {} has active endpoints ({})",
            net.name,
            net.id,
            names.join(", ")
        )));
    }
    remove_kernel_objects(root, kernel, observer, &net)?;
    nets.remove(&net)?;
    Ok(net.name)
}

/// `system reset`: every network of the store, the default `bridge` too,
/// with its rules and bridge (the containers are gone by then; a network
/// that still has an endpoint is an error, and nothing of it is removed).
pub fn remove_all(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
) -> Result<Vec<String>> {
    let nets = Networks::lock(root)?;
    collect_locked(root, kernel, observer, &nets, None)?;
    let mut removed = Vec::new();
    for net in nets.list()? {
        if !net.endpoints.is_empty() {
            return Err(engine_error(format!(
                "network {} still has containers attached, so it was kept",
                net.name
            )));
        }
        remove_kernel_objects(root, kernel, observer, &net)?;
        nets.remove(&net)?;
        removed.push(net.name);
    }
    // The table goes too once no store's bridge is left in it (stores
    // with the same [network] nft_table share it).
    let table = nft_table(root);
    if let Some(listing) = kernel.nft_list_table(&table)? {
        if crate::kernel::linux::nft::set_is_empty(&listing, "bridges") {
            step(
                kernel,
                observer,
                Step::NftApply {
                    purpose: format!("remove glassbox's table ip {table}, now empty"),
                    script: format!("delete table ip {table}\n"),
                },
            )?;
        }
    }
    Ok(removed)
}

/// `network prune`: every user network no container uses.
pub fn prune(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
) -> Result<Vec<String>> {
    let unused: Vec<String> = {
        let nets = Networks::lock(root)?;
        collect_locked(root, kernel, observer, &nets, None)?;
        nets.list()?
            .into_iter()
            .filter(|n| n.name != network::DEFAULT_NETWORK && n.endpoints.is_empty())
            .map(|n| n.name)
            .collect()
    };
    let mut removed = Vec::new();
    for name in unused {
        // One may have gained a container meanwhile: then it stays.
        if remove(root, kernel, observer, &name).is_ok() {
            removed.push(name);
        }
    }
    Ok(removed)
}

/// The networks, with dead containers' endpoints collected first; the
/// default `bridge` is listed even before its first use.
pub fn list(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
) -> Result<Vec<NetworkRecord>> {
    let nets = Networks::lock(root)?;
    collect_locked(root, kernel, observer, &nets, None)?;
    nets.default_network(root, &kernel.now())?;
    nets.list()
}

/// The endpoint of a container, if it is on a network now.
pub fn endpoint_of(root: &Path, container: &str) -> Option<(NetworkRecord, Endpoint)> {
    let nets = Networks::lock(root).ok()?;
    nets.list().ok()?.into_iter().find_map(|n| {
        let e = n.endpoints.get(container).cloned()?;
        Some((n, e))
    })
}

// ---- network connect / disconnect

/// The networks a container is recorded on, first one first (by the names
/// as given; `network_for` resolves them).
fn recorded_networks(c: &Container) -> Vec<String> {
    let mut out = Vec::new();
    if !c.config.net.detached {
        out.push(c.config.network.clone());
    }
    out.extend(c.config.net.extra.iter().map(|e| e.network.clone()));
    out
}

/// A container's own network mode, when it is one that cannot be on
/// several networks (docker's messages).
fn refuse_mode(c: &Container) -> Result<()> {
    let mode = c.config.network.as_str();
    let message = if mode == "host" {
        "container cannot be disconnected from host network or connected to host network"
    } else if mode == "none" || mode.is_empty() {
        "container cannot be connected to multiple networks with one of the networks in private (none) mode"
    } else if mode.starts_with("container:") {
        "container sharing network namespace with another container or host cannot be connected to any other network"
    } else {
        return Ok(());
    };
    Err(engine_error(message.to_string()))
}

/// `network connect [--ip] [--alias] NETWORK CONTAINER`: a running
/// container gets a new veth pair now (eth1, eth2...); a stopped one is
/// recorded and joins at its next start.
pub fn connect_container(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    network_key: &str,
    container_key: &str,
    ip: Option<Ipv4Addr>,
    aliases: Vec<String>,
) -> Result<()> {
    let found = crate::container::find(root, container_key)?;
    let _lock = crate::container::ContainerLock::take(root, &found)?;
    let mut c = crate::container::load_fresh(root, &found.id)?;
    refuse_mode(&c)?;
    // Check and book under the network lock, wire, then record in the
    // container (its record is written after the network lock is let go:
    // `create` takes the store lock before the network lock).
    let nets = Networks::lock(root)?;
    collect_locked(root, kernel, observer, &nets, Some(&c.id))?;
    let mut net = network_for(&nets, root, network_key, &kernel.now())?;
    for other in recorded_networks(&c) {
        if network_for(&nets, root, &other, &kernel.now())?.id == net.id {
            return Err(engine_error(format!(
                "endpoint with name {} already exists in network {}",
                c.name, net.name
            )));
        }
    }
    if net.is_default() && (ip.is_some() || !aliases.is_empty()) {
        return Err(engine_error(
            "user specified IP address and aliases are supported on user defined networks only"
                .into(),
        ));
    }
    if let Some(ip) = ip {
        net.allocate(Some(ip))?; // in the subnet and free now
    }
    let becomes_first = c.config.net.detached;
    if c.is_running() {
        ensure_network(root, kernel, observer, &net, Check::Thorough)?;
        let all = nets.list()?;
        let used: Vec<String> = network::endpoints_of(&all, &c.id)
            .into_iter()
            .map(|(_, e)| e.ifname)
            .collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(n))
            .expect("a free interface name");
        let addr = net.allocate(ip)?;
        let pid = c.state.pid;
        let made = wire(
            root,
            kernel,
            observer,
            &nets,
            &mut net,
            &c,
            pid,
            addr,
            &ifname,
            aliases.clone(),
            &[],
        )
        .and_then(|()| {
            if used.is_empty() {
                write_hosts_base(root, &c, &net, addr, &[])?;
            }
            rewrite_hosts(root, kernel, observer, &nets, &net, None)
        });
        if let Err(e) = made {
            let fresh = nets.get(&net.id)?;
            let _ = leave(root, kernel, observer, &nets, fresh, &c.id, true);
            return Err(e);
        }
    }
    drop(nets);
    if becomes_first {
        c.config.network = net.name.clone();
        c.config.net.detached = false;
        c.config.net.ip = ip;
        c.config.net.aliases = aliases;
    } else {
        c.config.net.extra.push(ExtraNetwork {
            network: net.name.clone(),
            ip,
            aliases,
        });
    }
    c.save(root)
}

/// `network disconnect [-f] NETWORK CONTAINER`: a running container loses
/// that veth pair now; either way it no longer joins the network at start.
/// `force`: the container may be gone already; its endpoint is removed.
pub fn disconnect_container(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    network_key: &str,
    container_key: &str,
    force: bool,
) -> Result<()> {
    let found = match crate::container::find(root, container_key) {
        Ok(c) => c,
        Err(e) if force => {
            // Gone: drop whatever endpoint still carries that name or id.
            let nets = Networks::lock(root)?;
            let net = nets.get(network_key)?;
            let id = net
                .endpoints
                .values()
                .find(|p| p.name == container_key || p.container.starts_with(container_key))
                .map(|p| p.container.clone());
            return match id {
                Some(id) => leave(root, kernel, observer, &nets, net, &id, false),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let _lock = crate::container::ContainerLock::take(root, &found)?;
    let mut c = crate::container::load_fresh(root, &found.id)?;
    if c.config.network == "host" || c.config.network.starts_with("container:") {
        refuse_mode(&c)?;
    }
    let nets = Networks::lock(root)?;
    let net = nets.get(network_key)?;
    let mut position = None;
    for (i, other) in recorded_networks(&c).iter().enumerate() {
        if network_for(&nets, root, other, &kernel.now())?.id == net.id {
            position = Some(i);
        }
    }
    let Some(position) = position else {
        return Err(engine_error(format!(
            "container {} is not connected to network {}",
            c.name, net.name
        )));
    };
    if net.endpoints.contains_key(&c.id) {
        leave(root, kernel, observer, &nets, net, &c.id, true)?;
    }
    drop(nets);
    let first = !c.config.net.detached && position == 0;
    let cfg = &mut c.config.net;
    if !first {
        let i = position - usize::from(!cfg.detached);
        cfg.extra.remove(i);
    } else if cfg.extra.is_empty() {
        cfg.detached = true;
    } else {
        // The next network becomes the first (eth0 from the next start on).
        let next = cfg.extra.remove(0);
        c.config.network = next.network;
        cfg.ip = next.ip;
        cfg.aliases = next.aliases;
    }
    c.save(root)
}
