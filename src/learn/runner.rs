//! Runs lesson and lab commands as a learner would type them, each as its own
//! glassbox process (so a crash or a container's output cannot disturb the
//! lesson), with a step trace to check which kernel steps happened.

use super::model::Check;
use super::words;
use crate::step::Lang;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one command did.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub code: i32,
    /// stdout and stderr as one stream, in the order they were written.
    pub output: String,
    /// Kinds of the kernel steps it carried out.
    pub steps: Vec<String>,
}

pub struct Runner {
    pub exe: PathBuf,
    /// The base root handed to each glassbox command (`--root`).
    pub root: PathBuf,
    /// The store those commands work on (the simulated one with --simulate): checks read it.
    pub store: PathBuf,
    pub simulate: bool,
    pub lang: Lang,
    /// Extra global options for every command (e.g. --explain=steps in a lesson).
    trace: PathBuf,
    /// Where commands run (files a lesson writes, such as `save -o`, land
    /// there): the learner's directory, or a scratch one for unattended runs.
    pub workdir: Option<PathBuf>,
    /// A pinned simulated clock for every command (`GLASSBOX_SIM_CLOCK`):
    /// the book's runs repeat exactly.
    pub sim_clock: Option<String>,
}

impl Runner {
    pub fn new(root: &Path, simulate: bool, lang: Lang) -> Result<Runner> {
        let exe = std::env::current_exe().context("find the glassbox binary")?;
        let trace =
            std::env::temp_dir().join(format!("glassbox-learn-{}.jsonl", std::process::id()));
        Ok(Runner {
            exe,
            root: root.to_path_buf(),
            store: crate::engine::store_root(root, simulate),
            simulate,
            lang,
            trace,
            workdir: None,
            sim_clock: None,
        })
    }

    fn command(&self, args: &[String], options: &[String]) -> Command {
        let mut c = Command::new(&self.exe);
        if let Some(clock) = &self.sim_clock {
            c.env("GLASSBOX_SIM_CLOCK", clock);
        }
        c.arg("--root")
            .arg(&self.root)
            .arg("--lang")
            .arg(self.lang.code());
        if self.simulate {
            c.arg("--simulate");
        }
        c.arg("--trace-json").arg(&self.trace);
        c.args(options).args(args);
        if let Some(dir) = &self.workdir {
            c.current_dir(dir);
        }
        c
    }

    /// The step trace of the last command (the REPL's `:why` and `:look` read it).
    pub fn trace_path(&self) -> &Path {
        &self.trace
    }

    /// Run a docker-style command line. `capture`: collect its output (and
    /// echo it as it comes when `echo`); otherwise the command gets a
    /// terminal of its own whose every byte is relayed to the learner's and
    /// recorded, so interactive sessions can be checked too.
    pub fn run(
        &self,
        line: &str,
        options: &[String],
        input: Option<&str>,
        capture: bool,
        echo: bool,
    ) -> Result<Outcome> {
        let pwd = match &self.workdir {
            Some(d) => d.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        };
        // A here-document (a lab solution's Dockerfile) is the standard input.
        let (line, document) = words::heredoc(line).map_err(|e| anyhow::anyhow!("{e}"))?;
        let input = input.or(document.as_deref());
        let line = &words::expand_pwd(&line, &pwd.display().to_string());
        let args =
            words::without_program(words::split(line).map_err(|e| anyhow::anyhow!("{line}: {e}"))?);
        let _ = std::fs::remove_file(&self.trace);
        if super::registry::is_curl(&args) {
            // The seeds read a registry's API with curl: a host command.
            let (code, output) = super::registry::curl(self, &args)?;
            if capture && echo {
                print!("{output}");
                let _ = std::io::stdout().flush();
            }
            return Ok(Outcome {
                code,
                output,
                steps: Vec::new(),
            });
        }
        let mut cmd = self.command(&args, options);
        let (code, output) = if capture {
            run_piped(cmd, input, echo)?
        } else {
            super::record::run_in_terminal(&mut cmd)?
        };
        Ok(Outcome {
            code,
            output,
            steps: read_trace(&self.trace),
        })
    }

