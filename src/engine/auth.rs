//! `login` and `logout`: registry credentials in `<root>/auth.json`.
//! Where the password comes from (a flag, stdin) is the CLI's business.

use anyhow::{bail, Result};
use std::path::Path;

/// The registry `login`/`logout` talk to when none is named.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// `docker login -u USER [SERVER]`: check the credentials against the
/// registry and store them.
pub fn login(root: &Path, server: Option<&str>, user: &str, password: &str) -> Result<()> {
    let server = server.unwrap_or(DEFAULT_REGISTRY);
    if password.is_empty() {
        bail!("password is empty");
    }
    crate::registry::push::login(root, server, user, password)
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
