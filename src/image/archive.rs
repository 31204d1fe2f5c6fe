//! `docker save` and `docker load`: images as one tar file.
//!
//! Two formats exist:
//!
//! - **docker-archive** (what `docker save` writes): `manifest.json`, a list
//!   of `{Config, RepoTags, Layers}` naming files inside the tar: the config
//!   (`<hex>.json`) and each layer as an *uncompressed* tar
//!   (`<id>/layer.tar`); plus the legacy `repositories` file.
//! - **oci-archive**: an OCI image layout (`oci-layout`, `index.json`,
//!   `blobs/sha256/...`) tarred up; names are `org.opencontainers.image.ref.name`
//!   annotations in index.json.
//!
//! `save` writes a docker-archive; `load` reads both. Every blob that comes
//! in is verified against its digest before it is stored, and each image
//! goes through `Store::add_image`, which checks layers against `diff_ids`.

use super::reference::{valid_digest, Reference};
use super::store::{
    Image, Store, ANNOTATION_REF_NAME, MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER_GZIP,
    MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_MANIFEST_LIST, MEDIA_OCI_INDEX,
};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// An image to save and the names to record for it (familiar form, `busybox:latest`).
pub struct SaveItem {
    pub image: Image,
    pub tags: Vec<String>,
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

fn append_file(
    b: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    r: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, r).with_context(|| format!("write {path}"))?;
    Ok(())
}

fn append_dir(b: &mut tar::Builder<impl Write>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path)?;
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_cksum();
    b.append(&h, io::empty())?;
    Ok(())
}

/// Write `items` as a docker-archive to `w`.
pub fn save(store: &Store, items: &[SaveItem], w: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(w);
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written: Vec<String> = Vec::new();
    for item in items {
        let img = &item.image;
        let config = store.read_blob(&img.id)?;
        let config_name = format!("{}.json", hex(&img.id));
        if !written.contains(&config_name) {
            append_file(&mut b, &config_name, config.len() as u64, &config[..])?;
            written.push(config_name.clone());
        }
        let mut layer_paths = Vec::new();
        for l in &img.layers {
            let dir = hex(&l.diff_id).to_string();
            let path = format!("{dir}/layer.tar");
            if !written.contains(&path) {
                append_dir(&mut b, &format!("{dir}/"))?;
                append_file(&mut b, &format!("{dir}/VERSION"), 3, &b"1.0"[..])?;
                if l.digest == l.diff_id {
                    // stored uncompressed: stream the blob itself
                    let p = store.blob_path(&l.digest);
                    let f = fs::File::open(&p)
                        .with_context(|| format!("layer blob {} is missing", l.digest))?;
                    let size = f.metadata()?.len();
                    append_file(&mut b, &path, size, f)?;
                } else {
                    // compressed: decompress to a temp file to learn the size
                    let mut tmp = tempfile_in(&store.root)?;
                    let n = io::copy(&mut store.open_layer(l)?, &mut tmp.file)?;
                    tmp.file.rewind()?;
                    append_file(&mut b, &path, n, &mut tmp.file)?;
                }
                written.push(path.clone());
            }
            layer_paths.push(path);
        }
        let top = img
            .layers
            .last()
            .map(|l| hex(&l.diff_id).to_string())
            .unwrap_or_default();
        for t in &item.tags {
            if let Ok(r) = Reference::parse(t) {
                if let Some(tag) = &r.tag {
                    repositories
                        .entry(r.familiar_repo())
                        .or_default()
                        .insert(tag.clone(), top.clone());
                }
            }
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": if item.tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(item.tags) },
            "Layers": layer_paths,
        }));
    }
    let m = serde_json::to_vec(&manifest)?;
    append_file(&mut b, "manifest.json", m.len() as u64, &m[..])?;
    if !repositories.is_empty() {
        let r = serde_json::to_vec(&repositories)?;
        append_file(&mut b, "repositories", r.len() as u64, &r[..])?;
    }
    b.into_inner()?.flush()?;
    Ok(())
}

/// A temp file under the store root that is removed on drop.
struct TmpFile {
    file: fs::File,
    path: PathBuf,
}
impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
fn tempfile_in(root: &Path) -> Result<TmpFile> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = root.join(format!(
        "save.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    Ok(TmpFile { file, path })
}

/// A directory removed on drop; its `.tmp-<pid>` name lets `Store::open`
/// clean it up if we die first.
struct TmpDir(PathBuf);
impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What a load produced: the images and the names given to them.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// (image id, familiar names given) per image.
    pub images: Vec<(String, Vec<String>)>,
}

