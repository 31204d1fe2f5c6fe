//! Which docker commands the lessons teach. The five seed tutorials use 44
//! docker commands; each must be taught somewhere: a lesson part that runs it
//! and checks what happened. The book's command index and the coverage test
//! both read this map, so the index never claims a lesson the test would not.

use super::model::Lesson;
use super::words;
use std::collections::BTreeMap;

/// The docker commands the seed tutorials use, in the order a learner meets
/// them in the curriculum's table.
pub const TUTORIAL_COMMANDS: [&str; 44] = [
    "run",
    "ps",
    "images",
    "exec",
    "pull",
    "rm",
    "logs",
    "tag",
    "build",
    "rmi",
    "commit",
    "inspect",
    "search",
    "stop",
    "start",
    "restart",
    "push",
    "login",
    "logout",
    "import",
    "attach",
    "export",
    "diff",
    "top",
    "stats",
    "save",
    "load",
    "kill",
    "info",
    "create",
    "cp",
    "system df",
    "port",
    "network ls",
    "network create",
    "history",
    "container prune",
    "pause",
    "unpause",
    "events",
    "version",
    "wait",
    "rename",
    "update",
];

/// Management groups whose second word is the command (`network ls`).
const GROUPS: [&str; 6] = [
    "container",
    "image",
    "network",
    "system",
    "volume",
    "builder",
];

/// The docker command a lesson's command line runs, in the tutorials' words:
/// `container ls` is `ps`, `image rm` is `rmi`, `image pull` is `pull`, and
/// `network ls` stays `network ls`. A leading `docker` is allowed, as at the
/// REPL; flags before the command are skipped.
pub fn command_of(line: &str) -> Option<String> {
    let words = words::split(line).ok()?;
    let mut words = words
        .iter()
        .map(String::as_str)
        .skip_while(|w| *w == "docker");
    let first = words.find(|w| !w.starts_with('-'))?;
    if !GROUPS.contains(&first) {
        return Some(first.to_string());
    }
    let second = words.find(|w| !w.starts_with('-'));
    Some(match (first, second) {
        ("container", Some("ls" | "list")) => "ps".into(),
        ("image", Some("ls" | "list")) => "images".into(),
        ("image", Some("rm" | "remove")) => "rmi".into(),
        ("container" | "image", Some(c)) if c != "prune" => c.to_string(),
        (group, Some(c)) => format!("{group} {c}"),
        (group, None) => group.to_string(),
    })
}

/// One lesson part that teaches a command.
#[derive(Clone, Debug, PartialEq)]
pub struct Teaching {
    /// "07"
    pub lesson: String,
    /// 1-based, as the lesson shows it.
    pub part: usize,
    /// Runs only on the real kernel (the simulated learner skips it).
    pub real_only: bool,
}

/// Every tutorial command → the lesson parts that run it and check what
/// happened (a part with no check only shows, it does not teach).
pub fn taught(lessons: &[Lesson]) -> BTreeMap<&'static str, Vec<Teaching>> {
    let mut map: BTreeMap<&'static str, Vec<Teaching>> =
        TUTORIAL_COMMANDS.iter().map(|c| (*c, Vec::new())).collect();
    for lesson in lessons {
        for (i, section) in lesson.section.iter().enumerate() {
            let Some(cmd) = section.command.as_deref().and_then(command_of) else {
                continue;
            };
            if section.check.is_empty() {
                continue;
            }
            if let Some(parts) = map.get_mut(cmd.as_str()) {
                parts.push(Teaching {
                    lesson: lesson.id.clone(),
                    part: i + 1,
                    real_only: section.real_only,
                });
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_named_as_the_tutorials_name_them() {
        assert_eq!(
            command_of("run --rm busybox echo hi").as_deref(),
            Some("run")
        );
        assert_eq!(command_of("docker ps -a").as_deref(), Some("ps"));
        assert_eq!(command_of("container ls -a").as_deref(), Some("ps"));
        assert_eq!(command_of("image rm busybox").as_deref(), Some("rmi"));
        assert_eq!(
            command_of("image inspect --format '{{.Id}}' x").as_deref(),
            Some("inspect")
        );
        assert_eq!(
            command_of("container prune -f").as_deref(),
            Some("container prune")
        );
        assert_eq!(command_of("system df -v").as_deref(), Some("system df"));
        assert_eq!(
            command_of("network create testnet").as_deref(),
            Some("network create")
        );
        assert_eq!(command_of("--help").as_deref(), None);
        assert_eq!(command_of("'unterminated"), None);
    }

    #[test]
    fn the_list_has_no_repeats() {
        let mut seen = std::collections::BTreeSet::new();
        assert!(TUTORIAL_COMMANDS.iter().all(|c| seen.insert(*c)));
    }
}
