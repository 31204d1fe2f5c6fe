//! Every verb that changes something is narrated as steps, like `run`:
//! commit, cp (both ways, running and stopped), rename, export and
//! container prune, each checked through `--trace-json` (kinds, in order),
//! `--step` with `q` (stops cleanly, nothing half made) and, for cp, the
//! narrated shell command pasted into `sh` doing what glassbox did.

mod common;

use common::{eventually, ok, stderr, stdout, trace_kinds, Cleanup, Gb};
use std::io::Write;
use std::process::Stdio;

/// Run glassbox with a trace file; returns its output and the traced kinds.
fn traced(gb: &Gb, name: &str, args: &[&str]) -> (std::process::Output, Vec<String>) {
    let trace = gb.root().join(format!("{name}.json"));
    let out = gb
        .cmd()
        .args(["--explain=steps", "--trace-json"])
        .arg(&trace)
        .args(args)
        .output()
        .unwrap();
    let kinds = if trace.exists() {
        trace_kinds(&trace)
    } else {
        Vec::new()
    };
    (out, kinds)
}

/// The `shell` of the first traced step of this kind.
fn traced_shell(gb: &Gb, name: &str, kind: &str) -> String {
    std::fs::read_to_string(gb.root().join(format!("{name}.json")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} step"))["shell"]
        .as_str()
        .unwrap()
        .to_string()
}

fn kinds(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn commit_cp_rename_export_and_prune_are_narrated_steps() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = {
        ok(&gb.run(&[
            "run",
            "--name",
            "nv-src",
            "busybox",
            "sh",
            "-c",
            "echo made > /made; rm /bin/ls",
        ]));
        ok(&gb.run(&["ps", "-aq", "--no-trunc", "-f", "name=nv-src"]))
            .trim()
            .to_string()
    };

    // commit: the upper dir as a tar, the two blobs, the new lower dir, the name.
    let (out, k) = traced(&gb, "commit", &["commit", "nv-src", "nv-img:one"]);
    let image_id = ok(&out).trim().to_string();
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    assert_eq!(
        k,
        kinds(&[
            "layer_tar",
            "blob_write",
            "blob_write",
            "layer_unpack",
            "image_add"
        ]),
        "{}",
        stderr(&out)
    );
    let text = stderr(&out);
    let upper = gb.root().join("containers").join(&id).join("upper");
    assert!(text.contains(&upper.display().to_string()), "{text}");
    assert!(text.contains("index.json"), "{text}");
    // The image is real: its layer has the file, and the deletion.
    let o = gb.run(&[
        "run",
        "--rm",
        "nv-img:one",
        "sh",
        "-c",
        "cat /made; ls /bin/ls",
    ]);
    assert_eq!(stdout(&o), "made\n", "{}", stderr(&o));
    // No temp file is left in the store.
    let leftovers: Vec<_> = std::fs::read_dir(gb.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // cp into and out of the stopped container: the helper's mount is named.
    let host = gb.root().join("host.txt");
    std::fs::write(&host, "from the host\n").unwrap();
    let dest = format!("nv-src:/tmp/");
    let (out, k) = traced(&gb, "cp_in", &["cp", host.to_str().unwrap(), &dest]);
    ok(&out);
    assert_eq!(k, kinds(&["copy_in"]));
    let shell = traced_shell(&gb, "cp_in", "copy_in");
    assert!(
        shell.starts_with("unshare --mount sh -c ") && shell.contains("upperdir="),
        "{shell}"
    );
    let back = gb.root().join("back.txt");
    let (out, k) = traced(
        &gb,
        "cp_out",
        &["cp", "nv-src:/tmp/host.txt", back.to_str().unwrap()],
    );
    ok(&out);
    assert_eq!(k, kinds(&["copy_out"]));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the host\n");

    // rename: one record write of the name.
    let (out, k) = traced(&gb, "rename", &["rename", "nv-src", "nv-renamed"]);
    ok(&out);
    assert_eq!(k, kinds(&["record_write"]));
    assert!(stderr(&out).contains("nv-renamed"), "{}", stderr(&out));

    // export: one tar of the whole filesystem, through the helper's read-only overlay.
    let tar = gb.root().join("export.tar");
    let (out, k) = traced(
        &gb,
        "export",
        &["export", "-o", tar.to_str().unwrap(), "nv-renamed"],
    );
    ok(&out);
    assert_eq!(k, kinds(&["export_tar"]));
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "made"),
        "{listing}"
    );
    assert!(listing.contains("tmp/host.txt"), "{listing}");

    // container prune: each stopped container removed with rm's steps.
    let (out, k) = traced(&gb, "prune", &["container", "prune", "-f"]);
    assert!(ok(&out).contains(&id), "{}", stdout(&out));
    assert_eq!(
        k,
        kinds(&["record_write", "dir_remove", "record_remove"]),
        "{}",
        stderr(&out)
    );
    assert!(gb.containers().is_empty());
}

