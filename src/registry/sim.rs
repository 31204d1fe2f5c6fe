//! The simulated registry behind `--simulate pull`: no network at all. It
//! serves, for one repository, the images already in the local store (by
//! their full names) and glassbox's built-in busybox as
//! `docker.io/library/busybox:latest`, through the same [`Remote`] interface
//! as the HTTP client, so a simulated pull walks exactly the protocol steps
//! of a real one (ping, token for docker.io, manifest, blobs, unpack) and
//! its output is the same on every machine.

use super::client::{Challenge, ManifestResponse, RResult, RegistryError, Remote};
use crate::image::{Reference, Store};
use anyhow::Result;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;

enum Blob {
    File(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

pub struct SimRegistry {
    base: String,
    registry: String,
    repo: String,
    /// docker.io wants a token, as the real Docker Hub does.
    bearer: bool,
    /// tag or digest → (manifest bytes, media type)
    manifests: HashMap<String, (Arc<Vec<u8>>, String)>,
    blobs: HashMap<String, Blob>,
}

fn digest_of(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

impl SimRegistry {
    /// A registry for `reference`'s repository, serving what the store
    /// holds under that repository and the built-in image.
    pub fn for_reference(store: &Store, reference: &Reference, base: &str) -> Result<SimRegistry> {
        let mut sim = SimRegistry {
            base: base.trim_end_matches('/').to_string(),
            registry: reference.registry.clone(),
            repo: reference.repository.clone(),
            bearer: reference.registry == crate::image::reference::DEFAULT_REGISTRY,
            manifests: HashMap::new(),
            blobs: HashMap::new(),
        };
        let repo_name = reference.name();
        for img in store.images()? {
            let tags: Vec<Reference> = img
                .references
                .iter()
                .filter_map(|r| Reference::parse(r).ok())
                .filter(|r| r.name() == repo_name)
                .collect();
            if tags.is_empty() {
                continue;
            }
            let bytes = Arc::new(store.read_blob(&img.manifest_digest)?);
            let m = crate::image::Manifest::parse(&bytes)?;
            let mt = m
                .media_type
                .clone()
                .unwrap_or_else(|| crate::image::store::MEDIA_OCI_MANIFEST.to_string());
            for t in &tags {
                if let Some(tag) = &t.tag {
                    sim.manifests
                        .insert(tag.clone(), (bytes.clone(), mt.clone()));
                }
            }
            sim.manifests
                .insert(img.manifest_digest.clone(), (bytes.clone(), mt.clone()));
            for d in std::iter::once(&m.config).chain(&m.layers) {
                sim.blobs
                    .insert(d.digest.clone(), Blob::File(store.blob_path(&d.digest)));
            }
        }
        let default = Reference::parse(crate::image::embedded::DEFAULT_IMAGE)?;
        if reference.name() == default.name() && !sim.manifests.contains_key("latest") {
            if let Some(gz) = crate::image::embedded::default_rootfs() {
                let mut tar = Vec::new();
                flate2::read::GzDecoder::new(gz).read_to_end(&mut tar)?;
                let diff_id = digest_of(&tar);
                let (config, manifest) = crate::image::store::import_manifest(
                    &diff_id,
                    tar.len() as u64,
                    crate::image::embedded::default_import_config(),
                )?;
                let md = digest_of(&manifest);
                let manifest = Arc::new(manifest);
                let mt = crate::image::store::MEDIA_OCI_MANIFEST.to_string();
                sim.manifests
                    .insert("latest".into(), (manifest.clone(), mt.clone()));
                sim.manifests.insert(md, (manifest, mt));
                sim.blobs
                    .insert(digest_of(&config), Blob::Bytes(Arc::new(config)));
                sim.blobs.insert(diff_id, Blob::Bytes(Arc::new(tar)));
            }
        }
        Ok(sim)
    }

    /// The tags it serves (`GET /v2/<name>/tags/list`).
    pub fn tags(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .manifests
            .keys()
            .filter(|k| !k.starts_with("sha256:"))
            .cloned()
            .collect();
        t.sort();
        t
    }

    fn unknown(&self, what: &str) -> RegistryError {
        RegistryError::NotFound(format!("{what} unknown"))
    }
}

impl Remote for SimRegistry {
    fn base(&self) -> &str {
        &self.base
    }
    fn registry(&self) -> &str {
        &self.registry
    }
    fn repo(&self) -> &str {
        &self.repo
    }
    fn actions(&self) -> &str {
        "pull"
    }
    fn has_credentials(&self) -> bool {
        false
    }
    fn ping_challenge(&self) -> RResult<Option<Challenge>> {
        Ok(self.bearer.then(|| {
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#,
            )
        }))
    }
    fn answer(&self, _c: &Challenge) -> RResult<()> {
        Ok(())
    }
    fn open_manifest(&self, reference: &str) -> RResult<ManifestResponse> {
        let (bytes, mt) = self
            .manifests
            .get(reference)
            .ok_or_else(|| self.unknown("manifest"))?;
        Ok(ManifestResponse {
            media_type: mt.clone(),
            digest: Some(digest_of(bytes)),
            body: Box::new(Cursor::new(bytes.as_ref().clone())),
        })
    }
    fn get_blob(&self, digest: &str) -> RResult<(Box<dyn Read + Send + Sync>, Option<u64>)> {
        match self.blobs.get(digest) {
            Some(Blob::File(p)) => {
                let f = std::fs::File::open(p).map_err(|_| self.unknown("blob"))?;
                let len = f.metadata().ok().map(|m| m.len());
                Ok((Box::new(f), len))
            }
            Some(Blob::Bytes(b)) => {
                let len = b.len() as u64;
                Ok((Box::new(Cursor::new(b.as_ref().clone())), Some(len)))
            }
            None => Err(self.unknown("blob")),
        }
    }
}
