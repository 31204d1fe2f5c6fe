//! Step-through's `l` in simulation: what a step's look command (its
//! `describe().look`) would print on a real host right after the step,
//! rendered from the model with the same pure functions the simulated
//! /proc and mount table use (`procfs`, `mounttab`), so the learner sees
//! the simulated PID's namespaces, cgroup file, mount lines and values
//! rather than a command to run elsewhere. Steps whose effect the model
//! does not keep (rlimits, device programs, the monitor's processes) get
//! None: the narrator says so.

use super::procfs::{self, NsInodes};
use super::{host, in_container, mounttab, SimChild, SimKernel};
use crate::step::{Lang, Step};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A command and what it prints, as a terminal would show them.
fn shown(cmd: &str, output: &str) -> String {
    let mut s = format!("$ {cmd}\n{output}");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// `ls -l /proc/PID/ns` (coreutils, not on a terminal: no quotes), then
/// which namespaces are the container's own rather than the host's.
pub fn ns_listing(pid: i32, ns: NsInodes, now_secs: u64, lang: Lang) -> String {
    let date = crate::kernel::sim::applets::files::ls_date(now_secs, now_secs);
    let host = NsInodes::HOST.links();
    let mut out = String::new();
    let mut new = Vec::new();
    for (i, (name, kind, inode)) in ns.links().into_iter().enumerate() {
        out.push_str(&format!(
            "lrwxrwxrwx 1 root root 0 {date} {name} -> {kind}:[{inode}]\n"
        ));
        if inode != host[i].2 && !name.ends_with("_for_children") {
            new.push(name);
        }
    }
    let note = lang
        .pick(
        &format!(
            "# new inode numbers (the container's own): {}; the others are the host's, as ls -l /proc/self/ns shows",
            new.join(" ")
        ),
        &format!(
            "# inode 编号是新的（容器自己的）：{}；其余和宿主机的相同，对比 ls -l /proc/self/ns",
            new.join(" ")
        ),
    )
    .to_string();
    out.push_str(&note);
    shown(&format!("ls -l /proc/{pid}/ns"), &out)
}

/// `cat` of files in the cgroup tree: the value, or cat's error.
fn cat_files(files: &[(PathBuf, Option<String>)]) -> String {
    files
        .iter()
        .map(|(f, v)| match v {
            Some(v) => shown(&format!("cat {}", f.display()), v),
            None => shown(
                &format!("cat {}", f.display()),
                &format!("cat: {}: No such file or directory", f.display()),
            ),
        })
        .collect()
}

/// `ls DIR` of a cgroup that is gone, or `cat DIR/cgroup.procs` of one that exists.
fn cgroup_dirs(tree: &BTreeMap<PathBuf, Vec<i32>>, dirs: &[PathBuf], lang: Lang) -> String {
    dirs.iter()
        .map(|d| match tree.get(d) {
            Some(pids) => {
                let mut out: String = pids.iter().map(|p| format!("{p}\n")).collect();
                if pids.is_empty() {
                    out = lang
                        .pick(
                            "# (empty: no process in this cgroup yet)",
                            "# （空的：这个 cgroup 里还没有进程）",
                        )
                        .to_string();
                }
                shown(&format!("cat {}/cgroup.procs", d.display()), &out)
            }
            None => shown(
                &format!("ls {}", d.display()),
                &format!(
                    "ls: cannot access '{}': No such file or directory",
                    d.display()
                ),
            ),
        })
        .collect()
}

/// `ls -d /proc/PID`: there, or gone.
fn proc_dir(pid: i32, alive: bool) -> String {
    let out = if alive {
        format!("/proc/{pid}")
    } else {
        format!("ls: cannot access '/proc/{pid}': No such file or directory")
    };
    shown(&format!("ls -d /proc/{pid}"), &out)
}

/// The lines of the mount table whose mount point is one of `targets` (all
/// of it when `targets` is empty), as `/proc/PID/mountinfo` has them.
fn mount_lines(pid: i32, mounts: &[super::SimMount], targets: &[String]) -> String {
    let rows = mounttab::rows(mounts);
    let picked: Vec<_> = rows
        .into_iter()
        .filter(|r| targets.is_empty() || targets.contains(&r.target))
        .collect();
    let cmd = match targets {
        [one] => format!("awk '$5 == \"{one}\"' /proc/{pid}/mountinfo"),
        _ => format!("cat /proc/{pid}/mountinfo"),
    };
    shown(&cmd, &mounttab::mountinfo(&picked))
}

/// The lines of /proc/PID/status that start with one of `fields`.
fn status_lines(pid: i32, view: &procfs::ProcessView, fields: &[&str], pattern: &str) -> String {
    let status = procfs::status(view);
    let out: String = status
        .lines()
        .filter(|l| fields.iter().any(|f| l.starts_with(&format!("{f}:"))))
        .map(|l| format!("{l}\n"))
        .collect();
    shown(&format!("grep -E '{pattern}' /proc/{pid}/status"), &out)
}

/// `ls /proc/PID/root/DIR`: the names there, as ls prints them one a line
/// when its output is not a terminal.
fn names_in(child: &SimChild, pid: i32, dir: &str) -> String {
    let names = child.fs.list_dir(dir, "/").unwrap_or_default();
    let out: String = names.iter().map(|n| format!("{n}\n")).collect();
    let shown_dir = if dir == "/" {
        String::new()
    } else {
        dir.trim_start_matches('/').to_string()
    };
    shown(&format!("ls /proc/{pid}/root/{shown_dir}"), &out)
}

/// The process has ended (a foreground program, run to its end).
fn gone(pid: i32, lang: Lang) -> String {
    lang.pick(
        &format!("(process {pid} has exited: its namespaces are gone)\n"),
        &format!("（进程 {pid} 已经退出：它的命名空间已不存在）\n"),
    )
    .to_string()
}

impl SimChild {
    /// The container's first process as the host's /proc shows it.
    fn host_view(&self) -> procfs::ProcessView {
        let argv = self
            .spec
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Exec { argv, .. } => Some(argv.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let (uid, gid) = self.user.as_ref().map_or((0, 0), |u| (u.uid, u.gid));
        // Seen from the host, ids in a user namespace of its own go through
        // its ranges (an id in none shows as 65534).
        let id_map = self.id_map();
        let (uid, gid) = match &id_map {
            Some(m) => (
                m.uids()
                    .to_host(uid)
                    .unwrap_or(crate::confine::userns::UNMAPPED),
                m.gids()
                    .to_host(gid)
                    .unwrap_or(crate::confine::userns::UNMAPPED),
            ),
            None => (uid, gid),
        };
        procfs::ProcessView {
            pid: self.host_pid as u32,
            ppid: 1,
            argv,
            env: Vec::new(),
            cwd: "/".into(),
            uid,
            gid,
            caps: self.caps,
            no_new_privs: self.no_new_privs,
            seccomp_filters: self.seccomp_filters,
            ns: self.ns,
            cgroup: self.cgroup.clone(),
            rlimits: super::rlimits::table(&self.res.rlimits),
            oom_score_adj: self.res.oom_score_adj,
            id_map,
        }
    }
}

/// A step the container's first process took (`start_child`), seen from the
/// host right after it.
pub(super) fn child_step(child: &SimChild, step: &Step, lang: Lang) -> Option<String> {
    let pid = child.host_pid;
    let text = match step {
        Step::MountOverlay { .. } | Step::RemountReadOnly { .. } => {
            mount_lines(pid, &child.mounts, &["/".to_string()])
        }
        Step::MountSpecial { target, .. } | Step::MountBind { target, .. } => {
            mount_lines(pid, &child.mounts, &[in_container(&child.rootfs, target)])
        }
        Step::MaskPaths { paths } | Step::ReadonlyPaths { paths } => {
            let targets: Vec<String> = paths
                .iter()
                .filter(|p| child.mounts.iter().any(|m| &m.target == *p))
                .cloned()
                .collect();
            if targets.is_empty() {
                return None;
            }
            mount_lines(pid, &child.mounts, &targets)
        }
        Step::MakeDevices { .. } | Step::AddDevices { .. } => names_in(child, pid, "/dev"),
        Step::PivotRoot { .. } => names_in(child, pid, "/"),
        Step::SetHostname { hostname } => shown(&format!("nsenter -t {pid} -u hostname"), hostname),
        Step::LinkUp { name } => shown(
            &format!("nsenter -t {pid} -n ip -brief addr"),
            &format!("{name:<17}UNKNOWN        127.0.0.1/8 ::1/128\n"),
        ),
        Step::NoNewPrivs => status_lines(pid, &child.host_view(), &["NoNewPrivs"], "NoNewPrivs"),
        Step::SeccompLoad { .. } => status_lines(
            pid,
            &child.host_view(),
            &["Seccomp", "Seccomp_filters"],
            "Seccomp",
        ),
        Step::CapSet { .. } => status_lines(
            pid,
            &child.host_view(),
            &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"],
            "Cap",
        ),
        Step::SetUser { .. } => status_lines(
            pid,
            &child.host_view(),
            &["Uid", "Gid", "Groups"],
            "^(Uid|Gid|Groups):",
        ),
        Step::Exec { argv, .. } => {
            if child.exit.is_some() && !child.detached {
                gone(pid, lang)
            } else {
                shown(
                    &format!("cat /proc/{pid}/cmdline | tr '\\0' ' '"),
                    &format!("{} \n", argv.join(" ")),
                )
            }
        }
        _ => return None,
    };
    Some(text)
}

impl SimKernel {
    /// The cgroup tree and its files as the model has them now.
    fn tree_now(&self) -> (BTreeMap<PathBuf, Vec<i32>>, BTreeMap<PathBuf, String>) {
        match &self.root {
            Some(root) => host::read(root, |st| (st.cgroups.clone(), st.cgroup_files.clone()))
                .unwrap_or_default(),
            None => (self.cgroup_tree.clone(), self.cgroup_files.clone()),
        }
    }

    fn alive_now(&self, pid: i32) -> bool {
        if self
            .child
            .as_ref()
            .is_some_and(|c| c.host_pid == pid && c.exit.is_none())
        {
            return true;
        }
        match &self.root {
            Some(root) => host::alive(root, pid).unwrap_or(false),
            None => false,
        }
    }

    /// See `Kernel::look`.
    pub(super) fn render_look(&self, step: &Step, lang: Lang) -> Option<String> {
        let (tree, files) = self.tree_now();
        let text = match step {
            Step::Clone { .. } => {
                let child = self.child.as_ref()?;
                ns_listing(
                    child.host_pid,
                    child.ns,
                    crate::clock::now_ms() / 1000,
                    lang,
                )
            }
            Step::CgroupCreate { paths } => cgroup_dirs(&tree, paths, lang),
            Step::CgroupRemove { paths } => cgroup_dirs(&tree, paths, lang),
            Step::CgroupJoin { pid, .. } => {
                let member_of: Vec<PathBuf> = tree
                    .iter()
                    .filter(|(_, pids)| pids.contains(pid))
                    .map(|(p, _)| p.clone())
                    .collect();
                shown(
                    &format!("cat /proc/{pid}/cgroup"),
                    &procfs::cgroup_file(&self.cgroups, &member_of),
                )
            }
            Step::CgroupLimit { writes, .. } => {
                let read: Vec<(PathBuf, Option<String>)> = writes
                    .iter()
                    .map(|(f, _)| (f.clone(), files.get(f).cloned()))
                    .collect();
                cat_files(&read)
            }
            Step::Freeze { path, version, .. } => {
                let names: &[&str] = if *version == 1 {
                    &["freezer.state"]
                } else {
                    &["cgroup.freeze"]
                };
                let read: Vec<(PathBuf, Option<String>)> = names
                    .iter()
                    .map(|n| {
                        let f = path.join(n);
                        let v = files.get(&f).cloned();
                        (f, v)
                    })
                    .collect();
                cat_files(&read)
            }
            Step::Signal { pid, .. } | Step::WaitExit { pid, .. } => {
                proc_dir(*pid, self.alive_now(*pid))
            }
            s if s.side() == crate::step::Side::Child => {
                return child_step(self.child.as_ref()?, s, lang)
            }
            _ => return None,
        };
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::Namespace;

    #[test]
    fn ns_listing_marks_the_new_namespaces() {
        let ns = NsInodes::cloned(NsInodes::HOST, &[Namespace::Mount, Namespace::Pid], &mut {
            procfs::FIRST_NEW_NS_INODE
        });
        let text = ns_listing(4242, ns, super::super::SIM_EPOCH, Lang::En);
        assert!(text.starts_with("$ ls -l /proc/4242/ns\n"));
        assert!(text.contains(" pid -> pid:[4026532179]\n"), "{text}");
        assert!(text.contains(" net -> net:[4026531833]\n"), "{text}");
        assert!(text.contains("(the container's own): mnt pid;"), "{text}");
    }

    #[test]
    fn a_removed_cgroup_is_gone_and_an_empty_one_says_so() {
        let mut tree = BTreeMap::new();
        let dir = PathBuf::from("/sys/fs/cgroup/glassbox/abc");
        tree.insert(dir.clone(), vec![]);
        let text = cgroup_dirs(&tree, std::slice::from_ref(&dir), Lang::En);
        assert!(text.contains("cat /sys/fs/cgroup/glassbox/abc/cgroup.procs"));
        assert!(text.contains("no process"));
        tree.clear();
        let text = cgroup_dirs(&tree, &[dir], Lang::En);
        assert!(text.contains("No such file or directory"), "{text}");
    }
}