#[test]
fn cp_into_a_running_container_pasted_into_sh_does_the_same() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&["run", "-d", "--name", "nv-live", "busybox", "sleep", "1000"]));
    let host = gb.root().join("note.txt");
    std::fs::write(&host, "a note\n").unwrap();
    let (out, k) = traced(
        &gb,
        "cp_live",
        &["cp", host.to_str().unwrap(), "nv-live:/tmp/note.txt"],
    );
    ok(&out);
    assert_eq!(k, kinds(&["copy_in"]));
    let shell = traced_shell(&gb, "cp_live", "copy_in");
    let pid = ok(&gb.run(&["inspect", "--format", "{{.State.Pid}}", "nv-live"]))
        .trim()
        .to_string();
    assert!(
        shell.contains(&format!("/proc/{pid}/root/tmp/note.txt")),
        "{shell}"
    );
    let read = |gb: &Gb| stdout(&gb.run(&["exec", "nv-live", "cat", "/tmp/note.txt"]));
    assert_eq!(read(&gb), "a note\n");
    // Undo it inside the container, then paste the narrated command.
    ok(&gb.run(&["exec", "nv-live", "rm", "/tmp/note.txt"]));
    assert_eq!(read(&gb), "");
    let pasted = std::process::Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .output()
        .unwrap();
    assert!(pasted.status.success(), "{shell}: {pasted:?}");
    assert_eq!(read(&gb), "a note\n", "pasting {shell:?}");

    // Out of it: the source is named through /proc/PID/root.
    let (out, k) = traced(&gb, "cp_live_out", &["cp", "nv-live:/etc/hostname", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(k, kinds(&["copy_out"]));
    let shell = traced_shell(&gb, "cp_live_out", "copy_out");
    assert!(shell.contains(&format!("/proc/{pid}/root/etc")), "{shell}");
}

#[test]
fn q_at_step_through_stops_a_commit_and_a_cp_with_nothing_made() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "--name",
        "nv-q",
        "busybox",
        "sh",
        "-c",
        "echo x > /x",
    ]));
    let images_before = ok(&gb.run(&["images", "-q"]));
    let step = |args: &[&str], answers: &str| {
        let mut child = gb
            .cmd()
            .env("GLASSBOX_NO_TTY", "1")
            .arg("--step")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answers.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // Run the layer tar and the layer blob, then stop before the config blob.
    let out = step(&["commit", "nv-q", "nv-q-img"], "\n\nq\n");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aborted before step blob_write; no image was made"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ok(&gb.run(&["images", "-q"])), images_before);
    assert!(!stdout(&gb.run(&["images"])).contains("nv-q-img"));
    let leftovers: Vec<_> = std::fs::read_dir(gb.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The blob written before q is unnamed garbage: prune takes it.
    assert!(
        ok(&gb.run(&["image", "prune", "-f"])).contains("Total reclaimed space"),
        "image prune"
    );

    // cp: q before copy_in copies nothing.
    let host = gb.root().join("never.txt");
    std::fs::write(&host, "never\n").unwrap();
    let out = step(&["cp", host.to_str().unwrap(), "nv-q:/never.txt"], "q\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aborted before step copy_in"),
        "{}",
        stderr(&out)
    );
    let diff = ok(&gb.run(&["diff", "nv-q"]));
    assert!(!diff.contains("never.txt"), "{diff}");
}