    /// Check one condition; Err holds what is wrong, in the learner's language.
    pub fn check(&self, check: &Check, last: &Outcome) -> std::result::Result<(), String> {
        let l = |en: String, zh: String| if self.lang == Lang::Zh { zh } else { en };
        match check {
            Check::ExitCode { code } => (last.code == *code).then_some(()).ok_or_else(|| {
                l(
                    format!("the command exited {} (expected {code})", last.code),
                    format!("命令的退出码是 {}（应为 {code}）", last.code),
                )
            }),
            Check::OutputContains { text } => last
                .output
                .contains(text.as_str())
                .then_some(())
                .ok_or_else(|| {
                    l(
                        format!("the output does not show {text:?}"),
                        format!("输出里没有 {text:?}"),
                    )
                }),
            Check::OutputLacks { text } => (!last.output.contains(text.as_str()))
                .then_some(())
                .ok_or_else(|| {
                    l(
                        format!("the output should not show {text:?}"),
                        format!("输出里不应出现 {text:?}"),
                    )
                }),
            Check::StepHappened { step } => last
                .steps
                .iter()
                .any(|s| s == step)
                .then_some(())
                .ok_or_else(|| {
                    l(
                        format!("no {step} step happened"),
                        format!("没有发生 {step} 这一步"),
                    )
                }),
            Check::Container { name, status } => match crate::container::find(&self.store, name) {
                Ok(c) => match status {
                    Some(s) if c.state.status.as_str() != s => Err(l(
                        format!(
                            "container {name} is {} (expected {s})",
                            c.state.status.as_str()
                        ),
                        format!(
                            "容器 {name} 的状态是 {}（应为 {s}）",
                            c.state.status.as_str()
                        ),
                    )),
                    _ => Ok(()),
                },
                Err(_) => Err(l(
                    format!("there is no container named {name}"),
                    format!("没有名为 {name} 的容器"),
                )),
            },
            Check::ContainerField { name, field, value } => {
                let c = crate::container::find(&self.store, name).map_err(|_| {
                    l(
                        format!("there is no container named {name}"),
                        format!("没有名为 {name} 的容器"),
                    )
                })?;
                let actual = match field.as_str() {
                    "hostname" => c.config.hostname.clone(),
                    "image" => c.image.clone(),
                    "command" => c.command.join(" "),
                    "exit_code" => c.state.exit_code.map(|x| x.to_string()).unwrap_or_default(),
                    "status" => c.state.status.as_str().to_string(),
                    "oom_killed" => c.state.oom_killed.to_string(),
                    "paused" => c.state.paused.to_string(),
                    other => return Err(format!("unknown container field {other}")),
                };
                let exact = matches!(
                    field.as_str(),
                    "exit_code" | "status" | "oom_killed" | "paused"
                );
                if (exact && actual == *value) || (!exact && actual.contains(value.as_str())) {
                    Ok(())
                } else {
                    Err(l(
                        format!("container {name}'s {field} is {actual:?}, not {value:?}"),
                        format!("容器 {name} 的 {field} 是 {actual:?}，不是 {value:?}"),
                    ))
                }
            }
            Check::NoContainer { name } => match crate::container::find(&self.store, name) {
                Ok(_) => Err(l(
                    format!("container {name} still exists"),
                    format!("容器 {name} 还在"),
                )),
                Err(_) => Ok(()),
            },
            Check::Image { name } => {
                match crate::image::Store::open(&self.store).and_then(|s| s.resolve(name)) {
                    Ok(Some(_)) => Ok(()),
                    _ => Err(l(
                        format!("there is no image {name}"),
                        format!("没有镜像 {name}"),
                    )),
                }
            }
            Check::NoImage { name } => {
                match crate::image::Store::open(&self.store).and_then(|s| s.resolve(name)) {
                    Ok(Some(_)) => Err(l(
                        format!("image {name} still exists"),
                        format!("镜像 {name} 还在"),
                    )),
                    _ => Ok(()),
                }
            }
            Check::FileContains {
                container,
                path,
                text,
            } => match super::state::read_container_file(&self.store, container, path) {
                Ok(data) if String::from_utf8_lossy(&data).contains(text.as_str()) => Ok(()),
                Ok(_) => Err(l(
                    format!("{path} in {container} does not contain {text:?}"),
                    format!("{container} 里的 {path} 不包含 {text:?}"),
                )),
                Err(e) => Err(l(
                    format!(
                        "cannot read {path} in {container}: {}",
                        reason(&e, Lang::En)
                    ),
                    format!("读不到 {container} 里的 {path}：{}", reason(&e, Lang::Zh)),
                )),
            },
            Check::CgroupFile {
                container,
                file,
                value,
            } => match super::state::read_cgroup_file(&self.store, container, file) {
                Ok(v) if value.split('|').any(|one| v == one) => Ok(()),
                Ok(v) => Err(l(
                    format!("{container}'s cgroup file {file} holds {v:?}, not {value:?}"),
                    format!("{container} 的 cgroup 文件 {file} 是 {v:?}，不是 {value:?}"),
                )),
                Err(e) => Err(l(
                    format!(
                        "cannot read {container}'s cgroup file {file}: {}",
                        reason(&e, Lang::En)
                    ),
                    format!(
                        "读不到 {container} 的 cgroup 文件 {file}：{}",
                        reason(&e, Lang::Zh)
                    ),
                )),
            },
            Check::Port { port } => (if self.simulate {
                super::state::sim_port_open(&self.store, *port)
            } else {
                super::state::port_open(*port)
            })
            .then_some(())
            .ok_or_else(|| {
                l(
                    format!("nothing answers on 127.0.0.1:{port}"),
                    format!("127.0.0.1:{port} 上没有任何服务应答"),
                )
            }),
            Check::Http { url, text } => match if self.simulate {
                super::state::sim_http_body(&self.store, url)
            } else {
                super::state::http_body(url)
            } {
                Ok(body) if body.contains(text.as_str()) => Ok(()),
                Ok(_) => Err(l(
                    format!("{url} answers, but without {text:?}"),
                    format!("{url} 有应答，但内容里没有 {text:?}"),
                )),
                Err(e) => Err(l(
                    format!("{url} does not answer: {e:#}"),
                    format!("{url} 没有应答：{e:#}"),
                )),
            },
            Check::ImageConfig { name, field, value } => {
                match super::state::image_config_field(&self.store, name, field) {
                    Ok(v) if v.contains(value.as_str()) => Ok(()),
                    Ok(v) => Err(l(
                        format!("image {name}'s {field} is {v}, without {value:?}"),
                        format!("镜像 {name} 的 {field} 是 {v}，其中没有 {value:?}"),
                    )),
                    Err(e) => Err(l(format!("{e:#}"), format!("{e:#}"))),
                }
            }
            Check::HostFile { path, text } => {
                let file = match &self.workdir {
                    Some(dir) => dir.join(path),
                    None => PathBuf::from(path),
                };
                // On the simulated host, what its containers wrote through a
                // bind is under the store's host-fs (`cp` and `export -o`
                // write the real file).
                let file = match std::path::absolute(&file) {
                    Ok(abs) if self.simulate => {
                        let sim = crate::volume::store::sim_host_path(&self.store, &abs);
                        if sim.exists() {
                            sim
                        } else {
                            file
                        }
                    }
                    _ => file,
                };
                match std::fs::read(&file) {
                    Ok(data) if contains_bytes(&data, text.as_bytes()) => Ok(()),
                    Ok(_) => Err(l(
                        format!("{path} on the host does not contain {text:?}"),
                        format!("宿主机上的 {path} 不包含 {text:?}"),
                    )),
                    Err(e) => Err(l(
                        format!("cannot read {path} on the host: {}", e.kind()),
                        format!(
                            "读不到宿主机上的 {path}：{}",
                            if e.kind() == std::io::ErrorKind::NotFound {
                                "文件不存在"
                            } else {
                                "无法读取"
                            }
                        ),
                    )),
                }
            }
            Check::RegistryTag { remote, local } => {
                let theirs = super::state::registry_digest(self, remote);
                let ours = crate::image::Store::open(&self.store)
                    .and_then(|s| s.resolve(local))
                    .ok()
                    .flatten()
                    .map(|i| i.manifest_digest);
                match (theirs, ours) {
                    (Ok(t), Some(o)) if t == o => Ok(()),
                    (Ok(t), Some(o)) => Err(l(
                        format!("the registry's {remote} is {t}, but the local {local} is {o}"),
                        format!("镜像仓库里的 {remote} 是 {t}，而本地的 {local} 是 {o}"),
                    )),
                    (Ok(_), None) => Err(l(
                        format!("there is no local image {local}"),
                        format!("本地没有镜像 {local}"),
                    )),
                    (Err(e), _) => Err(l(
                        format!("the registry does not serve {remote}: {e}"),
                        format!("镜像仓库里没有 {remote}：{e}"),
                    )),
                }
            }
            Check::Command { run, text, exit } => {
                // A real server may still be starting (its log line not yet
                // written): the text gets a few seconds to appear.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                let o = loop {
                    let o = self
                        .run(run, &[], None, true, false)
                        .map_err(|e| e.to_string())?;
                    let waiting = text
                        .as_ref()
                        .is_some_and(|t| !o.output.contains(t.as_str()));
                    if !waiting || self.simulate || std::time::Instant::now() >= deadline {
                        break o;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(250));
                };
                let expected = exit.unwrap_or(0);
                if expected != 0 && o.code != expected {
                    return Err(l(
                        format!("`{run}` exited {}, not {expected}", o.code),
                        format!("`{run}` 的退出码是 {}，不是 {expected}", o.code),
                    ));
                }
                if expected == 0 && o.code != 0 {
                    let said = o.output.trim();
                    let gist = if said.contains("No such container") {
                        "没有这个容器".to_string()
                    } else if said.contains("No such image") {
                        "没有这个镜像".to_string()
                    } else {
                        said.to_string()
                    };
                    return Err(l(
                        format!("`{run}` failed (exit {}): {said}", o.code),
                        format!("`{run}` 失败（退出码 {}）：{gist}", o.code),
                    ));
                }
                match text {
                    Some(t) if !o.output.contains(t.as_str()) => Err(l(
                        format!("`{run}` does not show {t:?}"),
                        format!("`{run}` 的输出里没有 {t:?}"),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.trace);
    }
}

/// Splits a stream framed by the narrator's marks into what to show (all of
/// it, marks removed) and what to check (everything but the narration).
#[derive(Default)]
pub(super) struct Unmark {
    in_narration: bool,
}

impl Unmark {
    pub(super) fn feed(&mut self, bytes: &[u8], shown: &mut Vec<u8>, recorded: &mut Vec<u8>) {
        use crate::narrate::{NARRATION_END, NARRATION_START};
        for &b in bytes {
            match b {
                NARRATION_START => self.in_narration = true,
                NARRATION_END => self.in_narration = false,
                _ => {
                    shown.push(b);
                    if !self.in_narration {
                        recorded.push(b);
                    }
                }
            }
        }
    }
}

/// Run with stdout and stderr on one pipe, so everything is shown in the
/// order it was written (the pull, the narrated steps, the program's
/// output); the narration is marked, so the checks see only the rest.
fn run_piped(mut cmd: Command, input: Option<&str>, echo: bool) -> Result<(i32, String)> {
    use std::io::Read;
    let (mut reader, writer) = std::io::pipe().context("make a pipe")?;
    cmd.env("GLASSBOX_NARRATION_MARKS", "1");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(writer.try_clone()?).stderr(writer);
    let mut child = cmd.spawn().context("start glassbox")?;
    drop(cmd); // our copies of the write end: EOF comes when the child is done
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let mut unmark = Unmark::default();
    let mut recorded = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut shown = Vec::new();
                unmark.feed(&buf[..n], &mut shown, &mut recorded);
                if echo {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&shown);
                    let _ = out.flush();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let status = child.wait()?;
    Ok((
        status.code().unwrap_or(128),
        String::from_utf8_lossy(&recorded).into_owned(),
    ))
}

/// Why a lab's read failed, said once, in the learner's language.
fn reason(e: &anyhow::Error, lang: Lang) -> String {
    let io = e
        .root_cause()
        .downcast_ref::<std::io::Error>()
        .map(|e| e.kind());
    match io {
        Some(std::io::ErrorKind::NotFound) => lang.pick("it does not exist", "文件不存在").into(),
        Some(std::io::ErrorKind::PermissionDenied) => {
            lang.pick("permission denied", "没有权限").into()
        }
        _ => {
            let text = e.root_cause().to_string();
            if text.contains("not running") {
                lang.pick("the container is not running", "容器没有在运行")
                    .into()
            } else if text.contains("No such container") || text.contains("no such container") {
                lang.pick("there is no such container", "没有这个容器")
                    .into()
            } else {
                text
            }
        }
    }
}

fn read_trace(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["kind"].as_str().map(String::from))
        .collect()
}

/// Whether `hay` holds `needle` (a tar's file names are plain bytes in it).
fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
