//! What the resource steps mean (limits, freezer, rlimits, OOM score), in
//! English and Chinese.

use super::{Description, Lang, Step};

/// What a limit file does, for the narration's "why".
fn file_meaning(name: &str, lang: Lang) -> &'static str {
    let l = |en: &'static str, zh: &'static str| lang.pick(en, zh);
    match name {
        "memory.limit_in_bytes" | "memory.max" => l(
            "the most memory (anonymous pages, page cache, kernel memory) the cgroup may use; past it the kernel reclaims, then its OOM killer kills a process of this cgroup only",
            "这个 cgroup 最多能用的内存（匿名页、页缓存、内核内存）；超过后内核先回收，再由 OOM killer 只在这个 cgroup 里杀一个进程",
        ),
        "memory.memsw.limit_in_bytes" => l(
            "memory plus swap together (docker's --memory-swap, twice --memory unless given)",
            "内存加交换区的总和（docker 的 --memory-swap，不指定时是 --memory 的两倍）",
        ),
        "memory.swap.max" => l(
            "swap alone (v2 counts it apart: --memory-swap minus --memory)",
            "单独的交换区（v2 分开计：--memory-swap 减去 --memory）",
        ),
        "memory.soft_limit_in_bytes" | "memory.low" => l(
            "a soft floor: under memory pressure the kernel reclaims from other cgroups before taking this one below it",
            "软下限：内存紧张时，内核先从别的 cgroup 回收，再把这个 cgroup 压到它以下",
        ),
        "memory.oom_control" => l(
            "1 disables the OOM killer: a process over the limit waits for memory instead of being killed",
            "写 1 关闭 OOM killer：超过限制的进程会等待内存，而不是被杀",
        ),
        "cpu.cfs_period_us" => l(
            "the CFS accounting period, in microseconds",
            "CFS 记账周期，单位微秒",
        ),
        "cpu.cfs_quota_us" | "cpu.max" => l(
            "CPU time the cgroup may use in each period (quota/period = CPUs; -1 or max: no cap); past it the cgroup's threads wait for the next period",
            "每个周期里这个 cgroup 能用的 CPU 时间（配额/周期 = CPU 数；-1 或 max 表示不限）；用完后它的线程要等下一个周期",
        ),
        "cpu.shares" | "cpu.weight" => l(
            "a relative weight: it only matters when CPUs are busy, and then CPU time is shared in proportion (1024 shares = weight 39 = a normal share)",
            "相对权重：只有 CPU 繁忙时才起作用，此时按比例分 CPU 时间（1024 份 = 权重 39 = 普通的一份）",
        ),
        "cpuset.cpus" => l(
            "the CPUs the cgroup's threads may run on",
            "这个 cgroup 的线程可以运行的 CPU",
        ),
        "cpuset.mems" => l(
            "the NUMA memory nodes it may allocate from",
            "它可以分配内存的 NUMA 节点",
        ),
        "pids.max" => l(
            "the most processes and threads the cgroup may have at once; fork and clone fail with EAGAIN past it (a fork bomb stops there)",
            "这个 cgroup 同时最多能有的进程和线程数；超过后 fork 和 clone 返回 EAGAIN（fork 炸弹就停在这里）",
        ),
        "blkio.weight" | "blkio.bfq.weight" | "io.weight" => l(
            "a relative weight for disk time when disks are busy",
            "磁盘繁忙时分配磁盘时间的相对权重",
        ),
        "cgroup.subtree_control" => l(
            "enables a controller for the children of this cgroup, so the container's directory gets its files (v2)",
            "为这个 cgroup 的子 cgroup 启用控制器，容器的目录里才会出现对应的文件（v2）",
        ),
        _ => "",
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::CgroupLimit { flag, writes } => {
            let mut seen = Vec::new();
            let meanings: Vec<String> = writes
                .iter()
                .map(|(f, _)| file_name(f))
                .filter(|n| {
                    let new = !seen.contains(n);
                    seen.push(n.clone());
                    new
                })
                .map(|n| format!("{n}: {}", file_meaning(&n, lang)))
                .collect();
            Description {
                title: format!("{} {flag}", l("limit", "限制")),
                why: format!(
                    "{} {}",
                    l(
                        "A limit is a number in a file of the container's cgroup: the kernel checks it on every allocation, fork or scheduling decision of every process in the cgroup, so the program cannot escape it.",
                        "限制就是容器 cgroup 里某个文件中的一个数字：cgroup 里每个进程的每次内存分配、fork、调度，内核都会检查它，所以程序逃不掉。"
                    ),
                    meanings.join("; ")
                ),
                shell: writes
                    .iter()
                    .map(|(f, v)| format!("echo {} > {}", super::shell_quote(v), f.display()))
                    .collect::<Vec<_>>()
                    .join("; "),
                syscall: "open(2) + write(2) on each cgroup file".into(),
                look: writes
                    .iter()
                    .filter(|(f, _)| file_name(f) != "cgroup.subtree_control")
                    .map(|(f, _)| format!("cat {}", f.display()))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        }
        Step::Freeze {
            path,
            frozen,
            version,
        } => {
            let dir = path.display();
            let (file, value) = match (version, frozen) {
                (1, true) => ("freezer.state", "FROZEN"),
                (1, false) => ("freezer.state", "THAWED"),
                (_, true) => ("cgroup.freeze", "1"),
                (_, false) => ("cgroup.freeze", "0"),
            };
            let wait = if *version == 1 {
                format!("until grep -qx {value} {dir}/freezer.state; do sleep 0.1; done")
            } else {
                format!(
                    "until grep -qx 'frozen {}' {dir}/cgroup.events; do sleep 0.1; done",
                    u8::from(*frozen)
                )
            };
            Description {
                title: if *frozen {
                    l("freeze the container's cgroup (pause)", "冻结容器的 cgroup（暂停）")
                } else {
                    l("thaw the container's cgroup (unpause)", "解冻容器的 cgroup（恢复）")
                },
                why: if *frozen {
                    l(
                        "The freezer stops every process of the cgroup where it stands, without a signal it could catch or notice: they keep their memory, files and sockets but get no CPU until thawed. The kernel may take a moment to reach all of them, so glassbox waits until the cgroup reports frozen.",
                        "freezer 让 cgroup 里的每个进程原地停下，不发任何它能捕获或察觉的信号：进程保留内存、文件和套接字，但在解冻前得不到 CPU。内核可能要一会儿才能冻住全部进程，所以 glassbox 等到 cgroup 报告已冻结。",
                    )
                } else {
                    l(
                        "Thawing lets the cgroup's processes run again from where they stood; for them no time passed except on the clock.",
                        "解冻后，cgroup 里的进程从停下的地方继续运行；对它们来说，除了时钟走了，什么都没发生。",
                    )
                },
                shell: format!("echo {value} > {dir}/{file}; {wait}"),
                syscall: format!("write(2) \"{value}\" to {file}"),
                look: if *version == 1 {
                    format!("cat {dir}/freezer.state")
                } else {
                    format!("cat {dir}/cgroup.events")
                },
            }
        }
        Step::SetRlimits { limits } => Description {
            title: l("set resource limits (--ulimit)", "设置资源限制（--ulimit）"),
            why: l(
                "rlimits belong to a process and are inherited across fork and exec: set in the container's first process, they bind every program it starts (nofile: open files, nproc: processes of this user). Only CAP_SYS_RESOURCE may raise a hard limit, so glassbox keeps within its own.",
                "rlimit 属于进程，经 fork 和 exec 继承：在容器的第一个进程里设置，就约束它启动的每个程序（nofile：打开的文件数，nproc：这个用户的进程数）。只有 CAP_SYS_RESOURCE 能提高硬限制，所以 glassbox 不超出自己的硬限制。",
            ),
            shell: limits
                .iter()
                .map(|u| {
                    let v = |x: i64| {
                        if x < 0 {
                            "unlimited".to_string()
                        } else {
                            x.to_string()
                        }
                    };
                    let o = u.shell_option();
                    format!("ulimit -H {o} {}; ulimit -S {o} {}", v(u.hard), v(u.soft))
                })
                .collect::<Vec<_>>()
                .join("; "),
            syscall: "setrlimit(2)".into(),
            look: "cat /proc/<pid>/limits".into(),
        },
        Step::OomScoreAdj { value } => Description {
            title: format!("{} {value}", l("set the OOM score adjustment to", "把 OOM 分数调整值设为")),
            why: l(
                "When memory runs out, the OOM killer picks the process with the highest score; oom_score_adj (-1000 to 1000) moves the container's processes up or down that list. Lowering it needs CAP_SYS_RESOURCE.",
                "内存耗尽时，OOM killer 挑分数最高的进程杀；oom_score_adj（-1000 到 1000）把容器的进程在这个名单里往前或往后挪。调低它需要 CAP_SYS_RESOURCE。",
            ),
            shell: format!("echo {value} > /proc/self/oom_score_adj"),
            syscall: "write(2) to /proc/self/oom_score_adj".into(),
            look: "cat /proc/<pid>/oom_score_adj".into(),
        },
        Step::OomKilled { counter, kills } => Description {
            title: l(
                "the OOM killer killed a process of the container",
                "OOM killer 杀掉了容器里的一个进程",
            ),
            why: format!(
                "{} ({} {} {kills})",
                l(
                    "The container used all the memory its cgroup allows and the kernel could reclaim no more, so its OOM killer chose a process inside this cgroup and sent it SIGKILL (exit 137). The memory cgroup counts each such kill; glassbox reads the counter before the cgroup is removed, and records OOMKilled.",
                    "容器用完了 cgroup 允许的全部内存，内核也回收不出更多，于是 OOM killer 在这个 cgroup 里选了一个进程，发出 SIGKILL（退出码 137）。内存 cgroup 会记下每一次这样的杀死；glassbox 在删除 cgroup 之前读这个计数，并记录 OOMKilled。",
                ),
                counter.display(),
                if lang == Lang::Zh { "中 oom_kill =" } else { "says oom_kill" },
            ),
            shell: format!("grep oom_kill {}", counter.display()),
            syscall: format!("read(2) of {}", counter.display()),
            look: "dmesg | grep -i 'killed process'".into(),
        },
        _ => unreachable!("not a resource step"),
    }
}
