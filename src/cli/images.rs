//! `glassbox import` and `glassbox images`: output shaped like docker's.

use super::format::{format_table, human_size};
use crate::image::{ImportConfig, Reference, Store};
use anyhow::{bail, Context, Result};
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
    let id = import_image(root, source, reference, changes, message)?;
    println!("{id}");
    Ok(())
}

/// The work of `import`, returning the id instead of printing it.
pub fn import_image(
    root: &Path,
    source: &str,
    reference: Option<&str>,
    changes: &[String],
    message: Option<&str>,
) -> Result<String> {
    // Validate everything cheap before reading a possibly large tarball.
    let reference = reference.map(Reference::parse).transpose()?;
    let mut cfg = parse_changes(changes)?;
    cfg.comment = message.map(str::to_string);
    cfg.source = Some(source.to_string());
    let reader: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(source).with_context(|| format!("open {source}"))?;
        Box::new(f)
    };
    let store = Store::open(root)?;
    let img = store
        .import_tar(reader, reference.as_ref(), cfg)
        .map_err(|e| anyhow::anyhow!("import {source}: {}", printable(&format!("{e:#}"))))?;
    Ok(img.id)
}

/// Parse `-c` changes: `CMD`, `ENTRYPOINT` (JSON array or shell form),
/// `ENV k=v ...` (or legacy `ENV k v`), `WORKDIR`, `USER`.
pub fn parse_changes(changes: &[String]) -> Result<ImportConfig> {
    let mut cfg = ImportConfig::default();
    for ch in changes {
        let ch = ch.trim();
        let (instr, rest) = match ch.split_once(char::is_whitespace) {
            Some((i, r)) => (i, r.trim()),
            None => (ch, ""),
        };
        let upper = instr.to_ascii_uppercase();
        if rest.is_empty() && !upper.is_empty() {
            bail!("{upper} requires at least one argument");
        }
        match upper.as_str() {
            "CMD" => cfg.cmd = Some(exec_or_shell(rest)?),
            "ENTRYPOINT" => cfg.entrypoint = Some(exec_or_shell(rest)?),
            "ENV" => {
                for kv in parse_env(rest)? {
                    let key = kv.split('=').next().unwrap_or("").to_string();
                    cfg.env.retain(|e| e.split('=').next() != Some(key.as_str()));
                    cfg.env.push(kv);
                }
            }
            "WORKDIR" => cfg.working_dir = Some(rest.to_string()),
            "USER" => cfg.user = Some(rest.to_string()),
            "" => bail!("empty change"),
            other => bail!(
                "{other} is not a valid change command (glassbox import supports CMD, ENTRYPOINT, ENV, WORKDIR, USER)"
            ),
        }
    }
    Ok(cfg)
}

/// `["a","b"]` stays as is; anything else is shell form: `/bin/sh -c "<text>"`.
fn exec_or_shell(s: &str) -> Result<Vec<String>> {
    if s.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(s) {
            return Ok(v);
        }
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

/// `k=v k2="a b"` → ["k=v", "k2=a b"]; legacy `k v w` → ["k=v w"].
fn parse_env(s: &str) -> Result<Vec<String>> {
    let words = shell_words(s)?;
    if !words[0].contains('=') {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .unwrap_or((s, ""));
        return Ok(vec![format!("{k}={v}")]);
    }
    for w in &words {
        if !w.contains('=') || w.starts_with('=') {
            bail!("ENV names can not be blank, and each item must be key=value: {w:?}");
        }
    }
    Ok(words)
}

/// Minimal word splitting with '...' and "..." quoting and backslash escapes.
fn shell_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(x) if x == c => break,
                        Some('\\') if c == '"' => cur.extend(chars.next()),
                        Some(x) => cur.push(x),
                        None => bail!("unterminated quote in {s:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        bail!("missing arguments");
    }
    Ok(out)
}

/// `docker images [-q] [--no-trunc]`.
pub fn images(root: &Path, quiet: bool, no_trunc: bool) -> Result<()> {
    let store = Store::open(root)?;
    let out = render_images(&store, quiet, no_trunc, chrono::Utc::now())?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    Ok(())
}

