//! `build`: a Dockerfile's stages, one image per instruction, as docker's
//! classic builder makes them.
//!
//! - `FROM` resolves (or pulls) the base, `FROM scratch` starts empty, a
//!   stage name refers to an earlier stage; the base's ONBUILD triggers run
//!   first.
//! - `RUN` is a real container of the step's image, made and started by the
//!   run engine (`engine::create` + `engine::start`: the same confinement,
//!   the same narrated steps), with the image's ENTRYPOINT cleared, no
//!   network, and the build ARGs in its environment; its upper dir becomes
//!   the layer (`files::layer_tar`, whiteouts included); the container is
//!   removed however it ended.
//! - `COPY`/`ADD` write the layer tar straight from the context
//!   (`build::context`: fd-relative, nothing outside the context), from
//!   another stage or image (`--from`, read from its overlay mounted
//!   read-only by a helper, `files::with_rootfs`), from a local tar (ADD
//!   unpacks it) or a URL (ADD downloads it).
//! - `WORKDIR` makes its directory when the image lacks it; the others only
//!   change the config.
//!
//! Each step commits an image (config + manifest blobs, named in
//! index.json without a name while the build runs, so the next RUN can
//! start from it). The cache, `<root>/build-cache/<key>`, maps a step's key
//! (the parent image id, the instruction as docker's history writes it, and
//! for COPY/ADD the hash of what was copied) to the manifest it made; a hit
//! is re-registered when its blobs are still in the store. When the build
//! ends, only the final image keeps its index entry (and its tags): the
//! intermediate images' blobs are shared with it or are garbage that
//! `image prune` removes (and with them the cache entries that used them).

use super::commit::{announce, store_bytes, store_file};
use super::run::{Network, RunOptions, StartOptions};
use crate::build::context::{self, Context, CopyAttrs, LayerWriter, Scope};
use crate::build::expand::Lex;
use crate::build::instructions::{self, Command, Copy, Dockerfile, Instruction, Parsed, Stage};
use crate::error::{ExitError, EXIT_ENGINE};
use crate::fsutil::{self, Resolve, RootDir};
use crate::image::store::{
    host_arch, Descriptor, Manifest, Unpack, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST,
};
use crate::image::{Image, Reference, Store};
use crate::kernel::{Kernel, StepObserver};
use crate::step::Step;
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// docker's default PATH, given to a `FROM scratch` image.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// `-t`: names for the final image.
    pub tags: Vec<String>,
    /// `--build-arg K=V` (or `K`: the value from glassbox's environment).
    pub build_args: Vec<String>,
    /// `--target`: the stage to stop at.
    pub target: Option<String>,
    pub no_cache: bool,
    /// `-q`: print only the image id (the RUN steps' output goes nowhere).
    pub quiet: bool,
    /// `--label K=V` on the final image.
    pub labels: Vec<String>,
    /// `--progress=plain`: BuildKit's plain lines instead of the classic ones.
    pub plain: bool,
}

/// An image being built: its config and layers (no id for `FROM scratch`).
#[derive(Clone)]
struct State {
    config: Value,
    layers: Vec<Descriptor>,
    id: Option<String>,
    /// ARGs declared in the stage, with their values.
    args: Vec<(String, Option<String>)>,
    /// A CMD was given in this stage (an ENTRYPOINT then keeps it).
    cmd_set: bool,
}

fn fail(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(1, message.into()))
}

/// The failure of the instruction at `line`, as BuildKit shows where it is.
fn at_line(line: usize, e: anyhow::Error) -> anyhow::Error {
    let code = crate::error::exit_code_of(&e);
    anyhow::Error::new(ExitError::new(code, format!("Dockerfile:{line}: {e:#}")))
}

struct Builder<'a> {
    root: &'a Path,
    kernel: &'a mut dyn Kernel,
    /// On the simulated host: layers are read from their blobs, never
    /// unpacked, and nothing is fetched from the network.
    sim: bool,
    observer: &'a mut dyn StepObserver,
    store: Store,
    ctx: &'a Context,
    opts: &'a BuildOptions,
    out: &'a mut dyn Write,
    /// Step counter and total, for `Step N/T`.
    step: usize,
    total: usize,
    /// Finished stages: name (if any) and image.
    stages: Vec<(Option<String>, State)>,
    meta_args: HashMap<String, Option<String>>,
    build_args: HashMap<String, String>,
    used_args: Vec<String>,
    tmp_seq: usize,
    started: std::time::Instant,
}

