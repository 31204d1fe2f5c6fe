//! File applets: ls, mkdir, rmdir, rm, touch, cp, mv, ln, chmod, stat, df,
//! du, dd, which, readlink, realpath.

use super::{bad_opt, getopt, group_name, has, user_name, val};
use crate::kernel::sim::fs::{self, FsError, Node, SimFs};
use crate::kernel::sim::sh::exec::Sh;
use crate::kernel::sim::sh::world::Proc;
use crate::kernel::sim::sh::Flow;

type R = Result<i32, Flow>;

fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn now_secs(p: &Proc) -> u64 {
    p.world().clock_ms / 1000
}

struct LsOpts {
    long: bool,
    all: bool,
    almost_all: bool,
    dir_only: bool,
    classify: bool,
    numeric: bool,
}

pub fn ls(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, mut operands) = match getopt(&argv[1..], "laAdF1hnCtrRSi", "") {
        Ok(x) => x,
        Err(c) => {
            p.err(format!("ls: unrecognized option: {c}\n"))?;
            return Ok(1);
        }
    };
    let o = LsOpts {
        long: has(&opts, 'l') || has(&opts, 'n'),
        all: has(&opts, 'a'),
        almost_all: has(&opts, 'A'),
        dir_only: has(&opts, 'd'),
        classify: has(&opts, 'F'),
        numeric: has(&opts, 'n'),
    };
    if operands.is_empty() {
        operands.push(".".to_string());
    }
    let now = now_secs(p);
    let cwd = sh.cwd.clone();
    let mut out = String::new();
    let mut errs = String::new();
    let mut status = 0;
    {
        let fs: &SimFs = &p.world().fs;
        let mut files: Vec<(String, String)> = Vec::new();
        let mut dirs: Vec<(String, String)> = Vec::new();
        for op in &operands {
            let Some((labs, lnode)) = fs.lstat(op, &cwd) else {
                errs.push_str(&format!("ls: {op}: No such file or directory\n"));
                status = 1;
                continue;
            };
            let follow = !o.long && !o.dir_only && !o.classify || op.ends_with('/');
            let target = if matches!(lnode, Node::Symlink { .. }) && follow {
                fs.lookup(op, &cwd)
            } else {
                Some((labs.clone(), lnode))
            };
            match target {
                Some((abs, n)) if n.is_dir() && !o.dir_only => dirs.push((op.clone(), abs)),
                _ => files.push((op.clone(), labs)),
            }
        }
        files.sort();
        dirs.sort();
        let mut first = true;
        for (disp, abs) in &files {
            out.push_str(&ls_line(fs, abs, disp, &o, now));
            first = false;
        }
        let recursive = has(&opts, 'R');
        let headers = operands.len() > 1 || recursive;
        // -R lists each directory's subdirectories right after it, depth first
        let mut queue: std::collections::VecDeque<(String, String)> = dirs.into();
        while let Some((disp, abs)) = queue.pop_front() {
            let (disp, abs) = (&disp, &abs);
            if !first {
                out.push('\n');
            }
            first = false;
            if headers {
                out.push_str(&format!("{disp}:\n"));
            }
            let mut names = fs.list_dir(abs, "/").unwrap_or_default();
            if o.all {
                names.push(".".into());
                names.push("..".into());
                names.sort();
            } else if !o.almost_all {
                names.retain(|n| !n.starts_with('.'));
            }
            let path_of = |n: &str| {
                if n == "." || n == ".." {
                    fs::normalize(n, abs)
                } else {
                    child(abs, n)
                }
            };
            // -t newest first, -S largest first (ties by name), -r reversed
            if has(&opts, 't') {
                names.sort_by_key(|n| std::cmp::Reverse(fs.mtime_of(&path_of(n))));
            } else if has(&opts, 'S') {
                names.sort_by_key(|n| std::cmp::Reverse(fs.size_of(&path_of(n))));
            }
            if has(&opts, 'r') {
                names.reverse();
            }
            if recursive {
                let subdirs: Vec<(String, String)> = names
                    .iter()
                    .filter(|n| *n != "." && *n != "..")
                    .filter(|n| fs.lstat(&path_of(n), "/").is_some_and(|(_, x)| x.is_dir()))
                    .map(|n| (format!("{}/{n}", disp.trim_end_matches('/')), path_of(n)))
                    .collect();
                for d in subdirs.into_iter().rev() {
                    queue.push_front(d);
                }
            }
            if o.long {
                let blocks: u64 = names
                    .iter()
                    .map(|n| fs.size_of(&path_of(n)).div_ceil(4096) * 4)
                    .sum();
                out.push_str(&format!("total {blocks}\n"));
            }
            for n in names {
                out.push_str(&ls_line(fs, &path_of(&n), &n, &o, now));
            }
        }
    }
    p.err(errs)?;
    p.out(out)?;
    Ok(status)
}

