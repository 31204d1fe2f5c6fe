//! Images the simulated registry serves besides the built-in busybox: the
//! ones the lessons name (debian, redis). Each is one layer made from short
//! descriptions (`sim/<name>.txt`: directories, links, small files and the
//! programs' names), not a blob: the simulator runs programs by name, so a
//! program here is a small stub whose name the simulator knows (or does not,
//! and says it cannot run). Every entry has a fixed owner, mode and time, so
//! the layer's digest, the config and the image id are the same on every
//! build and machine.

use anyhow::{bail, Context, Result};

/// One image of the simulated registry.
pub struct SimImage {
    /// The repository on docker.io (`library/debian`).
    pub repository: &'static str,
    pub tags: &'static [&'static str],
    /// What the layer holds, one description after the other (later
    /// entries win; see the description files).
    pub descriptions: &'static [&'static str],
    pub cmd: &'static [&'static str],
    pub env: &'static [&'static str],
    /// The image's creation time (fixed: part of its id).
    pub created: &'static str,
    /// WORKDIR, EXPOSE and VOLUME, as the real image has them.
    pub workdir: Option<&'static str>,
    pub exposed: &'static [&'static str],
    pub volumes: &'static [&'static str],
}

const DEBIAN: &str = include_str!("sim/debian-bookworm.txt");
const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const IMAGES: &[SimImage] = &[
    SimImage {
        repository: "library/debian",
        tags: &["bookworm", "latest"],
        descriptions: &[DEBIAN],
        cmd: &["bash"],
        env: &[PATH],
        created: "2024-11-11T00:00:00Z",
        workdir: None,
        exposed: &[],
        volumes: &[],
    },
    // The fixture's redis (scripts/fixtures): debian with Debian's redis
    // packages, run as the official image runs it.
    SimImage {
        repository: "library/redis",
        tags: &["latest"],
        descriptions: &[DEBIAN, include_str!("sim/redis.txt")],
        cmd: &["redis-server", "--protected-mode", "no"],
        env: &[PATH],
        created: "2024-11-11T00:00:00Z",
        workdir: Some("/data"),
        exposed: &["6379/tcp"],
        volumes: &["/data"],
    },
];

/// The image of `repository` on docker.io, if the simulated registry has one.
pub fn find(repository: &str) -> Option<&'static SimImage> {
    IMAGES.iter().find(|i| i.repository == repository)
}

/// The time every entry of a simulated layer carries (the image's creation).
const MTIME: u64 = 1_731_283_200; // 2024-11-11T00:00:00Z

impl SimImage {
    /// The settings its config is made with (as `import` makes one).
    pub fn import_config(&self) -> super::ImportConfig {
        let set = |names: &[&str]| {
            serde_json::Value::Object(
                names
                    .iter()
                    .map(|n| (n.to_string(), serde_json::json!({})))
                    .collect(),
            )
        };
        let mut extra_config = serde_json::Map::new();
        if !self.exposed.is_empty() {
            extra_config.insert("ExposedPorts".into(), set(self.exposed));
        }
        if !self.volumes.is_empty() {
            extra_config.insert("Volumes".into(), set(self.volumes));
        }
        super::ImportConfig {
            cmd: Some(self.cmd.iter().map(|s| s.to_string()).collect()),
            env: self.env.iter().map(|s| s.to_string()).collect(),
            working_dir: self.workdir.map(str::to_string),
            extra_config,
            source: Some(format!(
                "glassbox's simulated registry ({})",
                self.repository
            )),
            created: Some(self.created.to_string()),
            ..Default::default()
        }
    }

    /// The layer, an uncompressed tar, built from the description.
    pub fn layer_tar(&self) -> Result<Vec<u8>> {
        layer_from_description(&self.descriptions.concat())
            .with_context(|| format!("the simulated image {}", self.repository))
    }
}

/// A program's stub: an ELF magic (so it looks like what it stands for to
/// whoever reads its first bytes) and a line saying what it is.
fn program_stub(path: &str) -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    b.extend_from_slice(
        format!("\nglassbox simulated program /{path}: the simulator runs it by name\n").as_bytes(),
    );
    b
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .with_context(|| format!("entry name {path:?}"))?;
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    Ok(h)
}

fn mode_of(s: Option<&str>, line: &str) -> Result<u32> {
    let s = s.with_context(|| format!("no mode in {line:?}"))?;
    u32::from_str_radix(s, 8).with_context(|| format!("bad mode in {line:?}"))
}

/// Build the layer tar from a description (format in the description files).
pub fn layer_from_description(desc: &str) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut lines = desc.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or("");
        let path = words
            .next()
            .with_context(|| format!("no path in {line:?}"))?;
        match kind {
            "d" => {
                let mut h = header(
                    &format!("{path}/"),
                    tar::EntryType::Directory,
                    mode_of(words.next(), line)?,
                    0,
                )?;
                h.set_cksum();
                b.append(&h, std::io::empty())?;
            }
            "l" => {
                let target = words
                    .next()
                    .with_context(|| format!("no target in {line:?}"))?;
                let mut h = header(path, tar::EntryType::Symlink, 0o777, 0)?;
                h.set_link_name(target)?;
                h.set_cksum();
                b.append(&h, std::io::empty())?;
            }
            "f" => {
                let mode = mode_of(words.next(), line)?;
                let mut content = String::new();
                loop {
                    match lines.next() {
                        Some(".") => break,
                        Some(l) => {
                            content.push_str(l);
                            content.push('\n');
                        }
                        None => bail!("file {path} has no closing `.` line"),
                    }
                }
                let mut h = header(path, tar::EntryType::Regular, mode, content.len() as u64)?;
                h.set_cksum();
                b.append(&h, content.as_bytes())?;
            }
            "p" => {
                for name in words {
                    let full = format!("{path}/{name}");
                    let data = program_stub(&full);
                    let mut h = header(&full, tar::EntryType::Regular, 0o755, data.len() as u64)?;
                    h.set_cksum();
                    b.append(&h, data.as_slice())?;
                }
            }
            other => bail!("unknown entry kind {other:?} in {line:?}"),
        }
    }
    Ok(b.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debian_layer_is_the_same_every_time_and_holds_what_debian_holds() {
        let d = find("library/debian").unwrap();
        let a = d.layer_tar().unwrap();
        assert_eq!(a, d.layer_tar().unwrap());
        let mut names = Vec::new();
        let mut ar = tar::Archive::new(a.as_slice());
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            names.push(e.path().unwrap().display().to_string());
        }
        for n in [
            "usr/bin/bash",
            "usr/bin/dash",
            "usr/lib/os-release",
            "etc/debian_version",
            "bin",
            "tmp/",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing: {names:?}");
        }
    }

    #[test]
    fn a_bad_description_is_refused_naming_the_line() {
        let e = layer_from_description("x foo").unwrap_err();
        assert!(format!("{e:#}").contains("x foo"), "{e:#}");
        let e = layer_from_description("f a 0644\nno end").unwrap_err();
        assert!(format!("{e:#}").contains("closing"), "{e:#}");
    }
}
