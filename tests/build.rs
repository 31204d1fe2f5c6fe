//! `build`, for real: each RUN a confined container of the run engine,
//! each filesystem change a layer, the classic builder's output and cache,
//! multi-stage builds, the context's limits, and images other tools read.
//! These need root; each test has its own storage root and context
//! directory, and checks that no container, cgroup or mount is left.

mod common;

use common::{build_context as context, ok, stderr, stdout, Cleanup, Gb};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn build(gb: &Gb, ctx: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let c = ctx.display().to_string();
    args.push(&c);
    gb.run(&args)
}

fn image_inspect(gb: &Gb, name: &str) -> Value {
    let v: Value = serde_json::from_str(&ok(&gb.run(&["image", "inspect", name]))).unwrap();
    v[0].clone()
}

/// Nothing of the builds is left behind: no container record, no cgroup,
/// no mount under the store.
fn assert_nothing_left(gb: &Gb) {
    assert!(
        gb.containers().is_empty(),
        "containers left: {:?}",
        gb.containers()
    );
    assert!(
        common::host_mounts_under(gb.root()).is_empty(),
        "mounts left: {:?}",
        common::host_mounts_under(gb.root())
    );
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let g = h.path().join("glassbox");
        for c in std::fs::read_dir(&g).into_iter().flatten().flatten() {
            let id = c.file_name().to_string_lossy().to_string();
            let ours = std::fs::read_to_string(gb.root().join("events.jsonl"))
                .unwrap_or_default()
                .contains(&id);
            assert!(!ours, "cgroup left: {}", c.path().display());
        }
    }
}

/// A static hello binary, compiled offline with gcc -static.
fn hello_binary(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"Hello from glassbox!\");return 0;}\n",
    )
    .unwrap();
    let out = dir.join("hello");
    let o = std::process::Command::new("gcc")
        .args(["-static", "-Os", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .ok()?;
    std::fs::remove_file(&src).unwrap();
    o.status.success().then_some(out)
}

#[test]
fn from_scratch_add_a_static_binary_and_run_it() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[(
        "Dockerfile",
        "FROM scratch\nADD hello /\nCMD [\"/hello\"]\n",
    )]);
    if hello_binary(ctx.path()).is_none() {
        eprintln!("skipped: gcc -static could not build the hello binary");
        return;
    }
    let out = ok(&build(&gb, ctx.path(), &["-t", "hello:v1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Step 1/3 : FROM scratch", "{out}");
    assert_eq!(lines[1], "Step 2/3 : ADD hello /", "{out}");
    assert!(
        lines[2].starts_with(" ---> ") && lines[2].len() == 18,
        "{out}"
    );
    assert_eq!(lines[3], "Step 3/3 : CMD [\"/hello\"]", "{out}");
    let id = lines[4].trim_start_matches(" ---> ");
    assert_eq!(lines[5], format!("Successfully built {id}"), "{out}");
    assert_eq!(lines[6], "Successfully tagged hello:v1", "{out}");
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "hello:v1"])),
        "Hello from glassbox!\n"
    );
    let img = image_inspect(&gb, "hello:v1");
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let history = ok(&gb.run(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "hello:v1",
    ]));
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(rows[0], "/bin/sh -c #(nop)  CMD [\"/hello\"]|0B");
    assert!(
        rows[1].starts_with("/bin/sh -c #(nop) ADD file:") && rows[1].contains(" in /"),
        "{history}"
    );
    assert!(
        !rows[1].ends_with("|0B"),
        "the layer has the binary: {history}"
    );
    // Only the final image is named; the intermediate one is not listed.
    let images = ok(&gb.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(images, "hello:v1\n");
    assert_nothing_left(&gb);
}

const COWSAY: &str = "#!/bin/sh\nmsg=\"${*:-Hello from the box}\"\necho \"< $msg >\"\necho '        \\   ^__^'\necho '         \\  (oo)'\n";

