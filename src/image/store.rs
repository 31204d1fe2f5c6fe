//! The image store: an OCI image layout plus a cache of unpacked layers.
//!
//! Everything in `blobs/` is content-addressed (its name is its sha256), so a
//! blob is written once to a temp file, verified, and renamed into place;
//! two processes writing the same blob just race to an identical result.
//! The only mutable file is `index.json` (which names point to which
//! manifest); it is rewritten atomically under the store's exclusive lock.
//! Unpacked layers live in `layers/<chain-id>/`: unpacked into a temp
//! directory, then renamed into place, with `meta.json` as the "complete"
//! marker, so a crash mid-unpack never leaves a half layer in use.

use super::reference::{valid_digest, Reference};
use super::unpack::{decompressed, unpack_tar, UnpackStats};
use crate::fsutil::{read_json, write_json, StoreLock};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os,
    RootFsBuilder,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The annotation OCI tools (skopeo, umoci) use for an image's name in index.json.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor (media type, digest, size), as found in index.json
/// and manifests. Unknown fields are kept, so we never drop what other tools wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            annotations: None,
            extra: Default::default(),
        }
    }
    /// The `org.opencontainers.image.ref.name` annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .as_ref()?
            .get(ANNOTATION_REF_NAME)
            .map(String::as_str)
    }
    fn with_ref(mut self, r: Option<&str>) -> Descriptor {
        let mut a = self.annotations.take().unwrap_or_default();
        match r {
            Some(r) => {
                a.insert(ANNOTATION_REF_NAME.to_string(), r.to_string());
            }
            None => {
                a.remove(ANNOTATION_REF_NAME);
            }
        }
        self.annotations = if a.is_empty() { None } else { Some(a) };
        self
    }
}

/// `index.json`: the list of manifests in the store, each optionally named.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_INDEX.to_string()),
            manifests: Vec::new(),
            extra: Default::default(),
        }
    }
}

/// An image manifest (OCI or docker schema2): one config plus layers, lowest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    /// Parse and sanity-check a manifest: refuses manifest lists and any
    /// digest we could not safely use as a file name.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).context("manifest is not valid JSON")?;
        let mt = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
        if mt == MEDIA_OCI_INDEX || mt == MEDIA_DOCKER_MANIFEST_LIST || v.get("manifests").is_some()
        {
            bail!("manifest is a multi-platform index ({mt}); pick one platform's manifest first");
        }
        let m: Manifest = serde_json::from_value(v).context("invalid image manifest")?;
        if m.schema_version != 2 {
            bail!("unsupported manifest schemaVersion {}", m.schema_version);
        }
        for d in std::iter::once(&m.config).chain(&m.layers) {
            if !valid_digest(&d.digest) {
                bail!("manifest references unsupported digest {:?}", d.digest);
            }
        }
        Ok(m)
    }
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Digest of the blob as stored (compressed or not): `sha256:...`.
    pub digest: String,
    /// Digest of the *uncompressed* tar (config `rootfs.diff_ids`).
    pub diff_id: String,
    /// Identity of this layer *with everything below it*; names its unpacked dir.
    pub chain_id: String,
    pub media_type: String,
    /// Size of the blob in bytes (as in the manifest).
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID docker shows: the config digest `sha256:<hex>`.
    pub id: String,
    pub manifest_digest: String,
    /// Full references (`docker.io/library/busybox:latest`), in index order.
    pub references: Vec<String>,
    pub config: ImageConfiguration,
    /// Lowest first.
    pub layers: Vec<LayerInfo>,
    /// Unpacked content size in bytes (blob size for layers not yet unpacked).
    pub size: u64,
}

impl Image {
    /// The 12-hex short id docker prints.
    pub fn short_id(&self) -> &str {
        let h = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &h[..h.len().min(12)]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// Familiar repository (`busybox`), or `<none>`.
    pub repository: String,
    /// Tag or `<none>`.
    pub tag: String,
    /// `sha256:<hex>` config digest.
    pub id: String,
    /// RFC 3339 creation time from the config.
    pub created: Option<String>,
    pub size: u64,
    /// `sha256:<hex>` of the manifest.
    pub manifest_digest: String,
    /// The digest this repository's registry knows the image by (docker's
    /// DIGEST column; for a multi-platform pull, the index's digest), if it
    /// came from a registry.
    pub repo_digest: Option<String>,
}

/// The settings `docker import -c ... -m ...` can give the new image.
#[derive(Debug, Clone, Default)]
pub struct ImportConfig {
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// Commit message; defaults to "Imported from <source>".
    pub comment: Option<String>,
    /// Where the tarball came from (file path, URL or "-"), for history.
    pub source: Option<String>,
    /// A fixed creation time (RFC 3339) instead of now: a reproducible tarball
    /// then always gives the same image id (the built-in image relies on it).
    pub created: Option<String>,
    /// Docker config keys oci-spec has no field for (`-c EXPOSE`, `LABEL`,
    /// `VOLUME`, `STOPSIGNAL`, `ONBUILD`, `HEALTHCHECK`): merged into
    /// `config` as they are.
    pub extra_config: serde_json::Map<String, serde_json::Value>,
}

/// `<layer dir>/meta.json`; its presence means the unpack completed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: String,
    pub diff_id: String,
    pub blob_digest: String,
    /// Bytes of file content unpacked.
    pub size: u64,
    pub stats: UnpackStats,
    pub unpacked_at: String,
}

/// ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
/// A diff id names a layer's content alone; a chain id names the whole stack
/// up to it, which is what an unpacked lowerdir really depends on.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                crate::fsutil::sha256_hex(format!("{prev} {d}").as_bytes())
            ),
        };
        out.push(next);
    }
    out
}

/// The host architecture in Go/OCI spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

fn hex_of(digest: &str) -> Result<&str> {
    if !valid_digest(digest) {
        bail!("unsupported digest {digest:?} (want sha256:<64 hex>)");
    }
    Ok(&digest[7..])
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temp suffix: pid (so stale ones can be cleaned) plus a counter (threads).
fn tmp_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes a temp file or directory on drop unless disarmed.
struct TmpGuard(Option<PathBuf>);
impl TmpGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}
impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// Reader adapter that hashes what passes through it.
struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    n: u64,
}
impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The pid in a temp name like `x.tmp-<pid>-<n>` or `.tmp-<pid>-name`.
fn tmp_owner(name: &str) -> Option<i32> {
    let i = name.find(".tmp-")?;
    name[i + 5..].split('-').next()?.parse().ok()
}

pub struct Store {
    pub root: PathBuf,
    /// The shared `ingest.lock` this value holds once it has written (or
    /// relied on) content no image names yet; see `IngestLock`.
    ingest_hold: std::sync::Mutex<Option<IngestLock>>,
    /// manifest digest -> its config digest: content-addressed, so never stale.
    config_cache: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
}

/// # When unreferenced content may be removed
///
/// Content becomes *referenced* only when `index.json` names a manifest
/// (or a container record names an image id, see `Store::in_use`). A pull,
/// load, import or commit writes its blobs and unpacks its layers first and
/// names the image last, so for a while its content is unreferenced yet in
/// use. The rule: every `Store` that writes or relies on such content
/// (`has_blob`, `ingest_blob`, `add_image*`, `import_tar`) takes a *shared*
/// flock on `<root>/ingest.lock` at its first such call and keeps it until
/// it is dropped (the end of the command, or the process's death, when the
/// kernel releases it). The sweep (`Store::remove_garbage`) takes it
/// (and `gc_removed`, rmi's clean-up) *exclusively*, so it waits for every
/// working operation to finish, and
/// operations starting meanwhile wait for the sweep; what it finds
/// unreferenced then is really garbage: a killed command's, or an untagged
/// duplicate's. Lock order: `ingest.lock` before `lock`, never the other
/// way round (nothing takes the hold while holding the store lock).
struct IngestLock {
    _file: fs::File,
}

impl IngestLock {
    fn take(root: &Path, how: libc::c_int) -> Result<IngestLock> {
        use std::os::unix::io::AsRawFd;
        let path = root.join("ingest.lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        loop {
            // SAFETY: flock on a valid fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), how) } == 0 {
                return Ok(IngestLock { _file: f });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e).with_context(|| format!("flock {}", path.display()));
            }
        }
    }
}

/// Test hook (documented in tests/garbage.rs): with
/// `GLASSBOX_TEST_PAUSE_BEFORE_INDEX=<file>`, an operation that has written
/// and unpacked its blobs creates `<file>` and pauses before naming its image
/// (`GLASSBOX_TEST_PAUSE_SECS`, default an hour), so a test can kill it or
/// race a prune against it at exactly that point.
fn test_pause_before_index() {
    let Some(marker) = std::env::var_os("GLASSBOX_TEST_PAUSE_BEFORE_INDEX") else {
        return;
    };
    let _ = fs::write(&marker, std::process::id().to_string());
    let secs = std::env::var("GLASSBOX_TEST_PAUSE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    std::thread::sleep(std::time::Duration::from_secs(secs));
}

/// What no image and no container uses: blobs and unpacked layers.
#[derive(Debug, Default, Clone)]
pub struct Garbage {
    /// (digest, bytes) of unreferenced blobs.
    pub blobs: Vec<(String, u64)>,
    /// (chain id, unpacked bytes) of unreferenced layer directories.
    pub layers: Vec<(String, u64)>,
}

impl Garbage {
    pub fn bytes(&self) -> u64 {
        self.blobs.iter().chain(&self.layers).map(|(_, n)| n).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty() && self.layers.is_empty()
    }
}

/// Bytes of the files under `p` (not following symlinks).
fn tree_bytes(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    if md.is_dir() {
        fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| tree_bytes(&e.path())).sum())
            .unwrap_or(0)
    } else {
        md.len()
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether the first 512 bytes of a stream are a tar header (its checksum
/// holds) or the all-zero end of an empty archive.
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let block = &block[..512];
    if block.iter().all(|&b| b == 0) {
        return true;
    }
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .take_while(|c| *c != '\0')
        .collect();
    let Ok(want) = u32::from_str_radix(digits.trim(), 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == want
}

/// Read the first tar block of `r` and refuse what is not a tar archive,
/// naming what it is instead of echoing its bytes. Returns a reader that
/// still yields the whole stream. `allow_empty`: an empty stream is an
/// empty archive (Go's archive/tar, hence docker's import, reads it so, and
/// lesson 05 makes a dangling image with `import /dev/null`).
pub fn check_tar_stream<'a>(
    mut r: impl Read + 'a,
    allow_empty: bool,
) -> Result<Box<dyn Read + 'a>> {
    let mut head = Vec::with_capacity(512);
    (&mut r).take(512).read_to_end(&mut head)?;
    if head.is_empty() {
        if allow_empty {
            return Ok(Box::new(io::empty()));
        }
        bail!("the input is empty, not a tar archive");
    }
    if !is_tar_header(&head) {
        bail!(
            "not a tar archive: its first {} bytes are not a tar header",
            head.len()
        );
    }
    Ok(Box::new(io::Cursor::new(head).chain(r)))
}

