//! Bad input is refused with docker's exit code and a message naming the bad
//! value: run/create options (-e, -w, -h), import of a non-tar, load of an
//! archive with no images or with a descriptor that lies about its size, and
//! errors never echo an input's raw bytes. Also: the event journal stays
//! bounded.

mod common;

use common::{ok, stderr, stdout, Gb};

fn fixtures() -> Option<std::path::PathBuf> {
    std::env::var_os("GLASSBOX_FIXTURES").map(std::path::PathBuf::from)
}

/// Both `run` and `create` refuse `args` with exit 125 and `message`, and make nothing.
fn refused(args: &[&str], message: &str) {
    let gb = Gb::new();
    for verb in ["run", "create"] {
        let mut a = vec!["--simulate", verb];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "true"]);
        let o = gb.run(&a);
        assert_eq!(
            o.status.code(),
            Some(125),
            "{verb} {args:?}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains(message),
            "{verb} {args:?}: want {message:?} in:\n{}",
            stderr(&o)
        );
        assert!(
            gb.containers().is_empty(),
            "{verb} {args:?} made a container"
        );
    }
}

#[test]
fn env_without_a_name_is_refused() {
    refused(
        &["-e", "=x"],
        "invalid argument \"=x\" for \"-e, --env\" flag: invalid environment variable: =x",
    );
    refused(
        &["-e", "A=1", "-e", "="],
        "invalid argument \"=\" for \"-e, --env\" flag: invalid environment variable: =",
    );
}

#[test]
fn relative_workdir_is_refused() {
    refused(
        &["-w", "relative"],
        "the working directory 'relative' is invalid, it needs to be an absolute path",
    );
}

#[test]
fn invalid_hostnames_are_refused() {
    refused(&["-h", "a/b c"], "invalid hostname format: a/b c");
    refused(&["--hostname=-lead"], "invalid hostname format: -lead");
    let long = "a".repeat(64);
    refused(&["-h", &long], &format!("invalid hostname format: {long}"));
}

#[test]
fn valid_options_still_run() {
    let gb = Gb::new();
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "-h",
        "web-1.example",
        "-w",
        "/tmp",
        "-e",
        "A=1",
        "-e",
        "B=",
        "busybox",
        "sh",
        "-c",
        "hostname; pwd; echo $A",
    ]);
    assert_eq!(ok(&o), "web-1.example\n/tmp\n1\n");
}

/// An empty input (a 0-byte file, /dev/null, an empty pipe) makes no image:
/// exit 125, naming the source and what to give instead; anything else that
/// is not a tar archive is refused too. An empty *archive* (two zero
/// blocks) is still a valid, empty layer.
#[test]
fn import_of_a_non_tar_is_refused() {
    let gb = Gb::new();
    let empty = gb.root().join("empty");
    std::fs::write(&empty, b"").unwrap();
    for source in [empty.to_str().unwrap(), "/dev/null"] {
        let o = gb.run(&["import", source, "nothing"]);
        assert_eq!(
            o.status.code(),
            Some(125),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(source) && err.contains("empty"), "{err}");
        assert!(err.contains("tar archive of a root filesystem"), "{err}");
    }
    // (the test harness gives glassbox /dev/null as stdin)
    let o = gb.run(&["import", "-", "nothing"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(ok(&gb.run(&["images", "-q"])), "", "no image was made");
    let zeros = gb.root().join("zeros.tar");
    std::fs::write(&zeros, [0u8; 1024]).unwrap();
    ok(&gb.run(&["import", zeros.to_str().unwrap(), "nothing"]));
    ok(&gb.run(&["rmi", "nothing"]));
    ok(&gb.run(&["image", "prune", "-f"]));
    // binary garbage: the error says what it is, never prints the bytes
    let junk = gb.root().join("junk.bin");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 0x80) as u8).collect();
    std::fs::write(&junk, &bytes).unwrap();
    let o = gb.run(&["import", junk.to_str().unwrap(), "nothing"]);
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr.clone()).expect("the error is text, not raw bytes");
    assert!(err.contains("not a tar archive"), "{err}");
    assert!(err.chars().all(|c| !c.is_control() || c == '\n'), "{err:?}");
    assert_eq!(ok(&gb.run(&["images", "-q"])), "", "no image was made");
    let leftovers: Vec<_> = std::fs::read_dir(gb.root().join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "nothing stored: {leftovers:?}");
}

/// A tar archive of (name, bytes) files.

fn load_bytes(gb: &Gb, bytes: &[u8]) -> std::process::Output {
    let p = gb.root().join("in.tar");
    std::fs::write(&p, bytes).unwrap();
    gb.run(&["load", "-i", p.to_str().unwrap()])
}

