//! `build` in simulation: the same flows as `build.rs`, on the simulated
//! host. Each RUN is a simulated container of the step's image (the run
//! engine's create + start on the simulated kernel), its simulated upper
//! layer becomes the layer; the images made live in the simulated store
//! only. The clock is pinned (tests/common), so ids and output repeat.

mod common;

use common::{build_context as context, ok, stderr, stdout, Gb};
use serde_json::Value;
use std::path::Path;

fn build(gb: &Gb, ctx: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let c = ctx.display().to_string();
    args.push(&c);
    gb.sim(&args)
}

/// Ids depend on the context files' times (a layer tar holds them): the
/// snapshots show their place, not their value.
fn ids_redacted(out: &str) -> String {
    regex::Regex::new(r"\b[0-9a-f]{12}\b")
        .unwrap()
        .replace_all(out, "[ID]")
        .into_owned()
}

fn image_inspect(gb: &Gb, name: &str) -> Value {
    let v: Value = serde_json::from_str(&ok(&gb.sim(&["image", "inspect", name]))).unwrap();
    v[0].clone()
}

/// The simulated build left no container behind, and nothing in the real store.
fn assert_nothing_left(gb: &Gb) {
    assert!(
        gb.sim_containers().is_empty(),
        "simulated containers left: {:?}",
        gb.sim_containers()
    );
    assert!(
        !gb.root().join("index.json").exists() && !gb.root().join("containers").exists(),
        "the real store was touched"
    );
}

