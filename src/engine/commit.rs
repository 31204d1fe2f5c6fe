//! `commit`: a container's upper dir becomes a new image layer on top of its
//! image's layers.
//!
//! The layer is a plain tar of the upper dir (whiteouts as `.wh.NAME`,
//! opaque directories as `.wh..wh..opq`, see `files::layer_tar`), stored
//! uncompressed so its blob digest is its diff id. The config is the parent
//! image's, with the container's command, environment and working directory
//! (as docker's commit does), the `-c` changes on top, the new diff id
//! appended to `rootfs.diff_ids` and a history entry. Everything goes in
//! through the image store's own API (`ingest_blob`, `put_blob`,
//! `add_image`), which also unpacks and checks the new layer.

use super::files;
use crate::container::Container;
use crate::image::store::{
    Descriptor, Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST,
};
use crate::image::{ImportConfig, Reference, Store};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// `-a`: the image's author.
    pub author: Option<String>,
    /// `-c`: parsed Dockerfile instructions (CMD, ENTRYPOINT, ENV, WORKDIR, USER).
    pub changes: ImportConfig,
    /// REPOSITORY[:TAG]; none gives an untagged image.
    pub reference: Option<String>,
}

/// Commit the container; returns the new image's id (`sha256:...`).
pub fn commit(root: &Path, c: &Container, opts: &CommitOptions) -> Result<String> {
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
    let parent = store.resolve(&c.image_id)?.with_context(|| {
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
    // (`.tmp-<pid>-...`: the store removes it if this process dies mid-way.)
    let tmp = root.join(format!(".tmp-{}-commit-layer.tar", std::process::id()));
    let made = (|| -> Result<(u64, String)> {
        let file = std::fs::File::create(&tmp).context("temp file for the layer")?;
        let mut w = std::io::BufWriter::new(file);
        files::layer_tar(root, c, &mut w)?;
        std::io::Write::flush(&mut w)?;
        drop(w);
        let size = std::fs::metadata(&tmp)?.len();
        Ok((
            size,
            store.ingest_blob(std::fs::File::open(&tmp)?, None, None)?,
        ))
    })();
    let _ = std::fs::remove_file(&tmp);
    let (size, diff_id) = made?;

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
    let ch = &opts.changes;
    if let Some(v) = &ch.cmd {
        cfg.insert("Cmd".into(), json!(v));
    }
    if let Some(v) = &ch.entrypoint {
        cfg.insert("Entrypoint".into(), json!(v));
    }
    if !ch.env.is_empty() {
        let mut env: Vec<String> = cfg
            .get("Env")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        for kv in &ch.env {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        cfg.insert("Env".into(), json!(env));
    }
    if let Some(v) = &ch.working_dir {
        cfg.insert("WorkingDir".into(), json!(v));
    }
    if let Some(v) = &ch.user {
        cfg.insert("User".into(), json!(v));
    }
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

    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = store.put_blob(&config_bytes)?;
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
    let image = store
        .add_image(&manifest_bytes, reference.as_ref())
        .context("add the committed image")?;
    Ok(image.id)
}