#[test]
fn load_of_an_archive_without_images_fails() {
    let gb = Gb::new();
    let o = load_bytes(&gb, &common::tar_of(&[("manifest.json", b"[]")]));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no images found in the archive"),
        "{}",
        stderr(&o)
    );
    let o = load_bytes(
        &gb,
        &common::tar_of(&[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json", br#"{"schemaVersion":2,"manifests":[]}"#),
        ]),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no images found in the archive"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn load_of_a_non_tar_says_so_without_its_bytes() {
    let gb = Gb::new();
    let bytes: Vec<u8> = (0..2048u32).map(|i| (i * 13 + 0x90) as u8).collect();
    let o = load_bytes(&gb, &bytes);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr.clone()).expect("the error is text, not raw bytes");
    assert!(err.contains("not a tar archive"), "{err}");
    assert!(err.chars().all(|c| !c.is_control() || c == '\n'), "{err:?}");
}

/// The busybox oci-archive fixture with its index or manifest descriptor size changed.
fn lying_oci(fixture: &std::path::Path, lie_in_index: bool) -> Vec<u8> {
    let mut ar = tar::Archive::new(std::fs::File::open(fixture).unwrap());
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        files.push((name, data));
    }
    let mut index: serde_json::Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "index.json").unwrap().1).unwrap();
    if lie_in_index {
        index["manifests"][0]["size"] = 7.into();
    } else {
        // the manifest says the config is bigger than it is: a new manifest blob
        let md = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let mpath = format!("blobs/sha256/{}", &md[7..]);
        let mbytes = &files.iter().find(|(n, _)| *n == mpath).unwrap().1;
        let mut m: serde_json::Value = serde_json::from_slice(mbytes).unwrap();
        m["config"]["size"] = (m["config"]["size"].as_u64().unwrap() + 1).into();
        let nb = serde_json::to_vec(&m).unwrap();
        let nd = format!("sha256:{}", sha256_hex(&nb));
        index["manifests"][0]["digest"] = nd.clone().into();
        index["manifests"][0]["size"] = nb.len().into();
        files.push((format!("blobs/sha256/{}", &nd[7..]), nb));
    }
    let ib = serde_json::to_vec(&index).unwrap();
    files.retain(|(n, _)| n != "index.json");
    files.push(("index.json".into(), ib));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    common::tar_of(&refs)
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn oci_descriptor_sizes_are_checked() {
    let Some(fx) = fixtures() else {
        eprintln!("skipped: GLASSBOX_FIXTURES is not set");
        return;
    };
    let oci = fx.join("busybox-oci.tar");
    for (lie_in_index, what) in [(true, "index"), (false, "config")] {
        let gb = Gb::new();
        let o = load_bytes(&gb, &lying_oci(&oci, lie_in_index));
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("size mismatch"),
            "{what}: {}",
            stderr(&o)
        );
        assert_eq!(ok(&gb.run(&["images", "-q"])), "", "{what}: nothing loaded");
    }
    // the honest archive still loads
    let gb = Gb::new();
    ok(&gb.run(&["load", "-i", oci.to_str().unwrap()]));
}

#[test]
fn the_event_journal_stays_bounded() {
    if !common::is_root() {
        eprintln!("skipped: needs root (real containers record events)");
        return;
    }
    let gb = Gb::new();
    let _c = common::Cleanup(&gb);
    let bound = 4096u64;
    let mut last = String::new();
    for i in 0..20 {
        let name = format!("ev{i}-{}", std::process::id());
        let o = gb
            .cmd()
            .env("GLASSBOX_EVENTS_MAX_BYTES", bound.to_string())
            .args(["create", "--name", &name, "busybox", "true"])
            .output()
            .unwrap();
        ok(&o);
        let o = gb
            .cmd()
            .env("GLASSBOX_EVENTS_MAX_BYTES", bound.to_string())
            .args(["rm", &name])
            .output()
            .unwrap();
        ok(&o);
        last = name;
        let len = std::fs::metadata(gb.root().join("events.jsonl"))
            .unwrap()
            .len();
        assert!(
            len <= bound,
            "journal is {len} bytes after {} events",
            2 * (i + 1)
        );
    }
    // 40 events of ~300 bytes each did not fit: the oldest were dropped
    let journal = std::fs::read_to_string(gb.root().join("events.jsonl")).unwrap();
    assert!(
        !journal.contains("\"ev0-"),
        "the oldest events were dropped"
    );
    for l in journal.lines() {
        serde_json::from_str::<serde_json::Value>(l).expect("whole lines only");
    }
    // the newest are there, and `events --since` still reads them
    let o = gb.run(&["events", "--since", "10m", "--until", "0s"]);
    let out = ok(&o);
    assert!(
        out.contains("container destroy") && out.contains(&last),
        "{out}"
    );
}

#[test]
fn load_of_an_empty_file_is_refused() {
    let gb = Gb::new();
    let o = load_bytes(&gb, b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the input is empty, not a tar archive"),
        "{}",
        stderr(&o)
    );
}