/// Build `dockerfile` (its text) with `ctx`; returns the final image's id.
pub fn build(
    root: &Path,
    kernel: &mut dyn Kernel,
    observer: &mut dyn StepObserver,
    ctx: &Context,
    dockerfile: &str,
    opts: &BuildOptions,
    out: &mut dyn Write,
) -> Result<String> {
    let df = instructions::parse(dockerfile)
        .map_err(|e| anyhow::Error::new(ExitError::new(EXIT_ENGINE, e.to_string())))?;
    let tags = opts
        .tags
        .iter()
        .map(|t| {
            let r = Reference::parse(t).map_err(|e| {
                ExitError::new(
                    EXIT_ENGINE,
                    format!("invalid tag {t:?}: invalid reference format: {e}"),
                )
            })?;
            if r.digest.is_some() {
                crate::exit_err!(EXIT_ENGINE, "invalid tag {t:?}: a tag cannot hold a digest");
            }
            Ok(if r.tag.is_none() {
                r.with_tag("latest")
            } else {
                r
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let stages = match &opts.target {
        Some(t) => {
            let t = t.to_ascii_lowercase();
            let pos = df
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(t.as_str()))
                .ok_or_else(|| {
                    ExitError::new(
                        EXIT_ENGINE,
                        format!("failed to reach build target {t} in Dockerfile"),
                    )
                })?;
            pos + 1
        }
        None => df.stages.len(),
    };
    if stages == 0 {
        crate::exit_err!(
            EXIT_ENGINE,
            "the Dockerfile has no FROM: a build needs at least one stage"
        );
    }
    let mut build_args = HashMap::new();
    for a in &opts.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            None => std::env::var(a)
                .ok()
                .map(|v| build_args.insert(a.clone(), v))
                .flatten(),
        };
    }
    let sim = kernel.is_simulated();
    let mut b = Builder {
        root,
        kernel,
        sim,
        observer,
        store: Store::open(root)?,
        ctx,
        opts,
        out,
        step: 0,
        total: df.stages[..stages]
            .iter()
            .map(|s| 1 + s.commands.len())
            .sum(),
        stages: Vec::new(),
        meta_args: HashMap::new(),
        build_args,
        used_args: Vec::new(),
        tmp_seq: 0,
        started: std::time::Instant::now(),
    };
    let result = b.run(&df, stages, &tags);
    // Only the final image keeps its entry; a failed build leaves none
    // (an intermediate image another running build uses waits for it).
    let keep = result.as_ref().ok().cloned();
    if let Err(e) = super::build_cache::finish(root, &b.store, keep.as_deref()) {
        eprintln!("glassbox: the build's intermediate images stay named: {e:#}");
    }
    result
}

impl Builder<'_> {
    fn say(&mut self, line: &str) -> Result<()> {
        if !self.opts.quiet {
            writeln!(self.out, "{line}")?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn header(&mut self, original: &str) -> Result<()> {
        self.step += 1;
        let line = if self.opts.plain {
            format!("#{} [{}/{}] {original}", self.step, self.step, self.total)
        } else {
            format!("Step {}/{} : {original}", self.step, self.total)
        };
        self.say(&line)
    }

    fn done(&mut self, id: &str, cached: bool) -> Result<()> {
        let short = short(id);
        if self.opts.plain {
            let line = if cached {
                format!("#{} CACHED", self.step)
            } else {
                format!(
                    "#{} DONE {:.1}s",
                    self.step,
                    self.started.elapsed().as_secs_f64()
                )
            };
            self.started = std::time::Instant::now();
            return self.say(&line);
        }
        if cached {
            self.say(" ---> Using cache")?;
        }
        self.say(&format!(" ---> {short}"))
    }

    fn run(&mut self, df: &Dockerfile, stages: usize, tags: &[Reference]) -> Result<String> {
        // ARGs before the first FROM: defaults, overridden by --build-arg.
        let lex = Lex::new(df.escape);
        for c in &df.meta_args {
            if let Instruction::Arg(defs) = &c.instruction {
                for d in defs {
                    let env = self.meta_env();
                    let value = match self.build_args.get(&d.key) {
                        Some(v) => {
                            self.used_args.push(d.key.clone());
                            Some(v.clone())
                        }
                        None => match &d.value {
                            Some(v) => Some(
                                lex.process_word(v, &env)
                                    .map_err(|e| at_line(c.line, fail(e)))?,
                            ),
                            None => None,
                        },
                    };
                    self.meta_args.insert(d.key.clone(), value);
                }
            }
        }
        let mut last = None;
        for (i, stage) in df.stages[..stages].iter().enumerate() {
            let state = self.stage(df, i, stage)?;
            last = Some(state.clone());
            self.stages.push((stage.name.clone(), state));
        }
        let mut state = last.expect("at least one stage");
        if !self.opts.labels.is_empty() {
            // --label: on the final image, as one more config change.
            let mut config = state.config.clone();
            let labels = cfg_obj(&mut config)
                .entry("Labels")
                .or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for l in &self.opts.labels {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                labels[k] = json!(v);
            }
            let created_by = format!("/bin/sh -c #(nop)  LABEL {}", self.opts.labels.join(" "));
            state = self
                .cached_or(&state, &created_by, "", |b, s| {
                    b.commit(s, config, None, &created_by)
                })?
                .0;
        }
        let unused: Vec<&String> = self
            .build_args
            .keys()
            .filter(|k| !self.used_args.contains(k))
            .collect();
        if !unused.is_empty() {
            let mut names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            names.sort();
            eprintln!(
                "[Warning] One or more build-args [{}] were not consumed",
                names.join(" ")
            );
        }
        let id = state.id.clone().ok_or_else(|| {
            fail("the build made no image: a FROM scratch stage needs at least one instruction")
        })?;
        let img = self
            .store
            .resolve(&id)?
            .with_context(|| format!("the built image {id} is not in the store"))?;
        if self.opts.quiet {
            writeln!(self.out, "{id}")?;
        } else {
            self.say(&format!("Successfully built {}", short(&id)))?;
        }
        for t in tags {
            self.store.tag(&img, t)?;
            if !self.opts.quiet {
                let shown = t.to_string();
                self.say(&format!("Successfully tagged {shown}"))?;
            }
        }
        Ok(id)
    }

    fn meta_env(&self) -> HashMap<String, String> {
        self.meta_args
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect()
    }

    /// Variables for expansion: the stage's ARGs, then its ENV over them.
    fn stage_env(&self, s: &State) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = s
            .args
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        for e in strings(s.config["config"].get("Env")) {
            if let Some((k, v)) = e.split_once('=') {
                env.insert(k.to_string(), v.to_string());
            }
        }
        env
    }

    fn stage(&mut self, df: &Dockerfile, index: usize, stage: &Stage) -> Result<State> {
        let lex = Lex::new(df.escape);
        self.header(&stage.original)?;
        if stage.platform.is_some() {
            return Err(at_line(
                stage.line,
                fail(
                    "FROM --platform is not supported yet: glassbox builds for the host's platform",
                ),
            ));
        }
        let base = lex
            .process_word(&stage.base, &self.meta_env())
            .map_err(|e| at_line(stage.line, fail(e)))?;
        let mut state = self
            .from(&base, index)
            .map_err(|e| at_line(stage.line, e))?;
        match &state.id {
            Some(id) => {
                let id = id.clone();
                self.done(&id, false)?
            }
            None => {
                if self.opts.plain {
                    let line = format!("#{} DONE 0.0s", self.step);
                    self.say(&line)?;
                }
            }
        }
        // The base's ONBUILD triggers, before the stage's own instructions.
        let triggers = strings(state.config["config"].get("OnBuild"));
        if !triggers.is_empty() {
            cfg_obj(&mut state.config).remove("OnBuild");
            self.say(&format!(
                "# Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ))?;
            for t in &triggers {
                let ast = crate::build::parser::parse(t).map_err(|e| {
                    at_line(stage.line, fail(format!("ONBUILD trigger {t:?}: {e}")))
                })?;
                for node in &ast.nodes {
                    let Parsed::Command(c) = instructions::parse_node(node).map_err(|e| {
                        at_line(stage.line, fail(format!("ONBUILD trigger {t:?}: {e}")))
                    })?
                    else {
                        return Err(at_line(
                            stage.line,
                            fail(format!(
                                "ONBUILD trigger {t:?}: FROM is not allowed as a trigger"
                            )),
                        ));
                    };
                    state = self
                        .command(&lex, state, &c, false)
                        .map_err(|e| at_line(stage.line, e))?;
                }
            }
        }
        for c in &stage.commands {
            self.header(&c.original)?;
            state = self
                .command(&lex, state, c, true)
                .map_err(|e| at_line(c.line, e))?;
        }
        Ok(state)
    }

    /// The state a FROM starts from.
    fn from(&mut self, base: &str, index: usize) -> Result<State> {
        if base.eq_ignore_ascii_case("scratch") {
            return Ok(State {
                config: json!({
                    "architecture": host_arch(),
                    "os": "linux",
                    "config": {"Env": [DEFAULT_PATH]},
                    "rootfs": {"type": "layers", "diff_ids": []},
                    "history": [],
                }),
                layers: vec![],
                id: None,
                args: vec![],
                cmd_set: false,
            });
        }
        let lower = base.to_ascii_lowercase();
        if let Some((_, s)) = self.stages[..index.min(self.stages.len())]
            .iter()
            .rev()
            .find(|(n, _)| n.as_deref() == Some(lower.as_str()))
        {
            let mut s = s.clone();
            s.args.clear();
            s.cmd_set = false;
            return Ok(s);
        }
        let img = super::run::resolve_image(&self.store, base, self.sim, self.observer)?;
        self.state_of(&img)
    }

    fn state_of(&self, img: &Image) -> Result<State> {
        let manifest = Manifest::parse(&self.store.read_blob(&img.manifest_digest)?)?;
        let config: Value = serde_json::from_slice(&self.store.read_blob(&manifest.config.digest)?)
            .context("the base image's config")?;
        if !config.is_object() {
            bail!("the config of image {} is not a JSON object", img.id);
        }
        Ok(State {
            config,
            layers: manifest.layers,
            id: Some(img.id.clone()),
            args: vec![],
            cmd_set: false,
        })
    }

    /// One instruction on `state`; `counted` says it had a `Step` line.
    fn command(&mut self, lex: &Lex, state: State, c: &Command, _counted: bool) -> Result<State> {
        let mut instruction = c.instruction.clone();
        // ARG values are decided before expansion (they may use earlier ones).
        if let Instruction::Arg(defs) = &instruction {
            let mut s = state;
            for d in defs {
                let env = self.stage_env(&s);
                let value = match self.build_args.get(&d.key) {
                    Some(v) => {
                        self.used_args.push(d.key.clone());
                        Some(v.clone())
                    }
                    None => match &d.value {
                        Some(v) => Some(lex.process_word(v, &env).map_err(fail)?),
                        None => self.meta_args.get(&d.key).cloned().flatten(),
                    },
                };
                s.args.retain(|(k, _)| k != &d.key);
                s.args.push((d.key.clone(), value));
            }
            // ARG changes no image: the step shows the same id.
            if let Some(id) = s.id.clone() {
                self.done(&id, false)?;
            }
            return Ok(s);
        }
        let env = self.stage_env(&state);
        instruction
            .expand(&|w| lex.process_word(w, &env))
            .map_err(fail)?;
        // A COPY heredoc with an unquoted word expands its content, quotes
        // kept (BuildKit's ExpandRaw).
        if let Instruction::Copy(cp) | Instruction::Add(cp) = &mut instruction {
            let mut raw = Lex::new('\\');
            raw.skip_process_quotes = true;
            for content in cp.contents.iter_mut().filter(|c| c.expand) {
                content.data = raw.process_word(&content.data, &env).map_err(fail)?;
            }
        }
        match instruction {
            Instruction::Run(r) => self.run_step(&state, r),
            Instruction::Copy(cp) => self.copy_step(&state, cp, false, &c.original),
            Instruction::Add(cp) => self.copy_step(&state, cp, true, &c.original),
            Instruction::Workdir(w) => self.workdir_step(&state, &w),
            Instruction::Shell(sh) => {
                let mut config = state.config.clone();
                cfg_obj(&mut config).insert("Shell".into(), json!(sh));
                let created_by =
                    format!("/bin/sh -c #(nop)  SHELL {}", serde_json::to_string(&sh)?);
                self.meta(&state, config, &created_by, state.cmd_set)
            }
            Instruction::Maintainer(m) => {
                let mut config = state.config.clone();
                config["author"] = json!(m);
                let created_by = format!("/bin/sh -c #(nop)  MAINTAINER {m}");
                self.meta(&state, config, &created_by, state.cmd_set)
            }
            other => {
                let text = describe(&other);
                let mut config = state.config.clone();
                let mut cmd_set = state.cmd_set;
                super::changes::apply_instruction(cfg_obj(&mut config), other, &mut cmd_set)
                    .map_err(fail)?;
                let created_by = format!("/bin/sh -c #(nop)  {text}");
                self.meta(&state, config, &created_by, cmd_set)
            }
        }
    }

    /// A step that changes only the config.
    fn meta(
        &mut self,
        state: &State,
        config: Value,
        created_by: &str,
        cmd_set: bool,
    ) -> Result<State> {
        let (mut s, _) = self.cached_or(state, created_by, "", |b, s| {
            b.commit(s, config, None, created_by)
        })?;
        s.cmd_set = cmd_set;
        Ok(s)
    }

    /// The cached result of this step if there is one, else `make`'s.
    fn cached_or(
        &mut self,
        state: &State,
        created_by: &str,
        extra: &str,
        make: impl FnOnce(&mut Self, &State) -> Result<State>,
    ) -> Result<(State, bool)> {
        let key = cache_key(state.id.as_deref(), created_by, extra);
        if !self.opts.no_cache {
            if let Some(hit) = self.cache_lookup(&key, state)? {
                let id = hit.id.clone().unwrap_or_default();
                self.done(&id, true)?;
                return Ok((hit, true));
            }
        }
        let made = make(self, state)?;
        self.cache_store(&key, &made)?;
        let id = made.id.clone().unwrap_or_default();
        self.done(&id, false)?;
        Ok((made, false))
    }

    fn cache_dir(&self) -> PathBuf {
        self.root.join("build-cache")
    }

    fn cache_lookup(&mut self, key: &str, state: &State) -> Result<Option<State>> {
        let Ok(manifest_digest) = std::fs::read_to_string(self.cache_dir().join(key)) else {
            return Ok(None);
        };
        let manifest_digest = manifest_digest.trim();
        let Ok(bytes) = self.store.read_blob(manifest_digest) else {
            return Ok(None);
        };
        let Ok(manifest) = Manifest::parse(&bytes) else {
            return Ok(None);
        };
        if !self.store.has_blob(&manifest.config.digest)
            || !manifest
                .layers
                .iter()
                .all(|l| self.store.has_blob(&l.digest))
        {
            return Ok(None); // pruned since
        }
        let img = self.register(&bytes, &manifest.config.digest, None)?;
        let mut s = self.state_of(&img)?;
        s.args = state.args.clone();
        s.cmd_set = state.cmd_set;
        Ok(Some(s))
    }

    fn cache_store(&self, key: &str, made: &State) -> Result<()> {
        let Some(id) = &made.id else { return Ok(()) };
        let img = self
            .store
            .resolve(id)?
            .context("the step's image vanished")?;
        std::fs::create_dir_all(self.cache_dir())?;
        fsutil::atomic_write_with(
            &self.cache_dir().join(key),
            img.manifest_digest.as_bytes(),
            false,
        )
    }

    /// Name the manifest in the index (unnamed), held by this build
    /// (`build_cache::register`) until it ends. On the simulated host nothing is
    /// unpacked: the layer just made (`fresh`) is checked against its
    /// diff_id, its unpack step shown as what the real runtime does.
    fn register(
        &mut self,
        manifest_bytes: &[u8],
        config_digest: &str,
        fresh: Option<&str>,
    ) -> Result<Image> {
        let observer = &mut *self.observer;
        let store = &self.store;
        let mode = if self.sim {
            Unpack::CheckOnly(fresh.map(String::from).into_iter().collect())
        } else {
            Unpack::Yes
        };
        super::build_cache::register(self.root, store, config_digest, || {
            store
                .add_image_with(manifest_bytes, None, mode, &mut |l, dir| {
                    let step = Step::layer_unpack(l, store.blob_path(&l.digest), dir);
                    announce(observer, &step)
                })
                .context("add the step's image")
        })
    }

    fn tmp(&mut self, what: &str) -> PathBuf {
        self.tmp_seq += 1;
        self.root.join(format!(
            ".tmp-{}-build-{}-{what}",
            std::process::id(),
            self.tmp_seq
        ))
    }

    /// Commit `config` (with `layer`, a tar file, on top) as the step's image.
    fn commit(
        &mut self,
        parent: &State,
        mut config: Value,
        layer: Option<&Path>,
        created_by: &str,
    ) -> Result<State> {
        let now = crate::container::now_rfc3339();
        let mut layers = parent.layers.clone();
        let obj = config.as_object_mut().context("config is not an object")?;
        obj.insert("created".into(), json!(now));
        let mut entry = json!({"created": now, "created_by": created_by});
        let mut fresh = None;
        if let Some(tar) = layer {
            let size = std::fs::metadata(tar)?.len();
            let diff_id = store_file(&self.store, self.observer, "layer", tar)?;
            fresh = Some(diff_id.clone());
            layers.push(Descriptor::new(MEDIA_OCI_LAYER, &diff_id, size));
            let rootfs = obj
                .entry("rootfs")
                .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
            match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
                Some(ids) => ids.push(json!(diff_id)),
                None => rootfs["diff_ids"] = json!([diff_id]),
            }
        } else {
            entry["empty_layer"] = json!(true);
        }
        let history = obj.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        history.as_array_mut().unwrap().push(entry);
        let config_bytes = serde_json::to_vec(&config)?;
        let config_tmp = self.tmp("config.json");
        let stored = store_bytes(
            &self.store,
            self.observer,
            "config",
            &config_tmp,
            &config_bytes,
        );
        let _ = std::fs::remove_file(&config_tmp);
        let config_digest = stored?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_MANIFEST.to_string()),
            config: Descriptor::new(MEDIA_OCI_CONFIG, &config_digest, config_bytes.len() as u64),
            layers: layers.clone(),
            extra: Default::default(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest)?;
        let manifest_digest = format!("sha256:{}", fsutil::sha256_hex(&manifest_bytes));
        let manifest_tmp = self.tmp("manifest.json");
        std::fs::write(&manifest_tmp, &manifest_bytes)?;
        let step = Step::ImageAdd {
            manifest: manifest_tmp.clone(),
            manifest_blob: self.store.blob_path(&manifest_digest),
            descriptor: json!({
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_bytes.len(),
            })
            .to_string(),
            reference: None,
            index: self.root.join("index.json"),
        };
        let shown = announce(self.observer, &step);
        let _ = std::fs::remove_file(&manifest_tmp);
        shown?;
        let img = self.register(&manifest_bytes, &config_digest, fresh.as_deref())?;
        self.observer.after(&step);
        Ok(State {
            config,
            layers,
            id: Some(img.id),
            args: parent.args.clone(),
            cmd_set: parent.cmd_set,
        })
    }

    fn run_step(&mut self, state: &State, r: instructions::Run) -> Result<State> {
        if !r.mounts.is_empty()
            || r.network != "default" && !r.network.is_empty()
            || r.security != "sandbox" && !r.security.is_empty()
        {
            bail!("RUN --mount, --network and --security are BuildKit features glassbox's builder does not have yet");
        }
        let Some(id) = state.id.clone() else {
            bail!("RUN needs a base image with a shell: FROM scratch has no files (ADD or COPY a program first)");
        };
        let args = if r.cmd.files.is_empty() {
            r.cmd.args.clone()
        } else {
            vec![heredoc_script(&r.cmd)?]
        };
        let argv: Vec<String> = if r.cmd.prepend_shell {
            let mut sh = strings(state.config["config"].get("Shell"));
            if sh.is_empty() {
                sh = vec!["/bin/sh".into(), "-c".into()];
            }
            sh.extend(args);
            sh
        } else {
            args
        };
        // The ARGs with values, given to the command (ENV wins over them).
        let envs = strings(state.config["config"].get("Env"));
        let args: Vec<String> = state
            .args
            .iter()
            .filter_map(|(k, v)| Some(format!("{k}={}", v.as_ref()?)))
            .filter(|kv| {
                let k = kv.split('=').next().unwrap_or("");
                !envs.iter().any(|e| e.split('=').next() == Some(k))
            })
            .collect();
        let created_by = if args.is_empty() {
            argv.join(" ")
        } else {
            format!("|{} {} {}", args.len(), args.join(" "), argv.join(" "))
        };
        let (s, _) = self.cached_or(state, &created_by, "", |b, s| {
            let tar = b.run_container(&id, argv.clone(), args.clone())?;
            let made = b.commit(s, s.config.clone(), Some(&tar), &created_by);
            let _ = std::fs::remove_file(&tar);
            made
        })?;
        Ok(s)
    }

    /// Run `argv` in a container of image `id`; returns its changes as a layer tar.
    fn run_container(&mut self, id: &str, argv: Vec<String>, env: Vec<String>) -> Result<PathBuf> {
        let opts = RunOptions {
            image: id.to_string(),
            command: argv.clone(),
            entrypoint: Some(String::new()),
            env,
            network: Network::None,
            ..Default::default()
        };
        let c = super::create(self.root, &*self.kernel, self.observer, &opts)?;
        let short_id = c.short_id().to_string();
        self.say(&format!(" ---> Running in {short_id}"))?;
        let result = (|| -> Result<PathBuf> {
            let code = super::start(
                self.root,
                self.kernel,
                self.observer,
                c.clone(),
                StartOptions {
                    fresh: true,
                    discard_output: self.opts.quiet,
                    ..Default::default()
                },
            )?;
            if code != 0 {
                return Err(fail(format!(
                    "The command '{}' returned a non-zero code: {code}",
                    argv.join(" ")
                )));
            }
            let tar = self.tmp("layer.tar");
            let step = Step::LayerTar {
                upper: c.dir(self.root).join("upper"),
                tar: tar.clone(),
            };
            announce(self.observer, &step)?;
            let written = (|| -> Result<()> {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&tar)?);
                super::files::layer_tar(self.root, &c, &mut w)?;
                w.flush()?;
                Ok(())
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tar);
                return Err(e);
            }
            self.observer.after(&step);
            Ok(tar)
        })();
        // The container goes however the step ended (it may already be gone
        // if its start was rolled back).
        let removed =
            super::remove_container(self.root, self.kernel, self.observer, &c.id, true, true);
        if crate::container::find(self.root, &c.id).is_err() {
            self.say(&format!("Removing intermediate container {short_id}"))?;
        } else if let Err(e) = removed {
            eprintln!("glassbox: removing the build container {short_id}: {e:#}");
        }
        result
    }

    fn workdir_step(&mut self, state: &State, w: &str) -> Result<State> {
        let mut config = state.config.clone();
        let mut cmd_set = state.cmd_set;
        super::changes::apply_instruction(
            cfg_obj(&mut config),
            Instruction::Workdir(w.to_string()),
            &mut cmd_set,
        )
        .map_err(fail)?;
        let dir = config["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {dir}");
        let rel = dir.trim_start_matches('/').to_string();
        let view = ImageView::open(&self.store, state, self.sim)?;
        if rel.is_empty() || view.kind(&rel).is_some() {
            return self.meta(state, config, &created_by, cmd_set);
        }
        // Missing: a layer that makes it (docker's builder does the same).
        let (s, _) = self.cached_or(state, &created_by, "mkdir", |b, s| {
            let tar = b.tmp("layer.tar");
            let made = (|| -> Result<State> {
                let mut lw =
                    LayerWriter::new(std::io::BufWriter::new(std::fs::File::create(&tar)?));
                let attrs = CopyAttrs {
                    uid: 0,
                    gid: 0,
                    chmod: None,
                    ignore: None,
                };
                lw.dir(&rel, 0o755, &attrs, 0)?;
                let (mut w, _) = lw.finish()?;
                w.flush()?;
                b.commit(s, config, Some(&tar), &created_by)
            })();
            let _ = std::fs::remove_file(&tar);
            made
        })?;
        Ok(State { cmd_set, ..s })
    }

    fn copy_step(&mut self, state: &State, cp: Copy, add: bool, original: &str) -> Result<State> {
        let verb = if add { "ADD" } else { "COPY" };
        if !cp.contents.is_empty() && !cp.from.is_empty() {
            bail!("{verb} --from cannot take a heredoc: its sources are in the other image");
        }
        if cp.link || cp.parents || !cp.excludes.is_empty() || !cp.checksum.is_empty() {
            bail!("{verb} --link, --parents, --exclude and --checksum are BuildKit features glassbox's builder does not have yet");
        }
        let _ = original;
        let view = ImageView::open(&self.store, state, self.sim)?;
        let (uid, gid) = match cp.chown.as_str() {
            "" => (0, 0),
            spec => {
                let read = |f: &str| {
                    String::from_utf8_lossy(&view.read(f).unwrap_or_default()).into_owned()
                };
                let (u, _) =
                    super::exec::resolve_user(spec, &read("etc/passwd"), &read("etc/group"))
                        .map_err(|m| fail(format!("--chown={spec}: {m}")))?;
                (u.uid, u.gid)
            }
        };
        let chmod = match cp.chmod.as_str() {
            "" => None,
            m => Some(u32::from_str_radix(m, 8).map_err(|_| {
                fail(format!(
                    "invalid --chmod={m}: give an octal mode such as 0755"
                ))
            })?),
        };
        let workdir = state.config["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let dest_abs = if cp.dest.starts_with('/') {
            cp.dest.clone()
        } else {
            format!("{}/{}", workdir.trim_end_matches('/'), cp.dest)
        };
        let dest_rel = context::clean_checked(&dest_abs).unwrap_or_default();
        let nsources = cp.sources.len() + cp.contents.len();
        let many = nsources > 1 || cp.sources.iter().any(|s| s.contains(['*', '?', '[']));
        let dest_is_dir = cp.dest.ends_with('/')
            || cp.dest.ends_with("/.")
            || cp.dest == "."
            || dest_rel.is_empty()
            || view.kind(&dest_rel) == Some(true);
        if nsources > 1 && !dest_is_dir {
            bail!("When using {verb} with more than one source file, the destination must be a directory and end with a /");
        }
        let tar = self.tmp("layer.tar");
        let result = (|| -> Result<State> {
            let file = std::io::BufWriter::new(std::fs::File::create(&tar)?);
            let mut lw = LayerWriter::new(file);
            let attrs = CopyAttrs {
                uid,
                gid,
                chmod,
                ignore: None,
            };
            let mut kinds = Vec::new();
            if !cp.from.is_empty() {
                self.copy_from_image(
                    &cp,
                    &mut lw,
                    &attrs,
                    &dest_rel,
                    dest_is_dir || many,
                    &mut kinds,
                )?;
            } else {
                // Heredocs: a file named by the heredoc's word, mode 0644
                // (BuildKit's Mkfile), made now.
                let now = (crate::clock::now_ms() / 1000) as i64;
                for content in &cp.contents {
                    let target = if dest_is_dir || many {
                        context::join(&dest_rel, &content.path)
                    } else {
                        dest_rel.clone()
                    };
                    lw.note(&content.path);
                    lw.bytes(&target, 0o644, &attrs, now, content.data.as_bytes())?;
                    kinds.push("file");
                }
                for src in &cp.sources {
                    if add && (src.starts_with("http://") || src.starts_with("https://")) {
                        if self.sim {
                            bail!("ADD of a URL ({src}) is not simulated: the simulated host reaches no network beyond itself; put the file in the context");
                        }
                        let (name, data) = download(src)?;
                        let target = if dest_is_dir {
                            context::join(&dest_rel, &name)
                        } else {
                            dest_rel.clone()
                        };
                        lw.note(src);
                        lw.bytes(&target, 0o600, &attrs, 0, &data)?;
                        kinds.push("file");
                        continue;
                    }
                    if src.starts_with("http://")
                        || src.starts_with("https://")
                        || src.starts_with("git@")
                    {
                        bail!("COPY cannot take a URL ({src}): use ADD");
                    }
                    let ctx_attrs = CopyAttrs {
                        ignore: Some(&self.ctx.ignore),
                        ..attrs
                    };
                    for rel in self.ctx.sources(src)? {
                        let root = self.ctx.root().context("no build context")?;
                        let fd = context::resolve(root, &rel, Scope::Context)?;
                        let st = fsutil::fstat(fd.as_fd())?;
                        if fsutil::is_dir(&st) {
                            kinds.push("dir");
                            lw.children(fd.as_fd(), &dest_rel, &rel, &ctx_attrs)?;
                        } else if add && is_archive(fd.as_fd())? {
                            kinds.push("multi");
                            unpack_into(fd.as_fd(), &dest_rel, &mut lw, &attrs)?;
                        } else {
                            kinds.push("file");
                            let base = rel.rsplit('/').next().unwrap_or(&rel).to_string();
                            let target = if dest_is_dir || many {
                                context::join(&dest_rel, &base)
                            } else {
                                dest_rel.clone()
                            };
                            if target.is_empty() {
                                bail!("cannot copy the file {rel} over the image's root directory");
                            }
                            lw.append(fd.as_fd(), &target, &rel, &ctx_attrs)?;
                        }
                    }
                }
            }
            let (mut w, hash) = lw.finish()?;
            w.flush()?;
            drop(w);
            let kind = if kinds.len() == 1 { kinds[0] } else { "multi" };
            let shown_dest = if dest_is_dir && !dest_abs.ends_with('/') {
                format!("{dest_abs}/")
            } else {
                dest_abs.clone()
            };
            let created_by = format!("/bin/sh -c #(nop) {verb} {kind}:{hash} in {shown_dest} ");
            let (s, _) = self.cached_or(state, &created_by, &format!("{uid}:{gid}"), |b, s| {
                b.commit(s, s.config.clone(), Some(&tar), &created_by)
            })?;
            Ok(s)
        })();
        let _ = std::fs::remove_file(&tar);
        result
    }

    /// `COPY --from=STAGE|IMAGE`: the sources read from that image's root,
    /// mounted read-only by a helper for a container made for it (then removed).
    fn copy_from_image(
        &mut self,
        cp: &Copy,
        lw: &mut LayerWriter<std::io::BufWriter<std::fs::File>>,
        attrs: &CopyAttrs,
        dest_rel: &str,
        dest_is_dir: bool,
        kinds: &mut Vec<&'static str>,
    ) -> Result<()> {
        let from = cp.from.to_ascii_lowercase();
        let stage = match from.parse::<usize>() {
            Ok(n) => self.stages.get(n).map(|(_, s)| s.clone()),
            Err(_) => self
                .stages
                .iter()
                .rev()
                .find(|(n, _)| n.as_deref() == Some(from.as_str()))
                .map(|(_, s)| s.clone()),
        };
        let id = match stage {
            Some(s) => s.id.clone().ok_or_else(|| {
                fail(format!(
                    "--from={}: that stage is an empty scratch image",
                    cp.from
                ))
            })?,
            None => super::run::resolve_image(&self.store, &cp.from, self.sim, self.observer)?.id,
        };
        if self.sim {
            // The simulated host reads the image's files from its layer blobs.
            let img = self
                .store
                .resolve(&id)?
                .with_context(|| format!("image {id} is not in the store"))?;
            let files = super::sim_files::ImageFiles::open(self.root, &img.layers)?;
            for src in &cp.sources {
                let rel = context::clean_checked(src).unwrap_or_default();
                lw.note(&rel);
                kinds.push(files.copy_into(&rel, lw, attrs, dest_rel, dest_is_dir)?);
            }
            return Ok(());
        }
        let opts = RunOptions {
            image: id,
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("#(nop) COPY --from={}", cp.from),
            ],
            network: Network::None,
            ..Default::default()
        };
        let c = super::create(self.root, &*self.kernel, self.observer, &opts)?;
        // The helper writes the entries into a tar file of its own; we append them.
        let part = self.tmp("from.tar");
        let hash_file = self.tmp("from.hash");
        let sources = cp.sources.clone();
        let result = super::files::with_rootfs(self.root, &c, false, |rootfs| {
            let root = RootDir::open(rootfs)?;
            let mut w = LayerWriter::new(std::io::BufWriter::new(std::fs::File::create(&part)?));
            let mut kinds = String::new();
            for src in &sources {
                let rel = context::clean_checked(src).unwrap_or_default();
                let fd = context::resolve(&root, &rel, Scope::Image)
                    .map_err(|e| fail(format!("COPY --from: {src}: {e:#}")))?;
                let st = fsutil::fstat(fd.as_fd())?;
                if fsutil::is_dir(&st) {
                    kinds.push('d');
                    w.children(fd.as_fd(), dest_rel, &rel, attrs)?;
                } else {
                    kinds.push('f');
                    let base = rel.rsplit('/').next().unwrap_or(&rel).to_string();
                    let target = if dest_is_dir {
                        context::join(dest_rel, &base)
                    } else {
                        dest_rel.to_string()
                    };
                    w.append(fd.as_fd(), &target, &rel, attrs)?;
                }
            }
            let (mut f, hash) = w.finish()?;
            f.flush()?;
            std::fs::write(&hash_file, format!("{hash} {kinds}"))?;
            Ok(())
        });
        let _ = super::remove_container(self.root, self.kernel, self.observer, &c.id, true, true);
        let appended = result.and_then(|_| {
            let note = std::fs::read_to_string(&hash_file)?;
            lw.note(&note);
            for k in note.split(' ').nth(1).unwrap_or("").chars() {
                kinds.push(if k == 'd' { "dir" } else { "file" });
            }
            let mut a = tar::Archive::new(std::fs::File::open(&part)?);
            for e in a.entries()? {
                let mut e = e?;
                let mut h = e.header().clone();
                let path = e.path()?.into_owned();
                if h.entry_type() == tar::EntryType::Symlink {
                    let target = e.link_name()?.map(|l| l.into_owned()).unwrap_or_default();
                    lw.tar.append_link(&mut h, &path, &target)?;
                } else {
                    lw.tar.append_data(&mut h, &path, &mut e)?;
                }
            }
            Ok(())
        });
        let _ = std::fs::remove_file(&part);
        let _ = std::fs::remove_file(&hash_file);
        appended
    }
}

