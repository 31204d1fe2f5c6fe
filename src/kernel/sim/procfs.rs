//! The simulated /proc: generated from a plain view of the model (the
//! processes, their namespaces, cgroups and confinement, the mount table),
//! in the kernel's formats, so what a learner reads there agrees with the
//! steps glassbox narrated. Pure functions: the caller mounts the entries
//! with `SimFs::mount_pseudo`.

use super::fs::Node;
use super::mounttab;
use super::SimMount;
use crate::confine::caps::{CapSet, NAMES};
use crate::kernel::cgroup::{CgroupMode, CgroupSetup};
use crate::step::Namespace;
use std::path::PathBuf;

/// The inode numbers /proc/PID/ns/* name, one per namespace kind.
/// Processes in the same namespace show the same number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsInodes {
    pub cgroup: u64,
    pub ipc: u64,
    pub mnt: u64,
    pub net: u64,
    pub pid: u64,
    pub time: u64,
    pub user: u64,
    pub uts: u64,
}

/// The first inode number a namespace made after boot gets here.
pub const FIRST_NEW_NS_INODE: u64 = 4_026_532_178;

impl NsInodes {
    /// The host's (initial) namespaces: the kernel's fixed PROC_*_INIT_INO
    /// numbers (include/linux/proc_ns.h).
    pub const HOST: NsInodes = NsInodes {
        mnt: 4_026_531_832,
        net: 4_026_531_833,
        time: 4_026_531_834,
        cgroup: 4_026_531_835,
        pid: 4_026_531_836,
        user: 4_026_531_837,
        uts: 4_026_531_838,
        ipc: 4_026_531_839,
    };

    /// A process cloned from `parent` with the `new` namespaces: each new
    /// one takes the next inode from `next`, in the order the kernel makes
    /// them (the user namespace with the credentials, then
    /// create_new_namespaces: mnt, uts, ipc, pid, cgroup, net).
    pub fn cloned(parent: NsInodes, new: &[Namespace], next: &mut u64) -> NsInodes {
        let mut ns = parent;
        for kind in [
            Namespace::User,
            Namespace::Mount,
            Namespace::Uts,
            Namespace::Ipc,
            Namespace::Pid,
            Namespace::Cgroup,
            Namespace::Net,
        ] {
            if !new.contains(&kind) {
                continue;
            }
            let slot = match kind {
                Namespace::User => &mut ns.user,
                Namespace::Mount => &mut ns.mnt,
                Namespace::Uts => &mut ns.uts,
                Namespace::Ipc => &mut ns.ipc,
                Namespace::Pid => &mut ns.pid,
                Namespace::Cgroup => &mut ns.cgroup,
                Namespace::Net => &mut ns.net,
            };
            *slot = *next;
            *next += 1;
        }
        ns
    }

    /// The entries of /proc/PID/ns, as `ls` lists them: (name, kind, inode).
    pub fn links(&self) -> [(&'static str, &'static str, u64); 10] {
        [
            ("cgroup", "cgroup", self.cgroup),
            ("ipc", "ipc", self.ipc),
            ("mnt", "mnt", self.mnt),
            ("net", "net", self.net),
            ("pid", "pid", self.pid),
            // A process's children join its PID and time namespaces (no
            // unshare(CLONE_NEWPID) after the clone here).
            ("pid_for_children", "pid", self.pid),
            ("time", "time", self.time),
            ("time_for_children", "time", self.time),
            ("user", "user", self.user),
            ("uts", "uts", self.uts),
        ]
    }
}

/// /proc/PID/cgroup for a process in the cgroups `member_of` (full paths,
/// one per hierarchy): one line per hierarchy, newest hierarchy first, the
/// path relative to the hierarchy's root (glassbox makes no cgroup
/// namespace, so the container sees the host's path). v2 has the single
/// `0::` line; a hybrid host also lists its v2 tree, where glassbox puts
/// nobody (so `/`); a pure v1 host never mounted v2, so has no `0::` line.
pub fn cgroup_file(setup: &CgroupSetup, member_of: &[PathBuf]) -> String {
    let mut lines: Vec<(u32, String)> = Vec::new();
    for h in &setup.hierarchies {
        let Some((id, controllers)) = setup.simulated_hierarchy(h) else {
            continue;
        };
        let path = member_of
            .iter()
            .find_map(|p| p.strip_prefix(h).ok())
            .map_or("/".to_string(), |rel| format!("/{}", rel.display()));
        lines.push((id, format!("{id}:{controllers}:{path}")));
    }
    if setup.mode == CgroupMode::Hybrid {
        lines.push((0, "0::/".into()));
    }
    lines.sort_by(|a, b| b.0.cmp(&a.0));
    lines.into_iter().map(|(_, l)| l + "\n").collect()
}

