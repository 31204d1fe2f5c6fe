//! Bridge networking on the simulated host: the same network steps as the
//! real kernel's, applied to the simulated host's model (namespaces, links,
//! addresses, routes, glassbox's nft table), and simulated busybox programs
//! reaching each other through it. Nothing here touches the host's network.

mod common;
use common::*;
use glassbox::kernel::sim::reach::{self, Reply};

/// A simulated command with the default network (the suite's default is
/// `none`), on a clock pinned at 2026-01-01T00:00:00Z moving 1 s per command.
/// `glassbox --simulate` on the ticking clock, with the default network
/// (other tests run without one).
fn sim(gb: &Gb, args: &[&str]) -> std::process::Output {
    gb.sim_ticking_cmd()
        .env_remove("GLASSBOX_DEFAULT_NETWORK")
        .args(args)
        .output()
        .expect("run glassbox")
}

fn fails(o: &std::process::Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    stderr(o)
}

/// The simulated host's network model (sim-host.json's `net`) as JSON text.
fn host_state(gb: &Gb) -> String {
    let text = std::fs::read_to_string(gb.sim_root().join("sim-host.json")).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| v["net"].to_string())
        .unwrap_or_default()
}

/// An HTTP request from the simulated host itself (what a check of
/// 127.0.0.1:PORT asks in simulation).
fn host_get(gb: &Gb, port: u16) -> Reply {
    glassbox::clock::use_simulated(Some(1_767_225_600_000 + 60_000), 0);
    reach::sim_host_request(
        &gb.sim_root(),
        "127.0.0.1".parse().unwrap(),
        port,
        b"GET / HTTP/1.0\r\n\r\n",
    )
    .unwrap()
}

const HTTPD: &str =
    "mkdir -p /var/www && echo hello-from-glassbox > /var/www/index.html && exec httpd -f -p 80 -h /var/www";

#[test]
fn a_published_port_answers_from_the_simulated_host_and_on_the_container_address() {
    let gb = Gb::new();
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "127.0.0.1:18080:80",
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ],
    ));
    assert_eq!(
        ok(&sim(&gb, &["port", "web"])),
        "80/tcp -> 127.0.0.1:18080\n"
    );
    let ps = ok(&sim(&gb, &["ps"]));
    assert!(ps.contains("127.0.0.1:18080->80/tcp"), "{ps}");
    match host_get(&gb, 18080) {
        Reply::Data(d) => {
            let text = String::from_utf8_lossy(&d);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
            assert!(text.ends_with("\r\n\r\nhello-from-glassbox\n"), "{text}");
        }
        other => panic!("no answer on 127.0.0.1:18080: {other:?}"),
    }
    // Nothing listens on another port; nothing is published on it either.
    assert_eq!(host_get(&gb, 18081), Reply::Refused);
    let ip = ok(&sim(
        &gb,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"],
    ));
    let ip = ip.trim();
    assert!(ip.starts_with("10.123.0."), "{ip}");
    let url = format!("http://{ip}/");
    let o = sim(
        &gb,
        &["run", "--rm", "busybox", "wget", "-q", "-O", "-", &url],
    );
    assert_eq!(ok(&o), "hello-from-glassbox\n");
    // Published on 127.0.0.1 only: the gateway address has no DNAT for it
    // (as on the real host, where nothing listens there either).
    let script = format!("wget -O - http://10.123.0.1:18080/ 2>&1; wget -O - http://{ip}/ 2>&1; wget -q -O - http://{ip}/nope 2>&1; echo status $?");
    let o = sim(&gb, &["run", "--rm", "busybox", "sh", "-c", &script]);
    assert_eq!(
        ok(&o),
        format!("Connecting to 10.123.0.1:18080 (10.123.0.1:18080)\nwget: can't connect to remote host (10.123.0.1): Connection refused\nConnecting to {ip} ({ip}:80)\nwriting to stdout\nhello-from-glassbox\n-                    100% |********************************|    20  0:00:00 ETA\nwritten to stdout\nwget: server returned error: HTTP/1.1 404 Not Found\nstatus 1\n")
    );
    // The container's own view of its network.
    let o = sim(
        &gb,
        &[
            "exec",
            "web",
            "sh",
            "-c",
            "ip addr show eth0; ip route; hostname -i",
        ],
    );
    let text = ok(&o);
    assert!(
        text.contains(&format!("inet {ip}/24 brd 10.123.0.255 scope global eth0")),
        "{text}"
    );
    assert!(text.contains("default via 10.123.0.1 dev eth0"), "{text}");
    assert!(text.ends_with(&format!("{ip}\n")), "{text}");
    // After rm: no veth, rule or address of it is left in the model.
    let id = ok(&sim(&gb, &["inspect", "-f", "{{.Id}}", "web"]))
        .trim()
        .to_string();
    assert!(host_state(&gb).contains(&format!("c:{id}")));
    ok(&sim(&gb, &["rm", "-f", "web"]));
    let st = host_state(&gb);
    assert!(!st.contains(&format!("c:{id}")), "{st}");
    assert!(!st.contains("\"gbv"), "{st}");
    assert!(!st.contains(ip), "{st}");
    assert_eq!(host_get(&gb, 18080), Reply::Refused);
}

