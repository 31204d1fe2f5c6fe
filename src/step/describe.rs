//! What each step means, in English and Chinese: a title, why a container
//! needs it, the shell command that does the same by hand, the system call,
//! and where to look on the host to see its effect.

use super::{DevEntry, Namespace, Step};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "en" | "english" => Some(Lang::En),
            "zh" | "cn" | "zh_cn" | "zh-cn" | "chinese" => Some(Lang::Zh),
            _ => None,
        }
    }
    /// The language a `LANG`/`LC_ALL` value asks for (zh_CN.UTF-8 → zh).
    pub fn from_locale(value: &str) -> Lang {
        if value.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
    /// Pick the text for this language.
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }
}

/// A step, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    pub title: String,
    pub why: String,
    pub shell: String,
    pub syscall: String,
    pub look: String,
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A path as the container will see it: the part below the merged root.
fn inside(path: &Path) -> String {
    let text = p(path);
    match text.split_once("/merged") {
        Some((_, rest)) if rest.is_empty() => "/".into(),
        Some((_, rest)) => rest.to_string(),
        None => text,
    }
}

/// `cmd` applied to each path, folded into one brace expansion when the paths
/// differ in one component only (the v1 controllers): `mkdir /sys/fs/cgroup/{cpu,memory}/glassbox/ID`.
fn each(cmd: &str, paths: &[std::path::PathBuf], suffix: &str) -> String {
    if paths.len() > 1 {
        let split: Vec<Vec<String>> = paths
            .iter()
            .map(|x| x.iter().map(|c| c.to_string_lossy().into_owned()).collect())
            .collect();
        let n = split[0].len();
        if split.iter().all(|s| s.len() == n) {
            let differing: Vec<usize> = (0..n)
                .filter(|&i| split.iter().any(|s| s[i] != split[0][i]))
                .collect();
            if let [i] = differing[..] {
                let mut parts = split[0].clone();
                parts[i] = format!(
                    "{{{}}}",
                    split
                        .iter()
                        .map(|s| s[i].clone())
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let joined = std::path::PathBuf::from_iter(parts);
                return format!("{cmd}{}{suffix}", p(&joined));
            }
        }
    }
    paths
        .iter()
        .map(|d| format!("{cmd}{}{suffix}", p(d)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A container id as docker shows it (12 characters).
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn ns_list(ns: &[Namespace]) -> String {
    ns.iter()
        .map(|n| n.proc_name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Step {
    pub fn describe(&self, lang: Lang) -> Description {
        let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
        match self {
            Step::CgroupCreate { paths } => Description {
                title: l("create the container's cgroup", "创建容器的 cgroup"),
                why: l(
                    "A cgroup is the kernel's accounting and limits group: every process in it is counted (memory, CPU, pids) and can be capped. One per container lets glassbox limit and measure it, and find all its processes.",
                    "cgroup 是内核的资源记账与限额分组：组内每个进程的内存、CPU、进程数都被统计，也可以被限制。每个容器一个 cgroup，glassbox 就能限制、度量它，并找到它的全部进程。",
                ),
                shell: each("mkdir ", paths, ""),
                syscall: l("mkdir(2) on cgroupfs", "在 cgroupfs 上 mkdir(2)"),
                look: each("ls ", &paths[..paths.len().min(1)], ""),
            },
            Step::Clone { namespaces } => Description {
                title: l(
                    &format!("clone the container process into new namespaces ({})", ns_list(namespaces)),
                    &format!("clone 出容器进程，放进新的命名空间（{}）", ns_list(namespaces)),
                ),
                why: l(
                    "Namespaces are what make a process a container: with its own PID namespace it is PID 1 and sees no host processes; its own mount, UTS, IPC and network namespaces give it its own mount table, hostname, IPC objects and network stack. Same kernel, different view.",
                    "命名空间让一个普通进程变成容器：有了自己的 PID 命名空间，它就是 1 号进程，看不到宿主机的进程；自己的 mount、UTS、IPC、网络命名空间给了它独立的挂载表、主机名、IPC 对象和网络栈。内核还是同一个，看到的世界不同了。",
                ),
                shell: format!(
                    "unshare {} sh",
                    namespaces.iter().map(|n| n.unshare_opt()).collect::<Vec<_>>().join(" ")
                ),
                syscall: format!(
                    "clone({}|SIGCHLD)",
                    namespaces.iter().map(|n| n.clone_flag()).collect::<Vec<_>>().join("|")
                ),
                look: l("ls -l /proc/<pid>/ns   # compare with: ls -l /proc/self/ns", "ls -l /proc/<pid>/ns   # 对比：ls -l /proc/self/ns"),
            },
            Step::CgroupJoin { paths, pid } => Description {
                title: l(&format!("move process {pid} into the cgroup"), &format!("把进程 {pid} 放进 cgroup")),
                why: l(
                    "Writing a PID to cgroup.procs moves the process, and every child it will have, under the cgroup's accounting and limits, before it runs any of the user's code.",
                    "把 PID 写进 cgroup.procs，这个进程以及它以后的所有子进程就都受这个 cgroup 的统计和限制，而且发生在用户的程序开始运行之前。",
                ),
                shell: each(&format!("echo {pid} > "), paths, "/cgroup.procs"),
                syscall: l("write(2) to cgroup.procs", "对 cgroup.procs 做 write(2)"),
                look: format!("cat /proc/{pid}/cgroup"),
            },
            Step::MountPrivate => Description {
                title: l("make every mount private to the container", "把所有挂载设为容器私有"),
                why: l(
                    "The new mount namespace starts as a copy of the host's, and shared mounts would send the container's mounts back to the host. Marking them private keeps what the container mounts inside it.",
                    "新的 mount 命名空间一开始是宿主机挂载表的副本；共享挂载会把容器里的挂载传播回宿主机。设为私有后，容器挂载的东西只留在容器里。",
                ),
                shell: "mount --make-rprivate /".into(),
                syscall: "mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL)".into(),
                look: "findmnt -o TARGET,PROPAGATION -N <pid>".into(),
            },
            Step::MountOverlay { lower, upper, work, target } => {
                let lowers = lower.iter().rev().map(|d| p(d)).collect::<Vec<_>>().join(":");
                Description {
                    title: l("mount the overlay root filesystem", "挂载 overlay 根文件系统"),
                    why: l(
                        &format!(
                            "The image's {} read-only layer(s) are stacked under one writable upper directory. The container sees one merged tree; everything it writes lands in the upper dir, so the image stays untouched and is shared by every container made from it.",
                            lower.len()
                        ),
                        &format!(
                            "镜像的 {} 个只读层叠在一个可写的 upper 目录下面。容器看到的是合并后的一棵目录树；它写的所有东西都落在 upper 目录里，镜像本身不变，可以被所有容器共享。",
                            lower.len()
                        ),
                    ),
                    shell: format!(
                        "mount -t overlay overlay -o lowerdir={lowers},upperdir={},workdir={} {}",
                        p(upper),
                        p(work),
                        p(target)
                    ),
                    syscall: "mount(\"overlay\", target, \"overlay\", 0, \"lowerdir=...,upperdir=...,workdir=...\")".into(),
                    look: format!("ls {}   # {}", p(upper), l("the container's own changes", "容器自己的改动")),
                }
            }
            Step::MountSpecial { fs, target, options, read_only } => {
                let what = match fs {
                    super::Special::Proc => l(
                        "/proc shows the processes of the mounter's PID namespace, so ps inside the container lists only its own processes.",
                        "/proc 显示的是挂载者所在 PID 命名空间的进程，所以容器里的 ps 只列出容器自己的进程。",
                    ),
                    super::Special::Sysfs => l(
                        "/sys exposes kernel objects; it is mounted read-only so the container can read it but not reconfigure the host.",
                        "/sys 暴露内核对象；以只读方式挂载，容器能读，却不能改宿主机的配置。",
                    ),
                    super::Special::Tmpfs => l(
                        "A tmpfs is a small filesystem in memory: the container gets its own, empty, instead of the host's.",
                        "tmpfs 是内存里的小文件系统：容器得到一个自己的、空的，而不是宿主机的。",
                    ),
                    super::Special::Devpts => l(
                        "A new devpts instance gives the container its own pseudo-terminals, invisible to the host's.",
                        "新的 devpts 实例给容器一套自己的伪终端，和宿主机的互不可见。",
                    ),
                    super::Special::Mqueue => l(
                        "POSIX message queues belong to an IPC namespace: mounting mqueue here shows the container only its own namespace's queues (ls /dev/mqueue), not the host's, and queues it makes vanish with it.",
                        "POSIX 消息队列属于 IPC 命名空间：在这里挂载 mqueue，容器只能看到自己命名空间里的队列（ls /dev/mqueue），看不到宿主机的；它创建的队列也随它一起消失。",
                    ),
                };
                let ro = if *read_only { ",ro" } else { "" };
                Description {
                    title: l(
                        &format!("mount {} on {}", fs.fstype(), inside(target)),
                        &format!("在 {} 挂载 {}", inside(target), fs.fstype()),
                    ),
                    why: what,
                    shell: format!("mount -t {} -o {options}{ro} {} {}", fs.fstype(), fs.fstype(), p(target)),
                    syscall: format!("mount(\"{}\", target, \"{}\", flags, \"{options}\")", fs.fstype(), fs.fstype()),
                    look: "cat /proc/<pid>/mountinfo".into(),
                }
            }
            Step::MakeDevices { dev, entries } => {
                let cmds = entries
                    .iter()
                    .map(|e| match e {
                        DevEntry::Char { name, major, minor, mode } => {
                            format!("mknod -m {mode:o} {name} c {major} {minor}")
                        }
                        DevEntry::Link { name, target } => format!("ln -s {target} {name}"),
                    })
                    .collect::<Vec<_>>();
                Description {
                    title: l("make the device nodes in /dev", "在 /dev 里创建设备节点"),
                    why: l(
                        "Programs expect /dev/null, /dev/zero, /dev/urandom and friends. The container gets only these few harmless devices, not the host's disks.",
                        "程序需要 /dev/null、/dev/zero、/dev/urandom 这些设备。容器只拿到这几个无害的设备，拿不到宿主机的磁盘。",
                    ),
                    shell: format!("cd {} && {}", p(dev), cmds.join("; ")),
                    syscall: "mknod(2), symlink(2)".into(),
                    look: "ls -l /proc/<pid>/root/dev".into(),
                }
            }
            Step::MountBind { source, target, read_only } => Description {
                title: l(
                    &format!("bind {} onto {}", inside(source), inside(target)),
                    &format!("把 {} 绑定挂载到 {}", inside(source), inside(target)),
                ),
                why: l(
                    "A bind mount shows an existing file or directory at a second place. glassbox writes the container's hostname, hosts and resolv.conf files outside the image and binds them in, so the image stays unchanged.",
                    "绑定挂载让一个已有的文件或目录出现在另一个位置。glassbox 把容器的 hostname、hosts、resolv.conf 写在镜像之外，再绑定进去，镜像保持不变。",
                ),
                shell: format!(
                    "mount --bind{} {} {}",
                    if *read_only { " -o ro" } else { "" },
                    p(source),
                    p(target)
                ),
                syscall: "mount(source, target, NULL, MS_BIND, NULL)".into(),
                look: "cat /proc/<pid>/mountinfo".into(),
            },
            Step::SetHostname { hostname } => Description {
                title: l(&format!("set the hostname to {hostname}"), &format!("把主机名设为 {hostname}")),
                why: l(
                    "The UTS namespace holds the hostname: the container gets its own, and the host's stays as it was.",
                    "主机名存放在 UTS 命名空间里：容器有自己的主机名，宿主机的不受影响。",
                ),
                shell: format!("hostname {hostname}"),
                syscall: format!("sethostname(\"{hostname}\")"),
                look: l("nsenter -t <pid> -u hostname   # vs. hostname on the host", "nsenter -t <pid> -u hostname   # 对比宿主机上的 hostname"),
            },
            Step::LinkUp { name } => Description {
                title: l(&format!("bring up {name} in the container's network namespace"), &format!("在容器的网络命名空间里启用 {name}")),
                why: l(
                    "A new network namespace has only a loopback interface, and it starts down. With it up the container can talk to itself on 127.0.0.1, and to nothing else.",
                    "新的网络命名空间里只有一个回环接口，而且默认是关闭的。启用后，容器可以通过 127.0.0.1 和自己通信，除此之外什么也连不上。",
                ),
                shell: format!("ip link set {name} up"),
                syscall: "ioctl(SIOCSIFFLAGS, IFF_UP)".into(),
                look: "nsenter -t <pid> -n ip addr".into(),
            },
            Step::PivotRoot { new_root } => Description {
                title: l("pivot_root into the overlay", "pivot_root 切换到 overlay 根目录"),
                why: l(
                    "pivot_root makes the merged overlay the process's /, and the old root is detached, so nothing of the host's filesystem stays reachable (chroot alone could be escaped).",
                    "pivot_root 把合并后的 overlay 变成进程的 /，再把旧的根卸掉，宿主机的文件系统就再也访问不到了（只用 chroot 是可以逃出去的）。",
                ),
                shell: format!("cd {}; pivot_root . .; umount -l .", p(new_root)),
                syscall: "pivot_root(\".\", \".\"); umount2(\".\", MNT_DETACH)".into(),
                look: "ls -l /proc/<pid>/root/".into(),
            },
            Step::SetNs { pid, namespaces } => Description {
                title: l(
                    &format!("join the namespaces of process {pid} ({})", ns_list(namespaces)),
                    &format!("加入进程 {pid} 的命名空间（{}）", ns_list(namespaces)),
                ),
                why: l(
                    "exec starts no new container: the new process enters the running container's namespaces, one setns per /proc/PID/ns file, so it sees the container's processes, mounts, hostname and network. The mount namespace already has the container's root, so no pivot_root is needed; PID namespace membership applies to children, so it forks once more before exec.",
                    "exec 不会新建容器：新进程通过 /proc/PID/ns 下的文件逐个 setns，进入正在运行的容器的命名空间，于是看到的是容器的进程、挂载、主机名和网络。mount 命名空间里已经是容器的根目录，不需要再 pivot_root；PID 命名空间只对子进程生效，所以 exec 之前还要再 fork 一次。",
                ),
                shell: format!(
                    "nsenter --target {pid} {} sh",
                    namespaces
                        .iter()
                        .map(|n| match n.proc_name() {
                            "mnt" => "--mount".to_string(),
                            other => format!("--{other}"),
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                syscall: format!(
                    "setns(open(\"/proc/{pid}/ns/…\"), {}); fork()",
                    namespaces.iter().map(|n| n.clone_flag()).collect::<Vec<_>>().join("|")
                ),
                look: format!("ls -l /proc/{pid}/ns   # {}", l("the same inode numbers as /proc/<exec pid>/ns", "与 /proc/<exec pid>/ns 的 inode 编号相同")),
            },
            Step::Exec { argv, cwd, joined: true, user, .. } => {
                let mut why = l(
                    "execve replaces glassbox's code in the forked process with the program; it keeps the namespaces and the cgroup it joined, so it runs inside the container, next to its PID 1 (the container's first process), with the next free PID of the container's PID namespace.",
                    "execve 把这个 fork 出来的进程里 glassbox 的代码换成用户的程序；它保留刚加入的命名空间和 cgroup，所以运行在容器里面，和容器的 1 号进程（容器的第一个进程）并列，拿到的是容器 PID 命名空间里下一个空闲的 PID。",
                );
                let (mut shell, mut syscall) = (
                    format!("cd {cwd} && exec {}", argv.join(" ")),
                    "execve(path, argv, envp)".to_string(),
                );
                if let Some(u) = user {
                    let groups = u.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(",");
                    why.push(' ');
                    why.push_str(&l(
                        &format!("Before that it gives up root: -u {} is uid {}, gid {} (looked up in the container's own /etc/passwd and /etc/group, not the host's); supplementary groups first, then the group, then the user, since after setuid it could no longer change them.", u.spec, u.uid, u.gid),
                        &format!("在此之前它放弃 root 身份：-u {} 对应 uid {}、gid {}（查的是容器自己的 /etc/passwd 和 /etc/group，不是宿主机的）；先设附加组，再设组，最后设用户，因为 setuid 之后就再也改不了它们了。", u.spec, u.uid, u.gid),
                    ));
                    shell = format!(
                        "cd {cwd} && exec setpriv --reuid={} --regid={} {} {}",
                        u.uid,
                        u.gid,
                        if groups.is_empty() { "--clear-groups".to_string() } else { format!("--groups={groups}") },
                        argv.join(" ")
                    );
                    syscall = format!("setgroups([{groups}]); setgid({}); setuid({}); execve(path, argv, envp)", u.gid, u.uid);
                }
                Description {
                    title: l(&format!("exec {}", argv.join(" ")), &format!("exec：运行 {}", argv.join(" "))),
                    why,
                    shell,
                    syscall,
                    look: l("ps -o pid,ppid,user,args   # inside the container: PID 1 and this program", "ps -o pid,ppid,user,args   # 在容器里：1 号进程和这个程序"),
                }
            }
            Step::Exec { argv, cwd, .. } => Description {
                title: l(&format!("exec {}", argv.join(" ")), &format!("exec：运行 {}", argv.join(" "))),
                why: l(
                    "execve replaces glassbox's code in the prepared process with the program; it keeps the namespaces, the cgroup and the root, and as the first process of its PID namespace it is PID 1.",
                    "execve 把这个准备好的进程里 glassbox 的代码换成用户的程序；命名空间、cgroup 和根目录都保留下来，作为 PID 命名空间里的第一个进程，它就是 1 号进程。",
                ),
                shell: format!("cd {cwd} && exec {}", argv.join(" ")),
                syscall: "execve(path, argv, envp)".into(),
                look: "cat /proc/<pid>/cmdline | tr '\\0' ' '".into(),
            },
            s @ (Step::RegistryPing { .. }
            | Step::RegistryToken { .. }
            | Step::ManifestFetch { .. }
            | Step::BlobFetch { .. }
            | Step::LayerUnpack { .. }
            | Step::BlobCheck { .. }
            | Step::BlobUpload { .. }
            | Step::ManifestPut { .. }) => super::registry::describe(s, lang),
            Step::MonitorFork { container, cli_pid } => Description {
                title: l(
                    &format!("fork a monitor for container {}", short(container)),
                    &format!("为容器 {} fork 一个监控进程", short(container)),
                ),
                why: l(
                    "There is no daemon: the CLI process (the one you typed) forks a small monitor that outlives it, as podman's conmon does. It forks twice and the middle process exits at once, so init adopts the monitor and no shell keeps a zombie. The CLI only waits until the container runs, prints its id and exits; the monitor stays as long as the container.",
                    "glassbox 没有守护进程：你敲的这个命令行进程 fork 出一个小小的监控进程，它比命令行活得久，就像 podman 的 conmon。它 fork 两次，中间那个进程立刻退出，于是监控进程被 init 收养，哪个 shell 都不会留下僵尸进程。命令行只等到容器跑起来，打印它的 id 就退出；监控进程和容器同生共死。",
                ),
                shell: "( setsid glassbox-monitor & )   # fork, fork, the middle one exits".into(),
                syscall: "fork(); fork(); _exit(0) in the middle process".into(),
                look: format!("ps -o pid,ppid,sid,args --ppid 1 | grep glassbox   # the CLI was {cli_pid}"),
            },
            Step::SetSid { container } => Description {
                title: l("setsid: the monitor gets its own session", "setsid：监控进程拥有自己的会话"),
                why: l(
                    &format!("The monitor of {} leaves the CLI's session and controlling terminal, so closing the terminal (SIGHUP) or pressing Ctrl-C there cannot reach it; its stdin becomes /dev/null and it leaves the working directory for /, pinning no mount.", short(container)),
                    &format!("容器 {} 的监控进程离开命令行的会话和控制终端，关掉终端（SIGHUP）或在那里按 Ctrl-C 都碰不到它；它的标准输入换成 /dev/null，工作目录换到 /，不占住任何挂载点。", short(container)),
                ),
                shell: "setsid --fork glassbox-monitor < /dev/null".into(),
                syscall: "setsid(); chdir(\"/\"); dup2(open(\"/dev/null\"), 0)".into(),
                look: "ps -o pid,sid,tty,args -p <monitor pid>   # its own SID, no TTY".into(),
            },
            Step::LogPipe { log, tty } => Description {
                title: l("connect the container's output to its log", "把容器的输出接到它的日志"),
                why: l(
                    &format!(
                        "A detached container has no terminal of yours to write to: its stdout and stderr become {} whose other end the monitor reads, writing each line into the docker json-file log {} ({{\"log\":...,\"stream\":\"stdout\",\"time\":...}}) and to attached clients. `logs` reads that file.",
                        if *tty { "its pseudo-terminal," } else { "two pipes" },
                        p(log)
                    ),
                    &format!(
                        "后台容器没有你的终端可写：它的 stdout 和 stderr 变成{}，另一端由监控进程读取，每一行写进 docker json-file 格式的日志 {}（{{\"log\":...,\"stream\":\"stdout\",\"time\":...}}），也转给 attach 上来的客户端。`logs` 读的就是这个文件。",
                        if *tty { "它的伪终端" } else { "两根管道" },
                        p(log)
                    ),
                ),
                shell: format!("program 1>pipe 2>pipe   # the monitor: read each pipe, append JSON lines to {}", p(log)),
                syscall: "pipe2(O_CLOEXEC) ×2; dup2(w, 1); dup2(w, 2) in the child; poll + read + write in the monitor".into(),
                look: format!("ls -l /proc/<pid>/fd/1 /proc/<pid>/fd/2; tail {}", p(log)),
            },
            Step::Wait { pid, record } => Description {
                title: l(
                    &format!("wait for process {pid}, then record its exit"),
                    &format!("等待进程 {pid} 结束，再记录它的退出"),
                ),
                why: l(
                    "The monitor is the container's parent: waitpid returns when its first process ends (the container ends with it, its PID namespace killed), giving the exit status (128+N for signal N). The monitor then writes status, exit code, finish time and whether the kernel's OOM killer struck into the record, and removes the cgroup.",
                    "监控进程是容器的父进程：容器的第一个进程结束时（容器随之结束，它的 PID 命名空间被整个杀掉），waitpid 返回退出状态（被信号 N 杀死时是 128+N）。随后监控进程把状态、退出码、结束时间以及是否被内核 OOM killer 杀掉写进记录，并删除 cgroup。",
                ),
                shell: format!("wait {pid}; echo $?   # then: {}", p(record)),
                syscall: format!("waitpid({pid}, &status, 0)"),
                look: format!("cat {}", p(record)),
            },
            Step::CgroupRemove { paths } => Description {
                title: l("remove the container's cgroup", "删除容器的 cgroup"),
                why: l(
                    "Once the container's processes are gone its cgroup is empty and is removed, so nothing of it is left in the kernel.",
                    "容器的进程都退出后，它的 cgroup 就空了，删掉它，内核里不留下任何痕迹。",
                ),
                shell: each("rmdir ", paths, ""),
                syscall: l("rmdir(2) on cgroupfs", "在 cgroupfs 上 rmdir(2)"),
                look: paths.first().map(|d| format!("ls {}", p(d))).unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod exec_tests {
    use super::*;

    fn exec_step(joined: bool) -> Step {
        Step::Exec {
            argv: vec!["sh".into()],
            env: vec![],
            cwd: "/".into(),
            joined,
            user: None,
        }
    }

    #[test]
    fn only_a_containers_first_process_is_called_pid_1() {
        for lang in [Lang::En, Lang::Zh] {
            let first = exec_step(false).describe(lang).why;
            let joined = exec_step(true).describe(lang).why;
            assert_ne!(first, joined);
            let pid1 = lang.pick("it is PID 1", "它就是 1 号进程");
            let next = lang.pick("next free PID", "下一个空闲的 PID");
            assert!(first.contains(pid1), "{first}");
            assert!(!joined.contains(pid1), "{joined}");
            assert!(joined.contains(next), "{joined}");
        }
    }
}
