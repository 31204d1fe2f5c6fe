//! Asking the user for a line (`login`'s user name) or a secret (its
//! password, read with the terminal's echo off, as docker and sudo do).
//! Without a terminal both read one line of standard input, as podman does,
//! so scripts and unattended lessons can answer.

use anyhow::{Context, Result};
use nix::sys::termios::{self, LocalFlags, SetArg};
use std::io::{BufRead, IsTerminal, Write};

/// Print `prompt` on stderr and read one line of stdin (without its newline).
pub fn line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let answer = read_line()?;
    // On a terminal the typed Enter ended the prompt's line; from a pipe
    // nothing did, and the next message would follow on the same line.
    if !std::io::stdin().is_terminal() {
        eprintln!();
    }
    Ok(answer)
}

fn read_line() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut s)
        .context("read standard input")?;
    // At the end of input nothing was typed: an empty answer, which login
    // refuses in docker's words ("Password Required").
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Like [`line`], but on a terminal what is typed is not shown: ECHO is
/// turned off (tcsetattr) for the read and restored after it, also on error.
pub fn hidden(prompt: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return line(prompt);
    }
    let saved = termios::tcgetattr(&stdin).context("read the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    // Enter still ends the line: keep ECHONL so the cursor moves on.
    quiet.local_flags.insert(LocalFlags::ECHONL);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turn the echo off")?;
    let read = read_line();
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved).context("turn the echo back on")?;
    read
}
