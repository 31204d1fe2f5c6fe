//! `glassbox system df [-v] [--format]`: disk usage laid out as docker's.
//! What is counted, and how, is `engine::disk`; the Build Cache is the
//! builder's (`engine::build_cache`).

use super::format::{format_table, human_size};
use super::GlobalOptions;
use crate::engine::disk::{self, Totals, Usage};
use crate::image::Reference;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::Path;

#[derive(Args, Debug)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage (images, containers, volumes, build cache)
    Df(DfArgs),
    /// Show system-wide information (as `glassbox info`)
    Info,
    /// Remove stopped containers, unused images and store garbage
    Prune(super::system::PruneArgs),
    /// Remove every container, image and cached file: the store starts afresh
    /// (with --simulate: the simulated world, its processes and clock too)
    Reset(super::system::ResetArgs),
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a Go template (subset), 'table ...' or 'json'
    #[arg(long)]
    pub format: Option<String>,
}

pub fn run_system(g: &GlobalOptions, a: SystemArgs) -> Result<i32> {
    match a.command {
        SystemCommand::Df(x) => {
            print!("{}", df(&g.root(), x.verbose, x.format.as_deref())?);
            Ok(0)
        }
        SystemCommand::Info => super::system::info(g).map(|_| 0),
        SystemCommand::Prune(x) => super::system::prune(g, x),
        SystemCommand::Reset(x) => super::system::reset(g, x),
    }
}

fn reclaimable(reclaim: u64, total: u64) -> String {
    match (reclaim * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", human_size(reclaim)),
        None => human_size(reclaim),
    }
}

/// The four summary rows as docker's formatter fields.
fn summary_rows(u: &Usage) -> Vec<serde_json::Value> {
    let row = |t: &str, total: usize, act: usize, size: u64, rec: String| {
        json!({
            "Type": t,
            "TotalCount": total.to_string(),
            "Active": act.to_string(),
            "Size": human_size(size),
            "Reclaimable": rec,
        })
    };
    let totals = |t: &str, n: Totals| {
        row(
            t,
            n.count,
            n.active,
            n.size,
            reclaimable(n.reclaimable, n.size),
        )
    };
    vec![
        totals("Images", u.image_totals()),
        totals("Containers", u.container_totals()),
        totals("Local Volumes", u.volume_totals()),
        {
            // docker shows the build cache's reclaimable bytes without a share.
            let n = u.build_cache_totals();
            row(
                "Build Cache",
                n.count,
                n.active,
                n.size,
                human_size(n.reclaimable),
            )
        },
    ]
}

fn header(k: &str) -> String {
    match k {
        "Type" => "TYPE",
        "TotalCount" => "TOTAL",
        "Active" => "ACTIVE",
        "Size" => "SIZE",
        "Reclaimable" => "RECLAIMABLE",
        other => return other.to_uppercase(),
    }
    .to_string()
}

