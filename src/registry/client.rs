//! An HTTP client for one repository on one registry (the distribution API,
//! `/v2/...`), with docker's authentication dance:
//!
//! 1. `GET /v2/` ("ping"). 200: no auth needed.
//! 2. 401 with `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`:
//!    ask the realm for a token (`?service=..&scope=repository:NAME:pull`),
//!    anonymously or with the credentials `login` stored, and send it as
//!    `Authorization: Bearer TOKEN` from then on.
//! 3. 401 with `WWW-Authenticate: Basic realm=...`: send the stored
//!    credentials as `Authorization: Basic base64(user:password)`.
//!
//! A later 401 (a token expired, or the registry wants a wider scope) is
//! answered once more with a fresh token from that challenge.

use super::config::base64_encode;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// What went wrong, classified so callers can decide what to do (fall back
/// to the next mirror, say "manifest unknown", name the unreachable host).
#[derive(Debug)]
pub enum RegistryError {
    /// 404 (or the registry's NAME_UNKNOWN / MANIFEST_UNKNOWN / BLOB_UNKNOWN).
    NotFound(String),
    /// Could not connect, DNS failed, TLS failed, timed out.
    Unreachable(String),
    /// 401/403 even after authenticating.
    Unauthorized(String),
    /// Anything else: 5xx, a malformed answer.
    Other(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::NotFound(m)
            | RegistryError::Unreachable(m)
            | RegistryError::Unauthorized(m)
            | RegistryError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RegistryError {}

pub type RResult<T> = std::result::Result<T, RegistryError>;

/// A request body that can be sent again after a 401.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(PathBuf, u64),
}

/// A `WWW-Authenticate` challenge from a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic` (lower case).
    pub scheme: String,
    pub params: Vec<(String, String)>,
    pub raw: String,
}

impl Challenge {
    pub fn parse(header: &str) -> Challenge {
        let (scheme, params) = parse_challenge(header);
        Challenge {
            scheme,
            params,
            raw: header.to_string(),
        }
    }
    /// The Bearer challenge of a response if it offers one, else its first.
    fn from_response(resp: &ureq::Response) -> Challenge {
        let challenges = resp.all("www-authenticate");
        let h = challenges
            .iter()
            .find(|c| c.trim_start().to_ascii_lowercase().starts_with("bearer"))
            .or_else(|| challenges.first())
            .map(|s| s.to_string())
            .unwrap_or_default();
        Challenge::parse(&h)
    }
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A manifest response whose headers arrived and whose body is still to be
/// read: the pull reports its media type before reading it.
pub struct ManifestResponse {
    pub media_type: String,
    /// `Docker-Content-Digest`, when the registry sent one.
    pub digest: Option<String>,
    pub body: Box<dyn Read + Send>,
}

/// What a pull needs from a registry: the HTTP [`Client`], or the simulated
/// registry of `--simulate pull` (`super::sim`), which serves the local store.
pub trait Remote: Sync {
    /// `http://127.0.0.1:5000`, `https://registry-1.docker.io`
    fn base(&self) -> &str;
    /// `host[:port]`
    fn registry(&self) -> &str;
    /// `library/busybox`
    fn repo(&self) -> &str;
    /// Token scope actions: `pull` or `pull,push`.
    fn actions(&self) -> &str;
    fn has_credentials(&self) -> bool;
    /// `GET /v2/`: `None`, or the challenge of a 401.
    fn ping_challenge(&self) -> RResult<Option<Challenge>>;
    /// Answer a challenge (fetch a token, or use Basic credentials).
    fn answer(&self, c: &Challenge) -> RResult<()>;
    /// `GET /v2/<repo>/manifests/<reference>`, up to the headers.
    fn open_manifest(&self, reference: &str) -> RResult<ManifestResponse>;
    /// `GET /v2/<repo>/blobs/<digest>`: a stream and its length if known.
    fn get_blob(&self, digest: &str) -> RResult<(Box<dyn Read + Send + Sync>, Option<u64>)>;
    /// The full URL of a path on this registry.
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }
}

