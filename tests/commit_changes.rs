//! `commit` as docker does it: a running container is frozen while its
//! upper dir is read (`--pause=false` skips it), the message is the image's
//! `Comment`, and `--change` takes every instruction docker accepts there
//! (read with the Dockerfile parser, expanded with the image's ENV).
//! Real containers: these need root; each test has its own storage root and
//! removes its containers (by PID, through `rm -f`) even when it fails.

mod common;

use common::{ok, stderr, trace_kinds, Cleanup, Gb};
use serde_json::{json, Value};

fn image_inspect(gb: &Gb, name: &str) -> Value {
    let out = ok(&gb.run(&["image", "inspect", name]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

fn state(gb: &Gb, name: &str) -> String {
    ok(&gb.run(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.Paused}}",
        name,
    ]))
    .trim()
    .to_string()
}

#[test]
fn commit_freezes_a_running_container_while_it_reads_the_upper_dir() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "echo made > /made.txt; while true; do sleep 1; done",
    ]));
    common::eventually(10, "the file to be written", || {
        gb.root()
            .join("containers")
            .read_dir()
            .map_or(false, |mut d| {
                d.any(|e| e.unwrap().path().join("upper/made.txt").exists())
            })
    });
    let trace = gb.root().join("commit.jsonl");
    let id = ok(&gb.run(&[
        "--trace-json",
        trace.to_str().unwrap(),
        "commit",
        "-m",
        "saved while running",
        "busy",
        "paused:v1",
    ]));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let kinds = trace_kinds(&trace);
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    let last_freeze = kinds.iter().rposition(|x| x == "freeze").unwrap();
    assert!(pos("freeze") < pos("layer_tar"), "{kinds:?}");
    assert!(pos("layer_tar") < last_freeze, "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| *k == "freeze").count(),
        2,
        "{kinds:?}"
    );
    // Thawed again, and its record says so.
    assert_eq!(state(&gb, "busy"), "running false");
    let until = chrono::Utc::now().to_rfc3339();
    let events = ok(&gb.run(&["events", "--since", "0", "--until", &until]));
    for action in ["pause", "unpause"] {
        assert!(events.contains(&format!("container {action} ")), "{events}");
    }

    // The message is the image's Comment (not the base's "Imported from -").
    let img = image_inspect(&gb, "paused:v1");
    assert_eq!(img["Comment"], "saved while running");
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "paused:v1", "cat", "/made.txt"])),
        "made\n"
    );

    // --pause=false: no freeze; no message: an empty Comment.
    std::fs::remove_file(&trace).unwrap();
    ok(&gb.run(&[
        "--trace-json",
        trace.to_str().unwrap(),
        "commit",
        "--pause=false",
        "busy",
        "unpaused:v1",
    ]));
    let kinds = trace_kinds(&trace);
    assert!(kinds.contains(&"layer_tar".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"freeze".to_string()), "{kinds:?}");
    assert_eq!(image_inspect(&gb, "unpaused:v1")["Comment"], "");
    assert_eq!(state(&gb, "busy"), "running false");

    // A paused container stays paused (commit does not thaw what it did not freeze).
    ok(&gb.run(&["pause", "busy"]));
    ok(&gb.run(&["commit", "busy", "frozen:v1"]));
    assert_eq!(state(&gb, "busy"), "paused true");
    ok(&gb.run(&["unpause", "busy"]));
}

