//! Narrated pull and push: every protocol step is a step the narrator shows,
//! step-through pauses on and --trace-json records. The simulated pull
//! (`--simulate pull`) walks the same steps against the local store with no
//! network, so its narration is snapshot-tested in both languages.
//!
//! Tests against the local registry skip when GLASSBOX_TEST_REGISTRY is unset
//! (scripts/test starts and seeds one).

mod common;

use common::{ok, stderr, trace_kinds, Gb};

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

fn redact(gb: &Gb, text: &str) -> String {
    text.replace(&gb.root().display().to_string(), "[ROOT]")
}

fn trace_records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn has_builtin_busybox(gb: &Gb) -> bool {
    // The built-in image exists when the binary was built with a busybox.
    let o = gb.run(&["--simulate", "pull", "-q", "busybox"]);
    o.status.success()
}

const SIM_PULL: [&str; 6] = [
    "registry_ping",
    "registry_token",
    "manifest_fetch",
    "blob_fetch",
    "blob_fetch",
    "layer_unpack",
];

#[test]
fn simulated_pull_walks_the_protocol_and_changes_only_the_store() {
    let gb = Gb::new();
    if !has_builtin_busybox(&Gb::new()) {
        eprintln!("skipped: this glassbox was built without a busybox");
        return;
    }
    let trace = gb.root().join("trace.json");
    let o = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&trace)
        .args(["pull", "busybox"])
        .output()
        .unwrap();
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Using default tag: latest", "{out}");
    assert_eq!(lines[1], "latest: Pulling from library/busybox", "{out}");
    assert!(lines[2].ends_with(": Pull complete"), "{out}");
    assert!(lines[3].starts_with("Digest: sha256:"), "{out}");
    assert_eq!(
        lines[4],
        "Status: Downloaded newer image for busybox:latest"
    );
    assert_eq!(lines[5], "docker.io/library/busybox:latest");
    assert_eq!(trace_kinds(&trace), SIM_PULL);
    let recs = trace_records(&trace);
    assert!(recs.iter().all(|r| r["side"] == "parent"));
    assert_eq!(
        recs[2]["step"]["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        recs[1]["step"]["scope"], "repository:library/busybox:pull",
        "{}",
        recs[1]
    );
    // blobs are in the store; simulation unpacks nothing (the simulated
    // kernel reads layers from their blobs)
    let layer = recs[4]["step"]["dest"].as_str().unwrap();
    assert!(std::path::Path::new(layer).is_file());
    assert_eq!(
        std::fs::read_dir(gb.sim_root().join("layers"))
            .unwrap()
            .count(),
        0
    );
    // the same image `run` would import: no "Unable to find image" afterwards
    let o = gb.run(&["--simulate", "run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(ok(&o), "hi\n");
    assert!(
        !stderr(&o).contains("Unable to find image"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        ok(&gb.run(&["--simulate", "images", "-q"])).lines().count(),
        1
    );
    // again: the simulated registry serves the store's copy, which we have
    let o = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&trace)
        .args(["pull", "busybox"])
        .output()
        .unwrap();
    assert!(ok(&o).contains("Status: Image is up to date for busybox:latest"));
    assert_eq!(
        trace_kinds(&trace),
        ["registry_ping", "registry_token", "manifest_fetch"]
    );
    // an image neither in the store nor built in: the registry's answer
    let o = gb.run(&["--simulate", "pull", "nosuch/image"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("manifest for nosuch/image:latest not found: manifest unknown"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulated_pull_narration_en() {
    let gb = Gb::new();
    if !has_builtin_busybox(&Gb::new()) {
        return;
    }
    let o = gb.run(&["--simulate", "--explain=deep", "pull", "busybox"]);
    ok(&o);
    insta::assert_snapshot!("sim_pull_en", redact(&gb, &stderr(&o)));
}

#[test]
fn simulated_pull_narration_zh() {
    let gb = Gb::new();
    if !has_builtin_busybox(&Gb::new()) {
        return;
    }
    let o = gb.run(&[
        "--simulate",
        "--lang",
        "zh",
        "--explain=steps",
        "pull",
        "busybox",
    ]);
    ok(&o);
    insta::assert_snapshot!("sim_pull_zh", redact(&gb, &stderr(&o)));
}

#[test]
fn step_through_a_pull_and_abort_it() {
    let gb = Gb::new();
    if !has_builtin_busybox(&Gb::new()) {
        return;
    }
    let step = |answers: &str| {
        use std::io::Write;
        let mut c = gb
            .cmd()
            .env("GLASSBOX_NO_TTY", "1")
            .args(["--simulate", "--step", "pull", "busybox"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(answers.as_bytes())
            .unwrap();
        c.wait_with_output().unwrap()
    };
    // run two steps, then q before the manifest
    let o = step("\n\nq\n");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("[3] fetch the manifest of library/busybox:latest"),
        "{err}"
    );
    assert!(
        err.contains("aborted before step manifest_fetch; the image was not added"),
        "{err}"
    );
    assert_eq!(ok(&gb.run(&["--simulate", "images", "-q"])), "");
    // ? explains, then c runs the rest without pausing
    let o = step("?\nc\n");
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("syscall: HTTP GET /v2/"), "{err}");
    assert_eq!(
        ok(&gb.run(&["--simulate", "images", "-q"])).lines().count(),
        1
    );
}

#[test]
fn quiet_pull_shows_no_steps() {
    let gb = Gb::new();
    if !has_builtin_busybox(&Gb::new()) {
        return;
    }
    let o = gb.run(&["--simulate", "pull", "busybox"]);
    ok(&o);
    assert_eq!(stderr(&o), "");
    // The simulated registry takes pushes (docker.io names included).
    let o = gb.run(&["--simulate", "push", "busybox"]);
    ok(&o);
    assert_eq!(stderr(&o), "");
}

#[test]
fn real_pull_and_push_are_narrated_and_traced() {
    let reg = require_registry!();
    let gb = Gb::new();
    let trace = gb.root().join("trace.json");
    let run = |args: &[&str]| {
        gb.cmd()
            .arg("--trace-json")
            .arg(&trace)
            .args(args)
            .output()
            .unwrap()
    };
    let name = format!("{reg}/library/busybox:latest");
    let o = run(&["--explain=steps", "pull", &name]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "[1] ask {reg} whether it speaks the registry API (GET /v2/)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("$ curl -si http://{reg}/v2/")),
        "{err}"
    );
    let kinds = trace_kinds(&trace);
    // the simulated pull takes the same steps (plus Docker Hub's token)
    let sim: Vec<&str> = SIM_PULL
        .iter()
        .copied()
        .filter(|k| *k != "registry_token")
        .collect();
    assert_eq!(kinds, sim);
    let recs = trace_records(&trace);
    let unpack = &recs[4]["step"];
    assert!(
        std::path::Path::new(unpack["dir"].as_str().unwrap()).is_dir(),
        "the lower dir exists: {unpack}"
    );
    assert!(
        recs[0]["explain"]["syscall"] == "HTTP GET /v2/",
        "{}",
        recs[0]
    );

    // a multi-platform tag: the index, then this platform's manifest by digest
    let o = run(&["pull", &format!("{reg}/library/busybox:multi")]);
    ok(&o);
    assert_eq!(stderr(&o), "", "no narration without --explain");
    let recs = trace_records(&trace);
    let manifests: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["kind"] == "manifest_fetch")
        .map(|r| &r["step"])
        .collect();
    assert_eq!(manifests.len(), 2);
    assert_eq!(
        manifests[0]["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        manifests[1]["platform"],
        format!("linux/{}", glassbox::image::host_arch())
    );
    assert!(manifests[1]["reference"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    // push: each blob checked (HEAD), uploaded if missing, then the manifest
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let target = format!("{reg}/gbtest/steps-{}-{n}:v1", std::process::id());
    ok(&gb.run(&["tag", &name, &target]));
    let o = run(&["--explain=summary", "push", &target]);
    ok(&o);
    assert_eq!(
        trace_kinds(&trace),
        [
            "registry_ping",
            "blob_check",
            "blob_upload",
            "blob_check",
            "blob_upload",
            "manifest_put"
        ]
    );
    assert!(
        stderr(&o).contains("put the manifest as gbtest/steps-"),
        "{}",
        stderr(&o)
    );
    let o = run(&["push", &target]);
    assert!(ok(&o).contains("Layer already exists"));
    assert_eq!(
        trace_kinds(&trace),
        ["registry_ping", "blob_check", "blob_check", "manifest_put"]
    );
}

#[test]
fn simulated_search_lists_the_simulated_registry() {
    let gb = Gb::new();
    if !has_builtin_busybox(&Gb::new()) {
        return;
    }
    let out = ok(&gb.run(&["--simulate", "search", "busy"]));
    assert_eq!(
        out,
        "NAME      DESCRIPTION   STARS     OFFICIAL\nbusybox                 0         [OK]\n"
    );
    let out = ok(&gb.run(&["--simulate", "search", "--format", "{{.Name}}", "nothing"]));
    assert_eq!(out, "");
}