impl Remote for Client {
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
        &self.actions
    }
    fn has_credentials(&self) -> bool {
        self.creds.is_some()
    }
    fn ping_challenge(&self) -> RResult<Option<Challenge>> {
        Client::ping_challenge(self)
    }
    fn answer(&self, c: &Challenge) -> RResult<()> {
        Client::answer(self, c)
    }
    fn open_manifest(&self, reference: &str) -> RResult<ManifestResponse> {
        let path = format!("/v2/{}/manifests/{}", self.repo, reference);
        let resp = self.send("GET", &path, &[("Accept", MANIFEST_ACCEPT)], &Body::Empty)?;
        Ok(ManifestResponse {
            media_type: resp.content_type().to_string(),
            digest: resp.header("docker-content-digest").map(str::to_string),
            body: Box::new(resp.into_reader().take(8 << 20)),
        })
    }
    fn get_blob(&self, digest: &str) -> RResult<(Box<dyn Read + Send + Sync>, Option<u64>)> {
        Client::get_blob(self, digest)
    }
    fn url(&self, path: &str) -> String {
        Client::url(self, path)
    }
}

pub struct Client {
    agent: ureq::Agent,
    /// `http://127.0.0.1:5000`, `https://registry-1.docker.io`
    pub base: String,
    /// `host[:port]`, for messages and the credentials lookup.
    pub registry: String,
    /// `library/busybox`
    pub repo: String,
    /// Token scope actions: `pull` or `pull,push`.
    actions: String,
    creds: Option<(String, String)>,
    /// The `Authorization` header value in use, once known.
    auth: Mutex<Option<String>>,
}

/// The `Accept` header for manifests: every kind we can read.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