/// What `Store::add_image_with` does with the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unpack {
    /// Unpack every layer not unpacked yet (a real pull).
    Yes,
    /// Simulation: check these layer blobs (by digest) against their
    /// diff_ids, unpack nothing.
    CheckOnly(Vec<String>),
}

impl Store {
    /// Open the store at `root`, creating an empty OCI layout if needed, and
    /// clearing temp files left by processes that died mid-write.
    pub fn open(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
            ingest_hold: Default::default(),
            config_cache: Default::default(),
        };
        for d in [store.root.join("blobs/sha256"), store.root.join("layers")] {
            fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        let layout = store.root.join("oci-layout");
        let index = store.index_path();
        if !layout.exists() || !index.exists() {
            let _lock = StoreLock::exclusive(&store.root)?;
            if !layout.exists() {
                crate::fsutil::atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
            }
            if !index.exists() {
                write_json(&index, &Index::default())?;
            }
        }
        store.clean_stale_tmp(false);
        Ok(store)
    }

    pub fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Take the shared `ingest.lock` for the rest of this value's life (see
    /// `IngestLock`); a no-op once held.
    fn hold(&self) -> Result<()> {
        let mut h = self.ingest_hold.lock().unwrap_or_else(|p| p.into_inner());
        if h.is_none() {
            *h = Some(IngestLock::take(&self.root, libc::LOCK_SH)?);
        }
        Ok(())
    }

    /// The repair pass: remove what processes that died mid-way left under a
    /// temp name (`.tmp-<pid>` files and directories: blobs being written,
    /// layers being unpacked or deleted, `load`/`save` work dirs, a commit's
    /// layer tar). `deep` (the prune) also looks into each container's
    /// directory for a half-written record; `open` does not, as it is on
    /// every command's path and that walk grows with the containers.
    fn clean_stale_tmp(&self, deep: bool) {
        let me = std::process::id() as i32;
        let mut dirs = vec![
            self.root.clone(),
            self.root.join("blobs/sha256"),
            self.root.join("layers"),
        ];
        if deep {
            if let Ok(rd) = fs::read_dir(self.root.join("containers")) {
                dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        for dir in dirs {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(pid) = tmp_owner(&name) else {
                    continue;
                };
                if pid != me && !pid_alive(pid) {
                    let p = e.path();
                    let _ = if p.is_dir() && !p.is_symlink() {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                }
            }
        }
    }

    // ---- blobs -------------------------------------------------------------

    /// Where a blob lives. An invalid digest maps to a path that never exists.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        match hex_of(digest) {
            Ok(h) => self.root.join("blobs/sha256").join(h),
            Err(_) => self.root.join("blobs/sha256/invalid-digest"),
        }
    }

    /// Whether a blob is stored. A caller asks in order to use it (skip a
    /// download), so this takes the ingest hold: the blob cannot be swept
    /// between this answer and the image that names it.
    pub fn has_blob(&self, digest: &str) -> bool {
        if self.hold().is_err() {
            return false; // then it is fetched again, which is safe
        }
        valid_digest(digest) && self.blob_path(digest).is_file()
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        self.ingest_blob(bytes, None, None)
    }

    /// Stream `r` into the store: write a temp file while hashing, check the
    /// size and digest if given, then rename it to `blobs/sha256/<hex>`.
    pub fn ingest_blob(
        &self,
        r: impl Read,
        expected_digest: Option<&str>,
        expected_size: Option<u64>,
    ) -> Result<String> {
        if let Some(d) = expected_digest {
            hex_of(d)?;
        }
        self.hold()?;
        let dir = self.root.join("blobs/sha256");
        let tmp = dir.join(format!(".tmp-{}", tmp_suffix()));
        let mut guard = TmpGuard(Some(tmp.clone()));
        let mut f = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let mut hr = HashReader {
            inner: r,
            hasher: Sha256::new(),
            n: 0,
        };
        let mut w = io::BufWriter::with_capacity(256 * 1024, &mut f);
        io::copy(&mut hr, &mut w).context("write blob")?;
        w.flush()?;
        drop(w);
        let digest = format!("sha256:{}", hex::encode(hr.hasher.finalize()));
        if let Some(want) = expected_size {
            if hr.n != want {
                bail!("size mismatch: expected {want} bytes, got {}", hr.n);
            }
        }
        if let Some(want) = expected_digest {
            if want != digest {
                bail!("digest mismatch: expected {want}, got {digest}");
            }
        }
        let dst = self.blob_path(&digest);
        if dst.is_file() {
            return Ok(digest); // already there; the guard removes our copy
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &dst).with_context(|| format!("rename into {}", dst.display()))?;
        guard.disarm();
        Ok(digest)
    }

