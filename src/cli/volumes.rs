//! `glassbox volume create|ls|inspect|rm|prune`, printed as docker does.
//! The work is `engine::volumes`.

use super::format::{format_table, human_size};
use super::GlobalOptions;
use crate::engine::volumes::{self, Removed};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given)
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes (refused while a container uses them)
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (all unused ones with --all)
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long = "label", value_name = "LABEL")]
    pub label: Vec<String>,
    /// Volume driver name (only "local")
    #[arg(short = 'd', long = "driver", default_value = "local")]
    pub driver: String,
    /// The volume's name
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter: dangling=true|false, name=NAME, label=KEY[=VALUE], driver=local
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format output using a Go template (subset), 'table ...' or 'json'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go template (subset)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not fail when a volume does not exist (a volume in use is still refused)
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn run_volume(g: &GlobalOptions, a: VolumeArgs) -> Result<i32> {
    let root = g.root();
    match a.command {
        VolumeCommand::Create(x) => {
            if x.driver != "local" {
                crate::exit_err!(
                    crate::error::EXIT_ENGINE,
                    "error looking up volume plugin {}: glassbox has only the local driver",
                    x.driver
                );
            }
            let mut labels = BTreeMap::new();
            for l in &x.label {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                labels.insert(k.to_string(), v.to_string());
            }
            let name = x.name.unwrap_or_else(crate::volume::spec::anonymous_name);
            let kernel = g.kernel()?;
            let mut narrator = g.narrator(kernel.as_ref())?;
            volumes::create_volume(&root, &mut narrator, &name, &labels, false)?;
            println!("{name}");
            Ok(0)
        }
        VolumeCommand::Ls(x) => ls(&root, x),
        VolumeCommand::Inspect(x) => inspect(&root, x),
        VolumeCommand::Rm(x) => {
            let kernel = g.kernel()?;
            let mut narrator = g.narrator(kernel.as_ref())?;
            let mut status = 0;
            for name in &x.volumes {
                if x.force && crate::volume::store::get(&root, name).is_none() {
                    continue;
                }
                match volumes::remove(&root, &mut narrator, name) {
                    Ok(Removed::Removed) => println!("{name}"),
                    Ok(Removed::InUse(ids)) => {
                        eprintln!(
                            "Error: remove {name}: volume is in use - [{}]",
                            ids.join(", ")
                        );
                        status = 1;
                    }
                    Err(e) => {
                        eprintln!("Error: {e:#}");
                        status = 1;
                    }
                }
            }
            Ok(status)
        }
        VolumeCommand::Prune(x) => {
            if !x.force {
                let what = if x.all {
                    "WARNING! This will remove all local volumes not used by at least one container."
                } else {
                    "WARNING! This will remove anonymous local volumes not used by at least one container."
                };
                if !super::system::confirm(what)? {
                    return Ok(0);
                }
            }
            let kernel = g.kernel()?;
            let mut narrator = g.narrator(kernel.as_ref())?;
            let removed = volumes::prune(&root, &mut narrator, x.all)?;
            print!("{}", prune_report(&removed));
            Ok(0)
        }
    }
}

/// docker's prune output: the names, then the space reclaimed.
pub fn prune_report(removed: &[(String, u64)]) -> String {
    let mut out = String::new();
    if !removed.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for (n, _) in removed {
            out.push_str(&format!("{n}\n"));
        }
        out.push('\n');
    }
    let total: u64 = removed.iter().map(|(_, s)| s).sum();
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(total)));
    out
}

fn matches(filter: &str, v: &crate::volume::Volume, users: &[String]) -> Result<bool> {
    let (k, val) = filter.split_once('=').unwrap_or((filter, ""));
    Ok(match k {
        "dangling" => match val {
            "true" | "1" => users.is_empty(),
            "false" | "0" => !users.is_empty(),
            _ => crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "invalid filter 'dangling={val}': use true or false"
            ),
        },
        "name" => v.name.contains(val),
        "driver" => val == "local",
        "label" => {
            let (lk, lv) = val
                .split_once('=')
                .map_or((val, None), |(a, b)| (a, Some(b)));
            v.meta
                .labels
                .get(lk)
                .is_some_and(|x| lv.is_none_or(|lv| lv == x))
        }
        _ => crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "invalid filter '{k}' (glassbox knows dangling, name, label, driver)"
        ),
    })
}

fn ls(root: &std::path::Path, x: LsArgs) -> Result<i32> {
    let mut rows = Vec::new();
    for (v, users) in volumes::list(root)? {
        let mut keep = true;
        for f in &x.filter {
            keep &= matches(f, &v, &users)?;
        }
        if keep {
            rows.push(v);
        }
    }
    if x.quiet {
        for v in &rows {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|v| {
            json!({
                "Driver": "local",
                "Name": v.name,
                "Mountpoint": v.mountpoint.display().to_string(),
                "Scope": "local",
                "Labels": v.meta.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "CreatedAt": v.meta.created_at,
            })
        })
        .collect();
    match x
        .format
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "table")
    {
        None => {
            let mut t = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
            for v in &rows {
                t.push(vec!["local".into(), v.name.clone()]);
            }
            print!("{}", format_table(&t));
        }
        Some(f) => {
            let header = |k: &str| match k {
                "Name" => "VOLUME NAME".to_string(),
                other => other.to_uppercase(),
            };
            let f = if f
                .trim_start()
                .strip_prefix("table")
                .is_some_and(|r| r.trim().is_empty())
            {
                "table {{.Driver}}\t{{.Name}}"
            } else {
                f
            };
            print!(
                "{}",
                super::images::template::render_rows(f, &values, header)?
            );
        }
    }
    Ok(0)
}

fn inspect(root: &std::path::Path, x: InspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut status = 0;
    for name in &x.volumes {
        match crate::volume::store::get(root, name) {
            Some(v) => out.push(volumes::inspect_json(&v)),
            None => {
                eprintln!("Error: No such volume: {name}");
                status = 1;
            }
        }
    }
    match &x.format {
        Some(f) => {
            for v in &out {
                println!("{}", super::images::template::render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(out))?),
    }
    Ok(status)
}
