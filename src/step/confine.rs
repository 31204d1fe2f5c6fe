//! What the confinement steps mean, in English and Chinese (see
//! `describe.rs` for the other steps).

use super::{Description, Lang, Step};

fn p(path: &std::path::Path) -> String {
    path.display().to_string()
}

/// The calls docker's default filter refuses that people ask about most.
const BLOCKED_EXAMPLES: &str = "mount, umount2, pivot_root, unshare and setns (new namespaces), clone with namespace flags, kexec_load, bpf, keyctl/add_key, init_module, reboot, swapon, acct, open_by_handle_at";
const BLOCKED_EXAMPLES_ZH: &str = "mount、umount2、pivot_root、unshare 和 setns（新命名空间）、带命名空间标志的 clone、kexec_load、bpf、keyctl/add_key、init_module、reboot、swapon、acct、open_by_handle_at";

/// runc's masked paths that are directories (the rest are files).
const MASKED_DIRS: [&str; 4] = [
    "/proc/acpi",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// cgroup v2: the allow list as an eBPF program attached to the cgroup.
fn describe_device_program(dir: &str, deny_all: bool, allow: &[String], lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    if !deny_all {
        return Description {
            title: l("--privileged: no device program on the cgroup", "--privileged：cgroup 上不挂设备程序"),
            why: l(
                "On cgroup v2 devices are limited by an eBPF program attached to the cgroup. A privileged container may open every device (`a *:* rwm`), so, as runc on v2, none is attached.",
                "在 cgroup v2 上，设备由挂在 cgroup 上的 eBPF 程序限制。特权容器可以打开所有设备（`a *:* rwm`），所以和 runc 在 v2 上一样，不挂任何程序。",
            ),
            shell: "# nothing to do".into(),
            syscall: "(none)".into(),
            look: format!("bpftool cgroup show {dir}   # no device program"),
        };
    }
    let count = crate::confine::devices::program(deny_all, allow)
        .map(|p| p.len())
        .unwrap_or(0);
    let rules = allow.join(", ");
    Description {
        title: l(
            "allow only the harmless devices: attach an eBPF device program to the cgroup",
            "只允许无害的设备：给 cgroup 挂上 eBPF 设备程序",
        ),
        why: l(
            &format!("cgroup v2 has no devices.allow: on every mknod and every open of a device node the kernel runs the BPF_PROG_TYPE_CGROUP_DEVICE programs attached to the process's cgroup, and refuses with EPERM when one returns 0. glassbox writes runc's allow list as such a program ({count} instructions): one block per rule compares the device type, the access asked for (r, w, m), the major and the minor, and returns 1 when all match; anything else falls through to `return 0`. Allowed: {rules}. So `mknod /dev/sda b 8 0` works (m is allowed for every device) and opening it fails: the host's disks, /dev/kmsg and /dev/mem stay out of reach. The cgroup holds the program; it goes away with the cgroup."),
            &format!("cgroup v2 没有 devices.allow：每次 mknod、每次打开设备节点时，内核都会运行挂在进程所属 cgroup 上的 BPF_PROG_TYPE_CGROUP_DEVICE 程序，只要有一个返回 0 就以 EPERM 拒绝。glassbox 把 runc 的白名单写成这样一个程序（{count} 条指令）：每条规则一段，比较设备类型、请求的访问（r、w、m）、主设备号和次设备号，全部相符就返回 1；其余情况落到最后的 `return 0`。允许的是：{rules}。于是 `mknod /dev/sda b 8 0` 能成功（任何设备都允许 m），打开它却失败：宿主机的磁盘、/dev/kmsg、/dev/mem 都碰不到。程序由 cgroup 持有，随 cgroup 一起消失。"),
        ),
        shell: format!("# no shell command takes raw BPF instructions; with the program compiled into devices.o: bpftool prog load devices.o /sys/fs/bpf/gb_dev type cgroup/dev && bpftool cgroup attach {dir} device pinned /sys/fs/bpf/gb_dev multi && rm /sys/fs/bpf/gb_dev"),
        syscall: format!("fd = bpf(BPF_PROG_LOAD, {{prog_type = BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt = {count}, license = \"Apache\"}}); bpf(BPF_PROG_ATTACH, {{target_fd = open(\"{dir}\"), attach_bpf_fd = fd, attach_type = BPF_CGROUP_DEVICE, attach_flags = BPF_F_ALLOW_MULTI}})"),
        look: format!("bpftool cgroup show {dir}   # a device program named glassbox_dev"),
    }
}

pub fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::DeviceCgroup { paths, deny_all, allow, version } => {
            let dir = paths.first().map(|d| p(d)).unwrap_or_default();
            if *version == 2 {
                return describe_device_program(&dir, *deny_all, allow, lang);
            }
            let mut cmds = Vec::new();
            if *deny_all {
                cmds.push(format!("echo a > {dir}/devices.deny"));
            }
            cmds.extend(allow.iter().map(|r| format!("echo '{r}' > {dir}/devices.allow")));
            Description {
                title: l("allow only the harmless devices in the cgroup", "在 cgroup 里只允许无害的设备"),
                why: l(
                    if *deny_all {
                        "Even with CAP_MKNOD, a node in /dev is only a name: the kernel asks the devices cgroup whether the container may open it. Denying all, then allowing mknod (m) of anything but reads and writes only of null, zero, full, random, urandom, tty, console, ptmx, the pseudo-terminals and tun, means `mknod /dev/sda b 8 0` works and opening it fails with EPERM: the host's disks, /dev/kmsg and /dev/mem stay out of reach."
                    } else {
                        "--privileged: the container may open every device (`a *:* rwm`), as docker's privileged containers can."
                    },
                    if *deny_all {
                        "即使有 CAP_MKNOD，/dev 里的节点也只是个名字：打开它时内核要问设备 cgroup 容器是否有权。先全部拒绝，再允许 mknod（m）任何设备，但只允许读写 null、zero、full、random、urandom、tty、console、ptmx、伪终端和 tun，于是 `mknod /dev/sda b 8 0` 能成功，打开它却得到 EPERM：宿主机的磁盘、/dev/kmsg、/dev/mem 都碰不到。"
                    } else {
                        "--privileged：容器可以打开所有设备（`a *:* rwm`），和 docker 的特权容器一样。"
                    },
                ),
                shell: cmds.join("; "),
                syscall: "write(2) to devices.deny and devices.allow (cgroup v1)".into(),
                look: format!("cat {dir}/devices.list"),
            }
        }
        Step::AddDevices { dev, devices } => Description {
            title: l("make the devices given with --device", "创建 --device 指定的设备节点"),
            why: l(
                "--device gives the container one host device: a node with the same type and major:minor in its /dev (the kernel finds the driver by number, not by name), and a rule in the device cgroup that lets it open it.",
                "--device 把宿主机的一个设备交给容器：在容器的 /dev 里创建类型和主次设备号都相同的节点（内核按设备号而不是名字找驱动），并在设备 cgroup 里加一条允许打开它的规则。",
            ),
            shell: devices
                .iter()
                .map(|d| format!("mknod -m {:o} {}{} {} {} {}", d.mode, p(dev).trim_end_matches("/dev"), d.path, d.kind, d.major, d.minor))
                .collect::<Vec<_>>()
                .join("; "),
            syscall: "mknod(2)".into(),
            look: "ls -l /proc/<pid>/root/dev".into(),
        },
        Step::RemountReadOnly { target } => Description {
            title: l("make the root filesystem read-only", "把根文件系统设为只读"),
            why: l(
                "--read-only: the container cannot write to its image's files (no new binaries, no changed configuration). /dev, /dev/shm, /dev/mqueue, /dev/pts, /proc and any --tmpfs are separate mounts and stay writable; use --tmpfs /tmp for scratch space.",
                "--read-only：容器不能写镜像里的文件（放不进新程序，也改不了配置）。/dev、/dev/shm、/dev/mqueue、/dev/pts、/proc 和 --tmpfs 都是单独的挂载，仍然可写；需要临时空间就用 --tmpfs /tmp。",
            ),
            shell: format!("mount -o remount,bind,ro {}", p(target)),
            syscall: "mount(NULL, \"/\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)".into(),
            look: "grep ' / / ' /proc/<pid>/mountinfo".into(),
        },
        Step::MaskPaths { paths } => Description {
            title: l("hide kernel files from the container", "对容器隐藏内核文件"),
            why: l(
                "Some of /proc and /sys describe or expose the whole host, not the container: /proc/kcore is the host's memory, /proc/keys its keyrings, /proc/timer_list its timers with other processes' names, /sys/firmware its firmware tables. /dev/null is bound over each file and an empty read-only tmpfs over each directory (the ones this kernel does not have are skipped).",
                "/proc 和 /sys 里有些文件描述或暴露的是整台宿主机而不是容器：/proc/kcore 是宿主机内存，/proc/keys 是它的密钥环，/proc/timer_list 是带着其他进程名字的定时器，/sys/firmware 是固件表。每个文件上绑定挂载 /dev/null，每个目录上挂一个空的只读 tmpfs（这个内核没有的就跳过）。",
            ),
            shell: paths
                .iter()
                .map(|x| {
                    if MASKED_DIRS.contains(&x.as_str()) {
                        format!("mount -t tmpfs -o ro tmpfs {x}")
                    } else {
                        format!("mount --bind /dev/null {x}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            syscall: "mount(\"/dev/null\", path, NULL, MS_BIND, NULL) or mount(\"tmpfs\", path, \"tmpfs\", MS_RDONLY, NULL)".into(),
            look: "nsenter -t <pid> -m cat /proc/kcore | wc -c   # 0".into(),
        },
        Step::ReadonlyPaths { paths } => Description {
            title: l("make kernel tunables read-only", "把内核参数设为只读"),
            why: l(
                "/proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus and /proc/fs reach the whole host's kernel, not the container's: most sysctls (vm.*, kernel.core_pattern, kernel.modprobe) are global, and a write to /proc/sysrq-trigger can reboot the machine. Each is bound onto itself and remounted read-only, nosuid, nodev, noexec, as runc does.",
                "/proc/sys、/proc/sysrq-trigger、/proc/irq、/proc/bus、/proc/fs 作用于整台宿主机的内核，而不是容器的：大多数 sysctl（vm.*、kernel.core_pattern、kernel.modprobe）是全局的，往 /proc/sysrq-trigger 写一个字符就能让机器重启。像 runc 一样，把每一个绑定挂载到自身，再以只读、nosuid、nodev、noexec 重新挂载。",
            ),
            shell: paths
                .iter()
                .map(|x| format!("mount --bind {x} {x}; mount -o remount,bind,ro,nosuid,nodev,noexec {x}"))
                .collect::<Vec<_>>()
                .join("; "),
            syscall: "mount(path, path, NULL, MS_BIND|MS_REC, NULL); mount(NULL, path, NULL, MS_REMOUNT|MS_BIND|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)".into(),
            look: "grep /proc/sys /proc/<pid>/mountinfo".into(),
        },
        Step::NoNewPrivs => Description {
            title: l("forbid gaining privileges at exec (no_new_privs)", "禁止 exec 时获得特权（no_new_privs）"),
            why: l(
                "--security-opt no-new-privileges: from now on no execve can raise privileges: setuid and setgid bits and file capabilities are ignored, for this process and every child. It cannot be undone.",
                "--security-opt no-new-privileges：从此任何 execve 都不能提升特权：setuid、setgid 位和文件能力都被忽略，对这个进程和它的所有子进程都是如此，而且无法撤销。",
            ),
            shell: "setpriv --no-new-privs sh".into(),
            syscall: "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)".into(),
            look: "grep NoNewPrivs /proc/<pid>/status   # 1".into(),
        },
        Step::SeccompLoad { profile, default_action, allowed, arches, .. } => Description {
            title: l(
                &format!("install the seccomp filter ({profile}: {allowed} system calls allowed)"),
                &format!("安装 seccomp 过滤器（{profile}：允许 {allowed} 个系统调用）"),
            ),
            why: l(
                &format!("A seccomp filter is a small BPF program (for {}) the kernel runs on every system call the container makes, before the call does anything. Calls it does not allow fail with {default_action}; it is how a root process in a container still cannot call {BLOCKED_EXAMPLES}. Capabilities open some of them again (CAP_SYS_ADMIN: mount, unshare...). clone3 gets ENOSYS so that libc falls back to clone, whose flags the filter can inspect. The filter is inherited by every child and can never be removed.", arches.join(", ")),
                &format!("seccomp 过滤器是一段小小的 BPF 程序（适用于 {}），容器每次系统调用、在调用真正执行之前，内核都先运行它。不被允许的调用返回 {default_action}；这就是为什么容器里的 root 进程仍然不能调用 {BLOCKED_EXAMPLES_ZH}。能力会重新打开其中一部分（CAP_SYS_ADMIN：mount、unshare……）。clone3 返回 ENOSYS，让 libc 退回到 clone，过滤器可以检查 clone 的参数。过滤器会被所有子进程继承，而且永远不能移除。", arches.join(", ")),
            ),
            shell: "# no shell equivalent; e.g.: docker run --security-opt seccomp=default.json".into(),
            syscall: "seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)".into(),
            look: "grep Seccomp /proc/<pid>/status   # 2 = filter".into(),
        },
        Step::CapSet { keep, set, non_root: true } => {
            let short: Vec<String> = keep.iter().map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase()).collect();
            let kept = if keep.is_empty() { l("none", "无") } else { short.join(", ") };
            Description {
                title: l(
                    &format!("bound the user's capabilities by the container's {}", keep.len()),
                    &format!("用容器的 {} 项能力给这个用户划上限", keep.len()),
                ),
                why: l(
                    &format!("The process is no longer root, so, as docker gives any non-root user, it ends with no effective or permitted capabilities: first it raises the effective set to what set_user kept in the permitted set (it needs CAP_SETPCAP for the next call), drops from the bounding set every capability the container does not have ({kept} stay: {set}), so no setuid-root or file-capability program it runs can gain more than the container's set, clears the ambient set, and capset(2)s effective, permitted and inheritable to empty."),
                    &format!("这个进程已经不是 root 了，所以和 docker 对待任何非 root 用户一样，它最后没有有效能力也没有许可能力：先把有效集提升到 set_user 保留在许可集里的能力（下一步要用 CAP_SETPCAP），再从边界集里删掉容器没有的每一项能力（剩下 {kept}：{set}），这样它运行的 setuid-root 程序或带文件能力的程序都拿不到超过容器的能力；然后清空环境集，用 capset(2) 把有效集、许可集和可继承集都设为空。"),
                ),
                shell: format!(
                    "capsh --keep=1 --uid=... --caps=cap_setpcap+ep --drop={} --caps= --   # one capsh with set_user's options: after exec a non-root shell would have lost them",
                    crate::confine::caps::NAMES
                        .iter()
                        .enumerate()
                        .filter(|(n, _)| !set.has(*n as u32))
                        .map(|(_, c)| c.to_ascii_lowercase())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                syscall: "capset(eff = prm); prctl(PR_CAPBSET_DROP, c) ∀ c ∉ keep; prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL); capset(0, 0, 0)".into(),
                look: "grep Cap /proc/<pid>/status   # CapBnd: the container's set, the others 0".into(),
            }
        }
        Step::SetUser { user } => {
            let groups = user.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(",");
            Description {
                title: l(
                    &format!("become user {} (uid {}, gid {})", user.spec, user.uid, user.gid),
                    &format!("切换成用户 {}（uid {}，gid {}）", user.spec, user.uid, user.gid),
                ),
                why: l(
                    &format!("-u {} is uid {}, gid {}, looked up in the container's own /etc/passwd and /etc/group, not the host's. Supplementary groups first, then the group, then the user: after setuid the process could no longer change them. This happens before the capabilities are cut to the container's set (as runc does it), because changing identity needs CAP_SETUID and CAP_SETGID, which --cap-drop may have taken from the container; PR_SET_KEEPCAPS keeps the permitted set across setuid, so the next step can still trim the bounding set.", user.spec, user.uid, user.gid),
                    &format!("-u {} 对应 uid {}、gid {}，查的是容器自己的 /etc/passwd 和 /etc/group，不是宿主机的。先设附加组，再设组，最后设用户：setuid 之后进程就再也改不了它们了。这一步在把能力削减到容器的集合之前做（runc 也是这个顺序），因为切换身份需要 CAP_SETUID 和 CAP_SETGID，而 --cap-drop 可能已经把它们从容器里拿掉了；PR_SET_KEEPCAPS 让许可集在 setuid 之后保留下来，下一步才能继续收紧边界集。", user.spec, user.uid, user.gid),
                ),
                shell: format!(
                    "capsh --keep=1 --groups={groups} --gid={} --uid={} --",
                    user.gid,
                    user.uid
                ),
                syscall: format!("prctl(PR_SET_KEEPCAPS, 1); setgroups([{groups}]); setgid({}); setuid({}); prctl(PR_SET_KEEPCAPS, 0)", user.gid, user.uid),
                look: "grep -E '^(Uid|Gid|Groups):' /proc/<pid>/status".into(),
            }
        }
        Step::CapSet { keep, set, .. } => {
            let short: Vec<String> = keep.iter().map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase()).collect();
            Description {
                title: l(
                    &format!("keep only {} of root's capabilities", keep.len()),
                    &format!("只保留 root 的 {} 项能力", keep.len()),
                ),
                why: l(
                    &format!("Root's power is split into capabilities; the container keeps {} ({}), docker's set: no CAP_SYS_ADMIN (mount, namespaces), CAP_NET_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_SYS_TIME... Each one not kept is dropped from the bounding set first (so no exec can bring it back), then capset(2) sets effective and permitted to the rest; inheritable and ambient are empty.", if keep.is_empty() { "none".to_string() } else { short.join(", ") }, set),
                    &format!("root 的权力被拆成一项项能力；容器保留 `{}`（{}），即 docker 的默认集合：没有 CAP_SYS_ADMIN（mount、命名空间）、CAP_NET_ADMIN、CAP_SYS_MODULE、CAP_SYS_PTRACE、CAP_SYS_TIME……不保留的能力先从边界集（bounding set）里删掉（这样任何 exec 都拿不回来），再用 capset(2) 把有效集和许可集设为剩下的；可继承集和环境集为空。", if keep.is_empty() { "无".to_string() } else { short.join(", ") }, set),
                ),
                // As root, a program exec'd by capsh gets permitted = effective = bounding set.
                shell: format!(
                    "capsh --drop={} --",
                    crate::confine::caps::NAMES
                        .iter()
                        .enumerate()
                        .filter(|(n, _)| !set.has(*n as u32))
                        .map(|(_, c)| c.to_ascii_lowercase())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                syscall: "prctl(PR_CAPBSET_DROP, c) ∀ c ∉ keep; prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL); capset(2)".into(),
                look: "grep Cap /proc/<pid>/status; capsh --decode=<CapEff>".into(),
            }
        }
        _ => unreachable!("not a confinement step"),
    }
}
