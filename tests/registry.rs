//! Pull, push, save and load against a real registry (Debian's docker-registry
//! started by scripts/test, seeded with library/busybox:{latest,docker,multi})
//! and against tiny in-test HTTP servers that misbehave on purpose.
//!
//! Tests that need the registry skip with a message when
//! GLASSBOX_TEST_REGISTRY is unset (run them through scripts/test).

mod common;

use common::{ok, stderr, stdout, Gb};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

macro_rules! require_registry {
    () => {
        match std::env::var("GLASSBOX_TEST_REGISTRY") {
            Ok(r) if !r.is_empty() => r,
            _ => {
                eprintln!("skipped: GLASSBOX_TEST_REGISTRY is not set (run the suite through scripts/test, which starts and seeds a registry)");
                return;
            }
        }
    };
}

/// A repository name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("gbtest/{prefix}-{}-{n}", std::process::id())
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn no_temp_files(root: &Path) -> Vec<String> {
    let mut left = Vec::new();
    for d in [
        root.to_path_buf(),
        root.join("blobs/sha256"),
        root.join("layers"),
    ] {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.contains(".tmp-") {
                left.push(format!("{}/{n}", d.display()));
            }
        }
    }
    left
}

fn skopeo() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn pull_oci_docker_and_multi_platform() {
    let reg = require_registry!();
    let gb = Gb::new();
    let o = gb.run(&["pull", &format!("{reg}/library/busybox")]);
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Using default tag: latest", "{out}");
    assert_eq!(lines[1], "latest: Pulling from library/busybox", "{out}");
    assert!(
        lines.iter().any(|l| l.ends_with(": Pull complete")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Digest: sha256:")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Status: Downloaded newer image for {reg}/library/busybox:latest"
        )),
        "{out}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("{reg}/library/busybox:latest")
    );

    // again: up to date
    let out = ok(&gb.run(&["pull", &format!("{reg}/library/busybox:latest")]));
    assert!(out.contains("Status: Image is up to date"), "{out}");

    // docker schema 2: same layer, already there
    let out = ok(&gb.run(&["pull", &format!("{reg}/library/busybox:docker")]));
    assert!(out.contains(": Already exists"), "{out}");
    let mt = std::fs::read_to_string(gb.root().join("index.json")).unwrap();
    assert!(
        mt.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{mt}"
    );

    // -q prints only the name
    let out = ok(&gb.run(&["pull", "-q", &format!("{reg}/library/busybox:multi")]));
    assert_eq!(out, format!("{reg}/library/busybox:multi\n"));
    let fmt = "{{.Architecture}} {{index .Config.Labels \"org.glassbox.fixture\"}}";
    let multi = format!("{reg}/library/busybox:multi");
    let got = ok(&gb.run(&["image", "inspect", "-f", fmt, &multi]));
    assert_eq!(
        got.trim(),
        "amd64 <no value>",
        "default platform is the host's"
    );

    let out = ok(&gb.run(&["pull", "--platform", "linux/arm64", &multi]));
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let got = ok(&gb.run(&["image", "inspect", "-f", fmt, &multi]));
    assert_eq!(got.trim(), "arm64 arm64-placeholder");
    // The digest docker reports for a multi-platform pull is the index's.
    let index_digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    let rd = ok(&gb.run(&["image", "inspect", "-f", "{{json .RepoDigests}}", &multi]));
    assert_eq!(
        rd.trim(),
        format!("[\"{reg}/library/busybox@{index_digest}\"]")
    );
    let id = ok(&gb.run(&["image", "inspect", "-f", "{{.Id}}", &multi]));
    assert_ne!(index_digest, id.trim());
    let out = ok(&gb.run(&[
        "images",
        "--digests",
        "--format",
        "{{.Tag}} {{.Digest}}",
        &format!("{reg}/library/busybox:multi"),
    ]));
    assert_eq!(out, format!("multi {index_digest}\n"));
    // pulling by that digest (same platform) finds it
    let out = ok(&gb.run(&[
        "pull",
        "--platform",
        "linux/arm64",
        &format!("{reg}/library/busybox@{index_digest}"),
    ]));
    assert!(out.contains("Status: Image is up to date"), "{out}");
    // removing the last tag removes the digest name too, and the image
    let out = ok(&gb.run(&["rmi", &multi]));
    assert_eq!(
        out,
        format!(
            "Untagged: {reg}/library/busybox:multi\nUntagged: {reg}/library/busybox@{index_digest}\nDeleted: {}\n",
            id.trim()
        )
    );

    let o = gb.run(&["pull", "--platform", "linux/s390x", &multi]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no matching manifest for linux/s390x"),
        "{}",
        stderr(&o)
    );

    // by digest
    let digest = ok(&gb.run(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &format!("{reg}/library/busybox:latest"),
    ]));
    let digests: Vec<String> = serde_json::from_str(digest.trim()).unwrap();
    let digest = digests[0].rsplit('@').next().unwrap().to_string();
    let gb2 = Gb::new();
    let out = ok(&gb2.run(&["pull", &format!("{reg}/library/busybox@{digest}")]));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(no_temp_files(gb.root()).is_empty());
}