/// The script a RUN with heredocs gives its shell, as BuildKit's
/// dispatchRun makes it: `RUN <<EOF` alone runs the heredoc's content;
/// anything more (`RUN <<EOF sh`, several heredocs) is handed to the shell
/// whole, with the heredocs' bodies after it, for the shell to read them.
fn heredoc_script(cmd: &instructions::CmdLine) -> Result<String> {
    if cmd.args.len() != 1 || !cmd.prepend_shell {
        bail!("parsing produced an invalid run command: {:?}", cmd.args);
    }
    let bare = cmd.files.len() == 1
        && crate::build::parser::parse_heredoc(&cmd.args[0])
            .ok()
            .flatten()
            .is_some();
    if bare {
        let f = &cmd.files[0];
        let data = if f.chomp {
            instructions::chomp_heredoc(&f.data)
        } else {
            f.data.clone()
        };
        if data.starts_with("#!") {
            return Ok(script_file_run(&f.name, &data));
        }
        return Ok(data);
    }
    let mut full = cmd.args[0].clone();
    for f in &cmd.files {
        full.push('\n');
        full.push_str(&f.data);
        full.push_str(&f.name);
    }
    Ok(full)
}

/// A heredoc with a #! line is a script for its own interpreter: BuildKit
/// puts it at /dev/pipes/NAME, executable, and runs that file. The shell
/// does the same here; /dev is the container's own tmpfs, so the script
/// never lands in the layer.
fn script_file_run(name: &str, data: &str) -> String {
    let file = format!("/dev/pipes/{}", name.replace(['/', '\'', '"'], "_"));
    // A delimiter that no line of the script is.
    let mut end = String::from("GLASSBOX_SCRIPT_END");
    while data.lines().any(|l| l == end) {
        end.push('_');
    }
    let body = if data.ends_with('\n') {
        data.to_string()
    } else {
        format!("{data}\n")
    };
    format!("mkdir -p /dev/pipes && cat > '{file}' <<'{end}'\n{body}{end}\nchmod 0755 '{file}' && exec '{file}'")
}