impl Client {
    pub fn new(
        base: &str,
        registry: &str,
        repo: &str,
        actions: &str,
        creds: Option<(String, String)>,
    ) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .redirects(5)
            .user_agent(concat!("glassbox/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            registry: registry.to_string(),
            repo: repo.to_string(),
            actions: actions.to_string(),
            creds,
            auth: Mutex::new(None),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// `GET /v2/`: check the registry answers and set up authentication.
    pub fn ping(&self) -> RResult<()> {
        if let Some(c) = self.ping_challenge()? {
            self.answer(&c)?;
        }
        Ok(())
    }

    /// `GET /v2/` alone: `None` when no authentication is wanted, the
    /// challenge of a 401 otherwise (answer it with [`Client::answer`]).
    pub fn ping_challenge(&self) -> RResult<Option<Challenge>> {
        let url = self.url("/v2/");
        match self.agent.get(&url).call() {
            Ok(_) => Ok(None),
            Err(ureq::Error::Status(401, resp)) => Ok(Some(Challenge::from_response(&resp))),
            // Some registries answer 404 on /v2/ when they require no auth.
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(self.classify("GET", &url, e)),
        }
    }

    /// Answer a 401: fetch a token (Bearer) or use the stored credentials (Basic).
    pub fn answer(&self, c: &Challenge) -> RResult<()> {
        let challenge = c.raw.clone();
        let scheme = c.scheme.clone();
        let params = c.params.clone();
        let header = match scheme.as_str() {
            "bearer" => {
                let realm = params
                    .iter()
                    .find(|(k, _)| k == "realm")
                    .map(|(_, v)| v.clone());
                let Some(realm) = realm else {
                    return Err(RegistryError::Unauthorized(format!(
                        "{}: Bearer challenge without a realm: {challenge:?}",
                        self.registry
                    )));
                };
                let mut url = realm.clone();
                let mut q: Vec<(String, String)> = Vec::new();
                if let Some((_, s)) = params.iter().find(|(k, _)| k == "service") {
                    q.push(("service".into(), s.clone()));
                }
                // No repository (login): a token for the registry itself, no scope.
                if !self.repo.is_empty() {
                    q.push((
                        "scope".into(),
                        format!("repository:{}:{}", self.repo, self.actions),
                    ));
                }
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(
                    &q.iter()
                        .map(|(k, v)| format!("{k}={}", url_encode(v)))
                        .collect::<Vec<_>>()
                        .join("&"),
                );
                let mut req = self.agent.get(&url);
                if let Some((u, p)) = &self.creds {
                    req = req.set(
                        "Authorization",
                        &format!("Basic {}", base64_encode(format!("{u}:{p}").as_bytes())),
                    );
                }
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(code @ (401 | 403), _)) => {
                        return Err(RegistryError::Unauthorized(format!(
                            "Get \"{realm}\": {code}: unauthorized: incorrect username or password"
                        )))
                    }
                    Err(e) => return Err(self.classify("GET", &realm, e)),
                };
                let text = resp
                    .into_string()
                    .map_err(|e| RegistryError::Other(format!("token from {realm}: {e}")))?;
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    RegistryError::Other(format!("token from {realm}: invalid JSON: {e}"))
                })?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| {
                        RegistryError::Other(format!("token from {realm}: no token in the answer"))
                    })?;
                format!("Bearer {token}")
            }
            "basic" => match &self.creds {
                Some((u, p)) => {
                    format!("Basic {}", base64_encode(format!("{u}:{p}").as_bytes()))
                }
                None => {
                    return Err(RegistryError::Unauthorized(format!(
                        "{}: authentication required (glassbox login {})",
                        self.registry, self.registry
                    )))
                }
            },
            _ => {
                return Err(RegistryError::Unauthorized(format!(
                    "{}: unsupported authentication challenge {challenge:?}",
                    self.registry
                )))
            }
        };
        *self.auth.lock().unwrap() = Some(header);
        Ok(())
    }

    /// Send a request with auth; on a 401 re-authenticate once and retry.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Body,
    ) -> RResult<ureq::Response> {
        let url = self.url(path);
        let mut retried = false;
        loop {
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self.auth.lock().unwrap().clone() {
                req = req.set("Authorization", &a);
            }
            let res = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::File(p, len) => {
                    let f = std::fs::File::open(p)
                        .map_err(|e| RegistryError::Other(format!("open {}: {e}", p.display())))?;
                    req.set("Content-Length", &len.to_string()).send(f)
                }
            };
            match res {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, resp)) if !retried => {
                    retried = true;
                    self.answer(&Challenge::from_response(&resp))?;
                }
                Err(e) => return Err(self.classify(method, &url, e)),
            }
        }
    }

    /// Turn a ureq error into a classified, docker-like message.
    fn classify(&self, method: &str, url: &str, e: ureq::Error) -> RegistryError {
        let verb = title_case(method);
        match e {
            ureq::Error::Status(code, resp) => {
                let body = resp.into_string().unwrap_or_default();
                let (codes, msg) = registry_errors(&body);
                let msg = if msg.is_empty() {
                    format!("{verb} \"{url}\": {code}")
                } else {
                    msg
                };
                match code {
                    404 => RegistryError::NotFound(msg),
                    401 | 403 => RegistryError::Unauthorized(if codes.is_empty() {
                        format!("{verb} \"{url}\": {code} unauthorized")
                    } else {
                        msg
                    }),
                    _ if codes.iter().any(|c| c.ends_with("_UNKNOWN")) => {
                        RegistryError::NotFound(msg)
                    }
                    _ => RegistryError::Other(format!("{verb} \"{url}\": {code}: {msg}")),
                }
            }
            ureq::Error::Transport(t) => {
                let why = match t.kind() {
                    ureq::ErrorKind::Dns => "could not resolve the host name".to_string(),
                    ureq::ErrorKind::ConnectionFailed => {
                        "connection refused or unreachable".to_string()
                    }
                    ureq::ErrorKind::UnknownScheme if url.starts_with("https") => {
                        "https is not supported by this build".to_string()
                    }
                    _ => t.to_string(),
                };
                let detail = t
                    .message()
                    .filter(|m| !why.contains(m))
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                RegistryError::Unreachable(format!(
                    "{verb} \"{url}\": cannot reach registry {}: {why}{detail}",
                    self.registry
                ))
            }
        }
    }

    /// GET a manifest (by tag or digest): its bytes and media type.
    pub fn get_manifest(&self, reference: &str) -> RResult<(Vec<u8>, String)> {
        let path = format!("/v2/{}/manifests/{}", self.repo, reference);
        let resp = self.send("GET", &path, &[("Accept", MANIFEST_ACCEPT)], &Body::Empty)?;
        let ct = resp.content_type().to_string();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(8 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Other(format!("read manifest {reference}: {e}")))?;
        Ok((bytes, ct))
    }

    /// `GET /v2/<name>/tags/list`: every tag of the repository.
    pub fn list_tags(&self) -> RResult<Vec<String>> {
        let path = format!("/v2/{}/tags/list", self.repo);
        let resp = self.send("GET", &path, &[], &Body::Empty)?;
        let text = resp
            .into_string()
            .map_err(|e| RegistryError::Other(format!("read tag list: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| RegistryError::Other(format!("tag list is not JSON: {e}")))?;
        Ok(v.get("tags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect())
    }

    /// A streaming reader over a blob.
    pub fn get_blob(&self, digest: &str) -> RResult<(Box<dyn Read + Send + Sync>, Option<u64>)> {
        let path = format!("/v2/{}/blobs/{}", self.repo, digest);
        let resp = self.send("GET", &path, &[], &Body::Empty)?;
        let len = resp.header("content-length").and_then(|v| v.parse().ok());
        Ok((resp.into_reader(), len))
    }

    /// Does the registry have this blob in this repository?
    pub fn has_blob(&self, digest: &str) -> RResult<bool> {
        let path = format!("/v2/{}/blobs/{}", self.repo, digest);
        match self.send("HEAD", &path, &[], &Body::Empty) {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Monolithic upload: `POST .../blobs/uploads/`, then `PUT <location>?digest=`.
    pub fn upload_blob(&self, digest: &str, body: &Body) -> RResult<()> {
        let path = format!("/v2/{}/blobs/uploads/", self.repo);
        let resp = self.send("POST", &path, &[("Content-Length", "0")], &Body::Empty)?;
        let loc = resp.header("location").ok_or_else(|| {
            RegistryError::Other(format!(
                "{}: upload started without a Location header",
                self.registry
            ))
        })?;
        let mut put = if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            format!("{}/v2/{}/blobs/uploads/{loc}", self.base, self.repo)
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(&url_encode(digest));
        self.send(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            body,
        )?;
        Ok(())
    }

    /// `PUT /v2/<name>/manifests/<tag>`; returns the digest the registry reports.
    pub fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> RResult<Option<String>> {
        let path = format!("/v2/{}/manifests/{}", self.repo, tag);
        let resp = self.send(
            "PUT",
            &path,
            &[("Content-Type", media_type)],
            &Body::Bytes(bytes),
        )?;
        Ok(resp.header("docker-content-digest").map(str::to_string))
    }
}

fn title_case(method: &str) -> String {
    let m = method.to_ascii_lowercase();
    let mut c = m.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => m,
    }
}

/// The registry's `{"errors":[{"code":..,"message":..}]}` body: codes, and
/// the messages joined (docker prints `manifest unknown`).
pub fn registry_errors(body: &str) -> (Vec<String>, String) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return (vec![], String::new());
    };
    let mut codes = Vec::new();
    let mut msgs = Vec::new();
    for e in v
        .get("errors")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(c) = e.get("code").and_then(|c| c.as_str()) {
            codes.push(c.to_string());
        }
        if let Some(m) = e.get("message").and_then(|c| c.as_str()) {
            msgs.push(m.to_string());
        }
    }
    (codes, msgs.join("; "))
}

/// Parse `Bearer realm="x",service="y",scope="a,b"` into ("bearer", [(k, v)]).
pub fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = Vec::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = rest[ks..i].trim().to_ascii_lowercase();
        i += 1; // '='
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i] as char);
                i += 1;
            }
            i += 1;
        } else {
            let vs = i.min(b.len());
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = rest[vs..i.min(b.len())].trim().to_string();
        }
        if !key.is_empty() {
            params.push((key, val));
        }
    }
    (scheme.to_ascii_lowercase(), params)
}

/// Percent-encode a query value (RFC 3986 unreserved characters pass).
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.docker.io/token".into()),
                ("service".into(), "registry.docker.io".into()),
                (
                    "scope".into(),
                    "repository:library/busybox:pull,push".into()
                ),
            ]
        );
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((s.as_str(), p[0].1.as_str()), ("basic", "Registry Realm"));
        assert_eq!(
            url_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        let (codes, msg) = registry_errors(
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#,
        );
        assert_eq!(
            (codes[0].as_str(), msg.as_str()),
            ("MANIFEST_UNKNOWN", "manifest unknown")
        );
    }
}