/// One process as /proc shows it.
#[derive(Clone, Debug)]
pub struct ProcessView {
    /// The PID as the container's PID namespace sees it.
    pub pid: u32,
    /// 0 when the parent is outside the container's PID namespace.
    pub ppid: u32,
    pub argv: Vec<String>,
    /// `KEY=value` strings.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// The capability sets the confinement steps left (None: root's full sets).
    pub caps: Option<CapSet>,
    pub no_new_privs: bool,
    pub seccomp_filters: u32,
    pub ns: NsInodes,
    /// The text of /proc/PID/cgroup (`cgroup_file`).
    pub cgroup: String,
    /// Its resource limits (`rlimits::table`) and OOM score adjustment.
    pub rlimits: Vec<super::rlimits::Rlimit>,
    pub oom_score_adj: i32,
    /// `--userns=auto`: its user namespace's id map (None: the host's).
    pub id_map: Option<crate::confine::userns::IdMap>,
}

/// Everything the simulated /proc shows.
#[derive(Clone, Debug)]
pub struct ProcView {
    /// The processes the container's PID namespace sees; the first is the
    /// one reading (`/proc/self`).
    pub procs: Vec<ProcessView>,
    /// The mount table of the readers' mount namespace, in mount order.
    pub mounts: Vec<SimMount>,
    /// Seconds since the simulated host booted.
    pub uptime_secs: u64,
    /// CPUs of the simulated host (idle time in /proc/uptime counts each).
    pub cpus: u64,
}

/// The comm name: argv[0]'s last component, at most 15 bytes (TASK_COMM_LEN).
pub fn comm(argv: &[String]) -> String {
    argv.first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).chars().take(15).collect())
        .unwrap_or_default()
}

/// /proc/PID/status: the fields the model decides, in the kernel's order
/// and format (fs/proc/array.c). Memory and scheduling lines the model has
/// no figures for are left out rather than made up.
pub fn status(p: &ProcessView) -> String {
    let full = CapSet((1u64 << NAMES.len()) - 1);
    let caps = p.caps.unwrap_or(full);
    let none = CapSet(0);
    let (pgid, sid) = if p.ppid == 0 { (0, 0) } else { (p.pid, p.pid) };
    format!(
        "Name:\t{name}\nUmask:\t0022\nState:\tR (running)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\nTracerPid:\t0\n\
         Uid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\nFDSize:\t64\nGroups:\t \n\
         NStgid:\t{pid}\nNSpid:\t{pid}\nNSpgid:\t{pgid}\nNSsid:\t{sid}\nThreads:\t1\n\
         SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
         CapInh:\t{none}\nCapPrm:\t{caps}\nCapEff:\t{caps}\nCapBnd:\t{caps}\nCapAmb:\t{none}\n\
         NoNewPrivs:\t{nnp}\nSeccomp:\t{mode}\nSeccomp_filters:\t{filters}\n",
        name = comm(&p.argv),
        pid = p.pid,
        ppid = p.ppid,
        u = p.uid,
        g = p.gid,
        nnp = u8::from(p.no_new_privs),
        mode = if p.seccomp_filters > 0 { 2 } else { 0 },
        filters = p.seccomp_filters,
    )
}

/// NUL-terminated strings, as cmdline and environ hold them.
fn nul_joined(items: &[String]) -> Vec<u8> {
    items.iter().flat_map(|s| s.bytes().chain([0])).collect()
}

fn file(mode: u32, data: impl Into<Vec<u8>>) -> Node {
    Node::File {
        mode,
        uid: 0,
        gid: 0,
        data: data.into(),
    }
}

fn dir(mode: u32) -> Node {
    Node::Dir {
        mode,
        uid: 0,
        gid: 0,
    }
}

