//! `inspect`: a container's record in docker's JSON shape (a subset of
//! `docker inspect`'s fields, same names and nesting), or one line per
//! container through a `--format` Go template.

use super::template::Template;
use super::GlobalOptions;
use crate::container::{self, Container, Status};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// docker's zero time, shown for a time that has not happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StateJson {
    status: String,
    running: bool,
    paused: bool,
    restarting: bool,
    #[serde(rename = "OOMKilled")]
    oom_killed: bool,
    dead: bool,
    pid: i32,
    exit_code: i32,
    error: String,
    started_at: String,
    finished_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct HostConfigJson {
    binds: Option<Vec<String>>,
    auto_remove: bool,
    network_mode: String,
    restart_policy: RestartPolicyJson,
    #[serde(flatten)]
    resources: ResourcesJson,
}

/// docker's HostConfig resource fields (`resources::Resources`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourcesJson {
    cpu_shares: i64,
    memory: i64,
    nano_cpus: i64,
    blkio_weight: u16,
    cpu_period: i64,
    cpu_quota: i64,
    cpuset_cpus: String,
    cpuset_mems: String,
    memory_reservation: i64,
    memory_swap: i64,
    oom_kill_disable: bool,
    oom_score_adj: i32,
    /// null when unset, as docker shows it.
    pids_limit: Option<i64>,
    ulimits: Option<Vec<crate::resources::Ulimit>>,
}