#[test]
fn commit_changes_take_every_instruction_docker_accepts() {
    require_root!();
    let gb = Gb::new();
    let _cleanup = Cleanup(&gb);
    ok(&gb.run(&["run", "--name", "src", "busybox", "true"]));
    let changes = [
        "ENV PATH=$PATH:/extra GREETING=\"hello there\"",
        "LABEL org.example.name=demo \"with space\"=yes",
        "EXPOSE 8080 53/udp",
        "VOLUME [\"/data\"]",
        "ONBUILD RUN echo triggered",
        "STOPSIGNAL SIGINT",
        "HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q localhost || exit 1",
        "WORKDIR /tmp",
        "WORKDIR sub/..",
        "USER nobody",
        "ENTRYPOINT [\"sh\", \"-c\"]",
        "CMD [\"pwd; echo $GREETING; echo $PATH\"]",
    ];
    let mut args = vec!["commit"];
    for c in &changes {
        args.extend(["-c", c]);
    }
    args.extend(["src", "changed:v1"]);
    ok(&gb.run(&args));
    let cfg = image_inspect(&gb, "changed:v1")["Config"].clone();
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    let path = env.iter().find(|e| e.starts_with("PATH=")).unwrap();
    assert!(
        path.ends_with(":/extra") && path.len() > "PATH=:/extra".len(),
        "$PATH expanded from the image: {path}"
    );
    assert!(env.contains(&"GREETING=hello there".to_string()), "{env:?}");
    assert_eq!(
        cfg["Labels"],
        json!({"org.example.name": "demo", "with space": "yes"})
    );
    assert_eq!(cfg["ExposedPorts"], json!({"8080/tcp": {}, "53/udp": {}}));
    assert_eq!(cfg["Volumes"], json!({"/data": {}}));
    assert_eq!(cfg["OnBuild"], json!(["RUN echo triggered"]));
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(
        cfg["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "wget -q localhost || exit 1"], "Interval": 30_000_000_000u64, "Timeout": 3_000_000_000u64, "Retries": 2})
    );
    assert_eq!(cfg["WorkingDir"], "/tmp");
    assert_eq!(cfg["User"], "nobody");
    assert_eq!(cfg["Entrypoint"], json!(["sh", "-c"]));
    let out = ok(&gb.run(&["run", "--rm", "changed:v1"]));
    let lines: Vec<&str> = out.lines().collect();
    // (`run` does not apply an image's USER yet: only the config is checked.)
    assert_eq!(lines[..2], ["/tmp", "hello there"], "{out}");
    assert!(lines[2].ends_with(":/extra"), "{out}");

    // An ENTRYPOINT alone clears the CMD, as docker's does.
    ok(&gb.run(&["commit", "-c", "ENTRYPOINT [\"echo\"]", "src", "ep:v1"]));
    assert_eq!(image_inspect(&gb, "ep:v1")["Config"]["Cmd"], Value::Null);

    // What docker refuses is refused, naming it, and no image is made.
    let before = ok(&gb.run(&["images", "-q"]));
    for (change, says) in [
        ("RUN echo hi", "RUN is not a valid change command"),
        ("FROM busybox", "FROM is not a valid change command"),
        ("EXPOSE 80/xyz", "invalid proto: xyz"),
        ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("ENV ONLYNAME", "ENV must have two arguments"),
        ("COPY --chown=1 a b", "COPY is not a valid change command"),
    ] {
        let o = gb.run(&["commit", "-c", change, "src", "bad:v1"]);
        assert_eq!(o.status.code(), Some(125), "{change}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{change}: {}", stderr(&o));
    }
    assert_eq!(ok(&gb.run(&["images", "-q"])), before);

    // import -c takes the same instructions.
    let tar = gb.root().join("rootfs.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&tar).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hi.txt", &b"hi\n"[..]).unwrap();
        b.finish().unwrap();
    }
    ok(&gb.run(&[
        "import",
        "-c",
        "EXPOSE 80",
        "-c",
        "LABEL a=b",
        "-c",
        "CMD cat /hi.txt",
        tar.to_str().unwrap(),
        "imported:v1",
    ]));
    let img = image_inspect(&gb, "imported:v1");
    assert_eq!(img["Config"]["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(img["Config"]["Labels"], json!({"a": "b"}));
    assert_eq!(
        img["Config"]["Cmd"],
        json!(["/bin/sh", "-c", "cat /hi.txt"])
    );
    assert_eq!(
        img["Comment"],
        "Imported from ".to_string() + tar.to_str().unwrap()
    );
}
