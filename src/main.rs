//! glassbox's entry point: parse, dispatch, exit with docker's codes.

use clap::Parser;
use glassbox::cli::{main_with, Cli};
use glassbox::error::{exit_code_of, localize};

fn main() {
    // Like other command-line tools, end quietly when the reader of our output
    // goes away (`glassbox ps | head -1`) instead of panicking on EPIPE.
    // SAFETY: setting a signal disposition before anything else runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and exit 0; a bad flag or value is a
        // usage error, which docker's CLI reports with exit code 125.
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            let _ = e.print();
            std::process::exit(glassbox::error::EXIT_ENGINE);
        }
    };
    let lang = cli.global.lang();
    let code = match main_with(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("glassbox: {}", localize(&format!("{e:#}"), lang));
            exit_code_of(&e)
        }
    };
    std::process::exit(code);
}
