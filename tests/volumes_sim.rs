//! Volumes in simulation: the same flows as `volumes_real.rs`, on the
//! simulated host. Volumes are directories of the simulated store
//! (`volumes/<name>/_data`), a bind of a host path `/p` is the store's
//! `host-fs/p`: nothing outside the store is touched.

mod common;

use common::{ok, stderr, Gb};

#[test]
fn simulated_volume_verbs_work_on_the_simulated_store() {
    let gb = Gb::new();
    assert_eq!(
        ok(&gb.sim(&["volume", "create", "--label", "k=v", "simvol"])),
        "simvol\n"
    );
    assert!(gb.sim_root().join("volumes/simvol/_data").is_dir());
    assert!(
        !gb.root().join("volumes").exists(),
        "the real store was touched"
    );
    insta::assert_snapshot!("sim_volume_ls", ok(&gb.sim(&["volume", "ls"])));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&gb.sim(&["volume", "inspect", "simvol"]))).unwrap();
    assert_eq!(v[0]["Labels"]["k"], "v");
    assert_eq!(
        v[0]["Mountpoint"],
        gb.sim_root()
            .join("volumes/simvol/_data")
            .display()
            .to_string()
    );
    assert_eq!(
        ok(&gb.sim(&["volume", "ls", "-q", "-f", "dangling=true"])),
        "simvol\n"
    );
    assert_eq!(ok(&gb.sim(&["volume", "rm", "simvol"])), "simvol\n");
    assert_eq!(ok(&gb.sim(&["volume", "ls", "-q"])), "");
    let missing = gb.sim(&["volume", "rm", "simvol"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing), "Error: No such volume: simvol\n");
}

/// A host path no other test uses (it must never appear on the real host).
fn host_dir(gb: &Gb, what: &str) -> String {
    format!(
        "/srv/glassbox-sim-{}-{what}",
        gb.root().file_name().unwrap().to_string_lossy()
    )
}

/// Where the simulated host keeps the host path `path`.
fn on_sim_host(gb: &Gb, path: &str) -> std::path::PathBuf {
    gb.sim_root()
        .join("host-fs")
        .join(path.trim_start_matches('/'))
}

#[test]
fn a_bind_round_trips_through_the_simulated_host_only() {
    let gb = Gb::new();
    let share = host_dir(&gb, "share");
    let v = format!("{share}:/share");
    let o = gb.sim(&["run", "--rm", "-v", &v, "busybox", "sh", "-c",
          "echo 'written inside' > /share/note.txt; cat /share/note.txt; grep ' /share ' /proc/self/mountinfo | cut -d' ' -f4-"],
    );
    let out = ok(&o).replace(&share, "[SHARE]");
    insta::assert_snapshot!("sim_bind_round_trip", out);
    assert_eq!(
        std::fs::read_to_string(on_sim_host(&gb, &share).join("note.txt")).unwrap(),
        "written inside\n"
    );
    assert!(
        !std::path::Path::new(&share).exists(),
        "the real host was touched"
    );
    // The host side changes; a new container sees it.
    std::fs::write(
        on_sim_host(&gb, &share).join("note.txt"),
        "changed on the host\n",
    )
    .unwrap();
    let o = gb.sim(&["run", "--rm", "-v", &v, "busybox", "cat", "/share/note.txt"]);
    assert_eq!(ok(&o), "changed on the host\n");
    // What went through the bind is not in the container's upper layer.
    let o = gb.sim(&[
        "run",
        "--name",
        "peek",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        "echo x > /share/y; echo z > /z",
    ]);
    ok(&o);
    let diff = ok(&gb.sim(&["diff", "peek"]));
    assert!(
        diff.contains("A /z") && !diff.contains("/share/y"),
        "{diff}"
    );
    let mounts = ok(&gb.sim(&["inspect", "--format", "{{json .Mounts}}", "peek"]));
    assert_eq!(
        mounts.trim().replace(&share, "[SHARE]"),
        r#"[{"Destination":"/share","Mode":"","Propagation":"rprivate","RW":true,"Source":"[SHARE]","Type":"bind"}]"#
    );
}