fn ls_line(fs: &SimFs, abs: &str, name: &str, o: &LsOpts, now: u64) -> String {
    let node = fs.lstat(abs, "/").map(|(_, n)| n);
    let suffix = if o.classify {
        match node {
            Some(Node::Dir { .. }) => "/",
            Some(Node::Symlink { .. }) => "@",
            Some(Node::Other { kind: 'p' }) => "|",
            Some(Node::File { mode, .. }) if mode & 0o111 != 0 => "*",
            _ => "",
        }
    } else {
        ""
    };
    if !o.long {
        return format!("{name}{suffix}\n");
    }
    let Some(node) = node else {
        return format!("{name}\n");
    };
    let (uid, gid) = node.owner();
    let (u, g) = if o.numeric {
        (uid.to_string(), gid.to_string())
    } else {
        (user_name(fs, uid), group_name(fs, gid))
    };
    let size = match node {
        Node::Other { kind: 'c' | 'b' } => "  0,   0".to_string(),
        _ => fs.size_of(abs).to_string(),
    };
    let link = match node {
        Node::Symlink { target } => format!(" -> {target}"),
        _ => String::new(),
    };
    format!(
        "{:<10} {:>4} {:<8} {:<8} {:>9} {} {}{}{}\n",
        mode_string(node),
        nlink(fs, abs, node),
        trunc8(&u),
        trunc8(&g),
        size,
        ls_date(fs.mtime_of(abs), now),
        name,
        suffix,
        link
    )
}

fn nlink(fs: &SimFs, abs: &str, node: &Node) -> usize {
    match node {
        Node::Dir { .. } => {
            2 + fs
                .list_dir(abs, "/")
                .unwrap_or_default()
                .iter()
                .filter(|n| {
                    fs.lstat(&child(abs, n), "/")
                        .map(|(_, c)| c.is_dir())
                        .unwrap_or(false)
                })
                .count()
        }
        _ => 1,
    }
}

fn trunc8(s: &str) -> String {
    s.chars().take(8).collect()
}

pub fn mode_string(node: &Node) -> String {
    let t = match node {
        Node::Dir { .. } => 'd',
        Node::File { .. } => '-',
        Node::Symlink { .. } => 'l',
        Node::Other { kind } => *kind,
    };
    let m = node.mode();
    let mut s = String::new();
    s.push(t);
    let bit = |b: u32, c: char| if m & b != 0 { c } else { '-' };
    let exec = |x: u32, special: u32, set: char, unset: char| match (m & x != 0, m & special != 0) {
        (true, true) => set,
        (false, true) => unset,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(exec(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(exec(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(exec(0o001, 0o1000, 't', 'T'));
    s
}

/// busybox: "Mon DD HH:MM" if within the last six months, else "Mon DD  YYYY".
pub fn ls_date(mtime: u64, now: u64) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp(mtime as i64, 0) else {
        return "Jan  1  1970".to_string();
    };
    let age = now as i64 - mtime as i64;
    if age < 3600 * 24 * 365 / 2 && age > -15 * 60 {
        dt.format("%b %e %H:%M").to_string()
    } else {
        dt.format("%b %e  %Y").to_string()
    }
}

pub fn mkdir(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, dirs) = match getopt(&argv[1..], "pv", "m") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "mkdir", c),
    };
    let mode = val(&opts, 'm').and_then(|m| u32::from_str_radix(m, 8).ok());
    let cwd = sh.cwd.clone();
    let now = now_secs(p);
    let mut st = 0;
    for d in &dirs {
        let mut made: Vec<String> = Vec::new();
        let fsys = &mut p.w().fs;
        let r = if has(&opts, 'p') {
            let abs = fs::normalize(d, &cwd);
            // -v names each directory as the operand spells it: `a/` then `a/b`
            let spelled: Vec<(String, String)> = d
                .char_indices()
                .filter(|&(i, c)| c == '/' && i > 0 && !d[..i].ends_with('/'))
                .map(|(i, _)| d[..=i].to_string())
                .chain(std::iter::once(d.clone()))
                .map(|s| (fs::normalize(&s, &cwd), s))
                .collect();
            let mut cur = String::new();
            let mut res = Ok(());
            for comp in abs.split('/').filter(|c| !c.is_empty()) {
                cur = format!("{cur}/{comp}");
                match fsys.lookup(&cur, "/") {
                    Some((_, n)) if n.is_dir() => continue,
                    Some(_) => {
                        res = Err(FsError::NotADirectory);
                        break;
                    }
                    None => {}
                }
                if let Err(e) = fsys.mkdir(&cur, "/") {
                    res = Err(e);
                    break;
                }
                fsys.set_mtime(&cur, now);
                if let Some((_, s)) = spelled.iter().find(|(a, _)| *a == cur) {
                    made.push(s.clone());
                }
            }
            res
        } else {
            made.push(d.clone());
            fsys.mkdir(d, &cwd)
                .map(|_| fsys.set_mtime(&fs::normalize(d, &cwd), now))
        };
        if r.is_ok() && has(&opts, 'v') {
            let said: String = made
                .iter()
                .map(|m| format!("created directory: '{m}'\n"))
                .collect();
            p.out(said)?;
        }
        if r.is_ok() {
            if let Some(m) = mode {
                let _ = p.w().fs.chmod(d, &cwd, m);
            }
        }
        if let Err(e) = r {
            p.err(format!("mkdir: can't create directory '{d}': {e}\n"))?;
            st = 1;
        }
    }
    Ok(st)
}

pub fn rmdir(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let cwd = sh.cwd.clone();
    let mut st = 0;
    for d in argv[1..].iter().filter(|a| !a.starts_with('-')) {
        let fsys = &mut p.w().fs;
        let msg = match fsys.lstat(d, &cwd) {
            None => Some("No such file or directory"),
            Some((_, n)) if !n.is_dir() => Some("Not a directory"),
            Some((abs, _)) if !fsys.list_dir(&abs, "/").unwrap_or_default().is_empty() => {
                Some("Directory not empty")
            }
            Some(_) => match fsys.remove(d, &cwd) {
                Err(fs::FsError::ReadOnly) => Some("Read-only file system"),
                _ => None,
            },
        };
        if let Some(m) = msg {
            p.err(format!("rmdir: '{d}': {m}\n"))?;
            st = 1;
        }
    }
    Ok(st)
}

pub fn rm(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "rRfiv", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "rm", c),
    };
    let recursive = has(&opts, 'r') || has(&opts, 'R');
    let force = has(&opts, 'f');
    let cwd = sh.cwd.clone();
    let mut st = 0;
    for f in &files {
        if fs::basename(f) == "." || fs::basename(f) == ".." {
            p.err("rm: can't remove '.' or '..'\n")?;
            st = 1;
            continue;
        }
        let fsys = &mut p.w().fs;
        let msg = match fsys.lstat(f, &cwd) {
            None if force => None,
            None => Some(format!(
                "rm: can't remove '{f}': No such file or directory\n"
            )),
            Some((_, n)) if n.is_dir() && !recursive => Some(format!("rm: '{f}' is a directory\n")),
            Some(_) => match fsys.remove(f, &cwd) {
                Err(e @ fs::FsError::ReadOnly) => Some(format!("rm: can't remove '{f}': {e}\n")),
                _ => None,
            },
        };
        if let Some(m) = msg {
            p.err(m)?;
            st = 1;
        }
    }
    Ok(st)
}