/// The 12-hex short form of an id.
fn short(id: &str) -> String {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    h[..h.len().min(12)].to_string()
}

fn cache_key(parent: Option<&str>, created_by: &str, extra: &str) -> String {
    fsutil::sha256_hex(format!("{}\n{created_by}\n{extra}", parent.unwrap_or("scratch")).as_bytes())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The config's `config` object, made if missing.
fn cfg_obj(config: &mut Value) -> &mut Map<String, Value> {
    let c = config
        .as_object_mut()
        .expect("image configs are objects")
        .entry("config")
        .or_insert_with(|| json!({}));
    if !c.is_object() {
        *c = json!({});
    }
    c.as_object_mut().unwrap()
}

/// A metadata instruction as docker's history shows it.
fn describe(i: &Instruction) -> String {
    let cmd = |l: &instructions::CmdLine| {
        if l.prepend_shell {
            format!("[\"/bin/sh\" \"-c\" {:?}]", l.args.join(" "))
        } else {
            serde_json::to_string(&l.args).unwrap_or_default()
        }
    };
    let kvs = |kv: &[instructions::KeyValue]| {
        kv.iter()
            .map(|k| format!("{}={}", k.key, k.value))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match i {
        Instruction::Cmd(l) => format!("CMD {}", cmd(l)),
        Instruction::Entrypoint(l) => format!("ENTRYPOINT {}", cmd(l)),
        Instruction::Env(kv) => format!("ENV {}", kvs(kv)),
        Instruction::Label(kv) => format!("LABEL {}", kvs(kv)),
        Instruction::Expose(p) => format!("EXPOSE {}", p.join(" ")),
        Instruction::User(u) => format!("USER {u}"),
        Instruction::Volume(v) => {
            format!("VOLUME {}", serde_json::to_string(v).unwrap_or_default())
        }
        Instruction::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Instruction::Onbuild(t) => format!("ONBUILD {t}"),
        Instruction::Healthcheck(h) => format!("HEALTHCHECK {:?}", h.test),
        other => format!("{other:?}"),
    }
}

/// Whether the file is a tar archive (plain or gzip): ADD unpacks those.
fn is_archive(fd: std::os::fd::BorrowedFd) -> Result<bool> {
    let f = std::fs::File::from(fsutil::reopen(fd, libc::O_RDONLY)?);
    let Ok(mut r) = crate::image::unpack::decompressed(f) else {
        return Ok(false);
    };
    let mut block = [0u8; 512];
    let mut n = 0;
    while n < 512 {
        match std::io::Read::read(&mut r, &mut block[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return Ok(false),
        }
    }
    Ok(n == 512 && crate::image::store::is_tar_header(&block))
}

/// ADD of a local archive: its entries under `dest`, refusing `..` and
/// absolute names; owners as in the archive unless --chown.
fn unpack_into<W: Write>(
    fd: std::os::fd::BorrowedFd,
    dest: &str,
    lw: &mut LayerWriter<W>,
    attrs: &CopyAttrs,
) -> Result<()> {
    let f = std::fs::File::from(fsutil::reopen(fd, libc::O_RDONLY)?);
    let r = crate::image::unpack::decompressed(f)?;
    let mut a = tar::Archive::new(r);
    for e in a.entries()? {
        let mut e = e?;
        let path = e.path()?.into_owned();
        let Some(rel) = super::files::archive_entry_name(&path)? else {
            continue;
        };
        let name = context::join(dest, &rel);
        let mut h = e.header().clone();
        if attrs.uid != 0 || attrs.gid != 0 {
            h.set_uid(attrs.uid as u64);
            h.set_gid(attrs.gid as u64);
        }
        lw.note(&format!(
            "{name}\t{:?}\t{:o}",
            h.entry_type(),
            h.mode().unwrap_or(0)
        ));
        match h.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = e.link_name()?.map(|l| l.into_owned()).unwrap_or_default();
                if h.entry_type() == tar::EntryType::Link {
                    let t = super::files::archive_entry_name(&target)?.unwrap_or_default();
                    lw.tar.append_link(&mut h, &name, context::join(dest, &t))?;
                } else {
                    lw.note(&target.display().to_string());
                    lw.tar.append_link(&mut h, &name, &target)?;
                }
            }
            _ => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data)?;
                lw.note(&fsutil::sha256_hex(&data));
                lw.tar.append_data(&mut h, &name, &data[..])?;
            }
        }
    }
    Ok(())
}

