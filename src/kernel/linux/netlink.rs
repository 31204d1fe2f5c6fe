//! Links, addresses and routes through rtnetlink, the kernel's own interface
//! for them (what `ip` speaks).
//!
//! Messages are built with `netlink-packet-route` and sent on a blocking
//! `netlink-sys` socket: the sync pair under the `rtnetlink` crate, without
//! its tokio runtime (glassbox is synchronous; a runtime for a handful of
//! requests per start would cost more than the requests). A socket opened
//! by a thread that has joined a container's network namespace (setns) stays
//! bound to that namespace, so the container's eth0 is configured from
//! glassbox's own process, before the container's program runs.

use anyhow::{anyhow, bail, Context, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::Ipv4Addr;

pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    /// A socket in glassbox's own (the host's) network namespace.
    pub fn host() -> Result<Rtnl> {
        Self::open()
    }

    /// A socket in the network namespace of process `pid` (a container's).
    pub fn in_netns_of(pid: i32) -> Result<Rtnl> {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .with_context(|| format!("open /proc/{pid}/ns/net"))?;
        // setns(CLONE_NEWNET) moves only the calling thread: a short-lived
        // thread joins, opens the socket there, and ends.
        std::thread::spawn(move || -> Result<Rtnl> {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .context("setns into the container's network namespace")?;
            Self::open()
        })
        .join()
        .map_err(|_| anyhow!("the netns thread panicked"))?
    }

    fn open() -> Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("netlink socket")?;
        socket.bind_auto().context("bind netlink socket")?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .context("connect netlink socket")?;
        Ok(Rtnl { socket, seq: 1 })
    }

    /// Send one request and collect the answers until its ack (or error).
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        self.seq += 1;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(message));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0).context("netlink send")?;
        let mut answers = Vec::new();
        let mut rx: Vec<u8> = Vec::with_capacity(65536);
        loop {
            rx.clear();
            let n = self.socket.recv(&mut rx, 0).context("netlink recv")?;
            let mut offset = 0;
            while offset < n {
                let bytes = &rx[offset..n];
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
                    .map_err(|e| anyhow!("netlink answer: {e}"))?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number == self.seq {
                    match reply.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(answers),
                                Some(code) => {
                                    Err(std::io::Error::from_raw_os_error(-code.get()).into())
                                }
                            };
                        }
                        NetlinkPayload::Done(_) => return Ok(answers),
                        NetlinkPayload::InnerMessage(m) => answers.push(m),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// The index of interface `name` in this socket's namespace, if it exists.
    pub fn index_of(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(answers) => Ok(answers.iter().find_map(|a| match a {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(e.context(format!("look up interface {name}"))),
        }
    }

    fn index(&mut self, name: &str) -> Result<u32> {
        self.index_of(name)?
            .ok_or_else(|| anyhow!("no interface named {name}"))
    }

    /// `ip link add NAME type bridge`
    pub fn add_bridge(&mut self, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| format!("create bridge {name}"))?;
        Ok(())
    }

    /// `ip link add HOST numtxqueues 1 numrxqueues 1 type veth peer name PEER
    /// numtxqueues 1 numrxqueues 1 netns PID address MAC`:
    /// the peer is made directly in the container's namespace.
    pub fn add_veth(&mut self, host: &str, peer: &str, pid: i32, mac: &[u8; 6]) -> Result<()> {
        // One queue each way on both ends (`numtxqueues 1 numrxqueues 1`):
        // veth uses one anyway, but made with one per CPU it then shrinks
        // to one in the kernel, and each shrink of a registered device
        // waits for an RCU grace period (netif_set_real_num_tx_queues).
        let queues = [LinkAttribute::NumTxQueues(1), LinkAttribute::NumRxQueues(1)];
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        p.attributes.extend(queues.clone());
        p.attributes.push(LinkAttribute::NetNsPid(pid as u32));
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.into()));
        m.attributes.extend(queues);
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| {
                format!("create veth pair {host} / {peer} (in process {pid}'s namespace)")
            })?;
        Ok(())
    }

    /// `ip link set NAME [master BRIDGE] up`
    pub fn set_up(&mut self, name: &str, master: Option<&str>) -> Result<()> {
        let index = self.index(name)?;
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        if let Some(bridge) = master {
            let b = self.index(bridge)?;
            m.attributes.push(LinkAttribute::Controller(b));
        }
        self.request(RouteNetlinkMessage::SetLink(m), 0)
            .with_context(|| format!("set {name} up"))?;
        Ok(())
    }

    /// `ip link del NAME` (Ok if it is already gone).
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(index) = self.index_of(name)? else {
            return Ok(false);
        };
        self.delete_index(name, index)
    }

    fn delete_index(&mut self, name: &str, index: u32) -> Result<bool> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(m), 0) {
            Ok(_) => Ok(true),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(false),
            Err(e) => Err(e.context(format!("delete {name}"))),
        }
    }

    /// `ip addr add IP/PREFIX dev NAME` (an address already there is fine).
    pub fn add_address(&mut self, name: &str, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let index = self.index(name)?;
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        let bcast = Ipv4Addr::from(u32::from(ip) | !(u32::MAX << (32 - prefix as u32)));
        m.attributes.push(AddressAttribute::Broadcast(bcast));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(()),
            Err(e) => Err(e.context(format!("add {ip}/{prefix} to {name}"))),
        }
    }

    /// `ip route add default via GATEWAY`
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 254; // RT_TABLE_MAIN
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| format!("add default route via {gateway}"))?;
        Ok(())
    }
}