    /// A whole blob's bytes (manifests and configs; layers are streamed instead).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest);
        fs::read(&p)
            .with_context(|| format!("blob {digest} is missing from the store ({})", p.display()))
    }

    // ---- index -------------------------------------------------------------

    pub fn read_index(&self) -> Result<Index> {
        let idx: Index =
            read_json(&self.index_path()).context("the image index is unreadable or corrupt")?;
        Ok(idx)
    }

    /// Read-modify-write index.json under the exclusive store lock.
    fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let _lock = StoreLock::exclusive(&self.root)?;
        let mut idx = self.read_index()?;
        let out = f(&mut idx)?;
        self.drop_unnamed_duplicates(&mut idx);
        write_json(&self.index_path(), &idx)?;
        Ok(out)
    }

    /// An unnamed manifest of an image another manifest still names is no
    /// dangling image, just a leftover of an untag: drop it from the index.
    fn drop_unnamed_duplicates(&self, idx: &mut Index) {
        if !idx.manifests.iter().any(|d| d.ref_name().is_none()) || idx.manifests.len() < 2 {
            return;
        }
        let configs: Vec<Option<String>> = idx
            .manifests
            .iter()
            .map(|d| self.config_of(&d.digest))
            .collect();
        let named: Vec<&String> = idx
            .manifests
            .iter()
            .zip(&configs)
            .filter(|(d, _)| d.ref_name().is_some())
            .filter_map(|(_, c)| c.as_ref())
            .collect();
        let drop: Vec<bool> = idx
            .manifests
            .iter()
            .zip(&configs)
            .map(|(d, c)| d.ref_name().is_none() && c.as_ref().is_some_and(|c| named.contains(&c)))
            .collect();
        let mut i = 0;
        idx.manifests.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
    }

    /// Point `full_ref` (if any) at `desc`. An image that loses its last name
    /// stays in the index unnamed (docker's dangling `<none>:<none>`).
    fn set_ref(idx: &mut Index, desc: &Descriptor, full_ref: Option<&str>) {
        if let Some(r) = full_ref {
            Self::drop_ref(idx, r);
            idx.manifests
                .retain(|d| !(d.digest == desc.digest && d.ref_name().is_none()));
            idx.manifests.push(desc.clone().with_ref(Some(r)));
        } else if !idx.manifests.iter().any(|d| d.digest == desc.digest) {
            idx.manifests.push(desc.clone().with_ref(None));
        }
    }

    fn drop_ref(idx: &mut Index, full_ref: &str) -> bool {
        let Some(pos) = idx
            .manifests
            .iter()
            .position(|d| d.ref_name() == Some(full_ref))
        else {
            return false;
        };
        let old = idx.manifests.remove(pos);
        idx.manifests.retain(|d| d.ref_name() != Some(full_ref));
        if !idx.manifests.iter().any(|d| d.digest == old.digest) {
            idx.manifests.push(old.with_ref(None));
        }
        true
    }

    fn manifest_descriptor(&self, manifest_digest: &str) -> Result<Descriptor> {
        let bytes = self.read_blob(manifest_digest)?;
        let m = Manifest::parse(&bytes).with_context(|| format!("manifest {manifest_digest}"))?;
        let mt = m
            .media_type
            .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string());
        Ok(Descriptor::new(&mt, manifest_digest, bytes.len() as u64))
    }

    // ---- images ------------------------------------------------------------

    fn load_image(&self, idx: &Index, manifest_digest: &str) -> Result<Image> {
        let bytes = self.read_blob(manifest_digest)?;
        let m = Manifest::parse(&bytes).with_context(|| format!("manifest {manifest_digest}"))?;
        let config = parse_config(&self.read_blob(&m.config.digest)?)
            .with_context(|| format!("image config {}", m.config.digest))?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != m.layers.len() {
            bail!(
                "image {manifest_digest}: manifest has {} layers but config lists {} diff_ids",
                m.layers.len(),
                diff_ids.len()
            );
        }
        for d in &diff_ids {
            hex_of(d).with_context(|| format!("image config {}: bad diff_id", m.config.digest))?;
        }
        let chains = chain_ids(&diff_ids);
        let mut layers = Vec::new();
        let mut size = 0;
        for ((l, diff_id), chain_id) in m.layers.iter().zip(diff_ids).zip(chains) {
            let info = LayerInfo {
                digest: l.digest.clone(),
                diff_id,
                chain_id,
                media_type: l.media_type.clone(),
                size: l.size,
            };
            size += self.layer_meta(&info).map(|m| m.size).unwrap_or(l.size);
            layers.push(info);
        }
        // The names of this manifest, then those of other manifests of the
        // same image id (a registry's docker and OCI manifests of one image):
        // one image, all its names.
        let mut references: Vec<String> = idx
            .manifests
            .iter()
            .filter(|d| d.digest == manifest_digest)
            .filter_map(|d| d.ref_name().map(str::to_string))
            .collect();
        for d in &idx.manifests {
            if d.digest == manifest_digest {
                continue;
            }
            if let Some(r) = d.ref_name() {
                if !references.iter().any(|x| x == r)
                    && self.config_of(&d.digest).as_ref() == Some(&m.config.digest)
                {
                    references.push(r.to_string());
                }
            }
        }
        Ok(Image {
            id: m.config.digest.clone(),
            manifest_digest: manifest_digest.to_string(),
            references,
            config,
            layers,
            size,
        })
    }

    /// Every image in the store, in index order: one per image id (config
    /// digest), whatever manifests name it (a store written before loads
    /// were merged may hold two manifests of one image; their names are
    /// shown together).
    pub fn images(&self) -> Result<Vec<Image>> {
        let idx = self.read_index()?;
        let mut seen = Vec::<String>::new();
        let mut out: Vec<Image> = Vec::new();
        for d in &idx.manifests {
            if seen.contains(&d.digest) {
                continue;
            }
            seen.push(d.digest.clone());
            let img = self.load_image(&idx, &d.digest)?;
            match out.iter_mut().find(|o| o.id == img.id) {
                Some(first) => {
                    for r in img.references {
                        if !first.references.contains(&r) {
                            first.references.push(r);
                        }
                    }
                }
                None => out.push(img),
            }
        }
        Ok(out)
    }

    /// The config digest (image id) a stored manifest names, if readable.
    fn config_of(&self, manifest_digest: &str) -> Option<String> {
        let mut cache = self.config_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(manifest_digest) {
            return c.clone();
        }
        let c = self
            .read_blob(manifest_digest)
            .ok()
            .and_then(|b| Manifest::parse(&b).ok())
            .map(|m| m.config.digest);
        if c.is_some() {
            cache.insert(manifest_digest.to_string(), c.clone());
        }
        c
    }

    /// Find an image by reference (`busybox`, `docker.io/library/busybox:latest`,
    /// `busybox@sha256:...`), by id (`sha256:<hex>` or bare hex), or by a
    /// unique id prefix, as docker does.
    pub fn resolve(&self, name_or_id: &str) -> Result<Option<Image>> {
        self.resolve_in(&self.read_index()?, name_or_id)
    }

    /// `resolve` against an index already read (`ps` reads it once for all its rows).
    pub fn resolve_in(&self, idx: &Index, name_or_id: &str) -> Result<Option<Image>> {
        let s = name_or_id.trim();
        if s.is_empty() {
            bail!("image name must not be empty");
        }
        let is_hex =
            |h: &str| !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(h) = s.strip_prefix("sha256:") {
            if !is_hex(h) {
                bail!("invalid image id {s:?}");
            }
            if idx.manifests.iter().any(|d| d.digest == s) {
                return self.load_image(idx, s).map(Some);
            }
            return self.by_id_prefix(idx, &h.to_ascii_lowercase());
        }
        let parsed = Reference::parse(s);
        if let Ok(r) = &parsed {
            let full = r.full();
            if let Some(d) = idx
                .manifests
                .iter()
                .find(|d| d.ref_name() == Some(full.as_str()))
            {
                return self.load_image(idx, &d.digest.clone()).map(Some);
            }
            if let Some(dg) = &r.digest {
                if idx.manifests.iter().any(|d| &d.digest == dg) {
                    return self.load_image(idx, dg).map(Some);
                }
            }
        }
        if is_hex(s) {
            return self.by_id_prefix(idx, &s.to_ascii_lowercase());
        }
        parsed.map(|_| None)
    }

    fn by_id_prefix(&self, idx: &Index, prefix: &str) -> Result<Option<Image>> {
        let mut found: Option<Image> = None;
        let mut seen = Vec::<&str>::new();
        for d in &idx.manifests {
            if seen.contains(&d.digest.as_str()) {
                continue;
            }
            seen.push(&d.digest);
            let img = self.load_image(idx, &d.digest)?;
            if img.id[7..].starts_with(prefix) {
                if let Some(prev) = &found {
                    if prev.id != img.id {
                        bail!(
                            "ambiguous image id prefix {prefix:?}: matches {} and {}",
                            prev.id,
                            img.id
                        );
                    }
                } else {
                    found = Some(img);
                }
            }
        }
        Ok(found)
    }

    /// One row per reference (like `docker images`), newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let mut rows = Vec::new();
        for img in self.images()? {
            let created = img.config.created().clone();
            let parsed: Vec<Result<Reference>> =
                img.references.iter().map(|r| Reference::parse(r)).collect();
            // repository -> the digest it was pulled by
            let digests: BTreeMap<String, String> = parsed
                .iter()
                .flatten()
                .filter_map(|p| Some((p.familiar_repo(), p.digest.clone()?)))
                .collect();
            let row = |repository: String, tag: String| ImageSummary {
                repo_digest: digests.get(&repository).cloned(),
                repository,
                tag,
                id: img.id.clone(),
                created: created.clone(),
                size: img.size,
                manifest_digest: img.manifest_digest.clone(),
            };
            if img.references.is_empty() {
                rows.push(row("<none>".into(), "<none>".into()));
            }
            for (r, p) in img.references.iter().zip(&parsed) {
                match p {
                    Ok(p) if p.tag.is_some() => {
                        rows.push(row(p.familiar_repo(), p.tag.clone().unwrap()))
                    }
                    // A digest-only name shows as `repo <none>` unless a tag
                    // of the same repository already shows the image.
                    Ok(p) => {
                        let repo = p.familiar_repo();
                        let tagged = parsed
                            .iter()
                            .flatten()
                            .any(|q| q.tag.is_some() && q.familiar_repo() == repo);
                        let shown = rows
                            .iter()
                            .any(|x| x.id == img.id && x.repository == repo && x.tag == "<none>");
                        if !tagged && !shown {
                            rows.push(row(repo, "<none>".into()));
                        }
                    }
                    Err(_) => rows.push(row(r.clone(), "<none>".into())),
                }
            }
        }
        // RFC 3339 UTC strings of one writer sort chronologically; parse to be safe.
        let key = |s: &ImageSummary| {
            s.created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp_nanos_opt().unwrap_or(0))
                .unwrap_or(i64::MIN)
        };
        rows.sort_by_key(|r| std::cmp::Reverse(key(r)));
        Ok(rows)
    }

    /// The index.json entry `tag` adds for `img` named `reference`, as
    /// compact JSON, and the index's path (for the narrated step).
    pub fn tag_entry(&self, img: &Image, reference: &Reference) -> Result<(PathBuf, String)> {
        let desc = self
            .manifest_descriptor(&img.manifest_digest)?
            .with_ref(Some(&reference.full()));
        Ok((self.index_path(), serde_json::to_string(&desc)?))
    }

    pub fn tag(&self, img: &Image, reference: &Reference) -> Result<()> {
        if reference.digest.is_some() {
            bail!("refusing to create a tag with a digest reference ({reference})");
        }
        let desc = self.manifest_descriptor(&img.manifest_digest)?;
        let full = reference.full();
        self.update_index(|idx| {
            Self::set_ref(idx, &desc, Some(&full));
            Ok(())
        })
    }

    /// Record the digest a registry knows this image by, as the name
    /// `repository@digest` (docker's RepoDigests). For a multi-platform pull
    /// that is the index's digest, which differs from the image's manifest.
    pub fn add_repo_digest(&self, img: &Image, name: &Reference, digest: &str) -> Result<()> {
        if !super::reference::valid_digest(digest) {
            bail!("invalid digest {digest:?}");
        }
        let r = Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..name.clone()
        };
        let desc = self.manifest_descriptor(&img.manifest_digest)?;
        let full = r.full();
        self.update_index(|idx| {
            Self::set_ref(idx, &desc, Some(&full));
            Ok(())
        })
    }

    /// Remove a name. The image stays (unnamed) if that was its last name;
    /// The image a container was made from, by its id: from the index, or,
    /// when `rmi -f` removed it from under a stopped container, from the
    /// manifest and config blobs the store keeps for that container (see
    /// `in_use`), as docker's layer store keeps a removed image's layers
    /// for the containers made from it. Such an image has no names.
    pub fn image_for_container(&self, image_id: &str) -> Result<Option<Image>> {
        if !valid_digest(image_id) {
            bail!("invalid image id {image_id:?}");
        }
        let idx = self.read_index()?;
        if let Some(d) = idx
            .manifests
            .iter()
            .find(|d| self.config_of(&d.digest).as_deref() == Some(image_id))
        {
            return self.load_image(&idx, &d.digest.clone()).map(Some);
        }
        if !self.blob_path(image_id).exists() {
            return Ok(None);
        }
        match self.stored_manifests_of(&[image_id.to_string()]).first() {
            Some((digest, _)) => self.load_image(&Index::default(), digest).map(Some),
            None => Ok(None),
        }
    }

    /// returns false if the name did not exist.
    pub fn untag(&self, reference: &Reference) -> Result<bool> {
        let full = reference.full();
        self.update_index(|idx| Ok(Self::drop_ref(idx, &full)))
    }

    /// Drop an image from the index (all its names). Blobs and unpacked
    /// layers stay on disk; they are shared and would need a GC pass.
    pub fn remove_image(&self, img: &Image) -> Result<()> {
        self.update_index(|idx| {
            // Every manifest of this image id goes: one image, one removal.
            let mut same: Vec<String> = vec![img.manifest_digest.clone()];
            for d in &idx.manifests {
                if !same.contains(&d.digest) && self.config_of(&d.digest).as_ref() == Some(&img.id)
                {
                    same.push(d.digest.clone());
                }
            }
            idx.manifests.retain(|d| !same.contains(&d.digest));
            Ok(())
        })
    }

    /// After `remove_image`: delete the blobs (manifest, config, layers) and
    /// unpacked layer directories of `img` that no image still in the index
    /// uses. The caller must make sure no container needs them. Returns the
    /// chain ids of the layer directories removed (docker's `Deleted:` lines).
    pub fn gc_removed(&self, img: &Image) -> Result<Vec<String>> {
        self.gc_removed_announced(img, &mut |_, _| Ok(true))
    }

    /// `gc_removed`, telling `announce` (the narrator) which blobs and layer
    /// directories it is about to delete, under the locks, once it knows;
    /// `announce` returning false leaves them (garbage that prune removes).
    pub fn gc_removed_announced(
        &self,
        img: &Image,
        announce: &mut dyn FnMut(&[PathBuf], &[PathBuf]) -> Result<bool>,
    ) -> Result<Vec<String>> {
        // Like the sweep, wait for working operations (see `IngestLock`): a
        // pull that found this image's layer already here relies on it.
        *self.ingest_hold.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let _ingest = IngestLock::take(&self.root, libc::LOCK_EX)?;
        let _lock = StoreLock::exclusive(&self.root)?;
        let idx = self.read_index()?;
        if idx
            .manifests
            .iter()
            .any(|d| d.digest == img.manifest_digest)
        {
            return Ok(vec![]); // named again meanwhile
        }
        let mut used_blobs = std::collections::HashSet::new();
        let mut used_chains = std::collections::HashSet::new();
        for d in &idx.manifests {
            if !used_blobs.insert(d.digest.clone()) {
                continue;
            }
            // If any image cannot be read we do not know what it uses: keep everything.
            let other = self.load_image(&idx, &d.digest)?;
            used_blobs.insert(other.id.clone());
            for l in other.layers {
                used_blobs.insert(l.digest);
                used_chains.insert(l.chain_id);
            }
        }
        self.build_cache_use(&mut used_blobs, &mut used_chains);
        let mut blobs = vec![img.manifest_digest.clone(), img.id.clone()];
        blobs.extend(img.layers.iter().map(|l| l.digest.clone()));
        let mut seen = std::collections::HashSet::new();
        let blob_paths: Vec<PathBuf> = blobs
            .iter()
            .filter(|b| !used_blobs.contains(*b) && seen.insert((*b).clone()))
            .map(|b| self.blob_path(b))
            .filter(|p| p.exists())
            .collect();
        let mut layers = Vec::new();
        for l in img.layers.iter().rev() {
            if !used_chains.contains(&l.chain_id) {
                let dir = self.layer_dir(l)?;
                layers.push((l.chain_id.clone(), Some(dir).filter(|d| d.exists())));
            }
        }
        let dirs: Vec<PathBuf> = layers.iter().filter_map(|(_, d)| d.clone()).collect();
        if (!blob_paths.is_empty() || !dirs.is_empty()) && !announce(&blob_paths, &dirs)? {
            return Ok(vec![]);
        }
        for b in &blob_paths {
            let _ = fs::remove_file(b);
        }
        let mut removed = Vec::new();
        for (chain_id, dir) in layers {
            if let Some(dir) = dir {
                // Rename first (to a temp name Store::open would clean), so a
                // half-deleted directory is never taken for a complete layer.
                let tmp = self.root.join("layers").join(format!(
                    "{}.tmp-{}",
                    hex_of(&chain_id)?,
                    tmp_suffix()
                ));
                if fs::rename(&dir, &tmp).is_ok() {
                    let _ = fs::remove_dir_all(&tmp);
                    removed.push(chain_id);
                }
            } else {
                // Never unpacked (the simulated store reads layers from
                // their blobs): the layer is gone with its blob all the same.
                removed.push(chain_id);
            }
        }
        Ok(removed)
    }

    // ---- garbage -----------------------------------------------------------

    /// Image ids that container records point at: an image `rmi -f` removed
    /// from under a container keeps its content for that container.
    fn container_image_ids(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.root.join("containers")) else {
            return vec![];
        };
        rd.flatten()
            .filter_map(|e| fs::read(e.path().join("container.json")).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter_map(|v| v.get("image_id")?.as_str().map(str::to_string))
            .filter(|id| valid_digest(id))
            .collect()
    }

    /// Blobs and chain ids in use: every image the index names, and what
    /// container records still need. An unreadable image is an error: then
    /// nobody knows what it uses, and nothing may be swept.
    fn in_use(
        &self,
        idx: &Index,
    ) -> Result<(
        std::collections::HashSet<String>,
        std::collections::HashSet<String>,
    )> {
        let mut blobs = std::collections::HashSet::new();
        let mut chains = std::collections::HashSet::new();
        for d in &idx.manifests {
            if !blobs.insert(d.digest.clone()) {
                continue;
            }
            let img = self
                .load_image(idx, &d.digest)
                .context("cannot tell what the store's images use, so nothing was removed")?;
            blobs.insert(img.id.clone());
            for l in img.layers {
                blobs.insert(l.digest);
                chains.insert(l.chain_id);
            }
        }
        let kept: Vec<String> = self
            .container_image_ids()
            .into_iter()
            .filter(|id| !blobs.contains(id))
            .collect();
        for id in &kept {
            let Ok(config) = self.read_blob(id).and_then(|b| parse_config(&b)) else {
                continue;
            };
            blobs.insert(id.clone());
            chains.extend(chain_ids(config.rootfs().diff_ids()));
        }
        // ... and the manifests (with their layer blobs) of such images.
        for (digest, m) in self.stored_manifests_of(&kept) {
            blobs.insert(digest);
            blobs.extend(m.layers.into_iter().map(|l| l.digest));
        }
        self.build_cache_use(&mut blobs, &mut chains);
        Ok((blobs, chains))
    }

    /// What the build cache names is the build cache's (`system df`'s
    /// Build Cache; `builder prune` removes it), neither garbage nor an
    /// rmi's to delete.
    fn build_cache_use(
        &self,
        blobs: &mut std::collections::HashSet<String>,
        chains: &mut std::collections::HashSet<String>,
    ) {
        for digest in self.build_cache_manifests() {
            let Ok(m) = self.read_blob(&digest).and_then(|b| Manifest::parse(&b)) else {
                continue;
            };
            if let Ok(config) = self
                .read_blob(&m.config.digest)
                .and_then(|b| parse_config(&b))
            {
                chains.extend(chain_ids(config.rootfs().diff_ids()));
            }
            blobs.insert(digest);
            blobs.insert(m.config.digest);
            blobs.extend(m.layers.into_iter().map(|l| l.digest));
        }
    }

    /// The manifests `build-cache/<key>` files name (see engine::build).
    fn build_cache_manifests(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.root.join("build-cache")) else {
            return vec![];
        };
        rd.flatten()
            .filter(|e| is_hex64(&e.file_name().to_string_lossy()))
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .map(|m| m.trim().to_string())
            .filter(|m| valid_digest(m))
            .collect()
    }

    /// Stored manifest blobs (named or not) whose config is one of
    /// `config_ids`: what keeps an image `rmi -f` removed from under a
    /// container readable for it.
    fn stored_manifests_of(&self, config_ids: &[String]) -> Vec<(String, Manifest)> {
        if config_ids.is_empty() {
            return vec![];
        }
        self.stored_blobs()
            .into_iter()
            // Manifests are small; a layer blob is not worth reading.
            .filter(|(_, size)| *size <= 4 << 20)
            .filter_map(|(digest, _)| {
                let m = self
                    .read_blob(&digest)
                    .and_then(|b| Manifest::parse(&b))
                    .ok()?;
                config_ids.contains(&m.config.digest).then_some((digest, m))
            })
            .collect()
    }

    /// (digest, bytes) of every complete blob (temp names are not blobs).
    fn stored_blobs(&self) -> Vec<(String, u64)> {
        let Ok(rd) = fs::read_dir(self.root.join("blobs/sha256")) else {
            return vec![];
        };
        rd.flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let md = e.metadata().ok()?;
                (is_hex64(&name) && md.is_file()).then(|| (format!("sha256:{name}"), md.len()))
            })
            .collect()
    }

    /// Blobs and unpacked layers nothing uses, as of now. Without the
    /// locks, a report only (`system df`): content an operation is still
    /// writing counts here too; `remove_garbage` decides under the locks.
    pub fn garbage(&self) -> Result<Garbage> {
        let idx = self.read_index()?;
        let (blobs, chains) = self.in_use(&idx)?;
        let mut g = Garbage::default();
        for (digest, size) in self.stored_blobs() {
            if !blobs.contains(&digest) {
                g.blobs.push((digest, size));
            }
        }
        if let Ok(rd) = fs::read_dir(self.root.join("layers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let chain = format!("sha256:{name}");
                if !is_hex64(&name) || chains.contains(&chain) || !e.path().is_dir() {
                    continue;
                }
                let size = read_json::<LayerMeta>(&e.path().join("meta.json"))
                    .map(|m| m.size)
                    .unwrap_or_else(|_| tree_bytes(&e.path()));
                g.layers.push((chain, size));
            }
        }
        g.blobs.sort();
        g.layers.sort();
        Ok(g)
    }

    /// Remove the garbage: every blob and unpacked layer no image and no
    /// container uses, once no operation is working (the rule is at
    /// `IngestLock`). Returns what was removed.
    pub fn remove_garbage(&self) -> Result<Garbage> {
        // Our own shared hold would make the exclusive lock wait for us.
        *self.ingest_hold.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let _ingest = IngestLock::take(&self.root, libc::LOCK_EX)?;
        let _lock = StoreLock::exclusive(&self.root)?;
        self.clean_stale_tmp(true);
        let g = self.garbage()?;
        let mut removed = Garbage::default();
        for (digest, size) in g.blobs {
            if fs::remove_file(self.blob_path(&digest)).is_ok() {
                removed.blobs.push((digest, size));
            }
        }
        for (chain, size) in g.layers {
            let dir = self.root.join("layers").join(hex_of(&chain)?);
            // Renamed first, as in gc_removed: never a half-deleted "layer".
            let tmp =
                self.root
                    .join("layers")
                    .join(format!("{}.tmp-{}", hex_of(&chain)?, tmp_suffix()));
            if fs::rename(&dir, &tmp).is_ok() {
                let _ = fs::remove_dir_all(&tmp);
                removed.layers.push((chain, size));
            }
        }
        Ok(removed)
    }

    /// Remove every image, blob, unpacked layer and cached seccomp program
    /// (`system reset`), once no operation is writing (`IngestLock`) and
    /// under the store lock. `busy` is asked under that lock and names what
    /// still uses the store (a container made meanwhile): then nothing is
    /// removed. Layers are renamed before removal, as the sweep does.
    pub fn remove_everything(&self, busy: impl FnOnce() -> Result<Option<String>>) -> Result<()> {
        *self.ingest_hold.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let _ingest = IngestLock::take(&self.root, libc::LOCK_EX)?;
        let _lock = StoreLock::exclusive(&self.root)?;
        if let Some(what) = busy()? {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "{what} appeared while the store was being reset: nothing more was removed; run `system reset` again"
            );
        }
        write_json(&self.index_path(), &Index::default())?;
        let blobs = self.root.join("blobs/sha256");
        for e in fs::read_dir(&blobs).with_context(|| format!("read {}", blobs.display()))? {
            let p = e?.path();
            fs::remove_file(&p).with_context(|| format!("remove {}", p.display()))?;
        }
        let layers = self.root.join("layers");
        for e in fs::read_dir(&layers).with_context(|| format!("read {}", layers.display()))? {
            let p = e?.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let tmp = if name.contains(".tmp-") {
                p.clone()
            } else {
                layers.join(format!("{name}.tmp-{}", tmp_suffix()))
            };
            fs::rename(&p, &tmp).with_context(|| format!("rename {}", p.display()))?;
            fs::remove_dir_all(&tmp).with_context(|| format!("remove {}", tmp.display()))?;
        }
        match fs::remove_dir_all(self.root.join("cache")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", self.root.join("cache").display()))
            }
            _ => Ok(()),
        }
    }

    // ---- layers ------------------------------------------------------------

    fn layer_dir(&self, layer: &LayerInfo) -> Result<PathBuf> {
        Ok(self.root.join("layers").join(hex_of(&layer.chain_id)?))
    }

    /// The completion marker of an unpacked layer, if the unpack finished.
    pub fn layer_meta(&self, layer: &LayerInfo) -> Option<LayerMeta> {
        let p = self.layer_dir(layer).ok()?.join("meta.json");
        read_json(&p).ok()
    }

    /// The uncompressed tar stream of a layer.
    pub fn open_layer(&self, layer: &LayerInfo) -> Result<Box<dyn Read>> {
        let p = self.blob_path(&layer.digest);
        let f = fs::File::open(&p)
            .with_context(|| format!("layer blob {} is missing ({})", layer.digest, p.display()))?;
        decompressed(f).with_context(|| format!("layer blob {}", layer.digest))
    }

    /// The unpacked `diff` directories of an image, lowest first (overlay
    /// wants them the other way round: `lowerdir=top:...:bottom`).
    pub fn layer_dirs(&self, img: &Image) -> Result<Vec<PathBuf>> {
        img.layers.iter().map(|l| self.ensure_layer(l)).collect()
    }

    /// `ensure_layer` for several layers, up to three at once: each unpacks
    /// into its own directory, so they are independent. The first failing
    /// layer (lowest first) is reported.
    pub fn ensure_layers(&self, layers: &[LayerInfo]) -> Result<()> {
        if layers.len() <= 1 {
            for l in layers {
                self.ensure_layer(l)?;
            }
            return Ok(());
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<()>>>> =
            layers.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let failed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..layers.len().min(3) {
                s.spawn(|| loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(l) = layers.get(i) else { return };
                    let r = self.ensure_layer(l).map(|_| ());
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *results[i].lock().unwrap() = Some(r);
                });
            }
        });
        for r in results {
            if let Some(Err(e)) = r.into_inner().unwrap() {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Unpack a layer unless already done, verifying its diff_id. Returns its diff dir.
    pub fn ensure_layer(&self, layer: &LayerInfo) -> Result<PathBuf> {
        let dir = self.layer_dir(layer)?;
        if dir.join("meta.json").is_file() {
            return Ok(dir.join("diff"));
        }
        let tmp = self.root.join("layers").join(format!(
            "{}.tmp-{}",
            hex_of(&layer.chain_id)?,
            tmp_suffix()
        ));
        let mut guard = TmpGuard(Some(tmp.clone()));
        let diff = tmp.join("diff");
        let mut hr = HashReader {
            inner: self.open_layer(layer)?,
            hasher: Sha256::new(),
            n: 0,
        };
        let stats =
            unpack_tar(&mut hr, &diff).with_context(|| format!("unpack layer {}", layer.digest))?;
        // Hash to the very end: the diff_id covers the tar's trailing padding too.
        io::copy(&mut hr, &mut io::sink())
            .with_context(|| format!("read layer {}", layer.digest))?;
        let got = format!("sha256:{}", hex::encode(hr.hasher.finalize()));
        if got != layer.diff_id {
            bail!(
                "layer {}: diff_id mismatch: expected {}, got {got}",
                layer.digest,
                layer.diff_id
            );
        }
        let meta = LayerMeta {
            chain_id: layer.chain_id.clone(),
            diff_id: layer.diff_id.clone(),
            blob_digest: layer.digest.clone(),
            size: stats.bytes,
            stats,
            unpacked_at: now_rfc3339(),
        };
        write_json(&tmp.join("meta.json"), &meta)?;
        match fs::rename(&tmp, &dir) {
            Ok(()) => guard.disarm(),
            // Someone else finished the same layer first: use theirs, drop ours.
            Err(_) if dir.join("meta.json").is_file() => {}
            Err(e) => {
                if dir.exists() && !dir.join("meta.json").exists() {
                    // An incomplete dir not made by us (manual damage): replace it.
                    let _ = fs::remove_dir_all(&dir);
                    if fs::rename(&tmp, &dir).is_ok() {
                        guard.disarm();
                        return Ok(dir.join("diff"));
                    }
                }
                return Err(e).with_context(|| format!("rename into {}", dir.display()));
            }
        }
        Ok(dir.join("diff"))
    }

    // ---- adding images -----------------------------------------------------

    /// `docker import`: turn one filesystem tarball (plain or gzip) into a
    /// one-layer image. The layer is stored uncompressed, so its blob digest
    /// is its diff_id.
    pub fn import_tar(
        &self,
        r: impl Read,
        reference: Option<&Reference>,
        cfg: ImportConfig,
    ) -> Result<Image> {
        if let Some(rf) = reference {
            if rf.digest.is_some() {
                bail!("refusing to create a tag with a digest reference ({rf})");
            }
        }
        self.hold()?;
        // An empty stream is refused: it would make an image of nothing.
        let plain = check_tar_stream(decompressed(r).context("read tarball")?, false).map_err(|e| {
            anyhow::anyhow!("{e:#}; import needs a tar archive of a root filesystem, e.g. `glassbox export CONTAINER > rootfs.tar` or `tar -cf rootfs.tar -C DIR .`")
        })?;
        let diff_id = self
            .ingest_blob(plain, None, None)
            .context("store tarball")?;
        let size = fs::metadata(self.blob_path(&diff_id))?.len();
        let layer = LayerInfo {
            digest: diff_id.clone(),
            diff_id: diff_id.clone(),
            chain_id: diff_id.clone(),
            media_type: MEDIA_OCI_LAYER.to_string(),
            size,
        };
        self.ensure_layer(&layer)?;

        let (config_bytes, manifest_bytes) = import_manifest(&diff_id, size, cfg)?;
        self.put_blob(&config_bytes)?;
        self.commit_manifest(&manifest_bytes, reference, true)
    }

    /// Register an image whose manifest, config and layer blobs are already
    /// in the store (a registry pull or `load` puts them there). Each layer is
    /// unpacked and checked against the config's `rootfs.diff_ids`.
    pub fn add_image(&self, manifest_bytes: &[u8], reference: Option<&Reference>) -> Result<Image> {
        self.hold()?;
        let layers = self.layers_of(manifest_bytes)?;
        self.ensure_layers(&layers)?;
        self.commit_manifest(manifest_bytes, reference, true)
    }

    /// `add_image` for a narrated pull: `before(layer, dir)` is called for
    /// each layer still to unpack, on this thread, just before it is
    /// unpacked (up to three at once) into `dir`; an error from it stops the
    /// pull before the image is named. With `Unpack::CheckOnly` (simulation)
    /// the layers just downloaded are only checked against their diff_ids,
    /// not unpacked: the simulated kernel reads layers from their blobs.
    pub fn add_image_with(
        &self,
        manifest_bytes: &[u8],
        reference: Option<&Reference>,
        mode: Unpack,
        before: &mut dyn FnMut(&LayerInfo, &Path) -> Result<()>,
    ) -> Result<Image> {
        self.hold()?;
        let unpack = matches!(mode, Unpack::Yes);
        let layers: Vec<LayerInfo> = self
            .layers_of(manifest_bytes)?
            .into_iter()
            .filter(|l| match &mode {
                Unpack::Yes => self.layer_meta(l).is_none(),
                Unpack::CheckOnly(fresh) => fresh.contains(&l.digest),
            })
            .collect();
        let dirs = layers
            .iter()
            .map(|l| Ok(self.layer_dir(l)?.join("diff")))
            .collect::<Result<Vec<PathBuf>>>()?;
        if unpack {
            super::parallel::run_announced(
                layers.len(),
                3,
                |i| before(&layers[i], &dirs[i]),
                |i| self.ensure_layer(&layers[i]).map(|_| ()),
            )?;
        } else {
            for (l, d) in layers.iter().zip(&dirs) {
                before(l, d)?;
                self.verify_layer(l)?;
            }
        }
        self.commit_manifest(manifest_bytes, reference, false)
    }

    /// Check a layer blob against its diff_id without unpacking it.
    pub fn verify_layer(&self, layer: &LayerInfo) -> Result<()> {
        let mut hr = HashReader {
            inner: self.open_layer(layer)?,
            hasher: Sha256::new(),
            n: 0,
        };
        io::copy(&mut hr, &mut io::sink())
            .with_context(|| format!("read layer {}", layer.digest))?;
        let got = format!("sha256:{}", hex::encode(hr.hasher.finalize()));
        if got != layer.diff_id {
            bail!(
                "layer {}: diff_id mismatch: expected {}, got {got}",
                layer.digest,
                layer.diff_id
            );
        }
        Ok(())
    }

    /// The layers a manifest (whose blobs are all in the store) names,
    /// with their diff_ids and chain ids from its config.
    fn layers_of(&self, manifest_bytes: &[u8]) -> Result<Vec<LayerInfo>> {
        let m = Manifest::parse(manifest_bytes)?;
        if !self.has_blob(&m.config.digest) {
            bail!("config blob {} is not in the store", m.config.digest);
        }
        for l in &m.layers {
            if !self.has_blob(&l.digest) {
                bail!("layer blob {} is not in the store", l.digest);
            }
        }
        // A descriptor's size must be its blob's: one that lies is refused
        // (OCI image spec: "the size of the content MUST match").
        for (what, d) in
            std::iter::once(("config", &m.config)).chain(m.layers.iter().map(|l| ("layer", l)))
        {
            let n = fs::metadata(self.blob_path(&d.digest))?.len();
            if n != d.size {
                bail!(
                    "size mismatch: the manifest says {what} {} is {} bytes, the blob has {n}",
                    d.digest,
                    d.size
                );
            }
        }
        let config = parse_config(&self.read_blob(&m.config.digest)?)
            .with_context(|| format!("image config {}", m.config.digest))?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != m.layers.len() {
            bail!(
                "manifest has {} layers but config lists {} diff_ids",
                m.layers.len(),
                diff_ids.len()
            );
        }
        let mut layers = Vec::with_capacity(m.layers.len());
        for ((l, diff_id), chain_id) in m.layers.iter().zip(&diff_ids).zip(chain_ids(&diff_ids)) {
            hex_of(diff_id).context("bad diff_id in image config")?;
            layers.push(LayerInfo {
                digest: l.digest.clone(),
                diff_id: diff_id.clone(),
                chain_id,
                media_type: l.media_type.clone(),
                size: l.size,
            });
        }
        Ok(layers)
    }

    /// Write the manifest and name the image. With `merge` (archives,
    /// import, commit), a manifest of an image id the index already holds is
    /// not added: the name joins the existing record. A pull (`merge` off)
    /// keeps the registry's own manifest; its image still lists as one.
    fn commit_manifest(
        &self,
        manifest_bytes: &[u8],
        reference: Option<&Reference>,
        merge: bool,
    ) -> Result<Image> {
        let m = Manifest::parse(manifest_bytes)?;
        test_pause_before_index();
        let digest = self.put_blob(manifest_bytes)?;
        let mt = m
            .media_type
            .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_string());
        let desc = Descriptor::new(&mt, &digest, manifest_bytes.len() as u64);
        let full = reference.map(|r| r.full());
        // One image id, one record: if another manifest of the same config
        // (the same image from a docker-archive and an oci-archive, or a
        // registry) is already named, the new name joins that one. The
        // manifest just written is then unreferenced: garbage for prune.
        let kept = self.update_index(|idx| {
            let same = idx
                .manifests
                .iter()
                .filter(|_| merge)
                .find(|d| {
                    d.digest != desc.digest
                        && self.config_of(&d.digest).as_ref() == Some(&m.config.digest)
                })
                .filter(|_| !idx.manifests.iter().any(|d| d.digest == desc.digest))
                .map(|d| Descriptor::new(&d.media_type, &d.digest, d.size));
            let target = same.unwrap_or_else(|| desc.clone());
            Self::set_ref(idx, &target, full.as_deref());
            Ok(target.digest)
        })?;
        let idx = self.read_index()?;
        self.load_image(&idx, &kept)
    }
}

