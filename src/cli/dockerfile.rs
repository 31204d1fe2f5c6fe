//! `glassbox dockerfile parse FILE`: a Dockerfile read as BuildKit reads
//! it, printed in BuildKit's AST dump format (`src/build`).

use crate::build::{instructions, parser};
use crate::error::{ExitError, EXIT_ENGINE};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DockerfileArgs {
    #[command(subcommand)]
    pub command: DockerfileCommand,
}

#[derive(Subcommand, Debug)]
pub enum DockerfileCommand {
    /// Parse a Dockerfile and print BuildKit's AST dump, one (instruction "arg" ...) per line
    #[command(
        after_help = "Examples:\n  glassbox dockerfile parse Dockerfile\n  glassbox dockerfile parse --check - < Dockerfile"
    )]
    Parse(ParseArgs),
}

#[derive(Args, Debug)]
pub struct ParseArgs {
    /// Also check every instruction as a build would (flags, argument counts, stages)
    #[arg(long)]
    pub check: bool,
    /// The Dockerfile, or - for standard input
    pub file: PathBuf,
}

pub fn run(args: DockerfileArgs) -> Result<i32> {
    match args.command {
        DockerfileCommand::Parse(a) => parse(a),
    }
}

fn parse(args: ParseArgs) -> Result<i32> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("read the Dockerfile from stdin")?;
        b
    } else {
        std::fs::read(&args.file).map_err(|e| {
            ExitError::new(
                EXIT_ENGINE,
                format!("cannot read {}: {e}", args.file.display()),
            )
        })?
    };
    let text = String::from_utf8_lossy(&bytes);
    let fail = |e: crate::build::ParseError| ExitError::new(EXIT_ENGINE, e.to_string());
    let ast = parser::parse(&text).map_err(fail)?;
    if args.check {
        instructions::from_ast(&ast).map_err(fail)?;
    }
    // BuildKit's PrintWarnings.
    for w in &ast.warnings {
        eprintln!("[WARNING]: {} (line {})", w.message, w.line);
    }
    if !ast.warnings.is_empty() {
        eprintln!("[WARNING]: Empty continuation lines will become errors in a future release.");
    }
    print!("{}", ast.dump());
    Ok(0)
}
