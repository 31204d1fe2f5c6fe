//! The distribution client: what `docker pull` and `docker push` do on the wire.
//!
//! A pull is: ping `/v2/` (and authenticate, see [`client`]), GET the
//! manifest by tag (asking for every manifest kind we understand); if it is
//! an index (multi-platform), pick this platform's entry and GET that
//! manifest by digest; download the config and the layers that are not in
//! the store yet (up to three at once), each checked against its digest and
//! size before it is renamed into place; then let the store unpack the layers
//! (checking each against the config's `diff_ids`) and name the image. An
//! interrupted pull leaves only temp files, which the next `Store::open`
//! removes.
//!
//! - [`client`]: HTTP, auth, error classification
//! - [`config`]: `config.toml` (mirrors, insecure registries) and `auth.json`
//! - [`push`]: blobs then manifest
//! - [`sim`]: the simulated registry of `--simulate pull` (serves the store)
//! - [`search`]: `search` through `/v2/_catalog`
//!
//! Each protocol step is a [`Step`] shown to a [`StepObserver`] before it
//! happens (`registry_ping`, `registry_token`, `manifest_fetch`,
//! `blob_fetch`, `layer_unpack`; for push `blob_check`, `blob_upload`,
//! `manifest_put`), so `--explain`, `--step` and `--trace-json` cover pulls
//! and pushes too. These are not kernel steps: no `Kernel` sees them.

pub mod client;
pub mod config;
pub mod push;
pub mod search;
pub mod sim;

use crate::error::ExitError;
use crate::image::store::{MEDIA_DOCKER_MANIFEST_LIST, MEDIA_OCI_INDEX};
use crate::image::{host_arch, Image, Manifest, Reference, Store};
use crate::kernel::{Go, Silent, StepObserver};
use crate::step::Step;
use anyhow::{anyhow, bail, Context, Result};
use client::{Client, RegistryError, Remote};
use config::{AuthFile, RegistryConfig};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest as _, Sha256};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

/// Where docker.io images really come from.
pub const DOCKER_HUB_BASE: &str = "https://registry-1.docker.io";

/// At most this many layers download at once (docker's default is 3).
pub const MAX_CONCURRENT_DOWNLOADS: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; default linux/<host arch>.
    pub platform: Option<String>,
    /// Print only the final reference.
    pub quiet: bool,
    /// `--simulate`: pull from the simulated registry ([`sim`]), no network.
    pub simulate: bool,
    /// A `run`'s pull: docker's run ends it at the Status line, without
    /// the full reference a `pull` prints last.
    pub for_run: bool,
}

