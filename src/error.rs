//! Errors that carry docker's exit codes: 125 when glassbox itself fails,
//! 126 when the command cannot be executed, 127 when it is not found.

use std::fmt;

pub const EXIT_ENGINE: i32 = 125;
pub const EXIT_CANNOT_EXEC: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error with the exit code the CLI should return. Anything else that
/// reaches `main` as a plain `anyhow::Error` exits 125.
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

impl ExitError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ExitError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// The exit code for an error: its own if it is an `ExitError`, else 125.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<ExitError>())
        .map(|e| e.code)
        .unwrap_or(EXIT_ENGINE)
}

/// Shorthand: bail with a specific exit code.
#[macro_export]
macro_rules! exit_err {
    ($code:expr, $($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::ExitError::new($code, format!($($arg)*))))
    };
}

// ---- messages in the learner's language --------------------------------

/// The container verbs' errors a learner meets in the lessons, in Chinese:
/// (English as the code writes it with `{}` for each value, Chinese with
/// `{0}`, `{1}`, ... in the order the values come in English).
const ZH_MESSAGES: &[(&str, &str)] = &[
    (
        "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
        "冲突：容器名 \"/{0}\" 已经被容器 \"{1}\" 占用。要重新使用这个名字，先删除（或重命名）那个容器。",
    ),
    (
        "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
        "无法删除容器 \"{0}\"：容器正在运行。先停止它（stop），或者强制删除（rm -f）",
    ),
    (
        "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
        "无法删除容器 \"{0}\"：容器正在重启。先停止它（stop），或者强制删除（rm -f）",
    ),
    (
        "cannot kill container: {}: container {} is not running",
        "无法向容器 {0} 发送信号：容器 {1} 没有在运行",
    ),
    ("No such container: {}", "没有这个容器：{0}"),
    ("No such image: {}", "没有这个镜像：{0}"),
    (
        "the default network's subnet {} overlaps the host's route to {}: set default_subnet under [network] in {} to a free subnet",
        "默认网络的子网 {0} 和主机到 {1} 的路由重叠：请在 {2} 的 [network] 下把 default_subnet 设成一个没有占用的子网",
    ),
    (
        "network {}'s subnet {} overlaps the host's route to {}, added since the network was made: remove the network and create it with another --subnet",
        "网络 {0} 的子网 {1} 和主机到 {2} 的路由重叠（这条路由是网络建好之后才加的）：请删除这个网络，再用另一个 --subnet 重新创建",
    ),
    (
        "default_subnet changed in config.toml, but bridge {} still has containers plugged in (another store's?): stop them first, or set another default_bridge",
        "config.toml 里的 default_subnet 改了，但网桥 {0} 上还插着容器（也许是另一个存储的）：先停掉它们，或者另设一个 default_bridge",
    ),
    (
        "network {} not found (list them with `glassbox network ls`)",
        "找不到网络 {0}（用 `glassbox network ls` 列出现有的网络）",
    ),
    (
        "multiple containers match the prefix {}: use more of the id",
        "有多个容器的 ID 以 {0} 开头：请多写几位 ID",
    ),
    (
        "Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        "无效的容器名（{0}）：只能用 [a-zA-Z0-9][a-zA-Z0-9_.-]",
    ),
    (
        "Renaming a container with the same name as its current name",
        "新名字和容器现在的名字相同",
    ),
    (
        "exec: \"{}\": executable file not found in $PATH",
        "exec：\"{0}\"：在 $PATH 里找不到这个可执行文件",
    ),
    (
        "Could not find the file {} in container {}",
        "在容器 {1} 里找不到文件 {0}",
    ),
    ("container {} is already running", "容器 {0} 已经在运行"),
    ("container {} is not running", "容器 {0} 没有在运行"),
    (
        "container {} is simulated: it has no files on this host",
        "容器 {0} 是模拟的：这台主机上没有它的文件",
    ),
    (
        "container {} is simulated: it has no process to stop",
        "容器 {0} 是模拟的：没有进程可以停止",
    ),
    (
        "aborted before step {}; container {} keeps running",
        "在步骤 {0} 之前中止；容器 {1} 继续运行",
    ),
    (
        "aborted before step {}; container {} was not stopped",
        "在步骤 {0} 之前中止；容器 {1} 没有被停止",
    ),
    (
        "aborted before step {}; container {} was not removed",
        "在步骤 {0} 之前中止；容器 {1} 没有被删除",
    ),
    (
        "aborted before step {}; container {} is marked for removal: `rm -f {}` finishes it",
        "在步骤 {0} 之前中止；容器 {1} 已标记为待删除：`rm -f {2}` 会把删除做完",
    ),
    (
        "aborted before step {}; container {} keeps its name",
        "在步骤 {0} 之前中止；容器 {1} 保留原来的名字",
    ),
    (
        "aborted before step {}; no container was created",
        "在步骤 {0} 之前中止；没有创建容器",
    ),
    (
        "aborted before step {}; no signal was sent",
        "在步骤 {0} 之前中止；没有发送任何信号",
    ),
    (
        "conflict: unable to remove repository reference \"{}\" ({} force) - container {} is using its referenced image {}",
        "冲突：无法删除镜像名 \"{0}\"（{1} force）：容器 {2} 正在使用它指向的镜像 {3}",
    ),
    (
        "aborted before step {}; the image keeps its names",
        "在步骤 {0} 之前中止；镜像保留它的名字",
    ),
    (
        "aborted before step {}; the image is still there",
        "在步骤 {0} 之前中止；镜像还在",
    ),
    (
        "aborted before step {}; nothing was read",
        "在步骤 {0} 之前中止；什么也没有读",
    ),
    (
        "aborted before step attach_connect; the container keeps running",
        "在步骤 attach_connect 之前中止；容器继续运行",
    ),
    (
        "aborted before step {}; nothing was copied or written",
        "在步骤 {0} 之前中止；什么也没有复制或写入",
    ),
    (
        "aborted before step {}; no image was made (blobs already written are unnamed: `image prune` removes them)",
        "在步骤 {0} 之前中止；没有生成镜像（已经写入的 blob 没有名字：`image prune` 会删掉它们）",
    ),
];