#[test]
fn rename_explained_in_english_and_chinese() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let id = ok(&gb.run(&["create", "--name", "nv-old", "busybox", "true"]))
        .trim()
        .to_string();
    let redact = |t: &str| {
        t.replace(&gb.root().display().to_string(), "[ROOT]")
            .replace(&id, "[ID]")
    };
    let out = gb
        .cmd()
        .args(["--explain=deep", "rename", "nv-old", "nv-new"])
        .output()
        .unwrap();
    ok(&out);
    insta::assert_snapshot!("rename_explain_en", redact(&stderr(&out)));
    let out = gb
        .cmd()
        .args([
            "--explain=steps",
            "--lang",
            "zh",
            "rename",
            "nv-new",
            "nv-newer",
        ])
        .output()
        .unwrap();
    ok(&out);
    insta::assert_snapshot!("rename_explain_zh", redact(&stderr(&out)));
    // The name conflict, in Chinese too.
    ok(&gb.run(&["create", "--name", "nv-other", "busybox", "true"]));
    let out = gb
        .cmd()
        .args(["--lang", "zh", "rename", "nv-other", "nv-newer"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("冲突：容器名 \"/nv-newer\" 已经被容器"),
        "{}",
        stderr(&out)
    );
}

/// Run the narrated shell commands of a trace with `sh`, in order.
fn paste(gb: &Gb, name: &str, kind: &str) -> String {
    let shell = traced_shell(gb, name, kind);
    let o = std::process::Command::new("sh")
        .args(["-c", &shell])
        .output()
        .unwrap();
    assert!(o.status.success(), "{shell}\n{}", stderr(&o));
    stdout(&o)
}

fn index_json(gb: &Gb) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(gb.root().join("index.json")).unwrap()).unwrap()
}