#[test]
fn containers_on_a_user_network_ping_each_other_by_name_and_not_across_networks() {
    let gb = Gb::new();
    ok(&sim(&gb, &["network", "create", "testnet"]));
    ok(&sim(&gb, &["network", "create", "othernet"]));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "a",
            "--network",
            "testnet",
            "busybox",
            "sleep",
            "1000",
        ],
    ));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "c",
            "--network",
            "othernet",
            "busybox",
            "sleep",
            "1000",
        ],
    ));
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--name",
            "b",
            "--network",
            "testnet",
            "busybox",
            "ping",
            "-c",
            "2",
            "a",
        ],
    );
    insta::assert_snapshot!(ok(&o), @r"
    PING a (10.123.1.2): 56 data bytes
    64 bytes from 10.123.1.2: seq=0 ttl=64 time=0.082 ms
    64 bytes from 10.123.1.2: seq=1 ttl=64 time=0.069 ms

    --- a ping statistics ---
    2 packets transmitted, 2 packets received, 0% packet loss
    round-trip min/avg/max = 0.069/0.075/0.082 ms
    ");
    // c is on another network: no name for it, and its address is dropped.
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--network",
            "testnet",
            "busybox",
            "ping",
            "-c",
            "1",
            "c",
        ],
    );
    assert_eq!(fails(&o, 1), "ping: bad address 'c'\n");
    let cip = ok(&sim(
        &gb,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "c"],
    ));
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--network",
            "testnet",
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            cip.trim(),
        ],
    );
    fails(&o, 1);
    assert!(
        stdout(&o).contains("1 packets transmitted, 0 packets received, 100% packet loss"),
        "{}",
        stdout(&o)
    );
    // The network's books: a and c where they are.
    let inspect = ok(&sim(
        &gb,
        &[
            "network",
            "inspect",
            "-f",
            "{{json .Containers}}",
            "testnet",
        ],
    ));
    assert!(inspect.contains("\"Name\":\"a\""), "{inspect}");
    // A network in use cannot go; once empty it can.
    let err = fails(&sim(&gb, &["network", "rm", "testnet"]), 1);
    assert!(err.contains("has active endpoints (a)"), "{err}");
    ok(&sim(&gb, &["rm", "-f", "a", "c"]));
    ok(&sim(&gb, &["network", "rm", "testnet"]));
    let pruned = ok(&sim(&gb, &["network", "prune", "-f"]));
    assert!(pruned.contains("othernet"), "{pruned}");
    let st = host_state(&gb);
    assert!(!st.contains("\"gb-"), "no bridge left: {st}");
}

