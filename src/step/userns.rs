//! What the user-namespace steps (`--userns=auto`) mean, in English and
//! Chinese (see `describe.rs` for the other steps).

use super::{shell_quote, Description, Lang, Step};
use crate::confine::userns::IdRanges;
use std::path::Path;

fn q(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

pub fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::UsernsMap { pid, map } => {
            let (uid, gid) = map.root();
            // `to`: the verb for one id and for a range ("is", "are").
            let spans = |r: &IdRanges, to: (&str, &str)| {
                r.0.iter()
                    .map(|r| match r.size {
                        1 => format!("{} {} {}", r.container, to.0, r.host),
                        n => format!(
                            "{}-{} {} {}-{}",
                            r.container,
                            r.container as u64 + n as u64 - 1,
                            to.1,
                            r.host,
                            r.host as u64 + n as u64 - 1
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // The kernel takes a map in one write(2) only; bash writes its
            // printf line by line, so dd gathers every line and writes once.
            let printf = |r: &IdRanges, file: &str| {
                format!(
                    "printf '{}' | dd of=/proc/{pid}/{file} bs=4096 iflag=fullblock status=none",
                    r.text().replace('\n', "\\n")
                )
            };
            Description {
                title: l(
                    &format!("map root of process {pid}'s user namespace to host uid {uid}, gid {gid}"),
                    &format!("把进程 {pid} 的用户命名空间里的 root 映射到宿主机 uid {uid}、gid {gid}"),
                ),
                why: l(
                    &format!(
                        "The new user namespace starts with no ids at all. Each line of uid_map and gid_map maps a range of the container's ids to host ids; an id in no range does not exist there (it shows as 65534). Users, container to host: {}. Groups: {}. Root in the container is an ordinary unprivileged user on the host; were it to break out, it could touch nothing the host's users own.",
                        spans(map.uids(), ("is", "are")),
                        spans(map.gids(), ("is", "are"))
                    ),
                    &format!(
                        "新的用户命名空间一开始没有任何 id。uid_map 和 gid_map 的每一行把容器里的一段 id 映射到宿主机上的一段 id；不在任何一段里的 id 在那里不存在（显示为 65534）。用户，容器对宿主机：{}。组：{}。容器里的 root 在宿主机上只是一个普通的无特权用户；就算它逃出容器，也动不了宿主机用户的任何东西。",
                        spans(map.uids(), ("对应", "对应")),
                        spans(map.gids(), ("对应", "对应"))
                    ),
                ),
                shell: format!(
                    "{}; {}",
                    printf(map.uids(), "uid_map"),
                    printf(map.gids(), "gid_map")
                ),
                syscall: "open(2)+write(2) of /proc/PID/uid_map and /proc/PID/gid_map, every line in one write".into(),
                look: format!("cat /proc/{pid}/uid_map /proc/{pid}/gid_map"),
            }
        }
        Step::IdmapLayers {
            pid,
            layers,
            targets,
            map,
        } => {
            let lines: Vec<String> = layers
                .iter()
                .zip(targets)
                .map(|(layer, target)| {
                    format!(
                        "mkdir -p {t} && nsenter --mount=/proc/{pid}/ns/mnt mount --bind -o X-mount.idmap=/proc/{pid}/ns/user {l} {t}",
                        l = q(layer),
                        t = q(target)
                    )
                })
                .collect();
            Description {
                title: l(
                    &format!("make idmapped mounts of the image's {} layer(s)", layers.len()),
                    &format!("给镜像的 {} 个层做 idmapped 挂载", layers.len()),
                ),
                why: l(
                    &format!(
                        "The layers on disk belong to host root, who does not exist inside the new user namespace: there every file would show as nobody (65534) and root could not change a thing. Rather than copy and chown each layer, glassbox clones each layer's mount (open_tree) and marks the copy idmapped with the container's user namespace (mount_setattr MOUNT_ATTR_IDMAP): through it host uid 0 reads as uid {}, the container's root. The layers themselves are untouched and still shared. The copies go to the child over a socket.",
                        map.root().0
                    ),
                    &format!(
                        "磁盘上的层属于宿主机的 root，而这个 root 在新的用户命名空间里根本不存在：那里每个文件都会显示成 nobody（65534），root 什么都改不了。glassbox 不去复制、chown 每一层，而是克隆每一层的挂载（open_tree），再把副本标记为按容器的用户命名空间做 id 映射（mount_setattr MOUNT_ATTR_IDMAP）：经过它，宿主机的 uid 0 读出来就是 uid {}，也就是容器的 root。层本身没有改动，依然共享。这些副本通过一个 socket 交给子进程。",
                        map.root().0
                    ),
                ),
                shell: format!(
                    "{}   # {}",
                    lines.join("; "),
                    l("util-linux 2.39 or later", "需要 util-linux 2.39 或更新版本")
                ),
                syscall: "open_tree(layer, OPEN_TREE_CLONE), mount_setattr(fd, \"\", AT_EMPTY_PATH, {MOUNT_ATTR_IDMAP, userns_fd}), sendmsg(SCM_RIGHTS)".into(),
                look: format!("cat /proc/{pid}/uid_map"),
            }
        }
        Step::AttachLayers { targets } => Description {
            title: l(
                &format!("attach the {} idmapped layer(s) in the container", targets.len()),
                &format!("在容器里接上 {} 个 idmapped 层", targets.len()),
            ),
            why: l(
                "The idmapped copies arrive as file descriptors of mounts that hang nowhere yet; move_mount attaches each at a directory of the container's own mount namespace, where the overlay will find it as a lower layer. (The nsenter line of the step before does both halves.)",
                "idmapped 副本以挂载的文件描述符的形式到达，还没有挂在任何地方；move_mount 把每一个接到容器自己的 mount 命名空间里的一个目录上，overlay 会把它当作下层找到。（上一步的 nsenter 命令把两半都做了。）",
            ),
            shell: targets
                .iter()
                .map(|t| format!("# move_mount(fd, \"\", AT_FDCWD, {}, MOVE_MOUNT_F_EMPTY_PATH)", q(t)))
                .collect::<Vec<_>>()
                .join("; "),
            syscall: "recvmsg(SCM_RIGHTS), move_mount(fd, \"\", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)".into(),
            look: "cat /proc/<pid>/mountinfo".into(),
        },
        Step::UsernsRoot { map } => {
            let (uid, gid) = map.root();
            Description {
            title: l(
                &format!("become root of the user namespace (host uid {uid}, gid {gid})"),
                &format!("成为用户命名空间里的 root（宿主机 uid {uid}、gid {gid}）"),
            ),
            why: l(
                &format!(
                    "The cloned process is still host uid 0, which the new namespace does not map. Switching to uid and gid 0 of the namespace makes it host uid {uid} and gid {gid}: every file it creates from now on (in the upper dir too) belongs to that unprivileged id, and its capabilities count only for what the namespace owns.",
                ),
                &format!(
                    "克隆出来的进程仍是宿主机的 uid 0，而新命名空间没有映射它。切换到命名空间里的 uid 0 和 gid 0，它在宿主机上就成了 uid {uid}、gid {gid}：此后它创建的每个文件（包括 upper 目录里的）都属于这个无特权的 id，它的能力也只对这个命名空间拥有的东西有效。",
                ),
            ),
            shell: "unshare --user --map-root-user ...   # setresgid(0,0,0); setresuid(0,0,0)".into(),
            syscall: "setgroups(0, NULL), setresgid(0,0,0), setresuid(0,0,0)".into(),
            look: "cat /proc/<pid>/status | grep -E '^(Uid|Gid)'".into(),
        }
        }
        Step::Chown { paths, uid, gid } => Description {
            title: l(
                &format!("give the container's root (uid {uid}) its writable files"),
                &format!("把可写的文件交给容器的 root（uid {uid}）"),
            ),
            why: l(
                "The overlay's upper and work directories and the container's /etc/hostname, hosts and resolv.conf were made by host root. The container's root is another host user now, so they are handed to it: only these, never the shared image layers.",
                "overlay 的 upper、work 目录和容器的 /etc/hostname、hosts、resolv.conf 是宿主机 root 创建的。现在容器的 root 是宿主机上的另一个用户，所以把这几样交给它：只有这些，共享的镜像层一概不动。",
            ),
            shell: format!(
                "chown -h {uid}:{gid} {}",
                paths.iter().map(|p| q(p)).collect::<Vec<_>>().join(" ")
            ),
            syscall: "fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW)".into(),
            look: format!(
                "ls -ldn {}",
                paths.iter().map(|p| q(p)).collect::<Vec<_>>().join(" ")
            ),
        },
        other => unreachable!("not a user namespace step: {}", other.kind()),
    }
}
