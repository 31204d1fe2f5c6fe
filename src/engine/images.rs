//! The image verbs as a library: import, tag, rmi, prune, the listing and
//! its filters, history, inspect, save and load. Each returns data (the
//! image id, what was untagged and deleted, the rows); `cli::images` prints
//! it the way docker does, and lessons, the REPL and tests call the same code.

use crate::image::archive::{LoadResult, SaveItem};
use crate::image::{Image, ImageSummary, Reference, Store};
use crate::kernel::{Go, StepObserver};
use crate::step::Step;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// An error the way docker's API reports one: `Error: ...`, with `code`.
pub(crate) fn image_err(code: i32, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(code, format!("Error: {msg}")))
}

/// An error message safe to print: control characters (what a binary
/// input's bytes may put in a parser's message) become `\u{..}` escapes.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' || c == '\u{fffd}' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

// ---- import ----------------------------------------------------------------

/// `docker import FILE|- [REPOSITORY[:TAG]] [-c CHANGE]... [-m MESSAGE]`:
/// one filesystem tarball (a file, or stdin for `-`) becomes a one-layer
/// image. Returns its id (`sha256:<hex>`).
pub fn import(
    root: &Path,
    source: &str,
    reference: Option<&str>,
    changes: &[String],
    message: Option<&str>,
) -> Result<String> {
    // Validate everything cheap before reading a possibly large tarball.
    let reference = reference.map(Reference::parse).transpose()?;
    let mut cfg = super::changes::parse_changes(changes)?;
    cfg.comment = message.map(str::to_string);
    cfg.source = Some(source.to_string());
    let reader: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(source).with_context(|| format!("open {source}"))?;
        Box::new(f)
    };
    let store = Store::open(root)?;
    let img = store
        .import_tar(reader, reference.as_ref(), cfg)
        .map_err(|e| anyhow::anyhow!("import {source}: {}", printable(&format!("{e:#}"))))?;
    Ok(img.id)
}

// ---- tag, rmi, prune ---------------------------------------------------------

/// `docker tag SOURCE TARGET`.
pub fn tag(root: &Path, source: &str, target: &str) -> Result<()> {
    tag_observed(root, source, target, &mut crate::kernel::Silent)
}

/// Show a store step; `q` at step-through stops before it.
fn announce(observer: &mut dyn StepObserver, step: &Step, undone: &str) -> Result<()> {
    if observer.before(step)? == Go::Abort {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "aborted before step {}; {undone}",
            step.kind()
        );
    }
    Ok(())
}

/// `tag`, narrated: one `image_tag` step.
pub fn tag_observed(
    root: &Path,
    source: &str,
    target: &str,
    observer: &mut dyn StepObserver,
) -> Result<()> {
    let store = Store::open(root)?;
    let target = Reference::parse(target).map_err(|e| image_err(1, e))?;
    let img = store
        .resolve(source)?
        .ok_or_else(|| image_err(1, format!("No such image: {source}")))?;
    if target.digest.is_some() {
        return Err(image_err(
            1,
            format!("refusing to create a tag with a digest reference ({target})"),
        ));
    }
    let (index, descriptor) = store.tag_entry(&img, &target)?;
    let step = Step::ImageTag {
        index,
        reference: target.full(),
        descriptor,
    };
    announce(observer, &step, "the image keeps its names")?;
    store.tag(&img, &target).map_err(|e| image_err(1, e))?;
    observer.after(&step);
    Ok(())
}

/// One thing `rmi` or `image prune` did, in the order done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A name taken off an image (its familiar form: `busybox:latest`).
    Untagged(String),
    /// An image id, or the chain id of a layer, or a garbage blob's digest.
    Deleted(String),
}

/// A container record's view of an image: (container id, running?).
fn containers_using(root: &Path, image_id: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root.join("containers")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(bytes) = std::fs::read(e.path().join("container.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if v.get("image_id").and_then(|i| i.as_str()) == Some(image_id) {
            let id = v
                .get("id")
                .and_then(|i| i.as_str())
                .unwrap_or_default()
                .to_string();
            let status = v
                .pointer("/state/status")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            out.push((id, matches!(status, "running" | "paused" | "restarting")));
        }
    }
    out
}

fn familiar(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| full.to_string())
}

