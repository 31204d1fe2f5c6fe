//! Dockerfile instructions given to `commit -c` and `import -c`, read with
//! the Dockerfile parser (`crate::build`) and applied to the image config
//! as docker's `BuildFromConfig` does: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
//! ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL and HEALTHCHECK (docker's
//! `validCommitCommands`). Words are expanded with the config's own ENV,
//! as docker does (`ENV PATH=$PATH:/x`).

use crate::build::expand::{env_from_pairs, Lex};
use crate::build::instructions::{self, CmdLine, Instruction, Parsed};
use crate::build::parser;
use crate::image::ImportConfig;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Apply the changes to a docker image config's `config` object (`Cmd`,
/// `Env`, `ExposedPorts`, ...).
pub fn apply_changes(cfg: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    // Each change is one line of a Dockerfile (docker joins them the same way).
    let ast = parser::parse(&changes.join("\n")).map_err(|e| {
        anyhow::anyhow!(
            "invalid change {:?}: {}",
            change_at(changes, e.line),
            e.message
        )
    })?;
    for node in &ast.nodes {
        if !VALID.contains(&node.name.to_ascii_lowercase().as_str()) {
            bail!(
                "{} is not a valid change command (docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)",
                node.name
            );
        }
    }
    let lex = Lex::new(ast.escape);
    let mut cmd_set = false;
    for node in &ast.nodes {
        let text = change_at(changes, node.start_line);
        let fail = |m: String| anyhow::anyhow!("invalid change {text:?}: {m}");
        let Parsed::Command(mut c) = instructions::parse_node(node).map_err(fail)? else {
            unreachable!("FROM is not a valid change command");
        };
        let env = env_from_pairs(&strings(cfg.get("Env")));
        c.instruction
            .expand(&|w| lex.process_word(w, &env))
            .map_err(fail)?;
        apply_instruction(cfg, c.instruction, &mut cmd_set).map_err(fail)?;
    }
    Ok(())
}

/// Apply one (expanded) metadata instruction to a config's `config` object,
/// as docker's builder does; `cmd_set` says a CMD came earlier in the same
/// change set or build stage (an ENTRYPOINT then keeps it). The build and
/// `commit -c` share it.
pub fn apply_instruction(
    cfg: &mut Map<String, Value>,
    instruction: Instruction,
    cmd_set: &mut bool,
) -> std::result::Result<(), String> {
    let fail = |m: String| m;
    match instruction {
        Instruction::Cmd(line) => {
            cfg.insert("Cmd".into(), command(cfg, line));
            *cmd_set = true;
        }
        Instruction::Entrypoint(line) => {
            // docker: an empty ENTRYPOINT (`ENTRYPOINT []` or none) unsets it.
            let ep = if line.args.is_empty() {
                Value::Null
            } else {
                command(cfg, line)
            };
            cfg.insert("Entrypoint".into(), ep);
            // docker: an ENTRYPOINT clears the CMD unless a CMD was given too.
            if !*cmd_set {
                cfg.insert("Cmd".into(), Value::Null);
            }
        }
        Instruction::Env(kvs) => {
            let mut env = strings(cfg.get("Env"));
            for kv in kvs {
                let new = format!("{}={}", kv.key, kv.value);
                match env
                    .iter_mut()
                    .find(|e| e.split('=').next() == Some(kv.key.as_str()))
                {
                    Some(e) => *e = new,
                    None => env.push(new),
                }
            }
            cfg.insert("Env".into(), json!(env));
        }
        Instruction::Expose(ports) => {
            let map = object(cfg, "ExposedPorts");
            for p in ports {
                for port in port_specs(&p).map_err(fail)? {
                    map.insert(port, json!({}));
                }
            }
        }
        Instruction::Label(kvs) => {
            let map = object(cfg, "Labels");
            for kv in kvs {
                map.insert(kv.key, json!(kv.value));
            }
        }
        Instruction::Onbuild(expr) => {
            let mut list = strings(cfg.get("OnBuild"));
            list.push(expr);
            cfg.insert("OnBuild".into(), json!(list));
        }
        Instruction::User(u) => {
            cfg.insert("User".into(), json!(u));
        }
        Instruction::Volume(vols) => {
            let map = object(cfg, "Volumes");
            for v in vols {
                map.insert(v, json!({}));
            }
        }
        Instruction::Workdir(w) => {
            let current = cfg.get("WorkingDir").and_then(Value::as_str).unwrap_or("");
            cfg.insert("WorkingDir".into(), json!(workdir(current, &w)));
        }
        Instruction::StopSignal(s) => {
            super::lifecycle::parse_signal(&s).map_err(|_| fail(format!("Invalid signal: {s}")))?;
            cfg.insert("StopSignal".into(), json!(s));
        }
        Instruction::Healthcheck(h) => {
            let mut o = Map::new();
            o.insert("Test".into(), json!(h.test));
            for (k, d) in [
                ("Interval", h.interval),
                ("Timeout", h.timeout),
                ("StartPeriod", h.start_period),
                ("StartInterval", h.start_interval),
            ] {
                if !d.is_zero() {
                    o.insert(k.into(), json!(d.as_nanos() as u64));
                }
            }
            if h.retries != 0 {
                o.insert("Retries".into(), json!(h.retries));
            }
            cfg.insert("Healthcheck".into(), Value::Object(o));
        }
        other => return Err(format!("{other:?} is not a valid change command")),
    }
    Ok(())
}

