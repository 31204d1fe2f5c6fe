//! Every docker command the seed tutorials use is taught: some lesson part
//! runs it and checks what happened, on both kernels (a real-only part does
//! not count, since the simulated learner skips it). The lessons themselves
//! are run for real and simulated by tests/learn.rs.

use glassbox::learn::{catalog, coverage};

#[test]
fn every_tutorial_command_is_taught_with_a_check_in_both_modes() {
    let lessons = catalog::lessons().unwrap();
    let taught = coverage::taught(&lessons);
    assert_eq!(taught.len(), 44);
    let nowhere: Vec<&str> = taught
        .iter()
        .filter(|(_, parts)| parts.is_empty())
        .map(|(c, _)| *c)
        .collect();
    let real_only: Vec<&str> = taught
        .iter()
        .filter(|(_, parts)| !parts.is_empty() && parts.iter().all(|p| p.real_only))
        .map(|(c, _)| *c)
        .collect();
    assert!(
        nowhere.is_empty() && real_only.is_empty(),
        "taught nowhere: {nowhere:?}; taught only in real-only parts: {real_only:?}"
    );
}

/// The map reads what the lesson files say: a part without a check is not
/// teaching, and `container ls` counts as `ps`.
#[test]
fn the_map_counts_only_parts_with_checks() {
    let lesson: glassbox::learn::Lesson = toml::from_str(
        r#"
id = "99"
slug = "t"
title = { en = "t", zh = "t" }
follows = []
[[section]]
text = { en = "a", zh = "a" }
command = "container ls -a"
check = [{ kind = "exit_code", code = 0 }]
[[section]]
text = { en = "b", zh = "b" }
command = "rename a b"
[[section]]
text = { en = "c", zh = "c" }
command = "docker network ls"
real_only = true
check = [{ kind = "exit_code", code = 0 }]
"#,
    )
    .unwrap();
    let taught = coverage::taught(&[lesson]);
    assert_eq!(taught["ps"].len(), 1);
    assert_eq!(taught["ps"][0].part, 1);
    assert!(taught["rename"].is_empty());
    assert!(taught["network ls"][0].real_only);
}
