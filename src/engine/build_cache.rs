//! The builder's shared books under `<root>/build-cache/`: which images
//! running builds use (so two builds at once never unname each other's
//! intermediate images), and which unnamed images builds made as
//! intermediates (unnamed again once no running build uses them).
//!
//! `builds.json` holds both, changed only under the flock
//! `build-cache/lock` (taken before the store lock, never under it):
//! `holds` maps a build's PID to the image ids it registered (made, or
//! found in the cache), `intermediate` lists the image ids builds added to
//! the index that no build kept as its result. A build registers each
//! image under the lock before it uses it; when it ends it drops its holds
//! (and those of builds whose process is gone) and unnames every
//! intermediate image no live build holds. A build's liveness is kill(pid,
//! 0): no file of the host's /proc is read (the simulated host uses the
//! same books).

use crate::fsutil::{self, StoreLock};
use crate::image::{Image, Store};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Default, Serialize, Deserialize)]
struct Books {
    #[serde(default)]
    holds: BTreeMap<i32, Vec<String>>,
    #[serde(default)]
    intermediate: Vec<String>,
}

fn dir(root: &Path) -> PathBuf {
    root.join("build-cache")
}

fn alive(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == Errno::EPERM,
    }
}

/// Change the books under their lock.
fn with_books<T>(root: &Path, f: impl FnOnce(&mut Books) -> Result<T>) -> Result<T> {
    let _lock = StoreLock::exclusive_on(&dir(root).join("lock"))?;
    let path = dir(root).join("builds.json");
    let mut books: Books = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        Err(_) => Books::default(),
    };
    let out = f(&mut books)?;
    fsutil::atomic_write_with(&path, &serde_json::to_vec(&books)?, false)?;
    Ok(out)
}

/// Add the image `add` makes (or finds) to the index, held by this build
/// from then on; `existed` tells whether it was in the index before.
pub fn register(
    root: &Path,
    store: &Store,
    config_digest: &str,
    add: impl FnOnce() -> Result<Image>,
) -> Result<Image> {
    with_books(root, |books| {
        let existed = store.resolve(config_digest)?.is_some();
        let img = add()?;
        books
            .holds
            .entry(std::process::id() as i32)
            .or_default()
            .push(img.id.clone());
        if !existed && !books.intermediate.contains(&img.id) {
            books.intermediate.push(img.id.clone());
        }
        Ok(img)
    })
}

/// The build ends (`keep`: its result, if it succeeded): its holds go, and
/// every intermediate image no running build holds is unnamed (its blobs
/// stay: the cache names them, `builder prune` removes them).
pub fn finish(root: &Path, store: &Store, keep: Option<&str>) -> Result<()> {
    with_books(root, |books| {
        let me = std::process::id() as i32;
        books.holds.remove(&me);
        books.holds.retain(|pid, _| alive(*pid));
        if let Some(k) = keep {
            books.intermediate.retain(|id| id != k);
        }
        let held: Vec<&String> = books.holds.values().flatten().collect();
        let (busy, free): (Vec<String>, Vec<String>) = books
            .intermediate
            .iter()
            .cloned()
            .partition(|id| held.contains(&id));
        for id in &free {
            // (One a user tagged meanwhile is theirs now.)
            if let Some(img) = store.resolve(id)?.filter(|i| i.references.is_empty()) {
                store
                    .remove_image(&img)
                    .with_context(|| format!("unname the intermediate image {id}"))?;
            }
        }
        books.intermediate = busy;
        Ok(())
    })
}

// ---- the cache itself: `system df`'s Build Cache, `builder prune` ------------

/// One cache entry (`build-cache/<key>` → the manifest a step made) and
/// what it alone keeps in the store.
pub struct Entry {
    pub key: String,
    pub manifest: String,
    /// Bytes of blobs and unpacked layers no image in the index uses
    /// (each counted with the first entry that names it).
    pub size: u64,
    /// A running build holds its image.
    pub active: bool,
    /// Its image is also named in the index (a build's result).
    pub shared: bool,
    /// When the entry was written (RFC 3339).
    pub created: String,
}

/// The keys and manifests of the cache, in key order.
fn keys(root: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir(root))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let key = e.file_name().to_string_lossy().into_owned();
            if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let m = std::fs::read_to_string(e.path()).ok()?;
            Some((key, m.trim().to_string()))
        })
        .collect();
    out.sort();
    out
}