pub fn touch(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "cam", "dtr") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "touch", c),
    };
    let cwd = sh.cwd.clone();
    let mut now = now_secs(p);
    // -d DATE, -t [[CC]YY]MMDDhhmm[.ss], -r FILE: that time instead of now
    let when = if let Some(d) = val(&opts, 'd') {
        Some((d, super::system::parse_date(d).map(|t| t.max(0) as u64)))
    } else if let Some(t) = val(&opts, 't') {
        Some((t, stamp_arg(t, now)))
    } else if let Some(r) = val(&opts, 'r') {
        match p.world().fs.lookup(r, &cwd) {
            Some((abs, _)) => Some((r, Some(p.world().fs.mtime_of(&abs)))),
            None => {
                p.err(format!("touch: {r}: No such file or directory\n"))?;
                return Ok(1);
            }
        }
    } else {
        None
    };
    match when {
        Some((_, Some(t))) => now = t,
        Some((bad, None)) => {
            p.err(format!("touch: invalid date '{bad}'\n"))?;
            return Ok(1);
        }
        None => {}
    }
    let mut st = 0;
    for f in &files {
        let fsys = &mut p.w().fs;
        let r = match fsys.lookup(f, &cwd) {
            Some((abs, _)) => fsys.touch_at(&abs, now),
            None if has(&opts, 'c') => Ok(()),
            None => fsys.write_file(f, &cwd, b"", true).map(|_| {
                if let Ok(abs) = fsys.resolve(f, &cwd, true) {
                    fsys.set_mtime(&abs, now);
                }
            }),
        };
        if let Err(e) = r {
            p.err(format!("touch: {f}: {e}\n"))?;
            st = 1;
        }
    }
    Ok(st)
}

/// `touch -t [[CC]YY]MMDDhhmm[.ss]` as seconds since the epoch (UTC).
fn stamp_arg(t: &str, now: u64) -> Option<u64> {
    let (main, ss) = match t.split_once('.') {
        Some((m, s)) => (m, s.parse::<u32>().ok()?),
        None => (t, 0),
    };
    if !main.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let this_year = chrono::DateTime::from_timestamp(now as i64, 0)?
        .format("%Y")
        .to_string();
    let full = match main.len() {
        8 => format!("{this_year}{main}"),
        10 => {
            // POSIX: 69-99 are 19xx, 00-68 are 20xx
            let yy: u32 = main[..2].parse().ok()?;
            format!("{}{main}", if yy >= 69 { "19" } else { "20" })
        }
        12 => main.to_string(),
        _ => return None,
    };
    let d =
        chrono::NaiveDateTime::parse_from_str(&format!("{full}{ss:02}"), "%Y%m%d%H%M%S").ok()?;
    u64::try_from(d.and_utc().timestamp()).ok()
}

