//! What the volume steps mean, in English and Chinese (see `describe.rs`
//! for the other steps).

use super::{shell_quote, Description, Lang, Step};
use std::path::Path;

fn q(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// The volume's lock file (`volume::lock`), from its directory `volumes/<name>`.
fn lock_of(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    q(&dir.parent().unwrap_or(dir).join(".locks").join(&*name))
}

/// The mount point as a host path (for the shell equivalent): the root
/// followed by the destination.
fn at(root: &Path, destination: &str) -> String {
    q(&root.join(destination.trim_start_matches('/')))
}

/// The mount(2) flags of a tmpfs's options ("nosuid,nodev,size=1m").
fn tmpfs_flags(options: &str) -> String {
    let flags: Vec<&str> = options
        .split(',')
        .filter_map(|o| match o {
            "nosuid" => Some("MS_NOSUID"),
            "nodev" => Some("MS_NODEV"),
            "noexec" => Some("MS_NOEXEC"),
            "ro" => Some("MS_RDONLY"),
            "strictatime" => Some("MS_STRICTATIME"),
            _ => None,
        })
        .collect();
    if flags.is_empty() {
        "0".into()
    } else {
        flags.join("|")
    }
}

pub fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::VolumeCreate { name, dir, anonymous } => {
            let labels = if *anonymous {
                format!("{{\"{}\":\"\"}}", crate::volume::store::ANONYMOUS_LABEL)
            } else {
                "{}".into()
            };
            Description {
                title: if *anonymous {
                    l(
                        &format!("create anonymous volume {}", &name[..name.len().min(12)]),
                        &format!("创建匿名卷 {}", &name[..name.len().min(12)]),
                    )
                } else {
                    l(&format!("create volume {name}"), &format!("创建卷 {name}"))
                },
                why: l(
                    "A volume is a directory in glassbox's store, outside every container's overlay: what a container writes there stays when the container is removed. It is built under a temporary name and renamed into place (under the volume's lock, volumes/.locks/NAME), so it exists whole or not at all.",
                    "卷是 glassbox 存储里的一个目录，在所有容器的 overlay 之外：容器写进去的东西，容器删掉以后还在。它先用临时名字建好，再（在卷的锁 volumes/.locks/卷名 下）改名到位，所以要么完整存在，要么根本不存在。",
                ),
                shell: format!(
                    "mkdir -p -m 755 {d}/_data && echo '{{\"created_at\":\"'$(date -u +%Y-%m-%dT%H:%M:%SZ)'\",\"labels\":{labels}}}' > {d}/volume.json",
                    d = q(dir)
                ),
                syscall: "mkdir(2), open(2)+write(2), rename(2)".into(),
                look: format!("ls -la {}", q(&dir.join("_data"))),
            }
        }
        Step::HostDirCreate { path } => Description {
            title: l(
                &format!("create the host directory {}", path.display()),
                &format!("在宿主机上创建目录 {}", path.display()),
            ),
            why: l(
                "`-v /host/path:/path` binds a host directory; when it does not exist docker makes it (as root, empty) rather than fail, and so does glassbox. (`--mount type=bind` refuses a missing source instead.)",
                "`-v /宿主机路径:/路径` 绑定一个宿主机目录；它不存在时 docker 会（以 root 身份）建一个空目录而不是报错，glassbox 也一样。（`--mount type=bind` 则会拒绝不存在的源。）",
            ),
            shell: format!("mkdir -p {}", q(path)),
            syscall: "mkdir(2)".into(),
            look: format!("ls -ld {}", q(path)),
        },
        Step::VolumeRemove { name, dir, trash } => Description {
            title: l(&format!("remove volume {name}"), &format!("删除卷 {name}")),
            why: l(
                "No container record names this volume, checked under the volume's own lock (an flock on volumes/.locks/NAME, held exclusively; a `create` naming the volume holds it shared while it writes its record, so it either came first and the removal is refused, or waits and makes a fresh volume). The volume is renamed away first, still under the lock, then deleted: a removal killed half-way leaves only the renamed trash, never a half-deleted volume a container still uses.",
                "没有任何容器记录引用这个卷，这是在卷自己的锁下检查的（对 volumes/.locks/卷名 加 flock 排他锁；引用这个卷的 `create` 在写容器记录时持有共享锁，所以它要么先到、删除被拒绝，要么等着、之后建一个新卷）。先在锁内把卷改名挪开，然后再删除：删到一半被杀掉，留下的只是改过名的垃圾，绝不会是容器还在用的半个卷。",
            ),
            shell: format!(
                "flock {l} sh -c 'mv \"$1\" \"$2\" && rm -f {l}' - {} {t} && rm -rf {t}",
                q(dir),
                l = lock_of(dir),
                t = q(trash)
            ),
            syscall: "flock(2), rename(2), unlinkat(2), rmdir(2)".into(),
            look: format!("ls {}", q(dir.parent().unwrap_or(dir))),
        },
        Step::VolumeSeed { root, destination, volume } => Description {
            title: l(
                &format!("copy the image's {destination} into the empty volume"),
                &format!("把镜像里的 {destination} 复制进空卷"),
            ),
            why: l(
                "As docker does, a volume that is still empty gets the files the image has at the mount point (owners, modes and symlinks kept, symlinks never followed), so a VOLUME /data of the image starts with the image's /data. A volume that holds anything is left as it is. The emptiness check and the copy are made under the volume's lock: of two containers starting on one empty volume, one copies, the other finds it full.",
                "和 docker 一样，还是空的卷会先得到镜像在挂载点上的文件（保留属主、权限和符号链接，从不跟随符号链接），于是镜像的 VOLUME /data 一开始就是镜像里的 /data。已经有内容的卷保持原样。检查是否为空和复制都在卷的锁下进行：两个容器同时用同一个空卷启动时，一个复制，另一个看到它已经有内容。",
            ),
            shell: format!(
                "flock {} sh -c '[ -z \"$(ls -A \"$2\")\" ] && cp -a \"$1\"/. \"$2\"/' - {} {}",
                lock_of(volume.parent().unwrap_or(volume)),
                at(root, destination),
                q(volume)
            ),
            syscall: "flock(2), openat2(root, path, RESOLVE_IN_ROOT), openat(O_NOFOLLOW), read(2)/write(2), fchownat(2), fchmod(2)".into(),
            look: format!("ls -la {}", q(volume)),
        },
        Step::VolumeMount { what: kind, source, root, destination, options } => {
            let (title_en, title_zh, shell) = if kind == "tmpfs" {
                (
                    format!("mount a tmpfs on {destination}"),
                    format!("在 {destination} 挂载一个 tmpfs"),
                    format!(
                        "mkdir -p {t} && mount -t tmpfs{} tmpfs {t}",
                        if options.is_empty() { String::new() } else { format!(" -o {}", shell_quote(options)) },
                        t = at(root, destination)
                    ),
                )
            } else {
                (
                    format!("bind {} {} onto {destination}", if kind == "volume" { "the volume" } else { "the host's" }, source.display()),
                    format!("把{} {} 绑定挂载到 {destination}", if kind == "volume" { "卷" } else { "宿主机的" }, source.display()),
                    format!("mkdir -p {t} && mount --rbind {} {t}", q(source), t = at(root, destination)),
                )
            };
            Description {
                title: l(&title_en, &title_zh),
                why: l(
                    "The mount point is resolved inside the container's root, one component at a time with openat2(RESOLVE_IN_ROOT): a symlink in the image (say /data -> /etc/../../host) is followed as if the container's root were /, so it can never lead the mount onto a host path. Missing directories are made there; the mount is then made on /proc/self/fd/N of the O_PATH fd, as runc does, never by path. It lives in the container's mount namespace only.",
                    "挂载点在容器的根目录之内解析，用 openat2(RESOLVE_IN_ROOT) 一级一级地走：镜像里的符号链接（比如 /data -> /etc/../../host）会被当作容器根目录就是 / 来跟随，所以永远不会把挂载引到宿主机的路径上。缺少的目录就地创建；然后像 runc 一样，对 O_PATH 文件描述符的 /proc/self/fd/N 挂载，从不按路径挂载。这个挂载只存在于容器的挂载命名空间里。",
                ),
                shell,
                syscall: if kind == "tmpfs" {
                    format!("fd = openat2(root, dest, O_PATH, RESOLVE_IN_ROOT); mount(\"tmpfs\", \"/proc/self/fd/<fd>\", \"tmpfs\", {}, data)", tmpfs_flags(options))
                } else {
                    "fd = openat2(root, dest, O_PATH, RESOLVE_IN_ROOT); mount(source, \"/proc/self/fd/<fd>\", NULL, MS_BIND|MS_REC, NULL)".into()
                },
                look: "grep ' /' /proc/<pid>/mountinfo".into(),
            }
        }
        Step::VolumeRemountRo { root, destination } => Description {
            title: l(
                &format!("make {destination} read-only"),
                &format!("把 {destination} 设为只读"),
            ),
            why: l(
                "A bind mount starts with the flags of what it shows; read-only is a second call, a remount of that bind alone (the rest of the container stays writable). After it, every write under the mount point fails with EROFS (\"Read-only file system\"), for root too.",
                "绑定挂载一开始带着源的挂载标志；只读要再调用一次，只重新挂载这一个绑定（容器的其余部分仍可写）。之后挂载点下的任何写入都以 EROFS（“Read-only file system”）失败，root 也不例外。",
            ),
            shell: format!("mount -o remount,bind,ro {}", at(root, destination)),
            syscall: "mount(NULL, \"/proc/self/fd/<fd>\", NULL, MS_BIND|MS_REMOUNT|MS_RDONLY, NULL)".into(),
            look: "grep ' ro,' /proc/<pid>/mountinfo".into(),
        },
        _ => unreachable!("not a volume step"),
    }
}
