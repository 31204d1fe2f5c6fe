//! `network inspect --diagram` and the REPL's `:diagram`: a text picture of
//! the host, glassbox's bridges (subnet, gateway), the veth pairs (host end
//! ↔ the container's eth0) and the containers on them (addresses, published
//! ports). Drawn from two sources checked against each other: the store's
//! books (network records, container records) and the kernel's own view of
//! the links (`Kernel::links`: rtnetlink on the real host, the model on the
//! simulated one), so a veth the books name but the kernel lacks is shown
//! as missing rather than drawn as if it were there.

use super::{Endpoint, NetworkRecord};
use crate::container::Container;
use crate::kernel::{Kernel, LinkView};
use crate::step::Lang;
use std::net::Ipv4Addr;
use unicode_width::UnicodeWidthStr;

/// One container's place on a bridge, as the books and the kernel see it.
#[derive(Clone, Debug)]
pub struct Member {
    pub endpoint: Endpoint,
    /// Its record (None: the books still name a container that is gone).
    pub container: Option<(String, i32)>,
    /// The host end of its veth pair, as the kernel has it.
    pub host_end: Option<LinkView>,
    /// Its interface inside its own network namespace, as the kernel has it.
    pub inside: Option<LinkView>,
    /// How many DNAT rules of it are in glassbox's nft table.
    pub nft_rules: usize,
}

/// A bridge network with what hangs on it.
#[derive(Clone, Debug)]
pub struct Bridge {
    pub net: NetworkRecord,
    /// The bridge link in the host's namespace (None: not made yet).
    pub link: Option<LinkView>,
    pub members: Vec<Member>,
}

/// Everything the diagram draws.
#[derive(Clone, Debug)]
pub struct Picture {
    pub simulated: bool,
    pub nft_table: String,
    /// Whether the table exists in the kernel.
    pub nft_present: bool,
    pub ip_forward: String,
    pub bridges: Vec<Bridge>,
    /// Running containers on no bridge: (name, network mode; `container:NAME`
    /// with the owner's name).
    pub others: Vec<(String, String)>,
}

/// The comment of a container's port rules (as `engine::network` writes them).
fn rule_count(listing: Option<&serde_json::Value>, container: &str) -> usize {
    let want = format!("c:{container}");
    listing
        .and_then(|l| l["nftables"].as_array())
        .map(|items| {
            items
                .iter()
                .filter(|i| i["rule"]["comment"].as_str() == Some(want.as_str()))
                .count()
        })
        .unwrap_or(0)
}

/// Read the picture: `nets` (the books, already collected of dead
/// endpoints), `containers` (refreshed records), and the kernel's links.
/// `with_others`: also list running containers that are on no bridge.
pub fn gather(
    kernel: &mut dyn Kernel,
    nets: &[NetworkRecord],
    containers: &[Container],
    nft_table: &str,
    with_others: bool,
) -> Picture {
    let host = kernel.links(None).unwrap_or_default();
    let listing = kernel.nft_list_table(nft_table).ok().flatten();
    let mut inside_cache: std::collections::BTreeMap<i32, Vec<LinkView>> = Default::default();
    let mut bridges = Vec::new();
    for net in nets {
        let link = host.iter().find(|l| l.name == net.bridge).cloned();
        let mut members = Vec::new();
        let mut endpoints: Vec<&Endpoint> = net.endpoints.values().collect();
        endpoints.sort_by(|a, b| a.name.cmp(&b.name).then(a.ifname.cmp(&b.ifname)));
        for e in endpoints {
            let c = containers
                .iter()
                .find(|c| c.id == e.container && c.is_running());
            let pid = c.map(|c| c.state.pid).filter(|p| *p > 0);
            let inside = pid.and_then(|pid| {
                inside_cache
                    .entry(pid)
                    .or_insert_with(|| kernel.links(Some(pid)).unwrap_or_default())
                    .iter()
                    .find(|l| l.name == e.ifname)
                    .cloned()
            });
            members.push(Member {
                endpoint: e.clone(),
                container: c.map(|c| (c.name.clone(), c.state.pid)),
                host_end: host.iter().find(|l| l.name == e.host_veth).cloned(),
                inside,
                nft_rules: rule_count(listing.as_ref(), &e.container),
            });
        }
        bridges.push(Bridge {
            net: net.clone(),
            link,
            members,
        });
    }
    let mut others = Vec::new();
    if with_others {
        for c in containers.iter().filter(|c| c.is_running()) {
            let on_bridge = nets.iter().any(|n| n.endpoints.contains_key(&c.id));
            if on_bridge {
                continue;
            }
            let mode = match c.config.network.strip_prefix("container:") {
                Some(owner) => {
                    let name = containers
                        .iter()
                        .find(|o| o.id == owner)
                        .map_or(&owner[..12.min(owner.len())], |o| o.name.as_str());
                    format!("container:{name}")
                }
                None => c.config.network.clone(),
            };
            others.push((c.name.clone(), mode));
        }
        others.sort();
    }
    Picture {
        simulated: kernel.is_simulated(),
        nft_table: nft_table.to_string(),
        nft_present: listing.is_some(),
        ip_forward: kernel.sysctl("net.ipv4.ip_forward"),
        bridges,
        others,
    }
}