#[test]
fn pull_all_tags() {
    let reg = require_registry!();
    let gb = Gb::new();
    let out = ok(&gb.run(&["pull", "-q", "-a", &format!("{reg}/library/busybox")]));
    let lines: Vec<&str> = out.lines().collect();
    for t in ["docker", "latest", "multi"] {
        assert!(
            lines.contains(&format!("{reg}/library/busybox:{t}").as_str()),
            "{out}"
        );
    }
    let o = gb.run(&["pull", "-a", &format!("{reg}/library/busybox:latest")]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn unknown_tags_and_repositories_are_docker_errors() {
    let reg = require_registry!();
    let gb = Gb::new();
    let o = gb.run(&["pull", &format!("{reg}/library/busybox:nope")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "Error: manifest for {reg}/library/busybox:nope not found: manifest unknown"
        )),
        "{}",
        stderr(&o)
    );
    let o = gb.run(&["pull", &format!("{reg}/{}", unique("missing"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    // nothing listens on port 9
    let o = gb.run(&["pull", "127.0.0.1:9/x/y:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot reach registry 127.0.0.1:9"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn pulled_image_runs() {
    let reg = require_registry!();
    if !common::is_root() {
        eprintln!("skipped: running a container needs root");
        return;
    }
    let gb = Gb::new();
    // not pulled yet: run pulls it, as docker does
    let o = gb.run(&[
        "run",
        "--rm",
        &format!("{reg}/library/busybox:docker"),
        "echo",
        "hello from the registry",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello from the registry\n");
    assert!(
        stderr(&o).contains("Unable to find image"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_narrates_the_pull_it_needs_then_the_kernel_steps() {
    let reg = require_registry!();
    if !common::is_root() {
        eprintln!("skipped: running a container needs root");
        return;
    }
    let gb = Gb::new();
    let trace = gb.root().join("trace.jsonl");
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args([
            "run",
            "--rm",
            &format!("{reg}/library/busybox:latest"),
            "true",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let kinds = common::trace_kinds(&trace);
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(pos("registry_ping") < pos("manifest_fetch"));
    assert!(pos("manifest_fetch") < pos("blob_fetch"));
    assert!(pos("layer_unpack") < pos("cgroup_create"), "{kinds:?}");
    assert!(pos("cgroup_create") < pos("exec"));
}

#[test]
fn registry_mirrors_serve_docker_hub_names() {
    let reg = require_registry!();
    let gb = Gb::new();
    std::fs::write(
        gb.root().join("config.toml"),
        format!("registry_mirrors = [\"http://{reg}\"]\n"),
    )
    .unwrap();
    let out = ok(&gb.run(&["pull", "busybox:docker"]));
    assert!(
        out.contains("Status: Downloaded newer image for busybox:docker"),
        "{out}"
    );
    assert!(out.ends_with("docker.io/library/busybox:docker\n"), "{out}");
    let out = ok(&gb.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(out, "busybox:docker\n");
    // a mirror miss: docker.io itself is unreachable offline, the mirror's answer is shown
    let o = gb.run(&["pull", "busybox:nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("manifest for busybox:nope not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn push_then_skopeo_reads_it_back() {
    let reg = require_registry!();
    if !skopeo() {
        eprintln!("skipped: skopeo not installed");
        return;
    }
    let gb = Gb::new();
    ok(&gb.run(&["pull", "-q", &format!("{reg}/library/busybox:latest")]));
    let name = format!("{reg}/{}:v1", unique("push"));
    ok(&gb.run(&["tag", &format!("{reg}/library/busybox:latest"), &name]));
    let out = ok(&gb.run(&["push", &name]));
    let repo = name.rsplit_once(':').unwrap().0;
    assert!(
        out.starts_with(&format!("The push refers to repository [{repo}]\n")),
        "{out}"
    );
    assert!(
        out.contains(": Pushed") || out.contains(": Layer already exists"),
        "{out}"
    );
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("v1: digest: sha256:") && last.contains(" size: "),
        "{out}"
    );
    let pushed_digest = last.split_whitespace().nth(2).unwrap().to_string();
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["Digest"], pushed_digest.as_str());
    assert_eq!(v["Architecture"], "amd64");
    // pushing again: everything is there
    let out = ok(&gb.run(&["push", &name]));
    assert!(out.contains(": Layer already exists"), "{out}");
    // and another store can pull it back
    let gb2 = Gb::new();
    let out = ok(&gb2.run(&["pull", &name]));
    assert!(out.contains(&format!("Digest: {pushed_digest}")), "{out}");
    // pushing something that is not here
    let o = gb.run(&["push", &format!("{reg}/{}:x", unique("absent"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not exist locally"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn save_is_a_docker_archive_and_loads_back() {
    let reg = require_registry!();
    let gb = Gb::new();
    ok(&gb.run(&["pull", "-q", &format!("{reg}/library/busybox:latest")]));
    ok(&gb.run(&[
        "tag",
        &format!("{reg}/library/busybox:latest"),
        "saved/box:1",
    ]));
    let file = gb.root().join("out.tar");
    ok(&gb.run(&["save", "-o", file.to_str().unwrap(), "saved/box:1"]));
    let id = ok(&gb.run(&["image", "inspect", "-f", "{{.Id}}", "saved/box:1"]));
    if skopeo() {
        let o = Command::new("skopeo")
            .args(["inspect", &format!("docker-archive:{}", file.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
        let o = Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                &format!("docker-archive:{}", file.display()),
            ])
            .output()
            .unwrap();
        let raw: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            raw["config"]["digest"],
            id.trim(),
            "config bytes are preserved"
        );
    } else {
        eprintln!("skopeo not installed: only the round trip is checked");
    }
    let gb2 = Gb::new();
    let out = ok(&gb2.run(&["load", "-i", file.to_str().unwrap()]));
    assert_eq!(out, "Loaded image: saved/box:1\n");
    let id2 = ok(&gb2.run(&["image", "inspect", "-f", "{{.Id}}", "saved/box:1"]));
    assert_eq!(id, id2);

    // several images into one archive, to stdout
    let t = gb.root().join("rootfs.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&t).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_path("x").unwrap();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    ok(&gb.run(&["import", t.to_str().unwrap(), "second:2"]));
    let two = gb.root().join("two.tar");
    let o = gb
        .cmd()
        .args(["save", "saved/box:1", "second:2"])
        .stdout(std::fs::File::create(&two).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let gb3 = Gb::new();
    let out = ok(&gb3.run(&["load", "-i", two.to_str().unwrap()]));
    assert_eq!(out, "Loaded image: saved/box:1\nLoaded image: second:2\n");
    let out = ok(&gb3.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn load_fixture_archives() {
    let Ok(fx) = std::env::var("GLASSBOX_FIXTURES") else {
        eprintln!("skipped: GLASSBOX_FIXTURES is not set (run through scripts/test)");
        return;
    };
    for (file, kind) in [("busybox-docker.tar", "docker"), ("busybox-oci.tar", "oci")] {
        let gb = Gb::new();
        let p = Path::new(&fx).join(file);
        let out = ok(&gb.run(&["load", "-i", p.to_str().unwrap()]));
        assert_eq!(out, "Loaded image: busybox:latest\n", "{kind}");
        let out = ok(&gb.run(&["images", "--format", "{{.Repository}} {{.Tag}} {{.Size}}"]));
        assert!(out.starts_with("busybox latest "), "{kind}: {out}");
        // stdin works too, and loading twice is harmless
        let f = std::fs::File::open(&p).unwrap();
        let o = gb.cmd().arg("load").stdin(f).output().unwrap();
        assert_eq!(ok(&o), "Loaded image: busybox:latest\n");
        if common::is_root() {
            let o = gb.run(&["run", "--rm", "busybox", "echo", kind]);
            assert_eq!(ok(&o), format!("{kind}\n"));
        }
    }
    let gb = Gb::new();
    let junk = gb.root().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all, definitely not").unwrap();
    let o = gb.run(&["load", "-i", junk.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(no_temp_files(gb.root()).is_empty());
}

// ---- a tiny registry that lies --------------------------------------------

struct Req {
    method: String,
    path: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

enum Resp {
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// Send the headers and this much of the body, then hang (to be killed).
    Stall(Vec<u8>, usize),
    /// Send the headers and this much of the body, then close the connection.
    Cut(Vec<u8>, usize),
}

fn serve(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = Arc::new(handler);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let h = h.clone();
            std::thread::spawn(move || {
                let _ = handle(s, &*h);
            });
        }
    });
    addr
}

fn handle(mut s: TcpStream, h: &dyn Fn(&Req) -> Resp) -> std::io::Result<()> {
    let mut r = BufReader::new(s.try_clone()?);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut auth = None;
        let mut content_type = None;
        let mut len = 0usize;
        loop {
            let mut hl = String::new();
            r.read_line(&mut hl)?;
            let hl = hl.trim_end();
            if hl.is_empty() {
                break;
            }
            if let Some((k, v)) = hl.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "authorization" => auth = Some(v.trim().to_string()),
                    "content-type" => content_type = Some(v.trim().to_string()),
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        match h(&Req {
            method: method.clone(),
            path,
            auth,
            content_type,
            body,
        }) {
            Resp::Full(code, headers, body) => {
                let mut head = format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                s.write_all(head.as_bytes())?;
                if method != "HEAD" {
                    s.write_all(&body)?;
                }
                s.flush()?;
            }
            Resp::Cut(body, n) => {
                s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                )?;
                s.write_all(&body[..n])?;
                s.flush()?;
                let _ = s.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            Resp::Stall(body, n) => {
                s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                )?;
                s.write_all(&body[..n])?;
                s.flush()?;
                std::thread::sleep(std::time::Duration::from_secs(60));
                return Ok(());
            }
        }
    }
}

fn json(code: u16, v: serde_json::Value) -> Resp {
    Resp::Full(
        code,
        vec![("Content-Type".into(), "application/json".into())],
        serde_json::to_vec(&v).unwrap(),
    )
}

/// A one-layer image: (manifest, config, layer gz, layer tar).
fn tiny_image(content: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("hello.txt").unwrap();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, content).unwrap();
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&tar)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(&gz), "size": gz.len()}],
    }))
    .unwrap();
    (manifest, config, gz, tar)
}

fn blob_or_manifest(path: &str, manifest: &[u8], blobs: &[(String, Vec<u8>)]) -> Option<Resp> {
    if path.ends_with("/manifests/latest") {
        return Some(Resp::Full(
            200,
            vec![(
                "Content-Type".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            manifest.to_vec(),
        ));
    }
    for (d, b) in blobs {
        if path.ends_with(&format!("/blobs/{d}")) {
            return Some(Resp::Full(200, vec![], b.clone()));
        }
    }
    None
}

#[test]
fn tampered_layer_is_refused_and_leaves_no_image() {
    let (manifest, config, gz, _) = tiny_image(b"the real content");
    let mut evil = gz.clone();
    let n = evil.len();
    evil[n / 2] ^= 0xff; // same size, different bytes
    let layer_digest = sha(&gz);
    let blobs = vec![(sha(&config), config.clone()), (layer_digest.clone(), evil)];
    let addr = serve(move |r| {
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        blob_or_manifest(&r.path, &manifest, &blobs)
            .unwrap_or_else(|| json(404, serde_json::json!({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]})))
    });
    let gb = Gb::new();
    let o = gb.run(&["pull", &format!("{addr}/evil/image:latest")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "filesystem layer verification failed for digest {layer_digest}"
        )) && err.contains("digest mismatch"),
        "{err}"
    );
    assert_eq!(
        ok(&gb.run(&["images", "-q"])),
        "",
        "no image was registered"
    );
    assert!(!gb
        .root()
        .join("blobs/sha256")
        .join(&layer_digest[7..])
        .exists());
    assert!(no_temp_files(gb.root()).is_empty());
    let layers: Vec<_> = std::fs::read_dir(gb.root().join("layers"))
        .unwrap()
        .collect();
    assert!(layers.is_empty(), "nothing unpacked");
}

#[test]
fn wrong_diff_id_is_refused() {
    let (_, _, gz, _) = tiny_image(b"content");
    // a config whose diff_id does not describe the layer
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(b"something else")]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(&gz), "size": gz.len()}],
    }))
    .unwrap();
    let blobs = vec![(sha(&config), config), (sha(&gz), gz)];
    let addr = serve(move |r| {
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        blob_or_manifest(&r.path, &manifest, &blobs)
            .unwrap_or_else(|| json(404, serde_json::json!({})))
    });
    let gb = Gb::new();
    let o = gb.run(&["pull", &format!("{addr}/evil/diffid:latest")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("diff_id mismatch"), "{}", stderr(&o));
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
}

#[test]
fn bearer_token_and_basic_login() {
    let (manifest, config, gz, _) = tiny_image(b"authenticated");
    let blobs = vec![(sha(&config), config), (sha(&gz), gz)];
    let tokens_issued = Arc::new(AtomicUsize::new(0));
    let ti = tokens_issued.clone();
    let addr_holder: Arc<std::sync::Mutex<String>> = Default::default();
    let ah = addr_holder.clone();
    let addr = serve(move |r| {
        let me = ah.lock().unwrap().clone();
        if r.path.starts_with("/token?") {
            // basic credentials, if sent, must be right
            if let Some(a) = &r.auth {
                if a != "Basic dXNlcjpzZWNyZXQ=" {
                    return json(401, serde_json::json!({}));
                }
            }
            // pulls ask for the repository's pull scope; login asks for none
            assert!(
                r.path.contains("scope=repository%3Aprivate%2Fimg%3Apull")
                    || !r.path.contains("scope="),
                "{}",
                r.path
            );
            ti.fetch_add(1, Ordering::SeqCst);
            let tok = if r.auth.is_some() {
                "user-token"
            } else {
                "anon-token"
            };
            return json(200, serde_json::json!({"token": tok}));
        }
        let authed = matches!(
            r.auth.as_deref(),
            Some("Bearer anon-token" | "Bearer user-token")
        );
        if !authed {
            return Resp::Full(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!("Bearer realm=\"http://{me}/token\",service=\"test-registry\""),
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .to_vec(),
            );
        }
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        blob_or_manifest(&r.path, &manifest, &blobs)
            .unwrap_or_else(|| json(404, serde_json::json!({})))
    });
    *addr_holder.lock().unwrap() = addr.clone();
    let gb = Gb::new();
    let trace = gb.root().join("trace.json");
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&trace)
        .args(["pull", &format!("{addr}/private/img:latest")])
        .output()
        .unwrap();
    let out = ok(&o);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(tokens_issued.load(Ordering::SeqCst) >= 1);
    // the token request is a step of its own, named by the challenge
    let kinds = common::trace_kinds(&trace);
    assert_eq!(
        kinds[..3],
        ["registry_ping", "registry_token", "manifest_fetch"]
    );
    let rec: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["step"]["realm"], format!("http://{addr}/token"));
    assert_eq!(rec["step"]["service"], "test-registry");
    assert_eq!(rec["step"]["scope"], "repository:private/img:pull");

    // login with the wrong password fails, the right one is stored 0600
    let o = gb.run(&["login", "-u", "user", "-p", "wrong", &addr]);
    assert!(!o.status.success());
    let o = gb
        .cmd()
        .args(["login", "-u", "user", "--password-stdin", &addr])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"secret\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(ok(&o), "Login Succeeded\n");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(gb.root().join("auth.json")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    ok(&gb.run(&["rmi", &format!("{addr}/private/img:latest")]));
    ok(&gb.run(&["pull", "-q", &format!("{addr}/private/img:latest")]));
    let out = ok(&gb.run(&["logout", &addr]));
    assert_eq!(out, format!("Removing login credentials for {addr}\n"));
}

#[test]
fn interrupted_pull_leaves_only_temp_files_and_the_next_pull_completes() {
    // incompressible, so half the gzip blob is well past the writer's buffer
    let mut x = 0x2545f491u32;
    let noise: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let (manifest, config, gz, _) = tiny_image(&noise);
    let stall = Arc::new(AtomicBool::new(true));
    let st = stall.clone();
    let layer_digest = sha(&gz);
    let blobs = vec![(sha(&config), config), (layer_digest.clone(), gz.clone())];
    let ld = layer_digest.clone();
    let addr = serve(move |r| {
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        if r.path.ends_with(&format!("/blobs/{ld}")) && st.load(Ordering::SeqCst) {
            return Resp::Stall(gz.clone(), gz.len() / 2);
        }
        blob_or_manifest(&r.path, &manifest, &blobs)
            .unwrap_or_else(|| json(404, serde_json::json!({})))
    });
    let gb = Gb::new();
    let mut child = gb
        .cmd()
        .args(["pull", &format!("{addr}/slow/img:latest")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait for the half-written temp blob
    let blobs_dir = gb.root().join("blobs/sha256");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let tmp = std::fs::read_dir(&blobs_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().starts_with(".tmp-")
                    && e.metadata().is_ok_and(|m| m.len() > 0)
            });
        if tmp {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no temp blob appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no destructors run
    child.wait().unwrap();
    assert!(
        !no_temp_files(gb.root()).is_empty(),
        "the killed pull left its temp file"
    );
    assert!(
        !blobs_dir.join(&layer_digest[7..]).exists(),
        "no partial blob under its digest"
    );
    // any command opens the store, which clears the dead process's temp files
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
    assert!(no_temp_files(gb.root()).is_empty());
    stall.store(false, Ordering::SeqCst);
    let out = ok(&gb.run(&["pull", &format!("{addr}/slow/img:latest")]));
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(
        ok(&gb.run(&["images", "--format", "{{.Repository}}"])),
        format!("{addr}/slow/img\n")
    );
}

#[test]
fn a_dropped_connection_is_retried() {
    let (manifest, config, gz, _) = tiny_image(b"flaky network");
    let layer = sha(&gz);
    let blobs = vec![(sha(&config), config), (layer.clone(), gz.clone())];
    let cuts = Arc::new(AtomicUsize::new(0));
    let c = cuts.clone();
    let addr = serve(move |r| {
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        // the first two layer downloads break off half way
        if r.path.ends_with(&format!("/blobs/{layer}")) && c.fetch_add(1, Ordering::SeqCst) < 2 {
            return Resp::Cut(gz.clone(), gz.len() / 2);
        }
        blob_or_manifest(&r.path, &manifest, &blobs)
            .unwrap_or_else(|| json(404, serde_json::json!({})))
    });
    let gb = Gb::new();
    let out = ok(&gb.run(&["pull", &format!("{addr}/flaky/img:latest")]));
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(cuts.load(Ordering::SeqCst), 3, "two failures, then success");
    assert!(no_temp_files(gb.root()).is_empty());
}

#[test]
fn concurrent_pulls_into_one_store() {
    let reg = require_registry!();
    let gb = Gb::new();
    let names = ["latest", "docker", "multi", "latest", "docker", "multi"];
    let children: Vec<_> = names
        .iter()
        .map(|t| {
            gb.cmd()
                .args(["pull", "-q", &format!("{reg}/library/busybox:{t}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    let out = ok(&gb.run(&["images", "--format", "{{.Tag}}"]));
    let mut tags: Vec<&str> = out.lines().collect();
    tags.sort();
    assert_eq!(tags, vec!["docker", "latest", "multi"]);
    assert!(no_temp_files(gb.root()).is_empty());
    let layers: Vec<_> = std::fs::read_dir(gb.root().join("layers"))
        .unwrap()
        .collect();
    assert_eq!(layers.len(), 1, "one shared layer, unpacked once");
}

/// Forward a request to the real registry at `upstream`, rewriting
/// `Location` so the client keeps talking to us.
fn forward(r: &Req, upstream: &str, me: &str) -> Resp {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent.request(&r.method, &format!("http://{upstream}{}", r.path));
    if let Some(ct) = &r.content_type {
        req = req.set("Content-Type", ct);
    }
    if r.path.contains("/manifests/") {
        req = req.set(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        );
    }
    let resp = match req.send_bytes(&r.body) {
        Ok(x) => x,
        Err(ureq::Error::Status(_, x)) => x,
        Err(e) => return json(502, serde_json::json!({"error": e.to_string()})),
    };
    let code = resp.status();
    let mut headers = Vec::new();
    for h in [
        "location",
        "docker-content-digest",
        "content-type",
        "docker-upload-uuid",
        "range",
    ] {
        if let Some(v) = resp.header(h) {
            headers.push((h.to_string(), v.replace(upstream, me)));
        }
    }
    let mut body = Vec::new();
    let _ = resp.into_reader().read_to_end(&mut body);
    Resp::Full(code, headers, body)
}

#[test]
fn push_and_pull_through_basic_auth() {
    let reg = require_registry!();
    let me: Arc<std::sync::Mutex<String>> = Default::default();
    let m = me.clone();
    let upstream = reg.clone();
    let addr = serve(move |r| {
        if r.auth.as_deref() != Some("Basic cHVzaGVyOnB3") {
            // pusher:pw
            return Resp::Full(
                401,
                vec![("WWW-Authenticate".into(), "Basic realm=\"test\"".into())],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .to_vec(),
            );
        }
        forward(r, &upstream, &m.lock().unwrap())
    });
    *me.lock().unwrap() = addr.clone();
    let gb = Gb::new();
    ok(&gb.run(&["pull", "-q", &format!("{reg}/library/busybox:latest")]));
    let name = format!("{addr}/{}:v1", unique("authpush"));
    ok(&gb.run(&["tag", &format!("{reg}/library/busybox:latest"), &name]));
    // no credentials: refused, with a hint
    let o = gb.run(&["push", &name]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("glassbox login"), "{}", stderr(&o));
    let o = gb.run(&["login", "-u", "pusher", "-p", "nope", &addr]);
    assert!(!o.status.success());
    ok(&gb.run(&["login", "-u", "pusher", "-p", "pw", &addr]));
    let out = ok(&gb.run(&["push", &name]));
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    // the pushed image is in the real registry, and pulls back through the proxy
    let direct = name.replace(&addr, &reg);
    let gb2 = Gb::new();
    ok(&gb2.run(&["pull", "-q", &direct]));
    ok(&gb.run(&["rmi", &name]));
    ok(&gb.run(&["pull", "-q", &name]));
    ok(&gb.run(&["logout", &addr]));
    let o = gb.run(&["pull", "-q", &name]);
    assert_eq!(o.status.code(), Some(1), "logged out: refused again");
    assert!(
        stderr(&o).contains("authentication required"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn multi_layer_image_with_a_whiteout() {
    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_path(name).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }
    let gzip = |d: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(d).unwrap();
        gz.finish().unwrap()
    };
    // layer 1: the busybox rootfs if we have it (so the image can run), else a file
    let base = std::env::var("GLASSBOX_FIXTURES")
        .ok()
        .and_then(|f| std::fs::read(Path::new(&f).join("busybox-rootfs.tar")).ok())
        .unwrap_or_else(|| tar_of(&[("etc/motd", b"old")]));
    let l1 = tar_of(&[("etc/motd", b"old"), ("etc/gone", b"bye")]);
    let l2 = if common::is_root() {
        tar_of(&[("etc/motd", b"new"), ("etc/.wh.gone", b"")])
    } else {
        tar_of(&[("etc/motd", b"new")])
    };
    let tars = [base, l1, l2];
    let gzs: Vec<Vec<u8>> = tars.iter().map(|t| gzip(t)).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": tars.iter().map(|t| sha(t)).collect::<Vec<_>>()},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs.tar /"},
            {"created": "2024-01-01T00:00:00Z", "created_by": "CMD [\"sh\"]", "empty_layer": true},
            {"created": "2024-01-01T00:00:00Z", "created_by": "RUN echo old > /etc/motd"},
            {"created": "2024-01-01T00:00:00Z", "created_by": "RUN echo new > /etc/motd && rm /etc/gone"},
        ],
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": gzs.iter().map(|g| serde_json::json!({
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha(g), "size": g.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let mut blobs = vec![(sha(&config), config)];
    blobs.extend(gzs.iter().map(|g| (sha(g), g.clone())));
    let addr = serve(move |r| {
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        blob_or_manifest(&r.path, &manifest, &blobs)
            .unwrap_or_else(|| json(404, serde_json::json!({})))
    });
    let gb = Gb::new();
    let name = format!("{addr}/layers/three:latest");
    let out = ok(&gb.run(&["pull", &name]));
    assert_eq!(out.matches(": Pull complete").count(), 3, "{out}");
    let n = ok(&gb.run(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", &name]));
    assert_eq!(n.trim(), "3");
    let hist = ok(&gb.run(&["history", "--format", "{{.CreatedBy}}|{{.Size}}", &name]));
    let rows: Vec<&str> = hist.lines().collect();
    assert_eq!(rows.len(), 4, "{hist}");
    assert!(rows[0].starts_with("RUN echo new"), "newest first: {hist}");
    assert_eq!(rows[2], "CMD [\"sh\"]|0B", "{hist}");
    if common::is_root() && std::env::var("GLASSBOX_FIXTURES").is_ok() {
        let o = gb.run(&[
            "run",
            "--rm",
            &name,
            "sh",
            "-c",
            "cat /etc/motd; ls /etc/gone 2>&1 || true",
        ]);
        let out = ok(&o);
        assert!(out.starts_with("new"), "{out}");
        assert!(
            out.contains("No such file"),
            "the whiteout hides the lower file: {out}"
        );
    }
}

#[test]
fn search_lists_the_catalog() {
    let reg = require_registry!();
    let gb = Gb::new();
    let out = ok(&gb.run(&["search", &format!("{reg}/busy")]));
    let lines: Vec<&str> = out.lines().collect();
    let name = format!("{reg}/library/busybox");
    let w = (name.len() + 3).max(10);
    assert_eq!(
        lines[0],
        format!("{:w$}DESCRIPTION   STARS     OFFICIAL", "NAME"),
        "{out}"
    );
    assert_eq!(lines[1], format!("{name:w$}              0"), "{out}");
    assert_eq!(lines.len(), 2, "only busybox matches: {out}");
    // --limit, --format, json, and the term is a substring, case-insensitive
    let all = ok(&gb.run(&["search", "--format", "{{.Name}}", &format!("{reg}/LIB")]));
    assert!(all.lines().count() >= 2, "{all}");
    assert!(all.contains(&format!("{reg}/library/debian\n")), "{all}");
    let one = ok(&gb.run(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}",
        &format!("{reg}/lib"),
    ]));
    assert_eq!(one.lines().count(), 1, "{one}");
    let json = ok(&gb.run(&["search", "--format", "json", &format!("{reg}/busybox")]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], name.as_str());
    assert_eq!(
        (v["StarCount"].as_str(), v["IsOfficial"].as_str()),
        (Some("0"), Some("false"))
    );
    let o = gb.run(&["search", "--limit", "0", &format!("{reg}/x")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("outside the range of [1, 100]"),
        "{}",
        stderr(&o)
    );
    // a bare term searches the first mirror, named as on Docker Hub
    std::fs::write(
        gb.root().join("config.toml"),
        format!("registry_mirrors = [\"http://{reg}\"]\n"),
    )
    .unwrap();
    let out = ok(&gb.run(&["search", "busy"]));
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("busybox ") && row.ends_with("0         [OK]"),
        "{out}"
    );
    let out = ok(&gb.run(&["search", "-f", "is-official=false", "busy"]));
    assert_eq!(out.lines().count(), 1, "header only: {out}");
}