/// Copy the node at `src` (absolute) to `dst` (absolute), recursively.
fn copy_tree(
    fsys: &mut SimFs,
    src: &str,
    dst: &str,
    follow: bool,
    now: u64,
) -> Result<(), FsError> {
    let node = if follow {
        fsys.lookup(src, "/")
    } else {
        fsys.lstat(src, "/")
    };
    let Some((sabs, node)) = node else {
        return Err(FsError::NotFound);
    };
    let node = node.clone();
    if node.is_dir() {
        if !matches!(fsys.lookup(dst, "/"), Some((_, n)) if n.is_dir()) {
            fsys.create(dst, "/", node)?;
        }
        fsys.set_mtime(dst, now);
        for n in fsys.list_dir(&sabs, "/")? {
            copy_tree(fsys, &child(&sabs, &n), &child(dst, &n), false, now)?;
        }
        Ok(())
    } else {
        let abs = fsys.create(dst, "/", node)?;
        fsys.set_mtime(&abs, now);
        Ok(())
    }
}

pub fn cp(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, mut args) = match getopt(&argv[1..], "rRapfiPLdvn", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "cp", c),
    };
    let recursive = has(&opts, 'r') || has(&opts, 'R') || has(&opts, 'a');
    if args.len() < 2 {
        p.err("Usage: cp [-arPLHpfinlsTu] SOURCE DEST\n")?;
        return Ok(1);
    }
    let dest = args.pop().unwrap();
    let cwd = sh.cwd.clone();
    let now = now_secs(p);
    let fsys = &mut p.w().fs;
    let dest_dir = matches!(fsys.lookup(&dest, &cwd), Some((_, n)) if n.is_dir());
    let mut errs = String::new();
    if args.len() > 1 && !dest_dir {
        errs.push_str(&format!("cp: '{dest}' is not a directory\n"));
    }
    for s in &args {
        if !errs.is_empty() && args.len() > 1 && !dest_dir {
            break;
        }
        let Some((sabs, n)) = fsys.lookup(s, &cwd) else {
            errs.push_str(&format!(
                "cp: can't stat '{s}': No such file or directory\n"
            ));
            continue;
        };
        if n.is_dir() && !recursive {
            errs.push_str(&format!("cp: omitting directory '{s}'\n"));
            continue;
        }
        let target = if dest_dir {
            child(&fs::normalize(&dest, &cwd), fs::basename(&sabs))
        } else {
            fs::normalize(&dest, &cwd)
        };
        if let Err(e) = copy_tree(fsys, &sabs, &target, true, now) {
            errs.push_str(&format!("cp: can't create '{dest}': {e}\n"));
        }
    }
    let st = !errs.is_empty() as i32;
    p.err(errs)?;
    Ok(st)
}

pub fn mv(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (_, mut args) = match getopt(&argv[1..], "finv", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "mv", c),
    };
    if args.len() < 2 {
        p.err("Usage: mv [-finT] SOURCE DEST\n")?;
        return Ok(1);
    }
    let dest = args.pop().unwrap();
    let cwd = sh.cwd.clone();
    let fsys = &mut p.w().fs;
    let dest_dir = matches!(fsys.lookup(&dest, &cwd), Some((_, n)) if n.is_dir());
    let mut errs = String::new();
    for s in &args {
        if fsys.lstat(s, &cwd).is_none() {
            errs.push_str(&format!(
                "mv: can't rename '{s}': No such file or directory\n"
            ));
            continue;
        }
        let target = if dest_dir {
            child(&fs::normalize(&dest, &cwd), fs::basename(s))
        } else {
            dest.clone()
        };
        if let Err(e) = fsys.rename(s, &target, &cwd) {
            errs.push_str(&format!("mv: can't rename '{s}': {e}\n"));
        }
    }
    let st = !errs.is_empty() as i32;
    p.err(errs)?;
    Ok(st)
}

pub fn ln(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, args) = match getopt(&argv[1..], "sfnvT", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "ln", c),
    };
    if args.is_empty() {
        p.err("Usage: ln [-sfnbtv] [-S SUF] TARGET... LINK|DIR\n")?;
        return Ok(1);
    }
    let cwd = sh.cwd.clone();
    let now = now_secs(p);
    let (targets, link) = if args.len() == 1 {
        (vec![args[0].clone()], ".".to_string())
    } else {
        (
            args[..args.len() - 1].to_vec(),
            args[args.len() - 1].clone(),
        )
    };
    let fsys = &mut p.w().fs;
    let link_dir =
        !has(&opts, 'n') && matches!(fsys.lookup(&link, &cwd), Some((_, n)) if n.is_dir());
    let mut errs = String::new();
    for t in &targets {
        let path = if link_dir {
            child(&fs::normalize(&link, &cwd), fs::basename(t))
        } else {
            link.clone()
        };
        if fsys.lstat(&path, &cwd).is_some() {
            if has(&opts, 'f') {
                let _ = fsys.remove(&path, &cwd);
            } else {
                errs.push_str(&format!("ln: {path}: File exists\n"));
                continue;
            }
        }
        let node = if has(&opts, 's') {
            Some(Node::symlink(t.clone()))
        } else {
            match fsys.lookup(t, &cwd) {
                Some((_, n)) if !n.is_dir() => Some(n.clone()),
                Some(_) => {
                    errs.push_str(&format!("ln: {t}: Is a directory\n"));
                    None
                }
                None => {
                    errs.push_str(&format!("ln: {t}: No such file or directory\n"));
                    None
                }
            }
        };
        if let Some(n) = node {
            match fsys.create(&path, &cwd, n) {
                Ok(abs) => fsys.set_mtime(&abs, now),
                Err(e) => errs.push_str(&format!("ln: {path}: {e}\n")),
            }
        }
    }
    let st = !errs.is_empty() as i32;
    p.err(errs)?;
    Ok(st)
}