/// The entries of /proc, relative to its mount point.
pub fn entries(view: &ProcView) -> Vec<(String, Node)> {
    let rows = mounttab::rows(&view.mounts);
    let mountinfo = mounttab::mountinfo(&rows);
    let mounts = mounttab::mounts(&rows);
    let mut out = Vec::new();
    for p in &view.procs {
        let d = p.pid.to_string();
        out.push((d.clone(), dir(0o555)));
        out.push((format!("{d}/cmdline"), file(0o444, nul_joined(&p.argv))));
        out.push((
            format!("{d}/comm"),
            file(0o644, format!("{}\n", comm(&p.argv))),
        ));
        out.push((format!("{d}/environ"), file(0o400, nul_joined(&p.env))));
        out.push((format!("{d}/status"), file(0o444, status(p))));
        out.push((format!("{d}/cgroup"), file(0o444, p.cgroup.clone())));
        out.push((
            format!("{d}/limits"),
            file(0o444, super::rlimits::proc_limits(&p.rlimits)),
        ));
        out.push((
            format!("{d}/oom_score_adj"),
            file(0o644, format!("{}\n", p.oom_score_adj)),
        ));
        // The kernel's `%10u %10u %10u` lines; the host's namespace maps all ids.
        let (uid_map, gid_map) = match &p.id_map {
            Some(m) => (m.uids().proc_text(), m.gids().proc_text()),
            None => {
                let all = format!("{:>10} {:>10} {:>10}\n", 0, 0, u32::MAX);
                (all.clone(), all)
            }
        };
        out.push((format!("{d}/uid_map"), file(0o644, uid_map)));
        out.push((format!("{d}/gid_map"), file(0o644, gid_map)));
        out.push((format!("{d}/mounts"), file(0o444, mounts.clone())));
        out.push((format!("{d}/mountinfo"), file(0o444, mountinfo.clone())));
        out.push((format!("{d}/cwd"), Node::symlink(p.cwd.clone())));
        out.push((format!("{d}/root"), Node::symlink("/")));
        out.push((format!("{d}/ns"), dir(0o511)));
        for (name, kind, inode) in p.ns.links() {
            out.push((
                format!("{d}/ns/{name}"),
                Node::symlink(format!("{kind}:[{inode}]")),
            ));
        }
    }
    if let Some(me) = view.procs.first() {
        out.push(("self".into(), Node::symlink(me.pid.to_string())));
    }
    out.push(("mounts".into(), Node::symlink("self/mounts")));
    let up = view.uptime_secs;
    out.push((
        "uptime".into(),
        file(0o444, format!("{up}.00 {}.00\n", up * view.cpus.max(1))),
    ));
    // Nothing runs but the readers: no load; "running/total last-PID".
    let last = view.procs.iter().map(|p| p.pid).max().unwrap_or(0);
    out.push((
        "loadavg".into(),
        file(
            0o444,
            format!("0.00 0.00 0.00 1/{} {last}\n", view.procs.len()),
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc1() -> ProcessView {
        ProcessView {
            pid: 1,
            ppid: 0,
            argv: vec!["/bin/cat".into(), "/proc/self/status".into()],
            env: vec!["PATH=/bin".into(), "HOME=/root".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            caps: Some(CapSet(0xa80425fb)),
            no_new_privs: false,
            seccomp_filters: 1,
            ns: NsInodes::cloned(
                NsInodes::HOST,
                &[
                    Namespace::Mount,
                    Namespace::Uts,
                    Namespace::Ipc,
                    Namespace::Pid,
                    Namespace::Net,
                ],
                &mut { FIRST_NEW_NS_INODE },
            ),
            cgroup: "0::/glassbox/abc\n".into(),
            rlimits: crate::kernel::sim::rlimits::table(&[]),
            oom_score_adj: 0,
            id_map: None,
        }
    }

    fn find<'a>(e: &'a [(String, Node)], name: &str) -> &'a Node {
        &e.iter()
            .rev()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    }

    fn text(n: &Node) -> String {
        match n {
            Node::File { data, .. } => String::from_utf8(data.clone()).unwrap(),
            Node::Symlink { target } => target.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn new_namespaces_take_inodes_in_the_kernels_order() {
        let mut next = FIRST_NEW_NS_INODE;
        let ns = NsInodes::cloned(
            NsInodes::HOST,
            &[
                Namespace::Net,
                Namespace::Pid,
                Namespace::Mount,
                Namespace::Ipc,
                Namespace::Uts,
            ],
            &mut next,
        );
        assert_eq!(ns.mnt, FIRST_NEW_NS_INODE);
        assert_eq!(ns.uts, FIRST_NEW_NS_INODE + 1);
        assert_eq!(ns.ipc, FIRST_NEW_NS_INODE + 2);
        assert_eq!(ns.pid, FIRST_NEW_NS_INODE + 3);
        assert_eq!(ns.net, FIRST_NEW_NS_INODE + 4);
        assert_eq!(next, FIRST_NEW_NS_INODE + 5);
        // Kept from the host: cgroup, time, user.
        assert_eq!(
            (ns.cgroup, ns.time, ns.user),
            (4026531835, 4026531834, 4026531837)
        );
        // A second container gets its own.
        let other = NsInodes::cloned(NsInodes::HOST, &[Namespace::Mount], &mut next);
        assert_eq!(other.mnt, FIRST_NEW_NS_INODE + 5);
    }

    #[test]
    fn per_process_files() {
        let view = ProcView {
            procs: vec![proc1()],
            mounts: vec![],
            uptime_secs: 3600,
            cpus: 2,
        };
        let e = entries(&view);
        assert_eq!(text(find(&e, "self")), "1");
        assert_eq!(text(find(&e, "1/cmdline")), "/bin/cat\0/proc/self/status\0");
        assert_eq!(text(find(&e, "1/environ")), "PATH=/bin\0HOME=/root\0");
        assert_eq!(text(find(&e, "1/comm")), "cat\n");
        assert_eq!(text(find(&e, "1/ns/mnt")), "mnt:[4026532178]");
        assert_eq!(text(find(&e, "1/ns/pid_for_children")), "pid:[4026532181]");
        assert_eq!(text(find(&e, "1/ns/cgroup")), "cgroup:[4026531835]");
        assert_eq!(text(find(&e, "1/cgroup")), "0::/glassbox/abc\n");
        assert_eq!(text(find(&e, "uptime")), "3600.00 7200.00\n");
        assert_eq!(text(find(&e, "loadavg")), "0.00 0.00 0.00 1/1 1\n");
        assert_eq!(text(find(&e, "mounts")), "self/mounts");
        let status = text(find(&e, "1/status"));
        for line in [
            "Name:\tcat\n",
            "\nTgid:\t1\n",
            "\nPid:\t1\nPPid:\t0\n",
            "\nCapEff:\t00000000a80425fb\n",
            "\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n",
        ] {
            assert!(status.contains(line), "{line:?} not in\n{status}");
        }
    }

    /// Every range of a user namespace's map, uids and gids apart, in the
    /// kernel's `%10u %10u %10u` lines; the host's maps all ids.
    #[test]
    fn uid_map_and_gid_map_show_every_range() {
        use crate::confine::userns::{IdMap, IdRange, IdRanges};
        let r = |container, host, size| IdRange {
            container,
            host,
            size,
        };
        let mut p = proc1();
        p.id_map = Some(
            IdMap::new(
                IdRanges(vec![r(0, 100_000, 1000), r(1000, 1000, 1)]),
                IdRanges(vec![r(0, 200_000, 10)]),
            )
            .unwrap(),
        );
        let mut host = proc1();
        host.pid = 2;
        let view = ProcView {
            procs: vec![p, host],
            mounts: vec![],
            uptime_secs: 1,
            cpus: 2,
        };
        let e = entries(&view);
        assert_eq!(
            text(find(&e, "1/uid_map")),
            "         0     100000       1000\n      1000       1000          1\n"
        );
        assert_eq!(
            text(find(&e, "1/gid_map")),
            "         0     200000         10\n"
        );
        assert_eq!(
            text(find(&e, "2/gid_map")),
            "         0          0 4294967295\n"
        );
    }

    #[test]
    fn cgroup_files_per_layout() {
        let id = "abc";
        let v2 = CgroupSetup::simulated(CgroupMode::Unified);
        assert_eq!(cgroup_file(&v2, &v2.paths_for(id)), "0::/glassbox/abc\n");
        let v1 = CgroupSetup::simulated(CgroupMode::Legacy);
        let text = cgroup_file(&v1, &v1.paths_for(id));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 13);
        assert_eq!(lines[0], "13:hugetlb:/glassbox/abc");
        assert_eq!(lines[10], "3:cpuacct:/glassbox/abc");
        assert_eq!(lines[12], "1:name=systemd:/glassbox/abc");
        let hybrid = CgroupSetup::simulated(CgroupMode::Hybrid);
        let text = cgroup_file(&hybrid, &hybrid.paths_for(id));
        assert!(text.starts_with("13:hugetlb:/glassbox/abc\n"));
        assert!(text.ends_with("1:name=systemd:/glassbox/abc\n0::/\n"));
        // Not in any cgroup glassbox made: the hierarchy roots.
        assert_eq!(cgroup_file(&v2, &[]), "0::/\n");
    }
}