/// The cache's entries whose manifest is still in the store.
pub fn entries(root: &Path, store: &Store) -> Result<Vec<Entry>> {
    use crate::image::store::Manifest;
    let mut named_blobs = std::collections::HashSet::new();
    let mut named_chains = std::collections::HashSet::new();
    let mut named_ids = std::collections::HashSet::new();
    for img in store.images()? {
        named_blobs.insert(img.manifest_digest.clone());
        named_blobs.insert(img.id.clone());
        named_ids.insert(img.id.clone());
        for l in &img.layers {
            named_blobs.insert(l.digest.clone());
            named_chains.insert(l.chain_id.clone());
        }
    }
    let books: Books = std::fs::read(dir(root).join("builds.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let held: Vec<String> = books
        .holds
        .iter()
        .filter(|(pid, _)| alive(**pid))
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    let mut counted = std::collections::HashSet::new();
    let blob_size = |d: &str| {
        std::fs::metadata(store.blob_path(d))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let mut out = Vec::new();
    for (key, manifest) in keys(root) {
        let Ok(m) = store.read_blob(&manifest).and_then(|b| Manifest::parse(&b)) else {
            continue;
        };
        let mut size = 0;
        let mut items = vec![manifest.clone(), m.config.digest.clone()];
        items.extend(m.layers.iter().map(|l| l.digest.clone()));
        for d in items {
            if !named_blobs.contains(&d) && counted.insert(d.clone()) {
                size += blob_size(&d);
            }
        }
        // Its unpacked layers (the real host's; the simulated one has none).
        let diff_ids: Vec<String> = store
            .read_blob(&m.config.digest)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|c| serde_json::from_value(c["rootfs"]["diff_ids"].clone()).ok())
            .unwrap_or_default();
        let chains = crate::image::store::chain_ids(&diff_ids);
        for ((l, chain), diff_id) in m.layers.iter().zip(chains).zip(&diff_ids) {
            if named_chains.contains(&chain) || !counted.insert(chain.clone()) {
                continue;
            }
            let info = crate::image::LayerInfo {
                digest: l.digest.clone(),
                diff_id: diff_id.clone(),
                chain_id: chain,
                media_type: l.media_type.clone(),
                size: l.size,
            };
            size += store.layer_meta(&info).map(|x| x.size).unwrap_or(0);
        }
        let created = std::fs::metadata(dir(root).join(&key))
            .and_then(|md| md.modified())
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
            .unwrap_or_default();
        out.push(Entry {
            active: held.contains(&m.config.digest),
            shared: named_ids.contains(&m.config.digest),
            key,
            manifest,
            size,
            created,
        });
    }
    Ok(out)
}

/// `builder prune [-a]`: the entries no running build holds (without
/// `all`, only those whose image no name keeps: the steps' own images),
/// then what only they kept in the store. Returns the entries' keys and
/// the bytes freed.
pub fn prune(root: &Path, all: bool) -> Result<(Vec<String>, u64)> {
    let store = Store::open(root)?;
    let before: std::collections::HashSet<String> = {
        let g = store.garbage()?;
        g.blobs
            .iter()
            .chain(g.layers.iter())
            .map(|(d, _)| d.clone())
            .collect()
    };
    let mut removed = Vec::new();
    {
        let _lock = StoreLock::exclusive_on(&dir(root).join("lock"))?;
        for e in entries(root, &store)? {
            if e.active || (e.shared && !all) {
                continue;
            }
            if std::fs::remove_file(dir(root).join(&e.key)).is_ok() {
                removed.push(e.key);
            }
        }
        // Entries whose manifest is gone already hit nothing: drop them too.
        for (key, manifest) in keys(root) {
            if !store.has_blob(&manifest) && std::fs::remove_file(dir(root).join(&key)).is_ok() {
                removed.push(key);
            }
        }
    }
    let swept = store.remove_garbage()?;
    let freed = swept
        .blobs
        .iter()
        .chain(swept.layers.iter())
        .filter(|(d, _)| !before.contains(d))
        .map(|(_, s)| s)
        .sum();
    Ok((removed, freed))
}