/// Apply a chmod mode (octal, or symbolic like `u+x,go-w`) to `old`.
pub fn apply_mode(spec: &str, old: u32, is_dir: bool) -> Option<u32> {
    if spec.chars().all(|c| c.is_digit(8)) && !spec.is_empty() {
        return u32::from_str_radix(spec, 8).ok();
    }
    let mut m = old;
    for clause in spec.split(',') {
        let who_end = clause.find(['+', '-', '=']).unwrap_or(clause.len());
        let who = &clause[..who_end];
        if !who.chars().all(|c| "ugoa".contains(c)) {
            return None;
        }
        let mask = if who.is_empty() || who.contains('a') {
            0o7777
        } else {
            let mut k = 0;
            if who.contains('u') {
                k |= 0o4700;
            }
            if who.contains('g') {
                k |= 0o2070;
            }
            if who.contains('o') {
                k |= 0o1007;
            }
            k
        };
        let mut rest = &clause[who_end..];
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let op = rest.chars().next()?;
            if !"+-=".contains(op) {
                return None;
            }
            let perm_end = rest[1..]
                .find(['+', '-', '='])
                .map(|i| i + 1)
                .unwrap_or(rest.len());
            let perms = &rest[1..perm_end];
            let mut bits = 0;
            for c in perms.chars() {
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || old & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return None,
                };
            }
            let bits = bits & mask;
            m = match op {
                '+' => m | bits,
                '-' => m & !bits,
                _ => (m & !mask) | bits,
            };
            rest = &rest[perm_end..];
        }
    }
    Some(m)
}

pub fn chmod(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let args: Vec<String> = argv[1..].to_vec();
    let recursive = args.first().map(|a| a == "-R").unwrap_or(false);
    let args: Vec<String> = args.into_iter().filter(|a| a != "-R").collect();
    if args.len() < 2 {
        p.err("Usage: chmod [-Rcvf] MODE[,MODE]... FILE...\n")?;
        return Ok(1);
    }
    let spec = &args[0];
    let cwd = sh.cwd.clone();
    let mut errs = String::new();
    let fsys = &mut p.w().fs;
    for f in &args[1..] {
        let Some((abs, n)) = fsys.lookup(f, &cwd) else {
            errs.push_str(&format!("chmod: {f}: No such file or directory\n"));
            continue;
        };
        let mut targets = vec![(abs.clone(), n.mode(), n.is_dir())];
        if recursive && n.is_dir() {
            let prefix = format!("{}/", abs.trim_end_matches('/'));
            targets.extend(
                fsys.iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, n)| (k.to_string(), n.mode(), n.is_dir())),
            );
        }
        for (t, old, dir) in targets {
            match apply_mode(spec, old, dir) {
                Some(m) => {
                    if let Err(e @ fs::FsError::ReadOnly) = fsys.chmod(&t, "/", m) {
                        errs.push_str(&format!("chmod: {t}: {e}\n"));
                        break;
                    }
                }
                None => {
                    errs.push_str(&format!("chmod: invalid mode '{spec}'\n"));
                    break;
                }
            }
        }
    }
    let st = !errs.is_empty() as i32;
    p.err(errs)?;
    Ok(st)
}

/// A stable inode number for a simulated path.
fn inode(abs: &str) -> u64 {
    let mut h: u64 = 1469598103934665603;
    for b in abs.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    h % 9_000_000 + 1_000_000
}