impl Rtnl {
    /// `ip -d addr`: every link of this socket's namespace with its IPv4
    /// addresses, master, kind and veth peer index (two dumps).
    pub fn links(&mut self) -> Result<Vec<crate::kernel::LinkView>> {
        use crate::kernel::LinkView;
        let answers = self
            .request(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .context("list links")?;
        let mut links: Vec<LinkView> = Vec::new();
        let mut masters: Vec<(usize, u32)> = Vec::new();
        for a in answers {
            let RouteNetlinkMessage::NewLink(l) = a else {
                continue;
            };
            let mut v = LinkView {
                index: l.header.index,
                up: l.header.flags.contains(LinkFlags::Up),
                kind: if l.header.flags.contains(LinkFlags::Loopback) {
                    "loopback".into()
                } else {
                    "ether".into()
                },
                ..Default::default()
            };
            for attr in &l.attributes {
                match attr {
                    LinkAttribute::IfName(n) => v.name = n.clone(),
                    LinkAttribute::Controller(m) => masters.push((links.len(), *m)),
                    LinkAttribute::Link(peer) => v.peer_index = Some(*peer),
                    LinkAttribute::Address(mac) if mac.len() == 6 => {
                        v.mac = mac
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":")
                    }
                    LinkAttribute::LinkInfo(info) => {
                        for i in info {
                            if let LinkInfo::Kind(k) = i {
                                v.kind = match k {
                                    InfoKind::Bridge => "bridge".into(),
                                    InfoKind::Veth => "veth".into(),
                                    other => other.to_string(),
                                };
                            }
                        }
                    }
                    _ => {}
                }
            }
            if v.kind != "veth" {
                v.peer_index = None; // IFLA_LINK means "lower device" elsewhere
            }
            links.push(v);
        }
        for (i, m) in masters {
            links[i].master = links.iter().find(|l| l.index == m).map(|l| l.name.clone());
        }
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let answers = self
            .request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)
            .context("list addresses")?;
        for a in answers {
            let RouteNetlinkMessage::NewAddress(m) = a else {
                continue;
            };
            let ip = m.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let ip = ip.or_else(|| {
                m.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })
            });
            if let (Some(ip), Some(l)) = (ip, links.iter_mut().find(|l| l.index == m.header.index))
            {
                l.addrs.push((ip, m.header.prefix_len));
            }
        }
        Ok(links)
    }
}

/// Whether glassbox's own network namespace has a link `name`. Asked of
/// rtnetlink, not /sys/class/net: sysfs shows the namespace of whoever
/// mounted it, which is not glassbox's when glassbox was started with
/// `nsenter --net` (it would see the host's links there).
pub fn link_index(name: &str) -> Result<Option<u32>> {
    Rtnl::host()?.index_of(name)
}