#[test]
fn an_entrypoint_script_runs_with_and_without_arguments() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[
        ("cowsay.sh", COWSAY),
        (
            "Dockerfile",
            "FROM busybox\nCOPY cowsay.sh /usr/local/bin/cowsay\nRUN chmod 0755 /usr/local/bin/cowsay && ls /usr/local/bin\nENTRYPOINT [\"/usr/local/bin/cowsay\"]\n",
        ),
    ]);
    let out = ok(&build(&gb, ctx.path(), &["-t", "cow"]));
    // The RUN step is a container: its output and its short id shown.
    assert!(out.contains("Step 3/4 : RUN chmod 0755"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("\ncowsay\n"), "RUN's own output: {out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    let plain = ok(&gb.run(&["run", "--rm", "cow"]));
    assert!(plain.starts_with("< Hello from the box >\n"), "{plain}");
    let moo = ok(&gb.run(&["run", "--rm", "cow", "Hello", "Moo"]));
    assert!(moo.starts_with("< Hello Moo >\n"), "{moo}");
    let img = image_inspect(&gb, "cow");
    assert_eq!(
        img["Config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/cowsay"])
    );
    assert!(img["Config"]["Cmd"].is_null(), "{}", img["Config"]);
    assert_nothing_left(&gb);
}

#[test]
fn a_web_app_image_has_its_port_command_and_workdir() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[
        ("site/index.html", "<h1>hello from flask-ish</h1>\n"),
        (
            "Dockerfile",
            "FROM busybox\nENV PORT=8000 \\\n    APP=/srv/app\nWORKDIR $APP\nCOPY site/ .\nEXPOSE $PORT\nLABEL org.example.app=web\nCMD [\"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/srv/app\"]\n",
        ),
    ]);
    ok(&build(
        &gb,
        ctx.path(),
        &["-t", "web:1", "--label", "built.by=test"],
    ));
    let img = image_inspect(&gb, "web:1");
    let cfg = &img["Config"];
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"8000/tcp": {}}));
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["httpd", "-f", "-p", "8000", "-h", "/srv/app"])
    );
    assert_eq!(cfg["WorkingDir"], "/srv/app");
    assert_eq!(cfg["Labels"]["org.example.app"], "web");
    assert_eq!(cfg["Labels"]["built.by"], "test");
    assert!(cfg["Env"]
        .as_array()
        .unwrap()
        .contains(&Value::from("APP=/srv/app")));
    // WORKDIR made the missing directory; COPY put the site in it.
    let page = ok(&gb.run(&["run", "--rm", "web:1", "cat", "index.html"]));
    assert_eq!(page, "<h1>hello from flask-ish</h1>\n");
    assert_nothing_left(&gb);
}

#[test]
fn a_rebuild_is_all_cache_and_a_changed_file_rebuilds_from_its_step() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[
        ("app.txt", "version 1\n"),
        ("other.txt", "unchanged\n"),
        (
            "Dockerfile",
            "FROM busybox\nRUN echo base > /base\nCOPY other.txt /other.txt\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy\nCMD [\"cat\", \"/copy\"]\n",
        ),
    ]);
    let first = ok(&build(&gb, ctx.path(), &["-t", "cached"]));
    assert_eq!(first.matches("Using cache").count(), 0, "{first}");
    let id1 = first
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap()
        .to_string();
    let again = ok(&build(&gb, ctx.path(), &["-t", "cached"]));
    assert_eq!(again.matches(" ---> Using cache").count(), 5, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert!(
        again.contains(&format!("Successfully built {id1}")),
        "{again}"
    );
    // Touching a file without changing it keeps the cache (contents count, not times).
    let f = ctx.path().join("other.txt");
    std::fs::write(&f, "unchanged\n").unwrap();
    let touched = ok(&build(&gb, ctx.path(), &["-t", "cached"]));
    assert_eq!(touched.matches("Using cache").count(), 5, "{touched}");
    // A change to app.txt: steps 2-3 from the cache, 4-6 made again.
    std::fs::write(ctx.path().join("app.txt"), "version 2\n").unwrap();
    let changed = ok(&build(&gb, ctx.path(), &["-t", "cached"]));
    let steps: Vec<&str> = changed.split("Step ").skip(1).collect();
    assert_eq!(steps.len(), 6, "{changed}");
    for (i, s) in steps.iter().enumerate() {
        let cached = s.contains("Using cache");
        assert_eq!(cached, (1..=2).contains(&i), "step {}: {s}", i + 1);
    }
    assert_eq!(ok(&gb.run(&["run", "--rm", "cached"])), "version 2\n");
    // --no-cache makes every step again.
    let fresh = ok(&build(&gb, ctx.path(), &["--no-cache", "-t", "cached"]));
    assert_eq!(fresh.matches("Using cache").count(), 0, "{fresh}");
    // -q: only the id.
    let quiet = ok(&build(&gb, ctx.path(), &["-q"]));
    assert!(
        quiet.starts_with("sha256:") && quiet.lines().count() == 1,
        "{quiet}"
    );
    assert_nothing_left(&gb);
}

