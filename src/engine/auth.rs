//! `login` and `logout`: registry credentials in `<root>/auth.json`.
//! Where the password comes from (a flag, stdin) is the CLI's business.

use anyhow::{bail, Result};
use std::path::Path;

/// The registry `login`/`logout` talk to when none is named.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// `docker login -u USER [SERVER]`: check the credentials against the
/// registry and store them.
/// `simulate`: check them against the simulated registry (no network).
pub fn login(
    root: &Path,
    server: Option<&str>,
    user: &str,
    password: &str,
    simulate: bool,
) -> Result<()> {
    let server = server.unwrap_or(DEFAULT_REGISTRY);
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    if !simulate {
        return crate::registry::push::login(root, server, user, password);
    }
    let registry = crate::registry::config::normalize_registry(server);
    crate::registry::sim::login(root, &registry, user, password).map_err(|e| {
        anyhow::Error::new(crate::error::ExitError::new(
            1,
            format!("Error: login attempt to {registry} failed: {e}"),
        ))
    })?;
    let mut auths = crate::registry::config::AuthFile::load(root)?;
    auths.set(&registry, user, password);
    auths.save(root)
}

/// What `logout` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedOut {
    /// The registry's normalised name (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Whether credentials for it were stored (and are now removed).
    pub removed: bool,
}

/// `docker logout [SERVER]`.
pub fn logout(root: &Path, server: Option<&str>) -> Result<LoggedOut> {
    let server = server.unwrap_or(DEFAULT_REGISTRY);
    let registry = crate::registry::config::normalize_registry(server);
    let removed = crate::registry::push::logout(root, server)?;
    Ok(LoggedOut { registry, removed })
}