/// A platform: `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: host_arch().into(),
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let bad = || anyhow!("invalid platform {s:?}: want os/arch[/variant], e.g. linux/arm64");
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(v.to_string())),
            // docker accepts a bare arch too
            [arch] if !arch.is_empty() => ("linux", *arch, None),
            _ => return Err(bad()),
        };
        if os.is_empty() || arch.is_empty() || variant.as_deref() == Some("") {
            return Err(bad());
        }
        let arch = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        };
        Ok(Platform {
            os: os.to_ascii_lowercase(),
            arch,
            variant: variant.map(|v| v.to_ascii_lowercase()),
        })
    }

    /// Does an index entry's platform object match? arm64's "v8" variant is
    /// the default and may be omitted on either side.
    pub fn matches(&self, p: &serde_json::Value) -> bool {
        let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
        if s("os") != self.os || s("architecture") != self.arch {
            return false;
        }
        let norm = |v: &str| -> String {
            match (self.arch.as_str(), v) {
                ("arm64", "") => "v8".into(),
                _ => v.to_string(),
            }
        };
        match &self.variant {
            None => true,
            Some(want) => norm(s("variant")) == norm(want),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Pick one manifest out of an index for `want`. Attestation entries (buildkit's
/// provenance/SBOM manifests, platform unknown/unknown) never match.
pub fn select_platform(index: &serde_json::Value, want: &Platform) -> Result<(String, u64)> {
    let entries = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .ok_or_else(|| anyhow!("manifest list has no manifests"))?;
    let mut candidates = Vec::new();
    for e in entries {
        let ann = e.get("annotations");
        if ann
            .and_then(|a| a.get("vnd.docker.reference.type"))
            .and_then(|v| v.as_str())
            == Some("attestation-manifest")
        {
            continue;
        }
        let Some(p) = e.get("platform") else { continue };
        if p.get("os").and_then(|v| v.as_str()) == Some("unknown") {
            continue;
        }
        if want.matches(p) {
            candidates.push(e);
        }
    }
    // Prefer an exact variant match when the caller gave none (arm/v7 vs v6: take the first).
    let e = candidates
        .first()
        .ok_or_else(|| anyhow!("no matching manifest for {want} in the manifest list entries"))?;
    let digest = e
        .get("digest")
        .and_then(|d| d.as_str())
        .ok_or_else(|| anyhow!("manifest list entry without a digest"))?;
    if !crate::image::reference::valid_digest(digest) {
        bail!("manifest list entry has an unsupported digest {digest:?}");
    }
    let size = e.get("size").and_then(|s| s.as_u64()).unwrap_or(0);
    Ok((digest.to_string(), size))
}

fn sha256_digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn daemon_error(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(1, format!("Error: {msg}")))
}

/// Show `step` to the observer before it happens. An abort (step-through
/// `q`) ends the pull or push there, with `what` saying what was left.
pub(crate) fn observe(obs: &mut dyn StepObserver, step: &Step, what: &str) -> Result<()> {
    match obs.before(step)? {
        Go::Run => Ok(()),
        Go::Abort => Err(anyhow::Error::new(ExitError::new(
            1,
            format!("aborted before step {}; {what}", step.kind()),
        ))),
    }
}

const PULL_ABORTED: &str = "the image was not added (blobs already downloaded stay in the store)";

/// `GET /v2/` and, when challenged, authentication: each a step.
pub(crate) fn connect(
    remote: &dyn Remote,
    obs: &mut dyn StepObserver,
    what: &str,
) -> std::result::Result<(), ConnectError> {
    let ping = Step::RegistryPing {
        registry: remote.registry().to_string(),
        url: remote.url("/v2/"),
    };
    observe(obs, &ping, what).map_err(ConnectError::Local)?;
    let challenge = remote.ping_challenge().map_err(ConnectError::Registry)?;
    obs.after(&ping);
    if let Some(c) = challenge {
        if c.scheme == "bearer" {
            let scope = if remote.repo().is_empty() {
                String::new()
            } else {
                format!("repository:{}:{}", remote.repo(), remote.actions())
            };
            let token = Step::RegistryToken {
                registry: remote.registry().to_string(),
                realm: c.param("realm").unwrap_or_default().to_string(),
                service: c.param("service").map(str::to_string),
                scope,
                with_credentials: remote.has_credentials(),
            };
            observe(obs, &token, what).map_err(ConnectError::Local)?;
            remote.answer(&c).map_err(ConnectError::Registry)?;
            obs.after(&token);
        } else {
            remote.answer(&c).map_err(ConnectError::Registry)?;
        }
    }
    Ok(())
}

pub(crate) enum ConnectError {
    Registry(RegistryError),
    Local(anyhow::Error),
}

impl From<ConnectError> for PullError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Registry(r) => PullError::Registry(r),
            ConnectError::Local(l) => PullError::Local(l),
        }
    }
}

/// GET a manifest, reported as a step once the registry's headers say
/// which media type it chose; returns its bytes and media type.
fn fetch_manifest(
    remote: &dyn Remote,
    reference: &str,
    platform: Option<&Platform>,
    obs: &mut dyn StepObserver,
) -> std::result::Result<(Vec<u8>, String), PullError> {
    let resp = remote.open_manifest(reference)?;
    let step = Step::ManifestFetch {
        repository: remote.repo().to_string(),
        reference: reference.to_string(),
        url: remote.url(&format!("/v2/{}/manifests/{reference}", remote.repo())),
        media_type: resp.media_type.clone(),
        digest: resp.digest.clone(),
        platform: platform.map(|p| p.to_string()),
    };
    observe(obs, &step, PULL_ABORTED).map_err(PullError::Local)?;
    let mut bytes = Vec::new();
    resp.body
        .take(8 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Other(format!("read manifest {reference}: {e}")))?;
    obs.after(&step);
    Ok((bytes, resp.media_type))
}