/// Box drawing, or plain ASCII for a terminal that cannot show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Unicode,
    Ascii,
}

impl Charset {
    /// The locale's character set (LC_ALL, then LC_CTYPE, then LANG): ASCII
    /// when it names one that is not UTF-8 (`C`, `POSIX`, `en_US.ISO-8859-1`);
    /// box drawing when it says UTF-8 or nothing is set.
    pub fn from_locale() -> Charset {
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        match locale {
            None => Charset::Unicode,
            Some(l) => {
                let l = l.to_ascii_lowercase();
                if l.contains("utf-8") || l.contains("utf8") {
                    Charset::Unicode
                } else {
                    Charset::Ascii
                }
            }
        }
    }
}

struct Glyphs {
    v: &'static str,
    tee: &'static str,
    last: &'static str,
    h: &'static str,
    tl: &'static str,
    tr: &'static str,
    bl: &'static str,
    br: &'static str,
    bar: &'static str,
    dot: &'static str,
    to: &'static str,
    veth: &'static str,
}

const UNICODE: Glyphs = Glyphs {
    v: "│",
    tee: "├── ",
    last: "└── ",
    h: "─",
    tl: "┌",
    tr: "┐",
    bl: "└",
    br: "┘",
    bar: "│",
    dot: " · ",
    to: " → ",
    veth: " ◄── veth ──► ",
};

const ASCII: Glyphs = Glyphs {
    v: "|",
    tee: "+-- ",
    last: "`-- ",
    h: "-",
    tl: "+",
    tr: "+",
    bl: "+",
    br: "+",
    bar: "|",
    dot: " - ",
    to: " -> ",
    veth: " <-- veth --> ",
};

fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

fn boxed(g: &Glyphs, lines: &[String]) -> Vec<String> {
    let w = lines.iter().map(|l| width(l)).max().unwrap_or(0);
    let mut out = vec![format!("{}{}{}", g.tl, g.h.repeat(w + 2), g.tr)];
    for l in lines {
        out.push(format!(
            "{} {l}{} {}",
            g.bar,
            " ".repeat(w - width(l)),
            g.bar
        ));
    }
    out.push(format!("{}{}{}", g.bl, g.h.repeat(w + 2), g.br));
    out
}

