//! Default confinement (capabilities, seccomp, masked and read-only paths,
//! the device cgroup) against the escapes it exists to stop, on the real
//! kernel; and what `--privileged`, `--cap-add`, `--cap-drop`,
//! `--security-opt`, `--read-only`, `--tmpfs` and `--device` change.
//!
//! Host safety: the privileged probes only read (the host's root block
//! device: 512 bytes; /dev/kmsg: one record) or open for writing without
//! writing (/proc/sys, /proc/sysrq-trigger); mounts and links are made
//! inside the container's own mount and network namespaces.

mod common;

use common::{stderr, stdout, trace_kinds, Gb};
use std::collections::BTreeMap;

/// The host's root filesystem device, major:minor, from mountinfo (None when
/// / is not on a block device, e.g. an overlay).
fn host_root_device() -> Option<(u32, u32)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = info
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))?;
    let (major, minor) = line.split_whitespace().nth(2)?.split_once(':')?;
    let dev = (major.parse().ok()?, minor.parse().ok()?);
    (dev.0 != 0).then_some(dev)
}

/// Whether the host itself can read its root device (some sandboxes refuse
/// even root): only then must a privileged container be able to.
fn host_can_read_root_device() -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Some((major, minor)) = host_root_device() else {
        return false;
    };
    let want = nix::sys::stat::makedev(major as u64, minor as u64);
    std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten().any(|e| {
                e.metadata()
                    .is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == want)
                    && std::fs::File::open(e.path()).is_ok()
            })
        })
        .unwrap_or(false)
}

/// Each escape as a shell probe; `name=0` means it worked.
fn probes() -> String {
    let mut script =
        String::from("p() { name=$1; shift; ( \"$@\" ) >/dev/null 2>&1; echo \"$name=$?\"; }\n");
    script.push_str("p mount_tmpfs sh -c 'mkdir -p /mnt/t && mount -t tmpfs t /mnt/t'\n");
    if let Some((major, minor)) = host_root_device() {
        // Read-only: 512 bytes of the host's root device, never written.
        script.push_str(&format!(
            "p host_disk sh -c 'mknod /hostroot b {major} {minor} && head -c 512 /hostroot | wc -c | grep -qx 512'\n"
        ));
    }
    script.push_str(
        "p kmsg sh -c 'mknod /kmsg c 1 11 && timeout 5 head -c 1 /kmsg | wc -c | grep -qx 1'\n",
    );
    // Opened for appending, nothing written.
    script.push_str("p sysctl_open sh -c 'exec 3>>/proc/sys/kernel/hostname'\n");
    script.push_str("p sysrq_open sh -c 'exec 3>>/proc/sysrq-trigger'\n");
    script.push_str("p timer_list_real sh -c '[ ! -c /proc/timer_list ] && head -c 1 /proc/timer_list | wc -c | grep -qx 1'\n");
    script.push_str("p keys_real sh -c '[ -e /proc/keys ] && [ ! -c /proc/keys ]'\n");
    script.push_str("p unshare_user unshare -U true\n");
    script.push_str("p unshare_mount unshare -m true\n");
    script.push_str("p cgroup_v1_mount sh -c 'mkdir -p /cg && mount -t cgroup -o devices cgroup /cg && umount /cg'\n");
    script.push_str("p link_add ip link add gbv0 type veth peer name gbv1\n");
    script.push_str("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' | tr ':' '='\n");
    script
}