fn blob_step(remote: &dyn Remote, store: &Store, d: &crate::image::Descriptor) -> Step {
    Step::BlobFetch {
        repository: remote.repo().to_string(),
        digest: d.digest.clone(),
        size: d.size,
        media_type: d.media_type.clone(),
        url: remote.url(&format!("/v2/{}/blobs/{}", remote.repo(), d.digest)),
        dest: store.blob_path(&d.digest),
    }
}

/// One place a repository can be pulled from.
struct Endpoint {
    base: String,
    /// Key for credentials and messages.
    registry: String,
    mirror: bool,
}

fn endpoints(cfg: &RegistryConfig, r: &Reference) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if r.registry == crate::image::reference::DEFAULT_REGISTRY {
        for m in &cfg.registry_mirrors {
            let base = m.trim_end_matches('/').to_string();
            let host = config::normalize_registry(&base);
            out.push(Endpoint {
                base,
                registry: host,
                mirror: true,
            });
        }
        out.push(Endpoint {
            base: DOCKER_HUB_BASE.into(),
            registry: r.registry.clone(),
            mirror: false,
        });
    } else {
        out.push(Endpoint {
            base: format!("{}://{}", cfg.scheme_for(&r.registry), r.registry),
            registry: r.registry.clone(),
            mirror: false,
        });
    }
    out
}

/// Is there somewhere to pull `r` from without going to the internet's
/// docker.io? (A non-docker.io registry named in the reference, or a mirror.)
pub fn can_pull(root: &Path, r: &Reference) -> bool {
    if r.registry != crate::image::reference::DEFAULT_REGISTRY {
        return true;
    }
    RegistryConfig::load(root)
        .map(|c| !c.registry_mirrors.is_empty())
        .unwrap_or(false)
}

/// `docker pull`: fetch `name` into the store at `root`, printing docker's
/// lines to `out`. Returns the image.
pub fn pull(root: &Path, name: &str, opts: &PullOptions, out: &mut dyn Write) -> Result<Image> {
    pull_observed(root, name, opts, out, &mut Silent)
}