/// The config and manifest `import` gives a one-layer image whose
/// (uncompressed) layer has digest `diff_id` and `size` bytes. Pure: the
/// same inputs give the same bytes, so the simulated registry can serve the
/// built-in busybox exactly as `run` would import it.
pub fn import_manifest(diff_id: &str, size: u64, cfg: ImportConfig) -> Result<(Vec<u8>, Vec<u8>)> {
    let created = cfg.created.clone().unwrap_or_else(now_rfc3339);
    let mut c = ConfigBuilder::default();
    if let Some(v) = cfg.cmd {
        c = c.cmd(v);
    }
    if let Some(v) = cfg.entrypoint {
        c = c.entrypoint(v);
    }
    if !cfg.env.is_empty() {
        c = c.env(cfg.env);
    }
    if let Some(v) = cfg.working_dir {
        c = c.working_dir(v);
    }
    if let Some(v) = cfg.user {
        c = c.user(v);
    }
    let comment = cfg
        .comment
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("Imported from {}", cfg.source.as_deref().unwrap_or("-")));
    let config = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(Arch::from(host_arch()))
        .os(Os::Linux)
        .config(c.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()?,
        )
        .history(vec![HistoryBuilder::default()
            .created(created)
            .comment(comment)
            .build()?])
        .build()?;
    let config_bytes = if cfg.extra_config.is_empty() {
        serde_json::to_vec(&config)?
    } else {
        let mut v = serde_json::to_value(&config)?;
        if let Some(c) = v.get_mut("config").and_then(|c| c.as_object_mut()) {
            c.extend(cfg.extra_config);
        }
        serde_json::to_vec(&v)?
    };
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&config_bytes)));
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MEDIA_OCI_CONFIG, &config_digest, config_bytes.len() as u64),
        layers: vec![Descriptor::new(MEDIA_OCI_LAYER, diff_id, size)],
        extra: Default::default(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    Ok((config_bytes, manifest_bytes))
}

