//! Checks of `run`/`create` options before anything is made, with docker's
//! messages (exit 125): an environment variable needs a name, the working
//! directory must be absolute, the hostname must be an RFC 1123 name.

use super::RunOptions;
use crate::error::EXIT_ENGINE;
use anyhow::Result;

/// Refuse options docker refuses; nothing is created when this fails.
pub fn run_options(opts: &RunOptions) -> Result<()> {
    for e in &opts.env {
        env_var(e)?;
    }
    if let Some(w) = &opts.workdir {
        if !w.starts_with('/') {
            crate::exit_err!(
                EXIT_ENGINE,
                "the working directory '{w}' is invalid, it needs to be an absolute path"
            );
        }
    }
    if let Some(h) = &opts.hostname {
        if !h.is_empty() && !valid_hostname(h) {
            crate::exit_err!(EXIT_ENGINE, "invalid hostname format: {h}");
        }
    }
    Ok(())
}

/// `-e KEY=VALUE` (or `-e KEY`, taken from the caller's environment): the
/// key must not be empty (docker's `opts.ValidateEnv`).
fn env_var(e: &str) -> Result<()> {
    let key = e.split('=').next().unwrap_or("");
    if key.is_empty() {
        crate::exit_err!(
            EXIT_ENGINE,
            "invalid argument {e:?} for \"-e, --env\" flag: invalid environment variable: {e}"
        );
    }
    Ok(())
}

/// docker's check: at most 63 bytes, dot-separated labels of letters and
/// digits, with inner hyphens (RFC 1123).
pub fn valid_hostname(h: &str) -> bool {
    h.len() <= 63
        && h.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in [
            "a",
            "box",
            "web-1",
            "web-1.example.com",
            "1x",
            &"a".repeat(63),
        ] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in [
            "a/b c",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!valid_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!(env_var("A=1").is_ok() && env_var("A").is_ok() && env_var("A=").is_ok());
        let e = env_var("=x").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid argument \"=x\" for \"-e, --env\" flag: invalid environment variable: =x"
        );
        assert!(env_var("=").is_err() && env_var("").is_err());
    }
}