/// `ip link del NAME` in glassbox's own namespace, returning once the
/// kernel has taken the link out of it (`ip link` no longer shows it);
/// false when there was no such link.
///
/// The request itself answers later: after unlisting the device (and, for a
/// veth, its peer) the kernel waits in `netdev_run_todo` for an RCU barrier
/// (every CPU's pending RCU callbacks run, ~15 ms) before freeing it. A
/// thread of glassbox waits that out while the clean-up goes on; the process
/// cannot end before it (the kernel completes the request first), so the
/// device is freed by the time glassbox exits too.
pub fn delete_link_unlisted(name: &str) -> Result<bool> {
    let mut nl = Rtnl::host()?;
    let Some(index) = nl.index_of(name)? else {
        return Ok(false);
    };
    let watch = link_watch()?;
    let owned = name.to_string();
    let request = std::thread::Builder::new()
        .name("link-del".into())
        .spawn(move || nl.delete_index(&owned, index))
        .context("start the link-removal thread")?;
    let answered = || request.is_finished();
    if await_unlisted(&watch, index, None, &answered) && !request.is_finished() {
        return Ok(true); // the thread finishes the request on its own
    }
    request
        .join()
        .map_err(|_| anyhow!("the link-removal thread panicked"))?
}

/// Wait up to `timeout` for the host's link `name` to go away without
/// glassbox's help: a veth pair goes with its container's network namespace,
/// which the kernel tears down in the background once the container's last
/// process has exited (about a millisecond later on a quiet host; the worker
/// takes one batch of namespaces at a time, so later when it is still busy
/// with an earlier one), and that teardown also waits out the RCU barrier
/// `delete_link_unlisted` describes, in a kernel worker instead of in
/// glassbox. Whether it is gone.
pub fn wait_link_gone(name: &str, timeout: std::time::Duration) -> Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    let watch = link_watch()?; // before looking, so its notice cannot be missed
    let Some(index) = Rtnl::host()?.index_of(name)? else {
        return Ok(true);
    };
    Ok(await_unlisted(&watch, index, Some(deadline), &|| false))
}

/// A netlink socket subscribed to the host's link notifications (RTMGRP_LINK).
fn link_watch() -> Result<Socket> {
    let mut watch = Socket::new(NETLINK_ROUTE).context("netlink socket")?;
    watch
        .bind(&SocketAddr::new(0, 1 /* RTMGRP_LINK */))
        .context("bind a netlink socket to link notifications")?;
    Ok(watch)
}

/// Read `watch` until link `index` is out of the namespace: its own
/// RTM_DELLINK notice (the kernel unlists a device before it sends that).
/// False when `stop` says so first, `deadline` passes, or the notices
/// overran the socket.
fn await_unlisted(
    watch: &Socket,
    index: u32,
    deadline: Option<std::time::Instant>,
    stop: &dyn Fn() -> bool,
) -> bool {
    let late = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    let mut rx: Vec<u8> = Vec::with_capacity(65536);
    loop {
        if stop() || late() {
            return false;
        }
        let mut fds = [libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(watch),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one pollfd we own, for the length given.
        if unsafe { libc::poll(fds.as_mut_ptr(), 1, 1) } <= 0 {
            continue;
        }
        rx.clear();
        let Ok(n) = watch.recv(&mut rx, libc::MSG_DONTWAIT) else {
            return false; // overrun (ENOBUFS) or the like
        };
        let mut offset = 0;
        while offset < n {
            let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[offset..n]) else {
                break;
            };
            let len = msg.header.length as usize;
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) = msg.payload {
                // The link's own notice (a bridge port's, AF_BRIDGE, comes first).
                if l.header.index == index && l.header.interface_family == AddressFamily::Unspec {
                    return true;
                }
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

/// The links of the host's namespace (`None`) or of process `pid`'s.
pub fn link_view(pid: Option<i32>) -> Result<Vec<crate::kernel::LinkView>> {
    match pid {
        None => Rtnl::host()?.links(),
        Some(pid) => Rtnl::in_netns_of(pid)?.links(),
    }
}

fn is_errno(e: &anyhow::Error, errno: i32) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
            == Some(errno)
    })
}

/// `02:42:0a:7b:00:02` → bytes.
pub fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let parts: Vec<u8> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("bad MAC address {text}"))?;
    if parts.len() != 6 {
        bail!("bad MAC address {text}");
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&parts);
    Ok(mac)
}