#[test]
fn link_dns_and_add_host_are_in_the_container_files() {
    let gb = Gb::new();
    ok(&sim(
        &gb,
        &["run", "-d", "--name", "db", "busybox", "sleep", "1000"],
    ));
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--hostname",
            "box",
            "--link",
            "db:database",
            "--dns",
            "192.0.2.53",
            "--add-host",
            "h1:10.9.9.9",
            "busybox",
            "sh",
            "-c",
            "grep -v ip6 /etc/hosts; cat /etc/resolv.conf; ping -c 1 database | head -2",
        ],
    );
    let text = ok(&o);
    let db_ip = ok(&sim(
        &gb,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"],
    ));
    let db_ip = db_ip.trim();
    assert!(text.contains(&format!("{db_ip}\tdatabase db ")), "{text}");
    assert!(text.contains("10.9.9.9\th1"), "{text}");
    assert!(text.contains("nameserver 192.0.2.53"), "{text}");
    assert!(
        text.contains(&format!("64 bytes from {db_ip}: seq=0 ttl=64")),
        "{text}"
    );
    ok(&sim(&gb, &["rm", "-f", "db"]));
}

#[test]
fn a_taken_port_fails_cleanly_and_leaves_nothing() {
    let gb = Gb::new();
    ok(&sim(
        &gb,
        &[
            "run", "-d", "--name", "first", "-p", "18090:80", "busybox", "sleep", "1000",
        ],
    ));
    let before = host_state(&gb);
    let o = sim(
        &gb,
        &[
            "run", "-d", "--name", "second", "-p", "18090:80", "busybox", "sleep", "1000",
        ],
    );
    let err = fails(&o, 125);
    assert!(err.contains("port is already allocated"), "{err}");
    let all = ok(&sim(&gb, &["ps", "-a", "--format", "{{.Names}}"]));
    assert_eq!(all, "first\n");
    // The model is as it was (the failed run made no namespace, veth or rule).
    let after = host_state(&gb);
    let links = |s: &str| s.matches("\"gbv").count();
    assert_eq!(links(&before), links(&after));
    ok(&sim(&gb, &["rm", "-f", "first"]));
}

#[test]
fn system_reset_forgets_the_simulated_networks() {
    let gb = Gb::new();
    ok(&sim(&gb, &["network", "create", "gone"]));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "x",
            "--network",
            "gone",
            "busybox",
            "sleep",
            "1000",
        ],
    ));
    ok(&sim(&gb, &["system", "reset", "-f"]));
    let ls = ok(&sim(&gb, &["network", "ls", "--format", "{{.Name}}"]));
    assert_eq!(ls, "bridge\n");
    assert!(!host_state(&gb).contains("gb-"), "{}", host_state(&gb));
}

/// The real kernel and the simulator take the same network steps for the
/// same `run -d -p` (needs root for the real half; its own table, bridge and
/// subnet, removed at the end).
#[test]
fn a_published_run_takes_the_same_steps_real_and_simulated() {
    if !is_root() {
        eprintln!("skipped: the real half needs root");
        return;
    }
    let tag = format!("{}", std::process::id() % 100000);
    let (table, bridge) = (format!("gbsim{tag}"), format!("gbs{tag}"));
    let config = format!(
        "[network]\nnft_table = \"{table}\"\ndefault_bridge = \"{bridge}\"\ndefault_subnet = \"10.123.250.0/24\"\nip_forward = false\n"
    );
    let mut kinds = Vec::new();
    for simulated in [false, true] {
        let gb = Gb::new();
        std::fs::write(gb.root().join("config.toml"), &config).unwrap();
        std::fs::create_dir_all(gb.sim_root()).unwrap();
        std::fs::write(gb.sim_root().join("config.toml"), &config).unwrap();
        let trace = gb.root().join("trace.jsonl");
        let mut c = gb.cmd();
        c.env("GLASSBOX_DEFAULT_NETWORK", "bridge");
        if simulated {
            c.arg("--simulate");
        }
        let port = if simulated { "18095" } else { "18096" };
        let o = c
            .arg("--trace-json")
            .arg(&trace)
            .args([
                "run",
                "-d",
                "--name",
                "p",
                "-p",
                &format!("127.0.0.1:{port}:80"),
                "busybox",
                "sleep",
                "30",
            ])
            .output()
            .unwrap();
        let ran = o.status.success();
        let k = if trace.exists() {
            trace_kinds(&trace)
        } else {
            vec![]
        };
        let mut rm = gb.cmd();
        if simulated {
            rm.arg("--simulate");
        }
        let _ = rm.args(["rm", "-f", "p"]).output();
        if !simulated {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &bridge])
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::process::Command::new("nft")
                .args(["delete", "table", "ip", &table])
                .stderr(std::process::Stdio::null())
                .status();
        }
        assert!(ran, "simulated={simulated}: {}", stderr(&o));
        kinds.push(k);
    }
    let net: Vec<Vec<String>> = kinds
        .iter()
        .map(|k| {
            k.iter()
                .filter(|s| {
                    [
                        "bridge_create",
                        "veth_create",
                        "addr_add",
                        "netns_link_up",
                        "route_add",
                        "sysctl_write",
                        "nft_apply",
                        "port_reserve",
                        "hosts_write",
                    ]
                    .contains(&s.as_str())
                })
                .cloned()
                .collect()
        })
        .collect();
    assert!(!net[0].is_empty());
    assert_eq!(net[0], net[1], "real vs simulated network steps");
}

