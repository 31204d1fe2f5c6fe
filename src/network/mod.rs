//! Networks: glassbox's own bridge networks, their records and the address
//! allocator. The kernel work (bridge, veth, addresses, routes, nftables) is
//! done by steps (`engine::network`); this module only keeps the books.
//!
//! Every network is one JSON file under `<root>/networks/`, holding its
//! settings and its endpoints (container id → address, MAC, host veth,
//! published ports). All changes happen under one flock
//! (`<root>/networks/lock`), so 20 parallel `run -d` never get the same
//! address, and an address is free again once its endpoint is removed.

pub mod diagram;
pub mod hosts;
pub mod ports;

use crate::error::EXIT_ENGINE;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The network `run` uses unless told otherwise, as docker's.
pub const DEFAULT_NETWORK: &str = "bridge";
/// Its Linux bridge: glassbox's own, never docker's `docker0`.
pub const DEFAULT_BRIDGE: &str = "glassbox0";
/// Its subnet: clear of docker's 172.17.0.0/16 and podman's 10.88.0.0/16
/// (and of podman's user networks, 10.89.x.0/24); `[network] default_subnet`
/// in config.toml changes it.
pub const DEFAULT_SUBNET: &str = "10.123.0.0/24";
/// Where user networks' subnets are taken from (one /24 each), unless
/// `--subnet` is given; `[network] pool` in config.toml changes it.
pub const DEFAULT_POOL: &str = "10.123.0.0/16";
/// Every glassbox bridge name starts so (the default `glassbox0` too), and
/// host veth ends start with `gbv`: the nft rules match them by prefix.
pub const BRIDGE_PREFIX: &str = "gb-";

/// An IPv4 subnet: network address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || {
            crate::error::ExitError::new(
                EXIT_ENGINE,
                format!("invalid subnet {s:?}: give an IPv4 CIDR such as 10.124.0.0/24"),
            )
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            crate::exit_err!(
                EXIT_ENGINE,
                "invalid subnet {s:?}: the prefix must be between /8 and /30"
            );
        }
        let net = Subnet { addr, prefix };
        if net.network() != addr {
            crate::exit_err!(
                EXIT_ENGINE,
                "invalid subnet {s:?}: it has host bits set (did you mean {}/{prefix}?)",
                net.network()
            );
        }
        Ok(net)
    }
    pub fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix as u32)
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) | !self.mask())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
    /// The first usable address (docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A container's place on a network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub container: String,
    /// The container's name when it joined (peers' /etc/hosts use it).
    pub name: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// The host end of its veth pair (the other end is the container's eth0).
    pub host_veth: String,
    /// Its name inside the container: eth0 for the first network, eth1...
    /// for networks joined with `network connect`.
    #[serde(default = "first_ifname")]
    pub ifname: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Published ports, with the host ports actually chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ports::Binding>,
}

fn first_ifname() -> String {
    "eth0".into()
}

/// One network's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub subnet: String,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created: String,
    /// Endpoints by container id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl NetworkRecord {
    pub fn subnet(&self) -> Subnet {
        Subnet::parse(&self.subnet).expect("a recorded subnet is valid")
    }
    /// The gateway as an interface address (`10.123.0.1/24`).
    pub fn gateway_cidr(&self) -> String {
        format!("{}/{}", self.gateway, self.subnet().prefix)
    }
    /// The default network: no names between containers (docker's rule:
    /// only user-defined networks resolve names; `--link` instead).
    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_NETWORK
    }
    /// A free address: `wanted` if given (it must be in the subnet and
    /// free), else the lowest free one after the gateway.
    pub fn allocate(&self, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let net = self.subnet();
        let taken = |ip: Ipv4Addr| {
            ip == self.gateway
                || ip == net.network()
                || ip == net.broadcast()
                || self.endpoints.values().any(|e| e.ip == ip)
        };
        if let Some(ip) = wanted {
            if !net.contains(ip) {
                crate::exit_err!(
                    EXIT_ENGINE,
                    "--ip {ip} is not in network {}'s subnet {}",
                    self.name,
                    self.subnet
                );
            }
            if taken(ip) {
                crate::exit_err!(
                    EXIT_ENGINE,
                    "--ip {ip}: Address already in use on network {}",
                    self.name
                );
            }
            return Ok(ip);
        }
        let first = u32::from(net.network()) + 1;
        let last = u32::from(net.broadcast());
        (first..last)
            .map(Ipv4Addr::from)
            .find(|ip| !taken(*ip))
            .ok_or_else(|| {
                anyhow::Error::new(crate::error::ExitError::new(
                    EXIT_ENGINE,
                    format!(
                        "no address left in network {} ({}): remove a container from it, or create a network with a larger --subnet",
                        self.name, self.subnet
                    ),
                ))
            })
    }
}

