//! nftables through the `nft` program: glassbox writes plain nft scripts
//! (the very text the narration shows, so pasting it does the same) and
//! feeds them to `nft -f -`, which checks and commits each script as one
//! transaction. It only ever names glassbox's own table.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::process::{Command, Stdio};

/// Apply a script atomically (`nft -f -`).
pub fn apply(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("run nft (install the nftables package)")?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .context("write the nft script")?;
    let out = child.wait_with_output().context("wait for nft")?;
    if !out.status.success() {
        bail!(
            "nft refused the script: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `nft -j -a list table ip TABLE` as JSON, or None when there is no such table.
pub fn list_table(table: &str) -> Result<Option<serde_json::Value>> {
    let out = Command::new("nft")
        .args(["-j", "-a", "list", "table", "ip", table])
        .stdin(Stdio::null())
        .output()
        .context("run nft (install the nftables package)")?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(
        serde_json::from_slice(&out.stdout).context("parse nft's JSON listing")?,
    ))
}

/// The rules of the table whose comment is `comment`: (chain, handle).
pub fn rules_with_comment(listing: &serde_json::Value, comment: &str) -> Vec<(String, u64)> {
    listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let rule = item.get("rule")?;
            (rule.get("comment")?.as_str()? == comment).then(|| {
                (
                    rule["chain"].as_str().unwrap_or_default().to_string(),
                    rule["handle"].as_u64().unwrap_or_default(),
                )
            })
        })
        .collect()
}

/// Whether the table's named set holds `element`.
/// Whether a set of the listing has any element.
pub fn set_is_empty(listing: &serde_json::Value, set: &str) -> bool {
    !listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("set"))
        .filter(|s| s["name"] == set)
        .any(|s| s["elem"].as_array().is_some_and(|e| !e.is_empty()))
}

pub fn set_has(listing: &serde_json::Value, set: &str, element: &str) -> bool {
    listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("set"))
        .filter(|s| s["name"] == set)
        .any(|s| {
            s["elem"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x.as_str() == Some(element)))
        })
}