#[test]
fn connect_and_disconnect_a_running_simulated_container() {
    let gb = Gb::new();
    ok(&sim(&gb, &["network", "create", "simnet"]));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "sa",
            "--network",
            "simnet",
            "busybox",
            "sleep",
            "100",
        ],
    ));
    ok(&sim(
        &gb,
        &["run", "-d", "--name", "sb", "busybox", "sleep", "100"],
    ));
    // On the default bridge only: no name for sa.
    let o = sim(&gb, &["exec", "sb", "ping", "-c1", "sa"]);
    assert!(fails(&o, 1).contains("bad address 'sa'"));
    ok(&sim(&gb, &["network", "connect", "simnet", "sb"]));
    let addrs = ok(&sim(&gb, &["exec", "sb", "ip", "addr"]));
    assert!(addrs.contains("eth1@"), "{addrs}");
    let out = ok(&sim(&gb, &["exec", "sb", "ping", "-c1", "sa"]));
    assert!(out.contains("1 packets received"), "{out}");
    // And back: the name, the link and the route are gone with the endpoint.
    ok(&sim(&gb, &["network", "disconnect", "simnet", "sb"]));
    let o = sim(&gb, &["exec", "sb", "ping", "-c1", "sa"]);
    assert!(fails(&o, 1).contains("bad address 'sa'"));
    let addrs = ok(&sim(&gb, &["exec", "sb", "ip", "addr"]));
    assert!(!addrs.contains("eth1@"), "{addrs}");
    ok(&sim(&gb, &["rm", "-f", "sa", "sb"]));
}

/// The diagram with veth names (hashes of ids that include the store's
/// temporary path) made stable for a snapshot, widths kept.
fn stable_veths(text: &str) -> String {
    regex::Regex::new("gbv[0-9a-f]{12}")
        .unwrap()
        .replace_all(text, "gbvxxxxxxxxxxxx")
        .into_owned()
}

/// `sim` with extra environment (the locale decides the diagram's lines).
fn sim_env(gb: &Gb, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut c = gb.cmd();
    c.env("GLASSBOX_SIM_CLOCK", "1767225600+1")
        .env_remove("GLASSBOX_DEFAULT_NETWORK")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("--simulate")
        .args(args)
        .output()
        .expect("run glassbox")
}

