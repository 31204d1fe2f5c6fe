//! A layer that makes a directory `d/` (mode 04777) and then replaces it with
//! a symlink `d -> <host path>` must not change the host path: `import`,
//! `load` (docker- and oci-archive) and `pull` unpack it without following
//! the symlink, ever (directory modes are applied last, through the
//! directory itself, never by path).
//!
//! The symlink targets are a file and a directory in the test's own temp dir.

mod common;

use common::{ok, stderr, tar_of, Gb};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host paths the layer points at, and what they looked like before.
struct Victims {
    dir: tempfile::TempDir,
    file: PathBuf,
    subdir: PathBuf,
}

/// mode, uid, gid, mtime (s, ns) of a path (not following a final symlink).
fn snapshot(p: &Path) -> (u32, u32, u32, i64, i64) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.mode(), m.uid(), m.gid(), m.mtime(), m.mtime_nsec())
}

/// Every path under `dir`, sorted, with its snapshot.
fn tree(dir: &Path) -> Vec<(PathBuf, (u32, u32, u32, i64, i64))> {
    let mut out = vec![(dir.to_path_buf(), snapshot(dir))];
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((p.clone(), snapshot(&p)));
        }
    }
    out
}

impl Victims {
    fn new() -> Victims {
        let dir = tempfile::Builder::new()
            .prefix("gb-victims-")
            .tempdir()
            .unwrap();
        let file = dir.path().join("victim-file");
        let subdir = dir.path().join("victim-dir");
        std::fs::write(&file, b"host data").unwrap();
        std::fs::create_dir(&subdir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(&subdir, std::fs::Permissions::from_mode(0o750)).unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
        for p in [&file, &subdir] {
            std::fs::File::open(p).unwrap().set_modified(old).unwrap();
        }
        Victims { dir, file, subdir }
    }
    fn state(&self) -> Vec<(PathBuf, (u32, u32, u32, i64, i64))> {
        tree(self.dir.path())
    }
}

fn header(name: &str, kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(4321);
    h.set_gid(4321);
    h.set_mtime(1_000_000_000);
    h.set_size(0);
    h.set_cksum();
    h
}

/// The hostile layer: `d/` (04777) then `d -> file`; `e/` (0777) then `e -> dir`;
/// and `f/` with a child, then `f -> dir`.
fn evil_layer(v: &Victims) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let add_dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
        b.append(&header(name, tar::EntryType::Directory, mode), &b""[..])
            .unwrap();
    };
    add_dir(&mut b, "f/", 0o1777);
    add_dir(&mut b, "f/inner/", 0o777);
    add_dir(&mut b, "d/", 0o4777);
    add_dir(&mut b, "e/", 0o777);
    let link = |b: &mut tar::Builder<Vec<u8>>, name: &str, to: &Path| {
        let mut h = header(name, tar::EntryType::Symlink, 0o777);
        b.append_link(&mut h, name, to).unwrap();
    };
    link(&mut b, "d", &v.file);
    link(&mut b, "e", &v.subdir);
    link(&mut b, "f", &v.subdir);
    let mut h = header("ok.txt", tar::EntryType::Regular, 0o644);
    h.set_size(2);
    h.set_cksum();
    b.append(&h, &b"ok"[..]).unwrap();
    b.into_inner().unwrap()
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn config_json(layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    }))
    .unwrap()
}

fn docker_archive(layer: &[u8], tag: &str) -> Vec<u8> {
    let config = config_json(layer);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [tag],
        "Layers": ["layer.tar"],
    }]))
    .unwrap();
    tar_of(&[
        ("manifest.json", &manifest),
        ("config.json", &config),
        ("layer.tar", layer),
    ])
}

/// An OCI image layout holding the layer, as (path in the layout, bytes).
fn oci_layout(layer: &[u8], tag: &str) -> Vec<(String, Vec<u8>)> {
    let config = config_json(layer);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer), "size": layer.len()}],
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha256(&manifest), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))
    .unwrap();
    let blob = |b: &[u8]| format!("blobs/sha256/{}", &sha256(b)[7..]);
    vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), index),
        (blob(&config), config.clone()),
        (blob(&manifest), manifest.clone()),
        (blob(layer), layer.to_vec()),
    ]
}

