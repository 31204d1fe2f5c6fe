//! What a container mounts, as the user asked for it: `-v`, `--mount`,
//! `--volumes-from` and the image's `VOLUME`s, parsed with docker's rules
//! into `MountSpec`s that the record keeps (`config.mounts`).

use crate::error::EXIT_ENGINE;
use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// A host file or directory.
    Bind,
    /// A volume in the store (`<root>/volumes/<name>/_data`).
    Volume,
    /// A fresh tmpfs (`--mount type=tmpfs`).
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// The volume's name (volumes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A bind's host path, absolute and cleaned, as given (its symlinks are
    /// resolved on the host at each start, as docker does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Where the container sees it (absolute, cleaned).
    pub destination: String,
    pub rw: bool,
    /// docker's Mode: what `-v` gave after the second colon ("ro", "rw,z"),
    /// "z" for a named volume without one, "" otherwise.
    #[serde(default)]
    pub mode: String,
    /// The volume was made for this container (`-v /path`, the image's
    /// VOLUME): `rm -v` and `--rm` remove it with the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
    /// Do not copy the image's files into an empty volume (`nocopy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    /// `-v` makes a missing host directory; `--mount type=bind` refuses it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_source: bool,
    /// tmpfs mount data (size=, mode=).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs_options: String,
}

fn invalid(message: String) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(EXIT_ENGINE, message))
}

/// Clean an absolute container or host path: `//a/./b/` → `/a/b` (`..` kept
/// for the host, refused for the container by `destination`).
pub fn clean(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn destination(raw: &str, spec: &str) -> Result<String> {
    if !raw.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for \"{spec}\": invalid mount path: '{raw}' mount path must be absolute"
        )));
    }
    if raw.split('/').any(|p| p == "..") {
        return Err(invalid(format!(
            "invalid mount config for \"{spec}\": mount path '{raw}' must not contain '..'"
        )));
    }
    let d = clean(raw);
    if d == "/" {
        return Err(invalid(format!(
            "invalid specification: destination can't be '/' in '{spec}'"
        )));
    }
    Ok(d)
}

/// docker's rule for a local volume's name.
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub fn check_volume_name(name: &str) -> Result<()> {
    if valid_volume_name(name) {
        Ok(())
    } else {
        Err(invalid(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// A fresh anonymous volume name (64 hex digits, as docker's).
pub fn anonymous_name() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// `-v` / `--volume`: `/ctr`, `name:/ctr[:mode]` or `/host:/ctr[:mode]`.
pub fn parse_volume_flag(spec: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [d] => (None, *d, ""),
        [s, d] => {
            if is_mode(d) && !d.starts_with('/') {
                return Err(invalid(format!(
                    "invalid volume specification: '{spec}': a volume given without a source takes no mode (use /host:/ctr:{d} or name:/ctr:{d})"
                )));
            }
            (Some(*s), *d, "")
        }
        [s, d, m] => (Some(*s), *d, *m),
        _ => {
            return Err(invalid(format!(
                "invalid volume specification: '{spec}': use /ctr, NAME:/ctr[:ro|rw] or /host:/ctr[:ro|rw]"
            )))
        }
    };
    if source == Some("") {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': the source is empty"
        )));
    }
    let destination = destination(dest, spec)?;
    let mut rw = true;
    let mut nocopy = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => rw = false,
            "rw" => rw = true,
            "nocopy" => nocopy = true,
            "z" | "Z" | "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
            | "delegated" | "cached" | "consistent" => {}
            other => {
                return Err(invalid(format!(
                    "invalid mode: {other} in '{spec}' (use ro or rw)"
                )))
            }
        }
    }
    Ok(match source {
        None => MountSpec {
            kind: MountKind::Volume,
            name: anonymous_name(),
            source: String::new(),
            destination,
            rw,
            mode: String::new(),
            anonymous: true,
            nocopy,
            create_source: false,
            tmpfs_options: String::new(),
        },
        Some(s) if s.starts_with('/') => MountSpec {
            kind: MountKind::Bind,
            name: String::new(),
            source: clean(s),
            destination,
            rw,
            mode: mode.to_string(),
            anonymous: false,
            nocopy: false,
            create_source: true,
            tmpfs_options: String::new(),
        },
        Some(name) => {
            check_volume_name(name)?;
            MountSpec {
                kind: MountKind::Volume,
                name: name.to_string(),
                source: String::new(),
                destination,
                rw,
                mode: if mode.is_empty() {
                    "z".into()
                } else {
                    mode.to_string()
                },
                anonymous: false,
                nocopy,
                create_source: false,
                tmpfs_options: String::new(),
            }
        }
    })
}

fn is_mode(s: &str) -> bool {
    s.split(',').all(|m| {
        matches!(
            m,
            "ro" | "rw"
                | "z"
                | "Z"
                | "nocopy"
                | "private"
                | "rprivate"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
        )
    })
}

fn flag_bool(key: &str, value: Option<&str>, spec: &str) -> Result<bool> {
    match value.map(|v| v.to_ascii_lowercase()) {
        None => Ok(true),
        Some(v) if matches!(v.as_str(), "1" | "true") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false") => Ok(false),
        Some(v) => Err(invalid(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: invalid value for {key}: {v}"
        ))),
    }
}

