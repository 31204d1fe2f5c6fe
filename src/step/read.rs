//! What the read and name steps mean (diff, logs, attach, tag, rmi), in
//! English and Chinese, with the shell commands that do the same by hand.

use super::{shell_quote, Description, Lang, Step};
use std::path::{Path, PathBuf};

fn q(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

fn qs(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| q(p)).collect::<Vec<_>>().join(" ")
}

const REF: &str = "org.opencontainers.image.ref.name";

/// `diff` by hand: files first, then directories deepest first (a layer's
/// directory counts as changed only when something below it did, or it is
/// opaque), glassbox's empty mount points left out, sorted by path.
fn diff_script(upper: &Path, lowers: &[PathBuf]) -> String {
    format!(
        concat!(
            "cd {upper} && {{ find . -mindepth 1 ! -type d | sort; find . -mindepth 1 -type d | sort -r; }} | {{ seen=; ",
            "while IFS= read -r f; do p=${{f#.}}; in_lower=; for l in {lowers}; do if [ -e \"$l$p\" ] || [ -L \"$l$p\" ]; then in_lower=1; fi; done; ",
            "if [ -d \"$f\" ] && [ ! -L \"$f\" ]; then if [ -z \"$in_lower\" ]; then c=A; ",
            "else case \"$seen\" in *\"|$p/\"*) c=C;; *) getfattr --only-values -n trusted.overlay.opaque \"$f\" 2>/dev/null | grep -q y && c=C || continue;; esac; fi; ",
            "elif [ -c \"$f\" ]; then c=D; ",
            "else case \"$p\" in /etc/hostname|/etc/hosts|/etc/resolv.conf) [ -z \"$in_lower\" ] && [ ! -s \"$f\" ] && continue;; esac; ",
            "[ -n \"$in_lower\" ] && c=C || c=A; fi; echo \"$c $p\"; seen=\"$seen|$p\"; done; }} | LC_ALL=C sort -t ' ' -k2"
        ),
        upper = q(upper),
        lowers = qs(lowers),
    )
}

