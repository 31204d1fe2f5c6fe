//! tag, rmi, images (filters, --digests, --format), history and image
//! inspect on images made with `import` (no registry, no root needed).

mod common;

use common::{ok, stderr, stdout, Gb};

fn tarball(gb: &Gb, name: &str, content: &[u8]) -> String {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("hello.txt").unwrap();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, content).unwrap();
    let p = gb.root().join(name);
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

fn import(gb: &Gb, content: &[u8], reference: &str) -> String {
    import_into(gb, &[], content, reference)
}

/// `import` with leading global options (`--simulate`: the simulated store).
fn import_into(gb: &Gb, global: &[&str], content: &[u8], reference: &str) -> String {
    let t = tarball(gb, "in.tar", content);
    let mut args = global.to_vec();
    args.extend(["import", "-c", "CMD [\"/hello\"]", &t, reference]);
    ok(&gb.run(&args)).trim().to_string()
}

#[test]
fn tag_untag_and_delete_like_docker() {
    let gb = Gb::new();
    let id = import(&gb, b"one", "app:v1");
    ok(&gb.run(&["tag", "app:v1", "app:v2"]));
    ok(&gb.run(&["tag", &id[7..19], "other/app"]));
    let out = ok(&gb.run(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    let short = &id[7..19];
    assert_eq!(
        lines,
        vec![
            format!("app:v1 {short}"),
            format!("app:v2 {short}"),
            format!("other/app:latest {short}")
        ]
    );
    // tagging something that is not there
    let o = gb.run(&["tag", "nothere", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such image: nothere"),
        "{}",
        stderr(&o)
    );

    // one name of several: untag only
    assert_eq!(ok(&gb.run(&["rmi", "app:v2"])), "Untagged: app:v2\n");
    // by id while two repositories name it: refused without -f
    let o = gb.run(&["rmi", short]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")),
        "{}",
        stderr(&o)
    );
    // a stopped container using it blocks deletion of the last name unless -f
    ok(&gb.run(&["rmi", "other/app"]));
    let cdir = gb.root().join("containers/c0ffee");
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(
        cdir.join("container.json"),
        serde_json::to_vec(&serde_json::json!({"id": "c0ffee1234567890", "image_id": id, "state": {"status": "exited"}})).unwrap(),
    )
    .unwrap();
    let o = gb.run(&["rmi", "app:v1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("container c0ffee123456 is using its referenced image"),
        "{}",
        stderr(&o)
    );
    let out = ok(&gb.run(&["rmi", "-f", "app:v1"]));
    assert_eq!(out, format!("Untagged: app:v1\nDeleted: {id}\n"));
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
    // missing: an error, but not with -f; other arguments still processed
    let id2 = import(&gb, b"two", "b:1");
    let o = gb.run(&["rmi", "nothere", "b:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such image: nothere"));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        ["Untagged: b:1".to_string(), format!("Deleted: {id2}")],
        "{out}"
    );
    // its layer was used by nothing else: blob and unpacked dir are gone
    assert_eq!(lines.len(), 3, "{out}");
    let chain = lines[2].strip_prefix("Deleted: sha256:").unwrap();
    assert!(!gb.root().join("layers").join(chain).exists());
    assert!(!gb.root().join("blobs/sha256").join(&id2[7..]).exists());
    // the forced-away image's layer stays: the container still needs it
    assert_eq!(
        std::fs::read_dir(gb.root().join("layers")).unwrap().count(),
        1
    );
    assert_eq!(ok(&gb.run(&["rmi", "-f", "nothere"])), "");
}

#[test]
fn images_filters_digests_and_formats() {
    let gb = Gb::new();
    let a = import(&gb, b"a", "keep:1");
    let b = import(&gb, b"b", "gone:1");
    ok(&gb.run(&["rmi", "gone:1"]));
    let _ = b;
    let c = import(&gb, b"c", "dang:1");
    ok(&gb.run(&["tag", &a, "keep:2"]));
    // re-pointing dang:1 leaves c dangling
    let t = tarball(&gb, "d.tar", b"d");
    ok(&gb.run(&["import", &t, "dang:1"]));
    let out = ok(&gb.run(&["images", "-f", "dangling=true", "-q"]));
    assert_eq!(out, format!("{}\n", &c[7..19]));
    let out = ok(&gb.run(&[
        "images",
        "-f",
        "dangling=false",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]));
    assert!(!out.contains("<none>") && out.contains("keep:1"), "{out}");
    let out = ok(&gb.run(&["images", "keep"]));
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = ok(&gb.run(&["images", "keep:2", "--format", "{{.Tag}}"]));
    assert_eq!(out, "2\n");
    let out = ok(&gb.run(&["images", "--digests", "keep:1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       DIGEST"),
        "{out}"
    );
    assert!(
        lines[1].contains(" <none> "),
        "imported: no registry digest: {out}"
    );
    let out = ok(&gb.run(&[
        "images",
        "--format",
        "table {{.Repository}}\t{{.Tag}}",
        "keep",
    ]));
    assert_eq!(out.lines().next().unwrap(), "REPOSITORY   TAG");
    let out = ok(&gb.run(&["images", "--format", "json", "keep:1"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["Repository"], "keep");
    assert_eq!(v["ID"], &a[7..19]);
    assert!(!gb.run(&["images", "-f", "bogus=1"]).status.success());
    ok(&gb.run(&["images", "-a"]));
    ok(&gb.run(&["image", "ls", "--digests"]));
}

#[test]
fn history_and_inspect() {
    let gb = Gb::new();
    let id = import(&gb, b"hello world", "hist:1");
    let out = ok(&gb.run(&["history", "hist:1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{out}");
    assert!(
        lines[0].contains("CREATED BY") && lines[0].ends_with("COMMENT"),
        "{out}"
    );
    assert!(lines[1].starts_with(&id[7..19]), "{out}");
    assert!(lines[1].contains("Imported from"), "{out}");
    assert_eq!(
        ok(&gb.run(&["history", "-q", "hist:1"])),
        format!("{}\n", &id[7..19])
    );
    assert_eq!(
        ok(&gb.run(&["history", "-q", "--no-trunc", "hist:1"])),
        format!("{id}\n")
    );
    let out = ok(&gb.run(&["history", "-H=false", "hist:1"]));
    assert!(out.contains("CREATED AT") && out.contains("T"), "{out}");

    let out = ok(&gb.run(&["image", "inspect", "hist:1"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let i = &v[0];
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["RepoTags"], serde_json::json!(["hist:1"]));
    assert_eq!(
        i["RepoDigests"],
        serde_json::json!([]),
        "an imported image has no registry digest"
    );
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["Config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(i["Size"].as_u64().unwrap() >= 11);
    assert!(i["Created"].is_string() && i["Architecture"].is_string());
    let out = ok(&gb.run(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{json .Config.Cmd}}",
        "hist:1",
    ]));
    assert_eq!(out, format!("{id} [\"/hello\"]\n"));
    let o = gb.run(&["image", "inspect", "hist:1", "nothere"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such image: nothere"));
}

#[test]
fn image_prune_removes_dangling_then_unused() {
    let gb = Gb::new();
    let old = import(&gb, b"old", "p:1");
    let keep = import(&gb, b"new", "p:2");
    ok(&gb.run(&["tag", "p:2", "p:1"])); // old is now dangling
    let out = ok(&gb.run(&["image", "prune", "-f"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Deleted Images:", "{out}");
    assert_eq!(lines[1], format!("deleted: {old}"), "{out}");
    assert!(lines[2].starts_with("deleted: sha256:"), "its layer: {out}");
    assert!(out.ends_with("\nTotal reclaimed space: 3B\n"), "{out}");
    assert_eq!(
        ok(&gb.run(&["image", "prune", "-f"])),
        "Total reclaimed space: 0B\n"
    );
    // without -f it asks; "n" keeps everything
    let o = gb
        .cmd()
        .args(["image", "prune", "-a"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"n\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(stdout(&o)
        .starts_with("WARNING! This will remove all images without at least one container"));
    assert_eq!(ok(&gb.run(&["images", "-q"])).lines().count(), 1);
    let out = ok(&gb.run(&["image", "prune", "-a", "-f"]));
    assert!(
        out.contains("untagged: p:1") && out.contains("untagged: p:2"),
        "{out}"
    );
    assert!(out.contains(&format!("deleted: {keep}")), "{out}");
    assert_eq!(ok(&gb.run(&["images", "-q"])), "");
}

#[test]
fn system_df_counts_images_and_containers() {
    // All in the simulated store: a container without root needs the
    // simulated host, and `--simulate` works on its own store.
    let gb = Gb::new();
    assert_eq!(
        ok(&gb.run(&["--simulate", "system", "df"])),
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
         Images          0         0         0B        0B\n\
         Containers      0         0         0B        0B\n\
         Local Volumes   0         0         0B        0B\n\
         Build Cache     0         0         0B        0B\n"
    );
    let a = import_into(&gb, &["--simulate"], b"aaaa", "a:1");
    import_into(&gb, &["--simulate"], b"bbbbbb", "b:1");
    ok(&gb.run(&["--simulate", "create", "--name", "c1", "a:1"]));
    let out = ok(&gb.run(&["--simulate", "system", "df"]));
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    // two images sharing nothing: 4B + 6B, the one without a container reclaimable
    assert_eq!(rows[1], ["Images", "2", "1", "10B", "6B (60%)"], "{out}");
    assert_eq!(rows[2], ["Containers", "1", "0", "0B", "0B"], "{out}");
    assert_eq!(rows[3], ["Local Volumes", "0", "0", "0B", "0B"], "{out}");
    let raw = ok(&gb.run(&["--simulate", "system", "df", "--format", "raw"]));
    assert!(
        raw.starts_with("type: Images\ntotal: 2\nactive: 1\nsize: 10B\nreclaimable: 6B (60%)\n\n"),
        "{raw}"
    );
    let json = ok(&gb.run(&["--simulate", "system", "df", "--format", "json"]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "Images");
    assert_eq!(first["TotalCount"], "2");

    let out = ok(&gb.run(&["--simulate", "system", "df", "-v"]));
    assert!(
        out.starts_with("Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    let short = &a[7..19];
    let row = out
        .lines()
        .find(|l| l.starts_with("a "))
        .expect("row of a:1");
    let cells: Vec<&str> = row
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[..3], ["a", "1", short], "{out}");
    assert_eq!(cells[4..], ["4B", "0B", "4B", "1"], "{out}");
    assert!(
        out.contains("\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND"),
        "{out}"
    );
    assert!(out.contains("c1\n"), "{out}");
    assert!(
        out.contains("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n"),
        "{out}"
    );
    assert!(out.ends_with("\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"), "{out}");
}

#[test]
fn the_store_is_an_oci_layout_skopeo_can_read() {
    let skopeo_here = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !skopeo_here {
        eprintln!("skipped: skopeo is not installed (scripts/test installs it)");
        return;
    }
    let gb = Gb::new();
    let id = import(&gb, b"layout check", "layout/check:v1");
    let target = format!("oci:{}:docker.io/layout/check:v1", gb.root().display());
    let o = std::process::Command::new("skopeo")
        .args(["inspect", &target])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo could not read the store: {}",
        stderr(&o)
    );
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        info["Layers"].as_array().map(|l| l.len()),
        Some(1),
        "{info}"
    );
    let o = std::process::Command::new("skopeo")
        .args(["inspect", "--config", &target])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let config: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/hello"]),
        "not the config glassbox wrote for {id}"
    );
}

/// docker's `rmi -f` of the image a stopped container uses: the image is
/// deleted (untagged, gone from `images`), but its content stays for the
/// container, which still starts; `ps` then names it by image id.
fn rmi_force_keeps_what_a_stopped_container_needs(global: &[&str]) {
    let gb = Gb::new();
    let with = |args: &[&str]| {
        let mut a = global.to_vec();
        a.extend(args);
        gb.run(&a)
    };
    ok(&with(&["run", "--rm", "busybox", "true"]));
    ok(&with(&["tag", "busybox", "bb-forced:1"]));
    ok(&with(&["rmi", "busybox"]));
    let id = ok(&with(&["image", "inspect", "-f", "{{.Id}}", "bb-forced:1"]));
    let id = id.trim();
    assert_eq!(
        ok(&with(&[
            "create",
            "--name",
            "kept",
            "bb-forced:1",
            "echo",
            "still here"
        ]))
        .len(),
        65
    );
    let out = ok(&with(&["rmi", "-f", "bb-forced:1"]));
    assert!(
        out.contains("Untagged: bb-forced:1") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert_eq!(ok(&with(&["images", "-aq"])), "");
    assert_eq!(ok(&with(&["start", "-a", "kept"])), "still here\n");
    assert_eq!(
        ok(&with(&["ps", "-a", "--format", "{{.Image}}"])).trim(),
        &id[7..19]
    );
    // Its content is garbage only once the container is gone.
    ok(&with(&["rm", "kept"]));
    ok(&with(&["image", "prune", "-f"]));
    let store = if global.is_empty() {
        gb.root().to_path_buf()
    } else {
        gb.sim_root()
    };
    for dir in ["layers", "blobs/sha256"] {
        let left: Vec<_> = std::fs::read_dir(store.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{dir}: {left:?}");
    }
}

#[test]
fn rmi_force_keeps_what_a_stopped_container_needs_simulated() {
    rmi_force_keeps_what_a_stopped_container_needs(&["--simulate"]);
}

#[test]
fn rmi_force_keeps_what_a_stopped_container_needs_real() {
    require_root!();
    rmi_force_keeps_what_a_stopped_container_needs(&[]);
}

/// `ps`'s IMAGE column reads the image index once for the whole command,
/// not once per row: as many opens of index.json for six rows as for one
/// (counted with strace), and the column still right.
#[test]
fn ps_reads_the_image_index_once_for_all_its_rows() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("strace is missing: skipped");
        return;
    }
    let gb = Gb::new();
    let opens = |gb: &Gb| -> usize {
        let log = gb.root().join("strace.log");
        let o = std::process::Command::new("strace")
            .args(["-f", "-e", "trace=open,openat", "-o"])
            .arg(&log)
            .arg(env!("CARGO_BIN_EXE_glassbox"))
            .arg("--root")
            .arg(gb.root())
            .args(["--simulate", "ps", "-a", "--format", "{{.Image}}"])
            .env("GLASSBOX_SIM_CLOCK", "1767225600")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).lines().all(|l| l == "busybox"), "{}", stdout(&o));
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("index.json") && !l.contains("ENOENT"))
            .count()
    };
    ok(&gb.run(&["--simulate", "create", "--name", "one", "busybox", "true"]));
    let with_one = opens(&gb);
    for i in 0..5 {
        ok(&gb.run(&[
            "--simulate",
            "create",
            "--name",
            &format!("more{i}"),
            "busybox",
            "true",
        ]));
    }
    let with_six = opens(&gb);
    assert!(with_one >= 1, "ps did not read the index at all");
    assert_eq!(with_one, with_six, "index.json opens grew with the rows");
}