#[test]
fn from_scratch_add_a_binary_builds_but_the_simulator_cannot_run_it() {
    let gb = Gb::new();
    // A compiled program (an ELF header is enough: the simulator runs
    // busybox applets and shell scripts, never machine code).
    let ctx = context(&[(
        "Dockerfile",
        "FROM scratch\nADD hello /\nCMD [\"/hello\"]\n",
    )]);
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.extend_from_slice(&[0u8; 120]);
    std::fs::write(ctx.path().join("hello"), &elf).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            ctx.path().join("hello"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let out = ok(&build(&gb, ctx.path(), &["-t", "hello:v1"]));
    insta::assert_snapshot!("sim_build_scratch", ids_redacted(&out));
    let img = image_inspect(&gb, "hello:v1");
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let history = ok(&gb.sim(&[
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
        rows[1].starts_with("/bin/sh -c #(nop) ADD file:"),
        "{history}"
    );
    assert_eq!(
        ok(&gb.sim(&["images", "--format", "{{.Repository}}:{{.Tag}}"])),
        "hello:v1\n"
    );
    // Running it: the simulator says it cannot run a compiled program
    // (as docker's 126, "cannot invoke"), naming it; it never pretends.
    let o = gb.sim(&["run", "--rm", "hello:v1"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("'hello' cannot run in simulation"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
    // A RUN of such a program fails the build the same way, naming it.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nADD hello /hello\nRUN /hello\n",
    )
    .unwrap();
    let o = build(&gb, ctx.path(), &["-t", "runs-hello"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("'hello' cannot run in simulation"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("Dockerfile:3: "), "{}", stderr(&o));
    assert!(!ok(&gb.sim(&["images"])).contains("runs-hello"));
    assert_nothing_left(&gb);
}

const COWSAY: &str = "#!/bin/sh\nmsg=\"${*:-Hello from the box}\"\necho \"< $msg >\"\necho '        \\   ^__^'\necho '         \\  (oo)'\n";

#[test]
fn an_entrypoint_script_runs_with_and_without_arguments() {
    let gb = Gb::new();
    let ctx = context(&[
        ("cowsay.sh", COWSAY),
        (
            "Dockerfile",
            "FROM busybox\nCOPY cowsay.sh /usr/local/bin/cowsay\nRUN chmod 0755 /usr/local/bin/cowsay && ls /usr/local/bin\nENTRYPOINT [\"/usr/local/bin/cowsay\"]\n",
        ),
    ]);
    let out = ok(&build(&gb, ctx.path(), &["-t", "cow"]));
    insta::assert_snapshot!("sim_build_cowsay", ids_redacted(&out));
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("\ncowsay\n"), "RUN's own output: {out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    let plain = ok(&gb.sim(&["run", "--rm", "cow"]));
    assert!(plain.starts_with("< Hello from the box >\n"), "{plain}");
    let moo = ok(&gb.sim(&["run", "--rm", "cow", "Hello", "Moo"]));
    assert!(moo.starts_with("< Hello Moo >\n"), "{moo}");
    let img = image_inspect(&gb, "cow");
    assert_eq!(
        img["Config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/cowsay"])
    );
    assert!(img["Config"]["Cmd"].is_null(), "{}", img["Config"]);
    // The RUN is a simulated run: the same kernel steps, in the same order,
    // as `--simulate run`, then its layer committed.
    let kinds = |args: &[&str], name: &str| {
        let trace = gb.root().join(name);
        let mut a = vec!["--simulate", "--trace-json", trace.to_str().unwrap()];
        a.extend_from_slice(args);
        ok(&gb.run(&a));
        common::trace_kinds(&trace)
    };
    let run = kinds(&["run", "--rm", "busybox", "true"], "run.jsonl");
    let start = run.iter().position(|k| k == "cgroup_create").unwrap();
    let exec = run.iter().position(|k| k == "exec").unwrap();
    let plan = &run[start..=exec];
    let c = ctx.path().display().to_string();
    let built = kinds(&["build", "--no-cache", "-t", "cow", &c], "build.jsonl");
    assert!(
        built.windows(plan.len()).any(|w| w == plan),
        "run's plan {plan:?} not in the build's steps {built:?}"
    );
    let after = built.iter().position(|k| k == "exec").unwrap();
    for k in ["layer_tar", "blob_write", "image_add"] {
        assert!(built[after..].contains(&k.to_string()), "{k}: {built:?}");
    }
    assert_nothing_left(&gb);
    // A real `images` never sees the simulated image.
    if common::is_root() {
        let real = ok(&gb.run(&["images", "--format", "{{.Repository}}"]));
        assert!(!real.contains("cow"), "{real}");
    }
}

#[test]
fn a_web_app_image_has_its_port_command_and_workdir() {
    let gb = Gb::new();
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
    // WORKDIR made the missing directory (a layer), COPY put the site in it.
    assert_eq!(
        ok(&gb.sim(&["run", "--rm", "web:1", "cat", "index.html"])),
        "<h1>hello from flask-ish</h1>\n"
    );
    assert_eq!(ok(&gb.sim(&["run", "--rm", "web:1", "pwd"])), "/srv/app\n");
    assert_nothing_left(&gb);
}

#[test]
fn a_rebuild_is_all_cache_and_a_changed_file_rebuilds_from_its_step() {
    let gb = Gb::new();
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
    insta::assert_snapshot!("sim_build_all_cached", ids_redacted(&again));
    assert_eq!(again.matches(" ---> Using cache").count(), 5, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert!(
        again.contains(&format!("Successfully built {id1}")),
        "{again}"
    );
    std::fs::write(ctx.path().join("app.txt"), "version 2\n").unwrap();
    let changed = ok(&build(&gb, ctx.path(), &["-t", "cached"]));
    let steps: Vec<&str> = changed.split("Step ").skip(1).collect();
    assert_eq!(steps.len(), 6, "{changed}");
    for (i, s) in steps.iter().enumerate() {
        let cached = s.contains("Using cache");
        assert_eq!(cached, (1..=2).contains(&i), "step {}: {s}", i + 1);
    }
    assert_eq!(ok(&gb.sim(&["run", "--rm", "cached"])), "version 2\n");
    let fresh = ok(&build(&gb, ctx.path(), &["--no-cache", "-t", "cached"]));
    assert_eq!(fresh.matches("Using cache").count(), 0, "{fresh}");
    let quiet = ok(&build(&gb, ctx.path(), &["-q"]));
    assert!(
        quiet.starts_with("sha256:") && quiet.lines().count() == 1,
        "{quiet}"
    );
    assert_nothing_left(&gb);
}

#[test]
fn a_multi_stage_build_keeps_only_the_copied_artefact() {
    let gb = Gb::new();
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
    let hex = layers[0].as_str().unwrap().trim_start_matches("sha256:");
    let blob = std::fs::File::open(gb.sim_root().join("blobs/sha256").join(hex)).unwrap();
    let mut names = Vec::new();
    let mut content = String::new();
    for e in tar::Archive::new(blob).entries().unwrap() {
        let mut e = e.unwrap();
        names.push(e.path().unwrap().display().to_string());
        std::io::Read::read_to_string(&mut e, &mut content).unwrap();
    }
    assert_eq!(names, ["result.txt"]);
    assert_eq!(content, "built\n");
    let images = ok(&gb.sim(&["images", "--format", "{{.Repository}}"]));
    assert_eq!(
        images.lines().filter(|l| *l == "<none>").count(),
        0,
        "{images}"
    );
    assert_nothing_left(&gb);
}

#[test]
fn a_failing_step_names_its_line_and_leaves_no_image_or_container() {
    let gb = Gb::new();
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
        stderr(&o).contains(
            "Dockerfile:3: The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3"
        ),
        "{}",
        stderr(&o)
    );
    let after = ok(&gb.sim(&["images", "--format", "{{.Repository}}"]));
    assert!(
        !after.contains("bad") && !after.contains("<none>"),
        "{after}"
    );
    assert_nothing_left(&gb);
}

#[test]
fn sources_outside_the_context_are_refused() {
    let gb = Gb::new();
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret"), "host secret").unwrap();
    let ctx_dir = outer.path().join("ctx");
    std::fs::create_dir(&ctx_dir).unwrap();
    std::os::unix::fs::symlink("../secret", ctx_dir.join("link")).unwrap();
    for (source, why) in [("../secret", "climbs above"), ("link", "symlink")] {
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
    // ADD of a URL: the simulated host reaches no network.
    std::fs::write(
        ctx_dir.join("Dockerfile"),
        "FROM busybox\nADD http://127.0.0.1:9/file.txt /\n",
    )
    .unwrap();
    let o = build(&gb, &ctx_dir, &[]);
    assert!(stderr(&o).contains("is not simulated"), "{}", stderr(&o));
    assert_nothing_left(&gb);
}

#[test]
fn heredocs_in_run_and_copy() {
    let gb = Gb::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nENV WHO=world\nRUN <<EOF\necho one > /one\necho \"two $WHO\" > /two\nEOF\nCOPY <<EOF /greeting\nhello $WHO\nEOF\nCOPY <<'EOF' /etc/raw/\nhello $WHO\nEOF\nRUN cat > /three <<A && cat > /four <<-B\nthree\nA\n\tfour\n\tB\nCMD [\"cat\", \"/one\", \"/two\", \"/greeting\", \"/etc/raw/EOF\", \"/three\", \"/four\"]\n",
    )]);
    let out = ok(&build(&gb, ctx.path(), &["-t", "here"]));
    assert!(out.contains("Step 3/7 : RUN <<EOF"), "{out}");
    assert_eq!(
        ok(&gb.sim(&["run", "--rm", "here"])),
        "one\ntwo world\nhello world\nhello $WHO\nthree\nfour\n"
    );
    // A script for its own interpreter (#!) runs as a file, as BuildKit's
    // /dev/pipes/NAME, and is not left in the layer.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN <<EOF\n#!/bin/sh\necho \"ran $0\" > /ran\nEOF\nCMD [\"sh\", \"-c\", \"cat /ran; ls /dev/pipes 2>&1; true\"]\n",
    )
    .unwrap();
    let out = ok(&build(&gb, ctx.path(), &["-t", "shebang"]));
    assert!(out.contains("Step 2/3 : RUN <<EOF"), "{out}");
    let ran = ok(&gb.sim(&["run", "--rm", "shebang"]));
    assert!(ran.starts_with("ran /dev/pipes/EOF\n"), "{ran}");
    assert!(ran.contains("No such file or directory"), "{ran}");
    assert_nothing_left(&gb);
}

/// The `Build Cache` row of `system df`: (TOTAL, ACTIVE, SIZE, RECLAIMABLE).
fn df_build_cache(gb: &Gb) -> Vec<String> {
    let df = ok(&gb.sim(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
    ]));
    let row = df
        .lines()
        .find(|l| l.starts_with("Build Cache|"))
        .unwrap()
        .to_string();
    row.split('|').skip(1).map(String::from).collect()
}

#[test]
fn the_build_cache_shows_in_df_and_builder_prune_removes_it() {
    let gb = Gb::new();
    let ctx = context(&[
        ("app.txt", "v1\n"),
        (
            "Dockerfile",
            "FROM busybox\nRUN echo made > /made\nCOPY app.txt /app.txt\nCMD [\"cat\", \"/app.txt\"]\n",
        ),
    ]);
    assert_eq!(df_build_cache(&gb)[0], "0");
    ok(&build(&gb, ctx.path(), &["-t", "cachedf"]));
    let row = df_build_cache(&gb);
    assert_eq!(row[0], "3", "{row:?}");
    assert_eq!(row[1], "0", "no build runs: {row:?}");
    assert_ne!(row[2], "0B", "the RUN and COPY layers: {row:?}");
    // The store's garbage sweep (`image prune`) leaves the build cache: a
    // rebuild is all cache. (Not yet with -a: rmi's own clean-up of a
    // removed image still deletes blobs a cache entry names.)
    ok(&gb.sim(&["image", "prune", "-f"]));
    let again = ok(&build(&gb, ctx.path(), &["-t", "cachedf"]));
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    // Without -a: the steps' own entries go, the result's (shared) stays.
    let pruned = ok(&gb.sim(&["builder", "prune", "-f"]));
    assert!(
        pruned.starts_with("Deleted build cache objects:\n"),
        "{pruned}"
    );
    assert_eq!(
        pruned.lines().filter(|l| l.len() == 25).count(),
        2,
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space: "), "{pruned}");
    assert_eq!(df_build_cache(&gb)[0], "1");
    // The image still runs; -a removes the rest, and the next build makes every step.
    assert_eq!(ok(&gb.sim(&["run", "--rm", "cachedf"])), "v1\n");
    // (-a also drops entries whose manifest the last sweep removed.)
    let all = ok(&gb.sim(&["builder", "prune", "-a", "-f"]));
    assert!(all.lines().filter(|l| l.len() == 25).count() >= 1, "{all}");
    assert_eq!(df_build_cache(&gb), ["0", "0", "0B", "0B"]);
    let fresh = ok(&build(&gb, ctx.path(), &["-t", "cachedf"]));
    assert_eq!(fresh.matches("Using cache").count(), 0, "{fresh}");
    // `system prune -a` removes the build cache too.
    let o = ok(&gb.sim(&["system", "prune", "-a", "-f"]));
    assert!(o.contains("Deleted build cache objects:"), "{o}");
    assert_eq!(df_build_cache(&gb)[0], "0");
    // Asked without -f, anything but y keeps it.
    ok(&build(&gb, ctx.path(), &["-t", "cachedf"]));
    let kept = ok(&gb.sim(&["builder", "prune"]));
    assert!(
        kept.starts_with("WARNING! This will remove all dangling build cache."),
        "{kept}"
    );
    assert_eq!(df_build_cache(&gb)[0], "3");
    assert_nothing_left(&gb);
}
