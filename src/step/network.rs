//! What the network steps mean (bridge, veth pair, addresses, routes,
//! sysctls, nftables, reserved ports), in English and Chinese, with the
//! `ip`/`nft`/`sysctl` commands that do the same by hand.

use super::{shell_quote, Description, Lang, Step};

/// `nsenter -t PID -n CMD`: run an `ip` command in a container's network namespace.
fn in_netns(pid: i32, cmd: &str) -> String {
    format!("nsenter -t {pid} -n {cmd}")
}

pub fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::BridgeCreate { bridge, gateway } => Description {
            title: l(
                &format!("create the bridge {bridge} with gateway address {gateway}"),
                &format!("创建网桥 {bridge}，网关地址 {gateway}"),
            ),
            why: l(
                "A Linux bridge is a virtual switch in the host's kernel. Every container on this network plugs one end of a veth cable into it, so they reach each other directly; the bridge's own address is their gateway to the host and beyond.",
                "Linux 网桥是宿主机内核里的一台虚拟交换机。这个网络上的每个容器都把一根 veth 网线的一端插在它上面，于是容器之间可以直接通信；网桥自己的地址就是容器通往宿主机和外部的网关。",
            ),
            shell: format!(
                "ip link add {bridge} type bridge && ip addr add {gateway} dev {bridge} && ip link set {bridge} up"
            ),
            syscall: l(
                "netlink RTM_NEWLINK (kind bridge), RTM_NEWADDR, RTM_NEWLINK (IFF_UP)",
                "netlink RTM_NEWLINK（类型 bridge）、RTM_NEWADDR、RTM_NEWLINK（IFF_UP）",
            ),
            look: format!("ip addr show {bridge}; bridge link"),
        },
        Step::BridgeRemove { bridge } => Description {
            title: l(&format!("remove the bridge {bridge}"), &format!("删除网桥 {bridge}")),
            why: l(
                "The network is removed: its bridge goes, and with it the gateway address and the route to its subnet.",
                "网络被删除：它的网桥随之删除，网关地址和到这个子网的路由也一起消失。",
            ),
            shell: format!("ip link del {bridge}"),
            syscall: "netlink RTM_DELLINK".into(),
            look: "ip -br link".into(),
        },
        Step::VethCreate {
            host,
            peer,
            bridge,
            pid,
            mac,
        } => Description {
            title: l(
                &format!("create the veth pair {host} ↔ {peer} (in process {pid}'s namespace), {host} on {bridge}"),
                &format!("创建 veth 对 {host} ↔ {peer}（{peer} 在进程 {pid} 的命名空间里），{host} 接到 {bridge}"),
            ),
            why: l(
                "A veth pair is a virtual cable: what goes in one end comes out the other. One end is made directly inside the container's network namespace as its eth0 (MAC address derived from its IP, as docker does); the other stays on the host, plugged into the bridge and brought up. Each end gets one queue, the one a veth uses anyway: made with one per CPU, the kernel would shrink them to one and wait for an RCU grace period per end.",
                "veth 对是一根虚拟网线：从一端进去的包从另一端出来。一端直接建在容器的网络命名空间里，名为 eth0（MAC 地址由 IP 推出，和 docker 一样）；另一端留在宿主机上，接到网桥上并启用。每端只建一个队列，veth 本来也只用一个：若按每个 CPU 一个来建，内核会再缩成一个，每端都要等一次 RCU 宽限期。",
            ),
            shell: format!(
                "ip link add {host} numtxqueues 1 numrxqueues 1 type veth peer name {peer} numtxqueues 1 numrxqueues 1 netns {pid} address {mac} && ip link set {host} master {bridge} up"
            ),
            syscall: l(
                "netlink RTM_NEWLINK (kind veth, peer with IFLA_NET_NS_PID), RTM_NEWLINK (IFLA_MASTER, IFF_UP)",
                "netlink RTM_NEWLINK（类型 veth，对端带 IFLA_NET_NS_PID）、RTM_NEWLINK（IFLA_MASTER、IFF_UP）",
            ),
            look: format!("ip link show master {bridge}; {}", in_netns(*pid, "ip link")),
        },
        Step::AddrAdd { pid, dev, address } => Description {
            title: l(
                &format!("give {dev} the address {address} in the container"),
                &format!("在容器里给 {dev} 配置地址 {address}"),
            ),
            why: l(
                "The address comes from the network's allocator (the lowest free one, or --ip), kept in glassbox's network record under a lock so two containers never get the same one. The prefix also gives the container a route to its whole subnet through eth0.",
                "地址由网络的分配器给出（最小的空闲地址，或 --ip 指定的），记在 glassbox 的网络记录里并在锁下分配，两个容器绝不会拿到同一个地址。前缀长度同时给了容器一条经 eth0 到整个子网的路由。",
            ),
            shell: in_netns(*pid, &format!("ip addr add {address} dev {dev}")),
            syscall: "netlink RTM_NEWADDR".into(),
            look: in_netns(*pid, "ip addr"),
        },
        Step::NetnsLinkUp { pid, dev } => Description {
            title: l(
                &format!("bring up {dev} in the container"),
                &format!("在容器里启用 {dev}"),
            ),
            why: l(
                "An interface carries nothing until it is up.",
                "网络接口启用之前不收发任何数据。",
            ),
            shell: in_netns(*pid, &format!("ip link set {dev} up")),
            syscall: "netlink RTM_NEWLINK (IFF_UP)".into(),
            look: in_netns(*pid, "ip link"),
        },
        Step::RouteAdd { pid, gateway } => Description {
            title: l(
                &format!("route the container's other traffic through {gateway}"),
                &format!("容器的其他流量都经 {gateway} 转发"),
            ),
            why: l(
                "Anything not on the container's own subnet goes to the bridge's address on the host, which forwards it (and masquerades it when it leaves the host).",
                "凡是不在容器所在子网内的目的地址，都发给宿主机上网桥的地址，由宿主机转发（离开宿主机时做地址伪装）。",
            ),
            shell: in_netns(*pid, &format!("ip route add default via {gateway}")),
            syscall: "netlink RTM_NEWROUTE".into(),
            look: in_netns(*pid, "ip route"),
        },
        Step::LinkRemove { name } => Description {
            title: l(
                &format!("remove the veth pair {name} (the container's network cable)"),
                &format!("删除 veth 对 {name}（容器的网线）"),
            ),
            why: l(
                "Deleting the host end of a veth pair deletes the container's end with it. A stopped container's pair would also go by itself with its network namespace, which a kernel worker tears down some milliseconds after the last process exits; glassbox does not wait for that, so nothing of the container is left when the command returns. The kernel takes both ends out of the list at once; freeing them then waits for an RCU barrier (~15 ms) in the task that asked, so glassbox asks from a short-lived process of its own, which waits that out in its place.",
                "删除 veth 对在宿主机的一端，容器那一端也随之删除。已停止的容器的 veth 对本来也会随它的网络命名空间消失：最后一个进程退出后，内核的工作线程会在几毫秒后拆除这个命名空间；glassbox 不等这一步，命令返回时容器就不留痕迹。内核会立即把两端都从列表中摘掉；之后释放它们要在发出请求的任务里等一次 RCU 屏障（约 15 毫秒），所以 glassbox 让自己的一个短命进程去发这个请求，由它代为等待。",
            ),
            shell: format!("ip link del {name}"),
            syscall: "netlink RTM_DELLINK".into(),
            look: "ip -br link".into(),
        },
        Step::SysctlWrite { key, value } => {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            let why = if key.ends_with("ip_forward") {
                l(
                    "Without forwarding the host drops packets that are not for itself, so containers could reach the host but not the world beyond it. docker turns it on for the same reason.",
                    "不打开转发，宿主机会丢弃不是发给自己的包，容器只能访问宿主机，出不去。docker 也因此打开它。",
                )
            } else if key.ends_with("route_localnet") {
                l(
                    "For 127.0.0.1:PORT to reach a container, a packet from 127.0.0.1 must leave through the bridge after its destination is rewritten; the kernel drops such 'martian' packets unless route_localnet is on for that interface.",
                    "要让 127.0.0.1:端口 能到达容器，目的地址被改写后的包要带着源地址 127.0.0.1 从网桥发出；除非这个接口打开了 route_localnet，内核会把这种“火星包”丢掉。",
                )
            } else {
                String::new()
            };
            Description {
                title: l(&format!("set {key} = {value}"), &format!("设置 {key} = {value}")),
                why,
                shell: format!("sysctl -w {key}={value}"),
                syscall: format!("write(2) \"{value}\" to {path}"),
                look: format!("cat {path}"),
            }
        }
        Step::NftApply { purpose, script } => Description {
            title: l(
                &format!("nftables: {purpose}"),
                &format!("nftables：{}", purpose_zh(purpose)),
            ),
            why: l(
                "glassbox keeps all its packet rules in one nftables table of its own (never touching other tables): masquerade so containers' traffic leaves with the host's address, DNAT so a published host port leads to the container, and drops between different networks. `nft -f` applies the script as one transaction.",
                "glassbox 把所有包过滤规则放在自己独有的一张 nftables 表里（从不碰别的表）：地址伪装让容器的流量以宿主机的地址出去，DNAT 让发布的宿主机端口通到容器，不同网络之间的流量被丢弃。`nft -f` 把整段脚本作为一个事务提交。",
            ),
            shell: format!("nft -f - <<'EOF'\n{}EOF", script),
            syscall: l(
                "netlink NFNL_SUBSYS_NFTABLES batch (through the nft program)",
                "netlink NFNL_SUBSYS_NFTABLES 批处理（经 nft 程序）",
            ),
            look: script
                .split_whitespace()
                .skip_while(|w| *w != "ip")
                .nth(1)
                .map(|t| format!("nft -a list table ip {t}"))
                .unwrap_or_else(|| "nft list tables".into()),
        },
        Step::PortReserve { ports } => {
            let py: Vec<String> = ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let (addr, proto) = p.rsplit_once('/').unwrap_or((p.as_str(), "tcp"));
                    let (ip, port) = addr.rsplit_once(':').unwrap_or(("0.0.0.0", addr));
                    let kind = if proto == "udp" { "socket.SOCK_DGRAM" } else { "socket.SOCK_STREAM" };
                    format!("s{i}=socket.socket(socket.AF_INET,{kind}); s{i}.bind(('{ip}',{port}))")
                })
                .collect();
            Description {
                title: l(
                    &format!("reserve host port(s) {}", ports.join(", ")),
                    &format!("占用宿主机端口 {}", ports.join("、")),
                ),
                why: l(
                    "A published port must be glassbox's alone: the container's supervisor binds a socket to each (without listening: the DNAT rule takes the traffic before any socket sees it) and holds it while the container runs. A port another program already has fails the run here, before anything is made.",
                    "发布的端口必须由 glassbox 独占：容器的监管进程对每个端口 bind 一个套接字（不 listen：DNAT 规则在任何套接字之前就接走了流量），在容器运行期间一直持有。如果端口已被别的程序占用，运行就在这里失败，什么都还没创建。",
                ),
                shell: format!(
                    "python3 -c {} &",
                    shell_quote(&format!("import socket,time; {}; time.sleep(1e9)", py.join("; ")))
                ),
                syscall: "socket(2) + bind(2), no listen(2)".into(),
                look: "ss -tuanp".into(),
            }
        }
        Step::HostsWrite { file, text } => Description {
            title: l(
                &format!("write {}", file.display()),
                &format!("写入 {}", file.display()),
            ),
            why: l(
                "Containers on a user network find each other by name through /etc/hosts: each container's file holds its own lines and one line per peer (name, aliases, short id), rewritten for every member when a container joins or leaves. It is written in place, because the container sees this very file through a bind mount.",
                "同一个用户自定义网络上的容器通过 /etc/hosts 按名字找到彼此：每个容器的文件里有它自己的几行，以及每个同伴一行（名字、别名、短 ID），有容器加入或离开时为每个成员重写。文件是原地改写的，因为容器是通过绑定挂载看到这个文件本身的。",
            ),
            shell: format!("cat > {} <<'EOF'\n{}EOF", shell_quote(&file.display().to_string()), text),
            syscall: "open(O_TRUNC) + write(2)".into(),
            look: format!("cat {}", shell_quote(&file.display().to_string())),
        },
        _ => unreachable!("not a network step"),
    }
}

/// The Chinese of an `NftApply` purpose: the engine words it in English
/// (src/engine/network.rs), in one of these shapes; another shape is shown
/// as it is.
fn purpose_zh(purpose: &str) -> String {
    if let Some(table) = purpose.strip_prefix("create glassbox's table ") {
        return format!("创建 glassbox 自己的表 {table}");
    }
    if let Some(rest) = purpose.strip_prefix("rules of network ") {
        if let Some((name, bridge)) = rest.split_once(" (bridge ") {
            return format!(
                "网络 {name} 的规则（网桥 {}）",
                bridge.trim_end_matches(')')
            );
        }
    }
    if let Some(ports) = purpose.strip_prefix("publish ") {
        return format!("发布端口 {ports}");
    }
    if let Some(id) = purpose
        .strip_prefix("remove container ")
        .and_then(|r| r.strip_suffix("'s port rules"))
    {
        return format!("删除容器 {id} 的端口规则");
    }
    if let Some(name) = purpose
        .strip_prefix("remove network ")
        .and_then(|r| r.strip_suffix("'s rules"))
    {
        return format!("删除网络 {name} 的规则");
    }
    purpose.to_string()
}
