//! Where a learner is: the next section of each lesson (a part counts only
//! once its checks passed or the learner skipped it), the labs passed and the
//! hints seen,
//! saved under the user's state directory so `learn N` resumes.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    /// lesson id → sections done
    #[serde(default)]
    pub lessons: BTreeMap<String, usize>,
    /// lab id → passed
    #[serde(default)]
    pub labs: BTreeMap<String, bool>,
    /// lesson id → parts the learner skipped with `:skip` (1-based): passed
    /// over, not done.
    #[serde(default)]
    pub skipped: BTreeMap<String, Vec<usize>>,
    /// lab id → hints shown so far (`lab hint` shows the next one).
    #[serde(default)]
    pub hints: BTreeMap<String, usize>,
}

/// `$GLASSBOX_STATE_DIR`, else `$XDG_STATE_HOME/glassbox`, else `~/.local/state/glassbox`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GLASSBOX_STATE_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("glassbox")
}

impl Progress {
    fn path() -> PathBuf {
        state_dir().join("progress.toml")
    }
    pub fn load() -> Progress {
        std::fs::read_to_string(Self::path())
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default()
    }
    pub fn save(&self) -> Result<()> {
        crate::fsutil::atomic_write(&Self::path(), toml::to_string(self)?.as_bytes())
    }
}