#[test]
fn the_network_diagram_draws_the_simulated_hosts_bridges_veths_and_containers() {
    let gb = Gb::new();
    ok(&sim(
        &gb,
        &["network", "create", "--subnet", "10.124.7.0/24", "testnet"],
    ));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "127.0.0.1:18080:80",
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ],
    ));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "testnet",
            "--network-alias",
            "database",
            "busybox",
            "sleep",
            "300",
        ],
    ));
    ok(&sim(&gb, &["network", "connect", "testnet", "web"]));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "solo",
            "--network",
            "none",
            "busybox",
            "sleep",
            "300",
        ],
    ));
    let utf8 = [("LANG", "C.UTF-8")];
    let en = ok(&sim_env(&gb, &utf8, &["network", "inspect", "--diagram"]));
    // Drawn from the model: the veth names are the model's links.
    let st = host_state(&gb);
    for line in en.lines().filter(|l| l.contains("veth")) {
        let name = line
            .split_whitespace()
            .find(|w| w.starts_with("gbv"))
            .unwrap_or_else(|| panic!("no veth name in {line:?}"));
        assert!(
            st.contains(&format!("\"{name}\"")),
            "{name} not in the model"
        );
    }
    insta::assert_snapshot!("sim_network_diagram_en", stable_veths(&en));
    let zh = ok(&sim_env(
        &gb,
        &utf8,
        &["--lang", "zh", "network", "inspect", "--diagram", "testnet"],
    ));
    insta::assert_snapshot!("sim_network_diagram_zh_testnet", stable_veths(&zh));
    // A locale that is not UTF-8 (the suite's LANG=C) gets plain ASCII.
    let ascii = ok(&sim_env(
        &gb,
        &[("LANG", "C")],
        &["network", "inspect", "--diagram", "bridge"],
    ));
    assert!(ascii.is_ascii(), "{ascii}");
    insta::assert_snapshot!("sim_network_diagram_ascii_bridge", stable_veths(&ascii));
    assert_eq!(
        ok(&sim_env(
            &gb,
            &utf8,
            &["network", "inspect", "--diagram", "--ascii", "bridge"]
        )),
        ascii
    );
    // An unknown network: named on stderr, status 1, as inspect does.
    let o = sim_env(
        &gb,
        &utf8,
        &["network", "inspect", "--diagram", "nosuchnet"],
    );
    assert_eq!(fails(&o, 1), "Error: network nosuchnet not found\n");
    // After rm the picture no longer holds the container or its veth.
    ok(&sim(&gb, &["rm", "-f", "db"]));
    let after = ok(&sim_env(
        &gb,
        &utf8,
        &["network", "inspect", "--diagram", "testnet"],
    ));
    assert!(!after.contains("db"), "{after}");
    assert!(after.contains("web"), "{after}");
}

#[test]
fn a_simulated_container_joins_another_containers_network_namespace() {
    let gb = Gb::new();
    ok(&sim(
        &gb,
        &["run", "-d", "--name", "web", "busybox", "sh", "-c", HTTPD],
    ));
    let ip = ok(&sim(
        &gb,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"],
    ))
    .trim()
    .to_string();
    // The joiner sees the owner's eth0 and reaches its server on localhost.
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--network",
            "container:web",
            "busybox",
            "sh",
            "-c",
            "ip addr show eth0 | grep inet; hostname -i; wget -q -O - http://127.0.0.1/",
        ],
    );
    let text = ok(&o);
    assert!(
        text.starts_with(&format!(
            "    inet {ip}/24 brd 10.123.0.255 scope global eth0\n"
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("{ip}\nhello-from-glassbox\n")),
        "{text}"
    );
    // A server in the joiner answers on the owner's address.
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "side",
            "--network",
            "container:web",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /w && echo from-side > /w/index.html && exec httpd -f -p 8081 -h /w",
        ],
    ));
    let url = format!("http://{ip}:8081/");
    let o = sim(
        &gb,
        &["run", "--rm", "busybox", "wget", "-q", "-O", "-", &url],
    );
    assert_eq!(ok(&o), "from-side\n");
    // The refusals are docker's, as on the real kernel.
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--network",
            "container:web",
            "-p",
            "8080:80",
            "busybox",
            "true",
        ],
    );
    assert!(
        fails(&o, 125).contains("conflicting options"),
        "{}",
        stderr(&o)
    );
    ok(&sim(&gb, &["stop", "-t", "0", "side"]));
    ok(&sim(&gb, &["rm", "-f", "web"]));
    // Its owner is gone: `start` fails as docker's does (status 1).
    let o = sim(&gb, &["start", "side"]);
    assert!(fails(&o, 1).contains("cannot join network of a non running container"));
    // Nothing of the joins is left in the model once both are gone.
    ok(&sim(&gb, &["rm", "-f", "side"]));
    let st = host_state(&gb);
    assert!(!st.contains("\"joined\""), "{st}");
    assert!(!st.contains("\"gbv"), "{st}");
}

