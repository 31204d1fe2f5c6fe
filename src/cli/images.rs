//! The image commands' output, shaped like docker's, and their arguments
//! (clap). The work is `engine::images` (import, tag, rmi, prune, list,
//! history, inspect, save, load), `engine::auth` and `engine::search`; the
//! registry's pull and push are `crate::registry`.

use super::format::{format_table, human_size};
use crate::engine::images::{self as engine_images, Removal};
use crate::image::Store;
use anyhow::{bail, Result};
use std::io::{Read, Write};
use std::path::Path;

/// `docker import FILE|- [REPOSITORY[:TAG]] [-c CHANGE]... [-m MESSAGE]`.
/// Prints the new image id (`sha256:<hex>`).
pub fn import(
    root: &Path,
    source: &str,
    reference: Option<&str>,
    changes: &[String],
    message: Option<&str>,
) -> Result<()> {
    let id = engine_images::import(root, source, reference, changes, message)?;
    println!("{id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout() {
        let t = format_table(&[
            vec![
                "REPOSITORY".into(),
                "TAG".into(),
                "IMAGE ID".into(),
                "CREATED".into(),
                "SIZE".into(),
            ],
            vec![
                "busybox".into(),
                "latest".into(),
                "beae173ccac6".into(),
                "2 years ago".into(),
                "1.24MB".into(),
            ],
        ]);
        assert_eq!(
            t,
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    beae173ccac6   2 years ago   1.24MB\n"
        );
    }

    fn tiny_tar(content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("hello.txt").unwrap();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, content).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn import_then_images() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("store");
        let tarp = t.path().join("rootfs.tar");
        std::fs::write(&tarp, tiny_tar(&[b'x'; 4260])).unwrap();
        let id = engine_images::import(
            &root,
            tarp.to_str().unwrap(),
            Some("myimg:v1"),
            &["CMD [\"/hello\"]".into()],
            None,
        )
        .unwrap();
        assert!(id.starts_with("sha256:") && id.len() == 71);
        let id2 =
            engine_images::import(&root, tarp.to_str().unwrap(), None, &[], Some("msg")).unwrap();
        let store = Store::open(&root).unwrap();
        let now = chrono::Utc::now() + chrono::Duration::seconds(150);
        let opts = |quiet, no_trunc| ImagesOptions {
            quiet,
            no_trunc,
            ..Default::default()
        };
        let out = render_images_with(&store, &opts(false, false), now).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
            "{out}"
        );
        // newest first: the unnamed import
        assert!(lines[1].starts_with("<none>       <none>    "), "{out}");
        assert!(lines[1].contains(&id2[7..19]));
        assert!(lines[2].starts_with("myimg        v1        "), "{out}");
        assert!(lines[2].contains("2 minutes ago"), "{out}");
        assert!(lines[2].ends_with("4.26kB"), "{out}");
        let q = render_images_with(&store, &opts(true, false), now).unwrap();
        assert_eq!(q.lines().count(), 2);
        let q = render_images_with(&store, &opts(true, true), now).unwrap();
        assert!(q.contains(&id) && q.contains(&id2));

        let img = store.resolve("myimg:v1").unwrap().unwrap();
        assert_eq!(
            img.config
                .config()
                .as_ref()
                .unwrap()
                .cmd()
                .as_ref()
                .unwrap(),
            &vec!["/hello".to_string()]
        );
        let hist = &img.config.history()[0];
        assert_eq!(
            hist.comment().as_deref(),
            Some(format!("Imported from {}", tarp.display()).as_str())
        );

        let err = engine_images::import(&root, "/nonexistent/x.tar", None, &[], None).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.tar"), "{err:#}");
        let err = engine_images::import(&root, tarp.to_str().unwrap(), Some("Bad:Ref"), &[], None)
            .unwrap_err();
        assert!(
            err.to_string().contains("invalid reference format"),
            "{err:#}"
        );
    }
}

