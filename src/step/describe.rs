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

/// One word for a POSIX shell: as is when it is made only of characters no
/// shell treats specially, else in single quotes (a quote inside becomes
/// `'\''`), so a narrated command pasted into `sh` gets the same argv.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// An argv as one shell command line (each word quoted as it needs).
pub fn shell_join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn q(path: &Path) -> String {
    shell_quote(&p(path))
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
            Step::MountOverlay { lower, upper, work, target, userxattr } => {
                let lowers = lower.iter().rev().map(|d| p(d)).collect::<Vec<_>>().join(":");
                let userxattr = if *userxattr { ",userxattr" } else { "" };
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
                        "mount -t overlay overlay -o lowerdir={lowers},upperdir={},workdir={}{userxattr} {}",
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
            Step::MakeDevices { dev, entries, bind } => {
                let cmds = entries
                    .iter()
                    .map(|e| match e {
                        DevEntry::Char { name, .. } if *bind => {
                            format!("touch {name} && mount --bind /dev/{name} {name}")
                        }
                        DevEntry::Char { name, major, minor, mode } => {
                            format!("mknod -m {mode:o} {name} c {major} {minor}")
                        }
                        DevEntry::Link { name, target } => format!("ln -s {target} {name}"),
                    })
                    .collect::<Vec<_>>();
                Description {
                    title: l("make the device nodes in /dev", "在 /dev 里创建设备节点"),
                    why: if *bind {
                        l(
                            "Programs expect /dev/null, /dev/zero, /dev/urandom and friends. In a user namespace the kernel refuses mknod(2), so each of these few harmless host devices is bound into the container's /dev instead (as runc does for rootless containers).",
                            "程序需要 /dev/null、/dev/zero、/dev/urandom 这些设备。在用户命名空间里内核不允许 mknod(2)，所以把宿主机上这几个无害的设备逐个 bind 挂载进容器的 /dev（runc 对无 root 容器也是这样做的）。",
                        )
                    } else {
                        l(
                            "Programs expect /dev/null, /dev/zero, /dev/urandom and friends. The container gets only these few harmless devices, not the host's disks.",
                            "程序需要 /dev/null、/dev/zero、/dev/urandom 这些设备。容器只拿到这几个无害的设备，拿不到宿主机的磁盘。",
                        )
                    },
                    shell: format!("cd {} && {}", p(dev), cmds.join("; ")),
                    syscall: if *bind { "mount(\"/dev/NAME\", \"NAME\", NULL, MS_BIND, NULL), symlink(2)" } else { "mknod(2), symlink(2)" }.into(),
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
            // `--network container:`: the new container's first process joins
            // only another container's network namespace, before its mounts.
            Step::SetNs { pid, namespaces } if namespaces[..] == [Namespace::Net] => Description {
                title: l(
                    &format!("join the network namespace of process {pid} (/proc/{pid}/ns/net)"),
                    &format!("加入进程 {pid} 的网络命名空间（/proc/{pid}/ns/net）"),
                ),
                why: l(
                    "--network container: gives the new container no network of its own: its first process opens the other container's /proc/PID/ns/net and calls setns, so both see the same interfaces, addresses, routes and ports (a server in one answers on localhost in the other). Its other namespaces are still new; it also binds the other container's /etc/hosts and resolv.conf.",
                    "--network container: 不给新容器自己的网络：它的第一个进程打开另一个容器的 /proc/PID/ns/net 并调用 setns，于是两者看到同样的网卡、地址、路由和端口（一个容器里的服务在另一个容器的 localhost 上就能访问）。其余命名空间仍是新的；它还会绑定另一个容器的 /etc/hosts 和 resolv.conf。",
                ),
                shell: format!("nsenter --net=/proc/{pid}/ns/net sh"),
                syscall: format!("setns(open(\"/proc/{pid}/ns/net\"), CLONE_NEWNET)"),
                look: format!("readlink /proc/{pid}/ns/net /proc/<new pid>/ns/net   # {}", l("the same net:[inode]", "相同的 net:[inode]")),
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
            Step::Exec { argv, cwd, joined: true, .. } => Description {
                title: l(&format!("exec {}", shell_join(argv)), &format!("exec：运行 {}", shell_join(argv))),
                why: l(
                    "execve replaces glassbox's code in the forked process with the program; it keeps the namespaces and the cgroup it joined, so it runs inside the container, next to its PID 1 (the container's first process), with the next free PID of the container's PID namespace.",
                    "execve 把这个 fork 出来的进程里 glassbox 的代码换成用户的程序；它保留刚加入的命名空间和 cgroup，所以运行在容器里面，和容器的 1 号进程（容器的第一个进程）并列，拿到的是容器 PID 命名空间里下一个空闲的 PID。",
                ),
                shell: format!("cd {} && exec {}", shell_quote(cwd), shell_join(argv)),
                syscall: "execve(path, argv, envp)".into(),
                look: l("ps -o pid,ppid,user,args   # inside the container: PID 1 and this program", "ps -o pid,ppid,user,args   # 在容器里：1 号进程和这个程序"),
            },
            Step::Exec { argv, cwd, .. } => Description {
                title: l(&format!("exec {}", shell_join(argv)), &format!("exec：运行 {}", shell_join(argv))),
                why: l(
                    "execve replaces glassbox's code in the prepared process with the program; it keeps the namespaces, the cgroup and the root, and as the first process of its PID namespace it is PID 1.",
                    "execve 把这个准备好的进程里 glassbox 的代码换成用户的程序；命名空间、cgroup 和根目录都保留下来，作为 PID 命名空间里的第一个进程，它就是 1 号进程。",
                ),
                shell: format!("cd {} && exec {}", shell_quote(cwd), shell_join(argv)),
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
            s @ (Step::DeviceCgroup { .. }
            | Step::AddDevices { .. }
            | Step::RemountReadOnly { .. }
            | Step::MaskPaths { .. }
            | Step::ReadonlyPaths { .. }
            | Step::NoNewPrivs
            | Step::SeccompLoad { .. }
            | Step::CapSet { .. }
            | Step::SetUser { .. }) => super::confine::describe(s, lang),
            s @ (Step::CgroupLimit { .. }
            | Step::Freeze { .. }
            | Step::SetRlimits { .. }
            | Step::OomScoreAdj { .. }
            | Step::OomKilled { .. }) => super::resources::describe(s, lang),
            s @ (Step::VolumeCreate { .. }
            | Step::HostDirCreate { .. }
            | Step::VolumeRemove { .. }
            | Step::VolumeSeed { .. }
            | Step::VolumeMount { .. }
            | Step::VolumeRemountRo { .. }) => super::volumes::describe(s, lang),
            s @ (Step::UsernsMap { .. }
            | Step::IdmapLayers { .. }
            | Step::AttachLayers { .. }
            | Step::UsernsRoot { .. }
            | Step::Chown { .. }) => super::userns::describe(s, lang),
            s @ (Step::OciMount { .. }
            | Step::JoinNamespace { .. }
            | Step::SysctlSet { .. }
            | Step::AwaitStart { .. }
            | Step::ReleaseStart { .. }
            | Step::Hook { .. }) => super::oci::describe(s, lang),
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
            Step::MonitorExec { container, pid } => Description {
                title: l(
                    &format!("exec glassbox-monitor: the monitor of {} slims down", short(container)),
                    &format!("exec glassbox-monitor：容器 {} 的监控进程瘦身", short(container)),
                ),
                why: l(
                    &format!("Setting the container up took all of glassbox; relaying its output and waiting for it do not. The monitor replaces its program with glassbox-monitor, a small one (about 2 MB resident instead of 9, as conmon), as podman leaves this work to conmon. exec keeps the PID, so process {pid} stays its child and the record's monitor PID stays true; the log, the output pipes, the attach socket and the published ports' sockets stay open across the exec. When {pid} has ended, glassbox-monitor execs glassbox again (its exit command) to record the end and clean up."),
                    &format!("搭建容器要用到整个 glassbox；转发输出、等待容器结束却用不着。监控进程把自己的程序换成 glassbox-monitor，一个小程序（常驻内存约 2 MB，而不是 9 MB，和 conmon 相当），就像 podman 把这份活交给 conmon。exec 不改变 PID，所以进程 {pid} 仍是它的子进程，记录里的监控进程 PID 依然属实；日志、输出管道、attach 套接字和发布端口的套接字都跨过 exec 保持打开。{pid} 结束后，glassbox-monitor 再 exec 回 glassbox（它的退出命令），记录结局并清理。"),
                ),
                shell: format!("exec glassbox-monitor --pid {pid} --log-fd 3 --source 4:stdout --source 5:stderr -- glassbox __monitor-exited --id {}", short(container)),
                syscall: "fcntl(fd, F_SETFD, 0) for each descriptor handed over; execve(\"glassbox-monitor\", ...)".into(),
                look: "ps -o pid,rss,args -C glassbox-monitor   # RSS in KiB".into(),
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
            s @ (Step::Signal { .. }
            | Step::WaitExit { .. }
            | Step::RecordCreate { .. }
            | Step::DirCreate { .. }
            | Step::EtcWrite { .. }
            | Step::RecordWrite { .. }
            | Step::DirRemove { .. }
            | Step::RecordRemove { .. }) => describe_lifecycle(s, lang),
            s @ (Step::LayerTar { .. }
            | Step::BlobWrite { .. }
            | Step::ImageAdd { .. }
            | Step::CopyIn { .. }
            | Step::CopyOut { .. }
            | Step::ExportTar { .. }) => describe_files(s, lang),
            s @ (Step::BridgeCreate { .. }
            | Step::BridgeRemove { .. }
            | Step::VethCreate { .. }
            | Step::AddrAdd { .. }
            | Step::NetnsLinkUp { .. }
            | Step::RouteAdd { .. }
            | Step::LinkRemove { .. }
            | Step::SysctlWrite { .. }
            | Step::NftApply { .. }
            | Step::PortReserve { .. }
            | Step::HostsWrite { .. }) => super::network::describe(s, lang),
            s @ (Step::ChangesRead { .. }
            | Step::LogRead { .. }
            | Step::AttachConnect { .. }
            | Step::ImageTag { .. }
            | Step::ImageUntag { .. }
            | Step::ImageRemove { .. }
            | Step::ContentRemove { .. }) => super::read::describe(s, lang),
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

/// The lifecycle steps (signals, waits, the record and directory).
fn describe_lifecycle(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::Signal { pid, signal, .. } => {
            let short = signal.trim_start_matches("SIG");
            let why = match short {
                "TERM" => l(
                    "SIGTERM asks the program to end, letting it clean up first. The container's first process is PID 1 of its PID namespace, and the kernel delivers to PID 1 only signals it installed a handler for: a program without one ignores it, and stop will need SIGKILL once the timeout passes.",
                    "SIGTERM 请程序结束，让它先做完清理。容器的第一个进程是它 PID 命名空间里的 1 号进程，内核只把 1 号进程自己装了处理函数的信号交给它：没有处理函数的程序会忽略它，超时之后 stop 只好用 SIGKILL。",
                ),
                "KILL" => l(
                    "SIGKILL cannot be caught or ignored: the kernel ends the process at once. It is PID 1 of the container's PID namespace, so the kernel kills every other process of the namespace with it.",
                    "SIGKILL 无法被捕获或忽略：内核立刻结束这个进程。它是容器 PID 命名空间里的 1 号进程，所以内核会把这个命名空间里的其他进程一起杀掉。",
                ),
                _ => l(
                    "The signal goes to the container's first process (PID 1 inside); what happens next is up to the program's handler for it (PID 1 ignores signals it has no handler for).",
                    "信号发给容器的第一个进程（容器里的 1 号进程）；接下来怎样由程序自己的处理函数决定（1 号进程会忽略没有处理函数的信号）。",
                ),
            };
            let check = l(
                &format!(" glassbox checks first that process {pid} still started when its record says (/proc/{pid}/stat field 22), so a reused PID is never hit."),
                &format!(" glassbox 先核对进程 {pid} 的启动时间与记录一致（/proc/{pid}/stat 第 22 个字段），绝不会误伤一个被复用的 PID。"),
            );
            Description {
                title: l(
                    &format!("send {signal} to process {pid}"),
                    &format!("向进程 {pid} 发送 {signal}"),
                ),
                why: why + &check,
                shell: format!("kill -{short} {pid}"),
                syscall: format!("kill({pid}, {signal})"),
                look: format!("grep -E 'State|SigCgt' /proc/{pid}/status"),
            }
        }
        Step::WaitExit { pid, timeout_s, .. } => Description {
            title: l(
                &format!("wait up to {timeout_s} s for process {pid} to exit"),
                &format!("最多等 {timeout_s} 秒，等进程 {pid} 退出"),
            ),
            why: l(
                "This command is not the container's parent (its supervisor is), so it cannot waitpid: it watches /proc until the process is gone (or a zombie left for its parent to reap), or the time is up.",
                "这个命令不是容器的父进程（它的监管进程才是），所以不能 waitpid：它盯着 /proc，直到进程消失（或者成了等父进程回收的僵尸），或者时间到了。",
            ),
            shell: format!("timeout {timeout_s} tail --pid={pid} -f /dev/null"),
            syscall: format!("read /proc/{pid}/stat, polled (state, start time)"),
            look: format!("ls -d /proc/{pid}"),
        },
        Step::RecordCreate { dir, record, json } => Description {
            title: {
                // The record in a few words: the rest is config and state.
                let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
                let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                let id = field("id");
                let command: Vec<String> = v
                    .get("command")
                    .and_then(|c| c.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let command = shell_join(&command);
                l(
                    &format!(
                        "make container {} ({}) and write its record: image {}, command {command}",
                        field("name"),
                        short(&id),
                        field("image")
                    ),
                    &format!(
                        "创建容器 {}（{}）并写入它的记录：镜像 {}，命令 {command}",
                        field("name"),
                        short(&id),
                        field("image")
                    ),
                )
            },
            why: l(
                "All glassbox knows of a container is this JSON file: its config (command, environment, hostname, settings) and its state. It is written here once, under the store lock so the name stays unique; later commands only change it, and nothing ever re-creates it, so a removed container stays removed.",
                "glassbox 对一个容器的全部了解就是这个 JSON 文件：它的配置（命令、环境变量、主机名、各项设置）和状态。它只在这里写一次，并且持有存储锁，保证名字不重复；之后的命令只修改它，谁也不会重新创建它，所以删掉的容器不会复活。",
            ),
            // A quoted here-document: the record's bytes, no quoting to undo,
            // the JSON alone on its own line below the command.
            shell: format!("mkdir {} && cat > {} <<'EOF'\n{json}\nEOF", q(dir), q(record)),
            syscall: "mkdir(2); open(O_CREAT) + write(2) + rename(2)".into(),
            look: format!("cat {}", q(record)),
        },
        Step::DirCreate { dirs } => Description {
            title: l("make the overlay directories (upper, work, merged)", "创建 overlay 目录（upper、work、merged）"),
            why: l(
                "upper will receive every change the container makes, work is overlayfs's scratch space, and merged is where the overlay is mounted, inside the container's own mount namespace.",
                "upper 将接收容器做的所有改动，work 是 overlayfs 的工作区，merged 是 overlay 的挂载点（挂在容器自己的 mount 命名空间里）。",
            ),
            shell: format!("mkdir {}", dirs.iter().map(|d| q(d)).collect::<Vec<_>>().join(" ")),
            syscall: "mkdir(2)".into(),
            look: dirs
                .first()
                .and_then(|d| d.parent())
                .map(|d| format!("ls -l {}", q(d)))
                .unwrap_or_default(),
        },
        Step::EtcWrite {
            dir,
            hostname,
            hosts,
            resolv,
        } => {
            let resolv_cmd = match resolv {
                Some(text) => format!(
                    "printf '%s\\n' {} > {}",
                    text.lines().map(shell_quote).collect::<Vec<_>>().join(" "),
                    q(&dir.join("resolv.conf"))
                ),
                None => format!(
                    "grep -v -E '^[[:space:]]*nameserver.*( 127[.]| ::1)' /etc/resolv.conf > {}",
                    q(&dir.join("resolv.conf"))
                ),
            };
            let hosts_cmd = match hosts {
                // One quoted word per line: one line of narration, the same bytes.
                Some(text) => format!(
                    "printf '%s\\n' {} > {}",
                    text.lines().map(shell_quote).collect::<Vec<_>>().join(" "),
                    q(&dir.join("hosts"))
                ),
                None => format!("cp /etc/hosts {}", q(&dir.join("hosts"))),
            };
            Description {
                title: l("write the container's hostname, hosts and resolv.conf", "写入容器的 hostname、hosts 和 resolv.conf"),
                why: l(
                    "These files are written outside the image and bound over the container's /etc when it starts, so each container has its own without changing the image. resolv.conf is the host's without loopback resolvers (127.x, ::1), which inside the container would point at the container itself.",
                    "这些文件写在镜像之外，容器启动时再绑定挂载到它的 /etc 上；每个容器都有自己的一份，镜像不变。resolv.conf 取自宿主机，但去掉了回环地址的解析器（127.x、::1），它们在容器里会指向容器自己。",
                ),
                shell: format!(
                    "printf '%s\\n' {} > {}; {hosts_cmd}; {resolv_cmd}",
                    shell_quote(hostname),
                    q(&dir.join("hostname")),
                ),
                syscall: "open(O_CREAT|O_TRUNC) + write(2)".into(),
                look: format!("cat {}", q(&dir.join("hosts"))),
            }
        }
        Step::RecordWrite { record, fields } => {
            let status = fields
                .iter()
                .find(|(k, _)| k == "status")
                .map(|(_, v)| v.trim_matches('"').to_string());
            let list = fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sed = fields
                .iter()
                .map(|(k, v)| {
                    format!("-e {}", shell_quote(&format!("s|\"{k}\": *[^,}}]*|\"{k}\": {v}|")))
                })
                .collect::<Vec<_>>()
                .join(" ");
            Description {
                title: match &status {
                    Some(s) => l(
                        &format!("record the container as {s}"),
                        &format!("在记录里把容器标记为 {s}"),
                    ),
                    None if fields.iter().any(|(k, _)| k == "name") => {
                        let name = fields
                            .iter()
                            .find(|(k, _)| k == "name")
                            .map(|(_, v)| v.trim_matches('"').to_string())
                            .unwrap_or_default();
                        l(
                            &format!("record the container's new name, {name}"),
                            &format!("在记录里写入容器的新名字 {name}"),
                        )
                    }
                    None if fields.iter().any(|(k, _)| k == "manually_stopped") => l(
                        "record that the user stopped the container (no restart policy may undo it)",
                        "在记录里写明是用户停止了容器（重启策略不会把它再拉起来）",
                    ),
                    None => l("update the container's record", "更新容器的记录"),
                },
                why: l(
                    &format!("The record's state changes ({list}). It is written to a temporary file in the container's directory and renamed over the record, so a reader sees the old or the new record, never half of one; and since the directory is never re-created, a container removed meanwhile stays removed."),
                    &format!("记录里的状态改变（{list}）。先写到容器目录里的临时文件，再 rename 覆盖记录，读者看到的要么是旧的、要么是新的，绝不会是半个；目录不会被重新创建，所以期间被删除的容器不会复活。"),
                ),
                shell: format!("sed -i {sed} {}", q(record)),
                syscall: "open(\".tmp-PID\", O_CREAT) + write(2) + rename(2) over the record".into(),
                look: format!("cat {}", q(record)),
            }
        }
        Step::DirRemove { dir, keep } => Description {
            title: l("remove the container's files, all but its record", "删除容器的文件，只留下它的记录"),
            why: l(
                "Its writable layer (upper), the overlay's work and mount point, its log and its /etc files go. The record stays until the very end and says removing, so a removal interrupted here is finished by the next rm -f.",
                "它的可写层（upper）、overlay 的 work 目录和挂载点、日志和 /etc 文件都删掉。记录留到最后，并写着 removing，所以在这里被打断的删除，下一次 rm -f 会接着做完。",
            ),
            shell: format!(
                "find {} -mindepth 1 -maxdepth 1 ! -name {} -exec rm -rf {{}} +",
                q(dir),
                shell_quote(keep)
            ),
            syscall: "unlinkat(2), rmdir(2)".into(),
            look: format!("ls -A {}", q(dir)),
        },
        Step::RecordRemove { record, dir } => Description {
            title: l("remove the record, then the container's directory", "删除记录，再删除容器目录"),
            why: l(
                "The record goes last: until this step any interrupted removal leaves a record that the next rm -f finishes; a directory left without its record is removed by the next command that lists containers.",
                "记录最后才删：在这一步之前，任何被打断的删除都会留下记录，下一次 rm -f 会把它做完；只剩目录而没有记录的，下一个列出容器的命令会把它删掉。",
            ),
            shell: format!("rm {} && rmdir {}", q(record), q(dir)),
            syscall: "unlink(2); rmdir(2)".into(),
            look: dir
                .parent()
                .map(|d| format!("ls {}", q(d)))
                .unwrap_or_default(),
        },
        _ => unreachable!("not a lifecycle step"),
    }
}

// ---- file and image steps (commit, cp, export) ----------------------------

/// How a shell reaches the container's root: directly (/proc/PID/root of a
/// running container), or inside a mount namespace of its own where the
/// overlay is mounted first, as glassbox's helper does for a stopped one.
fn in_rootfs(
    rootfs: &Path,
    helper_mount: Option<&str>,
    ro: bool,
    binds: &[super::HelperBind],
    cmd: &str,
) -> String {
    match helper_mount {
        None => cmd.to_string(),
        Some(opts) => {
            // Read-only unless the helper has an upper dir (cp with volumes).
            let ro = if ro && !opts.contains("upperdir=") {
                "ro,"
            } else {
                ""
            };
            let binds: String = binds
                .iter()
                .map(|b| {
                    let at = under(rootfs, &b.destination);
                    let remount = if b.rw {
                        String::new()
                    } else {
                        format!(" && mount -o remount,bind,ro {}", shell_quote(&at))
                    };
                    format!(
                        "mount --rbind {} {}{remount} && ",
                        q(&b.source),
                        shell_quote(&at)
                    )
                })
                .collect();
            let inner = format!(
                "mount --make-rprivate / && mount -t overlay overlay -o {} {} && {binds}{cmd}",
                shell_quote(&format!("{ro}{opts}")),
                q(rootfs)
            );
            format!("unshare --mount sh -c {}", shell_quote(&inner))
        }
    }
}

/// A container path below its root as the host names it (`/proc/123/root/etc/x`).
fn under(rootfs: &Path, path: &str) -> String {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        p(rootfs)
    } else {
        p(&rootfs.join(rel))
    }
}

fn reached_via(rootfs: &Path, helper: bool, binds: bool, lang: Lang) -> String {
    if helper {
        let mut s = lang.pick(
            &format!(" The container is not running, so a forked helper makes a mount namespace of its own and mounts the container's overlay on {} there: nothing appears in the host's mount table, and it is gone when the helper exits.", p(rootfs)),
            &format!(" 容器没有在运行，所以 glassbox fork 出一个辅助进程，让它进入自己的 mount 命名空间，在那里把容器的 overlay 挂到 {} 上：宿主机的挂载表里什么也看不到，辅助进程一退出它就消失。", p(rootfs)),
        )
        .to_string();
        if binds {
            s += lang.pick(
                " The container's volumes and bind mounts are bound at their mount points there too (resolved inside its root, read-only ones read-only), as docker does, so a path under one is the volume's, not the upper dir's.",
                " 容器的卷和绑定挂载也在那里绑定到各自的挂载点（在它的根里解析，只读的仍然只读），和 docker 一样，所以挂载点下的路径属于卷，而不是 upper 目录。",
            );
        }
        s
    } else {
        lang.pick(
            &format!(" The container is running, so its root is reached through {}: the kernel's view of its mount namespace's root, from the host.", p(rootfs)),
            &format!(" 容器正在运行，所以从宿主机经由 {} 进入它的根目录：这是内核给出的、它的 mount 命名空间里的根。", p(rootfs)),
        )
        .to_string()
    }
}

fn describe_files(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::LayerTar { upper, tar } => {
            // Whiteouts (0:0 character devices) become empty `.wh.NAME` files
            // in a copy, which tar then packs: what a layer says about deletions.
            let convert = "for w; do rm \"$w\" && : > \"${w%/*}/.wh.${w##*/}\"; done";
            Description {
                title: l("read the container's upper dir as a layer tar", "把容器的 upper 目录读成一个层的 tar 包"),
                why: l(
                    &format!("Everything the container changed is in its upper dir {}, and only there: the image's layers below it never change. A layer is a tar of exactly those changes. A file the container deleted is an overlay whiteout (a 0:0 character device) in the upper dir; in a layer it becomes an empty file named .wh.NAME (a directory that hides all below it gets .wh..wh..opq), the form every image tool understands. The empty hostname, hosts and resolv.conf glassbox made as mount points are left out: they are not the container's changes.", p(upper)),
                    &format!("容器改动的一切都在它的 upper 目录 {} 里，也只在那里：下面镜像的各层从来不变。一个层就是这些改动的 tar 包。容器删除的文件在 upper 目录里是一个 overlay whiteout（0:0 的字符设备）；在层里它变成一个名为 .wh.名字 的空文件（遮住下面全部内容的目录会多一个 .wh..wh..opq），所有镜像工具都认这种写法。glassbox 为绑定挂载建的空 hostname、hosts、resolv.conf 不算容器的改动，不打进去。", p(upper)),
                ),
                shell: format!(
                    "t=$(mktemp -d) && cp -a {}/. \"$t\" && find \"$t\" -type c -exec sh -c {} sh {{}} + && tar -C \"$t\" -cf {} . && rm -rf \"$t\"",
                    q(upper),
                    shell_quote(convert),
                    q(tar)
                ),
                syscall: "openat(2) O_NOFOLLOW, fstat(2), getxattr(\"trusted.overlay.opaque\"), read(2), write(2)".into(),
                look: format!("tar -tvf {}", q(tar)),
            }
        }
        Step::BlobWrite {
            what,
            source,
            digest,
            size,
            blob,
        } => {
            let (en_what, zh_what) = match what.as_str() {
                "layer" => ("the layer", "层"),
                "config" => ("the image config", "镜像配置"),
                _ => (what.as_str(), what.as_str()),
            };
            Description {
                title: l(
                    &format!("store {en_what} as blob {}", short(digest.trim_start_matches("sha256:"))),
                    &format!("把{zh_what}存成 blob {}", short(digest.trim_start_matches("sha256:"))),
                ),
                why: l(
                    &format!("The store keeps content by its sha256 digest ({size} bytes, {digest}): a blob's name is the hash of its bytes, so it cannot change without changing its name, and identical content is stored once. It is written to a temporary file, checked, and renamed into blobs/sha256/."),
                    &format!("存储按 sha256 摘要保存内容（{size} 字节，{digest}）：blob 的名字就是它内容的哈希，内容一变名字就变，相同的内容只存一份。先写到临时文件，校验后再 rename 进 blobs/sha256/。"),
                ),
                shell: format!(
                    "sha256sum {} && cp {} {}",
                    q(source),
                    q(source),
                    q(blob)
                ),
                syscall: "open(O_CREAT) + write(2) + fsync(2) + rename(2)".into(),
                look: format!("sha256sum {}", q(blob)),
            }
        }
        Step::ImageAdd {
            manifest,
            manifest_blob,
            descriptor,
            reference,
            index,
        } => {
            const REF: &str = "org.opencontainers.image.ref.name";
            // The name moves to the new manifest: an image that had it keeps
            // its other names, or becomes <none>.
            let program = match reference {
                Some(_) => format!(
                    ".manifests |= (map(if .annotations.\"{REF}\" == $m.annotations.\"{REF}\" then del(.annotations.\"{REF}\") else . end) + [$m])"
                ),
                None => ".manifests += [$m]".to_string(),
            };
            let idx = q(index);
            let name = reference.clone().unwrap_or_else(|| "<none>".into());
            Description {
                title: l(
                    &format!("write the manifest and name the image {name} in index.json"),
                    &format!("写入清单，并在 index.json 里把镜像命名为 {name}"),
                ),
                why: l(
                    "The manifest lists the config and the layers, lowest first: the parent image's layers, then the new one. It is stored as a blob too, and index.json (the OCI image layout's list of images) gets a descriptor of it: from then on the image exists and its name points at it. Its layer was unpacked just before, so a container can use it at once.",
                    "清单列出配置和各层（从最底层开始）：父镜像的各层，再加上新的一层。它也存成一个 blob，再在 index.json（OCI 镜像布局里的镜像列表）里加一个指向它的描述符：从这时起镜像才存在，名字也指向它。它的层刚刚已经解包好，容器马上就能用。",
                ),
                shell: format!(
                    "cp {} {} && jq --argjson m {} {} {idx} > {idx}.tmp && mv {idx}.tmp {idx}",
                    q(manifest),
                    q(manifest_blob),
                    shell_quote(descriptor),
                    shell_quote(&program),
                ),
                syscall: "open(O_CREAT) + write(2) + rename(2) (blob, then index.json under the store lock)".into(),
                look: format!("cat {idx}"),
            }
        }
        Step::CopyIn {
            src,
            dest,
            rootfs,
            helper_mount,
            tar,
            binds,
        } => {
            let target = under(rootfs, dest);
            let cmd = if *tar {
                format!("tar -C {} -xf -", shell_quote(&target))
            } else {
                format!("cp -a {} {}", q(src), shell_quote(&target))
            };
            let from = if *tar { "-".to_string() } else { p(src) };
            Description {
                title: l(
                    &format!("copy {from} into the container at {dest}"),
                    &format!("把 {from} 复制进容器的 {dest}"),
                ),
                why: l(
                    "The container's files are ordinary files on this host: a copy into it lands in its upper dir, like any write the container makes itself. glassbox resolves the destination as the container would (symlinks, even absolute ones, stay inside its root; .. stops there) with openat2(RESOLVE_IN_ROOT), and makes every file relative to a directory fd, so a link inside the container cannot send the copy to the host.",
                    "容器的文件就是这台主机上的普通文件：复制进去的东西落在它的 upper 目录里，和容器自己写的一样。glassbox 像容器自己那样解析目标路径（符号链接，即使是绝对路径，也留在它的根里；.. 到根为止），用的是 openat2(RESOLVE_IN_ROOT)，并且每个文件都相对于一个目录 fd 创建，所以容器里的链接没法把复制引到宿主机上。",
                ) + &reached_via(rootfs, helper_mount.is_some(), !binds.is_empty(), lang),
                shell: in_rootfs(rootfs, helper_mount.as_deref(), false, binds, &cmd),
                syscall: "openat2(RESOLVE_IN_ROOT), openat(O_CREAT|O_EXCL|O_NOFOLLOW), mkdirat(2), fchmod(2)".into(),
                look: match helper_mount {
                    None => format!("ls -la {}", shell_quote(&target)),
                    Some(_) => l("glassbox diff CONTAINER   # the new files are in its upper dir", "glassbox diff 容器   # 新文件在它的 upper 目录里"),
                },
            }
        }
        Step::CopyOut {
            src,
            dest,
            rootfs,
            helper_mount,
            follow_link,
            binds,
        } => {
            let source = under(rootfs, src);
            let cmd = match dest {
                Some(d) => format!(
                    "cp -a{} {} {}",
                    if *follow_link { "L" } else { "" },
                    shell_quote(&source),
                    q(d)
                ),
                None => {
                    let parent = Path::new(&source)
                        .parent()
                        .map(p)
                        .unwrap_or_else(|| "/".into());
                    let name = Path::new(&source)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| ".".into());
                    format!(
                        "tar -C {}{} -cf - {}",
                        shell_quote(&parent),
                        if *follow_link { " -h" } else { "" },
                        shell_quote(&name)
                    )
                }
            };
            let to = dest.as_deref().map(p).unwrap_or_else(|| "-".into());
            Description {
                title: l(
                    &format!("copy {src} out of the container to {to}"),
                    &format!("把容器里的 {src} 复制到 {to}"),
                ),
                why: l(
                    "The container's files are ordinary files on this host, seen through its merged root. glassbox opens the source as the container would see it (symlinks resolved inside its root with openat2(RESOLVE_IN_ROOT), never on the host) and reads every file through an fd, so a link the container made cannot make glassbox read a host file.",
                    "容器的文件就是这台主机上的普通文件，通过它合并后的根目录可以看到。glassbox 像容器自己那样打开源路径（符号链接用 openat2(RESOLVE_IN_ROOT) 在它的根里解析，绝不在宿主机上解析），每个文件都通过 fd 读取，所以容器里做的链接没法让 glassbox 读到宿主机的文件。",
                ) + &reached_via(rootfs, helper_mount.is_some(), !binds.is_empty(), lang),
                shell: in_rootfs(rootfs, helper_mount.as_deref(), true, binds, &cmd),
                syscall: "openat2(RESOLVE_IN_ROOT), openat(O_NOFOLLOW), read(2); open(O_CREAT), write(2) on the host".into(),
                look: match dest {
                    Some(d) => format!("ls -la {}", q(d)),
                    None => String::new(),
                },
            }
        }
        Step::ExportTar {
            rootfs,
            helper_mount,
            output,
        } => {
            let out = output.as_deref().map(q).unwrap_or_else(|| "-".into());
            let cmd = format!("tar -C {} --one-file-system -cf {out} .", q(rootfs));
            Description {
                title: l(
                    &format!("write the container's whole filesystem as a tar to {out}"),
                    &format!("把容器的整个文件系统打成 tar 包写到 {out}"),
                ),
                why: l(
                    "export flattens the container: its upper dir is put on top of the image's layers as one more read-only layer, and the merged tree is packed as one tar, without layers or image config (import makes an image of it again, with a single layer). A forked helper mounts that overlay read-only in a mount namespace of its own, so nothing can change under the tar and nothing appears on the host; it does not descend into other filesystems.",
                    "export 把容器压平：它的 upper 目录作为多出来的一个只读层放在镜像各层之上，合并后的目录树打成一个 tar 包，不带分层，也不带镜像配置（import 可以把它再变成只有一层的镜像）。glassbox fork 出的辅助进程在自己的 mount 命名空间里以只读方式挂载这个 overlay，所以打包时谁也改不了里面的东西，宿主机上也看不到这个挂载；它不会进入别的文件系统。",
                ),
                shell: in_rootfs(rootfs, Some(helper_mount), true, &[], &cmd),
                syscall: "unshare(CLONE_NEWNS), mount(\"overlay\", MS_RDONLY), openat(O_NOFOLLOW), read(2), write(2)".into(),
                look: match output {
                    Some(o) => format!("tar -tvf {}", q(o)),
                    None => String::new(),
                },
            }
        }
        _ => unreachable!("not a file or image step"),
    }
}

#[cfg(test)]
mod quoting_tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn lifecycle_steps_are_explained_in_both_languages_with_real_pids_and_paths() {
        let dir = PathBuf::from("/var/lib/glassbox/containers/abc");
        let steps = [
            Step::Signal {
                pid: 12345,
                pid_start: 1,
                signal: "SIGTERM".into(),
            },
            Step::WaitExit {
                pid: 12345,
                pid_start: 1,
                timeout_s: 10,
            },
            Step::RecordCreate {
                dir: dir.clone(),
                record: dir.join("container.json"),
                json: "{}".into(),
            },
            Step::DirCreate {
                dirs: vec![dir.join("upper")],
            },
            Step::EtcWrite {
                dir: dir.clone(),
                hostname: "box".into(),
                hosts: None,
                resolv: None,
            },
            Step::RecordWrite {
                record: dir.join("container.json"),
                fields: vec![("status".into(), "\"exited\"".into())],
            },
            Step::DirRemove {
                dir: dir.clone(),
                keep: "container.json".into(),
            },
            Step::RecordRemove {
                record: dir.join("container.json"),
                dir: dir.clone(),
            },
        ];
        for step in &steps {
            let (en, zh) = (step.describe(Lang::En), step.describe(Lang::Zh));
            assert!(!en.title.is_empty() && !en.why.is_empty() && !en.shell.is_empty());
            assert_ne!(en.title, zh.title, "{}", step.kind());
            assert_ne!(en.why, zh.why, "{}", step.kind());
            assert_eq!(en.shell, zh.shell, "{}", step.kind());
        }
        assert_eq!(steps[0].describe(Lang::En).shell, "kill -TERM 12345");
        assert_eq!(
            steps[1].describe(Lang::En).shell,
            "timeout 10 tail --pid=12345 -f /dev/null"
        );
        assert_eq!(
            steps[7].describe(Lang::En).shell,
            "rm /var/lib/glassbox/containers/abc/container.json && rmdir /var/lib/glassbox/containers/abc"
        );
    }

    #[test]
    fn words_are_quoted_only_when_a_shell_would_change_them() {
        assert_eq!(shell_quote("echo"), "echo");
        assert_eq!(shell_quote("/bin/sh"), "/bin/sh");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(
            shell_join(&["sh", "-c", "echo \"a b\"; echo c"]),
            "sh -c 'echo \"a b\"; echo c'"
        );
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