pub(super) fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::ChangesRead { upper, lowers } => Description {
            title: l(
                "read the container's upper dir, comparing it with the image's layers",
                "读取容器的 upper 目录，与镜像的各层比较",
            ),
            why: l(
                "Every change the container made is in its upper dir, so diff only reads that. A whiteout (a 0:0 character device) is a deleted path: D. A path that none of the layers below has is new: A. One the layers have is changed: C; a directory counts as changed only when something below it changed or it is opaque, since overlayfs copies a directory up whenever it writes inside it. The empty hostname, hosts and resolv.conf glassbox made as mount points are not the container's changes.",
                "容器做的每一处改动都在它的 upper 目录里，所以 diff 只读这个目录。whiteout（0:0 的字符设备）表示被删除的路径：D。下面各层都没有的路径是新加的：A。各层里有的是被修改的：C；目录只有在它下面有改动、或者它是 opaque 目录时才算修改，因为 overlayfs 在目录里写东西时总会把目录复制上来。glassbox 为挂载点建的空 hostname、hosts、resolv.conf 不算容器的改动。",
            ),
            shell: diff_script(upper, lowers),
            syscall: "openat(O_PATH|O_NOFOLLOW), getdents64(2), fstat(2), getxattr(\"trusted.overlay.opaque\")".into(),
            look: format!("ls -la {}", q(upper)),
        },
        Step::LogRead { log, follow } => Description {
            title: if *follow {
                l(
                    "read the container's log, then keep reading it as it grows",
                    "读取容器的日志，并随着它增长继续读",
                )
            } else {
                l("read the container's log", "读取容器的日志")
            },
            why: l(
                "There is no daemon holding the output: the container's monitor wrote each line it read from the container's stdout and stderr into this file as one JSON object (log, stream, time), docker's json-file format. logs reads the file and prints each line's text on the stream it came from (--tail, --since and --until pick lines by position and time). With -f it keeps reading new lines until the container stops. A container run in the foreground has no log: its output went straight to the terminal.",
                "没有守护进程保存输出：容器的监控进程把从容器 stdout 和 stderr 读到的每一行，作为一个 JSON 对象（log、stream、time）写进这个文件，也就是 docker 的 json-file 格式。logs 读这个文件，把每行的文本打印到它原来的流上（--tail、--since、--until 按位置和时间挑选行）。加 -f 时它会一直读新行，直到容器停止。在前台运行的容器没有日志：它的输出直接去了终端。",
            ),
            shell: if *follow {
                format!("tail -n +1 -F {} | jq --unbuffered -j .log", q(log))
            } else {
                format!("jq -j .log {}", q(log))
            },
            syscall: if *follow {
                "open(2), read(2) until end of file, then read(2) again every 100 ms".into()
            } else {
                "open(2), read(2)".into()
            },
            look: format!("tail -n 3 {}", q(log)),
        },
        Step::AttachConnect {
            socket,
            detach_keys,
        } => Description {
            title: l(
                "connect to the container's monitor through its attach socket",
                "通过 attach 套接字连接到容器的监控进程",
            ),
            why: l(
                &format!("The monitor that runs the container serves this unix socket while it relays the container's output into the log. attach connects to it: the monitor sends each chunk of output as a frame (1 byte for the stream, 4 bytes of length, the bytes) and, at the end, the exit code; what you type goes back as frames to the container's stdin. The detach keys ({detach_keys}) are caught here, in attach: it just closes its end, and the container keeps running. exit (or Ctrl-D) instead ends the container's first process, and with it the container."),
                &format!("运行容器的监控进程在把容器输出写进日志的同时，提供这个 unix 套接字。attach 连接它：监控进程把每段输出作为一帧发过来（1 字节流编号、4 字节长度、内容），最后发来退出码；你输入的内容也以帧的形式送回容器的 stdin。脱离键（{detach_keys}）在 attach 这一端识别：它只是关掉自己的连接，容器继续运行。而 exit（或 Ctrl-D）结束的是容器的第一个进程，容器也随之结束。"),
            ),
            shell: format!(
                "socat - UNIX-CONNECT:{}   # framed: kind (1 byte), length (4 bytes, big-endian), data",
                q(socket)
            ),
            syscall: "socket(AF_UNIX, SOCK_STREAM), connect(2), then poll + read(2)/write(2)".into(),
            look: format!("ls -l {}", q(socket)),
        },
        Step::ImageTag {
            index,
            reference,
            descriptor,
        } => {
            let program = format!(
                ".manifests |= (map(if .annotations.\"{REF}\" == $m.annotations.\"{REF}\" then del(.annotations.\"{REF}\") else . end) | map(select(.digest != $m.digest or .annotations.\"{REF}\" != null))) + [$m]"
            );
            let idx = q(index);
            Description {
                title: l(
                    &format!("name the image {reference} in index.json"),
                    &format!("在 index.json 里给镜像起名 {reference}"),
                ),
                why: l(
                    "A tag is only a name: an entry in index.json pointing at the image's manifest by digest. Nothing is copied, so tagging is instant and both names show the same IMAGE ID. If another image had this name, it loses it (and shows <none> if that was its only one).",
                    "标签只是一个名字：index.json 里按摘要指向镜像清单的一条记录。什么都不复制，所以打标签是瞬间完成的，两个名字显示同一个 IMAGE ID。如果别的镜像原来叫这个名字，它就失去这个名字（如果那是它唯一的名字，就显示为 <none>）。",
                ),
                shell: format!(
                    "jq --argjson m {} {} {idx} > {idx}.tmp && mv {idx}.tmp {idx}",
                    shell_quote(descriptor),
                    shell_quote(&program)
                ),
                syscall: "open(O_CREAT) + write(2) + rename(2) over index.json, under the store lock".into(),
                look: format!("jq -r '.manifests[].annotations.\"{REF}\"' {idx}"),
            }
        }
        Step::ImageUntag { index, reference } => {
            let program = format!(
                ".manifests |= (map(if .annotations.\"{REF}\" == $r then del(.annotations.\"{REF}\") else . end) | . as $all | map(. as $e | select($e.annotations.\"{REF}\" != null or ([$all[] | select(.digest == $e.digest and .annotations.\"{REF}\" != null)] | length) == 0)))"
            );
            let idx = q(index);
            Description {
                title: l(
                    &format!("take the name {reference} off the image in index.json"),
                    &format!("在 index.json 里去掉镜像的名字 {reference}"),
                ),
                why: l(
                    "The image has other names, so only this one goes: its entry in index.json. The image, its layers and every other name stay; rmi prints Untagged and nothing is deleted.",
                    "这个镜像还有别的名字，所以只去掉这一个：index.json 里的那条记录。镜像、它的层和其他名字都还在；rmi 打印 Untagged，什么也不删除。",
                ),
                shell: format!(
                    "jq --arg r {} {} {idx} > {idx}.tmp && mv {idx}.tmp {idx}",
                    shell_quote(reference),
                    shell_quote(&program)
                ),
                syscall: "open(O_CREAT) + write(2) + rename(2) over index.json, under the store lock".into(),
                look: format!("jq -r '.manifests[].annotations.\"{REF}\"' {idx}"),
            }
        }
        Step::ImageRemove {
            index,
            image_id,
            manifest_digest,
        } => {
            let idx = q(index);
            Description {
                title: l(
                    &format!("remove image {} from index.json", short(image_id)),
                    &format!("从 index.json 里删除镜像 {}", short(image_id)),
                ),
                why: l(
                    "Every entry naming this image's manifest goes from index.json: from now on no name leads to it and images no longer lists it. Its blobs and layers are still on disk; the next step deletes those no other image uses.",
                    "index.json 里指向这个镜像清单的每一条记录都删掉：从此没有名字再指向它，images 也不再列出它。它的 blob 和层还在磁盘上；下一步删掉其中别的镜像不用的那些。",
                ),
                shell: format!(
                    "jq --arg d {} '.manifests |= map(select(.digest != $d))' {idx} > {idx}.tmp && mv {idx}.tmp {idx}",
                    shell_quote(manifest_digest)
                ),
                syscall: "open(O_CREAT) + write(2) + rename(2) over index.json, under the store lock".into(),
                look: format!("jq -r '.manifests[].digest' {idx}"),
            }
        }
        Step::ContentRemove { blobs, dirs } => {
            let mut cmds = Vec::new();
            if !blobs.is_empty() {
                cmds.push(format!("rm -f {}", qs(blobs)));
            }
            if !dirs.is_empty() {
                cmds.push(format!("rm -rf {}", qs(dirs)));
            }
            Description {
                title: l(
                    &format!(
                        "delete {} blob(s) and {} unpacked layer(s) no image uses",
                        blobs.len(),
                        dirs.len()
                    ),
                    &format!(
                        "删除没有镜像再用的 {} 个 blob 和 {} 个解包后的层",
                        blobs.len(),
                        dirs.len()
                    ),
                ),
                why: l(
                    "Images share layers: only what no image left in index.json uses is deleted (the manifest, the config, the layers' blobs and their unpacked directories); a layer another image is built on stays, which is why rmi can free less than the image's SIZE. glassbox holds the store lock and waits for any pull or commit at work, so nothing they are about to use is deleted. An unpacked layer is renamed to a temporary name before it is deleted, so half of one is never taken for a layer.",
                    "镜像之间共享层：只删除 index.json 里剩下的镜像都不用的东西（清单、配置、各层的 blob 和解包后的目录）；别的镜像还建在上面的层会留下，所以 rmi 释放的空间可能比镜像的 SIZE 小。glassbox 持有存储锁，并等待正在进行的 pull 或 commit，所以不会删掉它们马上要用的东西。解包后的层先改名成临时名字再删除，半删的目录绝不会被当成一个层。",
                ),
                shell: cmds.join("; "),
                syscall: "unlink(2); rename(2), then unlinkat(2) and rmdir(2) for each layer directory".into(),
                look: blobs
                    .first()
                    .and_then(|b| b.parent())
                    .map(|d| format!("ls {}", q(d)))
                    .unwrap_or_default(),
            }
        }
        _ => unreachable!("not a read or name step"),
    }
}

fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
}
