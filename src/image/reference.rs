//! Image references: `busybox`, `user/app:1.0`, `localhost:5000/x@sha256:...`.
//!
//! Docker accepts short names and fills in the rest ("normalization"):
//! `busybox` means `docker.io/library/busybox:latest`. We store the full form
//! in `index.json` (so other OCI tools see an unambiguous name) and print the
//! short ("familiar") form, as docker does.

use anyhow::{bail, Result};
use std::fmt;

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const OFFICIAL_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalized image reference.
///
/// `tag` is `Some("latest")` when neither a tag nor a digest was given, so a
/// bare name always means a tag; with only a digest, `tag` stays `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host, with optional port: `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Path inside the registry: `library/busybox`, `user/app`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>` manifest digest.
    pub digest: Option<String>,
}

fn invalid(why: &str) -> anyhow::Error {
    if why.is_empty() {
        anyhow::anyhow!("invalid reference format")
    } else {
        anyhow::anyhow!("invalid reference format: {why}")
    }
}

/// A path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run: ".", "_", "__" or one or more "-"
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry host: dns labels separated by dots (or `[ipv6]`), optional `:port`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if d.starts_with('[') {
        match d.find(']') {
            Some(end) => {
                let rest = &d[end + 1..];
                let port = match rest.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if rest.is_empty() => None,
                    None => return false,
                };
                let inner = &d[1..end];
                if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    return false;
                }
                (None, port)
            }
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(h) = host {
        if h.is_empty() {
            return false;
        }
        for label in h.split('.') {
            let b = label.as_bytes();
            if b.is_empty()
                || !b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                || b[0] == b'-'
                || b[b.len() - 1] == b'-'
            {
                return false;
            }
        }
    }
    true
}

