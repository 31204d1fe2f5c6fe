//! The smallest piece of networking the foundation needs: bringing an
//! interface (the loopback) up, with the classic SIOCSIFFLAGS ioctl.

use anyhow::{bail, Result};

pub fn link_up(name: &str) -> Result<()> {
    // SAFETY: plain socket + ioctl on a zeroed ifreq we own; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            bail!("socket: {}", std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in name.bytes().take(libc::IFNAMSIZ - 1).enumerate() {
            req.ifr_name[i] = b as libc::c_char;
        }
        let result = if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        libc::close(fd);
        if let Err(e) = result {
            bail!("bring {name} up: {e}");
        }
    }
    Ok(())
}

/// The netlink socket in a container's network namespace, with that
/// namespace's inode: `addr_add`, `netns_link_up` and `route_add` come one
/// after another and share it (opening one takes a thread that joins the
/// namespace). Dropped after the last of them (`route_add` for eth0,
/// `netns_link_up` for eth1...) and at any other step, so glassbox keeps no
/// namespace alive: a container's namespace must go with its last process
/// (see `engine::network::leave`). Kept by the kernel (`LinuxKernel`).
pub type NetnsSocket = Option<(u64, super::netlink::Rtnl)>;

fn in_netns<T>(
    cached: &mut NetnsSocket,
    pid: i32,
    f: impl FnOnce(&mut super::netlink::Rtnl) -> Result<T>,
) -> Result<T> {
    use std::os::unix::fs::MetadataExt;
    let path = format!("/proc/{pid}/ns/net");
    let ino = std::fs::metadata(&path)
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?
        .ino();
    let nl = match cached.take() {
        Some((i, nl)) if i == ino => nl,
        _ => super::netlink::Rtnl::in_netns_of(pid)?,
    };
    f(&mut cached.insert((ino, nl)).1)
}

/// Carry out a network step (see `step::Step::is_network`) on the real
/// kernel; `netns` is the kernel's socket in a container's namespace.
pub fn apply(step: &crate::step::Step, netns: &mut NetnsSocket) -> Result<()> {
    use super::netlink::{parse_mac, Rtnl};
    use crate::step::Step;
    if !matches!(
        step,
        Step::AddrAdd { .. } | Step::NetnsLinkUp { .. } | Step::RouteAdd { .. }
    ) {
        *netns = None;
    }
    let cidr = |text: &str| -> Result<(std::net::Ipv4Addr, u8)> {
        let (ip, prefix) = text
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("address {text} has no prefix"))?;
        Ok((ip.parse()?, prefix.parse()?))
    };
    match step {
        Step::BridgeCreate { bridge, gateway } => {
            let (ip, prefix) = cidr(gateway)?;
            let mut nl = Rtnl::host()?;
            if nl.index_of(bridge)?.is_none() {
                nl.add_bridge(bridge)?;
            }
            nl.add_address(bridge, ip, prefix)?;
            nl.set_up(bridge, None)
        }
        Step::BridgeRemove { bridge } => Rtnl::host()?.delete_link(bridge).map(|_| ()),
        Step::LinkRemove { name } => super::netlink::delete_link_unlisted(name).map(|_| ()),
        Step::VethCreate {
            host,
            peer,
            bridge,
            pid,
            mac,
        } => {
            let mut nl = Rtnl::host()?;
            nl.add_veth(host, peer, *pid, &parse_mac(mac)?)?;
            nl.set_up(host, Some(bridge))
        }
        Step::AddrAdd { pid, dev, address } => {
            let (ip, prefix) = cidr(address)?;
            in_netns(netns, *pid, |nl| nl.add_address(dev, ip, prefix))
        }
        Step::NetnsLinkUp { pid, dev } => {
            let up = in_netns(netns, *pid, |nl| nl.set_up(dev, None));
            if dev != "eth0" {
                *netns = None; // only eth0 gets a route
            }
            up
        }
        Step::RouteAdd { pid, gateway } => {
            let gateway = gateway.parse()?;
            let added = in_netns(netns, *pid, |nl| nl.add_default_route(gateway));
            *netns = None; // eth0's last step in its namespace
            added
        }
        Step::SysctlWrite { key, value } => {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).map_err(|e| anyhow::anyhow!("write {path}: {e}"))
        }
        Step::NftApply { script, .. } => super::nft::apply(script),
        // The engine binds the sockets: they must live in the process that
        // supervises the container, for as long as it runs.
        Step::PortReserve { .. } => Ok(()),
        other => bail!("{} is not a network step", other.kind()),
    }
}
