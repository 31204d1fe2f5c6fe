//! `docker search TERM`: Docker Hub has a search API (`/v1/search`); a
//! registry run with `distribution` has none, so glassbox falls back to its
//! catalog (`GET /v2/_catalog`, following `Link: <...>; rel="next"` pages)
//! and keeps the repositories whose name contains the term. Such registries
//! know no descriptions or stars: those columns stay empty and 0.
//!
//! `search 127.0.0.1:5000/busy` searches that registry; a bare term searches
//! the first `registry_mirrors` entry, else Docker Hub.

use super::client::{Body, Client, RegistryError};
use super::config::{AuthFile, RegistryConfig};
use crate::error::ExitError;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub star_count: u64,
    pub is_official: bool,
    pub is_automated: bool,
}

/// Where to search and for what: (base URL, registry, query, names are on a docker.io mirror).
struct Target {
    base: String,
    registry: String,
    query: String,
    hub: bool,
}

fn daemon_error(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(1, format!("Error: {msg}")))
}

/// Does `first` (the part before the first `/`) name a registry host?
fn is_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn target(cfg: &RegistryConfig, term: &str) -> Target {
    if let Some((first, rest)) = term.split_once('/') {
        if is_host(first) && first != "docker.io" && first != "index.docker.io" {
            return Target {
                base: format!("{}://{first}", cfg.scheme_for(first)),
                registry: first.to_string(),
                query: rest.to_string(),
                hub: false,
            };
        }
    }
    let query = term
        .strip_prefix("docker.io/")
        .or_else(|| term.strip_prefix("index.docker.io/"))
        .unwrap_or(term)
        .to_string();
    match cfg.registry_mirrors.first() {
        Some(m) => {
            let base = m.trim_end_matches('/').to_string();
            Target {
                registry: super::config::normalize_registry(&base),
                base,
                query,
                hub: true,
            }
        }
        None => Target {
            base: "https://index.docker.io".into(),
            registry: "docker.io".into(),
            query,
            hub: true,
        },
    }
}

/// Search; at most `limit` results (docker: 1 to 100), most stars first.
pub fn search(root: &Path, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
    if !(1..=100).contains(&limit) {
        return Err(daemon_error(format!(
            "limit {limit} is outside the range of [1, 100]"
        )));
    }
    let cfg = RegistryConfig::load(root)?;
    let auths = AuthFile::load(root).unwrap_or_default();
    let t = target(&cfg, term);
    let client = Client::new(
        &t.base,
        &t.registry,
        "",
        "pull",
        auths.credentials(&t.registry),
    );
    client.ping().map_err(daemon_error)?;
    let q = t.query.to_ascii_lowercase();
    // The search API first (Docker Hub, some registries)...
    let v1 = format!(
        "/v1/search?q={}&n={limit}",
        super::client::url_encode(&t.query)
    );
    let mut results = match client.send("GET", &v1, &[], &Body::Empty) {
        Ok(resp) => {
            let v: serde_json::Value = resp
                .into_string()
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or_else(|| daemon_error("the search answer is not JSON"))?;
            v.get("results")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
                .map(|r| SearchResult {
                    name: r["name"].as_str().unwrap_or_default().to_string(),
                    description: r["description"].as_str().unwrap_or_default().to_string(),
                    star_count: r["star_count"].as_u64().unwrap_or(0),
                    is_official: r["is_official"].as_bool().unwrap_or(false),
                    is_automated: r["is_automated"].as_bool().unwrap_or(false),
                })
                .collect::<Vec<_>>()
        }
        // ...else the catalog, filtered here.
        Err(RegistryError::NotFound(_)) | Err(RegistryError::Other(_)) => catalog(&client)?
            .into_iter()
            .filter(|repo| repo.to_ascii_lowercase().contains(&q))
            .map(|repo| {
                let official = t.hub && repo.starts_with("library/");
                let name = if t.hub {
                    repo.strip_prefix("library/").unwrap_or(&repo).to_string()
                } else {
                    format!("{}/{repo}", t.registry)
                };
                SearchResult {
                    name,
                    description: String::new(),
                    star_count: 0,
                    is_official: official,
                    is_automated: false,
                }
            })
            .collect(),
        Err(e) => return Err(daemon_error(e)),
    };
    // docker sorts by stars, most first (stable: the registry's order otherwise)
    results.sort_by_key(|r| std::cmp::Reverse(r.star_count));
    results.truncate(limit);
    Ok(results)
}