/// The layer was unpacked faithfully: the symlinks are there, pointing at the victims.
fn assert_layer_unpacked(gb: &Gb, v: &Victims) {
    let layers = gb.root().join("layers");
    let mut found = false;
    for e in std::fs::read_dir(&layers).unwrap().flatten() {
        let diff = e.path().join("diff");
        if let Ok(t) = std::fs::read_link(diff.join("d")) {
            assert_eq!(t, v.file);
            assert_eq!(std::fs::read_link(diff.join("e")).unwrap(), v.subdir);
            assert_eq!(std::fs::read_link(diff.join("f")).unwrap(), v.subdir);
            assert_eq!(std::fs::read(diff.join("ok.txt")).unwrap(), b"ok");
            found = true;
        }
    }
    assert!(
        found,
        "the layer was not unpacked under {}",
        layers.display()
    );
}

#[test]
fn import_does_not_chmod_through_a_symlink_that_replaced_a_directory() {
    let v = Victims::new();
    let before = v.state();
    let gb = Gb::new();
    let t = gb.root().join("evil.tar");
    std::fs::create_dir_all(gb.root()).unwrap();
    std::fs::write(&t, evil_layer(&v)).unwrap();
    let o = gb.run(&["import", t.to_str().unwrap(), "evil-import:1"]);
    assert_eq!(v.state(), before, "import changed the host paths");
    ok(&o);
    assert_layer_unpacked(&gb, &v);
}

#[test]
fn load_does_not_chmod_through_a_symlink_that_replaced_a_directory() {
    let v = Victims::new();
    let before = v.state();
    let layer = evil_layer(&v);
    let gb = Gb::new();
    // docker-archive
    let da = gb.root().join("evil-docker.tar");
    std::fs::write(&da, docker_archive(&layer, "evil-load:docker")).unwrap();
    let o = gb.run(&["load", "-i", da.to_str().unwrap()]);
    assert_eq!(
        v.state(),
        before,
        "load (docker-archive) changed the host paths"
    );
    ok(&o);
    assert_layer_unpacked(&gb, &v);

    // oci-archive, into a fresh store (the layer would otherwise be unpacked already)
    let gb2 = Gb::new();
    let files = oci_layout(&layer, "evil-load:oci");
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let oa = gb2.root().join("evil-oci.tar");
    std::fs::write(&oa, tar_of(&refs)).unwrap();
    let o = gb2.run(&["load", "-i", oa.to_str().unwrap()]);
    assert_eq!(
        v.state(),
        before,
        "load (oci-archive) changed the host paths"
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_layer_unpacked(&gb2, &v);
}

#[test]
fn pull_does_not_chmod_through_a_symlink_that_replaced_a_directory() {
    let reg = match std::env::var("GLASSBOX_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => r,
        _ => {
            eprintln!("skipped: GLASSBOX_TEST_REGISTRY is not set (the pull part needs the local test registry; run through scripts/test)");
            return;
        }
    };
    let v = Victims::new();
    let before = v.state();
    let layer = evil_layer(&v);
    // The image goes to the registry straight from an OCI layout (skopeo
    // unpacks nothing), under a repository no other run uses.
    let layout = tempfile::tempdir().unwrap();
    for (name, data) in oci_layout(&layer, "v1") {
        let p = layout.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("{reg}/gbtest/evil-unpack-{}-{n}:v1", std::process::id());
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.path().display()))
        .arg(format!("docker://{name}"))
        .output()
        .expect("run skopeo (needed to put the crafted image in the test registry)");
    assert!(
        o.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(v.state(), before);
    let gb = Gb::new();
    let o = gb.run(&["pull", "-q", &name]);
    assert_eq!(v.state(), before, "pull changed the host paths");
    ok(&o);
    assert_layer_unpacked(&gb, &v);
}
