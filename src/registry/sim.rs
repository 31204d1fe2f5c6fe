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
    /// A registry the lesson made with a user list asks for Basic auth.
    gate: BasicGate,
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
        let auths = super::config::AuthFile::load(&store.root).unwrap_or_default();
        let mut sim = SimRegistry {
            base: base.trim_end_matches('/').to_string(),
            registry: reference.registry.clone(),
            repo: reference.repository.clone(),
            bearer: reference.registry == crate::image::reference::DEFAULT_REGISTRY,
            gate: BasicGate::new(
                &store.root,
                &reference.registry,
                auths.credentials(&reference.registry),
            ),
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
        self.gate.creds.is_some()
    }
    fn ping_challenge(&self) -> RResult<Option<Challenge>> {
        Ok(self
            .gate
            .challenge()
            .or(self.bearer.then(docker_hub_challenge)))
    }
    fn answer(&self, c: &Challenge) -> RResult<()> {
        self.gate.answer(c, &self.registry)
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
    gate: BasicGate,
}

impl SimPushTarget {
    pub fn new(root: &Path, reference: &Reference, base: &str) -> SimPushTarget {
        SimPushTarget {
            root: root.to_path_buf(),
            base: base.trim_end_matches('/').to_string(),
            registry: reference.registry.clone(),
            repo: reference.repository.clone(),
            bearer: reference.registry == crate::image::reference::DEFAULT_REGISTRY,
            gate: BasicGate::new(
                root,
                &reference.registry,
                super::config::AuthFile::load(root)
                    .unwrap_or_default()
                    .credentials(&reference.registry),
            ),
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
        self.gate.creds.is_some()
    }
    fn ping_challenge(&self) -> RResult<Option<Challenge>> {
        Ok(self
            .gate
            .challenge()
            .or(self.bearer.then(docker_hub_challenge)))
    }
    fn answer(&self, c: &Challenge) -> RResult<()> {
        self.gate.answer(c, &self.registry)
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

// ---- users, login, and the read-only API a learner reads with curl -------

/// The simulated registry's users for one registry host (what an htpasswd
/// file is to docker-registry): `registry/users/<host>.json`, user → sha256
/// of the password. A registry with this file asks for Basic auth.
fn users_file(root: &Path, registry: &str) -> PathBuf {
    registry_dir(root)
        .join("users")
        .join(format!("{}.json", registry.replace('/', "_")))
}

fn password_hash(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

/// Make the simulated registry at `registry` ask for a login as `user`.
pub fn add_user(root: &Path, registry: &str, user: &str, password: &str) -> Result<()> {
    let file = users_file(root, registry);
    let mut users: HashMap<String, String> = if file.exists() {
        crate::fsutil::read_json(&file)?
    } else {
        HashMap::new()
    };
    users.insert(user.to_string(), password_hash(password));
    std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
    crate::fsutil::write_json(&file, &users)
}

/// Forget a simulated registry: its users and everything pushed to it.
pub fn remove_registry(root: &Path, registry: &str) -> Result<()> {
    let _ = std::fs::remove_file(users_file(root, registry));
    let repos = registry_dir(root).join("repositories").join(registry);
    if repos.exists() {
        std::fs::remove_dir_all(&repos)?;
    }
    Ok(())
}

/// Basic auth as docker-registry's htpasswd does it: only when the
/// registry has users, and then every request needs a right user:password.
struct BasicGate {
    users: Option<HashMap<String, String>>,
    creds: Option<(String, String)>,
}

impl BasicGate {
    fn new(root: &Path, registry: &str, creds: Option<(String, String)>) -> BasicGate {
        let users = crate::fsutil::read_json(&users_file(root, registry)).ok();
        BasicGate { users, creds }
    }
    fn challenge(&self) -> Option<Challenge> {
        self.users
            .as_ref()
            .map(|_| Challenge::parse(r#"Basic realm="glassbox-lesson""#))
    }
    fn allows(&self, creds: Option<&(String, String)>) -> bool {
        match (&self.users, creds) {
            (None, _) => true,
            (Some(users), Some((u, p))) => users.get(u) == Some(&password_hash(p)),
            (Some(_), None) => false,
        }
    }
    fn answer(&self, c: &Challenge, registry: &str) -> RResult<()> {
        if c.scheme != "basic" {
            return Ok(()); // the simulated Docker Hub's token is always granted
        }
        match &self.creds {
            None => Err(RegistryError::Unauthorized(format!(
                "{registry}: authentication required (glassbox login {registry})"
            ))),
            Some(_) if !self.allows(self.creds.as_ref()) => Err(RegistryError::Unauthorized(
                "authentication required".into(),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// `login` against the simulated registry: `GET /v2/` with the credentials.
pub fn login(root: &Path, registry: &str, user: &str, password: &str) -> RResult<()> {
    let gate = BasicGate::new(
        root,
        registry,
        Some((user.to_string(), password.to_string())),
    );
    match gate.challenge() {
        Some(c) => gate.answer(&c, registry),
        None => Ok(()),
    }
}

/// An HTTP GET of the simulated registry's read-only API, as `curl` would
/// see it: `/v2/`, `/v2/_catalog`, `/v2/<name>/tags/list`, and a manifest
/// (its digest in `Docker-Content-Digest`). Returns (status, headers, body).
pub fn http_get(
    root: &Path,
    registry: &str,
    path: &str,
    creds: Option<(String, String)>,
) -> (u16, Vec<(String, String)>, String) {
    let gate = BasicGate::new(root, registry, None);
    let json = vec![("Content-Type".to_string(), "application/json".to_string())];
    if !gate.allows(creds.as_ref()) {
        let mut h = json;
        h.push((
            "Www-Authenticate".into(),
            r#"Basic realm="glassbox-lesson""#.into(),
        ));
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        return (401, h, format!("{body}\n"));
    }
    let not_found = |code: &str, what: &str| {
        (
            404,
            vec![("Content-Type".to_string(), "application/json".to_string())],
            format!("{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"{what} unknown\"}}]}}\n"),
        )
    };
    let repos_dir = registry_dir(root).join("repositories").join(registry);
    let path = path.split('?').next().unwrap_or(path);
    if path == "/v2/" || path == "/v2" {
        return (200, json, "{}\n".into());
    }
    if path == "/v2/_catalog" {
        let mut repos = Vec::new();
        collect_repos(&repos_dir, "", &mut repos);
        repos.sort();
        let body = format!("{}\n", serde_json::json!({ "repositories": repos }));
        return (200, json, body);
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return not_found("NOT_FOUND", "path");
    };
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let dir = repos_dir.join(name).join("tags");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return not_found("NAME_UNKNOWN", "repository name");
        };
        let mut tags: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|t| !t.starts_with('.'))
            .collect();
        tags.sort();
        let body = format!("{}\n", serde_json::json!({ "name": name, "tags": tags }));
        return (200, json, body);
    }
    if let Some((name, reference)) = rest.split_once("/manifests/") {
        let tag = repos_dir.join(name).join("tags").join(reference);
        let digest = match crate::fsutil::read_json::<PushedTag>(&tag) {
            Ok(t) => t.digest,
            Err(_) if reference.starts_with("sha256:") => reference.to_string(),
            Err(_) => return not_found("MANIFEST_UNKNOWN", "manifest"),
        };
        return match std::fs::read(registry_blob(root, &digest)) {
            Ok(bytes) => {
                let mt = crate::image::Manifest::parse(&bytes)
                    .ok()
                    .and_then(|m| m.media_type)
                    .unwrap_or_else(|| crate::image::store::MEDIA_OCI_MANIFEST.to_string());
                (
                    200,
                    vec![
                        ("Content-Type".to_string(), mt),
                        ("Docker-Content-Digest".to_string(), digest),
                    ],
                    String::from_utf8_lossy(&bytes).into_owned(),
                )
            }
            Err(_) => not_found("MANIFEST_UNKNOWN", "manifest"),
        };
    }
    not_found("NOT_FOUND", "path")
}

/// Every repository (a directory holding `tags/`) under `dir`, by name.
fn collect_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "tags" || name == "blobs" || !e.path().is_dir() {
            continue;
        }
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if e.path().join("tags").is_dir() {
            out.push(full.clone());
        }
        collect_repos(&e.path(), &full, out);
    }
}