fn now_rfc3339() -> String {
    crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Parse an image config, tolerating what real-world configs omit
/// (`history` is optional in practice but required by oci-spec's type).
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration> {
    let mut v: serde_json::Value =
        serde_json::from_slice(bytes).context("config is not valid JSON")?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| anyhow!("config is not a JSON object"))?;
    if obj.get("history").is_none_or(|h| h.is_null()) {
        obj.insert("history".into(), serde_json::Value::Array(vec![]));
    }
    if obj.get("rootfs").is_none() {
        bail!("config has no rootfs");
    }
    serde_json::from_value(v).context("invalid image config")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_path(name).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", crate::fsutil::sha256_hex(data))
    }

    fn store() -> (tempfile::TempDir, Store) {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(&t.path().join("root")).unwrap();
        (t, s)
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    /// Put a docker-schema2 image with gzip layers into the store's blobs; returns the manifest bytes.
    fn docker_image(s: &Store, layers: &[Vec<u8>], diff_ids: Option<Vec<String>>) -> Vec<u8> {
        let diff_ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| sha(l)).collect());
        let mut descs = Vec::new();
        for l in layers {
            let gz = gzip(l);
            let d = s.put_blob(&gz).unwrap();
            descs.push(serde_json::json!({"mediaType": MEDIA_DOCKER_LAYER_GZIP, "digest": d, "size": gz.len()}));
        }
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "Hostname": "", "Volumes": null},
            "container_config": {"Cmd": ["x"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}
        });
        let cb = serde_json::to_vec(&config).unwrap();
        let cd = s.put_blob(&cb).unwrap();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": MEDIA_DOCKER_MANIFEST,
            "config": {"mediaType": MEDIA_DOCKER_CONFIG, "digest": cd, "size": cb.len()},
            "layers": descs
        }))
        .unwrap()
    }

    #[test]
    fn open_creates_an_oci_layout() {
        let (_t, s) = store();
        let layout: serde_json::Value = read_json(&s.root.join("oci-layout")).unwrap();
        assert_eq!(layout["imageLayoutVersion"], "1.0.0");
        let idx = s.read_index().unwrap();
        assert_eq!(idx.schema_version, 2);
        assert!(idx.manifests.is_empty());
        assert!(s.root.join("blobs/sha256").is_dir());
        Store::open(&s.root).unwrap();
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn chain_id_rule() {
        let a = sha(b"a");
        let b = sha(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], sha(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn import_tar_builds_a_one_layer_image() {
        let (_t, s) = store();
        let tar = tar_of(&[
            ("etc/hostname", b"box\n"),
            ("bin/hello", b"#!/bin/sh\necho hi\n"),
        ]);
        let cfg = ImportConfig {
            cmd: Some(vec!["/bin/hello".into()]),
            env: vec!["A=1".into()],
            ..Default::default()
        };
        let img = s
            .import_tar(&gzip(&tar)[..], Some(&r("hello")), cfg)
            .unwrap();
        assert_eq!(img.references, vec!["docker.io/library/hello:latest"]);
        assert_eq!(img.layers.len(), 1);
        let l = &img.layers[0];
        assert_eq!(l.diff_id, sha(&tar), "blob stored uncompressed");
        assert_eq!(
            (l.digest.as_str(), l.chain_id.as_str()),
            (l.diff_id.as_str(), l.diff_id.as_str())
        );
        assert_eq!(l.media_type, MEDIA_OCI_LAYER);
        assert_eq!(img.size, 4 + 18);
        assert_eq!(img.config.os(), &Os::Linux);
        assert_eq!(img.config.architecture(), &Arch::from(host_arch()));
        assert!(img.config.created().is_some());
        let c = img.config.config().as_ref().unwrap();
        assert_eq!(c.cmd().as_ref().unwrap(), &vec!["/bin/hello".to_string()]);
        assert_eq!(c.env().as_ref().unwrap(), &vec!["A=1".to_string()]);
        assert_eq!(
            img.config.history()[0].comment().as_deref(),
            Some("Imported from -")
        );
        // blobs are content addressed and verified
        assert_eq!(sha(&fs::read(s.blob_path(&img.id)).unwrap()), img.id);
        assert_eq!(
            sha(&fs::read(s.blob_path(&img.manifest_digest)).unwrap()),
            img.manifest_digest
        );
        let m = Manifest::parse(&fs::read(s.blob_path(&img.manifest_digest)).unwrap()).unwrap();
        assert_eq!(m.media_type.as_deref(), Some(MEDIA_OCI_MANIFEST));
        assert_eq!(m.config.media_type, MEDIA_OCI_CONFIG);
        // the index names it by its full reference
        let idx: serde_json::Value = read_json(&s.root.join("index.json")).unwrap();
        assert_eq!(
            idx["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
            "docker.io/library/hello:latest"
        );
        assert_eq!(idx["manifests"][0]["digest"], img.manifest_digest.as_str());
        // the layer is unpacked and marked complete
        let dirs = s.layer_dirs(&img).unwrap();
        assert_eq!(fs::read(dirs[0].join("etc/hostname")).unwrap(), b"box\n");
        assert!(dirs[0].parent().unwrap().join("meta.json").is_file());
        let mut t = Vec::new();
        s.open_layer(l).unwrap().read_to_end(&mut t).unwrap();
        assert_eq!(t, tar);
    }

    #[test]
    fn resolve_by_name_id_and_prefix() {
        let (_t, s) = store();
        let img = s
            .import_tar(
                &tar_of(&[("a", b"1")])[..],
                Some(&r("user/app:1.0")),
                Default::default(),
            )
            .unwrap();
        let hex = &img.id[7..];
        for q in [
            "user/app:1.0".to_string(),
            "docker.io/user/app:1.0".to_string(),
            img.id.clone(),
            hex.to_string(),
            hex[..12].to_string(),
            hex[..3].to_string(),
            format!("sha256:{}", &hex[..10]),
            img.manifest_digest.clone(),
            format!("user/app@{}", img.manifest_digest),
        ] {
            let got = s
                .resolve(&q)
                .unwrap()
                .unwrap_or_else(|| panic!("{q} not found"));
            assert_eq!(got.id, img.id, "{q}");
        }
        assert!(
            s.resolve("user/app").unwrap().is_none(),
            "latest was never tagged"
        );
        assert!(s.resolve("nothere").unwrap().is_none());
        assert!(s.resolve("ffffffffffff").unwrap().is_none() || hex.starts_with("ffffffffffff"));
        assert!(s.resolve("Bad/Name").is_err());
        assert!(s.resolve("").is_err());
        assert!(s.resolve("sha256:xyz").is_err());
    }

    #[test]
    fn tag_untag_and_dangling() {
        let (_t, s) = store();
        let a = s
            .import_tar(
                &tar_of(&[("a", b"1")])[..],
                Some(&r("app")),
                Default::default(),
            )
            .unwrap();
        s.tag(&a, &r("app:v1")).unwrap();
        s.tag(&a, &r("app:v1")).unwrap(); // idempotent
        let a = s.resolve("app").unwrap().unwrap();
        assert_eq!(
            a.references,
            vec!["docker.io/library/app:latest", "docker.io/library/app:v1"]
        );
        // moving "app:latest" to a new image leaves the old one with only v1
        let b = s
            .import_tar(
                &tar_of(&[("b", b"2")])[..],
                Some(&r("app")),
                Default::default(),
            )
            .unwrap();
        assert_eq!(s.resolve("app").unwrap().unwrap().id, b.id);
        assert_eq!(s.resolve("app:v1").unwrap().unwrap().id, a.id);
        // removing v1 leaves a dangling image
        assert!(s.untag(&r("app:v1")).unwrap());
        assert!(!s.untag(&r("app:v1")).unwrap());
        let rows = s.list().unwrap();
        assert_eq!(rows.len(), 2);
        let dangling: Vec<_> = rows.iter().filter(|r| r.repository == "<none>").collect();
        assert_eq!(dangling.len(), 1);
        assert_eq!(
            (dangling[0].tag.as_str(), dangling[0].id.as_str()),
            ("<none>", a.id.as_str())
        );
        assert!(s.resolve(&a.id).unwrap().is_some());
        // tagging it again revives it; the <none> row goes away
        s.tag(&a, &r("localhost:5000/x:1")).unwrap();
        let rows = s.list().unwrap();
        assert!(rows.iter().all(|r| r.repository != "<none>"));
        assert!(rows
            .iter()
            .any(|r| r.repository == "localhost:5000/x" && r.tag == "1"));
        assert!(s
            .tag(&a, &r(&format!("app@{}", a.manifest_digest)))
            .is_err());
        s.remove_image(&a).unwrap();
        assert!(s.resolve(&a.id).unwrap().is_none());
        assert_eq!(s.list().unwrap().len(), 1);
    }

    #[test]
    fn add_image_with_docker_gzip_layers() {
        let (_t, s) = store();
        let l1 = tar_of(&[
            ("etc/motd", b"hello"),
            ("etc/keep", b"k"),
            ("var/cache/x", b"x"),
        ]);
        let mut l2 = tar_of(&[
            ("etc/new", b"new"),
            ("etc/.wh.motd", b""),
            ("var/cache/.wh..wh..opq", b""),
        ]);
        if !is_root() {
            l2 = tar_of(&[("etc/new", b"new")]);
        }
        let manifest = docker_image(&s, &[l1.clone(), l2.clone()], None);
        let img = s.add_image(&manifest, Some(&r("busybox:1"))).unwrap();
        assert_eq!(img.layers.len(), 2);
        assert_eq!(img.layers[1].chain_id, chain_ids(&[sha(&l1), sha(&l2)])[1]);
        assert_eq!(img.layers[0].media_type, MEDIA_DOCKER_LAYER_GZIP);
        assert_eq!(
            img.config
                .config()
                .as_ref()
                .unwrap()
                .cmd()
                .as_ref()
                .unwrap(),
            &vec!["/bin/sh".to_string()]
        );
        let dirs = s.layer_dirs(&img).unwrap();
        assert_eq!(dirs.len(), 2);
        assert_eq!(fs::read(dirs[0].join("etc/motd")).unwrap(), b"hello");
        assert_eq!(fs::read(dirs[1].join("etc/new")).unwrap(), b"new");
        assert!(dirs[1].ends_with(format!("{}/diff", &img.layers[1].chain_id[7..])));
        if is_root() {
            use std::os::unix::fs::FileTypeExt;
            assert!(fs::symlink_metadata(dirs[1].join("etc/motd"))
                .unwrap()
                .file_type()
                .is_char_device());
        }
        // open_layer decompresses
        let mut t = Vec::new();
        s.open_layer(&img.layers[0])
            .unwrap()
            .read_to_end(&mut t)
            .unwrap();
        assert_eq!(t, l1);
        // adding again is a no-op that keeps the same dirs
        let again = s.add_image(&manifest, Some(&r("busybox:1"))).unwrap();
        assert_eq!(again.references, vec!["docker.io/library/busybox:1"]);
        assert_eq!(s.read_index().unwrap().manifests.len(), 1);
        // a lost layer dir is unpacked again from its blob
        fs::remove_dir_all(dirs[0].parent().unwrap()).unwrap();
        let dirs2 = s.layer_dirs(&img).unwrap();
        assert_eq!(fs::read(dirs2[0].join("etc/motd")).unwrap(), b"hello");
    }

    #[test]
    fn add_image_rejects_wrong_diff_id_and_missing_blobs() {
        let (_t, s) = store();
        let l1 = tar_of(&[("a", b"1")]);
        let manifest = docker_image(
            &s,
            std::slice::from_ref(&l1),
            Some(vec![sha(b"something else")]),
        );
        let err = s.add_image(&manifest, Some(&r("bad"))).unwrap_err();
        assert!(format!("{err:#}").contains("diff_id mismatch"), "{err:#}");
        let leftovers: Vec<_> = fs::read_dir(s.root.join("layers")).unwrap().collect();
        assert!(leftovers.is_empty(), "nothing unpacked or left behind");
        assert!(s.resolve("bad").unwrap().is_none());

        let mut m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        m["layers"][0]["digest"] = sha(b"not stored").into();
        let err = s
            .add_image(&serde_json::to_vec(&m).unwrap(), None)
            .unwrap_err();
        assert!(err.to_string().contains("not in the store"), "{err}");
        m["layers"][0]["digest"] = "sha256:../../../etc/passwd".into();
        assert!(s.add_image(&serde_json::to_vec(&m).unwrap(), None).is_err());
        assert!(s.add_image(b"{not json", None).is_err());
        let list = serde_json::json!({"schemaVersion": 2, "mediaType": MEDIA_DOCKER_MANIFEST_LIST, "manifests": []});
        let err = s
            .add_image(&serde_json::to_vec(&list).unwrap(), None)
            .unwrap_err();
        assert!(err.to_string().contains("multi-platform"), "{err}");
    }

    #[test]
    fn gc_keeps_what_other_images_share() {
        let (_t, s) = store();
        let shared = tar_of(&[("shared", b"s")]);
        let own = tar_of(&[("own", b"o")]);
        let m1 = docker_image(&s, &[shared.clone(), own.clone()], None);
        let m2 = docker_image(&s, std::slice::from_ref(&shared), None);
        let a = s.add_image(&m1, Some(&r("a"))).unwrap();
        let b = s.add_image(&m2, Some(&r("b"))).unwrap();
        s.remove_image(&a).unwrap();
        let removed = s.gc_removed(&a).unwrap();
        assert_eq!(removed, vec![a.layers[1].chain_id.clone()]);
        assert!(!s.has_blob(&a.layers[1].digest) && !s.has_blob(&a.manifest_digest));
        assert!(s.has_blob(&a.layers[0].digest), "shared layer blob kept");
        assert!(
            s.layer_meta(&b.layers[0]).is_some(),
            "shared unpacked layer kept"
        );
        assert_eq!(s.layer_dirs(&b).unwrap().len(), 1);
        // still named: nothing is collected
        assert!(s.gc_removed(&b).unwrap().is_empty());
    }

    /// The same image (one config) under a second manifest: the gzip layers
    /// of `docker_image` stored plain instead.
    fn plain_twin(s: &Store, manifest: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
        let mut m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
        for (i, l) in layers.iter().enumerate() {
            let d = s.put_blob(l).unwrap();
            m["layers"][i] =
                serde_json::json!({"mediaType": MEDIA_OCI_LAYER, "digest": d, "size": l.len()});
        }
        m["mediaType"] = MEDIA_OCI_MANIFEST.into();
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn one_image_id_is_one_image() {
        let (_t, s) = store();
        let layers = vec![tar_of(&[("a", b"1")])];
        let m1 = docker_image(&s, &layers, None);
        let m2 = plain_twin(&s, &m1, &layers);
        // archives (merge): the second manifest's name joins the first record
        let a = s.add_image(&m1, Some(&r("x:1"))).unwrap();
        let b = s.add_image(&m2, Some(&r("x:2"))).unwrap();
        assert_eq!(b.manifest_digest, a.manifest_digest);
        assert_eq!(s.read_index().unwrap().manifests.len(), 2);
        assert_eq!(s.images().unwrap().len(), 1);
        assert_eq!(
            s.garbage().unwrap().blobs.len(),
            2,
            "m2 and its plain layer"
        );
        s.remove_image(&b).unwrap();
        assert!(s.read_index().unwrap().manifests.is_empty());
        s.gc_removed(&b).unwrap();
        let g = s.remove_garbage().unwrap();
        assert_eq!(g.blobs.len(), 2, "{g:?}");
        assert!(s.garbage().unwrap().is_empty());

        // a pull keeps the registry's manifest, yet lists as one image
        let m1 = docker_image(&s, &layers, None);
        let m2 = plain_twin(&s, &m1, &layers);
        s.add_image(&m1, Some(&r("y:1"))).unwrap();
        let b = s
            .add_image_with(&m2, Some(&r("y:2")), Unpack::Yes, &mut |_, _| Ok(()))
            .unwrap();
        assert_ne!(b.manifest_digest, sha(&m1));
        let imgs = s.images().unwrap();
        assert_eq!(imgs.len(), 1);
        assert_eq!(imgs[0].references.len(), 2);
        assert_eq!(s.list().unwrap().len(), 2, "one row per tag");
        // untagging one leaves no <none> twin behind
        assert!(s.untag(&r("y:2")).unwrap());
        assert_eq!(s.read_index().unwrap().manifests.len(), 1);
        assert!(s.list().unwrap().iter().all(|r| r.tag != "<none>"));
        assert_eq!(s.garbage().unwrap().blobs.len(), 2);
    }

    #[test]
    fn lying_descriptor_sizes_and_non_tars_are_refused() {
        let (_t, s) = store();
        let layers = vec![tar_of(&[("a", b"1")])];
        let mut m: serde_json::Value =
            serde_json::from_slice(&docker_image(&s, &layers, None)).unwrap();
        m["layers"][0]["size"] = 1.into();
        let err = s
            .add_image(&serde_json::to_vec(&m).unwrap(), None)
            .unwrap_err();
        assert!(err.to_string().contains("size mismatch"), "{err}");
        // an empty stream is refused, with what to give instead
        let err = s
            .import_tar(&b""[..], None, Default::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("empty, not a tar archive"),
            "{err}"
        );
        assert!(err.to_string().contains("glassbox export"), "{err}");
        let err = s
            .import_tar(&[0xffu8; 600][..], None, Default::default())
            .unwrap_err();
        assert!(err.to_string().contains("not a tar archive"), "{err}");
        // an empty tar archive (two zero blocks) is a valid, empty layer
        assert!(s
            .import_tar(&[0u8; 1024][..], None, Default::default())
            .is_ok());
    }

    #[test]
    fn ingest_blob_verifies() {
        let (_t, s) = store();
        let d = s
            .ingest_blob(&b"hello"[..], Some(&sha(b"hello")), Some(5))
            .unwrap();
        assert_eq!(d, sha(b"hello"));
        assert!(s.has_blob(&d));
        let wrong = sha(b"other");
        let err = s
            .ingest_blob(&b"hello"[..], Some(&wrong), None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("digest mismatch: expected {wrong}, got {d}")
        );
        let err = s.ingest_blob(&b"hello"[..], None, Some(6)).unwrap_err();
        assert!(err.to_string().contains("size mismatch"));
        assert!(s.ingest_blob(&b"x"[..], Some("md5:abc"), None).is_err());
        let names: Vec<_> = fs::read_dir(s.root.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from(&d[7..])],
            "no temp files left"
        );
        assert!(!s.has_blob("sha256:../../oci-layout"));
        assert_eq!(s.put_blob(b"hello").unwrap(), d);
    }

    #[test]
    fn bad_input_gives_clean_errors() {
        let (_t, s) = store();
        // truncated and garbage tarballs
        let tar = tar_of(&[("big", &[1u8; 10_000])]);
        assert!(s
            .import_tar(&tar[..3000], None, Default::default())
            .is_err());
        assert!(s
            .import_tar(&vec![0x42u8; 2048][..], None, Default::default())
            .is_err());
        assert!(s.list().unwrap().is_empty());
        // corrupt index.json
        fs::write(s.root.join("index.json"), b"{\"schemaVersion\": ").unwrap();
        let err = s.list().unwrap_err();
        assert!(format!("{err:#}").contains("index"), "{err:#}");
        assert!(s.resolve("busybox").is_err());
        assert!(s
            .import_tar(&tar[..], Some(&r("x")), Default::default())
            .is_err());
        // index pointing at a missing manifest
        write_json(
            &s.root.join("index.json"),
            &serde_json::json!({"schemaVersion": 2, "manifests": [
                {"mediaType": MEDIA_OCI_MANIFEST, "digest": sha(b"gone"), "size": 4}]}),
        )
        .unwrap();
        let err = s.list().unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
    }

    #[test]
    fn stale_temp_dirs_are_cleaned_and_ignored() {
        let (_t, s) = store();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = s
            .root
            .join("layers")
            .join(format!("{}.tmp-{dead}-0", "ab".repeat(32)));
        fs::create_dir_all(stale.join("diff")).unwrap();
        let stale_blob = s.root.join("blobs/sha256").join(format!(".tmp-{dead}-7"));
        fs::write(&stale_blob, b"partial").unwrap();
        let live =
            s.root
                .join("layers")
                .join(format!("{}.tmp-{}-0", "cd".repeat(32), std::process::id()));
        fs::create_dir_all(&live).unwrap();
        let stale_record = s
            .root
            .join("containers/abc")
            .join(format!(".tmp-{dead}-container.json"));
        fs::create_dir_all(stale_record.parent().unwrap()).unwrap();
        fs::write(&stale_record, b"{").unwrap();
        let stale_load = s.root.join(format!("load.tmp-{dead}-0"));
        fs::create_dir_all(stale_load.join("blobs")).unwrap();
        Store::open(&s.root).unwrap();
        assert!(!stale.exists() && !stale_blob.exists() && !stale_load.exists());
        assert!(stale_record.exists(), "open does not walk the containers");
        s.remove_garbage().unwrap();
        assert!(!stale_record.exists(), "the prune does");
        assert!(
            live.exists(),
            "our own (possibly in-progress) temp dir is kept"
        );
    }

    #[test]
    fn concurrent_imports_do_not_corrupt_the_store() {
        let (_t, s) = store();
        let root = s.root.clone();
        let shared = tar_of(&[("shared", b"same content in every thread")]);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let root = root.clone();
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let s = Store::open(&root).unwrap();
                    let own = tar_of(&[("f", format!("thread {i}").as_bytes())]);
                    let a = s
                        .import_tar(&own[..], Some(&r(&format!("t{i}"))), Default::default())
                        .unwrap();
                    s.tag(&a, &r("everyone:latest")).unwrap();
                    // identical layer from all threads at once: one unpack wins, all succeed
                    let b = s
                        .import_tar(
                            &shared[..],
                            Some(&r(&format!("shared:{i}"))),
                            Default::default(),
                        )
                        .unwrap();
                    assert_eq!(
                        fs::read(s.layer_dirs(&b).unwrap()[0].join("shared")).unwrap(),
                        &shared[512..540]
                    );
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let idx = s.read_index().unwrap();
        let names: Vec<_> = idx.manifests.iter().filter_map(|d| d.ref_name()).collect();
        for i in 0..8 {
            assert!(
                names.contains(&format!("docker.io/library/t{i}:latest").as_str()),
                "{names:?}"
            );
            assert!(
                names.contains(&format!("docker.io/library/shared:{i}").as_str()),
                "{names:?}"
            );
        }
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "docker.io/library/everyone:latest")
                .count(),
            1
        );
        assert!(s.list().unwrap().len() >= 17);
        let leftovers: Vec<_> = fs::read_dir(s.root.join("layers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn concurrent_processes_share_the_lock() {
        // Two real processes (this test binary re-run on one test) importing into one store.
        if std::env::var_os("GB_IMAGE_CHILD_ROOT").is_some() {
            return;
        }
        let (_t, s) = store();
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..3)
            .map(|i| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "image::store::tests::child_import",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env("GB_IMAGE_CHILD_ROOT", &s.root)
                    .env("GB_IMAGE_CHILD_N", i.to_string())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let names: Vec<String> = s
            .read_index()
            .unwrap()
            .manifests
            .iter()
            .filter_map(|d| d.ref_name().map(String::from))
            .collect();
        for i in 0..3 {
            for j in 0..5 {
                assert!(
                    names.contains(&format!("docker.io/library/p{i}:{j}")),
                    "{names:?}"
                );
            }
        }
    }

    #[test]
    fn child_import() {
        let Some(root) = std::env::var_os("GB_IMAGE_CHILD_ROOT") else {
            return;
        };
        let n = std::env::var("GB_IMAGE_CHILD_N").unwrap();
        let s = Store::open(Path::new(&root)).unwrap();
        for j in 0..5 {
            let t = tar_of(&[("f", format!("{n}-{j}").as_bytes()), ("common", b"c")]);
            s.import_tar(&t[..], Some(&r(&format!("p{n}:{j}"))), Default::default())
                .unwrap();
        }
    }
}