/// The text `images` prints, with "now" passed in so tests are stable.
pub fn render_images(
    store: &Store,
    quiet: bool,
    no_trunc: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let rows = store.list()?;
    let show_id = |id: &str| {
        if no_trunc {
            id.to_string()
        } else {
            let h = id.strip_prefix("sha256:").unwrap_or(id);
            h[..h.len().min(12)].to_string()
        }
    };
    let mut out = String::new();
    if quiet {
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
    let mut table = vec![vec![
        "REPOSITORY".to_string(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
    ]];
    for r in &rows {
        let created = match &r.created {
            Some(c) => super::format::ago_at(c, now),
            None => "N/A".to_string(),
        };
        table.push(vec![
            r.repository.clone(),
            r.tag.clone(),
            show_id(&r.id),
            created,
            human_size(r.size),
        ]);
    }
    out.push_str(&format_table(&table));
    Ok(out)
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

    #[test]
    fn changes() {
        let c = parse_changes(&[
            r#"CMD ["/bin/sh","-c","echo hi"]"#.into(),
            "ENTRYPOINT echo hello".into(),
            "ENV A=1 B=\"two words\"".into(),
            "env LEGACY some value".into(),
            "ENV A=3".into(),
            "WORKDIR /app".into(),
            "USER 1000".into(),
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hello"]);
        assert_eq!(c.env, vec!["B=two words", "LEGACY=some value", "A=3"]);
        assert_eq!(c.working_dir.as_deref(), Some("/app"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert!(parse_changes(&["RUN echo".into()])
            .unwrap_err()
            .to_string()
            .contains("RUN"));
        assert!(parse_changes(&["CMD".into()]).is_err());
        assert!(parse_changes(&["ENV A=\"x".into()]).is_err());
        assert!(parse_changes(&["ENV =x".into()]).is_err());
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
        let id = import_image(
            &root,
            tarp.to_str().unwrap(),
            Some("myimg:v1"),
            &["CMD [\"/hello\"]".into()],
            None,
        )
        .unwrap();
        assert!(id.starts_with("sha256:") && id.len() == 71);
        let id2 = import_image(&root, tarp.to_str().unwrap(), None, &[], Some("msg")).unwrap();
        let store = Store::open(&root).unwrap();
        let now = chrono::Utc::now() + chrono::Duration::seconds(150);
        let out = render_images(&store, false, false, now).unwrap();
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
        let q = render_images(&store, true, false, now).unwrap();
        assert_eq!(q.lines().count(), 2);
        let q = render_images(&store, true, true, now).unwrap();
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

        let err = import_image(&root, "/nonexistent/x.tar", None, &[], None).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.tar"), "{err:#}");
        let err =
            import_image(&root, tarp.to_str().unwrap(), Some("Bad:Ref"), &[], None).unwrap_err();
        assert!(
            err.to_string().contains("invalid reference format"),
            "{err:#}"
        );
    }
}

// ---- pull, push, tag, rmi, history, inspect, save, load, login ----------

/// `docker pull [-q] [--platform P] NAME[:TAG|@DIGEST]`.
pub fn pull(root: &Path, name: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let opts = crate::registry::PullOptions {
        platform: platform.map(str::to_string),
        quiet,
        simulate: false,
    };
    let mut out = std::io::stdout().lock();
    crate::registry::pull(root, name, &opts, &mut out)?;
    Ok(())
}

/// `docker push [-q] NAME[:TAG]`.
pub fn push(root: &Path, name: &str, quiet: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    crate::registry::push::push(root, name, quiet, &mut out)?;
    Ok(())
}

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

fn daemon_err(code: i32, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(code, format!("Error: {msg}")))
}

/// `docker tag SOURCE TARGET`.
pub fn tag(root: &Path, source: &str, target: &str) -> Result<()> {
    let store = Store::open(root)?;
    let target = Reference::parse(target).map_err(|e| daemon_err(1, e))?;
    let img = store
        .resolve(source)?
        .ok_or_else(|| daemon_err(1, format!("No such image: {source}")))?;
    store.tag(&img, &target).map_err(|e| daemon_err(1, e))?;
    Ok(())
}

/// A container record's view of an image: (container id, running?).
fn containers_using(root: &Path, image_id: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root.join("containers")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(bytes) = std::fs::read(e.path().join("container.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if v.get("image_id").and_then(|i| i.as_str()) == Some(image_id) {
            let id = v
                .get("id")
                .and_then(|i| i.as_str())
                .unwrap_or_default()
                .to_string();
            let status = v
                .pointer("/state/status")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            out.push((id, matches!(status, "running" | "paused" | "restarting")));
        }
    }
    out
}

fn familiar(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| full.to_string())
}

/// `docker rmi [-f] IMAGE...`: the lines printed, or an error for one image.
pub fn remove_one(store: &Store, arg: &str, force: bool) -> Result<Vec<String>> {
    let img = match store.resolve(arg) {
        Ok(Some(i)) => i,
        Ok(None) | Err(_) if force => return Ok(vec![]),
        Ok(None) => return Err(daemon_err(1, format!("No such image: {arg}"))),
        Err(e) => return Err(daemon_err(1, e)),
    };
    let short = img.short_id().to_string();
    let users = containers_using(&store.root, &img.id);
    // Was a name given (that names this image), or an id?
    let by_name = Reference::parse(arg)
        .ok()
        .map(|r| r.full())
        .filter(|f| img.references.contains(f));
    let mut lines = Vec::new();
    if let Some(full) = &by_name {
        let is_tag = Reference::parse(full).is_ok_and(|p| p.tag.is_some());
        let tags = img
            .references
            .iter()
            .filter(|r| Reference::parse(r).map_or(true, |p| p.tag.is_some()))
            .count();
        if (is_tag && tags > 1) || (!is_tag && img.references.len() > 1) {
            // just one of several names
            store.untag(&Reference::parse(full)?)?;
            return Ok(vec![format!("Untagged: {}", familiar(full))]);
        }
        if let Some((cid, running)) = users.first() {
            if !force || *running {
                let how = if *running { "cannot" } else { "must" };
                return Err(daemon_err(
                    1,
                    format!(
                        "conflict: unable to remove repository reference \"{arg}\" ({how} force) - container {} is using its referenced image {short}",
                        &cid[..cid.len().min(12)]
                    ),
                ));
            }
        }
    } else {
        let repos: std::collections::BTreeSet<String> = img
            .references
            .iter()
            .filter_map(|r| Reference::parse(r).ok())
            .map(|r| r.name())
            .collect();
        if repos.len() > 1 && !force {
            return Err(daemon_err(
                1,
                format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"),
            ));
        }
        if let Some((cid, running)) = users.first() {
            if *running {
                return Err(daemon_err(1, format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}", &cid[..cid.len().min(12)])));
            }
            if !force {
                return Err(daemon_err(1, format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}", &cid[..cid.len().min(12)])));
            }
        }
    }
    for r in &img.references {
        lines.push(format!("Untagged: {}", familiar(r)));
    }
    store.remove_image(&img)?;
    lines.push(format!("Deleted: {}", img.id));
    // Free the space unless a container (forced past above) still needs the layers.
    if users.is_empty() {
        for chain in store.gc_removed(&img)? {
            lines.push(format!("Deleted: {chain}"));
        }
    }
    Ok(lines)
}

/// `docker rmi`: every image is tried; exit 1 if any failed.
pub fn rmi(root: &Path, images: &[String], force: bool) -> Result<i32> {
    let store = Store::open(root)?;
    let mut code = 0;
    for a in images {
        match remove_one(&store, a, force) {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
            }
            Err(e) => {
                eprintln!("{e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `docker image prune [-a] [-f]`: remove dangling images (no tag), or with
/// `-a` every image no container record uses; then their unshared layers,
/// and the blobs and layers nothing uses (what a killed pull, load, import
/// or commit left, or a duplicate manifest).
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
    let (lines, reclaimed) = prune_images(root, all)?;
    let mut out = std::io::stdout().lock();
    if !lines.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for l in &lines {
            writeln!(out, "{l}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", human_size(reclaimed))?;
    Ok(())
}

/// The work of `image prune` (and of `system prune`'s image part): docker's
/// `untagged:`/`deleted:` lines and the bytes reclaimed.
pub fn prune_images(root: &Path, all: bool) -> Result<(Vec<String>, u64)> {
    let store = Store::open(root)?;
    let mut lines = Vec::new();
    let mut reclaimed = 0u64;
    for img in store.images()? {
        let tagged = img
            .references
            .iter()
            .any(|r| Reference::parse(r).map_or(true, |p| p.tag.is_some()));
        if (tagged && !all) || !containers_using(root, &img.id).is_empty() {
            continue;
        }
        let sizes: std::collections::HashMap<String, u64> = img
            .layers
            .iter()
            .map(|l| {
                let size = store.layer_meta(l).map(|m| m.size).unwrap_or(0);
                (l.chain_id.clone(), size)
            })
            .collect();
        for r in &img.references {
            lines.push(format!("untagged: {}", familiar(r)));
        }
        store.remove_image(&img)?;
        lines.push(format!("deleted: {}", img.id));
        for chain in store.gc_removed(&img)? {
            reclaimed += sizes.get(&chain).copied().unwrap_or(0);
            lines.push(format!("deleted: {chain}"));
        }
    }
    // What no image names: each removed blob and layer is a `deleted:` line.
    let garbage = store.remove_garbage()?;
    reclaimed += garbage.bytes();
    // (A one-layer image's plain layer blob and unpacked layer share a digest: one line.)
    for (digest, _) in garbage.blobs.iter().chain(&garbage.layers) {
        let line = format!("deleted: {digest}");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    Ok((lines, reclaimed))
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
    let out = render_images_with(&store, opts, chrono::Utc::now())?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// `*` matches any run of characters (docker's reference filter uses path.Match).
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let s = &s[pre.len()..];
            (0..=s.len()).any(|i| s.is_char_boundary(i) && glob(rest, &s[i..]))
        }
    }
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

pub fn render_images_with(
    store: &Store,
    opts: &ImagesOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let mut rows = store.list()?;
    for f in &opts.filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        match k {
            "dangling" => {
                let want = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter 'dangling={v}'"),
                };
                rows.retain(|r| (r.repository == "<none>") == want);
            }
            "reference" => rows.retain(|r| {
                glob(v, &r.repository) || glob(v, &format!("{}:{}", r.repository, r.tag))
            }),
            other => bail!("invalid filter '{other}' (supported: dangling, reference)"),
        }
    }
    if let Some(want) = &opts.reference {
        let (repo, tag) = match want.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (want.clone(), None),
        };
        let repo = Reference::parse(&repo)
            .map(|r| r.familiar_repo())
            .unwrap_or(repo);
        rows.retain(|r| glob(&repo, &r.repository) && tag.as_ref().is_none_or(|t| glob(t, &r.tag)));
    }
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
    let img = store
        .resolve(name)?
        .ok_or_else(|| daemon_err(1, format!("No such image: {name}")))?;
    // Pair history entries with layers: each non-empty entry is the next layer.
    let mut layer_sizes = img
        .layers
        .iter()
        .map(|l| store.layer_meta(l).map(|m| m.size).unwrap_or(l.size));
    let mut entries: Vec<serde_json::Value> = Vec::new();
    let hist = img.config.history();
    if hist.is_empty() {
        for _ in &img.layers {
            entries.push(serde_json::json!({"created": img.config.created(), "size": layer_sizes.next().unwrap_or(0)}));
        }
    }
    for h in hist {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        entries.push(serde_json::json!({
            "created": h.created(),
            "created_by": h.created_by(),
            "comment": h.comment(),
            "size": size,
        }));
    }
    entries.reverse();
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
        let created = e["created"].as_str().unwrap_or("");
        let mut by = e["created_by"].as_str().unwrap_or("").to_string();
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let size = e["size"].as_u64().unwrap_or(0);
        rows.push(serde_json::json!({
            "ID": id,
            "CreatedSince": if created.is_empty() { "N/A".to_string() } else { super::format::ago_at(created, now) },
            "CreatedAt": created,
            "CreatedBy": by,
            "Size": if human { human_size(size) } else { size.to_string() },
            "Comment": e["comment"].as_str().unwrap_or(""),
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
        chrono::Utc::now(),
    )?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// docker's `image inspect` object for one image.
pub fn inspect_value(store: &Store, img: &crate::image::Image) -> Result<serde_json::Value> {
    let raw: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.id)?)?;
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for r in &img.references {
        if let Ok(p) = Reference::parse(r) {
            if p.tag.is_some() {
                repo_tags.push(format!("{}:{}", p.familiar_repo(), p.tag_or_latest()));
            }
            if let Some(dg) = &p.digest {
                let d = format!("{}@{dg}", p.familiar_repo());
                if !repo_digests.contains(&d) {
                    repo_digests.push(d);
                }
            }
        }
    }
    let dirs: Vec<String> = img
        .layers
        .iter()
        .rev()
        .filter_map(|l| l.chain_id.strip_prefix("sha256:"))
        .map(|h| {
            store
                .root
                .join("layers")
                .join(h)
                .join("diff")
                .display()
                .to_string()
        })
        .collect();
    Ok(serde_json::json!({
        "Id": img.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": raw.pointer("/history/0/comment").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Created": raw.get("created").cloned().unwrap_or(serde_json::Value::Null),
        "DockerVersion": raw.get("docker_version").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Author": raw.get("author").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Config": raw.get("config").cloned().unwrap_or(serde_json::json!({})),
        "Architecture": raw.get("architecture").cloned().unwrap_or(serde_json::Value::Null),
        "Variant": raw.get("variant").cloned(),
        "Os": raw.get("os").cloned().unwrap_or(serde_json::Value::Null),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": dirs.join(":")}},
        "RootFS": {"Type": "layers", "Layers": img.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": serde_json::from_slice::<serde_json::Value>(&store.read_blob(&img.manifest_digest)?)?
                .get("mediaType").cloned().unwrap_or_else(|| crate::image::store::MEDIA_OCI_MANIFEST.into()),
            "digest": img.manifest_digest,
            "size": std::fs::metadata(store.blob_path(&img.manifest_digest)).map(|m| m.len()).unwrap_or(0),
        },
    }))
    .map(|mut v| {
        if v["Variant"].is_null() {
            v.as_object_mut().unwrap().remove("Variant");
        }
        v
    })
}

/// `docker image inspect [-f FORMAT] IMAGE...`: exit 1 if any is missing.
pub fn inspect(root: &Path, names: &[String], format: Option<&str>) -> Result<i32> {
    let store = Store::open(root)?;
    let mut values = Vec::new();
    let mut code = 0;
    for n in names {
        match store.resolve(n).ok().flatten() {
            Some(img) => values.push(inspect_value(&store, &img)?),
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
    use crate::image::archive::{save, SaveItem};
    let store = Store::open(root)?;
    let mut items: Vec<SaveItem> = Vec::new();
    for n in names {
        let img = store
            .resolve(n)?
            .ok_or_else(|| daemon_err(1, format!("reference does not exist: {n}")))?;
        let tags: Vec<String> = match Reference::parse(n) {
            Ok(r) if img.references.contains(&r.full()) && r.digest.is_none() => {
                vec![r.to_string()]
            }
            _ => vec![],
        };
        match items.iter_mut().find(|i| i.image.id == img.id) {
            Some(i) => i.tags.extend(tags),
            None => items.push(SaveItem { image: img, tags }),
        }
    }
    match output {
        Some(p) => {
            let tmp = p.with_file_name(format!(
                ".{}.tmp-{}",
                p.file_name().and_then(|f| f.to_str()).unwrap_or("save"),
                std::process::id()
            ));
            let f =
                std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let res = save(&store, &items, std::io::BufWriter::new(f));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, p).with_context(|| format!("write {}", p.display()))?;
        }
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            save(&store, &items, std::io::stdout().lock())?;
        }
    }
    Ok(())
}

/// An error message safe to print: control characters (what a binary
/// input's bytes may put in a parser's message) become `\u{..}` escapes.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' || c == '\u{fffd}' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `docker load [-i FILE] [-q]`.
pub fn load(root: &Path, input: Option<&Path>, quiet: bool) -> Result<()> {
    let store = Store::open(root)?;
    let res = match input {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?;
            crate::image::archive::load(&store, std::io::BufReader::new(f))
        }
        None => crate::image::archive::load(&store, std::io::stdin().lock()),
    }
    .map_err(|e| daemon_err(1, printable(&format!("{e:#}"))))?;
    let _ = quiet;
    for l in res.lines() {
        println!("{l}");
    }
    Ok(())
}

/// `docker login [-u USER] [-p PASS | --password-stdin] [SERVER]`.
pub fn login(
    root: &Path,
    server: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
    password_stdin: bool,
) -> Result<()> {
    let server = server.unwrap_or("docker.io");
    let user = match user {
        Some(u) => u.to_string(),
        None => bail!("Must provide --username with --password-stdin or --password (interactive login is not supported)"),
    };
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
            None => bail!("Must provide --password or --password-stdin"),
        }
    };
    if password.is_empty() {
        bail!("password is empty");
    }
    crate::registry::push::login(root, server, &user, &password)?;
    println!("Login Succeeded");
    Ok(())
}

/// `docker logout [SERVER]`.
pub fn logout(root: &Path, server: Option<&str>) -> Result<()> {
    let server = server.unwrap_or("docker.io");
    let name = crate::registry::config::normalize_registry(server);
    if crate::registry::push::logout(root, server)? {
        println!("Removing login credentials for {name}");
    } else {
        println!("Not logged in to {name}");
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
    if g.simulate {
        crate::exit_err!(
            1,
            "push needs a real registry: the simulated one only serves pulls (try: glassbox --simulate --explain pull busybox)"
        );
    }
    let mut narrator = registry_narrator(g)?;
    let mut out = std::io::stdout().lock();
    crate::registry::push::push_observed(&g.root(), &a.name, a.quiet, &mut out, &mut narrator)?;
    Ok(0)
}
pub fn run_tag(root: &Path, a: TagArgs) -> Result<i32> {
    tag(root, &a.source, &a.target).map(|_| 0)
}
pub fn run_rmi(root: &Path, a: RmiArgs) -> Result<i32> {
    rmi(root, &a.images, a.force)
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
pub fn run_login(root: &Path, a: LoginArgs) -> Result<i32> {
    login(
        root,
        a.server.as_deref(),
        a.username.as_deref(),
        a.password.as_deref(),
        a.password_stdin,
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
        ImageCommand::Tag(x) => run_tag(root, x),
        ImageCommand::Rm(x) => run_rmi(root, x),
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
    let mut min_stars = 0u64;
    let mut official: Option<bool> = None;
    let mut automated: Option<bool> = None;
    for f in &a.filter {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            daemon_err(
                1,
                format!("bad format of filter (expected name=value): {f}"),
            )
        })?;
        let flag = || match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(daemon_err(1, format!("invalid filter '{k}={v}'"))),
        };
        match k {
            "stars" => {
                min_stars = v
                    .parse()
                    .map_err(|_| daemon_err(1, format!("invalid filter 'stars={v}'")))?
            }
            "is-official" => official = Some(flag()?),
            "is-automated" => automated = Some(flag()?),
            _ => return Err(daemon_err(1, format!("invalid filter '{k}'"))),
        }
    }
    let mut results = if g.simulate {
        crate::registry::search::search_simulated(&g.root(), &a.term, a.limit)?
    } else {
        crate::registry::search::search(&g.root(), &a.term, a.limit)?
    };
    results.retain(|r| {
        r.star_count >= min_stars
            && official.is_none_or(|o| r.is_official == o)
            && automated.is_none_or(|o| r.is_automated == o)
    });
    print!(
        "{}",
        render_search(&results, a.format.as_deref(), a.no_trunc)?
    );
    Ok(0)
}
