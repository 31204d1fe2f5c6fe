//! The simulated cgroup files that limits and the freezer write: a map from
//! file to value beside the cgroup tree (the usage counters `stats` reads
//! are separate). A write lands only in a cgroup that exists (or one of its
//! ancestors, for cgroup.subtree_control), as on the real kernel.

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether `dir` is a cgroup of the tree or an ancestor of one.
fn is_cgroup_dir(tree: &BTreeMap<PathBuf, Vec<i32>>, dir: &Path) -> bool {
    tree.keys().any(|c| c.starts_with(dir))
}

/// Write `value` into `file`, as `echo value > file` would on the kernel:
/// cgroup.subtree_control adds (`+memory`) or removes (`-memory`) a
/// controller from its set; other files take the value.
pub fn write(
    tree: &BTreeMap<PathBuf, Vec<i32>>,
    files: &mut BTreeMap<PathBuf, String>,
    file: &Path,
    value: &str,
) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    if !is_cgroup_dir(tree, dir) {
        bail!(
            "write {value} to {}: No such file or directory (os error 2)",
            file.display()
        );
    }
    let name = file.file_name().unwrap_or_default();
    if name == "cgroup.subtree_control" {
        let current = files.get(file).cloned().unwrap_or_default();
        let mut set: Vec<String> = current.split_whitespace().map(str::to_string).collect();
        for word in value.split_whitespace() {
            let (add, controller) = match word.split_at(1) {
                ("+", c) => (true, c),
                ("-", c) => (false, c),
                _ => bail!(
                    "write {value} to {}: Invalid argument (os error 22)",
                    file.display()
                ),
            };
            set.retain(|c| c != controller);
            if add {
                set.push(controller.to_string());
            }
        }
        set.sort();
        files.insert(file.to_path_buf(), set.join(" "));
    } else {
        files.insert(file.to_path_buf(), value.trim().to_string());
    }
    Ok(())
}

/// The freezer files after a freeze or thaw (v1 freezer.state; v2
/// cgroup.freeze and the `frozen` line of cgroup.events).
pub fn freeze(
    tree: &BTreeMap<PathBuf, Vec<i32>>,
    files: &mut BTreeMap<PathBuf, String>,
    dir: &Path,
    frozen: bool,
    version: u8,
) -> Result<()> {
    if version == 1 {
        write(
            tree,
            files,
            &dir.join("freezer.state"),
            if frozen { "FROZEN" } else { "THAWED" },
        )
    } else {
        write(
            tree,
            files,
            &dir.join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
        )?;
        let populated = tree.get(dir).is_some_and(|p| !p.is_empty());
        files.insert(
            dir.join("cgroup.events"),
            format!(
                "populated {}\nfrozen {}",
                u8::from(populated),
                u8::from(frozen)
            ),
        );
        Ok(())
    }
}

/// Forget the files of removed cgroup directories.
pub fn forget(files: &mut BTreeMap<PathBuf, String>, dirs: &[PathBuf]) {
    files.retain(|f, _| !f.parent().is_some_and(|d| dirs.iter().any(|x| x == d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_only_in_cgroups_and_subtree_control_is_a_set() {
        let mut tree = BTreeMap::new();
        tree.insert(PathBuf::from("/sys/fs/cgroup/glassbox/abc"), vec![4242]);
        let mut files = BTreeMap::new();
        let dir = Path::new("/sys/fs/cgroup/glassbox/abc");
        write(&tree, &mut files, &dir.join("memory.max"), "33554432").unwrap();
        let sc = Path::new("/sys/fs/cgroup/cgroup.subtree_control");
        write(&tree, &mut files, sc, "+memory").unwrap();
        write(&tree, &mut files, sc, "+cpu").unwrap();
        write(&tree, &mut files, sc, "+memory").unwrap();
        assert_eq!(files[sc], "cpu memory");
        assert!(write(
            &tree,
            &mut files,
            Path::new("/sys/fs/cgroup/glassbox/zzz/pids.max"),
            "1"
        )
        .is_err());
        freeze(&tree, &mut files, dir, true, 2).unwrap();
        assert_eq!(files[&dir.join("cgroup.events")], "populated 1\nfrozen 1");
        forget(&mut files, &[dir.to_path_buf()]);
        assert_eq!(files.len(), 1);
    }
}