// ---- pull, push, tag, rmi, prune -------------------------------------------

/// The narrator for pull and push: registry steps need no kernel, so this
/// does not open one (`GlobalOptions::narrator` would).
pub fn registry_narrator(g: &super::GlobalOptions) -> Result<crate::narrate::Narrator> {
    let mut n = crate::narrate::Narrator::new(
        g.explain.unwrap_or_default(),
        g.lang(),
        g.step,
        g.trace_json.as_deref(),
    )?;
    n.real = !g.simulate;
    Ok(n)
}

/// `docker tag SOURCE TARGET`.
pub fn tag(g: &super::GlobalOptions, source: &str, target: &str) -> Result<()> {
    let mut narrator = super::lifecycle::file_narrator(g)?;
    engine_images::tag_observed(&g.root(), source, target, &mut narrator)
}

/// rmi's lines: `Untagged: busybox:latest`, `Deleted: sha256:...`.
fn rmi_line(r: &Removal) -> String {
    match r {
        Removal::Untagged(name) => format!("Untagged: {name}"),
        Removal::Deleted(id) => format!("Deleted: {id}"),
    }
}

/// prune's lines, in lower case as docker prints them there.
pub fn prune_lines(removed: &[Removal]) -> Vec<String> {
    removed
        .iter()
        .map(|r| match r {
            Removal::Untagged(name) => format!("untagged: {name}"),
            Removal::Deleted(id) => format!("deleted: {id}"),
        })
        .collect()
}

