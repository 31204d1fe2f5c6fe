//! `commit`: a container's upper dir becomes a new image layer on top of its
//! image's layers.
//!
//! The layer is a plain tar of the upper dir (whiteouts as `.wh.NAME`,
//! opaque directories as `.wh..wh..opq`, see `files::layer_tar`), stored
//! uncompressed so its blob digest is its diff id. The config is the parent
//! image's, with the container's command, environment and working directory
//! (as docker's commit does), the `-c` changes on top, the new diff id
//! appended to `rootfs.diff_ids` and a history entry. Everything goes in
//! through the image store's own API (`ingest_blob`, `ensure_layer`,
//! `add_image_with`), each part a narrated step:
//!
//!   layer_tar (upper dir → temp tar) → blob_write (layer) → blob_write
//!   (config) → layer_unpack (the new lower dir) → image_add (manifest blob,
//!   index.json)
//!
//! Each step's input is a real file under `<root>/.tmp-<pid>-commit-*`
//! while it is shown, so its shell equivalent, pasted, does the same. `q`
//! at step-through stops before a step: nothing is named, and blobs written
//! before it are garbage that `image prune` removes.

use super::files;
use crate::container::Container;
use crate::image::store::{
    chain_ids, Descriptor, LayerInfo, Manifest, Unpack, ANNOTATION_REF_NAME, MEDIA_OCI_CONFIG,
    MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST,
};
use crate::image::{Reference, Store};
use crate::kernel::{Go, StepObserver};
use crate::step::Step;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// `-a`: the image's author.
    pub author: Option<String>,
    /// `-c`: Dockerfile instructions (`engine::changes`: CMD, ENTRYPOINT,
    /// ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
    /// WORKDIR), applied after the container's own settings.
    pub changes: Vec<String>,
    /// REPOSITORY[:TAG]; none gives an untagged image.
    pub reference: Option<String>,
}

/// The temp files a commit works with; removed however it ends.
struct TmpFiles(Vec<PathBuf>);

impl TmpFiles {
    /// `<root>/.tmp-<pid>-commit-<what>`: the store's repair pass removes
    /// it if this process dies mid-way.
    fn path(&mut self, root: &Path, what: &str) -> PathBuf {
        let p = root.join(format!(".tmp-{}-commit-{what}", std::process::id()));
        self.0.push(p.clone());
        p
    }
}

impl Drop for TmpFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Show a commit step; `q` at step-through stops the commit before it.
pub(crate) fn announce(observer: &mut dyn StepObserver, step: &Step) -> Result<()> {
    if observer.before(step)? == Go::Abort {
        crate::exit_err!(
            crate::error::EXIT_ENGINE,
            "aborted before step {}; no image was made (blobs already written are unnamed: `image prune` removes them)",
            step.kind()
        );
    }
    Ok(())
}

/// The sha256 digest (`sha256:<hex>`) and size of a file.
fn digest_of(path: &Path) -> Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((format!("sha256:{}", hex::encode(h.finalize())), n))
}

/// Write `bytes` to the temp file `tmp` and store it as a blob, narrated.
pub(crate) fn store_bytes(
    store: &Store,
    observer: &mut dyn StepObserver,
    what: &str,
    tmp: &Path,
    bytes: &[u8],
) -> Result<String> {
    std::fs::write(tmp, bytes).with_context(|| format!("write {}", tmp.display()))?;
    store_file(store, observer, what, tmp)
}

/// Store the file `tmp` as a blob (digest checked on the way in), narrated.
pub(crate) fn store_file(
    store: &Store,
    observer: &mut dyn StepObserver,
    what: &str,
    tmp: &Path,
) -> Result<String> {
    let (digest, size) = digest_of(tmp)?;
    let step = Step::BlobWrite {
        what: what.into(),
        source: tmp.to_path_buf(),
        digest: digest.clone(),
        size,
        blob: store.blob_path(&digest),
    };
    announce(observer, &step)?;
    let stored = store.ingest_blob(std::fs::File::open(tmp)?, Some(&digest), Some(size))?;
    observer.after(&step);
    Ok(stored)
}