/// A tag: `[\w][\w.-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// A digest we can address: `sha256:` followed by 64 lowercase hex digits.
pub fn valid_digest(d: &str) -> bool {
    match d.strip_prefix("sha256:") {
        Some(h) => {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

fn is_64_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Reference {
    /// Parse and normalize a reference the way `docker pull`/`docker tag` do.
    pub fn parse(s: &str) -> Result<Reference> {
        if s.is_empty() {
            bail!(invalid(""));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!(invalid("reference contains whitespace"));
        }
        // 1. digest: everything after the first '@'
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    if d.contains(':') && !d.starts_with("sha256:") {
                        bail!(invalid(&format!("unsupported digest algorithm in {d:?}")));
                    }
                    bail!(invalid(&format!(
                        "invalid digest {d:?} (want sha256:<64 hex digits>)"
                    )));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        if name_tag.is_empty() {
            bail!(invalid(""));
        }
        // 2. tag: after the last ':' that comes after the last '/'
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                let t = &name_tag[i + 1..];
                if !valid_tag(t) {
                    bail!(invalid(&format!(
                        "invalid tag {t:?} (allowed: letters, digits, '_', '.', '-'; max 128; not starting with '.' or '-')"
                    )));
                }
                (&name_tag[..i], Some(t.to_string()))
            }
            None => (name_tag, None),
        };
        if name.is_empty() {
            bail!(invalid(""));
        }
        if name.len() > 255 {
            bail!(invalid(
                "repository name must not be more than 255 characters"
            ));
        }
        // 3. registry: the first component, if it looks like a host
        //    (has '.' or ':', is "localhost", or has uppercase letters).
        let (mut registry, mut repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                if !valid_domain(first) {
                    bail!(invalid(&format!("invalid registry host {first:?}")));
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if registry == "index.docker.io" {
            registry = DEFAULT_REGISTRY.to_string();
        }
        if repository.is_empty() {
            bail!(invalid(""));
        }
        for comp in repository.split('/') {
            if !valid_path_component(comp) {
                if valid_path_component(&comp.to_ascii_lowercase()) {
                    bail!(invalid("repository name must be lowercase"));
                }
                bail!(invalid(&format!(
                    "invalid repository name component {comp:?}"
                )));
            }
        }
        if registry == DEFAULT_REGISTRY {
            if is_64_hex(&repository) && !name.contains('/') {
                bail!("invalid repository name ({repository}), cannot specify 64-byte hexadecimal strings");
            }
            if !repository.contains('/') {
                repository = format!("{OFFICIAL_PREFIX}{repository}");
            }
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (t, _) => t,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, no tag: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The full normalized string stored in index.json:
    /// `docker.io/library/busybox:latest`, `localhost:5000/x@sha256:...`.
    pub fn full(&self) -> String {
        let mut s = self.name();
        self.push_suffix(&mut s);
        s
    }

    /// Docker's short repository name: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_repo(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            match self.repository.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            self.name()
        }
    }

    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// Same repository, another tag, no digest (what `docker tag` creates).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
    }
}

impl fmt::Display for Reference {
    /// The familiar form: `busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.familiar_repo();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl std::str::FromStr for Reference {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .full()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(full("user/app:v1.2-rc_3"), "docker.io/user/app:v1.2-rc_3");
        assert_eq!(full("localhost:5000/x:1"), "localhost:5000/x:1");
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(full("127.0.0.1:5000/a/b:t"), "127.0.0.1:5000/a/b:t");
        assert_eq!(full("quay.io/coreos/etcd"), "quay.io/coreos/etcd:latest");
        assert_eq!(
            full("my-registry.example.com:443/a/b/c"),
            "my-registry.example.com:443/a/b/c:latest"
        );
        assert_eq!(
            full("a__b/c.d/e-f---g"),
            "docker.io/a__b/c.d/e-f---g:latest"
        );
        assert_eq!(full("[::1]:5000/x"), "[::1]:5000/x:latest");
    }

    #[test]
    fn digests() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.full(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.to_string(), format!("busybox@{D}"));
        assert_eq!(r.tag_or_latest(), "latest");

        let r = Reference::parse(&format!("busybox:1.0@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.full(), format!("docker.io/library/busybox:1.0@{D}"));

        let r = Reference::parse(&format!("localhost:5000/x@{D}")).unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "x");
        assert_eq!(r.tag, None);
    }

    #[test]
    fn fields_and_familiar_forms() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.familiar_repo(), "busybox");
        assert_eq!(r.to_string(), "busybox:latest");
        assert_eq!(r.name(), "docker.io/library/busybox");

        assert_eq!(
            Reference::parse("user/app:2").unwrap().to_string(),
            "user/app:2"
        );
        assert_eq!(
            Reference::parse("library/a/b").unwrap().familiar_repo(),
            "library/a/b"
        );
        assert_eq!(
            Reference::parse("localhost:5000/x:1").unwrap().to_string(),
            "localhost:5000/x:1"
        );
        assert_eq!(
            Reference::parse("localhost:5000/x:1")
                .unwrap()
                .familiar_repo(),
            "localhost:5000/x"
        );
        // parse(full()) round-trips
        for s in ["busybox", "user/app:1", "localhost:5000/a/b:c"] {
            let r = Reference::parse(s).unwrap();
            assert_eq!(Reference::parse(&r.full()).unwrap(), r);
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }
        assert_eq!(
            Reference::parse("busybox").unwrap().with_tag("x").full(),
            "docker.io/library/busybox:x"
        );
    }

    #[test]
    fn rejects_malformed() {
        let err = |s: &str| match Reference::parse(s) {
            Ok(r) => panic!("{s:?} parsed as {r:?}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            err("Busybox"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            err("user/App:1"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(err(""), "invalid reference format");
        assert!(err("busybox@sha256:abc").contains("invalid digest"));
        assert!(err("busybox@md5:abc").contains("unsupported digest"));
        assert!(err(&format!(
            "busybox@{}",
            D.to_uppercase().replace("SHA256", "sha256")
        ))
        .contains("invalid digest"));
        assert!(err("busybox:bad/tag").starts_with("invalid reference format"));
        assert!(err("busybox:-x").contains("invalid tag"));
        assert!(err("busybox:").contains("invalid tag"));
        assert!(err("busybox:a+b").contains("invalid tag"));
        assert!(err(&format!("busybox:{}", "a".repeat(129))).contains("invalid tag"));
        assert!(err(":tag").starts_with("invalid reference format"));
        assert!(err("/busybox").starts_with("invalid reference format"));
        assert!(err("busybox/").starts_with("invalid reference format"));
        assert!(err("a//b").starts_with("invalid reference format"));
        assert!(err("a/-b").starts_with("invalid reference format"));
        assert!(err("a b").starts_with("invalid reference format"));
        assert!(err("a...b").starts_with("invalid reference format"));
        assert!(err("a___b").starts_with("invalid reference format"));
        assert!(err("localhost:port/x").contains("registry"));
        assert!(err("-bad.host/x").contains("registry"));
        assert!(err(&"a".repeat(300)).contains("255"));
        assert!(err(&D[7..]).contains("64-byte hexadecimal"));
    }

    #[test]
    fn helpers() {
        assert!(valid_tag("latest") && valid_tag("_x") && valid_tag("1.0-rc.1"));
        assert!(!valid_tag(".x") && !valid_tag(""));
        assert!(valid_digest(D));
        assert!(!valid_digest("sha256:../../etc/passwd"));
    }
}