/// `--simulate search`: the catalog of the simulated registry (the
/// repositories in the store, and the built-in busybox on docker.io),
/// filtered and named as the real search would. No network.
pub fn search_simulated(root: &Path, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
    if !(1..=100).contains(&limit) {
        return Err(daemon_error(format!(
            "limit {limit} is outside the range of [1, 100]"
        )));
    }
    let t = target(&RegistryConfig::default(), term);
    let registry = if t.hub {
        crate::image::reference::DEFAULT_REGISTRY.to_string()
    } else {
        t.registry.clone()
    };
    let store = crate::image::Store::open(root)?;
    let mut repos = std::collections::BTreeSet::new();
    if t.hub && crate::image::embedded::default_rootfs().is_some() {
        repos.insert("library/busybox".to_string());
    }
    for img in store.images()? {
        for r in img
            .references
            .iter()
            .filter_map(|r| crate::image::Reference::parse(r).ok())
        {
            if r.registry == registry {
                repos.insert(r.repository.clone());
            }
        }
    }
    let q = t.query.to_ascii_lowercase();
    let mut out: Vec<SearchResult> = repos
        .into_iter()
        .filter(|r| r.to_ascii_lowercase().contains(&q))
        .map(|repo| SearchResult {
            is_official: t.hub && repo.starts_with("library/"),
            name: if t.hub {
                repo.strip_prefix("library/").unwrap_or(&repo).to_string()
            } else {
                format!("{registry}/{repo}")
            },
            description: String::new(),
            star_count: 0,
            is_automated: false,
        })
        .collect();
    out.truncate(limit);
    Ok(out)
}

/// Every repository name in the registry's catalog, page after page.
fn catalog(client: &Client) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut next = Some("/v2/_catalog?n=1000".to_string());
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        if pages > 1000 {
            break;
        }
        let resp = client
            .send("GET", &path, &[], &Body::Empty)
            .map_err(|e| match e {
                RegistryError::NotFound(_) => daemon_error(format!(
                    "{} has neither a search API nor a catalog (/v2/_catalog)",
                    client.registry
                )),
                other => daemon_error(other),
            })?;
        next = resp.header("link").and_then(next_link);
        let v: serde_json::Value = resp
            .into_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| daemon_error("the catalog is not JSON"))?;
        names.extend(
            v.get("repositories")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_string)),
        );
    }
    Ok(names)
}

/// `</v2/_catalog?last=b&n=2>; rel="next"` → `/v2/_catalog?last=b&n=2`.
fn next_link(h: &str) -> Option<String> {
    h.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
            return None;
        }
        Some(
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string(),
        )
    })
}

/// docker's `Ellipsis`: cut to `max` characters, the last one an ellipsis.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let cfg = RegistryConfig::default();
        let t = target(&cfg, "127.0.0.1:5000/busy");
        assert_eq!(
            (
                t.base.as_str(),
                t.registry.as_str(),
                t.query.as_str(),
                t.hub
            ),
            ("http://127.0.0.1:5000", "127.0.0.1:5000", "busy", false)
        );
        let t = target(&cfg, "busybox");
        assert_eq!(
            (t.registry.as_str(), t.query.as_str(), t.hub),
            ("docker.io", "busybox", true)
        );
        let t = target(&cfg, "library/busybox");
        assert_eq!(t.query, "library/busybox");
        let cfg = RegistryConfig {
            registry_mirrors: vec!["http://127.0.0.1:5001/".into()],
            ..Default::default()
        };
        let t = target(&cfg, "busy");
        assert_eq!(
            (t.base.as_str(), t.registry.as_str(), t.hub),
            ("http://127.0.0.1:5001", "127.0.0.1:5001", true)
        );
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
