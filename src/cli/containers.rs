//! Container commands: run, ps, rm.

use super::format::{ago, human_duration, seconds_since, Table};
use super::GlobalOptions;
use crate::container::{self, Container, Status};
use crate::engine::{self, Network, RunOptions};
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (-h is --hostname here, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass the host's value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Overwrite the image's default entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Network: none (own namespace, loopback only) or host
    #[arg(long = "network", alias = "net", default_value = "none")]
    pub network: String,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &GlobalOptions, args: RunArgs) -> Result<i32> {
    let network = match args.network.as_str() {
        "none" => Network::None,
        "host" => Network::Host,
        other => crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "network {other} not found: this glassbox supports --network none and --network host (bridge networks come later)"
        ),
    };
    let opts = RunOptions {
        image: args.image,
        command: args.command,
        name: args.name,
        hostname: args.hostname,
        env: args.env,
        workdir: args.workdir,
        entrypoint: args.entrypoint,
        interactive: args.interactive,
        tty: args.tty,
        rm: args.rm,
        network,
    };
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    engine::run(&g.root(), kernel.as_mut(), &mut narrator, &opts)
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

/// docker's STATUS column.
pub fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Running => format!(
            "Up {}",
            human_duration(seconds_since(
                c.state.started_at.as_deref().unwrap_or(&c.created)
            ))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(seconds_since(
                c.state.finished_at.as_deref().unwrap_or(&c.created)
            ))
        ),
        Status::Created => "Created".into(),
        other => {
            let s = other.as_str();
            format!("{}{}", s[..1].to_uppercase(), &s[1..])
        }
    }
}

/// docker's COMMAND column: quoted, cut at 20 characters with an ellipsis.
pub fn command_text(c: &Container, no_trunc: bool) -> String {
    let cmd = c.command.join(" ");
    if no_trunc || cmd.chars().count() <= 20 {
        format!("\"{cmd}\"")
    } else {
        format!("\"{}…\"", cmd.chars().take(19).collect::<String>())
    }
}

pub fn ps(g: &GlobalOptions, args: PsArgs) -> Result<()> {
    let all = container::list(&g.root())?;
    let shown: Vec<&Container> = all
        .iter()
        .filter(|c| args.all || c.state.status == Status::Running)
        .collect();
    if args.quiet {
        for c in shown {
            println!(
                "{}",
                if args.no_trunc {
                    c.id.as_str()
                } else {
                    c.short_id()
                }
            );
        }
        return Ok(());
    }
    let mut table = Table::new(&[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]);
    for c in shown {
        table.row(vec![
            if args.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            },
            c.image.clone(),
            command_text(c, args.no_trunc),
            ago(&c.created),
            status_text(c),
            String::new(),
            c.name.clone(),
        ]);
    }
    table.print();
    Ok(())
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Containers to remove (name or id)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn rm(g: &GlobalOptions, args: RmArgs) -> Result<i32> {
    let mut kernel = g.kernel()?;
    let mut narrator = g.narrator(kernel.as_ref())?;
    let mut status = 0;
    for key in &args.containers {
        match engine::remove(&g.root(), kernel.as_mut(), &mut narrator, key, args.force) {
            Ok(_) => println!("{key}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                status = 1;
            }
        }
    }
    Ok(status)
}
