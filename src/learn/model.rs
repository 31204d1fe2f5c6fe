//! The lesson and lab file formats (TOML, in `lessons/` and `labs/`).
//!
//! A lesson is a sequence of sections; each may suggest a command, say what
//! to notice, and check that the step really happened. A lab is a task with
//! hints, optional setup, and checks against the real (or simulated) state.
//! The same check vocabulary serves both, so lessons 06–13 need no new format.

use crate::step::Lang;
use serde::Deserialize;

/// A text in both languages.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.en, &self.zh)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// "01"
    pub id: String,
    pub slug: String,
    pub title: Text,
    /// Which seed tutorials (and parts) the lesson follows.
    pub follows: Vec<String>,
    /// Kernel steps the lesson shows.
    #[serde(default)]
    pub shows: Vec<String>,
    /// A private registry the lesson starts for its parts (`$REGISTRY`).
    pub registry: Option<RegistrySpec>,
    #[serde(default)]
    pub section: Vec<Section>,
}

/// The private registry of a lesson or lab (see `learn::registry`): with a
/// user and password it asks for a login (htpasswd), as Docker Hub does.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistrySpec {
    pub user: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub text: Text,
    /// A glassbox (docker-style) command to try; Enter types it.
    pub command: Option<String>,
    /// Global options the lesson adds when it runs the command (e.g. "--explain=steps").
    #[serde(default)]
    pub options: Vec<String>,
    /// The command needs a terminal (-it): run it with the learner's terminal.
    #[serde(default)]
    pub interactive: bool,
    /// Standard input to feed the command when lessons run unattended.
    pub input: Option<String>,
    /// Runs only when the kernel is real (it needs something the simulator lacks).
    #[serde(default)]
    pub real_only: bool,
    /// An image the command needs beyond the built-in busybox (the tutorials'
    /// debian, redis, ...): pulled first, through the configured mirror when
    /// offline; when it cannot be had, the part says how to get it and is skipped.
    pub image: Option<String>,
    /// Files glassbox writes into the working directory before the command
    /// (a build context), each shown to the learner in full.
    #[serde(default)]
    pub files: Vec<LessonFile>,
    pub notice: Option<Text>,
    #[serde(default)]
    pub check: Vec<Check>,
}

/// A file a lesson part writes, relative to the working directory: a text,
/// or a program glassbox carries (`static-hello`, see `crate::programs::hello`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LessonFile {
    pub path: String,
    pub text: Option<String>,
    pub program: Option<String>,
    /// Octal permission bits ("755"); 644 unless given (755 for a program).
    pub mode: Option<String>,
}

/// Something that must be true; described to the learner when it is not.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// The command exited with this status.
    ExitCode { code: i32 },
    /// The command's output (stdout and stderr) contains this text.
    OutputContains { text: String },
    /// The command's output does not contain this text.
    OutputLacks { text: String },
    /// The command carried out a kernel step of this kind (from its trace).
    StepHappened { step: String },
    /// A container with this name exists (in any state, or the one given).
    Container {
        name: String,
        status: Option<String>,
    },
    /// A field of a container's record holds (contains) a value: hostname,
    /// image, command, exit_code, status, oom_killed or paused.
    ContainerField {
        name: String,
        field: String,
        value: String,
    },
    /// No container with this name exists.
    NoContainer { name: String },
    /// An image with this reference is in the store.
    Image { name: String },
    /// No image with this reference is in the store.
    NoImage { name: String },
    /// A file inside a container (running or stopped) contains `text`.
    FileContains {
        container: String,
        path: String,
        text: String,
    },
    /// A file of a running container's cgroup holds `value` (v1: looked for in
    /// every controller's directory; v2: the one directory). Both may list
    /// alternatives with `|` (`memory.limit_in_bytes|memory.max`,
    /// `50000|50000 100000`): the first file that exists must hold one of
    /// the values, so one check fits v1 and v2 hosts.
    CgroupFile {
        container: String,
        file: String,
        value: String,
    },
    /// Something listens on this TCP port of 127.0.0.1.
    Port { port: u16 },
    /// An HTTP GET of this loopback URL answers with a body containing `text`.
    Http { url: String, text: String },
    /// A field of an image's config (`Cmd`, `Env`, `WorkingDir`, `Labels`, ...) contains `value`.
    ImageConfig {
        name: String,
        field: String,
        value: String,
    },
    /// A file on the host (relative to the lesson's working directory)
    /// contains `text`: what `cp CONTAINER:PATH HOSTPATH` or `export -o` wrote.
    HostFile { path: String, text: String },
    /// A glassbox command (docker-style) exits with `exit` (0 unless given)
    /// and its output contains `text`.
    Command {
        run: String,
        text: Option<String>,
        exit: Option<i32>,
    },
    /// The registry serves `remote` (`host:port/name:tag`), asked through its
    /// API (`GET /v2/<name>/manifests/<tag>`), under the same manifest
    /// digest as the local image `local`.
    RegistryTag { remote: String, local: String },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub id: String,
    pub slug: String,
    /// The lesson this lab belongs to.
    pub lesson: String,
    pub title: Text,
    pub task: Text,
    /// Needs the real kernel (detached containers, exec): refused in simulation.
    #[serde(default)]
    pub real_only: bool,
    #[serde(default)]
    pub hints: Vec<Text>,
    /// glassbox commands run by `lab start` before the learner begins.
    #[serde(default)]
    pub setup: Vec<String>,
    /// Containers, images and networks `lab reset` removes.
    #[serde(default)]
    pub cleanup_containers: Vec<String>,
    #[serde(default)]
    pub cleanup_images: Vec<String>,
    /// Networks `lab reset` removes (after the containers).
    #[serde(default)]
    pub cleanup_networks: Vec<String>,
    /// A private registry `lab start` leaves running for the task (`$REGISTRY`).
    pub registry: Option<RegistrySpec>,
    pub check: Vec<LabCheck>,
    /// A solution, used by tests (and shown by `lab hint` after the last hint).
    pub solution: Vec<String>,
}

/// A lab check: the condition and what to tell the learner when it fails.
/// (No deny_unknown_fields: serde cannot combine it with flatten.)
#[derive(Clone, Debug, Deserialize)]
pub struct LabCheck {
    #[serde(flatten)]
    pub check: Check,
    pub missing: Text,
}
