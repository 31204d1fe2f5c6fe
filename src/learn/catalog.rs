//! The lessons and labs compiled into glassbox. To add one: write the TOML
//! file and add its line here (a test checks every file is listed).

use super::model::{Lab, Lesson};
use anyhow::{Context, Result};

#[rustfmt::skip]
pub const LESSON_FILES: &[(&str, &str)] = &[
    ("00-why-containers.toml", include_str!("../../lessons/00-why-containers.toml")),
    ("01-hello-world.toml", include_str!("../../lessons/01-hello-world.toml")),
    ("02-interactive.toml", include_str!("../../lessons/02-interactive.toml")),
    ("03-detached.toml", include_str!("../../lessons/03-detached.toml")),
    ("04-inside.toml", include_str!("../../lessons/04-inside.toml")),
    ("05-images-and-layers.toml", include_str!("../../lessons/05-images-and-layers.toml")),
    ("06-commit-and-tag.toml", include_str!("../../lessons/06-commit-and-tag.toml")),
    ("07-dockerfile.toml", include_str!("../../lessons/07-dockerfile.toml")),
    ("08-ports.toml", include_str!("../../lessons/08-ports.toml")),
    ("09-networks.toml", include_str!("../../lessons/09-networks.toml")),
    ("10-volumes.toml", include_str!("../../lessons/10-volumes.toml")),
    ("11-resources.toml", include_str!("../../lessons/11-resources.toml")),
    ("12-sharing-images.toml", include_str!("../../lessons/12-sharing-images.toml")),
    ("13-services.toml", include_str!("../../lessons/13-services.toml")),
];

#[rustfmt::skip]
pub const LAB_FILES: &[(&str, &str)] = &[
    ("00-namespaces.toml", include_str!("../../labs/00-namespaces.toml")),
    ("01-hello.toml", include_str!("../../labs/01-hello.toml")),
    ("02-exit-status.toml", include_str!("../../labs/02-exit-status.toml")),
    ("03-detached.toml", include_str!("../../labs/03-detached.toml")),
    ("04-inside.toml", include_str!("../../labs/04-inside.toml")),
    ("05-images.toml", include_str!("../../labs/05-images.toml")),
    ("06-commit.toml", include_str!("../../labs/06-commit.toml")),
    ("07-dockerfile.toml", include_str!("../../labs/07-dockerfile.toml")),
    ("08-ports.toml", include_str!("../../labs/08-ports.toml")),
    ("09-networks.toml", include_str!("../../labs/09-networks.toml")),
    ("10-volumes.toml", include_str!("../../labs/10-volumes.toml")),
    ("11-resources.toml", include_str!("../../labs/11-resources.toml")),
    ("12-sharing-images.toml", include_str!("../../labs/12-sharing-images.toml")),
    ("13-services.toml", include_str!("../../labs/13-services.toml")),
];

pub fn lessons() -> Result<Vec<Lesson>> {
    LESSON_FILES
        .iter()
        .map(|(name, text)| toml::from_str(text).with_context(|| format!("lessons/{name}")))
        .collect()
}

pub fn labs() -> Result<Vec<Lab>> {
    LAB_FILES
        .iter()
        .map(|(name, text)| toml::from_str(text).with_context(|| format!("labs/{name}")))
        .collect()
}

/// `lesson` as it reads with its registry at `host` (`$REGISTRY` replaced).
pub fn lesson_at(lesson: &Lesson, host: &str) -> Result<Lesson> {
    reread(LESSON_FILES, |l: &Lesson| l.id == lesson.id, host)
}

/// `lab` as it reads with its registry at `host`.
pub fn lab_at(lab: &Lab, host: &str) -> Result<Lab> {
    reread(LAB_FILES, |l: &Lab| l.id == lab.id, host)
}

fn reread<T: serde::de::DeserializeOwned>(
    files: &[(&str, &str)],
    same: impl Fn(&T) -> bool,
    host: &str,
) -> Result<T> {
    for (name, text) in files {
        let item: T = toml::from_str(text).with_context(|| name.to_string())?;
        if same(&item) {
            let text = text.replace(super::registry::PLACEHOLDER, host);
            return toml::from_str(&text).with_context(|| name.to_string());
        }
    }
    anyhow::bail!("no such lesson or lab file")
}

/// Find by id ("1", "01") or slug.
fn find<T>(all: Vec<T>, key: &str, id: impl Fn(&T) -> (&str, &str), what: &str) -> Result<T> {
    let wanted = key.trim_start_matches('0');
    all.into_iter()
        .find(|item| {
            let (item_id, slug) = id(item);
            item_id == key || slug == key || item_id.trim_start_matches('0') == wanted
        })
        .with_context(|| {
            format!(
                "no {what} {key:?}: `glassbox {}` lists them",
                if what == "lab" { "lab list" } else { "learn" }
            )
        })
}

pub fn lesson(key: &str) -> Result<Lesson> {
    find(
        lessons()?,
        key,
        |l| (l.id.as_str(), l.slug.as_str()),
        "lesson",
    )
}

pub fn lab(key: &str) -> Result<Lab> {
    find(labs()?, key, |l| (l.id.as_str(), l.slug.as_str()), "lab")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_and_lab_file_parses_and_is_listed() {
        let lessons = lessons().unwrap();
        let labs = labs().unwrap();
        for dir in ["lessons", "labs"] {
            let listed: Vec<&str> = if dir == "lessons" {
                LESSON_FILES
            } else {
                LAB_FILES
            }
            .iter()
            .map(|(n, _)| *n)
            .collect();
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(path).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.ends_with(".toml") {
                    assert!(
                        listed.contains(&name.as_str()),
                        "{dir}/{name} is not listed in catalog.rs"
                    );
                }
            }
        }
        // Every lesson has at least one lab, and ids are unique.
        for lesson in &lessons {
            assert!(
                labs.iter().any(|l| l.lesson == lesson.id),
                "lesson {} has no lab",
                lesson.id
            );
            assert!(!lesson.section.is_empty());
            for s in &lesson.section {
                for f in &s.files {
                    super::super::files::validate(f)
                        .unwrap_or_else(|e| panic!("lesson {}: {e:#}", lesson.id));
                }
                assert!(
                    !s.text.en.is_empty() && !s.text.zh.is_empty(),
                    "lesson {} has an untranslated section",
                    lesson.id
                );
            }
        }
    }
}
