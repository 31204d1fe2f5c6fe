//! Pull, push, save and load against a real registry (Debian's docker-registry
//! started by scripts/test, seeded with library/busybox:{latest,docker,multi})
//! and against tiny in-test HTTP servers that misbehave on purpose.
//!
//! Tests that need the registry skip with a message when
//! GLASSBOX_TEST_REGISTRY is unset (run them through scripts/test).

mod common;

use common::{stderr, stdout, Gb};
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

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "glassbox failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn no_temp_files(root: &Path) -> Vec<String> {
    let mut left = Vec::new();
    for d in [root.to_path_buf(), root.join("blobs/sha256"), root.join("layers")] {
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
    Command::new("skopeo").arg("--version").output().is_ok_and(|o| o.status.success())
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
    assert!(lines.iter().any(|l| l.ends_with(": Pull complete")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("Digest: sha256:")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {reg}/library/busybox:latest")),
        "{out}"
    );
    assert_eq!(*lines.last().unwrap(), format!("{reg}/library/busybox:latest"));

    // again: up to date
    let out = ok(&gb.run(&["pull", &format!("{reg}/library/busybox:latest")]));
    assert!(out.contains("Status: Image is up to date"), "{out}");

    // docker schema 2: same layer, already there
    let out = ok(&gb.run(&["pull", &format!("{reg}/library/busybox:docker")]));
    assert!(out.contains(": Already exists"), "{out}");
    let mt = std::fs::read_to_string(gb.root().join("index.json")).unwrap();
    assert!(mt.contains("application/vnd.docker.distribution.manifest.v2+json"), "{mt}");

    // -q prints only the name
    let out = ok(&gb.run(&["pull", "-q", &format!("{reg}/library/busybox:multi")]));
    assert_eq!(out, format!("{reg}/library/busybox:multi\n"));
    let fmt = "{{.Architecture}} {{index .Config.Labels \"org.glassbox.fixture\"}}";
    let multi = format!("{reg}/library/busybox:multi");
    let got = ok(&gb.run(&["image", "inspect", "-f", fmt, &multi]));
    assert_eq!(got.trim(), "amd64 <no value>", "default platform is the host's");

    let out = ok(&gb.run(&["pull", "--platform", "linux/arm64", &multi]));
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let got = ok(&gb.run(&["image", "inspect", "-f", fmt, &multi]));
    assert_eq!(got.trim(), "arm64 arm64-placeholder");

    let o = gb.run(&["pull", "--platform", "linux/s390x", &multi]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no matching manifest for linux/s390x"), "{}", stderr(&o));

    // by digest
    let digest = ok(&gb.run(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &format!("{reg}/library/busybox:latest")]));
    let digest = digest.trim().rsplit('@').next().unwrap().to_string();
    let gb2 = Gb::new();
    let out = ok(&gb2.run(&["pull", &format!("{reg}/library/busybox@{digest}")]));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(no_temp_files(gb.root()).is_empty());
}

#[test]
fn unknown_tags_and_repositories_are_docker_errors() {
    let reg = require_registry!();
    let gb = Gb::new();
    let o = gb.run(&["pull", &format!("{reg}/library/busybox:nope")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "Error response from daemon: manifest for {reg}/library/busybox:nope not found: manifest unknown"
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
    assert!(stderr(&o).contains("cannot reach registry 127.0.0.1:9"), "{}", stderr(&o));
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
    let o = gb.run(&["run", "--rm", &format!("{reg}/library/busybox:docker"), "echo", "hello from the registry"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello from the registry\n");
    assert!(stderr(&o).contains("Unable to find image"), "{}", stderr(&o));
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
    assert!(out.contains("Status: Downloaded newer image for busybox:docker"), "{out}");
    assert!(out.ends_with("docker.io/library/busybox:docker\n"), "{out}");
    let out = ok(&gb.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(out, "busybox:docker\n");
    // a mirror miss: docker.io itself is unreachable offline, the mirror's answer is shown
    let o = gb.run(&["pull", "busybox:nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("manifest for busybox:nope not found"), "{}", stderr(&o));
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
    assert!(out.starts_with(&format!("The push refers to repository [{repo}]\n")), "{out}");
    assert!(out.contains(": Pushed") || out.contains(": Layer already exists"), "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("v1: digest: sha256:") && last.contains(" size: "), "{out}");
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
    assert!(stderr(&o).contains("does not exist locally"), "{}", stderr(&o));
}

#[test]
fn save_is_a_docker_archive_and_loads_back() {
    let reg = require_registry!();
    let gb = Gb::new();
    ok(&gb.run(&["pull", "-q", &format!("{reg}/library/busybox:latest")]));
    ok(&gb.run(&["tag", &format!("{reg}/library/busybox:latest"), "saved/box:1"]));
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
            .args(["inspect", "--raw", &format!("docker-archive:{}", file.display())])
            .output()
            .unwrap();
        let raw: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(raw["config"]["digest"], id.trim(), "config bytes are preserved");
    } else {
        eprintln!("skopeo not installed: only the round trip is checked");
    }
    let gb2 = Gb::new();
    let out = ok(&gb2.run(&["load", "-i", file.to_str().unwrap()]));
    assert_eq!(out, "Loaded image: saved/box:1\n");
    let id2 = ok(&gb2.run(&["image", "inspect", "-f", "{{.Id}}", "saved/box:1"]));
    assert_eq!(id, id2);
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
}

enum Resp {
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// Send the headers and this much of the body, then hang (to be killed).
    Stall(Vec<u8>, usize),
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
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        match h(&Req { method: method.clone(), path, auth }) {
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
            Resp::Stall(body, n) => {
                s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())?;
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
            vec![("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())],
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
        err.contains(&format!("filesystem layer verification failed for digest {layer_digest}"))
            && err.contains("digest mismatch"),
        "{err}"
    );
    assert_eq!(ok(&gb.run(&["images", "-q"])), "", "no image was registered");
    assert!(!gb.root().join("blobs/sha256").join(&layer_digest[7..]).exists());
    assert!(no_temp_files(gb.root()).is_empty());
    let layers: Vec<_> = std::fs::read_dir(gb.root().join("layers")).unwrap().collect();
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
        blob_or_manifest(&r.path, &manifest, &blobs).unwrap_or_else(|| json(404, serde_json::json!({})))
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
                r.path.contains("scope=repository%3Aprivate%2Fimg%3Apull") || !r.path.contains("scope="),
                "{}",
                r.path
            );
            ti.fetch_add(1, Ordering::SeqCst);
            let tok = if r.auth.is_some() { "user-token" } else { "anon-token" };
            return json(200, serde_json::json!({"token": tok}));
        }
        let authed = matches!(r.auth.as_deref(), Some("Bearer anon-token" | "Bearer user-token"));
        if !authed {
            return Resp::Full(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!("Bearer realm=\"http://{me}/token\",service=\"test-registry\""),
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec(),
            );
        }
        if r.path == "/v2/" {
            return json(200, serde_json::json!({}));
        }
        blob_or_manifest(&r.path, &manifest, &blobs).unwrap_or_else(|| json(404, serde_json::json!({})))
    });
    *addr_holder.lock().unwrap() = addr.clone();
    let gb = Gb::new();
    let out = ok(&gb.run(&["pull", &format!("{addr}/private/img:latest")]));
    assert!(out.contains("Pull complete"), "{out}");
    assert!(tokens_issued.load(Ordering::SeqCst) >= 1);

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
        blob_or_manifest(&r.path, &manifest, &blobs).unwrap_or_else(|| json(404, serde_json::json!({})))
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
            .any(|e| e.file_name().to_string_lossy().starts_with(".tmp-") && e.metadata().is_ok_and(|m| m.len() > 0));
        if tmp {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no temp blob appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no destructors run
    child.wait().unwrap();
    assert!(!no_temp_files(gb.root()).is_empty(), "the killed pull left its temp file");
    assert!(!blobs_dir.join(&layer_digest[7..]).exists(), "no partial blob under its digest");
    // any command opens the store, which clears the dead process's temp files
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
    assert!(no_temp_files(gb.root()).is_empty());
    stall.store(false, Ordering::SeqCst);
    let out = ok(&gb.run(&["pull", &format!("{addr}/slow/img:latest")]));
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(ok(&gb.run(&["images", "--format", "{{.Repository}}"])), format!("{addr}/slow/img\n"));
}
