//! `glassbox build`: the arguments, the context (a directory, `-` for a
//! Dockerfile or a tar on stdin), then `engine::build`.

use super::GlobalOptions;
use crate::build::context::Context;
use crate::engine::build::BuildOptions;
use crate::error::{ExitError, EXIT_ENGINE};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (NAME[:TAG]) for the image; may be repeated
    #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; - for standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set a build-time variable (K=V, or K to take glassbox's own value)
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// The build stage to stop at
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Print only the image id once built
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set a label on the image (K=V)
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Output: auto or classic (docker's classic builder lines), plain (BuildKit's plain lines)
    #[arg(long, default_value = "auto", value_parser = ["auto", "classic", "plain", "tty"])]
    pub progress: String,
    /// The build context: a directory, or - for a Dockerfile or a tar on standard input
    pub context: String,
}

pub fn run(g: &GlobalOptions, args: BuildArgs) -> Result<i32> {
    let root = g.root();
    std::fs::create_dir_all(&root).ok();
    let engine_err = |m: String| anyhow::Error::new(ExitError::new(EXIT_ENGINE, m));
    let read_stdin = || -> Result<Vec<u8>> {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("read standard input")?;
        Ok(b)
    };
    let (ctx, dockerfile) = if args.context == "-" {
        let input = read_stdin()?;
        if looks_like_tar(&input) {
            let dir = root.join(format!(".tmp-{}-build-context", std::process::id()));
            let ctx = Context::tar(&input[..], &dir)?;
            let name = args
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "Dockerfile".into());
            let text = ctx.read_optional(&name)?.ok_or_else(|| {
                engine_err(format!(
                    "the context tar holds no {name} (give its name with -f)"
                ))
            })?;
            (ctx, text)
        } else {
            (Context::none(), input)
        }
    } else {
        let ctx = Context::dir(std::path::Path::new(&args.context))?;
        let text = match &args.file {
            Some(f) if f.as_os_str() == "-" => read_stdin()?,
            Some(f) => std::fs::read(f).map_err(|e| {
                engine_err(format!(
                    "unable to read the Dockerfile {}: {e}",
                    f.display()
                ))
            })?,
            None => ctx.read_optional("Dockerfile")?.ok_or_else(|| {
                engine_err(format!(
                    "unable to prepare context: no Dockerfile in {} (give one with -f)",
                    args.context
                ))
            })?,
        };
        (ctx, text)
    };
    let text = String::from_utf8(dockerfile)
        .map_err(|_| engine_err("the Dockerfile is not UTF-8 text".into()))?;
    let opts = BuildOptions {
        tags: args.tags,
        build_args: args.build_args,
        target: args.target,
        no_cache: args.no_cache,
        quiet: args.quiet,
        labels: args.labels,
        plain: args.progress == "plain",
    };
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let mut out = std::io::stdout();
    crate::engine::build::build(
        &root,
        kernel.as_mut(),
        &mut narrator,
        &ctx,
        &text,
        &opts,
        &mut out,
    )?;
    Ok(0)
}

/// A tar (plain or gzip) rather than a Dockerfile's text.
fn looks_like_tar(b: &[u8]) -> bool {
    if b.len() >= 2 && b[0] == 0x1f && b[1] == 0x8b {
        return true;
    }
    b.len() >= 512 && crate::image::store::is_tar_header(&b[..512])
}

#[derive(Args, Debug)]
pub struct BuilderArgs {
    #[command(subcommand)]
    pub command: BuilderCommand,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `builder prune [-a] [-f]`: docker's question, then the cache entries
/// no running build holds (without -a, only the steps' own images: not a
/// build's result) and what only they kept in the store.
pub fn run_builder(g: &GlobalOptions, args: BuilderArgs) -> Result<i32> {
    let BuilderCommand::Prune(a) = args.command;
    let warning = if a.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !a.force && !super::system::confirm(warning)? {
        return Ok(0);
    }
    let (keys, freed) = crate::engine::build_cache::prune(&g.root(), a.all)?;
    print!("{}", prune_lines(&keys, freed, true));
    Ok(0)
}

/// docker's lines for pruned build cache (`total`: with the closing line).
pub fn prune_lines(keys: &[String], freed: u64, total: bool) -> String {
    let mut out = String::new();
    let ids: Vec<String> = keys
        .iter()
        .map(|k| k[..25.min(k.len())].to_string())
        .collect();
    super::lifecycle::push_deleted(&mut out, "build cache objects", &ids);
    if total {
        super::lifecycle::push_reclaimed(&mut out, freed);
    }
    out
}
