//! `network create|ls|inspect|rm|prune`: docker's network verbs over
//! `engine::network`, printed as docker prints them.

use super::format::Table;
use super::template::Template;
use super::GlobalOptions;
use crate::engine::network as engine;
use crate::network::NetworkRecord;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::Write;

#[derive(Args, Debug)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a bridge network
    #[command(
        after_help = "Examples:\n  glassbox network create testnet\n  glassbox network create --subnet 10.124.5.0/24 --gateway 10.124.5.254 labnet"
    )]
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks' details as JSON, or draw them (--diagram)
    #[command(
        after_help = "Examples:\n  glassbox network inspect testnet\n  glassbox network inspect --diagram\n  glassbox network inspect --diagram bridge testnet"
    )]
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove every network no container uses
    Prune(PruneArgs),
    /// Connect a container to a network
    #[command(
        after_help = "Examples:\n  glassbox network connect testnet web\n  glassbox network connect --ip 10.123.7.50 --alias db testnet web"
    )]
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// IPv4 address on the network (user-defined networks only)
    #[arg(long)]
    pub ip: Option<String>,
    /// Add a network-scoped alias for the container
    #[arg(long = "alias")]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network (even if it is gone)
    #[arg(short = 'f', long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the network (bridge only)
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR form (default: a free /24 from 10.123.0.0/16)
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway for the subnet (default: its first address)
    #[arg(long)]
    pub gateway: Option<String>,
    /// Restrict external access to the network (no masquerade, nothing in or out)
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on the network (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter: name=, id=, driver=, label=KEY[=VALUE], type=builtin|custom
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format output with a Go template ({{.ID}} {{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Subnet}})
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output with a Go template
    #[arg(short = 'f', long, conflicts_with = "diagram")]
    pub format: Option<String>,
    /// Draw the host, the bridges, the veth pairs and the containers on them
    /// (every network when none is named)
    #[arg(long)]
    pub diagram: bool,
    /// With --diagram: plain ASCII lines instead of box drawing (the default
    /// when the locale's character set is not UTF-8)
    #[arg(long, requires = "diagram")]
    pub ascii: bool,
    #[arg(required_unless_present = "diagram")]
    pub networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn network(g: &GlobalOptions, args: NetworkArgs) -> Result<i32> {
    let root = g.root();
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    match args.command {
        NetworkCommand::Create(a) => {
            let net = engine::create(
                &root,
                kernel.as_mut(),
                &mut narrator,
                &engine::CreateOptions {
                    name: a.name,
                    driver: a.driver,
                    subnet: a.subnet,
                    gateway: a.gateway,
                    internal: a.internal,
                    labels: a.label,
                },
            )?;
            println!("{}", net.id);
            Ok(0)
        }
        NetworkCommand::Ls(a) => {
            let nets = engine::list(&root, kernel.as_mut(), &mut narrator)?;
            let shown: Vec<&NetworkRecord> = nets
                .iter()
                .filter(|n| a.filter.iter().all(|f| matches(n, f)))
                .collect();
            for f in &a.filter {
                let key = f.split_once('=').map_or(f.as_str(), |x| x.0);
                if !["name", "id", "driver", "label", "type", "scope"].contains(&key) {
                    crate::exit_err!(
                        crate::error::EXIT_ENGINE,
                        "invalid filter '{key}' (use name=, id=, driver=, label=, type=, scope=)"
                    );
                }
            }
            let id = |n: &NetworkRecord| {
                if a.no_trunc {
                    n.id.clone()
                } else {
                    n.id[..12].to_string()
                }
            };
            let mut out = String::new();
            if a.quiet {
                for n in &shown {
                    out.push_str(&id(n));
                    out.push('\n');
                }
            } else if let Some(f) = a.format.as_deref().filter(|f| *f != "table") {
                let t = Template::parse(f.strip_prefix("table").unwrap_or(f).trim_start())?;
                for n in &shown {
                    let fields = json!({
                        "ID": id(n), "Name": n.name, "Driver": n.driver, "Scope": "local",
                        "Internal": n.internal, "IPv6": false, "Subnet": n.subnet,
                        "CreatedAt": n.created,
                        "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    });
                    out.push_str(&t.render(&fields)?);
                    out.push('\n');
                }
            } else {
                let mut table = Table::new(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
                for n in &shown {
                    table.row(vec![
                        id(n),
                        n.name.clone(),
                        n.driver.clone(),
                        "local".into(),
                    ]);
                }
                out = table.render();
            }
            let _ = std::io::stdout().write_all(out.as_bytes());
            Ok(0)
        }
        NetworkCommand::Inspect(a) => {
            // Settled first (a simulated container that ended is no longer
            // running), so the collection below frees its endpoints.
            let containers = if a.diagram {
                crate::container::list(&root)?
            } else {
                Vec::new()
            };
            let nets = engine::list(&root, kernel.as_mut(), &mut narrator)?;
            let mut found = Vec::new();
            let mut status = 0;
            for key in &a.networks {
                match nets
                    .iter()
                    .find(|n| n.name == *key || n.id == *key)
                    .or_else(|| {
                        let p: Vec<_> = nets
                            .iter()
                            .filter(|n| n.id.starts_with(key.as_str()))
                            .collect();
                        (p.len() == 1).then(|| p[0])
                    }) {
                    Some(n) => found.push(n),
                    None => {
                        eprintln!("Error: network {key} not found");
                        status = 1;
                    }
                }
            }
            if a.diagram {
                if !a.networks.is_empty() && found.is_empty() {
                    return Ok(status);
                }
                let shown: Vec<NetworkRecord> = if a.networks.is_empty() {
                    nets.clone()
                } else {
                    found.iter().map(|n| (*n).clone()).collect()
                };
                let picture = crate::network::diagram::gather(
                    kernel.as_mut(),
                    &shown,
                    &containers,
                    &engine::nft_table(&root),
                    a.networks.is_empty(),
                );
                let charset = if a.ascii {
                    crate::network::diagram::Charset::Ascii
                } else {
                    crate::network::diagram::Charset::from_locale()
                };
                print!(
                    "{}",
                    crate::network::diagram::render(&picture, g.lang(), charset)
                );
                return Ok(status);
            }
            let found: Vec<Value> = found.into_iter().map(inspect_json).collect();
            match a.format {
                Some(f) => {
                    let t = Template::parse(&f)?;
                    for v in &found {
                        println!("{}", t.render(v)?);
                    }
                }
                None => println!("{}", serde_json::to_string_pretty(&Value::Array(found))?),
            }
            Ok(status)
        }
        NetworkCommand::Rm(a) => {
            let mut status = 0;
            for key in &a.networks {
                match engine::remove(&root, kernel.as_mut(), &mut narrator, key) {
                    Ok(_) => println!("{key}"),
                    Err(e) => {
                        eprintln!("Error: {e:#}");
                        status = 1;
                    }
                }
            }
            Ok(status)
        }
        NetworkCommand::Connect(a) => {
            let ip =
                a.ip.as_deref()
                    .map(|ip| {
                        ip.parse().map_err(|_| {
                            anyhow::Error::new(crate::error::ExitError::new(
                                crate::error::EXIT_ENGINE,
                                format!("invalid IPv4 address: {ip}"),
                            ))
                        })
                    })
                    .transpose()?;
            engine::connect_container(
                &root,
                kernel.as_mut(),
                &mut narrator,
                &a.network,
                &a.container,
                ip,
                a.alias,
            )?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            engine::disconnect_container(
                &root,
                kernel.as_mut(),
                &mut narrator,
                &a.network,
                &a.container,
                a.force,
            )?;
            Ok(0)
        }
        NetworkCommand::Prune(a) => {
            if !a.force {
                eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !answer.trim().eq_ignore_ascii_case("y") {
                    return Ok(0);
                }
            }
            let removed = engine::prune(&root, kernel.as_mut(), &mut narrator)?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
            Ok(0)
        }
    }
}

fn matches(n: &NetworkRecord, filter: &str) -> bool {
    let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
    match key {
        "name" => n.name.contains(value),
        "id" => n.id.starts_with(value),
        "driver" => n.driver == value,
        "scope" => value == "local",
        "type" => match value {
            "builtin" => n.name == crate::network::DEFAULT_NETWORK,
            "custom" => n.name != crate::network::DEFAULT_NETWORK,
            _ => false,
        },
        "label" => match value.split_once('=') {
            Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
            None => n.labels.contains_key(value),
        },
        _ => false,
    }
}

/// docker's `network inspect` object.
pub fn inspect_json(n: &NetworkRecord) -> Value {
    let containers: serde_json::Map<String, Value> = n
        .endpoints
        .values()
        .map(|e| {
            (
                e.container.clone(),
                json!({
                    "Name": e.name,
                    "EndpointID": crate::fsutil::sha256_hex(format!("{}/{}", n.id, e.container).as_bytes()),
                    "MacAddress": e.mac,
                    "IPv4Address": format!("{}/{}", e.ip, n.subnet().prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": n.subnet, "Gateway": n.gateway.to_string()}],
        },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": n.labels,
    })
}