/// docker's MAC for an address: 02:42 then the four bytes of the IPv4 address.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// The host end of a container's veth pair: `gbv` + 12 hex digits of its id
/// (15 characters, IFNAMSIZ's limit).
pub fn host_veth_name(container_id: &str, network_id: &str) -> String {
    // The network's id goes in: a container on several networks (`network
    // connect`) has one pair per network.
    let digest = crate::fsutil::sha256_hex(format!("{container_id}/{network_id}").as_bytes());
    format!("gbv{}", &digest[..12])
}

/// The bridge of a user network: `gb-` + 12 hex digits of its id.
pub fn bridge_name(network_id: &str) -> String {
    format!("{BRIDGE_PREFIX}{}", &network_id[..12])
}

/// `[network]` in config.toml (tests give their own kernel object names).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NetSettings {
    pub default_subnet: Option<String>,
    pub pool: Option<String>,
    pub nft_table: Option<String>,
    pub default_bridge: Option<String>,
    pub default_network: Option<String>,
    /// `false`: never turn on the host's net.ipv4.ip_forward (containers
    /// then reach the host and each other, not other networks).
    pub ip_forward: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    network: NetSettings,
}

pub fn settings(root: &Path) -> NetSettings {
    std::fs::read_to_string(root.join("config.toml"))
        .ok()
        .and_then(|t| toml::from_str::<ConfigFile>(&t).ok())
        .map(|c| c.network)
        .unwrap_or_default()
}

/// The store's networks: `<root>/networks/<id>.json`.
pub struct Networks {
    dir: PathBuf,
    _lock: crate::fsutil::StoreLock,
}

