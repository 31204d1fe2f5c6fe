//! Reading the real state a lab leaves: files inside containers, cgroup files,
//! ports and pages on the loopback, image configs. Read-only, and never
//! outside the container's root or the loopback network.

use crate::container::{self, Container, Status};
use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};

/// `path` inside the container, as a relative path with no `..` (so it cannot leave the root).
fn inside(path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("{path:?} must be an absolute path without ..");
    }
    Ok(p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect())
}

/// Read a file of a container: through /proc/PID/root while it runs, else
/// from its upper dir and then its image's layers, top-most first.
pub fn read_container_file(root: &Path, name: &str, path: &str) -> Result<Vec<u8>> {
    let c = container::find(root, name)?;
    let rel = inside(path)?;
    if c.simulated {
        // The simulated host's view of its files, now.
        let store = crate::image::Store::open(root)?;
        let image = store
            .image_for_container(&c.image_id)?
            .ok_or_else(|| anyhow::anyhow!("the image of {name} is gone"))?;
        let (fs, _) = crate::kernel::sim::host::container_fs(root, &c, &image.layers)?;
        return fs
            .read_file(&format!("/{}", rel.display()), "/")
            .map_err(|e| anyhow::anyhow!("{path}: {e}"));
    }
    if c.state.status == Status::Running && c.process_alive() {
        let file = PathBuf::from(format!("/proc/{}/root", c.state.pid)).join(&rel);
        return Ok(std::fs::read(&file)?);
    }
    let mut dirs = vec![c.dir(root).join("upper")];
    let store = crate::image::Store::open(root)?;
    if let Some(image) = store.image_for_container(&c.image_id)? {
        let mut lowers = store.layer_dirs(&image)?;
        lowers.reverse();
        dirs.extend(lowers);
    }
    for dir in dirs {
        let file = dir.join(&rel);
        if std::fs::symlink_metadata(&file).is_ok() {
            return Ok(std::fs::read(&file)?);
        }
    }
    Err(std::io::Error::from(std::io::ErrorKind::NotFound).into())
}

/// The value of a file in a running container's cgroup.
/// The first of the `|`-separated cgroup files that exists for a running
/// container (v1 names and v2 names differ), read where its kernel keeps it.
pub fn read_cgroup_file(root: &Path, name: &str, file: &str) -> Result<String> {
    if file.contains('/') {
        bail!("{file:?} must be a file name, not a path");
    }
    let c: Container = container::find(root, name)?;
    if !(c.state.status == Status::Running && c.process_alive()) {
        bail!("{name} is not running, so it has no cgroup");
    }
    use crate::kernel::cgroup::{CgroupFiles, HostCgroupFiles};
    let (files, setup): (Box<dyn CgroupFiles>, _) = if c.simulated {
        let sim = crate::kernel::sim::counters::SimCgroupFiles::now(root)?;
        let setup = sim.setup_of(&c.id);
        (Box::new(sim), setup)
    } else {
        (
            Box::new(HostCgroupFiles),
            crate::kernel::CgroupSetup::detect()?,
        )
    };
    for one in file.split('|') {
        for dir in setup.paths_for(&c.id) {
            if let Some(text) = files.read(&dir.join(one)) {
                return Ok(text.trim().to_string());
            }
        }
    }
    bail!("no cgroup file {file} for {name}")
}

/// Whether a loopback address is asked for: labs never reach other hosts.
fn loopback_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are checked")?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host == "localhost" || host.starts_with("127.") {
        Ok(())
    } else {
        bail!("{url}: labs only check addresses on 127.0.0.0/8")
    }
}

pub fn port_open(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
}

pub fn http_body(url: &str) -> Result<String> {
    loopback_url(url)?;
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(5))
        .build();
    // A server started by the command just before may not listen yet
    // (a detached container's shell writes its page first): a refused
    // connection is retried for up to two seconds; an HTTP answer is final.
    let mut tries = 0;
    let response = loop {
        match agent.get(url).call() {
            Err(ureq::Error::Transport(_)) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => break other.with_context(|| format!("GET {url}"))?,
        }
    };
    Ok(response.into_string()?)
}