/// `docker rmi [-f] IMAGE` for one image: what was untagged and deleted,
/// or the error for this image (docker's conflict messages, exit 1).
pub fn remove(store: &Store, arg: &str, force: bool) -> Result<Vec<Removal>> {
    remove_observed(store, arg, force, &mut crate::kernel::Silent)
}

/// `rmi` of one image, narrated: `image_untag`, or `image_remove` then
/// `content_remove`.
pub fn remove_observed(
    store: &Store,
    arg: &str,
    force: bool,
    observer: &mut dyn StepObserver,
) -> Result<Vec<Removal>> {
    let img = match store.resolve(arg) {
        Ok(Some(i)) => i,
        Ok(None) | Err(_) if force => return Ok(vec![]),
        Ok(None) => return Err(image_err(1, format!("No such image: {arg}"))),
        Err(e) => return Err(image_err(1, e)),
    };
    let short = img.short_id().to_string();
    let users = containers_using(&store.root, &img.id);
    // Was a name given (that names this image), or an id?
    let by_name = Reference::parse(arg)
        .ok()
        .map(|r| r.full())
        .filter(|f| img.references.contains(f));
    let mut done = Vec::new();
    if let Some(full) = &by_name {
        let is_tag = Reference::parse(full).is_ok_and(|p| p.tag.is_some());
        let tags = img
            .references
            .iter()
            .filter(|r| Reference::parse(r).map_or(true, |p| p.tag.is_some()))
            .count();
        if (is_tag && tags > 1) || (!is_tag && img.references.len() > 1) {
            // just one of several names
            let step = Step::ImageUntag {
                index: store.index_path(),
                reference: full.clone(),
            };
            announce(observer, &step, "the image keeps its names")?;
            store.untag(&Reference::parse(full)?)?;
            observer.after(&step);
            return Ok(vec![Removal::Untagged(familiar(full))]);
        }
        if let Some((cid, running)) = users.first() {
            if !force || *running {
                let how = if *running { "cannot" } else { "must" };
                return Err(image_err(
                    1,
                    format!(
                        "conflict: unable to remove repository reference \"{arg}\" ({how} force) - container {} is using its referenced image {short}",
                        &cid[..cid.len().min(12)]
                    ),
                ));
            }
        }
    } else {
        let repos: std::collections::BTreeSet<String> = img
            .references
            .iter()
            .filter_map(|r| Reference::parse(r).ok())
            .map(|r| r.name())
            .collect();
        if repos.len() > 1 && !force {
            return Err(image_err(
                1,
                format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"),
            ));
        }
        if let Some((cid, running)) = users.first() {
            if *running {
                return Err(image_err(1, format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}", &cid[..cid.len().min(12)])));
            }
            if !force {
                return Err(image_err(1, format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}", &cid[..cid.len().min(12)])));
            }
        }
    }
    for r in &img.references {
        done.push(Removal::Untagged(familiar(r)));
    }
    let step = Step::ImageRemove {
        index: store.index_path(),
        image_id: img.id.clone(),
        manifest_digest: img.manifest_digest.clone(),
    };
    announce(observer, &step, "the image is still there")?;
    store.remove_image(&img)?;
    observer.after(&step);
    done.push(Removal::Deleted(img.id.clone()));
    // Free the space unless a container (forced past above) still needs the layers.
    if users.is_empty() {
        let mut announce_gc = |blobs: &[std::path::PathBuf], dirs: &[std::path::PathBuf]| {
            let step = Step::ContentRemove {
                blobs: blobs.to_vec(),
                dirs: dirs.to_vec(),
            };
            let go = observer.before(&step)? == Go::Run;
            if go {
                observer.after(&step);
            }
            Ok(go)
        };
        for chain in store.gc_removed_announced(&img, &mut announce_gc)? {
            done.push(Removal::Deleted(chain));
        }
    }
    Ok(done)
}

/// What `image prune` (and `system prune`'s image part) removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub removed: Vec<Removal>,
    /// Bytes freed: the unshared layers of the removed images and the garbage.
    pub reclaimed: u64,
}

/// `docker image prune [-a]`: remove dangling images (no tag), or with `all`
/// every image no container record uses; then their unshared layers, and the
/// blobs and layers nothing uses (what a killed pull, load, import or commit
/// left, or a duplicate manifest).
pub fn prune(root: &Path, all: bool) -> Result<Pruned> {
    let store = Store::open(root)?;
    let mut removed = Vec::new();
    let mut reclaimed = 0u64;
    for img in store.images()? {
        let tagged = img
            .references
            .iter()
            .any(|r| Reference::parse(r).map_or(true, |p| p.tag.is_some()));
        if (tagged && !all) || !containers_using(root, &img.id).is_empty() {
            continue;
        }
        let sizes: std::collections::HashMap<String, u64> = img
            .layers
            .iter()
            .map(|l| {
                let size = store.layer_meta(l).map(|m| m.size).unwrap_or(0);
                (l.chain_id.clone(), size)
            })
            .collect();
        for r in &img.references {
            removed.push(Removal::Untagged(familiar(r)));
        }
        store.remove_image(&img)?;
        removed.push(Removal::Deleted(img.id.clone()));
        for chain in store.gc_removed(&img)? {
            reclaimed += sizes.get(&chain).copied().unwrap_or(0);
            removed.push(Removal::Deleted(chain));
        }
    }
    // What no image names: each removed blob and layer is deleted too.
    let garbage = store.remove_garbage()?;
    reclaimed += garbage.bytes();
    // (A one-layer image's plain layer blob and unpacked layer share a digest: one entry.)
    for (digest, _) in garbage.blobs.iter().chain(&garbage.layers) {
        let gone = Removal::Deleted(digest.clone());
        if !removed.contains(&gone) {
            removed.push(gone);
        }
    }
    Ok(Pruned { removed, reclaimed })
}

// ---- the listing -------------------------------------------------------------

/// `*` matches any run of characters (docker's reference filter uses path.Match).
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let s = &s[pre.len()..];
            (0..=s.len()).any(|i| s.is_char_boundary(i) && glob(rest, &s[i..]))
        }
    }
}