/// `pull`, showing each protocol step to `obs` (the narrator) before it happens.
pub fn pull_observed(
    root: &Path,
    name: &str,
    opts: &PullOptions,
    out: &mut dyn Write,
    obs: &mut dyn StepObserver,
) -> Result<Image> {
    let reference = Reference::parse(name).map_err(|e| daemon_error(format!("{e}")))?;
    let platform = match &opts.platform {
        Some(p) => Platform::parse(p).map_err(daemon_error)?,
        None => Platform::host(),
    };
    let no_tag = !has_explicit_tag_or_digest(name);
    if no_tag && !opts.quiet {
        writeln!(out, "Using default tag: latest")?;
    }
    let cfg = RegistryConfig::load(root)?;
    let auths = AuthFile::load(root).unwrap_or_default();
    let store = Store::open(root)?;
    let eps = if opts.simulate {
        // No mirrors in simulation: one simulated registry, named as the real one.
        let base = if reference.registry == crate::image::reference::DEFAULT_REGISTRY {
            DOCKER_HUB_BASE.to_string()
        } else {
            format!(
                "{}://{}",
                cfg.scheme_for(&reference.registry),
                reference.registry
            )
        };
        vec![Endpoint {
            base,
            registry: reference.registry.clone(),
            mirror: false,
        }]
    } else {
        endpoints(&cfg, &reference)
    };
    let mut errors: Vec<(bool, RegistryError)> = Vec::new();
    for ep in &eps {
        let remote: Box<dyn Remote> = if opts.simulate {
            Box::new(sim::SimRegistry::for_reference(
                &store, &reference, &ep.base,
            )?)
        } else {
            Box::new(Client::new(
                &ep.base,
                &ep.registry,
                &reference.repository,
                "pull",
                auths.credentials(&ep.registry),
            ))
        };
        match pull_from(
            remote.as_ref(),
            &store,
            &reference,
            &platform,
            opts,
            out,
            obs,
        ) {
            Ok(img) => return Ok(img),
            Err(PullError::Registry(e)) => errors.push((ep.mirror, e)),
            Err(PullError::Local(e)) => {
                if e.chain().any(|c| c.downcast_ref::<ExitError>().is_some()) {
                    return Err(e);
                }
                return Err(daemon_error(format!("{e:#}")));
            }
        }
    }
    // Report the most useful error: "not found" from anywhere beats the
    // upstream being unreachable behind a mirror.
    let pick = errors
        .iter()
        .find(|(_, e)| matches!(e, RegistryError::NotFound(_)))
        .or_else(|| errors.last())
        .map(|(_, e)| e);
    match pick {
        Some(RegistryError::NotFound(m)) => {
            let what = match &reference.digest {
                Some(_) => reference.full(),
                None => format!(
                    "{}:{}",
                    reference.familiar_repo(),
                    reference.tag_or_latest()
                ),
            };
            let m = if m.contains("manifest unknown") || m.contains("name unknown") {
                m.clone()
            } else {
                format!("manifest unknown: {m}")
            };
            Err(daemon_error(format!("manifest for {what} not found: {m}")))
        }
        Some(e) => {
            // Name the mirrors that failed too, not only the last endpoint.
            let mirrors: Vec<String> = errors
                .iter()
                .filter(|(m, _)| *m)
                .map(|(_, e)| e.to_string())
                .collect();
            if mirrors.is_empty() || errors.len() == 1 {
                Err(daemon_error(e))
            } else {
                Err(daemon_error(format!(
                    "{e} (after the registry mirrors failed: {})",
                    mirrors.join("; ")
                )))
            }
        }
        None => Err(daemon_error("no registry to pull from")),
    }
}

