//! glassbox's entry point: parse, dispatch, exit with docker's codes.

use clap::Parser;
use glassbox::cli::{main_with, Cli};
use glassbox::error::exit_code_of;

fn main() {
    let cli = Cli::parse();
    let code = match main_with(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("glassbox: {e:#}");
            exit_code_of(&e)
        }
    };
    std::process::exit(code);
}
