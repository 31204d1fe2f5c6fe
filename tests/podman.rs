//! Interoperability with podman (Debian's package, installed by scripts/test):
//! `podman load` reads glassbox's `save`, and glassbox `load`s what
//! `podman save` writes (docker-archive and oci-archive). podman runs with
//! its own throwaway storage (vfs) so the host's podman images are untouched.
//! Offline: the image gets into podman through `podman load` of a fixture.

mod common;

use common::{fixture, ok, stderr, stdout, Gb};
use std::path::PathBuf;
use std::process::Command;

struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Option<Podman> {
        let ok = Command::new("podman")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok || !common::is_root() {
            eprintln!("skipped: needs podman (scripts/test installs it) and root");
            return None;
        }
        Some(Podman {
            dir: tempfile::tempdir().unwrap(),
        })
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("podman")
            .args(common::podman_private_storage(self.dir.path()))
            .args(args)
            .output()
            .expect("run podman")
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "podman {args:?} failed\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// An image in glassbox: the built-in busybox through the simulated registry.
fn glassbox_busybox(gb: &Gb) -> Option<String> {
    let o = gb.run(&["--simulate", "pull", "-q", "busybox"]);
    if !o.status.success() {
        eprintln!("skipped: this glassbox was built without a busybox");
        return None;
    }
    Some(
        ok(&gb.run(&["--simulate", "images", "-q", "--no-trunc", "busybox"]))
            .trim()
            .to_string(),
    )
}

#[test]
fn podman_loads_what_glassbox_saves() {
    let Some(pm) = Podman::new() else { return };
    let gb = Gb::new();
    let Some(id) = glassbox_busybox(&gb) else {
        return;
    };
    let archive = pm.file("gb.tar");
    ok(&gb.run(&[
        "--simulate",
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox",
    ]));
    let out = pm.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image"), "{out}");
    // same image id (config digest) on both sides: nothing was rewritten
    let ids = pm.ok(&["images", "--no-trunc", "--format", "{{.ID}}"]);
    assert!(
        ids.contains(id.trim_start_matches("sha256:")),
        "{ids} vs {id}"
    );
    // glassbox writes docker's familiar name; podman files a short name
    // under localhost/ (its short-name rule), the tag survives
    let names = pm.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(names.contains("busybox:latest"), "{names}");
}

#[test]
fn glassbox_loads_what_podman_saves() {
    let Some(pm) = Podman::new() else { return };
    let Some(fx) = fixture("busybox-docker.tar") else {
        eprintln!("skipped: no target/fixtures/busybox-docker.tar (scripts/fixtures)");
        return;
    };
    pm.ok(&["load", "-i", fx.to_str().unwrap()]);
    let podman_id = pm
        .ok(&["images", "--no-trunc", "--format", "{{.ID}}"])
        .trim()
        .trim_start_matches("sha256:")
        .to_string();
    for (format, file) in [("docker-archive", "pm.tar"), ("oci-archive", "pm-oci.tar")] {
        let archive = pm.file(file);
        pm.ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            "docker.io/library/busybox:latest",
        ]);
        let gb = Gb::new();
        let out = ok(&gb.run(&["load", "-i", archive.to_str().unwrap()]));
        assert_eq!(out, "Loaded image: busybox:latest\n", "{format}");
        let id = ok(&gb.run(&["images", "-q", "--no-trunc", "busybox"]));
        if format == "docker-archive" {
            assert_eq!(id.trim(), format!("sha256:{podman_id}"), "{format}");
        }
        let n = ok(&gb.run(&[
            "image",
            "inspect",
            "-f",
            "{{len .RootFS.Layers}}",
            "busybox",
        ]));
        assert_eq!(n.trim(), "1", "{format}");
        if common::is_root() {
            let o = gb.run(&["run", "--rm", "busybox", "echo", "from podman"]);
            assert_eq!(ok(&o), "from podman\n", "{format}");
        }
    }
}