#[test]
fn a_multi_stage_build_keeps_only_the_copied_artefact() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[(
        "Dockerfile",
        "ARG GREETING=artefact\nFROM busybox AS builder\nARG GREETING\nRUN mkdir /out && echo \"$GREETING\" > /out/result.txt && echo junk > /junk\nFROM scratch\nCOPY --from=builder /out/result.txt /result.txt\n",
    )]);
    let out = ok(&build(
        &gb,
        ctx.path(),
        &["-t", "multi", "--build-arg", "GREETING=built"],
    ));
    assert!(out.contains("Step 4/5 : FROM scratch"), "{out}");
    let img = image_inspect(&gb, "multi");
    let layers = img["RootFS"]["Layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 1, "{img}");
    // The one layer holds only the artefact.
    let hex = layers[0].as_str().unwrap().trim_start_matches("sha256:");
    let blob = std::fs::File::open(gb.root().join("blobs/sha256").join(hex)).unwrap();
    let mut names = Vec::new();
    let mut content = String::new();
    for e in tar::Archive::new(blob).entries().unwrap() {
        let mut e = e.unwrap();
        names.push(e.path().unwrap().display().to_string());
        std::io::Read::read_to_string(&mut e, &mut content).unwrap();
    }
    assert_eq!(names, ["result.txt"]);
    assert_eq!(content, "built\n");
    // The builder stage is not an image of its own.
    let images = ok(&gb.run(&["images", "--format", "{{.Repository}}"]));
    assert_eq!(
        images.lines().filter(|l| *l == "<none>").count(),
        0,
        "{images}"
    );
    assert_nothing_left(&gb);
}

#[test]
fn a_failing_step_names_its_line_and_leaves_no_image_or_container() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let before = ok(&gb.run(&["images", "-q"]));
    let bad = context(&[("Dockerfile", "FROM busybox\nRUN true\nFROBNICATE x\n")]);
    let o = build(&gb, bad.path(), &["-t", "bad"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("line 3: unknown instruction: FROBNICATE"),
        "{}",
        stderr(&o)
    );
    let failing = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo made > /made\nRUN echo failing; exit 3\nCMD [\"sh\"]\n",
    )]);
    let o = build(&gb, failing.path(), &["-t", "bad"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("failing\n"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("Dockerfile:3: The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3"),
        "{}",
        stderr(&o)
    );
    let after = ok(&gb.run(&["images", "--format", "{{.Repository}}"]));
    assert!(
        !after.contains("bad") && !after.contains("<none>"),
        "{after}"
    );
    // (busybox was imported by the first build.)
    assert!(before.is_empty() || after.lines().count() == before.lines().count());
    assert_nothing_left(&gb);
}

#[test]
fn sources_outside_the_context_are_refused() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret"), "host secret").unwrap();
    let ctx_dir = outer.path().join("ctx");
    std::fs::create_dir(&ctx_dir).unwrap();
    std::os::unix::fs::symlink("../secret", ctx_dir.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc", ctx_dir.join("etc")).unwrap();
    for (source, why) in [
        ("../secret", "climbs above"),
        ("link", "symlink"),
        ("etc/passwd", "symlink"),
    ] {
        std::fs::write(
            ctx_dir.join("Dockerfile"),
            format!("FROM busybox\nCOPY {source} /x\n"),
        )
        .unwrap();
        let o = build(&gb, &ctx_dir, &[]);
        assert!(!o.status.success(), "{source}");
        let err = stderr(&o);
        assert!(
            err.contains("Dockerfile:2: forbidden path outside the build context"),
            "{source}: {err}"
        );
        assert!(err.contains(why), "{source}: {err}");
    }
    // .dockerignore: an excluded file is not found, and not copied with its directory.
    std::fs::remove_file(ctx_dir.join("link")).unwrap();
    std::fs::remove_file(ctx_dir.join("etc")).unwrap();
    std::fs::create_dir(ctx_dir.join("d")).unwrap();
    std::fs::write(ctx_dir.join("d/keep"), "k").unwrap();
    std::fs::write(ctx_dir.join("d/drop.log"), "l").unwrap();
    std::fs::write(ctx_dir.join(".dockerignore"), "**/*.log\n").unwrap();
    std::fs::write(
        ctx_dir.join("Dockerfile"),
        "FROM busybox\nCOPY d /d\nCMD [\"ls\", \"/d\"]\n",
    )
    .unwrap();
    ok(&build(&gb, &ctx_dir, &["-t", "ign"]));
    assert_eq!(ok(&gb.run(&["run", "--rm", "ign"])), "keep\n");
    std::fs::write(
        ctx_dir.join("Dockerfile"),
        "FROM busybox\nCOPY d/drop.log /\n",
    )
    .unwrap();
    let o = build(&gb, &ctx_dir, &[]);
    assert!(
        stderr(&o).contains("excluded by .dockerignore"),
        "{}",
        stderr(&o)
    );
    assert_nothing_left(&gb);
}

#[test]
fn add_unpacks_a_local_tar_and_refuses_a_download_offline() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nADD files.tar /opt/\nRUN cat /opt/a/one /opt/two\n",
    )]);
    std::fs::write(
        ctx.path().join("files.tar"),
        common::tar_of(&[("a/one", b"first\n"), ("two", b"second\n")]),
    )
    .unwrap();
    let out = ok(&build(&gb, ctx.path(), &["-t", "added"]));
    assert!(out.contains("first\nsecond\n"), "{out}");
    // A URL nobody answers on: a clear error, no image.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nADD http://127.0.0.1:9/file.txt /\n",
    )
    .unwrap();
    let o = build(&gb, ctx.path(), &["-t", "url"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("Dockerfile:2: ADD failed: cannot download http://127.0.0.1:9/file.txt"),
        "{}",
        stderr(&o)
    );
    assert!(!ok(&gb.run(&["images"])).contains("url"));
    assert_nothing_left(&gb);
}