/// `system df`'s output.
pub fn df(root: &Path, verbose: bool, format: Option<&str>) -> Result<String> {
    let u = disk::usage(root)?;
    if verbose {
        return Ok(verbose_tables(root, &u));
    }
    let rows = summary_rows(&u);
    let format = format
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "table");
    let Some(format) = format else {
        let mut t = vec![["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec()];
        for r in &rows {
            t.push(
                ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
                    .iter()
                    .map(|k| r[*k].as_str().unwrap_or("").to_string())
                    .collect(),
            );
        }
        return Ok(format_table(&t));
    };
    if format == "raw" {
        let mut out = String::new();
        for r in &rows {
            out.push_str(&format!(
                "type: {}\ntotal: {}\nactive: {}\nsize: {}\nreclaimable: {}\n\n",
                r["Type"].as_str().unwrap_or(""),
                r["TotalCount"].as_str().unwrap_or(""),
                r["Active"].as_str().unwrap_or(""),
                r["Size"].as_str().unwrap_or(""),
                r["Reclaimable"].as_str().unwrap_or(""),
            ));
        }
        return Ok(out);
    }
    super::images::template::render_rows(format, &rows, header)
}

/// `system df -v`: one table per type, as docker's verbose layout.
fn verbose_tables(root: &Path, u: &Usage) -> String {
    // How many images use each layer: a layer used by two is "shared".
    let users = u.layer_users();
    let mut out = String::from("Images space usage:\n\n");
    let mut t = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]
    .map(String::from)
    .to_vec()];
    for i in &u.images {
        // docker shows the first tag (a digest-only name is no tag)
        let (repo, tag) = i
            .img
            .references
            .iter()
            .filter_map(|r| Reference::parse(r).ok())
            .find_map(|r| Some((r.familiar_repo(), r.tag.clone()?)))
            .unwrap_or_else(|| ("<none>".into(), "<none>".into()));
        let size: u64 = i.layers.iter().map(|(_, s)| s).sum();
        let shared: u64 = i
            .layers
            .iter()
            .filter(|(c, _)| users.get(c.as_str()).copied().unwrap_or(0) > 1)
            .map(|(_, s)| s)
            .sum();
        let created = i
            .img
            .config
            .created()
            .as_deref()
            .map(super::format::ago)
            .unwrap_or_else(|| "N/A".into());
        t.push(vec![
            repo,
            tag,
            i.img.short_id().to_string(),
            created,
            human_size(size),
            human_size(shared),
            human_size(size - shared),
            i.containers.to_string(),
        ]);
    }
    out.push_str(&format_table(&t));
    out.push_str("\nContainers space usage:\n\n");
    let mut t = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    for (c, size) in &u.containers {
        t.push(vec![
            c.short_id().to_string(),
            c.image.clone(),
            super::containers::command_text(c, false),
            c.config
                .mounts
                .iter()
                .filter(|m| m.kind == crate::volume::MountKind::Volume)
                .count()
                .to_string(),
            human_size(*size),
            super::format::ago(&c.created),
            super::containers::status_text(c),
            c.name.clone(),
        ]);
    }
    out.push_str(&format_table(&t));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut t = vec![["VOLUME NAME", "LINKS", "SIZE"].map(String::from).to_vec()];
    for (name, links, size) in &u.volumes {
        t.push(vec![name.clone(), links.to_string(), human_size(*size)]);
    }
    out.push_str(&format_table(&t));
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size(u.build_cache_totals().size)
    ));
    let mut t = vec![[
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ]
    .map(String::from)
    .to_vec()];
    for e in &u.build_cache {
        let when = super::format::ago(&e.created);
        t.push(vec![
            e.key[..25].to_string(),
            "regular".into(),
            human_size(e.size),
            when.clone(),
            when,
            "1".into(),
            e.shared.to_string(),
        ]);
    }
    out.push_str(&format_table(&t));
    let _ = root;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty root gives docker's empty layout (the conformance goldens).
    #[test]
    fn empty_root_matches_dockers_goldens() {
        let t = tempfile::tempdir().unwrap();
        let golden = |name: &str| {
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../shared/conformance/docker-cli/formatter")
                    .join(name),
            )
            .ok()
        };
        let raw = df(t.path(), false, Some("raw")).unwrap();
        if let Some(g) = golden("disk-usage-raw-format.golden") {
            assert_eq!(raw, g);
        }
        let custom = df(t.path(), false, Some("table {{.Type}}\t{{.Active}}")).unwrap();
        if let Some(g) = golden("disk-usage-context-write-custom.golden") {
            assert_eq!(custom, g);
        }
        assert_eq!(
            df(t.path(), false, None).unwrap(),
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          0         0         0B        0B\n\
             Containers      0         0         0B        0B\n\
             Local Volumes   0         0         0B        0B\n\
             Build Cache     0         0         0B        0B\n"
        );
    }
}