/// Commit the container; returns the new image's id (`sha256:...`).
pub fn commit(
    root: &Path,
    observer: &mut dyn StepObserver,
    c: &Container,
    opts: &CommitOptions,
) -> Result<String> {
    let reference = match &opts.reference {
        Some(r) => {
            let mut r =
                Reference::parse(r).with_context(|| format!("invalid reference format {r:?}"))?;
            if r.digest.is_some() {
                crate::exit_err!(
                    crate::error::EXIT_ENGINE,
                    "refusing to create a tag with a digest reference"
                );
            }
            if r.tag.is_none() {
                r = r.with_tag("latest");
            }
            Some(r)
        }
        None => None,
    };
    let store = Store::open(root)?;
    let parent = store.image_for_container(&c.image_id)?.with_context(|| {
        format!(
            "the image of container {} ({}) is no longer in the store",
            c.name, c.image_id
        )
    })?;
    let parent_manifest = Manifest::parse(&store.read_blob(&parent.manifest_digest)?)?;
    let mut config: Value =
        serde_json::from_slice(&store.read_blob(&parent_manifest.config.digest)?)
            .context("parent image config")?;

    // The layer: a tar of the upper dir, written into a temp file, then into the store.
    let mut tmp_files = TmpFiles(Vec::new());
    let tmp = tmp_files.path(root, "layer.tar");
    let step = Step::LayerTar {
        upper: c.dir(root).join("upper"),
        tar: tmp.clone(),
    };
    announce(observer, &step)?;
    {
        let file = std::fs::File::create(&tmp).context("temp file for the layer")?;
        let mut w = std::io::BufWriter::new(file);
        files::layer_tar(root, c, &mut w)?;
        std::io::Write::flush(&mut w)?;
    }
    observer.after(&step);
    let size = std::fs::metadata(&tmp)?.len();
    let diff_id = store_file(&store, observer, "layer", &tmp)?;

    let now = crate::container::now_rfc3339();
    let obj = config
        .as_object_mut()
        .context("parent image config is not an object")?;
    obj.insert("created".into(), json!(now));
    match &opts.author {
        Some(a) => obj.insert("author".into(), json!(a)),
        None => obj.remove("author"),
    };
    let cfg = obj.entry("config").or_insert_with(|| json!({}));
    if !cfg.is_object() {
        *cfg = json!({});
    }
    let cfg = cfg.as_object_mut().unwrap();
    // docker commit keeps the container's settings: its command (after the
    // image's entrypoint), environment (without what glassbox adds) and workdir.
    let entrypoint: Vec<String> = cfg
        .get("Entrypoint")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let cmd: Vec<String> = if c.command.starts_with(&entrypoint) {
        c.command[entrypoint.len()..].to_vec()
    } else {
        c.command.clone()
    };
    cfg.insert("Cmd".into(), json!(cmd));
    let env: Vec<&String> = c
        .config
        .env
        .iter()
        .filter(|e| !e.starts_with("HOSTNAME="))
        .collect();
    cfg.insert("Env".into(), json!(env));
    if c.config.working_dir != "/" && !c.config.working_dir.is_empty() {
        cfg.insert("WorkingDir".into(), json!(c.config.working_dir));
    }
    super::changes::apply_changes(cfg, &opts.changes)?;
    // The message is the image's `Comment` (docker's image config keeps it
    // at the top, besides the history entry), not the parent's.
    match opts.message.as_ref().filter(|m| !m.is_empty()) {
        Some(m) => obj.insert("comment".into(), json!(m)),
        None => obj.remove("comment"),
    };
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let ids = rootfs
        .as_object_mut()
        .context("rootfs is not an object")?
        .entry("diff_ids")
        .or_insert_with(|| json!([]));
    ids.as_array_mut()
        .context("diff_ids is not a list")?
        .push(json!(diff_id));
    let mut entry = json!({
        "created": now,
        "created_by": c.command.join(" "),
    });
    if let Some(a) = &opts.author {
        entry["author"] = json!(a);
    }
    if let Some(m) = opts.message.as_ref().filter(|m| !m.is_empty()) {
        entry["comment"] = json!(m);
    }
    let history = obj.entry("history").or_insert_with(|| json!([]));
    if !history.is_array() {
        *history = json!([]);
    }
    history.as_array_mut().unwrap().push(entry);

    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let config_bytes = serde_json::to_vec(&config)?;
    let config_tmp = tmp_files.path(root, "config.json");
    let config_digest = store_bytes(&store, observer, "config", &config_tmp, &config_bytes)?;
    let mut layers = parent_manifest.layers.clone();
    layers.push(Descriptor::new(MEDIA_OCI_LAYER, &diff_id, size));
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MEDIA_OCI_CONFIG, &config_digest, config_bytes.len() as u64),
        layers,
        extra: Default::default(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;

    // The new layer, unpacked into its own lower dir (a commit of the same
    // changes onto the same image finds it there already).
    let layer = LayerInfo {
        digest: diff_id.clone(),
        diff_id: diff_id.clone(),
        chain_id: chain_ids(&diff_ids)
            .pop()
            .unwrap_or_else(|| diff_id.clone()),
        media_type: MEDIA_OCI_LAYER.to_string(),
        size,
    };
    let unpack_step =
        |l: &LayerInfo, dir: &Path| Step::layer_unpack(l, store.blob_path(&l.digest), dir);
    if store.layer_meta(&layer).is_none() {
        let dir = root
            .join("layers")
            .join(layer.chain_id.trim_start_matches("sha256:"))
            .join("diff");
        let step = unpack_step(&layer, &dir);
        announce(observer, &step)?;
        // The simulated kernel reads layers from their blobs: the step is
        // shown (it is what the real runtime does) and is a no-op here.
        if !c.simulated {
            store.ensure_layer(&layer).context("unpack the new layer")?;
        }
        observer.after(&step);
    }

    // The manifest blob, then its name in index.json.
    let manifest_tmp = tmp_files.path(root, "manifest.json");
    std::fs::write(&manifest_tmp, &manifest_bytes)?;
    let manifest_digest = format!("sha256:{}", crate::fsutil::sha256_hex(&manifest_bytes));
    let mut descriptor = json!({
        "mediaType": MEDIA_OCI_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_bytes.len(),
    });
    if let Some(r) = &reference {
        descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: r.full() });
    }
    let step = Step::ImageAdd {
        manifest: manifest_tmp.clone(),
        manifest_blob: store.blob_path(&manifest_digest),
        descriptor: descriptor.to_string(),
        reference: reference.as_ref().map(|r| r.full()),
        index: root.join("index.json"),
    };
    announce(observer, &step)?;
    // (Every layer is unpacked by now: the parent's were, for the container.)
    let image = store
        .add_image_with(
            &manifest_bytes,
            reference.as_ref(),
            if c.simulated {
                Unpack::CheckOnly(vec![layer.digest.clone()])
            } else {
                Unpack::Yes
            },
            &mut |l, dir| {
                // (Nothing is unpacked on the simulated host: no step to show.)
                if c.simulated {
                    return Ok(());
                }
                let step = unpack_step(l, dir);
                observer.before(&step).map(|_| ())
            },
        )
        .context("add the committed image")?;
    observer.after(&step);
    Ok(image.id)
}
