//! `docker push`: blobs first (each skipped if the registry has it: `HEAD`),
//! uploaded monolithically (`POST .../blobs/uploads/` then
//! `PUT <location>?digest=`), then the manifest, byte for byte as stored, so
//! its digest on the registry is the one in our store.

use super::client::{Body, Client, RResult, RegistryError, Remote};
use super::config::{AuthFile, RegistryConfig};
use super::DOCKER_HUB_BASE;
use super::{connect, observe, ConnectError};
use crate::error::ExitError;
use crate::image::store::MEDIA_OCI_MANIFEST;
use crate::image::{Manifest, Reference, Store};
use crate::kernel::StepObserver;
use crate::step::Step;
use anyhow::{anyhow, Context, Result};
use std::io::Write;
use std::path::Path;

fn daemon_error(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(1, format!("Error: {msg}")))
}

/// The base URL for talking to `registry` (no mirrors: pushes go to the source).
pub fn base_url(cfg: &RegistryConfig, registry: &str) -> String {
    if registry == crate::image::reference::DEFAULT_REGISTRY {
        DOCKER_HUB_BASE.to_string()
    } else {
        format!("{}://{registry}", cfg.scheme_for(registry))
    }
}

/// What a push needs from a registry beyond a pull's: the HTTP [`Client`],
/// or the simulated registry (`super::sim::SimPushTarget`).
pub trait PushRemote: Remote {
    /// `HEAD /v2/<repo>/blobs/<digest>`
    fn has_blob(&self, digest: &str) -> RResult<bool>;
    /// `POST /v2/<repo>/blobs/uploads/` then `PUT <location>?digest=`
    fn upload_blob(&self, digest: &str, source: &Path, len: u64) -> RResult<()>;
    /// `PUT /v2/<repo>/manifests/<tag>`: the digest the registry stored it under.
    fn put_manifest(&self, tag: &str, media_type: &str, bytes: &[u8]) -> RResult<Option<String>>;
}

impl PushRemote for Client {
    fn has_blob(&self, digest: &str) -> RResult<bool> {
        Client::has_blob(self, digest)
    }
    fn upload_blob(&self, digest: &str, source: &Path, len: u64) -> RResult<()> {
        Client::upload_blob(self, digest, &Body::File(source.to_path_buf(), len))
    }
    fn put_manifest(&self, tag: &str, media_type: &str, bytes: &[u8]) -> RResult<Option<String>> {
        Client::put_manifest(self, tag, media_type, bytes)
    }
}

/// Push `name` (which must name an image in the store) to its registry.
/// Returns the manifest digest.
pub fn push(root: &Path, name: &str, quiet: bool, out: &mut dyn Write) -> Result<String> {
    push_observed(root, name, quiet, false, out, &mut crate::kernel::Silent)
}

const PUSH_ABORTED: &str = "the registry may hold some of the blobs, but no manifest names them";