/// ADD of a URL: the file's name (the URL's last element) and content.
fn download(url: &str) -> Result<(String, Vec<u8>)> {
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && !n.contains(':'))
        .unwrap_or("download")
        .to_string();
    let resp = ureq::get(url)
        .timeout(std::time::Duration::from_secs(30))
        .call()
        .map_err(|e| fail(format!("ADD failed: cannot download {url}: {e} (is this host offline? put the file in the context and ADD or COPY it from there)")))?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut data)
        .map_err(|e| fail(format!("ADD failed: download of {url} broke off: {e}")))?;
    Ok((name, data))
}

/// An image's files: its unpacked layers (top first) on the real host,
/// its layer blobs read by the simulator's model on the simulated one;
/// enough to ask whether a path exists and to read /etc/passwd.
enum ImageView {
    Layers(Vec<RootDir>),
    Sim(super::sim_files::ImageFiles),
}

impl ImageView {
    fn open(store: &Store, s: &State, sim: bool) -> Result<ImageView> {
        let Some(id) = &s.id else {
            return Ok(ImageView::Layers(vec![]));
        };
        let img = store
            .resolve(id)?
            .with_context(|| format!("image {id} is not in the store"))?;
        if sim {
            return Ok(ImageView::Sim(super::sim_files::ImageFiles::open(
                &store.root,
                &img.layers,
            )?));
        }
        let mut layers = store
            .layer_dirs(&img)?
            .iter()
            .map(|d| RootDir::open(d))
            .collect::<Result<Vec<_>>>()?;
        layers.reverse();
        Ok(ImageView::Layers(layers))
    }