#[test]
fn a_restarted_simulated_container_is_wired_again() {
    let gb = Gb::new();
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "r",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "sleep 2; exit 3",
        ],
    ));
    let ip = ok(&sim(
        &gb,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "r"],
    ))
    .trim()
    .to_string();
    let pid0 = ok(&sim(&gb, &["inspect", "-f", "{{.State.Pid}}", "r"]));
    // Each simulated command moves the clock a second on: wait for a restart.
    let mut restarted = false;
    for _ in 0..10 {
        let s = ok(&sim(
            &gb,
            &["inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "r"],
        ));
        if !s.starts_with("0 ") && s.trim_end().ends_with("running") {
            restarted = true;
            break;
        }
    }
    assert!(restarted, "no restart seen");
    let pid1 = ok(&sim(&gb, &["inspect", "-f", "{{.State.Pid}}", "r"]));
    assert_ne!(pid0, pid1);
    let o = sim(
        &gb,
        &["exec", "r", "sh", "-c", "ip addr show eth0; ip route"],
    );
    let text = ok(&o);
    assert!(
        text.contains(&format!("inet {ip}/24 brd 10.123.0.255 scope global eth0")),
        "{text}"
    );
    assert!(text.contains("default via 10.123.0.1 dev eth0"), "{text}");
    let o = sim(&gb, &["run", "--rm", "busybox", "ping", "-c", "1", &ip]);
    assert!(
        ok(&o).contains("1 packets transmitted, 1 packets received"),
        "{}",
        stdout(&o)
    );
    // The host end of its veth points into a later process's namespace
    // (it may have restarted again meanwhile: each command is a second),
    // which holds the container's address.
    let st: serde_json::Value = serde_json::from_str(&host_state(&gb)).unwrap();
    let pid0: i64 = pid0.trim().parse().unwrap();
    let host_links = st["netns"]["0"]["links"].as_array().unwrap();
    let peer = host_links
        .iter()
        .find(|l| l["name"].as_str().unwrap_or("").starts_with("gbv"))
        .and_then(|l| l["peer"][0].as_i64())
        .unwrap_or_else(|| panic!("no veth on the host: {st}"));
    assert!(peer > pid0, "{st}");
    assert!(
        st["netns"][peer.to_string()]
            .to_string()
            .contains(&format!("\"{ip}\"")),
        "{st}"
    );
    ok(&sim(&gb, &["rm", "-f", "r"]));
    assert!(!host_state(&gb).contains("\"gbv"));
}

#[test]
fn nc_listens_in_one_simulated_container_and_another_connects() {
    let gb = Gb::new();
    ok(&sim(&gb, &["network", "create", "chat"]));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "chat",
            "busybox",
            "sh",
            "-c",
            "echo pong | nc -l -p 1234",
        ],
    ));
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--network",
            "chat",
            "busybox",
            "sh",
            "-c",
            "echo ping | nc srv 1234",
        ],
    );
    assert_eq!(ok(&o), "pong\n");
    // The server printed what came and ended: one connection, no -e.
    assert_eq!(ok(&sim(&gb, &["logs", "srv"])), "ping\n");
    assert_eq!(
        ok(&sim(
            &gb,
            &[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                "srv"
            ]
        )),
        "exited 0\n"
    );
    // Nobody listens any more.
    let o = sim(
        &gb,
        &[
            "run",
            "--rm",
            "--network",
            "chat",
            "busybox",
            "sh",
            "-c",
            "echo again | nc 10.123.1.2 1234",
        ],
    );
    assert_eq!(
        fails(&o, 1),
        "nc: can't connect to remote host (10.123.1.2): Connection refused\n"
    );
    // The busybox image's nc has no UDP (Debian's small nc): refused as the real one refuses it.
    let o = sim(
        &gb,
        &["run", "--rm", "busybox", "nc", "-u", "127.0.0.1", "53"],
    );
    let err = fails(&o, 1);
    assert!(
        err.starts_with("nc: invalid option -- 'u'\nBusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n\nUsage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]\n"),
        "{err}"
    );
    // Published: a connection from the simulated host reaches it through the DNAT.
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "pub",
            "-p",
            "127.0.0.1:18099:1234",
            "busybox",
            "sh",
            "-c",
            "echo from-pub | nc -l -p 1234",
        ],
    ));
    glassbox::clock::use_simulated(Some(1_767_225_600_000 + 60_000), 0);
    let reply = reach::sim_host_request(
        &gb.sim_root(),
        "127.0.0.1".parse().unwrap(),
        18099,
        b"hello\n",
    )
    .unwrap();
    assert_eq!(reply, Reply::Data(b"from-pub\n".to_vec()));
    // (The request came at +60 s: look later than that.)
    let later = [("GLASSBOX_SIM_CLOCK", "1767225700+1")];
    assert_eq!(ok(&sim_env(&gb, &later, &["logs", "pub"])), "hello\n");
}