#[test]
fn a_dockerfile_on_stdin_onbuild_triggers_and_the_images_user() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let parent = "FROM busybox\nRUN echo 'app:x:1234:1234:app:/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group && mkdir -p /home/app && chown app /home/app\nONBUILD RUN echo triggered > /home/app/trigger\nUSER app\n";
    let o = gb
        .cmd()
        .args(["build", "-t", "parent", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(parent.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    ok(&o);
    // The image's USER: run as app (uid 1234) unless -u says otherwise.
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "parent", "id", "-u"])),
        "1234\n"
    );
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "parent", "sh", "-c", "echo $HOME"])),
        "/home/app\n"
    );
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "-u", "0", "parent", "id", "-u"])),
        "0\n"
    );
    let o = gb.run(&["run", "--rm", "-u", "nobodyx", "parent", "true"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unable to find user nobodyx"),
        "{}",
        stderr(&o)
    );
    // A child image runs the trigger, as the parent's user.
    let ctx = context(&[("Dockerfile", "FROM parent\nRUN ls -ln /home/app/trigger\n")]);
    let out = ok(&build(&gb, ctx.path(), &["-t", "child"]));
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert!(out.contains(" 1234 "), "the trigger's file is app's: {out}");
    assert!(image_inspect(&gb, "child")["Config"]["OnBuild"].is_null());
    assert_nothing_left(&gb);
}

