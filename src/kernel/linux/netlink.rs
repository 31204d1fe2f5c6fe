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

    /// The bytes of one request (with the next sequence number), asking for an ack.
    fn encode(&mut self, message: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        self.seq += 1;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(message));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    /// Send one request and collect the answers until its ack (or error).
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let buf = self.encode(message, flags);
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
/// The request itself is answered later. Holding the RTNL lock, the kernel
/// unlists the device (for a veth, its peer too), waits for an expedited RCU
/// grace period (well under a millisecond) and sends its RTM_DELLINK
/// notice; then, in `netdev_run_todo`, it waits for an RCU barrier (every
/// CPU's pending RCU callbacks run, ~15 ms) before it frees the device and
/// answers. That wait happens in the sending task, and a process cannot
/// exit while one of its threads is in it. So the request is sent by a
/// short-lived process of glassbox's (forked twice, so init adopts it),
/// which holds nothing else open, waits for the answer and reports it on a
/// pipe; glassbox goes on once it sees the notice.
pub fn delete_link_unlisted(name: &str) -> Result<bool> {
    use std::os::fd::AsRawFd;
    let mut nl = Rtnl::host()?;
    let Some(index) = nl.index_of(name)? else {
        return Ok(false);
    };
    let watch = link_watch()?; // before the request, so its notice cannot be missed
    let mut m = LinkMessage::default();
    m.header.index = index;
    let request = nl.encode(RouteNetlinkMessage::DelLink(m), 0);
    let seq = nl.seq;
    let mut rx = vec![0u8; 8192];
    let (answer, report) = super::pipe_cloexec()?;
    // SAFETY: the forked processes only make raw system calls on memory
    // allocated above (no allocation, no lock) and leave by _exit.
    match unsafe { nix::unistd::fork() }.context("fork the link removal")? {
        nix::unistd::ForkResult::Child => unsafe {
            if libc::fork() == 0 {
                send_and_report(
                    nl.socket.as_raw_fd(),
                    &request,
                    seq,
                    report.as_raw_fd(),
                    &mut rx,
                );
            }
            libc::_exit(0)
        },
        nix::unistd::ForkResult::Parent { child } => {
            drop(report);
            let _ = nix::sys::wait::waitpid(child, None);
        }
    }
    drop(nl);
    await_removal(&watch, index, answer).with_context(|| format!("delete {name}"))
}

/// In the orphaned process: keep only the netlink socket (as fd 3) and the
/// report pipe (fd 4), leave the terminal's session (no signal meant for
/// glassbox reaches it), send `request`, read until its answer, write the
/// answer's errno (0: done) as four bytes, and exit.
///
/// # Safety
/// Only in a freshly forked child: it closes every other descriptor.
unsafe fn send_and_report(sock: i32, request: &[u8], seq: u32, report: i32, rx: &mut [u8]) -> ! {
    let (s, r) = (
        libc::fcntl(sock, libc::F_DUPFD, 100),
        libc::fcntl(report, libc::F_DUPFD, 100),
    );
    libc::dup2(s, 3);
    libc::dup2(r, 4);
    if libc::syscall(libc::SYS_close_range, 5u32, u32::MAX, 0u32) != 0 {
        for fd in 5..1024 {
            libc::close(fd);
        }
    }
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    for fd in 0..3 {
        libc::dup2(null, fd);
    }
    if null > 4 {
        libc::close(null);
    }
    libc::setsid();
    let errno = || *libc::__errno_location();
    let code: i32 = if libc::send(3, request.as_ptr().cast(), request.len(), 0) < 0 {
        errno()
    } else {
        'answer: loop {
            let n = libc::recv(3, rx.as_mut_ptr().cast(), rx.len(), 0);
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                break errno();
            }
            let n = n as usize;
            let word = |at: usize| u32::from_ne_bytes([rx[at], rx[at + 1], rx[at + 2], rx[at + 3]]);
            // struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid },
            // then, for NLMSG_ERROR, an i32: minus the errno, 0 for an ack.
            let mut off = 0;
            while off + 20 <= n {
                let len = word(off) as usize;
                let kind = u16::from_ne_bytes([rx[off + 4], rx[off + 5]]);
                if kind == libc::NLMSG_ERROR as u16 && word(off + 8) == seq {
                    break 'answer (word(off + 16) as i32).wrapping_neg();
                }
                if len < 16 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    };
    libc::write(4, (&code as *const i32).cast(), 4);
    libc::_exit(0)
}

/// A netlink socket subscribed to the host's link notifications (RTMGRP_LINK).
fn link_watch() -> Result<Socket> {
    let mut watch = Socket::new(NETLINK_ROUTE).context("netlink socket")?;
    watch
        .bind(&SocketAddr::new(0, 1 /* RTMGRP_LINK */))
        .context("bind a netlink socket to link notifications")?;
    Ok(watch)
}

/// Until link `index` is unlisted (its RTM_DELLINK notice on `watch`: true)
/// or the orphaned request answers on `answer` first (done: true; ENODEV,
/// someone else removed it first: false; or the error).
fn await_removal(watch: &Socket, index: u32, answer: std::os::fd::OwnedFd) -> Result<bool> {
    use std::os::fd::AsRawFd;
    let mut rx: Vec<u8> = Vec::with_capacity(65536);
    loop {
        let mut fds = [watch.as_raw_fd(), answer.as_raw_fd()].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: two pollfds we own, for the length given.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if fds[0].revents != 0 {
            rx.clear();
            if watch.recv(&mut rx, libc::MSG_DONTWAIT).is_ok() && dellink_of(&rx, index) {
                return Ok(true);
            }
        }
        if fds[1].revents != 0 {
            let mut code = [0u8; 4];
            let n = nix::unistd::read(answer.as_raw_fd(), &mut code)
                .context("read the link removal's answer")?;
            if n != 4 {
                bail!("the process removing the link ended without an answer");
            }
            return match i32::from_ne_bytes(code) {
                0 => Ok(true),
                libc::ENODEV => Ok(false),
                errno => Err(std::io::Error::from_raw_os_error(errno).into()),
            };
        }
    }
}

/// Whether `rx` holds link `index`'s own RTM_DELLINK notice (a bridge
/// port's, AF_BRIDGE, comes first).
fn dellink_of(rx: &[u8], index: u32) -> bool {
    let mut offset = 0;
    while offset < rx.len() {
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[offset..]) else {
            return false;
        };
        let len = msg.header.length as usize;
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) = msg.payload {
            if l.header.index == index && l.header.interface_family == AddressFamily::Unspec {
                return true;
            }
        }
        if len == 0 {
            return false;
        }
        offset += len;
    }
    false
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