#[test]
fn a_read_only_bind_refuses_writes_with_erofs() {
    let gb = Gb::new();
    let share = host_dir(&gb, "ro");
    std::fs::create_dir_all(on_sim_host(&gb, &share)).unwrap();
    std::fs::write(on_sim_host(&gb, &share).join("f"), "kept\n").unwrap();
    let trace = gb.root().join("ro.jsonl");
    let o = gb
        .cmd()
        .arg("--simulate")
        .arg("--trace-json")
        .arg(&trace)
        .args([
            "run",
            "--rm",
            "-v",
            &format!("{share}:/ro:ro"),
            "busybox",
            "sh",
            "-c",
            "cat /ro/f; echo more >> /ro/f; rm /ro/f; touch /ro/new",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!(
        "sim_ro_refusal",
        format!(
            "{}---\n{}",
            common::stdout(&o),
            stderr(&o)
                .lines()
                .filter(|l| !l.contains("Unable to find"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
    assert!(common::trace_kinds(&trace).contains(&"volume_remount_ro".to_string()));
    assert_eq!(
        std::fs::read_to_string(on_sim_host(&gb, &share).join("f")).unwrap(),
        "kept\n"
    );
    assert!(!on_sim_host(&gb, &share).join("new").exists());
}

#[test]
fn a_named_volume_outlives_its_container_and_is_kept_while_named() {
    let gb = Gb::new();
    ok(&gb.sim(&[
        "run",
        "--name",
        "w",
        "-v",
        "simdata:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/k",
    ]));
    assert_eq!(
        std::fs::read_to_string(gb.sim_root().join("volumes/simdata/_data/k")).unwrap(),
        "kept\n"
    );
    // docker's HostConfig.Binds: the -v flags with a source, as given.
    let binds = ok(&gb.sim(&[
        "inspect",
        "--format",
        "{{json .HostConfig.Binds}} {{json .Config.Volumes}}",
        "w",
    ]));
    assert_eq!(binds.trim(), r#"["simdata:/data"] null"#);
    ok(&gb.sim(&["rm", "w"]));
    let o = gb.sim(&[
        "run",
        "--rm",
        "-v",
        "simdata:/data",
        "busybox",
        "cat",
        "/data/k",
    ]);
    assert_eq!(ok(&o), "kept\n");
    ok(&gb.sim(&[
        "create",
        "--name",
        "keeper",
        "-v",
        "simdata:/data",
        "busybox",
    ]));
    let o = gb.sim(&["volume", "rm", "simdata"]);
    assert_eq!(o.status.code(), Some(1));
    let id = ok(&gb.sim(&["inspect", "--format", "{{.Id}}", "keeper"]));
    insta::assert_snapshot!("sim_volume_in_use", stderr(&o).replace(id.trim(), "[ID]"));
    assert!(gb.sim_root().join("volumes/simdata/_data/k").exists());
    ok(&gb.sim(&["rm", "keeper"]));
    assert_eq!(ok(&gb.sim(&["volume", "rm", "simdata"])), "simdata\n");
    assert!(!gb.sim_root().join("volumes/simdata").exists());
}

#[test]
fn an_image_volume_is_seeded_once_shared_by_volumes_from_and_backed_up_with_tar() {
    let gb = Gb::new();
    ok(&gb.sim(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo shipped > /data/readme",
    ]));
    ok(&gb.sim(&["commit", "-c", "VOLUME /data", "src", "volimg:1"]));
    let t1 = gb.root().join("t1.jsonl");
    let o = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&t1)
        .args([
            "run",
            "--name",
            "db",
            "volimg:1",
            "sh",
            "-c",
            "echo row >> /data/rows; ls /data",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "readme\nrows\n");
    let vols = ok(&gb.sim(&[
        "inspect",
        "--format",
        "{{json .HostConfig.Binds}} {{json .Config.Volumes}}",
        "db",
    ]));
    assert_eq!(vols.trim(), r#"null {"/data":{}}"#);
    let kinds = common::trace_kinds(&t1);
    assert!(kinds.contains(&"volume_seed".to_string()), "{kinds:?}");
    // Started again: the volume holds files, it is not seeded again.
    let t2 = gb.root().join("t2.jsonl");
    let o = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&t2)
        .args(["start", "-a", "db"])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "readme\nrows\n");
    assert!(!common::trace_kinds(&t2).contains(&"volume_seed".to_string()));
    // A second container on the same volume does not seed it either.
    let t3 = gb.root().join("t3.jsonl");
    let o = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&t3)
        .args([
            "run",
            "--rm",
            "--volumes-from",
            "db",
            "busybox",
            "cat",
            "/data/rows",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "row\nrow\n");
    assert!(!common::trace_kinds(&t3).contains(&"volume_seed".to_string()));
    // The backup: a tar written through a bind, a real tar on the simulated host.
    let backup = host_dir(&gb, "backup");
    let o = gb.sim(&[
        "run",
        "--rm",
        "--volumes-from",
        "db",
        "-v",
        &format!("{backup}:/backup"),
        "busybox",
        "tar",
        "cf",
        "/backup/db.tar",
        "/data",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(
        "sim_backup_tar_stderr",
        stderr(&o)
            .lines()
            .filter(|l| !l.contains("Unable to find"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let tar = std::fs::read(on_sim_host(&gb, &backup).join("db.tar")).unwrap();
    let mut a = tar::Archive::new(&tar[..]);
    let mut names = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        names.push(format!("{name} {body:?}"));
    }
    insta::assert_snapshot!("sim_backup_tar_entries", names.join("\n"));
    // The tar reads back in a container too.
    let o = gb.sim(&[
        "run",
        "--rm",
        "-v",
        &format!("{backup}:/backup"),
        "busybox",
        "tar",
        "tf",
        "/backup/db.tar",
    ]);
    assert_eq!(ok(&o), "data/\ndata/readme\ndata/rows\n");
    // rm -v takes the anonymous volume with the container.
    let vol = ok(&gb.sim(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}{{end}}",
        "db",
    ]));
    assert!(gb.sim_root().join("volumes").join(vol.trim()).exists());
    ok(&gb.sim(&["rm", "-v", "db", "src"]));
    assert!(!gb.sim_root().join("volumes").join(vol.trim()).exists());
}

#[test]
fn a_tmpfs_mount_and_a_symlinked_mount_point_stay_inside_the_container() {
    let gb = Gb::new();
    // An image whose /data is a symlink climbing out of the root.
    ok(&gb.sim(&[
        "run",
        "--name",
        "lnk",
        "busybox",
        "ln",
        "-s",
        "/../../hostish/x",
        "/data",
    ]));
    ok(&gb.sim(&["commit", "lnk", "lnkimg:1"]));
    let o = gb.sim(&["run", "--rm", "-v", "lv:/data", "--mount", "type=tmpfs,target=/scratch",
                       "lnkimg:1", "sh", "-c",
                       "echo in > /data/f; echo t > /scratch/t; ls /hostish/x; grep -E ' /(hostish/x|scratch) ' /proc/self/mountinfo | cut -d' ' -f5,9"]);
    insta::assert_snapshot!(
        "sim_symlinked_mount_point",
        ok(&o).replace(&gb.sim_root().display().to_string(), "[SIM]")
    );
    assert_eq!(
        std::fs::read_to_string(gb.sim_root().join("volumes/lv/_data/f")).unwrap(),
        "in\n"
    );
    assert!(!gb.sim_root().join("hostish").exists());
    // --tmpfs resolves its mount point the same way.
    let o = gb.sim(&[
        "run",
        "--rm",
        "--tmpfs",
        "/data:size=1m",
        "lnkimg:1",
        "sh",
        "-c",
        "echo in > /data/f; ls /data/; grep ' /hostish/x ' /proc/mounts",
    ]);
    assert_eq!(
        ok(&o),
        "f\ntmpfs /hostish/x tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0\n"
    );
    assert!(!gb.sim_root().join("hostish").exists());
}

#[test]
fn real_and_simulated_runs_with_a_bind_take_the_same_steps() {
    if !common::is_root() {
        eprintln!("needs root: skipped");
        return;
    }
    let gb = Gb::new();
    let dir = gb.root().join("bindsrc");
    let v = format!("{}:/b:ro", dir.display());
    let (real, simt) = (gb.root().join("real.jsonl"), gb.root().join("sim.jsonl"));
    let script = "cat /b/* 2>/dev/null; ls /b";
    let o = gb
        .cmd()
        .arg("--trace-json")
        .arg(&real)
        .args([
            "run",
            "--rm",
            "-v",
            &v,
            "-v",
            "parity:/p",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gb
        .cmd()
        .args(["--simulate", "--trace-json"])
        .arg(&simt)
        .args([
            "run",
            "--rm",
            "-v",
            &v,
            "-v",
            "parity:/p",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (r, s) = (common::trace_kinds(&real), common::trace_kinds(&simt));
    assert!(
        r.contains(&"volume_mount".to_string()) && r.contains(&"host_dir_create".to_string()),
        "{r:?}"
    );
    assert_eq!(r, s);
    ok(&gb.run(&["volume", "rm", "parity"]));
}

#[test]
fn what_running_containers_and_execs_write_reaches_the_volume() {
    let gb = Gb::new();
    ok(&gb.sim(&[
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        "shared:/data",
        "busybox",
        "sh",
        "-c",
        "echo from-the-program > /data/bg; while true; do sleep 1; done",
    ]));
    ok(&gb.sim(&["exec", "live", "sh", "-c", "echo from-exec > /data/ex"]));
    // Another container mounting the volume sees both while `live` runs.
    let o = gb.sim(&[
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "busybox",
        "sh",
        "-c",
        "cat /data/bg /data/ex",
    ]);
    assert_eq!(ok(&o), "from-the-program\nfrom-exec\n");
    assert_eq!(
        std::fs::read_to_string(gb.sim_root().join("volumes/shared/_data/ex")).unwrap(),
        "from-exec\n"
    );
    // Nothing of it went into the container's own layer.
    let diff = ok(&gb.sim(&["diff", "live"]));
    assert!(!diff.contains("/data/"), "{diff}");
    ok(&gb.sim(&["rm", "-f", "live"]));
    ok(&gb.sim(&["volume", "rm", "shared"]));
}

/// The simulated `mount` applet prints what /proc/mounts says (busybox
/// reads it): `ro` for a `:ro` bind, `rw` for a writable one, as the real
/// busybox in a real container does.
#[test]
fn the_mount_applet_shows_a_read_only_bind_as_ro() {
    let gb = Gb::new();
    let script = "mount | grep -E ' /(ro|rw) '; grep -E ' /(ro|rw) ' /proc/mounts";
    let o = gb.sim(&[
        "run",
        "--rm",
        "-v",
        "/hro:/ro:ro",
        "-v",
        "/hrw:/rw",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let out = ok(&o);
    assert_eq!(
        out,
        "/dev/vda on /ro type ext4 (ro,relatime)\n/dev/vda on /rw type ext4 (rw,relatime)\n\
         /dev/vda /ro ext4 ro,relatime 0 0\n/dev/vda /rw ext4 rw,relatime 0 0\n"
    );
    if common::is_root() {
        // The real busybox says the same of its real mounts (the device differs).
        let real = tempfile::tempdir().unwrap();
        let (a, b) = (real.path().join("a"), real.path().join("b"));
        let o = gb.run(&[
            "run",
            "--rm",
            "-v",
            &format!("{}:/ro:ro", a.display()),
            "-v",
            &format!("{}:/rw", b.display()),
            "busybox",
            "sh",
            "-c",
            "mount | grep -E ' /(ro|rw) '",
        ]);
        let real_out = ok(&o);
        let flags: Vec<&str> = real_out
            .lines()
            .map(|l| {
                l.split(" (")
                    .nth(1)
                    .unwrap_or("")
                    .split(',')
                    .next()
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(flags, ["ro", "rw"], "{real_out}");
    }
}

/// `cp` and a stopped simulated container's volumes: as on the real kernel,
/// a copy under a mount point lands in the volume (or the simulated host's
/// directory), a copy out reads it, a read-only one refuses.
#[test]
fn cp_under_a_volume_of_a_stopped_simulated_container_uses_the_volume() {
    let gb = Gb::new();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("in.txt");
    std::fs::write(&src, "copied\n").unwrap();
    ok(&gb.sim(&[
        "create",
        "--name",
        "cpv",
        "-v",
        "cpvol:/data",
        "-v",
        "/hd:/hostdata",
        "-v",
        "rovol:/ro:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt /hostdata/in.txt",
    ]));
    let vol = gb.sim_root().join("volumes/cpvol/_data");
    std::fs::write(vol.join("seen.txt"), "in the volume\n").unwrap();
    let out = work.path().join("seen.txt");
    ok(&gb.sim(&["cp", "cpv:/data/seen.txt", &out.display().to_string()]));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "in the volume\n");
    let s = src.display().to_string();
    ok(&gb.sim(&["cp", &s, "cpv:/data/in.txt"]));
    ok(&gb.sim(&["cp", &s, "cpv:/hostdata/"]));
    assert_eq!(
        std::fs::read_to_string(vol.join("in.txt")).unwrap(),
        "copied\n"
    );
    assert_eq!(
        std::fs::read_to_string(on_sim_host(&gb, "/hd/in.txt")).unwrap(),
        "copied\n"
    );
    assert!(!common::stdout(&gb.sim(&["diff", "cpv"])).contains("in.txt"));
    let o = gb.sim(&["cp", &s, "cpv:/ro/in.txt"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!gb.sim_root().join("volumes/rovol/_data/in.txt").exists());
    assert_eq!(ok(&gb.sim(&["start", "-a", "cpv"])), "copied\ncopied\n");
    let tar = gb.sim(&["cp", "cpv:/data", "-"]);
    assert!(tar.status.success(), "{}", stderr(&tar));
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert_eq!(names, ["data/in.txt", "data/seen.txt"]);
}