pub fn stat(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "Lft", "c") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "stat", c),
    };
    let cwd = sh.cwd.clone();
    let mut out = String::new();
    let mut errs = String::new();
    {
        let fsys = &p.world().fs;
        for f in &files {
            let found = if has(&opts, 'L') {
                fsys.lookup(f, &cwd)
            } else {
                fsys.lstat(f, &cwd)
            };
            let Some((abs, n)) = found else {
                errs.push_str(&format!(
                    "stat: can't stat '{f}': No such file or directory\n"
                ));
                continue;
            };
            let size = match n {
                Node::Other { .. } => 0,
                _ => fsys.size_of(&abs),
            };
            let (uid, gid) = n.owner();
            let kind = match n {
                Node::Dir { .. } => "directory",
                Node::File { .. } if size == 0 => "regular empty file",
                Node::File { .. } => "regular file",
                Node::Symlink { .. } => "symbolic link",
                Node::Other { kind: 'c' } => "character special file",
                Node::Other { kind: 'b' } => "block special file",
                Node::Other { .. } => "fifo",
            };
            let mode = n.mode();
            if let Some(fmt) = val(&opts, 'c') {
                let mut s = String::new();
                let mut it = fmt.chars();
                while let Some(c) = it.next() {
                    if c != '%' {
                        s.push(c);
                        continue;
                    }
                    match it.next() {
                        Some('a') => s.push_str(&format!("{mode:o}")),
                        Some('A') => s.push_str(&mode_string(n)),
                        Some('s') => s.push_str(&size.to_string()),
                        Some('n') => s.push_str(f),
                        Some('N') => s.push_str(&format!("'{f}'")),
                        Some('U') => s.push_str(&user_name(fsys, uid)),
                        Some('G') => s.push_str(&group_name(fsys, gid)),
                        Some('u') => s.push_str(&uid.to_string()),
                        Some('g') => s.push_str(&gid.to_string()),
                        Some('F') => s.push_str(kind),
                        Some('i') => s.push_str(&inode(&abs).to_string()),
                        Some('h') => s.push_str(&nlink(fsys, &abs, n).to_string()),
                        // one time for access, modification and change
                        Some('X' | 'Y' | 'Z') => s.push_str(&fsys.mtime_of(&abs).to_string()),
                        Some('x' | 'y' | 'z') => s.push_str(&stamp(fsys.mtime_of(&abs))),
                        Some('b') => s.push_str(&size.div_ceil(4096).saturating_mul(8).to_string()),
                        Some('B') => s.push_str("512"),
                        Some('o') => s.push_str("4096"),
                        Some('f') => s.push_str(&format!("{:x}", n.mode() | type_bits(n))),
                        Some('%') => s.push('%'),
                        Some(o) => {
                            s.push('?');
                            let _ = o;
                        }
                        None => {}
                    }
                }
                out.push_str(&s);
                out.push('\n');
                continue;
            }
            let name = match n {
                Node::Symlink { target } => format!("'{f}' -> '{target}'"),
                _ => f.clone(),
            };
            let t = stamp(fsys.mtime_of(&abs));
            out.push_str(&format!(
                "  File: {name}\n  Size: {:<10}\tBlocks: {:<10} IO Block: 4096   {kind}\nDevice: 2fh/47d\tInode: {:<11} Links: {}\nAccess: ({:04o}/{})  Uid: ({:>5}/{:>8})   Gid: ({:>5}/{:>8})\nAccess: {t}\nModify: {t}\nChange: {t}\n",
                size,
                size.div_ceil(4096) * 8,
                inode(&abs),
                nlink(fsys, &abs, n),
                mode,
                mode_string(n),
                uid,
                user_name(fsys, uid),
                gid,
                group_name(fsys, gid),
            ));
        }
    }
    let st = !errs.is_empty() as i32;
    p.out(out)?;
    p.err(errs)?;
    Ok(st)
}

/// A file time as `stat` prints it.
fn stamp(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S.000000000 +0000").to_string())
        .unwrap_or_default()
}

/// The file-type bits of st_mode (`stat -c %f`).
fn type_bits(n: &Node) -> u32 {
    match n {
        Node::Dir { .. } => 0o040000,
        Node::File { .. } => 0o100000,
        Node::Symlink { .. } => 0o120000,
        Node::Other { kind: 'c' } => 0o020000,
        Node::Other { kind: 'b' } => 0o060000,
        Node::Other { .. } => 0o010000,
    }
}

/// Human-readable sizes as busybox prints them (1024-based, one decimal under 10... as `df -h`).
pub fn human(bytes: u64) -> String {
    let units = ["", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}");
    }
    format!("{:.1}{}", v, units[u])
}

/// The bytes a subtree uses (files rounded up to 4 KiB blocks, directories 4 KiB).
fn usage(fsys: &SimFs, abs: &str) -> u64 {
    let prefix = format!("{}/", abs.trim_end_matches('/'));
    let own = fsys.size_of(abs).div_ceil(4096) * 4096;
    let mut total = own;
    for (k, n) in fsys.iter() {
        if k.starts_with(&prefix) && !matches!(n, Node::Symlink { .. } | Node::Other { .. }) {
            total += fsys.size_of(k).div_ceil(4096) * 4096;
        }
    }
    total
}

/// The size of the simulated root filesystem: a fixed disk, its use from the image.
pub const DISK_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// One row of `df`: (source, type, size, used, mount point).
type DfRow = (String, String, u64, u64, String);

