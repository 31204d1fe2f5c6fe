//! Dockerfile instructions given to `import -c` and `commit -c`: CMD,
//! ENTRYPOINT, ENV, WORKDIR, USER, VOLUME, turned into the image's config.

use crate::image::ImportConfig;
use anyhow::{bail, Result};

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
            // `VOLUME /a /b` or `VOLUME ["/a", "/b"]`, as a Dockerfile writes it.
            "VOLUME" => {
                let paths = if rest.starts_with('[') {
                    serde_json::from_str::<Vec<String>>(rest)
                        .map_err(|e| anyhow::anyhow!("VOLUME {rest}: not a JSON array of paths: {e}"))?
                } else {
                    shell_words(rest)?
                };
                for p in paths {
                    if !p.starts_with('/') {
                        bail!("VOLUME {p}: the path must be absolute (e.g. /data)");
                    }
                    if !cfg.volumes.contains(&p) {
                        cfg.volumes.push(p);
                    }
                }
            }
            "" => bail!("empty change"),
            other => bail!(
                "{other} is not a valid change command (glassbox import supports CMD, ENTRYPOINT, ENV, WORKDIR, USER, VOLUME)"
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