    /// Whether `rel` exists, and is a directory.
    fn kind(&self, rel: &str) -> Option<bool> {
        match self {
            ImageView::Sim(f) => f.kind(rel),
            ImageView::Layers(layers) => Self::lookup(layers, rel).map(|st| fsutil::is_dir(&st)),
        }
    }

    fn read(&self, rel: &str) -> Option<Vec<u8>> {
        match self {
            ImageView::Sim(f) => f.read(rel),
            ImageView::Layers(layers) => Self::read_layers(layers, rel),
        }
    }

    fn lookup(layers: &[RootDir], rel: &str) -> Option<libc::stat> {
        for layer in layers {
            // A whiteout of the path or of a parent hides the layers below.
            let mut prefix = String::new();
            for part in rel.split('/') {
                prefix = context::join(&prefix, part);
                if let Ok(st) = fsutil::lstat_at(layer.fd(), prefix.as_bytes()) {
                    if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0 {
                        return None;
                    }
                }
            }
            match layer.open_in_root(
                rel.as_bytes(),
                libc::O_PATH | libc::O_NOFOLLOW,
                0,
                Resolve::NoSymlinks,
            ) {
                Ok(fd) => return fsutil::fstat(fd.as_fd()).ok(),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    fn read_layers(layers: &[RootDir], rel: &str) -> Option<Vec<u8>> {
        Self::lookup(layers, rel)?;
        for layer in layers {
            if let Ok(fd) = layer.open_in_root(
                rel.as_bytes(),
                libc::O_RDONLY | libc::O_NOFOLLOW,
                0,
                Resolve::NoSymlinks,
            ) {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut b).ok()?;
                return Some(b);
            }
        }
        None
    }
}
