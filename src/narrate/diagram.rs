//! Text pictures of what exists: each container's layer stack (the writable
//! upper dir over the image's read-only layers), its namespaces and cgroup.

use crate::container::{self, Container, Status};
use crate::image::Store;
use crate::step::Lang;
use std::path::Path;

fn boxed(lines: &[String]) -> Vec<String> {
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = vec![format!("┌{}┐", "─".repeat(width + 2))];
    for (i, l) in lines.iter().enumerate() {
        if i == 1 {
            out.push(format!("├{}┤", "─".repeat(width + 2)));
        }
        out.push(format!("│ {l}{} │", " ".repeat(width - l.chars().count())));
    }
    out.push(format!("└{}┘", "─".repeat(width + 2)));
    out
}

/// The namespaces of a live process: `pid:[4026532123]` and so on.
fn namespaces(pid: i32) -> Vec<String> {
    ["mnt", "uts", "ipc", "pid", "net"]
        .iter()
        .filter_map(|ns| {
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
                .ok()
                .map(|l| l.display().to_string())
        })
        .collect()
}

pub fn container_picture(root: &Path, c: &Container, lang: Lang) -> String {
    let store = Store::open(root).ok();
    let image = store
        .as_ref()
        .and_then(|s| s.image_for_container(&c.image_id).ok().flatten());
    let mut layers = vec![format!(
        "{}  {}",
        lang.pick("upper (writable)", "upper（可写）"),
        c.dir(root).join("upper").display()
    )];
    if let Some(img) = &image {
        for (i, l) in img.layers.iter().enumerate().rev() {
            layers.push(format!(
                "{} {}  {}",
                lang.pick("layer", "层"),
                i + 1,
                &l.diff_id[..19.min(l.diff_id.len())]
            ));
        }
    }
    let mut out = vec![format!(
        "{} ({}) · {} · {}",
        c.name,
        c.short_id(),
        c.image,
        c.state.status.as_str()
    )];
    out.extend(boxed(&layers));
    out.push(format!(
        "  {}",
        lang.pick(
            "↑ overlay: the container sees these merged, top wins",
            "↑ overlay：容器看到的是它们合并后的结果，上层优先"
        )
    ));
    let network = match c.config.network.as_str() {
        "host" => lang
            .pick(
                "host's network (no namespace of its own)",
                "宿主机的网络（没有自己的命名空间）",
            )
            .to_string(),
        "none" => lang
            .pick(
                "own network namespace: lo only",
                "自己的网络命名空间：只有 lo",
            )
            .to_string(),
        other => other.to_string(),
    };
    out.push(format!("  {}: {network}", lang.pick("network", "网络")));
    if c.state.status == Status::Running && c.process_alive() {
        out.push(format!(
            "  PID {} {}",
            c.state.pid,
            lang.pick("on the host, PID 1 inside", "（宿主机上），容器内是 1 号")
        ));
        out.push(format!(
            "  {}: {}",
            lang.pick("namespaces", "命名空间"),
            namespaces(c.state.pid).join(" ")
        ));
    }
    out.join("\n")
}

/// Every container, or a note that there are none.
pub fn all(root: &Path, lang: Lang) -> String {
    let containers = container::list(root).unwrap_or_default();
    if containers.is_empty() {
        return lang
            .pick(
                "(no containers yet: try `run --name box busybox echo hi`)",
                "（还没有容器：试试 `run --name box busybox echo hi`）",
            )
            .to_string();
    }
    containers
        .iter()
        .map(|c| container_picture(root, c, lang))
        .collect::<Vec<_>>()
        .join("\n\n")
}