/// The default network's subnet is checked against the host's routes when
/// its bridge is made (the simulated host's uplink is 10.0.2.0/24), and an
/// unused default network follows a change of `default_subnet`: the old
/// bridge goes, a new one with the new gateway comes.
#[test]
fn the_default_subnet_must_not_hide_a_host_route_and_follows_the_config() {
    let gb = Gb::new();
    std::fs::create_dir_all(gb.sim_root()).unwrap();
    let config = |subnet: &str| {
        std::fs::write(
            gb.sim_root().join("config.toml"),
            format!("[network]\ndefault_subnet = \"{subnet}\"\n"),
        )
        .unwrap()
    };
    config("10.0.0.0/16");
    let err = fails(&sim(&gb, &["run", "--rm", "busybox", "true"]), 125);
    assert!(
        err.contains(
            "the default network's subnet 10.0.0.0/16 overlaps the host's route to 10.0.2.0/24"
        ) && err.contains("default_subnet under [network]"),
        "{err}"
    );
    // Refused before the bridge was made; --rm removed the container.
    assert!(stdout(&sim(&gb, &["ps", "-aq"])).trim().is_empty());
    assert!(
        !host_state(&gb).contains("glassbox0"),
        "{}",
        host_state(&gb)
    );

    config("10.77.0.0/24");
    ok(&sim(&gb, &["run", "--rm", "busybox", "true"]));
    assert!(host_state(&gb).contains("10.77.0.1"), "{}", host_state(&gb));
    config("10.78.0.0/24");
    let o = sim(
        &gb,
        &[
            "--explain=steps",
            "run",
            "--rm",
            "busybox",
            "ip",
            "-4",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o) + &stderr(&o);
    assert!(text.contains("inet 10.78.0."), "{text}");
    let removed = text
        .find("ip link del glassbox0")
        .expect("the old bridge's removal narrated");
    let made = text.find("10.78.0.1/24").expect("the new bridge narrated");
    assert!(removed < made, "{text}");
    let state = host_state(&gb);
    assert!(
        state.contains("10.78.0.1") && !state.contains("10.77.0.1"),
        "{state}"
    );
}

/// A UDP port published with `-p HOST:PORT/udp` answers from the simulated
/// host: glassbox's udp-echo in the image sends the datagram back (the
/// simulator knows the program by its bytes); nothing bound, no answer.
#[test]
fn a_published_udp_port_echoes_from_the_simulated_host() {
    let gb = Gb::new();
    let ctx = udp_echo_context(gb.root());
    ok(&sim(
        &gb,
        &["build", "-q", "-t", "udpecho", ctx.to_str().unwrap()],
    ));
    ok(&sim(
        &gb,
        &[
            "run",
            "-d",
            "--name",
            "udp",
            "-p",
            "127.0.0.1:5353:53/udp",
            "udpecho",
        ],
    ));
    assert_eq!(
        ok(&sim(&gb, &["port", "udp"])).trim(),
        "53/udp -> 127.0.0.1:5353"
    );
    let send = |port: u16| {
        glassbox::clock::use_simulated(Some(1_767_225_600_000 + 60_000), 0);
        reach::sim_host_datagram(
            &gb.sim_root(),
            "127.0.0.1".parse().unwrap(),
            port,
            b"ping-udp",
        )
        .unwrap()
    };
    assert_eq!(send(5353), Reply::Data(b"ping-udp".to_vec()));
    // A port nobody publishes finds no one; nor does the echo's once it is gone.
    assert_eq!(send(5354), Reply::Refused);
    ok(&sim(&gb, &["rm", "-f", "udp"]));
    assert_eq!(send(5353), Reply::Refused);
}
