//! Volumes in simulation: what exists today. The `volume` verbs work on the
//! simulated store's own `volumes/` (never the real store's); mounting
//! volumes into a simulated container is not simulated yet, and says so
//! (exit 125, naming the destinations) instead of running without them.

mod common;

use common::{ok, stderr, Gb};

fn sim(gb: &Gb, args: &[&str]) -> std::process::Output {
    gb.cmd()
        .arg("--simulate")
        .args(args)
        .output()
        .expect("run glassbox")
}

#[test]
fn simulated_volume_verbs_work_on_the_simulated_store() {
    let gb = Gb::new();
    assert_eq!(
        ok(&sim(&gb, &["volume", "create", "--label", "k=v", "simvol"])),
        "simvol\n"
    );
    assert!(gb.sim_root().join("volumes/simvol/_data").is_dir());
    assert!(
        !gb.root().join("volumes").exists(),
        "the real store was touched"
    );
    insta::assert_snapshot!("sim_volume_ls", ok(&sim(&gb, &["volume", "ls"])));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&sim(&gb, &["volume", "inspect", "simvol"]))).unwrap();
    assert_eq!(v[0]["Labels"]["k"], "v");
    assert_eq!(
        v[0]["Mountpoint"],
        gb.sim_root()
            .join("volumes/simvol/_data")
            .display()
            .to_string()
    );
    assert_eq!(
        ok(&sim(&gb, &["volume", "ls", "-q", "-f", "dangling=true"])),
        "simvol\n"
    );
    assert_eq!(ok(&sim(&gb, &["volume", "rm", "simvol"])), "simvol\n");
    assert_eq!(ok(&sim(&gb, &["volume", "ls", "-q"])), "");
    let missing = sim(&gb, &["volume", "rm", "simvol"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing), "Error: No such volume: simvol\n");
}

#[test]
fn simulated_runs_with_mounts_are_refused_clearly() {
    let gb = Gb::new();
    for args in [
        vec!["run", "--rm", "-v", "data:/data", "busybox", "true"],
        vec!["run", "--rm", "-v", "/srv/x:/x:ro", "busybox", "true"],
        vec![
            "create",
            "--mount",
            "type=tmpfs,target=/t",
            "busybox",
            "true",
        ],
    ] {
        let o = sim(&gb, &args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("volumes are not simulated yet"), "{err}");
    }
    // Nothing was made: no container, no volume, no host directory.
    assert!(gb.sim_containers().is_empty());
    assert_eq!(ok(&sim(&gb, &["volume", "ls", "-q"])), "");
    assert!(!std::path::Path::new("/srv/x").exists());
    let o = sim(&gb, &["run", "--rm", "-v", "data:/data", "busybox", "true"]);
    insta::assert_snapshot!(
        "sim_volume_refusal",
        stderr(&o).lines().last().unwrap_or("")
    );
}