/// `--mount type=bind|volume|tmpfs,source=,target=,readonly,...`.
pub fn parse_mount_flag(spec: &str) -> Result<MountSpec> {
    let bad = |why: &str| {
        invalid(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: {why}"
        ))
    };
    let mut kind = MountKind::Volume;
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut rw = true;
    let mut nocopy = false;
    let mut tmpfs = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        match key.as_str() {
            "type" => {
                kind = match value {
                    Some("bind") => MountKind::Bind,
                    Some("volume") => MountKind::Volume,
                    Some("tmpfs") => MountKind::Tmpfs,
                    Some(other) => {
                        return Err(bad(&format!(
                            "unsupported mount type {other:?} (glassbox: bind, volume, tmpfs)"
                        )))
                    }
                    None => return Err(bad("type needs a value")),
                }
            }
            "source" | "src" => source = value.map(str::to_string),
            "target" | "destination" | "dst" => target = value.map(str::to_string),
            "readonly" | "ro" => rw = !flag_bool(&key, value, spec)?,
            "volume-nocopy" => nocopy = flag_bool(&key, value, spec)?,
            "bind-propagation" | "consistency" | "volume-driver" => {}
            "tmpfs-size" => tmpfs.push(format!("size={}", value.unwrap_or(""))),
            "tmpfs-mode" => tmpfs.push(format!("mode={}", value.unwrap_or(""))),
            _ => return Err(bad(&format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required"))?;
    let destination = destination(&target, spec)?;
    let source = source.filter(|s| !s.is_empty());
    Ok(match kind {
        MountKind::Bind => {
            let s = source.ok_or_else(|| bad("source is required when type is bind"))?;
            if !s.starts_with('/') {
                return Err(invalid(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{s}' mount path must be absolute"
                )));
            }
            MountSpec {
                kind,
                name: String::new(),
                source: clean(&s),
                destination,
                rw,
                mode: String::new(),
                anonymous: false,
                nocopy: false,
                create_source: false,
                tmpfs_options: String::new(),
            }
        }
        MountKind::Volume => {
            let (name, anonymous) = match source {
                Some(n) => {
                    check_volume_name(&n)?;
                    (n, false)
                }
                None => (anonymous_name(), true),
            };
            MountSpec {
                kind,
                name,
                source: String::new(),
                destination,
                rw,
                mode: "z".into(),
                anonymous,
                nocopy,
                create_source: false,
                tmpfs_options: String::new(),
            }
        }
        MountKind::Tmpfs => {
            if source.is_some() {
                return Err(invalid(format!(
                    "invalid mount config for type \"tmpfs\": source must not be specified in '{spec}'"
                )));
            }
            MountSpec {
                kind,
                name: String::new(),
                source: String::new(),
                destination,
                rw,
                mode: String::new(),
                anonymous: false,
                nocopy: false,
                create_source: false,
                tmpfs_options: tmpfs.join(","),
            }
        }
    })
}

/// `--volumes-from CONTAINER[:ro|:rw]`: the container's key and the mode
/// override (None: each mount keeps its own).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), None)),
        Some((c, "rw")) => Ok((c.to_string(), Some(true))),
        Some((c, "ro")) => Ok((c.to_string(), Some(false))),
        Some((_, m)) => Err(invalid(format!(
            "invalid mode for --volumes-from {spec}: {m} (use ro or rw)"
        ))),
    }
}

/// Order mounts as docker does: by the depth of their destination, so
/// `/a` is mounted before `/a/b` (stable for the same depth).
pub fn sort_for_mounting(mounts: &mut [MountSpec]) {
    mounts.sort_by_key(|m| m.destination.split('/').filter(|p| !p.is_empty()).count());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_parse_as_dockers() {
        let b = parse_volume_flag("/srv//data/:/data:ro").unwrap();
        assert_eq!(
            (
                b.kind,
                b.source.as_str(),
                b.destination.as_str(),
                b.rw,
                b.mode.as_str()
            ),
            (MountKind::Bind, "/srv/data", "/data", false, "ro")
        );
        let n = parse_volume_flag("db:/var/lib/db").unwrap();
        assert_eq!(
            (n.kind, n.name.as_str(), n.mode.as_str(), n.rw),
            (MountKind::Volume, "db", "z", true)
        );
        let a = parse_volume_flag("/cache").unwrap();
        assert!(a.anonymous && a.name.len() == 64 && a.mode.is_empty());
        for bad in [
            "rel/path",
            "/a:ro",
            "x:/a:bogus",
            "a b:/x",
            "/h:/",
            "/h:/a/../b",
            "a:b:c:d",
        ] {
            assert!(parse_volume_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mount_flags_parse_as_dockers() {
        let m = parse_mount_flag("type=bind,source=/h,target=/c,readonly").unwrap();
        assert_eq!(
            (m.kind, m.rw, m.create_source),
            (MountKind::Bind, false, false)
        );
        let v = parse_mount_flag("source=v1,target=/c").unwrap();
        assert_eq!(
            (v.kind, v.name.as_str(), v.mode.as_str()),
            (MountKind::Volume, "v1", "z")
        );
        let t = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap();
        assert_eq!(t.tmpfs_options, "size=1m");
        for bad in [
            "type=bind,target=/c",
            "type=volume",
            "type=nfs,target=/c",
            "target=/c,bogus=1",
        ] {
            assert!(parse_mount_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts_are_ordered_by_depth() {
        let mut v: Vec<MountSpec> = ["/a/b/c", "/a", "/z/y"]
            .iter()
            .map(|d| parse_volume_flag(d).unwrap())
            .collect();
        sort_for_mounting(&mut v);
        let d: Vec<&str> = v.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(d, ["/a", "/z/y", "/a/b/c"]);
    }
}