/// `docker images [-f K=V]... [REPOSITORY[:TAG]]`: the rows (one per
/// repository:tag, newest image first) that pass the filters
/// (`dangling=true|false`, `reference=PATTERN`) and the reference.
pub fn list(
    store: &Store,
    filters: &[String],
    reference: Option<&str>,
) -> Result<Vec<ImageSummary>> {
    let mut rows = store.list()?;
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        match k {
            "dangling" => {
                let want = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter 'dangling={v}'"),
                };
                rows.retain(|r| (r.repository == "<none>") == want);
            }
            "reference" => rows.retain(|r| {
                glob(v, &r.repository) || glob(v, &format!("{}:{}", r.repository, r.tag))
            }),
            other => bail!("invalid filter '{other}' (supported: dangling, reference)"),
        }
    }
    if let Some(want) = reference {
        let (repo, tag) = match want.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (want.to_string(), None),
        };
        let repo = Reference::parse(&repo)
            .map(|r| r.familiar_repo())
            .unwrap_or(repo);
        rows.retain(|r| glob(&repo, &r.repository) && tag.as_ref().is_none_or(|t| glob(t, &r.tag)));
    }
    Ok(rows)
}

// ---- history, inspect --------------------------------------------------------

/// One line of an image's history.
#[derive(Debug, Clone, Default)]
pub struct HistoryEntry {
    /// RFC 3339, or empty when the config does not say.
    pub created: String,
    pub created_by: String,
    pub comment: String,
    /// The layer's unpacked size; 0 for an entry that made no layer.
    pub size: u64,
}

/// `docker history IMAGE`: the image and its history, newest first.
pub fn history(store: &Store, name: &str) -> Result<(Image, Vec<HistoryEntry>)> {
    let img = store
        .resolve(name)?
        .ok_or_else(|| image_err(1, format!("No such image: {name}")))?;
    // Pair history entries with layers: each non-empty entry is the next layer.
    let mut layer_sizes = img
        .layers
        .iter()
        .map(|l| store.layer_meta(l).map(|m| m.size).unwrap_or(l.size));
    let mut entries = Vec::new();
    let hist = img.config.history();
    if hist.is_empty() {
        for _ in &img.layers {
            entries.push(HistoryEntry {
                created: img.config.created().clone().unwrap_or_default(),
                size: layer_sizes.next().unwrap_or(0),
                ..Default::default()
            });
        }
    }
    for h in hist {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        entries.push(HistoryEntry {
            created: h.created().clone().unwrap_or_default(),
            created_by: h.created_by().clone().unwrap_or_default(),
            comment: h.comment().clone().unwrap_or_default(),
            size,
        });
    }
    entries.reverse();
    Ok((img, entries))
}