/// `docker rmi`: every image is tried; exit 1 if any failed.
pub fn rmi(g: &super::GlobalOptions, images: &[String], force: bool) -> Result<i32> {
    let store = Store::open(&g.root())?;
    let mut narrator = super::lifecycle::file_narrator(g)?;
    let mut code = 0;
    for a in images {
        match engine_images::remove_observed(&store, a, force, &mut narrator) {
            Ok(removed) => {
                for r in &removed {
                    println!("{}", rmi_line(r));
                }
            }
            Err(e) => {
                eprintln!("{}", crate::error::localize(&format!("{e:#}"), g.lang()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `docker image prune [-a] [-f]`: asks first unless `-f`, then
/// `engine::images::prune`.
pub fn prune(root: &Path, all: bool, force: bool) -> Result<()> {
    if !force {
        let what = if all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Total reclaimed space: 0B");
            return Ok(());
        }
    }
    let pruned = engine_images::prune(root, all)?;
    let lines = prune_lines(&pruned.removed);
    let mut out = std::io::stdout().lock();
    if !lines.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for l in &lines {
            writeln!(out, "{l}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size(pruned.reclaimed)
    )?;
    Ok(())
}

/// Options for `images`.
#[derive(Debug, Default, Clone)]
pub struct ImagesOptions {
    pub quiet: bool,
    pub no_trunc: bool,
    pub all: bool,
    pub digests: bool,
    pub format: Option<String>,
    pub filters: Vec<String>,
    /// `docker images [REPOSITORY[:TAG]]`
    pub reference: Option<String>,
}

/// `docker images [-a] [-q] [--digests] [--no-trunc] [--format F] [-f K=V] [REPO[:TAG]]`.
pub fn images_with(root: &Path, opts: &ImagesOptions) -> Result<()> {
    let store = Store::open(root)?;
    let out = render_images_with(&store, opts, crate::clock::now())?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// Docker's `CreatedAt`: `2024-01-01 00:00:00 +0000 UTC`.
fn created_at(rfc3339: &Option<String>) -> String {
    rfc3339
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_default()
}

/// The text `images` prints, with "now" passed in so tests are stable.
pub fn render_images_with(
    store: &Store,
    opts: &ImagesOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let rows = engine_images::list(store, &opts.filters, opts.reference.as_deref())?;
    let show_id = |id: &str| {
        if opts.no_trunc {
            id.to_string()
        } else {
            let h = id.strip_prefix("sha256:").unwrap_or(id);
            h[..h.len().min(12)].to_string()
        }
    };
    let mut out = String::new();
    if opts.quiet {
        let mut seen = Vec::new();
        for r in &rows {
            let id = show_id(&r.id);
            if !seen.contains(&id) {
                out.push_str(&id);
                out.push('\n');
                seen.push(id);
            }
        }
        return Ok(out);
    }
    let objects: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "Containers": "N/A",
                "CreatedAt": created_at(&r.created),
                "CreatedSince": match &r.created {
                    Some(c) => super::format::ago_at(c, now),
                    None => "N/A".to_string(),
                },
                "Digest": r.repo_digest.clone().unwrap_or_else(|| "<none>".to_string()),
                "ID": show_id(&r.id),
                "Repository": r.repository,
                "SharedSize": "N/A",
                "Size": human_size(r.size),
                "Tag": r.tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(r.size),
            })
        })
        .collect();
    if let Some(f) = &opts.format {
        return template::render_rows(f, &objects, image_header);
    }
    let mut header = vec!["REPOSITORY".to_string(), "TAG".into()];
    if opts.digests {
        header.push("DIGEST".into());
    }
    header.extend(["IMAGE ID".into(), "CREATED".into(), "SIZE".into()]);
    let mut table = vec![header];
    for o in &objects {
        let s = |k: &str| o[k].as_str().unwrap_or("").to_string();
        let mut row = vec![s("Repository"), s("Tag")];
        if opts.digests {
            row.push(s("Digest"));
        }
        row.extend([s("ID"), s("CreatedSince"), s("Size")]);
        table.push(row);
    }
    out.push_str(&format_table(&table));
    Ok(out)
}

fn image_header(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".into(),
        "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "VirtualSize" => "SIZE".into(),
        "SharedSize" => "SHARED SIZE".into(),
        "UniqueSize" => "UNIQUE SIZE".into(),
        "CreatedBy" => "CREATED BY".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// `--format` for the image commands, on top of `cli::template` (Go's
/// text/template subset): `json` prints one JSON object per line; a leading
/// `table` prints a header row (the template rendered over the column titles)
/// and aligns columns like docker's tabwriter.
pub mod template {
    use crate::cli::template::Template;
    use anyhow::Result;
    use serde_json::Value;

    /// Render `tmpl` for one value.
    pub fn render(tmpl: &str, v: &Value) -> Result<String> {
        Template::parse(tmpl)?.render(v)
    }

    /// Rows for `--format`: `json`, `table ...`, or a plain template per row.
    pub fn render_rows(
        format: &str,
        rows: &[Value],
        header: impl Fn(&str) -> String,
    ) -> Result<String> {
        let mut out = String::new();
        if format.trim() == "json" {
            for r in rows {
                out.push_str(&serde_json::to_string(r)?);
                out.push('\n');
            }
            return Ok(out);
        }
        if let Some(t) = format.trim_start().strip_prefix("table") {
            let t = if t.trim().is_empty() {
                "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".to_string()
            } else {
                t.trim_start().to_string()
            };
            let tmpl = Template::parse(&t)?;
            // The header row: the same template over an object of column titles.
            let mut titles = serde_json::Map::new();
            if let Some(Value::Object(o)) = rows.first() {
                for k in o.keys() {
                    titles.insert(k.clone(), Value::String(header(k)));
                }
            }
            for f in tmpl.fields() {
                let k = f.split('.').next().unwrap_or("").to_string();
                titles
                    .entry(k.clone())
                    .or_insert_with(|| Value::String(header(&k)));
            }
            let mut table = vec![tmpl
                .render(&Value::Object(titles))?
                .split('\t')
                .map(str::to_string)
                .collect::<Vec<_>>()];
            for r in rows {
                table.push(tmpl.render(r)?.split('\t').map(str::to_string).collect());
            }
            return Ok(super::format_table(&table));
        }
        let tmpl = Template::parse(format)?;
        for r in rows {
            out.push_str(&tmpl.render(r)?);
            out.push('\n');
        }
        Ok(out)
    }
}

/// `docker history [-q] [--no-trunc] [-H=false] IMAGE`.
pub fn render_history(
    store: &Store,
    name: &str,
    quiet: bool,
    no_trunc: bool,
    human: bool,
    format: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let (img, entries) = engine_images::history(store, name)?;
    let short_id = if no_trunc {
        img.id.clone()
    } else {
        img.short_id().to_string()
    };
    let mut rows = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let id = if i == 0 {
            short_id.clone()
        } else {
            "<missing>".to_string()
        };
        let created = e.created.as_str();
        let mut by = e.created_by.clone();
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let size = e.size;
        rows.push(serde_json::json!({
            "ID": id,
            "CreatedSince": if created.is_empty() { "N/A".to_string() } else { super::format::ago_at(created, now) },
            "CreatedAt": created,
            "CreatedBy": by,
            "Size": if human { human_size(size) } else { size.to_string() },
            "Comment": e.comment,
        }));
    }
    if quiet {
        return Ok(rows
            .iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect());
    }
    if let Some(f) = format {
        return template::render_rows(f, &rows, image_header);
    }
    let mut table = vec![vec![
        "IMAGE".to_string(),
        if human {
            "CREATED".into()
        } else {
            "CREATED AT".into()
        },
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        table.push(vec![
            s("ID"),
            if human {
                s("CreatedSince")
            } else {
                s("CreatedAt")
            },
            s("CreatedBy"),
            s("Size"),
            s("Comment"),
        ]);
    }
    Ok(format_table(&table))
}

pub fn history(
    root: &Path,
    name: &str,
    quiet: bool,
    no_trunc: bool,
    human: bool,
    format: Option<&str>,
) -> Result<()> {
    let store = Store::open(root)?;
    let out = render_history(
        &store,
        name,
        quiet,
        no_trunc,
        human,
        format,
        crate::clock::now(),
    )?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// `docker image inspect [-f FORMAT] IMAGE...`: exit 1 if any is missing.
pub fn inspect(root: &Path, names: &[String], format: Option<&str>) -> Result<i32> {
    let store = Store::open(root)?;
    let mut values = Vec::new();
    let mut code = 0;
    for n in names {
        match store.resolve(n).ok().flatten() {
            Some(img) => values.push(engine_images::inspect(&store, &img)?),
            None => {
                eprintln!("Error: No such image: {n}");
                code = 1;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match format {
        Some(f) => {
            for v in &values {
                writeln!(out, "{}", template::render(f, v)?)?;
            }
        }
        None => writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?,
    }
    Ok(code)
}

/// `docker save [-o FILE] IMAGE...` (docker-archive).
pub fn save(root: &Path, output: Option<&Path>, names: &[String]) -> Result<()> {
    let store = Store::open(root)?;
    let items = engine_images::save_items(&store, names)?;
    match output {
        Some(p) => engine_images::save_to_file(&store, &items, p)?,
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            crate::image::archive::save(&store, &items, std::io::stdout().lock())?;
        }
    }
    Ok(())
}

/// `docker load [-i FILE] [-q]`.
pub fn load(root: &Path, input: Option<&Path>, quiet: bool) -> Result<()> {
    use anyhow::Context;
    let store = Store::open(root)?;
    let res = match input {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?;
            engine_images::load(&store, std::io::BufReader::new(f))
        }
        None => engine_images::load(&store, std::io::stdin().lock()),
    }?;
    let _ = quiet;
    for l in res.lines() {
        println!("{l}");
    }
    Ok(())
}

/// `docker login [-u USER] [-p PASS | --password-stdin] [SERVER]`: the
/// password comes from stdin or the flag; `engine::auth::login` checks and
/// stores it.
pub fn login(
    root: &Path,
    server: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
    password_stdin: bool,
    simulate: bool,
) -> Result<()> {
    if password_stdin && user.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let user = match user {
        Some(u) => u.to_string(),
        None => crate::cli::prompt::line("Username: ")?,
    };
    if user.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let password = if password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        match password {
            Some(p) => {
                eprintln!(
                    "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
                );
                p.to_string()
            }
            // docker's interactive login: the password is typed, not echoed.
            None => crate::cli::prompt::hidden("Password: ")?,
        }
    };
    crate::engine::auth::login(root, server, &user, &password, simulate)?;
    println!("Login Succeeded");
    Ok(())
}

/// `docker logout [SERVER]`.
pub fn logout(root: &Path, server: Option<&str>) -> Result<()> {
    let out = crate::engine::auth::logout(root, server)?;
    if out.removed {
        println!("Removing login credentials for {}", out.registry);
    } else {
        println!("Not logged in to {}", out.registry);
    }
    Ok(())
}

// ---- argument types (clap) for the image commands ----------------------

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents (accepted; glassbox has no parent images)
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a Go template (subset), 'table ...' or 'json'
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go template (subset)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file (docker-archive or oci-archive), instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry (default docker.io)
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

/// `docker images` flags beyond -q/--no-trunc, as a flattenable group.
#[derive(Args, Debug, Default, Clone)]
pub struct ImagesExtraArgs {
    /// Show all images (glassbox has no intermediate images, so this is the default listing)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Format output using a Go template (subset), 'table ...' or 'json'
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output (dangling=true|false, reference=PATTERN)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// `glassbox image ...`: the same commands under docker's management group.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesListArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Load images from a tar archive
    Load(LoadArgs),
    /// Remove unused images (dangling ones, or with -a all without a container)
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images not used by a container, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImagesListArgs {
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[command(flatten)]
    pub extra: ImagesExtraArgs,
}

pub fn run_pull(g: &super::GlobalOptions, a: PullArgs) -> Result<i32> {
    let root = g.root();
    let mut narrator = registry_narrator(g)?;
    let opts = crate::registry::PullOptions {
        platform: a.platform,
        quiet: a.quiet,
        simulate: g.simulate,
        for_run: false,
    };
    let mut out = std::io::stdout().lock();
    if a.all_tags {
        crate::registry::pull_all_tags(&root, &a.name, &opts, &mut out, &mut narrator)?;
    } else {
        crate::registry::pull_observed(&root, &a.name, &opts, &mut out, &mut narrator)?;
    }
    Ok(0)
}
pub fn run_push(g: &super::GlobalOptions, a: PushArgs) -> Result<i32> {
    let mut narrator = registry_narrator(g)?;
    let mut out = std::io::stdout().lock();
    crate::registry::push::push_observed(
        &g.root(),
        &a.name,
        a.quiet,
        g.simulate,
        &mut out,
        &mut narrator,
    )?;
    Ok(0)
}
pub fn run_tag(g: &super::GlobalOptions, a: TagArgs) -> Result<i32> {
    tag(g, &a.source, &a.target).map(|_| 0)
}
pub fn run_rmi(g: &super::GlobalOptions, a: RmiArgs) -> Result<i32> {
    rmi(g, &a.images, a.force)
}
pub fn run_history(root: &Path, a: HistoryArgs) -> Result<i32> {
    history(
        root,
        &a.image,
        a.quiet,
        a.no_trunc,
        a.human,
        a.format.as_deref(),
    )
    .map(|_| 0)
}
pub fn run_inspect(root: &Path, a: InspectArgs) -> Result<i32> {
    inspect(root, &a.images, a.format.as_deref())
}
pub fn run_save(root: &Path, a: SaveArgs) -> Result<i32> {
    save(root, a.output.as_deref(), &a.images).map(|_| 0)
}
pub fn run_load(root: &Path, a: LoadArgs) -> Result<i32> {
    load(root, a.input.as_deref(), a.quiet).map(|_| 0)
}
pub fn run_login(g: &super::GlobalOptions, a: LoginArgs) -> Result<i32> {
    login(
        &g.root(),
        a.server.as_deref(),
        a.username.as_deref(),
        a.password.as_deref(),
        a.password_stdin,
        g.simulate,
    )
    .map(|_| 0)
}
pub fn run_logout(root: &Path, a: LogoutArgs) -> Result<i32> {
    logout(root, a.server.as_deref()).map(|_| 0)
}
pub fn run_images(root: &Path, quiet: bool, no_trunc: bool, extra: ImagesExtraArgs) -> Result<i32> {
    let opts = ImagesOptions {
        quiet,
        no_trunc,
        all: extra.all,
        digests: extra.digests,
        format: extra.format,
        filters: extra.filter,
        reference: extra.reference,
    };
    images_with(root, &opts).map(|_| 0)
}
pub fn run_image(g: &super::GlobalOptions, a: ImageArgs) -> Result<i32> {
    let root = &g.root();
    match a.command {
        ImageCommand::Inspect(x) => run_inspect(root, x),
        ImageCommand::History(x) => run_history(root, x),
        ImageCommand::Pull(x) => run_pull(g, x),
        ImageCommand::Push(x) => run_push(g, x),
        ImageCommand::Tag(x) => run_tag(g, x),
        ImageCommand::Rm(x) => run_rmi(g, x),
        ImageCommand::Ls(x) => run_images(root, x.quiet, x.no_trunc, x.extra),
        ImageCommand::Save(x) => run_save(root, x),
        ImageCommand::Load(x) => run_load(root, x),
        ImageCommand::Prune(x) => prune(root, x.all, x.force).map(|_| 0),
    }
}

// ---- search -------------------------------------------------------------

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Filter output based on conditions provided (stars=N, is-official=true|false)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template (subset), 'table ...' or 'json'
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// TERM, or REGISTRY/TERM (e.g. 127.0.0.1:5000/busy)
    pub term: String,
}

/// `docker search`: rows as docker's formatter shows them.
pub fn render_search(
    results: &[crate::registry::search::SearchResult],
    format: Option<&str>,
    no_trunc: bool,
) -> Result<String> {
    let format = format.unwrap_or("").trim();
    if format == "json" {
        let mut out = String::new();
        for r in results {
            let v = serde_json::json!({
                "Description": r.description.replace(['\n', '\r'], " "),
                "IsAutomated": r.is_automated.to_string(),
                "IsOfficial": r.is_official.to_string(),
                "Name": r.name,
                "StarCount": r.star_count.to_string(),
            });
            out.push_str(&serde_json::to_string(&v)?);
            out.push('\n');
        }
        return Ok(out);
    }
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let desc = r.description.replace(['\n', '\r'], " ");
            let desc = if no_trunc {
                desc
            } else {
                crate::registry::search::ellipsis(&desc, 45)
            };
            let ok = |b: bool| if b { "[OK]" } else { "" };
            serde_json::json!({
                "Name": r.name,
                "Description": desc,
                "StarCount": r.star_count.to_string(),
                "IsOfficial": ok(r.is_official),
                "IsAutomated": ok(r.is_automated),
            })
        })
        .collect();
    let format = if format.is_empty() || format == "table" {
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
    } else {
        format
    };
    template::render_rows(format, &rows, |k| {
        match k {
            "Name" => "NAME",
            "Description" => "DESCRIPTION",
            "StarCount" => "STARS",
            "IsOfficial" => "OFFICIAL",
            "IsAutomated" => "AUTOMATED",
            other => other,
        }
        .to_string()
    })
}

pub fn run_search(g: &super::GlobalOptions, a: SearchArgs) -> Result<i32> {
    let results =
        crate::engine::search::search(&g.root(), &a.term, a.limit, &a.filter, g.simulate)?;
    print!(
        "{}",
        render_search(&results, a.format.as_deref(), a.no_trunc)?
    );
    Ok(0)
}
