//! tar: busybox's `tar c|t|x [-v] [-C DIR] -f FILE [PATH...]` over the
//! simulated files, with real ustar archives (the `tar` crate): an archive
//! made in a container and written into a volume or a bind is a tar the
//! host's own tar reads.

use crate::kernel::sim::fs::{self, Node};
use crate::kernel::sim::sh::exec::Sh;
use crate::kernel::sim::sh::world::Proc;
use crate::kernel::sim::sh::Flow;

type R = Result<i32, Flow>;

fn usage(p: &mut Proc) -> R {
    p.err("Usage: tar c|x|t [-v] [-C DIR] [-f TARFILE] [FILE]...\n")?;
    Ok(1)
}

pub fn tar(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    // Old style (`tar cf x.tar /data`): the first word is all flags.
    let mut words: Vec<String> = argv[1..].to_vec();
    if let Some(first) = words.first().filter(|w| !w.starts_with('-')) {
        words[0] = format!("-{first}");
    }
    let (mut mode, mut verbose, mut file, mut dir) = (None, false, None::<String>, None::<String>);
    let mut operands = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].clone();
        i += 1;
        if !w.starts_with('-') || w == "-" {
            operands.push(w);
            continue;
        }
        for c in w[1..].chars() {
            match c {
                'c' | 't' | 'x' => mode = Some(c),
                'v' => verbose = true,
                'f' | 'C' => {
                    let Some(v) = words.get(i).cloned() else {
                        return usage(p);
                    };
                    i += 1;
                    if c == 'f' {
                        file = Some(v);
                    } else {
                        dir = Some(v);
                    }
                }
                'z' | 'j' | 'J' => {
                    p.err("tar: compression is not simulated: use plain tar\n")?;
                    return Ok(1);
                }
                'o' | 'p' | 'h' => {}
                c => {
                    p.err(format!("tar: invalid option -- '{c}'\n"))?;
                    return usage(p);
                }
            }
        }
    }
    let Some(mode) = mode else {
        return usage(p);
    };
    let cwd = match &dir {
        Some(d) => fs::normalize(d, &sh.cwd),
        None => sh.cwd.clone(),
    };
    match mode {
        'c' => create(p, sh, &cwd, file.as_deref(), &operands, verbose),
        _ => read(p, sh, &cwd, file.as_deref(), mode == 'x', verbose),
    }
}

fn create(
    p: &mut Proc,
    sh: &mut Sh,
    cwd: &str,
    file: Option<&str>,
    paths: &[String],
    verbose: bool,
) -> R {
    if paths.is_empty() {
        p.err("tar: empty archive\n")?;
        return Ok(1);
    }
    let mut items = Vec::new();
    let mut errs = String::new();
    let mut stripped = false;
    for path in paths {
        let fsys = &p.w().fs;
        let Some((abs, _)) = fsys.lstat(path, cwd) else {
            errs.push_str(&format!("tar: {path}: No such file or directory\n"));
            continue;
        };
        let name = fs::normalize(path, "/");
        let name = if path.starts_with('/') {
            stripped = true;
            name.trim_start_matches('/').to_string()
        } else {
            path.trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        };
        items.push((abs, if name.is_empty() { ".".into() } else { name }));
    }
    if stripped {
        p.err("tar: removing leading '/' from member names\n")?;
    }
    let (tar, names) = match crate::kernel::sim::upper::trees_tar(&p.w().fs, &items) {
        Ok(t) => t,
        Err(e) => {
            p.err(format!("tar: {e:#}\n"))?;
            return Ok(1);
        }
    };
    if verbose {
        p.out(names.iter().map(|n| format!("{n}\n")).collect::<String>())?;
    }
    match file {
        None | Some("-") => p.out(&tar)?,
        Some(f) => {
            let f = fs::normalize(f, &sh.cwd);
            if let Err(e) = p.w().fs.write_file(&f, "/", &tar, false) {
                p.err(format!("tar: can't open '{f}': {e}\n"))?;
                return Ok(1);
            }
        }
    }
    p.err(errs.clone())?;
    Ok(i32::from(!errs.is_empty()))
}

fn read(
    p: &mut Proc,
    sh: &mut Sh,
    cwd: &str,
    file: Option<&str>,
    extract: bool,
    verbose: bool,
) -> R {
    let data = match file {
        None | Some("-") => {
            let mut d = Vec::new();
            loop {
                let b = p.read(0, 65536)?;
                if b.is_empty() {
                    break;
                }
                d.extend(b);
            }
            d
        }
        Some(f) => match p.w().fs.read_file(f, &sh.cwd) {
            Ok(d) => d,
            Err(e) => {
                p.err(format!("tar: can't open '{f}': {e}\n"))?;
                return Ok(1);
            }
        },
    };
    let mut archive = tar::Archive::new(&data[..]);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            p.err(format!("tar: {e}\n"))?;
            return Ok(1);
        }
    };
    let mut listed = String::new();
    let mut errs = String::new();
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(_) => {
                errs.push_str("tar: short read\n");
                break;
            }
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !extract || verbose {
            listed.push_str(&name);
            listed.push('\n');
        }
        if !extract {
            continue;
        }
        let rel = name.trim_start_matches('/').trim_end_matches('/');
        if rel.split('/').any(|c| c == "..") {
            errs.push_str(&format!("tar: skipping '{name}': it has '..'\n"));
            continue;
        }
        if rel.is_empty() || rel == "." {
            continue;
        }
        let at = fs::normalize(rel, cwd);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let kind = entry.header().entry_type();
        let fsys = &mut p.w().fs;
        let made = if kind.is_dir() {
            match fsys.mkdir(&at, "/") {
                Err(fs::FsError::AlreadyExists) => Ok(()),
                r => r.and_then(|_| fsys.chmod(&at, "/", mode)),
            }
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            fsys.create(&at, "/", Node::symlink(target)).map(drop)
        } else {
            let mut bytes = Vec::new();
            let _ = std::io::Read::read_to_end(&mut entry, &mut bytes);
            let fsys = &mut p.w().fs;
            let _ = fsys.remove(&at, "/");
            fsys.write_file(&at, "/", &bytes, false)
                .and_then(|_| fsys.chmod(&at, "/", mode))
        };
        if let Err(e) = made {
            errs.push_str(&format!("tar: can't create '{rel}': {e}\n"));
        }
    }
    p.out(listed)?;
    p.err(errs.clone())?;
    Ok(i32::from(!errs.is_empty()))
}