#[test]
fn skopeo_copies_a_built_image_out_of_the_store() {
    require_root!();
    let here = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !here {
        eprintln!("skipped: skopeo is not installed (scripts/test installs it)");
        return;
    }
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[
        ("greeting", "hi\n"),
        (
            "Dockerfile",
            "FROM busybox\nCOPY greeting /greeting\nRUN rm /bin/vi\nCMD [\"cat\", \"/greeting\"]\n",
        ),
    ]);
    ok(&build(&gb, ctx.path(), &["-t", "copyme:v1"]));
    let dest = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("skopeo")
        .args([
            "copy",
            &format!("oci:{}:docker.io/library/copyme:v1", gb.root().display()),
        ])
        .arg(format!("dir:{}", dest.path().display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dest.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        3,
        "{manifest}"
    );
    // The RUN layer holds the whiteout of /bin/vi.
    let run_layer = manifest["layers"][2]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let names: Vec<String> =
        tar::Archive::new(std::fs::File::open(dest.path().join(run_layer)).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
    assert!(names.contains(&"bin/.wh.vi".to_string()), "{names:?}");
    assert_nothing_left(&gb);
}

#[test]
fn two_builds_of_the_same_dockerfile_at_once_both_succeed() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[
        ("app.txt", "parallel\n"),
        (
            "Dockerfile",
            "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nCOPY app.txt /app.txt\nRUN cat /one /two /app.txt > /all\nCMD [\"cat\", \"/all\"]\n",
        ),
    ]);
    // busybox imported first, so both builds start from the same base at once.
    ok(&gb.run(&["run", "--rm", "busybox", "true"]));
    for round in 0..2 {
        let spawn = |tag: &str| {
            gb.cmd()
                .args(["build", "-t", tag])
                .arg(ctx.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn("par-a");
        let b = spawn("par-b");
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(
            a.status.success(),
            "round {round}, a: {}{}",
            stdout(&a),
            stderr(&a)
        );
        assert!(
            b.status.success(),
            "round {round}, b: {}{}",
            stdout(&b),
            stderr(&b)
        );
        for tag in ["par-a", "par-b"] {
            assert_eq!(
                ok(&gb.run(&["run", "--rm", tag])),
                "one\ntwo\nparallel\n",
                "round {round}"
            );
        }
        // Only the results are named: no intermediate is left in the index.
        // (In round 1 both builds find the same cached result, so a tag
        // that named the other result of round 0 moves and leaves it
        // dangling, as docker does: at most one `<none>`.)
        let images = ok(&gb.run(&["images", "--format", "{{.Repository}}"]));
        let dangling = images.lines().filter(|l| *l == "<none>").count();
        assert!(dangling <= round, "round {round}: {images}");
    }
    // The cache is consistent: a third build is all cache hits.
    let again = ok(&build(&gb, ctx.path(), &["-t", "par-c"]));
    assert_eq!(again.matches(" ---> Using cache").count(), 5, "{again}");
    assert_nothing_left(&gb);
}

#[test]
fn heredocs_in_run_and_copy() {
    require_root!();
    let gb = Gb::new();
    let _c = Cleanup(&gb);
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nENV WHO=world\nRUN <<EOF\necho one > /one\necho \"two $WHO\" > /two\nEOF\nCOPY <<EOF /greeting\nhello $WHO\nEOF\nCOPY <<'EOF' /etc/raw/\nhello $WHO\nEOF\nRUN cat > /three <<A && cat > /four <<-B\nthree\nA\n\tfour\n\tB\nCMD [\"cat\", \"/one\", \"/two\", \"/greeting\", \"/etc/raw/EOF\", \"/three\", \"/four\"]\n",
    )]);
    let out = ok(&build(&gb, ctx.path(), &["-t", "here"]));
    assert!(out.contains("Step 3/7 : RUN <<EOF"), "{out}");
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "here"])),
        "one\ntwo world\nhello world\nhello $WHO\nthree\nfour\n"
    );
    // The COPY heredoc is a 0644 file owned by root.
    assert_eq!(
        ok(&gb.run(&["run", "--rm", "here", "stat", "-c", "%a %u", "/greeting"])),
        "644 0\n"
    );
    // The same heredoc again: cache hits.
    let again = ok(&build(&gb, ctx.path(), &["-t", "here"]));
    assert_eq!(again.matches(" ---> Using cache").count(), 6, "{again}");
    // A script for its own interpreter (#!) runs as a file, as BuildKit's
    // /dev/pipes/NAME, and is not left in the layer.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN <<EOF\n#!/bin/sh\necho \"ran $0\" > /ran\nEOF\nCMD [\"sh\", \"-c\", \"cat /ran; ls /dev/pipes 2>&1; true\"]\n",
    )
    .unwrap();
    let out = ok(&build(&gb, ctx.path(), &["-t", "shebang"]));
    assert!(out.contains("Step 2/3 : RUN <<EOF"), "{out}");
    let ran = ok(&gb.run(&["run", "--rm", "shebang"]));
    assert!(ran.starts_with("ran /dev/pipes/EOF\n"), "{ran}");
    assert!(ran.contains("No such file or directory"), "{ran}");
    assert_nothing_left(&gb);
}