impl ResourcesJson {
    fn of(r: &crate::resources::Resources) -> ResourcesJson {
        ResourcesJson {
            cpu_shares: r.cpu_shares,
            memory: r.memory,
            nano_cpus: r.nano_cpus,
            blkio_weight: r.blkio_weight,
            cpu_period: r.cpu_period,
            cpu_quota: r.cpu_quota,
            cpuset_cpus: r.cpuset_cpus.clone(),
            cpuset_mems: r.cpuset_mems.clone(),
            memory_reservation: r.memory_reservation,
            memory_swap: r.memory_swap,
            oom_kill_disable: r.oom_kill_disable,
            oom_score_adj: r.oom_score_adj,
            pids_limit: (r.pids_limit != 0).then_some(r.pids_limit),
            ulimits: (!r.ulimits.is_empty()).then(|| r.ulimits.clone()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RestartPolicyJson {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigJson {
    hostname: String,
    env: Vec<String>,
    cmd: Vec<String>,
    image: String,
    working_dir: String,
    tty: bool,
    open_stdin: bool,
    volumes: Option<serde_json::Map<String, Value>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GraphDataJson {
    lower_dir: String,
    merged_dir: String,
    upper_dir: String,
    work_dir: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GraphDriverJson {
    data: GraphDataJson,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettingsJson {
    #[serde(rename = "IPAddress")]
    ip_address: String,
    gateway: String,
    ip_prefix_len: u8,
    mac_address: String,
    /// docker's map: "80/tcp" → [{HostIp, HostPort}] (null when not published).
    ports: Value,
    networks: Value,
}

/// docker's NetworkSettings from the container's endpoint (empty when it
/// is not wired to a network now).
fn network_settings(root: &Path, c: &Container) -> NetworkSettingsJson {
    let nets = crate::network::read_all(root);
    let Some((net, e)) = crate::network::endpoint_in(&nets, &c.id) else {
        return NetworkSettingsJson {
            ip_address: String::new(),
            gateway: String::new(),
            ip_prefix_len: 0,
            mac_address: String::new(),
            ports: serde_json::json!({}),
            networks: serde_json::json!({}),
        };
    };
    let mut ports = serde_json::Map::new();
    for b in &e.ports {
        let key = format!("{}/{}", b.container_port, b.proto.as_str());
        let entry = ports.entry(key).or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(list) = entry {
            list.push(serde_json::json!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()}));
        }
    }
    let prefix = net.subnet().prefix;
    let mut networks = serde_json::Map::new();
    // Every network it is on (eth0 first, then `network connect`'s).
    for (n, e) in crate::network::endpoints_of(&nets, &c.id) {
        networks.insert(
            n.name.clone(),
            serde_json::json!({
                "Aliases": e.aliases,
                "NetworkID": n.id,
                "EndpointID": crate::fsutil::sha256_hex(format!("{}/{}", n.id, e.container).as_bytes()),
                "Gateway": n.gateway.to_string(),
                "IPAddress": e.ip.to_string(),
                "IPPrefixLen": n.subnet().prefix,
                "MacAddress": e.mac,
            }),
        );
    }
    NetworkSettingsJson {
        ip_address: e.ip.to_string(),
        gateway: net.gateway.to_string(),
        ip_prefix_len: prefix,
        mac_address: e.mac.clone(),
        ports: Value::Object(ports),
        networks: Value::Object(networks),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerJson {
    id: String,
    created: String,
    path: String,
    args: Vec<String>,
    state: StateJson,
    image: String,
    resolv_conf_path: String,
    hostname_path: String,
    hosts_path: String,
    log_path: String,
    name: String,
    restart_count: u32,
    driver: String,
    platform: String,
    host_config: HostConfigJson,
    graph_driver: GraphDriverJson,
    /// docker's Mounts: Type, Name, Source, Destination, Driver, Mode, RW, Propagation.
    mounts: Value,
    config: ConfigJson,
    network_settings: NetworkSettingsJson,
}

/// The overlay's lower dirs, top layer first (as docker lists them).
fn lower_dirs(root: &Path, c: &Container) -> String {
    let Ok(store) = crate::image::Store::open(root) else {
        return String::new();
    };
    let Ok(Some(image)) = store.image_for_container(&c.image_id) else {
        return String::new();
    };
    image
        .layers
        .iter()
        .rev()
        .map(|l| {
            root.join("layers")
                .join(l.chain_id.trim_start_matches("sha256:"))
                .join("diff")
                .display()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// A container as `docker inspect` shows it.
pub fn container_json(root: &Path, c: &Container) -> Value {
    let dir = c.dir(root);
    let path_of = |name: &str| dir.join(name).display().to_string();
    let running = c.is_running();
    let status = if c.state.status == Status::Running && !running {
        Status::Exited
    } else if running && c.state.paused {
        Status::Paused
    } else {
        c.state.status
    };
    let log = c.log_path(root);
    let j = ContainerJson {
        id: c.id.clone(),
        created: c.created.clone(),
        path: c.command.first().cloned().unwrap_or_default(),
        args: c.command.iter().skip(1).cloned().collect(),
        state: StateJson {
            status: status.as_str().into(),
            // docker: a paused container is still running.
            running,
            paused: status == Status::Paused,
            restarting: status == Status::Restarting,
            oom_killed: c.state.oom_killed,
            dead: status == Status::Dead,
            pid: if running { c.state.pid } else { 0 },
            exit_code: c.state.exit_code.unwrap_or(0),
            error: c.state.error.clone().unwrap_or_default(),
            started_at: c
                .state
                .started_at
                .clone()
                .unwrap_or_else(|| ZERO_TIME.into()),
            finished_at: c
                .state
                .finished_at
                .clone()
                .unwrap_or_else(|| ZERO_TIME.into()),
        },
        image: c.image_id.clone(),
        resolv_conf_path: path_of("resolv.conf"),
        hostname_path: path_of("hostname"),
        hosts_path: path_of("hosts"),
        log_path: if log.exists() {
            log.display().to_string()
        } else {
            String::new()
        },
        name: format!("/{}", c.name),
        restart_count: c.state.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        host_config: HostConfigJson {
            binds: (!c.config.binds.is_empty()).then(|| c.config.binds.clone()),
            auto_remove: c.config.auto_remove,
            network_mode: c.config.network.clone(),
            restart_policy: {
                let (name, count) = crate::engine::RestartPolicy::parse(&c.config.restart_policy)
                    .unwrap_or(crate::engine::RestartPolicy::No)
                    .name_and_count();
                RestartPolicyJson {
                    name: name.into(),
                    maximum_retry_count: count,
                }
            },
            resources: ResourcesJson::of(&c.config.resources),
        },
        graph_driver: GraphDriverJson {
            data: GraphDataJson {
                lower_dir: lower_dirs(root, c),
                merged_dir: path_of("merged"),
                upper_dir: path_of("upper"),
                work_dir: path_of("work"),
            },
            name: "overlay2".into(),
        },
        mounts: crate::engine::volumes::mounts_json(root, c),
        config: ConfigJson {
            hostname: c.config.hostname.clone(),
            env: c.config.env.clone(),
            cmd: c.command.clone(),
            image: c.image.clone(),
            working_dir: c.config.working_dir.clone(),
            tty: c.config.tty,
            open_stdin: c.config.interactive,
            volumes: (!c.config.volumes.is_empty()).then(|| {
                c.config
                    .volumes
                    .iter()
                    .map(|v| (v.clone(), serde_json::json!({})))
                    .collect()
            }),
        },
        network_settings: network_settings(root, c),
    };
    serde_json::to_value(j).unwrap_or(Value::Null)
}

/// JSON as docker prints it: four-space indents.
pub fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let _ = v.serialize(&mut ser);
    String::from_utf8(out).unwrap_or_default()
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output using the given Go template (e.g. '{{.State.ExitCode}}', '{{json .Config}}')
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only "container" is supported
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Containers (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn inspect(g: &GlobalOptions, args: InspectArgs) -> Result<i32> {
    if let Some(kind) = &args.kind {
        if kind != "container" {
            crate::exit_err!(
                1,
                "inspect --type {kind}: only containers can be inspected here"
            );
        }
    }
    let template = match &args.format {
        Some(f) => Some(Template::parse(f)?),
        None => None,
    };
    let root = g.root();
    let mut values = Vec::new();
    let mut status = 0;
    for key in &args.containers {
        match container::find(&root, key) {
            Ok(c) => values.push(container_json(&root, &c)),
            Err(_) => {
                eprintln!("Error: No such object: {key}");
                status = 1;
            }
        }
    }
    match template {
        Some(t) => {
            for v in &values {
                println!("{}", t.render(v)?);
            }
        }
        None => println!("{}", pretty(&Value::Array(values))),
    }
    Ok(status)
}
