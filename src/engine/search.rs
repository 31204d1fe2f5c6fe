//! `search`: a registry's repositories (or the simulated registry's),
//! narrowed by docker's filters (`stars=N`, `is-official=`, `is-automated=`).

use super::images::image_err;
use crate::registry::search::SearchResult;
use anyhow::Result;
use std::path::Path;

/// docker's `search -f` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilters {
    pub min_stars: u64,
    pub official: Option<bool>,
    pub automated: Option<bool>,
}

impl SearchFilters {
    /// Parse `KEY=VALUE` filters; a bad one is an error naming it (exit 1).
    pub fn parse(filters: &[String]) -> Result<Self> {
        let mut out = SearchFilters::default();
        for f in filters {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                image_err(
                    1,
                    format!("bad format of filter (expected name=value): {f}"),
                )
            })?;
            let flag = || match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(image_err(1, format!("invalid filter '{k}={v}'"))),
            };
            match k {
                "stars" => {
                    out.min_stars = v
                        .parse()
                        .map_err(|_| image_err(1, format!("invalid filter 'stars={v}'")))?
                }
                "is-official" => out.official = Some(flag()?),
                "is-automated" => out.automated = Some(flag()?),
                _ => return Err(image_err(1, format!("invalid filter '{k}'"))),
            }
        }
        Ok(out)
    }

    pub fn matches(&self, r: &SearchResult) -> bool {
        r.star_count >= self.min_stars
            && self.official.is_none_or(|o| r.is_official == o)
            && self.automated.is_none_or(|o| r.is_automated == o)
    }
}

/// `docker search [-f K=V]... [--limit N] TERM`: the filters are checked
/// before the registry is asked.
pub fn search(
    root: &Path,
    term: &str,
    limit: usize,
    filters: &[String],
    simulate: bool,
) -> Result<Vec<SearchResult>> {
    let filters = SearchFilters::parse(filters)?;
    let mut results = if simulate {
        crate::registry::search::search_simulated(root, term, limit)?
    } else {
        crate::registry::search::search(root, term, limit)?
    };
    results.retain(|r| filters.matches(r));
    Ok(results)
}