/// The image's `Comment`: the config's own `comment` (docker's commit and
/// import message), else its newest history entry's (not the base's).
fn image_comment(raw: &serde_json::Value) -> serde_json::Value {
    let newest = raw
        .get("history")
        .and_then(|h| h.as_array())
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"));
    raw.get("comment")
        .or(newest)
        .cloned()
        .unwrap_or(serde_json::Value::String(String::new()))
}

/// docker's `image inspect` object for one image.
pub fn inspect(store: &Store, img: &Image) -> Result<serde_json::Value> {
    let raw: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.id)?)?;
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for r in &img.references {
        if let Ok(p) = Reference::parse(r) {
            if p.tag.is_some() {
                repo_tags.push(format!("{}:{}", p.familiar_repo(), p.tag_or_latest()));
            }
            if let Some(dg) = &p.digest {
                let d = format!("{}@{dg}", p.familiar_repo());
                if !repo_digests.contains(&d) {
                    repo_digests.push(d);
                }
            }
        }
    }
    let dirs: Vec<String> = img
        .layers
        .iter()
        .rev()
        .filter_map(|l| l.chain_id.strip_prefix("sha256:"))
        .map(|h| {
            store
                .root
                .join("layers")
                .join(h)
                .join("diff")
                .display()
                .to_string()
        })
        .collect();
    Ok(serde_json::json!({
        "Id": img.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": image_comment(&raw),
        "Created": raw.get("created").cloned().unwrap_or(serde_json::Value::Null),
        "DockerVersion": raw.get("docker_version").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Author": raw.get("author").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Config": raw.get("config").cloned().unwrap_or(serde_json::json!({})),
        "Architecture": raw.get("architecture").cloned().unwrap_or(serde_json::Value::Null),
        "Variant": raw.get("variant").cloned(),
        "Os": raw.get("os").cloned().unwrap_or(serde_json::Value::Null),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": dirs.join(":")}},
        "RootFS": {"Type": "layers", "Layers": img.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": serde_json::from_slice::<serde_json::Value>(&store.read_blob(&img.manifest_digest)?)?
                .get("mediaType").cloned().unwrap_or_else(|| crate::image::store::MEDIA_OCI_MANIFEST.into()),
            "digest": img.manifest_digest,
            "size": std::fs::metadata(store.blob_path(&img.manifest_digest)).map(|m| m.len()).unwrap_or(0),
        },
    }))
    .map(|mut v| {
        if v["Variant"].is_null() {
            v.as_object_mut().unwrap().remove("Variant");
        }
        v
    })
}

// ---- save, load --------------------------------------------------------------

/// `docker save IMAGE...`: the images to write, each once, with the tags
/// named on the command line (a name given twice, or two names of one
/// image, make one entry).
pub fn save_items(store: &Store, names: &[String]) -> Result<Vec<SaveItem>> {
    let mut items: Vec<SaveItem> = Vec::new();
    for n in names {
        let img = store
            .resolve(n)?
            .ok_or_else(|| image_err(1, format!("reference does not exist: {n}")))?;
        let tags: Vec<String> = match Reference::parse(n) {
            Ok(r) if img.references.contains(&r.full()) && r.digest.is_none() => {
                vec![r.to_string()]
            }
            _ => vec![],
        };
        match items.iter_mut().find(|i| i.image.id == img.id) {
            Some(i) => i.tags.extend(tags),
            None => items.push(SaveItem { image: img, tags }),
        }
    }
    Ok(items)
}

/// `docker save -o FILE`: the archive is written beside `path` and renamed
/// into place, so a failed save leaves no partial file under that name.
pub fn save_to_file(store: &Store, items: &[SaveItem], path: &Path) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("save"),
        std::process::id()
    ));
    let f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let res = crate::image::archive::save(store, items, std::io::BufWriter::new(f));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// `docker load`: the images of a docker- or oci-archive, each blob
/// verified; an error names what was wrong in printable text (exit 1).
pub fn load(store: &Store, r: impl Read) -> Result<LoadResult> {
    crate::image::archive::load(store, r).map_err(|e| image_err(1, printable(&format!("{e:#}"))))
}
