//! The simulated registry: it serves the images the lessons name (debian,
//! with a stable id), and what `--simulate push` sends to it comes back with
//! `--simulate pull`, by the same protocol steps as a real registry.

mod common;
use common::*;

/// The debian image's id: its layer, config and creation time are fixed,
/// so it is the same on every build and machine.
const DEBIAN_ID: &str = "81286a8dd1cb";

#[test]
fn the_simulated_registry_serves_debian_with_a_stable_id() {
    let gb = Gb::new();
    let o = gb.sim(&["pull", "debian:bookworm"]);
    insta::assert_snapshot!("sim_pull_debian", ok(&o));
    ok(&gb.sim(&["pull", "-q", "debian"]));
    let images = ok(&gb.sim(&["images", "debian"]));
    assert_eq!(
        images.lines().filter(|l| l.contains(DEBIAN_ID)).count(),
        2,
        "bookworm and latest are one image: {images}"
    );
    // A run of an image not here pulls it first, as docker's run does.
    let gb2 = Gb::new();
    let o = gb2.sim(&["run", "--rm", "debian", "echo", "Hello World"]);
    assert_eq!(ok(&o), "Hello World\n");
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "Unable to find image 'debian:latest' locally\nlatest: Pulling from library/debian\n"
        ),
        "{err}"
    );
    assert!(!err.contains("Using default tag"), "{err}");
}

#[test]
fn a_simulated_debian_container_looks_like_debian() {
    let gb = Gb::new();
    ok(&gb.sim(&["pull", "-q", "debian:bookworm"]));
    let script = "grep PRETTY /etc/os-release; cat /etc/debian_version; \
                  readlink /bin /bin/sh; ls /usr/bin/bash; echo $0; \
                  grep ^root /etc/passwd";
    let out = ok(&gb.sim(&["run", "--rm", "debian:bookworm", "sh", "-c", script]));
    assert_eq!(
        out,
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n12.8\nusr/bin\ndash\n/usr/bin/bash\n\
         sh\nroot:x:0:0:root:/root:/bin/bash\n"
    );
    // The image's command is bash; bash's own error format.
    let o = gb.sim(&["run", "--rm", "debian:bookworm", "bash", "-c", "nosuch"]);
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(stderr(&o), "bash: line 1: nosuch: command not found\n");
    // dash as sh, with dash's.
    let o = gb.sim(&["run", "--rm", "debian:bookworm", "sh", "-c", "nosuch"]);
    assert_eq!(stderr(&o), "sh: 1: nosuch: not found\n");
    // Programs of the real image the simulator cannot run say so (126), and
    // what debian lacks (procps) is not found, as in the real image.
    let o = gb.sim(&["run", "--rm", "debian:bookworm", "apt-get", "update"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let o = gb.sim(&["run", "--rm", "debian:bookworm", "ps"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let cmd = ok(&gb.sim(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Cmd}}",
        "debian:bookworm",
    ]));
    assert_eq!(cmd.trim(), "[bash]");
}

#[test]
fn push_to_the_simulated_registry_and_pull_back() {
    let gb = Gb::new();
    ok(&gb.sim(&["pull", "-q", "busybox"]));
    let id = ok(&gb.sim(&["images", "-q", "busybox"]));
    for name in ["localhost:5000/me/bb:1", "me/bb"] {
        ok(&gb.sim(&["tag", "busybox", name]));
        let trace = gb.root().join("push.jsonl");
        let _ = std::fs::remove_file(&trace);
        let o = gb
            .cmd()
            .arg("--simulate")
            .arg("--trace-json")
            .arg(&trace)
            .args(["push", name])
            .output()
            .unwrap();
        let out = ok(&o);
        assert!(out.contains(": Pushed\n"), "{out}");
        assert!(out.contains(": digest: sha256:"), "{out}");
        let kinds = trace_kinds(&trace);
        for k in ["registry_ping", "blob_check", "blob_upload", "manifest_put"] {
            assert!(kinds.iter().any(|x| x == k), "{k}: {kinds:?}");
        }
        // The same push again: the registry has every blob.
        let again = ok(&gb.sim(&["push", name]));
        assert!(again.contains(": Layer already exists\n"), "{again}");
        assert!(!again.contains("Pushed"), "{again}");
        // Gone from the store, back from the registry, the same image.
        ok(&gb.sim(&["rmi", name]));
        let pulled = ok(&gb.sim(&["pull", name]));
        assert!(
            pulled.contains("Status: Downloaded newer image"),
            "{pulled}"
        );
        assert_eq!(ok(&gb.sim(&["images", "-q", name])), id);
    }
    // A tag never pushed is unknown, as a registry says.
    let o = gb.sim(&["pull", "localhost:5000/me/bb:2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("manifest unknown"), "{}", stderr(&o));
    // Nothing of it reached the real store.
    assert!(!gb.root().join("registry").exists());
}