pub fn df(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, paths) = match getopt(&argv[1..], "hkmPaT", "t") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "df", c),
    };
    let (h, mb, types) = (has(&opts, 'h'), has(&opts, 'm'), has(&opts, 'T'));
    let only_type = val(&opts, 't').map(str::to_string);
    let w = p.world();
    let used_root = usage(&w.fs, "/");
    let size_label = if h {
        "Size"
    } else if mb {
        "1M-blocks"
    } else {
        "1K-blocks"
    };
    let mut out = format!("{:<20}", "Filesystem");
    if types {
        out.push_str(&format!(" {:<10}", "Type"));
    }
    if has(&opts, 'P') && !h && !mb {
        // POSIX output names its units and percentage column differently
        out.push_str(" 1024-blocks    Used Available Capacity Mounted on\n");
    } else {
        out.push_str(&format!(
            " {size_label:>9} {:>9} {:>9} Use% Mounted on\n",
            "Used", "Available"
        ));
    }
    // Every bind mount of the host's disk is the same device (/dev/vda);
    // pseudo filesystems have no blocks.
    let table: Vec<DfRow> = w
        .mounts
        .iter()
        .map(|m| {
            let (src, size, used) = match m.fstype.as_str() {
                "overlay" => (m.source.clone(), DISK_BYTES, used_root),
                "bind" => ("/dev/vda".to_string(), DISK_BYTES, used_root),
                "tmpfs" | "devtmpfs" => (m.source.clone(), 64 << 20, 0),
                _ => (m.source.clone(), 0, 0),
            };
            let fstype = if m.fstype == "bind" {
                "ext4".to_string()
            } else {
                m.fstype.clone()
            };
            (src, fstype, size, used, m.target.clone())
        })
        .collect();
    let mut rows: Vec<DfRow> = Vec::new();
    let mut errs = String::new();
    if paths.is_empty() {
        rows.extend(table.iter().cloned().filter(|r| {
            (r.2 > 0 || has(&opts, 'a')) && only_type.as_ref().is_none_or(|t| *t == r.1)
        }));
    }
    for path in &paths {
        match mount_of(&w.fs, &table, path, &sh.cwd) {
            Some(r) => rows.push(r),
            None => errs.push_str(&format!("df: {path}: can't find mount point\n")),
        }
    }
    for (src, fstype, size, used, target) in rows {
        let avail = size - used;
        let pct = if size == 0 {
            0
        } else {
            (used * 100).div_ceil(size)
        };
        let fig = |b: u64| {
            if h {
                human(b)
            } else if mb {
                (b >> 20).to_string()
            } else {
                (b / 1024).to_string()
            }
        };
        out.push_str(&format!("{src:<20}"));
        if types {
            out.push_str(&format!(" {fstype:<10}"));
        }
        out.push_str(&format!(
            " {:>9} {:>9} {:>9} {:>3}% {}\n",
            fig(size),
            fig(used),
            fig(avail),
            pct,
            target
        ));
    }
    p.out(out)?;
    if errs.is_empty() {
        return Ok(0);
    }
    p.err(errs)?;
    Ok(1)
}

/// The mount a path lives on, as busybox's find_mount_point finds it: the
/// deepest mount point above it gives its device, and the first table entry
/// of that device is the answer.
fn mount_of(fsys: &SimFs, table: &[DfRow], path: &str, cwd: &str) -> Option<DfRow> {
    if !fsys.exists(path, cwd) {
        return None;
    }
    let abs = fs::normalize(path, cwd);
    let under = |target: &str| {
        target == "/"
            || abs == target
            || abs
                .strip_prefix(target)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let deepest = table
        .iter()
        .filter(|r| under(&r.4))
        .max_by_key(|r| r.4.len())?;
    // bind mounts of one disk share its device; others are their own
    table
        .iter()
        .find(|r| {
            if deepest.0 == "/dev/vda" {
                r.0 == "/dev/vda"
            } else {
                r.4 == deepest.4
            }
        })
        .cloned()
}

pub fn du(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, mut files) = match getopt(&argv[1..], "shkmacxL", "d") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "du", c),
    };
    if files.is_empty() {
        files.push(".".into());
    }
    let cwd = sh.cwd.clone();
    let fmt = |b: u64| {
        if has(&opts, 'h') {
            human(b)
        } else {
            (b / 1024).to_string()
        }
    };
    let mut out = String::new();
    let mut errs = String::new();
    let mut total = 0;
    {
        let fsys = &p.world().fs;
        for f in &files {
            let Some((abs, n)) = fsys.lookup(f, &cwd) else {
                errs.push_str(&format!("du: {f}: No such file or directory\n"));
                continue;
            };
            if !has(&opts, 's') && n.is_dir() {
                let prefix = format!("{}/", abs.trim_end_matches('/'));
                let mut subdirs: Vec<String> = fsys
                    .iter()
                    .filter(|(k, n)| k.starts_with(&prefix) && n.is_dir())
                    .map(|(k, _)| k.to_string())
                    .collect();
                subdirs.sort_by(|a, b| {
                    b.matches('/')
                        .count()
                        .cmp(&a.matches('/').count())
                        .then(a.cmp(b))
                });
                // busybox prints depth-first, children before parents
                let mut order = Vec::new();
                // -a: files too, each where its directory lists it
                fn walk(fsys: &SimFs, d: &str, all: bool, order: &mut Vec<String>) {
                    for n in fsys.list_dir(d, "/").unwrap_or_default() {
                        let c = child(d, &n);
                        if fsys
                            .lstat(&c, "/")
                            .map(|(_, x)| x.is_dir())
                            .unwrap_or(false)
                        {
                            walk(fsys, &c, all, order);
                            order.push(c);
                        } else if all {
                            order.push(c);
                        }
                    }
                }
                walk(fsys, &abs, has(&opts, 'a'), &mut order);
                for d in order {
                    let shown = format!(
                        "{}{}",
                        f.trim_end_matches('/'),
                        &d[abs.trim_end_matches('/').len()..]
                    );
                    out.push_str(&format!("{}\t{}\n", fmt(usage(fsys, &d)), shown));
                }
            }
            let u = usage(fsys, &abs);
            total += u;
            out.push_str(&format!("{}\t{}\n", fmt(u), f));
        }
    }
    if has(&opts, 'c') {
        out.push_str(&format!("{}\ttotal\n", fmt(total)));
    }
    let st = !errs.is_empty() as i32;
    p.out(out)?;
    p.err(errs)?;
    Ok(st)
}