/// The values of `template` (`{}` placeholders) found in `message`, with
/// where the match starts and ends; the first literal may sit anywhere (an
/// error's context can come before it).
fn match_template(template: &str, message: &str) -> Option<(usize, usize, Vec<String>)> {
    let literals: Vec<&str> = template.split("{}").collect();
    let start = message.find(literals[0])?;
    let mut pos = start + literals[0].len();
    let mut values = Vec::new();
    for (i, lit) in literals.iter().enumerate().skip(1) {
        let last = i == literals.len() - 1;
        let end = if lit.is_empty() && last {
            message.len()
        } else {
            pos + message[pos..].find(lit)?
        };
        if end == pos {
            return None;
        }
        values.push(message[pos..end].to_string());
        pos = end + lit.len();
    }
    Some((start, pos, values))
}

/// An error message in the learner's language: in Chinese, the part a
/// known message takes is translated (values kept), the rest left as is.
pub fn localize(message: &str, lang: crate::step::Lang) -> String {
    if lang != crate::step::Lang::Zh {
        return message.to_string();
    }
    for (en, zh) in ZH_MESSAGES {
        if let Some((start, end, values)) = match_template(en, message) {
            let mut text = zh.to_string();
            for (i, v) in values.iter().enumerate() {
                text = text.replace(&format!("{{{i}}}"), v);
            }
            return format!("{}{text}{}", &message[..start], &message[end..]);
        }
    }
    message.to_string()
}

#[cfg(test)]
mod localize_tests {
    use super::*;
    use crate::step::Lang;

    #[test]
    fn known_errors_are_translated_with_their_values() {
        let conflict = "Conflict. The container name \"/web\" is already in use by container \"abc123\". You have to remove (or rename) that container to be able to reuse that name.";
        assert_eq!(
            localize(conflict, Lang::Zh),
            "冲突：容器名 \"/web\" 已经被容器 \"abc123\" 占用。要重新使用这个名字，先删除（或重命名）那个容器。"
        );
        assert_eq!(localize(conflict, Lang::En), conflict);
        assert_eq!(
            localize("Could not find the file /x in container c1", Lang::Zh),
            "在容器 c1 里找不到文件 /x"
        );
        assert_eq!(
            localize(
                "cannot kill container: c1: container abc is not running",
                Lang::Zh
            ),
            "无法向容器 c1 发送信号：容器 abc 没有在运行"
        );
        // A context before the message is kept.
        assert_eq!(
            localize("start c1: No such container: c1", Lang::Zh),
            "start c1: 没有这个容器：c1"
        );
        // Unknown messages are left alone.
        assert_eq!(localize("something else", Lang::Zh), "something else");
    }
}