impl LoadResult {
    /// docker's lines: `Loaded image: busybox:latest` / `Loaded image ID: sha256:...`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, names) in &self.images {
            if names.is_empty() {
                out.push(format!("Loaded image ID: {id}"));
            }
            for n in names {
                out.push(format!("Loaded image: {n}"));
            }
        }
        out
    }
}

/// Extract an archive into `dir`: regular files and directories only, every
/// path confined to `dir`. Symlinks are remembered (docker-archives link
/// `<id>/layer.tar` to the real file) and resolved later, inside `dir` only.
fn extract(r: impl Read, dir: &Path) -> Result<HashMap<PathBuf, PathBuf>> {
    let mut links = HashMap::new();
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().context("read archive")? {
        let mut e = e.context("read archive entry")?;
        let path = e.path()?.into_owned();
        let rel = clean_rel(&path)
            .ok_or_else(|| anyhow!("archive entry {path:?} escapes the archive"))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        match e.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(dir.join(&rel))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dst = dir.join(&rel);
                if let Some(p) = dst.parent() {
                    fs::create_dir_all(p)?;
                }
                let mut f = fs::File::create(&dst)?;
                io::copy(&mut e, &mut f).with_context(|| format!("extract {}", rel.display()))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = e.link_name()? {
                    let base = if e.header().entry_type() == tar::EntryType::Symlink {
                        rel.parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_default()
                            .join(target)
                    } else {
                        target.into_owned()
                    };
                    if let Some(t) = clean_rel(&base) {
                        links.insert(rel, t);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(links)
}

/// Normalize a relative path (`a/./b/../c` → `a/c`); None if it leaves the root.
fn clean_rel(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn resolve_in(dir: &Path, links: &HashMap<PathBuf, PathBuf>, name: &str) -> Result<PathBuf> {
    let mut rel =
        clean_rel(Path::new(name)).ok_or_else(|| anyhow!("path {name:?} escapes the archive"))?;
    for _ in 0..8 {
        if dir.join(&rel).is_file() {
            return Ok(dir.join(&rel));
        }
        match links.get(&rel) {
            Some(t) => rel = t.clone(),
            None => break,
        }
    }
    bail!("the archive has no file {name:?}")
}

fn is_gzip(p: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = fs::File::open(p)?;
    Ok(f.read(&mut magic)? == 2 && magic == [0x1f, 0x8b])
}

/// `docker load`: read a docker-archive or oci-archive (plain or gzip) into the store.
pub fn load(store: &Store, r: impl Read) -> Result<LoadResult> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = store.root.join(format!(
        "load.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir)?;
    let _guard = TmpDir(dir.clone());
    let r = super::unpack::decompressed(r).context("read archive")?;
    let r = super::store::check_tar_stream(r, false)?;
    let links = extract(r, &dir)?;
    let res = if dir.join("manifest.json").is_file() {
        load_docker(store, &dir, &links)?
    } else if dir.join("index.json").is_file() {
        load_oci(store, &dir)?
    } else {
        bail!("not a docker-archive (no manifest.json) or oci-archive (no index.json)")
    };
    if res.images.is_empty() {
        bail!("no images found in the archive");
    }
    Ok(res)
}

/// A descriptor's `size` must be its blob's (the blob itself was verified
/// against its digest when it was stored).
fn check_size(store: &Store, desc: &serde_json::Value, digest: &str, where_: &str) -> Result<()> {
    let want = desc
        .get("size")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| anyhow!("{where_}: the descriptor of {digest} has no size"))?;
    let got = fs::metadata(store.blob_path(digest))
        .with_context(|| format!("{where_} names {digest}, which the archive does not hold"))?
        .len();
    if want != got {
        bail!("size mismatch: {where_} says {digest} is {want} bytes, the blob has {got}");
    }
    Ok(())
}

fn ingest_file(store: &Store, p: &Path, expected: Option<&str>) -> Result<(String, u64)> {
    let f = fs::File::open(p).with_context(|| format!("open {}", p.display()))?;
    let size = f.metadata()?.len();
    let d = store.ingest_blob(f, expected, Some(size))?;
    Ok((d, size))
}

fn load_docker(store: &Store, dir: &Path, links: &HashMap<PathBuf, PathBuf>) -> Result<LoadResult> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(&fs::read(dir.join("manifest.json"))?)
            .context("manifest.json is not a JSON list")?;
    let mut res = LoadResult::default();
    for e in entries {
        let config_name = e
            .get("Config")
            .and_then(|c| c.as_str())
            .ok_or_else(|| anyhow!("manifest.json entry without Config"))?;
        let (config_digest, config_size) =
            ingest_file(store, &resolve_in(dir, links, config_name)?, None)?;
        let mut layers = Vec::new();
        for l in e
            .get("Layers")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten()
        {
            let name = l.as_str().ok_or_else(|| anyhow!("bad Layers entry"))?;
            let p = resolve_in(dir, links, name)?;
            let mt = if is_gzip(&p)? {
                MEDIA_DOCKER_LAYER_GZIP
            } else {
                MEDIA_DOCKER_LAYER
            };
            let (d, size) = ingest_file(store, &p, None)?;
            layers.push(serde_json::json!({"mediaType": mt, "digest": d, "size": size}));
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_DOCKER_MANIFEST,
            "config": {"mediaType": MEDIA_DOCKER_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layers,
        }))?;
        let tags: Vec<Reference> = e
            .get("RepoTags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .map(Reference::parse)
            .collect::<Result<_>>()?;
        let img = store
            .add_image(&manifest, tags.first())
            .with_context(|| format!("load image {config_digest}"))?;
        for t in tags.iter().skip(1) {
            store.tag(&img, t)?;
        }
        res.images
            .push((img.id.clone(), tags.iter().map(|t| t.to_string()).collect()));
    }
    Ok(res)
}

fn load_oci(store: &Store, dir: &Path) -> Result<LoadResult> {
    // Every blob, verified against its name.
    let blobs = dir.join("blobs/sha256");
    if let Ok(rd) = fs::read_dir(&blobs) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let digest = format!("sha256:{name}");
            if !valid_digest(&digest) {
                continue;
            }
            if !store.has_blob(&digest) {
                ingest_file(store, &e.path(), Some(&digest))
                    .with_context(|| format!("blob {digest} in the archive"))?;
            }
        }
    }
    let index: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("index.json"))?)
        .context("index.json is not valid JSON")?;
    let mut res = LoadResult::default();
    let host = crate::registry::Platform::host();
    for d in index
        .get("manifests")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
    {
        let mut digest = d
            .get("digest")
            .and_then(|x| x.as_str())
            .ok_or_else(|| anyhow!("index.json entry without a digest"))?
            .to_string();
        check_size(store, d, &digest, "index.json")?;
        let mt = d.get("mediaType").and_then(|x| x.as_str()).unwrap_or("");
        if mt == MEDIA_OCI_INDEX || mt == MEDIA_DOCKER_MANIFEST_LIST {
            let inner: serde_json::Value = serde_json::from_slice(&store.read_blob(&digest)?)?;
            digest = crate::registry::select_platform(&inner, &host)?.0;
            let chosen = inner
                .get("manifests")
                .and_then(|m| m.as_array())
                .and_then(|m| {
                    m.iter()
                        .find(|x| x.get("digest").and_then(|d| d.as_str()) == Some(digest.as_str()))
                })
                .cloned()
                .unwrap_or_default();
            check_size(store, &chosen, &digest, "the image index")?;
        }
        let ann = d.get("annotations");
        let name = ann
            .and_then(|a| a.get("io.containerd.image.name"))
            .or_else(|| ann.and_then(|a| a.get(ANNOTATION_REF_NAME)))
            .and_then(|x| x.as_str());
        // A bare tag ("latest") names no repository: load it unnamed.
        let reference = match name {
            Some(n) if n.contains('/') || n.contains(':') => Some(Reference::parse(n)?),
            _ => None,
        };
        let manifest = store.read_blob(&digest)?;
        let img = store
            .add_image(&manifest, reference.as_ref())
            .with_context(|| format!("load image {digest}"))?;
        res.images.push((
            img.id.clone(),
            reference.iter().map(|r| r.to_string()).collect(),
        ));
    }
    Ok(res)
}
