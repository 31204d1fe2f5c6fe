//! `glassbox import` and `glassbox images`: output shaped like docker's.

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
        .with_context(|| format!("import {source}"))?;
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
            Some(c) => human_duration_between(c, now),
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

/// Lay out columns like docker's tabwriter (min width 10, padding 3); the
/// last column is not padded.
pub fn format_table(rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// "2 minutes ago", "3 days ago": docker's `units.HumanDuration` + " ago".
pub fn human_duration_since(rfc3339: &str) -> String {
    human_duration_between(rfc3339, chrono::Utc::now())
}

pub fn human_duration_between(rfc3339: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let d = now.signed_duration_since(t.with_timezone(&chrono::Utc));
            let secs = d.num_milliseconds() as f64 / 1000.0;
            format!("{} ago", human_duration(secs.max(0.0)))
        }
        Err(_) => "N/A".to_string(),
    }
}

/// docker's go-units HumanDuration, for a duration in seconds.
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    let minutes = (secs / 60.0) as i64;
    let hours = (secs / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// docker's go-units HumanSize: 1000-based, 3 significant digits: "4.26MB", "800kB", "1GB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let mut s = sig3(v);
    // 999.95kB rounds to "1000kB": carry into the next unit instead.
    if s == "1000" && i < UNITS.len() - 1 {
        i += 1;
        s = "1".into();
    }
    format!("{s}{}", UNITS[i])
}

/// Format like Go's `%.3g` for 0 <= v < 1000: 3 significant digits, no trailing zeros.
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as i32) + 1
    };
    let decimals = (3 - int_digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(1_240_000), "1.24MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(187_000_000), "187MB");
        assert_eq!(human_size(1_000_000_000), "1GB");
        assert_eq!(human_size(999_999), "1MB");
        assert_eq!(human_size(12_345), "12.3kB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0.2), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(42.0), "42 seconds");
        assert_eq!(human_duration(61.0), "About a minute");
        assert_eq!(human_duration(150.0), "2 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(5.0 * 3600.0), "5 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(20.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(90.0 * 86400.0), "3 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            human_duration_between("2024-01-01T00:08:00.123Z", now),
            "About a minute ago"
        );
        assert_eq!(
            human_duration_between("2024-01-01T00:00:00+00:00", now),
            "10 minutes ago"
        );
        assert_eq!(human_duration_between("garbage", now), "N/A");
        assert!(human_duration_since("2000-01-01T00:00:00Z").ends_with("years ago"));
    }

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