pub fn dd(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let mut inf = None;
    let mut outf = None;
    let mut bs = 512usize;
    let mut count: Option<usize> = None;
    for a in &argv[1..] {
        let Some((k, v)) = a.split_once('=') else {
            p.err(format!("dd: invalid argument '{a}'\n"))?;
            return Ok(1);
        };
        let num = |v: &str| -> Option<usize> {
            let (n, mul) = match v.chars().last() {
                Some('k') | Some('K') => (&v[..v.len() - 1], 1024),
                Some('M') => (&v[..v.len() - 1], 1 << 20),
                Some('G') => (&v[..v.len() - 1], 1 << 30),
                _ => (v, 1),
            };
            n.parse::<usize>().ok().map(|x| x * mul)
        };
        match k {
            "if" => inf = Some(v.to_string()),
            "of" => outf = Some(v.to_string()),
            "bs" | "ibs" | "obs" => match num(v) {
                Some(n) if n > 0 => bs = n,
                _ => {
                    p.err(format!("dd: invalid number '{v}'\n"))?;
                    return Ok(1);
                }
            },
            "count" => match num(v) {
                Some(n) => count = Some(n),
                None => {
                    p.err(format!("dd: invalid number '{v}'\n"))?;
                    return Ok(1);
                }
            },
            "conv" | "status" | "skip" | "seek" | "iflag" | "oflag" => {}
            _ => {
                p.err(format!("dd: invalid argument '{a}'\n"))?;
                return Ok(1);
            }
        }
    }
    let cwd = sh.cwd.clone();
    let limit = count.map(|c| c * bs);
    // Device sources: /dev/zero and /dev/urandom give as much as asked.
    let data: Vec<u8> = match inf.as_deref() {
        None => {
            let mut d = Vec::new();
            loop {
                if limit.map(|l| d.len() >= l).unwrap_or(false) {
                    break;
                }
                let b = p.read(0, 65536)?;
                if b.is_empty() {
                    break;
                }
                d.extend(b);
            }
            d
        }
        Some(f) => {
            let abs = fs::normalize(f, &cwd);
            if abs == "/dev/zero" || abs == "/dev/urandom" || abs == "/dev/random" {
                let Some(l) = limit else {
                    p.err("dd: the simulator cannot copy an endless device without count=\n")?;
                    return Ok(1);
                };
                if abs == "/dev/zero" {
                    vec![0u8; l.min(64 << 20)]
                } else {
                    // deterministic "random" bytes
                    let mut x: u32 = 2463534242;
                    (0..l.min(64 << 20))
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 17;
                            x ^= x << 5;
                            x as u8
                        })
                        .collect()
                }
            } else {
                match p.world().fs.read_file(f, &cwd) {
                    Ok(d) => d,
                    Err(e) => {
                        p.err(format!("dd: can't open '{f}': {e}\n"))?;
                        return Ok(1);
                    }
                }
            }
        }
    };
    let data = match limit {
        Some(l) if data.len() > l => data[..l].to_vec(),
        _ => data,
    };
    let full = data.len() / bs;
    let partial = (data.len() % bs != 0) as usize;
    match &outf {
        Some(f) => {
            if let Err(e) = p.w().fs.write_file(f, &cwd, &data, false) {
                p.err(format!("dd: can't open '{f}': {e}\n"))?;
                return Ok(1);
            }
        }
        None => p.out(&data)?,
    }
    p.err(format!(
        "{full}+{partial} records in\n{full}+{partial} records out\n"
    ))?;
    Ok(0)
}

pub fn which(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let pv = sh.get("PATH").unwrap_or_default();
    let mut st = 0;
    let mut out = String::new();
    for n in argv[1..].iter().filter(|a| !a.starts_with('-')) {
        match p.world().fs.find_in_path(n, &pv) {
            Some(f) => out.push_str(&format!("{f}\n")),
            None => st = 1,
        }
    }
    p.out(out)?;
    Ok(st)
}

pub fn readlink(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "fenqsv", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "readlink", c),
    };
    let cwd = sh.cwd.clone();
    let mut st = 0;
    for f in &files {
        let r = if has(&opts, 'f') || has(&opts, 'e') {
            p.world().fs.resolve(f, &cwd, true).ok()
        } else {
            match p.world().fs.lstat(f, &cwd) {
                Some((_, Node::Symlink { target })) => Some(target.clone()),
                _ => None,
            }
        };
        match r {
            Some(t) => p.out(format!("{t}\n"))?,
            None => st = 1,
        }
    }
    Ok(st)
}

pub fn realpath(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let cwd = sh.cwd.clone();
    let mut st = 0;
    for f in &argv[1..] {
        match p.world().fs.resolve(f, &cwd, true) {
            Ok(t) if p.world().fs.exists(&t, "/") => p.out(format!("{t}\n"))?,
            _ => {
                p.err(format!("realpath: {f}: No such file or directory\n"))?;
                st = 1;
            }
        }
    }
    Ok(st)
}