impl Networks {
    /// The network books, locked (every read-modify-write holds this).
    pub fn lock(root: &Path) -> Result<Networks> {
        let dir = root.join("networks");
        let lock = crate::fsutil::StoreLock::exclusive_on(&dir.join("lock"))?;
        Ok(Networks { dir, _lock: lock })
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|x| x == "json") {
                out.push(
                    crate::fsutil::read_json(&path)
                        .with_context(|| format!("read network {}", path.display()))?,
                );
            }
        }
        out.sort_by(|a: &NetworkRecord, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(out)
    }
    /// A network by name, full id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Option<NetworkRecord>> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(Some(n.clone()));
        }
        let by_prefix: Vec<_> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        Ok(match by_prefix[..] {
            [one] => Some(one.clone()),
            _ => None,
        })
    }
    pub fn get(&self, key: &str) -> Result<NetworkRecord> {
        self.find(key)?.ok_or_else(|| {
            anyhow::Error::new(crate::error::ExitError::new(
                EXIT_ENGINE,
                format!("network {key} not found (list them with `glassbox network ls`)"),
            ))
        })
    }
    pub fn save(&self, net: &NetworkRecord) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::fsutil::write_json(&self.path_of(&net.id), net)
    }
    /// As `save`, for a change of endpoints only (every start and stop
    /// makes two): atomic but without fsync, as container state is written
    /// (`fsutil::atomic_write_with`). A power cut may lose the latest
    /// endpoint, and with it every container is gone anyway; `connect`
    /// collects endpoints of containers that no longer run.
    pub fn save_endpoints(&self, net: &NetworkRecord) -> Result<()> {
        crate::fsutil::write_json_fast(&self.path_of(&net.id), net)
    }
    pub fn remove(&self, net: &NetworkRecord) -> Result<()> {
        std::fs::remove_file(self.path_of(&net.id))
            .with_context(|| format!("remove network record {}", net.name))
    }
    /// The record of the default `bridge` network, made on first use.
    pub fn default_network(&self, root: &Path, now: &str) -> Result<NetworkRecord> {
        if let Some(n) = self.find(DEFAULT_NETWORK)? {
            return Ok(n);
        }
        let settings = settings(root);
        let subnet = Subnet::parse(settings.default_subnet.as_deref().unwrap_or(DEFAULT_SUBNET))
            .context("[network] default_subnet in config.toml")?;
        let net = NetworkRecord {
            id: crate::fsutil::sha256_hex(
                format!("glassbox-network-bridge-{}", root.display()).as_bytes(),
            ),
            name: DEFAULT_NETWORK.into(),
            driver: "bridge".into(),
            subnet: subnet.to_string(),
            gateway: subnet.first_host(),
            bridge: settings
                .default_bridge
                .unwrap_or_else(|| DEFAULT_BRIDGE.into()),
            internal: false,
            labels: BTreeMap::new(),
            created: now.to_string(),
            endpoints: BTreeMap::new(),
        };
        self.save(&net)?;
        Ok(net)
    }
    /// A free /24 from the pool for a new network: one no glassbox network
    /// and no host route (`/proc/net/route`) already uses.
    pub fn free_subnet(&self, root: &Path) -> Result<Subnet> {
        self.free_subnet_among(root, host_routes())
    }
    /// `free_subnet` with the host's routes given (the simulated host's own).
    /// The default network's subnet is never handed out, even before it exists.
    pub fn free_subnet_among(&self, root: &Path, routes: Vec<Subnet>) -> Result<Subnet> {
        let pool = Subnet::parse(settings(root).pool.as_deref().unwrap_or(DEFAULT_POOL))
            .context("[network] pool in config.toml")?;
        let default = Subnet::parse(
            settings(root)
                .default_subnet
                .as_deref()
                .unwrap_or(DEFAULT_SUBNET),
        )
        .ok();
        let used: Vec<Subnet> = self
            .list()?
            .iter()
            .map(|n| n.subnet())
            .chain(routes)
            .chain(default)
            .collect();
        let step = 1u32 << 8;
        let mut candidate = u32::from(pool.network());
        while pool.contains(Ipv4Addr::from(candidate)) {
            let s = Subnet {
                addr: Ipv4Addr::from(candidate),
                prefix: 24,
            };
            if !used.iter().any(|u| u.overlaps(&s)) {
                return Ok(s);
            }
            candidate += step;
        }
        crate::exit_err!(
            EXIT_ENGINE,
            "no free /24 left in the pool {pool}: remove a network or give --subnet"
        )
    }
}

/// Every network's record, read without the lock (records are replaced
/// whole by rename, so a reader sees one version or the other): for `ps`,
/// `port` and `inspect`.
pub fn read_all(root: &Path) -> Vec<NetworkRecord> {
    let Ok(entries) = std::fs::read_dir(root.join("networks")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| crate::fsutil::read_json(&p).ok())
        .collect()
}

/// A container's first network and endpoint (the one with the lowest
/// interface name, eth0 unless it was disconnected), if it is wired now.
pub fn endpoint_in(nets: &[NetworkRecord], container: &str) -> Option<(NetworkRecord, Endpoint)> {
    endpoints_of(nets, container).into_iter().next()
}

/// Every network a container is wired to now, by interface (eth0, eth1...).
pub fn endpoints_of(nets: &[NetworkRecord], container: &str) -> Vec<(NetworkRecord, Endpoint)> {
    let mut all: Vec<(NetworkRecord, Endpoint)> = nets
        .iter()
        .filter_map(|n| {
            let e = n.endpoints.get(container)?.clone();
            Some((n.clone(), e))
        })
        .collect();
    all.sort_by_key(|(_, e)| {
        let n: u32 = e
            .ifname
            .trim_start_matches("eth")
            .parse()
            .unwrap_or(u32::MAX);
        n
    });
    all
}

/// The host's routes that are not default routes, as subnets (a new
/// network must not hide one of them).
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // /proc/net/route prints them in host (little-endian) byte order.
            let dest = Ipv4Addr::from(u32::from_be(dest));
            let mask = u32::from_be(mask);
            (mask != 0).then(|| Subnet {
                addr: dest,
                prefix: mask.count_ones() as u8,
            })
        })
        .collect()
}

/// A new network's id (64 hex digits, as docker's).
pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}
