//! The simulated registry behind `--simulate pull` and `--simulate push`:
//! no network at all. It serves, for one repository, what was pushed to it
//! (kept in `<simulated store>/registry/`: `blobs/sha256/<hex>` and
//! `repositories/<registry>/<repository>/tags/<tag>`, a small JSON naming
//! the manifest's digest and media type), the images the lessons name
//! (`image::sim_images`: debian), glassbox's built-in busybox as
//! `docker.io/library/busybox:latest`, and the images already in the local
//! store (by their full names), through the same [`Remote`] interface as the
//! HTTP client, so a simulated pull walks exactly the protocol steps of a
//! real one (ping, token for docker.io, manifest, blobs, unpack) and its
//! output is the same on every machine. `system reset` leaves it alone: it
//! stands for a registry elsewhere.

use super::client::{Challenge, ManifestResponse, RResult, RegistryError, Remote};
use crate::image::{Reference, Store};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
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

/// A tag pushed to the simulated registry.
#[derive(Serialize, Deserialize)]
struct PushedTag {
    digest: String,
    media_type: String,
}

/// The simulated registry's own directory in the simulated store at `root`.
pub fn registry_dir(root: &Path) -> PathBuf {
    root.join("registry")
}

fn tags_dir(root: &Path, registry: &str, repo: &str) -> PathBuf {
    registry_dir(root)
        .join("repositories")
        .join(registry)
        .join(repo)
        .join("tags")
}

/// A repository's link to a blob: a registry answers a blob `HEAD` per
/// repository, so a layer pushed to one repository is pushed again to another.
fn blob_link(root: &Path, registry: &str, repo: &str, digest: &str) -> PathBuf {
    tags_dir(root, registry, repo)
        .with_file_name("blobs")
        .join(digest.trim_start_matches("sha256:"))
}

fn registry_blob(root: &Path, digest: &str) -> PathBuf {
    registry_dir(root)
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
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
        sim.add_pushed(&store.root)?;
        if sim.bearer {
            if let Some(image) = crate::image::sim_images::find(&reference.repository) {
                let tar = image.layer_tar()?;
                sim.add_built(image.tags, tar, image.import_config())?;
            }
        }
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
                        .entry(tag.clone())
                        .or_insert_with(|| (bytes.clone(), mt.clone()));
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
                sim.add_built(
                    &["latest"],
                    tar,
                    crate::image::embedded::default_import_config(),
                )?;
            }
        }
        Ok(sim)
    }

    /// What was pushed to this repository.
    fn add_pushed(&mut self, root: &Path) -> Result<()> {
        let dir = tags_dir(root, &self.registry, &self.repo);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let tag = e.file_name().to_string_lossy().into_owned();
            if tag.starts_with('.') {
                continue;
            }
            let t: PushedTag = crate::fsutil::read_json(&e.path())?;
            let bytes = Arc::new(std::fs::read(registry_blob(root, &t.digest))?);
            let m = crate::image::Manifest::parse(&bytes)?;
            for d in std::iter::once(&m.config).chain(&m.layers) {
                self.blobs
                    .insert(d.digest.clone(), Blob::File(registry_blob(root, &d.digest)));
            }
            self.manifests
                .insert(t.digest.clone(), (bytes.clone(), t.media_type.clone()));
            self.manifests.insert(tag, (bytes, t.media_type));
        }
        Ok(())
    }

    /// A one-layer image built here (the built-in busybox, the lessons'
    /// images), under `tags` unless something was pushed there.
    fn add_built(
        &mut self,
        tags: &[&str],
        tar: Vec<u8>,
        config: crate::image::ImportConfig,
    ) -> Result<()> {
        let diff_id = digest_of(&tar);
        let (config, manifest) =
            crate::image::store::import_manifest(&diff_id, tar.len() as u64, config)?;
        let md = digest_of(&manifest);
        let manifest = Arc::new(manifest);
        let mt = crate::image::store::MEDIA_OCI_MANIFEST.to_string();
        for t in tags {
            self.manifests
                .entry(t.to_string())
                .or_insert_with(|| (manifest.clone(), mt.clone()));
        }
        self.manifests.insert(md, (manifest, mt));
        self.blobs
            .insert(digest_of(&config), Blob::Bytes(Arc::new(config)));
        self.blobs.insert(diff_id, Blob::Bytes(Arc::new(tar)));
        Ok(())
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
        Ok(self.bearer.then(docker_hub_challenge))
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

/// The simulated registry as a push sees it: blobs and tags written into
/// its directory in the simulated store (temp file and rename, so a killed
/// push leaves no half blob and no tag naming a missing manifest).
pub struct SimPushTarget {
    root: PathBuf,
    base: String,
    registry: String,
    repo: String,
    bearer: bool,
}

impl SimPushTarget {
    pub fn new(root: &Path, reference: &Reference, base: &str) -> SimPushTarget {
        SimPushTarget {
            root: root.to_path_buf(),
            base: base.trim_end_matches('/').to_string(),
            registry: reference.registry.clone(),
            repo: reference.repository.clone(),
            bearer: reference.registry == crate::image::reference::DEFAULT_REGISTRY,
        }
    }

    fn link(&self, digest: &str) -> PathBuf {
        blob_link(&self.root, &self.registry, &self.repo, digest)
    }

    fn io(&self, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Other(format!("the simulated registry: {e}"))
    }
}

impl Remote for SimPushTarget {
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
        "pull,push"
    }
    fn has_credentials(&self) -> bool {
        false
    }
    fn ping_challenge(&self) -> RResult<Option<Challenge>> {
        Ok(self.bearer.then(docker_hub_challenge))
    }
    fn answer(&self, _c: &Challenge) -> RResult<()> {
        Ok(())
    }
    fn open_manifest(&self, _reference: &str) -> RResult<ManifestResponse> {
        Err(RegistryError::NotFound("manifest unknown".into()))
    }
    fn get_blob(&self, _digest: &str) -> RResult<(Box<dyn Read + Send + Sync>, Option<u64>)> {
        Err(RegistryError::NotFound("blob unknown".into()))
    }
}