fn cidr(addrs: &[(Ipv4Addr, u8)]) -> String {
    addrs
        .iter()
        .map(|(a, p)| format!("{a}/{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn up_word(lang: Lang, up: bool) -> &'static str {
    if up {
        lang.pick("up", "已启用")
    } else {
        lang.pick("down", "未启用")
    }
}

/// The lines of one container's box.
fn member_box(g: &Glyphs, lang: Lang, m: &Member, prefix: u8) -> Vec<String> {
    let e = &m.endpoint;
    let mut lines = Vec::new();
    match &m.container {
        Some((name, pid)) => lines.push(format!(
            "{name}{}{}{}PID {pid}",
            g.dot,
            &e.container[..12],
            g.dot
        )),
        None => lines.push(format!(
            "{}{}{}",
            e.name,
            g.dot,
            lang.pick("not running (stale endpoint)", "没有在运行（过时的端点）")
        )),
    }
    match &m.inside {
        Some(l) => {
            let peer = l.peer_index.map(|i| format!("@if{i}")).unwrap_or_default();
            lines.push(format!(
                "{}{peer} {}{}{}",
                l.name,
                cidr(&l.addrs),
                g.dot,
                up_word(lang, l.up)
            ));
            lines.push(format!("MAC {}", l.mac));
        }
        None => lines.push(format!(
            "{} {}/{prefix} ({})",
            e.ifname,
            e.ip,
            lang.pick(
                "in the books; the kernel shows no such link",
                "账本上有；内核里没有这个接口"
            )
        )),
    }
    if !e.aliases.is_empty() {
        lines.push(format!(
            "{} {}",
            lang.pick("aliases:", "别名："),
            e.aliases.join(", ")
        ));
    }
    let mut ports = e.ports.clone();
    ports.sort_by_key(|b| (b.container_port, b.proto, b.host_ip, b.host_port));
    for b in &ports {
        lines.push(format!(
            "{}:{}{}{}:{}/{}",
            b.host_ip,
            b.host_port,
            g.to,
            e.ip,
            b.container_port,
            b.proto.as_str()
        ));
    }
    if !ports.is_empty() {
        lines.push(format!(
            "{} {}",
            lang.pick("DNAT rules in the nft table:", "nft 表中的 DNAT 规则："),
            m.nft_rules
        ));
    }
    lines
}

/// Draw the picture.
pub fn render(p: &Picture, lang: Lang, charset: Charset) -> String {
    let g = match charset {
        Charset::Unicode => &UNICODE,
        Charset::Ascii => &ASCII,
    };
    let mut out: Vec<String> = Vec::new();
    let kernel = if p.simulated {
        lang.pick("simulated kernel", "模拟内核")
    } else {
        lang.pick("real kernel", "真实内核")
    };
    let table = if p.nft_present {
        format!("{} {}", lang.pick("nft table", "nft 表"), p.nft_table)
    } else {
        format!(
            "{} {} {}",
            lang.pick("nft table", "nft 表"),
            p.nft_table,
            lang.pick("(not made yet)", "（还没有建立）")
        )
    };
    out.push(format!(
        "{}{}{kernel}{}{table}{}net.ipv4.ip_forward = {}",
        lang.pick("host", "宿主机"),
        g.dot,
        g.dot,
        g.dot,
        if p.ip_forward.is_empty() {
            "?"
        } else {
            &p.ip_forward
        }
    ));
    if p.bridges.is_empty() {
        out.push(format!("{}", g.v));
        out.push(format!(
            "{}{}",
            g.last,
            lang.pick(
                "(no network: `network create NAME`, or `run` without --network)",
                "（没有网络：`network create 名字`，或者不带 --network 运行 `run`）"
            )
        ));
    }
    for (bi, b) in p.bridges.iter().enumerate() {
        let last_bridge = bi + 1 == p.bridges.len();
        let (stem, cont) = if last_bridge {
            (g.last, "    ".to_string())
        } else {
            (g.tee, format!("{}   ", g.v))
        };
        out.push(g.v.to_string());
        let state = match &b.link {
            Some(l) => format!("{}{}{}", cidr(&l.addrs), g.dot, up_word(lang, l.up)),
            None => lang
                .pick(
                    "no link yet: made when a container first joins",
                    "还没有这个接口：第一个容器加入时才建立",
                )
                .to_string(),
        };
        out.push(format!(
            "{stem}{}{}{} \"{}\"{}{state}",
            b.net.bridge,
            g.dot,
            lang.pick("bridge of network", "网桥，属于网络"),
            b.net.name,
            g.dot,
        ));
        let mut facts = vec![
            format!("{} {}", lang.pick("subnet", "子网"), b.net.subnet),
            format!("{} {}", lang.pick("gateway", "网关"), b.net.gateway),
        ];
        if b.net.internal {
            facts.push(lang.pick("internal", "内部网络").to_string());
        }
        if b.net.is_default() {
            facts.push(
                lang.pick("no names (use --link)", "不解析名字（用 --link）")
                    .to_string(),
            );
        } else {
            facts.push(
                lang.pick("names in /etc/hosts", "名字写在 /etc/hosts 里")
                    .to_string(),
            );
        }
        out.push(format!("{cont}{} {}", g.v, facts.join(g.dot)));
        if b.members.is_empty() {
            out.push(format!(
                "{cont}{}{}",
                g.last,
                lang.pick("(no containers)", "（没有容器）")
            ));
            continue;
        }
        for (mi, m) in b.members.iter().enumerate() {
            let last = mi + 1 == b.members.len();
            let (mstem, mcont) = if last {
                (g.last, "    ".to_string())
            } else {
                (g.tee, format!("{}   ", g.v))
            };
            let host_end = match &m.host_end {
                Some(l) => {
                    let mut s = format!("{} (if{})", l.name, l.index);
                    if l.master.as_deref() != Some(b.net.bridge.as_str()) {
                        s += &format!(
                            " {}",
                            lang.pick("(not on this bridge!)", "（不在这个网桥上！）")
                        );
                    }
                    s
                }
                None => format!(
                    "{} {}",
                    m.endpoint.host_veth,
                    lang.pick("(missing in the kernel)", "（内核里没有）")
                ),
            };
            let head = format!("{cont}{mstem}{host_end}{}{} ", g.veth, m.endpoint.ifname);
            let pad = format!(
                "{cont}{mcont}{}",
                " ".repeat(width(&head) - width(&cont) - width(&mcont))
            );
            let lines = boxed(g, &member_box(g, lang, m, b.net.subnet().prefix));
            for (i, line) in lines.iter().enumerate() {
                if i == 0 {
                    out.push(format!("{head}{line}"));
                } else {
                    out.push(format!("{pad}{line}"));
                }
            }
        }
    }
    if !p.others.is_empty() {
        out.push(String::new());
        let shown: Vec<String> = p
            .others
            .iter()
            .map(|(name, mode)| {
                let what = match mode.as_str() {
                    "host" => lang
                        .pick("the host's own network", "宿主机自己的网络")
                        .to_string(),
                    "none" | "" => lang.pick("none: only lo", "none：只有 lo").to_string(),
                    m => match m.strip_prefix("container:") {
                        Some(o) => format!(
                            "{}{o}{}",
                            lang.pick("shares the network namespace of ", "共用 "),
                            lang.pick("", " 的网络命名空间")
                        ),
                        None => m.to_string(),
                    },
                };
                format!("{name} ({what})")
            })
            .collect();
        out.push(format!(
            "{} {}",
            lang.pick("not on a bridge:", "不在网桥上："),
            shown.join("; ")
        ));
    }
    out.iter()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
