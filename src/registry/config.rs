//! Registry settings and stored credentials.
//!
//! - `config.toml` (under the root, else `/etc/glassbox/config.toml`):
//!   `registry_mirrors = ["http://127.0.0.1:5000"]` is tried first for
//!   docker.io images (docker's `registry-mirrors`), and
//!   `insecure_registries = ["myhost:5000"]` are spoken to over plain http
//!   (as are all registries on 127.0.0.0/8 and localhost).
//! - `auth.json` (under the root, mode 0600): what `login` stored, the same
//!   shape as docker's `~/.docker/config.json`:
//!   `{"auths": {"REGISTRY": {"auth": base64("user:password")}}}`.

use crate::fsutil::read_json;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SYSTEM_CONFIG: &str = "/etc/glassbox/config.toml";

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RegistryConfig {
    /// Base URLs (`http://127.0.0.1:5000`) tried before docker.io, in order.
    pub registry_mirrors: Vec<String>,
    /// Registries (`host[:port]`) reached over http instead of https.
    pub insecure_registries: Vec<String>,
}

impl RegistryConfig {
    /// `<root>/config.toml` if it exists, else `/etc/glassbox/config.toml`,
    /// else the defaults (no mirrors). Unknown keys are ignored: the file may
    /// hold settings for other parts of glassbox.
    pub fn load(root: &Path) -> Result<RegistryConfig> {
        for p in [root.join("config.toml"), PathBuf::from(SYSTEM_CONFIG)] {
            if p.is_file() {
                let text =
                    fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
                let cfg: RegistryConfig =
                    toml::from_str(&text).with_context(|| format!("parse {}", p.display()))?;
                for m in &cfg.registry_mirrors {
                    if !(m.starts_with("http://") || m.starts_with("https://")) {
                        bail!(
                            "{}: registry mirror {m:?} must be a URL (http://host:port or https://host)",
                            p.display()
                        );
                    }
                }
                return Ok(cfg);
            }
        }
        Ok(RegistryConfig::default())
    }

    /// http or https for a registry host (`host[:port]`).
    pub fn scheme_for(&self, registry: &str) -> &'static str {
        if is_local(registry) || self.insecure_registries.iter().any(|r| r == registry) {
            "http"
        } else {
            "https"
        }
    }
}

/// localhost, 127.0.0.0/8 and ::1, with or without a port.
pub fn is_local(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(registry)
    };
    if host == "localhost" || host == "::1" {
        return true;
    }
    match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// The host:port a user means by a registry argument (`docker.io`,
/// `https://index.docker.io/v1/`, `http://127.0.0.1:5000`).
pub fn normalize_registry(arg: &str) -> String {
    let s = arg
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthFile {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthEntry {
    pub auth: String,
}

fn auth_path(root: &Path) -> PathBuf {
    root.join("auth.json")
}

impl AuthFile {
    pub fn load(root: &Path) -> Result<AuthFile> {
        let p = auth_path(root);
        if !p.exists() {
            return Ok(AuthFile::default());
        }
        read_json(&p)
    }

    /// Write with mode 0600 (credentials), atomically.
    pub fn save(&self, root: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::create_dir_all(root)?;
        let p = auth_path(root);
        let tmp = root.join(format!(".tmp-{}-auth.json", std::process::id()));
        {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("create {}", tmp.display()))?;
            f.write_all(&serde_json::to_vec_pretty(self)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &p).with_context(|| format!("write {}", p.display()))?;
        Ok(())
    }

    /// The (user, password) stored for a registry, if any.
    pub fn credentials(&self, registry: &str) -> Option<(String, String)> {
        let e = self.auths.get(&normalize_registry(registry))?;
        let raw = base64_decode(&e.auth)?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    pub fn set(&mut self, registry: &str, user: &str, password: &str) {
        self.auths.insert(
            normalize_registry(registry),
            AuthEntry {
                auth: base64_encode(format!("{user}:{password}").as_bytes()),
            },
        );
    }

    pub fn remove(&mut self, registry: &str) -> bool {
        self.auths.remove(&normalize_registry(registry)).is_some()
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what HTTP Basic auth and docker's config use).
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("user:pa:ss", "dXNlcjpwYTpzcw=="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn local_and_schemes() {
        for r in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_local(r), "{r}");
        }
        for r in [
            "docker.io",
            "10.0.0.1:5000",
            "myreg:5000",
            "localhost.example.com",
        ] {
            assert!(!is_local(r), "{r}");
        }
        let c = RegistryConfig {
            insecure_registries: vec!["myreg:5000".into()],
            ..Default::default()
        };
        assert_eq!(c.scheme_for("myreg:5000"), "http");
        assert_eq!(c.scheme_for("127.0.0.1:5000"), "http");
        assert_eq!(c.scheme_for("quay.io"), "https");
    }

    #[test]
    fn config_and_auth_files() {
        let t = tempfile::tempdir().unwrap();
        fs::write(
            t.path().join("config.toml"),
            "registry_mirrors = [\"http://127.0.0.1:5000\"]\nother_setting = 1\n",
        )
        .unwrap();
        let c = RegistryConfig::load(t.path()).unwrap();
        assert_eq!(c.registry_mirrors, vec!["http://127.0.0.1:5000"]);
        fs::write(
            t.path().join("config.toml"),
            "registry_mirrors = [\"127.0.0.1:5000\"]\n",
        )
        .unwrap();
        assert!(RegistryConfig::load(t.path()).is_err());

        let mut a = AuthFile::load(t.path()).unwrap();
        assert!(a.credentials("docker.io").is_none());
        a.set("https://index.docker.io/v1/", "bob", "s3:cret");
        a.save(t.path()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(t.path().join("auth.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let a = AuthFile::load(t.path()).unwrap();
        assert_eq!(
            a.credentials("docker.io"),
            Some(("bob".to_string(), "s3:cret".to_string()))
        );
        assert_eq!(
            normalize_registry("http://127.0.0.1:5000/"),
            "127.0.0.1:5000"
        );
    }
}