/// The simulated host's answer on 127.0.0.1:PORT (a lab run with
/// --simulate): the model's DNAT to a simulated server, never a socket.
fn sim_request(store: &Path, url: &str) -> Result<Vec<u8>> {
    loopback_url(url)?;
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "80"));
    let ip: std::net::Ipv4Addr = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST
    } else {
        host.parse()?
    };
    let port: u16 = port.parse().with_context(|| format!("bad port in {url}"))?;
    let path = if path.is_empty() { "/" } else { path };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    match crate::kernel::sim::reach::sim_host_request(store, ip, port, request.as_bytes())? {
        crate::kernel::sim::reach::Reply::Data(d) => Ok(d),
        other => bail!("GET {url}: {other:?} (simulated host)"),
    }
}

pub fn sim_port_open(store: &Path, port: u16) -> bool {
    sim_request(store, &format!("http://127.0.0.1:{port}/")).is_ok()
}

pub fn sim_http_body(store: &Path, url: &str) -> Result<String> {
    let data = sim_request(store, url)?;
    let (status, body) = crate::kernel::sim::reach::split_response(&data);
    if !status.contains(" 200 ") {
        bail!("GET {url}: {status}");
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A field of an image's config as JSON text (`Cmd` → `["sh"]`), looked up in
/// the runtime config first (`config.Cmd`), then at the top (`architecture`).
pub fn image_config_field(root: &Path, name: &str, field: &str) -> Result<String> {
    let store = crate::image::Store::open(root)?;
    let image = store
        .resolve(name)?
        .with_context(|| format!("no image {name}"))?;
    let json = serde_json::to_value(&image.config)?;
    let value = json
        .get("config")
        .and_then(|c| c.get(field))
        .or_else(|| json.get(field))
        .with_context(|| format!("image {name} has no {field} in its config"))?;
    Ok(match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_container() {
        assert!(inside("/etc/../../x").is_err());
        assert!(inside("etc/passwd").is_err());
        assert_eq!(inside("/etc//passwd").unwrap(), PathBuf::from("etc/passwd"));
    }

    #[test]
    fn ports_and_pages_on_the_loopback() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            // The port check connects once, the page check once more.
            for mut s in listener.incoming().take(2).flatten() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                );
            }
        });
        assert!(port_open(port));
        assert_eq!(
            http_body(&format!("http://127.0.0.1:{port}/")).unwrap(),
            "hello"
        );
        assert!(http_body("http://example.com/")
            .unwrap_err()
            .to_string()
            .contains("127.0.0.0/8"));
    }

    #[test]
    fn image_config_fields() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::image::Store::open(dir.path()).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("hello").unwrap();
        h.set_size(2);
        h.set_cksum();
        tar.append(&h, &b"hi"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let reference = crate::image::Reference::parse("labimg:1").unwrap();
        let cfg = crate::image::ImportConfig {
            cmd: Some(vec!["echo".into(), "hi".into()]),
            ..Default::default()
        };
        store.import_tar(&bytes[..], Some(&reference), cfg).unwrap();
        assert_eq!(
            image_config_field(dir.path(), "labimg:1", "Cmd").unwrap(),
            r#"["echo","hi"]"#
        );
        assert_eq!(
            image_config_field(dir.path(), "labimg:1", "os").unwrap(),
            "linux"
        );
        assert!(image_config_field(dir.path(), "labimg:1", "Nope").is_err());
    }
}

/// The manifest digest a registry serves for `remote` (`host:port/name:tag`),
/// asked through its API as a learner's curl would (with the credentials
/// `login` stored); the simulated registry answers in simulation.
pub fn registry_digest(runner: &super::runner::Runner, remote: &str) -> Result<String> {
    use crate::registry::client::Remote;
    let r = crate::image::Reference::parse(remote)?;
    let tag = r.tag_or_latest().to_string();
    let creds = crate::registry::config::AuthFile::load(&runner.store)
        .unwrap_or_default()
        .credentials(&r.registry);
    if runner.simulate {
        let path = format!("/v2/{}/manifests/{tag}", r.repository);
        let (status, headers, _) =
            crate::registry::sim::http_get(&runner.store, &r.registry, &path, creds);
        if status != 200 {
            bail!("GET {path}: {status}");
        }
        return headers
            .into_iter()
            .find(|(k, _)| k == "Docker-Content-Digest")
            .map(|(_, v)| v)
            .context("no Docker-Content-Digest");
    }
    let client = crate::registry::client::Client::new(
        &format!("http://{}", r.registry),
        &r.registry,
        &r.repository,
        "pull",
        creds,
    );
    client.ping().map_err(|e| anyhow::anyhow!("{e}"))?;
    let m = client
        .open_manifest(&tag)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    m.digest
        .context("the registry sent no Docker-Content-Digest")
}