impl super::push::PushRemote for SimPushTarget {
    fn has_blob(&self, digest: &str) -> RResult<bool> {
        Ok(self.link(digest).exists() && registry_blob(&self.root, digest).exists())
    }
    fn upload_blob(&self, digest: &str, source: &Path, _len: u64) -> RResult<()> {
        let dest = registry_blob(&self.root, digest);
        let data = std::fs::read(source).map_err(|e| self.io(e))?;
        if digest_of(&data) != digest {
            return Err(self.io(format!("blob {digest} does not match its content")));
        }
        for file in [&dest, &self.link(digest)] {
            std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))
                .map_err(|e| self.io(e))?;
        }
        crate::fsutil::atomic_write(&dest, &data).map_err(|e| self.io(e))?;
        crate::fsutil::atomic_write(&self.link(digest), b"").map_err(|e| self.io(e))
    }
    fn put_manifest(&self, tag: &str, media_type: &str, bytes: &[u8]) -> RResult<Option<String>> {
        let digest = digest_of(bytes);
        let m = crate::image::Manifest::parse(bytes).map_err(|e| self.io(e))?;
        if let Some(d) = std::iter::once(&m.config)
            .chain(&m.layers)
            .find(|d| !self.has_blob(&d.digest).unwrap_or(false))
        {
            return Err(RegistryError::Other(format!(
                "manifest blob unknown: {} was not pushed",
                d.digest
            )));
        }
        let dest = registry_blob(&self.root, &digest);
        std::fs::create_dir_all(dest.parent().unwrap_or(Path::new("."))).map_err(|e| self.io(e))?;
        crate::fsutil::atomic_write(&dest, bytes).map_err(|e| self.io(e))?;
        let dir = tags_dir(&self.root, &self.registry, &self.repo);
        std::fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        crate::fsutil::write_json(
            &dir.join(tag),
            &PushedTag {
                digest: digest.clone(),
                media_type: media_type.to_string(),
            },
        )
        .map_err(|e| self.io(e))?;
        Ok(Some(digest))
    }
}

/// What Docker Hub answers an anonymous `GET /v2/`: the simulated registry
/// asks for a token the same way (pull and push), so the narration shows
/// the token step a learner will meet on the real Hub.
fn docker_hub_challenge() -> Challenge {
    Challenge::parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#)
}