#[test]
fn diff_logs_attach_tag_and_rmi_are_narrated_and_their_shell_does_the_same() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "--name",
        "nv-files",
        "busybox",
        "sh",
        "-c",
        "echo said; mkdir -p /tmp/d/e; touch /tmp/d/e/x; rm /bin/vi; echo z > /etc/motd",
    ]));
    // diff: one step; its shell, pasted, prints what glassbox printed.
    let (out, k) = traced(&gb, "diff", &["diff", "nv-files"]);
    assert_eq!(k, kinds(&["changes_read"]), "{}", stderr(&out));
    let printed = ok(&out);
    assert!(
        printed.contains("D /bin/vi\n") && printed.contains("A /tmp/d/e/x\n"),
        "{printed}"
    );
    assert_eq!(paste(&gb, "diff", "changes_read"), printed);

    // logs of a foreground run: the step names the log (there is none).
    let (out, k) = traced(&gb, "logs", &["logs", "nv-files"]);
    ok(&out);
    assert_eq!(k, kinds(&["log_read"]), "{}", stderr(&out));
    // logs of a detached one: the shell reads the same text out of the json-file.
    ok(&gb.run(&[
        "run",
        "-d",
        "--name",
        "nv-log",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two",
    ]));
    eventually(10, "nv-log exited", || {
        stdout(&gb.run(&["inspect", "-f", "{{.State.Status}}", "nv-log"])).trim() == "exited"
    });
    let (out, k) = traced(&gb, "logs_d", &["logs", "nv-log"]);
    assert_eq!(k, kinds(&["log_read"]));
    assert_eq!(ok(&out), "one\ntwo\n");
    assert_eq!(paste(&gb, "logs_d", "log_read"), "one\ntwo\n");

    // attach: the connection to the monitor's socket.
    ok(&gb.run(&[
        "run",
        "-d",
        "--name",
        "nv-att",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo bye",
    ]));
    let (out, k) = traced(&gb, "attach", &["attach", "--no-stdin", "nv-att"]);
    assert_eq!(k, kinds(&["attach_connect"]), "{}", stderr(&out));
    assert!(stdout(&out).contains("bye"), "{}", stderr(&out));
    assert!(stderr(&out).contains("attach.sock"), "{}", stderr(&out));

    // tag: the narrated jq program makes the same index.json.
    let before = std::fs::read(gb.root().join("index.json")).unwrap();
    let (out, k) = traced(&gb, "tag", &["tag", "busybox", "nv-mine:1"]);
    ok(&out);
    assert_eq!(k, kinds(&["image_tag"]));
    let by_glassbox = index_json(&gb);
    std::fs::write(gb.root().join("index.json"), &before).unwrap();
    paste(&gb, "tag", "image_tag");
    assert_eq!(index_json(&gb), by_glassbox);

    // rmi of one of two names: an untag, the same with jq.
    let before = std::fs::read(gb.root().join("index.json")).unwrap();
    let (out, k) = traced(&gb, "untag", &["rmi", "nv-mine:1"]);
    assert_eq!(ok(&out), "Untagged: nv-mine:1\n");
    assert_eq!(k, kinds(&["image_untag"]));
    let by_glassbox = index_json(&gb);
    std::fs::write(gb.root().join("index.json"), &before).unwrap();
    paste(&gb, "untag", "image_untag");
    assert_eq!(index_json(&gb), by_glassbox);

    // rmi of an image no container uses: out of the index, then its content.
    ok(&gb.run(&["rm", "nv-files", "nv-log", "nv-att"]));
    let (out, k) = traced(&gb, "rmi", &["rmi", "busybox"]);
    ok(&out);
    assert_eq!(
        k,
        kinds(&["image_remove", "content_remove"]),
        "{}",
        stderr(&out)
    );
    let blobs = std::fs::read_dir(gb.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "the content_remove step named every blob");
}

#[test]
fn diff_logs_tag_and_rmi_are_narrated_in_simulation_too() {
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    let sim = |args: &[&str]| {
        let mut a = vec!["--simulate"];
        a.extend_from_slice(args);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |name: &str, args: &[&str]| {
        let v = sim(args);
        let r: Vec<&str> = v.iter().map(String::as_str).collect();
        traced(&gb, name, &r)
    };
    ok(&run(
        "r",
        &[
            "run",
            "--name",
            "nv-s",
            "busybox",
            "sh",
            "-c",
            "echo hi; rm /bin/vi",
        ],
    )
    .0);
    let (out, k) = run("diff", &["diff", "nv-s"]);
    assert!(ok(&out).contains("D /bin/vi"));
    assert_eq!(k, kinds(&["changes_read"]));
    ok(&run(
        "d",
        &["run", "-d", "--name", "nv-sd", "busybox", "echo", "hi"],
    )
    .0);
    let (out, k) = run("logs", &["logs", "nv-sd"]);
    assert_eq!(ok(&out), "hi\n");
    assert_eq!(k, kinds(&["log_read"]));
    let (out, k) = run("tag", &["tag", "busybox", "nv-s:1"]);
    ok(&out);
    assert_eq!(k, kinds(&["image_tag"]));
    let (out, k) = run("zh", &["--lang", "zh", "rmi", "nv-s:1"]);
    ok(&out);
    assert_eq!(k, kinds(&["image_untag"]));
    assert!(stderr(&out).contains("去掉镜像的名字"), "{}", stderr(&out));
}
