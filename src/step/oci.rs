//! What the OCI runtime steps (`glassbox-runtime`) mean, in English and
//! Chinese (see `describe.rs` for the other steps).

use super::{shell_join, shell_quote, Description, Lang, Namespace, Step};
use std::path::Path;

fn q(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

pub fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::OciMount {
            source,
            root,
            destination,
            fstype,
            options,
        } => {
            let target = &if destination == "/" {
                root.clone()
            } else {
                root.join(destination.trim_start_matches('/'))
            };
            let opts = options.join(",");
            let bind = options.iter().any(|o| o == "bind" || o == "rbind") || fstype == "bind";
            let shell = if bind {
                let rec = if options.iter().any(|o| o == "rbind") { "--rbind" } else { "--bind" };
                let mut s = format!("mount {rec} {} {}", shell_quote(source), q(target));
                if options.iter().any(|o| o == "ro") {
                    s.push_str(&format!(" && mount -o remount,bind,ro {}", q(target)));
                }
                s
            } else {
                format!(
                    "mount -t {fstype} -o {} {} {}",
                    shell_quote(&opts),
                    shell_quote(source),
                    q(target)
                )
            };
            Description {
                title: l(
                    &format!("mount {source} ({fstype}) on {destination}"),
                    &format!("把 {source}（{fstype}）挂载到 {destination}"),
                ),
                why: l(
                    "The bundle's config.json lists the mounts the caller (podman, containerd) wants: /proc, /dev, /dev/pts, /sys, the files it prepared (/etc/hosts, /etc/resolv.conf) and volumes. The runtime makes each inside the container's new mount namespace, so the host never sees them.",
                    "bundle 的 config.json 列出了调用者（podman、containerd）要的挂载：/proc、/dev、/dev/pts、/sys、它准备好的文件（/etc/hosts、/etc/resolv.conf）和卷。运行时在容器新的挂载命名空间里逐个挂上，宿主机看不到它们。",
                ),
                shell,
                syscall: format!("mount(\"{source}\", \"{}\", \"{fstype}\", <flags from {opts}>, <data>)", target.display()),
                look: "nsenter -t <pid> -m cat /proc/self/mountinfo".into(),
            }
        }
        Step::JoinNamespace {
            namespace: Namespace::Pid,
            path,
        } => Description {
            title: l(
                &format!("join the pid namespace at {} for the container's process", path.display()),
                &format!("为容器进程加入 {} 处已有的 pid 命名空间", path.display()),
            ),
            why: l(
                "config.json names a PID namespace that already exists (a pod sharing its processes, as Kubernetes' shareProcessNamespace). setns(2) into a PID namespace does not move the caller, only where its next children are born: so the runtime joins it just before cloning the container's process, which then sees the pod's processes and is not PID 1, and goes back to its own right after.",
                "config.json 指定了一个已经存在的 PID 命名空间（共享进程的 pod，比如 Kubernetes 的 shareProcessNamespace）。setns(2) 进入 PID 命名空间并不会移动调用者本身，只决定它之后的子进程生在哪里：所以运行时在 clone 容器进程之前加入它，容器进程于是能看到 pod 里的进程，自己也不是 PID 1；clone 之后运行时再回到自己的命名空间。",
            ),
            shell: format!("nsenter --pid={} -- <the container's process>   # nsenter forks into it too", q(path)),
            syscall: format!("setns(open(\"{}\"), CLONE_NEWPID); clone(...); setns(open(\"/proc/self/ns/pid\"), CLONE_NEWPID)", path.display()),
            look: format!("readlink /proc/<pid>/ns/pid; stat -L -c %i {}", q(path)),
        },
        Step::JoinNamespace {
            namespace: Namespace::User,
            path,
        } => Description {
            title: l(
                &format!("join the user namespace at {} for the container's process", path.display()),
                &format!("为容器进程加入 {} 处已有的用户命名空间", path.display()),
            ),
            why: l(
                "config.json names a user namespace that already exists (a pod's, made by its first container): the container's new namespaces must belong to it, so it has to be entered before they are made. A process with threads may not enter a user namespace, and the runtime must keep its host privileges (cgroups, hooks), so a forked helper enters it (then the pod's PID namespace, if any) and clones the container's process with CLONE_PARENT: the container is the runtime's child, root inside is whoever that namespace maps.",
                "config.json 指定了一个已经存在的用户命名空间（pod 的第一个容器建的）：容器的新命名空间必须属于它，所以要在建它们之前进入。有多个线程的进程不能进入用户命名空间，运行时自己也得保住宿主机上的权限（cgroup、钩子），于是由一个 fork 出来的助手进程进入它（有的话再进入 pod 的 PID 命名空间），再用 CLONE_PARENT clone 出容器进程：容器仍是运行时的子进程，里面的 root 是那个命名空间映射到的用户。",
            ),
            shell: format!("nsenter --user={} --preserve-credentials -- unshare --mount --uts --ipc --net --pid --fork ...", q(path)),
            syscall: format!("fork(); setns(open(\"{}\"), CLONE_NEWUSER); clone(CLONE_PARENT|CLONE_NEWNS|...)", path.display()),
            look: format!("readlink /proc/<pid>/ns/user; stat -L -c %i {}; cat /proc/<pid>/uid_map", q(path)),
        },
        Step::JoinNamespace { namespace, path } => Description {
            title: l(
                &format!("join the {} namespace at {}", namespace.proc_name(), path.display()),
                &format!("加入 {} 处已有的 {} 命名空间", path.display(), namespace.proc_name()),
            ),
            why: l(
                "config.json may name a namespace that already exists (a pod's network namespace made by podman or a CNI plugin): the container process enters it with setns(2) instead of getting a new one.",
                "config.json 可以指定一个已经存在的命名空间（比如 podman 或 CNI 插件建好的 pod 网络命名空间）：容器进程用 setns(2) 进入它，而不是新建一个。",
            ),
            shell: format!("nsenter --{}={} ...", namespace.proc_name().replace("mnt", "mount"), q(path)),
            syscall: format!("setns(open(\"{}\"), {})", path.display(), namespace.clone_flag()),
            look: format!("readlink /proc/<pid>/ns/{}; stat -L -c %i {}", namespace.proc_name(), q(path)),
        },
        Step::SysctlSet { key, value } => Description {
            title: l(&format!("set {key} = {value} inside the container"), &format!("在容器里设置 {key} = {value}")),
            why: l(
                "Some kernel parameters belong to a namespace (net.*, kernel.shm*, fs.mqueue.*): written from inside, they change only the container's copy.",
                "有些内核参数属于某个命名空间（net.*、kernel.shm*、fs.mqueue.*）：在容器里写入，只改变容器自己的那一份。",
            ),
            shell: format!("sysctl -w {key}={}", shell_quote(value)),
            syscall: format!("write(open(\"/proc/sys/{}\"), \"{value}\")", key.replace('.', "/")),
            look: format!("nsenter -t <pid> -a sysctl {key}"),
        },
        Step::AwaitStart { fifo, .. } => Description {
            title: l("wait for `start` on the exec fifo", "在 exec fifo 上等待 `start`"),
            why: l(
                "An OCI runtime's `create` must leave the container fully set up but not yet running its program. Like runc, the process opens a FIFO for writing, which blocks until `start` opens it for reading; `create` returns meanwhile. Everything before this step is done; only exec is left.",
                "OCI 运行时的 `create` 要把容器完全准备好，但还不运行它的程序。和 runc 一样，进程以写方式打开一个 FIFO，这会一直阻塞，直到 `start` 以读方式打开它；`create` 则先返回。此步之前的一切都已完成，只剩下 exec。",
            ),
            shell: format!("echo 0 > {}   # blocks until: cat {}", q(fifo), q(fifo)),
            syscall: format!("open(\"{}\", O_WRONLY) (blocks); write(fd, \"0\", 1)", fifo.display()),
            look: format!("ls -l {}; cat /proc/<pid>/wchan", q(fifo)),
        },
        Step::ReleaseStart { fifo, pid, .. } => Description {
            title: l(
                &format!("let process {pid} run its program (open the exec fifo)"),
                &format!("让进程 {pid} 运行它的程序（打开 exec fifo）"),
            ),
            why: l(
                "`create` left the container's process blocked opening the exec FIFO for writing. `start` opens it for reading: the process's open returns, it writes one byte, which `start` reads, and it calls execve. This is all `start` does to the container: namespaces, mounts, cgroups and limits were made by `create`.",
                "`create` 让容器进程阻塞在以写方式打开 exec FIFO 上。`start` 以读方式打开它：进程的 open 返回，写入一个字节（`start` 读到它），然后调用 execve。`start` 对容器做的就只有这些：命名空间、挂载、cgroup 和限制都由 `create` 做好了。",
            ),
            shell: format!("head -c 1 {}", q(fifo)),
            syscall: format!("open(\"{}\", O_RDONLY|O_NONBLOCK); poll(); read(fd, buf, 1)", fifo.display()),
            look: format!("cat /proc/{pid}/cmdline | tr '\\0' ' '"),
        },
        Step::Hook {
            stage, path, args, ..
        } => {
            let argv = if args.is_empty() {
                vec![path.display().to_string()]
            } else {
                args.clone()
            };
            let inside = super::hook_runs_in_container(stage);
            Description {
                title: l(
                    &format!("run the {stage} hook {}", path.display()),
                    &format!("运行 {stage} 钩子 {}", path.display()),
                ),
                why: l(
                    &format!(
                        "config.json's hooks let the caller act at fixed points of the lifecycle (networking set up by a prestart hook, a GPU made available, clean-up after poststop). The runtime runs the program {} with the container's state JSON (id, pid, bundle) on its standard input; a failing prestart, createRuntime, createContainer or startContainer hook fails the container.",
                        if inside { "inside the container's namespaces" } else { "on the host" }
                    ),
                    &format!(
                        "config.json 里的钩子让调用者在生命周期的固定时刻插手（prestart 钩子配置网络、准备 GPU、poststop 之后清理）。运行时{}运行这个程序，把容器的状态 JSON（id、pid、bundle）写到它的标准输入；prestart、createRuntime、createContainer、startContainer 钩子失败时容器也失败。",
                        if inside { "在容器的命名空间里" } else { "在宿主机上" }
                    ),
                ),
                shell: format!("echo \"$STATE_JSON\" | {}", shell_join(&argv)),
                syscall: format!("fork(); execve(\"{}\", ...); waitpid()", path.display()),
                look: "cat /proc/<pid>/status".into(),
            }
        }
        _ => unreachable!("oci::describe called with a step that is not an OCI runtime step"),
    }
}