fn run_probes(gb: &Gb, extra: &[&str]) -> BTreeMap<String, String> {
    let script = probes();
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    let o = gb.run(&args);
    assert!(
        o.status.success(),
        "{extra:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const ESCAPES: [&str; 11] = [
    "mount_tmpfs",
    "host_disk",
    "kmsg",
    "sysctl_open",
    "sysrq_open",
    "timer_list_real",
    "keys_real",
    "unshare_user",
    "unshare_mount",
    "cgroup_v1_mount",
    "link_add",
];

#[test]
fn a_default_container_stops_every_escape_and_a_privileged_one_does_not() {
    require_root!();
    let gb = Gb::new();
    let confined = run_probes(&gb, &[]);
    for escape in ESCAPES.iter().filter(|e| confined.contains_key(**e)) {
        assert_ne!(
            confined[*escape], "0",
            "{escape} worked in a default container: {confined:?}"
        );
    }
    assert!(
        confined.contains_key("mount_tmpfs") && confined.contains_key("kmsg"),
        "{confined:?}"
    );
    assert_eq!(confined["CapEff"], "00000000a80425fb");
    assert_eq!(confined["CapPrm"], "00000000a80425fb");
    assert_eq!(confined["CapBnd"], "00000000a80425fb");
    assert_eq!(confined["CapInh"], "0000000000000000");
    assert_eq!(confined["CapAmb"], "0000000000000000");
    assert_eq!(confined["NoNewPrivs"], "0");
    assert_eq!(confined["Seccomp"], "2");

    let privileged = run_probes(&gb, &["--privileged"]);
    // /proc/keys may legitimately be absent; the v1 cgroup probe needs a v1 devices hierarchy.
    let v1_devices = std::path::Path::new("/sys/fs/cgroup/devices/devices.list").exists();
    for escape in ESCAPES.iter().filter(|e| privileged.contains_key(**e)) {
        if *escape == "cgroup_v1_mount" && !v1_devices {
            continue;
        }
        let absent = |p: &str| !std::path::Path::new(p).exists();
        if (*escape == "keys_real" && absent("/proc/keys"))
            || (*escape == "sysrq_open" && absent("/proc/sysrq-trigger"))
            || (*escape == "host_disk" && !host_can_read_root_device())
        {
            continue;
        }
        assert_eq!(
            privileged[*escape], "0",
            "{escape} failed with --privileged: {privileged:?}"
        );
    }
    assert_eq!(privileged["Seccomp"], "0");
    let own_bounding = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    assert_eq!(privileged["CapEff"], own_bounding);
    assert!(gb.containers().is_empty());
}

#[test]
fn cap_add_net_admin_allows_links_and_nothing_more() {
    require_root!();
    let gb = Gb::new();
    let got = run_probes(&gb, &["--cap-add", "net_admin"]);
    assert_eq!(got["link_add"], "0", "{got:?}");
    for still in ["mount_tmpfs", "unshare_mount", "kmsg", "sysctl_open"] {
        assert_ne!(got[still], "0", "{still}: {got:?}");
    }
    assert_eq!(got["CapEff"], "00000000a80435fb");
}

#[test]
fn cap_drop_all_makes_chown_fail_and_unknown_caps_exit_125() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status; chown 1 /etc/passwd",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("0000000000000000"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let o = gb.run(&[
        "run",
        "--rm",
        "--cap-drop",
        "chown",
        "busybox",
        "chown",
        "1",
        "/etc/passwd",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = gb.run(&["run", "--rm", "busybox", "chown", "1", "/etc/passwd"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for bad in [["--cap-add", "FLY"], ["--cap-drop", "cap_nope"]] {
        let o = gb.run(&["run", "--rm", bad[0], bad[1], "busybox", "true"]);
        assert_eq!(o.status.code(), Some(125));
        let name = format!("CAP_{}", bad[1].to_uppercase().trim_start_matches("CAP_"));
        assert!(stderr(&o).contains(&name), "{}", stderr(&o));
    }
    assert!(gb.containers().is_empty());
}

#[test]
fn read_only_refuses_writes_but_tmpfs_and_dev_stay_writable() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/run:size=1m,exec", "busybox", "sh", "-c",
        "touch /x; echo x=$?; touch /tmp/y; echo tmp=$?; touch /dev/shm/z; echo shm=$?; grep -E ' /(tmp|run) ' /proc/mounts",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("x=1") && out.contains("tmp=0") && out.contains("shm=0"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let tmp = out.lines().find(|l| l.contains(" /tmp ")).unwrap();
    assert!(tmp.contains("noexec") && tmp.contains("nosuid"), "{tmp}");
    let run = out.lines().find(|l| l.contains(" /run ")).unwrap();
    assert!(
        !run.contains("noexec") && run.contains("size=1024k"),
        "{run}"
    );
    // Without --read-only the root is writable.
    let o = gb.run(&["run", "--rm", "busybox", "touch", "/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// What a `--read-only` container may and may not change, in one script:
/// the root refuses every kind of change, the tmpfs mounts (given ones,
/// /dev, /dev/shm) and the bound /etc files take them, devices still work.
const READ_ONLY_SCRIPT: &str = "touch /x; echo x=$?; echo a > /etc/y; mkdir /d; rm /bin/ls; rmdir /home; \
    chmod 700 /etc/passwd; touch /etc/passwd; mv /etc/group /etc/g; ln -s /a /b; \
    touch /tmp/y && echo tmp-ok; mkdir -p /tmp/a/b && echo deep-ok; touch /dev/z && echo dev-ok; \
    touch /run/r && echo run-ok; echo q > /dev/shm/q && echo shm-ok; echo x > /dev/null && echo null-ok; \
    echo h > /etc/hostname && echo hostname-ok; ls /";

fn read_only_run(gb: &Gb, simulate: bool) -> (String, String, Option<i32>) {
    let mut args = vec![];
    if simulate {
        args.push("--simulate");
    }
    args.extend_from_slice(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/run",
        "busybox",
        "sh",
        "-c",
        READ_ONLY_SCRIPT,
    ]);
    let o = gb.run(&args);
    let err: String = stderr(&o)
        .lines()
        .filter(|l| !l.starts_with("Unable to find image"))
        .map(|l| format!("{l}\n"))
        .collect();
    (stdout(&o), err, o.status.code())
}

/// The simulated kernel enforces --read-only as the real one does: the same
/// output, error for error (compared with a real run when root).
#[test]
fn simulated_read_only_refuses_what_the_real_one_refuses() {
    let gb = Gb::new();
    let (out, err, code) = read_only_run(&gb, true);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("x=1\n"), "{out}");
    for ok in [
        "tmp-ok",
        "deep-ok",
        "dev-ok",
        "run-ok",
        "shm-ok",
        "null-ok",
        "hostname-ok",
    ] {
        assert!(out.contains(ok), "{ok}: {out}{err}");
    }
    for refused in [
        "touch: /x: Read-only file system",
        "sh: can't create /etc/y: Read-only file system",
        "mkdir: can't create directory '/d': Read-only file system",
        "rm: can't remove '/bin/ls': Read-only file system",
        "rmdir: '/home': Read-only file system",
        "chmod: /etc/passwd: Read-only file system",
        "touch: /etc/passwd: Read-only file system",
    ] {
        assert!(err.contains(refused), "{refused}: {err}");
    }
    // Nothing of the refused changes happened.
    assert!(
        !out.contains("\nx\n") && out.contains("\nbin\n") && !out.contains("\nd\n"),
        "{out}"
    );
    // Without --read-only the same changes are made.
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "touch /x && rm /bin/ls && echo rw",
    ]);
    assert_eq!(stdout(&o), "rw\n", "{}", stderr(&o));
    if common::is_root() {
        let (real_out, real_err, real_code) = read_only_run(&gb, false);
        assert_eq!((&out, &err, code), (&real_out, &real_err, real_code));
    }
}

#[test]
fn no_new_privileges_and_unconfined_seccomp_are_honoured() {
    require_root!();
    let gb = Gb::new();
    for (opt, nnp, seccomp) in [
        ("no-new-privileges", "1", "2"),
        ("no-new-privileges:true", "1", "2"),
        ("seccomp=unconfined", "0", "0"),
    ] {
        let o = gb.run(&[
            "run",
            "--rm",
            "--security-opt",
            opt,
            "busybox",
            "grep",
            "-E",
            "^(NoNewPrivs|Seccomp):",
            "/proc/self/status",
        ]);
        assert!(o.status.success(), "{opt}: {}", stderr(&o));
        let out = stdout(&o).replace('\t', "");
        assert!(
            out.contains(&format!("NoNewPrivs:{nnp}"))
                && out.contains(&format!("Seccomp:{seccomp}")),
            "{opt}: {out}"
        );
    }
    // A custom profile: the default one minus mkdir.
    let mut profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("src/confine/docker-default.json").unwrap())
            .unwrap();
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "mkdir" && n != "mkdirat");
        }
    }
    let path = gb.root().join("no-mkdir.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    let opt = format!("seccomp={}", path.display());
    let o = gb.run(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "touch /f && mkdir /d",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let o = gb.run(&[
        "run",
        "--rm",
        "--security-opt",
        "apparmor=x",
        "busybox",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("apparmor=x"), "{}", stderr(&o));
}

#[test]
fn device_gives_one_host_device() {
    require_root!();
    let gb = Gb::new();
    let o = gb.run(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "busybox",
        "sh",
        "-c",
        "ls -l /dev/mynull; echo hi > /dev/mynull && echo written",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("1,   3") || out.contains("1, 3"), "{out}");
    assert!(out.contains("written"), "{out}");
    let o = gb.run(&["run", "--rm", "--device", "/etc/passwd", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("/etc/passwd"), "{}", stderr(&o));
}

#[test]
fn exec_inherits_the_containers_confinement() {
    require_root!();
    let gb = Gb::new();
    let name = format!("confine-exec-{}", std::process::id());
    let o = gb.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = gb.run(&["exec", &name, "sh", "-c", "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; mkdir -p /m; mount -t tmpfs t /m; echo mount=$?"]);
    let rm = gb.run(&["rm", "-f", &name]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(e.status.success(), "{}", stderr(&e));
    let out = stdout(&e).replace('\t', "");
    assert!(out.contains("CapEff:00000000a80435fb"), "{out}");
    assert!(
        out.contains("NoNewPrivs:1") && out.contains("Seccomp:2"),
        "{out}"
    );
    assert!(out.contains("mount=1"), "{out}");
}

/// `exec -u` into a container without CAP_SETUID/CAP_SETGID: the identity
/// is taken before the capabilities are cut (runc's order), and the user
/// ends as docker and podman leave a non-root user: the container's
/// bounding set, nothing effective or permitted. Root (`-u 0:GID`) keeps
/// the container's set.
#[test]
fn exec_as_a_user_works_without_setuid_and_setgid_caps() {
    require_root!();
    let gb = Gb::new();
    let name = format!("confine-exec-user-{}", std::process::id());
    let o = gb.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--cap-drop",
        "SETUID",
        "--cap-drop",
        "SETGID",
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let probe = "id; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Groups):' /proc/self/status";
    let trace = gb.root().join("exec-user.json");
    let t = trace.display().to_string();
    let user = gb.run(&[
        "--trace-json",
        &t,
        "exec",
        "-u",
        "nobody",
        &name,
        "sh",
        "-c",
        probe,
    ]);
    let root_gid = gb.run(&["exec", "-u", "0:65534", &name, "sh", "-c", probe]);
    // A user switch the container cannot make at all still fails cleanly.
    let plain = gb.run(&[
        "exec",
        &name,
        "sh",
        "-c",
        "su nobody -s /bin/sh -c id; echo su=$?",
    ]);
    let rm = gb.run(&["rm", "-f", &name]);
    assert!(rm.status.success(), "{}", stderr(&rm));

    assert!(user.status.success(), "{}", stderr(&user));
    let out = stdout(&user).replace('\t', "");
    // docker's default set minus SETUID (7) and SETGID (6).
    let bounding = format!("{:016x}", 0xa80425fbu64 & !(1 << 7) & !(1 << 6));
    assert!(out.contains("uid=65534(nobody) gid=65534"), "{out}");
    for line in [
        "CapInh:0000000000000000".to_string(),
        "CapPrm:0000000000000000".to_string(),
        "CapEff:0000000000000000".to_string(),
        format!("CapBnd:{bounding}"),
        "CapAmb:0000000000000000".to_string(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing in {out}");
    }
    let kinds = trace_kinds(&trace);
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} missing: {kinds:?}"))
    };
    assert!(
        at("seccomp_load") < at("set_user")
            && at("set_user") < at("cap_set")
            && at("cap_set") < at("exec")
    );

    assert!(root_gid.status.success(), "{}", stderr(&root_gid));
    let out = stdout(&root_gid).replace('\t', "");
    assert!(out.contains("uid=0(root) gid=65534"), "{out}");
    assert!(
        out.lines().any(|l| l == format!("CapEff:{bounding}")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == format!("CapPrm:{bounding}")),
        "{out}"
    );

    // Inside, root has no CAP_SETUID: su cannot change user.
    let out = stdout(&plain);
    assert!(!out.contains("uid=65534"), "{out}");
    assert!(!out.contains("su=0"), "{out}");
}

#[test]
fn the_confinement_steps_are_narrated_in_runcs_order() {
    require_root!();
    let gb = Gb::new();
    let trace = gb.root().join("trace.json");
    let t = trace.display().to_string();
    let o = gb.run(&[
        "--trace-json",
        &t,
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "true",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kinds = trace_kinds(&trace);
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} missing: {kinds:?}"))
    };
    assert!(at("cgroup_create") < at("device_cgroup") && at("device_cgroup") < at("clone"));
    assert!(at("pivot_root") < at("remount_read_only"));
    assert!(at("remount_read_only") < at("mask_paths") && at("mask_paths") < at("readonly_paths"));
    assert!(
        at("readonly_paths") < at("seccomp_load")
            && at("seccomp_load") < at("cap_set")
            && at("cap_set") < at("exec")
    );
    assert!(!kinds.iter().any(|k| k == "no_new_privs"));
}

/// The simulator takes the same steps and shows their effect in /proc/self/status.
#[test]
fn simulated_containers_show_the_same_status_lines() {
    let gb = Gb::new();
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "CapInh:\t0000000000000000",
        "CapPrm:\t00000000a80425fb",
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t0",
        "Seccomp:\t2",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing: {out}");
    }
    let o = gb.run(&[
        "--simulate",
        "run",
        "--rm",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in ["CapEff:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t0"] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing: {out}");
    }
}