/// `push`, showing each protocol step to `obs` before it happens.
pub fn push_observed(
    root: &Path,
    name: &str,
    quiet: bool,
    simulate: bool,
    out: &mut dyn Write,
    obs: &mut dyn StepObserver,
) -> Result<String> {
    let reference = Reference::parse(name).map_err(daemon_error)?;
    if reference.digest.is_some() {
        return Err(daemon_error(format!(
            "cannot push a digest reference ({reference}): push a tag"
        )));
    }
    let store = Store::open(root)?;
    let img = store.resolve(&reference.full())?.ok_or_else(|| {
        daemon_error(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_repo()
        ))
    })?;
    let cfg = RegistryConfig::load(root)?;
    let auths = AuthFile::load(root).unwrap_or_default();
    let base = base_url(&cfg, &reference.registry);
    // Simulated pushes go to the simulated registry, never the network.
    let client: Box<dyn PushRemote> = if simulate {
        Box::new(super::sim::SimPushTarget::new(root, &reference, &base))
    } else {
        Box::new(Client::new(
            &base,
            &reference.registry,
            &reference.repository,
            "pull,push",
            auths.credentials(&reference.registry),
        ))
    };
    let client = client.as_ref();
    let manifest_bytes = std::fs::read(store.blob_path(&img.manifest_digest))
        .with_context(|| format!("manifest {} is missing from the store", img.manifest_digest))?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    if !quiet {
        writeln!(out, "The push refers to repository [{}]", reference.name())?;
    }
    let reg = |e: RegistryError| daemon_error(e);
    connect(client, obs, PUSH_ABORTED).map_err(|e| match e {
        ConnectError::Registry(r) => reg(r),
        ConnectError::Local(l) => l,
    })?;
    let repo = reference.repository.clone();
    // One blob: ask whether the registry has it (HEAD), upload it if not.
    // Returns whether it was uploaded.
    let send_blob = |digest: &str, obs: &mut dyn StepObserver| -> Result<bool> {
        let check = Step::BlobCheck {
            repository: repo.clone(),
            digest: digest.to_string(),
            url: client.url(&format!("/v2/{repo}/blobs/{digest}")),
        };
        observe(obs, &check, PUSH_ABORTED)?;
        if client.has_blob(digest).map_err(reg)? {
            obs.after(&check);
            return Ok(false);
        }
        obs.after(&check);
        let path = store.blob_path(digest);
        let len = std::fs::metadata(&path)
            .with_context(|| format!("blob {digest} is missing from the store"))?
            .len();
        let upload = Step::BlobUpload {
            repository: repo.clone(),
            digest: digest.to_string(),
            size: len,
            url: client.url(&format!("/v2/{repo}/blobs/uploads/")),
            source: path.clone(),
        };
        observe(obs, &upload, PUSH_ABORTED)?;
        client.upload_blob(digest, &path, len).map_err(reg)?;
        obs.after(&upload);
        Ok(true)
    };
    // docker lists the top layer first
    for l in manifest.layers.iter().rev() {
        let id = &l.digest[7..19];
        let pushed = send_blob(&l.digest, obs)?;
        if !quiet {
            if pushed {
                writeln!(out, "{id}: Pushed")?;
            } else {
                writeln!(out, "{id}: Layer already exists")?;
            }
        }
    }
    send_blob(&manifest.config.digest, obs)?;
    let mt = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string());
    let tag = reference.tag_or_latest();
    let put = Step::ManifestPut {
        repository: repo.clone(),
        tag: tag.to_string(),
        media_type: mt.clone(),
        digest: img.manifest_digest.clone(),
        size: manifest_bytes.len() as u64,
        url: client.url(&format!("/v2/{repo}/manifests/{tag}")),
        source: store.blob_path(&img.manifest_digest),
    };
    observe(obs, &put, PUSH_ABORTED)?;
    let got = client
        .put_manifest(tag, &mt, &manifest_bytes)
        .map_err(reg)?;
    obs.after(&put);
    if let Some(g) = &got {
        if g != &img.manifest_digest {
            return Err(anyhow!(
                "the registry stored the manifest under {g}, expected {}",
                img.manifest_digest
            ));
        }
    }
    if !quiet {
        writeln!(
            out,
            "{tag}: digest: {} size: {}",
            img.manifest_digest,
            manifest_bytes.len()
        )?;
    }
    Ok(img.manifest_digest)
}

/// `docker login`: check the credentials against `/v2/` (Basic, or a token
/// fetched with them) and store them in `<root>/auth.json` (0600).
pub fn login(root: &Path, registry: &str, user: &str, password: &str) -> Result<()> {
    let registry = super::config::normalize_registry(registry);
    let cfg = RegistryConfig::load(root)?;
    let client = Client::new(
        &base_url(&cfg, &registry),
        &registry,
        // No repository: the token (if any) is for the registry itself.
        "",
        "pull",
        Some((user.to_string(), password.to_string())),
    );
    client.ping().map_err(daemon_error)?;
    // ping authenticated if challenged; confirm the credentials are accepted.
    client
        .send("GET", "/v2/", &[], &Body::Empty)
        .map_err(|e| match e {
            RegistryError::Unauthorized(m) => {
                daemon_error(format!("login attempt to {registry} failed: {m}"))
            }
            RegistryError::NotFound(_) => daemon_error("unexpected 404 on /v2/"),
            other => daemon_error(other),
        })
        .or_else(|e| {
            // Some registries 404 on /v2/ after auth; only auth failures count.
            if e.to_string().contains("unexpected 404") {
                Ok(ureq::Response::new(200, "OK", "").unwrap())
            } else {
                Err(e)
            }
        })?;
    let mut a = AuthFile::load(root)?;
    a.set(&registry, user, password);
    a.save(root)?;
    Ok(())
}

/// `docker logout`: returns whether credentials were stored.
pub fn logout(root: &Path, registry: &str) -> Result<bool> {
    let mut a = AuthFile::load(root)?;
    let had = a.remove(registry);
    if had {
        a.save(root)?;
    }
    Ok(had)
}