/// `import -c`: the changes as an `ImportConfig` (what oci-spec's config
/// holds in its fields, docker's extra keys in `extra_config`).
pub fn parse_changes(changes: &[String]) -> Result<ImportConfig> {
    let mut map = Map::new();
    apply_changes(&mut map, changes)?;
    let mut cfg = ImportConfig::default();
    let list = |v: Option<Value>| -> Option<Vec<String>> {
        v.and_then(|v| serde_json::from_value(v).ok())
    };
    cfg.cmd = list(map.remove("Cmd"));
    cfg.entrypoint = list(map.remove("Entrypoint"));
    cfg.env = list(map.remove("Env")).unwrap_or_default();
    cfg.working_dir = map
        .remove("WorkingDir")
        .and_then(|v| v.as_str().map(String::from));
    cfg.user = map
        .remove("User")
        .and_then(|v| v.as_str().map(String::from));
    cfg.extra_config = map;
    Ok(cfg)
}

/// The change a (1-based) line of the joined text came from.
fn change_at(changes: &[String], line: usize) -> String {
    let mut n = 0;
    for c in changes {
        n += c.split('\n').count();
        if line <= n {
            return c.clone();
        }
    }
    changes.last().cloned().unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn object<'a>(cfg: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = cfg.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().unwrap()
}

/// Exec form as is; shell form through the config's SHELL (default
/// `/bin/sh -c`), as docker's `resolveCmdLine`.
fn command(cfg: &Map<String, Value>, line: CmdLine) -> Value {
    if !line.prepend_shell {
        return json!(line.args);
    }
    let mut shell = strings(cfg.get("Shell"));
    if shell.is_empty() {
        shell = vec!["/bin/sh".into(), "-c".into()];
    }
    shell.extend(line.args);
    json!(shell)
}

/// docker's `normalizeWorkdir`: relative to the current one, cleaned.
pub(crate) fn workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{current}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ... (docker's ParsePortSpecs
/// for EXPOSE).
fn port_specs(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {ports}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if hi < lo {
        return Err(format!("invalid containerPort: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
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
            "ENV A=3 C=$A".into(),
            "WORKDIR /app".into(),
            "WORKDIR sub/../x".into(),
            "USER 1000".into(),
        ])
        .unwrap();
        // A CMD before the ENTRYPOINT is kept (docker's cmdSet).
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hello"]);
        // Replaced in place, expanded with the ENV before the instruction.
        assert_eq!(
            c.env,
            vec!["A=3", "B=two words", "LEGACY=some value", "C=1"]
        );
        assert_eq!(c.working_dir.as_deref(), Some("/app/x"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert!(parse_changes(&["RUN echo".into()])
            .unwrap_err()
            .to_string()
            .contains("RUN is not a valid change command"));
        // A bare CMD is docker's shell with nothing to run; a bare ENTRYPOINT unsets it.
        assert_eq!(
            parse_changes(&["CMD".into()]).unwrap().cmd.unwrap(),
            vec!["/bin/sh", "-c"]
        );
        assert!(parse_changes(&["ENTRYPOINT".into()])
            .unwrap()
            .entrypoint
            .is_none());
        assert!(parse_changes(&["ENV A=\"x".into()]).is_err());
        assert!(parse_changes(&["ENV =x".into()]).is_err());
        assert!(parse_changes(&["STOPSIGNAL NOPE".into()]).is_err());
        assert!(parse_changes(&["ENTRYPOINT [\"x\"]".into()])
            .unwrap()
            .cmd
            .is_none());
    }

    #[test]
    fn docker_only_keys() {
        let c = parse_changes(&[
            "EXPOSE 80 53/udp 8000-8001".into(),
            "LABEL a=b \"c d\"=e".into(),
            "VOLUME /data".into(),
            "ONBUILD RUN echo hi".into(),
            "STOPSIGNAL SIGINT".into(),
            "HEALTHCHECK --interval=5s --retries=2 CMD true".into(),
        ])
        .unwrap();
        let x = &c.extra_config;
        assert_eq!(
            x["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(x["Labels"], json!({"a": "b", "c d": "e"}));
        assert_eq!(x["Volumes"], json!({"/data": {}}));
        assert_eq!(x["OnBuild"], json!(["RUN echo hi"]));
        assert_eq!(x["StopSignal"], json!("SIGINT"));
        assert_eq!(
            x["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64, "Retries": 2})
        );
    }
}