/// `docker pull --all-tags NAME`: every tag of the repository, one after another.
pub fn pull_all_tags(
    root: &Path,
    name: &str,
    opts: &PullOptions,
    out: &mut dyn Write,
    obs: &mut dyn StepObserver,
) -> Result<Vec<Image>> {
    let reference = Reference::parse(name).map_err(|e| daemon_error(format!("{e}")))?;
    if has_explicit_tag_or_digest(name) {
        return Err(daemon_error("tag can't be used with --all-tags/-a"));
    }
    let cfg = RegistryConfig::load(root)?;
    let auths = AuthFile::load(root).unwrap_or_default();
    let mut last = None;
    let mut tags = None;
    if opts.simulate {
        let store = Store::open(root)?;
        tags = Some(sim::SimRegistry::for_reference(&store, &reference, "")?.tags());
    }
    for ep in endpoints(&cfg, &reference) {
        if tags.is_some() {
            break;
        }
        let client = Client::new(
            &ep.base,
            &ep.registry,
            &reference.repository,
            "pull",
            auths.credentials(&ep.registry),
        );
        match client.ping().and_then(|_| client.list_tags()) {
            Ok(t) => {
                tags = Some(t);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut tags) = tags else {
        return Err(daemon_error(
            last.map(|e| e.to_string()).unwrap_or_default(),
        ));
    };
    tags.sort();
    let mut images = Vec::new();
    for t in tags {
        let one = format!("{}:{t}", reference.name());
        images.push(pull_observed(root, &one, opts, out, obs)?);
    }
    Ok(images)
}

/// `busybox` → false; `busybox:1`, `x@sha256:..`, `localhost:5000/x:1` → true.
fn has_explicit_tag_or_digest(name: &str) -> bool {
    if name.contains('@') {
        return true;
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    last.contains(':')
}

enum PullError {
    /// The registry said no or could not be reached: try the next endpoint.
    Registry(RegistryError),
    /// Our side failed (bad content, store error): stop.
    Local(anyhow::Error),
}

impl From<RegistryError> for PullError {
    fn from(e: RegistryError) -> Self {
        PullError::Registry(e)
    }
}

fn local<E: Into<anyhow::Error>>(e: E) -> PullError {
    PullError::Local(e.into())
}

fn short(digest: &str) -> &str {
    let h = digest.strip_prefix("sha256:").unwrap_or(digest);
    &h[..h.len().min(12)]
}

#[allow(clippy::too_many_arguments)]
fn pull_from(
    remote: &dyn Remote,
    store: &Store,
    reference: &Reference,
    platform: &Platform,
    opts: &PullOptions,
    out: &mut dyn Write,
    obs: &mut dyn StepObserver,
) -> std::result::Result<Image, PullError> {
    connect(remote, obs, PULL_ABORTED)?;
    let tag_or_digest = reference
        .digest
        .clone()
        .unwrap_or_else(|| reference.tag_or_latest().to_string());
    let (top, top_type) = fetch_manifest(remote, &tag_or_digest, None, obs)?;
    let top_digest = sha256_digest(&top);
    if let Some(want) = &reference.digest {
        if &top_digest != want {
            return Err(local(anyhow!(
                "manifest verification failed for digest {want}: the registry served content with digest {top_digest}"
            )));
        }
    }
    let top_json: serde_json::Value = serde_json::from_slice(&top)
        .map_err(|e| local(anyhow!("manifest for {reference} is not valid JSON: {e}")))?;
    let mt = top_json
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(&top_type)
        .to_string();
    let is_index = mt == MEDIA_OCI_INDEX
        || mt == MEDIA_DOCKER_MANIFEST_LIST
        || (top_json.get("manifests").is_some() && top_json.get("layers").is_none());
    let manifest_bytes = if is_index {
        let (d, size) = select_platform(&top_json, platform).map_err(local)?;
        let (b, _) = fetch_manifest(remote, &d, Some(platform), obs)?;
        let got = sha256_digest(&b);
        if got != d || (size > 0 && b.len() as u64 != size) {
            return Err(local(anyhow!(
                "manifest verification failed for digest {d}: got {got} ({} bytes)",
                b.len()
            )));
        }
        b
    } else {
        if mt.contains("v1+prettyjws")
            || top_json.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1)
        {
            return Err(local(anyhow!(
                "{reference} uses the Docker Image Format v1 (schema 1) manifest, which is no longer supported"
            )));
        }
        top.clone()
    };
    let manifest = Manifest::parse(&manifest_bytes).map_err(local)?;
    let manifest_digest = sha256_digest(&manifest_bytes);
    let full = reference.full();
    let familiar = reference.to_string();

    // Already have exactly this? docker: "Image is up to date".
    let before = store.resolve(&full).map_err(local)?;
    let up_to_date = before
        .as_ref()
        .is_some_and(|i| i.manifest_digest == manifest_digest);

    if !opts.quiet {
        let _ = writeln!(
            out,
            "{tag_or_digest}: Pulling from {}",
            reference.repository
        );
    }

    // Config first (small; tells us the platform), then layers in parallel.
    if !store.has_blob(&manifest.config.digest) {
        let step = blob_step(remote, store, &manifest.config);
        observe(obs, &step, PULL_ABORTED).map_err(PullError::Local)?;
        let (r, _) = remote.get_blob(&manifest.config.digest)?;
        store
            .ingest_blob(r, Some(&manifest.config.digest), Some(manifest.config.size))
            .with_context(|| format!("config blob {}", manifest.config.digest))
            .map_err(local)?;
        obs.after(&step);
    }
    if opts.platform.is_some() {
        if let Ok(cfg) = crate::image::parse_config(
            &std::fs::read(store.blob_path(&manifest.config.digest)).unwrap_or_default(),
        ) {
            let arch = cfg.architecture().to_string();
            if arch != platform.arch && !is_index {
                let _ = writeln!(
                    out,
                    "WARNING: image with reference {familiar} was found but its platform (linux/{arch}) does not match the specified platform ({platform})"
                );
            }
        }
    }

    let mut todo = Vec::new();
    for l in &manifest.layers {
        if store.has_blob(&l.digest) {
            if !opts.quiet && !up_to_date {
                let _ = writeln!(out, "{}: Already exists", short(&l.digest));
            }
        } else {
            todo.push(l.clone());
        }
    }
    // Progress bars and narration would fight over stderr: narration wins.
    let narrated = obs.wants_reports();
    download_layers(remote, store, &todo, opts.quiet || narrated, obs).map_err(|e| match e {
        DownloadError::Registry(r) => PullError::Registry(r),
        DownloadError::Local(l) => PullError::Local(l),
    })?;

    // Unpacking (and checking diff_ids) can take a while: say so on a terminal.
    let spinner = if !opts.quiet && !narrated && !todo.is_empty() && std::io::stderr().is_terminal()
    {
        let sp = ProgressBar::new_spinner();
        sp.set_message(format!("Extracting {} layer(s)", todo.len()));
        sp.enable_steady_tick(std::time::Duration::from_millis(100));
        Some(sp)
    } else {
        None
    };
    let added = store.add_image_with(
        &manifest_bytes,
        Some(reference),
        if opts.simulate {
            crate::image::store::Unpack::CheckOnly(todo.iter().map(|l| l.digest.clone()).collect())
        } else {
            crate::image::store::Unpack::Yes
        },
        &mut |l, dir| {
            let step = Step::layer_unpack(l, store.blob_path(&l.digest), dir);
            observe(obs, &step, PULL_ABORTED)
        },
    );
    if let Some(sp) = spinner {
        sp.finish_and_clear();
    }
    let img = added
        .with_context(|| format!("register {familiar}"))
        .map_err(local)?;
    let img = if reference.digest.is_none() {
        store
            .add_repo_digest(&img, reference, &top_digest)
            .map_err(local)?;
        store.resolve(&full).map_err(local)?.unwrap_or(img)
    } else {
        img
    };
    if !opts.quiet {
        for l in &todo {
            let _ = writeln!(out, "{}: Pull complete", short(&l.digest));
        }
        let _ = writeln!(out, "Digest: {top_digest}");
        if up_to_date {
            let _ = writeln!(out, "Status: Image is up to date for {familiar}");
        } else {
            let _ = writeln!(out, "Status: Downloaded newer image for {familiar}");
        }
    }
    if !opts.for_run {
        let _ = writeln!(out, "{full}");
    }
    Ok(img)
}

enum DownloadError {
    Registry(RegistryError),
    Local(anyhow::Error),
}

impl DownloadError {
    fn transient(&self) -> bool {
        match self {
            DownloadError::Registry(RegistryError::Unreachable(_) | RegistryError::Other(_)) => {
                true
            }
            DownloadError::Registry(_) => false,
            DownloadError::Local(e) => !format!("{e:#}").contains("digest mismatch"),
        }
    }
}

/// Tries per layer before a pull gives up.
const DOWNLOAD_ATTEMPTS: u32 = 3;

fn fetch_layer(
    client: &dyn Remote,
    store: &Store,
    l: &crate::image::Descriptor,
    bar: &ProgressBar,
) -> std::result::Result<(), DownloadError> {
    let (r, _) = client
        .get_blob(&l.digest)
        .map_err(DownloadError::Registry)?;
    store
        .ingest_blob(
            Progress {
                inner: r,
                bar: bar.clone(),
            },
            Some(&l.digest),
            Some(l.size),
        )
        .map(|_| ())
        .map_err(|e| {
            DownloadError::Local(if e.to_string().contains("digest mismatch") {
                anyhow!(
                    "filesystem layer verification failed for digest {}: {e}",
                    l.digest
                )
            } else {
                e.context(format!("download layer {}", l.digest))
            })
        })
}

/// Counts bytes into a progress bar.
struct Progress<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Download `layers` into the store, up to three at once, each verified by
/// `ingest_blob` (digest and size) before it becomes visible. Each download
/// is shown to `obs` (on this thread) as it starts.
fn download_layers(
    client: &dyn Remote,
    store: &Store,
    layers: &[crate::image::Descriptor],
    quiet: bool,
    obs: &mut dyn StepObserver,
) -> std::result::Result<(), DownloadError> {
    if layers.is_empty() {
        return Ok(());
    }
    let show = !quiet && std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix}: {msg:<12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = layers
        .iter()
        .map(|l| {
            let b = multi.add(ProgressBar::new(l.size));
            b.set_style(style.clone());
            b.set_prefix(short(&l.digest).to_string());
            b.set_message("Waiting");
            b
        })
        .collect();
    let steps: Vec<Step> = layers.iter().map(|l| blob_step(client, store, l)).collect();
    let result = crate::image::parallel::run_announced(
        layers.len(),
        MAX_CONCURRENT_DOWNLOADS,
        |i| observe(obs, &steps[i], PULL_ABORTED).map_err(DownloadError::Local),
        |i| {
            let l = &layers[i];
            let bar = &bars[i];
            bar.set_message("Downloading");
            // Transient failures (connection dropped, short body, 5xx) are
            // retried, as docker does; a digest mismatch or a 404 is not.
            let mut attempt = 0;
            let res = loop {
                attempt += 1;
                bar.set_position(0);
                let r = fetch_layer(client, store, l, bar);
                match &r {
                    Err(e) if attempt < DOWNLOAD_ATTEMPTS && e.transient() => {
                        bar.set_message(format!("Retrying ({attempt})"));
                        std::thread::sleep(std::time::Duration::from_millis(200 * attempt as u64));
                    }
                    _ => break r,
                }
            };
            match &res {
                Ok(()) => bar.finish_with_message("Download complete"),
                Err(_) => bar.abandon_with_message("Failed"),
            }
            res
        },
    );
    let _ = multi.clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap(),
            Platform {
                os: "linux".into(),
                arch: "arm64".into(),
                variant: Some("v8".into())
            }
        );
        assert_eq!(Platform::parse("linux/x86_64").unwrap().arch, "amd64");
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        let idx = serde_json::json!({"manifests": [
            {"digest": format!("sha256:{}", "a".repeat(64)), "size": 1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": format!("sha256:{}", "b".repeat(64)), "size": 2,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": format!("sha256:{}", "c".repeat(64)), "size": 3,
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"os": "unknown", "architecture": "unknown"}},
        ]});
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select_platform(&idx, &amd).unwrap().1, 1);
        assert_eq!(
            select_platform(&idx, &Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .1,
            2
        );
        assert_eq!(
            select_platform(&idx, &Platform::parse("linux/arm64/v8").unwrap())
                .unwrap()
                .1,
            2
        );
        let err = select_platform(&idx, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert!(select_platform(&idx, &Platform::parse("unknown/unknown").unwrap()).is_err());
    }

    #[test]
    fn explicit_tags() {
        assert!(!has_explicit_tag_or_digest("busybox"));
        assert!(!has_explicit_tag_or_digest("localhost:5000/busybox"));
        assert!(has_explicit_tag_or_digest("localhost:5000/busybox:1"));
        assert!(has_explicit_tag_or_digest("busybox@sha256:abc"));
    }

    #[test]
    fn mirror_endpoints_come_first_for_docker_hub_only() {
        let cfg = RegistryConfig {
            registry_mirrors: vec!["http://127.0.0.1:5000/".into()],
            ..Default::default()
        };
        let e = endpoints(&cfg, &Reference::parse("busybox").unwrap());
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].base.as_str(), e[0].registry.as_str()),
            ("http://127.0.0.1:5000", "127.0.0.1:5000")
        );
        assert_eq!(e[1].base, DOCKER_HUB_BASE);
        let e = endpoints(&cfg, &Reference::parse("localhost:5001/x").unwrap());
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].base, "http://localhost:5001");
        let e = endpoints(&cfg, &Reference::parse("quay.io/x/y").unwrap());
        assert_eq!(e[0].base, "https://quay.io");
    }

    #[test]
    fn unreachable_registry_is_named() {
        let t = tempfile::tempdir().unwrap();
        // Port 9 (discard) on loopback: nothing listens there.
        let mut out = Vec::new();
        let err = pull(
            t.path(),
            "127.0.0.1:9/nothing:1",
            &PullOptions::default(),
            &mut out,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cannot reach registry 127.0.0.1:9"), "{msg}");
        assert_eq!(crate::error::exit_code_of(&err), 1);
    }
}
